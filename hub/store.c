/*
 * store.c - the hub's durable state in LMDB.
 *
 * Databases (all in one environment, DIR/data.mdb):
 *   meta           "schema" -> u32 LE, "master-check" -> 32 bytes, "seq" -> u64 LE
 *   orgs           org id -> packed org record (see org_pack)
 *   orgs_by_curve  X25519 public key -> org id
 *   code_fwd       H_hash("fwd" 0 org 0 code)    -> secretbox(id code)
 *   code_rev       H_hash("rev" 0 id_code org)   -> secretbox(link code)
 *
 * The code tables hold only keyed hashes and ciphertexts: without the master
 * key nobody can tell which link codes belong to the same person.
 */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define SCHEMA_VERSION 1u
#define ORG_RECORD_VERSION 1u
#define ORG_RECORD_LEN (1 + 1 + 1 + RK_KEY_LEN + RK_KEY_LEN + 8 + 8)
#define SUBKEY_LEN 32
#define LOOKUP_KEY_LEN 32
#define SEALED_LEN (crypto_secretbox_MACBYTES + 16)
#define MAX_RETRIES 8

#define KDF_CONTEXT "rk-table"
#define SUBKEY_HASH 1
#define SUBKEY_ENC 2
#define SUBKEY_CHECK 3
#define CHECK_TEXT "renkei-master-check"

/* Secrets derived from the master key; sodium_malloc'd, read-only while open. */
struct store_keys {
    uint8_t hash[SUBKEY_LEN];
    uint8_t enc[SUBKEY_LEN];
};

struct store {
    MDB_env *env;
    MDB_dbi meta, orgs, by_curve, code_fwd, code_rev;
    struct store_keys *keys; /* NULL when opened without a master key */
    bool writing;            /* a write transaction is open */
    unsigned open_txns;
};

struct store_txn {
    store_t *store;
    MDB_txn *txn;     /* NULL once a failure aborted it */
    bool write;
    store_err failed; /* STORE_OK, or why txn was aborted early */
};

_Static_assert(sizeof(KDF_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES, "kdf context length");
_Static_assert(SEALED_LEN == 32, "sealed code length");
_Static_assert(crypto_secretbox_NONCEBYTES <= LOOKUP_KEY_LEN, "nonce from lookup key");

/* A short English phrase for err; never NULL. */
const char *store_strerror(store_err err)
{
    switch (err) {
    case STORE_OK: return "success";
    case STORE_ENOTFOUND: return "no such record";
    case STORE_EEXIST: return "already registered";
    case STORE_EFULL: return "the data file is full (LMDB map size reached); nothing was written";
    case STORE_EMASTER: return "master key missing or not the one this data directory was created with";
    case STORE_ECORRUPT: return "a stored record is damaged or does not decrypt";
    case STORE_EIO: return "storage failure";
    case STORE_ENOMEM: return "out of memory";
    case STORE_EINVAL: return "invalid argument";
    case STORE_EBUSY: return "another write transaction is already open";
    }
    return "unknown store error";
}

/* The kind's name as the CLI and the directory spell it; "unknown" otherwise. */
const char *org_kind_name(org_kind kind)
{
    switch (kind) {
    case ORG_MUNICIPALITY: return "municipality";
    case ORG_UTILITY: return "utility";
    case ORG_AUDITOR: return "auditor";
    }
    return "unknown";
}

/* true and *kind set if name is one of the three kind names; *kind is
 * untouched otherwise. */
bool org_kind_parse(const char *name, org_kind *kind)
{
    static const org_kind all[] = {ORG_MUNICIPALITY, ORG_UTILITY, ORG_AUDITOR};
    size_t i;

    if (name == NULL)
        return false;
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, org_kind_name(all[i])) == 0) {
            *kind = all[i];
            return true;
        }
    }
    return false;
}

