/*
 * test_verify.c - the hub's signature verify pool: real Ed25519 keys, real
 * sealed envelopes, pools of 0, 1 and 3 workers, batches one after another.
 * Every job starts with the wrong answer in `ok`, so a verdict the pool did
 * not write (or wrote for another batch's job) shows up as a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "verify.h"
#include "wire.h"

/* How an envelope of the fixture was made, and so what its check must say. */
typedef enum kind {
    GOOD,         /* signed by A, checked under A's key */
    OTHER_KEY,    /* signed by B, checked under A's key */
    TAMPERED,     /* signed by A, one byte of the signed core changed after */
    BAD_SIG,      /* signed by A, one bit of the signature flipped */
    GOOD_UNDER_B, /* signed by B, checked under B's key */
    N_KINDS
} kind_t;

#define N_ENV 24 /* envelopes of the fixture: kind i % N_KINDS */

typedef struct fixture {
    uint8_t a_pk[RK_KEY_LEN], a_sk[64];
    uint8_t b_pk[RK_KEY_LEN], b_sk[64];
    rk_envelope_t env[N_ENV];
    kind_t kind[N_ENV];
} fixture_t;

static bool kind_ok(kind_t k)
{
    return k == GOOD || k == GOOD_UNDER_B;
}

static void seal(rk_envelope_t *env, const uint8_t sk[64], unsigned n)
{
    rk_core_t core;
    uint8_t who[RK_CODE_LEN];
    memset(&core, 0, sizeof core);
    snprintf(core.from, sizeof core.from, "city.x");
    snprintf(core.to, sizeof core.to, "power");
    snprintf(core.type, sizeof core.type, "utility.supply.stop");
    randombytes_buf(core.msg_id, RK_MSGID_LEN);
    core.time_ms = 1700000000000ull + n;
    core.what_len = 32 + n;
    core.what = calloc(1, core.what_len);
    assert_non_null(core.what);
    randombytes_buf(who, sizeof who);
    assert_int_equal(rk_envelope_seal(env, &core, who, sk), RK_WIRE_OK);
    rk_core_clear(&core);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_true(sodium_init() >= 0);
    assert_int_equal(crypto_sign_keypair(f->a_pk, f->a_sk), 0);
    assert_int_equal(crypto_sign_keypair(f->b_pk, f->b_sk), 0);
    for (unsigned i = 0; i < N_ENV; i++) {
        kind_t k = (kind_t)(i % N_KINDS);
        f->kind[i] = k;
        seal(&f->env[i], k == OTHER_KEY || k == GOOD_UNDER_B ? f->b_sk : f->a_sk, i);
        if (k == TAMPERED)
            f->env[i].core[f->env[i].core_len - 1] ^= 0x01; /* inside the payload */
        if (k == BAD_SIG)
            f->env[i].signature[7] ^= 0x10;
    }
    /* The fixture is what it claims to be, by the library's own check. */
    for (unsigned i = 0; i < N_ENV; i++)
        assert_true((rk_envelope_verify(&f->env[i], f->kind[i] == GOOD_UNDER_B ? f->b_pk : f->a_pk) == RK_WIRE_OK) ==
                    kind_ok(f->kind[i]));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    for (unsigned i = 0; i < N_ENV; i++)
        rk_envelope_clear(&f->env[i]);
    sodium_memzero(f, sizeof *f);
    free(f);
    return 0;
}

/* Job for envelope i, with the key its kind is checked under and the wrong
 * verdict already in `ok`. */
static void job_for(const fixture_t *f, verify_job_t *j, size_t i)
{
    memset(j, 0, sizeof *j);
    j->env = &f->env[i];
    memcpy(j->pk, f->kind[i] == GOOD_UNDER_B ? f->b_pk : f->a_pk, RK_KEY_LEN);
    j->ok = !kind_ok(f->kind[i]);
}

/* Job for envelope i checked under A's key but with `ok` preset to want's
 * opposite; used to build batches that are all good or all bad. */
static void job_preset(const fixture_t *f, verify_job_t *j, size_t i, bool want)
{
    memset(j, 0, sizeof *j);
    j->env = &f->env[i];
    memcpy(j->pk, f->a_pk, RK_KEY_LEN);
    j->ok = !want;
}

/* Indexes of the fixture's envelopes that verify under A (want) or not. */
static size_t pick(const fixture_t *f, bool want, size_t *idx, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < N_ENV && n < max; i++)
        if ((f->kind[i] == GOOD) == want && f->kind[i] != GOOD_UNDER_B)
            idx[n++] = i;
    return n;
}

static void check_mixed_batch(fixture_t *f, size_t threads)
{
    verify_job_t jobs[N_ENV];
    verify_pool_t *p = verify_pool_new(threads);
    assert_non_null(p);
    assert_int_equal(verify_pool_threads(p), threads);
    for (size_t i = 0; i < N_ENV; i++)
        job_for(f, &jobs[i], i);
    verify_pool_start(p, jobs, N_ENV);
    verify_pool_wait(p);
    for (size_t i = 0; i < N_ENV; i++) {
        if (jobs[i].ok != kind_ok(f->kind[i]))
            fail_msg("%zu thread(s): job %zu (kind %d) got ok=%d", threads, i, (int)f->kind[i], (int)jobs[i].ok);
        assert_ptr_equal(jobs[i].env, &f->env[i]); /* the pool writes only ok */
    }
    verify_pool_destroy(&p);
    assert_null(p);
}

