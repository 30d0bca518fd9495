/*
 * gate.c - the async Redis connection of one worker, with command deadlines.
 *
 * Calls live in a FIFO (Redis answers one connection in order) from the
 * moment they are written until their callback.  A 100 ms tick looks at the
 * oldest: past its deadline, the connection is dropped.  Dropping answers
 * every waiting caller first, marks the calls done, then frees the context;
 * hiredis then runs each callback once more with a NULL reply, and a done
 * call is simply freed there - that is the "late callback" being swallowed.
 */
#include "gate.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>

#include "backoff.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "rds.h"
#include "timeutil.h"

#define GATE_MAX_ARGS 20
#define GATE_TICK_MS  100
#define GATE_PING_MS  1000

enum gate_state { GS_DOWN, GS_CONNECTING, GS_LOADING, GS_READY };

struct gate_call {
    struct gate_call *prev, *next; /* in g->pending while hiredis holds it */
    struct gate *g;
    redisAsyncContext *ac; /* the context it was written to */
    int64_t deadline_ms;
    int internal; /* connection setup or PING: no caller */
    int done;     /* caller answered; only hiredis' last callback remains */
    int retried;  /* NOSCRIPT already turned into EVAL */
    enum script_id id;
    int argc;
    const char *argv[GATE_MAX_ARGS + 3];
    size_t lens[GATE_MAX_ARGS + 3];
    gate_fn fn;
    void *arg;
    char buf[]; /* the copied arguments */
};

struct gate {
    struct event_base *base;
    struct worker_metrics *m;
    redisAsyncContext *ac; /* NULL while down */
    enum gate_state state;
    struct rds_addr addr;
    int timeout_ms;
    int setup_left; /* setup replies still awaited while GS_LOADING */
    int npending;
    struct gate_call *head, *tail;
    int64_t connect_started_ms, last_write_ms;
    struct event *retry_ev, *tick_ev;
    struct backoff bo;
};

static void connect_now(struct gate *g);
static void on_reply(redisAsyncContext *ac, void *r, void *priv);

/* ---- the pending FIFO -------------------------------------------------- */

static void pending_push(struct gate *g, struct gate_call *c)
{
    c->next = NULL;
    c->prev = g->tail;
    if (g->tail)
        g->tail->next = c;
    else
        g->head = c;
    g->tail = c;
    g->npending++;
}

static void pending_unlink(struct gate *g, struct gate_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        g->tail = c->prev;
    c->prev = c->next = NULL;
    g->npending--;
}

/* Copy argv into one allocation: verb and arguments, binary-safe lengths. */
static struct gate_call *call_new(struct gate *g, int argc, const char **argv, gate_fn fn,
                                  void *arg)
{
    size_t total = 0;
    if (argc < 1 || argc > GATE_MAX_ARGS + 3)
        return NULL;
    for (int i = 0; i < argc; i++)
        total += strlen(argv[i]) + 1;
    struct gate_call *c = calloc(1, sizeof(*c) + total);
    if (!c)
        return NULL;
    char *p = c->buf;
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        memcpy(p, argv[i], n + 1);
        c->argv[i] = p;
        c->lens[i] = n;
        p += n + 1;
    }
    c->argc = argc;
    c->g = g;
    c->fn = fn;
    c->arg = arg;
    c->id = SCRIPT_COUNT;
    return c;
}

/* ---- connection lifecycle ---------------------------------------------- */

static void schedule_reconnect(struct gate *g)
{
    int ms = backoff_next_ms(&g->bo);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(g->retry_ev, &tv);
}

/*
 * Give up on the current context: answer every waiting caller with rc, then
 * free the context.  Safe inside a hiredis reply callback (hiredis defers
 * the free until the callback returns); never called from on_connect.
 */
