/*
 * reseal.c - re-seal the hub's store under a new master key (reseal.h).
 *
 * Works on the LMDB handles the store lends (store_internal.h) and encodes
 * every row to the layout of docs/hub-store.md, once under the old
 * subkeys to find and open a row, once under the new ones to write it.
 * Progress lives in meta "reseal":
 *
 *   u8 version 1 | u8 phase (1..5) | the new key's master-check (32) |
 *   u64 LE rows done in the phase | u64 LE rows in the phase |
 *   u16 LE n | the key of the last row done in the phase (n bytes; 0: none)
 *
 * written in the same transaction as the rows it accounts for.
 */
#include "reseal.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"
#include "why.h"

#define RECORD_VERSION 1u
#define CURSOR_MAX 511 /* LMDB's largest key */
#define RECORD_FIXED_LEN (1 + 1 + STORE_CHECK_LEN + 8 + 8 + 2)
#define LK_LEN 32 /* keyed-hash row keys */
#define SECRET_LEN 16
#define BOX_LEN (crypto_secretbox_MACBYTES + SECRET_LEN)
#define NB crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AB crypto_aead_xchacha20poly1305_ietf_ABYTES
#define PERSON_VAL_LEN (NB + 8 + AB)
#define HOME_PLAIN_LEN (RK_ID_MAX + 1)
#define HOME_VAL_LEN (NB + HOME_PLAIN_LEN + AB)
#define QMETA_FIXED_LEN (1 + 1 + 1 + 1 + RK_MSGID_LEN + 8 + 8)
#define MSG_FIXED_LEN (1 + 1 + 1 + 1 + 8 + 8 + 8 + 8)
#define MSG_PERSON_LEN (NB + STORE_IDCODE_LEN + AB)

enum { PH_CODES = 1, PH_PERSONS, PH_QUEUE, PH_MSGS, PH_SWAP };

static const char *const phase_table[RESEAL_PHASES + 1] = {
    "", "code_fwd+code_rev", "log_person", "queue", "msgs", "swap",
};

typedef struct record {
    unsigned phase;
    uint8_t new_check[STORE_CHECK_LEN];
    uint64_t done, total;
    size_t cursor_len;
    uint8_t cursor[CURSOR_MAX];
} record_t;

typedef struct rs {
    store_t *store;
    store_tables_t tb;
    MDB_dbi st_fwd, st_rev, st_person; /* staging tables */
    struct store_keys *old, *new;
    uint8_t old_check[STORE_CHECK_LEN], new_check[STORE_CHECK_LEN];
    char (*orgs)[RK_ID_MAX + 1];
    size_t n_orgs;
    const reseal_opts_t *o;
    size_t batch;
    const char *dir;
    char *why;
    size_t why_len;
    uint8_t *buf; /* queued frames in the clear, wiped after each */
    size_t buf_cap;
} rs_t;

static store_err mdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return STORE_OK;
    case MDB_NOTFOUND: return STORE_ENOTFOUND;
    case MDB_KEYEXIST: return STORE_EEXIST;
    case MDB_MAP_FULL: return STORE_EFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID: return STORE_ECORRUPT;
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

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* ------------------------------------------------------ row keys (as store.c) */

/* H_hash("fwd" 0 org 0 code) */
static void key_fwd(const struct store_keys *k, const char *org, const uint8_t code[SECRET_LEN],
                    uint8_t out[LK_LEN])
{
    uint8_t buf[4 + RK_ID_MAX + 1 + SECRET_LEN];
    size_t n = strlen(org);

    memcpy(buf, "fwd", 4);
    memcpy(buf + 4, org, n);
    buf[4 + n] = 0;
    memcpy(buf + 5 + n, code, SECRET_LEN);
    crypto_generichash(out, LK_LEN, buf, 5 + n + SECRET_LEN, k->hash, STORE_SUBKEY_LEN);
    sodium_memzero(buf, sizeof buf);
}

/* H_hash("rev" 0 id_code org) */
static void key_rev(const struct store_keys *k, const uint8_t id[SECRET_LEN], const char *org,
                    uint8_t out[LK_LEN])
{
    uint8_t buf[4 + SECRET_LEN + RK_ID_MAX];
    size_t n = strlen(org);

    memcpy(buf, "rev", 4);
    memcpy(buf + 4, id, SECRET_LEN);
    memcpy(buf + 4 + SECRET_LEN, org, n);
    crypto_generichash(out, LK_LEN, buf, 4 + SECRET_LEN + n, k->hash, STORE_SUBKEY_LEN);
    sodium_memzero(buf, sizeof buf);
}

/* The kinds of log_person row of one person. */
typedef enum prow { PROW_INDEX, PROW_HOME, PROW_COUNT } prow;

/* H_disclose(id || n(8 BE)), H_disclose(id || "home" [|| k(8 BE) if k > 0]),
 * H_disclose(id || "count") (written by early stores, no longer read). */
