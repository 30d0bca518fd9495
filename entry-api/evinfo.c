/*
 * evinfo.c - the event-description cache behind GET /v1/events/{id}.
 */
#include "evinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "timeutil.h"

struct evi_entry {
    long long event_id; /* 0: free */
    char *title, *survey;
    char meta_state[16];
    long long opens_ms, closes_ms;
    int64_t offset_ms; /* Redis time minus monotonic time, at the load */
    int64_t loaded_ms; /* monotonic */
    int loading;       /* a background reload is in flight */
    char *body;        /* rendered for body_state */
    const char *body_state;
};

struct evinfo {
    struct evi_entry e[EVI_MAX];
};

static void entry_clear(struct evi_entry *e)
{
    free(e->title);
    free(e->survey);
    free(e->body);
    memset(e, 0, sizeof(*e));
}

/* event_id's entry; NULL when not held (0 is never an event: it marks a free slot). */
static struct evi_entry *find(struct evinfo *c, long long event_id)
{
    if (event_id == 0)
        return NULL;
    for (int i = 0; i < EVI_MAX; i++)
        if (c->e[i].event_id == event_id)
            return &c->e[i];
    return NULL;
}

struct evinfo *evi_new(void)
{
    return calloc(1, sizeof(struct evinfo));
}

void evi_free(struct evinfo *c)
{
    if (!c)
        return;
    for (int i = 0; i < EVI_MAX; i++)
        entry_clear(&c->e[i]);
    free(c);
}

int evi_store(struct evinfo *c, long long event_id, const struct evi_fields *f, int64_t mono_now,
              int raced)
{
    struct evi_entry n = {.event_id = event_id,
                          .title = strdup(f->title),
                          .survey = strdup(f->survey),
                          .opens_ms = f->opens_ms,
                          .closes_ms = f->closes_ms,
                          .offset_ms = f->redis_now_ms - mono_now,
                          /* announced while this was read: serve it once more at
                           * most, and reload */
                          .loaded_ms = raced ? mono_now - EVI_FRESH_MS : mono_now};
    snprintf(n.meta_state, sizeof(n.meta_state), "%s", f->meta_state);
    struct evi_entry *slot = find(c, event_id);
    if (!n.title || !n.survey) {
        entry_clear(&n);
        if (slot)
            slot->loading = 0;
        return GD_ENOMEM;
    }
    if (!slot) { /* a free slot, else the oldest */
        slot = &c->e[0];
        for (int i = 0; i < EVI_MAX && slot->event_id; i++)
            if (!c->e[i].event_id || c->e[i].loaded_ms < slot->loaded_ms)
                slot = &c->e[i];
    }
    entry_clear(slot);
    *slot = n;
    return GD_OK;
}

static const char *state_of(const struct evi_entry *e, int64_t mono_now, enum evs_state known)
{
    if (known == EVS_SOLD_OUT || strcmp(e->meta_state, "sold_out") == 0)
        return "sold_out";
    if (known == EVS_CLOSED || strcmp(e->meta_state, "closed") == 0)
        return "closed";
    long long now = mono_now + e->offset_ms;
    return now < e->opens_ms ? "scheduled" : now < e->closes_ms ? "open" : "closed";
}

static char *render(const struct evi_entry *e, const char *state)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "event_id", (double)e->event_id);
    cJSON_AddStringToObject(o, "title", e->title);
    char opens[TIME_RFC3339_LEN], closes[TIME_RFC3339_LEN];
    time_format_ms(e->opens_ms, opens);
    time_format_ms(e->closes_ms, closes);
    cJSON_AddStringToObject(o, "opens_at", opens);
    cJSON_AddStringToObject(o, "closes_at", closes);
    cJSON_AddStringToObject(o, "state", state);
    cJSON *survey = cJSON_Parse(e->survey);
    cJSON_AddItemToObject(o, "survey", survey ? survey : cJSON_CreateObject());
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return body;
}

const char *evi_body(struct evinfo *c, long long event_id, int64_t mono_now, enum evs_state known,
                     enum evi_age *age, const char **state)
{
    struct evi_entry *e = find(c, event_id);
    int64_t held = e ? mono_now - e->loaded_ms : 0;
    *age = EVI_MISS;
    if (!e || held >= EVI_STALE_MS)
        return NULL;
    const char *st = state_of(e, mono_now, known);
    if (!e->body || strcmp(e->body_state, st) != 0) { /* a state name is a literal */
        char *body = render(e, st);
        if (!body)
            return NULL;
        free(e->body);
        e->body = body;
        e->body_state = st;
    }
    *age = held < EVI_FRESH_MS ? EVI_FRESH : EVI_STALE;
    if (state)
        *state = st;
    return e->body;
}

int evi_holds(struct evinfo *c, long long event_id)
{
    return find(c, event_id) != NULL;
}

void evi_forget(struct evinfo *c, long long event_id)
{
    for (int i = 0; i < EVI_MAX; i++)
        if (c->e[i].event_id && (event_id == 0 || c->e[i].event_id == event_id))
            entry_clear(&c->e[i]);
}

int evi_begin_load(struct evinfo *c, long long event_id)
{
    struct evi_entry *e = find(c, event_id);
    if (!e)
        return 1; /* nothing held: every request that misses loads */
    if (e->loading)
        return 0;
    e->loading = 1;
    return 1;
}

void evi_load_failed(struct evinfo *c, long long event_id)
{
    struct evi_entry *e = find(c, event_id);
    if (e)
        e->loading = 0;
}
