/*
 * report.h - what eventctl status, reconcile and watch read about an event
 * (PostgreSQL and Redis) and the invariants of DESIGN §2 checked on it.
 */
#ifndef GD_REPORT_H
#define GD_REPORT_H

#include "ctl.h"
#include "queues.h"

/* The numbers of one event, from PostgreSQL and Redis (-1: Redis did not answer). */
struct counts {
    long winnable, released, safety;
    long pg_entries, pg_won, pg_lost, dup_seq;
    long coupons_total, coupons_assigned, coupons_free, coupons_held, safety_assigned;
    long members_two_coupons;
    long sent, failed, sending, winners_without_coupon, winners_not_sent, sent_not_winner;
    long redis_entries, redis_winners, redis_losers, redis_eligible, redis_stock;
    char state[16], redis_state[16];
};

/* Fill k for event ev.  0, or 1 after printing why (PostgreSQL failed, no such event). */
int report_load_counts(struct ctl *c, long long ev, struct counts *k);

/* One invariant: its name, the number it is about, whether it holds. */
struct check {
    const char *name;
    long value;
    int ok;
    const char *rule;
};

#define REPORT_MAX_CHECKS 12

/*
 * The checks of `eventctl reconcile` on k into out (REPORT_MAX_CHECKS),
 * returning how many.  final: also those that hold only once the event is
 * over and drained.  qr NULL leaves out the one about the queues.
 */
int report_checks(const struct counts *k, const struct queue_report *qr, int final,
                  struct check *out);

#endif
