/*
 * errors_test.c - tests for common/errors.c and common/problem.c.  The test
 * expands the X-macro lists itself, so a code added to a list is covered
 * without touching this file: every error code is distinct and has its own
 * message and name; every problem has a distinct code, a 4xx/5xx status and a
 * title; problem_render() output parses back with cJSON.
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "problem.h"
#include "test.h"

static const struct {
    int value;
    const char *name;
    const char *msg;
} codes[] = {
#define ROW(name, value, msg) {value, #name, msg},
    GD_ERROR_LIST(ROW)
#undef ROW
};
#define N_CODES (sizeof codes / sizeof codes[0])

static const struct {
    enum problem_id id;
    const char *code;
    int status;
    const char *title;
} problems[] = {
#define ROW(id, code, status, title) {id, code, status, title},
    GD_PROBLEM_LIST(ROW)
#undef ROW
};
#define N_PROBLEMS (sizeof problems / sizeof problems[0])

TEST(every_error_code_is_distinct_and_described)
{
    CHECK(N_CODES > 30);
    for (size_t i = 0; i < N_CODES; i++) {
        CHECK(codes[i].value <= 0);
        /* err_str/err_name give exactly the list's text for the list's value. */
        CHECK_STR(err_str(codes[i].value), codes[i].msg);
        CHECK_STR(err_name(codes[i].value), codes[i].name);
        CHECK(codes[i].msg[0] != '\0');
        CHECK(strncmp(err_name(codes[i].value), "GD_", 3) == 0);
        CHECK(strcmp(err_str(codes[i].value), "unknown error") != 0);
        for (size_t j = i + 1; j < N_CODES; j++) {
            if (codes[i].value == codes[j].value || strcmp(codes[i].msg, codes[j].msg) == 0)
                fprintf(stderr, "  %s and %s collide\n", codes[i].name, codes[j].name);
            CHECK(codes[i].value != codes[j].value);
            CHECK(strcmp(codes[i].msg, codes[j].msg) != 0);
        }
    }
    CHECK_INT(GD_OK, 0);
    CHECK_STR(err_name(GD_OK), "GD_OK");
    CHECK_STR(err_str(GD_EAMQP_NACK), "broker refused the message (nack)");
    CHECK_STR(err_name(GD_EAMQP_NACK), "GD_EAMQP_NACK");
}

TEST(unknown_codes)
{
    static const int unknown[] = {1, -9, -19, -27, -9999, 42, -2147483647 - 1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_STR(err_str(unknown[i]), "unknown error");
        CHECK_STR(err_name(unknown[i]), "GD_EUNKNOWN");
    }
}

TEST(every_problem_is_distinct_and_described)
{
    CHECK_INT(N_PROBLEMS, PB_COUNT);
    for (size_t i = 0; i < N_PROBLEMS; i++) {
        enum problem_id id = problems[i].id;
        CHECK_INT(id, i); /* ids are dense: they index the table */
        CHECK_STR(problem_code(id), problems[i].code);
        CHECK_INT(problem_status(id), problems[i].status);
        CHECK_STR(problem_title(id), problems[i].title);
        CHECK(problem_code(id)[0] != '\0');
        CHECK(problem_title(id)[0] != '\0');
        CHECK(problem_status(id) >= 400 && problem_status(id) <= 599);
        for (size_t j = i + 1; j < N_PROBLEMS; j++)
            CHECK(strcmp(problems[i].code, problems[j].code) != 0);
    }
    CHECK_INT(problem_status(PB_EVENT_NOT_OPEN), 425);
    CHECK_INT(problem_status(PB_RATE_LIMITED), 429);
    CHECK_STR(problem_code(PB_SOLD_OUT), "sold_out");
}

