/*
 * problem.h - the public API's error answers (RFC 9457 problem+json), one
 * table: stable machine-readable code, HTTP status, title.  DESIGN §3.
 */
#ifndef GD_PROBLEM_H
#define GD_PROBLEM_H

#include <stddef.h>

/* X(enum, code, status, title) */
#define GD_PROBLEM_LIST(X)                                                                         \
    X(PB_BAD_REQUEST, "bad_request", 400, "Malformed HTTP request")                                \
    X(PB_INVALID_JSON, "invalid_json", 400, "Request body is not valid JSON")                      \
    X(PB_INVALID_ANSWERS, "invalid_answers", 400, "Answers do not fit the survey")                 \
    X(PB_UNAUTHORIZED, "unauthorized", 401, "Missing or invalid bearer token")                     \
    X(PB_NOT_ELIGIBLE, "not_eligible", 403, "No qualifying purchase for this event")               \
    X(PB_EVENT_NOT_FOUND, "event_not_found", 404, "Unknown event")                                 \
    X(PB_ENTRY_NOT_FOUND, "entry_not_found", 404, "No entry for this member")                      \
    X(PB_NOT_FOUND, "not_found", 404, "No such resource")                                          \
    X(PB_METHOD_NOT_ALLOWED, "method_not_allowed", 405, "Method not allowed")                      \
    X(PB_SOLD_OUT, "sold_out", 410, "All coupons are gone")                                        \
    X(PB_EVENT_CLOSED, "event_closed", 410, "The event has closed")                                \
    X(PB_BODY_TOO_LARGE, "body_too_large", 413, "Request body is too large")                       \
    X(PB_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415, "Content-Type must be JSON")       \
    X(PB_EVENT_NOT_OPEN, "event_not_open", 425, "The event has not opened yet")                    \
    X(PB_RATE_LIMITED, "rate_limited", 429, "Too many requests")                                   \
    X(PB_HEADERS_TOO_LARGE, "headers_too_large", 431, "Request headers are too large")             \
    X(PB_NOT_IMPLEMENTED, "method_not_implemented", 501, "Method not implemented")                 \
    X(PB_UNAVAILABLE, "unavailable", 503, "Service temporarily unavailable")

enum problem_id {
#define GD_PB_ENUM(id, code, status, title) id,
    GD_PROBLEM_LIST(GD_PB_ENUM)
#undef GD_PB_ENUM
        PB_COUNT
};

const char *problem_code(enum problem_id id);
int problem_status(enum problem_id id);
const char *problem_title(enum problem_id id);

/*
 * Render {"type","title","status","detail","code"[,extra]} into a malloc'd
 * string (caller frees); extra is a JSON fragment of additional members
 * without braces, e.g. "\"opens_in_ms\":1500", or NULL.  NULL when out of memory.
 */
char *problem_render(enum problem_id id, const char *detail, const char *extra);
/*
 * problem_render(id, NULL, NULL), rendered once per process and kept: the
 * answers that carry no detail (a 410 from memory at spike rates) cost no
 * allocation.  Not thread-safe on first use; NULL when out of memory.
 */
const char *problem_plain(enum problem_id id);

struct evhttp_request;
/*
 * Answer req with problem id straight through evhttp (no route metrics):
 * problem+json, Cache-Control: no-store, and Connection: close when close is
 * nonzero.  detail NULL = the title.  For the answers no router gives.
 */
void problem_send(struct evhttp_request *req, enum problem_id id, const char *detail, int close);

/*
 * This file also defines evhttp_send_error(), replacing libevent's in every
 * program that links it, so the answers libevent gives by itself (malformed
 * request, headers or body over the limits, a method it does not parse) are
 * problem+json too.  See problem.c for why and how.
 */

#endif
