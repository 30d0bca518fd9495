/*
 * lb_internal.h - what lb.c shares with the policy files lb_*.c, and nothing
 * else includes (h2o lib/common/balancer shape: a base struct and one ops
 * table per policy).
 *
 * lb.c owns struct lb, the endpoint array, the health state and the
 * breaker.  A policy owns only what it allocates in its init (lb->policy_data)
 * and frees in its destroy.  A policy's select sees only closed endpoints as
 * candidates (lb_eligible()); probes and in-flight counting happen in lb.c.
 */
#ifndef GD_LB_INTERNAL_H
#define GD_LB_INTERNAL_H

#include "lb.h"

#define LB_WINDOW_BUCKETS 10
#define LB_PERMILLE       1000

struct lb_bucket {
    int64_t epoch; /* now_ms / bucket_ms when this bucket was last reset */
    int ok;
    int fail;
};

struct lb_ep {
    char *name; /* owned */
    int weight;
    enum lb_state state; /* LB_CLOSED, LB_OPEN (until open_until_ms), LB_HALF_OPEN (probe out) */
    int64_t open_until_ms;
    int reopen_count;      /* failed probes since the last close; doubles the cool-down */
    int64_t ramp_start_ms; /* slow start began here; INT64_MIN = not ramping */
    int in_flight;
    double ewma_us;     /* peak EWMA, 0 until the first sample */
    int64_t ewma_at_ms; /* time of the last sample */
    bool ewma_has_sample;
    uint64_t picks, successes, failures, opens;
    int consecutive_failures;
    struct lb_bucket window[LB_WINDOW_BUCKETS];
};

struct lb_ops {
    int (*init)(struct lb *lb); /* 0 or GD_ENOMEM; may leave policy_data NULL */
    void (*destroy)(struct lb *lb);
    /* An eligible endpoint's index, or -1 when there is none. */
    int (*select)(struct lb *lb, const char *key, int64_t now_ms);
};

struct lb {
    enum lb_policy policy;
    const struct lb_ops *ops;
    struct lb_options opts;
    size_t n;
    struct lb_ep *eps;
    void *policy_data;
};

#define LB_POLICY_OPS_DECL(id, name, ops) extern const struct lb_ops ops##_ops;
LB_POLICY_LIST(LB_POLICY_OPS_DECL)
#undef LB_POLICY_OPS_DECL

/* snprintf into err (may be NULL) for the create-time refusals. */
__attribute__((format(printf, 3, 4))) void lb_set_err(char *err, size_t err_len, const char *fmt,
                                                      ...);

/* Closed, so a policy may choose it. */
static inline bool lb_eligible(const struct lb *lb, size_t i)
{
    return lb->eps[i].state == LB_CLOSED;
}

/* Slow start: the share of the weight in use at now_ms, LB_PERMILLE when not ramping. */
int lb_ramp_permille(const struct lb *lb, size_t i, int64_t now_ms);

/* weight x ramp: the weight policies compare, in thousandths of a weight unit. */
int64_t lb_effective_weight(const struct lb *lb, size_t i, int64_t now_ms);

/* EWMA math (lb_ewma.c): fold in one sample; read the value decayed to now_ms. */
void lb_ewma_observe(const struct lb *lb, struct lb_ep *ep, double sample_us, int64_t now_ms);
double lb_ewma_read(const struct lb *lb, const struct lb_ep *ep, int64_t now_ms);

#endif
