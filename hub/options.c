/*
 * options.c - renkei-hub's options and its configuration file.
 */
#include "options.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_size(const char *text, size_t *out)
{
    char *end = NULL;
    unsigned long long v;
    /* strtoull takes "-1" as a huge number: digits only. */
    if (text[0] < '0' || text[0] > '9')
        return false;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v == 0 || v > SIZE_MAX)
        return false;
    *out = (size_t)v;
    return true;
}

/* Sets one option by its long name.  Returns false with a message in why. */
bool hub_options_set(options_t *o, const char *name, const char *value, bool from_file, char *why,
                     size_t why_len)
{
    char **str = NULL;
    size_t *num = NULL;
    if (strcmp(name, "data") == 0) str = &o->data;
    else if (strcmp(name, "key") == 0) str = &o->key;
    else if (strcmp(name, "master-key") == 0) str = &o->master_key;
    else if (strcmp(name, "bind") == 0) str = &o->bind;
    else if (strcmp(name, "ready-file") == 0) str = &o->ready_file;
    else if (strcmp(name, "log-origin") == 0) str = &o->log_origin;
    else if (strcmp(name, "max-payload") == 0) num = &o->max_payload;
    else if (strcmp(name, "map-size") == 0) num = &o->map_size;
    else if (strcmp(name, "batch") == 0) num = &o->batch;
    else if (strcmp(name, "queue-limit") == 0) num = &o->queue_limit;
    else if (strcmp(name, "ttl") == 0) num = &o->ttl_s;
    else if (strncmp(name, "ttl.", 4) == 0) {
        size_t secs = 0;
        if (!parse_size(value, &secs) || !policy_ttl_set(&o->ttl, name + 4, (uint64_t)secs * 1000)) {
            snprintf(why, why_len, "'%s' needs a known procedure type and a positive number of seconds", name);
            return false;
        }
        return true;
    }
    else if (strcmp(name, "verify-threads") == 0) {
        char *end = NULL;
        long v;
        if (from_file && o->verify_threads >= 0)
            return true; /* the command line wins */
        errno = 0;
        v = value[0] >= '0' && value[0] <= '9' ? strtol(value, &end, 10) : -1;
        if (errno != 0 || end == NULL || *end != '\0' || v < 0 || v > 64) {
            snprintf(why, why_len, "'verify-threads' needs a number from 0 to 64");
            return false;
        }
        o->verify_threads = (int)v;
        return true;
    }
    else if (strcmp(name, "verbose") == 0) {
        if (from_file && o->verbose)
            return true; /* -v on the command line wins */
        o->verbose = strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0;
        return true;
    } else {
        snprintf(why, why_len, "unknown option '%s'", name);
        return false;
    }
    if (str != NULL) {
        if (from_file && *str != NULL)
            return true; /* the command line wins */
        free(*str);
        *str = strdup(value);
        return *str != NULL;
    }
    if (num == NULL) { /* every branch above set str or num, or returned */
        snprintf(why, why_len, "unknown option '%s'", name);
        return false;
    }
    if (from_file && *num != 0)
        return true;
    if (!parse_size(value, num)) {
        snprintf(why, why_len, "option '%s' needs a positive number, not '%s'", name, value);
        return false;
    }
    return true;
}

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Reads 'name = value' lines from fp; `label` names the source in why. */
static bool read_stream(options_t *o, FILE *fp, const char *label, char *why, size_t why_len)
{
    char line[4096], msg[256];
    unsigned lineno = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        char *s = trim(line), *eq;
        lineno++;
        if (*s == '\0' || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(why, why_len, "%s:%u: expected 'name = value'", label, lineno);
            return false;
        }
        *eq = '\0';
        if (!hub_options_set(o, trim(s), trim(eq + 1), true, msg, sizeof msg)) {
            snprintf(why, why_len, "%s:%u: %s", label, lineno, msg);
            return false;
        }
    }
    return true;
}

bool hub_options_read_file(options_t *o, const char *path, char *why, size_t why_len)
{
    bool ok;
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        snprintf(why, why_len, "cannot open config %s: %s", path, strerror(errno));
        return false;
    }
    ok = read_stream(o, fp, path, why, why_len);
    fclose(fp);
    return ok;
}

bool hub_options_parse(options_t *o, const char *text, size_t len, const char *label, char *why,
                       size_t why_len)
{
    bool ok;
    FILE *fp;
    if (len == 0)
        return true; /* an empty file sets nothing */
    fp = fmemopen((void *)text, len, "r");
    if (fp == NULL) {
        snprintf(why, why_len, "cannot read config %s: %s", label, strerror(errno));
        return false;
    }
    ok = read_stream(o, fp, label, why, why_len);
    fclose(fp);
    return ok;
}

void hub_options_free(options_t *o)
{
    free(o->data);
    free(o->key);
    free(o->master_key);
    free(o->bind);
    free(o->ready_file);
    free(o->log_origin);
}
