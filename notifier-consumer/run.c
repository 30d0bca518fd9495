/*
 * run.c - notifier-consumer's event loop: wires the consumer, the
 * publisher, the HTTP client, the balancers and the ledger pool together,
 * and runs until SIGTERM has drained the jobs under way.
 *
 * Stopping (SIGTERM/SIGINT): no new jobs (deliveries are handed back),
 * parked twins handed back, jobs under way finish - their provider
 * requests, ledger writes, republishes and acks - within a deadline of
 * twice the provider timeout plus ten seconds; whatever is left then goes
 * back to the queues when the connections close.
 */
#include "run.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "metrics_http.h"
#include "notifier.h"
#include "signals.h"
#include "timeutil.h"

#define TICK_MS  200   /* signal flag and drain checks */
#define STATS_MS 10000 /* counters in the log */

struct loop_state {
    struct notifier *nf;
    struct event *tick;
    int64_t stop_deadline_ms;
    int64_t next_stats_ms;
    struct notifier_stats logged;
};

static void log_stats(struct notifier *nf, const char *when)
{
    const struct notifier_stats *s = &nf->st;
    log_info(NULL,
             "%s: started %ld sent %ld failed %ld (no coupon %ld) duplicates %ld retried %ld"
             " (back from the retry queues %ld) delayed %ld busy %ld fallbacks %ld resolved %ld"
             " uncertain %ld poison %ld handed back %ld held %ld; active %d (waiting for an"
             " endpoint %d), requests in flight %d",
             when, s->started, s->sent, s->failed, s->no_coupon, s->duplicates, s->retried,
             s->returned, s->delayed, s->busy, s->fallbacks, s->resolved, s->uncertain, s->poison,
             s->released, s->held, nf->n_active, nf->n_blocked, nf->http_busy);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct loop_state *ls = arg;
    struct notifier *nf = ls->nf;
    int64_t now = time_mono_ms();
    if (sig_stop_requested() && !nf->stopping) {
        nf->stopping = 1;
        ls->stop_deadline_ms = now + 2 * nf->cfg->provider_timeout_ms + 10000;
        job_release_parked(nf);
        job_release_blocked(nf);
        log_info(NULL, "stopping: finishing %d jobs under way", nf->n_active);
    }
    if (nf->stopping && (nf->n_active == 0 || now >= ls->stop_deadline_ms)) {
        if (nf->n_active)
            log_warn(NULL, "stop deadline: %d jobs handed back unfinished", nf->n_active);
        event_base_loopbreak(nf->base);
        return;
    }
    if (!nf->stopping)
        job_check_blocked(nf);
    if (now >= ls->next_stats_ms) {
        ls->next_stats_ms = now + STATS_MS;
        if (memcmp(&ls->logged, &nf->st, sizeof(nf->st)) != 0)
            log_stats(nf, "progress");
        ls->logged = nf->st;
    }
}

static int setup(struct notifier *nf, struct loop_state *ls)
{
    char err[300];
    const struct gd_config *cfg = nf->cfg;
    retry_schedule_parse(&nf->retry, cfg->notify_retry_schedule);
    if (endpoints_init(&nf->eps, cfg, err, sizeof(err)) != GD_OK) {
        log_error(NULL, "provider endpoints: %s", err);
        return GD_ECONFIG;
    }
    nf->base = event_base_new();
    if (!nf->base || notify_metrics_init(&nf->met, &nf->eps) != GD_OK)
        return GD_ENOMEM;
    /* METRICS_ADDR: served on this loop, so rendering reads nf directly. */
    int rc = cfg->metrics_addr[0] ? metrics_http_start(nf->base, cfg->metrics_addr,
                                                       notify_metrics_render, nf, &nf->metrics)
                                  : GD_OK;
    if (rc != GD_OK)
        return rc;
    nf->http = http_client_new(nf->base, cfg->provider_ca_file, (int)cfg->notify_concurrency);
    if (!nf->http && cfg->provider_ca_file[0]) {
        log_error(NULL, "PROVIDER_CA_FILE %s cannot be read as PEM certificates",
                  cfg->provider_ca_file);
        return GD_ECONFIG;
    }
    nf->ledger = ledger_pool_new(cfg, (int)cfg->notify_db_conns, nf->base, job_on_ledger, nf);
    ls->tick = event_new(nf->base, -1, EV_PERSIST, on_tick, ls);
    if (!nf->http || !nf->ledger || !ls->tick)
        return GD_ENOMEM;
    struct timeval tv = {0, TICK_MS * 1000};
    event_add(ls->tick, &tv);
    republish_init(&nf->out, cfg, nf->base);
    return consumer_start(&nf->in, cfg, nf->base, job_on_delivery, nf);
}

/* Order matters: nothing may call back into a job once jobs are freed. */
static void teardown(struct notifier *nf, struct loop_state *ls)
{
    metrics_http_stop(nf->metrics);
    consumer_stop(&nf->in); /* unacked deliveries return to their queues */
    republish_close(&nf->out);
    http_client_free(nf->http);
    ledger_pool_free(nf->ledger); /* joins its threads; releases every lease */
    job_free_all(nf);
    endpoints_log_stats(&nf->eps);
    notify_metrics_free(&nf->met);
    endpoints_free(&nf->eps);
    if (ls->tick)
        event_free(ls->tick);
    if (nf->base)
        event_base_free(nf->base);
}

int notifier_run(const struct gd_config *cfg)
{
    struct notifier nf;
    struct loop_state ls;
    memset(&nf, 0, sizeof(nf));
    memset(&ls, 0, sizeof(ls));
    nf.cfg = cfg;
    ls.nf = &nf;
    ls.next_stats_ms = time_mono_ms() + STATS_MS;
    int rc = setup(&nf, &ls);
    if (rc == GD_OK) {
        log_info(NULL, "running: %ld provider requests in flight at most, %ld ledger connections",
                 cfg->notify_concurrency, cfg->notify_db_conns);
        event_base_dispatch(nf.base);
    } else {
        log_error(NULL, "cannot start: %s", err_str(rc));
    }
    log_stats(&nf, "stopped");
    teardown(&nf, &ls);
    return rc == GD_OK ? 0 : 1;
}
