/*
 * main.c - renkei-audit, the auditors' tool for the hub's routing log.
 *
 *   verify      is the log complete and unaltered, and does it extend the log
 *               verified last time?
 *   query       entries as a table, filtered
 *   export      entries as JSON Lines or CSV, filtered
 *   checkpoint  the newest signed checkpoint, as the hub signed it
 *   prove       the consistency proof between two saved checkpoints
 *   vkey        the log's verifier key, from hub.pub (no connection)
 *   check       checkpoints, leaves, proofs and receipts, without the hub
 *
 * Exit codes: 0 ok (verify: consistent), 1 not consistent or error, 2 usage;
 * check: 6 a receipt without its entry, 7 a file does not prove it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "client.h"
#include "filter.h"
#include "offline.h"
#include "output.h"
#include "state.h"
#include "verify.h"
#include "why.h"

#define PROG "renkei-audit"
#define EXIT_ERR RK_EXIT_ERROR
#define DEFAULT_HUB "tcp://127.0.0.1:7750"
#define DEFAULT_STATE "renkei-audit.state"

typedef struct options {
    const char *hub, *hub_key, *key, *origin, *state;
    double timeout_s;
    bool progress;
    audit_filter_t filter;
    const char *format;
    const char *cmd;
} options_t;

static void err_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err_msg(const char *fmt, ...)
{
    va_list ap;
    fputs(PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

enum {
    OPT_HUB,
    OPT_HUB_KEY,
    OPT_KEY,
    OPT_LOG_ORIGIN,
    OPT_TIMEOUT,
    OPT_HELP,
    OPT_STATE,
    OPT_PROGRESS,
    OPT_ORG,
    OPT_TYPE,
    OPT_OUTCOME,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_FORMAT,
    OPT_VKEY,
    OPT_CHECKPOINT,
    OPT_OLD_CHECKPOINT,
    OPT_LEAVES,
    OPT_RECEIPT,
    OPT_CONSISTENCY,
    OPT_ORIGIN, /* deprecated: --log-origin */
    N_OPTS
};

static const rk_cli_opt_t options[N_OPTS] = {
    [OPT_HUB] = {"hub", 'H', "ENDPOINT", "the hub's endpoint (default " DEFAULT_HUB ")", "RENKEI_HUB", -1, 0},
    [OPT_HUB_KEY] = {"hub-key", 'K', "FILE", "the hub's public key, hub.pub", "RENKEI_HUB_KEY", -1, 0},
    [OPT_KEY] = {"key", 'k', "FILE", "this auditor's secret key, ORG.key", "RENKEI_KEY", -1, 0},
    [OPT_LOG_ORIGIN] = {"log-origin", 0, "NAME",
                        "the log's name in its checkpoints: the hub's --log-origin\n(default: the name the "
                        "state file remembers, else the checkpoint's;\nvkey: renkei-hub/ and the key's fingerprint)",
                        "RENKEI_LOG_ORIGIN", -1, 0},
    [OPT_TIMEOUT] = {"timeout", 't', "SECS", "how long to wait for each answer from the hub (default 10)",
                     NULL, -1, 0},
    [OPT_HELP] = {"help", 'h', NULL, "show this help (after a command: that command's)", NULL, -1, 0},
    [OPT_STATE] = {"state", 0, "FILE",
                   "the remembered checkpoint (default ./" DEFAULT_STATE
                   ");\nkeep one per log, and keep it safe: "
                   "it is what proves a rollback",
                   NULL, -1, 0},
    [OPT_PROGRESS] = {"progress", 0, NULL, "report progress on stderr (default when stderr is a terminal)",
                      NULL, -1, 0},
    [OPT_ORG] = {"org", 0, "ORG", "entries whose FROM or TO is ORG", NULL, -1, 0},
    [OPT_TYPE] = {"type", 0, "TYPE", "entries of procedure type TYPE (e.g. utility.supply.stop)", NULL, -1,
                  0},
    [OPT_OUTCOME] = {"outcome", 0, "WHAT",
                     "an outcome (ACCEPTED, DELIVERED, UNKNOWN_WHO, FORBIDDEN...) or an\nevent (accepted, "
                     "refused, delivered, expired, refused-by-recipient,\nfirst-contact, enrolled, "
                     "org-registered, org-suspended...)",
                     NULL, -1, 0},
    [OPT_SINCE] = {"since", 0, "TIME", "entries at or after TIME", NULL, -1, 0},
    [OPT_UNTIL] = {"until", 0, "TIME", "entries at or before TIME", NULL, -1, 0},
    [OPT_FORMAT] = {"format", 0, "FMT",
                    "jsonl (default), csv, or leaves (every entry's raw bytes, base64,\none a line; "
                    "takes no filter)",
                    NULL, -1, 0},
    [OPT_VKEY] = {"vkey", 0, "VKEY",
                  "the pinned verifier key of the log (as renkei-audit vkey prints it),\nor a file holding it",
                  "RENKEI_VKEY", -1, 0},
    [OPT_CHECKPOINT] = {"checkpoint", 0, "FILE", "a signed checkpoint (as renkei-audit checkpoint prints it)", NULL,
                        -1, 0},
    [OPT_OLD_CHECKPOINT] = {"old-checkpoint", 0, "FILE",
                            "an older signed checkpoint the --checkpoint one must extend\n(check: with --leaves or "
                            "--consistency)",
                            NULL, -1, 0},
    [OPT_LEAVES] = {"leaves", 0, "FILE", "the log's raw leaves (renkei-audit export --format leaves)", NULL, -1,
                    0},
    [OPT_RECEIPT] = {"receipt", 0, "FILE", "a receipt (renkei-agent receipt --out FILE)", NULL, -1, 0},
    [OPT_CONSISTENCY] = {"consistency", 0, "FILE",
                         "a consistency proof from --old-checkpoint to --checkpoint\n(renkei-audit prove)", NULL,
                         -1, 0},
    [OPT_ORIGIN] = {"origin", 0, "NAME", "deprecated spelling of --log-origin", NULL, OPT_LOG_ORIGIN,
                    RK_CLI_HIDDEN},
};

