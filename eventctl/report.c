/* eventctl verbs that read: status and reconcile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "errors.h"
#include "report.h"
#include "topology.h"

static long redis_num(struct ctl *c, const char *verb, long long ev, const char *sfx,
                      const char *field)
{
    char key[64];
    redisReply *r = NULL;
    long v = -1;
    rds_key(key, sizeof(key), ev, sfx);
    const char *argv[] = {verb, key, field};
    if (rds_command(&c->redis, &r, field ? 3 : 2, argv, NULL) != GD_OK)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        v = (long)r->integer;
    else if (r->type == REDIS_REPLY_STRING)
        v = strtol(r->str, NULL, 10);
    else if (r->type == REDIS_REPLY_NIL)
        v = 0;
    freeReplyObject(r);
    return v;
}

int report_load_counts(struct ctl *c, long long ev, struct counts *k)
{
    char evs[24];
    PGresult *res = NULL;
    memset(k, 0, sizeof(*k));
    snprintf(evs, sizeof(evs), "%lld", ev);
    const char *p[] = {evs};
    if (db_query(
            &c->db,
            "SELECT e.stock_total - e.safety_stock + e.released, e.released, e.safety_stock,"
            " e.state,"
            " (SELECT count(*) FROM entries WHERE event_id = $1),"
            " (SELECT count(*) FROM entries WHERE event_id = $1 AND outcome = 'won'),"
            " (SELECT count(*) FROM entries WHERE event_id = $1 AND outcome = 'lost'),"
            " (SELECT count(seq) - count(DISTINCT seq) FROM entries WHERE event_id = $1),"
            " (SELECT count(*) FROM coupons WHERE event_id = $1),"
            " (SELECT count(member_id) FROM coupons WHERE event_id = $1),"
            " (SELECT count(*) FROM coupons WHERE event_id = $1 AND member_id IS NULL"
            "   AND NOT safety),"
            " (SELECT count(*) FROM coupons WHERE event_id = $1 AND member_id IS NULL AND safety),"
            " (SELECT count(member_id) FROM coupons WHERE event_id = $1 AND safety),"
            " (SELECT count(*) FROM (SELECT member_id FROM coupons WHERE event_id = $1"
            "   AND member_id IS NOT NULL GROUP BY member_id HAVING count(*) > 1) d),"
            " (SELECT count(*) FROM notifications WHERE event_id = $1 AND status = 'sent'),"
            " (SELECT count(*) FROM notifications WHERE event_id = $1 AND status = 'failed'),"
            " (SELECT count(*) FROM notifications WHERE event_id = $1 AND status = 'sending'),"
            " (SELECT count(*) FROM entries x WHERE x.event_id = $1 AND x.outcome = 'won'"
            "   AND NOT EXISTS (SELECT 1 FROM coupons y WHERE y.event_id = $1"
            "   AND y.member_id = x.member_id)),"
            " (SELECT count(*) FROM entries x WHERE x.event_id = $1 AND x.outcome = 'won'"
            "   AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.event_id = $1"
            "   AND n.member_id = x.member_id AND n.status = 'sent')),"
            " (SELECT count(*) FROM notifications n WHERE n.event_id = $1 AND n.status = 'sent'"
            "   AND NOT EXISTS (SELECT 1 FROM entries x WHERE x.event_id = $1"
            "   AND x.member_id = n.member_id AND x.outcome = 'won'))"
            " FROM events e WHERE e.event_id = $1",
            1, p, &res) != GD_OK) {
        fprintf(stderr, "eventctl: %s\n", c->db.err);
        return 1;
    }
    if (PQntuples(res) != 1) {
        fprintf(stderr, "eventctl: no event %lld\n", ev);
        PQclear(res);
        return 1;
    }
    long *dst[] = {&k->winnable,
                   &k->released,
                   &k->safety,
                   NULL,
                   &k->pg_entries,
                   &k->pg_won,
                   &k->pg_lost,
                   &k->dup_seq,
                   &k->coupons_total,
                   &k->coupons_assigned,
                   &k->coupons_free,
                   &k->coupons_held,
                   &k->safety_assigned,
                   &k->members_two_coupons,
                   &k->sent,
                   &k->failed,
                   &k->sending,
                   &k->winners_without_coupon,
                   &k->winners_not_sent,
                   &k->sent_not_winner};
    for (int i = 0; i < (int)(sizeof(dst) / sizeof(dst[0])); i++)
        if (dst[i])
            *dst[i] = strtol(PQgetvalue(res, 0, i), NULL, 10);
    snprintf(k->state, sizeof(k->state), "%s", PQgetvalue(res, 0, 3));
    PQclear(res);

    k->redis_entries = redis_num(c, "HLEN", ev, "entries", NULL);
    k->redis_winners = redis_num(c, "HLEN", ev, "winners", NULL);
    k->redis_losers = redis_num(c, "SCARD", ev, "losers", NULL);
    k->redis_eligible = redis_num(c, "SCARD", ev, "eligible", NULL);
    k->redis_stock = redis_num(c, "GET", ev, "stock", NULL);
    char key[64];
    redisReply *r = NULL;
    rds_key(key, sizeof(key), ev, "meta");
    const char *argv[] = {"HGET", key, "state"};
    snprintf(k->redis_state, sizeof(k->redis_state), "-");
    if (rds_command(&c->redis, &r, 3, argv, NULL) == GD_OK) {
        if (r->type == REDIS_REPLY_STRING)
            snprintf(k->redis_state, sizeof(k->redis_state), "%s", r->str);
        freeReplyObject(r);
    }
    return 0;
}

static int parse_ev_flags(struct ctl *c, int argc, char **argv, const char *verb, int *final)
{
    long long ev = argc >= 1 ? ctl_event_id(argv[0]) : -1;
    for (int i = 1; ev > 0 && i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            c->json = 1;
        else if (final && strcmp(argv[i], "--final") == 0)
            *final = 1;
        else
            ev = -1;
    }
    if (ev < 0)
        fprintf(stderr, "usage: eventctl %s EVENT [--json]%s\n", verb, final ? " [--final]" : "");
    return ev < 0 ? -1 : (int)ev;
}

/*
 * The queues are shared by every event, so their depths say "nothing in
 * flight anywhere".  The management API's numbers lag the broker by up to
 * its statistics interval (5 s by default): a final check that sees work
 * left looks again for up to 12 s before calling it a violation.
 */
