/*
 * stock_classify_test.c - tests for stock-consumer/classify.c: which Redis
 * error replies and PostgreSQL SQLSTATEs the decide path retries, and which
 * make it dead-letter the one message at fault.  Regression: a claim script
 * error used to abort the whole batch and leave the pipeline's other replies
 * unread (see tests/integration/stock_poison.sh for the end-to-end side).
 */
#include "../../stock-consumer/classify.c"

#include "test.h"

TEST(redis_transient_errors)
{
    CHECK(redis_error_transient("NOSCRIPT No matching script. Please use EVAL."));
    CHECK(redis_error_transient("LOADING Redis is loading the dataset in memory"));
    CHECK(redis_error_transient("BUSY Redis is busy running a script."));
    CHECK(redis_error_transient("MASTERDOWN Link with MASTER is down"));
    CHECK(redis_error_transient("READONLY You can't write against a read only replica."));
    CHECK(redis_error_transient("OOM command not allowed when used memory > 'maxmemory'."));
    CHECK(redis_error_transient("TRYAGAIN Multiple keys request during rehashing of slot"));
    CHECK(redis_error_transient("CLUSTERDOWN The cluster is down"));
    CHECK(redis_error_transient("MOVED 3999 127.0.0.1:6381"));
    CHECK(redis_error_transient("ASK 3999 127.0.0.1:6381"));
    CHECK(redis_error_transient("NOAUTH Authentication required."));
    CHECK(redis_error_transient("ERR max number of clients reached"));
    CHECK(redis_error_transient(NULL)); /* no text: assume the connection, not the message */
}

TEST(redis_message_errors)
{
    CHECK(!redis_error_transient("ERR Error running script (call to f_1234): @user_script:12: "
                                 "user_script:12: attempt to compare nil with number"));
    CHECK(!redis_error_transient(
        "WRONGTYPE Operation against a key holding the wrong kind of value"));
    CHECK(!redis_error_transient("ERR value is not an integer or out of range"));
    /* whole words only */
    CHECK(!redis_error_transient("ASKING is not a reply"));
    CHECK(!redis_error_transient("BUSYKEY Target key name already exists."));
    CHECK(!redis_error_transient(""));
}

TEST(pg_row_faults)
{
    CHECK(pg_rows_at_fault("23503")); /* foreign_key_violation */
    CHECK(pg_rows_at_fault("23514")); /* check_violation */
    CHECK(pg_rows_at_fault("23505")); /* unique_violation */
    CHECK(pg_rows_at_fault("22007")); /* invalid_datetime_format */
    CHECK(pg_rows_at_fault("22P02")); /* invalid_text_representation */
    CHECK(pg_rows_at_fault("22008")); /* datetime_field_overflow */
}

TEST(pg_transient)
{
    CHECK(!pg_rows_at_fault("40001")); /* serialization_failure */
    CHECK(!pg_rows_at_fault("40P01")); /* deadlock_detected */
    CHECK(!pg_rows_at_fault("57P01")); /* admin_shutdown */
    CHECK(!pg_rows_at_fault("53300")); /* too_many_connections */
    CHECK(!pg_rows_at_fault("08006")); /* connection_failure */
    CHECK(!pg_rows_at_fault("42P01")); /* undefined_table: our bug, not the message's */
    CHECK(!pg_rows_at_fault(""));
    CHECK(!pg_rows_at_fault(NULL));
}

int main(void)
{
    RUN(redis_transient_errors);
    RUN(redis_message_errors);
    RUN(pg_row_faults);
    RUN(pg_transient);
    return TEST_DONE();
}
