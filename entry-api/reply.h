/*
 * reply.h - answering a request: JSON or problem+json (RFC 9457) bodies,
 * the headers DESIGN §3 asks for, and the per-route metrics.  Every request
 * the router takes is answered through reply_send exactly once.
 */
#ifndef GD_REPLY_H
#define GD_REPLY_H

#include <stdint.h>

#include <event2/http.h>

#include "metrics.h"
#include "problem.h"

struct app;

/* Where an answer goes; embedded in per-request state, borrowed otherwise. */
struct reply_to {
    struct app *app;
    struct evhttp_request *req;
    enum route route;
    int64_t t0_us; /* when the router got the request (monotonic) */
};

/* Monotonic microseconds, the clock of t0_us. */
int64_t reply_now_us(void);

/* Send status with body (a NUL-terminated string, may be NULL) as ctype. */
void reply_send(const struct reply_to *t, int status, const char *ctype, const char *body);
/* problem+json for pb; detail NULL = the title; extra: JSON members to add, or NULL.
 * 401 carries WWW-Authenticate: Bearer. */
void reply_problem(const struct reply_to *t, enum problem_id pb, const char *detail,
                   const char *extra);
/* Retry-After in whole seconds, rounded up, at least 1. */
void reply_retry_after(const struct reply_to *t, long long ms);
/* 503 unavailable with Retry-After: 1; nothing was recorded, safe to retry. */
void reply_unavailable(const struct reply_to *t, const char *detail);
/* Add a response header. */
void reply_header(const struct reply_to *t, const char *name, const char *value);

#endif
