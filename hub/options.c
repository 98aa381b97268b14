/*
 * options.c - renkei-hub's options and its configuration file.
 */
#include "options.h"

#include "cli.h"
#include "logline.h"

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

const rk_cli_opt_t hub_option_table[HUB_OPT_COUNT] = {
    [HUB_OPT_DATA] = {"data", 'd', "DIR", "LMDB data directory (created 0700 if absent)", NULL, -1, 0},
    [HUB_OPT_KEY] = {"key", 'k', "FILE", "the hub's secret key (renkei-keygen hub)", NULL, -1, 0},
    [HUB_OPT_MASTER_KEY] =
        {"master-key", 'm', "FILE",
         "the ID-code table's master key (renkei-keygen --master-key);\nkeep it outside the "
         "data directory",
         NULL, -1, 0},
    [HUB_OPT_BIND] = {"bind", 'b', "ENDPOINT",
                      "where to listen (default tcp://127.0.0.1:7750;\ntcp://127.0.0.1:* picks a free port)",
                      NULL, -1, 0},
    [HUB_OPT_READY_FILE] = {"ready-file", 'r', "FILE", "write the bound endpoint to FILE once listening",
                            NULL, -1, 0},
    [HUB_OPT_LOG_ORIGIN] = {"log-origin", 0, "NAME",
                            "the routing log's name in its signed checkpoints, recorded in the\nstore at first "
                            "start (default: renkei-hub/ and the key's fingerprint;\nauditors pin it)",
                            NULL, -1, 0},
    [HUB_OPT_MAX_PAYLOAD] = {"max-payload", 0, "N", "largest encrypted payload in bytes (default 65536)",
                             NULL, -1, 0},
    [HUB_OPT_MAP_SIZE] = {"map-size", 0, "N", "LMDB map size in bytes (default 4 GiB)", NULL, -1, 0},
    [HUB_OPT_BATCH] = {"batch", 0, "N", "frames per transaction (default 256)", NULL, -1, 0},
    [HUB_OPT_VERIFY_THREADS] =
        {"verify-threads", 0, "N",
         "threads checking signatures ahead of the loop (default:\none per CPU beyond the "
         "first, 1..8; 0: in the loop)",
         NULL, -1, 0},
    [HUB_OPT_QUEUE_LIMIT] =
        {"queue-limit", 0, "N",
         "most messages waiting for one recipient (default 100000);\nabove it senders get "
         "QUEUE_FULL",
         NULL, -1, 0},
    [HUB_OPT_TTL] = {"ttl", 0, "SECONDS",
                     "how long a message waits for its recipient (default 14\ndays); per type in the config: "
                     "ttl.TYPE = SECONDS",
                     NULL, -1, 0},
    /* operating: metrics and logs */
    [HUB_OPT_METRICS] = {"metrics", 0, "ADDR:PORT",
                         "serve /metrics, /healthz and /readyz over HTTP (off by\ndefault; PORT alone: "
                         "127.0.0.1:PORT; loopback only unless\n--metrics-allow-remote)",
                         NULL, -1, 0},
    [HUB_OPT_METRICS_ALLOW_REMOTE] = {"metrics-allow-remote", 0, NULL,
                                      "let --metrics bind an address outside loopback (the\nendpoint has no "
                                      "authentication)",
                                      NULL, -1, 0},
    [HUB_OPT_LOG_LEVEL] = {"log-level", 0, "LEVEL",
                           "error, warning, notice (default), info or debug; -v\nmeans info", NULL, -1, 0},
    [HUB_OPT_LOG_FORMAT] = {"log-format", 0, "FORMAT",
                            "text (default) or json: one object per line with time,\nlevel and message", NULL,
                            -1, 0},
    [HUB_OPT_CONFIG] =
        {"config", 'c', "FILE",
         "read options from FILE (lines 'name = value', names as\nthe long options; command-line "
         "options win)",
         NULL, -1, 0},
    [HUB_OPT_CHECK_CONFIG] =
        {"check-config", 0, NULL,
         "check keys, files, store and endpoint, writing\nnothing; print 'configuration OK'", NULL, -1, 0},
    [HUB_OPT_VERBOSE] = {"verbose", 'v', NULL, "log every routed message (never WHO or WHAT)", NULL, -1, 0},
    [HUB_OPT_HELP] = {"help", 'h', NULL, "show this help", NULL, -1, 0},
    [HUB_OPT_NEXT_KEY] =
        {"next-key", 0, "FILE",
         "announce the hub's next key (its hub.pub, made with\nrenkei-keygen): signed by "
         "--key on the routing log\nand in every welcome (README, \"Rotating the hub's key\")",
         NULL, -1, 0},
    [HUB_OPT_PREVIOUS_KEY] =
        {"previous-key", 0, "FILE",
         "the public key (hub.pub) --key takes over from; the\nrouting log must announce "
         "--key as its next key",
         NULL, -1, 0},
};

/* The option of that long name in hub_option_table, or -1. */
static int option_id(const char *name)
{
    for (int i = 0; i < HUB_OPT_COUNT; i++)
        if (strcmp(hub_option_table[i].name, name) == 0)
            return hub_option_table[i].alias_of >= 0 ? hub_option_table[i].alias_of : i;
    return -1;
}

/* Sets one option by its long name; a relative file name read from a
 * configuration file is taken from `base`, that file's folder (NULL: as it
 * is).  Returns false with a message in why. */
