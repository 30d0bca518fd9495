/*
 * run.h - notifier-consumer's event loop: winners from notify.kakao and
 * notify.sms, many at a time, through the ledger and the providers, each
 * acked after its outcome is committed (see job.c for one winner's way).
 */
#ifndef GD_NOTIFIER_RUN_H
#define GD_NOTIFIER_RUN_H

#include "config.h"

/* Run until a stop is requested; 0, or 1 when start-up failed. */
int notifier_run(const struct gd_config *cfg);

#endif
