/*
 * publisher.c - the broker thread: one confirm-mode AMQP connection, jobs
 * in from the loop (mutex + eventfd), completions out to the loop
 * (event_active).  Every job ends exactly once: confirmed, nacked,
 * returned, blocked, timed out or failed with its connection.  Each batch
 * of jobs is encoded into one buffer (rmq_publish_buffered) and written with
 * non-blocking send()s: one system call for the batch, and a broker that
 * stopped reading (its socket full) is noticed after PUB_STUCK_MS instead of
 * blocking the thread.  Over amqps rabbitmq-c writes each publish itself and
 * can block: a loop-side watchdog then cuts the call by shutting the socket
 * down.
 */
#include "publisher.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backoff.h"
#include "errors.h"
#include "log.h"
#include "messages.h"
#include "rmq.h"
#include "timeutil.h"
#include "topology.h"

#define PUB_CONNECT_TIMEOUT_MS 1000 /* TCP connect, login and each setup RPC */
#define PUB_STUCK_MS           1000 /* a blocking call longer than this is cut short */
#define PUB_WATCH_MS           200
#define PUB_OUT_MAX            (16 << 20) /* bytes buffered for a broker not reading: 503 beyond */

struct job_list {
    struct pub_job *head, *tail;
};

struct publisher {
    struct pub_opts opts;
    pthread_t thread;
    pthread_mutex_t mu;
    struct job_list incoming; /* loop -> thread, under mu */
    struct job_list finished; /* thread -> loop, under mu */
    int wake_fd;              /* eventfd: new jobs or stop */
    struct event *done_ev;    /* activated by the thread, runs on the loop */
    atomic_int stop;
    atomic_int ready;
    atomic_int alarm; /* mirror of conn.blocked for the loop thread */
    atomic_long in_flight;
    /* The stuck-call watchdog (loop side): the thread stamps blocking_since
     * around every rabbitmq-c call that can block, and files the socket under
     * mu so the loop never shuts down a socket number already reused. */
    atomic_llong blocking_since_ms;
    atomic_int exited; /* the thread is about to return */
    int sock_fd;       /* under mu; -1 when closed */
    struct event *watch_ev;
    /* thread-private */
    struct rmq_conn conn;
    struct job_list outstanding; /* published, ordered by tag */
    struct job_list done;        /* finished, not yet handed to the loop (flush_done) */
    struct backoff bo;
    int64_t next_attempt_ms;
    int64_t unwritten_since_ms; /* frames waiting for a writable socket since (0: none) */
};

static void list_push(struct job_list *l, struct pub_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static struct pub_job *list_take_all(struct job_list *l)
{
    struct pub_job *h = l->head;
    l->head = l->tail = NULL;
    return h;
}

/* Thread side: a job is finished; flush_done hands it to the loop. */
static void finish(struct publisher *p, struct pub_job *j, int result)
{
    j->result = result;
    list_push(&p->done, j);
}

/* Thread side: hand every finished job to the loop at once: one lock and
 * one wake-up of the loop for a whole batch of confirms (a multiple ack
 * finishes hundreds), not one per job. */
static void flush_done(struct publisher *p)
{
    if (!p->done.head)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->finished.tail)
        p->finished.tail->next = p->done.head;
    else
        p->finished.head = p->done.head;
    p->finished.tail = p->done.tail;
    pthread_mutex_unlock(&p->mu);
    p->done.head = p->done.tail = NULL;
    event_active(p->done_ev, EV_READ, 0);
}

static void fail_outstanding(struct publisher *p, int result)
{
    struct pub_job *j = list_take_all(&p->outstanding);
    while (j) {
        struct pub_job *next = j->next;
        atomic_fetch_sub(&p->in_flight, 1);
        finish(p, j, result);
        j = next;
    }
}

static void blocking_begin(struct publisher *p)
{
    atomic_store(&p->blocking_since_ms, time_mono_ms());
}

static void blocking_end(struct publisher *p)
{
    atomic_store(&p->blocking_since_ms, 0);
}

static void file_socket(struct publisher *p, int fd)
{
    pthread_mutex_lock(&p->mu);
    p->sock_fd = fd;
    pthread_mutex_unlock(&p->mu);
}

/* Close the connection; unfiled first, so the watchdog never touches it again. */
static void close_connection(struct publisher *p)
{
    file_socket(p, -1);
    blocking_begin(p);
    rmq_close(&p->conn);
    blocking_end(p);
}

