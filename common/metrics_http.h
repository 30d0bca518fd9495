/*
 * metrics_http.h - a service's metrics endpoint (METRICS_ADDR): a small
 * libevent HTTP server that answers
 *   GET /metrics   200, whatever the service's render callback appends
 *                  (Prometheus text, see prom.h)
 *   GET /healthz   200 "ok" while the process serves
 *   other paths    404;  /metrics or /healthz with another method: 405
 *
 * Two ways to run it:
 *   - metrics_http_start(): on the service's own event_base (the notifier's
 *     loop).  render runs on that loop's thread and may read anything the
 *     loop owns; nothing else may call into the server.
 *   - metrics_http_start_thread(): on a thread of its own with its own
 *     event_base, for a service whose main loop blocks (stock-consumer).
 *     render runs on that thread: it may only read what is safe to read
 *     across threads (prom.h's counters, C11 atomics).  The thread blocks
 *     every signal, so SIGTERM reaches the service's own thread.
 *
 * Bounded like the public server (PITFALLS, libevent): headers 8 KiB,
 * bodies 4 KiB, 10 s idle timeout.  It is meant for loopback or a private
 * network: it has no authentication and no connection cap of its own.
 */
#ifndef GD_METRICS_HTTP_H
#define GD_METRICS_HTTP_H

struct event_base;
struct evbuffer;

/* Appends the text of one scrape to out. */
typedef void (*metrics_render_fn)(struct evbuffer *out, void *arg);

struct metrics_http; /* opaque */

/*
 * Listen on addr ("host:port", "[v6]:port"; port 0 picks a free one) and
 * serve on base.  *out is the caller's (metrics_http_stop).  Returns 0;
 * GD_ECONFIG when addr is not host:port, GD_EIO when it cannot be bound
 * (both logged, naming METRICS_ADDR), GD_ENOMEM.
 */
int metrics_http_start(struct event_base *base, const char *addr, metrics_render_fn render,
                       void *arg, struct metrics_http **out);
/* The same on a thread of its own (see above). */
int metrics_http_start_thread(const char *addr, metrics_render_fn render, void *arg,
                              struct metrics_http **out);
/* The bound port (useful after port 0). */
int metrics_http_port(const struct metrics_http *m);
/* Stop serving: joins the thread if any, frees everything.  NULL is fine.
 * With metrics_http_start(), call it before freeing base. */
void metrics_http_stop(struct metrics_http *m);

#endif
