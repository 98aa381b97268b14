/*
 * msgstate.c - the transitions of an accepted message (see msgstate.h).
 *
 * Each transition that reaches the sender writes, in this order: the
 * record, its routing-log entry (noted under the message's seq, so that
 * a disclosure finds it through the ACCEPTED entry), then the Notice in the
 * sender's queue.  The record's person is wiped from memory on every path.
 */
#include "msgstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"

/* Queues a Notice for `to` about its message msg_id (what became of it),
 * with a fresh sequence number. */
static store_err queue_notice(store_txn_t *txn, const char *to, const uint8_t msg_id[RK_MSGID_LEN],
                              uint64_t msg_seq, const char *type, rk_status status, const char *peer,
                              rk_status cause, const char *detail, uint64_t now_ms, uint64_t ttl_ms)
{
    rk_hub_frame_t f;
    queue_meta_t meta;
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    store_err err;

    memset(&meta, 0, sizeof meta);
    err = store_next_seq(txn, &meta.seq);
    if (err != STORE_OK)
        return err;
    memset(&f, 0, sizeof f);
    f.kind = RK_HF_NOTICE;
    f.u.notice.seq = meta.seq;
    memcpy(f.u.notice.msg_id, msg_id, RK_MSGID_LEN);
    f.u.notice.status = status;
    snprintf(f.u.notice.peer, sizeof f.u.notice.peer, "%s", peer);
    f.u.notice.cause = cause;
    snprintf(f.u.notice.detail, sizeof f.u.notice.detail, "%s", detail ? detail : rk_status_text(status));
    f.u.notice.time_ms = now_ms;
    f.u.notice.msg_seq = msg_seq;
    if (rk_hub_frame_encode(&f, &frame, &frame_len) != RK_WIRE_OK)
        return STORE_ENOMEM;
    meta.kind = QUEUE_NOTICE;
    snprintf(meta.to, sizeof meta.to, "%s", to);
    snprintf(meta.from, sizeof meta.from, "%s", peer);
    snprintf(meta.type, sizeof meta.type, "%s", type);
    memcpy(meta.msg_id, msg_id, RK_MSGID_LEN);
    meta.accepted_ms = now_ms;
    meta.expires_ms = now_ms + ttl_ms;
    err = store_queue_put(txn, &meta, frame, frame_len);
    free(frame);
    return err;
}

/* Appends a message's later event to the routing log and notes it under
 * the message's seq. */
static store_err log_event(store_txn_t *txn, const audit_msg_t *m, uint64_t now_ms)
{
    uint64_t at = 0;
    store_err err = audit_log_msg(txn, m, now_ms, &at);
    return err == STORE_OK ? store_log_seq_add(txn, m->seq, at) : err;
}

/* Names a queue entry's message in out: a Deliver is from its `from` to
 * the queue's org; a Notice goes to the message's sender about its
 * recipient. */
static void describe(msgstate_out_t *out, const queue_meta_t *meta)
{
    bool deliver = meta->kind == QUEUE_DELIVER;
    out->taken = true;
    out->seq = meta->seq;
    snprintf(out->sender, sizeof out->sender, "%s", deliver ? meta->from : meta->to);
    snprintf(out->recipient, sizeof out->recipient, "%s", deliver ? meta->to : meta->from);
    snprintf(out->type, sizeof out->type, "%s", meta->type);
    out->accepted_ms = meta->accepted_ms;
}

store_err msgstate_delivered(store_txn_t *txn, const char *recipient, uint64_t seq, uint64_t now_ms,
                             const policy_ttl_t *ttl, msgstate_out_t *out)
{
    queue_meta_t meta;
    msg_record_t rec;
    store_err err;

    memset(out, 0, sizeof *out);
    err = store_queue_take(txn, recipient, seq, &meta);
    if (err == STORE_ENOTFOUND)
        return STORE_OK; /* acknowledged before */
    if (err != STORE_OK)
        return err;
    describe(out, &meta);
    if (meta.kind != QUEUE_DELIVER) {
        out->event = MSGSTATE_NOTICE_TAKEN;
        return STORE_OK;
    }
    out->event = MSGSTATE_DELIVERED;
    memset(&rec, 0, sizeof rec);
    err = store_msg_get(txn, meta.from, meta.msg_id, &rec);
    if (err == STORE_ENOTFOUND)
        return STORE_OK; /* its record was purged: nobody to tell */
    if (err == STORE_OK && rec.state == MSG_QUEUED) {
        audit_msg_t m = {.event = RK_EV_DELIVERED, .seq = meta.seq, .from = meta.from, .to = recipient,
                         .type = meta.type, .msg_id = meta.msg_id, .outcome = RK_ST_DELIVERED};
        rec.state = MSG_DELIVERED; /* the binding stays: an answer comes after delivery */
        err = store_msg_put(txn, meta.from, meta.msg_id, &rec);
        if (err == STORE_OK)
            err = log_event(txn, &m, now_ms);
        if (err == STORE_OK)
            err = queue_notice(txn, meta.from, meta.msg_id, meta.seq, meta.type, RK_ST_DELIVERED, recipient,
                               RK_ST_UNSPECIFIED, NULL, now_ms, policy_ttl_of(ttl, meta.type));
        out->told = err == STORE_OK;
    }
    sodium_memzero(rec.person, sizeof rec.person);
    return err;
}

