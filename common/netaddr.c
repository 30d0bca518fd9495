/*
 * netaddr.c - addresses, prefixes, trust lists and the X-Forwarded-For walk
 * (netaddr.h).  Text is converted with inet_pton/inet_ntop, which are strict
 * and do not touch the network or the resolver.
 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "errors.h"

#define MAX_TEXT 64 /* longer than any address text: refused before copying */

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* ::ffff:a.b.c.d becomes a.b.c.d: one spelling per IPv4 peer. */
static void unmap(struct net_addr *a)
{
    if (a->family == 6 && memcmp(a->b, v4_mapped_prefix, 12) == 0) {
        memmove(a->b, a->b + 12, 4);
        memset(a->b + 4, 0, 12);
        a->family = 4;
    }
}

/* Parse without unmapping (prefixes need the family as written). */
static int parse_raw(const char *s, size_t len, struct net_addr *out)
{
    char buf[MAX_TEXT];
    struct net_addr a;
    int bracketed = len >= 2 && s[0] == '[' && s[len - 1] == ']';
    if (bracketed) {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf))
        return GD_EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (memchr(buf, ':', len)) {
        if (inet_pton(AF_INET6, buf, a.b) != 1)
            return GD_EINVAL;
        a.family = 6;
    } else {
        memset(a.b, 0, sizeof(a.b));
        if (bracketed || inet_pton(AF_INET, buf, a.b) != 1)
            return GD_EINVAL;
        a.family = 4;
    }
    *out = a;
    return GD_OK;
}

int net_addr_parse(const char *s, size_t len, struct net_addr *out)
{
    struct net_addr a;
    if (parse_raw(s, len, &a) != GD_OK)
        return GD_EINVAL;
    unmap(&a);
    *out = a;
    return GD_OK;
}

int net_addr_from_sockaddr(const struct sockaddr *sa, struct net_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memcpy(out->b, &in->sin_addr, 4);
        out->family = 4;
        return GD_OK;
    }
    if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(out->b, &in6->sin6_addr, 16);
        out->family = 6;
        unmap(out);
        return GD_OK;
    }
    return GD_EINVAL;
}

void net_addr_format(const struct net_addr *a, char *out, size_t cap)
{
    char buf[NET_ADDR_STRLEN];
    int af = a->family == 4 ? AF_INET : a->family == 6 ? AF_INET6 : 0;
    if (!af || !inet_ntop(af, a->b, buf, sizeof(buf)))
        snprintf(buf, sizeof(buf), "-");
    snprintf(out, cap, "%s", buf);
}

/* 1 when the first `bits` bits of x and y are equal. */
static int same_bits(const unsigned char *x, const unsigned char *y, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(x, y, (size_t)whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (x[whole] & mask) == (y[whole] & mask);
}

/* 1 when a has a set bit past `bits`. */
static int host_bits_set(const struct net_addr *a, int bits)
{
    int size = a->family == 4 ? 4 : 16;
    for (int i = 0; i < size; i++) {
        int keep = bits - i * 8;
        unsigned char mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
        if (a->b[i] & (unsigned char)~mask)
            return 1;
    }
    return 0;
}

/* Decimal 0..999 with no sign and no blanks; -1 otherwise. */
static int parse_bits(const char *s, size_t len)
{
    int v = 0;
    if (len == 0 || len > 3)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int net_prefix_parse(const char *s, size_t len, struct net_prefix *out, char *why, size_t why_len)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    struct net_prefix p;
    if (parse_raw(s, alen, &p.addr) != GD_OK) {
        snprintf(why, why_len, "\"%.*s\": not an IPv4 or IPv6 address", (int)alen, s);
        return GD_EINVAL;
    }
    int max = p.addr.family == 4 ? 32 : 128;
    p.bits = slash ? parse_bits(slash + 1, len - alen - 1) : max;
    if (p.bits < 0 || p.bits > max) {
        snprintf(why, why_len, "\"%.*s\": prefix length must be a number from 0 to %d", (int)len, s,
                 max);
        return GD_EINVAL;
    }
    if (host_bits_set(&p.addr, p.bits)) {
        snprintf(why, why_len, "\"%.*s\": bits set past the /%d prefix (host part must be 0)",
                 (int)len, s, p.bits);
        return GD_EINVAL;
    }
    /* ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are unmapped too. */
    if (p.addr.family == 6 && p.bits >= 96 && memcmp(p.addr.b, v4_mapped_prefix, 12) == 0) {
        unmap(&p.addr);
        p.bits -= 96;
    }
    *out = p;
    return GD_OK;
}

int net_prefix_contains(const struct net_prefix *p, const struct net_addr *a)
{
    return p->addr.family == a->family && same_bits(p->addr.b, a->b, p->bits);
}

/* [*start, *end) trimmed of blanks. */
static void trim(const char *s, size_t *start, size_t *end)
{
    while (*start < *end && is_blank(s[*start]))
        (*start)++;
    while (*end > *start && is_blank(s[*end - 1]))
        (*end)--;
}

int net_trust_parse(const char *list, struct net_trust *out, char *why, size_t why_len)
{
    char scratch[2];
    size_t pos = 0, len = strlen(list), a = 0, b = len;
    if (!why) {
        why = scratch;
        why_len = sizeof(scratch);
    }
    out->n = 0;
    trim(list, &a, &b);
    if (a == b)
        return GD_OK; /* empty: trust no one */
    while (pos <= len) {
        const char *comma = memchr(list + pos, ',', len - pos);
        size_t start = pos, end = comma ? (size_t)(comma - list) : len;
        trim(list, &start, &end);
        if (start == end) {
            snprintf(why, why_len, "empty item at position %zu (stray comma?)", out->n + 1);
            out->n = 0;
            return GD_EINVAL;
        }
        if (out->n == NET_TRUST_MAX) {
            snprintf(why, why_len, "more than %d items", NET_TRUST_MAX);
            out->n = 0;
            return GD_EINVAL;
        }
        if (net_prefix_parse(list + start, end - start, &out->p[out->n], why, why_len) != GD_OK) {
            out->n = 0;
            return GD_EINVAL;
        }
        out->n++;
        pos = comma ? (size_t)(comma - list) + 1 : len + 1;
    }
    return GD_OK;
}

int net_trust_contains(const struct net_trust *t, const struct net_addr *a)
{
    for (size_t i = 0; i < t->n; i++)
        if (net_prefix_contains(&t->p[i], a))
            return 1;
    return 0;
}

/*
 * Walk one header line's entries right to left.  Returns 1 when the walk is
 * over (an untrusted entry became the client, or junk stopped it), 0 to go
 * on with the header line to the left.
 */
static int walk_line(const struct net_trust *t, const char *s, struct net_addr *client)
{
    size_t end = strlen(s);
    for (;;) {
        size_t start = end;
        while (start > 0 && s[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        struct net_addr addr;
        trim(s, &a, &b);
        if (net_addr_parse(s + a, b - a, &addr) != GD_OK)
            return 1; /* client stays the last good address */
        *client = addr;
        if (!net_trust_contains(t, &addr))
            return 1;
        if (start == 0)
            return 0;
        end = start - 1; /* the comma */
    }
}

void net_client_addr(const struct net_trust *t, const struct net_addr *peer, const char *const *xff,
                     size_t nxff, struct net_addr *client)
{
    *client = *peer;
    if (!net_trust_contains(t, peer))
        return;
    for (size_t i = nxff; i-- > 0;)
        if (walk_line(t, xff[i], client))
            return;
}
