/*
 * witness.c - add-checkpoint checks, durable state and cosignatures.
 */
#include "witness.h"
#include "why.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define SIG_TYPE_COSIGNATURE_V1 0x04
#define B64 sodium_base64_VARIANT_ORIGINAL
#define EM_DASH_SP "\xe2\x80\x94 "
#define TYPE_TEXT "text/plain; charset=utf-8"
#define TYPE_SIZE "text/x.tlog.size"

typedef struct wlog {
    witness_log_cfg_t cfg;
    char file[4096];       /* the state file */
    tlog_checkpoint_t cp;  /* last cosigned; size 0 and the empty root if none */
} wlog_t;

struct witness {
    char name[TLOG_NAME_MAX + 1];
    uint8_t *sk; /* sodium_malloc'd, 64 bytes */
    uint8_t pk[32];
    char dir[4096];
    int lock_fd;
    pthread_mutex_t lock;
    wlog_t logs[WITNESS_MAX_LOGS];
    size_t n;
    uint64_t evidence_seq;
};

static bool valid_name(const char *s)
{
    size_t len = strnlen(s, TLOG_NAME_MAX + 1);
    if (len == 0 || len > TLOG_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '+')
            return false;
    }
    return true;
}

uint32_t witness_key_id(const char *name, const uint8_t pk[32])
{
    const uint8_t sep[2] = {0x0a, SIG_TYPE_COSIGNATURE_V1};
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, sizeof sep);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

bool witness_vkey_format(const char *name, const uint8_t pk[32], char *out, size_t cap)
{
    uint8_t key[33];
    char b64[sodium_base64_ENCODED_LEN(33, B64)];
    int w;

    if (cap > 0)
        out[0] = '\0';
    if (!valid_name(name))
        return false;
    key[0] = SIG_TYPE_COSIGNATURE_V1;
    memcpy(key + 1, pk, 32);
    sodium_bin2base64(b64, sizeof b64, key, sizeof key, B64);
    w = snprintf(out, cap, "%s+%08" PRIx32 "+%s", name, witness_key_id(name, pk), b64);
    if (w < 0 || (size_t)w >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return false;
    }
    return true;
}

/* --------------------------------------------------------------- the files */

static bool fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok;
    if (fd < 0)
        return false;
    ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

/* Writes data to path atomically and durably: PATH.tmp, fsync, rename, fsync of dir. */
static bool write_durably(const char *dir, const char *path, const char *const *parts, size_t nparts, char *why,
                          size_t why_len)
{
    char tmp[4200];
    int fd;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rk_why(why, why_len, "cannot create %s: %s", tmp, strerror(errno));
        return false;
    }
    for (size_t i = 0; i < nparts; i++) {
        size_t len = strlen(parts[i]), off = 0;
        while (off < len) {
            ssize_t k = write(fd, parts[i] + off, len - off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                rk_why(why, why_len, "cannot write %s: %s", tmp, strerror(errno));
                goto fail;
            }
            off += (size_t)k;
        }
    }
    if (fsync(fd) != 0) {
        rk_why(why, why_len, "cannot flush %s to disk: %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        rk_why(why, why_len, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    if (!fsync_dir(dir)) {
        rk_why(why, why_len, "cannot flush the directory %s to disk: %s", dir, strerror(errno));
        return false;
    }
    return true;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return false;
}

static char *slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rbe");
    char *buf;
    size_t n;

    if (f == NULL)
        return NULL;
    buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, max + 1, f);
    fclose(f);
    if (n > max) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void empty_root(uint8_t out[TLOG_HASH_LEN])
{
    crypto_hash_sha256(out, NULL, 0);
}

