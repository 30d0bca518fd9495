#include "decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "timeutil.h"
#include "topology.h"

#define ITEM_LOG(it)                                                                               \
    (&(struct log_ctx){.event_id = (it)->m.event_id,                                               \
                       .entry_id = (it)->m.entry_id,                                               \
                       .member_id = (it)->m.member_id,                                             \
                       .traceparent = (it)->d.traceparent})

/* Growable string for the batch's SQL parameters. */
struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void decode_all(struct decide_item *items, int n)
{
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        if (entry_msg_decode(it->d.body, it->d.len, &it->m, it->why, sizeof(it->why)) != GD_OK)
            it->poison = 1;
    }
}

/* Pipelined claim calls, one per good entry. */
static int claim_all(struct decider *dc, struct decide_item *items, int n)
{
    int sent = 0, rc;
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        char k[4][64], ev[24];
        if (it->poison)
            continue;
        rds_key(k[0], sizeof(k[0]), it->m.event_id, "meta");
        rds_key(k[1], sizeof(k[1]), it->m.event_id, "stock");
        rds_key(k[2], sizeof(k[2]), it->m.event_id, "winners");
        rds_key(k[3], sizeof(k[3]), it->m.event_id, "losers");
        snprintf(ev, sizeof(ev), "%lld", it->m.event_id);
        const char *argv[] = {k[0], k[1], k[2], k[3], it->m.member_id, ev};
        if ((rc = rds_append_script(&dc->redis, SCRIPT_CLAIM, 4, 6, argv)) != GD_OK)
            return rc;
        sent++;
    }
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        redisReply *r;
        if (it->poison)
            continue;
        if ((rc = rds_read_reply(&dc->redis, &r)) != GD_OK)
            return rc;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING) {
            freeReplyObject(r);
            return GD_EREDIS_REPLY;
        }
        if (strcmp(r->element[0]->str, "won") == 0) {
            it->won = 1;
            it->seq = (long)r->element[1]->integer;
        } else if (strcmp(r->element[0]->str, "unknown_event") == 0) {
            it->poison = 1;
            snprintf(it->why, sizeof(it->why), "event %lld is not armed", it->m.event_id);
        }
        freeReplyObject(r);
    }
    (void)sent;
    return GD_OK;
}

/* Phone and channel of every winner, one query (the replica when configured). */
static int lookup_winners(struct decider *dc, struct decide_item *items, int n)
{
    struct sbuf ids = {0};
    int any = 0, rc;
    sb_str(&ids, "{");
    for (int i = 0; i < n; i++) {
        if (!items[i].won || items[i].poison)
            continue;
        /* member ids are [A-Za-z0-9_.-]: safe inside a quoted array element */
        sb_str(&ids, any ? ",\"" : "\"");
        sb_str(&ids, items[i].m.member_id);
        sb_str(&ids, "\"");
        any = 1;
    }
    sb_str(&ids, "}");
    if (!any || ids.oom) {
        free(ids.p);
        return ids.oom ? GD_ENOMEM : GD_OK;
    }
    PGresult *res = NULL;
    const char *params[] = {ids.p};
    rc = db_query(&dc->replica,
                  "SELECT member_id, phone, kakao_opt_in FROM members WHERE member_id = ANY($1)", 1,
                  params, &res);
    free(ids.p);
    if (rc != GD_OK)
        return rc;
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        if (!it->won || it->poison)
            continue;
        snprintf(it->channel, sizeof(it->channel), "sms");
        for (int r = 0; r < PQntuples(res); r++) {
            if (strcmp(PQgetvalue(res, r, 0), it->m.member_id) == 0) {
                if (phone_valid(PQgetvalue(res, r, 1)))
                    snprintf(it->phone, sizeof(it->phone), "%s", PQgetvalue(res, r, 1));
                if (PQgetvalue(res, r, 2)[0] == 't')
                    snprintf(it->channel, sizeof(it->channel), "kakao");
                break;
            }
        }
        if (!it->phone[0])
            log_error(ITEM_LOG(it), "winner has no member row or no valid phone: the notifier "
                                    "will dead-letter it");
    }
    PQclear(res);
    return GD_OK;
}

