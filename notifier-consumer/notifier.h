/*
 * notifier.h - the state of one notifier-consumer process, shared by run.c
 * (wiring, start, stop) and job.c (one winner's way through ledger,
 * provider and broker).  Everything here lives on the event loop thread;
 * only the ledger pool has threads of its own.
 */
#ifndef GD_NOTIFIER_H
#define GD_NOTIFIER_H

#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "consume.h"
#include "endpoints.h"
#include "http.h"
#include "ledger_pool.h"
#include "notify_metrics.h"
#include "republish.h"
#include "retry.h"

struct job;
struct metrics_http;

/* Counters, logged every 10 s and at the end. */
struct notifier_stats {
    long started, sent, failed, duplicates, no_coupon, retried, delayed, busy, fallbacks, resolved,
        uncertain, poison, released;
    long returned; /* deliveries back from a retry queue (x-attempt set) */
    long held;     /* times a winner waited for an endpoint to take traffic */
};

struct notifier {
    const struct gd_config *cfg;
    struct event_base *base;
    struct consumer in;
    struct republisher out;
    struct http_client *http;
    struct ledger_pool *ledger;
    struct endpoint_set eps;
    struct job *active;                /* jobs under way, doubly linked */
    struct job *parked;                /* duplicates waiting for their twin to end */
    struct job *wait_head, *wait_tail; /* waiting for a provider request slot */
    int http_busy;                     /* provider requests in flight (<= NOTIFY_CONCURRENCY) */
    struct job *blocked_head, *blocked_tail; /* waiting for an endpoint to take traffic */
    int n_blocked;
    int n_active;
    int stopping;                /* SIGTERM: no new jobs; finish the others */
    struct retry_schedule retry; /* NOTIFY_RETRY_SCHEDULE */
    struct notifier_stats st;
    struct notify_metrics met;    /* sends by endpoint and outcome, latency */
    struct metrics_http *metrics; /* METRICS_ADDR server on base, or NULL */
};

/* A delivery arrived (consume.c's callback): d becomes the job's. */
void job_on_delivery(struct rmq_delivery *d, uint64_t gen, void *arg);
/* A ledger op finished (ledger_pool's callback). */
void job_on_ledger(struct ledger_op *op, void *arg);
/* Stopping: parked jobs are dropped unacked (the broker gets them back
 * when the connection closes). */
void job_release_parked(struct notifier *nf);
/* Every tick: let winners waiting for an endpoint go when one can take
 * traffic again (one per due probe while the breakers are open). */
void job_check_blocked(struct notifier *nf);
/* Stopping: winners waiting for an endpoint are dropped unacked. */
void job_release_blocked(struct notifier *nf);
/* Teardown: free whatever jobs remain (their deliveries return to the
 * queues when the connection closes). */
void job_free_all(struct notifier *nf);

#endif