/* "active" / "suspended"; "unknown" otherwise. */
const char *org_status_name(org_status status)
{
    switch (status) {
    case ORG_ACTIVE: return "active";
    case ORG_SUSPENDED: return "suspended";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ helpers */

static void why_f(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why_f(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || why_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static store_err map_mdb(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return STORE_OK;
    case MDB_NOTFOUND: return STORE_ENOTFOUND;
    case MDB_KEYEXIST: return STORE_EEXIST;
    case MDB_MAP_FULL: return STORE_EFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH: return STORE_ECORRUPT;
    case ENOMEM: return STORE_ENOMEM;
    default: return STORE_EIO;
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static bool kind_valid(unsigned k)
{
    return k == ORG_MUNICIPALITY || k == ORG_UTILITY || k == ORG_AUDITOR;
}

static bool status_valid(unsigned s)
{
    return s == ORG_ACTIVE || s == ORG_SUSPENDED;
}

/* version(1) kind(1) status(1) sign_pk(32) curve_pk(32) created_ms(8 LE) updated_ms(8 LE) */
static void org_pack(const org_t *org, uint8_t out[ORG_RECORD_LEN])
{
    uint8_t *p = out;

    *p++ = ORG_RECORD_VERSION;
    *p++ = (uint8_t)org->kind;
    *p++ = (uint8_t)org->status;
    memcpy(p, org->sign_pk, RK_KEY_LEN);
    p += RK_KEY_LEN;
    memcpy(p, org->curve_pk, RK_KEY_LEN);
    p += RK_KEY_LEN;
    put_u64(p, org->created_ms);
    p += 8;
    put_u64(p, org->updated_ms);
}

static store_err org_unpack(const MDB_val *key, const MDB_val *val, org_t *out)
{
    const uint8_t *p = val->mv_data;

    if (key->mv_size == 0 || key->mv_size > RK_ID_MAX || val->mv_size != ORG_RECORD_LEN)
        return STORE_ECORRUPT;
    if (p[0] != ORG_RECORD_VERSION || !kind_valid(p[1]) || !status_valid(p[2]))
        return STORE_ECORRUPT;
    memset(out, 0, sizeof *out);
    memcpy(out->id, key->mv_data, key->mv_size);
    out->id[key->mv_size] = '\0';
    if (!rk_valid_name(out->id)) {
        memset(out, 0, sizeof *out);
        return STORE_ECORRUPT;
    }
    out->kind = (org_kind)p[1];
    out->status = (org_status)p[2];
    p += 3;
    memcpy(out->sign_pk, p, RK_KEY_LEN);
    p += RK_KEY_LEN;
    memcpy(out->curve_pk, p, RK_KEY_LEN);
    p += RK_KEY_LEN;
    out->created_ms = get_u64(p);
    out->updated_ms = get_u64(p + 8);
    return STORE_OK;
}

static bool org_valid(const org_t *org)
{
    return org != NULL && memchr(org->id, '\0', sizeof org->id) != NULL && rk_valid_name(org->id) &&
           kind_valid((unsigned)org->kind) && status_valid((unsigned)org->status);
}

/* Aborts the LMDB transaction after a failure that LMDB says leaves it
 * unusable; the wrapper stays until the caller commits or aborts it. */
static store_err txn_fail(store_txn_t *t, store_err err)
{
    if (t->txn != NULL) {
        mdb_txn_abort(t->txn);
        t->txn = NULL;
    }
    if (t->failed == STORE_OK)
        t->failed = err;
    return err;
}

/* STORE_OK if t is usable (and writable when `write`). */
static store_err txn_check(store_txn_t *t, bool write)
{
    if (t == NULL)
        return STORE_EINVAL;
    if (t->failed != STORE_OK)
        return t->failed;
    if (t->txn == NULL)
        return STORE_EINVAL;
    if (write && !t->write)
        return STORE_EINVAL;
    return STORE_OK;
}

static store_err txn_put(store_txn_t *t, MDB_dbi dbi, MDB_val *key, MDB_val *val, unsigned flags)
{
    int rc = mdb_put(t->txn, dbi, key, val, flags);

    if (rc == MDB_SUCCESS)
        return STORE_OK;
    if (rc == MDB_KEYEXIST)
        return STORE_EEXIST; /* the transaction is still usable */
    return txn_fail(t, map_mdb(rc));
}

static store_err txn_del(store_txn_t *t, MDB_dbi dbi, MDB_val *key)
{
    int rc = mdb_del(t->txn, dbi, key, NULL);

    if (rc == MDB_SUCCESS)
        return STORE_OK;
    if (rc == MDB_NOTFOUND)
        return STORE_ENOTFOUND;
    return txn_fail(t, map_mdb(rc));
}

static store_err txn_get(store_txn_t *t, MDB_dbi dbi, MDB_val *key, MDB_val *val)
{
    int rc = mdb_get(t->txn, dbi, key, val);

    if (rc == MDB_SUCCESS)
        return STORE_OK;
    if (rc == MDB_NOTFOUND)
        return STORE_ENOTFOUND;
    return map_mdb(rc);
}

/* ------------------------------------------------------------ open / close */

static void keys_free(struct store_keys **keys)
{
    if (*keys == NULL)
        return;
    sodium_mprotect_readwrite(*keys);
    sodium_memzero(*keys, sizeof **keys);
    sodium_free(*keys);
    *keys = NULL;
}

/* Derives the table subkeys and the check value from the master key. */
static store_err keys_derive(const uint8_t *master, struct store_keys **out, uint8_t check[32])
{
    struct store_keys *keys;
    uint8_t *check_key;

    *out = NULL;
    keys = sodium_malloc(sizeof *keys);
    check_key = sodium_malloc(SUBKEY_LEN);
    if (keys == NULL || check_key == NULL)
        goto fail;
    if (crypto_kdf_derive_from_key(keys->hash, SUBKEY_LEN, SUBKEY_HASH, KDF_CONTEXT, master) != 0 ||
        crypto_kdf_derive_from_key(keys->enc, SUBKEY_LEN, SUBKEY_ENC, KDF_CONTEXT, master) != 0 ||
        crypto_kdf_derive_from_key(check_key, SUBKEY_LEN, SUBKEY_CHECK, KDF_CONTEXT, master) != 0)
        goto fail;
    if (crypto_generichash(check, 32, (const uint8_t *)CHECK_TEXT, sizeof CHECK_TEXT - 1, check_key,
                           SUBKEY_LEN) != 0)
        goto fail;
    sodium_memzero(check_key, SUBKEY_LEN);
    sodium_free(check_key);
    sodium_mprotect_readonly(keys);
    *out = keys;
    return STORE_OK;
fail:
    if (check_key != NULL) {
        sodium_memzero(check_key, SUBKEY_LEN);
        sodium_free(check_key);
    }
    keys_free(&keys);
    return STORE_ENOMEM;
}

static store_err ensure_dir(const char *dir, char *why, size_t why_len)
{
    struct stat st;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        why_f(why, why_len, "cannot create data directory %s: %s", dir, strerror(errno));
        return STORE_EIO;
    }
    if (stat(dir, &st) != 0) {
        why_f(why, why_len, "cannot use data directory %s: %s", dir, strerror(errno));
        return STORE_EIO;
    }
    if (!S_ISDIR(st.st_mode)) {
        why_f(why, why_len, "data directory %s exists but is not a directory", dir);
        return STORE_EIO;
    }
    return STORE_OK;
}

/* Opens the databases, checks the schema and the master key check value. */
static store_err open_dbs(store_t *s, const uint8_t *check, const char *dir, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val key, val;
    uint8_t schema[4];
    int rc;
    store_err err;

    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != MDB_SUCCESS) {
        why_f(why, why_len, "cannot begin a transaction in %s: %s", dir, mdb_strerror(rc));
        return map_mdb(rc);
    }
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "orgs", MDB_CREATE, &s->orgs)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "orgs_by_curve", MDB_CREATE, &s->by_curve)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "code_fwd", MDB_CREATE, &s->code_fwd)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "code_rev", MDB_CREATE, &s->code_rev)) != MDB_SUCCESS) {
        why_f(why, why_len, "cannot open the databases in %s: %s", dir, mdb_strerror(rc));
        err = map_mdb(rc);
        goto fail;
    }

    key.mv_data = "schema";
    key.mv_size = 6;
    rc = mdb_get(txn, s->meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        schema[0] = SCHEMA_VERSION & 0xff;
        schema[1] = (SCHEMA_VERSION >> 8) & 0xff;
        schema[2] = (SCHEMA_VERSION >> 16) & 0xff;
        schema[3] = (SCHEMA_VERSION >> 24) & 0xff;
        val.mv_data = schema;
        val.mv_size = sizeof schema;
        rc = mdb_put(txn, s->meta, &key, &val, 0);
    } else if (rc == MDB_SUCCESS) {
        const uint8_t *p = val.mv_data;
        uint32_t v;
        if (val.mv_size != 4) {
            why_f(why, why_len, "%s: the schema record is damaged", dir);
            err = STORE_ECORRUPT;
            goto fail;
        }
        v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        if (v != SCHEMA_VERSION) {
            why_f(why, why_len, "%s holds schema version %u; this build reads version %u only", dir,
                  (unsigned)v, SCHEMA_VERSION);
            err = STORE_ECORRUPT;
            goto fail;
        }
    }
    if (rc != MDB_SUCCESS) {
        why_f(why, why_len, "cannot read or write the schema version in %s: %s", dir, mdb_strerror(rc));
        err = map_mdb(rc);
        goto fail;
    }

    if (check != NULL) {
        key.mv_data = "master-check";
        key.mv_size = 12;
        rc = mdb_get(txn, s->meta, &key, &val);
        if (rc == MDB_NOTFOUND) {
            val.mv_data = (void *)check;
            val.mv_size = 32;
            rc = mdb_put(txn, s->meta, &key, &val, 0);
        } else if (rc == MDB_SUCCESS) {
            if (val.mv_size != 32 || sodium_memcmp(val.mv_data, check, 32) != 0) {
                why_f(why, why_len,
                      "the master key does not match this data directory (%s): it was created with "
                      "another master key; use that key, or a new empty data directory", dir);
                err = STORE_EMASTER;
                goto fail;
            }
        }
        if (rc != MDB_SUCCESS) {
            why_f(why, why_len, "cannot read or write the master key check in %s: %s", dir,
                  mdb_strerror(rc));
            err = map_mdb(rc);
            goto fail;
        }
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != MDB_SUCCESS) {
        why_f(why, why_len, "cannot initialize %s: %s", dir, mdb_strerror(rc));
        return map_mdb(rc);
    }
    return STORE_OK;
