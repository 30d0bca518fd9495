/*
 * routes.c - entry-api's HTTP routes (DESIGN §3).  Each request that waits
 * on Redis or the broker lives in one struct entry_req, freed in exactly one
 * place (req_finish) right after its single reply.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "app.h"
#include "errors.h"
#include "gate.h"
#include "log.h"
#include "messages.h"
#include "problem.h"
#include "publisher.h"
#include "rds.h"
#include "survey.h"
#include "timeutil.h"
#include "uuid.h"

#define SURVEY_TTL_MS 5000

struct entry_req {
    struct app *app;
    struct evhttp_request *req;
    enum route route;
    long long event_id;
    char member[JWT_MAX_SUB + 1];
    char entry_id[UUID_STR_LEN];
    char traceparent[64];
    char *answers_json; /* compact, validated */
    int accepted;       /* gate wrote a new entry: roll back if the publish fails */
    int64_t confirm_start_ms;
    struct pub_job job;
};

/* The log context of a request. */
#define ER_LOG(er)                                                                                 \
    (&(struct log_ctx){.event_id = (er)->event_id,                                                 \
                       .entry_id = (er)->entry_id,                                                 \
                       .member_id = (er)->member,                                                  \
                       .traceparent = (er)->traceparent})

/* ---- replies ---------------------------------------------------------- */

static void count(struct app *a, enum route r, int status)
{
    a->m.responses[r][status / 100 < 6 ? status / 100 : 5]++;
    if (status > 0 && status < 600)
        a->m.by_status[status]++;
}

static void reply(struct app *a, struct evhttp_request *req, enum route r, int status,
                  const char *ctype, const char *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evbuffer_new();
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (out && body)
        evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, status, NULL, out);
    if (out)
        evbuffer_free(out);
    count(a, r, status);
}

static void reply_problem(struct app *a, struct evhttp_request *req, enum route r,
                          enum problem_id pb, const char *detail, const char *extra)
{
    char *body = problem_render(pb, detail, extra);
    if (problem_status(pb) == 401)
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"giftdrop\"");
    reply(a, req, r, problem_status(pb), "application/problem+json",
          body ? body : "{\"code\":\"unavailable\"}");
    free(body);
}

static void set_retry_after(struct evhttp_request *req, long long ms)
{
    char v[24];
    snprintf(v, sizeof(v), "%lld", ms <= 0 ? 1 : (ms + 999) / 1000);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", v);
}

static void reply_unavailable(struct app *a, struct evhttp_request *req, enum route r,
                              const char *detail)
{
    set_retry_after(req, 1000);
    reply_problem(a, req, r, PB_UNAVAILABLE, detail, NULL);
}

static void req_finish(struct entry_req *er)
{
    er->app->open_requests--;
    free(er->answers_json);
    free(er->job.body);
    free(er);
}

/* ---- request parsing -------------------------------------------------- */

/* W3C traceparent from the request, or a new one. */
static void take_traceparent(struct evhttp_request *req, char *out, size_t cap)
{
    const char *tp = evhttp_find_header(evhttp_request_get_input_headers(req), "traceparent");
    int ok = tp && strlen(tp) == 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-';
    for (int i = 0; ok && i < 55; i++)
        ok = (i == 2 || i == 35 || i == 52) || isxdigit((unsigned char)tp[i]);
    if (ok) {
        snprintf(out, cap, "%s", tp);
        return;
    }
    unsigned char r[24];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        memset(r, 0x5a, sizeof(r));
    int o = snprintf(out, cap, "00-");
    for (int i = 0; i < 16; i++)
        o += snprintf(out + o, cap - (size_t)o, "%02x", r[i]);
    o += snprintf(out + o, cap - (size_t)o, "-");
    for (int i = 16; i < 24; i++)
        o += snprintf(out + o, cap - (size_t)o, "%02x", r[i]);
    snprintf(out + o, cap - (size_t)o, "-01");
}

/* Verify the bearer token; 0 and the member id, or a GD_EAUTH_* code. */
static int authenticate(struct app *a, struct evhttp_request *req, char *member, size_t cap)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    struct jwt_claims claims;
    if (!h)
        return GD_EAUTH_MISSING;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return GD_EAUTH_MALFORMED;
    int rc = jwt_verify(&a->jwt, h + 7, strlen(h + 7), time_now_ms() / 1000, &claims);
    if (rc == GD_OK)
        snprintf(member, cap, "%s", claims.sub);
    return rc;
}

