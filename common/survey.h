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
#define SURVEY_MAX_CHOICES   32
#define SURVEY_MAX_TEXT      1000 /* upper bound for a text question's max_len */

struct survey; /* opaque */

/*
 * Parse and check a survey definition.  Refuses (GD_ESURVEY, reason in err)
 * unknown types, duplicate or empty ids, ids longer than 64 or outside
 * [A-Za-z0-9_-], single/multi without choices, duplicate choices, max outside
 * 1..number of choices, text without 1 <= max_len <= SURVEY_MAX_TEXT, more than
 * SURVEY_MAX_QUESTIONS questions.  On success *out is owned by the caller:
 * free with survey_free().
 *
 * Also refused with GD_ESURVEY: input that is not one JSON object (trailing
 * data, a NUL byte or \u0000 escape), members other than "questions" at the
 * top or other than the seven listed above in a question (a typo such as
 * "requried" must not pass silently), fields that do not apply to the type
 * (choices/max on text, max_len on single/multi, max on single), more than
 * SURVEY_MAX_CHOICES choices, choices that are not non-empty UTF-8 strings of
 * at most SURVEY_MAX_TEXT code points, a missing or empty "text" (at most
 * SURVEY_MAX_TEXT code points), "required" that is not a boolean.
 * Defaults: "required" false; "max" the number of choices.  An empty
 * "questions" array is a valid survey.  GD_EINVAL when out is NULL,
 * GD_ENOMEM when out of memory.  err may be NULL; *out is NULL on failure.
 */
int survey_parse(const char *json, size_t len, struct survey **out, char *err, size_t err_len);

void survey_free(struct survey *s);

/*
 * Check answers (a cJSON object) against s.  Returns 0, or GD_EANSWERS with
 * detail naming the offending question: not an object, unknown question id,
 * required question missing, wrong JSON type, choice not allowed, duplicate
 * choice or too many picks in a multi, empty/too long text (length counted in
 * UTF-8 code points; invalid UTF-8 refused).
 *
 * Also refused: the same question id twice in the object (cJSON keeps both).
 * An empty text or an empty multi array is refused only for a required
 * question; for an optional one it counts as "not answered".  JSON null is a
 * wrong type, not "absent".  The first problem in survey order is reported,
 * e.g. `question "q2": choice "purple" is not allowed`; values echoed from
 * the answers are cut to 40 code points with quotes, backslashes and control
 * characters replaced by '?', and the detail is always valid UTF-8 (cut at a
 * code point boundary when detail_len is short).  detail may be NULL.
 * GD_EINVAL when s is NULL.  s and answers are only read.
 */
int survey_check_answers(const struct survey *s, const cJSON *answers, char *detail,
                         size_t detail_len);

#endif
