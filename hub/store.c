/*
 * store.c - the hub's durable state in LMDB.
 *
 * Databases (all in one environment, DIR/data.mdb):
 *   meta           "schema" -> u32 LE, "master-check" -> 32 bytes, "seq" -> u64 LE
 *   orgs           org id -> packed org record (see org_pack)
 *   orgs_by_curve  X25519 public key -> org id
 *   code_fwd       H_hash("fwd" 0 org 0 code)    -> secretbox(id code)
 *   code_rev       H_hash("rev" 0 id_code org)   -> secretbox(link code)
 *   queue          org 0 seq(8 BE) -> queue meta (see qmeta_pack) | nonce(24)
 *                                     | XChaCha20-Poly1305(frame, ad = key || meta)
 *                                       under subkey "queue"
 *   qexp           expires_ms(8 BE) org 0 seq(8 BE) -> empty (expiry index)
 *   qcount         org -> u64 LE, entries queued (row absent at 0)
 *   msgs           from 0 msg_id(16) -> packed msg record (see msg_pack); an
 *                  open request that may be answered also holds its
 *                  person's ID code, sealed, until it is answered, expires
 *                  or is refused
 *   msgexp         keep_until_ms(8 BE) from 0 msg_id(16) -> empty (purge index)
 *   log            index(8 BE) -> serialized LogEntry (appended, never rewritten)
 *   log_tree       level(1) index(8 BE) -> SHA-256 of that complete subtree
 *                  (tlog/merkle.h); meta "log-size" -> u64 LE, entries in log
 *   log_cp         "cp" -> the newest signed checkpoint note (text, no NUL)
 *   log_person     H_disclose(id code || n(8 BE))  -> nonce(24) | XChaCha20-
 *                  Poly1305(log index u64 LE, ad = row key) under subkey
 *                  "seal"; a person's rows are n = 0, 1, 2, ... with none
 *                  missing (never deleted), so their count is found by
 *                  probing, not kept (stores written before may also hold a
 *                  row H_disclose(id code || "count"): no longer read).
 *                  H_disclose(id code || "home"), then H_disclose(id code
 *                  || "home" || k(8 BE)) for k = 1, 2, ... -> nonce(24) |
 *                  XChaCha20-Poly1305(the person's current municipality,
 *                  NUL-padded to 65 bytes, ad = row key) under subkey
 *                  "seal"; appended on each change, never rewritten: the
 *                  last one is current
 *                  Only a message's ACCEPTED entry (and enrollments) get a
 *                  row: its later entries are found through log_seq
 *   catalogue      section key ("procedure NAME", "group NAME", "grant ORG
 *                  PROCEDURE") -> the section's canonical text (hub/
 *                  catalogue.h), no NUL; meta "catalogue-gen" -> u64 LE,
 *                  bumped by every change (absent: no catalogue was ever
 *                  installed, so the hub installs the default one)
 *   operators      operator name -> u8 version 1 | u8 active (1/0) | Ed25519
 *                  public key(32) | created_ms u64 LE | updated_ms u64 LE:
 *                  the people who may change the hub with renkei-ctl
 *   log_seq        seq(8 BE) index(8 BE) -> empty: the later entries about
 *                  the message with hub sequence number seq (first contact,
 *                  delivered, expired, refused by its recipient), appended
 *                  near the end of the table since seq grows; the entries
 *                  carry seq in clear, so this links nothing new
 *
 * The code tables hold only keyed hashes and ciphertexts: without the master
 * key nobody can tell which link codes belong to the same person.  Queued
 * frames are sealed too; the clear queue meta and msg records name orgs,
 * types, message ids and times, never a link code.  Big-endian sequence
 * numbers and times make LMDB's byte order the numeric order, so one cursor
 * range walks an org's queue in seq order and the index tables in time order.
 */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "merkle.h"
#include "note.h"
#include "why.h"

#define SCHEMA_VERSION 1u
#define ORG_RECORD_VERSION 2u
#define ORG_RECORD_V1_LEN (1 + 1 + 1 + RK_KEY_LEN + RK_KEY_LEN + 8 + 8)
#define ORG_RECORD_LEN (ORG_RECORD_V1_LEN + RK_KEY_LEN + 8) /* version 2 */
#define SUBKEY_LEN STORE_SUBKEY_LEN
#define LOOKUP_KEY_LEN 32
#define SEALED_LEN (crypto_secretbox_MACBYTES + 16)
#define MAX_RETRIES 8
#define MAX_DBS 24

#define QMETA_VERSION 1u
#define QMETA_FIXED_LEN (1 + 1 + 1 + 1 + RK_MSGID_LEN + 8 + 8)
#define QMETA_MAX_LEN (QMETA_FIXED_LEN + RK_ID_MAX + RK_TYPE_MAX)
#define QKEY_MAX_LEN (RK_ID_MAX + 1 + 8)
#define QEXP_KEY_MAX_LEN (8 + QKEY_MAX_LEN)
#define QBOX_OVERHEAD (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define QAD_MAX_LEN (QKEY_MAX_LEN + QMETA_MAX_LEN)
#define MSG_RECORD_VERSION 2u /* 2: + log_size */
#define MSG_FIXED_LEN (1 + 1 + 1 + 1 + 8 + 8 + 8 + 8)
#define MSG_PERSON_LEN                                                                                      \
    (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + STORE_IDCODE_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define MSG_MAX_LEN (MSG_FIXED_LEN + RK_ID_MAX + RK_TYPE_MAX + MSG_PERSON_LEN)
#define MKEY_MAX_LEN (RK_ID_MAX + 1 + RK_MSGID_LEN)
#define MEXP_KEY_MAX_LEN (8 + MKEY_MAX_LEN)
#define SCAN_BUF_MIN 4096

#define KDF_CONTEXT "rk-table"
#define SUBKEY_HASH 1
#define SUBKEY_ENC 2
#define SUBKEY_CHECK 3
#define SUBKEY_QUEUE 4
#define SUBKEY_DISCLOSE 5 /* keys the per-person index rows */
#define SUBKEY_SEAL 6     /* seals their values */
#define CHECK_TEXT "renkei-master-check"

struct store {
    MDB_env *env;
    MDB_dbi meta, orgs, by_curve, code_fwd, code_rev;
    MDB_dbi queue, qexp, qcount, msgs, msgexp;
    MDB_dbi log, log_tree, log_cp, log_person, log_seq;
    MDB_dbi catalogue, operators;
    struct store_keys *keys; /* NULL when opened without a master key */
    /* Reused by store_queue_scan for decrypted frames (wiped after each
     * entry, so it holds nothing between calls); NULL while a scan has it. */
    uint8_t *scan_buf;
    size_t scan_cap;
    bool writing;            /* a write transaction is open */
    unsigned open_txns;
};

struct store_txn {
    store_t *store;
    MDB_txn *txn;     /* NULL once a failure aborted it */
    bool write;
    store_err failed; /* STORE_OK, or why txn was aborted early */
    char op_name[RK_ID_MAX + 1]; /* entries appended here are signed by this operator... */
    const uint8_t *op_sk;        /* ...with this key (the caller's, borrowed); NULL: unsigned */
#ifdef RENKEI_STORE_FAULTS
    unsigned wrote;   /* tables written (bit per fault_table) */
#endif
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
    case STORE_ERESEALING:
        return "a change of master key (renkei-ctl master-rekey) is unfinished in this data directory";
    }
    return "unknown store error";
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
    return k == ORG_MUNICIPALITY || k == ORG_UTILITY || k == ORG_AUDITOR || k == ORG_AGENCY;
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
    p += 8;
    /* version 2: the previous key (Ed25519; its X25519 form is derived) */
    if (org->prev_until_ms != 0)
        memcpy(p, org->prev_sign_pk, RK_KEY_LEN);
    else
        memset(p, 0, RK_KEY_LEN);
    p += RK_KEY_LEN;
    put_u64(p, org->prev_until_ms);
}

static store_err org_unpack(const MDB_val *key, const MDB_val *val, org_t *out)
{
    const uint8_t *p = val->mv_data;

    if (key->mv_size == 0 || key->mv_size > RK_ID_MAX)
        return STORE_ECORRUPT;
    /* Version 1 records (83 bytes, no previous key) are read as they are
     * and written back as version 2 when the org next changes. */
    if (!(p[0] == 1 && val->mv_size == ORG_RECORD_V1_LEN) &&
        !(p[0] == ORG_RECORD_VERSION && val->mv_size == ORG_RECORD_LEN))
        return STORE_ECORRUPT;
    if (!kind_valid(p[1]) || !status_valid(p[2]))
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
    p += 16;
    if (((const uint8_t *)val->mv_data)[0] == ORG_RECORD_VERSION) {
        out->prev_until_ms = get_u64(p + RK_KEY_LEN);
        if (out->prev_until_ms != 0) {
            memcpy(out->prev_sign_pk, p, RK_KEY_LEN);
            if (crypto_sign_ed25519_pk_to_curve25519(out->prev_curve_pk, out->prev_sign_pk) != 0) {
                memset(out, 0, sizeof *out);
                return STORE_ECORRUPT;
            }
        }
    }
    return STORE_OK;
}

bool org_prev_active(const org_t *org, uint64_t now_ms)
{
    return org->prev_until_ms != 0 && now_ms < org->prev_until_ms;
}

bool org_key_admitted(const org_t *org, const uint8_t curve_pk[RK_KEY_LEN], uint64_t now_ms)
{
    if (sodium_memcmp(org->curve_pk, curve_pk, RK_KEY_LEN) == 0)
        return true;
    return org_prev_active(org, now_ms) && sodium_memcmp(org->prev_curve_pk, curve_pk, RK_KEY_LEN) == 0;
}

static bool org_valid(const org_t *org)
{
    return org != NULL && memchr(org->id, '\0', sizeof org->id) != NULL && rk_valid_name(org->id) &&
           kind_valid((unsigned)org->kind) && status_valid((unsigned)org->status);
}

#ifdef RENKEI_STORE_FAULTS
/*
 * Fault injection, in test builds only (RENKEI_STORE_FAULTS; the programs
 * built for use never contain it).  If the file named by the environment
 * variable RENKEI_STORE_FAULTS_FILE appears, the store reads it at its next
 * call, deletes it and arms one fault per line:
 *
 *     OP TABLE ERROR COUNT
 *
 * OP is put, del (a write into TABLE fails), commit (the commit of a
 * transaction that wrote into TABLE fails; nothing of it is kept) or begin
 * (TABLE "write": a write transaction cannot begin); TABLE is a table name
 * from the list at the top of this file; ERROR is full (STORE_EFULL) or io
 * (STORE_EIO); COUNT how many such calls in a row fail.  A failed put or
 * del leaves the transaction unusable, as LMDB's own failures do.
 */
#define FAULTS_MAX 8

typedef enum fault_op { FAULT_PUT, FAULT_DEL, FAULT_COMMIT, FAULT_BEGIN } fault_op;

static struct fault {
    fault_op op;
    char table[16];
    store_err err;
    unsigned count;
} faults[FAULTS_MAX];
static size_t n_faults;

static void faults_load(void)
{
    const char *path = getenv("RENKEI_STORE_FAULTS_FILE");
    char line[128], op[16], table[16], err[16];
    unsigned count;
    FILE *fp;

    if (path == NULL || (fp = fopen(path, "r")) == NULL)
        return;
    while (fgets(line, sizeof line, fp) != NULL && n_faults < FAULTS_MAX) {
        struct fault *f = &faults[n_faults];
        /* NOLINTNEXTLINE(cert-err34-c): a test's own fault file; a count that is not a number arms nothing */
        if (sscanf(line, "%15s %15s %15s %u", op, table, err, &count) != 4 || count == 0)
            continue;
        f->op = strcmp(op, "put") == 0      ? FAULT_PUT
                : strcmp(op, "del") == 0    ? FAULT_DEL
                : strcmp(op, "commit") == 0 ? FAULT_COMMIT
                                            : FAULT_BEGIN;
        snprintf(f->table, sizeof f->table, "%s", table);
        f->err = strcmp(err, "full") == 0 ? STORE_EFULL : STORE_EIO;
        f->count = count;
        n_faults++;
    }
    fclose(fp);
    unlink(path);
}

