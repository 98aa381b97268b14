/*
 * keystore.c - the gateways' name -> message store (keystore.h).
 */
#include "keystore.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "why.h"

#define KEYSTORE_MAP_SIZE ((size_t)64 << 20)

bool rk_keystore_open(rk_keystore_t *ks, const char *dir, const char *file, const char *what, char *why,
                      size_t why_len)
{
    char path[4096];
    MDB_txn *txn = NULL;
    int rc;

    memset(ks, 0, sizeof *ks);
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) {
        rk_why(why, why_len, "the data directory's path is too long");
        return false;
    }
    if ((rc = mdb_env_create(&ks->env)) != 0 || (rc = mdb_env_set_mapsize(ks->env, KEYSTORE_MAP_SIZE)) != 0 ||
        (rc = mdb_env_open(ks->env, path, MDB_NOSUBDIR, 0600)) != 0 ||
        (rc = mdb_txn_begin(ks->env, NULL, 0, &txn)) != 0 || (rc = mdb_dbi_open(txn, NULL, 0, &ks->dbi)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0) {
        if (txn != NULL && rc != 0)
            mdb_txn_abort(txn);
        rk_why(why, why_len, "cannot open %s %s: %s", what, path, mdb_strerror(rc));
        rk_keystore_close(ks);
        return false;
    }
    return true;
}

void rk_keystore_close(rk_keystore_t *ks)
{
    if (ks->env != NULL)
        mdb_env_close(ks->env);
    ks->env = NULL;
}

void rk_keystore_hash(const char *name, uint8_t out[32])
{
    crypto_generichash(out, 32, (const uint8_t *)name, strlen(name), NULL, 0);
}

int rk_keystore_get(rk_keystore_t *ks, const uint8_t h[32], uint8_t val[RK_KEYSTORE_VAL_LEN])
{
    MDB_txn *txn;
    MDB_val k = {32, (void *)h}, v;
    int rc;
    if (mdb_txn_begin(ks->env, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    rc = mdb_get(txn, ks->dbi, &k, &v);
    if (rc == 0 && v.mv_size == RK_KEYSTORE_VAL_LEN)
        memcpy(val, v.mv_data, RK_KEYSTORE_VAL_LEN);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc == 0 && v.mv_size == RK_KEYSTORE_VAL_LEN ? 1 : -1;
}

int rk_keystore_put(rk_keystore_t *ks, const uint8_t h[32], const uint8_t val[RK_KEYSTORE_VAL_LEN], bool fresh)
{
    MDB_txn *txn;
    MDB_val k = {32, (void *)h}, v = {RK_KEYSTORE_VAL_LEN, (void *)val};
    int rc;
    if (mdb_txn_begin(ks->env, NULL, 0, &txn) != 0)
        return -1;
    rc = mdb_put(txn, ks->dbi, &k, &v, fresh ? MDB_NOOVERWRITE : 0);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc == MDB_KEYEXIST ? 0 : -1;
    }
    return mdb_txn_commit(txn) == 0 ? 1 : -1;
}

bool rk_keystore_del(rk_keystore_t *ks, const uint8_t h[32])
{
    MDB_txn *txn;
    MDB_val k = {32, (void *)h};
    int rc;
    if (mdb_txn_begin(ks->env, NULL, 0, &txn) != 0)
        return false;
    rc = mdb_del(txn, ks->dbi, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return false;
    }
    return mdb_txn_commit(txn) == 0;
}

int rk_keystore_has_id(rk_keystore_t *ks, const uint8_t msg_id[RK_MSGID_LEN])
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, found = 0;
    if (mdb_txn_begin(ks->env, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, ks->dbi, &cur) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !found;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (v.mv_size == RK_KEYSTORE_VAL_LEN && ((const uint8_t *)v.mv_data)[0] == RK_KEYSTORE_SENT &&
            memcmp((const uint8_t *)v.mv_data + 1, msg_id, RK_MSGID_LEN) == 0)
            found = 1;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return found || rc == MDB_NOTFOUND ? found : -1;
}

long rk_keystore_purge(rk_keystore_t *ks, bool (*expired)(const uint8_t val[RK_KEYSTORE_VAL_LEN], void *ctx),
                       void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    long n = 0;
    int rc;
    if (mdb_txn_begin(ks->env, NULL, 0, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, ks->dbi, &cur) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (v.mv_size != RK_KEYSTORE_VAL_LEN || !expired((const uint8_t *)v.mv_data, ctx))
            continue;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return -1;
    }
    return mdb_txn_commit(txn) == 0 ? n : -1;
}
