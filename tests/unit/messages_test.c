/*
 * messages_test.c - tests for common/messages.c: exact encodings of both
 * message shapes, encode -> decode round trips, and every refusal of the
 * strict decoders with its exact `why` (the dead-letter reason), which always
 * names the offending field.
 */
#include <stdlib.h>

#include "errors.h"
#include "messages.h"
#include "test.h"

#define UUID1   "01937f2e-8c4b-7a1d-9e2f-0123456789ab"
#define TIME1   "2025-11-25T12:00:00.123Z"
#define ANSWERS "{\"q1\":\"red\",\"q2\":[\"a\",\"c\"],\"q3\":\"\xea\xb0\x80 \\\"x\\\"\"}"

/*
 * An entry body from raw JSON member values; NULL leaves the member out.
 * Values are pasted as they are, so strings carry their own quotes.
 */
static const char *entry_body(const char *entry_id, const char *event_id, const char *member_id,
                              const char *submitted_at, const char *answers)
{
    static char buf[1024];
    const char *keys[] = {"entry_id", "event_id", "member_id", "submitted_at", "answers"};
    const char *vals[] = {entry_id, event_id, member_id, submitted_at, answers};
    size_t o = (size_t)snprintf(buf, sizeof buf, "{");
    for (int i = 0; i < 5; i++)
        if (vals[i])
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"%s\":%s", o > 1 ? "," : "", keys[i],
                                  vals[i]);
    snprintf(buf + o, sizeof buf - o, "}");
    return buf;
}

#define E_ID     "\"" UUID1 "\""
#define E_EV     "42"
#define E_MEMBER "\"m-123\""
#define E_TIME   "\"" TIME1 "\""
#define E_ANS    "{\"q1\":\"red\"}"

static const char *winner_body(const char *entry_id, const char *event_id, const char *member_id,
                               const char *seq, const char *channel, const char *phone,
                               const char *won_at)
{
    static char buf[1024];
    const char *keys[] = {"entry_id", "event_id", "member_id", "seq", "channel", "phone", "won_at"};
    const char *vals[] = {entry_id, event_id, member_id, seq, channel, phone, won_at};
    size_t o = (size_t)snprintf(buf, sizeof buf, "{");
    for (int i = 0; i < 7; i++)
        if (vals[i])
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"%s\":%s", o > 1 ? "," : "", keys[i],
                                  vals[i]);
    snprintf(buf + o, sizeof buf - o, "}");
    return buf;
}

#define W_SEQ     "7"
#define W_CHANNEL "\"kakao\""
#define W_PHONE   "\"+821012345678\""

/* Decode body; return the code and leave the reason in why_buf. */
static char why_buf[256];

static int decode_entry(const char *body)
{
    struct entry_msg m;
    strcpy(why_buf, "(not set)");
    int rc = entry_msg_decode(body, strlen(body), &m, why_buf, sizeof why_buf);
    entry_msg_clear(&m);
    return rc;
}

static int decode_winner(const char *body)
{
    struct winner_msg m;
    strcpy(why_buf, "(not set)");
    return winner_msg_decode(body, strlen(body), &m, why_buf, sizeof why_buf);
}

#define ENTRY_REFUSED(body, why)                                                                   \
    do {                                                                                           \
        CHECK_INT(decode_entry(body), GD_EMESSAGE);                                                \
        CHECK_STR(why_buf, why);                                                                   \
    } while (0)
#define WINNER_REFUSED(body, why)                                                                  \
    do {                                                                                           \
        CHECK_INT(decode_winner(body), GD_EMESSAGE);                                               \
        CHECK_STR(why_buf, why);                                                                   \
    } while (0)

#define NOT_ID(f)     "field \"" f "\" missing or not a positive integer"
#define NOT_STR(f)    "field \"" f "\" missing or not a string"
#define EMPTY_LONG(f) "field \"" f "\" empty or too long"

