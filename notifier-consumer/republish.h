/*
 * republish.h - the notifier's publishing connection: winners handed to a
 * delayed-retry queue, and dead letters to notify.dlq, each confirmed by
 * the broker before the original delivery is acked (DESIGN §2.5).
 *
 * Confirms arrive asynchronously on the loop; each publish gets its own
 * callback with ok = 1 (acked and routed) or 0 (nacked, returned as
 * unroutable, or the connection died first: the message may or may not be
 * on the broker, so the caller keeps the original delivery and lets it be
 * redelivered - a duplicate retry is harmless, a lost one is not).
 *
 * Heartbeats are off on this connection (it never waits for frames when
 * idle, which is when rabbitmq-c 0.11 could block in a publish); TCP
 * keepalive notices a dead peer instead.
 */
#ifndef GD_NOTIFIER_REPUBLISH_H
#define GD_NOTIFIER_REPUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "backoff.h"
#include "config.h"
#include "rmq.h"

typedef void (*republish_done_fn)(void *arg, int ok);

struct republish_pending; /* one publish waiting for its confirm */

struct republisher {
    const struct gd_config *cfg;
    struct event_base *base;
    struct rmq_conn conn;
    struct event *read_ev;
    struct backoff bo;
    int64_t retry_at_ms;
    struct republish_pending *head, *tail; /* by tag */
};

void republish_init(struct republisher *r, const struct gd_config *cfg, struct event_base *base);
/* Fails every pending publish (callbacks with ok = 0) and closes. */
void republish_close(struct republisher *r);

/*
 * Publish body to exchange with routing key rk and props (attempt > 0 adds
 * x-attempt), mandatory; done(arg, ok) follows on the loop.  Returns 0, or
 * GD_EAMQP_CONNECT / GD_EAMQP_BLOCKED / GD_EAMQP_CLOSED / GD_ENOMEM without
 * a callback (nothing was published).
 */
int republish(struct republisher *r, const char *exchange, const char *rk,
              const struct rmq_props *props, long attempt, const void *body, size_t len,
              republish_done_fn done, void *arg);

#endif
