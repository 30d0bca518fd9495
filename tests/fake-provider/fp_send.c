/*
 * fp_send.c - the send endpoints (see fp_send.h).
 *
 * Order of checks for one send request, each step ending it or passing on:
 *   1. X-Secret-Key            -> 401
 *   2. X-Idempotency-Key, body -> 400
 *   3. one fault draw          -> timeout (hold, close) | 500 | 429 | lost reply
 *                                 | partial | uncertain | normal
 *   4. idempotency key         -> replay of the first answer | 422 on reuse
 *   5. delivery                -> 200, per-recipient result codes (invalid
 *                                 number, not a KakaoTalk user, temporary
 *                                 failure for partial; "unknown" masks the
 *                                 codes of an uncertain answer)
 * Auth and validation come before the fault draw so that --seed sequences
 * only depend on well-formed requests.  Faults come before the key lookup:
 * a real provider's front end fails whatever the request was, so a replay
 * can meet a 500 too.  Counters and the record line are written when the
 * request is decided (on arrival); the reply follows after the latency.
 */
#include "fp_send.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "fp_base.h"
#include "fp_reply.h"

/* Everything learned about one send request.  Lives on fp_send_handle's
 * stack; body and reply are released there and nowhere else. */
struct send_ctx {
    struct fp_app *app;
    struct evhttp_request *req;
    enum fp_channel channel;
    const char *path;
    const char *key;         /* X-Idempotency-Key, borrowed from req; NULL if absent */
    cJSON *body;             /* parsed request, owned; NULL if unparsed */
    const cJSON *recipients; /* body's recipientList, when it is an array */
    /* outcome */
    int status;                 /* HTTP status; 0 when no reply will be sent */
    const char *result;         /* the record's "result" */
    const struct fp_send *send; /* fresh or replayed send, store-owned */
    bool fresh;                 /* send was delivered by this request */
    bool replay;                /* answer with Idempotent-Replay: true */
    bool uncertain;             /* the reply says "result unknown" for every recipient */
    long retry_after_s;         /* Retry-After of a 429, else -1 */
    cJSON *reply;               /* owned until handed to fp_reply_later */
    char error[160];            /* message of a 400 */
};

static const char *const kakao_required[] = {"senderKey", "templateCode", NULL};
static const char *const sms_required[] = {"body", "sendNo", NULL};

bool fp_api_authorized(const struct fp_app *app, struct evhttp_request *req)
{
    const char *got = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Secret-Key");
    const char *want = app->opt->secret;
    if (got == NULL || strlen(got) != strlen(want))
        return false;
    /* Constant time over the secret's length, as a real provider would. */
    unsigned char diff = 0;
    for (size_t i = 0; want[i] != '\0'; i++)
        diff |= (unsigned char)(got[i] ^ want[i]);
    return diff == 0;
}

/* {"header":{..result_message},"message":{"requestId":..,"sendResults":[..]}}
 * for a stored send; caller deletes.  unknown masks every code as
 * FP_RESULT_UNKNOWN (an "uncertain" answer). */
