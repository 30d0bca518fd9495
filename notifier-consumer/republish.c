/*
 * republish.c - confirmed publishes of retries and dead letters (see
 * republish.h).
 */
#include "republish.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "timeutil.h"

#define CONNECT_TIMEOUT 3000

struct republish_pending {
    uint64_t tag;
    char message_id[64];
    int returned; /* basic.return came first: routed nowhere */
    republish_done_fn done;
    void *arg;
    struct republish_pending *next;
};

static void on_readable(evutil_socket_t fd, short what, void *arg);

/* Every pending publish fails; the connection goes. */
static void fail_pending(struct republisher *r)
{
    struct republish_pending *p = r->head;
    r->head = r->tail = NULL;
    while (p) {
        struct republish_pending *next = p->next;
        p->done(p->arg, 0);
        free(p);
        p = next;
    }
}

static void drop(struct republisher *r)
{
    if (r->conn.open)
        log_warn(&(struct log_ctx){.conn = r->conn.name}, "publish connection lost: %s",
                 r->conn.err);
    if (r->read_ev) {
        event_free(r->read_ev);
        r->read_ev = NULL;
    }
    rmq_close(&r->conn);
    r->retry_at_ms = time_mono_ms() + backoff_next_ms(&r->bo);
    fail_pending(r);
}

static int ensure_open(struct republisher *r)
{
    if (r->conn.open && !r->conn.broken)
        return GD_OK;
    if (r->conn.open)
        drop(r);
    if (time_mono_ms() < r->retry_at_ms)
        return GD_EAMQP_CONNECT;
    struct rmq_opts o = {r->cfg->amqp_url, "notifier-consumer", r->cfg->instance, "publish", 0,
                         CONNECT_TIMEOUT};
    if (rmq_open_publisher(&r->conn, &o) != GD_OK) {
        log_warn(NULL, "broker (publish) not usable: %s", r->conn.err);
        r->retry_at_ms = time_mono_ms() + backoff_next_ms(&r->bo);
        return GD_EAMQP_CONNECT;
    }
    r->read_ev = event_new(r->base, rmq_fd(&r->conn), EV_READ | EV_PERSIST, on_readable, r);
    if (!r->read_ev) {
        rmq_close(&r->conn);
        return GD_ENOMEM;
    }
    event_add(r->read_ev, NULL);
    backoff_reset(&r->bo);
    return GD_OK;
}

static void on_confirm(void *arg, uint64_t tag, int ok)
{
    struct republisher *r = arg;
    /* Confirms come in tag order in practice; search anyway. */
    struct republish_pending **pp = &r->head, *prev = NULL;
    while (*pp && (*pp)->tag != tag) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    struct republish_pending *p = *pp;
    if (!p)
        return;
    *pp = p->next;
    if (r->tail == p)
        r->tail = prev;
    p->done(p->arg, ok && !p->returned);
    free(p);
}

static void on_return(void *arg, const char *message_id)
{
    struct republisher *r = arg;
    for (struct republish_pending *p = r->head; p; p = p->next)
        if (!p->returned && strcmp(p->message_id, message_id) == 0) {
            p->returned = 1;
            log_error(&(struct log_ctx){.entry_id = message_id},
                      "republished message was unroutable (topology missing?)");
            return;
        }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct republisher *r = arg;
    struct rmq_confirm_handler h = {on_confirm, on_return, r};
    if (rmq_pump(&r->conn, 0, &h) < 0)
        drop(r);
    else if (r->read_ev && rmq_buffered(&r->conn))
        event_active(r->read_ev, EV_READ, 0);
}

void republish_init(struct republisher *r, const struct gd_config *cfg, struct event_base *base)
{
    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->base = base;
    backoff_init(&r->bo, 200, 5000);
}

void republish_close(struct republisher *r)
{
    if (r->read_ev)
        event_free(r->read_ev);
    r->read_ev = NULL;
    rmq_close(&r->conn);
    fail_pending(r);
}

int republish(struct republisher *r, const char *exchange, const char *rk,
              const struct rmq_props *props, long attempt, const void *body, size_t len,
              republish_done_fn done, void *arg)
{
    int rc = ensure_open(r);
    if (rc != GD_OK)
        return rc;
    /* A broker under a resource alarm blocks publishers: do not stall the
     * loop in a blocking write, let the caller try again later. */
    if (r->conn.blocked)
        return GD_EAMQP_BLOCKED;
    struct republish_pending *p = calloc(1, sizeof(*p));
    if (!p)
        return GD_ENOMEM;
    rc = rmq_publish_retry(&r->conn, exchange, rk, props, attempt, body, len, &p->tag);
    if (rc != GD_OK) {
        free(p);
        drop(r);
        return rc;
    }
    snprintf(p->message_id, sizeof(p->message_id), "%s",
             props->message_id ? props->message_id : "");
    p->done = done;
    p->arg = arg;
    if (r->tail)
        r->tail->next = p;
    else
        r->head = p;
    r->tail = p;
    return GD_OK;
}
