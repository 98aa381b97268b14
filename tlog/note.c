/*
 * note.c - C2SP signed notes carrying tlog checkpoints, Ed25519 only.
 */
#include "note.h"
#include "why.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#define SIG_TYPE_ED25519 0x01
#define SIG_BYTES crypto_sign_BYTES /* 64 */
#define PK_BYTES crypto_sign_PUBLICKEYBYTES
#define ROOT_B64_LEN 44 /* base64 of 32 bytes, padded */
#define TIME_TEXT_LEN 20 /* 2024-04-01T09:00:00Z */
#define TIME_PREFIX "renkei-time "
#define EM_DASH_SP "\xe2\x80\x94 "
#define B64 sodium_base64_VARIANT_ORIGINAL

static bool valid_name_n(const char *s, size_t len)
{
    if (len == 0 || len > TLOG_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '+')
            return false;
    }
    return true;
}

static bool valid_name(const char *s)
{
    return s != NULL && valid_name_n(s, strnlen(s, TLOG_NAME_MAX + 1));
}

uint32_t tlog_key_id(const char *name, const uint8_t pk[32])
{
    const uint8_t sep[2] = {0x0a, SIG_TYPE_ED25519};
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, sizeof sep);
    crypto_hash_sha256_update(&st, pk, PK_BYTES);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* Decodes padded standard base64 s[0:len] into out (cap bytes).  libsodium
 * refuses stray characters, wrong padding and nonzero trailing bits, so one
 * value has exactly one accepted spelling. */
/* true if s[0:len] holds only standard base64 digits and '='.  libsodium's
 * decoder (1.0.18) reads every byte above 0x7f as some digit, so without this
 * a text that is not base64 could decode, and two texts to the same bytes. */
static bool b64_alphabet(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '/' || c == '='))
            return false;
    }
    return true;
}

static bool b64_decode_exact(const char *s, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    const char *end = NULL;

    if (len == 0 || len % 4 != 0 || !b64_alphabet(s, len))
        return false;
    if (sodium_base642bin(out, cap, s, len, NULL, out_len, &end, B64) != 0)
        return false;
    return end == s + len;
}

static bool format_time(int64_t t, char out[TIME_TEXT_LEN + 1])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t < 0 || t > TLOG_TIME_MAX || gmtime_r(&tt, &tm) == NULL)
        return false;
    return strftime(out, TIME_TEXT_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) == TIME_TEXT_LEN;
}

/* Parses exactly "YYYY-MM-DDTHH:MM:SSZ"; refuses dates that do not exist. */
static bool parse_time(const char *s, size_t len, int64_t *t)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    char again[TIME_TEXT_LEN + 1];
    struct tm tm;
    time_t tt;

    if (len != TIME_TEXT_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    memset(&tm, 0, sizeof tm);
    tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
    tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
    tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
    tm.tm_hour = (s[11] - '0') * 10 + (s[12] - '0');
    tm.tm_min = (s[14] - '0') * 10 + (s[15] - '0');
    tm.tm_sec = (s[17] - '0') * 10 + (s[18] - '0');
    tt = timegm(&tm);
    if (tt == (time_t)-1 || !format_time((int64_t)tt, again) || memcmp(again, s, len) != 0)
        return false;
    *t = (int64_t)tt;
    return true;
}

tlog_err tlog_vkey_format(const char *name, const uint8_t pk[32], char *out, size_t cap)
{
    uint8_t key[1 + PK_BYTES];
    char b64[sodium_base64_ENCODED_LEN(1 + PK_BYTES, B64)];
    int w;

    if (cap > 0)
        out[0] = '\0';
    if (!valid_name(name))
        return TLOG_EINVAL;
    key[0] = SIG_TYPE_ED25519;
    memcpy(key + 1, pk, PK_BYTES);
    sodium_bin2base64(b64, sizeof b64, key, sizeof key, B64);
    w = snprintf(out, cap, "%s+%08" PRIx32 "+%s", name, tlog_key_id(name, pk), b64);
    if (w < 0 || (size_t)w >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return TLOG_ESPACE;
    }
    return TLOG_OK;
}

