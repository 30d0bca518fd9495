/*
 * coupons.c - eventctl verbs on an event's coupon pool: import-coupons (the
 * vendor's CSV of codes) and release-safety (hand held-back units to the
 * winners).  DESIGN §2.1: the pool in PostgreSQL is the final guard against
 * oversell, so both verbs keep it exact: stock_total codes at most, of which
 * the ones still held back are flagged `safety`.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"
#include "errors.h"

#define CODE_MAX      64      /* longest coupon code accepted */
#define LINE_MAX_LEN  1024    /* longest CSV line */
#define IMPORT_MAX    1000000 /* codes in one file */
#define CHUNK         5000    /* codes per INSERT inside the one transaction */
#define ERRORS_SHOWN  20      /* file errors listed before "... and N more" */
#define CSV_SAFETY_NO (-1)    /* no safety column: the first codes are held back */

struct code_row {
    char *code;
    int line;
    int safety; /* 0/1, or CSV_SAFETY_NO */
};

struct csv {
    struct code_row *rows;
    size_t n, cap;
    int has_safety_col;
    long errors;
};

static void csv_free(struct csv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->rows[i].code);
    free(v->rows);
    memset(v, 0, sizeof(*v));
}

/* Print one file error; only the first ERRORS_SHOWN are shown. */
static void csv_err(struct csv *v, const char *file, int line, const char *what, const char *val)
{
    if (v->errors++ < ERRORS_SHOWN)
        fprintf(stderr, "eventctl import-coupons: %s:%d: %s%s%.80s%s\n", file, line, what,
                val ? " \"" : "", val ? val : "", val ? "\"" : "");
}

