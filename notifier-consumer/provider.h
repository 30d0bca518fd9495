/*
 * provider.h - the notification provider's HTTP API (NHN Cloud style):
 * AlimTalk with SMS fallback for KakaoTalk members, plain SMS otherwise.
 * Every send carries the entry_id as its idempotency key, so a resend of an
 * unknown outcome is answered "duplicate" instead of delivered twice.
 */
#ifndef GD_PROVIDER_H
#define GD_PROVIDER_H

#include <curl/curl.h>

#include "config.h"

enum send_status { SEND_OK, SEND_TRANSIENT, SEND_PERMANENT };

struct send_result {
    enum send_status status;
    char request_id[96];
    char endpoint[160];
    char error[200];
};

struct provider_resp;

struct provider {
    const struct gd_config *cfg;
    CURL *curl;                 /* reused: keeps the connection alive between sends */
    struct provider_resp *resp; /* the last answer's body, owned */
};

int provider_init(struct provider *p, const struct gd_config *cfg);
void provider_free(struct provider *p);

/* Send the coupon; blocking, bounded by PROVIDER_TIMEOUT_MS. */
void provider_send(struct provider *p, const char *channel, const char *phone, const char *coupon,
                   const char *entry_id, long seq, struct send_result *out);

/*
 * Ask whether a send with this idempotency key already went out (the unknown
 * outcome of a timeout or a crash).  1 = sent (request_id filled), 0 = not,
 * -1 = cannot tell.
 */
int provider_lookup(struct provider *p, const char *entry_id, struct send_result *out);

#endif
