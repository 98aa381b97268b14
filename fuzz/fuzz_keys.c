/*
 * fuzz_keys - the key-file parsers behind rk_identity_load, rk_pubkey_load
 * and rk_master_load (keys/keys.h): the files an operator is mailed or
 * copies in.  The first byte picks the parser (0: secret key, 1: public
 * key, 2: master key); the rest is the file's text.
 */
#include <string.h>

#include "fuzz.h"
#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    char *text;

    if (size == 0)
        return 0;
    text = malloc(size);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0]) {
    case 0: {
        rk_identity_t *id = NULL;
        if (rk_identity_parse(text, "fuzz.key", &id, why, sizeof why) == RK_KEYS_OK) {
            FUZZ_CHECK(id != NULL && rk_valid_name(id->pub.name));
        } else {
            FUZZ_CHECK(id == NULL);
        }
        rk_identity_destroy(&id);
        break;
    }
    case 1: {
        rk_pubkey_t pub;
        if (rk_pubkey_parse(text, "fuzz.pub", &pub, why, sizeof why) == RK_KEYS_OK)
            FUZZ_CHECK(rk_valid_name(pub.name));
        break;
    }
    case 2: {
        uint8_t *key = NULL;
        if (rk_master_parse(text, "fuzz-master.key", &key, why, sizeof why) == RK_KEYS_OK)
            FUZZ_CHECK(key != NULL);
        else
            FUZZ_CHECK(key == NULL);
        rk_master_destroy(&key);
        break;
    }
    default:
        break;
    }
    free(text);
    return 0;
}
