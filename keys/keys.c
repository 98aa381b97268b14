/*
 * keys.c - identities and key files.
 */
#include "keys.h"
#include "why.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#define KEY_FILE_MAX 4096
#define SEED_LEN crypto_sign_SEEDBYTES
#define B64_LEN(n) sodium_base64_ENCODED_LEN((n), sodium_base64_VARIANT_ORIGINAL)

const char *rk_keys_strerror(rk_keys_err err)
{
    switch (err) {
    case RK_KEYS_OK: return "success";
    case RK_KEYS_EIO: return "cannot read or write the key file";
    case RK_KEYS_EPERM: return "secret key file is readable by group or others";
    case RK_KEYS_EFORMAT: return "not a valid Renkei key file";
    case RK_KEYS_EEXIST: return "key file already exists";
    case RK_KEYS_ENOMEM: return "out of memory";
    case RK_KEYS_ECRYPTO: return "key conversion failed";
    case RK_KEYS_ENAME: return "invalid name";
    }
    return "unknown key error";
}

static bool valid_key_name(const char *name)
{
    return rk_valid_name(name);
}

static rk_keys_err derive(rk_identity_t *id, const uint8_t seed[SEED_LEN])
{
    if (crypto_sign_seed_keypair(id->pub.sign_pk, id->sign_sk, seed) != 0)
        return RK_KEYS_ECRYPTO;
    if (crypto_sign_ed25519_sk_to_curve25519(id->curve_sk, id->sign_sk) != 0 ||
        crypto_sign_ed25519_pk_to_curve25519(id->pub.curve_pk, id->pub.sign_pk) != 0)
        return RK_KEYS_ECRYPTO;
    return RK_KEYS_OK;
}

static rk_identity_t *identity_alloc(void)
{
    rk_identity_t *id;
    if (sodium_init() < 0)
        return NULL;
    id = sodium_malloc(sizeof *id);
    if (id != NULL)
        memset(id, 0, sizeof *id);
    return id;
}

rk_identity_t *rk_identity_generate(const char *name)
{
    uint8_t seed[SEED_LEN];
    rk_identity_t *id;

    if (!valid_key_name(name))
        return NULL;
    id = identity_alloc();
    if (id == NULL)
        return NULL;
    snprintf(id->pub.name, sizeof id->pub.name, "%s", name);
    randombytes_buf(seed, sizeof seed);
    if (derive(id, seed) != RK_KEYS_OK) {
        sodium_memzero(seed, sizeof seed);
        rk_identity_destroy(&id);
        return NULL;
    }
    sodium_memzero(seed, sizeof seed);
    return id;
}

void rk_identity_destroy(rk_identity_t **id)
{
    if (id == NULL || *id == NULL)
        return;
    sodium_free(*id); /* sodium_free wipes before releasing */
    *id = NULL;
}

/* ------------------------------------------------------------- file parsing */

/* Reads a whole small file into buf (NUL-terminated). */
static rk_keys_err slurp(const char *path, int fd, char *buf, size_t cap, char *why, size_t why_len)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rk_why(why, why_len, "%s: %s", path, strerror(errno));
            return RK_KEYS_EIO;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got >= cap - 1) {
            rk_why(why, why_len, "%s: file is too large to be a key file", path);
            return RK_KEYS_EFORMAT;
        }
    }
    buf[got] = '\0';
    return RK_KEYS_OK;
}

/* Finds "field: value" in text; copies the trimmed value.  Returns false if
 * the field is absent or its value does not fit. */
static bool field(const char *text, const char *name, char *out, size_t out_len)
{
    size_t nl = strlen(name);
    const char *line = text;
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (line[0] != '#' && len > nl && strncmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            size_t vl = len - nl - 1;
            while (vl > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vl--;
            }
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
                vl--;
            if (vl >= out_len)
                return false;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
        line = end ? end + 1 : NULL;
    }
    return false;
}

/* true if text holds only standard base64 digits and '='.  libsodium's
 * decoder (1.0.18) reads every byte above 0x7f as some digit. */
static bool b64_alphabet(const char *text)
{
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '+' || *c == '/' || *c == '='))
            return false;
    }
    return true;
}