static void key_person(const struct store_keys *k, const uint8_t id[SECRET_LEN], prow kind, uint64_t n,
                       uint8_t out[LK_LEN])
{
    uint8_t buf[SECRET_LEN + 5 + 8];
    size_t len = SECRET_LEN;

    memcpy(buf, id, SECRET_LEN);
    if (kind == PROW_INDEX) {
        put_be64(buf + len, n);
        len += 8;
    } else if (kind == PROW_HOME) {
        memcpy(buf + len, "home", 4);
        len += 4;
        if (n > 0) {
            put_be64(buf + len, n);
            len += 8;
        }
    } else {
        memcpy(buf + len, "count", 5);
        len += 5;
    }
    crypto_generichash(out, LK_LEN, buf, len, k->disclose, STORE_SUBKEY_LEN);
    sodium_memzero(buf, sizeof buf);
}

/* ------------------------------------------------------------------ record */

static store_err record_get(MDB_txn *mt, const rs_t *r, record_t *rec, bool *found)
{
    MDB_val key = {sizeof STORE_RESEAL_KEY - 1, STORE_RESEAL_KEY}, val;
    const uint8_t *p;
    int rc = mdb_get(mt, r->tb.meta, &key, &val);

    *found = false;
    if (rc == MDB_NOTFOUND)
        return STORE_OK;
    if (rc != MDB_SUCCESS)
        return mdb_err(rc);
    p = val.mv_data;
    if (val.mv_size < RECORD_FIXED_LEN || p[0] != RECORD_VERSION || p[1] < PH_CODES || p[1] > PH_SWAP)
        return STORE_ECORRUPT;
    memset(rec, 0, sizeof *rec);
    rec->phase = p[1];
    memcpy(rec->new_check, p + 2, STORE_CHECK_LEN);
    rec->done = get_u64(p + 2 + STORE_CHECK_LEN);
    rec->total = get_u64(p + 10 + STORE_CHECK_LEN);
    rec->cursor_len = (size_t)p[18 + STORE_CHECK_LEN] | (size_t)p[19 + STORE_CHECK_LEN] << 8;
    if (rec->cursor_len > CURSOR_MAX || val.mv_size != RECORD_FIXED_LEN + rec->cursor_len)
        return STORE_ECORRUPT;
    memcpy(rec->cursor, p + RECORD_FIXED_LEN, rec->cursor_len);
    *found = true;
    return STORE_OK;
}

static store_err record_put(MDB_txn *mt, const rs_t *r, const record_t *rec)
{
    uint8_t b[RECORD_FIXED_LEN + CURSOR_MAX];
    MDB_val key = {sizeof STORE_RESEAL_KEY - 1, STORE_RESEAL_KEY}, val;

    b[0] = RECORD_VERSION;
    b[1] = (uint8_t)rec->phase;
    memcpy(b + 2, rec->new_check, STORE_CHECK_LEN);
    put_u64(b + 2 + STORE_CHECK_LEN, rec->done);
    put_u64(b + 10 + STORE_CHECK_LEN, rec->total);
    b[18 + STORE_CHECK_LEN] = (uint8_t)rec->cursor_len;
    b[19 + STORE_CHECK_LEN] = (uint8_t)(rec->cursor_len >> 8);
    memcpy(b + RECORD_FIXED_LEN, rec->cursor, rec->cursor_len);
    val.mv_data = b;
    val.mv_size = RECORD_FIXED_LEN + rec->cursor_len;
    return mdb_err(mdb_put(mt, r->tb.meta, &key, &val, 0));
}

static store_err entries(MDB_txn *mt, MDB_dbi dbi, uint64_t *n)
{
    MDB_stat st;
    int rc = mdb_stat(mt, dbi, &st);

    *n = rc == MDB_SUCCESS ? (uint64_t)st.ms_entries : 0;
    return mdb_err(rc);
}

/* Enters phase `phase` with its row count. */
static store_err phase_enter(MDB_txn *mt, rs_t *r, record_t *rec, unsigned phase)
{
    uint64_t a = 0, b = 0, c = 0;
    store_err err = STORE_OK;

    rec->phase = phase;
    rec->done = 0;
    rec->cursor_len = 0;
    switch (phase) {
    case PH_CODES: err = entries(mt, r->tb.code_fwd, &a); break;
    case PH_PERSONS: err = entries(mt, r->tb.log_person, &a); break;
    case PH_QUEUE: err = entries(mt, r->tb.queue, &a); break;
    case PH_MSGS: err = entries(mt, r->tb.msgs, &a); break;
    default:
        if ((err = entries(mt, r->st_fwd, &a)) == STORE_OK && (err = entries(mt, r->st_rev, &b)) == STORE_OK)
            err = entries(mt, r->st_person, &c);
        break;
    }
    rec->total = a + b + c;
    return err;
}

/* Positions cur at the first row after the record's cursor (or the first
 * row); rc as mdb_cursor_get. */
static int cursor_resume(MDB_cursor *cur, const record_t *rec, MDB_val *key, MDB_val *val)
{
    int rc;

    if (rec->cursor_len == 0)
        return mdb_cursor_get(cur, key, val, MDB_FIRST);
    key->mv_data = (void *)rec->cursor;
    key->mv_size = rec->cursor_len;
    rc = mdb_cursor_get(cur, key, val, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS && key->mv_size == rec->cursor_len &&
        memcmp(key->mv_data, rec->cursor, rec->cursor_len) == 0)
        rc = mdb_cursor_get(cur, key, val, MDB_NEXT);
    return rc;
}

static void cursor_note(record_t *rec, const MDB_val *key)
{
    rec->cursor_len = key->mv_size <= CURSOR_MAX ? key->mv_size : 0;
    memcpy(rec->cursor, key->mv_data, rec->cursor_len);
}