static void drop_connection(struct publisher *p, int result)
{
    if (p->conn.err[0])
        log_warn(&(struct log_ctx){.conn = p->conn.name}, "broker connection lost: %s",
                 p->conn.err);
    fail_outstanding(p, result);
    p->unwritten_since_ms = 0;
    /* A broker that stopped answering would make a polite close wait for
     * its RPC timeout: just drop the socket. */
    p->conn.broken = 1;
    close_connection(p);
    atomic_store(&p->ready, 0);
    p->next_attempt_ms = time_mono_ms() + backoff_next_ms(&p->bo);
}

static int connect_broker(struct publisher *p)
{
    /* A short connect/RPC bound: the loop fails entries fast while we are
     * not ready, but jobs queued in that instant wait for this. */
    struct rmq_opts o = {p->opts.amqp_url, "entry-api", p->opts.instance,
                         "publish",        0,           PUB_CONNECT_TIMEOUT_MS};
    blocking_begin(p);
    int rc = rmq_open_publisher(&p->conn, &o);
    blocking_end(p);
    if (rc != GD_OK) {
        log_warn(&(struct log_ctx){.conn = p->conn.name}, "broker not usable: %s (%s)", p->conn.err,
                 err_str(rc));
        p->next_attempt_ms = time_mono_ms() + backoff_next_ms(&p->bo);
        return rc;
    }
    file_socket(p, rmq_fd(&p->conn));
    backoff_reset(&p->bo);
    atomic_store(&p->ready, 1);
    log_info(&(struct log_ctx){.conn = p->conn.name}, "broker connected");
    return GD_OK;
}

static void on_confirm(void *arg, uint64_t tag, int ok)
{
    struct publisher *p = arg;
    /* Confirms arrive in tag order for the head; search for out-of-order singles. */
    struct pub_job **pp = &p->outstanding.head, *prev = NULL;
    while (*pp && (*pp)->tag != tag) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    struct pub_job *j = *pp;
    if (!j)
        return;
    *pp = j->next;
    if (p->outstanding.tail == j)
        p->outstanding.tail = prev;
    atomic_fetch_sub(&p->in_flight, 1);
    finish(p, j, !ok ? GD_EAMQP_NACK : j->returned ? GD_EAMQP_RETURNED : GD_OK);
}

static void on_return(void *arg, const char *message_id)
{
    struct publisher *p = arg;
    for (struct pub_job *j = p->outstanding.head; j; j = j->next)
        if (strcmp(j->message_id, message_id) == 0)
            j->returned = 1;
}

/* Encode every queued job onto the connection's output; flush_out writes them. */
static void publish_incoming(struct publisher *p)
{
    pthread_mutex_lock(&p->mu);
    struct pub_job *j = list_take_all(&p->incoming);
    pthread_mutex_unlock(&p->mu);
    blocking_begin(p); /* only amqps publishes at once (and can block) */
    while (j) {
        struct pub_job *next = j->next;
        int rc = p->conn.open ? GD_OK : GD_EAMQP_CONNECT;
        if (rc == GD_OK && p->conn.blocked)
            rc = GD_EAMQP_BLOCKED; /* a publish now would stall until the alarm clears */
        if (rc == GD_OK && rmq_pending(&p->conn) > PUB_OUT_MAX)
            rc = GD_EAMQP_BLOCKED; /* the broker is not reading what we wrote */
        if (rc == GD_OK) {
            struct rmq_props props = {
                j->message_id, MSG_TYPE_ENTRY, "entry-api", time_now_ms() / 1000,
                j->event_id,   j->traceparent, NULL};
            rc = rmq_publish_buffered(&p->conn, EX_ENTRY, j->routing_key, 1, &props, j->body,
                                      j->len, &j->tag);
        }
        if (rc != GD_OK) {
            finish(p, j, rc);
            if (rc == GD_EAMQP_CLOSED)
                drop_connection(p, GD_EAMQP_CLOSED);
        } else {
            j->deadline_ms = time_mono_ms() + p->opts.confirm_timeout_ms;
            atomic_fetch_add(&p->in_flight, 1);
            list_push(&p->outstanding, j);
        }
        j = next;
    }
    blocking_end(p);
}

