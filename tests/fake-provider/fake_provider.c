/*
 * fake_provider.c - gd-fake-provider: a fake KakaoTalk AlimTalk / SMS
 * provider (modelled on NHN Cloud's Notification APIs) for giftdrop's tests
 * and demo.  It answers like a real provider - latency, failures, hung
 * requests, idempotency keys - and records what it was asked to send.
 *
 * Single-threaded libevent loop; nothing blocks it (latency is evtimers).
 * Files: fp_options (flags), fp_routes (router, lookups, test control),
 * fp_send (send endpoints), fp_reply (deferred replies), fp_store (ledger,
 * counters, records), fp_restore (ledger from the record file), fp_map
 * (hash map), fp_base (alloc, clock, log).  With --tls-cert/--tls-key it
 * serves HTTPS through bufferevent_openssl.
 *
 * Exit status: 0 after SIGINT/SIGTERM, 2 on bad flags, 1 when start-up
 * fails (cannot listen, cannot open the record file).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "fp_app.h"
#include "fp_base.h"
#include "fp_options.h"
#include "fp_reply.h"
#include "fp_restore.h"
#include "fp_routes.h"

#define MAX_BODY_BYTES    (64 * 1024)
#define MAX_HEADER_BYTES  (16 * 1024)
#define IDLE_TIMEOUT_S    60   /* must exceed FP_HOLD_MS; reading is off while a request is held */
#define LISTEN_BACKLOG    1024 /* libevent's default of 128 drops bursts of connects */
#define CRON_INTERVAL_S   60
#define SHUTDOWN_FLUSH_US 200000

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct fp_app *app = arg;
    (void)what;
    fp_log("info", "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
    /* Answer delayed replies now (held ones are closed) and give the loop
     * a moment to flush them; app_free ends whatever arrives meanwhile. */
    fp_reply_drain(app);
    struct timeval flush = {.tv_sec = 0, .tv_usec = SHUTDOWN_FLUSH_US};
    event_base_loopexit(app->base, &flush);
}

static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    struct fp_app *app = arg;
    (void)fd;
    (void)what;
    fp_store_expire_keys(&app->store, fp_mono_ms(), (int64_t)app->opt->idempotency_window_s * 1000);
}

/* Listens on --listen; logs the bound address (useful with port 0). */
static int app_listen(struct fp_app *app)
{
    const struct fp_options *opt = app->opt;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, opt->listen_host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)opt->listen_port);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, opt->listen_host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)opt->listen_port);
        len = sizeof(*v6);
    } else {
        return -1; /* fp_options_parse already refused it */
    }
    unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_CLOSE_ON_FREE;
    struct evconnlistener *listener = evconnlistener_new_bind(
        app->base, NULL, NULL, flags, LISTEN_BACKLOG, (struct sockaddr *)&ss, (int)len);
    if (listener == NULL) {
        fp_log("error", "cannot listen", "listen", opt->listen);
        return -1;
    }
    evhttp_bind_listener(app->http, listener); /* evhttp_free frees it */

    char host[INET6_ADDRSTRLEN], addr[INET6_ADDRSTRLEN + 16];
    len = sizeof(ss);
    getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&ss, &len);
    if (ss.ss_family == AF_INET6)
        snprintf(addr, sizeof(addr), "[%s]:%u",
                 inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host)), ntohs(v6->sin6_port));
    else
        snprintf(addr, sizeof(addr), "%s:%u", inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host)),
                 ntohs(v4->sin_port));
    fp_log("info", "listening", "addr", addr);
    return 0;
}

