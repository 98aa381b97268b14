/*
 * rawclient.h - a bare CURVE DEALER connection to the hub for tests.
 *
 * Speaks the wire protocol through proto/wire.h directly, so a test can send
 * what an honest agent never would: garbage bytes, a forged `from`, a broken
 * signature, a payload sealed for the wrong key.  Each client authenticates
 * with one organization's key file (or any key file: registered or not).
 */
#ifndef RENKEI_TESTS_RAWCLIENT_H
#define RENKEI_TESTS_RAWCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "payload.h"
#include "wire.h"

typedef struct rawclient rawclient_t;

/* Connects a DEALER to endpoint with CURVE: server key from hub_pub (a
 * NAME.pub file), client key pair from key_path (a NAME.key file).  Sends
 * nothing yet.  NULL on failure (reason printed on stderr). */
rawclient_t *rawclient_new(const char *endpoint, const char *hub_pub, const char *key_path);
/* The same, but the DEALER announces its own ZeroMQ routing id (id_len
 * bytes, 1..255; ZMQ_ROUTING_ID), as an agent never does. */
rawclient_t *rawclient_new_with_id(const char *endpoint, const char *hub_pub, const char *key_path,
                                   const void *id, size_t id_len);
/* Closes the socket and context, wipes the key.  Accepts NULL. */
void rawclient_destroy(rawclient_t **rc);

/* The identity this client authenticates with. */
const rk_identity_t *rawclient_identity(const rawclient_t *rc);

/* Sends raw bytes as one frame.  0 on success. */
int rawclient_send_bytes(rawclient_t *rc, const void *buf, size_t len);
/* Encodes and sends a client frame.  0 on success. */
int rawclient_send_frame(rawclient_t *rc, const rk_client_frame_t *f);
/* Receives one hub frame within timeout_ms.  0 ok (f filled, caller clears),
 * 1 timeout, -1 undecodable (reason printed). */
int rawclient_recv(rawclient_t *rc, rk_hub_frame_t *f, int timeout_ms);
/* Like rawclient_recv but skips frames of other kinds until one of `kind`
 * arrives or the deadline passes. */
int rawclient_recv_kind(rawclient_t *rc, rk_hf_kind kind, rk_hub_frame_t *f, int timeout_ms);

/* Whether the hub pushed rc a Deliver it had not read yet, before answering
 * a directory request sent now.  The hub reads one connection's frames in
 * order and pushes what a turn queued before it reads later frames, so
 * anything pushed to rc as a result of what the hub answered earlier
 * arrives ahead of that answer: a test that must show that nothing was
 * delivered waits for this answer instead of listening for a while.
 * 0: the answer came and no Deliver before it; 1: a Deliver came first
 * (acknowledged, dropped); -1: no answer within timeout_ms.  Other frames
 * are skipped. */
int rawclient_delivered_before_answer(rawclient_t *rc, int timeout_ms);

/* hello{receive}; waits for welcome.  0 if welcomed (org copied to org_out
 * if not NULL), 1 if nothing came within timeout_ms, -1 on other errors. */
int rawclient_hello(rawclient_t *rc, bool receive, char *org_out, int timeout_ms);
/* enroll; waits for enrolled.  0 and code filled if ACCEPTED, else -1. */
int rawclient_enroll(rawclient_t *rc, uint8_t code[RK_CODE_LEN], int timeout_ms);

/* nonce(24) || crypto_box_easy(plain || 0x80 || 0x00...) from this client's
 * X25519 secret to recipient_curve_pk, padded to its size class as an agent
 * does (proto/payload.h).  Returns malloc'd bytes (*out_len), NULL on
 * failure or if plain is longer than any class holds. */
uint8_t *rawclient_box(const rawclient_t *rc, const uint8_t recipient_curve_pk[RK_KEY_LEN],
                       const void *plain, size_t plain_len, size_t *out_len);
/* The same without padding: nonce(24) || crypto_box_easy(plain), exactly
 * plain_len + 40 bytes, which no honest agent sends. */
uint8_t *rawclient_box_unpadded(const rawclient_t *rc, const uint8_t recipient_curve_pk[RK_KEY_LEN],
                                const void *plain, size_t plain_len, size_t *out_len);
/* Opens a payload from sender_curve_pk and removes its padding; malloc'd
 * NUL-terminated plaintext, or NULL if it does not open or is not padded
 * to a size class. */
char *rawclient_unbox(const rawclient_t *rc, const uint8_t sender_curve_pk[RK_KEY_LEN],
                      const uint8_t *what, size_t what_len);

/* Builds a core {from, to, type, random msg_id, now, what (copied)},
 * seals it with sign_sk (NULL: this client's own key) and who, and sends it.
 * msg_id_out receives the msg_id.  If corrupt_sig, one signature byte is
 * flipped after signing.  0 on success. */
int rawclient_send_envelope(rawclient_t *rc, const char *from, const char *to, const char *type,
                            const uint8_t *reply_to, const uint8_t who[RK_CODE_LEN],
                            const uint8_t *what, size_t what_len, const uint8_t *sign_sk,
                            bool corrupt_sig, uint8_t msg_id_out[RK_MSGID_LEN]);

/* Builds the Send frame rawclient_send_envelope sends (same arguments), so
 * that a test can send the very same bytes again, as an agent re-sends.
 * The caller sends it with rawclient_send_frame and clears it with
 * rk_client_frame_clear.  0 on success. */
int rawclient_seal(rawclient_t *rc, const char *from, const char *to, const char *type, const uint8_t *reply_to,
                   const uint8_t who[RK_CODE_LEN], const uint8_t *what, size_t what_len, const uint8_t *sign_sk,
                   rk_client_frame_t *cf, uint8_t msg_id_out[RK_MSGID_LEN]);

/* Waits for the result frame for msg_id (or, with msg_id NULL, a result with
 * empty msg_id).  0 and *res filled, or 1 on timeout. */
int rawclient_wait_result(rawclient_t *rc, const uint8_t *msg_id, rk_result_t *res, int timeout_ms);

#endif /* RENKEI_TESTS_RAWCLIENT_H */
