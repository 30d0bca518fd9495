/*
 * netaddr_test.c - tests for common/netaddr.c: address parsing (IPv4, IPv6,
 * brackets, IPv4-mapped, junk), prefixes at their edges (/0, /24, /32,
 * /128, host bits), TRUSTED_PROXIES lists and their errors, and the
 * X-Forwarded-For walk: untrusted peers, chains of proxies, spoofed leftmost
 * entries, junk entries and several header lines.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "errors.h"
#include "netaddr.h"
#include "test.h"

/* Text of s parsed and formatted again, or "ERR". */
static const char *roundtrip(const char *s)
{
    static char out[NET_ADDR_STRLEN];
    struct net_addr a;
    if (net_addr_parse(s, strlen(s), &a) != GD_OK)
        return "ERR";
    net_addr_format(&a, out, sizeof(out));
    return out;
}

static struct net_addr addr(const char *s)
{
    struct net_addr a;
    memset(&a, 0, sizeof(a));
    CHECK_INT(net_addr_parse(s, strlen(s), &a), GD_OK);
    return a;
}

static struct net_trust trust(const char *list)
{
    struct net_trust t;
    char why[200] = "";
    int rc = net_trust_parse(list, &t, why, sizeof(why));
    if (rc != GD_OK)
        fprintf(stderr, "trust list \"%s\": %s\n", list, why);
    CHECK_INT(rc, GD_OK);
    return t;
}

/* 1 when list contains the address s. */
static int in(const char *list, const char *s)
{
    struct net_trust t = trust(list);
    struct net_addr a = addr(s);
    return net_trust_contains(&t, &a);
}

/* The error of a refused list ("" when accepted). */
static const char *refusal(const char *list)
{
    static char why[200];
    struct net_trust t;
    t.n = 99;
    why[0] = '\0';
    if (net_trust_parse(list, &t, why, sizeof(why)) == GD_OK)
        return "";
    CHECK_INT(t.n, 0);
    return why;
}

/* The client for peer and XFF lines under list, as text. */
static const char *client(const char *list, const char *peer, const char *const *xff, size_t n)
{
    static char out[NET_ADDR_STRLEN];
    struct net_trust t = trust(list);
    struct net_addr p = addr(peer), c;
    net_client_addr(&t, &p, xff, n, &c);
    net_addr_format(&c, out, sizeof(out));
    return out;
}

static const char *client1(const char *list, const char *peer, const char *xff)
{
    return client(list, peer, &xff, xff ? 1 : 0);
}