tlog_err tlog_vkey_parse(const char *vkey, char name[TLOG_NAME_MAX + 1], uint8_t pk[32], char *why,
                         size_t why_len)
{
    const char *plus1, *plus2, *hex, *b64;
    uint8_t key[1 + PK_BYTES + 3];
    size_t name_len, key_len;
    uint32_t id = 0;

    name[0] = '\0';
    memset(pk, 0, PK_BYTES);
    plus1 = strchr(vkey, '+');
    plus2 = plus1 != NULL ? strchr(plus1 + 1, '+') : NULL;
    if (plus2 == NULL) {
        rk_why(why, why_len,
               "a verifier key has the form NAME+KEYID+KEY; copy it again from the "
               "log operator's published key");
        return TLOG_EFORMAT;
    }
    name_len = (size_t)(plus1 - vkey);
    hex = plus1 + 1;
    b64 = plus2 + 1;
    if (!valid_name_n(vkey, name_len)) {
        rk_why(why, why_len,
               "the key name in the verifier key is empty, too long or contains "
               "spaces or control characters");
        return TLOG_EFORMAT;
    }
    if (plus2 - hex != 8) {
        rk_why(why, why_len, "the key id in the verifier key must be 8 hex digits");
        return TLOG_EFORMAT;
    }
    for (int i = 0; i < 8; i++) {
        char c = hex[i];
        unsigned v;
        if (c >= '0' && c <= '9')
            v = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = (unsigned)(c - 'a' + 10);
        else {
            rk_why(why, why_len, "the key id in the verifier key must be 8 lowercase hex digits");
            return TLOG_EFORMAT;
        }
        id = id << 4 | v;
    }
    if (!b64_decode_exact(b64, strlen(b64), key, sizeof key, &key_len) || key_len != sizeof key - 3) {
        rk_why(why, why_len,
               "the key in the verifier key is not base64 of 33 bytes; "
               "copy it again from the log operator's published key");
        return TLOG_EFORMAT;
    }
    if (key[0] != SIG_TYPE_ED25519) {
        rk_why(why, why_len, "the verifier key is of signature type %u, only Ed25519 (1) is supported",
               (unsigned)key[0]);
        return TLOG_EFORMAT;
    }
    memcpy(name, vkey, name_len);
    name[name_len] = '\0';
    if (tlog_key_id(name, key + 1) != id) {
        name[0] = '\0';
        rk_why(why, why_len,
               "the key id in the verifier key does not match its name and key: "
               "it was mistyped or altered");
        return TLOG_EFORMAT;
    }
    memcpy(pk, key + 1, PK_BYTES);
    return TLOG_OK;
}

