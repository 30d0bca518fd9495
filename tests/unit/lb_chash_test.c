/*
 * lb_chash_test.c - tests for common/lb_chash.c: the ring hash and
 * consistent hashing.
 *
 * Every expected value here was computed independently with python3 (FNV-1a
 * 64 + murmur3 fmix64 in a few lines, the ring as a sorted list and bisect):
 * the hash vectors, the owners of "member-1".."member-40", the key counts
 * per endpoint over 100,000 keys.  FNV-1a's own vectors ("", "a", "foobar")
 * are the published ones (draft-eastlake-fnv).
 *
 * Tolerance for shares: an endpoint with v ring points owns a sum of v arcs
 * of a ring of N points, each about Exp(1/N), so its share deviates from
 * v/N by about 1/sqrt(v) relative; we allow 3/sqrt(v) (3 sigma: 23.7 % for
 * v = 160, 13.7 % for 480).  100,000 keys add only ~0.3 % relative noise.
 */
#include <math.h>
#include <stdlib.h>

#include "lb.h"
#include "test.h"

#define KEYS 100000

static struct lb *mk(const char *spec, const struct lb_options *o)
{
    struct lb *lb = NULL;
    char err[256] = "";
    int rc = lb_create_from_config("chash", spec, o, &lb, err, sizeof err);
    if (rc != GD_OK)
        fprintf(stderr, "  lb_create_from_config(chash, %s): %s\n", spec, err);
    CHECK_INT(rc, GD_OK);
    return lb;
}

/* Where key goes now: one select, reported at once. */
static int owner(struct lb *lb, int key, int64_t now_ms)
{
    char k[32];
    snprintf(k, sizeof k, "member-%d", key);
    int idx = lb_select(lb, k, now_ms);
    if (idx >= 0)
        lb_report(lb, idx, true, 1000, now_ms);
    return idx;
}

