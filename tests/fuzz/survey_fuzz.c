/*
 * survey_fuzz.c - libFuzzer target for common/survey.c.
 *
 * Each input is used three ways:
 *   1. as a survey definition for survey_parse;
 *   2. as answers JSON checked against a fixed survey that has every
 *      question type, required and optional;
 *   3. when it holds a NUL byte: the part before it is a survey and the part
 *      after it the answers for that survey.
 * Every detail message must be NUL-terminated, valid UTF-8 and free of
 * control characters and double quotes other than the ones around names,
 * since it is handed back to clients in a problem+json body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "survey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_json[] =
    "{\"questions\":["
    "{\"id\":\"q1\",\"type\":\"single\",\"text\":\"Colour?\",\"required\":true,"
    "\"choices\":[\"red\",\"green\",\"blue\",\"\xec\x98\x88\"]},"
    "{\"id\":\"q2\",\"type\":\"multi\",\"text\":\"Bought?\",\"required\":true,"
    "\"choices\":[\"a\",\"b\",\"c\",\"d\"],\"max\":2},"
    "{\"id\":\"q3\",\"type\":\"text\",\"text\":\"Comments\",\"max_len\":5},"
    "{\"id\":\"q4\",\"type\":\"multi\",\"text\":\"Optional\",\"choices\":[\"x\",\"y\"]},"
    "{\"id\":\"q5\",\"type\":\"text\",\"text\":\"Name\",\"required\":true,\"max_len\":3}"
    "]}";

static struct survey *fixed;

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "survey_fuzz: property broken: %s\n", what);
        abort();
    }
}

/* A message for humans and JSON bodies: terminated, valid UTF-8, no control characters. */
static void check_message(const char *msg, size_t cap)
{
    size_t len = strnlen(msg, cap);
    must(len < cap, "message not terminated");
    const unsigned char *s = (const unsigned char *)msg;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        must(c >= 0x20 && c != 0x7F, "control character in message");
        must(c < 0x80 || (c >= 0xC2 && c <= 0xF4), "bad lead byte in message");
        must(i + n <= len, "truncated sequence in message");
        for (size_t k = 1; k < n; k++)
            must((s[i + k] & 0xC0) == 0x80, "bad continuation in message");
        i += n;
    }
}

static void init_once(void)
{
    char err[256];
    if (fixed != NULL)
        return;
    must(survey_parse(fixed_json, strlen(fixed_json), &fixed, err, sizeof err) == GD_OK,
         "fixed survey");
}

static void parse_survey(const char *json, size_t len, struct survey **out)
{
    char err[256];
    *out = NULL;
    int rc = survey_parse(json, len, out, err, sizeof err);
    must(rc == GD_OK || rc == GD_ESURVEY, "survey_parse code");
    must((rc == GD_OK) == (*out != NULL), "survey_parse result and code agree");
    check_message(err, sizeof err);
}

static void check_answers(const struct survey *s, const char *json, size_t len)
{
    cJSON *answers = cJSON_ParseWithLength(json, len);
    if (answers == NULL)
        return;
    char detail[256];
    int rc = survey_check_answers(s, answers, detail, sizeof detail);
    must(rc == GD_OK || rc == GD_EANSWERS, "survey_check_answers code");
    check_message(detail, sizeof detail);
    /* The verdict does not depend on the room left for the message. */
    char tiny[7];
    must(survey_check_answers(s, answers, tiny, sizeof tiny) == rc, "verdict with small buffer");
    check_message(tiny, sizeof tiny);
    must(survey_check_answers(s, answers, NULL, 0) == rc, "verdict without buffer");
    cJSON_Delete(answers);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct survey *s;

    init_once();
    parse_survey(text, size, &s);
    survey_free(s);

    check_answers(fixed, text, size);

    const char *nul = memchr(text, '\0', size);
    if (nul != NULL) {
        parse_survey(text, (size_t)(nul - text), &s);
        if (s != NULL)
            check_answers(s, nul + 1, size - (size_t)(nul - text) - 1);
        survey_free(s);
    }
    return 0;
}