/* Trim blanks and one pair of surrounding double quotes, in place. */
static char *field_clean(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* A code is 1..CODE_MAX of [A-Za-z0-9_.-]: what vendors print, nothing to escape. */
static const char *code_problem(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "blank code";
    if (n > CODE_MAX)
        return "code longer than 64 characters";
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return "code has a character outside [A-Za-z0-9_.-]";
    return NULL;
}

static int parse_bool(const char *s)
{
    static const char *const yes[] = {"1", "true", "yes", "y", "t"};
    static const char *const no[] = {"0", "false", "no", "n", "f"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* The header line "code" or "code,safety" (any case), if this is one. */
static int is_header(char *fields[], int nf, struct csv *v)
{
    if (strcasecmp(fields[0], "code") != 0)
        return 0;
    v->has_safety_col = nf == 2 && strcasecmp(fields[1], "safety") == 0;
    return 1;
}

static int csv_push(struct csv *v, const char *code, int line, int safety)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        struct code_row *r = realloc(v->rows, cap * sizeof(*r));
        if (!r)
            return GD_ENOMEM;
        v->rows = r;
        v->cap = cap;
    }
    char *dup = strdup(code);
    if (!dup)
        return GD_ENOMEM;
    v->rows[v->n++] = (struct code_row){dup, line, safety};
    return GD_OK;
}

/* One data line: split on ',' (codes never hold one), check, keep. */
static int csv_line(struct csv *v, const char *file, int line, char *text, int first)
{
    char *fields[3];
    int nf = 0;
    for (char *p = text; nf < 3;) {
        char *comma = strchr(p, ',');
        fields[nf++] = p;
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    for (int i = 0; i < nf; i++)
        fields[i] = field_clean(fields[i]);
    if (first && is_header(fields, nf, v)) {
        if (nf > 2 || (nf == 2 && !v->has_safety_col))
            csv_err(v, file, line, "header must be \"code\" or \"code,safety\"", NULL);
        return GD_OK;
    }
    int want = v->has_safety_col ? 2 : 1;
    if (nf != want) {
        csv_err(v, file, line,
                want == 1 ? "one code per line expected (add the header \"code,safety\" for a"
                            " safety column)"
                          : "two fields expected: code,safety",
                NULL);
        return GD_OK;
    }
    const char *why = code_problem(fields[0]);
    if (why) {
        csv_err(v, file, line, why, fields[0][0] ? fields[0] : NULL);
        return GD_OK;
    }
    int safety = CSV_SAFETY_NO;
    if (v->has_safety_col && (safety = parse_bool(fields[1])) < 0) {
        csv_err(v, file, line, "safety must be 1/0, true/false or yes/no, not", fields[1]);
        return GD_OK;
    }
    if (v->n >= IMPORT_MAX) {
        csv_err(v, file, line, "more than 1,000,000 codes in one file: split it", NULL);
        return GD_OK;
    }
    return csv_push(v, fields[0], line, safety);
}

/* Read the whole file; 0 with v->errors counting what is wrong in it. */
static int csv_read(const char *file, struct csv *v)
{
    char buf[LINE_MAX_LEN + 2];
    int line = 0, rc = GD_OK, first = 1;
    FILE *f = fopen(file, "r");
    if (!f)
        return GD_EIO;
    while (rc == GD_OK && fgets(buf, sizeof(buf), f)) {
        size_t n = strlen(buf);
        line++;
        if (n == sizeof(buf) - 1 && buf[n - 1] != '\n') {
            csv_err(v, file, line, "line longer than 1024 bytes", NULL);
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            continue;
        }
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        char *text = buf;
        if (line == 1 && strncmp(text, "\xEF\xBB\xBF", 3) == 0) /* UTF-8 BOM */
            text += 3;
        if (memchr(buf, '\0', n) != NULL || strlen(buf) != n) {
            csv_err(v, file, line, "NUL byte in line", NULL);
            continue;
        }
        rc = csv_line(v, file, line, text, first);
        first = 0;
    }
    if (ferror(f))
        rc = GD_EIO;
    fclose(f);
    if (rc == GD_OK && line == 0)
        csv_err(v, file, 1, "empty file", NULL);
    return rc;
}

static int row_cmp(const void *a, const void *b)
{
    const struct code_row *x = a, *y = b;
    int c = strcmp(x->code, y->code);
    return c ? c : x->line - y->line;
}

static int row_line_cmp(const void *a, const void *b)
{
    return ((const struct code_row *)a)->line - ((const struct code_row *)b)->line;
}

/* Codes repeated inside the file: every repeat is an error. */
static void csv_check_dups(struct csv *v, const char *file)
{
    qsort(v->rows, v->n, sizeof(v->rows[0]), row_cmp);
    for (size_t i = 1; i < v->n; i++)
        if (strcmp(v->rows[i].code, v->rows[i - 1].code) == 0) {
            char what[96];
            snprintf(what, sizeof(what), "duplicate of line %d:", v->rows[i - 1].line);
            csv_err(v, file, v->rows[i].line, what, v->rows[i].code);
        }
    qsort(v->rows, v->n, sizeof(v->rows[0]), row_line_cmp); /* back to file order */
}

/* PostgreSQL array literals of rows [from, to): {"c1","c2"} and {t,f}. */
static int build_arrays(const struct csv *v, size_t from, size_t to, char **codes, char **flags)
{
    size_t cap = 2 + (to - from) * (CODE_MAX + 3);
    char *c = malloc(cap), *f = malloc(2 + (to - from) * 2);
    if (!c || !f) {
        free(c);
        free(f);
        return GD_ENOMEM;
    }
    size_t cn = 0, fn = 0;
    c[cn++] = '{';
    f[fn++] = '{';
    for (size_t i = from; i < to; i++) {
        cn += (size_t)sprintf(c + cn, "%s\"%s\"", i > from ? "," : "", v->rows[i].code);
        fn += (size_t)sprintf(f + fn, "%s%c", i > from ? "," : "", v->rows[i].safety ? 't' : 'f');
    }
    strcpy(c + cn, "}");
    strcpy(f + fn, "}");
    *codes = c;
    *flags = f;
    return GD_OK;
}

/* The event's pool as it stands, locked against a concurrent import/release. */
struct pool {
    long stock_total, safety_stock, released, codes, safety_codes;
    char state[16];
};

static int pool_lock(struct ctl *c, const char *evs, struct pool *p, const char *verb)
{
    PGresult *res = NULL;
    const char *prm[] = {evs};
    if (db_query(&c->db,
                 "SELECT stock_total, safety_stock, released, state FROM events"
                 " WHERE event_id = $1 FOR UPDATE",
                 1, prm, &res) != GD_OK) {
        fprintf(stderr, "eventctl %s: %s\n", verb, c->db.err);
        return -1;
    }
    if (PQntuples(res) != 1) {
        fprintf(stderr, "eventctl %s: no event %s\n", verb, evs);
        PQclear(res);
        return -1;
    }
    p->stock_total = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    p->safety_stock = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    p->released = strtol(PQgetvalue(res, 0, 2), NULL, 10);
    snprintf(p->state, sizeof(p->state), "%s", PQgetvalue(res, 0, 3));
    PQclear(res);
    if (db_query(&c->db,
                 "SELECT count(*), count(*) FILTER (WHERE safety AND member_id IS NULL)"
                 " FROM coupons WHERE event_id = $1",
                 1, prm, &res) != GD_OK) {
        fprintf(stderr, "eventctl %s: %s\n", verb, c->db.err);
        return -1;
    }
    p->codes = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    p->safety_codes = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return 0;
}

/*
 * Decide the safety flag of each row.  With a safety column the file says;
 * without one, the first codes of the file fill what the pool still holds
 * back (safety_stock - released - safety codes already imported).
 */
static int assign_safety(struct csv *v, const struct pool *p, long *held)
{
    long room = p->safety_stock - p->released - p->safety_codes;
    *held = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->rows[i].safety == CSV_SAFETY_NO)
            v->rows[i].safety = *held < room;
        *held += v->rows[i].safety;
    }
    if (*held > room) {
        fprintf(stderr,
                "eventctl import-coupons: the file holds back %ld codes but the event has"
                " room for %ld more safety codes (safety_stock %ld, released %ld, already"
                " imported %ld)\n",
                *held, room < 0 ? 0 : room, p->safety_stock, p->released, p->safety_codes);
        return -1;
    }
    return 0;
}