/* The table name of dbi (as listed at the top of this file). */
static const char *dbi_name(const store_t *s, MDB_dbi dbi)
{
    const struct { const MDB_dbi *dbi; const char *name;
    } t[] = {
        {&s->meta, "meta"},
        {&s->orgs, "orgs"},
        {&s->by_curve, "orgs_by_curve"},
        {&s->code_fwd, "code_fwd"},
        {&s->code_rev, "code_rev"},
        {&s->queue, "queue"},
        {&s->qexp, "qexp"},
        {&s->qcount, "qcount"},
        {&s->msgs, "msgs"},
        {&s->msgexp, "msgexp"},
        {&s->log, "log"},
        {&s->log_tree, "log_tree"},
        {&s->log_cp, "log_cp"},
        {&s->log_person, "log_person"},
        {&s->log_seq, "log_seq"},
        {&s->catalogue, "catalogue"},
        {&s->operators, "operators"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (*t[i].dbi == dbi)
            return t[i].name;
    return "?";
}

/* The table's bit in store_txn.wrote (LMDB's handles are small integers). */
static unsigned table_bit(MDB_dbi dbi)
{
    return dbi < 32 ? 1u << dbi : 0;
}

/* Whether an armed fault fires for op on table; *err receives its error. */
static bool fault_fires(fault_op op, const char *table, store_err *err)
{
    faults_load();
    for (size_t i = 0; i < n_faults; i++) {
        struct fault *f = &faults[i];
        if (f->count == 0 || f->op != op || strcmp(f->table, table) != 0)
            continue;
        f->count--;
        *err = f->err;
        return true;
    }
    return false;
}

/* A commit fault for a transaction that wrote the tables in `wrote`. */
static bool commit_fault(const store_txn_t *t, store_err *err)
{
    faults_load();
    for (size_t i = 0; i < n_faults; i++) {
        struct fault *f = &faults[i];
        for (MDB_dbi d = 0; f->count > 0 && f->op == FAULT_COMMIT && d < 32; d++)
            if ((t->wrote & (1u << d)) && strcmp(dbi_name(t->store, d), f->table) == 0) {
                f->count--;
                *err = f->err;
                return true;
            }
    }
    return false;
}
#endif

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
    int rc;
#ifdef RENKEI_STORE_FAULTS
    store_err ferr;
    t->wrote |= table_bit(dbi);
    if (fault_fires(FAULT_PUT, dbi_name(t->store, dbi), &ferr)) {
        (void)txn_fail(t, ferr);
        return ferr == STORE_OK ? STORE_EIO : ferr; /* never OK: nothing was written */
    }
#endif
    rc = mdb_put(t->txn, dbi, key, val, flags);

    if (rc == MDB_SUCCESS)
        return STORE_OK;
    if (rc == MDB_KEYEXIST)
        return STORE_EEXIST; /* the transaction is still usable */
    return txn_fail(t, map_mdb(rc));
}

static store_err txn_del(store_txn_t *t, MDB_dbi dbi, MDB_val *key)
{
    int rc;
#ifdef RENKEI_STORE_FAULTS
    store_err ferr;
    t->wrote |= table_bit(dbi);
    if (fault_fires(FAULT_DEL, dbi_name(t->store, dbi), &ferr)) {
        (void)txn_fail(t, ferr);
        return ferr == STORE_OK ? STORE_EIO : ferr; /* never OK: nothing was written */
    }
#endif
    rc = mdb_del(t->txn, dbi, key, NULL);

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
        crypto_kdf_derive_from_key(keys->queue, SUBKEY_LEN, SUBKEY_QUEUE, KDF_CONTEXT, master) != 0 ||
        crypto_kdf_derive_from_key(keys->disclose, SUBKEY_LEN, SUBKEY_DISCLOSE, KDF_CONTEXT, master) != 0 ||
        crypto_kdf_derive_from_key(keys->seal, SUBKEY_LEN, SUBKEY_SEAL, KDF_CONTEXT, master) != 0 ||
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
        rk_why(why, why_len, "cannot create data directory %s: %s", dir, strerror(errno));
        return STORE_EIO;
    }
    if (stat(dir, &st) != 0) {
        rk_why(why, why_len, "cannot use data directory %s: %s", dir, strerror(errno));
        return STORE_EIO;
    }
    if (!S_ISDIR(st.st_mode)) {
        rk_why(why, why_len, "data directory %s exists but is not a directory", dir);
        return STORE_EIO;
    }
    return STORE_OK;
}

