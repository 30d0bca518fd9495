/*
 * stock_metrics.h - stock-consumer's counters for /metrics (METRICS_ADDR).
 *
 * The consumer's main thread is the only writer (prom.h: a relaxed load and
 * store, no locked instruction, and only once per batch); the metrics
 * thread (common/metrics_http.h) renders them while the consumer runs.
 */
#ifndef GD_STOCK_METRICS_H
#define GD_STOCK_METRICS_H

#include <stdatomic.h>

#include "prom.h"

/* The connections a stock-consumer keeps (label "conn" of connects). */
#define STOCK_CONN_LIST(X)                                                                         \
    X(SCONN_CONSUME, "broker_consume")                                                             \
    X(SCONN_PUBLISH, "broker_publish")                                                             \
    X(SCONN_REDIS, "redis")                                                                        \
    X(SCONN_POSTGRES, "postgres")                                                                  \
    X(SCONN_REPLICA, "postgres_replica")

enum stock_conn {
#define STOCK_CONN_ENUM(id, name) id,
    STOCK_CONN_LIST(STOCK_CONN_ENUM)
#undef STOCK_CONN_ENUM
        SCONN_N
};

/* How one entry's decision ended (decide.c's count_batch). */
struct stock_tally {
    long won, lost, duplicates, poisoned, redelivered;
};

struct stock_metrics {
    prom_counter won, lost, duplicates, poisoned; /* entries, by outcome, once acked */
    prom_counter redelivered;                     /* of those, deliveries marked redelivered */
    prom_counter batches;                         /* batches acked */
    prom_counter attempts_failed;                 /* batch attempts that failed and were repeated */
    prom_counter connects[SCONN_N];               /* connections opened, the first included */
    struct prom_hist batch_seconds;               /* collected -> acked */
    atomic_int ready;                             /* every connection usable and consuming */
};

void stock_metrics_init(struct stock_metrics *m);
/* One acked batch: its entries' outcomes (decide.c), and how long it took
 * from collected to acked, in µs (run.c). */
void stock_metrics_batch(struct stock_metrics *m, const struct stock_tally *t);
void stock_metrics_batch_done(struct stock_metrics *m, int64_t us);
void stock_metrics_ready(struct stock_metrics *m, int ready);
/* A metrics_render_fn (common/metrics_http.h): arg is the struct stock_metrics. */
void stock_metrics_render(struct evbuffer *out, void *arg);

#endif
