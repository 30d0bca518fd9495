/*
 * timeutil_test.c - tests for common/timeutil.c: RFC 3339 formatting and
 * parsing against known answers computed outside this code with python3
 * (datetime.fromtimestamp(ms / 1000, timezone.utc)), offsets, fractions,
 * refusals, and a format -> parse round trip over a wide range.
 */
#include "errors.h"
#include "test.h"
#include "timeutil.h"

static const char *fmt(int64_t ms)
{
    static char out[TIME_RFC3339_LEN];
    time_format_ms(ms, out);
    return out;
}

/* Parse s; GD_EINVAL leaves the sentinel so a refusal is visible as such. */
static int64_t parse(const char *s)
{
    int64_t ms = INT64_MIN;
    if (time_parse_rfc3339(s, &ms) != GD_OK)
        return INT64_MIN;
    return ms;
}

TEST(format_known_answers)
{
    CHECK_STR(fmt(0), "1970-01-01T00:00:00.000Z");
    CHECK_STR(fmt(1764072000123), "2025-11-25T12:00:00.123Z");
    CHECK_STR(fmt(951782400000), "2000-02-29T00:00:00.000Z");
    CHECK_STR(fmt(1735689599999), "2024-12-31T23:59:59.999Z");
    CHECK_STR(fmt(1709210096789), "2024-02-29T12:34:56.789Z");
    CHECK_STR(fmt(253402300799999), "9999-12-31T23:59:59.999Z");
    /* Before 1970: milliseconds stay positive, the second rounds down. */
    CHECK_STR(fmt(-1), "1969-12-31T23:59:59.999Z");
    CHECK_STR(fmt(-1000), "1969-12-31T23:59:59.000Z");
    CHECK_STR(fmt(-1001), "1969-12-31T23:59:58.999Z");
    CHECK_STR(fmt(-86400001), "1969-12-30T23:59:59.999Z");
    CHECK_STR(fmt(-14182940000), "1969-07-20T20:17:40.000Z");
    CHECK_STR(fmt(-62135596800000), "0001-01-01T00:00:00.000Z");
}

TEST(parse_known_answers)
{
    CHECK_INT(parse("1970-01-01T00:00:00Z"), 0);
    CHECK_INT(parse("1970-01-01T00:00:00.000Z"), 0);
    CHECK_INT(parse("2025-11-25T12:00:00.123Z"), 1764072000123);
    CHECK_INT(parse("2025-11-25t12:00:00.123z"), 1764072000123);
    CHECK_INT(parse("2000-02-29T00:00:00Z"), 951782400000);
    CHECK_INT(parse("2024-02-29T12:34:56.789Z"), 1709210096789);
    CHECK_INT(parse("1969-12-31T23:59:59.999Z"), -1);
    CHECK_INT(parse("1969-07-20T20:17:40Z"), -14182940000);
    CHECK_INT(parse("9999-12-31T23:59:59.999Z"), 253402300799999);
}

TEST(parse_offsets)
{
    /* The same instant in Korea, UTC, behind UTC, and with a half-hour offset. */
    CHECK_INT(parse("2025-11-25T21:00:00.123+09:00"), 1764072000123);
    CHECK_INT(parse("2025-11-25T12:00:00.123+00:00"), 1764072000123);
    CHECK_INT(parse("2025-11-25T12:00:00.123-00:00"), 1764072000123);
    CHECK_INT(parse("2025-11-25T07:00:00.123-05:00"), 1764072000123);
    CHECK_INT(parse("2025-11-25T17:30:00.123+05:30"), 1764072000123);
    CHECK_INT(parse("2025-11-25T23:59:00.123+11:59"), 1764072000123);
    /* An offset that crosses the year: 2025-01-01 08:59:59.999 KST is 2024-12-31 UTC. */
    CHECK_INT(parse("2025-01-01T08:59:59.999+09:00"), 1735689599999);
    CHECK_INT(parse("1970-01-01T09:00:00+09:00"), 0);
    CHECK_INT(parse("1969-12-31T15:00:00-09:00"), 0);
}

TEST(parse_fractions)
{
    CHECK_INT(parse("2025-11-25T12:00:00.1Z"), 1764072000100);
    CHECK_INT(parse("2025-11-25T12:00:00.12Z"), 1764072000120);
    CHECK_INT(parse("2025-11-25T12:00:00.123Z"), 1764072000123);
    CHECK_INT(parse("2025-11-25T12:00:00.123456Z"), 1764072000123);
    /* Beyond milliseconds is truncated, not rounded. */
    CHECK_INT(parse("2025-11-25T12:00:00.999999Z"), 1764072000999);
    CHECK_INT(parse("2025-11-25T12:00:00.000999+09:00"), 1764072000000 - 9 * 3600000);
    CHECK_INT(parse("2025-11-25T12:00:00.123456789Z"), 1764072000123);
    CHECK_INT(parse("1969-12-31T23:59:59.5Z"), -500);
}

