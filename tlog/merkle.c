/*
 * merkle.c - RFC 9162 Merkle tree hashing, proofs and their verification
 * over caller-stored complete subtrees.
 */
#include "merkle.h"

#include <string.h>

#include <sodium.h>

#define H TLOG_HASH_LEN

const char *tlog_strerror(tlog_err err)
{
    switch (err) {
    case TLOG_OK: return "success";
    case TLOG_EINVAL: return "tree size or index out of range";
    case TLOG_ESTORE: return "a stored tree hash is missing or could not be written";
    case TLOG_EPROOF: return "proof does not verify";
    case TLOG_EFORMAT: return "malformed checkpoint, signed note or verifier key";
    case TLOG_ESIG: return "no valid signature from the expected key";
    case TLOG_ESPACE: return "output buffer too small";
    case TLOG_ECRYPTO: return "cryptographic library failure";
    }
    return "unknown tlog error";
}

void tlog_leaf_hash(const void *entry, size_t len, uint8_t out[H])
{
    const uint8_t prefix = 0x00;
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    if (len > 0)
        crypto_hash_sha256_update(&st, entry, len);
    crypto_hash_sha256_final(&st, out);
}

void tlog_node_hash(const uint8_t left[H], const uint8_t right[H], uint8_t out[H])
{
    uint8_t buf[1 + 2 * H];

    buf[0] = 0x01;
    memcpy(buf + 1, left, H);
    memcpy(buf + 1 + H, right, H);
    crypto_hash_sha256(out, buf, sizeof buf);
}

