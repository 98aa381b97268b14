/*
 * test_wire.c - the checked wire protocol (proto/wire.c) against its contract.
 *
 * Round trips build frames with the module's own encoders.  The negative
 * cases build protobuf bytes with a tiny hand-written writer below, so each
 * one differs from a valid message in exactly one field, and prove that the
 * decoders refuse it and name the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "keys.h"
#include "wire.h"

/* ------------------------------------------------- minimal protobuf writer */

typedef struct pbuf {
    uint8_t b[16384];
    size_t n;
} pbuf;

static void pb_varint_raw(pbuf *p, uint64_t v)
{
    do {
        assert_true(p->n < sizeof p->b);
        p->b[p->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
}

static void pb_uint(pbuf *p, unsigned field, uint64_t v)
{
    pb_varint_raw(p, (uint64_t)field << 3);
    pb_varint_raw(p, v);
}

static void pb_bytes(pbuf *p, unsigned field, const void *data, size_t len)
{
    pb_varint_raw(p, ((uint64_t)field << 3) | 2);
    pb_varint_raw(p, len);
    assert_true(p->n + len <= sizeof p->b);
    if (len > 0)
        memcpy(p->b + p->n, data, len);
    p->n += len;
}

static void pb_str(pbuf *p, unsigned field, const char *s)
{
    pb_bytes(p, field, s, strlen(s));
}

static void pb_msg(pbuf *p, unsigned field, const pbuf *sub)
{
    pb_bytes(p, field, sub->b, sub->n);
}

/* An EnvelopeCore as raw fields; core_spec_valid() gives one that decodes. */
typedef struct core_spec {
    uint32_t version;
    const char *from, *to, *type;
    const uint8_t *msg_id;
    size_t msg_id_len;
    const uint8_t *reply_to;
    size_t reply_to_len;
    uint64_t time_ms;
    const uint8_t *what;
    size_t what_len;
} core_spec;

static const uint8_t MSG_ID[17] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                                   0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20};
static const uint8_t REPLY_TO[17] = {0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
                                     0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40};
static const uint8_t WHAT[] = "not-really-ciphertext-but-opaque-to-the-wire";
static const uint8_t WHO[17] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
                                0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0};
static const uint8_t SIG[65] = {1, 2, 3}; /* decoders only check its length */
static const char NAME65[] = "a2345678901234567890123456789012345678901234567890123456789012345";
static const char NAME64[] = "a234567890123456789012345678901234567890123456789012345678901234";

static core_spec core_spec_valid(void)
{
    core_spec s = {
        .version = 1,
        .from = "city.x",
        .to = "power",
        .type = "utility.supply.stop",
        .msg_id = MSG_ID,
        .msg_id_len = 16,
        .reply_to = NULL,
        .reply_to_len = 0,
        .time_ms = 1700000000123ull,
        .what = WHAT,
        .what_len = sizeof WHAT - 1,
    };
    return s;
}

static void core_spec_write(pbuf *p, const core_spec *s)
{
    memset(p, 0, sizeof *p);
    if (s->version != 0)
        pb_uint(p, 1, s->version);
    if (s->from != NULL)
        pb_str(p, 2, s->from);
    if (s->to != NULL)
        pb_str(p, 3, s->to);
    if (s->type != NULL)
        pb_str(p, 4, s->type);
    if (s->msg_id != NULL)
        pb_bytes(p, 5, s->msg_id, s->msg_id_len);
    if (s->reply_to != NULL)
        pb_bytes(p, 6, s->reply_to, s->reply_to_len);
    if (s->time_ms != 0)
        pb_uint(p, 7, s->time_ms);
    if (s->what != NULL)
        pb_bytes(p, 8, s->what, s->what_len);
}

/* Decodes a core built from s; asserts the result and that `why` names
 * `field` (when given).  On failure the core must be left cleared. */
static void expect_core(const core_spec *s, rk_wire_err want, const char *field)
{
    pbuf p;
    rk_core_t c;
    char why[256] = "";
    rk_wire_err err;

    core_spec_write(&p, s);
    memset(&c, 0x5a, sizeof c); /* decode must not trust what it is given */
    err = rk_core_decode(p.b, p.n, &c, why, sizeof why);
    if (err != want)
        fail_msg("core decode: got %s, want %s (why: %s)", rk_wire_strerror(err),
                 rk_wire_strerror(want), why);
    if (field != NULL && strstr(why, field) == NULL)
        fail_msg("reason '%s' does not name the field '%s'", why, field);
    if (want != RK_WIRE_OK) {
        assert_null(c.what);
        assert_int_equal(c.what_len, 0);
        assert_string_equal(c.from, "");
    }
    rk_core_clear(&c);
}

/* A serialized Envelope: valid core bytes and chosen lengths. */
static void envelope_write(pbuf *p, const pbuf *core, size_t sig_len, size_t who_len)
{
    memset(p, 0, sizeof *p);
    if (core != NULL)
        pb_msg(p, 1, core);
    if (sig_len > 0)
        pb_bytes(p, 2, SIG, sig_len);
    if (who_len > 0)
        pb_bytes(p, 3, WHO, who_len);
}

/* ClientFrame{version, send{envelope}} around an Envelope (NULL: send{}). */
static void client_send_write(pbuf *out, uint32_t version, const pbuf *env)
{
    pbuf send;
    memset(&send, 0, sizeof send);
    if (env != NULL)
        pb_msg(&send, 1, env);
    memset(out, 0, sizeof *out);
    if (version != 0)
        pb_uint(out, 1, version);
    pb_msg(out, 3, &send);
}

static void expect_client(const pbuf *p, rk_wire_err want, const char *field)
{
    rk_client_frame_t f;
    char why[256] = "";
    rk_wire_err err;

    memset(&f, 0x5a, sizeof f);
    err = rk_client_frame_decode(p->b, p->n, &f, why, sizeof why);
    if (err != want)
        fail_msg("client frame decode: got %s, want %s (why: %s)", rk_wire_strerror(err),
                 rk_wire_strerror(want), why);
    if (field != NULL && strstr(why, field) == NULL)
        fail_msg("reason '%s' does not name '%s'", why, field);
    if (want != RK_WIRE_OK)
        assert_int_equal(f.kind, RK_CF_NONE);
    rk_client_frame_clear(&f);
}

static void expect_hub(const pbuf *p, rk_wire_err want, const char *field)
{
    rk_hub_frame_t f;
    char why[256] = "";
    rk_wire_err err;

    memset(&f, 0x5a, sizeof f);
    err = rk_hub_frame_decode(p->b, p->n, &f, why, sizeof why);
    if (err != want)
        fail_msg("hub frame decode: got %s, want %s (why: %s)", rk_wire_strerror(err),
                 rk_wire_strerror(want), why);
    if (field != NULL && strstr(why, field) == NULL)
        fail_msg("reason '%s' does not name '%s'", why, field);
    if (want != RK_WIRE_OK)
        assert_int_equal(f.kind, RK_HF_NONE);
    rk_hub_frame_clear(&f);
}

/* ----------------------------------------------------------------- fixtures */

/* true if needle occurs anywhere in hay. */
static bool contains(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t len)
{
    for (size_t i = 0; i + len <= hay_len; i++)
        if (memcmp(hay + i, needle, len) == 0)
            return true;
    return false;
}

static void core_fill(rk_core_t *c, const char *from, const char *to, const char *type)
{
    memset(c, 0, sizeof *c);
    snprintf(c->from, sizeof c->from, "%s", from);
    snprintf(c->to, sizeof c->to, "%s", to);
    snprintf(c->type, sizeof c->type, "%s", type);
    randombytes_buf(c->msg_id, sizeof c->msg_id);
    c->time_ms = 1700000000123ull;
    c->what_len = 100;
    c->what = malloc(c->what_len);
    assert_non_null(c->what);
    randombytes_buf(c->what, c->what_len);
}

static void assert_core_equal(const rk_core_t *a, const rk_core_t *b)
{
    assert_string_equal(a->from, b->from);
    assert_string_equal(a->to, b->to);
    assert_string_equal(a->type, b->type);
    assert_memory_equal(a->msg_id, b->msg_id, RK_MSGID_LEN);
    assert_int_equal(a->has_reply_to, b->has_reply_to);
    if (a->has_reply_to)
        assert_memory_equal(a->reply_to, b->reply_to, RK_MSGID_LEN);
    assert_int_equal(a->time_ms, b->time_ms);
    assert_int_equal(a->what_len, b->what_len);
    assert_memory_equal(a->what, b->what, a->what_len);
}

static int group_setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

/* Encodes f, decodes it back into *out (asserting success). */
static void client_roundtrip(const rk_client_frame_t *f, rk_client_frame_t *out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[256] = "";
    assert_int_equal(rk_client_frame_encode(f, &buf, &len), RK_WIRE_OK);
    assert_non_null(buf);
    if (rk_client_frame_decode(buf, len, out, why, sizeof why) != RK_WIRE_OK)
        fail_msg("decoding our own encoding failed: %s", why);
    assert_int_equal(out->kind, f->kind);
    free(buf);
}

