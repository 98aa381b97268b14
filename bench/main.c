/*
 * renkei-bench - the hub's speed measured beside a bare forwarder and
 * Mosquitto, on this machine, in one run.
 *
 * Everything runs on loopback: the real renkei-hub on a temporary data
 * directory, a bare CURVE forwarder (this program re-run with --forwarder),
 * and mosquitto when installed.  Each figure is measured R times and shown
 * as median [min .. max]; ratios compare medians of the same run, since
 * only ratios hold from run to run on a shared machine.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "agents.h"
#include "fwd.h"
#include "cli.h"
#include "keys.h"
#include "load.h"
#include "mqtt.h"
#include "httpsend.h"
#include "proc.h"
#include "scale.h"
#include "stats.h"
#include "webhook.h"

#define MAX_FIGURES 80
#define MAX_SCALE 8
#define MAX_HUB_ARGS 8

typedef struct options {
    char bin[2048];
    const char *json;
    bool quick, keep, no_mosquitto, random_ids;
    size_t repeat, senders, recipients, persons, window, messages, samples, enroll;
    size_t movers, moves, agent_samples;
    size_t disk_rounds; /* timed rounds per kind of durable write, per repetition */
    size_t scale[MAX_SCALE], nscale;
    const char *hub_args[MAX_HUB_ARGS]; /* passed to every renkei-hub */
    size_t n_hub_args;
} options_t;

typedef struct figure {
    const char *key;   /* JSON name */
    const char *label; /* table text */
    const char *unit;
    bench_series_t *s; /* one value per repetition */
    const char *skipped; /* why it was not measured, or NULL */
} figure_t;

typedef struct bench {
    options_t o;
    char dir[512];
    bench_load_t *load[2]; /* the measured identities: [0] at the hub, [1] the forwarder */
    bench_load_t *bg[2];   /* the background load for latency under heavy load */
    bench_load_t *enr;     /* enrollment and first contact: one municipality, one utility */
    bench_agents_t *ag;    /* real agents: the latency pair, the movers, the utilities */
    bench_httpsend_t *hs;  /* "http send": the agent's HTTP API against the library */
    bench_webhook_t *wh;   /* serve --webhook and its library baseline */
    bench_proc_t *srv[3];  /* hub, forwarder, mosquitto */
    bench_mqtt_t *mq;      /* mosquitto's clients, NULL if not measured */
    figure_t fig[MAX_FIGURES];
    size_t nfig;
    figure_t rat[MAX_FIGURES]; /* per-repetition ratios */
    size_t nrat;
    int janitor;           /* write end of the clean-up process's pipe, or -1 */
    char mosq_note[512];
    char hub_ep[512];
    char names[MAX_FIGURES][2][96]; /* keys and labels made at run time */
    size_t nnames;
    int write_bytes_seen; /* /proc/PID/io write_bytes: 1 counted, -1 not, 0 unknown yet */
    bool disk_in_memory;  /* the temporary directory is on tmpfs or ramfs */
} bench_t;

static const size_t payloads[2] = {512, 2048};

static int parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0)
        return -1;
    *out = (size_t)v;
    return 0;
}

enum {
    O_BIN,
    O_OUT,
    O_QUICK,
    O_REPEAT,
    O_SENDERS,
    O_RECIP,
    O_PERSONS,
    O_WINDOW,
    O_MESSAGES,
    O_SAMPLES,
    O_SCALE,
    O_ENROLL,
    O_AGSAMPLES,
    O_MOVERS,
    O_MOVES,
    O_DISKROUNDS,
    O_NOMOSQ,
    O_HUBARG,
    O_RANDOMIDS,
    O_KEEP,
    O_HELP,
    O_JSON, /* deprecated: --out */
    O_COUNT
};

static const rk_cli_opt_t bench_options[O_COUNT] = {
    [O_BIN] = {"bin", 0, "DIR",
               "where renkei-hub and renkei-ctl are (default: the\ndirectory of renkei-bench itself)", NULL,
               -1, 0},
    [O_OUT] = {"out", 0, "FILE", "also write every figure as JSON to FILE", NULL, -1, 0},
    [O_QUICK] = {"quick", 0, NULL, "tiny sizes, well under a minute (checks that it works)", NULL, -1, 0},
    [O_REPEAT] = {"repeat", 0, "R", "repetitions of each measurement (default 5)", NULL, -1, 0},
    [O_SENDERS] = {"senders", 0, "N", "sending municipalities (default 8)", NULL, -1, 0},
    [O_RECIP] = {"recipients", 0, "M", "receiving utilities (default 4)", NULL, -1, 0},
    [O_PERSONS] = {"persons", 0, "P", "residents each sender enrolls (default 4)", NULL, -1, 0},
    [O_WINDOW] = {"window", 0, "W", "messages each sender keeps in flight (default 128)", NULL, -1, 0},
    [O_MESSAGES] = {"messages", 0, "K", "messages per timed pass (default 20000)", NULL, -1, 0},
    [O_SAMPLES] =
        {"samples", 0, "S",
         "request/reply round trips per light-load latency run\n(default 2000; under heavy load S/10, "
         "10..100)",
         NULL, -1, 0},
    [O_SCALE] =
        {"scale", 0, "LIST",
         "ID-code table sizes (total persons, comma-separated;\ndefault 10000,100000; quick 1000,5000)", NULL,
         -1, 0},
    [O_ENROLL] = {"enroll", 0, "E", "enrollments (and first contacts) per timed pass\n(default 5000)", NULL,
                  -1, 0},
    [O_AGSAMPLES] =
        {"agent-samples", 0, "S",
         "request/reply round trips between two real agents per\nlight-load run (default 500; under "
         "heavy load S/5,\n10..100)",
         NULL, -1, 0},
    [O_MOVERS] =
        {"movers", 0, "N",
         "concurrent movers in the move scenario with real agents,\neach an origin and a destination "
         "municipality (default 8,\nup to 99)",
         NULL, -1, 0},
    [O_MOVES] = {"moves", 0, "K", "moves per timed run of the move scenario (default 160)", NULL, -1, 0},
    [O_DISKROUNDS] =
        {"disk-rounds", 0, "N",
         "timed rounds of each durable write (4 KiB, 32 scattered\npages, each followed by fdatasync) "
         "per repetition, in\nthe temporary directory (default 200; quick 20)",
         NULL, -1, 0},
    [O_NOMOSQ] = {"no-mosquitto", 0, NULL, "skip the Mosquitto baseline", NULL, -1, 0},
    [O_HUBARG] =
        {"hub-arg", 0, "ARG",
         "pass ARG to every renkei-hub started (repeatable), e.g.\n--hub-arg=--verify-threads=0 to see "
         "what a setting buys",
         NULL, -1, RK_CLI_REPEAT},
    [O_RANDOMIDS] =
        {"random-ids", 0, NULL,
         "senders pick message ids of 16 random bytes instead of\nthe time-ordered ones the agent "
         "library makes",
         NULL, -1, 0},
    [O_KEEP] = {"keep", 0, NULL, "keep the temporary directory (its path is printed)", NULL, -1, 0},
    [O_HELP] = {"help", 'h', NULL, "show this help", NULL, -1, 0},
    [O_JSON] = {"json", 0, "FILE", "deprecated spelling of --out", NULL, O_OUT, RK_CLI_HIDDEN},
};

static const rk_cli_prog_t bench_program = {
    .name = "renkei-bench",
    .synopsis = "[OPTIONS]",
    .about = "Measures renkei-hub on this machine (loopback) beside a bare CURVE forwarder\n"
             "and Mosquitto (QoS 1), and prints each figure as median [min .. max] over\n"
             "the repetitions, then the ratios.",
    .opts = bench_options,
    .n_opts = O_COUNT,
};

