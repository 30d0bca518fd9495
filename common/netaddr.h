/*
 * netaddr.h - IPv4/IPv6 addresses and prefixes, and the client address of a
 * request that may have come through trusted proxies (X-Forwarded-For).
 *
 * Pure functions over caller-owned structs: nothing allocates, nothing
 * blocks, nothing logs.  Addresses are compared as bytes; an IPv4-mapped
 * IPv6 address (::ffff:1.2.3.4, what a dual-stack socket reports for an IPv4
 * peer) is stored as the IPv4 address, so 127.0.0.1 in TRUSTED_PROXIES
 * matches such a peer.
 *
 * Who is the client (entry-api's TRUSTED_PROXIES):
 *   - the TCP peer, unless the peer is a trusted proxy;
 *   - from a trusted peer, X-Forwarded-For is walked from the right (the
 *     entry the nearest proxy appended) to the left, and the first entry
 *     that is not itself trusted is the client; if every entry is trusted,
 *     the leftmost; an entry that does not parse ("unknown", a port, junk)
 *     stops the walk and the last good address (the peer or a trusted
 *     proxy) is the client.  Entries left of the first untrusted one are
 *     whatever the client chose to send, so they are never looked at.
 * The `Forwarded` header (RFC 7239) is not read.
 */
#ifndef GD_NETADDR_H
#define GD_NETADDR_H

#include <stddef.h>

struct sockaddr;

#define NET_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN: the longest text form + NUL */
#define NET_TRUST_MAX   64 /* prefixes in one trust list */

/* An IPv4 or IPv6 address. */
struct net_addr {
    int family;          /* 4 or 6; 0 = none */
    unsigned char b[16]; /* network byte order; IPv4 uses b[0..3] */
};

/* A network: addr with every bit past `bits` zero. */
struct net_prefix {
    struct net_addr addr;
    int bits; /* 0..32 (IPv4) or 0..128 (IPv6) */
};

/* A parsed TRUSTED_PROXIES list (n = 0: trust no one). */
struct net_trust {
    size_t n;
    struct net_prefix p[NET_TRUST_MAX];
};

/*
 * Parse s[0..len) as "1.2.3.4", "2001:db8::1" or "[2001:db8::1]" (no
 * surrounding blanks, no port, no zone).  IPv4 is strict dotted decimal (no
 * leading zeros, four parts).  GD_OK, or GD_EINVAL leaving *out untouched.
 */
int net_addr_parse(const char *s, size_t len, struct net_addr *out);

/* The address of an AF_INET / AF_INET6 socket address; GD_EINVAL otherwise. */
int net_addr_from_sockaddr(const struct sockaddr *sa, struct net_addr *out);

/* Text form into out (NET_ADDR_STRLEN bytes suffice); "-" for family 0. */
void net_addr_format(const struct net_addr *a, char *out, size_t cap);

/*
 * Parse "ADDR" (a single host: /32 or /128) or "ADDR/BITS".  Refused, with
 * the reason in why: a bad address, BITS not 0..32 / 0..128 or not decimal,
 * host bits set past BITS (10.0.0.1/8: a typo or a misunderstanding, so it
 * is named rather than silently masked).  GD_OK or GD_EINVAL.
 */
int net_prefix_parse(const char *s, size_t len, struct net_prefix *out, char *why, size_t why_len);

/* 1 when a is inside p (same family, first p->bits bits equal), else 0. */
int net_prefix_contains(const struct net_prefix *p, const struct net_addr *a);

/*
 * Parse a comma-separated list of net_prefix_parse items; blanks around
 * items are allowed; an empty or blank list is an empty trust list.  An
 * empty item (",,", a trailing comma) or more than NET_TRUST_MAX items is an
 * error.  why (may be NULL) gets one line naming the bad item in quotes.
 * GD_OK, or GD_EINVAL with *out emptied.
 */
int net_trust_parse(const char *list, struct net_trust *out, char *why, size_t why_len);

/* 1 when a is inside one of t's prefixes. */
int net_trust_contains(const struct net_trust *t, const struct net_addr *a);

/*
 * The client address of a request from `peer` carrying the X-Forwarded-For
 * header lines xff[0..nxff) in the order received (they read as one list,
 * joined by commas), by the rule at the top of this file.  xff may be NULL
 * when nxff is 0.  Never fails: *client is at worst the peer.
 */
void net_client_addr(const struct net_trust *t, const struct net_addr *peer, const char *const *xff,
                     size_t nxff, struct net_addr *client);

#endif
