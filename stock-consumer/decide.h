/*
 * decide.h - one batch of entries, decided: claim in Redis (pipelined),
 * outcome rows in PostgreSQL (one transaction), winners published with
 * confirms, poison dead-lettered with a reason, and only then the batch is
 * acked with one `multiple` ack.  Any failure leaves the batch unacked: the
 * caller drops the consuming connection so the broker redelivers it, and
 * the claim script and ON CONFLICT make the second pass change nothing.
 */
#ifndef GD_DECIDE_H
#define GD_DECIDE_H

#include "config.h"
#include "db.h"
#include "messages.h"
#include "rds.h"
#include "rmq.h"

struct decide_item {
    struct rmq_delivery d;
    struct entry_msg m;
    int poison;
    char why[200];
    int won;
    long seq;
    char channel[8];
    char phone[MSG_PHONE_MAX + 1];
};

/* The connections one stock-consumer works with; each reconnects on its own. */
struct decider {
    const struct gd_config *cfg;
    struct rmq_conn consume;
    struct rmq_conn publish;
    struct rds redis;
    struct db db;      /* primary: outcome rows */
    struct db replica; /* member lookups; the primary when no replica is set */
    long decided, won, lost, poisoned;
};

/* Decide items[0..n); 0 when everything is durable and acked. */
int decide_batch(struct decider *dc, struct decide_item *items, int n);

#endif
