#include "rds.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

int rds_parse_url(const char *url, struct rds_addr *a)
{
    memset(a, 0, sizeof(*a));
    a->port = 6379;
    if (strncmp(url, "redis://", 8) != 0)
        return GD_ECONFIG;
    const char *p = url + 8, *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t n = (size_t)(at - pw);
        if (n >= sizeof(a->password))
            return GD_ECONFIG;
        memcpy(a->password, pw, n);
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof(a->host))
        return GD_ECONFIG;
    memcpy(a->host, p, hl);
    p += hl;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535)
            return GD_ECONFIG;
        a->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (*end || db < 0 || db > 15)
            return GD_ECONFIG;
        a->db = (int)db;
    } else if (*p && strcmp(p, "/") != 0) {
        return GD_ECONFIG;
    }
    return GD_OK;
}

static void drop(struct rds *r, const char *why)
{
    if (why)
        snprintf(r->err, sizeof(r->err), "%s", why);
    if (r->ctx)
        redisFree(r->ctx);
    r->ctx = NULL;
}

/* Run a command during connect; any failure drops the context. */
static int setup_cmd(struct rds *r, int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(r->ctx, argc, argv, NULL);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        snprintf(r->err, sizeof(r->err), "%.20s: %.200s", argv[0],
                 rep ? rep->str : (r->ctx->errstr[0] ? r->ctx->errstr : "no reply"));
        if (rep)
            freeReplyObject(rep);
        drop(r, NULL);
        return GD_EREDIS_CONNECT;
    }
    freeReplyObject(rep);
    return GD_OK;
}

static int do_connect(struct rds *r)
{
    struct rds_addr a;
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    char db[8];

    if (rds_parse_url(r->url, &a) != GD_OK) {
        snprintf(r->err, sizeof(r->err), "REDIS_URL is not redis://[:pw@]host[:port][/db]");
        return GD_ECONFIG;
    }
    r->ctx = redisConnectWithTimeout(a.host, a.port, tv);
    if (!r->ctx || r->ctx->err) {
        snprintf(r->err, sizeof(r->err), "connect %.100s:%d: %.100s", a.host, a.port,
                 r->ctx ? r->ctx->errstr : "out of memory");
        drop(r, NULL);
        return GD_EREDIS_CONNECT;
    }
    redisSetTimeout(r->ctx, tv);
    redisEnableKeepAlive(r->ctx);
    if (a.password[0] && setup_cmd(r, 2, (const char *[]){"AUTH", a.password}) != GD_OK)
        return GD_EREDIS_CONNECT;
    snprintf(db, sizeof(db), "%d", a.db);
    if (a.db && setup_cmd(r, 2, (const char *[]){"SELECT", db}) != GD_OK)
        return GD_EREDIS_CONNECT;
    for (int i = 0; i < SCRIPT_COUNT; i++)
        if (setup_cmd(r, 3, (const char *[]){"SCRIPT", "LOAD", script_get(i)->body}) != GD_OK)
            return GD_EREDIS_CONNECT;
    return GD_OK;
}

int rds_connect(struct rds *r, const char *url, int timeout_ms)
{
    memset(r, 0, sizeof(*r));
    if (strlen(url) >= sizeof(r->url))
        return GD_ECONFIG;
    snprintf(r->url, sizeof(r->url), "%s", url);
    r->timeout_ms = timeout_ms;
    return do_connect(r);
}

int rds_ensure(struct rds *r)
{
    return r->ctx ? GD_OK : do_connect(r);
}

void rds_close(struct rds *r)
{
    drop(r, NULL);
}

/* Translate a reply: errors become codes, I/O failures drop the context. */
static int check_reply(struct rds *r, redisReply *rep, redisReply **out)
{
    if (!rep) {
        drop(r, r->ctx && r->ctx->errstr[0] ? r->ctx->errstr : "connection lost");
        return GD_EREDIS_IO;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(r->err, sizeof(r->err), "%s", rep->str);
        int noscript = strncmp(rep->str, "NOSCRIPT", 8) == 0;
        freeReplyObject(rep);
        if (noscript)
            drop(r, NULL); /* reconnecting reloads every script */
        return GD_EREDIS_REPLY;
    }
    *out = rep;
    return GD_OK;
}