/* All outcome rows of the batch in one statement; redeliveries do nothing. */
static int record_outcomes(struct decider *dc, struct decide_item *items, int n)
{
    struct sbuf js = {0};
    char head[512];
    int any = 0;
    sb_str(&js, "[");
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        if (it->poison)
            continue;
        char seq[24] = "null";
        if (it->won)
            snprintf(seq, sizeof(seq), "%ld", it->seq);
        snprintf(head, sizeof(head),
                 "%s{\"entry_id\":\"%s\",\"event_id\":%lld,\"member_id\":\"%s\","
                 "\"outcome\":\"%s\",\"seq\":%s,\"submitted_at\":\"%s\",\"answers\":",
                 any ? "," : "", it->m.entry_id, it->m.event_id, it->m.member_id,
                 it->won ? "won" : "lost", seq, it->m.submitted_at);
        sb_str(&js, head);
        sb_str(&js, it->m.answers_json);
        sb_str(&js, "}");
        any = 1;
    }
    sb_str(&js, "]");
    if (!any || js.oom) {
        free(js.p);
        return js.oom ? GD_ENOMEM : GD_OK;
    }
    const char *params[] = {js.p};
    int rc = db_query(&dc->db,
                      "INSERT INTO entries (entry_id, event_id, member_id, answers, outcome, seq,"
                      " submitted_at) SELECT x.entry_id, x.event_id, x.member_id, x.answers,"
                      " x.outcome, x.seq, x.submitted_at FROM jsonb_to_recordset($1::jsonb) AS"
                      " x(entry_id uuid, event_id bigint, member_id text, answers jsonb,"
                      " outcome text, seq integer, submitted_at timestamptz)"
                      " ON CONFLICT DO NOTHING",
                      1, params, NULL);
    free(js.p);
    if (rc != GD_OK)
        log_error(NULL, "recording outcomes failed: %s", dc->db.err);
    return rc;
}

/* Winners to event.winner, poison to event.dlx; then wait for every confirm. */
static int publish_results(struct decider *dc, struct decide_item *items, int n)
{
    char won_at[TIME_RFC3339_LEN];
    time_format_ms(time_now_ms(), won_at);
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        int rc = GD_OK;
        if (it->poison) {
            struct rmq_props p = {it->d.message_id[0] ? it->d.message_id : NULL,
                                  "poison",
                                  "stock-consumer",
                                  time_now_ms() / 1000,
                                  it->d.event_id,
                                  it->d.traceparent,
                                  it->why};
            rc = rmq_publish(&dc->publish, EX_DLX, DLK_STOCK, 1, &p, it->d.body, it->d.len, NULL);
        } else if (it->won) {
            struct winner_msg w;
            char *body;
            size_t len;
            memset(&w, 0, sizeof(w));
            memcpy(w.entry_id, it->m.entry_id, sizeof(w.entry_id));
            w.event_id = it->m.event_id;
            memcpy(w.member_id, it->m.member_id, sizeof(w.member_id));
            w.seq = it->seq;
            memcpy(w.channel, it->channel, sizeof(w.channel));
            memcpy(w.phone, it->phone, sizeof(w.phone));
            memcpy(w.won_at, won_at, sizeof(w.won_at));
            if ((rc = winner_msg_encode(&w, &body, &len)) != GD_OK)
                return rc;
            struct rmq_props p = {it->m.entry_id,
                                  MSG_TYPE_WINNER,
                                  "stock-consumer",
                                  time_now_ms() / 1000,
                                  it->m.event_id,
                                  it->d.traceparent,
                                  NULL};
            rc = rmq_publish(&dc->publish, EX_WINNER, it->channel, 1, &p, body, len, NULL);
            free(body);
        }
        if (rc != GD_OK)
            return rc;
    }
    return rmq_wait_confirms(&dc->publish, 10000);
}

int decide_batch(struct decider *dc, struct decide_item *items, int n)
{
    int rc;
    decode_all(items, n);
    if ((rc = claim_all(dc, items, n)) != GD_OK) {
        log_warn(NULL, "claim failed: %s (%s)", err_str(rc), dc->redis.err);
        return rc;
    }
    if ((rc = lookup_winners(dc, items, n)) != GD_OK) {
        log_warn(NULL, "member lookup failed: %s (%s)", err_str(rc), dc->replica.err);
        return rc;
    }
    if ((rc = record_outcomes(dc, items, n)) != GD_OK)
        return rc;
    if ((rc = publish_results(dc, items, n)) != GD_OK) {
        log_warn(NULL, "publishing results failed: %s (%s)", err_str(rc), dc->publish.err);
        return rc;
    }
    if ((rc = rmq_ack(&dc->consume, items[n - 1].d.tag, 1)) != GD_OK)
        return rc;
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        if (it->poison) {
            dc->poisoned++;
            log_warn(
                &(struct log_ctx){.entry_id = it->d.message_id, .traceparent = it->d.traceparent},
                "poison entry dead-lettered: %s", it->why);
        } else {
            dc->decided++;
            it->won ? dc->won++ : dc->lost++;
        }
    }
    return GD_OK;
}
