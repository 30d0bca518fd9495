/*
 * provider_test - the provider API shapes and what each answer means
 * (notifier-consumer/provider.c): the URLs, the idempotency keys, the
 * request bodies, and the classification of every kind of answer the fake
 * provider (and a real one) gives, including the ones that decide between
 * "resend freely", "ask first" and "never again".
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "provider.h"
#include "test.h"

static struct winner_msg winner(const char *channel)
{
    struct winner_msg w;
    memset(&w, 0, sizeof(w));
    strcpy(w.entry_id, "01890a5d-ac96-774b-bcce-b302099a8057");
    w.event_id = 42;
    strcpy(w.member_id, "m-7");
    w.seq = 17;
    strcpy(w.channel, channel);
    strcpy(w.phone, "+821012345678");
    return w;
}

static struct provider_http ok200(const char *body)
{
    struct provider_http h = {1, 1, 200, -1, 0, body, "", 0};
    return h;
}

static const char *answer(int code, const char *msg)
{
    static char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"header\":{\"isSuccessful\":true,\"resultCode\":0,\"resultMessage\":\"%s\"},"
             "\"message\":{\"requestId\":\"20261125-000001-ab12\",\"sendResults\":[{"
             "\"recipientSeq\":1,\"recipientNo\":\"+821012345678\",\"resultCode\":%d,"
             "\"resultMessage\":\"x\"}]}}",
             msg, code);
    return buf;
}

TEST(urls_and_keys)
{
    char out[256];
    CHECK_INT(provider_send_url(API_ALIMTALK, "http://h:1", "app", out, sizeof(out)), GD_OK);
    CHECK_STR(out, "http://h:1/alimtalk/v2.3/appkeys/app/messages");
    CHECK_INT(provider_send_url(API_SMS, "https://h", "app", out, sizeof(out)), GD_OK);
    CHECK_STR(out, "https://h/sms/v3.0/appKeys/app/sender/sms");
    CHECK_INT(provider_lookup_url("http://h", "k-1", out, sizeof(out)), GD_OK);
    CHECK_STR(out, "http://h/v1/idempotency/k-1");
    CHECK_INT(provider_query_url(API_SMS, "http://h", "a", "2026-1_x.y", out, sizeof(out)), GD_OK);
    CHECK_STR(out, "http://h/sms/v3.0/appKeys/a/sender/sms/2026-1_x.y");
    /* A provider id goes into a path: nothing but safe characters. */
    CHECK_INT(provider_query_url(API_SMS, "http://h", "a", "../x", out, sizeof(out)), GD_EINVAL);
    CHECK_INT(provider_query_url(API_SMS, "http://h", "a", "", out, sizeof(out)), GD_EINVAL);
    CHECK_INT(provider_send_url(API_SMS, "http://h", "a", out, 10), GD_ETOOBIG);

    /* One key per message a winner can receive. */
    struct winner_msg k = winner("kakao"), s = winner("sms");
    CHECK_INT(provider_key(API_ALIMTALK, &k, out, sizeof(out)), GD_OK);
    CHECK_STR(out, "01890a5d-ac96-774b-bcce-b302099a8057");
    CHECK_INT(provider_key(API_SMS, &k, out, sizeof(out)), GD_OK);
    CHECK_STR(out, "01890a5d-ac96-774b-bcce-b302099a8057-sms");
    CHECK_INT(provider_key(API_SMS, &s, out, sizeof(out)), GD_OK);
    CHECK_STR(out, "01890a5d-ac96-774b-bcce-b302099a8057");
}

TEST(bodies)
{
    struct gd_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.provider_appkey = "sender-key";
    struct winner_msg w = winner("kakao");
    char *b = provider_send_body(API_ALIMTALK, &cfg, &w, "GC42-ABC");
    cJSON *o = cJSON_Parse(b);
    CHECK_STR(cJSON_GetObjectItem(o, "templateCode")->valuestring, "GIFT_COUPON");
    CHECK_STR(cJSON_GetObjectItem(o, "senderKey")->valuestring, "sender-key");
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "recipientList"), 0);
    CHECK_STR(cJSON_GetObjectItem(r, "recipientNo")->valuestring, "+821012345678");
    const cJSON *tp = cJSON_GetObjectItem(r, "templateParameter");
    CHECK_STR(cJSON_GetObjectItem(tp, "coupon_code")->valuestring, "GC42-ABC");
    CHECK_STR(cJSON_GetObjectItem(tp, "seq")->valuestring, "17");
    /* The fallback is ours: the provider must not resend on its own. */
    CHECK(
        cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "resendParameter"), "isResend")));
    cJSON_Delete(o);
    free(b);
    b = provider_send_body(API_SMS, &cfg, &w, "GC42-ABC");
    o = cJSON_Parse(b);
    CHECK(strstr(cJSON_GetObjectItem(o, "body")->valuestring, "GC42-ABC") != NULL);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "sendNo")));
    CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "recipientList"), 0),
                              "resendParameter") == NULL);
    cJSON_Delete(o);
    free(b);
}

