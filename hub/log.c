/*
 * log.c - the hub's operational log.
 */
#include "log.h"

#include <stdarg.h>
#include <time.h>

static const char *level_name(hub_log_level level)
{
    switch (level) {
    case HUB_LOG_ERR: return "error";
    case HUB_LOG_WARNING: return "warning";
    case HUB_LOG_NOTICE: return "notice";
    case HUB_LOG_INFO: return "info";
    case HUB_LOG_DEBUG: return "debug";
    }
    return "log";
}

void hub_log(const hub_log_t *log, hub_log_level level, const char *fmt, ...)
{
    char stamp[32] = "";
    struct tm tm;
    time_t now;
    va_list ap;

    if (level > log->max || log->out == NULL)
        return;
    now = time(NULL);
    if (gmtime_r(&now, &tm) != NULL)
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(log->out, "%s %s: %s: ", stamp, log->ident ? log->ident : "renkei", level_name(level));
    va_start(ap, fmt);
    vfprintf(log->out, fmt, ap);
    va_end(ap);
    fputc('\n', log->out);
    fflush(log->out);
}