TEST(parse_refusals)
{
    static const char *const bad[] = {
        "",
        "2025-11-25T12:00:00",        /* no offset */
        "2025-11-25T12:00:00.123",    /* no offset */
        "2025-13-01T00:00:00Z",       /* month 13 */
        "2025-00-10T00:00:00Z",       /* month 0 */
        "2025-11-00T00:00:00Z",       /* day 0 */
        "2025-11-31T00:00:00Z",       /* November has 30 days */
        "2025-02-30T00:00:00Z",       /* Feb 30 */
        "2024-02-30T00:00:00Z",       /* Feb 30, leap year */
        "2025-11-25T24:00:00Z",       /* hour 24 */
        "2025-11-25T12:60:00Z",       /* minute 60 */
        "2025-11-25T12:00:61Z",       /* second 61 */
        "2025-11-25T12:00Z",          /* missing seconds */
        "2025-11-25T12:00+09:00",     /* missing seconds */
        "2025-11-25T12:00:00Zjunk",   /* trailing junk */
        "2025-11-25T12:00:00Z ",      /* trailing space */
        "2025-11-25T12:00:00+09:00Z", /* two offsets */
        " 2025-11-25T12:00:00Z",      /* leading space */
        "2025-11-25 12:00:00Z",       /* space for T */
        "2025-11-25X12:00:00Z",       /* other separator */
        "2025/11/25T12:00:00Z",
        "2025-1-25T12:00:00.000Z",   /* one-digit month */
        "20251125T120000Z",          /* basic format */
        "2025-11-25T12:00:00.Z",     /* empty fraction */
        "2025-11-25T12:00:00,123Z",  /* comma fraction */
        "2025-11-25T12:00:00+0900",  /* offset without colon */
        "2025-11-25T12:00:00+09",    /* offset without minutes */
        "2025-11-25T12:00:00+24:00", /* offset hour 24 */
        "2025-11-25T12:00:00+09:60", /* offset minute 60 */
        "2025-11-25T12:00:00+9:00",
        "2025-11-25T12:00:00 +09:00",
        "abcd-11-25T12:00:00Z",
        "+2025-11-25T12:00:00Z",
        "2025-11-25T12:00:00UTC",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 12345;
        int rc = time_parse_rfc3339(bad[i], &ms);
        if (rc != GD_EINVAL)
            fprintf(stderr, "  accepted \"%s\" as %lld\n", bad[i], (long long)ms);
        CHECK_INT(rc, GD_EINVAL);
    }
}

/*
 * Regression: February 29 exists only in leap years.  RFC 3339 section 5.7:
 * date-mday 01-28, 01-29, 01-30, 01-31 "based on month/year".
 */
TEST(parse_refuses_feb_29_outside_leap_years)
{
    CHECK_INT(parse("2024-02-29T00:00:00Z"), 1709164800000);
    CHECK_INT(parse("2000-02-29T00:00:00Z"), 951782400000); /* divisible by 400: leap */
    CHECK_INT(parse("2025-02-29T00:00:00Z"), INT64_MIN);
    CHECK_INT(parse("2023-02-29T12:00:00+09:00"), INT64_MIN);
    CHECK_INT(parse("1900-02-29T00:00:00Z"), INT64_MIN); /* divisible by 100: not leap */
}

/* format -> parse is the identity over four millennia, including before 1970. */
TEST(round_trip)
{
    int failures = 0;
    char out[TIME_RFC3339_LEN];
    /* Odd steps so seconds, minutes, days and milliseconds all vary. */
    for (int64_t ms = -62135596800000; ms <= 253402300799999; ms += 7919 * INT64_C(1000003)) {
        int64_t back = INT64_MIN;
        time_format_ms(ms, out);
        if (strlen(out) != 24 || time_parse_rfc3339(out, &back) != GD_OK || back != ms) {
            if (failures++ < 5)
                fprintf(stderr, "  %lld -> \"%s\" -> %lld\n", (long long)ms, out, (long long)back);
        }
    }
    CHECK_INT(failures, 0);
    /* Every millisecond of a day boundary and of the leap day. */
    for (int64_t ms = -1500; ms <= 1500; ms++) {
        time_format_ms(ms, out);
        CHECK_INT(parse(out), ms);
    }
    for (int64_t ms = 951868799000 - 3; ms <= 951868800000 + 3; ms++) {
        time_format_ms(ms, out);
        CHECK_INT(parse(out), ms);
    }
}

TEST(clocks)
{
    int64_t a = time_now_ms(), m1 = time_mono_ms();
    int64_t b = time_now_ms(), m2 = time_mono_ms();
    CHECK(a > 1700000000000); /* after 2023-11 */
    CHECK(b >= a);
    CHECK(m2 >= m1);
    CHECK(m1 > 0);
}

int main(void)
{
    RUN(format_known_answers);
    RUN(parse_known_answers);
    RUN(parse_offsets);
    RUN(parse_fractions);
    RUN(parse_refusals);
    RUN(parse_refuses_feb_29_outside_leap_years);
    RUN(round_trip);
    RUN(clocks);
    return TEST_DONE();
}
