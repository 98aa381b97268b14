/*
 * fuzz_core - rk_core_decode, the signed core of an envelope: what a
 * recipient's agent reads (after checking the sender's signature) and the
 * hub reads to route (proto/wire.h).  An accepted core must encode again to
 * bytes that decode to the same fields.
 */
#include <string.h>

#include "fuzz.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rk_core_t c1, c2;
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    char why[256];

    memset(&c2, 0, sizeof c2);
    if (rk_core_decode(data, size, &c1, why, sizeof why) != RK_WIRE_OK)
        return 0;
    FUZZ_CHECK(rk_core_encode(&c1, &a, &alen) == RK_WIRE_OK);
    FUZZ_CHECK(rk_core_decode(a, alen, &c2, why, sizeof why) == RK_WIRE_OK);
    FUZZ_CHECK(strcmp(c1.from, c2.from) == 0 && strcmp(c1.to, c2.to) == 0 &&
               strcmp(c1.type, c2.type) == 0);
    FUZZ_CHECK(memcmp(c1.msg_id, c2.msg_id, RK_MSGID_LEN) == 0 && c1.time_ms == c2.time_ms);
    FUZZ_CHECK(c1.has_reply_to == c2.has_reply_to);
    FUZZ_CHECK(c1.what_len == c2.what_len &&
               (c1.what_len == 0 || memcmp(c1.what, c2.what, c1.what_len) == 0));
    FUZZ_CHECK(rk_core_encode(&c2, &b, &blen) == RK_WIRE_OK);
    FUZZ_CHECK(alen == blen && memcmp(a, b, alen) == 0);
    rk_core_clear(&c1);
    rk_core_clear(&c2);
    free(a);
    free(b);
    return 0;
}
