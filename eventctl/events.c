/* eventctl verbs on one event: create, seed, arm, close, token. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "errors.h"
#include "jwt.h"
#include "messages.h"
#include "rmq.h"
#include "survey.h"
#include "timeutil.h"

int ctl_need_db(struct ctl *c)
{
    if (c->db.conn)
        return 0;
    if (db_connect(&c->db, c->cfg->database_url, "eventctl") != GD_OK) {
        fprintf(stderr, "eventctl: PostgreSQL: %s\n", c->db.err);
        return 1;
    }
    return 0;
}

int ctl_need_redis(struct ctl *c)
{
    if (c->redis.ctx)
        return 0;
    if (rds_connect(&c->redis, c->cfg->redis_url, 5000) != GD_OK) {
        fprintf(stderr, "eventctl: Redis: %s\n", c->redis.err);
        return 1;
    }
    return 0;
}

void ctl_rmq_opts(const struct ctl *c, struct rmq_opts *o, const char *role)
{
    o->url = c->cfg->amqp_url;
    o->service = "eventctl";
    o->instance = c->cfg->instance;
    o->role = role;
    o->heartbeat_s = 0;
    o->timeout_ms = 5000;
}

long long ctl_event_id(const char *s)
{
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || *end || v < 1) {
        fprintf(stderr, "eventctl: \"%s\" is not an event id (a positive integer)\n", s ? s : "");
        return -1;
    }
    return v;
}

int ctl_long_arg(const char *name, const char *val, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = val ? strtol(val, &end, 10) : 0;
    if (!val || errno || *end || v < min || v > max) {
        fprintf(stderr, "eventctl: %s needs an integer in %ld..%ld\n", name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* Field checks for create; each prints what is wrong. */
static const char *req_str(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(it) && it->valuestring[0])
        return it->valuestring;
    fprintf(stderr, "eventctl create: \"%s\" must be a non-empty string\n", k);
    return NULL;
}

static int req_int(const cJSON *o, const char *k, long min, long *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(it) && it->valuedouble >= min && it->valuedouble <= 10000000 &&
        (double)(long)it->valuedouble == it->valuedouble) {
        *out = (long)it->valuedouble;
        return 0;
    }
    fprintf(stderr, "eventctl create: \"%s\" must be an integer >= %ld\n", k, min);
    return -1;
}

int verb_create(struct ctl *c, int argc, char **argv)
{
    size_t len;
    char err[256], stock[24], safety[24];
    long stock_total = 0, safety_stock = 0;
    int64_t opens_ms, closes_ms;
    struct survey *sv = NULL;
    int rc = 1;

    if (argc != 1) {
        fprintf(stderr, "usage: eventctl create FILE.json\n");
        return 2;
    }
    char *text = read_file(argv[0], &len);
    if (!text) {
        fprintf(stderr, "eventctl create: cannot read %s\n", argv[0]);
        return 1;
    }
    cJSON *o = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(o)) {
        fprintf(stderr, "eventctl create: %s is not a JSON object\n", argv[0]);
        goto out;
    }
    const char *title = req_str(o, "title"), *product = req_str(o, "product_id");
    const char *opens = req_str(o, "opens_at"), *closes = req_str(o, "closes_at");
    if (!title || !product || !opens || !closes || req_int(o, "stock_total", 1, &stock_total) ||
        req_int(o, "safety_stock", 0, &safety_stock))
        goto out;
    if (time_parse_rfc3339(opens, &opens_ms) || time_parse_rfc3339(closes, &closes_ms) ||
        closes_ms <= opens_ms) {
        fprintf(stderr, "eventctl create: opens_at/closes_at must be RFC 3339 times with "
                        "closes_at after opens_at\n");
        goto out;
    }
    if (safety_stock >= stock_total) {
        fprintf(stderr, "eventctl create: safety_stock must be below stock_total\n");
        goto out;
    }
    char *survey = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o, "survey"));
    if (!survey || survey_parse(survey, strlen(survey), &sv, err, sizeof(err)) != GD_OK) {
        fprintf(stderr, "eventctl create: survey: %s\n", survey ? err : "missing");
        free(survey);
        goto out;
    }
    if (ctl_need_db(c)) {
        free(survey);
        goto out;
    }
    snprintf(stock, sizeof(stock), "%ld", stock_total);
    snprintf(safety, sizeof(safety), "%ld", safety_stock);
    const char *p[] = {title, product, opens, closes, stock, safety, survey};
    PGresult *res = NULL;
    if (db_query(&c->db,
                 "INSERT INTO events (title, product_id, opens_at, closes_at, stock_total,"
                 " safety_stock, survey) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING event_id",
                 7, p, &res) != GD_OK) {
        fprintf(stderr, "eventctl create: %s\n", c->db.err);
    } else {
        printf("%s\n", PQgetvalue(res, 0, 0));
        PQclear(res);
        rc = 0;
    }
    free(survey);
out:
    survey_free(sv);
    cJSON_Delete(o);
    free(text);
    return rc;
}