static const char *str_member(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static double num_member(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : -1;
}

TEST(render_known_answer)
{
    const char *want = "{\"type\":\"https://giftdrop.dev/problems/rate_limited\","
                       "\"title\":\"Too many requests\",\"status\":429,\"detail\":\"slow down\","
                       "\"code\":\"rate_limited\"}";
    char *body = problem_render(PB_RATE_LIMITED, "slow down", NULL);
    CHECK_STR(body, want);
    free(body);
    /* An empty extra adds nothing. */
    body = problem_render(PB_RATE_LIMITED, "slow down", "");
    CHECK_STR(body, want);
    free(body);
    /* An extra member goes before the closing brace. */
    body = problem_render(PB_RATE_LIMITED, "slow down", "\"retry_after_s\":10");
    CHECK(body != NULL && strncmp(body, want, strlen(want) - 1) == 0);
    CHECK_STR(body + strlen(want) - 1, ",\"retry_after_s\":10}");
    free(body);
}

TEST(render_with_extra_and_escaped_detail)
{
    const char *detail = "opens at \"noon\" \\ KST\n\ttab";
    char *body = problem_render(PB_EVENT_NOT_OPEN, detail, "\"opens_in_ms\":1500");
    CHECK(body != NULL);
    cJSON *o = cJSON_Parse(body);
    CHECK(o != NULL && cJSON_IsObject(o));
    CHECK_STR(str_member(o, "type"), "https://giftdrop.dev/problems/event_not_open");
    CHECK_STR(str_member(o, "title"), "The event has not opened yet");
    CHECK(num_member(o, "status") == 425);
    CHECK_STR(str_member(o, "detail"), detail);
    CHECK_STR(str_member(o, "code"), "event_not_open");
    const cJSON *opens = cJSON_GetObjectItemCaseSensitive(o, "opens_in_ms");
    CHECK(cJSON_IsNumber(opens) && opens->valuedouble == 1500);
    CHECK_INT(cJSON_GetArraySize(o), 6);
    cJSON_Delete(o);
    /* The raw quote never reaches the body unescaped. */
    CHECK(strstr(body, "\"noon\"") == NULL);
    CHECK(strstr(body, "\\\"noon\\\"") != NULL);
    free(body);

    /* Two extra members. */
    body = problem_render(PB_UNAVAILABLE, NULL, "\"retry_after_s\":2,\"reason\":\"broker\"");
    o = cJSON_Parse(body);
    CHECK(o != NULL);
    CHECK(num_member(o, "retry_after_s") == 2);
    CHECK_STR(str_member(o, "reason"), "broker");
    CHECK_INT(cJSON_GetArraySize(o), 7);
    cJSON_Delete(o);
    free(body);
}

/* Every problem renders to a parseable body; a NULL detail repeats the title. */
TEST(render_every_problem)
{
    char type[128];
    for (size_t i = 0; i < N_PROBLEMS; i++) {
        char *body = problem_render(problems[i].id, NULL, NULL);
        cJSON *o = cJSON_Parse(body);
        CHECK(o != NULL);
        snprintf(type, sizeof type, "https://giftdrop.dev/problems/%s", problems[i].code);
        CHECK_STR(str_member(o, "type"), type);
        CHECK_STR(str_member(o, "title"), problems[i].title);
        CHECK_STR(str_member(o, "detail"), problems[i].title);
        CHECK_STR(str_member(o, "code"), problems[i].code);
        CHECK(num_member(o, "status") == problems[i].status);
        CHECK_INT(cJSON_GetArraySize(o), 5);
        cJSON_Delete(o);
        free(body);
    }
}

/* problem_plain: the same text as problem_render without detail, kept once. */
TEST(plain_equals_render_and_is_kept)
{
    for (size_t i = 0; i < N_PROBLEMS; i++) {
        char *want = problem_render(problems[i].id, NULL, NULL);
        const char *got = problem_plain(problems[i].id);
        CHECK_STR(got, want);
        CHECK(problem_plain(problems[i].id) == got);
        free(want);
    }
}

int main(void)
{
    RUN(every_error_code_is_distinct_and_described);
    RUN(unknown_codes);
    RUN(every_problem_is_distinct_and_described);
    RUN(render_known_answer);
    RUN(render_with_extra_and_escaped_detail);
    RUN(render_every_problem);
    RUN(plain_equals_render_and_is_kept);
    return TEST_DONE();
}
