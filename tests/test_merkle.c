/*
 * test_merkle.c - the routing log's Merkle tree (tlog/merkle.c).
 *
 * The tree lives in an in-memory store that refuses to overwrite a subtree
 * hash and reports reads of anything never written.  Every root and proof
 * for tree sizes 1..300 is compared with a literal transcription of RFC 9162
 * (MTH, PATH, SUBPROOF, recursive over the leaf hashes) and checked with the
 * verify functions; altered proofs must be refused.
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

#include "merkle.h"

#define H TLOG_HASH_LEN
#define MAX_LEAVES 300
#define LEVELS 10 /* 2^9 = 512 > MAX_LEAVES */

/* ------------------------------------------------------------ memory store */

typedef struct mem_store {
    uint8_t hash[LEVELS][512][H];
    bool have[LEVELS][512];
    size_t gets, puts;
    bool overwrite;       /* set if a put ever hit an existing subtree */
    long fail_get_after;  /* fail the get after this many more; -1 never */
    long fail_put_after;
} mem_store_t;

static int mem_get(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
    mem_store_t *m = ctx;
    if (m->fail_get_after == 0)
        return -1;
    if (m->fail_get_after > 0)
        m->fail_get_after--;
    if (level >= LEVELS || index >= 512 || !m->have[level][index])
        return -1;
    memcpy(out, m->hash[level][index], H);
    m->gets++;
    return 0;
}

static int mem_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
    mem_store_t *m = ctx;
    if (m->fail_put_after == 0)
        return -1;
    if (m->fail_put_after > 0)
        m->fail_put_after--;
    if (level >= LEVELS || index >= 512)
        return -1;
    if (m->have[level][index])
        m->overwrite = true;
    memcpy(m->hash[level][index], hash, H);
    m->have[level][index] = true;
    m->puts++;
    return 0;
}

static mem_store_t *mem_new(void)
{
    mem_store_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->fail_get_after = -1;
    m->fail_put_after = -1;
    return m;
}

/* --------------------------------------------- RFC 9162, transcribed literally */

typedef struct ref {
    uint8_t leaf[MAX_LEAVES][H];
    uint8_t (*memo)[MAX_LEAVES + 1][H]; /* memo[lo][hi] = MTH(D[lo:hi]) */
    bool (*have)[MAX_LEAVES + 1];
} ref_t;