/* ------------------------------------------------------- phase 1: code tables */

/* Finds the organization, link code and ID code of the code_fwd row
 * (fk, fv) under the old key.  STORE_ECORRUPT if it opens with no
 * organization's code_rev row. */
static store_err code_pair(MDB_txn *mt, const rs_t *r, const MDB_val *fk, const MDB_val *fv, size_t *org,
                           uint8_t id[SECRET_LEN], uint8_t code[SECRET_LEN])
{
    uint8_t rk[LK_LEN], check[LK_LEN];
    MDB_val key, val;

    if (fk->mv_size != LK_LEN || fv->mv_size != BOX_LEN ||
        crypto_secretbox_open_easy(id, fv->mv_data, BOX_LEN, fk->mv_data, r->old->enc) != 0)
        return STORE_ECORRUPT;
    for (size_t i = 0; i < r->n_orgs; i++) {
        int rc;
        key_rev(r->old, id, r->orgs[i], rk);
        key.mv_data = rk;
        key.mv_size = LK_LEN;
        rc = mdb_get(mt, r->tb.code_rev, &key, &val);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != MDB_SUCCESS)
            return mdb_err(rc);
        if (val.mv_size != BOX_LEN ||
            crypto_secretbox_open_easy(code, val.mv_data, BOX_LEN, rk, r->old->enc) != 0)
            return STORE_ECORRUPT;
        key_fwd(r->old, r->orgs[i], code, check);
        if (sodium_memcmp(check, fk->mv_data, LK_LEN) == 0) {
            *org = i;
            return STORE_OK;
        }
    }
    sodium_memzero(code, SECRET_LEN);
    return STORE_ECORRUPT;
}

/* Seals secret under the new key at row key lk of staging table dbi. */
static store_err box_put(MDB_txn *mt, const rs_t *r, MDB_dbi dbi, const uint8_t lk[LK_LEN],
                         const uint8_t secret[SECRET_LEN])
{
    uint8_t box[BOX_LEN];
    MDB_val key = {LK_LEN, (void *)lk}, val = {BOX_LEN, box};

    crypto_secretbox_easy(box, secret, SECRET_LEN, lk, r->new->enc);
    return mdb_err(mdb_put(mt, dbi, &key, &val, MDB_NOOVERWRITE));
}

static store_err step_codes(MDB_txn *mt, rs_t *r, record_t *rec, bool *ended)
{
    uint8_t id[SECRET_LEN], code[SECRET_LEN], lk[LK_LEN];
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    size_t n = 0, org = 0;
    store_err err = STORE_OK;
    int rc = mdb_cursor_open(mt, r->tb.code_fwd, &cur);

    if (rc != MDB_SUCCESS)
        return mdb_err(rc);
    for (rc = cursor_resume(cur, rec, &key, &val); rc == MDB_SUCCESS && n < r->batch;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), n++) {
        if ((err = code_pair(mt, r, &key, &val, &org, id, code)) != STORE_OK) {
            if (err == STORE_ECORRUPT)
                rk_why(r->why, r->why_len,
                       "%s: a row of code_fwd does not open under --master-key or has no code_rev row of any "
                       "organization; the store is damaged",
                       r->dir);
            break;
        }
        key_fwd(r->new, r->orgs[org], code, lk);
        if ((err = box_put(mt, r, r->st_fwd, lk, id)) != STORE_OK)
            break;
        key_rev(r->new, id, r->orgs[org], lk);
        if ((err = box_put(mt, r, r->st_rev, lk, code)) != STORE_OK)
            break;
        cursor_note(rec, &key);
        rec->done++;
    }
    sodium_memzero(id, sizeof id);
    sodium_memzero(code, sizeof code);
    mdb_cursor_close(cur);
    if (err != STORE_OK)
        return err;
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return mdb_err(rc);
    *ended = rc == MDB_NOTFOUND;
    return STORE_OK;
}

/* ------------------------------------------------------ phase 2: log_person */

/* Moves one log_person row (old key lk_old, value of vlen sealed bytes)
 * to reseal_person under lk_new; *found false if there is none. */
static store_err person_row(MDB_txn *mt, const rs_t *r, const uint8_t lk_old[LK_LEN],
                            const uint8_t lk_new[LK_LEN], size_t vlen, bool *found)
{
    uint8_t plain[HOME_PLAIN_LEN], box[HOME_VAL_LEN];
    MDB_val key = {LK_LEN, (void *)lk_old}, val;
    size_t plen = vlen - NB - AB;
    int rc = mdb_get(mt, r->tb.log_person, &key, &val);

    *found = rc == MDB_SUCCESS;
    if (rc == MDB_NOTFOUND)
        return STORE_OK;
    if (rc != MDB_SUCCESS)
        return mdb_err(rc);
    if (val.mv_size != vlen ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, (const uint8_t *)val.mv_data + NB,
                                                   vlen - NB, lk_old, LK_LEN, val.mv_data, r->old->seal) != 0)
        return STORE_ECORRUPT;
    randombytes_buf(box, NB);
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + NB, NULL, plain, plen, lk_new, LK_LEN, NULL, box,
                                               r->new->seal);
    sodium_memzero(plain, sizeof plain);
    key.mv_data = (void *)lk_new;
    val.mv_data = box;
    val.mv_size = vlen;
    return mdb_err(mdb_put(mt, r->st_person, &key, &val, MDB_NOOVERWRITE));
}

