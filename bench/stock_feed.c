/*
 * stock_feed - feeds and reads the stock-consumer's queues for its tests
 * (tests/integration/stock_*.sh) and its benchmark (bench/stock_drain).
 *
 *   gd-stock-feed publish --event E --count N [--prefix P] [--first K]
 *                 [--poison-every M] [--repeat-every R] [--rate R/s]
 *                 [--window W] [--out FILE] [--no-redis]
 *       Publishes N entry.submitted.v1 messages for members P<K>..P<K+N-1>
 *       the way entry-api does: the gate's Redis write first (HSET
 *       ev:{E}:entries member entry_id), then a persistent publish to
 *       event.entry with publisher confirms.  A lost connection is healed by
 *       republishing every unconfirmed message with the same entry_id (what
 *       a member's repeat POST does), so at the end every message is
 *       confirmed.  Every M-th message is replaced by a poison message (bad
 *       JSON, missing field, wrong type, unknown event, ...) carrying
 *       x-event-id E; every R-th member is published twice (same entry_id).
 *       FILE gets "entry_id member_id" for every confirmed good entry, so a
 *       test computes "lost" against what the broker confirmed.
 *   gd-stock-feed drain [--queue Q] [--prefetch P] [--idle-ms T] [--max N]
 *       The bare consume ceiling: consume + one multiple ack per P/2
 *       deliveries, no work, until the queue stays idle for T ms.
 *   gd-stock-feed dlq --event E [--take] [--queue Q]
 *       Read every message of Q (default stock.entries.dlq): print
 *       "message_id<TAB>x-reason" for those of event E, then ack them
 *       (--take) or requeue them; others are always requeued.
 *   gd-stock-feed bounce --times N [--queue Q]
 *       A consumer that crashes on a message: take one delivery and drop
 *       the connection without an ack, N times; prints x-delivery-count.
 *
 * Every mode prints one JSON line of figures on stdout (dlq: after the
 * list) and exits 0 on success, 1 on failure, 2 on bad arguments.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <amqp.h>
#include <amqp_framing.h>

#include "errors.h"
#include "messages.h"
#include "rds.h"
#include "rmq.h"
#include "scripts.h"
#include "timeutil.h"
#include "topology.h"
#include "uuid.h"

struct opts {
    const char *mode, *prefix, *out, *queue;
    long long event;
    long count, first, poison_every, repeat_every, rate, window, prefetch, idle_ms, max, times;
    int no_redis, take;
};

/* One message to publish; state: 0 to send, 1 sent and unconfirmed, 2 confirmed. */
struct msg {
    char id[UUID_STR_LEN];
    char member[MSG_MEMBER_MAX + 1];
    char *body;
    size_t len;
    int poison, state;
};

struct feed {
    const struct opts *o;
    struct msg *m;
    long n;
    long *tag_to_msg; /* index by confirm tag - 1, for the current connection */
    long tag_cap;
    long confirmed, republished, reconnects, returned;
    struct rmq_conn c;
};

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && v[0] ? v : dflt;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int num_arg(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : -1;
    if (!s || errno || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->prefix = "m-";
    o->first = 1;
    o->window = 2000;
    o->prefetch = 500;
    o->idle_ms = 1500;
    o->times = 1;
    if (argc < 2)
        return -1;
    o->mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x = 0;
        if (strcmp(k, "--no-redis") == 0) {
            o->no_redis = 1;
            continue;
        }
        if (strcmp(k, "--take") == 0) {
            o->take = 1;
            continue;
        }
        i++;
        if (strcmp(k, "--prefix") == 0 && v)
            o->prefix = v;
        else if (strcmp(k, "--out") == 0 && v)
            o->out = v;
        else if (strcmp(k, "--queue") == 0 && v)
            o->queue = v;
        else if (num_arg(v, &x) != 0)
            return -1;
        else if (strcmp(k, "--event") == 0)
            o->event = x;
        else if (strcmp(k, "--count") == 0)
            o->count = x;
        else if (strcmp(k, "--first") == 0)
            o->first = x;
        else if (strcmp(k, "--poison-every") == 0)
            o->poison_every = x;
        else if (strcmp(k, "--repeat-every") == 0)
            o->repeat_every = x;
        else if (strcmp(k, "--rate") == 0)
            o->rate = x;
        else if (strcmp(k, "--window") == 0 && x > 0)
            o->window = x;
        else if (strcmp(k, "--prefetch") == 0 && x > 0 && x < 65536)
            o->prefetch = x;
        else if (strcmp(k, "--idle-ms") == 0)
            o->idle_ms = x;
        else if (strcmp(k, "--max") == 0)
            o->max = x;
        else if (strcmp(k, "--times") == 0)
            o->times = x;
        else
            return -1;
    }
    return 0;
}

