/*
 * request.h - the pure part of reading a client's request: path, media
 * type, trace context and the entry body checked against a survey.
 *
 * Nothing here touches libevent, Redis or the broker, so the libFuzzer
 * target tests/fuzz/entry_body_fuzz.c drives exactly the code that reads
 * untrusted bytes in production.
 */
#ifndef GD_REQUEST_H
#define GD_REQUEST_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct survey;

/* The API's paths (DESIGN §3). */
enum api_path {
    AP_UNKNOWN,
    AP_HEALTHZ, /* /healthz */
    AP_READYZ,  /* /readyz */
    AP_METRICS, /* /metrics */
    AP_EVENT,   /* /v1/events/{id} */
    AP_ENTRIES, /* /v1/events/{id}/entries */
    AP_ENTRY_ME /* /v1/events/{id}/entries/me */
};

#define REQ_MAX_EVENT_ID 999999999999999LL /* 15 digits */

/*
 * Route a decoded path (no query string).  Event ids are 1..15 decimal
 * digits without sign or leading zero; anything else is AP_UNKNOWN.
 * *event_id is set for the three event paths, else 0.
 */
enum api_path req_route(const char *path, long long *event_id);

/* 1 when content_type is application/json, any case, parameters allowed. */
int req_is_json(const char *content_type);

/* 1 for a W3C traceparent "vv-<32 hex>-<16 hex>-ff" with non-zero ids. */
int req_traceparent_ok(const char *tp);

/*
 * Parse an entry body: exactly one JSON object (nothing but whitespace
 * after it, no NUL byte, "answers" at most once).  0 and *root (caller
 * frees with cJSON_Delete), or GD_EJSON with a reason in detail, or
 * GD_ENOMEM.
 */
int req_parse_body(const char *body, size_t len, cJSON **root, char *detail, size_t cap);

/*
 * Check root's "answers" against s.  0 and *answers_json (compact JSON,
 * caller frees), or GD_EANSWERS with the offending question named in detail
 * (survey_check_answers), or GD_ENOMEM.  root is only read.
 */
int req_check_answers(const struct survey *s, const cJSON *root, char **answers_json, char *detail,
                      size_t cap);

#endif