/* Moves every row of the person id; *rows counts them.  Does nothing if
 * the person's rows were moved already (a person has a code_fwd row per
 * organization that knows them, so it is met once per organization). */
static store_err person_move(MDB_txn *mt, const rs_t *r, const uint8_t id[SECRET_LEN], uint64_t *rows)
{
    uint8_t lo[LK_LEN], ln[LK_LEN];
    MDB_val key, val;
    bool found;
    store_err err;

    *rows = 0;
    for (int kind = PROW_INDEX; kind <= PROW_COUNT; kind++) {
        key_person(r->new, id, (prow)kind, 0, ln);
        key.mv_data = ln;
        key.mv_size = LK_LEN;
        if (mdb_get(mt, r->st_person, &key, &val) == MDB_SUCCESS)
            return STORE_OK; /* moved with another organization's row */
    }
    for (uint64_t n = 0;; n++) {
        key_person(r->old, id, PROW_INDEX, n, lo);
        key_person(r->new, id, PROW_INDEX, n, ln);
        if ((err = person_row(mt, r, lo, ln, PERSON_VAL_LEN, &found)) != STORE_OK)
            return err;
        if (!found)
            break;
        (*rows)++;
    }
    for (uint64_t k = 0;; k++) {
        key_person(r->old, id, PROW_HOME, k, lo);
        key_person(r->new, id, PROW_HOME, k, ln);
        if ((err = person_row(mt, r, lo, ln, HOME_VAL_LEN, &found)) != STORE_OK)
            return err;
        if (!found)
            break;
        (*rows)++;
    }
    key_person(r->old, id, PROW_COUNT, 0, lo);
    key_person(r->new, id, PROW_COUNT, 0, ln);
    if ((err = person_row(mt, r, lo, ln, PERSON_VAL_LEN, &found)) != STORE_OK)
        return err;
    *rows += found ? 1 : 0;
    return STORE_OK;
}

/* Walks reseal_fwd (new keys), one row per (organization, person).  `done`
 * counts log_person rows moved; the cursor is the reseal_fwd row. */
static store_err step_persons(MDB_txn *mt, rs_t *r, record_t *rec, bool *ended)
{
    uint8_t id[SECRET_LEN];
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    uint64_t rows;
    size_t n = 0;
    store_err err = STORE_OK;
    int rc = mdb_cursor_open(mt, r->st_fwd, &cur);

    if (rc != MDB_SUCCESS)
        return mdb_err(rc);
    for (rc = cursor_resume(cur, rec, &key, &val); rc == MDB_SUCCESS && n < r->batch;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != LK_LEN || val.mv_size != BOX_LEN ||
            crypto_secretbox_open_easy(id, val.mv_data, BOX_LEN, key.mv_data, r->new->enc) != 0) {
            err = STORE_ECORRUPT;
            break;
        }
        if ((err = person_move(mt, r, id, &rows)) != STORE_OK) {
            if (err == STORE_ECORRUPT)
                rk_why(r->why, r->why_len,
                       "%s: a row of log_person does not open under --master-key; the store is damaged",
                       r->dir);
            break;
        }
        cursor_note(rec, &key);
        rec->done += rows;
        n += rows > 0 ? (size_t)rows : 1;
    }
    sodium_memzero(id, sizeof id);
    mdb_cursor_close(cur);
    if (err != STORE_OK)
        return err;
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return mdb_err(rc);
    *ended = rc == MDB_NOTFOUND;
    return STORE_OK;
}

/* ------------------------------------------------ phases 3, 4: queue, msgs */

static store_err buf_reserve(rs_t *r, size_t need)
{
    uint8_t *fresh;

    if (need <= r->buf_cap)
        return STORE_OK;
    if ((fresh = malloc(need)) == NULL)
        return STORE_ENOMEM;
    free(r->buf); /* wiped after each use */
    r->buf = fresh;
    r->buf_cap = need;
    return STORE_OK;
}

/* Seals the queue row at cur again: meta (clear) | nonce | frame | tag,
 * associated data = row key || meta. */
static store_err queue_row(MDB_cursor *cur, rs_t *r, const MDB_val *key, const MDB_val *val)
{
    const uint8_t *p = val->mv_data;
    uint8_t ad[RK_ID_MAX + 1 + 8 + QMETA_FIXED_LEN + RK_ID_MAX + RK_TYPE_MAX], *out = NULL;
    size_t mlen, flen;
    MDB_val k = *key, v;
    store_err err;
    int rc;

    if (val->mv_size < QMETA_FIXED_LEN)
        return STORE_ECORRUPT;
    mlen = QMETA_FIXED_LEN + p[2] + p[3];
    if (val->mv_size < mlen + NB + AB || key->mv_size + mlen > sizeof ad)
        return STORE_ECORRUPT;
    flen = val->mv_size - mlen - NB - AB;
    if ((err = buf_reserve(r, flen + 1)) != STORE_OK)
        return err;
    memcpy(ad, key->mv_data, key->mv_size);
    memcpy(ad + key->mv_size, p, mlen);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(r->buf, NULL, NULL, p + mlen + NB, flen + AB, ad,
                                                   key->mv_size + mlen, p + mlen, r->old->queue) != 0)
        return STORE_ECORRUPT;
    /* same key, same length: rewritten in place */
    v.mv_size = val->mv_size;
    v.mv_data = NULL;
    if ((out = malloc(val->mv_size)) == NULL) {
        sodium_memzero(r->buf, flen);
        return STORE_ENOMEM;
    }
    memcpy(out, p, mlen);
    randombytes_buf(out + mlen, NB);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + mlen + NB, NULL, r->buf, flen, ad, key->mv_size + mlen,
                                               NULL, out + mlen, r->new->queue);
    sodium_memzero(r->buf, flen);
    v.mv_data = out;
    rc = mdb_cursor_put(cur, &k, &v, MDB_CURRENT);
    free(out);
    return mdb_err(rc);
}

