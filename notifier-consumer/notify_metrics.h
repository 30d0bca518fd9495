/*
 * notify_metrics.h - notifier-consumer's /metrics (METRICS_ADDR), served on
 * the notifier's own event loop (common/metrics_http.h), so rendering reads
 * the loop's state directly: the counters of struct notifier_stats, the
 * jobs under way, the balancers' breakers (lb_stats), and what this file
 * adds: provider sends by API, endpoint and outcome, and their latency.
 */
#ifndef GD_NOTIFY_METRICS_H
#define GD_NOTIFY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "prom.h"
#include "provider.h"

struct endpoint_set;
struct evbuffer;

/* The outcomes a send can have: every provider_outcome before OUT_NOT_FOUND
 * (which only lookups and queries answer). */
#define NOTIFY_SEND_OUTCOMES OUT_NOT_FOUND

struct notify_metrics {
    size_t n_ep[2];          /* endpoints of [API_ALIMTALK], [API_SMS] */
    prom_counter *sends[2];  /* [endpoint * NOTIFY_SEND_OUTCOMES + outcome] */
    struct prom_hist lat[2]; /* send latency, by API */
};

/* Size the counters for es's endpoints.  0 or GD_ENOMEM (then free it anyway). */
int notify_metrics_init(struct notify_metrics *m, const struct endpoint_set *es);
void notify_metrics_free(struct notify_metrics *m);
/* One provider send finished with outcome o after latency_us (< 0: unknown). */
void notify_metrics_send(struct notify_metrics *m, enum provider_api api, int ep,
                         enum provider_outcome o, int64_t latency_us);
/* A metrics_render_fn: arg is the struct notifier (loop thread only). */
void notify_metrics_render(struct evbuffer *out, void *arg);

#endif
