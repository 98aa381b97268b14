/*
 * test_store.c - the hub's storage module against a real LMDB directory.
 */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
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
#include <sodium.h>

#include "merkle.h"
#include "store.h"

static const uint8_t MASTER_A[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t MASTER_B[32] = {32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
                                     16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

typedef struct fixture {
    char dir[256];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");

    if (f == NULL || sodium_init() < 0)
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s/rk-store-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char path[512];
    DIR *d = opendir(f->dir);
    struct dirent *e;

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(f->dir);
    free(f);
    return 0;
}

static store_t *open_ok(const fixture_t *f, const uint8_t *master, size_t map_size)
{
    char why[256] = "";
    store_t *s = NULL;
    store_err err = store_open(f->dir, master, map_size, &s, why, sizeof why);

    if (err != STORE_OK)
        print_error("store_open: %s (%s)\n", store_strerror(err), why);
    assert_int_equal(err, STORE_OK);
    assert_non_null(s);
    return s;
}

static org_t make_org(const char *id, org_kind kind, uint8_t seed)
{
    org_t o;

    memset(&o, 0, sizeof o);
    snprintf(o.id, sizeof o.id, "%s", id);
    o.kind = kind;
    o.status = ORG_ACTIVE;
    memset(o.sign_pk, seed, sizeof o.sign_pk);
    memset(o.curve_pk, (uint8_t)(seed ^ 0xa5), sizeof o.curve_pk);
    o.created_ms = 1700000000000ull + seed;
    o.updated_ms = o.created_ms;
    return o;
}

static void add_orgs(store_t *s, const org_t *orgs, size_t n)
{
    store_txn_t *t = NULL;

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(store_org_add(t, &orgs[i]), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    assert_null(t);
}

static void assert_org_equal(const org_t *a, const org_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->status, b->status);
    assert_memory_equal(a->sign_pk, b->sign_pk, RK_KEY_LEN);
    assert_memory_equal(a->curve_pk, b->curve_pk, RK_KEY_LEN);
    assert_true(a->created_ms == b->created_ms);
    assert_true(a->updated_ms == b->updated_ms);
}

/* A real key pair's public halves into org (the previous key's X25519
 * form is derived when the record is read, so it must be a real key). */
static void real_keys(uint8_t sign_pk[RK_KEY_LEN], uint8_t curve_pk[RK_KEY_LEN])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(sign_pk, sk);
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(curve_pk, sign_pk), 0);
    sodium_memzero(sk, sizeof sk);
}

/* ------------------------------------------------------------- helpers' names */

static void test_names(void **state)
{
    org_kind k = ORG_UTILITY;

    (void)state;
    assert_string_equal(org_kind_name(ORG_MUNICIPALITY), "municipality");
    assert_string_equal(org_kind_name(ORG_UTILITY), "utility");
    assert_string_equal(org_kind_name(ORG_AUDITOR), "auditor");
    assert_string_equal(org_kind_name((org_kind)9), "unknown");
    assert_true(org_kind_parse("auditor", &k));
    assert_int_equal(k, ORG_AUDITOR);
    assert_true(org_kind_parse("municipality", &k));
    assert_int_equal(k, ORG_MUNICIPALITY);
    assert_false(org_kind_parse("Utility", &k));
    assert_false(org_kind_parse("", &k));
    assert_int_equal(k, ORG_MUNICIPALITY);
    assert_string_equal(org_status_name(ORG_ACTIVE), "active");
    assert_string_equal(org_status_name(ORG_SUSPENDED), "suspended");
    assert_string_not_equal(store_strerror(STORE_EFULL), store_strerror(STORE_EMASTER));
}

/* ------------------------------------------------------------- organizations */

static int collect(const org_t *org, void *ctx)
{
    char *ids = ctx;
    strcat(ids, org->id);
    strcat(ids, ",");
    return 0;
}

static int stop_after_first(const org_t *org, void *ctx)
{
    (void)org;
    (*(int *)ctx)++;
    return 1;
}

/* rekey with an overlap: both keys find the org, the previous one is
 * admitted only until its time; a rekey without one drops it. */
static void test_org_rekey_overlap(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, NULL, 0);
    store_txn_t *t = NULL;
    org_t o = make_org("power", ORG_UTILITY, 1), got, old;
    uint8_t third_sign[RK_KEY_LEN], third_curve[RK_KEY_LEN];

    real_keys(o.sign_pk, o.curve_pk);
    add_orgs(s, &o, 1);
    old = o;
    memcpy(o.prev_sign_pk, o.sign_pk, RK_KEY_LEN);
    memcpy(o.prev_curve_pk, o.curve_pk, RK_KEY_LEN);
    o.prev_until_ms = 1700000100000ull;
    real_keys(o.sign_pk, o.curve_pk);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_org_update(t, &o), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_org_by_curve(t, old.curve_pk, &got), STORE_OK);
    assert_string_equal(got.id, "power");
    assert_memory_equal(got.prev_sign_pk, old.sign_pk, RK_KEY_LEN);
    assert_memory_equal(got.prev_curve_pk, old.curve_pk, RK_KEY_LEN);
    assert_true(got.prev_until_ms == o.prev_until_ms);
    assert_true(org_key_admitted(&got, old.curve_pk, o.prev_until_ms - 1));
    assert_false(org_key_admitted(&got, old.curve_pk, o.prev_until_ms));
    assert_true(org_key_admitted(&got, o.curve_pk, o.prev_until_ms + 1));
    assert_int_equal(store_org_by_curve(t, o.curve_pk, &got), STORE_OK);
    assert_string_equal(got.id, "power");
    store_abort(&t);

    /* again, without an overlap: only the newest key finds it */
    old = o;
    real_keys(third_sign, third_curve);
    memcpy(o.sign_pk, third_sign, RK_KEY_LEN);
    memcpy(o.curve_pk, third_curve, RK_KEY_LEN);
    memset(o.prev_sign_pk, 0, RK_KEY_LEN);
    memset(o.prev_curve_pk, 0, RK_KEY_LEN);
    o.prev_until_ms = 0;
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_org_update(t, &o), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_org_by_curve(t, old.curve_pk, &got), STORE_ENOTFOUND);
    assert_int_equal(store_org_by_curve(t, old.prev_curve_pk, &got), STORE_ENOTFOUND);
    assert_int_equal(store_org_by_curve(t, third_curve, &got), STORE_OK);
    assert_true(got.prev_until_ms == 0);
    assert_false(org_key_admitted(&got, old.curve_pk, 0));
    store_abort(&t);
    store_close(&s);
}

static void test_org_crud(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, NULL, 0);
    store_txn_t *t = NULL;
    org_t orgs[3] = {make_org("water.y", ORG_UTILITY, 3), make_org("city.x", ORG_MUNICIPALITY, 1),
                     make_org("town.y", ORG_MUNICIPALITY, 2)};
    org_t got, dup;
    char ids[256] = "";
    int calls = 0;

    add_orgs(s, orgs, 3);

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_org_get(t, "city.x", &got), STORE_OK);
    assert_org_equal(&got, &orgs[1]);
    assert_int_equal(store_org_by_curve(t, orgs[0].curve_pk, &got), STORE_OK);
    assert_org_equal(&got, &orgs[0]);
    assert_int_equal(store_org_get(t, "gas.z", &got), STORE_ENOTFOUND);
    assert_int_equal(store_org_get(t, "Not An Id", &got), STORE_EINVAL);
    memset(dup.curve_pk, 0x77, RK_KEY_LEN);
    assert_int_equal(store_org_by_curve(t, dup.curve_pk, &got), STORE_ENOTFOUND);
    assert_int_equal(store_org_list(t, collect, ids), STORE_OK);
    assert_string_equal(ids, "city.x,town.y,water.y,");
    assert_int_equal(store_org_list(t, stop_after_first, &calls), STORE_OK);
    assert_int_equal(calls, 1);
    /* a read transaction cannot write */
    assert_int_equal(store_org_add(t, &orgs[0]), STORE_EINVAL);
    store_abort(&t);
    assert_null(t);

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    /* duplicate id, even with a new key */
    dup = make_org("city.x", ORG_UTILITY, 9);
    assert_int_equal(store_org_add(t, &dup), STORE_EEXIST);
    /* duplicate key under a new id */
    dup = make_org("gas.z", ORG_UTILITY, 2);
    assert_int_equal(store_org_add(t, &dup), STORE_EEXIST);
    /* invalid records */
    dup = make_org("Gas Z", ORG_UTILITY, 10);
    assert_int_equal(store_org_add(t, &dup), STORE_EINVAL);
    dup = make_org("gas.z", (org_kind)7, 10);
    assert_int_equal(store_org_add(t, &dup), STORE_EINVAL);

    /* update: suspend and rekey town.y */
    got = orgs[2];
    got.status = ORG_SUSPENDED;
    memset(got.curve_pk, 0x42, RK_KEY_LEN);
    memset(got.sign_pk, 0x24, RK_KEY_LEN);
    got.updated_ms += 1000;
    assert_int_equal(store_org_update(t, &got), STORE_OK);
    /* update may not take another org's key */
    dup = orgs[1];
    memcpy(dup.curve_pk, orgs[0].curve_pk, RK_KEY_LEN);
    assert_int_equal(store_org_update(t, &dup), STORE_EEXIST);
    /* update of an unknown org */
    dup = make_org("gas.z", ORG_UTILITY, 11);
    assert_int_equal(store_org_update(t, &dup), STORE_ENOTFOUND);
    assert_int_equal(store_commit(&t), STORE_OK);

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_org_get(t, "town.y", &dup), STORE_OK);
    assert_org_equal(&dup, &got);
    assert_int_equal(store_org_by_curve(t, got.curve_pk, &dup), STORE_OK);
    assert_string_equal(dup.id, "town.y");
    /* the old key no longer finds anybody */
    assert_int_equal(store_org_by_curve(t, orgs[2].curve_pk, &dup), STORE_ENOTFOUND);
    /* city.x kept its own key */
    assert_int_equal(store_org_by_curve(t, orgs[1].curve_pk, &dup), STORE_OK);
    assert_string_equal(dup.id, "city.x");
    store_abort(&t);

    /* the freed key can be registered by a new org */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    dup = make_org("gas.z", ORG_UTILITY, 2);
    assert_int_equal(store_org_add(t, &dup), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
    assert_null(s);
}

