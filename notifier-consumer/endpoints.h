/*
 * endpoints.h - the provider endpoints of both APIs, each list behind a
 * common/lb balancer (policy, passive health, circuit breaker, slow start).
 *
 * Sending is select -> send -> report, on the loop thread only (a balancer
 * is not thread-safe).  This file adds what the notifier needs around it:
 * the lists from configuration (PROVIDER_URL when a list is empty), a cheap
 * "could anything be selected now?" check made before a winner's ledger row
 * is touched, and one log line per breaker state change, naming the
 * endpoint, so an operator sees traffic move away and come back.
 */
#ifndef GD_NOTIFIER_ENDPOINTS_H
#define GD_NOTIFIER_ENDPOINTS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "lb.h"
#include "provider.h"

struct endpoint_set {
    struct lb *lb[2];             /* [API_ALIMTALK], [API_SMS] */
    enum lb_state *last_state[2]; /* per endpoint, for state-change logs */
};

/* Build both balancers from cfg.  0 or GD_ECONFIG with the reason in err. */
int endpoints_init(struct endpoint_set *es, const struct gd_config *cfg, char *err, size_t err_len);
void endpoints_free(struct endpoint_set *es);

/* What a select for api could get now. */
enum endpoint_avail {
    EP_NONE,  /* every endpoint open, or half-open with its probe out */
    EP_PROBE, /* only a probe is due: one request may go, to find out */
    EP_OPEN   /* some endpoint is closed: traffic may flow */
};

/* Cheap look at the breakers before a winner is started: while it is not
 * EP_OPEN, winners wait in the notifier (unacked) instead of failing. */
enum endpoint_avail endpoints_available(struct endpoint_set *es, enum provider_api api);

/* lb_select for api keyed by member (chash); the index, or LB_EUNAVAILABLE. */
int endpoints_select(struct endpoint_set *es, enum provider_api api, const char *member);
/* lb_report, then log any breaker state change.  latency_us < 0 = unknown. */
void endpoints_report(struct endpoint_set *es, enum provider_api api, int idx, bool ok,
                      int64_t latency_us);
/* The base URL of endpoint idx; borrowed until endpoints_free(). */
const char *endpoints_url(const struct endpoint_set *es, enum provider_api api, int idx);

/* One info line per endpoint: state, picks, successes, failures, EWMA. */
void endpoints_log_stats(struct endpoint_set *es);

#endif
