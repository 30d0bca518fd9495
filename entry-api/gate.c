#include "gate.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>

#include "backoff.h"
#include "errors.h"
#include "log.h"
#include "rds.h"

#define GATE_MAX_ARGS 16

struct gate {
    struct event_base *base;
    redisAsyncContext *ac; /* NULL while disconnected */
    struct rds_addr addr;
    int connected;
    struct event *retry_ev;
    struct backoff bo;
};

/* One in-flight call; args are kept so a NOSCRIPT can be retried with EVAL. */
struct gate_call {
    struct gate *g;
    enum script_id id;
    int argc; /* including verb, script, nkeys */
    char *argv[GATE_MAX_ARGS + 3];
    size_t lens[GATE_MAX_ARGS + 3];
    int retried;
    gate_fn fn;
    void *arg;
};

static void connect_now(struct gate *g);

static void call_free(struct gate_call *c)
{
    for (int i = 0; i < c->argc; i++)
        free(c->argv[i]);
    free(c);
}

static void schedule_reconnect(struct gate *g)
{
    struct timeval tv;
    int ms = backoff_next_ms(&g->bo);
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(g->retry_ev, &tv);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct gate *g = ac->data;
    if (status != REDIS_OK) {
        log_warn(NULL, "redis connect failed: %s", ac->errstr);
        g->ac = NULL; /* hiredis frees the context after this callback */
        schedule_reconnect(g);
        return;
    }
    g->connected = 1;
    backoff_reset(&g->bo);
    log_info(NULL, "redis connected");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct gate *g = ac->data;
    if (!g)
        return;
    g->connected = 0;
    g->ac = NULL;
    if (status != REDIS_OK) {
        log_warn(NULL, "redis connection lost: %s", ac->errstr);
        schedule_reconnect(g);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    connect_now(arg);
}

static void connect_now(struct gate *g)
{
    redisAsyncContext *ac = redisAsyncConnect(g->addr.host, g->addr.port);
    if (!ac || ac->err) {
        log_warn(NULL, "redis connect failed: %s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(g);
        return;
    }
    ac->data = g;
    redisLibeventAttach(ac, g->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    g->ac = ac;
    /* Queued before anything else on this connection, so they run first. */
    if (g->addr.password[0])
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", g->addr.password);
    if (g->addr.db)
        redisAsyncCommand(ac, NULL, NULL, "SELECT %d", g->addr.db);
    for (int i = 0; i < SCRIPT_COUNT; i++)
        redisAsyncCommand(ac, NULL, NULL, "SCRIPT LOAD %s", script_get(i)->body);
}

struct gate *gate_new(struct event_base *base, const char *url)
{
    struct gate *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    if (rds_parse_url(url, &g->addr) != GD_OK) {
        free(g);
        return NULL;
    }
    g->base = base;
    backoff_init(&g->bo, 100, 3000);
    g->retry_ev = evtimer_new(base, on_retry, g);
    if (!g->retry_ev) {
        free(g);
        return NULL;
    }
    connect_now(g);
    return g;
}

void gate_free(struct gate *g)
{
    if (!g)
        return;
    if (g->ac) {
        g->ac->data = NULL;
        redisAsyncDisconnect(g->ac);
    }
    event_free(g->retry_ev);
    free(g);
}

int gate_ready(const struct gate *g)
{
    return g->connected;
}

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct gate_call *c = priv;
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR && !c->retried &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0 && c->g->ac) {
        /* Script cache flushed (restart, failover): one EVAL reloads it. */
        c->retried = 1;
        free(c->argv[0]);
        free(c->argv[1]);
        c->argv[0] = strdup("EVAL");
        c->argv[1] = strdup(script_get(c->id)->body);
        c->lens[0] = 4;
        c->lens[1] = strlen(script_get(c->id)->body);
        if (c->argv[0] && c->argv[1] &&
            redisAsyncCommandArgv(c->g->ac, on_reply, c, c->argc, (const char **)c->argv,
                                  c->lens) == REDIS_OK)
            return;
        reply = NULL;
    }
    if (!reply) {
        c->fn(c->arg, GD_EREDIS_IO, NULL);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        log_error(NULL, "redis error: %s", reply->str);
        c->fn(c->arg, GD_EREDIS_REPLY, NULL);
    } else {
        c->fn(c->arg, GD_OK, reply);
    }
    call_free(c);
}

static void issue(struct gate *g, struct gate_call *c)
{
    if (!g->ac || !g->connected ||
        redisAsyncCommandArgv(g->ac, on_reply, c, c->argc, (const char **)c->argv, c->lens) !=
            REDIS_OK) {
        c->fn(c->arg, GD_EREDIS_IO, NULL);
        call_free(c);
    }
}

static int add_arg(struct gate_call *c, const char *s)
{
    c->lens[c->argc] = strlen(s);
    c->argv[c->argc] = strdup(s);
    return c->argv[c->argc++] ? 0 : -1;
}

void gate_script(struct gate *g, enum script_id id, int nkeys, int argc, const char **argv,
                 gate_fn fn, void *arg)
{
    char nk[12];
    struct gate_call *c = calloc(1, sizeof(*c));
    int bad = !c || argc > GATE_MAX_ARGS;
    if (!bad) {
        c->g = g;
        c->id = id;
        c->fn = fn;
        c->arg = arg;
        snprintf(nk, sizeof(nk), "%d", nkeys);
        bad = add_arg(c, "EVALSHA") || add_arg(c, script_get(id)->sha) || add_arg(c, nk);
        for (int i = 0; i < argc && !bad; i++)
            bad = add_arg(c, argv[i]);
    }
    if (bad) {
        if (c)
            call_free(c);
        fn(arg, GD_ENOMEM, NULL);
        return;
    }
    issue(g, c);
}

void gate_get(struct gate *g, const char *key, gate_fn fn, void *arg)
{
    struct gate_call *c = calloc(1, sizeof(*c));
    if (!c || add_arg(c, "GET") || add_arg(c, key)) {
        if (c)
            call_free(c);
        fn(arg, GD_ENOMEM, NULL);
        return;
    }
    c->g = g;
    c->id = SCRIPT_COUNT;
    c->retried = 1; /* not a script: never retried as EVAL */
    c->fn = fn;
    c->arg = arg;
    issue(g, c);
}