static void test_one_writer(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *w = NULL, *w2 = NULL, *r = NULL;
    uint64_t seq;

    assert_int_equal(store_begin(s, true, &w), STORE_OK);
    assert_int_equal(store_begin(s, true, &w2), STORE_EBUSY);
    assert_null(w2);
    /* readers may run beside the writer */
    assert_int_equal(store_begin(s, false, &r), STORE_OK);
    assert_int_equal(store_next_seq(r, &seq), STORE_EINVAL);
    store_abort(&r);
    store_abort(&w);
    assert_int_equal(store_begin(s, true, &w2), STORE_OK);
    assert_int_equal(store_commit(&w2), STORE_OK);
    assert_int_equal(store_commit(&w2), STORE_EINVAL); /* already freed */
    store_abort(NULL);
    store_close(&s);
    store_close(&s);
    store_close(NULL);
}

/* ------------------------------------------------------------------ ID codes */

static void test_codes_round_trip(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    org_t orgs[2] = {make_org("city.x", ORG_MUNICIPALITY, 1), make_org("water.w", ORG_UTILITY, 2)};
    uint8_t px[RK_CODE_LEN], px2[RK_CODE_LEN], pw[RK_CODE_LEN], pw2[RK_CODE_LEN], c[RK_CODE_LEN];
    uint8_t id[STORE_IDCODE_LEN], id2[STORE_IDCODE_LEN], idw[STORE_IDCODE_LEN];

    add_orgs(s, orgs, 2);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_person_new(t, "city.x", px), STORE_OK);
    assert_int_equal(store_person_new(t, "city.x", px2), STORE_OK);
    assert_memory_not_equal(px, px2, RK_CODE_LEN);
    /* enrolling for an org that is not registered */
    assert_int_equal(store_person_new(t, "gas.z", c), STORE_ENOTFOUND);
    assert_int_equal(store_person_new(t, "No Such Org", c), STORE_EINVAL);

    assert_int_equal(store_code_resolve(t, "city.x", px, id), STORE_OK);
    assert_int_equal(store_code_resolve(t, "city.x", px2, id2), STORE_OK);
    assert_memory_not_equal(id, id2, STORE_IDCODE_LEN);
    assert_int_equal(store_code_lookup(t, id, "city.x", c), STORE_OK);
    assert_memory_equal(c, px, RK_CODE_LEN);

    /* water.w knows nobody yet */
    assert_int_equal(store_code_lookup(t, id, "water.w", c), STORE_ENOTFOUND);
    assert_int_equal(store_code_issue(t, id, "water.w", pw), STORE_OK);
    assert_memory_not_equal(pw, px, RK_CODE_LEN);
    assert_int_equal(store_code_lookup(t, id, "water.w", c), STORE_OK);
    assert_memory_equal(c, pw, RK_CODE_LEN);
    assert_int_equal(store_code_resolve(t, "water.w", pw, idw), STORE_OK);
    assert_memory_equal(idw, id, STORE_IDCODE_LEN);
    /* a second code for the same person and org is refused, and changes nothing */
    memset(pw2, 0, sizeof pw2);
    assert_int_equal(store_code_issue(t, id, "water.w", pw2), STORE_EEXIST);
    assert_int_equal(store_code_lookup(t, id, "water.w", c), STORE_OK);
    assert_memory_equal(c, pw, RK_CODE_LEN);
    assert_int_equal(store_code_issue(t, id, "gas.z", pw2), STORE_ENOTFOUND);

    /* a code of one org means nothing for another */
    assert_int_equal(store_code_resolve(t, "water.w", px, idw), STORE_ENOTFOUND);
    assert_int_equal(store_code_resolve(t, "city.x", pw, idw), STORE_ENOTFOUND);
    /* the second person is still unknown to water.w */
    assert_int_equal(store_code_lookup(t, id2, "water.w", c), STORE_ENOTFOUND);
    assert_int_equal(store_commit(&t), STORE_OK);

    /* a read transaction sees the committed table but cannot issue */
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_code_resolve(t, "water.w", pw, idw), STORE_OK);
    assert_memory_equal(idw, id, STORE_IDCODE_LEN);
    assert_int_equal(store_code_issue(t, id2, "water.w", c), STORE_EINVAL);
    assert_int_equal(store_person_new(t, "city.x", c), STORE_EINVAL);
    store_abort(&t);

    /* an aborted issue leaves nothing behind */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_code_issue(t, id2, "water.w", c), STORE_OK);
    store_abort(&t);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_code_lookup(t, id2, "water.w", c), STORE_ENOTFOUND);
    store_abort(&t);
    store_close(&s);
}

static void test_master_key(void **state)
{
    fixture_t *f = *state;
    org_t orgs[1] = {make_org("city.x", ORG_MUNICIPALITY, 1)};
    store_t *s = open_ok(f, NULL, 0);
    store_txn_t *t = NULL;
    uint8_t code[RK_CODE_LEN] = {0}, id[STORE_IDCODE_LEN] = {0};
    char why[256] = "";
    org_t got;

    /* the operator registers before the hub ever ran */
    add_orgs(s, orgs, 1);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_person_new(t, "city.x", code), STORE_EMASTER);
    assert_int_equal(store_code_issue(t, id, "city.x", code), STORE_EMASTER);
    assert_int_equal(store_code_resolve(t, "city.x", code, id), STORE_EMASTER);
    assert_int_equal(store_code_lookup(t, id, "city.x", code), STORE_EMASTER);
    store_abort(&t);
    store_close(&s);

    /* first open with a master key adopts it */
    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_person_new(t, "city.x", code), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    /* another master key is refused with a reason */
    assert_int_equal(store_open(f->dir, MASTER_B, 0, &s, why, sizeof why), STORE_EMASTER);
    assert_null(s);
    assert_non_null(strstr(why, "master key does not match this data directory"));

    /* the operator's tool (no master key) still works on it */
    s = open_ok(f, NULL, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_org_get(t, "city.x", &got), STORE_OK);
    assert_int_equal(store_code_resolve(t, "city.x", code, id), STORE_EMASTER);
    store_abort(&t);
    store_close(&s);

    /* and the right key still reads the code */
    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_code_resolve(t, "city.x", code, id), STORE_OK);
    store_abort(&t);
    store_close(&s);
}

static void test_persistence_and_seq(void **state)
{
    fixture_t *f = *state;
    org_t orgs[2] = {make_org("city.x", ORG_MUNICIPALITY, 1), make_org("gas.z", ORG_UTILITY, 2)};
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    uint8_t px[RK_CODE_LEN], pz[RK_CODE_LEN], c[RK_CODE_LEN];
    uint8_t id[STORE_IDCODE_LEN], id2[STORE_IDCODE_LEN];
    uint64_t seq = 0;
    org_t got;

    add_orgs(s, orgs, 2);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    for (uint64_t i = 1; i <= 3; i++) {
        assert_int_equal(store_next_seq(t, &seq), STORE_OK);
        assert_true(seq == i);
    }
    assert_int_equal(store_person_new(t, "city.x", px), STORE_OK);
    assert_int_equal(store_code_resolve(t, "city.x", px, id), STORE_OK);
    assert_int_equal(store_code_issue(t, id, "gas.z", pz), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);

    /* an aborted transaction does not consume sequence numbers */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_next_seq(t, &seq), STORE_OK);
    assert_true(seq == 4);
    store_abort(&t);
    store_close(&s);

    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_next_seq(t, &seq), STORE_OK);
    assert_true(seq == 4);
    assert_int_equal(store_next_seq(t, &seq), STORE_OK);
    assert_true(seq == 5);
    assert_int_equal(store_org_get(t, "gas.z", &got), STORE_OK);
    assert_org_equal(&got, &orgs[1]);
    assert_int_equal(store_code_resolve(t, "gas.z", pz, id2), STORE_OK);
    assert_memory_equal(id2, id, STORE_IDCODE_LEN);
    assert_int_equal(store_code_lookup(t, id, "city.x", c), STORE_OK);
    assert_memory_equal(c, px, RK_CODE_LEN);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_next_seq(t, &seq), STORE_OK);
    assert_true(seq == 6);
    store_abort(&t);
    store_close(&s);
}

/* ---------------------------------------------------------------- a full map */

#define TINY_MAP ((size_t)64 * 4096)
#define MAX_PEOPLE 20000

static void test_map_full(void **state)
{
    fixture_t *f = *state;
    org_t orgs[1] = {make_org("city.x", ORG_MUNICIPALITY, 1)};
    store_t *s = open_ok(f, MASTER_A, TINY_MAP);
    store_txn_t *t = NULL;
    uint8_t(*codes)[RK_CODE_LEN] = calloc(MAX_PEOPLE, RK_CODE_LEN);
    uint8_t code[RK_CODE_LEN], id[STORE_IDCODE_LEN];
    store_err err = STORE_OK;
    uint64_t seq = 0, last_seq = 0;
    size_t kept = 0, i;
    org_t got;

    assert_non_null(codes);
    add_orgs(s, orgs, 1);
    /* ten people and one sequence number per transaction, until the map is full */
    while (kept < MAX_PEOPLE - 10) {
        assert_int_equal(store_begin(s, true, &t), STORE_OK);
        err = store_next_seq(t, &seq);
        for (i = 0; i < 10 && err == STORE_OK; i++)
            err = store_person_new(t, "city.x", codes[kept + i]);
        if (err != STORE_OK) {
            assert_int_equal(err, STORE_EFULL);
            /* the failed transaction stays failed and commits nothing */
            assert_int_equal(store_person_new(t, "city.x", code), STORE_EFULL);
            assert_int_equal(store_commit(&t), STORE_EFULL);
            assert_null(t);
            break;
        }
        err = store_commit(&t);
        assert_null(t);
        if (err != STORE_OK) {
            assert_int_equal(err, STORE_EFULL);
            break;
        }
        kept += 10;
        last_seq = seq;
    }
    assert_int_equal(err, STORE_EFULL);
    assert_true(kept > 0);
    print_message("map of %zu bytes full after %zu people\n", TINY_MAP, kept);

    /* everything committed before is intact and readable */
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_org_get(t, "city.x", &got), STORE_OK);
    for (i = 0; i < kept; i++)
        assert_int_equal(store_code_resolve(t, "city.x", codes[i], id), STORE_OK);
    for (; i < kept + 10; i++)
        assert_int_equal(store_code_resolve(t, "city.x", codes[i], id), STORE_ENOTFOUND);
    store_abort(&t);
    /* a new write transaction can begin (the store is not wedged) */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    store_abort(&t);
    store_close(&s);

    /* reopened with a larger map, it takes writes again; the seq resumes */
    s = open_ok(f, MASTER_A, TINY_MAP * 8);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_next_seq(t, &seq), STORE_OK);
    assert_true(seq == last_seq + 1);
    for (i = 0; i < 10; i++)
        assert_int_equal(store_person_new(t, "city.x", code), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    for (i = 0; i < kept; i++)
        assert_int_equal(store_code_resolve(t, "city.x", codes[i], id), STORE_OK);
    store_abort(&t);
    store_close(&s);
    free(codes);
}

