/*
 * test_it_audit_offline - an auditor's checks without the hub, against a
 * real hub and real agents:
 *   - renkei-audit vkey prints the key the hub's checkpoint verifies under;
 *   - export --format leaves, checked offline against the checkpoint,
 *     passes, and fails (exit 7) when one byte of a leaf is changed, a leaf
 *     is dropped, or the checkpoint is signed by another key;
 *   - a receipt written by renkei-agent receipt --out checks offline, and
 *     fails when its entry is altered;
 *   - an independent Python verifier written from proto/README.md agrees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>
#include <limits.h>
#include <sodium.h>
#include <sys/stat.h>

#include "harness.h"
#include "keys.h"
#include "note.h"

typedef struct fixture {
    it_env_t *env;
    char msg_id[33];
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    char person[PATH_MAX];
    it_run_t r;
    const char *m;

    if (fx == NULL || (fx->env = it_env_new()) == NULL)
        return -1;
    if (it_org(fx->env, "city.x", "municipality") != 0 || it_org(fx->env, "power", "utility") != 0 ||
        it_org(fx->env, "audit.z", "auditor") != 0 || it_hub_start(fx->env, NULL) != 0)
        return -1;
    if (it_serve_start(fx->env, "power", "cat > /dev/null; printf '{\"result\":\"done\"}\\n'", 0) == NULL)
        return -1;
    if (it_agent(fx->env, "city.x", IT_PERSON "\n", &r, "enroll", NULL) != 0)
        return -1;
    it_run_clear(&r);
    if (it_person_file(fx->env, IT_PERSON, person, sizeof person) != 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (it_agent(fx->env, "city.x", "{\"request\":\"stop\",\"date\":\"2025-03-31\"}", &r, "send", "--to",
                     "power", "--type", "utility.supply.stop", "--person-file", person, NULL) != 0)
            return -1;
        if (i == 0 && (m = strstr(r.err, " msg ")) != NULL)
            snprintf(fx->msg_id, sizeof fx->msg_id, "%.32s", m + 5);
        it_run_clear(&r);
    }
    if (strlen(fx->msg_id) != 32)
        return -1;
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

/* renkei-audit with args (NULL-terminated); the connection's options first. */
static int audit(fixture_t *fx, it_run_t *r, ...)
{
    const char *argv[32];
    static char hubpub[PATH_MAX], key[PATH_MAX];
    size_t n = 0;
    va_list ap;
    const char *a;

    snprintf(hubpub, sizeof hubpub, "%s", it_path(fx->env, "keys/hub.pub"));
    snprintf(key, sizeof key, "%s", it_path(fx->env, "keys/audit.z.key"));
    argv[n++] = "-H";
    argv[n++] = it_hub_endpoint(fx->env);
    argv[n++] = "-K";
    argv[n++] = hubpub;
    argv[n++] = "-k";
    argv[n++] = key;
    va_start(ap, r);
    while ((a = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    int st = it_run(fx->env, "renkei-audit", argv, NULL, 60, r);
    printf("renkei-audit ... -> %d\n%s%s", st, r->out, r->err);
    return st;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 1 << 20);
    assert_non_null(f);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

/* The vkey line, the checkpoint file and the leaves file, from the hub. */
static void fetch_all(fixture_t *fx, char vkey[TLOG_VKEY_MAX], char cp[PATH_MAX], char leaves[PATH_MAX])
{
    it_run_t r;

    assert_int_equal(audit(fx, &r, "vkey", NULL), 0);
    assert_true(strlen(r.out) > 1 && strlen(r.out) < TLOG_VKEY_MAX);
    snprintf(vkey, TLOG_VKEY_MAX, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    it_run_clear(&r);
    snprintf(cp, PATH_MAX, "%s", it_path(fx->env, "checkpoint.note"));
    assert_int_equal(audit(fx, &r, "checkpoint", NULL), 0);
    write_file(cp, r.out, strlen(r.out));
    it_run_clear(&r);
    snprintf(leaves, PATH_MAX, "%s", it_path(fx->env, "log.leaves"));
    assert_int_equal(audit(fx, &r, "export", "--format", "leaves", NULL), 0);
    write_file(leaves, r.out, strlen(r.out));
    it_run_clear(&r);
}

static int check(fixture_t *fx, it_run_t *r, const char *vkey, const char *what, const char *path,
                 const char *what2, const char *path2)
{
    return audit(fx, r, "check", "--vkey", vkey, what, path, what2, path2, NULL);
}

/* vkey is what the checkpoint verifies under; the leaves give its root; a
 * changed byte, a dropped leaf or another key's checkpoint are caught. */
static void test_leaves_against_checkpoint(void **state)
{
    fixture_t *fx = *state;
    char vkey[TLOG_VKEY_MAX], cp[PATH_MAX], leaves[PATH_MAX], name[TLOG_NAME_MAX + 1], why[256];
    char *text, *nl;
    size_t len;
    uint8_t pk[32];
    tlog_checkpoint_t c;
    it_run_t r;

    fetch_all(fx, vkey, cp, leaves);
    /* The printed vkey opens the hub's checkpoint, parsed here directly. */
    assert_int_equal(tlog_vkey_parse(vkey, name, pk, why, sizeof why), TLOG_OK);
    /* The log's name is this deployment's own: renkei-hub/ and the hub
     * key's fingerprint, as the hub said when it started. */
    {
        char said[TLOG_NAME_MAX + 32];
        assert_true(strncmp(name, "renkei-hub/", 11) == 0 && strlen(name) == 19);
        snprintf(said, sizeof said, "routing log %s ", name);
        assert_true(it_hub_log_wait(fx->env, said, 5000));
    }
    text = read_file(cp, &len);
    assert_int_equal(tlog_checkpoint_open(text, len, name, name, pk, &c, why, sizeof why), TLOG_OK);
    assert_true(c.size >= 8);
    free(text);

    assert_int_equal(check(fx, &r, vkey, "--checkpoint", cp, "--leaves", leaves), 0);
    assert_non_null(strstr(r.out, "leaves: verified"));
    it_run_clear(&r);

    /* One byte of one leaf changed (a base64 character of the third line). */
    text = read_file(leaves, &len);
    char *third = strchr(strchr(text, '\n') + 1, '\n') + 1;
    third[4] = third[4] == 'A' ? 'B' : 'A';
    char bad[PATH_MAX];
    snprintf(bad, sizeof bad, "%s", it_path(fx->env, "changed.leaves"));
    write_file(bad, text, len);
    assert_int_equal(check(fx, &r, vkey, "--checkpoint", cp, "--leaves", bad), 7);
    assert_non_null(strstr(r.err, "the checkpoint says"));
    it_run_clear(&r);
    third[4] = third[4] == 'A' ? 'B' : 'A';

    /* The second leaf dropped. */
    nl = strchr(text, '\n') + 1;
    char *after = strchr(nl, '\n') + 1;
    memmove(nl, after, len - (size_t)(after - text) + 1);
    snprintf(bad, sizeof bad, "%s", it_path(fx->env, "dropped.leaves"));
    write_file(bad, text, strlen(text));
    assert_int_equal(check(fx, &r, vkey, "--checkpoint", cp, "--leaves", bad), 7);
    assert_true(strstr(r.err, "dropped") != NULL);
    it_run_clear(&r);
    free(text);

    /* The same checkpoint re-signed with another key, checked against the pinned one. */
    {
        uint8_t opk[32], osk[64];
        char note[TLOG_CHECKPOINT_MAX], other[PATH_MAX];
        size_t note_len;
        crypto_sign_keypair(opk, osk);
        assert_int_equal(tlog_checkpoint_sign(name, &c, name, osk, note, sizeof note, &note_len), TLOG_OK);
        sodium_memzero(osk, sizeof osk);
        snprintf(other, sizeof other, "%s", it_path(fx->env, "other.note"));
        write_file(other, note, note_len);
        assert_int_equal(check(fx, &r, vkey, "--checkpoint", other, "--leaves", leaves), 7);
        assert_non_null(strstr(r.err, "not signed by the pinned key"));
        it_run_clear(&r);
    }

    /* An independent verifier, from the documentation alone. */
    {
        char cmd[4 * PATH_MAX];
        const char *src = getenv("RENKEI_SOURCE_DIR");
        assert_non_null(src);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/audit_offline_check.py' '%s' '%s' '%s'", src,
                 vkey, cp, leaves);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 '%s/tests/audit_offline_check.py' '%s' '%s' '%s' >/dev/null", src, vkey,
                 cp, bad);
        assert_int_not_equal(system(cmd), 0);
    }
}

/* A later checkpoint extends an earlier one: by a consistency proof from
 * the hub (prove), checked offline, and by the leaves; an altered proof
 * or checkpoints given the wrong way round are caught. */
static void test_consistency_offline(void **state)
{
    fixture_t *fx = *state;
    char vkey[TLOG_VKEY_MAX], cp[PATH_MAX], leaves[PATH_MAX], old[PATH_MAX], proof[PATH_MAX],
        person[PATH_MAX];
    char *text, *hash;
    size_t len;
    it_run_t r;

    fetch_all(fx, vkey, cp, leaves);
    snprintf(old, sizeof old, "%s", it_path(fx->env, "old.note"));
    assert_int_equal(rename(cp, old), 0);
    assert_int_equal(it_person_file(fx->env, IT_PERSON, person, sizeof person), 0);
    assert_int_equal(it_agent(fx->env, "city.x", "{\"request\":\"stop\",\"date\":\"2025-03-31\"}", &r, "send",
                              "--to", "power", "--type", "utility.supply.stop", "--person-file", person,
                              NULL),
                     0);
    it_run_clear(&r);
    fetch_all(fx, vkey, cp, leaves);

    snprintf(proof, sizeof proof, "%s", it_path(fx->env, "consistency.txt"));
    assert_int_equal(audit(fx, &r, "prove", "--old-checkpoint", old, "--checkpoint", cp, NULL), 0);
    assert_non_null(strstr(r.out, "\nproof "));
    write_file(proof, r.out, strlen(r.out));
    it_run_clear(&r);
    it_hub_stop(fx->env);

    assert_int_equal(audit(fx, &r, "check", "--vkey", vkey, "--old-checkpoint", old, "--checkpoint", cp,
                           "--consistency", proof, NULL),
                     0);
    assert_non_null(strstr(r.out, "consistency: verified"));
    it_run_clear(&r);
    assert_int_equal(audit(fx, &r, "check", "--vkey", vkey, "--old-checkpoint", old, "--checkpoint", cp,
                           "--leaves", leaves, NULL),
                     0);
    it_run_clear(&r);

    /* one hex digit of the proof changed */
    text = read_file(proof, &len);
    hash = strstr(text, "\nproof ") + 7;
    hash[3] = hash[3] == '0' ? '1' : '0';
    write_file(proof, text, len);
    free(text);
    assert_int_equal(audit(fx, &r, "check", "--vkey", vkey, "--old-checkpoint", old, "--checkpoint", cp,
                           "--consistency", proof, NULL),
                     7);
    assert_non_null(strstr(r.err, "does not prove that the log"));
    it_run_clear(&r);
    /* the checkpoints the wrong way round */
    assert_int_equal(audit(fx, &r, "check", "--vkey", vkey, "--old-checkpoint", cp, "--checkpoint", old,
                           "--leaves", leaves, NULL),
                     7);
    assert_non_null(strstr(r.err, "shortened"));
    it_run_clear(&r);
}

/* The log keeps its name: a hub given another one refuses to start, and
 * the name keygen printed with the hub's key is the one renkei-audit vkey
 * prints. */
static void test_origin_is_pinned(void **state)
{
    fixture_t *fx = *state;
    const char *other[] = {"--log-origin", "renkei.example.go.jp/hub", NULL};
    char vkey[TLOG_VKEY_MAX], cp[PATH_MAX], leaves[PATH_MAX], *log;
    it_run_t r;

    fetch_all(fx, vkey, cp, leaves);
    assert_int_equal(it_hub_stop(fx->env), 0);
    assert_int_not_equal(it_hub_start(fx->env, other), 0);
    log = it_hub_log(fx->env);
    assert_non_null(log);
    assert_non_null(strstr(log,
                           "--log-origin renkei.example.go.jp/hub: the routing log of this data directory is "
                           "named renkei-hub/"));
    free(log);
    /* keygen prints the same line for a new key of its own */
    {
        char dir[PATH_MAX], pub[PATH_MAX + 16], line[TLOG_VKEY_MAX + 2];
        snprintf(dir, sizeof dir, "%s", it_path(fx->env, "newhub"));
        assert_int_equal(mkdir(dir, 0700), 0);
        const char *argv[] = {"-o", dir, "hub", NULL};
        assert_int_equal(it_run(fx->env, "renkei-keygen", argv, NULL, 20, &r), 0);
        assert_non_null(strstr(r.out, "verifier key for its auditors to pin:\n"));
        snprintf(line, sizeof line, "%s", strrchr(strstr(r.out, "pin:\n"), ':') + 2);
        it_run_clear(&r);
        snprintf(pub, sizeof pub, "%s/hub.pub", dir);
        const char *vargv[] = {"vkey", "--hub-key", pub, NULL};
        assert_int_equal(it_run(fx->env, "renkei-audit", vargv, NULL, 20, &r), 0);
        assert_string_equal(r.out, line);
        it_run_clear(&r);
    }
}

/* A store whose hub ran before the log's name was recorded (its
 * checkpoints name the log renkei-hub, no meta log-origin) keeps that name:
 * the hub signs on under it, verify and receipts go on verifying. */
static void test_old_store_keeps_its_name(void **state)
{
    fixture_t *fx = *state;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, cps;
    MDB_val k = {2, "cp"}, v, ok = {10, "log-origin"};
    rk_identity_t *hub = NULL;
    tlog_checkpoint_t c;
    char note[TLOG_CHECKPOINT_MAX], why[256], name[TLOG_NAME_MAX + 1];
    size_t len;
    it_run_t r;

    assert_int_equal(it_hub_stop(fx->env), 0);
    assert_int_equal(rk_identity_load(it_path(fx->env, "keys/hub.key"), &hub, why, sizeof why), RK_KEYS_OK);
    assert_int_equal(mdb_env_create(&env), MDB_SUCCESS);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), MDB_SUCCESS);
    assert_int_equal(mdb_env_open(env, it_hub_data(fx->env), 0, 0600), MDB_SUCCESS);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), MDB_SUCCESS);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), MDB_SUCCESS);
    assert_int_equal(mdb_dbi_open(txn, "log_cp", 0, &cps), MDB_SUCCESS);
    assert_int_equal(mdb_get(txn, cps, &k, &v), MDB_SUCCESS);
    assert_true(v.mv_size < sizeof note);
    memcpy(note, v.mv_data, v.mv_size);
    assert_int_equal(tlog_checkpoint_origin(note, v.mv_size, name), TLOG_OK);
    assert_int_equal(tlog_checkpoint_open(note, v.mv_size, name, name, hub->pub.sign_pk, &c, why, sizeof why),
                     TLOG_OK);
    assert_int_equal(tlog_checkpoint_sign("renkei-hub", &c, "renkei-hub", hub->sign_sk, note, sizeof note,
                                          &len),
                     TLOG_OK);
    rk_identity_destroy(&hub);
    v.mv_data = note;
    v.mv_size = len;
    assert_int_equal(mdb_put(txn, cps, &k, &v, 0), MDB_SUCCESS);
    assert_int_equal(mdb_del(txn, meta, &ok, NULL), MDB_SUCCESS);
    assert_int_equal(mdb_txn_commit(txn), MDB_SUCCESS);
    mdb_env_close(env);

    assert_int_equal(it_hub_start(fx->env, NULL), 0);
    assert_true(it_hub_log_wait(fx->env, "routing log renkei-hub (", 5000));
    {
        const char *vargv[] = {"vkey",         "--hub-key",  it_path(fx->env, "keys/hub.pub"),
                               "--log-origin", "renkei-hub", NULL};
        char vkey[TLOG_VKEY_MAX], cp[PATH_MAX];
        assert_int_equal(it_run(fx->env, "renkei-audit", vargv, NULL, 20, &r), 0);
        snprintf(vkey, sizeof vkey, "%.*s", (int)strcspn(r.out, "\n"), r.out);
        it_run_clear(&r);
        /* the verifier key pinned before still opens the hub's newest checkpoint */
        snprintf(cp, sizeof cp, "%s", it_path(fx->env, "old.note"));
        assert_int_equal(audit(fx, &r, "checkpoint", NULL), 0);
        write_file(cp, r.out, strlen(r.out));
        it_run_clear(&r);
        assert_int_equal(check(fx, &r, vkey, "--checkpoint", cp, NULL, NULL), 0);
        it_run_clear(&r);
    }
    /* verify and receipts, told no name, go on verifying */
    assert_int_equal(audit(fx, &r, "verify", "--state", it_path(fx->env, "audit.state"), NULL), 0);
    assert_true(strncmp(r.out, "consistent: ", 12) == 0);
    it_run_clear(&r);
    assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "receipt", fx->msg_id, NULL), 0);
    it_run_clear(&r);
    /* and the name is now recorded: a restart keeps it */
    assert_int_equal(it_hub_stop(fx->env), 0);
    assert_int_equal(it_hub_start(fx->env, NULL), 0);
    assert_true(it_hub_log_wait_count(fx->env, "routing log renkei-hub (", 2, 5000));
    assert_int_equal(it_hub_log_count(fx->env, "routing log renkei-hub/"), 1); /* the first start's only */
}

