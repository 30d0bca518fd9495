/*
 * watch.c - `eventctl watch`: the checks of `eventctl reconcile`, run every
 * few seconds on every live event and served to Prometheus.
 *
 * Why here and not in a consumer: reconcile reads PostgreSQL and Redis over
 * a whole event, which is an operator's question, not a consumer's; it must
 * answer while every consumer is down (that is when it matters), and M
 * consumer instances would run it M times.  Why a process Prometheus scrapes
 * and not a textfile or a pushgateway: Prometheus marks a dead watcher
 * "down" by itself, the result is never older than one interval plus a
 * scrape, and the metrics endpoint is common/metrics_http, which the
 * consumers already use.  `--once` prints the same text for a textfile
 * collector or a person.
 *
 * Threads: the main thread connects, queries and renders the whole text of
 * one run; the metrics thread (metrics_http_start_thread) only copies the
 * last text out under a mutex.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "errors.h"
#include "log.h"
#include "metrics_http.h"
#include "prom.h"
#include "report.h"
#include "signals.h"
#include "timeutil.h"

#define WATCH_MAX_EVENTS 32
#define WATCH_LOOKBACK_S 86400 /* events that closed within a day (an event lasts at most one) */

struct watch_opts {
    const char *listen;
    long interval_s;
    long final_after_s; /* the final checks apply this long after closes_at */
    int once;
};

/* What one run found about one event. */
struct watch_event {
    long long id;
    long final; /* 1: the final checks apply */
    struct counts k;
    long unsettled;        /* winners without a sent or failed notification */
    long oldest_unsettled; /* seconds since the oldest of them was decided, 0 when none */
};

/* The text Prometheus gets, replaced after every run. */
struct watch_state {
    pthread_mutex_t mu;
    char *text; /* owned; NULL before the first run */
    size_t len;
    uint64_t runs_ok, runs_failed;
    double last_ok_unix, last_duration_s;
};

/* The event series of the last good run (main thread only). */
struct watch_last {
    char *text;
    size_t len;
    int events;
};

/* Make out the text the next scrapes get. */
static void publish(struct watch_state *w, struct evbuffer *out)
{
    size_t len = evbuffer_get_length(out);
    char *text = malloc(len + 1);
    if (!text)
        return; /* the previous text stays */
    evbuffer_copyout(out, text, len);
    text[len] = '\0';
    pthread_mutex_lock(&w->mu);
    free(w->text);
    w->text = text;
    w->len = len;
    pthread_mutex_unlock(&w->mu);
}

static void render(struct evbuffer *out, void *arg)
{
    struct watch_state *w = arg;
    pthread_mutex_lock(&w->mu);
    if (w->text)
        evbuffer_add(out, w->text, w->len);
    pthread_mutex_unlock(&w->mu);
}

/* Live events: armed, sold out or closed within the lookback, newest first. */
static int live_events(struct ctl *c, const struct watch_opts *o, struct watch_event *ev, int cap,
                       int *n)
{
    char lookback[24], final_after[24], limit[24];
    PGresult *res = NULL;
    long lb =
        WATCH_LOOKBACK_S < c->cfg->retention_s / 2 ? WATCH_LOOKBACK_S : c->cfg->retention_s / 2;
    snprintf(lookback, sizeof(lookback), "%ld", lb);
    snprintf(final_after, sizeof(final_after), "%ld", o->final_after_s);
    snprintf(limit, sizeof(limit), "%d", cap);
    const char *p[] = {lookback, final_after, limit};
    /* Redis keys outlive closes_at by EVENT_RETENTION_S: looking back half of it
     * never compares PostgreSQL with keys that expired. */
    if (db_query(&c->db,
                 "SELECT event_id, closes_at < now() - make_interval(secs => $2::int)"
                 " FROM events WHERE state <> 'draft'"
                 " AND closes_at > now() - make_interval(secs => $1::int)"
                 " ORDER BY event_id DESC LIMIT $3::int",
                 3, p, &res) != GD_OK) {
        log_error(NULL, "watch: PostgreSQL: %s", c->db.err);
        return -1;
    }
    *n = PQntuples(res);
    for (int i = 0; i < *n; i++) {
        memset(&ev[i], 0, sizeof(ev[i]));
        ev[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        ev[i].final = PQgetvalue(res, i, 1)[0] == 't';
    }
    PQclear(res);
    return 0;
}

/* Winners still waiting for their notification, and how long the first has waited. */
static int unsettled_winners(struct ctl *c, struct watch_event *e)
{
    char evs[24];
    PGresult *res = NULL;
    snprintf(evs, sizeof(evs), "%lld", e->id);
    const char *p[] = {evs};
    if (db_query(
            &c->db,
            "SELECT count(*), COALESCE(extract(epoch FROM now() - min(x.decided_at)), 0)::bigint"
            " FROM entries x WHERE x.event_id = $1 AND x.outcome = 'won'"
            " AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.event_id = $1"
            " AND n.member_id = x.member_id AND n.status IN ('sent', 'failed'))",
            1, p, &res) != GD_OK) {
        log_error(NULL, "watch: event %lld: PostgreSQL: %s", e->id, c->db.err);
        return -1;
    }
    e->unsettled = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    e->oldest_unsettled = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return 0;
}

/* One event's numbers; -1 when PostgreSQL or Redis did not answer. */
static int read_event(struct ctl *c, struct watch_event *e)
{
    if (report_load_counts(c, e->id, &e->k) != 0)
        return -1;
    const struct counts *k = &e->k;
    if (k->redis_entries < 0 || k->redis_winners < 0 || k->redis_stock < 0) {
        log_error(NULL, "watch: event %lld: Redis: %s", e->id, c->redis.err);
        return -1;
    }
    return unsettled_winners(c, e);
}

/* name{event_id="id"<extra>} v */
static void event_sample(struct evbuffer *out, const char *name, long long id, const char *extra,
                         long v)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "event_id=\"%lld\"%s", id, extra);
    prom_sample(out, name, labels, v);
}

