/*
 * route.h - the hub's ingest pipeline for one message.
 *
 *   validate -> authorize -> translate -> (persist) -> acknowledge -> deliver
 *
 * route_message() does the first steps inside the caller's write
 * transaction and returns what to acknowledge and what to deliver; the
 * event loop sends both only after the transaction commits.  It needs no
 * sockets, so every refusal can be unit-tested against a real store.
 */
#ifndef RENKEI_HUB_ROUTE_H
#define RENKEI_HUB_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "wire.h"

/* Whether an org has a connection the hub can deliver to right now. */
typedef bool (*route_online_fn)(void *ctx, const char *org);

typedef struct route_in {
    store_txn_t *txn;          /* the loop turn's write transaction */
    const char *from;          /* org that authenticated (ZAP User-Id) */
    const rk_envelope_t *env;  /* as received; not modified */
    size_t max_what;           /* largest encrypted payload accepted */
    route_online_fn online;    /* may be NULL: everyone counts as online */
    void *online_ctx;
} route_in_t;

typedef struct route_out {
    rk_status status;                /* RK_ST_ACCEPTED or the refusal */
    char detail[RK_DETAIL_MAX + 1];  /* refusal reason: no number, no code */
    bool store_failed;               /* the transaction is unusable: abort the turn */
    /* Known as soon as the core decoded (for the result and the log): */
    bool has_msg_id;
    uint8_t msg_id[RK_MSGID_LEN];
    char to[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    size_t what_len;
    /* RK_ST_ACCEPTED only: */
    uint64_t seq;
    bool is_reply;
    uint8_t reply_to[RK_MSGID_LEN];
    bool first_contact;
    rk_envelope_t deliver;           /* owned copy with who = recipient's code */
} route_out_t;

/* Runs the pipeline for one envelope.  Always fills `out` (status says
 * what happened).  On RK_ST_ACCEPTED, out->deliver owns a copy of the
 * envelope to forward; release `out` with route_out_clear(). */
void route_message(const route_in_t *in, route_out_t *out);

void route_out_clear(route_out_t *out);

#endif /* RENKEI_HUB_ROUTE_H */
