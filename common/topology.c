#include "topology.h"

const struct topo_exchange topo_exchanges[] = {
    {EX_ENTRY, "topic"},
    {EX_WINNER, "direct"},
    {EX_DLX, "direct"},
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
};
const size_t topo_queue_count = sizeof(topo_queues) / sizeof(topo_queues[0]);

const struct topo_binding topo_bindings[] = {
    {EX_ENTRY, Q_STOCK, "event.entry.*"},
    {EX_WINNER, Q_KAKAO, "kakao"},
    {EX_WINNER, Q_SMS, "sms"},
    {EX_DLX, Q_STOCK_DLQ, DLK_STOCK},
    {EX_DLX, Q_NOTIFY_DLQ, DLK_NOTIFY},
};
const size_t topo_binding_count = sizeof(topo_bindings) / sizeof(topo_bindings[0]);
