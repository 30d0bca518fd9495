/*
 * config_test.c - tests for common/config.c: cfg_load() against a fake
 * environment (a table of name/value pairs behind a getenv-shaped function),
 * defaults, overrides, every bad setting reported at once, the per-service
 * rows, the JWT secret rules (length, JWT_SECRET_FILE, the key lists
 * JWT_SECRETS and JWT_SECRETS_FILE read again on demand), and cfg_print() /
 * cfg_log() masking secrets.  cfg_free() is checked for leaks by ASan.
 */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "jwt.h"
#include "log.h"
#include "test.h"

struct env_var {
    const char *name;
    const char *value;
};

/* The fake environment: a NULL-terminated table, swapped per test. */
static const struct env_var *fake_env;

static const char *fake_getenv(const char *name)
{
    for (const struct env_var *v = fake_env; v && v->name; v++)
        if (strcmp(v->name, name) == 0)
            return v->value;
    return NULL;
}

static int load(struct gd_config *c, unsigned service, const struct env_var *env, char *err,
                size_t err_len)
{
    fake_env = env;
    return cfg_load(c, service, fake_getenv, err, err_len);
}

/* 32 bytes: the shortest accepted JWT secret; 31 is one too short. */
#define SECRET_32  "0123456789abcdef0123456789abcdef"
#define SECRET_31  "0123456789abcdef0123456789abcde"
#define DEV_SECRET "giftdrop-development-secret-do-not-use-in-prod"

/* Redirect fd (1 or 2) into a temporary file until capture_end(). */
static FILE *cap_file;
static int cap_saved = -1;

static void capture_start(int fd)
{
    fflush(stdout);
    cap_file = tmpfile();
    cap_saved = dup(fd);
    if (!cap_file || cap_saved < 0 || dup2(fileno(cap_file), fd) < 0) {
        fprintf(stderr, "capture_start failed\n");
        exit(1);
    }
}

/* Restore fd and return what was written to it (NUL-terminated, truncated at cap-1). */
static size_t capture_end(int fd, char *buf, size_t cap)
{
    fflush(stdout);
    dup2(cap_saved, fd);
    close(cap_saved);
    rewind(cap_file);
    size_t n = fread(buf, 1, cap - 1, cap_file);
    buf[n] = '\0';
    fclose(cap_file);
    cap_file = NULL;
    return n;
}

/* Write text to a new temporary file; path receives its name. */
static void write_temp(char *path, size_t cap, const char *text)
{
    snprintf(path, cap, "/tmp/gd_config_test_XXXXXX");
    int fd = mkstemp(path);
    size_t n = strlen(text);
    if (fd < 0 || write(fd, text, n) != (ssize_t)n) {
        fprintf(stderr, "write_temp failed\n");
        exit(1);
    }
    close(fd);
}

TEST(defaults_when_nothing_set)
{
    static const struct env_var none[] = {{NULL, NULL}};
    struct gd_config c;
    char err[1024];
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);

    CHECK_INT(load(&c, CFG_ALL, none, err, sizeof err), GD_OK);
    CHECK_STR(err, "");
    /* No trailing '/': "amqp://host:5672/" would mean the empty vhost. */
    CHECK_STR(c.amqp_url, "amqp://guest:guest@127.0.0.1:5672");
    CHECK(c.amqp_url[strlen(c.amqp_url) - 1] != '/');
    CHECK_STR(c.redis_url, "redis://127.0.0.1:6379");
    CHECK_STR(c.database_url, "postgresql://giftdrop:giftdrop@127.0.0.1:5432/giftdrop");
    CHECK_STR(c.database_replica_url, "");
    CHECK_STR(c.jwt_secret, DEV_SECRET);
    CHECK_STR(c.jwt_secret_file, "");
    CHECK_STR(c.jwt_issuer, "");
    CHECK_STR(c.jwt_audience, "");
    CHECK_INT(c.jwt_leeway_s, 30);
    CHECK_STR(c.listen_addr, "127.0.0.1:8080");
    CHECK_INT(c.amqp_heartbeat_s, 30);
    CHECK_INT(c.confirm_timeout_ms, 1500);
    CHECK_INT(c.rate_limit, 20);
    CHECK_INT(c.rate_window_ms, 10000);
    CHECK_INT(c.amqp_heartbeat_s, 30);
    CHECK_INT(c.amqp_prefetch, 300);
    CHECK_INT(c.batch_size, 250);
    CHECK_INT(c.batch_wait_ms, 5);
    CHECK_STR(c.provider_url, "http://127.0.0.1:9090");
    CHECK_STR(c.provider_secret, "dev-provider-secret");
    CHECK_STR(c.provider_appkey, "giftdrop-dev");
    CHECK_INT(c.provider_timeout_ms, 5000);
    CHECK_STR(c.instance, host); /* empty INSTANCE: the host name */
    CHECK_INT(c.log_level, LOG_LVL_INFO);
    CHECK_INT(c.retention_s, 604800);
    cfg_free(&c);
}

