/*
 * loadgen.c - gd-loadgen, the load generator of the demo, the end-to-end
 * tests and the benchmarks.
 *
 * It plays many distinct members of the mobile app posting an entry
 * (POST /v1/events/{event_id}/entries, DESIGN.md section 3), each with its
 * own HS256 token, and reports what the server answered and how fast.
 *
 * One libevent loop drives a pool of keep-alive HTTP/1.1 connections; each
 * connection carries one request at a time.  Two modes:
 *
 *   closed loop (default)  keep --concurrency requests in flight until every
 *                          work item has been sent;
 *   open loop (--rate R)   work item i is due at start + i/R seconds whatever
 *                          the server does.  Latency counts from that due
 *                          time, so a slow server cannot hide the queueing it
 *                          causes ("coordinated omission").  At most
 *                          --connections requests are outstanding; a due item
 *                          that finds no free connection waits, and its wait
 *                          is part of its latency.
 *
 * Work item i posts for member first + i % members: the first pass covers
 * every member once, further passes (--repeat) follow it.
 *
 * Phases: parse options -> resolve and probe the target -> mint all tokens ->
 * warm up every connection (one GET --warmup-path each) -> wait for
 * --start-at-ms -> run -> print the summary.  Exit status: 0 when it ran
 * (whatever the answers), 2 on bad arguments, 1 when it could not start.
 *
 * A request that fails on the wire (refused, reset, closed, timed out,
 * garbled answer) is counted as an error, never retried, and its connection
 * is thrown away and re-created.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "errors.h"
#include "jwt.h"

#define LG_NAME           "gd-loadgen"
#define LG_EXIT_RAN       0
#define LG_EXIT_NOSTART   1
#define LG_EXIT_USAGE     2
#define LG_MAX_MEMBERS    10000000
#define LG_MAX_ITEMS      100000000 /* members x repeat: 8 bytes of latency each */
#define LG_MAX_CONNS      50000     /* well below the ephemeral port range */
#define LG_MAX_SOURCES    60000     /* 127.1.0.1 .. 127.1.239.250 */
#define LG_SPARE_FDS      64        /* stdio, epoll, timerfd, signal pipe, files */
#define LG_WARMUP_LEAD_US 2000000   /* warm up this long before --start-at-ms */
#define LG_MAX_BODY       (1 << 20)
#define LG_MAX_HEADERS    (64 << 10)
#define LG_MAX_CODES      32 /* distinct problem codes counted by name */
#define LG_CODE_LEN       64
#define LG_ENTRY_LEN      128
#define LG_STATUS_SLOTS   1000

/* ---------------------------------------------------------------------------
 * Options: one table row per option, validated in one pass.
 * ------------------------------------------------------------------------- */

/* Parsed options.  Strings are borrowed from argv or the environment. */
struct lg_opts {
    const char *url;
    const char *event;
    const char *prefix;
    const char *secret;
    const char *secret_file;
    const char *kid; /* NULL: tokens without kid */
    const char *iss;
    const char *aud;
    const char *answers;
    const char *warmup_path;
    const char *out;
    const char *json;
    int64_t members;
    int64_t first;
    int64_t concurrency;
    int64_t connections; /* -1 until set: defaults to concurrency */
    int64_t repeat;
    int64_t start_at_ms; /* 0 = start right away */
    int64_t ttl_s;
    int64_t sources; /* 0 = the kernel picks the source address */
    double rate;     /* 0 = closed loop */
    double duration; /* 0 = no limit */
    double timeout_s;
    int no_warmup;
    int coarse_timers;
    int quiet;
    int help;
};

enum opt_type { OPT_STR, OPT_INT, OPT_NUM, OPT_FLAG };

struct opt_row {
    const char *name;
    enum opt_type type;
    size_t offset;
    double min; /* bounds for OPT_INT and OPT_NUM, inclusive */
    double max;
    const char *meta;
    const char *help;
};

#define OPT_ROW(name, type, field, min, max, meta, help)                                           \
    {                                                                                              \
        name, type, offsetof(struct lg_opts, field), min, max, meta, help                          \
    }

static const struct opt_row lg_opt_table[] = {
    OPT_ROW("url", OPT_STR, url, 0, 0, "URL", "base URL, http only [http://127.0.0.1:8080]"),
    OPT_ROW("event", OPT_STR, event, 0, 0, "ID", "event id (required)"),
    OPT_ROW("members", OPT_INT, members, 1, LG_MAX_MEMBERS, "N",
            "number of distinct members (required)"),
    OPT_ROW("first", OPT_INT, first, 0, 1e15, "K", "index of the first member [1]"),
    OPT_ROW("prefix", OPT_STR, prefix, 0, 0, "P", "member id prefix; id = P<index> [m-]"),
    OPT_ROW("concurrency", OPT_INT, concurrency, 1, LG_MAX_CONNS, "C",
            "closed loop: requests kept in flight [64]"),
    OPT_ROW("connections", OPT_INT, connections, 1, LG_MAX_CONNS, "C",
            "keep-alive connections, one request each at a time [= concurrency]"),
    OPT_ROW("repeat", OPT_INT, repeat, 1, 1000, "R",
            "each member posts R times; repeats follow the first pass [1]"),
    OPT_ROW("rate", OPT_NUM, rate, 1e-3, 1e7, "R",
            "open loop: R requests/s on a fixed timetable from the start"),
    OPT_ROW("duration", OPT_NUM, duration, 1e-3, 86400, "S",
            "stop sending new requests S seconds after the start"),
    OPT_ROW("start-at-ms", OPT_INT, start_at_ms, 1, 32503680000000.0, "UNIX_MS",
            "wait until this wall-clock instant, then release everyone"),
    OPT_ROW("secret", OPT_STR, secret, 0, 0, "S", "HS256 secret [env JWT_SECRET]"),
    OPT_ROW("secret-file", OPT_STR, secret_file, 0, 0, "FILE",
            "read the secret from FILE [env JWT_SECRET_FILE]"),
    OPT_ROW("kid", OPT_STR, kid, 0, 0, "KID",
            "key id in every token's header (optional; key rotation tests)"),
    OPT_ROW("iss", OPT_STR, iss, 0, 0, "ISS", "iss claim (optional)"),
    OPT_ROW("aud", OPT_STR, aud, 0, 0, "AUD", "aud claim (optional)"),
    OPT_ROW("ttl-s", OPT_INT, ttl_s, 1, 315360000, "S",
            "token lifetime, counted from the start instant [3600]"),
    OPT_ROW("answers", OPT_STR, answers, 0, 0, "JSON", "the answers value [{\"q1\":\"yes\"}]"),
    OPT_ROW("sources", OPT_INT, sources, 0, LG_MAX_SOURCES, "N",
            "spread connections over N loopback source addresses 127.1.x.y, as N clients"
            " (loopback IPv4 target only) [0: one address]"),
    OPT_ROW("timeout-s", OPT_NUM, timeout_s, 1e-3, 3600, "S", "per-request deadline [10]"),
    OPT_ROW("warmup-path", OPT_STR, warmup_path, 0, 0, "PATH",
            "GET on every connection before the start [/healthz]"),
    OPT_ROW("no-warmup", OPT_FLAG, no_warmup, 0, 0, NULL,
            "connect lazily at the first request instead"),
    OPT_ROW("out", OPT_STR, out, 0, 0, "FILE",
            "one line per request: member_id status latency_us entry_id|-"),
    OPT_ROW("json", OPT_STR, json, 0, 0, "FILE", "also write the summary JSON to FILE"),
    OPT_ROW("coarse-timers", OPT_FLAG, coarse_timers, 0, 0, NULL,
            "1 ms timers instead of timerfd: half the CPU at thousands of requests/s;"
            " a send up to ~1 ms late is counted in its latency"),
    OPT_ROW("quiet", OPT_FLAG, quiet, 0, 0, NULL, "no progress or notes on stderr"),
    OPT_ROW("help", OPT_FLAG, help, 0, 0, NULL, "show this help"),
};

