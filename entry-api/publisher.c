/*
 * publisher.c - the broker side of a worker, on its event loop: one
 * confirm-mode AMQP connection.  A job is encoded at once into the
 * connection's output buffer (rmq_publish_buffered); the buffer is written
 * with non-blocking send()s once per loop turn, so a burst of entries costs
 * one system call, and confirms are read when the socket is readable.  Only
 * the connect (TCP, login, topology, confirm.select: blocking rabbitmq-c
 * calls) runs on a helper thread, which hands the open connection over.
 *
 * Every job ends exactly once, on the loop and never inside pub_submit:
 * confirmed, nacked, returned, blocked, timed out or failed with its
 * connection.  A broker that takes no bytes for PUB_STUCK_MS (it stopped
 * reading), or confirms nothing within the confirm timeout, loses its
 * connection and the jobs on it fail (503; the gate is rolled back).
 */
#include "publisher.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backoff.h"
#include "errors.h"
#include "log.h"
#include "messages.h"
#include "rmq.h"
#include "timeutil.h"
#include "topology.h"

#define PUB_CONNECT_TIMEOUT_MS 1000 /* TCP connect, login and each setup RPC */
#define PUB_STUCK_MS           1000 /* unwritten bytes the broker takes none of */
#define PUB_TICK_MS            100
#define PUB_OUT_MAX            (16 << 20) /* bytes buffered for a broker not reading: 503 beyond */

struct job_list {
    struct pub_job *head, *tail;
};

/* The connect helper thread and what it hands to the loop. */
struct connector {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int want;  /* loop -> thread: connect now */
    int quit;  /* loop -> thread: exit */
    int ready; /* thread -> loop: conn/rc hold a result */
    int rc;
    struct rmq_conn conn;
    int wake_fd; /* eventfd the loop reads: a result is there */
};

struct publisher {
    struct pub_opts opts;
    struct event_base *base;
    struct rmq_conn conn;
    int open;       /* conn is ours and usable */
    int connecting; /* a connect is on the helper thread */
    int stopping;
    int alarm; /* conn.blocked as last logged */
    long in_flight;
    struct job_list outstanding; /* published, ordered by tag */
    struct job_list finished;    /* ended, their done callbacks not run yet */
    int64_t unwritten_since_ms;  /* bytes waiting for a writable socket since (0: none) */
    int flush_queued;            /* flush_ev is active for this loop turn */
    struct backoff bo;
    int64_t next_attempt_ms;
    struct event *read_ev, *write_ev; /* on the connection's socket while open */
    struct event *flush_ev, *done_ev, *tick_ev, *connected_ev;
    struct connector cn;
};

static void list_push(struct job_list *l, struct pub_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

/* A job has ended: its callback runs from done_ev, never inside the caller. */
static void finish(struct publisher *p, struct pub_job *j, int result)
{
    j->result = result;
    list_push(&p->finished, j);
    event_active(p->done_ev, EV_READ, 0);
}

static void run_finished(struct publisher *p)
{
    struct pub_job *j = p->finished.head;
    p->finished.head = p->finished.tail = NULL;
    while (j) {
        struct pub_job *next = j->next;
        j->done(j, j->arg);
        j = next;
    }
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    run_finished(arg);
}

static void fail_outstanding(struct publisher *p, int result)
{
    struct pub_job *j = p->outstanding.head;
    p->outstanding.head = p->outstanding.tail = NULL;
    while (j) {
        struct pub_job *next = j->next;
        p->in_flight--;
        finish(p, j, result);
        j = next;
    }
}

/* ---- the connect helper thread ----------------------------------------- */

static void *connector_main(void *arg)
{
    struct publisher *p = arg;
    struct connector *cn = &p->cn;
    pthread_mutex_lock(&cn->mu);
    for (;;) {
        while (!cn->want && !cn->quit)
            pthread_cond_wait(&cn->cv, &cn->mu);
        if (cn->quit)
            break;
        cn->want = 0;
        pthread_mutex_unlock(&cn->mu);
        struct rmq_conn c;
        struct rmq_opts o = {p->opts.amqp_url, "entry-api", p->opts.instance,
                             "publish",        0,           PUB_CONNECT_TIMEOUT_MS};
        int rc = rmq_open_publisher(&c, &o);
        pthread_mutex_lock(&cn->mu);
        cn->conn = c; /* handed over whole: the thread never touches it again */
        cn->rc = rc;
        cn->ready = 1;
        uint64_t one = 1;
        ssize_t w = write(cn->wake_fd, &one, sizeof(one));
        (void)w; /* an eventfd saturates, never fails for us */
    }
    pthread_mutex_unlock(&cn->mu);
    return NULL;
}

static void request_connect(struct publisher *p)
{
    p->connecting = 1;
    pthread_mutex_lock(&p->cn.mu);
    p->cn.want = 1;
    pthread_cond_signal(&p->cn.cv);
    pthread_mutex_unlock(&p->cn.mu);
}

/* ---- the connection on the loop ---------------------------------------- */

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);

