/*
 * renkei/protocol.h - the constants and data types of Renkei's protocol that
 * the agent library (renkei/agent.h) hands to its callers: sizes of names,
 * ids and codes, the hub's outcome codes, routing-log entries and the
 * hub-signed directory.  Standard C types only.
 *
 * Part of the public interface of librenkei-agent: values of enums are only
 * ever appended, and structs change only with the library's soname.
 */
#ifndef RENKEI_PROTOCOL_H
#define RENKEI_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef RK_WARN_UNUSED
#if defined(__GNUC__) || defined(__clang__)
#define RK_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define RK_WARN_UNUSED
#endif
#endif

/* The protocol version this library speaks (Hello.version on the wire). */
#define RK_PROTOCOL_VERSION 1u

#define RK_ID_MAX 64               /* org id: 1..64 of [a-z0-9._-], starts with a letter */
#define RK_TYPE_MAX 64             /* procedure type: same alphabet */
#define RK_MSGID_LEN 16            /* sender-chosen random message id */
#define RK_CODE_LEN 16             /* link code, random */
#define RK_CODE_TEXT_LEN 32        /* link code as lowercase hex */
#define RK_SIG_LEN 64              /* Ed25519 signature */
#define RK_KEY_LEN 32              /* Ed25519 / X25519 public key */
#define RK_DETAIL_MAX 200          /* human-readable reason */
#define RK_KIND_MAX 15             /* "municipality", "utility", "auditor" */
#define RK_WHAT_CEILING (4u << 20) /* no payload is ever larger (hub limit is lower) */
#define RK_PROOF_MAX 64            /* hashes in a proof */
#define RK_HASH_LEN 32

/* Outcome codes carried on the wire (values equal renkei.v1.Status). */
typedef enum rk_status {
    RK_ST_UNSPECIFIED = 0,
    RK_ST_ACCEPTED = 1,
    RK_ST_MALFORMED = 2,
    RK_ST_VERSION_UNSUPPORTED = 3,
    RK_ST_TOO_LARGE = 4,
    RK_ST_FROM_MISMATCH = 5,
    RK_ST_BAD_SIGNATURE = 6,
    RK_ST_UNKNOWN_RECIPIENT = 7,
    RK_ST_RECIPIENT_SUSPENDED = 8,
    RK_ST_SENDER_SUSPENDED = 9,
    RK_ST_UNKNOWN_TYPE = 10,
    RK_ST_NOT_PERMITTED = 11,
    RK_ST_UNKNOWN_WHO = 12,
    RK_ST_NO_FIRST_CONTACT = 13,
    RK_ST_RECIPIENT_OFFLINE = 14,
    RK_ST_REFUSED_BY_RECIPIENT = 15,
    RK_ST_UNDECRYPTABLE = 16,
    RK_ST_INTERNAL = 17,
    RK_ST_DUPLICATE_ID = 18,
    RK_ST_QUEUE_FULL = 19,
    RK_ST_STORE_FULL = 20,
    RK_ST_DELIVERED = 21,
    RK_ST_EXPIRED = 22,
    RK_ST_FORBIDDEN = 23,
    RK_ST_NOT_FOUND = 24,
    RK_ST_NO_OPEN_REQUEST = 25,
} rk_status;

#define RK_ST_LAST RK_ST_NO_OPEN_REQUEST /* highest value this build knows */

/* "ACCEPTED", "UNKNOWN_WHO", ...; "UNKNOWN_STATUS" for anything else. */
const char *rk_status_name(rk_status st);
/* One sentence a person can act on, e.g. "the recipient does not know
 * this person and this procedure type may not introduce one". */
const char *rk_status_text(rk_status st);

/* true if s is a valid org id / procedure type (1..64 of [a-z0-9._-],
 * starting with a lowercase letter). */
bool rk_valid_name(const char *s);

/* Link code <-> 32 lowercase hex characters.  from_text returns false on
 * anything but exactly 32 hex digits. */
void rk_code_to_text(const uint8_t code[RK_CODE_LEN], char out[RK_CODE_TEXT_LEN + 1]);
bool rk_code_from_text(const char *text, uint8_t code[RK_CODE_LEN]) RK_WARN_UNUSED;

/* The hub's answer to a frame this organization sent. */
typedef struct rk_result {
    bool has_msg_id;
    uint8_t msg_id[RK_MSGID_LEN];
    rk_status status;
    char detail[RK_DETAIL_MAX + 1];
    uint64_t seq;
    char peer[RK_ID_MAX + 1]; /* REFUSED_BY_RECIPIENT: who refused */
    rk_status cause;          /* REFUSED_BY_RECIPIENT: their reason */
    uint64_t log_size;        /* ACCEPTED: log size once its entry was appended */
    bool has_recipient_key;   /* ACCEPTED: the recipient's current key */
    uint8_t recipient_key[RK_KEY_LEN];
} rk_result_t;

