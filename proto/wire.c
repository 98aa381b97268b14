/*
 * wire.c - checked encode/decode of Renkei's wire protocol.
 *
 * Generated protobuf-c structs live only inside this file.  Every decoder
 * follows one pattern: unpack, check version, check each field, copy into the
 * caller's plain struct, free the unpacked message.
 *
 * Frames carry link codes and envelopes in the clear: every block this file
 * frees that held one is wiped first, the protobuf-c runtime's own blocks
 * included (through the `wiping` allocator).
 */
#include "wire.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "renkei.pb-c.h"
#include "why.h"

#define SIG_DOMAIN_ENVELOPE "renkei-envelope-v1"
#define SIG_DOMAIN_DIRECTORY "renkei-directory-v1"

_Static_assert((int)RK_ST_LAST == (int)RENKEI__V1__STATUS__NO_OPEN_REQUEST, "status values drift");
_Static_assert((int)RK_ST_ACCEPTED == (int)RENKEI__V1__STATUS__ACCEPTED, "status values drift");
_Static_assert((int)RK_CF_DISCLOSE == (int)RENKEI__V1__CLIENT_FRAME__BODY_DISCLOSE, "frame kinds drift");
_Static_assert((int)RK_EV_LAST == (int)RENKEI__V1__LOG_EVENT__EV_RESTORED, "log events drift");
_Static_assert((int)RK_HF_PROOF == (int)RENKEI__V1__HUB_FRAME__BODY_PROOF, "frame kinds drift");

const char *rk_wire_strerror(rk_wire_err err)
{
    switch (err) {
    case RK_WIRE_OK: return "success";
    case RK_WIRE_EDECODE: return "not a valid protobuf message";
    case RK_WIRE_EVERSION: return "unsupported protocol version";
    case RK_WIRE_EFIELD: return "a field is missing or out of range";
    case RK_WIRE_ESIZE: return "payload too large";
    case RK_WIRE_ENOMEM: return "out of memory";
    case RK_WIRE_ESIG: return "signature does not verify";
    }
    return "unknown wire error";
}

static const struct {
    const char *name;
    const char *text;
} status_info[] = {
    [RK_ST_UNSPECIFIED] = {"UNSPECIFIED", "no status"},
    [RK_ST_ACCEPTED] = {"ACCEPTED", "accepted by the hub"},
    [RK_ST_MALFORMED] = {"MALFORMED", "the message could not be read: a field is missing or out of range"},
    [RK_ST_VERSION_UNSUPPORTED] = {"VERSION_UNSUPPORTED", "the hub does not speak this protocol version"},
    [RK_ST_TOO_LARGE] = {"TOO_LARGE", "the payload is larger than the hub accepts"},
    [RK_ST_FROM_MISMATCH] = {"FROM_MISMATCH", "the envelope names a sender other than the organization that authenticated"},
    [RK_ST_BAD_SIGNATURE] = {"BAD_SIGNATURE", "the sender's signature does not verify"},
    [RK_ST_UNKNOWN_RECIPIENT] = {"UNKNOWN_RECIPIENT", "no organization is registered under the recipient's id"},
    [RK_ST_RECIPIENT_SUSPENDED] = {"RECIPIENT_SUSPENDED", "the recipient organization is suspended"},
    [RK_ST_SENDER_SUSPENDED] = {"SENDER_SUSPENDED", "the sending organization is suspended"},
    [RK_ST_UNKNOWN_TYPE] = {"UNKNOWN_TYPE", "the hub does not know this procedure type"},
    [RK_ST_NOT_PERMITTED] = {"NOT_PERMITTED", "this kind of organization may not send this procedure type to that kind"},
    [RK_ST_UNKNOWN_WHO] = {"UNKNOWN_WHO", "the sender holds no such link code"},
    [RK_ST_NO_FIRST_CONTACT] = {"NO_FIRST_CONTACT", "the recipient does not know this person and this procedure type may not introduce one"},
    [RK_ST_RECIPIENT_OFFLINE] = {"RECIPIENT_OFFLINE", "the recipient is not connected; nothing was delivered"},
    [RK_ST_REFUSED_BY_RECIPIENT] = {"REFUSED_BY_RECIPIENT", "the recipient's agent refused the message"},
    [RK_ST_UNDECRYPTABLE] = {"UNDECRYPTABLE", "the payload could not be decrypted by its recipient"},
    [RK_ST_INTERNAL] = {"INTERNAL", "the hub failed internally; nothing was routed"},
    [RK_ST_DUPLICATE_ID] = {"DUPLICATE_ID", "this message id was already used"},
    [RK_ST_QUEUE_FULL] = {"QUEUE_FULL", "the recipient's queue at the hub is full; the message was not accepted, send it again later"},
    [RK_ST_STORE_FULL] = {"STORE_FULL", "the hub's store is full; the message was not accepted, send it again later"},
    [RK_ST_DELIVERED] = {"DELIVERED", "the recipient's agent has the message"},
    [RK_ST_EXPIRED] = {"EXPIRED", "the message was not delivered within its time-to-live and was deleted"},
    [RK_ST_FORBIDDEN] = {"FORBIDDEN", "this organization may not make that request"},
    [RK_ST_NOT_FOUND] = {"NOT_FOUND", "no such log entry, tree size or person"},
    [RK_ST_NO_OPEN_REQUEST] = {"NO_OPEN_REQUEST", "the message answers no open message of its recipient to this sender about this person"},
};

const char *rk_status_name(rk_status st)
{
    if ((unsigned)st >= sizeof status_info / sizeof status_info[0])
        return "UNKNOWN_STATUS";
    return status_info[st].name;
}

const char *rk_status_text(rk_status st)
{
    if ((unsigned)st >= sizeof status_info / sizeof status_info[0])
        return "unknown status";
    return status_info[st].text;
}

bool rk_valid_name(const char *s)
{
    size_t n = 0;
    if (s == NULL || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= RK_ID_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

void rk_code_to_text(const uint8_t code[RK_CODE_LEN], char out[RK_CODE_TEXT_LEN + 1])
{
    sodium_bin2hex(out, RK_CODE_TEXT_LEN + 1, code, RK_CODE_LEN);
}

bool rk_code_from_text(const char *text, uint8_t code[RK_CODE_LEN])
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (text == NULL || strlen(text) != RK_CODE_TEXT_LEN)
        return false;
    if (sodium_hex2bin(code, RK_CODE_LEN, text, RK_CODE_TEXT_LEN, NULL, &bin_len, &end) != 0)
        return false;
    return bin_len == RK_CODE_LEN && *end == '\0';
}

/* ------------------------------------------------------------------ helpers */

/* Whether an allocation of the last unpack in this thread failed:
 * protobuf-c returns NULL for that as for bytes that do not decode. */
static _Thread_local bool unpack_oom;

static void *wiping_alloc(void *data, size_t size)
{
    void *p = malloc(size);
    (void)data;
    if (p == NULL)
        unpack_oom = true;
    return p;
}

/* Wipes the whole block, not just the field's length: unpacking allocates
 * the message and each bytes or string field separately. */
static void wiping_free(void *data, void *p)
{
    (void)data;
    if (p == NULL)
        return;
    sodium_memzero(p, malloc_usable_size(p));
    free(p);
}

static ProtobufCAllocator wiping = {wiping_alloc, wiping_free, NULL};


/* Why an unpack of `what` returned NULL: out of memory, or bytes that are
 * not a valid message. */
static rk_wire_err unpack_failed(const char *what, char *why, size_t why_len)
{
    if (unpack_oom) {
        rk_why(why, why_len, "out of memory decoding the %s", what);
        return RK_WIRE_ENOMEM;
    }
    rk_why(why, why_len, "%s is not a valid protobuf message", what);
    return RK_WIRE_EDECODE;
}

/* Wipes and frees a buffer that held part of a frame. */
static void wipe_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    sodium_memzero(p, len);
    free(p);
}

/* Copies a checked name (org id or procedure type) or fails naming the field. */
static rk_wire_err take_name(char *dst, const char *src, const char *field, char *why, size_t why_len)
{
    if (!rk_valid_name(src)) {
        rk_why(why, why_len, "field '%s' is not a valid name (1-64 of a-z 0-9 . _ -)", field);
        return RK_WIRE_EFIELD;
    }
    strcpy(dst, src);
    return RK_WIRE_OK;
}

