/*
 * fuzz_directory - rk_dir_open, the agent's reader of the hub's signed
 * directory of organizations (proto/wire.h).  The body is only decoded once
 * the hub's signature over it verifies, so the target signs each input with
 * a fixed key, exactly as the hub signs a directory, and opens it; it also
 * opens the input unsigned, which must fail.
 */
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "wire.h"

static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

/* The hub's directory signature: Ed25519 over "renkei-directory-v1" 0x00 body. */
static void sign_body(const uint8_t *body, size_t len, uint8_t sig[RK_SIG_LEN])
{
    static const char domain[] = "renkei-directory-v1";
    uint8_t *m = malloc(sizeof domain + len);
    FUZZ_CHECK(m != NULL);
    memcpy(m, domain, sizeof domain);
    if (len > 0)
        memcpy(m + sizeof domain, body, len);
    crypto_sign_detached(sig, NULL, m, sizeof domain + len, sk);
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    uint8_t sig[RK_SIG_LEN];
    rk_dir_t dir;

    if (!ready) {
        uint8_t seed[crypto_sign_SEEDBYTES];
        FUZZ_CHECK(sodium_init() >= 0);
        memset(seed, 0x5a, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
        ready = 1;
    }
    memset(sig, 0, sizeof sig);
    FUZZ_CHECK(rk_dir_open(data, size, sig, pk, &dir) == RK_WIRE_ESIG);
    sign_body(data, size, sig);
    if (rk_dir_open(data, size, sig, pk, &dir) == RK_WIRE_OK) {
        for (size_t i = 0; i < dir.n; i++) {
            FUZZ_CHECK(rk_valid_name(dir.orgs[i].id));
            FUZZ_CHECK(rk_dir_find(&dir, dir.orgs[i].id) != NULL);
        }
        rk_dir_clear(&dir);
    }
    return 0;
}
