/*
 * renkei-keygen - create a party's key pair, or the hub's master key.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keys.h"
#include "note.h"

#define PROG "renkei-keygen"

enum { OPT_OUT_DIR, OPT_MASTER_KEY, OPT_LOG_ORIGIN, OPT_HELP, OPT_OUT, OPT_MASTER, N_OPTS };

static const rk_cli_opt_t options[N_OPTS] = {
    [OPT_OUT_DIR] = {"out-dir", 'o', "DIR", "write into DIR (default: the current directory)", NULL, -1, 0},
    [OPT_MASTER_KEY] = {"master-key", 'm', "FILE",
                        "create the hub's master key (the ID-code table key) in FILE,\nthe file renkei-hub's "
                        "--master-key reads",
                        NULL, -1, 0},
    [OPT_LOG_ORIGIN] = {"log-origin", 0, "NAME",
                        "the routing log's name the hub will be given (its --log-origin), for\nthe verifier "
                        "key printed with the hub's key (default: renkei-hub/\nand the key's fingerprint, "
                        "the name a new hub takes without one)",
                        NULL, -1, 0},
    [OPT_HELP] = {"help", 'h', NULL, "show this help", NULL, -1, 0},
    /* the spellings before renkei-hub's and renkei-agent's names were taken */
    [OPT_OUT] = {"out", 0, "DIR", "deprecated spelling of --out-dir", NULL, OPT_OUT_DIR, RK_CLI_HIDDEN},
    [OPT_MASTER] = {"master", 0, "FILE", "deprecated spelling of --master-key", NULL, OPT_MASTER_KEY,
                    RK_CLI_HIDDEN},
};

static int run(const rk_cli_args_t *a, void *ctx)
{
    const char *dir = a->value[OPT_OUT_DIR] ? a->value[OPT_OUT_DIR] : ".";
    const char *master = a->value[OPT_MASTER_KEY];
    const char *origin = a->value[OPT_LOG_ORIGIN];
    char why[512] = "", prefix[4096], derived[RK_LOG_ORIGIN_LEN], vkey[TLOG_VKEY_MAX] = "";
    rk_identity_t *id;

    (void)ctx;
    if (master != NULL) {
        if (a->npos != 0)
            return rk_cli_usage_error(a,
                                      "--master-key FILE takes no NAME ('%s'): make the master key and each "
                                      "party's key pair in separate runs",
                                      a->pos[0]);
        if (rk_master_generate_file(master, why, sizeof why) != RK_KEYS_OK) {
            fprintf(stderr, PROG ": %s\n", why);
            return RK_EXIT_ERROR;
        }
        printf("wrote master key %s (mode 0600)\n", master);
        return RK_EXIT_OK;
    }
    if (a->npos != 1)
        return rk_cli_usage_error(a,
                                  "%s: usage: " PROG " [-o DIR] NAME (e.g. city.x, or hub), or " PROG
                                  " --master-key FILE",
                                  a->npos == 0 ? "no NAME given" : "more than one NAME");
    if (!rk_valid_name(a->pos[0])) {
        fprintf(stderr,
                PROG ": '%s' is not a valid name: use 1-64 of a-z 0-9 . _ -, starting with a letter\n",
                a->pos[0]);
        return RK_EXIT_USAGE;
    }
    if ((size_t)snprintf(prefix, sizeof prefix, "%s/%s", dir, a->pos[0]) >= sizeof prefix) {
        fprintf(stderr, PROG ": output path too long\n");
        return RK_EXIT_USAGE;
    }
    id = rk_identity_generate(a->pos[0]);
    if (id == NULL) {
        fprintf(stderr, PROG ": cannot generate a key (libsodium failed)\n");
        return RK_EXIT_ERROR;
    }
    if (rk_identity_save(id, prefix, why, sizeof why) != RK_KEYS_OK) {
        fprintf(stderr, PROG ": %s\n", why);
        rk_identity_destroy(&id);
        return RK_EXIT_ERROR;
    }
    if (origin != NULL || strcmp(a->pos[0], "hub") == 0) {
        if (origin == NULL) {
            rk_log_origin_default(id->pub.sign_pk, derived);
            origin = derived;
        }
        if (tlog_vkey_format(origin, id->pub.sign_pk, vkey, sizeof vkey) != TLOG_OK)
            fprintf(stderr, PROG ": --log-origin '%s' is not a log name (no spaces or '+'): no verifier key printed\n",
                    origin);
    }
    rk_identity_destroy(&id);
    printf("wrote %s.key (secret, mode 0600) and %s.pub\n", prefix, prefix);
    if (vkey[0] != '\0')
        printf("routing log %s, verifier key for its auditors to pin:\n%s\n", origin, vkey);
    return RK_EXIT_OK;
}

static const rk_cli_prog_t program = {
    .name = PROG,
    .synopsis = "[-o DIR] [--log-origin NAME] NAME\n       " PROG " --master-key FILE",
    .about = "Creates DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub (public) for the\n"
             "party NAME (an organization id such as city.x, or 'hub').  One identity\n"
             "gives both the Ed25519 signing key and the X25519 key used by CurveZMQ\n"
             "and payload encryption.  Mail NAME.pub to the hub operator; never the .key.\n"
             "Existing files are never overwritten.  For the hub's key (NAME hub, or\n"
             "--log-origin given) it also prints the routing log's verifier key, the\n"
             "line auditors pin (renkei-audit vkey prints it again from hub.pub).",
    .opts = options,
    .n_opts = N_OPTS,
    .run = run,
};

int main(int argc, char **argv)
{
    return rk_cli_main(&program, argc, argv, NULL);
}
