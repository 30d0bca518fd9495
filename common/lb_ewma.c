/*
 * lb_ewma.c - least response time: the endpoint with the lowest
 *
 *     cost = peak-EWMA latency x (in flight + 1) / effective weight
 *
 * (Finagle's and Linkerd's "peak EWMA").  The EWMA math lives here too; lb.c
 * feeds it every report whatever the policy, so stats always show latency.
 *
 * Peak: a sample above the average replaces it at once, so an endpoint that
 * slows down loses traffic on its first slow answer.  Below the average, a
 * sample is folded in with weight max(1 - e^(-dt/tau), 1/16): time-based
 * like Finagle when reports are sparse, but a burst of reports within one
 * millisecond (dt = 0 at our clock resolution) still moves the average.
 * Reading decays the value towards 0 with the time since the last sample, so
 * an endpoint that stopped getting traffic because it was slow is tried
 * again after a while instead of being starved forever.
 *
 * The in-flight factor spreads concurrent requests: the fast endpoint is not
 * sent everything at once.  An endpoint without a sample yet costs the mean
 * of the sampled candidates (1 when none is sampled), so new or recovered
 * endpoints are tried without being flooded.  Ties go in turn from a cursor.
 * No state of its own beyond the cursor.
 */
#include "lb_internal.h"

#include <math.h>
#include <stdlib.h>

#define EWMA_MIN_ALPHA (1.0 / 16.0)

void lb_ewma_observe(const struct lb *lb, struct lb_ep *ep, double sample_us, int64_t now_ms)
{
    if (!ep->ewma_has_sample || sample_us > ep->ewma_us) {
        ep->ewma_us = sample_us;
    } else {
        double dt = (double)(now_ms - ep->ewma_at_ms);
        double alpha = dt > 0 ? 1.0 - exp(-dt / lb->opts.ewma_decay_ms) : 0.0;
        if (alpha < EWMA_MIN_ALPHA)
            alpha = EWMA_MIN_ALPHA;
        ep->ewma_us += alpha * (sample_us - ep->ewma_us);
    }
    ep->ewma_has_sample = true;
    ep->ewma_at_ms = now_ms;
}

double lb_ewma_read(const struct lb *lb, const struct lb_ep *ep, int64_t now_ms)
{
    if (!ep->ewma_has_sample)
        return 0.0;
    double dt = (double)(now_ms - ep->ewma_at_ms);
    if (dt <= 0)
        return ep->ewma_us;
    return ep->ewma_us * exp(-dt / lb->opts.ewma_decay_ms);
}

struct ewma_state {
    size_t cursor;
};

static int ewma_init(struct lb *lb)
{
    return (lb->policy_data = calloc(1, sizeof(struct ewma_state))) ? GD_OK : GD_ENOMEM;
}

static void ewma_destroy(struct lb *lb)
{
    free(lb->policy_data);
}

static int ewma_select(struct lb *lb, const char *key, int64_t now_ms)
{
    struct ewma_state *st = lb->policy_data;
    double lat[LB_MAX_ENDPOINTS], sum = 0;
    int sampled = 0;
    for (size_t i = 0; i < lb->n; i++) {
        lat[i] = lb_ewma_read(lb, &lb->eps[i], now_ms);
        if (lb_eligible(lb, i) && lb->eps[i].ewma_has_sample) {
            sum += lat[i];
            sampled++;
        }
    }
    double unsampled = sampled > 0 ? sum / sampled : 1.0;
    int best = -1;
    double best_cost = 0;
    for (size_t k = 0; k < lb->n; k++) {
        size_t i = (st->cursor + k) % lb->n;
        if (!lb_eligible(lb, i))
            continue;
        double l = lb->eps[i].ewma_has_sample ? lat[i] : unsampled;
        if (l < 1.0)
            l = 1.0; /* keeps the in-flight factor meaningful for a ~0 latency */
        double cost = l * (lb->eps[i].in_flight + 1) / (double)lb_effective_weight(lb, i, now_ms);
        if (best < 0 || cost < best_cost) {
            best = (int)i;
            best_cost = cost;
        }
    }
    if (best >= 0)
        st->cursor = ((size_t)best + 1) % lb->n;
    return best;
}

const struct lb_ops lb_ewma_ops = {ewma_init, ewma_destroy, ewma_select};
