/*
 * note.h - signed checkpoints of the routing log, in the C2SP formats
 * (c2sp.org/signed-note and c2sp.org/tlog-checkpoint) so that existing
 * transparency-log tooling can read them.
 *
 * A checkpoint:
 *
 *   <origin>\n
 *   <tree size, decimal, no leading zeros>\n
 *   <base64 root hash>\n
 *   renkei-time <RFC 3339 UTC, e.g. 2024-04-01T09:00:00Z>\n
 *   \n
 *   — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\n
 *
 * The first four lines are the note text; the signature covers exactly those
 * bytes.  "renkei-time" is an extension line (other verifiers ignore it).
 * The key id is the first four bytes, read big-endian, of
 * SHA-256(key name || 0x0A || 0x01 || Ed25519 public key).
 *
 * A verifier key ("vkey") is published as
 *   <key name>+<key id, 8 lowercase hex digits>+<base64(0x01 || public key)>
 *
 * Key names and origins here are 1 to TLOG_NAME_MAX bytes of printable ASCII
 * other than space and '+' (stricter than the note format requires).
 */
#ifndef RENKEI_TLOG_NOTE_H
#define RENKEI_TLOG_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"

#define TLOG_NAME_MAX 128
/* Largest signed note tlog_checkpoint_open() accepts, in bytes. */
#define TLOG_NOTE_MAX 16384
/* Most signature lines tlog_checkpoint_open() accepts (the format asks for at least 16). */
#define TLOG_NOTE_MAX_SIGS 64
/* Room for a checkpoint made by tlog_checkpoint_sign(), NUL included. */
#define TLOG_CHECKPOINT_MAX (4 * TLOG_NAME_MAX + 256)
/* Room for a verifier key string, NUL included. */
#define TLOG_VKEY_MAX (TLOG_NAME_MAX + 64)
/* Latest time a checkpoint may carry: 9999-12-31T23:59:59Z. */
#define TLOG_TIME_MAX INT64_C(253402300799)

typedef struct tlog_checkpoint {
    uint64_t size;                /* number of entries in the tree */
    uint8_t root[TLOG_HASH_LEN];  /* RFC 9162 root hash at that size */
    int64_t time;                 /* seconds since the Unix epoch, UTC */
} tlog_checkpoint_t;

/* Returns the note key id of the Ed25519 key `pk` named `name` (a valid name). */
uint32_t tlog_key_id(const char *name, const uint8_t pk[32]);

/* Writes the verifier key string of (name, pk) to out, NUL-terminated.
 * Returns TLOG_EINVAL for an invalid name, TLOG_ESPACE if cap is too small;
 * out is then an empty string (when cap > 0). */
tlog_err tlog_vkey_format(const char *name, const uint8_t pk[32], char *out, size_t cap)
    TLOG_WARN_UNUSED;

/* Parses a verifier key string into name (room for TLOG_NAME_MAX + 1 bytes)
 * and pk, checking its key id.  On failure returns TLOG_EFORMAT, says in
 * `why` what is wrong, and leaves name empty and pk zeroed. */
tlog_err tlog_vkey_parse(const char *vkey, char name[TLOG_NAME_MAX + 1], uint8_t pk[32], char *why,
                         size_t why_len) TLOG_WARN_UNUSED;

/* Signs checkpoint `cp` of log `origin` with the Ed25519 key sk (libsodium
 * layout: seed || public key) under key name `key_name`, and writes the
 * signed note to out (cap bytes; TLOG_CHECKPOINT_MAX always suffices),
 * NUL-terminated, its length without the NUL in *out_len.  Returns
 * TLOG_EINVAL for an invalid origin or key name or a time outside
 * [0, TLOG_TIME_MAX], TLOG_ESPACE, TLOG_ECRYPTO; out is then empty. */
tlog_err tlog_checkpoint_sign(const char *origin, const tlog_checkpoint_t *cp, const char *key_name,
                              const uint8_t sk[64], char *out, size_t cap, size_t *out_len)
    TLOG_WARN_UNUSED;

/* Checks the signed checkpoint text[0:len] strictly: well-formed UTF-8 note
 * text and signature lines, at least one valid signature by (key_name, pk)
 * and no invalid one from that key (signatures of other keys are ignored),
 * origin equal to `origin`, canonical decimal size, exact base64 root, one
 * renkei-time line.  On success fills *cp.  On failure returns TLOG_EFORMAT
 * or TLOG_ESIG (or TLOG_ECRYPTO), says in `why` what is wrong and what to
 * check, and leaves *cp zeroed. */
tlog_err tlog_checkpoint_open(const char *text, size_t len, const char *origin,
                              const char *key_name, const uint8_t pk[32], tlog_checkpoint_t *cp,
                              char *why, size_t why_len) TLOG_WARN_UNUSED;

/* Copies the origin a signed checkpoint names (its first line, not yet
 * checked) into origin (room for TLOG_NAME_MAX + 1 bytes), for a verifier
 * that pins the key but learns the log's name from the log.  Returns
 * TLOG_EFORMAT, origin empty, if text[0:len] has no first line that is a
 * valid name.  Open the note with tlog_checkpoint_open afterwards. */
tlog_err tlog_checkpoint_origin(const char *text, size_t len, char *origin) TLOG_WARN_UNUSED;

#endif
