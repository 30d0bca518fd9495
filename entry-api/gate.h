/*
 * gate.h - entry-api's Redis side: one hiredis async context on the event
 * loop, scripts loaded on every connect, NOSCRIPT answered by one EVAL, and
 * reconnection with backoff and jitter.
 *
 * hiredis 0.14 has no command timeout, so the gate keeps its own: every
 * command has a deadline (REDIS_TIMEOUT_MS); when the oldest one passes, the
 * connection is presumed black-holed, every waiting caller is answered
 * GD_ETIMEOUT at once and the context is dropped (its late callbacks are
 * swallowed) and rebuilt.  While idle the gate PINGs once a second, so
 * readiness reflects a stalled Redis even without traffic.
 *
 * A call whose outcome is unknown (timeout, connection lost) gets a negative
 * rc and a NULL reply; every script the gate runs is idempotent or undoable.
 */
#ifndef GD_GATE_H
#define GD_GATE_H

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "scripts.h"

struct gate;
struct worker_metrics;

/*
 * rc 0: reply is Redis' answer (borrowed for the callback only; an error
 * reply is turned into GD_EREDIS_REPLY).  Otherwise GD_ETIMEOUT,
 * GD_EREDIS_IO (not connected / connection lost), GD_ENOMEM or GD_ESTOPPED.
 */
typedef void (*gate_fn)(void *arg, int rc, redisReply *reply);

/* Start connecting to url; NULL on a bad URL or out of memory.  m is borrowed. */
struct gate *gate_new(struct event_base *base, const char *url, int timeout_ms,
                      struct worker_metrics *m);
/* Answer every waiting call GD_ESTOPPED, drop the connection, free. */
void gate_free(struct gate *g);
/* 1 while connected with the scripts loaded and nothing timed out since. */
int gate_ready(const struct gate *g);
/* Calls waiting for Redis right now. */
int gate_pending(const struct gate *g);

/*
 * Each of these copies its arguments and calls fn exactly once, possibly
 * before returning (not ready, out of memory): callers must not touch their
 * state after the call.
 */
/* Run script id with nkeys keys, then the rest of argv as arguments. */
void gate_script(struct gate *g, enum script_id id, int nkeys, int argc, const char **argv,
                 gate_fn fn, void *arg);
/* Any other command, e.g. {"GET", key} or {"HMGET", key, "state"}. */
void gate_command(struct gate *g, int argc, const char **argv, gate_fn fn, void *arg);

#endif