/* Seals the person field of the msgs row at cur again, if it has one
 * (ad = row key). */
static store_err msgs_row(MDB_cursor *cur, const rs_t *r, const MDB_val *key, const MDB_val *val)
{
    const uint8_t *p = val->mv_data;
    uint8_t id[STORE_IDCODE_LEN], rec[MSG_FIXED_LEN + RK_ID_MAX + RK_TYPE_MAX + MSG_PERSON_LEN];
    size_t base;
    MDB_val k = *key, v;

    if (val->mv_size < MSG_FIXED_LEN)
        return STORE_ECORRUPT;
    base = MSG_FIXED_LEN + (size_t)p[2] + p[3];
    if (val->mv_size == base)
        return STORE_OK; /* nothing sealed */
    if (val->mv_size != base + MSG_PERSON_LEN ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(id, NULL, NULL, p + base + NB, STORE_IDCODE_LEN + AB,
                                                   key->mv_data, key->mv_size, p + base, r->old->seal) != 0)
        return STORE_ECORRUPT;
    memcpy(rec, p, base);
    randombytes_buf(rec + base, NB);
    crypto_aead_xchacha20poly1305_ietf_encrypt(rec + base + NB, NULL, id, STORE_IDCODE_LEN, key->mv_data,
                                               key->mv_size, NULL, rec + base, r->new->seal);
    sodium_memzero(id, sizeof id);
    v.mv_data = rec;
    v.mv_size = val->mv_size;
    return mdb_err(mdb_cursor_put(cur, &k, &v, MDB_CURRENT));
}

static store_err step_in_place(MDB_txn *mt, rs_t *r, record_t *rec, bool *ended)
{
    bool queue = rec->phase == PH_QUEUE;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    uint8_t k[CURSOR_MAX];
    size_t n = 0;
    store_err err = STORE_OK;
    int rc = mdb_cursor_open(mt, queue ? r->tb.queue : r->tb.msgs, &cur);

    if (rc != MDB_SUCCESS)
        return mdb_err(rc);
    for (rc = cursor_resume(cur, rec, &key, &val); rc == MDB_SUCCESS && n < r->batch;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), n++) {
        if (key.mv_size > sizeof k) {
            err = STORE_ECORRUPT;
            break;
        }
        memcpy(k, key.mv_data, key.mv_size); /* the put may move the page key points into */
        key.mv_data = k;
        err = queue ? queue_row(cur, r, &key, &val) : msgs_row(cur, r, &key, &val);
        if (err != STORE_OK) {
            if (err == STORE_ECORRUPT)
                rk_why(r->why, r->why_len,
                       "%s: a row of %s does not open under --master-key; the store is damaged", r->dir,
                       queue ? "queue" : "msgs");
            break;
        }
        cursor_note(rec, &key);
        rec->done++;
    }
    mdb_cursor_close(cur);
    if (err != STORE_OK)
        return err;
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return mdb_err(rc);
    *ended = rc == MDB_NOTFOUND;
    return STORE_OK;
}

/* ------------------------------------------------------------ phase 5: swap */

/* Moves up to *budget rows from staging table from into to (emptied on
 * entering the phase, filled in key order). */
static store_err move_rows(MDB_txn *mt, MDB_dbi from, MDB_dbi to, size_t *budget, uint64_t *moved)
{
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = mdb_cursor_open(mt, from, &cur);

    if (rc != MDB_SUCCESS)
        return mdb_err(rc);
    while (*budget > 0 && (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST)) == MDB_SUCCESS) {
        if ((rc = mdb_put(mt, to, &key, &val, MDB_APPEND)) != MDB_SUCCESS ||
            (rc = mdb_cursor_del(cur, 0)) != MDB_SUCCESS)
            break;
        (*budget)--;
        (*moved)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? STORE_OK : mdb_err(rc);
}

static store_err step_swap(MDB_txn *mt, rs_t *r, record_t *rec, bool *ended)
{
    size_t budget = r->batch;
    store_err err;

    if ((err = move_rows(mt, r->st_fwd, r->tb.code_fwd, &budget, &rec->done)) != STORE_OK ||
        (err = move_rows(mt, r->st_rev, r->tb.code_rev, &budget, &rec->done)) != STORE_OK ||
        (err = move_rows(mt, r->st_person, r->tb.log_person, &budget, &rec->done)) != STORE_OK)
        return err;
    *ended = budget > 0; /* every staging table is empty */
    return STORE_OK;
}

/* ------------------------------------------------------------------- phases */

