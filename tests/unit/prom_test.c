/*
 * prom_test.c - tests for common/prom.c: histogram bucketing at the bounds
 * (a value on a bound is inside it), cumulative buckets with _count equal
 * to +Inf, sums in seconds, samples with and without labels, HELP/TYPE
 * lines, and label-value escaping that never cuts an escape in half.
 */
#include <stdlib.h>

#include <event2/buffer.h>

#include "prom.h"
#include "test.h"

static char *text(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static const int64_t bounds[] = {100, 1000, 250000};

TEST(histogram)
{
    struct prom_hist h;
    struct evbuffer *b = evbuffer_new();
    prom_hist_init(&h, bounds, 3);
    prom_hist_observe(&h, 100);     /* on the first bound: inside it */
    prom_hist_observe(&h, 101);     /* just above: the second */
    prom_hist_observe(&h, -7);      /* negative counts as 0 */
    prom_hist_observe(&h, 9000000); /* past every bound: +Inf */
    CHECK_INT(prom_hist_count(&h), 4);
    prom_hist_render(b, "t_seconds", "api=\"sms\"", &h);
    char *s = text(b);
    CHECK_STR(s, "t_seconds_bucket{api=\"sms\",le=\"0.0001\"} 2\n"
                 "t_seconds_bucket{api=\"sms\",le=\"0.001\"} 3\n"
                 "t_seconds_bucket{api=\"sms\",le=\"0.25\"} 3\n"
                 "t_seconds_bucket{api=\"sms\",le=\"+Inf\"} 4\n"
                 "t_seconds_sum{api=\"sms\"} 9.000201\n"
                 "t_seconds_count{api=\"sms\"} 4\n");
    free(s);
    prom_hist_render(b, "u_seconds", "", &h);
    s = text(b);
    CHECK(strstr(s, "u_seconds_bucket{le=\"0.0001\"} 2\n") == s);
    CHECK(strstr(s, "\nu_seconds_sum 9.000201\nu_seconds_count 4\n") != NULL);
    free(s);
    evbuffer_free(b);
}

TEST(too_many_bounds_are_clamped)
{
    static const int64_t many[PROM_BUCKETS_MAX + 4] = {1};
    struct prom_hist h;
    prom_hist_init(&h, many, PROM_BUCKETS_MAX + 4);
    CHECK_INT(h.n, PROM_BUCKETS_MAX);
    prom_hist_observe(&h, 5); /* past every (zero) bound: +Inf, inside the array */
    CHECK_INT(prom_get(&h.bucket[PROM_BUCKETS_MAX]), 1);
}

TEST(samples_and_headers)
{
    struct evbuffer *b = evbuffer_new();
    prom_header(b, "x_total", "counter", "Things.");
    prom_sample(b, "x_total", "", 3);
    prom_sample(b, "x_total", NULL, 4);
    prom_sample(b, "x_total", "k=\"v\"", -1);
    char *s = text(b);
    CHECK_STR(s, "# HELP x_total Things.\n# TYPE x_total counter\n"
                 "x_total 3\nx_total 4\nx_total{k=\"v\"} -1\n");
    free(s);
    evbuffer_free(b);
}

TEST(counters)
{
    prom_counter c;
    atomic_init(&c, 0);
    prom_inc(&c);
    prom_add(&c, 41);
    CHECK_INT(prom_get(&c), 42);
}

TEST(escape)
{
    char out[64];
    CHECK_STR(prom_escape("http://a:1", out, sizeof(out)), "http://a:1");
    CHECK_STR(prom_escape("a\"b\\c\nd", out, sizeof(out)), "a\\\"b\\\\c\\nd");
    /* Cut short at the capacity, never half an escape. */
    CHECK_STR(prom_escape("ab\"c", out, 4), "ab");
    CHECK_STR(prom_escape("abcdef", out, 4), "abc");
    CHECK_STR(prom_escape("", out, sizeof(out)), "");
}

int main(void)
{
    RUN(histogram);
    RUN(too_many_bounds_are_clamped);
    RUN(samples_and_headers);
    RUN(counters);
    RUN(escape);
    return TEST_DONE();
}
