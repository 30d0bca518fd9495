/*
 * http.c - libcurl multi on libevent (see http.h).  The standard socket-
 * action wiring: curl's socket callback adds/changes/removes one event per
 * socket, its timer callback arms one evtimer; both events call
 * curl_multi_socket_action() and then collect finished transfers.
 */
#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "errors.h"

#define RESP_MAX (256 * 1024) /* provider answers are small: cap what we keep */

struct http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    X509_STORE *trust; /* the CAs, loaded once and shared by every TLS connection */
    int in_flight;
    struct http_req *head; /* in flight, for http_client_free */
};

/* One watched socket. */
struct sock {
    struct http_client *c;
    curl_socket_t fd;
    struct event *ev;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct http_req *http_req_new(void)
{
    struct http_req *r = calloc(1, sizeof(*r));
    if (r)
        r->retry_after_s = -1;
    return r;
}

void http_req_free(struct http_req *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r->resp);
    free(r);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct http_req *r = arg;
    size_t len = size * n, take = len;
    if (r->resp_len + take > RESP_MAX)
        take = RESP_MAX - r->resp_len;
    if (r->resp_len + take + 1 > r->resp_cap) {
        size_t cap = r->resp_cap ? r->resp_cap * 2 : 1024;
        while (cap < r->resp_len + take + 1)
            cap *= 2;
        char *p = realloc(r->resp, cap);
        if (!p)
            return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
        r->resp = p;
        r->resp_cap = cap;
    }
    memcpy(r->resp + r->resp_len, data, take);
    r->resp_len += take;
    r->resp[r->resp_len] = '\0';
    return len;
}

/* Retry-After (delta-seconds only; an HTTP-date is ignored) and Idempotent-Replay. */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct http_req *r = arg;
    size_t len = size * n;
    char line[128];
    if (len >= sizeof(line))
        return len;
    memcpy(line, data, len);
    line[len] = '\0';
    if (strncasecmp(line, "Retry-After:", 12) == 0) {
        char *end;
        long v = strtol(line + 12, &end, 10);
        if (end != line + 12 && v >= 0 && v <= 86400)
            r->retry_after_s = v;
    } else if (strncasecmp(line, "Idempotent-Replay:", 18) == 0) {
        r->replay = strstr(line + 18, "true") != NULL;
    } else if (strncmp(line, "HTTP/", 5) == 0) {
        r->retry_after_s = -1; /* a new response (after a 100 Continue) */
        r->replay = 0;
    }
    return len;
}

static int add_header(struct http_req *r, const char *name, const char *value)
{
    char h[400];
    snprintf(h, sizeof(h), "%s: %s", name, value);
    struct curl_slist *l = curl_slist_append(r->headers, h);
    if (!l)
        return GD_ENOMEM;
    r->headers = l;
    return GD_OK;
}

/* curl: a TLS connection's SSL_CTX is ready; give it the shared trust store. */
static CURLcode use_trust(CURL *e, void *ssl_ctx, void *arg)
{
    struct http_client *c = arg;
    SSL_CTX_set1_cert_store(ssl_ctx, c->trust); /* a reference of its own */
    return CURLE_OK;
}

static int setup(struct http_client *c, struct http_req *r)
{
    CURL *e = r->easy;
    int rc = add_header(r, "Content-Type", "application/json;charset=UTF-8");
    if (rc == GD_OK && r->secret)
        rc = add_header(r, "X-Secret-Key", r->secret);
    if (rc == GD_OK && r->idem_key[0])
        rc = add_header(r, "X-Idempotency-Key", r->idem_key);
    /* No "Expect: 100-continue" round trip for our small bodies. */
    if (rc == GD_OK)
        rc = add_header(r, "Expect", "");
    if (rc != GD_OK)
        return rc;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms < 2000 ? r->timeout_ms : 2000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    /* curl would parse the CA bundle again for every new connection (the
     * system's: 140 certificates, ~15 ms of this loop's time each); it
     * loads nothing and the shared store goes in instead.  Verification of
     * the peer and its name stays on. */
    curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, use_trust);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, c);
    if (r->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    }
    return GD_OK;
}

