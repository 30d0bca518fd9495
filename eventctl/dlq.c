/*
 * dlq.c - eventctl dlq: look into the dead-letter queues and replay them.
 *
 *   dlq list [QUEUE] [--limit N] [--json]   depths of every queue of the
 *        topology, then up to N messages of each dead-letter queue (peeked:
 *        consumed without ack and handed back when the connection closes).
 *   dlq replay QUEUE [--limit N] [--json]   republish each message to where
 *        it first went (event.entry / event.winner) with publisher confirms,
 *        then ack it off the DLQ.  At most the queue's depth at the start,
 *        so messages that fail again during the replay are not looped.
 *
 * Consumers are idempotent per (event_id, member_id) (DESIGN §2.4), so a
 * replayed message that was in fact handled changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <amqp.h>
#include <cjson/cJSON.h>

#include "ctl.h"
#include "errors.h"
#include "messages.h"
#include "queues.h"
#include "rmq.h"
#include "timeutil.h"
#include "topology.h"

#define DLQ_LIMIT_DEFAULT 20
#define DLQ_LIMIT_MAX     100000
#define DLQ_PREFETCH_MAX  500
#define DLQ_WAIT_MS       1500 /* first delivery; an empty queue ends the wait */
#define CONFIRM_MS        5000

struct dlq_args {
    const char *queue; /* NULL: both (list only) */
    long limit;        /* 0: not given */
};

/* "stock" / "notify" are short for the two dead-letter queues. */
static const char *dlq_name(const char *s)
{
    if (strcmp(s, "stock") == 0 || strcmp(s, Q_STOCK_DLQ) == 0)
        return Q_STOCK_DLQ;
    if (strcmp(s, "notify") == 0 || strcmp(s, Q_NOTIFY_DLQ) == 0)
        return Q_NOTIFY_DLQ;
    return NULL;
}

static int parse_args(struct ctl *c, int argc, char **argv, int need_queue, struct dlq_args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            c->json = 1;
        } else if (strcmp(argv[i], "--limit") == 0) {
            if (ctl_long_arg("--limit", i + 1 < argc ? argv[i + 1] : NULL, 1, DLQ_LIMIT_MAX,
                             &a->limit))
                return -1;
            i++;
        } else if (argv[i][0] != '-' && !a->queue) {
            if (!(a->queue = dlq_name(argv[i]))) {
                fprintf(stderr,
                        "eventctl dlq: \"%s\" is not a dead-letter queue (%s or %s, or"
                        " stock / notify)\n",
                        argv[i], Q_STOCK_DLQ, Q_NOTIFY_DLQ);
                return -1;
            }
        } else {
            fprintf(stderr, "eventctl dlq: unexpected argument \"%s\"\n", argv[i]);
            return -1;
        }
    }
    if (need_queue && !a->queue) {
        fprintf(stderr, "eventctl dlq replay: which queue? (%s or %s)\n", Q_STOCK_DLQ,
                Q_NOTIFY_DLQ);
        return -1;
    }
    return 0;
}

/* ---- reading what a dead letter carries ---------------------------------- */

static const amqp_field_value_t *header(const amqp_basic_properties_t *p, const char *key)
{
    size_t n = strlen(key);
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
        return NULL;
    for (int i = 0; i < p->headers.num_entries; i++)
        if (p->headers.entries[i].key.len == n &&
            memcmp(p->headers.entries[i].key.bytes, key, n) == 0)
            return &p->headers.entries[i].value;
    return NULL;
}

static void str_of(const amqp_field_value_t *v, char *out, size_t cap)
{
    out[0] = '\0';
    if (v && (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES))
        snprintf(out, cap, "%.*s", (int)v->value.bytes.len, (const char *)v->value.bytes.bytes);
}