#define LG_NOPTS (sizeof lg_opt_table / sizeof lg_opt_table[0])

static void opts_defaults(struct lg_opts *o)
{
    memset(o, 0, sizeof *o);
    o->url = "http://127.0.0.1:8080";
    o->prefix = "m-";
    o->answers = "{\"q1\":\"yes\"}";
    o->warmup_path = "/healthz";
    o->first = 1;
    o->concurrency = 64;
    o->connections = -1;
    o->repeat = 1;
    o->ttl_s = 3600;
    o->timeout_s = 10;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: " LG_NAME " --event ID --members N [options]\n"
               "Posts one entry per member (and per repeat) and prints a JSON summary.\n\n");
    for (size_t i = 0; i < LG_NOPTS; i++) {
        const struct opt_row *row = &lg_opt_table[i];
        char left[48];
        snprintf(left, sizeof left, "--%s%s%s", row->name, row->meta ? " " : "",
                 row->meta ? row->meta : "");
        fprintf(f, "  %-26s %s\n", left, row->help);
    }
    fprintf(f, "\nExit status: 0 it ran (whatever the answers), 1 it could not start, "
               "2 bad arguments.\n");
}

__attribute__((format(printf, 1, 2))) static void say_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(LG_NAME ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Notes and progress: suppressed by --quiet. */
__attribute__((format(printf, 2, 3))) static void say_note(const struct lg_opts *o, const char *fmt,
                                                           ...)
{
    va_list ap;
    if (o->quiet)
        return;
    va_start(ap, fmt);
    fputs(LG_NAME ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const struct opt_row *opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < LG_NOPTS; i++)
        if (strlen(lg_opt_table[i].name) == len && strncmp(lg_opt_table[i].name, name, len) == 0)
            return &lg_opt_table[i];
    return NULL;
}

/* Store one value; returns 0 or GD_EINVAL after saying why. */
static int opt_store(struct lg_opts *o, const struct opt_row *row, const char *val)
{
    char *base = (char *)o + row->offset;
    char *end = NULL;

    if (row->type == OPT_STR) {
        *(const char **)(void *)base = val;
        return 0;
    }
    errno = 0;
    if (row->type == OPT_INT) {
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end || (double)v < row->min || (double)v > row->max) {
            say_err("--%s: '%s' must be an integer in [%.0f, %.0f]", row->name, val, row->min,
                    row->max);
            return GD_EINVAL;
        }
        *(int64_t *)(void *)base = v;
        return 0;
    }
    double d = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(d) || d < row->min || d > row->max) {
        say_err("--%s: '%s' must be a number in [%g, %g]", row->name, val, row->min, row->max);
        return GD_EINVAL;
    }
    *(double *)(void *)base = d;
    return 0;
}

/* Parse argv into o; reports every problem, returns the number of problems. */
static int opts_parse(struct lg_opts *o, int argc, char **argv)
{
    int bad = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0)
            arg = "--help";
        if (strncmp(arg, "--", 2) != 0) {
            say_err("unexpected argument '%s'", arg);
            bad++;
            continue;
        }
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        const struct opt_row *row = opt_find(arg + 2, len);
        if (!row) {
            say_err("unknown option '%s'", arg);
            bad++;
            continue;
        }
        if (row->type == OPT_FLAG) {
            if (eq) {
                say_err("--%s takes no value", row->name);
                bad++;
            } else {
                *(int *)(void *)((char *)o + row->offset) = 1;
            }
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            say_err("--%s needs a value (%s)", row->name, row->meta);
            bad++;
            continue;
        }
        if (opt_store(o, row, val) != 0)
            bad++;
    }
    return bad;
}

static int is_id_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* Cross-option checks and derived defaults; returns the number of problems. */
static int opts_check(struct lg_opts *o)
{
    int bad = 0;
    char last[32];

    if (!o->event || !*o->event) {
        say_err("--event is required");
        bad++;
    }
    if (o->members <= 0) {
        say_err("--members is required");
        bad++;
    }
    for (const char *p = o->prefix; *p; p++) {
        if (!is_id_char((unsigned char)*p)) {
            say_err("--prefix: member ids allow only [A-Za-z0-9_.-]");
            bad++;
            break;
        }
    }
    snprintf(last, sizeof last, "%" PRId64, o->first + (o->members > 0 ? o->members - 1 : 0));
    if (strlen(o->prefix) + strlen(last) > JWT_MAX_SUB) {
        say_err("--prefix: member id '%s%s' is longer than %d characters", o->prefix, last,
                JWT_MAX_SUB);
        bad++;
    }
    if ((o->iss && strlen(o->iss) > 127) || (o->aud && strlen(o->aud) > 127)) {
        say_err("--iss/--aud: at most 127 characters");
        bad++;
    }
    if (o->warmup_path[0] != '/') {
        say_err("--warmup-path must start with '/'");
        bad++;
    }
    if (o->members * o->repeat > LG_MAX_ITEMS) {
        say_err("--members x --repeat: at most %d requests per run", LG_MAX_ITEMS);
        bad++;
    }
    if (o->connections < 0)
        o->connections = o->concurrency;
    return bad;
}

/* ---------------------------------------------------------------------------
 * Small helpers.
 * ------------------------------------------------------------------------- */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct timeval tv_us(int64_t us)
{
    struct timeval tv;
    if (us < 0)
        us = 0;
    tv.tv_sec = (time_t)(us / 1000000);
    tv.tv_usec = (suseconds_t)(us % 1000000);
    return tv;
}

static void *xcalloc(size_t n, size_t size)
{
    return n ? calloc(n, size) : NULL;
}

/* Member id of work item `item` into out (JWT_MAX_SUB + 1 bytes). */
static void member_id(const struct lg_opts *o, int64_t item, char *out, size_t cap)
{
    snprintf(out, cap, "%s%" PRId64, o->prefix, o->first + item % o->members);
}

/* ---------------------------------------------------------------------------
 * Secret, body and target.
 * ------------------------------------------------------------------------- */

/* The secret: --secret, else --secret-file, else $JWT_SECRET_FILE, else
 * $JWT_SECRET: the environment is read as the services read it (common/
 * config.c: the file overrides the variable, trailing newlines are not part
 * of the secret).  Returns its length, or -1 after saying why. */