static const int globals[] = {OPT_HUB, OPT_HUB_KEY, OPT_KEY, OPT_LOG_ORIGIN, OPT_TIMEOUT, OPT_HELP, -1};
static const int verify_opts[] = {OPT_STATE, OPT_PROGRESS, -1};
static const int query_opts[] = {OPT_ORG, OPT_TYPE, OPT_OUTCOME, OPT_SINCE, OPT_UNTIL, -1};
static const int export_opts[] = {OPT_FORMAT, OPT_ORG, OPT_TYPE, OPT_OUTCOME, OPT_SINCE, OPT_UNTIL, -1};
static const int check_opts[] = {OPT_VKEY,    OPT_CHECKPOINT,  OPT_OLD_CHECKPOINT, OPT_LEAVES,
                                 OPT_RECEIPT, OPT_CONSISTENCY, -1};
static const int prove_opts[] = {OPT_OLD_CHECKPOINT, OPT_CHECKPOINT, -1};

static const char filter_help[] =
    "The filters of query and export (all given must hold) take TIME as ISO-8601\n"
    "(2025-04-01, 2025-04-01T09:00, 2025-04-01T18:00:00+09:00; UTC unless a zone is\n"
    "given) or Unix seconds.  Times printed are UTC.\n";

/* Reads the command line's values into o; 0 if fine, else the exit status. */
static int parse(const rk_cli_args_t *a, options_t *o)
{
    const char *v;

    memset(o, 0, sizeof *o);
    o->cmd = a->cmd->name;
    o->hub = a->value[OPT_HUB] ? a->value[OPT_HUB] : DEFAULT_HUB;
    o->hub_key = a->value[OPT_HUB_KEY];
    o->key = a->value[OPT_KEY];
    o->origin = a->value[OPT_LOG_ORIGIN];
    o->state = a->value[OPT_STATE] ? a->value[OPT_STATE] : DEFAULT_STATE;
    o->progress = a->count[OPT_PROGRESS] > 0;
    o->format = a->value[OPT_FORMAT];
    o->timeout_s = 10;
    if (a->npos > 0)
        return rk_cli_usage_error(a, "unexpected argument '%s'", a->pos[0]);
    if ((v = a->value[OPT_TIMEOUT]) != NULL && !rk_cli_parse_seconds(v, 3600, &o->timeout_s))
        return rk_cli_usage_error(a, "--timeout wants seconds between 0 and 3600, not '%s'", v);
    if ((v = a->value[OPT_ORG]) != NULL) {
        if (!rk_valid_name(v))
            return rk_cli_usage_error(a, "--org wants an organization id such as city.x, not '%s'", v);
        o->filter.org = v;
    }
    if ((v = a->value[OPT_TYPE]) != NULL) {
        if (!rk_valid_name(v))
            return rk_cli_usage_error(a,
                                      "--type wants a procedure type such as utility.supply.stop, not '%s'",
                                      v);
        o->filter.type = v;
    }
    if ((v = a->value[OPT_OUTCOME]) != NULL) {
        if (!audit_filter_outcome_known(v))
            return rk_cli_usage_error(a,
                                      "--outcome: '%s' is neither an outcome (ACCEPTED, DELIVERED, "
                                      "FORBIDDEN...) "
                                      "nor an event (accepted, refused, delivered, expired...)",
                                      v);
        o->filter.outcome = v;
    }
    for (int until = 0; until < 2; until++) {
        int64_t ms;
        if ((v = a->value[until ? OPT_UNTIL : OPT_SINCE]) == NULL)
            continue;
        if (!audit_time_parse(v, until, &ms))
            return rk_cli_usage_error(a,
                                      "--%s: '%s' is not a time: give ISO-8601 (2025-04-01T09:00:00Z) or "
                                      "Unix "
                                      "seconds",
                                      until ? "until" : "since", v);
        if (until) {
            o->filter.has_until = true;
            o->filter.until_ms = ms;
        } else {
            o->filter.has_since = true;
            o->filter.since_ms = ms;
        }
    }
    if (o->format != NULL && strcmp(o->format, "jsonl") != 0 && strcmp(o->format, "csv") != 0 &&
        strcmp(o->format, "leaves") != 0)
        return rk_cli_usage_error(a, "--format wants jsonl, csv or leaves, not '%s'", o->format);
    if (o->format != NULL && strcmp(o->format, "leaves") == 0 &&
        (o->filter.org || o->filter.type || o->filter.outcome || o->filter.has_since || o->filter.has_until))
        return rk_cli_usage_error(a, "--format leaves writes the whole log (a tree is only rebuilt from all its "
                                     "leaves): give no filter");
    if (o->filter.has_since && o->filter.has_until && o->filter.since_ms > o->filter.until_ms)
        return rk_cli_usage_error(a, "--since is after --until: no entry can match");
    if (o->hub_key == NULL)
        return rk_cli_usage_error(
            a, "%s needs the hub's public key: give --hub-key hub.pub or set RENKEI_HUB_KEY", o->cmd);
    if (o->key == NULL)
        return rk_cli_usage_error(a,
                                  "%s needs this auditor's secret key: give --key ORG.key or set RENKEI_KEY",
                                  o->cmd);
    if (a->count[OPT_PROGRESS] == 0)
        o->progress = isatty(STDERR_FILENO) != 0;
    return 0;
}

