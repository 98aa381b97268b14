/*
 * offline.h - renkei-audit's checks that need no connection to the hub:
 * a checkpoint against a pinned verifier key, a file of the log's raw
 * leaves against a checkpoint, a consistency proof between two
 * checkpoints, a receipt as `renkei-agent receipt --out` writes it.
 *
 * Leaves file ("renkei-audit export --format leaves"): one line per entry
 * of the log, in index order from entry 0, each the entry's bytes exactly
 * as the Merkle tree hashes them (leaf hash = SHA-256(0x00 || bytes)) in
 * standard base64 with padding (RFC 4648 section 4), ending in "\n".
 *
 * Every function returns an exit status of common/cli.h (RK_EXIT_OK,
 * RK_EXIT_PROOF when the files do not prove what they should,
 * RK_EXIT_UNVERIFIED when a receipt lacks its entry, RK_EXIT_ERROR when a
 * file cannot be read) and writes one sentence on what failed to why.
 */
#ifndef RENKEI_AUDIT_OFFLINE_H
#define RENKEI_AUDIT_OFFLINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "note.h"

/* A verifier key, parsed. */
typedef struct audit_vkey {
    char name[TLOG_NAME_MAX + 1]; /* the log origin and key name */
    uint8_t pk[32];
    char text[TLOG_VKEY_MAX]; /* as given */
} audit_vkey_t;

/* Reads a verifier key given as the key itself or as a file holding it on
 * its first line.  RK_EXIT_OK, RK_EXIT_USAGE if it is neither. */
int audit_vkey_read(const char *arg, audit_vkey_t *vk, char *why, size_t why_len);

/* Opens the signed checkpoint in file `path` under vk into *cp (origin and
 * key name: vk->name). */
int audit_check_checkpoint(const char *path, const audit_vkey_t *vk, tlog_checkpoint_t *cp, char *why,
                           size_t why_len);

/* Recomputes the tree of the first cp->size leaves of leaves file `path`
 * and compares its root with cp's; with old (may be NULL) also the root at
 * old->size with old's.  *n_leaves: leaves the file holds. */
int audit_check_leaves(const char *path, const tlog_checkpoint_t *cp, const tlog_checkpoint_t *old,
                       uint64_t *n_leaves, char *why, size_t why_len);

/* Checks receipt file `path`: its checkpoint under vk, and that its entry
 * is leaf `index` of that checkpoint's tree by its inclusion proof, and is
 * the entry of its message.  *cp: the receipt's checkpoint. */
int audit_check_receipt(const char *path, const audit_vkey_t *vk, tlog_checkpoint_t *cp, uint64_t *index,
                        char *why, size_t why_len);

/* Consistency file ("renkei-audit prove"): lines "renkei-consistency 1",
 * "old_size N", "new_size M", then one "proof HEX" line per hash of the
 * RFC 9162 consistency proof PROOF(N, D[0:M]) (none when N is 0 or M).
 * Writes one; 0, or -1 if f failed. */
int audit_consistency_write(FILE *f, uint64_t old_size, uint64_t new_size, const uint8_t *path, size_t n);

/* Checks consistency file `path` proves that the tree of checkpoint cp
 * extends the tree of checkpoint old (both already opened). */
int audit_check_consistency(const char *path, const tlog_checkpoint_t *old, const tlog_checkpoint_t *cp,
                            char *why, size_t why_len);

/* Writes one entry's bytes as a leaves-file line.  0, or -1 if f failed. */
int audit_leaf_write(FILE *f, const uint8_t *entry, size_t len);

#endif /* RENKEI_AUDIT_OFFLINE_H */