/* "/v1/events/<id><rest>": the id (1..15 digits) and the rest of the path. */
static int parse_event_path(const char *path, long long *id, const char **rest)
{
    const char *p = path + strlen("/v1/events/");
    int n = 0;
    long long v = 0;
    while (isdigit((unsigned char)p[n]) && n < 16)
        v = v * 10 + (p[n++] - '0');
    if (n == 0 || n > 15 || v == 0)
        return -1;
    *id = v;
    *rest = p + n;
    return 0;
}

/* ---- surveys ---------------------------------------------------------- */

static struct survey_slot *survey_lookup(struct app *a, long long event_id)
{
    int64_t now = time_mono_ms();
    for (int i = 0; i < APP_SURVEY_CACHE; i++)
        if (a->surveys[i].event_id == event_id && a->surveys[i].survey &&
            now - a->surveys[i].loaded_ms < SURVEY_TTL_MS)
            return &a->surveys[i];
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

/* ---- POST /v1/events/{id}/entries -------------------------------------- */

static void on_gate(void *arg, int rc, redisReply *r);

static void publish_done(struct pub_job *job, void *arg);

static void send_entry(struct entry_req *er, int status)
{
    char body[256], loc[96];
    snprintf(body, sizeof(body), "{\"entry_id\":\"%s\",\"event_id\":%lld,\"status\":\"pending\"}",
             er->entry_id, er->event_id);
    snprintf(loc, sizeof(loc), "/v1/events/%lld/entries/me", er->event_id);
    evhttp_add_header(evhttp_request_get_output_headers(er->req), "Location", loc);
    reply(er->app, er->req, ROUTE_ENTRY_POST, status, "application/json", body);
}

static void on_rollback(void *arg, int rc, redisReply *r)
{
    struct entry_req *er = arg;
    if (rc != GD_OK)
        log_warn(ER_LOG(er), "gate rollback failed (%s): the member's retry will republish it",
                 err_str(rc));
    req_finish(er);
}

static void publish_done(struct pub_job *job, void *arg)
{
    struct entry_req *er = arg;
    struct app *a = er->app;
    struct log_ctx lc = *ER_LOG(er);
    if (job->result == GD_OK) {
        a->m.confirm_count++;
        a->m.confirm_seconds_sum += (double)(time_mono_ms() - er->confirm_start_ms) / 1000.0;
        send_entry(er, 202);
        log_debug(&lc, "entry accepted");
        req_finish(er);
        return;
    }
    log_warn(&lc, "publish not confirmed: %s", err_str(job->result));
    reply_unavailable(a, er->req, ROUTE_ENTRY_POST,
                      "the entry could not be stored; nothing was recorded, retry shortly");
    if (!er->accepted) {
        req_finish(er);
        return;
    }
    /* Undo the gate so the member's retry is a first entry again. */
    char key[64];
    rds_key(key, sizeof(key), er->event_id, "entries");
    const char *argv[] = {key, er->member, er->entry_id};
    gate_script(a->gate, SCRIPT_GATE_ROLLBACK, 1, 3, argv, on_rollback, er);
}

static void publish(struct entry_req *er, int64_t submitted_ms)
{
    struct entry_msg m;
    memset(&m, 0, sizeof(m));
    snprintf(m.entry_id, sizeof(m.entry_id), "%s", er->entry_id);
    m.event_id = er->event_id;
    snprintf(m.member_id, sizeof(m.member_id), "%s", er->member);
    time_format_ms(submitted_ms, m.submitted_at);
    m.answers_json = er->answers_json;
    struct pub_job *j = &er->job;
    if (entry_msg_encode(&m, &j->body, &j->len) != GD_OK) {
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
    er->confirm_start_ms = time_mono_ms();
    pub_submit(er->app->pub, j);
}

enum gate_outcome {
    GO_ACCEPTED,
    GO_PENDING,
    GO_DECIDED,
    GO_NOT_OPEN,
    GO_RATE_LIMITED,
    GO_NOT_ELIGIBLE,
    GO_SOLD_OUT,
    GO_CLOSED,
    GO_NOT_FOUND,
    GO_ERROR
};

static void on_gate(void *arg, int rc, redisReply *r)
{
    struct entry_req *er = arg;
    struct app *a = er->app;
    if (rc != GD_OK || r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[2]->type != REDIS_REPLY_INTEGER || r->element[3]->type != REDIS_REPLY_INTEGER) {
        a->m.gate_outcomes[GO_ERROR]++;
        reply_unavailable(a, er->req, ROUTE_ENTRY_POST,
                          "entries cannot be checked right now; nothing was recorded");
        req_finish(er);
        return;
    }
    const char *st = r->element[0]->str, *id = r->element[1]->str;
    long long n = r->element[2]->integer, now = r->element[3]->integer;
    char extra[160];
    if (strcmp(st, "accepted") == 0 || strcmp(st, "pending") == 0) {
        a->m.gate_outcomes[st[0] == 'a' ? GO_ACCEPTED : GO_PENDING]++;
        er->accepted = st[0] == 'a';
        snprintf(er->entry_id, sizeof(er->entry_id), "%s", id);
        publish(er, now);
        return;
    }
    if (strcmp(st, "won") == 0 || strcmp(st, "lost") == 0 || strcmp(st, "notified") == 0 ||
        strcmp(st, "failed") == 0) {
        char body[256];
        a->m.gate_outcomes[GO_DECIDED]++;
        if (n > 0)
            snprintf(body, sizeof(body),
                     "{\"entry_id\":\"%s\",\"event_id\":%lld,\"status\":\"%s\",\"seq\":%lld}", id,
                     er->event_id, st, n);
        else
            snprintf(body, sizeof(body),
                     "{\"entry_id\":\"%s\",\"event_id\":%lld,\"status\":\"%s\"}", id, er->event_id,
                     st);
        reply(a, er->req, ROUTE_ENTRY_POST, 200, "application/json", body);
    } else if (strcmp(st, "not_open") == 0) {
        a->m.gate_outcomes[GO_NOT_OPEN]++;
        set_retry_after(er->req, n);
        snprintf(extra, sizeof(extra), "\"opens_in_ms\":%lld", n);
        reply_problem(a, er->req, ROUTE_ENTRY_POST, PB_EVENT_NOT_OPEN, NULL, extra);
    } else if (strcmp(st, "rate_limited") == 0) {
        a->m.gate_outcomes[GO_RATE_LIMITED]++;
        set_retry_after(er->req, n);
        reply_problem(a, er->req, ROUTE_ENTRY_POST, PB_RATE_LIMITED, NULL, NULL);
    } else if (strcmp(st, "not_eligible") == 0) {
        a->m.gate_outcomes[GO_NOT_ELIGIBLE]++;
        reply_problem(a, er->req, ROUTE_ENTRY_POST, PB_NOT_ELIGIBLE, NULL, NULL);
    } else if (strcmp(st, "sold_out") == 0) {
        a->m.gate_outcomes[GO_SOLD_OUT]++;
        reply_problem(a, er->req, ROUTE_ENTRY_POST, PB_SOLD_OUT, NULL, NULL);
    } else if (strcmp(st, "closed") == 0) {
        a->m.gate_outcomes[GO_CLOSED]++;
        reply_problem(a, er->req, ROUTE_ENTRY_POST, PB_EVENT_CLOSED, NULL, NULL);
    } else {
        a->m.gate_outcomes[GO_NOT_FOUND]++;
        reply_problem(a, er->req, ROUTE_ENTRY_POST, PB_EVENT_NOT_FOUND, NULL, NULL);
    }
    req_finish(er);
}

static void run_gate(struct entry_req *er)
{
    char k[7][96], limit[24], window[24], rl[160];
    static const char *const suffix[] = {"meta", "eligible", "entries", "winners", "losers"};
    for (int i = 0; i < 5; i++)
        rds_key(k[i], sizeof(k[i]), er->event_id, suffix[i]);
    snprintf(rl, sizeof(rl), "rl:%s", er->member);
    rds_key(k[5], sizeof(k[5]), er->event_id, rl);
    rds_key(k[6], sizeof(k[6]), er->event_id, "notified");
    if (uuid_v7(er->entry_id) != GD_OK) {
        reply_unavailable(er->app, er->req, ROUTE_ENTRY_POST, "no randomness available");
        req_finish(er);
        return;
    }
    snprintf(limit, sizeof(limit), "%ld", er->app->cfg->rate_limit);
    snprintf(window, sizeof(window), "%ld", er->app->cfg->rate_window_ms);
    const char *argv[] = {k[0], k[1],       k[2],         k[3],  k[4],  k[5],
                          k[6], er->member, er->entry_id, limit, window};
    gate_script(er->app->gate, SCRIPT_GATE, 7, 11, argv, on_gate, er);
}

/* Validate the answers against the survey, then gate.  Takes ownership of answers. */
static void check_and_gate(struct entry_req *er, const struct survey *s, cJSON *root)
{
    char detail[256];
    const cJSON *answers = cJSON_GetObjectItemCaseSensitive(root, "answers");
    if (survey_check_answers(s, answers, detail, sizeof(detail)) != GD_OK) {
        reply_problem(er->app, er->req, ROUTE_ENTRY_POST, PB_INVALID_ANSWERS, detail, NULL);
        cJSON_Delete(root);
        req_finish(er);
        return;
    }
    er->answers_json = cJSON_PrintUnformatted(answers);
    cJSON_Delete(root);
    if (!er->answers_json) {
        reply_unavailable(er->app, er->req, ROUTE_ENTRY_POST, "out of memory");
        req_finish(er);
        return;
    }
    run_gate(er);
}

/* Body parsed again after the survey arrives: keeps the pending state small. */
static cJSON *parse_body(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
    cJSON *root = len ? cJSON_ParseWithLength(data, len) : NULL;
    if (root && !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        root = NULL;
    }
    return root;
}

static void on_survey(void *arg, int rc, redisReply *r)
{
    struct entry_req *er = arg;
    struct survey *s = NULL;
    char err[200];
    if (rc != GD_OK) {
        reply_unavailable(er->app, er->req, ROUTE_ENTRY_POST,
                          "entries cannot be checked right now; nothing was recorded");
        req_finish(er);
        return;
    }
    if (r->type != REDIS_REPLY_STRING) {
        reply_problem(er->app, er->req, ROUTE_ENTRY_POST, PB_EVENT_NOT_FOUND, NULL, NULL);
        req_finish(er);
        return;
    }
    if (survey_parse(r->str, r->len, &s, err, sizeof(err)) != GD_OK) {
        log_error(&(struct log_ctx){.event_id = er->event_id}, "armed survey is invalid: %s", err);
        reply_unavailable(er->app, er->req, ROUTE_ENTRY_POST, "event misconfigured");
        req_finish(er);
        return;
    }
    survey_store(er->app, er->event_id, s);
    check_and_gate(er, s, parse_body(er->req));
}

static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    size_t n = strcspn(ct, ";");
    while (n > 0 && ct[n - 1] == ' ')
        n--;
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0);
}

