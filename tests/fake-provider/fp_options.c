/*
 * fp_options.c - the flag table, its parser and the usage text.
 */
#include "fp_options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_kind {
    OPT_LISTEN, /* HOST:PORT into listen/listen_host/listen_port */
    OPT_STRING, /* const char *, non-empty */
    OPT_PREFIX, /* const char *, "" or '+'/digits */
    OPT_LONG,   /* long within [min, max] */
    OPT_RATE,   /* double within [0, 1] */
    OPT_SEED,   /* uint64_t, sets seed_given */
    OPT_DIST,   /* enum fp_latency_dist by name */
    OPT_FLAG,   /* bool set to true; takes no value */
};

struct opt_row {
    const char *name; /* without the leading "--" */
    enum opt_kind kind;
    size_t offset; /* into struct fp_options */
    long min, max; /* OPT_LONG only */
    const char *arg, *help;
};

#define OFF(member) offsetof(struct fp_options, member)

static const struct opt_row opt_rows[] = {
    {"listen", OPT_LISTEN, OFF(listen), 0, 0, "HOST:PORT", "address to listen on [127.0.0.1:9090]"},
    {"secret", OPT_STRING, OFF(secret), 0, 0, "S", "required X-Secret-Key [dev-provider-secret]"},
    {"latency-ms", OPT_LONG, OFF(inj.latency_ms), 0, FP_MAX_DELAY_MS, "MS",
     "mean reply delay [20]"},
    {"jitter-ms", OPT_LONG, OFF(inj.jitter_ms), 0, FP_MAX_DELAY_MS, "MS",
     "uniform +/- delay jitter [10]"},
    {"latency-dist", OPT_DIST, OFF(inj.dist), 0, 0, "D",
     "uniform (mean +/- jitter) or exponential (floor + tail of mean jitter) [uniform]"},
    {"slow-rate", OPT_RATE, OFF(inj.slow_rate), 0, 0, "P",
     "probability that a reply takes --slow-ms instead [0]"},
    {"slow-ms", OPT_LONG, OFF(inj.slow_ms), 0, FP_MAX_DELAY_MS, "MS",
     "delay of slow replies [1000]"},
    {"fail-rate", OPT_RATE, OFF(inj.fail_rate), 0, 0, "P", "probability of HTTP 500 [0]"},
    {"timeout-rate", OPT_RATE, OFF(inj.timeout_rate), 0, 0, "P",
     "probability of holding 30 s, then closing without reply [0]"},
    {"throttle-rate", OPT_RATE, OFF(inj.throttle_rate), 0, 0, "P",
     "probability of HTTP 429 with Retry-After, nothing sent [0]"},
    {"retry-after-s", OPT_LONG, OFF(inj.retry_after_s), 0, 3600, "S", "Retry-After of a 429 [1]"},
    {"lost-reply-rate", OPT_RATE, OFF(inj.lost_reply_rate), 0, 0, "P",
     "probability of sending but never replying [0]"},
    {"partial-rate", OPT_RATE, OFF(inj.partial_rate), 0, 0, "P",
     "probability of HTTP 200 with every recipient failed transiently (-2001) [0]"},
    {"uncertain-rate", OPT_RATE, OFF(inj.uncertain_rate), 0, 0, "P",
     "probability of HTTP 200 \"result unknown\" (-9000), sent half the time [0]"},
    {"invalid-prefix", OPT_PREFIX, OFF(invalid_prefix), 0, 0, "PFX",
     "numbers starting with PFX fail per recipient; '' disables [+8299]"},
    {"not-kakao-prefix", OPT_PREFIX, OFF(not_kakao_prefix), 0, 0, "PFX",
     "AlimTalk to numbers starting with PFX: not a KakaoTalk user (-3018) [+8298]"},
    {"record", OPT_STRING, OFF(record_path), 0, 0, "FILE", "append one JSON line per send request"},
    {"restore", OPT_FLAG, OFF(restore), 0, 0, "",
     "rebuild the ledger from the --record file at start-up (a restarted endpoint remembers)"},
    {"tls-cert", OPT_STRING, OFF(tls_cert), 0, 0, "PEM", "serve HTTPS with this certificate chain"},
    {"tls-key", OPT_STRING, OFF(tls_key), 0, 0, "PEM", "private key of --tls-cert"},
    {"seed", OPT_SEED, OFF(seed), 0, 0, "N", "PRNG seed for repeatable runs [time and pid]"},
    {"idempotency-window-s", OPT_LONG, OFF(idempotency_window_s), 0, FP_MAX_WINDOW_S, "S",
     "how long a sent idempotency key is replayed; 0 disables [86400]"},
};