/* Opens the databases, checks the schema and the master key check value. */
static store_err open_dbs(store_t *s, const uint8_t *check, bool resealing, const char *dir, char *why,
                          size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val key, val;
    uint8_t schema[4];
    int rc;
    store_err err;

    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != MDB_SUCCESS) {
        rk_why(why, why_len, "cannot begin a transaction in %s: %s", dir, mdb_strerror(rc));
        return map_mdb(rc);
    }
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "orgs", MDB_CREATE, &s->orgs)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "orgs_by_curve", MDB_CREATE, &s->by_curve)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "code_fwd", MDB_CREATE, &s->code_fwd)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "code_rev", MDB_CREATE, &s->code_rev)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "queue", MDB_CREATE, &s->queue)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "qexp", MDB_CREATE, &s->qexp)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "qcount", MDB_CREATE, &s->qcount)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "msgs", MDB_CREATE, &s->msgs)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "msgexp", MDB_CREATE, &s->msgexp)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "log", MDB_CREATE, &s->log)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "log_tree", MDB_CREATE, &s->log_tree)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "log_cp", MDB_CREATE, &s->log_cp)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "log_person", MDB_CREATE, &s->log_person)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "log_seq", MDB_CREATE, &s->log_seq)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "catalogue", MDB_CREATE, &s->catalogue)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(txn, "operators", MDB_CREATE, &s->operators)) != MDB_SUCCESS) {
        rk_why(why, why_len, "cannot open the databases in %s: %s", dir, mdb_strerror(rc));
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
            rk_why(why, why_len, "%s: the schema record is damaged", dir);
            err = STORE_ECORRUPT;
            goto fail;
        }
        v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        if (v != SCHEMA_VERSION) {
            rk_why(why, why_len, "%s holds schema version %u; this build reads version %u only", dir,
                   (unsigned)v, SCHEMA_VERSION);
            err = STORE_ECORRUPT;
            goto fail;
        }
    }
    if (rc != MDB_SUCCESS) {
        rk_why(why, why_len, "cannot read or write the schema version in %s: %s", dir, mdb_strerror(rc));
        err = map_mdb(rc);
        goto fail;
    }

    /* A store half re-sealed under a new master key holds rows under both:
     * only the re-seal itself may open it (hub/reseal.c). */
    key.mv_data = STORE_RESEAL_KEY;
    key.mv_size = sizeof STORE_RESEAL_KEY - 1;
    rc = mdb_get(txn, s->meta, &key, &val);
    if (rc == MDB_SUCCESS && !resealing) {
        rk_why(why, why_len,
               "%s: a change of master key is unfinished (it was interrupted); finish it first by running "
               "the same 'renkei-ctl master-rekey --master-key OLD.key --new-master-key NEW.key' again, "
               "then use the new master key",
               dir);
        err = STORE_ERESEALING;
        goto fail;
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        rk_why(why, why_len, "cannot read the store's state in %s: %s", dir, mdb_strerror(rc));
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
                rk_why(why, why_len,
                       "the master key does not match this data directory (%s): it was created with "
                       "another master key; use that key, or a new empty data directory",
                       dir);
                err = STORE_EMASTER;
                goto fail;
            }
        }
        if (rc != MDB_SUCCESS) {
            rk_why(why, why_len, "cannot read or write the master key check in %s: %s", dir,
                   mdb_strerror(rc));
            err = map_mdb(rc);
            goto fail;
        }
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != MDB_SUCCESS) {
        rk_why(why, why_len, "cannot initialize %s: %s", dir, mdb_strerror(rc));
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
static store_err open_store(const char *dir, const uint8_t *master_key, size_t map_size, bool resealing,
                            store_t **out, char *why, size_t why_len)
{
    store_t *s = NULL;
    uint8_t check[32];
    store_err err;
    int rc, dead = 0;

    *out = NULL;
    if (dir == NULL || *dir == '\0') {
        rk_why(why, why_len, "no data directory given");
        return STORE_EINVAL;
    }
    if (sodium_init() < 0) {
        rk_why(why, why_len, "libsodium failed to initialize");
        return STORE_EIO;
    }
    if ((err = ensure_dir(dir, why, why_len)) != STORE_OK)
        return err;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        rk_why(why, why_len, "out of memory opening %s", dir);
        return STORE_ENOMEM;
    }
    if (master_key != NULL && keys_derive(master_key, &s->keys, check) != STORE_OK) {
        rk_why(why, why_len, "out of memory deriving the table keys");
        err = STORE_ENOMEM;
        goto fail;
    }
    rc = mdb_env_create(&s->env);
    if (rc != MDB_SUCCESS) {
        s->env = NULL;
        rk_why(why, why_len, "cannot create an LMDB environment: %s", mdb_strerror(rc));
        err = map_mdb(rc);
        goto fail;
    }
    if ((rc = mdb_env_set_maxdbs(s->env, MAX_DBS)) != MDB_SUCCESS ||
        (rc = mdb_env_set_mapsize(s->env, map_size ? map_size : STORE_DEFAULT_MAP_SIZE)) != MDB_SUCCESS) {
        rk_why(why, why_len, "cannot configure the LMDB environment: %s", mdb_strerror(rc));
        err = map_mdb(rc);
        goto fail;
    }
    rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
    if (rc != MDB_SUCCESS) {
        rk_why(why, why_len, "cannot open the data files in %s: %s", dir, mdb_strerror(rc));
        err = map_mdb(rc);
        goto fail;
    }
    /* readers left behind by a crashed process would pin old pages forever */
    (void)mdb_reader_check(s->env, &dead);
    err = open_dbs(s, master_key != NULL ? check : NULL, resealing, dir, why, why_len);
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

store_err store_open(const char *dir, const uint8_t *master_key, size_t map_size, store_t **out, char *why,
                     size_t why_len)
{
    return open_store(dir, master_key, map_size, false, out, why, why_len);
}

store_err store_open_resealing(const char *dir, size_t map_size, store_t **out, char *why, size_t why_len)
{
    return open_store(dir, NULL, map_size, true, out, why, why_len);
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
    if (s->scan_buf != NULL) {
        sodium_memzero(s->scan_buf, s->scan_cap);
        free(s->scan_buf);
    }
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
#ifdef RENKEI_STORE_FAULTS
    {
        store_err ferr;
        if (write && fault_fires(FAULT_BEGIN, "write", &ferr))
            return ferr;
    }
#endif
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
#ifdef RENKEI_STORE_FAULTS
    if (t->failed == STORE_OK && t->write && commit_fault(t, &err))
        t->failed = err;
#endif
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
    if (err == STORE_OK && sodium_memcmp(out->curve_pk, curve_pk, RK_KEY_LEN) != 0 &&
        !(out->prev_until_ms != 0 && sodium_memcmp(out->prev_curve_pk, curve_pk, RK_KEY_LEN) == 0)) {
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

static store_err curve_put(store_txn_t *t, const uint8_t curve_pk[RK_KEY_LEN], const char *id)
{
    MDB_val key, val;

    key.mv_data = (void *)curve_pk;
    key.mv_size = RK_KEY_LEN;
    val.mv_data = (void *)id;
    val.mv_size = strlen(id);
    return txn_put(t, t->store->by_curve, &key, &val, 0);
}

/* The keys org is found by: its current one, and its previous one while
 * kept.  Returns how many (1 or 2). */
static size_t org_keys(const org_t *org, const uint8_t *keys[2])
{
    size_t n = 0;
    keys[n++] = org->curve_pk;
    if (org->prev_until_ms != 0 && sodium_memcmp(org->prev_curve_pk, org->curve_pk, RK_KEY_LEN) != 0)
        keys[n++] = org->prev_curve_pk;
    return n;
}

static bool key_among(const uint8_t *key, const uint8_t *keys[2], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(keys[i], key, RK_KEY_LEN) == 0)
            return true;
    return false;
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
    if (!org_valid(org) || org->prev_until_ms != 0)
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
    return curve_put(txn, org->curve_pk, org->id);
}

/* Rewrites an existing org; moves its key index entries when its keys
 * changed, so that a key it no longer holds finds nobody.  Write
 * transactions only. */
store_err store_org_update(store_txn_t *txn, const org_t *org)
{
    char owner[RK_ID_MAX + 1];
    const uint8_t *was[2], *now[2];
    size_t n_was, n_now;
    org_t old;
    MDB_val key;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (!org_valid(org))
        return STORE_EINVAL;
    if ((err = org_get_raw(txn, org->id, &old)) != STORE_OK)
        return err;
    n_was = org_keys(&old, was);
    n_now = org_keys(org, now);
    for (size_t i = 0; i < n_now; i++) {
        err = curve_owner(txn, now[i], owner);
        if (err == STORE_OK && strcmp(owner, org->id) != 0)
            return STORE_EEXIST;
        if (err != STORE_OK && err != STORE_ENOTFOUND)
            return err;
    }
    for (size_t i = 0; i < n_was; i++) {
        if (key_among(was[i], now, n_now))
            continue;
        key.mv_data = (void *)was[i];
        key.mv_size = RK_KEY_LEN;
        err = txn_del(txn, txn->store->by_curve, &key);
        if (err != STORE_OK && err != STORE_ENOTFOUND)
            return err;
    }
    for (size_t i = 0; i < n_now; i++)
        if (!key_among(now[i], was, n_was) && (err = curve_put(txn, now[i], org->id)) != STORE_OK)
            return err;
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
    return store_person_new_id(txn, org, code, NULL);
}

store_err store_person_new_id(store_txn_t *txn, const char *org, uint8_t code[RK_CODE_LEN],
                              uint8_t id_code_out[STORE_IDCODE_LEN])
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
    if (err == STORE_OK && id_code_out != NULL)
        memcpy(id_code_out, id_code, sizeof id_code);
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

/* -------------------------------------------------------------------- queues */

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* true if the fixed-size array s holds a NUL-terminated valid name. */
static bool name_field_valid(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL && rk_valid_name(s);
}

/* Copies n bytes of a stored name into out (size n + 1) and checks it. */
static bool name_from_bytes(const uint8_t *p, size_t n, size_t max, char *out)
{
    if (n == 0 || n > max)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return rk_valid_name(out);
}

/* STORE_OK if txn is usable (writable when `write`) and holds the master key. */
static store_err table_check(store_txn_t *txn, bool write)
{
    store_err err = txn_check(txn, write);

    if (err != STORE_OK)
        return err;
    return txn->store->keys == NULL ? STORE_EMASTER : STORE_OK;
}

/* org 0 seq(8 BE); returns the key length.  org must be valid. */
static size_t qkey_make(uint8_t out[QKEY_MAX_LEN], const char *org, uint64_t seq)
{
    size_t n = strlen(org);

    memcpy(out, org, n);
    out[n] = 0;
    put_be64(out + n + 1, seq);
    return n + 1 + 8;
}

/* expires(8 BE) org 0 seq(8 BE); returns the key length. */
static size_t qexp_key_make(uint8_t out[QEXP_KEY_MAX_LEN], uint64_t expires_ms, const char *org, uint64_t seq)
{
    put_be64(out, expires_ms);
    return 8 + qkey_make(out + 8, org, seq);
}

/* Splits a queue key into org and seq; false if it is not one. */
static bool qkey_parse(const uint8_t *k, size_t len, char org[RK_ID_MAX + 1], uint64_t *seq)
{
    if (len < 1 + 1 + 8 || len > QKEY_MAX_LEN || k[len - 9] != 0)
        return false;
    if (!name_from_bytes(k, len - 9, RK_ID_MAX, org))
        return false;
    *seq = get_be64(k + len - 8);
    return true;
}

static bool qkind_valid(unsigned k)
{
    return k == QUEUE_DELIVER || k == QUEUE_NOTICE;
}

static bool qmeta_valid(const queue_meta_t *m)
{
    return m != NULL && qkind_valid((unsigned)m->kind) && name_field_valid(m->to, sizeof m->to) &&
           name_field_valid(m->from, sizeof m->from) && name_field_valid(m->type, sizeof m->type);
}

/* version(1) kind(1) from_len(1) type_len(1) msg_id(16) accepted_ms(8 LE)
 * expires_ms(8 LE) from type.  seq and to live in the key.  Returns the
 * packed length (at most QMETA_MAX_LEN). */
static size_t qmeta_pack(const queue_meta_t *m, uint8_t *out)
{
    size_t fl = strlen(m->from), tl = strlen(m->type);
    uint8_t *p = out;

    *p++ = QMETA_VERSION;
    *p++ = (uint8_t)m->kind;
    *p++ = (uint8_t)fl;
    *p++ = (uint8_t)tl;
    memcpy(p, m->msg_id, RK_MSGID_LEN);
    p += RK_MSGID_LEN;
    put_u64(p, m->accepted_ms);
    p += 8;
    put_u64(p, m->expires_ms);
    p += 8;
    memcpy(p, m->from, fl);
    p += fl;
    memcpy(p, m->type, tl);
    p += tl;
    return (size_t)(p - out);
}

/* Decodes a queue row's key and meta into out; *meta_len is the packed
 * meta's length (the sealed frame follows).  STORE_ECORRUPT if either does
 * not decode or no sealed frame can follow. */
static store_err qrow_unpack(const MDB_val *key, const MDB_val *val, queue_meta_t *out, size_t *meta_len)
{
    const uint8_t *p = val->mv_data;
    size_t fl, tl;

    memset(out, 0, sizeof *out);
    if (!qkey_parse(key->mv_data, key->mv_size, out->to, &out->seq))
        return STORE_ECORRUPT;
    if (val->mv_size < QMETA_FIXED_LEN || p[0] != QMETA_VERSION || !qkind_valid(p[1]))
        return STORE_ECORRUPT;
    fl = p[2];
    tl = p[3];
    if (val->mv_size < QMETA_FIXED_LEN + fl + tl + QBOX_OVERHEAD)
        return STORE_ECORRUPT;
    out->kind = (queue_kind)p[1];
    memcpy(out->msg_id, p + 4, RK_MSGID_LEN);
    out->accepted_ms = get_u64(p + 4 + RK_MSGID_LEN);
    out->expires_ms = get_u64(p + 4 + RK_MSGID_LEN + 8);
    if (!name_from_bytes(p + QMETA_FIXED_LEN, fl, RK_ID_MAX, out->from) ||
        !name_from_bytes(p + QMETA_FIXED_LEN + fl, tl, RK_TYPE_MAX, out->type)) {
        memset(out, 0, sizeof *out);
        return STORE_ECORRUPT;
    }
    *meta_len = QMETA_FIXED_LEN + fl + tl;
    return STORE_OK;
}

/* Adds delta (+1 / -1) to org's queue count; the row goes away at 0.  A
 * missing row counts as 0 and the count never goes below it. */
static store_err qcount_add(store_txn_t *t, const char *org, int delta)
{
    uint8_t buf[8];
    MDB_val key, val;
    uint64_t n = 0;
    store_err err;

    key.mv_data = (void *)org;
    key.mv_size = strlen(org);
    err = txn_get(t, t->store->qcount, &key, &val);
    if (err == STORE_OK) {
        if (val.mv_size != 8)
            return STORE_ECORRUPT;
        n = get_u64(val.mv_data);
    } else if (err != STORE_ENOTFOUND) {
        return err;
    }
    if (delta > 0)
        n++;
    else if (n > 0)
        n--;
    if (n == 0) {
        if (err == STORE_ENOTFOUND)
            return STORE_OK;
        err = txn_del(t, t->store->qcount, &key);
        return err == STORE_ENOTFOUND ? STORE_OK : err;
    }
    put_u64(buf, n);
    val.mv_data = buf;
    val.mv_size = sizeof buf;
    return txn_put(t, t->store->qcount, &key, &val, 0);
}

/* Inserts an index row (empty value) whose keys mostly arrive in ascending
 * order: appends when the key sorts last (fuller pages, no search), else
 * inserts normally.  An existing row is left as it is. */
static store_err index_put(store_txn_t *t, MDB_dbi dbi, const uint8_t *k, size_t klen)
{
    MDB_val key, val;
    int rc;

    key.mv_data = (void *)k;
    key.mv_size = klen;
    val.mv_data = NULL;
    val.mv_size = 0;
    rc = mdb_put(t->txn, dbi, &key, &val, MDB_APPEND);
    if (rc == MDB_KEYEXIST) /* not after the last key: an ordinary insert */
        rc = mdb_put(t->txn, dbi, &key, &val, 0);
    if (rc == MDB_SUCCESS)
        return STORE_OK;
    return txn_fail(t, map_mdb(rc));
}

/* Seals frame into meta->to's queue at meta->seq, with the expiry index row
 * and the count.  STORE_EEXIST (nothing written, txn usable) if the seq is
 * taken; STORE_EFULL kills the txn.  Write transactions only. */
store_err store_queue_put(store_txn_t *txn, const queue_meta_t *meta, const uint8_t *frame, size_t len)
{
    uint8_t k[QKEY_MAX_LEN], xk[QEXP_KEY_MAX_LEN], packed[QMETA_MAX_LEN], ad[QAD_MAX_LEN];
    size_t klen, mlen;
    MDB_val key, val;
    uint8_t *p;
    store_err err = table_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (!qmeta_valid(meta) || frame == NULL || len == 0 || len > RK_FRAME_CEILING)
        return STORE_EINVAL;
    klen = qkey_make(k, meta->to, meta->seq);
    mlen = qmeta_pack(meta, packed);
    key.mv_data = k;
    key.mv_size = klen;
    val.mv_data = NULL;
    val.mv_size = mlen + QBOX_OVERHEAD + len;
    /* seal straight into the page LMDB reserves: no copy, no allocation */
    if ((err = txn_put(txn, txn->store->queue, &key, &val, MDB_NOOVERWRITE | MDB_RESERVE)) != STORE_OK)
        return err;
    p = val.mv_data;
    memcpy(p, packed, mlen);
    p += mlen;
    randombytes_buf(p, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    /* The row's key and clear meta are bound to the sealed frame as
     * associated data: changing a time, a sender or moving the row to another
     * queue makes it fail to open. */
    memcpy(ad, k, klen);
    memcpy(ad + klen, packed, mlen);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(p + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, frame,
                                                   len, ad, klen + mlen, NULL, p, txn->store->keys->queue) != 0)
        return txn_fail(txn, STORE_EIO); /* the reserved row must not be committed */
    if ((err = index_put(txn, txn->store->qexp, xk, qexp_key_make(xk, meta->expires_ms, meta->to, meta->seq))) !=
        STORE_OK)
        return err;
    return qcount_add(txn, meta->to, +1);
}

/* Entries queued for org, from its count row; 0 if it has none.
 * STORE_ECORRUPT if the row does not decode. */
store_err store_queue_count(store_txn_t *txn, const char *org, uint64_t *count)
{
    MDB_val key, val;
    store_err err = table_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (org == NULL || !rk_valid_name(org) || count == NULL)
        return STORE_EINVAL;
    key.mv_data = (void *)org;
    key.mv_size = strlen(org);
    err = txn_get(txn, txn->store->qcount, &key, &val);
    if (err == STORE_ENOTFOUND) {
        *count = 0;
        return STORE_OK;
    }
    if (err != STORE_OK)
        return err;
    if (val.mv_size != 8)
        return STORE_ECORRUPT;
    *count = get_u64(val.mv_data);
    return STORE_OK;
}

store_err store_queue_depth(store_txn_t *txn, const char *org, uint64_t *count, uint64_t *oldest_ms)
{
    uint8_t k[QKEY_MAX_LEN];
    size_t prefix, mlen;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    queue_meta_t meta;
    int rc;
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (org == NULL || !rk_valid_name(org) || count == NULL || oldest_ms == NULL)
        return STORE_EINVAL;
    *count = 0;
    *oldest_ms = 0;
    key.mv_data = (void *)org;
    key.mv_size = strlen(org);
    err = txn_get(txn, txn->store->qcount, &key, &val);
    if (err == STORE_ENOTFOUND)
        return STORE_OK;
    if (err != STORE_OK)
        return err;
    if (val.mv_size != 8)
        return STORE_ECORRUPT;
    *count = get_u64(val.mv_data);
    /* the first row of org's queue: the lowest seq, accepted first */
    key.mv_data = k;
    key.mv_size = qkey_make(k, org, 0);
    prefix = key.mv_size - 8;
    rc = mdb_cursor_open(txn->txn, txn->store->queue, &cur);
    if (rc != MDB_SUCCESS)
        return map_mdb(rc);
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS && key.mv_size >= prefix && memcmp(key.mv_data, k, prefix) == 0) {
        if ((err = qrow_unpack(&key, &val, &meta, &mlen)) == STORE_OK)
            *oldest_ms = meta.accepted_ms;
    } else if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        err = map_mdb(rc);
    }
    mdb_cursor_close(cur);
    return err;
}

