/*
 * conns.c - connection cap and request-read deadline over evhttp.
 *
 * How a connection is followed, without any evhttp internals:
 *   1. evhttp asks our bufferevent callback for each accepted connection's
 *      bufferevent.  We create it, take an extra reference (so it cannot be
 *      freed under us) and queue it for adoption with an event activated now.
 *   2. That event runs after evhttp has wrapped the bufferevent in its
 *      connection, in the same loop pass: the connection is the
 *      bufferevent's callback argument.  We set evhttp's close callback on
 *      it, hook an evbuffer callback on its input (first byte of a request),
 *      file it by socket, and drop our extra reference.  If evhttp already
 *      freed it (its callbacks are cleared), we just let it go.
 *   3. The close callback un-files it.
 * A 250 ms sweep closes connections whose request is overdue.
 */
#include "conns.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "timeutil.h"

#define CONNS_SWEEP_MS   250
#define CONNS_MAX_LISTEN 4

struct conn {
    struct conns *owner;
    struct conn *next_newborn;
    struct bufferevent *bev;
    struct evhttp_connection *evcon;
    struct evbuffer_cb_entry *input_cb;
    evutil_socket_t fd;
    int busy;           /* a request is with the router */
    int64_t started_ms; /* read clock of the current request; 0 = off */
};

struct conns {
    struct event_base *base;
    struct evhttp *http;
    struct worker_metrics *m;
    struct conns_opts o;
    struct conn **by_fd; /* live connections, indexed by socket */
    size_t by_fd_cap;
    struct conn *newborn;
    struct event *adopt_ev, *sweep_ev;
    struct evconnlistener *listeners[CONNS_MAX_LISTEN];
    struct evhttp_bound_socket *bound[CONNS_MAX_LISTEN];
    int nlisteners;
    int paused;  /* accepting paused at the cap */
    int stopped; /* accepting stopped for good */
    long open;
};

static void set_open(struct conns *c, long delta)
{
    c->open += delta;
    atomic_store(&c->m->connections, c->open);
}

static void set_accepting(struct conns *c, int on)
{
    for (int i = 0; i < c->nlisteners; i++)
        if (on)
            evconnlistener_enable(c->listeners[i]);
        else
            evconnlistener_disable(c->listeners[i]);
}

/* A slot for fd in the table; NULL when out of memory. */
static struct conn **slot(struct conns *c, evutil_socket_t fd)
{
    if ((size_t)fd >= c->by_fd_cap) {
        size_t cap = c->by_fd_cap ? c->by_fd_cap : 1024;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct conn **t = realloc(c->by_fd, cap * sizeof(*t));
        if (!t)
            return NULL;
        memset(t + c->by_fd_cap, 0, (cap - c->by_fd_cap) * sizeof(*t));
        c->by_fd = t;
        c->by_fd_cap = cap;
    }
    return &c->by_fd[fd];
}

static struct conn *lookup(struct conns *c, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0 || (size_t)fd >= c->by_fd_cap || !c->by_fd[fd] || c->by_fd[fd]->evcon != evcon)
        return NULL;
    return c->by_fd[fd];
}

static void conn_forget(struct conns *c, struct conn *k)
{
    if (k->fd >= 0 && (size_t)k->fd < c->by_fd_cap && c->by_fd[k->fd] == k)
        c->by_fd[k->fd] = NULL;
    free(k);
    set_open(c, -1);
    if (c->paused && !c->stopped && c->open < c->o.max) {
        c->paused = 0;
        set_accepting(c, 1);
    }
}

/* evhttp closes the connection (it is about to be freed). */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct conn *k = arg;
    if (k->input_cb)
        evbuffer_remove_cb_entry(bufferevent_get_input(k->bev), k->input_cb);
    conn_forget(k->owner, k);
}

/* Bytes arrived: the first byte of a request starts its clock. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *k = arg;
    if (info->n_added && !k->busy && !k->started_ms)
        k->started_ms = time_mono_ms();
}

static void adopt(struct conns *c, struct conn *k)
{
    bufferevent_data_cb readcb = NULL;
    void *cbarg = NULL;
    bufferevent_getcb(k->bev, &readcb, NULL, NULL, &cbarg);
    if (!readcb || !cbarg) { /* evhttp gave up on it already */
        bufferevent_decref(k->bev);
        k->fd = -1;
        conn_forget(c, k);
        return;
    }
    k->evcon = cbarg;
    k->fd = bufferevent_getfd(k->bev);
    struct conn **s = k->fd >= 0 ? slot(c, k->fd) : NULL;
    if (s && *s) {
        /* Socket numbers are unique among open connections: an entry still
         * filed here belongs to a connection whose close we never saw. */
        log_warn(NULL, "connection on fd %d was never reported closed", (int)k->fd);
        free(*s);
        set_open(c, -1);
    }
    if (s)
        *s = k;
    k->started_ms = time_mono_ms(); /* the first request is due from the accept on */
    k->input_cb = evbuffer_add_cb(bufferevent_get_input(k->bev), on_input, k);
    evhttp_connection_set_closecb(k->evcon, on_close, k);
    bufferevent_decref(k->bev);
    if (!s) /* untracked (out of memory): still counted until it closes */
        k->fd = -1;
}