bool witness_open(const char *name, const uint8_t sk[64], const char *dir, const witness_log_cfg_t *logs,
                  size_t n, witness_t **out, char *why, size_t why_len)
{
    witness_t *w;
    char path[4200];

    *out = NULL;
    if (sodium_init() < 0) {
        rk_why(why, why_len, "libsodium could not be initialised");
        return false;
    }
    if (!valid_name(name)) {
        rk_why(why, why_len,
               "the witness name '%s' must be 1 to %d printable characters without spaces or '+' "
               "(e.g. witness.example.org/w1)",
               name, TLOG_NAME_MAX);
        return false;
    }
    if (n == 0 || n > WITNESS_MAX_LOGS) {
        rk_why(why, why_len, "a witness needs 1 to %d logs to witness (log = ORIGIN VKEY), not %zu",
               WITNESS_MAX_LOGS, n);
        return false;
    }
    if (strlen(dir) > 3800) {
        rk_why(why, why_len, "the state directory's path is too long");
        return false;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL || (w->sk = sodium_malloc(64)) == NULL) {
        free(w);
        rk_why(why, why_len, "out of memory");
        return false;
    }
    w->lock_fd = -1;
    pthread_mutex_init(&w->lock, NULL);
    snprintf(w->name, sizeof w->name, "%s", name);
    memcpy(w->sk, sk, 64);
    memcpy(w->pk, sk + 32, 32);
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rk_why(why, why_len, "cannot create the state directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    snprintf(path, sizeof path, "%s/evidence", dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        rk_why(why, why_len, "cannot create %s: %s", path, strerror(errno));
        goto fail;
    }
    snprintf(path, sizeof path, "%s/lock", dir);
    w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (w->lock_fd < 0 || flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rk_why(why, why_len, "cannot lock %s (%s): is another renkei-witness using this state directory?",
               path, strerror(errno));
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        wlog_t *l = &w->logs[i];
        uint8_t h[crypto_hash_sha256_BYTES];
        char hex[33], *text;
        size_t len = 0;
        char ywhy[256] = "";

        for (size_t j = 0; j < i; j++)
            if (strcmp(logs[j].origin, logs[i].origin) == 0) {
                rk_why(why, why_len, "the log %s is configured twice", logs[i].origin);
                goto fail;
            }
        l->cfg = logs[i];
        crypto_hash_sha256(h, (const uint8_t *)l->cfg.origin, strlen(l->cfg.origin));
        sodium_bin2hex(hex, sizeof hex, h, 16);
        snprintf(l->file, sizeof l->file, "%s/LOG-%s.checkpoint", dir, hex);
        empty_root(l->cp.root);
        text = slurp(l->file, TLOG_NOTE_MAX, &len);
        if (text == NULL) {
            if (errno == ENOENT)
                continue;
            rk_why(why, why_len, "cannot read %s: %s", l->file, strerror(errno));
            goto fail;
        }
        if (tlog_checkpoint_open(text, len, l->cfg.origin, l->cfg.key_name, l->cfg.pk, &l->cp, ywhy,
                                 sizeof ywhy) != TLOG_OK) {
            free(text);
            rk_why(why, why_len,
                   "the checkpoint this witness last cosigned for %s (%s) does not open with the "
                   "configured key: %s; a log's key is not changed under a running witness",
                   l->cfg.origin, l->file, ywhy);
            goto fail;
        }
        free(text);
    }
    w->n = n;
    *out = w;
    return true;
fail:
    witness_close(&w);
    return false;
}

void witness_close(witness_t **wp)
{
    witness_t *w;
    if (wp == NULL || *wp == NULL)
        return;
    w = *wp;
    sodium_free(w->sk);
    if (w->lock_fd >= 0)
        close(w->lock_fd);
    pthread_mutex_destroy(&w->lock);
    free(w);
    *wp = NULL;
}

static wlog_t *find_log(witness_t *w, const char *origin, size_t len)
{
    for (size_t i = 0; i < w->n; i++)
        if (strlen(w->logs[i].cfg.origin) == len && memcmp(w->logs[i].cfg.origin, origin, len) == 0)
            return &w->logs[i];
    return NULL;
}

int64_t witness_size(witness_t *w, const char *origin)
{
    wlog_t *l;
    int64_t s = -1;
    pthread_mutex_lock(&w->lock);
    l = find_log(w, origin, strlen(origin));
    if (l != NULL)
        s = (int64_t)l->cp.size;
    pthread_mutex_unlock(&w->lock);
    return s;
}

/* ------------------------------------------------------------ the request */

static unsigned say(char *out, const char **type, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static unsigned say(char *out, const char **type, unsigned code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, WITNESS_ANSWER_MAX, fmt, ap);
    va_end(ap);
    *type = TYPE_TEXT;
    return code;
}