static void test_mixed_batch_no_threads(void **state)
{
    check_mixed_batch(*state, 0);
}

static void test_mixed_batch_one_thread(void **state)
{
    check_mixed_batch(*state, 1);
}

static void test_mixed_batch_three_threads(void **state)
{
    check_mixed_batch(*state, 3);
}

/* A pool without workers checks nothing until the caller waits. */
static void test_no_threads_checks_in_wait(void **state)
{
    fixture_t *f = *state;
    verify_job_t jobs[N_ENV];
    verify_pool_t *p = verify_pool_new(0);
    assert_non_null(p);
    for (size_t i = 0; i < N_ENV; i++)
        job_for(f, &jobs[i], i);
    verify_pool_start(p, jobs, N_ENV);
    for (size_t i = 0; i < N_ENV; i++)
        assert_true(jobs[i].ok == !kind_ok(f->kind[i]));
    verify_pool_wait(p);
    for (size_t i = 0; i < N_ENV; i++)
        assert_true(jobs[i].ok == kind_ok(f->kind[i]));
    verify_pool_destroy(&p);
}

/* Runs jobs[0..n) as one batch and checks each verdict against want[]. */
static void run_batch(verify_pool_t *p, verify_job_t *jobs, const bool *want, size_t n, const char *what)
{
    verify_pool_start(p, jobs, n);
    verify_pool_wait(p);
    for (size_t i = 0; i < n; i++)
        if (jobs[i].ok != want[i])
            fail_msg("%zu thread(s), %s: job %zu of %zu got ok=%d", verify_pool_threads(p), what, i, n,
                     (int)jobs[i].ok);
}

/* Batches one after another on one pool: all good (7), all bad (3), empty,
 * one good, one bad, then the whole mixed fixture.  Each batch lives in its
 * own array, and the earlier arrays are checked again after the later
 * batches: a late worker writing into an old batch would show there. */
static void check_batches_in_a_row(fixture_t *f, size_t threads)
{
    size_t good[N_ENV], bad[N_ENV], ng, nb;
    verify_job_t b1[7], b2[3], b4[1], b5[1], b6[N_ENV];
    bool w1[7], w2[3], w4[1], w5[1], w6[N_ENV];
    verify_pool_t *p = verify_pool_new(threads);
    assert_non_null(p);

    ng = pick(f, true, good, N_ENV);
    nb = pick(f, false, bad, N_ENV);
    assert_true(ng >= 1 && nb >= 3);

    for (size_t i = 0; i < 7; i++) { /* the good ones, some more than once */
        job_preset(f, &b1[i], good[i % ng], true);
        w1[i] = true;
    }
    run_batch(p, b1, w1, 7, "batch 1 (all good)");

    for (size_t i = 0; i < 3; i++) {
        job_preset(f, &b2[i], bad[i], false);
        w2[i] = false;
    }
    run_batch(p, b2, w2, 3, "batch 2 (all bad)");

    run_batch(p, NULL, NULL, 0, "batch 3 (empty)");

    job_preset(f, &b4[0], good[0], true);
    w4[0] = true;
    run_batch(p, b4, w4, 1, "batch 4 (one good)");

    job_preset(f, &b5[0], bad[0], false);
    w5[0] = false;
    run_batch(p, b5, w5, 1, "batch 5 (one bad)");

    for (size_t i = 0; i < N_ENV; i++) {
        job_for(f, &b6[i], i);
        w6[i] = kind_ok(f->kind[i]);
    }
    run_batch(p, b6, w6, N_ENV, "batch 6 (mixed)");

    /* The earlier batches' verdicts are still theirs. */
    for (size_t i = 0; i < 7; i++)
        assert_true(b1[i].ok);
    for (size_t i = 0; i < 3; i++)
        assert_false(b2[i].ok);
    assert_true(b4[0].ok);
    assert_false(b5[0].ok);
    verify_pool_destroy(&p);
}

static void test_batches_in_a_row_no_threads(void **state)
{
    check_batches_in_a_row(*state, 0);
}

static void test_batches_in_a_row_one_thread(void **state)
{
    check_batches_in_a_row(*state, 1);
}

static void test_batches_in_a_row_three_threads(void **state)
{
    check_batches_in_a_row(*state, 3);
}

/* Many small batches, alternating all-good and all-bad, some empty, the way
 * the hub's loop hands them over: workers that wake late for one batch must
 * not take (or answer) a job of the next. */