static void prop_str(const amqp_basic_properties_t *p, amqp_flags_t flag, amqp_bytes_t b, char *out,
                     size_t cap)
{
    out[0] = '\0';
    if (p->_flags & flag)
        snprintf(out, cap, "%.*s", (int)b.len, (const char *)b.bytes);
}

/* What a list line and a replay need to know of one dead letter. */
struct dead {
    char type[64], app_id[64], reason[256];
    char orig_exchange[64], orig_key[128]; /* from x-death, when the broker dead-lettered */
};

/* x-death[0]: {exchange, routing-keys: [..], reason, queue, count} */
static void read_x_death(const amqp_basic_properties_t *p, struct dead *dd)
{
    const amqp_field_value_t *xd = header(p, "x-death");
    if (!xd || xd->kind != AMQP_FIELD_KIND_ARRAY || xd->value.array.num_entries < 1 ||
        xd->value.array.entries[0].kind != AMQP_FIELD_KIND_TABLE)
        return;
    const amqp_table_t *t = &xd->value.array.entries[0].value.table;
    for (int i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        if (e->key.len == 8 && memcmp(e->key.bytes, "exchange", 8) == 0)
            str_of(&e->value, dd->orig_exchange, sizeof(dd->orig_exchange));
        else if (e->key.len == 6 && memcmp(e->key.bytes, "reason", 6) == 0 && !dd->reason[0])
            str_of(&e->value, dd->reason, sizeof(dd->reason));
        else if (e->key.len == 12 && memcmp(e->key.bytes, "routing-keys", 12) == 0 &&
                 e->value.kind == AMQP_FIELD_KIND_ARRAY && e->value.value.array.num_entries > 0)
            str_of(&e->value.value.array.entries[0], dd->orig_key, sizeof(dd->orig_key));
    }
}

static void read_dead(const struct rmq_delivery *d, struct dead *dd)
{
    const amqp_basic_properties_t *p = &d->env.message.properties;
    memset(dd, 0, sizeof(*dd));
    prop_str(p, AMQP_BASIC_TYPE_FLAG, p->type, dd->type, sizeof(dd->type));
    prop_str(p, AMQP_BASIC_APP_ID_FLAG, p->app_id, dd->app_id, sizeof(dd->app_id));
    str_of(header(p, "x-reason"), dd->reason, sizeof(dd->reason));
    read_x_death(p, dd);
}

/*
 * Where a dead letter first went.  The broker's x-death says so when the
 * broker dead-lettered it (delivery limit); a consumer's poison copy has no
 * x-death: entries go to event.entry with event.entry.<event_id>, winners to
 * event.winner with their channel.  0, or -1 with why in `why`.
 */
static int origin(const char *queue, const struct rmq_delivery *d, const struct dead *dd, char *ex,
                  size_t ex_cap, char *key, size_t key_cap, char *why, size_t why_cap)
{
    if (dd->orig_exchange[0] && dd->orig_key[0]) {
        snprintf(ex, ex_cap, "%s", dd->orig_exchange);
        snprintf(key, key_cap, "%s", dd->orig_key);
        return 0;
    }
    cJSON *o = cJSON_ParseWithLength(d->body, d->len);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event_id");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "channel");
    int rc = -1;
    if (strcmp(queue, Q_STOCK_DLQ) == 0) {
        long long id = d->event_id          ? d->event_id
                       : cJSON_IsNumber(ev) ? (long long)ev->valuedouble
                                            : 0;
        snprintf(ex, ex_cap, "%s", EX_ENTRY);
        snprintf(key, key_cap, "%s%lld", RK_ENTRY_PREFIX, id);
        rc = id > 0 ? 0 : -1;
        snprintf(why, why_cap, "no event id in its headers or body");
    } else {
        const char *chan = cJSON_IsString(ch) ? ch->valuestring : "";
        snprintf(ex, ex_cap, "%s", EX_WINNER);
        snprintf(key, key_cap, "%s", chan);
        rc = strcmp(chan, "kakao") == 0 || strcmp(chan, "sms") == 0 ? 0 : -1;
        snprintf(why, why_cap, "no channel (kakao/sms) in its body");
    }
    cJSON_Delete(o);
    return rc;
}

