/*
 * test_agent_store.c - the agent's own PERSON <-> link code table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "codebook.h"
#include "renkei/agent.h"

typedef struct fixture {
    char dir[64];
    char data[96];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/renkei-agent-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static const uint8_t CODE_A[RK_CODE_LEN] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
                                            0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xa0};
static const uint8_t CODE_B[RK_CODE_LEN] = {0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8,
                                            0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xb0};

static rk_codebook_t *open_book(const fixture *f)
{
    rk_codebook_t *cb = NULL;
    char why[256] = "";
    rk_agent_err err = rk_codebook_open(f->data, 0, &cb, why, sizeof why);
    if (err != RK_AGENT_OK)
        fail_msg("opening the table failed: %s", why);
    return cb;
}

/* The data directory is created private to the organization. */
static void test_dir_created_private(void **state)
{
    fixture *f = *state;
    struct stat st;
    rk_codebook_t *cb = open_book(f);
    assert_int_equal(stat(f->data, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    rk_codebook_close(&cb);
    assert_null(cb);
    rk_codebook_close(&cb); /* accepts NULL */
}

/* A bound pair is found both ways. */
static void test_bind_then_lookup_both_ways(void **state)
{
    fixture *f = *state;
    uint8_t code[RK_CODE_LEN];
    char *person = NULL;
    rk_codebook_t *cb = open_book(f);

    assert_int_equal(rk_codebook_code(cb, "TEST-0001", code, NULL, 0), RK_AGENT_ENOTFOUND);
    assert_int_equal(rk_codebook_bind(cb, "TEST-0001", CODE_A, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_codebook_code(cb, "TEST-0001", code, NULL, 0), RK_AGENT_OK);
    assert_memory_equal(code, CODE_A, RK_CODE_LEN);
    assert_int_equal(rk_codebook_person(cb, CODE_A, &person, NULL, 0), RK_AGENT_OK);
    assert_string_equal(person, "TEST-0001");
    rk_codebook_free_person(&person);
    assert_null(person);
    assert_int_equal(rk_codebook_person(cb, CODE_B, &person, NULL, 0), RK_AGENT_ENOTFOUND);
    assert_null(person);
    rk_codebook_close(&cb);
}

/* Binding the same pair twice is harmless. */
static void test_rebind_same_pair_ok(void **state)
{
    fixture *f = *state;
    rk_codebook_t *cb = open_book(f);
    assert_int_equal(rk_codebook_bind(cb, "TEST-0001", CODE_A, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_codebook_bind(cb, "TEST-0001", CODE_A, NULL, 0), RK_AGENT_OK);
    rk_codebook_close(&cb);
}

/* A person already bound to another code, or a code already bound to another
 * person, is refused and nothing changes; the message names neither. */
static void test_conflicts_refused_and_nothing_written(void **state)
{
    fixture *f = *state;
    uint8_t code[RK_CODE_LEN];
    char *person = NULL;
    char why[256] = "";
    rk_codebook_t *cb = open_book(f);

    assert_int_equal(rk_codebook_bind(cb, "TEST-0001", CODE_A, NULL, 0), RK_AGENT_OK);

    assert_int_equal(rk_codebook_bind(cb, "TEST-0001", CODE_B, why, sizeof why), RK_AGENT_ECONFLICT);
    assert_non_null(strstr(why, "person is already bound"));
    assert_null(strstr(why, "TEST-0001"));
    assert_int_equal(rk_codebook_person(cb, CODE_B, &person, NULL, 0), RK_AGENT_ENOTFOUND);

    why[0] = '\0';
    assert_int_equal(rk_codebook_bind(cb, "TEST-0002", CODE_A, why, sizeof why), RK_AGENT_ECONFLICT);
    assert_non_null(strstr(why, "code is already bound"));
    assert_null(strstr(why, "TEST-0002"));
    assert_int_equal(rk_codebook_code(cb, "TEST-0002", code, NULL, 0), RK_AGENT_ENOTFOUND);

    assert_int_equal(rk_codebook_code(cb, "TEST-0001", code, NULL, 0), RK_AGENT_OK);
    assert_memory_equal(code, CODE_A, RK_CODE_LEN);
    rk_codebook_close(&cb);
}

/* What was recorded is still there after closing and opening again. */
static void test_persists_across_reopen(void **state)
{
    fixture *f = *state;
    uint8_t code[RK_CODE_LEN];
    char *person = NULL;
    rk_codebook_t *cb = open_book(f);
    assert_int_equal(rk_codebook_bind(cb, "TEST-0001", CODE_A, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_codebook_bind(cb, "TEST-0002", CODE_B, NULL, 0), RK_AGENT_OK);
    rk_codebook_close(&cb);

    cb = open_book(f);
    assert_int_equal(rk_codebook_code(cb, "TEST-0002", code, NULL, 0), RK_AGENT_OK);
    assert_memory_equal(code, CODE_B, RK_CODE_LEN);
    assert_int_equal(rk_codebook_person(cb, CODE_A, &person, NULL, 0), RK_AGENT_OK);
    assert_string_equal(person, "TEST-0001");
    rk_codebook_free_person(&person);
    rk_codebook_close(&cb);
}

/* Person numbers are 1..64 printable ASCII characters. */
static void test_person_validation(void **state)
{
    fixture *f = *state;
    char long_person[RK_PERSON_MAX + 2];
    uint8_t code[RK_CODE_LEN];
    rk_codebook_t *cb = open_book(f);

    memset(long_person, 'X', sizeof long_person - 1);
    long_person[sizeof long_person - 1] = '\0';
    assert_false(rk_person_valid(""));
    assert_false(rk_person_valid(long_person));
    assert_false(rk_person_valid("TEST\n0001"));
    assert_false(rk_person_valid(NULL));
    long_person[RK_PERSON_MAX] = '\0';
    assert_true(rk_person_valid(long_person));
    assert_true(rk_person_valid("TEST-0001"));

    assert_int_equal(rk_codebook_bind(cb, "", CODE_A, NULL, 0), RK_AGENT_EINVAL);
    assert_int_equal(rk_codebook_bind(cb, "TEST\t0001", CODE_A, NULL, 0), RK_AGENT_EINVAL);
    assert_int_equal(rk_codebook_code(cb, "", code, NULL, 0), RK_AGENT_EINVAL);
    assert_int_equal(rk_codebook_bind(cb, long_person, CODE_A, NULL, 0), RK_AGENT_OK);
    rk_codebook_close(&cb);
}

/* --data pointing at a file gets a message saying so. */
static void test_data_path_is_a_file(void **state)
{
    fixture *f = *state;
    rk_codebook_t *cb = NULL;
    char why[256] = "";
    FILE *fp = fopen(f->data, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(rk_codebook_open(f->data, 0, &cb, why, sizeof why), RK_AGENT_ESTORE);
    assert_null(cb);
    assert_non_null(strstr(why, "not a directory"));
}

/* The agent-level calls work offline, without keys or a hub. */
static void test_agent_offline_bind_lookup(void **state)
{
    fixture *f = *state;
    rk_agent_config cfg;
    rk_agent_t *a = NULL;
    uint8_t code[RK_CODE_LEN];
    bool existed = false;
    char why[256] = "";

    rk_agent_config_init(&cfg);
    cfg.data_dir = f->data;
    cfg.offline = true;
    assert_int_equal(rk_agent_open(&cfg, &a, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(rk_agent_bind(a, "TEST-0001", CODE_A, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_agent_lookup(a, "TEST-0001", code, NULL, 0), RK_AGENT_OK);
    assert_memory_equal(code, CODE_A, RK_CODE_LEN);
    /* Already enrolled: the existing code, no hub needed. */
    memset(code, 0, sizeof code);
    assert_int_equal(rk_agent_enroll(a, "TEST-0001", code, &existed, NULL, why, sizeof why), RK_AGENT_OK);
    assert_true(existed);
    assert_memory_equal(code, CODE_A, RK_CODE_LEN);
    /* Not enrolled and offline: a clear error, not a hang. */
    assert_int_equal(rk_agent_enroll(a, "TEST-0002", code, &existed, NULL, why, sizeof why),
                     RK_AGENT_EOFFLINE);
    assert_non_null(strstr(why, "needs a connection"));
    rk_agent_close(&a);
    assert_null(a);

    cfg.data_dir = NULL;
    assert_int_equal(rk_agent_open(&cfg, &a, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(rk_agent_lookup(a, "TEST-0001", code, why, sizeof why), RK_AGENT_ENOSTORE);
    assert_non_null(strstr(why, "--data"));
    rk_agent_close(&a);
}

/* rk_agent_config_init is required: a config it did not fill is refused
 * with a sentence saying so, and so is one larger than the library knows
 * (a program built against a newer header); its defaults open an agent. */
static void test_agent_config_init_required(void **state)
{
    fixture *f = *state;
    rk_agent_config cfg;
    rk_agent_t *a = NULL;
    char why[256] = "";

    memset(&cfg, 0, sizeof cfg);
    cfg.data_dir = f->data;
    cfg.offline = true;
    assert_int_equal(rk_agent_open(&cfg, &a, why, sizeof why), RK_AGENT_EINVAL);
    assert_null(a);
    assert_non_null(strstr(why, "rk_agent_config_init"));

    rk_agent_config_init(&cfg);
    assert_int_equal(cfg.struct_size, sizeof cfg);
    assert_null(cfg.endpoint);
    assert_int_equal(cfg.timeout_ms, 0);
    assert_false(cfg.offline);
    cfg.data_dir = f->data;
    cfg.offline = true;
    cfg.struct_size = sizeof cfg + 8;
    assert_int_equal(rk_agent_open(&cfg, &a, why, sizeof why), RK_AGENT_EINVAL);
    assert_null(a);
    assert_non_null(strstr(why, "rebuild"));

    cfg.struct_size = sizeof cfg;
    assert_int_equal(rk_agent_open(&cfg, &a, why, sizeof why), RK_AGENT_OK);
    rk_agent_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dir_created_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_config_init_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_then_lookup_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebind_same_pair_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflicts_refused_and_nothing_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persists_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_path_is_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_offline_bind_lookup, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