#define N_OPT_ROWS (sizeof(opt_rows) / sizeof(opt_rows[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: gd-fake-provider [options]\n"
                 "Fake KakaoTalk AlimTalk / SMS provider for giftdrop tests.\n\n");
    for (size_t i = 0; i < N_OPT_ROWS; i++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", opt_rows[i].name, opt_rows[i].arg[0] ? " " : "",
                 opt_rows[i].arg);
        fprintf(out, "  %-28s %s\n", left, opt_rows[i].help);
    }
    fprintf(out, "  %-28s %s\n", "--help", "show this text");
}

/* "HOST:PORT" or "[V6]:PORT" with a numeric host (no resolver on the
 * start-up path); the port may be 0. */
static int parse_listen(struct fp_options *opt, const char *value)
{
    const char *colon = strrchr(value, ':');
    if (colon == NULL || colon == value)
        return -1;
    const char *host = value;
    size_t host_len = (size_t)(colon - value);
    if (host[0] == '[') {
        if (host_len < 3 || host[host_len - 1] != ']')
            return -1;
        host++;
        host_len -= 2;
    }
    if (host_len >= sizeof(opt->listen_host))
        return -1;
    char host_z[sizeof(opt->listen_host)];
    memcpy(host_z, host, host_len);
    host_z[host_len] = '\0';
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host_z, addr) != 1 && inet_pton(AF_INET6, host_z, addr) != 1)
        return -1;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port > 65535 || colon[1] == '-')
        return -1;
    memcpy(opt->listen_host, host_z, host_len + 1);
    opt->listen_port = (unsigned)port;
    opt->listen = value;
    return 0;
}

/* Stores value into the row's field; returns NULL or what was expected. */
static const char *opt_set(struct fp_options *opt, const struct opt_row *row, const char *value)
{
    char *field = (char *)opt + row->offset;
    char *end;

    errno = 0;
    switch (row->kind) {
    case OPT_LISTEN:
        return parse_listen(opt, value) == 0
                   ? NULL
                   : "a numeric IPv4 HOST:PORT or [IPv6]:PORT, port 0..65535";
    case OPT_STRING:
        if (value[0] == '\0')
            return "a non-empty string";
        memcpy(field, &value, sizeof(value));
        return NULL;
    case OPT_PREFIX:
        if (strspn(value, "+0123456789") != strlen(value) || strlen(value) > 15)
            return "'+' and digits, at most 15";
        memcpy(field, &value, sizeof(value));
        return NULL;
    case OPT_LONG: {
        long v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < row->min || v > row->max)
            return "an integer";
        memcpy(field, &v, sizeof(v));
        return NULL;
    }
    case OPT_RATE: {
        double v = strtod(value, &end);
        if (errno != 0 || end == value || *end != '\0' || !isfinite(v) || v < 0.0 || v > 1.0)
            return "a probability 0..1";
        memcpy(field, &v, sizeof(v));
        return NULL;
    }
    case OPT_DIST:
        if (strcmp(value, "uniform") == 0 || strcmp(value, "exponential") == 0) {
            enum fp_latency_dist d = value[0] == 'u' ? FP_DIST_UNIFORM : FP_DIST_EXPONENTIAL;
            memcpy(field, &d, sizeof(d));
            return NULL;
        }
        return "uniform or exponential";
    case OPT_FLAG: {
        bool on = true;
        memcpy(field, &on, sizeof(on));
        return NULL;
    }
    case OPT_SEED: {
        unsigned long long v = strtoull(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || value[0] == '-')
            return "an unsigned 64-bit integer";
        opt->seed = (uint64_t)v;
        opt->seed_given = true;
        return NULL;
    }
    }
    return "a valid value";
}

