/*
 * hubkey.h - the hub's own key changing hands.
 *
 * The hub has one key pair: it signs the routing log's checkpoints and the
 * directory, and its X25519 form is the CURVE key every agent and auditor
 * pins.  It changes in two starts of the hub:
 *
 *   1. announce (renkei-hub --key hub.key --next-key hub-next.pub): the hub
 *      signs a statement with its current key that the next key takes over
 *      (wire.h, rk_hub_key_stmt_t), appends it to the routing log as an
 *      EV_HUB_KEY_ANNOUNCED entry and signs a checkpoint that covers it with
 *      the current key, all in one transaction; its welcome carries the
 *      statement, so agents learn and keep the next key;
 *   2. switch (renkei-hub --key hub-next.key --previous-key hub.pub): the
 *      hub finds the newest statement in its log, refuses to start unless it
 *      hands over from the previous key to this one, and from then on
 *      signs with the new key; its welcome still carries the statement.
 *
 * The log stays one log: the entries up to the statement's are covered by
 * checkpoints of the old key, every later checkpoint is the new key's.
 */
#ifndef RENKEI_HUB_HUBKEY_H
#define RENKEI_HUB_HUBKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "store.h"
#include "wire.h"

/* The newest EV_HUB_KEY_ANNOUNCED entry of the log, searched from its end
 * (the whole log only when there is none), into *stmt and *index.
 * STORE_ENOTFOUND if the log holds none. */
store_err hubkey_find(store_txn_t *txn, rk_hub_key_stmt_t *stmt, uint64_t *index) RK_WARN_UNUSED;

/* Announces `next` as the key that follows id's: unless the newest
 * statement in the log already hands over from id's key to next (a hub
 * restarted with the same --next-key), signs a statement with id's key,
 * appends its entry and a checkpoint of log `origin` covering it, signed by
 * id's key, in one transaction.  *stmt and *index: the statement in force
 * and its entry's index; *made: whether it was made now.  false with a
 * sentence in why on failure (nothing written). */
bool hubkey_announce(store_t *store, const rk_identity_t *id, const rk_pubkey_t *next, const char *origin,
                     uint64_t now_ms, rk_hub_key_stmt_t *stmt, uint64_t *index, bool *made, char *why,
                     size_t why_len) RK_WARN_UNUSED;

/* The hub starts with id after `previous`: true if the newest statement in
 * the log hands over from previous's key to id's and verifies under
 * previous's key (*stmt and *index: that statement); false with a sentence
 * saying what to do in why otherwise. */
bool hubkey_switch_check(store_t *store, const rk_identity_t *id, const rk_pubkey_t *previous,
                         rk_hub_key_stmt_t *stmt, uint64_t *index, char *why, size_t why_len) RK_WARN_UNUSED;

#endif /* RENKEI_HUB_HUBKEY_H */