/* Prints the newest checkpoint note as the hub sent it. */
static int cmd_checkpoint(audit_client_t *c)
{
    rk_client_frame_t req;
    rk_hub_frame_t resp;
    char why[512] = "";
    int rc = EXIT_ERR;

    memset(&req, 0, sizeof req);
    req.kind = RK_CF_CHECKPOINT;
    if (audit_client_request(c, &req, &resp, why, sizeof why) != AUDIT_CLIENT_OK) {
        err_msg("%s", why);
        return EXIT_ERR;
    }
    if (resp.kind == RK_HF_CHECKPOINT && resp.u.checkpoint.status == RK_ST_ACCEPTED && resp.u.checkpoint.note) {
        fputs(resp.u.checkpoint.note, stdout);
        rc = fflush(stdout) == 0 ? 0 : EXIT_ERR;
    } else if (resp.kind == RK_HF_CHECKPOINT && resp.u.checkpoint.status == RK_ST_NOT_FOUND) {
        err_msg("the hub has signed no checkpoint of its routing log yet");
    } else if (resp.kind == RK_HF_LOG) {
        err_msg("the hub refused: %s: %s", rk_status_name(resp.u.log.status), resp.u.log.detail);
    } else {
        err_msg("the hub could not produce its newest checkpoint: see the hub's log");
    }
    rk_hub_frame_clear(&resp);
    return rc;
}