/*
 * Write what publish_incoming encoded, without blocking: one send() for a
 * whole batch.  Bytes the socket does not take wait for POLLOUT; a broker
 * that takes none for PUB_STUCK_MS has stopped reading and the connection
 * is dropped (its jobs fail with 503), as the watchdog does for amqps.
 */
static void flush_out(struct publisher *p)
{
    size_t before = rmq_pending(&p->conn);
    if (!p->conn.open || before == 0)
        return;
    long left = rmq_flush(&p->conn);
    int64_t now = time_mono_ms();
    if (left < 0) {
        drop_connection(p, GD_EAMQP_CLOSED);
    } else if (left == 0 || (size_t)left < before) {
        p->unwritten_since_ms = left ? now : 0;
    } else if (!p->unwritten_since_ms) {
        p->unwritten_since_ms = now;
    } else if (now - p->unwritten_since_ms >= PUB_STUCK_MS) {
        snprintf(p->conn.err, sizeof(p->conn.err), "broker took no bytes for %lld ms",
                 (long long)(now - p->unwritten_since_ms));
        drop_connection(p, GD_EAMQP_CLOSED);
    }
}

static void check_deadlines(struct publisher *p)
{
    struct pub_job *h = p->outstanding.head;
    int64_t now = time_mono_ms();
    if (!h || h->deadline_ms > now)
        return;
    if (p->conn.blocked) {
        /* A resource alarm: the broker is alive and will say
         * connection.unblocked.  Keep the connection (and with it the
         * not-ready state) and fail only what is overdue; a confirm that
         * still comes for one of them finds nobody waiting. */
        while ((h = p->outstanding.head) && h->deadline_ms <= now) {
            p->outstanding.head = h->next;
            if (!h->next)
                p->outstanding.tail = NULL;
            atomic_fetch_sub(&p->in_flight, 1);
            finish(p, h, GD_EAMQP_BLOCKED);
        }
        return;
    }
    /* The broker stopped confirming: its state is unknown, start over. */
    snprintf(p->conn.err, sizeof(p->conn.err), "no confirm within %d ms",
             p->opts.confirm_timeout_ms);
    drop_connection(p, GD_ETIMEOUT);
}

/* Log the broker's resource alarm as it starts and ends. */
static void note_alarm(struct publisher *p)
{
    int now = p->conn.open && p->conn.blocked;
    if (now != atomic_load(&p->alarm)) {
        if (now)
            log_warn(&(struct log_ctx){.conn = p->conn.name},
                     "broker blocks publishers (resource alarm): not ready");
        else
            log_info(&(struct log_ctx){.conn = p->conn.name}, "broker unblocked publishers");
    }
    atomic_store(&p->alarm, now);
}

static int poll_timeout(struct publisher *p)
{
    int64_t now = time_mono_ms(), t = 200;
    if (!p->conn.open)
        t = p->next_attempt_ms - now;
    else if (p->outstanding.head)
        t = p->outstanding.head->deadline_ms - now;
    return t < 0 ? 0 : t > 200 ? 200 : (int)t;
}

static void *pub_thread(void *arg)
{
    struct publisher *p = arg;
    struct rmq_confirm_handler h = {on_confirm, on_return, p};
    for (;;) {
        int stopping = atomic_load(&p->stop);
        pthread_mutex_lock(&p->mu);
        int queued = p->incoming.head != NULL;
        pthread_mutex_unlock(&p->mu);
        if (stopping && !p->outstanding.head && !queued)
            break;
        if (!p->conn.open && !stopping && time_mono_ms() >= p->next_attempt_ms)
            connect_broker(p);
        publish_incoming(p);
        flush_out(p);
        flush_done(p); /* before sleeping */
        if (p->conn.open && rmq_buffered(&p->conn) == 0) {
            short out = rmq_pending(&p->conn) ? POLLOUT : 0;
            struct pollfd fds[2] = {{p->wake_fd, POLLIN, 0}, {rmq_fd(&p->conn), POLLIN | out, 0}};
            if (poll(fds, 2, poll_timeout(p)) > 0 && (fds[0].revents & POLLIN)) {
                uint64_t v;
                ssize_t r = read(p->wake_fd, &v, sizeof(v));
                (void)r;
            }
        } else if (!p->conn.open) {
            struct pollfd fd = {p->wake_fd, POLLIN, 0};
            if (poll(&fd, 1, poll_timeout(p)) > 0) {
                uint64_t v;
                ssize_t r = read(p->wake_fd, &v, sizeof(v));
                (void)r;
            }
        }
        flush_out(p);
        if (p->conn.open && rmq_pump(&p->conn, 0, &h) < 0)
            drop_connection(p, GD_EAMQP_CLOSED);
        note_alarm(p);
        if (p->conn.open)
            check_deadlines(p);
        if (stopping && !p->conn.open) /* nothing can complete any more */
            fail_outstanding(p, GD_ESTOPPED);
        flush_done(p);
    }
    close_connection(p);
    atomic_store(&p->ready, 0);
    atomic_store(&p->exited, 1);
    return NULL;
}

