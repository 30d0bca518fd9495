/*
 * routes.c - entry-api's router and its small routes (DESIGN §3): event
 * info, a member's entry, health, readiness and metrics.  The entry POST
 * lives in entry.c.  Requests that wait on Redis keep their state in one
 * struct read_req, freed right after its single reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "app.h"
#include "conns.h"
#include "entry.h"
#include "errors.h"
#include "evinfo.h"
#include "evstate.h"
#include "gate.h"
#include "log.h"
#include "publisher.h"
#include "rds.h"
#include "reply.h"
#include "request.h"
#include "timeutil.h"

/* A GET waiting on one Redis call, or (to.req NULL) a background reload of
 * an event's description. */
struct read_req {
    struct reply_to to;
    long long event_id;
    uint64_t mark; /* event info: evs_mark() when the load was sent */
};

/* t NULL: no request waits (a reload for a's memory). */
static struct read_req *read_req_new(struct app *a, const struct reply_to *t, long long event_id)
{
    struct read_req *rr = calloc(1, sizeof(*rr));
    if (rr) {
        if (t)
            rr->to = *t;
        rr->to.app = a;
        rr->event_id = event_id;
    } else if (t) {
        reply_unavailable(t, "out of memory");
    }
    return rr;
}

/* ---- GET /v1/events/{id} ----------------------------------------------- */

static const char *str_or_empty(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? r->str : "";
}

static long long int_or_zero(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
}

/* The held description with the state as of now; NULL when not held. */
static const char *held_body(struct app *a, long long event_id, enum evi_age *age)
{
    return evi_body(a->evi, event_id, time_mono_ms(), evs_get(a->evs, event_id), age, NULL);
}

static void on_event_info(void *arg, int rc, redisReply *r)
{
    struct read_req *rr = arg;
    struct app *a = rr->to.app;
    int waiting = rr->to.req != NULL;
    if (rc != GD_OK) {
        evi_load_failed(a->evi, rr->event_id);
        if (waiting)
            reply_unavailable(&rr->to, "event state unavailable");
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 8) {
        if (evi_holds(a->evi, rr->event_id)) /* gone (expired or deleted) */
            evi_forget(a->evi, rr->event_id);
        if (waiting)
            reply_problem(&rr->to, PB_EVENT_NOT_FOUND, NULL, NULL);
    } else {
        int raced = !evs_learn_read(a->evs, rr->event_id, str_or_empty(r->element[1]), rr->mark);
        struct evi_fields f = {.title = str_or_empty(r->element[0]),
                               .survey = str_or_empty(r->element[2]),
                               .meta_state = str_or_empty(r->element[4]),
                               .opens_ms = int_or_zero(r->element[5]),
                               .closes_ms = int_or_zero(r->element[6]),
                               .redis_now_ms = int_or_zero(r->element[7])};
        enum evi_age age;
        const char *body = evi_store(a->evi, rr->event_id, &f, time_mono_ms(), raced) == GD_OK
                               ? held_body(a, rr->event_id, &age)
                               : NULL;
        if (waiting && body)
            reply_send(&rr->to, 200, "application/json", body);
        else if (waiting)
            reply_unavailable(&rr->to, "out of memory");
    }
    free(rr);
}

static void load_event(struct app *a, const struct reply_to *t, long long event_id)
{
    char k[3][64];
    struct read_req *rr = read_req_new(a, t, event_id);
    if (!rr) {
        evi_load_failed(a->evi, event_id);
        return;
    }
    rr->mark = evs_mark(a->evs);
    rds_key(k[0], sizeof(k[0]), event_id, "meta");
    rds_key(k[1], sizeof(k[1]), event_id, "survey");
    rds_key(k[2], sizeof(k[2]), event_id, "stock");
    const char *argv[] = {k[0], k[1], k[2]};
    gate_script(a->gate, SCRIPT_EVENT_INFO, 3, 3, argv, on_event_info, rr);
}

/* From memory when the description is held (evinfo.h), else after one Redis call. */
static void get_event(const struct reply_to *t, long long event_id)
{
    struct app *a = t->app;
    enum evi_age age;
    const char *body = held_body(a, event_id, &age);
    if (!body) {
        load_event(a, t, event_id);
        return;
    }
    met_inc(&a->m->event_info_from_memory);
    reply_send(t, 200, "application/json", body);
    if (age == EVI_STALE && evi_begin_load(a->evi, event_id))
        load_event(a, NULL, event_id);
}

/* ---- GET /v1/events/{id}/entries/me ------------------------------------ */