/* Codes of rows [from, to) already in the event's pool: printed, counted. */
static long existing_codes(struct ctl *c, const char *evs, const char *codes)
{
    PGresult *res = NULL;
    const char *prm[] = {evs, codes};
    if (db_query(&c->db,
                 "SELECT code FROM coupons WHERE event_id = $1 AND code = ANY ($2::text[])"
                 " ORDER BY code",
                 2, prm, &res) != GD_OK) {
        fprintf(stderr, "eventctl import-coupons: %s\n", c->db.err);
        return -1;
    }
    long n = PQntuples(res);
    for (long i = 0; i < n && i < ERRORS_SHOWN; i++)
        fprintf(stderr, "eventctl import-coupons: code \"%s\" is already in event %s's pool\n",
                PQgetvalue(res, (int)i, 0), evs);
    PQclear(res);
    return n;
}

/* Insert every row in chunks, inside the caller's transaction. */
static int insert_rows(struct ctl *c, const char *evs, const struct csv *v)
{
    long dups = 0;
    for (size_t from = 0; from < v->n; from += CHUNK) {
        size_t to = from + CHUNK < v->n ? from + CHUNK : v->n;
        char *codes, *flags;
        if (build_arrays(v, from, to, &codes, &flags) != GD_OK) {
            fprintf(stderr, "eventctl import-coupons: out of memory\n");
            return -1;
        }
        long d = existing_codes(c, evs, codes);
        int rc = d < 0 ? -1 : 0;
        dups += d > 0 ? d : 0;
        const char *prm[] = {evs, codes, flags};
        if (rc == 0 && d == 0 &&
            db_query(&c->db,
                     "INSERT INTO coupons (event_id, code, safety)"
                     " SELECT $1, t.code, t.safety FROM unnest($2::text[], $3::boolean[])"
                     " AS t(code, safety)",
                     3, prm, NULL) != GD_OK) {
            fprintf(stderr, "eventctl import-coupons: %s\n", c->db.err);
            rc = -1;
        }
        free(codes);
        free(flags);
        if (rc)
            return -1;
    }
    if (dups) {
        fprintf(stderr, "eventctl import-coupons: %ld code(s) already imported\n", dups);
        return -1;
    }
    return 0;
}

static int import_into(struct ctl *c, long long ev, struct csv *v)
{
    char evs[24];
    struct pool p;
    long held;
    snprintf(evs, sizeof(evs), "%lld", ev);
    if (db_begin(&c->db) != GD_OK) {
        fprintf(stderr, "eventctl import-coupons: %s\n", c->db.err);
        return 1;
    }
    if (pool_lock(c, evs, &p, "import-coupons"))
        goto fail;
    if (strcmp(p.state, "closed") == 0) {
        fprintf(stderr, "eventctl import-coupons: event %lld is closed\n", ev);
        goto fail;
    }
    if (p.codes + (long)v->n > p.stock_total) {
        fprintf(stderr,
                "eventctl import-coupons: %zu codes would make the pool %ld, above the event's"
                " stock_total %ld (%ld codes already imported)\n",
                v->n, p.codes + (long)v->n, p.stock_total, p.codes);
        goto fail;
    }
    if (assign_safety(v, &p, &held) || insert_rows(c, evs, v))
        goto fail;
    if (db_commit(&c->db) != GD_OK) {
        fprintf(stderr, "eventctl import-coupons: commit: %s\n", c->db.err);
        goto fail;
    }
    long pool = p.codes + (long)v->n;
    printf("imported %zu codes into event %lld (%ld held back as safety stock); pool %ld of"
           " stock_total %ld\n",
           v->n, ev, held, pool, p.stock_total);
    if (pool < p.stock_total)
        fprintf(stderr,
                "eventctl import-coupons: note: the pool still lacks %ld codes; winners"
                " beyond the pool get no coupon (import the rest before the event)\n",
                p.stock_total - pool);
    return 0;
fail:
    db_rollback(&c->db);
    fprintf(stderr, "eventctl import-coupons: nothing imported\n");
    return 1;
}