TEST(hash_vectors)
{
    CHECK(lb_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
    CHECK(lb_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    CHECK(lb_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
    CHECK(lb_hash64("", 0) == 0xefd01f60ba992926ULL);
    CHECK(lb_hash64("a", 1) == 0x82a2a958a9bece5bULL);
    CHECK(lb_hash64("foobar", 6) == 0x2c22194922d1672bULL);
    CHECK(lb_hash64("member-42", 9) == 0xf591b36bc5ed4bf4ULL);
    CHECK(lb_hash64("http://a:9090#0", 15) == 0xc5b4f29ea3613279ULL);
    CHECK(lb_hash64("http://a:9090#159", 17) == 0xa8e4ffb0731cbf27ULL);
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    CHECK(lb_fnv1a64(all, sizeof all) == 0x4242dc5249c33625ULL);
    CHECK(lb_hash64(all, sizeof all) == 0x2067db6dbd4efa06ULL);
}

TEST(known_owners)
{
    /* Ring of a=3, b=1, c=2 (480 + 160 + 320 points), default 160 points per weight unit. */
    static const char want[] = "acacaccaaaaacaccaacaaaacaacacbccaaaacaac";
    struct lb *lb = mk("http://a:9090=3,http://b:9090=1,http://c:9090=2", NULL);
    if (!lb)
        return;
    char got[64];
    for (int i = 1; i <= 40; i++)
        got[i - 1] = (char)('a' + owner(lb, i, 0));
    got[40] = '\0';
    CHECK_STR(got, want);
    /* Same key, same endpoint, every time and whatever happened in between. */
    for (int i = 1; i <= 40; i++)
        CHECK_INT(owner(lb, i, 0), want[i - 1] - 'a');
    /* chash needs a key. */
    CHECK_INT(lb_select(lb, NULL, 0), GD_EINVAL);
    lb_free(lb);
}

TEST(shares_follow_weights)
{
    struct lb *lb = mk("http://a:9090=3,http://b:9090=1,http://c:9090=2", NULL);
    if (!lb)
        return;
    int count[3] = {0};
    for (int i = 0; i < KEYS; i++)
        count[owner(lb, i, 0)]++;
    /* Exact, from the Python model. */
    CHECK_INT(count[0], 51127);
    CHECK_INT(count[1], 16647);
    CHECK_INT(count[2], 32226);
    /* And within 3/sqrt(points) of the weight share (see the head comment). */
    static const int weight[3] = {3, 1, 2};
    for (int i = 0; i < 3; i++) {
        double want = KEYS * weight[i] / 6.0, tol = 3.0 / sqrt(160.0 * weight[i]);
        CHECK(fabs(count[i] - want) <= tol * want);
    }
    lb_free(lb);
}

#define FIVE     "http://p0:8080,http://p1:8080,http://p2:8080,http://p3:8080,http://p4:8080"
#define FOUR     "http://p0:8080,http://p1:8080,http://p2:8080,http://p4:8080"
#define GONE     3 /* p3 owns the most keys of the five (21,630): the worst case */
#define MOVE_MAX (KEYS / 5.0 * (1.0 + 3.0 / sqrt(160.0)))

static int before[KEYS], after[KEYS];

/* Index in FIVE of an index in FOUR. */
static int five_of_four(int i)
{
    return i < GONE ? i : i + 1;
}

TEST(removing_a_node_moves_only_its_keys)
{
    struct lb *five = mk(FIVE, NULL), *four = mk(FOUR, NULL);
    if (!five || !four)
        goto done;
    int moved = 0, on_gone = 0, strays = 0;
    for (int i = 0; i < KEYS; i++) {
        before[i] = owner(five, i, 0);
        after[i] = five_of_four(owner(four, i, 0));
        on_gone += before[i] == GONE;
        if (before[i] != after[i]) {
            moved++;
            strays += before[i] != GONE; /* a key that was NOT on p3 moved: forbidden */
        }
    }
    CHECK_INT(on_gone, 21630);
    CHECK_INT(moved, on_gone);
    CHECK_INT(strays, 0);
    CHECK(moved <= MOVE_MAX); /* <= 1/n of the keys plus 3 sigma */
done:
    lb_free(five);
    lb_free(four);
}

TEST(opening_a_node_is_removing_it)
{
    struct lb_options o;
    lb_options_default(&o);
    o.fail_threshold = 1;
    o.open_ms = 1000;
    o.slow_start_ms = 10000;
    o.slow_start_min_pct = 10;
    struct lb *lb = mk(FIVE, &o), *four = mk(FOUR, NULL);
    if (!lb || !four)
        goto done;
    int key_on_gone = -1;
    for (int i = 0; i < KEYS; i++) {
        before[i] = owner(lb, i, 0);
        if (before[i] == GONE && key_on_gone < 0)
            key_on_gone = i;
    }
    /* p3 fails once: its breaker opens. */
    char k[32];
    snprintf(k, sizeof k, "member-%d", key_on_gone);
    CHECK_INT(lb_select(lb, k, 0), GONE);
    CHECK_INT(lb_report(lb, GONE, false, 1000, 0), GD_OK);
    /* Now every key goes exactly where the four-node ring sends it: p3's keys move to
     * their next owner on the ring, and no other key moves. */
    int moved = 0, strays = 0, differ = 0, to_gone = 0;
    for (int i = 0; i < KEYS; i++) {
        int now = owner(lb, i, 500);
        differ += now != five_of_four(owner(four, i, 500));
        to_gone += now == GONE;
        if (now != before[i]) {
            moved++;
            strays += before[i] != GONE;
        }
    }
    CHECK_INT(to_gone, 0);
    CHECK_INT(differ, 0);
    CHECK_INT(strays, 0);
    CHECK_INT(moved, 21630);

    /* Recovery: the probe (any key) closes it; slow start brings keys back gradually,
     * each by its own fixed coin, so the set only grows. */
    CHECK_INT(lb_select(lb, "member-0", 1000), GONE);
    CHECK_INT(lb_report(lb, GONE, true, 1000, 1000), GD_OK);
    int back10 = 0, back55 = 0, lost = 0, strangers = 0;
    for (int i = 0; i < KEYS; i++) {
        int at10 = owner(lb, i, 1000), at55 = owner(lb, i, 6000), at100 = owner(lb, i, 11000);
        back10 += at10 == GONE;
        back55 += at55 == GONE;
        lost += at10 == GONE && at55 != GONE;           /* back at 10 %, gone again at 55 % */
        strangers += at55 == GONE && before[i] != GONE; /* a key that was never p3's */
        CHECK_INT(at100, before[i]);
    }
    /* Binomial(21630, p): sigma ~ 44 at 10 %, ~73 at 55 %; allow 4 sigma. */
    CHECK(abs(back10 - 2163) <= 180);
    CHECK(abs(back55 - 11897) <= 300);
    CHECK_INT(lost, 0);
    CHECK_INT(strangers, 0);
done:
    lb_free(lb);
    lb_free(four);
}

TEST(all_open)
{
    struct lb_options o;
    lb_options_default(&o);
    o.fail_threshold = 1;
    o.open_ms = 1000;
    struct lb *lb = mk("x,y", &o);
    if (!lb)
        return;
    /* Fail each endpoint once with a key that lands on it. */
    for (int target = 0; target < 2; target++) {
        for (int i = 0; i < 1000; i++) {
            char k[32];
            snprintf(k, sizeof k, "member-%d", i);
            int idx = lb_select(lb, k, 0);
            CHECK(idx >= 0);
            lb_report(lb, idx, idx != target, 1000, 0);
            if (idx == target)
                break;
        }
    }
    struct lb_stats st;
    for (int i = 0; i < 2; i++) {
        CHECK_INT(lb_stats(lb, i, 0, &st), GD_OK);
        CHECK_INT(st.state, LB_OPEN);
    }
    /* Nothing to choose: the transient "no endpoint" error, until a probe is due. */
    CHECK_INT(lb_select(lb, "member-0", 999), LB_EUNAVAILABLE);
    CHECK_INT(lb_select(lb, "member-0", 1000), 0); /* x's probe */
    CHECK_INT(lb_select(lb, "member-0", 1000), 1); /* y's probe */
    CHECK_INT(lb_select(lb, "member-0", 1000), LB_EUNAVAILABLE);
    CHECK_INT(lb_report(lb, 1, true, 1000, 1001), GD_OK); /* y is back */
    CHECK_INT(lb_select(lb, "member-0", 1001), 1);
    lb_free(lb);
}

int main(void)
{
    RUN(hash_vectors);
    RUN(known_owners);
    RUN(shares_follow_weights);
    RUN(removing_a_node_moves_only_its_keys);
    RUN(opening_a_node_is_removing_it);
    RUN(all_open);
    return TEST_DONE();
}