static void on_entry_status(void *arg, int rc, redisReply *r)
{
    struct read_req *rr = arg;
    char body[256];
    if (rc != GD_OK) {
        reply_unavailable(&rr->to, "entry state unavailable");
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
               r->element[0]->type != REDIS_REPLY_STRING ||
               r->element[1]->type != REDIS_REPLY_STRING ||
               r->element[2]->type != REDIS_REPLY_INTEGER) {
        reply_problem(&rr->to, PB_ENTRY_NOT_FOUND, "this member has not entered this event", NULL);
    } else {
        long long seq = r->element[2]->integer;
        int n =
            snprintf(body, sizeof(body), "{\"entry_id\":\"%s\",\"event_id\":%lld,\"status\":\"%s\"",
                     r->element[0]->str, rr->event_id, r->element[1]->str);
        if (seq > 0)
            n += snprintf(body + n, sizeof(body) - (size_t)n, ",\"seq\":%lld", seq);
        snprintf(body + n, sizeof(body) - (size_t)n, "}");
        /* One member's answer: no shared cache keeps it.  While pending,
         * Retry-After paces the app's polling (POLL_AFTER_S). */
        reply_header(&rr->to, "Cache-Control", "no-store");
        if (strcmp(r->element[1]->str, "pending") == 0)
            reply_retry_after(&rr->to, rr->to.app->cfg->poll_after_s * 1000);
        reply_send(&rr->to, 200, "application/json", body);
    }
    free(rr);
}

static void get_entry_me(const struct reply_to *t, long long event_id)
{
    char member[JWT_MAX_SUB + 1], k[4][64];
    int rc = entry_authenticate(t->app, t->req, member, sizeof(member));
    if (rc != GD_OK) {
        reply_problem(t, PB_UNAUTHORIZED, err_str(rc), NULL);
        return;
    }
    struct read_req *rr = read_req_new(t->app, t, event_id);
    if (!rr)
        return;
    static const char *const suffix[] = {"entries", "winners", "losers", "notified"};
    for (int i = 0; i < 4; i++)
        rds_key(k[i], sizeof(k[i]), event_id, suffix[i]);
    const char *argv[] = {k[0], k[1], k[2], k[3], member};
    gate_script(t->app->gate, SCRIPT_ENTRY_STATUS, 4, 5, argv, on_entry_status, rr);
}

/* ---- operational routes ------------------------------------------------ */

static void get_ready(const struct reply_to *t)
{
    struct app *a = t->app;
    char body[160];
    int redis = gate_ready(a->gate), broker = a->pub && pub_ready(a->pub);
    snprintf(body, sizeof(body), "{\"status\":\"%s\",\"redis\":%s,\"broker\":%s}",
             redis && broker ? "ready" : "not_ready", redis ? "true" : "false",
             broker ? "true" : "false");
    reply_send(t, redis && broker ? 200 : 503, "application/json", body);
}

static void get_metrics(const struct reply_to *t)
{
    struct app *a = t->app;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        reply_unavailable(t, "out of memory");
        return;
    }
    metrics_render(a->metrics, b);
    evs_render(a->evs, b);
    size_t len = evbuffer_get_length(b);
    char *text = malloc(len + 1);
    if (text) {
        evbuffer_remove(b, text, len);
        text[len] = '\0';
        reply_send(t, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    } else {
        reply_unavailable(t, "out of memory");
    }
    free(text);
    evbuffer_free(b);
}

/* ---- the router -------------------------------------------------------- */

static const enum route route_of[] = {
    [AP_UNKNOWN] = ROUTE_OTHER,     [AP_HEALTHZ] = ROUTE_HEALTHZ, [AP_READYZ] = ROUTE_READYZ,
    [AP_METRICS] = ROUTE_METRICS,   [AP_EVENT] = ROUTE_EVENT,     [AP_ENTRIES] = ROUTE_ENTRY_POST,
    [AP_ENTRY_ME] = ROUTE_ENTRY_ME,
};

void routes_dispatch(struct evhttp_request *req, void *arg)
{
    struct app *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    long long event_id = 0;
    enum api_path ap = path ? req_route(path, &event_id) : AP_UNKNOWN;
    struct reply_to t = {a, req, route_of[ap], reply_now_us()};

    conns_request_begins(a->conns, req);
    atomic_fetch_add(&a->m->requests_in_flight, 1);
    enum evhttp_cmd_type want = ap == AP_ENTRIES ? EVHTTP_REQ_POST : EVHTTP_REQ_GET;
    if (ap == AP_UNKNOWN) {
        reply_problem(&t, PB_NOT_FOUND, NULL, NULL);
    } else if (method != want) {
        reply_header(&t, "Allow", want == EVHTTP_REQ_POST ? "POST" : "GET");
        reply_problem(&t, PB_METHOD_NOT_ALLOWED, NULL, NULL);
    } else if (ap == AP_HEALTHZ) {
        reply_send(&t, 200, "application/json", "{\"status\":\"ok\"}");
    } else if (ap == AP_READYZ) {
        get_ready(&t);
    } else if (ap == AP_METRICS) {
        get_metrics(&t);
    } else if (ap == AP_EVENT) {
        get_event(&t, event_id);
    } else if (ap == AP_ENTRIES) {
        entry_post(&t, event_id);
    } else {
        get_entry_me(&t, event_id);
    }
}