static void hub_roundtrip(const rk_hub_frame_t *f, rk_hub_frame_t *out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[256] = "";
    assert_int_equal(rk_hub_frame_encode(f, &buf, &len), RK_WIRE_OK);
    assert_non_null(buf);
    if (rk_hub_frame_decode(buf, len, out, why, sizeof why) != RK_WIRE_OK)
        fail_msg("decoding our own encoding failed: %s", why);
    assert_int_equal(out->kind, f->kind);
    free(buf);
}

/* ------------------------------------------------------- client frame kinds */

static void test_client_hello_roundtrip(void **state)
{
    rk_client_frame_t f = {0}, g;
    (void)state;
    f.kind = RK_CF_HELLO;
    f.u.hello.receive = true;
    client_roundtrip(&f, &g);
    assert_true(g.u.hello.receive);
    rk_client_frame_clear(&g);

    f.u.hello.receive = false;
    client_roundtrip(&f, &g);
    assert_false(g.u.hello.receive);
    rk_client_frame_clear(&g);
}

static void test_client_send_roundtrip(void **state)
{
    rk_identity_t *id = rk_identity_generate("city.x");
    rk_client_frame_t f = {0}, g;
    rk_core_t c, back;
    uint8_t who[RK_CODE_LEN];
    char why[256] = "";
    (void)state;

    assert_non_null(id);
    core_fill(&c, "city.x", "power", "utility.supply.stop");
    randombytes_buf(who, sizeof who);
    f.kind = RK_CF_SEND;
    assert_int_equal(rk_envelope_seal(&f.u.send, &c, who, id->sign_sk), RK_WIRE_OK);

    client_roundtrip(&f, &g);
    assert_int_equal(g.u.send.core_len, f.u.send.core_len);
    assert_memory_equal(g.u.send.core, f.u.send.core, f.u.send.core_len);
    assert_memory_equal(g.u.send.signature, f.u.send.signature, RK_SIG_LEN);
    assert_memory_equal(g.u.send.who, who, RK_CODE_LEN);
    /* The signature survives the trip and the core decodes to what was sent. */
    assert_int_equal(rk_envelope_verify(&g.u.send, id->pub.sign_pk), RK_WIRE_OK);
    assert_int_equal(rk_core_decode(g.u.send.core, g.u.send.core_len, &back, why, sizeof why),
                     RK_WIRE_OK);
    assert_core_equal(&c, &back);

    rk_core_clear(&back);
    rk_core_clear(&c);
    rk_client_frame_clear(&g);
    rk_client_frame_clear(&f);
    rk_identity_destroy(&id);
}

static void test_client_send_without_core_not_encoded(void **state)
{
    rk_client_frame_t f = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    (void)state;
    f.kind = RK_CF_SEND;
    assert_int_equal(rk_client_frame_encode(&f, &buf, &len), RK_WIRE_EFIELD);
    assert_null(buf);
    f.kind = RK_CF_NONE;
    assert_int_equal(rk_client_frame_encode(&f, &buf, &len), RK_WIRE_EFIELD);
    assert_null(buf);
}

static void test_client_enroll_directory_roundtrip(void **state)
{
    rk_client_frame_t f = {0}, g;
    (void)state;
    f.kind = RK_CF_ENROLL;
    f.u.enroll.req_id = 0x123456789abcdefull;
    client_roundtrip(&f, &g);
    assert_int_equal(g.u.enroll.req_id, 0x123456789abcdefull);
    rk_client_frame_clear(&g);

    memset(&f, 0, sizeof f);
    f.kind = RK_CF_DIRECTORY;
    f.u.directory.req_id = UINT64_MAX;
    client_roundtrip(&f, &g);
    assert_true(g.u.directory.req_id == UINT64_MAX);
    rk_client_frame_clear(&g);
}

static void test_client_reject_roundtrip(void **state)
{
    rk_client_frame_t f = {0}, g;
    (void)state;
    f.kind = RK_CF_REJECT;
    strcpy(f.u.reject.to, "city.x");
    memcpy(f.u.reject.msg_id, MSG_ID, RK_MSGID_LEN);
    f.u.reject.reason = RK_ST_UNDECRYPTABLE;
    strcpy(f.u.reject.detail, "payload does not open with this organization's key");
    client_roundtrip(&f, &g);
    assert_string_equal(g.u.reject.to, "city.x");
    assert_memory_equal(g.u.reject.msg_id, MSG_ID, RK_MSGID_LEN);
    assert_int_equal(g.u.reject.reason, RK_ST_UNDECRYPTABLE);
    assert_string_equal(g.u.reject.detail, f.u.reject.detail);
    rk_client_frame_clear(&g);

    /* An invalid recipient is refused before anything is encoded. */
    strcpy(f.u.reject.to, "City X");
    {
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(rk_client_frame_encode(&f, &buf, &len), RK_WIRE_EFIELD);
        assert_null(buf);
    }
}

/* ---------------------------------------------------------- hub frame kinds */

static void test_hub_welcome_roundtrip(void **state)
{
    rk_hub_frame_t f = {0}, g;
    (void)state;
    f.kind = RK_HF_WELCOME;
    strcpy(f.u.welcome.org, "city.x");
    strcpy(f.u.welcome.kind, "municipality");
    f.u.welcome.hub_time_ms = 1700000000999ull;
    f.u.welcome.max_payload = 65536;
    hub_roundtrip(&f, &g);
    assert_string_equal(g.u.welcome.org, "city.x");
    assert_string_equal(g.u.welcome.kind, "municipality");
    assert_int_equal(g.u.welcome.hub_time_ms, 1700000000999ull);
    assert_int_equal(g.u.welcome.max_payload, 65536);
    rk_hub_frame_clear(&g);
}

static void test_hub_result_roundtrip(void **state)
{
    rk_hub_frame_t f = {0}, g;
    (void)state;
    f.kind = RK_HF_RESULT;
    f.u.result.has_msg_id = true;
    memcpy(f.u.result.msg_id, MSG_ID, RK_MSGID_LEN);
    f.u.result.status = RK_ST_ACCEPTED;
    f.u.result.seq = 42;
    hub_roundtrip(&f, &g);
    assert_true(g.u.result.has_msg_id);
    assert_memory_equal(g.u.result.msg_id, MSG_ID, RK_MSGID_LEN);
    assert_int_equal(g.u.result.status, RK_ST_ACCEPTED);
    assert_int_equal(g.u.result.seq, 42);
    assert_string_equal(g.u.result.peer, "");
    assert_string_equal(g.u.result.detail, "");
    rk_hub_frame_clear(&g);

    /* Refused by the recipient: peer and cause travel too. */
    f.u.result.status = RK_ST_REFUSED_BY_RECIPIENT;
    f.u.result.seq = 0;
    strcpy(f.u.result.peer, "power");
    f.u.result.cause = RK_ST_UNDECRYPTABLE;
    strcpy(f.u.result.detail, "the payload does not open");
    hub_roundtrip(&f, &g);
    assert_int_equal(g.u.result.status, RK_ST_REFUSED_BY_RECIPIENT);
    assert_string_equal(g.u.result.peer, "power");
    assert_int_equal(g.u.result.cause, RK_ST_UNDECRYPTABLE);
    assert_string_equal(g.u.result.detail, "the payload does not open");
    rk_hub_frame_clear(&g);

    /* A frame that could not be read: no msg_id. */
    memset(&f, 0, sizeof f);
    f.kind = RK_HF_RESULT;
    f.u.result.status = RK_ST_MALFORMED;
    strcpy(f.u.result.detail, "field 'who' has the wrong length");
    hub_roundtrip(&f, &g);
    assert_false(g.u.result.has_msg_id);
    assert_int_equal(g.u.result.status, RK_ST_MALFORMED);
    assert_string_equal(g.u.result.detail, "field 'who' has the wrong length");
    rk_hub_frame_clear(&g);
}

static void test_hub_deliver_roundtrip(void **state)
{
    rk_identity_t *id = rk_identity_generate("power");
    rk_hub_frame_t f = {0}, g;
    rk_core_t c;
    uint8_t who[RK_CODE_LEN];
    (void)state;

    assert_non_null(id);
    core_fill(&c, "power", "city.x", "utility.supply.stop");
    c.has_reply_to = true;
    memcpy(c.reply_to, REPLY_TO, RK_MSGID_LEN);
    randombytes_buf(who, sizeof who);
    f.kind = RK_HF_DELIVER;
    assert_int_equal(rk_envelope_seal(&f.u.deliver.envelope, &c, who, id->sign_sk), RK_WIRE_OK);
    f.u.deliver.first_contact = true;
    f.u.deliver.seq = 7777;
    hub_roundtrip(&f, &g);
    assert_true(g.u.deliver.first_contact);
    assert_int_equal(g.u.deliver.seq, 7777);
    assert_memory_equal(g.u.deliver.envelope.who, who, RK_CODE_LEN);
    assert_int_equal(g.u.deliver.envelope.core_len, f.u.deliver.envelope.core_len);
    assert_memory_equal(g.u.deliver.envelope.core, f.u.deliver.envelope.core,
                        f.u.deliver.envelope.core_len);
    assert_int_equal(rk_envelope_verify(&g.u.deliver.envelope, id->pub.sign_pk), RK_WIRE_OK);
    rk_hub_frame_clear(&g);

    f.u.deliver.first_contact = false;
    hub_roundtrip(&f, &g);
    assert_false(g.u.deliver.first_contact);
    rk_hub_frame_clear(&g);

    rk_hub_frame_clear(&f);
    assert_null(f.u.deliver.envelope.core);
    rk_core_clear(&c);
    rk_identity_destroy(&id);
}

