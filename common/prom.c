/*
 * prom.c - Prometheus text exposition helpers (prom.h).
 */
#include "prom.h"

#include <inttypes.h>
#include <string.h>

#include <event2/buffer.h>

void prom_hist_init(struct prom_hist *h, const int64_t *bounds_us, int n)
{
    memset(h, 0, sizeof(*h));
    h->bounds_us = bounds_us;
    h->n = n < 0 ? 0 : n > PROM_BUCKETS_MAX ? PROM_BUCKETS_MAX : n;
}

void prom_hist_observe(struct prom_hist *h, int64_t us)
{
    int b = 0;
    if (us < 0)
        us = 0;
    while (b < h->n && us > h->bounds_us[b])
        b++;
    prom_inc(&h->bucket[b]);
    prom_add(&h->sum_us, (uint64_t)us);
}

uint64_t prom_hist_count(const struct prom_hist *h)
{
    uint64_t n = 0;
    for (int b = 0; b <= h->n; b++)
        n += prom_get(&h->bucket[b]);
    return n;
}

void prom_header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_sample(struct evbuffer *out, const char *name, const char *labels, long long v)
{
    if (labels && labels[0])
        evbuffer_add_printf(out, "%s{%s} %lld\n", name, labels, v);
    else
        evbuffer_add_printf(out, "%s %lld\n", name, v);
}

void prom_hist_lines(struct evbuffer *out, const char *name, const char *labels,
                     const int64_t *bounds_us, int n, const uint64_t *buckets, uint64_t sum_us)
{
    const char *l = labels ? labels : "";
    const char *sep = l[0] ? "," : "";
    uint64_t cum = 0;
    for (int k = 0; k < n; k++) {
        cum += buckets[k];
        evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, l, sep,
                            (double)bounds_us[k] / 1e6, cum);
    }
    cum += buckets[n];
    evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, l, sep, cum);
    if (l[0]) {
        evbuffer_add_printf(out, "%s_sum{%s} %.6f\n", name, l, (double)sum_us / 1e6);
        evbuffer_add_printf(out, "%s_count{%s} %" PRIu64 "\n", name, l, cum);
    } else {
        evbuffer_add_printf(out, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name, (double)sum_us / 1e6,
                            name, cum);
    }
}

void prom_hist_render(struct evbuffer *out, const char *name, const char *labels,
                      const struct prom_hist *h)
{
    uint64_t b[PROM_BUCKETS_MAX + 1];
    for (int k = 0; k <= h->n; k++)
        b[k] = prom_get(&h->bucket[k]);
    prom_hist_lines(out, name, labels, h->bounds_us, h->n, b, prom_get(&h->sum_us));
}

char *prom_escape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return out;
    for (; *in; in++) {
        const char *rep = *in == '\\' ? "\\\\" : *in == '"' ? "\\\"" : *in == '\n' ? "\\n" : NULL;
        size_t len = rep ? 2 : 1;
        if (o + len >= cap)
            break; /* never half an escape */
        if (rep)
            memcpy(out + o, rep, 2);
        else
            out[o] = *in;
        o += len;
    }
    out[o] = '\0';
    return out;
}
