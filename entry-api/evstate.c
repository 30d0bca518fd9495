/*
 * evstate.c - the sold-out/closed table and its pub/sub connection.
 */
#include "evstate.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>

#include "backoff.h"
#include "errors.h"
#include "gate.h"
#include "log.h"
#include "metrics.h"
#include "rds.h"
#include "timeutil.h"

#define EVS_MAX         256 /* events remembered; the oldest is forgotten beyond */
#define EVS_PATTERN     "ev:{*}:state"
#define EVS_TICK_MS     1000
#define EVS_CONNECT_MAX 5000 /* a subscription not confirmed by then is retried */
#define EVS_RESYNC_MS   50   /* retry of a resync the gate could not run yet */
#define EVS_SCAN_COUNT  "1000"
#define EVS_RECENT      64 /* announcements kept to judge a read's age */

struct evs_entry {
    long long event_id;
    enum evs_state state;
    int64_t learned_ms;
};

struct evstate {
    struct event_base *base;
    struct gate *gate;
    struct worker_metrics *m;
    struct rds_addr addr;
    redisAsyncContext *ac;
    int subscribed;
    int64_t connect_started_ms;
    struct event *retry_ev, *tick_ev, *resync_ev;
    struct backoff bo;
    int resync_failed; /* a re-read of the current resync failed: run it again */
    void (*on_change)(void *arg, long long event_id);
    void *on_change_arg;
    uint64_t announced;           /* announcements so far */
    long long recent[EVS_RECENT]; /* announcement k was for event recent[k % EVS_RECENT] */
    int n;
    struct evs_entry e[EVS_MAX];
};

/* One re-read of an event's state after a resubscription. */
struct evs_verify {
    struct evstate *s;
    long long event_id;
    uint64_t mark; /* evs_mark() when the read was sent */
};

static void subscribe_now(struct evstate *s);

/* ---- the table --------------------------------------------------------- */

static struct evs_entry *find(const struct evstate *s, long long event_id)
{
    for (int i = 0; i < s->n; i++)
        if (s->e[i].event_id == event_id)
            return (struct evs_entry *)&s->e[i];
    return NULL;
}

enum evs_state evs_get(const struct evstate *s, long long event_id)
{
    const struct evs_entry *e = find(s, event_id);
    return e ? e->state : EVS_UNKNOWN;
}

static enum evs_state state_of(const char *state)
{
    return strcmp(state, "sold_out") == 0 ? EVS_SOLD_OUT
           : strcmp(state, "closed") == 0 ? EVS_CLOSED
                                          : EVS_UNKNOWN;
}

static void learn(struct evstate *s, long long event_id, const char *state)
{
    enum evs_state st = state_of(state);
    struct evs_entry *e = find(s, event_id);
    if (st == EVS_UNKNOWN) {
        if (e) { /* re-opened: the gate decides again */
            log_info(&(struct log_ctx){.event_id = event_id}, "event state now %s: forgotten",
                     state);
            *e = s->e[--s->n];
        }
        return;
    }
    if (!e) {
        if (s->n == EVS_MAX) { /* full: replace the oldest */
            e = &s->e[0];
            for (int i = 1; i < s->n; i++)
                if (s->e[i].learned_ms < e->learned_ms)
                    e = &s->e[i];
        } else {
            e = &s->e[s->n++];
        }
        log_info(&(struct log_ctx){.event_id = event_id}, "event is %s: answering 410 from memory",
                 state);
    }
    e->event_id = event_id;
    e->state = st;
    e->learned_ms = time_mono_ms();
}

void evs_on_change(struct evstate *s, void (*fn)(void *arg, long long event_id), void *arg)
{
    s->on_change = fn;
    s->on_change_arg = arg;
}

static void changed(struct evstate *s, long long event_id)
{
    if (s->on_change)
        s->on_change(s->on_change_arg, event_id);
}

void evs_announce(struct evstate *s, long long event_id, const char *state)
{
    s->recent[s->announced++ % EVS_RECENT] = event_id;
    learn(s, event_id, state);
    changed(s, event_id);
}

uint64_t evs_mark(const struct evstate *s)
{
    return s->announced;
}

/* An announcement for event_id came after mark, or too many came to tell. */
static int announced_since(const struct evstate *s, long long event_id, uint64_t mark)
{
    if (s->announced - mark > EVS_RECENT)
        return 1;
    for (uint64_t k = mark; k < s->announced; k++)
        if (s->recent[k % EVS_RECENT] == event_id)
            return 1;
    return 0;
}

int evs_learn_read(struct evstate *s, long long event_id, const char *state, uint64_t mark)
{
    if (announced_since(s, event_id, mark)) {
        /* Usually it agrees (gate calls in flight at a sell-out): say nothing then. */
        if (state_of(state) != evs_get(s, event_id))
            log_info(&(struct log_ctx){.event_id = event_id},
                     "a read of state %s sent before the last announcement: dropped", state);
        return 0;
    }
    learn(s, event_id, state);
    return 1;
}

