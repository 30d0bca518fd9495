/*
 * eventctl rearm: rebuild an event's Redis state from PostgreSQL after Redis
 * lost it (a crash past the last AOF fsync, a flush, a new empty instance).
 *
 * PostgreSQL is the system of record, so everything Redis held is derived
 * from it: the eligible set from purchases, the survey and window from the
 * event row, winners (member -> seq) and losers from the outcome rows, the
 * entries hash from the outcome rows, `notified` from the send ledger, stock
 * as winnable minus the recorded winners, and the rank counter as the
 * highest recorded rank, so the next winner never reuses a rank.
 *
 * Entries still in the queue are not in PostgreSQL yet: the stock-consumers
 * hold them while a live event has no Redis state (claim answers
 * unknown_event) and decide them once meta is back, which is why meta is
 * deleted first and written last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "errors.h"

#define CHUNK 1000 /* members per HSET/SADD */

enum { K_META, K_SURVEY, K_STOCK, K_ENTRIES, K_WINNERS, K_LOSERS, K_NOTIFIED, K_ELIGIBLE, K_N };

static const char *const key_sfx[K_N] = {"meta",    "survey", "stock",    "entries",
                                         "winners", "losers", "notified", "eligible"};

/* The event row and the counts rearm derives from it. */
struct rearm_src {
    char title[256], product[128], opens_ms[24], closes_ms[24];
    char state[16], winnable[24], won[24], last_seq[24], expire_ms[24];
    char *survey;
};

