/*
 * test_cli - the command-line parser every Renkei program uses
 * (common/cli.h): exact option names only, options refused on the wrong
 * command with their owners named, both value forms, missing values,
 * deprecated spellings, environment fallbacks and the generated help.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

enum {
    O_HUB,
    O_HUB_KEY,
    O_TIMEOUT,
    O_VERBOSE,
    O_HELP,
    O_TO,
    O_EXEC,
    O_ALL,
    O_OUT,
    O_ORIGIN_NEW,
    O_ORIGIN,
    O_N
};

static const rk_cli_opt_t opts[O_N] = {
    [O_HUB] = {"hub", 'H', "ENDPOINT", "the hub's endpoint", "TEST_CLI_HUB", -1, 0},
    [O_HUB_KEY] = {"hub-key", 'K', "FILE", "the hub's public key", NULL, -1, 0},
    [O_TIMEOUT] = {"timeout", 't', "SECS", "how long to wait", NULL, -1, 0},
    [O_VERBOSE] = {"verbose", 'v', NULL, "say more", NULL, -1, 0},
    [O_HELP] = {"help", 'h', NULL, "show this help", NULL, -1, 0},
    [O_TO] = {"to", 0, "ORG", "the recipient", NULL, -1, 0},
    [O_EXEC] = {"exec", 0, "CMD", "run CMD\nfor each message", NULL, -1, 0},
    [O_ALL] = {"all", 0, NULL, "every one", NULL, -1, 0},
    [O_OUT] = {"out", 0, "FILE", "write to FILE", NULL, -1, 0},
    [O_ORIGIN_NEW] = {"log-origin", 0, "NAME", "the log's name", NULL, -1, 0},
    [O_ORIGIN] = {"origin", 0, "NAME", "old name", NULL, O_ORIGIN_NEW, RK_CLI_HIDDEN},
};
static const int globals[] = {O_HUB, O_HUB_KEY, O_TIMEOUT, O_VERBOSE, O_HELP, O_ORIGIN_NEW, -1};
static const int send_opts[] = {O_TO, O_OUT, -1};
static const int serve_opts[] = {O_TO, O_EXEC, -1};
static const int status_opts[] = {O_ALL, -1};

static int ran_with;

static int run_cmd(const rk_cli_args_t *a, void *ctx)
{
    ran_with = *(int *)ctx;
    return a->cmd != NULL && strcmp(a->cmd->name, "status") == 0 ? RK_EXIT_TIMEOUT : RK_EXIT_OK;
}

static const rk_cli_cmd_t cmds[] = {
    {"send", "--to ORG", "send one message", "Sends it and waits.\n", send_opts, run_cmd},
    {"serve", "[--exec CMD]", "receive messages", NULL, serve_opts, run_cmd},
    {"status", "[--all]", "what became of them", NULL, status_opts, run_cmd},
    {"list", "", "everything", NULL, NULL, run_cmd},
};

static const rk_cli_prog_t prog = {
    .name = "test-prog",
    .about = "A program for the tests.",
    .opts = opts,
    .n_opts = O_N,
    .globals = globals,
    .cmds = cmds,
    .n_cmds = sizeof cmds / sizeof cmds[0],
    .epilog = "The epilog.\n",
};

static const rk_cli_prog_t flat = {
    .name = "test-flat",
    .synopsis = "[OPTIONS] NAME",
    .about = "A program without commands.",
    .opts = opts,
    .n_opts = O_HELP + 1,
    .run = run_cmd,
};

/* Output of one call, both streams. */
typedef struct captured {
    char out[8192], err[8192];
} captured_t;

static int saved_out = -1, saved_err = -1;
static FILE *cap_out, *cap_err;

static void capture_begin(void)
{
    fflush(stdout);
    fflush(stderr);
    cap_out = tmpfile();
    cap_err = tmpfile();
    assert_non_null(cap_out);
    assert_non_null(cap_err);
    saved_out = dup(STDOUT_FILENO);
    saved_err = dup(STDERR_FILENO);
    dup2(fileno(cap_out), STDOUT_FILENO);
    dup2(fileno(cap_err), STDERR_FILENO);
}