int evs_subscribed(const struct evstate *s)
{
    return s->subscribed;
}

void evs_render(const struct evstate *s, struct evbuffer *out)
{
    evbuffer_add_printf(out, "# HELP giftdrop_event_state 1 for each event this worker answers "
                             "410 from memory, by state.\n# TYPE giftdrop_event_state gauge\n");
    for (int i = 0; i < s->n; i++)
        evbuffer_add_printf(out, "giftdrop_event_state{event_id=\"%lld\",state=\"%s\"} 1\n",
                            s->e[i].event_id,
                            s->e[i].state == EVS_SOLD_OUT ? "sold_out" : "closed");
    evbuffer_add_printf(out,
                        "# HELP giftdrop_state_subscribed 1 while subscribed to event state "
                        "changes.\n# TYPE giftdrop_state_subscribed gauge\n"
                        "giftdrop_state_subscribed %d\n",
                        s->subscribed);
}

/* "ev:{42}" + tail -> 42; 0 for anything else. */
static long long tagged_event(const char *name, size_t len, const char *tail)
{
    long long id = 0;
    size_t i = 4, tl = strlen(tail);
    if (len < 5 + tl || memcmp(name, "ev:{", 4) != 0 || memcmp(name + len - tl, tail, tl) != 0)
        return 0;
    for (; i < len - tl; i++) {
        if (name[i] < '0' || name[i] > '9' || i - 4 >= 15)
            return 0;
        id = id * 10 + (name[i] - '0');
    }
    return i > 4 ? id : 0;
}

long long evs_channel_event(const char *channel, size_t len)
{
    return tagged_event(channel, len, "}:state");
}

/* ---- re-reading after a (re)subscription ------------------------------ */

/*
 * Announcements may have been missed while unsubscribed (or before this
 * worker started), so once subscribed, and as soon as the gate can run
 * commands, the worker re-reads: the state of every event it holds, and,
 * by SCAN over ev:{*}:meta, every event sold out or closed before its
 * closes_at.  A restarted worker so answers 410 from memory from the start.
 * A read that fails runs the whole resync again.
 */

static void resync_later(struct evstate *s)
{
    struct timeval tv = {0, EVS_RESYNC_MS * 1000};
    evtimer_add(s->resync_ev, &tv);
}

static void read_failed(struct evstate *s, int rc)
{
    if (rc == GD_ESTOPPED)
        return; /* shutting down */
    if (!s->resync_failed)
        log_warn(NULL, "event state re-read failed (%s): trying again", err_str(rc));
    s->resync_failed = 1;
    resync_later(s);
}

static void on_verify(void *arg, int rc, redisReply *r)
{
    struct evs_verify *v = arg;
    if (rc == GD_OK)
        evs_learn_read(v->s, v->event_id,
                       r->type == REDIS_REPLY_STRING ? r->str : "unknown (meta missing)", v->mark);
    else
        read_failed(v->s, rc);
    free(v);
}

static void verify_all(struct evstate *s)
{
    long long ids[EVS_MAX];
    int n = s->n;
    for (int i = 0; i < n; i++)
        ids[i] = s->e[i].event_id;
    for (int i = 0; i < n; i++) {
        char key[64];
        struct evs_verify *v = malloc(sizeof(*v));
        if (!v)
            return;
        v->s = s;
        v->event_id = ids[i];
        v->mark = evs_mark(s);
        rds_key(key, sizeof(key), ids[i], "meta");
        const char *argv[] = {"HGET", key, "state"};
        gate_command(s->gate, 3, argv, on_verify, v);
    }
}

/* One meta hash found by the scan: {state, closes_at_ms}. */
static void on_scanned(void *arg, int rc, redisReply *r)
{
    struct evs_verify *v = arg;
    if (rc != GD_OK) {
        read_failed(v->s, rc);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[0]->type == REDIS_REPLY_STRING &&
               r->element[1]->type == REDIS_REPLY_STRING) {
        const char *state = r->element[0]->str;
        int final = strcmp(state, "sold_out") == 0 || strcmp(state, "closed") == 0;
        /* past events are left out: the gate answers them if anyone asks */
        if (!final || strtoll(r->element[1]->str, NULL, 10) > time_now_ms())
            evs_learn_read(v->s, v->event_id, state, v->mark);
    }
    free(v);
}

static void scan_from(struct evstate *s, const char *cursor);

static void on_scan(void *arg, int rc, redisReply *r)
{
    struct evstate *s = arg;
    if (rc != GD_OK) {
        read_failed(s, rc);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    redisReply *keys = r->element[1];
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *k = keys->element[i];
        long long id = k->type == REDIS_REPLY_STRING ? tagged_event(k->str, k->len, "}:meta") : 0;
        struct evs_verify *v = id > 0 ? malloc(sizeof(*v)) : NULL;
        if (!v)
            continue;
        v->s = s;
        v->event_id = id;
        v->mark = evs_mark(s);
        const char *argv[] = {"HMGET", k->str, "state", "closes_at_ms"};
        gate_command(s->gate, 4, argv, on_scanned, v);
    }
    if (strcmp(r->element[0]->str, "0") != 0)
        scan_from(s, r->element[0]->str);
}

