/*
 * fp_routes.c - routing table and non-send endpoints (see fp_routes.h).
 *
 * Provider endpoints (sends and lookups) check X-Secret-Key and answer
 * after the simulated latency; fault injection applies to sends only, so a
 * client resolving an unknown outcome gets a straight answer.  Test-control
 * endpoints (/healthz, /stats, /records, /reset, /config) need no secret
 * and answer at once.
 */
#include "fp_routes.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "fp_app.h"
#include "fp_base.h"
#include "fp_reply.h"
#include "fp_send.h"

#define MAX_SEGMENTS 8
#define MAX_PARAMS   2
#define MAX_PATH     1024

struct route {
    /* NULL-terminated; "*" matches one non-empty segment, passed percent-decoded */
    const char *segments[MAX_SEGMENTS + 1];
    int methods; /* EVHTTP_REQ_* mask */
    void (*handle)(struct fp_app *app, struct evhttp_request *req, const char *path, char **params);
};

/* ---- provider lookups -------------------------------------------------- */

/* Answers 401 (after the latency) and returns false when the secret is wrong. */
static bool lookup_authorized(struct fp_app *app, struct evhttp_request *req)
{
    if (fp_api_authorized(app, req))
        return true;
    app->store.stats.unauthorized++;
    fp_reply_later(app, req, fp_reply_delay_ms(app), 401,
                   fp_json_header(false, -401, "invalid secret key"), false);
    return false;
}

static cJSON *query_json(const struct fp_send *send)
{
    cJSON *root = fp_json_header(true, 0, "SUCCESS");
    cJSON *message = cJSON_AddObjectToObject(root, "message");
    cJSON_AddStringToObject(message, "requestId", send->request_id);
    /* The top-level fields describe the first recipient (giftdrop sends one
     * per request); sendResults lists them all. */
    const struct fp_delivery *first = &send->deliveries[0];
    cJSON_AddStringToObject(message, "recipientNo", first->recipient_no);
    cJSON_AddStringToObject(message, "messageStatus",
                            first->result_code == FP_RESULT_OK ? "COMPLETED" : "FAILED");
    cJSON *results = cJSON_AddArrayToObject(message, "sendResults");
    for (size_t i = 0; i < send->n_deliveries; i++) {
        const struct fp_delivery *d = &send->deliveries[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddNumberToObject(item, "recipientSeq", (double)(i + 1));
        cJSON_AddStringToObject(item, "recipientNo", d->recipient_no);
        cJSON_AddNumberToObject(item, "resultCode", d->result_code);
        cJSON_AddStringToObject(item, "messageStatus",
                                d->result_code == FP_RESULT_OK ? "COMPLETED" : "FAILED");
        cJSON_AddItemToArray(results, item);
    }
    return root;
}

static void query_message(struct fp_app *app, struct evhttp_request *req, enum fp_channel channel,
                          const char *request_id)
{
    if (!lookup_authorized(app, req))
        return;
    const struct fp_send *send = fp_store_by_request_id(&app->store, request_id);
    long delay = fp_reply_delay_ms(app);
    if (send == NULL || send->channel != channel)
        fp_reply_later(app, req, delay, 404, fp_json_header(false, -404, "request not found"),
                       false);
    else
        fp_reply_later(app, req, delay, 200, query_json(send), false);
}

static void handle_query_kakao(struct fp_app *app, struct evhttp_request *req, const char *path,
                               char **params)
{
    (void)path;
    query_message(app, req, FP_CHANNEL_KAKAO, params[1]);
}

static void handle_query_sms(struct fp_app *app, struct evhttp_request *req, const char *path,
                             char **params)
{
    (void)path;
    query_message(app, req, FP_CHANNEL_SMS, params[1]);
}

static void handle_idempotency(struct fp_app *app, struct evhttp_request *req, const char *path,
                               char **params)
{
    (void)path;
    if (!lookup_authorized(app, req))
        return;
    int64_t window_ms = (int64_t)app->opt->idempotency_window_s * 1000;
    const struct fp_send *send = fp_store_by_key(&app->store, params[0], fp_mono_ms(), window_ms);
    long delay = fp_reply_delay_ms(app);
    if (send == NULL) {
        fp_reply_later(app, req, delay, 404,
                       fp_json_header(false, -404, "idempotency key not found"), false);
        return;
    }
    /* The stored results tell a client that lost the answer what it was:
     * sent, or refused per recipient (and why). */
    cJSON *root = query_json(send);
    cJSON_AddStringToObject(root, "key", send->idempotency_key);
    cJSON_AddStringToObject(root, "requestId", send->request_id);
    cJSON_AddStringToObject(root, "channel", fp_channel_name(send->channel));
    fp_reply_later(app, req, delay, 200, root, false);
}

static void handle_send_kakao(struct fp_app *app, struct evhttp_request *req, const char *path,
                              char **params)
{
    (void)params; /* any appKey is accepted */
    fp_send_handle(app, req, FP_CHANNEL_KAKAO, path);
}

static void handle_send_sms(struct fp_app *app, struct evhttp_request *req, const char *path,
                            char **params)
{
    (void)params;
    fp_send_handle(app, req, FP_CHANNEL_SMS, path);
}

/* ---- test control ------------------------------------------------------ */

static void handle_healthz(struct fp_app *app, struct evhttp_request *req, const char *path,
                           char **params)
{
    (void)app;
    (void)path;
    (void)params;
    fp_reply_now(req, 200, "text/plain;charset=UTF-8", "ok", false);
}

static void handle_stats(struct fp_app *app, struct evhttp_request *req, const char *path,
                         char **params)
{
    (void)path;
    (void)params;
    struct fp_store *store = &app->store;
    const struct fp_stats *st = &store->stats;
    /* Expire first so unique_keys counts live keys only (cheap: it only
     * walks sends that left the window since the last pass). */
    fp_store_expire_keys(store, fp_mono_ms(), (int64_t)app->opt->idempotency_window_s * 1000);

    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "received", (double)st->received);
    cJSON_AddNumberToObject(root, "sent", (double)st->sent);
    cJSON_AddNumberToObject(root, "duplicates", (double)st->duplicates);
    cJSON_AddNumberToObject(root, "failed_injected", (double)st->failed_injected);
    cJSON_AddNumberToObject(root, "timeouts_injected", (double)st->timeouts_injected);
    cJSON_AddNumberToObject(root, "invalid_recipients", (double)st->invalid_recipients);
    cJSON_AddNumberToObject(root, "unauthorized", (double)st->unauthorized);
    cJSON_AddNumberToObject(root, "bad_request", (double)st->bad_request);
    cJSON_AddNumberToObject(root, "unique_keys", (double)fp_store_key_count(store));
    cJSON *by_channel = cJSON_AddObjectToObject(root, "by_channel");
    cJSON_AddNumberToObject(by_channel, "kakao", (double)st->sent_kakao);
    cJSON_AddNumberToObject(by_channel, "sms", (double)st->sent_sms);
    /* Beyond the documented set: */
    cJSON_AddNumberToObject(root, "lost_replies_injected", (double)st->lost_replies_injected);
    cJSON_AddNumberToObject(root, "throttled_injected", (double)st->throttled_injected);
    cJSON_AddNumberToObject(root, "partial_injected", (double)st->partial_injected);
    cJSON_AddNumberToObject(root, "uncertain_injected", (double)st->uncertain_injected);
    cJSON_AddNumberToObject(root, "not_kakao_users", (double)st->not_kakao_users);
    cJSON_AddNumberToObject(root, "idempotency_conflicts", (double)st->idempotency_conflicts);
    cJSON_AddNumberToObject(root, "in_flight", (double)app->n_pending);
    cJSON_AddNumberToObject(root, "records", (double)store->n_records);
    cJSON_AddNumberToObject(root, "records_dropped", (double)st->records_dropped);
    fp_reply_json(req, 200, root);
}

