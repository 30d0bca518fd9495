/*
 * lb.c - the balancer core: policy dispatch, endpoints, select/report, the
 * circuit breaker and slow start.  The policies live in lb_rr.c, lb_wrr.c,
 * lb_leastconn.c, lb_ewma.c and lb_chash.c; the configuration string parser
 * in lb_config.c.  See lb.h for the contract.
 */
#include "lb_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The dispatch table and the names, generated from the one list in lb.h. */
static const struct lb_ops *const policy_ops[LB_POLICY_COUNT] = {
#define LB_POLICY_OPS_ROW(id, name, ops) [id] = &ops##_ops,
    LB_POLICY_LIST(LB_POLICY_OPS_ROW)
#undef LB_POLICY_OPS_ROW
};

static const char *const policy_names[LB_POLICY_COUNT] = {
#define LB_POLICY_NAME_ROW(id, name, ops) [id] = name,
    LB_POLICY_LIST(LB_POLICY_NAME_ROW)
#undef LB_POLICY_NAME_ROW
};

const char *lb_policy_name(enum lb_policy policy)
{
    if ((unsigned)policy >= LB_POLICY_COUNT)
        return "unknown";
    return policy_names[policy];
}

int lb_policy_from_name(const char *name, enum lb_policy *out)
{
    for (int p = 0; p < LB_POLICY_COUNT; p++) {
        if (name && strcmp(name, policy_names[p]) == 0) {
            *out = (enum lb_policy)p;
            return GD_OK;
        }
    }
    return GD_ENOTFOUND;
}

