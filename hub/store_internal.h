/*
 * store_internal.h - what the store lends to the master-key re-seal
 * (hub/reseal.c) and to nothing else.
 *
 * The re-seal rewrites rows of the sealed tables under a second master
 * key, so it needs the LMDB handles of those tables and the subkey
 * derivation; everything else goes through store.h.  Row layouts are in
 * docs/hub-store.md; reseal.c encodes them to exactly that layout, and
 * tests/test_store.c reads the result back through store.h.
 */
#ifndef RENKEI_HUB_STORE_INTERNAL_H
#define RENKEI_HUB_STORE_INTERNAL_H

#include <lmdb.h>

#include "store.h"

#define STORE_SUBKEY_LEN 32
#define STORE_CHECK_LEN 32

/* The subkeys of one master key (docs/hub-store.md, "The master key, its
 * subkeys"); sodium_malloc'd, read-only once derived. */
struct store_keys {
    uint8_t hash[STORE_SUBKEY_LEN];     /* keyed hash of code_fwd / code_rev row keys */
    uint8_t enc[STORE_SUBKEY_LEN];      /* secretbox of their values */
    uint8_t queue[STORE_SUBKEY_LEN];    /* seals queued frames */
    uint8_t disclose[STORE_SUBKEY_LEN]; /* keyed hash of log_person row keys */
    uint8_t seal[STORE_SUBKEY_LEN];     /* seals log_person values and msgs' person field */
};

/* Derives the subkeys and the master-check value of master (32 bytes).
 * *out is freed with store_keys_free.  STORE_ENOMEM on failure. */
store_err store_keys_derive(const uint8_t *master, struct store_keys **out,
                            uint8_t check[STORE_CHECK_LEN]) RK_WARN_UNUSED;
/* Wipes and frees *keys; accepts NULL; sets it to NULL. */
void store_keys_free(struct store_keys **keys);

/* Opens the store although a re-seal is unfinished (store_open refuses
 * that); without a master key, so no master-check is read or written. */
store_err store_open_resealing(const char *dir, size_t map_size, store_t **out, char *why,
                               size_t why_len) RK_WARN_UNUSED;

/* The tables a re-seal touches. */
typedef struct store_tables {
    MDB_dbi meta, orgs, code_fwd, code_rev, queue, msgs, log_person;
} store_tables_t;

void store_tables(const store_t *store, store_tables_t *out);
/* The LMDB transaction behind txn; NULL once a failure aborted it. */
MDB_txn *store_txn_lmdb(store_txn_t *txn);

/* meta key of an unfinished re-seal (docs/hub-store.md, meta). */
#define STORE_RESEAL_KEY "reseal"
#define STORE_MASTER_CHECK_KEY "master-check"

#endif /* RENKEI_HUB_STORE_INTERNAL_H */
