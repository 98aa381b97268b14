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

#include <cmocka.h>

#include "harness.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_from_stdin_or_file),
        cmocka_unit_test(test_bad_input_is_refused),
        cmocka_unit_test(test_number_as_argument_is_refused),
        cmocka_unit_test(test_number_not_in_cmdline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