static void post_entry(struct app *a, struct evhttp_request *req, long long event_id)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    char member[JWT_MAX_SUB + 1];
    int rc;

    if (!is_json_type(evhttp_find_header(in, "Content-Type"))) {
        reply_problem(a, req, ROUTE_ENTRY_POST, PB_UNSUPPORTED_MEDIA_TYPE,
                      "send the entry as application/json", NULL);
        return;
    }
    if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > APP_MAX_BODY) {
        reply_problem(a, req, ROUTE_ENTRY_POST, PB_BODY_TOO_LARGE,
                      "an entry body is at most 8192 bytes", NULL);
        return;
    }
    if ((rc = authenticate(a, req, member, sizeof(member))) != GD_OK) {
        reply_problem(a, req, ROUTE_ENTRY_POST, PB_UNAUTHORIZED, err_str(rc), NULL);
        return;
    }
    cJSON *root = parse_body(req);
    if (!root) {
        reply_problem(a, req, ROUTE_ENTRY_POST, PB_INVALID_JSON,
                      "the body must be a JSON object like {\"answers\":{...}}", NULL);
        return;
    }
    struct entry_req *er = calloc(1, sizeof(*er));
    if (!er) {
        cJSON_Delete(root);
        reply_unavailable(a, req, ROUTE_ENTRY_POST, "out of memory");
        return;
    }
    a->open_requests++;
    er->app = a;
    er->req = req;
    er->event_id = event_id;
    snprintf(er->member, sizeof(er->member), "%s", member);
    take_traceparent(req, er->traceparent, sizeof(er->traceparent));
    evhttp_add_header(evhttp_request_get_output_headers(req), "traceparent", er->traceparent);
    struct survey_slot *slot = survey_lookup(a, event_id);
    if (slot) {
        check_and_gate(er, slot->survey, root);
        return;
    }
    cJSON_Delete(root);
    char key[64];
    rds_key(key, sizeof(key), event_id, "survey");
    gate_get(a->gate, key, on_survey, er);
}

