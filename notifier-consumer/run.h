/*
 * run.h - notifier-consumer's loop: one winner at a time from notify.kakao
 * and notify.sms, through the ledger and the provider, acked after the
 * outcome is committed.
 */
#ifndef GD_NOTIFIER_RUN_H
#define GD_NOTIFIER_RUN_H

#include "config.h"

int notifier_run(const struct gd_config *cfg);

#endif