fail:
    mdb_txn_abort(txn);
    return err;
}

/* Opens or creates the store; derives the table keys from master_key and
 * checks them against the stored check value (written on first use).  On
 * failure nothing is left open, *out is NULL and why says what to do. */
store_err store_open(const char *dir, const uint8_t *master_key, size_t map_size, store_t **out,
                     char *why, size_t why_len)
{
    store_t *s = NULL;
    uint8_t check[32];
    store_err err;
    int rc, dead = 0;

    *out = NULL;
    if (dir == NULL || *dir == '\0') {
        why_f(why, why_len, "no data directory given");
        return STORE_EINVAL;
    }
    if (sodium_init() < 0) {
        why_f(why, why_len, "libsodium failed to initialize");
        return STORE_EIO;
    }
    if ((err = ensure_dir(dir, why, why_len)) != STORE_OK)
        return err;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        why_f(why, why_len, "out of memory opening %s", dir);
        return STORE_ENOMEM;
    }
    if (master_key != NULL && keys_derive(master_key, &s->keys, check) != STORE_OK) {
        why_f(why, why_len, "out of memory deriving the table keys");
        err = STORE_ENOMEM;
        goto fail;
    }
    rc = mdb_env_create(&s->env);
    if (rc != MDB_SUCCESS) {
        s->env = NULL;
        why_f(why, why_len, "cannot create an LMDB environment: %s", mdb_strerror(rc));
        err = map_mdb(rc);
        goto fail;
    }
    if ((rc = mdb_env_set_maxdbs(s->env, 8)) != MDB_SUCCESS ||
        (rc = mdb_env_set_mapsize(s->env, map_size ? map_size : STORE_DEFAULT_MAP_SIZE)) != MDB_SUCCESS) {
        why_f(why, why_len, "cannot configure the LMDB environment: %s", mdb_strerror(rc));
        err = map_mdb(rc);
        goto fail;
    }
    rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
    if (rc != MDB_SUCCESS) {
        why_f(why, why_len, "cannot open the data files in %s: %s", dir, mdb_strerror(rc));
        err = map_mdb(rc);
        goto fail;
    }
    /* readers left behind by a crashed process would pin old pages forever */
    (void)mdb_reader_check(s->env, &dead);
    err = open_dbs(s, master_key != NULL ? check : NULL, dir, why, why_len);
    if (err != STORE_OK)
        goto fail;
    sodium_memzero(check, sizeof check);
    *out = s;
    return STORE_OK;