static void slurp(FILE *f, char *buf, size_t len)
{
    size_t n;
    rewind(f);
    n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void capture_end(captured_t *c)
{
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    slurp(cap_out, c->out, sizeof c->out);
    slurp(cap_err, c->err, sizeof c->err);
}

/* Parses the NULL-terminated arguments (after the program name); messages
 * for an error are reported into c. */
static int parse_with(const rk_cli_prog_t *p, rk_cli_args_t *a, captured_t *c, ...)
{
    char *argv[32];
    int argc = 0, rc;
    va_list ap;
    const char *s;

    argv[argc++] = (char *)p->name;
    va_start(ap, c);
    while ((s = va_arg(ap, const char *)) != NULL && argc < 31)
        argv[argc++] = (char *)s;
    va_end(ap);
    argv[argc] = NULL;
    capture_begin();
    rc = rk_cli_parse(p, argc, argv, a);
    if (rc > 0 && a->err != RK_CLI_E_NONE)
        assert_int_equal(rk_cli_report(a), RK_EXIT_USAGE);
    capture_end(c);
    return rc;
}

static void test_exact_names_and_both_value_forms(void **state)
{
    rk_cli_args_t a;
    captured_t c;
    (void)state;

    assert_int_equal(parse_with(&prog, &a, &c, "--hub-key", "h.pub", "send", "--to=power", NULL), 0);
    assert_string_equal(a.cmd->name, "send");
    assert_string_equal(a.value[O_HUB_KEY], "h.pub");
    assert_string_equal(a.value[O_TO], "power");
    assert_string_equal(c.err, "");
    rk_cli_args_free(&a);

    /* short forms, glued and separate; options after the command; the last one wins */
    assert_int_equal(parse_with(&prog, &a, &c, "send", "-Kh.pub", "-t", "5", "--to", "gas", "-t3", "-v",
                                NULL),
                     0);
    assert_string_equal(a.value[O_HUB_KEY], "h.pub");
    assert_string_equal(a.value[O_TIMEOUT], "3");
    assert_int_equal(a.count[O_TIMEOUT], 2);
    assert_int_equal(a.count[O_VERBOSE], 1);
    assert_null(a.value[O_VERBOSE]);
    assert_int_equal(a.npos, 0);
    rk_cli_args_free(&a);

    /* a value that starts with '-' after a separate option; "--" ends the options; "-" is an argument */
    assert_int_equal(parse_with(&prog, &a, &c, "serve", "--exec", "-x", "-", "--", "--to", NULL), 0);
    assert_string_equal(a.value[O_EXEC], "-x");
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[0], "-");
    assert_string_equal(a.pos[1], "--to");
    assert_int_equal(a.count[O_TO], 0);
    rk_cli_args_free(&a);

    /* one argument, many options: each is recorded */
    assert_int_equal(parse_with(&flat, &a, &c, "-vvvvvv", NULL), 0);
    assert_int_equal(a.count[O_VERBOSE], 6);
    assert_int_equal(a.ngiven, 6);
    rk_cli_args_free(&a);

    /* flags grouped, in a program without commands */
    assert_int_equal(parse_with(&flat, &a, &c, "-vH", "tcp://h:1", "name", NULL), 0);
    assert_int_equal(a.count[O_VERBOSE], 1);
    assert_string_equal(a.value[O_HUB], "tcp://h:1");
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.pos[0], "name");
    rk_cli_args_free(&a);
}

static void test_prefixes_are_refused(void **state)
{
    rk_cli_args_t a;
    captured_t c;
    (void)state;

    /* getopt_long would take --hub-k for --hub-key */
    assert_int_equal(parse_with(&prog, &a, &c, "send", "--hub-k", "h.pub", NULL), RK_EXIT_USAGE);
    assert_int_equal(a.err, RK_CLI_E_UNKNOWN_OPT);
    assert_non_null(strstr(c.err, "test-prog: unknown option '--hub-k'"));
    assert_non_null(strstr(c.err, "never abbreviated"));
    assert_non_null(strstr(c.err, "--hub-key"));
    assert_non_null(strstr(c.err, "Try 'test-prog send --help'"));
    rk_cli_args_free(&a);

    /* --tim=5: the message names only the option, not its value */
    assert_int_equal(parse_with(&prog, &a, &c, "--tim=5", "list", NULL), RK_EXIT_USAGE);
    assert_non_null(strstr(c.err, "unknown option '--tim'"));
    assert_null(strstr(c.err, "=5"));
    assert_non_null(strstr(c.err, "--timeout"));
    rk_cli_args_free(&a);

    /* a prefix of two names names both */
    assert_int_equal(parse_with(&prog, &a, &c, "--hu", "x", "list", NULL), RK_EXIT_USAGE);
    assert_non_null(strstr(c.err, "--hub or --hub-key"));
    rk_cli_args_free(&a);

    /* a name no option starts with */
    assert_int_equal(parse_with(&prog, &a, &c, "list", "--frobnicate", NULL), RK_EXIT_USAGE);
    assert_non_null(strstr(c.err, "unknown option '--frobnicate'"));
    assert_null(strstr(c.err, "never abbreviated"));
    rk_cli_args_free(&a);

    /* an unknown short letter, inside a group */
    assert_int_equal(parse_with(&prog, &a, &c, "-vx", "list", NULL), RK_EXIT_USAGE);
    assert_non_null(strstr(c.err, "unknown option '-x'"));
    rk_cli_args_free(&a);
}