/* ---- GET /v1/events/{id} and /entries/me ------------------------------- */

static void on_event_info(void *arg, int rc, redisReply *r)
{
    struct entry_req *er = arg;
    if (rc != GD_OK) {
        reply_unavailable(er->app, er->req, ROUTE_EVENT, "event state unavailable");
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
        reply_problem(er->app, er->req, ROUTE_EVENT, PB_EVENT_NOT_FOUND, NULL, NULL);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "event_id", (double)er->event_id);
        cJSON_AddStringToObject(o, "title", r->element[0]->str ? r->element[0]->str : "");
        cJSON_AddStringToObject(o, "opens_at", r->element[1]->str ? r->element[1]->str : "");
        cJSON_AddStringToObject(o, "closes_at", r->element[2]->str ? r->element[2]->str : "");
        cJSON_AddStringToObject(o, "state", r->element[3]->str ? r->element[3]->str : "");
        cJSON *survey = r->element[4]->str ? cJSON_Parse(r->element[4]->str) : NULL;
        cJSON_AddItemToObject(o, "survey", survey ? survey : cJSON_CreateObject());
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (body)
            reply(er->app, er->req, ROUTE_EVENT, 200, "application/json", body);
        else
            reply_unavailable(er->app, er->req, ROUTE_EVENT, "out of memory");
        free(body);
    }
    req_finish(er);
}