/* Returns 0 to run, RK_CLI_HELP after --help, or the exit status. */
static int parse_options(int argc, char **argv, options_t *o)
{
    size_t *set[O_COUNT] = {0};
    size_t given[O_COUNT] = {0};
    rk_cli_args_t a;
    const char *scale = NULL;
    int rc;

    set[O_REPEAT] = &o->repeat;
    set[O_SENDERS] = &o->senders;
    set[O_RECIP] = &o->recipients;
    set[O_PERSONS] = &o->persons;
    set[O_WINDOW] = &o->window;
    set[O_MESSAGES] = &o->messages;
    set[O_SAMPLES] = &o->samples;
    set[O_ENROLL] = &o->enroll;
    set[O_AGSAMPLES] = &o->agent_samples;
    set[O_MOVERS] = &o->movers;
    set[O_MOVES] = &o->moves;
    set[O_DISKROUNDS] = &o->disk_rounds;
    rc = rk_cli_parse(&bench_program, argc, argv, &a);
    if (rc > 0 && a.err != RK_CLI_E_NONE)
        rc = rk_cli_report(&a);
    if (rc == 0 && a.npos > 0)
        rc = rk_cli_usage_error(&a, "unexpected argument '%s'", a.pos[0]);
    for (int i = 0; rc == 0 && i < a.ngiven; i++) {
        int c = a.given[i].opt;
        const char *optarg = a.given[i].value;
        switch (c) {
        case O_BIN:
            snprintf(o->bin, sizeof o->bin, "%s", optarg);
            break;
        case O_OUT: o->json = optarg; break;
        case O_QUICK:
            o->quick = true;
            break;
        case O_NOMOSQ:
            o->no_mosquitto = true;
            break;
        case O_KEEP:
            o->keep = true;
            break;
        case O_RANDOMIDS:
            o->random_ids = true;
            break;
        case O_SCALE:
            scale = optarg;
            break;
        case O_HUBARG:
            if (o->n_hub_args == MAX_HUB_ARGS)
                rc = rk_cli_usage_error(&a, "at most %d --hub-arg", MAX_HUB_ARGS);
            else
                o->hub_args[o->n_hub_args++] = optarg;
            break;
        default:
            if (set[c] != NULL && parse_size(optarg, &given[c]) != 0)
                rc = rk_cli_usage_error(&a, "--%s needs a whole number above 0, not '%s'",
                                        bench_options[c].name, optarg);
            break;
        }
    }
    rk_cli_args_free(&a);
    if (rc != 0)
        return rc;
    if (o->quick) {
        o->repeat = 2;
        o->senders = 2;
        o->recipients = 2;
        o->persons = 2;
        o->window = 8;
        o->messages = 200;
        o->samples = 50;
        o->enroll = 300;
        o->agent_samples = 20;
        o->movers = 2;
        o->moves = 8;
        o->disk_rounds = 20;
        scale = scale != NULL ? scale : "1000,5000";
    } else {
        o->repeat = 5;
        o->senders = 8;
        o->recipients = 4;
        o->persons = 4;
        o->window = 128;
        o->messages = 20000;
        o->samples = 2000;
        o->enroll = 5000;
        o->agent_samples = 500;
        o->movers = 8;
        o->moves = 160;
        o->disk_rounds = 200;
        scale = scale != NULL ? scale : "10000,100000";
    }
    for (int i = 0; i < O_COUNT; i++)
        if (set[i] != NULL && given[i] != 0)
            *set[i] = given[i];
    {
        char buf[256], *save = NULL, *tok;
        snprintf(buf, sizeof buf, "%s", scale);
        for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
            if (o->nscale == MAX_SCALE || parse_size(tok, &o->scale[o->nscale]) != 0) {
                fprintf(stderr, "renkei-bench: --scale takes up to %d table sizes above 0, "
                        "comma-separated (e.g. 10000,1000000), not '%s'\n", MAX_SCALE, scale);
                return RK_EXIT_USAGE;
            }
            o->nscale++;
        }
        if (o->nscale == 0) {
            fprintf(stderr, "renkei-bench: --scale needs at least one table size\n");
            return RK_EXIT_USAGE;
        }
    }
    if (o->senders > 99 || o->recipients > 99 || o->movers > 99) {
        fprintf(stderr, "renkei-bench: --senders, --recipients and --movers go up to 99\n");
        return RK_EXIT_USAGE;
    }
    if (o->bin[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", o->bin, sizeof o->bin - 1);
        char *slash;
        if (n <= 0) {
            fprintf(stderr, "renkei-bench: cannot tell where renkei-bench is; pass --bin DIR\n");
            return RK_EXIT_USAGE;
        }
        o->bin[n] = '\0';
        slash = strrchr(o->bin, '/');
        if (slash != NULL)
            *slash = '\0';
    }
    return 0;
}

/* ------------------------------------------------------------ figures */

static figure_t *find_in(figure_t *arr, size_t *n, const char *key, const char *label,
                         const char *unit)
{
    figure_t *f;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(arr[i].key, key) == 0)
            return &arr[i];
    if (*n == MAX_FIGURES)
        return NULL;
    f = &arr[(*n)++];
    f->key = key;
    f->label = label;
    f->unit = unit;
    f->s = bench_series_new();
    return f->s != NULL ? f : NULL;
}

static figure_t *figure(bench_t *b, const char *key, const char *label, const char *unit)
{
    return find_in(b->fig, &b->nfig, key, label, unit);
}

static void record_ratio(bench_t *b, const char *key, const char *label, double v)
{
    figure_t *f = find_in(b->rat, &b->nrat, key, label, "x");
    if (f == NULL || bench_series_add(f->s, v) != 0)
        fprintf(stderr, "renkei-bench: out of memory recording %s\n", key);
}

static void record(bench_t *b, const char *key, const char *label, const char *unit, double v)
{
    figure_t *f = figure(b, key, label, unit);
    if (f == NULL || bench_series_add(f->s, v) != 0)
        fprintf(stderr, "renkei-bench: out of memory recording %s\n", key);
}

static void skip(bench_t *b, const char *key, const char *label, const char *unit,
                 const char *why)
{
    figure_t *f = figure(b, key, label, unit);
    if (f != NULL && bench_series_count(f->s) == 0)
        f->skipped = why;
}

static double median_of(bench_t *b, const char *key)
{
    for (size_t i = 0; i < b->nfig; i++)
        if (strcmp(b->fig[i].key, key) == 0 && bench_series_count(b->fig[i].s) > 0)
            return bench_series_pct(b->fig[i].s, 50);
    return 0;
}

/* ------------------------------------------------------------ processes */

static const char *path_in(bench_t *b, char *buf, size_t len, const char *rel)
{
    if ((size_t)snprintf(buf, len, "%s/%s", b->dir, rel) >= len)
        buf[0] = '\0'; /* too long: fails visibly where it is used */
    return buf;
}

static int register_org(bench_t *b, const char *org, const char *kind, const char *data_rel)
{
    char ctl[PATH_MAX], data[PATH_MAX], pub[PATH_MAX], logp[PATH_MAX], rel[128];
    const char *argv[10];
    bench_proc_t *p;
    int st;
    if ((size_t)snprintf(ctl, sizeof ctl, "%s/renkei-ctl", b->o.bin) >= sizeof ctl ||
        (size_t)snprintf(rel, sizeof rel, "keys/%s.pub", org) >= sizeof rel)
        return -1;
    argv[0] = ctl;
    argv[1] = "-d";
    argv[2] = path_in(b, data, sizeof data, data_rel);
    argv[3] = "register";
    argv[4] = org;
    argv[5] = "--kind";
    argv[6] = kind;
    argv[7] = "--pub";
    argv[8] = path_in(b, pub, sizeof pub, rel);
    argv[9] = NULL;
    p = bench_proc_start(argv, path_in(b, logp, sizeof logp, "ctl.log"));
    st = p != NULL ? bench_proc_wait(&p, 15000) : -1;
    if (st != 0)
        fprintf(stderr, "renkei-bench: renkei-ctl register %s failed (exit %d); see %s\n", org,
                st, logp);
    return st == 0 ? 0 : -1;
}

/* Starts renkei-hub on a free loopback port; endpoint filled. */
static bench_proc_t *start_hub(bench_t *b, const char *data_rel, char *endpoint, size_t ep_len)
{
    char hub[PATH_MAX], data[PATH_MAX], key[PATH_MAX], master[PATH_MAX], ready[PATH_MAX],
        logp[PATH_MAX];
    const char *argv[14 + MAX_HUB_ARGS] = {hub, "-d", data, "-k", key, "-m", master, "-b", "tcp://127.0.0.1:*",
                                           "-r", ready, "--map-size", "68719476736", NULL};
    bench_proc_t *p;
    for (size_t i = 0; i < b->o.n_hub_args; i++)
        argv[13 + i] = b->o.hub_args[i];
    if ((size_t)snprintf(hub, sizeof hub, "%s/renkei-hub", b->o.bin) >= sizeof hub)
        return NULL;
    path_in(b, data, sizeof data, data_rel);
    path_in(b, key, sizeof key, "keys/hub.key");
    path_in(b, master, sizeof master, "master.key");
    path_in(b, ready, sizeof ready, "hub.ready");
    unlink(ready);
    path_in(b, logp, sizeof logp, "hub.log");
    if (access(hub, X_OK) != 0) {
        fprintf(stderr, "renkei-bench: %s is missing; build Renkei or pass --bin DIR\n", hub);
        return NULL;
    }
    p = bench_proc_start(argv, logp);
    if (p != NULL && bench_wait_file(p, ready, endpoint, ep_len, 15000) != 0) {
        fprintf(stderr, "renkei-bench: renkei-hub did not start within 15 s; see %s\n", logp);
        bench_proc_stop(&p);
    }
    return p;
}

static bench_proc_t *start_forwarder(bench_t *b, char *endpoint, size_t ep_len)
{
    char self[PATH_MAX], key[PATH_MAX], ready[PATH_MAX], logp[PATH_MAX];
    const char *argv[] = {self, "--forwarder", key, "tcp://127.0.0.1:*", ready, NULL};
    bench_proc_t *p;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    path_in(b, key, sizeof key, "keys/fwd.key");
    path_in(b, ready, sizeof ready, "fwd.ready");
    path_in(b, logp, sizeof logp, "fwd.log");
    p = bench_proc_start(argv, logp);
    if (p != NULL && bench_wait_file(p, ready, endpoint, ep_len, 15000) != 0) {
        fprintf(stderr, "renkei-bench: the bare forwarder did not start; see %s\n", logp);
        bench_proc_stop(&p);
    }
    return p;
}

/* ------------------------------------------------------------ measurements */

