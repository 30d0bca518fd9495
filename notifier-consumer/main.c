/*
 * notifier-consumer - sends each winner one coupon (DESIGN §1, §7):
 * coupon from the pool, provider send, ledger row committed, then ack.
 */
#include <curl/curl.h>
#include <event2/thread.h>

#include "config.h"
#include "log.h"
#include "run.h"
#include "scripts.h"
#include "signals.h"

int main(int argc, char **argv)
{
    struct gd_config cfg;
    int rc = cfg_startup(&cfg, CFG_NOTIFIER, "notifier-consumer", argc, argv);
    if (rc != CFG_RUN) {
        cfg_free(&cfg);
        return rc;
    }
    sig_install();
    scripts_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* The ledger threads wake the loop with event_active(). */
    evthread_use_pthreads();
    rc = notifier_run(&cfg);
    curl_global_cleanup();
    log_info(NULL, "stopped");
    cfg_free(&cfg);
    return rc;
}
