/*
 * merkle.h - the routing log's Merkle tree (RFC 6962 / RFC 9162, SHA-256).
 *
 *   leaf hash = SHA-256(0x00 || entry)
 *   node hash = SHA-256(0x01 || left || right)
 *   MTH({})   = SHA-256("")
 *
 * A tree of n leaves splits at k, the largest power of two smaller than n:
 * MTH(D[0:n]) = node(MTH(D[0:k]), MTH(D[k:n])).
 *
 * Storage is the caller's.  The tree is kept as the hashes of its complete
 * (perfect) subtrees, each addressed by (level, index): the subtree of 2^level
 * leaves covering [index * 2^level, (index + 1) * 2^level).  Such a hash never
 * changes once the subtree is complete, so it can be written once and read
 * forever.  tlog_append() writes the new leaf and every subtree it completes
 * (two writes per append on average); a root or a proof then needs at most
 * about 2 * log2(n) reads.
 *
 * Hashing uses libsodium's crypto_hash_sha256, which needs no sodium_init().
 * No function keeps state between calls.
 */
#ifndef RENKEI_TLOG_MERKLE_H
#define RENKEI_TLOG_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLOG_WARN_UNUSED __attribute__((warn_unused_result))

#define TLOG_HASH_LEN 32
/* Longest inclusion or consistency proof, in hashes. */
#define TLOG_MAX_PATH 64
/* Largest tree size accepted anywhere (2^63 - 1 leaves). */
#define TLOG_MAX_SIZE (UINT64_MAX >> 1)

/* One error enum for the whole tlog library (merkle.h and note.h).  New values
 * are only ever appended. */
typedef enum tlog_err {
    TLOG_OK = 0,
    TLOG_EINVAL,  /* an argument is out of range: index >= size, old > new, size too large */
    TLOG_ESTORE,  /* the get or put callback failed: a subtree hash is missing or unwritable */
    TLOG_EPROOF,  /* the proof does not prove what it was checked against */
    TLOG_EFORMAT, /* a checkpoint, signed note or verifier key is not well-formed */
    TLOG_ESIG,    /* no valid signature from the expected key, or a bad one from it */
    TLOG_ESPACE,  /* the output buffer is too small */
    TLOG_ECRYPTO, /* libsodium could not be initialised or failed to sign */
} tlog_err;

/* Returns a short static English description of `err`; never NULL. */
const char *tlog_strerror(tlog_err err);

/* Reads the hash of the complete subtree (level, index) into `out`.  Returns 0
 * on success, nonzero if it is missing or cannot be read (the callback may
 * record details in its own ctx). */
typedef int (*tlog_get_fn)(void *ctx, unsigned level, uint64_t index, uint8_t out[TLOG_HASH_LEN]);

/* Stores the hash of the complete subtree (level, index).  Returns 0 on
 * success, nonzero on failure. */
typedef int (*tlog_put_fn)(void *ctx, unsigned level, uint64_t index,
                           const uint8_t hash[TLOG_HASH_LEN]);

/* Writes SHA-256(0x00 || entry) to out.  `entry` may be NULL when len is 0. */
void tlog_leaf_hash(const void *entry, size_t len, uint8_t out[TLOG_HASH_LEN]);

/* Writes SHA-256(0x01 || left || right) to out.  out may alias left or right. */
void tlog_node_hash(const uint8_t left[TLOG_HASH_LEN], const uint8_t right[TLOG_HASH_LEN],
                    uint8_t out[TLOG_HASH_LEN]);

/* Appends the leaf `leaf_hash` to a tree holding `size_before` leaves: puts
 * (0, size_before) and every subtree this leaf completes, reading their left
 * halves through get.  On failure (TLOG_EINVAL if the tree is full,
 * TLOG_ESTORE if a callback failed) some puts may already have been made: run
 * it inside the store's transaction and abort that on failure. */
tlog_err tlog_append(uint64_t size_before, const uint8_t leaf_hash[TLOG_HASH_LEN], tlog_get_fn get,
                     tlog_put_fn put, void *ctx) TLOG_WARN_UNUSED;

/* Writes the root hash MTH(D[0:size]) to out; size 0 gives SHA-256("").
 * Returns TLOG_EINVAL if size exceeds TLOG_MAX_SIZE, TLOG_ESTORE if a subtree
 * could not be read; out is then unspecified. */
tlog_err tlog_root(uint64_t size, tlog_get_fn get, void *ctx, uint8_t out[TLOG_HASH_LEN])
    TLOG_WARN_UNUSED;

/* Computes the inclusion proof PATH(index, D[0:size]) of RFC 9162 2.1.3.1 into
 * `path` (room for TLOG_MAX_PATH hashes of TLOG_HASH_LEN bytes, leaf side
 * first) and its length in hashes into *n.  Returns TLOG_EINVAL unless
 * index < size <= TLOG_MAX_SIZE, TLOG_ESTORE if a read failed; *n is then 0. */
tlog_err tlog_inclusion_proof(uint64_t index, uint64_t size, tlog_get_fn get, void *ctx,
                              uint8_t *path, size_t *n) TLOG_WARN_UNUSED;

/* Computes the consistency proof PROOF(old_size, D[0:new_size]) of RFC 9162
 * 2.1.4.1 into `path` (room for TLOG_MAX_PATH hashes) and its length into *n.
 * old_size 0 or old_size == new_size gives an empty proof.  Returns
 * TLOG_EINVAL if old_size > new_size or new_size > TLOG_MAX_SIZE, TLOG_ESTORE
 * if a read failed; *n is then 0. */
tlog_err tlog_consistency_proof(uint64_t old_size, uint64_t new_size, tlog_get_fn get, void *ctx,
                                uint8_t *path, size_t *n) TLOG_WARN_UNUSED;

/* Checks, by the algorithm of RFC 9162 2.1.3.2, that `leaf_hash` is leaf
 * `index` of the tree of `size` leaves whose root is `root`, given the n-hash
 * inclusion `path`.  Returns TLOG_OK if it is, TLOG_EPROOF if not, TLOG_EINVAL
 * if index >= size or n > TLOG_MAX_PATH. */
tlog_err tlog_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[TLOG_HASH_LEN],
                               const uint8_t *path, size_t n, const uint8_t root[TLOG_HASH_LEN])
    TLOG_WARN_UNUSED;

/* Checks, by the algorithm of RFC 9162 2.1.4.2, that the tree of new_size
 * leaves with root new_root extends the tree of old_size leaves with root
 * old_root, given the n-hash consistency `path`.  For old_size == new_size the
 * path must be empty and the roots equal; for old_size 0 the path must be
 * empty and old_root must be SHA-256("").  Returns TLOG_OK, TLOG_EPROOF, or
 * TLOG_EINVAL if old_size > new_size or n > TLOG_MAX_PATH. */
tlog_err tlog_verify_consistency(uint64_t old_size, uint64_t new_size,
                                 const uint8_t old_root[TLOG_HASH_LEN],
                                 const uint8_t new_root[TLOG_HASH_LEN], const uint8_t *path,
                                 size_t n) TLOG_WARN_UNUSED;

#endif