/* Checks that the staging rows written in phase 1 (codes) or 2 (persons)
 * account for every old row: a row that nothing pairs with would be lost
 * by the swap.  The old rows are all still there when this fails. */
static store_err check_staged(MDB_txn *mt, rs_t *r, unsigned phase)
{
    uint64_t fwd, rev, sfwd, srev, person, sperson;
    store_err err;

    if (phase == PH_CODES) {
        if ((err = entries(mt, r->tb.code_fwd, &fwd)) != STORE_OK ||
            (err = entries(mt, r->tb.code_rev, &rev)) != STORE_OK ||
            (err = entries(mt, r->st_fwd, &sfwd)) != STORE_OK ||
            (err = entries(mt, r->st_rev, &srev)) != STORE_OK)
            return err;
        if (fwd == sfwd && rev == srev)
            return STORE_OK;
        rk_why(r->why, r->why_len,
               "%s: code_rev holds %llu rows that no code_fwd row pairs with; the store is damaged", r->dir,
               (unsigned long long)(rev > srev ? rev - srev : 0));
        return STORE_ECORRUPT;
    }
    if ((err = entries(mt, r->tb.log_person, &person)) != STORE_OK ||
        (err = entries(mt, r->st_person, &sperson)) != STORE_OK)
        return err;
    if (person == sperson)
        return STORE_OK;
    rk_why(r->why, r->why_len, "%s: log_person holds %llu rows of no enrolled person; the store is damaged",
           r->dir, (unsigned long long)(person > sperson ? person - sperson : 0));
    return STORE_ECORRUPT;
}

/* Entering the swap: checked once more, the three tables whose rows are
 * all in staging are emptied. */
static store_err swap_begin(MDB_txn *mt, rs_t *r)
{
    store_err err;
    int rc;

    if ((err = check_staged(mt, r, PH_CODES)) != STORE_OK ||
        (err = check_staged(mt, r, PH_PERSONS)) != STORE_OK)
        return err;
    if ((rc = mdb_drop(mt, r->tb.code_fwd, 0)) != MDB_SUCCESS ||
        (rc = mdb_drop(mt, r->tb.code_rev, 0)) != MDB_SUCCESS ||
        (rc = mdb_drop(mt, r->tb.log_person, 0)) != MDB_SUCCESS)
        return mdb_err(rc);
    return STORE_OK;
}

/* The last transaction: the new key's check, no staging, no record, the
 * log entry. */
static store_err finish(store_txn_t *t, MDB_txn *mt, rs_t *r)
{
    MDB_val key = {sizeof STORE_MASTER_CHECK_KEY - 1, STORE_MASTER_CHECK_KEY},
            val = {STORE_CHECK_LEN, r->new_check};
    rk_log_entry_t e;
    int rc;

    if ((rc = mdb_put(mt, r->tb.meta, &key, &val, 0)) != MDB_SUCCESS)
        return mdb_err(rc);
    key.mv_data = STORE_RESEAL_KEY;
    key.mv_size = sizeof STORE_RESEAL_KEY - 1;
    if ((rc = mdb_del(mt, r->tb.meta, &key, NULL)) != MDB_SUCCESS ||
        (rc = mdb_drop(mt, r->st_fwd, 1)) != MDB_SUCCESS ||
        (rc = mdb_drop(mt, r->st_rev, 1)) != MDB_SUCCESS ||
        (rc = mdb_drop(mt, r->st_person, 1)) != MDB_SUCCESS)
        return mdb_err(rc);
    memset(&e, 0, sizeof e);
    e.time_ms = r->o->now_ms;
    e.event = RK_EV_MASTER_RESEALED;
    if (r->o->operator_name != NULL && r->o->operator_sk != NULL)
        store_txn_set_operator(t, r->o->operator_name, r->o->operator_sk);
    return store_log_entry_append(t, &e, NULL);
}

/* One batch in one write transaction; *finished once the store is sealed
 * under the new key. */
static store_err batch(rs_t *r, record_t *rec, reseal_progress_t *report, bool *finished)
{
    store_txn_t *t = NULL;
    MDB_txn *mt;
    record_t next = *rec;
    bool ended = false;
    store_err err;

    *finished = false;
    if ((err = store_begin(r->store, true, &t)) != STORE_OK)
        return err;
    mt = store_txn_lmdb(t);
    switch (next.phase) {
    case PH_CODES: err = step_codes(mt, r, &next, &ended); break;
    case PH_PERSONS: err = step_persons(mt, r, &next, &ended); break;
    case PH_QUEUE:
    case PH_MSGS: err = step_in_place(mt, r, &next, &ended); break;
    default: err = step_swap(mt, r, &next, &ended); break;
    }
    report->phase = next.phase;
    report->table = phase_table[next.phase];
    report->done = next.done;
    report->total = next.total > next.done ? next.total : next.done;
    report->phase_done = ended;
    if (err == STORE_OK && ended) {
        if (next.phase == PH_SWAP) {
            err = finish(t, mt, r);
            *finished = true;
        } else {
            if (next.phase == PH_CODES || next.phase == PH_PERSONS)
                err = check_staged(mt, r, next.phase);
            else if (next.phase == PH_MSGS)
                err = swap_begin(mt, r);
            if (err == STORE_OK)
                err = phase_enter(mt, r, &next, next.phase + 1);
        }
    }
    if (err == STORE_OK && !*finished)
        err = record_put(mt, r, &next);
    if (err != STORE_OK) {
        *finished = false;
        store_abort(&t);
        return err;
    }
    if ((err = store_commit(&t)) != STORE_OK) {
        *finished = false;
        return err;
    }
    *rec = next;
    return STORE_OK;
}

