/*
 * test_it_cmdline - the resident's number never goes on renkei-agent's
 * command line, where every user of the machine can read it
 * (/proc/PID/cmdline, ps).
 *
 * The real renkei-hub and renkei-agent: city.x (municipality), power
 * (utility, its back office answers every request) and gas (utility, never
 * serving, so a request to it waits).
 *   (1) enroll, lookup, bind, send, status --person and disclose take the
 *       number on standard input or from --person-file FILE, and work;
 *   (2) the number given as an argument (the old forms, --person=NUMBER) is
 *       refused with exit 2 and a message that says how to pass it, and the
 *       number appears in neither stdout nor stderr;
 *   (3) while `send --person-file FILE` waits for its reply, the process's
 *       /proc/PID/cmdline does not hold the number.
 *
 * And one option vocabulary for every program (README.md, "Command lines"):
 *   (4) renkei-hub, renkei-ctl, renkei-agent, renkei-audit, renkei-keygen
 *       and renkei-bench each refuse an abbreviated option (which
 *       getopt_long took for the full name), exit 2, naming it;
 *   (5) each answers --help, and every command's --help and 'help CMD',
 *       with its own usage and exit 0;
 *   (6) an option given to a command it does not belong to exits 2 naming
 *       the commands it belongs to; a deprecated spelling still works, with
 *       one warning;
 *   (7) each answers --version (alone, or with a command) with the
 *       project's version and the protocol version, exit 0, and its --help
 *       says so.
 */
#define _GNU_SOURCE /* memmem */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "harness.h"
#include "renkei/protocol.h"
#include "renkei/version.h"

#define NUMBER "TEST-0007-ARGV"   /* a made-up resident's number */
#define NUMBER2 "TEST-0008-ARGV"  /* another, never enrolled */
#define TYPE "utility.supply.stop"
#define PAYLOAD "{\"request\":\"stop\",\"date\":\"2025-03-31\"}"

typedef struct fixture {
    it_env_t *env;
    char code[40]; /* city.x's link code for NUMBER */
} fixture_t;

static int setup(void **state)
{
    static fixture_t fx;
    memset(&fx, 0, sizeof fx);
    *state = &fx;
    if ((fx.env = it_env_new()) == NULL)
        return -1;
    if (it_org(fx.env, "city.x", "municipality") != 0 || it_org(fx.env, "power", "utility") != 0 ||
        it_org(fx.env, "gas", "utility") != 0)
        return -1;
    if (it_hub_start(fx.env, NULL) != 0)
        return -1;
    if (it_serve_start(fx.env, "power", "cat > /dev/null; printf '{\"result\":\"done\"}\\n'", 0) == NULL)
        return -1;
    return 0;
}

/* city.x enrolls NUMBER, through standard input (the plain way), once. */
static void enrolled(fixture_t *fx)
{
    it_run_t r;
    int st;
    if (fx->code[0] != '\0')
        return;
    st = it_agent(fx->env, "city.x", NUMBER "\n", &r, "enroll", NULL);
    if (st != 0)
        fail_msg("enroll with the number on stdin exited %d: %s", st, r.err);
    snprintf(fx->code, sizeof fx->code, "%s", it_chomp(r.out));
    it_run_clear(&r);
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx != NULL)
        it_env_destroy(&fx->env);
    return 0;
}

