/*
 * rds.h - synchronous Redis access over hiredis 0.14 for the consumers and
 * eventctl (entry-api uses hiredis' async API on its event loop).
 *
 * hiredis 0.14 has no URL parser: rds_parse_url() reads
 * redis://[:password@]host[:port][/db].  Every command is bounded by the
 * connect timeout.  On any I/O error the context is dropped (r->ctx NULL);
 * the next rds_ensure() reconnects and reloads the scripts.  Replies are
 * hiredis' redisReply: the caller frees them with freeReplyObject().
 */
#ifndef GD_RDS_H
#define GD_RDS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "scripts.h"

struct rds_addr {
    char host[256];
    int port;
    char password[256];
    int db;
};

struct rds {
    redisContext *ctx;
    char url[512];
    int timeout_ms;
    char err[256];
};

/* 0 or GD_ECONFIG. */
int rds_parse_url(const char *url, struct rds_addr *a);

/* Remember url/timeout and connect (AUTH, SELECT, SCRIPT LOAD of every script). */
int rds_connect(struct rds *r, const char *url, int timeout_ms);
/* Reconnect if the context was dropped; 0 when usable. */
int rds_ensure(struct rds *r);
void rds_close(struct rds *r);

/* One blocking command from argv (binary safe).  *out owned by the caller. */
int rds_command(struct rds *r, redisReply **out, int argc, const char **argv, const size_t *lens);
/* printf-style convenience for fixed commands; never pass untrusted text in fmt. */
int rds_commandf(struct rds *r, redisReply **out, const char *fmt, ...);

/* Queue EVALSHA of script id (pipelining); read results with rds_read_reply(). */
int rds_append_script(struct rds *r, enum script_id id, int nkeys, int argc, const char **argv);
/*
 * Next pipelined reply.  An error reply is returned as GD_EREDIS_REPLY with
 * the text in r->err (a NOSCRIPT also drops the connection so scripts get
 * reloaded); I/O failure as GD_EREDIS_IO.
 */
int rds_read_reply(struct rds *r, redisReply **out);
/* EVALSHA one script, falling back to EVAL on NOSCRIPT. */
int rds_eval(struct rds *r, enum script_id id, int nkeys, int argc, const char **argv,
             redisReply **out);

/* "ev:{<id>}:<suffix>" - every key of an event shares the hash tag {<id>}. */
void rds_key(char *out, size_t cap, long long event_id, const char *suffix);

/*
 * gate.lua's 7 KEYS and 4 ARGV, in its order (see the script's header), for
 * entry-api and the benchmark that does the same gate call: argv points into
 * g and at member and entry_id, which must outlive it.
 */
struct rds_gate_args {
    char keys[7][96];
    char limit[24], window_ms[24];
    const char *argv[11];
};
void rds_gate_args(struct rds_gate_args *g, long long event_id, const char *member,
                   const char *entry_id, long limit, long window_ms);

#endif