static void load_queues(struct ctl *c, struct queue_report *qr, int final, const char *verb)
{
    queues_read(c, qr);
    for (int tries = 0; final && qr->ok && qr->work > 0 && tries < 24; tries++) {
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
        queues_read(c, qr);
    }
    if (!qr->ok)
        fprintf(stderr, "eventctl %s: queue depths unavailable: %s\n", verb, qr->err);
}

/* s as a JSON string literal. */
static void print_json_string(const char *s)
{
    cJSON *j = cJSON_CreateString(s);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    printf("%s", text ? text : "\"\"");
    free(text);
    cJSON_Delete(j);
}

/* The queue lines, or JSON members ("queues": null and "queues_error" when
 * the management API did not answer). */
static void print_queues(const struct ctl *c, const struct queue_report *qr)
{
    if (c->json && !qr->ok) {
        printf(",\"queues\":null,\"queues_error\":");
        print_json_string(qr->err);
        return;
    }
    if (!qr->ok) {
        printf("  %-22s unavailable (%s)\n", "queue depths", qr->err);
        return;
    }
    if (c->json) {
        printf(",\"queues\":{");
        for (size_t i = 0; qr->ok && i < qr->n; i++)
            printf("%s\"%s\":{\"ready\":%ld,\"unacked\":%ld,\"consumers\":%ld,\"live\":%s}",
                   i ? "," : "", qr->q[i].name, qr->q[i].ready, qr->q[i].unacked,
                   qr->q[i].consumers, qr->q[i].live ? "true" : "false");
        printf("}");
        return;
    }
    for (size_t i = 0; qr->ok && i < qr->n; i++)
        printf("  queue %-22s ready %6ld  unacked %6ld  consumers %ld%s\n", qr->q[i].name,
               qr->q[i].ready, qr->q[i].unacked, qr->q[i].consumers,
               !qr->q[i].found ? "  (missing)"
               : qr->q[i].live ? ""
                               : "  stats");
    queues_print_source(qr, "  ");
}

int verb_status(struct ctl *c, int argc, char **argv)
{
    struct counts k;
    int ev = parse_ev_flags(c, argc, argv, "status", NULL);
    if (ev < 0)
        return 2;
    if (ctl_need_db(c) || ctl_need_redis(c) || report_load_counts(c, ev, &k))
        return 1;
    /* Depths are a bonus: without the management API the rest still shows. */
    struct queue_report qr;
    load_queues(c, &qr, 0, "status");
    if (c->json) {
        printf("{\"event_id\":%d,\"state\":\"%s\",\"redis_state\":\"%s\",\"winnable\":%ld,"
               "\"stock_left\":%ld,\"eligible\":%ld,\"accepted\":%ld,\"decided\":%ld,"
               "\"won\":%ld,\"lost\":%ld,\"coupons_assigned\":%ld,\"coupons_free\":%ld,"
               "\"coupons_held\":%ld,"
               "\"sent\":%ld,\"failed\":%ld,\"sending\":%ld",
               ev, k.state, k.redis_state, k.winnable, k.redis_stock, k.redis_eligible,
               k.redis_entries, k.pg_entries, k.pg_won, k.pg_lost, k.coupons_assigned,
               k.coupons_free, k.coupons_held, k.sent, k.failed, k.sending);
        print_queues(c, &qr);
        printf("}\n");
        return 0;
    }
    printf("event %d  state %s (redis: %s)\n", ev, k.state, k.redis_state);
    printf("  %-22s %ld (safety stock %ld, released %ld)\n", "winnable", k.winnable, k.safety,
           k.released);
    printf("  %-22s %ld\n", "stock left (redis)", k.redis_stock);
    printf("  %-22s %ld\n", "eligible members", k.redis_eligible);
    printf("  %-22s %ld\n", "entries accepted", k.redis_entries);
    printf("  %-22s %ld (won %ld, lost %ld)\n", "entries decided", k.pg_entries, k.pg_won,
           k.pg_lost);
    /* free + held back + assigned = the pool: the held-back codes are those
     * not released yet (release-safety clears their flag). */
    printf("  %-22s %ld of %ld (%ld free, %ld held back)\n", "coupons assigned", k.coupons_assigned,
           k.coupons_total, k.coupons_free, k.coupons_held);
    printf("  %-22s sent %ld, failed %ld, in progress %ld\n", "notifications", k.sent, k.failed,
           k.sending);
    print_queues(c, &qr);
    return 0;
}

