/*
 * lb.h - choosing a provider endpoint, and learning from the outcome.
 *
 * A balancer holds a fixed list of endpoints (a name, usually a base URL,
 * and an integer weight) and one policy.  Sending is two calls, as in nginx:
 *
 *     int i = lb_select(lb, member_id, now_ms);   // which endpoint
 *     if (i < 0) -> LB_EUNAVAILABLE: every endpoint is open; retry later
 *     ... send to lb_endpoint_name(lb, i) ...
 *     lb_report(lb, i, ok, latency_us, now_ms);   // exactly once per select
 *
 * The report drives everything the policies read: the in-flight count, the
 * latency EWMA, passive health (consecutive failures and a failure-rate
 * window) and a circuit breaker per endpoint:
 *
 *   closed --(fail_threshold consecutive failures, or window_fail_pct % of at
 *            least window_min_requests reports in window_ms)--> open
 *   open   --(cool-down elapsed: the next lb_select sends ONE probe)--> half-open
 *   half-open --probe ok--> closed, in slow start (weight ramps from
 *                           slow_start_min_pct % to 100 % over slow_start_ms)
 *   half-open --probe failed--> open again, cool-down doubled (to open_max_ms)
 *
 * Policies only ever choose among closed endpoints; a due probe is served
 * before the policy runs, so an open endpoint is retried even while others
 * are healthy.  "ok" means the endpoint did its job: an answer that refuses
 * the message (invalid number, template error) is ok; a transport error,
 * timeout, 5xx or 429 is a failure.
 *
 * Time is the caller's: now_ms from a monotonic clock (time_mono_ms()), so
 * tests and simulations are deterministic.  Nothing here blocks, allocates
 * after lb_create, or touches global state.
 *
 * NOT thread-safe, by design: one balancer per thread (per event loop); the
 * cost of a select+report is tens of nanoseconds (bench/README.md).
 *
 * Ownership: lb_create*() gives the caller a balancer to free with lb_free();
 * it copies the endpoint names.  Names and stats strings returned below are
 * borrowed until lb_free().
 */
#ifndef GD_LB_H
#define GD_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/*
 * The policies, listed once: X(enum id, configuration name, ops file prefix).
 * The enum, the names and the dispatch table (lb.c) are generated from it.
 *   round_robin - each closed endpoint in turn, weights ignored
 *   weighted    - smooth weighted round robin (nginx): {5,1,1} -> a a b a c a a
 *   least_conn  - fewest requests in flight; ties: higher weight, then in turn
 *   ewma        - least peak-EWMA latency x (in flight + 1) / weight
 *   chash       - consistent hash of the key on a ring, chash_points per weight unit
 */
#define LB_POLICY_LIST(X)                                                                          \
    X(LB_ROUND_ROBIN, "round_robin", lb_rr)                                                        \
    X(LB_WEIGHTED, "weighted", lb_wrr)                                                             \
    X(LB_LEAST_CONN, "least_conn", lb_leastconn)                                                   \
    X(LB_EWMA, "ewma", lb_ewma)                                                                    \
    X(LB_CHASH, "chash", lb_chash)

enum lb_policy {
#define LB_POLICY_ENUM(id, name, ops) id,
    LB_POLICY_LIST(LB_POLICY_ENUM)
#undef LB_POLICY_ENUM
        LB_POLICY_COUNT
};

/* Returned by lb_select() when no endpoint may be used now: a transient failure. */
#define LB_EUNAVAILABLE GD_EPROVIDER_TRANSIENT

#define LB_MAX_ENDPOINTS 64
#define LB_MAX_WEIGHT    100
#define LB_MAX_NAME      255 /* bytes, without the NUL */

/* One endpoint given to lb_create(); the name is copied. */
struct lb_endpoint {
    const char *name;
    int weight; /* 1..LB_MAX_WEIGHT */
};

/*
 * Tuning, all integers.  Fill with lb_options_default() and change what you
 * need; passing NULL to lb_create*() means the defaults (shown in brackets).
 */
struct lb_options {
    int fail_threshold;       /* consecutive failures that open the breaker [5]; 0 = off */
    int window_ms;            /* failure-rate window, 10 buckets [10000] */
    int window_min_requests;  /* fewer reports than this in the window never trip it [20] */
    int window_fail_pct;      /* trip when failures reach this % of the window [50]; 0 = off */
    int open_ms;              /* first cool-down before a probe [5000] */
    int open_max_ms;          /* cool-down doubles per failed probe, up to this [60000] */
    int slow_start_ms;        /* weight ramp after recovery [10000]; 0 = off */
    int slow_start_min_pct;   /* the ramp starts at this % of the weight [10] */
    int ewma_decay_ms;        /* EWMA time constant tau [10000] */
    int ewma_fail_penalty_us; /* a failure counts as at least this latency [1000000] */
    int chash_points;         /* ring points per weight unit [160] */
};