store_err msgstate_refused_by_recipient(store_txn_t *txn, const char *recipient, const rk_reject_t *rj,
                                        uint64_t now_ms, const policy_ttl_t *ttl, msgstate_out_t *out)
{
    msg_record_t rec;
    store_err err;

    memset(out, 0, sizeof *out);
    snprintf(out->sender, sizeof out->sender, "%s", rj->to);
    snprintf(out->recipient, sizeof out->recipient, "%s", recipient);
    memset(&rec, 0, sizeof rec);
    err = store_msg_get(txn, rj->to, rj->msg_id, &rec);
    if (err == STORE_ENOTFOUND || (err == STORE_OK && strcmp(rec.to, recipient) != 0)) {
        /* Only the org the message went to may refuse it. */
        sodium_memzero(rec.person, sizeof rec.person);
        out->event = MSGSTATE_REJECT_IGNORED;
        return STORE_OK;
    }
    if (err != STORE_OK)
        return err;
    out->seq = rec.seq;
    snprintf(out->type, sizeof out->type, "%s", rec.type);
    out->accepted_ms = rec.accepted_ms;
    if (rec.state == MSG_REFUSED) {
        sodium_memzero(rec.person, sizeof rec.person);
        return STORE_OK; /* refused before: said once */
    }
    out->event = MSGSTATE_REFUSED;
    rec.state = MSG_REFUSED;
    rec.has_person = false; /* no answer can come: the binding goes */
    sodium_memzero(rec.person, sizeof rec.person);
    err = store_msg_put(txn, rj->to, rj->msg_id, &rec);
    if (err == STORE_OK) {
        audit_msg_t m = {.event = RK_EV_REFUSED_BY_RECIPIENT, .seq = rec.seq, .from = rj->to, .to = recipient,
                         .type = rec.type, .msg_id = rj->msg_id, .outcome = rj->reason};
        err = log_event(txn, &m, now_ms);
    }
    if (err == STORE_OK)
        /* The detail is the recipient's own free text: passed on to the
         * sender, sealed in its queue, never written to the hub's log. */
        err = queue_notice(txn, rj->to, rj->msg_id, rec.seq, rec.type, RK_ST_REFUSED_BY_RECIPIENT, recipient,
                           rj->reason, rj->detail[0] ? rj->detail : rk_status_text(rj->reason), now_ms,
                           policy_ttl_of(ttl, rec.type));
    out->told = err == STORE_OK;
    return err;
}

store_err msgstate_expired(store_txn_t *txn, uint64_t now_ms, const policy_ttl_t *ttl, msgstate_out_t *out)
{
    queue_meta_t meta, taken;
    msg_record_t rec;
    store_err err;

    memset(out, 0, sizeof *out);
    err = store_queue_next_expired(txn, now_ms, &meta);
    if (err != STORE_OK)
        return err;
    if ((err = store_queue_take(txn, meta.to, meta.seq, &taken)) != STORE_OK)
        return err;
    describe(out, &meta);
    if (meta.kind == QUEUE_NOTICE) {
        out->event = MSGSTATE_NOTICE_DROPPED; /* not collected in time: nobody to tell */
        return STORE_OK;
    }
    out->event = MSGSTATE_EXPIRED;
    memset(&rec, 0, sizeof rec);
    err = store_msg_get(txn, meta.from, meta.msg_id, &rec);
    if (err == STORE_OK) {
        rec.state = MSG_EXPIRED;
        rec.has_person = false; /* no answer can come: the binding goes */
        sodium_memzero(rec.person, sizeof rec.person);
        err = store_msg_put(txn, meta.from, meta.msg_id, &rec);
    } else if (err == STORE_ENOTFOUND) {
        err = STORE_OK; /* purged: the sender is told all the same */
    }
    sodium_memzero(rec.person, sizeof rec.person);
    if (err == STORE_OK) {
        audit_msg_t m = {.event = RK_EV_EXPIRED, .seq = meta.seq, .from = meta.from, .to = meta.to,
                         .type = meta.type, .msg_id = meta.msg_id, .outcome = RK_ST_EXPIRED};
        err = log_event(txn, &m, now_ms);
    }
    if (err == STORE_OK)
        err = queue_notice(txn, meta.from, meta.msg_id, meta.seq, meta.type, RK_ST_EXPIRED, meta.to,
                           RK_ST_UNSPECIFIED, NULL, now_ms, policy_ttl_of(ttl, meta.type));
    out->told = err == STORE_OK;
    return err;
}

store_err msgstate_answered(store_txn_t *txn, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                            msg_record_t *rec)
{
    sodium_memzero(rec->person, sizeof rec->person);
    rec->has_person = false; /* answered: no second answer fits */
    return store_msg_put(txn, from, msg_id, rec);
}
