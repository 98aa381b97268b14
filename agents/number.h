/*
 * number.h - a resident's number as the agent takes it in: the rule it must
 * follow, and the one form it is kept in.
 *
 * Under the default rule, "mynumber", the number is a Japanese individual
 * number (My Number, 個人番号): 12 digits, the last a check digit.  What an
 * operator types or a file holds is normalized first: full-width digits
 * (０-９) become ASCII digits, and spaces (ASCII or the ideographic space)
 * and hyphens (ASCII, full-width and the usual dash look-alikes) are dropped.
 * The result, 12 ASCII digits, is what the local table keys on, so
 * "1234 5678 9018" and "123456789018" are the same person.
 *
 * Under the rule "any" the number is taken as it is, as before this rule
 * existed: 1 to RK_PERSON_MAX printable ASCII characters, no spaces.
 *
 * Nothing here writes the number anywhere: messages say what is wrong
 * ("has 11 digits"), never what was given.
 */
#ifndef RENKEI_AGENT_NUMBER_H
#define RENKEI_AGENT_NUMBER_H

#include <stdbool.h>
#include <stddef.h>

#include "renkei/agent.h"

typedef enum rk_number_rule {
    RK_NUMBER_MYNUMBER = 0, /* 12 digits with a valid check digit (the default) */
    RK_NUMBER_ANY = 1       /* 1..RK_PERSON_MAX printable ASCII characters, no spaces */
} rk_number_rule;

#define RK_MYNUMBER_DIGITS 12

/* "mynumber" or "any" into *out; false (and *out untouched) otherwise. */
bool rk_number_rule_parse(const char *text, rk_number_rule *out);

/* "mynumber" or "any". */
const char *rk_number_rule_name(rk_number_rule rule);

/* The check digit (0..9) of the 11 ASCII digits d[0..10] (d[0] the most
 * significant), by the published formula (see number.c); -1 if any of
 * them is not an ASCII digit. */
int rk_mynumber_check_digit(const char d[11]);

/* Takes raw (len bytes, not necessarily NUL-terminated; no line ending) as
 * a resident's number under rule and writes its normal form to out,
 * NUL-terminated.  true on success; otherwise false, out holds "" and why
 * says what is wrong without repeating the number.  The caller wipes raw
 * and out after use; nothing else keeps a copy. */
bool rk_number_normalize(rk_number_rule rule, const char *raw, size_t len, char out[RK_PERSON_MAX + 1],
                         char *why, size_t why_len);

#endif /* RENKEI_AGENT_NUMBER_H */
