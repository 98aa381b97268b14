/*
 * test_it_audit - renkei-audit against the real hub: the routing log
 * verifies, reads and exports, and tampering with the hub's LMDB files is
 * caught.
 *
 * Each test has its own hub: city.x (municipality), power (utility, whose
 * back-office answers every request) and audit.z (auditor), with a few
 * requests and replies through the real renkei-agent.  The tampering tests
 * stop the hub and change its data.mdb with liblmdb directly (the log needs
 * no master key), the way an operator with access to the disk could, then
 * start the hub again and run `renkei-audit verify`:
 *   (a) one byte of one entry changed;
 *   (b) an entry deleted and the rest shifted down;
 *   (c) the last entries removed after the auditor verified them;
 *   (d) the whole data directory put back to an older copy;
 *   (e) history rewritten: an entry changed, the tree rebuilt and a new
 *       checkpoint signed with the hub's own key.
 * Each must end in "NOT CONSISTENT" and exit 1, saying what is wrong.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <limits.h>
#include <lmdb.h>
#include <sodium.h>
#include <sys/stat.h>

#include "harness.h"
#include "keys.h"
#include "merkle.h"
#include "note.h"
#include "wire.h"

/* The routing log's name: a new hub without --log-origin takes
 * "renkei-hub/" and its key's fingerprint. */
static const char *hub_origin(it_env_t *env)
{
    static char origin[RK_LOG_ORIGIN_LEN];
    rk_pubkey_t pub;
    char why[256];
    assert_int_equal(rk_pubkey_load(it_path(env, "keys/hub.pub"), &pub, why, sizeof why), RK_KEYS_OK);
    rk_log_origin_default(pub.sign_pk, origin);
    assert_true(strncmp(origin, "renkei-hub/", 11) == 0 && strlen(origin) == 19);
    return origin;
}

typedef struct fixture {
    it_env_t *env;
    char state[PATH_MAX];
} fixture_t;

/* ------------------------------------------------------------------ setup */

static void send_requests(fixture_t *fx, int n)
{
    char person[PATH_MAX];
    assert_int_equal(it_person_file(fx->env, IT_PERSON, person, sizeof person), 0);
    for (int i = 0; i < n; i++) {
        it_run_t r;
        int st = it_agent(fx->env, "city.x", "{\"request\":\"stop\",\"date\":\"2025-03-31\"}", &r, "send", "--to",
                          "power", "--type", "utility.supply.stop", "--person-file", person, NULL);
        if (st != 0)
            fprintf(stderr, "send exited %d: %s\n", st, r.err);
        assert_int_equal(st, 0);
        assert_non_null(strstr(r.out, "done")); /* the reply came back */
        it_run_clear(&r);
    }
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    it_run_t r;
    if (fx == NULL || (fx->env = it_env_new()) == NULL)
        return -1;
    snprintf(fx->state, sizeof fx->state, "%s", it_path(fx->env, "audit.state"));
    if (it_org(fx->env, "city.x", "municipality") != 0 || it_org(fx->env, "power", "utility") != 0 ||
        it_org(fx->env, "audit.z", "auditor") != 0)
        return -1;
    if (it_hub_start(fx->env, NULL) != 0)
        return -1;
    if (it_serve_start(fx->env, "power", "cat > /dev/null; printf '{\"result\":\"done\"}\\n'", 0) == NULL)
        return -1;
    if (it_agent(fx->env, "city.x", IT_PERSON "\n", &r, "enroll", NULL) != 0) {
        it_run_clear(&r);
        return -1;
    }
    it_run_clear(&r);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx != NULL) {
        it_env_destroy(&fx->env);
        free(fx);
    }
    return 0;
}