enum lb_state {
    LB_CLOSED,    /* taking traffic (perhaps ramping up in slow start) */
    LB_OPEN,      /* skipped until open_until_ms */
    LB_HALF_OPEN, /* cool-down over: a probe is due, or out and not yet reported */
};

/* A snapshot for metrics and logs; name is borrowed until lb_free(). */
struct lb_stats {
    const char *name;
    int weight;   /* configured */
    int ramp_pct; /* slow start: the share of the weight in use now, 100 = full */
    enum lb_state state;
    int64_t open_until_ms; /* when open: the earliest probe time */
    int in_flight;         /* selected and not yet reported */
    int64_t ewma_us;       /* latency EWMA as the ewma policy sees it now; 0 = no sample */
    uint64_t picks;        /* lb_select() results, probes included */
    uint64_t successes;
    uint64_t failures;
    int consecutive_failures;
    uint64_t opens; /* times the breaker opened */
};

struct lb; /* opaque */

void lb_options_default(struct lb_options *opts);

/*
 * Make a balancer over n endpoints with the policy named `policy`
 * ("round_robin", "weighted", "least_conn", "ewma", "chash").  Refuses with
 * GD_ECONFIG and a one-line reason in err: an unknown policy, n of 0 or more
 * than LB_MAX_ENDPOINTS, an empty name, a name longer than LB_MAX_NAME or
 * containing a control character, a duplicate name, a weight outside
 * 1..LB_MAX_WEIGHT, an option out of range.  GD_EINVAL for NULL arguments,
 * GD_ENOMEM.  err may be NULL.  On success *out is the caller's (lb_free());
 * on failure *out is NULL.
 */
int lb_create(const char *policy, const struct lb_endpoint *endpoints, size_t n,
              const struct lb_options *opts, struct lb **out, char *err, size_t err_len);

/*
 * The same from a configuration string: comma-separated NAME[=WEIGHT] items,
 * e.g. "http://a:9090=3,http://b:9090=1"; spaces around items are ignored;
 * a missing weight means 1.  The weight is the text after the LAST '=', so a
 * URL containing '=' must carry an explicit weight ("http://h/?k=v=1").
 * Refuses with GD_ECONFIG (reason names the item): an empty string or item,
 * a weight that is not a decimal integer in 1..LB_MAX_WEIGHT, and all the
 * lb_create() refusals.
 */
int lb_create_from_config(const char *policy, const char *endpoints, const struct lb_options *opts,
                          struct lb **out, char *err, size_t err_len);

void lb_free(struct lb *lb); /* NULL is fine */

/*
 * Pick an endpoint for one request and count it in flight.  key is hashed by
 * chash (there it must not be NULL: GD_EINVAL) and ignored by the others.
 * Returns the index (0-based, the order given to lb_create), or
 * LB_EUNAVAILABLE when every endpoint is open and no probe is due.  Every
 * index returned must be reported exactly once with lb_report().
 */
int lb_select(struct lb *lb, const char *key, int64_t now_ms);

/*
 * The outcome of a request lb_select() sent to endpoint idx: ok as defined
 * above, latency_us the time it took (< 0 = unknown, feeds no EWMA sample).
 * Returns 0, or GD_EINVAL for an index out of range or an endpoint with
 * nothing in flight (a report without a select), changing nothing.  While an
 * endpoint is open, reports of requests sent before it opened update the
 * counts and the EWMA but not the breaker; while half-open, the first report
 * is taken as the probe's outcome.
 */
int lb_report(struct lb *lb, int idx, bool ok, int64_t latency_us, int64_t now_ms);

/* Read-only views.  lb_stats() returns GD_EINVAL for an index out of range. */
size_t lb_size(const struct lb *lb);
enum lb_policy lb_policy(const struct lb *lb);
const char *lb_endpoint_name(const struct lb *lb, int idx); /* NULL when out of range */
int lb_stats(const struct lb *lb, int idx, int64_t now_ms, struct lb_stats *out);

/* Names for configuration and logs: "round_robin" ...; "closed", "open", "half_open". */
const char *lb_policy_name(enum lb_policy policy);              /* "unknown" when out of range */
int lb_policy_from_name(const char *name, enum lb_policy *out); /* 0 or GD_ENOTFOUND */
const char *lb_state_name(enum lb_state state);

/*
 * The ring hash: FNV-1a 64 followed by the murmur3 64-bit finalizer (FNV-1a
 * alone spreads near-identical strings such as "name#1", "name#2" poorly).
 * Stable across platforms and releases: ring positions depend on it.
 */
uint64_t lb_fnv1a64(const void *data, size_t len);
uint64_t lb_hash64(const void *data, size_t len);

#endif
