/*
 * lb_test.c - tests for common/lb.c and the policies in common/lb_*.c
 * (consistent hashing has its own file, lb_chash_test.c).
 *
 * Known answers: round robin's exact order; smooth weighted round robin's
 * sequences, computed independently with a ten-line Python model of
 * nginx's ngx_http_upstream_get_peer ({5,1,1} -> aabacaa, {3,2,1} ->
 * abacba, {4,2} -> abaaba, {2,3,5} -> cbacbccabc); least-connections picks
 * for given in-flight counts; EWMA preferring the fast endpoint and moving
 * when it slows.  Distributions over 100,000 picks.  The breaker: opens after
 * N failures or a failure rate, no picks while open, exactly one probe when
 * the cool-down is over, probe success closes, probe failure reopens with a
 * doubled cool-down.  Slow start ramps.  Configuration errors.
 */
#include <stdlib.h>

#include "lb.h"
#include "test.h"

#define PICKS 100000

static struct lb *mk(const char *policy, const char *spec, const struct lb_options *o)
{
    struct lb *lb = NULL;
    char err[256] = "";
    int rc = lb_create_from_config(policy, spec, o, &lb, err, sizeof err);
    if (rc != GD_OK)
        fprintf(stderr, "  lb_create_from_config(%s, %s): %s\n", policy, spec, err);
    CHECK_INT(rc, GD_OK);
    return lb;
}

/* Options with the breaker and slow start out of the way, for pure sequences. */
static struct lb_options quiet(void)
{
    struct lb_options o;
    lb_options_default(&o);
    o.fail_threshold = 0;
    o.window_fail_pct = 0;
    o.slow_start_ms = 0;
    return o;
}

/* `count` select+report(ok) rounds at now_ms; the picks as letters ('a' = index 0) in out. */
static void run_picks(struct lb *lb, int count, int64_t now_ms, char *out)
{
    for (int i = 0; i < count; i++) {
        int idx = lb_select(lb, "k", now_ms);
        out[i] = idx >= 0 ? (char)('a' + idx) : '-';
        if (idx >= 0)
            CHECK_INT(lb_report(lb, idx, true, 1000, now_ms), GD_OK);
    }
    out[count] = '\0';
}

static void check_sequence(const char *policy, const char *spec, const char *want)
{
    struct lb_options o = quiet();
    struct lb *lb = mk(policy, spec, &o);
    char got[128];
    if (!lb)
        return;
    run_picks(lb, (int)strlen(want), 0, got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "  %s %s\n", policy, spec);
    CHECK_STR(got, want);
    lb_free(lb);
}

static enum lb_state state_of(struct lb *lb, int idx, int64_t now_ms)
{
    struct lb_stats st;
    CHECK_INT(lb_stats(lb, idx, now_ms, &st), GD_OK);
    return st.state;
}

TEST(policy_names)
{
    static const char *const names[] = {"round_robin", "weighted", "least_conn", "ewma", "chash"};
    CHECK_INT(LB_POLICY_COUNT, 5);
    for (int p = 0; p < LB_POLICY_COUNT; p++) {
        enum lb_policy got;
        CHECK_STR(lb_policy_name((enum lb_policy)p), names[p]);
        CHECK_INT(lb_policy_from_name(names[p], &got), GD_OK);
        CHECK_INT(got, p);
    }
    enum lb_policy got;
    CHECK_INT(lb_policy_from_name("random", &got), GD_ENOTFOUND);
    CHECK_INT(lb_policy_from_name("Round_Robin", &got), GD_ENOTFOUND);
    CHECK_STR(lb_policy_name(LB_POLICY_COUNT), "unknown");
    CHECK_STR(lb_state_name(LB_CLOSED), "closed");
    CHECK_STR(lb_state_name(LB_OPEN), "open");
    CHECK_STR(lb_state_name(LB_HALF_OPEN), "half_open");
    CHECK(LB_EUNAVAILABLE < 0);
}

TEST(round_robin_exact_order)
{
    check_sequence("round_robin", "a,b,c", "abcabcabcabc");
    check_sequence("round_robin", "a=5,b=1,c=1", "abcabcabc"); /* weights ignored */
    check_sequence("round_robin", "only", "aaaa");
}

