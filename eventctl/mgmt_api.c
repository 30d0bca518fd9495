/* mgmt_api.c - a small libcurl client of the RabbitMQ management HTTP API. */
#include "mgmt_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#define MGMT_TIMEOUT_MS 5000L
#define MGMT_MAX_BODY   (4L << 20)

struct body {
    char *buf;
    size_t len;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
    struct body *b = arg;
    size_t n = sz * nm;
    if (b->len + n > (size_t)MGMT_MAX_BODY)
        return 0; /* aborts the transfer */
    char *nb = realloc(b->buf, b->len + n + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->len, p, n);
    b->buf = nb;
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

/*
 * Where and as whom: RABBITMQ_MGMT_* when set, else derived from AMQP_URL.
 * (These two variables are read here, not through config.c's table, which
 * eventctl's owner may take them into.)
 */
static void mgmt_endpoint(const struct gd_config *cfg, char *url, size_t url_cap, char *user,
                          size_t user_cap, char *pass, size_t pass_cap)
{
    struct amqp_connection_info ci;
    char *copy = strdup(cfg->amqp_url);
    const char *host = "127.0.0.1", *u = "guest", *p = "guest";
    amqp_default_connection_info(&ci);
    if (copy && amqp_parse_url(copy, &ci) == AMQP_STATUS_OK) {
        host = ci.host;
        u = ci.user;
        p = ci.password;
    }
    const char *eu = getenv("RABBITMQ_MGMT_URL"), *eus = getenv("RABBITMQ_MGMT_USER"),
               *ep = getenv("RABBITMQ_MGMT_PASSWORD");
    if (eu && eu[0])
        snprintf(url, url_cap, "%s", eu);
    else
        snprintf(url, url_cap, "http://%s:15672", host);
    snprintf(user, user_cap, "%s", eus && eus[0] ? eus : u);
    snprintf(pass, pass_cap, "%s", ep && ep[0] ? ep : p);
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    free(copy);
}

/* GET path; *out owned by the caller (cJSON_Delete). */
static int mgmt_get(const struct gd_config *cfg, const char *path, cJSON **out, char *err,
                    size_t err_len)
{
    char base[512], user[256], pass[256], url[1024];
    struct body b = {NULL, 0};
    long code = 0;
    int rc = -1;
    mgmt_endpoint(cfg, base, sizeof(base), user, sizeof(user), pass, sizeof(pass));
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_USERNAME, user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, pass);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, MGMT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (cc != CURLE_OK)
        snprintf(err, err_len, "management API %s: %s", base, curl_easy_strerror(cc));
    else if (code != 200)
        snprintf(err, err_len, "management API %s%s: HTTP %ld%s", base, path, code,
                 code == 401 ? " (check RABBITMQ_MGMT_USER/RABBITMQ_MGMT_PASSWORD)" : "");
    else if (!(*out = cJSON_ParseWithLength(b.buf ? b.buf : "", b.len)))
        snprintf(err, err_len, "management API %s%s: answer is not JSON", base, path);
    else
        rc = 0;
    curl_easy_cleanup(h);
    free(b.buf);
    return rc;
}

static long num(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? (long)it->valuedouble : 0;
}

int mgmt_queue_depths(const struct gd_config *cfg, struct mgmt_queue *q, size_t n, char *err,
                      size_t err_len)
{
    cJSON *all = NULL, *it;
    if (mgmt_get(cfg,
                 "/api/queues/%2F?columns=name,messages_ready,messages_unacknowledged,consumers",
                 &all, err, err_len) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        q[i].found = 0;
        cJSON_ArrayForEach(it, all)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
            if (!cJSON_IsString(name) || strcmp(name->valuestring, q[i].name) != 0)
                continue;
            q[i].ready = num(it, "messages_ready");
            q[i].unacked = num(it, "messages_unacknowledged");
            q[i].consumers = num(it, "consumers");
            q[i].found = 1;
        }
    }
    cJSON_Delete(all);
    return 0;
}
