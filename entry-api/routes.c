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
#include "evstate.h"
#include "gate.h"
#include "log.h"
#include "publisher.h"
#include "rds.h"
#include "reply.h"
#include "request.h"

/* A GET waiting on one Redis call. */
struct read_req {
    struct reply_to to;
    long long event_id;
};

static struct read_req *read_req_new(const struct reply_to *t, long long event_id)
{
    struct read_req *rr = malloc(sizeof(*rr));
    if (rr) {
        rr->to = *t;
        rr->event_id = event_id;
    } else {
        reply_unavailable(t, "out of memory");
    }
    return rr;
}

/* ---- GET /v1/events/{id} ----------------------------------------------- */

static const char *str_or_empty(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? r->str : "";
}

static void on_event_info(void *arg, int rc, redisReply *r)
{
    struct read_req *rr = arg;
    if (rc != GD_OK) {
        reply_unavailable(&rr->to, "event state unavailable");
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
        reply_problem(&rr->to, PB_EVENT_NOT_FOUND, NULL, NULL);
    } else {
        const char *state = str_or_empty(r->element[3]);
        evs_learn(rr->to.app->evs, rr->event_id, state);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "event_id", (double)rr->event_id);
        cJSON_AddStringToObject(o, "title", str_or_empty(r->element[0]));
        cJSON_AddStringToObject(o, "opens_at", str_or_empty(r->element[1]));
        cJSON_AddStringToObject(o, "closes_at", str_or_empty(r->element[2]));
        cJSON_AddStringToObject(o, "state", state);
        cJSON *survey = cJSON_Parse(str_or_empty(r->element[4]));
        cJSON_AddItemToObject(o, "survey", survey ? survey : cJSON_CreateObject());
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (body)
            reply_send(&rr->to, 200, "application/json", body);
        else
            reply_unavailable(&rr->to, "out of memory");
        free(body);
    }
    free(rr);
}

static void get_event(const struct reply_to *t, long long event_id)
{
    char k[3][64];
    struct read_req *rr = read_req_new(t, event_id);
    if (!rr)
        return;
    rds_key(k[0], sizeof(k[0]), event_id, "meta");
    rds_key(k[1], sizeof(k[1]), event_id, "survey");
    rds_key(k[2], sizeof(k[2]), event_id, "stock");
    const char *argv[] = {k[0], k[1], k[2]};
    gate_script(t->app->gate, SCRIPT_EVENT_INFO, 3, 3, argv, on_event_info, rr);
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
    struct read_req *rr = read_req_new(t, event_id);
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
