/*
 * logline.h - one line of an operational log, as renkei-hub and
 * renkei-agent write it on stderr.
 *
 * Levels are syslog's, most severe first; a line's syslog priority is its
 * level + 3 (error 3 .. debug 7).  Two formats:
 *
 *   text  2026-11-23T13:40:00Z renkei-hub: notice: listening on ...
 *   json  {"time":"2026-11-23T13:40:00.123Z","level":"notice","priority":5,
 *          "ident":"renkei-hub","pid":42,"message":"listening on ..."}
 *         one object per line
 *
 * When the stream is the systemd journal (JOURNAL_STREAM names it), each
 * line starts with "<PRIORITY>" (sd-daemon(3)), so that journald files it
 * under its priority; a text line then goes without its own timestamp
 * (the journal stamps every line).
 *
 * What a line says is the caller's: it never carries a person's number or
 * a link code.
 */
#ifndef RENKEI_COMMON_LOGLINE_H
#define RENKEI_COMMON_LOGLINE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#define RK_LOG_ERR 0
#define RK_LOG_WARNING 1
#define RK_LOG_NOTICE 2
#define RK_LOG_INFO 3
#define RK_LOG_DEBUG 4

typedef enum rk_log_format {
    RK_LOG_TEXT = 0,
    RK_LOG_JSON = 1,
} rk_log_format;

/* "error", "warning", "notice", "info", "debug". */
const char *rk_log_level_name(int level);

/* A level by name ("error" or "err", "warning" or "warn", "notice",
 * "info", "debug").  false if unknown. */
bool rk_log_level_parse(const char *text, int *level);

/* "text" or "json".  false if unknown. */
bool rk_log_format_parse(const char *text, rk_log_format *format);

/* Whether out is the stream systemd connected to the journal (the device
 * and inode in $JOURNAL_STREAM are out's). */
bool rk_log_is_journal(FILE *out);

/* Writes one line (one write, whole lines only) and flushes.  A message
 * longer than 4 KiB is cut.  Never fails loudly. */
void rk_log_vline(FILE *out, const char *ident, int level, rk_log_format format, bool journal,
                  const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

#endif /* RENKEI_COMMON_LOGLINE_H */
