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
#include "metrics_http.h"
#include "signals.h"
#include "timeutil.h"
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

static int db_up(const struct db *d)
{
    return d->conn && PQstatus(d->conn) == CONNECTION_OK;
}

/* For /metrics: a connection that was down (or never up) is up now. */
static void count_connect(struct decider *dc, enum stock_conn c, int was_up, int rc)
{
    if (!was_up && rc == GD_OK)
        prom_inc(&dc->met.connects[c]);
}

/* Everything a batch needs except the consuming connection; 0 when usable. */
static int ensure_deps(struct decider *dc)
{
    const struct gd_config *cfg = dc->cfg;
    int rc, up;
    if (dc->publish.broken)
        rmq_close(&dc->publish);
    if (!dc->publish.open) {
        struct rmq_opts o = {cfg->amqp_url, "stock-consumer", cfg->instance, "publish", 0, 5000};
        if ((rc = rmq_open_publisher(&dc->publish, &o)) != GD_OK) {
            log_warn(NULL, "broker (publish) not usable: %s", dc->publish.err);
            return rc;
        }
        prom_inc(&dc->met.connects[SCONN_PUBLISH]);
    }
    up = dc->redis.ctx != NULL;
    rc = rds_ensure(&dc->redis);
    count_connect(dc, SCONN_REDIS, up, rc);
    if (rc != GD_OK) {
        log_warn(NULL, "redis not usable: %s", dc->redis.err);
        return rc;
    }
    up = db_up(&dc->db);
    rc = db_ensure(&dc->db);
    count_connect(dc, SCONN_POSTGRES, up, rc);
    if (rc != GD_OK) {
        log_warn(NULL, "postgres not usable: %s", dc->db.err);
        return rc;
    }
    up = db_up(&dc->replica);
    rc = db_ensure(&dc->replica);
    count_connect(dc, SCONN_REPLICA, up, rc);
    if (rc != GD_OK)
        log_warn(NULL, "postgres replica not usable: %s", dc->replica.err);
    return rc;
}

/*
 * The prefetch the consumer asks for: at least four batches.  Two are in
 * hand (one being claimed while the previous one's rows are written), and
 * the broker must be able to deliver the next ones meanwhile; a quorum queue
 * frees prefetch only once an ack went through its Raft log.  Measured here
 * with batches of 250: prefetch 300 took 4 ms a batch just to collect, 1,000
 * took 0.4 ms.
 */
static int consume_prefetch(const struct gd_config *cfg)
{
    long want = 4 * cfg->batch_size;
    long p = cfg->amqp_prefetch > want ? cfg->amqp_prefetch : want;
    return (int)(p > 65535 ? 65535 : p);
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
    int rc = rmq_open_consumer(&dc->consume, &o, consume_prefetch(cfg), q, 1);
    if (rc != GD_OK) {
        log_warn(NULL, "broker (consume) not usable: %s", dc->consume.err);
        return rc;
    }
    prom_inc(&dc->met.connects[SCONN_CONSUME]);
    log_info(&(struct log_ctx){.conn = dc->consume.name},
             "consuming %s (batches of %ld, prefetch %d)", Q_STOCK, cfg->batch_size,
             consume_prefetch(cfg));
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
    for (;;) {
        int rc = ensure_deps(dc);
        if (rc == GD_OK && (rc = decide_batch(dc, items, n)) == GD_OK)
            return GD_OK;
        if (dc->consume.broken || !dc->consume.open)
            return rc;
        if (sig_stop_requested())
            return GD_ESTOPPED;
        int wait = backoff_next_ms(bo);
        prom_inc(&dc->met.attempts_failed);
        log_warn(&(struct log_ctx){.conn = dc->consume.name},
                 "batch of %d held: %s; trying again in %d ms", n, err_str(rc), wait);
        if (hold(dc, wait) != GD_OK)
            return GD_EAMQP_CLOSED;
    }
}