/* Parses a canonical decimal s[0:len] (no leading zeros, fits in 63 bits). */
static bool parse_size(const char *s, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x > TLOG_MAX_SIZE)
        return false;
    *v = x;
    return true;
}

static bool parse_hash(const char *s, size_t len, uint8_t out[TLOG_HASH_LEN])
{
    size_t n = 0;
    const char *end = NULL;
    if (len != 44)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '/' || c == '='))
            return false;
    }
    return sodium_base642bin(out, TLOG_HASH_LEN, s, len, NULL, &n, &end, B64) == 0 && n == TLOG_HASH_LEN &&
           end == s + len;
}

/* Keeps a refused, log-signed checkpoint and what it contradicts in evidence/. */
static void keep_evidence(witness_t *w, wlog_t *l, const char *body, size_t len, const char *reason,
                          int64_t now)
{
    char path[4300], head[512], why[512] = "", *old = NULL, *req = NULL;
    size_t old_len = 0;
    const char *parts[6];

    req = malloc(len + 1);
    if (req == NULL)
        goto out;
    memcpy(req, body, len);
    req[len] = '\0';
    old = slurp(l->file, TLOG_NOTE_MAX, &old_len);
    snprintf(path, sizeof path, "%s/evidence/%" PRId64 "-%" PRIu64 "-%s", w->dir, now, ++w->evidence_seq,
             strrchr(l->file, '/') + 1);
    snprintf(head, sizeof head,
             "# renkei-witness evidence: log %s signed a checkpoint this witness refused to cosign\n"
             "# reason: %s\n# the checkpoint this witness had cosigned:\n",
             l->cfg.origin, reason);
    parts[0] = head;
    parts[1] = old != NULL ? old : "(none)\n";
    parts[2] = "# the add-checkpoint request refused (old size, proof, signed checkpoint):\n";
    parts[3] = req;
    if (!write_durably(w->dir, path, parts, 4, why, sizeof why)) {
        fprintf(stderr, "renkei-witness: refused an inconsistent checkpoint of %s but could not keep it: %s\n",
                l->cfg.origin, why);
        goto out;
    }
    fprintf(stderr,
            "renkei-witness: REFUSED a checkpoint of %s inconsistent with the one it cosigned at size %" PRIu64
            " (%s); kept as evidence in %s\n",
            l->cfg.origin, l->cp.size, reason, path);
out:
    free(req);
    free(old);
}

static unsigned cosign(witness_t *w, const char *note, size_t body_len, int64_t now, char *out, const char **type)
{
    char head[64];
    size_t hlen = (size_t)snprintf(head, sizeof head, "cosignature/v1\ntime %" PRId64 "\n", now);
    uint8_t *msg = malloc(hlen + body_len), sig[4 + 8 + 64];
    uint32_t id = witness_key_id(w->name, w->pk);
    char b64[sodium_base64_ENCODED_LEN(sizeof sig, B64)];

    if (msg == NULL)
        return say(out, type, 500, "out of memory\n");
    memcpy(msg, head, hlen);
    memcpy(msg + hlen, note, body_len);
    for (int i = 0; i < 4; i++)
        sig[i] = (uint8_t)(id >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        sig[4 + i] = (uint8_t)((uint64_t)now >> (56 - 8 * i));
    crypto_sign_detached(sig + 12, NULL, msg, hlen + body_len, w->sk);
    free(msg);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, B64);
    snprintf(out, WITNESS_ANSWER_MAX, EM_DASH_SP "%s %s\n", w->name, b64);
    *type = TYPE_TEXT;
    return 200;
}