static int open_conn(struct rmq_conn *c, const char *role)
{
    struct rmq_opts ro = {env_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672"),
                          "stock-feed",
                          "bench",
                          role,
                          0,
                          5000};
    int rc = rmq_connect(c, &ro);
    if (rc == GD_OK)
        rc = rmq_declare_topology(c);
    if (rc != GD_OK) {
        fprintf(stderr, "stock-feed: broker: %s\n", c->err);
        if (c->st)
            rmq_close(c);
    }
    return rc;
}

/* ---- publish ---------------------------------------------------------- */

/* The poison bodies, one per kind of wrongness the consumer must name. */
static char *poison_body(long k, const char *id, long long ev, const char *now)
{
    char buf[512];
    switch (k % 8) {
    case 0:
        snprintf(buf, sizeof(buf), "{\"entry_id\": \"%s\", broken", id);
        break;
    case 1:
        snprintf(buf, sizeof(buf),
                 "{\"entry_id\":\"%s\",\"event_id\":%lld,\"submitted_at\":\"%s\",\"answers\":{}}",
                 id, ev, now);
        break;
    case 2:
        snprintf(buf, sizeof(buf),
                 "{\"entry_id\":\"%s\",\"event_id\":\"%lld\",\"member_id\":\"px-%ld\","
                 "\"submitted_at\":\"%s\",\"answers\":{}}",
                 id, ev, k, now);
        break;
    case 3: /* an event nobody created: the claim answers unknown_event */
        snprintf(buf, sizeof(buf),
                 "{\"entry_id\":\"%s\",\"event_id\":%lld,\"member_id\":\"px-%ld\","
                 "\"submitted_at\":\"%s\",\"answers\":{}}",
                 id, 8000000000000LL + ev, k, now);
        break;
    case 4:
        snprintf(buf, sizeof(buf),
                 "{\"entry_id\":\"not-a-uuid-%ld\",\"event_id\":%lld,\"member_id\":\"px-%ld\","
                 "\"submitted_at\":\"%s\",\"answers\":{}}",
                 k, ev, k, now);
        break;
    case 5:
        snprintf(buf, sizeof(buf),
                 "{\"entry_id\":\"%s\",\"event_id\":%lld,\"member_id\":\"px-%ld\","
                 "\"submitted_at\":\"%s\",\"answers\":[1,2]}",
                 id, ev, k, now);
        break;
    case 6:
        snprintf(buf, sizeof(buf),
                 "{\"entry_id\":\"%s\",\"event_id\":%lld,\"member_id\":\"px %ld!\","
                 "\"submitted_at\":\"%s\",\"answers\":{}}",
                 id, ev, k, now);
        break;
    default:
        snprintf(buf, sizeof(buf), "[\"%s\"]", id);
        break;
    }
    return strdup(buf);
}

static int build_msgs(struct feed *f)
{
    const struct opts *o = f->o;
    char now[TIME_RFC3339_LEN];
    time_format_ms(time_now_ms(), now);
    f->n = o->count;
    f->m = calloc((size_t)f->n, sizeof(*f->m));
    if (!f->m)
        return GD_ENOMEM;
    for (long i = 0; i < f->n; i++) {
        struct msg *m = &f->m[i];
        if (uuid_v7(m->id) != GD_OK)
            return GD_EIO;
        snprintf(m->member, sizeof(m->member), "%s%ld", o->prefix, o->first + i);
        m->poison = o->poison_every > 0 && (i + 1) % o->poison_every == 0;
        if (m->poison) {
            m->body = poison_body((i + 1) / o->poison_every, m->id, o->event, now);
        } else {
            struct entry_msg e = {.event_id = o->event, .answers_json = "{\"q1\":\"yes\"}"};
            memcpy(e.entry_id, m->id, sizeof(e.entry_id));
            memcpy(e.member_id, m->member, sizeof(e.member_id));
            memcpy(e.submitted_at, now, sizeof(e.submitted_at));
            if (entry_msg_encode(&e, &m->body, &m->len) != GD_OK)
                return GD_ENOMEM;
        }
        if (!m->body)
            return GD_ENOMEM;
        m->len = strlen(m->body);
    }
    return GD_OK;
}