TEST(weighted_nginx_sequences)
{
    /* Hand-checked for {5,1,1}: current weights 5,1,1 -> a; 3,2,2 -> a; 1,3,3 -> b;
     * 6,-3,4 -> a; 4,-2,5 -> c; 9,-1,-1 -> a; 7,0,0 -> a; back to 0,0,0. */
    check_sequence("weighted", "a=5,b=1,c=1", "aabacaaaabacaa");
    check_sequence("weighted", "a=3,b=2,c=1", "abacbaabacba");
    check_sequence("weighted", "a=4,b=2", "abaabaabaaba");
    check_sequence("weighted", "a=2,b=3,c=5", "cbacbccabccbacbccabc");
    check_sequence("weighted", "a,b,c", "abcabc"); /* equal weights: plain round robin */
}

TEST(least_conn_picks)
{
    struct lb_options o = quiet();
    struct lb *lb = mk("least_conn", "a,b,c", &o);
    if (!lb)
        return;
    /* Nothing reported: in-flight grows evenly.  Among ties, smooth weighted round robin
     * over the tied ones only, as nginx does (current weights, by hand): a,b,c tie
     * 1,1,1 -> a (-2,1,1); b,c tie 2,2 -> b (-2,0,2); c alone 3 -> c (-2,0,2); all tie
     * -1,1,3 -> c (-1,1,0); a,b tie 0,2 -> b (0,0,0); a alone -> a.  So: abc cba. */
    char got[16];
    for (int i = 0; i < 6; i++)
        got[i] = (char)('a' + lb_select(lb, NULL, 0));
    got[6] = '\0';
    CHECK_STR(got, "abccba"); /* in flight now 2,2,2 */
    /* b finishes twice: b has 0 in flight, then 1, then ties with nobody below 2. */
    CHECK_INT(lb_report(lb, 1, true, 1000, 0), GD_OK);
    CHECK_INT(lb_report(lb, 1, true, 1000, 0), GD_OK);
    CHECK_INT(lb_select(lb, NULL, 0), 1); /* in flight 2,0,2 */
    CHECK_INT(lb_select(lb, NULL, 0), 1); /* 2,1,2 */
    /* c finishes three... c has 2: report one, c alone is lowest (1 vs 2,2). */
    CHECK_INT(lb_report(lb, 2, true, 1000, 0), GD_OK);
    CHECK_INT(lb_select(lb, NULL, 0), 2);
    struct lb_stats st;
    for (int i = 0; i < 3; i++) {
        CHECK_INT(lb_stats(lb, i, 0, &st), GD_OK);
        CHECK_INT(st.in_flight, 2);
    }
    lb_free(lb);

    /* Ties go by weight, in turn: with immediate reports everything ties. */
    check_sequence("least_conn", "a=2,b=1", "abaabaaba");
    check_sequence("least_conn", "a=5,b=1,c=1", "aabacaa");

    /* Fewest in flight wins over weight: a (weight 5) with 2 in flight loses to b with 1. */
    lb = mk("least_conn", "a=5,b=1", &o);
    if (!lb)
        return;
    CHECK_INT(lb_select(lb, NULL, 0), 0); /* 0,0 tie -> weight: a */
    CHECK_INT(lb_select(lb, NULL, 0), 1); /* 1,0 -> b */
    CHECK_INT(lb_select(lb, NULL, 0), 0); /* 1,1 tie -> weighted turn: a */
    CHECK_INT(lb_select(lb, NULL, 0), 1); /* 2,1 -> b */
    lb_free(lb);
}

