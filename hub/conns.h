/*
 * conns.h - where to send things: the hub's view of connected agents.
 *
 * Two tables, both in memory and both only routing hints:
 *   - receivers: org -> ZeroMQ routing id of the connection that said
 *     hello{receive=true} most recently;
 *   - requests: msg_id -> (sender org, recipient org, sender's routing id)
 *     for recently routed requests, so a reply finds the connection that
 *     asked and a reject can be checked against what was really delivered.
 *     Fixed size; the oldest entry in a slot is overwritten.
 */
#ifndef RENKEI_HUB_CONNS_H
#define RENKEI_HUB_CONNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define CONNS_RID_MAX 255 /* ZeroMQ routing ids are 1..255 bytes */

typedef struct conns conns_t;

typedef struct conn_rid {
    uint8_t len;
    uint8_t id[CONNS_RID_MAX];
} conn_rid_t;

/* Returns NULL on allocation failure.  request_slots is rounded up to a
 * power of two. */
conns_t *conns_new(size_t request_slots);
void conns_destroy(conns_t **c);

/* Makes rid the receiver for org (replacing any earlier one).  false on
 * allocation failure. */
bool conns_set_receiver(conns_t *c, const char *org, const conn_rid_t *rid) __attribute__((warn_unused_result));
/* The receiver of org, or NULL. */
const conn_rid_t *conns_receiver(const conns_t *c, const char *org);
/* Forgets the receiver of org if it is rid (the peer went away). */
void conns_drop_receiver(conns_t *c, const char *org, const conn_rid_t *rid);

/* Remembers a routed request. */
void conns_note_request(conns_t *c, const uint8_t msg_id[RK_MSGID_LEN], const char *from, const char *to,
                        const conn_rid_t *rid);
/* Finds a remembered request sent by `from` to `to`; NULL if unknown. */
const conn_rid_t *conns_find_request(const conns_t *c, const uint8_t msg_id[RK_MSGID_LEN], const char *from,
                                     const char *to);

#endif /* RENKEI_HUB_CONNS_H */
