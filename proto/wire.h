/*
 * wire.h - Renkei's wire protocol, checked.
 *
 * Hand-written encode/decode around the protobuf-c code generated from
 * proto/renkei.proto.  Nothing outside this module sees a generated struct:
 * decoders check every field (presence, lengths, character sets, sizes) and
 * fill plain C structs; encoders build frames from the same structs.
 *
 * Ownership: decoded envelopes own their `core` buffer (malloc) and decoded
 * cores own their `what` buffer; release them with the matching *_clear().
 * Every *_clear() accepts a zeroed or already-cleared struct.
 */
#ifndef RENKEI_WIRE_H
#define RENKEI_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "renkei/protocol.h" /* the constants and data types the agent library hands out */

#define RK_FRAME_CEILING (RK_WHAT_CEILING + 65536u)

/* Errors of this module.  0 is success; values are only ever appended. */
typedef enum rk_wire_err {
    RK_WIRE_OK = 0,
    RK_WIRE_EDECODE,   /* bytes are not a protobuf message of the expected type */
    RK_WIRE_EVERSION,  /* protocol version this build does not speak */
    RK_WIRE_EFIELD,    /* a field is missing, too long, or out of range */
    RK_WIRE_ESIZE,     /* payload above RK_WHAT_CEILING */
    RK_WIRE_ENOMEM,    /* allocation failed */
    RK_WIRE_ESIG,      /* signature does not verify */
} rk_wire_err;

const char *rk_wire_strerror(rk_wire_err err);

/* ------------------------------------------------------------------ envelope */

