#include "backoff.h"

#include <stdint.h>
#include <sys/random.h>

void backoff_init(struct backoff *b, int base_ms, int max_ms)
{
    b->base_ms = base_ms;
    b->max_ms = max_ms;
    b->attempt = 0;
}

int backoff_next_ms(struct backoff *b)
{
    int64_t cap = b->base_ms;
    for (int i = 0; i < b->attempt && cap < b->max_ms; i++)
        cap *= 2;
    if (cap > b->max_ms)
        cap = b->max_ms;
    if (cap < 4)
        cap = 4; /* so the floor below is at least 1 ms */
    if (b->attempt < 30)
        b->attempt++;
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
        r = (uint32_t)cap / 2;
    /* Never zero: a floor of a quarter of the cap keeps retry storms bounded. */
    return (int)(cap / 4 + (int64_t)(r % (uint32_t)(cap - cap / 4 + 1)));
}

void backoff_reset(struct backoff *b)
{
    b->attempt = 0;
}
