/*
 * state.h - the last checkpoint this auditor verified, kept in a local file.
 *
 * Text, one "field: value" per line:
 *
 *   renkei-audit-state: 1
 *   origin: renkei-hub
 *   size: 1234
 *   root: <64 lowercase hex digits>
 *   time: 2025-04-01T09:00:00Z
 *   hub-key: <base64 Ed25519 public key>          (optional)
 *   hub-key-latest: <base64 Ed25519 public key>   (optional)
 *
 * hub-key is the key this auditor trusts the log's checkpoints to be signed
 * with: --hub-key's at the first verification, kept from then on.
 * hub-key-latest is the last key the log's key-rotation statements hand
 * over to from it (hub/hubkey.h); renkei-audit connects with it when the
 * hub no longer presents --hub-key's.  Files without them (written before
 * the hub's key could change) trust --hub-key.
 *
 * Written atomically (a temporary file in the same directory, fsync, rename)
 * with mode 0600, and only after a verification succeeded.
 */
#ifndef RENKEI_AUDIT_STATE_H
#define RENKEI_AUDIT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "note.h"

typedef enum audit_state_err {
    AUDIT_STATE_OK = 0,
    AUDIT_STATE_ENOENT,  /* no state file yet */
    AUDIT_STATE_EIO,     /* cannot read or write the file */
    AUDIT_STATE_EFORMAT, /* not a state file, or a field is wrong */
} audit_state_err;

typedef struct audit_state {
    char origin[TLOG_NAME_MAX + 1];
    tlog_checkpoint_t cp; /* size, root, time (seconds) */
    bool has_hub_key;
    uint8_t hub_key[32]; /* the key trusted to sign the log */
    bool has_hub_key_latest;
    uint8_t hub_key_latest[32]; /* the key the log's statements lead to from hub_key */
} audit_state_t;

/* Reads path into *st.  On failure *st is zeroed and `why` says what is
 * wrong (AUDIT_STATE_ENOENT: the file does not exist). */
audit_state_err audit_state_load(const char *path, audit_state_t *st, char *why, size_t why_len)
    __attribute__((warn_unused_result));

/* Replaces path with st atomically.  On failure path is unchanged. */
audit_state_err audit_state_save(const char *path, const audit_state_t *st, char *why, size_t why_len)
    __attribute__((warn_unused_result));

#endif /* RENKEI_AUDIT_STATE_H */
