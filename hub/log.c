/*
 * log.c - the hub's operational log (the line itself: common/logline.c).
 */
#include "log.h"

#include <stdarg.h>

#include "logline.h"

void hub_log(const hub_log_t *log, hub_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level > log->max || log->out == NULL)
        return;
    va_start(ap, fmt);
    rk_log_vline(log->out, log->ident, (int)level, log->format == RK_LOG_JSON ? RK_LOG_JSON : RK_LOG_TEXT,
                 log->journal, fmt, ap);
    va_end(ap);
}
