/*
 * evinfo_test.c - tests for entry-api/evinfo.c: the state shown is worked
 * out per request from Redis's clock offset (scheduled -> open -> closed with
 * no reload), sold_out/closed from the sold-out memory or the meta state,
 * fresh/stale/miss by age, forgetting one event or all, a load that raced an
 * announcement is stored already stale, one background reload at a time, and the
 * oldest event giving way when the table is full.
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "evinfo.h"
#include "test.h"

/* Redis says it is 1,000,000 ms when this host's monotonic clock says 5,000. */
#define MONO0  5000
#define REDIS0 1000000
#define OPENS  (REDIS0 + 300)
#define CLOSES (REDIS0 + 900)
/* RFC 3339 of OPENS and CLOSES, the body's times (formatted from the milliseconds) */
#define OPENS_AT  "1970-01-01T00:16:40.300Z"
#define CLOSES_AT "1970-01-01T00:16:40.900Z"
#define SURVEY1                                                                                    \
    "{\"questions\":[{\"id\":\"q1\",\"type\":\"text\",\"text\":\"Why?\",\"max_len\":9}]}"

static struct evi_fields fields(const char *meta_state)
{
    return (struct evi_fields){.title = "Spring \"drop\"",
                               .meta_state = meta_state,
                               .survey = SURVEY1,
                               .opens_ms = OPENS,
                               .closes_ms = CLOSES,
                               .redis_now_ms = REDIS0};
}

/* The state shown at mono_now, or "miss"; *age_out gets the age. */
static const char *state_at(struct evinfo *c, long long id, int64_t mono_now, enum evs_state known,
                            enum evi_age *age_out)
{
    enum evi_age age;
    const char *state = NULL;
    const char *body = evi_body(c, id, mono_now, known, &age, &state);
    if (age_out)
        *age_out = age;
    return body ? state : "miss";
}

TEST(state_follows_redis_clock)
{
    struct evinfo *c = evi_new();
    struct evi_fields f = fields("armed");
    enum evi_age age;
    CHECK_INT(evi_store(c, 42, &f, MONO0, 0), GD_OK);
    CHECK_STR(state_at(c, 42, MONO0, EVS_UNKNOWN, &age), "scheduled");
    CHECK_INT(age, EVI_FRESH);
    CHECK_STR(state_at(c, 42, MONO0 + 299, EVS_UNKNOWN, NULL), "scheduled");
    CHECK_STR(state_at(c, 42, MONO0 + 300, EVS_UNKNOWN, NULL), "open"); /* opens_at: open */
    CHECK_STR(state_at(c, 42, MONO0 + 899, EVS_UNKNOWN, NULL), "open");
    CHECK_STR(state_at(c, 42, MONO0 + 900, EVS_UNKNOWN, &age), "closed");
    CHECK_INT(age, EVI_FRESH);
    evi_free(c);
}

TEST(sold_out_and_closed_win)
{
    struct evinfo *c = evi_new();
    struct evi_fields f = fields("armed");
    evi_store(c, 1, &f, MONO0, 0);
    CHECK_STR(state_at(c, 1, MONO0 + 400, EVS_SOLD_OUT, NULL), "sold_out");
    CHECK_STR(state_at(c, 1, MONO0 + 400, EVS_CLOSED, NULL), "closed");
    CHECK_STR(state_at(c, 1, MONO0 + 400, EVS_UNKNOWN, NULL), "open"); /* re-rendered back */
    f = fields("sold_out");
    evi_store(c, 2, &f, MONO0, 0);
    CHECK_STR(state_at(c, 2, MONO0, EVS_UNKNOWN, NULL), "sold_out"); /* before opens_at too */
    f = fields("closed");
    evi_store(c, 3, &f, MONO0, 0);
    CHECK_STR(state_at(c, 3, MONO0 + 400, EVS_UNKNOWN, NULL), "closed");
    evi_free(c);
}

TEST(body_is_the_contract)
{
    struct evinfo *c = evi_new();
    struct evi_fields f = fields("armed");
    enum evi_age age;
    evi_store(c, 42, &f, MONO0, 0);
    cJSON *o = cJSON_Parse(evi_body(c, 42, MONO0 + 500, EVS_UNKNOWN, &age, NULL));
    CHECK(o != NULL);
    CHECK_INT(cJSON_GetObjectItem(o, "event_id")->valuedouble, 42);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "title")), "Spring \"drop\"");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "opens_at")), OPENS_AT);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "closes_at")), CLOSES_AT);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "state")), "open");
    cJSON *q =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "survey"), "questions"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(q, "id")), "q1");
    CHECK_INT(cJSON_GetObjectItem(q, "max_len")->valuedouble, 9);
    cJSON_Delete(o);
    /* A broken survey document still gives valid JSON, with an empty survey. */
    f.survey = "{\"questions\":";
    evi_store(c, 43, &f, MONO0, 0);
    o = cJSON_Parse(evi_body(c, 43, MONO0, EVS_UNKNOWN, &age, NULL));
    CHECK(o != NULL && cJSON_IsObject(cJSON_GetObjectItem(o, "survey")));
    cJSON_Delete(o);
    evi_free(c);
}