static int secret_load(const struct lg_opts *o, unsigned char *key, size_t cap)
{
    const char *s = o->secret;
    const char *file = s ? NULL : o->secret_file;

    if (!s && !file) {
        file = getenv("JWT_SECRET_FILE");
        if (!file || !*file) {
            file = NULL;
            s = getenv("JWT_SECRET");
        }
    }
    if (s) {
        if (strlen(s) < JWT_MIN_KEY || strlen(s) > cap) {
            say_err("the secret must be %d..%zu bytes (as the services require)", JWT_MIN_KEY, cap);
            return -1;
        }
        memcpy(key, s, strlen(s));
        return (int)strlen(s);
    }
    if (!file || !*file) {
        say_err("no secret: pass --secret or --secret-file, or set JWT_SECRET(_FILE)");
        return -1;
    }
    unsigned char buf[JWT_MAX_KEY + 3];
    FILE *f = fopen(file, "rb");
    if (!f) {
        say_err("secret file %s: %s", file, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n < JWT_MIN_KEY || n > cap) {
        say_err("secret file %s: the secret must be %d..%zu bytes", file, JWT_MIN_KEY, cap);
        return -1;
    }
    memcpy(key, buf, n);
    memset(buf, 0, sizeof buf);
    return (int)n;
}

/* Body {"answers": <--answers>}; caller frees with cJSON_free.  NULL when
 * --answers is not JSON (any JSON value is allowed, so tests can send
 * answers the survey refuses). */
static char *body_build(const char *answers)
{
    cJSON *ans = cJSON_Parse(answers);
    cJSON *root = cJSON_CreateObject();
    char *out = NULL;

    if (ans && root && cJSON_AddItemToObject(root, "answers", ans)) {
        ans = NULL;
        out = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(ans);
    cJSON_Delete(root);
    return out;
}

/* Where requests go.  Owns the two paths (freed by target_free). */
struct lg_target {
    char host[256];        /* host to resolve, without IPv6 brackets */
    char host_header[300]; /* Host header: host[:port] as written in --url */
    char addr[64];         /* numeric address that answered the probe */
    int port;
    char *entries_path;
    char *warmup_path;
};

static void target_free(struct lg_target *t)
{
    free(t->entries_path);
    free(t->warmup_path);
}

/* Path prefix of the URL (no trailing '/') + suffix; malloc'd. */
static char *path_join(const char *prefix, const char *a, const char *b, const char *c)
{
    size_t n = strlen(prefix) + strlen(a) + strlen(b) + strlen(c) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s%s", prefix, a, b, c);
    return p;
}

/* Parse --url and build the paths.  Returns 0 or GD_EINVAL (said why). */
static int target_parse(struct lg_target *t, const struct lg_opts *o)
{
    struct evhttp_uri *u = evhttp_uri_parse(o->url);
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    int rc = GD_EINVAL;

    if (!scheme || strcasecmp(scheme, "http") != 0 || !host || !*host) {
        say_err("--url: '%s' is not an http://host[:port][/prefix] URL (no https)", o->url);
        goto out;
    }
    if (evhttp_uri_get_query(u) || evhttp_uri_get_fragment(u) || evhttp_uri_get_userinfo(u)) {
        say_err("--url: no user info, query or fragment please");
        goto out;
    }
    size_t hl = strlen(host);
    if (hl + 1 > sizeof t->host) {
        say_err("--url: host name too long");
        goto out;
    }
    t->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
    if (host[0] == '[') /* IPv6 literal: brackets in Host, not in getaddrinfo */
        snprintf(t->host, sizeof t->host, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(t->host, sizeof t->host, "%s", host);
    if (evhttp_uri_get_port(u) > 0)
        snprintf(t->host_header, sizeof t->host_header, "%s:%d", host, t->port);
    else
        snprintf(t->host_header, sizeof t->host_header, "%s", host);

    char prefix[1024];
    const char *path = evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "";
    snprintf(prefix, sizeof prefix, "%s", path);
    for (size_t n = strlen(prefix); n > 0 && prefix[n - 1] == '/'; n--)
        prefix[n - 1] = '\0';
    char *ev = evhttp_uriencode(o->event ? o->event : "", -1, 0);
    t->entries_path = ev ? path_join(prefix, "/v1/events/", ev, "/entries") : NULL;
    t->warmup_path = path_join(prefix, o->warmup_path, "", "");
    free(ev);
    rc = (t->entries_path && t->warmup_path) ? 0 : GD_ENOMEM;
    if (rc)
        say_err("out of memory");
out:
    if (u)
        evhttp_uri_free(u);
    return rc;
}

/* One TCP connect with a deadline; 0 or an errno value. */
static int probe_one(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    int err = 0;
    socklen_t len = sizeof err;

    if (fd < 0)
        return errno;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (errno != EINPROGRESS)
            err = errno;
        else if (poll(&p, 1, timeout_ms) != 1)
            err = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
    }
    close(fd);
    return err;
}

/* Resolve the host once (so reconnects never block on DNS) and keep the
 * first address that accepts a TCP connection: "localhost" may resolve to ::1
 * first while the server listens on 127.0.0.1 only.  This runs before the
 * event loop exists, so blocking here is harmless.  0 or GD_EIO (said why). */
static int target_resolve(struct lg_target *t, double timeout_s)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    int err = 0;

    snprintf(port, sizeof port, "%d", t->port);
    int gai = getaddrinfo(t->host, port, &hints, &res);
    if (gai != 0) {
        say_err("cannot resolve %s: %s", t->host, gai_strerror(gai));
        return GD_EIO;
    }
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        err = probe_one(ai, (int)(timeout_s * 1000));
        getnameinfo(ai->ai_addr, ai->ai_addrlen, t->addr, sizeof t->addr, NULL, 0, NI_NUMERICHOST);
        if (err == 0)
            break;
    }
    freeaddrinfo(res);
    if (err) {
        say_err("cannot connect to %s port %d (%s): %s", t->host, t->port, t->addr, strerror(err));
        return GD_EIO;
    }
    return 0;
}

/* Each connection holds a descriptor; raise the soft limit (and the hard one
 * when allowed) to fit.  0 or GD_EIO (said why). */
