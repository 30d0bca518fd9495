/*
 * ledger.c - the send ledger's statements (see ledger.h).
 */
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* Every statement is prepared once per connection (db_query_prepared):
 * planning the coupon CTE alone cost more than a millisecond per winner. */

/* Advisory lock class of notifier leases: "notf", so no other user of
 * two-key advisory locks in this database collides with ours. */
#define LOCK_CLASS "1852796006"

void ledger_lock_name(const struct winner_msg *w, char *out, size_t cap)
{
    snprintf(out, cap, "%lld:%s", w->event_id, w->member_id);
}

/* Copy PostgreSQL's verdict into op: constraint and data errors (classes
 * 22 and 23) come back the same way every time. */
static int failed(struct db *d, struct ledger_op *op, int rc)
{
    op->rc = rc;
    op->permanent = rc == GD_EPG_CONFLICT || strncmp(d->sqlstate, "22", 2) == 0 ||
                    strncmp(d->sqlstate, "23", 2) == 0;
    snprintf(op->err, sizeof(op->err), "%s", d->err);
    return rc;
}

static void copy_field(char *dst, size_t cap, PGresult *res, int col)
{
    if (PQgetisnull(res, 0, col))
        dst[0] = '\0';
    else
        snprintf(dst, cap, "%s", PQgetvalue(res, 0, col));
}

/* Give the member a code: the one it already holds (an earlier attempt),
 * else the first free one not held back; count the attempt.  Sets coupon
 * and attempts; *none when the pool is exhausted. */
static int assign_coupon(struct db *d, struct ledger_op *op, const char *const *p, int *none)
{
    PGresult *res = NULL;
    /* Safety-stock codes are never taken here: only an operator's release
     * makes them available, so the pool is the final guard on oversell. */
    int rc = db_query_prepared(
        d, "notify_coupon",
        "WITH mine AS (SELECT code FROM coupons WHERE event_id = $1 AND member_id = $2),"
        " pick AS (UPDATE coupons SET member_id = $2, assigned_at = now()"
        "  WHERE event_id = $1 AND NOT EXISTS (SELECT 1 FROM mine) AND code ="
        "  (SELECT code FROM coupons WHERE event_id = $1 AND member_id IS NULL"
        "   AND NOT safety ORDER BY code LIMIT 1 FOR UPDATE SKIP LOCKED)"
        "  RETURNING code),"
        " got AS (SELECT code FROM mine UNION ALL SELECT code FROM pick)"
        " UPDATE notifications n SET coupon_code = got.code, attempts = attempts + 1,"
        " updated_at = now() FROM got WHERE n.event_id = $1 AND n.member_id = $2"
        " RETURNING n.attempts, n.coupon_code",
        2, p, &res);
    if (rc != GD_OK)
        return failed(d, op, rc);
    *none = PQntuples(res) == 0;
    if (!*none) {
        op->attempts = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
        copy_field(op->coupon, sizeof(op->coupon), res, 1);
    }
    PQclear(res);
    return GD_OK;
}

static int run_begin(struct db *d, struct ledger_op *op, int take_lock)
{
    const struct winner_msg *w = op->w;
    char ev[24];
    PGresult *res = NULL;
    snprintf(ev, sizeof(ev), "%lld", w->event_id);
    const char *p[] = {ev, w->member_id, w->entry_id, w->channel, take_lock ? "t" : "f"};
    /* Create or lock the row, and in the same round trip try the lease. */
    int rc = db_query_prepared(
        d, "notify_begin",
        "INSERT INTO notifications (event_id, member_id, entry_id, channel, status)"
        " VALUES ($1, $2, $3, $4, 'sending') ON CONFLICT (event_id, member_id)"
        " DO UPDATE SET updated_at = notifications.updated_at"
        " RETURNING status, attempts, coupon_code, endpoint, CASE WHEN $5::boolean"
        " THEN pg_try_advisory_lock(" LOCK_CLASS ","
        " hashtext($1::bigint::text || ':' || $2::text)) ELSE true END",
        5, p, &res);
    if (rc != GD_OK)
        return failed(d, op, rc);
    const char *status = PQgetvalue(res, 0, 0);
    op->locked = take_lock && PQgetvalue(res, 0, 4)[0] == 't';
    op->attempts = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
    copy_field(op->coupon, sizeof(op->coupon), res, 2);
    copy_field(op->prev_endpoint, sizeof(op->prev_endpoint), res, 3);
    int lease = !take_lock || op->locked;
    op->state = !lease                          ? LEDGER_BUSY
                : strcmp(status, "sent") == 0   ? LEDGER_DONE_SENT
                : strcmp(status, "failed") == 0 ? LEDGER_DONE_FAILED
                                                : LEDGER_SEND;
    PQclear(res);
    if (op->state != LEDGER_SEND)
        return GD_OK;
    int none = 0;
    if ((rc = assign_coupon(d, op, p, &none)) != GD_OK)
        return rc;
    if (none) {
        rc = db_query_prepared(
            d, "notify_no_coupon",
            "UPDATE notifications SET status = 'failed', last_error = 'coupon pool"
            " exhausted', updated_at = now() WHERE event_id = $1 AND member_id = $2",
            2, p, NULL);
        op->state = LEDGER_NO_COUPON;
        return rc == GD_OK ? GD_OK : failed(d, op, rc);
    }
    op->state = op->prev_endpoint[0] ? LEDGER_RESOLVE : LEDGER_SEND;
    return GD_OK;
}

