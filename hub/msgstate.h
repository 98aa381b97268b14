/*
 * msgstate.h - what becomes of an accepted message.
 *
 * route_message() creates a message's record (MSG_QUEUED) and queues its
 * Deliver frame; every later change of the record happens here, one
 * function per transition, inside the caller's write transaction:
 *
 *                 ack                         the recipient refuses
 *     QUEUED ------------> DELIVERED ----------------------+
 *       |  \                                               v
 *       |   +----------- the recipient refuses ------> REFUSED
 *       |                                                  ^
 *       +-- not delivered in time --> EXPIRED -------------+
 *                                              the recipient refuses
 *
 *   - msgstate_delivered: the recipient acknowledged a queue entry.  A
 *     Deliver whose record is QUEUED becomes DELIVERED, gets an
 *     EV_DELIVERED entry on the routing log (found by its seq) and a
 *     DELIVERED notice for its sender.  A record in any other state, or
 *     one already purged (nobody to tell), only loses its queue entry.
 *     A Notice that is acknowledged only leaves the queue: no log entry.
 *   - msgstate_refused_by_recipient: only the org the message went to may
 *     refuse it, once, whatever state it is in otherwise: REFUSED, an
 *     EV_REFUSED_BY_RECIPIENT entry and a REFUSED_BY_RECIPIENT notice that
 *     carries the recipient's reason and words.
 *   - msgstate_expired: the queue entry that expired first.  A Deliver's
 *     record (if still kept) becomes EXPIRED whatever its state (its entry
 *     was never acknowledged: QUEUED, or refused by the recipient without
 *     an ack), and its sender gets an EV_EXPIRED entry and an EXPIRED
 *     notice even if the record was purged.  A Notice that expires is
 *     dropped: its org never collected it, and nobody is told.
 *   - msgstate_answered: an answer to the message was accepted.  Its state
 *     stays; the binding below goes, so no second answer fits.
 *
 * The binding: a record of a message that may be answered keeps its
 * person's ID code (has_person, sealed at rest) so that route.c can check
 * that an answer is about the same person.  It goes when no answer can
 * come any more or one came: on expiry, on the recipient's refusal, once
 * answered.  Delivery keeps it: the answer comes after delivery.
 *
 * No sockets here: each function says in msgstate_out_t what the event
 * loop must do next (whose queue to push, what to write to the hub's log),
 * and every transition can be unit-tested against a real store.  A return
 * other than STORE_OK (STORE_ENOTFOUND from msgstate_expired excepted)
 * means the transaction is unusable: abort the turn.
 */
#ifndef RENKEI_HUB_MSGSTATE_H
#define RENKEI_HUB_MSGSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "store.h"
#include "wire.h"

typedef enum msgstate_event {
    MSGSTATE_NOTHING = 0,     /* nothing changed: acknowledged or refused before */
    MSGSTATE_NOTICE_TAKEN,    /* an acknowledged Notice left the queue */
    MSGSTATE_DELIVERED,       /* an acknowledged Deliver left the queue */
    MSGSTATE_REFUSED,         /* the recipient refused the message */
    MSGSTATE_REJECT_IGNORED,  /* a reject of no message sent to the org that sent it */
    MSGSTATE_EXPIRED,         /* a Deliver expired */
    MSGSTATE_NOTICE_DROPPED,  /* a Notice expired uncollected */
} msgstate_event;

/* What happened, for the event loop.  The names are about the message
 * (for a Notice: the message it is about), never about a person. */
typedef struct msgstate_out {
    msgstate_event event;
    bool taken;                      /* a queue entry was removed */
    bool told;                       /* a Notice was queued for `sender`: push its queue */
    uint64_t seq;                    /* the message's seq; for a Notice, the Notice's own */
    char sender[RK_ID_MAX + 1];
    char recipient[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    uint64_t accepted_ms;            /* MSGSTATE_EXPIRED: when the hub accepted it */
} msgstate_out_t;

/* `recipient` acknowledged its queue entry seq.  MSGSTATE_NOTHING if it is
 * not queued (acknowledged before). */
store_err msgstate_delivered(store_txn_t *txn, const char *recipient, uint64_t seq, uint64_t now_ms,
                             const policy_ttl_t *ttl, msgstate_out_t *out) __attribute__((warn_unused_result));

/* `recipient` refused rj->to's message rj->msg_id for rj->reason; rj->detail
 * (the recipient's own words, "" for none) goes to the sender sealed in its
 * queue and nowhere else.  MSGSTATE_REJECT_IGNORED if rj->to sent
 * `recipient` no such message; MSGSTATE_NOTHING if it was refused before. */
store_err msgstate_refused_by_recipient(store_txn_t *txn, const char *recipient, const rk_reject_t *rj,
                                        uint64_t now_ms, const policy_ttl_t *ttl, msgstate_out_t *out)
    __attribute__((warn_unused_result));

/* Takes the queue entry, of any org, that expired first at or before
 * now_ms.  STORE_ENOTFOUND (and MSGSTATE_NOTHING) if none has. */
store_err msgstate_expired(store_txn_t *txn, uint64_t now_ms, const policy_ttl_t *ttl, msgstate_out_t *out)
    __attribute__((warn_unused_result));

/* The message `from` sent as msg_id, whose record is *rec, was answered:
 * its binding goes (rec->person is wiped) and the record is stored so. */
store_err msgstate_answered(store_txn_t *txn, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                            msg_record_t *rec) __attribute__((warn_unused_result));

#endif /* RENKEI_HUB_MSGSTATE_H */