TEST(parse_addresses)
{
    CHECK_STR(roundtrip("203.0.113.7"), "203.0.113.7");
    CHECK_STR(roundtrip("0.0.0.0"), "0.0.0.0");
    CHECK_STR(roundtrip("255.255.255.255"), "255.255.255.255");
    CHECK_STR(roundtrip("2001:db8::1"), "2001:db8::1");
    CHECK_STR(roundtrip("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
    CHECK_STR(roundtrip("[2001:db8::1]"), "2001:db8::1");
    CHECK_STR(roundtrip("::1"), "::1");
    CHECK_STR(roundtrip("::"), "::");
    /* A dual-stack socket's IPv4 peer: one spelling, the IPv4 one. */
    CHECK_STR(roundtrip("::ffff:127.0.0.1"), "127.0.0.1");
    CHECK_STR(roundtrip("::ffff:7f00:1"), "127.0.0.1");
    static const char *const junk[] = {
        "",
        " ",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.4:80",
        "[1.2.3.4]",
        "[::1]:443",
        "[::1",
        "::1]",
        "[]",
        "2001:db8::1::2",
        "2001:db8::g",
        "fe80::1%eth0",
        "unknown",
        "_hidden",
        "localhost",
        "0x7f.0.0.1",
        "1.2.3.4/32",
        "12345678901234567890123456789012345678901234567890123456789012345"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct net_addr a = {.family = 42};
        if (net_addr_parse(junk[i], strlen(junk[i]), &a) == GD_OK)
            fprintf(stderr, "accepted junk \"%s\"\n", junk[i]);
        CHECK_INT(a.family, 42); /* untouched */
    }
    /* Only len bytes are read. */
    struct net_addr a;
    CHECK_INT(net_addr_parse("10.1.2.3, 9.9.9.9", 8, &a), GD_OK);
    CHECK_INT(a.family, 4);
    CHECK_INT(a.b[3], 3);
}

TEST(from_sockaddr)
{
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct net_addr a;
    char t[NET_ADDR_STRLEN];
    memset(&in4, 0, sizeof(in4));
    in4.sin_family = AF_INET;
    inet_pton(AF_INET, "198.51.100.9", &in4.sin_addr);
    CHECK_INT(net_addr_from_sockaddr((struct sockaddr *)&in4, &a), GD_OK);
    net_addr_format(&a, t, sizeof(t));
    CHECK_STR(t, "198.51.100.9");
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:10.0.0.1", &in6.sin6_addr);
    CHECK_INT(net_addr_from_sockaddr((struct sockaddr *)&in6, &a), GD_OK);
    CHECK_INT(a.family, 4);
    inet_pton(AF_INET6, "2001:db8::5", &in6.sin6_addr);
    CHECK_INT(net_addr_from_sockaddr((struct sockaddr *)&in6, &a), GD_OK);
    net_addr_format(&a, t, sizeof(t));
    CHECK_STR(t, "2001:db8::5");
    struct sockaddr un = {.sa_family = AF_UNIX};
    CHECK_INT(net_addr_from_sockaddr(&un, &a), GD_EINVAL);
    CHECK_INT(net_addr_from_sockaddr(NULL, &a), GD_EINVAL);
    net_addr_format(&a, t, sizeof(t));
    CHECK_STR(t, "-");
}

TEST(prefix_edges)
{
    /* /0 holds every address of its family, and only of its family. */
    CHECK_INT(in("0.0.0.0/0", "1.2.3.4"), 1);
    CHECK_INT(in("0.0.0.0/0", "255.255.255.255"), 1);
    CHECK_INT(in("0.0.0.0/0", "2001:db8::1"), 0);
    CHECK_INT(in("::/0", "2001:db8::1"), 1);
    CHECK_INT(in("::/0", "1.2.3.4"), 0);
    /* /32 and a bare address are one host. */
    CHECK_INT(in("10.0.0.1/32", "10.0.0.1"), 1);
    CHECK_INT(in("10.0.0.1/32", "10.0.0.2"), 0);
    CHECK_INT(in("10.0.0.1", "10.0.0.1"), 1);
    CHECK_INT(in("10.0.0.1", "10.0.0.0"), 0);
    /* /24 boundaries. */
    CHECK_INT(in("192.168.1.0/24", "192.168.1.0"), 1);
    CHECK_INT(in("192.168.1.0/24", "192.168.1.255"), 1);
    CHECK_INT(in("192.168.1.0/24", "192.168.0.255"), 0);
    CHECK_INT(in("192.168.1.0/24", "192.168.2.0"), 0);
    /* A prefix not on a byte boundary. */
    CHECK_INT(in("172.16.0.0/12", "172.31.255.255"), 1);
    CHECK_INT(in("172.16.0.0/12", "172.32.0.0"), 0);
    CHECK_INT(in("172.16.0.0/12", "172.15.255.255"), 0);
    /* IPv6 /128, /64, /127. */
    CHECK_INT(in("2001:db8::1/128", "2001:db8::1"), 1);
    CHECK_INT(in("2001:db8::1/128", "2001:db8::2"), 0);
    CHECK_INT(in("::1", "::1"), 1);
    CHECK_INT(in("2001:db8:0:1::/64", "2001:db8:0:1:ffff:ffff:ffff:ffff"), 1);
    CHECK_INT(in("2001:db8:0:1::/64", "2001:db8:0:2::"), 0);
    CHECK_INT(in("2001:db8::/127", "2001:db8::1"), 1);
    CHECK_INT(in("2001:db8::/127", "2001:db8::2"), 0);
    /* A mapped prefix is its IPv4 network; mapped addresses match IPv4 ones. */
    CHECK_INT(in("::ffff:10.0.0.0/104", "10.200.0.1"), 1);
    CHECK_INT(in("::ffff:10.0.0.0/104", "11.0.0.1"), 0);
    CHECK_INT(in("127.0.0.1", "::ffff:127.0.0.1"), 1);
}

TEST(trust_lists)
{
    struct net_trust t = trust("");
    CHECK_INT(t.n, 0);
    t = trust("  ");
    CHECK_INT(t.n, 0);
    t = trust("127.0.0.1");
    CHECK_INT(t.n, 1);
    CHECK_INT(t.p[0].bits, 32);
    t = trust(" 10.0.0.0/8 ,\t::1, 2001:db8::/32,172.30.80.10 ");
    CHECK_INT(t.n, 4);
    CHECK_INT(t.p[2].bits, 32);
    CHECK_INT(t.p[2].addr.family, 6);
    CHECK_INT(in("10.0.0.0/8, 172.30.80.10", "172.30.80.10"), 1);
    CHECK_INT(in("10.0.0.0/8, 172.30.80.10", "172.30.80.11"), 0);
    CHECK_INT(in("10.0.0.0/8", "127.0.0.1"), 0);
    /* 64 items fit, 65 do not. */
    char list[2000] = "";
    for (int i = 0; i < NET_TRUST_MAX; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s10.0.%d.0/24", i ? "," : "",
                 i);
    t = trust(list);
    CHECK_INT(t.n, NET_TRUST_MAX);
    CHECK_INT(in(list, "10.0.63.200"), 1);
    CHECK_INT(in(list, "10.0.64.1"), 0);
    strcat(list, ",10.1.0.0/16");
    CHECK_STR(refusal(list), "more than 64 items");
}

TEST(trust_list_errors)
{
    CHECK_STR(refusal("10.0.0.0/33"),
              "\"10.0.0.0/33\": prefix length must be a number from 0 to 32");
    CHECK_STR(refusal("::/129"), "\"::/129\": prefix length must be a number from 0 to 128");
    CHECK_STR(refusal("127.0.0.1, 10.0.0.0/8, 300.1.1.1"),
              "\"300.1.1.1\": not an IPv4 or IPv6 address");
    CHECK_STR(refusal("10.0.0.1/8"),
              "\"10.0.0.1/8\": bits set past the /8 prefix (host part must be 0)");
    CHECK_STR(refusal("2001:db8::1/64"),
              "\"2001:db8::1/64\": bits set past the /64 prefix (host part must be 0)");
    CHECK_STR(refusal("127.0.0.1,"), "empty item at position 2 (stray comma?)");
    CHECK_STR(refusal(",127.0.0.1"), "empty item at position 1 (stray comma?)");
    CHECK_STR(refusal("127.0.0.1,,::1"), "empty item at position 2 (stray comma?)");
    CHECK_STR(refusal("garbage"), "\"garbage\": not an IPv4 or IPv6 address");
    CHECK_STR(refusal("10.0.0.0/"), "\"10.0.0.0/\": prefix length must be a number from 0 to 32");
    CHECK_STR(refusal("10.0.0.0/-8"),
              "\"10.0.0.0/-8\": prefix length must be a number from 0 to 32");
    CHECK_STR(refusal("10.0.0.0/+8"),
              "\"10.0.0.0/+8\": prefix length must be a number from 0 to 32");
    CHECK_STR(refusal("10.0.0.0/ 8"),
              "\"10.0.0.0/ 8\": prefix length must be a number from 0 to 32");
    CHECK_STR(refusal("10.0.0.0/8/8"),
              "\"10.0.0.0/8/8\": prefix length must be a number from 0 to 32");
    CHECK_STR(refusal("10.0.0.0/1000"),
              "\"10.0.0.0/1000\": prefix length must be a number from 0 to 32");
    CHECK_STR(refusal("/8"), "\"\": not an IPv4 or IPv6 address");
    CHECK_STR(refusal("127.0.0.1 10.0.0.1"), "\"127.0.0.1 10.0.0.1\": not an IPv4 or IPv6 address");
    CHECK_STR(refusal("127.0.0.1;10.0.0.1"), "\"127.0.0.1;10.0.0.1\": not an IPv4 or IPv6 address");
    CHECK_STR(refusal("localhost"), "\"localhost\": not an IPv4 or IPv6 address");
    CHECK_STR(refusal("0.0.0.0/0"), "");
    CHECK_STR(refusal("::/0"), "");
    CHECK_STR(refusal("1.2.3.4/32,::1/128"), "");
    struct net_trust t;
    CHECK_INT(net_trust_parse("bad", &t, NULL, 0), GD_EINVAL); /* why is optional */
}

TEST(untrusted_peer)
{
    /* Trust no one: XFF is never read. */
    CHECK_STR(client1("", "127.0.0.1", "6.6.6.6, 203.0.113.7"), "127.0.0.1");
    CHECK_STR(client1("10.0.0.0/8", "127.0.0.1", "6.6.6.6, 203.0.113.7"), "127.0.0.1");
    /* A peer just outside the trusted /24. */
    CHECK_STR(client1("192.168.1.0/24", "192.168.2.1", "203.0.113.7"), "192.168.2.1");
    CHECK_STR(client1("192.168.1.0/24", "192.168.1.255", "203.0.113.7"), "203.0.113.7");
    /* An IPv6 peer against an IPv4 list. */
    CHECK_STR(client1("0.0.0.0/0", "2001:db8::9", "203.0.113.7"), "2001:db8::9");
}

TEST(trusted_peer)
{
    /* No header: the peer. */
    CHECK_STR(client("127.0.0.1", "127.0.0.1", NULL, 0), "127.0.0.1");
    /* HAProxy's set-header: one entry. */
    CHECK_STR(client1("127.0.0.1", "127.0.0.1", "203.0.113.7"), "203.0.113.7");
    /* A client's spoofed leftmost entry is left of the real one: ignored. */
    CHECK_STR(client1("127.0.0.1", "127.0.0.1", "6.6.6.6, 203.0.113.7"), "203.0.113.7");
    CHECK_STR(client1("127.0.0.1", "127.0.0.1", "127.0.0.1, 203.0.113.7"), "203.0.113.7");
    /* A spoofed entry naming a trusted proxy does not make the real client trusted. */
    CHECK_STR(client1("127.0.0.1, 10.0.0.0/8", "127.0.0.1", "10.1.1.1, 203.0.113.7"),
              "203.0.113.7");
    /* Blanks around entries. */
    CHECK_STR(client1("127.0.0.1", "127.0.0.1", "  203.0.113.7\t"), "203.0.113.7");
    CHECK_STR(client1("127.0.0.1", "127.0.0.1", "[2001:db8::7]"), "2001:db8::7");
    CHECK_STR(client1("::1", "::1", "2001:db8::7"), "2001:db8::7");
    CHECK_STR(client1("127.0.0.1", "::ffff:127.0.0.1", "::ffff:203.0.113.7"), "203.0.113.7");
}

TEST(proxy_chains)
{
    const char *list = "127.0.0.1, 10.0.0.0/8, 2001:db8:1::/48";
    /* client -> CDN edge 10.9.9.9 -> LB 10.0.0.5 -> us, peer 127.0.0.1. */
    CHECK_STR(client1(list, "127.0.0.1", "203.0.113.7, 10.9.9.9, 10.0.0.5"), "203.0.113.7");
    CHECK_STR(client1(list, "127.0.0.1", "6.6.6.6, 203.0.113.7, 10.9.9.9, 10.0.0.5"),
              "203.0.113.7");
    CHECK_STR(client1(list, "10.0.0.5", "198.51.100.1, 2001:db8:1::9"), "198.51.100.1");
    /* Every entry trusted: the leftmost. */
    CHECK_STR(client1(list, "127.0.0.1", "10.0.0.3, 10.0.0.2, 10.0.0.1"), "10.0.0.3");
    /* An untrusted hop in the middle: it is the client, left of it is ignored. */
    CHECK_STR(client1(list, "127.0.0.1", "203.0.113.7, 192.0.2.1, 10.0.0.1"), "192.0.2.1");
    /* Several header lines read as one list, the last line nearest. */
    const char *lines[] = {"6.6.6.6", "203.0.113.7, 10.0.0.9", "10.0.0.1"};
    CHECK_STR(client(list, "127.0.0.1", lines, 3), "203.0.113.7");
    const char *lines2[] = {"203.0.113.7", "10.0.0.9"};
    CHECK_STR(client(list, "127.0.0.1", lines2, 2), "203.0.113.7");
    const char *lines3[] = {"10.0.0.3", "10.0.0.2"};
    CHECK_STR(client(list, "127.0.0.1", lines3, 2), "10.0.0.3");
}

TEST(junk_entries)
{
    const char *list = "127.0.0.1, 10.0.0.0/8";
    /* Junk right away: the peer. */
    CHECK_STR(client1(list, "127.0.0.1", "garbage"), "127.0.0.1");
    CHECK_STR(client1(list, "127.0.0.1", ""), "127.0.0.1");
    CHECK_STR(client1(list, "127.0.0.1", "   "), "127.0.0.1");
    CHECK_STR(client1(list, "127.0.0.1", "203.0.113.7,"), "127.0.0.1");
    CHECK_STR(client1(list, "127.0.0.1", "unknown"), "127.0.0.1");
    CHECK_STR(client1(list, "127.0.0.1", "203.0.113.7:5555"), "127.0.0.1");
    CHECK_STR(client1(list, "127.0.0.1", "for=203.0.113.7"), "127.0.0.1");
    /* Junk after trusted hops: the last good (trusted) one. */
    CHECK_STR(client1(list, "127.0.0.1", "203.0.113.7, junk, 10.0.0.2"), "10.0.0.2");
    CHECK_STR(client1(list, "127.0.0.1", "203.0.113.7, , 10.0.0.2"), "10.0.0.2");
    /* Junk left of the client is never looked at. */
    CHECK_STR(client1(list, "127.0.0.1", "junk, 203.0.113.7"), "203.0.113.7");
    CHECK_STR(client1(list, "127.0.0.1", "<script>, 999.1.1.1, 203.0.113.7, 10.0.0.2"),
              "203.0.113.7");
    /* A junk header line stops the walk before earlier lines. */
    const char *lines[] = {"203.0.113.7", "junk", "10.0.0.2"};
    CHECK_STR(client(list, "127.0.0.1", lines, 3), "10.0.0.2");
}

int main(void)
{
    RUN(parse_addresses);
    RUN(from_sockaddr);
    RUN(prefix_edges);
    RUN(trust_lists);
    RUN(trust_list_errors);
    RUN(untrusted_peer);
    RUN(trusted_peer);
    RUN(proxy_chains);
    RUN(junk_entries);
    return TEST_DONE();
}
