/*
 * app.h - the state of one entry-api process: one event loop, its Redis
 * gate, its publisher thread, the HTTP server and counters.  Everything
 * reaches its callbacks through `void *arg`; nothing here is global.
 */
#ifndef GD_APP_H
#define GD_APP_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "config.h"
#include "jwt.h"

struct gate;
struct publisher;
struct survey;

#define APP_SURVEY_CACHE 64
#define APP_MAX_BODY     8192 /* DESIGN §3: entry bodies are at most 8 KiB */

/* A parsed survey per event, kept briefly so each POST does not re-read it. */
struct survey_slot {
    long long event_id;
    struct survey *survey; /* owned */
    int64_t loaded_ms;
};

/* Routes counted in /metrics. */
enum route { ROUTE_ENTRY_POST, ROUTE_ENTRY_ME, ROUTE_EVENT, ROUTE_HEALTH, ROUTE_OTHER, ROUTE_N };

struct app_metrics {
    uint64_t responses[ROUTE_N][6]; /* by status class 1xx..5xx, index 1..5 */
    uint64_t by_status[600];
    uint64_t gate_outcomes[16];
    uint64_t confirm_count;
    double confirm_seconds_sum;
};

struct app {
    const struct gd_config *cfg;
    struct event_base *base;
    struct evhttp *http;
    struct gate *gate;
    struct publisher *pub;
    struct jwt_verifier jwt;
    struct survey_slot surveys[APP_SURVEY_CACHE];
    struct app_metrics m;
    struct event *stop_ev; /* polls the stop flag */
    long open_requests;
};

/* Build everything; 0 or a negative code (logged). */
int app_init(struct app *a, const struct gd_config *cfg);
/* Run until SIGTERM/SIGINT, then stop gracefully. */
int app_run(struct app *a);
void app_free(struct app *a);

/* routes.c: the HTTP handler. */
void routes_dispatch(struct evhttp_request *req, void *arg);

#endif
