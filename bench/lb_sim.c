/*
 * lb_sim.c - a discrete-event simulation of common/lb under load, and the
 * cost of one select+report on this machine.
 *
 * A pool of endpoints, each with a log-normal latency (median, sigma) and
 * optionally a limited number of workers (requests beyond them queue, FIFO),
 * is driven by `concurrency` closed-loop clients: each sends, waits for the
 * answer, reports it to the balancer and sends again.  Time is simulated
 * (microseconds), so a run of 200,000 requests takes a fraction of a second
 * and is exactly reproducible from the seed.  Optionally one endpoint has an
 * outage (every request fails after 5 ms) in a time window, to show the
 * breaker and slow start.
 *
 * Printed per policy: each endpoint's share of the requests, mean / p50 /
 * p99 / p99.9 latency, failed requests, and ns per select+report measured
 * with a tight loop (the real CPU cost, not simulated).
 *
 *   lb_sim [-n requests] [-c concurrency] [-w workers] [-s seed] [--outage]
 *          [--no-breaker] [-e median_ms:sigma]...   (default: 20:0.4 x3, 150:0.4)
 *
 * Owns nothing beyond main's lifetime; single-threaded like the balancer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb.h"

#define MAX_EPS     16
#define MAX_WORKERS 256
#define KEYS        4096

struct endpoint_model {
    double median_ms, sigma;
    int workers;                     /* 0 = unlimited (pure delay) */
    int64_t free_at_us[MAX_WORKERS]; /* when each worker is next idle */
};

struct sim {
    int n_eps;
    struct endpoint_model eps[MAX_EPS];
    long requests;
    int concurrency;
    uint64_t seed;
    bool outage;     /* endpoint 1 fails everything from 20 s to 40 s */
    bool no_breaker; /* fail_threshold = window_fail_pct = 0: for contrast */
};

struct event {
    int64_t at_us; /* completion time */
    int64_t latency_us;
    int endpoint;
    bool ok;
};

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) /* (0, 1) */
{
    return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double lognormal_ms(uint64_t *s, double median, double sigma)
{
    double z = sqrt(-2.0 * log(rng_unit(s))) * cos(6.283185307179586 * rng_unit(s));
    return median * exp(sigma * z);
}

/* A binary min-heap of events by completion time. */
static void heap_push(struct event *h, int *n, struct event e)
{
    int i = (*n)++;
    while (i > 0 && h[(i - 1) / 2].at_us > e.at_us) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static struct event heap_pop(struct event *h, int *n)
{
    struct event top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1].at_us < h[c].at_us)
            c++;
        if (h[c].at_us >= last.at_us)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

/* Start one request at now_us on endpoint idx: when it completes, how long, ok or not. */
static struct event start_request(struct sim *sim, int idx, int64_t now_us, uint64_t *rng)
{
    struct endpoint_model *m = &sim->eps[idx];
    struct event e = {.endpoint = idx, .ok = true};
    int64_t service = (int64_t)(lognormal_ms(rng, m->median_ms, m->sigma) * 1000.0);
    if (sim->outage && idx == 1 && now_us >= 20000000 && now_us < 40000000) {
        e.ok = false; /* connection refused / 503: fast */
        service = 5000;
    }
    int64_t begin = now_us;
    if (m->workers > 0) { /* FIFO: the earliest idle worker takes it */
        int w = 0;
        for (int i = 1; i < m->workers; i++)
            if (m->free_at_us[i] < m->free_at_us[w])
                w = i;
        if (m->free_at_us[w] > begin)
            begin = m->free_at_us[w];
        m->free_at_us[w] = begin + service;
    }
    e.at_us = begin + service;
    e.latency_us = e.at_us - now_us;
    return e;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct result {
    long share[MAX_EPS];
    long failed, unavailable;
    double mean_ms, p50_ms, p99_ms, p999_ms;
};

static int make_balancer(const struct sim *sim, const char *policy, struct lb **lb)
{
    char spec[MAX_EPS * 16] = "", err[256];
    for (int i = 0; i < sim->n_eps; i++)
        snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%sep%d", i ? "," : "", i);
    struct lb_options o;
    lb_options_default(&o);
    o.slow_start_ms = 5000;
    if (sim->no_breaker)
        o.fail_threshold = o.window_fail_pct = 0;
    int rc = lb_create_from_config(policy, spec, &o, lb, err, sizeof err);
    if (rc != GD_OK)
        fprintf(stderr, "lb_sim: %s\n", err);
    return rc;
}

/* One policy over the whole run; latencies of every request (failed ones included). */
static int simulate(struct sim *sim, const char *policy, int64_t *lat, struct result *r)
{
    struct lb *lb;
    if (make_balancer(sim, policy, &lb) != GD_OK)
        return 1;
    for (int i = 0; i < sim->n_eps; i++)
        memset(sim->eps[i].free_at_us, 0, sizeof sim->eps[i].free_at_us);
    struct event *heap = malloc(sizeof *heap * (size_t)sim->concurrency);
    uint64_t rng = sim->seed;
    int n = 0;
    long started = 0, done = 0;
    memset(r, 0, sizeof *r);
    /* Clients start spread over the first 10 ms, not in lockstep; a "client" waiting
     * for an endpoint to become available is an event with endpoint -1. */
    for (int c = 0; c < sim->concurrency; c++)
        heap_push(heap, &n,
                  (struct event){.at_us = (int64_t)(rng_unit(&rng) * 10000), .endpoint = -1});
    while (n > 0) {
        struct event e = heap_pop(heap, &n);
        int64_t now_ms = e.at_us / 1000;
        if (e.endpoint >= 0) {
            lb_report(lb, e.endpoint, e.ok, e.latency_us, now_ms);
            lat[done++] = e.latency_us;
            r->failed += !e.ok;
        }
        if (started == sim->requests)
            continue;
        char key[32];
        snprintf(key, sizeof key, "member-%d", (int)(rng_next(&rng) % KEYS));
        int idx = lb_select(lb, key, now_ms);
        if (idx < 0) { /* all open: the caller backs off 10 ms */
            r->unavailable++;
            heap_push(heap, &n, (struct event){.at_us = e.at_us + 10000, .endpoint = -1});
            continue;
        }
        started++;
        r->share[idx]++;
        heap_push(heap, &n, start_request(sim, idx, e.at_us, &rng));
    }
    free(heap);
    lb_free(lb);
    double sum = 0;
    for (long i = 0; i < done; i++)
        sum += (double)lat[i];
    qsort(lat, (size_t)done, sizeof *lat, cmp_i64);
    r->mean_ms = sum / (double)done / 1000.0;
    r->p50_ms = (double)lat[done / 2] / 1000.0;
    r->p99_ms = (double)lat[done * 99 / 100] / 1000.0;
    r->p999_ms = (double)lat[done * 999 / 1000] / 1000.0;
    return 0;
}

/* The CPU cost of one select+report pair, in ns, over `iters` pairs. */
static double cost_ns(const struct sim *sim, const char *policy, long iters)
{
    struct lb *lb;
    static char keys[KEYS][24];
    if (make_balancer(sim, policy, &lb) != GD_OK)
        return -1;
    for (int i = 0; i < KEYS; i++)
        snprintf(keys[i], sizeof keys[i], "member-%d", i);
    struct timespec a, b;
    long sink = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < iters; i++) {
        int64_t now = i / 1000; /* a thousand requests per simulated millisecond */
        int idx = lb_select(lb, keys[i % KEYS], now);
        sink += idx;
        lb_report(lb, idx, true, 20000 + (i & 1023), now);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    lb_free(lb);
    double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    return sink < 0 ? -1 : ns / (double)iters;
}

static int parse_args(struct sim *sim, int argc, char **argv)
{
    int workers = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--outage") == 0) {
            sim->outage = true;
            continue;
        }
        if (strcmp(a, "--no-breaker") == 0) {
            sim->no_breaker = true;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "-n") == 0)
            sim->requests = strtol(v, NULL, 10);
        else if (strcmp(a, "-c") == 0)
            sim->concurrency = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "-w") == 0)
            workers = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "-s") == 0)
            sim->seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "-e") == 0 && sim->n_eps < MAX_EPS &&
                 sscanf(v, "%lf:%lf", &sim->eps[sim->n_eps].median_ms,
                        &sim->eps[sim->n_eps].sigma) == 2)
            sim->n_eps++;
        else
            return -1;
    }
    if (sim->n_eps == 0) {
        static const double medians[] = {20, 20, 20, 150};
        for (int i = 0; i < 4; i++)
            sim->eps[sim->n_eps++] = (struct endpoint_model){.median_ms = medians[i], .sigma = 0.4};
    }
    if (sim->requests < 1 || sim->concurrency < 1 || workers < 0 || workers > MAX_WORKERS)
        return -1;
    for (int i = 0; i < sim->n_eps; i++)
        sim->eps[i].workers = workers;
    return 0;
}

