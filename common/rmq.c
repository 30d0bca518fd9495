#include "rmq.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include "errors.h"
#include "topology.h"

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Translate a reply into c->err and a code; marks the connection broken. */
static int reply_err(struct rmq_conn *c, amqp_rpc_reply_t r, const char *what)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return GD_OK;
    case AMQP_RESPONSE_NONE:
        snprintf(c->err, sizeof(c->err), "%s: missing RPC reply", what);
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(c->err, sizeof(c->err), "%s: %s", what, amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(c->err, sizeof(c->err), "%s: server closed connection: %u %.*s", what,
                     m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
            amqp_send_method(c->st, 0, AMQP_CONNECTION_CLOSE_OK_METHOD,
                             &(amqp_connection_close_ok_t){0});
            c->broken = 1;
            return GD_EAMQP_CLOSED;
        }
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(c->err, sizeof(c->err), "%s: server closed channel: %u %.*s", what,
                     m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
            c->broken = 1;
            return GD_EAMQP_CHANNEL;
        }
        snprintf(c->err, sizeof(c->err), "%s: server exception 0x%08x", what, r.reply.id);
        break;
    }
    c->broken = 1;
    return GD_EAMQP_CLOSED;
}

static void set_keepalive(int fd)
{
    int on = 1, idle = 10, intvl = 5, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

static int do_login(struct rmq_conn *c, const struct amqp_connection_info *ci,
                    const struct rmq_opts *o)
{
    amqp_table_entry_t caps[4], props[3];
    caps[0].key = amqp_cstring_bytes("connection.blocked");
    caps[1].key = amqp_cstring_bytes("publisher_confirms");
    caps[2].key = amqp_cstring_bytes("consumer_cancel_notify");
    caps[3].key = amqp_cstring_bytes("basic.nack");
    for (int i = 0; i < 4; i++) {
        caps[i].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        caps[i].value.value.boolean = 1;
    }
    props[0].key = amqp_cstring_bytes("connection_name");
    props[0].value.kind = AMQP_FIELD_KIND_UTF8;
    props[0].value.value.bytes = amqp_cstring_bytes(c->name);
    props[1].key = amqp_cstring_bytes("product");
    props[1].value.kind = AMQP_FIELD_KIND_UTF8;
    props[1].value.value.bytes = amqp_cstring_bytes("giftdrop");
    props[2].key = amqp_cstring_bytes("capabilities");
    props[2].value.kind = AMQP_FIELD_KIND_TABLE;
    props[2].value.value.table.num_entries = 4;
    props[2].value.value.table.entries = caps;
    amqp_table_t table = {3, props};

    amqp_rpc_reply_t r =
        amqp_login_with_properties(c->st, ci->vhost, 0, 131072, o->heartbeat_s, &table,
                                   AMQP_SASL_METHOD_PLAIN, ci->user, ci->password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        return reply_err(c, r, "login");
    amqp_channel_open(c->st, 1);
    return reply_err(c, amqp_get_rpc_reply(c->st), "channel.open");
}

int rmq_connect(struct rmq_conn *c, const struct rmq_opts *o)
{
    struct amqp_connection_info ci;
    struct timeval tv = ms_to_tv(o->timeout_ms);
    int rc = GD_EAMQP_CONNECT;

    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s@%s:%d%s%s", o->service, o->instance, (int)getpid(),
             o->role ? "/" : "", o->role ? o->role : "");
    char *url = strdup(o->url);
    if (!url)
        return GD_ENOMEM;
    amqp_default_connection_info(&ci);
    if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK) {
        snprintf(c->err, sizeof(c->err), "AMQP_URL is not a valid amqp:// URL");
        rc = GD_ECONFIG;
        goto out;
    }
    c->st = amqp_new_connection();
    if (!c->st) {
        rc = GD_ENOMEM;
        goto out;
    }
    amqp_socket_t *sock = ci.ssl ? amqp_ssl_socket_new(c->st) : amqp_tcp_socket_new(c->st);
    if (!sock) {
        snprintf(c->err, sizeof(c->err), "cannot create socket");
        goto fail;
    }
    int st = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
    if (st != AMQP_STATUS_OK) {
        snprintf(c->err, sizeof(c->err), "connect %s:%d: %s", ci.host, ci.port,
                 amqp_error_string2(st));
        goto fail;
    }
    c->tls = ci.ssl;
    set_keepalive(amqp_get_sockfd(c->st));
    amqp_set_rpc_timeout(c->st, &tv);
    amqp_set_handshake_timeout(c->st, &tv);
    if ((rc = do_login(c, &ci, o)) != GD_OK) {
        rc = GD_EAMQP_CONNECT;
        goto fail;
    }
    c->open = 1;
    c->broken = 0;
    rc = GD_OK;
    goto out;
fail:
    amqp_destroy_connection(c->st);
    c->st = NULL;
out:
    free(url);
    return rc;
}

