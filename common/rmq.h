/*
 * rmq.h - giftdrop's AMQP layer over rabbitmq-c 0.11.
 *
 * One struct rmq_conn is one TCP connection with one channel (1); it is not
 * thread-safe (rabbitmq-c is not): one per thread.  Every RPC is bounded by
 * the connect timeout.  No automatic recovery: on any error the connection
 * is marked broken, the caller closes it and reconnects with backoff, and
 * redoes qos/confirm/consume.  Delivery and confirm tags of a closed
 * connection mean nothing on the next one.
 *
 * Publisher confirms: after rmq_confirm_select(), each rmq_publish() gets the
 * next tag (1, 2, ...); rmq_pump() reads the broker's acks/nacks/returns and
 * reports each tag exactly once through the handler, expanding `multiple`.
 * A basic.return (unroutable with mandatory) arrives before the ack of the
 * same message and is reported by message_id.
 */
#ifndef GD_RMQ_H
#define GD_RMQ_H

#include <stddef.h>
#include <stdint.h>

#include <amqp.h>

struct rmq_opts {
    const char *url;      /* amqp://user:pass@host:port[/vhost] */
    const char *service;  /* "entry-api": connection_name is service@instance:pid */
    const char *instance; /* host or instance name */
    const char *role;     /* optional suffix, e.g. "publish" / "consume" */
    int heartbeat_s;      /* 0: off (publishers use TCP keepalive instead) */
    int timeout_ms;       /* connect, login and every RPC */
};

struct rmq_conn {
    amqp_connection_state_t st;
    int open;       /* socket and channel usable */
    int broken;     /* an error happened: close and reconnect */
    int blocked;    /* connection.blocked received (resource alarm) */
    int confirming; /* confirm.select done */
    uint64_t next_tag;
    /* confirm window: state of tags [win_base, next_tag] */
    uint64_t win_base;
    uint8_t *win;
    size_t win_cap;
    uint64_t win_low; /* lowest tag not yet confirmed */
    char name[160];   /* connection_name */
    char err[256];    /* last error, for logs */
    int tls;          /* amqps: frames go through rabbitmq-c's TLS socket */
    /* Frames of rmq_publish_buffered() not written yet: out[out_off, out_len). */
    unsigned char *out;
    size_t out_off, out_len, out_cap;
};

/* Message properties; NULL/0 members are left out. */
struct rmq_props {
    const char *message_id;
    const char *type;
    const char *app_id;
    int64_t timestamp_s;
    long long event_id;      /* header x-event-id */
    const char *traceparent; /* header traceparent */
    const char *reason;      /* header x-reason (dead letters) */
};

/* One delivery; owned by the caller until rmq_delivery_free(). */
struct rmq_delivery {
    amqp_envelope_t env;
    uint64_t tag;
    int redelivered;
    const char *body;
    size_t len;
    char message_id[64];
    char routing_key[128];
    char exchange[64];
    char traceparent[64];
    long long event_id;  /* from x-event-id, 0 if absent */
    long delivery_count; /* quorum queues' x-delivery-count, 0 if absent */
    long attempt;        /* x-attempt set by whoever republished it for a retry, 0 if absent */
};

/* Called once per confirmed tag: ok=1 for ack, 0 for nack. */
struct rmq_confirm_handler {
    void (*on_confirm)(void *arg, uint64_t tag, int ok);
    void (*on_return)(void *arg, const char *message_id);
    void *arg;
};

/* Connect, log in with connection_name, open channel 1.  0 or GD_EAMQP_CONNECT / GD_ECONFIG. */
int rmq_connect(struct rmq_conn *c, const struct rmq_opts *o);
/* Close politely if possible and free everything; safe on a closed/broken conn. */
void rmq_close(struct rmq_conn *c);

/* Declare every exchange, queue and binding of topology.c (idempotent). */
int rmq_declare_topology(struct rmq_conn *c);

int rmq_confirm_select(struct rmq_conn *c);
/*
 * Publish persistent JSON (delivery_mode 2, content_type application/json).
 * In confirm mode *tag receives the message's confirm tag.  0 means written
 * to the socket, nothing more; GD_EAMQP_CLOSED when the connection failed.
 */