static const char *const tp_key[3][2] = {
    {"hub_msgs_per_s_512", "hub_msgs_per_s_2048"},
    {"bare_msgs_per_s_512", "bare_msgs_per_s_2048"},
    {"mosquitto_msgs_per_s_512", "mosquitto_msgs_per_s_2048"},
};
static const char *const tp_label[3][2] = {
    {"hub: routed messages/s, 512 B", "hub: routed messages/s, 2 KiB"},
    {"bare forwarder: messages/s, 512 B", "bare forwarder: messages/s, 2 KiB"},
    {"mosquitto QoS 1: messages/s, 512 B", "mosquitto QoS 1: messages/s, 2 KiB"},
};
static const char *const cpu_key[3][2] = {
    {"hub_cpu_us_per_msg_512", "hub_cpu_us_per_msg_2048"},
    {"bare_cpu_us_per_msg_512", "bare_cpu_us_per_msg_2048"},
    {"mosquitto_cpu_us_per_msg_512", "mosquitto_cpu_us_per_msg_2048"},
};
static const char *const cpu_label[3][2] = {
    {"hub: CPU per message, 512 B", "hub: CPU per message, 2 KiB"},
    {"bare forwarder: CPU per message, 512 B", "bare forwarder: CPU per message, 2 KiB"},
    {"mosquitto: CPU per message, 512 B", "mosquitto: CPU per message, 2 KiB"},
};
static const char *const wchar_key[3][2] = {
    {"hub_wchar_kib_per_msg_512", "hub_wchar_kib_per_msg_2048"},
    {"bare_wchar_kib_per_msg_512", "bare_wchar_kib_per_msg_2048"},
    {"mosquitto_wchar_kib_per_msg_512", "mosquitto_wchar_kib_per_msg_2048"},
};
static const char *const wchar_label[3][2] = {
    {"hub: KiB written (wchar) per msg, 512 B", "hub: KiB written (wchar) per msg, 2 KiB"},
    {"bare forwarder: KiB written per msg, 512 B", "bare forwarder: KiB written per msg, 2 KiB"},
    {"mosquitto: KiB written per message, 512 B", "mosquitto: KiB written per message, 2 KiB"},
};
static const char *const wbytes_key[3][2] = {
    {"hub_write_bytes_kib_per_msg_512", "hub_write_bytes_kib_per_msg_2048"},
    {"bare_write_bytes_kib_per_msg_512", "bare_write_bytes_kib_per_msg_2048"},
    {"mosquitto_write_bytes_kib_per_msg_512", "mosquitto_write_bytes_kib_per_msg_2048"},
};
static const char *const wbytes_label[3][2] = {
    {"hub: KiB dirtied (write_bytes)/msg, 512 B", "hub: KiB dirtied (write_bytes)/msg, 2 KiB"},
    {"bare forwarder: KiB dirtied per msg, 512 B", "bare forwarder: KiB dirtied per msg, 2 KiB"},
    {"mosquitto: KiB dirtied per message, 512 B", "mosquitto: KiB dirtied per message, 2 KiB"},
};
static const char *const lat_key[2][3] = {
    {"hub_latency_p50_us", "hub_latency_p99_us", "hub_latency_p999_us"},
    {"bare_latency_p50_us", "bare_latency_p99_us", "bare_latency_p999_us"},
};
static const char *const heavy_key[2][3] = {
    {"hub_heavy_latency_p50_us", "hub_heavy_latency_p99_us", "hub_heavy_latency_p999_us"},
    {"bare_heavy_latency_p50_us", "bare_heavy_latency_p99_us", "bare_heavy_latency_p999_us"},
};
static const char *const heavy_label[2][3] = {
    {"hub: request/reply p50, heavy load", "hub: request/reply p99, heavy load",
     "hub: request/reply p99.9, heavy load"},
    {"bare forwarder: request/reply p50, heavy", "bare forwarder: request/reply p99, heavy",
     "bare forwarder: request/reply p99.9, heavy"},
};
static const char *const gen_key[3][2] = {
    {"hub_client_cpu_us_per_msg_512", "hub_client_cpu_us_per_msg_2048"},
    {"bare_client_cpu_us_per_msg_512", "bare_client_cpu_us_per_msg_2048"},
    {"mosquitto_client_cpu_us_per_msg_512", "mosquitto_client_cpu_us_per_msg_2048"},
};
static const char *const gen_label[3][2] = {
    {"hub run: generator+sink CPU/msg, 512 B", "hub run: generator+sink CPU/msg, 2 KiB"},
    {"bare run: generator+sink CPU/msg, 512 B", "bare run: generator+sink CPU/msg, 2 KiB"},
    {"mosquitto run: clients CPU/msg, 512 B", "mosquitto run: clients CPU/msg, 2 KiB"},
};
static const char *const lat_label[2][3] = {
    {"hub: request/reply p50, light load", "hub: request/reply p99, light load",
     "hub: request/reply p99.9, light load"},
    {"bare forwarder: request/reply p50", "bare forwarder: request/reply p99",
     "bare forwarder: request/reply p99.9"},
};

static const char *const agent_lat_key[2][3] = {
    {"agents_latency_p50_us", "agents_latency_p99_us", "agents_latency_p999_us"},
    {"agents_heavy_latency_p50_us", "agents_heavy_latency_p99_us", "agents_heavy_latency_p999_us"},
};
static const char *const agent_lat_label[2][3] = {
    {"agents via hub: request/reply p50, light", "agents via hub: request/reply p99, light",
     "agents via hub: request/reply p99.9, light"},
    {"agents via hub: request/reply p50, heavy", "agents via hub: request/reply p99, heavy",
     "agents via hub: request/reply p99.9, heavy"},
};

/* User + system CPU seconds of this process (all threads). */
static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static const char *const tp_ratio_key[2][2] = {
    {"hub_over_bare_512", "hub_over_bare_2048"},
    {"hub_over_mosquitto_512", "hub_over_mosquitto_2048"},
};
static const char *const tp_ratio_label[2][2] = {
    {"hub / bare forwarder, 512 B", "hub / bare forwarder, 2 KiB"},
    {"hub / mosquitto QoS 1, 512 B", "hub / mosquitto QoS 1, 2 KiB"},
};

/* Records the bytes server `which` wrote per message over a pass, from its
 * /proc/PID/io before (io0: wchar, write_bytes) and after (io1); io_ok is
 * 0 if both were read.  write_bytes only where the kernel counts it, which
 * the hub's pass (first in each repetition) tells. */
static void record_io(bench_t *b, int which, size_t pl, int io_ok, const double io0[2],
                      const double io1[2])
{
    static const char *const no_field =
        "not reported: /proc/PID/io has no write_bytes here (kernel without task I/O "
        "accounting); the bytes written (wchar) are above";
    static const char *const not_counted =
        "not counted here: write_bytes stayed 0 while the hub wrote and flushed (no "
        "block-device accounting: a filesystem in memory such as tmpfs, or some containers); the "
        "bytes written (wchar) are above";
    double n = (double)b->o.messages;
    if (io_ok != 0) {
        skip(b, wchar_key[which][pl], wchar_label[which][pl], "KiB",
             "not measured: /proc/PID/io of the server cannot be read");
        skip(b, wbytes_key[which][pl], wbytes_label[which][pl], "KiB",
             "not measured: /proc/PID/io of the server cannot be read");
        return;
    }
    record(b, wchar_key[which][pl], wchar_label[which][pl], "KiB", (io1[0] - io0[0]) / 1024 / n);
    if (which == 0 && b->write_bytes_seen == 0) {
        if (io0[1] < 0 || io1[1] < 0)
            b->write_bytes_seen = -1;
        else if (io1[1] > io0[1])
            b->write_bytes_seen = 1;
        else if (io1[0] > io0[0])
            b->write_bytes_seen = -1;
    }
    if (b->write_bytes_seen > 0 && io0[1] >= 0 && io1[1] >= 0)
        record(b, wbytes_key[which][pl], wbytes_label[which][pl], "KiB",
               (io1[1] - io0[1]) / 1024 / n);
    else if (b->write_bytes_seen < 0)
        skip(b, wbytes_key[which][pl], wbytes_label[which][pl], "KiB",
             io1[1] < 0 ? no_field : not_counted);
}

/* One timed pass of system `which`; its messages/s in *rate. */
static int one_pass(bench_t *b, int which, size_t pl, double *rate)
{
    char why[512] = "";
    double elapsed = 0, c0 = bench_proc_cpu_s(b->srv[which]), c1, g0, g1, io0[2], io1[2];
    int rc, io_ok = bench_proc_io(b->srv[which], &io0[0], &io0[1]);
    g0 = self_cpu_s();
    if (which == 2)
        rc = bench_mqtt_pass(b->mq, payloads[pl], b->o.messages, &elapsed, why, sizeof why);
    else
        rc = bench_load_pass(b->load[which], payloads[pl], b->o.messages, &elapsed, why,
                             sizeof why);
    if (rc != 0) {
        fprintf(stderr, "renkei-bench: %s: %s\n", tp_label[which][pl], why);
        return -1;
    }
    g1 = self_cpu_s();
    c1 = bench_proc_cpu_s(b->srv[which]);
    if (io_ok == 0)
        io_ok = bench_proc_io(b->srv[which], &io1[0], &io1[1]);
    record_io(b, which, pl, io_ok, io0, io1);
    *rate = (double)b->o.messages / elapsed;
    /* The generator's share includes building the envelopes (before the
     * clock starts): an upper bound on its cost during the pass. */
    if (g0 >= 0 && g1 >= 0)
        record(b, gen_key[which][pl], gen_label[which][pl], "us",
               (g1 - g0) * 1e6 / (double)b->o.messages);
    record(b, tp_key[which][pl], tp_label[which][pl], "msg/s", *rate);
    if (c0 >= 0 && c1 >= 0)
        record(b, cpu_key[which][pl], cpu_label[which][pl], "us",
               (c1 - c0) * 1e6 / (double)b->o.messages);
    fprintf(stderr, "  %s: %.0f msg/s\n", tp_label[which][pl], *rate);
    return 0;
}

/* Each repetition runs the hub, the forwarder and mosquitto back to back,
 * so that a ratio compares passes made moments apart on a shared machine;
 * the ratios are kept per repetition. */
