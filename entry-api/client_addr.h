/*
 * client_addr.h - who sent a request: the TCP peer, or the address a trusted
 * proxy put in X-Forwarded-For (TRUSTED_PROXIES; the rule is in
 * common/netaddr.h).  Used for the `client` field of request log lines;
 * per-address limiting is HAProxy's job, not entry-api's.
 */
#ifndef GD_CLIENT_ADDR_H
#define GD_CLIENT_ADDR_H

#include <stddef.h>

#include <event2/http.h>

#include "netaddr.h"

/*
 * The client address of req as text into out (NET_ADDR_STRLEN bytes
 * suffice); "-" when the connection is already gone.  Reads only the peer
 * and the X-Forwarded-For lines (never `Forwarded`); call it before the
 * reply is sent, since evhttp may free req while sending.
 */
void client_addr_text(const struct net_trust *trusted, struct evhttp_request *req, char *out,
                      size_t cap);

#endif
