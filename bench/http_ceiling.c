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
 *   gate-path   entry-path plus the two steps the contract requires of every
 *               entry before its publish: the bearer token checked (HS256,
 *               JWT_SECRET) and one EVALSHA of entry-api's own gate.lua
 *               (DESIGN §5 keys, RATE_LIMIT/RATE_WINDOW_MS); published only
 *               when the gate says accepted or pending, else answered 409.
 *               No survey, no entry JSON, no metrics, no log, no rollback:
 *               the cheapest program that does what DESIGN asks of an entry.
 *
 *   http_ceiling trivial|entry-path|gate-path [--listen HOST:PORT]
 *                [--workers N] [--event ID] [--window N]
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
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>

#include "config.h"
#include "errors.h"
#include "jwt.h"
#include "log.h"
#include "rds.h"
#include "rmq.h"
#include "timeutil.h"
#include "topology.h"
#include "uuid.h"

#define HC_MAX_WORKERS 16
#define HC_SLOTS       65536 /* pending requests by confirm tag; > any window */
#define HC_BACKLOG     4096
#define HC_BODY        "{\"status\":\"accepted\"}"

enum hc_mode { HC_TRIVIAL, HC_ENTRY_PATH, HC_GATE_PATH };

struct hc_opts {
    enum hc_mode mode;
    const char *listen;
    int workers;
    long long event_id;
    long window;
};

