/*
 * fp_base.c - allocation wrapper, clocks and log lines (see fp_base.h).
 */
#include "fp_base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

static void oom(size_t size)
{
    /* No allocation here: we are out of memory. */
    fprintf(stderr, "gd-fake-provider: out of memory allocating %zu bytes\n", size);
    abort();
}

void *fp_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        oom(size);
    return p;
}

void *fp_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        oom(count * size);
    return p;
}

void *fp_xrealloc(void *ptr, size_t size)
{
    /* realloc(p, 0) may free p and return NULL; never ask for that. */
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        oom(size);
    return p;
}

char *fp_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = fp_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void fp_install_allocator(void)
{
    cJSON_Hooks hooks = {.malloc_fn = fp_xmalloc, .free_fn = free};
    cJSON_InitHooks(&hooks);
    event_set_mem_functions(fp_xmalloc, fp_xrealloc, free);
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fp_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t fp_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

void fp_log(const char *level, const char *msg, const char *key, const char *value)
{
    cJSON *line = cJSON_CreateObject();
    cJSON_AddNumberToObject(line, "ts_ms", (double)fp_now_ms());
    cJSON_AddStringToObject(line, "level", level);
    cJSON_AddStringToObject(line, "service", "gd-fake-provider");
    cJSON_AddStringToObject(line, "msg", msg);
    if (key != NULL)
        cJSON_AddStringToObject(line, key, value != NULL ? value : "");
    char *text = cJSON_PrintUnformatted(line);
    fprintf(stderr, "%s\n", text);
    free(text);
    cJSON_Delete(line);
}
