/*
 * test_agent_seal.c - building and opening envelopes without sockets:
 * round trip, tampering, wrong keys, misrouting, and the padding of every
 * payload to its size class (proto/payload.h) at its edges.
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
#include "payload.h"
#include "seal.h"

typedef struct fixture {
    rk_identity_t *x;     /* city.x, the sender */
    rk_identity_t *power; /* the recipient */
    rk_identity_t *other; /* a third party */
    rk_dir_entry_t e_x, e_power, e_other;
} fixture;

static void entry_for(const rk_identity_t *id, const char *kind, rk_dir_entry_t *e)
{
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id->pub.name);
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    e->active = true;
    memcpy(e->sign_key, id->pub.sign_pk, RK_KEY_LEN);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->x = rk_identity_generate("city.x");
    f->power = rk_identity_generate("power");
    f->other = rk_identity_generate("gas");
    if (f->x == NULL || f->power == NULL || f->other == NULL)
        return -1;
    entry_for(f->x, "municipality", &f->e_x);
    entry_for(f->power, "utility", &f->e_power);
    entry_for(f->other, "utility", &f->e_other);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rk_identity_destroy(&f->x);
    rk_identity_destroy(&f->power);
    rk_identity_destroy(&f->other);
    free(f);
    return 0;
}

static const uint8_t MSG_ID[RK_MSGID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t WHO[RK_CODE_LEN] = {0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
                                         0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf};
static const char PAYLOAD[] = "{\"stop\":\"2025-04-01\",\"address\":\"TEST ADDRESS 1-2-3\"}";

static void seal(const fixture *f, const rk_identity_t *from, const rk_dir_entry_t *to, rk_envelope_t *env)
{
    rk_seal_params p = {.type = "utility.supply.stop", .msg_id = MSG_ID, .time_ms = 1700000000000ull, .who = WHO};
    char why[256] = "";
    (void)f;
    if (rk_seal_build(from, to, &p, (const uint8_t *)PAYLOAD, strlen(PAYLOAD), env, why, sizeof why) != RK_AGENT_OK)
        fail_msg("sealing failed: %s", why);
}

static bool contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

/* The recipient reads exactly what the sender wrote; the bytes in transit
 * do not show it. */
static void test_round_trip(void **state)
{
    fixture *f = *state;
    rk_envelope_t env;
    rk_core_t core;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    char why[256] = "";

    seal(f, f->x, &f->e_power, &env);
    assert_memory_equal(env.who, WHO, RK_CODE_LEN);
    assert_false(contains(env.core, env.core_len, "TEST ADDRESS", 12));

    assert_int_equal(rk_seal_peek(&env, "power", &core, why, sizeof why), RK_AGENT_OK);
    assert_string_equal(core.from, "city.x");
    assert_string_equal(core.to, "power");
    assert_string_equal(core.type, "utility.supply.stop");
    assert_memory_equal(core.msg_id, MSG_ID, RK_MSGID_LEN);
    assert_false(core.has_reply_to);
    assert_int_equal(core.time_ms, 1700000000000ull);
    assert_int_equal(rk_seal_open(f->power, NULL, &env, &core, &f->e_x, NULL, &plain, &plain_len, why,
                                  sizeof why),
                     RK_AGENT_OK);
    assert_int_equal(plain_len, strlen(PAYLOAD));
    assert_memory_equal(plain, PAYLOAD, plain_len);
    rk_seal_free_plain(&plain, plain_len);
    assert_null(plain);
    rk_core_clear(&core);
    rk_envelope_clear(&env);
}

/* `what` is nonce || crypto_box_easy(payload || 0x80 || zeros) as
 * documented, 256 bytes for a short payload: an independent
 * crypto_box_open_easy with the raw keys opens it. */
static void test_what_layout_independent(void **state)
{
    fixture *f = *state;
    rk_envelope_t env;
    rk_core_t core;
    uint8_t out[256 - crypto_box_NONCEBYTES - crypto_box_MACBYTES];

    seal(f, f->x, &f->e_power, &env);
    assert_int_equal(rk_core_decode(env.core, env.core_len, &core, NULL, 0), RK_WIRE_OK);
    assert_int_equal(core.what_len, 256);
    assert_int_equal(crypto_box_open_easy(out, core.what + crypto_box_NONCEBYTES,
                                          core.what_len - crypto_box_NONCEBYTES, core.what,
                                          f->x->pub.curve_pk, f->power->curve_sk),
                     0);
    assert_memory_equal(out, PAYLOAD, strlen(PAYLOAD));
    assert_int_equal(out[strlen(PAYLOAD)], 0x80);
    for (size_t i = strlen(PAYLOAD) + 1; i < sizeof out; i++)
        assert_int_equal(out[i], 0);
    assert_int_equal(rk_envelope_verify(&env, f->x->pub.sign_pk), RK_WIRE_OK);
    rk_core_clear(&core);
    rk_envelope_clear(&env);
}

/* A core changed after signing (here: the procedure type) is refused as a
 * bad signature, and no payload comes out. */
static void test_tampered_core_bad_signature(void **state)
{
    fixture *f = *state;
    rk_envelope_t env;
    rk_core_t core;
    uint8_t *plain = NULL, *re = NULL;
    size_t plain_len = 0, re_len = 0;

    seal(f, f->x, &f->e_power, &env);
    assert_int_equal(rk_core_decode(env.core, env.core_len, &core, NULL, 0), RK_WIRE_OK);
    snprintf(core.type, sizeof core.type, "utility.supply.start");
    assert_int_equal(rk_core_encode(&core, &re, &re_len), RK_WIRE_OK);
    rk_core_clear(&core);
    free(env.core);
    env.core = re;
    env.core_len = re_len;

    assert_int_equal(rk_seal_peek(&env, "power", &core, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_seal_open(f->power, NULL, &env, &core, &f->e_x, NULL, &plain, &plain_len, NULL, 0),
                     RK_AGENT_EBADSIG);
    assert_null(plain);
    rk_core_clear(&core);
    rk_envelope_clear(&env);
}

/* A signature checked against the wrong key in the directory fails. */
static void test_wrong_sender_key_bad_signature(void **state)
{
    fixture *f = *state;
    rk_envelope_t env;
    rk_core_t core;
    rk_dir_entry_t forged = f->e_other;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    char why[256] = "";

    snprintf(forged.id, sizeof forged.id, "city.x"); /* the name, with another key */
    seal(f, f->x, &f->e_power, &env);
    assert_int_equal(rk_seal_peek(&env, "power", &core, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_seal_open(f->power, NULL, &env, &core, &forged, NULL, &plain, &plain_len, why,
                                  sizeof why),
                     RK_AGENT_EBADSIG);
    assert_non_null(strstr(why, "signature"));
    rk_core_clear(&core);
    rk_envelope_clear(&env);
}

/* Encrypted for the wrong key (the sender's directory was stale): the
 * signature is fine but the payload does not open. */
static void test_wrong_recipient_key_undecryptable(void **state)
{
    fixture *f = *state;
    rk_envelope_t env;
    rk_core_t core;
    rk_dir_entry_t stale = f->e_other;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    char why[256] = "";

    snprintf(stale.id, sizeof stale.id, "power");
    seal(f, f->x, &stale, &env);
    assert_int_equal(rk_seal_peek(&env, "power", &core, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_seal_open(f->power, NULL, &env, &core, &f->e_x, NULL, &plain, &plain_len, why,
                                  sizeof why),
                     RK_AGENT_EUNDECRYPTABLE);
    assert_null(plain);
    assert_non_null(strstr(why, "does not decrypt"));
    rk_core_clear(&core);
    rk_envelope_clear(&env);
}

/* An envelope addressed to someone else is noticed before anything else,
 * and the core stays readable so the sender can be told. */
static void test_core_to_mismatch(void **state)
{
    fixture *f = *state;
    rk_envelope_t env;
    rk_core_t core;
    char why[256] = "";

    seal(f, f->x, &f->e_other, &env);
    assert_int_equal(rk_seal_peek(&env, "power", &core, why, sizeof why), RK_AGENT_EMISROUTED);
    assert_string_equal(core.from, "city.x");
    assert_non_null(strstr(why, "addressed to gas"));
    rk_core_clear(&core);
    rk_envelope_clear(&env);
}

/* A core that is not a protobuf message is refused as unreadable. */
static void test_garbage_core(void **state)
{
    rk_envelope_t env;
    rk_core_t core;
    uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    (void)state;
    memset(&env, 0, sizeof env);
    env.core = junk;
    env.core_len = sizeof junk;
    assert_int_equal(rk_seal_peek(&env, "power", &core, NULL, 0), RK_AGENT_EPROTO);
    assert_null(core.what);
}

/* A reply carries reply_to inside the signed core. */
static void test_reply_to_is_signed(void **state)
{
    fixture *f = *state;
    static const uint8_t REQ[RK_MSGID_LEN] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    rk_seal_params p = {.type = "utility.supply.stop", .msg_id = MSG_ID, .reply_to = REQ, .time_ms = 1, .who = WHO};
    rk_envelope_t env;
    rk_core_t core;
    uint8_t *plain = NULL;
    size_t plain_len = 0;

    assert_int_equal(rk_seal_build(f->power, &f->e_x, &p, (const uint8_t *)"{}", 2, &env, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_seal_peek(&env, "city.x", &core, NULL, 0), RK_AGENT_OK);
    assert_true(core.has_reply_to);
    assert_memory_equal(core.reply_to, REQ, RK_MSGID_LEN);
    assert_int_equal(rk_seal_open(f->x, NULL, &env, &core, &f->e_power, NULL, &plain, &plain_len, NULL, 0),
                     RK_AGENT_OK);
    assert_int_equal(plain_len, 2);
    rk_seal_free_plain(&plain, plain_len);
    rk_core_clear(&core);
    rk_envelope_clear(&env);
}

/* ------------------------------------------------------------ size classes */

/* Which class a plaintext goes into: the smallest whose padded plaintext
 * (class - 40 bytes) holds it and the 0x80 marker. */
static void test_size_class_for(void **state)
{
    (void)state;
    assert_int_equal(rk_size_class_for(0), 256);
    assert_int_equal(rk_size_class_for(215), 256);  /* 215 + 0x80 = 216 = 256 - 40 */
    assert_int_equal(rk_size_class_for(216), 512);  /* one more: the next class */
    assert_int_equal(rk_size_class_for(471), 512);
    assert_int_equal(rk_size_class_for(472), 1024);
    assert_int_equal(rk_size_class_for(65536 - 41), 65536);
    assert_int_equal(rk_size_class_for(65536 - 40), 131072);
    assert_int_equal(RK_PLAIN_MAX, (4u << 20) - 41);
    assert_int_equal(rk_size_class_for(RK_PLAIN_MAX), 4u << 20);
    assert_int_equal(rk_size_class_for(RK_PLAIN_MAX + 1), 0);
    assert_int_equal(rk_size_class_for(SIZE_MAX), 0);

    assert_true(rk_is_size_class(256));
    assert_true(rk_is_size_class(4096));
    assert_true(rk_is_size_class(4u << 20));
    assert_false(rk_is_size_class(0));
    assert_false(rk_is_size_class(128));
    assert_false(rk_is_size_class(255));
    assert_false(rk_is_size_class(257));
    assert_false(rk_is_size_class(384));
    assert_false(rk_is_size_class(8u << 20));
}

/* rk_unpad takes back exactly what rk_pad added, whatever the payload's
 * own last bytes are, and nothing that is not that padding. */
static void test_unpad_edges(void **state)
{
    uint8_t buf[216];
    size_t len = 99;
    (void)state;

    /* empty payload: 0x80 then 215 zeros */
    rk_pad(buf, 0, sizeof buf);
    assert_int_equal(buf[0], 0x80);
    assert_true(rk_unpad(buf, sizeof buf, &len));
    assert_int_equal(len, 0);

    /* exactly full: 215 bytes, then the marker as the last byte */
    memset(buf, 'a', 215);
    rk_pad(buf, 215, sizeof buf);
    assert_int_equal(buf[215], 0x80);
    assert_true(rk_unpad(buf, sizeof buf, &len));
    assert_int_equal(len, 215);

    /* a payload that itself ends in zeros and 0x80 keeps them */
    memset(buf, 0, sizeof buf);
    buf[0] = 'x';
    buf[1] = 0x80;
    buf[2] = 0x00;
    rk_pad(buf, 3, sizeof buf);
    assert_true(rk_unpad(buf, sizeof buf, &len));
    assert_int_equal(len, 3);

    /* malformed: no marker at all (all zeros) */
    memset(buf, 0, sizeof buf);
    assert_false(rk_unpad(buf, sizeof buf, &len));
    /* malformed: the last non-zero byte is not 0x80 */
    memset(buf, 'a', 10);
    rk_pad(buf, 10, sizeof buf);
    buf[100] = 0x01;
    assert_false(rk_unpad(buf, sizeof buf, &len));
    /* malformed: no padding at all (a plaintext that does not end in 0x80) */
    memset(buf, 'a', sizeof buf);
    assert_false(rk_unpad(buf, sizeof buf, &len));
    /* malformed: well padded but one byte short of a class */
    memset(buf, 'a', 10);
    rk_pad(buf, 10, sizeof buf - 1);
    assert_false(rk_unpad(buf, sizeof buf - 1, &len));
    /* nothing at all */
    assert_false(rk_unpad(buf, 0, &len));
    assert_int_equal(len, 3); /* untouched by the refusals */
}

/* Seals a payload of len bytes (each byte its index, so trailing zeros
 * and 0x80s occur too), checks the class on the wire, and opens it. */
static void round_trip_len(const fixture *f, size_t len, size_t want_class)
{
    rk_seal_params p = {.type = "utility.supply.stop", .msg_id = MSG_ID, .time_ms = 1, .who = WHO};
    uint8_t *payload = malloc(len ? len : 1), *plain = NULL;
    size_t plain_len = 0;
    rk_envelope_t env;
    rk_core_t core;
    char why[256] = "";

    assert_non_null(payload);
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)i;
    if (rk_seal_build(f->x, &f->e_power, &p, payload, len, &env, why, sizeof why) != RK_AGENT_OK)
        fail_msg("sealing %zu bytes failed: %s", len, why);
    assert_int_equal(rk_seal_peek(&env, "power", &core, NULL, 0), RK_AGENT_OK);
    assert_int_equal(core.what_len, want_class);
    assert_int_equal(rk_seal_open(f->power, NULL, &env, &core, &f->e_x, NULL, &plain, &plain_len, why,
                                  sizeof why),
                     RK_AGENT_OK);
    assert_int_equal(plain_len, len);
    assert_memory_equal(plain, payload, len);
    assert_int_equal(plain[len], 0); /* the terminator */
    rk_seal_free_plain(&plain, plain_len);
    rk_core_clear(&core);
    rk_envelope_clear(&env);
    free(payload);
}

/* Payloads at the edges of the classes travel padded and come out whole;
 * one byte more than the largest class holds is refused before sealing. */
static void test_padded_round_trips(void **state)
{
    fixture *f = *state;
    rk_seal_params p = {.type = "utility.supply.stop", .msg_id = MSG_ID, .time_ms = 1, .who = WHO};
    rk_envelope_t env;
    uint8_t *big;
    char why[256] = "";

    round_trip_len(f, 0, 256);
    round_trip_len(f, 1, 256);
    round_trip_len(f, 215, 256);
    round_trip_len(f, 216, 512);
    round_trip_len(f, 983, 1024);
    round_trip_len(f, 984, 2048);
    round_trip_len(f, RK_PLAIN_MAX, 4u << 20);

    big = calloc(1, RK_PLAIN_MAX + 1);
    assert_non_null(big);
    assert_int_equal(rk_seal_build(f->x, &f->e_power, &p, big, RK_PLAIN_MAX + 1, &env, why, sizeof why),
                     RK_AGENT_EINVAL);
    assert_non_null(strstr(why, "larger than any hub accepts"));
    assert_null(env.core);
    free(big);
}

/* An envelope from city.x to power whose `what` is exactly
 * nonce || crypto_box_easy(inner) (no padding added here). */
static void seal_raw(const fixture *f, const uint8_t *inner, size_t inner_len, rk_envelope_t *env)
{
    rk_core_t core;
    memset(&core, 0, sizeof core);
    snprintf(core.from, sizeof core.from, "city.x");
    snprintf(core.to, sizeof core.to, "power");
    snprintf(core.type, sizeof core.type, "utility.supply.stop");
    memcpy(core.msg_id, MSG_ID, RK_MSGID_LEN);
    core.time_ms = 1;
    core.what_len = crypto_box_NONCEBYTES + crypto_box_MACBYTES + inner_len;
    core.what = malloc(core.what_len);
    assert_non_null(core.what);
    randombytes_buf(core.what, crypto_box_NONCEBYTES);
    assert_int_equal(crypto_box_easy(core.what + crypto_box_NONCEBYTES, inner, inner_len, core.what,
                                     f->power->pub.curve_pk, f->x->curve_sk),
                     0);
    assert_int_equal(rk_envelope_seal(env, &core, WHO, f->x->sign_sk), RK_WIRE_OK);
    rk_core_clear(&core);
}

static void expect_unpadded(const fixture *f, const uint8_t *inner, size_t inner_len)
{
    rk_envelope_t env;
    rk_core_t core;
    uint8_t *plain = NULL;
    size_t plain_len = 7;
    char why[256] = "";

    seal_raw(f, inner, inner_len, &env);
    assert_int_equal(rk_seal_peek(&env, "power", &core, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_seal_open(f->power, NULL, &env, &core, &f->e_x, NULL, &plain, &plain_len, why,
                                  sizeof why),
                     RK_AGENT_EUNDECRYPTABLE);
    assert_null(plain);
    assert_int_equal(plain_len, 0);
    assert_non_null(strstr(why, "not padded to a size class"));
    rk_core_clear(&core);
    rk_envelope_clear(&env);
}

/* A payload that opens but is not padded as the wire format says is
 * refused as undecryptable: an unpadded payload (the length of the
 * plaintext itself), one with no 0x80 marker, one with a stray byte after
 * the marker. */
static void test_malformed_padding_undecryptable(void **state)
{
    fixture *f = *state;
    uint8_t inner[216];

    expect_unpadded(f, (const uint8_t *)PAYLOAD, strlen(PAYLOAD));
    memset(inner, 0, sizeof inner);
    memcpy(inner, PAYLOAD, strlen(PAYLOAD));
    expect_unpadded(f, inner, sizeof inner); /* zeros, no marker */
    inner[strlen(PAYLOAD)] = 0x80;
    inner[sizeof inner - 1] = 0x01;
    expect_unpadded(f, inner, sizeof inner); /* a byte after the marker */
    inner[sizeof inner - 1] = 0x00;
    expect_unpadded(f, inner, sizeof inner - 1); /* well padded, one byte short of the class */
}

/* A rekeyed sender: what it signed with its old key opens while the
 * directory lists that key as its previous one, and only then. */
static void test_sender_previous_key(void **state)
{
    fixture *f = *state;
    rk_identity_t *x_new = rk_identity_generate("city.x");
    rk_dir_entry_t e_x = f->e_x;
    rk_envelope_t env;
    rk_core_t core;
    uint8_t *plain = NULL, signer[RK_KEY_LEN];
    size_t plain_len = 0;

    assert_non_null(x_new);
    seal(f, f->x, &f->e_power, &env); /* signed and boxed with the old key */
    memcpy(e_x.sign_key, x_new->pub.sign_pk, RK_KEY_LEN);
    assert_int_equal(rk_seal_peek(&env, "power", &core, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_seal_open(f->power, NULL, &env, &core, &e_x, signer, &plain, &plain_len, NULL, 0),
                     RK_AGENT_EBADSIG);
    e_x.has_prev = true;
    memcpy(e_x.prev_sign_key, f->x->pub.sign_pk, RK_KEY_LEN);
    assert_int_equal(rk_seal_open(f->power, NULL, &env, &core, &e_x, signer, &plain, &plain_len, NULL, 0),
                     RK_AGENT_OK);
    assert_memory_equal(signer, f->x->pub.sign_pk, RK_KEY_LEN);
    assert_memory_equal(plain, PAYLOAD, plain_len);
    rk_seal_free_plain(&plain, plain_len);
    rk_core_clear(&core);
    rk_envelope_clear(&env);
    rk_identity_destroy(&x_new);
}

/* A rekeyed recipient: what was sealed to its old key opens with the
 * previous key it keeps, and not without it. */
static void test_recipient_previous_key(void **state)
{
    fixture *f = *state;
    rk_identity_t *power_new = rk_identity_generate("power");
    rk_envelope_t env;
    rk_core_t core;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    char why[256] = "";

    assert_non_null(power_new);
    seal(f, f->x, &f->e_power, &env); /* sealed to power's old key */
    assert_int_equal(rk_seal_peek(&env, "power", &core, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_seal_open(power_new, NULL, &env, &core, &f->e_x, NULL, &plain, &plain_len, why,
                                  sizeof why),
                     RK_AGENT_EUNDECRYPTABLE);
    assert_int_equal(rk_seal_open(power_new, f->power, &env, &core, &f->e_x, NULL, &plain, &plain_len, why,
                                  sizeof why),
                     RK_AGENT_OK);
    assert_memory_equal(plain, PAYLOAD, plain_len);
    rk_seal_free_plain(&plain, plain_len);
    rk_core_clear(&core);
    rk_envelope_clear(&env);
    rk_identity_destroy(&power_new);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_what_layout_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_core_bad_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_sender_key_bad_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_recipient_key_undecryptable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_core_to_mismatch, setup, teardown),
        cmocka_unit_test(test_garbage_core),
        cmocka_unit_test_setup_teardown(test_reply_to_is_signed, setup, teardown),
        cmocka_unit_test(test_size_class_for),
        cmocka_unit_test(test_unpad_edges),
        cmocka_unit_test_setup_teardown(test_padded_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_padding_undecryptable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sender_previous_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recipient_previous_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