static int rcmd(struct ctl *c, int argc, const char **argv)
{
    redisReply *r = NULL;
    if (rds_command(&c->redis, &r, argc, argv, NULL) != GD_OK) {
        fprintf(stderr, "eventctl rearm: Redis %s: %s\n", argv[0], c->redis.err);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

static void copy_val(char *dst, size_t cap, PGresult *res, int col)
{
    snprintf(dst, cap, "%s", PQgetvalue(res, 0, col));
}

/* Read the event row; 0, or 1 with the reason printed. */
static int load_source(struct ctl *c, long long ev, struct rearm_src *s)
{
    char evs[24], ret[24];
    PGresult *res = NULL;
    snprintf(evs, sizeof(evs), "%lld", ev);
    snprintf(ret, sizeof(ret), "%ld", c->cfg->retention_s);
    const char *p[] = {evs, ret};
    if (db_query(&c->db,
                 "SELECT title, product_id,"
                 " (extract(epoch from opens_at) * 1000)::bigint,"
                 " (extract(epoch from closes_at) * 1000)::bigint, state,"
                 " stock_total - safety_stock + released,"
                 " (SELECT count(*) FROM entries WHERE event_id = $1 AND outcome = 'won'),"
                 " (SELECT coalesce(max(seq), 0) FROM entries WHERE event_id = $1),"
                 " (extract(epoch from closes_at) * 1000)::bigint + $2::bigint * 1000,"
                 " survey::text FROM events WHERE event_id = $1",
                 2, p, &res) != GD_OK) {
        fprintf(stderr, "eventctl rearm: %s\n", c->db.err);
        return 1;
    }
    if (PQntuples(res) != 1) {
        fprintf(stderr, "eventctl rearm: no event %lld\n", ev);
        PQclear(res);
        return 1;
    }
    char *const dst[] = {s->title,    s->product, s->opens_ms, s->closes_ms, s->state,
                         s->winnable, s->won,     s->last_seq, s->expire_ms};
    const size_t cap[] = {sizeof(s->title),     sizeof(s->product),  sizeof(s->opens_ms),
                          sizeof(s->closes_ms), sizeof(s->state),    sizeof(s->winnable),
                          sizeof(s->won),       sizeof(s->last_seq), sizeof(s->expire_ms)};
    for (int i = 0; i < 9; i++)
        copy_val(dst[i], cap[i], res, i);
    s->survey = strdup(PQgetvalue(res, 0, 9));
    PQclear(res);
    return s->survey ? 0 : 1;
}

/*
 * Run sql ($1 = event id) and send its rows to Redis as `verb key v...`:
 * one column per row for SADD, two (field, value) for HSET.  *rows gets the
 * row count.  0 or -1 (printed).
 */
static int load_rows(struct ctl *c, const char *verb, const char *key, const char *sql,
                     const char *evs, long *rows)
{
    PGresult *res = NULL;
    const char *p[] = {evs};
    const char *argv[2 + 2 * CHUNK];
    if (db_query(&c->db, sql, 1, p, &res) != GD_OK) {
        fprintf(stderr, "eventctl rearm: %s\n", c->db.err);
        return -1;
    }
    int n = PQntuples(res), cols = PQnfields(res), rc = 0;
    argv[0] = verb;
    argv[1] = key;
    for (int i = 0; i < n && rc == 0;) {
        int k = 2;
        for (; i < n && k < 2 + 2 * CHUNK; i++)
            for (int col = 0; col < cols; col++)
                argv[k++] = PQgetvalue(res, i, col);
        rc = rcmd(c, k, argv);
    }
    *rows = n;
    PQclear(res);
    return rc;
}

/* Every set and hash of the event, from PostgreSQL; counts into n[]. */
static int load_all(struct ctl *c, long long ev, const struct rearm_src *s, char k[K_N][64],
                    long n[K_N])
{
    static const struct {
        int key;
        const char *verb, *sql;
    } loads[] = {
        {K_ELIGIBLE, "SADD",
         "SELECT DISTINCT p.member_id FROM purchases p JOIN events e ON e.product_id ="
         " p.product_id WHERE e.event_id = $1"},
        {K_WINNERS, "HSET",
         "SELECT member_id, seq FROM entries WHERE event_id = $1 AND outcome = 'won'"},
        {K_LOSERS, "SADD",
         "SELECT member_id FROM entries WHERE event_id = $1 AND outcome = 'lost'"},
        {K_ENTRIES, "HSET", "SELECT member_id, entry_id::text FROM entries WHERE event_id = $1"},
        {K_NOTIFIED, "HSET",
         "SELECT member_id, status FROM notifications WHERE event_id = $1"
         " AND status IN ('sent', 'failed')"},
    };
    char evs[24];
    snprintf(evs, sizeof(evs), "%lld", ev);
    const char *survey[] = {"SET", k[K_SURVEY], s->survey};
    if (rcmd(c, 3, survey))
        return -1;
    for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++)
        if (load_rows(c, loads[i].verb, k[loads[i].key], loads[i].sql, evs, &n[loads[i].key]))
            return -1;
    return 0;
}

/* Stock and meta last: meta is what makes the event exist again for the gate and the claim. */
static int write_meta(struct ctl *c, const struct rearm_src *s, char k[K_N][64], long *left,
                      const char **state)
{
    char stock[24];
    *left = strtol(s->winnable, NULL, 10) - strtol(s->won, NULL, 10);
    if (*left < 0)
        *left = 0;
    snprintf(stock, sizeof(stock), "%ld", *left);
    *state = strcmp(s->state, "closed") == 0 ? "closed" : *left == 0 ? "sold_out" : "armed";
    const char *set[] = {"SET", k[K_STOCK], stock};
    /* The times only as milliseconds: one source of truth (DESIGN §5); the
     * API formats them. */
    const char *meta[] = {"HSET",        k[K_META],   "title",        s->title,
                          "opens_at_ms", s->opens_ms, "closes_at_ms", s->closes_ms,
                          "state",       *state,      "winnable",     s->winnable,
                          "product_id",  s->product,  "last_seq",     s->last_seq};
    if (rcmd(c, 3, set) || rcmd(c, 16, meta))
        return -1;
    for (int i = 0; i < K_N; i++) {
        const char *ex[] = {"PEXPIREAT", k[i], s->expire_ms};
        if (rcmd(c, 3, ex))
            return -1;
    }
    return 0;
}

/* 1 when the event's meta hash exists in Redis, 0 when not, -1 on error. */
static int meta_exists(struct ctl *c, const char *key)
{
    redisReply *r = NULL;
    const char *argv[] = {"EXISTS", key};
    if (rds_command(&c->redis, &r, 2, argv, NULL) != GD_OK) {
        fprintf(stderr, "eventctl rearm: Redis: %s\n", c->redis.err);
        return -1;
    }
    int v = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    freeReplyObject(r);
    return v;
}

/* Checks before anything is touched; 0 to go on, else the exit code. */
static int rearm_allowed(struct ctl *c, long long ev, const struct rearm_src *s, const char *meta,
                         int force)
{
    if (strcmp(s->state, "draft") == 0) {
        fprintf(stderr, "eventctl rearm: event %lld was never armed: use eventctl arm\n", ev);
        return 1;
    }
    int exists = meta_exists(c, meta);
    if (exists < 0)
        return 1;
    if (exists && !force) {
        fprintf(stderr,
                "eventctl rearm: event %lld still has its Redis state (%s exists); rearm"
                " rebuilds a lost state. To replace it anyway, stop the stock-consumers and"
                " add --force\n",
                ev, meta);
        return 1;
    }
    return 0;
}

int verb_rearm(struct ctl *c, int argc, char **argv)
{
    struct rearm_src s;
    char k[K_N][64];
    long n[K_N] = {0}, left = 0;
    const char *state = "";
    int force = argc == 2 && strcmp(argv[1], "--force") == 0, rc = 1;
    long long ev = argc == 1 || force ? ctl_event_id(argv[0]) : -1;
    if (ev < 0) {
        fprintf(stderr, "usage: eventctl rearm EVENT [--force]\n");
        return 2;
    }
    memset(&s, 0, sizeof(s));
    if (ctl_need_db(c) || ctl_need_redis(c) || load_source(c, ev, &s))
        goto out;
    for (int i = 0; i < K_N; i++)
        rds_key(k[i], sizeof(k[i]), ev, key_sfx[i]);
    if ((rc = rearm_allowed(c, ev, &s, k[K_META], force)) != 0)
        goto out;
    rc = 1;
    /* meta first: until it is back, claims wait and the gate answers 404. */
    const char *del[] = {"DEL",        k[K_META],   k[K_SURVEY],   k[K_STOCK],   k[K_ENTRIES],
                         k[K_WINNERS], k[K_LOSERS], k[K_NOTIFIED], k[K_ELIGIBLE]};
    if (rcmd(c, 9, del) || load_all(c, ev, &s, k, n) || write_meta(c, &s, k, &left, &state))
        goto out;
    /* entry-api instances hold sold_out/closed in memory: tell them the rebuilt state. */
    char chan[64];
    rds_key(chan, sizeof(chan), ev, "state");
    const char *pub[] = {"PUBLISH", chan, strcmp(state, "armed") == 0 ? "open" : state};
    if (rcmd(c, 3, pub))
        goto out;
    printf("rearmed event %lld: state %s, stock %ld of %s winnable, %ld winners (last rank %s),"
           " %ld losers, %ld entries, %ld notified, %ld eligible\n",
           ev, state, left, s.winnable, n[K_WINNERS], s.last_seq, n[K_LOSERS], n[K_ENTRIES],
           n[K_NOTIFIED], n[K_ELIGIBLE]);
    rc = 0;
out:
    free(s.survey);
    return rc;
}
