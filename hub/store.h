/*
 * store.h - all of the hub's durable state, behind one narrow interface.
 *
 * Routing code sees organizations, ID codes and sequence numbers; it never
 * sees LMDB.  Every durable write of one loop turn happens inside one write
 * transaction (store_begin(.., true) .. store_commit), so a turn is atomic and
 * the acknowledgements it produced are sent only after the commit.
 *
 * At rest the ID-code table links nobody without the master key:
 *   - lookup keys are keyed BLAKE2b hashes (subkey "hash" of the master key)
 *     of ("fwd" | org | code) and ("rev" | id code | org);
 *   - values are crypto_secretbox'ed under subkey "enc", with the first 24
 *     bytes of the (unique, never rewritten) lookup key as nonce.
 * The master key lives outside the LMDB files; a check value derived from it
 * is stored so that a wrong key is refused instead of silently splitting the
 * table.  Opened without a master key, the store serves organizations only.
 *
 * Thread use: one store_t per process; transactions are not shared between
 * threads.  Other processes (renkei-ctl) may write at the same time: LMDB
 * serializes writers, and the hub sees their changes at its next transaction.
 */
#ifndef RENKEI_HUB_STORE_H
#define RENKEI_HUB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalogue.h"
#include "wire.h"

typedef struct store store_t;
typedef struct store_txn store_txn_t;

/* Errors of this module.  0 is success; values are only ever appended. */
typedef enum store_err {
    STORE_OK = 0,
    STORE_ENOTFOUND, /* no such record */
    STORE_EEXIST,    /* record (or public key) already registered */
    STORE_EFULL,     /* the LMDB map is full (MDB_MAP_FULL); nothing was written */
    STORE_EMASTER,   /* master key missing, or does not match this store */
    STORE_ECORRUPT,  /* a record does not decode or does not decrypt */
    STORE_EIO,       /* LMDB or file-system failure; see why / log */
    STORE_ENOMEM,
    STORE_EINVAL,     /* bad argument (invalid org id, ...) */
    STORE_EBUSY,      /* another write transaction is open in this process */
    STORE_ERESEALING, /* a change of master key is unfinished (hub/reseal.h): finish it first */
} store_err;

const char *store_strerror(store_err err);

typedef enum org_status {
    ORG_ACTIVE = 1,
    ORG_SUSPENDED = 2,
} org_status;

/* "active" / "suspended". */
const char *org_status_name(org_status status);

typedef struct org {
    char id[RK_ID_MAX + 1];
    org_kind kind;
    org_status status;
    uint8_t sign_pk[RK_KEY_LEN];  /* Ed25519 */
    uint8_t curve_pk[RK_KEY_LEN]; /* X25519, derived from sign_pk; CURVE identity */
    uint64_t created_ms;
    uint64_t updated_ms;
    /* The key it held before its last rekey, still admitted until
     * prev_until_ms (wall clock) so that nothing is lost while the
     * organization's agent moves to the new key; prev_until_ms 0: none. */
    uint8_t prev_sign_pk[RK_KEY_LEN];
    uint8_t prev_curve_pk[RK_KEY_LEN];
    uint64_t prev_until_ms;
} org_t;

/* Whether org admits a connection or a signature made with the key whose
 * X25519 form is curve_pk at now_ms: its current key, or its previous key
 * while the overlap of its last rekey lasts. */
bool org_key_admitted(const org_t *org, const uint8_t curve_pk[RK_KEY_LEN], uint64_t now_ms);

/* Whether org's previous key is still admitted at now_ms. */
bool org_prev_active(const org_t *org, uint64_t now_ms);

#define STORE_DEFAULT_MAP_SIZE ((size_t)4 << 30) /* 4 GiB, sparse */

/* Opens (creating if needed) the store in directory `dir` (created 0700 if
 * absent).  master_key (32 bytes) may be NULL: then only organization calls
 * work and ID-code calls return STORE_EMASTER.  With a master key, a store
 * that was first opened under another master key is refused (STORE_EMASTER).
 * A store whose re-seal under a new master key is unfinished (hub/reseal.h)
 * is refused (STORE_ERESEALING) whatever the key.
 * On failure *out is NULL and `why` says what went wrong. */