const char *lb_state_name(enum lb_state state)
{
    switch (state) {
    case LB_CLOSED:
        return "closed";
    case LB_OPEN:
        return "open";
    case LB_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}

void lb_options_default(struct lb_options *o)
{
    o->fail_threshold = 5;
    o->window_ms = 10000;
    o->window_min_requests = 20;
    o->window_fail_pct = 50;
    o->open_ms = 5000;
    o->open_max_ms = 60000;
    o->slow_start_ms = 10000;
    o->slow_start_min_pct = 10;
    o->ewma_decay_ms = 10000;
    o->ewma_fail_penalty_us = 1000000;
    o->chash_points = 160;
}

void lb_set_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* One row per option: where it is, its name for messages, its bounds. */
static const struct {
    const char *name;
    size_t offset;
    int min, max;
} option_rows[] = {
    {"fail_threshold", offsetof(struct lb_options, fail_threshold), 0, 1000},
    {"window_ms", offsetof(struct lb_options, window_ms), LB_WINDOW_BUCKETS, 3600000},
    {"window_min_requests", offsetof(struct lb_options, window_min_requests), 1, 1000000},
    {"window_fail_pct", offsetof(struct lb_options, window_fail_pct), 0, 100},
    {"open_ms", offsetof(struct lb_options, open_ms), 1, 3600000},
    {"open_max_ms", offsetof(struct lb_options, open_max_ms), 1, 86400000},
    {"slow_start_ms", offsetof(struct lb_options, slow_start_ms), 0, 3600000},
    {"slow_start_min_pct", offsetof(struct lb_options, slow_start_min_pct), 1, 100},
    {"ewma_decay_ms", offsetof(struct lb_options, ewma_decay_ms), 1, 3600000},
    {"ewma_fail_penalty_us", offsetof(struct lb_options, ewma_fail_penalty_us), 0, 600000000},
    {"chash_points", offsetof(struct lb_options, chash_points), 1, 1000},
};

static int check_options(const struct lb_options *o, char *err, size_t err_len)
{
    for (size_t r = 0; r < sizeof option_rows / sizeof option_rows[0]; r++) {
        int v;
        memcpy(&v, (const char *)o + option_rows[r].offset, sizeof v);
        if (v < option_rows[r].min || v > option_rows[r].max) {
            lb_set_err(err, err_len, "load balancer option %s = %d is outside %d..%d",
                       option_rows[r].name, v, option_rows[r].min, option_rows[r].max);
            return GD_ECONFIG;
        }
    }
    if (o->open_max_ms < o->open_ms) {
        lb_set_err(err, err_len, "load balancer option open_max_ms = %d is below open_ms = %d",
                   o->open_max_ms, o->open_ms);
        return GD_ECONFIG;
    }
    return GD_OK;
}

static int check_endpoint(const struct lb_endpoint *e, size_t i, char *err, size_t err_len)
{
    size_t len = e->name ? strlen(e->name) : 0;
    if (len == 0) {
        lb_set_err(err, err_len, "endpoint %zu: empty name", i + 1);
        return GD_ECONFIG;
    }
    if (len > LB_MAX_NAME) {
        lb_set_err(err, err_len, "endpoint %zu: name longer than %d bytes", i + 1, LB_MAX_NAME);
        return GD_ECONFIG;
    }
    for (size_t k = 0; k < len; k++) {
        if ((unsigned char)e->name[k] < 0x20 || e->name[k] == 0x7f) {
            lb_set_err(err, err_len, "endpoint %zu: control character in the name", i + 1);
            return GD_ECONFIG;
        }
    }
    if (e->weight < 1 || e->weight > LB_MAX_WEIGHT) {
        lb_set_err(err, err_len, "endpoint %zu (\"%s\"): weight %d is outside 1..%d", i + 1,
                   e->name, e->weight, LB_MAX_WEIGHT);
        return GD_ECONFIG;
    }
    return GD_OK;
}

static int check_endpoints(const struct lb_endpoint *eps, size_t n, char *err, size_t err_len)
{
    if (n == 0 || n > LB_MAX_ENDPOINTS) {
        lb_set_err(err, err_len, "%zu endpoints: need 1..%d", n, LB_MAX_ENDPOINTS);
        return GD_ECONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = check_endpoint(&eps[i], i, err, err_len);
        if (rc != GD_OK)
            return rc;
        /* n <= 64, so the quadratic duplicate check costs nothing. */
        for (size_t j = 0; j < i; j++) {
            if (strcmp(eps[i].name, eps[j].name) == 0) {
                lb_set_err(err, err_len, "endpoint %zu: \"%s\" is listed twice", i + 1,
                           eps[i].name);
                return GD_ECONFIG;
            }
        }
    }
    return GD_OK;
}

static void lb_destroy(struct lb *lb)
{
    if (lb->ops && lb->ops->destroy)
        lb->ops->destroy(lb);
    for (size_t i = 0; lb->eps && i < lb->n; i++)
        free(lb->eps[i].name);
    free(lb->eps);
    free(lb);
}

static int lb_alloc(enum lb_policy policy, const struct lb_endpoint *endpoints, size_t n,
                    const struct lb_options *opts, struct lb **out)
{
    struct lb *lb = calloc(1, sizeof *lb);
    if (!lb)
        return GD_ENOMEM;
    lb->policy = policy;
    lb->opts = *opts;
    lb->n = n;
    lb->eps = calloc(n, sizeof *lb->eps);
    if (!lb->eps)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        struct lb_ep *ep = &lb->eps[i];
        if (!(ep->name = strdup(endpoints[i].name)))
            goto oom;
        ep->weight = endpoints[i].weight;
        ep->state = LB_CLOSED;
        ep->ramp_start_ms = INT64_MIN;
        for (int b = 0; b < LB_WINDOW_BUCKETS; b++)
            ep->window[b].epoch = INT64_MIN;
    }
    /* ops is set only now, so lb_destroy() calls destroy only after init ran. */
    if (policy_ops[policy]->init && policy_ops[policy]->init(lb) != GD_OK)
        goto oom;
    lb->ops = policy_ops[policy];
    *out = lb;
    return GD_OK;
oom:
    lb_destroy(lb);
    return GD_ENOMEM;
}

int lb_create(const char *policy, const struct lb_endpoint *endpoints, size_t n,
              const struct lb_options *opts, struct lb **out, char *err, size_t err_len)
{
    if (!out)
        return GD_EINVAL;
    *out = NULL;
    if (!policy || (!endpoints && n > 0))
        return GD_EINVAL;
    enum lb_policy p;
    if (lb_policy_from_name(policy, &p) != GD_OK) {
        lb_set_err(err, err_len,
                   "unknown load balancing policy \"%.64s\" (expected round_robin, weighted, "
                   "least_conn, ewma or chash)",
                   policy);
        return GD_ECONFIG;
    }
    struct lb_options defaults;
    if (!opts) {
        lb_options_default(&defaults);
        opts = &defaults;
    }
    int rc = check_options(opts, err, err_len);
    if (rc == GD_OK)
        rc = check_endpoints(endpoints, n, err, err_len);
    if (rc == GD_OK)
        rc = lb_alloc(p, endpoints, n, opts, out);
    if (rc == GD_ENOMEM)
        lb_set_err(err, err_len, "out of memory");
    return rc;
}