static void scan_from(struct evstate *s, const char *cursor)
{
    const char *argv[] = {"SCAN", cursor, "MATCH", "ev:{*}:meta", "COUNT", EVS_SCAN_COUNT};
    gate_command(s->gate, 6, argv, on_scan, s);
}

static void on_resync(evutil_socket_t fd, short what, void *arg)
{
    struct evstate *s = arg;
    if (!s->subscribed)
        return; /* the next subscription starts it again */
    if (!gate_ready(s->gate)) {
        resync_later(s);
        return;
    }
    s->resync_failed = 0;
    verify_all(s);
    scan_from(s, "0");
}

/* ---- the subscription -------------------------------------------------- */

static void on_message(redisAsyncContext *ac, void *reply, void *priv)
{
    struct evstate *s = ac->data;
    redisReply *r = reply;
    if (!s || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(r->element[0]->str, "psubscribe") == 0) {
        s->subscribed = 1;
        atomic_store(&s->m->subscribed, 1);
        backoff_reset(&s->bo);
        log_info(NULL, "subscribed to %s", EVS_PATTERN);
        /* Announcements may have been missed: no read sent before counts. */
        s->announced += EVS_RECENT + 1;
        changed(s, 0);
        on_resync(-1, 0, s);
        return;
    }
    if (strcmp(r->element[0]->str, "pmessage") != 0 || r->elements != 4 ||
        r->element[2]->type != REDIS_REPLY_STRING || r->element[3]->type != REDIS_REPLY_STRING)
        return;
    long long id = evs_channel_event(r->element[2]->str, r->element[2]->len);
    if (id > 0)
        evs_announce(s, id, r->element[3]->str);
}

static void schedule_retry(struct evstate *s)
{
    int ms = backoff_next_ms(&s->bo);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->retry_ev, &tv);
}

static void lost(struct evstate *s, const char *why)
{
    log_warn(NULL, "state subscription lost: %s", why);
    s->ac = NULL;
    s->subscribed = 0;
    atomic_store(&s->m->subscribed, 0);
    schedule_retry(s);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct evstate *s = ac->data;
    if (s && status != REDIS_OK)
        lost(s, ac->errstr); /* hiredis frees the context after this */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct evstate *s = ac->data;
    if (s)
        lost(s, status == REDIS_OK ? "closed" : ac->errstr);
}

static void subscribe_now(struct evstate *s)
{
    redisAsyncContext *ac = redisAsyncConnect(s->addr.host, s->addr.port);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(s);
        return;
    }
    ac->data = s;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisEnableKeepAlive(&ac->c); /* nothing else would notice a dead peer */
    s->ac = ac;
    s->connect_started_ms = time_mono_ms();
    if (s->addr.password[0])
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", s->addr.password);
    if (s->addr.db)
        redisAsyncCommand(ac, NULL, NULL, "SELECT %d", s->addr.db);
    redisAsyncCommand(ac, on_message, NULL, "PSUBSCRIBE %s", EVS_PATTERN);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    subscribe_now(arg);
}

/* A subscription that never got confirmed (Redis stalled) is started over. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct evstate *s = arg;
    if (s->ac && !s->subscribed && time_mono_ms() - s->connect_started_ms > EVS_CONNECT_MAX) {
        redisAsyncContext *ac = s->ac;
        ac->data = NULL;
        redisAsyncFree(ac);
        lost(s, "subscription not confirmed in time");
    }
}

struct evstate *evs_new(struct event_base *base, const char *url, struct gate *g,
                        struct worker_metrics *m)
{
    struct evstate *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (rds_parse_url(url, &s->addr) != GD_OK) {
        free(s);
        return NULL;
    }
    s->base = base;
    s->gate = g;
    s->m = m;
    backoff_init(&s->bo, 100, 3000);
    s->retry_ev = evtimer_new(base, on_retry, s);
    s->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, s);
    s->resync_ev = evtimer_new(base, on_resync, s);
    struct timeval tick = {EVS_TICK_MS / 1000, 0};
    if (!s->retry_ev || !s->tick_ev || !s->resync_ev || event_add(s->tick_ev, &tick) != 0) {
        evs_free(s);
        return NULL;
    }
    subscribe_now(s);
    return s;
}

void evs_free(struct evstate *s)
{
    if (!s)
        return;
    if (s->ac) {
        s->ac->data = NULL;
        redisAsyncFree(s->ac);
    }
    if (s->retry_ev)
        event_free(s->retry_ev);
    if (s->tick_ev)
        event_free(s->tick_ev);
    if (s->resync_ev)
        event_free(s->resync_ev);
    free(s);
}
