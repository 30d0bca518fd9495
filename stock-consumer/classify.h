/*
 * classify.h - which failures of the decide path are worth retrying.
 *
 * A transient failure (a dependency restarting, loading, busy) keeps the
 * batch: the consumer waits and decides it again.  A failure that is the
 * message's own fault will fail forever, so only that message is
 * dead-lettered with the reason and the rest of the batch goes on; treating
 * it as transient would wedge the queue, and letting the broker's delivery
 * limit dead-letter the whole batch would take good entries with it.
 */
#ifndef GD_CLASSIFY_H
#define GD_CLASSIFY_H

/* 1 when a Redis error reply (e.g. "LOADING ...", "NOSCRIPT ...") is worth a retry. */
int redis_error_transient(const char *err);

/*
 * 1 when a PostgreSQL SQLSTATE means some row of the statement is at fault
 * (class 22 data exception, class 23 integrity violation): retrying the same
 * rows fails again, so the rows are tried one by one to find the bad ones.
 */
int pg_rows_at_fault(const char *sqlstate);

#endif
