/*
 * test_note.c - signed checkpoints (tlog/note.c): C2SP signed-note carrying a
 * tlog-checkpoint, checked strictly on opening.
 *
 * Notes with a malformed body but a valid signature are built here with
 * libsodium directly, so that the body checks are reached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "note.h"

#define ORIGIN "hub.example/renkei-log"
#define KEY_NAME "hub.example/renkei-log"
/* 2024-04-01T09:00:00Z */
#define T0 INT64_C(1711962000)

typedef struct keys {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    uint8_t other_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t other_sk[crypto_sign_SECRETKEYBYTES];
} keys_t;

static int group_setup(void **state)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    keys_t *k;

    if (sodium_init() < 0 || (k = calloc(1, sizeof *k)) == NULL)
        return -1;
    memset(seed, 0x42, sizeof seed);
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
    memset(seed, 0x43, sizeof seed);
    crypto_sign_seed_keypair(k->other_pk, k->other_sk, seed);
    *state = k;
    return 0;
}

static int group_teardown(void **state)
{
    keys_t *k = *state;
    sodium_memzero(k, sizeof *k);
    free(k);
    return 0;
}

static tlog_checkpoint_t sample_cp(void)
{
    tlog_checkpoint_t cp;
    cp.size = 300;
    for (int i = 0; i < TLOG_HASH_LEN; i++)
        cp.root[i] = (uint8_t)(i * 7 + 1);
    cp.time = T0;
    return cp;
}

static size_t sign_sample(const keys_t *k, char *out, size_t cap)
{
    tlog_checkpoint_t cp = sample_cp();
    size_t len = 0;
    assert_int_equal(tlog_checkpoint_sign(ORIGIN, &cp, KEY_NAME, k->sk, out, cap, &len), TLOG_OK);
    assert_int_equal(strlen(out), len);
    return len;
}

/* Builds "<body>\n— <name> <base64(id || sig(body))>\n" with any body. */
static size_t sign_raw(const char *body, const char *name, const uint8_t *pk, const uint8_t *sk,
                       char *out, size_t cap)
{
    uint8_t sig[4 + crypto_sign_BYTES];
    char b64[sodium_base64_ENCODED_LEN(sizeof sig, sodium_base64_VARIANT_ORIGINAL)];
    uint32_t id = tlog_key_id(name, pk);
    int w;

    sig[0] = (uint8_t)(id >> 24);
    sig[1] = (uint8_t)(id >> 16);
    sig[2] = (uint8_t)(id >> 8);
    sig[3] = (uint8_t)id;
    crypto_sign_detached(sig + 4, NULL, (const uint8_t *)body, strlen(body), sk);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    w = snprintf(out, cap, "%s\n\xe2\x80\x94 %s %s\n", body, name, b64);
    assert_true(w > 0 && (size_t)w < cap);
    return (size_t)w;
}

static tlog_err open_text(const keys_t *k, const char *text, size_t len, tlog_checkpoint_t *cp,
                          char *why, size_t why_len)
{
    return tlog_checkpoint_open(text, len, ORIGIN, KEY_NAME, k->pk, cp, why, why_len);
}

static void assert_zero_cp(const tlog_checkpoint_t *cp)
{
    tlog_checkpoint_t zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(cp, &zero, sizeof zero);
}

/* Opening `text` must fail with `want`, with a reason containing `needle`. */
static void expect_refused(const keys_t *k, const char *text, size_t len, tlog_err want,
                           const char *needle)
{
    tlog_checkpoint_t cp;
    char why[256] = "";
    tlog_err err = open_text(k, text, len, &cp, why, sizeof why);
    if (err != want || strstr(why, needle) == NULL)
        fail_msg("expected error %d with \"%s\", got %d: %s", want, needle, err, why);
    assert_zero_cp(&cp);
}

/* ------------------------------------------------------------------- tests */

