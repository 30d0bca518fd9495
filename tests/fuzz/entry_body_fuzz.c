/*
 * entry_body_fuzz.c - libFuzzer target for entry-api/request.c, the code
 * that reads a client's untrusted bytes: the request path, the
 * Content-Type, the traceparent header and the entry body with its answers
 * checked against a survey.
 *
 * The first byte picks one of the fixed surveys; the rest is the body.  The
 * same bytes (up to a NUL) are also routed as a path and read as a media
 * type and a traceparent.  Properties checked, beyond not crashing:
 *   - a body accepted by req_parse_body is one JSON object, no NUL inside;
 *   - answers accepted by req_check_answers re-serialise to JSON that
 *     parses back to an object, and pass the check again (stable);
 *   - every detail is a terminated, printable, valid-UTF-8 string (it goes
 *     back to clients in problem+json);
 *   - a routed event id is 1..15 digits and appears in the path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "request.h"
#include "survey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const survey_json[] = {
    "{\"questions\":[{\"id\":\"q1\",\"type\":\"single\",\"text\":\"Liked it?\",\"required\":true,"
    "\"choices\":[\"yes\",\"no\"]}]}",
    "{\"questions\":["
    "{\"id\":\"q1\",\"type\":\"single\",\"text\":\"Colour?\",\"required\":true,"
    "\"choices\":[\"red\",\"green\",\"\xec\x98\x88\"]},"
    "{\"id\":\"q2\",\"type\":\"multi\",\"text\":\"Bought?\",\"required\":true,"
    "\"choices\":[\"a\",\"b\",\"c\"],\"max\":2},"
    "{\"id\":\"q3\",\"type\":\"text\",\"text\":\"Why?\",\"max_len\":5}]}",
    "{\"questions\":[]}",
};
#define NSURVEYS (sizeof(survey_json) / sizeof(survey_json[0]))

static struct survey *surveys[NSURVEYS];

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "entry_body_fuzz: property broken: %s\n", what);
        abort();
    }
}

static void check_detail(const char *d, size_t cap)
{
    size_t len = strnlen(d, cap);
    must(len < cap, "detail not terminated");
    const unsigned char *s = (const unsigned char *)d;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        must(c >= 0x20 && c != 0x7F, "control character in detail");
        must(c < 0x80 || (c >= 0xC2 && c <= 0xF4), "bad lead byte in detail");
        must(i + n <= len, "truncated sequence in detail");
        for (size_t k = 1; k < n; k++)
            must((s[i + k] & 0xC0) == 0x80, "bad continuation in detail");
        i += n;
    }
}

static void init_surveys(void)
{
    if (surveys[0])
        return;
    for (size_t i = 0; i < NSURVEYS; i++)
        must(survey_parse(survey_json[i], strlen(survey_json[i]), &surveys[i], NULL, 0) == GD_OK,
             "fixed survey refused");
}

/* The bytes as the text of a header or path (up to the first NUL). */
static void headers_and_path(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    long long id = -1;
    enum api_path p = req_route(s, &id);
    if (p == AP_EVENT || p == AP_ENTRIES || p == AP_ENTRY_ME) {
        char digits[24];
        must(id >= 1 && id <= REQ_MAX_EVENT_ID, "event id out of range");
        snprintf(digits, sizeof(digits), "/%lld", id);
        must(strstr(s, digits) != NULL, "event id not in the path");
    } else {
        must(id == 0, "event id set for a non-event path");
    }
    (void)req_is_json(s);
    if (req_traceparent_ok(s))
        must(strlen(s) == 55, "traceparent of the wrong length accepted");
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char detail[256];
    cJSON *root = NULL;
    char *answers = NULL;
    init_surveys();
    if (size == 0)
        return 0;
    headers_and_path(data, size);
    const struct survey *sv = surveys[data[0] % NSURVEYS];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    detail[0] = '\0';
    int rc = req_parse_body(body, len, &root, detail, sizeof(detail));
    if (rc != GD_OK) {
        must(rc == GD_EJSON || rc == GD_ENOMEM, "unexpected parse code");
        must(root == NULL, "root set on failure");
        check_detail(detail, sizeof(detail));
        return 0;
    }
    must(cJSON_IsObject(root) && memchr(body, '\0', len) == NULL, "accepted body is not an object");
    rc = req_check_answers(sv, root, &answers, detail, sizeof(detail));
    if (rc == GD_OK) {
        cJSON *back = cJSON_Parse(answers);
        must(back && cJSON_IsObject(back), "serialised answers do not parse back");
        char *again = NULL;
        cJSON *wrap = cJSON_CreateObject();
        cJSON_AddItemToObject(wrap, "answers", back);
        must(req_check_answers(sv, wrap, &again, detail, sizeof(detail)) == GD_OK,
             "serialised answers refused the second time");
        free(again);
        cJSON_Delete(wrap);
    } else {
        must(rc == GD_EANSWERS || rc == GD_ENOMEM, "unexpected answers code");
        must(answers == NULL, "answers set on failure");
        check_detail(detail, sizeof(detail));
    }
    free(answers);
    cJSON_Delete(root);
    return 0;
}
