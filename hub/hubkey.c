/*
 * hubkey.c - the hub's key-rotation statement on the routing log.
 */
#include "hubkey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "why.h"

store_err hubkey_find(store_txn_t *txn, rk_hub_key_stmt_t *stmt, uint64_t *index)
{
    uint64_t size = 0;
    store_err err;

    if ((err = store_log_size(txn, &size)) != STORE_OK)
        return err;
    for (uint64_t i = size; i > 0; i--) {
        uint8_t *buf = NULL;
        size_t len = 0;
        rk_log_entry_t e;
        bool found;

        if ((err = store_log_get(txn, i - 1, &buf, &len)) != STORE_OK)
            return err;
        found = rk_log_entry_decode(buf, len, &e, NULL, 0) == RK_WIRE_OK &&
                e.event == RK_EV_HUB_KEY_ANNOUNCED && e.has_hub_key;
        free(buf);
        if (found) {
            *stmt = e.hub_key;
            *index = i - 1;
            return STORE_OK;
        }
    }
    return STORE_ENOTFOUND;
}

bool hubkey_announce(store_t *store, const rk_identity_t *id, const rk_pubkey_t *next, const char *origin,
                     uint64_t now_ms, rk_hub_key_stmt_t *stmt, uint64_t *index, bool *made, char *why,
                     size_t why_len)
{
    store_txn_t *txn = NULL;
    rk_log_entry_t e;
    store_err err;

    *made = false;
    if (sodium_memcmp(id->pub.sign_pk, next->sign_pk, RK_KEY_LEN) == 0) {
        rk_why(why, why_len,
               "--next-key is the hub's own key (--key): make the next key with 'renkei-keygen -o DIR hub' "
               "and give its hub.pub");
        return false;
    }
    if ((err = store_begin(store, true, &txn)) != STORE_OK)
        goto fail;
    err = hubkey_find(txn, stmt, index);
    if (err == STORE_OK && sodium_memcmp(stmt->old_key, id->pub.sign_pk, RK_KEY_LEN) == 0 &&
        sodium_memcmp(stmt->new_key, next->sign_pk, RK_KEY_LEN) == 0 &&
        rk_hub_key_stmt_verify(stmt, id->pub.sign_pk) == RK_WIRE_OK) {
        store_abort(&txn);
        return true; /* announced by an earlier start */
    }
    if (err != STORE_OK && err != STORE_ENOTFOUND)
        goto fail;
    memset(&e, 0, sizeof e);
    e.time_ms = now_ms;
    e.event = RK_EV_HUB_KEY_ANNOUNCED;
    e.outcome = RK_ST_ACCEPTED;
    e.has_hub_key = true;
    if (rk_hub_key_stmt_sign(id->sign_sk, next->sign_pk, now_ms, &e.hub_key) != RK_WIRE_OK) {
        err = STORE_EINVAL;
        goto fail;
    }
    if ((err = store_log_entry_append(txn, &e, index)) != STORE_OK ||
        (err = audit_checkpoint(txn, origin, id, now_ms, true)) != STORE_OK ||
        (err = store_commit(&txn)) != STORE_OK)
        goto fail;
    *stmt = e.hub_key;
    *made = true;
    return true;

fail:
    store_abort(&txn);
    rk_why(why, why_len, "cannot announce the next hub key on the routing log: %s", store_strerror(err));
    return false;
}

bool hubkey_switch_check(store_t *store, const rk_identity_t *id, const rk_pubkey_t *previous,
                         rk_hub_key_stmt_t *stmt, uint64_t *index, char *why, size_t why_len)
{
    store_txn_t *txn = NULL;
    store_err err;

    if ((err = store_begin(store, false, &txn)) != STORE_OK) {
        rk_why(why, why_len, "cannot read the routing log: %s", store_strerror(err));
        return false;
    }
    err = hubkey_find(txn, stmt, index);
    store_abort(&txn);
    if (err == STORE_ENOTFOUND) {
        rk_why(why, why_len,
               "the routing log announces no next hub key: start the hub once with its current key and "
               "--next-key (this key's .pub) first, so that agents and auditors learn it");
        return false;
    }
    if (err != STORE_OK) {
        rk_why(why, why_len, "cannot read the routing log: %s", store_strerror(err));
        return false;
    }
    if (sodium_memcmp(stmt->old_key, previous->sign_pk, RK_KEY_LEN) != 0 ||
        sodium_memcmp(stmt->new_key, id->pub.sign_pk, RK_KEY_LEN) != 0) {
        rk_why(why, why_len,
               "the newest key change on the routing log (entry %llu) does not hand over from --previous-key "
               "to --key: announce this key with the previous one first (--next-key), or give the keys it "
               "names",
               (unsigned long long)*index);
        return false;
    }
    if (rk_hub_key_stmt_verify(stmt, previous->sign_pk) != RK_WIRE_OK) {
        rk_why(why, why_len,
               "the key change on the routing log (entry %llu) is not signed by --previous-key: the log "
               "was altered",
               (unsigned long long)*index);
        return false;
    }
    return true;
}
