#include "run.h"

#include <string.h>
#include <time.h>

#include "backoff.h"
#include "db.h"
#include "errors.h"
#include "ledger.h"
#include "log.h"
#include "messages.h"
#include "provider.h"
#include "rds.h"
#include "rmq.h"
#include "signals.h"
#include "topology.h"

struct notifier {
    const struct gd_config *cfg;
    struct rmq_conn consume;
    struct rmq_conn publish; /* dead letters with a reason */
    struct rds redis;
    struct db db;
    struct provider prov;
    struct backoff retry;
    long sent, failed, duplicates, poisoned;
};

#define W_LOG(w, d)                                                                                \
    (&(struct log_ctx){.event_id = (w)->event_id,                                                  \
                       .entry_id = (w)->entry_id,                                                  \
                       .member_id = (w)->member_id,                                                \
                       .traceparent = (d)->traceparent,                                            \
                       .phone = (w)->phone})

static void sleep_ms(int ms)
{
    while (ms > 0 && !sig_stop_requested()) {
        int step = ms > 100 ? 100 : ms;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static int ensure_connected(struct notifier *nf)
{
    const struct gd_config *cfg = nf->cfg;
    int rc;
    if (nf->consume.broken)
        rmq_close(&nf->consume);
    if (nf->publish.broken)
        rmq_close(&nf->publish);
    if (!nf->publish.open) {
        struct rmq_opts o = {cfg->amqp_url, "notifier-consumer", cfg->instance, "publish", 0, 5000};
        if ((rc = rmq_open_publisher(&nf->publish, &o)) != GD_OK) {
            log_warn(NULL, "broker (publish) not usable: %s", nf->publish.err);
            return rc;
        }
    }
    if ((rc = rds_ensure(&nf->redis)) != GD_OK) {
        log_warn(NULL, "redis not usable: %s", nf->redis.err);
        return rc;
    }
    if ((rc = db_ensure(&nf->db)) != GD_OK) {
        log_warn(NULL, "postgres not usable: %s", nf->db.err);
        return rc;
    }
    if (!nf->consume.open) {
        const char *q[] = {Q_KAKAO, Q_SMS};
        struct rmq_opts o = {cfg->amqp_url, "notifier-consumer",        cfg->instance,
                             "consume",     (int)cfg->amqp_heartbeat_s, 5000};
        if ((rc = rmq_open_consumer(&nf->consume, &o, (int)cfg->amqp_prefetch, q, 2)) != GD_OK) {
            log_warn(NULL, "broker (consume) not usable: %s", nf->consume.err);
            return rc;
        }
        log_info(&(struct log_ctx){.conn = nf->consume.name}, "consuming %s and %s", Q_KAKAO,
                 Q_SMS);
    }
    return GD_OK;
}

/* Redis mirror of the outcome, for GET .../entries/me; best effort. */
static void mark_notified(struct notifier *nf, const struct winner_msg *w, const char *status)
{
    char key[64];
    redisReply *r = NULL;
    rds_key(key, sizeof(key), w->event_id, "notified");
    const char *argv[] = {"HSET", key, w->member_id, status};
    if (rds_command(&nf->redis, &r, 4, argv, NULL) == GD_OK)
        freeReplyObject(r);
    else
        log_warn(NULL, "redis notified mirror failed: %s", nf->redis.err);
}

/* Dead-letter a delivery to notify.dlq with a reason, confirmed. */
static int dead_letter(struct notifier *nf, const struct rmq_delivery *d, const char *why)
{
    struct rmq_props p = {d->message_id[0] ? d->message_id : NULL,
                          "dead-letter",
                          "notifier-consumer",
                          0,
                          d->event_id,
                          d->traceparent,
                          why};
    int rc = rmq_publish(&nf->publish, EX_DLX, DLK_NOTIFY, 1, &p, d->body, d->len, NULL);
    return rc == GD_OK ? rmq_wait_confirms(&nf->publish, 5000) : rc;
}

/* Handle one winner; 0 when it was acked or rejected as intended. */
static int notify_one(struct notifier *nf, struct rmq_delivery *d)
{
    struct winner_msg w;
    struct send_result res;
    enum ledger_state state;
    char why[200], coupon[128] = "";
    int rc;

    if (winner_msg_decode(d->body, d->len, &w, why, sizeof(why)) != GD_OK) {
        nf->poisoned++;
        log_warn(&(struct log_ctx){.entry_id = d->message_id}, "poison winner: %s", why);
        if ((rc = dead_letter(nf, d, why)) != GD_OK)
            return rc;
        return rmq_ack(&nf->consume, d->tag, 0);
    }
    if ((rc = ledger_begin(&nf->db, &w, &state, coupon, sizeof(coupon))) != GD_OK) {
        log_warn(W_LOG(&w, d), "ledger unavailable: %s", nf->db.err);
        return rc;
    }
    if (state == LEDGER_DONE_SENT || state == LEDGER_DONE_FAILED) {
        nf->duplicates++;
        log_info(W_LOG(&w, d), "already %s: acked without a send",
                 state == LEDGER_DONE_SENT ? "sent" : "failed");
        return rmq_ack(&nf->consume, d->tag, 0);
    }
    if (state == LEDGER_NO_COUPON) {
        nf->failed++;
        log_error(W_LOG(&w, d), "coupon pool exhausted for event %lld", w.event_id);
        mark_notified(nf, &w, "failed");
        return rmq_ack(&nf->consume, d->tag, 0);
    }
    if (state == LEDGER_RESOLVE && provider_lookup(&nf->prov, w.entry_id, &res) == 1) {
        log_info(W_LOG(&w, d), "earlier attempt had reached the provider: not resent");
    } else {
        provider_send(&nf->prov, w.channel, w.phone, coupon, w.entry_id, w.seq, &res);
    }
    switch (res.status) {
    case SEND_OK:
        if ((rc = ledger_finish(&nf->db, &w, "sent", res.endpoint, res.request_id, NULL)) != GD_OK)
            return rc;
        mark_notified(nf, &w, "sent");
        nf->sent++;
        backoff_reset(&nf->retry);
        log_debug(
            &(struct log_ctx){
                .event_id = w.event_id, .entry_id = w.entry_id, .phone = w.phone, .coupon = coupon},
            "coupon sent");
        return rmq_ack(&nf->consume, d->tag, 0);
    case SEND_PERMANENT:
        if ((rc = ledger_finish(&nf->db, &w, "failed", res.endpoint, NULL, res.error)) != GD_OK)
            return rc;
        mark_notified(nf, &w, "failed");
        nf->failed++;
        log_error(W_LOG(&w, d), "send failed for good: %s", res.error);
        if ((rc = dead_letter(nf, d, res.error)) != GD_OK)
            return rc;
        return rmq_ack(&nf->consume, d->tag, 0);
    case SEND_TRANSIENT:
    default:
        ledger_note(&nf->db, &w, res.error);
        log_warn(W_LOG(&w, d), "send failed, will retry: %s", res.error);
        /* Back off before handing it back; the queue's delivery limit ends a
         * message that keeps failing in notify.dlq. */
        sleep_ms(backoff_next_ms(&nf->retry));
        return rmq_reject(&nf->consume, d->tag, 1);
    }
}

int notifier_run(const struct gd_config *cfg)
{
    struct notifier nf;
    struct backoff bo;
    memset(&nf, 0, sizeof(nf));
    nf.cfg = cfg;
    backoff_init(&bo, 100, 5000);
    backoff_init(&nf.retry, 50, 2000);
    if (provider_init(&nf.prov, cfg) != GD_OK)
        return 1;
    rds_connect(&nf.redis, cfg->redis_url, 3000);
    db_connect(&nf.db, cfg->database_url, "notifier-consumer");
    while (!sig_stop_requested()) {
        struct rmq_delivery d;
        if (ensure_connected(&nf) != GD_OK) {
            sleep_ms(backoff_next_ms(&bo));
            continue;
        }
        int rc = rmq_next(&nf.consume, 500, &d);
        if (rc == GD_ETIMEOUT)
            continue;
        if (rc != GD_OK) {
            log_warn(NULL, "consume failed: %s", nf.consume.err);
            rmq_close(&nf.consume);
            continue;
        }
        rc = notify_one(&nf, &d);
        rmq_delivery_free(&d);
        if (rc != GD_OK) {
            rmq_close(&nf.consume); /* unacked deliveries return to the queue */
            sleep_ms(backoff_next_ms(&bo));
            continue;
        }
        backoff_reset(&bo);
    }
    log_info(NULL, "stopping: sent %ld, failed %ld, duplicates skipped %ld, poison %ld", nf.sent,
             nf.failed, nf.duplicates, nf.poisoned);
    rmq_close(&nf.consume);
    rmq_close(&nf.publish);
    rds_close(&nf.redis);
    db_close(&nf.db);
    provider_free(&nf.prov);
    return 0;
}
