/*
 * test_golden.c - the wire format does not drift.
 *
 * The golden ClientFrame is rebuilt from fixed inputs and must equal the
 * committed client_send.bin byte for byte (check_golden.py decodes the same
 * file with Python's protobuf and PyNaCl).  hub_deliver.bin, encoded by
 * check_golden.py in Python, must decode here with every field intact.
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

#include "golden_frame.h"
#include "payload.h"
#include "wire.h"

/* plain (padded_len bytes) is text || 0x80 || zeros, as the wire format's
 * padding says; checked byte by byte, then through rk_unpad. */
static void assert_padded(const uint8_t *plain, size_t padded_len, const char *text)
{
    size_t text_len = strlen(text), unpadded = 0;
    assert_int_equal(padded_len, GOLDEN_PADDED_LEN);
    assert_memory_equal(plain, text, text_len);
    assert_int_equal(plain[text_len], 0x80);
    for (size_t i = text_len + 1; i < padded_len; i++)
        if (plain[i] != 0)
            fail_msg("padding byte %zu is 0x%02x, not 0", i, plain[i]);
    assert_true(rk_unpad(plain, padded_len, &unpadded));
    assert_int_equal(unpadded, text_len);
}

/* Reads tests/golden/NAME from the source tree into a malloc'd buffer. */
static uint8_t *read_golden(const char *name, size_t *len)
{
    const char *src = getenv("RENKEI_SOURCE_DIR");
    char path[4096];
    uint8_t *buf;
    long size;
    FILE *fp;

    if (src == NULL)
        fail_msg("RENKEI_SOURCE_DIR is not set: run this test through ctest");
    snprintf(path, sizeof path, "%s/tests/golden/%s", src, name);
    fp = fopen(path, "rb");
    if (fp == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    size = ftell(fp);
    assert_true(size > 0);
    rewind(fp);
    buf = malloc((size_t)size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *len = (size_t)size;
    return buf;
}

static void test_client_send_matches_committed_bytes(void **state)
{
    uint8_t *built = NULL, *golden;
    size_t built_len = 0, golden_len = 0;
    char why[256] = "";
    (void)state;

    if (golden_client_send(&built, &built_len, why, sizeof why) != 0)
        fail_msg("cannot build the golden frame: %s", why);
    golden = read_golden("client_send.bin", &golden_len);
    for (size_t i = 0; i < built_len && i < golden_len; i++)
        if (built[i] != golden[i])
            fail_msg("the encoder's output differs from client_send.bin at byte %zu "
                     "(0x%02x, committed 0x%02x): the wire format changed", i, built[i], golden[i]);
    if (built_len != golden_len)
        fail_msg("the encoder produced %zu bytes, client_send.bin has %zu", built_len, golden_len);
    free(built);
    free(golden);
}

static void test_client_send_decodes_and_opens(void **state)
{
    golden_party sender, recipient;
    rk_client_frame_t f;
    rk_core_t core;
    uint8_t *golden, plain[256];
    size_t len = 0, plain_len;
    char why[256] = "";
    (void)state;

    assert_int_equal(golden_party_from_seed(golden_sender_seed, &sender), 0);
    assert_int_equal(golden_party_from_seed(golden_recipient_seed, &recipient), 0);
    golden = read_golden("client_send.bin", &len);
    if (rk_client_frame_decode(golden, len, &f, why, sizeof why) != RK_WIRE_OK)
        fail_msg("client_send.bin does not decode: %s", why);
    assert_int_equal(f.kind, RK_CF_SEND);
    assert_memory_equal(f.u.send.who, golden_who, 16);
    assert_int_equal(rk_envelope_verify(&f.u.send, sender.sign_pk), RK_WIRE_OK);
    assert_int_equal(rk_envelope_verify(&f.u.send, recipient.sign_pk), RK_WIRE_ESIG);
    if (rk_core_decode(f.u.send.core, f.u.send.core_len, &core, why, sizeof why) != RK_WIRE_OK)
        fail_msg("golden core does not decode: %s", why);
    assert_string_equal(core.from, GOLDEN_SENDER);
    assert_string_equal(core.to, GOLDEN_RECIPIENT);
    assert_string_equal(core.type, GOLDEN_TYPE);
    assert_memory_equal(core.msg_id, golden_msg_id, 16);
    assert_false(core.has_reply_to);
    assert_true(core.time_ms == GOLDEN_TIME_MS);
    assert_memory_equal(core.what, golden_nonce, 24);
    plain_len = core.what_len - 24 - crypto_box_MACBYTES;
    assert_true(plain_len < sizeof plain);
    assert_int_equal(crypto_box_open_easy(plain, core.what + 24, core.what_len - 24, core.what,
                                          sender.curve_pk, recipient.curve_sk),
                     0);
    assert_int_equal(core.what_len, GOLDEN_WHAT_LEN);
    assert_padded(plain, plain_len, GOLDEN_PLAINTEXT);

    rk_core_clear(&core);
    rk_client_frame_clear(&f);
    free(golden);
}

/* The reverse direction: bytes written by Python's protobuf, read by wire.c. */
static void test_hub_deliver_from_python(void **state)
{
    golden_party sender, recipient;
    rk_hub_frame_t f;
    rk_core_t core;
    uint8_t *golden, plain[256];
    size_t len = 0, plain_len;
    char why[256] = "";
    (void)state;

    assert_int_equal(golden_party_from_seed(golden_sender_seed, &sender), 0);
    assert_int_equal(golden_party_from_seed(golden_recipient_seed, &recipient), 0);
    golden = read_golden("hub_deliver.bin", &len);
    if (rk_hub_frame_decode(golden, len, &f, why, sizeof why) != RK_WIRE_OK)
        fail_msg("hub_deliver.bin does not decode: %s", why);
    assert_int_equal(f.kind, RK_HF_DELIVER);
    assert_false(f.u.deliver.first_contact);
    assert_int_equal(f.u.deliver.seq, GOLDEN_REPLY_SEQ);
    assert_memory_equal(f.u.deliver.envelope.who, golden_reply_who, 16);
    /* The reply is signed by the recipient of the original request. */
    assert_int_equal(rk_envelope_verify(&f.u.deliver.envelope, recipient.sign_pk), RK_WIRE_OK);
    assert_int_equal(rk_envelope_verify(&f.u.deliver.envelope, sender.sign_pk), RK_WIRE_ESIG);
    if (rk_core_decode(f.u.deliver.envelope.core, f.u.deliver.envelope.core_len, &core, why,
                       sizeof why) != RK_WIRE_OK)
        fail_msg("python core does not decode: %s", why);
    assert_string_equal(core.from, GOLDEN_RECIPIENT);
    assert_string_equal(core.to, GOLDEN_SENDER);
    assert_string_equal(core.type, GOLDEN_TYPE);
    assert_memory_equal(core.msg_id, golden_reply_msg_id, 16);
    assert_true(core.has_reply_to);
    assert_memory_equal(core.reply_to, golden_msg_id, 16);
    assert_true(core.time_ms == GOLDEN_TIME_MS + 60000);
    assert_memory_equal(core.what, golden_reply_nonce, 24);
    plain_len = core.what_len - 24 - crypto_box_MACBYTES;
    assert_true(plain_len < sizeof plain);
    assert_int_equal(crypto_box_open_easy(plain, core.what + 24, core.what_len - 24, core.what,
                                          recipient.curve_pk, sender.curve_sk),
                     0);
    assert_int_equal(core.what_len, GOLDEN_WHAT_LEN);
    assert_padded(plain, plain_len, GOLDEN_REPLY_PLAINTEXT);

    rk_core_clear(&core);
    rk_hub_frame_clear(&f);
    free(golden);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_send_matches_committed_bytes),
        cmocka_unit_test(test_client_send_decodes_and_opens),
        cmocka_unit_test(test_hub_deliver_from_python),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
