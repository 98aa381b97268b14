/*
 * route.c - validate, authorize, translate and persist one message.
 */
#include "route.h"

#include "audit.h"
#include "payload.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define KEEP_IDS_AFTER_EXPIRY_MS (24ull * 3600 * 1000) /* re-sends are answered for a day more */

static void refuse(route_out_t *out, rk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(route_out_t *out, rk_status st, const char *fmt, ...)
{
    va_list ap;
    out->status = st;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof out->detail, fmt, ap);
    va_end(ap);
}

/* A store failure other than "not found" ends the turn: LMDB transactions
 * are not usable after a failed write. */
static void store_failure(route_out_t *out, store_err err)
{
    out->store_failed = true;
    out->first_contact = false;
    if (err == STORE_EFULL) {
        out->store_full = true;
        refuse(out, RK_ST_STORE_FULL, "the hub's store is full; nothing was accepted, send again later");
    } else {
        refuse(out, RK_ST_INTERNAL, "hub storage failed (%s); nothing was accepted, send again later",
               store_strerror(err));
    }
}

/* Resolves the recipient's link code into code; issues one on first
 * contact.  Returns false (out filled) if the message cannot go on. */
static bool translate(const route_in_t *in, route_out_t *out, bool introduces, uint8_t code[RK_CODE_LEN],
                      uint8_t id_code[STORE_IDCODE_LEN])
{
    store_err err;

    err = store_code_resolve(in->txn, in->from, in->env->who, id_code);
    if (err == STORE_ENOTFOUND) {
        refuse(out, RK_ST_UNKNOWN_WHO, "%s holds no such link code", in->from);
        return false;
    }
    if (err != STORE_OK) {
        store_failure(out, err);
        return false;
    }
    err = store_code_lookup(in->txn, id_code, out->to, code);
    if (err == STORE_ENOTFOUND) {
        if (!introduces) {
            refuse(out, RK_ST_NO_FIRST_CONTACT, "%s does not know this person and %s may not introduce one",
                   out->to, out->type);
            return false;
        }
        err = store_code_issue(in->txn, id_code, out->to, code);
        out->first_contact = (err == STORE_OK);
    }
    if (err != STORE_OK) {
        store_failure(out, err);
        return false;
    }
    return true;
}

/* Records the message on the routing log (and a first contact); the
 * ACCEPTED entry goes into the private per-person index, a first contact
 * under the message's seq. */
static store_err log_accepted(const route_in_t *in, route_out_t *out, const uint8_t id_code[STORE_IDCODE_LEN])
{
    audit_msg_t m = {
        .event = RK_EV_ACCEPTED, .seq = out->seq, .from = in->from, .to = out->to, .type = out->type,
        .msg_id = out->msg_id, .reply_to = out->is_reply ? out->reply_to : NULL, .outcome = RK_ST_ACCEPTED,
        .size = out->size_class,
    };
    uint64_t index = 0;
    store_err err;

    err = audit_log_msg(in->txn, &m, in->now_ms, &index);
    if (err == STORE_OK)
        err = store_log_person_add(in->txn, id_code, index);
    out->log_size = index + 1;
    if (err == STORE_OK && out->first_contact) {
        audit_msg_t fc = {.event = RK_EV_FIRST_CONTACT, .seq = out->seq, .from = in->from, .to = out->to,
                          .type = out->type, .outcome = RK_ST_ACCEPTED};
        err = audit_log_msg(in->txn, &fc, in->now_ms, &index);
        if (err == STORE_OK)
            err = store_log_seq_add(in->txn, out->seq, index); /* found through the ACCEPTED entry */
    }
    return err;
}