static void handle_records(struct fp_app *app, struct evhttp_request *req, const char *path,
                           char **params)
{
    (void)path;
    (void)params;
    struct evbuffer *out = evbuffer_new();
    fp_store_records_json(&app->store, out);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", FP_CONTENT_JSON);
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void handle_reset(struct fp_app *app, struct evhttp_request *req, const char *path,
                         char **params)
{
    (void)path;
    (void)params;
    fp_store_reset(&app->store);
    /* Each test that resets sees the same fault and latency sequence; ids
     * keep counting so they stay unique across tests. */
    fp_rng_seed(&app->rng_fault, app->opt->seed, FP_STREAM_FAULT);
    fp_rng_seed(&app->rng_latency, app->opt->seed, FP_STREAM_LATENCY);
    fp_log("info", "reset", NULL, NULL);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "reset", true);
    fp_reply_json(req, 200, root);
}

enum config_kind { CONFIG_LONG, CONFIG_RATE, CONFIG_DIST };

struct config_field {
    const char *name;
    enum config_kind kind;
    size_t offset;
};

static const struct config_field config_fields[] = {
    {"latency_ms", CONFIG_LONG, offsetof(struct fp_injection, latency_ms)},
    {"jitter_ms", CONFIG_LONG, offsetof(struct fp_injection, jitter_ms)},
    {"latency_dist", CONFIG_DIST, offsetof(struct fp_injection, dist)},
    {"slow_rate", CONFIG_RATE, offsetof(struct fp_injection, slow_rate)},
    {"slow_ms", CONFIG_LONG, offsetof(struct fp_injection, slow_ms)},
    {"fail_rate", CONFIG_RATE, offsetof(struct fp_injection, fail_rate)},
    {"timeout_rate", CONFIG_RATE, offsetof(struct fp_injection, timeout_rate)},
    {"throttle_rate", CONFIG_RATE, offsetof(struct fp_injection, throttle_rate)},
    {"retry_after_s", CONFIG_LONG, offsetof(struct fp_injection, retry_after_s)},
    {"lost_reply_rate", CONFIG_RATE, offsetof(struct fp_injection, lost_reply_rate)},
    {"partial_rate", CONFIG_RATE, offsetof(struct fp_injection, partial_rate)},
    {"uncertain_rate", CONFIG_RATE, offsetof(struct fp_injection, uncertain_rate)},
};

