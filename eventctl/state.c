/* eventctl verbs that move an event's Redis state: arm, close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "errors.h"

/* One Redis command from a fixed argv; prints the error. */
static int cmd(struct ctl *c, int argc, const char **argv)
{
    redisReply *r = NULL;
    if (rds_command(&c->redis, &r, argc, argv, NULL) != GD_OK) {
        fprintf(stderr, "eventctl: Redis %s: %s\n", argv[0], c->redis.err);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* SADD every eligible member (a qualifying purchase of the event's product). */
static int load_eligible(struct ctl *c, long long ev, const char *product, long *count)
{
    PGresult *res = NULL;
    char key[64];
    const char *p[] = {product};
    if (db_query(&c->db, "SELECT DISTINCT member_id FROM purchases WHERE product_id = $1", 1, p,
                 &res) != GD_OK) {
        fprintf(stderr, "eventctl arm: %s\n", c->db.err);
        return -1;
    }
    rds_key(key, sizeof(key), ev, "eligible");
    int rows = PQntuples(res), rc = 0;
    const char *argv[1002];
    argv[0] = "SADD";
    argv[1] = key;
    for (int i = 0; i < rows && rc == 0; i += 1000) {
        int n = 0;
        for (int j = i; j < rows && n < 1000; j++)
            argv[2 + n++] = PQgetvalue(res, j, 0);
        rc = cmd(c, 2 + n, argv);
    }
    *count = rows;
    PQclear(res);
    return rc;
}

int verb_arm(struct ctl *c, int argc, char **argv)
{
    long long ev = argc == 1 ? ctl_event_id(argv[0]) : -1;
    char evs[24], k[8][64], winnable[24], expire[32];
    long eligible = 0;
    PGresult *res = NULL;
    if (ev < 0) {
        fprintf(stderr, "usage: eventctl arm EVENT\n");
        return 2;
    }
    if (ctl_need_db(c) || ctl_need_redis(c))
        return 1;
    snprintf(evs, sizeof(evs), "%lld", ev);
    const char *p[] = {evs};
    if (db_query(&c->db,
                 "SELECT title, product_id,"
                 " to_char(opens_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
                 " to_char(closes_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
                 " (extract(epoch from opens_at) * 1000)::bigint,"
                 " (extract(epoch from closes_at) * 1000)::bigint,"
                 " stock_total - safety_stock + released, survey::text, state"
                 " FROM events WHERE event_id = $1",
                 1, p, &res) != GD_OK) {
        fprintf(stderr, "eventctl arm: %s\n", c->db.err);
        return 1;
    }
    if (PQntuples(res) != 1) {
        fprintf(stderr, "eventctl arm: no event %lld\n", ev);
        PQclear(res);
        return 1;
    }
    if (strcmp(PQgetvalue(res, 0, 8), "draft") != 0) {
        fprintf(stderr,
                "eventctl arm: event %lld is %s, not draft (a Redis loss is healed by"
                " rearm)\n",
                ev, PQgetvalue(res, 0, 8));
        PQclear(res);
        return 1;
    }
    static const char *const sfx[] = {"meta",    "survey", "stock",    "entries",
                                      "winners", "losers", "notified", "eligible"};
    for (int i = 0; i < 8; i++)
        rds_key(k[i], sizeof(k[i]), ev, sfx[i]);
    snprintf(winnable, sizeof(winnable), "%s", PQgetvalue(res, 0, 6));
    snprintf(expire, sizeof(expire), "%lld",
             strtoll(PQgetvalue(res, 0, 5), NULL, 10) + c->cfg->retention_s * 1000);
    /* Start clean, eligible set first and meta last: until meta exists the
     * gate answers 404, so nobody enters a half-armed event. */
    const char *del[] = {"DEL", k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]};
    int rc = cmd(c, 9, del) || load_eligible(c, ev, PQgetvalue(res, 0, 1), &eligible);
    const char *survey[] = {"SET", k[1], PQgetvalue(res, 0, 7)};
    const char *stock[] = {"SET", k[2], winnable};
    /* The times only as milliseconds: one source of truth (DESIGN §5); the
     * API formats them. */
    const char *meta[] = {"HSET",         k[0],
                          "title",        PQgetvalue(res, 0, 0),
                          "opens_at_ms",  PQgetvalue(res, 0, 4),
                          "closes_at_ms", PQgetvalue(res, 0, 5),
                          "state",        "armed",
                          "winnable",     winnable,
                          "product_id",   PQgetvalue(res, 0, 1)};
    rc = rc || cmd(c, 3, survey) || cmd(c, 3, stock) || cmd(c, 14, meta);
    /* The event's keys outlive closes_at by the retention period (DESIGN §5). */
    for (int i = 0; i < 8 && !rc; i++) {
        const char *ex[] = {"PEXPIREAT", k[i], expire};
        rc = cmd(c, 3, ex);
    }
    if (!rc && db_query(&c->db, "UPDATE events SET state = 'armed' WHERE event_id = $1", 1, p,
                        NULL) != GD_OK) {
        fprintf(stderr, "eventctl arm: %s\n", c->db.err);
        rc = 1;
    }
    if (!rc)
        printf("armed event %lld: %s winnable, %ld eligible members, opens %s\n", ev, winnable,
               eligible, PQgetvalue(res, 0, 2));
    PQclear(res);
    return rc ? 1 : 0;
}

int verb_close(struct ctl *c, int argc, char **argv)
{
    long long ev = argc == 1 ? ctl_event_id(argv[0]) : -1;
    char evs[24], meta[64], chan[64];
    if (ev < 0) {
        fprintf(stderr, "usage: eventctl close EVENT\n");
        return 2;
    }
    if (ctl_need_db(c) || ctl_need_redis(c))
        return 1;
    snprintf(evs, sizeof(evs), "%lld", ev);
    rds_key(meta, sizeof(meta), ev, "meta");
    rds_key(chan, sizeof(chan), ev, "state");
    const char *p[] = {evs};
    PGresult *res = NULL;
    if (db_query(&c->db, "UPDATE events SET state = 'closed' WHERE event_id = $1 RETURNING 1", 1, p,
                 &res) != GD_OK ||
        PQntuples(res) != 1) {
        fprintf(stderr, "eventctl close: no event %lld %s\n", ev, c->db.err);
        PQclear(res);
        return 1;
    }
    PQclear(res);
    const char *hset[] = {"HSET", meta, "state", "closed"};
    const char *pub[] = {"PUBLISH", chan, "closed"};
    if (cmd(c, 4, hset) || cmd(c, 3, pub))
        return 1;
    printf("closed event %lld\n", ev);
    return 0;
}
