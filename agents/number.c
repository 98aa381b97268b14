/*
 * number.c - normalizing and checking a resident's number (number.h).
 *
 * The check digit of a My Number is defined by 行政手続における特定の個人を
 * 識別するための番号の利用等に関する法律施行規則 (Ordinance of the Ministry
 * of Internal Affairs and Communications No. 85 of 2014), article 5, under
 * article 8 of the Cabinet Order of the My Number Act (e-Gov law search,
 * https://laws.e-gov.go.jp/):
 *
 *     check digit = 11 - (sum_{n=1..11} Pn * Qn) mod 11,
 *                   or 0 when (sum_{n=1..11} Pn * Qn) mod 11 <= 1
 *
 *     Pn  the n-th digit of the 11 digits before the check digit, counting
 *         the least significant (rightmost) one as n = 1
 *     Qn  n + 1 for 1 <= n <= 6, n - 5 for 7 <= n <= 11
 *
 * so from the leftmost of the 11 digits to the rightmost the weights are
 * 6 5 4 3 2 7 6 5 4 3 2.  Example (a made-up number, computed by the
 * formula): for 12345678901 the sum is 212, 212 mod 11 = 3, the check
 * digit 11 - 3 = 8: 123456789018.
 *
 * A change of one digit always changes the remainder (the weights are 2..7
 * and 11 is prime), so it is caught unless the remainder moves between 0
 * and 1, which both give check digit 0 (000000000000 and 200000000000 are
 * both valid): the formula's own blind spot, not this code's.
 */
#include "number.h"
#include "why.h"

#include <string.h>

#include <sodium.h>

bool rk_number_rule_parse(const char *text, rk_number_rule *out)
{
    if (text == NULL)
        return false;
    if (strcmp(text, "mynumber") == 0)
        *out = RK_NUMBER_MYNUMBER;
    else if (strcmp(text, "any") == 0)
        *out = RK_NUMBER_ANY;
    else
        return false;
    return true;
}

const char *rk_number_rule_name(rk_number_rule rule)
{
    return rule == RK_NUMBER_ANY ? "any" : "mynumber";
}

int rk_mynumber_check_digit(const char d[11])
{
    unsigned sum = 0;
    for (unsigned n = 1; n <= 11; n++) {
        char c = d[11 - n]; /* Pn: n counts from the rightmost digit */
        unsigned q = n <= 6 ? n + 1 : n - 5;
        if (c < '0' || c > '9')
            return -1;
        sum += (unsigned)(c - '0') * q;
    }
    sum %= 11;
    return sum <= 1 ? 0 : (int)(11 - sum);
}

/* The number as it was, under the rule "any". */
static bool take_any(const char *raw, size_t len, char out[RK_PERSON_MAX + 1], char *why, size_t why_len)
{
    if (len == 0) {
        rk_why(why, why_len, "the resident's number is empty: give one number on one line");
        return false;
    }
    if (len > RK_PERSON_MAX) {
        rk_why(why, why_len, "the resident's number is longer than %d characters (or more than one line)",
               RK_PERSON_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '\0') {
            rk_why(why, why_len, "the resident's number contains a NUL byte");
            return false;
        }
        if (c == ' ' || (c >= '\t' && c <= '\r')) {
            rk_why(why, why_len,
                   "the resident's number contains whitespace or a line break: give one "
                   "number on one line, nothing else");
            return false;
        }
        if (c < 0x20 || c > 0x7e) {
            rk_why(why, why_len, "the resident's number must be printable ASCII characters");
            return false;
        }
    }
    memcpy(out, raw, len);
    out[len] = '\0';
    return true;
}

/* The UTF-8 sequences taken as a separator (dropped) besides ASCII space
 * and '-', and the full-width digits' lead bytes (U+FF10..U+FF19 are
 * EF BC 90..99). */
static const char *const separators[] = {
    "\xE3\x80\x80", /* U+3000 IDEOGRAPHIC SPACE */
    "\xEF\xBC\x8D", /* U+FF0D FULLWIDTH HYPHEN-MINUS */
    "\xE2\x80\x90", /* U+2010 HYPHEN */
    "\xE2\x80\x91", /* U+2011 NON-BREAKING HYPHEN */
    "\xE2\x80\x92", /* U+2012 FIGURE DASH */
    "\xE2\x80\x93", /* U+2013 EN DASH */
    "\xE2\x80\x94", /* U+2014 EM DASH */
    "\xE2\x80\x95", /* U+2015 HORIZONTAL BAR */
    "\xE2\x88\x92", /* U+2212 MINUS SIGN */
    "\xE3\x83\xBC", /* U+30FC KATAKANA-HIRAGANA PROLONGED SOUND MARK, typed for a dash */
    "\xEF\xBD\xB0", /* U+FF70 HALFWIDTH KATAKANA-HIRAGANA PROLONGED SOUND MARK */
};

static bool take_mynumber(const char *raw, size_t len, char out[RK_PERSON_MAX + 1], char *why, size_t why_len)
{
    char d[RK_MYNUMBER_DIGITS];
    size_t n = 0, i = 0;
    bool ok = false;
    int check;

    while (i < len) {
        unsigned char c = (unsigned char)raw[i];
        int digit = -1;
        size_t step = 1;
        bool sep = false;

        if (c >= '0' && c <= '9') {
            digit = c - '0';
        } else if (c == ' ' || c == '-') {
            sep = true;
        } else if (len - i >= 3 && c == 0xEF && (unsigned char)raw[i + 1] == 0xBC &&
                   (unsigned char)raw[i + 2] >= 0x90 && (unsigned char)raw[i + 2] <= 0x99) {
            digit = (unsigned char)raw[i + 2] - 0x90; /* ０..９ */
            step = 3;
        } else if (len - i >= 3) {
            for (size_t s = 0; s < sizeof separators / sizeof separators[0]; s++)
                if (memcmp(raw + i, separators[s], 3) == 0) {
                    sep = true;
                    step = 3;
                    break;
                }
        }
        if (digit < 0 && !sep) {
            rk_why(why, why_len,
                   "a My Number is 12 digits (spaces and hyphens may separate them); this one "
                   "holds another character: give the digits only, or use --number-rule any "
                   "for numbers of another kind");
            goto done;
        }
        if (digit >= 0) {
            if (n < sizeof d)
                d[n] = (char)('0' + digit);
            n++;
        }
        i += step;
    }
    if (n != RK_MYNUMBER_DIGITS) {
        if (n == 0)
            rk_why(why, why_len, "a My Number has 12 digits; this has none");
        else
            rk_why(why, why_len, "a My Number has 12 digits; this has %zu", n);
        goto done;
    }
    check = rk_mynumber_check_digit(d);
    if (check != d[11] - '0') {
        rk_why(why, why_len,
               "the check digit does not match: the last digit of a My Number is computed "
               "from the other 11, so one of the 12 is mistyped (or two are swapped)");
        goto done;
    }
    memcpy(out, d, sizeof d);
    out[sizeof d] = '\0';
    ok = true;
done:
    sodium_memzero(d, sizeof d);
    return ok;
}

bool rk_number_normalize(rk_number_rule rule, const char *raw, size_t len, char out[RK_PERSON_MAX + 1],
                         char *why, size_t why_len)
{
    bool ok;
    out[0] = '\0';
    if (rule == RK_NUMBER_ANY)
        ok = take_any(raw, len, out, why, why_len);
    else
        ok = take_mynumber(raw, len, out, why, why_len);
    if (!ok)
        sodium_memzero(out, RK_PERSON_MAX + 1);
    return ok;
}
