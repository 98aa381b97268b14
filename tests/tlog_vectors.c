/*
 * tlog_vectors.c - prints what renkei_tlog computes for a deterministic log,
 * for tests/tlog/merkle_ref.py to check against its own implementation of
 * RFC 9162 and of the C2SP signed-note and tlog-checkpoint formats.
 *
 * Leaf i is the entry "entry-<i>".  After each append the tree of size n is
 * described by (hashes in lowercase hex, a proof as its hashes concatenated
 * leaf side first, "-" when empty):
 *
 *   root <n> <root>
 *   incl <n> <i> <proof>      for every 0 <= i < n
 *   cons <m> <n> <proof>      for every 0 < m < n
 *
 * then one signed checkpoint of the whole log:
 *
 *   seed <Ed25519 seed>       origin <origin>       keyname <key name>
 *   vkey <verifier key>       note <base64 of the signed note>
 *   end
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "merkle.h"
#include "note.h"

#define H TLOG_HASH_LEN
#define SIZE_MAX_LEAVES 300
#define LEVELS 10
#define WIDTH 512

#define ORIGIN "renkei.test/vectors"
#define CHECKPOINT_TIME INT64_C(1711962000) /* 2024-04-01T09:00:00Z */

typedef struct store {
    uint8_t hash[LEVELS][WIDTH][H];
    bool have[LEVELS][WIDTH];
} store_t;

static int get(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
    store_t *s = ctx;
    if (level >= LEVELS || index >= WIDTH || !s->have[level][index])
        return -1;
    memcpy(out, s->hash[level][index], H);
    return 0;
}

static int put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
    store_t *s = ctx;
    if (level >= LEVELS || index >= WIDTH)
        return -1;
    memcpy(s->hash[level][index], hash, H);
    s->have[level][index] = true;
    return 0;
}

static void print_hex(const uint8_t *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        putchar(digits[p[i] >> 4]);
        putchar(digits[p[i] & 15]);
    }
}

static void print_proof(const uint8_t *path, size_t n)
{
    if (n == 0)
        putchar('-');
    else
        print_hex(path, n * H);
    putchar('\n');
}

static int fail(const char *what, tlog_err err)
{
    fprintf(stderr, "tlog_vectors: %s: %s\n", what, tlog_strerror(err));
    return 1;
}

int main(void)
{
    uint8_t path[TLOG_MAX_PATH * H], root[H], seed[crypto_sign_SEEDBYTES];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char note[TLOG_CHECKPOINT_MAX], vkey[TLOG_VKEY_MAX];
    char note_b64[sodium_base64_ENCODED_LEN(TLOG_CHECKPOINT_MAX, sodium_base64_VARIANT_ORIGINAL)];
    tlog_checkpoint_t cp;
    size_t n, note_len;
    store_t *s;
    tlog_err err;

    if (sodium_init() < 0 || (s = calloc(1, sizeof *s)) == NULL) {
        fprintf(stderr, "tlog_vectors: cannot initialise\n");
        return 1;
    }
    for (uint64_t size = 1; size <= SIZE_MAX_LEAVES; size++) {
        char entry[32];
        uint8_t leaf[H];
        int len = snprintf(entry, sizeof entry, "entry-%" PRIu64, size - 1);

        tlog_leaf_hash(entry, (size_t)len, leaf);
        if ((err = tlog_append(size - 1, leaf, get, put, s)) != TLOG_OK)
            return fail("append", err);
        if ((err = tlog_root(size, get, s, root)) != TLOG_OK)
            return fail("root", err);
        printf("root %" PRIu64 " ", size);
        print_hex(root, H);
        putchar('\n');
        for (uint64_t i = 0; i < size; i++) {
            if ((err = tlog_inclusion_proof(i, size, get, s, path, &n)) != TLOG_OK)
                return fail("inclusion proof", err);
            printf("incl %" PRIu64 " %" PRIu64 " ", size, i);
            print_proof(path, n);
        }
        for (uint64_t m = 1; m < size; m++) {
            if ((err = tlog_consistency_proof(m, size, get, s, path, &n)) != TLOG_OK)
                return fail("consistency proof", err);
            printf("cons %" PRIu64 " %" PRIu64 " ", m, size);
            print_proof(path, n);
        }
    }

    /* A fixed, public test seed: bytes 0, 1, ..., 31. */
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)i;
    crypto_sign_seed_keypair(pk, sk, seed);
    cp.size = SIZE_MAX_LEAVES;
    memcpy(cp.root, root, H);
    cp.time = CHECKPOINT_TIME;
    if ((err = tlog_checkpoint_sign(ORIGIN, &cp, ORIGIN, sk, note, sizeof note, &note_len)) !=
        TLOG_OK)
        return fail("sign", err);
    if ((err = tlog_vkey_format(ORIGIN, pk, vkey, sizeof vkey)) != TLOG_OK)
        return fail("vkey", err);
    sodium_bin2base64(note_b64, sizeof note_b64, (const uint8_t *)note, note_len,
                      sodium_base64_VARIANT_ORIGINAL);
    printf("seed ");
    print_hex(seed, sizeof seed);
    printf("\norigin %s\nkeyname %s\nvkey %s\nnote %s\nend\n", ORIGIN, ORIGIN, vkey, note_b64);
    sodium_memzero(sk, sizeof sk);
    free(s);
    return fflush(stdout) == 0 ? 0 : 1;
}
