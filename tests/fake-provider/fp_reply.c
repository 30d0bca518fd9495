/*
 * fp_reply.c - immediate and deferred replies (see fp_reply.h).
 */
#include "fp_reply.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "fp_base.h"

struct fp_pending {
    struct fp_app *app;
    struct evhttp_request *req; /* owned by libevent; we owe it one ending */
    struct event *timer;
    int status;
    char *body; /* owned; NULL: close without reply */
    bool replay;
    long retry_after_s; /* Retry-After header when >= 0 */
    struct fp_pending *prev, *next;
};

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    default:
        return NULL; /* libevent's own table */
    }
}

cJSON *fp_json_header(bool ok, int code, const char *message)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *header = cJSON_AddObjectToObject(root, "header");
    cJSON_AddBoolToObject(header, "isSuccessful", ok);
    cJSON_AddNumberToObject(header, "resultCode", code);
    cJSON_AddStringToObject(header, "resultMessage", message);
    return root;
}

static void send_now(struct evhttp_request *req, int status, const char *content_type,
                     const char *body, bool replay, long retry_after_s)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", content_type);
    if (replay)
        evhttp_add_header(headers, "Idempotent-Replay", "true");
    if (retry_after_s >= 0) {
        char text[24];
        snprintf(text, sizeof(text), "%ld", retry_after_s);
        evhttp_add_header(headers, "Retry-After", text);
    }
    struct evbuffer *out = evbuffer_new();
    if (body != NULL)
        evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, status, reason_phrase(status), out);
    evbuffer_free(out);
}

void fp_reply_now(struct evhttp_request *req, int status, const char *content_type,
                  const char *body, bool replay)
{
    send_now(req, status, content_type, body, replay, -1);
}

void fp_reply_json(struct evhttp_request *req, int status, cJSON *json)
{
    char *body = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    fp_reply_now(req, status, FP_CONTENT_JSON, body, false);
    free(body);
}

long fp_reply_delay_ms(struct fp_app *app)
{
    const struct fp_injection *inj = &app->inj;
    /* Always three draws, whatever the settings, so the latency stream -
     * and with it a seeded run - does not depend on them. */
    double u = fp_rng_unit(&app->rng_latency);
    double tail = fp_rng_unit(&app->rng_latency);
    double slow = fp_rng_unit(&app->rng_latency);
    if (slow < inj->slow_rate)
        return inj->slow_ms;
    double delay;
    if (inj->dist == FP_DIST_EXPONENTIAL) /* inverse CDF; 1 - u is in (0, 1] */
        delay = (double)inj->latency_ms - log(1.0 - tail) * (double)inj->jitter_ms;
    else
        delay = (double)inj->latency_ms + (2.0 * u - 1.0) * (double)inj->jitter_ms;
    if (delay > (double)FP_MAX_DELAY_MS)
        delay = (double)FP_MAX_DELAY_MS;
    return delay > 0.0 ? (long)(delay + 0.5) : 0;
}

/* Gives req its one ending. */
static void pending_finish(struct fp_pending *p)
{
    if (p->body != NULL) {
        send_now(p->req, p->status, FP_CONTENT_JSON, p->body, p->replay, p->retry_after_s);
        return;
    }
    /* Hung upstream: close without a reply.  Freeing the server-side
     * connection also frees the request it holds (libevent 2.1 keeps a
     * deferred request on its connection, with reading disabled). */
    struct evhttp_connection *conn = evhttp_request_get_connection(p->req);
    if (conn != NULL)
        evhttp_connection_free(conn);
    else /* already detached from a dead connection: this frees it */
        evhttp_send_reply(p->req, 500, NULL, NULL);
}

/* Unlinks p, ends its request and frees it: the one place a pending dies. */
static void pending_end(struct fp_pending *p)
{
    struct fp_app *app = p->app;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        app->pending = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    app->n_pending--;
    pending_finish(p);
    event_free(p->timer);
    free(p->body);
    free(p);
}

static void pending_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pending_end(arg);
}

static void pending_add(struct fp_app *app, struct evhttp_request *req, long delay_ms, int status,
                        char *body, bool replay, long retry_after_s)
{
    struct fp_pending *p = fp_xcalloc(1, sizeof(*p));
    p->app = app;
    p->req = req;
    p->status = status;
    p->body = body;
    p->replay = replay;
    p->retry_after_s = retry_after_s;
    p->timer = evtimer_new(app->base, pending_fire, p);
    p->next = app->pending;
    if (app->pending != NULL)
        app->pending->prev = p;
    app->pending = p;
    app->n_pending++;
    struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

void fp_reply_later_ex(struct fp_app *app, struct evhttp_request *req, long delay_ms, int status,
                       cJSON *json, bool replay, long retry_after_s)
{
    char *body = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (delay_ms <= 0) {
        send_now(req, status, FP_CONTENT_JSON, body, replay, retry_after_s);
        free(body);
        return;
    }
    pending_add(app, req, delay_ms, status, body, replay, retry_after_s);
}

void fp_reply_later(struct fp_app *app, struct evhttp_request *req, long delay_ms, int status,
                    cJSON *json, bool replay)
{
    fp_reply_later_ex(app, req, delay_ms, status, json, replay, -1);
}

void fp_close_later(struct fp_app *app, struct evhttp_request *req, long hold_ms)
{
    pending_add(app, req, hold_ms, 0, NULL, false, -1);
}

void fp_reply_drain(struct fp_app *app)
{
    for (struct fp_pending *p = app->pending, *next; p != NULL; p = next) {
        next = p->next;
        pending_end(p);
    }
}
