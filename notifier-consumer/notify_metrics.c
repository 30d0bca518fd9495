/*
 * notify_metrics.c - notifier-consumer's counters and their Prometheus text
 * (notify_metrics.h).  Everything here runs on the loop thread.
 */
#include "notify_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoints.h"
#include "errors.h"
#include "notifier.h"
#include "timeutil.h"

/* A send answered from memory takes a millisecond; a stuck one, up to
 * PROVIDER_TIMEOUT_MS (5 s by default). */
static const int64_t lat_bounds_us[] = {1000,   2500,   5000,    10000,   25000,   50000,   100000,
                                        250000, 500000, 1000000, 2500000, 5000000, 10000000};

int notify_metrics_init(struct notify_metrics *m, const struct endpoint_set *es)
{
    memset(m, 0, sizeof(*m));
    for (int api = 0; api < 2; api++) {
        prom_hist_init(&m->lat[api], lat_bounds_us,
                       (int)(sizeof(lat_bounds_us) / sizeof(lat_bounds_us[0])));
        m->n_ep[api] = lb_size(es->lb[api]);
        m->sends[api] = calloc(m->n_ep[api] * NOTIFY_SEND_OUTCOMES, sizeof(prom_counter));
        if (!m->sends[api])
            return GD_ENOMEM;
    }
    return GD_OK;
}

void notify_metrics_free(struct notify_metrics *m)
{
    for (int api = 0; api < 2; api++) {
        free(m->sends[api]);
        m->sends[api] = NULL;
    }
}

void notify_metrics_send(struct notify_metrics *m, enum provider_api api, int ep,
                         enum provider_outcome o, int64_t latency_us)
{
    if (ep < 0 || (size_t)ep >= m->n_ep[api] || o >= NOTIFY_SEND_OUTCOMES)
        return;
    prom_inc(&m->sends[api][(size_t)ep * NOTIFY_SEND_OUTCOMES + o]);
    if (latency_us >= 0)
        prom_hist_observe(&m->lat[api], latency_us);
}

/* One row per counter of struct notifier_stats that is a family of its own. */
struct stat_row {
    const char *name, *help;
    size_t off;
};

#define ST(f) offsetof(struct notifier_stats, f)
static const struct stat_row stat_rows[] = {
    {"giftdrop_notify_started_total",
     "Winners taken up (returns from the retry queues and redeliveries included).", ST(started)},
    {"giftdrop_notify_retries_total", "Winners sent round a retry queue after a transient failure.",
     ST(retried)},
    {"giftdrop_notify_returned_total", "Winners back from a retry queue.", ST(returned)},
    {"giftdrop_notify_fallbacks_total",
     "AlimTalk refusals (not a KakaoTalk user) answered by an SMS instead.", ST(fallbacks)},
    {"giftdrop_notify_delayed_total",
     "Winners put off without spending an attempt (another notifier was sending).", ST(delayed)},
    {"giftdrop_notify_uncertain_total", "Sends answered \"result unknown\", then queried.",
     ST(uncertain)},
    {"giftdrop_notify_resolved_total",
     "Earlier requests of uncertain outcome looked up before sending again.", ST(resolved)},
    {"giftdrop_notify_pool_exhausted_total", "Winners failed because the coupon pool was empty.",
     ST(no_coupon)},
    {"giftdrop_notify_handed_back_total",
     "Deliveries handed back to the broker unfinished (stopping, or trouble on the way).",
     ST(released)},
    {"giftdrop_notify_held_total",
     "Times a winner waited because every endpoint of its API had its breaker open.", ST(held)},
};
#undef ST

static long stat_at(const struct notifier_stats *st, size_t off)
{
    return *(const long *)(const void *)((const char *)st + off);
}

static void render_winners(struct evbuffer *out, const struct notifier_stats *st)
{
    static const char *const result[] = {"sent", "failed", "duplicate", "poison"};
    const long v[] = {st->sent, st->failed, st->duplicates, st->poison};
    prom_header(
        out, "giftdrop_notify_winners_total", "counter",
        "Winners settled and acked: sent (coupon sent, ledger committed), failed (for good: "
        "dead-lettered or no coupon), duplicate (settled before), poison.");
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "result=\"%s\"", result[i]);
        prom_sample(out, "giftdrop_notify_winners_total", labels, v[i]);
    }
    for (size_t i = 0; i < sizeof(stat_rows) / sizeof(stat_rows[0]); i++) {
        prom_header(out, stat_rows[i].name, "counter", stat_rows[i].help);
        prom_sample(out, stat_rows[i].name, "", stat_at(st, stat_rows[i].off));
    }
}

