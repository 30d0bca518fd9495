/*
 * request.c - path routing, media type, traceparent and entry-body checks.
 */
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "survey.h"

#define EVENTS_PREFIX "/v1/events/"

/* Digits of an event id: 1..15, no leading zero.  Returns the count, 0 if none. */
static size_t event_digits(const char *p, long long *id)
{
    size_t n = 0;
    long long v = 0;
    if (p[0] < '1' || p[0] > '9')
        return 0;
    while (p[n] >= '0' && p[n] <= '9') {
        if (n == 15)
            return 0;
        v = v * 10 + (p[n++] - '0');
    }
    *id = v;
    return n;
}

enum api_path req_route(const char *path, long long *event_id)
{
    *event_id = 0;
    if (strcmp(path, "/healthz") == 0)
        return AP_HEALTHZ;
    if (strcmp(path, "/readyz") == 0)
        return AP_READYZ;
    if (strcmp(path, "/metrics") == 0)
        return AP_METRICS;
    if (strncmp(path, EVENTS_PREFIX, strlen(EVENTS_PREFIX)) != 0)
        return AP_UNKNOWN;
    long long id = 0;
    const char *p = path + strlen(EVENTS_PREFIX);
    size_t n = event_digits(p, &id);
    if (n == 0)
        return AP_UNKNOWN;
    const char *rest = p + n;
    enum api_path r = rest[0] == '\0'                    ? AP_EVENT
                      : strcmp(rest, "/entries") == 0    ? AP_ENTRIES
                      : strcmp(rest, "/entries/me") == 0 ? AP_ENTRY_ME
                                                         : AP_UNKNOWN;
    if (r != AP_UNKNOWN)
        *event_id = id;
    return r;
}

int req_is_json(const char *ct)
{
    if (!ct)
        return 0;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

static int lower_hex(const char *s, size_t n, int *all_zero)
{
    *all_zero = 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        if (c != '0')
            *all_zero = 0;
    }
    return 1;
}

int req_traceparent_ok(const char *tp)
{
    int zero_version, zero_trace, zero_parent, zero_flags;
    if (!tp || strlen(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
        return 0;
    if (!lower_hex(tp, 2, &zero_version) || strncmp(tp, "ff", 2) == 0 ||
        !lower_hex(tp + 3, 32, &zero_trace) || !lower_hex(tp + 36, 16, &zero_parent) ||
        !lower_hex(tp + 53, 2, &zero_flags))
        return 0;
    return !zero_trace && !zero_parent;
}

int req_parse_body(const char *body, size_t len, cJSON **root, char *detail, size_t cap)
{
    const char *end = NULL;
    *root = NULL;
    if (len == 0 || memchr(body, '\0', len)) {
        snprintf(detail, cap, "%s", len ? "the body holds a NUL byte" : "the body is empty");
        return GD_EJSON;
    }
    cJSON *r = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!r) {
        snprintf(detail, cap, "the body is not valid JSON");
        return GD_EJSON;
    }
    while (end && end < body + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    int count = 0;
    for (const cJSON *m = r->child; m && cJSON_IsObject(r); m = m->next)
        count += m->string && strcmp(m->string, "answers") == 0;
    const char *why = !cJSON_IsObject(r)          ? "the body must be a JSON object"
                      : !end || end != body + len ? "data after the JSON object"
                      : count > 1                 ? "\"answers\" appears twice"
                                                  : NULL;
    if (why) {
        snprintf(detail, cap, "%s", why);
        cJSON_Delete(r);
        return GD_EJSON;
    }
    *root = r;
    return GD_OK;
}

int req_check_answers(const struct survey *s, const cJSON *root, char **answers_json, char *detail,
                      size_t cap)
{
    const cJSON *answers = cJSON_GetObjectItemCaseSensitive(root, "answers");
    *answers_json = NULL;
    if (!answers) {
        snprintf(detail, cap, "the body has no \"answers\" object");
        return GD_EANSWERS;
    }
    int rc = survey_check_answers(s, answers, detail, cap);
    if (rc != GD_OK)
        return rc == GD_EINVAL ? GD_EANSWERS : rc;
    *answers_json = cJSON_PrintUnformatted(answers);
    return *answers_json ? GD_OK : GD_ENOMEM;
}