/* The gate's write: entries hash member -> entry_id, 500 members per HSET. */
static int gate_writes(struct feed *f)
{
    struct rds r;
    char key[64];
    const char *argv[2 + 2 * 500];
    int rc = rds_connect(&r, env_or("REDIS_URL", "redis://127.0.0.1:6379"), 5000);
    rds_key(key, sizeof(key), f->o->event, "entries");
    argv[0] = "HSET";
    argv[1] = key;
    for (long i = 0; rc == GD_OK && i < f->n;) {
        int k = 2;
        for (; i < f->n && k < 2 + 2 * 500; i++) {
            if (f->m[i].poison)
                continue;
            argv[k++] = f->m[i].member;
            argv[k++] = f->m[i].id;
        }
        redisReply *rep = NULL;
        if (k > 2 && (rc = rds_command(&r, &rep, k, argv, NULL)) == GD_OK)
            freeReplyObject(rep);
    }
    if (rc != GD_OK)
        fprintf(stderr, "stock-feed: redis: %s\n", r.err);
    rds_close(&r);
    return rc;
}

static void on_confirm(void *arg, uint64_t tag, int ok)
{
    struct feed *f = arg;
    if ((long)tag > f->tag_cap)
        return;
    struct msg *m = &f->m[f->tag_to_msg[tag - 1]];
    if (m->state != 1)
        return; /* a repeat's second confirm */
    m->state = ok ? 2 : 0;
    f->confirmed += ok;
}

static void on_return(void *arg, const char *id)
{
    ((struct feed *)arg)->returned++;
    fprintf(stderr, "stock-feed: message %s was not routed\n", id);
}

static int send_one(struct feed *f, long i)
{
    struct msg *m = &f->m[i];
    uint64_t tag = 0;
    struct rmq_props p = {.message_id = m->id,
                          .type = MSG_TYPE_ENTRY,
                          .app_id = "stock-feed",
                          .timestamp_s = time_now_ms() / 1000,
                          .event_id = f->o->event};
    char rk[64];
    snprintf(rk, sizeof(rk), "%s%lld", RK_ENTRY_PREFIX, f->o->event);
    int rc = rmq_publish(&f->c, EX_ENTRY, rk, 1, &p, m->body, m->len, &tag);
    if (rc != GD_OK)
        return rc;
    if ((long)tag > f->tag_cap) {
        long cap = f->tag_cap ? f->tag_cap * 2 : 65536;
        long *t = realloc(f->tag_to_msg, (size_t)cap * sizeof(*t));
        if (!t)
            return GD_ENOMEM;
        f->tag_to_msg = t;
        f->tag_cap = cap;
    }
    f->tag_to_msg[tag - 1] = i;
    if (m->state == 0)
        m->state = 1;
    return GD_OK;
}

/* After a lost connection: everything sent but unconfirmed goes again. */
static void requeue_unconfirmed(struct feed *f)
{
    for (long i = 0; i < f->n; i++)
        if (f->m[i].state == 1) {
            f->m[i].state = 0;
            f->republished++;
        }
}

/* Pace to --rate, keep at most --window unconfirmed, send message i (and its repeat). */
static int pump_send(struct feed *f, long i, int64_t t0, long sent)
{
    struct rmq_confirm_handler h = {on_confirm, on_return, f};
    if (f->o->rate > 0) {
        int64_t due = t0 + sent * 1000 / f->o->rate, wait;
        while ((wait = due - time_mono_ms()) > 0)
            if (rmq_pump(&f->c, (int)wait, &h) < 0)
                return GD_EAMQP_CLOSED;
    }
    while ((long)rmq_unconfirmed(&f->c) >= f->o->window)
        if (rmq_pump(&f->c, 1000, &h) < 0)
            return GD_EAMQP_CLOSED;
    int rc = send_one(f, i);
    if (rc == GD_OK && f->o->repeat_every > 0 && !f->m[i].poison &&
        (i + 1) % f->o->repeat_every == 0)
        rc = send_one(f, i);
    return rc;
}