fail:
    sodium_memzero(check, sizeof check);
    store_close(&s);
    return err;
}

/* Closes the environment and wipes the table keys.  Accepts NULL. */
void store_close(store_t **store)
{
    store_t *s;

    if (store == NULL || *store == NULL)
        return;
    s = *store;
    if (s->env != NULL)
        mdb_env_close(s->env);
    keys_free(&s->keys);
    free(s);
    *store = NULL;
}

/* ------------------------------------------------------------- transactions */

/* Begins a read or write transaction; *txn is NULL on failure.  Adopts a
 * map that another process grew when nothing else is open here. */
store_err store_begin(store_t *store, bool write, store_txn_t **txn)
{
    store_txn_t *t;
    int rc;

    *txn = NULL;
    if (store == NULL)
        return STORE_EINVAL;
    if (write && store->writing)
        return STORE_EBUSY;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return STORE_ENOMEM;
    rc = mdb_txn_begin(store->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc == MDB_MAP_RESIZED && store->open_txns == 0) {
        /* Another process grew the map: adopt its size, then retry once. */
        rc = mdb_env_set_mapsize(store->env, 0);
        if (rc == MDB_SUCCESS)
            rc = mdb_txn_begin(store->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    }
    if (rc != MDB_SUCCESS) {
        free(t);
        return map_mdb(rc);
    }
    t->store = store;
    t->write = write;
    store->open_txns++;
    if (write)
        store->writing = true;
    *txn = t;
    return STORE_OK;
}

static void txn_release(store_txn_t **txn)
{
    store_txn_t *t = *txn;

    if (t->write)
        t->store->writing = false;
    t->store->open_txns--;
    free(t);
    *txn = NULL;
}

/* Commits and frees *txn in every case.  A transaction that already failed
 * (e.g. STORE_EFULL on a write) commits nothing and returns that error. */
store_err store_commit(store_txn_t **txn)
{
    store_txn_t *t;
    store_err err;
    int rc;

    if (txn == NULL || *txn == NULL)
        return STORE_EINVAL;
    t = *txn;
    if (t->failed != STORE_OK) {
        err = t->failed;
        if (t->txn != NULL)
            mdb_txn_abort(t->txn);
    } else {
        rc = mdb_txn_commit(t->txn); /* frees the LMDB txn whatever the outcome */
        err = map_mdb(rc);
    }
    t->txn = NULL;
    txn_release(txn);
    return err;
}

/* Discards and frees *txn; accepts NULL and an already-failed txn. */
void store_abort(store_txn_t **txn)
{
    if (txn == NULL || *txn == NULL)
        return;
    if ((*txn)->txn != NULL)
        mdb_txn_abort((*txn)->txn);
    (*txn)->txn = NULL;
    txn_release(txn);
}

/* ------------------------------------------------------------- organizations */

static store_err org_get_raw(store_txn_t *t, const char *id, org_t *out)
{
    MDB_val key, val;
    store_err err;

    key.mv_data = (void *)id;
    key.mv_size = strlen(id);
    err = txn_get(t, t->store->orgs, &key, &val);
    if (err != STORE_OK)
        return err;
    return org_unpack(&key, &val, out);
}

/* Reads org `id`.  STORE_ENOTFOUND if absent, STORE_EINVAL for an invalid
 * id, STORE_ECORRUPT if the record does not decode; *out is then unusable. */
store_err store_org_get(store_txn_t *txn, const char *id, org_t *out)
{
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (id == NULL || !rk_valid_name(id))
        return STORE_EINVAL;
    return org_get_raw(txn, id, out);
}

/* The id registered for curve_pk, copied into id (RK_ID_MAX + 1 bytes). */
static store_err curve_owner(store_txn_t *t, const uint8_t curve_pk[RK_KEY_LEN], char id[RK_ID_MAX + 1])
{
    MDB_val key, val;
    store_err err;

    key.mv_data = (void *)curve_pk;
    key.mv_size = RK_KEY_LEN;
    err = txn_get(t, t->store->by_curve, &key, &val);
    if (err != STORE_OK)
        return err;
    if (val.mv_size == 0 || val.mv_size > RK_ID_MAX)
        return STORE_ECORRUPT;
    memcpy(id, val.mv_data, val.mv_size);
    id[val.mv_size] = '\0';
    return rk_valid_name(id) ? STORE_OK : STORE_ECORRUPT;
}

/* The org holding curve_pk.  STORE_ECORRUPT if the key index and the
 * org records disagree. */
store_err store_org_by_curve(store_txn_t *txn, const uint8_t curve_pk[RK_KEY_LEN], org_t *out)
{
    char id[RK_ID_MAX + 1];
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (curve_pk == NULL)
        return STORE_EINVAL;
    if ((err = curve_owner(txn, curve_pk, id)) != STORE_OK)
        return err;
    err = org_get_raw(txn, id, out);
    if (err == STORE_ENOTFOUND)
        return STORE_ECORRUPT; /* index points at nobody */
    if (err == STORE_OK && sodium_memcmp(out->curve_pk, curve_pk, RK_KEY_LEN) != 0) {
        memset(out, 0, sizeof *out);
        return STORE_ECORRUPT;
    }
    return err;
}

static store_err org_put(store_txn_t *t, const org_t *org)
{
    uint8_t rec[ORG_RECORD_LEN];
    MDB_val key, val;

    org_pack(org, rec);
    key.mv_data = (void *)org->id;
    key.mv_size = strlen(org->id);
    val.mv_data = rec;
    val.mv_size = sizeof rec;
    return txn_put(t, t->store->orgs, &key, &val, 0);
}

static store_err curve_put(store_txn_t *t, const org_t *org)
{
    MDB_val key, val;

    key.mv_data = (void *)org->curve_pk;
    key.mv_size = RK_KEY_LEN;
    val.mv_data = (void *)org->id;
    val.mv_size = strlen(org->id);
    return txn_put(t, t->store->by_curve, &key, &val, 0);
}

/* Adds a new org and its key index entry; STORE_EEXIST if the id or the
 * CURVE key is taken (nothing written).  Write transactions only. */
store_err store_org_add(store_txn_t *txn, const org_t *org)
{
    char owner[RK_ID_MAX + 1];
    org_t old;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (!org_valid(org))
        return STORE_EINVAL;
    err = org_get_raw(txn, org->id, &old);
    if (err == STORE_OK)
        return STORE_EEXIST;
    if (err != STORE_ENOTFOUND)
        return err;
    err = curve_owner(txn, org->curve_pk, owner);
    if (err == STORE_OK)
        return STORE_EEXIST;
    if (err != STORE_ENOTFOUND)
        return err;
    if ((err = org_put(txn, org)) != STORE_OK)
        return err;
    return curve_put(txn, org);
}

/* Rewrites an existing org; moves its key index entry when the key
 * changed, so the old key finds nobody.  Write transactions only. */
store_err store_org_update(store_txn_t *txn, const org_t *org)
{
    char owner[RK_ID_MAX + 1];
    org_t old;
    MDB_val key;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (!org_valid(org))
        return STORE_EINVAL;
    if ((err = org_get_raw(txn, org->id, &old)) != STORE_OK)
        return err;
    err = curve_owner(txn, org->curve_pk, owner);
    if (err == STORE_OK && strcmp(owner, org->id) != 0)
        return STORE_EEXIST;
    if (err != STORE_OK && err != STORE_ENOTFOUND)
        return err;
    if (memcmp(old.curve_pk, org->curve_pk, RK_KEY_LEN) != 0) {
        key.mv_data = old.curve_pk;
        key.mv_size = RK_KEY_LEN;
        err = txn_del(txn, txn->store->by_curve, &key);
        if (err != STORE_OK && err != STORE_ENOTFOUND)
            return err;
        if ((err = curve_put(txn, org)) != STORE_OK)
            return err;
    }
    return org_put(txn, org);
}

/* Calls cb for every org in id (byte) order until cb returns non-zero.
 * STORE_ECORRUPT stops the walk at a record that does not decode. */
store_err store_org_list(store_txn_t *txn, int (*cb)(const org_t *org, void *ctx), void *ctx)
{
    MDB_cursor *cur;
    MDB_val key, val;
    org_t org;
    store_err err = txn_check(txn, false);
    int rc;

    if (err != STORE_OK)
        return err;
    if (cb == NULL)
        return STORE_EINVAL;
    rc = mdb_cursor_open(txn->txn, txn->store->orgs, &cur);
    if (rc != MDB_SUCCESS)
        return map_mdb(rc);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if ((err = org_unpack(&key, &val, &org)) != STORE_OK)
            break;
        if (cb(&org, ctx) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (err != STORE_OK)
        return err;
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? STORE_OK : map_mdb(rc);
}

/* ------------------------------------------------------------------ ID codes */

/* Lookup key for (org, link code) in code_fwd. */
static void fwd_key(const store_t *s, const char *org, const uint8_t code[RK_CODE_LEN],
                    uint8_t out[LOOKUP_KEY_LEN])
{
    uint8_t buf[4 + RK_ID_MAX + 1 + RK_CODE_LEN];
    size_t n = strlen(org), len = 0;

    memcpy(buf, "fwd", 4); /* includes the 0x00 separator */
    len = 4;
    memcpy(buf + len, org, n);
    len += n;
    buf[len++] = 0;
    memcpy(buf + len, code, RK_CODE_LEN);
    len += RK_CODE_LEN;
    crypto_generichash(out, LOOKUP_KEY_LEN, buf, len, s->keys->hash, SUBKEY_LEN);
    sodium_memzero(buf, sizeof buf);
}

/* Lookup key for (ID code, org) in code_rev. */
static void rev_key(const store_t *s, const uint8_t id_code[STORE_IDCODE_LEN], const char *org,
                    uint8_t out[LOOKUP_KEY_LEN])
{
    uint8_t buf[4 + STORE_IDCODE_LEN + RK_ID_MAX];
    size_t n = strlen(org), len = 0;

    memcpy(buf, "rev", 4);
    len = 4;
    memcpy(buf + len, id_code, STORE_IDCODE_LEN);
    len += STORE_IDCODE_LEN;
    memcpy(buf + len, org, n);
    len += n;
    crypto_generichash(out, LOOKUP_KEY_LEN, buf, len, s->keys->hash, SUBKEY_LEN);
    sodium_memzero(buf, sizeof buf);
}

/* Reads and decrypts the 16-byte secret stored under lookup key lk. */
static store_err sealed_get(store_txn_t *t, MDB_dbi dbi, const uint8_t lk[LOOKUP_KEY_LEN], uint8_t out[16])
{
    MDB_val key, val;
    store_err err;

    key.mv_data = (void *)lk;
    key.mv_size = LOOKUP_KEY_LEN;
    if ((err = txn_get(t, dbi, &key, &val)) != STORE_OK)
        return err;
    if (val.mv_size != SEALED_LEN)
        return STORE_ECORRUPT;
    if (crypto_secretbox_open_easy(out, val.mv_data, SEALED_LEN, lk, t->store->keys->enc) != 0) {
        sodium_memzero(out, 16);
        return STORE_ECORRUPT;
    }
    return STORE_OK;
}

static store_err sealed_exists(store_txn_t *t, MDB_dbi dbi, const uint8_t lk[LOOKUP_KEY_LEN])
{
    MDB_val key, val;

    key.mv_data = (void *)lk;
    key.mv_size = LOOKUP_KEY_LEN;
    return txn_get(t, dbi, &key, &val);
}

/* Encrypts secret (16 bytes) with the lookup key's first 24 bytes as nonce and
 * stores it; refuses to overwrite. */
static store_err sealed_put(store_txn_t *t, MDB_dbi dbi, const uint8_t lk[LOOKUP_KEY_LEN], const uint8_t secret[16])
{
    uint8_t box[SEALED_LEN];
    MDB_val key, val;

    if (crypto_secretbox_easy(box, secret, 16, lk, t->store->keys->enc) != 0)
        return STORE_EIO;
    key.mv_data = (void *)lk;
    key.mv_size = LOOKUP_KEY_LEN;
    val.mv_data = box;
    val.mv_size = sizeof box;
    return txn_put(t, dbi, &key, &val, MDB_NOOVERWRITE);
}

static store_err code_args(store_txn_t *txn, bool write, const char *org)
{
    store_err err = txn_check(txn, write);

    if (err != STORE_OK)
        return err;
    if (txn->store->keys == NULL)
        return STORE_EMASTER;
    if (org == NULL || !rk_valid_name(org))
        return STORE_EINVAL;
    return STORE_OK;
}

/* (org, link code) -> ID code.  STORE_EMASTER without a master key,
 * STORE_ECORRUPT if the entry does not decrypt under this key. */
store_err store_code_resolve(store_txn_t *txn, const char *org, const uint8_t code[RK_CODE_LEN],
                             uint8_t id_code[STORE_IDCODE_LEN])
{
    uint8_t lk[LOOKUP_KEY_LEN];
    store_err err = code_args(txn, false, org);

    if (err != STORE_OK)
        return err;
    fwd_key(txn->store, org, code, lk);
    return sealed_get(txn, txn->store->code_fwd, lk, id_code);
}

/* (ID code, org) -> org's link code; STORE_ENOTFOUND if org has none. */
store_err store_code_lookup(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], const char *org,
                            uint8_t code[RK_CODE_LEN])
{
    uint8_t lk[LOOKUP_KEY_LEN];
    store_err err = code_args(txn, false, org);

    if (err != STORE_OK)
        return err;
    rev_key(txn->store, id_code, org, lk);
    return sealed_get(txn, txn->store->code_rev, lk, code);
}

/* Issues a fresh code of org for id_code, whose rev key is rk (known absent).
 * Retries the (astronomically unlikely) collision with another code of org. */
static store_err issue(store_txn_t *t, const uint8_t id_code[STORE_IDCODE_LEN], const char *org,
                       const uint8_t rk[LOOKUP_KEY_LEN], uint8_t code[RK_CODE_LEN])
{
    uint8_t fresh[RK_CODE_LEN], fk[LOOKUP_KEY_LEN];
    store_err err = STORE_EIO;
    int tries;

    for (tries = 0; tries < MAX_RETRIES; tries++) {
        randombytes_buf(fresh, sizeof fresh);
        fwd_key(t->store, org, fresh, fk);
        err = sealed_exists(t, t->store->code_fwd, fk);
        if (err == STORE_OK)
            continue; /* org already holds this code */
        if (err != STORE_ENOTFOUND)
            goto out;
        if ((err = sealed_put(t, t->store->code_fwd, fk, id_code)) != STORE_OK)
            goto out;
        if ((err = sealed_put(t, t->store->code_rev, rk, fresh)) != STORE_OK)
            goto out;
        memcpy(code, fresh, RK_CODE_LEN);
        goto out;
    }
    err = STORE_EIO;
out:
    sodium_memzero(fresh, sizeof fresh);
    return err;
}

static store_err org_known(store_txn_t *t, const char *org)
{
    MDB_val key, val;

    key.mv_data = (void *)org;
    key.mv_size = strlen(org);
    return txn_get(t, t->store->orgs, &key, &val);
}

/* New random link code of registered org for id_code, both directions.
 * STORE_EEXIST if org already has one, STORE_ENOTFOUND if org is not
 * registered.  code is written only on success. */
store_err store_code_issue(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], const char *org,
                           uint8_t code[RK_CODE_LEN])
{
    uint8_t rk[LOOKUP_KEY_LEN];
    store_err err = code_args(txn, true, org);

    if (err != STORE_OK)
        return err;
    if ((err = org_known(txn, org)) != STORE_OK)
        return err;
    rev_key(txn->store, id_code, org, rk);
    err = sealed_exists(txn, txn->store->code_rev, rk);
    if (err == STORE_OK)
        return STORE_EEXIST;
    if (err != STORE_ENOTFOUND)
        return err;
    return issue(txn, id_code, org, rk, code);
}

