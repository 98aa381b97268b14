/*
 * keys.h - a party's identity: one secret seed, two key pairs.
 *
 * Every party (the hub and each organization) has one identity.  Its secret
 * file holds a 32-byte Ed25519 seed; from it come the Ed25519 signing pair
 * and, through the birational map libsodium provides, the X25519 pair used
 * both by CurveZMQ and by the payload encryption (crypto_box).  The public
 * file holds the Ed25519 public key; the X25519 public key derives from it.
 *
 * File formats (text, one "field: value" per line, '#' starts a comment):
 *
 *   NAME.key  (mode 0600)              NAME.pub
 *   renkei-secret-key: 1               renkei-public-key: 1
 *   name: city.x                       name: city.x
 *   seed: <base64, 32 bytes>           sign: <base64 Ed25519, 32 bytes>
 *                                      curve: <Z85 X25519, 40 chars>
 *
 * A master key file (the hub's table key) is
 *   renkei-master-key: 1
 *   key: <base64, 32 bytes>
 *
 * proto/README.md ("Keys and key files") documents these formats and the
 * derivation for implementations in other languages.
 *
 * Secret material lives in sodium_malloc'd memory and is wiped on destroy.
 */
#ifndef RENKEI_KEYS_H
#define RENKEI_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef enum rk_keys_err {
    RK_KEYS_OK = 0,
    RK_KEYS_EIO,      /* could not read or write the file; see errno text in `why` */
    RK_KEYS_EPERM,    /* secret file readable by group or others */
    RK_KEYS_EFORMAT,  /* not a Renkei key file, or a field is wrong */
    RK_KEYS_EEXIST,   /* refusing to overwrite an existing file */
    RK_KEYS_ENOMEM,   /* allocation failed */
    RK_KEYS_ECRYPTO,  /* key conversion failed */
    RK_KEYS_ENAME,    /* name is not a valid org id */
} rk_keys_err;

const char *rk_keys_strerror(rk_keys_err err);

#define RK_Z85_LEN 40

typedef struct rk_pubkey {
    char name[RK_ID_MAX + 1];
    uint8_t sign_pk[RK_KEY_LEN];  /* Ed25519 */
    uint8_t curve_pk[RK_KEY_LEN]; /* X25519 */
} rk_pubkey_t;

typedef struct rk_identity {
    rk_pubkey_t pub;
    uint8_t sign_sk[64];          /* Ed25519, libsodium layout (seed || pk) */
    uint8_t curve_sk[RK_KEY_LEN]; /* X25519 */
} rk_identity_t;

/* Creates a fresh identity for `name` (an org id, or "hub").  Returns NULL
 * on allocation failure or an invalid name. */
rk_identity_t *rk_identity_generate(const char *name);

/* Loads NAME.key.  Refuses (RK_KEYS_EPERM) a file whose mode lets group or
 * others read or write it.  On failure *out is NULL and `why` says what is
 * wrong in words a person can act on. */
rk_keys_err rk_identity_load(const char *path, rk_identity_t **out, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* Writes PREFIX.key (0600, created exclusively) and PREFIX.pub (0644).
 * Refuses to overwrite either file.  On failure neither file is left behind. */
rk_keys_err rk_identity_save(const rk_identity_t *id, const char *prefix, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* Wipes and frees *id, sets *id to NULL.  Accepts NULL. */
void rk_identity_destroy(rk_identity_t **id);

/* Loads NAME.pub; checks the optional curve line against the sign key. */
rk_keys_err rk_pubkey_load(const char *path, rk_pubkey_t *out, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* Fills pub from an Ed25519 public key (derives the X25519 key). */
rk_keys_err rk_pubkey_from_sign(const char *name, const uint8_t sign_pk[RK_KEY_LEN], rk_pubkey_t *pub)
    RK_WARN_UNUSED;

/* Master key: 32 random bytes in sodium_malloc'd memory. */
rk_keys_err rk_master_generate_file(const char *path, char *why, size_t why_len) RK_WARN_UNUSED;
rk_keys_err rk_master_load(const char *path, uint8_t **key, char *why, size_t why_len) RK_WARN_UNUSED;
void rk_master_destroy(uint8_t **key);

/* The parsers behind rk_identity_load, rk_pubkey_load and rk_master_load,
 * for a key file's text already in memory (NUL-terminated).  `label` stands
 * for the file in the messages written to `why` (the loaders pass the path).
 * They accept exactly what the loaders accept: text of KEY_FILE_MAX (4096)
 * bytes or more is refused like a file that large.  Results and ownership
 * are those of the matching loader; the secret parsers do not check file
 * modes (there is no file). */
rk_keys_err rk_identity_parse(const char *text, const char *label, rk_identity_t **out, char *why,
                              size_t why_len) RK_WARN_UNUSED;
rk_keys_err rk_pubkey_parse(const char *text, const char *label, rk_pubkey_t *out, char *why,
                            size_t why_len) RK_WARN_UNUSED;
rk_keys_err rk_master_parse(const char *text, const char *label, uint8_t **key, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* Room for a default routing-log origin, NUL included. */
#define RK_LOG_ORIGIN_LEN 20
/* The routing log's origin a hub takes when it is first started without
 * --log-origin: "renkei-hub/" and the first 8 lowercase hex digits of
 * SHA-256(the hub's Ed25519 public key), so that two deployments never
 * share a log name. */
void rk_log_origin_default(const uint8_t sign_pk[RK_KEY_LEN], char out[RK_LOG_ORIGIN_LEN]);

#endif /* RENKEI_KEYS_H */
