/*
 * job.c - one winner's delivery, from the broker to its ack, as a chain of
 * asynchronous steps on the loop.  All of a delivery's state is one struct
 * job, freed in exactly one place (job_end).
 *
 *   decode ──poison──> dead letter, ack
 *     │ (a twin of this winner under way here: park until it ends)
 *     ▼ no endpoint takes traffic now (breakers open): wait here, unacked
 *       (one winner per due probe goes ahead), then go on
 *   ledger BEGIN ──sent/failed already──> ack        ──busy elsewhere──> delay
 *     │ coupon from the pool (exhausted: failed, ack), attempt counted
 *     ├── RESOLVE: an earlier request may have delivered: ask that endpoint
 *     │            (idempotency lookup) before anything is sent again
 *     ▼
 *   ATTEMPT: select an endpoint, record it in the ledger, then send
 *     ├── sent ─────────────> FINISH sent, ack
 *     ├── not a KakaoTalk user (AlimTalk) ──> ATTEMPT again over SMS (once: own key)
 *     ├── "result unknown" ─> query by request id, then as above
 *     ├── refused for good ─> FINISH failed, dead letter with the reason, ack
 *     └── transient ───────> NOTE (endpoint kept if it may have delivered),
 *                            retry queue with x-attempt, ack;
 *                            after NOTIFY_MAX_ATTEMPTS: FINISH failed, dead letter
 *
 * Every ack follows the ledger commit and, when a message is republished,
 * the broker's confirm (DESIGN §2.5).  A broker or database failure on the
 * way hands the delivery back instead (it is redelivered, and the ledger
 * makes the second pass safe).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "errors.h"
#include "log.h"
#include "messages.h"
#include "notifier.h"
#include "provider.h"
#include "retry.h"
#include "timeutil.h"
#include "topology.h"

struct job;
typedef void (*job_step)(struct job *j);

struct job {
    struct notifier *nf;
    struct rmq_delivery d; /* owned: freed in job_end */
    uint64_t gen;          /* consumer generation of d */
    struct winner_msg w;
    struct ledger_op op; /* the one ledger op in flight */
    job_step after_op;   /* continues when op succeeded */
    struct backoff bo;   /* ledger and broker trouble */
    struct event *timer; /* backoff waits */
    job_step after_timer;
    struct http_req *req; /* the one provider request in flight */
    job_step after_http;
    job_step on_slot;           /* waiting for a request slot */
    job_step on_endpoint;       /* waiting for an endpoint (nf->blocked_head) */
    enum provider_api wait_api; /* ... of this API */
    struct job *blocked_next;
    int has_slot;
    enum provider_api api; /* the stage: AlimTalk, or SMS (own channel or fallback) */
    int ep_idx;            /* selected endpoint to report, -1 none */
    char ep_url[LEDGER_ENDPOINT_MAX];
    char coupon[128];
    int attempts;
    struct provider_result res;
    char reason[320];
    struct job *prev, *next; /* nf->active or nf->parked */
    struct job *wait_next;   /* nf->wait_head */
    int parked;
};

#define JLOG(j)                                                                                    \
    (&(struct log_ctx){.event_id = (j)->w.event_id,                                                \
                       .entry_id = (j)->w.entry_id[0] ? (j)->w.entry_id : (j)->d.message_id,       \
                       .member_id = (j)->w.member_id,                                              \
                       .traceparent = (j)->d.traceparent,                                          \
                       .phone = (j)->w.phone})

static void start(struct job *j);
static void attempt(struct job *j);
static void handle(struct job *j);
static void retry(struct job *j, int keep_endpoint);
static void finish(struct job *j, const char *status);

/* ---- lists --------------------------------------------------------------- */

static void list_add(struct job **head, struct job *j)
{
    j->prev = NULL;
    j->next = *head;
    if (*head)
        (*head)->prev = j;
    *head = j;
}

static void list_del(struct job **head, struct job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        *head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
}