/* One gauge per event: a long of struct watch_event (its counts included). */
static const struct {
    const char *name, *help;
    size_t off;
} event_gauges[] = {
#define G(f) offsetof(struct watch_event, f)
    {"giftdrop_event_stock_remaining", "Winnable units left (Redis ev:{id}:stock).",
     G(k.redis_stock)},
    {"giftdrop_event_winnable", "Units the event may hand out (stock - safety + released).",
     G(k.winnable)},
    {"giftdrop_event_entries_accepted", "Entries accepted (Redis ev:{id}:entries).",
     G(k.redis_entries)},
    {"giftdrop_event_entries_decided", "Entries with an outcome row in PostgreSQL.",
     G(k.pg_entries)},
    {"giftdrop_event_winners", "Winners in PostgreSQL.", G(k.pg_won)},
    {"giftdrop_event_notifications_sent", "Winners sent their coupon.", G(k.sent)},
    {"giftdrop_event_notifications_failed", "Winners failed for good (a recorded reason).",
     G(k.failed)},
    {"giftdrop_event_winners_unsettled",
     "Winners whose notification is neither sent nor failed yet.", G(unsettled)},
    {"giftdrop_event_oldest_unsettled_winner_seconds",
     "Seconds since the oldest unsettled winner was decided (0: none waits).", G(oldest_unsettled)},
    {"giftdrop_reconcile_final",
     "1 when the final checks apply (closes_at passed long enough ago).", G(final)},
#undef G
};

static void render_events(struct evbuffer *out, const struct watch_event *ev, int n)
{
    for (size_t g = 0; g < sizeof(event_gauges) / sizeof(event_gauges[0]); g++) {
        prom_header(out, event_gauges[g].name, "gauge", event_gauges[g].help);
        for (int i = 0; i < n; i++)
            event_sample(out, event_gauges[g].name, ev[i].id, "",
                         *(const long *)(const void *)((const char *)&ev[i] + event_gauges[g].off));
    }
    prom_header(out, "giftdrop_reconcile_violations", "gauge",
                "1 when a check of eventctl reconcile fails for the event (check: its name).");
    for (int i = 0; i < n; i++) {
        struct check checks[REPORT_MAX_CHECKS];
        int nc = report_checks(&ev[i].k, NULL, ev[i].final, checks);
        for (int j = 0; j < nc; j++) {
            char extra[64];
            snprintf(extra, sizeof(extra), ",check=\"%s\"", checks[j].name);
            event_sample(out, "giftdrop_reconcile_violations", ev[i].id, extra, !checks[j].ok);
        }
    }
}