void rmq_close(struct rmq_conn *c)
{
    if (c->st) {
        /* After a partly written frame anything more is garbage to the broker. */
        if (c->open && !c->broken && rmq_pending(c) == 0) {
            amqp_channel_close(c->st, 1, AMQP_REPLY_SUCCESS);
            amqp_connection_close(c->st, AMQP_REPLY_SUCCESS);
        }
        amqp_destroy_connection(c->st);
    }
    free(c->win);
    free(c->out);
    c->win = NULL;
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
    c->st = NULL;
    c->open = 0;
}

static amqp_table_entry_t str_arg(const char *k, const char *v)
{
    amqp_table_entry_t e;
    e.key = amqp_cstring_bytes(k);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = amqp_cstring_bytes(v);
    return e;
}

static amqp_table_entry_t long_arg(const char *k, long long v)
{
    amqp_table_entry_t e;
    e.key = amqp_cstring_bytes(k);
    e.value.kind = AMQP_FIELD_KIND_I64;
    e.value.value.i64 = v;
    return e;
}

static int declare_queue(struct rmq_conn *c, const struct topo_queue *q)
{
    amqp_table_entry_t a[8];
    int n = 0;
    if (q->queue_type)
        a[n++] = str_arg("x-queue-type", q->queue_type);
    if (q->dlx)
        a[n++] = str_arg("x-dead-letter-exchange", q->dlx);
    if (q->dl_key)
        a[n++] = str_arg("x-dead-letter-routing-key", q->dl_key);
    if (q->dl_strategy)
        a[n++] = str_arg("x-dead-letter-strategy", q->dl_strategy);
    if (q->overflow)
        a[n++] = str_arg("x-overflow", q->overflow);
    if (q->delivery_limit)
        a[n++] = long_arg("x-delivery-limit", q->delivery_limit);
    if (q->max_length)
        a[n++] = long_arg("x-max-length", q->max_length);
    if (q->message_ttl)
        a[n++] = long_arg("x-message-ttl", q->message_ttl);
    amqp_table_t args = {n, a};
    amqp_queue_declare(c->st, 1, amqp_cstring_bytes(q->name), 0, 1, 0, 0, args);
    return reply_err(c, amqp_get_rpc_reply(c->st), q->name);
}

int rmq_declare_topology(struct rmq_conn *c)
{
    int rc;
    for (size_t i = 0; i < topo_exchange_count; i++) {
        amqp_exchange_declare(c->st, 1, amqp_cstring_bytes(topo_exchanges[i].name),
                              amqp_cstring_bytes(topo_exchanges[i].type), 0, 1, 0, 0,
                              amqp_empty_table);
        if ((rc = reply_err(c, amqp_get_rpc_reply(c->st), topo_exchanges[i].name)) != GD_OK)
            return rc;
    }
    for (size_t i = 0; i < topo_queue_count; i++)
        if ((rc = declare_queue(c, &topo_queues[i])) != GD_OK)
            return rc;
    for (size_t i = 0; i < topo_binding_count; i++) {
        const struct topo_binding *b = &topo_bindings[i];
        amqp_queue_bind(c->st, 1, amqp_cstring_bytes(b->queue), amqp_cstring_bytes(b->exchange),
                        amqp_cstring_bytes(b->key), amqp_empty_table);
        if ((rc = reply_err(c, amqp_get_rpc_reply(c->st), b->queue)) != GD_OK)
            return rc;
    }
    return GD_OK;
}

