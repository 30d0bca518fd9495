/*
 * ledger_pool.c - ledger threads and batches (see ledger_pool.h).
 */
#include "ledger_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "lb.h"
#include "log.h"
#include "rds.h"

#define BATCH_MAX 128 /* ops per transaction: bounds a batch's lock time */

/* The advisory locks this thread's session holds, by lock name hash. */
struct held {
    uint64_t *keys;
    size_t n, cap;
};

struct worker {
    struct ledger_pool *pool;
    int id;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ledger_op *head, *tail; /* queued */
    int stop;
    /* thread-only from here */
    struct db db;
    struct rds redis;
    int backend_pid; /* a new session means the old one's locks are gone */
    struct held held;
};

struct ledger_pool {
    const struct gd_config *cfg;
    int n;
    struct worker *workers;
    struct event *wake; /* activated by workers: results are ready */
    ledger_done_fn done;
    void *arg;
    pthread_mutex_t done_mu;
    struct ledger_op *done_head, *done_tail;
};

static int held_find(const struct held *h, uint64_t k)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->keys[i] == k)
            return (int)i;
    return -1;
}

static void held_add(struct held *h, uint64_t k)
{
    if (held_find(h, k) >= 0)
        return;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        uint64_t *keys = realloc(h->keys, cap * sizeof(*keys));
        if (!keys)
            return; /* forgetting only costs a re-lock that stacks; released at disconnect */
        h->keys = keys;
        h->cap = cap;
    }
    h->keys[h->n++] = k;
}

static void held_del(struct held *h, uint64_t k)
{
    int i = held_find(h, k);
    if (i >= 0)
        h->keys[i] = h->keys[--h->n];
}

/* Does this op end the winner's lease (the last write of an attempt)? */
static int ends_lease(const struct ledger_op *op)
{
    if (op->rc != GD_OK)
        return 0;
    if (op->kind == LEDGER_OP_BEGIN)
        return op->state == LEDGER_DONE_SENT || op->state == LEDGER_DONE_FAILED ||
               op->state == LEDGER_NO_COUPON;
    return op->kind != LEDGER_OP_ATTEMPT;
}

static int cmp_ops(const void *a, const void *b)
{
    const struct ledger_op *x = *(struct ledger_op *const *)a, *y = *(struct ledger_op *const *)b;
    if (x->w->event_id != y->w->event_id)
        return x->w->event_id < y->w->event_id ? -1 : 1;
    return strcmp(x->w->member_id, y->w->member_id);
}

/* Runs op; remembers a lease taken even if the transaction rolls back
 * later (session locks survive rollbacks). */
static int run_op(struct worker *w, struct ledger_op *op)
{
    int take = op->kind == LEDGER_OP_BEGIN && held_find(&w->held, op->lock_hash) < 0;
    int rc = ledger_run(&w->db, op, take);
    if (op->kind == LEDGER_OP_BEGIN && op->locked)
        held_add(&w->held, op->lock_hash);
    return rc;
}

/* Connection loss: every op of the batch failed without a known effect
 * (all of them are safe to run again). */
static void fail_all(struct worker *w, struct ledger_op **ops, int n, int rc)
{
    for (int i = 0; i < n; i++) {
        ops[i]->rc = rc;
        ops[i]->permanent = 0;
        snprintf(ops[i]->err, sizeof(ops[i]->err), "%s", w->db.err[0] ? w->db.err : err_str(rc));
    }
}

/* A fresh session holds no locks: forget ours, loudly (a lease was lost).
 * Returns 1 when the session is the one the caller started with. */
static int same_session(struct worker *w)
{
    int pid = w->db.conn && PQstatus(w->db.conn) == CONNECTION_OK ? PQbackendPID(w->db.conn) : 0;
    int same = pid != 0 && pid == w->backend_pid;
    if (!same && w->held.n > 0)
        log_warn(NULL, "ledger connection %d was lost: %zu winner leases released", w->id,
                 w->held.n);
    if (!same)
        w->held.n = 0;
    w->backend_pid = pid;
    return same;
}

/* Each op in a transaction of its own: isolates the one a batch failed on. */
static void run_alone(struct worker *w, struct ledger_op **ops, int n)
{
    for (int i = 0; i < n; i++) {
        int rc = db_begin(&w->db);
        if (rc == GD_OK && (rc = run_op(w, ops[i])) == GD_OK)
            rc = db_commit(&w->db);
        if (rc == GD_OK && !same_session(w))
            rc = GD_EPG_CONNECT; /* db_query reconnected mid-way: no transaction held it */
        if (rc != GD_OK) {
            if (ops[i]->rc == GD_OK) { /* BEGIN or COMMIT failed */
                ops[i]->rc = rc;
                snprintf(ops[i]->err, sizeof(ops[i]->err), "%s", w->db.err);
            }
            db_rollback(&w->db);
            same_session(w);
        }
    }
}

static void run_batch(struct worker *w, struct ledger_op **ops, int n)
{
    int rc = db_ensure(&w->db);
    same_session(w);
    if (rc != GD_OK) {
        fail_all(w, ops, n, rc);
        return;
    }
    qsort(ops, (size_t)n, sizeof(*ops), cmp_ops);
    rc = db_begin(&w->db);
    for (int i = 0; rc == GD_OK && i < n; i++)
        rc = run_op(w, ops[i]);
    if (rc == GD_OK)
        rc = db_commit(&w->db);
    /* db_query reconnects on its own: a batch that changed sessions on the
     * way ran partly outside its transaction, so nothing of it counts. */
    if (!same_session(w)) {
        fail_all(w, ops, n, GD_EPG_CONNECT);
        return;
    }
    if (rc == GD_OK)
        return;
    db_rollback(&w->db);
    if (!same_session(w))
        fail_all(w, ops, n, GD_EPG_CONNECT);
    else
        run_alone(w, ops, n);
}