store_err store_usage(store_t *store, store_usage_t *out)
{
    MDB_envinfo info;
    MDB_stat st;
    int rc;

    if (store == NULL || out == NULL)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if ((rc = mdb_env_info(store->env, &info)) != MDB_SUCCESS ||
        (rc = mdb_env_stat(store->env, &st)) != MDB_SUCCESS)
        return map_mdb(rc);
    out->map_size = info.me_mapsize;
    out->page_size = st.ms_psize;
    out->pages_used = (uint64_t)info.me_last_pgno + 1;
    out->used_bytes = out->pages_used * st.ms_psize;
    return STORE_OK;
}

/* Makes *buf hold at least need bytes; the old buffer holds nothing secret
 * (it is wiped after each use), so it is simply freed. */
static store_err scan_buf_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    size_t n = *cap ? *cap : SCAN_BUF_MIN;
    uint8_t *fresh;

    if (need <= *cap)
        return STORE_OK;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    fresh = malloc(n);
    if (fresh == NULL)
        return STORE_ENOMEM;
    free(*buf);
    *buf = fresh;
    *cap = n;
    return STORE_OK;
}

/* Decrypts the frame sealed after a queue row's meta into buf (cap bytes,
 * large enough); *len is its length.  STORE_ECORRUPT if it does not open,
 * or if the row's key or meta were changed (they are associated data). */
static store_err qframe_open(const store_t *s, const MDB_val *key, const MDB_val *val, size_t meta_len,
                             uint8_t *buf, size_t *len)
{
    const uint8_t *nonce = (const uint8_t *)val->mv_data + meta_len;
    size_t boxed = val->mv_size - meta_len - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    uint8_t ad[QAD_MAX_LEN];
    unsigned long long out_len = 0;

    if (key->mv_size + meta_len > sizeof ad)
        return STORE_ECORRUPT;
    memcpy(ad, key->mv_data, key->mv_size);
    memcpy(ad + key->mv_size, val->mv_data, meta_len);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, &out_len, NULL,
                                                   nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, boxed, ad,
                                                   key->mv_size + meta_len, nonce, s->keys->queue) != 0) {
        *len = 0;
        return STORE_ECORRUPT;
    }
    *len = (size_t)out_len;
    return STORE_OK;
}

/* Calls cb with each of org's entries after after_seq, in seq order, each
 * frame decrypted into the store's reusable buffer and wiped after the call.
 * cb may take or put entries through the same (write) txn.  STORE_ECORRUPT
 * stops the walk at an entry that does not decode or decrypt. */
store_err store_queue_scan(store_txn_t *txn, const char *org, uint64_t after_seq, store_queue_cb cb, void *ctx)
{
    uint8_t k[QKEY_MAX_LEN], *buf;
    size_t prefix, mlen, flen, cap;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    queue_meta_t meta;
    store_t *s;
    int rc, stop;
    store_err err = table_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (org == NULL || !rk_valid_name(org) || cb == NULL)
        return STORE_EINVAL;
    if (after_seq == UINT64_MAX)
        return STORE_OK;
    s = txn->store;
    /* borrow the buffer; a scan nested in cb grows its own */
    buf = s->scan_buf;
    cap = s->scan_cap;
    s->scan_buf = NULL;
    s->scan_cap = 0;
    key.mv_data = k;
    key.mv_size = qkey_make(k, org, after_seq + 1);
    prefix = key.mv_size - 8; /* org 0 */
    rc = mdb_cursor_open(txn->txn, s->queue, &cur);
    if (rc != MDB_SUCCESS) {
        cur = NULL;
        err = map_mdb(rc);
        goto out;
    }
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size < prefix || memcmp(key.mv_data, k, prefix) != 0)
            break; /* past org's queue */
        if ((err = qrow_unpack(&key, &val, &meta, &mlen)) != STORE_OK)
            break;
        flen = val.mv_size - mlen - QBOX_OVERHEAD;
        if ((err = scan_buf_reserve(&buf, &cap, flen ? flen : 1)) != STORE_OK)
            break;
        if ((err = qframe_open(s, &key, &val, mlen, buf, &flen)) != STORE_OK)
            break;
        stop = cb(&meta, buf, flen, ctx);
        sodium_memzero(buf, flen);
        if (txn->txn == NULL) {
            /* cb's write failed and aborted the txn, which freed the cursor */
            cur = NULL;
            err = txn->failed;
            break;
        }
        if (stop != 0)
            break;
    }
    if (err == STORE_OK && rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        err = map_mdb(rc);
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (s->scan_buf == NULL) {
        s->scan_buf = buf;
        s->scan_cap = cap;
    } else {
        if (cap > s->scan_cap) { /* keep the larger one */
            uint8_t *b = s->scan_buf;
            size_t c = s->scan_cap;
            s->scan_buf = buf;
            s->scan_cap = cap;
            buf = b;
            cap = c;
        }
        free(buf);
    }
    return err;
}

/* Deletes org's entry seq with its expiry index row and one from the count;
 * *meta (may be NULL) is filled only on success.  STORE_ENOTFOUND if not
 * queued; STORE_ECORRUPT (nothing deleted) if the entry does not decode. */
store_err store_queue_take(store_txn_t *txn, const char *org, uint64_t seq, queue_meta_t *meta)
{
    uint8_t k[QKEY_MAX_LEN], xk[QEXP_KEY_MAX_LEN];
    MDB_val key, val;
    queue_meta_t m;
    size_t mlen;
    store_err err = table_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (org == NULL || !rk_valid_name(org))
        return STORE_EINVAL;
    key.mv_data = k;
    key.mv_size = qkey_make(k, org, seq);
    if ((err = txn_get(txn, txn->store->queue, &key, &val)) != STORE_OK)
        return err;
    if ((err = qrow_unpack(&key, &val, &m, &mlen)) != STORE_OK)
        return err;
    if ((err = txn_del(txn, txn->store->queue, &key)) != STORE_OK)
        return err;
    key.mv_data = xk;
    key.mv_size = qexp_key_make(xk, m.expires_ms, org, seq);
    err = txn_del(txn, txn->store->qexp, &key);
    if (err != STORE_OK && err != STORE_ENOTFOUND)
        return err;
    if ((err = qcount_add(txn, org, -1)) != STORE_OK)
        return err;
    if (meta != NULL)
        *meta = m;
    return STORE_OK;
}

/* The entry heading the expiry index, if it expires at or before now_ms.
 * STORE_ENOTFOUND if none has; STORE_ECORRUPT if the index row or the entry
 * it names does not decode or does not match. */
store_err store_queue_next_expired(store_txn_t *txn, uint64_t now_ms, queue_meta_t *meta)
{
    uint8_t xk[QEXP_KEY_MAX_LEN];
    MDB_cursor *cur;
    MDB_val key, val;
    queue_meta_t m;
    char org[RK_ID_MAX + 1];
    uint64_t when, seq;
    size_t mlen;
    store_err err = table_check(txn, false);
    int rc;

    if (err != STORE_OK)
        return err;
    if (meta == NULL)
        return STORE_EINVAL;
    rc = mdb_cursor_open(txn->txn, txn->store->qexp, &cur);
    if (rc != MDB_SUCCESS)
        return map_mdb(rc);
    rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    if (rc == MDB_SUCCESS && key.mv_size <= sizeof xk)
        memcpy(xk, key.mv_data, key.mv_size);
    mdb_cursor_close(cur);
    if (rc != MDB_SUCCESS)
        return map_mdb(rc);
    if (key.mv_size < 8 || key.mv_size > sizeof xk || !qkey_parse(xk + 8, key.mv_size - 8, org, &seq))
        return STORE_ECORRUPT;
    when = get_be64(xk);
    if (when > now_ms)
        return STORE_ENOTFOUND;
    key.mv_data = xk + 8;
    key.mv_size -= 8;
    err = txn_get(txn, txn->store->queue, &key, &val);
    if (err == STORE_ENOTFOUND)
        return STORE_ECORRUPT; /* the index names no entry */
    if (err != STORE_OK)
        return err;
    if ((err = qrow_unpack(&key, &val, &m, &mlen)) != STORE_OK)
        return err;
    if (m.expires_ms != when)
        return STORE_ECORRUPT;
    *meta = m;
    return STORE_OK;
}

/* ------------------------------------------------------- accepted messages */

/* from 0 msg_id(16); returns the key length. */
static size_t mkey_make(uint8_t out[MKEY_MAX_LEN], const char *from, const uint8_t msg_id[RK_MSGID_LEN])
{
    size_t n = strlen(from);

    memcpy(out, from, n);
    out[n] = 0;
    memcpy(out + n + 1, msg_id, RK_MSGID_LEN);
    return n + 1 + RK_MSGID_LEN;
}

/* keep_until(8 BE) from 0 msg_id(16); returns the key length. */
static size_t mexp_key_make(uint8_t out[MEXP_KEY_MAX_LEN], uint64_t keep_until_ms, const char *from,
                            const uint8_t msg_id[RK_MSGID_LEN])
{
    put_be64(out, keep_until_ms);
    return 8 + mkey_make(out + 8, from, msg_id);
}

static bool mstate_valid(unsigned st)
{
    return st == MSG_QUEUED || st == MSG_DELIVERED || st == MSG_EXPIRED || st == MSG_REFUSED;
}

static bool msg_valid(const msg_record_t *r)
{
    return r != NULL && mstate_valid((unsigned)r->state) && name_field_valid(r->to, sizeof r->to) &&
           name_field_valid(r->type, sizeof r->type);
}

/* version(1) state(1) to_len(1) type_len(1) seq(8 LE) accepted_ms(8 LE)
 * keep_until_ms(8 LE) log_size(8 LE) to type [nonce(24) AEAD(ID code, ad = row key)];
 * returns the length.  The optional sealed ID code (an open request's
 * person, to check that an answer is about the same person; under subkey
 * "seal") uses a fresh nonce each time the record is written, so records
 * of one person share no byte at rest. */