store_err store_open(const char *dir, const uint8_t *master_key, size_t map_size, store_t **out,
                     char *why, size_t why_len) RK_WARN_UNUSED;

/* Closes the store (aborting nothing: all transactions must be finished).
 * Accepts NULL; sets *store to NULL. */
void store_close(store_t **store);

/* How much of the LMDB map the store takes: the pages up to the highest one
 * ever used (LMDB reuses freed pages below it), against the map size.  A
 * store whose used_bytes nears map_size soon refuses writes (STORE_EFULL).
 * Safe from any thread while the store is open. */
typedef struct store_usage {
    uint64_t map_size;
    uint64_t used_bytes; /* pages_used * page_size */
    uint64_t pages_used;
    uint64_t page_size;
} store_usage_t;

store_err store_usage(store_t *store, store_usage_t *out) RK_WARN_UNUSED;

/* Begins a transaction.  At most one write transaction per store at a time
 * (STORE_EBUSY otherwise). */
store_err store_begin(store_t *store, bool write, store_txn_t **txn) RK_WARN_UNUSED;

/* Commits and frees *txn (sets it to NULL) whether or not the commit
 * succeeded.  STORE_EFULL if the map filled up: nothing of the txn is kept. */
store_err store_commit(store_txn_t **txn) RK_WARN_UNUSED;

/* Discards and frees *txn.  Accepts NULL. */
void store_abort(store_txn_t **txn);

/* ------------------------------------------------------------- organizations */

store_err store_org_get(store_txn_t *txn, const char *id, org_t *out) RK_WARN_UNUSED;
/* The org whose CURVE public key is curve_pk: its current key, or the
 * previous key of its last rekey while that is kept (prev_until_ms != 0;
 * whether it is still admitted: org_key_admitted). */
store_err store_org_by_curve(store_txn_t *txn, const uint8_t curve_pk[RK_KEY_LEN], org_t *out) RK_WARN_UNUSED;
/* Inserts a new org (STORE_EEXIST if the id or the key is taken). */
store_err store_org_add(store_txn_t *txn, const org_t *org) RK_WARN_UNUSED;
/* Replaces an existing org's record (status, kind or keys); keeps the key
 * index in step with its current and previous key (a key it no longer
 * holds finds nobody).  STORE_ENOTFOUND if absent; STORE_EEXIST if the new
 * key belongs to another org. */
store_err store_org_update(store_txn_t *txn, const org_t *org) RK_WARN_UNUSED;
/* Calls cb for each org in id order; stops early if cb returns non-zero. */
store_err store_org_list(store_txn_t *txn, int (*cb)(const org_t *org, void *ctx), void *ctx) RK_WARN_UNUSED;

/* ------------------------------------------------------------------ ID codes */

#define STORE_IDCODE_LEN 16

/* (org, link code) -> ID code.  STORE_ENOTFOUND if org holds no such code. */
store_err store_code_resolve(store_txn_t *txn, const char *org, const uint8_t code[RK_CODE_LEN],
                             uint8_t id_code[STORE_IDCODE_LEN]) RK_WARN_UNUSED;
/* (ID code, org) -> org's link code.  STORE_ENOTFOUND if org has none yet. */
store_err store_code_lookup(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], const char *org,
                            uint8_t code[RK_CODE_LEN]) RK_WARN_UNUSED;
/* Issues a fresh random link code of `org` for the person id_code and
 * records both directions.  STORE_EEXIST if org already has one. */
store_err store_code_issue(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], const char *org,
                           uint8_t code[RK_CODE_LEN]) RK_WARN_UNUSED;
/* Enrollment: a new person (fresh random ID code) known to `org` under a
 * fresh random link code. */