int report_checks(const struct counts *k, const struct queue_report *qr, int final,
                  struct check *out)
{
    long pending = k->redis_entries - k->pg_entries;
    const struct check checks[] = {
        {"oversold", k->pg_won > k->winnable ? k->pg_won - k->winnable : 0,
         k->pg_won <= k->winnable, "PostgreSQL winners <= winnable"},
        {"oversold_redis", k->redis_winners > k->winnable ? k->redis_winners - k->winnable : 0,
         k->redis_winners <= k->winnable, "Redis winners <= winnable"},
        {"coupons_over_winnable",
         k->coupons_assigned > k->winnable ? k->coupons_assigned - k->winnable : 0,
         k->coupons_assigned <= k->winnable, "coupons handed out <= winnable"},
        {"safety_codes_used", k->safety_assigned, k->safety_assigned <= k->released,
         "held-back codes handed out <= released"},
        {"duplicate_coupons", k->members_two_coupons, k->members_two_coupons == 0,
         "no member holds two codes"},
        {"duplicate_seq", k->dup_seq, k->dup_seq == 0, "every winner rank is unique"},
        {"sent_to_non_winner", k->sent_not_winner, k->sent_not_winner == 0,
         "every sent coupon went to a winner"},
        {"redis_pg_winners", k->redis_winners - k->pg_won, !final || k->redis_winners == k->pg_won,
         "Redis and PostgreSQL agree on winners (final)"},
        {"lost", pending, !final || pending == 0,
         "every accepted entry has an outcome row (final)"},
        {"winners_without_coupon", k->winners_without_coupon,
         !final || k->winners_without_coupon == 0, "every winner holds a code (final)"},
        {"winners_not_sent", k->winners_not_sent, !final || k->winners_not_sent == k->failed,
         "every winner was sent a coupon or failed for a recorded reason (final)"},
        {"work_queues_empty", qr && qr->ok ? qr->work : -1,
         !final || (qr && qr->ok && qr->work == 0),
         "no message waits in a work queue, any event's (final; -1: depths unavailable)"},
    };
    int n = (int)(sizeof(checks) / sizeof(checks[0])) - (qr ? 0 : 1);
    for (int i = 0; i < n; i++)
        out[i] = checks[i];
    return n;
}

int verb_reconcile(struct ctl *c, int argc, char **argv)
{
    struct counts k;
    int final = 0, bad = 0;
    int ev = parse_ev_flags(c, argc, argv, "reconcile", &final);
    if (ev < 0)
        return 2;
    if (ctl_need_db(c) || ctl_need_redis(c) || report_load_counts(c, ev, &k))
        return 1;
    struct queue_report qr;
    load_queues(c, &qr, final, "reconcile");
    struct check checks[REPORT_MAX_CHECKS];
    int n = report_checks(&k, &qr, final, checks);
    if (c->json)
        printf("{\"event_id\":%d,\"won\":%ld,\"lost_outcomes\":%ld,\"sent\":%ld,\"failed\":%ld,"
               "\"checks\":{",
               ev, k.pg_won, k.pg_lost, k.sent, k.failed);
    else
        printf("reconcile event %d (%s): %ld accepted, %ld decided, %ld won, %ld sent\n", ev,
               final ? "final" : "live", k.redis_entries, k.pg_entries, k.pg_won, k.sent);
    for (int i = 0; i < n; i++) {
        bad |= !checks[i].ok;
        if (c->json)
            printf("%s\"%s\":{\"value\":%ld,\"ok\":%s}", i ? "," : "", checks[i].name,
                   checks[i].value, checks[i].ok ? "true" : "false");
        else
            printf("  %-4s %-24s %6ld  %s\n", checks[i].ok ? "ok" : "FAIL", checks[i].name,
                   checks[i].value, checks[i].rule);
    }
    if (c->json)
        printf("}");
    print_queues(c, &qr);
    if (c->json)
        printf(",\"ok\":%s}\n", bad ? "false" : "true");
    return bad ? 1 : 0;
}
