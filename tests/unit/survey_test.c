/*
 * survey_test.c - tests for common/survey.c: every refusal survey_parse
 * documents, and every way answers can fail to fit, with the exact code and
 * the detail naming the question.
 */
#include <stdlib.h>

#include "errors.h"
#include "survey.h"
#include "test.h"

/* q1 single required, q2 multi required max 2, q3 text optional max_len 3,
 * q4 single optional, q5 multi optional, q6 text required max_len 10. */
static const char fixture[] =
    "{\"questions\":["
    "{\"id\":\"q1\",\"type\":\"single\",\"text\":\"Favourite colour?\",\"required\":true,"
    "\"choices\":[\"red\",\"green\",\"blue\"]},"
    "{\"id\":\"q2\",\"type\":\"multi\",\"text\":\"Which did you buy?\",\"required\":true,"
    "\"choices\":[\"a\",\"b\",\"c\",\"d\"],\"max\":2},"
    "{\"id\":\"q3\",\"type\":\"text\",\"text\":\"Comments\",\"required\":false,\"max_len\":3},"
    "{\"id\":\"q4\",\"type\":\"single\",\"text\":\"Optional\",\"choices\":[\"x\",\"\xec\x98\x88\"]}"
    ","
    "{\"id\":\"q5\",\"type\":\"multi\",\"text\":\"Optional multi\",\"choices\":[\"m1\",\"m2\"]},"
    "{\"id\":\"q6\",\"type\":\"text\",\"text\":\"\xec\x86\x8c\xea\xb0\x90\",\"required\":true,"
    "\"max_len\":10}"
    "]}";

static struct survey *survey;

/* Parse s; on refusal return the code with the reason in err. */
static int parse(const char *s, char *err, size_t err_len)
{
    struct survey *out = (struct survey *)1; /* must be reset to NULL on failure */
    int rc = survey_parse(s, strlen(s), &out, err, err_len);
    if (rc == GD_OK)
        survey_free(out);
    else if (out != NULL)
        return 12345; /* a refusal must leave *out NULL */
    return rc;
}

/* Check answers (JSON text) against the fixture; detail filled. */
static int check(const char *answers_json, char *detail, size_t detail_len)
{
    cJSON *a = cJSON_Parse(answers_json);
    if (a == NULL) {
        fprintf(stderr, "test bug: answers not JSON: %s\n", answers_json);
        exit(1);
    }
    int rc = survey_check_answers(survey, a, detail, detail_len);
    cJSON_Delete(a);
    return rc;
}

/* A valid base answer set with one member replaced: {"q1":..., "q2":..., "q6":...} + extra. */
#define BASE "\"q1\":\"red\",\"q2\":[\"a\"],\"q6\":\"ok\""

/* Expect refusal with exactly this detail. */
#define CHECK_ANSWERS(json, want)                                                                  \
    do {                                                                                           \
        char d_[256];                                                                              \
        CHECK_INT(check(json, d_, sizeof d_), GD_EANSWERS);                                        \
        CHECK_STR(d_, want);                                                                       \
    } while (0)

/* Expect refusal by survey_parse with a reason containing want. */
#define CHECK_REFUSED(json, want)                                                                  \
    do {                                                                                           \
        char e_[256];                                                                              \
        CHECK_INT(parse(json, e_, sizeof e_), GD_ESURVEY);                                         \
        if (strstr(e_, want) == NULL) {                                                            \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: reason \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, e_, want);  \
        }                                                                                          \
    } while (0)

/* One-question survey around a question body. */
#define ONE(q)        "{\"questions\":[" q "]}"
#define SINGLE(extra) ONE("{\"id\":\"q\",\"type\":\"single\",\"text\":\"t\"" extra "}")
#define MULTI(extra)  ONE("{\"id\":\"q\",\"type\":\"multi\",\"text\":\"t\"" extra "}")
#define TEXT(extra)   ONE("{\"id\":\"q\",\"type\":\"text\",\"text\":\"t\"" extra "}")

TEST(fixture_parses)
{
    char err[256];
    CHECK_INT(parse(fixture, err, sizeof err), GD_OK);
    CHECK_INT(parse("{\"questions\":[]}", err, sizeof err), GD_OK);
    CHECK_INT(parse(" {\"questions\":[]}\n", err, sizeof err), GD_OK);
    /* err may be NULL or empty. */
    struct survey *s = NULL;
    CHECK_INT(survey_parse("{}", 2, &s, NULL, 0), GD_ESURVEY);
    CHECK(s == NULL);
    CHECK_INT(survey_parse(fixture, strlen(fixture), NULL, err, sizeof err), GD_EINVAL);
    survey_free(NULL);
}

