/*
 * workers.c - the listening sockets and the supervisor of worker processes.
 */
#include "workers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "errors.h"
#include "log.h"
#include "signals.h"
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

/* ---- "is this port ours alone?" ------------------------------------------ */

/* SO_REUSEPORT lets any process of the same user bind a port that our
 * sockets hold, and the kernel then splits new connections between the two:
 * a stale instance left running during a deploy would silently answer part
 * of the traffic.  So after binding, every TCP listener on our port whose
 * address overlaps ours (equal, or either side a wildcard) must be one of
 * our own sockets, by inode, as /proc/net/tcp{,6} lists them. */

struct bound {
    int family;       /* AF_INET or AF_INET6 */
    uint32_t addr[4]; /* as the kernel prints it: native-endian words */
    unsigned port;    /* host order */
    const ino_t *own; /* our sockets' inodes */
    int nown;
};

static int is_wild(const uint32_t *a, int words)
{
    for (int i = 0; i < words; i++)
        if (a[i])
            return 0;
    return 1;
}

/* One line of /proc/net/tcp (words 1) or tcp6 (words 4); 1 when it is a
 * foreign listener on our address, its inode in *ino. */
static int line_is_foreign(const char *line, int words, const struct bound *b, unsigned long *ino)
{
    char hexaddr[33];
    unsigned port, st;
    if (sscanf(line, " %*d: %32[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %lu", hexaddr, &port, &st,
               ino) != 4 ||
        st != 0x0A /* TCP_LISTEN */ || port != b->port || strlen(hexaddr) != (size_t)words * 8)
        return 0;
    uint32_t a[4] = {0};
    for (int i = 0; i < words; i++) {
        char w[9];
        memcpy(w, hexaddr + i * 8, 8);
        w[8] = '\0';
        a[i] = (uint32_t)strtoul(w, NULL, 16);
    }
    int same_family = (words == 1) == (b->family == AF_INET);
    int overlap = is_wild(a, words) || is_wild(b->addr, b->family == AF_INET ? 1 : 4) ||
                  (same_family && !memcmp(a, b->addr, (size_t)words * 4));
    if (!overlap)
        return 0;
    for (int i = 0; i < b->nown; i++)
        if (b->own[i] == (ino_t)*ino)
            return 0;
    return 1;
}

/* The pid holding socket inode ino, or 0 (only for the message). */
static long socket_owner(unsigned long ino)
{
    char want[64], path[300], target[64];
    snprintf(want, sizeof(want), "socket:[%lu]", ino);
    DIR *proc = opendir("/proc");
    struct dirent *p;
    long found = 0;
    while (proc && !found && (p = readdir(proc))) {
        if (p->d_name[0] < '1' || p->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
        DIR *fdd = opendir(path);
        struct dirent *f;
        while (fdd && !found && (f = readdir(fdd))) {
            snprintf(path, sizeof(path), "/proc/%s/fd/%s", p->d_name, f->d_name);
            ssize_t n = readlink(path, target, sizeof(target) - 1);
            if (n > 0 && (target[n] = '\0', !strcmp(target, want)))
                found = strtol(p->d_name, NULL, 10);
        }
        if (fdd)
            closedir(fdd);
    }
    if (proc)
        closedir(proc);
    return found;
}

/* 0 when nobody else listens on our address; GD_EIO (logged) otherwise. */
static int check_port_ours(const char *addr, const int *fds, int n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    ino_t own[WORKERS_MAX];
    struct bound b = {.own = own, .nown = n};
    if (getsockname(fds[0], (struct sockaddr *)&ss, &len) != 0)
        return GD_OK; /* cannot tell: the bind itself succeeded */
    b.family = ss.ss_family;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        memcpy(b.addr, &in->sin_addr, 4);
        b.port = ntohs(in->sin_port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        memcpy(b.addr, &in6->sin6_addr, 16);
        b.port = ntohs(in6->sin6_port);
    }
    for (int i = 0; i < n; i++) {
        struct stat st;
        own[i] = fstat(fds[i], &st) == 0 ? st.st_ino : 0;
    }
    static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (int t = 0; t < 2; t++) {
        FILE *f = fopen(tables[t], "r");
        char line[512];
        unsigned long ino = 0;
        int foreign = 0;
        while (f && !foreign && fgets(line, sizeof(line), f))
            foreign = line_is_foreign(line, t == 0 ? 1 : 4, &b, &ino);
        if (f)
            fclose(f);
        if (foreign) {
            long pid = socket_owner(ino);
            log_error(NULL,
                      "cannot listen on %s: another process (pid %ld) already listens there "
                      "with SO_REUSEPORT and would share its connections; stop it first",
                      addr, pid);
            return GD_EIO;
        }
    }
    return GD_OK;
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
    if (i == n && check_port_ours(addr, fds, n) == GD_OK)
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
    pid_t parent = getpid();
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
        /* A supervisor killed with SIGKILL cannot forward a stop: the kernel
         * does it (SIGTERM: the graceful drain, so what the worker holds is
         * finished), and no orphaned worker keeps the port after its
         * instance is gone.  The getppid() check covers a supervisor that
         * died before the prctl. */
        sig_install();
        sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            sig_request_stop();
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