/* A batch in hand: its deliveries, and whether its outcome rows are in flight. */
struct slot {
    struct decide_item *items;
    int n;
    int in_flight;
    int64_t collected_us; /* for /metrics: collected -> acked */
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void release(struct slot *s)
{
    for (int i = 0; i < s->n; i++) {
        entry_msg_clear(&s->items[i].m);
        rmq_delivery_free(&s->items[i].d);
    }
    s->n = 0;
    s->in_flight = 0;
}

/* Collect up to max deliveries into s (decoded): wait up to first_ms for the
 * first one, batch_wait_ms for each further one.  Returns the count or a
 * consume error (s then holds nothing). */
static int collect(struct decider *dc, struct slot *s, int max, int first_ms)
{
    s->n = 0;
    while (s->n < max) {
        struct decide_item *it = &s->items[s->n];
        memset(it, 0, sizeof(*it));
        int rc = rmq_next(&dc->consume, s->n == 0 ? first_ms : (int)dc->cfg->batch_wait_ms, &it->d);
        if (rc == GD_ETIMEOUT)
            break;
        if (rc != GD_OK) {
            release(s);
            return rc;
        }
        s->n++;
    }
    decide_decode(s->items, s->n);
    s->collected_us = mono_us();
    return s->n;
}

/* The deliveries held go back to the broker: closing the channel requeues them. */
static void give_back(struct decider *dc, struct slot *a, struct slot *b, int rc)
{
    if (a->in_flight || b->in_flight)
        record_abandon(dc); /* whether its rows landed or not, the redelivery finds out */
    if (a->n + b->n)
        log_warn(&(struct log_ctx){.conn = dc->consume.name},
                 "%d deliveries given back to the broker: %s", a->n + b->n, err_str(rc));
    release(a);
    release(b);
    rmq_close(&dc->consume);
    stock_metrics_ready(&dc->met, 0);
}

/*
 * Bring a batch to acked: finish its in-flight outcome rows and the rest;
 * after any failure (or when nothing is in flight) decide it again in place
 * until done.  0, or the batch could not be done (give it back).
 */
static int settle(struct decider *dc, struct slot *s, struct backoff *bo)
{
    int rc = GD_ENOTFOUND;
    if (s->in_flight) {
        s->in_flight = 0;
        rc = record_finish(dc, s->items, s->n);
        if (rc == GD_OK)
            rc = decide_back(dc, s->items, s->n);
    }
    if (rc != GD_OK)
        rc = decide_until_done(dc, s->items, s->n, bo);
    if (rc == GD_OK) {
        stock_metrics_batch_done(&dc->met, mono_us() - s->collected_us);
        release(s);
    }
    return rc;
}

/*
 * One round of the pipeline.  `prev` may hold a batch whose outcome rows
 * PostgreSQL is writing; meanwhile the next batch is collected and claimed
 * into `cur` (Redis and the broker work while PostgreSQL does), then prev
 * is finished and acked, and cur's rows are sent off in turn and cur
 * becomes prev.  Acks stay in delivery order: prev's before cur's.  Any
 * failure falls back to deciding each batch on its own (decide_batch is
 * safe to repeat).  0 also when there was nothing to do.
 */
static int run_once(struct decider *dc, struct slot **prev, struct slot **cur, int max,
                    struct backoff *bo)
{
    int rc, front = GD_ENOTFOUND;
    if ((rc = ensure_deps(dc)) != GD_OK || (rc = ensure_consumer(dc)) != GD_OK) {
        stock_metrics_ready(&dc->met, 0);
        if ((*prev)->n && settle(dc, *prev, bo) != GD_OK)
            give_back(dc, *prev, *cur, rc);
        return rc;
    }
    stock_metrics_ready(&dc->met, 1);
    int64_t t0 = time_mono_ms();
    int n = collect(dc, *cur, max, (*prev)->n ? (int)dc->cfg->batch_wait_ms : 500);
    if (n < 0) {
        log_warn(&(struct log_ctx){.conn = dc->consume.name}, "consume failed: %s",
                 dc->consume.err);
        give_back(dc, *prev, *cur, n);
        return n;
    }
    int64_t t1 = time_mono_ms();
    if (n > 0)
        front = decide_front(dc, (*cur)->items, n, 0);
    int64_t t2 = time_mono_ms();
    int settled = (*prev)->n;
    if (settled && (rc = settle(dc, *prev, bo)) != GD_OK) {
        give_back(dc, *prev, *cur, rc);
        return rc;
    }
    if (n || settled)
        log_debug(NULL, "round: collected %d in %lld ms, claimed in %lld ms, settled %d in %lld ms",
                  n, (long long)(t1 - t0), (long long)(t2 - t1), settled,
                  (long long)(time_mono_ms() - t2));
    if (n == 0)
        return GD_OK;
    if (front == GD_OK && record_send(dc, (*cur)->items, n) == GD_OK) {
        (*cur)->in_flight = 1;
        struct slot *t = *prev; /* cur's rows are on their way: it is the next prev */
        *prev = *cur;
        *cur = t;
        return GD_OK;
    }
    if ((rc = settle(dc, *cur, bo)) != GD_OK)
        give_back(dc, *prev, *cur, rc);
    return rc;
}

/* First attempts; failures are retried by ensure_deps. */
static void connect_first(struct decider *dc)
{
    const struct gd_config *cfg = dc->cfg;
    const char *replica =
        cfg->database_replica_url[0] ? cfg->database_replica_url : cfg->database_url;
    count_connect(dc, SCONN_REDIS, 0, rds_connect(&dc->redis, cfg->redis_url, 3000));
    count_connect(dc, SCONN_POSTGRES, 0, db_connect(&dc->db, cfg->database_url, "stock-consumer"));
    count_connect(dc, SCONN_REPLICA, 0,
                  db_connect(&dc->replica, replica, "stock-consumer/replica"));
}

int stock_run(const struct gd_config *cfg)
{
    struct decider dc;
    struct backoff bo;
    struct metrics_http *mh = NULL;
    int max = (int)cfg->batch_size;
    struct slot a = {calloc((size_t)max, sizeof(struct decide_item)), 0, 0, 0};
    struct slot b = {calloc((size_t)max, sizeof(struct decide_item)), 0, 0, 0};
    struct slot *prev = &a, *cur = &b;
    memset(&dc, 0, sizeof(dc));
    dc.cfg = cfg;
    stock_metrics_init(&dc.met);
    /* METRICS_ADDR: served by a thread of its own, which reads dc.met only. */
    if (!a.items || !b.items ||
        (cfg->metrics_addr[0] && metrics_http_start_thread(cfg->metrics_addr, stock_metrics_render,
                                                           &dc.met, &mh) != GD_OK)) {
        free(a.items);
        free(b.items);
        return 1;
    }
    backoff_init(&bo, 100, 5000);
    connect_first(&dc);
    while (!sig_stop_requested()) {
        if (run_once(&dc, &prev, &cur, max, &bo) == GD_OK)
            backoff_reset(&bo);
        else
            sleep_ms(backoff_next_ms(&bo));
    }
    /* A batch whose rows are in flight is finished, not abandoned. */
    if (prev->n && settle(&dc, prev, &bo) != GD_OK)
        give_back(&dc, prev, cur, GD_ESTOPPED);
    log_info(NULL, "stopping: decided %ld (%ld won, %ld lost), %ld poison, %ld duplicate entries",
             dc.decided, dc.won, dc.lost, dc.poisoned, dc.duplicates);
    metrics_http_stop(mh);
    rmq_close(&dc.consume);
    rmq_close(&dc.publish);
    rds_close(&dc.redis);
    db_close(&dc.db);
    db_close(&dc.replica);
    free(a.items);
    free(b.items);
    return 0;
}
