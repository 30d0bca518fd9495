/*
 * uuid_test.c - tests for common/uuid.c: UUIDv7 layout (RFC 9562 section 5.7)
 * on many ids - version 7, variant 10, canonical lowercase form, a 48-bit
 * millisecond prefix taken from the clock - uniqueness, time order, and
 * uuid_valid's accept/refuse sets.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "test.h"
#include "timeutil.h"
#include "uuid.h"

#define N_IDS 1000

static char ids[N_IDS][UUID_STR_LEN];

static int cmp_ids(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The 48-bit unix-ms timestamp in the first 12 hex digits (8 + 4 across the dash). */
static int64_t id_ms(const char *id)
{
    int64_t ms = 0;
    for (int i = 0; i < 13; i++)
        if (i != 8)
            ms = ms * 16 + hexval(id[i]);
    return ms;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

TEST(layout_on_many_ids)
{
    int bad_len = 0, bad_dash = 0, bad_hex = 0, bad_version = 0, bad_variant = 0, bad_time = 0;
    int bad_order = 0;
    int64_t before = time_now_ms();
    for (int i = 0; i < N_IDS; i++)
        CHECK_INT(uuid_v7(ids[i]), GD_OK);
    int64_t after = time_now_ms();

    for (int i = 0; i < N_IDS; i++) {
        const char *id = ids[i];
        bad_len += strlen(id) != 36;
        for (int k = 0; k < 36; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                bad_dash += id[k] != '-';
            else
                bad_hex += hexval(id[k]) < 0; /* lowercase hex only */
        }
        bad_version += id[14] != '7';
        /* Variant 10xx: the first hex digit of the fourth group is 8, 9, a or b. */
        bad_variant += strchr("89ab", id[19]) == NULL || id[19] == '\0';
        int64_t ms = id_ms(id);
        bad_time += ms < before || ms > after;
        /* Ids made later never carry an earlier timestamp. */
        if (i > 0)
            bad_order += strncmp(ids[i - 1], id, 13) > 0;
        CHECK_INT(uuid_valid(id), 1);
    }
    CHECK_INT(bad_len, 0);
    CHECK_INT(bad_dash, 0);
    CHECK_INT(bad_hex, 0);
    CHECK_INT(bad_version, 0);
    CHECK_INT(bad_variant, 0);
    CHECK_INT(bad_time, 0);
    CHECK_INT(bad_order, 0);
}

TEST(all_distinct)
{
    /* ids[] was filled by layout_on_many_ids; sorted, neighbours differ. */
    static char sorted[N_IDS][UUID_STR_LEN];
    memcpy(sorted, ids, sizeof sorted);
    qsort(sorted, N_IDS, UUID_STR_LEN, cmp_ids);
    int dups = 0;
    for (int i = 1; i < N_IDS; i++)
        dups += strcmp(sorted[i - 1], sorted[i]) == 0;
    CHECK_INT(dups, 0);

    /* The random part really varies: every one of the 16 values shows up in the last digit. */
    int seen[16] = {0}, kinds = 0;
    for (int i = 0; i < N_IDS; i++)
        if (hexval(ids[i][35]) >= 0)
            seen[hexval(ids[i][35])] = 1;
    for (int k = 0; k < 16; k++)
        kinds += seen[k];
    CHECK_INT(kinds, 16);
    /* The variant digit takes all of 8, 9, a, b. */
    int var[4] = {0};
    for (int i = 0; i < N_IDS; i++) {
        int v = hexval(ids[i][19]) - 8;
        if (v >= 0 && v < 4)
            var[v] = 1;
    }
    CHECK(var[0] && var[1] && var[2] && var[3]);
}

TEST(time_ordered_across_sleep)
{
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    for (int round = 0; round < 20; round++) {
        CHECK_INT(uuid_v7(a), GD_OK);
        sleep_ms(2);
        CHECK_INT(uuid_v7(b), GD_OK);
        CHECK(strcmp(a, b) < 0);
        CHECK(id_ms(b) >= id_ms(a) + 2);
    }
}

TEST(valid_accepts)
{
    CHECK_INT(uuid_valid("01937f2e-8c4b-7a1d-9e2f-0123456789ab"), 1);
    CHECK_INT(uuid_valid("01937F2E-8C4B-7A1D-9E2F-0123456789AB"), 1); /* uppercase */
    CHECK_INT(uuid_valid("00000000-0000-0000-0000-000000000000"), 1); /* nil */
    CHECK_INT(uuid_valid("ffffffff-ffff-ffff-ffff-ffffffffffff"), 1);
    CHECK_INT(uuid_valid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), 1); /* v1 form */
}