/* ------------------------------------------------------------------ at rest */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf;
    long n;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n > 0);
    rewind(fp);
    buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

#define REST_PEOPLE 50

static void test_at_rest(void **state)
{
    fixture_t *f = *state;
    org_t orgs[3] = {make_org("city.x", ORG_MUNICIPALITY, 1), make_org("town.y", ORG_MUNICIPALITY, 2),
                     make_org("water.w", ORG_UTILITY, 3)};
    static const char *names[3] = {"city.x", "town.y", "water.w"};
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    uint8_t codes[REST_PEOPLE][3][RK_CODE_LEN], ids[REST_PEOPLE][STORE_IDCODE_LEN];
    uint8_t *data;
    size_t len, hits = 0;
    char path[512];

    add_orgs(s, orgs, 3);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    for (int p = 0; p < REST_PEOPLE; p++) {
        assert_int_equal(store_person_new(t, "city.x", codes[p][0]), STORE_OK);
        assert_int_equal(store_code_resolve(t, "city.x", codes[p][0], ids[p]), STORE_OK);
        assert_int_equal(store_code_issue(t, ids[p], "town.y", codes[p][1]), STORE_OK);
        assert_int_equal(store_code_issue(t, ids[p], "water.w", codes[p][2]), STORE_OK);
    }
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    data = slurp(path, &len);
    /* sanity: the scan does find what is stored in the clear */
    assert_non_null(memmem(data, len, "water.w", 7));
    for (int p = 0; p < REST_PEOPLE; p++) {
        for (int o = 0; o < 3; o++) {
            char hex[RK_CODE_TEXT_LEN + 1];
            rk_code_to_text(codes[p][o], hex);
            if (memmem(data, len, codes[p][o], RK_CODE_LEN) != NULL ||
                memmem(data, len, hex, RK_CODE_TEXT_LEN) != NULL) {
                print_error("link code of person %d at %s found in the clear\n", p, names[o]);
                hits++;
            }
        }
        if (memmem(data, len, ids[p], STORE_IDCODE_LEN) != NULL) {
            print_error("ID code of person %d found in the clear\n", p);
            hits++;
        }
    }
    free(data);
    assert_int_equal(hits, 0);
}

/* The code tables' values are bound to their keys: moving a ciphertext from
 * one entry to another, or damaging an org record, is detected. */
static void test_tamper(void **state)
{
    fixture_t *f = *state;
    org_t orgs[1] = {make_org("city.x", ORG_MUNICIPALITY, 1)};
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    uint8_t a[RK_CODE_LEN], b[RK_CODE_LEN], id[STORE_IDCODE_LEN];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi fwd, dbi_orgs;
    MDB_cursor *cur;
    MDB_val k, v, k2, v2;
    uint8_t kbuf[2][64], vbuf[2][64], junk[10] = {0};
    org_t got;

    add_orgs(s, orgs, 1);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_person_new(t, "city.x", a), STORE_OK);
    assert_int_equal(store_person_new(t, "city.x", b), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    /* swap the two forward entries' values behind the store's back */
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "code_fwd", 0, &fwd), 0);
    assert_int_equal(mdb_dbi_open(txn, "orgs", 0, &dbi_orgs), 0);
    assert_int_equal(mdb_cursor_open(txn, fwd, &cur), 0);
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    assert_true(k.mv_size <= 64 && v.mv_size <= 64);
    memcpy(kbuf[0], k.mv_data, k.mv_size);
    memcpy(vbuf[0], v.mv_data, v.mv_size);
    k.mv_data = kbuf[0];
    v.mv_data = vbuf[0];
    assert_int_equal(mdb_cursor_get(cur, &k2, &v2, MDB_NEXT), 0);
    memcpy(kbuf[1], k2.mv_data, k2.mv_size);
    memcpy(vbuf[1], v2.mv_data, v2.mv_size);
    k2.mv_data = kbuf[1];
    v2.mv_data = vbuf[1];
    mdb_cursor_close(cur);
    assert_int_equal(mdb_put(txn, fwd, &k, &v2, 0), 0);
    assert_int_equal(mdb_put(txn, fwd, &k2, &v, 0), 0);
    /* and a damaged org record */
    k.mv_data = "city.x";
    k.mv_size = 6;
    v.mv_data = junk;
    v.mv_size = sizeof junk;
    assert_int_equal(mdb_put(txn, dbi_orgs, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_code_resolve(t, "city.x", a, id), STORE_ECORRUPT);
    assert_int_equal(store_code_resolve(t, "city.x", b, id), STORE_ECORRUPT);
    assert_int_equal(store_org_get(t, "city.x", &got), STORE_ECORRUPT);
    assert_int_equal(store_org_by_curve(t, orgs[0].curve_pk, &got), STORE_ECORRUPT);
    store_abort(&t);
    store_close(&s);
}

static void test_open_errors(void **state)
{
    fixture_t *f = *state;
    char path[512], why[256] = "";
    store_t *s = NULL;
    FILE *fp;

    snprintf(path, sizeof path, "%s/plainfile", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(store_open(path, NULL, 0, &s, why, sizeof why), STORE_EIO);
    assert_null(s);
    assert_non_null(strstr(why, "not a directory"));

    /* a data directory created by the store is private */
    snprintf(path, sizeof path, "%s/fresh", f->dir);
    s = NULL;
    assert_int_equal(store_open(path, NULL, 0, &s, why, sizeof why), STORE_OK);
    store_close(&s);
    {
        struct stat st;
        char sub[600];
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        snprintf(sub, sizeof sub, "%s/data.mdb", path);
        unlink(sub);
        snprintf(sub, sizeof sub, "%s/lock.mdb", path);
        unlink(sub);
        rmdir(path);
    }
}

/* -------------------------------------------------------------------- queues */

static queue_meta_t make_meta(const char *to, const char *from, uint64_t seq, uint64_t expires_ms)
{
    queue_meta_t m;

    memset(&m, 0, sizeof m);
    m.seq = seq;
    m.kind = seq % 2 ? QUEUE_DELIVER : QUEUE_NOTICE;
    snprintf(m.to, sizeof m.to, "%s", to);
    snprintf(m.from, sizeof m.from, "%s", from);
    snprintf(m.type, sizeof m.type, "move-in.notice");
    memset(m.msg_id, (int)(seq & 0xff), sizeof m.msg_id);
    m.msg_id[0] = 0xee;
    m.accepted_ms = 1700000000000ull + seq;
    m.expires_ms = expires_ms;
    return m;
}

/* A frame whose bytes say which entry it belongs to. */
static size_t make_frame(uint8_t *buf, size_t cap, const char *to, uint64_t seq)
{
    int n = snprintf((char *)buf, cap, "frame for %s #%llu", to, (unsigned long long)seq);
    return (size_t)n;
}

static void put_entry(store_txn_t *t, const char *to, const char *from, uint64_t seq, uint64_t expires_ms)
{
    queue_meta_t m = make_meta(to, from, seq, expires_ms);
    uint8_t frame[128];
    size_t len = make_frame(frame, sizeof frame, to, seq);

    assert_int_equal(store_queue_put(t, &m, frame, len), STORE_OK);
}

typedef struct seen {
    uint64_t seq[32];
    size_t n;
    size_t stop_after; /* 0: never stop */
    store_txn_t *take_txn; /* non-NULL: take each entry while scanning */
    int bad;
} seen_t;

static int record_entry(const queue_meta_t *meta, const uint8_t *frame, size_t len, void *ctx)
{
    seen_t *s = ctx;
    uint8_t want[128];
    size_t wlen = make_frame(want, sizeof want, meta->to, meta->seq);
    queue_meta_t exp = make_meta(meta->to, meta->from, meta->seq, meta->expires_ms), got;

    /* the frame and every meta field come back as they were put */
    if (len != wlen || memcmp(frame, want, len) != 0 || meta->kind != exp.kind ||
        strcmp(meta->type, exp.type) != 0 || memcmp(meta->msg_id, exp.msg_id, RK_MSGID_LEN) != 0 ||
        meta->accepted_ms != exp.accepted_ms)
        s->bad++;
    if (s->n < 32)
        s->seq[s->n] = meta->seq;
    s->n++;
    if (s->take_txn != NULL) {
        if (store_queue_take(s->take_txn, meta->to, meta->seq, &got) != STORE_OK || got.seq != meta->seq)
            s->bad++;
    }
    return s->stop_after != 0 && s->n >= s->stop_after;
}

static void assert_scan(store_txn_t *t, const char *org, uint64_t after, const uint64_t *want, size_t n)
{
    seen_t seen;

    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_queue_scan(t, org, after, record_entry, &seen), STORE_OK);
    assert_int_equal(seen.bad, 0);
    assert_int_equal(seen.n, n);
    for (size_t i = 0; i < n; i++)
        assert_true(seen.seq[i] == want[i]);
}

static void assert_count(store_txn_t *t, const char *org, uint64_t want)
{
    uint64_t n = 12345;

    assert_int_equal(store_queue_count(t, org, &n), STORE_OK);
    assert_true(n == want);
}

static void test_queue_order(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    static const uint64_t x[] = {2, 5, 9, 300}, xy[] = {3, 7}, y[] = {4, 6};
    seen_t seen;

    /* interleaved puts to three queues, one of them a prefix of another */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    put_entry(t, "city.x", "town.y", 300, 9000);
    put_entry(t, "city.x", "town.y", 9, 9000);
    put_entry(t, "city.xy", "town.y", 7, 9000);
    put_entry(t, "town.y", "city.x", 6, 9000);
    put_entry(t, "city.x", "town.y", 2, 9000);
    put_entry(t, "city.xy", "town.y", 3, 9000);
    put_entry(t, "town.y", "city.x", 4, 9000);
    put_entry(t, "city.x", "town.y", 5, 9000);
    assert_int_equal(store_commit(&t), STORE_OK);

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_scan(t, "city.x", 0, x, 4);
    assert_scan(t, "city.xy", 0, xy, 2);
    assert_scan(t, "town.y", 0, y, 2);
    assert_scan(t, "water.w", 0, NULL, 0);
    /* after_seq resumes past what was already sent */
    assert_scan(t, "city.x", 5, x + 2, 2);
    assert_scan(t, "city.x", 4, x + 1, 3);
    assert_scan(t, "city.x", 300, NULL, 0);
    assert_scan(t, "city.x", UINT64_MAX, NULL, 0);
    /* the callback stops the walk */
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 2;
    assert_int_equal(store_queue_scan(t, "city.x", 0, record_entry, &seen), STORE_OK);
    assert_int_equal(seen.n, 2);
    assert_count(t, "city.x", 4);
    assert_count(t, "city.xy", 2);
    assert_count(t, "town.y", 2);
    assert_count(t, "water.w", 0);
    assert_int_equal(store_queue_scan(t, "Not Valid", 0, record_entry, &seen), STORE_EINVAL);
    /* a read transaction cannot write */
    {
        queue_meta_t m = make_meta("city.x", "town.y", 99, 1);
        assert_int_equal(store_queue_put(t, &m, (const uint8_t *)"x", 1), STORE_EINVAL);
    }
    store_abort(&t);
    store_close(&s);
}