/* ---- connections ----------------------------------------------------------- */

/* Messages ready in queue (passive declare: fails if it does not exist). */
static int queue_ready(struct rmq_conn *rc, const char *queue, long *ready)
{
    long consumers;
    int r = rmq_queue_counts(rc, queue, ready, &consumers);
    if (r == GD_ENOTFOUND)
        snprintf(rc->err, sizeof(rc->err), "queue %s does not exist", queue);
    return r;
}

/* Consume `queue` without acking, prefetch bounded by what we will take. */
static int open_reader(struct ctl *c, struct rmq_conn *rc, const char *queue, long want,
                       const char *role, long *ready)
{
    struct rmq_opts o;
    char tag[256];
    ctl_rmq_opts(c, &o, role);
    int rc_ = rmq_connect(rc, &o);
    if (rc_ == GD_OK)
        rc_ = queue_ready(rc, queue, ready);
    if (rc_ == GD_OK)
        rc_ =
            rmq_qos(rc, (int)(want < DLQ_PREFETCH_MAX ? (want > 0 ? want : 1) : DLQ_PREFETCH_MAX));
    snprintf(tag, sizeof(tag), "eventctl@%s:%d/%s", c->cfg->instance, (int)getpid(), role);
    if (rc_ == GD_OK && *ready > 0)
        rc_ = rmq_consume(rc, queue, tag);
    if (rc_ != GD_OK)
        fprintf(stderr, "eventctl dlq: %s: %s\n", queue, rc->err[0] ? rc->err : err_str(rc_));
    return rc_;
}

/* ---- list ------------------------------------------------------------------ */

static void print_queues(struct ctl *c)
{
    struct queue_report qr;
    queues_read(c, &qr);
    if (!qr.ok)
        fprintf(stderr, "eventctl dlq: queue depths unavailable: %s\n", qr.err);
    if (c->json) {
        printf("{\"queues\":[");
        for (size_t i = 0; qr.ok && i < qr.n; i++) {
            const struct mgmt_queue *q = &qr.q[i];
            printf("%s{\"name\":\"%s\",\"exists\":%s,\"ready\":%ld,\"unacked\":%ld,"
                   "\"consumers\":%ld,\"live\":%s}",
                   i ? "," : "", q->name, q->found ? "true" : "false", q->ready, q->unacked,
                   q->consumers, q->live ? "true" : "false");
        }
        printf("],\"messages\":[");
        return;
    }
    if (!qr.ok)
        return;
    printf("%-22s %10s %10s %10s\n", "QUEUE", "READY", "UNACKED", "CONSUMERS");
    for (size_t i = 0; i < qr.n; i++) {
        const struct mgmt_queue *q = &qr.q[i];
        if (q->found)
            printf("%-22s %10ld %10ld %10ld%s\n", q->name, q->ready, q->unacked, q->consumers,
                   q->live ? "" : "  stats");
        else
            printf("%-22s %10s\n", q->name, "missing");
    }
    queues_print_source(&qr, "");
}

