/*
 * options.h - renkei-hub's options, from the command line and from a
 * configuration file (--config FILE).
 *
 * A configuration file has one 'name = value' per line, names as the long
 * options ("ttl.TYPE = seconds" sets one procedure type's TTL); blank lines
 * and lines starting with '#' are ignored, and spaces around names and
 * values are trimmed.  Options already given on the command line win over
 * the file.  A relative file name in the file (data, key, master-key,
 * next-key, previous-key, ready-file) is taken from the file's folder.
 */
#ifndef RENKEI_HUB_OPTIONS_H
#define RENKEI_HUB_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "policy.h"

typedef struct options {
    char *data;
    char *key;
    char *master_key;
    char *next_key;     /* the next hub key's public file: announce it */
    char *previous_key; /* the previous hub key's public file: --key follows it */
    char *bind;
    char *ready_file;
    char *log_origin;
    size_t max_payload;
    size_t map_size;
    size_t batch;
    size_t queue_limit;
    size_t ttl_s;
    policy_ttl_t ttl; /* per-type overrides ("ttl.TYPE = seconds" in the config) */
    int verify_threads; /* -1: the default */
    /* operating: metrics and logs */
    char *metrics; /* --metrics ADDR:PORT; NULL: no endpoint */
    bool metrics_allow_remote;
    char *log_level;  /* checked by hub_options_set: a name rk_log_level_parse takes */
    char *log_format; /* "text" or "json" */
    bool check_config;
    bool verbose;
} options_t;

/* renkei-hub's options, ids into hub_option_table (common/cli.h).  The
 * configuration file's names are the same table's long names: there is one
 * list of names for both. */
enum {
    HUB_OPT_DATA,
    HUB_OPT_KEY,
    HUB_OPT_MASTER_KEY,
    HUB_OPT_NEXT_KEY,
    HUB_OPT_PREVIOUS_KEY,
    HUB_OPT_BIND,
    HUB_OPT_READY_FILE,
    HUB_OPT_LOG_ORIGIN,
    HUB_OPT_MAX_PAYLOAD,
    HUB_OPT_MAP_SIZE,
    HUB_OPT_BATCH,
    HUB_OPT_VERIFY_THREADS,
    HUB_OPT_QUEUE_LIMIT,
    HUB_OPT_TTL,
    /* operating: metrics and logs */
    HUB_OPT_METRICS,
    HUB_OPT_METRICS_ALLOW_REMOTE,
    HUB_OPT_LOG_LEVEL,
    HUB_OPT_LOG_FORMAT,
    HUB_OPT_CONFIG,       /* command line only */
    HUB_OPT_CHECK_CONFIG, /* command line only */
    HUB_OPT_VERBOSE,
    HUB_OPT_HELP, /* command line only */
    HUB_OPT_COUNT
};

extern const rk_cli_opt_t hub_option_table[HUB_OPT_COUNT];

/* Sets one option by its long name; from_file: a value already set (from the
 * command line) is kept.  Returns false with a message in why. */
bool hub_options_set(options_t *o, const char *name, const char *value, bool from_file, char *why,
                     size_t why_len);

/* Reads a configuration file into o.  Returns false with a message naming
 * the file and line in why. */
bool hub_options_read_file(options_t *o, const char *path, char *why, size_t why_len);

/* The same for a configuration's text[0:len] in memory; `label` stands for
 * the file in messages. */
bool hub_options_parse(options_t *o, const char *text, size_t len, const char *label, char *why,
                       size_t why_len);

/* Frees the strings of o (not o itself). */
void hub_options_free(options_t *o);

#endif /* RENKEI_HUB_OPTIONS_H */