static void test_queue_take(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    queue_meta_t m, want = make_meta("city.x", "town.y", 3, 7000);
    static const uint64_t rest[] = {1, 4};
    seen_t seen;

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    put_entry(t, "city.x", "town.y", 1, 5000);
    put_entry(t, "city.x", "town.y", 3, 7000);
    put_entry(t, "city.x", "town.y", 4, 6000);
    put_entry(t, "town.y", "city.x", 2, 5000);
    assert_int_equal(store_commit(&t), STORE_OK);

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_queue_take(t, "city.x", 3, &m), STORE_OK);
    assert_true(m.seq == 3);
    assert_int_equal(m.kind, want.kind);
    assert_string_equal(m.to, "city.x");
    assert_string_equal(m.from, "town.y");
    assert_string_equal(m.type, want.type);
    assert_memory_equal(m.msg_id, want.msg_id, RK_MSGID_LEN);
    assert_true(m.accepted_ms == want.accepted_ms);
    assert_true(m.expires_ms == 7000);
    /* acknowledged twice, or by the wrong org */
    assert_int_equal(store_queue_take(t, "city.x", 3, &m), STORE_ENOTFOUND);
    assert_int_equal(store_queue_take(t, "town.y", 1, &m), STORE_ENOTFOUND);
    assert_count(t, "city.x", 2);
    assert_scan(t, "city.x", 0, rest, 2);
    assert_int_equal(store_commit(&t), STORE_OK);

    /* the taken entry's expiry went with it: the next to expire is seq 1 */
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_queue_next_expired(t, 100000, &m), STORE_OK);
    assert_true(m.seq == 1 || m.seq == 2);
    store_abort(&t);

    /* taking every entry while scanning it empties the queue and its count */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    memset(&seen, 0, sizeof seen);
    seen.take_txn = t;
    assert_int_equal(store_queue_scan(t, "city.x", 0, record_entry, &seen), STORE_OK);
    assert_int_equal(seen.bad, 0);
    assert_int_equal(seen.n, 2);
    assert_count(t, "city.x", 0);
    assert_scan(t, "city.x", 0, NULL, 0);
    assert_count(t, "town.y", 1);
    assert_int_equal(store_queue_take(t, "town.y", 2, NULL), STORE_OK);
    assert_count(t, "town.y", 0);
    assert_int_equal(store_queue_next_expired(t, UINT64_MAX, &m), STORE_ENOTFOUND);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
}

static void test_queue_expiry(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    queue_meta_t m;

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    put_entry(t, "city.x", "town.y", 1, 5000);
    put_entry(t, "town.y", "city.x", 2, 1000);
    put_entry(t, "city.x", "town.y", 3, 3000);
    put_entry(t, "water.w", "city.x", 4, 3000);
    assert_int_equal(store_commit(&t), STORE_OK);

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_queue_next_expired(t, 999, &m), STORE_ENOTFOUND);
    assert_int_equal(store_queue_next_expired(t, 1000, &m), STORE_OK);
    assert_true(m.seq == 2);
    assert_string_equal(m.to, "town.y");
    assert_string_equal(m.from, "city.x");
    assert_true(m.expires_ms == 1000);
    /* stays the first until it is taken */
    assert_int_equal(store_queue_next_expired(t, 4000, &m), STORE_OK);
    assert_true(m.seq == 2);
    assert_int_equal(store_queue_take(t, m.to, m.seq, NULL), STORE_OK);
    assert_int_equal(store_queue_next_expired(t, 2999, &m), STORE_ENOTFOUND);
    /* same time: index order is (org, seq) */
    assert_int_equal(store_queue_next_expired(t, 3000, &m), STORE_OK);
    assert_true(m.seq == 3);
    assert_string_equal(m.to, "city.x");
    assert_int_equal(store_queue_take(t, m.to, m.seq, NULL), STORE_OK);
    assert_int_equal(store_queue_next_expired(t, 3000, &m), STORE_OK);
    assert_true(m.seq == 4);
    assert_string_equal(m.to, "water.w");
    assert_int_equal(store_queue_take(t, m.to, m.seq, NULL), STORE_OK);
    assert_int_equal(store_queue_next_expired(t, 4999, &m), STORE_ENOTFOUND);
    assert_int_equal(store_queue_next_expired(t, 5000, &m), STORE_OK);
    assert_true(m.seq == 1);
    assert_int_equal(store_queue_take(t, m.to, m.seq, NULL), STORE_OK);
    assert_int_equal(store_queue_next_expired(t, UINT64_MAX, &m), STORE_ENOTFOUND);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
}

static void test_queue_duplicate(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    queue_meta_t m = make_meta("city.x", "town.y", 8, 2000), other = make_meta("city.x", "water.w", 8, 1000);
    static const uint64_t one[] = {8};

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    put_entry(t, "city.x", "town.y", 8, 2000);
    assert_int_equal(store_queue_put(t, &other, (const uint8_t *)"another frame", 13), STORE_EEXIST);
    /* the transaction is still usable and commits the first entry only */
    put_entry(t, "town.y", "city.x", 8, 2000);
    assert_int_equal(store_commit(&t), STORE_OK);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_queue_put(t, &m, (const uint8_t *)"x", 1), STORE_EEXIST);
    assert_scan(t, "city.x", 0, one, 1); /* record_entry checks the original frame */
    assert_count(t, "city.x", 1);
    assert_int_equal(store_queue_next_expired(t, 1500, &m), STORE_ENOTFOUND);
    /* bad arguments */
    m.kind = (queue_kind)7;
    assert_int_equal(store_queue_put(t, &m, (const uint8_t *)"x", 1), STORE_EINVAL);
    m = make_meta("city.x", "town.y", 9, 2000);
    assert_int_equal(store_queue_put(t, &m, (const uint8_t *)"x", 0), STORE_EINVAL);
    snprintf(m.type, sizeof m.type, "Bad Type");
    assert_int_equal(store_queue_put(t, &m, (const uint8_t *)"x", 1), STORE_EINVAL);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
}

/* ------------------------------------------------------- accepted messages */

static msg_record_t make_rec(const char *to, uint64_t seq, msg_state st, uint64_t keep_until_ms)
{
    msg_record_t r;

    memset(&r, 0, sizeof r);
    r.seq = seq;
    snprintf(r.to, sizeof r.to, "%s", to);
    snprintf(r.type, sizeof r.type, "water.start");
    r.state = st;
    r.accepted_ms = 1700000000000ull + seq;
    r.keep_until_ms = keep_until_ms;
    return r;
}

static void test_msgs(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    uint8_t id[8][RK_MSGID_LEN];
    msg_record_t r, got;
    size_t purged = 99;

    for (int i = 0; i < 8; i++)
        memset(id[i], 0x40 + i, RK_MSGID_LEN);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    /* ids 0..5 from city.x kept until 1000 * (i + 1); the same id 0 from town.y until 9000 */
    for (int i = 0; i < 6; i++) {
        r = make_rec("water.w", (uint64_t)i + 1, MSG_QUEUED, 1000u * (unsigned)(i + 1));
        assert_int_equal(store_msg_put(t, "city.x", id[i], &r), STORE_OK);
    }
    r = make_rec("city.x", 50, MSG_QUEUED, 9000);
    assert_int_equal(store_msg_put(t, "town.y", id[0], &r), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_msg_get(t, "city.x", id[2], &got), STORE_OK);
    assert_true(got.seq == 3);
    assert_string_equal(got.to, "water.w");
    assert_string_equal(got.type, "water.start");
    assert_int_equal(got.state, MSG_QUEUED);
    assert_true(got.accepted_ms == 1700000000003ull);
    assert_true(got.keep_until_ms == 3000);
    assert_int_equal(store_msg_get(t, "city.x", id[7], &got), STORE_ENOTFOUND);
    assert_int_equal(store_msg_get(t, "water.w", id[0], &got), STORE_ENOTFOUND);
    assert_int_equal(store_msg_get(t, "town.y", id[0], &got), STORE_OK);
    assert_true(got.seq == 50);

    /* replace: id 0 delivered and kept longer; id 1 refused, same time */
    r = make_rec("water.w", 1, MSG_DELIVERED, 8000);
    assert_int_equal(store_msg_put(t, "city.x", id[0], &r), STORE_OK);
    r = make_rec("water.w", 2, MSG_REFUSED, 2000);
    assert_int_equal(store_msg_put(t, "city.x", id[1], &r), STORE_OK);
    assert_int_equal(store_msg_get(t, "city.x", id[0], &got), STORE_OK);
    assert_int_equal(got.state, MSG_DELIVERED);
    assert_true(got.keep_until_ms == 8000);

    /* nothing is due before 1000, and id 0's old time no longer counts */
    assert_int_equal(store_msg_purge(t, 999, 100, &purged), STORE_OK);
    assert_int_equal(purged, 0);
    /* due at 4500: ids 1, 2, 3 (not 0); max 2 takes the oldest two */
    assert_int_equal(store_msg_purge(t, 4500, 2, &purged), STORE_OK);
    assert_int_equal(purged, 2);
    assert_int_equal(store_msg_get(t, "city.x", id[1], &got), STORE_ENOTFOUND);
    assert_int_equal(store_msg_get(t, "city.x", id[2], &got), STORE_ENOTFOUND);
    assert_int_equal(store_msg_get(t, "city.x", id[3], &got), STORE_OK);
    assert_int_equal(store_msg_purge(t, 4500, 0, &purged), STORE_OK);
    assert_int_equal(purged, 0);
    assert_int_equal(store_msg_purge(t, 4500, 100, &purged), STORE_OK);
    assert_int_equal(purged, 1);
    assert_int_equal(store_msg_get(t, "city.x", id[3], &got), STORE_ENOTFOUND);
    assert_int_equal(store_msg_get(t, "city.x", id[0], &got), STORE_OK);
    assert_int_equal(store_msg_get(t, "city.x", id[4], &got), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_msg_purge(t, 8000, 100, &purged), STORE_OK);
    assert_int_equal(purged, 3); /* ids 4, 5 and 0 of city.x */
    assert_int_equal(store_msg_get(t, "city.x", id[0], &got), STORE_ENOTFOUND);
    assert_int_equal(store_msg_get(t, "town.y", id[0], &got), STORE_OK);
    assert_int_equal(store_msg_purge(t, UINT64_MAX, 100, &purged), STORE_OK);
    assert_int_equal(purged, 1);
    assert_int_equal(store_msg_get(t, "town.y", id[0], &got), STORE_ENOTFOUND);
    r.state = (msg_state)0;
    assert_int_equal(store_msg_put(t, "city.x", id[0], &r), STORE_EINVAL);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
}