/* query and export: every entry the log holds now, filtered, to out. */
static int cmd_list(audit_client_t *c, const options_t *o, audit_format fmt, bool leaves)
{
    audit_out_t *out = audit_out_new(fmt, stdout);
    uint64_t start = 0, end = UINT64_MAX, bad = 0;
    int rc = EXIT_ERR;

    if (out == NULL) {
        err_msg("out of memory");
        return EXIT_ERR;
    }
    while (start < end) {
        rk_client_frame_t req;
        rk_hub_frame_t resp;
        char why[512] = "";

        memset(&req, 0, sizeof req);
        req.kind = RK_CF_LOG_READ;
        req.u.log_read.start = start;
        req.u.log_read.count = RK_LOG_READ_MAX;
        if (audit_client_request(c, &req, &resp, why, sizeof why) != AUDIT_CLIENT_OK) {
            err_msg("%s", why);
            goto done;
        }
        if (resp.kind != RK_HF_LOG || resp.u.log.status != RK_ST_ACCEPTED) {
            rk_status st = resp.kind == RK_HF_LOG ? resp.u.log.status : RK_ST_UNSPECIFIED;
            if (st == RK_ST_FORBIDDEN)
                err_msg("%s is not an auditor: the hub answered FORBIDDEN (%s); use the key of an organization "
                        "registered with --kind auditor",
                        audit_client_org(c), resp.u.log.detail);
            else
                err_msg("the hub could not return entries from index %llu: %s: %s", (unsigned long long)start,
                        rk_status_name(st), resp.kind == RK_HF_LOG ? resp.u.log.detail : "unexpected answer");
            rk_hub_frame_clear(&resp);
            goto done;
        }
        if (end == UINT64_MAX)
            end = resp.u.log.tree_size; /* the log as it was when the listing began */
        for (size_t k = 0; k < resp.u.log.n && start < end; k++, start++) {
            rk_log_entry_t e;
            char reason[256] = "";
            if (leaves) {
                if (resp.u.log.index[k] != start) {
                    rk_hub_frame_clear(&resp);
                    err_msg("the hub sent entry %llu where entry %llu was due", (unsigned long long)resp.u.log.index[k],
                            (unsigned long long)start);
                    goto done;
                }
                if (audit_leaf_write(stdout, resp.u.log.entry[k], resp.u.log.entry_len[k]) != 0) {
                    rk_hub_frame_clear(&resp);
                    err_msg("cannot write the output");
                    goto done;
                }
                continue;
            }
            if (rk_log_entry_decode(resp.u.log.entry[k], resp.u.log.entry_len[k], &e, reason, sizeof reason) !=
                RK_WIRE_OK) {
                if (bad++ == 0)
                    err_msg("entry %llu does not decode (%s): run verify", (unsigned long long)resp.u.log.index[k],
                            reason);
                continue;
            }
            if (audit_filter_match(&o->filter, &e) && audit_out_entry(out, resp.u.log.index[k], &e) != 0) {
                rk_hub_frame_clear(&resp);
                err_msg("cannot write the output");
                goto done;
            }
        }
        if (resp.u.log.n == 0)
            end = start; /* the log is shorter than it said: stop */
        rk_hub_frame_clear(&resp);
    }
    if ((!leaves && audit_out_finish(out) != 0) || fflush(stdout) != 0) {
        err_msg("cannot write the output");
        goto done;
    }
    if (fmt == AUDIT_FMT_TABLE && isatty(STDOUT_FILENO))
        fprintf(stderr, "%llu of %llu entries\n", (unsigned long long)audit_out_count(out), (unsigned long long)end);
    rc = bad > 0 ? EXIT_ERR : 0;
done:
    audit_out_destroy(&out);
    return rc;
}

/* verify, when the hub no longer presents --hub-key's key: connects with
 * the key the routing log handed over to, as the state file remembers it
 * (audit/state.h).  Keeps the first failure's sentence if there is none. */
static audit_client_err connect_followed(const options_t *o, int timeout_ms, audit_client_t **c, char *why,
                                         size_t why_len)
{
    audit_state_t st;
    rk_pubkey_t given;
    char label[600], inner[1024] = "";
    audit_client_err err;

    if (audit_state_load(o->state, &st, NULL, 0) != AUDIT_STATE_OK || !st.has_hub_key_latest ||
        rk_pubkey_load(o->hub_key, &given, NULL, 0) != RK_KEYS_OK ||
        sodium_memcmp(given.sign_pk, st.hub_key_latest, RK_KEY_LEN) == 0)
        return AUDIT_CLIENT_EHANDSHAKE;
    snprintf(label, sizeof label, "the key the routing log handed over to, from %s", o->state);
    err =
        audit_client_connect_pk(o->hub, st.hub_key_latest, label, o->key, timeout_ms, c, inner, sizeof inner);
    if (err == AUDIT_CLIENT_OK) {
        fprintf(stderr,
                "renkei-audit: the hub no longer presents the key in %s; connected with the key its routing "
                "log "
                "handed over to (remembered in %s)\n",
                o->hub_key, o->state);
        return err;
    }
    snprintf(label, sizeof label, "%s", why);
    rk_why(why, why_len, "%s; nor with the key the routing log handed over to (%s): %s", label, o->state,
           inner);
    return err;
}

