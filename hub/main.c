/*
 * renkei-hub - the linkage hub daemon.
 *
 * main() reads like a checklist: process hardening -> options -> config ->
 * keys -> lock -> store -> signals -> bind -> ready -> loop -> one teardown.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include <sodium.h>

#include "clock.h"
#include "cli.h"
#include "harden.h"
#include "hub.h"
#include "hubkey.h"
#include "keys.h"
#include "log.h"
#include "logline.h"
#include "note.h"
#include "metrics.h"
#include "options.h"
#include "policy.h"
#include "service.h"
#include "store.h"
#include "why.h"

#define DEFAULT_BIND "tcp://127.0.0.1:7750"
#define DEFAULT_MAX_PAYLOAD 65536
#define LOADED_HELP 100 /* load_options: --help was printed */

/* Set by the signal handlers, acted on between the loop's turns (tick). */
static volatile sig_atomic_t stop_requested, reload_requested, usr1_received, usr2_received;

/* SIGTERM, SIGINT: stop after the turn under way (committed, answered);
 * SIGHUP: re-read the configuration; SIGUSR1, SIGUSR2: logged and
 * otherwise ignored; SIGPIPE: ignored. */
static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
    else if (sig == SIGUSR1)
        usr1_received = 1;
    else if (sig == SIGUSR2)
        usr2_received = 1;
    else
        stop_requested = 1;
}

static const rk_cli_prog_t program = {
    .name = "renkei-hub",
    .synopsis = "--data DIR --key HUB.key --master-key MASTER.key [OPTIONS]",
    .about = "The Renkei linkage hub: routes (FROM, TO, WHO, WHAT) between registered\n"
             "organizations over CurveZMQ and translates WHO through its ID-code table.\n"
             "A configuration file (--config) takes the same names as the long options.",
    .opts = hub_option_table,
    .n_opts = HUB_OPT_COUNT,
};

/* Where systemd puts the files of LoadCredential= (the unit's %d). */
static char *credential(const char *name)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    char path[4096];
    if (dir == NULL || dir[0] != '/' ||
        (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path || access(path, R_OK) != 0)
        return NULL;
    return strdup(path);
}

static bool check_required(options_t *o, char *why, size_t why_len)
{
    /* Under systemd, keys given as credentials need no option. */
    if (o->key == NULL)
        o->key = credential("hub.key");
    if (o->master_key == NULL)
        o->master_key = credential("master.key");
    if (o->data == NULL)
        snprintf(why, why_len, "no data directory: give --data DIR");
    else if (o->key == NULL)
        snprintf(why, why_len, "no hub key: give --key HUB.key (create one with 'renkei-keygen hub'); "
                               "the hub never runs without CURVE");
    else if (o->next_key != NULL && o->previous_key != NULL)
        snprintf(why, why_len,
                 "give --next-key or --previous-key, not both: switch to the announced key first, and "
                 "announce the one after it at a later start");
    else if (o->master_key == NULL)
        snprintf(why, why_len,
                 "no master key: give --master-key FILE (create one with "
                 "'renkei-keygen --master-key FILE')");
    else
        return true;
    return false;
}

/* --log-level and --log-format into log, and whether stderr is the
 * journal; also checks that --metrics parses before anything starts. */
static bool operating_log(const options_t *o, hub_log_t *log, char *why, size_t why_len)
{
    int level;
    rk_log_format format = RK_LOG_TEXT;
    struct sockaddr_storage sa;
    socklen_t sa_len;

    log->max = o->verbose ? HUB_LOG_INFO : HUB_LOG_NOTICE;
    if (o->log_level != NULL && rk_log_level_parse(o->log_level, &level))
        log->max = (hub_log_level)level; /* wins over -v */
    if (o->log_format != NULL && rk_log_format_parse(o->log_format, &format))
        log->format = format;
    log->journal = rk_log_is_journal(log->out);
    return o->metrics == NULL ||
           metrics_parse_listen(o->metrics, o->metrics_allow_remote, &sa, &sa_len, why, why_len);
}

/* The options from the command line, then from the configuration file it
 * names, with their defaults, checked.  Returns 0, a usage error's exit
 * status > 0 (already reported), LOADED_HELP when help was printed, or
 * -1 with a message in why. */