/* Copies a printable detail string, truncating at RK_DETAIL_MAX. */
static void take_detail(char *dst, const char *src)
{
    size_t i = 0;
    for (; src != NULL && src[i] != '\0' && i < RK_DETAIL_MAX; i++)
        dst[i] = (char)((src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?');
    dst[i] = '\0';
}

static rk_wire_err take_fixed(uint8_t *dst, size_t len, ProtobufCBinaryData src, const char *field,
                              char *why, size_t why_len)
{
    if (src.len != len) {
        rk_why(why, why_len, "field '%s' has the wrong length", field);
        return RK_WIRE_EFIELD;
    }
    memcpy(dst, src.data, len);
    return RK_WIRE_OK;
}

static ProtobufCBinaryData bin(const void *p, size_t len)
{
    ProtobufCBinaryData b = {len, (uint8_t *)p};
    return b;
}

static void hub_key_to_pb(const rk_hub_key_stmt_t *s, Renkei__V1__HubKeyStatement *pb);
static rk_wire_err hub_key_from_pb(const Renkei__V1__HubKeyStatement *pb, rk_hub_key_stmt_t *s, char *why,
                                   size_t why_len);

/* Packs any generated message into a new malloc'd buffer. */
static rk_wire_err pack(const ProtobufCMessage *m, uint8_t **out, size_t *out_len)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return RK_WIRE_ENOMEM;
    protobuf_c_message_pack(m, buf);
    *out = buf;
    *out_len = len;
    return RK_WIRE_OK;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t len)
{
    uint8_t *d = malloc(len > 0 ? len : 1);
    if (d != NULL && len > 0)
        memcpy(d, p, len);
    return d;
}

/* Domain-separated message to sign: domain || 0x00 || body. */
static uint8_t *sig_input(const char *domain, const uint8_t *body, size_t len, size_t *out_len)
{
    size_t dl = strlen(domain) + 1;
    uint8_t *m = malloc(dl + len);
    if (m == NULL)
        return NULL;
    memcpy(m, domain, dl);
    if (len > 0)
        memcpy(m + dl, body, len);
    *out_len = dl + len;
    return m;
}

static rk_wire_err sign_detached(const char *domain, const uint8_t *body, size_t len,
                                 const uint8_t sk[64], uint8_t sig[RK_SIG_LEN])
{
    size_t ml = 0;
    uint8_t *m = sig_input(domain, body, len, &ml);
    if (m == NULL)
        return RK_WIRE_ENOMEM;
    crypto_sign_detached(sig, NULL, m, ml, sk);
    wipe_free(m, ml);
    return RK_WIRE_OK;
}

static rk_wire_err verify_detached(const char *domain, const uint8_t *body, size_t len,
                                   const uint8_t sig[RK_SIG_LEN], const uint8_t pk[RK_KEY_LEN])
{
    size_t ml = 0;
    int rc;
    uint8_t *m = sig_input(domain, body, len, &ml);
    if (m == NULL)
        return RK_WIRE_ENOMEM;
    rc = crypto_sign_verify_detached(sig, m, ml, pk);
    wipe_free(m, ml);
    return rc == 0 ? RK_WIRE_OK : RK_WIRE_ESIG;
}

/* ------------------------------------------------------------------ envelope */

void rk_core_clear(rk_core_t *core)
{
    if (core == NULL)
        return;
    wipe_free(core->what, core->what_len);
    sodium_memzero(core, sizeof *core);
}

void rk_envelope_clear(rk_envelope_t *env)
{
    if (env == NULL)
        return;
    wipe_free(env->core, env->core_len);
    sodium_memzero(env, sizeof *env);
}

static rk_wire_err check_core_fields(const rk_core_t *c)
{
    if (!rk_valid_name(c->from) || !rk_valid_name(c->to) || !rk_valid_name(c->type))
        return RK_WIRE_EFIELD;
    if (c->what_len == 0 || c->what == NULL)
        return RK_WIRE_EFIELD;
    if (c->what_len > RK_WHAT_CEILING)
        return RK_WIRE_ESIZE;
    return RK_WIRE_OK;
}

rk_wire_err rk_core_encode(const rk_core_t *c, uint8_t **out, size_t *out_len)
{
    Renkei__V1__EnvelopeCore m = RENKEI__V1__ENVELOPE_CORE__INIT;
    rk_wire_err err = check_core_fields(c);
    if (err != RK_WIRE_OK)
        return err;
    m.version = RK_PROTOCOL_VERSION;
    m.from = (char *)c->from;
    m.to = (char *)c->to;
    m.type = (char *)c->type;
    m.msg_id = bin(c->msg_id, RK_MSGID_LEN);
    if (c->has_reply_to)
        m.reply_to = bin(c->reply_to, RK_MSGID_LEN);
    m.time_ms = c->time_ms;
    m.what = bin(c->what, c->what_len);
    return pack(&m.base, out, out_len);
}

rk_wire_err rk_core_decode(const uint8_t *buf, size_t len, rk_core_t *c, char *why, size_t why_len)
{
    Renkei__V1__EnvelopeCore *m;
    rk_wire_err err = RK_WIRE_EFIELD;

    memset(c, 0, sizeof *c);
    unpack_oom = false;
    m = renkei__v1__envelope_core__unpack(&wiping, len, buf);
    if (m == NULL)
        return unpack_failed("envelope core", why, why_len);
    if (m->version != RK_PROTOCOL_VERSION) {
        rk_why(why, why_len, "%s: unsupported protocol version", "envelope core");
        err = RK_WIRE_EVERSION;
        goto fail;
    }
    if ((err = take_name(c->from, m->from, "from", why, why_len)) != RK_WIRE_OK ||
        (err = take_name(c->to, m->to, "to", why, why_len)) != RK_WIRE_OK ||
        (err = take_name(c->type, m->type, "type", why, why_len)) != RK_WIRE_OK ||
        (err = take_fixed(c->msg_id, RK_MSGID_LEN, m->msg_id, "msg_id", why, why_len)) != RK_WIRE_OK)
        goto fail;
    if (m->reply_to.len != 0) {
        if ((err = take_fixed(c->reply_to, RK_MSGID_LEN, m->reply_to, "reply_to", why, why_len)) != RK_WIRE_OK)
            goto fail;
        c->has_reply_to = true;
    }
    if (m->what.len == 0) {
        rk_why(why, why_len, "field '%s' is empty", "what");
        err = RK_WIRE_EFIELD;
        goto fail;
    }
    if (m->what.len > RK_WHAT_CEILING) {
        rk_why(why, why_len, "field '%s' is larger than any hub accepts", "what");
        err = RK_WIRE_ESIZE;
        goto fail;
    }
    c->what = dup_bytes(m->what.data, m->what.len);
    if (c->what == NULL) {
        err = RK_WIRE_ENOMEM;
        goto fail;
    }
    c->what_len = m->what.len;
    c->time_ms = m->time_ms;
    renkei__v1__envelope_core__free_unpacked(m, &wiping);
    return RK_WIRE_OK;

fail:
    renkei__v1__envelope_core__free_unpacked(m, &wiping);
    rk_core_clear(c);
    return err;
}

bool rk_core_peek_msg_id(const uint8_t *buf, size_t len, uint8_t msg_id[RK_MSGID_LEN])
{
    Renkei__V1__EnvelopeCore *m;
    bool ok;

    unpack_oom = false;
    m = renkei__v1__envelope_core__unpack(&wiping, len, buf);
    if (m == NULL)
        return false;
    ok = m->msg_id.len == RK_MSGID_LEN;
    if (ok)
        memcpy(msg_id, m->msg_id.data, RK_MSGID_LEN);
    renkei__v1__envelope_core__free_unpacked(m, &wiping);
    return ok;
}

rk_wire_err rk_envelope_seal(rk_envelope_t *env, const rk_core_t *core,
                             const uint8_t who[RK_CODE_LEN], const uint8_t sign_sk[64])
{
    rk_wire_err err;
    memset(env, 0, sizeof *env);
    err = rk_core_encode(core, &env->core, &env->core_len);
    if (err != RK_WIRE_OK)
        return err;
    err = sign_detached(SIG_DOMAIN_ENVELOPE, env->core, env->core_len, sign_sk, env->signature);
    if (err != RK_WIRE_OK) {
        rk_envelope_clear(env);
        return err;
    }
    memcpy(env->who, who, RK_CODE_LEN);
    return RK_WIRE_OK;
}

void rk_msgid_new(uint8_t id[RK_MSGID_LEN], uint64_t now_ms)
{
    for (int i = 5; i >= 0; i--) {
        id[i] = (uint8_t)(now_ms & 0xff);
        now_ms >>= 8;
    }
    randombytes_buf(id + 6, RK_MSGID_LEN - 6);
}

rk_wire_err rk_envelope_verify(const rk_envelope_t *env, const uint8_t sign_pk[RK_KEY_LEN])
{
    return verify_detached(SIG_DOMAIN_ENVELOPE, env->core, env->core_len, env->signature, sign_pk);
}

rk_wire_err rk_envelope_copy(rk_envelope_t *dst, const rk_envelope_t *src)
{
    *dst = *src;
    dst->core = dup_bytes(src->core, src->core_len);
    if (dst->core == NULL) {
        memset(dst, 0, sizeof *dst);
        return RK_WIRE_ENOMEM;
    }
    return RK_WIRE_OK;
}

static void envelope_to_pb(const rk_envelope_t *env, Renkei__V1__Envelope *m)
{
    m->core = bin(env->core, env->core_len);
    m->signature = bin(env->signature, RK_SIG_LEN);
    m->who = bin(env->who, RK_CODE_LEN);
}

static rk_wire_err envelope_from_pb(const Renkei__V1__Envelope *m, rk_envelope_t *env, char *why,
                                    size_t why_len)
{
    rk_wire_err err;
    memset(env, 0, sizeof *env);
    if (m == NULL) {
        rk_why(why, why_len, "field '%s' is missing", "envelope");
        return RK_WIRE_EFIELD;
    }
    if (m->core.len == 0) {
        rk_why(why, why_len, "field '%s' is empty", "core");
        return RK_WIRE_EFIELD;
    }
    if (m->core.len > RK_FRAME_CEILING) {
        rk_why(why, why_len, "field '%s' is larger than any hub accepts", "core");
        return RK_WIRE_ESIZE;
    }
    if ((err = take_fixed(env->signature, RK_SIG_LEN, m->signature, "signature", why, why_len)) != RK_WIRE_OK ||
        (err = take_fixed(env->who, RK_CODE_LEN, m->who, "who", why, why_len)) != RK_WIRE_OK)
        return err;
    env->core = dup_bytes(m->core.data, m->core.len);
    if (env->core == NULL)
        return RK_WIRE_ENOMEM;
    env->core_len = m->core.len;
    return RK_WIRE_OK;
}

/* ------------------------------------------------------------ agent -> hub */

void rk_client_frame_clear(rk_client_frame_t *f)
{
    if (f == NULL)
        return;
    if (f->kind == RK_CF_SEND)
        rk_envelope_clear(&f->u.send);
    sodium_memzero(f, sizeof *f); /* a disclosure's code */
}

rk_wire_err rk_client_frame_encode(const rk_client_frame_t *f, uint8_t **out, size_t *out_len)
{
    Renkei__V1__ClientFrame m = RENKEI__V1__CLIENT_FRAME__INIT;
    Renkei__V1__Hello hello = RENKEI__V1__HELLO__INIT;
    Renkei__V1__Send send = RENKEI__V1__SEND__INIT;
    Renkei__V1__Envelope env = RENKEI__V1__ENVELOPE__INIT;
    Renkei__V1__Enroll enroll = RENKEI__V1__ENROLL__INIT;
    Renkei__V1__DirectoryRequest dir = RENKEI__V1__DIRECTORY_REQUEST__INIT;
    Renkei__V1__Reject reject = RENKEI__V1__REJECT__INIT;
    Renkei__V1__Ack ack = RENKEI__V1__ACK__INIT;
    Renkei__V1__LogRead log_read = RENKEI__V1__LOG_READ__INIT;
    Renkei__V1__CheckpointRequest cp = RENKEI__V1__CHECKPOINT_REQUEST__INIT;
    Renkei__V1__ProofRequest proof = RENKEI__V1__PROOF_REQUEST__INIT;
    Renkei__V1__Disclose disclose = RENKEI__V1__DISCLOSE__INIT;

    m.version = RK_PROTOCOL_VERSION;
    switch (f->kind) {
    case RK_CF_HELLO:
        hello.receive = f->u.hello.receive;
        m.body_case = RENKEI__V1__CLIENT_FRAME__BODY_HELLO;
        m.hello = &hello;
        break;
    case RK_CF_SEND:
        if (f->u.send.core == NULL || f->u.send.core_len == 0)
            return RK_WIRE_EFIELD;
        envelope_to_pb(&f->u.send, &env);
        send.envelope = &env;
        m.body_case = RENKEI__V1__CLIENT_FRAME__BODY_SEND;
        m.send = &send;
        break;
    case RK_CF_ENROLL:
        enroll.req_id = f->u.enroll.req_id;
        m.body_case = RENKEI__V1__CLIENT_FRAME__BODY_ENROLL;
        m.enroll = &enroll;
        break;
    case RK_CF_DIRECTORY:
        dir.req_id = f->u.directory.req_id;
        m.body_case = RENKEI__V1__CLIENT_FRAME__BODY_DIRECTORY;
        m.directory = &dir;
        break;
    case RK_CF_REJECT:
        if (!rk_valid_name(f->u.reject.to))
            return RK_WIRE_EFIELD;
        reject.to = (char *)f->u.reject.to;
        reject.msg_id = bin(f->u.reject.msg_id, RK_MSGID_LEN);
        reject.reason = (Renkei__V1__Status)f->u.reject.reason;
        reject.detail = (char *)f->u.reject.detail;
        m.body_case = RENKEI__V1__CLIENT_FRAME__BODY_REJECT;
        m.reject = &reject;
        break;
    case RK_CF_ACK:
        if (f->u.ack.n == 0 || f->u.ack.n > RK_ACK_MAX)
            return RK_WIRE_EFIELD;
        ack.n_seq = f->u.ack.n;
        ack.seq = (uint64_t *)f->u.ack.seq;
        m.body_case = RENKEI__V1__CLIENT_FRAME__BODY_ACK;
        m.ack = &ack;
        break;
    case RK_CF_LOG_READ:
        if (f->u.log_read.count == 0 || f->u.log_read.count > RK_LOG_READ_MAX)
            return RK_WIRE_EFIELD;
        log_read.req_id = f->u.log_read.req_id;
        log_read.start = f->u.log_read.start;
        log_read.count = f->u.log_read.count;
        m.body_case = RENKEI__V1__CLIENT_FRAME__BODY_LOG_READ;
        m.log_read = &log_read;
        break;
    case RK_CF_CHECKPOINT:
        cp.req_id = f->u.checkpoint.req_id;
        m.body_case = RENKEI__V1__CLIENT_FRAME__BODY_CHECKPOINT;
        m.checkpoint = &cp;
        break;
    case RK_CF_PROOF:
        proof.req_id = f->u.proof.req_id;
        proof.index = f->u.proof.index;
        proof.tree_size = f->u.proof.tree_size;
        proof.old_size = f->u.proof.old_size;
        m.body_case = RENKEI__V1__CLIENT_FRAME__BODY_PROOF;
        m.proof = &proof;
        break;
    case RK_CF_DISCLOSE:
        disclose.req_id = f->u.disclose.req_id;
        disclose.code = bin(f->u.disclose.code, RK_CODE_LEN);
        m.body_case = RENKEI__V1__CLIENT_FRAME__BODY_DISCLOSE;
        m.disclose = &disclose;
        break;
    default:
        return RK_WIRE_EFIELD;
    }
    return pack(&m.base, out, out_len);
}

bool rk_client_frame_peek_msg_id(const uint8_t *buf, size_t len, uint8_t msg_id[RK_MSGID_LEN])
{
    Renkei__V1__ClientFrame *m;
    bool ok = false;

    unpack_oom = false;
    m = renkei__v1__client_frame__unpack(&wiping, len, buf);
    if (m == NULL)
        return false;
    if (m->body_case == RENKEI__V1__CLIENT_FRAME__BODY_SEND && m->send != NULL && m->send->envelope != NULL &&
        m->send->envelope->core.len > 0)
        ok = rk_core_peek_msg_id(m->send->envelope->core.data, m->send->envelope->core.len, msg_id);
    renkei__v1__client_frame__free_unpacked(m, &wiping);
    return ok;
}

rk_wire_err rk_client_frame_decode(const uint8_t *buf, size_t len, rk_client_frame_t *f, char *why,
                                   size_t why_len)
{
    Renkei__V1__ClientFrame *m;
    rk_wire_err err = RK_WIRE_OK;

    memset(f, 0, sizeof *f);
    unpack_oom = false;
    m = renkei__v1__client_frame__unpack(&wiping, len, buf);
    if (m == NULL)
        return unpack_failed("frame", why, why_len);
    if (m->version != RK_PROTOCOL_VERSION) {
        rk_why(why, why_len, "%s: unsupported protocol version", "frame");
        renkei__v1__client_frame__free_unpacked(m, &wiping);
        return RK_WIRE_EVERSION;
    }
    switch (m->body_case) {
    case RENKEI__V1__CLIENT_FRAME__BODY_HELLO:
        f->u.hello.receive = m->hello->receive;
        break;
    case RENKEI__V1__CLIENT_FRAME__BODY_SEND:
        err = envelope_from_pb(m->send->envelope, &f->u.send, why, why_len);
        break;
    case RENKEI__V1__CLIENT_FRAME__BODY_ENROLL:
        f->u.enroll.req_id = m->enroll->req_id;
        break;
    case RENKEI__V1__CLIENT_FRAME__BODY_DIRECTORY:
        f->u.directory.req_id = m->directory->req_id;
        break;
    case RENKEI__V1__CLIENT_FRAME__BODY_REJECT:
        if ((err = take_name(f->u.reject.to, m->reject->to, "to", why, why_len)) != RK_WIRE_OK ||
            (err = take_fixed(f->u.reject.msg_id, RK_MSGID_LEN, m->reject->msg_id, "msg_id", why,
                              why_len)) != RK_WIRE_OK)
            break;
        f->u.reject.reason = (rk_status)m->reject->reason;
        take_detail(f->u.reject.detail, m->reject->detail);
        break;
    case RENKEI__V1__CLIENT_FRAME__BODY_ACK:
        if (m->ack->n_seq == 0 || m->ack->n_seq > RK_ACK_MAX) {
            rk_why(why, why_len, "field '%s' must hold 1 to %d sequence numbers", "ack.seq", RK_ACK_MAX);
            err = RK_WIRE_EFIELD;
            break;
        }
        f->u.ack.n = m->ack->n_seq;
        memcpy(f->u.ack.seq, m->ack->seq, m->ack->n_seq * sizeof(uint64_t));
        break;
    case RENKEI__V1__CLIENT_FRAME__BODY_LOG_READ:
        if (m->log_read->count == 0 || m->log_read->count > RK_LOG_READ_MAX) {
            rk_why(why, why_len, "field '%s' must be 1 to %d", "log_read.count", RK_LOG_READ_MAX);
            err = RK_WIRE_EFIELD;
            break;
        }
        f->u.log_read.req_id = m->log_read->req_id;
        f->u.log_read.start = m->log_read->start;
        f->u.log_read.count = m->log_read->count;
        break;
    case RENKEI__V1__CLIENT_FRAME__BODY_CHECKPOINT:
        f->u.checkpoint.req_id = m->checkpoint->req_id;
        break;
    case RENKEI__V1__CLIENT_FRAME__BODY_PROOF:
        f->u.proof.req_id = m->proof->req_id;
        f->u.proof.index = m->proof->index;
        f->u.proof.tree_size = m->proof->tree_size;
        f->u.proof.old_size = m->proof->old_size;
        break;
    case RENKEI__V1__CLIENT_FRAME__BODY_DISCLOSE:
        f->u.disclose.req_id = m->disclose->req_id;
        err = take_fixed(f->u.disclose.code, RK_CODE_LEN, m->disclose->code, "code", why, why_len);
        break;
    default:
        rk_why(why, why_len, "%s has no body", "frame");
        err = RK_WIRE_EFIELD;
        break;
    }
    if (err == RK_WIRE_OK)
        f->kind = (rk_cf_kind)m->body_case;
    else
        memset(f, 0, sizeof *f);
    renkei__v1__client_frame__free_unpacked(m, &wiping);
    return err;
}

/* ------------------------------------------------------------ hub -> agent */

void rk_hub_frame_clear(rk_hub_frame_t *f)
{
    if (f == NULL)
        return;
    if (f->kind == RK_HF_DELIVER)
        rk_envelope_clear(&f->u.deliver.envelope);
    else if (f->kind == RK_HF_DIRECTORY)
        free(f->u.directory.body);
    else if (f->kind == RK_HF_CHECKPOINT)
        free(f->u.checkpoint.note);
    else if (f->kind == RK_HF_PROOF)
        free(f->u.proof.entry);
    else if (f->kind == RK_HF_LOG) {
        for (size_t i = 0; i < f->u.log.n; i++)
            if (f->u.log.entry != NULL)
                free(f->u.log.entry[i]);
        free(f->u.log.entry);
        free(f->u.log.entry_len);
        free(f->u.log.index);
    }
    sodium_memzero(f, sizeof *f); /* an enrollment's code */
}

rk_wire_err rk_hub_frame_encode(const rk_hub_frame_t *f, uint8_t **out, size_t *out_len)
{
    Renkei__V1__HubFrame m = RENKEI__V1__HUB_FRAME__INIT;
    Renkei__V1__Welcome welcome = RENKEI__V1__WELCOME__INIT;
    Renkei__V1__HubKeyStatement welcome_hk = RENKEI__V1__HUB_KEY_STATEMENT__INIT;
    Renkei__V1__Result result = RENKEI__V1__RESULT__INIT;
    Renkei__V1__Deliver deliver = RENKEI__V1__DELIVER__INIT;
    Renkei__V1__Envelope env = RENKEI__V1__ENVELOPE__INIT;
    Renkei__V1__Enrolled enrolled = RENKEI__V1__ENROLLED__INIT;
    Renkei__V1__Directory dir = RENKEI__V1__DIRECTORY__INIT;
    Renkei__V1__Notice notice = RENKEI__V1__NOTICE__INIT;
    Renkei__V1__LogEntries log = RENKEI__V1__LOG_ENTRIES__INIT;
    Renkei__V1__CheckpointNote cpn = RENKEI__V1__CHECKPOINT_NOTE__INIT;
    Renkei__V1__Proof proof = RENKEI__V1__PROOF__INIT;
    ProtobufCBinaryData *bins = NULL;
    rk_wire_err err;

    m.version = RK_PROTOCOL_VERSION;
    switch (f->kind) {
    case RK_HF_WELCOME:
        welcome.org = (char *)f->u.welcome.org;
        welcome.kind = (char *)f->u.welcome.kind;
        welcome.hub_time_ms = f->u.welcome.hub_time_ms;
        welcome.max_payload = f->u.welcome.max_payload;
        welcome.restored_at = f->u.welcome.restored_at;
        welcome.restored_backup_ms = f->u.welcome.restored_backup_ms;
        if (f->u.welcome.has_hub_key) {
            hub_key_to_pb(&f->u.welcome.hub_key, &welcome_hk);
            welcome.hub_key = &welcome_hk;
        }
        m.body_case = RENKEI__V1__HUB_FRAME__BODY_WELCOME;
        m.welcome = &welcome;
        break;
    case RK_HF_RESULT:
        if (f->u.result.has_msg_id)
            result.msg_id = bin(f->u.result.msg_id, RK_MSGID_LEN);
        result.status = (Renkei__V1__Status)f->u.result.status;
        result.detail = (char *)f->u.result.detail;
        result.seq = f->u.result.seq;
        result.peer = (char *)f->u.result.peer;
        result.cause = (Renkei__V1__Status)f->u.result.cause;
        result.log_size = f->u.result.log_size;
        if (f->u.result.has_recipient_key)
            result.recipient_key = bin(f->u.result.recipient_key, RK_KEY_LEN);
        m.body_case = RENKEI__V1__HUB_FRAME__BODY_RESULT;
        m.result = &result;
        break;
    case RK_HF_DELIVER:
        envelope_to_pb(&f->u.deliver.envelope, &env);
        deliver.envelope = &env;
        deliver.first_contact = f->u.deliver.first_contact;
        deliver.seq = f->u.deliver.seq;
        m.body_case = RENKEI__V1__HUB_FRAME__BODY_DELIVER;
        m.deliver = &deliver;
        break;
    case RK_HF_ENROLLED:
        enrolled.req_id = f->u.enrolled.req_id;
        enrolled.status = (Renkei__V1__Status)f->u.enrolled.status;
        if (f->u.enrolled.status == RK_ST_ACCEPTED)
            enrolled.code = bin(f->u.enrolled.code, RK_CODE_LEN);
        enrolled.detail = (char *)f->u.enrolled.detail;
        m.body_case = RENKEI__V1__HUB_FRAME__BODY_ENROLLED;
        m.enrolled = &enrolled;
        break;
    case RK_HF_DIRECTORY:
        dir.req_id = f->u.directory.req_id;
        dir.body = bin(f->u.directory.body, f->u.directory.body_len);
        dir.signature = bin(f->u.directory.signature, RK_SIG_LEN);
        m.body_case = RENKEI__V1__HUB_FRAME__BODY_DIRECTORY;
        m.directory = &dir;
        break;
    case RK_HF_NOTICE:
        notice.seq = f->u.notice.seq;
        notice.msg_id = bin(f->u.notice.msg_id, RK_MSGID_LEN);
        notice.status = (Renkei__V1__Status)f->u.notice.status;
        notice.peer = (char *)f->u.notice.peer;
        notice.cause = (Renkei__V1__Status)f->u.notice.cause;
        notice.detail = (char *)f->u.notice.detail;
        notice.time_ms = f->u.notice.time_ms;
        notice.msg_seq = f->u.notice.msg_seq;
        m.body_case = RENKEI__V1__HUB_FRAME__BODY_NOTICE;
        m.notice = &notice;
        break;
    case RK_HF_LOG:
        log.req_id = f->u.log.req_id;
        log.status = (Renkei__V1__Status)f->u.log.status;
        log.detail = (char *)f->u.log.detail;
        log.tree_size = f->u.log.tree_size;
        if (f->u.log.n > 0) {
            bins = calloc(f->u.log.n, sizeof *bins);
            if (bins == NULL)
                return RK_WIRE_ENOMEM;
            for (size_t i = 0; i < f->u.log.n; i++)
                bins[i] = bin(f->u.log.entry[i], f->u.log.entry_len[i]);
        }
        log.n_index = f->u.log.n;
        log.index = f->u.log.index;
        log.n_entry = f->u.log.n;
        log.entry = bins;
        m.body_case = RENKEI__V1__HUB_FRAME__BODY_LOG;
        m.log = &log;
        break;
    case RK_HF_CHECKPOINT:
        cpn.req_id = f->u.checkpoint.req_id;
        cpn.status = (Renkei__V1__Status)f->u.checkpoint.status;
        cpn.note = f->u.checkpoint.note ? f->u.checkpoint.note : "";
        m.body_case = RENKEI__V1__HUB_FRAME__BODY_CHECKPOINT;
        m.checkpoint = &cpn;
        break;
    case RK_HF_PROOF:
        if (f->u.proof.n > RK_PROOF_MAX)
            return RK_WIRE_EFIELD;
        proof.req_id = f->u.proof.req_id;
        proof.status = (Renkei__V1__Status)f->u.proof.status;
        proof.detail = (char *)f->u.proof.detail;
        proof.index = f->u.proof.index;
        proof.tree_size = f->u.proof.tree_size;
        proof.old_size = f->u.proof.old_size;
        if (f->u.proof.n > 0) {
            bins = calloc(f->u.proof.n, sizeof *bins);
            if (bins == NULL)
                return RK_WIRE_ENOMEM;
            for (size_t i = 0; i < f->u.proof.n; i++)
                bins[i] = bin(f->u.proof.hash[i], RK_HASH_LEN);
        }
        proof.n_hash = f->u.proof.n;
        proof.hash = bins;
        if (f->u.proof.entry != NULL)
            proof.entry = bin(f->u.proof.entry, f->u.proof.entry_len);
        m.body_case = RENKEI__V1__HUB_FRAME__BODY_PROOF;
        m.proof = &proof;
        break;
    default:
        return RK_WIRE_EFIELD;
    }
    err = pack(&m.base, out, out_len);
    free(bins);
    return err;
}

static rk_wire_err take_optional_name(char *dst, const char *src, const char *field, char *why,
                                      size_t why_len)
{
    if (src == NULL || src[0] == '\0') {
        dst[0] = '\0';
        return RK_WIRE_OK;
    }
    return take_name(dst, src, field, why, why_len);
}

static rk_wire_err log_from_pb(const Renkei__V1__LogEntries *m, rk_hub_frame_t *f, char *why, size_t why_len)
{
    size_t n = m->n_entry;
    f->u.log.req_id = m->req_id;
    f->u.log.status = (rk_status)m->status;
    take_detail(f->u.log.detail, m->detail);
    f->u.log.tree_size = m->tree_size;
    if (m->n_index != n || n > RK_LOG_READ_MAX) {
        rk_why(why, why_len, "%s: entries and indexes do not match", "log");
        return RK_WIRE_EFIELD;
    }
    if (n == 0)
        return RK_WIRE_OK;
    f->u.log.index = calloc(n, sizeof *f->u.log.index);
    f->u.log.entry = calloc(n, sizeof *f->u.log.entry);
    f->u.log.entry_len = calloc(n, sizeof *f->u.log.entry_len);
    if (f->u.log.index == NULL || f->u.log.entry == NULL || f->u.log.entry_len == NULL)
        return RK_WIRE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        f->u.log.n = i + 1; /* so that clear frees what was copied */
        f->u.log.index[i] = m->index[i];
        f->u.log.entry[i] = dup_bytes(m->entry[i].data, m->entry[i].len);
        if (f->u.log.entry[i] == NULL)
            return RK_WIRE_ENOMEM;
        f->u.log.entry_len[i] = m->entry[i].len;
    }
    return RK_WIRE_OK;
}