store_err store_person_new(store_txn_t *txn, const char *org, uint8_t code[RK_CODE_LEN]) RK_WARN_UNUSED;
/* The same, also giving the new ID code (for the private per-person log
 * index); the caller wipes it. */
store_err store_person_new_id(store_txn_t *txn, const char *org, uint8_t code[RK_CODE_LEN],
                              uint8_t id_code[STORE_IDCODE_LEN]) RK_WARN_UNUSED;

/* ------------------------------------------------------------------ sequence */

/* Next value of the hub's message sequence (starts at 1; persisted with the
 * transaction). */
store_err store_next_seq(store_txn_t *txn, uint64_t *seq) RK_WARN_UNUSED;

/* -------------------------------------------------------------------- queues
 *
 * One queue per recipient org, in hub sequence order.  An entry is a
 * ready-to-send encoded HubFrame (a Deliver or a Notice) plus what the hub
 * needs to manage it.  It leaves the queue when the recipient acknowledges
 * it (store_queue_take) or when it expires.  At rest the frame is sealed
 * with XChaCha20-Poly1305 under a subkey of the master key, the row key and
 * the clear meta as associated data (docs/hub-store.md; a queued Deliver
 * carries a link code, and a reply's reply_to would otherwise join two
 * organizations' codes); the meta fields below are stored in clear and carry
 * no link code.
 */
typedef enum queue_kind {
    QUEUE_DELIVER = 1, /* a message for the org */
    QUEUE_NOTICE = 2,  /* what became of a message the org sent */
} queue_kind;

typedef struct queue_meta {
    uint64_t seq;                 /* key within the org's queue (hub sequence number) */
    queue_kind kind;
    char to[RK_ID_MAX + 1];       /* the org whose queue this is */
    char from[RK_ID_MAX + 1];     /* DELIVER: the sender; NOTICE: the message's recipient */
    char type[RK_TYPE_MAX + 1];   /* procedure type of the message */
    uint8_t msg_id[RK_MSGID_LEN]; /* DELIVER: the message; NOTICE: the message it is about */
    uint64_t accepted_ms;
    uint64_t expires_ms;          /* deleted (and reported) at this time if still queued */
} queue_meta_t;

/* Appends an entry to meta->to's queue and keeps the org's count and the
 * expiry index in step.  STORE_EEXIST if that seq is already queued there;
 * STORE_EMASTER without a master key. */
store_err store_queue_put(store_txn_t *txn, const queue_meta_t *meta, const uint8_t *frame, size_t len)
    RK_WARN_UNUSED;

/* Number of entries queued for org (0 if none). */
store_err store_queue_count(store_txn_t *txn, const char *org, uint64_t *count) RK_WARN_UNUSED;

/* Number of entries queued for org and when the oldest of them was
 * accepted (wall-clock ms; 0 when the queue is empty).  Needs no master
 * key: both are kept in clear (renkei-ctl show reads them). */
store_err store_queue_depth(store_txn_t *txn, const char *org, uint64_t *count,
                            uint64_t *oldest_ms) RK_WARN_UNUSED;

/* Called with each entry; `frame` is the decrypted HubFrame, valid only
 * during the call.  Return non-zero to stop. */
typedef int (*store_queue_cb)(const queue_meta_t *meta, const uint8_t *frame, size_t len, void *ctx);

/* Calls cb for org's entries with seq > after_seq, in ascending seq order,
 * until cb returns non-zero or the queue ends. */
store_err store_queue_scan(store_txn_t *txn, const char *org, uint64_t after_seq, store_queue_cb cb,
                           void *ctx) RK_WARN_UNUSED;

/* Removes org's entry seq (acknowledged or expired) and fills *meta.
 * STORE_ENOTFOUND if it is not queued (e.g. acknowledged twice). */
store_err store_queue_take(store_txn_t *txn, const char *org, uint64_t seq, queue_meta_t *meta)
    RK_WARN_UNUSED;

/* The entry, of any org, that expires first, if it expires at or before
 * now_ms; STORE_ENOTFOUND if none has expired. */
