#include "problem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static const struct {
    const char *code;
    int status;
    const char *title;
} problems[PB_COUNT] = {
#define GD_PB_ROW(id, code, status, title) [id] = {code, status, title},
    GD_PROBLEM_LIST(GD_PB_ROW)
#undef GD_PB_ROW
};

const char *problem_code(enum problem_id id)
{
    return problems[id].code;
}

int problem_status(enum problem_id id)
{
    return problems[id].status;
}

const char *problem_title(enum problem_id id)
{
    return problems[id].title;
}

char *problem_render(enum problem_id id, const char *detail, const char *extra)
{
    char type[128];
    snprintf(type, sizeof(type), "https://giftdrop.dev/problems/%s", problems[id].code);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "title", problems[id].title);
    cJSON_AddNumberToObject(o, "status", problems[id].status);
    cJSON_AddStringToObject(o, "detail", detail ? detail : problems[id].title);
    cJSON_AddStringToObject(o, "code", problems[id].code);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!body || !extra || !extra[0])
        return body;
    /* splice the extra members before the closing brace */
    size_t n = strlen(body), e = strlen(extra);
    char *out = malloc(n + e + 2);
    if (out) {
        memcpy(out, body, n - 1);
        out[n - 1] = ',';
        memcpy(out + n, extra, e);
        out[n + e] = '}';
        out[n + e + 1] = '\0';
    }
    free(body);
    return out;
}

const char *problem_plain(enum problem_id id)
{
    static char *plain[PB_COUNT];
    if (!plain[id])
        plain[id] = problem_render(id, NULL, NULL);
    return plain[id];
}
