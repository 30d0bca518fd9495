#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The only globals besides the stop flag: the log sink's settings. */
static const char *log_service = "giftdrop";
static int log_min_level = LOG_LVL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, int level)
{
    log_service = service;
    log_min_level = level;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

const char *log_level_name(int level)
{
    return level >= 0 && level <= LOG_LVL_ERROR ? level_names[level] : "?";
}

int log_enabled(int level)
{
    return level >= log_min_level;
}

void log_mask_phone(const char *phone, char *out, size_t cap)
{
    size_t n = strlen(phone);
    if (cap == 0)
        return;
    if (n < 9) { /* too short to be a number worth keeping any of */
        snprintf(out, cap, "****");
        return;
    }
    snprintf(out, cap, "%.*s****%s", (int)(n - 8), phone, phone + n - 4);
}

void log_mask_coupon(const char *code, char *out, size_t cap)
{
    size_t n = strlen(code);
    if (n < 8)
        snprintf(out, cap, "****");
    else
        snprintf(out, cap, "%.4s****%s", code, code + n - 2);
}

void log_mask_text(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    while (*s && o + 1 < cap) {
        size_t run = 0, start = (*s == '+') ? 1 : 0;
        while (isdigit((unsigned char)s[start + run]))
            run++;
        if (run >= 10) {
            char num[64], masked[64];
            size_t len = start + run < sizeof(num) ? start + run : sizeof(num) - 1;
            memcpy(num, s, len);
            num[len] = '\0';
            log_mask_phone(num, masked, sizeof(masked));
            for (const char *m = masked; *m && o + 1 < cap; m++)
                out[o++] = *m;
            s += start + run;
            continue;
        }
        size_t adv = start + (run ? run : (start ? 0 : 1));
        for (size_t i = 0; i < adv && o + 1 < cap; i++)
            out[o++] = s[i];
        s += adv;
    }
    out[o] = '\0';
}

/* Room always kept free at the end of a line for '"', '}', '\n' and the NUL,
 * so a cut never leaves half an escape or an unterminated JSON line. */
#define LINE_RESERVE 8

/* Append s to buf as a JSON string body (no quotes), escaping as needed. */
static size_t json_escape_into(char *buf, size_t o, size_t cap, const char *s)
{
    for (; *s && o + 6 + LINE_RESERVE < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    return o;
}

static size_t add_field(char *buf, size_t o, size_t cap, const char *key, const char *val)
{
    if (!val || o + strlen(key) + 4 + LINE_RESERVE >= cap)
        return o;
    o += (size_t)snprintf(buf + o, cap - o, ",\"%s\":\"", key);
    o = json_escape_into(buf, o, cap, val);
    buf[o++] = '"'; /* within LINE_RESERVE */
    return o;
}

void log_write(int level, const struct log_ctx *ctx, const char *fmt, ...)
{
    char msg[2048], masked[2048], line[4096], ts[40], tmp[128];
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (level < log_min_level || level < 0 || level > LOG_LVL_ERROR)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(msg)) {
        /* Cut: drop a trailing digit run, which may be a phone number too
         * short now to be recognised and masked. */
        size_t end = strlen(msg);
        while (end > 0 && (isdigit((unsigned char)msg[end - 1]) || msg[end - 1] == '+'))
            end--;
        msg[end] = '\0';
    }
    log_mask_text(msg, masked, sizeof(masked));

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    size_t o = (size_t)snprintf(
        line, sizeof(line), "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"service\":\"%s\",\"pid\":%d",
        ts, now.tv_nsec / 1000000, level_names[level], log_service, (int)getpid());
    o = add_field(line, o, sizeof(line), "msg", masked);
    if (ctx) {
        if (ctx->event_id > 0 && o + 40 + LINE_RESERVE < sizeof(line))
            o += (size_t)snprintf(line + o, sizeof(line) - o, ",\"event_id\":%lld", ctx->event_id);
        o = add_field(line, o, sizeof(line), "entry_id", ctx->entry_id);
        o = add_field(line, o, sizeof(line), "member_id", ctx->member_id);
        o = add_field(line, o, sizeof(line), "traceparent", ctx->traceparent);
        o = add_field(line, o, sizeof(line), "conn", ctx->conn);
        o = add_field(line, o, sizeof(line), "client", ctx->client);
        if (ctx->phone) {
            log_mask_phone(ctx->phone, tmp, sizeof(tmp));
            o = add_field(line, o, sizeof(line), "phone", tmp);
        }
        if (ctx->coupon) {
            log_mask_coupon(ctx->coupon, tmp, sizeof(tmp));
            o = add_field(line, o, sizeof(line), "coupon", tmp);
        }
    }
    line[o++] = '}'; /* within LINE_RESERVE */
    line[o++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, o);
    (void)w; /* nowhere to report a failing log sink */
}
