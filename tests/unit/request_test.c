/*
 * request_test.c - tests for entry-api/request.c: routing of every API path
 * and near misses, the JSON media type, W3C traceparent, and the entry body
 * (one object, nothing after it, no NUL, "answers" once) with answers
 * checked against a survey, the offending question named.
 */
#include <stdlib.h>

#include "errors.h"
#include "request.h"
#include "survey.h"
#include "test.h"

TEST(routes)
{
    long long id;
    CHECK_INT(req_route("/healthz", &id), AP_HEALTHZ);
    CHECK_INT(req_route("/readyz", &id), AP_READYZ);
    CHECK_INT(req_route("/metrics", &id), AP_METRICS);
    CHECK_INT(req_route("/v1/events/42", &id), AP_EVENT);
    CHECK_INT(id, 42);
    CHECK_INT(req_route("/v1/events/7/entries", &id), AP_ENTRIES);
    CHECK_INT(id, 7);
    CHECK_INT(req_route("/v1/events/999999999999999/entries/me", &id), AP_ENTRY_ME);
    CHECK_INT(id, 999999999999999LL);
    static const char *const bad[] = {"/",
                                      "/healthz/",
                                      "/v1/events/",
                                      "/v1/events/0",
                                      "/v1/events/042",
                                      "/v1/events/-1",
                                      "/v1/events/+1",
                                      "/v1/events/1000000000000000",
                                      "/v1/events/12x",
                                      "/v1/events/12/",
                                      "/v1/events/12/entries/",
                                      "/v1/events/12/entries/me/x",
                                      "/v1/events/12/entriesme",
                                      "/V1/events/12"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        id = -1;
        CHECK_INT(req_route(bad[i], &id), AP_UNKNOWN);
        CHECK_INT(id, 0);
    }
}

TEST(media_type)
{
    CHECK(req_is_json("application/json"));
    CHECK(req_is_json("Application/JSON"));
    CHECK(req_is_json("application/json; charset=utf-8"));
    CHECK(req_is_json("application/json ;charset=utf-8"));
    CHECK(!req_is_json(NULL));
    CHECK(!req_is_json(""));
    CHECK(!req_is_json("text/plain"));
    CHECK(!req_is_json("application/jsonx"));
    CHECK(!req_is_json("application/json-patch+json"));
    CHECK(!req_is_json("application/problem+json"));
}

TEST(traceparent)
{
    CHECK(req_traceparent_ok("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    CHECK(!req_traceparent_ok(NULL));
    CHECK(!req_traceparent_ok("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"));
    CHECK(!req_traceparent_ok("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
    CHECK(!req_traceparent_ok("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"));
    CHECK(!req_traceparent_ok("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    CHECK(!req_traceparent_ok("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x"));
    CHECK(!req_traceparent_ok("00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
}

static int parse(const char *body, size_t len)
{
    cJSON *root = NULL;
    char detail[128];
    int rc = req_parse_body(body, len, &root, detail, sizeof(detail));
    CHECK((rc == GD_OK) == (root != NULL));
    cJSON_Delete(root);
    return rc;
}

TEST(body)
{
    CHECK_INT(parse("{\"answers\":{}}", 14), GD_OK);
    CHECK_INT(parse(" {\"answers\":{}} \r\n", 18), GD_OK);
    CHECK_INT(parse("", 0), GD_EJSON);
    CHECK_INT(parse("{\"answers\":", 11), GD_EJSON);
    CHECK_INT(parse("[1]", 3), GD_EJSON);
    CHECK_INT(parse("\"x\"", 3), GD_EJSON);
    CHECK_INT(parse("{} {}", 5), GD_EJSON);
    CHECK_INT(parse("{}x", 3), GD_EJSON);
    CHECK_INT(parse("{\"a\":\"\0\"}", 9), GD_EJSON);
    CHECK_INT(parse("{\"answers\":{},\"answers\":{}}", 27), GD_EJSON);
    /* Only the given length is read, even if more follows in memory. */
    CHECK_INT(parse("{\"answers\":{}}garbage", 14), GD_OK);
}

TEST(answers)
{
    static const char sj[] =
        "{\"questions\":[{\"id\":\"q1\",\"type\":\"single\",\"text\":\"?\",\"required\":true,"
        "\"choices\":[\"yes\",\"no\"]},{\"id\":\"q2\",\"type\":\"text\",\"text\":\"?\",\"max_len\":"
        "3}]}";
    struct survey *s = NULL;
    CHECK_INT(survey_parse(sj, sizeof(sj) - 1, &s, NULL, 0), GD_OK);
    struct {
        const char *body;
        int rc;
        const char *needle; /* in the detail */
    } cases[] = {
        {"{\"answers\":{\"q1\":\"yes\"}}", GD_OK, NULL},
        {"{\"answers\":{\"q1\":\"no\",\"q2\":\"abc\"}}", GD_OK, NULL},
        {"{\"answers\":{\"q1\":\"maybe\"}}", GD_EANSWERS, "\"q1\""},
        {"{\"answers\":{\"q2\":\"a\"}}", GD_EANSWERS, "\"q1\""},
        {"{\"answers\":{\"q1\":\"yes\",\"q2\":\"abcd\"}}", GD_EANSWERS, "\"q2\""},
        {"{\"answers\":{\"q1\":\"yes\",\"q9\":\"x\"}}", GD_EANSWERS, "\"q9\""},
        {"{\"answers\":[]}", GD_EANSWERS, NULL},
        {"{\"other\":1}", GD_EANSWERS, "answers"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *root = NULL;
        char *out = NULL, detail[200] = "";
        CHECK_INT(
            req_parse_body(cases[i].body, strlen(cases[i].body), &root, detail, sizeof(detail)),
            GD_OK);
        CHECK_INT(req_check_answers(s, root, &out, detail, sizeof(detail)), cases[i].rc);
        CHECK((cases[i].rc == GD_OK) == (out != NULL));
        if (cases[i].needle && !strstr(detail, cases[i].needle)) {
            fprintf(stderr, "case %zu: detail \"%s\" lacks %s\n", i, detail, cases[i].needle);
            CHECK(0);
        }
        free(out);
        cJSON_Delete(root);
    }
    cJSON *root = NULL;
    char *out = NULL, detail[64];
    CHECK_INT(req_parse_body("{\"answers\":{ \"q1\" : \"yes\" }}", 28, &root, detail, 64), GD_OK);
    CHECK_INT(req_check_answers(s, root, &out, detail, sizeof(detail)), GD_OK);
    CHECK_STR(out, "{\"q1\":\"yes\"}"); /* compact, as it goes into the message */
    free(out);
    cJSON_Delete(root);
    survey_free(s);
}

int main(void)
{
    RUN(routes);
    RUN(media_type);
    RUN(traceparent);
    RUN(body);
    RUN(answers);
    return TEST_DONE();
}
