#include "topology.h"

const struct topo_exchange topo_exchanges[] = {
    {EX_ENTRY, "topic"},    {EX_WINNER, "direct"},  {EX_DLX, "direct"},
    {Q_RETRY_1S, "fanout"}, {Q_RETRY_5S, "fanout"}, {Q_RETRY_30S, "fanout"},
};
const size_t topo_exchange_count = sizeof(topo_exchanges) / sizeof(topo_exchanges[0]);

/*
 * Work queues are quorum queues (replicated, durable) with a delivery limit,
 * so a message that keeps crashing its consumer is dead-lettered instead of
 * looping; at-least-once dead-lettering needs reject-publish overflow, which
 * also makes an overloaded queue push back on publishers (entry-api answers
 * 503) instead of dropping the first comers.
 */
const struct topo_queue topo_queues[] = {
    {Q_STOCK, "quorum", EX_DLX, DLK_STOCK, "at-least-once", "reject-publish", 5, 2000000, 0},
    {Q_KAKAO, "quorum", EX_DLX, DLK_NOTIFY, "at-least-once", "reject-publish", 10, 1000000, 0},
    {Q_SMS, "quorum", EX_DLX, DLK_NOTIFY, "at-least-once", "reject-publish", 10, 1000000, 0},
    {Q_STOCK_DLQ, "quorum", 0, 0, 0, 0, 0, 0, 0},
    {Q_NOTIFY_DLQ, "quorum", 0, 0, 0, 0, 0, 0, 0},
    /*
     * Delayed retries of notifications.  Nobody consumes them: a message
     * waits its TTL, then is dead-lettered to event.winner.  With no
     * x-dead-letter-routing-key RabbitMQ keeps the message's own routing key,
     * which is why each tier has a fanout exchange of its own: the notifier
     * publishes there with the original key (kakao/sms) and the message
     * returns to the queue it came from.  Quorum queues (message TTL since
     * 3.10) so that dead-lettering is at-least-once: a retry is never
     * dropped on the way back, even when notify.* is full.
     */
    {Q_RETRY_1S, "quorum", EX_WINNER, 0, "at-least-once", "reject-publish", 10, 1000000, 1000},
    {Q_RETRY_5S, "quorum", EX_WINNER, 0, "at-least-once", "reject-publish", 10, 1000000, 5000},
    {Q_RETRY_30S, "quorum", EX_WINNER, 0, "at-least-once", "reject-publish", 10, 1000000, 30000},
};
const size_t topo_queue_count = sizeof(topo_queues) / sizeof(topo_queues[0]);

const struct topo_binding topo_bindings[] = {
    {EX_ENTRY, Q_STOCK, "event.entry.*"},
    {EX_WINNER, Q_KAKAO, "kakao"},
    {EX_WINNER, Q_SMS, "sms"},
    {EX_DLX, Q_STOCK_DLQ, DLK_STOCK},
    {EX_DLX, Q_NOTIFY_DLQ, DLK_NOTIFY},
    {Q_RETRY_1S, Q_RETRY_1S, ""},
    {Q_RETRY_5S, Q_RETRY_5S, ""},
    {Q_RETRY_30S, Q_RETRY_30S, ""},
};
const size_t topo_binding_count = sizeof(topo_bindings) / sizeof(topo_bindings[0]);

const struct topo_retry_tier topo_retry_tiers[] = {
    {Q_RETRY_1S, 1000},
    {Q_RETRY_5S, 5000},
    {Q_RETRY_30S, 30000},
};
const size_t topo_retry_tier_count = sizeof(topo_retry_tiers) / sizeof(topo_retry_tiers[0]);