static int raise_nofile(int64_t conns)
{
    rlim_t need = (rlim_t)(conns + LG_SPARE_FDS);
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        rl.rlim_max = need;
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        say_err("needs %llu open files for %" PRId64 " connections, cannot raise the limit: %s",
                (unsigned long long)need, conns, strerror(errno));
        return GD_EIO;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Tokens: minted before the start so signing does not skew the timing.
 * ------------------------------------------------------------------------- */

/* Authorization header values, "Bearer <jwt>\0" back to back in one arena
 * (one allocation instead of one per member).  Freed by tokens_free. */
struct lg_tokens {
    char *arena;
    size_t *off; /* off[m]: header value of member index m */
    size_t used, cap;
    int64_t n;
};

static void tokens_free(struct lg_tokens *t)
{
    free(t->arena);
    free(t->off);
}

static int tokens_append(struct lg_tokens *t, const char *s, size_t len)
{
    if (t->used + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1 << 16;
        while (t->used + len + 1 > cap)
            cap *= 2;
        char *a = realloc(t->arena, cap);
        if (!a)
            return GD_ENOMEM;
        t->arena = a;
        t->cap = cap;
    }
    memcpy(t->arena + t->used, s, len + 1);
    t->used += len + 1;
    return 0;
}

/* Mint one token per member, valid from now until exp_s.  Returns 0, or
 * a negative code after saying why (GD_ENOMEM, or what the signer refused). */
static int tokens_mint(struct lg_tokens *t, const struct lg_opts *o, const unsigned char *key,
                       size_t key_len, int64_t exp_s)
{
    char hdr[JWT_MAX_TOKEN + 8] = "Bearer ";
    char sub[JWT_MAX_SUB + 1];
    int64_t iat = wall_us() / 1000000;

    t->n = o->members;
    t->off = xcalloc((size_t)t->n, sizeof *t->off);
    if (!t->off)
        return GD_ENOMEM;
    for (int64_t m = 0; m < t->n; m++) {
        member_id(o, m, sub, sizeof sub);
        int len = jwt_sign_hs256_kid(key, key_len, o->kid, sub, iat, exp_s, o->iss, o->aud, hdr + 7,
                                     sizeof hdr - 7);
        if (len < 0) {
            say_err("cannot mint a token for %s: %s", sub, err_str(len));
            return len;
        }
        t->off[m] = t->used;
        if (tokens_append(t, hdr, (size_t)len + 7) != 0)
            return GD_ENOMEM;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Statistics.
 * ------------------------------------------------------------------------- */

/* Why a request got no HTTP answer.  X(enum, name in the summary) */
#define LG_ERR_LIST(X)                                                                             \
    X(LG_ERR_CONNECT, "connect")                                                                   \
    X(LG_ERR_TIMEOUT, "timeout")                                                                   \
    X(LG_ERR_CLOSED, "closed")                                                                     \
    X(LG_ERR_BAD_RESPONSE, "bad_response")                                                         \
    X(LG_ERR_IO, "io")

enum lg_err_kind {
#define LG_ERR_ENUM(e, name) e,
    LG_ERR_LIST(LG_ERR_ENUM)
#undef LG_ERR_ENUM
        LG_ERR_COUNT
};

static const char *const lg_err_names[] = {
#define LG_ERR_NAME(e, name) name,
    LG_ERR_LIST(LG_ERR_NAME)
#undef LG_ERR_NAME
};

struct lg_code_count {
    char code[LG_CODE_LEN + 1];
    int64_t n;
};

/* Counters and latencies of one run; lat is owned (stats_free). */
struct lg_stats {
    int64_t sent, completed, errors;
    int64_t by_status[LG_STATUS_SLOTS];
    int64_t by_error[LG_ERR_COUNT];
    struct lg_code_count codes[LG_MAX_CODES];
    int ncodes;
    int64_t other_codes; /* distinct codes beyond LG_MAX_CODES */
    int64_t *lat_us;     /* one per completed response, from its scheduled time */
    int64_t nlat;
    int64_t first_202_us, last_202_us; /* since start; -1 = none */
    int64_t lag_sum_us, lag_max_us;    /* open loop: actual send - scheduled send */
    int64_t end_us;                    /* since start: last answer or error */
};

static void stats_count_code(struct lg_stats *st, const char *code)
{
    for (int i = 0; i < st->ncodes; i++) {
        if (strcmp(st->codes[i].code, code) == 0) {
            st->codes[i].n++;
            return;
        }
    }
    if (st->ncodes == LG_MAX_CODES) {
        st->other_codes++;
        return;
    }
    snprintf(st->codes[st->ncodes].code, sizeof st->codes[0].code, "%s", code);
    st->codes[st->ncodes++].n = 1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile (per mille) of the sorted array, in ms. */
static double pct_ms(const int64_t *sorted, int64_t n, int64_t per_mille)
{
    if (n == 0)
        return 0;
    int64_t rank = (per_mille * n + 999) / 1000;
    return (double)sorted[rank > 0 ? rank - 1 : 0] / 1000.0;
}

/* ---------------------------------------------------------------------------
 * The run: connections, dispatch, answers.
 * ------------------------------------------------------------------------- */

enum lg_phase { LG_WARMUP, LG_WAITING, LG_RUNNING, LG_DONE };

struct lg_run;

/* One pooled connection.  Its evhttp_connection is replaced after any failure. */
struct lg_conn {
    struct lg_run *run;
    struct evhttp_connection *evcon;
    struct event *deadline;     /* absolute per-request deadline (libevent's is an idle timer) */
    struct event *renew;        /* deferred re-creation: never free an evcon inside its callback */
    struct evhttp_request *req; /* in flight, or NULL */
    int64_t item;               /* work item in flight; -1 = warm-up request */
    int64_t sched_us;           /* latency origin: scheduled (open) or actual (closed) send */
    int err;                    /* failure kind reported by libevent, -1 = none */
    int idx;
};

/* Everything one run owns.  Freed by run_free. */
struct lg_run {
    const struct lg_opts *opt;
    const struct lg_target *tgt;
    const struct lg_tokens *tok;
    const char *body;
    size_t body_len;
    FILE *out;

    struct event_base *base;
    struct event *sched_timer, *start_timer, *stop_timer, *progress_timer, *warm_timer;
    struct event *sig_int, *sig_term;
    struct lg_conn *conns;
    int nconns;
    int *ring; /* free connections, FIFO so every connection stays warm */
    int ring_head, ring_count;
    int dead; /* connections that could not be re-created */

    enum lg_phase phase;
    int open_loop;
    int64_t limit; /* closed loop: max in flight */
    int64_t inflight;
    int64_t planned, next; /* work items to send, next one to send */
    double interval_us;    /* open loop: time between scheduled sends */
    int64_t t0_us;         /* the start instant, monotonic */
    int64_t start_unix_ms;
    int64_t last_progress, last_progress_us; /* completed count and time at the last line */
    int stopping, interrupted, dispatching;
    int warm_pending, warm_ok, warm_fail;
    int64_t warm_err[LG_ERR_COUNT];
    int exit_code;
    struct lg_stats st;
};

static void run_dispatch(struct lg_run *r);
static void conn_done_cb(struct evhttp_request *req, void *arg);
static void conn_error_cb(enum evhttp_request_error e, void *arg);

static void ring_push(struct lg_run *r, struct lg_conn *c)
{
    r->ring[(r->ring_head + r->ring_count) % r->nconns] = c->idx;
    r->ring_count++;
}

static struct lg_conn *ring_pop(struct lg_run *r)
{
    struct lg_conn *c = &r->conns[r->ring[r->ring_head]];
    r->ring_head = (r->ring_head + 1) % r->nconns;
    r->ring_count--;
    return c;
}

static int conn_open(struct lg_conn *c)
{
    const struct lg_run *r = c->run;
    struct timeval backstop = tv_us((int64_t)(r->opt->timeout_s * 1e6) + 1000000);

    c->evcon = evhttp_connection_base_new(r->base, NULL, r->tgt->addr, (uint16_t)r->tgt->port);
    if (!c->evcon)
        return GD_ENOMEM;
    if (r->opt->sources > 0) {
        /* Connection i speaks from source address i mod N, as that many clients. */
        char src[32];
        int k = (int)(c->idx % r->opt->sources);
        snprintf(src, sizeof src, "127.1.%d.%d", k / 250, k % 250 + 1);
        evhttp_connection_set_local_address(c->evcon, src);
    }
    evhttp_connection_set_retries(c->evcon, 0); /* no silent retries */
    evhttp_connection_set_timeout_tv(c->evcon, &backstop);
    evhttp_connection_set_max_headers_size(c->evcon, LG_MAX_HEADERS);
    evhttp_connection_set_max_body_size(c->evcon, LG_MAX_BODY);
    return 0;
}

static void conn_renew_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lg_conn *c = arg;
    struct lg_run *r = c->run;
    (void)fd;
    (void)what;

    evhttp_connection_free(c->evcon);
    c->evcon = NULL;
    if (conn_open(c) != 0) {
        say_err("connection %d: cannot re-create it (out of memory)", c->idx);
        if (++r->dead == r->nconns)
            r->stopping = 1;
    } else {
        ring_push(r, c);
    }
    run_dispatch(r);
}

/* Send one request on an idle connection.  The answer (or failure) arrives
 * in conn_done_cb, possibly before this returns: libevent reports some
 * connect failures synchronously. */
static void conn_send(struct lg_conn *c, const char *path, const char *auth)
{
    struct lg_run *r = c->run;
    struct timeval deadline = tv_us((int64_t)(r->opt->timeout_s * 1e6));
    struct evhttp_request *req = evhttp_request_new(conn_done_cb, c);
    enum evhttp_cmd_type type = auth ? EVHTTP_REQ_POST : EVHTTP_REQ_GET;

    if (req) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_request_set_error_cb(req, conn_error_cb);
        evhttp_add_header(h, "Host", r->tgt->host_header);
        evhttp_add_header(h, "User-Agent", LG_NAME);
        if (auth) {
            evhttp_add_header(h, "Authorization", auth);
            evhttp_add_header(h, "Content-Type", "application/json");
            evbuffer_add_reference(evhttp_request_get_output_buffer(req), r->body, r->body_len,
                                   NULL, NULL);
        }
    }
    c->req = req;
    c->err = -1;
    evtimer_add(c->deadline, &deadline);
    /* On -1 (out of memory, in practice) libevent did not call us back and
     * may or may not have freed req: leaking it is the safe side. */
    if (!req || evhttp_make_request(c->evcon, req, type, path) != 0) {
        c->err = LG_ERR_IO;
        conn_done_cb(NULL, c);
    }
}

/* "member status latency_us entry_id done_ms": done_ms is when the answer
 * arrived, in ms since the start instant (for time series of a run). */
static void write_out_line(struct lg_run *r, int64_t item, int status, int64_t lat_us,
                           const char *entry_id, int64_t now)
{
    char id[JWT_MAX_SUB + 1];
    if (!r->out)
        return;
    member_id(r->opt, item, id, sizeof id);
    fprintf(r->out, "%s %d %" PRId64 " %s %.3f\n", id, status, lat_us, *entry_id ? entry_id : "-",
            (double)(now - r->t0_us) / 1000.0);
}

/* Copy a string member of obj into out if it is short and has no blanks
 * (the --out format is space separated); else out = "". */
static void json_token(const cJSON *obj, const char *name, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    size_t n = strlen(s);

    out[0] = '\0';
    if (n == 0 || n >= cap)
        return;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return;
    memcpy(out, s, n + 1);
}

/* Parse what we need from an answer's JSON body: entry_id (only for --out)
 * and the problem "code" of error answers. */
static void parse_answer(const struct lg_run *r, struct evhttp_request *req, int status,
                         char *entry_id, char *code)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);

    entry_id[0] = code[0] = '\0';
    if (len == 0 || (status < 400 && !r->out))
        return;
    const char *txt = (const char *)evbuffer_pullup(in, -1);
    cJSON *doc = txt ? cJSON_ParseWithLength(txt, len) : NULL;
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return;
    }
    json_token(doc, "entry_id", entry_id, LG_ENTRY_LEN + 1);
    if (status >= 400)
        json_token(doc, "code", code, LG_CODE_LEN + 1);
    cJSON_Delete(doc);
}

