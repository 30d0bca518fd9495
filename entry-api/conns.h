/*
 * conns.h - the client connections of one worker: a cap, and an absolute
 * deadline on reading each request.
 *
 * libevent 2.1 has neither (PITFALLS): its timeouts are idle timers that
 * every byte resets, so a client dripping a header byte a second holds a
 * connection forever, and it accepts without limit.  Here every accepted
 * connection is tracked from evhttp's bufferevent callback; its close is
 * reported by evhttp's close callback.
 *   - Cap: at max open connections the listeners stop accepting (the kernel
 *     backlog holds newcomers) and resume when one closes.
 *   - Deadline: from a request's first byte (or the accept) until evhttp
 *     hands the complete request to the router, at most request_timeout_ms;
 *     past it the connection is closed.  While a request is being answered
 *     the clock is off, and it starts again with the next request's first
 *     byte.  Idle keep-alive connections are evhttp's idle timeout's job.
 */
#ifndef GD_CONNS_H
#define GD_CONNS_H

#include <event2/event.h>
#include <event2/http.h>

struct conns;
struct worker_metrics;

struct conns_opts {
    long max;                /* open connections before accepting pauses */
    long request_timeout_ms; /* first byte to complete request */
};

/* Track the connections of http (sets its bufferevent callback).  NULL on OOM. */
struct conns *conns_new(struct event_base *base, struct evhttp *http, const struct conns_opts *o,
                        struct worker_metrics *m);
/* Serve a listening socket (ownership passes to evhttp).  0 or GD_ENOMEM. */
int conns_listen(struct conns *c, evutil_socket_t fd);
/* Stop accepting for good and close the listening sockets; open connections stay. */
void conns_stop_accepting(struct conns *c);
/* The router got req: its connection's read deadline is off until it is answered. */
void conns_request_begins(struct conns *c, struct evhttp_request *req);
long conns_open(const struct conns *c);
/* After evhttp_free (which closes every connection and so frees their tracking). */
void conns_free(struct conns *c);

#endif