/* Loop side: run the completions the thread finished. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct publisher *p = arg;
    pthread_mutex_lock(&p->mu);
    struct pub_job *j = list_take_all(&p->finished);
    pthread_mutex_unlock(&p->mu);
    while (j) {
        struct pub_job *next = j->next;
        j->done(j, j->arg);
        j = next;
    }
}

/*
 * Loop side: a rabbitmq-c call stuck past PUB_STUCK_MS (a broker that stopped
 * reading, so a publish waits forever for a writable socket) is ended by
 * shutting the socket down: the call fails, and the thread drops the
 * connection and fails its outstanding jobs.
 */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    struct publisher *p = arg;
    long long since = atomic_load(&p->blocking_since_ms);
    if (!since || time_mono_ms() - since < PUB_STUCK_MS)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->sock_fd >= 0) {
        log_warn(NULL, "broker call blocked for %lld ms: cutting the connection",
                 (long long)(time_mono_ms() - since));
        shutdown(p->sock_fd, SHUT_RDWR);
        p->sock_fd = -1; /* once is enough; the thread closes it */
    }
    pthread_mutex_unlock(&p->mu);
}

struct publisher *pub_start(struct event_base *base, const struct pub_opts *o)
{
    struct publisher *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->opts = *o;
    p->sock_fd = -1;
    pthread_mutex_init(&p->mu, NULL);
    backoff_init(&p->bo, 100, 5000);
    p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->done_ev = event_new(base, -1, 0, on_done, p);
    p->watch_ev = event_new(base, -1, EV_PERSIST, on_watch, p);
    struct timeval watch = {0, PUB_WATCH_MS * 1000};
    if (p->wake_fd < 0 || !p->done_ev || !p->watch_ev || event_add(p->watch_ev, &watch) != 0 ||
        pthread_create(&p->thread, NULL, pub_thread, p) != 0) {
        if (p->done_ev)
            event_free(p->done_ev);
        if (p->watch_ev)
            event_free(p->watch_ev);
        if (p->wake_fd >= 0)
            close(p->wake_fd);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    return p;
}

static void wake(struct publisher *p)
{
    uint64_t one = 1;
    ssize_t w = write(p->wake_fd, &one, sizeof(one));
    (void)w; /* eventfd saturates, never fails for us */
}

void pub_submit(struct publisher *p, struct pub_job *job)
{
    job->returned = 0;
    job->result = 0;
    if (atomic_load(&p->stop)) {
        job->result = GD_ESTOPPED;
        pthread_mutex_lock(&p->mu);
        list_push(&p->finished, job);
        pthread_mutex_unlock(&p->mu);
        event_active(p->done_ev, EV_READ, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    int was_empty = p->incoming.head == NULL;
    list_push(&p->incoming, job);
    pthread_mutex_unlock(&p->mu);
    /* A non-empty queue was signalled when its first job came and the
     * thread takes the whole queue at once: no write needed for the rest. */
    if (was_empty)
        wake(p);
}

int pub_ready(const struct publisher *p)
{
    return atomic_load(&p->ready) && !atomic_load(&p->alarm);
}

long pub_in_flight(const struct publisher *p)
{
    return atomic_load(&p->in_flight);
}

void pub_stop(struct publisher *p)
{
    atomic_store(&p->stop, 1);
    wake(p);
    /* The loop is not running the watchdog now: do its job while waiting,
     * so a publish stuck on a silent broker cannot hold the stop forever. */
    while (!atomic_load(&p->exited)) {
        on_watch(-1, 0, p);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_join(p->thread, NULL);
}

void pub_free(struct publisher *p)
{
    on_done(-1, 0, p);
    event_free(p->done_ev);
    event_free(p->watch_ev);
    close(p->wake_fd);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