static int throughput(bench_t *b)
{
    for (size_t pl = 0; pl < 2; pl++)
        for (size_t r = 0; r < b->o.repeat; r++) {
            double rate[3] = {0, 0, 0};
            for (int w = 0; w < 3; w++)
                if ((w < 2 || b->mq != NULL) && one_pass(b, w, pl, &rate[w]) != 0)
                    return -1;
            record_ratio(b, tp_ratio_key[0][pl], tp_ratio_label[0][pl], rate[0] / rate[1]);
            if (b->mq != NULL)
                record_ratio(b, tp_ratio_key[1][pl], tp_ratio_label[1][pl], rate[0] / rate[2]);
            else
                (void)find_in(b->rat, &b->nrat, tp_ratio_key[1][pl], tp_ratio_label[1][pl], "x");
        }
    return 0;
}

/* Latency rounds: light (no other traffic) or, with load non-NULL, while
 * the background thread keeps the server saturated. */
static int latency_rounds(bench_t *b, int which, size_t samples, const atomic_int *load,
                          const char *const key[3], const char *const label[3])
{
    char why[512] = "";
    bench_series_t *s = bench_series_new();
    if (s == NULL)
        return -1;
    for (size_t r = 0; r < b->o.repeat; r++) {
        bench_series_reset(s);
        if (bench_load_latency(b->load[which], samples, 512, load, s, why, sizeof why) != 0) {
            fprintf(stderr, "renkei-bench: %s: %s\n", label[0], why);
            bench_series_destroy(&s);
            return -1;
        }
        record(b, key[0], label[0], "us", bench_series_pct(s, 50));
        record(b, key[1], label[1], "us", bench_series_pct(s, 99));
        record(b, key[2], label[2], "us", bench_series_pct(s, 99.9));
        fprintf(stderr, "  %s: %.0f us\n", label[0], bench_series_pct(s, 50));
    }
    bench_series_destroy(&s);
    return 0;
}

/* Request/reply between two real agents through the hub (light: nothing
 * else running; with load non-NULL: while the background thread keeps the
 * hub saturated). */
static int agent_latency_rounds(bench_t *b, size_t samples, const atomic_int *load, int heavy)
{
    char why[512] = "";
    const char *const *key = agent_lat_key[heavy], *const *label = agent_lat_label[heavy];
    bench_series_t *s = bench_series_new();
    if (s == NULL)
        return -1;
    for (size_t r = 0; r < b->o.repeat; r++) {
        bench_series_reset(s);
        if (bench_agents_latency(b->ag, samples, 512, load, s, why, sizeof why) != 0) {
            fprintf(stderr, "renkei-bench: %s: %s\n", label[0], why);
            bench_series_destroy(&s);
            return -1;
        }
        record(b, key[0], label[0], "us", bench_series_pct(s, 50));
        record(b, key[1], label[1], "us", bench_series_pct(s, 99));
        record(b, key[2], label[2], "us", bench_series_pct(s, 99.9));
        fprintf(stderr, "  %s: %.0f us\n", label[0], bench_series_pct(s, 50));
    }
    bench_series_destroy(&s);
    return 0;
}

typedef struct bg_run {
    bench_load_t *l;
    size_t messages;
    atomic_int stop, busy;
    int rc;
    char why[512];
} bg_run_t;

/* The background thread: passes of 512 B messages until told to stop. */
static void *bg_main(void *arg)
{
    bg_run_t *g = arg;
    while (!atomic_load(&g->stop)) {
        double e;
        if (bench_load_pass(g->l, 512, g->messages, &e, g->why, sizeof g->why) != 0) {
            g->rc = -1;
            break;
        }
    }
    return NULL;
}

static int latency(bench_t *b, int which)
{
    bg_run_t g;
    pthread_t th;
    size_t heavy = b->o.samples / 10;
    int rc;

    if (latency_rounds(b, which, b->o.samples, NULL, lat_key[which], lat_label[which]) != 0)
        return -1;
    /* The same round trip between two real agents, at the hub only: read
     * beside the raw clients' figures, which are the floor. */
    if (which == 0 && agent_latency_rounds(b, b->o.agent_samples, NULL, 0) != 0)
        return -1;
    /* Heavy load: the background identities send with full windows while
     * one request/reply is measured at a time; fewer samples, since each
     * waits behind the others' queue. */
    if (heavy < 10)
        heavy = 10;
    if (heavy > 100)
        heavy = 100;
    memset(&g, 0, sizeof g);
    g.l = b->bg[which];
    g.messages = b->o.messages;
    atomic_init(&g.stop, 0);
    atomic_init(&g.busy, 0);
    bench_load_set_flags(b->bg[which], &g.stop, &g.busy);
    if (pthread_create(&th, NULL, bg_main, &g) != 0) {
        fprintf(stderr, "renkei-bench: cannot start the background load thread\n");
        return -1;
    }
    rc = latency_rounds(b, which, heavy, &g.busy, heavy_key[which], heavy_label[which]);
    if (rc == 0 && which == 0) {
        size_t agent_heavy = b->o.agent_samples / 5;
        if (agent_heavy < 10)
            agent_heavy = 10;
        if (agent_heavy > 100)
            agent_heavy = 100;
        rc = agent_latency_rounds(b, agent_heavy, &g.busy, 1);
    }
    atomic_store(&g.stop, 1);
    pthread_join(th, NULL);
    bench_load_set_flags(b->bg[which], NULL, NULL);
    if (g.rc != 0) {
        fprintf(stderr, "renkei-bench: background load: %s\n", g.why);
        return -1;
    }
    return rc;
}

/* The disk's durable-write floor, timed in the temporary directory (the
 * hub's filesystem) while the hub is up but idle, just before its latency
 * is measured: per repetition, o.disk_rounds rounds of one 4 KiB page at a
 * rotating offset + fdatasync (about what LMDB's meta-page write through
 * its O_DSYNC descriptor costs) and as many of 32 scattered pages +
 * fdatasync (about a lightly loaded commit's data flush). */
static int disk_floor(bench_t *b)
{
    static const size_t pages[2] = {1, 32};
    static const char *const key[2][2] = {
        {"disk_4k_fdatasync_p50_us", "disk_4k_fdatasync_p99_us"},
        {"disk_32pages_fdatasync_p50_us", "disk_32pages_fdatasync_p99_us"},
    };
    static const char *const label[2][2] = {
        {"disk: 4 KiB write + fdatasync p50", "disk: 4 KiB write + fdatasync p99"},
        {"disk: 32 scattered pages + fdatasync p50", "disk: 32 scattered pages + fdatasync p99"},
    };
    char why[512] = "";
    bench_disk_t *d = bench_disk_new(b->dir, why, sizeof why);
    bench_series_t *s = bench_series_new();
    int rc = -1;

    if (d == NULL || s == NULL) {
        fprintf(stderr, "renkei-bench: the disk's durable-write floor: %s\n",
                d == NULL ? why : "out of memory");
        goto fail;
    }
    b->disk_in_memory = bench_disk_in_memory(d);
    if (b->disk_in_memory)
        fprintf(stderr, "renkei-bench: warning: %s is on a filesystem held in memory: its "
                "flushes cost nothing, and neither do the hub's, so no figure here says "
                "anything about a disk (set TMPDIR to a directory on one)\n", b->dir);
    for (size_t r = 0; r < b->o.repeat; r++) {
        double p50[2];
        for (int k = 0; k < 2; k++) {
            bench_series_reset(s);
            if (bench_disk_rounds(d, pages[k], b->o.disk_rounds, s, why, sizeof why) != 0) {
                fprintf(stderr, "renkei-bench: %s: %s\n", label[k][0], why);
                goto fail;
            }
            p50[k] = bench_series_pct(s, 50);
            record(b, key[k][0], label[k][0], "us", p50[k]);
            record(b, key[k][1], label[k][1], "us", bench_series_pct(s, 99));
        }
        record(b, "disk_durable_rr_floor_p50_us", "durable request/reply floor p50", "us",
               2 * p50[1] + 2 * p50[0]);
        fprintf(stderr, "  disk: 4 KiB + fdatasync %.0f us, 32 pages + fdatasync %.0f us (p50)\n",
                p50[0], p50[1]);
    }
    rc = 0;
fail:
    bench_series_destroy(&s);
    bench_disk_destroy(&d);
    return rc;
}

/* Starts the hub and the forwarder and connects both identity sets to
 * each (warm-up included).  0 on success. */
static int start_servers(bench_t *b, const uint8_t hub_pk[RK_KEY_LEN],
                         const uint8_t fwd_pk[RK_KEY_LEN])
{
    char ep[2][256], why[512] = "";
    const uint8_t *pk[2] = {hub_pk, fwd_pk};
    static const bench_target target[2] = {BENCH_TARGET_HUB, BENCH_TARGET_BARE};
    static const char *const name[2] = {"hub", "bare forwarder"};

    b->srv[0] = start_hub(b, "hub", ep[0], sizeof ep[0]);
    if (b->srv[0] == NULL)
        return -1;
    b->srv[1] = start_forwarder(b, ep[1], sizeof ep[1]);
    if (b->srv[1] == NULL)
        return -1;
    for (int w = 0; w < 2; w++) {
        if (w == 0) {
            snprintf(b->hub_ep, sizeof b->hub_ep, "%s", ep[w]);
            bench_agents_set_endpoint(b->ag, ep[w]);
        }
        fprintf(stderr, "renkei-bench: %s on %s (pid %d)\n", name[w], ep[w],
                (int)bench_proc_pid(b->srv[w]));
        if (bench_load_connect(b->load[w], target[w], ep[w], pk[w], why, sizeof why) != 0 ||
            bench_load_connect(b->bg[w], target[w], ep[w], pk[w], why, sizeof why) != 0) {
            fprintf(stderr, "renkei-bench: %s warm-up: %s\n", name[w], why);
            return -1;
        }
    }
    return 0;
}

