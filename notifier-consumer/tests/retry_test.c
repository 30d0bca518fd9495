/*
 * retry_test - the retry schedule (notifier-consumer/retry.c): growing
 * delays, the last one repeating, Retry-After only ever lengthening a
 * delay, and every answer a retry queue of the topology.
 */
#include <string.h>

#include "retry.h"
#include "test.h"
#include "topology.h"

TEST(default_schedule_grows)
{
    struct retry_schedule s;
    retry_schedule_parse(&s, "1,5,30");
    CHECK_INT(s.n, 3);
    CHECK_STR(retry_tier(&s, 1, -1), "notify.retry.1s");
    CHECK_STR(retry_tier(&s, 2, -1), "notify.retry.5s");
    CHECK_STR(retry_tier(&s, 3, -1), "notify.retry.30s");
    CHECK_STR(retry_tier(&s, 9, -1), "notify.retry.30s"); /* the last repeats */
    CHECK_STR(retry_tier(&s, 0, -1), "notify.retry.1s");
}

TEST(retry_after_lengthens_only)
{
    struct retry_schedule s;
    retry_schedule_parse(&s, "1,5,30");
    CHECK_STR(retry_tier(&s, 1, 2), "notify.retry.5s"); /* rounded up to a tier */
    CHECK_STR(retry_tier(&s, 1, 5), "notify.retry.5s");
    CHECK_STR(retry_tier(&s, 3, 1), "notify.retry.30s");   /* never shorter */
    CHECK_STR(retry_tier(&s, 1, 600), "notify.retry.30s"); /* the longest there is */
    CHECK_STR(retry_tier(&s, 1, 0), "notify.retry.1s");
}

TEST(odd_schedules)
{
    struct retry_schedule s;
    retry_schedule_parse(&s, "");
    CHECK_INT(s.n, 1);
    CHECK_STR(retry_tier(&s, 4, -1), "notify.retry.1s");
    retry_schedule_parse(&s, "30,1");
    CHECK_STR(retry_tier(&s, 1, -1), "notify.retry.30s");
    CHECK_STR(retry_tier(&s, 2, -1), "notify.retry.1s");
}

TEST(tiers_are_topology_queues)
{
    for (size_t t = 0; t < topo_retry_tier_count; t++) {
        int queue = 0, exchange = 0;
        for (size_t i = 0; i < topo_queue_count; i++)
            queue += strcmp(topo_queues[i].name, topo_retry_tiers[t].name) == 0 &&
                     topo_queues[i].message_ttl == topo_retry_tiers[t].ttl_ms &&
                     strcmp(topo_queues[i].dlx, EX_WINNER) == 0 && topo_queues[i].dl_key == NULL;
        for (size_t i = 0; i < topo_exchange_count; i++)
            exchange += strcmp(topo_exchanges[i].name, topo_retry_tiers[t].name) == 0 &&
                        strcmp(topo_exchanges[i].type, "fanout") == 0;
        CHECK_INT(queue, 1);
        CHECK_INT(exchange, 1);
        if (t > 0)
            CHECK(topo_retry_tiers[t].ttl_ms > topo_retry_tiers[t - 1].ttl_ms);
    }
}

int main(void)
{
    RUN(default_schedule_grows);
    RUN(retry_after_lengthens_only);
    RUN(odd_schedules);
    RUN(tiers_are_topology_queues);
    return TEST_DONE();
}
