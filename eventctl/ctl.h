/*
 * ctl.h - eventctl, the operator's CLI (DESIGN §8, §9).  Each verb is one
 * function taking the connections and its own arguments; main.c holds the
 * table of verbs.  Verbs print what they did on stdout and errors on stderr,
 * and return the process exit code (0 ok, 1 failed, 2 bad arguments).
 */
#ifndef GD_CTL_H
#define GD_CTL_H

#include "config.h"
#include "db.h"
#include "rds.h"

struct ctl {
    const struct gd_config *cfg;
    struct db db;
    struct rds redis;
    int json; /* --json output where supported */
};

/* Connect to what a verb needs; prints the reason and returns 1 on failure. */
int ctl_need_db(struct ctl *c);
int ctl_need_redis(struct ctl *c);
struct rmq_opts;
/* Options of an eventctl broker connection named eventctl@<instance>:<pid>/role:
 * no heartbeat, 5 s for connect and every RPC. */
void ctl_rmq_opts(const struct ctl *c, struct rmq_opts *o, const char *role);
/* Parse a positive event id argument; prints and returns -1 on error. */
long long ctl_event_id(const char *s);
/* Parse "--name value" style integer options; 0 or -1 (printed). */
int ctl_long_arg(const char *name, const char *val, long min, long max, long *out);

int verb_create(struct ctl *c, int argc, char **argv);
int verb_seed(struct ctl *c, int argc, char **argv);
int verb_arm(struct ctl *c, int argc, char **argv);
int verb_status(struct ctl *c, int argc, char **argv);
int verb_close(struct ctl *c, int argc, char **argv);
int verb_token(struct ctl *c, int argc, char **argv);
int verb_reconcile(struct ctl *c, int argc, char **argv);
/* rearm.c: rebuild a lost Redis state from PostgreSQL. */
int verb_rearm(struct ctl *c, int argc, char **argv);
/* coupons.c: the coupon pool; dlq.c: dead-letter queues. */
int verb_import_coupons(struct ctl *c, int argc, char **argv);
int verb_release_safety(struct ctl *c, int argc, char **argv);
int verb_dlq(struct ctl *c, int argc, char **argv);
/* watch.c: the reconcile checks of every live event, for Prometheus. */
int verb_watch(struct ctl *c, int argc, char **argv);

#endif
