/*
 * why.h - the one way Renkei fills a caller's `why` buffer.
 *
 * Every function that can fail takes (char *why, size_t why_len) and, on
 * failure, writes one readable sentence there: what went wrong and what to
 * check.  The sentence never carries a person's number or a link code.
 */
#ifndef RENKEI_COMMON_WHY_H
#define RENKEI_COMMON_WHY_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into why (truncating to why_len - 1 bytes).  A NULL why or a zero
 * why_len means the caller does not want the sentence: nothing is written. */
void rk_why(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The same with a va_list. */
void rk_vwhy(char *why, size_t why_len, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#endif /* RENKEI_COMMON_WHY_H */
