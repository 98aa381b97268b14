/*
 * catalogue.c - the procedure catalogue's text format and its lookups.
 */
#include "catalogue.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "why.h"

#define LINE_MAX_LEN CATALOGUE_SECTION_MAX

struct catalogue {
    cat_procedure_t *procs; /* sorted by name */
    size_t n_procs, cap_procs;
    cat_group_t *groups; /* sorted by name */
    size_t n_groups, cap_groups;
    cat_grant_t *grants; /* sorted by (recipient, procedure) */
    size_t n_grants, cap_grants;
};

/* ------------------------------------------------------------ sections */

void cat_section_clear(cat_section_t *s)
{
    if (s == NULL)
        return;
    if (s->kind == CAT_GROUP)
        free(s->u.group.members);
    memset(s, 0, sizeof *s);
}

void cat_section_key(const cat_section_t *s, char *out, size_t out_len)
{
    switch (s->kind) {
    case CAT_PROCEDURE: snprintf(out, out_len, "procedure %s", s->u.proc.name); return;
    case CAT_GROUP: snprintf(out, out_len, "group %s", s->u.group.name); return;
    case CAT_GRANT: snprintf(out, out_len, "grant %s %s", s->u.grant.recipient, s->u.grant.procedure); return;
    }
    snprintf(out, out_len, "?");
}

static const char *kind_word(org_kind k)
{
    return org_kind_name(k);
}