static size_t msg_pack(const store_t *s, const MDB_val *key, const msg_record_t *r, uint8_t out[MSG_MAX_LEN])
{
    size_t tl = strlen(r->to), yl = strlen(r->type);
    uint8_t *p = out;

    *p++ = MSG_RECORD_VERSION;
    *p++ = (uint8_t)r->state;
    *p++ = (uint8_t)tl;
    *p++ = (uint8_t)yl;
    put_u64(p, r->seq);
    put_u64(p + 8, r->accepted_ms);
    put_u64(p + 16, r->keep_until_ms);
    put_u64(p + 24, r->log_size);
    p += 32;
    memcpy(p, r->to, tl);
    p += tl;
    memcpy(p, r->type, yl);
    p += yl;
    if (r->has_person) {
        randombytes_buf(p, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
        crypto_aead_xchacha20poly1305_ietf_encrypt(p + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL,
                                                   r->person, STORE_IDCODE_LEN, key->mv_data, key->mv_size, NULL,
                                                   p, s->keys->seal);
        p += MSG_PERSON_LEN;
    }
    return (size_t)(p - out);
}

static store_err msg_unpack(const store_t *s, const MDB_val *key, const MDB_val *val, msg_record_t *out)
{
    const uint8_t *p = val->mv_data;
    size_t base;

    memset(out, 0, sizeof *out);
    if (val->mv_size < MSG_FIXED_LEN || p[0] != MSG_RECORD_VERSION || !mstate_valid(p[1]))
        return STORE_ECORRUPT;
    base = (size_t)MSG_FIXED_LEN + p[2] + p[3];
    if (val->mv_size != base && val->mv_size != base + MSG_PERSON_LEN)
        return STORE_ECORRUPT;
    if (!name_from_bytes(p + MSG_FIXED_LEN, p[2], RK_ID_MAX, out->to) ||
        !name_from_bytes(p + MSG_FIXED_LEN + p[2], p[3], RK_TYPE_MAX, out->type)) {
        memset(out, 0, sizeof *out);
        return STORE_ECORRUPT;
    }
    if (val->mv_size == base + MSG_PERSON_LEN) {
        const uint8_t *nonce = p + base;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->person, NULL, NULL,
                                                       nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                                       STORE_IDCODE_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES,
                                                       key->mv_data, key->mv_size, nonce, s->keys->seal) != 0) {
            memset(out, 0, sizeof *out);
            return STORE_ECORRUPT;
        }
        out->has_person = true;
    }
    out->state = (msg_state)p[1];
    out->seq = get_u64(p + 4);
    out->accepted_ms = get_u64(p + 12);
    out->keep_until_ms = get_u64(p + 20);
    out->log_size = get_u64(p + 28);
    return STORE_OK;
}

static store_err msg_args(store_txn_t *txn, bool write, const char *from, const uint8_t *msg_id)
{
    store_err err = table_check(txn, write);

    if (err != STORE_OK)
        return err;
    if (from == NULL || !rk_valid_name(from) || msg_id == NULL)
        return STORE_EINVAL;
    return STORE_OK;
}

/* The record of (from, msg_id).  STORE_ENOTFOUND if none is kept;
 * STORE_ECORRUPT if it does not decode (*out is then zeroed). */
store_err store_msg_get(store_txn_t *txn, const char *from, const uint8_t msg_id[RK_MSGID_LEN], msg_record_t *out)
{
    uint8_t k[MKEY_MAX_LEN];
    MDB_val key, val;
    store_err err = msg_args(txn, false, from, msg_id);

    if (err != STORE_OK)
        return err;
    if (out == NULL)
        return STORE_EINVAL;
    key.mv_data = k;
    key.mv_size = mkey_make(k, from, msg_id);
    if ((err = txn_get(txn, txn->store->msgs, &key, &val)) != STORE_OK)
        return err;
    return msg_unpack(txn->store, &key, &val, out);
}

/* Writes the record of (from, msg_id), moving its purge index row when
 * keep_until_ms changed.  STORE_ECORRUPT (nothing written) if a record
 * already there does not decode.  Write transactions only. */
store_err store_msg_put(store_txn_t *txn, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                        const msg_record_t *rec)
{
    uint8_t k[MKEY_MAX_LEN], xk[MEXP_KEY_MAX_LEN], packed[MSG_MAX_LEN];
    MDB_val key, val;
    msg_record_t old;
    bool had;
    store_err err = msg_args(txn, true, from, msg_id);

    if (err != STORE_OK)
        return err;
    if (!msg_valid(rec))
        return STORE_EINVAL;
    key.mv_data = k;
    key.mv_size = mkey_make(k, from, msg_id);
    err = txn_get(txn, txn->store->msgs, &key, &val);
    if (err != STORE_OK && err != STORE_ENOTFOUND)
        return err;
    had = err == STORE_OK;
    if (had && (err = msg_unpack(txn->store, &key, &val, &old)) != STORE_OK)
        return err;
    sodium_memzero(old.person, sizeof old.person);
    if (had && old.keep_until_ms != rec->keep_until_ms) {
        MDB_val xkey = {.mv_size = mexp_key_make(xk, old.keep_until_ms, from, msg_id), .mv_data = xk};
        err = txn_del(txn, txn->store->msgexp, &xkey);
        if (err != STORE_OK && err != STORE_ENOTFOUND)
            return err;
    }
    val.mv_data = packed;
    val.mv_size = msg_pack(txn->store, &key, rec, packed);
    if ((err = txn_put(txn, txn->store->msgs, &key, &val, 0)) != STORE_OK)
        return err;
    if (had && old.keep_until_ms == rec->keep_until_ms)
        return STORE_OK; /* its index row stays */
    return index_put(txn, txn->store->msgexp, xk, mexp_key_make(xk, rec->keep_until_ms, from, msg_id));
}

/* Deletes, oldest keep_until_ms first, up to max records due at now_ms with
 * their index rows; *purged counts them (also when an error stops it part
 * way, in which case the txn has failed and keeps nothing).  Write only. */
store_err store_msg_purge(store_txn_t *txn, uint64_t now_ms, size_t max, size_t *purged)
{
    uint8_t xk[MEXP_KEY_MAX_LEN];
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    store_err err = table_check(txn, true);
    int rc;

    if (purged != NULL)
        *purged = 0;
    if (err != STORE_OK)
        return err;
    if (purged == NULL)
        return STORE_EINVAL;
    if (max == 0)
        return STORE_OK;
    rc = mdb_cursor_open(txn->txn, txn->store->msgexp, &cur);
    if (rc != MDB_SUCCESS)
        return map_mdb(rc);
    while (*purged < max) {
        rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
        if (rc == MDB_NOTFOUND)
            break;
        if (rc != MDB_SUCCESS) {
            err = map_mdb(rc);
            break;
        }
        if (key.mv_size < 8 + 2 + RK_MSGID_LEN || key.mv_size > sizeof xk) {
            err = STORE_ECORRUPT;
            break;
        }
        if (get_be64(key.mv_data) > now_ms)
            break;
        memcpy(xk, key.mv_data, key.mv_size);
        key.mv_data = xk + 8;
        key.mv_size -= 8;
        rc = mdb_del(txn->txn, txn->store->msgs, &key, NULL);
        if (rc == MDB_SUCCESS || rc == MDB_NOTFOUND)
            rc = mdb_cursor_del(cur, 0);
        if (rc != MDB_SUCCESS) {
            mdb_cursor_close(cur); /* before the abort frees it */
            return txn_fail(txn, map_mdb(rc));
        }
        (*purged)++;
    }
    mdb_cursor_close(cur);
    return err;
}

/* --------------------------------------------------------------- routing log */

#define LOG_SIZE_KEY "log-size"
#define LOG_CP_KEY "cp"
#define LOG_ENTRY_MAX 65536u
#define TREE_KEY_LEN 9
#define PERSON_VAL_LEN (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + 8 + crypto_aead_xchacha20poly1305_ietf_ABYTES)

_Static_assert(STORE_HASH_LEN == TLOG_HASH_LEN, "hash length");
_Static_assert(STORE_PROOF_MAX == TLOG_MAX_PATH, "proof length");

/* What the tlog callbacks see: the txn, and the first error they met. */
struct tree_ctx {
    store_txn_t *t;
    store_err err;
};

static void tree_key(uint8_t out[TREE_KEY_LEN], unsigned level, uint64_t index)
{
    out[0] = (uint8_t)level;
    put_be64(out + 1, index);
}

static int tree_get(void *ctx, unsigned level, uint64_t index, uint8_t out[TLOG_HASH_LEN])
{
    struct tree_ctx *c = ctx;
    uint8_t k[TREE_KEY_LEN];
    MDB_val key, val;
    store_err err;

    tree_key(k, level, index);
    key.mv_data = k;
    key.mv_size = sizeof k;
    err = txn_get(c->t, c->t->store->log_tree, &key, &val);
    if (err == STORE_OK && val.mv_size != TLOG_HASH_LEN)
        err = STORE_ECORRUPT;
    if (err == STORE_ENOTFOUND)
        err = STORE_ECORRUPT; /* a complete subtree must have its hash */
    if (err != STORE_OK) {
        if (c->err == STORE_OK)
            c->err = err;
        return -1;
    }
    memcpy(out, val.mv_data, TLOG_HASH_LEN);
    return 0;
}

static int tree_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[TLOG_HASH_LEN])
{
    struct tree_ctx *c = ctx;
    uint8_t k[TREE_KEY_LEN];
    MDB_val key, val;
    store_err err;

    tree_key(k, level, index);
    key.mv_data = k;
    key.mv_size = sizeof k;
    val.mv_data = (void *)hash;
    val.mv_size = TLOG_HASH_LEN;
    err = txn_put(c->t, c->t->store->log_tree, &key, &val, 0);
    if (err != STORE_OK) {
        if (c->err == STORE_OK)
            c->err = err;
        return -1;
    }
    return 0;
}

/* The store error for a tlog failure with callback context c. */
static store_err tree_err(tlog_err terr, const struct tree_ctx *c)
{
    if (terr == TLOG_OK)
        return STORE_OK;
    if (terr == TLOG_EINVAL)
        return STORE_EINVAL;
    if (terr == TLOG_ESTORE)
        return c->err != STORE_OK ? c->err : STORE_ECORRUPT;
    return STORE_EIO;
}

/* The log size from meta "log-size" (0 when the row is absent). */
static store_err log_size_raw(store_txn_t *t, uint64_t *size)
{
    MDB_val key, val;
    store_err err;

    key.mv_data = LOG_SIZE_KEY;
    key.mv_size = sizeof LOG_SIZE_KEY - 1;
    err = txn_get(t, t->store->meta, &key, &val);
    if (err == STORE_ENOTFOUND) {
        *size = 0;
        return STORE_OK;
    }
    if (err != STORE_OK)
        return err;
    if (val.mv_size != 8)
        return STORE_ECORRUPT;
    *size = get_u64(val.mv_data);
    return *size > TLOG_MAX_SIZE ? STORE_ECORRUPT : STORE_OK;
}

/* Appends entry at the end of the log, writes the subtree hashes it
 * completes and the new size, all in txn; *index (may be NULL) gets its
 * position.  Works without a master key and allocates nothing.  Any failure
 * after the first write (STORE_EFULL, ...) kills the txn: nothing is kept. */