static int run_update(struct db *d, struct ledger_op *op)
{
    const struct winner_msg *w = op->w;
    char ev[24];
    snprintf(ev, sizeof(ev), "%lld", w->event_id);
    const char *err = op->error[0] ? op->error : NULL;
    const char *ep = op->endpoint[0] ? op->endpoint : NULL;
    int rc;
    switch (op->kind) {
    case LEDGER_OP_ATTEMPT: {
        const char *p[] = {ev, w->member_id, op->endpoint};
        rc = db_query_prepared(d, "notify_attempt",
                               "UPDATE notifications SET endpoint = $3, updated_at = now()"
                               " WHERE event_id = $1 AND member_id = $2 AND status = 'sending'",
                               3, p, NULL);
        break;
    }
    case LEDGER_OP_NOTE: {
        const char *p[] = {ev, w->member_id, err, op->keep_endpoint ? "t" : "f"};
        rc = db_query_prepared(d, "notify_note",
                               "UPDATE notifications SET last_error = $3, updated_at = now(),"
                               " endpoint = CASE WHEN $4::boolean THEN endpoint END"
                               " WHERE event_id = $1 AND member_id = $2 AND status = 'sending'",
                               4, p, NULL);
        break;
    }
    case LEDGER_OP_FINISH: {
        const char *pid = op->provider_id[0] ? op->provider_id : NULL;
        const char *p[] = {ev, w->member_id, op->status, ep, pid, err};
        rc = db_query_prepared(
            d, "notify_finish",
            "UPDATE notifications SET status = $3, endpoint = COALESCE($4, endpoint),"
            " provider_message_id = $5, last_error = $6, updated_at = now()"
            " WHERE event_id = $1 AND member_id = $2",
            6, p, NULL);
        break;
    }
    default:
        rc = GD_OK; /* RELEASE writes nothing */
        break;
    }
    return rc == GD_OK ? GD_OK : failed(d, op, rc);
}

int ledger_run(struct db *d, struct ledger_op *op, int take_lock)
{
    op->rc = GD_OK;
    op->permanent = 0;
    op->err[0] = '\0';
    if (op->kind == LEDGER_OP_BEGIN)
        return run_begin(d, op, take_lock);
    return run_update(d, op);
}

int ledger_unlock(struct db *d, const char *const *names, int n)
{
    /* One array parameter: {"1:m-1","1:m-2"}; member ids are [A-Za-z0-9_.-]. */
    size_t cap = 3, used = 0;
    for (int i = 0; i < n; i++)
        cap += strlen(names[i]) + 3;
    char *arr = malloc(cap);
    if (!arr)
        return GD_ENOMEM;
    arr[used++] = '{';
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(arr + used, cap - used, "%s\"%s\"", i ? "," : "", names[i]);
    arr[used++] = '}';
    arr[used] = '\0';
    const char *p[] = {arr};
    int rc = db_query_prepared(d, "notify_unlock",
                               "SELECT count(*) FILTER (WHERE pg_advisory_unlock(" LOCK_CLASS
                               ", hashtext(k))) FROM unnest($1::text[]) k",
                               1, p, NULL);
    free(arr);
    return rc;
}