TEST(parse_refuses_bad_documents)
{
    char err[256];
    CHECK_REFUSED("", "empty");
    CHECK_REFUSED("{\"questions\":[", "not valid JSON");
    CHECK_REFUSED("{\"questions\":[]} x", "after the JSON value");
    CHECK_REFUSED("{\"questions\":[]}{}", "after the JSON value");
    CHECK_REFUSED("[]", "must be a JSON object");
    CHECK_REFUSED("{}", "questions must be an array");
    CHECK_REFUSED("{\"questions\":{}}", "questions must be an array");
    CHECK_REFUSED("{\"questions\":[],\"title\":\"x\"}", "unknown field");
    CHECK_REFUSED("{\"questions\":[1]}", "question #1: not an object");
    CHECK_INT(survey_parse("{\"questions\":[]}", 17, &(struct survey *){NULL}, err, sizeof err),
              GD_ESURVEY); /* the NUL inside len */
}

TEST(parse_refuses_bad_ids)
{
    CHECK_REFUSED(SINGLE(",\"choices\":[\"a\"]") "x", "after");
    CHECK_REFUSED(ONE("{\"type\":\"text\",\"text\":\"t\",\"max_len\":1}"), "question #1: id");
    CHECK_REFUSED(ONE("{\"id\":\"\",\"type\":\"text\",\"text\":\"t\",\"max_len\":1}"),
                  "question #1: id");
    CHECK_REFUSED(ONE("{\"id\":7,\"type\":\"text\",\"text\":\"t\",\"max_len\":1}"),
                  "question #1: id");
    CHECK_REFUSED(ONE("{\"id\":\"a b\",\"type\":\"text\",\"text\":\"t\",\"max_len\":1}"),
                  "question #1: id");
    CHECK_REFUSED(ONE("{\"id\":\"a.b\",\"type\":\"text\",\"text\":\"t\",\"max_len\":1}"),
                  "question #1: id");
    CHECK_REFUSED(ONE("{\"id\":\"\xec\x98\x88\",\"type\":\"text\",\"text\":\"t\",\"max_len\":1}"),
                  "question #1: id");
    CHECK_REFUSED(ONE("{\"id\":\"a\\u0000b\",\"type\":\"text\",\"text\":\"t\",\"max_len\":1}"),
                  "NUL");
    /* 64 characters are fine, 65 are not. */
    char doc[512];
    char id[66];
    memset(id, 'i', sizeof id);
    id[64] = '\0';
    snprintf(doc, sizeof doc, ONE("{\"id\":\"%s\",\"type\":\"text\",\"text\":\"t\",\"max_len\":1}"),
             id);
    CHECK_INT(parse(doc, NULL, 0), GD_OK);
    id[64] = 'i';
    id[65] = '\0';
    snprintf(doc, sizeof doc, ONE("{\"id\":\"%s\",\"type\":\"text\",\"text\":\"t\",\"max_len\":1}"),
             id);
    CHECK_REFUSED(doc, "question #1: id");
    CHECK_REFUSED(ONE("{\"id\":\"q_1-A\",\"type\":\"text\",\"text\":\"t\",\"max_len\":1},"
                      "{\"id\":\"q_1-A\",\"type\":\"text\",\"text\":\"t\",\"max_len\":1}"),
                  "question \"q_1-A\": duplicate id");
}

