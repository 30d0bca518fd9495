#include "signals.h"

#include <string.h>

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reload_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_reload(int sig)
{
    (void)sig;
    reload_flag = 1;
}

static void set_handler(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void sig_install(void)
{
    set_handler(SIGTERM, on_signal);
    set_handler(SIGINT, on_signal);
    set_handler(SIGPIPE, SIG_IGN);
}

int sig_stop_requested(void)
{
    return stop_flag != 0;
}

void sig_request_stop(void)
{
    stop_flag = 1;
}

void sig_install_reload(void)
{
    set_handler(SIGHUP, on_reload);
}

int sig_reload_requested(void)
{
    if (!reload_flag)
        return 0;
    /* Cleared before the caller reads its files: a SIGHUP that comes after
     * this line asks again, one before it is answered by that read. */
    reload_flag = 0;
    return 1;
}