static void print_message(struct ctl *c, const char *queue, const struct rmq_delivery *d,
                          int *first)
{
    struct dead dd;
    char ex[64], key[128], why[128];
    read_dead(d, &dd);
    if (origin(queue, d, &dd, ex, sizeof(ex), key, sizeof(key), why, sizeof(why)) != 0)
        snprintf(key, sizeof(key), "?");
    if (!c->json) {
        printf("  %-36s event %-6lld %-20s %-18s -> %s  %s\n",
               d->message_id[0] ? d->message_id : "-", d->event_id, dd.type[0] ? dd.type : "-",
               dd.app_id[0] ? dd.app_id : "-", key, dd.reason[0] ? dd.reason : "-");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "queue", queue);
    cJSON_AddStringToObject(o, "message_id", d->message_id);
    cJSON_AddNumberToObject(o, "event_id", (double)d->event_id);
    cJSON_AddStringToObject(o, "type", dd.type);
    cJSON_AddStringToObject(o, "app_id", dd.app_id);
    cJSON_AddStringToObject(o, "reason", dd.reason);
    cJSON_AddStringToObject(o, "replay_to", key);
    cJSON_AddNumberToObject(o, "bytes", (double)d->len);
    char *s = cJSON_PrintUnformatted(o);
    printf("%s%s", *first ? "" : ",", s ? s : "{}");
    *first = 0;
    free(s);
    cJSON_Delete(o);
}

/* Peek at up to limit messages of one DLQ; they go back when the connection closes. */
static int list_one(struct ctl *c, const char *queue, long limit, int *first)
{
    struct rmq_conn rc;
    struct rmq_delivery d;
    long ready = 0, seen = 0;
    int st = open_reader(c, &rc, queue, limit, "dlq-list", &ready);
    if (st == GD_OK && !c->json)
        printf("\n%s: %ld message(s)%s\n", queue, ready,
               ready > limit ? " (showing the first ones; --limit N for more)" : "");
    while (st == GD_OK && seen < limit && seen < ready) {
        st = rmq_next(&rc, DLQ_WAIT_MS, &d);
        if (st == GD_ETIMEOUT) {
            st = GD_OK;
            break;
        }
        if (st == GD_OK) {
            print_message(c, queue, &d, first);
            rmq_delivery_free(&d);
            seen++;
        }
    }
    rmq_close(&rc);
    return st == GD_OK ? 0 : 1;
}

static int dlq_list(struct ctl *c, const struct dlq_args *a)
{
    int first = 1, rc = 0;
    long limit = a->limit ? a->limit : DLQ_LIMIT_DEFAULT;
    print_queues(c);
    const char *queues[] = {Q_STOCK_DLQ, Q_NOTIFY_DLQ};
    for (int i = 0; i < 2; i++)
        if (!a->queue || strcmp(a->queue, queues[i]) == 0)
            rc |= list_one(c, queues[i], limit, &first);
    if (c->json)
        printf("]}\n");
    return rc;
}

/* ---- replay ---------------------------------------------------------------- */

struct replay_count {
    long replayed, skipped, failed;
};

/* Republish one dead letter, confirmed and routed; 0, or a negative code. */
static int replay_one(struct rmq_conn *pub, const char *queue, const struct rmq_delivery *d,
                      char *why, size_t why_cap)
{
    struct dead dd;
    char ex[64], key[128];
    read_dead(d, &dd);
    if (origin(queue, d, &dd, ex, sizeof(ex), key, sizeof(key), why, why_cap) != 0)
        return GD_EMESSAGE;
    /* A consumer's poison copy is typed "poison"/"dead-letter": give back the
     * type the queue's consumer expects. */
    const char *type = strcmp(queue, Q_STOCK_DLQ) == 0 ? MSG_TYPE_ENTRY : MSG_TYPE_WINNER;
    struct rmq_props p = {d->message_id[0] ? d->message_id : NULL,
                          type,
                          "eventctl",
                          time_now_ms() / 1000,
                          d->event_id,
                          d->traceparent[0] ? d->traceparent : NULL,
                          NULL};
    int rc = rmq_publish(pub, ex, key, 1, &p, d->body, d->len, NULL);
    if (rc == GD_OK)
        rc = rmq_wait_confirms(pub, CONFIRM_MS);
    if (rc != GD_OK)
        snprintf(why, why_cap, "%s to %s/%s: %s", err_str(rc), ex, key,
                 pub->err[0] ? pub->err : "");
    return rc;
}

