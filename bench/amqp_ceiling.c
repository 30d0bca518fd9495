/*
 * amqp_ceiling - the broker's own ceiling on this machine, for benchmarks to
 * read as ratios: persistent publishes with publisher confirms into a quorum
 * queue, and consumption with prefetch and multiple acks, through the same
 * common/rmq layer the services use.
 *
 *   amqp_ceiling publish N [WINDOW]   publish N messages, WINDOW unconfirmed at most
 *   amqp_ceiling consume N [PREFETCH] consume N messages, ack every PREFETCH/2
 *   amqp_ceiling purge                delete the bench queue
 * Prints one JSON line: {"mode":..,"count":..,"seconds":..,"per_second":..}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "rmq.h"

#include <amqp_framing.h>
#include "timeutil.h"

#define BENCH_QUEUE "bench.ceiling"

static int open_conn(struct rmq_conn *c, const char *role)
{
    const char *url = getenv("AMQP_URL");
    struct rmq_opts o = {
        url ? url : "amqp://guest:guest@127.0.0.1:5672", "amqp-ceiling", "bench", role, 0, 5000};
    int rc = rmq_connect(c, &o);
    if (rc != GD_OK) {
        fprintf(stderr, "amqp_ceiling: %s\n", c->err);
        return rc;
    }
    amqp_table_entry_t arg = {amqp_cstring_bytes("x-queue-type"),
                              {AMQP_FIELD_KIND_UTF8, {.bytes = amqp_cstring_bytes("quorum")}}};
    amqp_table_t args = {1, &arg};
    amqp_queue_declare(c->st, 1, amqp_cstring_bytes(BENCH_QUEUE), 0, 1, 0, 0, args);
    if (amqp_get_rpc_reply(c->st).reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "amqp_ceiling: cannot declare %s\n", BENCH_QUEUE);
        return GD_EAMQP_CHANNEL;
    }
    return GD_OK;
}

static void report(const char *mode, long n, int64_t t0)
{
    double s = (double)(time_mono_ms() - t0) / 1000.0;
    printf("{\"mode\":\"%s\",\"count\":%ld,\"seconds\":%.3f,\"per_second\":%.0f}\n", mode, n, s,
           s > 0 ? (double)n / s : 0.0);
}

static int publish(long n, long window)
{
    struct rmq_conn c;
    char body[320];
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    if (open_conn(&c, "publish") != GD_OK || rmq_confirm_select(&c) != GD_OK)
        return 1;
    struct rmq_props p = {NULL, "bench", "amqp-ceiling", 0, 0, NULL, NULL};
    int64_t t0 = time_mono_ms();
    for (long i = 0; i < n; i++) {
        while ((long)rmq_unconfirmed(&c) >= window)
            if (rmq_pump(&c, 1000, NULL) < 0)
                return 1;
        if (rmq_publish(&c, "", BENCH_QUEUE, 0, &p, body, strlen(body), NULL) != GD_OK)
            return 1;
    }
    if (rmq_wait_confirms(&c, 60000) != GD_OK) {
        fprintf(stderr, "amqp_ceiling: %s\n", c.err);
        return 1;
    }
    report("publish_confirmed", n, t0);
    rmq_close(&c);
    return 0;
}

static int consume(long n, long prefetch)
{
    struct rmq_conn c;
    struct rmq_delivery d;
    long got = 0, since_ack = 0;
    if (open_conn(&c, "consume") != GD_OK || rmq_qos(&c, (int)prefetch) != GD_OK ||
        rmq_consume(&c, BENCH_QUEUE, "amqp-ceiling") != GD_OK)
        return 1;
    int64_t t0 = time_mono_ms();
    while (got < n) {
        int rc = rmq_next(&c, 5000, &d);
        if (rc == GD_ETIMEOUT) {
            fprintf(stderr, "amqp_ceiling: queue ran dry after %ld messages\n", got);
            break;
        }
        if (rc != GD_OK)
            return 1;
        got++;
        if (++since_ack >= prefetch / 2 || got == n) {
            rmq_ack(&c, d.tag, 1);
            since_ack = 0;
        }
        rmq_delivery_free(&d);
    }
    report("consume_ack", got, t0);
    rmq_close(&c);
    return got == n ? 0 : 1;
}

static int purge(void)
{
    struct rmq_conn c;
    if (open_conn(&c, "purge") != GD_OK)
        return 1;
    amqp_queue_delete(c.st, 1, amqp_cstring_bytes(BENCH_QUEUE), 0, 0);
    rmq_close(&c);
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    long k = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
    if (argc >= 3 && strcmp(argv[1], "publish") == 0 && n > 0)
        return publish(n, k > 0 ? k : 1000);
    if (argc >= 3 && strcmp(argv[1], "consume") == 0 && n > 0)
        return consume(n, k > 0 ? k : 500);
    if (argc == 2 && strcmp(argv[1], "purge") == 0)
        return purge();
    fprintf(stderr, "usage: amqp_ceiling publish N [WINDOW] | consume N [PREFETCH] | purge\n");
    return 2;
}