TEST(entry_encode_known_answer)
{
    struct entry_msg m = {.entry_id = UUID1,
                          .event_id = 42,
                          .member_id = "m-123_x.Y",
                          .submitted_at = TIME1,
                          .answers_json = ANSWERS};
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(entry_msg_encode(&m, &out, &len), GD_OK);
    CHECK_STR(out, "{\"entry_id\":\"" UUID1 "\",\"event_id\":42,\"member_id\":\"m-123_x.Y\","
                   "\"submitted_at\":\"" TIME1 "\",\"answers\":" ANSWERS "}");
    CHECK_INT(len, strlen(out));
    free(out);

    /* No answers: an empty object. */
    m.answers_json = NULL;
    CHECK_INT(entry_msg_encode(&m, &out, &len), GD_OK);
    CHECK(strstr(out, ",\"answers\":{}}") != NULL);
    CHECK_INT(len, strlen(out));
    free(out);
}

TEST(entry_round_trip)
{
    static const long long ids[] = {1, 42, 9007199254740991LL}; /* up to 2^53-1 */
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        struct entry_msg m = {.entry_id = UUID1,
                              .event_id = ids[i],
                              .member_id = "m-123_x.Y",
                              .submitted_at = "2025-11-25T21:00:00.123+09:00",
                              .answers_json = ANSWERS};
        struct entry_msg d;
        char *out = NULL, why[128] = "";
        size_t len = 0;
        CHECK_INT(entry_msg_encode(&m, &out, &len), GD_OK);
        CHECK_INT(entry_msg_decode(out, len, &d, why, sizeof why), GD_OK);
        CHECK_STR(why, "");
        CHECK_STR(d.entry_id, UUID1);
        CHECK_INT(d.event_id, ids[i]);
        CHECK_STR(d.member_id, "m-123_x.Y");
        CHECK_STR(d.submitted_at, "2025-11-25T21:00:00.123+09:00");
        /* Compact answers come back byte for byte (UTF-8 and escapes included). */
        CHECK_STR(d.answers_json, ANSWERS);
        entry_msg_clear(&d);
        CHECK(d.answers_json == NULL);
        free(out);
    }

    /* A 64-character member id and an empty answers object round trip too. */
    struct entry_msg m = {.entry_id = UUID1,
                          .event_id = 7,
                          .member_id = "0123456789012345678901234567890123456789012345678901234567"
                                       "89abcd",
                          .submitted_at = TIME1,
                          .answers_json = "{}"};
    struct entry_msg d;
    char *out = NULL, why[128];
    size_t len = 0;
    CHECK_INT(strlen(m.member_id), 64);
    CHECK_INT(entry_msg_encode(&m, &out, &len), GD_OK);
    CHECK_INT(entry_msg_decode(out, len, &d, why, sizeof why), GD_OK);
    CHECK_STR(d.member_id, m.member_id);
    CHECK_STR(d.answers_json, "{}");
    entry_msg_clear(&d);
    free(out);

    /* Whitespace and member order in the body do not matter. */
    const char *body = " { \"answers\" : { \"q1\" : [ 1 , 2 ] } , \"submitted_at\":\"" TIME1
                       "\", \"member_id\":\"m\",\"event_id\":5,\"entry_id\":\"" UUID1 "\"}\n";
    CHECK_INT(entry_msg_decode(body, strlen(body), &d, why, sizeof why), GD_OK);
    CHECK_INT(d.event_id, 5);
    CHECK_STR(d.answers_json, "{\"q1\":[1,2]}");
    entry_msg_clear(&d);
}

TEST(entry_refuses_bad_documents)
{
    const char *not_object = "body is not a JSON object";
    ENTRY_REFUSED("", not_object);
    ENTRY_REFUSED("not json", not_object);
    ENTRY_REFUSED("[1,2]", not_object);
    ENTRY_REFUSED("\"" UUID1 "\"", not_object);
    ENTRY_REFUSED("null", not_object);
    ENTRY_REFUSED("{\"entry_id\":", not_object);
    /* Only len bytes are read: a valid body cut by one byte is refused. */
    const char *good = entry_body(E_ID, E_EV, E_MEMBER, E_TIME, E_ANS);
    struct entry_msg m;
    CHECK_INT(entry_msg_decode(good, strlen(good) - 1, &m, why_buf, sizeof why_buf), GD_EMESSAGE);
    CHECK_STR(why_buf, not_object);
    CHECK(m.answers_json == NULL);
    CHECK_INT(decode_entry(good), GD_OK);
}