/* New person: random ID code and random link code of registered org.
 * STORE_ENOTFOUND if org is not registered; code written only on success. */
store_err store_person_new(store_txn_t *txn, const char *org, uint8_t code[RK_CODE_LEN])
{
    uint8_t id_code[STORE_IDCODE_LEN], rk[LOOKUP_KEY_LEN];
    store_err err = code_args(txn, true, org);
    int tries;

    if (err != STORE_OK)
        return err;
    if ((err = org_known(txn, org)) != STORE_OK)
        return err;
    for (tries = 0; tries < MAX_RETRIES; tries++) {
        randombytes_buf(id_code, sizeof id_code);
        rev_key(txn->store, id_code, org, rk);
        err = sealed_exists(txn, txn->store->code_rev, rk);
        if (err == STORE_OK)
            continue; /* this ID code is taken */
        if (err == STORE_ENOTFOUND)
            err = issue(txn, id_code, org, rk, code);
        break;
    }
    if (tries == MAX_RETRIES)
        err = STORE_EIO;
    sodium_memzero(id_code, sizeof id_code);
    return err;
}

/* ------------------------------------------------------------------ sequence */

/* Increments and returns the persisted message sequence (first value 1).
 * Write transactions only; an aborted txn gives its numbers back. */
store_err store_next_seq(store_txn_t *txn, uint64_t *seq)
{
    uint8_t buf[8];
    MDB_val key, val;
    uint64_t cur = 0;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    key.mv_data = "seq";
    key.mv_size = 3;
    err = txn_get(txn, txn->store->meta, &key, &val);
    if (err == STORE_OK) {
        if (val.mv_size != 8)
            return STORE_ECORRUPT;
        cur = get_u64(val.mv_data);
    } else if (err != STORE_ENOTFOUND) {
        return err;
    }
    if (cur == UINT64_MAX)
        return STORE_ECORRUPT;
    put_u64(buf, cur + 1);
    val.mv_data = buf;
    val.mv_size = sizeof buf;
    if ((err = txn_put(txn, txn->store->meta, &key, &val, 0)) != STORE_OK)
        return err;
    *seq = cur + 1;
    return STORE_OK;
}
