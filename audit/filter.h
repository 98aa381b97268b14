/*
 * filter.h - which routing-log entries an auditor asked for, and times as
 * people write them.
 *
 * Times on the command line are ISO-8601 (2025-04-01, 2025-04-01T09:00,
 * 2025-04-01T09:00:00Z, 2025-04-01T18:00:00+09:00) or Unix seconds; a time
 * without a zone is UTC.  Times printed are UTC ISO-8601.
 */
#ifndef RENKEI_AUDIT_FILTER_H
#define RENKEI_AUDIT_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct audit_filter {
    const char *org;     /* NULL: any; else entries whose FROM or TO is org */
    const char *type;    /* NULL: any procedure type */
    const char *outcome; /* NULL: any; a status name (FORBIDDEN) or an event name (delivered) */
    bool has_since, has_until;
    int64_t since_ms;    /* entries at or after */
    int64_t until_ms;    /* entries at or before */
} audit_filter_t;

/* true if e (entry at any index) passes every filter that is set. */
bool audit_filter_match(const audit_filter_t *f, const rk_log_entry_t *e);

/* true if s names an outcome (status, any case) or an event (any case). */
bool audit_filter_outcome_known(const char *s);

/* Parses a time (see above) into milliseconds since the epoch.  `end`:
 * a time given to the day, minute or second means its last millisecond
 * (for --until).  Returns false on anything else; *ms is then untouched. */
bool audit_time_parse(const char *s, bool end, int64_t *ms) __attribute__((warn_unused_result));

/* Writes ms as "2025-04-01T09:00:00Z" (with_ms: "2025-04-01T09:00:00.123Z"). */
void audit_time_format(int64_t ms, bool with_ms, char out[32]);

#endif /* RENKEI_AUDIT_FILTER_H */
