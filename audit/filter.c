/*
 * filter.c - entry filters and times.
 */
#include "filter.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

bool audit_filter_outcome_known(const char *s)
{
    for (int st = 0; st <= RK_ST_LAST; st++)
        if (strcasecmp(s, rk_status_name((rk_status)st)) == 0)
            return true;
    for (int ev = 1; ev <= RK_EV_LAST; ev++)
        if (strcasecmp(s, rk_log_event_name((rk_log_event)ev)) == 0)
            return true;
    return false;
}

bool audit_filter_match(const audit_filter_t *f, const rk_log_entry_t *e)
{
    if (f->org != NULL && strcmp(e->from, f->org) != 0 && strcmp(e->to, f->org) != 0)
        return false;
    if (f->type != NULL && strcmp(e->type, f->type) != 0)
        return false;
    if (f->outcome != NULL && strcasecmp(f->outcome, rk_status_name(e->outcome)) != 0 &&
        strcasecmp(f->outcome, rk_log_event_name(e->event)) != 0)
        return false;
    if (f->has_since && (int64_t)e->time_ms < f->since_ms)
        return false;
    if (f->has_until && (int64_t)e->time_ms > f->until_ms)
        return false;
    return true;
}

/* Reads exactly n digits at *p into *v and advances *p. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

bool audit_time_parse(const char *s, bool end, int64_t *ms)
{
    const char *p = s;
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
    int64_t span = 86400000; /* how much the given precision covers */
    time_t t;

    if (s == NULL || *s == '\0')
        return false;
    if (strspn(s, "0123456789") == strlen(s)) {
        char *endp;
        unsigned long long v = strtoull(s, &endp, 10);
        if (strlen(s) > 12 || *endp != '\0')
            return false;
        *ms = (int64_t)v * 1000 + (end ? 999 : 0);
        return true;
    }
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return false;
        span = 60000;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return false;
            span = 1000;
            if (*p == '.') {
                int n = 0;
                p++;
                while (isdigit((unsigned char)*p)) {
                    if (n < 3)
                        frac = frac * 10 + (*p - '0');
                    n++;
                    p++;
                }
                if (n == 0)
                    return false;
                for (; n < 3; n++)
                    frac *= 10;
                span = 1;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return false;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om;
            p++;
            if (!digits(&p, 2, &oh))
                return false;
            if (*p == ':')
                p++;
            if (!digits(&p, 2, &om) || oh > 23 || om > 59)
                return false;
            off = sign * (oh * 3600 + om * 60);
        }
    }
    if (*p != '\0')
        return false;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1 && !(y == 1969))
        return false;
    *ms = ((int64_t)t - off) * 1000 + frac + (end ? span - 1 : 0);
    return true;
}

void audit_time_format(int64_t ms, bool with_ms, char out[32])
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)t * 1000);
    char tmp[128];
    struct tm tm;
    size_t n;

    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        snprintf(out, 32, "?");
        return;
    }
    if (with_ms)
        snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    else
        snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
    n = strlen(tmp);
    if (n > 31)
        n = 31;
    memcpy(out, tmp, n);
    out[n] = '\0';
}
