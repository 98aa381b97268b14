/*
 * logline.c - one line of an operational log (logline.h).
 */
#include "logline.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE_MAX 4096

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};

const char *rk_log_level_name(int level)
{
    return level >= RK_LOG_ERR && level <= RK_LOG_DEBUG ? level_names[level] : "log";
}

bool rk_log_level_parse(const char *text, int *level)
{
    for (int i = RK_LOG_ERR; i <= RK_LOG_DEBUG; i++)
        if (strcmp(text, level_names[i]) == 0) {
            *level = i;
            return true;
        }
    if (strcmp(text, "err") == 0)
        *level = RK_LOG_ERR;
    else if (strcmp(text, "warn") == 0)
        *level = RK_LOG_WARNING;
    else
        return false;
    return true;
}

bool rk_log_format_parse(const char *text, rk_log_format *format)
{
    if (strcmp(text, "text") == 0)
        *format = RK_LOG_TEXT;
    else if (strcmp(text, "json") == 0)
        *format = RK_LOG_JSON;
    else
        return false;
    return true;
}

bool rk_log_is_journal(FILE *out)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char *end = NULL;

    /* "DEVICE:INODE", both decimal */
    if (js == NULL || out == NULL || js[0] < '0' || js[0] > '9')
        return false;
    errno = 0;
    dev = strtoull(js, &end, 10);
    if (errno != 0 || *end != ':' || end[1] < '0' || end[1] > '9')
        return false;
    ino = strtoull(end + 1, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    if (fstat(fileno(out), &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Appends s to out[*n..cap) as the inside of a JSON string. */
static void json_escape(char *out, size_t *n, size_t cap, const char *s)
{
    for (; *s != '\0' && *n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[(*n)++] = '\\';
            out[(*n)++] = (char)c;
        } else if (c == '\n') {
            out[(*n)++] = '\\';
            out[(*n)++] = 'n';
        } else if (c == '\t') {
            out[(*n)++] = '\\';
            out[(*n)++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", c);
        } else {
            out[(*n)++] = (char)c;
        }
    }
}

/* n + k (what snprintf said it wrote), kept below cap: a cut line stays
 * inside its buffer. */
static size_t clamp(size_t n, int k, size_t cap)
{
    n += k > 0 ? (size_t)k : 0;
    return n < cap ? n : cap - 1;
}

void rk_log_vline(FILE *out, const char *ident, int level, rk_log_format format, bool journal,
                  const char *fmt, va_list ap)
{
    char msg[MESSAGE_MAX], line[2 * MESSAGE_MAX + 256], stamp[40] = "";
    struct timespec ts;
    struct tm tm;
    size_t n = 0;
    int k;

    if (out == NULL)
        return;
    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
        return;
    if (ident == NULL)
        ident = "renkei";
    clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm) != NULL) {
        size_t sl = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        if (format == RK_LOG_JSON)
            snprintf(stamp + sl, sizeof stamp - sl, ".%03ldZ", ts.tv_nsec / 1000000);
        else
            snprintf(stamp + sl, sizeof stamp - sl, "Z");
    }
    if (journal)
        n = clamp(0, snprintf(line, sizeof line, "<%d>", level + 3), sizeof line);
    if (format == RK_LOG_JSON) {
        k = snprintf(line + n, sizeof line - n,
                     "{\"time\":\"%s\",\"level\":\"%s\",\"priority\":%d,\"ident\":\"", stamp,
                     rk_log_level_name(level), level + 3);
        n = clamp(n, k, sizeof line);
        json_escape(line, &n, sizeof line, ident);
        k = snprintf(line + n, sizeof line - n, "\",\"pid\":%ld,\"message\":\"", (long)getpid());
        n = clamp(n, k, sizeof line);
        json_escape(line, &n, sizeof line, msg);
        k = snprintf(line + n, sizeof line - n, "\"}\n");
        n = clamp(n, k, sizeof line);
    } else {
        k = snprintf(line + n, sizeof line - n, "%s%s%s: %s: %s\n", journal ? "" : stamp, journal ? "" : " ",
                     ident, rk_log_level_name(level), msg);
        n = clamp(n, k, sizeof line);
    }
    if (n == sizeof line - 1)
        line[n - 1] = '\n'; /* cut: still one whole line */
    fwrite(line, 1, n, out);
    fflush(out);
}