static void test_queue_no_master(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, NULL, 0);
    store_txn_t *t = NULL;
    queue_meta_t m = make_meta("city.x", "town.y", 1, 1000);
    msg_record_t r = make_rec("city.x", 1, MSG_QUEUED, 1000);
    uint8_t id[RK_MSGID_LEN] = {0};
    uint64_t n;
    size_t purged;
    seen_t seen;

    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_queue_put(t, &m, (const uint8_t *)"x", 1), STORE_EMASTER);
    assert_int_equal(store_queue_count(t, "city.x", &n), STORE_EMASTER);
    assert_int_equal(store_queue_scan(t, "city.x", 0, record_entry, &seen), STORE_EMASTER);
    assert_int_equal(store_queue_take(t, "city.x", 1, &m), STORE_EMASTER);
    assert_int_equal(store_queue_next_expired(t, UINT64_MAX, &m), STORE_EMASTER);
    assert_int_equal(store_msg_put(t, "town.y", id, &r), STORE_EMASTER);
    assert_int_equal(store_msg_get(t, "town.y", id, &r), STORE_EMASTER);
    assert_int_equal(store_msg_purge(t, UINT64_MAX, 10, &purged), STORE_EMASTER);
    assert_int_equal(seen.n, 0);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
}

/* What waits for an org and since when, for the hub's metrics and
 * renkei-ctl show: read without the master key; the oldest entry is the
 * lowest seq, and moves on when it is taken. */
static void test_queue_depth(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    store_usage_t before, after;
    uint64_t n = 99, oldest = 99;
    queue_meta_t m;

    assert_int_equal(store_usage(s, &before), STORE_OK);
    assert_true(before.map_size == STORE_DEFAULT_MAP_SIZE);
    assert_true(before.page_size >= 512 && before.used_bytes == before.pages_used * before.page_size);
    assert_true(before.used_bytes > 0 && before.used_bytes < before.map_size);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_queue_depth(t, "city.x", &n, &oldest), STORE_OK);
    assert_true(n == 0 && oldest == 0);
    put_entry(t, "city.x", "town.y", 9, 9000);
    put_entry(t, "city.x", "town.y", 5, 9000);
    put_entry(t, "city.xy", "town.y", 2, 9000); /* an id city.x is a prefix of */
    put_entry(t, "city.x", "town.y", 7, 9000);
    for (uint64_t i = 100; i < 400; i++) /* enough to take more pages */
        put_entry(t, "town.y", "city.x", i, 9000);
    assert_int_equal(store_commit(&t), STORE_OK);
    assert_int_equal(store_usage(s, &after), STORE_OK);
    assert_true(after.used_bytes > before.used_bytes);
    store_close(&s);

    /* without the master key: the count and the clear meta only */
    s = open_ok(f, NULL, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_queue_depth(t, "city.x", &n, &oldest), STORE_OK);
    assert_true(n == 3 && oldest == make_meta("city.x", "town.y", 5, 9000).accepted_ms);
    assert_int_equal(store_queue_depth(t, "city.xy", &n, &oldest), STORE_OK);
    assert_true(n == 1 && oldest == make_meta("city.xy", "town.y", 2, 9000).accepted_ms);
    assert_int_equal(store_queue_depth(t, "town.y", &n, &oldest), STORE_OK);
    assert_true(n == 300 && oldest == make_meta("town.y", "city.x", 100, 9000).accepted_ms);
    assert_int_equal(store_queue_depth(t, "water.w", &n, &oldest), STORE_OK);
    assert_true(n == 0 && oldest == 0);
    assert_int_equal(store_queue_depth(t, "Not Valid", &n, &oldest), STORE_EINVAL);
    store_abort(&t);
    store_close(&s);

    /* the oldest is taken: the next one is the oldest */
    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_queue_take(t, "city.x", 5, &m), STORE_OK);
    assert_int_equal(store_queue_depth(t, "city.x", &n, &oldest), STORE_OK);
    assert_true(n == 2 && oldest == make_meta("city.x", "town.y", 7, 9000).accepted_ms);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
}

static void test_queue_persistence(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    static const uint64_t x[] = {1, 3};
    uint8_t id[RK_MSGID_LEN];
    msg_record_t r = make_rec("city.x", 1, MSG_QUEUED, 7000), got;
    queue_meta_t m;

    memset(id, 0x5a, sizeof id);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    put_entry(t, "city.x", "town.y", 1, 2000);
    put_entry(t, "city.x", "town.y", 3, 2500);
    put_entry(t, "town.y", "city.x", 2, 9000);
    assert_int_equal(store_msg_put(t, "town.y", id, &r), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    /* an aborted transaction keeps nothing */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    put_entry(t, "city.x", "town.y", 4, 100);
    store_abort(&t);
    store_close(&s);

    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_scan(t, "city.x", 0, x, 2);
    assert_count(t, "city.x", 2);
    assert_count(t, "town.y", 1);
    assert_int_equal(store_queue_next_expired(t, 2000, &m), STORE_OK);
    assert_true(m.seq == 1);
    assert_int_equal(store_msg_get(t, "town.y", id, &got), STORE_OK);
    assert_true(got.keep_until_ms == 7000);
    store_abort(&t);
    store_close(&s);
}

#define FRAME_BIG 3000
#define MAX_FRAMES 4000

static int check_big(const queue_meta_t *meta, const uint8_t *frame, size_t len, void *ctx)
{
    size_t *n = ctx;
    int ok = len == FRAME_BIG && meta->seq == *n + 1;

    for (size_t i = 0; ok && i < len; i++)
        ok = frame[i] == (uint8_t)(meta->seq + i);
    if (!ok)
        return 1;
    (*n)++;
    return 0;
}

typedef struct full_ctx {
    store_txn_t *txn;
    const uint8_t *frame;
    uint64_t calls;
    store_err last;
} full_ctx_t;

static int put_big_elsewhere(const queue_meta_t *meta, const uint8_t *frame, size_t len, void *ctx)
{
    full_ctx_t *fc = ctx;
    queue_meta_t m = make_meta("town.y", "city.x", meta->seq, 1);

    (void)frame;
    (void)len;
    fc->calls++;
    fc->last = store_queue_put(fc->txn, &m, fc->frame, FRAME_BIG);
    return 0; /* keep going: the store must notice the dead txn itself */
}

static void test_queue_map_full(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, TINY_MAP);
    store_txn_t *t = NULL;
    uint8_t *frame = malloc(FRAME_BIG);
    uint64_t seq = 0, kept = 0;
    store_err err = STORE_OK;
    queue_meta_t m;
    size_t n = 0, i;

    assert_non_null(frame);
    /* four frames per transaction until the map is full */
    while (seq < MAX_FRAMES) {
        assert_int_equal(store_begin(s, true, &t), STORE_OK);
        for (i = 0; i < 4 && err == STORE_OK; i++) {
            seq++;
            m = make_meta("city.x", "town.y", seq, 1000 + seq);
            for (size_t j = 0; j < FRAME_BIG; j++)
                frame[j] = (uint8_t)(seq + j);
            err = store_queue_put(t, &m, frame, FRAME_BIG);
        }
        if (err != STORE_OK) {
            assert_int_equal(err, STORE_EFULL);
            /* the dead transaction refuses further work and commits nothing */
            assert_int_equal(store_queue_put(t, &m, frame, FRAME_BIG), STORE_EFULL);
            assert_int_equal(store_commit(&t), STORE_EFULL);
            break;
        }
        err = store_commit(&t);
        if (err != STORE_OK) {
            assert_int_equal(err, STORE_EFULL);
            break;
        }
        kept = seq;
    }
    assert_int_equal(err, STORE_EFULL);
    assert_true(kept > 0);
    print_message("map of %zu bytes full after %llu frames\n", TINY_MAP, (unsigned long long)kept);

    /* every frame committed before is intact, in order, and counted */
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_queue_scan(t, "city.x", 0, check_big, &n), STORE_OK);
    assert_true(n == kept);
    assert_count(t, "city.x", kept);
    store_abort(&t);
    /* a write from inside a scan that fills the map ends the scan with
     * STORE_EFULL (the callback's txn is dead) instead of walking on */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    {
        full_ctx_t fc = {t, frame, 0, STORE_OK};
        assert_int_equal(store_queue_scan(t, "city.x", 0, put_big_elsewhere, &fc), STORE_EFULL);
        assert_int_equal(fc.last, STORE_EFULL);
        assert_true(fc.calls >= 1 && fc.calls < kept);
    }
    assert_int_equal(store_commit(&t), STORE_EFULL);
    /* taking entries frees room for new ones */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    for (i = 1; i <= 8; i++)
        assert_int_equal(store_queue_take(t, "city.x", i, NULL), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    m = make_meta("city.x", "town.y", kept + 1, 1);
    assert_int_equal(store_queue_put(t, &m, frame, FRAME_BIG), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
    free(frame);
}

/* Flips one byte of the first queue row's value at offset `at` (from the
 * end when negative), behind the store's back. */
static void damage_queue_row(const fixture_t *f, long at)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi q;
    MDB_cursor *cur;
    MDB_val k, v, k2, v2;
    uint8_t kbuf[128], *vbuf;

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "queue", 0, &q), 0);
    assert_int_equal(mdb_cursor_open(txn, q, &cur), 0);
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    mdb_cursor_close(cur);
    assert_true(k.mv_size <= sizeof kbuf);
    memcpy(kbuf, k.mv_data, k.mv_size);
    vbuf = malloc(v.mv_size);
    assert_non_null(vbuf);
    memcpy(vbuf, v.mv_data, v.mv_size);
    vbuf[at >= 0 ? (size_t)at : v.mv_size - (size_t)-at] ^= 0x01;
    k2.mv_data = kbuf;
    k2.mv_size = k.mv_size;
    v2.mv_data = vbuf;
    v2.mv_size = v.mv_size;
    assert_int_equal(mdb_put(txn, q, &k2, &v2, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    free(vbuf);
}

/* Every row of table `name` as one blob per row (key || value), sorted as
 * LMDB keeps them; *n rows. */
static uint8_t **table_rows(const fixture_t *f, const char *name, size_t *n, size_t **lens)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi d;
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t **rows = NULL;
    int rc;

    *n = 0;
    *lens = NULL;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_NOTLS | MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, name, 0, &d), 0);
    assert_int_equal(mdb_cursor_open(txn, d, &cur), 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint8_t **more = realloc(rows, (*n + 1) * sizeof *rows);
        size_t *more_lens = realloc(*lens, (*n + 1) * sizeof **lens);
        assert_non_null(more);
        assert_non_null(more_lens);
        rows = more;
        *lens = more_lens;
        rows[*n] = malloc(k.mv_size + v.mv_size);
        assert_non_null(rows[*n]);
        memcpy(rows[*n], k.mv_data, k.mv_size);
        memcpy(rows[*n] + k.mv_size, v.mv_data, v.mv_size);
        (*lens)[(*n)++] = k.mv_size + v.mv_size;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return rows;
}