static bool set_option(options_t *o, const char *name, const char *value, bool from_file, const char *base,
                       char *why, size_t why_len)
{
    char **str = NULL;
    size_t *num = NULL;
    bool is_path = false;
    int id = option_id(name);

    if (id == HUB_OPT_CONFIG || id == HUB_OPT_CHECK_CONFIG || id == HUB_OPT_HELP)
        id = -1; /* command line only */
    is_path = id == HUB_OPT_DATA || id == HUB_OPT_KEY || id == HUB_OPT_MASTER_KEY || id == HUB_OPT_NEXT_KEY ||
              id == HUB_OPT_PREVIOUS_KEY || id == HUB_OPT_READY_FILE;
    if (id == HUB_OPT_DATA)
        str = &o->data;
    else if (id == HUB_OPT_KEY)
        str = &o->key;
    else if (id == HUB_OPT_MASTER_KEY)
        str = &o->master_key;
    else if (id == HUB_OPT_NEXT_KEY)
        str = &o->next_key;
    else if (id == HUB_OPT_PREVIOUS_KEY)
        str = &o->previous_key;
    else if (id == HUB_OPT_BIND)
        str = &o->bind;
    else if (id == HUB_OPT_READY_FILE)
        str = &o->ready_file;
    else if (id == HUB_OPT_LOG_ORIGIN)
        str = &o->log_origin;
    else if (id == HUB_OPT_METRICS)
        str = &o->metrics;
    else if (id == HUB_OPT_LOG_LEVEL || id == HUB_OPT_LOG_FORMAT) {
        int level;
        rk_log_format format;
        if (id == HUB_OPT_LOG_LEVEL ? !rk_log_level_parse(value, &level)
                                    : !rk_log_format_parse(value, &format)) {
            snprintf(why, why_len, "'%s' takes %s, not '%s'", name,
                     id == HUB_OPT_LOG_LEVEL ? "error, warning, notice, info or debug" : "text or json",
                     value);
            return false;
        }
        str = id == HUB_OPT_LOG_LEVEL ? &o->log_level : &o->log_format;
    } else if (id == HUB_OPT_MAX_PAYLOAD)
        num = &o->max_payload;
    else if (id == HUB_OPT_MAP_SIZE)
        num = &o->map_size;
    else if (id == HUB_OPT_BATCH)
        num = &o->batch;
    else if (id == HUB_OPT_QUEUE_LIMIT)
        num = &o->queue_limit;
    else if (id == HUB_OPT_TTL)
        num = &o->ttl_s;
    else if (strncmp(name, "ttl.", 4) == 0) {
        size_t secs = 0;
        if (!parse_size(value, &secs) || !policy_ttl_set(&o->ttl, name + 4, (uint64_t)secs * 1000)) {
            snprintf(why, why_len, "'%s' needs a known procedure type and a positive number of seconds", name);
            return false;
        }
        return true;
    } else if (id == HUB_OPT_VERIFY_THREADS) {
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
    } else if (id == HUB_OPT_METRICS_ALLOW_REMOTE) {
        if (from_file && o->metrics_allow_remote)
            return true; /* given on the command line */
        o->metrics_allow_remote =
            strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0;
        return true;
    } else if (id == HUB_OPT_VERBOSE) {
        if (from_file && o->verbose)
            return true; /* -v on the command line wins */
        o->verbose = strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0;
        return true;
    } else {
        snprintf(why, why_len, "unknown option '%s' (names are renkei-hub's long options, in full)", name);
        return false;
    }
    if (str != NULL) {
        if (from_file && *str != NULL)
            return true; /* the command line wins */
        free(*str);
        if (is_path && base != NULL && value[0] != '/' && value[0] != '\0') {
            size_t len = strlen(base) + 1 + strlen(value) + 1;
            if ((*str = malloc(len)) != NULL)
                snprintf(*str, len, "%s/%s", base, value);
        } else {
            *str = strdup(value);
        }
        if (*str == NULL)
            snprintf(why, why_len, "out of memory");
        return *str != NULL;
    }
    if (num == NULL) { /* every branch above set str or num, or returned */
        snprintf(why, why_len, "unknown option '%s' (names are renkei-hub's long options, in full)", name);
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

bool hub_options_set(options_t *o, const char *name, const char *value, bool from_file, char *why,
                     size_t why_len)
{
    return set_option(o, name, value, from_file, NULL, why, why_len);
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
static bool read_stream(options_t *o, FILE *fp, const char *label, const char *base, char *why,
                        size_t why_len)
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
        if (!set_option(o, trim(s), trim(eq + 1), true, base, msg, sizeof msg)) {
            snprintf(why, why_len, "%s:%u: %s", label, lineno, msg);
            return false;
        }
    }
    return true;
}

bool hub_options_read_file(options_t *o, const char *path, char *why, size_t why_len)
{
    bool ok;
    char *base = NULL, *slash;
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        snprintf(why, why_len, "cannot open config %s: %s", path, strerror(errno));
        return false;
    }
    /* Relative names in the file are relative to the file's folder. */
    slash = strrchr(path, '/');
    if (slash != NULL && (base = strdup(path)) != NULL)
        base[slash == path ? 1 : slash - path] = '\0';
    if (slash != NULL && base == NULL) {
        snprintf(why, why_len, "out of memory");
        fclose(fp);
        return false;
    }
    ok = read_stream(o, fp, path, base != NULL && strcmp(base, "/") == 0 ? "" : base, why, why_len);
    free(base);
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
    ok = read_stream(o, fp, label, NULL, why, why_len);
    fclose(fp);
    return ok;
}

void hub_options_free(options_t *o)
{
    free(o->data);
    free(o->key);
    free(o->master_key);
    free(o->next_key);
    free(o->previous_key);
    free(o->bind);
    free(o->ready_file);
    free(o->log_origin);
    free(o->metrics);
    free(o->log_level);
    free(o->log_format);
}