static void test_hub_enrolled_roundtrip(void **state)
{
    rk_hub_frame_t f = {0}, g;
    uint8_t code[RK_CODE_LEN];
    (void)state;
    randombytes_buf(code, sizeof code);
    f.kind = RK_HF_ENROLLED;
    f.u.enrolled.req_id = 9;
    f.u.enrolled.status = RK_ST_ACCEPTED;
    memcpy(f.u.enrolled.code, code, RK_CODE_LEN);
    hub_roundtrip(&f, &g);
    assert_int_equal(g.u.enrolled.req_id, 9);
    assert_int_equal(g.u.enrolled.status, RK_ST_ACCEPTED);
    assert_memory_equal(g.u.enrolled.code, code, RK_CODE_LEN);
    rk_hub_frame_clear(&g);

    /* A refusal carries no code: whatever was in the struct is not sent. */
    f.u.enrolled.status = RK_ST_NOT_PERMITTED;
    strcpy(f.u.enrolled.detail, "only municipalities enroll residents");
    {
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(rk_hub_frame_encode(&f, &buf, &len), RK_WIRE_OK);
        if (contains(buf, len, code, RK_CODE_LEN))
            fail_msg("a refused enrollment put a link code on the wire");
        free(buf);
    }
    hub_roundtrip(&f, &g);
    assert_int_equal(g.u.enrolled.status, RK_ST_NOT_PERMITTED);
    assert_string_equal(g.u.enrolled.detail, "only municipalities enroll residents");
    {
        static const uint8_t zero[RK_CODE_LEN] = {0};
        assert_memory_equal(g.u.enrolled.code, zero, RK_CODE_LEN);
    }
    rk_hub_frame_clear(&g);
}

static void test_hub_directory_roundtrip(void **state)
{
    rk_identity_t *hub = rk_identity_generate("hub");
    rk_identity_t *a = rk_identity_generate("city.x");
    rk_identity_t *b = rk_identity_generate("power");
    rk_dir_entry_t entries[2];
    rk_dir_t dir = {0}, opened;
    rk_hub_frame_t f, g;
    const rk_dir_entry_t *e;
    (void)state;

    assert_non_null(hub);
    assert_non_null(a);
    assert_non_null(b);
    memset(entries, 0, sizeof entries);
    strcpy(entries[0].id, "city.x");
    strcpy(entries[0].kind, "municipality");
    entries[0].active = true;
    memcpy(entries[0].sign_key, a->pub.sign_pk, RK_KEY_LEN);
    strcpy(entries[1].id, "power");
    strcpy(entries[1].kind, "utility");
    entries[1].active = false;
    memcpy(entries[1].sign_key, b->pub.sign_pk, RK_KEY_LEN);
    entries[1].has_prev = true; /* power is in the overlap of a rekey */
    memcpy(entries[1].prev_sign_key, a->pub.sign_pk, RK_KEY_LEN);
    entries[1].prev_until_ms = 1700000999000ull;
    dir.time_ms = 1700000000555ull;
    dir.n = 2;
    dir.orgs = entries;
    dir.catalogue = "[group g]\ntitle = G\nmembers = city.x\n";

    assert_int_equal(rk_dir_seal(&dir, hub->sign_sk, 31, &f), RK_WIRE_OK);
    assert_int_equal(f.kind, RK_HF_DIRECTORY);
    hub_roundtrip(&f, &g);
    assert_int_equal(g.u.directory.req_id, 31);
    assert_int_equal(rk_dir_open(g.u.directory.body, g.u.directory.body_len,
                                 g.u.directory.signature, hub->pub.sign_pk, &opened),
                     RK_WIRE_OK);
    assert_int_equal(opened.n, 2);
    assert_int_equal(opened.time_ms, 1700000000555ull);
    assert_string_equal(opened.catalogue, dir.catalogue); /* signed with the rest */
    assert_int_equal(opened.catalogue_len, strlen(dir.catalogue));
    e = rk_dir_find(&opened, "power");
    assert_non_null(e);
    assert_string_equal(e->kind, "utility");
    assert_false(e->active);
    assert_memory_equal(e->sign_key, b->pub.sign_pk, RK_KEY_LEN);
    assert_true(e->has_prev);
    assert_memory_equal(e->prev_sign_key, a->pub.sign_pk, RK_KEY_LEN);
    assert_true(e->prev_until_ms == 1700000999000ull);
    e = rk_dir_find(&opened, "city.x");
    assert_non_null(e);
    assert_string_equal(e->kind, "municipality");
    assert_true(e->active);
    assert_memory_equal(e->sign_key, a->pub.sign_pk, RK_KEY_LEN);
    assert_false(e->has_prev);
    assert_null(rk_dir_find(&opened, "gas"));
    rk_dir_clear(&opened);
    assert_null(opened.orgs);

    rk_hub_frame_clear(&g);
    rk_hub_frame_clear(&f);
    rk_identity_destroy(&hub);
    rk_identity_destroy(&a);
    rk_identity_destroy(&b);
}

/* A summary of refused frames carries its count; an entry without one
 * encodes as it did before the field existed (its leaf hash is unchanged). */
/* An operator's signature covers the entry's bytes before it, and is its
 * last field: an auditor checks it without re-encoding anything. */
static void test_log_entry_operator_signature(void **state)
{
    rk_identity_t *op = rk_identity_generate("op.sato"), *other = rk_identity_generate("op.kato");
    rk_log_entry_t e, back;
    uint8_t *buf = NULL;
    size_t len = 0;
    (void)state;

    assert_non_null(op);
    assert_non_null(other);
    memset(&e, 0, sizeof e);
    e.time_ms = 1700000000000ull;
    e.event = RK_EV_ORG_SUSPENDED;
    strcpy(e.from, "town.y");
    strcpy(e.kind, "municipality");
    strcpy(e.operator_name, "op.sato");
    assert_int_equal(rk_log_entry_sign(&e, op->sign_sk, &buf, &len), RK_WIRE_OK);
    assert_int_equal(rk_log_entry_verify_operator(buf, len, op->pub.sign_pk), RK_WIRE_OK);
    assert_int_equal(rk_log_entry_verify_operator(buf, len, other->pub.sign_pk), RK_WIRE_ESIG);
    assert_int_equal(rk_log_entry_decode(buf, len, &back, NULL, 0), RK_WIRE_OK);
    assert_string_equal(back.operator_name, "op.sato");
    assert_true(back.has_operator_sig);
    assert_string_equal(back.from, "town.y");
    {
        /* decoded and encoded again: the same bytes, the signature still last */
        uint8_t *again = NULL;
        size_t again_len = 0;
        assert_int_equal(rk_log_entry_encode(&back, &again, &again_len), RK_WIRE_OK);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, buf, len);
        free(again);
    }
    free(buf);
    /* a rekey with an overlap: the field after operator_sig's number still
     * comes before the signature, which covers it */
    e.event = RK_EV_ORG_KEY_CHANGED;
    e.has_key = true;
    memcpy(e.key, other->pub.sign_pk, RK_KEY_LEN);
    e.previous_until_ms = 1700000360000ull;
    assert_int_equal(rk_log_entry_sign(&e, op->sign_sk, &buf, &len), RK_WIRE_OK);
    assert_int_equal(rk_log_entry_verify_operator(buf, len, op->pub.sign_pk), RK_WIRE_OK);
    assert_int_equal(rk_log_entry_decode(buf, len, &back, NULL, 0), RK_WIRE_OK);
    assert_true(back.previous_until_ms == 1700000360000ull);
    assert_true(back.has_operator_sig);
    {
        uint8_t *again = NULL;
        size_t again_len = 0;
        assert_int_equal(rk_log_entry_encode(&back, &again, &again_len), RK_WIRE_OK);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, buf, len);
        free(again);
    }
    /* any changed byte before the signature breaks it */
    buf[3] ^= 1;
    assert_int_equal(rk_log_entry_verify_operator(buf, len, op->pub.sign_pk), RK_WIRE_ESIG);
    free(buf);
    /* an entry without an operator is not signed */
    e.operator_name[0] = '\0';
    assert_int_equal(rk_log_entry_sign(&e, op->sign_sk, &buf, &len), RK_WIRE_EFIELD);
    assert_int_equal(rk_log_entry_encode(&e, &buf, &len), RK_WIRE_OK);
    assert_int_equal(rk_log_entry_verify_operator(buf, len, op->pub.sign_pk), RK_WIRE_ESIG);
    free(buf);
    rk_identity_destroy(&op);
    rk_identity_destroy(&other);
}

/* The hub's key-rotation statement: signed by the old key over the exact
 * bytes proto/README.md gives; refused under another key, or with any part
 * changed; carried unchanged in a log entry and in the welcome. */
