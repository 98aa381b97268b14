/*
 * test_keys.c - key files (keys/keys.c) and the renkei-keygen program.
 *
 * Every test works in its own fresh directory from mkdtemp and removes it.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "keys.h"

extern char **environ;

/* ------------------------------------------------------------------ helpers */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int dir_setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = malloc(4096);
    if (dir == NULL)
        return -1;
    snprintf(dir, 4096, "%s/renkei-test-keys-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static int dir_teardown(void **state)
{
    char *dir = *state;
    if (dir != NULL)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static const char *path_in(void **state, char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", (const char *)*state, name);
    return buf;
}

static void write_file(const char *path, mode_t mode, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "r");
    size_t n;
    assert_non_null(fp);
    n = fread(buf, 1, cap - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return n;
}

static mode_t file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Replaces the line starting with `key:` in text by `key: value`. */
static void replace_line(char *text, size_t cap, const char *key, const char *value)
{
    char out[4096];
    char *line = text, *o = out;
    size_t kl = strlen(key);
    bool done = false;
    while (*line != '\0') {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            o += sprintf(o, "%s: %s\n", key, value);
            done = true;
        } else {
            memcpy(o, line, len);
            o += len;
        }
        line += len;
    }
    *o = '\0';
    assert_true(done);
    assert_true(strlen(out) < cap);
    strcpy(text, out);
}

/* ------------------------------------------------------------ identities */

static void test_generate_save_load_roundtrip(void **state)
{
    char prefix[4096], key[4096], pub[4096], why[512] = "";
    rk_identity_t *id = rk_identity_generate("city.x"), *back = NULL;
    rk_pubkey_t p;

    assert_non_null(id);
    assert_string_equal(id->pub.name, "city.x");
    path_in(state, prefix, sizeof prefix, "city.x");
    path_in(state, key, sizeof key, "city.x.key");
    path_in(state, pub, sizeof pub, "city.x.pub");

    if (rk_identity_save(id, prefix, why, sizeof why) != RK_KEYS_OK)
        fail_msg("save failed: %s", why);
    assert_true(exists(key));
    assert_true(exists(pub));

    if (rk_identity_load(key, &back, why, sizeof why) != RK_KEYS_OK)
        fail_msg("load failed: %s", why);
    assert_non_null(back);
    assert_string_equal(back->pub.name, "city.x");
    assert_memory_equal(back->pub.sign_pk, id->pub.sign_pk, RK_KEY_LEN);
    assert_memory_equal(back->pub.curve_pk, id->pub.curve_pk, RK_KEY_LEN);
    assert_memory_equal(back->sign_sk, id->sign_sk, 64);
    assert_memory_equal(back->curve_sk, id->curve_sk, RK_KEY_LEN);

    if (rk_pubkey_load(pub, &p, why, sizeof why) != RK_KEYS_OK)
        fail_msg("pub load failed: %s", why);
    assert_string_equal(p.name, "city.x");
    assert_memory_equal(p.sign_pk, id->pub.sign_pk, RK_KEY_LEN);
    assert_memory_equal(p.curve_pk, id->pub.curve_pk, RK_KEY_LEN);

    rk_identity_destroy(&back);
    assert_null(back);
    rk_identity_destroy(&back); /* NULL is accepted */
    rk_identity_destroy(NULL);
    rk_identity_destroy(&id);
}

static void test_two_identities_differ(void **state)
{
    rk_identity_t *a = rk_identity_generate("city.x");
    rk_identity_t *b = rk_identity_generate("city.x");
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_memory_not_equal(a->sign_sk, b->sign_sk, 64);
    assert_memory_not_equal(a->pub.curve_pk, b->pub.curve_pk, RK_KEY_LEN);
    rk_identity_destroy(&a);
    rk_identity_destroy(&b);
}

static void test_generate_refuses_bad_names(void **state)
{
    (void)state;
    assert_null(rk_identity_generate("City.X"));
    assert_null(rk_identity_generate(""));
    assert_null(rk_identity_generate("city x"));
    assert_null(rk_identity_generate(NULL));
}

static void test_key_file_modes(void **state)
{
    char prefix[4096], key[4096], pub[4096], why[512] = "";
    rk_identity_t *id = rk_identity_generate("power");
    mode_t old = umask(0); /* even a careless umask must not widen the secret */

    assert_non_null(id);
    path_in(state, prefix, sizeof prefix, "power");
    path_in(state, key, sizeof key, "power.key");
    path_in(state, pub, sizeof pub, "power.pub");
    if (rk_identity_save(id, prefix, why, sizeof why) != RK_KEYS_OK) {
        umask(old);
        fail_msg("save failed: %s", why);
    }
    umask(old);
    assert_int_equal(file_mode(key), 0600);
    assert_int_equal(file_mode(pub), 0644);
    rk_identity_destroy(&id);
}

static void expect_perm_refused(const char *path, mode_t mode)
{
    char why[512] = "";
    rk_identity_t *id = (rk_identity_t *)&why; /* must be reset to NULL */
    assert_int_equal(chmod(path, mode), 0);
    assert_int_equal(rk_identity_load(path, &id, why, sizeof why), RK_KEYS_EPERM);
    assert_null(id);
    if (strstr(why, "chmod 600") == NULL)
        fail_msg("mode %04o: message does not tell how to fix it: %s", (unsigned)mode, why);
}

static void test_load_refuses_open_modes(void **state)
{
    char prefix[4096], key[4096], why[512] = "";
    rk_identity_t *id = rk_identity_generate("city.x"), *back = NULL;

    assert_non_null(id);
    path_in(state, prefix, sizeof prefix, "city.x");
    path_in(state, key, sizeof key, "city.x.key");
    assert_int_equal(rk_identity_save(id, prefix, why, sizeof why), RK_KEYS_OK);

    expect_perm_refused(key, 0640);
    expect_perm_refused(key, 0604);
    expect_perm_refused(key, 0660);
    expect_perm_refused(key, 0644);
    expect_perm_refused(key, 0602);

    /* Back to 0600 (and the stricter 0400): loads again. */
    assert_int_equal(chmod(key, 0400), 0);
    assert_int_equal(rk_identity_load(key, &back, why, sizeof why), RK_KEYS_OK);
    rk_identity_destroy(&back);
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(rk_identity_load(key, &back, why, sizeof why), RK_KEYS_OK);
    rk_identity_destroy(&back);
    rk_identity_destroy(&id);
}

static void test_save_refuses_overwrite(void **state)
{
    char prefix[4096], key[4096], pub[4096], why[512] = "";
    char before[4096], after[4096];
    rk_identity_t *a = rk_identity_generate("city.x");
    rk_identity_t *b = rk_identity_generate("city.x");
    rk_identity_t *back = NULL;

    assert_non_null(a);
    assert_non_null(b);
    path_in(state, prefix, sizeof prefix, "city.x");
    path_in(state, key, sizeof key, "city.x.key");
    path_in(state, pub, sizeof pub, "city.x.pub");
    assert_int_equal(rk_identity_save(a, prefix, why, sizeof why), RK_KEYS_OK);
    read_file(key, before, sizeof before);

    why[0] = '\0';
    assert_int_equal(rk_identity_save(b, prefix, why, sizeof why), RK_KEYS_EEXIST);
    assert_non_null(strstr(why, "already exists"));
    read_file(key, after, sizeof after);
    assert_string_equal(before, after);
    assert_int_equal(rk_identity_load(key, &back, why, sizeof why), RK_KEYS_OK);
    assert_memory_equal(back->sign_sk, a->sign_sk, 64);
    rk_identity_destroy(&back);

    /* Only the .pub exists: refused, and no .key is left behind. */
    assert_int_equal(unlink(key), 0);
    assert_int_equal(rk_identity_save(b, prefix, why, sizeof why), RK_KEYS_EEXIST);
    assert_false(exists(key));

    /* Only the .key exists: refused, and the .key is untouched. */
    assert_int_equal(unlink(pub), 0);
    write_file(key, 0600, before, strlen(before));
    assert_int_equal(rk_identity_save(b, prefix, why, sizeof why), RK_KEYS_EEXIST);
    assert_false(exists(pub));
    read_file(key, after, sizeof after);
    assert_string_equal(before, after);

    rk_identity_destroy(&a);
    rk_identity_destroy(&b);
}

static void test_save_into_missing_dir_fails_cleanly(void **state)
{
    char prefix[4096], why[512] = "";
    rk_identity_t *id = rk_identity_generate("city.x");
    assert_non_null(id);
    path_in(state, prefix, sizeof prefix, "no-such-dir/city.x");
    assert_int_equal(rk_identity_save(id, prefix, why, sizeof why), RK_KEYS_EIO);
    assert_non_null(strstr(why, "no-such-dir"));
    rk_identity_destroy(&id);
}

static void test_x25519_keys_consistent(void **state)
{
    rk_identity_t *a = rk_identity_generate("city.x");
    rk_identity_t *b = rk_identity_generate("power");
    uint8_t derived[RK_KEY_LEN], nonce[crypto_box_NONCEBYTES];
    uint8_t c[crypto_box_MACBYTES + 5], m[5];
    rk_pubkey_t p;
    (void)state;

    assert_non_null(a);
    assert_non_null(b);
    /* curve_pk is the public half of curve_sk. */
    assert_int_equal(crypto_scalarmult_base(derived, a->curve_sk), 0);
    assert_memory_equal(derived, a->pub.curve_pk, RK_KEY_LEN);
    /* ... and what anyone derives from the published sign key. */
    assert_int_equal(rk_pubkey_from_sign("city.x", a->pub.sign_pk, &p), RK_KEYS_OK);
    assert_memory_equal(p.curve_pk, a->pub.curve_pk, RK_KEY_LEN);
    /* ... and the sign pair is the Ed25519 pair (sk = seed || pk). */
    assert_memory_equal(a->sign_sk + 32, a->pub.sign_pk, 32);

    /* A box from a to b opens with b's secret and a's public key. */
    randombytes_buf(nonce, sizeof nonce);
    assert_int_equal(crypto_box_easy(c, (const uint8_t *)"hello", 5, nonce, b->pub.curve_pk, a->curve_sk), 0);
    assert_int_equal(crypto_box_open_easy(m, c, sizeof c, nonce, a->pub.curve_pk, b->curve_sk), 0);
    assert_memory_equal(m, "hello", 5);

    rk_identity_destroy(&a);
    rk_identity_destroy(&b);
}

/* ------------------------------------------------------------ public files */

static void test_pub_curve_line_checked(void **state)
{
    char prefix[4096], pub[4096], other_prefix[4096], other_pub[4096], why[512] = "";
    char text[4096], other_text[4096], *curve;
    rk_identity_t *a = rk_identity_generate("city.x");
    rk_identity_t *b = rk_identity_generate("power");
    rk_pubkey_t p;

    assert_non_null(a);
    assert_non_null(b);
    path_in(state, prefix, sizeof prefix, "city.x");
    path_in(state, pub, sizeof pub, "city.x.pub");
    path_in(state, other_prefix, sizeof other_prefix, "power");
    path_in(state, other_pub, sizeof other_pub, "power.pub");
    assert_int_equal(rk_identity_save(a, prefix, why, sizeof why), RK_KEYS_OK);
    assert_int_equal(rk_identity_save(b, other_prefix, why, sizeof why), RK_KEYS_OK);

    /* city.x's file with power's curve key: refused. */
    read_file(other_pub, other_text, sizeof other_text);
    curve = strstr(other_text, "curve: ");
    assert_non_null(curve);
    curve += 7;
    curve[RK_Z85_LEN] = '\0';
    read_file(pub, text, sizeof text);
    replace_line(text, sizeof text, "curve", curve);
    write_file(pub, 0644, text, strlen(text));
    memset(&p, 0x5a, sizeof p);
    why[0] = '\0';
    assert_int_equal(rk_pubkey_load(pub, &p, why, sizeof why), RK_KEYS_EFORMAT);
    assert_non_null(strstr(why, "curve"));
    assert_string_equal(p.name, ""); /* nothing half-loaded */

    /* A curve line that is not Z85 of 32 bytes: refused. */
    replace_line(text, sizeof text, "curve", "short");
    write_file(pub, 0644, text, strlen(text));
    assert_int_equal(rk_pubkey_load(pub, &p, why, sizeof why), RK_KEYS_EFORMAT);

    rk_identity_destroy(&a);
    rk_identity_destroy(&b);
}

/* A curve line too long to be a key is as wrong as a mismatching one: the
 * file was damaged or edited by hand, and must not load. */
static void test_pub_overlong_curve_line_refused(void **state)
{
    char prefix[4096], pub[4096], why[512] = "", text[4096];
    rk_identity_t *a = rk_identity_generate("city.x");
    rk_pubkey_t p;
    rk_keys_err err;

    assert_non_null(a);
    path_in(state, prefix, sizeof prefix, "city.x");
    path_in(state, pub, sizeof pub, "city.x.pub");
    assert_int_equal(rk_identity_save(a, prefix, why, sizeof why), RK_KEYS_OK);
    read_file(pub, text, sizeof text);
    replace_line(text, sizeof text, "curve",
                 "0000000000111111111122222222223333333333444444444455555555556666666666");
    write_file(pub, 0644, text, strlen(text));
    err = rk_pubkey_load(pub, &p, why, sizeof why);
    /* An overlong curve line must be refused, not read as "no curve line". */
    if (err != RK_KEYS_EFORMAT)
        fail_msg("a .pub with a 70-character curve line was not refused (got '%s'); "
                 "keys.c must not treat an over-long curve line as absent",
                 rk_keys_strerror(err));
    rk_identity_destroy(&a);
}

static void test_pub_without_curve_line_derives_it(void **state)
{
    char path[4096], why[512] = "", b64[64], text[512];
    rk_identity_t *a = rk_identity_generate("gas");
    rk_pubkey_t p;

    assert_non_null(a);
    sodium_bin2base64(b64, sizeof b64, a->pub.sign_pk, RK_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof text, "# hand-written\nrenkei-public-key: 1\nname: gas\nsign: %s\n", b64);
    path_in(state, path, sizeof path, "gas.pub");
    write_file(path, 0644, text, strlen(text));
    if (rk_pubkey_load(path, &p, why, sizeof why) != RK_KEYS_OK)
        fail_msg("load failed: %s", why);
    assert_memory_equal(p.curve_pk, a->pub.curve_pk, RK_KEY_LEN);
    assert_string_equal(p.name, "gas");
    rk_identity_destroy(&a);
}

/* ------------------------------------------------------------ garbage files */

static void expect_secret_format_error(void **state, const char *name, const void *data, size_t len)
{
    char path[4096], why[512] = "";
    rk_identity_t *id = NULL;
    rk_keys_err err;
    path_in(state, path, sizeof path, name);
    write_file(path, 0600, data, len);
    err = rk_identity_load(path, &id, why, sizeof why);
    if (err != RK_KEYS_EFORMAT)
        fail_msg("%s: got '%s', want EFORMAT (%s)", name, rk_keys_strerror(err), why);
    assert_null(id);
    assert_true(strlen(why) > 0);
    assert_non_null(strstr(why, name)); /* the message names the file */
}

static void expect_pub_format_error(void **state, const char *name, const char *text)
{
    char path[4096], why[512] = "";
    rk_pubkey_t p;
    rk_keys_err err;
    path_in(state, path, sizeof path, name);
    write_file(path, 0644, text, strlen(text));
    err = rk_pubkey_load(path, &p, why, sizeof why);
    if (err != RK_KEYS_EFORMAT)
        fail_msg("%s: got '%s', want EFORMAT (%s)", name, rk_keys_strerror(err), why);
    assert_true(strlen(why) > 0);
}

static void test_garbage_files_refused(void **state)
{
    uint8_t noise[300];
    char big[5000];
    char ok_seed[64], short_seed[64], text[512];
    uint8_t seed[32];

    randombytes_buf(noise, sizeof noise);
    noise[0] = 0xff; /* never starts a valid line */
    expect_secret_format_error(state, "noise.key", noise, sizeof noise);
    expect_secret_format_error(state, "empty.key", "", 0);
    {
        static const char pub_text[] = "renkei-public-key: 1\nname: city.x\nsign: AAAA\n";
        expect_secret_format_error(state, "pub-as-secret.key", pub_text, strlen(pub_text));
    }
    {
        static const char v2[] = "renkei-secret-key: 2\nname: city.x\nseed: AAAA\n";
        expect_secret_format_error(state, "v2.key", v2, strlen(v2));
    }

    randombytes_buf(seed, sizeof seed);
    sodium_bin2base64(ok_seed, sizeof ok_seed, seed, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(short_seed, sizeof short_seed, seed, 31, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof text, "renkei-secret-key: 1\nname: city.x\nseed: %s\n", short_seed);
    expect_secret_format_error(state, "short-seed.key", text, strlen(text));
    snprintf(text, sizeof text, "renkei-secret-key: 1\nname: city.x\nseed: %s!!\n", ok_seed);
    expect_secret_format_error(state, "bad-b64.key", text, strlen(text));
    snprintf(text, sizeof text, "renkei-secret-key: 1\nname: City X\nseed: %s\n", ok_seed);
    expect_secret_format_error(state, "bad-name.key", text, strlen(text));
    snprintf(text, sizeof text, "renkei-secret-key: 1\nseed: %s\n", ok_seed);
    expect_secret_format_error(state, "no-name.key", text, strlen(text));
    snprintf(text, sizeof text, "renkei-secret-key: 1\nname: city.x\n");
    expect_secret_format_error(state, "no-seed.key", text, strlen(text));
    memset(big, 'x', sizeof big);
    expect_secret_format_error(state, "huge.key", big, sizeof big);
    /* Bytes above 0x7f are no base64 digits, even where libsodium's decoder
     * would read them as some (the seed would silently change). */
    snprintf(text, sizeof text, "renkei-secret-key: 1\nname: city.x\nseed: \xc3\xa9%s\n", ok_seed + 2);
    expect_secret_format_error(state, "non-ascii-seed.key", text, strlen(text));

    /* The same seed in a well-formed file loads (so the cases above fail
     * for the reason they name). */
    {
        char path[4096], why[512] = "";
        rk_identity_t *id = NULL;
        snprintf(text, sizeof text, "# comment\nrenkei-secret-key: 1\nname: city.x\nseed: %s\n", ok_seed);
        path_in(state, path, sizeof path, "good.key");
        write_file(path, 0600, text, strlen(text));
        if (rk_identity_load(path, &id, why, sizeof why) != RK_KEYS_OK)
            fail_msg("well-formed key refused: %s", why);
        rk_identity_destroy(&id);
    }

    expect_pub_format_error(state, "noise.pub", "\xff\xfe garbage\n");
    expect_pub_format_error(state, "empty.pub", "");
    expect_pub_format_error(state, "secret-as-pub.pub",
                            "renkei-secret-key: 1\nname: city.x\nseed: AAAA\n");
    expect_pub_format_error(state, "bad-sign.pub", "renkei-public-key: 1\nname: city.x\nsign: AAAA\n");
    expect_pub_format_error(state, "no-sign.pub", "renkei-public-key: 1\nname: city.x\n");
}

static void test_missing_files(void **state)
{
    char path[4096], why[512] = "";
    rk_identity_t *id = NULL;
    rk_pubkey_t p;
    uint8_t *mk = NULL;
    path_in(state, path, sizeof path, "absent.key");
    assert_int_equal(rk_identity_load(path, &id, why, sizeof why), RK_KEYS_EIO);
    assert_non_null(strstr(why, "absent.key"));
    assert_int_equal(rk_pubkey_load(path, &p, why, sizeof why), RK_KEYS_EIO);
    assert_int_equal(rk_master_load(path, &mk, why, sizeof why), RK_KEYS_EIO);
    assert_null(mk);
}

/* ------------------------------------------------------------- master keys */

static void test_master_generate_load(void **state)
{
    char a[4096], b[4096], why[512] = "";
    uint8_t *ka = NULL, *kb = NULL;
    static const uint8_t zero[32] = {0};

    path_in(state, a, sizeof a, "master-a.key");
    path_in(state, b, sizeof b, "master-b.key");
    if (rk_master_generate_file(a, why, sizeof why) != RK_KEYS_OK)
        fail_msg("generate failed: %s", why);
    assert_int_equal(rk_master_generate_file(b, why, sizeof why), RK_KEYS_OK);
    assert_int_equal(file_mode(a), 0600);

    assert_int_equal(rk_master_load(a, &ka, why, sizeof why), RK_KEYS_OK);
    assert_int_equal(rk_master_load(b, &kb, why, sizeof why), RK_KEYS_OK);
    assert_non_null(ka);
    assert_non_null(kb);
    assert_memory_not_equal(ka, kb, 32);
    assert_memory_not_equal(ka, zero, 32);
    rk_master_destroy(&kb);
    assert_null(kb);
    rk_master_destroy(&kb);
    rk_master_destroy(NULL);

    /* Loading twice gives the same key. */
    assert_int_equal(rk_master_load(a, &kb, why, sizeof why), RK_KEYS_OK);
    assert_memory_equal(ka, kb, 32);
    rk_master_destroy(&kb);

    /* Never overwritten. */
    assert_int_equal(rk_master_generate_file(a, why, sizeof why), RK_KEYS_EEXIST);
    assert_int_equal(rk_master_load(a, &kb, why, sizeof why), RK_KEYS_OK);
    assert_memory_equal(ka, kb, 32);
    rk_master_destroy(&kb);

    /* Readable by others: refused with the fix in the message. */
    assert_int_equal(chmod(a, 0640), 0);
    assert_int_equal(rk_master_load(a, &kb, why, sizeof why), RK_KEYS_EPERM);
    assert_null(kb);
    assert_non_null(strstr(why, "chmod 600"));

    rk_master_destroy(&ka);
}

static void test_master_garbage_refused(void **state)
{
    char path[4096], why[512] = "";
    uint8_t *k = NULL;
    static const char *bad[] = {
        "",
        "renkei-master-key: 1\n",
        "renkei-master-key: 1\nkey: AAAA\n",
        "renkei-master-key: 2\nkey: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "renkei-secret-key: 1\nname: hub\nseed: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    };
    path_in(state, path, sizeof path, "master.key");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, 0600, bad[i], strlen(bad[i]));
        if (rk_master_load(path, &k, why, sizeof why) != RK_KEYS_EFORMAT)
            fail_msg("case %zu accepted or wrong error: %s", i, why);
        assert_null(k);
    }
    /* The well-formed variant of the last-but-one case loads. */
    {
        static const char good[] = "renkei-master-key: 1\nkey: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        write_file(path, 0600, good, strlen(good));
    }
    assert_int_equal(rk_master_load(path, &k, why, sizeof why), RK_KEYS_OK);
    rk_master_destroy(&k);
}

