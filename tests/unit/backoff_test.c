/*
 * backoff_test.c - tests for common/backoff.c: the delay for attempt k is
 * drawn from [cap/4, cap] where cap = min(max, base * 2^k); the cap sequence
 * is checked exactly, each draw against its range over many runs, the spread
 * of draws over many picks, reset, and the "never zero, never above max"
 * promises (backoff.c: "Never zero: a floor of a quarter of the cap").
 */
#include <limits.h>

#include "backoff.h"
#include "test.h"

#define RUNS 2000

/* The cap for attempt k, computed here independently of backoff.c. */
static long long cap_for(int base, int max, int attempt)
{
    long long cap = base;
    for (int i = 0; i < attempt && cap < max; i++)
        cap *= 2;
    return cap < max ? cap : max;
}

/* Draw `draws` delays from a fresh backoff, RUNS times; count draws outside [cap/4, cap]. */
static int out_of_range(int base, int max, int draws)
{
    int bad = 0;
    for (int run = 0; run < RUNS; run++) {
        struct backoff b;
        backoff_init(&b, base, max);
        for (int k = 0; k < draws; k++) {
            long long cap = cap_for(base, max, k), d = backoff_next_ms(&b);
            if (d < cap / 4 || d > cap) {
                if (bad++ < 5)
                    fprintf(stderr, "  base %d max %d attempt %d: %lld outside [%lld, %lld]\n",
                            base, max, k, d, cap / 4, cap);
            }
        }
    }
    return bad;
}

TEST(cap_sequence)
{
    /* The sequence the services use (base 100, max 5000), and the helper agrees with it. */
    static const long long want[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
    for (int k = 0; k < 9; k++)
        CHECK_INT(cap_for(100, 5000, k), want[k]);
    /* Attempt 0 draws from [25, 100]: its maximum and minimum both occur over many runs. */
    int lo = 1000, hi = 0;
    for (int run = 0; run < RUNS; run++) {
        struct backoff b;
        backoff_init(&b, 100, 5000);
        int d = backoff_next_ms(&b);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    CHECK_INT(lo, 25);
    CHECK_INT(hi, 100);
}

TEST(draws_stay_in_range)
{
    CHECK_INT(out_of_range(100, 5000, 12), 0);
    CHECK_INT(out_of_range(50, 2000, 10), 0);
    CHECK_INT(out_of_range(100, 3000, 10), 0);
    CHECK_INT(out_of_range(7, 1000, 12), 0);       /* max not a power-of-two multiple */
    CHECK_INT(out_of_range(100, 100, 5), 0);       /* base == max */
    CHECK_INT(out_of_range(100, 50, 5), 0);        /* max below base: max wins */
    CHECK_INT(out_of_range(1000, INT_MAX, 40), 0); /* no overflow, attempt saturates */
}

/* Over many picks the draws spread over the whole range, not bunched at one end. */
TEST(spread)
{
    struct backoff b;
    backoff_init(&b, 1000, 1000); /* every draw from [250, 1000] */
    long long sum = 0;
    int lo = 1000, hi = 0, low_quarter = 0;
    for (int i = 0; i < RUNS * 5; i++) {
        int d = backoff_next_ms(&b);
        sum += d;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        low_quarter += d < 250 + 188; /* first quarter of the range */
    }
    double mean = (double)sum / (RUNS * 5);
    CHECK(lo < 260);
    CHECK(hi > 990);
    /* Uniform on [250, 1000]: mean 625, sd of the mean of 10000 draws ~2.2. */
    CHECK(mean > 605 && mean < 645);
    CHECK(low_quarter > 2000 && low_quarter < 3000);
}

TEST(reset_goes_back_to_base)
{
    int bad = 0;
    for (int run = 0; run < RUNS; run++) {
        struct backoff b;
        backoff_init(&b, 100, 5000);
        for (int k = 0; k < 8; k++)
            backoff_next_ms(&b);
        backoff_reset(&b);
        CHECK_INT(b.attempt, 0);
        int d0 = backoff_next_ms(&b), d1 = backoff_next_ms(&b);
        bad += d0 < 25 || d0 > 100 || d1 < 50 || d1 > 200;
    }
    CHECK_INT(bad, 0);
}

TEST(never_zero_never_above_max)
{
    int zero = 0, above = 0;
    for (int run = 0; run < RUNS; run++) {
        struct backoff b;
        backoff_init(&b, 100, 5000);
        for (int k = 0; k < 40; k++) {
            int d = backoff_next_ms(&b);
            zero += d <= 0;
            above += d > 5000;
        }
    }
    CHECK_INT(zero, 0);
    CHECK_INT(above, 0);
}

/*
 * Regression: with a base under 4 ms the floor cap/4 is 0, so a draw can be
 * 0 - an immediate retry, against the "never zero" promise.
 */
TEST(small_base_never_zero)
{
    static const int bases[] = {1, 2, 3};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        int zero = 0;
        for (int run = 0; run < RUNS; run++) {
            struct backoff b;
            backoff_init(&b, bases[i], 1000);
            zero += backoff_next_ms(&b) == 0;
        }
        if (zero)
            fprintf(stderr, "  base %d: %d of %d first delays were 0\n", bases[i], zero, RUNS);
        CHECK_INT(zero, 0);
    }
}

int main(void)
{
    RUN(cap_sequence);
    RUN(draws_stay_in_range);
    RUN(spread);
    RUN(reset_goes_back_to_base);
    RUN(never_zero_never_above_max);
    RUN(small_base_never_zero);
    return TEST_DONE();
}