int verb_import_coupons(struct ctl *c, int argc, char **argv)
{
    struct csv v;
    long long ev = argc == 2 ? ctl_event_id(argv[0]) : -1;
    if (ev < 0) {
        fprintf(stderr, "usage: eventctl import-coupons EVENT FILE.csv\n");
        return 2;
    }
    memset(&v, 0, sizeof(v));
    int rc = csv_read(argv[1], &v);
    if (rc != GD_OK) {
        fprintf(stderr, "eventctl import-coupons: cannot read %s: %s\n", argv[1],
                rc == GD_ENOMEM ? "out of memory" : "no such readable file");
        csv_free(&v);
        return 1;
    }
    if (v.errors == 0)
        csv_check_dups(&v, argv[1]);
    if (v.errors == 0 && v.n == 0)
        csv_err(&v, argv[1], 1, "no codes in the file", NULL);
    if (v.errors > 0) {
        if (v.errors > ERRORS_SHOWN)
            fprintf(stderr, "eventctl import-coupons: ... and %ld more\n", v.errors - ERRORS_SHOWN);
        fprintf(stderr, "eventctl import-coupons: %ld error(s) in %s; nothing imported\n", v.errors,
                argv[1]);
        csv_free(&v);
        return 1;
    }
    rc = ctl_need_db(c) ? 1 : import_into(c, ev, &v);
    csv_free(&v);
    return rc;
}

/* ---- release-safety ------------------------------------------------------ */

/*
 * Raise Redis to PostgreSQL's winnable count, atomically.  The target is an
 * absolute number, so running it twice (or after a failed first try) adds
 * exactly what PostgreSQL released and never more.  A sold-out event opens
 * again: state back to armed, "open" on ev:{id}:state for the entry-api
 * instances.
 * KEYS: 1 meta, 2 stock   ARGV: 1 target winnable, 2 event id
 * Returns {outcome, added, stock_left, state}.
 */
static const char release_lua[] =
    "local cur = redis.call('HGET', KEYS[1], 'winnable')\n"
    "if not cur then return {'not_armed', 0, 0, ''} end\n"
    "local state = redis.call('HGET', KEYS[1], 'state') or ''\n"
    "local add = tonumber(ARGV[1]) - tonumber(cur)\n"
    "if add <= 0 then\n"
    "  return {'unchanged', 0, tonumber(redis.call('GET', KEYS[2]) or '0'), state}\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'winnable', ARGV[1])\n"
    "local left = redis.call('INCRBY', KEYS[2], add)\n"
    "if state == 'sold_out' then\n"
    "  state = 'armed'\n"
    "  redis.call('HSET', KEYS[1], 'state', state)\n"
    "  redis.call('PUBLISH', 'ev:{' .. ARGV[2] .. '}:state', 'open')\n"
    "end\n"
    "return {'released', add, left, state}\n";

