/*
 * client_addr.c - the evhttp side of client_addr.h: the peer's socket
 * address and the X-Forwarded-For header lines, handed to netaddr.c.
 */
#include "client_addr.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "errors.h"

/* Header lines kept; with more, the rightmost (nearest) ones count. */
#define XFF_LINES_MAX 8

void client_addr_text(const struct net_trust *trusted, struct evhttp_request *req, char *out,
                      size_t cap)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    const struct sockaddr *sa = evcon ? evhttp_connection_get_addr(evcon) : NULL;
    struct net_addr peer, client;
    const char *xff[XFF_LINES_MAX];
    size_t n = 0;
    if (net_addr_from_sockaddr(sa, &peer) != GD_OK) {
        snprintf(out, cap, "-");
        return;
    }
    if (net_trust_contains(trusted, &peer)) {
        struct evkeyval *h;
        TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next)
        {
            if (strcasecmp(h->key, "X-Forwarded-For") != 0)
                continue;
            if (n == XFF_LINES_MAX) /* drop the leftmost line */
                memmove(xff, xff + 1, sizeof(xff[0]) * --n);
            xff[n++] = h->value;
        }
    }
    net_client_addr(trusted, &peer, xff, n, &client);
    net_addr_format(&client, out, cap);
}