void cat_selectors_print(const cat_selectors_t *sel, char *out, size_t out_len)
{
    size_t used = 0;

    if (out_len == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < sel->n && used < out_len; i++) {
        const cat_selector_t *x = &sel->s[i];
        int n = snprintf(out + used, out_len - used, "%s%s%s", i ? " " : "",
                         x->kind == SEL_KIND  ? ""
                         : x->kind == SEL_ORG ? "org:"
                                              : "group:",
                         x->kind == SEL_KIND ? kind_word(x->org_kind) : x->name);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}

static void print_ttl(uint64_t ms, char *out, size_t out_len)
{
    static const struct {
        uint64_t ms;
        char unit;
    } units[] = {{86400000u, 'd'}, {3600000u, 'h'}, {60000u, 'm'}, {1000u, 's'}};

    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms % units[i].ms == 0) {
            snprintf(out, out_len, "%" PRIu64 "%c", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    snprintf(out, out_len, "%" PRIu64 "ms", ms);
}

/* A growing string for printing; ok false once out of memory. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool ok;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!b->ok)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->ok = false;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (q == NULL) {
            b->ok = false;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

char *cat_section_print(const cat_section_t *s)
{
    sbuf_t b = {NULL, 0, 0, true};
    char sel[CATALOGUE_SELECTORS_MAX * (RK_ID_MAX + 8)];
    char ttl[32];

    switch (s->kind) {
    case CAT_PROCEDURE: {
        const cat_procedure_t *p = &s->u.proc;
        sb_add(&b, "[procedure %s]\n", p->name);
        sb_add(&b, "title = %s\n", p->title);
        sb_add(&b, "route = %s\n", p->local ? "local" : "hub");
        cat_selectors_print(&p->senders, sel, sizeof sel);
        sb_add(&b, "senders = %s\n", sel);
        cat_selectors_print(&p->recipients, sel, sizeof sel);
        sb_add(&b, "recipients = %s\n", sel);
        sb_add(&b, "introduces = %s\n", p->introduces ? "yes" : "no");
        sb_add(&b, "replied = %s\n", p->replied ? "yes" : "no");
        sb_add(&b, "follows = %s\n", p->follows);
        sb_add(&b, "moves = %s\n", p->moves ? "yes" : "no");
        sb_add(&b, "access = %s\n", p->granted ? "granted" : "open");
        print_ttl(p->ttl_ms, ttl, sizeof ttl);
        sb_add(&b, "ttl = %s\n", ttl);
        break;
    }
    case CAT_GROUP: {
        const cat_group_t *g = &s->u.group;
        sb_add(&b, "[group %s]\n", g->name);
        sb_add(&b, "title = %s\n", g->title);
        sb_add(&b, "members =");
        for (size_t i = 0; i < g->n; i++)
            sb_add(&b, " %s", g->members[i]);
        sb_add(&b, "\n");
        break;
    }
    case CAT_GRANT:
        sb_add(&b, "[grant %s %s]\n", s->u.grant.recipient, s->u.grant.procedure);
        cat_selectors_print(&s->u.grant.senders, sel, sizeof sel);
        sb_add(&b, "senders = %s\n", sel);
        break;
    default: b.ok = false;
    }
    if (!b.ok) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ------------------------------------------------------------ parsing */

typedef struct parser {
    bool (*cb)(cat_section_t *s, void *ctx, char *why, size_t why_len);
    void *ctx;
    char *why;
    size_t why_len;
    unsigned line;        /* current line number, from 1 */
    unsigned header_line; /* of the open section */
    bool open;
    cat_section_t sec;
    unsigned seen; /* keys seen in the open section (bit per key) */
} parser_t;

static bool fail(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(parser_t *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rk_why(p->why, p->why_len, "line %u: %s", p->line, msg);
    return false;
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static bool parse_bool(parser_t *p, const char *key, const char *v, bool *out)
{
    if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0) {
        *out = false;
        return true;
    }
    return fail(p, "%s must be yes or no, not \"%s\"", key, v);
}

static bool parse_ttl(parser_t *p, const char *v, uint64_t *out)
{
    const char *unit = v + strspn(v, "0123456789");

    if (unit == v || (strcmp(unit, "ms") != 0 && strcmp(unit, "s") != 0 && strcmp(unit, "m") != 0 &&
                      strcmp(unit, "h") != 0 && strcmp(unit, "d") != 0))
        return fail(p, "ttl must be a whole number with a unit (s, m, h or d), not \"%s\"", v);
    if (!rk_cli_parse_duration(v, CATALOGUE_TTL_MAX_MS, out))
        return fail(p, "ttl must be more than 0 and at most 366d, not \"%s\"", v);
    return true;
}

static bool parse_name(parser_t *p, const char *what, const char *v, char *out, size_t out_len)
{
    if (!rk_valid_name(v) || strlen(v) >= out_len)
        return fail(p, "%s \"%s\" is not a valid name (1-64 of a-z 0-9 . _ -, starting with a letter)", what,
                    v);
    memcpy(out, v, strlen(v) + 1);
    return true;
}

static bool parse_selectors(parser_t *p, const char *key, char *v, cat_selectors_t *out)
{
    char *save = NULL;

    out->n = 0;
    for (char *w = strtok_r(v, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
        cat_selector_t *x;
        if (out->n == CATALOGUE_SELECTORS_MAX)
            return fail(p, "%s lists more than %d selectors", key, CATALOGUE_SELECTORS_MAX);
        x = &out->s[out->n];
        memset(x, 0, sizeof *x);
        if (strncmp(w, "org:", 4) == 0) {
            x->kind = SEL_ORG;
            if (!parse_name(p, "organization", w + 4, x->name, sizeof x->name))
                return false;
        } else if (strncmp(w, "group:", 6) == 0) {
            x->kind = SEL_GROUP;
            if (!parse_name(p, "group", w + 6, x->name, sizeof x->name))
                return false;
        } else if (org_kind_parse(w, &x->org_kind)) {
            x->kind = SEL_KIND;
        } else {
            return fail(p,
                        "%s: \"%s\" is neither an organization kind (municipality, utility, agency, auditor) "
                        "nor org:ID nor group:NAME",
                        key, w);
        }
        for (size_t i = 0; i < out->n; i++)
            if (out->s[i].kind == x->kind && out->s[i].org_kind == x->org_kind &&
                strcmp(out->s[i].name, x->name) == 0)
                return fail(p, "%s lists \"%s\" twice", key, w);
        out->n++;
    }
    return true;
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static bool parse_members(parser_t *p, char *v, cat_group_t *g)
{
    char *save = NULL;
    size_t cap = 0;

    for (char *w = strtok_r(v, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
        if (g->n == CATALOGUE_MEMBERS_MAX)
            return fail(p, "members lists more than %d organizations", CATALOGUE_MEMBERS_MAX);
        if (g->n == cap || g->members == NULL) {
            size_t ncap = cap ? cap * 2 : 16;
            void *q = realloc(g->members, ncap * sizeof g->members[0]);
            if (q == NULL)
                return fail(p, "out of memory");
            g->members = q;
            cap = ncap;
        }
        if (!parse_name(p, "organization", w, g->members[g->n], sizeof g->members[0]))
            return false;
        g->n++;
    }
    if (g->n > 1)
        qsort(g->members, g->n, sizeof g->members[0], cmp_member);
    for (size_t i = 1; i < g->n; i++)
        if (strcmp(g->members[i - 1], g->members[i]) == 0)
            return fail(p, "members lists %s twice", g->members[i]);
    return true;
}

enum {
    K_TITLE = 1u << 0,
    K_ROUTE = 1u << 1,
    K_SENDERS = 1u << 2,
    K_RECIPIENTS = 1u << 3,
    K_INTRODUCES = 1u << 4,
    K_REPLIED = 1u << 5,
    K_FOLLOWS = 1u << 6,
    K_MOVES = 1u << 7,
    K_ACCESS = 1u << 8,
    K_TTL = 1u << 9,
    K_MEMBERS = 1u << 10,
};

static const struct {
    const char *name;
    unsigned bit;
    unsigned kinds; /* bit per cat_section_kind */
} keys[] = {
    {"title", K_TITLE, 1u << CAT_PROCEDURE | 1u << CAT_GROUP},
    {"route", K_ROUTE, 1u << CAT_PROCEDURE},
    {"senders", K_SENDERS, 1u << CAT_PROCEDURE | 1u << CAT_GRANT},
    {"recipients", K_RECIPIENTS, 1u << CAT_PROCEDURE},
    {"introduces", K_INTRODUCES, 1u << CAT_PROCEDURE},
    {"replied", K_REPLIED, 1u << CAT_PROCEDURE},
    {"follows", K_FOLLOWS, 1u << CAT_PROCEDURE},
    {"moves", K_MOVES, 1u << CAT_PROCEDURE},
    {"access", K_ACCESS, 1u << CAT_PROCEDURE},
    {"ttl", K_TTL, 1u << CAT_PROCEDURE},
    {"members", K_MEMBERS, 1u << CAT_GROUP},
};

static const char *section_word(cat_section_kind k)
{
    return k == CAT_PROCEDURE ? "procedure" : k == CAT_GROUP ? "group" : "grant";
}

static bool set_key(parser_t *p, const char *key, char *v)
{
    cat_section_t *s = &p->sec;
    unsigned bit = 0;

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i].name, key) == 0 && (keys[i].kinds & (1u << s->kind)) != 0)
            bit = keys[i].bit;
    if (bit == 0)
        return fail(p, "a %s section has no key \"%s\"", section_word(s->kind), key);
    if (p->seen & bit)
        return fail(p, "\"%s\" is given twice in this section", key);
    p->seen |= bit;

    switch (bit) {
    case K_TITLE: {
        char *t = s->kind == CAT_PROCEDURE ? s->u.proc.title : s->u.group.title;
        if (strlen(v) > CATALOGUE_TITLE_MAX)
            return fail(p, "title is longer than %d bytes", CATALOGUE_TITLE_MAX);
        for (const char *c = v; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                return fail(p, "title holds a control character");
        memcpy(t, v, strlen(v) + 1);
        return true;
    }
    case K_ROUTE:
        if (strcmp(v, "hub") == 0)
            s->u.proc.local = false;
        else if (strcmp(v, "local") == 0)
            s->u.proc.local = true;
        else
            return fail(p, "route must be hub or local, not \"%s\"", v);
        return true;
    case K_SENDERS:
        return parse_selectors(p, key, v,
                               s->kind == CAT_PROCEDURE ? &s->u.proc.senders : &s->u.grant.senders);
    case K_RECIPIENTS: return parse_selectors(p, key, v, &s->u.proc.recipients);
    case K_INTRODUCES: return parse_bool(p, key, v, &s->u.proc.introduces);
    case K_REPLIED: return parse_bool(p, key, v, &s->u.proc.replied);
    case K_MOVES: return parse_bool(p, key, v, &s->u.proc.moves);
    case K_FOLLOWS:
        if (*v == '\0') {
            s->u.proc.follows[0] = '\0';
            return true;
        }
        return parse_name(p, "follows", v, s->u.proc.follows, sizeof s->u.proc.follows);
    case K_ACCESS:
        if (strcmp(v, "open") == 0)
            s->u.proc.granted = false;
        else if (strcmp(v, "granted") == 0)
            s->u.proc.granted = true;
        else
            return fail(p, "access must be open or granted, not \"%s\"", v);
        return true;
    case K_TTL: return parse_ttl(p, v, &s->u.proc.ttl_ms);
    case K_MEMBERS: return parse_members(p, v, &s->u.group);
    }
    return fail(p, "unhandled key \"%s\"", key);
}

/* Checks the open section is whole and hands it to the callback. */
static bool close_section(parser_t *p)
{
    cat_section_t *s = &p->sec;
    unsigned line = p->line;
    bool ok = true;

    if (!p->open)
        return true;
    p->line = p->header_line;
    if (s->kind == CAT_PROCEDURE) {
        cat_procedure_t *pr = &s->u.proc;
        if (!(p->seen & K_TITLE))
            ok = fail(p, "procedure %s has no title", pr->name);
        else if (!pr->local && (pr->senders.n == 0 || pr->recipients.n == 0))
            ok = fail(p, "procedure %s is routed by the hub but names no %s", pr->name,
                      pr->senders.n == 0 ? "senders" : "recipients");
        else if (pr->local && (pr->introduces || pr->replied || pr->moves || pr->follows[0] || pr->granted))
            ok = fail(p,
                      "procedure %s is local (never routed): introduces, replied, follows, moves and access "
                      "do not apply",
                      pr->name);
        else if (pr->follows[0] != '\0' && pr->introduces)
            ok = fail(p, "procedure %s follows %s, so it cannot also introduce a person", pr->name,
                      pr->follows);
        else if (strcmp(pr->follows, pr->name) == 0)
            ok = fail(p, "procedure %s cannot follow itself", pr->name);
        if (!(p->seen & K_TTL))
            pr->ttl_ms = CATALOGUE_DEFAULT_TTL_MS;
    } else if (s->kind == CAT_GROUP) {
        if (!(p->seen & K_TITLE))
            ok = fail(p, "group %s has no title", s->u.group.name);
        else if (!(p->seen & K_MEMBERS))
            ok = fail(p, "group %s has no members line (write \"members =\" for an empty group)",
                      s->u.group.name);
    } else if (!(p->seen & K_SENDERS)) {
        ok = fail(p, "grant %s %s names no senders", s->u.grant.recipient, s->u.grant.procedure);
    }
    p->line = line;
    if (ok)
        ok = p->cb(s, p->ctx, p->why, p->why_len);
    cat_section_clear(s);
    p->open = false;
    p->seen = 0;
    return ok;
}

static bool open_section(parser_t *p, char *h)
{
    char *save = NULL, *w1, *w2, *w3, *w4;
    size_t n = strlen(h);

    if (n < 2 || h[n - 1] != ']')
        return fail(p, "a section header must end with ']'");
    h[n - 1] = '\0';
    w1 = strtok_r(h + 1, " \t", &save);
    w2 = strtok_r(NULL, " \t", &save);
    w3 = strtok_r(NULL, " \t", &save);
    w4 = strtok_r(NULL, " \t", &save);
    memset(&p->sec, 0, sizeof p->sec);
    p->open = true;
    p->seen = 0;
    p->header_line = p->line;
    if (w1 != NULL && strcmp(w1, "procedure") == 0 && w2 != NULL && w3 == NULL) {
        p->sec.kind = CAT_PROCEDURE;
        return parse_name(p, "procedure", w2, p->sec.u.proc.name, sizeof p->sec.u.proc.name);
    }
    if (w1 != NULL && strcmp(w1, "group") == 0 && w2 != NULL && w3 == NULL) {
        p->sec.kind = CAT_GROUP;
        return parse_name(p, "group", w2, p->sec.u.group.name, sizeof p->sec.u.group.name);
    }
    if (w1 != NULL && strcmp(w1, "grant") == 0 && w2 != NULL && w3 != NULL && w4 == NULL) {
        p->sec.kind = CAT_GRANT;
        return parse_name(p, "organization", w2, p->sec.u.grant.recipient, sizeof p->sec.u.grant.recipient) &&
               parse_name(p, "procedure", w3, p->sec.u.grant.procedure, sizeof p->sec.u.grant.procedure);
    }
    p->open = false;
    return fail(p, "a section is [procedure NAME], [group NAME] or [grant ORG PROCEDURE]");
}

bool cat_parse(const char *text, size_t len,
               bool (*cb)(cat_section_t *s, void *ctx, char *why, size_t why_len), void *ctx, char *why,
               size_t why_len)
{
    parser_t p;
    char *line = malloc(LINE_MAX_LEN + 1);
    size_t pos = 0;
    bool ok = true;

    memset(&p, 0, sizeof p);
    p.cb = cb;
    p.ctx = ctx;
    p.why = why;
    p.why_len = why_len;
    if (line == NULL) {
        rk_why(why, why_len, "out of memory");
        return false;
    }
    while (ok && pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
        char *l, *eq;

        p.line++;
        if (n > LINE_MAX_LEN) {
            ok = fail(&p, "line longer than %u bytes", LINE_MAX_LEN);
            break;
        }
        if (memchr(text + pos, '\0', n) != NULL) {
            ok = fail(&p, "a NUL byte in the text");
            break;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + (nl != NULL);
        l = trim(line);
        if (*l == '\0' || *l == '#' || *l == ';')
            continue;
        if (*l == '[') {
            ok = close_section(&p) && open_section(&p, l);
            continue;
        }
        if (!p.open) {
            ok = fail(&p, "\"%s\" before any [section]", l);
            break;
        }
        eq = strchr(l, '=');
        if (eq == NULL) {
            ok = fail(&p, "expected key = value");
            break;
        }
        *eq = '\0';
        ok = set_key(&p, trim(l), trim(eq + 1));
    }
    if (ok)
        ok = close_section(&p);
    cat_section_clear(&p.sec);
    free(line);
    return ok;
}

struct one_ctx {
    cat_section_t *out;
    unsigned n;
};

static bool take_one(cat_section_t *s, void *ctx, char *why, size_t why_len)
{
    struct one_ctx *c = ctx;

    if (c->n++ > 0) {
        rk_why(why, why_len, "more than one section where one was expected");
        return false;
    }
    *c->out = *s;
    memset(s, 0, sizeof *s); /* the members moved to *out */
    return true;
}

bool cat_parse_one(const char *text, size_t len, cat_section_t *out, char *why, size_t why_len)
{
    struct one_ctx c = {out, 0};

    memset(out, 0, sizeof *out);
    if (!cat_parse(text, len, take_one, &c, why, why_len)) {
        cat_section_clear(out);
        return false;
    }
    if (c.n == 0) {
        rk_why(why, why_len, "no section");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ the whole */

catalogue_t *catalogue_new(void)
{
    return calloc(1, sizeof(catalogue_t));
}

void catalogue_free(catalogue_t **cat)
{
    if (cat == NULL || *cat == NULL)
        return;
    for (size_t i = 0; i < (*cat)->n_groups; i++)
        free((*cat)->groups[i].members);
    free((*cat)->procs);
    free((*cat)->groups);
    free((*cat)->grants);
    free(*cat);
    *cat = NULL;
}

/* Finds key in a sorted array; returns its index or where it belongs. */
static size_t find(const void *base, size_t n, size_t size, const void *key,
                   int (*cmp)(const void *, const void *), bool *found)
{
    size_t lo = 0, hi = n;

    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp(key, (const char *)base + mid * size);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static int cmp_proc(const void *a, const void *b)
{
    return strcmp(((const cat_procedure_t *)a)->name, ((const cat_procedure_t *)b)->name);
}

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const cat_group_t *)a)->name, ((const cat_group_t *)b)->name);
}

static int cmp_grant(const void *a, const void *b)
{
    const cat_grant_t *x = a, *y = b;
    int c = strcmp(x->recipient, y->recipient);
    return c != 0 ? c : strcmp(x->procedure, y->procedure);
}

/* Inserts or replaces *item in a sorted growing array. */
static bool put_sorted(void **base, size_t *n, size_t *cap, size_t size, const void *item,
                       int (*cmp)(const void *, const void *), void (*drop)(void *old))
{
    bool found;
    size_t at = find(*base, *n, size, item, cmp, &found);
    char *b;

    if (found) {
        if (drop != NULL)
            drop((char *)*base + at * size);
        memcpy((char *)*base + at * size, item, size);
        return true;
    }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        void *q = realloc(*base, ncap * size);
        if (q == NULL)
            return false;
        *base = q;
        *cap = ncap;
    }
    b = *base;
    memmove(b + (at + 1) * size, b + at * size, (*n - at) * size);
    memcpy(b + at * size, item, size);
    (*n)++;
    return true;
}

static void drop_group(void *g)
{
    free(((cat_group_t *)g)->members);
}

bool catalogue_put(catalogue_t *cat, cat_section_t *s)
{
    bool ok = false;

    switch (s->kind) {
    case CAT_PROCEDURE:
        ok = put_sorted((void **)&cat->procs, &cat->n_procs, &cat->cap_procs, sizeof(cat_procedure_t),
                        &s->u.proc, cmp_proc, NULL);
        break;
    case CAT_GROUP:
        ok = put_sorted((void **)&cat->groups, &cat->n_groups, &cat->cap_groups, sizeof(cat_group_t),
                        &s->u.group, cmp_group, drop_group);
        if (ok)
            s->u.group.members = NULL; /* moved */
        break;
    case CAT_GRANT:
        ok = put_sorted((void **)&cat->grants, &cat->n_grants, &cat->cap_grants, sizeof(cat_grant_t),
                        &s->u.grant, cmp_grant, NULL);
        break;
    }
    cat_section_clear(s);
    return ok;
}

static bool put_parsed(cat_section_t *s, void *ctx, char *why, size_t why_len)
{
    if (catalogue_put(ctx, s))
        return true;
    rk_why(why, why_len, "out of memory");
    return false;
}

catalogue_t *catalogue_from_text(const char *text, size_t len, char *why, size_t why_len)
{
    catalogue_t *cat = catalogue_new();

    if (cat == NULL) {
        rk_why(why, why_len, "out of memory");
        return NULL;
    }
    if (!cat_parse(text, len, put_parsed, cat, why, why_len) || !catalogue_check(cat, why, why_len))
        catalogue_free(&cat);
    return cat;
}

const cat_procedure_t *catalogue_procedure(const catalogue_t *cat, const char *name)
{
    cat_procedure_t key;
    bool found;
    size_t at;

    if (strlen(name) >= sizeof key.name)
        return NULL;
    memcpy(key.name, name, strlen(name) + 1);
    at = find(cat->procs, cat->n_procs, sizeof key, &key, cmp_proc, &found);
    return found ? &cat->procs[at] : NULL;
}

size_t catalogue_procedures(const catalogue_t *cat)
{
    return cat->n_procs;
}

const cat_procedure_t *catalogue_procedure_at(const catalogue_t *cat, size_t i)
{
    return i < cat->n_procs ? &cat->procs[i] : NULL;
}

const cat_group_t *catalogue_group(const catalogue_t *cat, const char *name)
{
    cat_group_t key;
    bool found;
    size_t at;

    if (strlen(name) >= sizeof key.name)
        return NULL;
    memcpy(key.name, name, strlen(name) + 1);
    at = find(cat->groups, cat->n_groups, sizeof key, &key, cmp_group, &found);
    return found ? &cat->groups[at] : NULL;
}

const cat_grant_t *catalogue_grant(const catalogue_t *cat, const char *recipient, const char *procedure)
{
    cat_grant_t key;
    bool found;
    size_t at;

    if (strlen(recipient) >= sizeof key.recipient || strlen(procedure) >= sizeof key.procedure)
        return NULL;
    memcpy(key.recipient, recipient, strlen(recipient) + 1);
    memcpy(key.procedure, procedure, strlen(procedure) + 1);
    at = find(cat->grants, cat->n_grants, sizeof key, &key, cmp_grant, &found);
    return found ? &cat->grants[at] : NULL;
}

static bool in_group(const cat_group_t *g, const char *org)
{
    char key[RK_ID_MAX + 1];
    bool found;

    if (g == NULL || strlen(org) >= sizeof key)
        return false;
    memcpy(key, org, strlen(org) + 1);
    (void)find(g->members, g->n, sizeof g->members[0], key, cmp_member, &found);
    return found;
}

bool catalogue_matches(const catalogue_t *cat, const cat_selectors_t *sel, const char *org, org_kind kind)
{
    for (size_t i = 0; i < sel->n; i++) {
        const cat_selector_t *x = &sel->s[i];
        if ((x->kind == SEL_KIND && x->org_kind == kind) ||
            (x->kind == SEL_ORG && strcmp(x->name, org) == 0) ||
            (x->kind == SEL_GROUP && in_group(catalogue_group(cat, x->name), org)))
            return true;
    }
    return false;
}

bool catalogue_followed(const catalogue_t *cat, const char *name)
{
    for (size_t i = 0; i < cat->n_procs; i++)
        if (strcmp(cat->procs[i].follows, name) == 0)
            return true;
    return false;
}

static bool groups_known(const catalogue_t *cat, const cat_selectors_t *sel, const char *where, char *why,
                         size_t why_len)
{
    for (size_t i = 0; i < sel->n; i++) {
        if (sel->s[i].kind == SEL_GROUP && catalogue_group(cat, sel->s[i].name) == NULL) {
            rk_why(why, why_len, "%s names group:%s, which the catalogue does not define", where,
                   sel->s[i].name);
            return false;
        }
    }
    return true;
}

bool catalogue_check(const catalogue_t *cat, char *why, size_t why_len)
{
    char where[RK_ID_MAX + RK_TYPE_MAX + 32];

    for (size_t i = 0; i < cat->n_procs; i++) {
        const cat_procedure_t *p = &cat->procs[i];
        snprintf(where, sizeof where, "procedure %s", p->name);
        if (!groups_known(cat, &p->senders, where, why, why_len) ||
            !groups_known(cat, &p->recipients, where, why, why_len))
            return false;
        if (p->local)
            continue;
        if (p->follows[0] != '\0') {
            const cat_procedure_t *f = catalogue_procedure(cat, p->follows);
            if (f == NULL || f->local) {
                rk_why(why, why_len, "procedure %s follows %s, which is %s", p->name, p->follows,
                       f == NULL ? "not in the catalogue" : "local (never routed)");
                return false;
            }
        } else if (!p->introduces) {
            rk_why(why, why_len,
                   "procedure %s neither introduces a person nor follows another procedure: it could never "
                   "be "
                   "sent (a request that may not introduce would tell its sender whether the recipient knows "
                   "the person)",
                   p->name);
            return false;
        }
    }
    for (size_t i = 0; i < cat->n_grants; i++) {
        const cat_grant_t *g = &cat->grants[i];
        const cat_procedure_t *p = catalogue_procedure(cat, g->procedure);
        snprintf(where, sizeof where, "grant %s %s", g->recipient, g->procedure);
        if (p == NULL || p->local || !p->granted) {
            rk_why(why, why_len, "%s: procedure %s %s", where, g->procedure,
                   p == NULL  ? "is not in the catalogue"
                   : p->local ? "is local (never routed)"
                              : "has access = open, so a grant would change nothing");
            return false;
        }
        if (!groups_known(cat, &g->senders, where, why, why_len))
            return false;
    }
    return true;
}

/* The kind's name as the CLI and the directory spell it; "unknown" otherwise. */
const char *org_kind_name(org_kind kind)
{
    switch (kind) {
    case ORG_MUNICIPALITY: return "municipality";
    case ORG_UTILITY: return "utility";
    case ORG_AUDITOR: return "auditor";
    case ORG_AGENCY: return "agency";
    }
    return "unknown";
}

/* true and *kind set if name is one of the four kind names; *kind is
 * untouched otherwise. */
bool org_kind_parse(const char *name, org_kind *kind)
{
    static const org_kind all[] = {ORG_MUNICIPALITY, ORG_UTILITY, ORG_AUDITOR, ORG_AGENCY};
    size_t i;

    if (name == NULL)
        return false;
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, org_kind_name(all[i])) == 0) {
            *kind = all[i];
            return true;
        }
    }
    return false;
}