static const char *const event_names[] = {
    [RK_EV_ACCEPTED] = "accepted",
    [RK_EV_REFUSED] = "refused",
    [RK_EV_DELIVERED] = "delivered",
    [RK_EV_EXPIRED] = "expired",
    [RK_EV_REFUSED_BY_RECIPIENT] = "refused-by-recipient",
    [RK_EV_FIRST_CONTACT] = "first-contact",
    [RK_EV_ENROLLED] = "enrolled",
    [RK_EV_ORG_REGISTERED] = "org-registered",
    [RK_EV_ORG_SUSPENDED] = "org-suspended",
    [RK_EV_ORG_REACTIVATED] = "org-reactivated",
    [RK_EV_ORG_KEY_CHANGED] = "org-key-changed",
    [RK_EV_CODE_FOUND] = "code-found",
    [RK_EV_CATALOGUE_SET] = "catalogue-set",
    [RK_EV_CATALOGUE_REMOVED] = "catalogue-removed",
    [RK_EV_OPERATOR_ADDED] = "operator-added",
    [RK_EV_OPERATOR_REVOKED] = "operator-revoked",
    [RK_EV_MASTER_RESEALED] = "master-resealed",
    [RK_EV_HUB_KEY_ANNOUNCED] = "hub-key-announced",
    [RK_EV_RESTORED] = "restored",
};