static int load_options(int argc, char **argv, options_t *opt, const char **config, char *why, size_t why_len)
{
    rk_cli_args_t args;
    int status;

    memset(opt, 0, sizeof *opt);
    opt->verify_threads = -1;
    policy_ttl_init(&opt->ttl);
    *config = NULL;
    status = rk_cli_parse(&program, argc, argv, &args);
    if (status == 0 && args.npos > 0)
        status = rk_cli_usage_error(&args, "unexpected argument '%s'", args.pos[0]);
    for (int i = 0; status == 0 && i < args.ngiven; i++) {
        int id = args.given[i].opt;
        if (id == HUB_OPT_CONFIG)
            *config = args.given[i].value;
        else if (id == HUB_OPT_CHECK_CONFIG)
            opt->check_config = true;
        else if (id == HUB_OPT_VERBOSE)
            opt->verbose = true;
        else if (id == HUB_OPT_METRICS_ALLOW_REMOTE)
            opt->metrics_allow_remote = true;
        else if (!hub_options_set(opt, hub_option_table[id].name, args.given[i].value, false, why, why_len))
            status = rk_cli_usage_error(&args, "%s", why);
    }
    if (status > 0 && args.err != RK_CLI_E_NONE)
        rk_cli_report(&args);
    rk_cli_args_free(&args);
    if (status == RK_CLI_HELP)
        return LOADED_HELP;
    if (status != 0)
        return status;

    if (*config != NULL && !hub_options_read_file(opt, *config, why, why_len))
        return -1;
    if (!check_required(opt, why, why_len))
        return -1;
    if (opt->bind == NULL && (opt->bind = strdup(DEFAULT_BIND)) == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    if (opt->max_payload == 0)
        opt->max_payload = DEFAULT_MAX_PAYLOAD;
    if (opt->max_payload > RK_WHAT_CEILING) {
        snprintf(why, why_len, "--max-payload may be at most %u bytes", RK_WHAT_CEILING);
        return -1;
    }
    return 0;
}

/* The time-to-live the options give: per type, and the default (--ttl). */
static policy_ttl_t effective_ttl(const options_t *o)
{
    policy_ttl_t ttl = o->ttl;
    if (o->ttl_s != 0)
        ttl.default_ms = (uint64_t)o->ttl_s * 1000;
    return ttl;
}

/* What renkei-hub needs between the loop's turns. */
typedef struct daemon {
    int argc;
    char **argv;
    options_t *opt; /* the options in force */
    hub_log_t *log;
    hub_t *hub;
    uint64_t watchdog_ms; /* ping this often; 0: no watchdog */
    uint64_t pinged_ms;
} daemon_t;

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Logs each type whose time-to-live differs between was and now; returns
 * how many. */
static int ttl_changes(const hub_log_t *log, const policy_ttl_t *was, const policy_ttl_t *now)
{
    int n = 0;
    if (was->default_ms != now->default_ms) {
        hub_log(log, HUB_LOG_NOTICE, "reload: ttl is now %llu s (was %llu s)",
                (unsigned long long)(now->default_ms / 1000), (unsigned long long)(was->default_ms / 1000));
        n++;
    }
    for (int side = 0; side < 2; side++) {
        const policy_ttl_t *t = side == 0 ? now : was;
        for (size_t i = 0; i < t->n; i++) {
            const char *type = t->over[i].type;
            uint64_t a = policy_ttl_of(was, type), b = policy_ttl_of(now, type);
            bool in_now = false;
            for (size_t j = 0; side == 1 && j < now->n; j++)
                in_now = in_now || strcmp(now->over[j].type, type) == 0;
            if (a == b || in_now) /* an override in both: said once */
                continue;
            hub_log(log, HUB_LOG_NOTICE, "reload: ttl.%s is now %llu s (was %llu s)", type,
                    (unsigned long long)(b / 1000), (unsigned long long)(a / 1000));
            n++;
        }
    }
    return n;
}

/* SIGHUP: reads the command line and the configuration file again.  What can
 * change while the hub runs changes (ttl, ttl.TYPE, queue-limit, verbose);
 * every other option that differs is named in the log and waits for a
 * restart.  A configuration with an error is refused whole. */
static void reload(daemon_t *d)
{
    options_t fresh, *o = d->opt;
    const char *config = NULL;
    char why[512] = "";
    policy_ttl_t was, now;
    int changed = 0, kept = 0, rc;
    static const char *const fixed[] = {
        "data",       "key",        "master-key",  "next-key", "previous-key", "bind",
        "ready-file", "log-origin", "max-payload", "map-size", "batch",        "verify-threads",
        "metrics",
    };
    bool same[sizeof fixed / sizeof fixed[0]];

    rc = load_options(d->argc, d->argv, &fresh, &config, why, sizeof why);
    if (rc != 0) {
        hub_log(d->log, HUB_LOG_ERR, "reload refused, the configuration in force stays: %s",
                rc < 0 ? why : "the command line no longer parses");
        hub_options_free(&fresh);
        return;
    }
    same[0] = same_str(o->data, fresh.data);
    same[1] = same_str(o->key, fresh.key);
    same[2] = same_str(o->master_key, fresh.master_key);
    same[3] = same_str(o->next_key, fresh.next_key);
    same[4] = same_str(o->previous_key, fresh.previous_key);
    same[5] = same_str(o->bind, fresh.bind);
    same[6] = same_str(o->ready_file, fresh.ready_file);
    same[7] = same_str(o->log_origin, fresh.log_origin);
    same[8] = o->max_payload == fresh.max_payload;
    same[9] = o->map_size == fresh.map_size;
    same[10] = o->batch == fresh.batch;
    same[11] = o->verify_threads == fresh.verify_threads;
    same[12] = same_str(o->metrics, fresh.metrics) && o->metrics_allow_remote == fresh.metrics_allow_remote;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (same[i])
            continue;
        hub_log(d->log, HUB_LOG_WARNING, "reload: %s cannot change while running; restart to apply",
                fixed[i]);
        kept++;
    }

    was = effective_ttl(o);
    now = effective_ttl(&fresh);
    changed += ttl_changes(d->log, &was, &now);
    if (o->queue_limit != fresh.queue_limit) {
        hub_log(d->log, HUB_LOG_NOTICE, "reload: queue-limit is now %zu (was %zu; 0: the default)",
                fresh.queue_limit, o->queue_limit);
        changed++;
    }
    if (o->verbose != fresh.verbose) {
        hub_log(d->log, HUB_LOG_NOTICE, "reload: verbose is now %s", fresh.verbose ? "on" : "off");
        changed++;
    }
    if (!same_str(o->log_level, fresh.log_level) || !same_str(o->log_format, fresh.log_format)) {
        hub_log(d->log, HUB_LOG_NOTICE, "reload: log-level is now %s, log-format %s",
                fresh.log_level != NULL ? fresh.log_level : "the default",
                fresh.log_format != NULL ? fresh.log_format : "text");
        changed++;
    }
    hub_reconfigure(d->hub, &now, fresh.queue_limit);
    {
        char ignored[8];
        (void)operating_log(&fresh, d->log, ignored, sizeof ignored);
    }
    o->ttl = fresh.ttl;
    o->ttl_s = fresh.ttl_s;
    o->queue_limit = fresh.queue_limit;
    o->verbose = fresh.verbose;
    {
        char *t = o->log_level;
        o->log_level = fresh.log_level;
        fresh.log_level = t;
        t = o->log_format;
        o->log_format = fresh.log_format;
        fresh.log_format = t;
    }
    hub_options_free(&fresh);
    hub_log(d->log, HUB_LOG_NOTICE,
            "configuration reloaded%s%s: %d change%s applied, %d waiting for a restart",
            config != NULL ? " from " : "", config != NULL ? config : " (no --config file)", changed,
            changed == 1 ? "" : "s", kept);
}

