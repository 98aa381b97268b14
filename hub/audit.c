/*
 * audit.c - routing-log entries, checkpoints and answers to readers.
 */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "note.h"

store_err audit_log_msg(store_txn_t *txn, const audit_msg_t *m, uint64_t now_ms, uint64_t *index)
{
    rk_log_entry_t e;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t at = 0;
    store_err err;

    memset(&e, 0, sizeof e);
    e.time_ms = now_ms;
    e.event = m->event;
    e.seq = m->seq;
    snprintf(e.from, sizeof e.from, "%s", m->from ? m->from : "");
    snprintf(e.to, sizeof e.to, "%s", m->to ? m->to : "");
    snprintf(e.type, sizeof e.type, "%s", m->type ? m->type : "");
    if (m->msg_id != NULL) {
        e.has_msg_id = true;
        memcpy(e.msg_id, m->msg_id, RK_MSGID_LEN);
    }
    if (m->reply_to != NULL) {
        e.has_reply_to = true;
        memcpy(e.reply_to, m->reply_to, RK_MSGID_LEN);
    }
    e.outcome = m->outcome;
    e.size = m->size > UINT32_MAX ? UINT32_MAX : (uint32_t)m->size;
    if (rk_log_entry_encode(&e, &buf, &len) != RK_WIRE_OK)
        return STORE_ENOMEM;
    err = store_log_append(txn, buf, len, &at);
    free(buf);
    if (err == STORE_OK && index != NULL)
        *index = at;
    return err;
}

store_err audit_log_enrolled(store_txn_t *txn, const char *org, uint64_t now_ms,
                             const uint8_t id_code[STORE_IDCODE_LEN])
{
    audit_msg_t m = {.event = RK_EV_ENROLLED, .from = org, .outcome = RK_ST_ACCEPTED};
    uint64_t at = 0;
    store_err err = audit_log_msg(txn, &m, now_ms, &at);
    return err == STORE_OK ? store_log_person_add(txn, id_code, at) : err;
}

store_err audit_checkpoint(store_txn_t *txn, const char *origin, const rk_identity_t *id, uint64_t now_ms,
                           bool force)
{
    tlog_checkpoint_t cp;
    char note[TLOG_CHECKPOINT_MAX], *old = NULL;
    size_t len = 0;
    store_err err;

    memset(&cp, 0, sizeof cp);
    if ((err = store_log_size(txn, &cp.size)) != STORE_OK)
        return err;
    if (!force) {
        err = store_log_checkpoint_get(txn, &old);
        if (err == STORE_OK) {
            /* the size is the note's second line */
            const char *nl = strchr(old, '\n');
            bool same = nl != NULL && strtoull(nl + 1, NULL, 10) == cp.size;
            free(old);
            if (same)
                return STORE_OK;
        } else if (err != STORE_ENOTFOUND) {
            return err;
        }
    }
    if ((err = store_log_root(txn, cp.size, cp.root)) != STORE_OK)
        return err;
    cp.time = (int64_t)(now_ms / 1000);
    if (tlog_checkpoint_sign(origin, &cp, origin, id->sign_sk, note, sizeof note, &len) != TLOG_OK)
        return STORE_EINVAL;
    return store_log_checkpoint_put(txn, note);
}

void audit_status_answer(rk_hub_frame_t *f, rk_hf_kind kind, uint64_t req_id, rk_status st, const char *detail)
{
    const char *why = detail != NULL ? detail : rk_status_text(st);

    memset(f, 0, sizeof *f);
    switch (kind) {
    case RK_HF_CHECKPOINT:
        f->kind = RK_HF_CHECKPOINT;
        f->u.checkpoint.req_id = req_id;
        f->u.checkpoint.status = st;
        break;
    case RK_HF_PROOF:
        f->kind = RK_HF_PROOF;
        f->u.proof.req_id = req_id;
        f->u.proof.status = st;
        snprintf(f->u.proof.detail, sizeof f->u.proof.detail, "%s", why);
        break;
    default:
        f->kind = RK_HF_LOG;
        f->u.log.req_id = req_id;
        f->u.log.status = st;
        snprintf(f->u.log.detail, sizeof f->u.log.detail, "%s", why);
        break;
    }
}

