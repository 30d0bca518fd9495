/*
 * fp_app.h - the state of one gd-fake-provider process.  Every callback
 * reaches it through its void *arg; there are no globals.
 */
#ifndef GD_FP_APP_H
#define GD_FP_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>
#include <event2/http.h>

#include "fp_options.h"
#include "fp_rng.h"
#include "fp_store.h"

/* PRNG stream numbers (see fp_rng.h). */
#define FP_STREAM_FAULT   1
#define FP_STREAM_LATENCY 2
#define FP_STREAM_ID      3

struct fp_pending; /* a deferred reply, fp_reply.c */
struct ssl_ctx_st; /* OpenSSL's SSL_CTX, for --tls-cert */

struct fp_app {
    struct event_base *base;
    struct evhttp *http;
    const struct fp_options *opt; /* borrowed from main() */
    struct fp_injection inj;      /* current settings; POST /config changes them */
    struct fp_store store;
    struct fp_rng rng_fault;    /* one draw per send request */
    struct fp_rng rng_latency;  /* one draw per delayed reply */
    struct fp_rng rng_id;       /* request-id suffixes; not reseeded by /reset */
    uint64_t next_seq;          /* request-id sequence, never reset: ids stay unique */
    FILE *record_file;          /* NULL without --record */
    bool record_failed;         /* a write error was logged already */
    struct fp_pending *pending; /* deferred replies, doubly linked */
    size_t n_pending;
    struct event *sigint, *sigterm; /* stop the loop */
    struct event *cron;             /* periodic housekeeping (key expiry) */
    struct ssl_ctx_st *tls;         /* NULL: plain HTTP */
};

#endif
