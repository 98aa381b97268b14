/*
 * offline.c - checks without the hub: checkpoints, leaves files, receipts.
 */
#include "offline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "merkle.h"
#include "why.h"
#include "wire.h"

/* Reads all of a small text file (at most max bytes) into a new buffer. */
static int slurp(const char *path, const char *what, size_t max, char **out, size_t *len, char *why,
                 size_t why_len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    *out = NULL;
    *len = 0;
    if (f == NULL) {
        rk_why(why, why_len, "cannot read the %s %s: %s", what, path, strerror(errno));
        return RK_EXIT_ERROR;
    }
    if ((buf = malloc(max + 1)) == NULL) {
        fclose(f);
        rk_why(why, why_len, "out of memory");
        return RK_EXIT_ERROR;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        rk_why(why, why_len, "cannot read the %s %s: %s", what, path, strerror(errno));
        fclose(f);
        free(buf);
        return RK_EXIT_ERROR;
    }
    fclose(f);
    if (n > max) {
        rk_why(why, why_len, "the %s %s is larger than %zu bytes: it is not one", what, path, max);
        free(buf);
        return RK_EXIT_PROOF;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return RK_EXIT_OK;
}

int audit_vkey_read(const char *arg, audit_vkey_t *vk, char *why, size_t why_len)
{
    char inner[256] = "", *text = NULL;
    size_t len = 0;

    memset(vk, 0, sizeof *vk);
    if (tlog_vkey_parse(arg, vk->name, vk->pk, inner, sizeof inner) == TLOG_OK) {
        snprintf(vk->text, sizeof vk->text, "%s", arg);
        return RK_EXIT_OK;
    }
    if (strchr(arg, '+') != NULL && access(arg, R_OK) != 0) {
        rk_why(why, why_len,
               "--vkey '%s' is not a verifier key (NAME+KEYID+KEY, as renkei-audit vkey prints): %s", arg,
               inner);
        return RK_EXIT_USAGE;
    }
    if (slurp(arg, "verifier key file", TLOG_VKEY_MAX + 2, &text, &len, why, why_len) != RK_EXIT_OK)
        return RK_EXIT_USAGE;
    text[strcspn(text, "\r\n")] = '\0';
    if (tlog_vkey_parse(text, vk->name, vk->pk, inner, sizeof inner) != TLOG_OK) {
        rk_why(why, why_len, "the first line of %s is not a verifier key (NAME+KEYID+KEY): %s", arg, inner);
        free(text);
        return RK_EXIT_USAGE;
    }
    snprintf(vk->text, sizeof vk->text, "%s", text);
    free(text);
    return RK_EXIT_OK;
}

/* Opens the note text[0:len] under vk; `what` names it in messages. */
static int open_note(const char *text, size_t len, const char *what, const audit_vkey_t *vk,
                     tlog_checkpoint_t *cp, char *why, size_t why_len)
{
    char inner[512] = "";
    tlog_err err = tlog_checkpoint_open(text, len, vk->name, vk->name, vk->pk, cp, inner, sizeof inner);

    if (err == TLOG_OK)
        return RK_EXIT_OK;
    if (err == TLOG_ESIG)
        rk_why(why, why_len, "%s is not signed by the pinned key %s: %s", what, vk->text, inner);
    else
        rk_why(why, why_len, "%s is not a checkpoint of log %s: %s", what, vk->name, inner);
    return RK_EXIT_PROOF;
}

int audit_check_checkpoint(const char *path, const audit_vkey_t *vk, tlog_checkpoint_t *cp, char *why,
                           size_t why_len)
{
    char *text = NULL, what[600];
    size_t len = 0;
    int rc;

    memset(cp, 0, sizeof *cp);
    if ((rc = slurp(path, "checkpoint", TLOG_NOTE_MAX, &text, &len, why, why_len)) != RK_EXIT_OK)
        return rc;
    snprintf(what, sizeof what, "the checkpoint %s", path);
    rc = open_note(text, len, what, vk, cp, why, why_len);
    free(text);
    return rc;
}

/* The root of a tree built leaf by leaf: the hashes of its complete
 * subtrees, largest first (at most 64), folded right to left. */
typedef struct stack_tree {
    uint8_t h[64][TLOG_HASH_LEN];
    unsigned level[64];
    unsigned n;
    uint64_t size;
} stack_tree_t;

static void st_push(stack_tree_t *t, const uint8_t leaf[TLOG_HASH_LEN])
{
    memcpy(t->h[t->n], leaf, TLOG_HASH_LEN);
    t->level[t->n++] = 0;
    while (t->n >= 2 && t->level[t->n - 2] == t->level[t->n - 1]) {
        tlog_node_hash(t->h[t->n - 2], t->h[t->n - 1], t->h[t->n - 2]);
        t->level[t->n - 2]++;
        t->n--;
    }
    t->size++;
}

static void st_root(const stack_tree_t *t, uint8_t out[TLOG_HASH_LEN])
{
    if (t->n == 0) {
        crypto_hash_sha256(out, NULL, 0);
        return;
    }
    memcpy(out, t->h[t->n - 1], TLOG_HASH_LEN);
    for (unsigned i = t->n - 1; i-- > 0;)
        tlog_node_hash(t->h[i], out, out);
}

static void hex_short(const uint8_t h[TLOG_HASH_LEN], char out[17])
{
    sodium_bin2hex(out, 17, h, 8);
}

int audit_check_leaves(const char *path, const tlog_checkpoint_t *cp, const tlog_checkpoint_t *old,
                       uint64_t *n_leaves, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    stack_tree_t t;
    uint8_t *bytes = NULL, leaf[TLOG_HASH_LEN], root[TLOG_HASH_LEN];
    char *line = NULL, a[17], b[17];
    size_t cap = 0, bytes_cap = 0;
    ssize_t got;
    int rc = RK_EXIT_PROOF;
    bool old_done = old == NULL || old->size == 0;

    *n_leaves = 0;
    memset(&t, 0, sizeof t);
    if (f == NULL) {
        rk_why(why, why_len, "cannot read the leaves file %s: %s", path, strerror(errno));
        return RK_EXIT_ERROR;
    }
    while ((got = getline(&line, &cap, f)) > 0) {
        size_t len = (size_t)got, n = 0;
        if (line[len - 1] != '\n') {
            rk_why(why, why_len, "%s: line %" PRIu64 " does not end in a newline: the file is truncated",
                   path, t.size + 1);
            goto done;
        }
        line[--len] = '\0';
        if (len / 4 * 3 + 3 > bytes_cap) {
            uint8_t *nb = realloc(bytes, len / 4 * 3 + 3);
            if (nb == NULL) {
                rk_why(why, why_len, "out of memory");
                rc = RK_EXIT_ERROR;
                goto done;
            }
            bytes = nb;
            bytes_cap = len / 4 * 3 + 3;
        }
        if (len == 0 || bytes == NULL ||
            sodium_base642bin(bytes, bytes_cap, line, len, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) !=
                0) {
            rk_why(why, why_len, "%s: line %" PRIu64 " (entry %" PRIu64 ") is not an entry in base64", path,
                   t.size + 1, t.size);
            goto done;
        }
        if (t.size < cp->size) {
            tlog_leaf_hash(bytes, n, leaf);
            st_push(&t, leaf);
            if (!old_done && t.size == old->size) {
                st_root(&t, root);
                if (sodium_memcmp(root, old->root, TLOG_HASH_LEN) != 0) {
                    hex_short(root, a);
                    hex_short(old->root, b);
                    rk_why(why, why_len,
                           "%s: the first %" PRIu64
                           " leaves give root %s..., the older checkpoint says %s...: "
                           "the log was rewritten since, or the file is not this log's",
                           path, old->size, a, b);
                    goto done;
                }
                old_done = true;
            }
        }
        (*n_leaves)++;
    }
    if (ferror(f)) {
        rk_why(why, why_len, "cannot read the leaves file %s: %s", path, strerror(errno));
        rc = RK_EXIT_ERROR;
        goto done;
    }
    if (t.size < cp->size) {
        rk_why(why, why_len,
               "%s holds %" PRIu64 " leaves, the checkpoint covers %" PRIu64
               ": the file is truncated or leaves were dropped",
               path, t.size, cp->size);
        goto done;
    }
    if (!old_done) {
        rk_why(why, why_len,
               "the older checkpoint covers %" PRIu64 " entries, more than the newer one (%" PRIu64
               "): the log was shortened",
               old->size, cp->size);
        goto done;
    }
    st_root(&t, root);
    if (sodium_memcmp(root, cp->root, TLOG_HASH_LEN) != 0) {
        hex_short(root, a);
        hex_short(cp->root, b);
        rk_why(why, why_len,
               "%s: the first %" PRIu64
               " leaves give root %s..., the checkpoint says %s...: a leaf was changed, "
               "dropped or added, or the file is not this log's",
               path, cp->size, a, b);
        goto done;
    }
    rc = RK_EXIT_OK;
done:
    free(line);
    free(bytes);
    fclose(f);
    return rc;
}

/* Parses hex of exactly n bytes. */
static bool unhex(const char *s, uint8_t *out, size_t n)
{
    size_t got = 0;
    return strlen(s) == 2 * n && sodium_hex2bin(out, n, s, 2 * n, NULL, &got, NULL) == 0 && got == n;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

int audit_check_receipt(const char *path, const audit_vkey_t *vk, tlog_checkpoint_t *cp, uint64_t *index,
                        char *why, size_t why_len)
{
    enum { RECEIPT_MAX = 64 * 1024 };
    char *text = NULL, *p, *note = NULL, what[600];
    size_t len = 0, n = 0, entry_len = 0;
    uint8_t msg_id[RK_MSGID_LEN], *entry = NULL, proof[TLOG_MAX_PATH][TLOG_HASH_LEN], leaf[TLOG_HASH_LEN];
    uint64_t tree_size = 0;
    bool has_msg = false, has_index = false, has_size = false, has_entry = false;
    unsigned line_no = 0;
    int rc;

    memset(cp, 0, sizeof *cp);
    *index = 0;
    if ((rc = slurp(path, "receipt", RECEIPT_MAX, &text, &len, why, why_len)) != RK_EXIT_OK)
        return rc;
    rc = RK_EXIT_PROOF;
    p = text;
    while (*p != '\0' && note == NULL) {
        char *nl = strchr(p, '\n'), *val;
        if (nl == NULL) {
            rk_why(why, why_len, "%s: line %u does not end in a newline: the receipt is truncated", path,
                   line_no + 1);
            goto done;
        }
        *nl = '\0';
        line_no++;
        val = strchr(p, ' ');
        if (val != NULL)
            *val++ = '\0';
        if (line_no == 1) {
            if (strcmp(p, "renkei-receipt") != 0 || val == NULL || strcmp(val, "1") != 0) {
                rk_why(why, why_len, "%s is not a receipt: it does not begin with \"renkei-receipt 1\"",
                       path);
                goto done;
            }
        } else if (strcmp(p, "checkpoint") == 0 && val == NULL) {
            note = nl + 1;
        } else if (val == NULL) {
            rk_why(why, why_len, "%s: line %u (%s) has no value", path, line_no, p);
            goto done;
        } else if (strcmp(p, "msg_id") == 0) {
            has_msg = unhex(val, msg_id, RK_MSGID_LEN);
            if (!has_msg)
                goto bad_value;
        } else if (strcmp(p, "index") == 0) {
            if (!(has_index = parse_u64(val, index)))
                goto bad_value;
        } else if (strcmp(p, "tree_size") == 0) {
            if (!(has_size = parse_u64(val, &tree_size)))
                goto bad_value;
        } else if (strcmp(p, "entry") == 0) {
            if (strcmp(val, "-") != 0) {
                size_t hex_len = strlen(val);
                if (entry != NULL || hex_len == 0 || hex_len % 2 != 0 ||
                    (entry = malloc(hex_len / 2)) == NULL || !unhex(val, entry, hex_len / 2))
                    goto bad_value;
                entry_len = hex_len / 2;
                has_entry = true;
            }
        } else if (strcmp(p, "proof") == 0) {
            if (n == TLOG_MAX_PATH || !unhex(val, proof[n], TLOG_HASH_LEN))
                goto bad_value;
            n++;
        } else if (strcmp(p, "inclusion") != 0) {
            rk_why(why, why_len, "%s: line %u: unknown field \"%s\"", path, line_no, p);
            goto done;
        }
        p = nl + 1;
        continue;
bad_value:
        rk_why(why, why_len, "%s: line %u: \"%s\" is not a valid %s", path, line_no, val, p);
        goto done;
    }
    if (!has_msg || !has_index || !has_size || note == NULL) {
        rk_why(why, why_len, "%s lacks its %s: the receipt is truncated", path,
               !has_msg     ? "msg_id"
               : !has_index ? "index"
               : !has_size  ? "tree_size"
                            : "checkpoint");
        goto done;
    }
    snprintf(what, sizeof what, "the checkpoint in receipt %s", path);
    if ((rc = open_note(note, len - (size_t)(note - text), what, vk, cp, why, why_len)) != RK_EXIT_OK)
        goto done;
    rc = RK_EXIT_PROOF;
    if (cp->size != tree_size) {
        rk_why(why, why_len, "%s says tree_size %" PRIu64 " but its checkpoint covers %" PRIu64, path,
               tree_size, cp->size);
        goto done;
    }
    if (*index >= cp->size) {
        rk_why(why, why_len, "%s: entry %" PRIu64 " is beyond its checkpoint's %" PRIu64 " entries", path,
               *index, cp->size);
        goto done;
    }
    if (!has_entry) {
        rk_why(why, why_len,
               "%s holds no entry (the hub did not provide it): the inclusion cannot be checked", path);
        rc = RK_EXIT_UNVERIFIED;
        goto done;
    }
    {
        rk_log_entry_t e;
        char reason[256] = "";
        if (rk_log_entry_decode(entry, entry_len, &e, reason, sizeof reason) != RK_WIRE_OK) {
            rk_why(why, why_len, "%s: its entry does not decode (%s)", path, reason);
            goto done;
        }
        if (!e.has_msg_id || sodium_memcmp(e.msg_id, msg_id, RK_MSGID_LEN) != 0) {
            rk_why(why, why_len, "%s: its entry is not the entry of its message msg_id", path);
            goto done;
        }
    }
    tlog_leaf_hash(entry, entry_len, leaf);
    if (tlog_verify_inclusion(*index, cp->size, leaf, &proof[0][0], n, cp->root) != TLOG_OK) {
        rk_why(why, why_len,
               "%s: the inclusion proof does not prove the entry is entry %" PRIu64
               " of the signed checkpoint's tree: the entry, index or proof was altered",
               path, *index);
        goto done;
    }
    rc = RK_EXIT_OK;
done:
    free(entry);
    free(text);
    return rc;
}

int audit_leaf_write(FILE *f, const uint8_t *entry, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(cap);
    int rc;

    if (b64 == NULL)
        return -1;
    sodium_bin2base64(b64, cap, entry, len, sodium_base64_VARIANT_ORIGINAL);
    rc = fputs(b64, f) < 0 || fputc('\n', f) == EOF ? -1 : 0;
    free(b64);
    return rc;
}

int audit_consistency_write(FILE *f, uint64_t old_size, uint64_t new_size, const uint8_t *path, size_t n)
{
    char hex[TLOG_HASH_LEN * 2 + 1];

    fprintf(f, "renkei-consistency 1\nold_size %" PRIu64 "\nnew_size %" PRIu64 "\n", old_size, new_size);
    for (size_t i = 0; i < n; i++) {
        sodium_bin2hex(hex, sizeof hex, path + i * TLOG_HASH_LEN, TLOG_HASH_LEN);
        fprintf(f, "proof %s\n", hex);
    }
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

int audit_check_consistency(const char *path, const tlog_checkpoint_t *old, const tlog_checkpoint_t *cp,
                            char *why, size_t why_len)
{
    enum { CONSISTENCY_MAX = 16 * 1024 };
    char *text = NULL, *p;
    size_t len = 0, n = 0;
    uint8_t proof[TLOG_MAX_PATH][TLOG_HASH_LEN];
    uint64_t old_size = 0, new_size = 0;
    bool has_old = false, has_new = false;
    unsigned line_no = 0;
    int rc;

    if ((rc = slurp(path, "consistency proof", CONSISTENCY_MAX, &text, &len, why, why_len)) != RK_EXIT_OK)
        return rc;
    rc = RK_EXIT_PROOF;
    for (p = text; *p != '\0';) {
        char *nl = strchr(p, '\n'), *val;
        if (nl == NULL) {
            rk_why(why, why_len, "%s: line %u does not end in a newline: the file is truncated", path,
                   line_no + 1);
            goto done;
        }
        *nl = '\0';
        line_no++;
        if ((val = strchr(p, ' ')) != NULL)
            *val++ = '\0';
        if (val == NULL ||
            (line_no == 1 && (strcmp(p, "renkei-consistency") != 0 || strcmp(val, "1") != 0))) {
            rk_why(why, why_len,
                   line_no == 1 ? "%s is not a consistency proof: it does not begin with "
                                  "\"renkei-consistency 1\""
                                : "%s: line %u has no value",
                   path, line_no);
            goto done;
        }
        if (line_no == 1) {
            /* the header */
        } else if (strcmp(p, "old_size") == 0) {
            if (!(has_old = parse_u64(val, &old_size)))
                goto bad_value;
        } else if (strcmp(p, "new_size") == 0) {
            if (!(has_new = parse_u64(val, &new_size)))
                goto bad_value;
        } else if (strcmp(p, "proof") == 0) {
            if (n == TLOG_MAX_PATH || !unhex(val, proof[n], TLOG_HASH_LEN))
                goto bad_value;
            n++;
        } else {
            rk_why(why, why_len, "%s: line %u: unknown field \"%s\"", path, line_no, p);
            goto done;
        }
        p = nl + 1;
        continue;
bad_value:
        rk_why(why, why_len, "%s: line %u: \"%s\" is not a valid %s", path, line_no, val, p);
        goto done;
    }
    if (!has_old || !has_new) {
        rk_why(why, why_len, "%s lacks its %s: the file is truncated", path,
               !has_old ? "old_size" : "new_size");
        goto done;
    }
    if (old_size != old->size || new_size != cp->size) {
        rk_why(why, why_len,
               "%s proves sizes %" PRIu64 " to %" PRIu64 ", the checkpoints cover %" PRIu64 " and %" PRIu64
               ": it is the proof of other checkpoints",
               path, old_size, new_size, old->size, cp->size);
        goto done;
    }
    if (old->size > cp->size) {
        rk_why(why, why_len,
               "the older checkpoint covers %" PRIu64 " entries, more than the newer one (%" PRIu64
               "): the log was shortened",
               old->size, cp->size);
        goto done;
    }
    if (tlog_verify_consistency(old->size, cp->size, old->root, cp->root, &proof[0][0], n) != TLOG_OK) {
        rk_why(why, why_len,
               "%s does not prove that the log of %" PRIu64 " entries extends the one of %" PRIu64
               ": the log was rewritten between the two checkpoints, or the proof was altered",
               path, cp->size, old->size);
        goto done;
    }
    rc = RK_EXIT_OK;
done:
    free(text);
    return rc;
}
