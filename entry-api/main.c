/*
 * entry-api - the public HTTP API members' phones call (DESIGN §3).
 * Load config, build the app, run until SIGTERM, tear down.
 */
#include "app.h"
#include "config.h"
#include "log.h"
#include "scripts.h"
#include "signals.h"

int main(int argc, char **argv)
{
    struct gd_config cfg;
    struct app app;
    int rc = cfg_startup(&cfg, CFG_ENTRY_API, "entry-api", argc, argv);
    if (rc != CFG_RUN) {
        cfg_free(&cfg);
        return rc;
    }
    sig_install();
    scripts_init();
    if (app_init(&app, &cfg) != 0) {
        log_error(NULL, "start-up failed");
        app_free(&app);
        cfg_free(&cfg);
        return 1;
    }
    app_run(&app);
    app_free(&app);
    log_info(NULL, "stopped");
    cfg_free(&cfg);
    return 0;
}
