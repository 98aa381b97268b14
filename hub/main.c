/*
 * renkei-hub - the linkage hub daemon.
 *
 * main() reads like a checklist: process hardening -> options -> config ->
 * keys -> store -> bind -> signals -> loop -> one teardown.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "harden.h"
#include "hub.h"
#include "keys.h"
#include "log.h"
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

static void usage(FILE *out)
{
    fprintf(out,
            "usage: renkei-hub --data DIR --key HUB.key --master-key MASTER.key [options]\n"
            "\n"
            "The Renkei linkage hub: routes (FROM, TO, WHO, WHAT) between registered\n"
            "organizations over CurveZMQ and translates WHO through its ID-code table.\n"
            "\n"
            "  -d, --data DIR          LMDB data directory (created 0700 if absent)\n"
            "  -k, --key FILE          the hub's secret key (renkei-keygen hub)\n"
            "  -m, --master-key FILE   the ID-code table's master key (renkei-keygen --master);\n"
            "                          keep it outside the data directory\n"
            "  -b, --bind ENDPOINT     where to listen (default %s;\n"
            "                          tcp://127.0.0.1:* picks a free port)\n"
            "  -r, --ready-file FILE   write the bound endpoint to FILE once listening\n"
            "      --log-origin NAME   the routing log's name in its signed checkpoints\n"
            "                          (default renkei-hub; auditors verify against it)\n"
            "      --max-payload N     largest encrypted payload in bytes (default %d)\n"
            "      --map-size N        LMDB map size in bytes (default 4 GiB)\n"
            "      --batch N           frames per transaction (default 256)\n"
            "      --verify-threads N  threads checking signatures ahead of the loop (default:\n"
            "                          one per CPU beyond the first, 1..8; 0: in the loop)\n"
            "      --queue-limit N     most messages waiting for one recipient (default 100000);\n"
            "                          above it senders get QUEUE_FULL\n"
            "      --ttl SECONDS       how long a message waits for its recipient (default 14\n"
            "                          days); per type in the config: ttl.TYPE = SECONDS\n"
            "  -c, --config FILE       read options from FILE (lines 'name = value', names as\n"
            "                          the long options; command-line options win)\n"
            "      --check-config      check keys, master key and store, print 'configuration OK'\n"
            "  -v, --verbose           log every routed message (never WHO or WHAT)\n"
            "  -h, --help              show this help\n",
            DEFAULT_BIND, DEFAULT_MAX_PAYLOAD);
}

static bool check_required(const options_t *o, char *why, size_t why_len)
{
    if (o->data == NULL)
        snprintf(why, why_len, "no data directory: give --data DIR");
    else if (o->key == NULL)
        snprintf(why, why_len, "no hub key: give --key HUB.key (create one with 'renkei-keygen hub'); "
                               "the hub never runs without CURVE");
    else if (o->master_key == NULL)
        snprintf(why, why_len, "no master key: give --master-key FILE (create one with "
                               "'renkei-keygen --master FILE')");
    else
        return true;
    return false;
}

int main(int argc, char **argv)
{
    enum { OPT_MAX_PAYLOAD = 256, OPT_MAP_SIZE, OPT_BATCH, OPT_CHECK, OPT_QUEUE_LIMIT, OPT_TTL, OPT_LOG_ORIGIN,
           OPT_VERIFY_THREADS };
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},
        {"key", required_argument, NULL, 'k'},
        {"master-key", required_argument, NULL, 'm'},
        {"bind", required_argument, NULL, 'b'},
        {"ready-file", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'c'},
        {"max-payload", required_argument, NULL, OPT_MAX_PAYLOAD},
        {"map-size", required_argument, NULL, OPT_MAP_SIZE},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"verify-threads", required_argument, NULL, OPT_VERIFY_THREADS},
        {"queue-limit", required_argument, NULL, OPT_QUEUE_LIMIT},
        {"ttl", required_argument, NULL, OPT_TTL},
        {"log-origin", required_argument, NULL, OPT_LOG_ORIGIN},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    options_t opt;
    hub_log_t log = {stderr, HUB_LOG_NOTICE, "renkei-hub"};
    const char *config = NULL;
    char why[512] = "";
    rk_identity_t *identity = NULL;
    uint8_t *master = NULL;
    store_t *store = NULL;
    hub_t *hub = NULL;
    struct sigaction sa;
    hub_config_t hcfg;
    rk_harden_t harden;
    char line[400];
    int c, status = 1;

    /* 0. no core file, and freed memory wiped (may re-execute once) */
    rk_harden_process(argv, &harden);
    memset(&opt, 0, sizeof opt);
    opt.verify_threads = -1;
    policy_ttl_init(&opt.ttl);
    /* 1. options */
    while ((c = getopt_long(argc, argv, "d:k:m:b:r:c:vh", longopts, NULL)) != -1) {
        const char *name = NULL;
        switch (c) {
        case 'd': name = "data"; break;
        case 'k': name = "key"; break;
        case 'm': name = "master-key"; break;
        case 'b': name = "bind"; break;
        case 'r': name = "ready-file"; break;
        case OPT_MAX_PAYLOAD: name = "max-payload"; break;
        case OPT_MAP_SIZE: name = "map-size"; break;
        case OPT_BATCH: name = "batch"; break;
        case OPT_VERIFY_THREADS: name = "verify-threads"; break;
        case OPT_QUEUE_LIMIT: name = "queue-limit"; break;
        case OPT_TTL: name = "ttl"; break;
        case OPT_LOG_ORIGIN: name = "log-origin"; break;
        case 'c': config = optarg; break;
        case OPT_CHECK: opt.check_config = true; break;
        case 'v': opt.verbose = true; break;
        case 'h': usage(stdout); hub_options_free(&opt); return 0;
        default: usage(stderr); hub_options_free(&opt); return 2;
        }
        if (name != NULL && !hub_options_set(&opt, name, optarg, false, why, sizeof why)) {
            fprintf(stderr, "renkei-hub: %s\n", why);
            hub_options_free(&opt);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "renkei-hub: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        hub_options_free(&opt);
        return 2;
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
    if (opt.check_config) {
        printf("configuration OK\n");
        status = 0;
        goto done;
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
    hcfg.ttl = opt.ttl;
    if (opt.ttl_s != 0)
        hcfg.ttl.default_ms = (uint64_t)opt.ttl_s * 1000;
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
    hub_destroy(&hub);
    store_close(&store);
    rk_master_destroy(&master);
    rk_identity_destroy(&identity);
    hub_options_free(&opt);
    return status;
}