/* true for a value that names an event this code knows (the values have gaps). */
static bool event_known(unsigned ev)
{
    return ev >= 1 && ev <= RK_EV_LAST && event_names[ev] != NULL;
}

const char *rk_log_event_name(rk_log_event ev)
{
    if (!event_known((unsigned)ev))
        return "unknown";
    return event_names[ev];
}

/* ------------------------------------------------------------------ hub key */

void rk_hub_key_stmt_bytes(const rk_hub_key_stmt_t *s, uint8_t out[RK_HUB_KEY_SIGNED_LEN])
{
    size_t at = sizeof RK_HUB_KEY_DOMAIN; /* the domain and its 0x00 */
    memcpy(out, RK_HUB_KEY_DOMAIN, at);
    memcpy(out + at, s->old_key, RK_KEY_LEN);
    at += RK_KEY_LEN;
    memcpy(out + at, s->new_key, RK_KEY_LEN);
    at += RK_KEY_LEN;
    for (int i = 0; i < 8; i++)
        out[at + (size_t)i] = (uint8_t)(s->time_ms >> (56 - 8 * i));
}

rk_wire_err rk_hub_key_stmt_sign(const uint8_t old_sk[64], const uint8_t new_key[RK_KEY_LEN],
                                 uint64_t time_ms, rk_hub_key_stmt_t *s)
{
    uint8_t m[RK_HUB_KEY_SIGNED_LEN];

    memset(s, 0, sizeof *s);
    memcpy(s->old_key, old_sk + 32, RK_KEY_LEN);
    if (sodium_memcmp(s->old_key, new_key, RK_KEY_LEN) == 0)
        return RK_WIRE_EFIELD;
    memcpy(s->new_key, new_key, RK_KEY_LEN);
    s->time_ms = time_ms;
    rk_hub_key_stmt_bytes(s, m);
    crypto_sign_detached(s->signature, NULL, m, sizeof m, old_sk);
    return RK_WIRE_OK;
}