static int same_winner(const struct job *a, const struct job *b)
{
    return a->w.event_id == b->w.event_id && strcmp(a->w.member_id, b->w.member_id) == 0;
}

static struct job *find_twin(struct job *head, const struct job *j)
{
    for (struct job *t = head; t; t = t->next)
        if (t != j && same_winner(t, j))
            return t;
    return NULL;
}

/* ---- the end ------------------------------------------------------------- */

static void job_free(struct job *j)
{
    if (j->timer)
        event_free(j->timer);
    http_req_free(j->req);
    rmq_delivery_free(&j->d);
    free(j);
}

static void activate(struct job *j);

/* The one place a job dies; its parked twin (if any) gets its turn. */
static void job_end(struct job *j)
{
    struct notifier *nf = j->nf;
    list_del(&nf->active, j);
    nf->n_active--;
    struct job *twin = find_twin(nf->parked, j);
    job_free(j);
    if (twin && !nf->stopping) {
        list_del(&nf->parked, twin);
        twin->parked = 0;
        activate(twin);
    }
}

static void ack_end(struct job *j)
{
    consumer_ack(&j->nf->in, j->gen, j->d.tag); /* a dead connection requeued it already */
    job_end(j);
}

/* Hand the delivery back to the broker now (it will be redelivered). */
static void requeue_end(struct job *j)
{
    j->nf->st.released++;
    consumer_reject(&j->nf->in, j->gen, j->d.tag, 1);
    job_end(j);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct job *j = arg;
    j->after_timer(j);
}

/* Continue with step after a backoff delay (broker or database trouble). */
static void later(struct job *j, job_step step)
{
    if (!j->timer)
        j->timer = evtimer_new(j->nf->base, on_timer, j);
    if (!j->timer) {
        requeue_end(j);
        return;
    }
    int ms = backoff_next_ms(&j->bo);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    j->after_timer = step;
    evtimer_add(j->timer, &tv);
}

/* ---- broker -------------------------------------------------------------- */

static void on_republished(void *arg, int ok)
{
    struct job *j = arg;
    if (ok) {
        ack_end(j);
        return;
    }
    log_warn(JLOG(j), "republish not confirmed: handing the delivery back");
    later(j, requeue_end);
}

/* Publish the winner to exchange/rk (confirmed), then ack. */
static void republish_then_ack(struct job *j, const char *exchange, const char *rk,
                               const char *type, long attempt, const char *reason)
{
    struct rmq_props p = {j->w.entry_id[0] ? j->w.entry_id : j->d.message_id,
                          type,
                          "notifier-consumer",
                          time_now_ms() / 1000,
                          j->w.event_id ? j->w.event_id : j->d.event_id,
                          j->d.traceparent[0] ? j->d.traceparent : NULL,
                          reason && reason[0] ? reason : NULL};
    int rc =
        republish(&j->nf->out, exchange, rk, &p, attempt, j->d.body, j->d.len, on_republished, j);
    if (rc != GD_OK) {
        log_warn(JLOG(j), "cannot republish to %s: %s", exchange, err_str(rc));
        later(j, requeue_end);
    }
}

static void dead_letter(struct job *j, const char *reason)
{
    republish_then_ack(j, EX_DLX, DLK_NOTIFY, "dead-letter", 0, reason);
}

/* Not now, and no attempt spent: back through the shortest retry queue. */
static int delivery_stale(const struct job *j);

static void delay(struct job *j, const char *why)
{
    if (delivery_stale(j)) {
        job_end(j);
        return;
    }
    j->nf->st.delayed++;
    log_info(JLOG(j), "delayed: %s", why);
    republish_then_ack(j, topo_retry_tiers[0].name, j->d.routing_key, MSG_TYPE_WINNER, j->d.attempt,
                       why);
}

/* ---- ledger -------------------------------------------------------------- */

static void dead_letter_poison(struct job *j)
{
    dead_letter(j, j->reason);
}

static void submit(struct job *j)
{
    ledger_pool_submit(j->nf->ledger, &j->op);
}