TEST(ewma_prefers_fast_and_shifts)
{
    struct lb_options o = quiet();
    struct lb *lb = mk("ewma", "fast,slow", &o);
    if (!lb)
        return;
    int64_t t = 1000;
    /* No samples: equal cost, in turn. */
    CHECK_INT(lb_select(lb, NULL, t), 0);
    CHECK_INT(lb_select(lb, NULL, t), 1);
    CHECK_INT(lb_report(lb, 0, true, 10000, t), GD_OK); /* 10 ms */
    CHECK_INT(lb_report(lb, 1, true, 35000, t), GD_OK); /* 35 ms */
    struct lb_stats st;
    CHECK_INT(lb_stats(lb, 0, t, &st), GD_OK);
    CHECK_INT(st.ewma_us, 10000);
    CHECK_INT(lb_stats(lb, 1, t, &st), GD_OK);
    CHECK_INT(st.ewma_us, 35000);

    /* Sequential traffic all goes to the fast one. */
    int fast = 0;
    for (int i = 0; i < 100; i++) {
        int idx = lb_select(lb, NULL, ++t);
        fast += idx == 0;
        lb_report(lb, idx, true, idx == 0 ? 10000 : 35000, t);
    }
    CHECK_INT(fast, 100);

    /* Concurrent: the in-flight penalty spills over once 10 ms x (k + 1) > 35 ms. */
    char got[8];
    for (int i = 0; i < 4; i++)
        got[i] = (char)('a' + lb_select(lb, NULL, t));
    got[4] = '\0';
    CHECK_STR(got, "aaab"); /* costs 10, 20, 30 < 35; then 40 > 35 */
    /* ... and the fast one slows down: its first 200 ms answer moves traffic at once (peak). */
    for (int i = 0; i < 3; i++)
        CHECK_INT(lb_report(lb, 0, true, 200000, t), GD_OK);
    CHECK_INT(lb_report(lb, 1, true, 35000, t), GD_OK);
    CHECK_INT(lb_stats(lb, 0, t, &st), GD_OK);
    CHECK_INT(st.ewma_us, 200000);
    int64_t t_slow = t; /* the fast one's last sample */
    int slow = 0;
    for (int i = 0; i < 100; i++) {
        int idx = lb_select(lb, NULL, ++t);
        slow += idx == 1;
        lb_report(lb, idx, true, idx == 0 ? 200000 : 35000, t);
    }
    CHECK_INT(slow, 100);

    /* Unused for a while, the old peak decays (e^(-dt/tau)) and it is tried again. */
    CHECK_INT(lb_stats(lb, 0, t_slow + 10000, &st), GD_OK);
    CHECK(st.ewma_us > 73000 && st.ewma_us < 74000); /* 200 ms x e^-1 = 73.58 ms */
    /* With b busy (a request every 10 ms), a is retried once 200 ms x e^(-dt/10 s) drops
     * below b's ~35 ms: dt = 10 s x ln(200 / 34.97) = 17.44 s after a's last sample. */
    int64_t retried = -1;
    for (t += 10; t < t_slow + 30000 && retried < 0; t += 10) {
        int idx = lb_select(lb, NULL, t);
        if (idx == 0)
            retried = t - t_slow;
        lb_report(lb, idx, true, 35000, t);
    }
    CHECK(retried >= 17400 && retried <= 17500);
    lb_free(lb);
}

TEST(ewma_folds_samples)
{
    struct lb_options o = quiet();
    struct lb *lb = mk("ewma", "a", &o);
    if (!lb)
        return;
    struct lb_stats st;
    /* Below the average, a burst in the same millisecond still counts 1/16 each. */
    lb_select(lb, NULL, 0);
    lb_report(lb, 0, true, 16000, 0);
    lb_select(lb, NULL, 0);
    lb_report(lb, 0, true, 0, 0);
    CHECK_INT(lb_stats(lb, 0, 0, &st), GD_OK);
    CHECK_INT(st.ewma_us, 15000);
    /* A failure counts as at least the penalty (1 s): a fast error is not a fast server. */
    lb_select(lb, NULL, 0);
    lb_report(lb, 0, false, 2000, 0);
    CHECK_INT(lb_stats(lb, 0, 0, &st), GD_OK);
    CHECK_INT(st.ewma_us, 1000000);
    /* Unknown latency: no sample. */
    lb_select(lb, NULL, 0);
    lb_report(lb, 0, true, -1, 0);
    CHECK_INT(lb_stats(lb, 0, 0, &st), GD_OK);
    CHECK_INT(st.ewma_us, 1000000);
    lb_free(lb);
}