rk_wire_err rk_hub_key_stmt_verify(const rk_hub_key_stmt_t *s, const uint8_t *old_key)
{
    uint8_t m[RK_HUB_KEY_SIGNED_LEN];

    if (old_key != NULL && sodium_memcmp(s->old_key, old_key, RK_KEY_LEN) != 0)
        return RK_WIRE_ESIG;
    if (sodium_memcmp(s->old_key, s->new_key, RK_KEY_LEN) == 0)
        return RK_WIRE_ESIG;
    rk_hub_key_stmt_bytes(s, m);
    return crypto_sign_verify_detached(s->signature, m, sizeof m, s->old_key) == 0 ? RK_WIRE_OK
                                                                                   : RK_WIRE_ESIG;
}

static void hub_key_to_pb(const rk_hub_key_stmt_t *s, Renkei__V1__HubKeyStatement *pb)
{
    pb->old_key = bin(s->old_key, RK_KEY_LEN);
    pb->new_key = bin(s->new_key, RK_KEY_LEN);
    pb->time_ms = s->time_ms;
    pb->signature = bin(s->signature, RK_SIG_LEN);
}

/* Copies a statement's fields (not checking its signature: the reader does,
 * under the key it trusts). */
static rk_wire_err hub_key_from_pb(const Renkei__V1__HubKeyStatement *pb, rk_hub_key_stmt_t *s, char *why,
                                   size_t why_len)
{
    rk_wire_err err;
    if ((err = take_fixed(s->old_key, RK_KEY_LEN, pb->old_key, "hub_key.old_key", why, why_len)) !=
            RK_WIRE_OK ||
        (err = take_fixed(s->new_key, RK_KEY_LEN, pb->new_key, "hub_key.new_key", why, why_len)) !=
            RK_WIRE_OK ||
        (err = take_fixed(s->signature, RK_SIG_LEN, pb->signature, "hub_key.signature", why, why_len)) !=
            RK_WIRE_OK)
        return err;
    s->time_ms = pb->time_ms;
    return RK_WIRE_OK;
}

