#include "why.h"

#include <stdio.h>

void rk_vwhy(char *why, size_t why_len, const char *fmt, va_list ap)
{
    if (why == NULL || why_len == 0)
        return;
    vsnprintf(why, why_len, fmt, ap);
}

void rk_why(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rk_vwhy(why, why_len, fmt, ap);
    va_end(ap);
}