static void record_answer(struct lg_run *r, struct lg_conn *c, struct evhttp_request *req,
                          int status, int64_t now)
{
    struct lg_stats *st = &r->st;
    char entry_id[LG_ENTRY_LEN + 1], code[LG_CODE_LEN + 1];
    int64_t lat = now - c->sched_us;

    parse_answer(r, req, status, entry_id, code);
    st->completed++;
    st->by_status[status < LG_STATUS_SLOTS ? status : LG_STATUS_SLOTS - 1]++;
    st->lat_us[st->nlat++] = lat;
    if (code[0])
        stats_count_code(st, code);
    if (status == 202) {
        if (st->first_202_us < 0)
            st->first_202_us = now - r->t0_us;
        st->last_202_us = now - r->t0_us;
    }
    st->end_us = now - r->t0_us;
    write_out_line(r, c->item, status, lat, entry_id, now);
}

static void record_error(struct lg_run *r, struct lg_conn *c, int kind, int64_t now)
{
    r->st.errors++;
    r->st.by_error[kind]++;
    r->st.end_us = now - r->t0_us;
    write_out_line(r, c->item, 0, now - c->sched_us, "", now);
}

static void run_check_done(struct lg_run *r)
{
    if (r->phase != LG_RUNNING || r->inflight > 0)
        return;
    if (r->next < r->planned && !r->stopping)
        return;
    r->phase = LG_DONE;
    event_base_loopexit(r->base, NULL);
}

static void warm_finished(struct lg_run *r);

/* A warm-up request ended; the last one decides whether we can start. */
static void warm_done(struct lg_run *r, int kind)
{
    if (kind < 0) {
        r->warm_ok++;
    } else {
        r->warm_fail++;
        r->warm_err[kind]++;
    }
    if (--r->warm_pending == 0)
        warm_finished(r);
}

/* libevent ends every request here: req is NULL or has no status when it
 * failed on the wire (c->err then says how, when libevent told us). */
static void conn_done_cb(struct evhttp_request *req, void *arg)
{
    struct lg_conn *c = arg;
    struct lg_run *r = c->run;
    int64_t now = mono_us();
    int status = req ? evhttp_request_get_response_code(req) : 0;
    int kind = status > 0 ? -1 : (c->err >= 0 ? c->err : LG_ERR_CONNECT);

    evtimer_del(c->deadline);
    c->req = NULL;
    if (c->item < 0) {
        warm_done(r, kind);
    } else {
        r->inflight--;
        if (kind < 0)
            record_answer(r, c, req, status, now);
        else
            record_error(r, c, kind, now);
    }
    if (kind < 0)
        ring_push(r, c);
    else
        event_active(c->renew, EV_TIMEOUT, 1);
    run_dispatch(r);
}

/* libevent's error callback runs just before conn_done_cb(NULL), with errno
 * restored to the socket error. */
static void conn_error_cb(enum evhttp_request_error e, void *arg)
{
    struct lg_conn *c = arg;
    int saved = errno;

    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        c->err = LG_ERR_TIMEOUT;
        break;
    case EVREQ_HTTP_EOF:
        c->err = (saved == ECONNREFUSED) ? LG_ERR_CONNECT : LG_ERR_CLOSED;
        break;
    case EVREQ_HTTP_INVALID_HEADER:
    case EVREQ_HTTP_DATA_TOO_LONG:
        c->err = LG_ERR_BAD_RESPONSE;
        break;
    case EVREQ_HTTP_BUFFER_ERROR:
        c->err = LG_ERR_IO;
        break;
    case EVREQ_HTTP_REQUEST_CANCEL: /* our own deadline, already classified */
        break;
    }
}