static bool is_pow2(uint64_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

/* The largest power of two strictly smaller than n; n >= 2. */
static uint64_t split_point(uint64_t n)
{
    return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/* MTH(D[lo:hi]) for a range the RFC recursion produces: every power-of-two
 * sized range it reaches is aligned, so it is a stored complete subtree. */
static tlog_err subtree_hash(uint64_t lo, uint64_t hi, tlog_get_fn get, void *ctx, uint8_t out[H])
{
    uint64_t n = hi - lo;
    uint8_t left[H], right[H];
    uint64_t k;
    tlog_err err;

    if (is_pow2(n)) {
        unsigned level = (unsigned)__builtin_ctzll(n);
        return get(ctx, level, lo >> level, out) == 0 ? TLOG_OK : TLOG_ESTORE;
    }
    k = split_point(n);
    if ((err = subtree_hash(lo, lo + k, get, ctx, left)) != TLOG_OK)
        return err;
    if ((err = subtree_hash(lo + k, hi, get, ctx, right)) != TLOG_OK)
        return err;
    tlog_node_hash(left, right, out);
    return TLOG_OK;
}

tlog_err tlog_append(uint64_t size_before, const uint8_t leaf_hash[H], tlog_get_fn get,
                     tlog_put_fn put, void *ctx)
{
    uint8_t cur[H], left[H];
    uint64_t index = size_before;
    unsigned level = 0;

    if (size_before >= TLOG_MAX_SIZE)
        return TLOG_EINVAL;
    memcpy(cur, leaf_hash, H);
    if (put(ctx, 0, index, cur) != 0)
        return TLOG_ESTORE;
    /* While the subtree just stored is a right child, its parent is now
     * complete: combine it with the stored left sibling. */
    while (index & 1) {
        if (get(ctx, level, index - 1, left) != 0)
            return TLOG_ESTORE;
        tlog_node_hash(left, cur, cur);
        level++;
        index >>= 1;
        if (put(ctx, level, index, cur) != 0)
            return TLOG_ESTORE;
    }
    return TLOG_OK;
}

tlog_err tlog_root(uint64_t size, tlog_get_fn get, void *ctx, uint8_t out[H])
{
    if (size > TLOG_MAX_SIZE)
        return TLOG_EINVAL;
    if (size == 0) {
        crypto_hash_sha256(out, NULL, 0);
        return TLOG_OK;
    }
    return subtree_hash(0, size, get, ctx, out);
}

/* The proofs are built from the root down, which yields the RFC's list in
 * reverse (root side first); reverse it in place at the end. */
static void reverse_path(uint8_t *path, size_t n)
{
    uint8_t tmp[H];

    for (size_t i = 0; i < n / 2; i++) {
        uint8_t *a = path + i * H, *b = path + (n - 1 - i) * H;
        memcpy(tmp, a, H);
        memcpy(a, b, H);
        memcpy(b, tmp, H);
    }
}

tlog_err tlog_inclusion_proof(uint64_t index, uint64_t size, tlog_get_fn get, void *ctx,
                              uint8_t *path, size_t *n)
{
    uint64_t lo = 0, hi = size;
    size_t count = 0;
    tlog_err err;

    *n = 0;
    if (size > TLOG_MAX_SIZE || index >= size)
        return TLOG_EINVAL;
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        if (count == TLOG_MAX_PATH)
            return TLOG_EINVAL;
        if (index < lo + k) {
            err = subtree_hash(lo + k, hi, get, ctx, path + count * H);
            hi = lo + k;
        } else {
            err = subtree_hash(lo, lo + k, get, ctx, path + count * H);
            lo = lo + k;
        }
        if (err != TLOG_OK)
            return err;
        count++;
    }
    reverse_path(path, count);
    *n = count;
    return TLOG_OK;
}

tlog_err tlog_consistency_proof(uint64_t old_size, uint64_t new_size, tlog_get_fn get, void *ctx,
                                uint8_t *path, size_t *n)
{
    uint64_t lo = 0, hi = new_size;
    bool whole_old_tree = true; /* the RFC's flag b */
    size_t count = 0;
    tlog_err err;

    *n = 0;
    if (new_size > TLOG_MAX_SIZE || old_size > new_size)
        return TLOG_EINVAL;
    if (old_size == 0 || old_size == new_size)
        return TLOG_OK;
    for (;;) {
        uint64_t k;
        if (count == TLOG_MAX_PATH)
            return TLOG_EINVAL;
        if (old_size == hi) {
            /* SUBPROOF(m, D[m], b): nothing if the old root is this very
             * subtree, else this subtree's hash. */
            if (!whole_old_tree) {
                if ((err = subtree_hash(lo, hi, get, ctx, path + count * H)) != TLOG_OK)
                    return err;
                count++;
            }
            break;
        }
        k = split_point(hi - lo);
        if (old_size <= lo + k) {
            err = subtree_hash(lo + k, hi, get, ctx, path + count * H);
            hi = lo + k;
        } else {
            err = subtree_hash(lo, lo + k, get, ctx, path + count * H);
            lo = lo + k;
            whole_old_tree = false;
        }
        if (err != TLOG_OK)
            return err;
        count++;
    }
    reverse_path(path, count);
    *n = count;
    return TLOG_OK;
}

tlog_err tlog_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[H],
                               const uint8_t *path, size_t n, const uint8_t root[H])
{
    uint64_t fn = index, sn;
    uint8_t r[H];

    if (index >= size || size > TLOG_MAX_SIZE || n > TLOG_MAX_PATH)
        return TLOG_EINVAL;
    sn = size - 1;
    memcpy(r, leaf_hash, H);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = path + i * H;
        if (sn == 0)
            return TLOG_EPROOF;
        if ((fn & 1) || fn == sn) {
            tlog_node_hash(p, r, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            tlog_node_hash(r, p, r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(r, root, H) != 0)
        return TLOG_EPROOF;
    return TLOG_OK;
}

tlog_err tlog_verify_consistency(uint64_t old_size, uint64_t new_size, const uint8_t old_root[H],
                                 const uint8_t new_root[H], const uint8_t *path, size_t n)
{
    uint8_t list[(TLOG_MAX_PATH + 1) * H];
    uint8_t fr[H], sr[H];
    uint64_t fn, sn;
    size_t len = 0;

    if (old_size > new_size || new_size > TLOG_MAX_SIZE || n > TLOG_MAX_PATH)
        return TLOG_EINVAL;
    if (old_size == 0) {
        uint8_t empty[H];
        crypto_hash_sha256(empty, NULL, 0);
        return n == 0 && memcmp(old_root, empty, H) == 0 ? TLOG_OK : TLOG_EPROOF;
    }
    if (old_size == new_size)
        return n == 0 && memcmp(old_root, new_root, H) == 0 ? TLOG_OK : TLOG_EPROOF;
    /* RFC 9162 2.1.4.2, steps 1 to 7. */
    if (n == 0)
        return TLOG_EPROOF;
    if (is_pow2(old_size)) {
        memcpy(list, old_root, H);
        len = 1;
    }
    memcpy(list + len * H, path, n * H);
    len += n;
    fn = old_size - 1;
    sn = new_size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    memcpy(fr, list, H);
    memcpy(sr, list, H);
    for (size_t i = 1; i < len; i++) {
        const uint8_t *c = list + i * H;
        if (sn == 0)
            return TLOG_EPROOF;
        if ((fn & 1) || fn == sn) {
            tlog_node_hash(c, fr, fr);
            tlog_node_hash(c, sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            tlog_node_hash(sr, c, sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(fr, old_root, H) != 0 || memcmp(sr, new_root, H) != 0)
        return TLOG_EPROOF;
    return TLOG_OK;
}
