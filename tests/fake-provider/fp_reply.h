/*
 * fp_reply.h - answering requests, now or later.
 *
 * Provider answers are delayed by the configured latency on evtimers (the
 * loop never sleeps).  Each deferred request gets exactly one ending:
 * its reply, or - for a simulated hung upstream - the connection is closed
 * without one.  Deferred replies carry their own copy of the body, so a
 * POST /reset in between cannot pull data from under them.
 */
#ifndef GD_FP_REPLY_H
#define GD_FP_REPLY_H

#include <stdbool.h>

#include <cjson/cJSON.h>
#include <event2/http.h>

#include "fp_app.h"

#define FP_CONTENT_JSON "application/json;charset=UTF-8"

/* How long a simulated hung upstream holds the request before closing. */
#define FP_HOLD_MS 30000L

/* {"header":{"isSuccessful":ok,"resultCode":code,"resultMessage":message}}
 * as a new cJSON object (caller deletes). */
cJSON *fp_json_header(bool ok, int code, const char *message);

/* Sends status with body (may be NULL) now.  replay adds the header
 * "Idempotent-Replay: true". */
void fp_reply_now(struct evhttp_request *req, int status, const char *content_type,
                  const char *body, bool replay);

/* Prints json, sends it now as application/json, deletes json. */
void fp_reply_json(struct evhttp_request *req, int status, cJSON *json);

/* One latency draw from the configured distribution (slow replies
 * included), never negative. */
long fp_reply_delay_ms(struct fp_app *app);

/* Sends status and json (deleted here) after delay_ms. */
void fp_reply_later(struct fp_app *app, struct evhttp_request *req, long delay_ms, int status,
                    cJSON *json, bool replay);

/* The same with a Retry-After header of retry_after_s (none when < 0). */
void fp_reply_later_ex(struct fp_app *app, struct evhttp_request *req, long delay_ms, int status,
                       cJSON *json, bool replay, long retry_after_s);

/* Holds req for hold_ms, then closes its connection without a reply. */
void fp_close_later(struct fp_app *app, struct evhttp_request *req, long hold_ms);

/* Shutdown: ends every deferred request now (replies are sent, holds are
 * closed) and frees the bookkeeping.  Call before evhttp_free. */
void fp_reply_drain(struct fp_app *app);

#endif