TEST(fresh_stale_miss)
{
    struct evinfo *c = evi_new();
    struct evi_fields f = fields("armed");
    enum evi_age age;
    CHECK_STR(state_at(c, 7, MONO0, EVS_UNKNOWN, &age), "miss");
    CHECK_INT(age, EVI_MISS);
    evi_store(c, 7, &f, MONO0, 0);
    state_at(c, 7, MONO0 + EVI_FRESH_MS - 1, EVS_UNKNOWN, &age);
    CHECK_INT(age, EVI_FRESH);
    state_at(c, 7, MONO0 + EVI_FRESH_MS, EVS_UNKNOWN, &age);
    CHECK_INT(age, EVI_STALE);
    state_at(c, 7, MONO0 + EVI_STALE_MS - 1, EVS_UNKNOWN, &age);
    CHECK_INT(age, EVI_STALE);
    CHECK_STR(state_at(c, 7, MONO0 + EVI_STALE_MS, EVS_UNKNOWN, &age), "miss");
    CHECK_INT(age, EVI_MISS);
    CHECK_STR(state_at(c, 0, MONO0, EVS_UNKNOWN, NULL), "miss"); /* 0 is never an event */
    evi_free(c);
}

TEST(forget_one_or_all)
{
    struct evinfo *c = evi_new();
    struct evi_fields f = fields("armed");
    for (long long id = 1; id <= 3; id++)
        evi_store(c, id, &f, MONO0, 0);
    CHECK_INT(evi_holds(c, 2), 1);
    CHECK_INT(evi_holds(c, 4), 0);
    CHECK_INT(evi_holds(c, 0), 0);
    evi_forget(c, 2);
    CHECK_INT(evi_holds(c, 2), 0);
    CHECK_STR(state_at(c, 2, MONO0, EVS_UNKNOWN, NULL), "miss");
    CHECK_STR(state_at(c, 1, MONO0, EVS_UNKNOWN, NULL), "scheduled");
    evi_forget(c, 0);
    CHECK_STR(state_at(c, 1, MONO0, EVS_UNKNOWN, NULL), "miss");
    CHECK_STR(state_at(c, 3, MONO0, EVS_UNKNOWN, NULL), "miss");
    evi_free(c);
}

TEST(load_that_raced_an_announcement_is_stale)
{
    struct evinfo *c = evi_new();
    struct evi_fields f = fields("sold_out");
    enum evi_age age;
    /* the load starts; "open" is announced meanwhile; what it read lands */
    evi_store(c, 9, &f, MONO0, 1);
    CHECK_STR(state_at(c, 9, MONO0, EVS_UNKNOWN, &age), "sold_out");
    CHECK_INT(age, EVI_STALE);     /* served once, and reloaded */
    evi_store(c, 9, &f, MONO0, 0); /* the same read, not raced: fresh */
    CHECK_STR(state_at(c, 9, MONO0, EVS_UNKNOWN, &age), "sold_out");
    CHECK_INT(age, EVI_FRESH);
    evi_free(c);
}

TEST(one_background_load)
{
    struct evinfo *c = evi_new();
    struct evi_fields f = fields("armed");
    CHECK_INT(evi_begin_load(c, 5), 1); /* nothing held: each miss loads */
    CHECK_INT(evi_begin_load(c, 5), 1);
    evi_store(c, 5, &f, MONO0, 0);
    CHECK_INT(evi_begin_load(c, 5), 1);
    CHECK_INT(evi_begin_load(c, 5), 0);
    evi_load_failed(c, 5);
    CHECK_INT(evi_begin_load(c, 5), 1);
    evi_store(c, 5, &f, MONO0 + EVI_FRESH_MS, 0); /* the reload landed */
    CHECK_INT(evi_begin_load(c, 5), 1);
    evi_free(c);
}

TEST(full_table_drops_the_oldest)
{
    struct evinfo *c = evi_new();
    struct evi_fields f = fields("armed");
    for (long long id = 1; id <= EVI_MAX; id++)
        evi_store(c, id, &f, MONO0 + id, 0);
    evi_store(c, 1, &f, MONO0 + 100, 0); /* reloaded: now the youngest */
    evi_store(c, 1000, &f, MONO0 + 101, 0);
    CHECK_STR(state_at(c, 2, MONO0 + 200, EVS_UNKNOWN, NULL), "miss");
    CHECK_STR(state_at(c, 1, MONO0 + 200, EVS_UNKNOWN, NULL), "scheduled");
    CHECK_STR(state_at(c, 3, MONO0 + 200, EVS_UNKNOWN, NULL), "scheduled");
    CHECK_STR(state_at(c, 1000, MONO0 + 200, EVS_UNKNOWN, NULL), "scheduled");
    evi_free(c);
}

int main(void)
{
    RUN(state_follows_redis_clock);
    RUN(sold_out_and_closed_win);
    RUN(body_is_the_contract);
    RUN(fresh_stale_miss);
    RUN(forget_one_or_all);
    RUN(load_that_raced_an_announcement_is_stale);
    RUN(one_background_load);
    RUN(full_table_drops_the_oldest);
    return TEST_DONE();
}