/* The run's own health, always rendered (also after a failed run). */
static void render_runs(struct evbuffer *out, const struct watch_state *w, int events)
{
    prom_header(out, "giftdrop_reconcile_runs_total", "counter",
                "Watch runs: ok, or failed (PostgreSQL or Redis did not answer; the event "
                "series keep the last good run).");
    prom_sample(out, "giftdrop_reconcile_runs_total", "result=\"ok\"", (long long)w->runs_ok);
    prom_sample(out, "giftdrop_reconcile_runs_total", "result=\"failed\"",
                (long long)w->runs_failed);
    prom_header(out, "giftdrop_reconcile_events", "gauge",
                "Live events checked by the last good run.");
    prom_sample(out, "giftdrop_reconcile_events", "", events);
    prom_header(out, "giftdrop_reconcile_last_success_timestamp_seconds", "gauge",
                "Unix time of the last good run (0: none yet).");
    evbuffer_add_printf(out, "giftdrop_reconcile_last_success_timestamp_seconds %.3f\n",
                        w->last_ok_unix);
    prom_header(out, "giftdrop_reconcile_duration_seconds", "gauge", "How long the last run took.");
    evbuffer_add_printf(out, "giftdrop_reconcile_duration_seconds %.3f\n", w->last_duration_s);
}

/*
 * One run: read every live event, then replace the served text.  A failed
 * run keeps the event series of the last good one (Prometheus would rather
 * see them stale than vanish: the alert on the runs says they are stale).
 */
static int watch_run(struct ctl *c, const struct watch_opts *o, struct watch_state *w,
                     struct watch_last *last)
{
    struct watch_event ev[WATCH_MAX_EVENTS];
    int64_t t0 = time_mono_ms();
    int n = 0, rc = ctl_need_db(c) || ctl_need_redis(c) ? -1 : 0;
    if (rc == 0)
        rc = live_events(c, o, ev, WATCH_MAX_EVENTS, &n);
    for (int i = 0; rc == 0 && i < n; i++)
        rc = read_event(c, &ev[i]);
    struct evbuffer *out = evbuffer_new();
    if (!out)
        return -1;
    if (rc == 0) {
        render_events(out, ev, n);
        size_t len = evbuffer_get_length(out);
        char *text = malloc(len + 1);
        if (text) {
            evbuffer_copyout(out, text, len);
            free(last->text);
            last->text = text;
            last->len = len;
            last->events = n;
        }
    } else if (last->text) {
        evbuffer_add(out, last->text, last->len);
    }
    pthread_mutex_lock(&w->mu);
    if (rc == 0) {
        w->runs_ok++;
        w->last_ok_unix = (double)time_now_ms() / 1000.0;
    } else {
        w->runs_failed++;
    }
    w->last_duration_s = (double)(time_mono_ms() - t0) / 1000.0;
    pthread_mutex_unlock(&w->mu);
    render_runs(out, w, last->events);
    publish(w, out);
    evbuffer_free(out);
    return rc;
}

static int parse_opts(int argc, char **argv, struct watch_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->interval_s = 15;
    o->final_after_s = 900;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0)
            o->once = 1;
        else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            o->listen = argv[++i];
        else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
            if (ctl_long_arg("--interval", argv[++i], 1, 3600, &o->interval_s))
                return -1;
        } else if (strcmp(argv[i], "--final-after") == 0 && i + 1 < argc) {
            if (ctl_long_arg("--final-after", argv[++i], 0, 86400, &o->final_after_s))
                return -1;
        } else
            return -1;
    }
    return (o->once || o->listen) ? 0 : -1;
}

int verb_watch(struct ctl *c, int argc, char **argv)
{
    struct watch_opts o;
    struct watch_state w;
    struct metrics_http *mh = NULL;
    struct watch_last last = {NULL, 0, 0};
    int rc = 0;
    if (parse_opts(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: eventctl watch --listen HOST:PORT [--interval S] "
                        "[--final-after S] | eventctl watch --once\n");
        return 2;
    }
    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.mu, NULL);
    sig_install();
    if (!o.once && metrics_http_start_thread(o.listen, render, &w, &mh) != GD_OK) {
        pthread_mutex_destroy(&w.mu);
        return 1;
    }
    if (!o.once)
        log_info(NULL, "watch: serving /metrics on %s, a run every %ld s", o.listen, o.interval_s);
    while (!sig_stop_requested()) {
        rc = watch_run(c, &o, &w, &last);
        if (o.once)
            break;
        /* Sleep in small steps so SIGTERM is noticed at once. */
        for (long ms = 0; ms < o.interval_s * 1000 && !sig_stop_requested(); ms += 100) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    metrics_http_stop(mh);
    if (o.once && w.text)
        fwrite(w.text, 1, w.len, stdout);
    free(w.text);
    free(last.text);
    pthread_mutex_destroy(&w.mu);
    if (!o.once)
        log_info(NULL, "watch: stopped");
    return o.once && rc != 0 ? 1 : 0;
}
