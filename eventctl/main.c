/*
 * eventctl - create, seed, arm, inspect, reconcile and close events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "scripts.h"

static const struct {
    const char *name;
    int (*fn)(struct ctl *, int, char **);
    const char *usage;
} verbs[] = {
    {"create", verb_create, "create FILE.json           create an event, print its id"},
    {"seed", verb_seed,
     "seed EVENT --members N [--first K] [--prefix m-] [--kakao-percent P]\n"
     "                             demo members, purchases and coupon codes"},
    {"arm", verb_arm,
     "arm EVENT                  load the event into Redis (stock, eligible,"
     " survey, window)"},
    {"status", verb_status, "status EVENT [--json]      stock, entries, winners, sends"},
    {"reconcile", verb_reconcile,
     "reconcile EVENT [--json]   check every invariant, exit 1 on"
     " a violation"},
    {"watch", verb_watch,
     "watch --listen HOST:PORT [--interval S] [--final-after S] | watch --once\n"
     "                             reconcile every live event again and again;"
     " /metrics for Prometheus"},
    {"close", verb_close, "close EVENT                close the event now"},
    {"token", verb_token, "token MEMBER [--ttl S]     mint a member token (tests, demos)"},
    {"rearm", verb_rearm,
     "rearm EVENT [--force]      rebuild the event's Redis state from PostgreSQL"},
    {"import-coupons", verb_import_coupons,
     "import-coupons EVENT FILE.csv\n"
     "                             load the vendor's codes (header \"code\" or"
     " \"code,safety\"), all or nothing"},
    {"release-safety", verb_release_safety,
     "release-safety EVENT N     hand N held-back units to the winners (PG + Redis)"},
    {"dlq", verb_dlq,
     "dlq list [QUEUE] [--limit N] [--json] | dlq replay QUEUE [--limit N] [--json]\n"
     "                             queue depths, dead letters; replay them with confirms"},
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static void usage(void)
{
    fprintf(stderr, "usage: eventctl VERB [args]\n\nverbs:\n");
    for (size_t i = 0; i < NVERBS; i++)
        fprintf(stderr, "  %s\n", verbs[i].usage);
    fprintf(stderr, "\nSettings come from the environment; see eventctl --help-config.\n");
}

int main(int argc, char **argv)
{
    struct gd_config cfg;
    struct ctl c;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--help-config") == 0 || strcmp(argv[1], "--check-config") == 0) {
        char *a[] = {argv[0], strcmp(argv[1], "--help-config") == 0 ? "--help" : argv[1]};
        int rc = cfg_startup(&cfg, CFG_EVENTCTL, "eventctl", 2, a);
        cfg_free(&cfg);
        return rc == CFG_RUN ? 0 : rc;
    }
    for (size_t i = 0; i < NVERBS; i++) {
        if (strcmp(argv[1], verbs[i].name) != 0)
            continue;
        char *noargs[] = {argv[0]};
        /* eventctl logs only warnings by default: its stdout is for people. */
        setenv("LOG_LEVEL", "warn", 0);
        int rc = cfg_startup(&cfg, CFG_EVENTCTL, "eventctl", 1, noargs);
        if (rc != CFG_RUN) {
            cfg_free(&cfg);
            return rc;
        }
        memset(&c, 0, sizeof(c));
        c.cfg = &cfg;
        scripts_init();
        rc = verbs[i].fn(&c, argc - 2, argv + 2);
        db_close(&c.db);
        rds_close(&c.redis);
        cfg_free(&cfg);
        return rc;
    }
    fprintf(stderr, "eventctl: unknown verb \"%s\"\n\n", argv[1]);
    usage();
    return 2;
}
