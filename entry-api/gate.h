/*
 * gate.h - entry-api's Redis side: one hiredis async context on the event
 * loop, scripts loaded on every connect, NOSCRIPT answered by one EVAL, and
 * reconnection with backoff.  A call whose connection fails gets rc
 * GD_EREDIS_IO and a NULL reply: outcome unknown, which is why every script
 * it runs is idempotent or undoable.
 */
#ifndef GD_GATE_H
#define GD_GATE_H

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "scripts.h"

struct gate;

/* rc 0: reply is the script's result (borrowed for the callback only). */
typedef void (*gate_fn)(void *arg, int rc, redisReply *reply);

/* Connect (asynchronously) to url; NULL on a bad URL or out of memory. */
struct gate *gate_new(struct event_base *base, const char *url);
void gate_free(struct gate *g);
/* 1 while connected. */
int gate_ready(const struct gate *g);

/* Run script id with nkeys keys then args (copied).  fn runs exactly once. */
void gate_script(struct gate *g, enum script_id id, int nkeys, int argc, const char **argv,
                 gate_fn fn, void *arg);
/* GET key; fn gets the string reply (or nil). */
void gate_get(struct gate *g, const char *key, gate_fn fn, void *arg);

#endif
