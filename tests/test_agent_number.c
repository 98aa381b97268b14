/*
 * test_agent_number.c - a resident's number as the agent takes it in
 * (agents/number.h): the My Number check digit, normalization, refusals
 * that never repeat the number; and withdrawing or moving a binding in the
 * local table (rk_codebook_unbind, rk_codebook_rebind).
 *
 * Every number here is made up and computed by the check-digit formula
 * itself (123456789018, 000000000000, 111111111118,
 * 987654321093): none is a
 * person's.
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

#include "codebook.h"
#include "number.h"
#include "renkei/agent.h"

/* The check digit by the formula written out the other way round: the
 * weights 6 5 4 3 2 7 6 5 4 3 2 from the leftmost of the 11 digits. */
static int check_digit_by_weights(const char d[11])
{
    static const int w[11] = {6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2};
    int sum = 0;
    for (int i = 0; i < 11; i++)
        sum += (d[i] - '0') * w[i];
    return sum % 11 <= 1 ? 0 : 11 - sum % 11;
}

static bool normalize(rk_number_rule rule, const char *raw, char out[RK_PERSON_MAX + 1], char *why,
                      size_t why_len)
{
    why[0] = '\0';
    return rk_number_normalize(rule, raw, strlen(raw), out, why, why_len);
}

static void test_check_digit_known_values(void **state)
{
    (void)state;
    /* 12345678901: 1*6+2*5+3*4+4*3+5*2+6*7+7*6+8*5+9*4+0*3+1*2 = 212,
     * 212 mod 11 = 3, 11 - 3 = 8 */
    assert_int_equal(rk_mynumber_check_digit("12345678901"), 8);
    /* a sum that is 0 mod 11 gives 0 */
    assert_int_equal(rk_mynumber_check_digit("00000000000"), 0);
    /* 11111111111: 47 (the sum of the weights), 47 mod 11 = 3, 11 - 3 = 8 */
    assert_int_equal(rk_mynumber_check_digit("11111111111"), 8);
    /* 98765432109: 9*6+8*5+7*4+6*3+5*2+4*7+3*6+2*5+1*4+0*3+9*2 = 228,
     * 228 mod 11 = 8, 11 - 8 = 3 */
    assert_int_equal(rk_mynumber_check_digit("98765432109"), 3);
    /* 10000000000 (weight 6): 6 mod 11 = 6, 11 - 6 = 5 */
    assert_int_equal(rk_mynumber_check_digit("10000000000"), 5);
    /* 00000000005 (weight 2): 10 mod 11 = 10, 11 - 10 = 1 */
    assert_int_equal(rk_mynumber_check_digit("00000000005"), 1);
    /* a remainder of 1 gives 0, not 10: 00000000006, 12 mod 11 = 1 */
    assert_int_equal(rk_mynumber_check_digit("00000000006"), 0);
    assert_int_equal(rk_mynumber_check_digit("1234567890a"), -1);
}

static void test_check_digit_matches_weights(void **state)
{
    char d[12];
    (void)state;
    /* many made-up 11-digit strings: the two ways of writing the formula agree */
    for (unsigned long long x = 0; x < 100000000000ULL; x += 9876543211ULL / 7 + 13) {
        snprintf(d, sizeof d, "%011llu", x);
        assert_int_equal(rk_mynumber_check_digit(d), check_digit_by_weights(d));
    }
}