static void report_replay(struct ctl *c, const char *queue, const struct replay_count *n,
                          long ready)
{
    if (c->json)
        printf("{\"queue\":\"%s\",\"depth\":%ld,\"replayed\":%ld,\"skipped\":%ld,"
               "\"failed\":%ld}\n",
               queue, ready, n->replayed, n->skipped, n->failed);
    else
        printf("%s: replayed %ld, skipped %ld (left in the queue), failed %ld\n", queue,
               n->replayed, n->skipped, n->failed);
}

static int dlq_replay(struct ctl *c, const struct dlq_args *a)
{
    struct rmq_conn rd, pub;
    struct rmq_opts o;
    struct replay_count n = {0, 0, 0};
    long ready = 0;
    int st =
        open_reader(c, &rd, a->queue, a->limit ? a->limit : DLQ_PREFETCH_MAX, "dlq-replay", &ready);
    if (st != GD_OK) {
        rmq_close(&rd);
        return 1;
    }
    long todo = a->limit && a->limit < ready ? a->limit : ready;
    ctl_rmq_opts(c, &o, "dlq-replay-publish");
    if (todo > 0 && ((st = rmq_connect(&pub, &o)) != GD_OK || (st = rmq_confirm_select(&pub)))) {
        fprintf(stderr, "eventctl dlq replay: publisher: %s\n", pub.err);
        rmq_close(&pub);
        rmq_close(&rd);
        return 1;
    }
    for (long seen = 0; seen < todo && st == GD_OK; seen++) {
        struct rmq_delivery d;
        char why[384] = "";
        if ((st = rmq_next(&rd, DLQ_WAIT_MS, &d)) != GD_OK)
            break;
        int rc = replay_one(&pub, a->queue, &d, why, sizeof(why));
        if (rc == GD_OK && (st = rmq_ack(&rd, d.tag, 0)) == GD_OK) {
            n.replayed++;
        } else if (rc == GD_EMESSAGE) {
            n.skipped++; /* left unacked: back in the DLQ when we close */
            fprintf(stderr, "eventctl dlq replay: %s left in %s: %s\n",
                    d.message_id[0] ? d.message_id : "(no message_id)", a->queue, why);
        } else if (rc != GD_OK) {
            n.failed++;
            fprintf(stderr, "eventctl dlq replay: %s not replayed: %s\n",
                    d.message_id[0] ? d.message_id : "(no message_id)", why);
            st = pub.broken ? rc : GD_OK;
        }
        rmq_delivery_free(&d);
    }
    if (st == GD_ETIMEOUT)
        st = GD_OK; /* someone else drained it meanwhile */
    if (st != GD_OK)
        fprintf(stderr, "eventctl dlq replay: stopped: %s\n", rd.err[0] ? rd.err : err_str(st));
    if (todo > 0)
        rmq_close(&pub);
    rmq_close(&rd);
    report_replay(c, a->queue, &n, ready);
    return st == GD_OK && n.skipped == 0 && n.failed == 0 ? 0 : 1;
}

int verb_dlq(struct ctl *c, int argc, char **argv)
{
    struct dlq_args a;
    const char *usage = "usage: eventctl dlq list [QUEUE] [--limit N] [--json]\n"
                        "       eventctl dlq replay QUEUE [--limit N] [--json]\n"
                        "  QUEUE: stock.entries.dlq (stock) or notify.dlq (notify)\n";
    if (argc < 1) {
        fputs(usage, stderr);
        return 2;
    }
    int replay = strcmp(argv[0], "replay") == 0;
    if ((!replay && strcmp(argv[0], "list") != 0) ||
        parse_args(c, argc - 1, argv + 1, replay, &a)) {
        if (!replay && strcmp(argv[0], "list") != 0)
            fprintf(stderr, "eventctl dlq: unknown action \"%s\"\n", argv[0]);
        fputs(usage, stderr);
        return 2;
    }
    return replay ? dlq_replay(c, &a) : dlq_list(c, &a);
}