store_err store_queue_next_expired(store_txn_t *txn, uint64_t now_ms, queue_meta_t *meta) RK_WARN_UNUSED;

/* ------------------------------------------------------- accepted messages
 *
 * Every accepted message is remembered by (sender, msg_id) until
 * keep_until_ms, so that a message sent twice is queued once and answered
 * with the same ACCEPTED, and so that a recipient's reject can be checked.
 * Records hold no link code.
 */
typedef enum msg_state {
    MSG_QUEUED = 1,
    MSG_DELIVERED = 2,
    MSG_EXPIRED = 3,
    MSG_REFUSED = 4, /* refused by the recipient's agent */
} msg_state;

typedef struct msg_record {
    uint64_t seq; /* the hub sequence number it was accepted with */
    char to[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    msg_state state;
    uint64_t accepted_ms;
    uint64_t keep_until_ms;
    uint64_t log_size;                 /* the routing log's size once its entry was appended */
    bool has_person;                   /* an open request that may still be answered: its person's
                                        * ID code is kept (sealed at rest) to check that an answer
                                        * is about the same person; dropped once answered, expired
                                        * or refused */
    uint8_t person[STORE_IDCODE_LEN];  /* its ID code */
} msg_record_t;

store_err store_msg_get(store_txn_t *txn, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                        msg_record_t *out) RK_WARN_UNUSED;
/* Inserts or replaces the record (keeping its purge index in step). */
store_err store_msg_put(store_txn_t *txn, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                        const msg_record_t *rec) RK_WARN_UNUSED;
/* Deletes up to max records whose keep_until_ms <= now_ms; *purged says
 * how many. */
store_err store_msg_purge(store_txn_t *txn, uint64_t now_ms, size_t max, size_t *purged) RK_WARN_UNUSED;

/* --------------------------------------------------------------- routing log
 *
 * Append-only.  Entries (serialized LogEntry, wire.h) by index from 0; the
 * RFC 9162 Merkle tree over them, kept as the hashes of its complete
 * subtrees (tlog/merkle.h layout), so roots and proofs cost O(log n) reads;
 * the newest signed checkpoint.  An entry is appended inside the transaction
 * of the event it records, so the log and the state never disagree.
 *
 * The private per-person index (for disclosure to a municipality) links
 * log entries to an ID code.  At rest it links nobody without the master
 * key: for a person with ID code c, the n-th entry index is stored under
 * H(subkey "disclose", c || n) as a sealed value, n = 0, 1, 2, ... with
 * none missing, so the count is found by probing; rows of one person share
 * no byte.  Only a message's ACCEPTED entry goes there: its later entries
 * are found by the message's seq (store_log_seq_*).
 */
#define STORE_HASH_LEN 32
#define STORE_PROOF_MAX 64

/* Appends entry; *index receives its position.  Updates the tree. */
store_err store_log_append(store_txn_t *txn, const uint8_t *entry, size_t len, uint64_t *index) RK_WARN_UNUSED;
/* Number of entries. */
store_err store_log_size(store_txn_t *txn, uint64_t *size) RK_WARN_UNUSED;
/* A malloc'd copy of entry index.  STORE_ENOTFOUND past the end. */
store_err store_log_get(store_txn_t *txn, uint64_t index, uint8_t **entry, size_t *len) RK_WARN_UNUSED;
/* Root of the tree of the first `size` entries (size <= log size). */
store_err store_log_root(store_txn_t *txn, uint64_t size, uint8_t root[STORE_HASH_LEN]) RK_WARN_UNUSED;
/* Inclusion proof of entry index in the tree of size `size`; *n hashes. */
store_err store_log_inclusion(store_txn_t *txn, uint64_t index, uint64_t size,
                              uint8_t path[STORE_PROOF_MAX][STORE_HASH_LEN], size_t *n) RK_WARN_UNUSED;
/* Consistency proof from old_size to size. */
store_err store_log_consistency(store_txn_t *txn, uint64_t old_size, uint64_t size,
                                uint8_t path[STORE_PROOF_MAX][STORE_HASH_LEN], size_t *n) RK_WARN_UNUSED;
/* The newest signed checkpoint note (replaces the previous one). */
store_err store_log_checkpoint_put(store_txn_t *txn, const char *note) RK_WARN_UNUSED;
/* A malloc'd NUL-terminated copy; STORE_ENOTFOUND if none was made yet. */
store_err store_log_checkpoint_get(store_txn_t *txn, char **note) RK_WARN_UNUSED;
/* The routing log's origin (the name its checkpoints carry), recorded by
 * the first hub that ran on this store (meta `log-origin`): into origin,
 * room for TLOG_NAME_MAX + 1 bytes.  STORE_ENOTFOUND if none is recorded. */
store_err store_log_origin_get(store_txn_t *txn, char *origin) RK_WARN_UNUSED;
/* Records the routing log's origin (1 to TLOG_NAME_MAX bytes). */
store_err store_log_origin_put(store_txn_t *txn, const char *origin) RK_WARN_UNUSED;
/* Notes that log entry `index` concerns the person id_code (private
 * index; STORE_EMASTER without a master key). */
store_err store_log_person_add(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], uint64_t index)
    RK_WARN_UNUSED;
