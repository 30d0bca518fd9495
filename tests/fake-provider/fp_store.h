/*
 * fp_store.h - what the fake provider remembers: the ledger of answered
 * sends (by request id and by idempotency key), the counters behind
 * GET /stats and the records behind GET /records.  POST /reset empties it.
 *
 * Ownership: the store owns every struct fp_send added to it until reset or
 * fp_store_free; pointers it returns are borrowed until then.  Code that
 * must outlive a reset (deferred replies) copies what it needs.
 */
#ifndef GD_FP_STORE_H
#define GD_FP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "fp_map.h"

enum fp_channel {
    FP_CHANNEL_KAKAO,
    FP_CHANNEL_SMS,
};

/* "kakao" or "sms". */
const char *fp_channel_name(enum fp_channel channel);

/* Per-recipient result codes (NHN Cloud style: 0 is success). */
#define FP_RESULT_OK                0
#define FP_RESULT_INVALID_RECIPIENT (-1001) /* permanent */
#define FP_RESULT_TEMPORARY         (-2001) /* nothing sent; retrying may succeed */
#define FP_RESULT_NOT_KAKAO_USER    (-3018) /* AlimTalk only: not a KakaoTalk user, or blocked */
#define FP_RESULT_UNKNOWN           (-9000) /* in replies only: "query the request" */

/* The resultMessage of a code. */
const char *fp_result_message(int code);

struct fp_delivery {
    char *recipient_no; /* owned */
    int result_code;    /* one of FP_RESULT_*, never FP_RESULT_UNKNOWN */
};

/* One send request the fake answered with HTTP 200: final and replayable. */
struct fp_send {
    char request_id[40];
    enum fp_channel channel;
    char *idempotency_key; /* owned; NULL when the request had none */
    bool remember_key;     /* index the key (false: nothing was sent, a retry is new) */
    int64_t sent_mono_ms;  /* start of the idempotency window */
    size_t n_deliveries;
    struct fp_delivery *deliveries; /* owned, n_deliveries long */
};

/* Counters of GET /stats; all but unauthorized concern send requests. */
struct fp_stats {
    uint64_t received;              /* send requests (POST to a send endpoint) */
    uint64_t sent;                  /* recipients delivered, duplicates excluded */
    uint64_t sent_kakao, sent_sms;  /* the same, by channel */
    uint64_t duplicates;            /* replayed requests */
    uint64_t failed_injected;       /* injected HTTP 500 */
    uint64_t timeouts_injected;     /* held without reply, nothing sent */
    uint64_t lost_replies_injected; /* sent, reply withheld */
    uint64_t throttled_injected;    /* injected HTTP 429 */
    uint64_t partial_injected;      /* HTTP 200, recipients failed transiently */
    uint64_t uncertain_injected;    /* HTTP 200 "result unknown" */
    uint64_t not_kakao_users;       /* AlimTalk recipients answered -3018 */
    uint64_t invalid_recipients;    /* recipients answered -1001 */
    uint64_t unauthorized;          /* every 401, lookups included */
    uint64_t bad_request;           /* send requests answered 400 */
    uint64_t idempotency_conflicts; /* key reused for another request: 422 */
    uint64_t records_dropped;       /* beyond FP_MAX_RECORDS, file still written */
};

/* In-memory records kept for GET /records; the record file has them all. */
#define FP_MAX_RECORDS 1000000

struct fp_store {
    struct fp_send **sends; /* owned, in arrival order */
    size_t n_sends, cap_sends;
    struct fp_map by_request_id; /* request_id -> struct fp_send * */
    struct fp_map by_key;        /* idempotency_key -> latest struct fp_send * */
    struct fp_stats stats;
    size_t expiry_cursor;     /* sends before it are past the window */
    struct evbuffer *records; /* "REC,REC,...REC," */
    size_t n_records;
};

void fp_store_init(struct fp_store *store);
void fp_store_free(struct fp_store *store);

/* Forgets sends, keys, counters and records (the record file is untouched). */
void fp_store_reset(struct fp_store *store);

/* A zeroed send with room for n deliveries; free with fp_send_free unless
 * it was handed to fp_store_add. */
struct fp_send *fp_send_new(size_t n);
void fp_send_free(struct fp_send *send);

/* Takes ownership of send and indexes it by request id and, when it has
 * one and remember_key is set, by idempotency key (replacing an expired
 * entry for the same key). */
void fp_store_add(struct fp_store *store, struct fp_send *send);

/* The send answered under request_id, or NULL. */
const struct fp_send *fp_store_by_request_id(const struct fp_store *store, const char *request_id);

/* The send remembered for key if it is younger than window_ms, else NULL. */
const struct fp_send *fp_store_by_key(const struct fp_store *store, const char *key,
                                      int64_t now_mono_ms, int64_t window_ms);

/* Drops keys older than window_ms from the key index (their sends stay
 * queryable by request id).  Sends are appended in time order, so this
 * walks only the newly expired ones.  Returns how many keys were dropped. */
size_t fp_store_expire_keys(struct fp_store *store, int64_t now_mono_ms, int64_t window_ms);

/* Number of idempotency keys indexed (live ones after an expiry pass). */
size_t fp_store_key_count(const struct fp_store *store);

/* Keeps a copy of one record (a JSON object text) for GET /records. */
void fp_store_add_record(struct fp_store *store, const char *json, size_t len);

/* Appends the kept records to out as one JSON array. */
void fp_store_records_json(struct fp_store *store, struct evbuffer *out);

#endif