/* api="...",endpoint="..." for endpoint i of api. */
static void ep_labels(const struct notifier *nf, int api, size_t i, char *out, size_t cap)
{
    char url[600];
    prom_escape(endpoints_url(&nf->eps, (enum provider_api)api, (int)i), url, sizeof(url));
    snprintf(out, cap, "api=\"%s\",endpoint=\"%s\"", provider_api_name((enum provider_api)api),
             url);
}

static void render_sends(struct evbuffer *out, const struct notifier *nf)
{
    const struct notify_metrics *m = &nf->met;
    prom_header(out, "giftdrop_notify_sends_total", "counter",
                "Provider send requests, by API, endpoint and outcome.");
    for (int api = 0; api < 2; api++)
        for (size_t i = 0; i < m->n_ep[api]; i++) {
            char ep[700], labels[800];
            ep_labels(nf, api, i, ep, sizeof(ep));
            for (int o = 0; o < NOTIFY_SEND_OUTCOMES; o++) {
                snprintf(labels, sizeof(labels), "%s,result=\"%s\"", ep,
                         provider_outcome_name((enum provider_outcome)o));
                prom_sample(out, "giftdrop_notify_sends_total", labels,
                            (long long)prom_get(&m->sends[api][i * NOTIFY_SEND_OUTCOMES + o]));
            }
        }
    prom_header(out, "giftdrop_notify_send_duration_seconds", "histogram",
                "Time from a send request's start to its answer (or failure), by API.");
    for (int api = 0; api < 2; api++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "api=\"%s\"", provider_api_name((enum provider_api)api));
        prom_hist_render(out, "giftdrop_notify_send_duration_seconds", labels, &m->lat[api]);
    }
}

static void render_breakers(struct evbuffer *out, const struct notifier *nf)
{
    static const char *const states[] = {"closed", "open", "half_open"};
    int64_t now = time_mono_ms();
    prom_header(out, "giftdrop_notify_endpoint_state", "gauge",
                "1 for the state an endpoint's circuit breaker is in (closed: takes traffic).");
    for (int api = 0; api < 2; api++)
        for (size_t i = 0; i < nf->met.n_ep[api]; i++) {
            struct lb_stats s;
            char ep[700], labels[800];
            if (lb_stats(nf->eps.lb[api], (int)i, now, &s) != GD_OK)
                continue;
            ep_labels(nf, api, i, ep, sizeof(ep));
            for (int k = 0; k < 3; k++) {
                snprintf(labels, sizeof(labels), "%s,state=\"%s\"", ep, states[k]);
                prom_sample(out, "giftdrop_notify_endpoint_state", labels, (int)s.state == k);
            }
        }
    prom_header(out, "giftdrop_notify_endpoint_opens_total", "counter",
                "Times an endpoint's circuit breaker opened.");
    for (int api = 0; api < 2; api++)
        for (size_t i = 0; i < nf->met.n_ep[api]; i++) {
            struct lb_stats s;
            char ep[700];
            if (lb_stats(nf->eps.lb[api], (int)i, now, &s) != GD_OK)
                continue;
            ep_labels(nf, api, i, ep, sizeof(ep));
            prom_sample(out, "giftdrop_notify_endpoint_opens_total", ep, (long long)s.opens);
        }
}

static void gauge(struct evbuffer *out, const char *name, const char *help, long long v)
{
    prom_header(out, name, "gauge", help);
    prom_sample(out, name, "", v);
}

void notify_metrics_render(struct evbuffer *out, void *arg)
{
    const struct notifier *nf = arg;
    render_winners(out, &nf->st);
    render_sends(out, nf);
    render_breakers(out, nf);
    gauge(out, "giftdrop_notify_in_flight", "Winners under way (not yet acked or handed back).",
          nf->n_active);
    gauge(out, "giftdrop_notify_held", "Winners waiting for an endpoint whose breaker is open.",
          nf->n_blocked);
    gauge(out, "giftdrop_notify_provider_requests_in_flight",
          "Provider requests in flight (at most NOTIFY_CONCURRENCY).", nf->http_busy);
    gauge(out, "giftdrop_notify_ready", "1 while the consuming connection to the broker is up.",
          nf->in.conn.open && !nf->in.conn.broken);
}