/* Count picks per endpoint over PICKS select+report rounds. */
static void distribution(const char *policy, const char *spec, const int *want, int n)
{
    struct lb_options o = quiet();
    struct lb *lb = mk(policy, spec, &o);
    int count[8] = {0};
    if (!lb)
        return;
    for (int i = 0; i < PICKS; i++) {
        int idx = lb_select(lb, NULL, 0);
        CHECK(idx >= 0 && idx < n);
        if (idx < 0 || idx >= n)
            break;
        count[idx]++;
        lb_report(lb, idx, true, 1000, 0);
    }
    for (int i = 0; i < n; i++) {
        if (count[i] != want[i])
            fprintf(stderr, "  %s %s: endpoint %d\n", policy, spec, i);
        CHECK_INT(count[i], want[i]);
    }
    lb_free(lb);
}

TEST(distributions)
{
    /* Tolerance 0: these policies are exact over whole cycles (100,000 is a multiple of
     * every sum of weights here), so any deviation is a bug, not noise. */
    static const int rr[] = {33334, 33333, 33333};
    static const int wrr[] = {50000, 30000, 20000};
    static const int wrr2[] = {62500, 25000, 12500};
    distribution("round_robin", "a=5,b=3,c=2", rr, 3);
    distribution("weighted", "a=5,b=3,c=2", wrr, 3);
    distribution("weighted", "a=5,b=2,c=1", wrr2, 3);
    distribution("least_conn", "a=5,b=3,c=2", wrr, 3); /* sequential: every pick is a tie */
    /* ewma with equal latencies and sequential traffic (one instant): equal costs, in turn. */
    distribution("ewma", "a,b,c", rr, 3);
}

/* Options for the breaker tests: 3 failures open it for 1 s, doubling to 8 s. */
static struct lb_options breaker_opts(void)
{
    struct lb_options o = quiet();
    o.fail_threshold = 3;
    o.open_ms = 1000;
    o.open_max_ms = 8000;
    return o;
}

TEST(breaker_opens_probes_closes)
{
    struct lb_options o = breaker_opts();
    struct lb *lb = mk("round_robin", "a,b", &o);
    if (!lb)
        return;
    struct lb_stats st;
    /* a fails three times in a row (b answers in between: consecutive on a). */
    for (int i = 0; i < 3; i++) {
        CHECK_INT(lb_select(lb, NULL, 0), 0);
        CHECK_INT(lb_report(lb, 0, false, 1000, 0), GD_OK);
        CHECK_INT(state_of(lb, 0, 0), i < 2 ? LB_CLOSED : LB_OPEN);
        CHECK_INT(lb_select(lb, NULL, 0), 1);
        CHECK_INT(lb_report(lb, 1, true, 1000, 0), GD_OK);
    }
    CHECK_INT(lb_stats(lb, 0, 0, &st), GD_OK);
    CHECK_INT(st.opens, 1);
    CHECK_INT(st.open_until_ms, 1000);
    CHECK_INT(st.consecutive_failures, 3);
    /* Open: no picks at all for the whole cool-down. */
    int a_picks = 0;
    for (int64_t t = 0; t < 1000; t += 7) {
        int idx = lb_select(lb, NULL, t);
        a_picks += idx == 0;
        lb_report(lb, idx, true, 1000, t);
    }
    CHECK_INT(a_picks, 0);
    /* Cool-down over: exactly one probe, then nothing else until it reports. */
    CHECK_INT(state_of(lb, 0, 1000), LB_HALF_OPEN);
    CHECK_INT(lb_select(lb, NULL, 1000), 0);
    for (int i = 0; i < 50; i++) {
        int idx = lb_select(lb, NULL, 1000 + i);
        CHECK_INT(idx, 1);
        lb_report(lb, idx, true, 1000, 1000 + i);
    }
    /* The probe fails: open again for twice as long. */
    CHECK_INT(lb_report(lb, 0, false, 1000, 1050), GD_OK);
    CHECK_INT(lb_stats(lb, 0, 1050, &st), GD_OK);
    CHECK_INT(st.state, LB_OPEN);
    CHECK_INT(st.open_until_ms, 3050);
    CHECK_INT(st.opens, 2);
    CHECK_INT(lb_select(lb, NULL, 3049), 1);
    CHECK_INT(lb_report(lb, 1, true, 1000, 3049), GD_OK);
    /* Second probe succeeds: closed, round robin again. */
    CHECK_INT(lb_select(lb, NULL, 3050), 0);
    CHECK_INT(state_of(lb, 0, 3050), LB_HALF_OPEN);
    CHECK_INT(lb_report(lb, 0, true, 1000, 3060), GD_OK);
    CHECK_INT(state_of(lb, 0, 3060), LB_CLOSED);
    char got[8];
    run_picks(lb, 4, 3060, got);
    CHECK(strchr(got, 'a') && strchr(got, 'b'));
    CHECK_INT(lb_stats(lb, 0, 3060, &st), GD_OK);
    CHECK_INT(st.consecutive_failures, 0);
    CHECK_INT(st.failures, 4);
    lb_free(lb);
}