#define OPERATOR_SIG_FIELD_LEN (2 + 1 + RK_SIG_LEN) /* tag 18 (2 bytes), length 64 (1 byte), signature */

rk_wire_err rk_log_entry_encode(const rk_log_entry_t *e, uint8_t **out, size_t *out_len)
{
    Renkei__V1__LogEntry m = RENKEI__V1__LOG_ENTRY__INIT;
    Renkei__V1__HubKeyStatement hk = RENKEI__V1__HUB_KEY_STATEMENT__INIT;
    rk_wire_err err;
    uint8_t *buf;
    if (!event_known((unsigned)e->event))
        return RK_WIRE_EFIELD;
    m.version = RK_PROTOCOL_VERSION;
    m.time_ms = e->time_ms;
    m.event = (Renkei__V1__LogEvent)e->event;
    m.seq = e->seq;
    m.from = (char *)e->from;
    m.to = (char *)e->to;
    m.type = (char *)e->type;
    if (e->has_msg_id)
        m.msg_id = bin(e->msg_id, RK_MSGID_LEN);
    if (e->has_reply_to)
        m.reply_to = bin(e->reply_to, RK_MSGID_LEN);
    m.outcome = (Renkei__V1__Status)e->outcome;
    m.size = e->size;
    m.kind = (char *)e->kind;
    m.count = e->count;
    m.section = (char *)e->section;
    if (e->has_digest)
        m.digest = bin(e->digest, RK_DIGEST_LEN);
    m.operator_ = (char *)e->operator_name;
    if (e->has_key)
        m.key = bin(e->key, RK_KEY_LEN);
    m.previous_until_ms = e->previous_until_ms;
    m.backup_ms = e->backup_ms;
    if (e->has_hub_key) {
        hub_key_to_pb(&e->hub_key, &hk);
        m.hub_key = &hk;
    }
    if ((err = pack(&m.base, out, out_len)) != RK_WIRE_OK || !e->has_operator_sig)
        return err;
    /* operator_sig goes last whatever its field number (see rk_log_entry_sign) */
    if ((buf = realloc(*out, *out_len + OPERATOR_SIG_FIELD_LEN)) == NULL) {
        free(*out);
        *out = NULL;
        return RK_WIRE_ENOMEM;
    }
    buf[*out_len] = 0x92;
    buf[*out_len + 1] = 0x01;
    buf[*out_len + 2] = RK_SIG_LEN;
    memcpy(buf + *out_len + 3, e->operator_sig, RK_SIG_LEN);
    *out = buf;
    *out_len += OPERATOR_SIG_FIELD_LEN;
    return RK_WIRE_OK;
}

#define SIG_DOMAIN_OPERATOR "renkei-operator-v1"

rk_wire_err rk_log_entry_sign(const rk_log_entry_t *e, const uint8_t operator_sk[64], uint8_t **out,
                              size_t *out_len)
{
    rk_log_entry_t unsigned_e = *e;
    uint8_t *body = NULL, *buf;
    size_t len = 0;
    rk_wire_err err;

    unsigned_e.has_operator_sig = false;
    if (e->operator_name[0] == '\0')
        return RK_WIRE_EFIELD;
    if ((err = rk_log_entry_encode(&unsigned_e, &body, &len)) != RK_WIRE_OK)
        return err;
    buf = malloc(len + OPERATOR_SIG_FIELD_LEN);
    if (buf == NULL) {
        free(body);
        return RK_WIRE_ENOMEM;
    }
    memcpy(buf, body, len);
    free(body);
    buf[len] = 0x92; /* field 18, length-delimited: (18 << 3 | 2) as a varint is 0x92 0x01 */
    buf[len + 1] = 0x01;
    buf[len + 2] = RK_SIG_LEN;
    if ((err = sign_detached(SIG_DOMAIN_OPERATOR, buf, len, operator_sk, buf + len + 3)) != RK_WIRE_OK) {
        free(buf);
        return err;
    }
    *out = buf;
    *out_len = len + OPERATOR_SIG_FIELD_LEN;
    return RK_WIRE_OK;
}

rk_wire_err rk_log_entry_verify_operator(const uint8_t *buf, size_t len,
                                         const uint8_t operator_pk[RK_KEY_LEN])
{
    if (len <= OPERATOR_SIG_FIELD_LEN || buf[len - OPERATOR_SIG_FIELD_LEN] != 0x92 ||
        buf[len - OPERATOR_SIG_FIELD_LEN + 1] != 0x01 || buf[len - OPERATOR_SIG_FIELD_LEN + 2] != RK_SIG_LEN)
        return RK_WIRE_ESIG;
    return verify_detached(SIG_DOMAIN_OPERATOR, buf, len - OPERATOR_SIG_FIELD_LEN, buf + len - RK_SIG_LEN,
                           operator_pk);
}

/* "" or "procedure NAME", "group NAME", "grant ORG PROCEDURE" with valid names. */
static bool section_valid(const char *s)
{
    char buf[RK_SECTION_MAX + 1], *save = NULL, *w1, *w2, *w3, *w4;

    if (*s == '\0')
        return true;
    if (strlen(s) > RK_SECTION_MAX)
        return false;
    memcpy(buf, s, strlen(s) + 1);
    w1 = strtok_r(buf, " ", &save);
    w2 = strtok_r(NULL, " ", &save);
    w3 = strtok_r(NULL, " ", &save);
    w4 = strtok_r(NULL, " ", &save);
    if (w1 == NULL || w2 == NULL || w4 != NULL || !rk_valid_name(w2))
        return false;
    if (strcmp(w1, "grant") == 0)
        return w3 != NULL && rk_valid_name(w3);
    return w3 == NULL && (strcmp(w1, "procedure") == 0 || strcmp(w1, "group") == 0);
}

