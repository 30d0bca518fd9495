/*
 * lb_leastconn.c - least connections: the candidate with the fewest
 * requests in flight; among equals, smooth weighted round robin (nginx's
 * least_conn: "if there are several such servers, they are tried in turn
 * using a weighted round-robin balancing method").  So ties go by weight and
 * then in turn: with equal weights and nothing in flight the order is
 * exactly a b c a b c, and with weights {2,1} a b a a b a.
 *
 * Slow start: a ramping endpoint's load counts as (in flight + 1) / ramp, so
 * at 10 % it looks ten times as busy as it is and is not flooded with
 * everything the others are not taking (the classic least-connections
 * thundering herd on a recovered server).  With no endpoint ramping this is
 * exactly "fewest in flight".
 *
 * State (owned here): the current weights of the tie-break.
 */
#include "lb_internal.h"

#include <stdlib.h>

static int leastconn_init(struct lb *lb)
{
    return (lb->policy_data = calloc(lb->n, sizeof(int64_t))) ? GD_OK : GD_ENOMEM;
}

static void leastconn_destroy(struct lb *lb)
{
    free(lb->policy_data);
}

/* Load (in flight + 1) / ramp as a fraction num/den, compared by cross-multiplying. */
static int64_t load_num(const struct lb *lb, size_t i)
{
    return (int64_t)lb->eps[i].in_flight + 1;
}

static int leastconn_select(struct lb *lb, const char *key, int64_t now_ms)
{
    int64_t *current = lb->policy_data;
    int64_t ramp[LB_MAX_ENDPOINTS];
    int least = -1;
    for (size_t i = 0; i < lb->n; i++) {
        if (!lb_eligible(lb, i))
            continue;
        ramp[i] = lb_ramp_permille(lb, i, now_ms);
        if (least < 0 || load_num(lb, i) * ramp[least] < load_num(lb, (size_t)least) * ramp[i])
            least = (int)i;
    }
    if (least < 0)
        return -1;
    /* Smooth weighted round robin among the candidates as lightly loaded as `least`. */
    int64_t total = 0;
    int best = -1;
    for (size_t i = 0; i < lb->n; i++) {
        if (!lb_eligible(lb, i) ||
            load_num(lb, i) * ramp[least] != load_num(lb, (size_t)least) * ramp[i])
            continue;
        int64_t w = lb_effective_weight(lb, i, now_ms);
        current[i] += w;
        total += w;
        if (best < 0 || current[i] > current[best])
            best = (int)i;
    }
    current[best] -= total;
    return best;
}

const struct lb_ops lb_leastconn_ops = {leastconn_init, leastconn_destroy, leastconn_select};