/* After the commit: release finished leases, mirror outcomes to Redis. */
static void after_commit(struct worker *w, struct ledger_op **ops, int n)
{
    char names[BATCH_MAX][96];
    const char *list[BATCH_MAX];
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!ends_lease(ops[i]) || held_find(&w->held, ops[i]->lock_hash) < 0)
            continue;
        ledger_lock_name(ops[i]->w, names[k], sizeof(names[k]));
        list[k] = names[k];
        k++;
        held_del(&w->held, ops[i]->lock_hash);
    }
    if (k > 0 && ledger_unlock(&w->db, list, k) != GD_OK)
        log_warn(NULL, "releasing %d winner leases failed: %s", k, w->db.err);
    for (int i = 0; i < n; i++) {
        const struct ledger_op *op = ops[i];
        const char *status = op->rc != GD_OK                ? NULL
                             : op->kind == LEDGER_OP_FINISH ? op->status
                             : op->kind == LEDGER_OP_BEGIN && op->state == LEDGER_NO_COUPON
                                 ? "failed"
                                 : NULL;
        if (!status)
            continue;
        /* GET .../entries/me reads it; best effort (PostgreSQL is the record).
         * A script, so the hash expires with the event's other keys. */
        char meta[64], key[64];
        redisReply *r = NULL;
        rds_key(meta, sizeof(meta), op->w->event_id, "meta");
        rds_key(key, sizeof(key), op->w->event_id, "notified");
        const char *argv[] = {meta, key, op->w->member_id, status};
        if (rds_eval(&w->redis, SCRIPT_NOTIFIED, 2, 4, argv, &r) == GD_OK)
            freeReplyObject(r);
        else
            log_warn(NULL, "redis notified mirror failed: %s", w->redis.err);
    }
}

static void post_results(struct ledger_pool *p, struct ledger_op **ops, int n)
{
    pthread_mutex_lock(&p->done_mu);
    for (int i = 0; i < n; i++) {
        ops[i]->next = NULL;
        if (p->done_tail)
            p->done_tail->next = ops[i];
        else
            p->done_head = ops[i];
        p->done_tail = ops[i];
    }
    pthread_mutex_unlock(&p->done_mu);
    event_active(p->wake, EV_READ, 0);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct ledger_op *ops[BATCH_MAX];
    for (;;) {
        int n = 0;
        pthread_mutex_lock(&w->mu);
        while (!w->stop && !w->head)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        while (w->head && n < BATCH_MAX) {
            ops[n++] = w->head;
            w->head = w->head->next;
        }
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        run_batch(w, ops, n);
        after_commit(w, ops, n);
        post_results(w->pool, ops, n);
    }
    return NULL;
}

/* Loop thread: hand every finished op back. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct ledger_pool *p = arg;
    pthread_mutex_lock(&p->done_mu);
    struct ledger_op *op = p->done_head;
    p->done_head = p->done_tail = NULL;
    pthread_mutex_unlock(&p->done_mu);
    while (op) {
        struct ledger_op *next = op->next;
        p->done(op, p->arg);
        op = next;
    }
}

void ledger_pool_submit(struct ledger_pool *p, struct ledger_op *op)
{
    char name[96];
    ledger_lock_name(op->w, name, sizeof(name));
    op->lock_hash = lb_hash64(name, strlen(name));
    struct worker *w = &p->workers[op->lock_hash % (uint64_t)p->n];
    op->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = op;
    else
        w->head = op;
    w->tail = op;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

struct ledger_pool *ledger_pool_new(const struct gd_config *cfg, int n, struct event_base *base,
                                    ledger_done_fn done, void *arg)
{
    struct ledger_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->cfg = cfg;
    p->done = done;
    p->arg = arg;
    pthread_mutex_init(&p->done_mu, NULL);
    p->wake = event_new(base, -1, 0, on_wake, p);
    p->workers = calloc((size_t)n, sizeof(*p->workers));
    if (!p->wake || !p->workers) {
        ledger_pool_free(p);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        struct worker *w = &p->workers[i];
        p->n = i + 1;
        w->pool = p;
        w->id = i;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        /* A failed first connect is retried by db_ensure/rds_ensure later. */
        char app[64];
        snprintf(app, sizeof(app), "notifier-consumer/ledger-%d", i);
        db_connect(&w->db, cfg->database_url, app);
        w->backend_pid = w->db.conn ? PQbackendPID(w->db.conn) : 0;
        rds_connect(&w->redis, cfg->redis_url, 3000);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            ledger_pool_free(p);
            return NULL;
        }
        w->started = 1;
    }
    return p;
}

void ledger_pool_free(struct ledger_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++) {
        struct worker *w = &p->workers[i];
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    for (int i = 0; i < p->n; i++) {
        struct worker *w = &p->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        db_close(&w->db);
        rds_close(&w->redis);
        free(w->held.keys);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    free(p->workers);
    if (p->wake)
        event_free(p->wake);
    pthread_mutex_destroy(&p->done_mu);
    free(p);
}