tlog_err tlog_checkpoint_sign(const char *origin, const tlog_checkpoint_t *cp, const char *key_name,
                              const uint8_t sk[64], char *out, size_t cap, size_t *out_len)
{
    char root_b64[sodium_base64_ENCODED_LEN(TLOG_HASH_LEN, B64)];
    char sig_b64[sodium_base64_ENCODED_LEN(4 + SIG_BYTES, B64)];
    char when[TIME_TEXT_LEN + 1];
    uint8_t pk[PK_BYTES], sig[4 + SIG_BYTES];
    uint32_t id;
    size_t body_len;
    int w;

    *out_len = 0;
    if (cap > 0)
        out[0] = '\0';
    if (sodium_init() < 0)
        return TLOG_ECRYPTO;
    if (!valid_name(origin) || !valid_name(key_name) || cp->size > TLOG_MAX_SIZE ||
        !format_time(cp->time, when))
        return TLOG_EINVAL;
    sodium_bin2base64(root_b64, sizeof root_b64, cp->root, TLOG_HASH_LEN, B64);
    w = snprintf(out, cap, "%s\n%" PRIu64 "\n%s\n" TIME_PREFIX "%s\n", origin, cp->size, root_b64,
                 when);
    if (w < 0 || (size_t)w >= cap)
        goto space;
    body_len = (size_t)w;

    crypto_sign_ed25519_sk_to_pk(pk, sk);
    id = tlog_key_id(key_name, pk);
    sig[0] = (uint8_t)(id >> 24);
    sig[1] = (uint8_t)(id >> 16);
    sig[2] = (uint8_t)(id >> 8);
    sig[3] = (uint8_t)id;
    if (crypto_sign_detached(sig + 4, NULL, (const uint8_t *)out, body_len, sk) != 0) {
        out[0] = '\0';
        return TLOG_ECRYPTO;
    }
    sodium_bin2base64(sig_b64, sizeof sig_b64, sig, sizeof sig, B64);
    w = snprintf(out + body_len, cap - body_len, "\n" EM_DASH_SP "%s %s\n", key_name, sig_b64);
    if (w < 0 || (size_t)w >= cap - body_len)
        goto space;
    *out_len = body_len + (size_t)w;
    return TLOG_OK;
space:
    if (cap > 0)
        out[0] = '\0';
    return TLOG_ESPACE;
}

/* Length of the valid UTF-8 sequence at s[0:len] and its code point in *cp;
 * 0 if invalid (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_next(const uint8_t *s, size_t len, uint32_t *cp)
{
    uint32_t c = s[0], min;
    size_t n;

    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, c &= 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, c &= 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

static bool is_unicode_space(uint32_t c)
{
    return c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* A key name on a signature line of any key: non-empty, no Unicode spaces,
 * no '+' (c2sp.org/signed-note).  The text is already known to be UTF-8. */
static bool note_key_name_ok(const uint8_t *s, size_t len)
{
    size_t i = 0;

    if (len == 0)
        return false;
    while (i < len) {
        uint32_t c;
        size_t n = utf8_next(s + i, len - i, &c);
        if (n == 0 || c == '+' || is_unicode_space(c))
            return false;
        i += n;
    }
    return true;
}

/* Checks every signature line in sigs[0:len] (each ends in '\n').  Returns
 * TLOG_OK if at least one verifies under (key_name, pk) and none from that
 * key fails. */
static tlog_err check_signatures(const uint8_t *sigs, size_t len, const uint8_t *body,
                                 size_t body_len, const char *key_name, const uint8_t *pk,
                                 char *why, size_t why_len)
{
    const size_t dash_len = sizeof EM_DASH_SP - 1;
    const uint32_t want_id = tlog_key_id(key_name, pk);
    const size_t want_name_len = strlen(key_name);
    uint8_t raw[TLOG_NOTE_MAX / 4 * 3 + 3];
    size_t pos = 0, line_no = 0, good = 0;

    while (pos < len) {
        const uint8_t *line = sigs + pos, *nl, *sp;
        size_t line_len, name_len, raw_len;
        uint32_t id;

        nl = memchr(line, '\n', len - pos);
        line_len = (size_t)(nl - line);
        pos += line_len + 1;
        if (++line_no > TLOG_NOTE_MAX_SIGS) {
            rk_why(why, why_len, "the checkpoint has more than %d signature lines", TLOG_NOTE_MAX_SIGS);
            return TLOG_EFORMAT;
        }
        if (line_len < dash_len || memcmp(line, EM_DASH_SP, dash_len) != 0) {
            rk_why(why, why_len,
                   "signature line %zu does not start with an em dash (U+2014) and a "
                   "space; the checkpoint was damaged in transit or hand-edited",
                   line_no);
            return TLOG_EFORMAT;
        }
        sp = memchr(line + dash_len, ' ', line_len - dash_len);
        if (sp == NULL) {
            rk_why(why, why_len, "signature line %zu has no space between key name and signature", line_no);
            return TLOG_EFORMAT;
        }
        name_len = (size_t)(sp - (line + dash_len));
        if (!note_key_name_ok(line + dash_len, name_len)) {
            rk_why(why, why_len, "signature line %zu has an empty key name or one with spaces or '+'",
                   line_no);
            return TLOG_EFORMAT;
        }
        if (!b64_decode_exact((const char *)sp + 1, (size_t)(nl - sp - 1), raw, sizeof raw,
                              &raw_len) ||
            raw_len < 5) {
            rk_why(why, why_len,
                   "signature line %zu does not end in the base64 of a key id and a "
                   "signature",
                   line_no);
            return TLOG_EFORMAT;
        }
        id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
        if (name_len != want_name_len || memcmp(line + dash_len, key_name, name_len) != 0 ||
            id != want_id)
            continue; /* another key's signature: ignored, as the format requires */
        if (raw_len != 4 + SIG_BYTES ||
            crypto_sign_verify_detached(raw + 4, body, body_len, pk) != 0) {
            rk_why(why, why_len,
                   "the signature by %s (line %zu) does not verify: the checkpoint "
                   "was changed after it was signed; do not trust it",
                   key_name, line_no);
            return TLOG_ESIG;
        }
        good++;
    }
    if (good == 0) {
        rk_why(why, why_len,
               "the checkpoint carries no signature by %s with key id %08" PRIx32
               "; check that the verifier key configured for this log is current",
               key_name, want_id);
        return TLOG_ESIG;
    }
    return TLOG_OK;
}

