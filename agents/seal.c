/*
 * seal.c - payload encryption and envelope signing for agents.
 */
#include "seal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "payload.h"
#include "why.h"

#define BOX_OVERHEAD (crypto_box_NONCEBYTES + crypto_box_MACBYTES)
_Static_assert(BOX_OVERHEAD == RK_PAD_OVERHEAD, "the size classes count the nonce and the MAC");

rk_agent_err rk_seal_build(const rk_identity_t *self, const rk_dir_entry_t *to,
                           const rk_seal_params *p, const uint8_t *payload, size_t len,
                           rk_envelope_t *env, char *why, size_t why_len)
{
    rk_pubkey_t peer;
    rk_core_t core;
    rk_wire_err werr;
    uint8_t *padded;
    size_t size_class;
    int rc;

    memset(env, 0, sizeof *env);
    memset(&core, 0, sizeof core);
    size_class = rk_size_class_for(len);
    if (size_class == 0) {
        rk_why(why, why_len, "payload of %zu bytes is larger than any hub accepts (%zu at most)", len,
               (size_t)RK_PLAIN_MAX);
        return RK_AGENT_EINVAL;
    }
    if (!rk_valid_name(to->id) || !rk_valid_name(p->type)) {
        rk_why(why, why_len, "invalid recipient or procedure type name");
        return RK_AGENT_EINVAL;
    }
    if (rk_pubkey_from_sign(to->id, to->sign_key, &peer) != RK_KEYS_OK) {
        rk_why(why, why_len, "the directory's key for %s is not a usable public key", to->id);
        return RK_AGENT_EDIRECTORY;
    }
    snprintf(core.from, sizeof core.from, "%s", self->pub.name);
    snprintf(core.to, sizeof core.to, "%s", to->id);
    snprintf(core.type, sizeof core.type, "%s", p->type);
    memcpy(core.msg_id, p->msg_id, RK_MSGID_LEN);
    if (p->reply_to != NULL) {
        core.has_reply_to = true;
        memcpy(core.reply_to, p->reply_to, RK_MSGID_LEN);
    }
    core.time_ms = p->time_ms;
    /* Padded to its size class inside the box: the hub and the log see the
     * class, only the recipient the payload's own length. */
    core.what_len = size_class;
    core.what = malloc(core.what_len);
    padded = malloc(size_class - BOX_OVERHEAD);
    if (core.what == NULL || padded == NULL) {
        free(padded);
        rk_core_clear(&core);
        rk_why(why, why_len, "out of memory encrypting the payload");
        return RK_AGENT_ENOMEM;
    }
    if (len > 0)
        memcpy(padded, payload, len);
    rk_pad(padded, len, size_class - BOX_OVERHEAD);
    randombytes_buf(core.what, crypto_box_NONCEBYTES);
    rc = crypto_box_easy(core.what + crypto_box_NONCEBYTES, padded, size_class - BOX_OVERHEAD, core.what,
                         peer.curve_pk, self->curve_sk);
    sodium_memzero(padded, size_class - BOX_OVERHEAD);
    free(padded);
    if (rc != 0) {
        rk_core_clear(&core);
        rk_why(why, why_len, "encrypting the payload for %s failed", to->id);
        return RK_AGENT_EUNDECRYPTABLE;
    }
    werr = rk_envelope_seal(env, &core, p->who, self->sign_sk);
    rk_core_clear(&core);
    if (werr != RK_WIRE_OK) {
        rk_why(why, why_len, "cannot build the envelope: %s", rk_wire_strerror(werr));
        return werr == RK_WIRE_ENOMEM ? RK_AGENT_ENOMEM : RK_AGENT_EINVAL;
    }
    return RK_AGENT_OK;
}