/* One pass over the messages still to send; GD_OK when all are confirmed. */
static int publish_pass(struct feed *f, int64_t t0, long *sent)
{
    struct rmq_confirm_handler h = {on_confirm, on_return, f};
    for (long i = 0; i < f->n; i++) {
        if (f->m[i].state != 0)
            continue;
        int rc = pump_send(f, i, t0, (*sent)++);
        if (rc != GD_OK)
            return rc;
    }
    int64_t deadline = time_mono_ms() + 30000;
    while (rmq_unconfirmed(&f->c) > 0 && time_mono_ms() < deadline)
        if (rmq_pump(&f->c, 1000, &h) < 0)
            return GD_EAMQP_CLOSED;
    for (long i = 0; i < f->n; i++)
        if (f->m[i].state != 2)
            return GD_ETIMEOUT;
    return GD_OK;
}

static void write_out(const struct feed *f)
{
    FILE *fp = f->o->out ? fopen(f->o->out, "w") : NULL;
    if (!fp)
        return;
    for (long i = 0; i < f->n; i++)
        if (!f->m[i].poison && f->m[i].state == 2)
            fprintf(fp, "%s %s\n", f->m[i].id, f->m[i].member);
    fclose(fp);
}

static int do_publish(const struct opts *o)
{
    struct feed f;
    long sent = 0, poison = 0;
    int rc;
    memset(&f, 0, sizeof(f));
    f.o = o;
    if (o->event < 1 || o->count < 1)
        return 2;
    if ((rc = build_msgs(&f)) == GD_OK && !o->no_redis)
        rc = gate_writes(&f);
    int64_t t0 = time_mono_ms();
    for (int attempt = 0; rc == GD_OK && attempt < 200; attempt++) {
        if ((rc = open_conn(&f.c, "publish")) == GD_OK && (rc = rmq_confirm_select(&f.c)) == GD_OK)
            rc = publish_pass(&f, t0, &sent);
        if (rc == GD_OK)
            break;
        /* Broker restarting: back off, then the same entry_ids again. */
        rmq_close(&f.c);
        requeue_unconfirmed(&f);
        f.reconnects++;
        nap_ms(500);
        rc = GD_OK;
        if (attempt == 199)
            rc = GD_ETIMEOUT;
    }
    rmq_close(&f.c);
    double s = (double)(time_mono_ms() - t0) / 1000.0;
    for (long i = 0; i < f.n; i++)
        poison += f.m[i].poison && f.m[i].state == 2;
    write_out(&f);
    printf("{\"mode\":\"publish\",\"event\":%lld,\"messages\":%ld,\"confirmed\":%ld,"
           "\"good_confirmed\":%ld,\"poison_confirmed\":%ld,\"sent\":%ld,\"republished\":%ld,"
           "\"reconnects\":%ld,\"returned\":%ld,\"seconds\":%.3f,\"per_second\":%.0f}\n",
           o->event, f.n, f.confirmed, f.confirmed - poison, poison, sent, f.republished,
           f.reconnects, f.returned, s, s > 0 ? (double)sent / s : 0.0);
    for (long i = 0; i < f.n; i++)
        free(f.m[i].body);
    free(f.m);
    free(f.tag_to_msg);
    return rc == GD_OK && f.returned == 0 ? 0 : 1;
}

/* ---- drain, dlq, bounce ----------------------------------------------- */

static const amqp_field_value_t *header(const struct rmq_delivery *d, const char *key)
{
    const amqp_basic_properties_t *p = &d->env.message.properties;
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
        return NULL;
    for (int i = 0; i < p->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &p->headers.entries[i];
        if (e->key.len == strlen(key) && memcmp(e->key.bytes, key, e->key.len) == 0)
            return &e->value;
    }
    return NULL;
}

static int consume_queue(struct rmq_conn *c, const char *q, long prefetch)
{
    int rc = open_conn(c, "consume");
    if (rc == GD_OK)
        rc = rmq_qos(c, (int)prefetch);
    if (rc == GD_OK)
        rc = rmq_consume(c, q, "stock-feed");
    if (rc != GD_OK)
        fprintf(stderr, "stock-feed: consume %s: %s\n", q, c->err);
    return rc;
}