/* Our absolute deadline: cancel the request (libevent then resets the
 * connection and does not call conn_done_cb), count a timeout. */
static void conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lg_conn *c = arg;
    struct evhttp_request *req = c->req;
    (void)fd;
    (void)what;

    if (!req)
        return;
    evhttp_request_set_error_cb(req, NULL);
    evhttp_cancel_request(req);
    c->err = LG_ERR_TIMEOUT;
    conn_done_cb(NULL, c);
}

static int64_t item_sched_us(const struct lg_run *r, int64_t item)
{
    return r->open_loop ? r->t0_us + (int64_t)((double)item * r->interval_us) : r->t0_us;
}

/* Start as many due work items as free connections allow.  Guarded against
 * re-entry: a synchronous failure inside conn_send comes back here. */
static void run_dispatch(struct lg_run *r)
{
    if (r->phase != LG_RUNNING || r->dispatching)
        return;
    r->dispatching = 1;
    while (!r->stopping && r->next < r->planned && r->ring_count > 0 &&
           (r->open_loop || r->inflight < r->limit)) {
        int64_t now = mono_us();
        int64_t sched = item_sched_us(r, r->next);
        if (sched > now) {
            struct timeval tv = tv_us(sched - now);
            evtimer_add(r->sched_timer, &tv);
            break;
        }
        struct lg_conn *c = ring_pop(r);
        int64_t item = r->next++;
        c->item = item;
        c->sched_us = r->open_loop ? sched : now;
        if (r->open_loop) {
            r->st.lag_sum_us += now - sched;
            if (now - sched > r->st.lag_max_us)
                r->st.lag_max_us = now - sched;
        }
        r->inflight++;
        r->st.sent++;
        conn_send(c, r->tgt->entries_path, r->tok->arena + r->tok->off[item % r->tok->n]);
    }
    r->dispatching = 0;
    run_check_done(r);
}

static void sched_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_dispatch(arg);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lg_run *r = arg;
    (void)fd;
    (void)what;

    r->stopping = 1;
    run_check_done(r);
}

static void progress_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lg_run *r = arg;
    int64_t now = mono_us();
    double since = (double)(now - r->last_progress_us) / 1e6;
    (void)fd;
    (void)what;

    say_note(r->opt,
             "%5.1fs sent=%" PRId64 " completed=%" PRId64 " errors=%" PRId64 " in_flight=%" PRId64
             " answers/s=%.0f",
             (double)(now - r->t0_us) / 1e6, r->st.sent, r->st.completed, r->st.errors, r->inflight,
             since > 0 ? (double)(r->st.completed - r->last_progress) / since : 0);
    r->last_progress = r->st.completed;
    r->last_progress_us = now;
}

/* The start instant has come (t0_us already set). */
static void start_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lg_run *r = arg;
    int64_t now = mono_us();
    (void)fd;
    (void)what;

    if (now < r->t0_us) { /* woke early: sleep the rest */
        struct timeval tv = tv_us(r->t0_us - now);
        evtimer_add(r->start_timer, &tv);
        return;
    }
    r->phase = LG_RUNNING;
    r->last_progress_us = r->t0_us;
    if (r->opt->start_at_ms && now - r->t0_us > 1000)
        say_note(r->opt, "started %.3f ms after the start instant", (double)(now - r->t0_us) / 1e3);
    if (!r->opt->quiet) {
        struct timeval sec = {1, 0};
        evtimer_add(r->progress_timer, &sec);
    }
    if (r->opt->duration > 0 && !r->open_loop) {
        struct timeval tv = tv_us((int64_t)(r->opt->duration * 1e6) - (now - r->t0_us));
        evtimer_add(r->stop_timer, &tv);
    }
    run_dispatch(r);
}

/* Map --start-at-ms to the monotonic clock and arm the start. */
static void wait_for_start(struct lg_run *r)
{
    int64_t mono = mono_us(), wall = wall_us();
    int64_t delay = r->opt->start_at_ms ? r->opt->start_at_ms * 1000 - wall : 0;

    r->phase = LG_WAITING;
    if (delay < 0) {
        if (delay < -5000)
            say_err("note: the start instant passed %.1f ms ago; starting now",
                    (double)-delay / 1000);
        delay = 0;
    }
    r->t0_us = mono + delay;
    r->start_unix_ms = (wall + delay) / 1000;
    if (delay > 0)
        say_note(r->opt, "waiting %.3f s for the start instant", (double)delay / 1e6);
    struct timeval tv = tv_us(delay);
    evtimer_add(r->start_timer, &tv);
}

static void warm_finished(struct lg_run *r)
{
    char why[256] = "";
    size_t n = 0;

    for (int k = 0; k < LG_ERR_COUNT; k++)
        if (r->warm_err[k] && n < sizeof why)
            n += (size_t)snprintf(why + n, sizeof why - n, "%s%s: %" PRId64, n ? ", " : "",
                                  lg_err_names[k], r->warm_err[k]);
    if (r->warm_ok == 0) {
        say_err("could not start: every warm-up request to http://%s%s failed (%s)",
                r->tgt->host_header, r->tgt->warmup_path, why);
        r->exit_code = LG_EXIT_NOSTART;
        event_base_loopexit(r->base, NULL);
        return;
    }
    if (r->warm_fail)
        say_err("warning: %d of %d warm-up requests failed (%s); those connections are "
                "re-created",
                r->warm_fail, r->nconns, why);
    say_note(r->opt, "%d connections ready", r->warm_ok);
    wait_for_start(r);
}

static void warm_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lg_run *r = arg;
    (void)fd;
    (void)what;

    say_note(r->opt, "warming up %d connections (GET %s)", r->nconns, r->tgt->warmup_path);
    r->warm_pending = r->nconns;
    while (r->ring_count > 0) {
        struct lg_conn *c = ring_pop(r);
        c->item = -1;
        c->sched_us = mono_us();
        conn_send(c, r->tgt->warmup_path, NULL);
    }
}

/* First Ctrl-C: stop sending, let the requests in flight finish (each is
 * bounded by --timeout-s).  Second: leave now. */
static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct lg_run *r = arg;
    (void)sig;
    (void)what;

    if (r->interrupted++) {
        event_base_loopbreak(r->base);
        return;
    }
    r->stopping = 1;
    if (r->phase != LG_RUNNING) {
        event_base_loopexit(r->base, NULL);
        return;
    }
    say_err("interrupted: waiting for %" PRId64 " requests in flight (again to quit now)",
            r->inflight);
    run_check_done(r);
}

static void run_free(struct lg_run *r)
{
    for (int i = 0; r->conns && i < r->nconns; i++) {
        struct lg_conn *c = &r->conns[i];
        if (c->deadline)
            event_free(c->deadline);
        if (c->renew)
            event_free(c->renew);
        if (c->evcon)
            evhttp_connection_free(c->evcon);
    }
    struct event *evs[] = {r->sched_timer, r->start_timer, r->stop_timer, r->progress_timer,
                           r->warm_timer,  r->sig_int,     r->sig_term};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    free(r->conns);
    free(r->ring);
    free(r->st.lat_us);
    if (r->base)
        event_base_free(r->base);
}

