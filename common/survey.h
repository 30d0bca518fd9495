/*
 * survey.h - an event's survey and the validation of a member's answers.
 *
 * A survey is {"questions":[{"id","type":"single"|"multi"|"text","text",
 * "required", "choices":[...], "max", "max_len"}...]}.  Answers map question
 * ids to a string (single, text) or an array of strings (multi).
 */
#ifndef GD_SURVEY_H
#define GD_SURVEY_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define SURVEY_MAX_QUESTIONS 32
#define SURVEY_MAX_CHOICES 32
#define SURVEY_MAX_TEXT 1000 /* upper bound for a text question's max_len */

struct survey; /* opaque */

/*
 * Parse and check a survey definition.  Refuses (GD_ESURVEY, reason in err)
 * unknown types, duplicate or empty ids, ids longer than 64 or outside
 * [A-Za-z0-9_-], single/multi without choices, duplicate choices, max outside
 * 1..number of choices, text without 1 <= max_len <= SURVEY_MAX_TEXT, more than
 * SURVEY_MAX_QUESTIONS questions.  On success *out is owned by the caller:
 * free with survey_free().
 */
int survey_parse(const char *json, size_t len, struct survey **out, char *err, size_t err_len);

void survey_free(struct survey *s);

/*
 * Check answers (a cJSON object) against s.  Returns 0, or GD_EANSWERS with
 * detail naming the offending question: not an object, unknown question id,
 * required question missing, wrong JSON type, choice not allowed, duplicate
 * choice or too many picks in a multi, empty/too long text (length counted in
 * UTF-8 code points; invalid UTF-8 refused).
 */
int survey_check_answers(const struct survey *s, const cJSON *answers, char *detail,
                         size_t detail_len);

#endif