static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    struct conns *c = arg;
    struct conn *k = c->newborn;
    c->newborn = NULL;
    while (k) {
        struct conn *next = k->next_newborn;
        adopt(c, k);
        k = next;
    }
}

/* evhttp's bufferevent callback: one call per accepted connection. */
static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
    struct conns *c = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
    struct conn *k = bev ? calloc(1, sizeof(*k)) : NULL;
    if (!k) /* evhttp falls back to its own bufferevent; this one goes untracked */
        return bev;
    bufferevent_incref(bev);
    k->owner = c;
    k->bev = bev;
    k->fd = -1;
    k->next_newborn = c->newborn;
    c->newborn = k;
    set_open(c, 1);
    if (c->open >= c->o.max && !c->paused) {
        c->paused = 1;
        met_inc(&c->m->accept_paused);
        set_accepting(c, 0);
        log_warn(NULL, "%ld connections open: accepting paused", c->open);
    }
    event_active(c->adopt_ev, EV_READ, 0);
    return bev;
}

/* Close connections whose request did not arrive in full in time. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct conns *c = arg;
    int64_t now = time_mono_ms();
    for (size_t i = 0; i < c->by_fd_cap; i++) {
        struct conn *k = c->by_fd[i];
        if (!k || k->busy || !k->started_ms || now - k->started_ms < c->o.request_timeout_ms)
            continue;
        char *host = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(k->evcon, &host, &port);
        char peer[80];
        snprintf(peer, sizeof(peer), "%s:%u", host ? host : "?", (unsigned)port);
        log_warn(&(struct log_ctx){.conn = peer},
                 "request not complete within %ld ms: connection closed", c->o.request_timeout_ms);
        met_inc(&c->m->connections_cut);
        /* Nothing of ours is pending on it (not busy): evhttp frees the
         * partial request, and our close callback un-files k. */
        evhttp_connection_free(k->evcon);
    }
}

struct conns *conns_new(struct event_base *base, struct evhttp *http, const struct conns_opts *o,
                        struct worker_metrics *m)
{
    struct conns *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->base = base;
    c->http = http;
    c->m = m;
    c->o = *o;
    c->adopt_ev = event_new(base, -1, 0, on_adopt, c);
    c->sweep_ev = event_new(base, -1, EV_PERSIST, on_sweep, c);
    struct timeval sweep = {0, CONNS_SWEEP_MS * 1000};
    if (!c->adopt_ev || !c->sweep_ev || event_add(c->sweep_ev, &sweep) != 0) {
        conns_free(c);
        return NULL;
    }
    evhttp_set_bevcb(http, on_new_bev, c);
    return c;
}

int conns_listen(struct conns *c, evutil_socket_t fd)
{
    if (c->nlisteners == CONNS_MAX_LISTEN)
        return GD_EINVAL;
    struct evhttp_bound_socket *b = evhttp_accept_socket_with_handle(c->http, fd);
    if (!b)
        return GD_ENOMEM;
    c->bound[c->nlisteners] = b;
    c->listeners[c->nlisteners++] = evhttp_bound_socket_get_listener(b);
    return GD_OK;
}

void conns_stop_accepting(struct conns *c)
{
    /* Close the sockets, not just stop reading them: the kernel then sends
     * newcomers to the workers still accepting, or refuses them once none
     * is, instead of queueing them where nobody will accept. */
    c->stopped = 1;
    for (int i = 0; i < c->nlisteners; i++)
        evhttp_del_accept_socket(c->http, c->bound[i]);
    c->nlisteners = 0;
}

/* The answer is written: the next request's clock starts with its first
 * byte (or now, if it is already buffered). */
static void on_answered(struct evhttp_request *req, void *arg)
{
    struct conns *c = arg;
    struct conn *k = lookup(c, evhttp_request_get_connection(req));
    if (k) {
        k->busy = 0;
        k->started_ms = evbuffer_get_length(bufferevent_get_input(k->bev)) ? time_mono_ms() : 0;
    }
}

void conns_request_begins(struct conns *c, struct evhttp_request *req)
{
    struct conn *k = lookup(c, evhttp_request_get_connection(req));
    if (k) {
        k->busy = 1;
        k->started_ms = 0;
    }
    evhttp_request_set_on_complete_cb(req, on_answered, c);
}

long conns_open(const struct conns *c)
{
    return c->open;
}

void conns_free(struct conns *c)
{
    if (!c)
        return;
    if (c->adopt_ev) {
        on_adopt(-1, 0, c); /* nothing may stay referenced */
        event_free(c->adopt_ev);
    }
    if (c->sweep_ev)
        event_free(c->sweep_ev);
    for (size_t i = 0; i < c->by_fd_cap; i++)
        free(c->by_fd[i]);
    free(c->by_fd);
    free(c);
}
