/*
 * prom.h - the Prometheus text exposition format (0.0.4), written into a
 * libevent evbuffer: HELP/TYPE headers, samples, label-value escaping, and
 * histograms.
 *
 * Counters and histograms here have ONE writer thread and any number of
 * reader threads (a scrape served by another thread): the writer adds with
 * a relaxed load and store of C11 atomics, so the hot path takes no locked
 * instruction, and a reader never sees a torn value.  A scrape is not a
 * snapshot across values (a batch may be half counted); each value is
 * exact, and none goes backwards.
 */
#ifndef GD_PROM_H
#define GD_PROM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

typedef atomic_uint_fast64_t prom_counter;

/* Single-writer increment: only the owning thread calls these. */
static inline void prom_add(prom_counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline void prom_inc(prom_counter *c)
{
    prom_add(c, 1);
}
/* Any thread. */
static inline uint64_t prom_get(const prom_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

#define PROM_BUCKETS_MAX 16 /* finite bounds of one histogram */

/* A histogram with fixed bounds in microseconds, shown in seconds. */
struct prom_hist {
    const int64_t *bounds_us;                  /* ascending; borrowed (a static table) */
    int n;                                     /* finite bounds, 1..PROM_BUCKETS_MAX */
    prom_counter bucket[PROM_BUCKETS_MAX + 1]; /* not cumulative; +Inf last */
    prom_counter sum_us;
};

/* Zero h and give it n bounds (n is clamped to PROM_BUCKETS_MAX). */
void prom_hist_init(struct prom_hist *h, const int64_t *bounds_us, int n);
/* Single writer: one observation of us microseconds (negative counts as 0). */
void prom_hist_observe(struct prom_hist *h, int64_t us);
/* Observations so far (the +Inf bucket). */
uint64_t prom_hist_count(const struct prom_hist *h);

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram). */
void prom_header(struct evbuffer *out, const char *name, const char *type, const char *help);
/* One sample line: name{labels} v, or name v when labels is "" or NULL.
 * labels is the inside of the braces, values escaped (prom_escape). */
void prom_sample(struct evbuffer *out, const char *name, const char *labels, long long v);
/*
 * The _bucket (cumulative), _sum (seconds) and _count lines of a histogram
 * from plain per-bucket counts buckets[0..n] (+Inf last) and the sum in
 * microseconds.  _count is the +Inf bucket, so the two always agree.
 */
void prom_hist_lines(struct evbuffer *out, const char *name, const char *labels,
                     const int64_t *bounds_us, int n, const uint64_t *buckets, uint64_t sum_us);
/* The same for a struct prom_hist (any thread). */
void prom_hist_render(struct evbuffer *out, const char *name, const char *labels,
                      const struct prom_hist *h);

/* Escape a label value (\ " and newline) into out (always terminated; cut
 * short at cap).  Returns out. */
char *prom_escape(const char *in, char *out, size_t cap);

#endif