static void test_option_of_another_command(void **state)
{
    rk_cli_args_t a;
    captured_t c;
    (void)state;

    assert_int_equal(parse_with(&prog, &a, &c, "list", "--to", "power", NULL), RK_EXIT_USAGE);
    assert_int_equal(a.err, RK_CLI_E_WRONG_CMD);
    assert_int_equal(a.err_opt, O_TO);
    assert_non_null(strstr(c.err, "--to belongs to send and serve, not to list"));
    rk_cli_args_free(&a);

    /* given before the command, it is still checked against it */
    assert_int_equal(parse_with(&prog, &a, &c, "--exec", "cat", "send", NULL), RK_EXIT_USAGE);
    assert_non_null(strstr(c.err, "--exec belongs to serve, not to send"));
    rk_cli_args_free(&a);

    /* a global option is every command's */
    assert_int_equal(parse_with(&prog, &a, &c, "status", "--all", "-t", "1", NULL), 0);
    rk_cli_args_free(&a);
}

static void test_missing_and_unwanted_values(void **state)
{
    rk_cli_args_t a;
    captured_t c;
    (void)state;

    assert_int_equal(parse_with(&prog, &a, &c, "send", "--to", NULL), RK_EXIT_USAGE);
    assert_int_equal(a.err, RK_CLI_E_NEEDS_VALUE);
    assert_non_null(strstr(c.err, "option --to needs a value (--to ORG)"));
    rk_cli_args_free(&a);

    assert_int_equal(parse_with(&prog, &a, &c, "send", "-t", NULL), RK_EXIT_USAGE);
    assert_int_equal(a.err, RK_CLI_E_NEEDS_VALUE);
    assert_non_null(strstr(c.err, "--timeout needs a value"));
    rk_cli_args_free(&a);

    assert_int_equal(parse_with(&prog, &a, &c, "status", "--all=yes", NULL), RK_EXIT_USAGE);
    assert_int_equal(a.err, RK_CLI_E_FLAG_VALUE);
    assert_int_equal(a.err_opt, O_ALL);
    assert_non_null(strstr(c.err, "option --all takes no value"));
    assert_null(strstr(c.err, "yes"));
    rk_cli_args_free(&a);

    /* an empty value is a value */
    assert_int_equal(parse_with(&prog, &a, &c, "send", "--to=", NULL), 0);
    assert_string_equal(a.value[O_TO], "");
    rk_cli_args_free(&a);
}

static void test_commands(void **state)
{
    rk_cli_args_t a;
    captured_t c;
    char *argv[] = {(char *)"test-prog", (char *)"status", NULL};
    int ctx = 42;
    (void)state;

    assert_int_equal(parse_with(&prog, &a, &c, "-v", NULL), RK_EXIT_USAGE);
    assert_int_equal(a.err, RK_CLI_E_NO_CMD);
    assert_non_null(strstr(c.err, "no command given (send, serve, status, list)"));
    rk_cli_args_free(&a);

    assert_int_equal(parse_with(&prog, &a, &c, "sen", NULL), RK_EXIT_USAGE);
    assert_int_equal(a.err, RK_CLI_E_UNKNOWN_CMD);
    assert_non_null(strstr(c.err, "unknown command 'sen'"));
    rk_cli_args_free(&a);

    /* rk_cli_main runs the command's handler with ctx and returns its status */
    ran_with = 0;
    assert_int_equal(rk_cli_main(&prog, 2, argv, &ctx), RK_EXIT_TIMEOUT);
    assert_int_equal(ran_with, 42);
}

static void test_deprecated_spelling_and_environment(void **state)
{
    rk_cli_args_t a;
    captured_t c;
    (void)state;

    assert_int_equal(parse_with(&prog, &a, &c, "--origin", "a", "list", "--origin=b", NULL), 0);
    assert_string_equal(a.value[O_ORIGIN_NEW], "b");
    assert_int_equal(a.count[O_ORIGIN_NEW], 2);
    assert_non_null(
        strstr(c.err, "test-prog: warning: --origin is deprecated and will go; use --log-origin\n"));
    assert_null(strstr(strstr(c.err, "deprecated") + 1, "deprecated")); /* one warning */
    rk_cli_args_free(&a);

    setenv("TEST_CLI_HUB", "tcp://env:1", 1);
    assert_int_equal(parse_with(&prog, &a, &c, "list", NULL), 0);
    assert_string_equal(a.value[O_HUB], "tcp://env:1");
    assert_true(a.from_env[O_HUB]);
    assert_int_equal(a.count[O_HUB], 0);
    rk_cli_args_free(&a);
    assert_int_equal(parse_with(&prog, &a, &c, "list", "-H", "tcp://cmd:1", NULL), 0);
    assert_string_equal(a.value[O_HUB], "tcp://cmd:1");
    assert_false(a.from_env[O_HUB]);
    rk_cli_args_free(&a);
    unsetenv("TEST_CLI_HUB");
}