static void ledger(struct job *j, enum ledger_kind kind, job_step next)
{
    memset(&j->op, 0, sizeof(j->op));
    j->op.kind = kind;
    j->op.w = &j->w;
    j->after_op = next;
}

void job_on_ledger(struct ledger_op *op, void *arg)
{
    struct job *j = (struct job *)(void *)((char *)op - offsetof(struct job, op));
    if (op->rc == GD_OK) {
        backoff_reset(&j->bo);
        j->after_op(j);
        return;
    }
    if (op->permanent && op->kind == LEDGER_OP_BEGIN) {
        /* Data PostgreSQL refuses every time (an unknown event): poison.
         * Give up the lease BEGIN may have taken, then dead-letter it. */
        snprintf(j->reason, sizeof(j->reason), "ledger refused the winner: %s", op->err);
        log_error(JLOG(j), "%s", j->reason);
        j->nf->st.poison++;
        ledger(j, LEDGER_OP_RELEASE, dead_letter_poison);
        submit(j);
        return;
    }
    log_warn(JLOG(j), "ledger unavailable: %s", op->err);
    if (j->nf->stopping) {
        requeue_end(j);
        return;
    }
    later(j, submit); /* the same op again */
}

/* ---- provider requests --------------------------------------------------- */

static void grant_slot(evutil_socket_t fd, short what, void *arg)
{
    struct job *j = arg;
    j->on_slot(j);
}

/* Run step with one of the NOTIFY_CONCURRENCY request slots. */
static void with_slot(struct job *j, job_step step)
{
    struct notifier *nf = j->nf;
    if (nf->http_busy < nf->cfg->notify_concurrency) {
        nf->http_busy++;
        j->has_slot = 1;
        step(j);
        return;
    }
    j->on_slot = step;
    j->wait_next = NULL;
    if (nf->wait_tail)
        nf->wait_tail->wait_next = j;
    else
        nf->wait_head = j;
    nf->wait_tail = j;
}

static void release_slot(struct job *j)
{
    struct notifier *nf = j->nf;
    if (!j->has_slot)
        return;
    j->has_slot = 0;
    struct job *next = nf->wait_head;
    if (!next) {
        nf->http_busy--;
        return;
    }
    nf->wait_head = next->wait_next;
    if (!nf->wait_head)
        nf->wait_tail = NULL;
    next->has_slot = 1; /* the slot passes on; it runs from the loop, not from here */
    if (event_base_once(nf->base, -1, EV_TIMEOUT, grant_slot, next, &(struct timeval){0, 0}) != 0)
        grant_slot(-1, 0, next);
}

static void on_http(struct http_req *r, void *arg)
{
    struct job *j = arg;
    j->after_http(j); /* which takes the request over (take_req) */
}

/* The finished request, now the caller's; j->req is clear again. */
static struct http_req *take_req(struct job *j)
{
    struct http_req *r = j->req;
    j->req = NULL;
    return r;
}

static void to_provider_http(const struct http_req *r, struct provider_http *h)
{
    h->transport_ok = r->transport_ok;
    h->request_left = r->request_left;
    h->status = r->status;
    h->retry_after_s = r->retry_after_s;
    h->replay = r->replay;
    h->body = r->resp ? r->resp : "";
    h->err = r->err;
    h->tls_failure = r->tls_failure;
}

/* Start a request (body NULL: GET); next runs when it is over. */
static void request(struct job *j, const char *url, char *body, const char *key, job_step next)
{
    struct http_req *r = http_req_new();
    if (!r) {
        free(body);
        release_slot(j);
        later(j, requeue_end);
        return;
    }
    snprintf(r->url, sizeof(r->url), "%s", url);
    snprintf(r->idem_key, sizeof(r->idem_key), "%s", key ? key : "");
    r->secret = j->nf->cfg->provider_secret;
    r->body = body;
    r->timeout_ms = j->nf->cfg->provider_timeout_ms;
    r->done = on_http;
    r->arg = j;
    j->req = r;
    j->after_http = next;
    if (http_start(j->nf->http, r) != GD_OK) { /* as if the request failed at once */
        snprintf(r->err, sizeof(r->err), "cannot start the request");
        on_http(r, j);
    }
}