static void test_hub_key_statement(void **state)
{
    rk_identity_t *old = rk_identity_generate("hub"), *next = rk_identity_generate("hub"),
                  *other = rk_identity_generate("hub");
    rk_hub_key_stmt_t s, t;
    uint8_t m[RK_HUB_KEY_SIGNED_LEN], *buf = NULL;
    size_t len = 0;
    rk_log_entry_t e, back;
    rk_hub_frame_t f, g;
    (void)state;

    assert_non_null(old);
    assert_non_null(next);
    assert_non_null(other);
    assert_int_equal(rk_hub_key_stmt_sign(old->sign_sk, next->pub.sign_pk, 0x0102030405060708ull, &s),
                     RK_WIRE_OK);
    assert_memory_equal(s.old_key, old->pub.sign_pk, RK_KEY_LEN);
    assert_memory_equal(s.new_key, next->pub.sign_pk, RK_KEY_LEN);
    assert_int_equal(rk_hub_key_stmt_verify(&s, old->pub.sign_pk), RK_WIRE_OK);
    assert_int_equal(rk_hub_key_stmt_verify(&s, NULL), RK_WIRE_OK);

    /* the signed bytes, built by hand as another implementation would */
    assert_int_equal(sizeof m, 18 + 32 + 32 + 8);
    memcpy(m, "renkei-hub-key-v1", 17);
    m[17] = 0x00;
    memcpy(m + 18, old->pub.sign_pk, 32);
    memcpy(m + 50, next->pub.sign_pk, 32);
    for (int i = 0; i < 8; i++)
        m[82 + i] = (uint8_t)(i + 1);
    assert_int_equal(crypto_sign_verify_detached(s.signature, m, sizeof m, old->pub.sign_pk), 0);
    {
        uint8_t mine[RK_HUB_KEY_SIGNED_LEN];
        rk_hub_key_stmt_bytes(&s, mine);
        assert_memory_equal(mine, m, sizeof m);
    }

    /* trusted under another key: refused, whoever signed it */
    assert_int_equal(rk_hub_key_stmt_verify(&s, other->pub.sign_pk), RK_WIRE_ESIG);
    assert_int_equal(rk_hub_key_stmt_verify(&s, next->pub.sign_pk), RK_WIRE_ESIG);
    /* a statement made by another key that claims to be the old one */
    assert_int_equal(rk_hub_key_stmt_sign(other->sign_sk, next->pub.sign_pk, s.time_ms, &t), RK_WIRE_OK);
    memcpy(t.old_key, old->pub.sign_pk, RK_KEY_LEN);
    assert_int_equal(rk_hub_key_stmt_verify(&t, old->pub.sign_pk), RK_WIRE_ESIG);
    /* tampered: the new key, the time, the signature */
    t = s;
    memcpy(t.new_key, other->pub.sign_pk, RK_KEY_LEN);
    assert_int_equal(rk_hub_key_stmt_verify(&t, old->pub.sign_pk), RK_WIRE_ESIG);
    t = s;
    t.time_ms++;
    assert_int_equal(rk_hub_key_stmt_verify(&t, old->pub.sign_pk), RK_WIRE_ESIG);
    t = s;
    t.signature[5] ^= 0x10;
    assert_int_equal(rk_hub_key_stmt_verify(&t, old->pub.sign_pk), RK_WIRE_ESIG);
    /* a key does not hand over to itself */
    assert_int_equal(rk_hub_key_stmt_sign(old->sign_sk, old->pub.sign_pk, 1, &t), RK_WIRE_EFIELD);

    /* in a log entry (event 18) */
    memset(&e, 0, sizeof e);
    e.time_ms = s.time_ms;
    e.event = RK_EV_HUB_KEY_ANNOUNCED;
    e.has_hub_key = true;
    e.hub_key = s;
    assert_int_equal(rk_log_entry_encode(&e, &buf, &len), RK_WIRE_OK);
    assert_int_equal(rk_log_entry_decode(buf, len, &back, NULL, 0), RK_WIRE_OK);
    assert_int_equal(back.event, RK_EV_HUB_KEY_ANNOUNCED);
    assert_true(back.has_hub_key);
    assert_memory_equal(&back.hub_key, &s, sizeof s);
    assert_int_equal(rk_hub_key_stmt_verify(&back.hub_key, old->pub.sign_pk), RK_WIRE_OK);
    assert_string_equal(rk_log_event_name(back.event), "hub-key-announced");
    free(buf);
    /* 20 is not an event this code knows */
    memset(&e, 0, sizeof e);
    e.event = (rk_log_event)20;
    assert_int_equal(rk_log_entry_encode(&e, &buf, &len), RK_WIRE_EFIELD);
    assert_string_equal(rk_log_event_name((rk_log_event)20), "unknown");

    /* in the welcome */
    memset(&f, 0, sizeof f);
    f.kind = RK_HF_WELCOME;
    strcpy(f.u.welcome.org, "power");
    strcpy(f.u.welcome.kind, "utility");
    f.u.welcome.has_hub_key = true;
    f.u.welcome.hub_key = s;
    assert_int_equal(rk_hub_frame_encode(&f, &buf, &len), RK_WIRE_OK);
    assert_int_equal(rk_hub_frame_decode(buf, len, &g, NULL, 0), RK_WIRE_OK);
    assert_true(g.u.welcome.has_hub_key);
    assert_memory_equal(&g.u.welcome.hub_key, &s, sizeof s);
    rk_hub_frame_clear(&g);
    free(buf);
    /* a welcome without one has none */
    f.u.welcome.has_hub_key = false;
    assert_int_equal(rk_hub_frame_encode(&f, &buf, &len), RK_WIRE_OK);
    assert_int_equal(rk_hub_frame_decode(buf, len, &g, NULL, 0), RK_WIRE_OK);
    assert_false(g.u.welcome.has_hub_key);
    rk_hub_frame_clear(&g);
    free(buf);

    rk_identity_destroy(&old);
    rk_identity_destroy(&next);
    rk_identity_destroy(&other);
}

static void test_log_entry_count(void **state)
{
    rk_log_entry_t e, d;
    uint8_t *one = NULL, *many = NULL;
    size_t one_len = 0, many_len = 0;
    (void)state;

    memset(&e, 0, sizeof e);
    e.time_ms = 1700000000555ull;
    e.event = RK_EV_REFUSED;
    strcpy(e.from, "city.x");
    e.outcome = RK_ST_MALFORMED;
    assert_int_equal(rk_log_entry_encode(&e, &one, &one_len), RK_WIRE_OK);
    e.count = 1999;
    assert_int_equal(rk_log_entry_encode(&e, &many, &many_len), RK_WIRE_OK);
    assert_int_equal(many_len, one_len + 3); /* tag 13 and a two-byte varint */
    assert_memory_equal(many, one, one_len);
    assert_int_equal(rk_log_entry_decode(one, one_len, &d, NULL, 0), RK_WIRE_OK);
    assert_int_equal(d.count, 0);
    assert_int_equal(rk_log_entry_decode(many, many_len, &d, NULL, 0), RK_WIRE_OK);
    assert_int_equal(d.count, 1999);
    assert_int_equal(d.outcome, RK_ST_MALFORMED);
    assert_string_equal(d.from, "city.x");
    free(one);
    free(many);
}

/* ---------------------------------------------------------------- directory */

static void test_dir_open_refuses_wrong_key_and_tampering(void **state)
{
    rk_identity_t *hub = rk_identity_generate("hub");
    rk_identity_t *other = rk_identity_generate("hub");
    rk_dir_entry_t entry;
    rk_dir_t dir = {0}, opened;
    rk_hub_frame_t f;
    (void)state;

    assert_non_null(hub);
    assert_non_null(other);
    memset(&entry, 0, sizeof entry);
    strcpy(entry.id, "city.x");
    strcpy(entry.kind, "municipality");
    entry.active = true;
    memcpy(entry.sign_key, hub->pub.sign_pk, RK_KEY_LEN);
    dir.n = 1;
    dir.orgs = &entry;
    dir.time_ms = 5;
    assert_int_equal(rk_dir_seal(&dir, hub->sign_sk, 1, &f), RK_WIRE_OK);

    /* Signed by the hub, checked against another key: refused. */
    memset(&opened, 0x5a, sizeof opened);
    assert_int_equal(rk_dir_open(f.u.directory.body, f.u.directory.body_len, f.u.directory.signature,
                                 other->pub.sign_pk, &opened),
                     RK_WIRE_ESIG);
    assert_int_equal(opened.n, 0);
    assert_null(opened.orgs);

    /* One bit of the body changed: refused. */
    f.u.directory.body[f.u.directory.body_len - 1] ^= 0x01;
    assert_int_equal(rk_dir_open(f.u.directory.body, f.u.directory.body_len, f.u.directory.signature,
                                 hub->pub.sign_pk, &opened),
                     RK_WIRE_ESIG);
    f.u.directory.body[f.u.directory.body_len - 1] ^= 0x01;

    /* One bit of the signature changed: refused. */
    f.u.directory.signature[10] ^= 0x80;
    assert_int_equal(rk_dir_open(f.u.directory.body, f.u.directory.body_len, f.u.directory.signature,
                                 hub->pub.sign_pk, &opened),
                     RK_WIRE_ESIG);
    f.u.directory.signature[10] ^= 0x80;

    /* Untouched: opens. */
    assert_int_equal(rk_dir_open(f.u.directory.body, f.u.directory.body_len, f.u.directory.signature,
                                 hub->pub.sign_pk, &opened),
                     RK_WIRE_OK);
    assert_int_equal(opened.n, 1);
    rk_dir_clear(&opened);

    rk_hub_frame_clear(&f);
    rk_identity_destroy(&hub);
    rk_identity_destroy(&other);
}

