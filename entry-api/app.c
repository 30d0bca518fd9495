/*
 * app.c - building, running and stopping one entry-api worker.
 *
 * SIGHUP reads the JWT key list again (key rotation, reload_keys below).
 *
 * Graceful stop (SIGTERM): stop accepting; keep serving what is in flight
 * (answers now say Connection: close) until nothing is left or
 * DRAIN_TIMEOUT_MS passed; then stop the publisher (outstanding confirms
 * finish or fail, failures roll the gate back), let the rollbacks and the
 * last answers go out, and close Redis and the connections.
 */
#include "app.h"

#include <stdlib.h>
#include <string.h>

#include "conns.h"
#include "errors.h"
#include "evinfo.h"
#include "evstate.h"
#include "gate.h"
#include "log.h"
#include "publisher.h"
#include "signals.h"
#include "survey.h"
#include "timeutil.h"

#define APP_TICK_MS   100
#define APP_SETTLE_MS 1000 /* after the publisher stopped: rollbacks, last answers */
#define APP_MAX_BODY_IO                                                                            \
    65536 /* past 8 KiB routes answer 413 as problem+json; past this, evhttp                       \
           */

int app_ready(const struct app *a)
{
    return a->gate && a->pub && gate_ready(a->gate) && pub_ready(a->pub);
}

/* "k2 (primary), k1" for the log: key ids are not secret. */
static void describe_keys(const struct jwt_keyset *ks, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < ks->n && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s%s", i ? ", " : "",
                         ks->keys[i].kid[0] ? ks->keys[i].kid : "(unnamed)", i ? "" : " (primary)");
        used += n > 0 ? (size_t)n : 0;
    }
}

/*
 * SIGHUP: read the key list again and put it in force for the requests that
 * follow; a list that cannot be read or is refused leaves the keys in force
 * (a typo must not lock every member out).  Connections are untouched.
 */
static void reload_keys(struct app *a)
{
    struct jwt_keyset ks;
    char err[512], kids[600];
    int rc = cfg_jwt_keys(a->cfg, &ks, err, sizeof(err));
    if (rc == GD_OK && jwt_verifier_set_keys(&a->jwt, &ks) != GD_OK) {
        snprintf(err, sizeof(err), "the key list is refused");
        rc = GD_ECONFIG;
    }
    met_inc(&a->m->jwt_reloads[rc == GD_OK ? 0 : 1]);
    if (rc == GD_OK) {
        describe_keys(&ks, kids, sizeof(kids));
        atomic_store(&a->m->jwt_keys, ks.n);
        log_info(NULL, "worker %d: JWT keys reloaded: %s", a->worker, kids);
    } else {
        log_error(NULL, "worker %d: JWT key reload refused, the keys in force stay: %s", a->worker,
                  err);
    }
    jwt_keyset_clear(&ks);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;
    if (sig_reload_requested())
        reload_keys(a);
    atomic_store(&a->m->ready, app_ready(a));
    if (a->pub)
        atomic_store(&a->m->publishes_in_flight, pub_in_flight(a->pub));
    if (sig_stop_requested())
        event_base_loopbreak(a->base);
}

/* An announcement on an event's state channel: its description is read again. */
static void on_state_change(void *arg, long long event_id)
{
    evi_forget(arg, event_id);
}

static int setup_http(struct app *a, const int *fds, int nfds)
{
    const struct gd_config *cfg = a->cfg;
    a->http = evhttp_new(a->base);
    if (!a->http)
        return GD_ENOMEM;
    /* libevent's limits are unlimited by default (PITFALLS): set them. */
    evhttp_set_max_headers_size(a->http, APP_MAX_HEADERS);
    evhttp_set_max_body_size(a->http, APP_MAX_BODY_IO);
    struct timeval idle = {cfg->idle_timeout_s, 0};
    evhttp_set_timeout_tv(a->http, &idle);
    /* Methods evhttp parses and hands us get a 405 with Allow from the
     * router; anything else (TRACE, CONNECT, unknown) evhttp refuses. */
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_default_content_type(a->http, "application/json");
    evhttp_set_gencb(a->http, routes_dispatch, a);
    struct conns_opts co = {cfg->max_connections, cfg->request_timeout_ms};
    a->conns = conns_new(a->base, a->http, &co, a->m);
    if (!a->conns)
        return GD_ENOMEM;
    for (int i = 0; i < nfds; i++)
        if (conns_listen(a->conns, fds[i]) != GD_OK)
            return GD_ENOMEM;
    return GD_OK;
}