/* Calls cb with each log index noted for the person, oldest first; stops
 * if cb returns non-zero. */
store_err store_log_person_list(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN],
                                int (*cb)(uint64_t index, void *ctx), void *ctx) RK_WARN_UNUSED;

/* The person's current municipality (the org that may see the person's
 * whole record, see audit_disclose): set at enrollment and when the current
 * one sends a procedure that moves the resident.  STORE_ENOTFOUND if none
 * is recorded; STORE_EMASTER without a master key.  At rest the row is a
 * keyed hash and a sealed value, like the per-person index. */
store_err store_person_home_get(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], char org[RK_ID_MAX + 1])
    RK_WARN_UNUSED;
store_err store_person_home_set(store_txn_t *txn, const uint8_t id_code[STORE_IDCODE_LEN], const char *org)
    RK_WARN_UNUSED;

/* Notes that log entry `index` is a later event (first contact, delivered,
 * expired, refused by its recipient) of the message with hub sequence
 * number seq, whose ACCEPTED entry is in the person's index.  Needs no
 * master key. */
store_err store_log_seq_add(store_txn_t *txn, uint64_t seq, uint64_t index) RK_WARN_UNUSED;
/* Calls cb with each log index noted for seq, oldest first; stops if cb
 * returns non-zero. */
store_err store_log_seq_list(store_txn_t *txn, uint64_t seq, int (*cb)(uint64_t index, void *ctx), void *ctx)
    RK_WARN_UNUSED;

/* ------------------------------------------------------------ catalogue
 * The procedure catalogue's sections as text (hub/catalogue.h parses them),
 * one row per section key ("procedure NAME", "group NAME", "grant ORG
 * PROCEDURE"); the store does not read the text.  Every put and del bumps a
 * generation number, so a running hub sees a change made by another
 * process (renkei-ctl) at its next loop turn. */
#define STORE_CAT_KEY_MAX (10 + RK_ID_MAX + 1 + RK_TYPE_MAX)

/* The catalogue's generation: 0 if no catalogue was ever installed. */
store_err store_cat_generation(store_txn_t *txn, uint64_t *gen) RK_WARN_UNUSED;
/* Bumps the generation without changing a row (installing an empty catalogue). */
store_err store_cat_touch(store_txn_t *txn) RK_WARN_UNUSED;
/* Writes (or replaces) one section's text (len > 0, no NUL). */
store_err store_cat_put(store_txn_t *txn, const char *key, const char *text, size_t len) RK_WARN_UNUSED;
/* Deletes one section; STORE_ENOTFOUND if there is none. */
store_err store_cat_del(store_txn_t *txn, const char *key) RK_WARN_UNUSED;
/* One section's text, malloc'd and NUL-terminated (the caller frees it). */
store_err store_cat_get(store_txn_t *txn, const char *key, char **text, size_t *len) RK_WARN_UNUSED;
/* Calls cb(key, text, len) for every section in key order; cb returns
 * non-zero to stop.  The strings are valid during the call only. */