static bool b64_exact(const char *text, uint8_t *out, size_t want)
{
    size_t got = 0;
    const char *end = NULL;
    if (!b64_alphabet(text))
        return false;
    if (sodium_base642bin(out, want, text, strlen(text), NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    return got == want && *end == '\0';
}

/* Opens a secret file, refusing one that group or others may read. */
static rk_keys_err open_secret(const char *path, int *fd_out, char *why, size_t why_len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rk_why(why, why_len, "cannot open secret key file %s: %s", path, strerror(errno));
        return RK_KEYS_EIO;
    }
    if (fstat(fd, &st) != 0) {
        rk_why(why, why_len, "cannot stat %s: %s", path, strerror(errno));
        close(fd);
        return RK_KEYS_EIO;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        rk_why(why, why_len,
               "refusing secret key file %s: its mode %04o lets group or others read it; "
               "run 'chmod 600 %s' if it has not leaked, or generate a new key",
               path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return RK_KEYS_EPERM;
    }
    *fd_out = fd;
    return RK_KEYS_OK;
}

/* Refuses text that no key file of at most KEY_FILE_MAX - 1 bytes holds, so
 * the parsers accept exactly what the loaders accept. */
static bool text_fits(const char *text, const char *label, char *why, size_t why_len)
{
    if (strnlen(text, KEY_FILE_MAX) >= KEY_FILE_MAX - 1) {
        rk_why(why, why_len, "%s: file is too large to be a key file", label);
        return false;
    }
    return true;
}

rk_keys_err rk_identity_parse(const char *text, const char *label, rk_identity_t **out, char *why,
                              size_t why_len)
{
    char version[16], b64[B64_LEN(SEED_LEN) + 8];
    uint8_t seed[SEED_LEN];
    rk_identity_t *id = NULL;
    rk_keys_err err = RK_KEYS_EFORMAT;

    *out = NULL;
    memset(b64, 0, sizeof b64);
    memset(seed, 0, sizeof seed);
    if (!text_fits(text, label, why, why_len))
        return RK_KEYS_EFORMAT;
    id = identity_alloc();
    if (id == NULL)
        return RK_KEYS_ENOMEM;
    if (!field(text, "renkei-secret-key", version, sizeof version) || strcmp(version, "1") != 0) {
        rk_why(why, why_len, "%s is not a Renkei secret key file (no 'renkei-secret-key: 1' line)", label);
        goto fail;
    }
    if (!field(text, "name", id->pub.name, sizeof id->pub.name) || !valid_key_name(id->pub.name)) {
        rk_why(why, why_len, "%s: missing or invalid 'name' line", label);
        goto fail;
    }
    if (!field(text, "seed", b64, sizeof b64) || !b64_exact(b64, seed, sizeof seed)) {
        rk_why(why, why_len, "%s: missing or invalid 'seed' line (base64 of 32 bytes)", label);
        goto fail;
    }
    if ((err = derive(id, seed)) != RK_KEYS_OK) {
        rk_why(why, why_len, "%s: key derivation failed", label);
        goto fail;
    }
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(b64, sizeof b64);
    *out = id;
    return RK_KEYS_OK;

fail:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(b64, sizeof b64);
    rk_identity_destroy(&id);
    return err;
}

/* Reads the secret key file at path (checked as open_secret does) into
 * *text, a sodium_malloc'd NUL-terminated copy the caller frees with
 * sodium_free.  *text is NULL on failure. */
static rk_keys_err read_secret(const char *path, char **text, char *why, size_t why_len)
{
    rk_keys_err err;
    int fd = -1;

    *text = NULL;
    if ((err = open_secret(path, &fd, why, why_len)) != RK_KEYS_OK)
        return err;
    *text = sodium_malloc(KEY_FILE_MAX);
    if (*text == NULL)
        err = RK_KEYS_ENOMEM;
    else if ((err = slurp(path, fd, *text, KEY_FILE_MAX, why, why_len)) != RK_KEYS_OK) {
        sodium_free(*text);
        *text = NULL;
    }
    close(fd);
    return err;
}

rk_keys_err rk_identity_load(const char *path, rk_identity_t **out, char *why, size_t why_len)
{
    char *text = NULL;
    rk_keys_err err;

    *out = NULL;
    if ((err = read_secret(path, &text, why, why_len)) != RK_KEYS_OK)
        return err;
    err = rk_identity_parse(text, path, out, why, why_len);
    sodium_free(text);
    return err;
}

/* Writes text to path, created exclusively with `mode`.  Removes the file
 * again if the write fails. */
static rk_keys_err write_new(const char *path, const char *text, mode_t mode, char *why, size_t why_len)
{
    size_t len = strlen(text), off = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST) {
            rk_why(why, why_len, "%s already exists; refusing to overwrite a key", path);
            return RK_KEYS_EEXIST;
        }
        rk_why(why, why_len, "cannot create %s: %s", path, strerror(errno));
        return RK_KEYS_EIO;
    }
    (void)fchmod(fd, mode); /* umask may have narrowed it; never widened */
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (size_t)n;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    return RK_KEYS_OK;
fail:
    rk_why(why, why_len, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(path);
    return RK_KEYS_EIO;
}

rk_keys_err rk_identity_save(const rk_identity_t *id, const char *prefix, char *why, size_t why_len)
{
    char key_path[4096], pub_path[4096];
    char seed_b64[B64_LEN(SEED_LEN)], sign_b64[B64_LEN(RK_KEY_LEN)], z85[RK_Z85_LEN + 1];
    char *secret_text;
    char pub_text[1024];
    rk_keys_err err;
    const size_t cap = 1024;

    if ((size_t)snprintf(key_path, sizeof key_path, "%s.key", prefix) >= sizeof key_path ||
        (size_t)snprintf(pub_path, sizeof pub_path, "%s.pub", prefix) >= sizeof pub_path) {
        rk_why(why, why_len, "key file path is too long");
        return RK_KEYS_EIO;
    }
    secret_text = sodium_malloc(cap);
    if (secret_text == NULL)
        return RK_KEYS_ENOMEM;
    /* The seed is the first half of libsodium's Ed25519 secret key. */
    sodium_bin2base64(seed_b64, sizeof seed_b64, id->sign_sk, SEED_LEN, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sign_b64, sizeof sign_b64, id->pub.sign_pk, RK_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    zmq_z85_encode(z85, id->pub.curve_pk, RK_KEY_LEN);
    snprintf(secret_text, cap,
             "# Renkei secret key of '%s'.  Keep it private: whoever holds this file\n"
             "# can act as '%s'.  Never mail it; mail %s.pub instead.\n"
             "renkei-secret-key: 1\nname: %s\nseed: %s\n",
             id->pub.name, id->pub.name, id->pub.name, id->pub.name, seed_b64);
    snprintf(pub_text, sizeof pub_text,
             "# Renkei public key of '%s'.  Safe to publish and to mail to the hub operator.\n"
             "renkei-public-key: 1\nname: %s\nsign: %s\ncurve: %s\n",
             id->pub.name, id->pub.name, sign_b64, z85);
    sodium_memzero(seed_b64, sizeof seed_b64);

    if (access(pub_path, F_OK) == 0) {
        rk_why(why, why_len, "%s already exists; refusing to overwrite a key", pub_path);
        err = RK_KEYS_EEXIST;
    } else if ((err = write_new(key_path, secret_text, 0600, why, why_len)) == RK_KEYS_OK &&
               (err = write_new(pub_path, pub_text, 0644, why, why_len)) != RK_KEYS_OK) {
        unlink(key_path);
    }
    sodium_free(secret_text);
    return err;
}

rk_keys_err rk_pubkey_from_sign(const char *name, const uint8_t sign_pk[RK_KEY_LEN], rk_pubkey_t *pub)
{
    memset(pub, 0, sizeof *pub);
    if (name != NULL)
        snprintf(pub->name, sizeof pub->name, "%s", name);
    memcpy(pub->sign_pk, sign_pk, RK_KEY_LEN);
    if (crypto_sign_ed25519_pk_to_curve25519(pub->curve_pk, sign_pk) != 0)
        return RK_KEYS_ECRYPTO;
    return RK_KEYS_OK;
}

rk_keys_err rk_pubkey_parse(const char *text, const char *label, rk_pubkey_t *out, char *why, size_t why_len)
{
    char version[16], name[RK_ID_MAX + 1], b64[B64_LEN(RK_KEY_LEN) + 8];
    char z85[KEY_FILE_MAX]; /* any length, so an overlong line is refused, not ignored */
    uint8_t sign_pk[RK_KEY_LEN], curve[RK_KEY_LEN];

    memset(out, 0, sizeof *out);
    if (sodium_init() < 0)
        return RK_KEYS_ECRYPTO;
    if (!text_fits(text, label, why, why_len))
        return RK_KEYS_EFORMAT;
    if (!field(text, "renkei-public-key", version, sizeof version) || strcmp(version, "1") != 0) {
        rk_why(why, why_len, "%s is not a Renkei public key file (no 'renkei-public-key: 1' line)", label);
        return RK_KEYS_EFORMAT;
    }
    if (!field(text, "name", name, sizeof name) || !valid_key_name(name)) {
        rk_why(why, why_len, "%s: missing or invalid 'name' line", label);
        return RK_KEYS_EFORMAT;
    }
    if (!field(text, "sign", b64, sizeof b64) || !b64_exact(b64, sign_pk, sizeof sign_pk)) {
        rk_why(why, why_len, "%s: missing or invalid 'sign' line (base64 of 32 bytes)", label);
        return RK_KEYS_EFORMAT;
    }
    if (rk_pubkey_from_sign(name, sign_pk, out) != RK_KEYS_OK) {
        rk_why(why, why_len, "%s: the 'sign' key is not a valid Ed25519 public key", label);
        return RK_KEYS_ECRYPTO;
    }
    if (field(text, "curve", z85, sizeof z85)) {
        if (strlen(z85) != RK_Z85_LEN || zmq_z85_decode(curve, z85) == NULL ||
            sodium_memcmp(curve, out->curve_pk, RK_KEY_LEN) != 0) {
            rk_why(why, why_len, "%s: the 'curve' line does not match the 'sign' key", label);
            memset(out, 0, sizeof *out);
            return RK_KEYS_EFORMAT;
        }
    }
    return RK_KEYS_OK;
}

rk_keys_err rk_pubkey_load(const char *path, rk_pubkey_t *out, char *why, size_t why_len)
{
    char text[KEY_FILE_MAX];
    rk_keys_err err;
    int fd;

    memset(out, 0, sizeof *out);
    if (sodium_init() < 0)
        return RK_KEYS_ECRYPTO;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rk_why(why, why_len, "cannot open public key file %s: %s", path, strerror(errno));
        return RK_KEYS_EIO;
    }
    err = slurp(path, fd, text, sizeof text, why, why_len);
    close(fd);
    if (err != RK_KEYS_OK)
        return err;
    return rk_pubkey_parse(text, path, out, why, why_len);
}

rk_keys_err rk_master_generate_file(const char *path, char *why, size_t why_len)
{
    uint8_t key[32];
    char b64[B64_LEN(32)];
    char text[256];
    rk_keys_err err;

    if (sodium_init() < 0)
        return RK_KEYS_ECRYPTO;
    randombytes_buf(key, sizeof key);
    sodium_bin2base64(b64, sizeof b64, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof text,
             "# Renkei hub master key.  Without it the hub's ID-code table links nobody.\n"
             "# Keep it apart from the hub's data directory and back it up offline.\n"
             "renkei-master-key: 1\nkey: %s\n",
             b64);
    err = write_new(path, text, 0600, why, why_len);
    sodium_memzero(key, sizeof key);
    sodium_memzero(b64, sizeof b64);
    sodium_memzero(text, sizeof text);
    return err;
}

rk_keys_err rk_master_parse(const char *text, const char *label, uint8_t **key, char *why, size_t why_len)
{
    char version[16], b64[B64_LEN(32) + 8];
    uint8_t *k = NULL;
    rk_keys_err err = RK_KEYS_EFORMAT;

    *key = NULL;
    memset(b64, 0, sizeof b64);
    if (sodium_init() < 0)
        return RK_KEYS_ECRYPTO;
    if (!text_fits(text, label, why, why_len))
        return RK_KEYS_EFORMAT;
    k = sodium_malloc(32);
    if (k == NULL)
        return RK_KEYS_ENOMEM;
    if (!field(text, "renkei-master-key", version, sizeof version) || strcmp(version, "1") != 0) {
        rk_why(why, why_len, "%s is not a Renkei master key file (no 'renkei-master-key: 1' line)", label);
        goto done;
    }
    if (!field(text, "key", b64, sizeof b64) || !b64_exact(b64, k, 32)) {
        rk_why(why, why_len, "%s: missing or invalid 'key' line (base64 of 32 bytes)", label);
        goto done;
    }
    err = RK_KEYS_OK;
    *key = k;
    k = NULL;
done:
    sodium_memzero(b64, sizeof b64);
    if (k != NULL)
        sodium_free(k);
    return err;
}

rk_keys_err rk_master_load(const char *path, uint8_t **key, char *why, size_t why_len)
{
    char *text = NULL;
    rk_keys_err err;

    *key = NULL;
    if (sodium_init() < 0)
        return RK_KEYS_ECRYPTO;
    if ((err = read_secret(path, &text, why, why_len)) != RK_KEYS_OK)
        return err;
    err = rk_master_parse(text, path, key, why, why_len);
    sodium_free(text);
    return err;
}

void rk_master_destroy(uint8_t **key)
{
    if (key == NULL || *key == NULL)
        return;
    sodium_free(*key);
    *key = NULL;
}

void rk_log_origin_default(const uint8_t sign_pk[RK_KEY_LEN], char out[RK_LOG_ORIGIN_LEN])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    char hex[9];

    crypto_hash_sha256(h, sign_pk, RK_KEY_LEN);
    sodium_bin2hex(hex, sizeof hex, h, 4);
    snprintf(out, RK_LOG_ORIGIN_LEN, "renkei-hub/%s", hex);
}
