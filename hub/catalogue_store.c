/*
 * catalogue_store.c - the procedure catalogue in the hub's store.
 */
#include "catalogue_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "why.h"

/* ------------------------------------------------------------ in the store */

/* A deep copy of src (a group's members are duplicated). */
static bool section_copy(cat_section_t *dst, const cat_section_t *src)
{
    *dst = *src;
    if (src->kind == CAT_GROUP && src->u.group.n > 0) {
        size_t bytes = src->u.group.n * sizeof src->u.group.members[0];
        dst->u.group.members = malloc(bytes);
        if (dst->u.group.members == NULL) {
            memset(dst, 0, sizeof *dst);
            return false;
        }
        memcpy(dst->u.group.members, src->u.group.members, bytes);
    } else if (src->kind == CAT_GROUP) {
        dst->u.group.members = NULL;
    }
    return true;
}

struct load_ctx {
    catalogue_t *cat;
    store_err err;
    char *why;
    size_t why_len;
    /* catalogue_change: keys not to load */
    const cat_section_t *skip_set;
    size_t n_skip_set;
    const char *const *skip_del;
    size_t n_skip_del;
    bool skip_all;
};

static bool key_is(const cat_section_t *s, const char *key)
{
    char k[STORE_CAT_KEY_MAX + 1];

    cat_section_key(s, k, sizeof k);
    return strcmp(k, key) == 0;
}

static int load_row(const char *key, const char *text, size_t len, void *vctx)
{
    struct load_ctx *c = vctx;
    cat_section_t s;
    char why[300];

    if (c->skip_all)
        return 0;
    for (size_t i = 0; i < c->n_skip_set; i++)
        if (key_is(&c->skip_set[i], key))
            return 0;
    for (size_t i = 0; i < c->n_skip_del; i++)
        if (strcmp(c->skip_del[i], key) == 0)
            return 0;
    if (!cat_parse_one(text, len, &s, why, sizeof why) || !key_is(&s, key)) {
        rk_why(c->why, c->why_len, "the stored catalogue section \"%s\" is damaged: %s", key,
               s.kind != 0 ? "its text names another section" : why);
        cat_section_clear(&s);
        c->err = STORE_ECORRUPT;
        return 1;
    }
    if (!catalogue_put(c->cat, &s)) {
        c->err = STORE_ENOMEM;
        return 1;
    }
    return 0;
}

store_err catalogue_load(store_txn_t *txn, catalogue_t **out, char *why, size_t why_len)
{
    struct load_ctx c;
    store_err err;

    memset(&c, 0, sizeof c);
    *out = NULL;
    if ((c.cat = catalogue_new()) == NULL)
        return STORE_ENOMEM;
    c.why = why;
    c.why_len = why_len;
    err = store_cat_scan(txn, load_row, &c);
    if (err == STORE_OK)
        err = c.err;
    if (err != STORE_OK) {
        if (c.err == STORE_OK)
            rk_why(why, why_len, "cannot read the catalogue: %s", store_strerror(err));
        catalogue_free(&c.cat);
        return err;
    }
    *out = c.cat;
    return STORE_OK;
}

static store_err log_change(store_txn_t *txn, rk_log_event ev, const char *key, const char *text,
                            uint64_t now_ms)
{
    rk_log_entry_t e;

    memset(&e, 0, sizeof e);
    e.time_ms = now_ms;
    e.event = ev;
    snprintf(e.section, sizeof e.section, "%s", key);
    if (text != NULL) {
        crypto_hash_sha256(e.digest, (const unsigned char *)text, strlen(text));
        e.has_digest = true;
    }
    return store_log_entry_append(txn, &e, NULL);
}

struct stale_ctx {
    const cat_section_t *set;
    size_t n_set;
    char (*keys)[STORE_CAT_KEY_MAX + 1];
    size_t n, cap;
    bool oom;
};

