/*
 * conns.c - receivers and delivery cursors, in an open-addressing table;
 * routing-id bindings in another, keyed by a keyed hash of the id's counter
 * (a peer cannot choose ids that all land in one run of the table).
 */
#include "conns.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

typedef struct binding {
    uint32_t counter;  /* the id's 32-bit counter */
    conn_org_t *org;   /* NULL: free slot */
} binding_t;

struct conns {
    conn_org_t **slot; /* open addressing, power-of-two size */
    size_t cap, n;
    conn_org_t **marked;
    size_t n_marked, cap_marked;
    binding_t *bind;   /* open addressing, power-of-two size */
    size_t bind_cap, bind_n;
    uint8_t bind_key[crypto_shorthash_KEYBYTES];
};

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

conns_t *conns_new(void)
{
    conns_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->cap = 64;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
    c->slot = calloc(c->cap, sizeof *c->slot);
    c->bind_cap = 256;
    c->bind = calloc(c->bind_cap, sizeof *c->bind);
    if (c->slot == NULL || c->bind == NULL || sodium_init() < 0) {
        free(c->slot);
        free(c->bind);
        free(c);
        return NULL;
    }
    randombytes_buf(c->bind_key, sizeof c->bind_key);
    return c;
}

void conns_destroy(conns_t **cp)
{
    conns_t *c;
    if (cp == NULL || *cp == NULL)
        return;
    c = *cp;
    for (size_t i = 0; i < c->cap; i++)
        free(c->slot[i]);
    free(c->slot);
    free(c->marked);
    free(c->bind);
    free(c);
    *cp = NULL;
}

static conn_org_t **find_slot(conn_org_t **slot, size_t cap, const char *org)
{
    size_t i = (size_t)hash_name(org) & (cap - 1);
    while (slot[i] != NULL && strcmp(slot[i]->org, org) != 0)
        i = (i + 1) & (cap - 1);
    return &slot[i];
}

static bool grow(conns_t *c)
{
    size_t cap = c->cap * 2;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
    conn_org_t **slot = calloc(cap, sizeof *slot);
    if (slot == NULL)
        return false;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slot[i] != NULL)
            *find_slot(slot, cap, c->slot[i]->org) = c->slot[i];
    free(c->slot);
    c->slot = slot;
    c->cap = cap;
    return true;
}

conn_org_t *conns_org(conns_t *c, const char *org, bool create)
{
    conn_org_t **s = find_slot(c->slot, c->cap, org);
    if (*s != NULL || !create)
        return *s;
    if ((c->n + 1) * 2 > c->cap) {
        if (!grow(c))
            return NULL;
        s = find_slot(c->slot, c->cap, org);
    }
    *s = calloc(1, sizeof **s);
    if (*s == NULL)
        return NULL;
    strncpy((*s)->org, org, RK_ID_MAX);
    c->n++;
    return *s;
}