int main(int argc, char **argv)
{
    struct sim sim = {.requests = 200000, .concurrency = 64, .seed = 42};
    if (parse_args(&sim, argc, argv) != 0) {
        fprintf(stderr, "usage: lb_sim [-n requests] [-c concurrency] [-w workers per endpoint]"
                        " [-s seed] [--outage] [--no-breaker] [-e median_ms:sigma]...\n");
        return 2;
    }
    printf("%ld requests, %d concurrent, %d endpoints (median ms/sigma:", sim.requests,
           sim.concurrency, sim.n_eps);
    for (int i = 0; i < sim.n_eps; i++)
        printf(" %g/%g", sim.eps[i].median_ms, sim.eps[i].sigma);
    printf("), workers %d%s%s, seed %llu\n\n", sim.eps[0].workers,
           sim.outage ? ", ep1 down 20-40 s" : "", sim.no_breaker ? ", breaker off" : "",
           (unsigned long long)sim.seed);
    printf("%-12s %-32s %8s %8s %8s %8s %7s %7s\n", "policy", "share % per endpoint", "mean ms",
           "p50 ms", "p99 ms", "p99.9 ms", "failed", "ns/op");
    int64_t *lat = malloc(sizeof *lat * (size_t)sim.requests);
    if (!lat)
        return 1;
    for (int p = 0; p < LB_POLICY_COUNT; p++) {
        const char *policy = lb_policy_name((enum lb_policy)p);
        struct result r;
        if (simulate(&sim, policy, lat, &r) != 0)
            return 1;
        char share[128] = "";
        for (int i = 0; i < sim.n_eps; i++)
            snprintf(share + strlen(share), sizeof share - strlen(share), "%5.1f ",
                     100.0 * (double)r.share[i] / (double)sim.requests);
        printf("%-12s %-32s %8.1f %8.1f %8.1f %8.1f %7ld %7.1f\n", policy, share, r.mean_ms,
               r.p50_ms, r.p99_ms, r.p999_ms, r.failed, cost_ns(&sim, policy, 5000000));
    }
    free(lat);
    return 0;
}
