/*
 * signals.h - the stop flag.  SIGTERM/SIGINT set it; loops poll it and stop
 * taking work.  It is one of two globals giftdrop allows (with the log sink).
 */
#ifndef GD_SIGNALS_H
#define GD_SIGNALS_H

#include <signal.h>

/* Install SIGTERM/SIGINT handlers that set the flag; ignore SIGPIPE. */
void sig_install(void);
/* Nonzero once a stop was requested. */
int sig_stop_requested(void);
/* Request a stop from inside the program (tests, fatal start-up paths). */
void sig_request_stop(void);

#endif
