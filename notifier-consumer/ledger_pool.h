/*
 * ledger_pool.h - the send ledger off the event loop: a few threads, each
 * with its own PostgreSQL connection (and Redis connection for the
 * ev:{id}:notified mirror), that run ledger operations in batches - one
 * transaction, one commit, for everything that queued up while the last
 * batch ran.  At a thousand winners a second that is a few dozen commits a
 * second instead of thousands, with synchronous_commit left on.
 *
 * A winner's operations always go to the same thread (by a hash of event
 * and member): its advisory lock lives in that thread's session.  Within a
 * batch, operations run in (event, member) order so two batches never wait
 * on each other's rows in opposite orders.
 *
 * Threads: ledger_pool_submit() is called on the loop thread; the done
 * callback runs on the loop thread too (the pool wakes the loop with
 * event_active, which needs evthread_use_pthreads()).
 */
#ifndef GD_LEDGER_POOL_H
#define GD_LEDGER_POOL_H

#include <event2/event.h>

#include "config.h"
#include "ledger.h"

struct ledger_pool;

/* Called on the loop thread for each finished op. */
typedef void (*ledger_done_fn)(struct ledger_op *op, void *arg);

/*
 * Start n threads connecting to cfg's database and Redis.  done(op, arg)
 * gets every op back.  NULL when out of memory or threads cannot start.
 */
struct ledger_pool *ledger_pool_new(const struct gd_config *cfg, int n, struct event_base *base,
                                    ledger_done_fn done, void *arg);

/* Queue op (owned by the caller until done).  The op's winner decides the thread. */
void ledger_pool_submit(struct ledger_pool *p, struct ledger_op *op);

/*
 * Stop: threads finish the batch they run and exit; ops still queued are
 * dropped without a callback (their owners are being torn down).  Closing
 * the connections releases every advisory lock.  Frees p.
 */
void ledger_pool_free(struct ledger_pool *p);

#endif
