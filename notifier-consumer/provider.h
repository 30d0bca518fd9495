/*
 * provider.h - the notification providers' HTTP APIs (NHN Cloud style), as
 * data: the URLs, headers and JSON bodies of a send, a lookup by
 * idempotency key and a query by request id, and what an answer means.
 * No I/O here (http.c moves the bytes), so every rule below is unit-tested.
 *
 * Two APIs: AlimTalk (KakaoTalk template messages) and SMS.  Every send
 * carries an idempotency key: the entry_id for the winner's own channel,
 * "<entry_id>-sms" for the SMS fallback of an AlimTalk refusal, so each
 * message a winner can receive has exactly one key.  A provider that
 * already answered a key replays its first answer ("DUPLICATED_REQUEST"),
 * which counts as that answer.
 *
 * The fallback is ours, not the provider's (resendParameter.isResend is
 * false): only then does the ledger know which message went out, and a
 * crash between the two sends cannot produce a second SMS.
 */
#ifndef GD_PROVIDER_H
#define GD_PROVIDER_H

#include <stddef.h>

#include "config.h"
#include "messages.h"

enum provider_api { API_ALIMTALK, API_SMS };

/* Per-recipient result codes inside an HTTP 200. */
#define PROVIDER_RC_OK           0
#define PROVIDER_RC_INVALID      (-1001) /* invalid number: permanent */
#define PROVIDER_RC_TEMPORARY    (-2001) /* not sent, retry later */
#define PROVIDER_RC_NOT_KAKAO    (-3018) /* AlimTalk: not a KakaoTalk user / blocked */
#define PROVIDER_RC_UNKNOWN      (-9000) /* "result unknown": query the request */
#define PROVIDER_IDEMPOTENCY_MAX 128

/*
 * What one provider exchange means for the winner.  "Clean" retries are
 * failures known not to have delivered anything (refused connection, 429,
 * 503, a per-recipient temporary failure): the next attempt may go anywhere
 * at once.  "Unknown" ones (timeout after the request left, 500/502/504,
 * an unreadable answer) may have delivered: the next attempt first asks
 * the endpoint that got this one.
 */
enum provider_outcome {
    OUT_SENT,          /* delivered (or a replay of a delivery) */
    OUT_NOT_KAKAO,     /* AlimTalk refused the recipient: fall back to SMS */
    OUT_PERMANENT,     /* refused for good: invalid number, template, our request */
    OUT_UNCERTAIN,     /* 200 "result unknown": query by request id */
    OUT_RETRY_CLEAN,   /* not delivered: retry */
    OUT_RETRY_UNKNOWN, /* may have been delivered: resolve before any resend */
    OUT_NOT_FOUND,     /* lookup/query: the provider does not know it (never sent) */
};

/* A transport result as http.c reports it. */
struct provider_http {
    int transport_ok;   /* the exchange completed (an HTTP status was read) */
    int request_left;   /* request bytes may have reached the server */
    long status;        /* HTTP status when transport_ok */
    long retry_after_s; /* Retry-After header, -1 when absent */
    int replay;         /* Idempotent-Replay: true */
    const char *body;   /* NUL-terminated answer, "" when none */
    const char *err;    /* transport error text when !transport_ok */
    int tls_failure;    /* the TLS handshake failed (certificate problems included) */
};

/* What an answer said; filled by provider_classify_*. */
struct provider_result {
    enum provider_outcome outcome;
    int result_code;     /* per-recipient code when one was read, else 0 */
    int duplicate;       /* the answer was a replay of an earlier one */
    int endpoint_ok;     /* for the balancer: the endpoint did its job */
    long retry_after_s;  /* from a 429/503, -1 when absent */
    char request_id[96]; /* the provider's id of the send, when known */
    char error[256];     /* why, for logs, the ledger and dead-letter reasons */
};

/* URL of a send / lookup / query at endpoint base (no trailing '/').  0 or
 * GD_ETOOBIG.  key and request_id are percent-encoded by the caller's
 * rules: entry ids and provider ids are URL-safe already (checked). */
int provider_send_url(enum provider_api api, const char *base, const char *appkey, char *out,
                      size_t cap);
int provider_lookup_url(const char *base, const char *key, char *out, size_t cap);
int provider_query_url(enum provider_api api, const char *base, const char *appkey,
                       const char *request_id, char *out, size_t cap);

/* The idempotency key of a send of api for winner w; 0 or GD_ETOOBIG. */
int provider_key(enum provider_api api, const struct winner_msg *w, char *out, size_t cap);

/*
 * The JSON body of a send: template code and parameters (coupon code, seq),
 * one recipient, for AlimTalk resendParameter.isResend=false (see above).
 * Returns a malloc'd string (caller frees) or NULL when out of memory.
 */
char *provider_send_body(enum provider_api api, const struct gd_config *cfg,
                         const struct winner_msg *w, const char *coupon);

/* Meaning of a send's answer. */
void provider_classify_send(enum provider_api api, const struct provider_http *h,
                            struct provider_result *out);
/* Meaning of GET /v1/idempotency/{key}: the stored answer, or OUT_NOT_FOUND. */
void provider_classify_lookup(enum provider_api api, const struct provider_http *h,
                              struct provider_result *out);
/* Meaning of a query by request id (after OUT_UNCERTAIN). */
void provider_classify_query(enum provider_api api, const struct provider_http *h,
                             struct provider_result *out);

const char *provider_api_name(enum provider_api api); /* "alimtalk" / "sms" */
const char *provider_outcome_name(enum provider_outcome o);

#endif