int http_start(struct http_client *c, struct http_req *r)
{
    r->easy = curl_easy_init();
    if (!r->easy)
        return GD_ENOMEM;
    r->err[0] = '\0';
    int rc = setup(c, r);
    if (rc != GD_OK)
        return rc;
    r->started_us = mono_us();
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK)
        return GD_EINVAL;
    c->in_flight++;
    r->prev = NULL;
    r->next = c->head;
    if (c->head)
        c->head->prev = r;
    c->head = r;
    return GD_OK;
}

int http_in_flight(const struct http_client *c)
{
    return c->in_flight;
}

/* Fill r's results from a finished transfer. */
static void finish(struct http_req *r, CURLcode cc)
{
    curl_off_t pretransfer = 0;
    r->latency_us = mono_us() - r->started_us;
    if (!r->resp) {
        r->resp = calloc(1, 1);
        r->resp_cap = r->resp ? 1 : 0;
    }
    if (cc == CURLE_OK) {
        r->transport_ok = 1;
        r->request_left = 1;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        return;
    }
    /* Nothing left our side before the transfer phase began (refused
     * connection, failed handshake): the server cannot have acted on it. */
    curl_easy_getinfo(r->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    r->request_left = pretransfer > 0;
    r->tls_failure = cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION ||
                     cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM;
    if (!r->err[0])
        snprintf(r->err, sizeof(r->err), "%s", curl_easy_strerror(cc));
}

static void unlink_req(struct http_client *c, struct http_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    c->in_flight--;
}

static void collect(struct http_client *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct http_req *r = NULL;
        CURL *e = m->easy_handle;
        CURLcode cc = m->data.result;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(c->multi, e);
        unlink_req(c, r);
        finish(r, cc);
        /* Free the handle before the callback: it may free r or start more. */
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
        r->done(r, r->arg);
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct sock *s = arg;
    struct http_client *c = s->c;
    int flags =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    collect(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct http_client *c = arg;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect(c);
}

/* curl: start, change or stop watching a socket. */
static int socket_cb(CURL *e, curl_socket_t fd, int action, void *cbp, void *sockp)
{
    struct http_client *c = cbp;
    struct sock *s = sockp;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            event_free(s->ev);
            free(s);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->c = c;
        s->fd = fd;
        curl_multi_assign(c->multi, fd, s);
    } else {
        event_free(s->ev);
    }
    short what = (short)(EV_PERSIST | ((action & CURL_POLL_IN) ? EV_READ : 0) |
                         ((action & CURL_POLL_OUT) ? EV_WRITE : 0));
    s->ev = event_new(c->base, fd, what, on_socket_event, s);
    if (!s->ev)
        return -1;
    event_add(s->ev, NULL);
    return 0;
}

/* curl: call me back in timeout_ms (-1: never). */
static int timer_cb(CURLM *m, long timeout_ms, void *arg)
{
    struct http_client *c = arg;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    return 0;
}

struct http_client *http_client_new(struct event_base *base, const char *ca_file, int max_conns)
{
    struct http_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->base = base;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer, c);
    c->trust = X509_STORE_new();
    /* The CA file when one is set (a test CA, a private PKI), else the
     * system's default locations (OpenSSL's hashed directory, read lazily). */
    int trusted = c->trust && (ca_file && ca_file[0] ? X509_STORE_load_file(c->trust, ca_file) == 1
                                                     : X509_STORE_set_default_paths(c->trust) == 1);
    if (!c->multi || !c->timer || !trusted) {
        http_client_free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* Keep as many idle connections as we may have requests in flight, so a
     * burst reuses them instead of reconnecting (and leaving TIME_WAITs). */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)max_conns);
    return c;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    if (c->multi) {
        /* Whatever is still in flight is dropped without callbacks; its
         * owners are being torn down too (the easy handle goes with them). */
        while (c->head) {
            struct http_req *r = c->head;
            curl_multi_remove_handle(c->multi, r->easy);
            unlink_req(c, r);
        }
        curl_multi_cleanup(c->multi);
    }
    if (c->timer)
        event_free(c->timer);
    X509_STORE_free(c->trust);
    free(c);
}