/* Phases 1 and 2 wrote nothing but staging rows and the record: when they
 * meet damage, both go, and the store is exactly as it was. */
static void undo(rs_t *r)
{
    MDB_val key = {sizeof STORE_RESEAL_KEY - 1, STORE_RESEAL_KEY};
    store_txn_t *t = NULL;
    MDB_txn *mt;
    size_t n;

    if (store_begin(r->store, true, &t) != STORE_OK)
        return;
    mt = store_txn_lmdb(t);
    if (mdb_drop(mt, r->st_fwd, 1) != MDB_SUCCESS || mdb_drop(mt, r->st_rev, 1) != MDB_SUCCESS ||
        mdb_drop(mt, r->st_person, 1) != MDB_SUCCESS || mdb_del(mt, r->tb.meta, &key, NULL) != MDB_SUCCESS ||
        store_commit(&t) != STORE_OK) {
        store_abort(&t);
        return;
    }
    n = r->why != NULL ? strlen(r->why) : 0;
    if (n + 1 < r->why_len)
        rk_why(r->why + n, r->why_len - n,
               "; the re-seal was undone: the store is as it was, under --master-key");
}

/* --------------------------------------------------------------------- run */

/* Whether a process other than this one has dir's LMDB environment open:
 * each holds a shared lock on the first byte of lock.mdb.  *fd is kept
 * open until the store is closed, because closing any descriptor of the
 * file would drop this process's own LMDB lock. */
