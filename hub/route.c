/*
 * route.c - validate, authorize, translate and persist one message.
 *
 * The principle every answer here keeps: whether a message is accepted,
 * and every word of the answer, depends only on what its sender already
 * knows (its own codes, its own past messages, the messages it received),
 * never on the recipient's side of the ID-code table.  A refusal that
 * depended on the recipient would tell the sender whether the recipient
 * knows the person.  Hence:
 *   - a request reaches a person its recipient does not know only through
 *     a type that may introduce one, and then it is accepted either way;
 *   - an answer (a reply, or a follow-up such as move.in.notice) is
 *     accepted only if reply_to names an open message that the recipient
 *     itself sent to this sender about this same person; every other case
 *     gets one refusal, NO_OPEN_REQUEST, with the same words;
 *   - an accepted message writes the same number of routing-log entries
 *     whether or not a code was issued (EV_FIRST_CONTACT or EV_CODE_FOUND,
 *     neither naming the sender), so neither the ACCEPTED result's log
 *     position nor the log's growth tells the sender.
 * Refusals before these steps (type, kinds, suspended orgs, full queues)
 * depend on organizations, never on a person.
 *
 * What is left is timing: issuing a code writes two more rows than finding
 * one, so a first contact's turn commits a few more pages.  A sender gets
 * one sample of it per (person, recipient) at most, since the probe itself
 * introduces the person, against a turn whose flush varies by far more;
 * check_answer compares the person even where the other checks already
 * failed, so its refusals do the same work.
 */
#include "route.h"

#include "audit.h"
#include "msgstate.h"
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

/* The same refusal, word for word, whatever made the answer not fit: no
 * such message, sent by someone else or to someone else, of another type,
 * about another person, answered, expired or refused. */
static void refuse_answer(const route_in_t *in, route_out_t *out)
{
    refuse(out, RK_ST_NO_OPEN_REQUEST, "%s has no open message to %s with that id about this person that %s answers",
           out->to, in->from, out->type);
}

/* An answer: reply_to must name an open message of type `answers` that the
 * recipient sent to this sender about the person id_code.  Fills *ref with
 * its record.  Returns false (out filled) if the answer cannot go on. */
static bool check_answer(const route_in_t *in, route_out_t *out, const char *answers,
                         const uint8_t id_code[STORE_IDCODE_LEN], msg_record_t *ref)
{
    store_err err = store_msg_get(in->txn, out->to, out->reply_to, ref);
    bool fits;

    if (err == STORE_ENOTFOUND) {
        refuse_answer(in, out);
        return false;
    }
    if (err != STORE_OK) {
        store_failure(out, err);
        return false;
    }
    fits = ref->has_person && (ref->state == MSG_QUEUED || ref->state == MSG_DELIVERED) &&
           in->now_ms < ref->keep_until_ms && strcmp(ref->to, in->from) == 0 && strcmp(ref->type, answers) == 0;
    /* The comparison runs whatever the other checks said: the same work
     * for every refusal. */
    fits = (sodium_memcmp(ref->person, id_code, STORE_IDCODE_LEN) == 0) && fits;
    if (!fits) {
        sodium_memzero(ref->person, sizeof ref->person);
        refuse_answer(in, out);
        return false;
    }
    return true;
}

/* The recipient's link code for id_code into code; issues one on first
 * contact if the type may introduce.  Returns false (out filled) if the
 * message cannot go on. */
