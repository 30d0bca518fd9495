/* The PostgreSQL step of a batch: the outcome rows, the system of record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "decide.h"
#include "errors.h"
#include "log.h"
#include "sbuf.h"

#define ITEM_LOG(it)                                                                               \
    (&(struct log_ctx){.event_id = (it)->m.event_id,                                               \
                       .entry_id = (it)->m.entry_id,                                               \
                       .member_id = (it)->m.member_id})

/*
 * One statement for the whole batch: jsonb_to_recordset turns one parameter
 * into rows, so 250 outcomes cost one round trip and one commit.  The plain
 * INSERT is the fast path (ON CONFLICT's speculative insertion costs about a
 * quarter more per row); a batch holding a row recorded before (a
 * redelivery, a repeat) fails it as a whole and goes again with ON CONFLICT
 * DO NOTHING, whose RETURNING names the rows actually inserted: the others
 * are read back by adopt_existing().
 */
#define INSERT_HEAD                                                                                \
    "INSERT INTO entries (entry_id, event_id, member_id, answers, outcome, seq, submitted_at)"     \
    " SELECT x.entry_id, x.event_id, x.member_id, x.answers, x.outcome, x.seq, x.submitted_at"     \
    " FROM jsonb_to_recordset($1::jsonb) AS x(entry_id uuid, event_id bigint, member_id text,"     \
    " answers jsonb, outcome text, seq integer, submitted_at timestamptz)"
static const char insert_sql[] = INSERT_HEAD;
static const char insert_skip_sql[] =
    INSERT_HEAD " ON CONFLICT DO NOTHING RETURNING entry_id::text";

/*
 * An asynchronous statement failed: the same reading as db_query() gives a
 * synchronous one (common/db.c), for record_send()/record_finish().
 */
static int pq_failed(struct db *d, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(d->sqlstate, sizeof(d->sqlstate), "%s", state ? state : "");
    snprintf(d->err, sizeof(d->err), "%s",
             res ? PQresultErrorMessage(res) : PQerrorMessage(d->conn));
    d->err[strcspn(d->err, "\n")] = '\0';
    if (PQstatus(d->conn) != CONNECTION_OK)
        return GD_EPG_CONNECT;
    if (strcmp(d->sqlstate, "23505") == 0 || strcmp(d->sqlstate, "23P01") == 0)
        return GD_EPG_CONFLICT;
    return GD_EPG_QUERY;
}

static void add_row(struct sbuf *js, const struct decide_item *it, int first)
{
    sb_fmt(js, "%s{\"entry_id\":\"%s\",\"event_id\":%lld,\"member_id\":\"%s\",", first ? "" : ",",
           it->m.entry_id, it->m.event_id, it->m.member_id);
    if (it->won)
        sb_fmt(js, "\"outcome\":\"won\",\"seq\":%ld,", it->seq);
    else
        sb_str(js, "\"outcome\":\"lost\",\"seq\":null,");
    /* decode checked every field's alphabet: no escaping needed; answers is cJSON's output */
    sb_fmt(js, "\"submitted_at\":\"%s\",\"answers\":", it->m.submitted_at);
    sb_str(js, it->m.answers_json);
    sb_str(js, "}");
}

/* The rows of every item still in play (only < 0) or of items[only]; *any = 0 when none. */
static int rows_json(struct decide_item *items, int n, int only, struct sbuf *js, int *any)
{
    *any = 0;
    sb_str(js, "[");
    for (int i = 0; i < n; i++)
        if (!items[i].poison && (only < 0 || i == only))
            add_row(js, &items[i], !(*any)++);
    sb_str(js, "]");
    return js->oom ? GD_ENOMEM : GD_OK;
}

static void mark_all_inserted(struct decide_item *items, int n, int only)
{
    for (int i = 0; i < n; i++)
        if (!items[i].poison && (only < 0 || i == only))
            items[i].inserted = 1;
}

/*
 * Insert the rows of every item still in play (only < 0) or of items[only];
 * skip = 1 tolerates rows recorded before, skip = 0 fails on them
 * (GD_EPG_CONFLICT).  Marks the inserted items.
 */
