/*
 * route.c - validate, authorize and translate one message.
 */
#include "route.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "policy.h"

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
    refuse(out, RK_ST_INTERNAL, "hub storage failed (%s); nothing was routed, send again later",
           store_strerror(err));
}

void route_out_clear(route_out_t *out)
{
    if (out == NULL)
        return;
    rk_envelope_clear(&out->deliver);
    sodium_memzero(out, sizeof *out);
}

/* Resolves the recipient's link code; issues one on first contact. */
static void translate(const route_in_t *in, route_out_t *out, bool introduces)
{
    uint8_t id_code[STORE_IDCODE_LEN];
    uint8_t code[RK_CODE_LEN];
    store_err err;

    err = store_code_resolve(in->txn, in->from, in->env->who, id_code);
    if (err == STORE_ENOTFOUND) {
        refuse(out, RK_ST_UNKNOWN_WHO, "%s holds no such link code", in->from);
        return;
    }
    if (err != STORE_OK) {
        store_failure(out, err);
        return;
    }
    err = store_code_lookup(in->txn, id_code, out->to, code);
    if (err == STORE_ENOTFOUND) {
        if (!introduces) {
            refuse(out, RK_ST_NO_FIRST_CONTACT,
                   "%s does not know this person and %s may not introduce one",
                   out->to, out->type);
            goto done;
        }
        err = store_code_issue(in->txn, id_code, out->to, code);
        out->first_contact = (err == STORE_OK);
    }
    if (err != STORE_OK) {
        store_failure(out, err);
        goto done;
    }
    if (rk_envelope_copy(&out->deliver, in->env) != RK_WIRE_OK) {
        refuse(out, RK_ST_INTERNAL, "hub out of memory; nothing was routed");
        goto done;
    }
    memcpy(out->deliver.who, code, RK_CODE_LEN);
    out->status = RK_ST_ACCEPTED;
done:
    sodium_memzero(id_code, sizeof id_code);
    sodium_memzero(code, sizeof code);
}

void route_message(const route_in_t *in, route_out_t *out)
{
    rk_core_t core;
    org_t sender, recipient;
    char why[160] = "";
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
    out->what_len = core.what_len;
    out->is_reply = core.has_reply_to;
    memcpy(out->reply_to, core.reply_to, RK_MSGID_LEN);
    claimed_from_ok = strcmp(core.from, in->from) == 0;
    rk_core_clear(&core);

    if (out->what_len > in->max_what) {
        refuse(out, RK_ST_TOO_LARGE, "payload of %zu bytes exceeds the hub's limit of %zu",
               out->what_len, in->max_what);
        return;
    }

    /* authorize: the sender */
    if (!claimed_from_ok) {
        refuse(out, RK_ST_FROM_MISMATCH, "envelope names another sender than %s, which authenticated",
               in->from);
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
    if (rk_envelope_verify(in->env, sender.sign_pk) != RK_WIRE_OK) {
        refuse(out, RK_ST_BAD_SIGNATURE, "signature does not verify under %s's registered key", in->from);
        return;
    }

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
    /* A reply goes back to the connection that asked, which need not be
     * the org's receiver; the loop finds out at delivery time. */
    if (!out->is_reply && in->online != NULL && !in->online(in->online_ctx, out->to)) {
        refuse(out, RK_ST_RECIPIENT_OFFLINE, "%s is not connected; nothing was delivered", out->to);
        return;
    }

    /* translate */
    translate(in, out, introduces);
    if (out->status != RK_ST_ACCEPTED)
        return;
    err = store_next_seq(in->txn, &out->seq);
    if (err != STORE_OK) {
        rk_envelope_clear(&out->deliver);
        out->first_contact = false;
        store_failure(out, err);
    }
}
