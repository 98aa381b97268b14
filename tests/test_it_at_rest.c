/*
 * test_it_at_rest - the hub's ID-code table links nobody without the master
 * key.  After a whole move the hub is stopped and its data.mdb is opened
 * with liblmdb directly, read-only and without the master key, the way
 * someone who copied the disk would.  Every named database is read.
 *
 * What is checked, in every key and value of every database:
 *   - no link code any agent holds appears, as raw 16 bytes or as hex
 *     (either case); the raw files are scanned too, free pages included;
 *   - the person's number does not appear.
 * In the ID-code tables ("code_fwd", "code_rev"; the other databases hold
 * organizations and routing metadata -- queues, message ids -- which name
 * orgs but, as checked above, no link code):
 *   - the tables are not empty (one record per org that knows the person,
 *     in each direction), so the checks below have something to look at;
 *   - no two records share a value;
 *   - no org id appears in clear, so records cannot be grouped by org;
 *   - no two records share any 16-byte run of bytes (key or value): an ID
 *     code stored in clear, or any other common field, would show up as
 *     such a run in both city.x's and power's records, and that is the only
 *     way to join them without the key.
 * Finally the master key is not in the data dir: no file there is a master
 * key file, and the key's bytes (raw or base64) are in none of them.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctype.h>
#include <cmocka.h>
#include <limits.h>
#include <lmdb.h>
#include <sodium.h>

#include "harness.h"
#include "keys.h"
#include "wire.h"

#define NORGS (2 + IT_NUTIL)
#define MAX_RECS 4096

typedef struct rec {
    char db[128];
    uint8_t *key, *val;
    size_t klen, vlen;
} rec_t;

typedef struct fixture {
    it_env_t *env;
    it_move_t move;
    const char *org[NORGS];
    const char *code[NORGS];
    rec_t *recs;
    size_t nrecs;
    char dbs[64][128];
    size_t ndbs;
} fixture_t;

static int collect(fixture_t *fx, MDB_txn *txn, MDB_dbi dbi, const char *name)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;
    if (mdb_cursor_open(txn, dbi, &cur) != MDB_SUCCESS)
        return -1;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rec_t *r;
        if (fx->nrecs >= MAX_RECS)
            break;
        r = &fx->recs[fx->nrecs++];
        snprintf(r->db, sizeof r->db, "%s", name);
        r->key = malloc(k.mv_size + 1);
        r->val = malloc(v.mv_size + 1);
        if (r->key == NULL || r->val == NULL)
            break;
        memcpy(r->key, k.mv_data, k.mv_size);
        memcpy(r->val, v.mv_data, v.mv_size);
        r->klen = k.mv_size;
        r->vlen = v.mv_size;
    }
    mdb_cursor_close(cur);
    return 0;
}

/* Reads every record of every named database (and of the main one, if it
 * holds anything but database names). */
static int read_store(fixture_t *fx)
{
    MDB_env *menv = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi main_dbi;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;

    fx->recs = calloc(MAX_RECS, sizeof *fx->recs);
    if (fx->recs == NULL || mdb_env_create(&menv) != MDB_SUCCESS)
        return -1;
    mdb_env_set_maxdbs(menv, 64);
    if ((rc = mdb_env_open(menv, it_hub_data(fx->env), MDB_RDONLY, 0600)) != MDB_SUCCESS) {
        fprintf(stderr, "mdb_env_open(%s): %s\n", it_hub_data(fx->env), mdb_strerror(rc));
        goto fail;
    }
    if (mdb_txn_begin(menv, NULL, MDB_RDONLY, &txn) != MDB_SUCCESS ||
        mdb_dbi_open(txn, NULL, 0, &main_dbi) != MDB_SUCCESS ||
        mdb_cursor_open(txn, main_dbi, &cur) != MDB_SUCCESS)
        goto fail;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char name[128];
        MDB_dbi dbi;
        if (k.mv_size == 0 || k.mv_size >= sizeof name)
            continue;
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        if (memchr(name, '\0', k.mv_size) == NULL && mdb_dbi_open(txn, name, 0, &dbi) == MDB_SUCCESS) {
            if (fx->ndbs < 64)
                snprintf(fx->dbs[fx->ndbs++], sizeof fx->dbs[0], "%s", name);
            if (collect(fx, txn, dbi, name) != 0)
                goto fail;
        }
    }
    mdb_cursor_close(cur);
    cur = NULL;
    /* records kept directly in the main database (not database names) */
    {
        size_t before = fx->nrecs, i, j;
        if (collect(fx, txn, main_dbi, "(main)") != 0)
            goto fail;
        for (i = before, j = before; i < fx->nrecs; i++) {
            bool is_db = false;
            size_t d;
            for (d = 0; d < fx->ndbs; d++)
                if (fx->recs[i].klen == strlen(fx->dbs[d]) &&
                    memcmp(fx->recs[i].key, fx->dbs[d], fx->recs[i].klen) == 0)
                    is_db = true;
            if (is_db) {
                free(fx->recs[i].key);
                free(fx->recs[i].val);
            } else {
                fx->recs[j++] = fx->recs[i];
            }
        }
        fx->nrecs = j;
    }
    mdb_txn_abort(txn);
    mdb_env_close(menv);
    return 0;
