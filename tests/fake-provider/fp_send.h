/*
 * fp_send.h - the provider API proper: the two send endpoints and the
 * checks every provider call shares (secret, idempotency key).
 */
#ifndef GD_FP_SEND_H
#define GD_FP_SEND_H

#include <stdbool.h>

#include <event2/http.h>

#include "fp_app.h"
#include "fp_store.h"

#define FP_MAX_KEY_LEN    128
#define FP_MAX_RECIPIENTS 1000

/* True when the X-Secret-Key header equals --secret. */
bool fp_api_authorized(const struct fp_app *app, struct evhttp_request *req);

/*
 * Handles POST to a send endpoint of channel: checks, fault injection,
 * idempotency, delivery, record line, counters; the reply goes out after
 * the configured latency (or never, for injected timeouts and lost
 * replies).  path is the request path, for the record.
 */
void fp_send_handle(struct fp_app *app, struct evhttp_request *req, enum fp_channel channel,
                    const char *path);

#endif
