/*
 * consume.h - the consuming AMQP connection, driven by the event loop.
 *
 * rabbitmq-c only sends heartbeats while it is called (PITFALLS): here it
 * is called whenever the socket is readable and at least every 500 ms from
 * a timer, so the connection stays alive however long the provider makes
 * the sends wait - a dropped connection would requeue every delivery in
 * flight.  Every call is non-blocking (timeout 0) except connecting and
 * acking, which are bounded.
 *
 * Deliveries are handed to on_delivery with the connection's generation:
 * an ack for a delivery of an older connection is dropped (its tag means
 * nothing now; the broker requeued the message when that connection died).
 */
#ifndef GD_NOTIFIER_CONSUME_H
#define GD_NOTIFIER_CONSUME_H

#include <stdint.h>

#include <event2/event.h>

#include "backoff.h"
#include "config.h"
#include "rmq.h"

struct consumer {
    const struct gd_config *cfg;
    struct event_base *base;
    struct rmq_conn conn;
    uint64_t gen; /* bumped on every (re)connect */
    struct event *read_ev;
    struct event *tick;
    struct backoff bo;
    int64_t retry_at_ms; /* next connect attempt */
    /* d is the caller's from the call on (free with rmq_delivery_free). */
    void (*on_delivery)(struct rmq_delivery *d, uint64_t gen, void *arg);
    void *arg;
};

/* Set up and connect (a failed connect is retried with backoff). 0 or GD_ENOMEM. */
int consumer_start(struct consumer *c, const struct gd_config *cfg, struct event_base *base,
                   void (*on_delivery)(struct rmq_delivery *d, uint64_t gen, void *arg), void *arg);
/* Close (unacked deliveries return to their queues) and free the events. */
void consumer_stop(struct consumer *c);

/* Ack / reject (requeue or not) a delivery of generation gen.  0, or
 * GD_EAMQP_CLOSED when that connection is gone (the broker requeued it). */
int consumer_ack(struct consumer *c, uint64_t gen, uint64_t tag);
int consumer_reject(struct consumer *c, uint64_t gen, uint64_t tag, int requeue);

#endif