static void test_keys_strerror(void **state)
{
    (void)state;
    for (int e = RK_KEYS_OK; e <= RK_KEYS_ENAME; e++) {
        assert_string_not_equal(rk_keys_strerror((rk_keys_err)e), "unknown key error");
        for (int o = 0; o < e; o++)
            assert_string_not_equal(rk_keys_strerror((rk_keys_err)e), rk_keys_strerror((rk_keys_err)o));
    }
}

/* -------------------------------------------------------- renkei-keygen */

/* Runs bin_dir/renkei-keygen with args; stdout and stderr go to files in the
 * test directory and are read into out/err.  Returns the exit status. */
static int run_keygen(void **state, const char *const *args, char *out, size_t out_len, char *err,
                      size_t err_len)
{
    const char *bin_dir = getenv("RENKEI_BIN_DIR");
    char prog[4096], out_path[4096], err_path[4096];
    char *argv[16];
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = 0, n = 0;

    if (bin_dir == NULL)
        fail_msg("RENKEI_BIN_DIR is not set: run this test through ctest");
    snprintf(prog, sizeof prog, "%s/renkei-keygen", bin_dir);
    path_in(state, out_path, sizeof out_path, "keygen.out");
    path_in(state, err_path, sizeof err_path, "keygen.err");
    argv[n++] = prog;
    for (; args[n - 1] != NULL && n < 15; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;

    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
    if (posix_spawn(&pid, prog, &fa, NULL, argv, environ) != 0)
        fail_msg("cannot run %s", prog);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    read_file(out_path, out, out_len);
    read_file(err_path, err, err_len);
    unlink(out_path);
    unlink(err_path);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_keygen_help(void **state)
{
    char out[4096], err[4096];
    const char *args[] = {"--help", NULL};
    assert_int_equal(run_keygen(state, args, out, sizeof out, err, sizeof err), 0);
    assert_non_null(strstr(out, "usage: renkei-keygen"));
    assert_non_null(strstr(out, "--master"));
}

static void test_keygen_bad_usage(void **state)
{
    char out[4096], err[4096];
    const char *bad_name[] = {"City X", NULL};
    const char *none[] = {NULL};
    const char *two[] = {"city.x", "power", NULL};
    const char *bad_opt[] = {"--frobnicate", "city.x", NULL};

    assert_int_equal(run_keygen(state, bad_name, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "not a valid name"));
    assert_int_equal(run_keygen(state, none, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "usage"));
    assert_int_equal(run_keygen(state, two, out, sizeof out, err, sizeof err), 2);
    assert_int_equal(run_keygen(state, bad_opt, out, sizeof out, err, sizeof err), 2);
}

static void test_keygen_writes_loadable_keys(void **state)
{
    char out[4096], err[4096], key[4096], pub[4096], master[4096], why[512] = "";
    const char *args[] = {"-o", (const char *)*state, "town.y", NULL};
    const char *again[] = {"-o", (const char *)*state, "town.y", NULL};
    const char *margs[] = {"--master-key", master, NULL};
    rk_identity_t *id = NULL;
    rk_pubkey_t p;
    uint8_t *mk = NULL;

    path_in(state, key, sizeof key, "town.y.key");
    path_in(state, pub, sizeof pub, "town.y.pub");
    path_in(state, master, sizeof master, "master.key");

    assert_int_equal(run_keygen(state, args, out, sizeof out, err, sizeof err), 0);
    assert_int_equal(file_mode(key), 0600);
    if (rk_identity_load(key, &id, why, sizeof why) != RK_KEYS_OK)
        fail_msg("keygen's key does not load: %s", why);
    assert_string_equal(id->pub.name, "town.y");
    assert_int_equal(rk_pubkey_load(pub, &p, why, sizeof why), RK_KEYS_OK);
    assert_memory_equal(p.sign_pk, id->pub.sign_pk, RK_KEY_LEN);
    assert_memory_equal(p.curve_pk, id->pub.curve_pk, RK_KEY_LEN);

    /* Running it again refuses and keeps the first key. */
    assert_int_equal(run_keygen(state, again, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "already exists"));
    {
        rk_identity_t *still = NULL;
        assert_int_equal(rk_identity_load(key, &still, why, sizeof why), RK_KEYS_OK);
        assert_memory_equal(still->sign_sk, id->sign_sk, 64);
        rk_identity_destroy(&still);
    }

    assert_int_equal(run_keygen(state, margs, out, sizeof out, err, sizeof err), 0);
    assert_int_equal(file_mode(master), 0600);
    assert_int_equal(rk_master_load(master, &mk, why, sizeof why), RK_KEYS_OK);
    rk_master_destroy(&mk);
    assert_int_equal(run_keygen(state, margs, out, sizeof out, err, sizeof err), 1);

    rk_identity_destroy(&id);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, dir_setup, dir_teardown)

/* The fenced block of proto/README.md whose first line is `first`
 * (malloc'd, without the fences), or NULL. */
static char *doc_block(const char *doc, const char *first)
{
    char start[256];
    const char *b, *e;
    char *out;

    snprintf(start, sizeof start, "```\n%s", first);
    b = strstr(doc, start);
    if (b == NULL)
        return NULL;
    b += 4;
    e = strstr(b, "```");
    if (e == NULL)
        return NULL;
    out = strndup(b, (size_t)(e - b));
    return out;
}

/* proto/README.md documents the key files and the derivation well enough
 * for a client in another language: its example files are what this
 * implementation reads, and the libsodium calls it names give the keys. */
static void test_documented_key_files(void **state)
{
    const char *src = getenv("RENKEI_SOURCE_DIR");
    char path[4096], why[256];
    char *doc = NULL, *sec, *pub;
    FILE *f;
    long n;
    rk_identity_t *id = NULL;
    rk_pubkey_t pk;
    uint8_t seed[32], ed_pk[32], ed_sk[64], x_pk[32], x_sk[32], x_pk2[32];
    size_t got = 0;
    (void)state;

    assert_non_null(src);
    snprintf(path, sizeof path, "%s/proto/README.md", src);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    doc = calloc(1, (size_t)n + 1);
    assert_non_null(doc);
    assert_int_equal(fread(doc, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    sec = doc_block(doc, "# Renkei secret key of 'city.x'.");
    pub = doc_block(doc, "# Renkei public key of 'city.x'.");
    if (sec == NULL || pub == NULL)
        fail_msg("proto/README.md has no example key files for city.x");
    if (rk_identity_parse(sec, "the secret key example", &id, why, sizeof why) != RK_KEYS_OK)
        fail_msg("%s", why);
    if (rk_pubkey_parse(pub, "the public key example", &pk, why, sizeof why) != RK_KEYS_OK)
        fail_msg("%s", why);
    assert_string_equal(id->pub.name, "city.x");
    assert_string_equal(pk.name, "city.x");
    assert_memory_equal(id->pub.sign_pk, pk.sign_pk, 32);

    /* The derivation as documented, from the seed line alone. */
    {
        const char *line = strstr(sec, "seed: ");
        const char *end;
        assert_non_null(line);
        line += 6;
        end = strchr(line, '\n');
        assert_non_null(end);
        assert_int_equal(sodium_base642bin(seed, sizeof seed, line, (size_t)(end - line), NULL, &got, NULL,
                                           sodium_base64_VARIANT_ORIGINAL),
                         0);
        assert_int_equal(got, 32);
    }
    assert_int_equal(crypto_sign_seed_keypair(ed_pk, ed_sk, seed), 0);
    assert_memory_equal(ed_pk, pk.sign_pk, 32);
    assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(x_sk, ed_sk), 0);
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_pk), 0);
    assert_memory_equal(x_sk, id->curve_sk, 32);
    assert_memory_equal(x_pk, pk.curve_pk, 32);
    assert_int_equal(crypto_scalarmult_base(x_pk2, x_sk), 0);
    assert_memory_equal(x_pk2, x_pk, 32);

    sodium_memzero(seed, sizeof seed);
    sodium_memzero(ed_sk, sizeof ed_sk);
    sodium_memzero(x_sk, sizeof x_sk);
    rk_identity_destroy(&id);
    free(sec);
    free(pub);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_generate_save_load_roundtrip),
        T(test_two_identities_differ),
        T(test_generate_refuses_bad_names),
        T(test_key_file_modes),
        T(test_load_refuses_open_modes),
        T(test_save_refuses_overwrite),
        T(test_save_into_missing_dir_fails_cleanly),
        T(test_x25519_keys_consistent),
        T(test_pub_curve_line_checked),
        T(test_pub_overlong_curve_line_refused),
        T(test_pub_without_curve_line_derives_it),
        T(test_garbage_files_refused),
        T(test_missing_files),
        T(test_master_generate_load),
        T(test_master_garbage_refused),
        T(test_keys_strerror),
        T(test_keygen_help),
        T(test_keygen_bad_usage),
        T(test_keygen_writes_loadable_keys),
        T(test_documented_key_files),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