#define N_CONFIG_FIELDS (sizeof(config_fields) / sizeof(config_fields[0]))

static cJSON *config_json(const struct fp_injection *inj)
{
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; i < N_CONFIG_FIELDS; i++) {
        const char *field = (const char *)inj + config_fields[i].offset;
        long l;
        double v;
        enum fp_latency_dist d;
        switch (config_fields[i].kind) {
        case CONFIG_LONG:
            memcpy(&l, field, sizeof(l));
            cJSON_AddNumberToObject(root, config_fields[i].name, (double)l);
            break;
        case CONFIG_RATE:
            memcpy(&v, field, sizeof(v));
            cJSON_AddNumberToObject(root, config_fields[i].name, v);
            break;
        case CONFIG_DIST:
            memcpy(&d, field, sizeof(d));
            cJSON_AddStringToObject(root, config_fields[i].name,
                                    d == FP_DIST_UNIFORM ? "uniform" : "exponential");
            break;
        }
    }
    return root;
}

/* Applies one member of a POST /config body to inj; NULL or the problem. */
static const char *config_set(struct fp_injection *inj, const cJSON *member)
{
    for (size_t i = 0; i < N_CONFIG_FIELDS; i++) {
        const struct config_field *f = &config_fields[i];
        if (strcmp(member->string, f->name) != 0)
            continue;
        char *field = (char *)inj + f->offset;
        if (f->kind == CONFIG_DIST) {
            const char *name = cJSON_IsString(member) ? member->valuestring : "";
            if (strcmp(name, "uniform") != 0 && strcmp(name, "exponential") != 0)
                return "latency_dist must be \"uniform\" or \"exponential\"";
            enum fp_latency_dist d = name[0] == 'u' ? FP_DIST_UNIFORM : FP_DIST_EXPONENTIAL;
            memcpy(field, &d, sizeof(d));
            return NULL;
        }
        if (!cJSON_IsNumber(member))
            return "settings must be numbers";
        double v = member->valuedouble;
        if (f->kind == CONFIG_LONG) {
            /* Range-check before the cast: out-of-range conversion is UB. */
            if (!(v >= 0.0 && v <= (double)FP_MAX_DELAY_MS) || v != (double)(long)v)
                return "latency_ms, jitter_ms, slow_ms and retry_after_s must be integers "
                       "0..120000";
            long l = (long)v;
            memcpy(field, &l, sizeof(l));
        } else {
            memcpy(field, &v, sizeof(v));
        }
        return NULL;
    }
    return "unknown setting (latency_ms, jitter_ms, latency_dist, slow_rate, slow_ms, fail_rate, "
           "timeout_rate, throttle_rate, retry_after_s, lost_reply_rate, partial_rate, "
           "uncertain_rate)";
}

/* The new settings from a POST /config body; NULL or the problem. */
static const char *config_parse(struct evhttp_request *req, struct fp_injection *inj)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    cJSON *body =
        len > 0 ? cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), len) : NULL;
    const char *bad = NULL;
    if (!cJSON_IsObject(body))
        bad = "body must be a JSON object";
    const cJSON *members = cJSON_IsObject(body) ? body : NULL;
    const cJSON *member;
    cJSON_ArrayForEach(member, members)
    {
        if (bad == NULL)
            bad = config_set(inj, member);
    }
    if (bad == NULL)
        bad = fp_injection_check(inj);
    cJSON_Delete(body);
    return bad;
}

static void handle_config(struct fp_app *app, struct evhttp_request *req, const char *path,
                          char **params)
{
    (void)path;
    (void)params;
    if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
        /* All or nothing: changes apply only if the whole body is valid. */
        struct fp_injection next = app->inj;
        const char *bad = config_parse(req, &next);
        if (bad != NULL) {
            fp_reply_json(req, 400, fp_json_header(false, -400, bad));
            return;
        }
        app->inj = next;
        cJSON *logged = config_json(&app->inj);
        char *text = cJSON_PrintUnformatted(logged);
        fp_log("info", "injection changed", "config", text);
        free(text);
        cJSON_Delete(logged);
    }
    fp_reply_json(req, 200, config_json(&app->inj));
}