static void drop(struct gate *g, int rc, const char *why, int reconnect)
{
    redisAsyncContext *ac = g->ac;
    if (!ac)
        return;
    if (rc == GD_ESTOPPED)
        log_info(NULL, "redis connection closed: %s", why);
    else
        log_warn(NULL, "redis connection dropped: %s", why);
    g->ac = NULL;
    g->state = GS_DOWN;
    /* Detach first: callers answered below may issue new calls, which must
     * fail fast instead of landing on the dying context. */
    while (g->head) {
        struct gate_call *c = g->head;
        pending_unlink(g, c);
        c->done = 1;
        if (!c->internal)
            c->fn(c->arg, rc, NULL);
    }
    ac->data = NULL;
    redisAsyncFree(ac);
    if (reconnect)
        schedule_reconnect(g);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct gate *g = ac->data;
    if (!g)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this and fails its queued calls. */
        log_warn(NULL, "redis connect failed: %s", ac->errstr);
        g->ac = NULL;
        g->state = GS_DOWN;
        schedule_reconnect(g);
        return;
    }
    g->state = GS_LOADING;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct gate *g = ac->data;
    if (!g) /* we dropped it ourselves */
        return;
    g->ac = NULL;
    g->state = GS_DOWN;
    log_warn(NULL, "redis connection lost: %s", status == REDIS_OK ? "closed" : ac->errstr);
    schedule_reconnect(g);
}

static int write_call(struct gate *g, struct gate_call *c)
{
    c->ac = g->ac;
    c->deadline_ms = time_mono_ms() + g->timeout_ms;
    if (redisAsyncCommandArgv(g->ac, on_reply, c, c->argc, c->argv, c->lens) != REDIS_OK)
        return GD_EREDIS_IO;
    pending_push(g, c);
    g->last_write_ms = time_mono_ms();
    return GD_OK;
}

/* A setup command or PING, tracked like any call so it has a deadline too. */
static void internal_call(struct gate *g, int argc, const char **argv)
{
    struct gate_call *c = call_new(g, argc, argv, NULL, NULL);
    if (!c || write_call(g, c) != GD_OK) {
        free(c);
        drop(g, GD_EREDIS_IO, "cannot queue a setup command", 1);
        return;
    }
    c->internal = 1;
    if (g->state != GS_READY)
        g->setup_left++;
}

static void on_internal_reply(struct gate *g, redisAsyncContext *ac, redisReply *r)
{
    if (ac != g->ac) /* a late answer for a context already given up */
        return;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof(why), "setup/ping failed: %s", r ? r->str : "no reply");
        drop(g, GD_EREDIS_IO, why, 1);
        return;
    }
    if (g->state != GS_READY && --g->setup_left == 0) {
        g->state = GS_READY;
        backoff_reset(&g->bo);
        log_info(NULL, "redis connected, scripts loaded");
    }
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
    g->state = GS_CONNECTING;
    g->setup_left = 0;
    g->connect_started_ms = time_mono_ms();
    /* Written before anything else on this connection, so they run first;
     * the gate is ready only once every one of them answered. */
    if (g->addr.password[0]) {
        const char *auth[] = {"AUTH", g->addr.password};
        internal_call(g, 2, auth);
    }
    if (g->addr.db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", g->addr.db);
        const char *sel[] = {"SELECT", db};
        internal_call(g, 2, sel);
    }
    for (int i = 0; i < SCRIPT_COUNT && g->ac; i++) {
        const char *load[] = {"SCRIPT", "LOAD", script_get(i)->body};
        internal_call(g, 3, load);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    connect_now(arg);
}

