/*
 * cli.h - one command-line vocabulary for every Renkei program.
 *
 * A program is described once, as tables: its options (long name, optional
 * short letter, argument name, help text, environment fallback) and, for
 * programs with subcommands, its commands (name, argument synopsis, one-line
 * summary, the options it accepts, handler).  The parser and every help text
 * come from these tables:
 *
 *   PROG --help, PROG help          the program's usage and its commands
 *   PROG CMD --help, PROG help CMD  that command's usage and its options
 *   PROG --version                  "PROG 0.1.0 (Renkei protocol 1)"
 *
 * Rules every program follows (README.md, "Command lines"):
 *   - long options are matched exactly: a prefix of a name (--hub for
 *     --hub-key) is refused, naming the option as given;
 *   - an option that exists but belongs to other commands is refused,
 *     naming the commands it belongs to;
 *   - --name=VALUE and --name VALUE, -x VALUE and -xVALUE; flags may be
 *     grouped (-vh); "--" ends the options;
 *   - options may come before or after the command; given twice, the last
 *     one wins (an option marked repeatable keeps every value);
 *   - a deprecated spelling still works and prints one warning on stderr;
 *   - the exit statuses are rk_exit below, the same in every program.
 *
 * The parser never prints an option's value except in the message about a
 * value that is not valid for it, and programs must not mark options whose
 * values are secret or personal as taking a value at all.
 */
#ifndef RENKEI_COMMON_CLI_H
#define RENKEI_COMMON_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

/* Exit statuses of every Renkei program.  Documented in README.md,
 * "Command lines"; keep the two in step. */
typedef enum rk_exit {
    RK_EXIT_OK = 0,         /* done (renkei-audit verify: the log is consistent) */
    RK_EXIT_ERROR = 1,      /* failed (renkei-audit verify: also "not consistent") */
    RK_EXIT_USAGE = 2,      /* the command line was wrong; nothing was done */
    RK_EXIT_REFUSED = 3,    /* the hub or the recipient refused (with the reason) */
    RK_EXIT_TIMEOUT = 4,    /* no answer in time */
    RK_EXIT_PENDING = 5,    /* committed, not yet accepted by the hub; re-sent automatically */
    RK_EXIT_UNVERIFIED = 6, /* a receipt that could not be verified in full */
    RK_EXIT_PROOF = 7,      /* the routing log does not prove it */
} rk_exit;

/* Where each program's --help sends the reader for the rules above. */
#define RK_CLI_SEE_README "Exit statuses and option rules: README.md, section \"Command lines\"."

#define RK_CLI_MAX_OPTS 64 /* options (aliases included) in one program's table */

/* Option flags. */
enum {
    RK_CLI_REPEAT = 1, /* may be given more than once; every value is kept */
    RK_CLI_HIDDEN = 2, /* left out of help (kept for old scripts) */
};

/* One option.  Its id is its index in the program's table. */
typedef struct rk_cli_opt {
    const char *name; /* long name without "--" */
    char short_name;  /* 0: none */
    const char *arg;  /* argument name ("FILE"), NULL for a flag */
    const char *help; /* one or more lines; "\n" breaks a line */
    const char *env;  /* environment variable used when the option is absent, or NULL */
    int alias_of;     /* >= 0: a deprecated spelling of that option id; -1: none */
    unsigned flags;   /* RK_CLI_* */
} rk_cli_opt_t;

struct rk_cli_args;

/* One command.  opts lists the option ids it accepts besides the program's
 * globals, ending with -1 (NULL: none). */
typedef struct rk_cli_cmd {
    const char *name;
    const char *synopsis; /* its arguments and options, after the name */
    const char *summary;  /* one line, for the list of commands */
    const char *help;     /* further text for its own --help, or NULL */
    const int *opts;
    int (*run)(const struct rk_cli_args *a, void *ctx);
} rk_cli_cmd_t;

typedef struct rk_cli_prog {
    const char *name;     /* "renkei-agent" */
    const char *synopsis; /* programs without commands: what follows the name */
    const char *about;    /* a paragraph on what it does */
    const rk_cli_opt_t *opts;
    size_t n_opts;
    const int *globals;       /* option ids every command accepts, ending with -1 */
    const rk_cli_cmd_t *cmds; /* NULL: the program takes no command */
    size_t n_cmds;
    const char *epilog;                                 /* more text at the end of PROG --help, or NULL */
    int (*run)(const struct rk_cli_args *a, void *ctx); /* without commands: the program */
} rk_cli_prog_t;