TEST(valid_refuses)
{
    static const char *const bad[] = {
        "",
        "01937f2e-8c4b-7a1d-9e2f-0123456789a",   /* 35 */
        "01937f2e-8c4b-7a1d-9e2f-0123456789abc", /* 37 */
        "01937f2e8c4b7a1d9e2f0123456789ab",      /* no dashes */
        "01937f2e-8c4b-7a1d-9e2f0-123456789ab",  /* dash moved */
        "01937f2e-8c4b-7a1d-9e2f-0123456789ag",  /* not hex */
        "01937f2e_8c4b-7a1d-9e2f-0123456789ab",  /* '_' for '-' */
        "{1937f2e-8c4b-7a1d-9e2f-0123456789a}",  /* braces */
        "01937f2e-8c4b-7a1d-9e2f-0123456789a ",  /* space */
        " 1937f2e-8c4b-7a1d-9e2f-0123456789ab",
        "01937f2e-8c4b-7a1d-9e2f--123456789ab",
        "urn:uuid:01937f2e-8c4b-7a1d-9e2f-0123",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (uuid_valid(bad[i]) != 0)
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
        CHECK_INT(uuid_valid(bad[i]), 0);
    }
    /* An embedded NUL ends the string: 35 characters. */
    CHECK_INT(uuid_valid("01937f2e-8c4b-7a1d-9e2f-0123456789a\0b"), 0);
}

/* The pooled random bytes: consecutive draws differ, and a forked child
 * does not repeat the bytes its parent draws next (the pool it inherited is
 * dropped), so two entry-api workers never make the same entry_id. */
TEST(random_pool_not_shared_with_child)
{
    unsigned char a[16], b[16], parent[32], child[32];
    int fds[2];
    CHECK_INT(uuid_random(a, sizeof a), GD_OK); /* fills the pool */
    CHECK_INT(uuid_random(b, sizeof b), GD_OK);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK_INT(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        int ok = uuid_random(child, sizeof child) == GD_OK &&
                 write(fds[1], child, sizeof child) == (ssize_t)sizeof child;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    CHECK(pid > 0);
    CHECK_INT(uuid_random(parent, sizeof parent), GD_OK);
    CHECK_INT((int)read(fds[0], child, sizeof child), (int)sizeof child);
    close(fds[0]);
    int st = 0;
    CHECK_INT(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(memcmp(parent, child, sizeof parent) != 0);
    /* Larger than the pool: straight from the kernel. */
    static unsigned char big[5000], big2[5000];
    CHECK_INT(uuid_random(big, sizeof big), GD_OK);
    CHECK_INT(uuid_random(big2, sizeof big2), GD_OK);
    CHECK(memcmp(big, big2, sizeof big) != 0);
}

/* uuid_hex: every byte value, lowercase, two digits each, nothing past 2n. */
TEST(hex_all_bytes)
{
    unsigned char b[256];
    char out[2 * 256 + 1], want[3];
    for (int i = 0; i < 256; i++)
        b[i] = (unsigned char)i;
    memset(out, 'Z', sizeof(out));
    CHECK(uuid_hex(out, b, 256) == out + 512);
    CHECK(out[512] == 'Z');
    for (int i = 0; i < 256; i++) {
        snprintf(want, sizeof(want), "%02x", i);
        CHECK(out[2 * i] == want[0] && out[2 * i + 1] == want[1]);
    }
    CHECK(uuid_hex(out, b, 0) == out);
}

int main(void)
{
    RUN(layout_on_many_ids);
    RUN(all_distinct);
    RUN(time_ordered_across_sleep);
    RUN(valid_accepts);
    RUN(valid_refuses);
    RUN(random_pool_not_shared_with_child);
    RUN(hex_all_bytes);
    return TEST_DONE();
}