static void close_connection(struct publisher *p)
{
    if (p->read_ev)
        event_free(p->read_ev);
    if (p->write_ev)
        event_free(p->write_ev);
    p->read_ev = p->write_ev = NULL;
    rmq_close(&p->conn); /* polite only if it is healthy and nothing half-written */
    p->open = 0;
    p->alarm = 0;
    p->unwritten_since_ms = 0;
}

static void drop_connection(struct publisher *p, int result)
{
    if (p->conn.err[0])
        log_warn(&(struct log_ctx){.conn = p->conn.name}, "broker connection lost: %s",
                 p->conn.err);
    fail_outstanding(p, result);
    /* A broker that stopped answering would make a polite close wait for
     * its RPC timeout: just drop the socket. */
    p->conn.broken = 1;
    close_connection(p);
    p->next_attempt_ms = time_mono_ms() + backoff_next_ms(&p->bo);
}

/* The helper thread has a result: adopt the connection, or retry later. */
static void on_connected(evutil_socket_t fd, short what, void *arg)
{
    struct publisher *p = arg;
    uint64_t v;
    ssize_t r = read(p->cn.wake_fd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&p->cn.mu);
    int have = p->cn.ready, rc = p->cn.rc;
    struct rmq_conn c = p->cn.conn;
    p->cn.ready = 0;
    pthread_mutex_unlock(&p->cn.mu);
    if (!have)
        return;
    p->connecting = 0;
    if (rc != GD_OK) {
        log_warn(&(struct log_ctx){.conn = c.name}, "broker not usable: %s (%s)", c.err,
                 err_str(rc));
        p->next_attempt_ms = time_mono_ms() + backoff_next_ms(&p->bo);
        return;
    }
    p->conn = c;
    if (p->stopping) {
        close_connection(p);
        return;
    }
    int sock = rmq_fd(&p->conn);
    p->read_ev = event_new(p->base, sock, EV_READ | EV_PERSIST, on_read, p);
    p->write_ev = event_new(p->base, sock, EV_WRITE, on_writable, p);
    if (!p->read_ev || !p->write_ev || event_add(p->read_ev, NULL) != 0) {
        snprintf(p->conn.err, sizeof(p->conn.err), "out of memory for its events");
        drop_connection(p, GD_EAMQP_CONNECT);
        return;
    }
    p->open = 1;
    backoff_reset(&p->bo);
    log_info(&(struct log_ctx){.conn = p->conn.name}, "broker connected");
}

/* Write what is buffered; bytes the socket does not take wait for EV_WRITE. */
static void flush_out(struct publisher *p)
{
    size_t before = rmq_pending(&p->conn);
    if (!p->open || before == 0)
        return;
    long left = rmq_flush(&p->conn);
    if (left < 0) {
        drop_connection(p, GD_EAMQP_CLOSED);
        return;
    }
    if (left == 0)
        p->unwritten_since_ms = 0;
    else if ((size_t)left < before || !p->unwritten_since_ms)
        p->unwritten_since_ms = time_mono_ms(); /* progress: the broker reads */
    if (left > 0)
        event_add(p->write_ev, NULL);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct publisher *p = arg;
    p->flush_queued = 0;
    flush_out(p);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    flush_out(arg);
}

