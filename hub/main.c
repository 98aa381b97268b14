/*
 * renkei-hub - the linkage hub daemon.
 *
 * main() reads like a checklist: process hardening -> options -> config ->
 * keys -> store -> bind -> signals -> loop -> one teardown.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "clock.h"
#include "cli.h"
#include "harden.h"
#include "hub.h"
#include "hubkey.h"
#include "keys.h"
#include "log.h"
#include "logline.h"
#include "metrics.h"
#include "options.h"
#include "policy.h"
#include "store.h"

#define DEFAULT_BIND "tcp://127.0.0.1:7750"
#define DEFAULT_MAX_PAYLOAD 65536

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
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

static bool check_required(const options_t *o, char *why, size_t why_len)
{
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

    if (o->log_level != NULL && rk_log_level_parse(o->log_level, &level))
        log->max = (hub_log_level)level; /* wins over -v */
    if (o->log_format != NULL && rk_log_format_parse(o->log_format, &format))
        log->format = format;
    log->journal = rk_log_is_journal(log->out);
    return o->metrics == NULL ||
           metrics_parse_listen(o->metrics, o->metrics_allow_remote, &sa, &sa_len, why, why_len);
}

int main(int argc, char **argv)
{
    options_t opt;
    hub_log_t log = {stderr, HUB_LOG_NOTICE, "renkei-hub", RK_LOG_TEXT, false};
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
    metrics_t *metrics = NULL;
    struct sigaction sa;
    hub_config_t hcfg;
    rk_harden_t harden;
    char line[400];
    rk_cli_args_t args;
    int status = 1;

    /* 0. no core file, and freed memory wiped (may re-execute once) */
    rk_harden_process(argv, &harden);
    memset(&opt, 0, sizeof opt);
    opt.verify_threads = -1;
    policy_ttl_init(&opt.ttl);
    /* 1. options */
    status = rk_cli_parse(&program, argc, argv, &args);
    if (status == 0 && args.npos > 0)
        status = rk_cli_usage_error(&args, "unexpected argument '%s'", args.pos[0]);
    for (int i = 0; status == 0 && i < args.ngiven; i++) {
        int id = args.given[i].opt;
        if (id == HUB_OPT_CONFIG)
            config = args.given[i].value;
        else if (id == HUB_OPT_CHECK_CONFIG)
            opt.check_config = true;
        else if (id == HUB_OPT_VERBOSE)
            opt.verbose = true;
        else if (id == HUB_OPT_METRICS_ALLOW_REMOTE)
            opt.metrics_allow_remote = true;
        else if (!hub_options_set(&opt, hub_option_table[id].name, args.given[i].value, false, why,
                                  sizeof why))
            status = rk_cli_usage_error(&args, "%s", why);
    }
    if (status > 0 && args.err != RK_CLI_E_NONE)
        rk_cli_report(&args);
    rk_cli_args_free(&args);
    if (status != 0) {
        hub_options_free(&opt);
        return status == RK_CLI_HELP ? RK_EXIT_OK : status;
    }

    /* 2. configuration */
    if (config != NULL && !hub_options_read_file(&opt, config, why, sizeof why))
        goto fail;
    if (!check_required(&opt, why, sizeof why))
        goto fail;
    if (opt.bind == NULL && (opt.bind = strdup(DEFAULT_BIND)) == NULL)
        goto fail;
    if (opt.max_payload == 0)
        opt.max_payload = DEFAULT_MAX_PAYLOAD;
    if (opt.max_payload > RK_WHAT_CEILING) {
        snprintf(why, sizeof why, "--max-payload may be at most %u bytes", RK_WHAT_CEILING);
        goto fail;
    }
    if (opt.verbose)
        log.max = HUB_LOG_INFO;
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

    /* 4. store */
    if (store_open(opt.data, master, opt.map_size, &store, why, sizeof why) != STORE_OK)
        goto fail;
    rk_master_destroy(&master);

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
    if (opt.check_config) {
        printf("configuration OK\n");
        status = 0;
        goto done;
    }

    if (opt.next_key != NULL) {
        bool made = false;
        if (rk_pubkey_load(opt.next_key, &other_key, why, sizeof why) != RK_KEYS_OK ||
            !hubkey_announce(store, identity, &other_key, opt.log_origin ? opt.log_origin : "renkei-hub",
                             rk_wall_ms(), &hub_key, &hub_key_at, &made, why, sizeof why))
            goto fail;
        have_hub_key = true;
        hub_log(&log, HUB_LOG_NOTICE, "the next hub key (%s) is announced at routing-log entry %llu%s",
                opt.next_key, (unsigned long long)hub_key_at, made ? "" : " (by an earlier start)");
    }

    /* 5. bind */
    memset(&hcfg, 0, sizeof hcfg);
    hcfg.bind = opt.bind;
    hcfg.max_what = opt.max_payload;
    hcfg.batch = opt.batch;
    hcfg.verify_threads = opt.verify_threads;
    hcfg.ready_file = opt.ready_file;
    hcfg.queue_limit = opt.queue_limit;
    hcfg.log_origin = opt.log_origin;
    hcfg.hub_key = have_hub_key ? &hub_key : NULL;
    hcfg.ttl = opt.ttl;
    if (opt.ttl_s != 0)
        hcfg.ttl.default_ms = (uint64_t)opt.ttl_s * 1000;
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

    /* 6. signals */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* 7. loop */
    hub_log(&log, harden.not_dumpable && harden.wipes_freed ? HUB_LOG_NOTICE : HUB_LOG_WARNING, "memory: %s",
            rk_harden_describe(&harden, line, sizeof line));
    hub_log(&log, HUB_LOG_NOTICE, "listening on %s as '%s'", hub_endpoint(hub), identity->pub.name);
    status = hub_run(hub, &stop_requested) == HUB_OK ? 0 : 1;
    hub_log(&log, HUB_LOG_NOTICE, "stopping");
    goto done;

fail:
    fprintf(stderr, "renkei-hub: %s\n", why[0] ? why : "out of memory");
    status = 1;
    /* 8. one teardown */
done:
    metrics_stop(&metrics);
    hub_destroy(&hub);
    store_close(&store);
    rk_master_destroy(&master);
    rk_identity_destroy(&identity);
    hub_options_free(&opt);
    return status;
}
