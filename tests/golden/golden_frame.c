/*
 * golden_frame.c - builds the fixed wire test vector (see golden_frame.h).
 */
#include "golden_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wire.h"

/* "renkei-golden-seed-sender-city.x" */
const uint8_t golden_sender_seed[32] = {
    'r', 'e', 'n', 'k', 'e', 'i', '-', 'g', 'o', 'l', 'd',
    'e', 'n', '-', 's', 'e', 'e', 'd', '-', 's', 'e', 'n',
    'd', 'e', 'r', '-', 'c', 'i', 't', 'y', '.', 'x'};
/* "renkei-golden-seed-recipient-pwr" */
const uint8_t golden_recipient_seed[32] = {
    'r', 'e', 'n', 'k', 'e', 'i', '-', 'g', 'o', 'l', 'd',
    'e', 'n', '-', 's', 'e', 'e', 'd', '-', 'r', 'e', 'c',
    'i', 'p', 'i', 'e', 'n', 't', '-', 'p', 'w', 'r'};
const uint8_t golden_msg_id[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                   0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
const uint8_t golden_reply_msg_id[16] = {0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
                                         0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f};
const uint8_t golden_nonce[24] = {0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
                                  0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f,
                                  0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57};
const uint8_t golden_reply_nonce[24] = {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
                                        0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
                                        0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77};
const uint8_t golden_who[16] = {0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
                                0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf};
const uint8_t golden_reply_who[16] = {0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
                                      0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf};

int golden_party_from_seed(const uint8_t seed[32], golden_party *p)
{
    if (sodium_init() < 0)
        return -1;
    if (crypto_sign_seed_keypair(p->sign_pk, p->sign_sk, seed) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(p->curve_sk, p->sign_sk) != 0 ||
        crypto_sign_ed25519_pk_to_curve25519(p->curve_pk, p->sign_pk) != 0)
        return -1;
    return 0;
}

int golden_client_send(uint8_t **out, size_t *out_len, char *why, size_t why_len)
{
    golden_party sender, recipient;
    rk_core_t core;
    rk_client_frame_t f;
    const size_t plain_len = sizeof GOLDEN_PLAINTEXT - 1;
    uint8_t padded[GOLDEN_PADDED_LEN];
    rk_wire_err err;
    int rc = -1;

    memset(&core, 0, sizeof core);
    memset(&f, 0, sizeof f);
    if (golden_party_from_seed(golden_sender_seed, &sender) != 0 ||
        golden_party_from_seed(golden_recipient_seed, &recipient) != 0) {
        snprintf(why, why_len, "key derivation failed");
        goto done;
    }
    snprintf(core.from, sizeof core.from, "%s", GOLDEN_SENDER);
    snprintf(core.to, sizeof core.to, "%s", GOLDEN_RECIPIENT);
    snprintf(core.type, sizeof core.type, "%s", GOLDEN_TYPE);
    memcpy(core.msg_id, golden_msg_id, sizeof core.msg_id);
    core.time_ms = GOLDEN_TIME_MS;
    /* plaintext || 0x80 || zeros up to the class (written out here, not
     * through proto/payload.h, so the vector checks that code too) */
    memset(padded, 0, sizeof padded);
    memcpy(padded, GOLDEN_PLAINTEXT, plain_len);
    padded[plain_len] = 0x80;
    core.what_len = GOLDEN_WHAT_LEN;
    core.what = malloc(core.what_len);
    if (core.what == NULL) {
        snprintf(why, why_len, "out of memory");
        goto done;
    }
    memcpy(core.what, golden_nonce, crypto_box_NONCEBYTES);
    if (crypto_box_easy(core.what + crypto_box_NONCEBYTES, padded, sizeof padded, golden_nonce,
                        recipient.curve_pk, sender.curve_sk) != 0) {
        snprintf(why, why_len, "crypto_box_easy failed");
        goto done;
    }
    f.kind = RK_CF_SEND;
    if ((err = rk_envelope_seal(&f.u.send, &core, golden_who, sender.sign_sk)) != RK_WIRE_OK) {
        snprintf(why, why_len, "rk_envelope_seal: %s", rk_wire_strerror(err));
        goto done;
    }
    if ((err = rk_client_frame_encode(&f, out, out_len)) != RK_WIRE_OK) {
        snprintf(why, why_len, "rk_client_frame_encode: %s", rk_wire_strerror(err));
        goto done;
    }
    rc = 0;
done:
    sodium_memzero(&sender, sizeof sender);
    sodium_memzero(&recipient, sizeof recipient);
    rk_client_frame_clear(&f);
    rk_core_clear(&core);
    return rc;
}
