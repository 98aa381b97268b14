/*
 * audit.h - the hub's side of the routing log.
 *
 * Every event is appended inside the transaction of the event itself:
 * accepted, refused, delivered, expired, refused by the recipient, first
 * contact, enrollment (organization events come from renkei-ctl through the
 * store).  An entry names organizations, the procedure type, the message id
 * and the outcome: never WHO, never WHAT.  Checkpoints are signed notes over
 * the Merkle root (tlog/note.h); readers are answered from the store.
 */
#ifndef RENKEI_HUB_AUDIT_H
#define RENKEI_HUB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "store.h"
#include "wire.h"

/* What a message event records.  Strings may be "" (unknown). */
typedef struct audit_msg {
    rk_log_event event;
    uint64_t seq;
    const char *from;
    const char *to;
    const char *type;
    const uint8_t *msg_id;   /* may be NULL */
    const uint8_t *reply_to; /* may be NULL */
    rk_status outcome;
    size_t size;
} audit_msg_t;

/* Appends one message event; *index (may be NULL) receives its position. */
store_err audit_log_msg(store_txn_t *txn, const audit_msg_t *m, uint64_t now_ms, uint64_t *index)
    __attribute__((warn_unused_result));

/* Appends an enrollment by org of the person id_code (and notes it in the
 * private per-person index). */
store_err audit_log_enrolled(store_txn_t *txn, const char *org, uint64_t now_ms,
                             const uint8_t id_code[STORE_IDCODE_LEN]) __attribute__((warn_unused_result));

/* Signs a checkpoint of the log as it stands in txn and stores it.  Does
 * nothing (STORE_OK) if the newest checkpoint already covers that size and
 * `force` is false. */
store_err audit_checkpoint(store_txn_t *txn, const char *origin, const rk_identity_t *id, uint64_t now_ms,
                           bool force) __attribute__((warn_unused_result));

/* Fills f with an answer of `kind` (RK_HF_LOG, RK_HF_CHECKPOINT or
 * RK_HF_PROOF; anything else answers as RK_HF_LOG) to request req_id that
 * carries only a status and why: detail, or the status's text if NULL (a
 * checkpoint answer has no detail).  f must own nothing (zeroed, or
 * cleared with rk_hub_frame_clear). */
void audit_status_answer(rk_hub_frame_t *f, rk_hf_kind kind, uint64_t req_id, rk_status st, const char *detail);

/* Answers a LogRead (auditors only) into f (RK_HF_LOG). */
void audit_read(store_txn_t *txn, org_kind kind, uint64_t req_id, uint64_t start, uint32_t count,
                rk_hub_frame_t *f);

/* Answers a ProofRequest into f (RK_HF_PROOF): auditors any, other orgs
 * consistency proofs and inclusion proofs of entries naming them. */
void audit_proof(store_txn_t *txn, const char *org, org_kind kind, uint64_t req_id, uint64_t index,
                 uint64_t tree_size, uint64_t old_size, rk_hub_frame_t *f);

/* Answers a CheckpointRequest into f (RK_HF_CHECKPOINT). */
void audit_checkpoint_get(store_txn_t *txn, uint64_t req_id, rk_hub_frame_t *f);

/* Answers a Disclose (municipalities only) about the person the org knows
 * by `code`, into f (RK_HF_LOG).  An org sees what it may know: its own
 * exchanges about the person; the person's whole record only if it is the
 * person's current municipality (the one that enrolled them, or to which
 * the current one sent a procedure that moves the resident, such as
 * move.out.notice), acting for the resident.  Entries about link codes
 * (first contact, code found) are never disclosed. */
void audit_disclose(store_txn_t *txn, const char *org, org_kind kind, uint64_t req_id,
                    const uint8_t code[RK_CODE_LEN], rk_hub_frame_t *f);

#endif /* RENKEI_HUB_AUDIT_H */