static cJSON *send_result_json(const struct fp_send *send, const char *result_message, bool unknown)
{
    cJSON *root = fp_json_header(true, 0, result_message);
    cJSON *message = cJSON_AddObjectToObject(root, "message");
    cJSON_AddStringToObject(message, "requestId", send->request_id);
    cJSON *results = cJSON_AddArrayToObject(message, "sendResults");
    for (size_t i = 0; i < send->n_deliveries; i++) {
        const struct fp_delivery *d = &send->deliveries[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddNumberToObject(item, "recipientSeq", (double)(i + 1));
        cJSON_AddStringToObject(item, "recipientNo", d->recipient_no);
        int code = unknown ? FP_RESULT_UNKNOWN : d->result_code;
        cJSON_AddNumberToObject(item, "resultCode", code);
        cJSON_AddStringToObject(item, "resultMessage", fp_result_message(code));
        cJSON_AddItemToArray(results, item);
    }
    return root;
}

/* Sets the 400 message; always returns false so checks can `return fail(..)`. */
__attribute__((format(printf, 2, 3))) static bool fail(struct send_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
    va_end(ap);
    return false;
}

static void outcome_error(struct send_ctx *ctx, int status, int code, const char *message,
                          const char *result)
{
    ctx->status = status;
    ctx->result = result;
    ctx->reply = fp_json_header(false, code, message);
}

static bool check_key(struct send_ctx *ctx)
{
    if (ctx->key == NULL)
        return true;
    size_t len = strlen(ctx->key);
    if (len == 0 || len > FP_MAX_KEY_LEN)
        return fail(ctx, "X-Idempotency-Key must be 1..%d characters", FP_MAX_KEY_LEN);
    for (size_t i = 0; i < len; i++)
        if (ctx->key[i] < 0x21 || ctx->key[i] > 0x7e)
            return fail(ctx, "X-Idempotency-Key must be visible ASCII");
    return true;
}

static bool check_recipient(struct send_ctx *ctx, const cJSON *item, int index)
{
    if (!cJSON_IsObject(item))
        return fail(ctx, "recipientList[%d] must be an object", index);
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(item, "recipientNo")))
        return fail(ctx, "recipientList[%d].recipientNo must be a string", index);
    static const char *const objects[] = {"templateParameter", "resendParameter"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, objects[i]);
        if (value != NULL && !cJSON_IsObject(value) && !cJSON_IsNull(value))
            return fail(ctx, "recipientList[%d].%s must be an object", index, objects[i]);
    }
    return true;
}

/* True when [p, limit) holds only JSON whitespace (the body is not
 * NUL-terminated, so no str* functions here). */
static bool only_blanks(const char *p, const char *limit)
{
    for (; p < limit; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return false;
    return true;
}

static bool parse_body(struct send_ctx *ctx)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(ctx->req);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return fail(ctx, "request body is empty");
    const char *text = (const char *)evbuffer_pullup(in, -1);
    const char *end = NULL;
    ctx->body = cJSON_ParseWithLengthOpts(text, len, &end, false);
    /* cJSON stops after the first value; anything but blanks after it is junk. */
    if (ctx->body == NULL || !only_blanks(end, text + len))
        return fail(ctx, "request body is not valid JSON");
    if (!cJSON_IsObject(ctx->body))
        return fail(ctx, "request body must be a JSON object");

    const char *const *required = ctx->channel == FP_CHANNEL_KAKAO ? kakao_required : sms_required;
    for (; *required != NULL; required++) {
        const cJSON *field = cJSON_GetObjectItemCaseSensitive(ctx->body, *required);
        if (!cJSON_IsString(field) || field->valuestring[0] == '\0')
            return fail(ctx, "%s must be a non-empty string", *required);
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(ctx->body, "recipientList");
    if (!cJSON_IsArray(list))
        return fail(ctx, "recipientList must be an array");
    ctx->recipients = list; /* recorded even when an element is bad */
    int count = cJSON_GetArraySize(list);
    if (count == 0 || count > FP_MAX_RECIPIENTS)
        return fail(ctx, "recipientList must hold 1..%d recipients", FP_MAX_RECIPIENTS);
    int index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        if (!check_recipient(ctx, item, index++))
            return false;
    }
    return true;
}

/* ^\+?[0-9]{9,15}$ and not starting with --invalid-prefix. */
static bool recipient_valid(const char *number, const char *invalid_prefix)
{
    size_t prefix_len = strlen(invalid_prefix);
    if (prefix_len > 0 && strncmp(number, invalid_prefix, prefix_len) == 0)
        return false;
    const char *digits = number[0] == '+' ? number + 1 : number;
    size_t n = strspn(digits, "0123456789");
    return digits[n] == '\0' && n >= 9 && n <= 15;
}

/* YYYYMMDD-SEQ-XXXX: the date (UTC) and a process-wide sequence make it
 * unique; the random suffix keeps clients from relying on it being dense. */
static void make_request_id(struct fp_app *app, char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    unsigned suffix = (unsigned)(fp_rng_next(&app->rng_id) & 0xffff);
    snprintf(buf, size, "%04d%02d%02d-%06" PRIu64 "-%04x", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, ++app->next_seq, suffix);
}