static void on_confirm(void *arg, uint64_t tag, int ok)
{
    struct publisher *p = arg;
    /* Confirms arrive in tag order for the head; search for out-of-order singles. */
    struct pub_job **pp = &p->outstanding.head, *prev = NULL;
    while (*pp && (*pp)->tag != tag) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    struct pub_job *j = *pp;
    if (!j)
        return;
    *pp = j->next;
    if (p->outstanding.tail == j)
        p->outstanding.tail = prev;
    p->in_flight--;
    finish(p, j, !ok ? GD_EAMQP_NACK : j->returned ? GD_EAMQP_RETURNED : GD_OK);
}

static void on_return(void *arg, const char *message_id)
{
    struct publisher *p = arg;
    for (struct pub_job *j = p->outstanding.head; j; j = j->next)
        if (strcmp(j->message_id, message_id) == 0)
            j->returned = 1;
}

/* Log the broker's resource alarm as it starts and ends. */
static void note_alarm(struct publisher *p)
{
    int now = p->open && p->conn.blocked;
    if (now && !p->alarm)
        log_warn(&(struct log_ctx){.conn = p->conn.name},
                 "broker blocks publishers (resource alarm): not ready");
    else if (!now && p->alarm)
        log_info(&(struct log_ctx){.conn = p->conn.name}, "broker unblocked publishers");
    p->alarm = now;
}

/* Confirms, returns and connection.blocked/unblocked, all that is readable now. */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct publisher *p = arg;
    struct rmq_confirm_handler h = {on_confirm, on_return, p};
    do {
        if (rmq_pump(&p->conn, 0, &h) < 0) {
            drop_connection(p, GD_EAMQP_CLOSED);
            return;
        }
    } while (rmq_buffered(&p->conn));
    note_alarm(p);
}

static void check_deadlines(struct publisher *p)
{
    struct pub_job *h = p->outstanding.head;
    int64_t now = time_mono_ms();
    if (p->unwritten_since_ms && now - p->unwritten_since_ms >= PUB_STUCK_MS) {
        snprintf(p->conn.err, sizeof(p->conn.err), "broker took no bytes for %lld ms",
                 (long long)(now - p->unwritten_since_ms));
        drop_connection(p, GD_EAMQP_CLOSED);
        return;
    }
    if (!h || h->deadline_ms > now)
        return;
    if (p->conn.blocked) {
        /* A resource alarm: the broker is alive and will say
         * connection.unblocked.  Keep the connection (and with it the
         * not-ready state) and fail only what is overdue; a confirm that
         * still comes for one of them finds nobody waiting. */
        while ((h = p->outstanding.head) && h->deadline_ms <= now) {
            p->outstanding.head = h->next;
            if (!h->next)
                p->outstanding.tail = NULL;
            p->in_flight--;
            finish(p, h, GD_EAMQP_BLOCKED);
        }
        return;
    }
    /* The broker stopped confirming: its state is unknown, start over. */
    snprintf(p->conn.err, sizeof(p->conn.err), "no confirm within %d ms",
             p->opts.confirm_timeout_ms);
    drop_connection(p, GD_ETIMEOUT);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct publisher *p = arg;
    if (p->open)
        check_deadlines(p);
    else if (!p->connecting && !p->stopping && time_mono_ms() >= p->next_attempt_ms)
        request_connect(p);
}

/* ---- the API ----------------------------------------------------------- */

static void events_free(struct publisher *p)
{
    struct event *evs[] = {p->flush_ev, p->done_ev, p->tick_ev, p->connected_ev};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
}

static void connector_free(struct publisher *p)
{
    if (p->cn.wake_fd >= 0)
        close(p->cn.wake_fd);
    pthread_cond_destroy(&p->cn.cv);
    pthread_mutex_destroy(&p->cn.mu);
}