TEST(breaker_cooldown_doubles_to_max)
{
    struct lb_options o = breaker_opts();
    o.fail_threshold = 1;
    struct lb *lb = mk("round_robin", "a", &o);
    if (!lb)
        return;
    static const int64_t cool[] = {1000, 2000, 4000, 8000, 8000, 8000};
    int64_t t = 0;
    CHECK_INT(lb_select(lb, NULL, t), 0);
    CHECK_INT(lb_report(lb, 0, false, 1000, t), GD_OK);
    for (int k = 0; k < 6; k++) {
        struct lb_stats st;
        CHECK_INT(lb_stats(lb, 0, t, &st), GD_OK);
        CHECK_INT(st.open_until_ms - t, cool[k]);
        /* All open and no probe due: "no endpoint available", a transient error. */
        CHECK_INT(lb_select(lb, NULL, st.open_until_ms - 1), LB_EUNAVAILABLE);
        t = st.open_until_ms;
        CHECK_INT(lb_select(lb, NULL, t), 0);               /* the probe */
        CHECK_INT(lb_select(lb, NULL, t), LB_EUNAVAILABLE); /* only one */
        CHECK_INT(lb_report(lb, 0, false, 1000, t), GD_OK);
    }
    /* A probe success resets the cool-down to open_ms for the next trip. */
    t += 8000;
    CHECK_INT(lb_select(lb, NULL, t), 0);
    CHECK_INT(lb_report(lb, 0, true, 1000, t), GD_OK);
    CHECK_INT(lb_select(lb, NULL, t), 0);
    CHECK_INT(lb_report(lb, 0, false, 1000, t), GD_OK);
    struct lb_stats st;
    CHECK_INT(lb_stats(lb, 0, t, &st), GD_OK);
    CHECK_INT(st.open_until_ms - t, 1000);
    lb_free(lb);
}

TEST(breaker_stale_reports)
{
    struct lb_options o = breaker_opts();
    o.fail_threshold = 1;
    struct lb *lb = mk("round_robin", "a,b", &o);
    if (!lb)
        return;
    CHECK_INT(lb_select(lb, NULL, 0), 0);
    CHECK_INT(lb_select(lb, NULL, 0), 1);
    CHECK_INT(lb_select(lb, NULL, 0), 0); /* a has two in flight */
    CHECK_INT(lb_report(lb, 0, false, 1000, 0), GD_OK);
    CHECK_INT(state_of(lb, 0, 0), LB_OPEN);
    /* The older request answers late and fine: counted, but it does not close the breaker. */
    CHECK_INT(lb_report(lb, 0, true, 1000, 10), GD_OK);
    CHECK_INT(state_of(lb, 0, 10), LB_OPEN);
    /* A report with nothing in flight is a caller bug: refused, nothing changes. */
    CHECK_INT(lb_report(lb, 0, true, 1000, 10), GD_EINVAL);
    CHECK_INT(lb_report(lb, 2, true, 1000, 10), GD_EINVAL);
    CHECK_INT(lb_report(lb, -1, true, 1000, 10), GD_EINVAL);
    struct lb_stats st;
    CHECK_INT(lb_stats(lb, 0, 10, &st), GD_OK);
    CHECK_INT(st.in_flight, 0);
    CHECK_INT(st.successes, 1);
    CHECK_INT(st.failures, 1);
    CHECK_INT(st.picks, 2);
    CHECK_STR(st.name, "a");
    CHECK_INT(lb_stats(lb, 2, 10, &st), GD_EINVAL);
    CHECK_INT(lb_report(lb, 1, true, 1000, 10), GD_OK);
    lb_free(lb);
}