static int insert_rows(struct decider *dc, struct decide_item *items, int n, int only, int skip)
{
    struct sbuf js = {0};
    PGresult *res = NULL;
    int any;
    int rc = rows_json(items, n, only, &js, &any);
    if (rc == GD_OK && any) {
        const char *params[] = {js.p};
        rc = db_query(&dc->db, skip ? insert_skip_sql : insert_sql, 1, params, &res);
    }
    free(js.p);
    if (rc != GD_OK || !res)
        return rc;
    if (!skip)
        mark_all_inserted(items, n, only);
    for (int r = 0; skip && r < PQntuples(res); r++)
        for (int i = 0; i < n; i++)
            if (!items[i].poison && strcmp(items[i].m.entry_id, PQgetvalue(res, r, 0)) == 0)
                items[i].inserted = 1;
    PQclear(res);
    return GD_OK;
}

/* Settle an item whose row existed already from PostgreSQL's row (columns as in adopt_existing). */
static void adopt_row(struct decide_item *it, PGresult *res, int r)
{
    int won = strcmp(PQgetvalue(res, r, 3), "won") == 0;
    long seq = won ? strtol(PQgetvalue(res, r, 4), NULL, 10) : 0;
    if (strcmp(PQgetvalue(res, r, 2), it->m.entry_id) != 0) {
        /* The member entered again with a new entry_id (Redis had lost the
         * first one): the first entry's outcome stands, this one changes nothing. */
        it->dup = 1;
        log_info(ITEM_LOG(it), "member already decided by entry %s: nothing to do",
                 PQgetvalue(res, r, 2));
        return;
    }
    if (won != it->won || seq != it->seq)
        log_warn(ITEM_LOG(it),
                 "Redis answered %s/%ld but PostgreSQL recorded %s/%ld: PostgreSQL stands "
                 "(run eventctl reconcile)",
                 it->won ? "won" : "lost", it->seq, won ? "won" : "lost", seq);
    it->won = won;
    it->seq = seq;
}

/* The recorded rows of every item whose insert ON CONFLICT skipped; *res NULL when none. */
static int query_existing(struct decider *dc, struct decide_item *items, int n, PGresult **res)
{
    struct sbuf evs = {0}, mem = {0};
    int any = 0, rc;
    for (int i = 0; i < n; i++) {
        if (items[i].poison || items[i].inserted)
            continue;
        sb_fmt(&evs, "%s%lld", any ? "," : "{", items[i].m.event_id);
        sb_fmt(&mem, "%s\"%s\"", any ? "," : "{", items[i].m.member_id);
        any = 1;
    }
    sb_str(&evs, "}");
    sb_str(&mem, "}");
    rc = evs.oom || mem.oom ? GD_ENOMEM : GD_OK;
    if (rc == GD_OK && any) {
        const char *p[] = {evs.p, mem.p};
        rc = db_query(&dc->db,
                      "SELECT e.event_id, e.member_id, e.entry_id::text, e.outcome,"
                      " coalesce(e.seq, 0) FROM entries e JOIN unnest($1::bigint[], $2::text[])"
                      " AS k(event_id, member_id) ON e.event_id = k.event_id"
                      " AND e.member_id = k.member_id",
                      2, p, res);
    }
    free(evs.p);
    free(mem.p);
    return rc;
}

/* Items whose insert was skipped by ON CONFLICT: take the recorded outcome. */
static int adopt_existing(struct decider *dc, struct decide_item *items, int n)
{
    PGresult *res = NULL;
    int rc = query_existing(dc, items, n, &res);
    if (rc != GD_OK || !res)
        return rc;
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        int r = 0;
        if (it->poison || it->inserted)
            continue;
        while (r < PQntuples(res) && !(strtoll(PQgetvalue(res, r, 0), NULL, 10) == it->m.event_id &&
                                       strcmp(PQgetvalue(res, r, 1), it->m.member_id) == 0))
            r++;
        if (r < PQntuples(res))
            adopt_row(it, res, r);
        else
            item_poison(it, "entry_id %s is already recorded for another member or event",
                        it->m.entry_id);
    }
    PQclear(res);
    return GD_OK;
}

/*
 * The batch statement was refused because of some row (a data or integrity
 * error, e.g. an event Redis knows but PostgreSQL does not): try the rows
 * one by one and dead-letter only those refused.  Their Redis claim stays;
 * replayed from the DLQ after the fix, an entry gets the same answer.
 */