static void log_answer(rk_hub_frame_t *f, uint64_t req_id, rk_status st, const char *detail)
{
    audit_status_answer(f, RK_HF_LOG, req_id, st, detail);
}

/* Adds entry index to a RK_HF_LOG answer (capacity RK_LOG_READ_MAX). */
static store_err add_entry(store_txn_t *txn, rk_hub_frame_t *f, uint64_t index)
{
    size_t n = f->u.log.n;
    store_err err;
    if (n == RK_LOG_READ_MAX)
        return STORE_OK;
    if (f->u.log.index == NULL) {
        f->u.log.index = calloc(RK_LOG_READ_MAX, sizeof *f->u.log.index);
        f->u.log.entry = calloc(RK_LOG_READ_MAX, sizeof *f->u.log.entry);
        f->u.log.entry_len = calloc(RK_LOG_READ_MAX, sizeof *f->u.log.entry_len);
        if (f->u.log.index == NULL || f->u.log.entry == NULL || f->u.log.entry_len == NULL)
            return STORE_ENOMEM;
    }
    err = store_log_get(txn, index, &f->u.log.entry[n], &f->u.log.entry_len[n]);
    if (err != STORE_OK)
        return err;
    f->u.log.index[n] = index;
    f->u.log.n = n + 1;
    return STORE_OK;
}

static void fail_answer(rk_hub_frame_t *f, uint64_t req_id, store_err err)
{
    rk_hub_frame_clear(f);
    log_answer(f, req_id, RK_ST_INTERNAL, store_strerror(err));
}

void audit_read(store_txn_t *txn, org_kind kind, uint64_t req_id, uint64_t start, uint32_t count,
                rk_hub_frame_t *f)
{
    uint64_t size = 0;
    store_err err;

    if (kind != ORG_AUDITOR) {
        log_answer(f, req_id, RK_ST_FORBIDDEN, "only auditors read the routing log");
        return;
    }
    log_answer(f, req_id, RK_ST_ACCEPTED, "");
    if ((err = store_log_size(txn, &size)) != STORE_OK) {
        fail_answer(f, req_id, err);
        return;
    }
    f->u.log.tree_size = size;
    for (uint64_t i = start; i < size && i - start < count; i++) {
        if ((err = add_entry(txn, f, i)) != STORE_OK) {
            fail_answer(f, req_id, err);
            return;
        }
    }
}

/* true if entry index names org as sender or recipient (or as the org of
 * an org event). */
static bool entry_names(store_txn_t *txn, uint64_t index, const char *org)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    rk_log_entry_t e;
    bool yes = false;
    if (store_log_get(txn, index, &buf, &len) != STORE_OK)
        return false;
    if (rk_log_entry_decode(buf, len, &e, NULL, 0) == RK_WIRE_OK)
        yes = strcmp(e.from, org) == 0 || strcmp(e.to, org) == 0;
    free(buf);
    return yes;
}