/* Records v under "KEY_P" / "table P: LABEL" (made at run time, kept
 * until the end). */
static void record_table(bench_t *b, size_t persons, const char *key, const char *label,
                         const char *unit, double v)
{
    char(*n)[96];
    if (b->nnames == MAX_FIGURES) {
        fprintf(stderr, "renkei-bench: too many figures to record %s\n", key);
        return;
    }
    n = b->names[b->nnames++];
    snprintf(n[0], sizeof n[0], "%s_%zu", key, persons);
    snprintf(n[1], sizeof n[1], "table %zu: %s", persons, label);
    record(b, n[0], n[1], unit, v);
}

/* Enrollment and first contact through the running hub: each repetition
 * enrolls o.enroll new persons (Enroll frames pipelined, window W) and
 * then sends one message about each to a utility that does not know them
 * yet, so every message makes the hub issue a link code. */
static int enroll_rates(bench_t *b, const uint8_t hub_pk[RK_KEY_LEN])
{
    char why[512] = "";
    bench_load_set_persons(b->enr, BENCH_PERSONS_LATER);
    if (bench_load_connect(b->enr, BENCH_TARGET_HUB, b->hub_ep, hub_pk, why, sizeof why) != 0) {
        fprintf(stderr, "renkei-bench: enrollment: %s\n", why);
        return -1;
    }
    for (size_t r = 0; r < b->o.repeat; r++) {
        double e = 0, f = 0;
        if (bench_load_enroll(b->enr, &e, why, sizeof why) != 0 ||
            bench_load_pass(b->enr, 512, b->o.enroll, &f, why, sizeof why) != 0) {
            fprintf(stderr, "renkei-bench: enrollment / first contact: %s\n", why);
            return -1;
        }
        record(b, "hub_enroll_per_s", "hub: enrollments/s (one municipality)", "1/s",
               (double)b->o.enroll / e);
        record(b, "hub_first_contact_per_s", "hub: first-contact messages/s", "msg/s",
               (double)b->o.enroll / f);
        fprintf(stderr, "  enrollments: %.0f/s, first contacts: %.0f msg/s\n",
                (double)b->o.enroll / e, (double)b->o.enroll / f);
    }
    bench_load_disconnect(b->enr);
    return 0;
}

/* The move scenario with real agents through the running hub: each
 * repetition completes o.moves moves over o.movers concurrent movers. */
static int agent_moves(bench_t *b)
{
    char why[512] = "";
    for (size_t r = 0; r < b->o.repeat; r++) {
        bench_moves_t m;
        if (bench_agents_moves(b->ag, b->o.moves, 512, &m, why, sizeof why) != 0) {
            fprintf(stderr, "renkei-bench: move scenario with real agents: %s\n", why);
            return -1;
        }
        record(b, "agents_moves_per_s", "agents: moves completed/s", "1/s",
               (double)m.moves / m.elapsed_s);
        record(b, "agents_move_replies_per_s", "agents: replies/s in the move scenario", "1/s",
               (double)m.replies / m.elapsed_s);
        fprintf(stderr, "  moves with real agents: %.1f/s, %.1f replies/s\n",
                (double)m.moves / m.elapsed_s, (double)m.replies / m.elapsed_s);
    }
    return 0;
}

/* "http send": messages/s through renkei-agent http beside rk_agent_send. */
static int http_send(bench_t *b)
{
    char why[512] = "", pub[PATH_MAX], logp[PATH_MAX];
    for (size_t r = 0; r < b->o.repeat; r++) {
        double http = 0, lib = 0;
        if (bench_httpsend_run(b->hs, b->o.bin, b->hub_ep, path_in(b, pub, sizeof pub, "keys/hub.pub"),
                               path_in(b, logp, sizeof logp, "http.log"), b->o.quick ? 200 : 2000, 4, &http,
                               &lib, why, sizeof why) != 0) {
            fprintf(stderr, "renkei-bench: http send: %s\n", why);
            return -1;
        }
        record(b, "http_send_per_s", "agent HTTP API: sends/s (4 keep-alive clients)", "msg/s", http);
        record(b, "library_send_per_s", "agent library: sends/s (rk_agent_send)", "msg/s", lib);
        fprintf(stderr, "  http send: %.0f msg/s via HTTP, %.0f msg/s via the library\n", http, lib);
    }
    return 0;
}

/* Deliveries/s through serve --webhook beside the library taking them. */
static int webhook_rates(bench_t *b)
{
    char why[512] = "";
    for (size_t r = 0; r < b->o.repeat; r++) {
        bench_webhook_rates_t w;
        if (bench_webhook_run(b->wh, b->hub_ep, b->o.quick ? 300 : 3000, &w, why, sizeof why) != 0) {
            fprintf(stderr, "renkei-bench: webhook: %s\n", why);
            return -1;
        }
        record(b, "webhook_deliveries_per_s", "agents: deliveries/s via serve --webhook", "1/s",
               w.webhook_per_s);
        record(b, "library_deliveries_per_s", "agents: deliveries/s via the library (recv, done)", "1/s",
               w.library_per_s);
        record_ratio(b, "webhook_vs_library", "serve --webhook / library receive",
                     w.webhook_per_s / w.library_per_s);
        fprintf(stderr, "  deliveries: %.0f/s via serve --webhook, %.0f/s via the library\n", w.webhook_per_s,
                w.library_per_s);
    }
    return 0;
}

/* One table size: P persons (rounded up to a multiple of the senders),
 * each known to one municipality and two utilities, loaded through the
 * store, then the real hub started on it and timed passes with persons
 * drawn at random from the whole table. */
static int scale_one(bench_t *b, size_t idx, bool largest, const uint8_t hub_pk[RK_KEY_LEN],
                     double *rates)
{
    char tag[8], data_rel[32], data[PATH_MAX], keys[PATH_MAX], master[PATH_MAX], ep[256],
        why[512] = "";
    size_t n_s = b->o.senders, pps = (b->o.scale[idx] + n_s - 1) / n_s, persons = pps * n_s;
    bench_load_t *l = NULL;
    bench_proc_t *hub = NULL;
    double load_s = 0, disk, in_use, rss;
    int rc = -1;

    snprintf(tag, sizeof tag, "scl%c", (char)('a' + idx));
    snprintf(data_rel, sizeof data_rel, "scale-%zu", idx);
    path_in(b, keys, sizeof keys, "keys");
    path_in(b, data, sizeof data, data_rel);
    path_in(b, master, sizeof master, "master.key");
    l = bench_load_new(keys, tag, n_s, 2, pps, b->o.window, why, sizeof why);
    if (l == NULL)
        goto fail;
    bench_load_set_persons(l, BENCH_PERSONS_GIVEN);
    bench_load_set_random_ids(l, b->o.random_ids);
    for (size_t i = 0; i < n_s; i++)
        if (register_org(b, bench_load_sender_name(l, i), "municipality", data_rel) != 0)
            goto out;
    for (size_t i = 0; i < 2; i++)
        if (register_org(b, bench_load_recipient_name(l, i), "utility", data_rel) != 0)
            goto out;
    if (bench_scale_fill(data, master, l, pps, &load_s, why, sizeof why) != 0)
        goto fail;
    disk = bench_scale_disk_bytes(data, &in_use);
    fprintf(stderr, "renkei-bench: table of %zu persons loaded in %.1f s\n", persons, load_s);
    record_table(b, persons, "scale_load_persons_per_s", "loading, persons/s", "1/s",
                 (double)persons / load_s);
    if (disk > 0)
        record_table(b, persons, "scale_disk_bytes_per_person", "bytes on disk per person", "B",
                     disk / (double)persons);
    if (in_use > 0)
        record_table(b, persons, "scale_used_bytes_per_person", "bytes in use per person", "B",
                     in_use / (double)persons);
    hub = start_hub(b, data_rel, ep, sizeof ep);
    if (hub == NULL)
        goto out;
    if (bench_load_connect(l, BENCH_TARGET_HUB, ep, hub_pk, why, sizeof why) != 0)
        goto fail;
    for (size_t r = 0; r < b->o.repeat; r++) {
        double e = 0;
        if (bench_load_pass(l, 512, b->o.messages, &e, why, sizeof why) != 0)
            goto fail;
        rates[r] = (double)b->o.messages / e;
        record_table(b, persons, "scale_msgs_per_s", "routed messages/s, 512 B", "msg/s",
                     rates[r]);
        fprintf(stderr, "  table %zu: %.0f msg/s\n", persons, rates[r]);
    }
    /* Only at the largest table: at small ones the hub's fixed memory
     * dominates and "per person" would mislead. */
    rss = bench_scale_rss_bytes(bench_proc_pid(hub));
    if (rss > 0 && largest)
        record_table(b, persons, "scale_rss_bytes_per_person", "hub resident memory per person",
                     "B", rss / (double)persons);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "renkei-bench: table of %zu persons: %s\n", persons, why);
out:
    bench_load_destroy(&l);
    bench_proc_stop(&hub);
    if (!b->o.keep)
        bench_rm_tree(data);
    return rc;
}

