/*
 * metrics.c - the shared counter region and its Prometheus text rendering.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "prom.h"

struct metrics {
    size_t bytes;
    int n;
    struct worker_metrics w[];
};

/* Upper bounds in microseconds: from a sold-out 410 answered from memory
 * (tens of µs) to a confirm stuck at its deadline (seconds). */
static const int64_t bounds_us[MET_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};

static const char *const route_names[ROUTE_N] = {
#define MET_ROUTE_NAME(id, name) name,
    MET_ROUTE_LIST(MET_ROUTE_NAME)
#undef MET_ROUTE_NAME
};

static const char *const outcome_names[GO_N] = {
#define MET_OUTCOME_NAME(id, name) name,
    MET_OUTCOME_LIST(MET_OUTCOME_NAME)
#undef MET_OUTCOME_NAME
};

struct metrics *metrics_create(int n)
{
    size_t bytes = sizeof(struct metrics) + (size_t)n * sizeof(struct worker_metrics);
    /* Shared and anonymous: the workers forked later all see the same pages. */
    struct metrics *m =
        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    m->bytes = bytes;
    m->n = n;
    return m;
}

void metrics_destroy(struct metrics *m)
{
    if (m)
        munmap(m, m->bytes);
}

struct worker_metrics *metrics_slot(struct metrics *m, int i)
{
    struct worker_metrics *w = &m->w[i];
    /* A restarted worker starts from zero: counters may reset, as
     * Prometheus expects of a restarted process. */
    memset(w, 0, sizeof(*w));
    atomic_store(&w->pid, (int)getpid());
    return w;
}

void met_observe(struct met_hist *h, int64_t us)
{
    int b = 0;
    while (b < MET_BUCKETS && us > bounds_us[b])
        b++;
    met_inc(&h->bucket[b]);
    met_add(&h->sum_us, (uint64_t)(us < 0 ? 0 : us));
    met_inc(&h->count);
}

void met_response(struct worker_metrics *w, enum route r, int status, int64_t us)
{
    if (status < 100 || status >= MET_STATUS)
        status = 500;
    met_inc(&w->responses[r][status]);
    met_observe(&w->latency[r], us);
}

static uint64_t ld(const met_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Sum one histogram over the workers, then print it cumulatively. */
static void render_hist(const struct metrics *m, struct evbuffer *out, const char *name,
                        const char *labels, size_t offset)
{
    uint64_t b[MET_BUCKETS + 1] = {0}, sum = 0;
    for (int i = 0; i < m->n; i++) {
        const struct met_hist *h = (const void *)((const char *)&m->w[i] + offset);
        for (int k = 0; k <= MET_BUCKETS; k++)
            b[k] += ld(&h->bucket[k]);
        sum += ld(&h->sum_us);
    }
    prom_hist_lines(out, name, labels, bounds_us, MET_BUCKETS, b, sum);
}

static void render_responses(const struct metrics *m, struct evbuffer *out)
{
    prom_header(out, "giftdrop_http_requests_total", "counter",
                "HTTP requests answered, by route and status.");
    for (int r = 0; r < ROUTE_N; r++)
        for (int s = 100; s < MET_STATUS; s++) {
            uint64_t v = 0;
            for (int i = 0; i < m->n; i++)
                v += ld(&m->w[i].responses[r][s]);
            if (v)
                evbuffer_add_printf(out,
                                    "giftdrop_http_requests_total{route=\"%s\",status=\"%d\"} "
                                    "%" PRIu64 "\n",
                                    route_names[r], s, v);
        }
    prom_header(out, "giftdrop_http_request_duration_seconds", "histogram",
                "Time from the request being read to its answer, by route.");
    for (int r = 0; r < ROUTE_N; r++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_names[r]);
        render_hist(m, out, "giftdrop_http_request_duration_seconds", labels,
                    offsetof(struct worker_metrics, latency) + (size_t)r * sizeof(struct met_hist));
    }
}

/* A counter or gauge summed over workers; offset selects the field. */
static void render_sum(const struct metrics *m, struct evbuffer *out, const char *name,
                       const char *type, const char *help, size_t offset, int is_long)
{
    long long v = 0;
    prom_header(out, name, type, help);
    for (int i = 0; i < m->n; i++) {
        const char *slot = (const char *)&m->w[i];
        if (is_long)
            v += atomic_load_explicit((const atomic_long *)(const void *)(slot + offset),
                                      memory_order_relaxed);
        else
            v += (long long)ld((const met_counter *)(const void *)(slot + offset));
    }
    evbuffer_add_printf(out, "%s %lld\n", name, v);
}

