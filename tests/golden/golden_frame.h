/*
 * golden_frame.h - the fixed test vector of the wire format.
 *
 * Everything here is deterministic: fixed seeds, fixed nonce, fixed ids and
 * time, and Ed25519 signatures are deterministic too, so the frame is the
 * same bytes on every machine.  tests/golden/README.md lists the values;
 * check_golden.py decodes the committed bytes with independent tools.
 */
#ifndef RENKEI_GOLDEN_FRAME_H
#define RENKEI_GOLDEN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define GOLDEN_SENDER "city.x"
#define GOLDEN_RECIPIENT "power"
#define GOLDEN_TYPE "utility.supply.stop"
#define GOLDEN_TIME_MS 1711843200000ull /* 2024-03-31T00:00:00Z */
#define GOLDEN_PLAINTEXT \
    "{\"request\":\"stop\",\"supply\":\"electricity\",\"date\":\"2024-03-31\",\"note\":\"golden test vector\"}"
/* The reply the Python encoder puts in hub_deliver.bin. */
#define GOLDEN_REPLY_PLAINTEXT "{\"status\":\"stopped\",\"date\":\"2024-03-31\"}"
#define GOLDEN_REPLY_SEQ 2u
/* Both payloads are padded (0x80, then zeros) into the smallest size class:
 * `what` is 256 bytes, the padded plaintext 256 - 24 - 16 = 216. */
#define GOLDEN_WHAT_LEN 256u
#define GOLDEN_PADDED_LEN (GOLDEN_WHAT_LEN - 40u)

/* Ed25519 seeds (32 bytes, ASCII for readability). */
extern const uint8_t golden_sender_seed[32];
extern const uint8_t golden_recipient_seed[32];
extern const uint8_t golden_msg_id[16];
extern const uint8_t golden_reply_msg_id[16];
extern const uint8_t golden_nonce[24];
extern const uint8_t golden_reply_nonce[24];
extern const uint8_t golden_who[16];
extern const uint8_t golden_reply_who[16];

/* The key pairs of one party, derived from its seed. */
typedef struct golden_party {
    uint8_t sign_pk[32];
    uint8_t sign_sk[64];
    uint8_t curve_pk[32];
    uint8_t curve_sk[32];
} golden_party;

/* Derives a party's keys from a seed.  Returns 0, or -1 if libsodium fails. */
int golden_party_from_seed(const uint8_t seed[32], golden_party *p);

/* Builds the golden ClientFrame send into a new malloc'd buffer.  Returns 0
 * on success; on failure returns -1, leaves *out untouched and writes a
 * reason into why. */
int golden_client_send(uint8_t **out, size_t *out_len, char *why, size_t why_len);

#endif /* RENKEI_GOLDEN_FRAME_H */