TEST(overrides)
{
    static const struct env_var env[] = {
        {"AMQP_URL", "amqps://app:pw@mq.example:5671/giftdrop"},
        {"REDIS_URL", "redis://:pw@r1:6380/2"},
        {"DATABASE_URL", "postgres://u:p@db/gd"},
        {"DATABASE_REPLICA_URL", "postgresql://ro@replica/gd"},
        {"JWT_SECRET", SECRET_32},
        {"JWT_ISSUER", "giftdrop-login"},
        {"JWT_AUDIENCE", "giftdrop"},
        {"JWT_LEEWAY_S", "0"},
        {"LISTEN_ADDR", "0.0.0.0:9000"},
        {"AMQP_HEARTBEAT_S", "0"},       /* lower bound */
        {"CONFIRM_TIMEOUT_MS", "60000"}, /* upper bound */
        {"RATE_LIMIT", "100000"},        /* upper bound */
        {"RATE_WINDOW_MS", "100"},       /* lower bound */
        {"AMQP_HEARTBEAT_S", "0"},
        {"AMQP_PREFETCH", "65535"},
        {"BATCH_SIZE", "1"},
        {"BATCH_WAIT_MS", "1000"},
        {"PROVIDER_URL", "https://provider.example"},
        {"PROVIDER_SECRET", "s"},
        {"PROVIDER_APPKEY", "app"},
        {"PROVIDER_TIMEOUT_MS", "100"},
        {"INSTANCE", "worker-7"},
        {"LOG_LEVEL", "debug"},
        {"EVENT_RETENTION_S", "31536000"},
        {NULL, NULL},
    };
    struct gd_config c;
    char err[1024];

    CHECK_INT(load(&c, CFG_ALL, env, err, sizeof err), GD_OK);
    CHECK_STR(err, "");
    CHECK_STR(c.amqp_url, "amqps://app:pw@mq.example:5671/giftdrop");
    CHECK_STR(c.redis_url, "redis://:pw@r1:6380/2");
    CHECK_STR(c.database_url, "postgres://u:p@db/gd");
    CHECK_STR(c.database_replica_url, "postgresql://ro@replica/gd");
    CHECK_STR(c.jwt_secret, SECRET_32);
    CHECK_STR(c.jwt_issuer, "giftdrop-login");
    CHECK_STR(c.jwt_audience, "giftdrop");
    CHECK_INT(c.jwt_leeway_s, 0);
    CHECK_STR(c.listen_addr, "0.0.0.0:9000");
    CHECK_INT(c.amqp_heartbeat_s, 0);
    CHECK_INT(c.confirm_timeout_ms, 60000);
    CHECK_INT(c.rate_limit, 100000);
    CHECK_INT(c.rate_window_ms, 100);
    CHECK_INT(c.amqp_heartbeat_s, 0);
    CHECK_INT(c.amqp_prefetch, 65535);
    CHECK_INT(c.batch_size, 1);
    CHECK_INT(c.batch_wait_ms, 1000);
    CHECK_STR(c.provider_url, "https://provider.example");
    CHECK_STR(c.provider_secret, "s");
    CHECK_STR(c.provider_appkey, "app");
    CHECK_INT(c.provider_timeout_ms, 100);
    CHECK_STR(c.instance, "worker-7");
    CHECK_INT(c.log_level, LOG_LVL_DEBUG);
    CHECK_INT(c.retention_s, 31536000);
    cfg_free(&c);

    /* Each level name maps to its level. */
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    static const int want[] = {LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR};
    for (int i = 0; i < 4; i++) {
        struct env_var one[] = {{"LOG_LEVEL", levels[i]}, {NULL, NULL}};
        CHECK_INT(load(&c, CFG_STOCK, one, err, sizeof err), GD_OK);
        CHECK_INT(c.log_level, want[i]);
        cfg_free(&c);
    }
}