static int note_stale(const char *key, const char *text, size_t len, void *vctx)
{
    struct stale_ctx *c = vctx;

    (void)text;
    (void)len;
    for (size_t i = 0; i < c->n_set; i++)
        if (key_is(&c->set[i], key))
            return 0;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        void *q = realloc(c->keys, ncap * sizeof c->keys[0]);
        if (q == NULL) {
            c->oom = true;
            return 1;
        }
        c->keys = q;
        c->cap = ncap;
    }
    snprintf(c->keys[c->n++], sizeof c->keys[0], "%s", key);
    return 0;
}

/* Writes one section if its text differs from the stored one. */
static store_err put_one(store_txn_t *txn, const cat_section_t *s, uint64_t now_ms, cat_change_report_t *rep)
{
    char key[STORE_CAT_KEY_MAX + 1];
    char *text = cat_section_print(s), *old = NULL;
    size_t old_len = 0;
    store_err err;

    if (text == NULL)
        return STORE_ENOMEM;
    cat_section_key(s, key, sizeof key);
    err = store_cat_get(txn, key, &old, &old_len);
    if (err == STORE_OK && old_len == strlen(text) && memcmp(old, text, old_len) == 0) {
        rep->unchanged++;
    } else if (err == STORE_OK || err == STORE_ENOTFOUND) {
        if (err == STORE_OK)
            rep->changed++;
        else
            rep->added++;
        err = store_cat_put(txn, key, text, strlen(text));
        if (err == STORE_OK)
            err = log_change(txn, RK_EV_CATALOGUE_SET, key, text, now_ms);
    }
    free(old);
    free(text);
    return err;
}

store_err catalogue_change(store_txn_t *txn, const cat_section_t *set, size_t n_set, const char *const *del,
                           size_t n_del, bool replace_all, uint64_t now_ms, cat_change_report_t *report,
                           char *why, size_t why_len)
{
    struct load_ctx c;
    struct stale_ctx st;
    cat_change_report_t rep;
    store_err err;

    memset(&rep, 0, sizeof rep);
    memset(&c, 0, sizeof c);
    memset(&st, 0, sizeof st);
    if (report != NULL)
        memset(report, 0, sizeof *report);

    /* The catalogue as it would be, checked before anything is written. */
    if ((c.cat = catalogue_new()) == NULL)
        return STORE_ENOMEM;
    c.why = why;
    c.why_len = why_len;
    c.skip_set = set;
    c.n_skip_set = n_set;
    c.skip_del = del;
    c.n_skip_del = n_del;
    c.skip_all = replace_all;
    err = store_cat_scan(txn, load_row, &c);
    if (err == STORE_OK)
        err = c.err;
    for (size_t i = 0; err == STORE_OK && i < n_set; i++) {
        cat_section_t copy;
        for (size_t j = 0; j < i; j++) {
            char k[STORE_CAT_KEY_MAX + 1];
            cat_section_key(&set[i], k, sizeof k);
            if (key_is(&set[j], k)) {
                rk_why(why, why_len, "the catalogue defines [%s] twice", k);
                err = STORE_EINVAL;
            }
        }
        if (err == STORE_OK && (!section_copy(&copy, &set[i]) || !catalogue_put(c.cat, &copy)))
            err = STORE_ENOMEM;
    }
    if (err == STORE_OK && !catalogue_check(c.cat, why, why_len))
        err = STORE_EINVAL;
    catalogue_free(&c.cat);
    if (err != STORE_OK)
        return err;

    /* Removals first, then what is set. */
    for (size_t i = 0; err == STORE_OK && i < n_del; i++) {
        err = store_cat_del(txn, del[i]);
        if (err == STORE_ENOTFOUND)
            rk_why(why, why_len, "the catalogue has no [%s]", del[i]);
        else if (err == STORE_OK &&
                 (err = log_change(txn, RK_EV_CATALOGUE_REMOVED, del[i], NULL, now_ms)) == STORE_OK)
            rep.removed++;
    }
    if (err == STORE_OK && replace_all) {
        st.set = set;
        st.n_set = n_set;
        err = store_cat_scan(txn, note_stale, &st);
        if (err == STORE_OK && st.oom)
            err = STORE_ENOMEM;
        for (size_t i = 0; err == STORE_OK && i < st.n; i++) {
            err = store_cat_del(txn, st.keys[i]);
            if (err == STORE_OK &&
                (err = log_change(txn, RK_EV_CATALOGUE_REMOVED, st.keys[i], NULL, now_ms)) == STORE_OK)
                rep.removed++;
        }
        free(st.keys);
    }
    for (size_t i = 0; err == STORE_OK && i < n_set; i++)
        err = put_one(txn, &set[i], now_ms, &rep);
    /* An empty file loaded into a store that never had a catalogue is
     * still a decision: nothing is routed, and the default is not
     * installed later. */
    if (err == STORE_OK) {
        uint64_t gen = 0;
        if ((err = store_cat_generation(txn, &gen)) == STORE_OK && gen == 0)
            err = store_cat_touch(txn);
    }
    if (err == STORE_OK && report != NULL)
        *report = rep;
    return err;
}

