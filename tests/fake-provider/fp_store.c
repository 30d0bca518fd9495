/*
 * fp_store.c - ledger, counters and records (see fp_store.h).
 */
#include "fp_store.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fp_base.h"

const char *fp_channel_name(enum fp_channel channel)
{
    return channel == FP_CHANNEL_KAKAO ? "kakao" : "sms";
}

const char *fp_result_message(int code)
{
    switch (code) {
    case FP_RESULT_OK:
        return "SUCCESS";
    case FP_RESULT_INVALID_RECIPIENT:
        return "invalid recipient number";
    case FP_RESULT_TEMPORARY:
        return "temporary failure, retry later";
    case FP_RESULT_NOT_KAKAO_USER:
        return "not a KakaoTalk user or the channel is blocked";
    case FP_RESULT_UNKNOWN:
        return "result unknown, query the request";
    default:
        return "error";
    }
}

struct fp_send *fp_send_new(size_t n)
{
    struct fp_send *send = fp_xcalloc(1, sizeof(*send));
    send->n_deliveries = n;
    send->deliveries = fp_xcalloc(n, sizeof(*send->deliveries));
    return send;
}

void fp_send_free(struct fp_send *send)
{
    if (send == NULL)
        return;
    for (size_t i = 0; i < send->n_deliveries; i++)
        free(send->deliveries[i].recipient_no);
    free(send->deliveries);
    free(send->idempotency_key);
    free(send);
}

void fp_store_init(struct fp_store *store)
{
    memset(store, 0, sizeof(*store));
    fp_map_init(&store->by_request_id);
    fp_map_init(&store->by_key);
    store->records = evbuffer_new();
}

void fp_store_free(struct fp_store *store)
{
    for (size_t i = 0; i < store->n_sends; i++)
        fp_send_free(store->sends[i]);
    free(store->sends);
    fp_map_clear(&store->by_request_id);
    fp_map_clear(&store->by_key);
    evbuffer_free(store->records);
    memset(store, 0, sizeof(*store));
}

void fp_store_reset(struct fp_store *store)
{
    fp_store_free(store);
    fp_store_init(store);
}

void fp_store_add(struct fp_store *store, struct fp_send *send)
{
    if (store->n_sends == store->cap_sends) {
        store->cap_sends = store->cap_sends ? store->cap_sends * 2 : 1024;
        store->sends = fp_xrealloc(store->sends, store->cap_sends * sizeof(*store->sends));
    }
    store->sends[store->n_sends++] = send;
    fp_map_put(&store->by_request_id, send->request_id, send);
    /* Only a lookup that found nothing (or an expired entry) leads here, so
     * replacing the entry never hides a live send. */
    if (send->idempotency_key != NULL && send->remember_key)
        fp_map_put(&store->by_key, send->idempotency_key, send);
}

const struct fp_send *fp_store_by_request_id(const struct fp_store *store, const char *request_id)
{
    return fp_map_get(&store->by_request_id, request_id);
}

static bool key_is_live(const struct fp_send *send, int64_t now_mono_ms, int64_t window_ms)
{
    return now_mono_ms - send->sent_mono_ms < window_ms;
}

const struct fp_send *fp_store_by_key(const struct fp_store *store, const char *key,
                                      int64_t now_mono_ms, int64_t window_ms)
{
    const struct fp_send *send = fp_map_get(&store->by_key, key);
    return send != NULL && key_is_live(send, now_mono_ms, window_ms) ? send : NULL;
}

size_t fp_store_expire_keys(struct fp_store *store, int64_t now_mono_ms, int64_t window_ms)
{
    size_t dropped = 0;
    for (; store->expiry_cursor < store->n_sends; store->expiry_cursor++) {
        const struct fp_send *send = store->sends[store->expiry_cursor];
        if (key_is_live(send, now_mono_ms, window_ms))
            break; /* and so is every later send */
        /* The key may have been reused after it expired: keep the newer send. */
        const char *key = send->idempotency_key;
        if (key != NULL && fp_map_get(&store->by_key, key) == send) {
            fp_map_del(&store->by_key, key);
            dropped++;
        }
    }
    return dropped;
}

size_t fp_store_key_count(const struct fp_store *store)
{
    return store->by_key.count;
}

void fp_store_add_record(struct fp_store *store, const char *json, size_t len)
{
    if (store->n_records >= FP_MAX_RECORDS) {
        store->stats.records_dropped++;
        return;
    }
    evbuffer_add(store->records, json, len);
    evbuffer_add(store->records, ",", 1);
    store->n_records++;
}

void fp_store_records_json(struct fp_store *store, struct evbuffer *out)
{
    size_t len = evbuffer_get_length(store->records);
    evbuffer_add(out, "[", 1);
    if (len > 0) /* all but the trailing comma */
        evbuffer_add(out, evbuffer_pullup(store->records, -1), len - 1);
    evbuffer_add(out, "]", 1);
}