/* Same channel and the same recipient numbers in the same order. */
static bool same_request(const struct fp_send *prev, const struct send_ctx *ctx)
{
    if (prev->channel != ctx->channel ||
        prev->n_deliveries != (size_t)cJSON_GetArraySize(ctx->recipients))
        return false;
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, ctx->recipients)
    {
        const cJSON *no = cJSON_GetObjectItemCaseSensitive(item, "recipientNo");
        if (strcmp(prev->deliveries[i++].recipient_no, no->valuestring) != 0)
            return false;
    }
    return true;
}

/* True when the key was already answered: ctx then holds the replay (or
 * the 422 for a key reused on a different request, as the IETF
 * Idempotency-Key draft prescribes - it catches clients whose keys collide). */
static bool replay_existing(struct send_ctx *ctx)
{
    struct fp_app *app = ctx->app;
    int64_t window_ms = (int64_t)app->opt->idempotency_window_s * 1000;
    const struct fp_send *prev = fp_store_by_key(&app->store, ctx->key, fp_mono_ms(), window_ms);
    if (prev == NULL)
        return false;
    if (!same_request(prev, ctx)) {
        app->store.stats.idempotency_conflicts++;
        outcome_error(ctx, 422, -422, "idempotency key reused for a different request",
                      "idempotency_conflict");
        return true;
    }
    app->store.stats.duplicates++;
    ctx->send = prev;
    ctx->status = 200;
    ctx->result = "duplicate";
    ctx->replay = true;
    ctx->reply = send_result_json(prev, "DUPLICATED_REQUEST", false);
    return true;
}

/* How deliver() treats the recipients of one request. */
enum deliver_mode {
    DELIVER_NORMAL,
    DELIVER_PARTIAL,   /* recipients 1, 3, 5... fail with FP_RESULT_TEMPORARY */
    DELIVER_UNCERTAIN, /* normal, but the reply says "unknown" */
    DELIVER_UNSENT,    /* uncertain and not sent: temporary failures behind "unknown" */
};

/* The code the index-th recipient gets: invalid numbers always fail; a
 * partial failure fails every other recipient from the first on (so a
 * one-recipient request fails); AlimTalk refuses numbers that are not
 * KakaoTalk users (real AlimTalk learns this from Kakao). */
static int recipient_code(const struct send_ctx *ctx, const char *number, enum deliver_mode mode,
                          size_t index)
{
    const struct fp_options *opt = ctx->app->opt;
    if (!recipient_valid(number, opt->invalid_prefix))
        return FP_RESULT_INVALID_RECIPIENT;
    if ((mode == DELIVER_PARTIAL && index % 2 == 0) || mode == DELIVER_UNSENT)
        return FP_RESULT_TEMPORARY;
    size_t n = strlen(opt->not_kakao_prefix);
    if (ctx->channel == FP_CHANNEL_KAKAO && n > 0 && strncmp(number, opt->not_kakao_prefix, n) == 0)
        return FP_RESULT_NOT_KAKAO_USER;
    return FP_RESULT_OK;
}

/* The record's "result" for a fresh send. */
static const char *deliver_result(const struct fp_send *send, size_t delivered)
{
    if (delivered > 0)
        return "sent";
    for (size_t i = 0; i < send->n_deliveries; i++)
        if (send->deliveries[i].result_code == FP_RESULT_TEMPORARY)
            return "temporary_failure";
    for (size_t i = 0; i < send->n_deliveries; i++)
        if (send->deliveries[i].result_code == FP_RESULT_NOT_KAKAO_USER)
            return "not_kakao_user";
    return "invalid_recipient";
}