int app_init(struct app *a, const struct gd_config *cfg, struct metrics *metrics, int worker,
             const int *fds, int nfds)
{
    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->worker = worker;
    a->metrics = metrics;
    a->m = metrics_slot(metrics, worker);
    /* The changelist folds evhttp's per-request disable/enable of a
     * connection's read and write events into one epoll_ctl (or none). */
    struct event_config *ec = event_config_new();
    if (!ec)
        return GD_ENOMEM;
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    a->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!a->base)
        return GD_ENOMEM;
    char err[512], kids[600];
    if (cfg_jwt_verifier(cfg, &a->jwt, err, sizeof(err)) != GD_OK) {
        log_error(NULL, "JWT settings refused: %s", err);
        return GD_ECONFIG;
    }
    atomic_store(&a->m->jwt_keys, a->jwt.ks.n);
    describe_keys(&a->jwt.ks, kids, sizeof(kids));
    log_info(NULL, "worker %d: JWT keys: %s", worker, kids);
    if (net_trust_parse(cfg->trusted_proxies, &a->trusted, NULL, 0) != GD_OK)
        return GD_ECONFIG; /* not reached: cfg_load refused it already */
    a->gate = gate_new(a->base, cfg->redis_url, (int)cfg->redis_timeout_ms, a->m);
    a->evs = a->gate ? evs_new(a->base, cfg->redis_url, a->gate, a->m) : NULL;
    if (!a->gate || !a->evs) {
        log_error(NULL, "REDIS_URL is not redis://[:pw@]host[:port][/db]");
        return GD_ECONFIG;
    }
    a->evi = evi_new();
    if (!a->evi)
        return GD_ENOMEM;
    evs_on_change(a->evs, on_state_change, a->evi);
    struct pub_opts po = {cfg->amqp_url, cfg->instance, (int)cfg->confirm_timeout_ms};
    a->pub = pub_start(a->base, &po);
    if (!a->pub)
        return GD_ENOMEM;
    int rc = setup_http(a, fds, nfds);
    if (rc != GD_OK)
        return rc;
    a->tick_ev = event_new(a->base, -1, EV_PERSIST, on_tick, a);
    struct timeval tick = {0, APP_TICK_MS * 1000};
    if (!a->tick_ev || event_add(a->tick_ev, &tick) != 0)
        return GD_ENOMEM;
    log_info(NULL, "worker %d serving on %s", worker, cfg->listen_addr);
    return GD_OK;
}

/* Run the loop until cond(a) is false or ms passed. */
static void run_while(struct app *a, int (*cond)(const struct app *), int64_t ms)
{
    int64_t end = time_mono_ms() + ms;
    struct timeval step = {0, 20000};
    while (cond(a) && time_mono_ms() < end) {
        event_base_loopexit(a->base, &step);
        event_base_dispatch(a->base);
    }
}

static int requests_open(const struct app *a)
{
    return atomic_load(&a->m->requests_in_flight) > 0;
}

static int redis_calls_open(const struct app *a)
{
    return gate_pending(a->gate) > 0;
}

static int always(const struct app *a)
{
    return 1;
}

int app_run(struct app *a)
{
    event_base_dispatch(a->base);
    a->draining = 1;
    conns_stop_accepting(a->conns);
    log_info(NULL, "stopping: %ld requests open, %ld publishes in flight, %ld connections",
             (long)atomic_load(&a->m->requests_in_flight), pub_in_flight(a->pub),
             conns_open(a->conns));
    run_while(a, requests_open, a->cfg->drain_timeout_ms);
    /* Outstanding confirms finish or fail; failures roll the gate back. */
    pub_stop(a->pub);
    pub_free(a->pub);
    a->pub = NULL;
    run_while(a, redis_calls_open, APP_SETTLE_MS);
    run_while(a, always, 100); /* let the last answers reach their sockets */
    if (requests_open(a))
        log_warn(NULL, "%ld requests still open at the end of the drain",
                 (long)atomic_load(&a->m->requests_in_flight));
    return 0;
}

void app_free(struct app *a)
{
    if (a->pub) {
        pub_stop(a->pub);
        pub_free(a->pub);
    }
    /* Before evhttp: callers still waiting on Redis are answered (503)
     * while their requests exist. */
    gate_free(a->gate);
    evs_free(a->evs);
    evi_free(a->evi); /* after the gate: its loads in flight were answered */
    if (a->http)
        evhttp_free(a->http); /* closes every connection: conns are untracked */
    conns_free(a->conns);
    for (int i = 0; i < APP_SURVEY_CACHE; i++)
        survey_free(a->surveys[i].survey);
    if (a->tick_ev)
        event_free(a->tick_ev);
    if (a->base)
        event_base_free(a->base);
    jwt_keyset_clear(&a->jwt.ks);
    atomic_store(&a->m->ready, 0);
}
