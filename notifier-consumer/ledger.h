/*
 * ledger.h - the send ledger and the coupon pool (PostgreSQL), which make
 * sends idempotent (DESIGN §2.1, §2.3).  One notifications row per winner:
 *
 *   status 'sending'  coupon_code  the member's code from the pool (kept for good)
 *                     attempts     deliveries processed so far
 *                     endpoint     "<api> <base URL>" of the one request that
 *                                  may have delivered, NULL when none may have
 *   status 'sent' / 'failed'       final: a redelivered winner is acked as is
 *
 * The endpoint is written BEFORE each provider request (ledger_attempt), so
 * after any crash or unknown outcome the next attempt knows whom to ask
 * before it sends again; a failure known not to have delivered clears it.
 *
 * A winner is worked on by one notifier at a time: ledger_begin takes a
 * session-level advisory lock on (event, member) that outlives its
 * transaction and is released after the attempt's last write, or by
 * PostgreSQL itself when the notifier's connection dies (a SIGKILL frees it
 * at once).  A second copy of the winner elsewhere gets LEDGER_BUSY.
 *
 * These functions run statements only; ledger_pool.c wraps batches of them
 * in one transaction and owns the locks' bookkeeping.
 */
#ifndef GD_LEDGER_H
#define GD_LEDGER_H

#include <stdint.h>

#include "db.h"
#include "messages.h"

enum ledger_state {
    LEDGER_SEND,        /* go on: nothing may have been delivered yet */
    LEDGER_RESOLVE,     /* an earlier request may have delivered: ask prev_endpoint first */
    LEDGER_DONE_SENT,   /* already sent: ack, do nothing */
    LEDGER_DONE_FAILED, /* already failed for good: ack, do nothing */
    LEDGER_NO_COUPON,   /* pool exhausted: recorded as failed */
    LEDGER_BUSY         /* another notifier holds this winner: try later */
};

enum ledger_kind {
    LEDGER_OP_BEGIN,   /* claim the row and a coupon, count the attempt */
    LEDGER_OP_ATTEMPT, /* record where the next request goes */
    LEDGER_OP_NOTE,    /* a retryable failure: keep or clear the endpoint, release */
    LEDGER_OP_FINISH,  /* 'sent' or 'failed', release */
    LEDGER_OP_RELEASE  /* give the winner up unchanged (shutdown), release */
};

#define LEDGER_ENDPOINT_MAX 300

/* One ledger operation; owned by its job, borrowed by the pool until done. */
struct ledger_op {
    enum ledger_kind kind;
    const struct winner_msg *w; /* borrowed */
    /* inputs */
    char endpoint[LEDGER_ENDPOINT_MAX]; /* ATTEMPT/FINISH: "<api> <url>" ("" = keep, FINISH) */
    int keep_endpoint;                  /* NOTE: 1 keep it (outcome unknown), 0 clear it */
    const char *status;                 /* FINISH: "sent" or "failed" */
    char provider_id[96];               /* FINISH */
    char error[256];                    /* NOTE/FINISH: last_error ("" = NULL) */
    /* outputs */
    int rc;                  /* 0, or a GD_EPG_* code */
    int permanent;           /* the statement can never succeed (bad data): give up on it */
    char err[256];           /* PostgreSQL's message when rc != 0 */
    enum ledger_state state; /* BEGIN */
    char coupon[128];        /* BEGIN */
    int attempts;            /* BEGIN: after counting this one */
    char prev_endpoint[LEDGER_ENDPOINT_MAX]; /* BEGIN: RESOLVE's endpoint */
    int locked;                              /* BEGIN: the advisory lock is ours now */
    /* ledger_pool.c's */
    uint64_t lock_hash;
    struct ledger_op *next;
};

/* "<event_id>:<member_id>", the advisory lock's name. */
void ledger_lock_name(const struct winner_msg *w, char *out, size_t cap);

/* Run op's statements on d inside the caller's transaction; take_lock asks
 * for the advisory lock (BEGIN only: the caller knows whether it holds it). */
int ledger_run(struct db *d, struct ledger_op *op, int take_lock);

/* Release the advisory locks named by names[0..n) (after the commit). */
int ledger_unlock(struct db *d, const char *const *names, int n);

#endif
