#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "errors.h"
#include "jwt.h"
#include "lb.h"
#include "log.h"
#include "netaddr.h"
#include "topology.h"

/* CFG_POLICY, CFG_ENDPOINTS, CFG_DELAYS and CFG_NETS are strings checked at
 * load time (a balancing policy name, an endpoint list, a retry schedule, a
 * list of addresses/CIDRs), so that --check-config finds a bad value, not the
 * first send or request. */
enum cfg_type {
    CFG_STR,
    CFG_INT,
    CFG_URL,
    CFG_LEVEL,
    CFG_POLICY,
    CFG_ENDPOINTS,
    CFG_DELAYS,
    CFG_NETS
};

struct cfg_row {
    const char *name;
    enum cfg_type type;
    size_t offset;
    const char *def;
    long min, max;      /* CFG_INT bounds */
    const char *scheme; /* CFG_URL: accepted scheme prefixes, '|' separated */
    int secret;
    unsigned services;
    const char *help;
};

#define OFF(f)  offsetof(struct gd_config, f)
#define SVC_ALL (CFG_ENTRY_API | CFG_STOCK | CFG_NOTIFIER | CFG_EVENTCTL)

/* The development default secret: documented, and refused nowhere but in
 * production configuration reviews.  Production must set JWT_SECRET(_FILE). */
#define GD_DEV_JWT_SECRET "giftdrop-development-secret-do-not-use-in-prod"