static bool has_row(uint8_t **rows, const size_t *lens, size_t n, const uint8_t *row, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (lens[i] == len && memcmp(rows[i], row, len) == 0)
            return true;
    return false;
}

/* A resident's current municipality changes by a new row, never by
 * rewriting one: copies of the files taken around two moves show two
 * unrelated new rows, nothing that ties the moves to one person. */
static void test_home_rows_appended(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    uint8_t id[STORE_IDCODE_LEN], **before, **after;
    size_t nb, na, *lb, *la;
    char org[RK_ID_MAX + 1];

    memset(id, 7, sizeof id);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_person_home_get(t, id, org), STORE_ENOTFOUND);
    assert_int_equal(store_person_home_set(t, id, "city.x"), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
    before = table_rows(f, "log_person", &nb, &lb);
    assert_int_equal(nb, 1);

    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_person_home_set(t, id, "town.y"), STORE_OK);
    assert_int_equal(store_person_home_get(t, id, org), STORE_OK);
    assert_string_equal(org, "town.y");
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
    after = table_rows(f, "log_person", &na, &la);
    assert_int_equal(na, 2);
    assert_true(has_row(after, la, na, before[0], lb[0])); /* the old row as it was */
    for (size_t i = 0; i < nb; i++)
        free(before[i]);
    for (size_t i = 0; i < na; i++)
        free(after[i]);
    free(before);
    free(after);
    free(lb);
    free(la);

    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_person_home_get(t, id, org), STORE_OK);
    assert_string_equal(org, "town.y");
    store_abort(&t);
    store_close(&s);
}

static void test_queue_tamper(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    static const uint64_t second[] = {2};
    queue_meta_t m;
    seen_t seen;

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    put_entry(t, "city.x", "town.y", 1, 1000);
    put_entry(t, "city.x", "town.y", 2, 1000);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    damage_queue_row(f, -1); /* last byte of the sealed frame */
    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_queue_scan(t, "city.x", 0, record_entry, &seen), STORE_ECORRUPT);
    assert_int_equal(seen.n, 0); /* nothing of the damaged frame reached the callback */
    assert_scan(t, "city.x", 1, second, 1);
    store_abort(&t);
    store_close(&s);

    damage_queue_row(f, 0); /* the meta's version byte */
    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_queue_take(t, "city.x", 1, &m), STORE_ECORRUPT);
    assert_int_equal(store_queue_next_expired(t, 5000, &m), STORE_ECORRUPT);
    store_abort(&t);
    store_close(&s);
}

/* The clear meta is bound to the sealed frame: a plausible change to it
 * (here the accepted time) is caught, not believed. */
static void test_queue_meta_bound_to_frame(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    seen_t seen;

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    put_entry(t, "city.x", "town.y", 1, 1000);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    damage_queue_row(f, 20); /* first byte of accepted_ms: still parses */
    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_queue_scan(t, "city.x", 0, record_entry, &seen), STORE_ECORRUPT);
    assert_int_equal(seen.n, 0);
    store_abort(&t);
    store_close(&s);
}

/* A queued frame holds link codes and a reply_to; none of them may be
 * readable in the data file. */
static void test_queue_at_rest(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    uint8_t code[RK_CODE_LEN], reply_to[RK_MSGID_LEN], frame[256], *data;
    char hex[RK_CODE_TEXT_LEN + 1], path[512];
    queue_meta_t m = make_meta("water.w", "city.x", 42, 5000);
    size_t len, flen = 0;
    int q;

    /* fake, recognisable values standing for a link code and a reply_to */
    memcpy(code, "TEST-CODE-0001..", RK_CODE_LEN);
    memcpy(reply_to, "TEST-REPLY-0001.", RK_MSGID_LEN);
    rk_code_to_text(code, hex);
    memcpy(frame, "\x0a\x10", 2);
    flen = 2;
    memcpy(frame + flen, code, RK_CODE_LEN);
    flen += RK_CODE_LEN;
    memcpy(frame + flen, hex, RK_CODE_TEXT_LEN);
    flen += RK_CODE_TEXT_LEN;
    memcpy(frame + flen, reply_to, RK_MSGID_LEN);
    flen += RK_MSGID_LEN;

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    for (q = 0; q < 20; q++) {
        m.seq = 42 + (uint64_t)q;
        assert_int_equal(store_queue_put(t, &m, frame, flen), STORE_OK);
    }
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    data = slurp(path, &len);
    /* sanity: the clear meta is there to be found */
    assert_non_null(memmem(data, len, "move-in.notice", 14));
    assert_null(memmem(data, len, code, RK_CODE_LEN));
    assert_null(memmem(data, len, hex, RK_CODE_TEXT_LEN));
    assert_null(memmem(data, len, reply_to, RK_MSGID_LEN));
    free(data);
}

/* A record may carry its message's person (for the private per-person log
 * index): it reads back intact, and at rest it is sealed (a fresh nonce
 * each time): the ID code is nowhere in the file. */
static void test_msg_person_sealed(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    uint8_t id1[RK_MSGID_LEN], id2[RK_MSGID_LEN], person[STORE_IDCODE_LEN];
    msg_record_t r, got;
    char path[4096];
    uint8_t *data;
    size_t len;

    memset(id1, 0x51, sizeof id1);
    memset(id2, 0x52, sizeof id2);
    for (size_t i = 0; i < sizeof person; i++)
        person[i] = (uint8_t)(0xa0 + i);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    r = make_rec("water.w", 1, MSG_QUEUED, 5000);
    r.has_person = true;
    memcpy(r.person, person, sizeof person);
    assert_int_equal(store_msg_put(t, "city.x", id1, &r), STORE_OK);
    assert_int_equal(store_msg_put(t, "city.x", id2, &r), STORE_OK);
    r.has_person = false;
    assert_int_equal(store_msg_put(t, "town.y", id1, &r), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_msg_get(t, "city.x", id2, &got), STORE_OK);
    assert_true(got.has_person);
    assert_memory_equal(got.person, person, sizeof person);
    assert_int_equal(store_msg_get(t, "town.y", id1, &got), STORE_OK);
    assert_false(got.has_person);
    store_abort(&t);
    store_close(&s);

    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    data = slurp(path, &len);
    assert_null(memmem(data, len, person, sizeof person));
    free(data);
}

/* --------------------------------------------------------------- routing log */

#define LOG_SIZES 100

/* A recognisable fake entry i (not a real LogEntry: the store keeps bytes). */
static size_t log_entry_make(uint8_t *buf, size_t cap, uint64_t i)
{
    int n = snprintf((char *)buf, cap, "entry %llu %.*s", (unsigned long long)i, (int)(i % 40),
                     "........................................");
    return (size_t)n;
}

static void sha256_prefixed(uint8_t prefix, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                            uint8_t out[32])
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    if (alen > 0)
        crypto_hash_sha256_update(&st, a, alen);
    if (blen > 0)
        crypto_hash_sha256_update(&st, b, blen);
    crypto_hash_sha256_final(&st, out);
}

/* MTH(D[lo:hi]) straight from RFC 9162 2.1.1, over the leaf hashes. */
static void ref_mth(const uint8_t (*leaves)[32], uint64_t lo, uint64_t hi, uint8_t out[32])
{
    uint8_t l[32], r[32];
    uint64_t k = 1;

    if (hi - lo == 1) {
        memcpy(out, leaves[lo], 32);
        return;
    }
    while (k * 2 < hi - lo)
        k *= 2;
    ref_mth(leaves, lo, lo + k, l);
    ref_mth(leaves, lo + k, hi, r);
    sha256_prefixed(0x01, l, 32, r, 32, out);
}

static void ref_root(const uint8_t (*leaves)[32], uint64_t n, uint8_t out[32])
{
    if (n == 0)
        crypto_hash_sha256(out, NULL, 0);
    else
        ref_mth(leaves, 0, n, out);
}

static void log_append_n(store_t *s, uint64_t from, uint64_t n)
{
    store_txn_t *t = NULL;
    uint8_t buf[128];
    uint64_t idx = UINT64_MAX;

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    for (uint64_t i = from; i < from + n; i++) {
        assert_int_equal(store_log_append(t, buf, log_entry_make(buf, sizeof buf, i), &idx), STORE_OK);
        assert_true(idx == i);
    }
    assert_int_equal(store_commit(&t), STORE_OK);
}

/* Entries come back byte for byte, by index, in a store opened without a
 * master key (renkei-ctl's case); bad calls are refused. */