static struct event_base *base_new(int coarse_timers)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base = NULL;

    if (cfg) {
        /* timerfd-backed timers by default: the open-loop timetable to better
         * than 1 ms.  Re-arming the timerfd is a system call nearly every
         * request; at 4,500 requests/s on 2 cores that was half of this
         * process' CPU (38 % of a core against 19 % with epoll's 1 ms
         * timeouts), taken from the server being measured. */
        int flags = EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_NO_CACHE_TIME |
                    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST;
        if (!coarse_timers)
            flags |= EVENT_BASE_FLAG_PRECISE_TIMER;
        event_config_set_flag(cfg, flags);
        base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    return base;
}

/* Work items to send: every member times --repeat, cut by --rate x --duration
 * in the open loop. */
static int64_t planned_items(const struct lg_opts *o)
{
    int64_t total = o->members * o->repeat;
    if (o->rate > 0 && o->duration > 0) {
        double due = o->rate * o->duration; /* items i with i/rate < duration */
        int64_t n = (int64_t)due;
        if ((double)n < due)
            n++;
        if (n < total)
            total = n;
    }
    return total;
}

static int run_init(struct lg_run *r)
{
    const struct lg_opts *o = r->opt;

    r->nconns = (int)o->connections;
    r->open_loop = o->rate > 0;
    r->limit = o->concurrency < o->connections ? o->concurrency : o->connections;
    r->interval_us = r->open_loop ? 1e6 / o->rate : 0;
    r->planned = planned_items(o);
    r->st.first_202_us = r->st.last_202_us = -1;
    r->base = base_new(o->coarse_timers);
    r->conns = xcalloc((size_t)r->nconns, sizeof *r->conns);
    r->ring = xcalloc((size_t)r->nconns, sizeof *r->ring);
    r->st.lat_us = xcalloc((size_t)r->planned, sizeof *r->st.lat_us);
    if (!r->base || !r->conns || !r->ring || !r->st.lat_us)
        return GD_ENOMEM;
    r->sched_timer = evtimer_new(r->base, sched_cb, r);
    r->start_timer = evtimer_new(r->base, start_cb, r);
    r->stop_timer = evtimer_new(r->base, stop_cb, r);
    r->progress_timer = event_new(r->base, -1, EV_PERSIST, progress_cb, r);
    r->warm_timer = evtimer_new(r->base, warm_cb, r);
    r->sig_int = evsignal_new(r->base, SIGINT, signal_cb, r);
    r->sig_term = evsignal_new(r->base, SIGTERM, signal_cb, r);
    if (!r->sched_timer || !r->start_timer || !r->stop_timer || !r->progress_timer ||
        !r->warm_timer || !r->sig_int || !r->sig_term)
        return GD_ENOMEM;
    evsignal_add(r->sig_int, NULL);
    evsignal_add(r->sig_term, NULL);
    for (int i = 0; i < r->nconns; i++) {
        struct lg_conn *c = &r->conns[i];
        c->run = r;
        c->idx = i;
        c->deadline = evtimer_new(r->base, conn_deadline_cb, c);
        c->renew = event_new(r->base, -1, 0, conn_renew_cb, c);
        if (!c->deadline || !c->renew || conn_open(c) != 0)
            return GD_ENOMEM;
        ring_push(r, c);
    }
    return 0;
}

/* Warm up (now, or shortly before --start-at-ms), wait, run. */
static void run_loop(struct lg_run *r)
{
    const struct lg_opts *o = r->opt;

    if (o->no_warmup) {
        wait_for_start(r);
    } else {
        int64_t lead = o->start_at_ms ? o->start_at_ms * 1000 - wall_us() - LG_WARMUP_LEAD_US : 0;
        struct timeval tv = tv_us(lead);
        r->phase = LG_WARMUP;
        evtimer_add(r->warm_timer, &tv);
    }
    event_base_dispatch(r->base);
    if (r->phase != LG_DONE && r->exit_code == LG_EXIT_RAN) {
        if (r->phase != LG_RUNNING) {
            say_err("interrupted before the start");
            r->exit_code = LG_EXIT_NOSTART;
        }
        r->st.end_us = mono_us() - r->t0_us;
    }
}

/* ---------------------------------------------------------------------------
 * Summary.
 * ------------------------------------------------------------------------- */

static cJSON *summary_latency(struct lg_stats *st)
{
    cJSON *lat = cJSON_CreateObject();
    int64_t sum = 0;

    qsort(st->lat_us, (size_t)st->nlat, sizeof *st->lat_us, cmp_i64);
    for (int64_t i = 0; i < st->nlat; i++)
        sum += st->lat_us[i];
    cJSON_AddNumberToObject(lat, "p50", pct_ms(st->lat_us, st->nlat, 500));
    cJSON_AddNumberToObject(lat, "p90", pct_ms(st->lat_us, st->nlat, 900));
    cJSON_AddNumberToObject(lat, "p99", pct_ms(st->lat_us, st->nlat, 990));
    cJSON_AddNumberToObject(lat, "max", pct_ms(st->lat_us, st->nlat, 1000));
    cJSON_AddNumberToObject(lat, "p99_9", pct_ms(st->lat_us, st->nlat, 999));
    cJSON_AddNumberToObject(lat, "mean", st->nlat ? (double)(sum / st->nlat) / 1000.0 : 0);
    return lat;
}

static void add_ms_or_null(cJSON *obj, const char *name, int64_t us)
{
    if (us < 0)
        cJSON_AddNullToObject(obj, name);
    else
        cJSON_AddNumberToObject(obj, name, (double)us / 1000.0);
}

static void summary_extras(const struct lg_run *r, cJSON *root);

/* The summary as one line of JSON (cJSON escapes every key and value);
 * caller frees with cJSON_free.  NULL when out of memory. */
static char *summary_json(struct lg_run *r)
{
    struct lg_stats *st = &r->st;
    cJSON *root = cJSON_CreateObject();
    double dur = st->end_us > 0 ? (double)st->end_us / 1e6 : 0;
    char key[16];

    cJSON_AddNumberToObject(root, "sent", (double)st->sent);
    cJSON_AddNumberToObject(root, "completed", (double)st->completed);
    cJSON_AddNumberToObject(root, "errors", (double)st->errors);
    cJSON *status = cJSON_AddObjectToObject(root, "by_status");
    for (int s = 0; s < LG_STATUS_SLOTS; s++) {
        if (st->by_status[s]) {
            snprintf(key, sizeof key, "%d", s);
            cJSON_AddNumberToObject(status, key, (double)st->by_status[s]);
        }
    }
    cJSON *codes = cJSON_AddObjectToObject(root, "by_code");
    for (int i = 0; i < st->ncodes; i++)
        cJSON_AddNumberToObject(codes, st->codes[i].code, (double)st->codes[i].n);
    if (st->other_codes)
        cJSON_AddNumberToObject(codes, "_other", (double)st->other_codes);
    cJSON_AddNumberToObject(root, "duration_s", dur);
    cJSON_AddNumberToObject(
        root, "rps", dur > 0 ? (double)(int64_t)((double)st->completed / dur * 10 + 0.5) / 10 : 0);
    cJSON_AddItemToObject(root, "latency_ms", summary_latency(st));
    add_ms_or_null(root, "first_202_ms", st->first_202_us);
    add_ms_or_null(root, "last_202_ms", st->last_202_us);
    summary_extras(r, root);
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return txt;
}