static const struct cfg_row cfg_rows[] = {
    {"AMQP_URL", CFG_URL, OFF(amqp_url), "amqp://guest:guest@127.0.0.1:5672", 0, 0,
     "amqp://|amqps://", 1, SVC_ALL, "RabbitMQ URL (no trailing '/': that means an empty vhost)"},
    {"REDIS_URL", CFG_URL, OFF(redis_url), "redis://127.0.0.1:6379", 0, 0, "redis://", 1, SVC_ALL,
     "Redis URL redis://[:password@]host:port[/db]"},
    {"DATABASE_URL", CFG_URL, OFF(database_url),
     "postgresql://giftdrop:giftdrop@127.0.0.1:5432/giftdrop", 0, 0, "postgresql://|postgres://", 1,
     CFG_STOCK | CFG_NOTIFIER | CFG_EVENTCTL, "PostgreSQL primary"},
    {"DATABASE_REPLICA_URL", CFG_STR, OFF(database_replica_url), "", 0, 0, NULL, 1, CFG_STOCK,
     "read replica for member lookups (empty: the primary)"},
    {"JWT_SECRET", CFG_STR, OFF(jwt_secret), GD_DEV_JWT_SECRET, 0, 0, NULL, 1,
     CFG_ENTRY_API | CFG_EVENTCTL, "HS256 secret, at least 32 bytes"},
    {"JWT_SECRET_FILE", CFG_STR, OFF(jwt_secret_file), "", 0, 0, NULL, 0,
     CFG_ENTRY_API | CFG_EVENTCTL, "file holding the secret (overrides JWT_SECRET)"},
    {"JWT_SECRETS", CFG_STR, OFF(jwt_secrets), "", 0, 0, NULL, 1, CFG_ENTRY_API | CFG_EVENTCTL,
     "several keys kid:secret,kid:secret (the first is the primary; overrides JWT_SECRET)"},
    {"JWT_SECRETS_FILE", CFG_STR, OFF(jwt_secrets_file), "", 0, 0, NULL, 0,
     CFG_ENTRY_API | CFG_EVENTCTL,
     "file of kid:secret lines, read again on SIGHUP (overrides JWT_SECRETS)"},
    {"JWT_ISSUER", CFG_STR, OFF(jwt_issuer), "", 0, 0, NULL, 0, CFG_ENTRY_API | CFG_EVENTCTL,
     "required iss claim (empty: not checked)"},
    {"JWT_AUDIENCE", CFG_STR, OFF(jwt_audience), "", 0, 0, NULL, 0, CFG_ENTRY_API | CFG_EVENTCTL,
     "required aud claim (empty: not checked)"},
    {"JWT_LEEWAY_S", CFG_INT, OFF(jwt_leeway_s), "30", 0, 300, NULL, 0, CFG_ENTRY_API,
     "clock leeway for exp/nbf/iat"},
    {"LISTEN_ADDR", CFG_STR, OFF(listen_addr), "127.0.0.1:8080", 0, 0, NULL, 0, CFG_ENTRY_API,
     "public HTTP listen address host:port"},
    {"CONFIRM_TIMEOUT_MS", CFG_INT, OFF(confirm_timeout_ms), "1500", 50, 60000, NULL, 0,
     CFG_ENTRY_API, "deadline for the broker's publisher confirm"},
    {"POLL_AFTER_S", CFG_INT, OFF(poll_after_s), "2", 1, 300, NULL, 0, CFG_ENTRY_API,
     "Retry-After on a 202 and on a pending entries/me: how soon the app polls again"},
    {"RATE_LIMIT", CFG_INT, OFF(rate_limit), "20", 1, 100000, NULL, 0, CFG_ENTRY_API,
     "requests per member per window"},
    {"RATE_WINDOW_MS", CFG_INT, OFF(rate_window_ms), "10000", 100, 3600000, NULL, 0, CFG_ENTRY_API,
     "rate-limit window"},
    {"WORKERS", CFG_INT, OFF(workers), "0", 0, 64, NULL, 0, CFG_ENTRY_API,
     "worker processes sharing the listen port (0: one per CPU)"},
    {"REDIS_TIMEOUT_MS", CFG_INT, OFF(redis_timeout_ms), "1000", 50, 60000, NULL, 0, CFG_ENTRY_API,
     "deadline of every Redis command; past it the connection is dropped"},
    {"MAX_CONNECTIONS", CFG_INT, OFF(max_connections), "4096", 1, 1000000, NULL, 0, CFG_ENTRY_API,
     "open client connections per worker (accepting pauses at the cap)"},
    {"REQUEST_TIMEOUT_MS", CFG_INT, OFF(request_timeout_ms), "10000", 100, 300000, NULL, 0,
     CFG_ENTRY_API, "absolute deadline from a request's first byte to its last (slowloris)"},
    {"IDLE_TIMEOUT_S", CFG_INT, OFF(idle_timeout_s), "15", 1, 3600, NULL, 0, CFG_ENTRY_API,
     "keep-alive connection idle limit"},
    {"DRAIN_TIMEOUT_MS", CFG_INT, OFF(drain_timeout_ms), "10000", 100, 120000, NULL, 0,
     CFG_ENTRY_API, "on SIGTERM, how long in-flight requests may take to finish"},
    {"TRUSTED_PROXIES", CFG_NETS, OFF(trusted_proxies), "", 0, 0, NULL, 0, CFG_ENTRY_API,
     "proxies whose X-Forwarded-For names the client: IPs/CIDRs, comma-separated (empty: none)"},
    {"AMQP_HEARTBEAT_S", CFG_INT, OFF(amqp_heartbeat_s), "30", 0, 600, NULL, 0,
     CFG_STOCK | CFG_NOTIFIER, "heartbeat of consuming connections (0: off)"},
    {"AMQP_PREFETCH", CFG_INT, OFF(amqp_prefetch), "300", 1, 65535, NULL, 0,
     CFG_STOCK | CFG_NOTIFIER, "unacked deliveries per consumer"},
    {"BATCH_SIZE", CFG_INT, OFF(batch_size), "250", 1, 10000, NULL, 0, CFG_STOCK,
     "deliveries decided together"},
    {"BATCH_WAIT_MS", CFG_INT, OFF(batch_wait_ms), "5", 0, 1000, NULL, 0, CFG_STOCK,
     "how long to wait to fill a batch"},
    {"PROVIDER_URL", CFG_URL, OFF(provider_url), "http://127.0.0.1:9090", 0, 0, "http://|https://",
     0, CFG_NOTIFIER, "notification provider base URL"},
    {"PROVIDER_SECRET", CFG_STR, OFF(provider_secret), "dev-provider-secret", 0, 0, NULL, 1,
     CFG_NOTIFIER, "provider X-Secret-Key"},
    {"PROVIDER_APPKEY", CFG_STR, OFF(provider_appkey), "giftdrop-dev", 0, 0, NULL, 0, CFG_NOTIFIER,
     "provider app key"},
    {"PROVIDER_TIMEOUT_MS", CFG_INT, OFF(provider_timeout_ms), "5000", 100, 60000, NULL, 0,
     CFG_NOTIFIER, "per-request provider timeout"},
    {"PROVIDER_ALIMTALK_ENDPOINTS", CFG_ENDPOINTS, OFF(provider_alimtalk_endpoints), "", 0, 0, NULL,
     0, CFG_NOTIFIER, "AlimTalk endpoints URL[=WEIGHT],... (empty: PROVIDER_URL)"},
    {"PROVIDER_SMS_ENDPOINTS", CFG_ENDPOINTS, OFF(provider_sms_endpoints), "", 0, 0, NULL, 0,
     CFG_NOTIFIER, "SMS endpoints URL[=WEIGHT],... (empty: PROVIDER_URL)"},
    {"PROVIDER_ALIMTALK_POLICY", CFG_POLICY, OFF(provider_alimtalk_policy), "ewma", 0, 0, NULL, 0,
     CFG_NOTIFIER, "round_robin, weighted, least_conn, ewma or chash (by member)"},
    {"PROVIDER_SMS_POLICY", CFG_POLICY, OFF(provider_sms_policy), "ewma", 0, 0, NULL, 0,
     CFG_NOTIFIER, "balancing policy of the SMS endpoints"},
    {"PROVIDER_CA_FILE", CFG_STR, OFF(provider_ca_file), "", 0, 0, NULL, 0, CFG_NOTIFIER,
     "PEM CA bundle trusted for https endpoints (empty: the system's)"},
    {"PROVIDER_BREAKER_FAILURES", CFG_INT, OFF(provider_breaker_failures), "10", 0, 1000, NULL, 0,
     CFG_NOTIFIER, "consecutive failures that open an endpoint's breaker (0: failure rate only)"},
    {"NOTIFY_CONCURRENCY", CFG_INT, OFF(notify_concurrency), "256", 1, 10000, NULL, 0, CFG_NOTIFIER,
     "provider requests in flight"},
    {"NOTIFY_DB_CONNS", CFG_INT, OFF(notify_db_conns), "4", 1, 64, NULL, 0, CFG_NOTIFIER,
     "PostgreSQL connections of the send ledger (one thread each)"},
    {"NOTIFY_MAX_ATTEMPTS", CFG_INT, OFF(notify_max_attempts), "20", 1, 1000, NULL, 0, CFG_NOTIFIER,
     "attempts before a winner ends failed (dead-lettered)"},
    {"NOTIFY_RETRY_SCHEDULE", CFG_DELAYS, OFF(notify_retry_schedule), "1,5,30", 0, 0, NULL, 0,
     CFG_NOTIFIER, "seconds before retry 1, 2, ... (last repeats); each a retry queue's TTL"},
    {"METRICS_ADDR", CFG_STR, OFF(metrics_addr), "", 0, 0, NULL, 0, CFG_STOCK | CFG_NOTIFIER,
     "Prometheus /metrics and /healthz listen address host:port (empty: not served)"},
    {"INSTANCE", CFG_STR, OFF(instance), "", 0, 0, NULL, 0, SVC_ALL,
     "instance name in connection names (empty: host name)"},
    {"LOG_LEVEL", CFG_LEVEL, OFF(log_level), "info", 0, 0, NULL, 0, SVC_ALL,
     "debug, info, warn or error"},
    {"EVENT_RETENTION_S", CFG_INT, OFF(retention_s), "604800", 60, 31536000, NULL, 0, CFG_EVENTCTL,
     "how long Redis keeps an event's keys after it closes"},
};