/* A receipt checks offline with the vkey alone, and an altered one fails. */
static void test_receipt_offline(void **state)
{
    fixture_t *fx = *state;
    char vkey[TLOG_VKEY_MAX], cp[PATH_MAX], leaves[PATH_MAX], receipt[PATH_MAX], bad[PATH_MAX];
    char *text, *entry;
    size_t len;
    it_run_t r;

    fetch_all(fx, vkey, cp, leaves);
    snprintf(receipt, sizeof receipt, "%s", it_path(fx->env, "msg.receipt"));
    assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "receipt", fx->msg_id, "--out", receipt, NULL), 0);
    it_run_clear(&r);
    it_hub_stop(fx->env); /* offline means offline */

    assert_int_equal(audit(fx, &r, "check", "--vkey", vkey, "--receipt", receipt, NULL), 0);
    assert_non_null(strstr(r.out, "receipt: verified"));
    it_run_clear(&r);

    /* One hex digit of the entry changed. */
    text = read_file(receipt, &len);
    entry = strstr(text, "\nentry ");
    assert_non_null(entry);
    entry[20] = entry[20] == '0' ? '1' : '0';
    snprintf(bad, sizeof bad, "%s", it_path(fx->env, "altered.receipt"));
    write_file(bad, text, len);
    assert_int_equal(audit(fx, &r, "check", "--vkey", vkey, "--receipt", bad, NULL), 7);
    assert_true(strstr(r.err, "altered") != NULL || strstr(r.err, "does not decode") != NULL ||
                strstr(r.err, "not the entry") != NULL);
    it_run_clear(&r);
    entry[20] = entry[20] == '0' ? '1' : '0';

    /* Truncated in its checkpoint. */
    write_file(bad, text, (size_t)(strstr(text, "\ncheckpoint\n") - text) + 1);
    assert_int_equal(audit(fx, &r, "check", "--vkey", vkey, "--receipt", bad, NULL), 7);
    assert_non_null(strstr(r.err, "truncated"));
    it_run_clear(&r);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_leaves_against_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_offline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consistency_offline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin_is_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_store_keeps_its_name, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