static void test_log_append_get(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, NULL, 0);
    store_txn_t *t = NULL;
    uint8_t want[128], *got = NULL;
    uint64_t size = 99, idx;
    size_t len, wlen;

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_size(t, &size), STORE_OK);
    assert_true(size == 0);
    assert_int_equal(store_log_get(t, 0, &got, &len), STORE_ENOTFOUND);
    assert_null(got);
    /* a read transaction cannot append */
    assert_int_equal(store_log_append(t, want, 4, &idx), STORE_EINVAL);
    store_abort(&t);

    log_append_n(s, 0, 30);
    /* an aborted append leaves nothing behind */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_log_append(t, (const uint8_t *)"gone", 4, &idx), STORE_OK);
    assert_true(idx == 30);
    assert_int_equal(store_log_append(t, NULL, 4, &idx), STORE_EINVAL);
    assert_int_equal(store_log_append(t, want, 0, &idx), STORE_EINVAL);
    store_abort(&t);

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_size(t, &size), STORE_OK);
    assert_true(size == 30);
    for (uint64_t i = 0; i < 30; i++) {
        wlen = log_entry_make(want, sizeof want, i);
        assert_int_equal(store_log_get(t, i, &got, &len), STORE_OK);
        assert_int_equal(len, wlen);
        assert_memory_equal(got, want, wlen);
        free(got);
    }
    assert_int_equal(store_log_get(t, 30, &got, &len), STORE_ENOTFOUND);
    store_abort(&t);

    /* the next append lands at 30, after the aborted one */
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_log_append(t, (const uint8_t *)"kept", 4, &idx), STORE_OK);
    assert_true(idx == 30);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
}

/* For every size 1..LOG_SIZES the root equals an RFC 9162 reference
 * computed here from the entries, and every inclusion and consistency proof
 * the store gives verifies against those roots. */
static void test_log_tree(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    uint8_t(*leaves)[32] = calloc(LOG_SIZES, 32);
    uint8_t(*roots)[32] = calloc(LOG_SIZES + 1, 32);
    uint8_t path[STORE_PROOF_MAX][STORE_HASH_LEN], buf[128], root[32], empty[32];
    uint64_t n, i, idx;
    size_t np, len;

    assert_non_null(leaves);
    assert_non_null(roots);
    crypto_hash_sha256(empty, NULL, 0);
    memcpy(roots[0], empty, 32);
    for (n = 1; n <= LOG_SIZES; n++) {
        len = log_entry_make(buf, sizeof buf, n - 1);
        sha256_prefixed(0x00, buf, len, NULL, 0, leaves[n - 1]);
        ref_root((const uint8_t(*)[32])leaves, n, roots[n]);
        assert_int_equal(store_begin(s, true, &t), STORE_OK);
        assert_int_equal(store_log_append(t, buf, len, &idx), STORE_OK);
        /* the root is current inside the appending transaction */
        assert_int_equal(store_log_root(t, n, root), STORE_OK);
        assert_memory_equal(root, roots[n], 32);
        assert_int_equal(store_commit(&t), STORE_OK);
    }

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_root(t, 0, root), STORE_OK);
    assert_memory_equal(root, empty, 32);
    assert_int_equal(store_log_root(t, LOG_SIZES + 1, root), STORE_EINVAL);
    for (n = 1; n <= LOG_SIZES; n++) {
        assert_int_equal(store_log_root(t, n, root), STORE_OK);
        assert_memory_equal(root, roots[n], 32);
        for (i = 0; i < n; i++) {
            assert_int_equal(store_log_inclusion(t, i, n, path, &np), STORE_OK);
            assert_int_equal(tlog_verify_inclusion(i, n, leaves[i], &path[0][0], np, roots[n]), TLOG_OK);
            /* and it proves nothing about another leaf */
            assert_int_equal(tlog_verify_inclusion(i, n, leaves[(i + 1) % LOG_SIZES], &path[0][0], np, roots[n]),
                             TLOG_EPROOF);
        }
        for (i = 0; i <= n; i++) {
            assert_int_equal(store_log_consistency(t, i, n, path, &np), STORE_OK);
            assert_int_equal(tlog_verify_consistency(i, n, roots[i], roots[n], &path[0][0], np), TLOG_OK);
        }
        if (n > 2) { /* a rewritten history is not consistent */
            assert_int_equal(store_log_consistency(t, 2, n, path, &np), STORE_OK);
            assert_int_equal(tlog_verify_consistency(2, n, roots[1], roots[n], &path[0][0], np), TLOG_EPROOF);
        }
    }
    assert_int_equal(store_log_inclusion(t, 5, 5, path, &np), STORE_EINVAL);
    assert_int_equal(np, 0);
    assert_int_equal(store_log_inclusion(t, 0, LOG_SIZES + 1, path, &np), STORE_EINVAL);
    assert_int_equal(store_log_consistency(t, 6, 5, path, &np), STORE_EINVAL);
    assert_int_equal(store_log_consistency(t, 1, LOG_SIZES + 1, path, &np), STORE_EINVAL);
    store_abort(&t);
    store_close(&s);
    free(leaves);
    free(roots);
}

/* Entries, tree and checkpoint survive a reopen (under the master key or
 * without it); the log goes on where it stopped. */
static void test_log_persistence(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    uint8_t before[32], after[32], path[STORE_PROOF_MAX][STORE_HASH_LEN], *got;
    uint64_t size = 0;
    size_t np, len;
    char *note = NULL;

    log_append_n(s, 0, 37);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_log_root(t, 37, before), STORE_OK);
    assert_int_equal(store_log_checkpoint_put(t, "example.org/log\n37\nroot\n"), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    s = open_ok(f, NULL, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_size(t, &size), STORE_OK);
    assert_true(size == 37);
    assert_int_equal(store_log_root(t, 37, after), STORE_OK);
    assert_memory_equal(before, after, 32);
    assert_int_equal(store_log_checkpoint_get(t, &note), STORE_OK);
    assert_string_equal(note, "example.org/log\n37\nroot\n");
    free(note);
    store_abort(&t);
    log_append_n(s, 37, 20);
    store_close(&s);

    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_size(t, &size), STORE_OK);
    assert_true(size == 57);
    assert_int_equal(store_log_get(t, 56, &got, &len), STORE_OK);
    assert_true(len > 9 && memcmp(got, "entry 56 ", 9) == 0);
    free(got);
    assert_int_equal(store_log_root(t, 57, after), STORE_OK);
    assert_int_equal(store_log_consistency(t, 37, 57, path, &np), STORE_OK);
    assert_int_equal(tlog_verify_consistency(37, 57, before, after, &path[0][0], np), TLOG_OK);
    store_abort(&t);
    store_close(&s);
}

static void test_log_checkpoint(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, NULL, 0);
    store_txn_t *t = NULL;
    char *note = (char *)"untouched";

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_log_checkpoint_get(t, &note), STORE_ENOTFOUND);
    assert_null(note);
    assert_int_equal(store_log_checkpoint_put(t, ""), STORE_EINVAL);
    assert_int_equal(store_log_checkpoint_put(t, NULL), STORE_EINVAL);
    assert_int_equal(store_log_checkpoint_put(t, "first\n1\n"), STORE_OK);
    assert_int_equal(store_log_checkpoint_put(t, "second\n2\n"), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_checkpoint_put(t, "third\n"), STORE_EINVAL); /* read-only */
    assert_int_equal(store_log_checkpoint_get(t, &note), STORE_OK);
    assert_string_equal(note, "second\n2\n"); /* the newest replaced the first */
    free(note);
    store_abort(&t);
    store_close(&s);
}

typedef struct idx_list {
    uint64_t v[300];
    size_t n;
    size_t stop_at; /* stop after this many (0: never) */
} idx_list_t;

static int collect_idx(uint64_t index, void *ctx)
{
    idx_list_t *l = ctx;

    if (l->n < sizeof l->v / sizeof l->v[0])
        l->v[l->n++] = index;
    return l->stop_at != 0 && l->n >= l->stop_at;
}

/* Fake, recognisable ID codes (16 bytes each). */
static const uint8_t PERSON_A[STORE_IDCODE_LEN] = "TEST-IDCODE-0001";
static const uint8_t PERSON_B[STORE_IDCODE_LEN] = "TEST-IDCODE-0002";

/* A person's row count is found by probing: counts on both sides of
 * powers of two, with another person's rows interleaved, in one and in
 * several transactions, all come back whole and in order. */
static void test_log_person_many(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    idx_list_t a = {{0}, 0, 0}, b = {{0}, 0, 0};
    const size_t n_a = sizeof a.v / sizeof a.v[0], n_b = 129;
    size_t i;

    assert_true(n_a > n_b);
    for (i = 0; i < n_a; i++) {
        if (t == NULL)
            assert_int_equal(store_begin(s, true, &t), STORE_OK);
        assert_int_equal(store_log_person_add(t, PERSON_A, 1000 + i), STORE_OK);
        if (i < n_b)
            assert_int_equal(store_log_person_add(t, PERSON_B, 5000 + i), STORE_OK);
        if (i % 37 == 36)
            assert_int_equal(store_commit(&t), STORE_OK);
        if (i == 0 || i == 1 || i == 2 || i == 3 || i == 63 || i == 64 || i == 127 || i == 128) {
            /* the count just below, at and above powers of two */
            a.n = 0;
            assert_int_equal(store_log_person_list(t, PERSON_A, collect_idx, &a), STORE_OK);
            assert_int_equal(a.n, i + 1);
            assert_true(a.v[i] == 1000 + i);
        }
    }
    assert_int_equal(store_commit(&t), STORE_OK);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    a.n = 0;
    assert_int_equal(store_log_person_list(t, PERSON_A, collect_idx, &a), STORE_OK);
    assert_int_equal(store_log_person_list(t, PERSON_B, collect_idx, &b), STORE_OK);
    assert_int_equal(a.n, n_a);
    assert_int_equal(b.n, n_b);
    for (i = 0; i < n_a; i++)
        assert_true(a.v[i] == 1000 + i);
    for (i = 0; i < n_b; i++)
        assert_true(b.v[i] == 5000 + i);
    store_abort(&t);
    store_close(&s);
}

/* A message's later entries come back by its seq, oldest first, and only
 * its own: neighbouring seqs do not leak into each other. */
static void test_log_seq(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    idx_list_t a = {{0}, 0, 0}, b = {{0}, 0, 0}, none = {{0}, 0, 0};

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_log_seq_add(t, 41, 900), STORE_OK);
    assert_int_equal(store_log_seq_add(t, 42, 17), STORE_OK);
    assert_int_equal(store_log_seq_add(t, 43, 18), STORE_OK);
    assert_int_equal(store_log_seq_add(t, 42, 250), STORE_OK);
    assert_int_equal(store_log_seq_add(t, 42, 19), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_seq_list(t, 42, collect_idx, &a), STORE_OK);
    assert_int_equal(a.n, 3);
    assert_true(a.v[0] == 17 && a.v[1] == 19 && a.v[2] == 250);
    assert_int_equal(store_log_seq_list(t, 41, collect_idx, &b), STORE_OK);
    assert_int_equal(b.n, 1);
    assert_true(b.v[0] == 900);
    assert_int_equal(store_log_seq_list(t, 40, collect_idx, &none), STORE_OK);
    assert_int_equal(store_log_seq_list(t, 44, collect_idx, &none), STORE_OK);
    assert_int_equal(none.n, 0);
    a.n = 0;
    a.stop_at = 1;
    assert_int_equal(store_log_seq_list(t, 42, collect_idx, &a), STORE_OK);
    assert_int_equal(a.n, 1);
    assert_int_equal(store_log_seq_add(t, 45, 1), STORE_EINVAL); /* read-only */
    store_abort(&t);
    store_close(&s);
}