static uint64_t largest_pow2_below(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

static const uint8_t *ref_mth(ref_t *r, uint64_t lo, uint64_t hi)
{
    if (!r->have[lo][hi]) {
        if (hi - lo == 1) {
            memcpy(r->memo[lo][hi], r->leaf[lo], H);
        } else {
            uint64_t k = largest_pow2_below(hi - lo);
            uint8_t buf[1 + 2 * H];
            buf[0] = 0x01;
            memcpy(buf + 1, ref_mth(r, lo, lo + k), H);
            memcpy(buf + 1 + H, ref_mth(r, lo + k, hi), H);
            crypto_hash_sha256(r->memo[lo][hi], buf, sizeof buf);
        }
        r->have[lo][hi] = true;
    }
    return r->memo[lo][hi];
}

/* PATH(m, D[lo:hi]); appends to out, returns the new count. */
static size_t ref_path(ref_t *r, uint64_t m, uint64_t lo, uint64_t hi, uint8_t *out, size_t n)
{
    uint64_t k;
    if (hi - lo == 1)
        return n;
    k = largest_pow2_below(hi - lo);
    if (m < k) {
        n = ref_path(r, m, lo, lo + k, out, n);
        memcpy(out + n * H, ref_mth(r, lo + k, hi), H);
    } else {
        n = ref_path(r, m - k, lo + k, hi, out, n);
        memcpy(out + n * H, ref_mth(r, lo, lo + k), H);
    }
    return n + 1;
}

/* SUBPROOF(m, D[lo:hi], b) */
static size_t ref_subproof(ref_t *r, uint64_t m, uint64_t lo, uint64_t hi, bool b, uint8_t *out,
                           size_t n)
{
    uint64_t k;
    if (m == hi - lo) {
        if (b)
            return n;
        memcpy(out + n * H, ref_mth(r, lo, hi), H);
        return n + 1;
    }
    k = largest_pow2_below(hi - lo);
    if (m <= k) {
        n = ref_subproof(r, m, lo, lo + k, b, out, n);
        memcpy(out + n * H, ref_mth(r, lo + k, hi), H);
    } else {
        n = ref_subproof(r, m - k, lo + k, hi, false, out, n);
        memcpy(out + n * H, ref_mth(r, lo, lo + k), H);
    }
    return n + 1;
}

static ref_t *ref_new(void)
{
    ref_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->memo = calloc(MAX_LEAVES + 1, sizeof *r->memo);
    r->have = calloc(MAX_LEAVES + 1, sizeof *r->have);
    assert_non_null(r->memo);
    assert_non_null(r->have);
    for (int i = 0; i < MAX_LEAVES; i++) {
        char entry[32];
        int len = snprintf(entry, sizeof entry, "entry-%d", i);
        uint8_t buf[64];
        buf[0] = 0x00;
        memcpy(buf + 1, entry, (size_t)len);
        crypto_hash_sha256(r->leaf[i], buf, (size_t)len + 1);
    }
    return r;
}

static void ref_free(ref_t *r)
{
    free(r->memo);
    free(r->have);
    free(r);
}

/* ------------------------------------------------------------------- tests */

static void hex_to_bin(const char *hex, uint8_t out[H])
{
    size_t len;
    assert_int_equal(sodium_hex2bin(out, H, hex, strlen(hex), NULL, &len, NULL), 0);
    assert_int_equal(len, H);
}

static void test_leaf_and_empty_hashes(void **state)
{
    uint8_t out[H], want[H];
    mem_store_t *m = mem_new();
    (void)state;

    /* RFC 9162: the hash of an empty tree is the hash of the empty string. */
    assert_int_equal(tlog_root(0, mem_get, m, out), TLOG_OK);
    hex_to_bin("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want);
    assert_memory_equal(out, want, H);
    assert_int_equal(m->gets, 0);

    /* Leaf of the empty entry: SHA-256(0x00). */
    tlog_leaf_hash(NULL, 0, out);
    hex_to_bin("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", want);
    assert_memory_equal(out, want, H);
    free(m);
}

/* The roots of the Certificate Transparency reference test tree (8 leaves of
 * 0..16 bytes), as published with the RFC 6962 implementation. */
static void test_ct_reference_roots(void **state)
{
    static const struct {
        const char *data;
        size_t len;
    } leaves[8] = {
        {"", 0},
        {"\x00", 1},
        {"\x10", 1},
        {"\x20\x21", 2},
        {"\x30\x31", 2},
        {"\x40\x41\x42\x43", 4},
        {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
        {"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
    };
    static const char *roots[8] = {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    };
    mem_store_t *m = mem_new();
    (void)state;

    for (uint64_t i = 0; i < 8; i++) {
        uint8_t leaf[H], root[H], want[H];
        tlog_leaf_hash(leaves[i].data, leaves[i].len, leaf);
        assert_int_equal(tlog_append(i, leaf, mem_get, mem_put, m), TLOG_OK);
        assert_int_equal(tlog_root(i + 1, mem_get, m, root), TLOG_OK);
        hex_to_bin(roots[i], want);
        assert_memory_equal(root, want, H);
    }
    free(m);
}

static void flip(uint8_t *p, size_t i)
{
    p[i] ^= 0x01;
}

static void check_inclusion(ref_t *r, mem_store_t *m, uint64_t index, uint64_t size,
                            const uint8_t root[H], bool tamper_all)
{
    uint8_t path[TLOG_MAX_PATH * H], want[TLOG_MAX_PATH * H], bad[(TLOG_MAX_PATH + 1) * H];
    uint8_t leaf[H];
    size_t n = 99, want_n;

    assert_int_equal(tlog_inclusion_proof(index, size, mem_get, m, path, &n), TLOG_OK);
    want_n = ref_path(r, index, 0, size, want, 0);
    assert_int_equal(n, want_n);
    assert_memory_equal(path, want, n * H);
    assert_int_equal(tlog_verify_inclusion(index, size, r->leaf[index], path, n, root), TLOG_OK);

    /* Altered hashes, a wrong leaf, index or root, a shortened or lengthened
     * path: each must be refused.  (The same path may also fit a tree of
     * another size, so the size is bound by the root, not by the path.) */
    for (size_t i = 0; i < n; i++) {
        if (!tamper_all && i != index % n)
            continue;
        memcpy(bad, path, n * H);
        flip(bad, i * H + (index % H));
        assert_int_equal(tlog_verify_inclusion(index, size, r->leaf[index], bad, n, root),
                         TLOG_EPROOF);
    }
    memcpy(leaf, r->leaf[index], H);
    flip(leaf, 7);
    assert_int_equal(tlog_verify_inclusion(index, size, leaf, path, n, root), TLOG_EPROOF);
    if (size > 1) {
        uint64_t other = (index + 1) % size;
        assert_int_equal(tlog_verify_inclusion(other, size, r->leaf[index], path, n, root),
                         TLOG_EPROOF);
    }
    memcpy(leaf, root, H);
    flip(leaf, 31);
    assert_int_equal(tlog_verify_inclusion(index, size, r->leaf[index], path, n, leaf),
                     TLOG_EPROOF);
    if (n > 0)
        assert_int_equal(tlog_verify_inclusion(index, size, r->leaf[index], path, n - 1, root),
                         TLOG_EPROOF);
    memcpy(bad, path, n * H);
    memset(bad + n * H, 0, H);
    assert_int_equal(tlog_verify_inclusion(index, size, r->leaf[index], bad, n + 1, root),
                     TLOG_EPROOF);
}

static void check_consistency(ref_t *r, mem_store_t *m, uint64_t old_size, uint64_t size,
                              const uint8_t roots[][H], bool tamper_all)
{
    uint8_t path[TLOG_MAX_PATH * H], want[TLOG_MAX_PATH * H], bad[(TLOG_MAX_PATH + 1) * H];
    uint8_t root[H];
    size_t n = 99, want_n;

    assert_int_equal(tlog_consistency_proof(old_size, size, mem_get, m, path, &n), TLOG_OK);
    want_n = ref_subproof(r, old_size, 0, size, true, want, 0);
    assert_int_equal(n, want_n);
    assert_memory_equal(path, want, n * H);
    assert_int_equal(tlog_verify_consistency(old_size, size, roots[old_size], roots[size], path, n),
                     TLOG_OK);

    for (size_t i = 0; i < n; i++) {
        if (!tamper_all && i != old_size % n)
            continue;
        memcpy(bad, path, n * H);
        flip(bad, i * H + (old_size % H));
        assert_int_equal(tlog_verify_consistency(old_size, size, roots[old_size], roots[size], bad,
                                                 n),
                         TLOG_EPROOF);
    }
    memcpy(root, roots[old_size], H);
    flip(root, 3);
    assert_int_equal(tlog_verify_consistency(old_size, size, root, roots[size], path, n),
                     TLOG_EPROOF);
    memcpy(root, roots[size], H);
    flip(root, 30);
    assert_int_equal(tlog_verify_consistency(old_size, size, roots[old_size], root, path, n),
                     TLOG_EPROOF);
    assert_int_equal(tlog_verify_consistency(old_size, size, roots[old_size], roots[size], path,
                                             n - 1),
                     TLOG_EPROOF);
    memcpy(bad, path, n * H);
    memset(bad + n * H, 0, H);
    assert_int_equal(tlog_verify_consistency(old_size, size, roots[old_size], roots[size], bad,
                                             n + 1),
                     TLOG_EPROOF);
}

static void test_every_size_to_300(void **state)
{
    static uint8_t roots[MAX_LEAVES + 1][H];
    mem_store_t *m = mem_new();
    ref_t *r = ref_new();
    (void)state;

    assert_int_equal(tlog_root(0, mem_get, m, roots[0]), TLOG_OK);
    for (uint64_t size = 1; size <= MAX_LEAVES; size++) {
        bool tamper_all = size <= 64;
        size_t gets_before;

        assert_int_equal(tlog_append(size - 1, r->leaf[size - 1], mem_get, mem_put, m), TLOG_OK);
        gets_before = m->gets;
        assert_int_equal(tlog_root(size, mem_get, m, roots[size]), TLOG_OK);
        assert_memory_equal(roots[size], ref_mth(r, 0, size), H);
        /* A root costs one read per complete subtree: popcount(size). */
        assert_int_equal(m->gets - gets_before, (size_t)__builtin_popcountll(size));

        for (uint64_t i = 0; i < size; i++)
            check_inclusion(r, m, i, size, roots[size], tamper_all);
        for (uint64_t old = 1; old < size; old++)
            check_consistency(r, m, old, size, roots, tamper_all);
    }
    /* Each subtree was written once; about two writes per append. */
    assert_false(m->overwrite);
    assert_true(m->puts < 2 * MAX_LEAVES);

    /* Old roots and proofs are unchanged once the tree has grown. */
    for (uint64_t size = 1; size <= MAX_LEAVES; size++) {
        uint8_t root[H];
        assert_int_equal(tlog_root(size, mem_get, m, root), TLOG_OK);
        assert_memory_equal(root, roots[size], H);
    }
    check_inclusion(r, m, 5, 7, roots[7], true);
    check_consistency(r, m, 3, 7, roots, true);
    ref_free(r);
    free(m);
}

static void test_trivial_consistency(void **state)
{
    uint8_t path[TLOG_MAX_PATH * H], roots[4][H], empty[H];
    mem_store_t *m = mem_new();
    size_t n = 99;
    (void)state;

    for (uint64_t i = 0; i < 3; i++) {
        uint8_t leaf[H];
        tlog_leaf_hash("x", 1, leaf);
        leaf[0] = (uint8_t)i;
        assert_int_equal(tlog_append(i, leaf, mem_get, mem_put, m), TLOG_OK);
    }
    for (uint64_t i = 0; i <= 3; i++)
        assert_int_equal(tlog_root(i, mem_get, m, roots[i]), TLOG_OK);
    memcpy(empty, roots[0], H);

    /* Same size: empty proof, equal roots required. */
    assert_int_equal(tlog_consistency_proof(3, 3, mem_get, m, path, &n), TLOG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tlog_verify_consistency(3, 3, roots[3], roots[3], path, 0), TLOG_OK);
    assert_int_equal(tlog_verify_consistency(3, 3, roots[2], roots[3], path, 0), TLOG_EPROOF);
    /* From the empty tree: empty proof, old root must be the empty root. */
    n = 99;
    assert_int_equal(tlog_consistency_proof(0, 3, mem_get, m, path, &n), TLOG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tlog_verify_consistency(0, 3, empty, roots[3], path, 0), TLOG_OK);
    assert_int_equal(tlog_verify_consistency(0, 3, roots[1], roots[3], path, 0), TLOG_EPROOF);
    /* A real pair of sizes needs a non-empty proof. */
    assert_int_equal(tlog_verify_consistency(2, 3, roots[2], roots[3], path, 0), TLOG_EPROOF);
    free(m);
}

static void test_out_of_range(void **state)
{
    uint8_t path[TLOG_MAX_PATH * H], h[H] = {0};
    mem_store_t *m = mem_new();
    size_t n = 99;
    (void)state;

    assert_int_equal(tlog_append(0, h, mem_get, mem_put, m), TLOG_OK);
    assert_int_equal(tlog_inclusion_proof(1, 1, mem_get, m, path, &n), TLOG_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(tlog_inclusion_proof(0, 0, mem_get, m, path, &n), TLOG_EINVAL);
    assert_int_equal(tlog_consistency_proof(2, 1, mem_get, m, path, &n), TLOG_EINVAL);
    assert_int_equal(tlog_root(TLOG_MAX_SIZE + 1, mem_get, m, h), TLOG_EINVAL);
    assert_int_equal(tlog_append(TLOG_MAX_SIZE, h, mem_get, mem_put, m), TLOG_EINVAL);
    assert_int_equal(tlog_verify_inclusion(1, 1, h, path, 0, h), TLOG_EINVAL);
    assert_int_equal(tlog_verify_inclusion(0, 1, h, path, TLOG_MAX_PATH + 1, h), TLOG_EINVAL);
    assert_int_equal(tlog_verify_consistency(2, 1, h, h, path, 0), TLOG_EINVAL);
    assert_int_equal(tlog_verify_consistency(1, 2, h, h, path, TLOG_MAX_PATH + 1), TLOG_EINVAL);
    free(m);
}

static void test_store_failures(void **state)
{
    uint8_t path[TLOG_MAX_PATH * H], h[H] = {0}, root[H];
    mem_store_t *m = mem_new();
    size_t n = 99;
    (void)state;

    for (uint64_t i = 0; i < 5; i++)
        assert_int_equal(tlog_append(i, h, mem_get, mem_put, m), TLOG_OK);

    /* Reading beyond what was written is a store error, not a wrong answer. */
    assert_int_equal(tlog_root(6, mem_get, m, root), TLOG_ESTORE);
    assert_int_equal(tlog_inclusion_proof(0, 6, mem_get, m, path, &n), TLOG_ESTORE);
    assert_int_equal(n, 0);

    m->fail_get_after = 1;
    assert_int_equal(tlog_root(5, mem_get, m, root), TLOG_ESTORE);
    m->fail_get_after = 0;
    n = 99;
    assert_int_equal(tlog_consistency_proof(3, 5, mem_get, m, path, &n), TLOG_ESTORE);
    assert_int_equal(n, 0);
    /* Appending leaf 5 completes (1, 2): its left half must be read. */
    assert_int_equal(tlog_append(5, h, mem_get, mem_put, m), TLOG_ESTORE);
    m->fail_get_after = -1;
    m->fail_put_after = 1;
    assert_int_equal(tlog_append(5, h, mem_get, mem_put, m), TLOG_ESTORE);
    m->fail_put_after = 0;
    assert_int_equal(tlog_append(6, h, mem_get, mem_put, m), TLOG_ESTORE);
    free(m);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(tlog_strerror(TLOG_OK), "success");
    for (int e = TLOG_EINVAL; e <= TLOG_ECRYPTO; e++)
        assert_string_not_equal(tlog_strerror((tlog_err)e), "unknown tlog error");
    assert_string_equal(tlog_strerror((tlog_err)999), "unknown tlog error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf_and_empty_hashes),
        cmocka_unit_test(test_ct_reference_roots),
        cmocka_unit_test(test_every_size_to_300),
        cmocka_unit_test(test_trivial_consistency),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_store_failures),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
