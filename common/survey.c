/*
 * survey.c - parse an event's survey definition once (when the event is
 * created or loaded) into a compact form, then check members' answers against
 * it on every entry.  Answers come from the internet: every string is
 * checked for UTF-8 before it is measured or echoed back in a detail message.
 */
#include "survey.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

#define SURVEY_MAX_ID 64
/* A value quoted in a detail message is cut to this many code points. */
#define SURVEY_QUOTE_MAX 40

#if defined(__GNUC__)
#define SURVEY_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SURVEY_PRINTF(f, a)
#endif

enum question_type { Q_SINGLE, Q_MULTI, Q_TEXT };

struct question {
    char id[SURVEY_MAX_ID + 1];
    enum question_type type;
    bool required;
    int nchoices;
    char *choices[SURVEY_MAX_CHOICES]; /* owned, NUL-terminated, valid UTF-8 */
    int max;                           /* multi: most picks allowed */
    int max_len;                       /* text: most code points allowed */
};

struct survey {
    int nquestions;
    struct question q[SURVEY_MAX_QUESTIONS];
};

static void say(char *buf, size_t len, const char *fmt, ...) SURVEY_PRINTF(3, 4);

/*
 * Write a message into buf (which may be NULL or empty: then nothing is
 * written).  A message cut short by the buffer is cut at a code point
 * boundary, so it stays valid UTF-8 when it ends up in a JSON body.
 */
static void say(char *buf, size_t len, const char *fmt, ...)
{
    if (buf == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf[0] = '\0';
        return;
    }
    if ((size_t)n < len)
        return;
    /* Truncated: drop a trailing incomplete multi-byte sequence. */
    size_t end = len - 1, cont = 0;
    while (end > 0 && cont < 3 && ((unsigned char)buf[end - 1] & 0xC0) == 0x80) {
        end--;
        cont++;
    }
    if (end == 0)
        return;
    unsigned char lead = (unsigned char)buf[end - 1];
    size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    if (need > cont)
        buf[end - 1] = '\0';
}

/*
 * Length in code points of s[0..len) if it is well-formed UTF-8 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF), else -1.
 */
static long utf8_length(const unsigned char *s, size_t len)
{
    long count = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c < 0x80)
            n = 1;
        else if (c >= 0xC2 && c <= 0xDF)
            n = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* UTF-16 surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else
            return -1;
        if (n > len - i)
            return -1;
        if (n > 1 && (s[i + 1] < lo || s[i + 1] > hi))
            return -1;
        for (size_t k = 2; k < n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return -1;
        }
        i += n;
        count++;
    }
    return count;
}

static long utf8_strlen(const char *s)
{
    return utf8_length((const unsigned char *)s, strlen(s));
}

/*
 * Copy untrusted s into buf for quoting in a message: at most
 * SURVEY_QUOTE_MAX code points, quotes, backslashes and control characters
 * replaced by '?', so the detail stays printable and safe to embed anywhere.
 * s must be valid UTF-8 (the callers check first).
 */
static const char *quote(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    int cps = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        bool lead = (*p & 0xC0) != 0x80;
        if (lead && ++cps > SURVEY_QUOTE_MAX) {
            if (o + 4 < cap) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        /* Leave room for a whole multi-byte sequence plus "..." and the NUL. */
        if (lead && o + 8 >= cap)
            break;
        bool bad = *p < 0x20 || *p == 0x7F || *p == '"' || *p == '\\';
        buf[o++] = bad ? (char)'?' : (char)*p;
    }
    buf[o] = '\0';
    return buf;
}

/* Question ids: 1..64 of [A-Za-z0-9_-]. */
static bool id_is_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > SURVEY_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* An integer JSON number within [lo, hi]. */
static bool int_in_range(const cJSON *item, int lo, int hi, int *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double d = item->valuedouble;
    if (!(d >= lo && d <= hi) || (double)(int)d != d)
        return false;
    *out = (int)d;
    return true;
}

/*
 * cJSON ends strings at the first NUL, so a raw NUL byte or a \u0000 escape
 * would silently shorten a choice or id.  Such definitions are refused.
 */
static bool json_has_nul(const char *s, size_t len)
{
    if (memchr(s, '\0', len) != NULL)
        return true;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 6 <= len && memcmp(s + i + 2, "0000", 4) == 0)
            return true;
        i++; /* skip the escaped character */
    }
    return false;
}

void survey_free(struct survey *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->nquestions; i++) {
        for (int k = 0; k < s->q[i].nchoices; k++)
            free(s->q[i].choices[k]);
    }
    free(s);
}

/* Keys a question may carry; anything else is most likely a typo ("requried"). */
static bool key_is_known(const char *k)
{
    static const char *const keys[] = {"id",      "type", "text",   "required",
                                       "choices", "max",  "max_len"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(k, keys[i]) == 0)
            return true;
    }
    return false;
}

