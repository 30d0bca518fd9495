/*
 * entry.c - POST /v1/events/{id}/entries.  A request that waits on Redis or
 * the broker lives in one struct entry_req, freed in exactly one place
 * (er_finish), after its answer and after the publisher gave its job back.
 */
#include "entry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "app.h"
#include "client_addr.h"
#include "errors.h"
#include "evstate.h"
#include "gate.h"
#include "log.h"
#include "messages.h"
#include "publisher.h"
#include "rds.h"
#include "request.h"
#include "survey.h"
#include "timeutil.h"
#include "uuid.h"

#define SURVEY_TTL_MS      5000
#define DEADLINE_MARGIN_MS 300 /* loop-side bound = confirm deadline + this */

struct entry_req {
    struct reply_to to;
    long long event_id;
    char member[JWT_MAX_SUB + 1];
    char entry_id[UUID_STR_LEN];
    char traceparent[64];
    /* The client's address for log lines: req may be gone when they are written. */
    char client[NET_ADDR_STRLEN];
    cJSON *root;        /* the body, until the answers are checked */
    char *answers_json; /* compact, checked */
    int accepted;       /* the gate wrote a new entry: undo it if not confirmed */
    int answered;       /* the client has its answer (the deadline fired first) */
    int64_t confirm_t0_us;
    uint64_t state_mark;    /* evs_mark() when the gate call was sent */
    struct event *deadline; /* loop-side bound on the publisher */
    struct pub_job job;
};

/* The log context of a request. */
#define ER_LOG(er)                                                                                 \
    (&(struct log_ctx){.event_id = (er)->event_id,                                                 \
                       .entry_id = (er)->entry_id[0] ? (er)->entry_id : NULL,                      \
                       .member_id = (er)->member,                                                  \
                       .traceparent = (er)->traceparent,                                           \
                       .client = (er)->client})

static void er_finish(struct entry_req *er)
{
    if (er->deadline)
        event_free(er->deadline);
    cJSON_Delete(er->root);
    free(er->answers_json);
    free(er->job.body);
    free(er);
}

/* Answer 503 (unless already answered) and free. */
static void er_unavailable(struct entry_req *er, const char *detail)
{
    if (!er->answered)
        reply_unavailable(&er->to, detail);
    er->answered = 1;
    er_finish(er);
}

/* ---- request checks ---------------------------------------------------- */

/* W3C traceparent from the request, or a new one; echoed in the answer. */
static void take_traceparent(struct entry_req *er)
{
    const char *tp =
        evhttp_find_header(evhttp_request_get_input_headers(er->to.req), "traceparent");
    if (req_traceparent_ok(tp)) {
        snprintf(er->traceparent, sizeof(er->traceparent), "%s", tp);
    } else {
        unsigned char r[24];
        if (uuid_random(r, sizeof(r)) != GD_OK)
            memset(r, 0x5a, sizeof(r));
        char *o = er->traceparent; /* 00-<trace id>-<parent id>-01 */
        memcpy(o, "00-", 3);
        o = uuid_hex(o + 3, r, 16);
        *o++ = '-';
        o = uuid_hex(o, r + 16, 8);
        memcpy(o, "-01", 4);
    }
    reply_header(&er->to, "traceparent", er->traceparent);
}

int entry_authenticate(struct app *a, struct evhttp_request *req, char *member, size_t cap)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    struct jwt_claims claims;
    int rc = jwt_verify_bearer(&a->jwt, h, time_now_ms() / 1000, &claims);
    if (rc == GD_OK)
        snprintf(member, cap, "%s", claims.sub);
    return rc;
}

/* ---- surveys ----------------------------------------------------------- */

static const struct survey *survey_lookup(struct app *a, long long event_id)
{
    int64_t now = time_mono_ms();
    for (int i = 0; i < APP_SURVEY_CACHE; i++)
        if (a->surveys[i].event_id == event_id && a->surveys[i].survey &&
            now - a->surveys[i].loaded_ms < SURVEY_TTL_MS)
            return a->surveys[i].survey;
    return NULL;
}

static void survey_store(struct app *a, long long event_id, struct survey *s)
{
    struct survey_slot *slot = &a->surveys[0];
    for (int i = 0; i < APP_SURVEY_CACHE; i++) {
        if (a->surveys[i].event_id == event_id) {
            slot = &a->surveys[i];
            break;
        }
        if (a->surveys[i].loaded_ms < slot->loaded_ms)
            slot = &a->surveys[i];
    }
    survey_free(slot->survey);
    slot->event_id = event_id;
    slot->survey = s;
    slot->loaded_ms = time_mono_ms();
}

