/*
 * fp_restore.c - the ledger from the record file (see fp_restore.h).
 */
#include "fp_restore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fp_base.h"

/* The sequence part of "YYYYMMDD-SEQ-XXXX", or 0. */
static uint64_t request_seq(const char *id)
{
    const char *dash = strchr(id, '-');
    return dash != NULL ? strtoull(dash + 1, NULL, 10) : 0;
}

/* One record line back into a stored send; false when it holds none. */
static bool restore_line(struct fp_app *app, const cJSON *rec, int64_t now_wall, int64_t now_mono)
{
    const cJSON *stored = cJSON_GetObjectItemCaseSensitive(rec, "stored");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "request_id");
    const cJSON *channel = cJSON_GetObjectItemCaseSensitive(rec, "channel");
    const cJSON *recipients = cJSON_GetObjectItemCaseSensitive(rec, "recipients");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(rec, "idempotency_key");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(rec, "ts_ms");
    if (!cJSON_IsTrue(stored) || !cJSON_IsString(id) || !cJSON_IsString(channel) ||
        !cJSON_IsArray(recipients) || cJSON_GetArraySize(recipients) == 0 ||
        strlen(id->valuestring) >= sizeof(((struct fp_send *)0)->request_id))
        return false;
    struct fp_send *send = fp_send_new((size_t)cJSON_GetArraySize(recipients));
    snprintf(send->request_id, sizeof(send->request_id), "%s", id->valuestring);
    send->channel = strcmp(channel->valuestring, "kakao") == 0 ? FP_CHANNEL_KAKAO : FP_CHANNEL_SMS;
    send->idempotency_key = cJSON_IsString(key) ? fp_xstrdup(key->valuestring) : NULL;
    send->remember_key = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "remembered"));
    /* The window counts from the original send, not from the restart. */
    int64_t age = cJSON_IsNumber(ts) ? now_wall - (int64_t)ts->valuedouble : 0;
    send->sent_mono_ms = now_mono - (age > 0 ? age : 0);
    size_t i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, recipients)
    {
        const cJSON *no = cJSON_GetObjectItemCaseSensitive(r, "recipientNo");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(r, "resultCode");
        send->deliveries[i].recipient_no = fp_xstrdup(cJSON_IsString(no) ? no->valuestring : "");
        send->deliveries[i].result_code = cJSON_IsNumber(code) ? code->valueint : FP_RESULT_OK;
        i++;
    }
    uint64_t seq = request_seq(send->request_id);
    if (seq > app->next_seq)
        app->next_seq = seq;
    fp_store_add(&app->store, send);
    return true;
}

long fp_restore(struct fp_app *app)
{
    FILE *f = fopen(app->opt->record_path, "r");
    if (f == NULL)
        return errno == ENOENT ? 0 : -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long restored = 0, skipped = 0;
    int64_t now_wall = fp_now_ms(), now_mono = fp_mono_ms();
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        cJSON *rec = cJSON_ParseWithLength(line, (size_t)len);
        if (rec == NULL) {
            skipped++; /* a line cut short by a SIGKILL */
            continue;
        }
        fp_store_add_record(&app->store, line, (size_t)len);
        restored += restore_line(app, rec, now_wall, now_mono);
        cJSON_Delete(rec);
    }
    free(line);
    fclose(f);
    char text[96];
    snprintf(text, sizeof(text), "sends=%ld records=%zu skipped=%ld", restored,
             app->store.n_records, skipped);
    fp_log("info", "ledger restored", "restore", text);
    return restored;
}
