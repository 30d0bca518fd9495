/*
 * scripts.h - the Redis Lua scripts (common/scripts/NAME.lua, embedded at
 * build time) and their SHA1s.  Every connection loads them all on connect;
 * a NOSCRIPT (Redis restarted, script cache flushed) falls back to EVAL.
 */
#ifndef GD_SCRIPTS_H
#define GD_SCRIPTS_H

enum script_id {
    SCRIPT_GATE,
    SCRIPT_GATE_ROLLBACK,
    SCRIPT_CLAIM,
    SCRIPT_EVENT_INFO,
    SCRIPT_ENTRY_STATUS,
    SCRIPT_NOTIFIED,
    SCRIPT_COUNT
};

struct script {
    const char *name;
    const char *body;
    char sha[41];
};

/* Compute the SHA1s; call once in main() before any thread starts. */
void scripts_init(void);
/* Borrowed, valid for the program's life. */
const struct script *script_get(enum script_id id);

#endif