/* Fill q->choices from a "choices" array.  Returns 0, GD_ESURVEY or GD_ENOMEM. */
static int parse_choices(struct question *q, const cJSON *choices, char *err, size_t err_len)
{
    char qb[4 * SURVEY_QUOTE_MAX + 8];
    int n = cJSON_GetArraySize(choices);

    if (!cJSON_IsArray(choices) || n < 1) {
        say(err, err_len, "question \"%s\": choices must be a non-empty array", q->id);
        return GD_ESURVEY;
    }
    if (n > SURVEY_MAX_CHOICES) {
        say(err, err_len, "question \"%s\": more than %d choices", q->id, SURVEY_MAX_CHOICES);
        return GD_ESURVEY;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, choices)
    {
        if (!cJSON_IsString(c) || c->valuestring[0] == '\0') {
            say(err, err_len, "question \"%s\": choices must be non-empty strings", q->id);
            return GD_ESURVEY;
        }
        long cps = utf8_strlen(c->valuestring);
        if (cps < 0 || cps > SURVEY_MAX_TEXT) {
            say(err, err_len, "question \"%s\": a choice is not valid UTF-8 or longer than %d",
                q->id, SURVEY_MAX_TEXT);
            return GD_ESURVEY;
        }
        for (int k = 0; k < q->nchoices; k++) {
            if (strcmp(q->choices[k], c->valuestring) == 0) {
                say(err, err_len, "question \"%s\": duplicate choice \"%s\"", q->id,
                    quote(c->valuestring, qb, sizeof qb));
                return GD_ESURVEY;
            }
        }
        q->choices[q->nchoices] = strdup(c->valuestring);
        if (q->choices[q->nchoices] == NULL)
            return GD_ENOMEM;
        q->nchoices++;
    }
    return GD_OK;
}

/* The type-specific fields: choices and max, or max_len. */
static int parse_limits(struct question *q, const cJSON *jq, char *err, size_t err_len)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(jq, "choices");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(jq, "max");
    const cJSON *max_len = cJSON_GetObjectItemCaseSensitive(jq, "max_len");

    if (q->type == Q_TEXT) {
        if (choices != NULL || max != NULL) {
            say(err, err_len, "question \"%s\": a text question takes max_len, not choices/max",
                q->id);
            return GD_ESURVEY;
        }
        if (!int_in_range(max_len, 1, SURVEY_MAX_TEXT, &q->max_len)) {
            say(err, err_len, "question \"%s\": max_len must be an integer in 1..%d", q->id,
                SURVEY_MAX_TEXT);
            return GD_ESURVEY;
        }
        return GD_OK;
    }
    if (max_len != NULL) {
        say(err, err_len, "question \"%s\": max_len applies only to text questions", q->id);
        return GD_ESURVEY;
    }
    if (q->type == Q_SINGLE && max != NULL) {
        say(err, err_len, "question \"%s\": max applies only to multi questions", q->id);
        return GD_ESURVEY;
    }
    int rc = parse_choices(q, choices, err, err_len);
    if (rc != GD_OK)
        return rc;
    q->max = q->type == Q_SINGLE ? 1 : q->nchoices;
    if (max != NULL && !int_in_range(max, 1, q->nchoices, &q->max)) {
        say(err, err_len, "question \"%s\": max must be an integer in 1..%d", q->id, q->nchoices);
        return GD_ESURVEY;
    }
    return GD_OK;
}

