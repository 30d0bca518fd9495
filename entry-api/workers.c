/*
 * workers.c - the listening sockets and the supervisor of worker processes.
 */
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "errors.h"
#include "log.h"
#include "timeutil.h"

#define LISTEN_BACKLOG 4096

/* Split "host:port"; 0 or GD_ECONFIG. */
static int split_addr(const char *addr, char *host, size_t cap, char *port, size_t pcap)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= cap || strlen(colon + 1) >= pcap || !colon[1])
        return GD_ECONFIG;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:8080 */
        memmove(host, host + 1, strlen(host) - 2);
        host[strlen(host) - 2] = '\0';
    }
    strcpy(port, colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return GD_ECONFIG;
    return GD_OK;
}

static int bind_one(const struct addrinfo *ai, int reuseport)
{
    int on = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int workers_listen(const char *addr, int n, int *fds)
{
    char host[256], port[16];
    struct addrinfo hints, *res = NULL;
    if (split_addr(addr, host, sizeof(host), port, sizeof(port)) != GD_OK) {
        log_error(NULL, "LISTEN_ADDR \"%s\" is not host:port", addr);
        return GD_ECONFIG;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        log_error(NULL, "LISTEN_ADDR \"%s\": %s", addr, gai_strerror(gai));
        return GD_ECONFIG;
    }
    int i = 0;
    for (; i < n; i++) {
        fds[i] = bind_one(res, n > 1);
        if (fds[i] < 0) {
            log_error(NULL, "cannot listen on %s: %s", addr, strerror(errno));
            break;
        }
    }
    freeaddrinfo(res);
    if (i == n)
        return GD_OK;
    while (i-- > 0)
        close(fds[i]);
    return GD_EIO;
}

struct supervisor {
    int n;
    const int *fds;
    pid_t pid[WORKERS_MAX];
    int64_t restart_at[WORKERS_MAX]; /* 0: not waiting for a restart */
    struct backoff bo[WORKERS_MAX];
    sigset_t caught, old_mask;
    int stopping;
    int64_t kill_at;
};

/* Fork worker i.  Returns 1 in the child, 0 in the parent. */
static int spawn(struct supervisor *s, int i)
{
    pid_t pid = fork();
    if (pid < 0) {
        log_error(NULL, "fork of worker %d failed: %s", i, strerror(errno));
        s->restart_at[i] = time_mono_ms() + backoff_next_ms(&s->bo[i]);
        return 0;
    }
    if (pid == 0) {
        for (int k = 0; k < s->n; k++)
            if (k != i)
                close(s->fds[k]);
        sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
        return 1;
    }
    s->pid[i] = pid;
    s->restart_at[i] = 0;
    return 0;
}

static int alive(const struct supervisor *s)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += s->pid[i] > 0;
    return n;
}

static void signal_all(struct supervisor *s, int sig)
{
    for (int i = 0; i < s->n; i++)
        if (s->pid[i] > 0)
            kill(s->pid[i], sig);
}

/* Collect exited workers; schedule restarts unless stopping. */
static void reap(struct supervisor *s)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (int i = 0; i < s->n; i++) {
            if (s->pid[i] != pid)
                continue;
            s->pid[i] = 0;
            if (s->stopping)
                break;
            if (WIFSIGNALED(st))
                log_error(NULL, "worker %d (pid %d) killed by signal %d: restarting", i, (int)pid,
                          WTERMSIG(st));
            else
                log_error(NULL, "worker %d (pid %d) exited with %d: restarting", i, (int)pid,
                          WEXITSTATUS(st));
            s->restart_at[i] = time_mono_ms() + backoff_next_ms(&s->bo[i]);
        }
    }
}

/* One turn of the supervisor; a worker forked now returns through it with
 * its index, the parent with -1. */
static int supervise_once(struct supervisor *s, long stop_budget_ms)
{
    siginfo_t info;
    struct timespec wait = {0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&s->caught, &info, &wait);
    if ((sig == SIGTERM || sig == SIGINT) && !s->stopping) {
        log_info(NULL, "stopping %d workers", alive(s));
        s->stopping = 1;
        s->kill_at = time_mono_ms() + stop_budget_ms;
        signal_all(s, SIGTERM);
        /* Our copies too, or connections would queue on sockets nobody
         * accepts from any more instead of being refused. */
        for (int i = 0; i < s->n; i++)
            close(s->fds[i]);
    }
    if (sig == SIGHUP && !s->stopping) { /* each worker reads its files again */
        log_info(NULL, "SIGHUP: passed on to %d workers", alive(s));
        signal_all(s, SIGHUP);
    }
    reap(s);
    int64_t now = time_mono_ms();
    if (s->stopping && now >= s->kill_at && alive(s)) {
        log_error(NULL, "%d workers still running after %ld ms: killing", alive(s), stop_budget_ms);
        signal_all(s, SIGKILL);
        s->kill_at = now + 1000;
    }
    for (int i = 0; i < s->n && !s->stopping; i++)
        if (s->restart_at[i] && now >= s->restart_at[i] && spawn(s, i))
            return i;
    return -1;
}

int workers_run(int n, const int *fds, long stop_budget_ms, int *exit_code)
{
    struct supervisor s;
    memset(&s, 0, sizeof(s));
    s.n = n;
    s.fds = fds;
    /* Signals are taken synchronously with sigtimedwait: no handler races. */
    sigemptyset(&s.caught);
    sigaddset(&s.caught, SIGTERM);
    sigaddset(&s.caught, SIGINT);
    sigaddset(&s.caught, SIGCHLD);
    sigaddset(&s.caught, SIGHUP);
    sigprocmask(SIG_BLOCK, &s.caught, &s.old_mask);
    for (int i = 0; i < n; i++) {
        backoff_init(&s.bo[i], 200, 5000);
        if (spawn(&s, i))
            return i;
    }
    log_info(NULL, "supervising %d workers", n);
    while (!s.stopping || alive(&s)) {
        int child = supervise_once(&s, stop_budget_ms);
        if (child >= 0)
            return child;
    }
    sigprocmask(SIG_SETMASK, &s.old_mask, NULL);
    *exit_code = 0;
    log_info(NULL, "all workers stopped");
    return -1;
}