/* What the sender signs. */
typedef struct rk_core {
    char from[RK_ID_MAX + 1];
    char to[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    uint8_t msg_id[RK_MSGID_LEN];
    bool has_reply_to;
    uint8_t reply_to[RK_MSGID_LEN];
    uint64_t time_ms;
    uint8_t *what; /* owned */
    size_t what_len;
} rk_core_t;

typedef struct rk_envelope {
    uint8_t *core; /* owned: serialized rk_core_t exactly as signed */
    size_t core_len;
    uint8_t signature[RK_SIG_LEN];
    uint8_t who[RK_CODE_LEN];
} rk_envelope_t;

void rk_core_clear(rk_core_t *core);
void rk_envelope_clear(rk_envelope_t *env);

/* Serializes core into a new malloc'd buffer (*out, *out_len).  Checks the
 * fields first; on failure *out is untouched. */
rk_wire_err rk_core_encode(const rk_core_t *core, uint8_t **out, size_t *out_len) RK_WARN_UNUSED;

/* Decodes and checks a serialized core.  On failure `core` is left cleared
 * and, if why is not NULL, a short reason naming the field is written. */
rk_wire_err rk_core_decode(const uint8_t *buf, size_t len, rk_core_t *core, char *why,
                           size_t why_len) RK_WARN_UNUSED;

/* The msg_id of a serialized core that rk_core_decode may refuse for
 * another field (a bad name, version or payload): true and msg_id filled if
 * the core parses as protobuf and its msg_id holds exactly RK_MSGID_LEN
 * bytes, so that a refusal can name the message it refuses. */
bool rk_core_peek_msg_id(const uint8_t *buf, size_t len, uint8_t msg_id[RK_MSGID_LEN]);

/* Builds a signed envelope: encodes core, signs it with the sender's Ed25519
 * secret key (64 bytes, libsodium layout) and sets who.  On failure env is
 * left cleared. */
rk_wire_err rk_envelope_seal(rk_envelope_t *env, const rk_core_t *core,
                             const uint8_t who[RK_CODE_LEN],
                             const uint8_t sign_sk[64]) RK_WARN_UNUSED;

/* A fresh message id: the time now_ms as 6 bytes big-endian, then 10
 * random bytes.  Only uniqueness is relied on; the time in front keeps one
 * sender's ids in the order it sent them, so the hub's message table (keyed
 * by sender and id) grows at its end instead of at random pages. */
void rk_msgid_new(uint8_t id[RK_MSGID_LEN], uint64_t now_ms);

/* RK_WIRE_OK if env->signature is the sender's signature over env->core. */
rk_wire_err rk_envelope_verify(const rk_envelope_t *env,
                               const uint8_t sign_pk[RK_KEY_LEN]) RK_WARN_UNUSED;

/* Deep copy (for forwarding).  On failure dst is left cleared. */
rk_wire_err rk_envelope_copy(rk_envelope_t *dst, const rk_envelope_t *src) RK_WARN_UNUSED;

/* ------------------------------------------------------------ agent -> hub */

typedef enum rk_cf_kind {
    RK_CF_NONE = 0,
    RK_CF_HELLO = 2,
    RK_CF_SEND = 3,
    RK_CF_ENROLL = 4,
    RK_CF_DIRECTORY = 5,
    RK_CF_REJECT = 6,
    RK_CF_ACK = 7,
    RK_CF_LOG_READ = 8,
    RK_CF_CHECKPOINT = 9,
    RK_CF_PROOF = 10,
    RK_CF_DISCLOSE = 11,
} rk_cf_kind;

#define RK_LOG_READ_MAX 1000 /* entries per LogRead */
#define RK_WIRE_PROOF_ENTRY 1 /* Proof frames carry the entry they prove */

#define RK_ACK_MAX 1024 /* sequence numbers per ack frame */

typedef struct rk_reject {
    char to[RK_ID_MAX + 1];
    uint8_t msg_id[RK_MSGID_LEN];
    rk_status reason;
    char detail[RK_DETAIL_MAX + 1];
} rk_reject_t;

typedef struct rk_client_frame {
    rk_cf_kind kind;
    union {
        struct { bool receive; } hello;
        rk_envelope_t send;
        struct { uint64_t req_id; } enroll;
        struct { uint64_t req_id; } directory;
        rk_reject_t reject;
        struct {
            size_t n;                /* 1..RK_ACK_MAX */
            uint64_t seq[RK_ACK_MAX];
        } ack;
        struct {
            uint64_t req_id, start;
            uint32_t count; /* 1..RK_LOG_READ_MAX */
        } log_read;
        struct {
            uint64_t req_id;
        } checkpoint;
        struct {
            uint64_t req_id, index, tree_size, old_size;
        } proof;
        struct {
            uint64_t req_id;
            uint8_t code[RK_CODE_LEN];
        } disclose;
    } u;
} rk_client_frame_t;

void rk_client_frame_clear(rk_client_frame_t *f);
rk_wire_err rk_client_frame_encode(const rk_client_frame_t *f, uint8_t **out,
                                   size_t *out_len) RK_WARN_UNUSED;
/* On failure f is left cleared and `why` names the offending field. */
rk_wire_err rk_client_frame_decode(const uint8_t *buf, size_t len, rk_client_frame_t *f,
                                   char *why, size_t why_len) RK_WARN_UNUSED;
/* For a Send frame that rk_client_frame_decode refuses: the msg_id of its
 * envelope's core, as rk_core_peek_msg_id reads it.  false for any other
 * frame, or if the frame, the envelope's core or its msg_id cannot be read. */
bool rk_client_frame_peek_msg_id(const uint8_t *buf, size_t len, uint8_t msg_id[RK_MSGID_LEN]);

/* ------------------------------------------------------------ hub -> agent */

typedef enum rk_hf_kind {
    RK_HF_NONE = 0,
    RK_HF_WELCOME = 2,
    RK_HF_RESULT = 3,
    RK_HF_DELIVER = 4,
    RK_HF_ENROLLED = 5,
    RK_HF_DIRECTORY = 6,
    RK_HF_NOTICE = 7,
    RK_HF_LOG = 8,
    RK_HF_CHECKPOINT = 9,
    RK_HF_PROOF = 10,
} rk_hf_kind;

/* What became of a message this org sent (durable, acknowledged by seq). */
typedef struct rk_notice {
    uint64_t seq;             /* this notice's hub sequence number */
    uint8_t msg_id[RK_MSGID_LEN];
    rk_status status;         /* DELIVERED, EXPIRED, REFUSED_BY_RECIPIENT */
    char peer[RK_ID_MAX + 1]; /* the message's recipient */
    rk_status cause;
    char detail[RK_DETAIL_MAX + 1];
    uint64_t time_ms;
    uint64_t msg_seq;         /* the seq the message was ACCEPTED with */
} rk_notice_t;

/* ------------------------------------------------------------- hub key */

/* A statement by the hub's current (old) key that new_key takes over:
 * Ed25519 by old_key over RK_HUB_KEY_DOMAIN || 0x00 || old_key || new_key
 * || time_ms (8 bytes, big-endian).  proto/README.md, "Rotating the hub's
 * key", gives the bytes. */
#define RK_HUB_KEY_DOMAIN "renkei-hub-key-v1"
#define RK_HUB_KEY_SIGNED_LEN \
    (sizeof RK_HUB_KEY_DOMAIN + RK_KEY_LEN + RK_KEY_LEN + 8) /* domain, 0x00, keys, time */

/* The bytes the statement's signature covers (RK_HUB_KEY_SIGNED_LEN). */
void rk_hub_key_stmt_bytes(const rk_hub_key_stmt_t *s, uint8_t out[RK_HUB_KEY_SIGNED_LEN]);
/* Fills *s: old_key from old_sk (libsodium layout: seed || public key),
 * new_key, time_ms, and the signature by old_sk.  RK_WIRE_EFIELD if new_key
 * equals the old key. */
rk_wire_err rk_hub_key_stmt_sign(const uint8_t old_sk[64], const uint8_t new_key[RK_KEY_LEN],
                                 uint64_t time_ms, rk_hub_key_stmt_t *s) RK_WARN_UNUSED;
/* RK_WIRE_OK if s is signed by its old_key, that key is old_key (the
 * caller's trusted key; NULL: any) and the new key differs from it;
 * RK_WIRE_ESIG otherwise. */
rk_wire_err rk_hub_key_stmt_verify(const rk_hub_key_stmt_t *s, const uint8_t *old_key) RK_WARN_UNUSED;

typedef struct rk_hub_frame {
    rk_hf_kind kind;
    union {
        struct {
            char org[RK_ID_MAX + 1];
            char kind[RK_KIND_MAX + 1];
            uint64_t hub_time_ms;
            uint32_t max_payload;
            bool has_hub_key;
            rk_hub_key_stmt_t hub_key; /* the hub's key change it announces or just made */
            uint64_t restored_at;      /* the newest EV_RESTORED entry's index; 0: never restored */
            uint64_t restored_backup_ms; /* when that backup was taken */
        } welcome;
        rk_result_t result;
        struct {
            rk_envelope_t envelope;
            bool first_contact;
            uint64_t seq;
        } deliver;
        struct {
            uint64_t req_id;
            rk_status status;
            uint8_t code[RK_CODE_LEN];
            char detail[RK_DETAIL_MAX + 1];
        } enrolled;
        struct {
            uint64_t req_id;
            uint8_t *body; /* owned: serialized directory body */
            size_t body_len;
            uint8_t signature[RK_SIG_LEN];
        } directory;
        rk_notice_t notice;
        struct {
            uint64_t req_id;
            rk_status status;
            char detail[RK_DETAIL_MAX + 1];
            size_t n;
            uint64_t *index;    /* owned, n entries */
            uint8_t **entry;    /* owned, n serialized LogEntry */
            size_t *entry_len;  /* owned */
            uint64_t tree_size;
        } log;
        struct {
            uint64_t req_id;
            rk_status status;
            char *note; /* owned, NUL-terminated signed note */
        } checkpoint;
        struct {
            uint64_t req_id;
            rk_status status;
            char detail[RK_DETAIL_MAX + 1];
            uint64_t index, tree_size, old_size;
            size_t n;
            uint8_t hash[RK_PROOF_MAX][RK_HASH_LEN];
            uint8_t *entry; /* owned; inclusion proofs: the serialized LogEntry */
            size_t entry_len;
        } proof;
    } u;
} rk_hub_frame_t;

void rk_hub_frame_clear(rk_hub_frame_t *f);
rk_wire_err rk_hub_frame_encode(const rk_hub_frame_t *f, uint8_t **out,
                                size_t *out_len) RK_WARN_UNUSED;
rk_wire_err rk_hub_frame_decode(const uint8_t *buf, size_t len, rk_hub_frame_t *f, char *why,
                                size_t why_len) RK_WARN_UNUSED;

/* -------------------------------------------------------------- routing log */

/* Serializes e into a new malloc'd buffer (the bytes the Merkle leaf hashes). */
rk_wire_err rk_log_entry_encode(const rk_log_entry_t *e, uint8_t **out, size_t *out_len) RK_WARN_UNUSED;
/* Encodes e (operator_name set, no signature), signs those bytes with the
 * operator's Ed25519 secret key and appends the operator_sig field, which
 * is always last: the signature covers "renkei-operator-v1" || 0x00 || the
 * entry's bytes before it.  A new malloc'd buffer, as rk_log_entry_encode. */
rk_wire_err rk_log_entry_sign(const rk_log_entry_t *e, const uint8_t operator_sk[64], uint8_t **out,
                              size_t *out_len) RK_WARN_UNUSED;
/* Checks the operator signature of an encoded entry under operator_pk:
 * RK_WIRE_OK, RK_WIRE_ESIG (no signature, or it does not verify), or a
 * decode error. */
rk_wire_err rk_log_entry_verify_operator(const uint8_t *buf, size_t len,
                                         const uint8_t operator_pk[RK_KEY_LEN]) RK_WARN_UNUSED;
/* Decodes and checks an entry; on failure e is zeroed and why names the field. */
rk_wire_err rk_log_entry_decode(const uint8_t *buf, size_t len, rk_log_entry_t *e, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* ---------------------------------------------------------------- directory */

void rk_dir_clear(rk_dir_t *dir);
/* Encodes dir and signs it with the hub's Ed25519 secret key into the
 * directory member of a hub frame (body + signature).  On failure f is
 * untouched. */
rk_wire_err rk_dir_seal(const rk_dir_t *dir, const uint8_t hub_sign_sk[64], uint64_t req_id,
                        rk_hub_frame_t *f) RK_WARN_UNUSED;
/* Verifies the hub's signature over body and decodes it.  On failure dir is
 * left cleared. */
rk_wire_err rk_dir_open(const uint8_t *body, size_t body_len, const uint8_t signature[RK_SIG_LEN],
                        const uint8_t hub_sign_pk[RK_KEY_LEN], rk_dir_t *dir) RK_WARN_UNUSED;

#endif /* RENKEI_WIRE_H */