/* One worker: its loop, HTTP server, AMQP connection (not trivial) and Redis (gate-path). */
struct hc_worker {
    const struct hc_opts *o;
    const struct gd_config *cfg;
    struct event_base *base;
    struct evhttp *http;
    struct rmq_conn conn;
    struct event *amqp_ev;
    redisAsyncContext *redis; /* gate-path; NULL once lost (hiredis freed it) */
    struct jwt_verifier jwt;
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
    evhttp_send_reply(req, code,
                      code == 202   ? "Accepted"
                      : code == 401 ? "Unauthorized"
                      : code == 409 ? "Conflict"
                                    : "Service Unavailable",
                      NULL);
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

/* gate-path: a request waiting on its gate call. */
struct gate_wait {
    struct hc_worker *w;
    struct evhttp_request *req;
};

static void on_gate(redisAsyncContext *ac, void *reply, void *arg)
{
    struct gate_wait *gw = arg;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        answer(gw->req, 503);
    else if (!strcmp(r->element[0]->str, "accepted") || !strcmp(r->element[0]->str, "pending"))
        publish(gw->w, gw->req);
    else
        answer(gw->req, 409);
    free(gw);
}

/* The token, then one EVALSHA of gate.lua with entry-api's keys and arguments. */
static void gate_then_publish(struct hc_worker *w, struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    struct jwt_claims c;
    if (!w->redis) {
        answer(req, 503);
        return;
    }
    if (jwt_verify_bearer(&w->jwt, h, time_now_ms() / 1000, &c) != GD_OK) {
        answer(req, 401);
        return;
    }
    char id[UUID_STR_LEN];
    struct rds_gate_args g;
    struct gate_wait *gw = malloc(sizeof(*gw));
    if (!gw || uuid_v7(id) != GD_OK) {
        free(gw);
        answer(req, 503);
        return;
    }
    *gw = (struct gate_wait){w, req};
    rds_gate_args(&g, w->o->event_id, c.sub, id, w->cfg->rate_limit, w->cfg->rate_window_ms);
    const char *argv[14] = {"EVALSHA", script_get(SCRIPT_GATE)->sha, "7"};
    memcpy(argv + 3, g.argv, sizeof(g.argv));
    if (redisAsyncCommandArgv(w->redis, on_gate, gw, 14, argv, NULL) != REDIS_OK) {
        free(gw);
        answer(req, 503);
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct hc_worker *w = arg;
    if (w->o->mode == HC_TRIVIAL || evhttp_request_get_command(req) != EVHTTP_REQ_POST)
        answer(req, 202);
    else if (w->o->mode == HC_ENTRY_PATH)
        publish(w, req);
    else
        gate_then_publish(w, req);
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
    struct rmq_opts o = {w->cfg->amqp_url, "http-ceiling", "bench", "publish", 0, 5000};
    if (rmq_open_publisher(&w->conn, &o) != GD_OK) {
        fprintf(stderr, "http_ceiling: broker: %s\n", w->conn.err);
        return -1;
    }
    snprintf(w->routing_key, sizeof(w->routing_key), "event.entry.%lld", w->o->event_id);
    w->amqp_ev = event_new(w->base, rmq_fd(&w->conn), EV_READ | EV_PERSIST, on_amqp, w);
    return w->amqp_ev && event_add(w->amqp_ev, NULL) == 0 ? 0 : -1;
}

static void on_redis_lost(const redisAsyncContext *ac, int status)
{
    struct hc_worker *w = ac->data;
    if (status != REDIS_OK)
        fprintf(stderr, "http_ceiling: redis connection lost: %s\n", ac->errstr);
    w->redis = NULL; /* hiredis frees the context after this returns */
}

/* gate-path: load the scripts (blocking, once), then one async connection. */
static int open_redis(struct hc_worker *w)
{
    const struct gd_config *cfg = w->cfg;
    struct rds r = {0};
    struct rds_addr a;
    char err[512];
    if (cfg_jwt_verifier(cfg, &w->jwt, err, sizeof(err)) != GD_OK) {
        fprintf(stderr, "http_ceiling: JWT settings refused: %s\n", err);
        return -1;
    }
    int rc = rds_connect(&r, cfg->redis_url, 2000);
    if (rc != GD_OK)
        fprintf(stderr, "http_ceiling: redis: %s\n", r.err);
    rds_close(&r);
    if (rc != GD_OK || rds_parse_url(cfg->redis_url, &a) != GD_OK)
        return -1;
    w->redis = redisAsyncConnect(a.host, a.port);
    if (!w->redis || w->redis->err || redisLibeventAttach(w->redis, w->base) != REDIS_OK) {
        fprintf(stderr, "http_ceiling: redis: cannot connect\n");
        return -1;
    }
    w->redis->data = w;
    redisAsyncSetDisconnectCallback(w->redis, on_redis_lost);
    if (a.password[0])
        redisAsyncCommand(w->redis, NULL, NULL, "AUTH %s", a.password);
    if (a.db)
        redisAsyncCommand(w->redis, NULL, NULL, "SELECT %d", a.db);
    return 0;
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static int run_worker(const struct hc_opts *o, const struct gd_config *cfg)
{
    struct hc_worker *w = calloc(1, sizeof(*w));
    int fd = bind_port(o->listen), rc = 1;
    if (!w || fd < 0)
        goto out;
    w->o = o;
    w->cfg = cfg;
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
    if (o->mode != HC_TRIVIAL && open_broker(w) != 0)
        goto out;
    if (o->mode == HC_GATE_PATH && open_redis(w) != 0)
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
    if (w && w->redis)
        redisAsyncFree(w->redis); /* answers what still waits with a NULL reply */
    if (w && o->mode != HC_TRIVIAL)
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
    static const char *const modes[] = {"trivial", "entry-path", "gate-path"};
    *o = (struct hc_opts){HC_TRIVIAL, "127.0.0.1:18090", 1, 1, 1000};
    if (argc < 2)
        return -1;
    for (o->mode = HC_TRIVIAL; o->mode <= HC_GATE_PATH; o->mode++)
        if (!strcmp(argv[1], modes[o->mode]))
            break;
    if (o->mode > HC_GATE_PATH)
        return -1;
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
        fprintf(stderr, "usage: http_ceiling trivial|entry-path|gate-path [--listen HOST:PORT] "
                        "[--workers N (1..16)] [--event ID] [--window N]\n");
        return 2;
    }
    if (cfg_load(&cfg, CFG_ENTRY_API, env, err, sizeof(err)) != GD_OK) {
        fprintf(stderr, "http_ceiling: %s\n", err);
        cfg_free(&cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    scripts_init();
    if (o.workers == 1) {
        int rc = run_worker(&o, &cfg);
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
            _exit(run_worker(&o, &cfg));
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
