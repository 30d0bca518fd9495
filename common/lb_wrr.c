/*
 * lb_wrr.c - smooth weighted round robin, nginx's algorithm
 * (ngx_http_upstream_get_peer): on each pick every candidate's current
 * weight grows by its effective weight, the largest current weight wins
 * (first in list order on a tie) and is lowered by the sum of the effective
 * weights.  Over any sum-of-weights consecutive picks each endpoint gets
 * exactly its weight, and picks are spread out: {5,1,1} gives
 * a a b a c a a, not a a a a a b c.
 *
 * Effective weight = weight x slow-start ramp (in thousandths), so a
 * recovering endpoint's share grows smoothly; with no ramp the sequence is
 * exactly nginx's.  Open endpoints are not candidates and keep their current
 * weight, as in nginx.
 *
 * State (owned here): the current weights.
 */
#include "lb_internal.h"

#include <stdlib.h>

static int wrr_init(struct lb *lb)
{
    return (lb->policy_data = calloc(lb->n, sizeof(int64_t))) ? GD_OK : GD_ENOMEM;
}

static void wrr_destroy(struct lb *lb)
{
    free(lb->policy_data);
}

static int wrr_select(struct lb *lb, const char *key, int64_t now_ms)
{
    int64_t *current = lb->policy_data;
    int64_t total = 0;
    int best = -1;
    for (size_t i = 0; i < lb->n; i++) {
        if (!lb_eligible(lb, i))
            continue;
        int64_t w = lb_effective_weight(lb, i, now_ms);
        current[i] += w;
        total += w;
        if (best < 0 || current[i] > current[best])
            best = (int)i;
    }
    if (best >= 0)
        current[best] -= total;
    return best;
}

const struct lb_ops lb_wrr_ops = {wrr_init, wrr_destroy, wrr_select};
