#include "provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "log.h"

#define RESP_MAX 65536

struct provider_resp {
    char buf[RESP_MAX];
    size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct provider_resp *r = arg;
    size_t take = size * n;
    if (take > RESP_MAX - 1 - r->len)
        take = RESP_MAX - 1 - r->len;
    memcpy(r->buf + r->len, data, take);
    r->len += take;
    r->buf[r->len] = '\0';
    return size * n;
}

int provider_init(struct provider *p, const struct gd_config *cfg)
{
    p->cfg = cfg;
    p->curl = curl_easy_init();
    p->resp = calloc(1, sizeof(*p->resp));
    return p->curl && p->resp ? GD_OK : GD_ENOMEM;
}

void provider_free(struct provider *p)
{
    if (p->curl)
        curl_easy_cleanup(p->curl);
    free(p->resp);
    p->curl = NULL;
    p->resp = NULL;
}

/* One request; returns the HTTP status, or 0 on a transport failure (error filled). */
static long http(struct provider *p, const char *url, const char *idem, const char *body,
                 struct provider_resp *r, char *error, size_t error_len)
{
    char secret[300], key[160];
    struct curl_slist *h = NULL;
    long status = 0;
    CURL *c = p->curl;
    curl_easy_reset(c);
    snprintf(secret, sizeof(secret), "X-Secret-Key: %s", p->cfg->provider_secret);
    h = curl_slist_append(h, "Content-Type: application/json;charset=UTF-8");
    h = curl_slist_append(h, secret);
    if (idem) {
        snprintf(key, sizeof(key), "X-Idempotency-Key: %s", idem);
        h = curl_slist_append(h, key);
    }
    r->len = 0;
    r->buf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, p->cfg->provider_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(error, error_len, "%s", curl_easy_strerror(cc));
    curl_slist_free_all(h);
    return status;
}

static char *build_body(const struct gd_config *cfg, int kakao, const char *phone,
                        const char *coupon, long seq)
{
    char text[256], seqs[24];
    snprintf(text, sizeof(text), "[giftdrop] Your gift coupon: %s", coupon);
    snprintf(seqs, sizeof(seqs), "%ld", seq);
    cJSON *o = cJSON_CreateObject();
    if (kakao) {
        cJSON_AddStringToObject(o, "senderKey", cfg->provider_appkey);
        cJSON_AddStringToObject(o, "templateCode", "GIFT_COUPON");
    } else {
        cJSON_AddStringToObject(o, "body", text);
        cJSON_AddStringToObject(o, "sendNo", "15880000");
    }
    cJSON *list = cJSON_AddArrayToObject(o, "recipientList");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "recipientNo", phone);
    cJSON *tp = cJSON_AddObjectToObject(r, "templateParameter");
    cJSON_AddStringToObject(tp, "coupon_code", coupon);
    cJSON_AddStringToObject(tp, "seq", seqs);
    if (kakao) { /* AlimTalk falls back to SMS, as real AlimTalk services do */
        cJSON *rs = cJSON_AddObjectToObject(r, "resendParameter");
        cJSON_AddBoolToObject(rs, "isResend", 1);
        cJSON_AddStringToObject(rs, "resendType", "SMS");
        cJSON_AddStringToObject(rs, "resendContent", text);
    }
    cJSON_AddItemToArray(list, r);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Read {"header":{isSuccessful,resultCode,resultMessage},"message":{requestId,sendResults}}. */
static void parse_send(const char *body, struct send_result *out)
{
    cJSON *o = cJSON_Parse(body);
    const cJSON *hdr = cJSON_GetObjectItemCaseSensitive(o, "header");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(hdr, "isSuccessful");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(msg, "requestId");
    const cJSON *res = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(msg, "sendResults"), 0);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(res, "resultCode");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(res, "resultMessage");
    if (!cJSON_IsTrue(ok) || !cJSON_IsString(rid) || !cJSON_IsNumber(code)) {
        out->status = SEND_TRANSIENT;
        snprintf(out->error, sizeof(out->error), "unreadable provider answer");
    } else if (code->valueint != 0) {
        out->status = SEND_PERMANENT;
        snprintf(out->error, sizeof(out->error), "recipient refused: %d %s", code->valueint,
                 cJSON_IsString(text) ? text->valuestring : "");
    } else {
        out->status = SEND_OK;
        snprintf(out->request_id, sizeof(out->request_id), "%s", rid->valuestring);
    }
    cJSON_Delete(o);
}

void provider_send(struct provider *p, const char *channel, const char *phone, const char *coupon,
                   const char *entry_id, long seq, struct send_result *out)
{
    int kakao = strcmp(channel, "kakao") == 0;
    memset(out, 0, sizeof(*out));
    if (kakao)
        snprintf(out->endpoint, sizeof(out->endpoint), "%s/alimtalk/v2.3/appkeys/%s/messages",
                 p->cfg->provider_url, p->cfg->provider_appkey);
    else
        snprintf(out->endpoint, sizeof(out->endpoint), "%s/sms/v3.0/appKeys/%s/sender/sms",
                 p->cfg->provider_url, p->cfg->provider_appkey);
    char *body = build_body(p->cfg, kakao, phone, coupon, seq);
    if (!body) {
        out->status = SEND_TRANSIENT;
        snprintf(out->error, sizeof(out->error), "out of memory");
        return;
    }
    long status = http(p, out->endpoint, entry_id, body, p->resp, out->error, sizeof(out->error));
    free(body);
    if (status == 200) {
        parse_send(p->resp->buf, out);
    } else if (status == 0 || status >= 500 || status == 429 || status == 401 || status == 403) {
        /* Transport failures, provider trouble and our own credentials
         * (an operator fixes them) are retried; nothing is burned. */
        out->status = SEND_TRANSIENT;
        if (status)
            snprintf(out->error, sizeof(out->error), "provider answered HTTP %ld", status);
    } else {
        out->status = SEND_PERMANENT;
        snprintf(out->error, sizeof(out->error), "provider refused the request: HTTP %ld", status);
    }
}

int provider_lookup(struct provider *p, const char *entry_id, struct send_result *out)
{
    char url[300];
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "%s/v1/idempotency/%s", p->cfg->provider_url, entry_id);
    long status = http(p, url, NULL, NULL, p->resp, out->error, sizeof(out->error));
    if (status == 404)
        return 0;
    if (status != 200)
        return -1;
    cJSON *o = cJSON_Parse(p->resp->buf);
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(o, "requestId");
    int found = cJSON_IsString(rid);
    if (found) {
        snprintf(out->request_id, sizeof(out->request_id), "%s", rid->valuestring);
        snprintf(out->endpoint, sizeof(out->endpoint), "%s", url);
        out->status = SEND_OK;
    }
    cJSON_Delete(o);
    return found ? 1 : -1;
}