static void test_dir_empty(void **state)
{
    rk_identity_t *hub = rk_identity_generate("hub");
    rk_dir_t dir = {0}, opened;
    rk_hub_frame_t f;
    (void)state;
    assert_non_null(hub);
    dir.time_ms = 77;
    assert_int_equal(rk_dir_seal(&dir, hub->sign_sk, 2, &f), RK_WIRE_OK);
    assert_int_equal(rk_dir_open(f.u.directory.body, f.u.directory.body_len, f.u.directory.signature,
                                 hub->pub.sign_pk, &opened),
                     RK_WIRE_OK);
    assert_int_equal(opened.n, 0);
    assert_int_equal(opened.time_ms, 77);
    assert_null(rk_dir_find(&opened, "city.x"));
    rk_dir_clear(&opened);
    rk_hub_frame_clear(&f);
    rk_identity_destroy(&hub);
}

/* Signs body as the hub would and asks rk_dir_open for it. */
static rk_wire_err open_signed_body(const pbuf *body, const rk_identity_t *hub, rk_dir_t *dir)
{
    static const char domain[] = "renkei-directory-v1";
    uint8_t m[sizeof domain + sizeof body->b], sig[RK_SIG_LEN];
    memcpy(m, domain, sizeof domain);
    memcpy(m + sizeof domain, body->b, body->n);
    crypto_sign_detached(sig, NULL, m, sizeof domain + body->n, hub->sign_sk);
    memset(dir, 0x5a, sizeof *dir);
    return rk_dir_open(body->b, body->n, sig, hub->pub.sign_pk, dir);
}

/* One directory entry; NULL or 0 leaves a field out. */
static void dir_body_write(pbuf *body, uint32_t version, const char *id, const char *kind,
                           size_t key_len)
{
    pbuf e;
    static const uint8_t key[40] = {9};
    memset(&e, 0, sizeof e);
    if (id != NULL)
        pb_str(&e, 1, id);
    if (kind != NULL)
        pb_str(&e, 2, kind);
    pb_str(&e, 3, "active");
    if (key_len > 0)
        pb_bytes(&e, 4, key, key_len);
    memset(body, 0, sizeof *body);
    if (version != 0)
        pb_uint(body, 1, version);
    pb_uint(body, 2, 1234);
    pb_msg(body, 3, &e);
}

static void test_dir_open_field_checks(void **state)
{
    rk_identity_t *hub = rk_identity_generate("hub");
    pbuf body;
    rk_dir_t dir;
    (void)state;
    assert_non_null(hub);

    /* Baseline: a body signed with the documented construction opens. */
    dir_body_write(&body, 1, "city.x", "municipality", 32);
    assert_int_equal(open_signed_body(&body, hub, &dir), RK_WIRE_OK);
    assert_int_equal(dir.n, 1);
    assert_string_equal(dir.orgs[0].id, "city.x");
    assert_true(dir.orgs[0].active);
    assert_int_equal(dir.time_ms, 1234);
    rk_dir_clear(&dir);

    dir_body_write(&body, 2, "city.x", "municipality", 32);
    assert_int_equal(open_signed_body(&body, hub, &dir), RK_WIRE_EVERSION);
    assert_null(dir.orgs);
    dir_body_write(&body, 0, "city.x", "municipality", 32);
    assert_int_equal(open_signed_body(&body, hub, &dir), RK_WIRE_EVERSION);
    dir_body_write(&body, 1, "City X", "municipality", 32);
    assert_int_equal(open_signed_body(&body, hub, &dir), RK_WIRE_EFIELD);
    assert_null(dir.orgs);
    assert_int_equal(dir.n, 0);
    dir_body_write(&body, 1, NULL, "municipality", 32);
    assert_int_equal(open_signed_body(&body, hub, &dir), RK_WIRE_EFIELD);
    dir_body_write(&body, 1, "city.x", "municipality", 31);
    assert_int_equal(open_signed_body(&body, hub, &dir), RK_WIRE_EFIELD);
    dir_body_write(&body, 1, "city.x", "municipality", 33);
    assert_int_equal(open_signed_body(&body, hub, &dir), RK_WIRE_EFIELD);
    dir_body_write(&body, 1, "city.x", "municipality-of-the-far-north", 32);
    assert_int_equal(open_signed_body(&body, hub, &dir), RK_WIRE_EFIELD);

    memset(&body, 0, sizeof body);
    memcpy(body.b, "\xff\xff\xff\xff", 4);
    body.n = 4;
    assert_int_equal(open_signed_body(&body, hub, &dir), RK_WIRE_EDECODE);
    assert_null(dir.orgs);
    rk_identity_destroy(&hub);
}

/* The directory signature is domain-separated from the envelope signature:
 * a signed envelope core is not a valid directory (and the reverse). */
static void test_signature_domains_are_separate(void **state)
{
    rk_identity_t *id = rk_identity_generate("hub");
    rk_envelope_t env;
    rk_dir_t dir = {0}, opened;
    rk_hub_frame_t f;
    rk_envelope_t fake = {0};
    rk_core_t c;
    (void)state;

    assert_non_null(id);
    core_fill(&c, "city.x", "power", "utility.supply.stop");
    assert_int_equal(rk_envelope_seal(&env, &c, WHO, id->sign_sk), RK_WIRE_OK);
    assert_int_equal(rk_dir_open(env.core, env.core_len, env.signature, id->pub.sign_pk, &opened),
                     RK_WIRE_ESIG);

    assert_int_equal(rk_dir_seal(&dir, id->sign_sk, 1, &f), RK_WIRE_OK);
    fake.core = f.u.directory.body;
    fake.core_len = f.u.directory.body_len;
    memcpy(fake.signature, f.u.directory.signature, RK_SIG_LEN);
    assert_int_equal(rk_envelope_verify(&fake, id->pub.sign_pk), RK_WIRE_ESIG);

    rk_hub_frame_clear(&f);
    rk_envelope_clear(&env);
    rk_core_clear(&c);
    rk_identity_destroy(&id);
}

/* ----------------------------------------------------------------- envelope */

static void test_core_roundtrip(void **state)
{
    rk_core_t c, d;
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[256] = "";
    (void)state;

    core_fill(&c, "city.x", "town.y", "move.out.notice");
    assert_int_equal(rk_core_encode(&c, &buf, &len), RK_WIRE_OK);
    assert_int_equal(rk_core_decode(buf, len, &d, why, sizeof why), RK_WIRE_OK);
    assert_core_equal(&c, &d);
    assert_false(d.has_reply_to);
    free(buf);
    rk_core_clear(&d);

    /* A reply carries reply_to. */
    c.has_reply_to = true;
    memcpy(c.reply_to, REPLY_TO, RK_MSGID_LEN);
    assert_int_equal(rk_core_encode(&c, &buf, &len), RK_WIRE_OK);
    assert_int_equal(rk_core_decode(buf, len, &d, why, sizeof why), RK_WIRE_OK);
    assert_true(d.has_reply_to);
    assert_core_equal(&c, &d);
    free(buf);
    rk_core_clear(&d);
    assert_null(d.what);
    rk_core_clear(&d); /* clearing twice is allowed */
    rk_core_clear(&c);
}

static void test_core_encode_refuses_bad_fields(void **state)
{
    rk_core_t c;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint8_t *big;
    (void)state;

    core_fill(&c, "city.x", "power", "utility.supply.stop");
    strcpy(c.from, "City.X");
    assert_int_equal(rk_core_encode(&c, &buf, &len), RK_WIRE_EFIELD);
    strcpy(c.from, "city.x");
    strcpy(c.to, "");
    assert_int_equal(rk_core_encode(&c, &buf, &len), RK_WIRE_EFIELD);
    strcpy(c.to, "power");
    strcpy(c.type, "utility supply");
    assert_int_equal(rk_core_encode(&c, &buf, &len), RK_WIRE_EFIELD);
    strcpy(c.type, "utility.supply.stop");
    c.what_len = 0;
    assert_int_equal(rk_core_encode(&c, &buf, &len), RK_WIRE_EFIELD);
    assert_null(buf);

    /* Larger than any hub accepts. */
    big = calloc(1, RK_WHAT_CEILING + 1);
    assert_non_null(big);
    free(c.what);
    c.what = big;
    c.what_len = RK_WHAT_CEILING + 1;
    assert_int_equal(rk_core_encode(&c, &buf, &len), RK_WIRE_ESIZE);
    assert_null(buf);
    rk_core_clear(&c);
}