int rmq_confirm_select(struct rmq_conn *c)
{
    amqp_confirm_select(c->st, 1);
    int rc = reply_err(c, amqp_get_rpc_reply(c->st), "confirm.select");
    if (rc == GD_OK) {
        c->confirming = 1;
        c->next_tag = 0;
        c->win_base = c->win_low = 1;
    }
    return rc;
}

/* Make room in the confirm window for tag; 0 or GD_ENOMEM. */
static int win_reserve(struct rmq_conn *c, uint64_t tag)
{
    if (c->win_low > c->win_base + c->win_cap / 2) { /* slide: drop confirmed prefix */
        size_t drop = (size_t)(c->win_low - c->win_base);
        memmove(c->win, c->win + drop, c->win_cap - drop);
        memset(c->win + c->win_cap - drop, 0, drop);
        c->win_base = c->win_low;
    }
    size_t need = (size_t)(tag - c->win_base) + 1;
    if (need <= c->win_cap)
        return GD_OK;
    size_t cap = c->win_cap ? c->win_cap * 2 : 1024;
    while (cap < need)
        cap *= 2;
    uint8_t *w = realloc(c->win, cap);
    if (!w)
        return GD_ENOMEM;
    memset(w + c->win_cap, 0, cap - c->win_cap);
    c->win = w;
    c->win_cap = cap;
    return GD_OK;
}

static void add_header_str(amqp_table_entry_t *h, int *n, const char *k, const char *v)
{
    if (v && v[0])
        h[(*n)++] = str_arg(k, v);
}

/* Fill props (and the header table h, 4 entries) for one publish. */
static void set_props(amqp_basic_properties_t *props, amqp_table_entry_t *h,
                      const struct rmq_props *p, long attempt)
{
    int n = 0;
    memset(props, 0, sizeof(*props));
    props->_flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    props->content_type = amqp_cstring_bytes("application/json");
    props->delivery_mode = 2;
    if (p->message_id) {
        props->_flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        props->message_id = amqp_cstring_bytes(p->message_id);
    }
    if (p->type) {
        props->_flags |= AMQP_BASIC_TYPE_FLAG;
        props->type = amqp_cstring_bytes(p->type);
    }
    if (p->app_id) {
        props->_flags |= AMQP_BASIC_APP_ID_FLAG;
        props->app_id = amqp_cstring_bytes(p->app_id);
    }
    if (p->timestamp_s) {
        props->_flags |= AMQP_BASIC_TIMESTAMP_FLAG;
        props->timestamp = (uint64_t)p->timestamp_s;
    }
    if (p->event_id)
        h[n++] = long_arg("x-event-id", p->event_id);
    add_header_str(h, &n, "traceparent", p->traceparent);
    add_header_str(h, &n, "x-reason", p->reason);
    if (attempt > 0)
        h[n++] = long_arg("x-attempt", attempt);
    if (n) {
        props->_flags |= AMQP_BASIC_HEADERS_FLAG;
        props->headers.num_entries = n;
        props->headers.entries = h;
    }
}

/* Room in the confirm window for the next tag, before anything is sent:
 * a publish the window cannot track must not go out. */
static int tag_reserve(struct rmq_conn *c)
{
    return !c->confirming || win_reserve(c, c->next_tag + 1) == GD_OK ? GD_OK : GD_ENOMEM;
}

/* The publish went out (or is committed to out): it takes the next tag. */
static void tag_take(struct rmq_conn *c, uint64_t *tag)
{
    if (!c->confirming)
        return;
    c->next_tag++;
    if (tag)
        *tag = c->next_tag;
}

