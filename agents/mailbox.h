/*
 * mailbox.h - an agent's durable outbox and inbox.
 *
 * Tables in the same LMDB environment as the code table (codebook.h), so
 * that every process of one organization sharing a data directory sees the
 * same messages:
 *   outbox          msg_id -> record (status, times) + the exact ClientFrame
 *                   bytes sent to the hub, so a re-send is byte-identical
 *   outbox.pending  msg_id -> ""   while the hub has not accepted it
 *   inbox           from 0x00 msg_id -> record + the envelope as received
 *                   (still encrypted; opened when handed out)
 *   inbox.new       arrival number (big-endian) -> inbox key, NEW entries
 *   inbox.claimed   inbox key -> "", CLAIMED entries
 *   meta            the inbox arrival counter, the last signed directory,
 *                   the hub's key change it announced
 *   outbox.log      msg_id -> routing-log size when the hub accepted it
 *                   (8 bytes big-endian; the message's entry is at size - 1)
 * The byte layout of each value is in docs/agent-store.md.
 * Every change is one write transaction; nothing here talks to the network.
 */
#ifndef RENKEI_AGENT_MAILBOX_H
#define RENKEI_AGENT_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "renkei/agent.h"
#include "wire.h"

struct MDB_env;

typedef struct rk_mailbox rk_mailbox_t;

/* Opens (creating if needed) the mailbox tables in env, which stays owned
 * by the caller and must outlive the mailbox.  On failure *out is NULL. */