/* Queues the Deliver frame for the recipient and remembers the message id. */
static void persist(const route_in_t *in, route_out_t *out, const uint8_t code[RK_CODE_LEN],
                    const uint8_t id_code[STORE_IDCODE_LEN])
{
    rk_hub_frame_t f;
    queue_meta_t meta;
    msg_record_t rec;
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    store_err err;

    err = store_next_seq(in->txn, &out->seq);
    if (err != STORE_OK) {
        store_failure(out, err);
        return;
    }
    memset(&f, 0, sizeof f);
    f.kind = RK_HF_DELIVER;
    f.u.deliver.envelope = *in->env; /* shallow: borrows the core for encoding */
    memcpy(f.u.deliver.envelope.who, code, RK_CODE_LEN);
    f.u.deliver.first_contact = out->first_contact;
    f.u.deliver.seq = out->seq;
    if (rk_hub_frame_encode(&f, &frame, &frame_len) != RK_WIRE_OK) {
        sodium_memzero(&f, sizeof f);
        out->store_failed = true; /* nothing usable was written, but the seq was taken */
        refuse(out, RK_ST_INTERNAL, "hub out of memory; nothing was accepted, send again later");
        return;
    }
    sodium_memzero(&f, sizeof f);

    memset(&meta, 0, sizeof meta);
    meta.seq = out->seq;
    meta.kind = QUEUE_DELIVER;
    snprintf(meta.to, sizeof meta.to, "%s", out->to);
    snprintf(meta.from, sizeof meta.from, "%s", in->from);
    snprintf(meta.type, sizeof meta.type, "%s", out->type);
    memcpy(meta.msg_id, out->msg_id, RK_MSGID_LEN);
    meta.accepted_ms = in->now_ms;
    meta.expires_ms = in->now_ms + policy_ttl_of(in->ttl, out->type);
    err = store_queue_put(in->txn, &meta, frame, frame_len);
    sodium_memzero(frame, frame_len);
    free(frame);
    if (err != STORE_OK) {
        store_failure(out, err);
        return;
    }

    memset(&rec, 0, sizeof rec);
    rec.seq = out->seq;
    snprintf(rec.to, sizeof rec.to, "%s", out->to);
    snprintf(rec.type, sizeof rec.type, "%s", out->type);
    rec.state = MSG_QUEUED;
    rec.accepted_ms = in->now_ms;
    rec.keep_until_ms = meta.expires_ms + KEEP_IDS_AFTER_EXPIRY_MS;
    /* No person in the record: its later log entries are found through
     * log_seq by its seq, so the ID code is not kept here at all. */
    err = log_accepted(in, out, id_code);
    rec.log_size = out->log_size; /* a re-send is answered with the same position */
    if (err == STORE_OK)
        err = store_msg_put(in->txn, in->from, out->msg_id, &rec);
    if (err != STORE_OK) {
        store_failure(out, err);
        return;
    }
    out->status = RK_ST_ACCEPTED;
}

/* A message id seen before: the same ACCEPTED again, or a refusal if the
 * id was reused for a different message.  Returns false if it is new. */
static bool already_accepted(const route_in_t *in, route_out_t *out)
{
    msg_record_t rec;
    store_err err = store_msg_get(in->txn, in->from, out->msg_id, &rec);
    if (err == STORE_ENOTFOUND)
        return false;
    if (err != STORE_OK) {
        store_failure(out, err);
        return true;
    }
    if (strcmp(rec.to, out->to) != 0 || strcmp(rec.type, out->type) != 0) {
        refuse(out, RK_ST_DUPLICATE_ID, "%s already used this message id for another message", in->from);
        return true;
    }
    out->status = RK_ST_ACCEPTED;
    out->duplicate = true;
    out->seq = rec.seq;
    out->log_size = rec.log_size;
    sodium_memzero(rec.person, sizeof rec.person);
    return true;
}