static bool is_code(const char *s)
{
    if (strlen(s) != 32)
        return false;
    for (size_t i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Neither stream of a finished command carries a number. */
static void assert_not_shown(const it_run_t *r, const char *what)
{
    if (strstr(r->out, NUMBER) != NULL || strstr(r->err, NUMBER) != NULL || strstr(r->out, NUMBER2) != NULL ||
        strstr(r->err, NUMBER2) != NULL)
        fail_msg("%s printed the resident's number: stdout '%s' stderr '%s'", what, r->out, r->err);
}

/* (1) Every command that needs the number takes it from stdin or a file. */
static void test_number_from_stdin_or_file(void **state)
{
    fixture_t *fx = *state;
    char file[PATH_MAX], payload[PATH_MAX];
    it_run_t r;
    int st;

    enrolled(fx);
    assert_true(is_code(fx->code));

    /* lookup: stdin (with and without the trailing newline), and a file. */
    assert_int_equal(it_agent(fx->env, "city.x", NUMBER "\n", &r, "lookup", NULL), 0);
    assert_string_equal(it_chomp(r.out), fx->code);
    it_run_clear(&r);
    assert_int_equal(it_agent(fx->env, "city.x", NUMBER, &r, "lookup", NULL), 0);
    assert_string_equal(it_chomp(r.out), fx->code);
    it_run_clear(&r);
    assert_int_equal(it_person_file(fx->env, NUMBER, file, sizeof file), 0);
    assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "lookup", "--person-file", file, NULL), 0);
    assert_string_equal(it_chomp(r.out), fx->code);
    assert_null(strstr(r.err, "warning")); /* the file is the owner's alone */
    assert_not_shown(&r, "lookup --person-file");
    it_run_clear(&r);

    /* A second enroll, from the file, finds the same code. */
    assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "enroll", "--person-file", file, NULL), 0);
    assert_string_equal(it_chomp(r.out), fx->code);
    it_run_clear(&r);

    /* send: the number from a file, the payload on stdin; the reply comes. */
    st = it_agent(fx->env, "city.x", PAYLOAD, &r, "send", "--to", "power", "--type", TYPE, "--person-file", file,
                  NULL);
    if (st != 0)
        fail_msg("send --person-file exited %d: %s", st, r.err);
    assert_non_null(strstr(r.out, "\"done\""));
    assert_non_null(strstr(r.out, fx->code)); /* the reply is about city.x's own code for the resident */
    assert_not_shown(&r, "send --person-file");
    it_run_clear(&r);

    /* send: the payload from a file, the number on stdin (--person). */
    snprintf(payload, sizeof payload, "%s", it_path(fx->env, "payload.json"));
    assert_int_equal(it_write_file(payload, PAYLOAD), 0);
    st = it_agent(fx->env, "city.x", NUMBER "\n", &r, "send", "--to", "power", "--type", TYPE, "--person",
                  "--payload", payload, NULL);
    if (st != 0)
        fail_msg("send --person --payload FILE exited %d: %s", st, r.err);
    assert_non_null(strstr(r.out, "\"done\""));
    it_run_clear(&r);

    /* status --person: both messages, answered. */
    assert_int_equal(it_agent(fx->env, "city.x", NUMBER "\n", &r, "status", "--person", NULL), 0);
    {
        size_t n = 0;
        for (const char *p = r.out; (p = strstr(p, "ANSWERED")) != NULL; p++)
            n++;
        if (n != 2)
            fail_msg("status --person should list the two answered messages: %s", r.out);
    }
    assert_not_shown(&r, "status --person");
    it_run_clear(&r);
    /* ... and from the file. */
    assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "status", "--person-file", file, NULL), 0);
    assert_non_null(strstr(r.out, "ANSWERED"));
    it_run_clear(&r);

    /* disclose: the hub's log entries about the resident. */
    st = it_agent(fx->env, "city.x", NUMBER "\n", &r, "disclose", NULL);
    if (st != 0)
        fail_msg("disclose with the number on stdin exited %d: %s", st, r.err);
    assert_non_null(strstr(r.out, "enrolled"));
    assert_non_null(strstr(r.out, "accepted"));
    assert_non_null(strstr(r.out, "about this person"));
    assert_not_shown(&r, "disclose");
    assert_null(strstr(r.out, fx->code));
    it_run_clear(&r);

    /* bind at another number: the link code stays an argument. */
    {
        char code2[40];
        assert_int_equal(it_agent(fx->env, "city.x", "TEST-0009-ARGV\n", &r, "enroll", NULL), 0);
        snprintf(code2, sizeof code2, "%s", it_chomp(r.out));
        it_run_clear(&r);
        /* bound to a second person already holding that code: refused */
        st = it_agent(fx->env, "city.x", NUMBER2 "\n", &r, "bind", code2, NULL);
        assert_int_equal(st, 1);
        assert_non_null(strstr(r.err, "already bound"));
        assert_not_shown(&r, "bind");
        it_run_clear(&r);
        /* the same person and code again: recorded (nothing changes) */
        assert_int_equal(it_agent(fx->env, "city.x", "TEST-0009-ARGV\n", &r, "bind", code2, NULL), 0);
        assert_non_null(strstr(r.err, "recorded"));
        it_run_clear(&r);
    }

    /* A number file others may read is used, with a warning. */
    assert_int_equal(chmod(file, 0644), 0);
    assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "lookup", "--person-file", file, NULL), 0);
    assert_string_equal(it_chomp(r.out), fx->code);
    assert_non_null(strstr(r.err, "warning"));
    assert_not_shown(&r, "lookup with a readable file");
    it_run_clear(&r);
}

