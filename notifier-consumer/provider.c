/*
 * provider.c - the providers' API shapes and the meaning of their answers
 * (see provider.h).
 */
#include "provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errors.h"

const char *provider_api_name(enum provider_api api)
{
    return api == API_ALIMTALK ? "alimtalk" : "sms";
}

const char *provider_outcome_name(enum provider_outcome o)
{
    static const char *const names[] = {"sent",        "not_kakao",     "permanent", "uncertain",
                                        "retry_clean", "retry_unknown", "not_found"};
    return (size_t)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unknown";
}

static int fits(int n, size_t cap)
{
    return n >= 0 && (size_t)n < cap ? GD_OK : GD_ETOOBIG;
}

int provider_send_url(enum provider_api api, const char *base, const char *appkey, char *out,
                      size_t cap)
{
    if (api == API_ALIMTALK)
        return fits(snprintf(out, cap, "%s/alimtalk/v2.3/appkeys/%s/messages", base, appkey), cap);
    return fits(snprintf(out, cap, "%s/sms/v3.0/appKeys/%s/sender/sms", base, appkey), cap);
}

int provider_lookup_url(const char *base, const char *key, char *out, size_t cap)
{
    return fits(snprintf(out, cap, "%s/v1/idempotency/%s", base, key), cap);
}

int provider_query_url(enum provider_api api, const char *base, const char *appkey,
                       const char *request_id, char *out, size_t cap)
{
    /* A provider id is echoed into a URL path: refuse anything but safe characters. */
    if (request_id[0] == '\0' || strspn(request_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                                                    "rstuvwxyz0123456789-_.") != strlen(request_id))
        return GD_EINVAL;
    if (api == API_ALIMTALK)
        return fits(
            snprintf(out, cap, "%s/alimtalk/v2.3/appkeys/%s/messages/%s", base, appkey, request_id),
            cap);
    return fits(
        snprintf(out, cap, "%s/sms/v3.0/appKeys/%s/sender/sms/%s", base, appkey, request_id), cap);
}

int provider_key(enum provider_api api, const struct winner_msg *w, char *out, size_t cap)
{
    /* The winner's own channel uses the entry id; the SMS fallback of a
     * KakaoTalk winner needs a key of its own (the AlimTalk key is spent). */
    int fallback = api == API_SMS && strcmp(w->channel, "kakao") == 0;
    return fits(snprintf(out, cap, "%s%s", w->entry_id, fallback ? "-sms" : ""), cap);
}

char *provider_send_body(enum provider_api api, const struct gd_config *cfg,
                         const struct winner_msg *w, const char *coupon)
{
    char text[256], seq[24];
    snprintf(text, sizeof(text), "[giftdrop] Your gift coupon: %s", coupon);
    snprintf(seq, sizeof(seq), "%ld", w->seq);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (api == API_ALIMTALK) {
        cJSON_AddStringToObject(o, "senderKey", cfg->provider_appkey);
        cJSON_AddStringToObject(o, "templateCode", "GIFT_COUPON");
    } else {
        cJSON_AddStringToObject(o, "templateId", "GIFT_COUPON_SMS");
        cJSON_AddStringToObject(o, "body", text);
        cJSON_AddStringToObject(o, "sendNo", "15880000");
    }
    cJSON *list = cJSON_AddArrayToObject(o, "recipientList");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToArray(list, r);
    cJSON_AddStringToObject(r, "recipientNo", w->phone);
    cJSON *tp = cJSON_AddObjectToObject(r, "templateParameter");
    cJSON_AddStringToObject(tp, "coupon_code", coupon);
    cJSON_AddStringToObject(tp, "seq", seq);
    if (api == API_ALIMTALK) {
        /* Our own fallback, once, under its own key: see provider.h. */
        cJSON *rs = cJSON_AddObjectToObject(r, "resendParameter");
        cJSON_AddBoolToObject(rs, "isResend", 0);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* The parts of {"header":{...},"message":{"requestId","sendResults":[{..}]}} we read. */
struct answer {
    int readable; /* JSON with header.isSuccessful true and a first result code */
    int code;     /* sendResults[0].resultCode */
    char message[120];
    char request_id[96];
    int duplicate; /* header.resultMessage DUPLICATED_REQUEST */
};

static void copy_str(char *dst, size_t cap, const cJSON *v)
{
    if (cJSON_IsString(v))
        snprintf(dst, cap, "%s", v->valuestring);
}

static void parse_answer(const char *body, struct answer *a)
{
    memset(a, 0, sizeof(*a));
    cJSON *o = cJSON_Parse(body);
    const cJSON *hdr = cJSON_GetObjectItemCaseSensitive(o, "header");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
    const cJSON *res = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(msg, "sendResults"), 0);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(res, "resultCode");
    const cJSON *hmsg = cJSON_GetObjectItemCaseSensitive(hdr, "resultMessage");
    a->readable =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(hdr, "isSuccessful")) && cJSON_IsNumber(code);
    if (a->readable) {
        a->code = code->valueint;
        copy_str(a->message, sizeof(a->message),
                 cJSON_GetObjectItemCaseSensitive(res, "resultMessage"));
        copy_str(a->request_id, sizeof(a->request_id),
                 cJSON_GetObjectItemCaseSensitive(msg, "requestId"));
        a->duplicate = cJSON_IsString(hmsg) && strcmp(hmsg->valuestring, "DUPLICATED_REQUEST") == 0;
    }
    cJSON_Delete(o);
}

