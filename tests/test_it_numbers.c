/*
 * test_it_numbers - renkei-agent takes a resident's number as a My Number,
 * and an enrollment can be withdrawn or moved to a corrected number.
 *
 * The real renkei-hub and renkei-agent (city.x, a municipality), with the
 * agent's default rule: this test unsets the RENKEI_NUMBER_RULE=any the
 * harness sets for the other tests' "TEST-..." residents.
 *   (1) a number that is not a My Number (11 digits, a wrong check digit,
 *       letters) is refused with exit 2 and a message saying what is wrong,
 *       and neither stdout nor stderr repeats it; --number-rule any (or
 *       RENKEI_NUMBER_RULE=any) takes it as before; an unknown rule is a
 *       usage error;
 *   (2) full-width digits, spaces and hyphens are normalized: the same
 *       person, one link code, however the number is written;
 *   (3) rebind moves a link code to the corrected number, and refuses, with
 *       nothing changed, when the new number is bound already or is not a
 *       My Number;
 *   (4) unenroll removes the binding and prints the code; the person is not
 *       found afterwards, enrolling again gets a new code from the hub, and
 *       unenroll of a number with no code fails.
 *
 * Every number is made up and satisfies the check digit by construction
 * (see agents/number.c): none is a person's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "harness.h"

#define N_A "123456789018"                      /* valid: 11 digits weigh 212, 11 - 3 = 8 */
#define N_A_WIDE "１２３４　５６７８－９０１８" /* the same, full-width, separated */
#define N_A_SPACED "1234 5678-9018"             /* the same, ASCII separators */
#define N_OLD "111111111118"                    /* valid */
#define N_NEW "222222222225"                    /* valid */
#define N_TAKEN "987654321093"                  /* valid */
#define N_SHORT "12345678901"                   /* 11 digits */
#define N_BAD_CHECK "123456789019"              /* N_A with its check digit off by one */
#define N_LETTERS "TEST-0009-NUMBERS"           /* an old-style made-up number */

typedef struct fixture {
    it_env_t *env;
} fixture_t;

static int setup(void **state)
{
    static fixture_t fx;
    memset(&fx, 0, sizeof fx);
    *state = &fx;
    if ((fx.env = it_env_new()) == NULL)
        return -1;
    unsetenv("RENKEI_NUMBER_RULE"); /* the agent's own default */
    if (it_org(fx.env, "city.x", "municipality") != 0)
        return -1;
    if (it_hub_start(fx.env, NULL) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx != NULL)
        it_env_destroy(&fx->env);
    return 0;
}

/* Neither stream of r carries number. */
static void assert_not_echoed(const it_run_t *r, const char *number, const char *what)
{
    if (strstr(r->out, number) != NULL || strstr(r->err, number) != NULL)
        fail_msg("%s: the number appears in the output", what);
}

/* `renkei-agent CMD` with number on stdin (and extra, may be NULL). */
static int with_number(fixture_t *fx, const char *cmd, const char *number, const char *extra, it_run_t *r)
{
    char input[128];
    snprintf(input, sizeof input, "%s\n", number);
    if (extra != NULL) {
        const char *args[] = {"--number-rule", extra, cmd, NULL};
        return it_agentv(fx->env, "city.x", input, args, r);
    }
    return it_agent(fx->env, "city.x", input, r, cmd, NULL);
}

/* The link code (stdout) of `CMD` for number, which must succeed. */
static void code_of(fixture_t *fx, const char *cmd, const char *number, char code[40])
{
    it_run_t r;
    int st = with_number(fx, cmd, number, NULL, &r);
    if (st != 0)
        fail_msg("%s exited %d: %s", cmd, st, r.err);
    assert_not_echoed(&r, number, cmd);
    snprintf(code, 40, "%s", it_chomp(r.out));
    assert_int_equal(strlen(code), 32);
    it_run_clear(&r);
}