/* Reads and opens a checkpoint file under the hub key the client holds,
 * origin --log-origin or the note's own; 0 or an exit status. */
static int open_file_checkpoint(audit_client_t *c, const options_t *o, const char *path, tlog_checkpoint_t *cp)
{
    audit_vkey_t vk;
    char why[1024] = "", *text = NULL;
    FILE *f = fopen(path, "rb");
    size_t len;
    int rc;

    memset(&vk, 0, sizeof vk);
    if (f == NULL) {
        err_msg("cannot read the checkpoint %s: %s", path, strerror(errno));
        return EXIT_ERR;
    }
    text = calloc(1, TLOG_NOTE_MAX + 1);
    len = text != NULL ? fread(text, 1, TLOG_NOTE_MAX, f) : 0;
    fclose(f);
    if (text == NULL) {
        err_msg("out of memory");
        return EXIT_ERR;
    }
    if (o->origin != NULL)
        snprintf(vk.name, sizeof vk.name, "%s", o->origin);
    else if (tlog_checkpoint_origin(text, len, vk.name) != TLOG_OK)
        snprintf(vk.name, sizeof vk.name, "(none)");
    free(text);
    memcpy(vk.pk, audit_client_hub(c)->sign_pk, sizeof vk.pk);
    if (tlog_vkey_format(vk.name, vk.pk, vk.text, sizeof vk.text) != TLOG_OK)
        snprintf(vk.text, sizeof vk.text, "%s (hub.pub)", vk.name);
    if ((rc = audit_check_checkpoint(path, &vk, cp, why, sizeof why)) != 0)
        err_msg("%s", why);
    return rc;
}

/* prove: the consistency proof between two saved checkpoints, from the hub. */
static int cmd_prove(audit_client_t *c, const options_t *o, const rk_cli_args_t *a)
{
    const char *old_path = a->value[OPT_OLD_CHECKPOINT], *new_path = a->value[OPT_CHECKPOINT];
    tlog_checkpoint_t old, cp;
    rk_client_frame_t req;
    rk_hub_frame_t resp;
    char why[512] = "";
    int rc;

    if (old_path == NULL || new_path == NULL)
        return rk_cli_usage_error(a, "prove needs both checkpoints: --old-checkpoint FILE --checkpoint FILE");
    if ((rc = open_file_checkpoint(c, o, old_path, &old)) != 0 || (rc = open_file_checkpoint(c, o, new_path, &cp)) != 0)
        return rc;
    if (old.size > cp.size) {
        err_msg("%s covers %llu entries, more than %s (%llu): give the older one as --old-checkpoint", old_path,
                (unsigned long long)old.size, new_path, (unsigned long long)cp.size);
        return RK_EXIT_USAGE;
    }
    if (old.size == 0 || old.size == cp.size)
        return audit_consistency_write(stdout, old.size, cp.size, NULL, 0) == 0 ? 0 : EXIT_ERR;
    memset(&req, 0, sizeof req);
    req.kind = RK_CF_PROOF;
    req.u.proof.old_size = old.size;
    req.u.proof.tree_size = cp.size;
    if (audit_client_request(c, &req, &resp, why, sizeof why) != AUDIT_CLIENT_OK) {
        err_msg("%s", why);
        return EXIT_ERR;
    }
    if (resp.kind != RK_HF_PROOF || resp.u.proof.status != RK_ST_ACCEPTED) {
        err_msg("the hub gave no consistency proof from %llu to %llu entries: %s: %s", (unsigned long long)old.size,
                (unsigned long long)cp.size,
                resp.kind == RK_HF_PROOF ? rk_status_name(resp.u.proof.status) : "unexpected answer",
                resp.kind == RK_HF_PROOF ? resp.u.proof.detail : "");
        rk_hub_frame_clear(&resp);
        return EXIT_ERR;
    }
    rc = audit_consistency_write(stdout, old.size, cp.size, &resp.u.proof.hash[0][0], resp.u.proof.n) == 0 ? 0
                                                                                                            : EXIT_ERR;
    rk_hub_frame_clear(&resp);
    return rc;
}