/* ---- publish and confirm ----------------------------------------------- */

static void send_accepted(struct entry_req *er)
{
    char body[256], loc[96];
    snprintf(body, sizeof(body), "{\"entry_id\":\"%s\",\"event_id\":%lld,\"status\":\"pending\"}",
             er->entry_id, er->event_id);
    snprintf(loc, sizeof(loc), "/v1/events/%lld/entries/me", er->event_id);
    reply_header(&er->to, "Location", loc);
    reply_retry_after(&er->to, er->to.app->cfg->poll_after_s * 1000);
    reply_send(&er->to, 202, "application/json", body);
}

static void on_rollback(void *arg, int rc, redisReply *r)
{
    struct entry_req *er = arg;
    if (rc != GD_OK)
        log_warn(ER_LOG(er), "gate rollback failed (%s): the member's retry republishes it",
                 err_str(rc));
    er_finish(er);
}

static void publish_done(struct pub_job *job, void *arg)
{
    struct entry_req *er = arg;
    struct app *a = er->to.app;
    if (er->deadline)
        event_del(er->deadline);
    if (job->result == GD_OK) {
        met_observe(&a->m->confirm, reply_now_us() - er->confirm_t0_us);
        if (er->answered) { /* too late for the client, but the broker holds it */
            log_warn(ER_LOG(er), "confirmed after the client was answered 503: the entry is "
                                 "pending and a retry gets 202 with the same entry_id");
        } else {
            send_accepted(er);
            log_debug(ER_LOG(er), "entry accepted");
        }
        er_finish(er);
        return;
    }
    met_inc(&a->m->publish_failures);
    log_warn(ER_LOG(er), "publish not confirmed: %s", err_str(job->result));
    if (!er->answered)
        reply_unavailable(&er->to,
                          "the entry could not be stored; nothing was recorded, retry shortly");
    er->answered = 1;
    if (!er->accepted) {
        er_finish(er);
        return;
    }
    /* Undo the gate so the member's retry is a first entry again. */
    char key[64];
    rds_key(key, sizeof(key), er->event_id, "entries");
    const char *argv[] = {key, er->member, er->entry_id};
    gate_script(a->gate, SCRIPT_GATE_ROLLBACK, 1, 3, argv, on_rollback, er);
}

/* The publisher did not answer in time (its thread may be stuck on a silent
 * broker): answer now; er stays alive until the job comes back. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct entry_req *er = arg;
    if (er->answered)
        return;
    er->answered = 1;
    log_warn(ER_LOG(er), "no confirm in time: answered 503, outcome decided when it comes back");
    reply_unavailable(&er->to, "the broker did not confirm the entry in time; retry shortly");
}

static void publish(struct entry_req *er, int64_t submitted_ms)
{
    struct app *a = er->to.app;
    struct entry_msg m;
    memset(&m, 0, sizeof(m));
    snprintf(m.entry_id, sizeof(m.entry_id), "%s", er->entry_id);
    m.event_id = er->event_id;
    snprintf(m.member_id, sizeof(m.member_id), "%s", er->member);
    time_format_ms(submitted_ms, m.submitted_at);
    m.answers_json = er->answers_json;
    struct pub_job *j = &er->job;
    er->deadline = evtimer_new(a->base, on_deadline, er);
    if (!er->deadline || entry_msg_encode(&m, &j->body, &j->len) != GD_OK) {
        j->result = GD_ENOMEM;
        publish_done(j, er);
        return;
    }
    snprintf(j->routing_key, sizeof(j->routing_key), "event.entry.%lld", er->event_id);
    snprintf(j->message_id, sizeof(j->message_id), "%s", er->entry_id);
    snprintf(j->traceparent, sizeof(j->traceparent), "%s", er->traceparent);
    j->event_id = er->event_id;
    j->done = publish_done;
    j->arg = er;
    long ms = a->cfg->confirm_timeout_ms + DEADLINE_MARGIN_MS;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(er->deadline, &tv);
    er->confirm_t0_us = reply_now_us();
    pub_submit(a->pub, j);
}

/* ---- the gate ---------------------------------------------------------- */

