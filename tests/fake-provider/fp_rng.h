/*
 * fp_rng.h - a tiny seeded PRNG (splitmix64) so that --seed makes runs
 * repeatable.  Not for anything secret.
 *
 * The program keeps separate streams for fault decisions, latency and
 * request-id suffixes, so changing --jitter-ms does not change which
 * requests fail, and request ids never shift the fault sequence.
 */
#ifndef GD_FP_RNG_H
#define GD_FP_RNG_H

#include <stdint.h>

struct fp_rng {
    uint64_t state;
};

/* Streams seeded from one --seed differ by the stream constant. */
static inline void fp_rng_seed(struct fp_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = seed ^ (stream * 0xD1B54A32D192ED03ULL);
}

static inline uint64_t fp_rng_next(struct fp_rng *rng)
{
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1), 53 random bits. */
static inline double fp_rng_unit(struct fp_rng *rng)
{
    return (double)(fp_rng_next(rng) >> 11) * 0x1.0p-53;
}

#endif
