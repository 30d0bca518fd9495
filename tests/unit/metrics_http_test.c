/*
 * metrics_http_test.c - tests for common/metrics_http.c over real loopback
 * sockets: GET /metrics answers 200 with the render callback's text and the
 * Prometheus content type, /healthz 200, another path 404, another method
 * 405 with Allow (HEAD included); both ways of running (own thread,
 * caller's event_base), IPv4 and IPv6; METRICS_ADDR values that are not host:port are
 * refused, and a port in use fails to start.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "errors.h"
#include "log.h"
#include "metrics_http.h"
#include "test.h"

static atomic_int renders;

static void render(struct evbuffer *out, void *arg)
{
    atomic_fetch_add(&renders, 1);
    evbuffer_add_printf(out, "# TYPE %s counter\n%s 42\n", (const char *)arg, (const char *)arg);
}

/* One HTTP/1.0 exchange with 127.0.0.1:port; the whole answer into out. */
static int exchange(int port, const char *request, char *out, size_t cap)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t n = 0;
    ssize_t r;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while (n + 1 < cap && (r = read(fd, out + n, cap - n - 1)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fd);
    return atoi(strchr(out, ' ') ? strchr(out, ' ') + 1 : "0"); /* "HTTP/1.1 200 OK" */
}

/* The answers every server gives, whichever way it runs. */
static void check_routes(int port, const char *family)
{
    char ans[4096], want[128];
    int before = atomic_load(&renders);
    CHECK_INT(exchange(port, "GET /metrics HTTP/1.0\r\n\r\n", ans, sizeof(ans)), 200);
    snprintf(want, sizeof(want), "\r\n\r\n# TYPE %s counter\n%s 42\n", family, family);
    CHECK(strstr(ans, want) != NULL);
    CHECK(strstr(ans, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != NULL);
    CHECK_INT(atomic_load(&renders), before + 1);
    CHECK_INT(exchange(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n", ans, sizeof(ans)), 200);
    CHECK_INT(exchange(port, "GET /healthz HTTP/1.0\r\n\r\n", ans, sizeof(ans)), 200);
    CHECK(strstr(ans, "\r\n\r\nok\n") != NULL);
    CHECK_INT(exchange(port, "GET /metricsx HTTP/1.0\r\n\r\n", ans, sizeof(ans)), 404);
    CHECK_INT(exchange(port, "GET / HTTP/1.0\r\n\r\n", ans, sizeof(ans)), 404);
    CHECK_INT(
        exchange(port, "POST /metrics HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", ans, sizeof(ans)),
        405);
    CHECK(strstr(ans, "Allow: GET\r\n") != NULL);
    CHECK_INT(exchange(port, "DELETE /healthz HTTP/1.0\r\n\r\n", ans, sizeof(ans)), 405);
    CHECK_INT(exchange(port, "HEAD /metrics HTTP/1.0\r\n\r\n", ans, sizeof(ans)), 405);
    CHECK_INT(atomic_load(&renders), before + 2);
}

TEST(own_thread)
{
    struct metrics_http *m = NULL;
    CHECK_INT(metrics_http_start_thread("127.0.0.1:0", render, "t_thread_total", &m), GD_OK);
    CHECK(m != NULL);
    int port = metrics_http_port(m);
    CHECK(port > 0);
    check_routes(port, "t_thread_total");
    /* The same port again: in use. */
    char addr[32];
    struct metrics_http *m2 = (struct metrics_http *)1;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    CHECK_INT(metrics_http_start_thread(addr, render, "x", &m2), GD_EIO);
    CHECK(m2 == NULL);
    metrics_http_stop(m);
    char ans[256];
    CHECK_INT(exchange(port, "GET /metrics HTTP/1.0\r\n\r\n", ans, sizeof(ans)), -1); /* closed */
}

static atomic_int stop_loop;

static void *dispatch(void *arg)
{
    event_base_dispatch(arg);
    return NULL;
}

/* evhttp is not thread-safe: the loop stops itself when the test says so. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    if (atomic_load(&stop_loop))
        event_base_loopbreak(arg);
}

TEST(callers_base)
{
    struct event_base *base = event_base_new();
    struct metrics_http *m = NULL;
    pthread_t t;
    CHECK_INT(metrics_http_start(base, ":0", render, "t_base_total", &m), GD_OK); /* any address */
    int port = metrics_http_port(m);
    CHECK(port > 0);
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, base);
    struct timeval tv = {0, 20000};
    event_add(tick, &tv);
    atomic_store(&stop_loop, 0);
    pthread_create(&t, NULL, dispatch, base);
    check_routes(port, "t_base_total");
    atomic_store(&stop_loop, 1);
    pthread_join(t, NULL);
    metrics_http_stop(m);
    event_free(tick);
    event_base_free(base);
}

TEST(ipv6)
{
    struct metrics_http *m = NULL;
    CHECK_INT(metrics_http_start_thread("[::1]:0", render, "x", &m), GD_OK);
    CHECK(metrics_http_port(m) > 0);
    metrics_http_stop(m);
}

TEST(bad_addresses)
{
    static const char *const bad[] = {
        "",        "nonsense",   "127.0.0.1", "127.0.0.1:", "host:80x",
        "host:-1", "host:65536", "::1:80",    "[::1]80",    "127.0.0.1: 80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct metrics_http *m = (struct metrics_http *)1;
        int rc = metrics_http_start_thread(bad[i], render, "x", &m);
        if (rc != GD_ECONFIG)
            fprintf(stderr, "\"%s\" gave %d\n", bad[i], rc);
        CHECK_INT(rc, GD_ECONFIG);
        CHECK(m == NULL);
    }
    metrics_http_stop(NULL);
    CHECK_INT(metrics_http_port(NULL), -1);
}

int main(void)
{
    log_init("metrics_http_test", LOG_LVL_WARN);
    RUN(own_thread);
    RUN(callers_base);
    RUN(ipv6);
    RUN(bad_addresses);
    return TEST_DONE();
}