static int do_drain(const struct opts *o)
{
    struct rmq_conn c;
    struct rmq_delivery d;
    long got = 0, since_ack = 0;
    uint64_t last = 0;
    int64_t t0 = 0, t1 = 0;
    if (consume_queue(&c, o->queue ? o->queue : Q_STOCK, o->prefetch) != GD_OK)
        return 1;
    for (;;) {
        int rc = rmq_next(&c, got ? (int)o->idle_ms : 10000, &d);
        if (rc == GD_ETIMEOUT)
            break;
        if (rc != GD_OK) {
            fprintf(stderr, "stock-feed: %s\n", c.err);
            return 1;
        }
        if (!got++)
            t0 = time_mono_ms();
        t1 = time_mono_ms(); /* the idle wait at the end is not consumption */
        last = d.tag;
        rmq_delivery_free(&d);
        if (++since_ack >= o->prefetch / 2) {
            rmq_ack(&c, last, 1);
            since_ack = 0;
        }
        if (o->max && got >= o->max)
            break;
    }
    if (since_ack)
        rmq_ack(&c, last, 1);
    rmq_close(&c);
    double s = (double)(t1 - t0) / 1000.0;
    printf("{\"mode\":\"drain\",\"consumed\":%ld,\"prefetch\":%ld,\"seconds\":%.3f,"
           "\"per_second\":%.0f}\n",
           got, o->prefetch, s, s > 0 ? (double)got / s : 0.0);
    return 0;
}

static int push_tag(uint64_t **tags, long *cap, long n, uint64_t tag)
{
    if (n >= *cap) {
        long c = *cap ? *cap * 2 : 1024;
        uint64_t *t = realloc(*tags, (size_t)c * sizeof(*t));
        if (!t)
            return GD_ENOMEM;
        *tags = t;
        *cap = c;
    }
    (*tags)[n] = tag;
    return GD_OK;
}

/*
 * Hold every delivery unacked until the queue runs dry (so a requeued one
 * cannot come back and be counted twice), ack the event's ones (--take),
 * and let closing the connection requeue all the others.
 */
static int do_dlq(const struct opts *o)
{
    struct rmq_conn c;
    struct rmq_delivery d;
    long mine = 0, others = 0, cap = 0;
    uint64_t *tags = NULL;
    if (o->event < 1)
        return 2;
    if (consume_queue(&c, o->queue ? o->queue : Q_STOCK_DLQ, 0) != GD_OK)
        return 1;
    while (rmq_next(&c, 1000, &d) == GD_OK) {
        const amqp_field_value_t *r = header(&d, "x-reason");
        int has = r && r->kind == AMQP_FIELD_KIND_UTF8;
        if (d.event_id != o->event) {
            others++;
        } else if (push_tag(&tags, &cap, mine, d.tag) == GD_OK) {
            mine++;
            printf("%s\t%.*s\n", d.message_id[0] ? d.message_id : "-",
                   has ? (int)r->value.bytes.len : 1, has ? (char *)r->value.bytes.bytes : "-");
        }
        rmq_delivery_free(&d);
    }
    for (long i = 0; o->take && i < mine; i++)
        rmq_ack(&c, tags[i], 0);
    rmq_close(&c);
    free(tags);
    printf("{\"mode\":\"dlq\",\"event\":%lld,\"messages\":%ld,\"taken\":%ld,\"others\":%ld}\n",
           o->event, mine, o->take ? mine : 0, others);
    return 0;
}

static int do_bounce(const struct opts *o)
{
    const char *q = o->queue ? o->queue : Q_STOCK;
    for (long i = 0; i < o->times; i++) {
        struct rmq_conn c;
        struct rmq_delivery d;
        if (consume_queue(&c, q, 1) != GD_OK)
            return 1;
        int rc = rmq_next(&c, 5000, &d);
        if (rc == GD_OK) {
            printf("bounce %ld: message %s x-delivery-count %ld\n", i + 1, d.message_id,
                   d.delivery_count);
            rmq_delivery_free(&d);
        } else {
            printf("bounce %ld: queue %s is empty\n", i + 1, q);
        }
        /* No ack: like a consumer killed while holding it. */
        amqp_destroy_connection(c.st);
        c.st = NULL;
        rmq_close(&c);
        if (rc != GD_OK)
            break;
        nap_ms(200);
    }
    printf("{\"mode\":\"bounce\",\"times\":%ld}\n", o->times);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: gd-stock-feed publish|drain|dlq|bounce [options] (see the head "
                        "comment of bench/stock_feed.c)\n");
        return 2;
    }
    scripts_init();
    if (strcmp(o.mode, "publish") == 0)
        return do_publish(&o);
    if (strcmp(o.mode, "drain") == 0)
        return do_drain(&o);
    if (strcmp(o.mode, "dlq") == 0)
        return do_dlq(&o);
    if (strcmp(o.mode, "bounce") == 0)
        return do_bounce(&o);
    fprintf(stderr, "stock-feed: unknown mode \"%s\"\n", o.mode);
    return 2;
}