static int publish(struct rmq_conn *c, const char *exchange, const char *routing_key, int mandatory,
                   const struct rmq_props *p, long attempt, const void *body, size_t len,
                   uint64_t *tag)
{
    amqp_basic_properties_t props;
    amqp_table_entry_t h[4];

    if (!c->open || c->broken)
        return GD_EAMQP_CLOSED;
    set_props(&props, h, p, attempt);
    if (tag_reserve(c) != GD_OK)
        return GD_ENOMEM;
    amqp_bytes_t b = {len, (void *)(uintptr_t)body};
    int st = amqp_basic_publish(c->st, 1, amqp_cstring_bytes(exchange),
                                amqp_cstring_bytes(routing_key), mandatory, 0, &props, b);
    if (st != AMQP_STATUS_OK) {
        snprintf(c->err, sizeof(c->err), "publish: %s", amqp_error_string2(st));
        c->broken = 1;
        return GD_EAMQP_CLOSED;
    }
    tag_take(c, tag);
    return GD_OK;
}

/* AMQP 0-9-1 framing, for rmq_publish_buffered. */
#define FRAME_HEAD 7 /* type, channel, payload size */
#define FRAME_END  0xCE

static void put16(unsigned char *b, uint16_t v)
{
    b[0] = (unsigned char)(v >> 8);
    b[1] = (unsigned char)v;
}

static void put32(unsigned char *b, uint32_t v)
{
    put16(b, (uint16_t)(v >> 16));
    put16(b + 2, (uint16_t)v);
}

static void put64(unsigned char *b, uint64_t v)
{
    put32(b, (uint32_t)(v >> 32));
    put32(b + 4, (uint32_t)v);
}

/* Room for need more bytes at out + out_len (compacting what was written). */
static int out_reserve(struct rmq_conn *c, size_t need)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + need <= c->out_cap)
        return GD_OK;
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
        if (c->out_len + need <= c->out_cap)
            return GD_OK;
    }
    size_t cap = c->out_cap ? c->out_cap : 16384;
    while (cap < c->out_len + need)
        cap *= 2;
    unsigned char *o = realloc(c->out, cap);
    if (!o)
        return GD_ENOMEM;
    c->out = o;
    c->out_cap = cap;
    return GD_OK;
}

/* Frame the payload just written at f + FRAME_HEAD (size n) and commit it. */
static void out_frame(struct rmq_conn *c, int type, size_t n)
{
    unsigned char *f = c->out + c->out_len;
    f[0] = (unsigned char)type;
    put16(f + 1, 1); /* channel */
    put32(f + 3, (uint32_t)n);
    f[FRAME_HEAD + n] = FRAME_END;
    c->out_len += FRAME_HEAD + n + 1;
}

/* Encode the method and header frames of one publish onto out; 0 or a code. */
static int encode_head(struct rmq_conn *c, const char *exchange, const char *routing_key,
                       int mandatory, const amqp_basic_properties_t *props, size_t len)
{
    size_t el = strlen(exchange), rl = strlen(routing_key);
    /* method id 4 + ticket 2 + shortstr exchange + shortstr key + bits 1 */
    size_t method_max = 4 + 2 + 1 + el + 1 + rl + 1;
    size_t props_max = 4096; /* ours are a few hundred bytes; encoding checks */
    if (el > 255 || rl > 255)
        return GD_EINVAL;
    if (out_reserve(c, 2 * (FRAME_HEAD + 1) + method_max + 12 + props_max) != GD_OK)
        return GD_ENOMEM;
    amqp_basic_publish_t m = {0, amqp_cstring_bytes(exchange), amqp_cstring_bytes(routing_key),
                              (amqp_boolean_t)(mandatory != 0), 0};
    unsigned char *pl = c->out + c->out_len + FRAME_HEAD;
    put32(pl, AMQP_BASIC_PUBLISH_METHOD);
    int n =
        amqp_encode_method(AMQP_BASIC_PUBLISH_METHOD, &m, (amqp_bytes_t){method_max - 4, pl + 4});
    if (n < 0)
        return GD_EINVAL;
    out_frame(c, AMQP_FRAME_METHOD, (size_t)n + 4);
    pl = c->out + c->out_len + FRAME_HEAD;
    put16(pl, AMQP_BASIC_CLASS);
    put16(pl + 2, 0); /* weight */
    put64(pl + 4, len);
    n = amqp_encode_properties(AMQP_BASIC_CLASS, (void *)(uintptr_t)props,
                               (amqp_bytes_t){props_max, pl + 12});
    if (n < 0)
        return GD_EINVAL;
    out_frame(c, AMQP_FRAME_HEADER, (size_t)n + 12);
    return GD_OK;
}