TEST(breaker_failure_rate_window)
{
    struct lb_options o = quiet();
    o.window_ms = 1000;
    o.window_min_requests = 10;
    o.window_fail_pct = 50;
    struct lb *lb = mk("round_robin", "a", &o);
    if (!lb)
        return;
    /* ok, fail, ok, fail ...: never 2 failures in a row, but half of them. */
    for (int i = 0; i < 10; i++) {
        CHECK_INT(lb_select(lb, NULL, 100), 0);
        CHECK_INT(lb_report(lb, 0, i % 2 == 1, 1000, 100), GD_OK);
        /* Reports 1..9 are fewer than 10; report 10 reaches 5 of 10 but is a success,
         * and the rate is judged on failures only: still closed. */
        CHECK_INT(state_of(lb, 0, 100), LB_CLOSED);
    }
    lb_free(lb);

    /* Fail on even reports instead, so report 10 is the fifth failure. */
    lb = mk("round_robin", "a", &o);
    if (!lb)
        return;
    for (int i = 0; i < 10; i++) {
        CHECK_INT(lb_select(lb, NULL, 100), 0);
        CHECK_INT(lb_report(lb, 0, i % 2 == 0, 1000, 100), GD_OK);
        CHECK_INT(state_of(lb, 0, 100), i < 9 ? LB_CLOSED : LB_OPEN);
    }
    lb_free(lb);

    /* The same failures spread beyond the window never trip it. */
    lb = mk("round_robin", "a", &o);
    if (!lb)
        return;
    for (int i = 0; i < 40; i++) {
        int64_t t = (int64_t)i * 300; /* about 4 reports per 1 s window */
        CHECK_INT(lb_select(lb, NULL, t), 0);
        CHECK_INT(lb_report(lb, 0, i % 2 == 0, 1000, t), GD_OK);
    }
    CHECK_INT(state_of(lb, 0, 12000), LB_CLOSED);
    lb_free(lb);
}

/* Open endpoint 0 with one failure and close it again with a probe at t; returns t. */
static int64_t recover_first(struct lb *lb, int64_t t)
{
    int idx;
    while ((idx = lb_select(lb, "x", t)) != 0) /* chash: any key that lands on 0 */
        lb_report(lb, idx, true, 1000, t);
    CHECK_INT(lb_report(lb, 0, false, 1000, t), GD_OK);
    CHECK_INT(state_of(lb, 0, t), LB_OPEN);
    t += 1000;
    CHECK_INT(lb_select(lb, "x", t), 0);
    CHECK_INT(lb_report(lb, 0, true, 1000, t), GD_OK);
    CHECK_INT(state_of(lb, 0, t), LB_CLOSED);
    return t;
}

static struct lb_options slow_start_opts(void)
{
    struct lb_options o = breaker_opts();
    o.fail_threshold = 1;
    o.slow_start_ms = 10000;
    o.slow_start_min_pct = 10;
    return o;
}

/* Picks of endpoint 0 in `count` sequential rounds at time t. */
static int count_first(struct lb *lb, int count, int64_t t)
{
    int first = 0;
    for (int i = 0; i < count; i++) {
        int idx = lb_select(lb, NULL, t);
        first += idx == 0;
        lb_report(lb, idx, true, 1000, t);
    }
    return first;
}

