/*
 * publisher.h - entry-api's broker side: one thread owning one AMQP
 * connection in confirm mode, fed by the event loop through a queue.
 *
 * rabbitmq-c is blocking and not thread-safe (PITFALLS), so the HTTP loop
 * never touches it: it submits a job and gets exactly one completion back,
 * on the loop thread, once the broker confirmed (result 0) or refused or the
 * deadline passed (negative code).  Heartbeats are off on this connection
 * (TCP keepalive instead) so a publish never blocks in the heartbeat path of
 * rabbitmq-c 0.11.
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

/* Start the thread.  Completions are delivered on base's loop. NULL on failure. */
struct publisher *pub_start(struct event_base *base, const struct pub_opts *o);
/* Queue a job (any time, loop thread).  Its done callback runs exactly once. */
void pub_submit(struct publisher *p, struct pub_job *job);
/* 1 while the broker connection is up and not blocked by a resource alarm. */
int pub_ready(const struct publisher *p);
/* Messages waiting for a confirm right now. */
long pub_in_flight(const struct publisher *p);
/*
 * Stop: stop taking jobs, wait for outstanding confirms (bounded by the
 * confirm deadline), fail what is left, join the thread.  The loop must run
 * afterwards once more for the last completions (pub_free runs them).
 */
void pub_stop(struct publisher *p);
/* Deliver any remaining completions and free; after pub_stop. */
void pub_free(struct publisher *p);

#endif
