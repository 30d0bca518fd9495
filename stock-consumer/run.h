/*
 * run.h - stock-consumer's main loop: keep the four connections up (with
 * backoff), collect a batch of deliveries, decide it, repeat until SIGTERM.
 */
#ifndef GD_RUN_H
#define GD_RUN_H

#include "config.h"

/* Returns 0 after a graceful stop. */
int stock_run(const struct gd_config *cfg);

#endif