static void test_refusals_say_what_is_wrong(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *number, *message;
    } bad[] = {
        {N_SHORT, "a My Number has 12 digits; this has 11"},
        {N_A "0", "a My Number has 12 digits; this has 13"},
        {N_BAD_CHECK, "the check digit does not match"},
        {N_LETTERS, "holds another character"},
    };
    static const char *const cmds[] = {"enroll", "lookup", "unenroll"};
    it_run_t r;
    int st;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
            st = with_number(fx, cmds[c], bad[i].number, NULL, &r);
            if (st != RK_EXIT_USAGE || strstr(r.err, bad[i].message) == NULL)
                fail_msg("%s of a bad number (case %zu): expected exit 2 saying \"%s\", got %d: %s", cmds[c],
                         i, bad[i].message, st, r.err);
            assert_not_echoed(&r, bad[i].number, cmds[c]);
            it_run_clear(&r);
        }
    /* nothing was enrolled by the refused enroll */
    st = with_number(fx, "lookup", N_LETTERS, "any", &r);
    if (st != RK_EXIT_ERROR || strstr(r.err, "no link code") == NULL)
        fail_msg("lookup --number-rule any after the refusal: expected exit 1, not found, got %d: %s", st,
                 r.err);
    it_run_clear(&r);

    /* --number-rule any takes the old kind of number as it is */
    st = with_number(fx, "enroll", N_LETTERS, "any", &r);
    if (st != 0)
        fail_msg("enroll --number-rule any exited %d: %s", st, r.err);
    assert_not_echoed(&r, N_LETTERS, "enroll --number-rule any");
    it_run_clear(&r);
    setenv("RENKEI_NUMBER_RULE", "any", 1);
    st = with_number(fx, "lookup", N_LETTERS, NULL, &r);
    unsetenv("RENKEI_NUMBER_RULE");
    if (st != 0)
        fail_msg("lookup with RENKEI_NUMBER_RULE=any exited %d: %s", st, r.err);
    it_run_clear(&r);
    /* the option given beats the environment */
    setenv("RENKEI_NUMBER_RULE", "any", 1);
    st = with_number(fx, "lookup", N_LETTERS, "mynumber", &r);
    unsetenv("RENKEI_NUMBER_RULE");
    if (st != RK_EXIT_USAGE)
        fail_msg("lookup --number-rule mynumber with RENKEI_NUMBER_RULE=any: expected exit 2, got %d: %s", st,
                 r.err);
    it_run_clear(&r);

    st = with_number(fx, "lookup", N_A, "strict", &r);
    if (st != RK_EXIT_USAGE || strstr(r.err, "--number-rule") == NULL)
        fail_msg("an unknown --number-rule: expected exit 2 naming the option, got %d: %s", st, r.err);
    it_run_clear(&r);
}

static void test_written_forms_are_one_person(void **state)
{
    fixture_t *fx = *state;
    char enrolled[40], again[40], looked[40];

    code_of(fx, "enroll", N_A_WIDE, enrolled);
    code_of(fx, "enroll", N_A_SPACED, again); /* already enrolled: the same code */
    assert_string_equal(again, enrolled);
    code_of(fx, "lookup", N_A, looked);
    assert_string_equal(looked, enrolled);
}