static void test_core_decode_valid_spec(void **state)
{
    core_spec s = core_spec_valid();
    pbuf p;
    rk_core_t c;
    char why[256] = "";
    (void)state;

    /* The hand-built baseline decodes, so every refusal below is caused by
     * the one field it changes. */
    core_spec_write(&p, &s);
    assert_int_equal(rk_core_decode(p.b, p.n, &c, why, sizeof why), RK_WIRE_OK);
    assert_string_equal(c.from, "city.x");
    assert_string_equal(c.to, "power");
    assert_string_equal(c.type, "utility.supply.stop");
    assert_memory_equal(c.msg_id, MSG_ID, RK_MSGID_LEN);
    assert_false(c.has_reply_to);
    assert_int_equal(c.time_ms, 1700000000123ull);
    assert_int_equal(c.what_len, sizeof WHAT - 1);
    assert_memory_equal(c.what, WHAT, sizeof WHAT - 1);
    rk_core_clear(&c);

    s.reply_to = REPLY_TO;
    s.reply_to_len = 16;
    expect_core(&s, RK_WIRE_OK, NULL);
    s = core_spec_valid();
    s.from = NAME64; /* 64 characters is the longest valid name */
    expect_core(&s, RK_WIRE_OK, NULL);
    s = core_spec_valid();
    s.type = "a-b_c.9";
    expect_core(&s, RK_WIRE_OK, NULL);
}

static void test_core_decode_msg_id_length(void **state)
{
    core_spec s = core_spec_valid();
    (void)state;
    s.msg_id_len = 15;
    expect_core(&s, RK_WIRE_EFIELD, "'msg_id'");
    s.msg_id_len = 17;
    expect_core(&s, RK_WIRE_EFIELD, "'msg_id'");
    s.msg_id = NULL;
    expect_core(&s, RK_WIRE_EFIELD, "'msg_id'");

    s = core_spec_valid();
    s.reply_to = REPLY_TO;
    s.reply_to_len = 5;
    expect_core(&s, RK_WIRE_EFIELD, "'reply_to'");
    s.reply_to_len = 17;
    expect_core(&s, RK_WIRE_EFIELD, "'reply_to'");
}

static void test_core_decode_empty_what(void **state)
{
    core_spec s = core_spec_valid();
    (void)state;
    s.what_len = 0;
    expect_core(&s, RK_WIRE_EFIELD, "'what'");
    s.what = NULL;
    expect_core(&s, RK_WIRE_EFIELD, "'what'");
}

static void test_core_decode_bad_names(void **state)
{
    static const char *bad[] = {
        "City.x",   /* uppercase */
        "city x",   /* space */
        "",         /* empty */
        NAME65,     /* too long */
        "1city",    /* must start with a letter */
        ".city",    /* must start with a letter */
        "city/x",   /* outside the alphabet */
        "city\tx",  /* control character */
        "ci\xc3\xa9", /* non-ASCII */
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        core_spec s = core_spec_valid();
        s.from = bad[i];
        expect_core(&s, RK_WIRE_EFIELD, "'from'");
        s = core_spec_valid();
        s.to = bad[i];
        expect_core(&s, RK_WIRE_EFIELD, "'to'");
        s = core_spec_valid();
        s.type = bad[i];
        expect_core(&s, RK_WIRE_EFIELD, "'type'");
    }
    {
        core_spec s = core_spec_valid();
        s.from = NULL; /* absent */
        expect_core(&s, RK_WIRE_EFIELD, "'from'");
    }
}

static void test_core_decode_version(void **state)
{
    core_spec s = core_spec_valid();
    (void)state;
    s.version = 2;
    expect_core(&s, RK_WIRE_EVERSION, "version");
    s.version = 0; /* absent */
    expect_core(&s, RK_WIRE_EVERSION, "version");
}

static void test_core_decode_garbage_and_truncated(void **state)
{
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    core_spec s = core_spec_valid();
    pbuf p;
    rk_core_t c;
    char why[256] = "";
    (void)state;

    assert_int_equal(rk_core_decode(garbage, sizeof garbage, &c, why, sizeof why), RK_WIRE_EDECODE);
    assert_null(c.what);
    core_spec_write(&p, &s);
    /* Cut inside the `what` field: the length prefix promises more bytes. */
    assert_int_equal(rk_core_decode(p.b, p.n - 3, &c, why, sizeof why), RK_WIRE_EDECODE);
    assert_null(c.what);
    /* A field with wire type 7 does not exist. */
    {
        static const uint8_t bad_wire_type[] = {0x0f, 0x00};
        assert_int_equal(rk_core_decode(bad_wire_type, sizeof bad_wire_type, &c, why, sizeof why),
                         RK_WIRE_EDECODE);
    }
    /* why may be NULL. */
    assert_int_equal(rk_core_decode(garbage, sizeof garbage, &c, NULL, 0), RK_WIRE_EDECODE);
}

static void test_client_decode_field_checks(void **state)
{
    core_spec s = core_spec_valid();
    pbuf core, env, frame, send;
    (void)state;

    core_spec_write(&core, &s);

    /* Baseline decodes. */
    envelope_write(&env, &core, 64, 16);
    client_send_write(&frame, 1, &env);
    expect_client(&frame, RK_WIRE_OK, NULL);

    /* Missing envelope. */
    client_send_write(&frame, 1, NULL);
    expect_client(&frame, RK_WIRE_EFIELD, "'envelope'");

    /* Empty core. */
    envelope_write(&env, NULL, 64, 16);
    client_send_write(&frame, 1, &env);
    expect_client(&frame, RK_WIRE_EFIELD, "'core'");

    /* Wrong signature length. */
    envelope_write(&env, &core, 63, 16);
    client_send_write(&frame, 1, &env);
    expect_client(&frame, RK_WIRE_EFIELD, "'signature'");
    envelope_write(&env, &core, 65, 16);
    client_send_write(&frame, 1, &env);
    expect_client(&frame, RK_WIRE_EFIELD, "'signature'");
    envelope_write(&env, &core, 0, 16);
    client_send_write(&frame, 1, &env);
    expect_client(&frame, RK_WIRE_EFIELD, "'signature'");

    /* Wrong who length. */
    envelope_write(&env, &core, 64, 15);
    client_send_write(&frame, 1, &env);
    expect_client(&frame, RK_WIRE_EFIELD, "'who'");
    envelope_write(&env, &core, 64, 17);
    client_send_write(&frame, 1, &env);
    expect_client(&frame, RK_WIRE_EFIELD, "'who'");
    envelope_write(&env, &core, 64, 0);
    client_send_write(&frame, 1, &env);
    expect_client(&frame, RK_WIRE_EFIELD, "'who'");

    /* Wrong or missing version. */
    envelope_write(&env, &core, 64, 16);
    client_send_write(&frame, 2, &env);
    expect_client(&frame, RK_WIRE_EVERSION, "version");
    client_send_write(&frame, 0, &env);
    expect_client(&frame, RK_WIRE_EVERSION, "version");

    /* Version but no body. */
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    expect_client(&frame, RK_WIRE_EFIELD, "body");

    /* Truncated: the last bytes of a valid frame are missing. */
    client_send_write(&frame, 1, &env);
    frame.n -= 5;
    expect_client(&frame, RK_WIRE_EDECODE, NULL);

    /* Garbage. */
    memset(&frame, 0, sizeof frame);
    memcpy(frame.b, "\xff\xfe\xfd renkei", 10);
    frame.n = 10;
    expect_client(&frame, RK_WIRE_EDECODE, NULL);

    /* Send whose envelope is not a message. */
    memset(&send, 0, sizeof send);
    pb_bytes(&send, 1, "\xff\xff\xff", 3);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 3, &send);
    expect_client(&frame, RK_WIRE_EDECODE, NULL);
}

static void test_client_decode_reject_checks(void **state)
{
    pbuf rej, frame;
    (void)state;

    /* Baseline. */
    memset(&rej, 0, sizeof rej);
    pb_str(&rej, 1, "city.x");
    pb_bytes(&rej, 2, MSG_ID, 16);
    pb_uint(&rej, 3, RK_ST_UNDECRYPTABLE);
    pb_str(&rej, 4, "bad\x01 detail");
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 6, &rej);
    {
        rk_client_frame_t f;
        assert_int_equal(rk_client_frame_decode(frame.b, frame.n, &f, NULL, 0), RK_WIRE_OK);
        assert_int_equal(f.kind, RK_CF_REJECT);
        /* Control characters never reach a log line. */
        assert_string_equal(f.u.reject.detail, "bad? detail");
        rk_client_frame_clear(&f);
    }

    memset(&rej, 0, sizeof rej);
    pb_str(&rej, 1, "City X");
    pb_bytes(&rej, 2, MSG_ID, 16);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 6, &rej);
    expect_client(&frame, RK_WIRE_EFIELD, "'to'");

    memset(&rej, 0, sizeof rej);
    pb_str(&rej, 1, "city.x");
    pb_bytes(&rej, 2, MSG_ID, 12);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 6, &rej);
    expect_client(&frame, RK_WIRE_EFIELD, "'msg_id'");
}

