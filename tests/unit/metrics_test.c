/*
 * metrics_test.c - tests for entry-api/metrics.c: histogram bucketing at the
 * bounds, sums over several worker slots (each written by its own worker),
 * cumulative buckets ending in +Inf == _count, and counters by route and
 * status in Prometheus text; plus evstate's channel-name parser.
 */
#include <stdlib.h>

#include <event2/buffer.h>

#include "evstate.h"
#include "metrics.h"
#include "test.h"

static char *render(struct metrics *m)
{
    struct evbuffer *b = evbuffer_new();
    metrics_render(m, b);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

static int has(const char *text, const char *line)
{
    const char *p = strstr(text, line);
    return p && (p == text || p[-1] == '\n');
}

TEST(sums_and_buckets)
{
    struct metrics *m = metrics_create(2);
    CHECK(m != NULL);
    struct worker_metrics *w0 = metrics_slot(m, 0), *w1 = metrics_slot(m, 1);
    met_response(w0, ROUTE_ENTRY_POST, 202, 100);     /* on the 0.0001 bound: in it */
    met_response(w1, ROUTE_ENTRY_POST, 202, 101);     /* just above: next bucket */
    met_response(w1, ROUTE_ENTRY_POST, 503, 9000000); /* beyond every bound: +Inf */
    met_response(w0, ROUTE_HEALTHZ, 200, 5);
    met_inc(&w0->outcomes[GO_SOLD_OUT_MEMORY]);
    met_inc(&w1->outcomes[GO_SOLD_OUT_MEMORY]);
    char *t = render(m);
    CHECK(has(t, "giftdrop_http_requests_total{route=\"entry_post\",status=\"202\"} 2\n"));
    CHECK(has(t, "giftdrop_http_requests_total{route=\"entry_post\",status=\"503\"} 1\n"));
    CHECK(has(t, "giftdrop_http_requests_total{route=\"healthz\",status=\"200\"} 1\n"));
    CHECK(has(
        t,
        "giftdrop_http_request_duration_seconds_bucket{route=\"entry_post\",le=\"0.0001\"} 1\n"));
    CHECK(has(
        t,
        "giftdrop_http_request_duration_seconds_bucket{route=\"entry_post\",le=\"0.00025\"} 2\n"));
    CHECK(has(
        t, "giftdrop_http_request_duration_seconds_bucket{route=\"entry_post\",le=\"2.5\"} 2\n"));
    CHECK(has(
        t, "giftdrop_http_request_duration_seconds_bucket{route=\"entry_post\",le=\"+Inf\"} 3\n"));
    CHECK(has(t, "giftdrop_http_request_duration_seconds_count{route=\"entry_post\"} 3\n"));
    CHECK(has(t, "giftdrop_http_request_duration_seconds_sum{route=\"entry_post\"} 9.000201\n"));
    CHECK(has(t, "giftdrop_gate_outcomes_total{outcome=\"sold_out_from_memory\"} 2\n"));
    CHECK(has(t, "giftdrop_worker_requests_total{worker=\"0\"} 2\n"));
    CHECK(has(t, "giftdrop_worker_requests_total{worker=\"1\"} 2\n"));
    CHECK(has(t, "# TYPE giftdrop_publish_confirm_seconds histogram\n"));
    CHECK(!strstr(t, "status=\"404\"")); /* zero series are left out */
    free(t);
    /* A restarted worker's slot starts from zero. */
    metrics_slot(m, 1);
    t = render(m);
    CHECK(has(t, "giftdrop_worker_requests_total{worker=\"1\"} 0\n"));
    CHECK(has(t, "giftdrop_http_requests_total{route=\"entry_post\",status=\"202\"} 1\n"));
    free(t);
    metrics_destroy(m);
}

TEST(channels)
{
    CHECK_INT(evs_channel_event("ev:{42}:state", 13), 42);
    CHECK_INT(evs_channel_event("ev:{999999999999999}:state", 26), 999999999999999LL);
    CHECK_INT(evs_channel_event("ev:{}:state", 11), 0);
    CHECK_INT(evs_channel_event("ev:{4x}:state", 13), 0);
    CHECK_INT(evs_channel_event("ev:{1000000000000000}:state", 27), 0);
    CHECK_INT(evs_channel_event("ev:{42}:stat", 12), 0);
    CHECK_INT(evs_channel_event("xx:{42}:state", 13), 0);
}

int main(void)
{
    RUN(sums_and_buckets);
    RUN(channels);
    return TEST_DONE();
}
