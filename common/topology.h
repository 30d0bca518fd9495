/*
 * topology.h - the RabbitMQ topology of DESIGN §4, as data.  This table is
 * the one source of truth in code: rmq_declare_topology() declares it, and a
 * unit test proves deploy/rabbitmq/definitions.json holds exactly the same.
 */
#ifndef GD_TOPOLOGY_H
#define GD_TOPOLOGY_H

#include <stddef.h>

#define EX_ENTRY        "event.entry"
#define EX_WINNER       "event.winner"
#define EX_DLX          "event.dlx"
#define Q_STOCK         "stock.entries"
#define Q_STOCK_DLQ     "stock.entries.dlq"
#define Q_KAKAO         "notify.kakao"
#define Q_SMS           "notify.sms"
#define Q_NOTIFY_DLQ    "notify.dlq"
#define DLK_STOCK       "stock.entries" /* routing key of stock dead letters on event.dlx */
#define DLK_NOTIFY      "notify"        /* routing key of notify dead letters on event.dlx */
#define RK_ENTRY_PREFIX "event.entry."
#define Q_RETRY_1S      "notify.retry.1s"  /* delayed retries: exchange and queue share */
#define Q_RETRY_5S      "notify.retry.5s"  /* the name; each queue holds a message for */
#define Q_RETRY_30S     "notify.retry.30s" /* its TTL, then dead-letters it to event.winner */

struct topo_exchange {
    const char *name;
    const char *type; /* "topic", "direct" */
};

/* Queue arguments; 0/NULL members are not set. */
struct topo_queue {
    const char *name;
    const char *queue_type;   /* x-queue-type: "quorum" or "classic" */
    const char *dlx;          /* x-dead-letter-exchange */
    const char *dl_key;       /* x-dead-letter-routing-key */
    const char *dl_strategy;  /* x-dead-letter-strategy */
    const char *overflow;     /* x-overflow */
    long long delivery_limit; /* x-delivery-limit */
    long long max_length;     /* x-max-length */
    long long message_ttl;    /* x-message-ttl, ms */
};

struct topo_binding {
    const char *exchange;
    const char *queue;
    const char *key;
};

/* A delayed-retry tier: publish to exchange `name` with the original routing
 * key (kakao/sms); the message comes back on event.winner after ttl_ms. */
struct topo_retry_tier {
    const char *name;
    long long ttl_ms;
};

extern const struct topo_exchange topo_exchanges[];
extern const size_t topo_exchange_count;
extern const struct topo_queue topo_queues[];
extern const size_t topo_queue_count;
extern const struct topo_binding topo_bindings[];
extern const size_t topo_binding_count;
extern const struct topo_retry_tier topo_retry_tiers[]; /* shortest first */
extern const size_t topo_retry_tier_count;

#endif
