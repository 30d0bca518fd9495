#include "uuid.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "errors.h"
#include "timeutil.h"

#define UUID_POOL 4096

/*
 * Random bytes come from getrandom() 4 KiB at a time instead of one system
 * call per id (entry-api makes one id per entry: a system call is a visible
 * share of an entry's cost).  The pool is per thread, and a forked child
 * drops what it inherited, so two processes never hand out the same bytes.
 */
static _Thread_local unsigned char pool[UUID_POOL];
static _Thread_local size_t pool_left;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void drop_pool(void)
{
    pool_left = 0; /* the child: only the forking thread exists */
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, drop_pool);
}

int uuid_random(void *out, size_t n)
{
    pthread_once(&atfork_once, register_atfork);
    if (n > UUID_POOL)
        return getrandom(out, n, 0) == (ssize_t)n ? GD_OK : GD_EIO;
    if (pool_left < n) {
        if (getrandom(pool, UUID_POOL, 0) != UUID_POOL)
            return GD_EIO;
        pool_left = UUID_POOL;
    }
    memcpy(out, pool + UUID_POOL - pool_left, n);
    memset(pool + UUID_POOL - pool_left, 0, n); /* handed out once */
    pool_left -= n;
    return GD_OK;
}

char *uuid_hex(char *out, const unsigned char *b, size_t n)
{
    static const char digit[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        *out++ = digit[b[i] >> 4];
        *out++ = digit[b[i] & 15];
    }
    return out;
}

int uuid_v7(char out[UUID_STR_LEN])
{
    unsigned char b[16];
    uint64_t ms = (uint64_t)time_now_ms();

    if (uuid_random(b + 6, 10) != GD_OK)
        return GD_EIO;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* variant 10 */
    char *o = uuid_hex(out, b, 4);                /* 8-4-4-4-12 */
    *o++ = '-';
    o = uuid_hex(o, b + 4, 2);
    *o++ = '-';
    o = uuid_hex(o, b + 6, 2);
    *o++ = '-';
    o = uuid_hex(o, b + 8, 2);
    *o++ = '-';
    o = uuid_hex(o, b + 10, 6);
    *o = '\0';
    return GD_OK;
}

int uuid_valid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}