/* Beyond the required fields: what a reader needs to trust the numbers. */
static void summary_extras(const struct lg_run *r, cJSON *root)
{
    const struct lg_stats *st = &r->st;

    cJSON_AddStringToObject(root, "mode", r->open_loop ? "open" : "closed");
    cJSON_AddNumberToObject(root, "sources", (double)(r->opt->sources > 0 ? r->opt->sources : 1));
    cJSON_AddNumberToObject(root, "planned", (double)r->planned);
    cJSON_AddNumberToObject(root, "not_sent", (double)(r->planned - st->sent));
    /* in flight when a second Ctrl-C cut the run: neither answered nor failed */
    cJSON_AddNumberToObject(root, "abandoned", (double)r->inflight);
    cJSON *errs = cJSON_AddObjectToObject(root, "by_error");
    for (int k = 0; k < LG_ERR_COUNT; k++)
        if (st->by_error[k])
            cJSON_AddNumberToObject(errs, lg_err_names[k], (double)st->by_error[k]);
    if (r->open_loop) {
        cJSON *lag = cJSON_AddObjectToObject(root, "send_lag_ms");
        cJSON_AddNumberToObject(lag, "mean",
                                st->sent ? (double)(st->lag_sum_us / st->sent) / 1000.0 : 0);
        cJSON_AddNumberToObject(lag, "max", (double)st->lag_max_us / 1000.0);
    }
    cJSON_AddNumberToObject(root, "start_unix_ms", (double)r->start_unix_ms);
    cJSON_AddBoolToObject(root, "interrupted", r->interrupted > 0);
}

/* Print the summary, write --json; returns the exit status. */
static int summary_emit(struct lg_run *r, FILE *json)
{
    char *txt = summary_json(r);
    int rc = r->exit_code;

    if (!txt) {
        say_err("out of memory");
        return LG_EXIT_NOSTART;
    }
    printf("%s\n", txt);
    fflush(stdout);
    if (json && (fprintf(json, "%s\n", txt) < 0 || fflush(json) != 0)) {
        say_err("--json %s: %s", r->opt->json, strerror(errno));
        rc = LG_EXIT_NOSTART;
    }
    if (r->out && fflush(r->out) != 0) {
        say_err("--out %s: %s", r->opt->out, strerror(errno));
        rc = LG_EXIT_NOSTART;
    }
    cJSON_free(txt);
    return rc;
}

/* ---------------------------------------------------------------------------
 * main: options -> target -> tokens -> run -> summary.
 * ------------------------------------------------------------------------- */

static FILE *open_output(const char *path, const char *what)
{
    FILE *f = fopen(path, "w");
    if (!f)
        say_err("%s %s: %s", what, path, strerror(errno));
    return f;
}

/* Inputs checked with the options; the key is wiped once the tokens exist. */
struct lg_inputs {
    unsigned char key[JWT_MAX_KEY];
    int key_len;
    char *body; /* the request body; cJSON_free */
};

/* Every argument check, each problem reported; returns how many. */
static int validate(struct lg_opts *o, struct lg_target *t, struct lg_inputs *in)
{
    int bad = opts_check(o);

    in->key_len = secret_load(o, in->key, sizeof in->key);
    bad += in->key_len < 0;
    bad += target_parse(t, o) != 0;
    in->body = body_build(o->answers);
    if (!in->body) {
        say_err("--answers: not valid JSON");
        bad++;
    }
    return bad;
}

/* Everything between the arguments and the loop.  Returns an exit status. */
static int prepare(struct lg_run *r, struct lg_target *t, struct lg_tokens *tok,
                   struct lg_inputs *in, FILE **json)
{
    const struct lg_opts *o = r->opt;
    int64_t start_s = (o->start_at_ms ? o->start_at_ms : wall_us() / 1000) / 1000;

    if (target_resolve(t, o->timeout_s) != 0 || raise_nofile(o->connections) != 0)
        return LG_EXIT_NOSTART;
    if (o->sources > 0 && strncmp(t->addr, "127.", 4) != 0) {
        say_err("--sources: the target %s is not a loopback IPv4 address", t->addr);
        return LG_EXIT_USAGE;
    }
    if ((o->out && !(r->out = open_output(o->out, "--out"))) ||
        (o->json && !(*json = open_output(o->json, "--json"))))
        return LG_EXIT_NOSTART;
    if (r->out)
        setvbuf(r->out, NULL, _IOFBF, 1 << 20);
    int64_t t_mint = mono_us();
    int rc = tokens_mint(tok, o, in->key, (size_t)in->key_len, start_s + o->ttl_s);
    memset(in->key, 0, sizeof in->key);
    if (rc != 0)
        return rc == GD_ENOMEM ? LG_EXIT_NOSTART : LG_EXIT_USAGE;
    say_note(o, "minted %" PRId64 " tokens in %.2f s", o->members,
             (double)(mono_us() - t_mint) / 1e6);
    r->tok = tok;
    r->tgt = t;
    r->body = in->body;
    r->body_len = strlen(in->body);
    if (run_init(r) != 0) {
        say_err("out of memory");
        return LG_EXIT_NOSTART;
    }
    say_note(o, "%s loop: %" PRId64 " requests to http://%s%s (%s), %d connections%s",
             r->open_loop ? "open" : "closed", r->planned, t->host_header, t->entries_path, t->addr,
             r->nconns,
             !r->open_loop && o->concurrency > o->connections
                 ? " (fewer than --concurrency: in flight is capped by connections)"
                 : "");
    return LG_EXIT_RAN;
}

int main(int argc, char **argv)
{
    struct lg_opts opt;
    struct lg_target tgt = {0};
    struct lg_inputs in = {0};
    struct lg_tokens tok = {0};
    struct lg_run run = {0};
    FILE *json = NULL;
    int rc = LG_EXIT_USAGE;

    opts_defaults(&opt);
    int bad = opts_parse(&opt, argc, argv);
    if (opt.help) {
        usage(stdout);
        return LG_EXIT_RAN;
    }
    if (validate(&opt, &tgt, &in) + bad != 0) {
        fputs("try '" LG_NAME " --help'\n", stderr);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN); /* a peer that resets mid-write is an error, not a death */
    run.opt = &opt;
    rc = prepare(&run, &tgt, &tok, &in, &json);
    if (rc == LG_EXIT_RAN) {
        run_loop(&run);
        rc = run.exit_code == LG_EXIT_RAN ? summary_emit(&run, json) : run.exit_code;
    }
out:
    run_free(&run);
    if (run.out)
        fclose(run.out);
    if (json)
        fclose(json);
    tokens_free(&tok);
    target_free(&tgt);
    cJSON_free(in.body);
    memset(in.key, 0, sizeof in.key);
    return rc;
}