rk_agent_err rk_seal_peek(const rk_envelope_t *env, const char *self_org, rk_core_t *core,
                          char *why, size_t why_len)
{
    char detail[RK_DETAIL_MAX + 1] = "";
    rk_wire_err werr = rk_core_decode(env->core, env->core_len, core, detail, sizeof detail);
    if (werr != RK_WIRE_OK) {
        rk_why(why, why_len, "the envelope does not decode: %s", detail[0] ? detail : rk_wire_strerror(werr));
        return werr == RK_WIRE_ENOMEM ? RK_AGENT_ENOMEM : RK_AGENT_EPROTO;
    }
    if (strcmp(core->to, self_org) != 0) {
        rk_why(why, why_len, "the message is addressed to %s, not to this organization", core->to);
        return RK_AGENT_EMISROUTED;
    }
    return RK_AGENT_OK;
}

rk_agent_err rk_seal_open(const rk_identity_t *self, const rk_identity_t *self_prev, const rk_envelope_t *env,
                          const rk_core_t *core, const rk_dir_entry_t *sender, uint8_t signer[RK_KEY_LEN],
                          uint8_t **plain, size_t *plain_len, char *why, size_t why_len)
{
    const uint8_t *sign_key = sender->sign_key;
    rk_pubkey_t peer;
    size_t n;
    uint8_t *m;
    rk_wire_err werr;
    int rc;

    *plain = NULL;
    *plain_len = 0;
    if (strcmp(sender->id, core->from) != 0) {
        rk_why(why, why_len, "the message claims to come from %s", core->from);
        return RK_AGENT_EBADSIG;
    }
    werr = rk_envelope_verify(env, sign_key);
    if (werr == RK_WIRE_ESIG && sender->has_prev) {
        /* signed before the sender's rekey, during its overlap */
        sign_key = sender->prev_sign_key;
        werr = rk_envelope_verify(env, sign_key);
    }
    if (werr == RK_WIRE_ENOMEM) {
        rk_why(why, why_len, "out of memory checking a signature");
        return RK_AGENT_ENOMEM;
    }
    if (werr != RK_WIRE_OK) {
        rk_why(why, why_len, "the signature does not verify under %s's key in the directory", core->from);
        return RK_AGENT_EBADSIG;
    }
    if (signer != NULL)
        memcpy(signer, sign_key, RK_KEY_LEN);
    if (rk_pubkey_from_sign(sender->id, sign_key, &peer) != RK_KEYS_OK) {
        rk_why(why, why_len, "the directory's key for %s is not a usable public key", sender->id);
        return RK_AGENT_EUNDECRYPTABLE;
    }
    if (!rk_is_size_class(core->what_len)) {
        rk_why(why, why_len, "the payload is not padded to a size class");
        return RK_AGENT_EUNDECRYPTABLE;
    }
    n = core->what_len - BOX_OVERHEAD;
    m = malloc(n + 1);
    if (m == NULL) {
        rk_why(why, why_len, "out of memory decrypting a payload");
        return RK_AGENT_ENOMEM;
    }
    rc = crypto_box_open_easy(m, core->what + crypto_box_NONCEBYTES, core->what_len - crypto_box_NONCEBYTES,
                              core->what, peer.curve_pk, self->curve_sk);
    if (rc != 0 && self_prev != NULL) /* sealed to this organization's key before its rekey */
        rc = crypto_box_open_easy(m, core->what + crypto_box_NONCEBYTES,
                                  core->what_len - crypto_box_NONCEBYTES, core->what, peer.curve_pk,
                                  self_prev->curve_sk);
    if (rc != 0) {
        sodium_memzero(m, n + 1);
        free(m);
        rk_why(why, why_len, "the payload does not decrypt with this organization's key");
        return RK_AGENT_EUNDECRYPTABLE;
    }
    if (!rk_unpad(m, n, plain_len)) {
        sodium_memzero(m, n + 1);
        free(m);
        *plain_len = 0;
        rk_why(why, why_len, "the payload is not padded to a size class");
        return RK_AGENT_EUNDECRYPTABLE;
    }
    m[*plain_len] = 0; /* convenience terminator (over the 0x80 marker), not counted */
    *plain = m;
    return RK_AGENT_OK;
}

void rk_seal_free_plain(uint8_t **plain, size_t len)
{
    if (plain == NULL || *plain == NULL)
        return;
    sodium_memzero(*plain, len);
    free(*plain);
    *plain = NULL;
}
