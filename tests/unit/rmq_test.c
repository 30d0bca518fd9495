/*
 * rmq_test.c - tests for common/rmq.c's own AMQP framing
 * (rmq_publish_buffered), without a broker: the bytes it buffers are parsed
 * back frame by frame and decoded with rabbitmq-c's own decoders.  A publish
 * is a method frame (basic.publish with exchange, routing key, mandatory), a
 * header frame (class basic, body size, our properties and headers) and
 * body frames no larger than frame_max; every frame on channel 1 and ended
 * by 0xCE.  Tags count up in confirm mode; a refused publish leaves nothing
 * behind; a closed connection refuses.
 */
#include <stdint.h>
#include <stdlib.h>

#include <amqp.h>
#include <amqp_framing.h>

#include "errors.h"
#include "rmq.h"
#include "test.h"

struct frame {
    int type, channel;
    const unsigned char *payload;
    size_t len;
};

static uint32_t get32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The next frame at *off of c->out; 0, or -1 when it is cut or not ended by 0xCE. */
static int next_frame(const struct rmq_conn *c, size_t *off, struct frame *f)
{
    const unsigned char *b = c->out + c->out_off + *off;
    size_t left = rmq_pending(c) - *off;
    if (left < 8)
        return -1;
    f->type = b[0];
    f->channel = b[1] << 8 | b[2];
    f->len = get32(b + 3);
    f->payload = b + 7;
    if (left < 8 + f->len || b[7 + f->len] != 0xCE)
        return -1;
    *off += 8 + f->len;
    return 0;
}

/* A connection that never touches a socket: enough for the encoder. */
static void fake_conn(struct rmq_conn *c)
{
    memset(c, 0, sizeof(*c));
    c->st = amqp_new_connection();
    c->open = 1;
    c->confirming = 1;
    c->next_tag = 0;
    c->win_base = c->win_low = 1;
}

static const amqp_table_entry_t *header(const amqp_basic_properties_t *p, const char *k)
{
    for (int i = 0; i < p->headers.num_entries; i++)
        if (p->headers.entries[i].key.len == strlen(k) &&
            memcmp(p->headers.entries[i].key.bytes, k, strlen(k)) == 0)
            return &p->headers.entries[i];
    return NULL;
}

static int bytes_eq(amqp_bytes_t b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.bytes, s, b.len) == 0;
}

/* Parse one publish at *off and check it against what was sent. */
static void check_publish(const struct rmq_conn *c, size_t *off, const char *rk, const char *id,
                          const unsigned char *body, size_t len)
{
    struct frame f;
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);

    CHECK(next_frame(c, off, &f) == 0);
    CHECK_INT(f.type, AMQP_FRAME_METHOD);
    CHECK_INT(f.channel, 1);
    CHECK(f.len >= 4 && get32(f.payload) == AMQP_BASIC_PUBLISH_METHOD);
    amqp_basic_publish_t *m = NULL;
    CHECK(amqp_decode_method(AMQP_BASIC_PUBLISH_METHOD, &pool,
                             (amqp_bytes_t){f.len - 4, (void *)(uintptr_t)(f.payload + 4)},
                             (void **)&m) == 0);
    CHECK(m && bytes_eq(m->exchange, "event.entry") && bytes_eq(m->routing_key, rk));
    CHECK(m && m->mandatory == 1 && m->immediate == 0);

    CHECK(next_frame(c, off, &f) == 0);
    CHECK_INT(f.type, AMQP_FRAME_HEADER);
    CHECK(f.len >= 12);
    CHECK_INT(f.payload[0] << 8 | f.payload[1], AMQP_BASIC_CLASS);
    uint64_t size = (uint64_t)get32(f.payload + 4) << 32 | get32(f.payload + 8);
    CHECK_INT(size, len);
    amqp_basic_properties_t *p = NULL;
    CHECK(amqp_decode_properties(AMQP_BASIC_CLASS, &pool,
                                 (amqp_bytes_t){f.len - 12, (void *)(uintptr_t)(f.payload + 12)},
                                 (void **)&p) == 0);
    CHECK(p && bytes_eq(p->message_id, id) && bytes_eq(p->type, "entry.v1"));
    CHECK(p && bytes_eq(p->content_type, "application/json") && p->delivery_mode == 2);
    const amqp_table_entry_t *ev = p ? header(p, "x-event-id") : NULL;
    const amqp_table_entry_t *tp = p ? header(p, "traceparent") : NULL;
    CHECK(ev && ev->value.kind == AMQP_FIELD_KIND_I64 && ev->value.value.i64 == 42);
    CHECK(tp && bytes_eq(tp->value.value.bytes, "00-0af7651916cd43dd8448eb211c80319c-"
                                                "b7ad6b7169203331-01"));

    size_t got = 0, frames = 0;
    size_t most = (size_t)amqp_get_frame_max(c->st) - 8;
    while (got < len && next_frame(c, off, &f) == 0) {
        CHECK_INT(f.type, AMQP_FRAME_BODY);
        CHECK(f.len > 0 && f.len <= most);
        CHECK(got + f.len <= len && memcmp(f.payload, body + got, f.len) == 0);
        got += f.len;
        frames++;
    }
    CHECK_INT(got, len);
    CHECK_INT(frames, (len + most - 1) / most);
    empty_amqp_pool(&pool);
}

