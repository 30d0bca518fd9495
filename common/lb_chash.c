/*
 * lb_chash.c - consistent hashing (ketama style) and the ring hash.
 *
 * Each endpoint puts weight x chash_points points on a 64-bit ring, point k
 * of endpoint "name" at lb_hash64("name#k").  A key goes to the owner of the
 * first point at or after lb_hash64(key), wrapping around.  Points depend
 * only on names, so removing an endpoint (or opening its breaker) moves only
 * the keys it owned, each to the next owner along the ring; every other key
 * stays put.  With v points per endpoint an endpoint's share of the ring
 * deviates from 1/n by about 1/sqrt(v) relative (8 % at v = 160).
 *
 * Candidates are closed endpoints: the walk along the ring skips the others.
 * Slow start: a key landing on a ramping endpoint stays there only when its
 * own coin, a second hash of the key in 0..999, is below the ramp per mille;
 * otherwise it walks on to the next owner.  The coin is fixed per key, so
 * as the ramp rises keys come back for good, never flapping.
 *
 * State (owned here): the sorted ring.
 */
#include "lb_internal.h"

#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static uint64_t fnv1a_more(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* murmur3's fmix64: every input bit flips each output bit with probability ~1/2. */
static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

uint64_t lb_fnv1a64(const void *data, size_t len)
{
    return fnv1a_more(FNV_OFFSET, data, len);
}

uint64_t lb_hash64(const void *data, size_t len)
{
    return fmix64(lb_fnv1a64(data, len));
}

struct chash_point {
    uint64_t hash;
    uint32_t owner;
};

struct chash_ring {
    size_t size;
    struct chash_point points[];
};

static int point_cmp(const void *a, const void *b)
{
    const struct chash_point *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->owner < y->owner ? -1 : x->owner > y->owner; /* equal hashes: stable order */
}

/* lb_hash64("name#k") without formatting the string each time. */
static uint64_t point_hash(uint64_t name_state, unsigned k)
{
    char digits[12];
    int len = 0;
    do {
        digits[sizeof digits - 1 - len++] = (char)('0' + k % 10);
        k /= 10;
    } while (k > 0);
    uint64_t h = fnv1a_more(name_state, "#", 1);
    return fmix64(fnv1a_more(h, digits + sizeof digits - len, (size_t)len));
}

static int chash_init(struct lb *lb)
{
    size_t size = 0;
    for (size_t i = 0; i < lb->n; i++)
        size += (size_t)lb->eps[i].weight * (size_t)lb->opts.chash_points;
    struct chash_ring *ring = malloc(sizeof *ring + size * sizeof ring->points[0]);
    if (!ring)
        return GD_ENOMEM;
    ring->size = 0;
    for (size_t i = 0; i < lb->n; i++) {
        uint64_t name_state = fnv1a_more(FNV_OFFSET, lb->eps[i].name, strlen(lb->eps[i].name));
        unsigned points = (unsigned)lb->eps[i].weight * (unsigned)lb->opts.chash_points;
        for (unsigned k = 0; k < points; k++)
            ring->points[ring->size++] =
                (struct chash_point){point_hash(name_state, k), (uint32_t)i};
    }
    qsort(ring->points, ring->size, sizeof ring->points[0], point_cmp);
    lb->policy_data = ring;
    return GD_OK;
}

static void chash_destroy(struct lb *lb)
{
    free(lb->policy_data);
}

/* Index of the first point with hash >= h, or 0 past the end (the ring wraps). */
static size_t ring_find(const struct chash_ring *ring, uint64_t h)
{
    size_t lo = 0, hi = ring->size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring->points[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == ring->size ? 0 : lo;
}

static int chash_select(struct lb *lb, const char *key, int64_t now_ms)
{
    const struct chash_ring *ring = lb->policy_data;
    size_t candidates = 0;
    for (size_t i = 0; i < lb->n; i++)
        candidates += lb_eligible(lb, i);
    if (candidates == 0)
        return -1;
    uint64_t h = lb_hash64(key, strlen(key));
    int coin = (int)(fmix64(h ^ 0x9e3779b97f4a7c15ULL) % LB_PERMILLE);
    uint64_t seen = 0; /* endpoints met on the walk; n <= 64 */
    size_t seen_count = 0;
    int first_ramping = -1;
    size_t pos = ring_find(ring, h);
    for (size_t step = 0; step < ring->size && seen_count < candidates; step++) {
        uint32_t o = ring->points[(pos + step) % ring->size].owner;
        if (!lb_eligible(lb, o) || (seen & (1ULL << o)))
            continue;
        seen |= 1ULL << o;
        seen_count++;
        if (coin < lb_ramp_permille(lb, o, now_ms))
            return (int)o;
        if (first_ramping < 0)
            first_ramping = (int)o;
    }
    return first_ramping; /* every candidate is ramping and the coin said no to all */
}

const struct lb_ops lb_chash_ops = {chash_init, chash_destroy, chash_select};
