/*
 * http_ceiling - the HTTP ceilings entry-api is measured against
 * (bench/entry_bench), on this machine and in the same run:
 *
 *   trivial     every request is answered 202 with a tiny body, no work.
 *   entry-path  every POST publishes its body persistently, mandatory, with
 *               publisher confirms, to entry-api's exchange and routing key
 *               (event.entry / event.entry.<event>, bound to the quorum
 *               queue stock.entries), and is answered 202 only after the
 *               broker's ack (503 on a nack, a return or a lost connection).
 *               No gate, no validation, no JSON: what is left of an entry's
 *               path once entry-api's own work is taken away.
 *
 *   http_ceiling trivial|entry-path [--listen HOST:PORT] [--workers N]
 *                [--event ID] [--window N]
 *
 * --workers forks N processes, each with its own loop, its own SO_REUSEPORT
 * socket and its own AMQP connection (as entry-api's WORKERS).  The broker is
 * driven from the loop thread: publishes are written inline and the
 * connection's socket is a read event that pumps confirms, which is the
 * cheapest shape a confirmed publish can take here.  AMQP_URL comes from the
 * same settings table as entry-api's (common/config).  Runs until SIGTERM.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "rmq.h"
#include "topology.h"

#define HC_MAX_WORKERS 16
#define HC_SLOTS       65536 /* pending requests by confirm tag; > any window */
#define HC_BACKLOG     4096
#define HC_BODY        "{\"status\":\"accepted\"}"

struct hc_opts {
    int entry_path;
    const char *listen;
    int workers;
    long long event_id;
    long window;
};

/* One worker: its loop, HTTP server and (entry-path) AMQP connection. */
struct hc_worker {
    const struct hc_opts *o;
    const char *amqp_url;
    struct event_base *base;
    struct evhttp *http;
    struct rmq_conn conn;
    struct event *amqp_ev;
    char routing_key[64];
    struct evhttp_request *slot[HC_SLOTS]; /* request waiting on tag t: slot[t % HC_SLOTS] */
    unsigned char returned[HC_SLOTS];
    long in_flight;
};

static void answer(struct evhttp_request *req, int code)
{
    struct evbuffer *b = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(b, HC_BODY, sizeof(HC_BODY) - 1);
    evhttp_send_reply(req, code, code == 202 ? "Accepted" : "Service Unavailable", NULL);
}

static void on_confirm(void *arg, uint64_t tag, int ok)
{
    struct hc_worker *w = arg;
    size_t i = tag % HC_SLOTS;
    struct evhttp_request *req = w->slot[i];
    if (!req)
        return;
    w->slot[i] = NULL;
    w->in_flight--;
    answer(req, ok && !w->returned[i] ? 202 : 503);
}

static void on_return(void *arg, const char *message_id)
{
    struct hc_worker *w = arg;
    w->returned[strtoull(message_id, NULL, 10) % HC_SLOTS] = 1;
}

/* Fail everything in flight (the connection is gone). */
static void fail_all(struct hc_worker *w)
{
    for (size_t i = 0; i < HC_SLOTS; i++)
        if (w->slot[i]) {
            answer(w->slot[i], 503);
            w->slot[i] = NULL;
        }
    w->in_flight = 0;
}

static void pump(struct hc_worker *w)
{
    struct rmq_confirm_handler h = {on_confirm, on_return, w};
    do {
        if (rmq_pump(&w->conn, 0, &h) < 0) {
            fprintf(stderr, "http_ceiling: broker connection lost: %s\n", w->conn.err);
            fail_all(w);
            event_base_loopbreak(w->base);
            return;
        }
    } while (rmq_buffered(&w->conn));
}

static void on_amqp(evutil_socket_t fd, short what, void *arg)
{
    pump(arg);
}