static void test_valid_numbers_normalize(void **state)
{
    char out[RK_PERSON_MAX + 1], why[256];
    (void)state;
    assert_true(normalize(RK_NUMBER_MYNUMBER, "123456789018", out, why, sizeof why));
    assert_string_equal(out, "123456789018");
    assert_true(normalize(RK_NUMBER_MYNUMBER, "000000000000", out, why, sizeof why));
    assert_string_equal(out, "000000000000");
    assert_true(normalize(RK_NUMBER_MYNUMBER, "111111111118", out, why, sizeof why));
    assert_string_equal(out, "111111111118");
    /* separators: ASCII spaces and hyphens */
    assert_true(normalize(RK_NUMBER_MYNUMBER, "1234 5678 9018", out, why, sizeof why));
    assert_string_equal(out, "123456789018");
    assert_true(normalize(RK_NUMBER_MYNUMBER, "1234-5678-9018", out, why, sizeof why));
    assert_string_equal(out, "123456789018");
    assert_true(normalize(RK_NUMBER_MYNUMBER, " 1234 - 5678 - 9018 ", out, why, sizeof why));
    assert_string_equal(out, "123456789018");
    /* full-width digits, full-width hyphen, ideographic space, prolonged sound mark */
    assert_true(normalize(RK_NUMBER_MYNUMBER, "１２３４５６７８９０１８", out, why, sizeof why));
    assert_string_equal(out, "123456789018");
    assert_true(normalize(RK_NUMBER_MYNUMBER, "１２３４－５６７８－９０１８", out, why, sizeof why));
    assert_string_equal(out, "123456789018");
    assert_true(normalize(RK_NUMBER_MYNUMBER, "１２３４　５６７８　９０１８", out, why, sizeof why));
    assert_string_equal(out, "123456789018");
    assert_true(normalize(RK_NUMBER_MYNUMBER, "1234ー5678ー9018", out, why, sizeof why));
    assert_string_equal(out, "123456789018");
    /* mixed widths */
    assert_true(normalize(RK_NUMBER_MYNUMBER, "1234－５６７８ 9018", out, why, sizeof why));
    assert_string_equal(out, "123456789018");
}

/* Every change of one digit to another is caught by the check digit when
 * the weighted sum of the 11 digits leaves a remainder of 2 or more (true
 * of these numbers: 3, 3 and 8).  A single change always moves the
 * remainder (the weights are 2..7, 11 is prime); only a move between 0 and
 * 1, both of which give check digit 0, goes unseen: see the next test. */
static void test_each_single_digit_change_detected(void **state)
{
    const char *const valid[] = {"123456789018", "111111111118", "987654321093"};
    char out[RK_PERSON_MAX + 1], why[256], n[13];
    (void)state;

    for (size_t v = 0; v < sizeof valid / sizeof valid[0]; v++) {
        snprintf(n, sizeof n, "%s", valid[v]);
        assert_true(normalize(RK_NUMBER_MYNUMBER, n, out, why, sizeof why));
        for (int pos = 0; pos < 12; pos++) {
            char orig = n[pos];
            for (int d = 0; d <= 9; d++) {
                char c = (char)('0' + d);
                if (c == orig)
                    continue;
                n[pos] = c;
                assert_false(normalize(RK_NUMBER_MYNUMBER, n, out, why, sizeof why));
                assert_string_equal(out, "");
                assert_non_null(strstr(why, "the check digit does not match"));
            }
            n[pos] = orig;
        }
    }
}

/* The formula's one blind spot, as published: remainders 0 and 1 both give
 * check digit 0, so 000000000000 (sum 0) and 200000000000 (sum 12,
 * remainder 1) are both valid; the rule cannot tell them apart. */
static void test_check_digit_blind_spot(void **state)
{
    char out[RK_PERSON_MAX + 1], why[256];
    (void)state;
    assert_true(normalize(RK_NUMBER_MYNUMBER, "000000000000", out, why, sizeof why));
    assert_true(normalize(RK_NUMBER_MYNUMBER, "200000000000", out, why, sizeof why));
    assert_string_equal(out, "200000000000");
}

static void test_wrong_length_and_characters_refused(void **state)
{
    char out[RK_PERSON_MAX + 1], why[256];
    (void)state;
    assert_false(normalize(RK_NUMBER_MYNUMBER, "12345678901", out, why, sizeof why));
    assert_string_equal(why, "a My Number has 12 digits; this has 11");
    assert_false(normalize(RK_NUMBER_MYNUMBER, "1234567890180", out, why, sizeof why));
    assert_string_equal(why, "a My Number has 12 digits; this has 13");
    assert_false(normalize(RK_NUMBER_MYNUMBER, "１２３４５６７８９０１", out, why, sizeof why));
    assert_string_equal(why, "a My Number has 12 digits; this has 11");
    assert_false(normalize(RK_NUMBER_MYNUMBER, "- -", out, why, sizeof why));
    assert_string_equal(why, "a My Number has 12 digits; this has none");
    assert_false(normalize(RK_NUMBER_MYNUMBER, "TEST-0001", out, why, sizeof why));
    assert_non_null(strstr(why, "another character"));
    assert_false(normalize(RK_NUMBER_MYNUMBER, "1234.5678.9018", out, why, sizeof why));
    assert_non_null(strstr(why, "another character"));
    assert_false(normalize(RK_NUMBER_MYNUMBER, "123456789018\t", out, why, sizeof why));
    assert_false(normalize(RK_NUMBER_MYNUMBER, "12345678901\xEF\xBC", out, why, sizeof why)); /* cut short */
    assert_false(normalize(RK_NUMBER_MYNUMBER, "１２３４５６７８９０１９", out, why, sizeof why));
    assert_non_null(strstr(why, "the check digit does not match"));
    /* the message never carries the digits given */
    assert_null(strstr(why, "1234"));
    assert_null(strstr(why, "１"));
}

