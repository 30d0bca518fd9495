/*
 * messages.h - the two message shapes on the broker (DESIGN §4), encoded and
 * decoded in one place.  Decoding is strict: a body that does not match is a
 * poison message, and `why` says exactly what is wrong (it becomes the
 * dead-letter reason header).
 */
#ifndef GD_MESSAGES_H
#define GD_MESSAGES_H

#include <stddef.h>

#include "timeutil.h"
#include "uuid.h"

#define MSG_TYPE_ENTRY  "entry.submitted.v1"
#define MSG_TYPE_WINNER "winner.v1"
#define MSG_MEMBER_MAX  64
#define MSG_PHONE_MAX   24

/* entry.submitted.v1 */
struct entry_msg {
    char entry_id[UUID_STR_LEN];
    long long event_id;
    char member_id[MSG_MEMBER_MAX + 1];
    char submitted_at[TIME_RFC3339_LEN];
    char *answers_json; /* compact JSON object text; owned, freed by entry_msg_clear() */
};

/* winner.v1 */
struct winner_msg {
    char entry_id[UUID_STR_LEN];
    long long event_id;
    char member_id[MSG_MEMBER_MAX + 1];
    long seq;
    char channel[8]; /* "kakao" or "sms" */
    char phone[MSG_PHONE_MAX + 1];
    char won_at[TIME_RFC3339_LEN];
};

/* 1 when id is 1..64 chars of [A-Za-z0-9_.-] (the JWT sub rule). */
int member_id_valid(const char *id);
/* 1 when p is an optional '+' and 6..20 digits. */
int phone_valid(const char *p);

/* Encode m; *out is malloc'd JSON (caller frees), *len its length. GD_ENOMEM on failure. */
int entry_msg_encode(const struct entry_msg *m, char **out, size_t *len);
/* Decode body; on success m->answers_json is owned by m. Returns 0 or GD_EMESSAGE with why. */
int entry_msg_decode(const char *body, size_t len, struct entry_msg *m, char *why, size_t why_len);
void entry_msg_clear(struct entry_msg *m);

int winner_msg_encode(const struct winner_msg *m, char **out, size_t *len);
int winner_msg_decode(const char *body, size_t len, struct winner_msg *m, char *why,
                      size_t why_len);

#endif
