/*
 * consume.c - the consuming AMQP connection on the loop (see consume.h).
 */
#include "consume.h"

#include <string.h>

#include "errors.h"
#include "log.h"
#include "timeutil.h"
#include "topology.h"

#define DRAIN_MAX       256 /* deliveries per callback, then yield to the loop */
#define TICK_MS         500 /* heartbeat service and reconnect checks */
#define CONNECT_TIMEOUT 3000

static void on_readable(evutil_socket_t fd, short what, void *arg);

static void drop(struct consumer *c, const char *why)
{
    log_warn(&(struct log_ctx){.conn = c->conn.name}, "consume connection lost: %s", why);
    if (c->read_ev) {
        event_free(c->read_ev);
        c->read_ev = NULL;
    }
    rmq_close(&c->conn); /* unacked deliveries go back to the queues */
    c->retry_at_ms = time_mono_ms() + backoff_next_ms(&c->bo);
}

static void try_connect(struct consumer *c)
{
    const char *q[] = {Q_KAKAO, Q_SMS};
    struct rmq_opts o = {c->cfg->amqp_url, "notifier-consumer",           c->cfg->instance,
                         "consume",        (int)c->cfg->amqp_heartbeat_s, CONNECT_TIMEOUT};
    if (rmq_open_consumer(&c->conn, &o, (int)c->cfg->amqp_prefetch, q, 2) != GD_OK) {
        log_warn(NULL, "broker (consume) not usable: %s", c->conn.err);
        c->retry_at_ms = time_mono_ms() + backoff_next_ms(&c->bo);
        return;
    }
    c->read_ev = event_new(c->base, rmq_fd(&c->conn), EV_READ | EV_PERSIST, on_readable, c);
    if (!c->read_ev) {
        rmq_close(&c->conn);
        return;
    }
    event_add(c->read_ev, NULL);
    c->gen++;
    backoff_reset(&c->bo);
    log_info(&(struct log_ctx){.conn = c->conn.name}, "consuming %s and %s (prefetch %ld)", Q_KAKAO,
             Q_SMS, c->cfg->amqp_prefetch);
}

/* Read what is there without waiting: deliveries, heartbeats, other frames. */
static void drain(struct consumer *c)
{
    for (int i = 0; i < DRAIN_MAX && c->conn.open; i++) {
        struct rmq_delivery d;
        int rc = rmq_next(&c->conn, 0, &d);
        if (rc == GD_OK) {
            c->on_delivery(&d, c->gen, c->arg);
            continue;
        }
        if (rc == GD_ETIMEOUT && !rmq_buffered(&c->conn))
            return;
        if (rc != GD_ETIMEOUT) {
            drop(c, c->conn.err);
            return;
        }
    }
    /* More may be buffered inside rabbitmq-c, where poll cannot see it. */
    if (c->read_ev && rmq_buffered(&c->conn))
        event_active(c->read_ev, EV_READ, 0);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    drain(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct consumer *c = arg;
    if (c->conn.open) {
        if (c->conn.broken)
            drop(c, c->conn.err);
        else
            drain(c); /* sends a heartbeat when one is due */
    } else if (time_mono_ms() >= c->retry_at_ms) {
        try_connect(c);
    }
}

int consumer_start(struct consumer *c, const struct gd_config *cfg, struct event_base *base,
                   void (*on_delivery)(struct rmq_delivery *d, uint64_t gen, void *arg), void *arg)
{
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->base = base;
    c->on_delivery = on_delivery;
    c->arg = arg;
    backoff_init(&c->bo, 200, 5000);
    c->tick = event_new(base, -1, EV_PERSIST, on_tick, c);
    if (!c->tick)
        return GD_ENOMEM;
    struct timeval tv = {0, TICK_MS * 1000};
    event_add(c->tick, &tv);
    try_connect(c);
    return GD_OK;
}

void consumer_stop(struct consumer *c)
{
    if (c->read_ev)
        event_free(c->read_ev);
    if (c->tick)
        event_free(c->tick);
    c->read_ev = c->tick = NULL;
    rmq_close(&c->conn);
}

int consumer_ack(struct consumer *c, uint64_t gen, uint64_t tag)
{
    if (gen != c->gen || !c->conn.open)
        return GD_EAMQP_CLOSED;
    int rc = rmq_ack(&c->conn, tag, 0);
    if (rc != GD_OK)
        drop(c, c->conn.err);
    return rc;
}

int consumer_reject(struct consumer *c, uint64_t gen, uint64_t tag, int requeue)
{
    if (gen != c->gen || !c->conn.open)
        return GD_EAMQP_CLOSED;
    int rc = rmq_reject(&c->conn, tag, requeue);
    if (rc != GD_OK)
        drop(c, c->conn.err);
    return rc;
}