static bool parse_size(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > TLOG_MAX_SIZE)
        return false;
    *out = v;
    return true;
}

/* Parses the note text body[0:len] (ends in '\n', already authenticated). */
static tlog_err parse_body(const char *body, size_t len, const char *origin, tlog_checkpoint_t *cp,
                           char *why, size_t why_len)
{
    size_t pos = 0, line_no = 0, times = 0;
    size_t root_len;

    while (pos < len) {
        const char *line = body + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = (size_t)(nl - line);

        pos += n + 1;
        line_no++;
        if (n == 0) {
            rk_why(why, why_len,
                   "line %zu of the checkpoint is empty; a checkpoint has no empty "
                   "lines",
                   line_no);
            return TLOG_EFORMAT;
        }
        if (line_no == 1) {
            if (n != strlen(origin) || memcmp(line, origin, n) != 0) {
                rk_why(why, why_len,
                       "the checkpoint is for log \"%.*s\", not \"%s\"; fetch the "
                       "checkpoint of the right log",
                       (int)(n > 64 ? 64 : n), line, origin);
                return TLOG_EFORMAT;
            }
        } else if (line_no == 2) {
            if (!parse_size(line, n, &cp->size)) {
                rk_why(why, why_len,
                       "the tree size line is not a decimal number without leading "
                       "zeros");
                return TLOG_EFORMAT;
            }
        } else if (line_no == 3) {
            if (n != ROOT_B64_LEN ||
                !b64_decode_exact(line, n, cp->root, sizeof cp->root, &root_len) ||
                root_len != TLOG_HASH_LEN) {
                rk_why(why, why_len, "the root hash line is not the exact base64 of 32 bytes");
                return TLOG_EFORMAT;
            }
        } else if (n >= sizeof TIME_PREFIX - 1 &&
                   memcmp(line, TIME_PREFIX, sizeof TIME_PREFIX - 1) == 0) {
            if (++times > 1) {
                rk_why(why, why_len, "the checkpoint has more than one renkei-time line");
                return TLOG_EFORMAT;
            }
            if (!parse_time(line + sizeof TIME_PREFIX - 1, n - (sizeof TIME_PREFIX - 1),
                            &cp->time)) {
                rk_why(why, why_len,
                       "the renkei-time line is not a UTC time of the form "
                       "2024-04-01T09:00:00Z");
                return TLOG_EFORMAT;
            }
        }
        /* Other extension lines are opaque and ignored. */
    }
    if (line_no < 3) {
        rk_why(why, why_len,
               "the checkpoint has %zu lines before the signatures; it needs origin, "
               "tree size and root hash",
               line_no);
        return TLOG_EFORMAT;
    }
    if (times == 0) {
        rk_why(why, why_len,
               "the checkpoint has no renkei-time line; it was not made by a Renkei "
               "hub");
        return TLOG_EFORMAT;
    }
    return TLOG_OK;
}

