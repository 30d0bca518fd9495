/*
 * rds_test.c - tests for the parts of common/rds.c that need no server:
 * rds_parse_url() over redis://[:password@]host[:port][/db] (every field of
 * the result checked) and its refusals, and the rds_key() hash-tagged layout.
 */
#include "errors.h"
#include "rds.h"
#include "test.h"

/* Parse url; on success the fields, on failure a zeroed address with port -1. */
static struct rds_addr parsed(const char *url)
{
    struct rds_addr a;
    if (rds_parse_url(url, &a) != GD_OK) {
        memset(&a, 0, sizeof a);
        a.port = -1;
    }
    return a;
}

#define CHECK_ADDR(url, h, p, pw, d)                                                               \
    do {                                                                                           \
        struct rds_addr addr_ = parsed(url);                                                       \
        CHECK_STR(addr_.host, h);                                                                  \
        CHECK_INT(addr_.port, p);                                                                  \
        CHECK_STR(addr_.password, pw);                                                             \
        CHECK_INT(addr_.db, d);                                                                    \
    } while (0)

TEST(parse_accepts)
{
    CHECK_ADDR("redis://127.0.0.1:6379", "127.0.0.1", 6379, "", 0);
    CHECK_ADDR("redis://host", "host", 6379, "", 0); /* default port */
    CHECK_ADDR("redis://:secret@host:6380/3", "host", 6380, "secret", 3);
    CHECK_ADDR("redis://user:pw@h:1/0", "h", 1, "pw", 0); /* the user name is not kept */
    CHECK_ADDR("redis://h:65535/15", "h", 65535, "", 15);
    CHECK_ADDR("redis://h/", "h", 6379, "", 0);
    CHECK_ADDR("redis://h:6379/", "h", 6379, "", 0);
    CHECK_ADDR("redis://h/7", "h", 6379, "", 7);
    CHECK_ADDR("redis://:p:w@redis.internal", "redis.internal", 6379, "p:w", 0);
    CHECK_ADDR("redis://:@h:7000", "h", 7000, "", 0); /* empty password: no AUTH */
}

TEST(parse_refuses)
{
    static const char *const bad[] = {
        "",
        "http://127.0.0.1:6379",
        "rediss://h:6379", /* TLS is not supported */
        "redis:/h",
        "redis://",
        "redis://:6379",
        "redis:///3",
        "redis://:pw@",
        "redis://:pw@:6379",
        "redis://h:0",
        "redis://h:70000",
        "redis://h:65536",
        "redis://h:-1",
        "redis://h:abc",
        "redis://h:",
        "redis://h:6379x",
        "redis://h/16",
        "redis://h/-1",
        "redis://h/3x",
        "redis://h/3/4",
        "redis://h:6379/db",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rds_addr a;
        int rc = rds_parse_url(bad[i], &a);
        if (rc != GD_ECONFIG)
            fprintf(stderr, "  accepted \"%s\" (host \"%s\" port %d db %d)\n", bad[i], a.host,
                    a.port, a.db);
        CHECK_INT(rc, GD_ECONFIG);
    }

    /* A host or password too long for its buffer is refused, not truncated. */
    char url[600];
    struct rds_addr a;
    snprintf(url, sizeof url, "redis://%0300d:6379", 0);
    CHECK_INT(rds_parse_url(url, &a), GD_ECONFIG);
    snprintf(url, sizeof url, "redis://%0255d:6379", 0);
    CHECK_INT(rds_parse_url(url, &a), GD_OK);
    CHECK_INT(strlen(a.host), 255);
    snprintf(url, sizeof url, "redis://:%0256d@h", 0);
    CHECK_INT(rds_parse_url(url, &a), GD_ECONFIG);
    snprintf(url, sizeof url, "redis://:%0255d@h", 0);
    CHECK_INT(rds_parse_url(url, &a), GD_OK);
    CHECK_INT(strlen(a.password), 255);
}

TEST(keys)
{
    char k[64];
    rds_key(k, sizeof k, 42, "meta");
    CHECK_STR(k, "ev:{42}:meta");
    rds_key(k, sizeof k, 1, "stock");
    CHECK_STR(k, "ev:{1}:stock");
    rds_key(k, sizeof k, 9007199254740991LL, "winners");
    CHECK_STR(k, "ev:{9007199254740991}:winners");
    rds_key(k, sizeof k, 7, "");
    CHECK_STR(k, "ev:{7}:");
    /* Truncated to the buffer, and terminated. */
    char small[8];
    memset(small, 'Z', sizeof small);
    rds_key(small, 6, 42, "meta");
    CHECK_STR(small, "ev:{4");
    CHECK(small[6] == 'Z');
}

/* gate.lua's KEYS then ARGV, in the order of the script's header. */
TEST(gate_args)
{
    struct rds_gate_args g;
    rds_gate_args(&g, 42, "m-7", "0192-id", 20, 10000);
    static const char *const want[11] = {"ev:{42}:meta",
                                         "ev:{42}:eligible",
                                         "ev:{42}:entries",
                                         "ev:{42}:winners",
                                         "ev:{42}:losers",
                                         "ev:{42}:rl:m-7",
                                         "ev:{42}:notified",
                                         "m-7",
                                         "0192-id",
                                         "20",
                                         "10000"};
    for (int i = 0; i < 11; i++)
        CHECK_STR(g.argv[i], want[i]);
    /* The longest member a token may carry (64) fits its rate-limit key whole. */
    char sub[65];
    memset(sub, 'x', 64);
    sub[64] = '\0';
    rds_gate_args(&g, 9007199254740991LL, sub, "id", 1, 100);
    CHECK_INT(strlen(g.argv[5]), strlen("ev:{9007199254740991}:rl:") + 64);
}

int main(void)
{
    RUN(parse_accepts);
    RUN(parse_refuses);
    RUN(keys);
    RUN(gate_args);
    return TEST_DONE();
}
