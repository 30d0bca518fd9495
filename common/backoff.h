/*
 * backoff.h - exponential backoff with full jitter for reconnect loops, so a
 * fleet of consumers does not reconnect to a restarted broker in lockstep.
 */
#ifndef GD_BACKOFF_H
#define GD_BACKOFF_H

struct backoff {
    int base_ms;
    int max_ms;
    int attempt;
};

void backoff_init(struct backoff *b, int base_ms, int max_ms);
/*
 * Delay before the next attempt: random in [cap/4, cap] where cap =
 * min(max, base * 2^attempt) (at least 4 ms, so never 0); bumps attempt.
 */
int backoff_next_ms(struct backoff *b);
void backoff_reset(struct backoff *b);

#endif
