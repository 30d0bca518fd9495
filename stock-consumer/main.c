/*
 * stock-consumer - decides winners (DESIGN §1): consumes stock.entries,
 * claims in Redis, records outcomes in PostgreSQL, republishes winners.
 */
#include "config.h"
#include "log.h"
#include "run.h"
#include "scripts.h"
#include "signals.h"

int main(int argc, char **argv)
{
    struct gd_config cfg;
    int rc = cfg_startup(&cfg, CFG_STOCK, "stock-consumer", argc, argv);
    if (rc != CFG_RUN) {
        cfg_free(&cfg);
        return rc;
    }
    sig_install();
    scripts_init();
    rc = stock_run(&cfg);
    log_info(NULL, "stopped");
    cfg_free(&cfg);
    return rc;
}