void route_message(const route_in_t *in, route_out_t *out)
{
    rk_core_t core;
    org_t sender, recipient;
    char why[160] = "";
    uint8_t code[RK_CODE_LEN], id_code[STORE_IDCODE_LEN];
    uint64_t queued = 0;
    size_t what_len;
    bool introduces = false, claimed_from_ok;
    store_err err;
    rk_wire_err werr;
    rk_status st;

    memset(out, 0, sizeof *out);

    /* validate */
    werr = rk_core_decode(in->env->core, in->env->core_len, &core, why, sizeof why);
    if (werr != RK_WIRE_OK) {
        refuse(out, werr == RK_WIRE_EVERSION ? RK_ST_VERSION_UNSUPPORTED
                    : werr == RK_WIRE_ESIZE  ? RK_ST_TOO_LARGE
                                             : RK_ST_MALFORMED,
               "%s", why);
        return;
    }
    out->has_msg_id = true;
    memcpy(out->msg_id, core.msg_id, RK_MSGID_LEN);
    strcpy(out->to, core.to);
    strcpy(out->type, core.type);
    what_len = core.what_len;
    out->size_class = rk_is_size_class(what_len) ? what_len : 0;
    out->is_reply = core.has_reply_to;
    memcpy(out->reply_to, core.reply_to, RK_MSGID_LEN);
    claimed_from_ok = strcmp(core.from, in->from) == 0;
    rk_core_clear(&core);

    /* The exact length is never logged, not even in a refusal's detail. */
    if (what_len > in->max_what) {
        refuse(out, RK_ST_TOO_LARGE, "the payload is larger than the hub's limit of %zu bytes", in->max_what);
        return;
    }
    if (out->size_class == 0) {
        refuse(out, RK_ST_MALFORMED,
               "the payload is not padded to a size class (a power of two from %u bytes; see the wire protocol)",
               RK_CLASS_MIN);
        return;
    }

    /* authorize: the sender */
    if (!claimed_from_ok) {
        refuse(out, RK_ST_FROM_MISMATCH, "envelope names another sender than %s, which authenticated", in->from);
        return;
    }
    err = store_org_get(in->txn, in->from, &sender);
    if (err == STORE_ENOTFOUND) {
        refuse(out, RK_ST_SENDER_SUSPENDED, "%s is no longer registered", in->from);
        return;
    }
    if (err != STORE_OK) {
        store_failure(out, err);
        return;
    }
    if (sender.status != ORG_ACTIVE) {
        refuse(out, RK_ST_SENDER_SUSPENDED, "%s is suspended", in->from);
        return;
    }
    if (in->checked_pk != NULL && sodium_memcmp(in->checked_pk, sender.sign_pk, RK_KEY_LEN) == 0
            ? !in->checked_ok
            : rk_envelope_verify(in->env, sender.sign_pk) != RK_WIRE_OK) {
        refuse(out, RK_ST_BAD_SIGNATURE, "signature does not verify under %s's registered key", in->from);
        return;
    }
    /* A message sent twice has one effect. */
    if (already_accepted(in, out))
        return;

    /* authorize: the recipient and the procedure type */
    err = store_org_get(in->txn, out->to, &recipient);
    if (err == STORE_ENOTFOUND) {
        refuse(out, RK_ST_UNKNOWN_RECIPIENT, "no organization '%s' is registered", out->to);
        return;
    }
    if (err != STORE_OK) {
        store_failure(out, err);
        return;
    }
    if (recipient.status != ORG_ACTIVE) {
        refuse(out, RK_ST_RECIPIENT_SUSPENDED, "%s is suspended", out->to);
        return;
    }
    st = policy_check(out->type, sender.kind, recipient.kind, out->is_reply, &introduces);
    if (st == RK_ST_UNKNOWN_TYPE) {
        refuse(out, st, "procedure type '%s' is not known to this hub", out->type);
        return;
    }
    if (st != RK_ST_ACCEPTED) {
        refuse(out, st, "a %s may not send %s%s to a %s", org_kind_name(sender.kind), out->type,
               out->is_reply ? " replies" : "", org_kind_name(recipient.kind));
        return;
    }
    err = store_queue_count(in->txn, out->to, &queued);
    if (err != STORE_OK) {
        store_failure(out, err);
        return;
    }
    if (queued >= in->queue_limit) {
        refuse(out, RK_ST_QUEUE_FULL, "%s already has %llu messages waiting; send again later", out->to,
               (unsigned long long)queued);
        return;
    }

    /* translate, persist */
    if (translate(in, out, introduces, code, id_code))
        persist(in, out, code, id_code);
    sodium_memzero(code, sizeof code);
    sodium_memzero(id_code, sizeof id_code);
}

store_err route_notice(store_txn_t *txn, const char *to, const uint8_t msg_id[RK_MSGID_LEN], uint64_t msg_seq,
                       const char *type, rk_status status, const char *peer, rk_status cause,
                       const char *detail, uint64_t now_ms, uint64_t ttl_ms)
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