TEST(entry_refuses_missing_fields)
{
    ENTRY_REFUSED(entry_body(NULL, E_EV, E_MEMBER, E_TIME, E_ANS), NOT_STR("entry_id"));
    ENTRY_REFUSED(entry_body(E_ID, NULL, E_MEMBER, E_TIME, E_ANS), NOT_ID("event_id"));
    ENTRY_REFUSED(entry_body(E_ID, E_EV, NULL, E_TIME, E_ANS), NOT_STR("member_id"));
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, NULL, E_ANS), NOT_STR("submitted_at"));
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, E_TIME, NULL),
                  "field \"answers\" missing or not an object");
    ENTRY_REFUSED("{}", NOT_STR("entry_id"));
    /* Names are case-sensitive. */
    ENTRY_REFUSED("{\"Entry_Id\":\"" UUID1 "\"}", NOT_STR("entry_id"));
}

TEST(entry_refuses_bad_event_id)
{
    static const char *const bad[] = {
        "\"42\"",
        "-1",
        "0",
        "1.5",
        "1152921504606846976" /* 2^60 */,
        "9007199254740992" /* 2^53 */,
        "true",
        "null",
        "[42]",
        "{}",
        "1e300",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ENTRY_REFUSED(entry_body(E_ID, bad[i], E_MEMBER, E_TIME, E_ANS), NOT_ID("event_id"));
    CHECK_INT(decode_entry(entry_body(E_ID, "9007199254740991", E_MEMBER, E_TIME, E_ANS)), GD_OK);
    CHECK_INT(decode_entry(entry_body(E_ID, "1", E_MEMBER, E_TIME, E_ANS)), GD_OK);
}

TEST(entry_refuses_bad_entry_id)
{
    const char *not_uuid = "field \"entry_id\" is not a UUID";
    ENTRY_REFUSED(entry_body("\"not-a-uuid\"", E_EV, E_MEMBER, E_TIME, E_ANS), not_uuid);
    ENTRY_REFUSED(
        entry_body("\"01937f2e-8c4b-7a1d-9e2f-0123456789ag\"", E_EV, E_MEMBER, E_TIME, E_ANS),
        not_uuid);
    ENTRY_REFUSED(
        entry_body("\"01937f2e8c4b-7a1d-9e2f-0123456789abc\"", E_EV, E_MEMBER, E_TIME, E_ANS),
        not_uuid);
    ENTRY_REFUSED(
        entry_body("\"01937f2e-8c4b-7a1d-9e2f-0123456789a\"", E_EV, E_MEMBER, E_TIME, E_ANS),
        not_uuid);
    ENTRY_REFUSED(
        entry_body("\"01937f2e-8c4b-7a1d-9e2f-0123456789abc\"", E_EV, E_MEMBER, E_TIME, E_ANS),
        EMPTY_LONG("entry_id"));
    ENTRY_REFUSED(entry_body("\"\"", E_EV, E_MEMBER, E_TIME, E_ANS), EMPTY_LONG("entry_id"));
    ENTRY_REFUSED(entry_body("42", E_EV, E_MEMBER, E_TIME, E_ANS), NOT_STR("entry_id"));
}

TEST(entry_refuses_bad_member_id)
{
    const char *bad_chars = "field \"member_id\" has characters outside [A-Za-z0-9_.-]";
    ENTRY_REFUSED(entry_body(E_ID, E_EV, "\"m 1\"", E_TIME, E_ANS), bad_chars);
    ENTRY_REFUSED(entry_body(E_ID, E_EV, "\"m@x\"", E_TIME, E_ANS), bad_chars);
    ENTRY_REFUSED(entry_body(E_ID, E_EV, "\"m\\n\"", E_TIME, E_ANS), bad_chars);
    ENTRY_REFUSED(entry_body(E_ID, E_EV, "\"\xea\xb0\x80\"", E_TIME, E_ANS), bad_chars);
    ENTRY_REFUSED(entry_body(E_ID, E_EV,
                             "\"012345678901234567890123456789012345678901234567890123456789"
                             "abcde\"",
                             E_TIME, E_ANS),
                  EMPTY_LONG("member_id"));
    ENTRY_REFUSED(entry_body(E_ID, E_EV, "\"\"", E_TIME, E_ANS), EMPTY_LONG("member_id"));
    ENTRY_REFUSED(entry_body(E_ID, E_EV, "123", E_TIME, E_ANS), NOT_STR("member_id"));
}

TEST(entry_refuses_bad_time_and_answers)
{
    const char *not_time = "field \"submitted_at\" is not an RFC 3339 time";
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, "\"2025-11-25 12:00:00Z\"", E_ANS), not_time);
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, "\"2025-11-25T12:00:00\"", E_ANS), not_time);
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, "\"yesterday\"", E_ANS), not_time);
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, "\"2025-11-25T12:00:00.000000000000Z\"", E_ANS),
                  EMPTY_LONG("submitted_at"));
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, "1764072000123", E_ANS),
                  NOT_STR("submitted_at"));

    const char *not_object = "field \"answers\" missing or not an object";
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, E_TIME, "[]"), not_object);
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, E_TIME, "\"{}\""), not_object);
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, E_TIME, "null"), not_object);
    ENTRY_REFUSED(entry_body(E_ID, E_EV, E_MEMBER, E_TIME, "1"), not_object);
}