static void on_entry_status(void *arg, int rc, redisReply *r)
{
    struct entry_req *er = arg;
    char body[256];
    if (rc != GD_OK) {
        reply_unavailable(er->app, er->req, ROUTE_ENTRY_ME, "entry state unavailable");
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        reply_problem(er->app, er->req, ROUTE_ENTRY_ME, PB_ENTRY_NOT_FOUND,
                      "this member has not entered this event", NULL);
    } else {
        long long seq = r->element[2]->integer;
        int n =
            snprintf(body, sizeof(body), "{\"entry_id\":\"%s\",\"event_id\":%lld,\"status\":\"%s\"",
                     r->element[0]->str, er->event_id, r->element[1]->str);
        if (seq > 0)
            n += snprintf(body + n, sizeof(body) - (size_t)n, ",\"seq\":%lld", seq);
        snprintf(body + n, sizeof(body) - (size_t)n, "}");
        reply(er->app, er->req, ROUTE_ENTRY_ME, 200, "application/json", body);
    }
    req_finish(er);
}

static struct entry_req *new_req(struct app *a, struct evhttp_request *req, long long event_id)
{
    struct entry_req *er = calloc(1, sizeof(*er));
    if (er) {
        a->open_requests++;
        er->app = a;
        er->req = req;
        er->event_id = event_id;
    }
    return er;
}

static void get_event(struct app *a, struct evhttp_request *req, long long event_id)
{
    char k[3][64];
    struct entry_req *er = new_req(a, req, event_id);
    if (!er) {
        reply_unavailable(a, req, ROUTE_EVENT, "out of memory");
        return;
    }
    rds_key(k[0], sizeof(k[0]), event_id, "meta");
    rds_key(k[1], sizeof(k[1]), event_id, "survey");
    rds_key(k[2], sizeof(k[2]), event_id, "stock");
    const char *argv[] = {k[0], k[1], k[2]};
    gate_script(a->gate, SCRIPT_EVENT_INFO, 3, 3, argv, on_event_info, er);
}

static void get_entry_me(struct app *a, struct evhttp_request *req, long long event_id)
{
    char member[JWT_MAX_SUB + 1], k[4][64];
    int rc = authenticate(a, req, member, sizeof(member));
    if (rc != GD_OK) {
        reply_problem(a, req, ROUTE_ENTRY_ME, PB_UNAUTHORIZED, err_str(rc), NULL);
        return;
    }
    struct entry_req *er = new_req(a, req, event_id);
    if (!er) {
        reply_unavailable(a, req, ROUTE_ENTRY_ME, "out of memory");
        return;
    }
    static const char *const suffix[] = {"entries", "winners", "losers", "notified"};
    for (int i = 0; i < 4; i++)
        rds_key(k[i], sizeof(k[i]), event_id, suffix[i]);
    const char *argv[] = {k[0], k[1], k[2], k[3], member};
    gate_script(a->gate, SCRIPT_ENTRY_STATUS, 4, 5, argv, on_entry_status, er);
}

/* ---- operational routes ------------------------------------------------ */