/* Encode the body frames (frame_max bounded) onto out. */
static int encode_body(struct rmq_conn *c, const void *body, size_t len)
{
    int fm = amqp_get_frame_max(c->st);
    size_t chunk = fm > FRAME_HEAD + 1 ? (size_t)fm - (FRAME_HEAD + 1) : 4096;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (out_reserve(c, FRAME_HEAD + n + 1) != GD_OK)
            return GD_ENOMEM;
        memcpy(c->out + c->out_len + FRAME_HEAD, (const char *)body + off, n);
        out_frame(c, AMQP_FRAME_BODY, n);
    }
    return GD_OK;
}

int rmq_publish_buffered(struct rmq_conn *c, const char *exchange, const char *routing_key,
                         int mandatory, const struct rmq_props *p, const void *body, size_t len,
                         uint64_t *tag)
{
    if (c->tls) {
        /* rabbitmq-c writes the TLS records itself and waits for room
         * without a deadline: only with plenty of room in the socket. */
        int queued = 0, size = 0;
        socklen_t sl = sizeof(size);
        int fd = amqp_get_sockfd(c->st);
        if (ioctl(fd, SIOCOUTQ, &queued) != 0 ||
            getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &sl) != 0 || queued > size / 2 ||
            (size_t)(size - queued) < len + 4096)
            return GD_EAMQP_BLOCKED;
        return rmq_publish(c, exchange, routing_key, mandatory, p, body, len, tag);
    }
    if (!c->open || c->broken)
        return GD_EAMQP_CLOSED;
    amqp_basic_properties_t props;
    amqp_table_entry_t h[4];
    set_props(&props, h, p, 0);
    if (tag_reserve(c) != GD_OK)
        return GD_ENOMEM;
    size_t mark = c->out_len - c->out_off; /* out_reserve may move the unwritten part */
    int rc = encode_head(c, exchange, routing_key, mandatory, &props, len);
    if (rc == GD_OK)
        rc = encode_body(c, body, len);
    if (rc != GD_OK) { /* nothing of this message stays behind */
        c->out_len = c->out_off + mark;
        return rc;
    }
    tag_take(c, tag);
    return GD_OK;
}

long rmq_flush(struct rmq_conn *c)
{
    if (!c->open || c->broken)
        return GD_EAMQP_CLOSED;
    int fd = amqp_get_sockfd(c->st);
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            snprintf(c->err, sizeof(c->err), "send: %s", n < 0 ? strerror(errno) : "closed");
            c->broken = 1;
            return GD_EAMQP_CLOSED;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    return (long)(c->out_len - c->out_off);
}

size_t rmq_pending(const struct rmq_conn *c)
{
    return c->out_len - c->out_off;
}

int rmq_publish(struct rmq_conn *c, const char *exchange, const char *routing_key, int mandatory,
                const struct rmq_props *p, const void *body, size_t len, uint64_t *tag)
{
    return publish(c, exchange, routing_key, mandatory, p, 0, body, len, tag);
}

int rmq_publish_retry(struct rmq_conn *c, const char *exchange, const char *routing_key,
                      const struct rmq_props *p, long attempt, const void *body, size_t len,
                      uint64_t *tag)
{
    return publish(c, exchange, routing_key, 1, p, attempt, body, len, tag);
}

/* Mark one tag confirmed and report it, unless already reported. */
static void confirm_one(struct rmq_conn *c, uint64_t t, int ok, const struct rmq_confirm_handler *h)
{
    if (t < c->win_base || t >= c->win_base + c->win_cap || c->win[t - c->win_base])
        return;
    c->win[t - c->win_base] = 1;
    if (h && h->on_confirm)
        h->on_confirm(h->arg, t, ok);
}