static bool someone_else(const char *dir, int *fd, long *pid)
{
    char path[4096];
    struct flock fl;

    *pid = 0;
    if ((size_t)snprintf(path, sizeof path, "%s/lock.mdb", dir) >= sizeof path)
        return false;
    if (*fd < 0 && (*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    if (fcntl(*fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK)
        return false;
    *pid = (long)fl.l_pid;
    return true;
}

static int org_name(const org_t *org, void *ctx)
{
    rs_t *r = ctx;
    snprintf(r->orgs[r->n_orgs++], RK_ID_MAX + 1, "%s", org->id);
    return 0;
}

/* Reads the state and decides what to do with these two keys. */
static store_err start(rs_t *r, record_t *rec, bool *resumed, reseal_outcome *outcome)
{
    MDB_val key = {sizeof STORE_MASTER_CHECK_KEY - 1, STORE_MASTER_CHECK_KEY}, val;
    store_txn_t *t = NULL;
    MDB_txn *mt;
    uint64_t n_orgs;
    bool found;
    store_err err;
    int rc;

    *outcome = RESEAL_STOPPED;
    if ((err = store_begin(r->store, true, &t)) != STORE_OK)
        return err;
    mt = store_txn_lmdb(t);
    if ((err = record_get(mt, r, rec, &found)) != STORE_OK) {
        rk_why(r->why, r->why_len, "%s: the record of the unfinished re-seal is damaged", r->dir);
        goto out;
    }
    rc = mdb_get(mt, r->tb.meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        rk_why(r->why, r->why_len,
               "%s holds nothing sealed under a master key yet (renkei-hub never ran on it): start "
               "renkei-hub "
               "with the new master key instead",
               r->dir);
        err = STORE_EMASTER;
        goto out;
    }
    if (rc != MDB_SUCCESS || val.mv_size != STORE_CHECK_LEN) {
        err = rc != MDB_SUCCESS ? mdb_err(rc) : STORE_ECORRUPT;
        rk_why(r->why, r->why_len, "%s: cannot read the master key check: %s", r->dir, store_strerror(err));
        goto out;
    }
    if (!found && sodium_memcmp(val.mv_data, r->new_check, STORE_CHECK_LEN) == 0) {
        *outcome = RESEAL_ALREADY;
        goto out;
    }
    if (sodium_memcmp(val.mv_data, r->old_check, STORE_CHECK_LEN) != 0) {
        rk_why(r->why, r->why_len,
               "--master-key is not the master key %s is sealed with%s; give the key renkei-hub was started "
               "with there",
               r->dir, found ? " (the old key of its unfinished re-seal)" : "");
        err = STORE_EMASTER;
        goto out;
    }
    if (found && sodium_memcmp(rec->new_check, r->new_check, STORE_CHECK_LEN) != 0) {
        rk_why(r->why, r->why_len,
               "--new-master-key is not the key the unfinished re-seal of %s was started with; give that key "
               "to finish it",
               r->dir);
        err = STORE_EMASTER;
        goto out;
    }
    *resumed = found;
    if ((rc = mdb_dbi_open(mt, "reseal_fwd", MDB_CREATE, &r->st_fwd)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(mt, "reseal_rev", MDB_CREATE, &r->st_rev)) != MDB_SUCCESS ||
        (rc = mdb_dbi_open(mt, "reseal_person", MDB_CREATE, &r->st_person)) != MDB_SUCCESS) {
        err = mdb_err(rc);
        rk_why(r->why, r->why_len, "%s: cannot make the re-seal's tables: %s", r->dir, mdb_strerror(rc));
        goto out;
    }
    if (!found) {
        memset(rec, 0, sizeof *rec);
        memcpy(rec->new_check, r->new_check, STORE_CHECK_LEN);
        if ((err = phase_enter(mt, r, rec, PH_CODES)) != STORE_OK ||
            (err = record_put(mt, r, rec)) != STORE_OK)
            goto out;
    }
    if ((err = entries(mt, r->tb.orgs, &n_orgs)) != STORE_OK)
        goto out;
    if ((r->orgs = calloc(n_orgs + 1, sizeof *r->orgs)) == NULL) {
        err = STORE_ENOMEM;
        goto out;
    }
    if ((err = store_org_list(t, org_name, r)) != STORE_OK)
        goto out;
    err = store_commit(&t);
out:
    store_abort(&t);
    return err;
}

store_err reseal_run(const char *dir, const uint8_t *old_master, const uint8_t *new_master,
                     const reseal_opts_t *opts, reseal_outcome *outcome, char *why, size_t why_len)
{
    static const reseal_opts_t defaults;
    char path[4096];
    struct stat st;
    rs_t r;
    record_t rec;
    reseal_progress_t report;
    uint64_t batches = 0;
    bool resumed = false, finished = false;
    long pid;
    int lock_fd = -1;
    store_err err;

    memset(&r, 0, sizeof r);
    *outcome = RESEAL_STOPPED;
    r.o = opts != NULL ? opts : &defaults;
    r.batch = r.o->batch > 0 ? r.o->batch : RESEAL_DEFAULT_BATCH;
    r.dir = dir;
    r.why = why;
    r.why_len = why_len;
    if (dir == NULL || old_master == NULL || new_master == NULL)
        return STORE_EINVAL;
    if (sodium_init() < 0) {
        rk_why(why, why_len, "libsodium failed to initialize");
        return STORE_EIO;
    }
    if (sodium_memcmp(old_master, new_master, 32) == 0) {
        rk_why(why, why_len,
               "--new-master-key is the same key as --master-key: make a new one with "
               "'renkei-keygen --master-key FILE'");
        return STORE_EINVAL;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/data.mdb", dir) >= sizeof path || stat(path, &st) != 0) {
        rk_why(why, why_len, "%s holds no hub data (no data.mdb): give renkei-hub's --data directory", dir);
        return STORE_ENOTFOUND;
    }
    if (store_keys_derive(old_master, &r.old, r.old_check) != STORE_OK ||
        store_keys_derive(new_master, &r.new, r.new_check) != STORE_OK) {
        rk_why(why, why_len, "out of memory deriving the table keys");
        err = STORE_ENOMEM;
        goto out;
    }
    if ((err = store_open_resealing(dir, r.o->map_size, &r.store, why, why_len)) != STORE_OK)
        goto out;
    if (someone_else(dir, &lock_fd, &pid)) {
        rk_why(why, why_len,
               "another process (pid %ld, renkei-hub?) has %s open: stop renkei-hub before changing the "
               "master "
               "key; nothing was changed",
               pid, dir);
        err = STORE_EBUSY;
        goto out;
    }
    store_tables(r.store, &r.tb);
    if ((err = start(&r, &rec, &resumed, outcome)) != STORE_OK || *outcome == RESEAL_ALREADY) {
        if (err != STORE_OK && why != NULL && why[0] == '\0')
            rk_why(why, why_len, "%s: %s", dir, store_strerror(err));
        goto out;
    }
    /* From the record on, store_open refuses the store: a process that
     * opened it in between is the last one that could. */
    if (someone_else(dir, &lock_fd, &pid)) {
        rk_why(why, why_len,
               "another process (pid %ld, renkei-hub?) opened %s as the re-seal began: stop it, then run the "
               "same command again",
               pid, dir);
        err = STORE_EBUSY;
        goto out;
    }
    while (!finished) {
        if (r.o->max_batches > 0 && batches == r.o->max_batches) {
            *outcome = RESEAL_STOPPED;
            goto out;
        }
        memset(&report, 0, sizeof report);
        if ((err = batch(&r, &rec, &report, &finished)) != STORE_OK) {
            if (err == STORE_ECORRUPT && rec.phase <= PH_PERSONS) {
                if (why != NULL && why[0] == '\0')
                    rk_why(why, why_len, "%s: a row does not open under --master-key; the store is damaged",
                           dir);
                undo(&r);
            } else if (why != NULL && why[0] == '\0')
                rk_why(why, why_len,
                       "%s: the re-seal stopped: %s; what was done so far is kept, run the same "
                       "command again to go on",
                       dir, store_strerror(err));
            goto out;
        }
        batches++;
        report.resumed = resumed && batches == 1;
        if (r.o->progress != NULL)
            r.o->progress(&report, r.o->ctx);
    }
    *outcome = RESEAL_DONE;
out:
    store_close(&r.store);
    if (lock_fd >= 0)
        close(lock_fd);
    store_keys_free(&r.old);
    store_keys_free(&r.new);
    sodium_memzero(r.old_check, sizeof r.old_check);
    sodium_memzero(r.new_check, sizeof r.new_check);
    if (r.buf != NULL) {
        sodium_memzero(r.buf, r.buf_cap);
        free(r.buf);
    }
    free(r.orgs);
    return err;
}
