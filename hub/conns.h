/*
 * conns.h - the hub's view of connected agents, for delivery.
 *
 * Per organization: the connections that said hello{receive=true}, most
 * recent first (deliveries go to the first; when it goes away, to the next),
 * and the delivery cursor over the org's durable queue: the highest sequence
 * number pushed to the current receiver and how many pushes await an ack.
 * Nothing here is durable: after a restart or a reconnect the cursor starts
 * again at the head of the queue, and the agent's inbox drops duplicates.
 *
 * Which org a connection belongs to.  The ROUTER names each connection by a
 * routing id: one it assigns itself (5 bytes, 0x00 then a 32-bit counter),
 * or one the peer announced (ZMQ_ROUTING_ID).  The hub serves only the
 * former (see hub.c), and binds each such id, for the life of the hub, to
 * the org whose key authenticated the first frame that came with it: a
 * frame of another org on that id is a takeover attempt, and nothing is
 * pushed on an id to anyone but the org it is bound to.
 */
#ifndef RENKEI_HUB_CONNS_H
#define RENKEI_HUB_CONNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define CONNS_RID_MAX 255 /* ZeroMQ routing ids are 1..255 bytes */
#define CONNS_RECV_MAX 8  /* receivers remembered per org */
#define CONNS_QUIET_MAX 8 /* kinds of counted refusals per org */

typedef struct conns conns_t;

/* One connection: its routing id, and the hub-side socket its frames came
 * in on (-1 if unknown), by which the hub hears that it closed. */
typedef struct conn_rid {
    uint8_t len;
    uint8_t id[CONNS_RID_MAX];
    int fd;
    bool has_key;            /* the hub's admission check named the key */
    uint8_t key[RK_KEY_LEN]; /* the CURVE key it authenticated with */
} conn_rid_t;

#define CONNS_AUTO_RID_LEN 5 /* 0x00 + 32-bit counter: an id the ROUTER assigned */

typedef enum conns_bind_result {
    CONNS_BOUND_NEW,   /* the id was first used now: bound to this org */
    CONNS_BOUND_SAME,  /* bound to this org before */
    CONNS_BOUND_OTHER, /* bound to another org: *owner says which */
    CONNS_BIND_NOMEM,  /* out of memory: the id could not be checked */
} conns_bind_result;

/* Refusals of one kind from one org, counted instead of logged one by one
 * while an interval runs (see conns_quiet_note). */
typedef struct conn_quiet {
    int key;           /* the caller's kind of refusal; 0: slot free */
    uint64_t until_ms; /* the interval ends */
    uint64_t count;    /* counted in it (not logged one by one) */
} conn_quiet_t;

typedef struct conn_org {
    char org[RK_ID_MAX + 1];
    conn_rid_t recv[CONNS_RECV_MAX]; /* most recent first */
    size_t n_recv;
    uint64_t sent_upto;        /* highest seq pushed to recv[0] */
    size_t inflight;           /* pushed, not yet acknowledged */
    uint64_t last_progress_ms; /* last push or ack */
    uint64_t redo_at_ms;       /* 0, or when to push again from the head */
    bool dirty;                /* may have something to push */
    conn_quiet_t quiet[CONNS_QUIET_MAX];
} conn_org_t;

/* Returns NULL on allocation failure. */
conns_t *conns_new(void);
void conns_destroy(conns_t **c);

/* The state of org, created if `create` (NULL if absent or out of memory).
 * The pointer stays valid until conns_destroy. */
conn_org_t *conns_org(conns_t *c, const char *org, bool create);

/* Makes rid org's current receiver; the push cursor starts again at the
 * head of the queue.  false on allocation failure. */
bool conns_add_receiver(conns_t *c, const char *org, const conn_rid_t *rid) __attribute__((warn_unused_result));

/* Forgets rid as a receiver of o (the peer went away); if it was the
 * current one, the cursor starts again for the next. */
void conns_drop_receiver(conn_org_t *o, const conn_rid_t *rid);

/* Forgets every receiver whose connection came in on fd (it closed) and
 * marks their orgs, so that pushing moves on to their next receivers.
 * Returns how many were forgotten.  fd < 0 forgets nothing. */
size_t conns_drop_fd(conns_t *c, int fd);

/* Whether rid has the form of an id the ROUTER assigned itself. */
bool conns_rid_auto(const conn_rid_t *rid);

/* Binds rid (which must have the auto form) to org unless it is bound
 * already; *owner (if not NULL) receives the org it is bound to (NULL on
 * CONNS_BIND_NOMEM).  A binding lasts as long as c. */
conns_bind_result conns_bind(conns_t *c, const conn_rid_t *rid, const char *org, conn_org_t **owner)
    __attribute__((warn_unused_result));

/* The org rid is bound to, or NULL. */
conn_org_t *conns_owner(conns_t *c, const conn_rid_t *rid);

/* Marks o as having something to push. */
void conns_mark(conns_t *c, conn_org_t *o);

/* Takes the orgs marked since the last call: fills up to max pointers and
 * clears their marks; returns how many. */
size_t conns_take_marked(conns_t *c, conn_org_t **out, size_t max);

/* Counted refusals.  A refusal of kind `key` (> 0) from org: returns true
 * if no interval of that kind runs for org (then one starts, ending at
 * now + interval_ms, and the caller reports this refusal on its own), false
 * if one runs (then it is counted).  true also if org cannot be noted (out
 * of memory, or CONNS_QUIET_MAX kinds running): report it on its own. */
bool conns_quiet_note(conns_t *c, const char *org, int key, uint64_t now_ms, uint64_t interval_ms);

/* Adds n counted refusals of kind key back to org (a summary of them could
 * not be recorded); false if out of memory. */
bool conns_quiet_add(conns_t *c, const char *org, int key, uint64_t n, uint64_t now_ms);

/* Ends the intervals that are over at now_ms (every interval if `all`):
 * calls fn for each that counted refusals, with how many; such an
 * interval starts again (unless `all`), so a steady flood is summed up
 * once per interval; one that counted none ends.  Returns how many calls. */
size_t conns_quiet_take(conns_t *c, uint64_t now_ms, uint64_t interval_ms, bool all,
                        void (*fn)(const char *org, int key, uint64_t count, void *ctx), void *ctx);

/* Calls fn for every org. */
void conns_each(conns_t *c, void (*fn)(conn_org_t *o, void *ctx), void *ctx);

#endif /* RENKEI_HUB_CONNS_H */