static void test_rule_any_as_before(void **state)
{
    char out[RK_PERSON_MAX + 1], why[256], long_person[RK_PERSON_MAX + 2];
    rk_number_rule rule = RK_NUMBER_MYNUMBER;
    (void)state;
    assert_true(rk_number_rule_parse("any", &rule));
    assert_int_equal(rule, RK_NUMBER_ANY);
    assert_true(rk_number_rule_parse("mynumber", &rule));
    assert_int_equal(rule, RK_NUMBER_MYNUMBER);
    assert_false(rk_number_rule_parse("MyNumber", &rule));
    assert_false(rk_number_rule_parse(NULL, &rule));
    assert_string_equal(rk_number_rule_name(RK_NUMBER_ANY), "any");
    assert_string_equal(rk_number_rule_name(RK_NUMBER_MYNUMBER), "mynumber");

    assert_true(normalize(RK_NUMBER_ANY, "TEST-0001", out, why, sizeof why));
    assert_string_equal(out, "TEST-0001");
    /* taken as it is: separators are kept, nothing is checked */
    assert_true(normalize(RK_NUMBER_ANY, "1234-5678-9019", out, why, sizeof why));
    assert_string_equal(out, "1234-5678-9019");
    assert_false(normalize(RK_NUMBER_ANY, "TEST 0001", out, why, sizeof why));
    assert_false(normalize(RK_NUMBER_ANY, "", out, why, sizeof why));
    assert_false(normalize(RK_NUMBER_ANY, "１２３", out, why, sizeof why));
    memset(long_person, 'X', sizeof long_person - 1);
    long_person[sizeof long_person - 1] = '\0';
    assert_false(normalize(RK_NUMBER_ANY, long_person, out, why, sizeof why));
    long_person[RK_PERSON_MAX] = '\0';
    assert_true(normalize(RK_NUMBER_ANY, long_person, out, why, sizeof why));
}

/* ------------------------------------------------------------ unbind, rebind */

static const uint8_t CODE_A[RK_CODE_LEN] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
                                            0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xa0};
static const uint8_t CODE_B[RK_CODE_LEN] = {0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8,
                                            0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xb0};

typedef struct fixture {
    char dir[64];
    char data[96];
    rk_codebook_t *cb;
} fixture;