/* Each person's indexes come back in the order they were added, one
 * person's rows are not another's, and they survive a reopen. */
static void test_log_person(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    idx_list_t a = {{0}, 0, 0}, b = {{0}, 0, 0}, none = {{0}, 0, 0};
    static const uint64_t want_a[] = {7, 3, 3, 120, 0};
    static const uint64_t want_b[] = {8, 9};
    uint8_t other[STORE_IDCODE_LEN];
    size_t i;

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    for (i = 0; i < 3; i++)
        assert_int_equal(store_log_person_add(t, PERSON_A, want_a[i]), STORE_OK);
    assert_int_equal(store_log_person_add(t, PERSON_B, want_b[0]), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_log_person_add(t, PERSON_A, want_a[3]), STORE_OK);
    assert_int_equal(store_log_person_add(t, PERSON_B, want_b[1]), STORE_OK);
    assert_int_equal(store_log_person_add(t, PERSON_A, want_a[4]), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    s = open_ok(f, MASTER_A, 0);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_person_list(t, PERSON_A, collect_idx, &a), STORE_OK);
    assert_int_equal(a.n, 5);
    for (i = 0; i < 5; i++)
        assert_true(a.v[i] == want_a[i]);
    assert_int_equal(store_log_person_list(t, PERSON_B, collect_idx, &b), STORE_OK);
    assert_int_equal(b.n, 2);
    assert_true(b.v[0] == 8 && b.v[1] == 9);
    /* someone never noted has no entries */
    memcpy(other, "TEST-IDCODE-0003", STORE_IDCODE_LEN);
    assert_int_equal(store_log_person_list(t, other, collect_idx, &none), STORE_OK);
    assert_int_equal(none.n, 0);
    /* the callback can stop the walk */
    a.n = 0;
    a.stop_at = 2;
    assert_int_equal(store_log_person_list(t, PERSON_A, collect_idx, &a), STORE_OK);
    assert_int_equal(a.n, 2);
    assert_int_equal(store_log_person_add(t, PERSON_A, 1), STORE_EINVAL); /* read-only */
    store_abort(&t);
    store_close(&s);

    /* under another master key the index is unreadable, not mixed up */
    {
        char why[256];
        assert_int_equal(store_open(f->dir, MASTER_B, 0, &s, why, sizeof why), STORE_EMASTER);
        assert_null(s);
    }
}

/* Without the master key the log works but the person index does not. */
static void test_log_no_master(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, NULL, 0);
    store_txn_t *t = NULL;
    idx_list_t l = {{0}, 0, 0};
    org_t gas = make_org("gas.z", ORG_UTILITY, 4);
    rk_log_entry_t e;
    uint8_t *got;
    uint64_t size = 0;
    size_t len;
    char why[128];

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    assert_int_equal(store_org_add(t, &gas), STORE_OK);
    assert_int_equal(store_log_org_event(t, RK_EV_ORG_REGISTERED, &gas, 1700000000123ull), STORE_OK);
    assert_int_equal(store_log_org_event(t, RK_EV_ACCEPTED, &gas, 1), STORE_EINVAL); /* not an org event */
    assert_int_equal(store_log_person_add(t, PERSON_A, 0), STORE_EMASTER);
    assert_int_equal(store_log_person_list(t, PERSON_A, collect_idx, &l), STORE_EMASTER);
    assert_int_equal(store_commit(&t), STORE_OK);

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_size(t, &size), STORE_OK);
    assert_true(size == 1);
    assert_int_equal(store_log_get(t, 0, &got, &len), STORE_OK);
    assert_int_equal(rk_log_entry_decode(got, len, &e, why, sizeof why), RK_WIRE_OK);
    free(got);
    assert_int_equal(e.event, RK_EV_ORG_REGISTERED);
    assert_true(e.time_ms == 1700000000123ull);
    assert_string_equal(e.from, "gas.z");
    assert_string_equal(e.kind, "utility");
    assert_string_equal(e.to, "");
    store_abort(&t);
    store_close(&s);
}

#define PERSON_ROWS 20

/* At rest the person index holds neither ID code, and no two of its rows
 * share any 16-byte run: rows of one person cannot be grouped. */
static void test_log_person_at_rest(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, 0);
    store_txn_t *t = NULL;
    uint8_t *data, rows[4 * PERSON_ROWS + 8][256];
    size_t len, nrows = 0, rlen[4 * PERSON_ROWS + 8], i, j, k, shared = 0;
    char path[512];
    MDB_env *env = NULL;
    MDB_txn *mt = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc;

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    for (i = 0; i < PERSON_ROWS; i++) {
        uint64_t idx;
        assert_int_equal(store_log_append(t, (const uint8_t *)"x", 1, &idx), STORE_OK);
        /* both persons on the same entries: the index values are equal too */
        assert_int_equal(store_log_person_add(t, PERSON_A, idx), STORE_OK);
        assert_int_equal(store_log_person_add(t, PERSON_B, idx), STORE_OK);
    }
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);

    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    data = slurp(path, &len);
    assert_null(memmem(data, len, PERSON_A, STORE_IDCODE_LEN));
    assert_null(memmem(data, len, PERSON_B, STORE_IDCODE_LEN));
    assert_null(memmem(data, len, "TEST-IDCODE", 11));
    free(data);

    /* every row of the index, read behind the store's back */
    assert_int_equal(mdb_env_create(&env), MDB_SUCCESS);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), MDB_SUCCESS);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_RDONLY, 0600), MDB_SUCCESS);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &mt), MDB_SUCCESS);
    assert_int_equal(mdb_dbi_open(mt, "log_person", 0, &dbi), MDB_SUCCESS);
    assert_int_equal(mdb_cursor_open(mt, dbi, &cur), MDB_SUCCESS);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        assert_true(nrows < sizeof rows / sizeof rows[0]);
        assert_true(key.mv_size + val.mv_size <= sizeof rows[0]);
        memcpy(rows[nrows], key.mv_data, key.mv_size);
        memcpy(rows[nrows] + key.mv_size, val.mv_data, val.mv_size);
        rlen[nrows++] = key.mv_size + val.mv_size;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(mt);
    mdb_env_close(env);
    /* 2 persons x PERSON_ROWS rows, nothing else */
    assert_int_equal(nrows, 2 * PERSON_ROWS);
    for (i = 0; i < nrows; i++) {
        for (j = 0; j < nrows; j++) {
            if (i == j)
                continue;
            for (k = 0; k + 16 <= rlen[i]; k++) {
                if (memmem(rows[j], rlen[j], rows[i] + k, 16) != NULL) {
                    print_error("rows %zu and %zu of the person index share 16 bytes\n", i, j);
                    shared++;
                    break;
                }
            }
        }
    }
    assert_int_equal(shared, 0);
}

#define LOG_BIG 1500

/* A map that fills up fails the transaction with STORE_EFULL; everything
 * committed before stays, with a tree that still proves it. */
static void test_log_map_full(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f, MASTER_A, TINY_MAP);
    store_txn_t *t = NULL;
    uint8_t big[LOG_BIG], root[32], old_root[32], path[STORE_PROOF_MAX][STORE_HASH_LEN], *got;
    uint64_t kept = 0, n = 0, idx, size = 0;
    store_err err = STORE_OK;
    size_t np, len, i;

    for (;;) {
        assert_true(n < 100000);
        assert_int_equal(store_begin(s, true, &t), STORE_OK);
        for (i = 0; i < 5 && err == STORE_OK; i++) {
            memset(big, (int)(n & 0xff), sizeof big);
            memcpy(big, &n, sizeof n);
            err = store_log_append(t, big, sizeof big, &idx);
            if (err == STORE_OK)
                err = store_log_person_add(t, PERSON_A, idx);
            n++;
        }
        if (err != STORE_OK) {
            assert_int_equal(err, STORE_EFULL);
            /* the dead transaction refuses more and commits nothing */
            assert_int_equal(store_log_append(t, big, sizeof big, &idx), STORE_EFULL);
            assert_int_equal(store_commit(&t), STORE_EFULL);
            break;
        }
        err = store_commit(&t);
        if (err != STORE_OK) {
            assert_int_equal(err, STORE_EFULL);
            break;
        }
        kept = n;
    }
    assert_true(kept > 0);
    print_message("map of %zu bytes full after %llu log entries\n", TINY_MAP, (unsigned long long)kept);

    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_size(t, &size), STORE_OK);
    assert_true(size == kept);
    for (i = 0; i < kept; i++) {
        uint64_t v;
        assert_int_equal(store_log_get(t, i, &got, &len), STORE_OK);
        assert_int_equal(len, LOG_BIG);
        memcpy(&v, got, sizeof v);
        assert_true(v == i);
        free(got);
    }
    assert_int_equal(store_log_get(t, kept, &got, &len), STORE_ENOTFOUND);
    {
        idx_list_t l = {{0}, 0, 0};
        assert_int_equal(store_log_person_list(t, PERSON_A, collect_idx, &l), STORE_OK);
        assert_true(l.n == (kept < 64 ? kept : 64));
    }
    assert_int_equal(store_log_root(t, kept, old_root), STORE_OK);
    store_abort(&t);
    store_close(&s);

    /* with a larger map the log goes on, consistent with what was kept */
    s = open_ok(f, MASTER_A, TINY_MAP * 8);
    log_append_n(s, kept, 3);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_root(t, kept + 3, root), STORE_OK);
    assert_int_equal(store_log_consistency(t, kept, kept + 3, path, &np), STORE_OK);
    assert_int_equal(tlog_verify_consistency(kept, kept + 3, old_root, root, &path[0][0], np), TLOG_OK);
    store_abort(&t);
    store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_org_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_org_rekey_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codes_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence_and_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_at_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_take, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msgs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msg_person_sealed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_no_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_rows_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_meta_bound_to_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_at_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_append_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_person, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_person_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_no_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_person_at_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_map_full, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
