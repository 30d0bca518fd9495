/*
 * fp_options.h - command-line flags of gd-fake-provider and the run-time
 * injection settings that POST /config may change.
 *
 * Every flag is one row of the table in fp_options.c (name, kind, bounds,
 * help); the usage text is generated from it.
 */
#ifndef GD_FP_OPTIONS_H
#define GD_FP_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

/* Bounds shared by the flags and POST /config. */
#define FP_MAX_DELAY_MS 120000L
#define FP_MAX_WINDOW_S (366L * 86400L)

/* How reply delays are drawn (per endpoint: each process has its own). */
enum fp_latency_dist {
    FP_DIST_UNIFORM,     /* latency_ms +/- jitter_ms */
    FP_DIST_EXPONENTIAL, /* latency_ms + an exponential tail of mean jitter_ms */
};

/* How the fake misbehaves.  The rates are probabilities of disjoint
 * outcomes drawn with one uniform number, so their sum must be <= 1. */
struct fp_injection {
    long latency_ms;           /* mean (uniform) or floor (exponential) reply delay */
    long jitter_ms;            /* uniform +/- around the mean, or the tail's mean */
    enum fp_latency_dist dist; /* how latency_ms and jitter_ms combine */
    double slow_rate;          /* probability that a reply takes slow_ms instead */
    long slow_ms;              /* the slow replies' delay */
    double fail_rate;          /* HTTP 500, nothing sent */
    double timeout_rate;       /* hold 30 s then close, nothing sent */
    double throttle_rate;      /* HTTP 429 with Retry-After, nothing sent */
    long retry_after_s;        /* the Retry-After of a 429 */
    double lost_reply_rate;    /* sent and remembered, but the reply is never delivered */
    double partial_rate;       /* HTTP 200, every recipient failed transiently, nothing sent */
    double uncertain_rate;     /* HTTP 200 "result unknown": sent or not (half each), query it */
};

struct fp_options {
    const char *listen;           /* as given: "IPV4:PORT" or "[IPV6]:PORT" */
    char listen_host[256];        /* parsed from listen */
    unsigned listen_port;         /* 0 picks a free port (logged at start-up) */
    const char *secret;           /* required X-Secret-Key value */
    const char *invalid_prefix;   /* "" disables the per-recipient failure */
    const char *not_kakao_prefix; /* AlimTalk to these numbers: "not a KakaoTalk user" */
    const char *record_path;      /* NULL: no record file */
    bool restore;                 /* rebuild the ledger from record_path at start-up */
    const char *tls_cert;         /* PEM certificate chain: serve HTTPS (with tls_key) */
    const char *tls_key;          /* PEM private key */
    uint64_t seed;
    bool seed_given;           /* false: main() picks one and logs it */
    long idempotency_window_s; /* 0 disables replays */
    struct fp_injection inj;   /* initial injection settings */
};

/*
 * Fills opt from argv (strings are borrowed from argv, not copied).
 * Returns 0 on success; 1 when --help printed the usage on stdout; -1 after
 * printing every problem found, then the usage, on stderr.
 */
int fp_options_parse(struct fp_options *opt, int argc, char **argv);

/* NULL when inj is acceptable, else a static message naming the problem. */
const char *fp_injection_check(const struct fp_injection *inj);

#endif
