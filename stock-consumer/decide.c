#include "decide.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "log.h"
#include "sbuf.h"
#include "timeutil.h"
#include "topology.h"

#define ITEM_LOG(it)                                                                               \
    (&(struct log_ctx){.event_id = (it)->m.event_id,                                               \
                       .entry_id = (it)->m.entry_id,                                               \
                       .member_id = (it)->m.member_id,                                             \
                       .traceparent = (it)->d.traceparent})

void item_poison(struct decide_item *it, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->why, sizeof(it->why), fmt, ap);
    va_end(ap);
    it->poison = 1;
}

void decide_decode(struct decide_item *items, int n)
{
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        if (entry_msg_decode(it->d.body, it->d.len, &it->m, it->why, sizeof(it->why)) != GD_OK)
            it->bad = 1;
    }
}

/* Forget what an earlier, failed attempt learnt: it may be stale now. */
static void reset_attempt(struct decide_item *items, int n)
{
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        it->poison = it->bad;
        it->sent = it->unknown = it->dup = it->inserted = it->won = it->sold_out = 0;
        it->seq = 0;
        it->channel[0] = it->phone[0] = '\0';
        if (!it->bad)
            it->why[0] = '\0';
    }
}

static int is_winner(const struct decide_item *it)
{
    return it->won && !it->poison && !it->dup;
}

/* Copy each winner's phone and channel from the member rows (member_id, phone, kakao_opt_in). */
static void apply_members(struct decide_item *items, int n, PGresult *res)
{
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        if (!is_winner(it))
            continue;
        snprintf(it->channel, sizeof(it->channel), "sms");
        for (int r = 0; r < PQntuples(res); r++) {
            if (strcmp(PQgetvalue(res, r, 0), it->m.member_id) != 0)
                continue;
            if (phone_valid(PQgetvalue(res, r, 1)))
                snprintf(it->phone, sizeof(it->phone), "%s", PQgetvalue(res, r, 1));
            if (PQgetvalue(res, r, 2)[0] == 't')
                snprintf(it->channel, sizeof(it->channel), "kakao");
            break;
        }
        if (!it->phone[0])
            log_error(ITEM_LOG(it), "winner has no member row or no valid phone: the notifier "
                                    "will dead-letter it");
    }
}

/* Phone and channel of every winner, one query (the replica when configured). */
static int lookup_winners(struct decider *dc, struct decide_item *items, int n)
{
    struct sbuf ids = {0};
    int any = 0;
    for (int i = 0; i < n; i++) {
        if (!is_winner(&items[i]))
            continue;
        /* member ids are [A-Za-z0-9_.-]: safe inside a quoted array element */
        sb_fmt(&ids, "%s\"%s\"", any ? "," : "{", items[i].m.member_id);
        any = 1;
    }
    sb_str(&ids, "}");
    if (!any || ids.oom) {
        free(ids.p);
        return ids.oom ? GD_ENOMEM : GD_OK;
    }
    PGresult *res = NULL;
    const char *params[] = {ids.p};
    int rc =
        db_query(&dc->replica,
                 "SELECT member_id, phone, kakao_opt_in FROM members WHERE member_id = ANY($1)", 1,
                 params, &res);
    free(ids.p);
    if (rc != GD_OK)
        return rc;
    apply_members(items, n, res);
    PQclear(res);
    return GD_OK;
}

/* A poison delivery goes to stock.entries.dlq as it came, with x-reason. */
static int publish_poison(struct decider *dc, const struct decide_item *it)
{
    struct rmq_props p = {.message_id = it->d.message_id[0] ? it->d.message_id : NULL,
                          .type = "poison",
                          .app_id = "stock-consumer",
                          .timestamp_s = time_now_ms() / 1000,
                          .event_id = it->d.event_id,
                          .traceparent = it->d.traceparent,
                          .reason = it->why};
    return rmq_publish(&dc->publish, EX_DLX, DLK_STOCK, 1, &p, it->d.body, it->d.len, NULL);
}

static int publish_winner(struct decider *dc, const struct decide_item *it, const char *won_at)
{
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
    int rc = winner_msg_encode(&w, &body, &len);
    if (rc != GD_OK)
        return rc;
    struct rmq_props p = {.message_id = it->m.entry_id,
                          .type = MSG_TYPE_WINNER,
                          .app_id = "stock-consumer",
                          .timestamp_s = time_now_ms() / 1000,
                          .event_id = it->m.event_id,
                          .traceparent = it->d.traceparent};
    rc = rmq_publish(&dc->publish, EX_WINNER, it->channel, 1, &p, body, len, NULL);
    free(body);
    return rc;
}