static void deliver(struct send_ctx *ctx, enum deliver_mode mode)
{
    struct fp_app *app = ctx->app;
    struct fp_stats *stats = &app->store.stats;
    struct fp_send *send = fp_send_new((size_t)cJSON_GetArraySize(ctx->recipients));

    make_request_id(app, send->request_id, sizeof(send->request_id));
    send->channel = ctx->channel;
    send->idempotency_key = ctx->key != NULL ? fp_xstrdup(ctx->key) : NULL;
    send->sent_mono_ms = fp_mono_ms();
    size_t i = 0, delivered = 0, temporary = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, ctx->recipients)
    {
        const char *number = cJSON_GetObjectItemCaseSensitive(item, "recipientNo")->valuestring;
        int code = recipient_code(ctx, number, mode, i);
        send->deliveries[i].recipient_no = fp_xstrdup(number);
        send->deliveries[i].result_code = code;
        delivered += code == FP_RESULT_OK;
        temporary += code == FP_RESULT_TEMPORARY;
        stats->invalid_recipients += code == FP_RESULT_INVALID_RECIPIENT;
        stats->not_kakao_users += code == FP_RESULT_NOT_KAKAO_USER;
        i++;
    }
    /* A request that sent nothing because of a temporary failure is not
     * remembered under its key: the client's retry must be tried anew. */
    send->remember_key = !(delivered == 0 && temporary > 0);
    fp_store_add(&app->store, send);

    stats->sent += delivered;
    *(ctx->channel == FP_CHANNEL_KAKAO ? &stats->sent_kakao : &stats->sent_sms) += delivered;
    ctx->send = send;
    ctx->fresh = true;
    ctx->status = 200;
    ctx->result = deliver_result(send, delivered);
    ctx->uncertain = mode == DELIVER_UNCERTAIN || mode == DELIVER_UNSENT;
    ctx->reply = send_result_json(send, "SUCCESS", ctx->uncertain);
}

static void decide(struct send_ctx *ctx)
{
    struct fp_app *app = ctx->app;
    struct fp_stats *stats = &app->store.stats;
    const struct fp_injection *inj = &app->inj;

    /* One draw, split into disjoint slices: timeout | 500 | 429 | lost reply
     * | partial | uncertain | normal.  The first three are the front end
     * failing whatever the request was; the rest happen behind it. */
    double u = fp_rng_unit(&app->rng_fault);
    if (u < inj->timeout_rate) {
        stats->timeouts_injected++;
        ctx->status = 0;
        ctx->result = "timeout_injected";
        return;
    }
    u -= inj->timeout_rate;
    if (u < inj->fail_rate) {
        stats->failed_injected++;
        outcome_error(ctx, 500, -500, "internal error", "failed_injected");
        return;
    }
    u -= inj->fail_rate;
    if (u < inj->throttle_rate) {
        stats->throttled_injected++;
        outcome_error(ctx, 429, -429, "too many requests", "throttled");
        ctx->retry_after_s = inj->retry_after_s;
        return;
    }
    u -= inj->throttle_rate;
    bool lose_reply = u < inj->lost_reply_rate;
    u -= inj->lost_reply_rate;
    enum deliver_mode mode = DELIVER_NORMAL;
    if (!lose_reply && u < inj->partial_rate) {
        mode = DELIVER_PARTIAL;
    } else if (!lose_reply && u - inj->partial_rate < inj->uncertain_rate) {
        /* The upper or lower half of the slice: sent or not, repeatably. */
        bool sent = u - inj->partial_rate < inj->uncertain_rate / 2;
        mode = sent ? DELIVER_UNCERTAIN : DELIVER_UNSENT;
    }

    if (ctx->key != NULL && replay_existing(ctx))
        return; /* a replay sends nothing, so there is no reply to lose */
    stats->partial_injected += mode == DELIVER_PARTIAL;
    stats->uncertain_injected += mode == DELIVER_UNCERTAIN || mode == DELIVER_UNSENT;
    deliver(ctx, mode);
    if (lose_reply) {
        /* Delivered and remembered, but the client never hears of it: the
         * case GET /v1/idempotency/{key} exists for. */
        stats->lost_replies_injected++;
        ctx->status = 0;
        ctx->result = "lost_reply";
        cJSON_Delete(ctx->reply);
        ctx->reply = NULL;
    }
}

static void add_string_or_null(cJSON *obj, const char *name, const char *value)
{
    if (value != NULL)
        cJSON_AddStringToObject(obj, name, value);
    else
        cJSON_AddNullToObject(obj, name);
}

