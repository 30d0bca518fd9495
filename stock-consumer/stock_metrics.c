/*
 * stock_metrics.c - stock-consumer's counters and their Prometheus text.
 */
#include "stock_metrics.h"

#include <stdio.h>
#include <string.h>

/* A batch of 250 takes milliseconds; one held through an outage, seconds
 * to minutes (it is repeated in place until acked). */
static const int64_t batch_bounds_us[] = {1000,    2500,    5000,     10000,   25000,
                                          50000,   100000,  250000,   500000,  1000000,
                                          2500000, 5000000, 10000000, 30000000};

static const char *const conn_names[SCONN_N] = {
#define STOCK_CONN_NAME(id, name) name,
    STOCK_CONN_LIST(STOCK_CONN_NAME)
#undef STOCK_CONN_NAME
};

void stock_metrics_init(struct stock_metrics *m)
{
    memset(m, 0, sizeof(*m));
    prom_hist_init(&m->batch_seconds, batch_bounds_us,
                   (int)(sizeof(batch_bounds_us) / sizeof(batch_bounds_us[0])));
    atomic_init(&m->ready, 0);
}

void stock_metrics_batch(struct stock_metrics *m, const struct stock_tally *t)
{
    prom_add(&m->won, (uint64_t)t->won);
    prom_add(&m->lost, (uint64_t)t->lost);
    prom_add(&m->duplicates, (uint64_t)t->duplicates);
    prom_add(&m->poisoned, (uint64_t)t->poisoned);
    prom_add(&m->redelivered, (uint64_t)t->redelivered);
}

void stock_metrics_batch_done(struct stock_metrics *m, int64_t us)
{
    prom_inc(&m->batches);
    prom_hist_observe(&m->batch_seconds, us);
}

void stock_metrics_ready(struct stock_metrics *m, int ready)
{
    atomic_store_explicit(&m->ready, ready, memory_order_relaxed);
}

static void render_decisions(struct evbuffer *out, const struct stock_metrics *m)
{
    static const char *const outcome[] = {"won", "lost", "duplicate", "poison"};
    const prom_counter *c[] = {&m->won, &m->lost, &m->duplicates, &m->poisoned};
    prom_header(out, "giftdrop_stock_decisions_total", "counter",
                "Entries settled and acked, by outcome: won, lost, duplicate (the member was "
                "decided by another entry) or poison (dead-lettered).");
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char labels[40];
        snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcome[i]);
        prom_sample(out, "giftdrop_stock_decisions_total", labels, (long long)prom_get(c[i]));
    }
}

void stock_metrics_render(struct evbuffer *out, void *arg)
{
    const struct stock_metrics *m = arg;
    render_decisions(out, m);
    prom_header(out, "giftdrop_stock_redeliveries_total", "counter",
                "Settled entries the broker had delivered before (a crash or a lost connection).");
    prom_sample(out, "giftdrop_stock_redeliveries_total", "", (long long)prom_get(&m->redelivered));
    prom_header(out, "giftdrop_stock_batches_total", "counter", "Batches decided and acked.");
    prom_sample(out, "giftdrop_stock_batches_total", "", (long long)prom_get(&m->batches));
    prom_header(out, "giftdrop_stock_batch_duration_seconds", "histogram",
                "Time from a batch being collected to its ack (retries in place included).");
    prom_hist_render(out, "giftdrop_stock_batch_duration_seconds", "", &m->batch_seconds);
    prom_header(out, "giftdrop_stock_batch_attempts_failed_total", "counter",
                "Batch attempts that failed (Redis, PostgreSQL or the broker) and were repeated.");
    prom_sample(out, "giftdrop_stock_batch_attempts_failed_total", "",
                (long long)prom_get(&m->attempts_failed));
    prom_header(out, "giftdrop_stock_connects_total", "counter",
                "Connections opened, the first included: more than one each means reconnects.");
    for (int i = 0; i < SCONN_N; i++) {
        char labels[40];
        snprintf(labels, sizeof(labels), "conn=\"%s\"", conn_names[i]);
        prom_sample(out, "giftdrop_stock_connects_total", labels,
                    (long long)prom_get(&m->connects[i]));
    }
    prom_header(out, "giftdrop_stock_ready", "gauge",
                "1 while every connection is usable and the consumer takes deliveries.");
    prom_sample(out, "giftdrop_stock_ready", "",
                atomic_load_explicit(&m->ready, memory_order_relaxed));
}