/* vkey: the hub's verifier key, from hub.pub and the log origin. */
static int run_vkey(const rk_cli_args_t *a, void *ctx)
{
    const char *origin = a->value[OPT_LOG_ORIGIN];
    rk_pubkey_t pub;
    char why[512] = "", vkey[TLOG_VKEY_MAX], derived[RK_LOG_ORIGIN_LEN];

    (void)ctx;
    if (a->npos > 0)
        return rk_cli_usage_error(a, "unexpected argument '%s'", a->pos[0]);
    if (a->value[OPT_HUB_KEY] == NULL)
        return rk_cli_usage_error(a, "vkey needs the hub's public key: give --hub-key hub.pub or set RENKEI_HUB_KEY");
    if (rk_pubkey_load(a->value[OPT_HUB_KEY], &pub, why, sizeof why) != RK_KEYS_OK) {
        err_msg("%s", why);
        return EXIT_ERR;
    }
    if (origin == NULL) {
        rk_log_origin_default(pub.sign_pk, derived);
        origin = derived;
        fprintf(stderr,
                PROG ": the log of a hub first started with this key and no --log-origin is named %s; a hub "
                "whose log has another name says so as it starts: give it as --log-origin\n",
                origin);
    }
    if (tlog_vkey_format(origin, pub.sign_pk, vkey, sizeof vkey) != TLOG_OK)
        return rk_cli_usage_error(a,
                                  "--log-origin '%s' is not a log name: 1 to %d printable ASCII characters, no "
                                  "spaces or '+'",
                                  origin, TLOG_NAME_MAX);
    puts(vkey);
    return fflush(stdout) == 0 ? 0 : EXIT_ERR;
}

/* check: checkpoint, leaves, receipt, without the hub. */
static int run_check(const rk_cli_args_t *a, void *ctx)
{
    const char *cp_path = a->value[OPT_CHECKPOINT], *old_path = a->value[OPT_OLD_CHECKPOINT],
               *leaves = a->value[OPT_LEAVES], *receipt = a->value[OPT_RECEIPT],
               *consistency = a->value[OPT_CONSISTENCY];
    audit_vkey_t vk;
    tlog_checkpoint_t cp, old;
    char why[1024] = "", root[17];
    int rc;

    (void)ctx;
    if (a->npos > 0)
        return rk_cli_usage_error(a, "unexpected argument '%s'", a->pos[0]);
    if (a->value[OPT_VKEY] == NULL)
        return rk_cli_usage_error(a, "check needs the log's pinned verifier key: give --vkey VKEY (renkei-audit "
                                     "vkey prints it) or set RENKEI_VKEY");
    if (cp_path == NULL && receipt == NULL)
        return rk_cli_usage_error(a, "check needs something to check: --checkpoint FILE (with --leaves FILE, "
                                     "--old-checkpoint FILE) or --receipt FILE");
    if ((leaves != NULL || old_path != NULL) && cp_path == NULL)
        return rk_cli_usage_error(a, "--%s is checked against a checkpoint: give --checkpoint FILE too",
                                  leaves != NULL ? "leaves" : "old-checkpoint");
    if (old_path != NULL && leaves == NULL && consistency == NULL)
        return rk_cli_usage_error(a, "--old-checkpoint is checked through the leaves or a consistency proof: give "
                                     "--leaves FILE or --consistency FILE too");
    if (consistency != NULL && old_path == NULL)
        return rk_cli_usage_error(a, "--consistency proves a checkpoint extends an older one: give "
                                     "--old-checkpoint FILE and --checkpoint FILE");
    if ((rc = audit_vkey_read(a->value[OPT_VKEY], &vk, why, sizeof why)) != 0) {
        if (rc == RK_EXIT_USAGE)
            return rk_cli_usage_error(a, "%s", why);
        err_msg("%s", why);
        return rc;
    }
    if (receipt != NULL) {
        uint64_t index;
        if ((rc = audit_check_receipt(receipt, &vk, &cp, &index, why, sizeof why)) != 0) {
            err_msg("%s", why);
            return rc;
        }
        sodium_bin2hex(root, sizeof root, cp.root, 8);
        printf("receipt: verified: entry %llu is in the log of %llu entries, root %s..., signed by %s\n",
               (unsigned long long)index, (unsigned long long)cp.size, root, vk.name);
    }
    if (cp_path == NULL)
        return fflush(stdout) == 0 ? 0 : EXIT_ERR;
    if ((rc = audit_check_checkpoint(cp_path, &vk, &cp, why, sizeof why)) != 0) {
        err_msg("%s", why);
        return rc;
    }
    sodium_bin2hex(root, sizeof root, cp.root, 8);
    printf("checkpoint: verified: %llu entries, root %s..., signed by %s\n", (unsigned long long)cp.size, root,
           vk.name);
    if (old_path != NULL) {
        if ((rc = audit_check_checkpoint(old_path, &vk, &old, why, sizeof why)) != 0) {
            err_msg("%s", why);
            return rc;
        }
    }
    if (consistency != NULL) {
        if ((rc = audit_check_consistency(consistency, &old, &cp, why, sizeof why)) != 0) {
            err_msg("%s", why);
            return rc;
        }
        printf("consistency: verified: the log of %llu entries extends the one of %llu\n",
               (unsigned long long)cp.size, (unsigned long long)old.size);
    }
    if (leaves != NULL) {
        uint64_t n;
        if ((rc = audit_check_leaves(leaves, &cp, old_path ? &old : NULL, &n, why, sizeof why)) != 0) {
            err_msg("%s", why);
            return rc;
        }
        printf("leaves: verified: the first %llu of the %llu leaves give the checkpoint's root\n",
               (unsigned long long)cp.size, (unsigned long long)n);
        if (old_path != NULL && consistency == NULL)
            printf("old-checkpoint: verified: the log of %llu entries extends the one of %llu\n",
                   (unsigned long long)cp.size, (unsigned long long)old.size);
    }
    return fflush(stdout) == 0 ? 0 : EXIT_ERR;
}