/* ---- resolve: did an earlier request deliver? ----------------------------- */

static void after_lookup(struct job *j)
{
    struct provider_http h;
    struct http_req *r = take_req(j);
    to_provider_http(r, &h);
    provider_classify_lookup(j->api, &h, &j->res);
    http_req_free(r);
    release_slot(j);
    j->nf->st.resolved++;
    log_info(JLOG(j), "resolved earlier %s request at %s: %s", provider_api_name(j->api), j->ep_url,
             provider_outcome_name(j->res.outcome));
    handle(j);
}

static void do_lookup(struct job *j)
{
    char key[PROVIDER_IDEMPOTENCY_MAX + 1], url[512];
    if (provider_key(j->api, &j->w, key, sizeof(key)) != GD_OK ||
        provider_lookup_url(j->ep_url, key, url, sizeof(url)) != GD_OK) {
        release_slot(j);
        j->res.outcome = OUT_RETRY_UNKNOWN;
        snprintf(j->res.error, sizeof(j->res.error), "cannot build the lookup URL");
        retry(j, 1);
        return;
    }
    request(j, url, NULL, NULL, after_lookup);
}

/* prev is "<api> <url>" as ledger_attempt wrote it. */
static int parse_endpoint(struct job *j, const char *prev)
{
    const char *sp = strchr(prev, ' ');
    if (!sp || (size_t)(sp - prev) > 8)
        return GD_EINVAL;
    if (strncmp(prev, "alimtalk ", 9) == 0)
        j->api = API_ALIMTALK;
    else if (strncmp(prev, "sms ", 4) == 0)
        j->api = API_SMS;
    else
        return GD_EINVAL;
    snprintf(j->ep_url, sizeof(j->ep_url), "%s", sp + 1);
    return GD_OK;
}

/* ---- waiting for an endpoint ---------------------------------------------- */

/*
 * Every endpoint of api is open: hold the winner here (its delivery stays
 * unacked, so the prefetch window stops the flow from the broker) and run
 * step when one can take traffic.  Cycling it through a retry queue instead
 * would cost a broker round trip per winner per second for nothing.
 */
static void wait_endpoint(struct job *j, enum provider_api api, job_step step)
{
    struct notifier *nf = j->nf;
    if (!nf->blocked_head)
        log_warn(NULL, "no %s endpoint takes traffic (breakers open): holding winners",
                 provider_api_name(api));
    nf->st.held++;
    j->wait_api = api;
    j->on_endpoint = step;
    j->blocked_next = NULL;
    if (nf->blocked_tail)
        nf->blocked_tail->blocked_next = j;
    else
        nf->blocked_head = j;
    nf->blocked_tail = j;
    nf->n_blocked++;
}

void job_check_blocked(struct notifier *nf)
{
    if (!nf->blocked_head)
        return;
    enum endpoint_avail av[2] = {endpoints_available(&nf->eps, API_ALIMTALK),
                                 endpoints_available(&nf->eps, API_SMS)};
    int probes[2] = {0, 0};
    struct job *j = nf->blocked_head;
    nf->blocked_head = nf->blocked_tail = NULL;
    nf->n_blocked = 0;
    while (j) { /* in arrival order; a job may block again (re-queued at the tail) */
        struct job *next = j->blocked_next;
        enum provider_api api = j->wait_api;
        if (av[api] == EP_OPEN || (av[api] == EP_PROBE && probes[api]++ == 0)) {
            j->on_endpoint(j);
        } else {
            j->blocked_next = NULL;
            if (nf->blocked_tail)
                nf->blocked_tail->blocked_next = j;
            else
                nf->blocked_head = j;
            nf->blocked_tail = j;
            nf->n_blocked++;
        }
        j = next;
    }
    if (!nf->blocked_head)
        log_info(NULL, "endpoints take traffic again: winners released");
}

