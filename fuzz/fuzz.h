/*
 * fuzz.h - what every libFuzzer target in this directory shares.
 *
 * Each fuzz_NAME.c defines LLVMFuzzerTestOneInput for one decoder of bytes
 * that come from outside the process.  A target returns 0 for every input
 * the decoder refuses; it aborts (through FUZZ_CHECK) only when a property
 * that must hold for every accepted input does not, e.g. that re-encoding
 * what was decoded gives bytes that decode again to the same thing.
 * Memory errors and undefined behaviour are caught by ASan and UBSan.
 */
#ifndef RENKEI_FUZZ_H
#define RENKEI_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#endif /* RENKEI_FUZZ_H */