/* Connects and runs the command. */
static int run(const rk_cli_args_t *a, void *ctx)
{
    options_t o;
    audit_client_t *c = NULL;
    char why[1024] = "";
    audit_client_err err;
    int rc, timeout_ms;

    (void)ctx;
    if ((rc = parse(a, &o)) != 0)
        return rc;
    timeout_ms = (int)(o.timeout_s * 1000 + 0.5);
    if ((err = audit_client_connect(o.hub, o.hub_key, o.key, timeout_ms, &c, why, sizeof why)) ==
            AUDIT_CLIENT_EHANDSHAKE &&
        strcmp(o.cmd, "verify") == 0)
        err = connect_followed(&o, timeout_ms, &c, why, sizeof why);
    if (err != AUDIT_CLIENT_OK) {
        err_msg("%s", why);
        return EXIT_ERR;
    }
    if (strcmp(o.cmd, "verify") == 0) {
        audit_verify_opts_t vo = {.origin = o.origin, .state_path = o.state, .progress = o.progress};
        rc = audit_verify(c, &vo, stdout, why, sizeof why);
        if (rc < 0)
            err_msg("cannot verify: %s", why);
        rc = rc == 0 ? 0 : EXIT_ERR;
    } else if (strcmp(o.cmd, "checkpoint") == 0) {
        rc = cmd_checkpoint(c);
    } else if (strcmp(o.cmd, "prove") == 0) {
        rc = cmd_prove(c, &o, a);
    } else if (strcmp(o.cmd, "query") == 0) {
        rc = cmd_list(c, &o, AUDIT_FMT_TABLE, false);
    } else {
        rc = cmd_list(c, &o, o.format != NULL && strcmp(o.format, "csv") == 0 ? AUDIT_FMT_CSV : AUDIT_FMT_JSONL,
                      o.format != NULL && strcmp(o.format, "leaves") == 0);
    }
    audit_client_destroy(&c);
    return rc;
}

