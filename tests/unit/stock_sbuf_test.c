/*
 * stock_sbuf_test.c - tests for stock-consumer/sbuf.c, the growable string
 * the decide path builds whole-batch statement parameters in: growth past
 * the first block keeps every byte, sb_fmt refuses (sticky oom) rather than
 * truncating a field, and oom stops further adds.
 */
#include <stdlib.h>

#include "../../stock-consumer/sbuf.c"

#include "test.h"

TEST(grows_and_keeps_bytes)
{
    struct sbuf b = {0};
    for (int i = 0; i < 3000; i++)
        sb_fmt(&b, "%s{\"n\":%d}", i ? "," : "[", i);
    sb_str(&b, "]");
    CHECK(!b.oom);
    CHECK(b.cap > 4096);
    CHECK_INT(strlen(b.p), b.len);
    CHECK(strncmp(b.p, "[{\"n\":0},{\"n\":1}", 16) == 0);
    CHECK_STR(b.p + b.len - 11, "{\"n\":2999}]");
    free(b.p);
}

TEST(fmt_never_truncates)
{
    struct sbuf b = {0};
    char big[400];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sb_str(&b, "ok");
    sb_fmt(&b, "%s", big);
    CHECK(b.oom);
    sb_str(&b, "more"); /* sticky: nothing after a failure */
    CHECK_STR(b.p, "ok");
    free(b.p);
}

TEST(empty_add)
{
    struct sbuf b = {0};
    sb_add(&b, "", 0);
    CHECK(!b.oom);
    CHECK_STR(b.p, "");
    free(b.p);
}

int main(void)
{
    RUN(grows_and_keeps_bytes);
    RUN(fmt_never_truncates);
    RUN(empty_add);
    return TEST_DONE();
}