rk_wire_err rk_log_entry_decode(const uint8_t *buf, size_t len, rk_log_entry_t *e, char *why, size_t why_len)
{
    Renkei__V1__LogEntry *m;
    rk_wire_err err = RK_WIRE_OK;

    memset(e, 0, sizeof *e);
    unpack_oom = false;
    m = renkei__v1__log_entry__unpack(&wiping, len, buf);
    if (m == NULL)
        return unpack_failed("log entry", why, why_len);
    if (m->version != RK_PROTOCOL_VERSION) {
        rk_why(why, why_len, "%s: unsupported protocol version", "log entry");
        err = RK_WIRE_EVERSION;
    } else if (!event_known((unsigned)m->event)) {
        rk_why(why, why_len, "field '%s' is out of range", "event");
        err = RK_WIRE_EFIELD;
    } else if ((err = take_optional_name(e->from, m->from, "from", why, why_len)) != RK_WIRE_OK ||
               (err = take_optional_name(e->to, m->to, "to", why, why_len)) != RK_WIRE_OK ||
               (err = take_optional_name(e->type, m->type, "type", why, why_len)) != RK_WIRE_OK) {
        /* why is set */
    } else if (strlen(m->kind) > RK_KIND_MAX) {
        rk_why(why, why_len, "field '%s' is too long", "kind");
        err = RK_WIRE_EFIELD;
    } else if (!section_valid(m->section)) {
        rk_why(why, why_len, "field '%s' is not a catalogue section key", "section");
        err = RK_WIRE_EFIELD;
    } else {
        if (m->digest.len != 0 &&
            (err = take_fixed(e->digest, RK_DIGEST_LEN, m->digest, "digest", why, why_len)) == RK_WIRE_OK)
            e->has_digest = true;
        strcpy(e->section, m->section);
        if (err == RK_WIRE_OK && m->key.len != 0 &&
            (err = take_fixed(e->key, RK_KEY_LEN, m->key, "key", why, why_len)) == RK_WIRE_OK)
            e->has_key = true;
        e->previous_until_ms = m->previous_until_ms;
        e->backup_ms = m->backup_ms;
        if (err == RK_WIRE_OK && m->operator_sig.len != 0 &&
            (err = take_fixed(e->operator_sig, RK_SIG_LEN, m->operator_sig, "operator_sig", why, why_len)) ==
                RK_WIRE_OK)
            e->has_operator_sig = true;
        if (err == RK_WIRE_OK && (err = take_optional_name(e->operator_name, m->operator_, "operator", why,
                                                           why_len)) != RK_WIRE_OK) {
            /* why is set */
        }
        if (err == RK_WIRE_OK && m->msg_id.len != 0 &&
            (err = take_fixed(e->msg_id, RK_MSGID_LEN, m->msg_id, "msg_id", why, why_len)) == RK_WIRE_OK)
            e->has_msg_id = true;
        if (err == RK_WIRE_OK && m->hub_key != NULL &&
            (err = hub_key_from_pb(m->hub_key, &e->hub_key, why, why_len)) == RK_WIRE_OK)
            e->has_hub_key = true;
        if (err == RK_WIRE_OK && m->reply_to.len != 0 &&
            (err = take_fixed(e->reply_to, RK_MSGID_LEN, m->reply_to, "reply_to", why, why_len)) == RK_WIRE_OK)
            e->has_reply_to = true;
        strcpy(e->kind, m->kind);
        e->time_ms = m->time_ms;
        e->event = (rk_log_event)m->event;
        e->seq = m->seq;
        e->outcome = (rk_status)m->outcome;
        e->size = m->size;
        e->count = m->count;
    }
    renkei__v1__log_entry__free_unpacked(m, &wiping);
    if (err != RK_WIRE_OK)
        memset(e, 0, sizeof *e);
    return err;
}

rk_wire_err rk_hub_frame_decode(const uint8_t *buf, size_t len, rk_hub_frame_t *f, char *why,
                                size_t why_len)
{
    Renkei__V1__HubFrame *m;
    rk_wire_err err = RK_WIRE_OK;

    memset(f, 0, sizeof *f);
    unpack_oom = false;
    m = renkei__v1__hub_frame__unpack(&wiping, len, buf);
    if (m == NULL)
        return unpack_failed("frame", why, why_len);
    if (m->version != RK_PROTOCOL_VERSION) {
        rk_why(why, why_len, "%s: unsupported protocol version", "frame");
        renkei__v1__hub_frame__free_unpacked(m, &wiping);
        return RK_WIRE_EVERSION;
    }
    switch (m->body_case) {
    case RENKEI__V1__HUB_FRAME__BODY_WELCOME:
        if ((err = take_name(f->u.welcome.org, m->welcome->org, "org", why, why_len)) != RK_WIRE_OK)
            break;
        if (strlen(m->welcome->kind) > RK_KIND_MAX) {
            rk_why(why, why_len, "field '%s' is too long", "kind");
            err = RK_WIRE_EFIELD;
            break;
        }
        strcpy(f->u.welcome.kind, m->welcome->kind);
        f->u.welcome.hub_time_ms = m->welcome->hub_time_ms;
        f->u.welcome.max_payload = m->welcome->max_payload;
        f->u.welcome.restored_at = m->welcome->restored_at;
        f->u.welcome.restored_backup_ms = m->welcome->restored_backup_ms;
        if (m->welcome->hub_key != NULL) {
            if ((err = hub_key_from_pb(m->welcome->hub_key, &f->u.welcome.hub_key, why, why_len)) !=
                RK_WIRE_OK)
                break;
            f->u.welcome.has_hub_key = true;
        }
        break;
    case RENKEI__V1__HUB_FRAME__BODY_RESULT:
        if (m->result->msg_id.len != 0) {
            err = take_fixed(f->u.result.msg_id, RK_MSGID_LEN, m->result->msg_id, "msg_id", why, why_len);
            if (err != RK_WIRE_OK)
                break;
            f->u.result.has_msg_id = true;
        }
        if ((err = take_optional_name(f->u.result.peer, m->result->peer, "peer", why, why_len)) != RK_WIRE_OK)
            break;
        f->u.result.status = (rk_status)m->result->status;
        f->u.result.cause = (rk_status)m->result->cause;
        f->u.result.seq = m->result->seq;
        f->u.result.log_size = m->result->log_size;
        if (m->result->recipient_key.len != 0) {
            err = take_fixed(f->u.result.recipient_key, RK_KEY_LEN, m->result->recipient_key, "recipient_key",
                             why, why_len);
            if (err != RK_WIRE_OK)
                break;
            f->u.result.has_recipient_key = true;
        }
        take_detail(f->u.result.detail, m->result->detail);
        break;
    case RENKEI__V1__HUB_FRAME__BODY_DELIVER:
        err = envelope_from_pb(m->deliver->envelope, &f->u.deliver.envelope, why, why_len);
        f->u.deliver.first_contact = m->deliver->first_contact;
        f->u.deliver.seq = m->deliver->seq;
        break;
    case RENKEI__V1__HUB_FRAME__BODY_ENROLLED:
        f->u.enrolled.req_id = m->enrolled->req_id;
        f->u.enrolled.status = (rk_status)m->enrolled->status;
        if (f->u.enrolled.status == RK_ST_ACCEPTED)
            err = take_fixed(f->u.enrolled.code, RK_CODE_LEN, m->enrolled->code, "code", why, why_len);
        take_detail(f->u.enrolled.detail, m->enrolled->detail);
        break;
    case RENKEI__V1__HUB_FRAME__BODY_DIRECTORY:
        f->u.directory.req_id = m->directory->req_id;
        if ((err = take_fixed(f->u.directory.signature, RK_SIG_LEN, m->directory->signature,
                              "signature", why, why_len)) != RK_WIRE_OK)
            break;
        f->u.directory.body = dup_bytes(m->directory->body.data, m->directory->body.len);
        if (f->u.directory.body == NULL) {
            err = RK_WIRE_ENOMEM;
            break;
        }
        f->u.directory.body_len = m->directory->body.len;
        break;
    case RENKEI__V1__HUB_FRAME__BODY_NOTICE:
        f->u.notice.seq = m->notice->seq;
        if ((err = take_fixed(f->u.notice.msg_id, RK_MSGID_LEN, m->notice->msg_id, "msg_id", why,
                              why_len)) != RK_WIRE_OK ||
            (err = take_optional_name(f->u.notice.peer, m->notice->peer, "peer", why, why_len)) != RK_WIRE_OK)
            break;
        f->u.notice.status = (rk_status)m->notice->status;
        f->u.notice.cause = (rk_status)m->notice->cause;
        take_detail(f->u.notice.detail, m->notice->detail);
        f->u.notice.time_ms = m->notice->time_ms;
        f->u.notice.msg_seq = m->notice->msg_seq;
        break;
    case RENKEI__V1__HUB_FRAME__BODY_LOG:
        err = log_from_pb(m->log, f, why, why_len);
        break;
    case RENKEI__V1__HUB_FRAME__BODY_CHECKPOINT:
        f->u.checkpoint.req_id = m->checkpoint->req_id;
        f->u.checkpoint.status = (rk_status)m->checkpoint->status;
        f->u.checkpoint.note = strdup(m->checkpoint->note ? m->checkpoint->note : "");
        if (f->u.checkpoint.note == NULL)
            err = RK_WIRE_ENOMEM;
        break;
    case RENKEI__V1__HUB_FRAME__BODY_PROOF:
        if (m->proof->n_hash > RK_PROOF_MAX) {
            rk_why(why, why_len, "field '%s' has too many hashes", "proof.hash");
            err = RK_WIRE_EFIELD;
            break;
        }
        f->u.proof.req_id = m->proof->req_id;
        f->u.proof.status = (rk_status)m->proof->status;
        take_detail(f->u.proof.detail, m->proof->detail);
        f->u.proof.index = m->proof->index;
        f->u.proof.tree_size = m->proof->tree_size;
        f->u.proof.old_size = m->proof->old_size;
        for (size_t i = 0; i < m->proof->n_hash && err == RK_WIRE_OK; i++)
            err = take_fixed(f->u.proof.hash[i], RK_HASH_LEN, m->proof->hash[i], "proof.hash", why, why_len);
        f->u.proof.n = m->proof->n_hash;
        if (err == RK_WIRE_OK && m->proof->entry.len > 0) {
            f->u.proof.entry = dup_bytes(m->proof->entry.data, m->proof->entry.len);
            if (f->u.proof.entry == NULL)
                err = RK_WIRE_ENOMEM;
            else
                f->u.proof.entry_len = m->proof->entry.len;
        }
        break;
    default:
        rk_why(why, why_len, "%s has no body", "frame");
        err = RK_WIRE_EFIELD;
        break;
    }
    if (err == RK_WIRE_OK) {
        f->kind = (rk_hf_kind)m->body_case;
    } else {
        f->kind = (rk_hf_kind)m->body_case;
        rk_hub_frame_clear(f);
    }
    renkei__v1__hub_frame__free_unpacked(m, &wiping);
    return err;
}

