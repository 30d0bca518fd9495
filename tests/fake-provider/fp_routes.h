/*
 * fp_routes.h - the request router and the endpoints that are not sends:
 * message and idempotency lookups, health, stats, records, reset, config.
 */
#ifndef GD_FP_ROUTES_H
#define GD_FP_ROUTES_H

#include <event2/http.h>

/* The evhttp generic callback for every request; arg is the struct fp_app.
 * Unknown paths get 404, known paths with another method 405 + Allow. */
void fp_routes_dispatch(struct evhttp_request *req, void *arg);

#endif