/* What went wrong, for programs that answer some errors themselves. */
typedef enum rk_cli_err {
    RK_CLI_E_NONE = 0,
    RK_CLI_E_UNKNOWN_OPT, /* no option of that name (or an abbreviation) */
    RK_CLI_E_WRONG_CMD,   /* an option of other commands */
    RK_CLI_E_NEEDS_VALUE, /* last on the line, or an empty -x */
    RK_CLI_E_FLAG_VALUE,  /* --flag=VALUE */
    RK_CLI_E_NO_CMD,      /* a program with commands was given none */
    RK_CLI_E_UNKNOWN_CMD,
    RK_CLI_E_TOO_MANY, /* (internal) more arguments than fit */
} rk_cli_err;

typedef struct rk_cli_given {
    int opt;           /* option id (an alias is stored as its target) */
    const char *value; /* NULL for a flag */
} rk_cli_given_t;

typedef struct rk_cli_args {
    const rk_cli_prog_t *prog;
    const rk_cli_cmd_t *cmd;            /* NULL for a program without commands */
    const char *value[RK_CLI_MAX_OPTS]; /* last value given, or from the environment */
    unsigned count[RK_CLI_MAX_OPTS];    /* times given on the command line */
    bool from_env[RK_CLI_MAX_OPTS];     /* value came from the option's env */
    char **pos;                         /* the arguments that are not options, after the command */
    int npos;
    rk_cli_given_t *given; /* every option given, in order */
    int ngiven;
    bool help;           /* help was asked for (and printed) */
    bool version;        /* --version was given (and the version printed) */
    rk_cli_err err;      /* why parsing stopped, if it did */
    int err_opt;         /* the option concerned, or -1 */
    const char *err_arg; /* the argument as given */
    char err_letter;     /* the unknown letter of a short option, or 0 */
} rk_cli_args_t;

/* rk_cli_parse's answer when help (or --version) was asked for and
 * printed: exit RK_EXIT_OK. */
#define RK_CLI_HELP (-1)

/* Parses argv[1..argc-1] against p.  Returns:
 *   0               run a->cmd (or the program) with a;
 *   RK_CLI_HELP     with a->help set: help was printed on stdout; with
 *                   a->version set: --version (anywhere before "--",
 *                   not the value of an option) was, and the version
 *                   was printed on stdout;
 *   RK_EXIT_USAGE   with a->err set: nothing printed yet (rk_cli_report
 *                   prints the message), or RK_EXIT_ERROR if out of memory.
 * Deprecated spellings print their warning here.  Environment fallbacks
 * fill value[] for options not given.  Free a with rk_cli_args_free. */
int rk_cli_parse(const rk_cli_prog_t *p, int argc, char **argv, rk_cli_args_t *a);

/* Prints the message for a->err on stderr, with a pointer to --help.
 * Returns RK_EXIT_USAGE. */
int rk_cli_report(const rk_cli_args_t *a);

/* rk_cli_parse, rk_cli_report on error, then a->cmd->run(a, ctx) (or the
 * program's run).  Returns the exit status. */
int rk_cli_main(const rk_cli_prog_t *p, int argc, char **argv, void *ctx);

void rk_cli_args_free(rk_cli_args_t *a);

/* Help for the program (cmd NULL) or one command. */
void rk_cli_help(const rk_cli_prog_t *p, const rk_cli_cmd_t *cmd, FILE *out);

/* "PROG VERSION (Renkei protocol N)": the project's version (CMake's
 * project(VERSION)) and RK_PROTOCOL_VERSION. */
void rk_cli_version(const rk_cli_prog_t *p, FILE *out);

/* Prints "PROG: <message>" and "Try 'PROG [CMD] --help'." on stderr;
 * returns RK_EXIT_USAGE.  For usage errors the table cannot see. */
int rk_cli_usage_error(const rk_cli_args_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The command of that name, or NULL. */
const rk_cli_cmd_t *rk_cli_find_cmd(const rk_cli_prog_t *p, const char *name);

/* Whether cmd accepts option id (globals included). */
bool rk_cli_accepts(const rk_cli_prog_t *p, const rk_cli_cmd_t *cmd, int opt);

/* Parsers for option values, the same in every program.  Each returns
 * false for text that is not entirely such a value. */
bool rk_cli_parse_seconds(const char *text, double max, double *out);                       /* 0 < s <= max */
bool rk_cli_parse_count(const char *text, unsigned long long max, unsigned long long *out); /* 1..max */
/* A whole number with a unit: ms, s, m, h or d ("90s", "2h", "7d"), into
 * milliseconds; 0 < result <= max_ms. */
bool rk_cli_parse_duration(const char *text, uint64_t max_ms, uint64_t *out_ms);

#endif /* RENKEI_COMMON_CLI_H */
