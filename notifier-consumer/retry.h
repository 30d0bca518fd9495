/*
 * retry.h - which delayed-retry queue a winner goes round after its n-th
 * failed attempt: NOTIFY_RETRY_SCHEDULE gives the delay of each retry in
 * seconds (the last repeats), so delays grow; a provider's Retry-After
 * makes it longer, never shorter.  Each delay is a retry queue's TTL
 * (common/topology.c), so the broker itself holds the message meanwhile.
 */
#ifndef GD_NOTIFIER_RETRY_H
#define GD_NOTIFIER_RETRY_H

#define RETRY_SCHEDULE_MAX 16

struct retry_schedule {
    long delay_s[RETRY_SCHEDULE_MAX];
    int n;
};

/* Parse "1,5,30" (already validated by the configuration loader); an empty
 * or unreadable string gives the shortest tier alone. */
void retry_schedule_parse(struct retry_schedule *s, const char *text);

/*
 * The retry queue (exchange) for a winner that failed its attempt-th
 * attempt (1-based), retry_after_s from the provider (-1: none): the
 * shortest tier at least as long as both the schedule's delay and
 * Retry-After, or the longest tier.
 */
const char *retry_tier(const struct retry_schedule *s, int attempt, long retry_after_s);

#endif