int rds_command(struct rds *r, redisReply **out, int argc, const char **argv, const size_t *lens)
{
    int rc = rds_ensure(r);
    if (rc != GD_OK)
        return rc;
    return check_reply(r, redisCommandArgv(r->ctx, argc, argv, lens), out);
}

int rds_commandf(struct rds *r, redisReply **out, const char *fmt, ...)
{
    va_list ap;
    int rc = rds_ensure(r);
    if (rc != GD_OK)
        return rc;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r->ctx, fmt, ap);
    va_end(ap);
    return check_reply(r, rep, out);
}

#define MAX_SCRIPT_ARGS 16

/* Fill v with VERB script nkeys args...; nk (12 bytes) holds the key count text. */
static int build_eval(const char *verb, const char *script, char *nk, int nkeys, int argc,
                      const char **argv, const char **v)
{
    if (argc > MAX_SCRIPT_ARGS)
        return GD_EINVAL;
    snprintf(nk, 12, "%d", nkeys);
    v[0] = verb;
    v[1] = script;
    v[2] = nk;
    for (int i = 0; i < argc; i++)
        v[3 + i] = argv[i];
    return 3 + argc;
}

int rds_append_script(struct rds *r, enum script_id id, int nkeys, int argc, const char **argv)
{
    char nk[12];
    const char *v[MAX_SCRIPT_ARGS + 3];
    int rc = rds_ensure(r);
    if (rc != GD_OK)
        return rc;
    int n = build_eval("EVALSHA", script_get(id)->sha, nk, nkeys, argc, argv, v);
    if (n < 0)
        return n;
    if (redisAppendCommandArgv(r->ctx, n, v, NULL) != REDIS_OK) {
        drop(r, "out of memory queueing a command");
        return GD_ENOMEM;
    }
    return GD_OK;
}

int rds_read_reply(struct rds *r, redisReply **out)
{
    void *rep = NULL;
    if (!r->ctx)
        return GD_EREDIS_IO;
    if (redisGetReply(r->ctx, &rep) != REDIS_OK)
        rep = NULL;
    return check_reply(r, rep, out);
}

int rds_eval(struct rds *r, enum script_id id, int nkeys, int argc, const char **argv,
             redisReply **out)
{
    char nk[12];
    const char *v[MAX_SCRIPT_ARGS + 3];
    int rc = rds_ensure(r);
    if (rc != GD_OK)
        return rc;
    int n = build_eval("EVALSHA", script_get(id)->sha, nk, nkeys, argc, argv, v);
    if (n < 0)
        return n;
    redisReply *rep = redisCommandArgv(r->ctx, n, v, NULL);
    if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        v[0] = "EVAL";
        v[1] = script_get(id)->body;
        rep = redisCommandArgv(r->ctx, n, v, NULL);
    }
    return check_reply(r, rep, out);
}

void rds_key(char *out, size_t cap, long long event_id, const char *suffix)
{
    snprintf(out, cap, "ev:{%lld}:%s", event_id, suffix);
}

void rds_gate_args(struct rds_gate_args *g, long long event_id, const char *member,
                   const char *entry_id, long limit, long window_ms)
{
    static const char *const suffix[] = {"meta", "eligible", "entries", "winners", "losers"};
    char rl[96];
    for (int i = 0; i < 5; i++)
        rds_key(g->keys[i], sizeof(g->keys[i]), event_id, suffix[i]);
    snprintf(rl, sizeof(rl), "rl:%s", member);
    rds_key(g->keys[5], sizeof(g->keys[5]), event_id, rl);
    rds_key(g->keys[6], sizeof(g->keys[6]), event_id, "notified");
    snprintf(g->limit, sizeof(g->limit), "%ld", limit);
    snprintf(g->window_ms, sizeof(g->window_ms), "%ld", window_ms);
    for (int i = 0; i < 7; i++)
        g->argv[i] = g->keys[i];
    g->argv[7] = member;
    g->argv[8] = entry_id;
    g->argv[9] = g->limit;
    g->argv[10] = g->window_ms;
}
