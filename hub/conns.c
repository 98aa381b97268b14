/*
 * conns.c - receivers and delivery cursors, in an open-addressing table.
 */
#include "conns.h"

#include <stdlib.h>
#include <string.h>

struct conns {
    conn_org_t **slot; /* open addressing, power-of-two size */
    size_t cap, n;
    conn_org_t **marked;
    size_t n_marked, cap_marked;
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
    c->slot = calloc(c->cap, sizeof *c->slot);
    if (c->slot == NULL) {
        free(c);
        return NULL;
    }
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

void conns_mark(conns_t *c, conn_org_t *o)
{
    if (o->dirty)
        return;
    if (c->n_marked == c->cap_marked) {
        size_t cap = c->cap_marked ? c->cap_marked * 2 : 64;
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

void conns_each(conns_t *c, void (*fn)(conn_org_t *o, void *ctx), void *ctx)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->slot[i] != NULL)
            fn(c->slot[i], ctx);
}