static int insert_each(struct decider *dc, struct decide_item *items, int n)
{
    log_warn(NULL, "outcome rows refused (%s): trying them one by one", dc->db.err);
    for (int i = 0; i < n; i++) {
        if (items[i].poison)
            continue;
        int rc = insert_rows(dc, items, n, i, 1);
        if (rc == GD_OK)
            continue;
        if ((rc != GD_EPG_QUERY && rc != GD_EPG_CONFLICT) || !pg_rows_at_fault(dc->db.sqlstate))
            return rc;
        item_poison(&items[i], "PostgreSQL refused the outcome row: %.150s", dc->db.err);
        log_error(ITEM_LOG(&items[i]), "outcome row refused (%s)%s", dc->db.err,
                  items[i].won ? "; its Redis win stays claimed" : "");
    }
    return GD_OK;
}

/* After the fast statement answered rc: its fallbacks, then the rows recorded before. */
static int finish_outcomes(struct decider *dc, struct decide_item *items, int n, int rc)
{
    if (rc == GD_EPG_CONFLICT) /* recorded before: a redelivery or a repeat */
        rc = insert_rows(dc, items, n, -1, 1);
    if ((rc == GD_EPG_QUERY || rc == GD_EPG_CONFLICT) && pg_rows_at_fault(dc->db.sqlstate))
        rc = insert_each(dc, items, n);
    if (rc == GD_OK)
        rc = adopt_existing(dc, items, n);
    if (rc != GD_OK)
        log_warn(NULL, "recording outcomes failed: %s (%s)", err_str(rc), dc->db.err);
    return rc;
}

int record_outcomes(struct decider *dc, struct decide_item *items, int n)
{
    return finish_outcomes(dc, items, n, insert_rows(dc, items, n, -1, 0));
}

int record_send(struct decider *dc, struct decide_item *items, int n)
{
    struct sbuf js = {0};
    int any;
    int rc = db_ensure(&dc->db);
    if (rc == GD_OK)
        rc = rows_json(items, n, -1, &js, &any);
    if (rc == GD_OK && any) {
        const char *params[] = {js.p};
        /* Blocking mode: the whole statement is on its way when this returns. */
        if (PQsendQueryParams(dc->db.conn, insert_sql, 1, NULL, params, NULL, NULL, 0))
            dc->insert_pending = 1;
        else
            rc = pq_failed(&dc->db, NULL);
    }
    free(js.p);
    return rc;
}

int record_finish(struct decider *dc, struct decide_item *items, int n)
{
    int rc = GD_OK;
    PGresult *res;
    if (!dc->insert_pending)
        return finish_outcomes(dc, items, n, GD_OK); /* every item was poison */
    dc->insert_pending = 0;
    /*
     * Read every result, so the connection is free for the next statement.
     * A statement sent always yields at least one: none means the connection
     * was replaced meanwhile (ensure_deps() reconnected) and the rows may
     * never have reached PostgreSQL.
     */
    int results = 0;
    while (dc->db.conn && (res = PQgetResult(dc->db.conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        results++;
        if (rc == GD_OK && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            rc = pq_failed(&dc->db, res);
        PQclear(res);
    }
    if (rc == GD_OK && results == 0) {
        snprintf(dc->db.err, sizeof(dc->db.err), "connection replaced with a statement in flight");
        rc = GD_EPG_CONNECT;
    }
    if (rc == GD_OK)
        mark_all_inserted(items, n, -1);
    return finish_outcomes(dc, items, n, rc);
}

void record_abandon(struct decider *dc)
{
    PGresult *res;
    if (!dc->insert_pending)
        return;
    dc->insert_pending = 0;
    while (dc->db.conn && (res = PQgetResult(dc->db.conn)) != NULL)
        PQclear(res);
}

int record_sold_out(struct decider *dc, struct decide_item *items, int n)
{
    for (int i = 0; i < n; i++) {
        const struct decide_item *it = &items[i];
        int j = 0;
        if (!it->sold_out || it->poison)
            continue;
        while (j < i &&
               !(items[j].sold_out && !items[j].poison && items[j].m.event_id == it->m.event_id))
            j++;
        if (j < i) /* once per event and batch */
            continue;
        char ev[24];
        snprintf(ev, sizeof(ev), "%lld", it->m.event_id);
        const char *p[] = {ev};
        int rc = db_query_prepared(
            &dc->db, "mark_sold_out",
            "UPDATE events SET state = 'sold_out' WHERE event_id = $1"
            " AND state = 'armed' AND stock_total - safety_stock + released <="
            " (SELECT count(*) FROM entries WHERE event_id = $1 AND outcome = 'won')",
            1, p, NULL);
        if (rc != GD_OK) {
            log_warn(ITEM_LOG(it), "marking the event sold out failed: %s (%s)", err_str(rc),
                     dc->db.err);
            return rc;
        }
    }
    return GD_OK;
}