static void on_ack(struct rmq_conn *c, uint64_t tag, int multiple, int ok,
                   const struct rmq_confirm_handler *h)
{
    if (multiple)
        for (uint64_t t = c->win_low; t <= tag && t <= c->next_tag; t++)
            confirm_one(c, t, ok, h);
    else
        confirm_one(c, tag, ok, h);
    while (c->win_low <= c->next_tag && c->win_low - c->win_base < c->win_cap &&
           c->win[c->win_low - c->win_base])
        c->win_low++;
}

/* A basic.return carries the returned message: read it to learn its message_id. */
static int on_return(struct rmq_conn *c, int channel, const struct rmq_confirm_handler *h)
{
    amqp_message_t msg;
    amqp_rpc_reply_t r = amqp_read_message(c->st, (amqp_channel_t)channel, &msg, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        return reply_err(c, r, "basic.return");
    char id[64] = "";
    if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
        snprintf(id, sizeof(id), "%.*s", (int)msg.properties.message_id.len,
                 (char *)msg.properties.message_id.bytes);
    if (h && h->on_return)
        h->on_return(h->arg, id);
    amqp_destroy_message(&msg);
    return GD_OK;
}

/* Handle a method frame that is not a delivery; negative when the conn is unusable. */
static int handle_method(struct rmq_conn *c, amqp_frame_t *f, const struct rmq_confirm_handler *h)
{
    switch (f->payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        amqp_basic_ack_t *a = f->payload.method.decoded;
        on_ack(c, a->delivery_tag, a->multiple, 1, h);
        return GD_OK;
    }
    case AMQP_BASIC_NACK_METHOD: {
        amqp_basic_nack_t *a = f->payload.method.decoded;
        on_ack(c, a->delivery_tag, a->multiple, 0, h);
        return GD_OK;
    }
    case AMQP_BASIC_RETURN_METHOD:
        return on_return(c, f->channel, h);
    case AMQP_CONNECTION_BLOCKED_METHOD:
        c->blocked = 1;
        return GD_OK;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        c->blocked = 0;
        return GD_OK;
    case AMQP_BASIC_CANCEL_METHOD:
        snprintf(c->err, sizeof(c->err), "broker cancelled the consumer");
        c->broken = 1;
        return GD_EAMQP_CHANNEL;
    case AMQP_CHANNEL_CLOSE_METHOD: {
        amqp_channel_close_t *m = f->payload.method.decoded;
        snprintf(c->err, sizeof(c->err), "channel closed by broker: %u %.*s", m->reply_code,
                 (int)m->reply_text.len, (char *)m->reply_text.bytes);
        c->broken = 1;
        return GD_EAMQP_CHANNEL;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_connection_close_t *m = f->payload.method.decoded;
        snprintf(c->err, sizeof(c->err), "connection closed by broker: %u %.*s", m->reply_code,
                 (int)m->reply_text.len, (char *)m->reply_text.bytes);
        if (rmq_pending(c) == 0) /* never after a partly written frame */
            amqp_send_method(c->st, 0, AMQP_CONNECTION_CLOSE_OK_METHOD,
                             &(amqp_connection_close_ok_t){0});
        c->broken = 1;
        return GD_EAMQP_CLOSED;
    }
    default:
        return GD_OK; /* nothing else matters to us */
    }
}

int rmq_pump(struct rmq_conn *c, int timeout_ms, const struct rmq_confirm_handler *h)
{
    int handled = 0;
    if (!c->open || c->broken)
        return GD_EAMQP_CLOSED;
    for (;;) {
        amqp_frame_t f;
        struct timeval tv = ms_to_tv(handled == 0 ? timeout_ms : 0);
        int st = amqp_simple_wait_frame_noblock(c->st, &f, &tv);
        if (st == AMQP_STATUS_TIMEOUT)
            return handled;
        if (st != AMQP_STATUS_OK) {
            snprintf(c->err, sizeof(c->err), "read: %s", amqp_error_string2(st));
            c->broken = 1;
            return GD_EAMQP_CLOSED;
        }
        handled++;
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        int rc = handle_method(c, &f, h);
        amqp_maybe_release_buffers(c->st);
        if (rc != GD_OK)
            return rc;
    }
}

uint64_t rmq_unconfirmed(const struct rmq_conn *c)
{
    return c->next_tag + 1 - c->win_low;
}

