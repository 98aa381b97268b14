/*
 * test_reseal.c - re-sealing the hub's store under a new master key
 * (hub/reseal.h) against real LMDB directories: after it, every link code
 * resolves to the same ID code under the new key, the queues, open
 * requests, per-person log index and current municipalities read the same,
 * the routing log is unchanged but for one entry at its end, and the old
 * key is refused; stopped after any number of batches and run again, it
 * ends in the same store.
 */
#include <dirent.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "reseal.h"
#include "store.h"
#include "store_internal.h"

static const uint8_t KEY_OLD[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t KEY_NEW[32] = {32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
                                    16, 15, 14, 13, 12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1};
static const uint8_t KEY_OTHER[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                      7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

#define N_ORGS 4
#define N_PERSONS 24
#define N_QUEUED 9
#define N_MSGS 6
#define N_LOG 13

static const char *const ORGS[N_ORGS] = {"city.x", "gas", "power", "town.y"};

/* What the store held before the re-seal, to compare with after it. */
typedef struct person {
    uint8_t id[STORE_IDCODE_LEN];
    bool known[N_ORGS];
    uint8_t code[N_ORGS][RK_CODE_LEN];
    uint64_t index[8];
    size_t n_index;
    char home[RK_ID_MAX + 1];
} person_t;

typedef struct fixture {
    char dir[256];
    person_t persons[N_PERSONS];
    uint8_t msg_ids[N_MSGS][RK_MSGID_LEN];
    msg_record_t msgs[N_MSGS];
    uint8_t root[STORE_HASH_LEN];
    uint64_t log_size;
    char *checkpoint;
    size_t person_rows; /* rows of log_person */
} fixture_t;

static void frame_of(uint64_t seq, uint8_t *buf, size_t *len)
{
    *len = 40 + (size_t)(seq % 7);
    for (size_t i = 0; i < *len; i++)
        buf[i] = (uint8_t)(seq * 31 + i);
}

static store_t *open_with(const fixture_t *f, const uint8_t *master, store_err want)
{
    char why[512] = "";
    store_t *s = NULL;
    store_err err = store_open(f->dir, master, 0, &s, why, sizeof why);

    if (err != want)
        print_error("store_open: %s (%s)\n", store_strerror(err), why);
    assert_int_equal(err, want);
    return s;
}

/* Rows in a table, or -1 if there is no such table. */
static long table_rows(const fixture_t *f, const char *name)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi d;
    MDB_stat st;
    long n = -1;

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_NOTLS | MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    if (mdb_dbi_open(txn, name, 0, &d) == 0 && mdb_stat(txn, d, &st) == 0)
        n = (long)st.ms_entries;
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return n;
}

/* The row key of a person's count row, which early stores wrote (and
 * nothing reads any more): H_disclose(ID code || "count"). */
static void count_key(const uint8_t *master, const uint8_t id[STORE_IDCODE_LEN], uint8_t out[32],
                      struct store_keys **keys)
{
    uint8_t buf[STORE_IDCODE_LEN + 5], check[STORE_CHECK_LEN];

    assert_int_equal(store_keys_derive(master, keys, check), STORE_OK);
    memcpy(buf, id, STORE_IDCODE_LEN);
    memcpy(buf + STORE_IDCODE_LEN, "count", 5);
    crypto_generichash(out, 32, buf, sizeof buf, (*keys)->disclose, STORE_SUBKEY_LEN);
}

/* Writes (seal) or reads (!seal) the count row of person id under master,
 * straight in LMDB; reading, true if it is there and opens to 3. */
static bool count_row(const fixture_t *f, const uint8_t *master, const uint8_t id[STORE_IDCODE_LEN],
                      bool seal)
{
    const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    struct store_keys *keys = NULL;
    uint8_t k[32], box[48], plain[8] = {3};
    MDB_val key = {sizeof k, k}, val = {sizeof box, box};
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi d;
    bool ok = true;

    count_key(master, id, k, &keys);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, seal ? 0 : MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log_person", 0, &d), 0);
    if (seal) {
        randombytes_buf(box, nb);
        crypto_aead_xchacha20poly1305_ietf_encrypt(box + nb, NULL, plain, sizeof plain, k, sizeof k, NULL,
                                                   box, keys->seal);
        assert_int_equal(mdb_put(txn, d, &key, &val, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
    } else {
        ok = mdb_get(txn, d, &key, &val) == 0 && val.mv_size == sizeof box &&
             crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, (const uint8_t *)val.mv_data + nb,
                                                        sizeof box - nb, k, sizeof k, val.mv_data,
                                                        keys->seal) == 0 &&
             plain[0] == 3;
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    store_keys_free(&keys);
    return ok;
}

/* A store under KEY_OLD with people known to several organizations, their
 * log index and moves, queued frames, open requests and a routing log. */
static void build(fixture_t *f)
{
    store_t *s = open_with(f, KEY_OLD, STORE_OK);
    store_txn_t *t = NULL;
    uint8_t frame[64], entry[32];
    size_t len;

    assert_int_equal(store_begin(s, true, &t), STORE_OK);
    for (int i = 0; i < N_ORGS; i++) {
        org_t o;
        memset(&o, 0, sizeof o);
        snprintf(o.id, sizeof o.id, "%s", ORGS[i]);
        o.kind = i == 0 || i == 3 ? ORG_MUNICIPALITY : ORG_UTILITY;
        o.status = ORG_ACTIVE;
        memset(o.sign_pk, i + 1, sizeof o.sign_pk);
        memset(o.curve_pk, i + 101, sizeof o.curve_pk);
        assert_int_equal(store_org_add(t, &o), STORE_OK);
    }
    for (uint64_t i = 0; i < N_LOG; i++) {
        memset(entry, (int)i + 1, sizeof entry);
        assert_int_equal(store_log_append(t, entry, sizeof entry, NULL), STORE_OK);
    }
    assert_int_equal(store_log_checkpoint_put(t, "renkei-hub\n13\nroot\n\n- sig\n"), STORE_OK);
    for (int p = 0; p < N_PERSONS; p++) {
        person_t *ps = &f->persons[p];
        assert_int_equal(store_person_new_id(t, ORGS[0], ps->code[0], ps->id), STORE_OK);
        ps->known[0] = true;
        for (int o = 1; o < N_ORGS; o++)
            if ((p + o) % 3 != 0) {
                assert_int_equal(store_code_issue(t, ps->id, ORGS[o], ps->code[o]), STORE_OK);
                ps->known[o] = true;
            }
        ps->n_index = (size_t)(p % 5);
        for (size_t n = 0; n < ps->n_index; n++) {
            ps->index[n] = (uint64_t)(p + n) % N_LOG;
            assert_int_equal(store_log_person_add(t, ps->id, ps->index[n]), STORE_OK);
        }
        if (p % 4 != 3) {
            assert_int_equal(store_person_home_set(t, ps->id, ORGS[0]), STORE_OK);
            snprintf(ps->home, sizeof ps->home, "%s", ORGS[0]);
            if (p % 2 == 0) { /* moved: a second home row */
                assert_int_equal(store_person_home_set(t, ps->id, ORGS[3]), STORE_OK);
                snprintf(ps->home, sizeof ps->home, "%s", ORGS[3]);
            }
        }
    }
    for (uint64_t q = 1; q <= N_QUEUED; q++) {
        queue_meta_t m;
        memset(&m, 0, sizeof m);
        m.seq = q;
        m.kind = q % 3 == 0 ? QUEUE_NOTICE : QUEUE_DELIVER;
        snprintf(m.to, sizeof m.to, "%s", ORGS[1 + q % 3]);
        snprintf(m.from, sizeof m.from, "%s", ORGS[0]);
        snprintf(m.type, sizeof m.type, "utility.supply.stop");
        memset(m.msg_id, (int)q, sizeof m.msg_id);
        m.accepted_ms = 1000 + q;
        m.expires_ms = 100000 + q;
        frame_of(q, frame, &len);
        assert_int_equal(store_queue_put(t, &m, frame, len), STORE_OK);
    }
    for (int i = 0; i < N_MSGS; i++) {
        msg_record_t *r = &f->msgs[i];
        memset(r, 0, sizeof *r);
        memset(f->msg_ids[i], 0x40 + i, RK_MSGID_LEN);
        r->seq = (uint64_t)i + 1;
        snprintf(r->to, sizeof r->to, "%s", ORGS[2]);
        snprintf(r->type, sizeof r->type, "utility.supply.stop");
        r->state = MSG_QUEUED;
        r->accepted_ms = 5000;
        r->keep_until_ms = 900000 + (uint64_t)i;
        r->log_size = (uint64_t)i;
        r->has_person = i % 2 == 0;
        if (r->has_person)
            memcpy(r->person, f->persons[i].id, STORE_IDCODE_LEN);
        assert_int_equal(store_msg_put(t, ORGS[0], f->msg_ids[i], r), STORE_OK);
    }
    assert_int_equal(store_log_size(t, &f->log_size), STORE_OK);
    assert_int_equal(store_log_root(t, f->log_size, f->root), STORE_OK);
    assert_int_equal(store_log_checkpoint_get(t, &f->checkpoint), STORE_OK);
    assert_int_equal(store_commit(&t), STORE_OK);
    store_close(&s);
    (void)count_row(f, KEY_OLD, f->persons[0].id, true);
    f->person_rows = (size_t)table_rows(f, "log_person");
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");

    if (f == NULL || sodium_init() < 0)
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s/rk-reseal-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    build(f);
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
    free(f->checkpoint);
    free(f);
    return 0;
}

static store_err run(const fixture_t *f, const uint8_t *old_key, const uint8_t *new_key, size_t batch,
                     uint64_t max_batches, reseal_outcome *outcome, char *why, size_t why_len)
{
    reseal_opts_t o;

    memset(&o, 0, sizeof o);
    o.batch = batch;
    o.max_batches = max_batches;
    o.now_ms = 1234;
    why[0] = '\0';
    return reseal_run(f->dir, old_key, new_key, &o, outcome, why, why_len);
}

static int collect_index(uint64_t index, void *ctx)
{
    person_t *p = ctx;
    if (p->n_index < 8)
        p->index[p->n_index] = index;
    p->n_index++;
    return 0;
}

typedef struct seen {
    uint64_t n;
    bool bad;
} seen_t;

static int check_frame(const queue_meta_t *meta, const uint8_t *frame, size_t len, void *ctx)
{
    seen_t *s = ctx;
    uint8_t want[64];
    size_t want_len;

    frame_of(meta->seq, want, &want_len);
    if (len != want_len || memcmp(frame, want, len) != 0 || meta->accepted_ms != 1000 + meta->seq)
        s->bad = true;
    s->n++;
    return 0;
}

/* The store opens under `master` only and holds what build() wrote; the
 * routing log has one more entry, EV_MASTER_RESEALED. */
static void assert_sealed_under(const fixture_t *f, const uint8_t *master, const uint8_t *refused)
{
    store_t *s;
    store_txn_t *t = NULL;
    uint8_t id[STORE_IDCODE_LEN], code[RK_CODE_LEN], root[STORE_HASH_LEN], *entry = NULL;
    uint64_t size, queued = 0, count;
    size_t len;
    char *cp = NULL;
    rk_log_entry_t e;
    char why[256];

    assert_null(open_with(f, refused, STORE_EMASTER));
    s = open_with(f, master, STORE_OK);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    for (int p = 0; p < N_PERSONS; p++) {
        const person_t *ps = &f->persons[p];
        person_t got;
        char home[RK_ID_MAX + 1];
        for (int o = 0; o < N_ORGS; o++) {
            if (!ps->known[o]) {
                assert_int_equal(store_code_lookup(t, ps->id, ORGS[o], code), STORE_ENOTFOUND);
                continue;
            }
            assert_int_equal(store_code_resolve(t, ORGS[o], ps->code[o], id), STORE_OK);
            assert_memory_equal(id, ps->id, STORE_IDCODE_LEN);
            assert_int_equal(store_code_lookup(t, ps->id, ORGS[o], code), STORE_OK);
            assert_memory_equal(code, ps->code[o], RK_CODE_LEN);
        }
        memset(&got, 0, sizeof got);
        assert_int_equal(store_log_person_list(t, ps->id, collect_index, &got), STORE_OK);
        assert_int_equal(got.n_index, ps->n_index);
        assert_memory_equal(got.index, ps->index, ps->n_index * sizeof ps->index[0]);
        if (ps->home[0] == '\0') {
            assert_int_equal(store_person_home_get(t, ps->id, home), STORE_ENOTFOUND);
        } else {
            assert_int_equal(store_person_home_get(t, ps->id, home), STORE_OK);
            assert_string_equal(home, ps->home);
        }
    }
    for (int o = 1; o < N_ORGS; o++) {
        seen_t sn = {0, false};
        assert_int_equal(store_queue_scan(t, ORGS[o], 0, check_frame, &sn), STORE_OK);
        assert_false(sn.bad);
        assert_int_equal(store_queue_count(t, ORGS[o], &count), STORE_OK);
        assert_int_equal(count, sn.n);
        queued += sn.n;
    }
    assert_int_equal(queued, N_QUEUED);
    for (int i = 0; i < N_MSGS; i++) {
        msg_record_t r;
        assert_int_equal(store_msg_get(t, ORGS[0], f->msg_ids[i], &r), STORE_OK);
        assert_int_equal(r.has_person, f->msgs[i].has_person);
        if (r.has_person)
            assert_memory_equal(r.person, f->msgs[i].person, STORE_IDCODE_LEN);
        assert_int_equal(r.seq, f->msgs[i].seq);
        assert_int_equal(r.keep_until_ms, f->msgs[i].keep_until_ms);
    }
    /* the log as it was, and one entry more */
    assert_int_equal(store_log_size(t, &size), STORE_OK);
    assert_int_equal(size, f->log_size + 1);
    assert_int_equal(store_log_root(t, f->log_size, root), STORE_OK);
    assert_memory_equal(root, f->root, STORE_HASH_LEN);
    assert_int_equal(store_log_checkpoint_get(t, &cp), STORE_OK);
    assert_string_equal(cp, f->checkpoint);
    free(cp);
    assert_int_equal(store_log_get(t, f->log_size, &entry, &len), STORE_OK);
    assert_int_equal(rk_log_entry_decode(entry, len, &e, why, sizeof why), RK_WIRE_OK);
    assert_int_equal(e.event, RK_EV_MASTER_RESEALED);
    assert_int_equal(e.time_ms, 1234);
    free(entry);
    store_abort(&t);
    store_close(&s);
    /* an early store's count row came along, and no row was lost or left behind */
    assert_true(count_row(f, master, f->persons[0].id, false));
    assert_int_equal(table_rows(f, "log_person"), (long)f->person_rows);
    assert_int_equal(table_rows(f, "reseal_fwd"), -1);
    assert_int_equal(table_rows(f, "reseal_rev"), -1);
    assert_int_equal(table_rows(f, "reseal_person"), -1);
}

/* The names of the tables in the data directory. */
static bool has_table(const fixture_t *f, const char *name)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi d;
    int rc;

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_NOTLS | MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    rc = mdb_dbi_open(txn, name, 0, &d);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc == 0;
}

static void test_reseal_whole(void **state)
{
    fixture_t *f = *state;
    reseal_outcome outcome;
    char why[512];
    store_err err = run(f, KEY_OLD, KEY_NEW, 0, 0, &outcome, why, sizeof why);

    if (err != STORE_OK)
        print_error("reseal: %s\n", why);
    assert_int_equal(err, STORE_OK);
    assert_int_equal(outcome, RESEAL_DONE);
    assert_sealed_under(f, KEY_NEW, KEY_OLD);
    assert_false(has_table(f, "reseal_fwd"));
    assert_false(has_table(f, "reseal_person"));
    /* again: nothing to do, nothing appended */
    assert_int_equal(run(f, KEY_OLD, KEY_NEW, 0, 0, &outcome, why, sizeof why), STORE_OK);
    assert_int_equal(outcome, RESEAL_ALREADY);
    assert_sealed_under(f, KEY_NEW, KEY_OLD);
    /* and back, to show the old key's rows are really gone: only KEY_NEW works as the old key now */
    assert_int_equal(run(f, KEY_OLD, KEY_OTHER, 0, 0, &outcome, why, sizeof why), STORE_EMASTER);
    assert_non_null(strstr(why, "--master-key is not the master key"));
}

static void on_progress(const reseal_progress_t *p, void *ctx)
{
    (void)p;
    (*(uint64_t *)ctx)++;
}

/* Stopped after every single batch (as a kill between two commits leaves
 * it) and run again each time: the same store in the end.  While it is
 * unfinished, store_open refuses the store under either key, and the
 * re-seal refuses keys that are not its two. */
static void test_reseal_resumed(void **state)
{
    fixture_t *f = *state;
    reseal_outcome outcome = RESEAL_STOPPED;
    char why[512];
    unsigned runs = 0;
    uint64_t reports = 0;
    reseal_opts_t o;

    assert_int_equal(run(f, KEY_OLD, KEY_NEW, 2, 3, &outcome, why, sizeof why), STORE_OK);
    assert_int_equal(outcome, RESEAL_STOPPED);
    assert_null(open_with(f, KEY_OLD, STORE_ERESEALING));
    assert_null(open_with(f, KEY_NEW, STORE_ERESEALING));
    assert_null(open_with(f, NULL, STORE_ERESEALING));
    assert_int_equal(run(f, KEY_OLD, KEY_OTHER, 2, 1, &outcome, why, sizeof why), STORE_EMASTER);
    assert_non_null(strstr(why, "--new-master-key is not the key the unfinished re-seal"));
    assert_int_equal(run(f, KEY_OTHER, KEY_NEW, 2, 1, &outcome, why, sizeof why), STORE_EMASTER);
    assert_non_null(strstr(why, "--master-key is not the master key"));
    assert_int_equal(run(f, KEY_NEW, KEY_OLD, 2, 1, &outcome, why, sizeof why), STORE_EMASTER);

    memset(&o, 0, sizeof o);
    o.batch = 2;
    o.max_batches = 1;
    o.now_ms = 1234;
    o.progress = on_progress;
    o.ctx = &reports;
    do {
        why[0] = '\0';
        store_err err = reseal_run(f->dir, KEY_OLD, KEY_NEW, &o, &outcome, why, sizeof why);
        if (err != STORE_OK)
            print_error("reseal run %u: %s\n", runs, why);
        assert_int_equal(err, STORE_OK);
        runs++;
        assert_true(runs < 1000);
    } while (outcome == RESEAL_STOPPED);
    assert_int_equal(outcome, RESEAL_DONE);
    assert_int_equal(reports, runs);
    /* 24 persons, 2 rows a batch: many runs, each one batch */
    assert_true(runs > 20);
    assert_sealed_under(f, KEY_NEW, KEY_OLD);
}

/* A log_person row that belongs to nobody would be lost by the swap: the
 * re-seal says so and leaves the store as it was. */
static void test_reseal_damage_undone(void **state)
{
    fixture_t *f = *state;
    reseal_outcome outcome;
    char why[512];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi d;
    uint8_t k[32], v[48];
    MDB_val key = {sizeof k, k}, val = {sizeof v, v};
    store_t *s;

    randombytes_buf(k, sizeof k);
    randombytes_buf(v, sizeof v);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, f->dir, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log_person", 0, &d), 0);
    assert_int_equal(mdb_put(txn, d, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    assert_int_equal(run(f, KEY_OLD, KEY_NEW, 5, 0, &outcome, why, sizeof why), STORE_ECORRUPT);
    assert_non_null(strstr(why, "log_person holds 1 rows of no enrolled person"));
    assert_non_null(strstr(why, "the store is as it was"));
    assert_false(has_table(f, "reseal_fwd"));
    s = open_with(f, KEY_OLD, STORE_OK);
    store_close(&s);
}

static void test_reseal_refusals(void **state)
{
    fixture_t *f = *state;
    reseal_outcome outcome;
    char why[512];
    char dir[300];
    store_t *s;

    assert_int_equal(run(f, KEY_OLD, KEY_OLD, 0, 0, &outcome, why, sizeof why), STORE_EINVAL);
    assert_non_null(strstr(why, "same key"));
    snprintf(dir, sizeof dir, "%s/none", f->dir);
    why[0] = '\0';
    assert_int_equal(reseal_run(dir, KEY_OLD, KEY_NEW, NULL, &outcome, why, sizeof why), STORE_ENOTFOUND);
    assert_non_null(strstr(why, "holds no hub data"));
    /* nothing was changed by the refusals */
    s = open_with(f, KEY_OLD, STORE_OK);
    store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reseal_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reseal_resumed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reseal_damage_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reseal_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