static const struct opt_row *opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPT_ROWS; i++)
        if (strlen(opt_rows[i].name) == len && strncmp(opt_rows[i].name, name, len) == 0)
            return &opt_rows[i];
    return NULL;
}

static void opt_defaults(struct fp_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    parse_listen(opt, "127.0.0.1:9090");
    opt->secret = "dev-provider-secret";
    opt->invalid_prefix = "+8299";
    opt->not_kakao_prefix = "+8298";
    opt->record_path = NULL;
    opt->idempotency_window_s = 86400;
    opt->inj.latency_ms = 20;
    opt->inj.jitter_ms = 10;
    opt->inj.slow_ms = 1000;
    opt->inj.retry_after_s = 1;
}

const char *fp_injection_check(const struct fp_injection *inj)
{
    if (inj->latency_ms < 0 || inj->latency_ms > FP_MAX_DELAY_MS || inj->jitter_ms < 0 ||
        inj->jitter_ms > FP_MAX_DELAY_MS || inj->slow_ms < 0 || inj->slow_ms > FP_MAX_DELAY_MS)
        return "latency_ms, jitter_ms and slow_ms must be integers 0..120000";
    if (inj->retry_after_s < 0 || inj->retry_after_s > 3600)
        return "retry_after_s must be an integer 0..3600";
    if (!isfinite(inj->slow_rate) || inj->slow_rate < 0.0 || inj->slow_rate > 1.0)
        return "rates must be probabilities 0..1";
    double rates[] = {inj->fail_rate,       inj->timeout_rate, inj->throttle_rate,
                      inj->lost_reply_rate, inj->partial_rate, inj->uncertain_rate};
    double sum = 0.0;
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        if (!isfinite(rates[i]) || rates[i] < 0.0 || rates[i] > 1.0)
            return "rates must be probabilities 0..1";
        sum += rates[i];
    }
    /* Tolerance: 0.1 + 0.2 + 0.7 is a little above 1 in binary. */
    if (sum > 1.0 + 1e-9)
        return "fail, timeout, throttle, lost_reply, partial and uncertain rates must not exceed 1 "
               "together";
    return NULL;
}

int fp_options_parse(struct fp_options *opt, int argc, char **argv)
{
    int errors = 0;

    opt_defaults(opt);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "gd-fake-provider: unexpected argument '%s'\n", arg);
            errors++;
            continue;
        }
        /* Both "--name value" and "--name=value". */
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const struct opt_row *row = opt_find(name, name_len);
        if (row == NULL) {
            fprintf(stderr, "gd-fake-provider: unknown option '%s'\n", arg);
            errors++;
            continue;
        }
        const char *value = eq != NULL              ? eq + 1
                            : row->kind == OPT_FLAG ? ""
                            : i + 1 < argc          ? argv[++i]
                                                    : NULL;
        if (value == NULL) {
            fprintf(stderr, "gd-fake-provider: --%s needs a value (%s)\n", row->name, row->arg);
            errors++;
            continue;
        }
        const char *expected = opt_set(opt, row, value);
        if (expected != NULL && row->kind == OPT_LONG) {
            fprintf(stderr, "gd-fake-provider: --%s '%s': expected an integer %ld..%ld\n",
                    row->name, value, row->min, row->max);
            errors++;
        } else if (expected != NULL) {
            fprintf(stderr, "gd-fake-provider: --%s '%s': expected %s\n", row->name, value,
                    expected);
            errors++;
        }
    }
    const char *bad = errors == 0 ? fp_injection_check(&opt->inj) : NULL;
    if (bad != NULL) {
        fprintf(stderr, "gd-fake-provider: %s\n", bad);
        errors++;
    }
    if (errors == 0 && (opt->tls_cert == NULL) != (opt->tls_key == NULL)) {
        fprintf(stderr, "gd-fake-provider: --tls-cert and --tls-key go together\n");
        errors++;
    }
    if (errors == 0 && opt->restore && opt->record_path == NULL) {
        fprintf(stderr, "gd-fake-provider: --restore needs --record FILE\n");
        errors++;
    }
    if (errors > 0) {
        usage(stderr);
        return -1;
    }
    return 0;
}