static void test_sign_open_roundtrip(void **state)
{
    const keys_t *k = *state;
    char text[TLOG_CHECKPOINT_MAX], why[256] = "x";
    tlog_checkpoint_t cp, want = sample_cp();
    size_t len = sign_sample(k, text, sizeof text);
    char root_b64[64];
    char expect_body[256];

    sodium_bin2base64(root_b64, sizeof root_b64, want.root, TLOG_HASH_LEN,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(expect_body, sizeof expect_body,
             ORIGIN "\n300\n%s\nrenkei-time 2024-04-01T09:00:00Z\n\n\xe2\x80\x94 " KEY_NAME " ",
             root_b64);
    assert_memory_equal(text, expect_body, strlen(expect_body));
    assert_int_equal(text[len - 1], '\n');

    assert_int_equal(open_text(k, text, len, &cp, why, sizeof why), TLOG_OK);
    assert_int_equal(cp.size, want.size);
    assert_memory_equal(cp.root, want.root, TLOG_HASH_LEN);
    assert_int_equal(cp.time, want.time);
    assert_string_equal(why, "");
}

static void test_empty_tree_and_epoch(void **state)
{
    const keys_t *k = *state;
    char text[TLOG_CHECKPOINT_MAX];
    tlog_checkpoint_t cp = {.size = 0, .time = 0}, got;
    size_t len;

    crypto_hash_sha256(cp.root, NULL, 0);
    assert_int_equal(tlog_checkpoint_sign(ORIGIN, &cp, KEY_NAME, k->sk, text, sizeof text, &len),
                     TLOG_OK);
    assert_non_null(strstr(text, "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"));
    assert_non_null(strstr(text, "renkei-time 1970-01-01T00:00:00Z\n"));
    assert_int_equal(open_text(k, text, len, &got, NULL, 0), TLOG_OK);
    assert_int_equal(got.size, 0);
    assert_int_equal(got.time, 0);
}

static void test_key_id_rule(void **state)
{
    const keys_t *k = *state;
    uint8_t buf[64], h[32];
    size_t n = strlen(KEY_NAME);

    memcpy(buf, KEY_NAME, n);
    buf[n] = 0x0a;
    buf[n + 1] = 0x01;
    memcpy(buf + n + 2, k->pk, 32);
    crypto_hash_sha256(h, buf, n + 34);
    assert_int_equal(tlog_key_id(KEY_NAME, k->pk),
                     (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3]);
}

static void test_vkey_roundtrip_and_errors(void **state)
{
    const keys_t *k = *state;
    char vkey[TLOG_VKEY_MAX], name[TLOG_NAME_MAX + 1], bad[TLOG_VKEY_MAX], why[256];
    uint8_t pk[32];
    char *plus;

    assert_int_equal(tlog_vkey_format(KEY_NAME, k->pk, vkey, sizeof vkey), TLOG_OK);
    snprintf(bad, sizeof bad, KEY_NAME "+%08x+", (unsigned)tlog_key_id(KEY_NAME, k->pk));
    assert_memory_equal(vkey, bad, strlen(bad));
    assert_int_equal(tlog_vkey_parse(vkey, name, pk, why, sizeof why), TLOG_OK);
    assert_string_equal(name, KEY_NAME);
    assert_memory_equal(pk, k->pk, 32);

    /* Too small a buffer, a bad name. */
    assert_int_equal(tlog_vkey_format(KEY_NAME, k->pk, bad, 20), TLOG_ESPACE);
    assert_string_equal(bad, "");
    assert_int_equal(tlog_vkey_format("has space", k->pk, bad, sizeof bad), TLOG_EINVAL);

    /* A mistyped key id. */
    strcpy(bad, vkey);
    plus = strchr(bad, '+');
    plus[1] = plus[1] == '0' ? '1' : '0';
    assert_int_equal(tlog_vkey_parse(bad, name, pk, why, sizeof why), TLOG_EFORMAT);
    assert_non_null(strstr(why, "does not match"));
    assert_string_equal(name, "");
    /* Uppercase hex, missing parts, another key's bytes, wrong type byte. */
    strcpy(bad, vkey);
    for (char *p = strchr(bad, '+') + 1; *p != '+'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    if (strcmp(bad, vkey) != 0)
        assert_int_equal(tlog_vkey_parse(bad, name, pk, why, sizeof why), TLOG_EFORMAT);
    assert_int_equal(tlog_vkey_parse(KEY_NAME, name, pk, why, sizeof why), TLOG_EFORMAT);
    assert_int_equal(tlog_vkey_parse("a+b", name, pk, why, sizeof why), TLOG_EFORMAT);
    assert_int_equal(tlog_vkey_parse("a+0000000+AQ==", name, pk, why, sizeof why), TLOG_EFORMAT);
    assert_int_equal(tlog_vkey_parse("+00000000+AQ==", name, pk, why, sizeof why), TLOG_EFORMAT);
    {
        uint8_t key[33];
        char b64[64];
        key[0] = 0x02;
        memcpy(key + 1, k->pk, 32);
        sodium_bin2base64(b64, sizeof b64, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
        snprintf(bad, sizeof bad, KEY_NAME "+%08x+%s", (unsigned)tlog_key_id(KEY_NAME, k->pk), b64);
        assert_int_equal(tlog_vkey_parse(bad, name, pk, why, sizeof why), TLOG_EFORMAT);
        assert_non_null(strstr(why, "Ed25519"));
    }
    for (int i = 0; i < 32; i++)
        assert_int_equal(pk[i], 0);
}

static void test_wrong_key_refused(void **state)
{
    const keys_t *k = *state;
    char text[TLOG_CHECKPOINT_MAX], why[256] = "";
    tlog_checkpoint_t cp;
    size_t len = sign_sample(k, text, sizeof text);

    /* The right name, another public key: the signature is not ours. */
    assert_int_equal(tlog_checkpoint_open(text, len, ORIGIN, KEY_NAME, k->other_pk, &cp, why,
                                          sizeof why),
                     TLOG_ESIG);
    assert_non_null(strstr(why, "no signature by " KEY_NAME));
    assert_zero_cp(&cp);
    /* The right key under another name. */
    assert_int_equal(tlog_checkpoint_open(text, len, ORIGIN, "other.example/log", k->pk, &cp, why,
                                          sizeof why),
                     TLOG_ESIG);

    /* Signed by another key that claims our name and id: a forgery. */
    {
        char body[256], forged[TLOG_CHECKPOINT_MAX];
        char *sep = strstr(text, "\n\n");
        uint8_t sig[4 + crypto_sign_BYTES];
        uint32_t id = tlog_key_id(KEY_NAME, k->pk);
        char b64[128];
        memcpy(body, text, (size_t)(sep - text) + 1);
        body[sep - text + 1] = '\0';
        sig[0] = (uint8_t)(id >> 24), sig[1] = (uint8_t)(id >> 16);
        sig[2] = (uint8_t)(id >> 8), sig[3] = (uint8_t)id;
        crypto_sign_detached(sig + 4, NULL, (const uint8_t *)body, strlen(body), k->other_sk);
        sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
        snprintf(forged, sizeof forged, "%s\n\xe2\x80\x94 %s %s\n", body, KEY_NAME, b64);
        expect_refused(k, forged, strlen(forged), TLOG_ESIG, "does not verify");
    }
}

static void test_altered_body_refused(void **state)
{
    const keys_t *k = *state;
    char text[TLOG_CHECKPOINT_MAX], bad[TLOG_CHECKPOINT_MAX];
    size_t len = sign_sample(k, text, sizeof text);
    char *p;

    /* Tree size 300 -> 301: the signature no longer verifies. */
    strcpy(bad, text);
    p = strstr(bad, "\n300\n");
    p[3] = '1';
    expect_refused(k, bad, len, TLOG_ESIG, "does not verify");

    /* One character of the root hash. */
    strcpy(bad, text);
    p = strchr(strchr(bad, '\n') + 1, '\n') + 1;
    *p = *p == 'A' ? 'B' : 'A';
    expect_refused(k, bad, len, TLOG_ESIG, "does not verify");

    /* The time, the origin. */
    strcpy(bad, text);
    p = strstr(bad, "09:00:00Z");
    p[1] = '8';
    expect_refused(k, bad, len, TLOG_ESIG, "does not verify");
    strcpy(bad, text);
    bad[0] = 'j';
    expect_refused(k, bad, len, TLOG_ESIG, "does not verify");

    /* One bit of the signature itself. */
    strcpy(bad, text);
    p = bad + len - 10;
    *p = *p == 'A' ? 'B' : 'A';
    expect_refused(k, bad, len, TLOG_ESIG, "does not verify");
}

static void test_other_logs_checkpoint_refused(void **state)
{
    const keys_t *k = *state;
    char text[TLOG_CHECKPOINT_MAX];
    tlog_checkpoint_t cp = sample_cp();
    size_t len;

    /* Same key, another origin line: a checkpoint of a different log. */
    assert_int_equal(tlog_checkpoint_sign("hub.example/another-log", &cp, KEY_NAME, k->sk, text,
                                          sizeof text, &len),
                     TLOG_OK);
    expect_refused(k, text, len, TLOG_EFORMAT, "not \"" ORIGIN "\"");
}

static void test_foreign_signatures_ignored(void **state)
{
    const keys_t *k = *state;
    char text[TLOG_CHECKPOINT_MAX], two[2 * TLOG_CHECKPOINT_MAX], other[TLOG_CHECKPOINT_MAX];
    tlog_checkpoint_t cp;
    char body[256];
    char *sep;

    sign_sample(k, text, sizeof text);
    sep = strstr(text, "\n\n");

    /* A witness cosignature under another name is ignored, before or after ours. */
    memcpy(body, text, (size_t)(sep - text) + 1);
    body[sep - text + 1] = '\0';
    sign_raw(body, "witness.example/w1", k->other_pk, k->other_sk, other, sizeof other);
    snprintf(two, sizeof two, "%s%s", text, strstr(other, "\n\n") + 2);
    assert_int_equal(open_text(k, two, strlen(two), &cp, NULL, 0), TLOG_OK);
    snprintf(two, sizeof two, "%s%s", other, strstr(text, "\n\n") + 2);
    assert_int_equal(open_text(k, two, strlen(two), &cp, NULL, 0), TLOG_OK);
    assert_int_equal(cp.size, 300);

    /* Only the witness signature: not enough. */
    expect_refused(k, other, strlen(other), TLOG_ESIG, "no signature by");
}

static void test_malformed_body_refused(void **state)
{
    const keys_t *k = *state;
    static const char root[] = "AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=";
    static const struct {
        const char *body;
        const char *why;
    } cases[] = {
        {ORIGIN "\n0300\n%s\nrenkei-time 2024-04-01T09:00:00Z\n", "leading zeros"},
        {ORIGIN "\n+300\n%s\nrenkei-time 2024-04-01T09:00:00Z\n", "leading zeros"},
        {ORIGIN "\n 300\n%s\nrenkei-time 2024-04-01T09:00:00Z\n", "leading zeros"},
        {ORIGIN "\n99999999999999999999\n%s\nrenkei-time 2024-04-01T09:00:00Z\n", "decimal"},
        {ORIGIN "\n\n%s\nrenkei-time 2024-04-01T09:00:00Z\n", "is empty"},
        {ORIGIN "\n300\n%s=\nrenkei-time 2024-04-01T09:00:00Z\n", "root hash"},
        {ORIGIN "\n300\nAQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09p=\nrenkei-time "
                "2024-04-01T09:00:00Z\n",
         "root hash"},
        {ORIGIN "\n300\nAQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o\nrenkei-time "
                "2024-04-01T09:00:00Z\n",
         "root hash"},
        /* A valid UTF-8 letter in place of two base64 digits; libsodium's
         * decoder reads bytes above 0x7f as digits, so this once opened. */
        {ORIGIN "\n300\nAQ\xc3\xa9" "Fh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=\nrenkei-time "
                "2024-04-01T09:00:00Z\n",
         "root hash"},
        {ORIGIN "\n300\n%s\n", "no renkei-time"},
        {ORIGIN "\n300\n%s\nrenkei-time 2024-04-01T09:00:00Z\nrenkei-time 2024-04-01T09:00:00Z\n",
         "more than one"},
        {ORIGIN "\n300\n%s\nrenkei-time 2024-02-30T09:00:00Z\n", "renkei-time line"},
        {ORIGIN "\n300\n%s\nrenkei-time 2024-04-01 09:00:00Z\n", "renkei-time line"},
        {ORIGIN "\n300\n%s\nrenkei-time 2024-04-01T09:00:00+09:00\n", "renkei-time line"},
        {ORIGIN "\n300\n%s\n\nrenkei-time 2024-04-01T09:00:00Z\n", "is empty"},
        {ORIGIN "\n300\n", "before the signatures"},
    };
    char body[512], text[1024];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *tmpl = cases[i].body, *at = strstr(tmpl, "%s");
        size_t len;
        /* "%s" in a template stands for a valid root hash. */
        if (at != NULL)
            snprintf(body, sizeof body, "%.*s%s%s", (int)(at - tmpl), tmpl, root, at + 2);
        else
            snprintf(body, sizeof body, "%s", tmpl);
        len = sign_raw(body, KEY_NAME, k->pk, k->sk, text, sizeof text);
        expect_refused(k, text, len, TLOG_EFORMAT, cases[i].why);
    }

    /* An unknown extension line is ignored. */
    {
        tlog_checkpoint_t cp;
        size_t len;
        snprintf(body, sizeof body,
                 ORIGIN "\n300\n%s\nx-other extension\nrenkei-time 2024-04-01T09:00:00Z\n", root);
        len = sign_raw(body, KEY_NAME, k->pk, k->sk, text, sizeof text);
        assert_int_equal(open_text(k, text, len, &cp, NULL, 0), TLOG_OK);
        assert_int_equal(cp.size, 300);
        assert_int_equal(cp.time, T0);
    }
}

static void test_malformed_envelope_refused(void **state)
{
    const keys_t *k = *state;
    char text[TLOG_CHECKPOINT_MAX], bad[2 * TLOG_CHECKPOINT_MAX];
    size_t len = sign_sample(k, text, sizeof text);
    char *sig = strstr(text, "\n\n") + 2;
    size_t body_len = (size_t)(sig - text) - 1;
    char *p;

    /* Cut short: no final newline. */
    expect_refused(k, text, len - 1, TLOG_EFORMAT, "newline");
    expect_refused(k, text, body_len, TLOG_EFORMAT, "no blank line");
    expect_refused(k, text, body_len + 1, TLOG_EFORMAT, "no signature lines");
    expect_refused(k, text, 0, TLOG_EFORMAT, "empty");

    /* CRLF line ends. */
    {
        size_t j = 0;
        for (size_t i = 0; i < len; i++) {
            if (text[i] == '\n')
                bad[j++] = '\r';
            bad[j++] = text[i];
        }
        expect_refused(k, bad, j, TLOG_EFORMAT, "CRLF");
    }
    /* A hyphen for the em dash. */
    snprintf(bad, sizeof bad, "%.*s- %s", (int)(sig - text), text, sig + 4);
    expect_refused(k, bad, strlen(bad), TLOG_EFORMAT, "em dash");
    /* No space between name and signature. */
    strcpy(bad, text);
    p = strchr(bad + (sig - text) + 4, ' ');
    *p = '_';
    expect_refused(k, bad, len, TLOG_EFORMAT, "no space");
    /* Signature not base64. */
    strcpy(bad, text);
    bad[len - 5] = '!';
    expect_refused(k, bad, len, TLOG_EFORMAT, "base64");
    /* A '+' in a key name. */
    snprintf(bad, sizeof bad, "%s\xe2\x80\x94 a+b AAAAAAAA\n", text);
    expect_refused(k, bad, strlen(bad), TLOG_EFORMAT, "key name");
    /* A signature too short to hold a key id. */
    snprintf(bad, sizeof bad, "%s\xe2\x80\x94 w.example AAAA\n", text);
    expect_refused(k, bad, strlen(bad), TLOG_EFORMAT, "base64");
    /* Invalid UTF-8 and a NUL byte in the origin. */
    strcpy(bad, text);
    bad[3] = (char)0xff;
    expect_refused(k, bad, len, TLOG_EFORMAT, "UTF-8");
    memcpy(bad, text, len);
    bad[3] = '\0';
    expect_refused(k, bad, len, TLOG_EFORMAT, "control character");
    /* Too long. */
    {
        size_t big = TLOG_NOTE_MAX + 1;
        char *huge = malloc(big);
        assert_non_null(huge);
        memset(huge, 'a', big);
        expect_refused(k, huge, big, TLOG_EFORMAT, "more than");
        free(huge);
    }
}

/* The origin a checkpoint names is read from its first line, unchecked, and
 * only when that line is a valid name. */
static void test_checkpoint_origin(void **state)
{
    char origin[TLOG_NAME_MAX + 1];
    char long_line[TLOG_NAME_MAX + 3];
    (void)state;

    assert_int_equal(tlog_checkpoint_origin("renkei-hub/3e41e9ad\n7\n", 22, origin), TLOG_OK);
    assert_string_equal(origin, "renkei-hub/3e41e9ad");
    assert_int_equal(tlog_checkpoint_origin("a b\n7\n", 6, origin), TLOG_EFORMAT);
    assert_string_equal(origin, "");
    assert_int_equal(tlog_checkpoint_origin("a+b\n", 4, origin), TLOG_EFORMAT);
    assert_int_equal(tlog_checkpoint_origin("\n7\n", 3, origin), TLOG_EFORMAT);
    assert_int_equal(tlog_checkpoint_origin("no-newline", 10, origin), TLOG_EFORMAT);
    /* the newline must fall inside len */
    assert_int_equal(tlog_checkpoint_origin("abc\n", 3, origin), TLOG_EFORMAT);
    memset(long_line, 'x', TLOG_NAME_MAX + 1);
    long_line[TLOG_NAME_MAX + 1] = '\n';
    long_line[TLOG_NAME_MAX + 2] = '\0';
    assert_int_equal(tlog_checkpoint_origin(long_line, TLOG_NAME_MAX + 2, origin), TLOG_EFORMAT);
}

static void test_sign_refuses_bad_input(void **state)
{
    const keys_t *k = *state;
    char text[TLOG_CHECKPOINT_MAX];
    tlog_checkpoint_t cp = sample_cp();
    size_t len = 99;

    assert_int_equal(tlog_checkpoint_sign("has space", &cp, KEY_NAME, k->sk, text, sizeof text,
                                          &len),
                     TLOG_EINVAL);
    assert_int_equal(tlog_checkpoint_sign(ORIGIN, &cp, "a+b", k->sk, text, sizeof text, &len),
                     TLOG_EINVAL);
    assert_int_equal(tlog_checkpoint_sign("", &cp, KEY_NAME, k->sk, text, sizeof text, &len),
                     TLOG_EINVAL);
    cp.time = -1;
    assert_int_equal(tlog_checkpoint_sign(ORIGIN, &cp, KEY_NAME, k->sk, text, sizeof text, &len),
                     TLOG_EINVAL);
    cp.time = TLOG_TIME_MAX + 1;
    assert_int_equal(tlog_checkpoint_sign(ORIGIN, &cp, KEY_NAME, k->sk, text, sizeof text, &len),
                     TLOG_EINVAL);
    cp = sample_cp();
    assert_int_equal(tlog_checkpoint_sign(ORIGIN, &cp, KEY_NAME, k->sk, text, 100, &len),
                     TLOG_ESPACE);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    /* Room for the body but not the signature line. */
    assert_int_equal(tlog_checkpoint_sign(ORIGIN, &cp, KEY_NAME, k->sk, text, 130, &len),
                     TLOG_ESPACE);
    assert_string_equal(text, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_open_roundtrip),
        cmocka_unit_test(test_empty_tree_and_epoch),
        cmocka_unit_test(test_key_id_rule),
        cmocka_unit_test(test_vkey_roundtrip_and_errors),
        cmocka_unit_test(test_wrong_key_refused),
        cmocka_unit_test(test_altered_body_refused),
        cmocka_unit_test(test_other_logs_checkpoint_refused),
        cmocka_unit_test(test_foreign_signatures_ignored),
        cmocka_unit_test(test_malformed_body_refused),
        cmocka_unit_test(test_malformed_envelope_refused),
        cmocka_unit_test(test_sign_refuses_bad_input),
        cmocka_unit_test(test_checkpoint_origin),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