TEST(parse_refuses_bad_types_and_fields)
{
    CHECK_REFUSED(ONE("{\"id\":\"q\",\"type\":\"dropdown\",\"text\":\"t\"}"),
                  "question \"q\": type must be");
    CHECK_REFUSED(ONE("{\"id\":\"q\",\"type\":\"Single\",\"text\":\"t\",\"choices\":[\"a\"]}"),
                  "question \"q\": type must be");
    CHECK_REFUSED(ONE("{\"id\":\"q\",\"text\":\"t\",\"max_len\":1}"), "type must be");
    CHECK_REFUSED(ONE("{\"id\":\"q\",\"type\":1,\"text\":\"t\",\"max_len\":1}"), "type must be");
    CHECK_REFUSED(TEXT(",\"max_len\":1,\"requried\":true"), "question \"q\": unknown field");
    CHECK_REFUSED(ONE("{\"id\":\"q\",\"type\":\"text\",\"max_len\":1}"), "question \"q\": text");
    CHECK_REFUSED(ONE("{\"id\":\"q\",\"type\":\"text\",\"text\":\"\",\"max_len\":1}"),
                  "question \"q\": text");
    CHECK_REFUSED(ONE("{\"id\":\"q\",\"type\":\"text\",\"text\":5,\"max_len\":1}"),
                  "question \"q\": text");
    CHECK_REFUSED(TEXT(",\"max_len\":1,\"required\":\"yes\""), "question \"q\": required");
    CHECK_REFUSED(TEXT(",\"max_len\":1,\"required\":1"), "question \"q\": required");
    CHECK_INT(parse(TEXT(",\"max_len\":1,\"required\":false"), NULL, 0), GD_OK);
}

TEST(parse_refuses_bad_choices)
{
    CHECK_REFUSED(SINGLE(""), "question \"q\": choices must be a non-empty array");
    CHECK_REFUSED(MULTI(""), "question \"q\": choices must be a non-empty array");
    CHECK_REFUSED(SINGLE(",\"choices\":[]"), "choices must be a non-empty array");
    CHECK_REFUSED(MULTI(",\"choices\":\"a\""), "choices must be a non-empty array");
    CHECK_REFUSED(SINGLE(",\"choices\":[\"a\",1]"), "choices must be non-empty strings");
    CHECK_REFUSED(SINGLE(",\"choices\":[\"a\",\"\"]"), "choices must be non-empty strings");
    CHECK_REFUSED(SINGLE(",\"choices\":[\"a\",\"\xff\"]"), "not valid UTF-8");
    CHECK_REFUSED(MULTI(",\"choices\":[\"a\",\"b\",\"a\"]"),
                  "question \"q\": duplicate choice \"a\"");
    CHECK_REFUSED(TEXT(",\"max_len\":5,\"choices\":[\"a\"]"), "question \"q\": a text question");
    CHECK_REFUSED(SINGLE(",\"choices\":[\"a\"],\"max_len\":3"), "max_len applies only");
    CHECK_REFUSED(SINGLE(",\"choices\":[\"a\",\"b\"],\"max\":1"), "max applies only");

    /* SURVEY_MAX_CHOICES choices are fine, one more is not. */
    char doc[1024];
    char list[512] = "";
    for (int i = 0; i < SURVEY_MAX_CHOICES; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"c%d\"", i ? "," : "", i);
    snprintf(doc, sizeof doc, MULTI(",\"choices\":[%s]"), list);
    CHECK_INT(parse(doc, NULL, 0), GD_OK);
    snprintf(doc, sizeof doc, MULTI(",\"choices\":[%s,\"extra\"]"), list);
    CHECK_REFUSED(doc, "more than 32 choices");
}

TEST(parse_refuses_bad_limits)
{
    CHECK_REFUSED(MULTI(",\"choices\":[\"a\",\"b\"],\"max\":0"), "question \"q\": max must be");
    CHECK_REFUSED(MULTI(",\"choices\":[\"a\",\"b\"],\"max\":3"), "max must be an integer in 1..2");
    CHECK_REFUSED(MULTI(",\"choices\":[\"a\",\"b\"],\"max\":1.5"), "max must be");
    CHECK_REFUSED(MULTI(",\"choices\":[\"a\",\"b\"],\"max\":\"2\""), "max must be");
    CHECK_REFUSED(MULTI(",\"choices\":[\"a\",\"b\"],\"max\":-1"), "max must be");
    CHECK_REFUSED(MULTI(",\"choices\":[\"a\",\"b\"],\"max\":1e99"), "max must be");
    CHECK_INT(parse(MULTI(",\"choices\":[\"a\",\"b\"],\"max\":2"), NULL, 0), GD_OK);
    CHECK_INT(parse(MULTI(",\"choices\":[\"a\",\"b\"],\"max\":1"), NULL, 0), GD_OK);

    CHECK_REFUSED(TEXT(""), "question \"q\": max_len must be an integer in 1..1000");
    CHECK_REFUSED(TEXT(",\"max_len\":0"), "max_len must be");
    CHECK_REFUSED(TEXT(",\"max_len\":1001"), "max_len must be");
    CHECK_REFUSED(TEXT(",\"max_len\":2.5"), "max_len must be");
    CHECK_REFUSED(TEXT(",\"max_len\":\"10\""), "max_len must be");
    CHECK_REFUSED(TEXT(",\"max_len\":-5"), "max_len must be");
    CHECK_INT(parse(TEXT(",\"max_len\":1000"), NULL, 0), GD_OK);
    CHECK_INT(parse(TEXT(",\"max_len\":1"), NULL, 0), GD_OK);
}