TEST(winner_encode_known_answer_and_round_trip)
{
    struct winner_msg m = {.entry_id = UUID1,
                           .event_id = 42,
                           .member_id = "m-123",
                           .seq = 7,
                           .channel = "kakao",
                           .phone = "+821012345678",
                           .won_at = "2025-11-25T12:00:01.000Z"};
    char *out = NULL, why[128] = "";
    size_t len = 0;
    struct winner_msg d;

    CHECK_INT(winner_msg_encode(&m, &out, &len), GD_OK);
    CHECK_STR(out, "{\"entry_id\":\"" UUID1 "\",\"event_id\":42,\"member_id\":\"m-123\","
                   "\"seq\":7,\"channel\":\"kakao\",\"phone\":\"+821012345678\","
                   "\"won_at\":\"2025-11-25T12:00:01.000Z\"}");
    CHECK_INT(len, strlen(out));
    CHECK_INT(winner_msg_decode(out, len, &d, why, sizeof why), GD_OK);
    CHECK_STR(why, "");
    CHECK_STR(d.entry_id, UUID1);
    CHECK_INT(d.event_id, 42);
    CHECK_STR(d.member_id, "m-123");
    CHECK_INT(d.seq, 7);
    CHECK_STR(d.channel, "kakao");
    CHECK_STR(d.phone, "+821012345678");
    CHECK_STR(d.won_at, "2025-11-25T12:00:01.000Z");
    free(out);

    /* sms, a large seq, the longest phone. */
    strcpy(m.channel, "sms");
    m.seq = 1000000;
    strcpy(m.phone, "+12345678901234567890"); /* the longest valid phone: 20 digits */
    CHECK_INT(winner_msg_encode(&m, &out, &len), GD_OK);
    CHECK_INT(winner_msg_decode(out, len, &d, why, sizeof why), GD_OK);
    CHECK_STR(d.channel, "sms");
    CHECK_INT(d.seq, 1000000);
    CHECK_STR(d.phone, "+12345678901234567890");
    free(out);

    /* A phone that is not one is refused on encode, so no body is produced. */
    out = NULL;
    strcpy(m.phone, "+1234\"5678");
    CHECK_INT(winner_msg_encode(&m, &out, &len), GD_EINVAL);
    CHECK(out == NULL);
    free(out);
}