rk_agent_err rk_mailbox_open(struct MDB_env *env, rk_mailbox_t **out, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* Frees the handle (the environment is not closed); accepts NULL. */
void rk_mailbox_close(rk_mailbox_t **mb);

/* ------------------------------------------------------------------ outbox */

/* Commits a new PENDING message: st (msg_id, to, type, code, no_reply,
 * is_reply, reply_to, created_ms are used) and its frame bytes.  If
 * done_from is not NULL, the inbox entry (done_from, done_msg_id) is marked
 * DONE in the same transaction (a reply and the request it answers).
 * Nothing is written on failure. */
rk_agent_err rk_mailbox_out_add(rk_mailbox_t *mb, const rk_msg_status *st, const uint8_t *frame,
                                size_t frame_len, const char *done_from, const uint8_t *done_msg_id,
                                uint64_t now_ms, char *why, size_t why_len) RK_WARN_UNUSED;

/* The record of msg_id, and (if frame is not NULL) a malloc'd copy of its
 * frame bytes.  RK_AGENT_ENOTFOUND if none; *frame NULL on failure. */
rk_agent_err rk_mailbox_out_get(rk_mailbox_t *mb, const uint8_t msg_id[RK_MSGID_LEN], rk_msg_status *st,
                                uint8_t **frame, size_t *frame_len, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* Applies the hub's result for a send: ACCEPTED moves PENDING to ACCEPTED
 * (seq, time); QUEUE_FULL / STORE_FULL / INTERNAL leave it PENDING (status
 * and detail noted); any other status moves PENDING to REFUSED.  A result
 * for a message past PENDING, or not in the outbox, changes nothing, except
 * that the routing-log size of the first ACCEPTED naming one is kept.
 * *st (may be NULL) receives the record afterwards. */
rk_agent_err rk_mailbox_out_result(rk_mailbox_t *mb, const rk_result_t *r, uint64_t now_ms,
                                   rk_msg_status *st, char *why, size_t why_len) RK_WARN_UNUSED;

/* The routing-log size the hub reported when it accepted msg_id (its entry
 * is at *log_size - 1), kept by rk_mailbox_out_result in table outbox.log.
 * RK_AGENT_ENOTFOUND (and *log_size 0) if the hub named none: not accepted
 * yet, or accepted by a hub without a routing log. */
rk_agent_err rk_mailbox_out_log_size(rk_mailbox_t *mb, const uint8_t msg_id[RK_MSGID_LEN], uint64_t *log_size,
                                     char *why, size_t why_len) RK_WARN_UNUSED;

/* Applies a Notice (DELIVERED, EXPIRED, REFUSED_BY_RECIPIENT).  The time of
 * the step is recorded; the state only moves forward (a late DELIVERED
 * after ANSWERED keeps ANSWERED).  *known says whether msg_id was in the
 * outbox. */
rk_agent_err rk_mailbox_out_notice(rk_mailbox_t *mb, const rk_notice_t *n, uint64_t now_ms, bool *known,
                                   char *why, size_t why_len) RK_WARN_UNUSED;

/* Notes that msg_id was (re-)sent at now_ms; next_try_ms is when to send it
 * again if still pending. */
rk_agent_err rk_mailbox_out_sent(rk_mailbox_t *mb, const uint8_t msg_id[RK_MSGID_LEN], uint64_t now_ms,
                                 uint64_t next_try_ms, char *why, size_t why_len) RK_WARN_UNUSED;

/* Records that process pid waits for the reply to msg_id (0: nobody).
 * rk_mailbox_in_claim leaves such a reply to that process while it lives. */
rk_agent_err rk_mailbox_out_waiter(rk_mailbox_t *mb, const uint8_t msg_id[RK_MSGID_LEN], uint32_t pid,
                                   char *why, size_t why_len) RK_WARN_UNUSED;

/* The msg_ids of PENDING messages due for sending: next_try_ms <= now_ms,
 * or last sent before sent_before_ms (a connection made since).  *ids is a
 * new array of *n ids (free() it); NULL when *n is 0.  A record that cannot
 * be read (a store error, or one that does not decode) fails the whole call
 * (RK_AGENT_ESTORE, *ids NULL, *n 0): never a shorter list. */
rk_agent_err rk_mailbox_out_due(rk_mailbox_t *mb, uint64_t now_ms, uint64_t sent_before_ms,
                                uint8_t (**ids)[RK_MSGID_LEN], size_t *n, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* Records matching f (NULL: all), oldest first; see rk_agent_status_list.
 * As with rk_mailbox_out_due, an unreadable record fails the call. */
rk_agent_err rk_mailbox_out_list(rk_mailbox_t *mb, const rk_status_filter *f, rk_msg_status **list,
                                 size_t *n, char *why, size_t why_len) RK_WARN_UNUSED;

/* The hub runs on a backup now: its welcome named restored_at (the index
 * of its EV_RESTORED entry) and backup_ms.  Every message here ACCEPTED
 * with its routing-log entry at restored_at or after is gone from the hub:
 * it goes back to PENDING (its log position forgotten), to be sent again.
 * Done once per restore (meta "restored.seen"); *n says how many. */
rk_agent_err rk_mailbox_out_restored(rk_mailbox_t *mb, uint64_t restored_at, uint64_t backup_ms, size_t *n,
                                     char *why, size_t why_len) RK_WARN_UNUSED;

/* ------------------------------------------------------------------ inbox */

/* rk_inbox_state: renkei/agent.h. */

typedef struct rk_inbox_entry {
    rk_inbox_state state;
    uint32_t pid;          /* CLAIMED: the claiming process */
    uint64_t claim_ms, done_ms, received_ms;
    uint64_t order;        /* local arrival number */
    uint64_t hub_seq;
    bool first_contact;
    uint8_t code[RK_CODE_LEN]; /* this org's own code (the envelope's who) */
    char from[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    uint8_t msg_id[RK_MSGID_LEN];
    bool has_reply_to;
    uint8_t reply_to[RK_MSGID_LEN];
    uint8_t sender_key[RK_KEY_LEN]; /* the sender's Ed25519 key it was verified with */
    uint8_t signature[RK_SIG_LEN];
    uint32_t attempts;    /* failed handling attempts recorded */
    uint64_t next_try_ms; /* when to try it again (0: not planned) */
    char last_error[RK_ATTEMPT_ERROR_MAX + 1];
    uint8_t *core;         /* the signed core as received; owned (malloc) */
    size_t core_len;
} rk_inbox_entry;

/* Frees e->core and zeroes e; accepts a zeroed entry. */
void rk_inbox_entry_clear(rk_inbox_entry *e);

/* The stored records, field by field (docs/agent-store.md has the byte
 * layout): every function here reads and writes one outbox / inbox value
 * through these.  Exposed for the fuzz target fuzz/fuzz_mailbox.c, the
 * tests and fuzz/make_corpus.c; nothing else needs them.
 *
 * An outbox value is RK_MAILBOX_OUT_FIXED bytes then the frame; an inbox
 * value RK_MAILBOX_IN_FIXED bytes then the core (a format 1 value, still
 * read: RK_MAILBOX_IN_FIXED_V1 bytes then the core).
 * rk_mailbox_out_record decodes val[0:len] into *st, *waiter_pid (may be
 * NULL) and *frame_len; a value that is short, of another format version,
 * or has a field out of range (a flag neither 0 nor 1, an unknown state,
 * text without its terminating zero, a length that disagrees with len) is
 * RK_AGENT_ESTORE, with what is wrong in why, and *st zeroed.  Nothing is
 * read outside val[0:len].
 * rk_mailbox_in_record likewise fills *e (e->core a malloc'd copy; clear
 * it with rk_inbox_entry_clear): RK_AGENT_OK, RK_AGENT_ESTORE or
 * RK_AGENT_ENOMEM.
 * The encoders write the fixed part of a value (unused bytes zero); the
 * caller appends the frame_len / e->core_len variable bytes. */
#define RK_MAILBOX_OUT_FIXED 576
#define RK_MAILBOX_IN_FIXED 480    /* format 2; what the encoder writes */
#define RK_MAILBOX_IN_FIXED_V1 352 /* format 1 (read, rewritten as format 2) */
rk_agent_err rk_mailbox_out_record(const void *val, size_t len, rk_msg_status *st, uint32_t *waiter_pid,
                                   size_t *frame_len, char *why, size_t why_len) RK_WARN_UNUSED;
rk_agent_err rk_mailbox_in_record(const void *val, size_t len, rk_inbox_entry *e, char *why,
                                  size_t why_len) RK_WARN_UNUSED;
void rk_mailbox_out_encode(const rk_msg_status *st, uint32_t waiter_pid, size_t frame_len,
                           uint8_t rec[RK_MAILBOX_OUT_FIXED]);
void rk_mailbox_in_encode(const rk_inbox_entry *e, uint8_t rec[RK_MAILBOX_IN_FIXED]);

/* Commits a verified delivery as NEW unless (from, msg_id) is already in
 * the inbox (*dup true, nothing written).  If it is a reply to a message in
 * the outbox sent to e->from, that message becomes ANSWERED in the same
 * transaction.  Fields used: everything but state, pid, times and order. */
rk_agent_err rk_mailbox_in_add(rk_mailbox_t *mb, const rk_inbox_entry *e, uint64_t now_ms, bool *dup,
                               char *why, size_t why_len) RK_WARN_UNUSED;

/* rk_mailbox_in_add for es[0:n] in one write transaction (one commit for
 * a burst): dups[i] says whether es[i] was known already.  On failure
 * nothing is written. */
rk_agent_err rk_mailbox_in_add_n(rk_mailbox_t *mb, const rk_inbox_entry *es, size_t n, uint64_t now_ms,
                                 bool *dups, char *why, size_t why_len) RK_WARN_UNUSED;

/* Claims the oldest NEW entry for pid (one write transaction: two
 * processes never claim the same entry).  what = RK_RECV_REQUESTS skips
 * replies; replies whose original message has a live waiter other than
 * pid are skipped too.  RK_AGENT_ENOTFOUND if there is none.  On success e
 * holds the entry (rk_inbox_entry_clear it). */
rk_agent_err rk_mailbox_in_claim(rk_mailbox_t *mb, rk_recv_what what, uint32_t pid, uint64_t now_ms,
                                 rk_inbox_entry *e, char *why, size_t why_len) RK_WARN_UNUSED;

/* Claims up to max of the oldest NEW entries, as rk_mailbox_in_claim
 * picks them, in one write transaction (one commit for them all): es[0:*n]
 * hold them, oldest first (rk_inbox_entry_clear each).  RK_AGENT_ENOTFOUND
 * if there is none; on failure nothing is claimed, *n is 0 and es is
 * zeroed.  max must be at least 1. */
rk_agent_err rk_mailbox_in_claim_n(rk_mailbox_t *mb, rk_recv_what what, uint32_t pid, uint64_t now_ms,
                                   rk_inbox_entry *es, size_t max, size_t *n, char *why,
                                   size_t why_len) RK_WARN_UNUSED;

/* The entry (from, msg_id), claimed for pid if it was NEW, DEAD or claimed
 * by a process that no longer exists; returned as it is otherwise.  For a reply,
 * pid's wait mark on the request is cleared in the same transaction.
 * RK_AGENT_ENOTFOUND if none. */
rk_agent_err rk_mailbox_in_take(rk_mailbox_t *mb, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                                uint32_t pid, uint64_t now_ms, rk_inbox_entry *e, char *why,
                                size_t why_len) RK_WARN_UNUSED;

/* The entry (from, msg_id) without changing it.  RK_AGENT_ENOTFOUND if none. */
rk_agent_err rk_mailbox_in_get(rk_mailbox_t *mb, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                               rk_inbox_entry *e, char *why, size_t why_len) RK_WARN_UNUSED;

/* Marks (from, msg_id) DONE.  RK_AGENT_ENOTFOUND if it is not in the inbox. */
rk_agent_err rk_mailbox_in_done(rk_mailbox_t *mb, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                                uint64_t now_ms, char *why, size_t why_len) RK_WARN_UNUSED;

/* An inbox entry named by its sender and msg_id (both borrowed). */
typedef struct rk_inbox_ref {
    const char *from;
    const uint8_t *msg_id; /* RK_MSGID_LEN bytes */
} rk_inbox_ref;

/* Marks the n entries refs[0:n] DONE in one write transaction.  each[i]
 * says what became of refs[i]: RK_AGENT_OK (marked DONE now),
 * RK_AGENT_ECONFLICT (DONE already: unchanged), RK_AGENT_ENOTFOUND (not in
 * the inbox).  Returns RK_AGENT_OK when the transaction went through, else
 * the store's error, with nothing written and every each[i] that error. */
rk_agent_err rk_mailbox_in_done_n(rk_mailbox_t *mb, const rk_inbox_ref *refs, size_t n, uint64_t now_ms,
                                  rk_agent_err *each, char *why, size_t why_len) RK_WARN_UNUSED;

/* Records a failed attempt at handing out the entry (from, msg_id): its
 * attempts counted up, error (cut to RK_ATTEMPT_ERROR_MAX bytes) and
 * next_try_ms kept; next_try_ms 0 makes it DEAD (out of inbox.claimed and
 * inbox.new: claimed by nobody until rk_mailbox_in_retry).  *attempts (may
 * be NULL) gets the new count.  RK_AGENT_ENOTFOUND if not in the inbox,
 * RK_AGENT_ECONFLICT if it is DONE (nothing written then). */
rk_agent_err rk_mailbox_in_failed(rk_mailbox_t *mb, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                                  const char *error, uint64_t next_try_ms, uint32_t *attempts, char *why,
                                  size_t why_len) RK_WARN_UNUSED;

/* Puts DEAD entries back to NEW (in their original order, attempts 0,
 * error and next try cleared): (from, msg_id), or every DEAD entry when
 * from is NULL.  *n (may be NULL) counts them.  RK_AGENT_ENOTFOUND if
 * (from, msg_id) is not in the inbox, RK_AGENT_ECONFLICT if it is not DEAD. */
rk_agent_err rk_mailbox_in_retry(rk_mailbox_t *mb, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                                 size_t *n, char *why, size_t why_len) RK_WARN_UNUSED;

/* The entries not DONE with attempts > 0, and the DEAD ones, in arrival
 * order, without their cores: *list a new array (free() it; the entries
 * hold no core) of *n.  An unreadable record fails the call. */
rk_agent_err rk_mailbox_in_troubled(rk_mailbox_t *mb, rk_inbox_entry **list, size_t *n, char *why,
                                    size_t why_len) RK_WARN_UNUSED;

/* Puts CLAIMED entries whose process no longer exists back to NEW, in
 * their original order.  *released (may be NULL) counts them. */
rk_agent_err rk_mailbox_in_release_stale(rk_mailbox_t *mb, size_t *released, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* ------------------------------------------------------------------ retention */

#define RK_MAILBOX_PURGE_BATCH 500 /* most records deleted in one transaction */

/* Deletes, in one write transaction, at most batch (0 or above
 * RK_MAILBOX_PURGE_BATCH: that many) records completed before before_ms:
 * DONE inbox entries (by the later of arrival and done) and complete outbox
 * records (by their last step), with their routing-log positions.  NEW and
 * CLAIMED entries and open messages are never touched.  *in_n and *out_n
 * count what went; *more is true if the batch limit left some behind (call
 * again).  On a full map it retries with smaller batches; on failure
 * nothing is deleted and the counts are 0. */
rk_agent_err rk_mailbox_purge(rk_mailbox_t *mb, uint64_t before_ms, size_t batch, size_t *in_n, size_t *out_n,
                              bool *more, char *why, size_t why_len) RK_WARN_UNUSED;

/* ------------------------------------------------------------------ directory cache */

/* Keeps the hub-signed directory (body and signature, as received). */
rk_agent_err rk_mailbox_dir_put(rk_mailbox_t *mb, const uint8_t *body, size_t len,
                                const uint8_t sig[RK_SIG_LEN], char *why, size_t why_len) RK_WARN_UNUSED;

/* The directory kept last: *body is malloc'd (free it).  RK_AGENT_ENOTFOUND
 * if none was ever kept. */
rk_agent_err rk_mailbox_dir_get(rk_mailbox_t *mb, uint8_t **body, size_t *len, uint8_t sig[RK_SIG_LEN],
                                char *why, size_t why_len) RK_WARN_UNUSED;

/* ------------------------------------------------------------------ hub key */

/* What the agent knows of a change of the hub's key (hub/hubkey.h): the
 * statement the hub announced it with, checked under the key the agent
 * pinned, and whether the agent switched to the new key. */
typedef enum rk_hub_key_state {
    RK_HUB_KEY_ANNOUNCED = 1, /* the hub still signs with old_key; new_key follows */
    RK_HUB_KEY_SWITCHED = 2,  /* the hub presented new_key: it is the pinned key now */
} rk_hub_key_state;

/* Keeps st and the statement s (meta "hub.key", docs/agent-store.md). */
rk_agent_err rk_mailbox_hub_key_put(rk_mailbox_t *mb, rk_hub_key_state st, const rk_hub_key_stmt_t *s,
                                    char *why, size_t why_len) RK_WARN_UNUSED;
/* The kept state and statement; RK_AGENT_ENOTFOUND if none was kept. */
rk_agent_err rk_mailbox_hub_key_get(rk_mailbox_t *mb, rk_hub_key_state *st, rk_hub_key_stmt_t *s, char *why,
                                    size_t why_len) RK_WARN_UNUSED;

/* true if a process pid exists (kill(pid, 0) does not say ESRCH). */
bool rk_mailbox_pid_alive(uint32_t pid);

#endif /* RENKEI_AGENT_MAILBOX_H */
