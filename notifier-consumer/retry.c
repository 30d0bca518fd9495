/*
 * retry.c - the retry schedule (see retry.h).
 */
#include "retry.h"

#include <stdlib.h>

#include "topology.h"

void retry_schedule_parse(struct retry_schedule *s, const char *text)
{
    const char *p = text ? text : "";
    s->n = 0;
    while (*p && s->n < RETRY_SCHEDULE_MAX) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 0)
            break;
        s->delay_s[s->n++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    if (s->n == 0)
        s->delay_s[s->n++] = topo_retry_tiers[0].ttl_ms / 1000;
}

const char *retry_tier(const struct retry_schedule *s, int attempt, long retry_after_s)
{
    int i = attempt < 1 ? 0 : attempt - 1 < s->n ? attempt - 1 : s->n - 1;
    long long want = s->delay_s[i] * 1000LL;
    if (retry_after_s > 0 && retry_after_s * 1000LL > want)
        want = retry_after_s * 1000LL;
    for (size_t t = 0; t < topo_retry_tier_count; t++)
        if (topo_retry_tiers[t].ttl_ms >= want)
            return topo_retry_tiers[t].name;
    return topo_retry_tiers[topo_retry_tier_count - 1].name;
}