static void test_many_small_batches(void **state)
{
    fixture_t *f = *state;
    size_t good[N_ENV], bad[N_ENV], ng, nb;
    verify_job_t jobs[2][8];
    bool want[2][8];
    verify_pool_t *p = verify_pool_new(3);
    assert_non_null(p);
    ng = pick(f, true, good, N_ENV);
    nb = pick(f, false, bad, N_ENV);
    for (size_t round = 0; round < 300; round++) {
        size_t side = round % 2, n = round % 9; /* 0..8 jobs */
        bool ok = side == 0;
        for (size_t i = 0; i < n; i++) {
            job_preset(f, &jobs[side][i], ok ? good[(round + i) % ng] : bad[(round + i) % nb], ok);
            want[side][i] = ok;
        }
        run_batch(p, jobs[side], want[side], n, side == 0 ? "an all-good batch" : "an all-bad batch");
    }
    verify_pool_destroy(&p);
}

/* The same envelope in one batch under two keys: each job is checked under
 * its own key. */
static void test_verdict_follows_the_jobs_key(void **state)
{
    fixture_t *f = *state;
    verify_job_t jobs[2];
    verify_pool_t *p = verify_pool_new(3);
    assert_non_null(p);
    memset(jobs, 0, sizeof jobs);
    jobs[0].env = jobs[1].env = &f->env[GOOD];
    memcpy(jobs[0].pk, f->a_pk, RK_KEY_LEN);
    memcpy(jobs[1].pk, f->b_pk, RK_KEY_LEN);
    jobs[0].ok = false;
    jobs[1].ok = true;
    verify_pool_start(p, jobs, 2);
    verify_pool_wait(p);
    assert_true(jobs[0].ok);
    assert_false(jobs[1].ok);
    verify_pool_destroy(&p);
}

static void test_destroy_never_started(void **state)
{
    (void)state;
    for (size_t threads = 0; threads <= 3; threads++) {
        verify_pool_t *p = verify_pool_new(threads);
        assert_non_null(p);
        assert_int_equal(verify_pool_threads(p), threads);
        verify_pool_destroy(&p);
        assert_null(p);
    }
}

/* A sender in the overlap of a rekey: a signature under its previous key
 * (alt_pk) is found when the current key (pk) does not verify it, and the
 * previous key is not tried when the current one does. */
static void test_previous_key(void **state)
{
    fixture_t *f = *state;
    verify_job_t j[2];
    verify_pool_t *p = verify_pool_new(1);
    assert_non_null(p);
    job_for(f, &j[0], GOOD); /* signed under A */
    memcpy(j[0].pk, f->b_pk, RK_KEY_LEN);
    memcpy(j[0].alt_pk, f->a_pk, RK_KEY_LEN);
    j[0].has_alt = true;
    j[0].ok = j[0].alt_ok = false;
    job_for(f, &j[1], GOOD);
    memcpy(j[1].alt_pk, f->b_pk, RK_KEY_LEN);
    j[1].has_alt = true;
    j[1].ok = false;
    j[1].alt_ok = true; /* the wrong answer, to be overwritten */
    verify_pool_start(p, j, 2);
    verify_pool_wait(p);
    assert_false(j[0].ok);
    assert_true(j[0].alt_ok);
    assert_true(j[1].ok);
    assert_false(j[1].alt_ok);
    verify_pool_destroy(&p);
}

/* A wait with no batch started returns at once, and so does a second wait. */
static void test_wait_without_batch(void **state)
{
    fixture_t *f = *state;
    verify_job_t j;
    verify_pool_t *p = verify_pool_new(2);
    assert_non_null(p);
    verify_pool_wait(p);
    job_for(f, &j, GOOD);
    verify_pool_start(p, &j, 1);
    verify_pool_wait(p);
    verify_pool_wait(p);
    assert_true(j.ok);
    verify_pool_destroy(&p);
}

/* Shutting down with a batch started and not waited for returns (the jobs
 * are still in place): the hub can stop mid-batch without hanging, and no
 * worker outlives the pool (ASan would see it touch freed memory). */
static void test_destroy_with_batch_started(void **state)
{
    fixture_t *f = *state;
    verify_job_t jobs[N_ENV];
    for (size_t threads = 0; threads <= 3; threads += 3) {
        verify_pool_t *p = verify_pool_new(threads);
        assert_non_null(p);
        for (size_t i = 0; i < N_ENV; i++)
            job_for(f, &jobs[i], i);
        verify_pool_start(p, jobs, N_ENV);
        verify_pool_destroy(&p);
        assert_null(p);
    }
}

static void test_destroy_null(void **state)
{
    verify_pool_t *p = NULL;
    (void)state;
    verify_pool_destroy(NULL);
    verify_pool_destroy(&p);
    assert_null(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mixed_batch_no_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mixed_batch_one_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mixed_batch_three_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_threads_checks_in_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_in_a_row_no_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_in_a_row_one_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_in_a_row_three_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_small_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verdict_follows_the_jobs_key, setup, teardown),
        cmocka_unit_test(test_destroy_never_started),
        cmocka_unit_test_setup_teardown(test_previous_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_without_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_batch_started, setup, teardown),
        cmocka_unit_test(test_destroy_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
