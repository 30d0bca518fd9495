/* The Redis step of a batch: one claim script call per entry, pipelined. */
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "decide.h"
#include "errors.h"
#include "log.h"

/* Queue one EVALSHA per item still in play. */
static int send_claims(struct decider *dc, struct decide_item *items, int n)
{
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        char k[5][64], ev[24];
        if (it->poison)
            continue;
        rds_key(k[0], sizeof(k[0]), it->m.event_id, "meta");
        rds_key(k[1], sizeof(k[1]), it->m.event_id, "stock");
        rds_key(k[2], sizeof(k[2]), it->m.event_id, "winners");
        rds_key(k[3], sizeof(k[3]), it->m.event_id, "losers");
        rds_key(k[4], sizeof(k[4]), it->m.event_id, "entries");
        snprintf(ev, sizeof(ev), "%lld", it->m.event_id);
        const char *argv[] = {k[0], k[1], k[2], k[3], k[4], it->m.member_id, ev, it->m.entry_id};
        int rc = rds_append_script(&dc->redis, SCRIPT_CLAIM, 5, 8, argv);
        if (rc != GD_OK)
            return rc;
        it->sent = 1;
    }
    return GD_OK;
}

/* One claim answer: {'won', seq, left} | {'lost', 0, left} | {'unknown_event', 0, 0}. */
static void apply_claim(struct decide_item *it, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_INTEGER) {
        item_poison(it, "unexpected answer from the claim script (type %d)", r->type);
        return;
    }
    it->sold_out = r->element[2]->integer == 0;
    if (strcmp(r->element[0]->str, "won") == 0) {
        it->won = 1;
        it->seq = (long)r->element[1]->integer;
    } else if (strcmp(r->element[0]->str, "unknown_event") == 0) {
        it->unknown = 1;
    } else if (strcmp(r->element[0]->str, "lost") != 0) {
        item_poison(it, "unexpected claim outcome \"%.40s\"", r->element[0]->str);
    }
}

int claim_batch(struct decider *dc, struct decide_item *items, int n)
{
    int rc = send_claims(dc, items, n), transient = GD_OK;
    if (rc != GD_OK) {
        rds_close(&dc->redis); /* a half-queued pipeline must not reach the next batch */
        return rc;
    }
    /* Read every reply, whatever happens: a reply left unread would be taken
     * for the answer of the next batch's first entry. */
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        redisReply *r = NULL;
        if (!it->sent)
            continue;
        rc = rds_read_reply(&dc->redis, &r);
        if (rc == GD_OK) {
            apply_claim(it, r);
            freeReplyObject(r);
        } else if (rc != GD_EREDIS_REPLY) {
            return rc; /* connection gone (rds dropped it): nothing left to read */
        } else if (redis_error_transient(dc->redis.err)) {
            transient = rc; /* NOSCRIPT also dropped the connection: the next read says so */
        } else {
            item_poison(it, "claim refused by Redis: %.150s", dc->redis.err);
        }
    }
    return transient;
}

/* Decide what an unknown event means for one item; GD_ENOTFOUND to retry later. */
static int resolve_one(struct decider *dc, struct decide_item *it)
{
    char ev[24];
    PGresult *res = NULL;
    snprintf(ev, sizeof(ev), "%lld", it->m.event_id);
    const char *p[] = {ev};
    int rc = db_query(&dc->db, "SELECT state, closes_at > now() FROM events WHERE event_id = $1", 1,
                      p, &res);
    if (rc != GD_OK)
        return rc;
    if (PQntuples(res) == 0)
        item_poison(it, "unknown event %lld", it->m.event_id);
    else if (strcmp(PQgetvalue(res, 0, 0), "draft") == 0)
        item_poison(it, "event %lld is not armed", it->m.event_id);
    else if (PQgetvalue(res, 0, 1)[0] != 't')
        item_poison(it,
                    "event %lld has ended and has no Redis state (expired or lost): rearm it "
                    "to decide this entry",
                    it->m.event_id);
    else
        rc = GD_ENOTFOUND;
    PQclear(res);
    return rc;
}

int claim_resolve_unknown(struct decider *dc, struct decide_item *items, int n)
{
    for (int i = 0; i < n; i++) {
        struct decide_item *it = &items[i];
        int j = 0;
        if (!it->unknown || it->poison)
            continue;
        /* One look-up per event and batch: copy the verdict of an earlier item. */
        while (j < i && !(items[j].unknown && items[j].m.event_id == it->m.event_id))
            j++;
        if (j < i) {
            item_poison(it, "%s", items[j].why);
            continue;
        }
        int rc = resolve_one(dc, it);
        if (rc == GD_ENOTFOUND)
            log_error(&(struct log_ctx){.event_id = it->m.event_id},
                      "event is live in PostgreSQL but has no Redis state: holding its entries "
                      "until `eventctl rearm %lld` rebuilds it",
                      it->m.event_id);
        if (rc != GD_OK)
            return rc;
    }
    return GD_OK;
}