struct publisher *pub_start(struct event_base *base, const struct pub_opts *o)
{
    struct publisher *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->opts = *o;
    p->base = base;
    backoff_init(&p->bo, 100, 5000);
    pthread_mutex_init(&p->cn.mu, NULL);
    pthread_cond_init(&p->cn.cv, NULL);
    p->cn.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->flush_ev = event_new(base, -1, 0, on_flush, p);
    p->done_ev = event_new(base, -1, 0, on_done, p);
    p->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, p);
    p->connected_ev = p->cn.wake_fd >= 0
                          ? event_new(base, p->cn.wake_fd, EV_READ | EV_PERSIST, on_connected, p)
                          : NULL;
    struct timeval tick = {0, PUB_TICK_MS * 1000};
    if (!p->flush_ev || !p->done_ev || !p->tick_ev || !p->connected_ev ||
        event_add(p->tick_ev, &tick) != 0 || event_add(p->connected_ev, NULL) != 0 ||
        pthread_create(&p->cn.thread, NULL, connector_main, p) != 0) {
        events_free(p);
        connector_free(p);
        free(p);
        return NULL;
    }
    request_connect(p);
    return p;
}

void pub_submit(struct publisher *p, struct pub_job *job)
{
    job->returned = 0;
    job->result = 0;
    int rc = p->stopping ? GD_ESTOPPED : p->open ? GD_OK : GD_EAMQP_CONNECT;
    if (rc == GD_OK && p->conn.blocked)
        rc = GD_EAMQP_BLOCKED; /* a publish now would wait until the alarm clears */
    if (rc == GD_OK && rmq_pending(&p->conn) > PUB_OUT_MAX)
        rc = GD_EAMQP_BLOCKED; /* the broker is not reading what we wrote */
    if (rc == GD_OK) {
        struct rmq_props props = {
            job->message_id, MSG_TYPE_ENTRY,   "entry-api", time_now_ms() / 1000,
            job->event_id,   job->traceparent, NULL};
        rc = rmq_publish_buffered(&p->conn, EX_ENTRY, job->routing_key, 1, &props, job->body,
                                  job->len, &job->tag);
    }
    if (rc != GD_OK) {
        finish(p, job, rc);
        if (rc == GD_EAMQP_CLOSED)
            drop_connection(p, GD_EAMQP_CLOSED);
        return;
    }
    job->deadline_ms = time_mono_ms() + p->opts.confirm_timeout_ms;
    p->in_flight++;
    list_push(&p->outstanding, job);
    if (!p->flush_queued) { /* one write for everything published this loop turn */
        p->flush_queued = 1;
        event_active(p->flush_ev, EV_WRITE, 0);
    }
}

int pub_ready(const struct publisher *p)
{
    return p->open && !p->conn.blocked && !p->stopping;
}

long pub_in_flight(const struct publisher *p)
{
    return p->in_flight;
}

void pub_stop(struct publisher *p)
{
    p->stopping = 1;
    /* The loop is not dispatching now: turn it here until every confirm is
     * in, or the confirm deadline has failed what is left. */
    int64_t end = time_mono_ms() + p->opts.confirm_timeout_ms + PUB_TICK_MS;
    while (p->open && p->outstanding.head && time_mono_ms() < end)
        event_base_loop(p->base, EVLOOP_ONCE);
    fail_outstanding(p, GD_ESTOPPED);
    if (p->open)
        close_connection(p);
    pthread_mutex_lock(&p->cn.mu);
    p->cn.quit = 1;
    pthread_cond_signal(&p->cn.cv);
    pthread_mutex_unlock(&p->cn.mu);
    pthread_join(p->cn.thread, NULL); /* a connect in progress ends within its timeouts */
    if (p->cn.ready && p->cn.rc == GD_OK)
        rmq_close(&p->cn.conn); /* connected after we stopped looking */
}

void pub_free(struct publisher *p)
{
    run_finished(p);
    events_free(p);
    connector_free(p);
    free(p);
}