store_err store_log_append(store_txn_t *txn, const uint8_t *entry, size_t len, uint64_t *index)
{
    uint8_t k[8], leaf[TLOG_HASH_LEN], sz[8];
    struct tree_ctx c;
    MDB_val key, val;
    uint64_t size;
    tlog_err terr;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (entry == NULL || len == 0 || len > LOG_ENTRY_MAX)
        return STORE_EINVAL;
    if ((err = log_size_raw(txn, &size)) != STORE_OK)
        return err;
    if (size >= TLOG_MAX_SIZE)
        return STORE_EINVAL;
    put_be64(k, size);
    key.mv_data = k;
    key.mv_size = sizeof k;
    val.mv_data = (void *)entry;
    val.mv_size = len;
    err = txn_put(txn, txn->store->log, &key, &val, MDB_APPEND);
    if (err == STORE_EEXIST)
        return STORE_ECORRUPT; /* the log holds more rows than its size says; nothing written */
    if (err != STORE_OK)
        return err;
    tlog_leaf_hash(entry, len, leaf);
    c.t = txn;
    c.err = STORE_OK;
    terr = tlog_append(size, leaf, tree_get, tree_put, &c);
    if (terr != TLOG_OK)
        return txn_fail(txn, tree_err(terr, &c));
    put_u64(sz, size + 1);
    key.mv_data = LOG_SIZE_KEY;
    key.mv_size = sizeof LOG_SIZE_KEY - 1;
    val.mv_data = sz;
    val.mv_size = sizeof sz;
    if ((err = txn_put(txn, txn->store->meta, &key, &val, 0)) != STORE_OK)
        return txn_fail(txn, err);
    if (index != NULL)
        *index = size;
    return STORE_OK;
}

/* Number of entries in the log (0 for a new store). */
store_err store_log_size(store_txn_t *txn, uint64_t *size)
{
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (size == NULL)
        return STORE_EINVAL;
    return log_size_raw(txn, size);
}

/* A malloc'd copy of entry index (the caller frees it).  STORE_ENOTFOUND
 * past the end, STORE_ECORRUPT if a row below the size is missing. */
store_err store_log_get(store_txn_t *txn, uint64_t index, uint8_t **entry, size_t *len)
{
    uint8_t k[8];
    MDB_val key, val;
    uint64_t size;
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (entry == NULL || len == NULL)
        return STORE_EINVAL;
    *entry = NULL;
    *len = 0;
    if ((err = log_size_raw(txn, &size)) != STORE_OK)
        return err;
    if (index >= size)
        return STORE_ENOTFOUND;
    put_be64(k, index);
    key.mv_data = k;
    key.mv_size = sizeof k;
    err = txn_get(txn, txn->store->log, &key, &val);
    if (err == STORE_ENOTFOUND)
        return STORE_ECORRUPT;
    if (err != STORE_OK)
        return err;
    if (val.mv_size == 0)
        return STORE_ECORRUPT;
    *entry = malloc(val.mv_size);
    if (*entry == NULL)
        return STORE_ENOMEM;
    memcpy(*entry, val.mv_data, val.mv_size);
    *len = val.mv_size;
    return STORE_OK;
}

/* Root hash of the first `size` entries; size 0 gives SHA-256("").
 * STORE_EINVAL if size exceeds the log size; STORE_ECORRUPT if a subtree
 * hash is missing or damaged. */
store_err store_log_root(store_txn_t *txn, uint64_t size, uint8_t root[STORE_HASH_LEN])
{
    struct tree_ctx c = {txn, STORE_OK};
    uint64_t have;
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (root == NULL)
        return STORE_EINVAL;
    if ((err = log_size_raw(txn, &have)) != STORE_OK)
        return err;
    if (size > have)
        return STORE_EINVAL;
    return tree_err(tlog_root(size, tree_get, &c, root), &c);
}

/* Inclusion proof (RFC 9162 2.1.3.1) of entry index in the tree of `size`
 * entries.  STORE_EINVAL unless index < size <= log size; *n is 0 on failure. */
store_err store_log_inclusion(store_txn_t *txn, uint64_t index, uint64_t size,
                              uint8_t path[STORE_PROOF_MAX][STORE_HASH_LEN], size_t *n)
{
    struct tree_ctx c = {txn, STORE_OK};
    uint64_t have;
    store_err err = txn_check(txn, false);

    if (n != NULL)
        *n = 0;
    if (err != STORE_OK)
        return err;
    if (path == NULL || n == NULL)
        return STORE_EINVAL;
    if ((err = log_size_raw(txn, &have)) != STORE_OK)
        return err;
    if (size > have || index >= size)
        return STORE_EINVAL;
    return tree_err(tlog_inclusion_proof(index, size, tree_get, &c, &path[0][0], n), &c);
}

/* Consistency proof (RFC 9162 2.1.4.1) from old_size to size.  STORE_EINVAL
 * unless old_size <= size <= log size; *n is 0 on failure. */
store_err store_log_consistency(store_txn_t *txn, uint64_t old_size, uint64_t size,
                                uint8_t path[STORE_PROOF_MAX][STORE_HASH_LEN], size_t *n)
{
    struct tree_ctx c = {txn, STORE_OK};
    uint64_t have;
    store_err err = txn_check(txn, false);

    if (n != NULL)
        *n = 0;
    if (err != STORE_OK)
        return err;
    if (path == NULL || n == NULL)
        return STORE_EINVAL;
    if ((err = log_size_raw(txn, &have)) != STORE_OK)
        return err;
    if (size > have || old_size > size)
        return STORE_EINVAL;
    return tree_err(tlog_consistency_proof(old_size, size, tree_get, &c, &path[0][0], n), &c);
}

/* Stores note (NUL-terminated, 1..TLOG_NOTE_MAX bytes) as the newest
 * checkpoint, replacing the previous one.  Write transactions only. */
store_err store_log_checkpoint_put(store_txn_t *txn, const char *note)
{
    MDB_val key, val;
    size_t len;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (note == NULL || (len = strlen(note)) == 0 || len > TLOG_NOTE_MAX)
        return STORE_EINVAL;
    key.mv_data = LOG_CP_KEY;
    key.mv_size = sizeof LOG_CP_KEY - 1;
    val.mv_data = (void *)note;
    val.mv_size = len;
    return txn_put(txn, txn->store->log_cp, &key, &val, 0);
}

/* The newest checkpoint as a malloc'd NUL-terminated string (the caller
 * frees it); STORE_ENOTFOUND if none was stored.  *note is NULL on failure. */
store_err store_log_checkpoint_get(store_txn_t *txn, char **note)
{
    MDB_val key, val;
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (note == NULL)
        return STORE_EINVAL;
    *note = NULL;
    key.mv_data = LOG_CP_KEY;
    key.mv_size = sizeof LOG_CP_KEY - 1;
    if ((err = txn_get(txn, txn->store->log_cp, &key, &val)) != STORE_OK)
        return err;
    if (val.mv_size == 0 || val.mv_size > TLOG_NOTE_MAX || memchr(val.mv_data, '\0', val.mv_size) != NULL)
        return STORE_ECORRUPT;
    *note = malloc(val.mv_size + 1);
    if (*note == NULL)
        return STORE_ENOMEM;
    memcpy(*note, val.mv_data, val.mv_size);
    (*note)[val.mv_size] = '\0';
    return STORE_OK;
}

/* Row key of the person's n-th index row. */
static void person_key(const store_t *s, const uint8_t id_code[STORE_IDCODE_LEN], uint64_t n,
                       uint8_t out[LOOKUP_KEY_LEN])
{
    uint8_t buf[STORE_IDCODE_LEN + 8];

    memcpy(buf, id_code, STORE_IDCODE_LEN);
    put_be64(buf + STORE_IDCODE_LEN, n);
    crypto_generichash(out, LOOKUP_KEY_LEN, buf, sizeof buf, s->keys->disclose, SUBKEY_LEN);
    sodium_memzero(buf, sizeof buf);
}

/* Reads and opens the u64 sealed under row key lk. */
static store_err person_get(store_txn_t *t, const uint8_t lk[LOOKUP_KEY_LEN], uint64_t *v)
{
    const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    uint8_t plain[8];
    MDB_val key, val;
    store_err err;

    key.mv_data = (void *)lk;
    key.mv_size = LOOKUP_KEY_LEN;
    if ((err = txn_get(t, t->store->log_person, &key, &val)) != STORE_OK)
        return err;
    if (val.mv_size != PERSON_VAL_LEN)
        return STORE_ECORRUPT;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, (const uint8_t *)val.mv_data + nb,
                                                   val.mv_size - nb, lk, LOOKUP_KEY_LEN, val.mv_data,
                                                   t->store->keys->seal) != 0)
        return STORE_ECORRUPT;
    *v = get_u64(plain);
    return STORE_OK;
}

/* Seals v (fresh random nonce, the row key as associated data, so a value
 * moved to another row does not open) and stores it under lk. */
static store_err person_put(store_txn_t *t, const uint8_t lk[LOOKUP_KEY_LEN], uint64_t v, unsigned flags)
{
    const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    uint8_t plain[8], box[PERSON_VAL_LEN];
    MDB_val key, val;

    put_u64(plain, v);
    randombytes_buf(box, nb);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(box + nb, NULL, plain, sizeof plain, lk, LOOKUP_KEY_LEN, NULL,
                                                   box, t->store->keys->seal) != 0)
        return STORE_EIO;
    key.mv_data = (void *)lk;
    key.mv_size = LOOKUP_KEY_LEN;
    val.mv_data = box;
    val.mv_size = sizeof box;
    return txn_put(t, t->store->log_person, &key, &val, flags);
}

/* Whether the person's row n exists (its value is not opened). */
static store_err person_row_exists(store_txn_t *t, const uint8_t id_code[STORE_IDCODE_LEN], uint64_t n,
                                   bool *exists)
{
    uint8_t lk[LOOKUP_KEY_LEN];
    MDB_val key, val;
    store_err err;

    person_key(t->store, id_code, n, lk);
    key.mv_data = lk;
    key.mv_size = LOOKUP_KEY_LEN;
    err = txn_get(t, t->store->log_person, &key, &val);
    *exists = err == STORE_OK;
    return err == STORE_ENOTFOUND ? STORE_OK : err;
}

/* The person's row count: the first row that is absent, found by doubling
 * and then halving (about 2 log2(count) look-ups).  Rows used to come with
 * a count row rewritten on every add, a second random page written per
 * entry; the rows alone say the same since none is ever deleted. */
static store_err person_count(store_txn_t *t, const uint8_t id_code[STORE_IDCODE_LEN], uint64_t *count)
{
    uint64_t lo = 0, hi = 1; /* row lo exists, row hi is not known yet */
    bool exists;
    store_err err;

    if ((err = person_row_exists(t, id_code, 0, &exists)) != STORE_OK)
        return err;
    if (!exists) {
        *count = 0;
        return STORE_OK;
    }
    for (;;) {
        if ((err = person_row_exists(t, id_code, hi, &exists)) != STORE_OK)
            return err;
        if (!exists)
            break;
        if (hi > UINT64_MAX / 2)
            return STORE_ECORRUPT;
        lo = hi;
        hi *= 2;
    }
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((err = person_row_exists(t, id_code, mid, &exists)) != STORE_OK)
            return err;
        if (exists)
            lo = mid;
        else
            hi = mid;
    }
    *count = hi;
    return STORE_OK;
}

#define HOME_VAL_LEN (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + RK_ID_MAX + 1 + crypto_aead_xchacha20poly1305_ietf_ABYTES)

/* Row key of the person's current municipality. */
/* The key of the person's k-th "home" row: H_disclose(id code || "home")
 * for the first (as stores have always written it), H_disclose(id code ||
 * "home" || k(8 BE)) for each later one.  Rows are appended, never
 * rewritten or deleted, so that a copy of the files taken before and after
 * two moves cannot tell that both concern one person: each change writes a
 * new row under a key nobody can link to the last without the master key. */
static void home_key(const store_t *s, const uint8_t id_code[STORE_IDCODE_LEN], uint64_t k,
                     uint8_t out[LOOKUP_KEY_LEN])
{
    uint8_t buf[STORE_IDCODE_LEN + 4 + 8];
    size_t n = STORE_IDCODE_LEN + 4;

    memcpy(buf, id_code, STORE_IDCODE_LEN);
    memcpy(buf + STORE_IDCODE_LEN, "home", 4);
    if (k > 0) {
        put_be64(buf + n, k);
        n += 8;
    }
    crypto_generichash(out, LOOKUP_KEY_LEN, buf, n, s->keys->disclose, SUBKEY_LEN);
    sodium_memzero(buf, sizeof buf);
}