/* The watchdog: deadlines, a stuck connect, and the idle PING. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct gate *g = arg;
    int64_t now = time_mono_ms();
    char why[96];
    if (g->head && g->head->deadline_ms <= now) {
        met_inc(&g->m->redis_timeouts);
        snprintf(why, sizeof(why), "no reply within %d ms", g->timeout_ms);
        drop(g, GD_ETIMEOUT, why, 1);
    } else if (g->ac && g->state == GS_CONNECTING && now - g->connect_started_ms > g->timeout_ms) {
        met_inc(&g->m->redis_timeouts);
        snprintf(why, sizeof(why), "connect not done within %d ms", g->timeout_ms);
        drop(g, GD_ETIMEOUT, why, 1);
    } else if (g->state == GS_READY && !g->head && now - g->last_write_ms >= GATE_PING_MS) {
        const char *ping[] = {"PING"};
        internal_call(g, 1, ping);
    }
}

struct gate *gate_new(struct event_base *base, const char *url, int timeout_ms,
                      struct worker_metrics *m)
{
    struct gate *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    if (rds_parse_url(url, &g->addr) != GD_OK) {
        free(g);
        return NULL;
    }
    g->base = base;
    g->m = m;
    g->timeout_ms = timeout_ms;
    backoff_init(&g->bo, 100, 3000);
    g->retry_ev = evtimer_new(base, on_retry, g);
    g->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, g);
    struct timeval tick = {0, GATE_TICK_MS * 1000};
    if (!g->retry_ev || !g->tick_ev || event_add(g->tick_ev, &tick) != 0) {
        gate_free(g);
        return NULL;
    }
    connect_now(g);
    return g;
}

void gate_free(struct gate *g)
{
    if (!g)
        return;
    drop(g, GD_ESTOPPED, "stopping", 0);
    if (g->retry_ev)
        event_free(g->retry_ev);
    if (g->tick_ev)
        event_free(g->tick_ev);
    free(g);
}

int gate_ready(const struct gate *g)
{
    return g->state == GS_READY;
}

int gate_pending(const struct gate *g)
{
    return g->npending;
}

/* ---- calls ------------------------------------------------------------- */

static void deliver(struct gate_call *c, redisReply *reply)
{
    if (!reply) {
        c->fn(c->arg, GD_EREDIS_IO, NULL);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        log_error(NULL, "redis error: %s", reply->str);
        c->fn(c->arg, GD_EREDIS_REPLY, NULL);
    } else {
        c->fn(c->arg, GD_OK, reply);
    }
}

/* NOSCRIPT: the script cache was flushed (restart, failover); EVAL reloads it. */
static int retry_as_eval(struct gate *g, struct gate_call *c)
{
    c->retried = 1;
    c->argv[0] = "EVAL";
    c->lens[0] = 4;
    c->argv[1] = script_get(c->id)->body;
    c->lens[1] = strlen(c->argv[1]);
    return g->ac == c->ac && write_call(g, c) == GD_OK;
}

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct gate_call *c = priv;
    redisReply *reply = r;
    if (c->done) { /* answered when its context was dropped */
        free(c);
        return;
    }
    struct gate *g = c->g;
    pending_unlink(g, c);
    if (c->internal) {
        on_internal_reply(g, ac, reply);
        free(c);
        return;
    }
    if (reply && reply->type == REDIS_REPLY_ERROR && !c->retried && c->id != SCRIPT_COUNT &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0 && retry_as_eval(g, c))
        return;
    deliver(c, reply);
    free(c);
}

static void issue(struct gate *g, struct gate_call *c)
{
    if (g->state != GS_READY || !g->ac || write_call(g, c) != GD_OK) {
        c->fn(c->arg, GD_EREDIS_IO, NULL);
        free(c);
    }
}

void gate_script(struct gate *g, enum script_id id, int nkeys, int argc, const char **argv,
                 gate_fn fn, void *arg)
{
    const char *full[GATE_MAX_ARGS + 3];
    char nk[12];
    if (argc > GATE_MAX_ARGS) {
        fn(arg, GD_EINVAL, NULL);
        return;
    }
    snprintf(nk, sizeof(nk), "%d", nkeys);
    full[0] = "EVALSHA";
    full[1] = script_get(id)->sha;
    full[2] = nk;
    memcpy(full + 3, argv, (size_t)argc * sizeof(*argv));
    struct gate_call *c = call_new(g, argc + 3, full, fn, arg);
    if (!c) {
        fn(arg, GD_ENOMEM, NULL);
        return;
    }
    c->id = id;
    issue(g, c);
}

void gate_command(struct gate *g, int argc, const char **argv, gate_fn fn, void *arg)
{
    struct gate_call *c = call_new(g, argc, argv, fn, arg);
    if (!c) {
        fn(arg, GD_ENOMEM, NULL);
        return;
    }
    c->retried = 1; /* not a script: never retried as EVAL */
    issue(g, c);
}
