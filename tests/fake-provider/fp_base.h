/*
 * fp_base.h - process-wide basics of gd-fake-provider: the one allocation
 * wrapper, the two clocks and the log line.
 *
 * Out of memory is not a runtime condition this test tool tries to survive:
 * every allocation (ours, cJSON's and libevent's, see fp_install_allocator)
 * goes through fp_xmalloc, which prints one line and aborts.  A fake that
 * silently drops a record under memory pressure would make tests lie; a
 * crash makes them fail loudly.  Hence no call site checks for NULL.
 */
#ifndef GD_FP_BASE_H
#define GD_FP_BASE_H

#include <stddef.h>
#include <stdint.h>

/* Like malloc/calloc/realloc/strdup, but never return NULL (abort instead).
 * A size of 0 is treated as 1 so the result is always a fresh pointer.
 * Free the result with free(). */
void *fp_xmalloc(size_t size);
void *fp_xcalloc(size_t count, size_t size);
void *fp_xrealloc(void *ptr, size_t size);
char *fp_xstrdup(const char *s);

/* Points cJSON and libevent at the wrappers above.  Must run before any
 * other libevent call (libevent refuses to switch allocators later). */
void fp_install_allocator(void);

/* Wall clock in milliseconds since the epoch: for record timestamps. */
int64_t fp_now_ms(void);

/* Monotonic milliseconds: for the idempotency window, immune to clock steps. */
int64_t fp_mono_ms(void);

/*
 * Writes one JSON log line to stderr:
 *   {"ts_ms":..,"level":LEVEL,"service":"gd-fake-provider","msg":MSG,KEY:VALUE}
 * key may be NULL (then value is ignored).  Values are escaped by cJSON.
 * Never pass phone numbers or coupon codes: this tool does not log them.
 */
void fp_log(const char *level, const char *msg, const char *key, const char *value);

#endif