/* Winners to event.winner, poison to event.dlx; then wait for every confirm. */
static int publish_results(struct decider *dc, struct decide_item *items, int n)
{
    char won_at[TIME_RFC3339_LEN];
    int rc = GD_OK;
    time_format_ms(time_now_ms(), won_at);
    for (int i = 0; i < n && rc == GD_OK; i++) {
        if (items[i].poison)
            rc = publish_poison(dc, &items[i]);
        else if (is_winner(&items[i]))
            rc = publish_winner(dc, &items[i], won_at);
    }
    if (rc == GD_OK)
        rc = rmq_wait_confirms(&dc->publish, 10000);
    if (rc != GD_OK) {
        log_warn(&(struct log_ctx){.conn = dc->publish.name}, "publishing results failed: %s (%s)",
                 err_str(rc), dc->publish.err);
        /* Start the next attempt on a clean confirm window. */
        dc->publish.broken = 1;
    }
    return rc;
}

static void count_batch(struct decider *dc, struct decide_item *items, int n)
{
    struct stock_tally t = {0};
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        t.redelivered += it->d.redelivered;
        if (it->poison) {
            t.poisoned++;
            log_warn(&(struct log_ctx){.event_id = it->d.event_id,
                                       .entry_id = it->d.message_id,
                                       .traceparent = it->d.traceparent},
                     "poison entry dead-lettered: %s", it->why);
        } else if (it->dup) {
            t.duplicates++;
        } else {
            it->won ? t.won++ : t.lost++;
        }
    }
    dc->poisoned += t.poisoned;
    dc->duplicates += t.duplicates;
    dc->decided += t.won + t.lost;
    dc->won += t.won;
    dc->lost += t.lost;
    stock_metrics_batch(&dc->met, &t); /* once per batch: the metrics thread reads these */
    /* Redeliveries are the trace of a crash or a lost connection: worth a line. */
    if (t.redelivered)
        log_info(&(struct log_ctx){.conn = dc->consume.name},
                 "batch of %d decided, %ld of them redelivered", n, t.redelivered);
}

/* Microseconds on the monotonic clock, for the per-step timings of a batch. */
static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int decide_front(struct decider *dc, struct decide_item *items, int n, int resolve)
{
    int rc;
    reset_attempt(items, n);
    if ((rc = claim_batch(dc, items, n)) != GD_OK) {
        log_warn(NULL, "claim failed: %s (%s)", err_str(rc), dc->redis.err);
        return rc;
    }
    if (resolve)
        return claim_resolve_unknown(dc, items, n);
    for (int i = 0; i < n; i++)
        if (items[i].unknown && !items[i].poison)
            return GD_ENOTFOUND; /* resolved on the next, synchronous attempt */
    return GD_OK;
}

int decide_back(struct decider *dc, struct decide_item *items, int n)
{
    int rc;
    if ((rc = lookup_winners(dc, items, n)) != GD_OK) {
        log_warn(NULL, "member lookup failed: %s (%s)", err_str(rc), dc->replica.err);
        return rc;
    }
    if ((rc = publish_results(dc, items, n)) != GD_OK ||
        (rc = record_sold_out(dc, items, n)) != GD_OK)
        return rc;
    /* Everything the batch caused is durable: only now let the broker forget it. */
    if ((rc = rmq_ack(&dc->consume, items[n - 1].d.tag, 1)) != GD_OK)
        return rc;
    count_batch(dc, items, n);
    return GD_OK;
}

int decide_batch(struct decider *dc, struct decide_item *items, int n)
{
    int64_t t0 = mono_us(), t1, t2;
    int rc = decide_front(dc, items, n, 1);
    t1 = mono_us();
    if (rc == GD_OK)
        rc = record_outcomes(dc, items, n);
    t2 = mono_us();
    if (rc == GD_OK)
        rc = decide_back(dc, items, n);
    if (rc == GD_OK)
        log_debug(NULL, "batch of %d: claim %lld us, outcome rows %lld us, winners and ack %lld us",
                  n, (long long)(t1 - t0), (long long)(t2 - t1), (long long)(mono_us() - t2));
    return rc;
}
