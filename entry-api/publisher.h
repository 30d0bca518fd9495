/*
 * publisher.h - entry-api's broker side: one AMQP connection in confirm
 * mode per worker, driven from the worker's event loop.
 *
 * The loop submits a job and gets exactly one completion back, on the loop,
 * once the broker confirmed (result 0) or refused, or the deadline passed
 * (negative code).  Publishing never blocks the loop: frames are buffered
 * and written without blocking (common/rmq.c), and the blocking connect of
 * rabbitmq-c runs on a helper thread.  Heartbeats are off on this
 * connection (TCP keepalive instead): rabbitmq-c then never writes on it by
 * itself, so our buffered frames are the only writes.
 */
#ifndef GD_PUBLISHER_H
#define GD_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct publisher;

struct pub_job;
typedef void (*pub_done_fn)(struct pub_job *job, void *arg);

/* One message to publish.  Owned by the submitter; must stay alive until done runs. */
struct pub_job {
    struct pub_job *next; /* queue link, publisher-private */
    uint64_t tag;         /* publisher-private */
    int64_t deadline_ms;  /* publisher-private */
    int returned;         /* publisher-private */
    char routing_key[64];
    char message_id[40];
    char traceparent[64];
    long long event_id;
    char *body; /* owned by the submitter */
    size_t len;
    int result; /* 0 = confirmed; else GD_EAMQP_* / GD_ETIMEOUT */
    pub_done_fn done;
    void *arg;
};

struct pub_opts {
    const char *amqp_url;
    const char *instance;
    int confirm_timeout_ms;
};

/* Start connecting.  Completions are delivered on base's loop. NULL on failure. */
struct publisher *pub_start(struct event_base *base, const struct pub_opts *o);
/* Queue a job (any time, loop thread).  Its done callback runs exactly once. */
void pub_submit(struct publisher *p, struct pub_job *job);
/* 1 while the broker connection is up and not blocked by a resource alarm. */
int pub_ready(const struct publisher *p);
/* Messages waiting for a confirm right now. */
long pub_in_flight(const struct publisher *p);
/*
 * Stop, with the loop not dispatching: stop taking jobs, turn the loop
 * until the outstanding confirms are in (bounded by the confirm deadline),
 * fail what is left, close, join the connect thread.  pub_free runs the
 * last completions.
 */
void pub_stop(struct publisher *p);
/* Deliver any remaining completions and free; after pub_stop. */
void pub_free(struct publisher *p);

#endif
