/*
 * decide.h - one batch of entries, decided: claim in Redis (pipelined),
 * outcome rows in PostgreSQL (one statement), winners published with
 * confirms, poison dead-lettered with a reason, and only then the batch is
 * acked with one `multiple` ack.
 *
 * A failed attempt leaves the batch unacked and is safe to repeat: the claim
 * script answers a decided member the same way, ON CONFLICT skips rows
 * already recorded (their outcome is then read back from PostgreSQL, the
 * system of record), and a republished winner changes nothing downstream.
 * The caller (run.c) repeats the attempt in place after transient failures,
 * so an outage does not burn the broker's delivery limit of good entries.
 */
#ifndef GD_DECIDE_H
#define GD_DECIDE_H

#include "config.h"
#include "db.h"
#include "messages.h"
#include "rds.h"
#include "rmq.h"
#include "stock_metrics.h"

struct decide_item {
    struct rmq_delivery d;
    struct entry_msg m;
    int bad; /* the body does not decode: poison on every attempt */
    /* The rest is the state of one attempt, reset by decide_batch(). */
    int poison;  /* dead-letter it, with `why` as x-reason */
    int sent;    /* its claim went into the Redis pipeline */
    int unknown; /* the claim found no Redis state for its event */
    int dup;     /* the member's outcome row belongs to another entry_id: ack only */
    int inserted;
    int won;
    int sold_out; /* the claim left the event's stock at 0 */
    long seq;
    char why[200];
    char channel[8];
    char phone[MSG_PHONE_MAX + 1];
};

/* The connections one stock-consumer works with; each reconnects on its own. */
struct decider {
    const struct gd_config *cfg;
    struct rmq_conn consume;
    struct rmq_conn publish;
    struct rds redis;
    struct db db;       /* primary: outcome rows, event states */
    struct db replica;  /* member lookups; the primary when no replica is set */
    int insert_pending; /* record_send() left a statement in flight on db */
    long decided, won, lost, poisoned, duplicates;
    struct stock_metrics met; /* the same and more, for /metrics (read by its thread) */
};

/* Decode every body once per batch; a body that does not decode is poison. */
void decide_decode(struct decide_item *items, int n);
/*
 * One attempt at items[0..n): 0 when every effect is durable and the batch
 * is acked; otherwise an error code and nothing acked.  It is the three
 * steps below in a row; run.c also runs them apart, so that the outcome
 * rows of one batch are written while the next batch is claimed.
 */
int decide_batch(struct decider *dc, struct decide_item *items, int n);
/*
 * Front half: claim every entry.  resolve = 0 (PostgreSQL's primary is busy
 * with the previous batch): an entry of an event Redis does not know makes
 * it return GD_ENOTFOUND, and the batch is decided with decide_batch().
 */
int decide_front(struct decider *dc, struct decide_item *items, int n, int resolve);
/* Back half, once the outcome rows are recorded: winners' phones, publish, ack. */
int decide_back(struct decider *dc, struct decide_item *items, int n);

/* Mark one item as poison with its reason (printf-style). */
void item_poison(struct decide_item *it, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The steps of decide_batch(), one file each. */

/* claim.c: pipelined claim calls; per-item script errors poison that item only. */
int claim_batch(struct decider *dc, struct decide_item *items, int n);
/*
 * claim.c: items whose event Redis does not know: poison when PostgreSQL does
 * not know it either, is not armed or has ended; GD_ENOTFOUND (retry) while a
 * live event has lost its Redis state, until `eventctl rearm` restores it.
 */
int claim_resolve_unknown(struct decider *dc, struct decide_item *items, int n);
/* record.c: outcome rows, one statement; rows PostgreSQL refuses become poison. */
int record_outcomes(struct decider *dc, struct decide_item *items, int n);
/* record.c: the same in two calls: send the statement, then (after other work) finish it. */
int record_send(struct decider *dc, struct decide_item *items, int n);
int record_finish(struct decider *dc, struct decide_item *items, int n);
/* record.c: a batch given back with its statement in flight: read and drop the answer. */
void record_abandon(struct decider *dc);
/*
 * record.c: events whose stock a claim of the batch found at 0 become
 * sold_out in PostgreSQL too, once every winnable unit has its won row (after
 * record_outcomes/record_finish; a release-safety that re-opened the event
 * meanwhile raised winnable, so it stays armed).  Idempotent.
 */
int record_sold_out(struct decider *dc, struct decide_item *items, int n);

#endif
