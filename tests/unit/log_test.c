/*
 * log_test.c - tests for common/log.c: the maskers (phone, coupon, digit runs
 * in free text) with exact outputs, including truncation into small buffers;
 * log_write producing exactly one JSON line on fd 2, parsed back with cJSON;
 * level filtering, and that the macros do not format below the level.
 */
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "test.h"
#include "timeutil.h"

/* Redirect fd 2 into a temporary file until capture_end(). */
static FILE *cap_file;
static int cap_saved = -1;

static void capture_start(void)
{
    cap_file = tmpfile();
    cap_saved = dup(STDERR_FILENO);
    if (!cap_file || cap_saved < 0 || dup2(fileno(cap_file), STDERR_FILENO) < 0) {
        fprintf(stderr, "capture_start failed\n");
        exit(1);
    }
}

/* Restore fd 2; return the bytes written to it (NUL-terminated, at most cap-1). */
static size_t capture_end(char *buf, size_t cap)
{
    dup2(cap_saved, STDERR_FILENO);
    close(cap_saved);
    rewind(cap_file);
    size_t n = fread(buf, 1, cap - 1, cap_file);
    buf[n] = '\0';
    fclose(cap_file);
    cap_file = NULL;
    return n;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static const char *mask_phone(const char *in)
{
    static char out[128];
    log_mask_phone(in, out, sizeof out);
    return out;
}

static const char *mask_coupon(const char *in)
{
    static char out[128];
    log_mask_coupon(in, out, sizeof out);
    return out;
}

static const char *mask_text(const char *in)
{
    static char out[512];
    log_mask_text(in, out, sizeof out);
    return out;
}

TEST(mask_phone_known_answers)
{
    CHECK_STR(mask_phone("+821012345678"), "+8210****5678");
    CHECK_STR(mask_phone("01012345678"), "010****5678");
    CHECK_STR(mask_phone("0101234567"), "01****4567");
    CHECK_STR(mask_phone("123456789"), "1****6789"); /* 9: the shortest kept partly */
    CHECK_STR(mask_phone("12345678"), "****");
    CHECK_STR(mask_phone("1234"), "****");
    CHECK_STR(mask_phone(""), "****");

    /* A small buffer is truncated and terminated, never overrun. */
    char out[16];
    memset(out, 'Z', sizeof out);
    log_mask_phone("01012345678", out, 6);
    CHECK_STR(out, "010**");
    CHECK(out[6] == 'Z');
    memset(out, 'Z', sizeof out);
    log_mask_phone("01012345678", out, 0);
    CHECK(out[0] == 'Z');
}

TEST(mask_coupon_known_answers)
{
    CHECK_STR(mask_coupon("ABCD1234EF"), "ABCD****EF");
    CHECK_STR(mask_coupon("GIFT-2025-XYZ-99"), "GIFT****99");
    CHECK_STR(mask_coupon("ABCDEFGH"), "ABCD****GH"); /* 8: the shortest kept partly */
    CHECK_STR(mask_coupon("ABCDEFG"), "****");
    CHECK_STR(mask_coupon(""), "****");
    char out[8];
    memset(out, 'Z', sizeof out);
    log_mask_coupon("ABCD1234EF", out, 5);
    CHECK_STR(out, "ABCD");
    CHECK(out[5] == 'Z');
}

TEST(mask_text_known_answers)
{
    /* Runs of 10+ digits, with or without '+', anywhere in the text. */
    CHECK_STR(mask_text("call 01012345678 now"), "call 010****5678 now");
    CHECK_STR(mask_text("+821012345678"), "+8210****5678");
    CHECK_STR(mask_text("01012345678 first"), "010****5678 first");
    CHECK_STR(mask_text("phone:+821012345678"), "phone:+8210****5678");
    CHECK_STR(mask_text("0101234567"), "01****4567"); /* exactly 10 */
    CHECK_STR(mask_text("a 01012345678 and +821098765432."), "a 010****5678 and +8210****5432.");
    CHECK_STR(mask_text("x01012345678y"), "x010****5678y");
    CHECK_STR(mask_text("1234567890123456"), "12345678****3456");
    /* Runs of 9 or fewer, and other text, are left alone. */
    CHECK_STR(mask_text("123456789"), "123456789");
    CHECK_STR(mask_text("+123456789"), "+123456789");
    CHECK_STR(mask_text("order 123456789 of 42 at 12:30"), "order 123456789 of 42 at 12:30");
    CHECK_STR(mask_text("010-1234-5678"), "010-1234-5678");
    CHECK_STR(mask_text("+ + ++1 a+b"), "+ + ++1 a+b");
    CHECK_STR(mask_text("no digits here"), "no digits here");
    CHECK_STR(mask_text(""), "");
    CHECK_STR(mask_text("\"quoted\" \\ 0101234567\n"), "\"quoted\" \\ 01****4567\n");
}

/* Every smaller buffer holds a prefix of the full masked text: never a raw digit past it. */
TEST(mask_text_truncates_safely)
{
    const char *in = "call 01012345678 or +821098765432";
    const char *want = "call 010****5678 or +8210****5432";
    size_t len = strlen(want);
    char out[64];
    for (size_t cap = 1; cap <= len + 2; cap++) {
        memset(out, 'Z', sizeof out);
        log_mask_text(in, out, cap);
        size_t keep = cap - 1 < len ? cap - 1 : len;
        CHECK_INT(strlen(out), keep);
        CHECK(strncmp(out, want, keep) == 0);
        CHECK(out[cap] == 'Z'); /* nothing written past cap */
    }
    memset(out, 'Z', sizeof out);
    log_mask_text(in, out, 0);
    CHECK(out[0] == 'Z');
    log_mask_text(in, out, 8);
    CHECK_STR(out, "call 01");
}

/* Read one line written while capturing and parse it; NULL if not exactly one JSON line. */
static cJSON *parse_line(const char *buf, size_t n)
{
    if (n == 0 || buf[n - 1] != '\n' || count_char(buf, '\n') != 1 || strlen(buf) != n)
        return NULL;
    return cJSON_ParseWithLength(buf, n - 1);
}

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

TEST(write_one_json_line)
{
    struct log_ctx ctx = {
        .event_id = 42,
        .entry_id = "01937f2e-8c4b-7a1d-9e2f-0123456789ab",
        .member_id = "m-123",
        .traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        .phone = "+821012345678",
        .coupon = "ABCD1234EF",
        .conn = "10.0.0.7:51234",
    };
    char buf[8192];
    log_init("log-test", LOG_LVL_INFO);
    int64_t before = time_now_ms();
    capture_start();
    log_write(LOG_LVL_WARN, &ctx, "sent to %s: \"hi\"\nbye \\ %d\ttab", "01098765432", 7);
    size_t n = capture_end(buf, sizeof buf);
    int64_t after = time_now_ms();

    cJSON *o = parse_line(buf, n);
    CHECK(o != NULL);
    if (!o)
        return;
    CHECK_STR(get_str(o, "level"), "warn");
    CHECK_STR(get_str(o, "service"), "log-test");
    CHECK_STR(get_str(o, "msg"), "sent to 010****5432: \"hi\"\nbye \\ 7\ttab");
    CHECK_STR(get_str(o, "entry_id"), "01937f2e-8c4b-7a1d-9e2f-0123456789ab");
    CHECK_STR(get_str(o, "member_id"), "m-123");
    CHECK_STR(get_str(o, "traceparent"), ctx.traceparent);
    CHECK_STR(get_str(o, "conn"), "10.0.0.7:51234");
    CHECK_STR(get_str(o, "phone"), "+8210****5678");
    CHECK_STR(get_str(o, "coupon"), "ABCD****EF");
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event_id");
    CHECK(cJSON_IsNumber(ev) && ev->valuedouble == 42);
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
    CHECK(cJSON_IsNumber(pid) && pid->valuedouble == (double)getpid());
    /* ts: RFC 3339 UTC with milliseconds, taken during the call. */
    const char *ts = get_str(o, "ts");
    int64_t ts_ms = 0;
    CHECK(ts != NULL && strlen(ts) == 24 && ts[23] == 'Z');
    CHECK(ts != NULL && time_parse_rfc3339(ts, &ts_ms) == 0);
    CHECK(ts_ms >= before && ts_ms <= after);
    CHECK_INT(cJSON_GetArraySize(o), 12);
    cJSON_Delete(o);

    /* No raw personal data anywhere in the line, escaped or not. */
    CHECK(strstr(buf, "01098765432") == NULL);
    CHECK(strstr(buf, "1012345678") == NULL);
    CHECK(strstr(buf, "ABCD1234EF") == NULL);
    /* The newline inside the message is escaped: the line is one line. */
    CHECK_INT(count_char(buf, '\n'), 1);
}

TEST(write_without_context)
{
    char buf[4096];
    log_init("svc", LOG_LVL_DEBUG);
    capture_start();
    log_write(LOG_LVL_DEBUG, NULL, "plain %s", "text");
    size_t n = capture_end(buf, sizeof buf);
    cJSON *o = parse_line(buf, n);
    CHECK(o != NULL);
    CHECK_STR(get_str(o, "level"), "debug");
    CHECK_STR(get_str(o, "service"), "svc");
    CHECK_STR(get_str(o, "msg"), "plain text");
    CHECK_INT(cJSON_GetArraySize(o), 5); /* ts, level, service, pid, msg */
    cJSON_Delete(o);

    /* Absent context fields (0 / NULL) are left out, not written empty. */
    struct log_ctx ctx = {.event_id = 0, .member_id = "m-9"};
    capture_start();
    log_write(LOG_LVL_ERROR, &ctx, "x");
    n = capture_end(buf, sizeof buf);
    o = parse_line(buf, n);
    CHECK(o != NULL);
    CHECK_STR(get_str(o, "level"), "error");
    CHECK_STR(get_str(o, "member_id"), "m-9");
    CHECK(cJSON_GetObjectItemCaseSensitive(o, "event_id") == NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(o, "phone") == NULL);
    CHECK_INT(cJSON_GetArraySize(o), 6);
    cJSON_Delete(o);
}

static int side_effects;

static int bump(void)
{
    return ++side_effects;
}

TEST(level_filtering)
{
    char buf[4096];
    size_t n;

    log_init("svc", LOG_LVL_INFO);
    CHECK_INT(log_enabled(LOG_LVL_DEBUG), 0);
    CHECK_INT(log_enabled(LOG_LVL_INFO), 1);
    CHECK_INT(log_enabled(LOG_LVL_ERROR), 1);

    /* Below the level: nothing written, and the arguments are not even evaluated. */
    side_effects = 0;
    capture_start();
    log_debug(NULL, "debug %d", bump());
    log_write(LOG_LVL_DEBUG, NULL, "direct debug");
    log_write(7, NULL, "no such level");
    log_write(-1, NULL, "no such level");
    n = capture_end(buf, sizeof buf);
    CHECK_INT(n, 0);
    CHECK_INT(side_effects, 0);

    capture_start();
    log_info(NULL, "info %d", bump());
    n = capture_end(buf, sizeof buf);
    CHECK_INT(side_effects, 1);
    CHECK_INT(count_char(buf, '\n'), 1);
    CHECK(strstr(buf, "\"msg\":\"info 1\"") != NULL);

    log_init("svc", LOG_LVL_WARN);
    capture_start();
    log_debug(NULL, "d");
    log_info(NULL, "i");
    log_warn(NULL, "w");
    log_error(NULL, "e");
    n = capture_end(buf, sizeof buf);
    CHECK_INT(count_char(buf, '\n'), 2);
    CHECK(strstr(buf, "\"level\":\"warn\"") != NULL);
    CHECK(strstr(buf, "\"level\":\"error\"") != NULL);
    CHECK(strstr(buf, "\"level\":\"info\"") == NULL);

    log_init("svc", LOG_LVL_ERROR);
    capture_start();
    log_warn(NULL, "w");
    log_error(NULL, "e");
    capture_end(buf, sizeof buf);
    CHECK_INT(count_char(buf, '\n'), 1);
    CHECK(strstr(buf, "\"msg\":\"e\"") != NULL);
    log_init("log-test", LOG_LVL_INFO);
}

TEST(level_names)
{
    CHECK_INT(log_level_parse("debug"), LOG_LVL_DEBUG);
    CHECK_INT(log_level_parse("info"), LOG_LVL_INFO);
    CHECK_INT(log_level_parse("warn"), LOG_LVL_WARN);
    CHECK_INT(log_level_parse("error"), LOG_LVL_ERROR);
    CHECK_INT(log_level_parse("INFO"), -1);
    CHECK_INT(log_level_parse("warning"), -1);
    CHECK_INT(log_level_parse(""), -1);
    CHECK_STR(log_level_name(LOG_LVL_DEBUG), "debug");
    CHECK_STR(log_level_name(LOG_LVL_ERROR), "error");
    CHECK_STR(log_level_name(4), "?");
    CHECK_STR(log_level_name(-1), "?");
}

/*
 * A message far longer than a line is cut, but the line must stay one valid
 * JSON object.  Control characters grow six-fold when escaped (\u0001), so the
 * cut lands at every offset modulo 6 as the service name grows by one byte.
 */
TEST(long_message_stays_valid_json)
{
    static char big[3000];
    static const char *const services[] = {"a", "ab", "abc", "abcd", "abcde", "abcdef"};
    char buf[8192];

    for (int fill = 0; fill < 2; fill++) {
        memset(big, fill ? '"' : '\x01', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
            struct log_ctx ctx = {.event_id = 42, .phone = "+821012345678"};
            log_init(services[i], LOG_LVL_INFO);
            capture_start();
            log_write(LOG_LVL_INFO, &ctx, "%s", big);
            size_t n = capture_end(buf, sizeof buf);
            CHECK(n <= 4096);
            cJSON *o = parse_line(buf, n);
            if (o == NULL)
                fprintf(stderr, "  invalid line (service \"%s\", fill %d), ends \"%s\"\n",
                        services[i], fill, n > 12 ? buf + n - 12 : buf);
            CHECK(o != NULL);
            CHECK_STR(get_str(o, "service"), services[i]);
            cJSON_Delete(o);
        }
    }
    log_init("log-test", LOG_LVL_INFO);
}

/*
 * Regression: a phone number straddling the 2 KiB message limit.  The text
 * formatted by the caller holds an 11-digit run; what reaches the line must
 * not show digits the mask would hide ("0101234" reveals the middle "1234").
 */
TEST(phone_cut_at_message_limit_is_not_leaked)
{
    static char pad[2041];
    char buf[8192];
    memset(pad, 'a', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    log_init("log-test", LOG_LVL_INFO);
    capture_start();
    log_write(LOG_LVL_INFO, NULL, "%s01012345678", pad);
    size_t n = capture_end(buf, sizeof buf);
    cJSON *o = parse_line(buf, n);
    const char *msg = get_str(o, "msg");
    CHECK(msg != NULL && strncmp(msg, pad, 2040) == 0);
    CHECK(msg != NULL && strstr(msg, "0101234") == NULL);
    cJSON_Delete(o);
}

int main(void)
{
    RUN(mask_phone_known_answers);
    RUN(mask_coupon_known_answers);
    RUN(mask_text_known_answers);
    RUN(mask_text_truncates_safely);
    RUN(write_one_json_line);
    RUN(write_without_context);
    RUN(level_filtering);
    RUN(level_names);
    RUN(long_message_stays_valid_json);
    RUN(phone_cut_at_message_limit_is_not_leaked);
    return TEST_DONE();
}