void job_release_blocked(struct notifier *nf)
{
    /* Unacked: they return to the queue when the connection closes; a
     * lease taken meanwhile goes when the ledger connections close. */
    struct job *j = nf->blocked_head;
    nf->blocked_head = nf->blocked_tail = NULL;
    nf->n_blocked = 0;
    while (j) {
        struct job *next = j->blocked_next;
        nf->st.released++;
        job_end(j);
        j = next;
    }
}

/* ---- send ---------------------------------------------------------------- */

static void after_query(struct job *j)
{
    struct provider_http h;
    struct http_req *r = take_req(j);
    char request_id[96];
    snprintf(request_id, sizeof(request_id), "%s", j->res.request_id);
    to_provider_http(r, &h);
    provider_classify_query(j->api, &h, &j->res);
    http_req_free(r);
    release_slot(j);
    if (!j->res.request_id[0])
        snprintf(j->res.request_id, sizeof(j->res.request_id), "%s", request_id);
    log_info(JLOG(j), "queried uncertain %s request %s: %s", provider_api_name(j->api), request_id,
             provider_outcome_name(j->res.outcome));
    handle(j);
}

static void do_query(struct job *j)
{
    char url[512];
    if (provider_query_url(j->api, j->ep_url, j->nf->cfg->provider_appkey, j->res.request_id, url,
                           sizeof(url)) != GD_OK) {
        release_slot(j);
        j->res.outcome = OUT_RETRY_UNKNOWN;
        snprintf(j->res.error, sizeof(j->res.error), "unusable request id in an uncertain answer");
        retry(j, 1);
        return;
    }
    request(j, url, NULL, NULL, after_query);
}

static void after_send(struct job *j)
{
    struct provider_http h;
    struct http_req *r = take_req(j);
    to_provider_http(r, &h);
    provider_classify_send(j->api, &h, &j->res);
    endpoints_report(&j->nf->eps, j->api, j->ep_idx, j->res.endpoint_ok, r->latency_us);
    notify_metrics_send(&j->nf->met, j->api, j->ep_idx, j->res.outcome, r->latency_us);
    http_req_free(r);
    j->ep_idx = -1;
    release_slot(j);
    if (j->res.outcome != OUT_SENT)
        log_info(JLOG(j), "%s send via %s: %s (%s)", provider_api_name(j->api), j->ep_url,
                 provider_outcome_name(j->res.outcome), j->res.error);
    handle(j);
}

/* The ledger knows where this request goes: send it. */
static void do_send(struct job *j)
{
    char key[PROVIDER_IDEMPOTENCY_MAX + 1], url[512];
    char *body = provider_send_body(j->api, j->nf->cfg, &j->w, j->coupon);
    if (!body || provider_key(j->api, &j->w, key, sizeof(key)) != GD_OK ||
        provider_send_url(j->api, j->ep_url, j->nf->cfg->provider_appkey, url, sizeof(url)) !=
            GD_OK) {
        free(body);
        /* Nothing went out: tell the balancer nothing about the endpoint. */
        endpoints_report(&j->nf->eps, j->api, j->ep_idx, true, -1);
        j->ep_idx = -1;
        release_slot(j);
        j->res.outcome = OUT_RETRY_CLEAN;
        snprintf(j->res.error, sizeof(j->res.error), "cannot build the request (out of memory?)");
        retry(j, 1);
        return;
    }
    request(j, url, body, key, after_send);
}

static void do_select(struct job *j)
{
    int idx = endpoints_select(&j->nf->eps, j->api, j->w.member_id);
    if (idx < 0) { /* another winner took the probe: wait for its verdict */
        release_slot(j);
        wait_endpoint(j, j->api, attempt);
        return;
    }
    j->ep_idx = idx;
    snprintf(j->ep_url, sizeof(j->ep_url), "%s", endpoints_url(&j->nf->eps, j->api, idx));
    ledger(j, LEDGER_OP_ATTEMPT, do_send);
    snprintf(j->op.endpoint, sizeof(j->op.endpoint), "%s %s", provider_api_name(j->api), j->ep_url);
    submit(j);
}

