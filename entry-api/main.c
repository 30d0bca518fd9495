/*
 * entry-api - the public HTTP API members' phones call (DESIGN §3).
 * Load config, bind the port, fork the workers (WORKERS, default one per
 * CPU) or run the only one in this process, serve until SIGTERM, tear down.
 * SIGHUP makes every worker read the JWT keys again (app.c).
 */
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "scripts.h"
#include "signals.h"
#include "workers.h"

/* One worker: its own loop and connections, serving socket fd. */
static int run_worker(const struct gd_config *cfg, struct metrics *m, int index, int fd)
{
    struct app app;
    sig_install();
    if (app_init(&app, cfg, m, index, &fd, 1) != GD_OK) {
        log_error(NULL, "worker %d: start-up failed", index);
        app_free(&app);
        return 1;
    }
    app_run(&app);
    app_free(&app);
    log_info(NULL, "worker %d stopped", index);
    return 0;
}

static int worker_count(const struct gd_config *cfg)
{
    long n = cfg->workers ? cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (int)n;
}

int main(int argc, char **argv)
{
    struct gd_config cfg;
    int fds[WORKERS_MAX], rc = cfg_startup(&cfg, CFG_ENTRY_API, "entry-api", argc, argv);
    if (rc != CFG_RUN) {
        cfg_free(&cfg);
        return rc;
    }
    /* Before any fork: a worker must never meet SIGHUP's default (exit). */
    sig_install_reload();
    scripts_init();
    int n = worker_count(&cfg);
    struct metrics *m = metrics_create(n);
    if (!m || workers_listen(cfg.listen_addr, n, fds) != GD_OK) {
        log_error(NULL, "start-up failed");
        metrics_destroy(m);
        cfg_free(&cfg);
        return 1;
    }
    log_info(NULL, "listening on %s with %d worker%s", cfg.listen_addr, n, n > 1 ? "s" : "");
    int index = n == 1 ? 0 : workers_run(n, fds, cfg.drain_timeout_ms + 5000, &rc);
    if (index >= 0)
        rc = run_worker(&cfg, m, index, fds[index]);
    else
        log_info(NULL, "stopped");
    metrics_destroy(m);
    cfg_free(&cfg);
    return rc;
}