/* A statement by the hub's current (old) key that new_key takes over
 * (proto/README.md, "Rotating the hub's key"). */
typedef struct rk_hub_key_stmt {
    uint8_t old_key[RK_KEY_LEN];
    uint8_t new_key[RK_KEY_LEN];
    uint64_t time_ms;
    uint8_t signature[RK_SIG_LEN];
} rk_hub_key_stmt_t;

/* ------------------------------------------------------------- routing log */

typedef enum rk_log_event {
    RK_EV_ACCEPTED = 1,
    RK_EV_REFUSED = 2,
    RK_EV_DELIVERED = 3,
    RK_EV_EXPIRED = 4,
    RK_EV_REFUSED_BY_RECIPIENT = 5,
    RK_EV_FIRST_CONTACT = 6,
    RK_EV_ENROLLED = 7,
    RK_EV_ORG_REGISTERED = 8,
    RK_EV_ORG_SUSPENDED = 9,
    RK_EV_ORG_REACTIVATED = 10,
    RK_EV_ORG_KEY_CHANGED = 11,
    RK_EV_CODE_FOUND = 12,
    RK_EV_CATALOGUE_SET = 13,
    RK_EV_CATALOGUE_REMOVED = 14,
    RK_EV_OPERATOR_ADDED = 15,
    RK_EV_OPERATOR_REVOKED = 16,
    RK_EV_MASTER_RESEALED = 17,
    RK_EV_HUB_KEY_ANNOUNCED = 18,
    RK_EV_RESTORED = 19,
} rk_log_event;

#define RK_EV_LAST RK_EV_RESTORED
#define RK_SECTION_MAX (10 + RK_ID_MAX + 1 + RK_TYPE_MAX) /* "grant ORG PROCEDURE" */
#define RK_DIGEST_LEN 32

/* "accepted", "refused", ...; "unknown" otherwise (a value of no event
 * this code knows, such as 20). */
const char *rk_log_event_name(rk_log_event ev);

/* One routing-log entry.  Empty strings and has_* = false for absent fields. */
typedef struct rk_log_entry {
    uint64_t time_ms;
    rk_log_event event;
    uint64_t seq;
    char from[RK_ID_MAX + 1];
    char to[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    bool has_msg_id;
    uint8_t msg_id[RK_MSGID_LEN];
    bool has_reply_to;
    uint8_t reply_to[RK_MSGID_LEN];
    rk_status outcome;
    uint32_t size;
    char kind[RK_KIND_MAX + 1];
    uint32_t count;                   /* summaries of refusals: how many this entry stands for; 0: one */
    char section[RK_SECTION_MAX + 1]; /* catalogue events: the section's key */
    bool has_digest;
    uint8_t digest[RK_DIGEST_LEN];     /* EV_CATALOGUE_SET: SHA-256 of its canonical text */
    char operator_name[RK_ID_MAX + 1]; /* a change made with renkei-ctl: its operator, or "" */
    bool has_key;
    uint8_t key[RK_KEY_LEN];    /* org registered / rekeyed, operator added: the Ed25519 key */
    uint64_t previous_until_ms; /* EV_ORG_KEY_CHANGED: until when the previous key is admitted; 0: not */
    uint64_t backup_ms;         /* EV_RESTORED: when the backup was taken */
    bool has_operator_sig;
    uint8_t operator_sig[RK_SIG_LEN]; /* see rk_log_entry_sign */
    bool has_hub_key;
    rk_hub_key_stmt_t hub_key; /* EV_HUB_KEY_ANNOUNCED: the statement */
} rk_log_entry_t;

/* ---------------------------------------------------------------- directory */

typedef struct rk_dir_entry {
    char id[RK_ID_MAX + 1];
    char kind[RK_KIND_MAX + 1];
    bool active;
    uint8_t sign_key[RK_KEY_LEN];
    /* The key it held before its last rekey with an overlap, admitted by
     * the hub until prev_until_ms; has_prev false: none. */
    bool has_prev;
    uint8_t prev_sign_key[RK_KEY_LEN];
    uint64_t prev_until_ms;
} rk_dir_entry_t;

#define RK_CATALOGUE_MAX (16u << 20) /* bytes of catalogue text a directory may carry */

typedef struct rk_dir {
    uint64_t time_ms;
    size_t n;
    rk_dir_entry_t *orgs; /* owned */
    char *catalogue;      /* owned, NUL-terminated; NULL: none */
    size_t catalogue_len;
} rk_dir_t;

/* The entry for id, or NULL. */
const rk_dir_entry_t *rk_dir_find(const rk_dir_t *dir, const char *id);

#ifdef __cplusplus
}
#endif

#endif /* RENKEI_PROTOCOL_H */