static bool translate(const route_in_t *in, route_out_t *out, bool introduces, const uint8_t id_code[STORE_IDCODE_LEN],
                      uint8_t code[RK_CODE_LEN])
{
    store_err err = store_code_lookup(in->txn, id_code, out->to, code);
    if (err == STORE_ENOTFOUND) {
        if (!introduces) {
            /* Not reached: an answer goes to an org that sent a message
             * about the person, so it holds a code.  Should a store say
             * otherwise, the answer is the answers' one refusal. */
            refuse_answer(in, out);
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

/* Records the message on the routing log; the ACCEPTED entry goes into the
 * private per-person index.  A request that may introduce a person always
 * gets a second entry under its seq, EV_FIRST_CONTACT or EV_CODE_FOUND,
 * naming only the recipient: the log grows by the same count either way. */
static store_err log_accepted(const route_in_t *in, route_out_t *out, bool introduces,
                              const uint8_t id_code[STORE_IDCODE_LEN])
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
    if (err == STORE_OK && introduces) {
        audit_msg_t code = {.event = out->first_contact ? RK_EV_FIRST_CONTACT : RK_EV_CODE_FOUND,
                            .seq = out->seq, .from = "", .to = out->to, .type = out->type,
                            .outcome = RK_ST_ACCEPTED};
        err = audit_log_msg(in->txn, &code, in->now_ms, &index);
        if (err == STORE_OK)
            err = store_log_seq_add(in->txn, out->seq, index); /* found through the ACCEPTED entry */
    }
    return err;
}

/* A procedure that moves the resident, sent by their current municipality,
 * makes its recipient the current one.  From anyone else it changes
 * nothing (a former municipality cannot take the resident's record along). */
static store_err move_home(const route_in_t *in, const uint8_t id_code[STORE_IDCODE_LEN], const char *to)
{
    char home[RK_ID_MAX + 1];
    store_err err = store_person_home_get(in->txn, id_code, home);

    if (err == STORE_ENOTFOUND || (err == STORE_OK && strcmp(home, in->from) != 0))
        return STORE_OK;
    if (err != STORE_OK)
        return err;
    return store_person_home_set(in->txn, id_code, to);
}

/* Queues the Deliver frame for the recipient and remembers the message id. */
static void persist(const route_in_t *in, route_out_t *out, const policy_verdict_t *v,
                    const uint8_t code[RK_CODE_LEN], const uint8_t id_code[STORE_IDCODE_LEN])
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
    /* The person is kept (sealed) only while an answer may come: to check
     * that the answer is about the same person.  Later log entries are
     * found through log_seq by the message's seq. */
    if (v->answerable) {
        rec.has_person = true;
        memcpy(rec.person, id_code, STORE_IDCODE_LEN);
    }
    err = log_accepted(in, out, v->introduces, id_code);
    rec.log_size = out->log_size; /* a re-send is answered with the same position */
    if (err == STORE_OK)
        err = store_msg_put(in->txn, in->from, out->msg_id, &rec);
    sodium_memzero(rec.person, sizeof rec.person);
    if (err == STORE_OK && v->moves)
        err = move_home(in, id_code, out->to);
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

void route_describe(const rk_envelope_t *env, route_out_t *out)
{
    rk_core_t core;

    if (rk_core_decode(env->core, env->core_len, &core, NULL, 0) != RK_WIRE_OK) {
        out->has_msg_id = rk_core_peek_msg_id(env->core, env->core_len, out->msg_id);
        return;
    }
    out->has_msg_id = true;
    memcpy(out->msg_id, core.msg_id, RK_MSGID_LEN);
    snprintf(out->to, sizeof out->to, "%s", core.to);
    snprintf(out->type, sizeof out->type, "%s", core.type);
    rk_core_clear(&core);
}

/* Whether env is signed under pk: the check made before the turn counts
 * if it was made under pk, else it is made now. */
static bool signed_by(const rk_envelope_t *env, const uint8_t pk[RK_KEY_LEN], const uint8_t *checked_pk,
                      bool checked_ok)
{
    if (checked_pk != NULL && sodium_memcmp(checked_pk, pk, RK_KEY_LEN) == 0)
        return checked_ok;
    return rk_envelope_verify(env, pk) == RK_WIRE_OK;
}

void route_message(const route_in_t *in, route_out_t *out)
{
    rk_core_t core;
    org_t sender, recipient;
    char why[160] = "";
    uint8_t code[RK_CODE_LEN], id_code[STORE_IDCODE_LEN];
    uint64_t queued = 0;
    size_t what_len;
    bool claimed_from_ok;
    policy_verdict_t v;
    msg_record_t ref;
    store_err err;
    rk_wire_err werr;

    memset(out, 0, sizeof *out);

    /* validate */
    werr = rk_core_decode(in->env->core, in->env->core_len, &core, why, sizeof why);
    if (werr != RK_WIRE_OK) {
        refuse(out, werr == RK_WIRE_EVERSION ? RK_ST_VERSION_UNSUPPORTED
                    : werr == RK_WIRE_ESIZE  ? RK_ST_TOO_LARGE
                                             : RK_ST_MALFORMED,
               "%s", why);
        /* A refusal names the message whenever its msg_id can be read. */
        out->has_msg_id = rk_core_peek_msg_id(in->env->core, in->env->core_len, out->msg_id);
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
    if (!signed_by(in->env, sender.sign_pk, in->checked_pk, in->checked_ok) &&
        !(sender.prev_until_ms != 0 &&
          (org_prev_active(&sender, in->now_ms) ||
           (in->conn_key != NULL && sodium_memcmp(in->conn_key, sender.curve_pk, RK_KEY_LEN) == 0)) &&
          signed_by(in->env, sender.prev_sign_pk, in->checked_alt_pk, in->checked_alt_ok))) {
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
    out->has_recipient_key = true;
    memcpy(out->recipient_key, recipient.sign_pk, RK_KEY_LEN);
    if (recipient.status != ORG_ACTIVE) {
        refuse(out, RK_ST_RECIPIENT_SUSPENDED, "%s is suspended", out->to);
        return;
    }
    policy_check(in->cat, out->type, (policy_party_t){sender.id, sender.kind},
                 (policy_party_t){recipient.id, recipient.kind}, out->is_reply, &v);
    if (v.status != RK_ST_ACCEPTED) {
        refuse(out, v.status, "%s", v.rule);
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

    /* the person, as the sender knows them */
    err = store_code_resolve(in->txn, in->from, in->env->who, id_code);
    if (err == STORE_ENOTFOUND) {
        refuse(out, RK_ST_UNKNOWN_WHO, "%s holds no such link code", in->from);
        return;
    }
    if (err != STORE_OK) {
        store_failure(out, err);
        return;
    }

    /* an answer: to an open message about the same person; translate, persist */
    memset(&ref, 0, sizeof ref);
    if ((v.answers == NULL || check_answer(in, out, v.answers, id_code, &ref)) &&
        translate(in, out, v.introduces, id_code, code)) {
        persist(in, out, &v, code, id_code);
        if (out->status == RK_ST_ACCEPTED && v.answers != NULL) {
            /* Answered: the binding goes, and with it any second answer. */
            err = msgstate_answered(in->txn, out->to, out->reply_to, &ref);
            if (err != STORE_OK)
                store_failure(out, err);
        }
    }
    sodium_memzero(&ref, sizeof ref);
    sodium_memzero(code, sizeof code);
    sodium_memzero(id_code, sizeof id_code);
}