/* Parse question number idx (0-based) of s from jq. */
static int parse_question(struct survey *s, int idx, const cJSON *jq, char *err, size_t err_len)
{
    struct question *q = &s->q[idx];

    if (!cJSON_IsObject(jq)) {
        say(err, err_len, "question #%d: not an object", idx + 1);
        return GD_ESURVEY;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(jq, "id");
    if (!cJSON_IsString(id) || !id_is_valid(id->valuestring)) {
        say(err, err_len, "question #%d: id must be 1..%d characters of [A-Za-z0-9_-]", idx + 1,
            SURVEY_MAX_ID);
        return GD_ESURVEY;
    }
    strcpy(q->id, id->valuestring);
    for (int i = 0; i < idx; i++) {
        if (strcmp(s->q[i].id, q->id) == 0) {
            say(err, err_len, "question \"%s\": duplicate id", q->id);
            return GD_ESURVEY;
        }
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, jq)
    {
        if (!key_is_known(k->string)) {
            char kb[4 * SURVEY_QUOTE_MAX + 8];
            bool ok = utf8_strlen(k->string) >= 0;
            say(err, err_len, "question \"%s\": unknown field \"%s\"", q->id,
                ok ? quote(k->string, kb, sizeof kb) : "(invalid UTF-8)");
            return GD_ESURVEY;
        }
    }

    const cJSON *type = cJSON_GetObjectItemCaseSensitive(jq, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (strcmp(t, "single") == 0)
        q->type = Q_SINGLE;
    else if (strcmp(t, "multi") == 0)
        q->type = Q_MULTI;
    else if (strcmp(t, "text") == 0)
        q->type = Q_TEXT;
    else {
        say(err, err_len, "question \"%s\": type must be \"single\", \"multi\" or \"text\"", q->id);
        return GD_ESURVEY;
    }

    const cJSON *text = cJSON_GetObjectItemCaseSensitive(jq, "text");
    long text_cps = cJSON_IsString(text) ? utf8_strlen(text->valuestring) : -1;
    if (text_cps < 1 || text_cps > SURVEY_MAX_TEXT) {
        say(err, err_len, "question \"%s\": text must be a UTF-8 string of 1..%d characters", q->id,
            SURVEY_MAX_TEXT);
        return GD_ESURVEY;
    }

    const cJSON *req = cJSON_GetObjectItemCaseSensitive(jq, "required");
    if (req != NULL && !cJSON_IsBool(req)) {
        say(err, err_len, "question \"%s\": required must be true or false", q->id);
        return GD_ESURVEY;
    }
    q->required = cJSON_IsTrue(req);
    return parse_limits(q, jq, err, err_len);
}

/* Walk the parsed document into s. */
static int parse_root(struct survey *s, const cJSON *root, char *err, size_t err_len)
{
    if (!cJSON_IsObject(root)) {
        say(err, err_len, "survey must be a JSON object");
        return GD_ESURVEY;
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, root)
    {
        if (strcmp(k->string, "questions") != 0) {
            say(err, err_len, "survey: unknown field (only \"questions\" is allowed)");
            return GD_ESURVEY;
        }
    }
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root, "questions");
    if (!cJSON_IsArray(qs)) {
        say(err, err_len, "survey: questions must be an array");
        return GD_ESURVEY;
    }
    if (cJSON_GetArraySize(qs) > SURVEY_MAX_QUESTIONS) {
        say(err, err_len, "survey: more than %d questions", SURVEY_MAX_QUESTIONS);
        return GD_ESURVEY;
    }
    const cJSON *jq;
    cJSON_ArrayForEach(jq, qs)
    {
        /* Counted before parsing, so survey_free releases a half-parsed question too. */
        int idx = s->nquestions++;
        int rc = parse_question(s, idx, jq, err, err_len);
        if (rc != GD_OK)
            return rc;
    }
    return GD_OK;
}

int survey_parse(const char *json, size_t len, struct survey **out, char *err, size_t err_len)
{
    struct survey *s = NULL;
    cJSON *root = NULL;
    int rc = GD_ESURVEY;

    say(err, err_len, "ok");
    if (out == NULL)
        return GD_EINVAL;
    *out = NULL;
    if (json == NULL || len == 0) {
        say(err, err_len, "survey is empty");
        goto done;
    }
    if (json_has_nul(json, len)) {
        say(err, err_len, "survey contains a NUL character");
        goto done;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (root == NULL) {
        say(err, err_len, "survey is not valid JSON");
        goto done;
    }
    for (const char *p = end; p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            say(err, err_len, "survey: unexpected data after the JSON value");
            goto done;
        }
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        rc = GD_ENOMEM;
        say(err, err_len, "out of memory");
        goto done;
    }
    rc = parse_root(s, root, err, err_len);
    if (rc == GD_ENOMEM)
        say(err, err_len, "out of memory");
    if (rc == GD_OK) {
        *out = s;
        s = NULL;
    }
done:
    survey_free(s);
    cJSON_Delete(root);
    return rc;
}

/* Index of choice in q, or -1. */
static int find_choice(const struct question *q, const char *choice)
{
    for (int i = 0; i < q->nchoices; i++) {
        if (strcmp(q->choices[i], choice) == 0)
            return i;
    }
    return -1;
}

/* A string answer must be valid UTF-8 before it is compared, measured or quoted. */
static int check_choice(const struct question *q, const cJSON *a, char *detail, size_t len)
{
    char qb[4 * SURVEY_QUOTE_MAX + 8];
    if (utf8_strlen(a->valuestring) < 0) {
        say(detail, len, "question \"%s\": answer is not valid UTF-8", q->id);
        return -1;
    }
    int i = find_choice(q, a->valuestring);
    if (i < 0) {
        say(detail, len, "question \"%s\": choice \"%s\" is not allowed", q->id,
            quote(a->valuestring, qb, sizeof qb));
        return -1;
    }
    return i;
}

static int check_single(const struct question *q, const cJSON *a, char *detail, size_t len)
{
    if (!cJSON_IsString(a)) {
        say(detail, len, "question \"%s\": answer must be a string (one of the choices)", q->id);
        return GD_EANSWERS;
    }
    return check_choice(q, a, detail, len) < 0 ? GD_EANSWERS : GD_OK;
}

static int check_multi(const struct question *q, const cJSON *a, char *detail, size_t len)
{
    char qb[4 * SURVEY_QUOTE_MAX + 8];
    uint64_t picked = 0;

    if (!cJSON_IsArray(a)) {
        say(detail, len, "question \"%s\": answer must be an array of choices", q->id);
        return GD_EANSWERS;
    }
    int n = cJSON_GetArraySize(a);
    if (n == 0 && q->required) {
        say(detail, len, "question \"%s\": at least one choice is required", q->id);
        return GD_EANSWERS;
    }
    if (n > q->max) {
        say(detail, len, "question \"%s\": at most %d choice%s may be picked", q->id, q->max,
            q->max == 1 ? "" : "s");
        return GD_EANSWERS;
    }
    const cJSON *el;
    cJSON_ArrayForEach(el, a)
    {
        if (!cJSON_IsString(el)) {
            say(detail, len, "question \"%s\": every pick must be a string", q->id);
            return GD_EANSWERS;
        }
        int i = check_choice(q, el, detail, len);
        if (i < 0)
            return GD_EANSWERS;
        if (picked & (UINT64_C(1) << i)) {
            say(detail, len, "question \"%s\": choice \"%s\" is picked twice", q->id,
                quote(el->valuestring, qb, sizeof qb));
            return GD_EANSWERS;
        }
        picked |= UINT64_C(1) << i;
    }
    return GD_OK;
}

static int check_text(const struct question *q, const cJSON *a, char *detail, size_t len)
{
    if (!cJSON_IsString(a)) {
        say(detail, len, "question \"%s\": answer must be a string", q->id);
        return GD_EANSWERS;
    }
    long cps = utf8_strlen(a->valuestring);
    if (cps < 0) {
        say(detail, len, "question \"%s\": answer is not valid UTF-8", q->id);
        return GD_EANSWERS;
    }
    if (cps == 0 && q->required) {
        say(detail, len, "question \"%s\": answer must not be empty", q->id);
        return GD_EANSWERS;
    }
    if (cps > q->max_len) {
        say(detail, len, "question \"%s\": answer is longer than %d characters", q->id, q->max_len);
        return GD_EANSWERS;
    }
    return GD_OK;
}

/* Every member of answers names a question of s, once.  Fills given[] with the values. */
static int match_ids(const struct survey *s, const cJSON *answers, const cJSON **given,
                     char *detail, size_t len)
{
    char qb[4 * SURVEY_QUOTE_MAX + 8];
    const cJSON *a;
    cJSON_ArrayForEach(a, answers)
    {
        int idx = -1;
        for (int i = 0; i < s->nquestions; i++) {
            if (strcmp(s->q[i].id, a->string) == 0) {
                idx = i;
                break;
            }
        }
        if (idx < 0) {
            bool ok = utf8_strlen(a->string) >= 0;
            say(detail, len, "question \"%s\" is not in the survey",
                ok ? quote(a->string, qb, sizeof qb) : "(invalid UTF-8)");
            return GD_EANSWERS;
        }
        /* cJSON keeps duplicate keys; two answers to one question are refused. */
        if (given[idx] != NULL) {
            say(detail, len, "question \"%s\": answered more than once", s->q[idx].id);
            return GD_EANSWERS;
        }
        given[idx] = a;
    }
    return GD_OK;
}

int survey_check_answers(const struct survey *s, const cJSON *answers, char *detail,
                         size_t detail_len)
{
    const cJSON *given[SURVEY_MAX_QUESTIONS] = {0};

    say(detail, detail_len, "ok");
    if (s == NULL)
        return GD_EINVAL;
    if (!cJSON_IsObject(answers)) {
        say(detail, detail_len, "answers must be a JSON object");
        return GD_EANSWERS;
    }
    int rc = match_ids(s, answers, given, detail, detail_len);
    if (rc != GD_OK)
        return rc;

    for (int i = 0; i < s->nquestions && rc == GD_OK; i++) {
        const struct question *q = &s->q[i];
        if (given[i] == NULL) {
            if (q->required) {
                say(detail, detail_len, "question \"%s\": an answer is required", q->id);
                rc = GD_EANSWERS;
            }
            continue;
        }
        switch (q->type) {
        case Q_SINGLE:
            rc = check_single(q, given[i], detail, detail_len);
            break;
        case Q_MULTI:
            rc = check_multi(q, given[i], detail, detail_len);
            break;
        case Q_TEXT:
            rc = check_text(q, given[i], detail, detail_len);
            break;
        }
    }
    return rc;
}