struct wait_state {
    int nacked, returned;
};

static void wait_on_confirm(void *arg, uint64_t tag, int ok)
{
    (void)tag;
    if (!ok)
        ((struct wait_state *)arg)->nacked++;
}

static void wait_on_return(void *arg, const char *id)
{
    (void)id;
    ((struct wait_state *)arg)->returned++;
}

int rmq_wait_confirms(struct rmq_conn *c, int timeout_ms)
{
    struct wait_state ws = {0, 0};
    struct rmq_confirm_handler h = {wait_on_confirm, wait_on_return, &ws};
    struct timeval start;
    gettimeofday(&start, NULL);
    while (rmq_unconfirmed(c) > 0) {
        struct timeval now;
        gettimeofday(&now, NULL);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_usec - start.tv_usec) / 1000;
        if (spent >= timeout_ms) {
            snprintf(c->err, sizeof(c->err), "%llu publishes unconfirmed after %d ms",
                     (unsigned long long)rmq_unconfirmed(c), timeout_ms);
            return GD_ETIMEOUT;
        }
        int rc = rmq_pump(c, (int)(timeout_ms - spent), &h);
        if (rc < 0)
            return rc;
    }
    if (ws.returned)
        return GD_EAMQP_RETURNED;
    return ws.nacked ? GD_EAMQP_NACK : GD_OK;
}

int rmq_qos(struct rmq_conn *c, int prefetch)
{
    amqp_basic_qos(c->st, 1, 0, (uint16_t)prefetch, 0);
    return reply_err(c, amqp_get_rpc_reply(c->st), "basic.qos");
}

