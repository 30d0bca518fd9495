/*
 * db.h - PostgreSQL access over libpq.  One struct db per thread (libpq
 * connections are not shared).  On a broken connection db_ensure()
 * reconnects; a failed statement inside a transaction leaves the caller to
 * db_rollback().  Results are libpq PGresult, owned by the caller (PQclear).
 */
#ifndef GD_DB_H
#define GD_DB_H

#include <libpq-fe.h>

#define DB_MAX_PREPARED 16

struct db {
    PGconn *conn;
    char url[512];
    char app[64];
    char err[512];
    char sqlstate[6];
    /* statements prepared on conn by db_query_prepared (a new connection
     * starts with none) */
    PGconn *prepared_conn;
    const char *prepared[DB_MAX_PREPARED];
    int n_prepared;
};

/* Connect with application_name = app (shows in pg_stat_activity). */
int db_connect(struct db *d, const char *url, const char *app);
/* Reconnect if the connection is bad. 0 when usable. */
int db_ensure(struct db *d);
void db_close(struct db *d);

/*
 * Run sql with text parameters (NULL for SQL NULL).  *out (may be NULL when
 * the result is not wanted) receives the result on success.  Returns 0,
 * GD_EPG_CONFLICT on a unique/exclusion violation, GD_EPG_QUERY on another
 * error (message in d->err, SQLSTATE in d->sqlstate), GD_EPG_CONNECT when
 * the connection is gone.
 */
int db_query(struct db *d, const char *sql, int nparams, const char *const *params, PGresult **out);
/*
 * db_query() for a hot statement: prepared once per connection under name
 * (a static string, also the statement's name in pg_prepared_statements),
 * then executed without parsing and, after PostgreSQL's first few runs,
 * without planning.  Same returns as db_query(); GD_ETOOBIG when more than
 * DB_MAX_PREPARED names are used on one connection.
 */
int db_query_prepared(struct db *d, const char *name, const char *sql, int nparams,
                      const char *const *params, PGresult **out);
int db_exec(struct db *d, const char *sql); /* no parameters, no result */
int db_begin(struct db *d);
int db_commit(struct db *d);
void db_rollback(struct db *d); /* best effort */

#endif