/* Input that is not one number on one line is refused, without echo. */
static void test_bad_input_is_refused(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *input;
        const char *says;
    } bad[] = {
        {"", "empty"},
        {"\n", "empty"},
        {NUMBER " " NUMBER2 "\n", "whitespace"},
        {NUMBER "\n" NUMBER2 "\n", "whitespace"},
        {"\t" NUMBER "\n", "whitespace"},
        {NUMBER "\x01\n", "printable"},
        {NUMBER NUMBER NUMBER NUMBER NUMBER "\n", "longer than"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        it_run_t r;
        int st = it_agent(fx->env, "city.x", bad[i].input, &r, "lookup", NULL);
        if (st != 2 || strstr(r.err, bad[i].says) == NULL)
            fail_msg("input %zu: expected exit 2 saying \"%s\", got exit %d: %s", i, bad[i].says, st, r.err);
        assert_not_shown(&r, "lookup with bad input");
        it_run_clear(&r);
    }
}

/* (2) The number as an argument: exit 2, how to pass it, no echo, nothing done. */
static void test_number_as_argument_is_refused(void **state)
{
    fixture_t *fx = *state;
    it_run_t r;
    char *before;
    static const char *const forms[][12] = {
        {"enroll", NUMBER2, NULL},
        {"lookup", NUMBER, NULL},
        {"bind", NUMBER2, "00112233445566778899aabbccddeeff", NULL},
        {"status", "--person", NUMBER, NULL},
        {"status", "--person=" NUMBER, NULL},
        {"disclose", "--person", NUMBER, NULL},
        {"--person", NUMBER, "disclose", NULL},
        {"send", "--to", "power", "--type", TYPE, "--person", NUMBER, NULL},
        /* NOLINTNEXTLINE(bugprone-suspicious-missing-comma): "--person=" NUMBER is one argument */
        {"send", "--to", "power", "--type", TYPE, "--person=" NUMBER, "--payload", "-", NULL},
        {"enroll", "--person=" NUMBER2, NULL},
    };
    assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "status", "--all", NULL), 0);
    before = r.out;
    r.out = NULL;
    it_run_clear(&r);
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        int st = it_agentv(fx->env, "city.x", PAYLOAD, forms[i], &r);
        if (st != 2)
            fail_msg("form %zu (%s ...): expected exit 2 (usage), got %d: %s", i, forms[i][0], st, r.err);
        if (strstr(r.err, "never given on the command line") == NULL || strstr(r.err, "--person-file FILE") == NULL)
            fail_msg("form %zu (%s ...): the message does not say how to pass the number: %s", i, forms[i][0], r.err);
        if (strcmp(forms[i][0], "send") != 0 && strstr(r.err, "standard input") == NULL)
            fail_msg("form %zu (%s ...): the message does not mention standard input: %s", i, forms[i][0], r.err);
        assert_not_shown(&r, forms[i][0]);
        it_run_clear(&r);
    }

    /* Nothing was done: the refused enroll recorded no code, the refused
     * sends left no message. */
    assert_int_equal(it_agent(fx->env, "city.x", NUMBER2 "\n", &r, "lookup", NULL), 1);
    assert_non_null(strstr(r.err, "no link code"));
    it_run_clear(&r);
    assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "status", "--all", NULL), 0);
    assert_string_equal(r.out, before);
    it_run_clear(&r);
    free(before);
}

