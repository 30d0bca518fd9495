/*
 * evinfo.h - GET /v1/events/{id} from memory.  Before the opening every
 * phone loads the survey; after the sell-out the app reloads the event to
 * show "sold out".  Each worker keeps the event's description for a second
 * and answers those loads without Redis.
 *
 * The state shown is worked out on every request, never cached:
 *   - sold_out/closed from the sold-out memory (evstate) or from the event's
 *     meta state as last read;
 *   - otherwise scheduled/open/closed from opens_at/closes_at and Redis's
 *     clock, which the cache knows as an offset from this host's monotonic
 *     clock measured at each load (DESIGN §2.7: one clock).
 * An entry is fresh for EVI_FRESH_MS; then, up to EVI_STALE_MS, it is still
 * served while one reload runs in the background; after that a request waits
 * for Redis.  Any announcement on ev:{id}:state forgets the event, and a
 * (re)subscription forgets everything, since messages may have been missed.
 */
#ifndef GD_EVINFO_H
#define GD_EVINFO_H

#include <stdint.h>

#include "evstate.h"

#define EVI_MAX      64
#define EVI_FRESH_MS 1000
#define EVI_STALE_MS 5000

struct evinfo;

/* What event_info.lua read, as strings owned by the caller.  opens_at and
 * closes_at are rendered (RFC 3339) from opens_ms/closes_ms, the meta
 * hash's one source of truth (DESIGN §5). */
struct evi_fields {
    const char *title;
    const char *meta_state; /* the meta hash's state field */
    const char *survey;     /* JSON */
    long long opens_ms, closes_ms, redis_now_ms;
};

enum evi_age { EVI_MISS, EVI_FRESH, EVI_STALE };

struct evinfo *evi_new(void);
void evi_free(struct evinfo *c);

/* Remember event_id as read in f.  raced: an announcement for the event came
 * while it was read (evs_learn_read said so); the entry is then kept but
 * already stale, so the next request reloads it.  GD_OK or GD_ENOMEM. */
int evi_store(struct evinfo *c, long long event_id, const struct evi_fields *f, int64_t mono_now,
              int raced);
/* The JSON body for event_id at mono_now (NULL on a miss or when older than EVI_STALE_MS);
 * known is what the sold-out memory says.  *age tells whether to reload; *state (may be
 * NULL) is the state shown.  Valid until the next call on c. */
const char *evi_body(struct evinfo *c, long long event_id, int64_t mono_now, enum evs_state known,
                     enum evi_age *age, const char **state);
/* 1 if event_id is held, fresh or not. */
int evi_holds(struct evinfo *c, long long event_id);
/* Forget event_id, or every event when event_id is 0. */
void evi_forget(struct evinfo *c, long long event_id);
/* A reload of event_id is in flight: 1 if this call marked it (the caller loads), 0 if one
 * already was.  evi_store and evi_load_failed clear the mark. */
int evi_begin_load(struct evinfo *c, long long event_id);
void evi_load_failed(struct evinfo *c, long long event_id);

#endif
