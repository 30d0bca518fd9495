/*
 * lb_rr.c - plain round robin: each closed endpoint in turn, in list order,
 * weights ignored.  Exact order: with a, b, c all closed, a b c a b c ...;
 * with b open, a c a c ...
 *
 * Slow start without weights: an endpoint ramping up at r per mille earns r
 * credit each time its turn comes and is taken only when the credit reaches
 * a whole turn, so it gets about r/1000 of a full endpoint's turns
 * (deterministically, no randomness).  When every candidate is ramping and
 * none has a whole turn yet, the first candidate is taken anyway: refusing
 * service to protect a recovering endpoint from... nothing else is pointless.
 *
 * State (owned here): the cursor and the per-endpoint credits.
 */
#include "lb_internal.h"

#include <stdlib.h>

struct rr_state {
    size_t cursor;
    int credit[LB_MAX_ENDPOINTS];
};

static int rr_init(struct lb *lb)
{
    return (lb->policy_data = calloc(1, sizeof(struct rr_state))) ? GD_OK : GD_ENOMEM;
}

static void rr_destroy(struct lb *lb)
{
    free(lb->policy_data);
}

static int rr_select(struct lb *lb, const char *key, int64_t now_ms)
{
    struct rr_state *st = lb->policy_data;
    int first = -1;
    for (size_t k = 0; k < lb->n; k++) {
        size_t i = (st->cursor + k) % lb->n;
        if (!lb_eligible(lb, i))
            continue;
        if (first < 0)
            first = (int)i;
        int ramp = lb_ramp_permille(lb, i, now_ms);
        if (ramp >= LB_PERMILLE) {
            st->credit[i] = 0;
            st->cursor = (i + 1) % lb->n;
            return (int)i;
        }
        st->credit[i] += ramp;
        if (st->credit[i] >= LB_PERMILLE) {
            st->credit[i] -= LB_PERMILLE;
            st->cursor = (i + 1) % lb->n;
            return (int)i;
        }
    }
    if (first >= 0)
        st->cursor = ((size_t)first + 1) % lb->n;
    return first;
}

const struct lb_ops lb_rr_ops = {rr_init, rr_destroy, rr_select};
