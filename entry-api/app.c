#include "app.h"

#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>

#include "errors.h"
#include "gate.h"
#include "log.h"
#include "publisher.h"
#include "signals.h"
#include "survey.h"

/* Split "host:port"; 0 or GD_ECONFIG. */
static int split_addr(const char *addr, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(addr, ':');
    char *end;
    if (!colon || (size_t)(colon - addr) >= cap)
        return GD_ECONFIG;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535)
        return GD_ECONFIG;
    *port = (int)p;
    return GD_OK;
}

static int setup_http(struct app *a)
{
    char host[256];
    int port;
    if (split_addr(a->cfg->listen_addr, host, sizeof(host), &port) != GD_OK) {
        log_error(NULL, "LISTEN_ADDR \"%s\" is not host:port", a->cfg->listen_addr);
        return GD_ECONFIG;
    }
    a->http = evhttp_new(a->base);
    if (!a->http)
        return GD_ENOMEM;
    /* libevent's limits are unlimited by default (PITFALLS): set them.  The body
     * cap is above 8 KiB so routes can answer 413 as problem+json themselves. */
    evhttp_set_max_headers_size(a->http, 8192);
    evhttp_set_max_body_size(a->http, 65536);
    evhttp_set_timeout(a->http, 10);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_default_content_type(a->http, "application/json");
    evhttp_set_gencb(a->http, routes_dispatch, a);
    if (!evhttp_bind_socket_with_handle(a->http, host, (uint16_t)port)) {
        log_error(NULL, "cannot listen on %s", a->cfg->listen_addr);
        return GD_EIO;
    }
    log_info(NULL, "listening on %s", a->cfg->listen_addr);
    return GD_OK;
}

static void on_stop_tick(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;
    if (sig_stop_requested())
        event_base_loopbreak(a->base);
}

int app_init(struct app *a, const struct gd_config *cfg)
{
    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    if (evthread_use_pthreads() != 0)
        return GD_ENOMEM;
    a->base = event_base_new();
    if (!a->base)
        return GD_ENOMEM;
    if (jwt_verifier_init(&a->jwt, cfg->jwt_secret, strlen(cfg->jwt_secret), cfg->jwt_issuer,
                          cfg->jwt_audience, (int)cfg->jwt_leeway_s) != GD_OK) {
        log_error(NULL, "JWT settings refused (secret must be 32..512 bytes)");
        return GD_ECONFIG;
    }
    a->gate = gate_new(a->base, cfg->redis_url);
    if (!a->gate) {
        log_error(NULL, "REDIS_URL is not redis://[:pw@]host[:port][/db]");
        return GD_ECONFIG;
    }
    struct pub_opts po = {cfg->amqp_url, cfg->instance, (int)cfg->confirm_timeout_ms};
    a->pub = pub_start(a->base, &po);
    if (!a->pub)
        return GD_ENOMEM;
    int rc = setup_http(a);
    if (rc != GD_OK)
        return rc;
    a->stop_ev = event_new(a->base, -1, EV_PERSIST, on_stop_tick, a);
    struct timeval tick = {0, 100000};
    if (!a->stop_ev || event_add(a->stop_ev, &tick) != 0)
        return GD_ENOMEM;
    return GD_OK;
}

int app_run(struct app *a)
{
    event_base_dispatch(a->base);
    log_info(NULL, "stopping: %ld requests open, %ld publishes in flight", a->open_requests,
             pub_in_flight(a->pub));
    /* Stop accepting, then let in-flight confirms finish (bounded by the
     * confirm deadline) and their answers go out. */
    evhttp_free(a->http);
    a->http = NULL;
    pub_stop(a->pub);
    struct timeval drain = {0, 200000};
    for (int i = 0; i < 25 && a->open_requests > 0; i++) {
        event_base_loopexit(a->base, &drain);
        event_base_dispatch(a->base);
    }
    return 0;
}

void app_free(struct app *a)
{
    if (a->pub)
        pub_free(a->pub);
    if (a->http)
        evhttp_free(a->http);
    gate_free(a->gate);
    for (int i = 0; i < APP_SURVEY_CACHE; i++)
        survey_free(a->surveys[i].survey);
    if (a->stop_ev)
        event_free(a->stop_ev);
    if (a->base)
        event_base_free(a->base);
}
