#include "run.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <amqp.h>
#include <amqp_framing.h>

#include "backoff.h"
#include "decide.h"
#include "errors.h"
#include "log.h"
#include "signals.h"
#include "topology.h"

static void sleep_ms(int ms)
{
    /* Short naps so a stop request is noticed within 100 ms. */
    while (ms > 0 && !sig_stop_requested()) {
        int step = ms > 100 ? 100 : ms;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* Everything a batch needs except the consuming connection; 0 when usable. */
static int ensure_deps(struct decider *dc)
{
    const struct gd_config *cfg = dc->cfg;
    int rc;
    if (dc->publish.broken)
        rmq_close(&dc->publish);
    if (!dc->publish.open) {
        struct rmq_opts o = {cfg->amqp_url, "stock-consumer", cfg->instance, "publish", 0, 5000};
        if ((rc = rmq_open_publisher(&dc->publish, &o)) != GD_OK) {
            log_warn(NULL, "broker (publish) not usable: %s", dc->publish.err);
            return rc;
        }
    }
    if ((rc = rds_ensure(&dc->redis)) != GD_OK) {
        log_warn(NULL, "redis not usable: %s", dc->redis.err);
        return rc;
    }
    if ((rc = db_ensure(&dc->db)) != GD_OK) {
        log_warn(NULL, "postgres not usable: %s", dc->db.err);
        return rc;
    }
    if ((rc = db_ensure(&dc->replica)) != GD_OK)
        log_warn(NULL, "postgres replica not usable: %s", dc->replica.err);
    return rc;
}

/* Consume last: no delivery is taken before everything it needs is up. */
static int ensure_consumer(struct decider *dc)
{
    const struct gd_config *cfg = dc->cfg;
    const char *q[] = {Q_STOCK};
    if (dc->consume.broken)
        rmq_close(&dc->consume);
    if (dc->consume.open)
        return GD_OK;
    struct rmq_opts o = {cfg->amqp_url, "stock-consumer",           cfg->instance,
                         "consume",     (int)cfg->amqp_heartbeat_s, 5000};
    int rc = rmq_open_consumer(&dc->consume, &o, (int)cfg->amqp_prefetch, q, 1);
    if (rc != GD_OK) {
        log_warn(NULL, "broker (consume) not usable: %s", dc->consume.err);
        return rc;
    }
    log_info(&(struct log_ctx){.conn = dc->consume.name}, "consuming %s", Q_STOCK);
    return GD_OK;
}

/*
 * Wait ms while holding a batch, sending heartbeats on the consuming
 * connection: rabbitmq-c sends them only from inside its calls, and a broker
 * that hears nothing for two intervals drops the connection, which requeues
 * the batch and counts a delivery against each entry's delivery limit.
 */
static int hold(struct decider *dc, int ms)
{
    amqp_frame_t beat;
    memset(&beat, 0, sizeof(beat));
    beat.frame_type = AMQP_FRAME_HEARTBEAT;
    while (ms > 0 && !sig_stop_requested()) {
        int step = ms > 1000 ? 1000 : ms;
        sleep_ms(step);
        ms -= step;
        if (dc->cfg->amqp_heartbeat_s > 0 && amqp_send_frame(dc->consume.st, &beat) != 0) {
            snprintf(dc->consume.err, sizeof(dc->consume.err), "heartbeat: connection lost");
            dc->consume.broken = 1;
            return GD_EAMQP_CLOSED;
        }
    }
    return GD_OK;
}

/*
 * Decide a batch, repeating the attempt in place after transient failures
 * (Redis, PostgreSQL or the publishing connection restarting, an event
 * waiting for rearm) until it is acked.  Gives up only when the consuming
 * connection is gone (the broker requeues the batch by itself) or a stop
 * was requested; the caller then closes the consuming connection.
 */
static int decide_until_done(struct decider *dc, struct decide_item *items, int n,
                             struct backoff *bo)
{
    decide_decode(items, n);
    for (;;) {
        int rc = ensure_deps(dc);
        if (rc == GD_OK && (rc = decide_batch(dc, items, n)) == GD_OK)
            return GD_OK;
        if (dc->consume.broken || !dc->consume.open)
            return rc;
        if (sig_stop_requested())
            return GD_ESTOPPED;
        int wait = backoff_next_ms(bo);
        log_warn(&(struct log_ctx){.conn = dc->consume.name},
                 "batch of %d held: %s; trying again in %d ms", n, err_str(rc), wait);
        if (hold(dc, wait) != GD_OK)
            return GD_EAMQP_CLOSED;
    }
}

static void release(struct decide_item *items, int n)
{
    for (int i = 0; i < n; i++) {
        entry_msg_clear(&items[i].m);
        rmq_delivery_free(&items[i].d);
    }
}

/* Collect up to max deliveries: wait up to 500 ms for the first, batch_wait_ms for more. */
static int collect(struct decider *dc, struct decide_item *items, int max)
{
    int n = 0;
    while (n < max) {
        memset(&items[n], 0, sizeof(items[n]));
        int rc = rmq_next(&dc->consume, n == 0 ? 500 : (int)dc->cfg->batch_wait_ms, &items[n].d);
        if (rc == GD_ETIMEOUT)
            break;
        if (rc != GD_OK) {
            release(items, n);
            return rc;
        }
        n++;
    }
    return n;
}

/* One round: a batch collected and decided; 0 also when there was nothing to do. */
static int run_once(struct decider *dc, struct decide_item *items, int max, struct backoff *bo)
{
    int rc;
    if ((rc = ensure_deps(dc)) != GD_OK || (rc = ensure_consumer(dc)) != GD_OK)
        return rc;
    int n = collect(dc, items, max);
    if (n < 0) {
        log_warn(&(struct log_ctx){.conn = dc->consume.name}, "consume failed: %s",
                 dc->consume.err);
        rmq_close(&dc->consume);
        return n;
    }
    if (n == 0)
        return GD_OK;
    rc = decide_until_done(dc, items, n, bo);
    release(items, n);
    if (rc != GD_OK) {
        /* Closing the channel hands the unacked batch back to the broker. */
        log_warn(&(struct log_ctx){.conn = dc->consume.name},
                 "batch of %d given back to the broker: %s", n, err_str(rc));
        rmq_close(&dc->consume);
        return rc;
    }
    log_debug(NULL, "batch of %d decided (total %ld: %ld won, %ld lost, %ld poison)", n,
              dc->decided, dc->won, dc->lost, dc->poisoned);
    return GD_OK;
}

int stock_run(const struct gd_config *cfg)
{
    struct decider dc;
    struct backoff bo;
    int max = (int)cfg->batch_size;
    struct decide_item *items = calloc((size_t)max, sizeof(*items));
    if (!items)
        return 1;
    memset(&dc, 0, sizeof(dc));
    dc.cfg = cfg;
    backoff_init(&bo, 100, 5000);
    /* First attempts; failures are retried by ensure_deps. */
    rds_connect(&dc.redis, cfg->redis_url, 3000);
    db_connect(&dc.db, cfg->database_url, "stock-consumer");
    db_connect(&dc.replica,
               cfg->database_replica_url[0] ? cfg->database_replica_url : cfg->database_url,
               "stock-consumer/replica");
    while (!sig_stop_requested()) {
        if (run_once(&dc, items, max, &bo) == GD_OK)
            backoff_reset(&bo);
        else
            sleep_ms(backoff_next_ms(&bo));
    }
    log_info(NULL, "stopping: decided %ld (%ld won, %ld lost), %ld poison, %ld duplicate entries",
             dc.decided, dc.won, dc.lost, dc.poisoned, dc.duplicates);
    rmq_close(&dc.consume);
    rmq_close(&dc.publish);
    rds_close(&dc.redis);
    db_close(&dc.db);
    db_close(&dc.replica);
    free(items);
    return 0;
}