tlog_err tlog_checkpoint_open(const char *text, size_t len, const char *origin,
                              const char *key_name, const uint8_t pk[32], tlog_checkpoint_t *cp,
                              char *why, size_t why_len)
{
    const uint8_t *t = (const uint8_t *)text;
    size_t sep, i;
    tlog_err err;

    memset(cp, 0, sizeof *cp);
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (sodium_init() < 0) {
        rk_why(why, why_len, "libsodium could not be initialised");
        return TLOG_ECRYPTO;
    }
    if (!valid_name(origin) || !valid_name(key_name)) {
        rk_why(why, why_len,
               "the expected origin or key name is empty or contains spaces, '+' or "
               "control characters; fix the configuration");
        return TLOG_EINVAL;
    }
    if (len == 0) {
        rk_why(why, why_len, "the checkpoint is empty");
        return TLOG_EFORMAT;
    }
    if (len > TLOG_NOTE_MAX) {
        rk_why(why, why_len, "the checkpoint is %zu bytes, more than the %d accepted", len, TLOG_NOTE_MAX);
        return TLOG_EFORMAT;
    }
    for (i = 0; i < len;) {
        uint32_t c;
        size_t n = utf8_next(t + i, len - i, &c);
        if (n == 0) {
            rk_why(why, why_len, "the checkpoint is not valid UTF-8 (byte %zu)", i);
            return TLOG_EFORMAT;
        }
        if (c < 0x20 && c != '\n') {
            rk_why(why, why_len,
                   "the checkpoint contains control character 0x%02x at byte %zu; a "
                   "signed note may contain only newlines (was it converted to CRLF?)",
                   (unsigned)c, i);
            return TLOG_EFORMAT;
        }
        i += n;
    }
    if (t[len - 1] != '\n') {
        rk_why(why, why_len,
               "the checkpoint does not end with a newline; it was probably cut "
               "short");
        return TLOG_EFORMAT;
    }
    /* The note text ends at the last blank line. */
    for (sep = len - 1; sep > 0; sep--) {
        if (t[sep - 1] == '\n' && t[sep] == '\n')
            break;
    }
    if (sep == 0) {
        rk_why(why, why_len, "the checkpoint has no blank line before its signature lines");
        return TLOG_EFORMAT;
    }
    if (sep + 1 == len) {
        rk_why(why, why_len, "the checkpoint has no signature lines after the blank line");
        return TLOG_EFORMAT;
    }
    err = check_signatures(t + sep + 1, len - sep - 1, t, sep, key_name, pk, why, why_len);
    if (err == TLOG_OK)
        err = parse_body(text, sep, origin, cp, why, why_len);
    if (err != TLOG_OK)
        memset(cp, 0, sizeof *cp);
    return err;
}

tlog_err tlog_checkpoint_origin(const char *text, size_t len, char *origin)
{
    const char *nl = text != NULL ? memchr(text, '\n', len) : NULL;
    size_t n = nl != NULL ? (size_t)(nl - text) : 0;

    origin[0] = '\0';
    if (n == 0 || n > TLOG_NAME_MAX)
        return TLOG_EFORMAT;
    for (size_t i = 0; i < n; i++)
        if (text[i] <= ' ' || text[i] > '~' || text[i] == '+')
            return TLOG_EFORMAT;
    memcpy(origin, text, n);
    origin[n] = '\0';
    return TLOG_OK;
}
