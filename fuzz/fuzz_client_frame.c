/*
 * fuzz_client_frame - rk_client_frame_decode, the hub's reader of every
 * frame an organization's agent sends (proto/wire.h).  An accepted frame
 * must encode again, and that encoding must decode and re-encode to the
 * same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rk_client_frame_t *f = calloc(2, sizeof *f);
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    char why[256];

    FUZZ_CHECK(f != NULL);
    if (rk_client_frame_decode(data, size, &f[0], why, sizeof why) == RK_WIRE_OK) {
        FUZZ_CHECK(rk_client_frame_encode(&f[0], &a, &alen) == RK_WIRE_OK);
        FUZZ_CHECK(rk_client_frame_decode(a, alen, &f[1], why, sizeof why) == RK_WIRE_OK);
        FUZZ_CHECK(f[1].kind == f[0].kind);
        FUZZ_CHECK(rk_client_frame_encode(&f[1], &b, &blen) == RK_WIRE_OK);
        FUZZ_CHECK(alen == blen && memcmp(a, b, alen) == 0);
    }
    rk_client_frame_clear(&f[0]);
    rk_client_frame_clear(&f[1]);
    free(a);
    free(b);
    free(f);
    return 0;
}