/* A string member of the request body, or NULL. */
static const char *body_string(const struct send_ctx *ctx, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ctx->body, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* The record's "recipients": what was asked for each recipient, and what
 * happened to it.  Summing "delivered" over all records gives stats.sent. */
static cJSON *record_recipients(const struct send_ctx *ctx)
{
    if (ctx->recipients == NULL)
        return cJSON_CreateNull();
    cJSON *out = cJSON_CreateArray();
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, ctx->recipients)
    {
        cJSON *rec = cJSON_CreateObject();
        const cJSON *no = cJSON_GetObjectItemCaseSensitive(item, "recipientNo");
        add_string_or_null(rec, "recipientNo", cJSON_IsString(no) ? no->valuestring : NULL);
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(item, "templateParameter");
        cJSON_AddItemToObject(rec, "templateParameter",
                              params != NULL ? cJSON_Duplicate(params, true) : cJSON_CreateNull());
        const cJSON *resend = cJSON_GetObjectItemCaseSensitive(item, "resendParameter");
        if (resend != NULL)
            cJSON_AddItemToObject(rec, "resendParameter", cJSON_Duplicate(resend, true));
        bool in_send = ctx->send != NULL && i < ctx->send->n_deliveries;
        if (in_send)
            cJSON_AddNumberToObject(rec, "resultCode", ctx->send->deliveries[i].result_code);
        cJSON_AddBoolToObject(rec, "delivered",
                              in_send && ctx->fresh &&
                                  ctx->send->deliveries[i].result_code == FP_RESULT_OK);
        cJSON_AddItemToArray(out, rec);
        i++;
    }
    return out;
}

static void write_record(struct send_ctx *ctx)
{
    struct fp_app *app = ctx->app;
    bool kakao = ctx->channel == FP_CHANNEL_KAKAO;
    cJSON *rec = cJSON_CreateObject();

    cJSON_AddNumberToObject(rec, "ts_ms", (double)fp_now_ms());
    cJSON_AddStringToObject(rec, "method", "POST");
    cJSON_AddStringToObject(rec, "path", ctx->path);
    cJSON_AddStringToObject(rec, "channel", fp_channel_name(ctx->channel));
    add_string_or_null(rec, "idempotency_key", ctx->key);
    if (ctx->status != 0)
        cJSON_AddNumberToObject(rec, "status", ctx->status);
    else
        cJSON_AddNullToObject(rec, "status");
    cJSON_AddStringToObject(rec, "result", ctx->result);
    add_string_or_null(rec, "request_id", ctx->send != NULL ? ctx->send->request_id : NULL);
    /* What --restore needs to rebuild the ledger from the record file. */
    cJSON_AddBoolToObject(rec, "stored", ctx->fresh);
    cJSON_AddBoolToObject(rec, "remembered", ctx->fresh && ctx->send->remember_key);
    cJSON_AddBoolToObject(rec, "uncertain", ctx->uncertain);
    add_string_or_null(rec, "template_code", kakao ? body_string(ctx, "templateCode") : NULL);
    add_string_or_null(rec, "sms_body", kakao ? NULL : body_string(ctx, "body"));
    cJSON_AddItemToObject(rec, "recipients", record_recipients(ctx));

    char *line = cJSON_PrintUnformatted(rec);
    size_t len = strlen(line);
    cJSON_Delete(rec);
    fp_store_add_record(&app->store, line, len);
    if (app->record_file != NULL) {
        FILE *f = app->record_file;
        bool ok = fwrite(line, 1, len, f) == len && fputc('\n', f) != EOF && fflush(f) == 0;
        if (!ok && !app->record_failed) {
            /* Keep serving: the in-memory records stay complete. */
            fp_log("error", "cannot write record file", "path", app->opt->record_path);
            app->record_failed = true;
        }
    }
    free(line);
}

void fp_send_handle(struct fp_app *app, struct evhttp_request *req, enum fp_channel channel,
                    const char *path)
{
    struct send_ctx ctx = {
        .app = app, .req = req, .channel = channel, .path = path, .retry_after_s = -1};
    ctx.key = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Idempotency-Key");

    app->store.stats.received++;
    if (!fp_api_authorized(app, req)) {
        app->store.stats.unauthorized++;
        outcome_error(&ctx, 401, -401, "invalid secret key", "unauthorized");
    } else if (!check_key(&ctx) || !parse_body(&ctx)) {
        app->store.stats.bad_request++;
        outcome_error(&ctx, 400, -400, ctx.error, "bad_request");
    } else {
        decide(&ctx);
    }
    write_record(&ctx);

    if (ctx.status == 0)
        fp_close_later(app, req, FP_HOLD_MS);
    else
        fp_reply_later_ex(app, req, fp_reply_delay_ms(app), ctx.status, ctx.reply, ctx.replay,
                          ctx.retry_after_s);
    cJSON_Delete(ctx.body);
}
