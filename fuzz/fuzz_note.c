/*
 * fuzz_note - the signed checkpoints of the routing log (tlog/note.h), as an
 * auditor or agent reads them from the hub, and verifier key strings.
 *
 * The first byte picks what the rest is:
 *   0: a whole signed checkpoint, given to tlog_checkpoint_open as it is
 *      (reaches the format and signature-line checks);
 *   1: a checkpoint's note text, which the target signs with a fixed key and
 *      then opens (reaches the body parser behind the signature check);
 *      a checkpoint it opens must have the lines tlog_checkpoint_sign
 *      writes for it (extension lines aside);
 *   2: a verifier key string for tlog_vkey_parse.
 */
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "note.h"

#define ORIGIN "renkei-hub"
#define KEY_NAME "renkei-hub"

static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

/* text[0:len] + "\n— KEY_NAME base64(key id || signature over text)\n" */
static char *sign_note(const uint8_t *text, size_t len, size_t *out_len)
{
    uint8_t blob[4 + crypto_sign_BYTES];
    char b64[sodium_base64_ENCODED_LEN(sizeof blob, sodium_base64_VARIANT_ORIGINAL)];
    uint32_t id = tlog_key_id(KEY_NAME, pk);
    size_t cap = len + sizeof b64 + 64, n;
    char *note = malloc(cap);

    FUZZ_CHECK(note != NULL);
    blob[0] = (uint8_t)(id >> 24);
    blob[1] = (uint8_t)(id >> 16);
    blob[2] = (uint8_t)(id >> 8);
    blob[3] = (uint8_t)id;
    crypto_sign_detached(blob + 4, NULL, text, len, sk);
    sodium_bin2base64(b64, sizeof b64, blob, sizeof blob, sodium_base64_VARIANT_ORIGINAL);
    if (len > 0)
        memcpy(note, text, len);
    n = len + (size_t)snprintf(note + len, cap - len, "\n\xe2\x80\x94 %s %s\n", KEY_NAME, b64);
    *out_len = n;
    return note;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    tlog_checkpoint_t cp;
    char why[256];

    if (!ready) {
        uint8_t seed[crypto_sign_SEEDBYTES];
        FUZZ_CHECK(sodium_init() >= 0);
        memset(seed, 0x6b, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
        ready = 1;
    }
    if (size == 0)
        return 0;
    switch (data[0]) {
    case 0:
        (void)tlog_checkpoint_open((const char *)data + 1, size - 1, ORIGIN, KEY_NAME, pk, &cp, why,
                                   sizeof why);
        break;
    case 1: {
        size_t len = 0, again_len = 0;
        char *note = sign_note(data + 1, size - 1, &len);
        char again[TLOG_CHECKPOINT_MAX];
        if (tlog_checkpoint_open(note, len, ORIGIN, KEY_NAME, pk, &cp, why, sizeof why) == TLOG_OK) {
            /* What opens is written exactly as tlog_checkpoint_sign writes
             * it: the origin, size and root lines byte for byte, and its
             * renkei-time line among the (ignored) extension lines. */
            char *line3, *blank;
            const char *time_line;
            FUZZ_CHECK(cp.time >= 0 && cp.time <= TLOG_TIME_MAX);
            FUZZ_CHECK(tlog_checkpoint_sign(ORIGIN, &cp, KEY_NAME, sk, again, sizeof again, &again_len) ==
                       TLOG_OK);
            line3 = strchr(strchr(strchr(again, '\n') + 1, '\n') + 1, '\n');
            FUZZ_CHECK(line3 != NULL && (size_t)(line3 - again) < len &&
                       memcmp(again, note, (size_t)(line3 - again) + 1) == 0);
            blank = strstr(line3, "\n\n");
            FUZZ_CHECK(blank != NULL);
            blank[1] = '\0'; /* an opened note has no NUL: strstr sees all of it */
            time_line = strstr(note, line3);
            FUZZ_CHECK(time_line != NULL);
        }
        free(note);
        break;
    }
    case 2: {
        char *vkey = malloc(size);
        char name[TLOG_NAME_MAX + 1];
        uint8_t key[32];
        FUZZ_CHECK(vkey != NULL);
        memcpy(vkey, data + 1, size - 1);
        vkey[size - 1] = '\0';
        (void)tlog_vkey_parse(vkey, name, key, why, sizeof why);
        free(vkey);
        break;
    }
    default:
        break;
    }
    return 0;
}