int verb_seed(struct ctl *c, int argc, char **argv)
{
    long members = 0, first = 1, kakao = 50;
    const char *prefix = "m-";
    long long ev = argc > 0 ? ctl_event_id(argv[0]) : -1;
    if (ev < 0)
        return 2;
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--members") == 0 &&
            !ctl_long_arg("--members", v, 1, 10000000, &members))
            continue;
        if (strcmp(argv[i], "--first") == 0 && !ctl_long_arg("--first", v, 1, 1000000000, &first))
            continue;
        if (strcmp(argv[i], "--kakao-percent") == 0 &&
            !ctl_long_arg("--kakao-percent", v, 0, 100, &kakao))
            continue;
        if (strcmp(argv[i], "--prefix") == 0 && v) {
            prefix = v;
            continue;
        }
        fprintf(stderr, "usage: eventctl seed EVENT --members N [--first K] [--prefix P]"
                        " [--kakao-percent P]\n");
        return 2;
    }
    char probe[80];
    snprintf(probe, sizeof(probe), "%s%ld", prefix, first + members - 1);
    if (members < 1 || !member_id_valid(probe)) {
        fprintf(stderr, "eventctl seed: --members is required and ids must be [A-Za-z0-9_.-]\n");
        return 2;
    }
    if (ctl_need_db(c))
        return 1;
    char evs[24], n[24], f[24], k[24];
    snprintf(evs, sizeof(evs), "%lld", ev);
    snprintf(n, sizeof(n), "%ld", members);
    snprintf(f, sizeof(f), "%ld", first);
    snprintf(k, sizeof(k), "%ld", kakao);
    const char *pm[] = {n, f, prefix, k}, *pp[] = {evs, n, f, prefix}, *pc[] = {evs};
    /* Phones +8210xxxxxxxx; every 100th member (k%100 < P) opted in to KakaoTalk. */
    int rc = db_begin(&c->db);
    if (rc == GD_OK)
        rc = db_query(&c->db,
                      "INSERT INTO members (member_id, phone, kakao_opt_in)"
                      " SELECT $3 || i, '+8210' || lpad((i % 100000000)::text, 8, '0'),"
                      " (i % 100) < $4::int FROM generate_series($2::bigint, $2::bigint + $1 - 1) i"
                      " ON CONFLICT DO NOTHING",
                      4, pm, NULL);
    if (rc == GD_OK)
        rc = db_query(&c->db,
                      "INSERT INTO purchases (member_id, product_id, purchased_at)"
                      " SELECT $4 || i, e.product_id, e.opens_at - interval '7 days'"
                      " FROM events e, generate_series($3::bigint, $3::bigint + $2 - 1) i"
                      " WHERE e.event_id = $1 ON CONFLICT DO NOTHING",
                      4, pp, NULL);
    /* Exactly stock_total codes, the first safety_stock of them held back. */
    if (rc == GD_OK)
        rc = db_query(&c->db,
                      "INSERT INTO coupons (event_id, code, safety)"
                      " SELECT e.event_id, 'GC' || e.event_id || '-' ||"
                      " upper(substr(md5(e.event_id || ':' || i || ':' || random()), 1, 12)),"
                      " i <= e.safety_stock FROM events e, generate_series(1, e.stock_total) i"
                      " WHERE e.event_id = $1 AND NOT EXISTS"
                      " (SELECT 1 FROM coupons WHERE event_id = $1)",
                      1, pc, NULL);
    if (rc == GD_OK)
        rc = db_commit(&c->db);
    if (rc != GD_OK) {
        fprintf(stderr, "eventctl seed: %s\n", c->db.err);
        db_rollback(&c->db);
        return 1;
    }
    printf("seeded event %lld: members %s%ld..%s%ld, purchases, coupon pool\n", ev, prefix, first,
           prefix, first + members - 1);
    return 0;
}

int verb_token(struct ctl *c, int argc, char **argv)
{
    long ttl = 3600;
    char tok[JWT_MAX_TOKEN];
    if (argc != 1 && !(argc == 3 && strcmp(argv[1], "--ttl") == 0)) {
        fprintf(stderr, "usage: eventctl token MEMBER [--ttl SECONDS]\n");
        return 2;
    }
    if (argc == 3 && ctl_long_arg("--ttl", argv[2], 1, 86400 * 30, &ttl))
        return 2;
    int64_t now = time_now_ms() / 1000;
    const char *iss = c->cfg->jwt_issuer[0] ? c->cfg->jwt_issuer : NULL;
    const char *aud = c->cfg->jwt_audience[0] ? c->cfg->jwt_audience : NULL;
    /* Signed with the primary key, under its kid when it has one. */
    struct jwt_keyset ks;
    char err[512];
    if (cfg_jwt_keys(c->cfg, &ks, err, sizeof(err)) != GD_OK) {
        fprintf(stderr, "eventctl token: %s\n", err);
        return 1;
    }
    int n = jwt_sign_hs256_kid(ks.keys[0].secret, ks.keys[0].len, ks.keys[0].kid, argv[0], now,
                               now + ttl, iss, aud, tok, sizeof(tok));
    jwt_keyset_clear(&ks);
    if (n < 0) {
        fprintf(stderr, "eventctl token: \"%s\" is not a member id ([A-Za-z0-9_.-], 1-64)\n",
                argv[0]);
        return 2;
    }
    printf("%s\n", tok);
    return 0;
}
