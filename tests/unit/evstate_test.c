/*
 * evstate_test.c - tests for entry-api/evstate.c's table: announcements are
 * learned and reported, and a read (gate, event info, resync) answered after
 * an announcement for its event is dropped, so a stale "sold_out" cannot
 * come back after a re-opening (nor a stale "armed" erase a sell-out), while
 * reads of other events and fresh reads still teach it.  No Redis: the
 * subscription is never dispatched.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "evstate.h"
#include "metrics.h"
#include "test.h"

static long long changes[256];
static int n_changes;

static void on_change(void *arg, long long event_id)
{
    (void)arg;
    if (n_changes < 256)
        changes[n_changes] = event_id;
    n_changes++;
}

static struct event_base *base;
static struct metrics *met;

static struct evstate *fresh(void)
{
    n_changes = 0;
    /* port 1: nothing listens, and the loop never runs anyway */
    struct evstate *s = evs_new(base, "redis://127.0.0.1:1", NULL, metrics_slot(met, 0));
    if (s)
        evs_on_change(s, on_change, NULL);
    return s;
}

TEST(announcements_are_learned_and_reported)
{
    struct evstate *s = fresh();
    CHECK(s != NULL);
    CHECK_INT(evs_get(s, 7), EVS_UNKNOWN);
    evs_announce(s, 7, "sold_out");
    CHECK_INT(evs_get(s, 7), EVS_SOLD_OUT);
    evs_announce(s, 8, "closed");
    CHECK_INT(evs_get(s, 8), EVS_CLOSED);
    evs_announce(s, 7, "armed"); /* safety stock released: the gate decides again */
    CHECK_INT(evs_get(s, 7), EVS_UNKNOWN);
    CHECK_INT(evs_get(s, 8), EVS_CLOSED);
    CHECK_INT(n_changes, 3);
    CHECK_INT(changes[0], 7);
    CHECK_INT(changes[1], 8);
    CHECK_INT(changes[2], 7);
    evs_free(s);
}

TEST(a_read_older_than_a_reopening_is_dropped)
{
    struct evstate *s = fresh();
    evs_announce(s, 7, "sold_out");
    uint64_t sent = evs_mark(s); /* a gate call goes out and will say sold_out */
    evs_announce(s, 7, "armed"); /* ... the event re-opens before its answer is in */
    CHECK_INT(evs_learn_read(s, 7, "sold_out", sent), 0);
    CHECK_INT(evs_get(s, 7), EVS_UNKNOWN); /* not a stale 410 */
    /* The same answer to a read sent after the announcement counts. */
    CHECK_INT(evs_learn_read(s, 7, "sold_out", evs_mark(s)), 1);
    CHECK_INT(evs_get(s, 7), EVS_SOLD_OUT);
    CHECK_INT(n_changes, 2); /* reads do not report changes */
    evs_free(s);
}

TEST(a_read_older_than_a_sell_out_does_not_erase_it)
{
    struct evstate *s = fresh();
    uint64_t sent = evs_mark(s); /* an event-info load will say "armed" */
    evs_announce(s, 9, "sold_out");
    evs_learn_read(s, 9, "armed", sent);
    CHECK_INT(evs_get(s, 9), EVS_SOLD_OUT);
    evs_free(s);
}

TEST(announcements_of_other_events_do_not_drop_a_read)
{
    struct evstate *s = fresh();
    uint64_t sent = evs_mark(s);
    evs_announce(s, 8, "sold_out");
    evs_announce(s, 12, "armed");
    CHECK_INT(evs_learn_read(s, 7, "closed", sent), 1);
    CHECK_INT(evs_get(s, 7), EVS_CLOSED);
    CHECK_INT(evs_get(s, 8), EVS_SOLD_OUT);
    evs_free(s);
}

TEST(too_many_announcements_to_tell_drop_a_read)
{
    struct evstate *s = fresh();
    /* 64 announcements since the mark are still told apart ... */
    uint64_t sent = evs_mark(s);
    for (int i = 0; i < 64; i++)
        evs_announce(s, 1000 + i, "armed");
    evs_learn_read(s, 10, "sold_out", sent);
    CHECK_INT(evs_get(s, 10), EVS_SOLD_OUT);
    /* ... and when one of them was for the event, that is seen too */
    sent = evs_mark(s);
    evs_announce(s, 11, "armed");
    for (int i = 0; i < 63; i++)
        evs_announce(s, 2000 + i, "armed");
    evs_learn_read(s, 11, "sold_out", sent);
    CHECK_INT(evs_get(s, 11), EVS_UNKNOWN);
    /* 65 are more than it keeps: the read cannot be placed, so it is dropped */
    sent = evs_mark(s);
    for (int i = 0; i < 65; i++)
        evs_announce(s, 3000 + i, "armed");
    evs_learn_read(s, 12, "sold_out", sent);
    CHECK_INT(evs_get(s, 12), EVS_UNKNOWN);
    CHECK_INT(n_changes, 64 + 64 + 65);
    evs_free(s);
}

int main(void)
{
    base = event_base_new();
    met = metrics_create(1);
    if (!base || !met)
        return 1;
    RUN(announcements_are_learned_and_reported);
    RUN(a_read_older_than_a_reopening_is_dropped);
    RUN(a_read_older_than_a_sell_out_does_not_erase_it);
    RUN(announcements_of_other_events_do_not_drop_a_read);
    RUN(too_many_announcements_to_tell_drop_a_read);
    metrics_destroy(met);
    event_base_free(base);
    return TEST_DONE();
}
