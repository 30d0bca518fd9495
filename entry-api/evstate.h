/*
 * evstate.h - which events are sold out or closed, known in memory so the
 * opening spike's tail (everyone who comes after the last coupon) is answered
 * 410 without touching Redis or the broker (DESIGN §5).
 *
 * Each worker keeps its own table, fed three ways:
 *   - a second Redis connection PSUBSCRIBEs to ev:{*}:state, where the
 *     stock-consumer announces sold_out and eventctl announces closed;
 *   - after every (re)subscription, as soon as the gate can run commands,
 *     the events it holds are re-read and a SCAN of ev:{*}:meta finds every
 *     event sold out or closed before its closes_at, since a message may
 *     have been missed while disconnected or before the worker started (a
 *     restarted worker knows them before its first request); a failed
 *     read runs the whole resync again;
 *   - gate and event-info answers teach it too.
 * A read (re-read, gate or event-info answer) sent before an announcement
 * for its event and answered after it is dropped (evs_learn_read).
 * Any other state announced ("open", "armed" after a rearm or a release of
 * safety stock) makes it forget the event, so the gate decides again.
 */
#ifndef GD_EVSTATE_H
#define GD_EVSTATE_H

#include <stdint.h>

#include <event2/event.h>

struct evstate;
struct gate;
struct worker_metrics;
struct evbuffer;

enum evs_state { EVS_UNKNOWN = 0, EVS_SOLD_OUT, EVS_CLOSED };

/* Start subscribing to url; g (borrowed) is used to re-read states.  NULL on a bad URL/OOM. */
struct evstate *evs_new(struct event_base *base, const char *url, struct gate *g,
                        struct worker_metrics *m);
/* Free after gate_free (re-reads in flight are answered by the gate first). */
void evs_free(struct evstate *s);

enum evs_state evs_get(const struct evstate *s, long long event_id);
/* An announcement on ev:{id}:state (what the subscription calls for each):
 * remember "sold_out"/"closed", forget the event for any other state name,
 * and tell the evs_on_change callback. */
void evs_announce(struct evstate *s, long long event_id, const char *state);
/* Reads race announcements: a read sent before an announcement for its event
 * can be answered after it, with the state the announcement replaced (a
 * stale "sold_out" after a re-opening would answer 410 until the next
 * announcement).  Take evs_mark() when sending a read (gate, event info,
 * resync) and learn its answer with evs_learn_read(), which drops it when an
 * announcement for that event came since the mark, or more than it keeps
 * track of came at all.  Dropping is always safe: the gate decides then. */
uint64_t evs_mark(const struct evstate *s);
/* 1: learned; 0: dropped (an announcement for the event came since mark). */
int evs_learn_read(struct evstate *s, long long event_id, const char *state, uint64_t mark);
/* 1 while the subscription is confirmed. */
int evs_subscribed(const struct evstate *s);
/* giftdrop_event_state{event_id,state} 1 for every remembered event. */
void evs_render(const struct evstate *s, struct evbuffer *out);

/* fn(arg, id) for every announcement on ev:{id}:state, and fn(arg, 0) after every
 * (re)subscription, since announcements may have been missed meanwhile. */
void evs_on_change(struct evstate *s, void (*fn)(void *arg, long long event_id), void *arg);

/* "ev:{42}:state" -> 42; 0 when the channel name is anything else. */
long long evs_channel_event(const char *channel, size_t len);

#endif
