/*
 * entry.h - POST /v1/events/{id}/entries: the path of an entry from the
 * request to the 202 (DESIGN §3).
 *
 *   sold-out memory -> media type, size, token, JSON -> readiness ->
 *   survey (cached) and answers -> one gate script in Redis -> publish with
 *   confirm -> 202 with Location.
 *
 * Never 202 without the broker's confirm: a nack, a return, a missed
 * deadline, a lost connection or a blocked broker answers 503 and rolls the
 * gate back (gate_rollback.lua), so the member's retry is a first entry.
 */
#ifndef GD_ENTRY_H
#define GD_ENTRY_H

#include "reply.h"

/* Handle the POST; t is copied.  Answers exactly once, now or later. */
void entry_post(const struct reply_to *t, long long event_id);

/* The member id from the request's bearer token: 0, or a GD_EAUTH_* code. */
int entry_authenticate(struct app *a, struct evhttp_request *req, char *member, size_t cap);

#endif