/* A new request in the current stage: slot, endpoint, ledger, send. */
static void attempt(struct job *j)
{
    with_slot(j, do_select);
}

/* ---- outcomes ------------------------------------------------------------ */

static void handle(struct job *j)
{
    switch (j->res.outcome) {
    case OUT_SENT:
        finish(j, "sent");
        return;
    case OUT_NOT_KAKAO:
        j->nf->st.fallbacks++;
        log_info(JLOG(j), "not a KakaoTalk user: falling back to SMS");
        j->api = API_SMS;
        attempt(j);
        return;
    case OUT_PERMANENT:
        finish(j, "failed");
        return;
    case OUT_UNCERTAIN:
        j->nf->st.uncertain++;
        with_slot(j, do_query);
        return;
    case OUT_NOT_FOUND: /* the earlier request never landed: send in this stage */
        attempt(j);
        return;
    case OUT_RETRY_CLEAN:
        retry(j, 0);
        return;
    case OUT_RETRY_UNKNOWN:
    default:
        retry(j, 1);
        return;
    }
}

static void after_finish(struct job *j)
{
    if (strcmp(j->op.status, "sent") == 0) {
        j->nf->st.sent++;
        log_debug(&(struct log_ctx){.event_id = j->w.event_id,
                                    .entry_id = j->w.entry_id,
                                    .phone = j->w.phone,
                                    .coupon = j->coupon},
                  "coupon sent by %s%s", provider_api_name(j->api),
                  j->res.duplicate ? " (provider replay)" : "");
        ack_end(j);
        return;
    }
    j->nf->st.failed++;
    log_error(JLOG(j), "notification failed for good: %s", j->reason);
    dead_letter(j, j->reason);
}

static void finish(struct job *j, const char *status)
{
    if (strcmp(status, "failed") == 0 && !j->reason[0])
        snprintf(j->reason, sizeof(j->reason), "%s", j->res.error);
    ledger(j, LEDGER_OP_FINISH, after_finish);
    j->op.status = status;
    if (j->ep_url[0])
        snprintf(j->op.endpoint, sizeof(j->op.endpoint), "%s %s", provider_api_name(j->api),
                 j->ep_url);
    snprintf(j->op.provider_id, sizeof(j->op.provider_id), "%s", j->res.request_id);
    snprintf(j->op.error, sizeof(j->op.error), "%s", status[0] == 'f' ? j->reason : "");
    submit(j);
}

/* The consuming connection this delivery came on is gone: the broker has
 * requeued it already, so a retry copy would only be a second one. */
static int delivery_stale(const struct job *j)
{
    return j->gen != j->nf->in.gen || !j->nf->in.conn.open;
}

static void after_note(struct job *j)
{
    if (delivery_stale(j)) {
        job_end(j);
        return;
    }
    j->nf->st.retried++;
    republish_then_ack(j, retry_tier(&j->nf->retry, j->attempts, j->res.retry_after_s),
                       j->d.routing_key, MSG_TYPE_WINNER, j->attempts, j->res.error);
}

/* A transient failure: note it (keeping the endpoint when the request may
 * have delivered) and go round a retry queue - unless attempts are spent. */
static void retry(struct job *j, int keep_endpoint)
{
    if (j->attempts >= j->nf->cfg->notify_max_attempts) {
        snprintf(j->reason, sizeof(j->reason), "gave up after %d attempts: %s", j->attempts,
                 j->res.error);
        finish(j, "failed");
        return;
    }
    ledger(j, LEDGER_OP_NOTE, after_note);
    j->op.keep_endpoint = keep_endpoint;
    snprintf(j->op.error, sizeof(j->op.error), "%s", j->res.error);
    submit(j);
}