void metrics_render(const struct metrics *m, struct evbuffer *out)
{
    render_responses(m, out);
    prom_header(out, "giftdrop_gate_outcomes_total", "counter",
                "Entry decisions: gate script answers, and sold-out/closed answered from memory.");
    for (int o = 0; o < GO_N; o++) {
        uint64_t v = 0;
        for (int i = 0; i < m->n; i++)
            v += ld(&m->w[i].outcomes[o]);
        evbuffer_add_printf(out, "giftdrop_gate_outcomes_total{outcome=\"%s\"} %" PRIu64 "\n",
                            outcome_names[o], v);
    }
    prom_header(out, "giftdrop_publish_confirm_seconds", "histogram",
                "Time from handing an entry to the publisher to the broker's confirm.");
    render_hist(m, out, "giftdrop_publish_confirm_seconds", "",
                offsetof(struct worker_metrics, confirm));
    render_sum(m, out, "giftdrop_publish_failures_total", "counter",
               "Entries answered 503 because the broker did not confirm them.",
               offsetof(struct worker_metrics, publish_failures), 0);
    render_sum(m, out, "giftdrop_redis_timeouts_total", "counter",
               "Redis connections dropped because a command outlived REDIS_TIMEOUT_MS.",
               offsetof(struct worker_metrics, redis_timeouts), 0);
    render_sum(m, out, "giftdrop_event_info_from_memory_total", "counter",
               "GET /v1/events/{id} answered from the worker's copy, without Redis.",
               offsetof(struct worker_metrics, event_info_from_memory), 0);
    render_sum(m, out, "giftdrop_http_connections_cut_total", "counter",
               "Connections closed because a request was not complete within REQUEST_TIMEOUT_MS.",
               offsetof(struct worker_metrics, connections_cut), 0);
    render_sum(m, out, "giftdrop_http_accept_paused_total", "counter",
               "Times a worker stopped accepting at MAX_CONNECTIONS.",
               offsetof(struct worker_metrics, accept_paused), 0);
    render_sum(m, out, "giftdrop_http_requests_in_flight", "gauge",
               "Requests read and not answered yet.",
               offsetof(struct worker_metrics, requests_in_flight), 1);
    render_sum(m, out, "giftdrop_publish_in_flight", "gauge",
               "Entries handed to the publisher and not confirmed yet.",
               offsetof(struct worker_metrics, publishes_in_flight), 1);
    render_sum(m, out, "giftdrop_http_connections", "gauge", "Open client connections.",
               offsetof(struct worker_metrics, connections), 1);
    prom_header(out, "giftdrop_worker_ready", "gauge",
                "1 while the worker's broker and Redis connections are usable.");
    for (int i = 0; i < m->n; i++)
        evbuffer_add_printf(out, "giftdrop_worker_ready{worker=\"%d\"} %d\n", i,
                            atomic_load(&m->w[i].ready));
    prom_header(out, "giftdrop_jwt_reloads_total", "counter",
                "JWT key lists read again on SIGHUP, per worker: ok (in force) or failed (the "
                "keys in force stay).");
    for (int k = 0; k < 2; k++) {
        uint64_t v = 0;
        for (int i = 0; i < m->n; i++)
            v += ld(&m->w[i].jwt_reloads[k]);
        evbuffer_add_printf(out, "giftdrop_jwt_reloads_total{result=\"%s\"} %" PRIu64 "\n",
                            k ? "failed" : "ok", v);
    }
    prom_header(out, "giftdrop_jwt_keys", "gauge", "JWT verification keys in force, by worker.");
    for (int i = 0; i < m->n; i++)
        evbuffer_add_printf(out, "giftdrop_jwt_keys{worker=\"%d\"} %d\n", i,
                            atomic_load(&m->w[i].jwt_keys));
    prom_header(out, "giftdrop_worker_requests_total", "counter", "Requests answered, by worker.");
    for (int i = 0; i < m->n; i++) {
        uint64_t v = 0;
        for (int r = 0; r < ROUTE_N; r++)
            v += ld(&m->w[i].latency[r].count);
        evbuffer_add_printf(out, "giftdrop_worker_requests_total{worker=\"%d\"} %" PRIu64 "\n", i,
                            v);
    }
}