/* The number of home rows the person has (rows 0 .. n-1 exist). */
static store_err home_count(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], uint64_t *n)
{
    uint8_t lk[LOOKUP_KEY_LEN];
    MDB_val key, val;
    store_err err;

    for (*n = 0;; (*n)++) {
        home_key(txn->store, id_code, *n, lk);
        key.mv_data = lk;
        key.mv_size = LOOKUP_KEY_LEN;
        err = txn_get(txn, txn->store->log_person, &key, &val);
        if (err == STORE_ENOTFOUND)
            return STORE_OK;
        if (err != STORE_OK)
            return err;
        if (*n == UINT32_MAX)
            return STORE_ECORRUPT;
    }
}

store_err store_person_home_get(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], char org[RK_ID_MAX + 1])
{
    const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    uint8_t lk[LOOKUP_KEY_LEN], plain[RK_ID_MAX + 1];
    MDB_val key, val;
    uint64_t n;
    store_err err = table_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (id_code == NULL || org == NULL)
        return STORE_EINVAL;
    org[0] = '\0';
    if ((err = home_count(txn, id_code, &n)) != STORE_OK)
        return err;
    if (n == 0)
        return STORE_ENOTFOUND;
    home_key(txn->store, id_code, n - 1, lk);
    key.mv_data = lk;
    key.mv_size = LOOKUP_KEY_LEN;
    if ((err = txn_get(txn, txn->store->log_person, &key, &val)) != STORE_OK)
        return err;
    if (val.mv_size != HOME_VAL_LEN ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, (const uint8_t *)val.mv_data + nb,
                                                   val.mv_size - nb, lk, LOOKUP_KEY_LEN, val.mv_data,
                                                   txn->store->keys->seal) != 0 ||
        plain[RK_ID_MAX] != '\0' || !rk_valid_name((const char *)plain))
        return STORE_ECORRUPT;
    memcpy(org, plain, RK_ID_MAX + 1);
    return STORE_OK;
}

store_err store_person_home_set(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], const char *org)
{
    const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    uint8_t lk[LOOKUP_KEY_LEN], plain[RK_ID_MAX + 1], box[HOME_VAL_LEN];
    MDB_val key, val;
    uint64_t n;
    store_err err = table_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (id_code == NULL || org == NULL || !rk_valid_name(org))
        return STORE_EINVAL;
    if ((err = home_count(txn, id_code, &n)) != STORE_OK)
        return err;
    memset(plain, 0, sizeof plain);
    memcpy(plain, org, strlen(org));
    home_key(txn->store, id_code, n, lk);
    randombytes_buf(box, nb);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(box + nb, NULL, plain, sizeof plain, lk, LOOKUP_KEY_LEN, NULL,
                                                   box, txn->store->keys->seal) != 0)
        return STORE_EIO;
    key.mv_data = lk;
    key.mv_size = LOOKUP_KEY_LEN;
    val.mv_data = box;
    val.mv_size = sizeof box;
    err = txn_put(txn, txn->store->log_person, &key, &val, MDB_NOOVERWRITE);
    return err == STORE_EEXIST ? STORE_ECORRUPT : err; /* cannot be: row n was the first absent one */
}

/* Adds index as the person's next row.  STORE_EMASTER without a master
 * key.  Allocates nothing. */
store_err store_log_person_add(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], uint64_t index)
{
    uint8_t rk[LOOKUP_KEY_LEN];
    uint64_t count;
    store_err err = table_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (id_code == NULL)
        return STORE_EINVAL;
    if ((err = person_count(txn, id_code, &count)) != STORE_OK)
        return err;
    person_key(txn->store, id_code, count, rk);
    err = person_put(txn, rk, index, MDB_NOOVERWRITE);
    return err == STORE_EEXIST ? STORE_ECORRUPT : err; /* cannot be: row count was the first absent one */
}

/* Calls cb with the person's log indexes in the order they were added,
 * until cb returns non-zero.  STORE_EMASTER without a master key;
 * STORE_ECORRUPT stops the walk at a row that does not open.  A person
 * with no rows is no error (cb is not called). */
store_err store_log_person_list(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN],
                                int (*cb)(uint64_t index, void *ctx), void *ctx)
{
    uint8_t lk[LOOKUP_KEY_LEN];
    uint64_t i, index;
    store_err err = table_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (id_code == NULL || cb == NULL)
        return STORE_EINVAL;
    for (i = 0;; i++) {
        person_key(txn->store, id_code, i, lk);
        err = person_get(txn, lk, &index);
        if (err == STORE_ENOTFOUND)
            return STORE_OK; /* the first absent row ends them */
        if (err != STORE_OK)
            return err;
        if (cb(index, ctx) != 0)
            return STORE_OK;
    }
}

store_err store_log_seq_add(store_txn_t *txn, uint64_t seq, uint64_t index)
{
    uint8_t k[16];
    MDB_val key, val;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    put_be64(k, seq);
    put_be64(k + 8, index);
    key.mv_data = k;
    key.mv_size = sizeof k;
    val.mv_data = k; /* LMDB needs a pointer even for an empty value */
    val.mv_size = 0;
    return txn_put(txn, txn->store->log_seq, &key, &val, 0);
}

store_err store_log_seq_list(store_txn_t *txn, uint64_t seq, int (*cb)(uint64_t index, void *ctx), void *ctx)
{
    uint8_t k[16];
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    store_err err = txn_check(txn, false);
    int rc;

    if (err != STORE_OK)
        return err;
    if (cb == NULL)
        return STORE_EINVAL;
    if ((rc = mdb_cursor_open(txn->txn, txn->store->log_seq, &cur)) != MDB_SUCCESS)
        return map_mdb(rc);
    put_be64(k, seq);
    put_be64(k + 8, 0);
    key.mv_data = k;
    key.mv_size = sizeof k;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != 16) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (get_be64(key.mv_data) != seq || cb(get_be64((const uint8_t *)key.mv_data + 8), ctx) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? STORE_OK : map_mdb(rc);
}

/* Appends an EV_ORG_* entry {time, event, from = org id, kind} for org.
 * STORE_EINVAL for another event or an invalid org; STORE_ENOMEM if the
 * entry could not be encoded; otherwise as store_log_append. */
store_err store_log_org_event(store_txn_t *txn, rk_log_event event, const org_t *org, uint64_t now_ms)
{
    rk_log_entry_t e;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (event != RK_EV_ORG_REGISTERED && event != RK_EV_ORG_SUSPENDED && event != RK_EV_ORG_REACTIVATED &&
        event != RK_EV_ORG_KEY_CHANGED)
        return STORE_EINVAL;
    if (!org_valid(org))
        return STORE_EINVAL;
    memset(&e, 0, sizeof e);
    e.time_ms = now_ms;
    e.event = event;
    memcpy(e.from, org->id, strlen(org->id) + 1);
    snprintf(e.kind, sizeof e.kind, "%s", org_kind_name(org->kind));
    if (event == RK_EV_ORG_REGISTERED || event == RK_EV_ORG_KEY_CHANGED) {
        e.has_key = true;
        memcpy(e.key, org->sign_pk, RK_KEY_LEN);
    }
    if (event == RK_EV_ORG_KEY_CHANGED)
        e.previous_until_ms = org->prev_until_ms;
    return store_log_entry_append(txn, &e, NULL);
}

void store_txn_set_operator(store_txn_t *txn, const char *name, const uint8_t *sign_sk)
{
    if (txn == NULL)
        return;
    snprintf(txn->op_name, sizeof txn->op_name, "%s", name != NULL && sign_sk != NULL ? name : "");
    txn->op_sk = name != NULL ? sign_sk : NULL;
}

store_err store_log_entry_append(store_txn_t *txn, rk_log_entry_t *e, uint64_t *index)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    rk_wire_err werr;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (txn->op_sk != NULL) {
        memcpy(e->operator_name, txn->op_name, sizeof e->operator_name);
        werr = rk_log_entry_sign(e, txn->op_sk, &buf, &len);
    } else {
        e->operator_name[0] = '\0';
        werr = rk_log_entry_encode(e, &buf, &len);
    }
    if (werr != RK_WIRE_OK)
        return werr == RK_WIRE_ENOMEM ? STORE_ENOMEM : STORE_EINVAL;
    err = store_log_append(txn, buf, len, index);
    free(buf);
    return err;
}

/* ------------------------------------------------------------ operators */

#define OPERATOR_RECORD_VERSION 1u
#define OPERATOR_RECORD_LEN (1 + 1 + RK_KEY_LEN + 8 + 8)

static store_err operator_unpack(const MDB_val *key, const MDB_val *val, operator_t *out)
{
    const uint8_t *p = val->mv_data;

    if (key->mv_size == 0 || key->mv_size > RK_ID_MAX || val->mv_size != OPERATOR_RECORD_LEN ||
        p[0] != OPERATOR_RECORD_VERSION || p[1] > 1)
        return STORE_ECORRUPT;
    memset(out, 0, sizeof *out);
    memcpy(out->name, key->mv_data, key->mv_size);
    if (!rk_valid_name(out->name))
        return STORE_ECORRUPT;
    out->active = p[1] == 1;
    memcpy(out->sign_pk, p + 2, RK_KEY_LEN);
    out->created_ms = get_u64(p + 2 + RK_KEY_LEN);
    out->updated_ms = get_u64(p + 2 + RK_KEY_LEN + 8);
    return STORE_OK;
}

store_err store_operator_get(store_txn_t *txn, const char *name, operator_t *out)
{
    MDB_val key, val;
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (name == NULL || !rk_valid_name(name) || strlen(name) > RK_ID_MAX || out == NULL)
        return STORE_EINVAL;
    key.mv_data = (void *)name;
    key.mv_size = strlen(name);
    if ((err = txn_get(txn, txn->store->operators, &key, &val)) != STORE_OK)
        return err;
    return operator_unpack(&key, &val, out);
}

store_err store_operator_put(store_txn_t *txn, const operator_t *op)
{
    uint8_t rec[OPERATOR_RECORD_LEN];
    MDB_val key, val;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (op == NULL || memchr(op->name, '\0', sizeof op->name) == NULL || !rk_valid_name(op->name))
        return STORE_EINVAL;
    rec[0] = OPERATOR_RECORD_VERSION;
    rec[1] = op->active ? 1 : 0;
    memcpy(rec + 2, op->sign_pk, RK_KEY_LEN);
    put_u64(rec + 2 + RK_KEY_LEN, op->created_ms);
    put_u64(rec + 2 + RK_KEY_LEN + 8, op->updated_ms);
    key.mv_data = (void *)op->name;
    key.mv_size = strlen(op->name);
    val.mv_data = rec;
    val.mv_size = sizeof rec;
    return txn_put(txn, txn->store->operators, &key, &val, 0);
}