TEST(slow_start_ramps)
{
    struct lb_options o = slow_start_opts();
    struct lb *lb = mk("weighted", "a,b", &o);
    if (!lb)
        return;
    int64_t t = recover_first(lb, 0);
    struct lb_stats st;
    static const struct {
        int64_t after;
        int pct;
    } ramp[] = {{0, 10}, {1000, 19}, {5000, 55}, {9999, 99}, {10000, 100}, {60000, 100}};
    for (size_t i = 0; i < sizeof ramp / sizeof ramp[0]; i++) {
        CHECK_INT(lb_stats(lb, 0, t + ramp[i].after, &st), GD_OK);
        CHECK_INT(st.ramp_pct, ramp[i].pct);
    }
    /* Effective weights 100 : 1000 then 550 : 1000 then 1 : 1 (smooth WRR: +-1). */
    int n = count_first(lb, 1100, t);
    CHECK(n >= 99 && n <= 101);
    n = count_first(lb, 1550, t + 5000);
    CHECK(n >= 549 && n <= 551);
    n = count_first(lb, 1000, t + 10000);
    CHECK(n >= 499 && n <= 501);
    lb_free(lb);

    /* Round robin without weights: at 10 % a takes one turn in ten, 1/11 of the picks. */
    lb = mk("round_robin", "a,b", &o);
    if (!lb)
        return;
    t = recover_first(lb, 0);
    n = count_first(lb, 1100, t);
    CHECK(n >= 99 && n <= 101);
    n = count_first(lb, 1000, t + 10000);
    CHECK_INT(n, 500);
    lb_free(lb);

    /* Least connections: the recovered endpoint is not flooded.  Twenty concurrent picks:
     * without slow start a takes half; at 10 % it looks 10x busier and takes one. */
    for (int with_ramp = 0; with_ramp < 2; with_ramp++) {
        struct lb_options lo = o;
        lo.slow_start_ms = with_ramp ? 10000 : 0;
        lb = mk("least_conn", "a,b", &lo);
        if (!lb)
            return;
        t = recover_first(lb, 0);
        int a = 0;
        for (int i = 0; i < 20; i++)
            a += lb_select(lb, NULL, t) == 0;
        CHECK_INT(a, with_ramp ? 1 : 10);
        lb_free(lb);
    }
}