TEST(winner_refusals)
{
    const char *w_id = E_ID, *w_time = "\"2025-11-25T12:00:01.000Z\"";
    CHECK_INT(decode_winner(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, W_CHANNEL, W_PHONE, w_time)),
              GD_OK);

    const char *bad_channel = "field \"channel\" is neither \"kakao\" nor \"sms\"";
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, "\"email\"", W_PHONE, w_time),
                   bad_channel);
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, "\"KAKAO\"", W_PHONE, w_time),
                   bad_channel);
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, "\"kakaotalk\"", W_PHONE, w_time),
                   EMPTY_LONG("channel"));
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, "\"\"", W_PHONE, w_time),
                   EMPTY_LONG("channel"));

    static const char *const bad_seq[] = {"0", "-1", "1.5", "\"7\"", "null"};
    for (size_t i = 0; i < sizeof bad_seq / sizeof bad_seq[0]; i++)
        WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, bad_seq[i], W_CHANNEL, W_PHONE, w_time),
                       NOT_ID("seq"));

    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, W_CHANNEL, "\"\"", w_time),
                   EMPTY_LONG("phone"));
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, W_CHANNEL,
                               "\"+1234567890123456789012345\"", w_time),
                   EMPTY_LONG("phone"));
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, W_CHANNEL, "82", w_time),
                   NOT_STR("phone"));

    /* Each missing member, and the checks shared with entries. */
    WINNER_REFUSED(winner_body(NULL, E_EV, E_MEMBER, W_SEQ, W_CHANNEL, W_PHONE, w_time),
                   NOT_STR("entry_id"));
    WINNER_REFUSED(winner_body(w_id, NULL, E_MEMBER, W_SEQ, W_CHANNEL, W_PHONE, w_time),
                   NOT_ID("event_id"));
    WINNER_REFUSED(winner_body(w_id, E_EV, NULL, W_SEQ, W_CHANNEL, W_PHONE, w_time),
                   NOT_STR("member_id"));
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, NULL, W_CHANNEL, W_PHONE, w_time),
                   NOT_ID("seq"));
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, NULL, W_PHONE, w_time),
                   NOT_STR("channel"));
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, W_CHANNEL, NULL, w_time),
                   NOT_STR("phone"));
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, W_CHANNEL, W_PHONE, NULL),
                   NOT_STR("won_at"));
    WINNER_REFUSED(winner_body(w_id, E_EV, E_MEMBER, W_SEQ, W_CHANNEL, W_PHONE, "\"noon\""),
                   "field \"won_at\" is not an RFC 3339 time");
    WINNER_REFUSED(winner_body("\"not-a-uuid\"", E_EV, E_MEMBER, W_SEQ, W_CHANNEL, W_PHONE, w_time),
                   "field \"entry_id\" is not a UUID");
    WINNER_REFUSED(winner_body(w_id, E_EV, "\"m 1\"", W_SEQ, W_CHANNEL, W_PHONE, w_time),
                   "field \"member_id\" has characters outside [A-Za-z0-9_.-]");
    WINNER_REFUSED(winner_body(w_id, "-5", E_MEMBER, W_SEQ, W_CHANNEL, W_PHONE, w_time),
                   NOT_ID("event_id"));
    WINNER_REFUSED("[]", "body is not a JSON object");
    WINNER_REFUSED("{", "body is not a JSON object");
}

TEST(member_id_rules)
{
    char id[70];
    CHECK_INT(member_id_valid("a"), 1);
    CHECK_INT(member_id_valid("A-z_0.9"), 1);
    CHECK_INT(member_id_valid("m-123"), 1);
    CHECK_INT(member_id_valid(""), 0);
    CHECK_INT(member_id_valid("m 1"), 0);
    CHECK_INT(member_id_valid("m@x"), 0);
    CHECK_INT(member_id_valid("m/1"), 0);
    CHECK_INT(member_id_valid("m\t"), 0);
    CHECK_INT(member_id_valid("m+1"), 0);
    CHECK_INT(member_id_valid("\xea\xb0\x80"), 0);
    memset(id, 'x', sizeof id);
    id[64] = '\0';
    CHECK_INT(member_id_valid(id), 1);
    id[64] = 'x';
    id[65] = '\0';
    CHECK_INT(member_id_valid(id), 0);
}

int main(void)
{
    RUN(entry_encode_known_answer);
    RUN(entry_round_trip);
    RUN(entry_refuses_bad_documents);
    RUN(entry_refuses_missing_fields);
    RUN(entry_refuses_bad_event_id);
    RUN(entry_refuses_bad_entry_id);
    RUN(entry_refuses_bad_member_id);
    RUN(entry_refuses_bad_time_and_answers);
    RUN(winner_encode_known_answer_and_round_trip);
    RUN(winner_refusals);
    RUN(member_id_rules);
    return TEST_DONE();
}