/* PostgreSQL half, one transaction: flags cleared on n codes, released += n. */
static int release_pg(struct ctl *c, long long ev, long n, long *winnable)
{
    char evs[24], ns[24];
    struct pool p;
    PGresult *res = NULL;
    snprintf(evs, sizeof(evs), "%lld", ev);
    snprintf(ns, sizeof(ns), "%ld", n);
    if (db_begin(&c->db) != GD_OK) {
        fprintf(stderr, "eventctl release-safety: %s\n", c->db.err);
        return -1;
    }
    if (pool_lock(c, evs, &p, "release-safety"))
        goto fail;
    if (strcmp(p.state, "closed") == 0) {
        fprintf(stderr, "eventctl release-safety: event %lld is closed\n", ev);
        goto fail;
    }
    if (n > p.safety_stock - p.released) {
        fprintf(stderr,
                "eventctl release-safety: only %ld units are still held back (safety_stock %ld,"
                " released %ld)\n",
                p.safety_stock - p.released, p.safety_stock, p.released);
        goto fail;
    }
    if (n > p.safety_codes) {
        fprintf(stderr,
                "eventctl release-safety: the pool holds only %ld held-back codes; import them"
                " first (eventctl import-coupons)\n",
                p.safety_codes);
        goto fail;
    }
    const char *prm[] = {evs, ns};
    if (db_query(&c->db,
                 /* MATERIALIZED: a LIMIT ... FOR UPDATE subquery may be rescanned
                  * and pick more than $2 rows; a CTE is evaluated once. */
                 "WITH pick AS MATERIALIZED (SELECT code FROM coupons WHERE event_id = $1"
                 " AND safety AND member_id IS NULL ORDER BY code LIMIT $2 FOR UPDATE)"
                 " UPDATE coupons c SET safety = false FROM pick"
                 " WHERE c.event_id = $1 AND c.code = pick.code",
                 2, prm, NULL) != GD_OK ||
        db_query(&c->db,
                 "UPDATE events SET released = released + $2,"
                 " state = CASE WHEN state = 'sold_out' THEN 'armed' ELSE state END"
                 " WHERE event_id = $1 RETURNING stock_total - safety_stock + released, state",
                 2, prm, &res) != GD_OK) {
        fprintf(stderr, "eventctl release-safety: %s\n", c->db.err);
        goto fail;
    }
    *winnable = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    int draft = strcmp(PQgetvalue(res, 0, 1), "draft") == 0;
    PQclear(res);
    if (db_commit(&c->db) != GD_OK) {
        fprintf(stderr, "eventctl release-safety: commit: %s\n", c->db.err);
        goto fail;
    }
    return draft;
fail:
    db_rollback(&c->db);
    return -1;
}

/* Redis half; prints the outcome.  0 or 1 (PostgreSQL is ahead: how to heal). */
static int release_redis(struct ctl *c, long long ev, long winnable)
{
    char meta[64], stock[64], target[24], evs[24];
    redisReply *r = NULL;
    rds_key(meta, sizeof(meta), ev, "meta");
    rds_key(stock, sizeof(stock), ev, "stock");
    snprintf(target, sizeof(target), "%ld", winnable);
    snprintf(evs, sizeof(evs), "%lld", ev);
    const char *argv[] = {"EVAL", release_lua, "2", meta, stock, target, evs};
    if (ctl_need_redis(c) || rds_command(&c->redis, &r, 7, argv, NULL) != GD_OK ||
        r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
        fprintf(stderr,
                "eventctl release-safety: PostgreSQL released the units but Redis was not"
                " updated (%s); `eventctl rearm %lld --force` loads winnable %ld into Redis\n",
                c->redis.err[0] ? c->redis.err : "unexpected reply", ev, winnable);
        if (r)
            freeReplyObject(r);
        return 1;
    }
    const char *outcome = r->element[0]->str;
    if (strcmp(outcome, "not_armed") == 0)
        printf("event %lld is not in Redis: `eventctl rearm %lld` (or arm) loads winnable %ld\n",
               ev, ev, winnable);
    else
        printf("redis: winnable %ld, stock left %lld, state %s%s\n", winnable,
               r->element[2]->integer, r->element[3]->str,
               strcmp(outcome, "unchanged") == 0 ? " (already up to date)" : "");
    freeReplyObject(r);
    return 0;
}

int verb_release_safety(struct ctl *c, int argc, char **argv)
{
    long n = 0, winnable = 0;
    long long ev = argc == 2 ? ctl_event_id(argv[0]) : -1;
    if (ev < 0 || ctl_long_arg("N", argv[1], 1, 10000000, &n)) {
        fprintf(stderr, "usage: eventctl release-safety EVENT N   (N >= 1 held-back units)\n");
        return 2;
    }
    if (ctl_need_db(c))
        return 1;
    int draft = release_pg(c, ev, n, &winnable);
    if (draft < 0) {
        fprintf(stderr, "eventctl release-safety: nothing released\n");
        return 1;
    }
    printf("released %ld held-back units of event %lld: winnable now %ld\n", n, ev, winnable);
    if (draft) /* not in Redis yet: arm loads the new winnable */
        return 0;
    return release_redis(c, ev, winnable);
}
