/*
 * workers.h - several worker processes on one port.
 *
 * The parent binds one listening socket per worker, all with SO_REUSEPORT on
 * the same address, so the kernel spreads new connections evenly over the
 * workers (a shared socket would wake every worker for each connection).
 * Binding happens before any fork, so a busy port fails start-up at once,
 * and so does a port another process already holds with SO_REUSEPORT (a
 * stale instance would silently share the traffic): only our own workers
 * share a port.  Each worker gets SIGTERM from the kernel when the
 * supervisor dies without forwarding a stop (SIGKILL), and drains.
 * The parent then only supervises: it forks the workers, restarts one that
 * dies (with backoff; its socket and the connections queued on it wait for
 * the new one), forwards SIGTERM/SIGINT and waits for them to drain.
 */
#ifndef GD_WORKERS_H
#define GD_WORKERS_H

#define WORKERS_MAX 64

/* Bind n sockets to "host:port" (n > 1: SO_REUSEPORT) and check that no
 * other process listens there.  0, or GD_ECONFIG/GD_EIO (logged). */
int workers_listen(const char *addr, int n, int *fds);

/*
 * Fork n workers and supervise them until they all stopped after a
 * SIGTERM/SIGINT; stragglers get SIGKILL stop_budget_ms after it.
 * Returns twice, like fork: in a worker process, its index (0..n-1), with
 * only its own socket fds[index] left open and the default signal mask; in
 * the parent, -1 once everything stopped, with *exit_code for main.
 */
int workers_run(int n, const int *fds, long stop_budget_ms, int *exit_code);

#endif
