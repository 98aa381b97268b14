/*
 * conns.c - receivers and recently routed requests.
 */
#include "conns.h"

#include <stdlib.h>
#include <string.h>

typedef struct receiver {
    char org[RK_ID_MAX + 1];
    conn_rid_t rid;
} receiver_t;

typedef struct request {
    bool used;
    uint8_t msg_id[RK_MSGID_LEN];
    char from[RK_ID_MAX + 1];
    char to[RK_ID_MAX + 1];
    conn_rid_t rid;
} request_t;

struct conns {
    receiver_t *recv; /* sorted by nothing: orgs are few (thousands) */
    size_t n_recv, cap_recv;
    request_t *req;
    size_t req_mask;
};

conns_t *conns_new(size_t request_slots)
{
    size_t slots = 1;
    conns_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    while (slots < request_slots)
        slots <<= 1;
    c->req = calloc(slots, sizeof *c->req);
    if (c->req == NULL) {
        free(c);
        return NULL;
    }
    c->req_mask = slots - 1;
    return c;
}

void conns_destroy(conns_t **c)
{
    if (c == NULL || *c == NULL)
        return;
    free((*c)->recv);
    free((*c)->req);
    free(*c);
    *c = NULL;
}

static receiver_t *find_receiver(const conns_t *c, const char *org)
{
    for (size_t i = 0; i < c->n_recv; i++)
        if (strcmp(c->recv[i].org, org) == 0)
            return &c->recv[i];
    return NULL;
}

bool conns_set_receiver(conns_t *c, const char *org, const conn_rid_t *rid)
{
    receiver_t *r = find_receiver(c, org);
    if (r == NULL) {
        if (c->n_recv == c->cap_recv) {
            size_t cap = c->cap_recv ? c->cap_recv * 2 : 16;
            receiver_t *n = realloc(c->recv, cap * sizeof *n);
            if (n == NULL)
                return false;
            c->recv = n;
            c->cap_recv = cap;
        }
        r = &c->recv[c->n_recv++];
        strncpy(r->org, org, RK_ID_MAX);
        r->org[RK_ID_MAX] = '\0';
    }
    r->rid = *rid;
    return true;
}

const conn_rid_t *conns_receiver(const conns_t *c, const char *org)
{
    const receiver_t *r = find_receiver(c, org);
    return r ? &r->rid : NULL;
}

static bool same_rid(const conn_rid_t *a, const conn_rid_t *b)
{
    return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

void conns_drop_receiver(conns_t *c, const char *org, const conn_rid_t *rid)
{
    receiver_t *r = find_receiver(c, org);
    if (r == NULL || !same_rid(&r->rid, rid))
        return;
    *r = c->recv[--c->n_recv];
}

/* msg ids are random: any 8 of their bytes make a good hash. */
static size_t slot_of(const conns_t *c, const uint8_t msg_id[RK_MSGID_LEN])
{
    uint64_t h;
    memcpy(&h, msg_id, sizeof h);
    return (size_t)(h & c->req_mask);
}

void conns_note_request(conns_t *c, const uint8_t msg_id[RK_MSGID_LEN], const char *from, const char *to,
                        const conn_rid_t *rid)
{
    request_t *r = &c->req[slot_of(c, msg_id)];
    r->used = true;
    memcpy(r->msg_id, msg_id, RK_MSGID_LEN);
    strncpy(r->from, from, RK_ID_MAX);
    r->from[RK_ID_MAX] = '\0';
    strncpy(r->to, to, RK_ID_MAX);
    r->to[RK_ID_MAX] = '\0';
    r->rid = *rid;
}

const conn_rid_t *conns_find_request(const conns_t *c, const uint8_t msg_id[RK_MSGID_LEN], const char *from,
                                     const char *to)
{
    const request_t *r = &c->req[slot_of(c, msg_id)];
    if (!r->used || memcmp(r->msg_id, msg_id, RK_MSGID_LEN) != 0 || strcmp(r->from, from) != 0 ||
        strcmp(r->to, to) != 0)
        return NULL;
    return &r->rid;
}
