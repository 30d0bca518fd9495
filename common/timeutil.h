/*
 * timeutil.h - wall-clock milliseconds and RFC 3339 (UTC, milliseconds), the
 * only time format in giftdrop's APIs and messages.
 */
#ifndef GD_TIMEUTIL_H
#define GD_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define TIME_RFC3339_LEN 32

int64_t time_now_ms(void);  /* CLOCK_REALTIME */
int64_t time_mono_ms(void); /* CLOCK_MONOTONIC, for deadlines */

/* "2026-11-25T12:00:00.000Z" into out (at least TIME_RFC3339_LEN bytes). */
void time_format_ms(int64_t unix_ms, char *out);

/*
 * Parse RFC 3339: "YYYY-MM-DDTHH:MM:SS[.fff...][Z|+hh:mm|-hh:mm]".  Returns 0
 * and unix milliseconds, or GD_EINVAL.  Fractions beyond milliseconds are
 * truncated; a missing offset is refused.
 */
int time_parse_rfc3339(const char *s, int64_t *unix_ms);

#endif