TEST(send_answers)
{
    struct provider_result r;
    struct provider_http h = ok200(answer(0, "SUCCESS"));
    provider_classify_send(API_ALIMTALK, &h, &r);
    CHECK_INT(r.outcome, OUT_SENT);
    CHECK_STR(r.request_id, "20261125-000001-ab12");
    CHECK(r.endpoint_ok && !r.duplicate);

    h = ok200(answer(0, "DUPLICATED_REQUEST")); /* a replay counts as the first answer */
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_SENT);
    CHECK(r.duplicate);

    h = ok200(answer(-3018, "SUCCESS"));
    provider_classify_send(API_ALIMTALK, &h, &r);
    CHECK_INT(r.outcome, OUT_NOT_KAKAO);
    provider_classify_send(API_SMS, &h, &r); /* only AlimTalk can say that */
    CHECK_INT(r.outcome, OUT_PERMANENT);

    h = ok200(answer(-1001, "SUCCESS"));
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_PERMANENT);
    CHECK(strstr(r.error, "-1001") != NULL);
    CHECK(r.endpoint_ok); /* a refusal is the endpoint doing its job */

    h = ok200(answer(-2001, "SUCCESS"));
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_RETRY_CLEAN);

    h = ok200(answer(-9000, "SUCCESS"));
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_UNCERTAIN);
    CHECK_STR(r.request_id, "20261125-000001-ab12");

    h = ok200("{\"header\":{\"isSuccessful\":true}}");
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_RETRY_UNKNOWN); /* unreadable: it may have gone out */
    h = ok200("not json");
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_RETRY_UNKNOWN);
    CHECK(!r.endpoint_ok);
}

TEST(http_statuses)
{
    struct provider_result r;
    struct provider_http h = {1, 1, 429, 7, 0, "", "", 0};
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_RETRY_CLEAN);
    CHECK_INT(r.retry_after_s, 7);
    CHECK(!r.endpoint_ok);
    h.status = 503;
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_RETRY_CLEAN);
    long unknown[] = {500, 502, 504};
    for (int i = 0; i < 3; i++) {
        h.status = unknown[i];
        provider_classify_send(API_SMS, &h, &r);
        CHECK_INT(r.outcome, OUT_RETRY_UNKNOWN);
        CHECK(!r.endpoint_ok);
    }
    h.status = 401;
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_RETRY_CLEAN); /* our secret: an operator fixes it */
    h.status = 400;
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_PERMANENT);
    h.status = 422;
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_PERMANENT);
}

TEST(transport_failures)
{
    struct provider_result r;
    /* Refused connection / failed handshake: nothing reached the server. */
    struct provider_http h = {0, 0, 0, -1, 0, "", "Connection refused", 0};
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_RETRY_CLEAN);
    CHECK(!r.endpoint_ok);
    h.tls_failure = 1;
    h.err = "SSL certificate problem: unable to get local issuer certificate";
    provider_classify_send(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_RETRY_CLEAN);
    CHECK(strstr(r.error, "TLS: SSL certificate problem") != NULL);
    /* A timeout after the request left: it may have been delivered. */
    struct provider_http t = {0, 1, 0, -1, 0, "", "Operation timed out", 0};
    provider_classify_send(API_ALIMTALK, &t, &r);
    CHECK_INT(r.outcome, OUT_RETRY_UNKNOWN);
}

TEST(lookups_and_queries)
{
    struct provider_result r;
    struct provider_http h = {1, 1, 404, -1, 0, "{}", "", 0};
    provider_classify_lookup(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_NOT_FOUND); /* never sent: send now */
    provider_classify_query(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_RETRY_UNKNOWN); /* the id came from the provider: no proof */
    h = ok200(answer(0, "SUCCESS"));
    provider_classify_lookup(API_ALIMTALK, &h, &r);
    CHECK_INT(r.outcome, OUT_SENT);
    CHECK(r.duplicate);
    h = ok200(answer(-3018, "SUCCESS"));
    provider_classify_lookup(API_ALIMTALK, &h, &r);
    CHECK_INT(r.outcome, OUT_NOT_KAKAO);
    h = ok200(answer(-9000, "SUCCESS"));
    provider_classify_query(API_SMS, &h, &r);
    CHECK_INT(r.outcome, OUT_RETRY_UNKNOWN); /* a query must not answer "query me" */
    struct provider_http down = {0, 0, 0, -1, 0, "", "Connection refused", 0};
    provider_classify_lookup(API_SMS, &down, &r);
    CHECK_INT(r.outcome, OUT_RETRY_UNKNOWN); /* cannot tell: nothing may be resent */
    struct provider_http e500 = {1, 1, 500, -1, 0, "", "", 0};
    provider_classify_lookup(API_SMS, &e500, &r);
    CHECK_INT(r.outcome, OUT_RETRY_UNKNOWN);
}

int main(void)
{
    RUN(urls_and_keys);
    RUN(bodies);
    RUN(send_answers);
    RUN(http_statuses);
    RUN(transport_failures);
    RUN(lookups_and_queries);
    return TEST_DONE();
}