/* Waits up to 15 s for p's stderr to contain needle. */
static bool err_has(it_proc_t *p, const char *needle)
{
    for (int i = 0; i < 1500; i++) {
        char *e = it_proc_err(p);
        bool ok = strstr(e, needle) != NULL;
        free(e);
        if (ok)
            return true;
        if (!it_proc_running(p))
            return false;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* (3) A command that runs a while about the resident: its cmdline (what any
 * local user reads) does not hold the number. */
static void test_number_not_in_cmdline(void **state)
{
    fixture_t *fx = *state;
    char file[PATH_MAX], payload[PATH_MAX], key[PATH_MAX], hubkey[PATH_MAX], data[PATH_MAX], proc[64];
    char *cmdline, *environ_text, *err;
    size_t len = 0, elen = 0;
    it_proc_t *p;

    enrolled(fx);
    assert_int_equal(it_person_file(fx->env, NUMBER, file, sizeof file), 0);
    snprintf(payload, sizeof payload, "%s", it_path(fx->env, "payload-gas.json"));
    assert_int_equal(it_write_file(payload, PAYLOAD), 0);
    snprintf(key, sizeof key, "%s", it_path(fx->env, "keys/city.x.key"));
    snprintf(hubkey, sizeof hubkey, "%s", it_path(fx->env, "keys/hub.pub"));
    snprintf(data, sizeof data, "%s", it_path(fx->env, "agents/city.x"));
    {
        /* gas never serves: the sender waits for its reply. */
        const char *args[] = {"-H", it_hub_endpoint(fx->env), "-K", hubkey, "-k", key, "-d", data, "-t", "60",
                              "send", "--to", "gas", "--type", TYPE, "--person-file", file, "--payload", payload,
                              NULL};
        p = it_spawn(fx->env, "renkei-agent", args, "city.x-waits");
    }
    assert_non_null(p);
    if (!err_has(p, "accepted: seq ")) {
        err = it_proc_err(p);
        fail_msg("send --person-file was not accepted while it runs: %s", err);
    }
    /* The hub has the message: the number was read, the process waits. */
    assert_true(it_proc_running(p));
    snprintf(proc, sizeof proc, "/proc/%ld/cmdline", (long)it_proc_pid(p));
    cmdline = it_slurp(proc, &len);
    assert_non_null(cmdline);
    /* the right process: its own arguments are there */
    assert_non_null(memmem(cmdline, len, "--person-file", strlen("--person-file")));
    assert_non_null(memmem(cmdline, len, file, strlen(file)));
    if (memmem(cmdline, len, NUMBER, strlen(NUMBER)) != NULL)
        fail_msg("the resident's number is on the command line of a running renkei-agent (%s)", proc);
    snprintf(proc, sizeof proc, "/proc/%ld/environ", (long)it_proc_pid(p));
    environ_text = it_slurp(proc, &elen);
    if (environ_text != NULL && memmem(environ_text, elen, NUMBER, strlen(NUMBER)) != NULL)
        fail_msg("the resident's number is in the environment of a running renkei-agent");
    assert_true(it_proc_running(p)); /* read while it ran */
    free(environ_text);
    free(cmdline);
    it_proc_stop(p);
    err = it_proc_err(p);
    assert_null(strstr(err, NUMBER));
    free(err);
}

/* Runs prog (not renkei-agent's organization options) with args. */
static int run_prog(fixture_t *fx, const char *prog, it_run_t *r, const char *const *args)
{
    return it_run(fx->env, prog, args, NULL, 30, r);
}

/* (4) An abbreviation is not taken for the option it starts: exit 2, and the
 * message names what was not recognised. */
static void test_abbreviations_are_refused(void **state)
{
    fixture_t *fx = *state;
    char hubkey[PATH_MAX], key[PATH_MAX], master[PATH_MAX];
    it_run_t r;
    int st;

    snprintf(hubkey, sizeof hubkey, "%s", it_path(fx->env, "keys/hub.pub"));
    snprintf(key, sizeof key, "%s", it_path(fx->env, "keys/city.x.key"));
    snprintf(master, sizeof master, "%s", it_path(fx->env, "abbreviated-master.key"));
    {
        const char *hub[] = {"--dat", it_path(fx->env, "hub-abbrev"), NULL};
        const char *ctl[] = {"--dat", it_hub_data(fx->env), "list", NULL};
        const char *audit[] = {"-H",         it_hub_endpoint(fx->env),
                               "--hub-k",    hubkey,
                               "-k",         key,
                               "-t",         "2",
                               "checkpoint", NULL};
        const char *keygen[] = {"--mast", master, NULL};
        const char *bench[] = {"--rep", "x", NULL};
        const struct {
            const char *prog;
            const char *const *args;
            const char *named;
        } cases[] = {
            {"renkei-hub", hub, "unknown option '--dat'"},
            {"renkei-ctl", ctl, "unknown option '--dat'"},
            {"renkei-audit", audit, "unknown option '--hub-k'"},
            {"renkei-keygen", keygen, "unknown option '--mast'"},
            {"renkei-bench", bench, "unknown option '--rep'"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            st = run_prog(fx, cases[i].prog, &r, cases[i].args);
            if (st != RK_EXIT_USAGE || strstr(r.err, cases[i].named) == NULL ||
                strstr(r.err, "abbreviated") == NULL)
                fail_msg("%s %s: expected exit %d saying \"%s\" and that options are not abbreviated, got "
                         "exit %d: "
                         "%s",
                         cases[i].prog, cases[i].args[0], RK_EXIT_USAGE, cases[i].named, st, r.err);
            it_run_clear(&r);
        }
    }
    /* nothing was made under the abbreviated name */
    assert_int_equal(access(master, F_OK), -1);

    /* renkei-agent: --hub-k is not --hub-key, nor --time --timeout */
    {
        const char *args[] = {"--hub-k", hubkey, "status", "--all", NULL};
        st = it_agentv(fx->env, "city.x", NULL, args, &r);
        if (st != RK_EXIT_USAGE || strstr(r.err, "unknown option '--hub-k'") == NULL)
            fail_msg("renkei-agent --hub-k: expected exit 2 naming it, got %d: %s", st, r.err);
        assert_non_null(strstr(r.err, "--hub-key"));
        it_run_clear(&r);
    }
    {
        const char *args[] = {"status", "--time=5", NULL};
        st = it_agentv(fx->env, "city.x", NULL, args, &r);
        if (st != RK_EXIT_USAGE || strstr(r.err, "unknown option '--time'") == NULL)
            fail_msg("renkei-agent --time=5: expected exit 2 naming it, got %d: %s", st, r.err);
        it_run_clear(&r);
    }
}

/* (5) --help: every program, every command, both ways; exit 0, on stdout. */
static void test_help_for_every_command(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *prog;
        const char *cmds[12];
    } progs[] = {
        {"renkei-hub", {NULL}},
        {"renkei-keygen", {NULL}},
        {"renkei-bench", {NULL}},
        {"renkei-ctl", {"register", "list", "show", "suspend", "reactivate", "rekey", NULL}},
        {"renkei-audit", {"verify", "query", "export", "checkpoint", NULL}},
        {"renkei-agent",
         {"enroll", "bind", "lookup", "send", "serve", "status", "flush", "directory", "receipt", "disclose",
          "purge", NULL}},
    };
    it_run_t r;
    char want[128];

    for (size_t p = 0; p < sizeof progs / sizeof progs[0]; p++) {
        const char *help[] = {"--help", NULL};
        int st = run_prog(fx, progs[p].prog, &r, help);
        snprintf(want, sizeof want, "usage: %s ", progs[p].prog);
        if (st != 0 || strstr(r.out, want) == NULL || strstr(r.out, "\"Command lines\"") == NULL)
            fail_msg("%s --help: expected exit 0 with its usage and the README's \"Command lines\", got %d: "
                     "%s%s",
                     progs[p].prog, st, r.out, r.err);
        for (size_t c = 0; progs[p].cmds[c] != NULL; c++)
            if (strstr(r.out, progs[p].cmds[c]) == NULL)
                fail_msg("%s --help does not list %s", progs[p].prog, progs[p].cmds[c]);
        it_run_clear(&r);
        for (size_t c = 0; progs[p].cmds[c] != NULL; c++) {
            const char *cmd = progs[p].cmds[c];
            const char *after[] = {cmd, "--help", NULL};
            const char *before[] = {"help", cmd, NULL};
            snprintf(want, sizeof want, "usage: %s [OPTIONS] %s", progs[p].prog, cmd);
            for (int form = 0; form < 2; form++) {
                st = run_prog(fx, progs[p].prog, &r, form == 0 ? after : before);
                if (st != 0 || strstr(r.out, want) == NULL || r.err[0] != '\0')
                    fail_msg("%s %s: expected exit 0 and \"%s\" on stdout, got %d: %s%s", progs[p].prog,
                             form == 0 ? "CMD --help" : "help CMD", want, st, r.out, r.err);
                it_run_clear(&r);
            }
        }
    }
}

/* (7) --version: one line, the same in every program. */
static void test_version_of_every_program(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *prog;
        const char *cmd; /* a command to give it after, or NULL */
    } progs[] = {
        {"renkei-hub", NULL},   {"renkei-keygen", NULL},       {"renkei-bench", NULL},
        {"renkei-ctl", NULL},   {"renkei-ctl", "list"},        {"renkei-audit", NULL},
        {"renkei-agent", NULL}, {"renkei-agent", "directory"},
    };
    it_run_t r;
    char want[128];

    for (size_t p = 0; p < sizeof progs / sizeof progs[0]; p++) {
        const char *alone[] = {"--version", NULL};
        const char *with_cmd[] = {progs[p].cmd, "--version", NULL};
        const char *help[] = {"--help", NULL};
        int st = run_prog(fx, progs[p].prog, &r, progs[p].cmd != NULL ? with_cmd : alone);
        snprintf(want, sizeof want, "%s %s (Renkei protocol %u)\n", progs[p].prog, RENKEI_VERSION,
                 (unsigned)RK_PROTOCOL_VERSION);
        if (st != 0 || strcmp(r.out, want) != 0 || r.err[0] != '\0')
            fail_msg("%s %s--version: expected exit 0 and \"%s\" alone on stdout, got %d: %s%s",
                     progs[p].prog, progs[p].cmd != NULL ? "CMD " : "", want, st, r.out, r.err);
        it_run_clear(&r);
        if (progs[p].cmd != NULL)
            continue;
        snprintf(want, sizeof want, "'%s --version'", progs[p].prog);
        st = run_prog(fx, progs[p].prog, &r, help);
        if (st != 0 || strstr(r.out, want) == NULL)
            fail_msg("%s --help does not mention %s: %s", progs[p].prog, want, r.out);
        it_run_clear(&r);
    }
}

/* (6) An option of another command, and the old spellings. */
static void test_wrong_command_and_old_spellings(void **state)
{
    fixture_t *fx = *state;
    char hubkey[PATH_MAX], key[PATH_MAX], master[PATH_MAX], dir[PATH_MAX];
    it_run_t r;
    int st;

    {
        const char *args[] = {"status", "--to", "power", NULL};
        st = it_agentv(fx->env, "city.x", NULL, args, &r);
        if (st != RK_EXIT_USAGE || strstr(r.err, "--to belongs to send, not to status") == NULL)
            fail_msg("status --to: expected exit 2 naming send, got %d: %s", st, r.err);
        it_run_clear(&r);
    }
    {
        const char *args[] = {"--person", "directory", NULL};
        st = it_agentv(fx->env, "city.x", NULL, args, &r);
        if (st != RK_EXIT_USAGE ||
            strstr(r.err,
                   "--person belongs to enroll, bind, lookup, unenroll, send, status and disclose, not to "
                   "directory") == NULL)
            fail_msg("--person directory: expected exit 2 naming its commands, got %d: %s", st, r.err);
        it_run_clear(&r);
    }
    assert_int_equal(it_ctl(fx->env, &r, "list", "--pub", "x.pub", NULL), RK_EXIT_USAGE);
    assert_non_null(strstr(r.err, "--pub belongs to register, rekey and operator, not to list"));
    it_run_clear(&r);
    {
        const char *args[] = {"verify", "--format", "csv", NULL};
        assert_int_equal(run_prog(fx, "renkei-audit", &r, args), RK_EXIT_USAGE);
        assert_non_null(strstr(r.err, "--format belongs to export, not to verify"));
        it_run_clear(&r);
    }

    /* renkei-keygen --master and --out: renamed --master-key and --out-dir */
    snprintf(master, sizeof master, "%s", it_path(fx->env, "old-spelling-master.key"));
    snprintf(dir, sizeof dir, "%s", it_path(fx->env, "keys"));
    {
        const char *args[] = {"--master", master, NULL};
        assert_int_equal(run_prog(fx, "renkei-keygen", &r, args), 0);
        assert_non_null(strstr(r.err, "warning: --master is deprecated and will go; use --master-key"));
        assert_int_equal(access(master, F_OK), 0);
        it_run_clear(&r);
    }
    {
        const char *args[] = {"--out", dir, "--out", dir, "old.spelling", NULL};
        assert_int_equal(run_prog(fx, "renkei-keygen", &r, args), 0);
        assert_non_null(strstr(r.err, "use --out-dir"));
        assert_null(strstr(strstr(r.err, "deprecated") + 1, "deprecated")); /* one warning */
        it_run_clear(&r);
    }
    /* renkei-audit --origin: renamed --log-origin, as renkei-hub and renkei-agent call it */
    snprintf(hubkey, sizeof hubkey, "%s", it_path(fx->env, "keys/hub.pub"));
    snprintf(key, sizeof key, "%s", it_path(fx->env, "keys/city.x.key"));
    {
        const char *args[] = {"-H",         it_hub_endpoint(fx->env),
                              "-K",         hubkey,
                              "-k",         key,
                              "-t",         "5",
                              "--origin",   "renkei-hub",
                              "checkpoint", NULL};
        st = run_prog(fx, "renkei-audit", &r, args);
        assert_non_null(strstr(r.err, "warning: --origin is deprecated and will go; use --log-origin"));
        assert_int_not_equal(st, RK_EXIT_USAGE); /* taken: city.x is no auditor, the hub says so */
        it_run_clear(&r);
    }
}

/* `status` lists each message by its whole id, which `status ID` takes
 * back: ids are time-ordered (milliseconds first), so any shorter form
 * would show two messages sent in the same millisecond alike. */
static void test_status_shows_whole_ids(void **state)
{
    fixture_t *fx = *state;
    char ids[2][33];
    it_run_t r;

    enrolled(fx);
    for (int i = 0; i < 2; i++) {
        const char *at;
        /* gas never serves: both stay open */
        int st = it_agent(fx->env, "city.x", PAYLOAD, &r, "send", "--to", "gas", "--type", TYPE, "--code",
                          fx->code, "--no-wait", NULL);
        if (st != 0)
            fail_msg("send --no-wait exited %d: %s", st, r.err);
        at = strstr(r.out, "\"msg_id\": \"");
        if (at == NULL)
            at = strstr(r.out, "\"msg_id\":\"");
        assert_non_null(at);
        at = strchr(at + 8, '"') + 1;
        assert_true(strspn(at, "0123456789abcdef") == 32);
        memcpy(ids[i], at, 32);
        ids[i][32] = '\0';
        it_run_clear(&r);
    }
    assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "status", NULL), 0);
    for (int i = 0; i < 2; i++)
        if (strstr(r.out, ids[i]) == NULL)
            fail_msg("status does not show message %s in full:\n%s", ids[i], r.out);
    it_run_clear(&r);
    for (int i = 0; i < 2; i++) {
        char want[80];
        assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "status", ids[i], NULL), 0);
        snprintf(want, sizeof want, "message  %s", ids[i]);
        assert_non_null(strstr(r.out, want));
        it_run_clear(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_from_stdin_or_file),
        cmocka_unit_test(test_bad_input_is_refused),
        cmocka_unit_test(test_status_shows_whole_ids),
        cmocka_unit_test(test_number_as_argument_is_refused),
        cmocka_unit_test(test_number_not_in_cmdline),
        cmocka_unit_test(test_abbreviations_are_refused),
        cmocka_unit_test(test_help_for_every_command),
        cmocka_unit_test(test_wrong_command_and_old_spellings),
        cmocka_unit_test(test_version_of_every_program),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