#define NROWS (sizeof(cfg_rows) / sizeof(cfg_rows[0]))

static char **str_field(struct gd_config *c, const struct cfg_row *r)
{
    return (char **)(void *)((char *)c + r->offset);
}

/* Append "NAME: detail" as one line of the error report. */
static void errf(char *err, size_t err_len, size_t *used, const char *name, const char *detail)
{
    if (*used >= err_len)
        return;
    int n = snprintf(err + *used, err_len - *used, "%s: %s\n", name, detail);
    if (n > 0)
        *used += (size_t)n;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int scheme_ok(const char *val, const char *schemes)
{
    const char *p = schemes;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (strncmp(val, p, n) == 0 && val[n] != '\0')
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

/* Read a secret file; trailing newlines are not part of the secret. */
static char *read_secret_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char buf[JWT_MAX_KEY + 2];
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return strdup(buf);
}

/* Store a copy of val in the row's string field. */
static int copy_str(struct gd_config *c, const struct cfg_row *r, const char *val, char *err,
                    size_t err_len, size_t *used)
{
    char *dup = strdup(val);
    if (!dup) {
        errf(err, err_len, used, r->name, "out of memory");
        return -1;
    }
    free(*str_field(c, r));
    *str_field(c, r) = dup;
    return 0;
}

/* NULL when s names a balancing policy. */
static const char *check_policy(const char *s)
{
    enum lb_policy p;
    return lb_policy_from_name(s, &p) == GD_OK
               ? NULL
               : "not one of round_robin, weighted, least_conn, ewma, chash";
}

/* NULL when s is empty or a valid http(s) endpoint list for common/lb. */
static const char *check_endpoints(const char *s, char *why, size_t why_len)
{
    struct lb *lb = NULL;
    if (s[0] == '\0')
        return NULL;
    if (lb_create_from_config("round_robin", s, NULL, &lb, why, why_len) != GD_OK)
        return why;
    for (size_t i = 0; i < lb_size(lb); i++) {
        const char *name = lb_endpoint_name(lb, (int)i);
        if (!scheme_ok(name, "http://|https://")) {
            snprintf(why, why_len, "\"%.80s\" is not an http:// or https:// URL", name);
            lb_free(lb);
            return why;
        }
    }
    lb_free(lb);
    return NULL;
}

/* NULL when s is an empty or valid address/CIDR list (common/netaddr.h). */
static const char *check_nets(const char *s, char *why, size_t why_len)
{
    struct net_trust t;
    return net_trust_parse(s, &t, why, why_len) == GD_OK ? NULL : why;
}

/* NULL when s is a comma list of seconds, each the TTL of a retry tier. */
static const char *check_delays(const char *s, char *why, size_t why_len)
{
    const char *p = s;
    do {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        int tier = 0;
        for (size_t i = 0; i < topo_retry_tier_count; i++)
            tier |= errno == 0 && end != p && v * 1000 == topo_retry_tiers[i].ttl_ms;
        if (!tier || (*end != ',' && *end != '\0')) {
            snprintf(why, why_len, "expected seconds from the retry queues' TTLs (");
            for (size_t i = 0; i < topo_retry_tier_count; i++)
                snprintf(why + strlen(why), why_len - strlen(why), "%s%lld", i ? ", " : "",
                         topo_retry_tiers[i].ttl_ms / 1000);
            snprintf(why + strlen(why), why_len - strlen(why), "), comma-separated");
            return why;
        }
        p = *end == ',' ? end + 1 : end;
    } while (*p);
    return NULL;
}

static int load_row(struct gd_config *c, const struct cfg_row *r, const char *val, char *err,
                    size_t err_len, size_t *used)
{
    long v;
    char b[160];
    switch (r->type) {
    case CFG_INT:
        if (parse_long(val, &v) != 0) {
            snprintf(b, sizeof(b), "\"%.80s\" is not an integer", val);
            errf(err, err_len, used, r->name, b);
            return -1;
        }
        if (v < r->min || v > r->max) {
            snprintf(b, sizeof(b), "%ld is outside %ld..%ld", v, r->min, r->max);
            errf(err, err_len, used, r->name, b);
            return -1;
        }
        *(long *)(void *)((char *)c + r->offset) = v;
        return 0;
    case CFG_LEVEL:
        if (log_level_parse(val) < 0) {
            snprintf(b, sizeof(b), "\"%.80s\" is not debug, info, warn or error", val);
            errf(err, err_len, used, r->name, b);
            return -1;
        }
        *(int *)(void *)((char *)c + r->offset) = log_level_parse(val);
        return 0;
    case CFG_POLICY:
    case CFG_ENDPOINTS:
    case CFG_DELAYS:
    case CFG_NETS: {
        char why[200];
        const char *bad = r->type == CFG_POLICY      ? check_policy(val)
                          : r->type == CFG_ENDPOINTS ? check_endpoints(val, why, sizeof(why))
                          : r->type == CFG_NETS      ? check_nets(val, why, sizeof(why))
                                                     : check_delays(val, why, sizeof(why));
        if (bad) {
            errf(err, err_len, used, r->name, bad);
            return -1;
        }
        return copy_str(c, r, val, err, err_len, used);
    }
    case CFG_URL:
        if (!scheme_ok(val, r->scheme)) {
            snprintf(b, sizeof(b), "must start with %s", r->scheme);
            errf(err, err_len, used, r->name, b);
            return -1;
        }
        /* fall through */
    case CFG_STR:
        return copy_str(c, r, val, err, err_len, used);
    }
    return -1;
}

#define JWT_KEYS_FILE_MAX 65536

/* A whole key-list file as a string (caller frees); NULL and a reason in why. */
static char *read_keys_file(const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc(JWT_KEYS_FILE_MAX + 1) : NULL;
    size_t n = buf ? fread(buf, 1, JWT_KEYS_FILE_MAX + 1, f) : 0;
    const char *bad = !f          ? "cannot read"
                      : !buf      ? "out of memory"
                      : ferror(f) ? "cannot read"
                                  : NULL;
    if (!bad && n > JWT_KEYS_FILE_MAX)
        bad = "is larger than 65536 bytes";
    if (!bad && memchr(buf, '\0', n))
        bad = "holds a NUL byte";
    if (f)
        fclose(f);
    if (bad) {
        snprintf(why, why_len, "%s \"%.250s\"", bad, path);
        if (buf)
            OPENSSL_cleanse(buf, JWT_KEYS_FILE_MAX + 1);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Parse text as a key list into ks; "NAME: reason" into err on a refusal. */
static int parse_keys(const char *name, const char *text, struct jwt_keyset *ks, char *err,
                      size_t err_len)
{
    char why[200];
    if (jwt_keyset_parse(text, ks, why, sizeof(why)) == GD_OK)
        return GD_OK;
    snprintf(err, err_len, "%s: %s", name, why);
    return GD_ECONFIG;
}

int cfg_jwt_keys(const struct gd_config *c, struct jwt_keyset *ks, char *err, size_t err_len)
{
    char why[300];
    int rc = GD_ECONFIG;
    memset(ks, 0, sizeof(*ks));
    if (err_len)
        err[0] = '\0';
    if (c->jwt_secrets_file && c->jwt_secrets_file[0]) {
        char *text = read_keys_file(c->jwt_secrets_file, why, sizeof(why));
        if (!text) {
            snprintf(err, err_len, "JWT_SECRETS_FILE: %s", why);
            return GD_ECONFIG;
        }
        rc = parse_keys("JWT_SECRETS_FILE", text, ks, err, err_len);
        OPENSSL_cleanse(text, strlen(text));
        free(text);
        return rc;
    }
    if (c->jwt_secrets && c->jwt_secrets[0])
        return parse_keys("JWT_SECRETS", c->jwt_secrets, ks, err, err_len);
    char *file = NULL;
    const char *secret = c->jwt_secret;
    if (c->jwt_secret_file && c->jwt_secret_file[0]) {
        secret = file = read_secret_file(c->jwt_secret_file);
        if (!file) {
            snprintf(err, err_len, "JWT_SECRET_FILE: cannot read \"%.250s\"", c->jwt_secret_file);
            return GD_ECONFIG;
        }
    }
    if (secret && jwt_keyset_single(ks, secret, strlen(secret)) == GD_OK)
        rc = GD_OK;
    else if (secret && strlen(secret) > JWT_MAX_KEY)
        snprintf(err, err_len, "JWT_SECRET: longer than 512 bytes");
    else
        snprintf(err, err_len,
                 "JWT_SECRET: missing or shorter than 32 bytes (refusing to verify tokens with a "
                 "weak key)");
    if (file) {
        OPENSSL_cleanse(file, strlen(file));
        free(file);
    }
    return rc;
}

int cfg_jwt_verifier(const struct gd_config *c, struct jwt_verifier *v, char *err, size_t err_len)
{
    struct jwt_keyset ks;
    int rc = cfg_jwt_keys(c, &ks, err, err_len);
    memset(v, 0, sizeof(*v));
    if (rc == GD_OK && jwt_verifier_init_keys(v, &ks, c->jwt_issuer, c->jwt_audience,
                                              (int)c->jwt_leeway_s) != GD_OK) {
        snprintf(err, err_len, "JWT_ISSUER/JWT_AUDIENCE: longer than 127 bytes");
        rc = GD_ECONFIG;
    }
    jwt_keyset_clear(&ks);
    return rc;
}

/* Checks that span rows: the JWT secret source and strength. */
static int check_jwt(struct gd_config *c, char *err, size_t err_len, size_t *used)
{
    if (c->jwt_secret_file && c->jwt_secret_file[0]) {
        char *s = read_secret_file(c->jwt_secret_file);
        if (!s) {
            char b[300];
            snprintf(b, sizeof(b), "cannot read \"%.250s\"", c->jwt_secret_file);
            errf(err, err_len, used, "JWT_SECRET_FILE", b);
            return -1;
        }
        free(c->jwt_secret);
        c->jwt_secret = s;
    }
    struct jwt_keyset ks;
    char why[512];
    int rc = cfg_jwt_keys(c, &ks, why, sizeof(why));
    jwt_keyset_clear(&ks);
    if (rc != GD_OK) {
        /* why is "NAME: reason" */
        char *colon = strstr(why, ": ");
        if (colon) {
            *colon = '\0';
            errf(err, err_len, used, why, colon + 2);
        }
        return -1;
    }
    return 0;
}

int cfg_load(struct gd_config *c, unsigned service, const char *(*getenv_fn)(const char *),
             char *err, size_t err_len)
{
    size_t used = 0;
    int bad = 0;

    memset(c, 0, sizeof(*c));
    if (err_len)
        err[0] = '\0';
    for (size_t i = 0; i < NROWS; i++) {
        const struct cfg_row *r = &cfg_rows[i];
        const char *val = NULL;
        if (r->services & service)
            val = getenv_fn(r->name);
        /* Rows of other programs still get their defaults: no NULL strings. */
        if (load_row(c, r, r->def, err, err_len, &used) != 0)
            bad = 1;
        if (val && load_row(c, r, val, err, err_len, &used) != 0)
            bad = 1;
    }
    if ((service & (CFG_ENTRY_API | CFG_EVENTCTL)) && check_jwt(c, err, err_len, &used) != 0)
        bad = 1;
    if (!c->instance[0]) {
        char host[256] = "localhost";
        gethostname(host, sizeof(host) - 1);
        free(c->instance);
        c->instance = strdup(host);
        if (!c->instance)
            bad = 1;
    }
    return bad ? GD_ECONFIG : GD_OK;
}

/* Secrets are shown as "****"; URLs keep everything but the password. */
static void shown_value(const struct gd_config *c, const struct cfg_row *r, char *out, size_t cap)
{
    const char *s;
    switch (r->type) {
    case CFG_INT:
        snprintf(out, cap, "%ld", *(const long *)(const void *)((const char *)c + r->offset));
        return;
    case CFG_LEVEL:
        snprintf(out, cap, "%s",
                 log_level_name(*(const int *)(const void *)((const char *)c + r->offset)));
        return;
    default:
        s = *(char *const *)(const void *)((const char *)c + r->offset);
        break;
    }
    if (!r->secret || !s[0]) {
        snprintf(out, cap, "%s", s);
        return;
    }
    const char *at = strchr(s, '@'), *colon = strstr(s, "://");
    if (r->type == CFG_URL && colon) {
        /* A URL's only secret is its password: show the rest, so an
         * operator can see which server is configured. */
        const char *pw = at ? strchr(colon + 3, ':') : NULL, *query = strchr(s, '?');
        if (pw && pw < at)
            snprintf(out, cap, "%.*s:****%s", (int)(pw - s), s, at);
        else
            snprintf(out, cap, "%s", s);
        if (query) /* a query string may carry a password= too: hide it all */
            snprintf(strchr(out, '?') ? strchr(out, '?') : out + strlen(out),
                     cap -
                         (size_t)((strchr(out, '?') ? strchr(out, '?') : out + strlen(out)) - out),
                     "?****");
        return;
    }
    snprintf(out, cap, "****");
}

void cfg_log(const struct gd_config *c, unsigned service)
{
    char v[512];
    for (size_t i = 0; i < NROWS; i++) {
        if (!(cfg_rows[i].services & service))
            continue;
        shown_value(c, &cfg_rows[i], v, sizeof(v));
        log_info(NULL, "config %s=%s", cfg_rows[i].name, v);
    }
}

void cfg_print(const struct gd_config *c, unsigned service)
{
    char v[512];
    for (size_t i = 0; i < NROWS; i++) {
        if (!(cfg_rows[i].services & service))
            continue;
        shown_value(c, &cfg_rows[i], v, sizeof(v));
        printf("%s=%s\n", cfg_rows[i].name, v);
    }
}

void cfg_free(struct gd_config *c)
{
    for (size_t i = 0; i < NROWS; i++) {
        const struct cfg_row *r = &cfg_rows[i];
        if (r->type != CFG_INT && r->type != CFG_LEVEL) {
            free(*str_field(c, r));
            *str_field(c, r) = NULL;
        }
    }
    free(c->instance);
    c->instance = NULL;
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

static void print_help(const char *name, unsigned service)
{
    printf("usage: %s [--check-config] [--help]\n\nSettings (environment variables):\n", name);
    for (size_t i = 0; i < NROWS; i++)
        if (cfg_rows[i].services & service)
            printf("  %-22s %s (default: %s)\n", cfg_rows[i].name, cfg_rows[i].help,
                   cfg_rows[i].secret ? "****" : cfg_rows[i].def);
}

int cfg_startup(struct gd_config *c, unsigned service, const char *name, int argc, char **argv)
{
    char err[4096];
    int check = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0) {
            check = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(name, service);
            return 0;
        } else {
            fprintf(stderr, "%s: unknown argument \"%s\" (try --help)\n", name, argv[i]);
            return 2;
        }
    }
    int rc = cfg_load(c, service, env_get, err, sizeof(err));
    log_init(name, c->log_level);
    if (rc != 0) {
        fprintf(stderr, "%s: configuration is invalid:\n%s", name, err);
        return 1;
    }
    if (check) {
        cfg_print(c, service);
        printf("configuration OK\n");
        return 0;
    }
    cfg_log(c, service);
    return CFG_RUN;
}