static void publish(struct hc_worker *w, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const void *body = len ? (const void *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
    char id[24];
    uint64_t tag = 0;
    if (w->in_flight >= w->o->window)
        pump(w); /* only when over the window: normally the read event does it */
    snprintf(id, sizeof(id), "%llu", (unsigned long long)(w->conn.next_tag + 1));
    struct rmq_props p = {id, "entry.v1", "http-ceiling", 0, w->o->event_id, NULL, NULL};
    if (rmq_publish(&w->conn, EX_ENTRY, w->routing_key, 1, &p, body, len, &tag) != GD_OK) {
        answer(req, 503);
        return;
    }
    w->slot[tag % HC_SLOTS] = req;
    w->returned[tag % HC_SLOTS] = 0;
    w->in_flight++;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct hc_worker *w = arg;
    if (w->o->entry_path && evhttp_request_get_command(req) == EVHTTP_REQ_POST)
        publish(w, req);
    else
        answer(req, 202);
}

static int bind_port(const char *listen_addr)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int on = 1, fd;
    if (!colon || (size_t)(colon - listen_addr) >= sizeof(host))
        return -1;
    memcpy(host, listen_addr, (size_t)(colon - listen_addr));
    host[colon - listen_addr] = '\0';
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, HC_BACKLOG) != 0) {
        fprintf(stderr, "http_ceiling: cannot listen on %s: %s\n", listen_addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int open_broker(struct hc_worker *w)
{
    struct rmq_opts o = {w->amqp_url, "http-ceiling", "bench", "publish", 0, 5000};
    if (rmq_open_publisher(&w->conn, &o) != GD_OK) {
        fprintf(stderr, "http_ceiling: broker: %s\n", w->conn.err);
        return -1;
    }
    snprintf(w->routing_key, sizeof(w->routing_key), "event.entry.%lld", w->o->event_id);
    w->amqp_ev = event_new(w->base, rmq_fd(&w->conn), EV_READ | EV_PERSIST, on_amqp, w);
    return w->amqp_ev && event_add(w->amqp_ev, NULL) == 0 ? 0 : -1;
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static int run_worker(const struct hc_opts *o, const char *amqp_url)
{
    struct hc_worker *w = calloc(1, sizeof(*w));
    int fd = bind_port(o->listen), rc = 1;
    if (!w || fd < 0)
        goto out;
    w->o = o;
    w->amqp_url = amqp_url;
    struct event_config *ec = event_config_new(); /* as entry-api's workers */
    if (!ec)
        goto out;
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    w->http = w->base ? evhttp_new(w->base) : NULL;
    if (!w->http || !evhttp_accept_socket_with_handle(w->http, fd))
        goto out;
    fd = -1;
    evhttp_set_gencb(w->http, on_request, w);
    if (o->entry_path && open_broker(w) != 0)
        goto out;
    struct event *term = evsignal_new(w->base, SIGTERM, on_term, w->base);
    struct event *intr = evsignal_new(w->base, SIGINT, on_term, w->base);
    if (term && intr && event_add(term, NULL) == 0 && event_add(intr, NULL) == 0)
        rc = event_base_dispatch(w->base) < 0;
    event_free(term);
    event_free(intr);
out:
    if (fd >= 0)
        close(fd);
    if (w && w->amqp_ev)
        event_free(w->amqp_ev);
    if (w && o->entry_path)
        rmq_close(&w->conn);
    if (w && w->http)
        evhttp_free(w->http);
    if (w && w->base)
        event_base_free(w->base);
    free(w);
    return rc;
}

static int parse_args(int argc, char **argv, struct hc_opts *o)
{
    *o = (struct hc_opts){0, "127.0.0.1:18090", 1, 1, 1000};
    if (argc < 2 || (strcmp(argv[1], "trivial") && strcmp(argv[1], "entry-path")))
        return -1;
    o->entry_path = argv[1][0] == 'e';
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--listen"))
            o->listen = argv[i + 1];
        else if (!strcmp(argv[i], "--workers"))
            o->workers = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--event"))
            o->event_id = strtoll(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--window"))
            o->window = strtol(argv[i + 1], NULL, 10);
        else
            return -1;
    }
    if (argc % 2 != 0 || o->workers < 1 || o->workers > HC_MAX_WORKERS || o->event_id < 1 ||
        o->window < 1 || o->window >= HC_SLOTS)
        return -1;
    return 0;
}

static const char *env(const char *name)
{
    return getenv(name);
}

int main(int argc, char **argv)
{
    struct hc_opts o;
    struct gd_config cfg;
    char err[1024];
    pid_t pid[HC_MAX_WORKERS];
    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: http_ceiling trivial|entry-path [--listen HOST:PORT] "
                        "[--workers N (1..16)] [--event ID] [--window N]\n");
        return 2;
    }
    if (cfg_load(&cfg, CFG_ENTRY_API, env, err, sizeof(err)) != GD_OK) {
        fprintf(stderr, "http_ceiling: %s\n", err);
        cfg_free(&cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (o.workers == 1) {
        int rc = run_worker(&o, cfg.amqp_url);
        cfg_free(&cfg);
        return rc;
    }
    /* The parent forwards SIGTERM/SIGINT to the workers and waits for them. */
    sigset_t set;
    int sig, rc = 0, st;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < o.workers; i++) {
        pid[i] = fork();
        if (pid[i] == 0) {
            sigprocmask(SIG_UNBLOCK, &set, NULL);
            _exit(run_worker(&o, cfg.amqp_url));
        }
    }
    sigwait(&set, &sig);
    for (int i = 0; i < o.workers; i++)
        if (pid[i] > 0)
            kill(pid[i], SIGTERM);
    for (int i = 0; i < o.workers; i++)
        if (pid[i] > 0 && (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)))
            rc = 1;
    cfg_free(&cfg);
    return rc;
}