unsigned witness_add_checkpoint(witness_t *w, const char *body, size_t len, int64_t now, char *out,
                                const char **type)
{
    const char *p = body, *end = body + len, *nl, *note, *text_end;
    uint8_t proof[TLOG_MAX_PATH * TLOG_HASH_LEN];
    size_t nproof = 0, note_len, body_len;
    uint64_t old;
    tlog_checkpoint_t cp;
    wlog_t *l;
    char why[512] = "";
    unsigned code;

    out[0] = '\0';
    if (now <= 0)
        return say(out, type, 500, "the witness's clock is before 1970\n");
    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL || nl - p < 5 || memcmp(p, "old ", 4) != 0 || !parse_size(p + 4, (size_t)(nl - p - 4), &old))
        return say(out, type, 400, "the request must start with \"old SIZE\" (decimal, no leading zeros)\n");
    p = nl + 1;
    for (;;) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return say(out, type, 400, "the proof must end with an empty line before the checkpoint\n");
        if (nl == p)
            break;
        if (nproof == 63)
            return say(out, type, 400, "more than 63 consistency proof lines\n");
        if (!parse_hash(p, (size_t)(nl - p), proof + nproof * TLOG_HASH_LEN))
            return say(out, type, 400, "consistency proof line %zu is not a base64 SHA-256 hash\n", nproof + 1);
        nproof++;
        p = nl + 1;
    }
    note = nl + 1;
    note_len = (size_t)(end - note);
    nl = memchr(note, '\n', note_len);
    if (nl == NULL)
        return say(out, type, 400, "no checkpoint after the empty line\n");
    l = find_log(w, note, (size_t)(nl - note));
    if (l == NULL)
        return say(out, type, 404, "this witness does not witness that log (unknown origin)\n");
    switch (tlog_checkpoint_open(note, note_len, l->cfg.origin, l->cfg.key_name, l->cfg.pk, &cp, why, sizeof why)) {
    case TLOG_OK:
        break;
    case TLOG_ESIG:
        return say(out, type, 403, "the checkpoint is not signed by the log's key: %s\n", why);
    default:
        return say(out, type, 400, "the checkpoint is not well-formed: %s\n", why);
    }
    /* the note text: up to and including the newline before the blank line */
    text_end = NULL;
    for (const char *q = note; q + 1 < end; q++)
        if (q[0] == '\n' && q[1] == '\n') {
            text_end = q + 1;
            break;
        }
    if (text_end == NULL)
        return say(out, type, 400, "the checkpoint has no blank line before its signatures\n");
    body_len = (size_t)(text_end - note);
    if (old > cp.size)
        return say(out, type, 400, "old size %" PRIu64 " is larger than the checkpoint's %" PRIu64 "\n", old,
                    cp.size);
    if (cp.size == 0) {
        uint8_t e[TLOG_HASH_LEN];
        empty_root(e);
        if (sodium_memcmp(e, cp.root, TLOG_HASH_LEN) != 0)
            return say(out, type, 422, "a checkpoint of size 0 must have the empty tree's root\n");
    }

    pthread_mutex_lock(&w->lock);
    if (old != l->cp.size) {
        snprintf(out, WITNESS_ANSWER_MAX, "%" PRIu64 "\n", l->cp.size);
        *type = TYPE_SIZE;
        code = 409;
        goto unlock;
    }
    if (old == 0 && nproof != 0) {
        code = say(out, type, 422, "a proof from size 0 must be empty\n");
        goto unlock;
    }
    if (old > 0 && tlog_verify_consistency(old, cp.size, l->cp.root, cp.root, proof, nproof) != TLOG_OK) {
        const char *reason = old == cp.size ? "the same size with another root hash: a fork"
                                            : "the consistency proof from the cosigned checkpoint does not verify";
        keep_evidence(w, l, body, len, reason, now);
        code = say(out, type, 422, "%s\n", reason);
        goto unlock;
    }
    {
        char note_copy[TLOG_NOTE_MAX + 1];
        const char *parts[1] = {note_copy};
        if (note_len > TLOG_NOTE_MAX) {
            code = say(out, type, 400, "the checkpoint is too large\n");
            goto unlock;
        }
        memcpy(note_copy, note, note_len);
        note_copy[note_len] = '\0';
        if (strlen(note_copy) != note_len) {
            code = say(out, type, 400, "the checkpoint holds a NUL byte\n");
            goto unlock;
        }
        if (!write_durably(w->dir, l->file, parts, 1, why, sizeof why)) {
            fprintf(stderr, "renkei-witness: cannot record the checkpoint of %s: %s\n", l->cfg.origin, why);
            code = say(out, type, 500, "the witness could not record the checkpoint; nothing was cosigned\n");
            goto unlock;
        }
    }
    l->cp = cp;
    code = cosign(w, note, body_len, now, out, type);
unlock:
    pthread_mutex_unlock(&w->lock);
    return code;
}
