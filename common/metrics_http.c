/*
 * metrics_http.c - the metrics endpoint of a service (metrics_http.h).
 */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "errors.h"
#include "log.h"
#include "problem.h"

#define STOP_CHECK_MS 100 /* how soon the thread notices metrics_http_stop() */

struct metrics_http {
    struct event_base *base;
    int own_base;   /* threaded: the base and the tick are ours */
    int has_thread; /* ... and a thread to join */
    struct evhttp *http;
    int port;
    metrics_render_fn render;
    void *arg;
    struct event *tick;
    pthread_t thread;
    atomic_int stop;
    char addr[160];
};

/* "host:port" or "[v6]:port" into host and port; "" host = every IPv4 interface. */
static int split_addr(const char *addr, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(addr, ':');
    char *end;
    if (!colon || colon[1] == '\0' || (size_t)(colon - addr) >= cap)
        return GD_ECONFIG;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end != '\0' || colon[1] < '0' || colon[1] > '9' || p < 0 || p > 65535)
        return GD_ECONFIG;
    size_t len = (size_t)(colon - addr);
    if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']') {
        addr++;
        len -= 2;
    } else if (memchr(addr, ':', len)) {
        return GD_ECONFIG; /* an IPv6 address needs its brackets */
    }
    memcpy(host, addr, len);
    host[len] = '\0';
    if (!host[0])
        snprintf(host, cap, "0.0.0.0");
    *port = (int)p;
    return GD_OK;
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    if (b)
        evbuffer_add(b, text, strlen(text));
    evhttp_send_reply(req, code, reason, b);
    if (b)
        evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct metrics_http *m = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    int metrics = path && strcmp(path, "/metrics") == 0;
    if (!metrics && !(path && strcmp(path, "/healthz") == 0)) {
        reply_text(req, 404, "Not Found", "not found: try /metrics\n");
        return;
    }
    if (cmd != EVHTTP_REQ_GET) { /* HEAD too: libevent 2.1 would send the body anyway */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
        reply_text(req, 405, "Method Not Allowed", "method not allowed\n");
        return;
    }
    if (!metrics) {
        reply_text(req, 200, "OK", "ok\n");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        problem_send(req, PB_UNAVAILABLE, "out of memory", 1);
        return;
    }
    m->render(b, m->arg);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* The port the socket got (METRICS_ADDR may say 0). */
static int bound_port(struct evhttp_bound_socket *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    evutil_socket_t fd = evhttp_bound_socket_get_fd(s);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
}

/* Create the evhttp on m->base and bind it. */
static int listen_on(struct metrics_http *m)
{
    char host[128];
    int port;
    if (split_addr(m->addr, host, sizeof(host), &port) != GD_OK) {
        log_error(NULL, "METRICS_ADDR \"%s\" is not host:port", m->addr);
        return GD_ECONFIG;
    }
    m->http = evhttp_new(m->base);
    if (!m->http)
        return GD_ENOMEM;
    /* Every method the parser knows reaches on_request, which answers 405
     * (libevent itself would answer 501 to a method not allowed here). */
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(m->http, 8192);
    evhttp_set_max_body_size(m->http, 4096);
    evhttp_set_timeout(m->http, 10);
    evhttp_set_gencb(m->http, on_request, m);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(m->http, host, (uint16_t)port);
    if (!s) {
        log_error(NULL, "METRICS_ADDR %s: cannot listen: %s", m->addr, strerror(errno));
        return GD_EIO;
    }
    m->port = bound_port(s);
    log_info(NULL, "metrics on http://%s/metrics", m->addr);
    return GD_OK;
}

static struct metrics_http *new_server(const char *addr, metrics_render_fn render, void *arg)
{
    struct metrics_http *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    snprintf(m->addr, sizeof(m->addr), "%s", addr);
    m->render = render;
    m->arg = arg;
    atomic_init(&m->stop, 0);
    return m;
}

int metrics_http_start(struct event_base *base, const char *addr, metrics_render_fn render,
                       void *arg, struct metrics_http **out)
{
    struct metrics_http *m = new_server(addr, render, arg);
    *out = NULL;
    if (!m)
        return GD_ENOMEM;
    m->base = base;
    int rc = listen_on(m);
    if (rc != GD_OK) {
        metrics_http_stop(m);
        return rc;
    }
    *out = m;
    return GD_OK;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct metrics_http *m = arg;
    if (atomic_load(&m->stop))
        event_base_loopbreak(m->base);
}

static void *serve(void *arg)
{
    struct metrics_http *m = arg;
    event_base_dispatch(m->base);
    return NULL;
}

/* Start the thread with every signal blocked (it inherits the mask). */
static int start_thread(struct metrics_http *m)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&m->thread, NULL, serve, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        log_error(NULL, "metrics thread: %s", strerror(err));
        return GD_ENOMEM;
    }
    return GD_OK;
}

int metrics_http_start_thread(const char *addr, metrics_render_fn render, void *arg,
                              struct metrics_http **out)
{
    struct metrics_http *m = new_server(addr, render, arg);
    struct timeval tv = {0, STOP_CHECK_MS * 1000};
    int rc = GD_ENOMEM;
    *out = NULL;
    if (!m)
        return GD_ENOMEM;
    m->own_base = 1;
    m->base = event_base_new();
    if (m->base)
        m->tick = event_new(m->base, -1, EV_PERSIST, on_tick, m);
    if (m->tick && event_add(m->tick, &tv) == 0)
        rc = listen_on(m);
    if (rc == GD_OK && (rc = start_thread(m)) == GD_OK) {
        m->has_thread = 1;
        *out = m;
        return GD_OK;
    }
    metrics_http_stop(m);
    return rc;
}

int metrics_http_port(const struct metrics_http *m)
{
    return m ? m->port : -1;
}

void metrics_http_stop(struct metrics_http *m)
{
    if (!m)
        return;
    if (m->has_thread) {
        atomic_store(&m->stop, 1);
        pthread_join(m->thread, NULL);
    }
    if (m->http)
        evhttp_free(m->http);
    if (m->tick)
        event_free(m->tick);
    if (m->own_base && m->base)
        event_base_free(m->base);
    free(m);
}