static int scale(bench_t *b, const uint8_t hub_pk[RK_KEY_LEN])
{
    double rates[MAX_SCALE][64];
    size_t lo = 0, hi = 0, reps = b->o.repeat < 64 ? b->o.repeat : 64;
    b->o.repeat = reps;
    for (size_t i = 0; i < b->o.nscale; i++) {
        if (b->o.scale[i] < b->o.scale[lo])
            lo = i;
        if (b->o.scale[i] > b->o.scale[hi])
            hi = i;
    }
    for (size_t i = 0; i < b->o.nscale; i++)
        if (scale_one(b, i, i == hi, hub_pk, rates[i]) != 0)
            return -1;
    for (size_t r = 0; r < reps; r++) {
        /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): scale_one() filled every rate */
        double ratio = rates[hi][r] / rates[lo][r];
        record_ratio(b, "scale_largest_over_smallest", "table largest / smallest, msg/s", ratio);
    }
    return 0;
}

static const char *find_mosquitto(char *out, size_t len)
{
    static const char *const where[] = {"/usr/sbin/mosquitto", "/usr/bin/mosquitto",
                                        "/usr/local/sbin/mosquitto", "/usr/local/bin/mosquitto"};
    for (size_t i = 0; i < sizeof where / sizeof *where; i++)
        if (access(where[i], X_OK) == 0) {
            snprintf(out, len, "%s", where[i]);
            return out;
        }
    return NULL;
}

static void skip_mqtt(bench_t *b, const char *why)
{
    snprintf(b->mosq_note, sizeof b->mosq_note, "%s", why);
    for (size_t pl = 0; pl < 2; pl++) {
        skip(b, tp_key[2][pl], tp_label[2][pl], "msg/s", b->mosq_note);
        skip(b, cpu_key[2][pl], cpu_label[2][pl], "us", b->mosq_note);
        skip(b, gen_key[2][pl], gen_label[2][pl], "us", b->mosq_note);
        skip(b, wchar_key[2][pl], wchar_label[2][pl], "KiB", b->mosq_note);
        skip(b, wbytes_key[2][pl], wbytes_label[2][pl], "KiB", b->mosq_note);
    }
}

/* Starts mosquitto and connects its clients (b->srv[2], b->mq), or notes
 * why it is not measured.  0 unless something that should work failed. */
static int start_mosquitto(bench_t *b)
{
    char exe[PATH_MAX], conf[PATH_MAX], logp[PATH_MAX], store[PATH_MAX], why[512] = "";
    const char *argv[] = {exe, "-c", conf, NULL};
    bench_proc_t *mq = NULL;
    bench_mqtt_t *m = NULL;
    FILE *f;
    int port;

    if (b->o.no_mosquitto) {
        skip_mqtt(b, "skipped (--no-mosquitto)");
        return 0;
    }
    if (!bench_mqtt_built()) {
        skip_mqtt(b, "not built: pkg-config found no libmosquitto when renkei-bench was "
                     "configured (install libmosquitto-dev and rebuild)");
        return 0;
    }
    if (find_mosquitto(exe, sizeof exe) == NULL) {
        skip_mqtt(b, "not run: no mosquitto broker installed (Debian package mosquitto)");
        return 0;
    }
    port = bench_free_port();
    path_in(b, conf, sizeof conf, "mosquitto.conf");
    path_in(b, logp, sizeof logp, "mosquitto.log");
    path_in(b, store, sizeof store, "mosquitto");
    if (port == 0 || (f = fopen(conf, "w")) == NULL) {
        fprintf(stderr, "renkei-bench: cannot prepare mosquitto's config\n");
        return -1;
    }
    fprintf(f,
            "listener %d 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            "persistence_location %s/\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 0\n"
            "set_tcp_nodelay true\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n",
            port, b->dir);
    if (fclose(f) != 0)
        return -1;
    mq = bench_proc_start(argv, logp);
    if (mq == NULL)
        return -1;
    /* mosquitto writes no ready file: retry connecting for a while. */
    for (int i = 0; i < 100 && m == NULL; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        if (!bench_proc_alive(mq))
            break;
        m = bench_mqtt_new(port, b->o.senders, b->o.recipients, b->o.window, why, sizeof why);
    }
    if (m == NULL) {
        fprintf(stderr, "renkei-bench: mosquitto: %s (see %s)\n", why, logp);
        bench_proc_stop(&mq);
        return -1;
    }
    fprintf(stderr, "renkei-bench: mosquitto on 127.0.0.1:%d (pid %d)\n", port,
            (int)bench_proc_pid(mq));
    {
        double e;
        if (bench_mqtt_pass(m, 512, b->o.senders * b->o.recipients * 4, &e, why, sizeof why) != 0) {
            fprintf(stderr, "renkei-bench: mosquitto warm-up: %s\n", why);
            bench_mqtt_destroy(&m);
            bench_proc_stop(&mq);
            return -1;
        }
    }
    b->srv[2] = mq;
    b->mq = m;
    return 0;
}

/* ------------------------------------------------------------ report */

static const char *const not_measured[] = {
    "scale at 10^6 and 10^7 persons in the default run (run --scale 10000,1000000,10000000)",
    "the move scenario's stop requests from the origin to the utilities, and a utility served "
    "by several agent processes sharing one data directory (here each utility is one agent)",
    "Mosquitto request/reply latency",
};

static const char *const notes[] = {
    "Renkei's ACCEPTED is durable: the message is committed and flushed to disk (LMDB) "
    "before the sender hears it; Mosquitto's persistence (persistence true) does NOT flush "
    "each message to disk: it saves its in-memory state only every autosave interval, so "
    "a crash loses what it acknowledged since.",
    "The bare forwarder is the physical limit: ZeroMQ ROUTER with CURVE, no key lookups, no "
    "translation, no storage, no routing log.",
    "A message counts as routed when its sender has its acceptance AND its recipient has "
    "it and has acknowledged it.  Payload size is the encrypted WHAT (hub, forwarder) or "
    "the MQTT payload.",
    "Heavy load: a second set of identities (the same numbers of senders and recipients, "
    "the same windows) sends 512 B messages flat out in another thread while one "
    "request/reply is timed at a time; a round trip counts only if that load ran from its "
    "start to its end.",
    "Each repetition runs the hub, the forwarder and mosquitto back to back (all three "
    "servers stay up), so a throughput ratio compares passes made moments apart; ratios are "
    "taken per repetition.",
    "Tables (scale): for each size P, a fresh data directory gets P persons, each known to "
    "one of the senders and to two utilities (3 organizations, so 3 link codes and 3 reverse "
    "entries each), written straight through the hub's store API 10 000 persons per commit "
    "(the loading time; the store's encryption of every entry included); then a hub of its "
    "own is started on it (the main hub and the baselines are stopped by then) and each "
    "message's person is drawn at random from the whole table.  Bytes on disk: LMDB's last "
    "page times its page size, over P; bytes in use: the same less LMDB's free list (pages "
    "freed by copy-on-write commits, reused by later writes).  Resident memory: the hub's "
    "VmRSS after its passes, over P, at the largest table only.",
    "Enrollment: one municipality sends Enroll frames with the same window as the throughput "
    "pass; first contact: one message about each of those new persons to a utility that does "
    "not know them yet, so the hub issues a link code for every message.",
    "Real agents: each party runs the agent library with its own data directory (LMDB, "
    "flushed to disk on every commit): the sender seals (encrypts, signs) and commits each "
    "message to its outbox before it leaves, the recipient verifies, decrypts and commits it "
    "to its inbox before it acknowledges.  Request/reply between two agents: a municipality "
    "sends utility.supply.stop (512 B) about one of four enrolled persons; the utility's "
    "agent, in a thread of its own, takes it from its inbox and replies at once; timed from "
    "before the request is sealed until the reply is decrypted and handed out.  Heavy load: "
    "the same background load as the raw clients' heavy figures.  The raw clients' figures "
    "(hub, bare forwarder) are the floor the agents' are read against.",
    "HTTP send: one municipality sends notices (512 B class, no reply) to a utility, first with "
    "the agent library (rk_agent_send, one after another), then with the same data directory "
    "served by renkei-agent http, 4 client threads each on one keep-alive connection POSTing "
    "/v1/messages (own Idempotency-Key each); every message is committed to the outbox and "
    "ACCEPTED by the hub before its answer in both.",
    "Move scenario: N movers (--movers), each an origin and a destination municipality of its "
    "own (an agent's data directory opens once per process, and an organization has one "
    "receiving connection), and three utilities (power, gas, water), each one agent in a "
    "thread.  A move: the origin sends move.out.notice to its destination (first contact); the "
    "destination sends utility.supply.start to each utility under the code the notice brought "
    "(first contact), waits for the three replies and replies to the notice; the move is "
    "complete when the origin has that reply, so every reply is in.  One move in flight per "
    "origin; persons enrolled at the origin before the clock; every reply is marked done; all "
    "payloads 512 B.  Replies/s counts the four replies of each move.",
    "Webhook: one sender agent queues N notices (300 with --quick, else 3000) at the hub for "
    "a utility that is offline; then the utility takes them, timed from its first delivery to "
    "its last: once with the agent library in this process (recv, done: the baseline), once "
    "with renkei-agent serve --webhook (default --webhook-parallel 4) POSTing each to a "
    "minimal back office here (libmicrohttpd, answering {}: taken).  Each delivery is arrived, "
    "claimed and done, each durable, but commits are shared: the deliveries of a burst arrive in "
    "one commit either way; the library then claims and marks done one at a time (about two "
    "commits per delivery), while serve --webhook claims as many as it has free slots for in one "
    "commit and marks done those its back office finished in the same pool step in one: at most "
    "two commits per delivery, as few as two per four when the 4 slots are taken and answered "
    "together.",
    "CPU per message: user+system time of the server process (/proc/PID/stat) over a pass, "
    "divided by its messages; the resolution is one clock tick (10 ms) per pass.  The "
    "generator+sink figure is this process's own CPU over the pass, envelope building "
    "included, so an upper bound; on a 2-core machine it competes with the server.",
    "KiB written per message (1 KiB = 1024 bytes): the server's wchar in /proc/PID/io over a "
    "throughput pass, divided by its messages: bytes passed to write-like calls (write, "
    "pwrite; not a socket's send, which ZeroMQ uses, but Mosquitto sends with write, so its "
    "figure is the outgoing traffic).  For the hub: LMDB's dirty pages (4 KiB each) and "
    "meta-page updates, every one flushed before the loop goes on.  KiB dirtied: "
    "write_bytes from the same file, where the kernel counts it: page-cache pages made "
    "dirty, counted whole, so LMDB's 120-byte meta update counts a page, and a 4 KiB write "
    "into a larger page-cache folio (the kernel's readahead behind LMDB's map makes them) "
    "counts the folio: it can be several times the bytes written, and is not the bytes the "
    "device gets.  Mosquitto's 0 there is the point: "
    "it writes nothing to disk per message (it saves its state every autosave interval).",
    "Disk floor: in the benchmark's temporary directory (the hub's filesystem), while the hub "
    "is up but idle, just before its latency runs, a preallocated 16 MiB file gets "
    "--disk-rounds rounds of one 4 KiB pwrite at a rotating offset + fdatasync, then as many "
    "of 32 pages (128 KiB) at random offsets + fdatasync; p50 and p99 per repetition.  A "
    "durable request/reply through the hub needs at least two commits (the request "
    "accepted, the reply accepted), each at least one data flush (LMDB: pwrite the dirty "
    "pages, about 30 for a turn with one message, then fdatasync) and one meta-page flush "
    "(a 4 KiB write through an O_DSYNC descriptor).  So 2 x (32 pages p50) + 2 x (4 KiB p50) "
    "is a floor for the hub's request/reply latency on this machine: the 'durable "
    "request/reply floor' figure, and the hub's light-load p50 over it the last ratio.",
};