/* Every bad setting is reported, one "NAME: why" line each, in table order. */
TEST(all_errors_at_once)
{
    static const struct env_var env[] = {
        {"AMQP_URL", "http://mq:5672"},            /* wrong scheme */
        {"JWT_LEEWAY_S", ""},                      /* empty is not an integer */
        {"AMQP_HEARTBEAT_S", "601"},               /* above max */
        {"RATE_LIMIT", "0"},                       /* below min */
        {"AMQP_PREFETCH", "99999999999999999999"}, /* overflows long */
        {"BATCH_SIZE", "12x"},                     /* trailing junk */
        {"BATCH_WAIT_MS", "5 "},                   /* trailing space */
        {"PROVIDER_URL", "ftp://provider"},        /* wrong scheme */
        {"LOG_LEVEL", "verbose"},
        {"EVENT_RETENTION_S", "-1"},
        {"LISTEN_ADDR", "0.0.0.0:1234"}, /* a good value among the bad */
        {NULL, NULL},
    };
    struct gd_config c;
    char err[2048];

    CHECK_INT(load(&c, CFG_ALL, env, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "AMQP_URL: must start with amqp://|amqps://\n"
                   "JWT_LEEWAY_S: \"\" is not an integer\n"
                   "RATE_LIMIT: 0 is outside 1..100000\n"
                   "AMQP_HEARTBEAT_S: 601 is outside 0..600\n"
                   "AMQP_PREFETCH: \"99999999999999999999\" is not an integer\n"
                   "BATCH_SIZE: \"12x\" is not an integer\n"
                   "BATCH_WAIT_MS: \"5 \" is not an integer\n"
                   "PROVIDER_URL: must start with http://|https://\n"
                   "LOG_LEVEL: \"verbose\" is not debug, info, warn or error\n"
                   "EVENT_RETENTION_S: -1 is outside 60..31536000\n");
    /* Refused settings keep their defaults; the header says: free it anyway. */
    CHECK_STR(c.amqp_url, "amqp://guest:guest@127.0.0.1:5672");
    CHECK_INT(c.amqp_heartbeat_s, 30);
    CHECK_INT(c.rate_limit, 20);
    CHECK_INT(c.batch_size, 250);
    CHECK_INT(c.log_level, LOG_LVL_INFO);
    CHECK_STR(c.listen_addr, "0.0.0.0:1234");
    cfg_free(&c);

    /* One below / above each bound of one row, and the scheme with nothing after it. */
    static const struct env_var edge[] = {
        {"BATCH_SIZE", "10001"},           {"AMQP_HEARTBEAT_S", "-1"}, {"REDIS_URL", "redis://"},
        {"DATABASE_URL", "mysql://u@h/d"}, {"LOG_LEVEL", "INFO"},      {NULL, NULL},
    };
    CHECK_INT(load(&c, CFG_ALL, edge, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "REDIS_URL: must start with redis://\n"
                   "DATABASE_URL: must start with postgresql://|postgres://\n"
                   "AMQP_HEARTBEAT_S: -1 is outside 0..600\n"
                   "BATCH_SIZE: 10001 is outside 1..10000\n"
                   "LOG_LEVEL: \"INFO\" is not debug, info, warn or error\n");
    cfg_free(&c);

    /* A small error buffer is filled and terminated, never overrun. */
    char small[24];
    memset(small, 'Z', sizeof small);
    CHECK_INT(load(&c, CFG_ALL, edge, small, 20), GD_ECONFIG);
    CHECK_STR(small, "REDIS_URL: must sta");
    CHECK(small[20] == 'Z');
    cfg_free(&c);
}

TEST(jwt_secret_length_is_per_service)
{
    static const struct env_var short_secret[] = {{"JWT_SECRET", SECRET_31}, {NULL, NULL}};
    static const struct env_var empty_secret[] = {{"JWT_SECRET", ""}, {NULL, NULL}};
    static const struct env_var ok_secret[] = {{"JWT_SECRET", SECRET_32}, {NULL, NULL}};
    static const char *const weak = "JWT_SECRET: missing or shorter than 32 bytes (refusing to "
                                    "verify tokens with a weak key)\n";
    struct gd_config c;
    char err[1024];

    CHECK_INT(load(&c, CFG_ENTRY_API, short_secret, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, weak);
    cfg_free(&c);
    CHECK_INT(load(&c, CFG_EVENTCTL, short_secret, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, weak);
    cfg_free(&c);
    CHECK_INT(load(&c, CFG_ENTRY_API, empty_secret, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, weak);
    cfg_free(&c);
    CHECK_INT(load(&c, CFG_ENTRY_API, ok_secret, err, sizeof err), GD_OK);
    CHECK_STR(c.jwt_secret, SECRET_32);
    cfg_free(&c);

    char long_secret[600];
    memset(long_secret, 'x', sizeof long_secret - 1);
    long_secret[sizeof long_secret - 1] = '\0';
    const struct env_var too_long[] = {{"JWT_SECRET", long_secret}, {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, too_long, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "JWT_SECRET: longer than 512 bytes\n");
    cfg_free(&c);

    /* The consumers do not verify tokens: they neither read nor check the row. */
    CHECK_INT(load(&c, CFG_STOCK, short_secret, err, sizeof err), GD_OK);
    CHECK_STR(err, "");
    CHECK_STR(c.jwt_secret, DEV_SECRET);
    cfg_free(&c);
    CHECK_INT(load(&c, CFG_NOTIFIER, empty_secret, err, sizeof err), GD_OK);
    CHECK_STR(c.jwt_secret, DEV_SECRET);
    cfg_free(&c);
}

TEST(jwt_secret_file)
{
    char path[64], err[1024];
    struct gd_config c;

    /* The file wins over JWT_SECRET; its trailing newline is not part of the secret. */
    write_temp(path, sizeof path, SECRET_32 "-from-file\n");
    struct env_var env[] = {{"JWT_SECRET", SECRET_32}, {"JWT_SECRET_FILE", path}, {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, env, err, sizeof err), GD_OK);
    CHECK_STR(err, "");
    CHECK_STR(c.jwt_secret, SECRET_32 "-from-file");
    CHECK_STR(c.jwt_secret_file, path);
    cfg_free(&c);
    unlink(path);

    /* CRLF and several newlines are stripped too. */
    write_temp(path, sizeof path, SECRET_32 "\r\n\n");
    CHECK_INT(load(&c, CFG_EVENTCTL, env, err, sizeof err), GD_OK);
    CHECK_STR(c.jwt_secret, SECRET_32);
    cfg_free(&c);
    unlink(path);

    /* A short secret in the file is refused like a short JWT_SECRET. */
    write_temp(path, sizeof path, SECRET_31 "\n");
    CHECK_INT(load(&c, CFG_ENTRY_API, env, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "JWT_SECRET: missing or shorter than 32 bytes (refusing to verify tokens "
                   "with a weak key)\n");
    cfg_free(&c);
    unlink(path);

    /* A missing file is named in the error. */
    struct env_var missing[] = {
        {"JWT_SECRET", SECRET_32}, {"JWT_SECRET_FILE", "/nonexistent/gd-jwt-secret"}, {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, missing, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "JWT_SECRET_FILE: cannot read \"/nonexistent/gd-jwt-secret\"\n");
    cfg_free(&c);
    /* ... but only for the programs that read it. */
    CHECK_INT(load(&c, CFG_STOCK, missing, err, sizeof err), GD_OK);
    CHECK_STR(c.jwt_secret_file, "");
    cfg_free(&c);
}

#define SECRET_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* JWT_SECRETS: several keys; the first is the primary; it wins over JWT_SECRET(_FILE). */
TEST(jwt_secrets_list)
{
    struct gd_config c;
    struct jwt_keyset ks;
    char err[1024];
    static const struct env_var env[] = {
        {"JWT_SECRET", SECRET_32}, {"JWT_SECRETS", "k2:" SECRET_B ", k1:" SECRET_32}, {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, env, err, sizeof err), GD_OK);
    CHECK_STR(err, "");
    CHECK_INT(cfg_jwt_keys(&c, &ks, err, sizeof err), GD_OK);
    CHECK_INT(ks.n, 2);
    CHECK_STR(ks.keys[0].kid, "k2");
    CHECK(ks.keys[0].len == strlen(SECRET_B) && memcmp(ks.keys[0].secret, SECRET_B, 36) == 0);
    CHECK_STR(ks.keys[1].kid, "k1");
    jwt_keyset_clear(&ks);
    struct jwt_verifier v;
    CHECK_INT(cfg_jwt_verifier(&c, &v, err, sizeof err), GD_OK);
    CHECK_INT(v.ks.n, 2);
    CHECK_INT(v.leeway_s, 30);
    jwt_keyset_clear(&v.ks);
    cfg_free(&c);

    /* Every mistake is reported at start-up, naming the setting and never the secret. */
    static const struct env_var dup[] = {
        {"JWT_SECRETS", "k1:" SECRET_32 ",k1:" SECRET_B}, {"BATCH_SIZE", "x"}, {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, dup, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "JWT_SECRETS: entry 2: the kid is used twice\n");
    cfg_free(&c);
    static const struct env_var weak[] = {{"JWT_SECRETS", "k1:" SECRET_31}, {NULL, NULL}};
    CHECK_INT(load(&c, CFG_EVENTCTL, weak, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "JWT_SECRETS: entry 1: the secret must be 32..512 bytes (refusing to verify "
                   "tokens with a weak key)\n");
    cfg_free(&c);
    /* The consumers do not read it. */
    CHECK_INT(load(&c, CFG_STOCK, weak, err, sizeof err), GD_OK);
    CHECK_STR(c.jwt_secrets, "");
    cfg_free(&c);
    /* Without a list: the one unnamed key of JWT_SECRET. */
    static const struct env_var single[] = {{"JWT_SECRET", SECRET_32}, {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, single, err, sizeof err), GD_OK);
    CHECK_INT(cfg_jwt_keys(&c, &ks, err, sizeof err), GD_OK);
    CHECK_INT(ks.n, 1);
    CHECK_STR(ks.keys[0].kid, "");
    CHECK(ks.keys[0].len == 32 && memcmp(ks.keys[0].secret, SECRET_32, 32) == 0);
    jwt_keyset_clear(&ks);
    cfg_free(&c);
}

/* JWT_SECRETS_FILE is read at every cfg_jwt_keys call: what SIGHUP relies on. */
TEST(jwt_secrets_file_read_again)
{
    char path[64], err[1024];
    struct gd_config c;
    struct jwt_keyset ks;
    write_temp(path, sizeof path, "# giftdrop keys\nk1:" SECRET_32 "\n");
    struct env_var env[] = {{"JWT_SECRETS", "x:" SECRET_B}, /* the file wins */
                            {"JWT_SECRETS_FILE", path},
                            {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, env, err, sizeof err), GD_OK);
    CHECK_STR(err, "");
    CHECK_INT(cfg_jwt_keys(&c, &ks, err, sizeof err), GD_OK);
    CHECK_INT(ks.n, 1);
    CHECK_STR(ks.keys[0].kid, "k1");

    /* The operator edits the file: the next read sees it. */
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("k2:" SECRET_B "\r\nk1:" SECRET_32 "\r\n", f);
        fclose(f);
    }
    CHECK_INT(cfg_jwt_keys(&c, &ks, err, sizeof err), GD_OK);
    CHECK_INT(ks.n, 2);
    CHECK_STR(ks.keys[0].kid, "k2");
    CHECK_STR(ks.keys[1].kid, "k1");
    /* A broken edit is refused with the reason; the caller keeps its keys. */
    f = fopen(path, "w");
    if (f) {
        fputs("k2:" SECRET_B "\nk1 " SECRET_32 "\n", f);
        fclose(f);
    }
    CHECK_INT(cfg_jwt_keys(&c, &ks, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "JWT_SECRETS_FILE: entry 2: not kid:secret");
    CHECK_INT(ks.n, 0);
    /* A file holding a NUL byte is refused, not cut short. */
    f = fopen(path, "w");
    if (f) {
        fwrite("k2:" SECRET_B "\0\n", 1, sizeof("k2:" SECRET_B) + 1, f);
        fclose(f);
    }
    CHECK_INT(cfg_jwt_keys(&c, &ks, err, sizeof err), GD_ECONFIG);
    CHECK(strncmp(err, "JWT_SECRETS_FILE: holds a NUL byte \"", 36) == 0);
    unlink(path);
    CHECK_INT(cfg_jwt_keys(&c, &ks, err, sizeof err), GD_ECONFIG);
    char want[128];
    snprintf(want, sizeof want, "JWT_SECRETS_FILE: cannot read \"%s\"", path);
    CHECK_STR(err, want);
    cfg_free(&c);

    /* At start-up a missing file stops the program. */
    CHECK_INT(load(&c, CFG_ENTRY_API, env, err, sizeof err), GD_ECONFIG);
    snprintf(want, sizeof want, "JWT_SECRETS_FILE: cannot read \"%s\"\n", path);
    CHECK_STR(err, want);
    cfg_free(&c);

    /* JWT_SECRET_FILE (one unnamed key) is read again as well. */
    write_temp(path, sizeof path, SECRET_32 "\n");
    struct env_var single[] = {{"JWT_SECRET_FILE", path}, {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, single, err, sizeof err), GD_OK);
    f = fopen(path, "w");
    if (f) {
        fputs(SECRET_B "\n", f);
        fclose(f);
    }
    CHECK_INT(cfg_jwt_keys(&c, &ks, err, sizeof err), GD_OK);
    CHECK_INT(ks.n, 1);
    CHECK(ks.keys[0].len == strlen(SECRET_B) && memcmp(ks.keys[0].secret, SECRET_B, 36) == 0);
    jwt_keyset_clear(&ks);
    cfg_free(&c);
    unlink(path);
}

/* Rows of other programs are not read (even when invalid) and keep their defaults. */
TEST(other_services_rows_keep_defaults)
{
    static const struct env_var env[] = {
        {"LISTEN_ADDR", "0.0.0.0:1"},                     /* entry-api only */
        {"RATE_LIMIT", "not-a-number"},                   /* entry-api only, invalid */
        {"PROVIDER_URL", "ftp://bad"},                    /* notifier only, invalid */
        {"PROVIDER_TIMEOUT_MS", "100"},                   /* notifier only */
        {"EVENT_RETENTION_S", "1"},                       /* eventctl only, invalid */
        {"DATABASE_REPLICA_URL", "postgresql://ro@r/gd"}, /* stock only */
        {"BATCH_SIZE", "7"},                              /* stock only */
        {"AMQP_PREFETCH", "10"},                          /* stock and notifier */
        {NULL, NULL},
    };
    struct gd_config c;
    char err[1024];

    CHECK_INT(load(&c, CFG_STOCK, env, err, sizeof err), GD_OK);
    CHECK_STR(err, "");
    CHECK_INT(c.batch_size, 7);
    CHECK_INT(c.amqp_prefetch, 10);
    CHECK_STR(c.database_replica_url, "postgresql://ro@r/gd");
    CHECK_STR(c.listen_addr, "127.0.0.1:8080");
    CHECK_INT(c.rate_limit, 20);
    CHECK_STR(c.provider_url, "http://127.0.0.1:9090");
    CHECK_INT(c.provider_timeout_ms, 5000);
    CHECK_INT(c.retention_s, 604800);
    cfg_free(&c);

    CHECK_INT(load(&c, CFG_NOTIFIER, env, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "PROVIDER_URL: must start with http://|https://\n");
    CHECK_INT(c.batch_size, 250);
    CHECK_INT(c.amqp_prefetch, 10);
    CHECK_STR(c.database_replica_url, "");
    CHECK_INT(c.provider_timeout_ms, 100);
    cfg_free(&c);

    CHECK_INT(load(&c, CFG_ENTRY_API, env, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "RATE_LIMIT: \"not-a-number\" is not an integer\n");
    CHECK_STR(c.listen_addr, "0.0.0.0:1");
    CHECK_INT(c.amqp_prefetch, 300);
    CHECK_INT(c.batch_size, 250);
    cfg_free(&c);

    CHECK_INT(load(&c, CFG_EVENTCTL, env, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err, "EVENT_RETENTION_S: 1 is outside 60..31536000\n");
    cfg_free(&c);
}

/* cfg_free releases every string (ASan reports leaks) and leaves NULLs behind. */
TEST(free_releases_everything)
{
    static const struct env_var env[] = {
        {"AMQP_URL", "amqp://a:b@h:1"}, {"INSTANCE", "i-1"}, {"JWT_SECRET", SECRET_32},
        {"PROVIDER_SECRET", "p"},       {NULL, NULL},
    };
    struct gd_config c;
    char err[1024];
    CHECK_INT(load(&c, CFG_ALL, env, err, sizeof err), GD_OK);
    cfg_free(&c);
    CHECK(c.amqp_url == NULL);
    CHECK(c.redis_url == NULL);
    CHECK(c.jwt_secret == NULL);
    CHECK(c.instance == NULL);
    CHECK(c.provider_secret == NULL);
    /* Loading again over a freed config, failing, and freeing again is fine too. */
    static const struct env_var bad[] = {{"BATCH_SIZE", "x"}, {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ALL, bad, err, sizeof err), GD_ECONFIG);
    cfg_free(&c);
    CHECK(c.listen_addr == NULL);
}

static const struct env_var secret_env[] = {
    {"AMQP_URL", "amqp://gd:hunter2amqp@mq.internal:5672/vh"},
    {"REDIS_URL", "redis://:redispw99@r.internal:6379/2"},
    {"DATABASE_URL", "postgresql://app:dbpw777@db.internal:5432/gd"},
    {"DATABASE_REPLICA_URL", "postgresql://ro:replicapw5@replica/gd"},
    {"JWT_SECRET", "jwt-s3cr3t-0123456789-abcdefghijklmnop"},
    {"JWT_SECRETS", "k9:jwt-list-s3cr3t-0123456789-abcdefghijkl"},
    {"PROVIDER_SECRET", "prov-secret-xyz"},
    {"INSTANCE", "unit-1"},
    {NULL, NULL},
};

static const char *const secret_values[] = {"hunter2amqp",    "redispw99",  "dbpw777",
                                            "replicapw5",     "jwt-s3cr3t", "prov-secret-xyz",
                                            "jwt-list-s3cr3t"};

TEST(print_masks_secrets)
{
    struct gd_config c;
    char err[1024], out[8192];

    CHECK_INT(load(&c, CFG_ALL, secret_env, err, sizeof err), GD_OK);
    capture_start(STDOUT_FILENO);
    cfg_print(&c, CFG_ALL);
    capture_end(STDOUT_FILENO, out, sizeof out);

    /* Anchored at line starts: "\nNAME=value\n". */
    CHECK(strncmp(out, "AMQP_URL=amqp://gd:****@mq.internal:5672/vh\n", 44) == 0);
    CHECK(strstr(out, "\nREDIS_URL=redis://:****@r.internal:6379/2\n") != NULL);
    CHECK(strstr(out, "\nDATABASE_URL=postgresql://app:****@db.internal:5432/gd\n") != NULL);
    CHECK(strstr(out, "\nDATABASE_REPLICA_URL=****\n") != NULL);
    CHECK(strstr(out, "\nJWT_SECRET=****\n") != NULL);
    CHECK(strstr(out, "\nJWT_SECRETS=****\n") != NULL);
    CHECK(strstr(out, "\nPROVIDER_SECRET=****\n") != NULL);
    /* Non-secrets as they are. */
    CHECK(strstr(out, "\nJWT_SECRET_FILE=\n") != NULL);
    CHECK(strstr(out, "\nJWT_SECRETS_FILE=\n") != NULL);
    CHECK(strstr(out, "\nLISTEN_ADDR=127.0.0.1:8080\n") != NULL);
    CHECK(strstr(out, "\nBATCH_SIZE=250\n") != NULL);
    CHECK(strstr(out, "\nPROVIDER_URL=http://127.0.0.1:9090\n") != NULL);
    CHECK(strstr(out, "\nINSTANCE=unit-1\n") != NULL);
    CHECK(strstr(out, "\nLOG_LEVEL=info\n") != NULL);
    for (size_t i = 0; i < sizeof secret_values / sizeof secret_values[0]; i++)
        CHECK(strstr(out, secret_values[i]) == NULL);

    /* Only the rows of the given service. */
    capture_start(STDOUT_FILENO);
    cfg_print(&c, CFG_STOCK);
    capture_end(STDOUT_FILENO, out, sizeof out);
    CHECK(strstr(out, "BATCH_SIZE=250\n") != NULL);
    CHECK(strstr(out, "LISTEN_ADDR=") == NULL);
    CHECK(strstr(out, "JWT_SECRET") == NULL);
    CHECK(strstr(out, "PROVIDER_URL=") == NULL);
    cfg_free(&c);

    /*
     * A secret URL with no userinfo has no password to cut out: it is shown
     * whole, but a query string (which could carry password=) is masked.  An
     * empty secret shows as empty.
     */
    static const struct env_var plain[] = {
        {"REDIS_URL", "redis://r.internal:6379"},
        {"AMQP_URL", "amqp://gd@mq.internal:5672"},
        {"PROVIDER_SECRET", ""},
        {NULL, NULL},
    };
    CHECK_INT(load(&c, CFG_ALL, plain, err, sizeof err), GD_OK);
    capture_start(STDOUT_FILENO);
    cfg_print(&c, CFG_ALL);
    capture_end(STDOUT_FILENO, out, sizeof out);
    /* A URL without a password is shown whole: the operator sees the server. */
    CHECK(strstr(out, "\nREDIS_URL=redis://r.internal:6379\n") != NULL);
    CHECK(strstr(out, "\nPROVIDER_SECRET=\n") != NULL);
    /* A user but no password: nothing to hide. */
    CHECK(strncmp(out, "AMQP_URL=amqp://gd@mq.internal:5672\n", 36) == 0);
    CHECK(strstr(out, "\nJWT_SECRET=****\n") != NULL);
    CHECK(strstr(out, DEV_SECRET) == NULL);
    cfg_free(&c);
}

/* A secret read from JWT_SECRET_FILE is masked like one from JWT_SECRET. */
TEST(print_masks_secret_from_file)
{
    char path[64], err[1024], out[8192];
    struct gd_config c;
    write_temp(path, sizeof path, "file-secret-0123456789-abcdefghijk\n");
    struct env_var env[] = {{"JWT_SECRET_FILE", path}, {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, env, err, sizeof err), GD_OK);
    capture_start(STDOUT_FILENO);
    cfg_print(&c, CFG_ENTRY_API);
    capture_end(STDOUT_FILENO, out, sizeof out);
    CHECK(strstr(out, "\nJWT_SECRET=****\n") != NULL);
    CHECK(strstr(out, "file-secret") == NULL);
    cfg_free(&c);
    unlink(path);
}

/* cfg_log writes the same masked values as JSON log lines on stderr. */
TEST(log_masks_secrets)
{
    struct gd_config c;
    char err[1024], out[16384];

    CHECK_INT(load(&c, CFG_ALL, secret_env, err, sizeof err), GD_OK);
    log_init("config_test", LOG_LVL_INFO);
    capture_start(STDERR_FILENO);
    cfg_log(&c, CFG_ALL);
    capture_end(STDERR_FILENO, out, sizeof out);
    CHECK(strstr(out, "\"msg\":\"config AMQP_URL=amqp://gd:****@mq.internal:5672/vh\"") != NULL);
    CHECK(strstr(out, "\"msg\":\"config JWT_SECRET=****\"") != NULL);
    CHECK(strstr(out, "\"msg\":\"config BATCH_SIZE=250\"") != NULL);
    for (size_t i = 0; i < sizeof secret_values / sizeof secret_values[0]; i++)
        CHECK(strstr(out, secret_values[i]) == NULL);
    cfg_free(&c);
}

/* TRUSTED_PROXIES: entry-api's list of proxies, checked at load time. */
TEST(trusted_proxies_row)
{
    struct gd_config c;
    char err[512];
    static const struct env_var none[] = {{NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, none, err, sizeof err), GD_OK);
    CHECK_STR(c.trusted_proxies, ""); /* trust no one */
    cfg_free(&c);
    static const struct env_var good[] = {{"TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1"},
                                          {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, good, err, sizeof err), GD_OK);
    CHECK_STR(c.trusted_proxies, "127.0.0.1, 10.0.0.0/8,::1");
    cfg_free(&c);
    static const struct env_var bad[] = {{"TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/33"},
                                         {NULL, NULL}};
    CHECK_INT(load(&c, CFG_ENTRY_API, bad, err, sizeof err), GD_ECONFIG);
    CHECK_STR(err,
              "TRUSTED_PROXIES: \"10.0.0.0/33\": prefix length must be a number from 0 to 32\n");
    CHECK_STR(c.trusted_proxies, ""); /* refused: the default stays */
    cfg_free(&c);
    /* Not a row of the stock-consumer: its environment is not read there. */
    CHECK_INT(load(&c, CFG_STOCK, bad, err, sizeof err), GD_OK);
    CHECK_STR(c.trusted_proxies, "");
    cfg_free(&c);
}

int main(void)
{
    RUN(defaults_when_nothing_set);
    RUN(overrides);
    RUN(all_errors_at_once);
    RUN(jwt_secret_length_is_per_service);
    RUN(jwt_secret_file);
    RUN(jwt_secrets_list);
    RUN(jwt_secrets_file_read_again);
    RUN(other_services_rows_keep_defaults);
    RUN(free_releases_everything);
    RUN(print_masks_secrets);
    RUN(print_masks_secret_from_file);
    RUN(log_masks_secrets);
    RUN(trusted_proxies_row);
    return TEST_DONE();
}