static int setup_book(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char why[256] = "";
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/renkei-agent-number-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    if (rk_codebook_open(f->data, 0, &f->cb, why, sizeof why) != RK_AGENT_OK) {
        fprintf(stderr, "open: %s\n", why);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown_book(void **state)
{
    fixture *f = *state;
    char cmd[160];
    rk_codebook_close(&f->cb);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static void test_unbind_removes_both_directions(void **state)
{
    fixture *f = *state;
    uint8_t code[RK_CODE_LEN];
    char *person = NULL;
    char why[256] = "";

    assert_int_equal(rk_codebook_bind(f->cb, "123456789018", CODE_A, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_codebook_bind(f->cb, "000000000000", CODE_B, NULL, 0), RK_AGENT_OK);
    memset(code, 0, sizeof code);
    assert_int_equal(rk_codebook_unbind(f->cb, "123456789018", code, why, sizeof why), RK_AGENT_OK);
    assert_memory_equal(code, CODE_A, RK_CODE_LEN);
    assert_int_equal(rk_codebook_code(f->cb, "123456789018", code, NULL, 0), RK_AGENT_ENOTFOUND);
    assert_int_equal(rk_codebook_person(f->cb, CODE_A, &person, NULL, 0), RK_AGENT_ENOTFOUND);
    /* the other person is untouched */
    assert_int_equal(rk_codebook_code(f->cb, "000000000000", code, NULL, 0), RK_AGENT_OK);
    assert_memory_equal(code, CODE_B, RK_CODE_LEN);
    /* again: nothing to withdraw */
    assert_int_equal(rk_codebook_unbind(f->cb, "123456789018", NULL, why, sizeof why), RK_AGENT_ENOTFOUND);
    assert_null(strstr(why, "123456789018"));
    /* binding the removed code again undoes it */
    assert_int_equal(rk_codebook_bind(f->cb, "123456789018", CODE_A, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_codebook_person(f->cb, CODE_A, &person, NULL, 0), RK_AGENT_OK);
    assert_string_equal(person, "123456789018");
    rk_codebook_free_person(&person);
}

static void test_rebind_moves_code(void **state)
{
    fixture *f = *state;
    uint8_t code[RK_CODE_LEN];
    char *person = NULL;
    char why[256] = "";

    assert_int_equal(rk_codebook_bind(f->cb, "123456789018", CODE_A, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_codebook_rebind(f->cb, "123456789018", "000000000000", why, sizeof why), RK_AGENT_OK);
    assert_int_equal(rk_codebook_code(f->cb, "123456789018", code, NULL, 0), RK_AGENT_ENOTFOUND);
    assert_int_equal(rk_codebook_code(f->cb, "000000000000", code, NULL, 0), RK_AGENT_OK);
    assert_memory_equal(code, CODE_A, RK_CODE_LEN);
    assert_int_equal(rk_codebook_person(f->cb, CODE_A, &person, NULL, 0), RK_AGENT_OK);
    assert_string_equal(person, "000000000000");
    rk_codebook_free_person(&person);
}

static void test_rebind_refusals_change_nothing(void **state)
{
    fixture *f = *state;
    uint8_t code[RK_CODE_LEN];
    char *person = NULL;
    char why[256] = "";

    assert_int_equal(rk_codebook_bind(f->cb, "123456789018", CODE_A, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_codebook_bind(f->cb, "000000000000", CODE_B, NULL, 0), RK_AGENT_OK);
    /* the new number is bound already */
    assert_int_equal(rk_codebook_rebind(f->cb, "123456789018", "000000000000", why, sizeof why),
                     RK_AGENT_ECONFLICT);
    assert_non_null(strstr(why, "nothing was changed"));
    assert_null(strstr(why, "000000000000"));
    /* the old number has nothing */
    assert_int_equal(rk_codebook_rebind(f->cb, "111111111118", "987654321093", why, sizeof why),
                     RK_AGENT_ENOTFOUND);
    /* the same number twice */
    assert_int_equal(rk_codebook_rebind(f->cb, "123456789018", "123456789018", why, sizeof why),
                     RK_AGENT_EINVAL);
    /* both bindings as they were */
    assert_int_equal(rk_codebook_code(f->cb, "123456789018", code, NULL, 0), RK_AGENT_OK);
    assert_memory_equal(code, CODE_A, RK_CODE_LEN);
    assert_int_equal(rk_codebook_code(f->cb, "000000000000", code, NULL, 0), RK_AGENT_OK);
    assert_memory_equal(code, CODE_B, RK_CODE_LEN);
    assert_int_equal(rk_codebook_person(f->cb, CODE_B, &person, NULL, 0), RK_AGENT_OK);
    assert_string_equal(person, "000000000000");
    rk_codebook_free_person(&person);
    assert_int_equal(rk_codebook_code(f->cb, "111111111118", code, NULL, 0), RK_AGENT_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_digit_known_values),
        cmocka_unit_test(test_check_digit_matches_weights),
        cmocka_unit_test(test_valid_numbers_normalize),
        cmocka_unit_test(test_each_single_digit_change_detected),
        cmocka_unit_test(test_check_digit_blind_spot),
        cmocka_unit_test(test_wrong_length_and_characters_refused),
        cmocka_unit_test(test_rule_any_as_before),
        cmocka_unit_test_setup_teardown(test_unbind_removes_both_directions, setup_book, teardown_book),
        cmocka_unit_test_setup_teardown(test_rebind_moves_code, setup_book, teardown_book),
        cmocka_unit_test_setup_teardown(test_rebind_refusals_change_nothing, setup_book, teardown_book),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
