/*
 * keystore.h - the caller-chosen names the agent's gateways remember: an
 * HTTP Idempotency-Key (http.c) or a spool file's NAME (spool.c), each
 * mapped to the message it produced, in an LMDB file of its own in the
 * agent's data directory.
 *
 * Keys are stored as BLAKE2b-256 of the name, never the name.  A value is
 * RK_KEYSTORE_VAL_LEN bytes: 'R' (reserved: the message is being sent)
 * or 'S' (sent), then the 16-byte message id (zeros while reserved).
 * Layout in docs/agent-store.md.  One handle per process; every call is
 * its own transaction.
 */
#ifndef RENKEI_AGENT_KEYSTORE_H
#define RENKEI_AGENT_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "renkei/agent.h"

#define RK_KEYSTORE_VAL_LEN (1 + RK_MSGID_LEN)
#define RK_KEYSTORE_RESERVED 'R'
#define RK_KEYSTORE_SENT 'S'

typedef struct rk_keystore {
    MDB_env *env;
    MDB_dbi dbi;
} rk_keystore_t;

/* Opens (creating) DIR/FILE; `what` names it in the error ("the
 * idempotency keys").  false with why on failure (ks left closed). */
bool rk_keystore_open(rk_keystore_t *ks, const char *dir, const char *file, const char *what, char *why,
                      size_t why_len);
void rk_keystore_close(rk_keystore_t *ks);

/* The stored key for a caller's name. */
void rk_keystore_hash(const char *name, uint8_t out[32]);

/* 1 found (into val), 0 not found, -1 error. */
int rk_keystore_get(rk_keystore_t *ks, const uint8_t h[32], uint8_t val[RK_KEYSTORE_VAL_LEN]);

/* 1 stored, 0 (only with fresh: MDB_NOOVERWRITE) the key is there
 * already, -1 error. */
int rk_keystore_put(rk_keystore_t *ks, const uint8_t h[32], const uint8_t val[RK_KEYSTORE_VAL_LEN], bool fresh);

/* Removes the key (absent is fine); false on error. */
bool rk_keystore_del(rk_keystore_t *ks, const uint8_t h[32]);

/* Whether some name is recorded as SENT with msg_id: 1, 0, or -1 if it
 * cannot tell. */
int rk_keystore_has_id(rk_keystore_t *ks, const uint8_t msg_id[RK_MSGID_LEN]);

/* Deletes, in one transaction, every entry whose value expired(val, ctx)
 * says is old.  The number deleted, or -1 on error (nothing deleted). */
long rk_keystore_purge(rk_keystore_t *ks, bool (*expired)(const uint8_t val[RK_KEYSTORE_VAL_LEN], void *ctx),
                       void *ctx);

#endif /* RENKEI_AGENT_KEYSTORE_H */