store_err store_cat_scan(store_txn_t *txn,
                         int (*cb)(const char *key, const char *text, size_t len, void *ctx),
                         void *ctx) RK_WARN_UNUSED;

/* ------------------------------------------------------------ operators
 * The people who may change the hub with renkei-ctl, each known by an
 * Ed25519 key of their own (renkei-keygen NAME).  A change made in a
 * transaction with an operator set is signed by that operator on the
 * routing log (rk_log_entry_sign). */
typedef struct operator_rec {
    char name[RK_ID_MAX + 1];
    bool active; /* false: revoked, its key no longer accepted */
    uint8_t sign_pk[RK_KEY_LEN];
    uint64_t created_ms, updated_ms;
} operator_t;

store_err store_operator_get(store_txn_t *txn, const char *name, operator_t *out) RK_WARN_UNUSED;
/* Adds or replaces the operator of op->name. */
store_err store_operator_put(store_txn_t *txn, const operator_t *op) RK_WARN_UNUSED;
store_err store_operator_list(store_txn_t *txn, int (*cb)(const operator_t *op, void *ctx),
                              void *ctx) RK_WARN_UNUSED;
/* Appends EV_OPERATOR_ADDED (from = the operator, key = its key) or
 * EV_OPERATOR_REVOKED. */
store_err store_log_operator_event(store_txn_t *txn, rk_log_event event, const operator_t *op,
                                   uint64_t now_ms) RK_WARN_UNUSED;

/* Entries appended with store_log_entry_append in txn from now on carry
 * `operator` = name and its signature with sign_sk (64 bytes, borrowed: it
 * must outlive the transaction).  NULL name: unsigned again. */
void store_txn_set_operator(store_txn_t *txn, const char *name, const uint8_t *sign_sk);
/* Encodes e (signed if txn has an operator) and appends it. */
store_err store_log_entry_append(store_txn_t *txn, rk_log_entry_t *e, uint64_t *index) RK_WARN_UNUSED;

/* Org events on the routing log (used by store callers that change orgs,
 * e.g. renkei-ctl): appends an EV_ORG_* entry for org in txn. */
store_err store_log_org_event(store_txn_t *txn, rk_log_event event, const org_t *org, uint64_t now_ms)
    RK_WARN_UNUSED;

/* ------------------------------------------------------------------ backup */

/* Writes a consistent, compacted copy of the store into dir (created 0700,
 * or an existing directory without a data.mdb) from one read transaction,
 * so the hub may keep running; marks the copy as a backup taken at now_ms
 * holding *log_size routing-log entries.  The master key is not in it. */
store_err store_backup(store_t *store, const char *dir, uint64_t now_ms, uint64_t *log_size, char *why,
                       size_t why_len) RK_WARN_UNUSED;
/* If this store is a backup that no hub has run on yet: when it was taken
 * and the log size then (STORE_ENOTFOUND: it is not one). */
store_err store_backup_taken(store_txn_t *txn, uint64_t *taken_ms, uint64_t *log_size) RK_WARN_UNUSED;
/* Forgets the backup mark (the hub recorded the restore as log entry
 * restored_at) and remembers that restore as the store's newest. */
store_err store_backup_forget(store_txn_t *txn, uint64_t restored_at, uint64_t backup_ms) RK_WARN_UNUSED;
/* The store's newest restore from a backup: its EV_RESTORED entry's index
 * and when the backup was taken (STORE_ENOTFOUND: never restored). */
store_err store_restored(store_txn_t *txn, uint64_t *restored_at, uint64_t *backup_ms) RK_WARN_UNUSED;

#endif /* RENKEI_HUB_STORE_H */
