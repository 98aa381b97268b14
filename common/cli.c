/*
 * cli.c - the table-driven command line every Renkei program uses.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "renkei/protocol.h"
#include "renkei/version.h"

#define HELP_COL 25 /* where an option's help text starts */

static int find_long(const rk_cli_prog_t *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->n_opts; i++)
        if (strlen(p->opts[i].name) == len && strncmp(p->opts[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static int find_short(const rk_cli_prog_t *p, char c)
{
    for (size_t i = 0; i < p->n_opts; i++)
        if (p->opts[i].short_name == c && c != 0)
            return (int)i;
    return -1;
}

const rk_cli_cmd_t *rk_cli_find_cmd(const rk_cli_prog_t *p, const char *name)
{
    for (size_t i = 0; i < p->n_cmds; i++)
        if (strcmp(p->cmds[i].name, name) == 0)
            return &p->cmds[i];
    return NULL;
}

static bool in_list(const int *ids, int opt)
{
    if (ids == NULL)
        return false;
    for (size_t i = 0; ids[i] >= 0; i++)
        if (ids[i] == opt)
            return true;
    return false;
}

bool rk_cli_accepts(const rk_cli_prog_t *p, const rk_cli_cmd_t *cmd, int opt)
{
    if (opt >= 0 && (size_t)opt < p->n_opts && p->opts[opt].alias_of >= 0)
        opt = p->opts[opt].alias_of;
    if (p->cmds == NULL)
        return true;
    return in_list(p->globals, opt) || (cmd != NULL && in_list(cmd->opts, opt));
}

static bool is_help(const rk_cli_prog_t *p, int opt)
{
    return strcmp(p->opts[opt].name, "help") == 0;
}

/* --help or -h anywhere before "--". */
static bool help_asked(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

static void set_err(rk_cli_args_t *a, rk_cli_err err, int opt, const char *arg)
{
    a->err = err;
    a->err_opt = opt;
    a->err_arg = arg;
}

/* Records option opt (as spelled in arg) with value. */
static void record(rk_cli_args_t *a, int opt, const char *value, const char *arg, bool *warned)
{
    const rk_cli_prog_t *p = a->prog;
    int target = p->opts[opt].alias_of >= 0 ? p->opts[opt].alias_of : opt;

    if (target != opt && !warned[opt]) {
        warned[opt] = true;
        fprintf(stderr, "%s: warning: %s is deprecated and will go; use --%s\n", p->name, arg,
                p->opts[target].name);
    }
    if (is_help(p, target))
        a->help = true;
    a->value[target] = value;
    a->count[target]++;
    a->given[a->ngiven].opt = target;
    a->given[a->ngiven].value = value;
    a->ngiven++;
}

/* The spelling of the option in argument text (up to any '='): for messages. */
static int name_len(const char *arg)
{
    return (int)strcspn(arg, "=");
}

static int print_help_for(rk_cli_args_t *a, const char *target)
{
    const rk_cli_cmd_t *cmd = a->cmd;
    if (target != NULL) {
        cmd = rk_cli_find_cmd(a->prog, target);
        if (cmd == NULL) {
            set_err(a, RK_CLI_E_UNKNOWN_CMD, -1, target);
            a->help = false;
            return RK_EXIT_USAGE;
        }
    }
    a->cmd = cmd;
    a->help = true;
    rk_cli_help(a->prog, cmd, stdout);
    fflush(stdout);
    return RK_CLI_HELP;
}

int rk_cli_parse(const rk_cli_prog_t *p, int argc, char **argv, rk_cli_args_t *a)
{
    bool warned[RK_CLI_MAX_OPTS] = {false};
    bool opts_done = false, help_cmd = false, want_help = help_asked(argc, argv), want_version = false;
    const char *help_target = NULL;
    size_t slots = argc > 0 ? (size_t)argc : 1, letters = 1;

    memset(a, 0, sizeof *a);
    a->prog = p;
    a->err_opt = -1;
    if (p->n_opts > RK_CLI_MAX_OPTS)
        return RK_EXIT_ERROR;
    for (int i = 1; i < argc; i++)
        letters += strlen(argv[i]); /* each option given takes at least one letter (-vvv is three) */
    a->pos = calloc(slots, sizeof *a->pos);
    a->given = calloc(letters, sizeof *a->given);
    if (a->pos == NULL || a->given == NULL) {
        fprintf(stderr, "%s: out of memory\n", p->name);
        return RK_EXIT_ERROR;
    }
    for (int i = 1; i < argc && a->err == RK_CLI_E_NONE; i++) {
        char *arg = argv[i];
        if (!opts_done && strcmp(arg, "--") == 0) {
            opts_done = true;
        } else if (!opts_done && strncmp(arg, "--", 2) == 0) {
            const char *name = arg + 2, *eq = strchr(name, '=');
            int opt = find_long(p, name, eq != NULL ? (size_t)(eq - name) : strlen(name));
            const char *value = NULL;
            if (opt < 0 && strcmp(arg, "--version") == 0) {
                want_version = true; /* every program's, not in its table */
            } else if (opt < 0) {
                set_err(a, RK_CLI_E_UNKNOWN_OPT, -1, arg);
            } else if (p->opts[opt].arg == NULL) {
                if (eq != NULL)
                    set_err(a, RK_CLI_E_FLAG_VALUE, p->opts[opt].alias_of >= 0 ? p->opts[opt].alias_of : opt,
                            arg);
                else
                    record(a, opt, NULL, arg, warned);
            } else {
                if (eq != NULL)
                    value = eq + 1;
                else if (i + 1 < argc)
                    value = argv[++i];
                else
                    set_err(a, RK_CLI_E_NEEDS_VALUE, opt, arg);
                if (value != NULL)
                    record(a, opt, value, arg, warned);
            }
        } else if (!opts_done && arg[0] == '-' && arg[1] != '\0') {
            for (size_t j = 1; arg[j] != '\0' && a->err == RK_CLI_E_NONE; j++) {
                int opt = find_short(p, arg[j]);
                char spelled[3] = {'-', arg[j], '\0'};
                if (opt < 0) {
                    set_err(a, RK_CLI_E_UNKNOWN_OPT, -1, arg);
                    a->err_letter = arg[j];
                } else if (p->opts[opt].arg == NULL) {
                    record(a, opt, NULL, spelled, warned);
                } else {
                    const char *value = arg[j + 1] != '\0' ? arg + j + 1 : i + 1 < argc ? argv[++i] : NULL;
                    if (value == NULL)
                        set_err(a, RK_CLI_E_NEEDS_VALUE, opt, arg);
                    else
                        record(a, opt, value, spelled, warned);
                    break;
                }
            }
        } else if (p->cmds != NULL && a->cmd == NULL && !help_cmd) {
            if (strcmp(arg, "help") == 0)
                help_cmd = true;
            else if ((a->cmd = rk_cli_find_cmd(p, arg)) == NULL)
                set_err(a, RK_CLI_E_UNKNOWN_CMD, -1, arg);
        } else if (help_cmd && help_target == NULL) {
            help_target = arg;
        } else {
            a->pos[a->npos++] = arg;
        }
    }
    if (help_cmd || a->help || (want_help && a->err != RK_CLI_E_NONE && a->err != RK_CLI_E_UNKNOWN_CMD)) {
        a->err = RK_CLI_E_NONE;
        a->err_opt = -1;
        a->err_arg = NULL;
        return print_help_for(a, help_target);
    }
    if (want_version && a->err == RK_CLI_E_NONE) {
        a->version = true;
        rk_cli_version(p, stdout);
        fflush(stdout);
        return RK_CLI_HELP;
    }
    if (a->err != RK_CLI_E_NONE)
        return RK_EXIT_USAGE;
    if (p->cmds != NULL && a->cmd == NULL) {
        set_err(a, RK_CLI_E_NO_CMD, -1, NULL);
        return RK_EXIT_USAGE;
    }
    for (int k = 0; k < a->ngiven; k++)
        if (!rk_cli_accepts(p, a->cmd, a->given[k].opt)) {
            set_err(a, RK_CLI_E_WRONG_CMD, a->given[k].opt, NULL);
            return RK_EXIT_USAGE;
        }
    for (size_t k = 0; k < p->n_opts; k++) {
        const char *env;
        if (a->count[k] != 0 || p->opts[k].env == NULL || !rk_cli_accepts(p, a->cmd, (int)k))
            continue;
        env = getenv(p->opts[k].env);
        if (env != NULL && env[0] != '\0') {
            a->value[k] = env;
            a->from_env[k] = true;
        }
    }
    return 0;
}

void rk_cli_args_free(rk_cli_args_t *a)
{
    free(a->pos);
    free(a->given);
    a->pos = NULL;
    a->given = NULL;
}

/* ------------------------------------------------------------------ messages */

static void try_help(const rk_cli_args_t *a)
{
    if (a->cmd != NULL)
        fprintf(stderr, "Try '%s %s --help' for more information.\n", a->prog->name, a->cmd->name);
    else
        fprintf(stderr, "Try '%s --help' for more information.\n", a->prog->name);
}

/* "a, b and c" of the commands that accept opt. */
static void owners(const rk_cli_prog_t *p, int opt, FILE *out)
{
    size_t n = 0, k = 0;
    for (size_t i = 0; i < p->n_cmds; i++)
        n += in_list(p->cmds[i].opts, opt);
    for (size_t i = 0; i < p->n_cmds; i++) {
        if (!in_list(p->cmds[i].opts, opt))
            continue;
        fprintf(out, "%s%s", k == 0 ? "" : k + 1 == n ? " and " : ", ", p->cmds[i].name);
        k++;
    }
}

static void command_names(const rk_cli_prog_t *p, FILE *out)
{
    for (size_t i = 0; i < p->n_cmds; i++)
        fprintf(out, "%s%s", i == 0 ? "" : ", ", p->cmds[i].name);
}

int rk_cli_report(const rk_cli_args_t *a)
{
    const rk_cli_prog_t *p = a->prog;
    const char *arg = a->err_arg;

    fprintf(stderr, "%s: ", p->name);
    switch (a->err) {
    case RK_CLI_E_UNKNOWN_OPT:
        if (arg != NULL && strncmp(arg, "--", 2) == 0) {
            int len = name_len(arg), n = 0;
            fprintf(stderr, "unknown option '%.*s'", len, arg);
            for (size_t i = 0; i < p->n_opts; i++) {
                const rk_cli_opt_t *o = &p->opts[i];
                if (len > 2 && (o->flags & RK_CLI_HIDDEN) == 0 && o->alias_of < 0 &&
                    strncmp(o->name, arg + 2, (size_t)len - 2) == 0)
                    fprintf(stderr, "%s--%s",
                            n++ == 0 ? " (options are never abbreviated: did you mean " : " or ", o->name);
            }
            if (n > 0)
                fputs("?)", stderr);
        } else if (a->err_letter != '\0') {
            fprintf(stderr, "unknown option '-%c'", a->err_letter);
        } else {
            fprintf(stderr, "unknown option");
        }
        break;
    case RK_CLI_E_WRONG_CMD:
        fprintf(stderr, "--%s belongs to ", p->opts[a->err_opt].name);
        owners(p, a->err_opt, stderr);
        fprintf(stderr, ", not to %s", a->cmd != NULL ? a->cmd->name : "this command");
        break;
    case RK_CLI_E_NEEDS_VALUE:
        fprintf(stderr, "option --%s needs a value (--%s %s)", p->opts[a->err_opt].name,
                p->opts[a->err_opt].name, p->opts[a->err_opt].arg);
        break;
    case RK_CLI_E_FLAG_VALUE: fprintf(stderr, "option --%s takes no value", p->opts[a->err_opt].name); break;
    case RK_CLI_E_NO_CMD:
        fputs("no command given (", stderr);
        command_names(p, stderr);
        fputc(')', stderr);
        break;
    case RK_CLI_E_UNKNOWN_CMD:
        fprintf(stderr, "unknown command '%s' (", arg != NULL ? arg : "");
        command_names(p, stderr);
        fputc(')', stderr);
        break;
    default: fputs("the command line is wrong", stderr); break;
    }
    fputc('\n', stderr);
    try_help(a);
    fflush(stderr);
    return RK_EXIT_USAGE;
}

int rk_cli_usage_error(const rk_cli_args_t *a, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", a->prog->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    try_help(a);
    fflush(stderr);
    return RK_EXIT_USAGE;
}

int rk_cli_main(const rk_cli_prog_t *p, int argc, char **argv, void *ctx)
{
    rk_cli_args_t a;
    int rc = rk_cli_parse(p, argc, argv, &a);

    if (rc == RK_CLI_HELP) {
        rc = RK_EXIT_OK;
    } else if (rc == 0) {
        int (*run)(const rk_cli_args_t *, void *) = a.cmd != NULL ? a.cmd->run : p->run;
        rc = run != NULL ? run(&a, ctx) : RK_EXIT_ERROR;
    } else if (a.err != RK_CLI_E_NONE) {
        rc = rk_cli_report(&a);
    }
    rk_cli_args_free(&a);
    return rc;
}

/* ------------------------------------------------------------------ help */

/* Writes text indented by `indent` after each line break. */
static void indented(FILE *out, const char *text, int indent)
{
    for (const char *s = text; *s != '\0'; s++) {
        fputc(*s, out);
        if (*s == '\n' && s[1] != '\0')
            fprintf(out, "%*s", indent, "");
    }
}

static void opt_line(const rk_cli_opt_t *o, FILE *out)
{
    char head[128];
    int n;

    if (o->short_name != 0)
        n = snprintf(head, sizeof head, "  -%c, --%s%s%s", o->short_name, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
    else
        n = snprintf(head, sizeof head, "      --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    fputs(head, out);
    if (n + 1 > HELP_COL)
        fprintf(out, "\n%*s", HELP_COL, "");
    else
        fprintf(out, "%*s", HELP_COL - n, "");
    indented(out, o->help, HELP_COL);
    if (o->env != NULL)
        fprintf(out, " [%s]", o->env);
    fputc('\n', out);
}

static void opt_list(const rk_cli_prog_t *p, const int *ids, FILE *out)
{
    if (ids == NULL)
        return;
    for (size_t i = 0; ids[i] >= 0; i++)
        if ((size_t)ids[i] < p->n_opts && (p->opts[ids[i]].flags & RK_CLI_HIDDEN) == 0 &&
            p->opts[ids[i]].alias_of < 0)
            opt_line(&p->opts[ids[i]], out);
}

static bool any_env(const rk_cli_prog_t *p, const int *ids)
{
    if (ids == NULL)
        return false;
    for (size_t i = 0; ids[i] >= 0; i++)
        if ((size_t)ids[i] < p->n_opts && p->opts[ids[i]].env != NULL)
            return true;
    return false;
}

void rk_cli_help(const rk_cli_prog_t *p, const rk_cli_cmd_t *cmd, FILE *out)
{
    if (p->cmds == NULL) {
        fprintf(out, "usage: %s %s\n\n%s\n\nOptions:\n", p->name, p->synopsis ? p->synopsis : "[OPTIONS]",
                p->about);
        for (size_t i = 0; i < p->n_opts; i++)
            if ((p->opts[i].flags & RK_CLI_HIDDEN) == 0 && p->opts[i].alias_of < 0)
                opt_line(&p->opts[i], out);
    } else if (cmd == NULL) {
        fprintf(out, "usage: %s [OPTIONS] COMMAND [ARGS]\n\n%s\n\nCommands:\n", p->name, p->about);
        for (size_t i = 0; i < p->n_cmds; i++) {
            const rk_cli_cmd_t *c = &p->cmds[i];
            int n = fprintf(out, "  %s%s%s", c->name, c->synopsis[0] ? " " : "", c->synopsis);
            if (n + 1 > HELP_COL)
                fprintf(out, "\n%*s%s\n", HELP_COL, "", c->summary);
            else
                fprintf(out, "%*s%s\n", HELP_COL - n, "", c->summary);
        }
        fprintf(out, "'%s COMMAND --help' (or '%s help COMMAND') shows a command's usage and options.\n\n",
                p->name, p->name);
        fprintf(out, "Options of every command%s:\n",
                any_env(p, p->globals) ? " (environment fallback in brackets)" : "");
        opt_list(p, p->globals, out);
    } else {
        fprintf(out, "usage: %s [OPTIONS] %s%s%s\n\n%s\n", p->name, cmd->name, cmd->synopsis[0] ? " " : "",
                cmd->synopsis, cmd->summary);
        if (cmd->help != NULL)
            fprintf(out, "\n%s", cmd->help);
        if (cmd->opts != NULL && cmd->opts[0] >= 0) {
            fprintf(out, "\nOptions of %s:\n", cmd->name);
            opt_list(p, cmd->opts, out);
        }
        fprintf(out, "\nOptions of every command%s:\n",
                any_env(p, p->globals) ? " (environment fallback in brackets)" : "");
        opt_list(p, p->globals, out);
    }
    if (cmd == NULL && p->epilog != NULL)
        fprintf(out, "\n%s", p->epilog);
    if (cmd == NULL)
        fprintf(out, "\n'%s --version' prints its version and the protocol version it speaks.\n", p->name);
    fprintf(out, "\n%s\n", RK_CLI_SEE_README);
}

void rk_cli_version(const rk_cli_prog_t *p, FILE *out)
{
    fprintf(out, "%s %s (Renkei protocol %u)\n", p->name, RENKEI_VERSION, (unsigned)RK_PROTOCOL_VERSION);
}

/* ------------------------------------------------------------------ values */

bool rk_cli_parse_seconds(const char *text, double max, double *out)
{
    char *end = NULL;
    double v;
    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v > 0) || v > max)
        return false;
    *out = v;
    return true;
}

bool rk_cli_parse_count(const char *text, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    unsigned long long v;
    if (text[0] < '0' || text[0] > '9') /* strtoull takes "-1" */
        return false;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v == 0 || v > max)
        return false;
    *out = v;
    return true;
}

bool rk_cli_parse_duration(const char *text, uint64_t max_ms, uint64_t *out_ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    char *end = NULL;
    unsigned long long n;

    if (text[0] < '0' || text[0] > '9')
        return false;
    errno = 0;
    n = strtoull(text, &end, 10);
    if (errno != 0 || end == text)
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) != 0)
            continue;
        if (n == 0 || n > max_ms / units[i].ms)
            return false;
        *out_ms = n * units[i].ms;
        return true;
    }
    return false;
}