/* A decided entry: 200 with its status (and seq for a winner). */
static void send_decided(struct entry_req *er, const char *st, const char *id, long long seq)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"entry_id\":\"%s\",\"event_id\":%lld,\"status\":\"%s\"",
                     id, er->event_id, st);
    if (seq > 0)
        n += snprintf(body + n, sizeof(body) - (size_t)n, ",\"seq\":%lld", seq);
    snprintf(body + n, sizeof(body) - (size_t)n, "}");
    reply_send(&er->to, 200, "application/json", body);
}

static int gate_reply_ok(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
           r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
           r->element[2]->type == REDIS_REPLY_INTEGER && r->element[3]->type == REDIS_REPLY_INTEGER;
}

/* Every gate answer but accepted/pending: one reply, no broker. */
static void gate_refused(struct entry_req *er, const char *st, const char *id, long long n)
{
    struct app *a = er->to.app;
    struct worker_metrics *m = a->m;
    char extra[64];
    if (!strcmp(st, "won") || !strcmp(st, "lost") || !strcmp(st, "notified") ||
        !strcmp(st, "failed")) {
        met_inc(&m->outcomes[GO_DECIDED]);
        send_decided(er, st, id, n);
    } else if (!strcmp(st, "not_open")) {
        met_inc(&m->outcomes[GO_NOT_OPEN]);
        reply_retry_after(&er->to, n);
        snprintf(extra, sizeof(extra), "\"opens_in_ms\":%lld", n);
        reply_problem(&er->to, PB_EVENT_NOT_OPEN, NULL, extra);
    } else if (!strcmp(st, "rate_limited")) {
        met_inc(&m->outcomes[GO_RATE_LIMITED]);
        reply_retry_after(&er->to, n);
        reply_problem(&er->to, PB_RATE_LIMITED, "too many requests from this member", NULL);
    } else if (!strcmp(st, "not_eligible")) {
        met_inc(&m->outcomes[GO_NOT_ELIGIBLE]);
        reply_problem(&er->to, PB_NOT_ELIGIBLE, NULL, NULL);
    } else if (!strcmp(st, "sold_out") || !strcmp(st, "closed")) {
        int sold = st[0] == 's';
        met_inc(&m->outcomes[sold ? GO_SOLD_OUT : GO_CLOSED]);
        /* the next ones are answered from memory */
        evs_learn_read(a->evs, er->event_id, st, er->state_mark);
        reply_problem(&er->to, sold ? PB_SOLD_OUT : PB_EVENT_CLOSED, NULL, NULL);
    } else {
        met_inc(&m->outcomes[GO_NOT_FOUND]);
        reply_problem(&er->to, PB_EVENT_NOT_FOUND, NULL, NULL);
    }
    er_finish(er);
}

static void on_gate(void *arg, int rc, redisReply *r)
{
    struct entry_req *er = arg;
    if (rc != GD_OK || !gate_reply_ok(r)) {
        met_inc(&er->to.app->m->outcomes[GO_ERROR]);
        log_warn(ER_LOG(er), "gate call failed: %s", err_str(rc == GD_OK ? GD_EREDIS_REPLY : rc));
        er_unavailable(er, "entries cannot be checked right now; nothing was recorded");
        return;
    }
    const char *st = r->element[0]->str;
    if (strcmp(st, "accepted") == 0 || strcmp(st, "pending") == 0) {
        /* pending: accepted earlier but not decided yet; republishing the
         * same entry_id heals an instance that died before its confirm. */
        met_inc(&er->to.app->m->outcomes[st[0] == 'a' ? GO_ACCEPTED : GO_PENDING]);
        er->accepted = st[0] == 'a';
        snprintf(er->entry_id, sizeof(er->entry_id), "%s", r->element[1]->str);
        publish(er, r->element[3]->integer);
        return;
    }
    gate_refused(er, st, r->element[1]->str, r->element[2]->integer);
}

static void run_gate(struct entry_req *er)
{
    struct app *a = er->to.app;
    char new_id[UUID_STR_LEN];
    struct rds_gate_args g;
    if (uuid_v7(new_id) != GD_OK) {
        er_unavailable(er, "no randomness available");
        return;
    }
    rds_gate_args(&g, er->event_id, er->member, new_id, a->cfg->rate_limit, a->cfg->rate_window_ms);
    er->state_mark = evs_mark(a->evs);
    gate_script(a->gate, SCRIPT_GATE, 7, 11, g.argv, on_gate, er); /* copies the arguments */
}

