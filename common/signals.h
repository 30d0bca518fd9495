/*
 * signals.h - the stop flag.  SIGTERM/SIGINT set it; loops poll it and stop
 * taking work.  It is one of two globals giftdrop allows (with the log sink);
 * the reload flag (SIGHUP) is its sibling.
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

/*
 * SIGHUP: "read your files again" (entry-api: the JWT keys).  Installs the
 * handler only, so a process may do it before it forks: the children
 * inherit it, and a parent that blocks SIGHUP still takes it with
 * sigtimedwait().  sig_reload_requested() is nonzero once after one or more
 * SIGHUPs and clears the flag: read the files after calling it.
 */
void sig_install_reload(void);
int sig_reload_requested(void);

#endif
