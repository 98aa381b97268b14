/*
 * test_hubkey.c - the hub's key-rotation statement on the routing log
 * (hub/hubkey.h), over a real store: announced once per next key, checked
 * before the hub takes over with the new key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "hubkey.h"
#include "note.h"

typedef struct fixture {
    char dir[64];
    store_t *store;
    rk_identity_t *old, *next, *other;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    uint8_t master[32];
    assert_non_null(f);
    assert_true(sodium_init() >= 0);
    snprintf(f->dir, sizeof f->dir, "/tmp/renkei-hubkey-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    randombytes_buf(master, sizeof master);
    assert_int_equal(store_open(f->dir, master, 0, &f->store, NULL, 0), STORE_OK);
    f->old = rk_identity_generate("hub");
    f->next = rk_identity_generate("hub");
    f->other = rk_identity_generate("hub");
    assert_non_null(f->old);
    assert_non_null(f->next);
    assert_non_null(f->other);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    store_close(&f->store);
    rk_identity_destroy(&f->old);
    rk_identity_destroy(&f->next);
    rk_identity_destroy(&f->other);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static uint64_t log_size(fixture_t *f)
{
    store_txn_t *txn = NULL;
    uint64_t n = 0;
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_log_size(txn, &n), STORE_OK);
    store_abort(&txn);
    return n;
}

/* Announcing writes one entry and a checkpoint by the old key that covers
 * it; announcing the same key again writes nothing; the switch is checked
 * against the newest statement. */
static void test_announce_then_switch(void **state)
{
    fixture_t *f = *state;
    rk_hub_key_stmt_t s, t;
    uint64_t at = 99, at2 = 0;
    bool made = false;
    char why[512] = "", *note = NULL;
    store_txn_t *txn = NULL;
    tlog_checkpoint_t cp;

    /* nothing announced: the hub does not take over */
    assert_false(hubkey_switch_check(f->store, f->next, &f->old->pub, &s, &at, why, sizeof why));
    assert_non_null(strstr(why, "announces no next hub key"));

    assert_true(hubkey_announce(f->store, f->old, &f->next->pub, "renkei-hub", 1700000000000ull, &s, &at,
                                &made, why, sizeof why));
    assert_true(made);
    assert_int_equal(at, 0);
    assert_int_equal(log_size(f), 1);
    assert_int_equal(rk_hub_key_stmt_verify(&s, f->old->pub.sign_pk), RK_WIRE_OK);
    assert_memory_equal(s.new_key, f->next->pub.sign_pk, RK_KEY_LEN);
    /* the checkpoint covering it is the old key's */
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_log_checkpoint_get(txn, &note), STORE_OK);
    store_abort(&txn);
    assert_int_equal(tlog_checkpoint_open(note, strlen(note), "renkei-hub", "renkei-hub", f->old->pub.sign_pk,
                                          &cp, why, sizeof why),
                     TLOG_OK);
    assert_int_equal(cp.size, 1);
    free(note);

    /* the same next key again: the statement in force, nothing new */
    assert_true(hubkey_announce(f->store, f->old, &f->next->pub, "renkei-hub", 1700000001000ull, &t, &at2,
                                &made, why, sizeof why));
    assert_false(made);
    assert_int_equal(at2, 0);
    assert_memory_equal(&t, &s, sizeof s);
    assert_int_equal(log_size(f), 1);

    /* its own key is no next key */
    assert_false(
        hubkey_announce(f->store, f->old, &f->old->pub, "renkei-hub", 1, &t, &at2, &made, why, sizeof why));
    assert_non_null(strstr(why, "--next-key is the hub's own key"));

    /* the switch: only from the announced previous key to the announced key */
    assert_true(hubkey_switch_check(f->store, f->next, &f->old->pub, &t, &at2, why, sizeof why));
    assert_memory_equal(&t, &s, sizeof s);
    assert_false(hubkey_switch_check(f->store, f->other, &f->old->pub, &t, &at2, why, sizeof why));
    assert_non_null(strstr(why, "does not hand over from --previous-key to --key"));
    assert_false(hubkey_switch_check(f->store, f->next, &f->other->pub, &t, &at2, why, sizeof why));

    /* another next key: a new statement, the newest wins */
    assert_true(hubkey_announce(f->store, f->old, &f->other->pub, "renkei-hub", 1700000002000ull, &t, &at2,
                                &made, why, sizeof why));
    assert_true(made);
    assert_int_equal(at2, 1);
    assert_false(hubkey_switch_check(f->store, f->next, &f->old->pub, &t, &at2, why, sizeof why));
    assert_true(hubkey_switch_check(f->store, f->other, &f->old->pub, &t, &at2, why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_announce_then_switch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