void lb_free(struct lb *lb)
{
    if (lb)
        lb_destroy(lb);
}

int lb_ramp_permille(const struct lb *lb, size_t i, int64_t now_ms)
{
    const struct lb_ep *ep = &lb->eps[i];
    int64_t span = lb->opts.slow_start_ms;
    if (ep->ramp_start_ms == INT64_MIN || span <= 0)
        return LB_PERMILLE;
    int64_t elapsed = now_ms - ep->ramp_start_ms;
    if (elapsed >= span)
        return LB_PERMILLE;
    if (elapsed < 0)
        elapsed = 0; /* a clock that stepped back: stay at the floor */
    int64_t floor = (int64_t)lb->opts.slow_start_min_pct * 10;
    /* Linear from the floor to full: the Envoy/HAProxy "slowstart" shape. */
    return (int)(floor + (LB_PERMILLE - floor) * elapsed / span);
}

int64_t lb_effective_weight(const struct lb *lb, size_t i, int64_t now_ms)
{
    return (int64_t)lb->eps[i].weight * lb_ramp_permille(lb, i, now_ms);
}

/* An open endpoint whose cool-down is over and that has no probe out, or -1. */
static int due_probe(const struct lb *lb, int64_t now_ms)
{
    for (size_t i = 0; i < lb->n; i++) {
        const struct lb_ep *ep = &lb->eps[i];
        if (ep->state == LB_OPEN && now_ms >= ep->open_until_ms)
            return (int)i;
    }
    return -1;
}

int lb_select(struct lb *lb, const char *key, int64_t now_ms)
{
    if (!lb || (lb->policy == LB_CHASH && !key))
        return GD_EINVAL;
    int idx = due_probe(lb, now_ms);
    if (idx >= 0) {
        /* One probe at a time: HALF_OPEN is not eligible, so nothing else goes there. */
        lb->eps[idx].state = LB_HALF_OPEN;
    } else {
        idx = lb->ops->select(lb, key, now_ms);
        if (idx < 0)
            return LB_EUNAVAILABLE;
    }
    lb->eps[idx].in_flight++;
    lb->eps[idx].picks++;
    return idx;
}

static struct lb_bucket *window_bucket(const struct lb *lb, struct lb_ep *ep, int64_t now_ms)
{
    int64_t bucket_ms = lb->opts.window_ms / LB_WINDOW_BUCKETS;
    int64_t epoch = now_ms / bucket_ms;
    struct lb_bucket *b =
        &ep->window[(size_t)(epoch % LB_WINDOW_BUCKETS + LB_WINDOW_BUCKETS) % LB_WINDOW_BUCKETS];
    if (b->epoch != epoch) {
        b->epoch = epoch;
        b->ok = b->fail = 0;
    }
    return b;
}

/* Record one outcome in the failure-rate window; true when the rate trips the breaker. */
static bool window_trips(const struct lb *lb, struct lb_ep *ep, bool ok, int64_t now_ms)
{
    struct lb_bucket *cur = window_bucket(lb, ep, now_ms);
    if (ok)
        cur->ok++;
    else
        cur->fail++;
    if (lb->opts.window_fail_pct == 0 || ok)
        return false;
    int64_t total = 0, fails = 0;
    for (int b = 0; b < LB_WINDOW_BUCKETS; b++) {
        /* Only buckets of the last window_ms count; older ones are stale leftovers. */
        if (ep->window[b].epoch > cur->epoch - LB_WINDOW_BUCKETS) {
            total += ep->window[b].ok + ep->window[b].fail;
            fails += ep->window[b].fail;
        }
    }
    return total >= lb->opts.window_min_requests &&
           fails * 100 >= (int64_t)lb->opts.window_fail_pct * total;
}