/* ---- the beginning ------------------------------------------------------- */

static enum provider_api primary_api(const struct job *j)
{
    return strcmp(j->w.channel, "kakao") == 0 ? API_ALIMTALK : API_SMS;
}

static void after_begin(struct job *j)
{
    struct notifier *nf = j->nf;
    switch (j->op.state) {
    case LEDGER_BUSY:
        nf->st.busy++;
        delay(j, "another notifier is working on this winner");
        return;
    case LEDGER_DONE_SENT:
    case LEDGER_DONE_FAILED:
        nf->st.duplicates++;
        log_info(JLOG(j), "already %s: acked without a send",
                 j->op.state == LEDGER_DONE_SENT ? "sent" : "failed");
        ack_end(j);
        return;
    case LEDGER_NO_COUPON:
        nf->st.no_coupon++;
        nf->st.failed++;
        log_error(JLOG(j), "coupon pool exhausted for event %lld: winner marked failed",
                  j->w.event_id);
        ack_end(j);
        return;
    default:
        break;
    }
    snprintf(j->coupon, sizeof(j->coupon), "%s", j->op.coupon);
    j->attempts = j->op.attempts;
    j->api = primary_api(j);
    if (j->op.state == LEDGER_RESOLVE && parse_endpoint(j, j->op.prev_endpoint) == GD_OK) {
        with_slot(j, do_lookup);
        return;
    }
    attempt(j);
}

static void begin(struct job *j)
{
    ledger(j, LEDGER_OP_BEGIN, after_begin);
    submit(j);
}

static void start(struct job *j)
{
    j->nf->st.started++;
    if (endpoints_available(&j->nf->eps, primary_api(j)) != EP_OPEN) {
        wait_endpoint(j, primary_api(j), begin);
        return;
    }
    begin(j);
}

static void activate(struct job *j)
{
    list_add(&j->nf->active, j);
    j->nf->n_active++;
    start(j);
}

void job_on_delivery(struct rmq_delivery *d, uint64_t gen, void *arg)
{
    struct notifier *nf = arg;
    char why[200];
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        consumer_reject(&nf->in, gen, d->tag, 1);
        rmq_delivery_free(d);
        return;
    }
    j->nf = nf;
    j->d = *d; /* the envelope is the job's now */
    j->gen = gen;
    j->ep_idx = -1;
    backoff_init(&j->bo, 100, 5000);
    if (nf->stopping) {
        /* Neither acked nor rejected: a reject would bring it straight back
         * to us; unacked, it returns to the queue when we close (and the
         * prefetch window stops the flow meanwhile). */
        nf->st.released++;
        job_free(j);
        return;
    }
    list_add(&nf->active, j);
    nf->n_active++;
    if (winner_msg_decode(j->d.body, j->d.len, &j->w, why, sizeof(why)) != GD_OK) {
        nf->st.poison++;
        log_warn(JLOG(j), "poison winner: %s", why);
        dead_letter(j, why);
        return;
    }
    if (j->d.attempt > 0) /* back from a retry queue, x-attempt set by us */
        nf->st.returned++;
    /* One job per winner here: a twin (redelivery, republished duplicate)
     * waits, then finds the ledger row settled. */
    if (find_twin(nf->active, j)) {
        list_del(&nf->active, j);
        nf->n_active--;
        j->parked = 1;
        list_add(&nf->parked, j);
        return;
    }
    start(j);
}

void job_release_parked(struct notifier *nf)
{
    /* Left unacked: they return to the queue when the connection closes. */
    while (nf->parked) {
        struct job *j = nf->parked;
        list_del(&nf->parked, j);
        nf->st.released++;
        job_free(j);
    }
}

void job_free_all(struct notifier *nf)
{
    job_release_parked(nf);
    while (nf->active) {
        struct job *j = nf->active;
        list_del(&nf->active, j);
        job_free(j);
    }
    nf->n_active = 0;
    nf->wait_head = nf->wait_tail = NULL;
}
