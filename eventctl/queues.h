/*
 * queues.h - the topology's queues as eventctl shows them (status,
 * reconcile, dlq list): messages ready and unacked, and consumers.
 *
 * Two sources, because neither has it all: the management API's statistics
 * have every figure but lag the broker by their collection interval (5 s by
 * default: a consumer attached a second ago shows as 0), and each queue
 * answers a passive queue.declare with its ready messages and its consumers
 * as they are now.  So ready and consumers come from the queues, unacked
 * from the statistics, and every output says which figures are which.
 */
#ifndef GD_EVENTCTL_QUEUES_H
#define GD_EVENTCTL_QUEUES_H

#include <stddef.h>

#include "ctl.h"
#include "mgmt_api.h"

#define QUEUES_MAX 32

struct queue_report {
    struct mgmt_queue q[QUEUES_MAX]; /* in the order of topology.c */
    size_t n;
    int ok;             /* the management API answered; without it nothing is shown */
    size_t live;        /* queues whose ready and consumers came from the queue itself */
    long work;          /* ready + unacked in the work queues (every queue but the .dlq ones) */
    char err[256];      /* why the management API did not answer */
    char live_err[256]; /* why some queue gave no live figures */
};

/* Read every queue of the topology into qr (overwritten). */
void queues_read(struct ctl *c, struct queue_report *qr);

/* One line, after a queue table: where its figures come from. */
void queues_print_source(const struct queue_report *qr, const char *indent);

#endif