static int publish(struct rmq_conn *c, const char *rk, const char *id, const void *body, size_t len,
                   uint64_t *tag)
{
    struct rmq_props p = {id,         "entry.v1",
                          "rmq-test", 1764000000,
                          42,         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                          NULL};
    return rmq_publish_buffered(c, "event.entry", rk, 1, &p, body, len, tag);
}

/* Three publishes in one buffer: a small one, one over frame_max, an empty body. */
TEST(frames_decode_back)
{
    struct rmq_conn c;
    fake_conn(&c);
    size_t big = 3 * 131072 + 17;
    unsigned char *body = malloc(big);
    for (size_t i = 0; i < big; i++)
        body[i] = (unsigned char)(i * 31 + 7);
    const char *small = "{\"entry_id\":\"e-1\",\"answers\":{\"q1\":\"yes\"}}";
    uint64_t t1 = 0, t2 = 0, t3 = 0;
    CHECK_INT(publish(&c, "event.entry.42", "e-1", small, strlen(small), &t1), GD_OK);
    CHECK_INT(publish(&c, "event.entry.42", "e-2", body, big, &t2), GD_OK);
    CHECK_INT(publish(&c, "event.entry.7", "e-3", "", 0, &t3), GD_OK);
    CHECK(t1 == 1 && t2 == 2 && t3 == 3);
    CHECK_INT(rmq_unconfirmed(&c), 3);

    size_t off = 0;
    check_publish(&c, &off, "event.entry.42", "e-1", (const unsigned char *)small, strlen(small));
    check_publish(&c, &off, "event.entry.42", "e-2", body, big);
    check_publish(&c, &off, "event.entry.7", "e-3", (const unsigned char *)"", 0);
    CHECK_INT(off, rmq_pending(&c)); /* nothing else in the buffer */
    free(body);
    rmq_close(&c);
    CHECK_INT(rmq_pending(&c), 0);
}

/* A publish that cannot be encoded leaves no bytes and takes no tag. */
TEST(refused_publish_leaves_nothing)
{
    struct rmq_conn c;
    fake_conn(&c);
    uint64_t tag = 0;
    CHECK_INT(publish(&c, "event.entry.1", "e-1", "{}", 2, &tag), GD_OK);
    size_t before = rmq_pending(&c);
    char long_key[300];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0'; /* a shortstr holds 255 bytes at most */
    uint64_t tag2 = 99;
    CHECK(publish(&c, long_key, "e-2", "{}", 2, &tag2) != GD_OK);
    CHECK_INT(rmq_pending(&c), before);
    CHECK_INT(tag2, 99);
    CHECK_INT(publish(&c, "event.entry.1", "e-3", "{}", 2, &tag2), GD_OK);
    CHECK_INT(tag2, 2);
    c.broken = 1;
    CHECK_INT(publish(&c, "event.entry.1", "e-4", "{}", 2, &tag2), GD_EAMQP_CLOSED);
    CHECK_INT(rmq_flush(&c), GD_EAMQP_CLOSED);
    rmq_close(&c);
}

int main(void)
{
    RUN(frames_decode_back);
    RUN(refused_publish_leaves_nothing);
    return TEST_DONE();
}
