/*
 * http.h - many HTTP(S) requests in flight on one libevent loop, over
 * libcurl's multi interface (socket-action API: curl tells us which sockets
 * to watch and when to time out, libevent tells curl when they are ready).
 * Nothing here blocks the loop.
 *
 * Certificate verification stays on (libcurl's default): against ca_file
 * when one is given (a test CA, a private PKI), else against the system's
 * CAs.  Either is loaded once into one OpenSSL store that every TLS
 * connection shares.  Connections are kept alive and reused per endpoint
 * from curl's connection cache.
 *
 * Ownership: http_start() takes a request the caller filled and owns until
 * its done callback has returned; the callback runs on the loop thread,
 * exactly once, and may free the request (http_req_free) or start another.
 */
#ifndef GD_NOTIFIER_HTTP_H
#define GD_NOTIFIER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>

struct http_client;

struct http_req {
    /* filled by the caller */
    char url[512];
    const char *secret; /* X-Secret-Key; borrowed until done */
    char idem_key[160]; /* X-Idempotency-Key; "" = none */
    char *body;         /* owned; NULL = GET */
    long timeout_ms;    /* whole request */
    void (*done)(struct http_req *r, void *arg);
    void *arg;
    /* results, valid in done */
    int transport_ok;   /* a status line was read */
    int request_left;   /* bytes of the request may have reached the server */
    int tls_failure;    /* TLS handshake or certificate problem */
    long status;        /* HTTP status */
    long retry_after_s; /* Retry-After in seconds, -1 when absent */
    int replay;         /* Idempotent-Replay: true */
    char *resp;         /* NUL-terminated answer body (owned), "" when none */
    size_t resp_len;
    int64_t latency_us; /* start to done */
    char err[CURL_ERROR_SIZE + 32];
    /* private */
    CURL *easy;
    struct curl_slist *headers;
    size_t resp_cap;
    int64_t started_us;
    struct http_req *prev, *next; /* the client's in-flight list */
};

/* A client on base with at most max_conns cached connections; NULL when
 * out of memory or ca_file cannot be read as PEM certificates. */
struct http_client *http_client_new(struct event_base *base, const char *ca_file, int max_conns);
/* Cancels whatever is in flight (without callbacks; the requests stay their
 * owners' to free) and frees the client.  Before event_base_free(). */
void http_client_free(struct http_client *c);

/* A zeroed request (caller fills it); NULL when out of memory. */
struct http_req *http_req_new(void);
/* Frees a request that is not in flight. NULL is fine. */
void http_req_free(struct http_req *r);

/* Start r; its done callback follows (possibly before this returns, on an
 * immediate failure).  0, or GD_ENOMEM / GD_EINVAL without a callback. */
int http_start(struct http_client *c, struct http_req *r);

/* Requests in flight. */
int http_in_flight(const struct http_client *c);

#endif
