/*
 * config.h - every setting of every giftdrop program, as one table.
 *
 * Settings come from environment variables only (twelve-factor).  Each row of
 * the table in config.c names the variable, its type, default, bounds, whether
 * it is a secret, and which programs read it.  cfg_load() checks every row
 * and reports all errors at once; cfg_log() prints the effective values with
 * secrets masked (what --check-config shows).
 */
#ifndef GD_CONFIG_H
#define GD_CONFIG_H

#include <stddef.h>

/* Which program is loading: rows not used by it are neither read nor shown. */
enum cfg_service {
    CFG_ENTRY_API = 1 << 0,
    CFG_STOCK = 1 << 1,
    CFG_NOTIFIER = 1 << 2,
    CFG_EVENTCTL = 1 << 3,
    CFG_ALL = 0xff
};

/* The effective configuration.  Strings are owned: free with cfg_free(). */
struct gd_config {
    char *amqp_url;
    char *redis_url;
    char *database_url;
    char *database_replica_url; /* "" = use database_url */
    char *jwt_secret;
    char *jwt_secret_file;
    char *jwt_secrets;      /* "kid:secret,..." (several keys: rotation) */
    char *jwt_secrets_file; /* the same list in a file, read again on SIGHUP */
    char *jwt_issuer;
    char *jwt_audience;
    long jwt_leeway_s;
    char *listen_addr;       /* entry-api public HTTP, host:port */
    long confirm_timeout_ms; /* entry-api: publish confirm deadline */
    long poll_after_s;       /* entry-api: Retry-After while an entry is pending */
    long rate_limit;         /* entry-api: requests per member per window */
    long rate_window_ms;
    long workers;            /* entry-api: worker processes, 0 = one per CPU */
    long redis_timeout_ms;   /* entry-api: deadline of every Redis command */
    long max_connections;    /* entry-api: open client connections per worker */
    long request_timeout_ms; /* entry-api: first byte to complete request, absolute */
    long idle_timeout_s;     /* entry-api: keep-alive connection idle limit */
    long drain_timeout_ms;   /* entry-api: SIGTERM budget to finish in-flight requests */
    char *trusted_proxies;   /* entry-api: addresses/CIDRs whose X-Forwarded-For counts */
    long amqp_heartbeat_s;
    long amqp_prefetch;
    long batch_size; /* stock-consumer deliveries per batch */
    long batch_wait_ms;
    char *provider_url;
    char *provider_secret;
    char *provider_appkey;
    long provider_timeout_ms;
    char *provider_alimtalk_endpoints; /* notifier: URL[=WEIGHT],... ("" = PROVIDER_URL) */
    char *provider_sms_endpoints;      /* the same for the SMS API */
    char *provider_alimtalk_policy;    /* lb policy name (common/lb.h) */
    char *provider_sms_policy;
    char *provider_ca_file;         /* PEM CA bundle for https endpoints ("" = the system's) */
    long provider_breaker_failures; /* consecutive failures that open an endpoint (0: off) */
    long notify_concurrency;        /* provider requests in flight per notifier */
    long notify_db_conns;           /* ledger connections (one thread each) */
    long notify_max_attempts;       /* attempts before a winner ends failed */
    char *notify_retry_schedule;    /* seconds before retry 1, 2, ... (last repeats) */
    char *metrics_addr;             /* consumers: /metrics listen host:port ("" = off) */
    char *instance;                 /* name shown in connection names, default hostname */
    int log_level;
    long retention_s; /* how long an event's Redis keys outlive closes_at */
};

/*
 * Load the rows used by `service` from the environment (getenv_fn, usually
 * getenv; tests pass their own).  Returns 0, or GD_ECONFIG with every
 * problem, one per line, in err.  On error c holds defaults; free it anyway.
 */
int cfg_load(struct gd_config *c, unsigned service, const char *(*getenv_fn)(const char *),
             char *err, size_t err_len);

struct jwt_keyset;
/*
 * The JWT verification keys c names, read now: JWT_SECRETS_FILE (read
 * again at every call: entry-api calls this on SIGHUP), else JWT_SECRETS,
 * else the one unnamed key of JWT_SECRET_FILE (also read again) or
 * JWT_SECRET.  Returns 0, or GD_ECONFIG with "SETTING: reason" in err (no
 * secret in it) and ks empty.  The caller wipes ks (jwt_keyset_clear).
 */
int cfg_jwt_keys(const struct gd_config *c, struct jwt_keyset *ks, char *err, size_t err_len);
struct jwt_verifier;
/* A verifier with the keys of cfg_jwt_keys and JWT_ISSUER, JWT_AUDIENCE,
 * JWT_LEEWAY_S.  0, or GD_ECONFIG with the reason in err (v verifies nothing). */
int cfg_jwt_verifier(const struct gd_config *c, struct jwt_verifier *v, char *err, size_t err_len);

/* Log the effective values of the rows used by `service`, secrets masked. */
void cfg_log(const struct gd_config *c, unsigned service);

/* Print "NAME=value" lines (secrets masked) to stdout, for --check-config. */
void cfg_print(const struct gd_config *c, unsigned service);

void cfg_free(struct gd_config *c);

/*
 * Common start-up for the services: load config for `service`, init the log,
 * handle --check-config (prints the effective values) and --help.  Returns
 * CFG_RUN to go on, or the exit code main should return (0 after
 * --check-config/--help, 1 for invalid configuration, 2 for bad arguments).
 */
#define CFG_RUN (-1)
int cfg_startup(struct gd_config *c, unsigned service, const char *name, int argc, char **argv);

#endif
