/*
 * sbuf.h - a growable string for building one statement parameter (a JSON
 * array, a PostgreSQL array literal) out of a whole batch.  Allocation
 * failure is sticky: check `oom` once at the end instead of after each add.
 */
#ifndef GD_SBUF_H
#define GD_SBUF_H

#include <stddef.h>

struct sbuf {
    char *p; /* NUL-terminated once anything was added; owned, free() it */
    size_t len, cap;
    int oom;
};

void sb_add(struct sbuf *b, const char *s, size_t n);
void sb_str(struct sbuf *b, const char *s);
/* printf into the buffer; a result longer than 255 bytes sets oom. */
void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
