/*
 * main.c - renkei-audit, the auditors' tool for the hub's routing log.
 *
 *   verify      is the log complete and unaltered, and does it extend the log
 *               verified last time?
 *   query       entries as a table, filtered
 *   export      entries as JSON Lines or CSV, filtered
 *   checkpoint  the newest signed checkpoint, as the hub signed it
 *
 * Exit codes: 0 ok (verify: consistent), 1 not consistent or error, 2 usage.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "filter.h"
#include "output.h"
#include "verify.h"

#define PROG "renkei-audit"
#define EXIT_ERR 1
#define EXIT_USAGE 2
#define DEFAULT_HUB "tcp://127.0.0.1:7750"
#define DEFAULT_ORIGIN "renkei-hub"
#define DEFAULT_STATE "renkei-audit.state"

typedef struct options {
    const char *hub, *hub_key, *key, *origin, *state;
    double timeout_s;
    bool progress, help;
    audit_filter_t filter;
    bool any_filter;
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

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs(PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry '" PROG " --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

static const char common_opts[] =
    "Options (environment fallback in brackets):\n"
    "  -H, --hub ENDPOINT   the hub's endpoint [RENKEI_HUB] (default " DEFAULT_HUB ")\n"
    "  -K, --hub-key FILE   the hub's public key, hub.pub [RENKEI_HUB_KEY]\n"
    "  -k, --key FILE       this auditor's secret key, ORG.key [RENKEI_KEY]\n"
    "      --origin NAME    the log's name in its checkpoints: the hub's --log-origin\n"
    "                       (default " DEFAULT_ORIGIN ")\n"
    "  -t, --timeout SECS   how long to wait for each answer from the hub (default 10)\n"
    "  -h, --help           show this help (after a command: that command's help)\n";

static const char filter_opts[] =
    "Filters (all given must hold):\n"
    "  --org ORG            entries whose FROM or TO is ORG\n"
    "  --type TYPE          entries of procedure type TYPE (e.g. utility.supply.stop)\n"
    "  --outcome WHAT       an outcome (ACCEPTED, DELIVERED, UNKNOWN_WHO, FORBIDDEN...) or an\n"
    "                       event (accepted, refused, delivered, expired, refused-by-recipient,\n"
    "                       first-contact, enrolled, org-registered, org-suspended...)\n"
    "  --since TIME         entries at or after TIME\n"
    "  --until TIME         entries at or before TIME\n"
    "TIME is ISO-8601 (2025-04-01, 2025-04-01T09:00, 2025-04-01T18:00:00+09:00; UTC\n"
    "unless a zone is given) or Unix seconds.  Times printed are UTC.\n";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [OPTIONS] COMMAND [COMMAND OPTIONS]\n"
            "\n"
            "Read and verify the Renkei hub's routing log (auditor organizations only).\n"
            "The log names organizations, procedure types, message ids, outcomes and\n"
            "sizes: never a person and never a message's content.\n"
            "\n%s\n"
            "Commands:\n"
            "  verify [--state FILE] [--progress]\n"
            "                       check the newest signed checkpoint, rebuild the tree from every\n"
            "                       entry, and check that the log extends the one verified last time;\n"
            "                       prints \"consistent: ...\" or \"NOT CONSISTENT: ...\" saying what and where\n"
            "  query [FILTERS]      the entries as a table\n"
            "  export [--format jsonl|csv] [FILTERS]\n"
            "                       the entries with every field, for a spreadsheet or a SIEM\n"
            "  checkpoint           print the hub's newest signed checkpoint note as it is\n"
            "\n"
            "Exit codes: 0 ok (verify: consistent), 1 not consistent or an error, 2 usage.\n",
            common_opts);
}

static void usage_cmd(FILE *f, const char *cmd)
{
    if (strcmp(cmd, "verify") == 0)
        fprintf(f,
                "usage: " PROG " [OPTIONS] verify [--state FILE] [--progress]\n"
                "\n"
                "Fetches the hub's newest checkpoint and checks its signature (hub.pub) and origin;\n"
                "fetches every entry it covers, rebuilds the Merkle tree and compares the roots;\n"
                "checks every entry decodes.  If the state file remembers a checkpoint verified\n"
                "before, checks that the new one extends it (a consistency proof, and the rebuilt\n"
                "tree at the old size gives the old root): a shorter log is a rollback, a different\n"
                "root a rewrite.  The state file is updated only when everything holds.\n"
                "\n"
                "  --state FILE         the remembered checkpoint (default ./" DEFAULT_STATE ");\n"
                "                       keep one per log, and keep it safe: it is what proves a rollback\n"
                "  --progress           report progress on stderr (default when stderr is a terminal)\n"
                "\n%s\n"
                "Exit codes: 0 consistent, 1 not consistent or could not verify, 2 usage.\n",
                common_opts);
    else if (strcmp(cmd, "query") == 0)
        fprintf(f,
                "usage: " PROG " [OPTIONS] query [FILTERS]\n"
                "\n"
                "Prints the entries as an aligned table: INDEX TIME EVENT FROM TO TYPE MSG OUTCOME\n"
                "SIZE (MSG: the first 12 hex digits of the message id).  Entries are not verified\n"
                "here: run verify for that.\n"
                "\n%s\n%s",
                filter_opts, common_opts);
    else if (strcmp(cmd, "export") == 0)
        fprintf(f,
                "usage: " PROG " [OPTIONS] export [--format jsonl|csv] [FILTERS]\n"
                "\n"
                "Writes one JSON object per line (default) or CSV with a header line, each entry\n"
                "with every field: index, time (UTC, milliseconds), time_ms, event, seq, from,\n"
                "to, type, msg_id and reply_to (32 hex digits), outcome, size, kind.\n"
                "\n%s\n%s",
                filter_opts, common_opts);
    else if (strcmp(cmd, "checkpoint") == 0)
        fprintf(f,
                "usage: " PROG " [OPTIONS] checkpoint\n"
                "\n"
                "Prints the hub's newest signed checkpoint (C2SP tlog-checkpoint signed note) as the\n"
                "hub sent it, for other transparency-log tools or to keep as a receipt.  Not\n"
                "verified here: run verify for that.\n"
                "\n%s",
                common_opts);
    else
        usage(f);
}

enum {
    OPT_ORIGIN = 256,
    OPT_STATE,
    OPT_PROGRESS,
    OPT_ORG,
    OPT_TYPE,
    OPT_OUTCOME,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_FORMAT,
};

static int parse(int argc, char **argv, options_t *o)
{
    static const struct option longs[] = {
        {"hub", required_argument, NULL, 'H'},       {"hub-key", required_argument, NULL, 'K'},
        {"key", required_argument, NULL, 'k'},       {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},            {"origin", required_argument, NULL, OPT_ORIGIN},
        {"state", required_argument, NULL, OPT_STATE}, {"progress", no_argument, NULL, OPT_PROGRESS},
        {"org", required_argument, NULL, OPT_ORG},   {"type", required_argument, NULL, OPT_TYPE},
        {"outcome", required_argument, NULL, OPT_OUTCOME}, {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL}, {"format", required_argument, NULL, OPT_FORMAT},
        {NULL, 0, NULL, 0},
    };
    bool state_given = false, progress_given = false, format_given = false;
    int c;

    memset(o, 0, sizeof *o);
    o->hub = getenv("RENKEI_HUB") ? getenv("RENKEI_HUB") : DEFAULT_HUB;
    o->hub_key = getenv("RENKEI_HUB_KEY");
    o->key = getenv("RENKEI_KEY");
    o->origin = DEFAULT_ORIGIN;
    o->state = DEFAULT_STATE;
    o->timeout_s = 10;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":H:K:k:t:h", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'H': o->hub = optarg; break;
        case 'K': o->hub_key = optarg; break;
        case 'k': o->key = optarg; break;
        case 't':
            o->timeout_s = strtod(optarg, &end);
            if (*end != '\0' || !(o->timeout_s > 0 && o->timeout_s <= 3600))
                return usage_error("--timeout wants seconds between 0 and 3600, not '%s'", optarg);
            break;
        case 'h': o->help = true; break;
        case OPT_ORIGIN: o->origin = optarg; break;
        case OPT_STATE: o->state = optarg; state_given = true; break;
        case OPT_PROGRESS: o->progress = progress_given = true; break;
        case OPT_ORG:
            if (!rk_valid_name(optarg))
                return usage_error("--org wants an organization id such as city.x, not '%s'", optarg);
            o->filter.org = optarg;
            o->any_filter = true;
            break;
        case OPT_TYPE:
            if (!rk_valid_name(optarg))
                return usage_error("--type wants a procedure type such as utility.supply.stop, not '%s'", optarg);
            o->filter.type = optarg;
            o->any_filter = true;
            break;
        case OPT_OUTCOME:
            if (!audit_filter_outcome_known(optarg))
                return usage_error("--outcome: '%s' is neither an outcome (ACCEPTED, DELIVERED, FORBIDDEN...) "
                                   "nor an event (accepted, refused, delivered, expired...)", optarg);
            o->filter.outcome = optarg;
            o->any_filter = true;
            break;
        case OPT_SINCE:
        case OPT_UNTIL: {
            bool until = c == OPT_UNTIL;
            int64_t ms;
            if (!audit_time_parse(optarg, until, &ms))
                return usage_error("--%s: '%s' is not a time: give ISO-8601 (2025-04-01T09:00:00Z) or Unix "
                                   "seconds", until ? "until" : "since", optarg);
            if (until) {
                o->filter.has_until = true;
                o->filter.until_ms = ms;
            } else {
                o->filter.has_since = true;
                o->filter.since_ms = ms;
            }
            o->any_filter = true;
            break;
        }
        case OPT_FORMAT:
            if (strcmp(optarg, "jsonl") != 0 && strcmp(optarg, "csv") != 0)
                return usage_error("--format wants jsonl or csv, not '%s'", optarg);
            o->format = optarg;
            format_given = true;
            break;
        case ':': return usage_error("option %s needs a value", argv[optind - 1]);
        default: return usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        o->cmd = argv[optind++];
    if (o->help)
        return 0;
    if (o->cmd == NULL)
        return usage_error("no command given (verify, query, export or checkpoint)");
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (strcmp(o->cmd, "verify") != 0 && strcmp(o->cmd, "query") != 0 && strcmp(o->cmd, "export") != 0 &&
        strcmp(o->cmd, "checkpoint") != 0)
        return usage_error("unknown command '%s' (verify, query, export or checkpoint)", o->cmd);
    if (strcmp(o->cmd, "verify") != 0 && (state_given || progress_given))
        return usage_error("--state and --progress belong to verify");
    if (strcmp(o->cmd, "export") != 0 && format_given)
        return usage_error("--format belongs to export");
    if (o->any_filter && strcmp(o->cmd, "query") != 0 && strcmp(o->cmd, "export") != 0)
        return usage_error("filters (--org, --type, --outcome, --since, --until) belong to query and export");
    if (o->filter.has_since && o->filter.has_until && o->filter.since_ms > o->filter.until_ms)
        return usage_error("--since is after --until: no entry can match");
    if (o->hub_key == NULL)
        return usage_error("%s needs the hub's public key: give --hub-key hub.pub or set RENKEI_HUB_KEY", o->cmd);
    if (o->key == NULL)
        return usage_error("%s needs this auditor's secret key: give --key ORG.key or set RENKEI_KEY", o->cmd);
    if (!progress_given)
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
static int cmd_list(audit_client_t *c, const options_t *o, audit_format fmt)
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
    if (audit_out_finish(out) != 0) {
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

int main(int argc, char **argv)
{
    options_t o;
    audit_client_t *c = NULL;
    char why[1024] = "";
    int rc;

    if ((rc = parse(argc, argv, &o)) != 0)
        return rc;
    if (o.help) {
        if (o.cmd != NULL)
            usage_cmd(stdout, o.cmd);
        else
            usage(stdout);
        return 0;
    }
    if (audit_client_connect(o.hub, o.hub_key, o.key, (int)(o.timeout_s * 1000 + 0.5), &c, why, sizeof why) !=
        AUDIT_CLIENT_OK) {
        err_msg("%s", why);
        return EXIT_ERR;
    }
    /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): parse() returns 0 without a command only for --help */
    if (strcmp(o.cmd, "verify") == 0) {
        audit_verify_opts_t vo = {.origin = o.origin, .state_path = o.state, .progress = o.progress};
        rc = audit_verify(c, &vo, stdout, why, sizeof why);
        if (rc < 0)
            err_msg("cannot verify: %s", why);
        rc = rc == 0 ? 0 : EXIT_ERR;
    } else if (strcmp(o.cmd, "checkpoint") == 0) {
        rc = cmd_checkpoint(c);
    } else if (strcmp(o.cmd, "query") == 0) {
        rc = cmd_list(c, &o, AUDIT_FMT_TABLE);
    } else {
        rc = cmd_list(c, &o,
                      o.format != NULL && strcmp(o.format, "csv") == 0 ? AUDIT_FMT_CSV : AUDIT_FMT_JSONL);
    }
    audit_client_destroy(&c);
    return rc;
}