int rmq_queue_counts(struct rmq_conn *c, const char *queue, long *ready, long *consumers)
{
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(c->st, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    int rc = reply_err(c, amqp_get_rpc_reply(c->st), "queue.declare (passive)");
    if (rc == GD_EAMQP_CHANNEL) /* 404: the channel is gone, the connection too for us */
        return GD_ENOTFOUND;
    if (rc != GD_OK || !ok)
        return rc != GD_OK ? rc : GD_EAMQP_PROTOCOL;
    *ready = (long)ok->message_count;
    *consumers = (long)ok->consumer_count;
    return GD_OK;
}

int rmq_consume(struct rmq_conn *c, const char *queue, const char *consumer_tag)
{
    amqp_basic_consume(c->st, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(consumer_tag), 0, 0,
                       0, amqp_empty_table);
    return reply_err(c, amqp_get_rpc_reply(c->st), "basic.consume");
}

static void copy_bytes(char *dst, size_t cap, amqp_bytes_t b)
{
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    if (n) /* an empty field may carry a NULL pointer */
        memcpy(dst, b.bytes, n);
    dst[n] = '\0';
}

static void read_headers(struct rmq_delivery *d)
{
    const amqp_basic_properties_t *p = &d->env.message.properties;
    if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
        copy_bytes(d->message_id, sizeof(d->message_id), p->message_id);
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
        return;
    for (int i = 0; i < p->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &p->headers.entries[i];
        const amqp_field_value_t *v = &e->value;
        long long num = v->kind == AMQP_FIELD_KIND_I64   ? v->value.i64
                        : v->kind == AMQP_FIELD_KIND_I32 ? v->value.i32
                        : v->kind == AMQP_FIELD_KIND_U32 ? v->value.u32
                        : v->kind == AMQP_FIELD_KIND_U64 ? (long long)v->value.u64
                                                         : 0;
        if (e->key.len == 10 && memcmp(e->key.bytes, "x-event-id", 10) == 0)
            d->event_id = num;
        else if (e->key.len == 16 && memcmp(e->key.bytes, "x-delivery-count", 16) == 0)
            d->delivery_count = (long)num;
        else if (e->key.len == 9 && memcmp(e->key.bytes, "x-attempt", 9) == 0)
            d->attempt = (long)num;
        else if (e->key.len == 11 && memcmp(e->key.bytes, "traceparent", 11) == 0 &&
                 (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES))
            copy_bytes(d->traceparent, sizeof(d->traceparent), v->value.bytes);
    }
}

int rmq_next(struct rmq_conn *c, int timeout_ms, struct rmq_delivery *d)
{
    struct timeval tv = ms_to_tv(timeout_ms);
    memset(d, 0, sizeof(*d));
    if (!c->open || c->broken)
        return GD_EAMQP_CLOSED;
    amqp_maybe_release_buffers(c->st);
    amqp_rpc_reply_t r = amqp_consume_message(c->st, &d->env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        d->tag = d->env.delivery_tag;
        d->redelivered = d->env.redelivered;
        d->body = d->env.message.body.bytes;
        d->len = d->env.message.body.len;
        copy_bytes(d->routing_key, sizeof(d->routing_key), d->env.routing_key);
        copy_bytes(d->exchange, sizeof(d->exchange), d->env.exchange);
        read_headers(d);
        return GD_OK;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        return GD_ETIMEOUT;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        /* Another frame interrupted consumption (PITFALLS): read and handle it. */
        amqp_frame_t f;
        struct timeval zero = {0, 0};
        int st = amqp_simple_wait_frame_noblock(c->st, &f, &zero);
        if (st == AMQP_STATUS_TIMEOUT)
            return GD_ETIMEOUT;
        if (st != AMQP_STATUS_OK) {
            c->broken = 1;
            snprintf(c->err, sizeof(c->err), "read: %s", amqp_error_string2(st));
            return GD_EAMQP_CLOSED;
        }
        if (f.frame_type == AMQP_FRAME_METHOD) {
            int rc = handle_method(c, &f, NULL);
            if (rc != GD_OK)
                return rc;
        }
        return GD_ETIMEOUT;
    }
    return reply_err(c, r, "consume");
}

void rmq_delivery_free(struct rmq_delivery *d)
{
    amqp_destroy_envelope(&d->env);
    memset(d, 0, sizeof(*d));
}

int rmq_ack(struct rmq_conn *c, uint64_t tag, int multiple)
{
    if (!c->open || c->broken)
        return GD_EAMQP_CLOSED;
    if (amqp_basic_ack(c->st, 1, tag, multiple) != AMQP_STATUS_OK) {
        c->broken = 1;
        snprintf(c->err, sizeof(c->err), "basic.ack failed");
        return GD_EAMQP_CLOSED;
    }
    return GD_OK;
}

int rmq_reject(struct rmq_conn *c, uint64_t tag, int requeue)
{
    if (!c->open || c->broken)
        return GD_EAMQP_CLOSED;
    if (amqp_basic_reject(c->st, 1, tag, requeue) != AMQP_STATUS_OK) {
        c->broken = 1;
        snprintf(c->err, sizeof(c->err), "basic.reject failed");
        return GD_EAMQP_CLOSED;
    }
    return GD_OK;
}

int rmq_fd(const struct rmq_conn *c)
{
    return c->st ? amqp_get_sockfd(c->st) : -1;
}

int rmq_buffered(const struct rmq_conn *c)
{
    return c->st && (amqp_frames_enqueued(c->st) || amqp_data_in_buffer(c->st));
}

int rmq_open_publisher(struct rmq_conn *c, const struct rmq_opts *o)
{
    int rc = rmq_connect(c, o);
    if (rc == GD_OK && (rc = rmq_declare_topology(c)) == GD_OK)
        rc = rmq_confirm_select(c);
    if (rc != GD_OK && c->st)
        rmq_close(c);
    return rc;
}

int rmq_open_consumer(struct rmq_conn *c, const struct rmq_opts *o, int prefetch,
                      const char *const *queues, int nqueues)
{
    int rc = rmq_connect(c, o);
    if (rc == GD_OK && (rc = rmq_declare_topology(c)) == GD_OK)
        rc = rmq_qos(c, prefetch);
    for (int i = 0; rc == GD_OK && i < nqueues; i++) {
        char tag[256];
        snprintf(tag, sizeof(tag), "%s@%s:%d/%s", o->service, o->instance, (int)getpid(),
                 queues[i]);
        rc = rmq_consume(c, queues[i], tag);
    }
    if (rc != GD_OK && c->st)
        rmq_close(c);
    return rc;
}
