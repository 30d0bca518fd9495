/*
 * mgmt_api.h - the RabbitMQ management HTTP API, for eventctl: queue depths
 * of the topology's queues (dlq list, status, reconcile).
 *
 * Where it is: RABBITMQ_MGMT_URL (default http://<AMQP host>:15672), with
 * RABBITMQ_MGMT_USER / RABBITMQ_MGMT_PASSWORD (default: AMQP_URL's user and
 * password).  `deploy/local/stack env` exports all three.  Every request is
 * bounded (5 s).
 */
#ifndef GD_MGMT_API_H
#define GD_MGMT_API_H

#include <stddef.h>

#include "config.h"

struct mgmt_queue {
    char name[128];
    long ready;     /* messages_ready */
    long unacked;   /* messages_unacknowledged */
    long consumers; /* consumers */
    int found;      /* the queue exists */
    int live;       /* ready and consumers are the queue's own (AMQP), not statistics */
};

/*
 * Fill q[i].ready/unacked/consumers/found for each q[i].name (vhost "/").
 * 0, or -1 with the reason in err (broker unreachable, 401, bad JSON).
 */
int mgmt_queue_depths(const struct gd_config *cfg, struct mgmt_queue *q, size_t n, char *err,
                      size_t err_len);

#endif