static const rk_cli_cmd_t commands[] = {
    {"verify", "[--state FILE] [--progress]",
     "check that the routing log is complete, unaltered and extends the one verified last time",
     "Fetches the hub's newest checkpoint and checks its signature (hub.pub) and origin;\n"
     "fetches every entry it covers, rebuilds the Merkle tree and compares the roots;\n"
     "checks every entry decodes.  If the state file remembers a checkpoint verified\n"
     "before, checks that the new one extends it (a consistency proof, and the rebuilt\n"
     "tree at the old size gives the old root): a shorter log is a rollback, a different\n"
     "root a rewrite.  The state file is updated only when everything holds.  Prints\n"
     "\"consistent: ...\" or \"NOT CONSISTENT: ...\" saying what and where.\n"
     "Exit status: 0 consistent, 1 not consistent or could not verify, 2 usage.\n",
     verify_opts, run},
    {"query", "[FILTERS]", "the entries as a table",
     "Prints the entries as an aligned table: INDEX TIME EVENT FROM TO TYPE MSG OUTCOME\n"
     "SIZE (MSG: the first 12 hex digits of the message id).  Entries are not verified\n"
     "here: run verify for that.  TIME is ISO-8601 (2025-04-01, 2025-04-01T09:00,\n"
     "2025-04-01T18:00:00+09:00; UTC unless a zone is given) or Unix seconds.\n",
     query_opts, run},
    {"export", "[--format jsonl|csv|leaves] [FILTERS]", "the entries with every field, for a spreadsheet or a SIEM",
     "Writes one JSON object per line (default) or CSV with a header line, each entry\n"
     "with every field: index, time (UTC, milliseconds), time_ms, event, seq, from,\n"
     "to, type, msg_id and reply_to (32 hex digits), outcome, size, kind.  TIME is\n"
     "ISO-8601 (2025-04-01T09:00, UTC unless a zone is given) or Unix seconds.\n"
     "--format leaves writes instead every entry of the log, from entry 0, as the exact\n"
     "bytes its Merkle leaf hashes, in base64, one a line (proto/README.md, \"Routing\n"
     "log\"), for check --leaves or another implementation.\n",
     export_opts, run},
    {"vkey", "", "print the log's verifier key, the line an auditor pins",
     "Prints the C2SP verifier key of the routing log, NAME+KEYID+KEY: the log origin\n"
     "(--log-origin), the note key id and the hub's Ed25519 public key (--hub-key).\n"
     "Needs no connection and no auditor key.  Pin this line, and give it to check.\n",
     NULL, run_vkey},
    {"prove", "--old-checkpoint FILE --checkpoint FILE",
     "the consistency proof between two saved checkpoints, for check --consistency",
     "Asks the hub for the RFC 9162 consistency proof from the older checkpoint's size\n"
     "to the newer one's (both files as renkei-audit checkpoint printed them, checked\n"
     "here against hub.pub) and prints it as a consistency file (proto/README.md).\n",
     prove_opts, run},
    {"check",
     "--vkey VKEY [--checkpoint FILE [--leaves FILE] [--old-checkpoint FILE [--consistency FILE]]] "
     "[--receipt FILE]",
     "check checkpoints, exported leaves and receipts without the hub",
     "Checks files against the pinned verifier key alone, with no connection:\n"
     "--checkpoint: the signature and origin of a signed checkpoint; --leaves: that the\n"
     "first SIZE leaves of an export --format leaves file give the checkpoint's root\n"
     "(and, with --old-checkpoint, that the first OLD SIZE give the older one's);\n"
     "--consistency: that --checkpoint extends --old-checkpoint, by a proof from prove;\n"
     "--receipt: a receipt's checkpoint and the inclusion proof of its entry.\n"
     "Exit status: 0 verified, 7 does not prove it (said on standard error), 6 a receipt\n"
     "without its entry, 1 a file cannot be read, 2 usage.\n",
     check_opts, run_check},
    {"checkpoint", "", "print the hub's newest signed checkpoint note as it is",
     "Prints the hub's newest signed checkpoint (C2SP tlog-checkpoint signed note) as the\n"
     "hub sent it, for other transparency-log tools or to keep as a receipt.  Not\n"
     "verified here: run verify for that.\n",
     NULL, run},
};

static const rk_cli_prog_t program = {
    .name = PROG,
    .about = "Read and verify the Renkei hub's routing log (auditor organizations only).\n"
             "The log names organizations, procedure types, message ids, outcomes and\n"
             "sizes: never a person and never a message's content.",
    .opts = options,
    .n_opts = N_OPTS,
    .globals = globals,
    .cmds = commands,
    .n_cmds = sizeof commands / sizeof commands[0],
    .epilog = filter_help,
};

int main(int argc, char **argv)
{
    return rk_cli_main(&program, argc, argv, NULL);
}