TEST(parse_refuses_too_many_questions)
{
    char doc[8192] = "{\"questions\":[";
    for (int i = 0; i < SURVEY_MAX_QUESTIONS; i++)
        snprintf(doc + strlen(doc), sizeof doc - strlen(doc),
                 "%s{\"id\":\"q%d\",\"type\":\"text\",\"text\":\"t\",\"max_len\":5}", i ? "," : "",
                 i);
    size_t at = strlen(doc);
    strcat(doc, "]}");
    CHECK_INT(parse(doc, NULL, 0), GD_OK);
    snprintf(doc + at, sizeof doc - at,
             ",{\"id\":\"extra\",\"type\":\"text\",\"text\":\"t\",\"max_len\":5}]}");
    CHECK_REFUSED(doc, "more than 32 questions");
}

/* A failure after some questions were parsed frees them (checked by ASan). */
TEST(parse_failure_frees_partial_survey)
{
    CHECK_REFUSED(ONE("{\"id\":\"a\",\"type\":\"single\",\"text\":\"t\",\"choices\":[\"x\",\"y\"]},"
                      "{\"id\":\"b\",\"type\":\"multi\",\"text\":\"t\",\"choices\":[\"x\",\"x\"]}"),
                  "question \"b\": duplicate choice \"x\"");
    CHECK_REFUSED(ONE("{\"id\":\"a\",\"type\":\"single\",\"text\":\"t\",\"choices\":[\"x\",\"y\"]},"
                      "{\"id\":\"a\",\"type\":\"single\",\"text\":\"t\",\"choices\":[\"x\"]}"),
                  "duplicate id");
}

TEST(valid_answers)
{
    char d[256];
    CHECK_INT(check("{\"q1\":\"red\",\"q2\":[\"a\",\"c\"],\"q3\":\"hi\",\"q4\":\"\xec\x98\x88\","
                    "\"q5\":[\"m2\",\"m1\"],\"q6\":\"fine\"}",
                    d, sizeof d),
              GD_OK);
    CHECK_STR(d, "ok");
    /* Optional questions omitted, or answered empty. */
    CHECK_INT(check("{" BASE "}", d, sizeof d), GD_OK);
    CHECK_INT(check("{" BASE ",\"q3\":\"\",\"q5\":[]}", d, sizeof d), GD_OK);
    /* Member order does not matter. */
    CHECK_INT(check("{\"q6\":\"x\",\"q2\":[\"d\",\"b\"],\"q1\":\"blue\"}", d, sizeof d), GD_OK);
    /* detail may be NULL. */
    cJSON *a = cJSON_Parse("{" BASE "}");
    CHECK_INT(survey_check_answers(survey, a, NULL, 0), GD_OK);
    cJSON_Delete(a);
}

TEST(required_and_unknown)
{
    CHECK_ANSWERS("{\"q2\":[\"a\"],\"q6\":\"ok\"}", "question \"q1\": an answer is required");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q6\":\"ok\"}", "question \"q2\": an answer is required");
    CHECK_ANSWERS("{}", "question \"q1\": an answer is required");
    CHECK_ANSWERS("{" BASE ",\"q9\":\"x\"}", "question \"q9\" is not in the survey");
    CHECK_ANSWERS("{" BASE ",\"Q1\":\"red\"}", "question \"Q1\" is not in the survey");
    CHECK_ANSWERS("{" BASE ",\"\":\"red\"}", "question \"\" is not in the survey");
    CHECK_ANSWERS("{" BASE ",\"\xff\":\"red\"}",
                  "question \"(invalid UTF-8)\" is not in the survey");
    CHECK_ANSWERS("{" BASE ",\"q1\":\"blue\"}", "question \"q1\": answered more than once");
}

