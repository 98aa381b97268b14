/*
 * codebook.c - the agent's PERSON <-> link code table in LMDB.
 */
#include "codebook.h"
#include "why.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>
#include <sodium.h>

struct rk_codebook {
    MDB_env *env;
    MDB_dbi persons;
    MDB_dbi codes;
};

bool rk_person_valid(const char *s)
{
    size_t n;
    if (s == NULL)
        return false;
    n = strlen(s);
    if (n == 0 || n > RK_PERSON_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e)
            return false;
    }
    return true;
}

static rk_agent_err make_dir(const char *dir, char *why, size_t why_len)
{
    struct stat st;
    if (mkdir(dir, 0700) == 0)
        return RK_AGENT_OK;
    if (errno != EEXIST) {
        rk_why(why, why_len, "cannot create the data directory %s: %s", dir, strerror(errno));
        return RK_AGENT_ESTORE;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rk_why(why, why_len, "%s exists but is not a directory: give --data a directory", dir);
        return RK_AGENT_ESTORE;
    }
    return RK_AGENT_OK;
}

rk_agent_err rk_codebook_open(const char *dir, size_t map_size, rk_codebook_t **out, char *why,
                              size_t why_len)
{
    rk_codebook_t *cb;
    MDB_txn *txn = NULL;
    rk_agent_err err;
    int rc;

    *out = NULL;
    if (dir == NULL || dir[0] == '\0') {
        rk_why(why, why_len, "no data directory given");
        return RK_AGENT_EINVAL;
    }
    if ((err = make_dir(dir, why, why_len)) != RK_AGENT_OK)
        return err;
    cb = calloc(1, sizeof *cb);
    if (cb == NULL) {
        rk_why(why, why_len, "out of memory opening the local table");
        return RK_AGENT_ENOMEM;
    }
    if ((rc = mdb_env_create(&cb->env)) != 0)
        goto fail;
    if ((rc = mdb_env_set_maxdbs(cb->env, RK_CODEBOOK_MAX_DBS)) != 0 ||
        (rc = mdb_env_set_mapsize(cb->env, map_size ? map_size : RK_CODEBOOK_MAP_SIZE)) != 0 ||
        (rc = mdb_env_open(cb->env, dir, 0, 0600)) != 0)
        goto fail;
    if ((rc = mdb_txn_begin(cb->env, NULL, 0, &txn)) != 0)
        goto fail;
    if ((rc = mdb_dbi_open(txn, "persons", MDB_CREATE, &cb->persons)) != 0 ||
        (rc = mdb_dbi_open(txn, "codes", MDB_CREATE, &cb->codes)) != 0) {
        mdb_txn_abort(txn);
        goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        goto fail;
    *out = cb;
    return RK_AGENT_OK;

fail:
    rk_why(why, why_len, "cannot open the local table in %s: %s", dir, mdb_strerror(rc));
    if (cb->env != NULL)
        mdb_env_close(cb->env);
    free(cb);
    return rc == ENOMEM ? RK_AGENT_ENOMEM : RK_AGENT_ESTORE;
}

struct MDB_env *rk_codebook_env(rk_codebook_t *cb)
{
    return cb->env;
}

void rk_codebook_close(rk_codebook_t **cb)
{
    if (cb == NULL || *cb == NULL)
        return;
    mdb_env_close((*cb)->env);
    free(*cb);
    *cb = NULL;
}

static rk_agent_err lmdb_fail(int rc, const char *what, char *why, size_t why_len)
{
    rk_why(why, why_len, "local table: %s failed: %s", what, mdb_strerror(rc));
    if (rc == ENOMEM)
        return RK_AGENT_ENOMEM;
    return RK_AGENT_ESTORE;
}

rk_agent_err rk_codebook_code(rk_codebook_t *cb, const char *person, uint8_t code[RK_CODE_LEN],
                              char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val k, v;
    int rc;

    if (!rk_person_valid(person)) {
        rk_why(why, why_len, "a person's number is 1 to %d printable ASCII characters", RK_PERSON_MAX);
        return RK_AGENT_EINVAL;
    }
    if ((rc = mdb_txn_begin(cb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "read", why, why_len);
    k.mv_data = (void *)person;
    k.mv_size = strlen(person);
    rc = mdb_get(txn, cb->persons, &k, &v);
    if (rc == 0 && v.mv_size == RK_CODE_LEN)
        memcpy(code, v.mv_data, RK_CODE_LEN);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND) {
        rk_why(why, why_len, "no link code is recorded for this person");
        return RK_AGENT_ENOTFOUND;
    }
    if (rc != 0)
        return lmdb_fail(rc, "read", why, why_len);
    if (v.mv_size != RK_CODE_LEN) {
        rk_why(why, why_len, "local table: a record has the wrong size (damaged table?)");
        return RK_AGENT_ESTORE;
    }
    return RK_AGENT_OK;
}

rk_agent_err rk_codebook_person(rk_codebook_t *cb, const uint8_t code[RK_CODE_LEN], char **person,
                                char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val k, v;
    rk_agent_err err = RK_AGENT_OK;
    int rc;

    *person = NULL;
    if ((rc = mdb_txn_begin(cb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "read", why, why_len);
    k.mv_data = (void *)code;
    k.mv_size = RK_CODE_LEN;
    rc = mdb_get(txn, cb->codes, &k, &v);
    if (rc == MDB_NOTFOUND) {
        rk_why(why, why_len, "no person is recorded for this link code");
        err = RK_AGENT_ENOTFOUND;
    } else if (rc != 0) {
        err = lmdb_fail(rc, "read", why, why_len);
    } else if (v.mv_size == 0 || v.mv_size > RK_PERSON_MAX) {
        rk_why(why, why_len, "local table: a record has the wrong size (damaged table?)");
        err = RK_AGENT_ESTORE;
    } else if ((*person = malloc(v.mv_size + 1)) == NULL) {
        rk_why(why, why_len, "out of memory reading the local table");
        err = RK_AGENT_ENOMEM;
    } else {
        memcpy(*person, v.mv_data, v.mv_size);
        (*person)[v.mv_size] = '\0';
    }
    mdb_txn_abort(txn);
    return err;
}

void rk_codebook_free_person(char **person)
{
    if (person == NULL || *person == NULL)
        return;
    sodium_memzero(*person, strlen(*person));
    free(*person);
    *person = NULL;
}

rk_agent_err rk_codebook_bind(rk_codebook_t *cb, const char *person, const uint8_t code[RK_CODE_LEN],
                              char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val pk, ck, v;
    bool have_person = false, have_code = false;
    int rc;

    if (!rk_person_valid(person)) {
        rk_why(why, why_len, "a person's number is 1 to %d printable ASCII characters", RK_PERSON_MAX);
        return RK_AGENT_EINVAL;
    }
    if ((rc = mdb_txn_begin(cb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "write", why, why_len);
    pk.mv_data = (void *)person;
    pk.mv_size = strlen(person);
    ck.mv_data = (void *)code;
    ck.mv_size = RK_CODE_LEN;

    rc = mdb_get(txn, cb->persons, &pk, &v);
    if (rc == 0) {
        if (v.mv_size != RK_CODE_LEN || sodium_memcmp(v.mv_data, code, RK_CODE_LEN) != 0) {
            mdb_txn_abort(txn);
            rk_why(why, why_len, "this person is already bound to another link code");
            return RK_AGENT_ECONFLICT;
        }
        have_person = true;
    } else if (rc != MDB_NOTFOUND) {
        goto fail;
    }
    rc = mdb_get(txn, cb->codes, &ck, &v);
    if (rc == 0) {
        if (v.mv_size != pk.mv_size || memcmp(v.mv_data, person, pk.mv_size) != 0) {
            mdb_txn_abort(txn);
            rk_why(why, why_len, "this link code is already bound to another person");
            return RK_AGENT_ECONFLICT;
        }
        have_code = true;
    } else if (rc != MDB_NOTFOUND) {
        goto fail;
    }
    if (have_person && have_code) {
        mdb_txn_abort(txn);
        return RK_AGENT_OK;
    }
    v.mv_data = (void *)code;
    v.mv_size = RK_CODE_LEN;
    if ((rc = mdb_put(txn, cb->persons, &pk, &v, 0)) != 0)
        goto fail;
    v = pk;
    if ((rc = mdb_put(txn, cb->codes, &ck, &v, 0)) != 0)
        goto fail;
    if ((rc = mdb_txn_commit(txn)) != 0)
        return lmdb_fail(rc, "write", why, why_len);
    return RK_AGENT_OK;

fail:
    mdb_txn_abort(txn);
    if (rc == MDB_MAP_FULL) {
        rk_why(why, why_len, "the local table is full (LMDB map size reached); nothing was recorded");
        return RK_AGENT_ESTORE;
    }
    return lmdb_fail(rc, "write", why, why_len);
}

rk_agent_err rk_codebook_unbind(rk_codebook_t *cb, const char *person, uint8_t code[RK_CODE_LEN], char *why,
                                size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val pk, ck, v;
    uint8_t held[RK_CODE_LEN];
    int rc;

    if (!rk_person_valid(person)) {
        rk_why(why, why_len, "a person's number is 1 to %d printable ASCII characters", RK_PERSON_MAX);
        return RK_AGENT_EINVAL;
    }
    if ((rc = mdb_txn_begin(cb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "write", why, why_len);
    pk.mv_data = (void *)person;
    pk.mv_size = strlen(person);
    rc = mdb_get(txn, cb->persons, &pk, &v);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "no link code is recorded for this person; nothing was changed");
        return RK_AGENT_ENOTFOUND;
    }
    if (rc != 0)
        goto fail;
    if (v.mv_size != RK_CODE_LEN) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "local table: a record has the wrong size (damaged table?)");
        return RK_AGENT_ESTORE;
    }
    memcpy(held, v.mv_data, RK_CODE_LEN);
    ck.mv_data = held;
    ck.mv_size = RK_CODE_LEN;
    if ((rc = mdb_del(txn, cb->codes, &ck, NULL)) != 0 && rc != MDB_NOTFOUND)
        goto fail;
    if ((rc = mdb_del(txn, cb->persons, &pk, NULL)) != 0)
        goto fail;
    if ((rc = mdb_txn_commit(txn)) != 0) {
        sodium_memzero(held, sizeof held);
        return lmdb_fail(rc, "write", why, why_len);
    }
    if (code != NULL)
        memcpy(code, held, RK_CODE_LEN);
    sodium_memzero(held, sizeof held);
    return RK_AGENT_OK;

fail:
    mdb_txn_abort(txn);
    sodium_memzero(held, sizeof held);
    return lmdb_fail(rc, "write", why, why_len);
}

rk_agent_err rk_codebook_rebind(rk_codebook_t *cb, const char *old_person, const char *new_person, char *why,
                                size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val ok, nk, ck, v;
    uint8_t code[RK_CODE_LEN];
    int rc;

    if (!rk_person_valid(old_person) || !rk_person_valid(new_person)) {
        rk_why(why, why_len, "a person's number is 1 to %d printable ASCII characters", RK_PERSON_MAX);
        return RK_AGENT_EINVAL;
    }
    if (strcmp(old_person, new_person) == 0) {
        rk_why(why, why_len, "the old and the new number are the same; nothing was changed");
        return RK_AGENT_EINVAL;
    }
    if ((rc = mdb_txn_begin(cb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "write", why, why_len);
    ok.mv_data = (void *)old_person;
    ok.mv_size = strlen(old_person);
    nk.mv_data = (void *)new_person;
    nk.mv_size = strlen(new_person);
    rc = mdb_get(txn, cb->persons, &nk, &v);
    if (rc == 0) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "the new number already has a link code; nothing was changed");
        return RK_AGENT_ECONFLICT;
    }
    if (rc != MDB_NOTFOUND)
        goto fail;
    rc = mdb_get(txn, cb->persons, &ok, &v);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "no link code is recorded for the old number; nothing was changed");
        return RK_AGENT_ENOTFOUND;
    }
    if (rc != 0)
        goto fail;
    if (v.mv_size != RK_CODE_LEN) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "local table: a record has the wrong size (damaged table?)");
        return RK_AGENT_ESTORE;
    }
    memcpy(code, v.mv_data, RK_CODE_LEN);
    ck.mv_data = code;
    ck.mv_size = RK_CODE_LEN;
    if ((rc = mdb_del(txn, cb->persons, &ok, NULL)) != 0)
        goto fail;
    v.mv_data = code;
    v.mv_size = RK_CODE_LEN;
    if ((rc = mdb_put(txn, cb->persons, &nk, &v, 0)) != 0)
        goto fail;
    v = nk;
    if ((rc = mdb_put(txn, cb->codes, &ck, &v, 0)) != 0)
        goto fail;
    rc = mdb_txn_commit(txn);
    sodium_memzero(code, sizeof code);
    if (rc != 0)
        return lmdb_fail(rc, "write", why, why_len);
    return RK_AGENT_OK;

fail:
    mdb_txn_abort(txn);
    sodium_memzero(code, sizeof code);
    if (rc == MDB_MAP_FULL) {
        rk_why(why, why_len, "the local table is full (LMDB map size reached); nothing was changed");
        return RK_AGENT_ESTORE;
    }
    return lmdb_fail(rc, "write", why, why_len);
}
