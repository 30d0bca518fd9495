#include "run.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Bring every connection up; 0 when all are usable. */
static int ensure_connected(struct decider *dc)
{
    const struct gd_config *cfg = dc->cfg;
    int rc;
    if (dc->consume.broken)
        rmq_close(&dc->consume);
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
    if ((rc = db_ensure(&dc->replica)) != GD_OK) {
        log_warn(NULL, "postgres replica not usable: %s", dc->replica.err);
        return rc;
    }
    /* Consume last: no delivery is taken before everything it needs is up. */
    if (!dc->consume.open) {
        const char *q[] = {Q_STOCK};
        struct rmq_opts o = {cfg->amqp_url, "stock-consumer",           cfg->instance,
                             "consume",     (int)cfg->amqp_heartbeat_s, 5000};
        if ((rc = rmq_open_consumer(&dc->consume, &o, (int)cfg->amqp_prefetch, q, 1)) != GD_OK) {
            log_warn(NULL, "broker (consume) not usable: %s", dc->consume.err);
            return rc;
        }
        log_info(&(struct log_ctx){.conn = dc->consume.name}, "consuming %s", Q_STOCK);
    }
    return GD_OK;
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
    /* First attempts; failures are retried by ensure_connected. */
    rds_connect(&dc.redis, cfg->redis_url, 3000);
    db_connect(&dc.db, cfg->database_url, "stock-consumer");
    db_connect(&dc.replica,
               cfg->database_replica_url[0] ? cfg->database_replica_url : cfg->database_url,
               "stock-consumer/replica");
    while (!sig_stop_requested()) {
        if (ensure_connected(&dc) != GD_OK) {
            sleep_ms(backoff_next_ms(&bo));
            continue;
        }
        int n = collect(&dc, items, max);
        if (n < 0) {
            log_warn(NULL, "consume failed: %s", dc.consume.err);
            rmq_close(&dc.consume);
            continue;
        }
        if (n == 0)
            continue;
        int rc = decide_batch(&dc, items, n);
        release(items, n);
        if (rc != GD_OK) {
            /* Unacked deliveries go back to the queue when the channel closes. */
            rmq_close(&dc.consume);
            db_rollback(&dc.db);
            sleep_ms(backoff_next_ms(&bo));
            continue;
        }
        backoff_reset(&bo);
        log_debug(NULL, "batch of %d decided (total %ld: %ld won, %ld lost, %ld poison)", n,
                  dc.decided, dc.won, dc.lost, dc.poisoned);
    }
    log_info(NULL, "stopping: decided %ld (%ld won, %ld lost), %ld poison", dc.decided, dc.won,
             dc.lost, dc.poisoned);
    rmq_close(&dc.consume);
    rmq_close(&dc.publish);
    rds_close(&dc.redis);
    db_close(&dc.db);
    db_close(&dc.replica);
    free(items);
    return 0;
}