TEST(wrong_types)
{
    CHECK_ANSWERS("{\"q1\":1,\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": answer must be a string (one of the choices)");
    CHECK_ANSWERS("{\"q1\":{\"v\":\"red\"},\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": answer must be a string (one of the choices)");
    CHECK_ANSWERS("{\"q1\":[\"red\"],\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": answer must be a string (one of the choices)");
    CHECK_ANSWERS("{\"q1\":null,\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": answer must be a string (one of the choices)");
    CHECK_ANSWERS("{\"q1\":true,\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": answer must be a string (one of the choices)");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":\"a\",\"q6\":\"ok\"}",
                  "question \"q2\": answer must be an array of choices");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":{\"0\":\"a\"},\"q6\":\"ok\"}",
                  "question \"q2\": answer must be an array of choices");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":[1],\"q6\":\"ok\"}",
                  "question \"q2\": every pick must be a string");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":[[\"a\"]],\"q6\":\"ok\"}",
                  "question \"q2\": every pick must be a string");
    CHECK_ANSWERS("{" BASE ",\"q3\":3}", "question \"q3\": answer must be a string");
    CHECK_ANSWERS("{" BASE ",\"q3\":[\"abc\"]}", "question \"q3\": answer must be a string");
}

TEST(choices)
{
    CHECK_ANSWERS("{\"q1\":\"purple\",\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": choice \"purple\" is not allowed");
    CHECK_ANSWERS("{\"q1\":\"Red\",\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": choice \"Red\" is not allowed");
    CHECK_ANSWERS("{\"q1\":\"red \",\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": choice \"red \" is not allowed");
    CHECK_ANSWERS("{\"q1\":\"\",\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": choice \"\" is not allowed");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":[\"a\",\"purple\"],\"q6\":\"ok\"}",
                  "question \"q2\": choice \"purple\" is not allowed");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":[\"a\",\"a\"],\"q6\":\"ok\"}",
                  "question \"q2\": choice \"a\" is picked twice");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":[\"a\",\"b\",\"c\"],\"q6\":\"ok\"}",
                  "question \"q2\": at most 2 choices may be picked");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":[\"a\",\"a\",\"a\",\"a\",\"a\"],\"q6\":\"ok\"}",
                  "question \"q2\": at most 2 choices may be picked");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":[],\"q6\":\"ok\"}",
                  "question \"q2\": at least one choice is required");
    CHECK_ANSWERS("{" BASE ",\"q5\":[\"m1\",\"m1\"]}",
                  "question \"q5\": choice \"m1\" is picked twice");
    CHECK_ANSWERS("{" BASE ",\"q4\":\"\xec\x98\x89\"}",
                  "question \"q4\": choice \"\xec\x98\x89\" is not allowed");
    CHECK_ANSWERS("{\"q1\":\"\xff\",\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": answer is not valid UTF-8");
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":[\"a\",\"\xc0\xaf\"],\"q6\":\"ok\"}",
                  "question \"q2\": answer is not valid UTF-8");
}

TEST(text_length_in_code_points)
{
    char d[256];
    /* max_len 3: three Hangul syllables (9 bytes) fit, four do not. */
    CHECK_INT(check("{" BASE ",\"q3\":\"\xea\xb0\x80\xeb\x82\x98\xeb\x8b\xa4\"}", d, sizeof d),
              GD_OK);
    CHECK_ANSWERS("{" BASE ",\"q3\":\"\xea\xb0\x80\xeb\x82\x98\xeb\x8b\xa4\xeb\x9d\xbc\"}",
                  "question \"q3\": answer is longer than 3 characters");
    /* Four-byte sequences count once each; JSON escapes count after decoding. */
    CHECK_INT(check("{" BASE ",\"q3\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"}", d,
                    sizeof d),
              GD_OK);
    CHECK_INT(check("{" BASE ",\"q3\":\"\\ud83d\\ude00\\u00e9\\n\"}", d, sizeof d), GD_OK);
    CHECK_INT(check("{" BASE ",\"q3\":\"abc\"}", d, sizeof d), GD_OK);
    CHECK_ANSWERS("{" BASE ",\"q3\":\"abcd\"}",
                  "question \"q3\": answer is longer than 3 characters");
    /* Required text must not be empty; q6 allows 10. */
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":[\"a\"],\"q6\":\"\"}",
                  "question \"q6\": answer must not be empty");
    CHECK_INT(check("{\"q1\":\"red\",\"q2\":[\"a\"],\"q6\":\"0123456789\"}", d, sizeof d), GD_OK);
    CHECK_ANSWERS("{\"q1\":\"red\",\"q2\":[\"a\"],\"q6\":\"0123456789a\"}",
                  "question \"q6\": answer is longer than 10 characters");
}

