/*
 * fuzz_log_entry - rk_log_entry_decode, the routing-log entries an auditor
 * or agent reads from the hub's LogRead and Proof answers (proto/wire.h).
 * An accepted entry must encode again to bytes that decode to the same
 * entry.
 */
#include <string.h>

#include "fuzz.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rk_log_entry_t e1, e2;
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    char why[256];

    if (rk_log_entry_decode(data, size, &e1, why, sizeof why) != RK_WIRE_OK)
        return 0;
    FUZZ_CHECK(rk_log_entry_encode(&e1, &a, &alen) == RK_WIRE_OK);
    FUZZ_CHECK(rk_log_entry_decode(a, alen, &e2, why, sizeof why) == RK_WIRE_OK);
    FUZZ_CHECK(e1.event == e2.event && e1.seq == e2.seq && e1.time_ms == e2.time_ms);
    FUZZ_CHECK(strcmp(e1.from, e2.from) == 0 && strcmp(e1.to, e2.to) == 0 &&
               strcmp(e1.type, e2.type) == 0 && strcmp(e1.kind, e2.kind) == 0);
    FUZZ_CHECK(e1.outcome == e2.outcome && e1.size == e2.size && e1.count == e2.count);
    FUZZ_CHECK(rk_log_entry_encode(&e2, &b, &blen) == RK_WIRE_OK);
    FUZZ_CHECK(alen == blen && memcmp(a, b, alen) == 0);
    free(a);
    free(b);
    return 0;
}
