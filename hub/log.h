/*
 * log.h - the hub's operational log.
 *
 * One line per event on a stream (stderr by default):
 *   2026-11-23T13:40:00Z renkei-hub: notice: refused UNKNOWN_WHO from city.x ...
 * or one JSON object per line (--log-format json), with a syslog priority
 * prefix when the stream is the journal: see common/logline.h.
 * The operational log is for the operator.  It never carries a person's
 * number or a link code: callers pass org ids, procedure types, statuses and
 * sizes only.  (The auditors' routing log is a different thing.)
 */
#ifndef RENKEI_HUB_LOG_H
#define RENKEI_HUB_LOG_H

#include <stdbool.h>
#include <stdio.h>

typedef enum hub_log_level {
    HUB_LOG_ERR = 0,
    HUB_LOG_WARNING = 1,
    HUB_LOG_NOTICE = 2,
    HUB_LOG_INFO = 3,
    HUB_LOG_DEBUG = 4,
} hub_log_level;

typedef struct hub_log {
    FILE *out;
    hub_log_level max; /* lines above this level are dropped */
    const char *ident; /* "renkei-hub" */
    int format;        /* RK_LOG_TEXT (0) or RK_LOG_JSON (common/logline.h) */
    bool journal;      /* out is the systemd journal: "<PRIORITY>" before each line */
} hub_log_t;

/* Writes one line if level <= log->max.  Never fails loudly: a log that
 * cannot be written must not stop routing. */
void hub_log(const hub_log_t *log, hub_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), nonnull(1, 3)));

#endif /* RENKEI_HUB_LOG_H */
