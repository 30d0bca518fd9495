#include "db.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"

static int do_connect(struct db *d)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {d->url, d->app, "5", NULL};
    if (d->conn)
        PQfinish(d->conn);
    d->n_prepared = 0; /* a new session has no prepared statements */
    d->prepared_conn = NULL;
    d->conn = PQconnectdbParams(keys, vals, 1);
    if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
        snprintf(d->err, sizeof(d->err), "%s", d->conn ? PQerrorMessage(d->conn) : "out of memory");
        d->err[strcspn(d->err, "\n")] = '\0';
        if (d->conn)
            PQfinish(d->conn);
        d->conn = NULL;
        return GD_EPG_CONNECT;
    }
    return GD_OK;
}

int db_connect(struct db *d, const char *url, const char *app)
{
    memset(d, 0, sizeof(*d));
    if (strlen(url) >= sizeof(d->url))
        return GD_ECONFIG;
    snprintf(d->url, sizeof(d->url), "%s", url);
    snprintf(d->app, sizeof(d->app), "%s", app);
    return do_connect(d);
}

int db_ensure(struct db *d)
{
    if (d->conn && PQstatus(d->conn) == CONNECTION_OK)
        return GD_OK;
    return do_connect(d);
}

void db_close(struct db *d)
{
    if (d->conn)
        PQfinish(d->conn);
    d->conn = NULL;
}

/* Translate a result: 0 with *out (when wanted), or the error code with
 * the message and SQLSTATE in d. */
static int result(struct db *d, PGresult *res, PGresult **out)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (out)
            *out = res;
        else
            PQclear(res);
        return GD_OK;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(d->sqlstate, sizeof(d->sqlstate), "%s", state ? state : "");
    snprintf(d->err, sizeof(d->err), "%s", PQerrorMessage(d->conn));
    d->err[strcspn(d->err, "\n")] = '\0';
    PQclear(res);
    if (PQstatus(d->conn) != CONNECTION_OK)
        return GD_EPG_CONNECT;
    /* 23505 unique_violation, 23P01 exclusion_violation */
    if (strcmp(d->sqlstate, "23505") == 0 || strcmp(d->sqlstate, "23P01") == 0)
        return GD_EPG_CONFLICT;
    return GD_EPG_QUERY;
}

int db_query(struct db *d, const char *sql, int nparams, const char *const *params, PGresult **out)
{
    int rc = db_ensure(d);
    if (rc != GD_OK)
        return rc;
    return result(d, PQexecParams(d->conn, sql, nparams, NULL, params, NULL, NULL, 0), out);
}

int db_query_prepared(struct db *d, const char *name, const char *sql, int nparams,
                      const char *const *params, PGresult **out)
{
    int rc = db_ensure(d);
    if (rc != GD_OK)
        return rc;
    if (d->prepared_conn != d->conn) { /* do_connect() emptied the list */
        d->prepared_conn = d->conn;
        d->n_prepared = 0;
    }
    int known = 0;
    for (int i = 0; i < d->n_prepared && !known; i++)
        known = strcmp(d->prepared[i], name) == 0;
    if (!known) {
        if (d->n_prepared == DB_MAX_PREPARED)
            return GD_ETOOBIG;
        if ((rc = result(d, PQprepare(d->conn, name, sql, nparams, NULL), NULL)) != GD_OK)
            return rc;
        d->prepared[d->n_prepared++] = name;
    }
    return result(d, PQexecPrepared(d->conn, name, nparams, params, NULL, NULL, 0), out);
}

int db_exec(struct db *d, const char *sql)
{
    return db_query(d, sql, 0, NULL, NULL);
}

int db_begin(struct db *d)
{
    return db_exec(d, "BEGIN");
}

int db_commit(struct db *d)
{
    return db_exec(d, "COMMIT");
}

void db_rollback(struct db *d)
{
    if (d->conn && PQstatus(d->conn) == CONNECTION_OK)
        PQclear(PQexec(d->conn, "ROLLBACK"));
}