static void result_init(struct provider_result *out, const struct provider_http *h)
{
    memset(out, 0, sizeof(*out));
    out->retry_after_s = h->retry_after_s;
}

/* A per-recipient code read from an answer the endpoint gave properly. */
static void from_code(enum provider_api api, const struct answer *a, struct provider_result *out)
{
    out->result_code = a->code;
    out->endpoint_ok = 1;
    snprintf(out->request_id, sizeof(out->request_id), "%s", a->request_id);
    switch (a->code) {
    case PROVIDER_RC_OK:
        out->outcome = a->request_id[0] ? OUT_SENT : OUT_RETRY_UNKNOWN;
        if (!a->request_id[0])
            snprintf(out->error, sizeof(out->error), "success without a requestId");
        return;
    case PROVIDER_RC_TEMPORARY:
        out->outcome = OUT_RETRY_CLEAN;
        break;
    case PROVIDER_RC_UNKNOWN:
        out->outcome = a->request_id[0] ? OUT_UNCERTAIN : OUT_RETRY_UNKNOWN;
        break;
    case PROVIDER_RC_NOT_KAKAO:
        /* Only AlimTalk can refuse a number for not being on KakaoTalk. */
        out->outcome = api == API_ALIMTALK ? OUT_NOT_KAKAO : OUT_PERMANENT;
        break;
    default: /* invalid number, template errors and codes we do not know */
        out->outcome = OUT_PERMANENT;
        break;
    }
    snprintf(out->error, sizeof(out->error), "%s: recipient result %d %s", provider_api_name(api),
             a->code, a->message);
}

static void transport_failure(const struct provider_http *h, const char *what,
                              struct provider_result *out)
{
    out->outcome = h->request_left ? OUT_RETRY_UNKNOWN : OUT_RETRY_CLEAN;
    snprintf(out->error, sizeof(out->error), "%s: %s%s", what, h->tls_failure ? "TLS: " : "",
             h->err && h->err[0] ? h->err : "transport error");
}

void provider_classify_send(enum provider_api api, const struct provider_http *h,
                            struct provider_result *out)
{
    struct answer a;
    result_init(out, h);
    if (!h->transport_ok) {
        transport_failure(h, provider_api_name(api), out);
        return;
    }
    if (h->status == 200) {
        parse_answer(h->body, &a);
        if (!a.readable) {
            out->outcome = OUT_RETRY_UNKNOWN;
            snprintf(out->error, sizeof(out->error), "%s: unreadable answer to a send",
                     provider_api_name(api));
            return;
        }
        from_code(api, &a, out);
        out->duplicate = a.duplicate || h->replay;
        return;
    }
    /* 429 and 503 refuse before doing anything; 500, 502 and 504 may come
     * from behind a proxy after the send went out. */
    int clean = h->status == 429 || h->status == 503;
    if (h->status == 429 || h->status >= 500) {
        out->outcome = clean ? OUT_RETRY_CLEAN : OUT_RETRY_UNKNOWN;
        snprintf(out->error, sizeof(out->error), "%s: HTTP %ld", provider_api_name(api), h->status);
        return;
    }
    out->endpoint_ok = 1;
    if (h->status == 401 || h->status == 403) {
        /* Our credentials: an operator fixes them and the retries succeed. */
        out->outcome = OUT_RETRY_CLEAN;
        snprintf(out->error, sizeof(out->error),
                 "%s: HTTP %ld, the provider refuses our secret key", provider_api_name(api),
                 h->status);
        return;
    }
    out->outcome = OUT_PERMANENT;
    snprintf(out->error, sizeof(out->error), "%s: HTTP %ld, request refused",
             provider_api_name(api), h->status);
}

/* Lookups and queries: the stored answer, "unknown to the provider", or
 * "cannot tell" (then nothing may be resent). */
static void classify_stored(enum provider_api api, const struct provider_http *h, const char *what,
                            enum provider_outcome on_404, struct provider_result *out)
{
    struct answer a;
    result_init(out, h);
    out->retry_after_s = -1;
    if (!h->transport_ok) {
        transport_failure(h, what, out);
        out->outcome = OUT_RETRY_UNKNOWN; /* we still do not know */
        return;
    }
    if (h->status == 404) {
        out->outcome = on_404;
        out->endpoint_ok = 1;
        snprintf(out->error, sizeof(out->error), "%s: not found", what);
        return;
    }
    if (h->status == 200) {
        parse_answer(h->body, &a);
        if (a.readable) {
            from_code(api, &a, out);
            out->duplicate = 1;
            if (out->outcome == OUT_UNCERTAIN) /* a query must not answer "query me" */
                out->outcome = OUT_RETRY_UNKNOWN;
            return;
        }
    }
    out->outcome = OUT_RETRY_UNKNOWN;
    snprintf(out->error, sizeof(out->error), "%s: HTTP %ld, cannot tell whether it was sent", what,
             h->status);
}

void provider_classify_lookup(enum provider_api api, const struct provider_http *h,
                              struct provider_result *out)
{
    classify_stored(api, h, "idempotency lookup", OUT_NOT_FOUND, out);
}

void provider_classify_query(enum provider_api api, const struct provider_http *h,
                             struct provider_result *out)
{
    /* The request id came from the provider: "not found" is no proof. */
    classify_stored(api, h, "request query", OUT_RETRY_UNKNOWN, out);
}