/* renkei-audit as org with args (NULL-terminated) after the common options. */
static int audit_as(fixture_t *fx, const char *org, it_run_t *r, ...)
{
    const char *argv[32];
    char hubpub[PATH_MAX], key[PATH_MAX];
    size_t n = 0;
    va_list ap;
    const char *a;

    snprintf(hubpub, sizeof hubpub, "%s", it_path(fx->env, "keys/hub.pub"));
    snprintf(key, sizeof key, "%s/keys/%s.key", it_dir(fx->env), org);
    argv[n++] = "-H";
    argv[n++] = it_hub_endpoint(fx->env);
    argv[n++] = "-K";
    argv[n++] = hubpub;
    argv[n++] = "-k";
    argv[n++] = key;
    argv[n++] = "-t";
    argv[n++] = "5";
    va_start(ap, r);
    while ((a = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return it_run(fx->env, "renkei-audit", argv, NULL, 60, r);
}

/* verify with the fixture's state file; returns the exit status, output in r. */
static int verify(fixture_t *fx, it_run_t *r)
{
    int st = audit_as(fx, "audit.z", r, "verify", "--state", fx->state, NULL);
    printf("verify -> %d\n%s%s", st, r->out, r->err);
    return st;
}

static void assert_consistent(fixture_t *fx)
{
    it_run_t r;
    assert_int_equal(verify(fx, &r), 0);
    assert_true(strncmp(r.out, "consistent: ", 12) == 0);
    it_run_clear(&r);
}

/* verify must say NOT CONSISTENT (exit 1) and mention `what`. */
static void assert_caught(fixture_t *fx, const char *what)
{
    it_run_t r;
    assert_int_equal(verify(fx, &r), 1);
    assert_null(strstr(r.out, "consistent: "));
    assert_true(strncmp(r.out, "NOT CONSISTENT: ", 16) == 0);
    if (what != NULL)
        assert_non_null(strstr(r.out, what));
    it_run_clear(&r);
}

/* The log size a consistent verify reported. */
static unsigned long long verified_size(const char *out)
{
    unsigned long long n = 0;
    assert_int_equal(sscanf(out, "consistent: %llu entries", &n), 1);
    return n;
}

/* --------------------------------------------------------- the hub's LMDB */

typedef struct lm {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi log, meta, tree, cp;
} lm_t;

/* Stops the hub and opens its data.mdb for writing, without the master key. */
static void lm_open(fixture_t *fx, lm_t *m)
{
    assert_int_equal(it_hub_stop(fx->env), 0);
    assert_int_equal(mdb_env_create(&m->env), MDB_SUCCESS);
    assert_int_equal(mdb_env_set_maxdbs(m->env, 32), MDB_SUCCESS);
    assert_int_equal(mdb_env_open(m->env, it_hub_data(fx->env), 0, 0600), MDB_SUCCESS);
    assert_int_equal(mdb_txn_begin(m->env, NULL, 0, &m->txn), MDB_SUCCESS);
    assert_int_equal(mdb_dbi_open(m->txn, "log", 0, &m->log), MDB_SUCCESS);
    assert_int_equal(mdb_dbi_open(m->txn, "meta", 0, &m->meta), MDB_SUCCESS);
    assert_int_equal(mdb_dbi_open(m->txn, "log_tree", 0, &m->tree), MDB_SUCCESS);
    assert_int_equal(mdb_dbi_open(m->txn, "log_cp", 0, &m->cp), MDB_SUCCESS);
}

/* Commits, closes and starts the hub again on its endpoint. */
static void lm_close(fixture_t *fx, lm_t *m)
{
    assert_int_equal(mdb_txn_commit(m->txn), MDB_SUCCESS);
    mdb_env_close(m->env);
    assert_int_equal(it_hub_restart(fx->env, NULL), 0);
}

static void be64(uint8_t k[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        k[i] = (uint8_t)v;
}

static uint64_t lm_size(lm_t *m)
{
    MDB_val k = {8, "log-size"}, v;
    uint64_t n = 0;
    assert_int_equal(mdb_get(m->txn, m->meta, &k, &v), MDB_SUCCESS);
    assert_int_equal(v.mv_size, 8);
    for (int i = 7; i >= 0; i--)
        n = n << 8 | ((const uint8_t *)v.mv_data)[i];
    return n;
}

static void lm_set_size(lm_t *m, uint64_t n)
{
    uint8_t b[8];
    MDB_val k = {8, "log-size"}, v = {8, b};
    for (int i = 0; i < 8; i++, n >>= 8)
        b[i] = (uint8_t)n;
    assert_int_equal(mdb_put(m->txn, m->meta, &k, &v, 0), MDB_SUCCESS);
}

/* A malloc'd copy of entry i. */
static uint8_t *lm_get(lm_t *m, uint64_t i, size_t *len)
{
    uint8_t kb[8];
    MDB_val k = {8, kb}, v;
    uint8_t *copy;
    be64(kb, i);
    assert_int_equal(mdb_get(m->txn, m->log, &k, &v), MDB_SUCCESS);
    copy = malloc(v.mv_size);
    assert_non_null(copy);
    memcpy(copy, v.mv_data, v.mv_size);
    *len = v.mv_size;
    return copy;
}

static void lm_put(lm_t *m, uint64_t i, const uint8_t *e, size_t len)
{
    uint8_t kb[8];
    MDB_val k = {8, kb}, v = {len, (void *)e};
    be64(kb, i);
    assert_int_equal(mdb_put(m->txn, m->log, &k, &v, 0), MDB_SUCCESS);
}

static void lm_del(lm_t *m, uint64_t i)
{
    uint8_t kb[8];
    MDB_val k = {8, kb};
    be64(kb, i);
    assert_int_equal(mdb_del(m->txn, m->log, &k, NULL), MDB_SUCCESS);
}

/* Index of the first entry, from `from` on, naming power as recipient: a
 * message entry ("power" appears in it as the TO field). */
static uint64_t entry_naming_power(lm_t *m, uint64_t from)
{
    uint64_t n = lm_size(m);
    for (uint64_t i = from; i < n; i++) {
        size_t len;
        uint8_t *e = lm_get(m, i, &len);
        rk_log_entry_t d;
        bool yes = rk_log_entry_decode(e, len, &d, NULL, 0) == RK_WIRE_OK && strcmp(d.to, "power") == 0;
        free(e);
        if (yes)
            return i;
    }
    fail_msg("no entry names power");
    return 0;
}

/* Changes the first letter of org in entry i (e.g. "power" to "qower"):
 * one byte, and the entry still decodes (it just names another
 * organization). */
static void alter_org(lm_t *m, uint64_t i, const char *org)
{
    size_t len;
    uint8_t *e = lm_get(m, i, &len);
    uint8_t *p = memmem(e, len, org, strlen(org));
    rk_log_entry_t d;
    assert_non_null(p);
    *p = (uint8_t)(*p + 1);
    assert_int_equal(rk_log_entry_decode(e, len, &d, NULL, 0), RK_WIRE_OK);
    lm_put(m, i, e, len);
    free(e);
}

/* ------------------------------------------------------------------ tests */

/* The log verifies, twice with traffic between (the second time through a
 * consistency proof from the size verified first), and the state file is
 * the auditor's own. */
static void test_verify_consistent(void **state)
{
    fixture_t *fx = *state;
    it_run_t r;
    unsigned long long n1, n2;
    struct stat st;
    char *saved;

    send_requests(fx, 3);
    assert_int_equal(verify(fx, &r), 0);
    assert_true(strncmp(r.out, "consistent: ", 12) == 0);
    assert_non_null(strstr(r.out, "first verification"));
    n1 = verified_size(r.out);
    assert_true(n1 >= 10); /* 3 registrations, enrollment, 3 x (accepted, delivered, reply accepted, delivered) */
    it_run_clear(&r);
    assert_int_equal(stat(fx->state, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    send_requests(fx, 2);
    assert_int_equal(verify(fx, &r), 0);
    assert_true(strncmp(r.out, "consistent: ", 12) == 0);
    n2 = verified_size(r.out);
    assert_true(n2 >= n1 + 8);
    {
        char seen[64];
        snprintf(seen, sizeof seen, "(%llu entries) seen before", n1);
        assert_non_null(strstr(r.out, seen));
    }
    it_run_clear(&r);
    saved = it_slurp(fx->state, NULL);
    assert_non_null(saved);
    {
        char line[64];
        snprintf(line, sizeof line, "size: %llu\n", n2);
        assert_non_null(strstr(saved, line));
        snprintf(line, sizeof line, "origin: %s\n", hub_origin(fx->env));
        assert_non_null(strstr(saved, line));
    }
    free(saved);

    /* the note as the hub signed it */
    assert_int_equal(audit_as(fx, "audit.z", &r, "checkpoint", NULL), 0);
    {
        char line[64];
        snprintf(line, sizeof line, "%s\n", hub_origin(fx->env));
        assert_true(strncmp(r.out, line, strlen(line)) == 0);
        snprintf(line, sizeof line, "\n\xe2\x80\x94 %s ", hub_origin(fx->env));
        assert_non_null(strstr(r.out, line));
    }
    it_run_clear(&r);

    /* another origin than the hub's is refused */
    assert_int_equal(audit_as(fx, "audit.z", &r, "--log-origin", "other-log", "verify", "--state",
                              it_path(fx->env, "other.state"), NULL),
                     1);
    assert_non_null(strstr(r.out, "NOT CONSISTENT: "));
    assert_non_null(strstr(r.out, "other-log"));
    it_run_clear(&r);
}

/* (a) one byte of one entry changed. */
static void test_tamper_byte(void **state)
{
    fixture_t *fx = *state;
    lm_t m;
    uint64_t i;
    char where[32];

    send_requests(fx, 2);
    assert_consistent(fx);
    lm_open(fx, &m);
    i = entry_naming_power(&m, 0);
    alter_org(&m, i, "power");
    lm_close(fx, &m);
    snprintf(where, sizeof where, "entry %llu ", (unsigned long long)i);
    assert_caught(fx, where); /* and says which entry */

    /* an auditor who never verified before catches it too */
    snprintf(fx->state, sizeof fx->state, "%s", it_path(fx->env, "fresh.state"));
    assert_caught(fx, where);
}

/* (b) an entry deleted, the later ones shifted down, the size fixed. */
static void test_tamper_delete(void **state)
{
    fixture_t *fx = *state;
    lm_t m;
    uint64_t n, i;

    send_requests(fx, 2);
    lm_open(fx, &m);
    n = lm_size(&m);
    i = entry_naming_power(&m, 0);
    for (uint64_t j = i; j + 1 < n; j++) {
        size_t len;
        uint8_t *e = lm_get(&m, j + 1, &len);
        lm_put(&m, j, e, len);
        free(e);
    }
    lm_del(&m, n - 1);
    lm_set_size(&m, n - 1);
    lm_close(fx, &m);
    /* first verification: the rebuilt tree is not the signed one */
    assert_caught(fx, "give root");
}

/* (b') the last entry deleted without fixing the size: the hub cannot
 * produce it, and verify must not call that consistent. */
static void test_tamper_delete_hole(void **state)
{
    fixture_t *fx = *state;
    lm_t m;
    uint64_t i;
    char where[64];

    send_requests(fx, 1);
    assert_consistent(fx);
    lm_open(fx, &m);
    i = entry_naming_power(&m, 0);
    lm_del(&m, i);
    lm_close(fx, &m);
    snprintf(where, sizeof where, "cannot produce entry %llu ", (unsigned long long)i);
    assert_caught(fx, where);
}

/* (c) the log truncated after the auditor verified it. */
static void test_tamper_truncate(void **state)
{
    fixture_t *fx = *state;
    lm_t m;
    uint64_t n, k = 3;

    send_requests(fx, 2);
    assert_consistent(fx);
    lm_open(fx, &m);
    n = lm_size(&m);
    for (uint64_t j = n - k; j < n; j++)
        lm_del(&m, j);
    lm_set_size(&m, n - k);
    lm_close(fx, &m);
    assert_caught(fx, "rollback");
}

/* Copies the hub's data.mdb aside (hub stopped) and starts it again. */
static void snapshot_data(fixture_t *fx, const char *name)
{
    char cmd[3 * PATH_MAX];
    assert_int_equal(it_hub_stop(fx->env), 0);
    snprintf(cmd, sizeof cmd, "cp -p '%s/data.mdb' '%s'", it_hub_data(fx->env), it_path(fx->env, name));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(it_hub_restart(fx->env, NULL), 0);
}

static void restore_data(fixture_t *fx, const char *name)
{
    char cmd[3 * PATH_MAX];
    assert_int_equal(it_hub_stop(fx->env), 0);
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s/data.mdb' && rm -f '%s/lock.mdb'", it_path(fx->env, name),
             it_hub_data(fx->env), it_hub_data(fx->env));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(it_hub_restart(fx->env, NULL), 0);
}

/* (d) the whole data directory rolled back to an older copy. */
static void test_tamper_rollback_copy(void **state)
{
    fixture_t *fx = *state;

    send_requests(fx, 1);
    assert_consistent(fx);
    snapshot_data(fx, "old.mdb");
    send_requests(fx, 2);
    assert_consistent(fx);
    restore_data(fx, "old.mdb");
    assert_caught(fx, "rollback");

    /* the rolled-back hub carries on; once it is longer again than what
     * was verified, its history still does not extend the verified one */
    send_requests(fx, 3);
    assert_caught(fx, NULL);
}

/* tlog callbacks over the log_tree database. */
static int tree_get(void *ctx, unsigned level, uint64_t index, uint8_t out[TLOG_HASH_LEN])
{
    lm_t *m = ctx;
    uint8_t kb[9];
    MDB_val k = {9, kb}, v;
    kb[0] = (uint8_t)level;
    be64(kb + 1, index);
    if (mdb_get(m->txn, m->tree, &k, &v) != MDB_SUCCESS || v.mv_size != TLOG_HASH_LEN)
        return -1;
    memcpy(out, v.mv_data, TLOG_HASH_LEN);
    return 0;
}

static int tree_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[TLOG_HASH_LEN])
{
    lm_t *m = ctx;
    uint8_t kb[9];
    MDB_val k = {9, kb}, v = {TLOG_HASH_LEN, (void *)hash};
    kb[0] = (uint8_t)level;
    be64(kb + 1, index);
    return mdb_put(m->txn, m->tree, &k, &v, 0) == MDB_SUCCESS ? 0 : -1;
}

/* (e) history rewritten by someone holding the hub's key: an entry
 * changed, every subtree hash recomputed, a fresh checkpoint signed. */
static void test_tamper_resign(void **state)
{
    fixture_t *fx = *state;
    lm_t m;
    uint64_t n, i;
    tlog_checkpoint_t cp;
    rk_identity_t *hub = NULL;
    char why[256], note[TLOG_CHECKPOINT_MAX];
    size_t len;

    send_requests(fx, 2);
    assert_consistent(fx);
    lm_open(fx, &m);
    n = lm_size(&m);
    i = entry_naming_power(&m, 0);
    alter_org(&m, i, "power");
    assert_int_equal(mdb_drop(m.txn, m.tree, 0), MDB_SUCCESS);
    for (uint64_t j = 0; j < n; j++) {
        uint8_t leaf[TLOG_HASH_LEN];
        uint8_t *e = lm_get(&m, j, &len);
        tlog_leaf_hash(e, len, leaf);
        free(e);
        assert_int_equal(tlog_append(j, leaf, tree_get, tree_put, &m), TLOG_OK);
    }
    memset(&cp, 0, sizeof cp);
    cp.size = n;
    cp.time = (int64_t)time(NULL);
    assert_int_equal(tlog_root(n, tree_get, &m, cp.root), TLOG_OK);
    assert_int_equal(rk_identity_load(it_path(fx->env, "keys/hub.key"), &hub, why, sizeof why), RK_KEYS_OK);
    assert_int_equal(tlog_checkpoint_sign(hub_origin(fx->env), &cp, hub_origin(fx->env), hub->sign_sk, note,
                                          sizeof note, &len),
                     TLOG_OK);
    rk_identity_destroy(&hub);
    {
        MDB_val k = {2, "cp"}, v = {len, note};
        assert_int_equal(mdb_put(m.txn, m.cp, &k, &v, 0), MDB_SUCCESS);
    }
    lm_close(fx, &m);
    /* same size as verified, another root */
    assert_caught(fx, "different root");

    /* and after more traffic, the consistency proof fails */
    send_requests(fx, 1);
    assert_caught(fx, "consistency proof");
}

/* Appends n synthetic enrollment entries to the log with their subtree
 * hashes and the new size, as the hub itself would have; the hub signs a
 * checkpoint over them when next asked. */
static void append_entries(lm_t *m, uint64_t n)
{
    uint64_t size = lm_size(m);
    for (uint64_t j = 0; j < n; j++) {
        rk_log_entry_t e;
        uint8_t *buf = NULL, leaf[TLOG_HASH_LEN];
        size_t len = 0;
        memset(&e, 0, sizeof e);
        e.time_ms = (uint64_t)time(NULL) * 1000;
        e.event = RK_EV_ENROLLED;
        snprintf(e.from, sizeof e.from, "city.x");
        e.outcome = RK_ST_ACCEPTED;
        assert_int_equal(rk_log_entry_encode(&e, &buf, &len), RK_WIRE_OK);
        lm_put(m, size + j, buf, len);
        tlog_leaf_hash(buf, len, leaf);
        free(buf);
        assert_int_equal(tlog_append(size + j, leaf, tree_get, tree_put, m), TLOG_OK);
    }
    lm_set_size(m, size + n);
}

/* (a) on a log of several thousand entries: verify reads it in pages and
 * still names the one entry changed in the middle. */
static void test_tamper_byte_long_log(void **state)
{
    fixture_t *fx = *state;
    lm_t m;
    uint64_t i;
    it_run_t r;
    char where[32];

    send_requests(fx, 1);
    lm_open(fx, &m);
    append_entries(&m, 2600);
    lm_close(fx, &m);
    assert_int_equal(verify(fx, &r), 0);
    assert_true(verified_size(r.out) > 2600);
    it_run_clear(&r);
    send_requests(fx, 1);

    lm_open(fx, &m);
    i = lm_size(&m) / 2 + 17;
    alter_org(&m, i, "city.x");
    lm_close(fx, &m);
    snprintf(where, sizeof where, "entry %llu ", (unsigned long long)i);
    assert_caught(fx, where);
}

/* query and export: the rows a user asked for, in formats tools read. */
static void test_query_export(void **state)
{
    fixture_t *fx = *state;
    it_run_t r;
    char *line, *save = NULL, cmd[3 * PATH_MAX];
    int rows = 0;
    FILE *p;
    char buf[256] = "";

    send_requests(fx, 2);
    assert_int_equal(audit_as(fx, "audit.z", &r, "query", "--org", "power", NULL), 0);
    printf("%s", r.out);
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (rows++ == 0) {
            assert_true(strncmp(line, "INDEX", 5) == 0);
            assert_non_null(strstr(line, "OUTCOME"));
            continue;
        }
        assert_non_null(strstr(line, "power"));
        if (strstr(line, " accepted ") != NULL) {
            /* the message id whole (32 hex digits), as status and receipt take it */
            size_t run = 0, best = 0;
            for (const char *c = line; *c != '\0'; c++) {
                run = isxdigit((unsigned char)*c) ? run + 1 : 0;
                if (run > best)
                    best = run;
            }
            assert_int_equal(best, 32);
        }
    }
    assert_true(rows >= 1 + 9); /* registration + 2 x (accepted, delivered, reply accepted, delivered) */
    it_run_clear(&r);

    assert_int_equal(audit_as(fx, "audit.z", &r, "query", "--org", "power", "--outcome", "delivered", "--type",
                              "utility.supply.stop", "--since", "2000-01-01", "--until", "4102444800", NULL),
                     0);
    rows = 0;
    save = NULL;
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        if (rows++ > 0)
            assert_non_null(strstr(line, "delivered"));
    assert_true(rows >= 3);
    it_run_clear(&r);

    /* a window in the past matches nothing: only the header */
    assert_int_equal(audit_as(fx, "audit.z", &r, "query", "--until", "2000-01-01T00:00:00Z", NULL), 0);
    assert_null(strchr(strchr(r.out, '\n') + 1, '\n'));
    it_run_clear(&r);

    /* JSON Lines that Python's json reads, every row about power */
    assert_int_equal(audit_as(fx, "audit.z", &r, "export", "--format", "jsonl", "--org", "power", NULL), 0);
    assert_int_equal(it_write_file(it_path(fx->env, "export.jsonl"), r.out), 0);
    it_run_clear(&r);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import json,sys\n"
             "rows=[json.loads(l) for l in open(sys.argv[1])]\n"
             "assert rows and all(\"power\" in (r[\"from\"], r[\"to\"]) for r in rows)\n"
             "assert all(len(r[\"msg_id\"]) == 32 for r in rows if r[\"event\"] == \"accepted\")\n"
             "assert {\"index\",\"time\",\"time_ms\",\"event\",\"seq\",\"type\",\"reply_to\",\"outcome\",\"size\",\"kind\"} <= set(rows[0])\n"
             "print(len(rows))' '%s'",
             it_path(fx->env, "export.jsonl"));
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(buf, sizeof buf, p));
    assert_int_equal(pclose(p), 0);
    assert_true(atoi(buf) >= 9);

    /* CSV with a header */
    assert_int_equal(audit_as(fx, "audit.z", &r, "export", "--format", "csv", NULL), 0);
    {
        static const char head[] = "index,time,time_ms,event,seq,from,to,type,msg_id,reply_to,outcome,size,"
                                   "kind,count,section,digest,operator\r\n";
        assert_true(strncmp(r.out, head, strlen(head)) == 0);
    }
    assert_non_null(strstr(r.out, ",org-registered,"));
    assert_non_null(strstr(r.out, ",accepted,"));
    it_run_clear(&r);

    /* nonsense filters are usage errors */
    assert_int_equal(audit_as(fx, "audit.z", &r, "query", "--since", "yesterday", NULL), 2);
    it_run_clear(&r);
    assert_int_equal(audit_as(fx, "audit.z", &r, "export", "--format", "xml", NULL), 2);
    it_run_clear(&r);
}