static char *cpu_model(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    if (f == NULL)
        return strdup("unknown");
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            fclose(f);
            if (v == NULL)
                return strdup("unknown");
            v++;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            return strdup(v);
        }
    fclose(f);
    return strdup("unknown");
}

typedef struct ratio {
    const char *key, *label, *num, *den;
} ratio_t;

static const ratio_t ratios[] = {
    {"hub_over_bare_latency_p50", "hub / bare forwarder, latency p50", "hub_latency_p50_us",
     "bare_latency_p50_us"},
    {"hub_over_bare_latency_p99", "hub / bare forwarder, latency p99", "hub_latency_p99_us",
     "bare_latency_p99_us"},
    {"hub_over_bare_heavy_latency_p99", "hub / bare forwarder, heavy-load p99",
     "hub_heavy_latency_p99_us", "bare_heavy_latency_p99_us"},
    {"agents_over_bare_latency_p99", "agents via hub / raw via bare fwd, p99",
     "agents_latency_p99_us", "bare_latency_p99_us"},
    {"agents_over_hub_latency_p99", "agents / raw clients via hub, p99", "agents_latency_p99_us",
     "hub_latency_p99_us"},
    {"agents_over_hub_heavy_latency_p99", "agents / raw clients via hub, heavy p99",
     "agents_heavy_latency_p99_us", "hub_heavy_latency_p99_us"},
    {"hub_over_disk_floor_latency_p50", "hub request/reply p50 / durable floor p50",
     "hub_latency_p50_us", "disk_durable_rr_floor_p50_us"},
    {"http_over_library_send", "agent sends/s: HTTP API / library", "http_send_per_s", "library_send_per_s"},
};

static void print_table(bench_t *b, const char *model, long cores)
{
    printf("\nrenkei-bench%s on %s (%ld cores), loopback\n", b->o.quick ? " --quick" : "", model,
           cores);
    printf("%zu senders (%zu persons each), %zu recipients, window %zu, %zu messages per pass, "
           "%zu latency samples, %zu repetitions\n",
           b->o.senders, b->o.persons, b->o.recipients, b->o.window, b->o.messages, b->o.samples,
           b->o.repeat);
    printf("real agents: %zu request/reply samples (light load), move scenario with %zu movers "
           "and %zu moves per run\n",
           b->o.agent_samples, b->o.movers, b->o.moves);
    printf("disk floor: %zu rounds of each durable write per repetition%s\n\n", b->o.disk_rounds,
           b->disk_in_memory ? "; WARNING: the temporary directory is on a filesystem held in "
                               "memory (tmpfs): no flush here reaches a disk"
                             : "");
    if (b->o.random_ids)
        printf("senders use random message ids (--random-ids)\n\n");
    if (b->o.n_hub_args > 0) {
        printf("renkei-hub started with:");
        for (size_t i = 0; i < b->o.n_hub_args; i++)
            printf(" %s", b->o.hub_args[i]);
        printf("\n\n");
    }
    printf("%-42s %12s %12s %12s  %s\n", "figure", "median", "min", "max", "unit");
    for (size_t i = 0; i < b->nfig; i++) {
        figure_t *f = &b->fig[i];
        if (bench_series_count(f->s) == 0) {
            printf("%-42s %12s  %s\n", f->label, "-", f->skipped ? f->skipped : "not measured");
            continue;
        }
        printf("%-42s %12.1f %12.1f %12.1f  %s\n", f->label, bench_series_pct(f->s, 50),
               bench_series_min(f->s), bench_series_max(f->s), f->unit);
    }
    printf("\n%-42s %12s %12s %12s\n", "ratio (throughput: per repetition)", "median", "min",
           "max");
    for (size_t i = 0; i < b->nrat; i++) {
        figure_t *f = &b->rat[i];
        if (bench_series_count(f->s) == 0)
            printf("%-42s %12s  %s\n", f->label, "-", b->mosq_note);
        else
            printf("%-42s %12.3f %12.3f %12.3f\n", f->label, bench_series_pct(f->s, 50),
                   bench_series_min(f->s), bench_series_max(f->s));
    }
    printf("%-42s %12s\n", "ratio (latency: of the medians)", "value");
    for (size_t i = 0; i < sizeof ratios / sizeof *ratios; i++) {
        double n = median_of(b, ratios[i].num), d = median_of(b, ratios[i].den);
        if (n > 0 && d > 0)
            printf("%-42s %12.2f\n", ratios[i].label, n / d);
        else
            printf("%-42s %12s\n", ratios[i].label, "-");
    }
    printf("\nnotes:\n");
    for (size_t i = 0; i < sizeof notes / sizeof *notes; i++)
        printf("  * %s\n", notes[i]);
    printf("\nnot measured yet:\n");
    for (size_t i = 0; i < sizeof not_measured / sizeof *not_measured; i++)
        printf("  - %s\n", not_measured[i]);
}