TEST(config_errors)
{
    static const struct {
        const char *policy, *spec, *needle;
    } bad[] = {
        {"weighted", "", "no endpoints"},
        {"weighted", "   ", "no endpoints"},
        {"weighted", "http://a:9090=0", "weight \"0\""},
        {"weighted", "http://a:9090=x", "weight \"x\""},
        {"weighted", "http://a:9090=-1", "weight \"-1\""},
        {"weighted", "http://a:9090=101", "weight \"101\""},
        {"weighted", "http://a:9090=3x", "weight \"3x\""},
        {"weighted", "http://a:9090= ", "weight \"\""},
        {"weighted", "http://a:9090=99999999999999999999", "not an integer in 1..100"},
        {"weighted", "http://a/?k=v", "weight \"v\""}, /* '=' in a URL needs a weight */
        {"weighted", "a,,b", "endpoint 2: empty item"},
        {"weighted", "a,b,", "endpoint 3: empty item"},
        {"weighted", "=3", "endpoint 1: empty item"},
        {"weighted", "http://a:9090=3,http://b:9090=1,http://a:9090=2", "listed twice"},
        {"weighted", "a, a", "endpoint 2: \"a\" is listed twice"},
        {"fastest", "a,b", "unknown load balancing policy \"fastest\""},
        {"", "a,b", "unknown load balancing policy"},
        {"weighted", "a\tb", "control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct lb *lb = (struct lb *)&i; /* must be reset to NULL */
        char err[256] = "";
        CHECK_INT(lb_create_from_config(bad[i].policy, bad[i].spec, NULL, &lb, err, sizeof err),
                  GD_ECONFIG);
        CHECK(lb == NULL);
        if (!strstr(err, bad[i].needle))
            fprintf(stderr, "  \"%s\": err \"%s\" lacks \"%s\"\n", bad[i].spec, err, bad[i].needle);
        CHECK(strstr(err, bad[i].needle) != NULL);
    }

    /* Too many endpoints; too long a name. */
    char spec[LB_MAX_ENDPOINTS * 8 + 16] = "";
    for (int i = 0; i <= LB_MAX_ENDPOINTS; i++)
        snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%se%d", i ? "," : "", i);
    struct lb *lb = NULL;
    char err[256];
    CHECK_INT(lb_create_from_config("weighted", spec, NULL, &lb, err, sizeof err), GD_ECONFIG);
    CHECK(strstr(err, "more than 64") != NULL);
    char name[LB_MAX_NAME + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    CHECK_INT(lb_create_from_config("weighted", name, NULL, &lb, err, sizeof err), GD_ECONFIG);
    name[LB_MAX_NAME] = '\0';
    CHECK_INT(lb_create_from_config("weighted", name, NULL, &lb, NULL, 0), GD_OK);
    lb_free(lb);

    /* Options out of range. */
    struct lb_options o;
    lb_options_default(&o);
    o.open_max_ms = 10;
    CHECK_INT(lb_create_from_config("weighted", "a", &o, &lb, err, sizeof err), GD_ECONFIG);
    CHECK(strstr(err, "open_max_ms") != NULL);
    lb_options_default(&o);
    o.chash_points = 0;
    CHECK_INT(lb_create_from_config("chash", "a", &o, &lb, err, sizeof err), GD_ECONFIG);
    CHECK(strstr(err, "chash_points = 0") != NULL);

    /* NULLs: GD_EINVAL. */
    CHECK_INT(lb_create_from_config(NULL, "a", NULL, &lb, err, sizeof err), GD_EINVAL);
    CHECK_INT(lb_create_from_config("weighted", NULL, NULL, &lb, err, sizeof err), GD_EINVAL);
    CHECK_INT(lb_create_from_config("weighted", "a", NULL, NULL, err, sizeof err), GD_EINVAL);
    CHECK_INT(lb_create("weighted", NULL, 1, NULL, &lb, err, sizeof err), GD_EINVAL);
    CHECK_INT(lb_create("weighted", NULL, 0, NULL, &lb, err, sizeof err), GD_ECONFIG);
    lb_free(NULL);
}

TEST(config_accepts)
{
    struct lb *lb = mk("weighted", " http://a:9090=3 , http://b:9090 = 1,http://c:9090 ", NULL);
    if (!lb)
        return;
    CHECK_INT(lb_size(lb), 3);
    CHECK_INT(lb_policy(lb), LB_WEIGHTED);
    CHECK_STR(lb_endpoint_name(lb, 0), "http://a:9090");
    CHECK_STR(lb_endpoint_name(lb, 1), "http://b:9090");
    CHECK_STR(lb_endpoint_name(lb, 2), "http://c:9090");
    CHECK(lb_endpoint_name(lb, 3) == NULL);
    CHECK(lb_endpoint_name(lb, -1) == NULL);
    int w[3];
    for (int i = 0; i < 3; i++) {
        struct lb_stats st;
        CHECK_INT(lb_stats(lb, i, 0, &st), GD_OK);
        w[i] = st.weight;
        CHECK_INT(st.state, LB_CLOSED);
        CHECK_INT(st.ramp_pct, 100);
    }
    CHECK_INT(w[0], 3);
    CHECK_INT(w[1], 1);
    CHECK_INT(w[2], 1);
    lb_free(lb);

    /* A URL with '=' and an explicit weight; the programmatic form. */
    lb = mk("round_robin", "http://h/?k=v=2", NULL);
    if (lb)
        CHECK_STR(lb_endpoint_name(lb, 0), "http://h/?k=v");
    lb_free(lb);
    static const struct lb_endpoint eps[] = {{"x", 1}, {"y", 100}};
    char err[128];
    CHECK_INT(lb_create("least_conn", eps, 2, NULL, &lb, err, sizeof err), GD_OK);
    CHECK_INT(lb_size(lb), 2);
    lb_free(lb);
}

int main(void)
{
    RUN(policy_names);
    RUN(round_robin_exact_order);
    RUN(weighted_nginx_sequences);
    RUN(least_conn_picks);
    RUN(ewma_prefers_fast_and_shifts);
    RUN(ewma_folds_samples);
    RUN(distributions);
    RUN(breaker_opens_probes_closes);
    RUN(breaker_cooldown_doubles_to_max);
    RUN(breaker_stale_reports);
    RUN(breaker_failure_rate_window);
    RUN(slow_start_ramps);
    RUN(config_errors);
    RUN(config_accepts);
    return TEST_DONE();
}
