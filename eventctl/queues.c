/* The topology's queues for eventctl: statistics plus live counts (queues.h). */
#include "queues.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "rmq.h"
#include "topology.h"

static int is_dead_letter_queue(const char *name)
{
    size_t n = strlen(name);
    return n >= 4 && strcmp(name + n - 4, ".dlq") == 0;
}

/* Ready and consumers from each queue (passive declare); how many answered.
 * A queue the broker does not know closes the channel: the next queue gets
 * a new connection. */
static size_t read_live(struct ctl *c, struct queue_report *qr)
{
    struct rmq_conn rc;
    struct rmq_opts o;
    size_t live = 0;
    ctl_rmq_opts(c, &o, "queue-counts");
    memset(&rc, 0, sizeof(rc));
    for (size_t i = 0; i < qr->n; i++) {
        long ready, consumers;
        if (!rc.open && rmq_connect(&rc, &o) != GD_OK)
            break;
        if (rmq_queue_counts(&rc, qr->q[i].name, &ready, &consumers) == GD_OK) {
            qr->q[i].ready = ready;
            qr->q[i].consumers = consumers;
            qr->q[i].found = qr->q[i].live = 1;
            live++;
        }
        if (rc.broken)
            rmq_close(&rc);
    }
    if (live < qr->n)
        snprintf(qr->live_err, sizeof(qr->live_err), "%s",
                 rc.err[0] ? rc.err : "a queue did not answer");
    rmq_close(&rc);
    return live;
}

void queues_read(struct ctl *c, struct queue_report *qr)
{
    memset(qr, 0, sizeof(*qr));
    for (size_t i = 0; i < topo_queue_count && qr->n < QUEUES_MAX; i++)
        snprintf(qr->q[qr->n++].name, sizeof(qr->q[0].name), "%s", topo_queues[i].name);
    qr->ok = mgmt_queue_depths(c->cfg, qr->q, qr->n, qr->err, sizeof(qr->err)) == 0;
    if (!qr->ok)
        return;
    qr->live = read_live(c, qr);
    for (size_t i = 0; i < qr->n; i++)
        if (!is_dead_letter_queue(qr->q[i].name))
            qr->work += qr->q[i].ready + qr->q[i].unacked;
}

void queues_print_source(const struct queue_report *qr, const char *indent)
{
    if (!qr->ok)
        return;
    if (qr->live == qr->n)
        printf("%s(ready and consumers: now, from each queue; unacked: management API "
               "statistics, up to 5 s old)\n",
               indent);
    else
        printf("%s(marked \"stats\": management API statistics, up to 5 s old; live counts "
               "failed: %s)\n",
               indent, qr->live_err);
}