static void test_hub_decode_field_checks(void **state)
{
    core_spec s = core_spec_valid();
    pbuf core, env, body, frame;
    char long_detail[400];
    (void)state;

    /* welcome with an invalid org. */
    memset(&body, 0, sizeof body);
    pb_str(&body, 1, "City X");
    pb_str(&body, 2, "municipality");
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 2, &body);
    expect_hub(&frame, RK_WIRE_EFIELD, "'org'");

    /* welcome with an over-long kind. */
    memset(&body, 0, sizeof body);
    pb_str(&body, 1, "city.x");
    pb_str(&body, 2, "municipality-and-more");
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 2, &body);
    expect_hub(&frame, RK_WIRE_EFIELD, "'kind'");

    /* result with a short msg_id. */
    memset(&body, 0, sizeof body);
    pb_bytes(&body, 1, MSG_ID, 8);
    pb_uint(&body, 2, RK_ST_ACCEPTED);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 3, &body);
    expect_hub(&frame, RK_WIRE_EFIELD, "'msg_id'");

    /* result with an invalid peer. */
    memset(&body, 0, sizeof body);
    pb_bytes(&body, 1, MSG_ID, 16);
    pb_uint(&body, 2, RK_ST_REFUSED_BY_RECIPIENT);
    pb_str(&body, 5, "Power Co");
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 3, &body);
    expect_hub(&frame, RK_WIRE_EFIELD, "'peer'");

    /* result detail: truncated to RK_DETAIL_MAX, control characters replaced. */
    memset(long_detail, 'x', sizeof long_detail - 1);
    long_detail[sizeof long_detail - 1] = '\0';
    long_detail[3] = '\n';
    memset(&body, 0, sizeof body);
    pb_uint(&body, 2, RK_ST_MALFORMED);
    pb_str(&body, 3, long_detail);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 3, &body);
    {
        rk_hub_frame_t f;
        assert_int_equal(rk_hub_frame_decode(frame.b, frame.n, &f, NULL, 0), RK_WIRE_OK);
        assert_int_equal(strlen(f.u.result.detail), RK_DETAIL_MAX);
        assert_null(strchr(f.u.result.detail, '\n'));
        assert_int_equal(f.u.result.detail[3], '?');
        rk_hub_frame_clear(&f);
    }

    /* deliver without an envelope. */
    memset(&body, 0, sizeof body);
    pb_uint(&body, 3, 5);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 4, &body);
    expect_hub(&frame, RK_WIRE_EFIELD, "'envelope'");

    /* deliver with a short who. */
    core_spec_write(&core, &s);
    envelope_write(&env, &core, 64, 8);
    memset(&body, 0, sizeof body);
    pb_msg(&body, 1, &env);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 4, &body);
    expect_hub(&frame, RK_WIRE_EFIELD, "'who'");

    /* deliver with a short signature. */
    envelope_write(&env, &core, 32, 16);
    memset(&body, 0, sizeof body);
    pb_msg(&body, 1, &env);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 4, &body);
    expect_hub(&frame, RK_WIRE_EFIELD, "'signature'");

    /* enrolled ACCEPTED with a code of the wrong length. */
    memset(&body, 0, sizeof body);
    pb_uint(&body, 1, 3);
    pb_uint(&body, 2, RK_ST_ACCEPTED);
    pb_bytes(&body, 3, WHO, 15);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 5, &body);
    expect_hub(&frame, RK_WIRE_EFIELD, "'code'");

    /* directory with a short signature. */
    memset(&body, 0, sizeof body);
    pb_uint(&body, 1, 3);
    pb_bytes(&body, 2, "x", 1);
    pb_bytes(&body, 3, SIG, 60);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 6, &body);
    expect_hub(&frame, RK_WIRE_EFIELD, "'signature'");

    /* Wrong version, no body, garbage, truncated. */
    memset(&body, 0, sizeof body);
    pb_uint(&body, 2, RK_ST_ACCEPTED);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 7);
    pb_msg(&frame, 3, &body);
    expect_hub(&frame, RK_WIRE_EVERSION, "version");
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    expect_hub(&frame, RK_WIRE_EFIELD, "body");
    memset(&frame, 0, sizeof frame);
    memcpy(frame.b, "\x0a\xff\xff\xff\xff\x0f", 6);
    frame.n = 6;
    expect_hub(&frame, RK_WIRE_EDECODE, NULL);
    envelope_write(&env, &core, 64, 16);
    memset(&body, 0, sizeof body);
    pb_msg(&body, 1, &env);
    memset(&frame, 0, sizeof frame);
    pb_uint(&frame, 1, 1);
    pb_msg(&frame, 4, &body);
    expect_hub(&frame, RK_WIRE_OK, NULL);
    frame.n -= 1;
    expect_hub(&frame, RK_WIRE_EDECODE, NULL);
}

static void test_envelope_seal_verify(void **state)
{
    rk_identity_t *id = rk_identity_generate("city.x");
    rk_identity_t *other = rk_identity_generate("city.x");
    rk_envelope_t env, copy;
    rk_core_t c;
    uint8_t who[RK_CODE_LEN];
    (void)state;

    assert_non_null(id);
    assert_non_null(other);
    core_fill(&c, "city.x", "power", "utility.supply.stop");
    randombytes_buf(who, sizeof who);
    assert_int_equal(rk_envelope_seal(&env, &c, who, id->sign_sk), RK_WIRE_OK);
    assert_non_null(env.core);
    assert_memory_equal(env.who, who, RK_CODE_LEN);
    assert_int_equal(rk_envelope_verify(&env, id->pub.sign_pk), RK_WIRE_OK);

    /* Another key: refused. */
    assert_int_equal(rk_envelope_verify(&env, other->pub.sign_pk), RK_WIRE_ESIG);

    /* Any single bit of the core flipped: refused. */
    for (size_t i = 0; i < env.core_len; i += 7) {
        env.core[i] ^= (uint8_t)(1u << (i % 8));
        if (rk_envelope_verify(&env, id->pub.sign_pk) != RK_WIRE_ESIG)
            fail_msg("flipping a bit of core byte %zu still verifies", i);
        env.core[i] ^= (uint8_t)(1u << (i % 8));
    }
    /* Any single bit of the signature flipped: refused. */
    for (size_t i = 0; i < RK_SIG_LEN; i += 5) {
        env.signature[i] ^= 0x04;
        if (rk_envelope_verify(&env, id->pub.sign_pk) != RK_WIRE_ESIG)
            fail_msg("flipping a bit of signature byte %zu still verifies", i);
        env.signature[i] ^= 0x04;
    }
    /* who is not signed: the hub rewrites it on the way. */
    env.who[0] ^= 0xff;
    assert_int_equal(rk_envelope_verify(&env, id->pub.sign_pk), RK_WIRE_OK);

    /* A deep copy verifies and does not share the core buffer. */
    assert_int_equal(rk_envelope_copy(&copy, &env), RK_WIRE_OK);
    assert_ptr_not_equal(copy.core, env.core);
    rk_envelope_clear(&env);
    assert_null(env.core);
    assert_int_equal(rk_envelope_verify(&copy, id->pub.sign_pk), RK_WIRE_OK);
    rk_envelope_clear(&copy);

    /* A core that does not pass the field checks is not sealed. */
    strcpy(c.to, "Power");
    memset(&env, 0x5a, sizeof env);
    assert_int_equal(rk_envelope_seal(&env, &c, who, id->sign_sk), RK_WIRE_EFIELD);
    assert_null(env.core);

    rk_core_clear(&c);
    rk_identity_destroy(&id);
    rk_identity_destroy(&other);
}

/* The envelope signature is the documented construction, so any
 * implementation can check it: Ed25519 over "renkei-envelope-v1" 0x00 core. */
static void test_envelope_signature_construction(void **state)
{
    rk_identity_t *id = rk_identity_generate("city.x");
    rk_envelope_t env;
    rk_core_t c;
    uint8_t *m;
    static const char domain[] = "renkei-envelope-v1";
    (void)state;

    assert_non_null(id);
    core_fill(&c, "city.x", "power", "utility.supply.stop");
    assert_int_equal(rk_envelope_seal(&env, &c, WHO, id->sign_sk), RK_WIRE_OK);
    m = malloc(sizeof domain + env.core_len);
    assert_non_null(m);
    memcpy(m, domain, sizeof domain); /* includes the 0x00 */
    memcpy(m + sizeof domain, env.core, env.core_len);
    assert_int_equal(crypto_sign_verify_detached(env.signature, m, sizeof domain + env.core_len,
                                                 id->pub.sign_pk),
                     0);
    free(m);
    rk_envelope_clear(&env);
    rk_core_clear(&c);
    rk_identity_destroy(&id);
}

/* ---------------------------------------------------------------- link codes */

static void test_code_text(void **state)
{
    static const uint8_t code[RK_CODE_LEN] = {0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
                                              0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x10};
    char text[RK_CODE_TEXT_LEN + 1];
    uint8_t back[RK_CODE_LEN];
    uint8_t rnd[RK_CODE_LEN];
    (void)state;

    rk_code_to_text(code, text);
    assert_string_equal(text, "000123456789abcdeffedcba98765410");
    assert_true(rk_code_from_text(text, back));
    assert_memory_equal(back, code, RK_CODE_LEN);

    for (int i = 0; i < 20; i++) {
        randombytes_buf(rnd, sizeof rnd);
        rk_code_to_text(rnd, text);
        assert_int_equal(strlen(text), RK_CODE_TEXT_LEN);
        for (size_t j = 0; j < RK_CODE_TEXT_LEN; j++)
            assert_true((text[j] >= '0' && text[j] <= '9') || (text[j] >= 'a' && text[j] <= 'f'));
        assert_true(rk_code_from_text(text, back));
        assert_memory_equal(back, rnd, RK_CODE_LEN);
    }
}