void audit_proof(store_txn_t *txn, const char *org, org_kind kind, uint64_t req_id, uint64_t index,
                 uint64_t tree_size, uint64_t old_size, rk_hub_frame_t *f)
{
    uint64_t size = 0;
    store_err err;

    memset(f, 0, sizeof *f);
    f->kind = RK_HF_PROOF;
    f->u.proof.req_id = req_id;
    f->u.proof.index = index;
    f->u.proof.tree_size = tree_size;
    f->u.proof.old_size = old_size;
    if ((err = store_log_size(txn, &size)) != STORE_OK) {
        f->u.proof.status = RK_ST_INTERNAL;
        snprintf(f->u.proof.detail, sizeof f->u.proof.detail, "%s", store_strerror(err));
        return;
    }
    if (tree_size == 0 || tree_size > size || (old_size == 0 && index >= tree_size) || old_size > tree_size) {
        f->u.proof.status = RK_ST_NOT_FOUND;
        snprintf(f->u.proof.detail, sizeof f->u.proof.detail,
                 "the log has %llu entries: no such entry or tree size", (unsigned long long)size);
        return;
    }
    if (old_size == 0 && kind != ORG_AUDITOR && !entry_names(txn, index, org)) {
        f->u.proof.status = RK_ST_FORBIDDEN;
        snprintf(f->u.proof.detail, sizeof f->u.proof.detail,
                 "%s may ask for inclusion proofs of entries naming it only", org);
        return;
    }
    err = old_size > 0 ? store_log_consistency(txn, old_size, tree_size, f->u.proof.hash, &f->u.proof.n)
                       : store_log_inclusion(txn, index, tree_size, f->u.proof.hash, &f->u.proof.n);
    if (err == STORE_OK && old_size == 0)
        err = store_log_get(txn, index, &f->u.proof.entry, &f->u.proof.entry_len);
    if (err != STORE_OK) {
        f->u.proof.status = RK_ST_INTERNAL;
        snprintf(f->u.proof.detail, sizeof f->u.proof.detail, "%s", store_strerror(err));
        f->u.proof.n = 0;
        free(f->u.proof.entry);
        f->u.proof.entry = NULL;
        f->u.proof.entry_len = 0;
        return;
    }
    f->u.proof.status = RK_ST_ACCEPTED;
}

void audit_checkpoint_get(store_txn_t *txn, uint64_t req_id, rk_hub_frame_t *f)
{
    store_err err;
    memset(f, 0, sizeof *f);
    f->kind = RK_HF_CHECKPOINT;
    f->u.checkpoint.req_id = req_id;
    err = store_log_checkpoint_get(txn, &f->u.checkpoint.note);
    f->u.checkpoint.status = err == STORE_OK          ? RK_ST_ACCEPTED
                             : err == STORE_ENOTFOUND ? RK_ST_NOT_FOUND
                                                      : RK_ST_INTERNAL;
}

typedef struct disclose_ctx {
    store_txn_t *txn;
    rk_hub_frame_t *f;
    store_err err;
} disclose_ctx_t;

static int disclose_later(uint64_t index, void *ctx)
{
    disclose_ctx_t *d = ctx;
    d->err = add_entry(d->txn, d->f, index);
    return d->err != STORE_OK;
}

/* One row of the person's index, and for a message's ACCEPTED entry its
 * later entries (first contact, delivered, expired, refused). */
static int disclose_one(uint64_t index, void *ctx)
{
    disclose_ctx_t *d = ctx;
    rk_log_entry_t e;
    size_t n = d->f->u.log.n;

    d->err = add_entry(d->txn, d->f, index);
    if (d->err != STORE_OK || d->f->u.log.n == n)
        return d->err != STORE_OK;
    if (rk_log_entry_decode(d->f->u.log.entry[n], d->f->u.log.entry_len[n], &e, NULL, 0) == RK_WIRE_OK &&
        e.event == RK_EV_ACCEPTED && e.seq != 0) {
        store_err err = store_log_seq_list(d->txn, e.seq, disclose_later, d);
        if (err != STORE_OK)
            d->err = err;
    }
    return d->err != STORE_OK;
}

/* Removes the answer's entries for which drop() is true, keeping the order
 * of the rest. */
static void drop_entries(rk_hub_frame_t *f, bool (*drop)(const rk_hub_frame_t *f, size_t i, size_t out, void *ctx),
                         void *ctx)
{
    size_t out = 0;
    for (size_t i = 0; i < f->u.log.n; i++) {
        if (drop(f, i, out, ctx)) {
            free(f->u.log.entry[i]);
            f->u.log.entry[i] = NULL;
            continue;
        }
        f->u.log.index[out] = f->u.log.index[i];
        f->u.log.entry[out] = f->u.log.entry[i];
        f->u.log.entry_len[out] = f->u.log.entry_len[i];
        if (out != i)
            f->u.log.entry[i] = NULL;
        out++;
    }
    f->u.log.n = out;
}