/* Only auditors read the log; a hub that is not there is said so. */
static void test_not_auditor(void **state)
{
    fixture_t *fx = *state;
    it_run_t r;

    assert_int_equal(audit_as(fx, "city.x", &r, "verify", "--state", fx->state, NULL), 1);
    assert_null(strstr(r.out, "consistent"));
    assert_non_null(strstr(r.err, "city.x is not an auditor"));
    assert_non_null(strstr(r.err, "FORBIDDEN"));
    it_run_clear(&r);
    assert_true(it_hub_log_wait(fx->env, "refused FORBIDDEN from city.x", 10000));
    {
        struct stat st;
        assert_int_not_equal(stat(fx->state, &st), 0); /* nothing remembered */
    }

    assert_int_equal(audit_as(fx, "power", &r, "export", NULL), 1);
    assert_non_null(strstr(r.err, "power is not an auditor"));
    it_run_clear(&r);

    assert_int_equal(it_hub_stop(fx->env), 0);
    assert_int_equal(audit_as(fx, "audit.z", &r, "-t", "1", "verify", "--state", fx->state, NULL), 1);
    assert_non_null(strstr(r.err, "no answer from the hub"));
    it_run_clear(&r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verify_consistent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_byte_long_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_delete_hole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_rollback_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_resign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_auditor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