static bool same_rid(const conn_rid_t *a, const conn_rid_t *b)
{
    return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

bool conns_rid_auto(const conn_rid_t *rid)
{
    return rid->len == CONNS_AUTO_RID_LEN && rid->id[0] == 0;
}

static uint32_t rid_counter(const conn_rid_t *rid)
{
    return (uint32_t)rid->id[1] << 24 | (uint32_t)rid->id[2] << 16 | (uint32_t)rid->id[3] << 8 | rid->id[4];
}

static binding_t *bind_slot(binding_t *bind, size_t cap, const uint8_t key[crypto_shorthash_KEYBYTES],
                            uint32_t counter)
{
    uint8_t in[4] = {(uint8_t)(counter >> 24), (uint8_t)(counter >> 16), (uint8_t)(counter >> 8), (uint8_t)counter};
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v = 0;
    size_t i;
    crypto_shorthash(h, in, sizeof in, key);
    for (int k = 0; k < 8; k++)
        v = v << 8 | h[k];
    i = (size_t)v & (cap - 1);
    while (bind[i].org != NULL && bind[i].counter != counter)
        i = (i + 1) & (cap - 1);
    return &bind[i];
}

static bool bind_grow(conns_t *c)
{
    size_t cap = c->bind_cap * 2;
    binding_t *bind = calloc(cap, sizeof *bind);
    if (bind == NULL)
        return false;
    for (size_t i = 0; i < c->bind_cap; i++)
        if (c->bind[i].org != NULL)
            *bind_slot(bind, cap, c->bind_key, c->bind[i].counter) = c->bind[i];
    free(c->bind);
    c->bind = bind;
    c->bind_cap = cap;
    return true;
}

conns_bind_result conns_bind(conns_t *c, const conn_rid_t *rid, const char *org, conn_org_t **owner)
{
    binding_t *b;
    conn_org_t *o;
    if (owner != NULL)
        *owner = NULL;
    if (!conns_rid_auto(rid))
        return CONNS_BIND_NOMEM; /* never bound: the caller refuses such ids first */
    b = bind_slot(c->bind, c->bind_cap, c->bind_key, rid_counter(rid));
    if (b->org != NULL) {
        if (owner != NULL)
            *owner = b->org;
        return strcmp(b->org->org, org) == 0 ? CONNS_BOUND_SAME : CONNS_BOUND_OTHER;
    }
    o = conns_org(c, org, true);
    if (o == NULL)
        return CONNS_BIND_NOMEM;
    if ((c->bind_n + 1) * 2 > c->bind_cap) {
        if (!bind_grow(c))
            return CONNS_BIND_NOMEM;
        b = bind_slot(c->bind, c->bind_cap, c->bind_key, rid_counter(rid));
    }
    b->counter = rid_counter(rid);
    b->org = o;
    c->bind_n++;
    if (owner != NULL)
        *owner = o;
    return CONNS_BOUND_NEW;
}

conn_org_t *conns_owner(conns_t *c, const conn_rid_t *rid)
{
    if (!conns_rid_auto(rid))
        return NULL;
    return bind_slot(c->bind, c->bind_cap, c->bind_key, rid_counter(rid))->org;
}

static void restart_cursor(conn_org_t *o)
{
    o->sent_upto = 0;
    o->inflight = 0;
    o->redo_at_ms = 0;
}

bool conns_add_receiver(conns_t *c, const char *org, const conn_rid_t *rid)
{
    conn_org_t *o = conns_org(c, org, true);
    size_t keep;
    if (o == NULL)
        return false;
    conns_drop_receiver(o, rid);
    keep = o->n_recv < CONNS_RECV_MAX ? o->n_recv : CONNS_RECV_MAX - 1;
    memmove(&o->recv[1], &o->recv[0], keep * sizeof o->recv[0]);
    o->recv[0] = *rid;
    o->n_recv = keep + 1;
    restart_cursor(o);
    conns_mark(c, o);
    return true;
}

void conns_drop_receiver(conn_org_t *o, const conn_rid_t *rid)
{
    for (size_t i = 0; i < o->n_recv; i++) {
        if (!same_rid(&o->recv[i], rid))
            continue;
        memmove(&o->recv[i], &o->recv[i + 1], (o->n_recv - i - 1) * sizeof o->recv[0]);
        o->n_recv--;
        if (i == 0)
            restart_cursor(o);
        return;
    }
}

size_t conns_drop_fd(conns_t *c, int fd)
{
    size_t dropped = 0;
    if (fd < 0)
        return 0;
    for (size_t s = 0; s < c->cap; s++) {
        conn_org_t *o = c->slot[s];
        size_t i = 0, before;
        if (o == NULL)
            continue;
        before = o->n_recv;
        while (i < o->n_recv) {
            conn_rid_t gone;
            if (o->recv[i].fd != fd) {
                i++;
                continue;
            }
            gone = o->recv[i];
            conns_drop_receiver(o, &gone);
        }
        if (o->n_recv != before) {
            dropped += before - o->n_recv;
            conns_mark(c, o);
        }
    }
    return dropped;
}

void conns_mark(conns_t *c, conn_org_t *o)
{
    if (o->dirty)
        return;
    if (c->n_marked == c->cap_marked) {
        size_t cap = c->cap_marked ? c->cap_marked * 2 : 64;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
        conn_org_t **m = realloc(c->marked, cap * sizeof *m);
        if (m == NULL)
            return; /* stays unmarked; the periodic sweep pushes it */
        c->marked = m;
        c->cap_marked = cap;
    }
    o->dirty = true;
    c->marked[c->n_marked++] = o;
}

size_t conns_take_marked(conns_t *c, conn_org_t **out, size_t max)
{
    size_t n = c->n_marked < max ? c->n_marked : max;
    for (size_t i = 0; i < n; i++) {
        out[i] = c->marked[c->n_marked - 1 - i];
        out[i]->dirty = false;
    }
    c->n_marked -= n;
    return n;
}

static conn_quiet_t *quiet_slot(conn_org_t *o, int key, bool create)
{
    conn_quiet_t *free_slot = NULL;
    for (size_t i = 0; i < CONNS_QUIET_MAX; i++) {
        if (o->quiet[i].key == key)
            return &o->quiet[i];
        if (o->quiet[i].key == 0 && free_slot == NULL)
            free_slot = &o->quiet[i];
    }
    if (!create || free_slot == NULL)
        return NULL;
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->key = key;
    return free_slot;
}

bool conns_quiet_note(conns_t *c, const char *org, int key, uint64_t now_ms, uint64_t interval_ms)
{
    conn_org_t *o = conns_org(c, org, true);
    conn_quiet_t *q;
    if (o == NULL || key <= 0)
        return true;
    q = quiet_slot(o, key, false);
    if (q != NULL) {
        q->count++;
        return false;
    }
    q = quiet_slot(o, key, true);
    if (q != NULL)
        q->until_ms = now_ms + interval_ms;
    return true;
}

bool conns_quiet_add(conns_t *c, const char *org, int key, uint64_t n, uint64_t now_ms)
{
    conn_org_t *o = conns_org(c, org, true);
    conn_quiet_t *q = o != NULL && key > 0 ? quiet_slot(o, key, true) : NULL;
    if (q == NULL)
        return false;
    if (q->until_ms == 0)
        q->until_ms = now_ms; /* due at once */
    q->count += n;
    return true;
}

size_t conns_quiet_take(conns_t *c, uint64_t now_ms, uint64_t interval_ms, bool all,
                        void (*fn)(const char *org, int key, uint64_t count, void *ctx), void *ctx)
{
    size_t calls = 0;
    for (size_t s = 0; s < c->cap; s++) {
        conn_org_t *o = c->slot[s];
        if (o == NULL)
            continue;
        for (size_t i = 0; i < CONNS_QUIET_MAX; i++) {
            conn_quiet_t *q = &o->quiet[i];
            uint64_t n;
            if (q->key == 0 || (!all && q->until_ms > now_ms))
                continue;
            n = q->count;
            if (n > 0) {
                fn(o->org, q->key, n, ctx);
                calls++;
            }
            if (n > 0 && !all) {
                q->count = 0;
                q->until_ms = now_ms + interval_ms;
            } else {
                memset(q, 0, sizeof *q);
            }
        }
    }
    return calls;
}

void conns_each(conns_t *c, void (*fn)(conn_org_t *o, void *ctx), void *ctx)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->slot[i] != NULL)
            fn(c->slot[i], ctx);
}