fail:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    mdb_env_close(menv);
    return -1;
}

static int setup(void **state)
{
    static fixture_t fx;
    char why[2048] = "";
    size_t i;
    int st;

    memset(&fx, 0, sizeof fx);
    *state = &fx;
    if (sodium_init() < 0)
        return -1;
    fx.env = it_env_new();
    if (fx.env == NULL)
        return -1;
    if (it_move_setup(fx.env, &fx.move, why, sizeof why) != 0 ||
        it_move_run(fx.env, &fx.move, why, sizeof why) != 0) {
        fprintf(stderr, "setup: the move did not complete: %s\n", why);
        return -1;
    }
    st = it_hub_stop(fx.env);
    if (st != 0) {
        fprintf(stderr, "setup: renkei-hub did not exit cleanly on SIGTERM (status %d)\n", st);
        return -1;
    }
    fx.org[0] = "city.x";
    fx.code[0] = fx.move.code_x;
    fx.org[1] = "town.y";
    fx.code[1] = fx.move.code_y;
    for (i = 0; i < IT_NUTIL; i++) {
        fx.org[2 + i] = it_utilities[i];
        fx.code[2 + i] = fx.move.seen_stop[i].code;
    }
    if (read_store(&fx) != 0) {
        fprintf(stderr, "setup: cannot read the hub's LMDB without the master key\n");
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    size_t i;
    if (fx == NULL)
        return 0;
    for (i = 0; fx->recs != NULL && i < fx->nrecs; i++) {
        free(fx->recs[i].key);
        free(fx->recs[i].val);
    }
    free(fx->recs);
    fx->recs = NULL;
    it_move_clear(&fx->move);
    it_env_destroy(&fx->env);
    return 0;
}

static bool in_rec(const rec_t *r, const void *needle, size_t len)
{
    return (r->klen >= len && memmem(r->key, r->klen, needle, len) != NULL) ||
           (r->vlen >= len && memmem(r->val, r->vlen, needle, len) != NULL);
}

static bool is_code_table(const char *db)
{
    return strcmp(db, "code_fwd") == 0 || strcmp(db, "code_rev") == 0;
}

static void test_no_link_code_at_rest(void **state)
{
    fixture_t *fx = *state;
    size_t i, j;
    char where[2048];

    assert_true(fx->nrecs > 0);
    for (i = 0; i < NORGS; i++) {
        uint8_t raw[RK_CODE_LEN];
        char upper[RK_CODE_TEXT_LEN + 1];
        size_t c;
        assert_int_equal(strlen(fx->code[i]), RK_CODE_TEXT_LEN);
        assert_true(rk_code_from_text(fx->code[i], raw));
        for (c = 0; c <= RK_CODE_TEXT_LEN; c++)
            upper[c] = (char)toupper((unsigned char)fx->code[i][c]);
        for (j = 0; j < fx->nrecs; j++) {
            const rec_t *r = &fx->recs[j];
            if (in_rec(r, raw, RK_CODE_LEN) || in_rec(r, fx->code[i], RK_CODE_TEXT_LEN) ||
                in_rec(r, upper, RK_CODE_TEXT_LEN))
                fail_msg("%s's link code is stored in clear in database %s", fx->org[i], r->db);
        }
        /* The raw files too, including free and stale pages. */
        if (it_tree_contains(it_hub_data(fx->env), raw, RK_CODE_LEN, where, sizeof where) ||
            it_tree_contains(it_hub_data(fx->env), fx->code[i], RK_CODE_TEXT_LEN, where,
                             sizeof where) ||
            it_tree_contains(it_hub_data(fx->env), upper, RK_CODE_TEXT_LEN, where, sizeof where))
            fail_msg("%s's link code is in the hub's file %s", fx->org[i], where);
    }
    for (j = 0; j < fx->nrecs; j++)
        if (in_rec(&fx->recs[j], IT_PERSON, strlen(IT_PERSON)))
            fail_msg("the person's number is stored in database %s", fx->recs[j].db);
}

static void test_code_tables_cannot_be_joined(void **state)
{
    fixture_t *fx = *state;
    size_t i, j, o, ncode = 0;
    static const char *const org_ids[] = {"city.x", "town.y", "power", "gas", "water"};

    for (i = 0; i < fx->nrecs; i++)
        if (is_code_table(fx->recs[i].db))
            ncode++;
    /* five orgs know the person: at least one record per org */
    if (ncode < NORGS)
        fail_msg("only %zu records in the code tables after a move that touched %d orgs", ncode,
                 NORGS);

    for (i = 0; i < fx->nrecs; i++) {
        const rec_t *a = &fx->recs[i];
        if (!is_code_table(a->db))
            continue;
        for (o = 0; o < sizeof org_ids / sizeof org_ids[0]; o++)
            if (in_rec(a, org_ids[o], strlen(org_ids[o])))
                fail_msg("a record in %s names org %s in clear", a->db, org_ids[o]);
        for (j = i + 1; j < fx->nrecs; j++) {
            const rec_t *b = &fx->recs[j];
            size_t w;
            if (!is_code_table(b->db))
                continue;
            if (a->vlen == b->vlen && memcmp(a->val, b->val, a->vlen) == 0)
                fail_msg("two records (in %s and %s) have the same value", a->db, b->db);
            /* any 16-byte run of a (key or value) found anywhere in b */
            for (w = 0; w + 16 <= a->klen + a->vlen; w++) {
                const uint8_t *win;
                size_t q;
                bool flat = true;
                if (w + 16 <= a->klen)
                    win = a->key + w;
                else if (w >= a->klen)
                    win = a->val + (w - a->klen);
                else
                    continue; /* straddles key and value: not one field */
                for (q = 1; q < 16; q++)
                    if (win[q] != win[0])
                        flat = false;
                if (flat)
                    continue; /* runs of one byte (padding) join nothing */
                if (in_rec(b, win, 16))
                    fail_msg("records in %s and %s share a 16-byte field: they can be joined "
                             "without the master key", a->db, b->db);
            }
        }
    }
}

static void test_master_key_not_in_data_dir(void **state)
{
    fixture_t *fx = *state;
    uint8_t *key = NULL;
    char why[512], b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    char where[2048], rp_master[PATH_MAX], rp_data[PATH_MAX];
    size_t dl;

    assert_non_null(realpath(it_master_path(fx->env), rp_master));
    assert_non_null(realpath(it_hub_data(fx->env), rp_data));
    dl = strlen(rp_data);
    assert_false(strncmp(rp_master, rp_data, dl) == 0 && rp_master[dl] == '/');
    if (it_tree_contains(it_hub_data(fx->env), "renkei-master-key", 17, where, sizeof where))
        fail_msg("a master key file is inside the data dir: %s", where);
    assert_int_equal(rk_master_load(it_master_path(fx->env), &key, why, sizeof why), RK_KEYS_OK);
    sodium_bin2base64(b64, sizeof b64, key, 32, sodium_base64_VARIANT_ORIGINAL);
    if (it_tree_contains(it_hub_data(fx->env), key, 32, where, sizeof where))
        fail_msg("the master key's bytes are stored in %s", where);
    if (it_tree_contains(it_hub_data(fx->env), b64, strlen(b64), where, sizeof where))
        fail_msg("the master key (base64) is stored in %s", where);
    sodium_memzero(b64, sizeof b64);
    rk_master_destroy(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_link_code_at_rest),
        cmocka_unit_test(test_code_tables_cannot_be_joined),
        cmocka_unit_test(test_master_key_not_in_data_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