static void test_code_text_rejects(void **state)
{
    static const char *bad[] = {
        "",
        "000123456789abcdeffedcba9876541",   /* 31 */
        "000123456789abcdeffedcba987654100", /* 33 */
        "000123456789abcdeffedcba9876541g",  /* not hex */
        "000123456789abcdeffedcba9876541 ",  /* space */
        " 000123456789abcdeffedcba9876541",
        "00012345-6789abcdeffedcba98765410",
        "000123456789abcd\nfedcba987654100",
        "TEST-0001",
    };
    uint8_t back[RK_CODE_LEN];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rk_code_from_text(bad[i], back))
            fail_msg("'%s' was accepted as a link code", bad[i]);
    assert_false(rk_code_from_text(NULL, back));
}

/* ------------------------------------------------------------------- names */

static void test_valid_name(void **state)
{
    (void)state;
    assert_true(rk_valid_name("city.x"));
    assert_true(rk_valid_name("a"));
    assert_true(rk_valid_name("utility.supply.stop"));
    assert_true(rk_valid_name("gas_co-2"));
    assert_true(rk_valid_name(NAME64));
    assert_false(rk_valid_name(NAME65));
    assert_false(rk_valid_name(""));
    assert_false(rk_valid_name(NULL));
    assert_false(rk_valid_name("City"));
    assert_false(rk_valid_name("cIty"));
    assert_false(rk_valid_name("9city"));
    assert_false(rk_valid_name("-city"));
    assert_false(rk_valid_name("city x"));
    assert_false(rk_valid_name("city\n"));
}

/* -------------------------------------------------------------- status names */

/* Reads `NAME = N;` lines of `enum Status` from proto/renkei.proto, the
 * definition every peer shares, into names[N].  Returns how many. */
static int read_proto_status_names(char names[64][48])
{
    const char *src = getenv("RENKEI_SOURCE_DIR");
    char path[4096], line[512];
    int in_enum = 0, count = 0;
    FILE *fp;

    if (src == NULL)
        src = ".";
    snprintf(path, sizeof path, "%s/proto/renkei.proto", src);
    fp = fopen(path, "r");
    if (fp == NULL)
        fail_msg("cannot open %s (is RENKEI_SOURCE_DIR set?)", path);
    while (fgets(line, sizeof line, fp) != NULL) {
        char name[48];
        int value;
        if (strncmp(line, "enum Status", 11) == 0) {
            in_enum = 1;
            continue;
        }
        if (in_enum && line[0] == '}')
            break;
        if (in_enum && sscanf(line, " %47[A-Z_] = %d ;", name, &value) == 2 && value >= 0 &&
            value < 64) {
            snprintf(names[value], sizeof names[value], "%s", name);
            count++;
        }
    }
    fclose(fp);
    return count;
}

static void test_status_names(void **state)
{
    char names[64][48];
    int n;
    (void)state;

    memset(names, 0, sizeof names);
    n = read_proto_status_names(names);
    assert_int_equal(n, RK_ST_LAST + 1);
    /* Values 1..: the C name is exactly the proto name (what users see in
     * "refused: STATUS_NAME: ..."). */
    for (int st = RK_ST_ACCEPTED; st <= RK_ST_LAST; st++) {
        if (strcmp(rk_status_name((rk_status)st), names[st]) != 0)
            fail_msg("status %d: rk_status_name says %s, renkei.proto says %s", st,
                     rk_status_name((rk_status)st), names[st]);
    }
    /* Value 0 is the proto3 default; the C side drops the STATUS_ prefix. */
    assert_string_equal(names[0], "STATUS_UNSPECIFIED");
    assert_string_equal(rk_status_name(RK_ST_UNSPECIFIED), "UNSPECIFIED");

    assert_string_equal(rk_status_name(RK_ST_ACCEPTED), "ACCEPTED");
    assert_string_equal(rk_status_name(RK_ST_UNKNOWN_WHO), "UNKNOWN_WHO");
    assert_string_equal(rk_status_name(RK_ST_NO_FIRST_CONTACT), "NO_FIRST_CONTACT");
    assert_string_equal(rk_status_name((rk_status)(RK_ST_LAST + 1)), "UNKNOWN_STATUS");
    assert_string_equal(rk_status_name((rk_status)1000), "UNKNOWN_STATUS");
    assert_string_equal(rk_status_name((rk_status)-1), "UNKNOWN_STATUS");
}

static void test_status_texts(void **state)
{
    (void)state;
    for (int st = 0; st <= RK_ST_LAST; st++) {
        const char *t = rk_status_text((rk_status)st);
        assert_non_null(t);
        assert_true(strlen(t) > 5);
        /* Each sentence is distinct: a user can tell the refusals apart. */
        for (int o = 0; o < st; o++)
            if (strcmp(t, rk_status_text((rk_status)o)) == 0)
                fail_msg("statuses %d and %d share the text '%s'", o, st, t);
    }
    assert_string_equal(rk_status_text((rk_status)(RK_ST_LAST + 1)), "unknown status");
    assert_non_null(strstr(rk_status_text(RK_ST_NO_FIRST_CONTACT), "introduce"));
}

static void test_wire_strerror(void **state)
{
    (void)state;
    for (int e = RK_WIRE_OK; e <= RK_WIRE_ESIG; e++) {
        const char *t = rk_wire_strerror((rk_wire_err)e);
        assert_non_null(t);
        assert_string_not_equal(t, "unknown wire error");
        for (int o = 0; o < e; o++)
            assert_string_not_equal(t, rk_wire_strerror((rk_wire_err)o));
    }
    assert_string_equal(rk_wire_strerror((rk_wire_err)99), "unknown wire error");
}

/* Message ids start with the time, so one sender's ids sort in sending
 * order, and two made in the same millisecond still differ. */
static void test_msgid_time_ordered(void **state)
{
    uint8_t a[RK_MSGID_LEN], b[RK_MSGID_LEN], c[RK_MSGID_LEN];
    const uint8_t t[6] = {0x01, 0x9a, 0xbc, 0xde, 0xf0, 0x12};
    (void)state;
    rk_msgid_new(a, 0x019abcdef012ull);
    rk_msgid_new(b, 0x019abcdef012ull);
    rk_msgid_new(c, 0x019abcdef013ull);
    assert_memory_equal(a, t, sizeof t);
    assert_memory_not_equal(a, b, RK_MSGID_LEN);
    assert_true(memcmp(a, c, RK_MSGID_LEN) < 0);
    assert_true(memcmp(b, c, RK_MSGID_LEN) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_hello_roundtrip),
        cmocka_unit_test(test_client_send_roundtrip),
        cmocka_unit_test(test_client_send_without_core_not_encoded),
        cmocka_unit_test(test_client_enroll_directory_roundtrip),
        cmocka_unit_test(test_client_reject_roundtrip),
        cmocka_unit_test(test_hub_welcome_roundtrip),
        cmocka_unit_test(test_hub_result_roundtrip),
        cmocka_unit_test(test_hub_deliver_roundtrip),
        cmocka_unit_test(test_hub_enrolled_roundtrip),
        cmocka_unit_test(test_hub_directory_roundtrip),
        cmocka_unit_test(test_log_entry_count),
        cmocka_unit_test(test_log_entry_operator_signature),
        cmocka_unit_test(test_hub_key_statement),
        cmocka_unit_test(test_dir_open_refuses_wrong_key_and_tampering),
        cmocka_unit_test(test_dir_empty),
        cmocka_unit_test(test_dir_open_field_checks),
        cmocka_unit_test(test_signature_domains_are_separate),
        cmocka_unit_test(test_core_roundtrip),
        cmocka_unit_test(test_core_encode_refuses_bad_fields),
        cmocka_unit_test(test_core_decode_valid_spec),
        cmocka_unit_test(test_core_decode_msg_id_length),
        cmocka_unit_test(test_core_decode_empty_what),
        cmocka_unit_test(test_core_decode_bad_names),
        cmocka_unit_test(test_core_decode_version),
        cmocka_unit_test(test_core_decode_garbage_and_truncated),
        cmocka_unit_test(test_client_decode_field_checks),
        cmocka_unit_test(test_client_decode_reject_checks),
        cmocka_unit_test(test_hub_decode_field_checks),
        cmocka_unit_test(test_envelope_seal_verify),
        cmocka_unit_test(test_envelope_signature_construction),
        cmocka_unit_test(test_code_text),
        cmocka_unit_test(test_code_text_rejects),
        cmocka_unit_test(test_valid_name),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_status_texts),
        cmocka_unit_test(test_wire_strerror),
        cmocka_unit_test(test_msgid_time_ordered),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