/* Check the answers against the survey, then gate. */
static void check_and_gate(struct entry_req *er, const struct survey *s)
{
    char detail[256];
    int rc = req_check_answers(s, er->root, &er->answers_json, detail, sizeof(detail));
    cJSON_Delete(er->root);
    er->root = NULL;
    if (rc == GD_EANSWERS) {
        reply_problem(&er->to, PB_INVALID_ANSWERS, detail, NULL);
        er_finish(er);
    } else if (rc != GD_OK) {
        er_unavailable(er, "out of memory");
    } else {
        run_gate(er);
    }
}

static void on_survey(void *arg, int rc, redisReply *r)
{
    struct entry_req *er = arg;
    struct survey *s = NULL;
    char err[200];
    if (rc != GD_OK) {
        er_unavailable(er, "entries cannot be checked right now; nothing was recorded");
    } else if (r->type != REDIS_REPLY_STRING) {
        met_inc(&er->to.app->m->outcomes[GO_NOT_FOUND]);
        reply_problem(&er->to, PB_EVENT_NOT_FOUND, NULL, NULL);
        er_finish(er);
    } else if (survey_parse(r->str, r->len, &s, err, sizeof(err)) != GD_OK) {
        log_error(ER_LOG(er), "armed survey is invalid: %s", err);
        er_unavailable(er, "event misconfigured");
    } else {
        survey_store(er->to.app, er->event_id, s);
        check_and_gate(er, s);
    }
}

/* ---- the route --------------------------------------------------------- */

/* Refusals that need neither Redis nor the broker; 1 when answered. */
static int refuse_early(const struct reply_to *t, long long event_id, char *member, cJSON **root)
{
    struct app *a = t->app;
    struct evhttp_request *req = t->req;
    char detail[128];
    int rc;
    enum evs_state st = evs_get(a->evs, event_id);
    if (st != EVS_UNKNOWN) { /* DESIGN §5: from memory, nothing else touched */
        met_inc(&a->m->outcomes[st == EVS_SOLD_OUT ? GO_SOLD_OUT_MEMORY : GO_CLOSED_MEMORY]);
        reply_problem(t, st == EVS_SOLD_OUT ? PB_SOLD_OUT : PB_EVENT_CLOSED, NULL, NULL);
        return 1;
    }
    if (!req_is_json(evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type"))) {
        reply_problem(t, PB_UNSUPPORTED_MEDIA_TYPE, "send the entry as application/json", NULL);
        return 1;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > APP_MAX_BODY) {
        reply_problem(t, PB_BODY_TOO_LARGE, "an entry body is at most 8192 bytes", NULL);
        return 1;
    }
    if ((rc = entry_authenticate(a, req, member, JWT_MAX_SUB + 1)) != GD_OK) {
        reply_problem(t, PB_UNAUTHORIZED, err_str(rc), NULL);
        return 1;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
    if ((rc = req_parse_body(body, len, root, detail, sizeof(detail))) != GD_OK) {
        if (rc == GD_EJSON)
            reply_problem(t, PB_INVALID_JSON, detail, NULL);
        else
            reply_unavailable(t, "out of memory");
        return 1;
    }
    if (!app_ready(a)) { /* fail fast: nothing would be recorded anyway */
        cJSON_Delete(*root);
        reply_unavailable(t, "the broker or Redis is unavailable; nothing was recorded");
        return 1;
    }
    return 0;
}

void entry_post(const struct reply_to *t, long long event_id)
{
    char member[JWT_MAX_SUB + 1];
    cJSON *root = NULL;
    if (refuse_early(t, event_id, member, &root))
        return;
    struct entry_req *er = calloc(1, sizeof(*er));
    if (!er) {
        cJSON_Delete(root);
        reply_unavailable(t, "out of memory");
        return;
    }
    er->to = *t;
    er->event_id = event_id;
    er->root = root;
    snprintf(er->member, sizeof(er->member), "%s", member);
    take_traceparent(er);
    client_addr_text(&t->app->trusted, t->req, er->client, sizeof(er->client));
    const struct survey *s = survey_lookup(t->app, event_id);
    if (s) {
        check_and_gate(er, s);
        return;
    }
    char key[64];
    rds_key(key, sizeof(key), event_id, "survey");
    const char *argv[] = {"GET", key};
    gate_command(t->app->gate, 2, argv, on_survey, er);
}