static void get_metrics(struct app *a, struct evhttp_request *req)
{
    static const char *const routes[ROUTE_N] = {"entry_post", "entry_me", "event", "health",
                                                "other"};
    static const char *const outcomes[] = {"accepted",     "pending",      "decided",  "not_open",
                                           "rate_limited", "not_eligible", "sold_out", "closed",
                                           "not_found",    "error"};
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        reply_unavailable(a, req, ROUTE_HEALTH, "out of memory");
        return;
    }
    evbuffer_add_printf(b, "# HELP giftdrop_http_responses_total HTTP responses by route and "
                           "status class.\n# TYPE giftdrop_http_responses_total counter\n");
    for (int r = 0; r < ROUTE_N; r++)
        for (int c = 1; c <= 5; c++)
            evbuffer_add_printf(
                b, "giftdrop_http_responses_total{route=\"%s\",class=\"%dxx\"} %" PRIu64 "\n",
                routes[r], c, a->m.responses[r][c]);
    evbuffer_add_printf(b, "# HELP giftdrop_gate_outcomes_total Gate script outcomes.\n"
                           "# TYPE giftdrop_gate_outcomes_total counter\n");
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
        evbuffer_add_printf(b, "giftdrop_gate_outcomes_total{outcome=\"%s\"} %" PRIu64 "\n",
                            outcomes[i], a->m.gate_outcomes[i]);
    evbuffer_add_printf(b,
                        "# HELP giftdrop_publish_confirm_seconds Time from publish to confirm.\n"
                        "# TYPE giftdrop_publish_confirm_seconds summary\n"
                        "giftdrop_publish_confirm_seconds_sum %.6f\n"
                        "giftdrop_publish_confirm_seconds_count %" PRIu64 "\n"
                        "# HELP giftdrop_publish_in_flight Publishes awaiting a confirm.\n"
                        "# TYPE giftdrop_publish_in_flight gauge\n"
                        "giftdrop_publish_in_flight %ld\n"
                        "# HELP giftdrop_ready 1 when broker and Redis are usable.\n"
                        "# TYPE giftdrop_ready gauge\ngiftdrop_ready %d\n",
                        a->m.confirm_seconds_sum, a->m.confirm_count, pub_in_flight(a->pub),
                        gate_ready(a->gate) && pub_ready(a->pub));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
    count(a, ROUTE_HEALTH, 200);
}

void routes_dispatch(struct evhttp_request *req, void *arg)
{
    struct app *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const char *rest;
    long long event_id;

    if (!path) {
        reply_problem(a, req, ROUTE_OTHER, PB_NOT_FOUND, NULL, NULL);
        return;
    }
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
        strcmp(path, "/metrics") == 0) {
        if (m != EVHTTP_REQ_GET) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
            reply_problem(a, req, ROUTE_HEALTH, PB_METHOD_NOT_ALLOWED, NULL, NULL);
        } else if (path[1] == 'm') {
            get_metrics(a, req);
        } else if (path[1] == 'h') {
            reply(a, req, ROUTE_HEALTH, 200, "application/json", "{\"status\":\"ok\"}");
        } else if (gate_ready(a->gate) && pub_ready(a->pub)) {
            reply(a, req, ROUTE_HEALTH, 200, "application/json", "{\"status\":\"ready\"}");
        } else {
            char body[128];
            snprintf(body, sizeof(body), "{\"status\":\"not_ready\",\"redis\":%s,\"broker\":%s}",
                     gate_ready(a->gate) ? "true" : "false", pub_ready(a->pub) ? "true" : "false");
            reply(a, req, ROUTE_HEALTH, 503, "application/json", body);
        }
        return;
    }
    if (strncmp(path, "/v1/events/", 11) != 0 || parse_event_path(path, &event_id, &rest) != 0) {
        reply_problem(a, req, ROUTE_OTHER, PB_NOT_FOUND, NULL, NULL);
        return;
    }
    const char *allow = NULL;
    if (rest[0] == '\0') {
        if (m == EVHTTP_REQ_GET)
            return get_event(a, req, event_id);
        allow = "GET";
    } else if (strcmp(rest, "/entries") == 0) {
        if (m == EVHTTP_REQ_POST)
            return post_entry(a, req, event_id);
        allow = "POST";
    } else if (strcmp(rest, "/entries/me") == 0) {
        if (m == EVHTTP_REQ_GET)
            return get_entry_me(a, req, event_id);
        allow = "GET";
    }
    if (!allow) {
        reply_problem(a, req, ROUTE_OTHER, PB_NOT_FOUND, NULL, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    reply_problem(a, req, ROUTE_OTHER, PB_METHOD_NOT_ALLOWED, NULL, NULL);
}
