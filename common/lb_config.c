/*
 * lb_config.c - lb_create_from_config(): the endpoint list as one
 * configuration string, "NAME[=WEIGHT],NAME[=WEIGHT],...".  Parsing only;
 * every other check is lb_create()'s, so both entry points refuse the same
 * things with the same words.  Works on a private copy of the string, freed
 * before returning.
 */
#include "lb_internal.h"

#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
    return s;
}

/* Strict decimal 1..LB_MAX_WEIGHT: no sign, no spaces inside, no "3x" (no atoi). */
static int parse_weight(const char *s, int *out)
{
    int v = 0;
    if (*s == '\0')
        return GD_ECONFIG;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > LB_MAX_WEIGHT)
            return GD_ECONFIG;
        v = v * 10 + (*s - '0');
    }
    if (v < 1 || v > LB_MAX_WEIGHT)
        return GD_ECONFIG;
    *out = v;
    return GD_OK;
}

/* Split copy (modified in place) into eps; names point into copy. */
static int split(char *copy, struct lb_endpoint *eps, size_t *n, char *err, size_t err_len)
{
    *n = 0;
    if (*trim(copy) == '\0') {
        lb_set_err(err, err_len, "no endpoints configured (expected NAME[=WEIGHT],...)");
        return GD_ECONFIG;
    }
    for (char *item = copy, *next; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        if (*n == LB_MAX_ENDPOINTS) {
            lb_set_err(err, err_len, "more than %d endpoints", LB_MAX_ENDPOINTS);
            return GD_ECONFIG;
        }
        struct lb_endpoint *e = &eps[(*n)++];
        e->weight = 1;
        char *eq = strrchr(item, '=');
        if (eq) {
            *eq = '\0';
            char *w = trim(eq + 1);
            if (parse_weight(w, &e->weight) != GD_OK) {
                lb_set_err(err, err_len,
                           "endpoint %zu (\"%.64s\"): weight \"%.16s\" is not an integer in 1..%d",
                           *n, trim(item), w, LB_MAX_WEIGHT);
                return GD_ECONFIG;
            }
        }
        e->name = trim(item);
        if (*e->name == '\0') {
            lb_set_err(err, err_len, "endpoint %zu: empty item (stray comma?)", *n);
            return GD_ECONFIG;
        }
    }
    return GD_OK;
}

int lb_create_from_config(const char *policy, const char *endpoints, const struct lb_options *opts,
                          struct lb **out, char *err, size_t err_len)
{
    if (!out)
        return GD_EINVAL;
    *out = NULL;
    if (!policy || !endpoints)
        return GD_EINVAL;
    enum lb_policy p;
    if (lb_policy_from_name(policy, &p) != GD_OK)
        return lb_create(policy, NULL, 0, opts, out, err, err_len); /* its message, once */
    char *copy = strdup(endpoints);
    struct lb_endpoint eps[LB_MAX_ENDPOINTS];
    size_t n = 0;
    int rc;
    if (!copy) {
        lb_set_err(err, err_len, "out of memory");
        return GD_ENOMEM;
    }
    rc = split(copy, eps, &n, err, err_len);
    if (rc == GD_OK)
        rc = lb_create(policy, eps, n, opts, out, err, err_len);
    free(copy);
    return rc;
}
