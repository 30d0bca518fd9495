/*
 * app.h - one entry-api worker: its event loop, HTTP server and connection
 * tracking, Redis gate, sold-out memory, publisher and metrics slot.
 * Every worker has its own connections; they share only the listening port
 * and the metrics region.  Callbacks reach this through `void *arg`.
 */
#ifndef GD_APP_H
#define GD_APP_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "config.h"
#include "jwt.h"
#include "metrics.h"
#include "netaddr.h"

struct conns;
struct gate;
struct evinfo;
struct evstate;
struct publisher;
struct survey;

#define APP_SURVEY_CACHE 64
#define APP_MAX_BODY     8192  /* DESIGN §3: entry bodies are at most 8 KiB */
#define APP_MAX_HEADERS  16384 /* room for a 10 KB token, which must get a 401, not a 413 */

/* A parsed survey per event, kept briefly so each POST does not re-read it. */
struct survey_slot {
    long long event_id;
    struct survey *survey; /* owned */
    int64_t loaded_ms;
};

struct app {
    const struct gd_config *cfg;
    int worker; /* index in the metrics region */
    struct event_base *base;
    struct evhttp *http;
    struct conns *conns;
    struct gate *gate;
    struct evstate *evs;
    struct evinfo *evi; /* GET /v1/events/{id} from memory */
    struct publisher *pub;
    struct jwt_verifier jwt;
    struct net_trust trusted; /* TRUSTED_PROXIES (checked by cfg_load) */
    struct survey_slot surveys[APP_SURVEY_CACHE];
    struct metrics *metrics;  /* the shared region (rendered by /metrics) */
    struct worker_metrics *m; /* this worker's slot in it */
    struct event *tick_ev;    /* stop flag and gauges */
    int draining;             /* SIGTERM seen: no new connections, Connection: close */
};

/*
 * Build a worker serving the listening sockets fds[0..nfds) (ownership
 * passes to the app).  0, or a negative code after logging why; app_free
 * either way.
 */
int app_init(struct app *a, const struct gd_config *cfg, struct metrics *metrics, int worker,
             const int *fds, int nfds);
/* Run until SIGTERM/SIGINT, then stop gracefully (DESIGN §8). */
int app_run(struct app *a);
void app_free(struct app *a);

/* 1 while Redis and the broker are usable. */
int app_ready(const struct app *a);

/* routes.c: the HTTP handler. */
void routes_dispatch(struct evhttp_request *req, void *arg);

#endif
