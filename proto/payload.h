/*
 * payload.h - the size classes every encrypted payload (`what`) is padded to.
 *
 * The hub and the routing log see a message's payload only as its length.
 * An exact length would tell one resident's messages apart from another's
 * (a longer address, a longer name), so every sender pads its plaintext
 * before encrypting it, and every `what` is exactly one size class long:
 *
 *   padded = plaintext || 0x80 || 0x00 ... 0x00     (ISO/IEC 7816-4 padding)
 *   what   = nonce(24) || crypto_box_easy(padded)   (MAC: 16 bytes)
 *   len(what) = a size class: a power of two from 256 bytes to 4 MiB
 *
 * so len(padded) = class - 40, and a plaintext of up to class - 41 bytes fits
 * in the class (the 0x80 marker is always there).  A sender uses the
 * smallest class that fits.  The hub refuses a `what` whose length is not a
 * class (MALFORMED) and records only the class; the recipient removes the
 * padding after crypto_box_open and refuses a payload whose padding is not
 * exactly this (UNDECRYPTABLE).  The padding is inside the box, so it is
 * authenticated: removing it needs no constant-time care.
 *
 * proto/README.md ("Payload") is the same rule for implementers.
 */
#ifndef RENKEI_PAYLOAD_H
#define RENKEI_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire.h"

#define RK_PAD_OVERHEAD 40u              /* nonce (24) + crypto_box MAC (16) */
#define RK_CLASS_MIN 256u                /* the smallest `what` */
#define RK_CLASS_MAX RK_WHAT_CEILING     /* the largest `what` (4 MiB) */
#define RK_PAD_MARKER 0x80u
/* The longest plaintext any class holds. */
#define RK_PLAIN_MAX ((size_t)RK_CLASS_MAX - RK_PAD_OVERHEAD - 1u)

/* true if a `what` of what_len bytes is exactly one size class long. */
static inline bool rk_is_size_class(size_t what_len)
{
    return what_len >= RK_CLASS_MIN && what_len <= RK_CLASS_MAX && (what_len & (what_len - 1)) == 0;
}

/* The size class (length of `what`) for a plaintext of plain_len bytes: the
 * smallest class whose padded plaintext holds it and the 0x80 marker; 0 if
 * the plaintext is longer than RK_PLAIN_MAX. */
static inline size_t rk_size_class_for(size_t plain_len)
{
    size_t c = RK_CLASS_MIN;
    if (plain_len > RK_PLAIN_MAX)
        return 0;
    while (c - RK_PAD_OVERHEAD < plain_len + 1)
        c *= 2;
    return c;
}

/* Pads in place: buf holds plain_len bytes of plaintext and has room for
 * padded_len (> plain_len) bytes; writes 0x80 then zeros up to padded_len. */
static inline void rk_pad(uint8_t *buf, size_t plain_len, size_t padded_len)
{
    buf[plain_len] = RK_PAD_MARKER;
    memset(buf + plain_len + 1, 0, padded_len - plain_len - 1);
}

/* The plaintext length of a decrypted, padded payload of padded_len bytes:
 * true and *plain_len set if padded_len + RK_PAD_OVERHEAD is a size class
 * and the bytes end in 0x80 followed only by zeros; false otherwise. */
static inline bool rk_unpad(const uint8_t *buf, size_t padded_len, size_t *plain_len)
{
    size_t i = padded_len;
    if (padded_len > RK_CLASS_MAX || !rk_is_size_class(padded_len + RK_PAD_OVERHEAD))
        return false;
    while (i > 0 && buf[i - 1] == 0)
        i--;
    if (i == 0 || buf[i - 1] != RK_PAD_MARKER)
        return false;
    *plain_len = i - 1;
    return true;
}

#endif /* RENKEI_PAYLOAD_H */
