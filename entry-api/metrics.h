/*
 * metrics.h - entry-api's counters, shared by every worker process.
 *
 * The supervisor maps one anonymous shared region before it forks; each
 * worker owns one slot and is its only writer, so an increment is a relaxed
 * load and store (no locked instruction on the hot path).  Whichever worker
 * a scrape reaches renders the sum of all slots, so /metrics shows the whole
 * instance however the kernel spreads connections over the workers.
 */
#ifndef GD_METRICS_H
#define GD_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

struct evbuffer;

/* Routes counted in /metrics. */
#define MET_ROUTE_LIST(X)                                                                          \
    X(ROUTE_ENTRY_POST, "entry_post")                                                              \
    X(ROUTE_ENTRY_ME, "entry_me")                                                                  \
    X(ROUTE_EVENT, "event")                                                                        \
    X(ROUTE_HEALTHZ, "healthz")                                                                    \
    X(ROUTE_READYZ, "readyz")                                                                      \
    X(ROUTE_METRICS, "metrics")                                                                    \
    X(ROUTE_OTHER, "other")

enum route {
#define MET_ROUTE_ENUM(id, name) id,
    MET_ROUTE_LIST(MET_ROUTE_ENUM)
#undef MET_ROUTE_ENUM
        ROUTE_N
};

/* What the gate (or the sold-out memory in front of it) decided for a POST. */
#define MET_OUTCOME_LIST(X)                                                                        \
    X(GO_ACCEPTED, "accepted")                                                                     \
    X(GO_PENDING, "pending")                                                                       \
    X(GO_DECIDED, "decided")                                                                       \
    X(GO_NOT_OPEN, "not_open")                                                                     \
    X(GO_RATE_LIMITED, "rate_limited")                                                             \
    X(GO_NOT_ELIGIBLE, "not_eligible")                                                             \
    X(GO_SOLD_OUT, "sold_out")                                                                     \
    X(GO_CLOSED, "closed")                                                                         \
    X(GO_NOT_FOUND, "not_found")                                                                   \
    X(GO_SOLD_OUT_MEMORY, "sold_out_from_memory")                                                  \
    X(GO_CLOSED_MEMORY, "closed_from_memory")                                                      \
    X(GO_ERROR, "error")

enum gate_outcome {
#define MET_OUTCOME_ENUM(id, name) id,
    MET_OUTCOME_LIST(MET_OUTCOME_ENUM)
#undef MET_OUTCOME_ENUM
        GO_N
};

#define MET_BUCKETS 14 /* finite histogram bounds; one more slot for +Inf */
#define MET_STATUS  600

typedef atomic_uint_fast64_t met_counter;

struct met_hist {
    met_counter bucket[MET_BUCKETS + 1]; /* not cumulative; +Inf last */
    met_counter sum_us;
    met_counter count;
};

/* One worker's slot.  Gauges are plain values the worker overwrites. */
struct worker_metrics {
    atomic_int pid;
    met_counter responses[ROUTE_N][MET_STATUS];
    struct met_hist latency[ROUTE_N];
    struct met_hist confirm;
    met_counter outcomes[GO_N];
    met_counter redis_timeouts;
    met_counter event_info_from_memory; /* GET /v1/events/{id} answered without Redis */
    met_counter publish_failures;
    met_counter connections_cut; /* request not complete within REQUEST_TIMEOUT_MS */
    met_counter accept_paused;   /* times the connection cap paused accepting */
    met_counter jwt_reloads[2];  /* SIGHUP key reloads: [0] put in force, [1] refused */
    atomic_long requests_in_flight;
    atomic_long publishes_in_flight;
    atomic_long connections;
    atomic_int ready;
    atomic_int subscribed;
    atomic_int jwt_keys; /* verification keys in force */
};

struct metrics; /* the shared region */

/* Map a region for n workers; NULL when out of memory.  Inherited by fork(). */
struct metrics *metrics_create(int n);
void metrics_destroy(struct metrics *m);
/* Worker i's slot (0 <= i < n), zeroed and stamped with the caller's pid. */
struct worker_metrics *metrics_slot(struct metrics *m, int i);

/* Single-writer increments: only the owning worker calls these on its slot. */
static inline void met_add(met_counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline void met_inc(met_counter *c)
{
    met_add(c, 1);
}
void met_observe(struct met_hist *h, int64_t us);
/* One answered request: its status and how long it took. */
void met_response(struct worker_metrics *w, enum route r, int status, int64_t us);

/* Append every family in Prometheus text format 0.0.4, summed over workers. */
void metrics_render(const struct metrics *m, struct evbuffer *out);

#endif
