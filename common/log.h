/*
 * log.h - JSON-lines logging on stderr.
 *
 * One line per call, written with a single write(2) so lines from several
 * threads never interleave.  The level is checked before anything is
 * formatted (use the log_* macros).  Personal data is masked here, inside
 * the logger, so no call site can forget: the phone field of a log_ctx is
 * always masked (+8210****5678), and so is every run of 10+ digits in the
 * message text; coupon codes are masked to their first 4 and last 2 chars.
 */
#ifndef GD_LOG_H
#define GD_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* What a line is about; every field optional (0 / NULL = absent). Borrowed. */
struct log_ctx {
    long long event_id;
    const char *entry_id;
    const char *member_id;
    const char *traceparent;
    const char *phone;  /* masked when written */
    const char *coupon; /* masked when written */
    const char *conn;   /* connection or peer the line concerns */
    const char *client; /* the client's address (entry-api: after TRUSTED_PROXIES) */
};

/* Set the service name (borrowed, must outlive logging) and the minimum level. */
void log_init(const char *service, int level);
/* Parse "debug"/"info"/"warn"/"error"; -1 if none of them. */
int log_level_parse(const char *s);
const char *log_level_name(int level);
int log_enabled(int level);

/* Write one line; prefer the macros, which skip formatting below the level. */
void log_write(int level, const struct log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(ctx, ...)                                                                        \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_DEBUG))                                                            \
            log_write(LOG_LVL_DEBUG, ctx, __VA_ARGS__);                                            \
    } while (0)
#define log_info(ctx, ...)                                                                         \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_INFO))                                                             \
            log_write(LOG_LVL_INFO, ctx, __VA_ARGS__);                                             \
    } while (0)
#define log_warn(ctx, ...)                                                                         \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_WARN))                                                             \
            log_write(LOG_LVL_WARN, ctx, __VA_ARGS__);                                             \
    } while (0)
#define log_error(ctx, ...) log_write(LOG_LVL_ERROR, ctx, __VA_ARGS__)

/* Mask a phone number: keep all but the 8 last digits, mask 4, keep the last 4. */
void log_mask_phone(const char *phone, char *out, size_t cap);
/* Mask a coupon code: first 4 and last 2 characters kept. */
void log_mask_coupon(const char *code, char *out, size_t cap);
/* Copy s into out masking every run of 10 or more digits (optionally after '+'). */
void log_mask_text(const char *s, char *out, size_t cap);

#endif
