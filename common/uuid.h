/*
 * uuid.h - UUIDv7 (RFC 9562): 48-bit unix milliseconds, then random bits, so
 * entry ids sort by submission time and index well in PostgreSQL.
 */
#ifndef GD_UUID_H
#define GD_UUID_H

#include <stddef.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Write a new lowercase UUIDv7 into out.  Returns 0, or GD_EIO if no randomness. */
int uuid_v7(char out[UUID_STR_LEN]);

/*
 * n bytes from the kernel's CSPRNG (getrandom), drawn from a per-thread pool
 * refilled 4 KiB at a time and dropped in a forked child.  0 or GD_EIO.
 */
int uuid_random(void *out, size_t n);

/* Lowercase hex of b[0..n) into out (2n characters, no NUL); returns out + 2n. */
char *uuid_hex(char *out, const unsigned char *b, size_t n);

/* 1 when s is a canonical lowercase/uppercase 8-4-4-4-12 hex UUID, else 0. */
int uuid_valid(const char *s);

#endif