static void test_rebind_moves_the_code(void **state)
{
    fixture_t *fx = *state;
    char old_code[40], taken_code[40], code[40], old_file[256], new_file[256], taken_file[256], bad_file[256];
    it_run_t r;
    int st;

    code_of(fx, "enroll", N_OLD, old_code);
    code_of(fx, "enroll", N_TAKEN, taken_code);
    assert_int_equal(it_person_file(fx->env, N_OLD, old_file, sizeof old_file), 0);
    assert_int_equal(it_person_file(fx->env, N_NEW, new_file, sizeof new_file), 0);
    assert_int_equal(it_person_file(fx->env, N_TAKEN, taken_file, sizeof taken_file), 0);
    assert_int_equal(it_person_file(fx->env, N_BAD_CHECK, bad_file, sizeof bad_file), 0);

    /* the corrected number is bound already: refused, nothing changed */
    st = it_agent(fx->env, "city.x", NULL, &r, "rebind", "--person-file", old_file, "--new-person-file",
                  taken_file, NULL);
    if (st != RK_EXIT_ERROR || strstr(r.err, "already has a link code") == NULL)
        fail_msg("rebind onto a bound number: expected exit 1, got %d: %s", st, r.err);
    assert_not_echoed(&r, N_OLD, "rebind");
    assert_not_echoed(&r, N_TAKEN, "rebind");
    it_run_clear(&r);
    /* the corrected number is not a My Number: refused, nothing changed */
    st = it_agent(fx->env, "city.x", NULL, &r, "rebind", "--person-file", old_file, "--new-person-file",
                  bad_file, NULL);
    if (st != RK_EXIT_USAGE || strstr(r.err, "the check digit does not match") == NULL)
        fail_msg("rebind onto a bad number: expected exit 2, got %d: %s", st, r.err);
    it_run_clear(&r);
    code_of(fx, "lookup", N_OLD, code);
    assert_string_equal(code, old_code);
    code_of(fx, "lookup", N_TAKEN, code);
    assert_string_equal(code, taken_code);

    /* moved: the corrected number has the code, the mistyped one none */
    st = it_agent(fx->env, "city.x", NULL, &r, "rebind", "--person-file", old_file, "--new-person-file",
                  new_file, NULL);
    if (st != 0)
        fail_msg("rebind exited %d: %s", st, r.err);
    assert_not_echoed(&r, N_OLD, "rebind");
    assert_not_echoed(&r, N_NEW, "rebind");
    it_run_clear(&r);
    code_of(fx, "lookup", N_NEW, code);
    assert_string_equal(code, old_code);
    st = with_number(fx, "lookup", N_OLD, NULL, &r);
    if (st != RK_EXIT_ERROR || strstr(r.err, "no link code") == NULL)
        fail_msg("lookup of the mistyped number after rebind: expected exit 1, got %d: %s", st, r.err);
    it_run_clear(&r);
}

static void test_unenroll_withdraws(void **state)
{
    fixture_t *fx = *state;
    char code[40], removed[40], fresh[40];
    it_run_t r;
    int st;

    code_of(fx, "lookup", N_NEW, code); /* bound by the rebind test */
    code_of(fx, "unenroll", N_NEW, removed);
    assert_string_equal(removed, code);
    st = with_number(fx, "lookup", N_NEW, NULL, &r);
    if (st != RK_EXIT_ERROR || strstr(r.err, "no link code") == NULL)
        fail_msg("lookup after unenroll: expected exit 1, got %d: %s", st, r.err);
    it_run_clear(&r);
    st = with_number(fx, "unenroll", N_NEW, NULL, &r);
    if (st != RK_EXIT_ERROR || strstr(r.err, "no link code") == NULL)
        fail_msg("unenroll twice: expected exit 1, got %d: %s", st, r.err);
    assert_not_echoed(&r, N_NEW, "unenroll");
    it_run_clear(&r);
    /* enrolling again asks the hub, which issues a new code */
    code_of(fx, "enroll", N_NEW, fresh);
    assert_string_not_equal(fresh, removed);
    /* the number as an argument is refused and not repeated */
    st = it_agent(fx->env, "city.x", NULL, &r, "unenroll", N_NEW, NULL);
    if (st != RK_EXIT_USAGE)
        fail_msg("unenroll NUMBER: expected exit 2, got %d: %s", st, r.err);
    assert_not_echoed(&r, N_NEW, "unenroll NUMBER");
    it_run_clear(&r);
    code_of(fx, "lookup", N_NEW, code);
    assert_string_equal(code, fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_say_what_is_wrong),
        cmocka_unit_test(test_written_forms_are_one_person),
        cmocka_unit_test(test_rebind_moves_the_code),
        cmocka_unit_test(test_unenroll_withdraws),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