/* ---- routing ----------------------------------------------------------- */

static const struct route routes[] = {
    {{"healthz", NULL}, EVHTTP_REQ_GET, handle_healthz},
    {{"stats", NULL}, EVHTTP_REQ_GET, handle_stats},
    {{"records", NULL}, EVHTTP_REQ_GET, handle_records},
    {{"reset", NULL}, EVHTTP_REQ_POST, handle_reset},
    {{"config", NULL}, EVHTTP_REQ_GET | EVHTTP_REQ_POST, handle_config},
    {{"alimtalk", "v2.3", "appkeys", "*", "messages", NULL}, EVHTTP_REQ_POST, handle_send_kakao},
    {{"alimtalk", "v2.3", "appkeys", "*", "messages", "*", NULL},
     EVHTTP_REQ_GET,
     handle_query_kakao},
    {{"sms", "v3.0", "appKeys", "*", "sender", "sms", NULL}, EVHTTP_REQ_POST, handle_send_sms},
    {{"sms", "v3.0", "appKeys", "*", "sender", "sms", "*", NULL}, EVHTTP_REQ_GET, handle_query_sms},
    {{"v1", "idempotency", "*", NULL}, EVHTTP_REQ_GET, handle_idempotency},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Splits "/a/b/c" (copied into buf) into segments; -1 if it does not fit. */
static int split_path(const char *path, char *buf, size_t size, char **segs, size_t *n_segs)
{
    size_t len = strlen(path);
    if (path[0] != '/' || len >= size)
        return -1;
    memcpy(buf, path + 1, len); /* includes the NUL */
    size_t n = 0;
    for (char *p = buf;;) {
        if (n == MAX_SEGMENTS)
            return -1;
        segs[n++] = p;
        p = strchr(p, '/');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    *n_segs = n;
    return 0;
}

static bool route_matches(const struct route *route, char **segs, size_t n_segs)
{
    size_t i = 0;
    for (; route->segments[i] != NULL; i++) {
        if (i == n_segs || segs[i][0] == '\0')
            return false;
        if (strcmp(route->segments[i], "*") != 0 && strcmp(route->segments[i], segs[i]) != 0)
            return false;
    }
    return i == n_segs;
}

/* Percent-decodes the wildcard segments into params (caller frees each).
 * Returns -1 when one decodes to an empty string or contains a NUL. */
static int route_params(const struct route *route, char **segs, char **params)
{
    size_t n = 0;
    for (size_t i = 0; route->segments[i] != NULL; i++) {
        if (strcmp(route->segments[i], "*") != 0)
            continue;
        size_t len = 0;
        params[n] = evhttp_uridecode(segs[i], 0, &len);
        if (params[n++] == NULL || len == 0 || strlen(params[n - 1]) != len)
            return -1;
    }
    return 0;
}

static void reply_not_found(struct evhttp_request *req)
{
    fp_reply_json(req, 404, fp_json_header(false, -404, "not found"));
}

static void reply_bad_method(struct evhttp_request *req, int allowed)
{
    /* Routes only ever allow GET and/or POST. */
    const char *allow = (allowed & EVHTTP_REQ_GET) && (allowed & EVHTTP_REQ_POST) ? "GET, POST"
                        : (allowed & EVHTTP_REQ_GET)                              ? "GET"
                                                                                  : "POST";
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    fp_reply_json(req, 405, fp_json_header(false, -405, "method not allowed"));
}

void fp_routes_dispatch(struct evhttp_request *req, void *arg)
{
    struct fp_app *app = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    char buf[MAX_PATH];
    char *segs[MAX_SEGMENTS];
    size_t n_segs = 0;

    if (path == NULL || split_path(path, buf, sizeof(buf), segs, &n_segs) != 0) {
        reply_not_found(req);
        return;
    }
    for (size_t r = 0; r < N_ROUTES; r++) {
        const struct route *route = &routes[r];
        if (!route_matches(route, segs, n_segs))
            continue;
        if ((evhttp_request_get_command(req) & route->methods) == 0) {
            reply_bad_method(req, route->methods);
            return;
        }
        char *params[MAX_PARAMS] = {NULL, NULL};
        if (route_params(route, segs, params) == 0)
            route->handle(app, req, path, params);
        else
            reply_not_found(req);
        for (size_t i = 0; i < MAX_PARAMS; i++)
            free(params[i]);
        return;
    }
    reply_not_found(req);
}