static void test_help_is_generated(void **state)
{
    rk_cli_args_t a;
    captured_t c;
    (void)state;

    /* PROG --help: the commands, the global options, the pointer to the README */
    assert_int_equal(parse_with(&prog, &a, &c, "--help", NULL), RK_CLI_HELP);
    assert_true(a.help);
    assert_string_equal(c.err, "");
    assert_non_null(strstr(c.out, "usage: test-prog [OPTIONS] COMMAND [ARGS]"));
    assert_non_null(strstr(c.out, "  send --to ORG          send one message\n"));
    assert_non_null(strstr(c.out, "  serve [--exec CMD]     receive messages\n"));
    assert_non_null(strstr(c.out, "  -K, --hub-key FILE     the hub's public key\n"));
    assert_non_null(strstr(c.out, "  -H, --hub ENDPOINT     the hub's endpoint [TEST_CLI_HUB]\n"));
    assert_non_null(strstr(c.out, "The epilog."));
    assert_non_null(strstr(c.out, RK_CLI_SEE_README));
    assert_null(strstr(c.out, "--origin")); /* deprecated spellings are not offered */
    assert_null(strstr(c.out, "run CMD"));  /* a command's own options are in its own help */
    rk_cli_args_free(&a);

    /* PROG CMD --help and PROG help CMD: that command's usage and options only */
    for (int form = 0; form < 3; form++) {
        int rc = form == 0   ? parse_with(&prog, &a, &c, "serve", "--help", NULL)
                 : form == 1 ? parse_with(&prog, &a, &c, "help", "serve", NULL)
                             : parse_with(&prog, &a, &c, "-h", "serve", "--exec", NULL); /* help wins */
        assert_int_equal(rc, RK_CLI_HELP);
        assert_string_equal(a.cmd->name, "serve");
        assert_non_null(strstr(c.out, "usage: test-prog [OPTIONS] serve [--exec CMD]\n"));
        assert_non_null(strstr(c.out, "Options of serve:\n"));
        assert_non_null(
            strstr(c.out, "      --exec CMD         run CMD\n                         for each message\n"));
        assert_non_null(strstr(c.out, "      --to ORG"));
        assert_non_null(strstr(c.out, "  -t, --timeout SECS"));
        assert_null(strstr(c.out, "--all"));
        assert_null(strstr(c.out, "--out"));
        assert_non_null(strstr(c.out, RK_CLI_SEE_README));
        rk_cli_args_free(&a);
    }

    /* help for a command that does not exist is a usage error */
    assert_int_equal(parse_with(&prog, &a, &c, "help", "bogus", NULL), RK_EXIT_USAGE);
    assert_non_null(strstr(c.err, "unknown command 'bogus'"));
    assert_string_equal(c.out, "");
    rk_cli_args_free(&a);

    /* a program without commands */
    assert_int_equal(parse_with(&flat, &a, &c, "-h", NULL), RK_CLI_HELP);
    assert_non_null(strstr(c.out, "usage: test-flat [OPTIONS] NAME\n\nA program without commands.\n"));
    assert_non_null(strstr(c.out, "  -v, --verbose          say more\n"));
    rk_cli_args_free(&a);
}

static void test_value_parsers(void **state)
{
    double s = 0;
    unsigned long long n = 0;
    (void)state;

    assert_true(rk_cli_parse_seconds("2.5", 60, &s));
    assert_true(s > 2.4 && s < 2.6);
    assert_false(rk_cli_parse_seconds("0", 60, &s));
    assert_false(rk_cli_parse_seconds("61", 60, &s));
    assert_false(rk_cli_parse_seconds("5s", 60, &s));
    assert_false(rk_cli_parse_seconds("", 60, &s));
    assert_true(rk_cli_parse_count("12", 100, &n));
    assert_int_equal(n, 12);
    assert_false(rk_cli_parse_count("0", 100, &n));
    assert_false(rk_cli_parse_count("-1", 100, &n));
    assert_false(rk_cli_parse_count("101", 100, &n));
    assert_false(rk_cli_parse_count("1x", 100, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_names_and_both_value_forms),
        cmocka_unit_test(test_prefixes_are_refused),
        cmocka_unit_test(test_option_of_another_command),
        cmocka_unit_test(test_missing_and_unwanted_values),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_deprecated_spelling_and_environment),
        cmocka_unit_test(test_help_is_generated),
        cmocka_unit_test(test_value_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
