#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

static int assign_coupon(struct db *d, const char *ev, const char *member, char *coupon,
                         size_t coupon_len)
{
    PGresult *res = NULL;
    const char *p[] = {ev, member};
    /* A code already held by this member (an earlier attempt) wins. */
    int rc =
        db_query(d, "SELECT code FROM coupons WHERE event_id = $1 AND member_id = $2", 2, p, &res);
    if (rc == GD_OK && PQntuples(res) == 0) {
        PQclear(res);
        res = NULL;
        /* Safety-stock codes are never taken here: only an operator's release
         * makes them available, so the pool is the final guard on oversell. */
        rc = db_query(d,
                      "UPDATE coupons SET member_id = $2, assigned_at = now()"
                      " WHERE event_id = $1 AND code = (SELECT code FROM coupons"
                      " WHERE event_id = $1 AND member_id IS NULL AND NOT safety"
                      " ORDER BY code LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING code",
                      2, p, &res);
    }
    if (rc != GD_OK)
        return rc;
    int found = PQntuples(res) > 0;
    if (found)
        snprintf(coupon, coupon_len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return found ? GD_OK : GD_ENO_COUPON;
}

int ledger_begin(struct db *d, const struct winner_msg *w, enum ledger_state *state, char *coupon,
                 size_t coupon_len)
{
    char ev[24];
    PGresult *res = NULL;
    snprintf(ev, sizeof(ev), "%lld", w->event_id);
    const char *p[] = {ev, w->member_id, w->entry_id, w->channel};
    int rc = db_begin(d);
    if (rc == GD_OK)
        rc = db_query(d,
                      "INSERT INTO notifications (event_id, member_id, entry_id, channel, status)"
                      " VALUES ($1, $2, $3, $4, 'sending') ON CONFLICT DO NOTHING",
                      4, p, NULL);
    if (rc == GD_OK)
        rc = db_query(d,
                      "SELECT status, attempts, coupon_code FROM notifications"
                      " WHERE event_id = $1 AND member_id = $2 FOR UPDATE",
                      2, p, &res);
    if (rc != GD_OK)
        goto fail;
    const char *status = PQgetvalue(res, 0, 0);
    int attempts = PQgetisnull(res, 0, 1) ? 0 : (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
    if (strcmp(status, "sent") == 0 || strcmp(status, "failed") == 0) {
        *state = status[0] == 's' ? LEDGER_DONE_SENT : LEDGER_DONE_FAILED;
        PQclear(res);
        return db_commit(d);
    }
    PQclear(res);
    res = NULL;
    rc = assign_coupon(d, ev, w->member_id, coupon, coupon_len);
    if (rc == GD_ENO_COUPON) {
        rc = db_query(d,
                      "UPDATE notifications SET status = 'failed', last_error = 'coupon pool"
                      " exhausted', updated_at = now() WHERE event_id = $1 AND member_id = $2",
                      2, p, NULL);
        if (rc != GD_OK)
            goto fail;
        *state = LEDGER_NO_COUPON;
        return db_commit(d);
    }
    if (rc != GD_OK)
        goto fail;
    const char *p2[] = {ev, w->member_id, coupon};
    rc = db_query(d,
                  "UPDATE notifications SET status = 'sending', attempts = attempts + 1,"
                  " coupon_code = $3, updated_at = now() WHERE event_id = $1 AND member_id = $2",
                  3, p2, NULL);
    if (rc != GD_OK)
        goto fail;
    *state = attempts > 0 ? LEDGER_RESOLVE : LEDGER_SEND;
    return db_commit(d);
fail:
    if (res)
        PQclear(res);
    db_rollback(d);
    return rc;
}

int ledger_finish(struct db *d, const struct winner_msg *w, const char *status,
                  const char *endpoint, const char *provider_id, const char *error)
{
    char ev[24];
    snprintf(ev, sizeof(ev), "%lld", w->event_id);
    const char *p[] = {ev, w->member_id, status, endpoint, provider_id, error};
    return db_query(d,
                    "UPDATE notifications SET status = $3, endpoint = $4,"
                    " provider_message_id = $5, last_error = $6, updated_at = now()"
                    " WHERE event_id = $1 AND member_id = $2",
                    6, p, NULL);
}

int ledger_note(struct db *d, const struct winner_msg *w, const char *error)
{
    char ev[24];
    snprintf(ev, sizeof(ev), "%lld", w->event_id);
    const char *p[] = {ev, w->member_id, error};
    return db_query(d,
                    "UPDATE notifications SET last_error = $3, updated_at = now()"
                    " WHERE event_id = $1 AND member_id = $2",
                    3, p, NULL);
}
