/*
 * route.h - the hub's ingest pipeline for one message.
 *
 *   validate -> authorize -> translate -> persist -> acknowledge -> deliver
 *
 * route_message() runs the first four steps inside the caller's write
 * transaction: a message it accepts is in its recipient's durable queue
 * (as a ready-to-send Deliver frame) and remembered by (sender, msg_id), so
 * a re-sent message is answered with the same ACCEPTED and queued once.
 * The event loop acknowledges after the commit and delivers from the queue;
 * what becomes of the message after that is msgstate.h's.
 * No sockets here, so every refusal can be unit-tested against a real store.
 */
#ifndef RENKEI_HUB_ROUTE_H
#define RENKEI_HUB_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "store.h"
#include "wire.h"

typedef struct route_in {
    store_txn_t *txn;          /* the loop turn's write transaction */
    const char *from;          /* org that authenticated (ZAP User-Id) */
    const rk_envelope_t *env;  /* as received; not modified */
    size_t max_what;           /* largest encrypted payload accepted */
    uint64_t queue_limit;      /* most entries a recipient's queue may hold */
    const catalogue_t *cat;    /* the procedure catalogue in force */
    const policy_ttl_t *ttl;   /* time-to-live per procedure type */
    uint64_t now_ms;
    /* A signature check made before the turn (NULL: none): it counts only
     * if it was made with the key the store holds for the sender now;
     * otherwise the signature is checked again. */
    const uint8_t *checked_pk; /* RK_KEY_LEN bytes */
    bool checked_ok;
    /* The same under the sender's previous key (NULL: not checked).  A
     * signature under it counts while the overlap of the sender's last
     * rekey lasts (org_prev_active at now_ms), and after it from a
     * connection made with the sender's current key: only the sender can
     * make one, sending again what it signed before. */
    const uint8_t *checked_alt_pk;
    bool checked_alt_ok;
    const uint8_t *conn_key; /* the X25519 key the connection authenticated with; NULL: unknown */
} route_in_t;

typedef struct route_out {
    rk_status status;                /* RK_ST_ACCEPTED or the refusal */
    char detail[RK_DETAIL_MAX + 1];  /* refusal reason: no number, no code */
    bool store_failed;               /* the transaction is unusable: abort the turn */
    bool store_full;                 /* ...because the store is full */
    /* Known as soon as the core decoded (for the result and the log): */
    bool has_msg_id;
    uint8_t msg_id[RK_MSGID_LEN];
    char to[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    size_t size_class;   /* the payload's size class (proto/payload.h), 0 if it is none:
                          * all that the routing log and the hub's log say of its size */
    /* Known once the recipient was looked up: its current key (told to
     * the sender with ACCEPTED, so that it notices a rekey) */
    bool has_recipient_key;
    uint8_t recipient_key[RK_KEY_LEN];
    /* RK_ST_ACCEPTED only: */
    uint64_t seq;        /* hub sequence number (the same again for a duplicate) */
    bool duplicate;      /* already accepted earlier: nothing new was queued */
    bool is_reply;
    uint8_t reply_to[RK_MSGID_LEN]; /* is_reply: the message it answers */
    bool first_contact;
    uint64_t log_size;   /* the routing log's size once its entry was appended */
} route_out_t;

/* Fills what a refusal's answer and log line name about env (its msg_id,
 * recipient and type), as far as its core decodes, for an envelope refused
 * before the pipeline runs (a full store's back-off, no transaction): the
 * sender must be able to tell which of its messages the answer is about.
 * Leaves out->status alone. */
void route_describe(const rk_envelope_t *env, route_out_t *out);

/* Runs the pipeline for one envelope.  Always fills `out` (status says
 * what happened).  If out->store_failed, the transaction must be aborted. */
void route_message(const route_in_t *in, route_out_t *out);

#endif /* RENKEI_HUB_ROUTE_H */
