#include "classify.h"

#include <string.h>

int redis_error_transient(const char *err)
{
    /* Error prefixes a healthy Redis answers only while restarting, failing
     * over, loading its AOF, or under a long script or memory pressure. */
    static const char *const transient[] = {"NOSCRIPT",
                                            "LOADING",
                                            "BUSY",
                                            "MASTERDOWN",
                                            "READONLY",
                                            "OOM",
                                            "TRYAGAIN",
                                            "MOVED",
                                            "ASK",
                                            "CLUSTERDOWN",
                                            "NOREPLICAS",
                                            "NOAUTH",
                                            "ERR max number of clients"};
    if (!err)
        return 1;
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
        size_t n = strlen(transient[i]);
        /* whole word: "ASK" must not match "ASKING..." style words of other errors */
        if (strncmp(err, transient[i], n) == 0 && (err[n] == ' ' || err[n] == '\0'))
            return 1;
    }
    return 0;
}

int pg_rows_at_fault(const char *sqlstate)
{
    return sqlstate && (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0);
}