/* A repeat of the entry kept last (out entries are kept so far). */
static bool repeated(const rk_hub_frame_t *f, size_t i, size_t out, void *ctx)
{
    (void)ctx;
    return out > 0 && f->u.log.index[out - 1] == f->u.log.index[i];
}

/* Puts the answer's entries in log order and drops repeats (stores written
 * before log_seq existed index a message's later entries by person too). */
static void sort_entries(rk_hub_frame_t *f)
{
    size_t n = f->u.log.n;
    for (size_t i = 1; i < n; i++) /* insertion sort: the rows come nearly in order */
        for (size_t j = i; j > 0 && f->u.log.index[j - 1] > f->u.log.index[j]; j--) {
            uint64_t ix = f->u.log.index[j];
            uint8_t *en = f->u.log.entry[j];
            size_t len = f->u.log.entry_len[j];
            f->u.log.index[j] = f->u.log.index[j - 1];
            f->u.log.entry[j] = f->u.log.entry[j - 1];
            f->u.log.entry_len[j] = f->u.log.entry_len[j - 1];
            f->u.log.index[j - 1] = ix;
            f->u.log.entry[j - 1] = en;
            f->u.log.entry_len[j - 1] = len;
        }
    drop_entries(f, repeated, NULL);
}

typedef struct visible_ctx {
    const char *org;
    bool whole;
} visible_ctx_t;

/* Whether the asker may not see entry i: never an entry about a link code
 * (first contact or code found: a sender must not learn whether it
 * introduced the person); the rest of the record if the asker is the
 * person's current municipality; otherwise only the asker's own exchanges
 * (entries naming it as sender or recipient). */
static bool hidden(const rk_hub_frame_t *f, size_t i, size_t out, void *ctx)
{
    const visible_ctx_t *v = ctx;
    rk_log_entry_t e;
    (void)out;
    if (rk_log_entry_decode(f->u.log.entry[i], f->u.log.entry_len[i], &e, NULL, 0) != RK_WIRE_OK)
        return true;
    if (e.event == RK_EV_FIRST_CONTACT || e.event == RK_EV_CODE_FOUND)
        return true;
    return !v->whole && strcmp(e.from, v->org) != 0 && strcmp(e.to, v->org) != 0;
}

void audit_disclose(store_txn_t *txn, const char *org, org_kind kind, uint64_t req_id,
                    const uint8_t code[RK_CODE_LEN], rk_hub_frame_t *f)
{
    uint8_t id_code[STORE_IDCODE_LEN];
    char home[RK_ID_MAX + 1];
    disclose_ctx_t d = {txn, f, STORE_OK};
    bool whole = false;
    store_err err;

    if (kind != ORG_MUNICIPALITY) {
        log_answer(f, req_id, RK_ST_FORBIDDEN, "only municipalities ask for a resident's entries");
        return;
    }
    err = store_code_resolve(txn, org, code, id_code);
    if (err == STORE_ENOTFOUND) {
        log_answer(f, req_id, RK_ST_NOT_FOUND, "this organization holds no such link code");
        return;
    }
    if (err != STORE_OK) {
        log_answer(f, req_id, RK_ST_INTERNAL, store_strerror(err));
        return;
    }
    log_answer(f, req_id, RK_ST_ACCEPTED, "");
    err = store_person_home_get(txn, id_code, home);
    if (err == STORE_OK)
        whole = strcmp(home, org) == 0;
    else if (err == STORE_ENOTFOUND)
        err = STORE_OK; /* enrolled before homes were kept: own exchanges only */
    if (err == STORE_OK)
        err = store_log_size(txn, &f->u.log.tree_size);
    if (err == STORE_OK)
        err = store_log_person_list(txn, id_code, disclose_one, &d);
    sodium_memzero(id_code, sizeof id_code);
    if (err == STORE_OK)
        err = d.err;
    if (err != STORE_OK) {
        fail_answer(f, req_id, err);
        return;
    }
    sort_entries(f);
    {
        visible_ctx_t v = {org, whole};
        drop_entries(f, hidden, &v);
    }
}