/* evhttp asks for each accepted connection's bufferevent: a TLS one. */
static struct bufferevent *tls_bufferevent(struct event_base *base, void *arg)
{
    SSL *ssl = SSL_new(arg);
    if (ssl == NULL)
        return NULL;
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

/* Loads the certificate chain and key; logs OpenSSL's reason on failure. */
static int tls_init(struct fp_app *app)
{
    const struct fp_options *opt = app->opt;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    app->tls = ctx;
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, opt->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, opt->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char why[256];
        ERR_error_string_n(ERR_get_error(), why, sizeof(why));
        fp_log("error", "cannot load TLS certificate or key", "openssl", why);
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    evhttp_set_bevcb(app->http, tls_bufferevent, ctx);
    return 0;
}

static struct event *add_event(struct fp_app *app, evutil_socket_t fd, short what,
                               event_callback_fn cb, const struct timeval *tv)
{
    struct event *ev = event_new(app->base, fd, what, cb, app);
    event_add(ev, tv);
    return ev;
}

/* Builds everything; on failure the caller still calls app_free. */
static int app_init(struct fp_app *app, const struct fp_options *opt)
{
    memset(app, 0, sizeof(*app));
    app->opt = opt;
    app->inj = opt->inj;
    fp_store_init(&app->store);
    fp_rng_seed(&app->rng_fault, opt->seed, FP_STREAM_FAULT);
    fp_rng_seed(&app->rng_latency, opt->seed, FP_STREAM_LATENCY);
    fp_rng_seed(&app->rng_id, opt->seed, FP_STREAM_ID);

    app->base = event_base_new();
    app->http = evhttp_new(app->base);
    if (app->base == NULL || app->http == NULL)
        return -1;
    evhttp_set_gencb(app->http, fp_routes_dispatch, app);
    evhttp_set_max_body_size(app->http, MAX_BODY_BYTES);
    evhttp_set_max_headers_size(app->http, MAX_HEADER_BYTES);
    evhttp_set_timeout(app->http, IDLE_TIMEOUT_S);
    /* Let every common method through to the router, which answers 405
     * with an Allow header (libevent's own refusal has none). */
    evhttp_set_allowed_methods(app->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    if (opt->tls_cert != NULL && tls_init(app) != 0)
        return -1;
    if (opt->restore && fp_restore(app) < 0) {
        fp_log("error", "cannot read record file to restore", "path", opt->record_path);
        return -1;
    }
    if (opt->record_path != NULL) {
        app->record_file = fopen(opt->record_path, "a");
        if (app->record_file == NULL) {
            fp_log("error", "cannot open record file", "path", opt->record_path);
            return -1;
        }
    }
    if (app_listen(app) != 0)
        return -1;

    struct timeval cron_tv = {.tv_sec = CRON_INTERVAL_S};
    app->sigint = add_event(app, SIGINT, EV_SIGNAL | EV_PERSIST, on_signal, NULL);
    app->sigterm = add_event(app, SIGTERM, EV_SIGNAL | EV_PERSIST, on_signal, NULL);
    app->cron = add_event(app, -1, EV_PERSIST, on_cron, &cron_tv);
    return 0;
}

static void app_free(struct fp_app *app)
{
    /* Deferred requests first: ending them needs their connections. */
    fp_reply_drain(app);
    if (app->http != NULL)
        evhttp_free(app->http);
    struct event *events[] = {app->sigint, app->sigterm, app->cron};
    for (size_t i = 0; i < 3; i++)
        if (events[i] != NULL)
            event_free(events[i]);
    fp_store_free(&app->store);
    if (app->record_file != NULL)
        fclose(app->record_file);
    if (app->base != NULL)
        event_base_free(app->base);
    if (app->tls != NULL)
        SSL_CTX_free(app->tls);
}

static void log_start(const struct fp_options *opt)
{
    char text[512];
    snprintf(text, sizeof(text),
             "seed=%llu latency_ms=%ld jitter_ms=%ld dist=%s slow=%g/%ldms fail_rate=%g "
             "timeout_rate=%g throttle_rate=%g lost_reply_rate=%g partial_rate=%g "
             "uncertain_rate=%g invalid_prefix=%s not_kakao_prefix=%s window_s=%ld record=%s%s "
             "tls=%s",
             (unsigned long long)opt->seed, opt->inj.latency_ms, opt->inj.jitter_ms,
             opt->inj.dist == FP_DIST_UNIFORM ? "uniform" : "exponential", opt->inj.slow_rate,
             opt->inj.slow_ms, opt->inj.fail_rate, opt->inj.timeout_rate, opt->inj.throttle_rate,
             opt->inj.lost_reply_rate, opt->inj.partial_rate, opt->inj.uncertain_rate,
             opt->invalid_prefix, opt->not_kakao_prefix, opt->idempotency_window_s,
             opt->record_path != NULL ? opt->record_path : "-", opt->restore ? " (restored)" : "",
             opt->tls_cert != NULL ? "on" : "off");
    fp_log("info", "starting", "config", text); /* the secret is not logged */
}

int main(int argc, char **argv)
{
    struct fp_options opt;
    int rc = fp_options_parse(&opt, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    fp_install_allocator();
    /* A client that hangs up must not kill us while we write its reply. */
    signal(SIGPIPE, SIG_IGN);
    if (!opt.seed_given) /* logged below, so any run can be repeated */
        opt.seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    log_start(&opt);

    struct fp_app app;
    rc = app_init(&app, &opt);
    if (rc == 0)
        event_base_dispatch(app.base);
    app_free(&app);
    libevent_global_shutdown();
    return rc == 0 ? 0 : 1;
}