static int write_json(bench_t *b, const char *model, long cores)
{
    json_t *root = json_object(), *figs = json_object(), *rat = json_object(),
           *nm = json_array(), *nt = json_array(), *cfg;
    int rc;
    cfg = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "quick", b->o.quick,
                    "repeat", (json_int_t)b->o.repeat, "senders", (json_int_t)b->o.senders,
                    "recipients", (json_int_t)b->o.recipients, "persons",
                    (json_int_t)b->o.persons, "window", (json_int_t)b->o.window, "messages",
                    (json_int_t)b->o.messages, "latency_samples", (json_int_t)b->o.samples,
                    "agent_latency_samples", (json_int_t)b->o.agent_samples, "movers",
                    (json_int_t)b->o.movers, "moves", (json_int_t)b->o.moves, "disk_rounds",
                    (json_int_t)b->o.disk_rounds, "tmp_in_memory", b->disk_in_memory);
    json_object_set_new(root, "machine",
                        json_pack("{s:s,s:I}", "cpu_model", model, "cores", (json_int_t)cores));
    if (cfg != NULL) {
        json_t *ha = json_array();
        for (size_t i = 0; i < b->o.n_hub_args; i++)
            json_array_append_new(ha, json_string(b->o.hub_args[i]));
        json_object_set_new(cfg, "hub_args", ha);
        json_object_set_new(cfg, "random_ids", json_boolean(b->o.random_ids));
    }
    json_object_set_new(root, "config", cfg);
    for (size_t i = 0; i < b->nfig; i++) {
        figure_t *f = &b->fig[i];
        json_t *o;
        if (bench_series_count(f->s) == 0) {
            o = json_pack("{s:n,s:s,s:s}", "median", "unit", f->unit, "skipped",
                          f->skipped ? f->skipped : "not measured");
        } else {
            json_t *vals = json_array();
            o = json_pack("{s:f,s:f,s:f,s:s,s:s}", "median", bench_series_pct(f->s, 50), "min",
                          bench_series_min(f->s), "max", bench_series_max(f->s), "unit", f->unit,
                          "label", f->label);
            (void)vals;
            json_decref(vals);
        }
        json_object_set_new(figs, f->key, o);
    }
    for (size_t i = 0; i < b->nrat; i++) {
        figure_t *f = &b->rat[i];
        json_object_set_new(
            rat, f->key,
            bench_series_count(f->s) == 0
                ? json_pack("{s:n,s:s}", "median", "skipped", b->mosq_note)
                : json_pack("{s:f,s:f,s:f,s:s,s:s}", "median", bench_series_pct(f->s, 50), "min",
                            bench_series_min(f->s), "max", bench_series_max(f->s), "how",
                            "hub and baseline passes back to back, ratio per repetition",
                            "label", f->label));
    }
    for (size_t i = 0; i < sizeof ratios / sizeof *ratios; i++) {
        double n = median_of(b, ratios[i].num), d = median_of(b, ratios[i].den);
        json_object_set_new(rat, ratios[i].key,
                            n > 0 && d > 0 ? json_pack("{s:f,s:s,s:s}", "median", n / d, "how",
                                                       "ratio of the medians", "label",
                                                       ratios[i].label)
                                           : json_pack("{s:n}", "median"));
    }
    for (size_t i = 0; i < sizeof not_measured / sizeof *not_measured; i++)
        json_array_append_new(nm, json_string(not_measured[i]));
    for (size_t i = 0; i < sizeof notes / sizeof *notes; i++)
        json_array_append_new(nt, json_string(notes[i]));
    json_object_set_new(root, "figures", figs);
    json_object_set_new(root, "ratios", rat);
    json_object_set_new(root, "not_measured", nm);
    json_object_set_new(root, "notes", nt);
    rc = json_dump_file(root, b->o.json, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (rc != 0)
        fprintf(stderr, "renkei-bench: cannot write %s: %s\n", b->o.json, strerror(errno));
    return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ setup */

static int save_identity(bench_t *b, const char *name, uint8_t curve_pk[RK_KEY_LEN])
{
    char prefix[PATH_MAX], rel[64], why[512] = "";
    rk_identity_t *id = rk_identity_generate(name);
    rk_keys_err e;
    if (id == NULL)
        return -1;
    if ((size_t)snprintf(rel, sizeof rel, "keys/%s", name) >= sizeof rel) {
        rk_identity_destroy(&id);
        return -1;
    }
    e = rk_identity_save(id, path_in(b, prefix, sizeof prefix, rel), why, sizeof why);
    memcpy(curve_pk, id->pub.curve_pk, RK_KEY_LEN);
    rk_identity_destroy(&id);
    if (e != RK_KEYS_OK)
        fprintf(stderr, "renkei-bench: %s\n", why);
    return e == RK_KEYS_OK ? 0 : -1;
}

static int setup(bench_t *b, uint8_t hub_pk[RK_KEY_LEN], uint8_t fwd_pk[RK_KEY_LEN])
{
    char keys[PATH_MAX], master[PATH_MAX], why[512] = "";
    if (bench_mkdtemp(b->dir, sizeof b->dir) != 0) {
        fprintf(stderr, "renkei-bench: cannot make a temporary directory: %s\n", strerror(errno));
        return -1;
    }
    if (bench_janitor(b->dir, &b->janitor) != 0)
        fprintf(stderr, "renkei-bench: cannot start the clean-up process (%s); if this run is "
                        "interrupted, remove %s by hand\n", strerror(errno), b->dir);
    path_in(b, keys, sizeof keys, "keys");
    if (mkdir(keys, 0700) != 0 || save_identity(b, "hub", hub_pk) != 0 ||
        save_identity(b, "fwd", fwd_pk) != 0 ||
        rk_master_generate_file(path_in(b, master, sizeof master, "master.key"), why,
                                sizeof why) != RK_KEYS_OK) {
        fprintf(stderr, "renkei-bench: cannot make keys in %s: %s\n", keys, why);
        return -1;
    }
    {
        static const char *const tag[2][2] = {{"bench", "bg"}, {"bare", "bareb"}};
        for (int w = 0; w < 2; w++) {
            b->load[w] = bench_load_new(keys, tag[w][0], b->o.senders, b->o.recipients,
                                        b->o.persons, b->o.window, why, sizeof why);
            if (b->load[w] != NULL)
                b->bg[w] = bench_load_new(keys, tag[w][1], b->o.senders, b->o.recipients,
                                          b->o.persons, b->o.window, why, sizeof why);
            if (b->load[w] == NULL || b->bg[w] == NULL) {
                fprintf(stderr, "renkei-bench: %s\n", why);
                return -1;
            }
            bench_load_set_random_ids(b->load[w], b->o.random_ids);
            bench_load_set_random_ids(b->bg[w], b->o.random_ids);
        }
    }
    for (size_t i = 0; i < b->o.senders; i++)
        if (register_org(b, bench_load_sender_name(b->load[0], i), "municipality", "hub") != 0)
            return -1;
    for (size_t i = 0; i < b->o.recipients; i++)
        if (register_org(b, bench_load_recipient_name(b->load[0], i), "utility", "hub") != 0)
            return -1;
    for (size_t i = 0; i < b->o.senders; i++)
        if (register_org(b, bench_load_sender_name(b->bg[0], i), "municipality", "hub") != 0)
            return -1;
    b->enr = bench_load_new(keys, "enrol", 1, 1, b->o.enroll, b->o.window, why, sizeof why);
    if (b->enr == NULL) {
        fprintf(stderr, "renkei-bench: %s\n", why);
        return -1;
    }
    if (register_org(b, bench_load_sender_name(b->enr, 0), "municipality", "hub") != 0 ||
        register_org(b, bench_load_recipient_name(b->enr, 0), "utility", "hub") != 0)
        return -1;
    for (size_t i = 0; i < b->o.recipients; i++)
        if (register_org(b, bench_load_recipient_name(b->bg[0], i), "utility", "hub") != 0)
            return -1;
    {
        char data[PATH_MAX], pub[PATH_MAX];
        b->ag = bench_agents_new(keys, path_in(b, data, sizeof data, "agents"),
                                 path_in(b, pub, sizeof pub, "keys/hub.pub"), b->o.movers, why,
                                 sizeof why);
        if (b->ag == NULL) {
            fprintf(stderr, "renkei-bench: real agents: %s\n", why);
            return -1;
        }
        for (size_t i = 0; i < bench_agents_orgs(b->ag); i++)
            if (register_org(b, bench_agents_org_name(b->ag, i), bench_agents_org_kind(b->ag, i),
                             "hub") != 0)
                return -1;
        b->hs = bench_httpsend_new(keys, path_in(b, data, sizeof data, "httpsend"), why, sizeof why);
        if (b->hs == NULL) {
            fprintf(stderr, "renkei-bench: http send: %s\n", why);
            return -1;
        }
        for (int i = 0; i < 2; i++)
            if (register_org(b, bench_httpsend_org_name(b->hs, i), bench_httpsend_org_kind(b->hs, i),
                             "hub") != 0)
                return -1;
        path_in(b, data, sizeof data, "webhook");
        b->wh = bench_webhook_new(keys, data, pub, b->o.bin, why, sizeof why);
        if (b->wh == NULL) {
            fprintf(stderr, "renkei-bench: webhook: %s\n", why);
            return -1;
        }
        for (size_t i = 0; i < 2; i++) {
            const char *name = bench_webhook_org_name(b->wh, i), *kind = bench_webhook_org_kind(b->wh, i);
            if (register_org(b, name, kind, "hub") != 0)
                return -1;
        }
    }
    return 0;
}

static void teardown(bench_t *b)
{
    bench_mqtt_destroy(&b->mq);
    bench_load_destroy(&b->enr);
    bench_agents_destroy(&b->ag);
    bench_httpsend_destroy(&b->hs);
    bench_webhook_destroy(&b->wh);
    for (int w = 0; w < 2; w++) {
        bench_load_destroy(&b->load[w]);
        bench_load_destroy(&b->bg[w]);
    }
    for (int w = 0; w < 3; w++)
        bench_proc_stop(&b->srv[w]);
    for (size_t i = 0; i < b->nfig; i++)
        bench_series_destroy(&b->fig[i].s);
    for (size_t i = 0; i < b->nrat; i++)
        bench_series_destroy(&b->rat[i].s);
    if (b->dir[0] != '\0') {
        if (b->o.keep) {
            bench_janitor_keep(b->janitor);
            fprintf(stderr, "renkei-bench: kept %s\n", b->dir);
        } else {
            bench_rm_tree(b->dir);
        }
    }
}

int main(int argc, char **argv)
{
    bench_t b;
    uint8_t hub_pk[RK_KEY_LEN], fwd_pk[RK_KEY_LEN];
    char *model;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int rc = 1, st;

    if (argc == 5 && strcmp(argv[1], "--forwarder") == 0)
        return bench_fwd_main(argv[2], argv[3], argv[4]);
    memset(&b, 0, sizeof b);
    b.janitor = -1;
    st = parse_options(argc, argv, &b.o);
    if (st != 0)
        return st == RK_CLI_HELP ? RK_EXIT_OK : st;
    if (sodium_init() < 0) {
        fprintf(stderr, "renkei-bench: libsodium does not initialize\n");
        return 1;
    }
    model = cpu_model();
    if (setup(&b, hub_pk, fwd_pk) != 0)
        goto done;
    if (start_servers(&b, hub_pk, fwd_pk) != 0 || start_mosquitto(&b) != 0 || throughput(&b) != 0 ||
        disk_floor(&b) != 0 || latency(&b, 0) != 0 || latency(&b, 1) != 0 || enroll_rates(&b, hub_pk) != 0 ||
        agent_moves(&b) != 0 || webhook_rates(&b) != 0)
        goto done;
    if (http_send(&b) != 0)
        goto done;
    /* The tables get their own hubs: stop the main one (and the baselines)
     * so that they do not share the machine with it. */
    for (int w = 0; w < 3; w++)
        bench_proc_stop(&b.srv[w]);
    if (scale(&b, hub_pk) != 0)
        goto done;
    print_table(&b, model, cores);
    if (b.o.json != NULL && write_json(&b, model, cores) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0 && b.dir[0] != '\0')
        fprintf(stderr, "renkei-bench: failed; the logs are in %s (kept)\n", b.dir),
            b.o.keep = true;
    teardown(&b);
    free(model);
    return rc;
}