store_err store_operator_list(store_txn_t *txn, int (*cb)(const operator_t *op, void *ctx), void *ctx)
{
    MDB_cursor *cur;
    MDB_val key, val;
    operator_t op;
    store_err err = txn_check(txn, false);
    int rc;

    if (err != STORE_OK)
        return err;
    if (cb == NULL)
        return STORE_EINVAL;
    if ((rc = mdb_cursor_open(txn->txn, txn->store->operators, &cur)) != MDB_SUCCESS)
        return map_mdb(rc);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if ((err = operator_unpack(&key, &val, &op)) != STORE_OK || cb(&op, ctx) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (err != STORE_OK)
        return err;
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? STORE_OK : map_mdb(rc);
}

store_err store_log_operator_event(store_txn_t *txn, rk_log_event event, const operator_t *op,
                                   uint64_t now_ms)
{
    rk_log_entry_t e;

    if (op == NULL || (event != RK_EV_OPERATOR_ADDED && event != RK_EV_OPERATOR_REVOKED))
        return STORE_EINVAL;
    memset(&e, 0, sizeof e);
    e.time_ms = now_ms;
    e.event = event;
    snprintf(e.section, sizeof e.section, "%s", "");
    /* the operator concerned is named by the entry's signer, or here */
    snprintf(e.kind, sizeof e.kind, "%s", "operator");
    snprintf(e.from, sizeof e.from, "%s", op->name);
    e.has_key = event == RK_EV_OPERATOR_ADDED;
    memcpy(e.key, op->sign_pk, RK_KEY_LEN);
    return store_log_entry_append(txn, &e, NULL);
}

/* ------------------------------------------------------------ catalogue */

#define CAT_GEN_KEY "catalogue-gen"

static bool cat_key_valid(const char *key)
{
    size_t n = key != NULL ? strlen(key) : 0;
    return n > 0 && n <= STORE_CAT_KEY_MAX;
}

store_err store_cat_generation(store_txn_t *txn, uint64_t *gen)
{
    MDB_val key = {sizeof CAT_GEN_KEY - 1, (void *)CAT_GEN_KEY}, val;
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (gen == NULL)
        return STORE_EINVAL;
    err = txn_get(txn, txn->store->meta, &key, &val);
    if (err == STORE_ENOTFOUND) {
        *gen = 0;
        return STORE_OK;
    }
    if (err != STORE_OK)
        return err;
    if (val.mv_size != 8)
        return STORE_ECORRUPT;
    *gen = get_u64(val.mv_data);
    return STORE_OK;
}

/* Bumps the generation, so that a running hub reloads the catalogue. */
static store_err cat_bump(store_txn_t *txn)
{
    MDB_val key = {sizeof CAT_GEN_KEY - 1, (void *)CAT_GEN_KEY}, val;
    uint8_t b[8];
    uint64_t gen;
    store_err err = store_cat_generation(txn, &gen);

    if (err != STORE_OK)
        return err;
    put_u64(b, gen + 1);
    val.mv_data = b;
    val.mv_size = sizeof b;
    return txn_put(txn, txn->store->meta, &key, &val, 0);
}

store_err store_cat_touch(store_txn_t *txn)
{
    store_err err = txn_check(txn, true);
    return err != STORE_OK ? err : cat_bump(txn);
}

store_err store_cat_put(store_txn_t *txn, const char *key, const char *text, size_t len)
{
    MDB_val k, v;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (!cat_key_valid(key) || text == NULL || len == 0 || memchr(text, '\0', len) != NULL)
        return STORE_EINVAL;
    k.mv_data = (void *)key;
    k.mv_size = strlen(key);
    v.mv_data = (void *)text;
    v.mv_size = len;
    err = txn_put(txn, txn->store->catalogue, &k, &v, 0);
    return err != STORE_OK ? err : cat_bump(txn);
}

store_err store_cat_del(store_txn_t *txn, const char *key)
{
    MDB_val k;
    store_err err = txn_check(txn, true);

    if (err != STORE_OK)
        return err;
    if (!cat_key_valid(key))
        return STORE_EINVAL;
    k.mv_data = (void *)key;
    k.mv_size = strlen(key);
    err = txn_del(txn, txn->store->catalogue, &k);
    return err != STORE_OK ? err : cat_bump(txn);
}

store_err store_cat_get(store_txn_t *txn, const char *key, char **text, size_t *len)
{
    MDB_val k, v;
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if (!cat_key_valid(key) || text == NULL || len == NULL)
        return STORE_EINVAL;
    *text = NULL;
    *len = 0;
    k.mv_data = (void *)key;
    k.mv_size = strlen(key);
    if ((err = txn_get(txn, txn->store->catalogue, &k, &v)) != STORE_OK)
        return err;
    if ((*text = malloc(v.mv_size + 1)) == NULL)
        return STORE_ENOMEM;
    memcpy(*text, v.mv_data, v.mv_size);
    (*text)[v.mv_size] = '\0';
    *len = v.mv_size;
    return STORE_OK;
}

store_err store_cat_scan(store_txn_t *txn,
                         int (*cb)(const char *key, const char *text, size_t len, void *ctx), void *ctx)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    char key[STORE_CAT_KEY_MAX + 1];
    store_err err = txn_check(txn, false);
    int rc;

    if (err != STORE_OK)
        return err;
    if (cb == NULL)
        return STORE_EINVAL;
    if ((rc = mdb_cursor_open(txn->txn, txn->store->catalogue, &cur)) != MDB_SUCCESS)
        return map_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char *text;
        int stop;
        if (k.mv_size == 0 || k.mv_size > STORE_CAT_KEY_MAX || v.mv_size == 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        if ((text = malloc(v.mv_size + 1)) == NULL) {
            mdb_cursor_close(cur);
            return STORE_ENOMEM;
        }
        memcpy(text, v.mv_data, v.mv_size);
        text[v.mv_size] = '\0';
        stop = cb(key, text, v.mv_size, ctx);
        free(text);
        if (stop != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? STORE_OK : map_mdb(rc);
}

/* ------------------------------------------------- for hub/reseal.c only */

store_err store_keys_derive(const uint8_t *master, struct store_keys **out, uint8_t check[STORE_CHECK_LEN])
{
    if (master == NULL || out == NULL || check == NULL)
        return STORE_EINVAL;
    return keys_derive(master, out, check);
}

void store_keys_free(struct store_keys **keys)
{
    if (keys != NULL)
        keys_free(keys);
}

void store_tables(const store_t *store, store_tables_t *out)
{
    out->meta = store->meta;
    out->orgs = store->orgs;
    out->code_fwd = store->code_fwd;
    out->code_rev = store->code_rev;
    out->queue = store->queue;
    out->msgs = store->msgs;
    out->log_person = store->log_person;
}

MDB_txn *store_txn_lmdb(store_txn_t *txn)
{
    return txn != NULL && txn->failed == STORE_OK ? txn->txn : NULL;
}

/* ------------------------------------------------------------------ backup */

#define BACKUP_KEY "backup"

store_err store_backup(store_t *store, const char *dir, uint64_t now_ms, uint64_t *log_size, char *why,
                       size_t why_len)
{
    store_t *copy = NULL;
    store_txn_t *t = NULL;
    struct stat st;
    uint8_t rec[16];
    MDB_val key = {sizeof BACKUP_KEY - 1, (void *)BACKUP_KEY}, val;
    store_err err;
    int rc;

    if (store == NULL || dir == NULL || *dir == '\0') {
        rk_why(why, why_len, "no backup directory given");
        return STORE_EINVAL;
    }
    if (stat(dir, &st) == 0) {
        char data[4096];
        if (!S_ISDIR(st.st_mode)) {
            rk_why(why, why_len, "%s exists and is not a directory", dir);
            return STORE_EEXIST;
        }
        snprintf(data, sizeof data, "%s/data.mdb", dir);
        if (access(data, F_OK) == 0) {
            rk_why(why, why_len, "%s already holds a store (data.mdb): give a new or empty directory", dir);
            return STORE_EEXIST;
        }
    } else if (mkdir(dir, 0700) != 0) {
        rk_why(why, why_len, "cannot create %s: %s", dir, strerror(errno));
        return STORE_EIO;
    }
    /* One read transaction: a consistent copy while writers go on; only
     * the pages in use are written, in order. */
    rc = mdb_env_copy2(store->env, dir, MDB_CP_COMPACT);
    if (rc != MDB_SUCCESS) {
        rk_why(why, why_len, "cannot copy the store into %s: %s", dir, mdb_strerror(rc));
        return map_mdb(rc);
    }
    /* The copy remembers that it is one: a hub started on it records the
     * rollback on the routing log (store_backup_taken). */
    if ((err = open_store(dir, NULL, 0, false, &copy, why, why_len)) != STORE_OK)
        return err;
    if ((err = store_begin(copy, true, &t)) == STORE_OK && (err = store_log_size(t, log_size)) == STORE_OK) {
        put_u64(rec, now_ms);
        put_u64(rec + 8, *log_size);
        val.mv_data = rec;
        val.mv_size = sizeof rec;
        err = txn_put(t, copy->meta, &key, &val, 0);
    }
    if (err == STORE_OK)
        err = store_commit(&t);
    store_abort(&t);
    store_close(&copy);
    if (err != STORE_OK)
        rk_why(why, why_len, "the copy in %s could not be marked as a backup: %s", dir, store_strerror(err));
    return err;
}

store_err store_backup_taken(store_txn_t *txn, uint64_t *taken_ms, uint64_t *log_size)
{
    MDB_val key = {sizeof BACKUP_KEY - 1, (void *)BACKUP_KEY}, val;
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if ((err = txn_get(txn, txn->store->meta, &key, &val)) != STORE_OK)
        return err;
    if (val.mv_size != 16)
        return STORE_ECORRUPT;
    *taken_ms = get_u64(val.mv_data);
    *log_size = get_u64((const uint8_t *)val.mv_data + 8);
    return STORE_OK;
}

#define RESTORED_KEY "restored"

store_err store_backup_forget(store_txn_t *txn, uint64_t restored_at, uint64_t backup_ms)
{
    MDB_val key = {sizeof BACKUP_KEY - 1, (void *)BACKUP_KEY};
    MDB_val rkey = {sizeof RESTORED_KEY - 1, (void *)RESTORED_KEY}, val;
    uint8_t rec[16];
    store_err err = txn_check(txn, true);

    if (err != STORE_OK || (err = txn_del(txn, txn->store->meta, &key)) != STORE_OK)
        return err;
    put_u64(rec, restored_at);
    put_u64(rec + 8, backup_ms);
    val.mv_data = rec;
    val.mv_size = sizeof rec;
    return txn_put(txn, txn->store->meta, &rkey, &val, 0);
}

store_err store_restored(store_txn_t *txn, uint64_t *restored_at, uint64_t *backup_ms)
{
    MDB_val key = {sizeof RESTORED_KEY - 1, (void *)RESTORED_KEY}, val;
    store_err err = txn_check(txn, false);

    if (err != STORE_OK)
        return err;
    if ((err = txn_get(txn, txn->store->meta, &key, &val)) != STORE_OK)
        return err;
    if (val.mv_size != 16)
        return STORE_ECORRUPT;
    *restored_at = get_u64(val.mv_data);
    *backup_ms = get_u64((const uint8_t *)val.mv_data + 8);
    return STORE_OK;
}

#define LOG_ORIGIN_KEY "log-origin"

store_err store_log_origin_get(store_txn_t *txn, char *origin)
{
    MDB_val key = {sizeof LOG_ORIGIN_KEY - 1, (void *)LOG_ORIGIN_KEY}, val;
    store_err err = txn_check(txn, false);

    origin[0] = '\0';
    if (err != STORE_OK || (err = txn_get(txn, txn->store->meta, &key, &val)) != STORE_OK)
        return err;
    if (val.mv_size == 0 || val.mv_size > TLOG_NAME_MAX || memchr(val.mv_data, '\0', val.mv_size) != NULL)
        return STORE_ECORRUPT;
    memcpy(origin, val.mv_data, val.mv_size);
    origin[val.mv_size] = '\0';
    return STORE_OK;
}

store_err store_log_origin_put(store_txn_t *txn, const char *origin)
{
    MDB_val key = {sizeof LOG_ORIGIN_KEY - 1, (void *)LOG_ORIGIN_KEY}, val;
    store_err err = txn_check(txn, true);
    size_t len = origin != NULL ? strlen(origin) : 0;

    if (err != STORE_OK)
        return err;
    if (len == 0 || len > TLOG_NAME_MAX)
        return STORE_EINVAL;
    val.mv_data = (void *)origin;
    val.mv_size = len;
    return txn_put(txn, txn->store->meta, &key, &val, 0);
}