/* ---------------------------------------------------------------- directory */

void rk_dir_clear(rk_dir_t *dir)
{
    if (dir == NULL)
        return;
    free(dir->orgs);
    free(dir->catalogue);
    memset(dir, 0, sizeof *dir);
}

rk_wire_err rk_dir_seal(const rk_dir_t *dir, const uint8_t hub_sign_sk[64], uint64_t req_id,
                        rk_hub_frame_t *f)
{
    Renkei__V1__DirectoryBody body = RENKEI__V1__DIRECTORY_BODY__INIT;
    Renkei__V1__DirectoryEntry *entries = NULL;
    Renkei__V1__DirectoryEntry **ptrs = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    rk_wire_err err = RK_WIRE_ENOMEM;

    if (dir->n > 0) {
        entries = calloc(dir->n, sizeof *entries);
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
        ptrs = calloc(dir->n, sizeof *ptrs);
        if (entries == NULL || ptrs == NULL)
            goto done;
    }
    for (size_t i = 0; i < dir->n; i++) {
        Renkei__V1__DirectoryEntry e = RENKEI__V1__DIRECTORY_ENTRY__INIT;
        e.id = (char *)dir->orgs[i].id;
        e.kind = (char *)dir->orgs[i].kind;
        e.status = dir->orgs[i].active ? "active" : "suspended";
        e.sign_key = bin(dir->orgs[i].sign_key, RK_KEY_LEN);
        if (dir->orgs[i].has_prev) {
            e.previous_sign_key = bin(dir->orgs[i].prev_sign_key, RK_KEY_LEN);
            e.previous_until_ms = dir->orgs[i].prev_until_ms;
        }
        entries[i] = e;
        ptrs[i] = &entries[i];
    }
    body.version = RK_PROTOCOL_VERSION;
    body.time_ms = dir->time_ms;
    body.n_org = dir->n;
    body.org = ptrs;
    if (dir->catalogue != NULL)
        body.catalogue = dir->catalogue;
    if ((err = pack(&body.base, &buf, &len)) != RK_WIRE_OK)
        goto done;
    memset(f, 0, sizeof *f);
    f->kind = RK_HF_DIRECTORY;
    f->u.directory.req_id = req_id;
    if ((err = sign_detached(SIG_DOMAIN_DIRECTORY, buf, len, hub_sign_sk,
                             f->u.directory.signature)) != RK_WIRE_OK) {
        free(buf);
        memset(f, 0, sizeof *f);
        goto done;
    }
    f->u.directory.body = buf;
    f->u.directory.body_len = len;
done:
    free(entries);
    free(ptrs);
    return err;
}

rk_wire_err rk_dir_open(const uint8_t *body, size_t body_len, const uint8_t signature[RK_SIG_LEN],
                        const uint8_t hub_sign_pk[RK_KEY_LEN], rk_dir_t *dir)
{
    Renkei__V1__DirectoryBody *m;
    rk_wire_err err;

    memset(dir, 0, sizeof *dir);
    err = verify_detached(SIG_DOMAIN_DIRECTORY, body, body_len, signature, hub_sign_pk);
    if (err != RK_WIRE_OK)
        return err;
    unpack_oom = false;
    m = renkei__v1__directory_body__unpack(&wiping, body_len, body);
    if (m == NULL)
        return unpack_oom ? RK_WIRE_ENOMEM : RK_WIRE_EDECODE;
    if (m->version != RK_PROTOCOL_VERSION) {
        err = RK_WIRE_EVERSION;
        goto fail;
    }
    dir->time_ms = m->time_ms;
    if (m->n_org > 0) {
        dir->orgs = calloc(m->n_org, sizeof *dir->orgs);
        if (dir->orgs == NULL) {
            err = RK_WIRE_ENOMEM;
            goto fail;
        }
    }
    for (size_t i = 0; i < m->n_org; i++) {
        rk_dir_entry_t *e = &dir->orgs[i];
        const Renkei__V1__DirectoryEntry *s = m->org[i];
        if ((err = take_name(e->id, s->id, "id", NULL, 0)) != RK_WIRE_OK ||
            (err = take_fixed(e->sign_key, RK_KEY_LEN, s->sign_key, "sign_key", NULL, 0)) != RK_WIRE_OK)
            goto fail;
        if (strlen(s->kind) > RK_KIND_MAX) {
            err = RK_WIRE_EFIELD;
            goto fail;
        }
        strcpy(e->kind, s->kind);
        e->active = strcmp(s->status, "active") == 0;
        if (s->previous_sign_key.len > 0 || s->previous_until_ms != 0) {
            if ((err = take_fixed(e->prev_sign_key, RK_KEY_LEN, s->previous_sign_key, "previous_sign_key",
                                  NULL, 0)) != RK_WIRE_OK)
                goto fail;
            e->has_prev = true;
            e->prev_until_ms = s->previous_until_ms;
        }
        dir->n++;
    }
    if (m->catalogue != NULL && m->catalogue[0] != '\0') {
        size_t n = strlen(m->catalogue);
        if (n > RK_CATALOGUE_MAX) {
            err = RK_WIRE_EFIELD;
            goto fail;
        }
        if ((dir->catalogue = malloc(n + 1)) == NULL) {
            err = RK_WIRE_ENOMEM;
            goto fail;
        }
        memcpy(dir->catalogue, m->catalogue, n + 1);
        dir->catalogue_len = n;
    }
    renkei__v1__directory_body__free_unpacked(m, &wiping);
    return RK_WIRE_OK;
fail:
    renkei__v1__directory_body__free_unpacked(m, &wiping);
    rk_dir_clear(dir);
    return err;
}

const rk_dir_entry_t *rk_dir_find(const rk_dir_t *dir, const char *id)
{
    for (size_t i = 0; i < dir->n; i++)
        if (strcmp(dir->orgs[i].id, id) == 0)
            return &dir->orgs[i];
    return NULL;
}
