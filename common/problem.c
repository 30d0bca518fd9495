#include "problem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>

static const struct {
    const char *code;
    int status;
    const char *title;
} problems[PB_COUNT] = {
#define GD_PB_ROW(id, code, status, title) [id] = {code, status, title},
    GD_PROBLEM_LIST(GD_PB_ROW)
#undef GD_PB_ROW
};

const char *problem_code(enum problem_id id)
{
    return problems[id].code;
}

int problem_status(enum problem_id id)
{
    return problems[id].status;
}

const char *problem_title(enum problem_id id)
{
    return problems[id].title;
}

char *problem_render(enum problem_id id, const char *detail, const char *extra)
{
    char type[128];
    snprintf(type, sizeof(type), "https://giftdrop.dev/problems/%s", problems[id].code);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "title", problems[id].title);
    cJSON_AddNumberToObject(o, "status", problems[id].status);
    cJSON_AddStringToObject(o, "detail", detail ? detail : problems[id].title);
    cJSON_AddStringToObject(o, "code", problems[id].code);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!body || !extra || !extra[0])
        return body;
    /* splice the extra members before the closing brace */
    size_t n = strlen(body), e = strlen(extra);
    char *out = malloc(n + e + 2);
    if (out) {
        memcpy(out, body, n - 1);
        out[n - 1] = ',';
        memcpy(out + n, extra, e);
        out[n + e] = '}';
        out[n + e + 1] = '\0';
    }
    free(body);
    return out;
}

const char *problem_plain(enum problem_id id)
{
    static char *plain[PB_COUNT];
    if (!plain[id])
        plain[id] = problem_render(id, NULL, NULL);
    return plain[id];
}

void problem_send(struct evhttp_request *req, enum problem_id id, const char *detail, int close)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char *body = detail ? problem_render(id, detail, NULL) : NULL;
    const char *text = detail ? body : problem_plain(id);
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(h, "Content-Type", "application/problem+json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (close)
        evhttp_add_header(h, "Connection", "close");
    if (b && text)
        evbuffer_add(b, text, strlen(text));
    evhttp_send_reply(req, problems[id].status, NULL, b);
    if (b)
        evbuffer_free(b);
    free(body);
}

/* Which problem an evhttp error status stands for.  413 covers both a body
 * and a request head over the limit: a request that announced a body
 * (Content-Length or chunked) overflowed with it, else its head did. */
static enum problem_id problem_for_status(struct evhttp_request *req, int status)
{
    const struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    switch (status) {
    case 413:
        return in && (evhttp_find_header(in, "Content-Length") ||
                      evhttp_find_header(in, "Transfer-Encoding"))
                   ? PB_BODY_TOO_LARGE
                   : PB_HEADERS_TOO_LARGE;
    case 404:
        return PB_NOT_FOUND;
    case 405:
        return PB_METHOD_NOT_ALLOWED;
    case 501:
        return PB_NOT_IMPLEMENTED;
    default:
        return status >= 500 ? PB_UNAVAILABLE : PB_BAD_REQUEST;
    }
}

/*
 * libevent's evhttp_send_error, replaced.  evhttp answers by itself the
 * requests it cannot hand to a callback: a malformed request line or header
 * (400), headers or a body over evhttp_set_max_{headers,body}_size (413), a
 * method outside evhttp_set_allowed_methods (501), an Expect it does not
 * know (417).  Its body is an HTML page, and DESIGN §3 wants every error as
 * problem+json.  libevent 2.1 has no hook for these answers, but its own
 * calls to evhttp_send_error go through the PLT (checked with objdump on
 * Debian 12's libevent-2.1.so.7: evhttp_handle_request jumps to
 * evhttp_send_error@plt), so this definition in the executable takes their
 * place, as it does for our own calls.  It keeps the original's contract:
 * one answer, Connection: close; reason, when given, becomes the detail.
 * tests/integration/api_hardening.sh checks the answers on the wire.
 */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    enum problem_id id = problem_for_status(req, error);
    const char *detail = reason;
    if (!detail && id == PB_BAD_REQUEST)
        detail = "the request line or a header could not be parsed, or the request head is over "
                 "this server's limit";
    else if (!detail && id == PB_BODY_TOO_LARGE)
        detail = "the request body is over this server's limit";
    else if (!detail && id == PB_HEADERS_TOO_LARGE)
        detail = "the request line and headers are over this server's limit";
    problem_send(req, id, detail, 1);
}
