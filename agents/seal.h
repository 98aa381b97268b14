/*
 * seal.h - turning a payload into a signed, encrypted envelope and back.
 *
 * No sockets here: given this organization's identity and the directory
 * entry of the other side, seal builds what travels and opens what came.
 *   what = nonce(24) || crypto_box_easy(payload || 0x80 || 0x00..., nonce,
 *                                       recipient X25519 pk, sender X25519 sk)
 * padded so that `what` is exactly one size class long (proto/payload.h),
 * and the envelope is signed with the sender's Ed25519 key (rk_envelope_seal).
 */
#ifndef RENKEI_AGENT_SEAL_H
#define RENKEI_AGENT_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "renkei/agent.h"
#include "wire.h"

typedef struct rk_seal_params {
    const char *type;
    const uint8_t *msg_id;   /* RK_MSGID_LEN bytes */
    const uint8_t *reply_to; /* NULL or RK_MSGID_LEN bytes */
    uint64_t time_ms;
    const uint8_t *who;      /* RK_CODE_LEN bytes: the sender's code for the person */
} rk_seal_params;

/* Pads payload (0..RK_PLAIN_MAX bytes) to the smallest size class that
 * holds it, encrypts it for `to`, builds the core (from = self's name) and
 * signs it into env.  RK_AGENT_EINVAL if the payload is longer than any
 * class.  On failure env is left cleared and why names the cause. */
rk_agent_err rk_seal_build(const rk_identity_t *self, const rk_dir_entry_t *to,
                           const rk_seal_params *p, const uint8_t *payload, size_t len,
                           rk_envelope_t *env, char *why, size_t why_len) RK_WARN_UNUSED;

/* Decodes env's core into *core and checks it is addressed to self_org.
 * RK_AGENT_EPROTO (core cleared) if it does not decode; RK_AGENT_EMISROUTED
 * (core kept, so the sender can be told) if it names another recipient. */
rk_agent_err rk_seal_peek(const rk_envelope_t *env, const char *self_org, rk_core_t *core,
                          char *why, size_t why_len) RK_WARN_UNUSED;

/* Verifies env's signature under sender's key (or, if the directory lists
 * one, the key it held before its last rekey), decrypts core->what with
 * self's key (or self_prev's, if not NULL: this organization's key before
 * its own rekey) and removes its padding into a new buffer *plain of
 * *plain_len bytes (NUL after them; free with rk_seal_free_plain).
 * signer (if not NULL) receives the sender key that verified.
 * RK_AGENT_EBADSIG, or RK_AGENT_EUNDECRYPTABLE if it does not open or is
 * not padded to a size class exactly as proto/payload.h says; *plain is
 * NULL on failure. */
rk_agent_err rk_seal_open(const rk_identity_t *self, const rk_identity_t *self_prev, const rk_envelope_t *env,
                          const rk_core_t *core, const rk_dir_entry_t *sender, uint8_t signer[RK_KEY_LEN],
                          uint8_t **plain, size_t *plain_len, char *why, size_t why_len) RK_WARN_UNUSED;

/* Wipes and frees a buffer from rk_seal_open; accepts NULL. */
void rk_seal_free_plain(uint8_t **plain, size_t len);

#endif /* RENKEI_AGENT_SEAL_H */
