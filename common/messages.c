#include "messages.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errors.h"

int member_id_valid(const char *id)
{
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= MSG_MEMBER_MAX;
}

int phone_valid(const char *p)
{
    size_t n = 0;
    if (*p == '+')
        p++;
    for (; *p; p++, n++)
        if (*p < '0' || *p > '9')
            return 0;
    return n >= 6 && n <= 20;
}

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t why_len, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return GD_EMESSAGE;
}

/* Copy a required string field of at most cap-1 bytes. */
static int get_str(const cJSON *o, const char *key, char *dst, size_t cap, char *why,
                   size_t why_len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(it))
        return fail(why, why_len, "field \"%s\" missing or not a string", key);
    if (strlen(it->valuestring) >= cap || it->valuestring[0] == '\0')
        return fail(why, why_len, "field \"%s\" empty or too long", key);
    memcpy(dst, it->valuestring, strlen(it->valuestring) + 1);
    return GD_OK;
}

/* A required positive integer that fits a long long exactly. */
static int get_id(const cJSON *o, const char *key, long long *out, char *why, size_t why_len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 9007199254740991.0 ||
        floor(it->valuedouble) != it->valuedouble)
        return fail(why, why_len, "field \"%s\" missing or not a positive integer", key);
    *out = (long long)it->valuedouble;
    return GD_OK;
}

static int check_time(const char *s, const char *key, char *why, size_t why_len)
{
    int64_t ms;
    if (time_parse_rfc3339(s, &ms) != GD_OK)
        return fail(why, why_len, "field \"%s\" is not an RFC 3339 time", key);
    return GD_OK;
}

int entry_msg_encode(const struct entry_msg *m, char **out, size_t *len)
{
    /* answers_json is already compact JSON validated by the caller: splice it in. */
    const char *answers = m->answers_json ? m->answers_json : "{}";
    size_t cap = strlen(answers) + 512;
    char *buf = malloc(cap);
    if (!buf)
        return GD_ENOMEM;
    int n = snprintf(buf, cap,
                     "{\"entry_id\":\"%s\",\"event_id\":%lld,\"member_id\":\"%s\","
                     "\"submitted_at\":\"%s\",\"answers\":%s}",
                     m->entry_id, m->event_id, m->member_id, m->submitted_at, answers);
    if (n < 0 || (size_t)n >= cap) {
        free(buf);
        return GD_ENOMEM;
    }
    *out = buf;
    *len = (size_t)n;
    return GD_OK;
}

int entry_msg_decode(const char *body, size_t len, struct entry_msg *m, char *why, size_t why_len)
{
    int rc;
    memset(m, 0, sizeof(*m));
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        rc = fail(why, why_len, "%s", "body is not a JSON object");
        goto out;
    }
    if ((rc = get_str(root, "entry_id", m->entry_id, sizeof(m->entry_id), why, why_len)) ||
        (rc = get_id(root, "event_id", &m->event_id, why, why_len)) ||
        (rc = get_str(root, "member_id", m->member_id, sizeof(m->member_id), why, why_len)) ||
        (rc = get_str(root, "submitted_at", m->submitted_at, sizeof(m->submitted_at), why,
                      why_len)) ||
        (rc = check_time(m->submitted_at, "submitted_at", why, why_len)))
        goto out;
    if (!uuid_valid(m->entry_id)) {
        rc = fail(why, why_len, "field \"%s\" is not a UUID", "entry_id");
        goto out;
    }
    if (!member_id_valid(m->member_id)) {
        rc = fail(why, why_len, "field \"%s\" has characters outside [A-Za-z0-9_.-]", "member_id");
        goto out;
    }
    const cJSON *answers = cJSON_GetObjectItemCaseSensitive(root, "answers");
    if (!cJSON_IsObject(answers)) {
        rc = fail(why, why_len, "field \"%s\" missing or not an object", "answers");
        goto out;
    }
    m->answers_json = cJSON_PrintUnformatted(answers);
    rc = m->answers_json ? GD_OK : GD_ENOMEM;
out:
    cJSON_Delete(root);
    return rc;
}

void entry_msg_clear(struct entry_msg *m)
{
    free(m->answers_json);
    m->answers_json = NULL;
}

int winner_msg_encode(const struct winner_msg *m, char **out, size_t *len)
{
    size_t cap = 512;
    /* Every field is from a checked alphabet, so no JSON escaping is needed;
     * an empty phone (no member row) is allowed here and refused downstream. */
    if (!member_id_valid(m->member_id) || (m->phone[0] && !phone_valid(m->phone)))
        return GD_EINVAL;
    char *buf = malloc(cap);
    if (!buf)
        return GD_ENOMEM;
    int n =
        snprintf(buf, cap,
                 "{\"entry_id\":\"%s\",\"event_id\":%lld,\"member_id\":\"%s\",\"seq\":%ld,"
                 "\"channel\":\"%s\",\"phone\":\"%s\",\"won_at\":\"%s\"}",
                 m->entry_id, m->event_id, m->member_id, m->seq, m->channel, m->phone, m->won_at);
    if (n < 0 || (size_t)n >= cap) {
        free(buf);
        return GD_ENOMEM;
    }
    *out = buf;
    *len = (size_t)n;
    return GD_OK;
}

int winner_msg_decode(const char *body, size_t len, struct winner_msg *m, char *why, size_t why_len)
{
    int rc;
    long long seq = 0;
    memset(m, 0, sizeof(*m));
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        rc = fail(why, why_len, "%s", "body is not a JSON object");
        goto out;
    }
    if ((rc = get_str(root, "entry_id", m->entry_id, sizeof(m->entry_id), why, why_len)) ||
        (rc = get_id(root, "event_id", &m->event_id, why, why_len)) ||
        (rc = get_str(root, "member_id", m->member_id, sizeof(m->member_id), why, why_len)) ||
        (rc = get_id(root, "seq", &seq, why, why_len)) ||
        (rc = get_str(root, "channel", m->channel, sizeof(m->channel), why, why_len)) ||
        (rc = get_str(root, "phone", m->phone, sizeof(m->phone), why, why_len)) ||
        (rc = get_str(root, "won_at", m->won_at, sizeof(m->won_at), why, why_len)) ||
        (rc = check_time(m->won_at, "won_at", why, why_len)))
        goto out;
    m->seq = (long)seq;
    if (!uuid_valid(m->entry_id))
        rc = fail(why, why_len, "field \"%s\" is not a UUID", "entry_id");
    else if (!member_id_valid(m->member_id))
        rc = fail(why, why_len, "field \"%s\" has characters outside [A-Za-z0-9_.-]", "member_id");
    else if (!phone_valid(m->phone))
        rc = fail(why, why_len, "field \"%s\" is not a phone number", "phone");
    else if (strcmp(m->channel, "kakao") != 0 && strcmp(m->channel, "sms") != 0)
        rc = fail(why, why_len, "field \"%s\" is neither \"kakao\" nor \"sms\"", "channel");
out:
    cJSON_Delete(root);
    return rc;
}
