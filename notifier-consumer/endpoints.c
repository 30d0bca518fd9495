/*
 * endpoints.c - provider endpoints behind common/lb (see endpoints.h).
 */
#include "endpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "timeutil.h"

int endpoints_init(struct endpoint_set *es, const struct gd_config *cfg, char *err, size_t err_len)
{
    const char *lists[2] = {cfg->provider_alimtalk_endpoints, cfg->provider_sms_endpoints};
    const char *policies[2] = {cfg->provider_alimtalk_policy, cfg->provider_sms_policy};
    struct lb_options opts;
    memset(es, 0, sizeof(*es));
    /* A provider failing a third of its sends at random still delivers the
     * rest: five failures in a row (lb's default) happen every couple of
     * hundred sends then, and would keep opening the breaker.  A dead
     * endpoint reaches any threshold within milliseconds, and lb's
     * failure-rate window catches a mostly broken one. */
    lb_options_default(&opts);
    opts.fail_threshold = (int)cfg->provider_breaker_failures;
    for (int api = 0; api < 2; api++) {
        char why[256];
        /* One endpoint, PROVIDER_URL, unless a list is configured. */
        const char *list = lists[api][0] ? lists[api] : cfg->provider_url;
        if (lb_create_from_config(policies[api], list, &opts, &es->lb[api], why, sizeof(why)) !=
            GD_OK) {
            snprintf(err, err_len, "%s endpoints: %s", provider_api_name((enum provider_api)api),
                     why);
            endpoints_free(es);
            return GD_ECONFIG;
        }
        es->last_state[api] = calloc(lb_size(es->lb[api]), sizeof(enum lb_state));
        if (!es->last_state[api]) {
            endpoints_free(es);
            return GD_ENOMEM;
        }
        for (size_t i = 0; i < lb_size(es->lb[api]); i++) {
            struct lb_stats st;
            lb_stats(es->lb[api], (int)i, time_mono_ms(), &st);
            log_info(&(struct log_ctx){.conn = st.name}, "%s endpoint, weight %d, policy %s",
                     provider_api_name((enum provider_api)api), st.weight,
                     lb_policy_name(lb_policy(es->lb[api])));
        }
    }
    return GD_OK;
}

void endpoints_free(struct endpoint_set *es)
{
    for (int api = 0; api < 2; api++) {
        lb_free(es->lb[api]);
        free(es->last_state[api]);
        es->lb[api] = NULL;
        es->last_state[api] = NULL;
    }
}

enum endpoint_avail endpoints_available(struct endpoint_set *es, enum provider_api api)
{
    int64_t now = time_mono_ms();
    struct lb *lb = es->lb[api];
    enum endpoint_avail best = EP_NONE;
    for (size_t i = 0; i < lb_size(lb); i++) {
        struct lb_stats st;
        if (lb_stats(lb, (int)i, now, &st) != GD_OK)
            continue;
        if (st.state == LB_CLOSED)
            return EP_OPEN;
        /* lb_stats shows a due probe as half-open; one already out keeps
         * the endpoint busy (in flight), and nothing else may go there. */
        if (st.state == LB_HALF_OPEN && st.in_flight == 0)
            best = EP_PROBE;
    }
    return best;
}

/* Log what changed since the last look: the operator's view of the breaker. */
static void note_states(struct endpoint_set *es, enum provider_api api)
{
    int64_t now = time_mono_ms();
    struct lb *lb = es->lb[api];
    for (size_t i = 0; i < lb_size(lb); i++) {
        struct lb_stats st;
        if (lb_stats(lb, (int)i, now, &st) != GD_OK || st.state == es->last_state[api][i])
            continue;
        struct log_ctx ctx = {.conn = st.name};
        if (st.state == LB_OPEN)
            log_warn(&ctx, "%s endpoint breaker open: %d consecutive failures, probe in %lld ms",
                     provider_api_name(api), st.consecutive_failures,
                     (long long)(st.open_until_ms - now));
        else
            log_info(&ctx, "%s endpoint breaker %s (was %s)", provider_api_name(api),
                     lb_state_name(st.state), lb_state_name(es->last_state[api][i]));
        es->last_state[api][i] = st.state;
    }
}

int endpoints_select(struct endpoint_set *es, enum provider_api api, const char *member)
{
    int idx = lb_select(es->lb[api], member, time_mono_ms());
    note_states(es, api);
    return idx;
}

void endpoints_report(struct endpoint_set *es, enum provider_api api, int idx, bool ok,
                      int64_t latency_us)
{
    lb_report(es->lb[api], idx, ok, latency_us, time_mono_ms());
    note_states(es, api);
}

const char *endpoints_url(const struct endpoint_set *es, enum provider_api api, int idx)
{
    return lb_endpoint_name(es->lb[api], idx);
}

void endpoints_log_stats(struct endpoint_set *es)
{
    int64_t now = time_mono_ms();
    for (int api = 0; api < 2; api++) {
        struct lb *lb = es->lb[api];
        for (size_t i = 0; i < lb_size(lb); i++) {
            struct lb_stats st;
            if (lb_stats(lb, (int)i, now, &st) != GD_OK || st.picks == 0)
                continue;
            log_info(&(struct log_ctx){.conn = st.name},
                     "%s endpoint %s: picks %llu ok %llu failed %llu in flight %d ewma %lld us"
                     " opened %llu times",
                     provider_api_name((enum provider_api)api), lb_state_name(st.state),
                     (unsigned long long)st.picks, (unsigned long long)st.successes,
                     (unsigned long long)st.failures, st.in_flight, (long long)st.ewma_us,
                     (unsigned long long)st.opens);
        }
    }
}