static void window_clear(struct lb_ep *ep)
{
    for (int b = 0; b < LB_WINDOW_BUCKETS; b++)
        ep->window[b].epoch = INT64_MIN;
}

static void breaker_open(const struct lb *lb, struct lb_ep *ep, int64_t now_ms)
{
    int64_t cool = lb->opts.open_ms;
    for (int k = 0; k < ep->reopen_count && cool < lb->opts.open_max_ms; k++)
        cool *= 2;
    if (cool > lb->opts.open_max_ms)
        cool = lb->opts.open_max_ms;
    ep->state = LB_OPEN;
    ep->open_until_ms = now_ms + cool;
    ep->opens++;
    ep->ramp_start_ms = INT64_MIN;
    window_clear(ep);
}

static void breaker_report(const struct lb *lb, struct lb_ep *ep, bool ok, int64_t now_ms)
{
    switch (ep->state) {
    case LB_CLOSED:
        if (window_trips(lb, ep, ok, now_ms) ||
            (lb->opts.fail_threshold > 0 && ep->consecutive_failures >= lb->opts.fail_threshold)) {
            ep->reopen_count = 0;
            breaker_open(lb, ep, now_ms);
        }
        break;
    case LB_HALF_OPEN: /* the probe's outcome */
        if (ok) {
            ep->state = LB_CLOSED;
            ep->reopen_count = 0;
            ep->ramp_start_ms = lb->opts.slow_start_ms > 0 ? now_ms : INT64_MIN;
        } else {
            ep->reopen_count++;
            breaker_open(lb, ep, now_ms);
        }
        break;
    case LB_OPEN:
        break; /* a request sent before it opened: not evidence either way */
    }
}

int lb_report(struct lb *lb, int idx, bool ok, int64_t latency_us, int64_t now_ms)
{
    if (!lb || idx < 0 || (size_t)idx >= lb->n || lb->eps[idx].in_flight <= 0)
        return GD_EINVAL;
    struct lb_ep *ep = &lb->eps[idx];
    ep->in_flight--;
    if (ok) {
        ep->successes++;
        ep->consecutive_failures = 0;
    } else {
        ep->failures++;
        ep->consecutive_failures++;
    }
    double sample = latency_us >= 0 ? (double)latency_us : -1.0;
    if (!ok && sample < lb->opts.ewma_fail_penalty_us)
        sample = lb->opts.ewma_fail_penalty_us; /* a fast error must not look like a fast server */
    if (sample >= 0)
        lb_ewma_observe(lb, ep, sample, now_ms);
    breaker_report(lb, ep, ok, now_ms);
    return GD_OK;
}

size_t lb_size(const struct lb *lb)
{
    return lb->n;
}

enum lb_policy lb_policy(const struct lb *lb)
{
    return lb->policy;
}

const char *lb_endpoint_name(const struct lb *lb, int idx)
{
    if (idx < 0 || (size_t)idx >= lb->n)
        return NULL;
    return lb->eps[idx].name;
}

int lb_stats(const struct lb *lb, int idx, int64_t now_ms, struct lb_stats *out)
{
    if (!lb || !out || idx < 0 || (size_t)idx >= lb->n)
        return GD_EINVAL;
    const struct lb_ep *ep = &lb->eps[idx];
    out->name = ep->name;
    out->weight = ep->weight;
    out->ramp_pct = ep->state == LB_CLOSED ? lb_ramp_permille(lb, (size_t)idx, now_ms) / 10 : 0;
    out->state = ep->state;
    if (ep->state == LB_OPEN && now_ms >= ep->open_until_ms)
        out->state = LB_HALF_OPEN; /* probe due */
    out->open_until_ms = ep->state == LB_CLOSED ? 0 : ep->open_until_ms;
    out->in_flight = ep->in_flight;
    out->ewma_us = (int64_t)(lb_ewma_read(lb, ep, now_ms) + 0.5);
    out->picks = ep->picks;
    out->successes = ep->successes;
    out->failures = ep->failures;
    out->consecutive_failures = ep->consecutive_failures;
    out->opens = ep->opens;
    return GD_OK;
}