struct collect_ctx {
    cat_section_t *s;
    size_t n, cap;
    bool oom;
};

static bool collect_section(cat_section_t *s, void *vctx, char *why, size_t why_len)
{
    struct collect_ctx *c = vctx;

    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 32;
        void *q = realloc(c->s, ncap * sizeof c->s[0]);
        if (q == NULL) {
            rk_why(why, why_len, "out of memory");
            c->oom = true;
            return false;
        }
        c->s = q;
        c->cap = ncap;
    }
    c->s[c->n++] = *s;
    memset(s, 0, sizeof *s); /* moved */
    return true;
}

store_err catalogue_install_default(store_txn_t *txn, uint64_t now_ms, bool *installed, char *why,
                                    size_t why_len)
{
    struct collect_ctx c;
    uint64_t gen;
    store_err err;

    *installed = false;
    if ((err = store_cat_generation(txn, &gen)) != STORE_OK || gen != 0)
        return err;
    memset(&c, 0, sizeof c);
    if (!cat_parse(catalogue_default_text, catalogue_default_len, collect_section, &c, why, why_len)) {
        err = c.oom ? STORE_ENOMEM : STORE_EINVAL;
    } else {
        err = catalogue_change(txn, c.s, c.n, NULL, 0, true, now_ms, NULL, why, why_len);
        *installed = err == STORE_OK;
    }
    for (size_t i = 0; i < c.n; i++)
        cat_section_clear(&c.s[i]);
    free(c.s);
    return err;
}

struct export_ctx {
    FILE *f[3]; /* procedures, groups, grants */
    char *p[3];
    size_t n[3];
};

static int export_row(const char *key, const char *text, size_t len, void *vctx)
{
    struct export_ctx *c = vctx;
    int which = strncmp(key, "procedure ", 10) == 0 ? 0 : strncmp(key, "group ", 6) == 0 ? 1 : 2;

    if (ftell(c->f[which]) > 0)
        fputc('\n', c->f[which]);
    fwrite(text, 1, len, c->f[which]);
    return 0;
}

store_err catalogue_export(store_txn_t *txn, char **text, size_t *len)
{
    struct export_ctx c;
    FILE *all;
    char *out = NULL;
    size_t out_len = 0;
    bool ok = true;
    store_err err;

    memset(&c, 0, sizeof c);
    *text = NULL;
    *len = 0;
    for (int i = 0; i < 3; i++)
        if ((c.f[i] = open_memstream(&c.p[i], &c.n[i])) == NULL)
            ok = false;
    err = ok ? store_cat_scan(txn, export_row, &c) : STORE_ENOMEM;
    all = open_memstream(&out, &out_len);
    for (int i = 0; i < 3; i++) {
        if (c.f[i] != NULL && fclose(c.f[i]) != 0)
            ok = false;
        if (all != NULL && ok && c.n[i] > 0) {
            if (ftell(all) > 0)
                fputc('\n', all);
            fwrite(c.p[i], 1, c.n[i], all);
        }
        free(c.p[i]);
    }
    if (all == NULL || fclose(all) != 0)
        ok = false;
    if (err == STORE_OK && !ok)
        err = STORE_ENOMEM;
    if (err != STORE_OK) {
        free(out);
        return err;
    }
    *text = out;
    *len = out_len;
    return STORE_OK;
}
