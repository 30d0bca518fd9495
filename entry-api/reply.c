/*
 * reply.c - answers, their headers and their accounting.
 */
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "app.h"
#include "client_addr.h"
#include "log.h"

int64_t reply_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void reply_header(const struct reply_to *t, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(t->req), name, value);
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    default:
        return "OTHER";
    }
}

/* The request log line (debug level: HAProxy logs every request at the
 * edge), named by the client address (TRUSTED_PROXIES).  Before the reply
 * is sent: evhttp may free the request while sending it. */
static void log_request(const struct reply_to *t, int status)
{
    char client[NET_ADDR_STRLEN];
    client_addr_text(&t->app->trusted, t->req, client, sizeof(client));
    const char *uri = evhttp_request_get_uri(t->req);
    log_write(LOG_LVL_DEBUG, &(struct log_ctx){.client = client}, "%s %.200s -> %d in %.3f ms",
              method_name(evhttp_request_get_command(t->req)), uri ? uri : "-", status,
              (double)(reply_now_us() - t->t0_us) / 1000.0);
}

void reply_send(const struct reply_to *t, int status, const char *ctype, const char *body)
{
    struct app *a = t->app;
    struct evbuffer *out = evhttp_request_get_output_buffer(t->req);
    if (log_enabled(LOG_LVL_DEBUG))
        log_request(t, status);
    reply_header(t, "Content-Type", ctype);
    reply_header(t, "Cache-Control", "no-store");
    if (a->draining) /* let the client move to another worker or instance */
        reply_header(t, "Connection", "close");
    if (body)
        evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(t->req, status, NULL, NULL);
    met_response(a->m, t->route, status, reply_now_us() - t->t0_us);
    atomic_fetch_sub(&a->m->requests_in_flight, 1);
}

void reply_problem(const struct reply_to *t, enum problem_id pb, const char *detail,
                   const char *extra)
{
    char *body = detail || extra ? problem_render(pb, detail, extra) : NULL;
    const char *text = detail || extra ? body : problem_plain(pb);
    if (problem_status(pb) == 401)
        reply_header(t, "WWW-Authenticate", "Bearer realm=\"giftdrop\"");
    reply_send(t, problem_status(pb), "application/problem+json",
               text ? text : "{\"status\":503,\"code\":\"unavailable\"}");
    free(body);
}

void reply_retry_after(const struct reply_to *t, long long ms)
{
    char v[24];
    snprintf(v, sizeof(v), "%lld", ms <= 0 ? 1 : (ms + 999) / 1000);
    reply_header(t, "Retry-After", v);
}

void reply_unavailable(const struct reply_to *t, const char *detail)
{
    reply_retry_after(t, 1000);
    reply_problem(t, PB_UNAVAILABLE, detail, NULL);
}
