/*
 * topology_test - deploy/rabbitmq/definitions.json (what the broker loads at
 * boot and what compose mounts) holds exactly the topology of
 * common/topology.c (what every service declares).  A difference would make
 * the services' declares fail with PRECONDITION_FAILED in production.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "test.h"
#include "topology.h"

static cJSON *defs;

static cJSON *load(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/deploy/rabbitmq/definitions.json", GD_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

static const cJSON *find(const char *section, const char *key, const char *name)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(defs, section))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, key);
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return it;
    }
    return NULL;
}

static int str_arg(const cJSON *args, const char *k, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, k);
    if (!want)
        return v == NULL;
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static int num_arg(const cJSON *args, const char *k, long long want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, k);
    if (!want)
        return v == NULL;
    return cJSON_IsNumber(v) && (long long)v->valuedouble == want;
}

TEST(exchanges_match)
{
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(defs, "exchanges")),
              topo_exchange_count);
    for (size_t i = 0; i < topo_exchange_count; i++) {
        const cJSON *e = find("exchanges", "name", topo_exchanges[i].name);
        CHECK(e != NULL);
        CHECK_STR(cJSON_GetObjectItemCaseSensitive(e, "type")->valuestring, topo_exchanges[i].type);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "durable")));
    }
}

TEST(queues_match)
{
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(defs, "queues")),
              topo_queue_count);
    for (size_t i = 0; i < topo_queue_count; i++) {
        const struct topo_queue *q = &topo_queues[i];
        const cJSON *e = find("queues", "name", q->name);
        CHECK(e != NULL);
        if (!e)
            continue;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "arguments");
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "durable")));
        CHECK(str_arg(a, "x-queue-type", q->queue_type));
        CHECK(str_arg(a, "x-dead-letter-exchange", q->dlx));
        CHECK(str_arg(a, "x-dead-letter-routing-key", q->dl_key));
        CHECK(str_arg(a, "x-dead-letter-strategy", q->dl_strategy));
        CHECK(str_arg(a, "x-overflow", q->overflow));
        CHECK(num_arg(a, "x-delivery-limit", q->delivery_limit));
        CHECK(num_arg(a, "x-max-length", q->max_length));
        CHECK(num_arg(a, "x-message-ttl", q->message_ttl));
        int nargs = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, a) nargs++;
        int want = !!q->queue_type + !!q->dlx + !!q->dl_key + !!q->dl_strategy + !!q->overflow +
                   !!q->delivery_limit + !!q->max_length + !!q->message_ttl;
        CHECK_INT(nargs, want);
    }
}

TEST(bindings_match)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(defs, "bindings");
    CHECK_INT(cJSON_GetArraySize(b), topo_binding_count);
    for (size_t i = 0; i < topo_binding_count; i++) {
        int found = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, b)
        {
            found += strcmp(cJSON_GetObjectItemCaseSensitive(it, "source")->valuestring,
                            topo_bindings[i].exchange) == 0 &&
                     strcmp(cJSON_GetObjectItemCaseSensitive(it, "destination")->valuestring,
                            topo_bindings[i].queue) == 0 &&
                     strcmp(cJSON_GetObjectItemCaseSensitive(it, "routing_key")->valuestring,
                            topo_bindings[i].key) == 0;
        }
        CHECK_INT(found, 1);
    }
}

TEST(work_queues_have_delivery_limit_and_dlx)
{
    /* DESIGN §4: a poison message ends in a .dlq instead of looping. */
    for (size_t i = 0; i < topo_queue_count; i++) {
        const struct topo_queue *q = &topo_queues[i];
        if (strstr(q->name, ".dlq"))
            continue;
        CHECK(q->delivery_limit > 0);
        CHECK(q->dlx != NULL);
        CHECK_STR(q->overflow, "reject-publish");
    }
}

int main(void)
{
    defs = load();
    CHECK(defs != NULL);
    if (!defs)
        return TEST_DONE();
    RUN(exchanges_match);
    RUN(queues_match);
    RUN(bindings_match);
    RUN(work_queues_have_delivery_limit_and_dlx);
    cJSON_Delete(defs);
    return TEST_DONE();
}