TEST(invalid_utf8_text)
{
    static const char *const bad[] = {
        "\xff",             /* never valid */
        "\x80",             /* lone continuation */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, three bytes */
        "\xed\xa0\x80",     /* UTF-16 surrogate D800 */
        "\xf0\x8f\xbf\xbf", /* overlong, four bytes */
        "\xea\xb0",         /* truncated */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf8\x88\x80\x80", /* five-byte form */
        "a\xc3(",           /* bad continuation */
    };
    char json[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(json, sizeof json, "{" BASE ",\"q3\":\"%s\"}", bad[i]);
        CHECK_ANSWERS(json, "question \"q3\": answer is not valid UTF-8");
    }
    /* The largest code point and the edges around the surrogates are fine. */
    CHECK_INT(check("{" BASE ",\"q3\":\"\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80\"}", NULL, 0),
              GD_OK);
}

TEST(answers_not_an_object)
{
    CHECK_ANSWERS("[]", "answers must be a JSON object");
    CHECK_ANSWERS("[{\"q1\":\"red\"}]", "answers must be a JSON object");
    CHECK_ANSWERS("\"red\"", "answers must be a JSON object");
    CHECK_ANSWERS("null", "answers must be a JSON object");
    CHECK_ANSWERS("42", "answers must be a JSON object");
    char d[64];
    CHECK_INT(survey_check_answers(survey, NULL, d, sizeof d), GD_EANSWERS);
    CHECK_STR(d, "answers must be a JSON object");
    CHECK_INT(survey_check_answers(NULL, NULL, d, sizeof d), GD_EINVAL);
}

/* Values echoed in a detail are cut short and stripped of quotes and control characters. */
TEST(detail_quoting)
{
    CHECK_ANSWERS("{\"q1\":\"pur\\\"ple\\n\",\"q2\":[\"a\"],\"q6\":\"ok\"}",
                  "question \"q1\": choice \"pur?ple?\" is not allowed");
    CHECK_ANSWERS("{\"q1\":\"0123456789012345678901234567890123456789TAIL\",\"q2\":[\"a\"],"
                  "\"q6\":\"ok\"}",
                  "question \"q1\": choice \"0123456789012345678901234567890123456789...\" is "
                  "not allowed");
    /* A small buffer is filled and terminated, never overrun. */
    char d[12];
    memset(d, 'Z', sizeof d);
    cJSON *a = cJSON_Parse("{\"q1\":\"purple\"}");
    CHECK_INT(survey_check_answers(survey, a, d, sizeof d), GD_EANSWERS);
    CHECK_STR(d, "question \"q");
    cJSON_Delete(a);
    /* Cut inside a three-byte character: the partial character is dropped. */
    char d2[27];
    a = cJSON_Parse("{" BASE ",\"q4\":\"\xec\x98\x89\"}");
    for (size_t cap = 24; cap <= 26; cap++) {
        CHECK_INT(survey_check_answers(survey, a, d2, cap), GD_EANSWERS);
        CHECK_STR(d2, "question \"q4\": choice \"");
    }
    CHECK_INT(survey_check_answers(survey, a, d2, sizeof d2), GD_EANSWERS);
    CHECK_STR(d2, "question \"q4\": choice \"\xec\x98\x89");
    cJSON_Delete(a);
}

int main(void)
{
    char err[256];
    if (survey_parse(fixture, strlen(fixture), &survey, err, sizeof err) != GD_OK) {
        fprintf(stderr, "fixture refused: %s\n", err);
        return 1;
    }
    RUN(fixture_parses);
    RUN(parse_refuses_bad_documents);
    RUN(parse_refuses_bad_ids);
    RUN(parse_refuses_bad_types_and_fields);
    RUN(parse_refuses_bad_choices);
    RUN(parse_refuses_bad_limits);
    RUN(parse_refuses_too_many_questions);
    RUN(parse_failure_frees_partial_survey);
    RUN(valid_answers);
    RUN(required_and_unknown);
    RUN(wrong_types);
    RUN(choices);
    RUN(text_length_in_code_points);
    RUN(invalid_utf8_text);
    RUN(answers_not_an_object);
    RUN(detail_quoting);
    survey_free(survey);
    return TEST_DONE();
}
