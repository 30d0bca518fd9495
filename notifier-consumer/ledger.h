/*
 * ledger.h - the send ledger and the coupon pool (PostgreSQL), which make
 * sends idempotent: a row goes to 'sending' with its coupon before the
 * provider call and to 'sent'/'failed' after; a redelivered winner whose row
 * is 'sent' is acked without a send.  The pool hands a code out at most once
 * and a member holds at most one per event (DESIGN §2.1, §2.3).
 */
#ifndef GD_LEDGER_H
#define GD_LEDGER_H

#include "db.h"
#include "messages.h"

enum ledger_state {
    LEDGER_SEND,        /* go on: send with the coupon */
    LEDGER_RESOLVE,     /* an earlier attempt's outcome is unknown: ask the provider first */
    LEDGER_DONE_SENT,   /* already sent: ack, do nothing */
    LEDGER_DONE_FAILED, /* already failed for good: ack, do nothing */
    LEDGER_NO_COUPON    /* pool exhausted: recorded as failed */
};

/*
 * Claim the row for w in one transaction: create it, lock it, assign a coupon
 * if it has none, mark it 'sending'.  Returns 0 with *state and coupon, or a
 * GD_EPG_* code (rolled back).
 */
int ledger_begin(struct db *d, const struct winner_msg *w, enum ledger_state *state, char *coupon,
                 size_t coupon_len);
/* Record the outcome: status "sent" or "failed". */
int ledger_finish(struct db *d, const struct winner_msg *w, const char *status,
                  const char *endpoint, const char *provider_id, const char *error);
/* Keep the row 'sending' but remember why this attempt failed. */
int ledger_note(struct db *d, const struct winner_msg *w, const char *error);

#endif