/* Between the loop's turns: signals, and the watchdog's ping. */
static void tick(void *ctx)
{
    daemon_t *d = ctx;
    if (usr1_received || usr2_received) {
        hub_log(d->log, HUB_LOG_NOTICE,
                "%s received: renkei-hub has no use for it and goes on (SIGHUP reloads "
                "the configuration, SIGTERM stops)",
                usr1_received ? "SIGUSR1" : "SIGUSR2");
        if (usr1_received)
            usr1_received = 0;
        else
            usr2_received = 0;
    }
    if (reload_requested && !stop_requested) {
        reload_requested = 0;
        service_notify("RELOADING=1");
        reload(d);
        service_notify("READY=1");
    }
    if (d->watchdog_ms != 0 && rk_mono_ms() - d->pinged_ms >= d->watchdog_ms) {
        service_notify("WATCHDOG=1");
        d->pinged_ms = rk_mono_ms();
    }
}

/* The folder path names ("." for a bare name, "/" for one at the root). */
static void folder_of(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/* --check-config: what a start would need, without writing anything (no
 * store, no data directory, no lock, no ready file). */
static bool check_files(const options_t *o, char *why, size_t why_len)
{
    char dir[4096], data_mdb[4096];
    struct stat st;
    void *zctx, *sock;
    int rc;

    if (o->next_key != NULL) {
        rk_pubkey_t pub;
        if (rk_pubkey_load(o->next_key, &pub, why, why_len) != RK_KEYS_OK)
            return false;
    }
    if (o->ready_file != NULL) {
        folder_of(o->ready_file, dir, sizeof dir);
        if (access(dir, W_OK) != 0) {
            rk_why(why, why_len, "cannot write the ready file %s: folder %s: %s", o->ready_file, dir,
                   strerror(errno));
            return false;
        }
    }
    if (stat(o->data, &st) != 0) {
        if (errno != ENOENT) {
            rk_why(why, why_len, "cannot use data directory %s: %s", o->data, strerror(errno));
            return false;
        }
        folder_of(o->data, dir, sizeof dir);
        if (access(dir, W_OK) != 0) {
            rk_why(why, why_len, "data directory %s does not exist and cannot be created in %s: %s", o->data,
                   dir, strerror(errno));
            return false;
        }
        printf("data directory %s does not exist yet: the first start creates it\n", o->data);
    } else if (!S_ISDIR(st.st_mode)) {
        rk_why(why, why_len, "data directory %s is not a directory", o->data);
        return false;
    } else if (access(o->data, R_OK | W_OK | X_OK) != 0) {
        rk_why(why, why_len, "cannot use data directory %s: %s", o->data, strerror(errno));
        return false;
    } else if (snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", o->data) > 0 &&
               access(data_mdb, F_OK) != 0) {
        printf("data directory %s holds no store yet: the first start creates it\n", o->data);
    }
    /* The endpoint: bound for a moment, without CURVE, then closed.  An ipc
     * endpoint would leave its socket file behind: only its folder is
     * checked. */
    if (strncmp(o->bind, "ipc://", 6) == 0) {
        folder_of(o->bind + 6, dir, sizeof dir);
        if (access(dir, W_OK) != 0) {
            rk_why(why, why_len, "cannot bind %s: folder %s: %s", o->bind, dir, strerror(errno));
            return false;
        }
        return true;
    }
    zctx = zmq_ctx_new();
    sock = zctx != NULL ? zmq_socket(zctx, ZMQ_ROUTER) : NULL;
    rc = sock != NULL ? zmq_bind(sock, o->bind) : -1;
    if (rc != 0)
        rk_why(why, why_len, "cannot bind %s: %s", o->bind, zmq_strerror(errno));
    if (sock != NULL) {
        int zero = 0;
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(sock);
    }
    if (zctx != NULL)
        zmq_ctx_term(zctx);
    return rc == 0;
}

/* The routing log's origin: the one recorded in the store (meta log-origin)
 * by the first hub that ran on it; for a store from before that was
 * recorded, the origin its newest checkpoint carries; for a new store,
 * --log-origin or "renkei-hub/" and the hub key's fingerprint.  Records it
 * when it was not.  A --log-origin other than the log's name is refused:
 * the auditors' pinned verifier key names it. */
static bool resolve_origin(store_t *store, const rk_identity_t *id, const char *given, char *origin,
                           char *why, size_t why_len)
{
    store_txn_t *txn = NULL;
    char *note = NULL;
    const char *source = "recorded in the store";
    store_err err;
    bool recorded = false;

    if ((err = store_begin(store, true, &txn)) != STORE_OK)
        goto store_fail;
    err = store_log_origin_get(txn, origin);
    if (err == STORE_OK) {
        recorded = true;
    } else if (err == STORE_ENOTFOUND) {
        err = store_log_checkpoint_get(txn, &note);
        if (err == STORE_OK && tlog_checkpoint_origin(note, strlen(note), origin) == TLOG_OK) {
            source = "named by its checkpoints";
        } else if (err == STORE_OK || err == STORE_ENOTFOUND) {
            if (given != NULL)
                snprintf(origin, TLOG_NAME_MAX + 1, "%s", given);
            else
                rk_log_origin_default(id->pub.sign_pk, origin);
        }
        free(note);
        if (err != STORE_OK && err != STORE_ENOTFOUND)
            goto store_fail;
    } else {
        goto store_fail;
    }
    if (given != NULL && strcmp(given, origin) != 0) {
        rk_why(why, why_len,
               "--log-origin %s: the routing log of this data directory is named %s (%s); its auditors pin that "
               "name: give --log-origin %s or none",
               given, origin, source, origin);
        store_abort(&txn);
        return false;
    }
    if (!recorded && (err = store_log_origin_put(txn, origin)) != STORE_OK)
        goto store_fail;
    if ((err = store_commit(&txn)) != STORE_OK)
        goto store_fail;
    return true;
store_fail:
    if (txn != NULL)
        store_abort(&txn);
    rk_why(why, why_len, "cannot read or record the routing log's origin: %s", store_strerror(err));
    return false;
}

int main(int argc, char **argv)
{
    options_t opt;
    hub_log_t log = {stderr, HUB_LOG_NOTICE, "renkei-hub", RK_LOG_TEXT, false};
    metrics_t *metrics = NULL;
    const char *config = NULL;
    char why[512] = "";
    rk_identity_t *identity = NULL;
    rk_pubkey_t other_key;
    rk_hub_key_stmt_t hub_key;
    bool have_hub_key = false;
    uint64_t hub_key_at = 0;
    uint8_t *master = NULL;
    store_t *store = NULL;
    hub_t *hub = NULL;
    struct sigaction sa;
    hub_config_t hcfg;
    rk_harden_t harden;
    daemon_t daemon;
    char line[400], log_origin[TLOG_NAME_MAX + 1];
    int status = 1, lock = -1;
    uint64_t watchdog_usec;

    /* 0. no core file, and freed memory wiped (may re-execute once) */
    rk_harden_process(argv, &harden);
    /* 1. options, 2. configuration */
    status = load_options(argc, argv, &opt, &config, why, sizeof why);
    if (status > 0) {
        hub_options_free(&opt);
        return status == LOADED_HELP ? RK_EXIT_OK : status;
    }
    if (status < 0)
        goto fail;
    if (!operating_log(&opt, &log, why, sizeof why))
        goto fail;
    if (sodium_init() < 0) {
        snprintf(why, sizeof why, "libsodium failed to initialize");
        goto fail;
    }

    /* 3. keys */
    if (rk_identity_load(opt.key, &identity, why, sizeof why) != RK_KEYS_OK)
        goto fail;
    if (rk_master_load(opt.master_key, &master, why, sizeof why) != RK_KEYS_OK)
        goto fail;
    if (opt.check_config) {
        /* 4. the store only if there is one: --check-config writes nothing */
        char data_mdb[4096];
        if (!check_files(&opt, why, sizeof why))
            goto fail;
        snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", opt.data);
        if (access(data_mdb, F_OK) == 0) {
            if (store_open(opt.data, master, opt.map_size, &store, why, sizeof why) != STORE_OK)
                goto fail;
            if (opt.previous_key != NULL &&
                (rk_pubkey_load(opt.previous_key, &other_key, why, sizeof why) != RK_KEYS_OK ||
                 !hubkey_switch_check(store, identity, &other_key, &hub_key, &hub_key_at, why, sizeof why)))
                goto fail;
        } else if (opt.previous_key != NULL) {
            snprintf(why, sizeof why,
                     "--previous-key: data directory %s holds no store whose routing log "
                     "announces --key",
                     opt.data);
            goto fail;
        }
        printf("configuration OK\n");
        status = 0;
        goto done;
    }

    /* 4. one hub per data directory, then the store */
    if ((lock = service_lock(opt.data, why, sizeof why)) < 0)
        goto fail;
    if (store_open(opt.data, master, opt.map_size, &store, why, sizeof why) != STORE_OK)
        goto fail;
    rk_master_destroy(&master);
    if (!resolve_origin(store, identity, opt.log_origin, log_origin, why, sizeof why))
        goto fail;
    hub_log(&log, HUB_LOG_NOTICE, "routing log %s (renkei-audit vkey --log-origin %s prints its verifier key)",
            log_origin, log_origin);

    /* 4b. the hub's own key changing hands (hub/hubkey.h) */
    if (opt.previous_key != NULL) {
        if (rk_pubkey_load(opt.previous_key, &other_key, why, sizeof why) != RK_KEYS_OK ||
            !hubkey_switch_check(store, identity, &other_key, &hub_key, &hub_key_at, why, sizeof why))
            goto fail;
        have_hub_key = true;
        hub_log(&log, HUB_LOG_NOTICE,
                "signing with the key announced at routing-log entry %llu, which takes over from the key in "
                "%s",
                (unsigned long long)hub_key_at, opt.previous_key);
    }

    if (opt.next_key != NULL) {
        bool made = false;
        if (rk_pubkey_load(opt.next_key, &other_key, why, sizeof why) != RK_KEYS_OK ||
            !hubkey_announce(store, identity, &other_key, log_origin,
                             rk_wall_ms(), &hub_key, &hub_key_at, &made, why, sizeof why))
            goto fail;
        have_hub_key = true;
        hub_log(&log, HUB_LOG_NOTICE, "the next hub key (%s) is announced at routing-log entry %llu%s",
                opt.next_key, (unsigned long long)hub_key_at, made ? "" : " (by an earlier start)");
    }

    /* 5. signals: from here on none of them ends the hub unannounced */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* 6. bind */
    memset(&daemon, 0, sizeof daemon);
    daemon.argc = argc;
    daemon.argv = argv;
    daemon.opt = &opt;
    daemon.log = &log;
    watchdog_usec = service_watchdog_usec();
    daemon.watchdog_ms = watchdog_usec / 2000; /* twice per interval */
    if (watchdog_usec != 0 && daemon.watchdog_ms == 0)
        daemon.watchdog_ms = 1;
    memset(&hcfg, 0, sizeof hcfg);
    hcfg.bind = opt.bind;
    hcfg.max_what = opt.max_payload;
    hcfg.batch = opt.batch;
    hcfg.verify_threads = opt.verify_threads;
    hcfg.ready_file = opt.ready_file;
    hcfg.queue_limit = opt.queue_limit;
    hcfg.log_origin = log_origin;
    hcfg.hub_key = have_hub_key ? &hub_key : NULL;
    hcfg.ttl = effective_ttl(&opt);
    hcfg.tick = tick;
    hcfg.tick_ctx = &daemon;
    /* the metrics endpoint (hub/metrics.h), before the loop it reports on */
    if (opt.metrics != NULL) {
        if (!metrics_start(opt.metrics, opt.metrics_allow_remote, &metrics, why, sizeof why))
            goto fail;
        hcfg.metrics = metrics;
        hub_log(&log, HUB_LOG_NOTICE, "metrics on http://%s/metrics (also /healthz, /readyz)",
                metrics_address(metrics));
    }
    if (hub_new(&hcfg, store, identity, &log, &hub, why, sizeof why) != HUB_OK)
        goto fail;
    daemon.hub = hub;

    /* 7. loop */
    hub_log(&log, harden.not_dumpable && harden.wipes_freed ? HUB_LOG_NOTICE : HUB_LOG_WARNING, "memory: %s",
            rk_harden_describe(&harden, line, sizeof line));
    hub_log(&log, HUB_LOG_NOTICE, "listening on %s as '%s'", hub_endpoint(hub), identity->pub.name);
    if (watchdog_usec != 0)
        hub_log(&log, HUB_LOG_NOTICE, "pinging the service manager's watchdog every %llu ms",
                (unsigned long long)daemon.watchdog_ms);
    snprintf(line, sizeof line, "READY=1\nSTATUS=listening on %s\nMAINPID=%ld", hub_endpoint(hub),
             (long)getpid());
    service_notify(line);
    daemon.pinged_ms = rk_mono_ms();
    status = hub_run(hub, &stop_requested) == HUB_OK ? 0 : 1;
    service_notify("STOPPING=1");
    hub_log(&log, HUB_LOG_NOTICE, "stopping");
    goto done;

fail:
    fprintf(stderr, "renkei-hub: %s\n", why[0] ? why : "out of memory");
    status = 1;
    /* 8. one teardown */
done:
    hub_destroy(&hub);
    metrics_stop(&metrics);
    store_close(&store);
    service_unlock(&lock);
    rk_master_destroy(&master);
    rk_identity_destroy(&identity);
    hub_options_free(&opt);
    return status;
}