int rmq_publish(struct rmq_conn *c, const char *exchange, const char *routing_key, int mandatory,
                const struct rmq_props *p, const void *body, size_t len, uint64_t *tag);
/*
 * rmq_publish() plus the header x-attempt = attempt (> 0): a message
 * republished for a delayed retry carries how many attempts were made, so
 * the consumer can tell a retry from a first delivery.
 */
int rmq_publish_retry(struct rmq_conn *c, const char *exchange, const char *routing_key,
                      const struct rmq_props *p, long attempt, const void *body, size_t len,
                      uint64_t *tag);
/*
 * rmq_publish() without I/O: the method, header and body frames are encoded
 * onto the connection's output buffer and written by rmq_flush(), so a batch
 * of publishes goes out in one send() and nothing ever waits for a broker
 * that stopped reading (amqp_basic_publish waits for a writable socket
 * without a deadline: PITFALLS).  The tag is assigned here.  On an amqps
 * connection the frames cannot bypass TLS: this publishes at once through
 * rabbitmq-c, and only when the socket's send buffer is at most half full
 * (so the write cannot wait); else GD_EAMQP_BLOCKED, the broker is not
 * reading.  Do not mix with rmq_publish() while rmq_pending().
 */
int rmq_publish_buffered(struct rmq_conn *c, const char *exchange, const char *routing_key,
                         int mandatory, const struct rmq_props *p, const void *body, size_t len,
                         uint64_t *tag);
/*
 * Write buffered frames without blocking: the number of bytes still waiting
 * (poll for POLLOUT and call again), or GD_EAMQP_CLOSED.
 */
long rmq_flush(struct rmq_conn *c);
/* Bytes buffered by rmq_publish_buffered() and not written yet. */
size_t rmq_pending(const struct rmq_conn *c);
/*
 * Read confirms for up to timeout_ms (0: only what is already there), calling
 * h for each.  Returns the number of frames handled, or a negative code when
 * the connection or channel failed.
 */
int rmq_pump(struct rmq_conn *c, int timeout_ms, const struct rmq_confirm_handler *h);
/* Tags published but not confirmed yet. */
uint64_t rmq_unconfirmed(const struct rmq_conn *c);
/*
 * Wait until every published message is confirmed.  0 when all were acked
 * and none returned; GD_EAMQP_NACK / GD_EAMQP_RETURNED if any was refused;
 * GD_ETIMEOUT; or a connection error.
 */
int rmq_wait_confirms(struct rmq_conn *c, int timeout_ms);

int rmq_qos(struct rmq_conn *c, int prefetch);
/*
 * Messages ready in queue and its consumers, from the queue itself (a
 * passive queue.declare): current, unlike the management API's statistics,
 * which lag by their collection interval.  GD_ENOTFOUND when the queue does
 * not exist (the broker then closed the channel: c is broken, reconnect).
 */
int rmq_queue_counts(struct rmq_conn *c, const char *queue, long *ready, long *consumers);
int rmq_consume(struct rmq_conn *c, const char *queue, const char *consumer_tag);
/* Next delivery within timeout_ms: 0, GD_ETIMEOUT, or a connection error. */
int rmq_next(struct rmq_conn *c, int timeout_ms, struct rmq_delivery *d);
void rmq_delivery_free(struct rmq_delivery *d);
int rmq_ack(struct rmq_conn *c, uint64_t tag, int multiple);
/* Reject one delivery; requeue=0 dead-letters it through the queue's DLX. */
int rmq_reject(struct rmq_conn *c, uint64_t tag, int requeue);

/* Connect, declare the topology, enter confirm mode: a publishing connection. */
int rmq_open_publisher(struct rmq_conn *c, const struct rmq_opts *o);
/*
 * Connect, declare the topology, set per-consumer prefetch and consume each
 * queue with consumer tag "<service>@<instance>:<pid>/<queue>".
 */
int rmq_open_consumer(struct rmq_conn *c, const struct rmq_opts *o, int prefetch,
                      const char *const *queues, int nqueues);

/* Socket of the connection, for poll(); -1 when closed. */
int rmq_fd(const struct rmq_conn *c);
/* 1 when rabbitmq-c holds frames or bytes not yet handled (poll would miss them). */
int rmq_buffered(const struct rmq_conn *c);

#endif
