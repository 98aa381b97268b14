/*
 * witness.h - a transparency-log witness for Renkei's routing log
 * (c2sp.org/tlog-witness, c2sp.org/tlog-cosignature).
 *
 * The witness keeps, for each log it is configured with (origin and the
 * log's Ed25519 verifier key), the latest checkpoint it cosigned.  Given an
 * add-checkpoint request (old size, consistency proof, signed checkpoint) it
 * checks the log's signature and that the new checkpoint extends the one it
 * cosigned, persists the new one, and answers with an Ed25519 cosignature/v1
 * signature line:
 *
 *   message   = "cosignature/v1\ntime <t>\n" || checkpoint note text
 *   key id    = SHA-256(name || "\n" || 0x04 || public key)[:4]
 *   line      = "— <name> " base64(key id || u64 big-endian t || signature) "\n"
 *
 * State directory: one file per log, LOG-<hex>.checkpoint (hex of the first
 * 16 bytes of SHA-256(origin)), holding the last cosigned signed note,
 * replaced atomically (temporary file, fsync, rename, fsync of the
 * directory) before any cosignature is returned.  A checkpoint the log
 * signed that contradicts that state (same size and another root, or a
 * larger tree whose proof does not verify) is kept in evidence/ with the
 * checkpoint it contradicts and the proof given; the witness never cosigns
 * it.  A lock file keeps a second witness off the same directory.
 */
#ifndef RENKEI_WITNESS_H
#define RENKEI_WITNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "note.h"

#define WITNESS_MAX_LOGS 64
/* Largest add-checkpoint request body accepted. */
#define WITNESS_BODY_MAX (32 + 63 * 46 + TLOG_NOTE_MAX)
/* Room for any answer body witness_add_checkpoint writes. */
#define WITNESS_ANSWER_MAX 1024

typedef struct witness_log_cfg {
    char origin[TLOG_NAME_MAX + 1];
    char key_name[TLOG_NAME_MAX + 1]; /* the log's signing key name */
    uint8_t pk[32];                   /* the log's Ed25519 public key */
} witness_log_cfg_t;

typedef struct witness witness_t;

/* Writes the cosigner key id of (name, pk): SHA-256(name || 0x0A || 0x04 || pk)[:4], big-endian. */
uint32_t witness_key_id(const char *name, const uint8_t pk[32]);

/* Writes the witness's verifier key name+KEYID+base64(0x04 || pk) to out
 * (TLOG_VKEY_MAX bytes suffice).  false if name is not a valid key name. */
bool witness_vkey_format(const char *name, const uint8_t pk[32], char *out, size_t cap);

/* Opens the state directory `dir` (created 0700 if missing) for the n logs,
 * loading each log's last cosigned checkpoint (checked against its key).
 * sk is the witness's Ed25519 secret key (libsodium layout), copied.  On
 * failure returns false, *out NULL, and `why` says what to fix. */
bool witness_open(const char *name, const uint8_t sk[64], const char *dir, const witness_log_cfg_t *logs,
                  size_t n, witness_t **out, char *why, size_t why_len);

/* Wipes the key, releases the lock, frees *w and sets it to NULL. */
void witness_close(witness_t **w);

/* The size the witness last cosigned for `origin`, or -1 if not configured. */
int64_t witness_size(witness_t *w, const char *origin);

/* Handles one add-checkpoint request body body[0:len] at time `now` (Unix
 * seconds, > 0).  Returns the HTTP status (200, 400, 403, 404, 409, 422, or
 * 500 when the state could not be written) and writes the answer body to
 * out (WITNESS_ANSWER_MAX bytes), NUL-terminated, and its content type to
 * *type.  Thread-safe: checking the old size and persisting the new
 * checkpoint happen under one lock.  Writes one line to stderr for each
 * checkpoint refused as inconsistent and for each state write that failed. */
unsigned witness_add_checkpoint(witness_t *w, const char *body, size_t len, int64_t now, char *out,
                                const char **type);

#endif
