/*
 * hub.c - sockets, ZAP handler and the event loop.
 *
 * One loop turn: read up to `batch` frames and run each through its handler
 * inside one LMDB write transaction (route.c queues messages; msgstate.c
 * takes acknowledged entries and queues notices for senders); commit; then
 * answer the senders and push queued frames to the receivers whose queues
 * changed.  Pushing reads the queue in its own read transaction, so what
 * leaves the hub is always what was committed.
 *
 * Frames are read one batch ahead: the signatures of batch k+1 are checked
 * on the verify pool's threads while batch k is handled and committed (the
 * commit mostly waits for the disk).  Nothing of batch k+1 is handled
 * before batch k's turn has ended, so the order of effects is the order of
 * arrival.
 *
 * Which connection is whose.  The ZAP handler ties a connection to the org
 * whose CURVE key it authenticated with, and every frame carries that org
 * (User-Id).  Deliveries, though, go out by the ROUTER's routing id, and a
 * peer may announce a routing id of its own (ZMQ_ROUTING_ID): then it could
 * take the id of another org's receiver that went away and be pushed that
 * org's deliveries.  (The ZAP request cannot tell: in libzmq 4.3 its
 * "identity" frame is the hub socket's own option, not the peer's.)  So:
 *
 *  1. a frame from a connection that chose its id (a non-empty "Identity"
 *     property, or an id not of the form the ROUTER assigns: 5 bytes, 0x00
 *     then a counter) is refused (FORBIDDEN) and never handled: such a
 *     connection never becomes a receiver and nothing is pushed to it;
 *  2. each assigned id is bound, for the life of the hub, to the org of the
 *     first frame that came with it (conns.h); a frame of another org on
 *     it is refused and logged as a takeover attempt, and the owner's
 *     receiver on it is dropped;
 *  3. a receiver is dropped as soon as its connection closes (a socket
 *     monitor reports the closed socket, matched to the socket each frame
 *     came in on), when pushing to it fails, or when its id is not bound
 *     to its org; and
 *  4. rand() is seeded from libsodium before the ROUTER is made: libzmq
 *     starts its counter of assigned ids at rand(), and never seeds it, so
 *     every hub would otherwise hand out the same ids in the same order.
 *
 * What remains: libzmq reads the peer's id as a C string, so a chosen id
 * that starts with 0x00 and is 5 bytes long looks assigned.  A peer that
 * guesses the exact id (one in 2^32) of another org's receiver in the
 * moment between that receiver's connection closing and the hub hearing of
 * it (at most one loop turn) would be pushed what the hub pushes then; its
 * first frame would be refused as a takeover.  And libzmq asserts (aborts)
 * if its counter reaches an id a live peer chose: a chosen id can be
 * refused but not disconnected, so that too rests on the counter being
 * unguessable.
 */
#include "hub.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "audit.h"
#include "catalogue_store.h"
#include "conns.h"
#include "metrics.h"
#include "msgstate.h"
#include "route.h"
#include "verify.h"
#include "why.h"
#include "clock.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
/* The connection property (set by the ZAP handler) naming the CURVE key
 * a connection was admitted with, 64 hex digits. */
#define KEY_PROPERTY "X-Renkei-Key"
#define RK_ZMQ_ZERO_COPY_RECV 10 /* a context option of libzmq >= 4.3 (ZMQ_ZERO_COPY_RECV, draft API) */
#define MONITOR_ENDPOINT "inproc://renkei-hub-monitor-%p"
#define POLL_MS 200
#define SWEEP_EVERY_MS 1000
#define SWEEP_MAX 1000      /* expired entries handled per sweep */
#define FULL_BACKOFF_MS 1000 /* after STORE_FULL, refuse without trying for this long */
#define ACK_LINGER_MS 1      /* a turn of acks only waits this long for more frames */
#define QUIET_MS 60000       /* counted refusals: one summary per org and kind this often */
#define QUIET_TAKEOVER 1000  /* the kind of takeover attempts (FORBIDDEN, like chosen ids) */
#define HOLD_RETRY_MS 1000   /* a suspended org's receiver is looked at again after this */

/* One thing a loop turn produced, sent after the commit. */
typedef enum item_kind {
    ITEM_FRAME,   /* a ready frame that does not depend on the commit */
    ITEM_ROUTED,  /* a routed message: its result */
    ITEM_ENROLLED /* an enrollment: valid only if the commit succeeds */
} item_kind;

typedef struct item {
    item_kind kind;
    conn_rid_t rid;              /* the connection that sent the frame */
    char from[RK_ID_MAX + 1];    /* the org that authenticated */
    rk_hub_frame_t frame;        /* ITEM_FRAME, ITEM_ENROLLED */
    route_out_t route;           /* ITEM_ROUTED */
    bool logged;                 /* ITEM_ROUTED: its refusal is on the hub's log already */
} item_t;

/* Why a frame is refused for the connection it came on, before it is read. */
typedef enum conn_refusal {
    CONN_OK = 0,
    CONN_CHOSEN_ID, /* the connection chose its own routing id */
    CONN_TAKEOVER,  /* its routing id is bound to another org */
    CONN_NOMEM,     /* the id could not be checked */
} conn_refusal;

/* A frame read off the socket, waiting for its turn. */
typedef struct inframe {
    conn_rid_t rid;
    char from[RK_ID_MAX + 1];   /* the org that authenticated */
    conn_refusal conn;          /* not CONN_OK: refused unread */
    char owner[RK_ID_MAX + 1];  /* CONN_TAKEOVER: the org the id is bound to */
    uint64_t closed_seen;       /* hub->n_closed when it was read */
    rk_wire_err werr;           /* RK_WIRE_OK: f holds the decoded frame */
    char why[200];              /* werr: what was wrong with it */
    bool has_msg_id;            /* werr on a Send: its core's msg_id could be read */
    uint8_t msg_id[RK_MSGID_LEN];
    rk_client_frame_t f;
    verify_job_t *job;          /* a Send whose sender was found: its check */
} inframe_t;

/* Up to `batch` frames and the signature checks of their Send frames. */
typedef struct inbatch {
    inframe_t *fr;
    size_t n;
    verify_job_t *jobs;
    size_t n_jobs;
} inbatch_t;

struct hub {
    hub_config_t cfg;
    verify_pool_t *verify;
    inbatch_t in[2];       /* the batch being handled and the one read ahead */
    int cur;               /* index of the batch being handled */
    store_t *store;
    const rk_identity_t *id;
    const hub_log_t *log;
    void *zctx;
    void *router;
    void *zap;
    void *monitor;         /* the router's socket events: connections that closed */
    conns_t *conns;
    catalogue_t *cat; /* the procedure catalogue in force */
    uint64_t restored_at, restored_backup_ms; /* the store's newest restore (welcome), 0: none */
    uint64_t cat_gen; /* its generation in the store */
    /* Sockets that closed, by fd: closed_at[fd] is the value n_closed took
     * when fd last closed (a frame read before that came on an older
     * connection). */
    uint64_t *closed_at;
    size_t cap_closed;
    uint64_t n_closed;
    /* Open connections by fd, as their frames named them: which org and key
     * (so that one whose key is no longer admitted, or whose org was
     * suspended, can be closed: see close_unadmitted). */
    struct live_conn {
        bool used;
        bool shut;     /* the hub shut it down (see close_conn) */
        uint64_t seen; /* n_closed when its last frame was read */
        char org[RK_ID_MAX + 1];
        uint8_t key[RK_KEY_LEN];
    } * live;
    size_t cap_live;
    char endpoint[256];
    item_t *items;
    size_t n_items;
    store_txn_t *txn;      /* open only during a turn */
    bool txn_failed;       /* the turn's transaction died: refuse the turn */
    bool turn_full;        /* ...because the store is full */
    uint64_t full_until_ms;
    uint64_t last_sweep_ms;
    uint64_t last_checkpoint_ms;
    size_t sweep_max;        /* expiries per sweep: halved after a full store, back to SWEEP_MAX after a success */
    /* orgs whose queues gained entries this turn: pushed after the commit */
    char (*touched)[RK_ID_MAX + 1];
    size_t n_touched, cap_touched;
    /* orgs that acknowledged this turn: if it fails, their acks are lost */
    conn_org_t **acked;
    size_t n_acked, cap_acked;
    bool acked_overflow; /* ...and some could not be noted: all of them */
};

/* ------------------------------------------------------------------ sending */

/* Frees a frame ZeroMQ has encrypted and sent (or dropped), wiped first:
 * it holds a link code or an envelope in the clear.  hint: its length. */
static void wipe_sent(void *data, void *hint)
{
    sodium_memzero(data, (size_t)(uintptr_t)hint);
    free(data);
}

/* Sends bytes to a connection.  Returns 0, or the errno (EHOSTUNREACH:
 * the peer is gone; EAGAIN: its queue is full).  ZeroMQ gets a copy it
 * wipes when it lets go of it (wipe_sent). */
static int send_bytes(hub_t *hub, const conn_rid_t *rid, const void *buf, size_t len)
{
    zmq_msg_t msg;
    void *copy;
    int err;

    copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return ENOMEM;
    memcpy(copy, buf, len);
    if (zmq_msg_init_data(&msg, copy, len, wipe_sent, (void *)(uintptr_t)len) != 0) {
        wipe_sent(copy, (void *)(uintptr_t)len);
        return ENOMEM;
    }
    if (zmq_send(hub->router, rid->id, rid->len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_msg_send(&msg, hub->router, ZMQ_DONTWAIT) < 0) {
        err = errno;
        zmq_msg_close(&msg); /* wipes the copy */
        return err;
    }
    return 0;
}

static int send_to(hub_t *hub, const conn_rid_t *rid, const rk_hub_frame_t *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (rk_hub_frame_encode(f, &buf, &len) != RK_WIRE_OK) {
        hub_log(hub->log, HUB_LOG_ERR, "cannot encode a frame (out of memory?)");
        return ENOMEM;
    }
    rc = send_bytes(hub, rid, buf, len);
    sodium_memzero(buf, len);
    free(buf);
    return rc;
}

static void send_result(hub_t *hub, const conn_rid_t *rid, const route_out_t *r)
{
    rk_hub_frame_t f;
    memset(&f, 0, sizeof f);
    f.kind = RK_HF_RESULT;
    f.u.result.has_msg_id = r->has_msg_id;
    memcpy(f.u.result.msg_id, r->msg_id, RK_MSGID_LEN);
    f.u.result.status = r->status;
    snprintf(f.u.result.detail, sizeof f.u.result.detail, "%s", r->detail);
    f.u.result.seq = r->status == RK_ST_ACCEPTED ? r->seq : 0;
    f.u.result.log_size = r->status == RK_ST_ACCEPTED ? r->log_size : 0;
    f.u.result.has_recipient_key = r->status == RK_ST_ACCEPTED && r->has_recipient_key;
    memcpy(f.u.result.recipient_key, r->recipient_key, RK_KEY_LEN);
    (void)send_to(hub, rid, &f);
}

/* ------------------------------------------------------------ connections */

/* Notes that the socket fd closed (n_closed counts closings). */
static void note_closed(hub_t *hub, int fd)
{
    hub->n_closed++;
    if (fd < 0)
        return;
    if ((size_t)fd < hub->cap_live)
        hub->live[fd].used = false;
    if ((size_t)fd >= hub->cap_closed) {
        size_t cap = hub->cap_closed ? hub->cap_closed : 256;
        uint64_t *n;
        while (cap <= (size_t)fd)
            cap *= 2;
        n = realloc(hub->closed_at, cap * sizeof *n);
        if (n == NULL) {
            hub_log(hub->log, HUB_LOG_ERR, "out of memory noting a closed connection");
            return; /* a hello read before is registered; pushing to it fails and drops it */
        }
        memset(n + hub->cap_closed, 0, (cap - hub->cap_closed) * sizeof *n);
        hub->closed_at = n;
        hub->cap_closed = cap;
    }
    hub->closed_at[fd] = hub->n_closed;
}

/* Reads what the router's socket monitor reported: a connection whose
 * socket closed is no receiver any more, before anything else could take
 * its routing id.  Called before each ZAP answer (so a closing is known
 * before any later connection is admitted, whichever socket it gets) and
 * before pushing. */
static void watch_closed(hub_t *hub)
{
    for (;;) {
        zmq_msg_t ev, ep;
        uint16_t event = 0;
        uint32_t value = 0;
        int more = 0;
        size_t more_len = sizeof more;

        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, hub->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        if (zmq_msg_size(&ev) >= sizeof event + sizeof value) {
            memcpy(&event, zmq_msg_data(&ev), sizeof event);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + sizeof event, sizeof value);
        }
        zmq_getsockopt(hub->monitor, ZMQ_RCVMORE, &more, &more_len);
        zmq_msg_close(&ev);
        while (more) { /* the endpoint */
            zmq_msg_init(&ep);
            if (zmq_msg_recv(&ep, hub->monitor, 0) < 0)
                more = 0;
            else
                zmq_getsockopt(hub->monitor, ZMQ_RCVMORE, &more, &more_len);
            zmq_msg_close(&ep);
        }
        if (event == ZMQ_EVENT_DISCONNECTED) {
            note_closed(hub, (int)value);
            if (conns_drop_fd(hub->conns, (int)value) > 0)
                hub_log(hub->log, HUB_LOG_INFO, "a receiver closed its connection");
        }
    }
}

/* Remembers that the connection on fd authenticated as org with key (a
 * frame of it was just read). */
static void live_note(hub_t *hub, int fd, const char *org, const uint8_t key[RK_KEY_LEN], uint64_t seen)
{
    struct live_conn *c;
    if (fd < 0)
        return;
    if ((size_t)fd >= hub->cap_live) {
        size_t cap = hub->cap_live ? hub->cap_live : 256;
        struct live_conn *n;
        while (cap <= (size_t)fd)
            cap *= 2;
        n = realloc(hub->live, cap * sizeof *n);
        if (n == NULL) {
            hub_log(hub->log, HUB_LOG_ERR,
                    "out of memory noting a connection of %s: if its key is replaced it is refused "
                    "frame by frame instead of closed",
                    org);
            return;
        }
        memset(n + hub->cap_live, 0, (cap - hub->cap_live) * sizeof *n);
        hub->live = n;
        hub->cap_live = cap;
    }
    c = &hub->live[fd];
    if (c->used && c->seen == seen && strcmp(c->org, org) == 0 && memcmp(c->key, key, RK_KEY_LEN) == 0)
        return;
    c->used = true;
    c->shut = false;
    c->seen = seen;
    snprintf(c->org, sizeof c->org, "%s", org);
    memcpy(c->key, key, RK_KEY_LEN);
}

/* Why org does not admit a connection made with the X25519 key `key` at
 * now_ms (NULL: it does; its status aside). */
static const char *key_unadmitted(const org_t *org, const uint8_t key[RK_KEY_LEN], uint64_t now_ms)
{
    if (org_key_admitted(org, key, now_ms))
        return NULL;
    return org->prev_until_ms != 0 && sodium_memcmp(org->prev_curve_pk, key, RK_KEY_LEN) == 0
               ? "the overlap of its key's replacement is over"
               : "its key was replaced";
}

/* Closes the connection on fd whose last frame was read when n_closed
 * was `seen`.  ZeroMQ gives no way to close one peer of a ROUTER, so the
 * hub shuts the connection's socket down under it: libzmq sees the
 * connection end, as if the peer had gone, and the peer's reconnect meets
 * the admission check.  The socket is shut down only if no close of it
 * has been reported since that frame (the monitor reports a close before
 * the fd can be reused), and only once. */
static void close_conn(hub_t *hub, int fd, uint64_t seen, const char *org, const char *why)
{
    struct live_conn *c = fd >= 0 && (size_t)fd < hub->cap_live ? &hub->live[fd] : NULL;

    if (fd < 0)
        return;
    watch_closed(hub);
    if ((size_t)fd < hub->cap_closed && hub->closed_at[fd] > seen)
        return; /* it closed by itself */
    if (c != NULL && c->shut && c->seen == seen)
        return; /* shut already */
    if (c != NULL) {
        c->used = false;
        c->shut = true;
        c->seen = seen;
    }
    if (shutdown(fd, SHUT_RDWR) != 0)
        hub_log(hub->log, HUB_LOG_WARNING, "could not close a connection of %s (%s): %s", org, why,
                strerror(errno));
    else
        hub_log(hub->log, HUB_LOG_NOTICE, "closed a connection of %s: %s", org, why);
}

/* Closes every open connection whose key its organization no longer
 * admits (replaced, or the overlap of a rekey is over), or whose
 * organization is suspended or gone (close_conn). */
static void close_unadmitted(hub_t *hub)
{
    store_txn_t *txn = NULL;
    uint64_t now = rk_wall_ms();

    watch_closed(hub);
    for (size_t fd = 0; fd < hub->cap_live; fd++) {
        struct live_conn *c = &hub->live[fd];
        const char *why = NULL;
        org_t org;
        store_err err;
        if (!c->used)
            continue;
        if (fd < hub->cap_closed && hub->closed_at[fd] > c->seen) {
            c->used = false; /* it closed after its last frame was read */
            continue;
        }
        if (txn == NULL && store_begin(hub->store, false, &txn) != STORE_OK)
            return; /* looked at again at the next sweep */
        err = store_org_get(txn, c->org, &org);
        if (err == STORE_ENOTFOUND)
            why = "the organization is no longer registered";
        else if (err != STORE_OK)
            continue;
        else if ((why = key_unadmitted(&org, c->key, now)) == NULL && org.status != ORG_ACTIVE)
            why = "the organization is suspended";
        if (why == NULL)
            continue;
        {
            char org_id[RK_ID_MAX + 1];
            snprintf(org_id, sizeof org_id, "%s", c->org);
            close_conn(hub, (int)fd, c->seen, org_id, why);
        }
    }
    store_abort(&txn);
}

/* ------------------------------------------------------------------ the turn */

/* Notes that org's queue gained entries; pushed after the commit. */
static void touch(hub_t *hub, const char *org)
{
    for (size_t i = 0; i < hub->n_touched; i++)
        if (strcmp(hub->touched[i], org) == 0)
            return;
    if (hub->n_touched == hub->cap_touched) {
        size_t cap = hub->cap_touched ? hub->cap_touched * 2 : 64;
        char(*t)[RK_ID_MAX + 1] = realloc(hub->touched, cap * sizeof *t);
        if (t == NULL)
            return; /* not pushed now: the entries stay queued and go out
                     * with org's next push (a later entry for it, or its
                     * receiver's next hello).  The sweep re-pushes only
                     * stalled deliveries, not queues nobody marked. */
        hub->touched = t;
        hub->cap_touched = cap;
    }
    snprintf(hub->touched[hub->n_touched++], RK_ID_MAX + 1, "%s", org);
}

static void turn_failed(hub_t *hub, store_err err)
{
    store_abort(&hub->txn);
    hub->txn_failed = true;
    if (err == STORE_EFULL) {
        hub->turn_full = true;
        hub->full_until_ms = rk_mono_ms() + FULL_BACKOFF_MS;
    }
}

/* Reloads the catalogue if another process (renkei-ctl) changed it: each
 * loop turn routes under the catalogue its own transaction sees.  A
 * catalogue that cannot be read leaves the one in force. */
static void catalogue_refresh(hub_t *hub, store_txn_t *txn)
{
    char why[400] = "";
    catalogue_t *cat;
    uint64_t gen;
    store_err err = store_cat_generation(txn, &gen);

    if (err != STORE_OK || gen == hub->cat_gen)
        return;
    err = catalogue_load(txn, &cat, why, sizeof why);
    if (err != STORE_OK) {
        hub->cat_gen = gen; /* said once per change */
        hub_log(hub->log, HUB_LOG_ERR,
                "cannot load the changed procedure catalogue (%s); the previous one stays in force", why);
        return;
    }
    catalogue_free(&hub->cat);
    hub->cat = cat;
    hub->cat_gen = gen;
    hub->cfg.ttl.cat = cat;
    hub_log(hub->log, HUB_LOG_NOTICE, "procedure catalogue loaded: %zu procedure types (generation %llu)",
            catalogue_procedures(cat), (unsigned long long)gen);
}

/* A store that is a backup no hub ran on yet (renkei-ctl backup) was
 * restored: the routing log says so, at the index where the copy ended,
 * so that auditors who saw entries after it see why they are gone. */
static hub_err record_restore(hub_t *hub, char *why, size_t why_len)
{
    store_txn_t *txn = NULL;
    uint64_t taken = 0, size = 0, index = 0;
    rk_log_entry_t e;
    store_err err = store_begin(hub->store, true, &txn);

    if (err == STORE_OK &&
        (err = store_restored(txn, &hub->restored_at, &hub->restored_backup_ms)) == STORE_ENOTFOUND)
        err = STORE_OK;
    if (err == STORE_OK && (err = store_backup_taken(txn, &taken, &size)) == STORE_ENOTFOUND) {
        store_abort(&txn);
        return HUB_OK;
    }
    if (err == STORE_OK) {
        memset(&e, 0, sizeof e);
        e.time_ms = rk_wall_ms();
        e.event = RK_EV_RESTORED;
        e.backup_ms = taken;
        err = store_log_entry_append(txn, &e, &index);
    }
    if (err == STORE_OK && (err = store_backup_forget(txn, index, taken)) == STORE_OK)
        err = store_commit(&txn);
    if (err == STORE_OK) {
        hub->restored_at = index;
        hub->restored_backup_ms = taken;
    }
    store_abort(&txn);
    if (err != STORE_OK) {
        rk_why(why, why_len,
               "cannot record on the routing log that this store was restored from a backup: %s",
               store_strerror(err));
        return err == STORE_ENOMEM ? HUB_ENOMEM : HUB_EIO;
    }
    hub_log(hub->log, HUB_LOG_WARNING,
            "this store was restored from a backup of %" PRIu64
            " routing-log entries: whatever the hub accepted "
            "after the backup is gone; recorded as entry %" PRIu64 " of the routing log",
            size, index);
    return HUB_OK;
}

/* Installs the default catalogue in a store that never had one, then loads
 * the catalogue in force. */
static hub_err catalogue_start(hub_t *hub, char *why, size_t why_len)
{
    store_txn_t *txn = NULL;
    bool installed = false;
    store_err err = store_begin(hub->store, true, &txn);

    if (err == STORE_OK)
        err = catalogue_install_default(txn, rk_wall_ms(), &installed, why, why_len);
    if (err == STORE_OK)
        err = store_commit(&txn);
    else
        store_abort(&txn);
    if (err == STORE_OK && (err = store_begin(hub->store, false, &txn)) == STORE_OK) {
        catalogue_refresh(hub, txn);
        store_abort(&txn);
    }
    if (err == STORE_OK && hub->cat == NULL) {
        rk_why(why, why_len, "cannot load the procedure catalogue (see the log above)");
        return HUB_EIO;
    }
    if (err != STORE_OK) {
        if (err != STORE_EINVAL)
            rk_why(why, why_len, "cannot install the default procedure catalogue: %s", store_strerror(err));
        return err == STORE_ENOMEM ? HUB_ENOMEM : HUB_EIO;
    }
    if (installed)
        hub_log(hub->log, HUB_LOG_NOTICE, "installed the default procedure catalogue");
    return HUB_OK;
}

static store_txn_t *turn_txn(hub_t *hub)
{
    store_err err;
    if (hub->txn != NULL || hub->txn_failed)
        return hub->txn;
    err = store_begin(hub->store, true, &hub->txn);
    if (err != STORE_OK) {
        hub_log(hub->log, HUB_LOG_ERR, "cannot begin a store transaction: %s", store_strerror(err));
        hub->txn_failed = true;
        hub->txn = NULL;
        return NULL;
    }
    catalogue_refresh(hub, hub->txn);
    return hub->txn;
}

static item_t *new_item(hub_t *hub, item_kind kind, const conn_rid_t *rid, const char *from)
{
    item_t *it = &hub->items[hub->n_items++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->rid = *rid;
    snprintf(it->from, sizeof it->from, "%s", from);
    return it;
}

static void log_refusal(hub_t *hub, const char *from, const route_out_t *r)
{
    hub_log(hub->log, HUB_LOG_NOTICE, "refused %s from %s to %s type %s: %s", rk_status_name(r->status), from,
            r->to[0] ? r->to : "-", r->type[0] ? r->type : "-", r->detail);
}

/* Records a refusal on the routing log, in the turn's transaction. */
static void audit_refusal(hub_t *hub, const char *from, const route_out_t *r)
{
    store_txn_t *txn = turn_txn(hub);
    audit_msg_t m = {
        .event = RK_EV_REFUSED, .from = from, .to = r->to, .type = r->type,
        .msg_id = r->has_msg_id ? r->msg_id : NULL, .outcome = r->status, .size = r->size_class,
    };
    store_err err;
    if (txn == NULL)
        return; /* the turn failed: its refusals say so to their senders */
    if ((err = audit_log_msg(txn, &m, rk_wall_ms(), NULL)) != STORE_OK) {
        hub_log(hub->log, HUB_LOG_ERR, "cannot record a refusal on the routing log: %s", store_strerror(err));
        turn_failed(hub, err);
    }
}

/*
 * Counted refusals.  A frame that cannot be read, or an envelope refused
 * before its sender's signature was checked (it does not decode, is too
 * large, names another sender, comes from a suspended sender, or its
 * signature does not verify), is nobody's authentic message: the
 * authenticated org could send a million of them, and one routing-log entry
 * and one log line each would grow the log without bound.  So only the
 * first of each kind from an org is recorded and logged on its own; those
 * that follow within QUIET_MS are counted, and each interval that counted
 * some ends in one routing-log entry per kind (EV_REFUSED with `count`) and
 * one log line per org (looked at every second, and when the hub stops:
 * record_counts).  The same goes for frames refused for their connection
 * (refuse_conn).  Every frame still gets its Result.  Refusals of authentic
 * messages (UNKNOWN_RECIPIENT, NOT_PERMITTED, ...) keep an entry each: they
 * are what auditors follow.  A hub that is killed loses the counts of the
 * intervals still running.
 */
static bool counted_status(rk_status st)
{
    return st == RK_ST_MALFORMED || st == RK_ST_VERSION_UNSUPPORTED || st == RK_ST_TOO_LARGE ||
           st == RK_ST_FROM_MISMATCH || st == RK_ST_SENDER_SUSPENDED || st == RK_ST_BAD_SIGNATURE;
}

/* Whether a counted refusal of kind key from org is the first of an
 * interval (record and log it on its own) or is counted. */
static bool first_of_kind(hub_t *hub, const char *org, int key)
{
    return conns_quiet_note(hub->conns, org, key, rk_mono_ms(), QUIET_MS);
}

/* A frame that could not be read: answered after the turn; the first of
 * its kind in an interval is recorded and logged, the rest are counted. */
static void refuse_frame(hub_t *hub, const conn_rid_t *rid, const char *from, rk_wire_err werr,
                         const char *why, const uint8_t *msg_id)
{
    item_t *it = new_item(hub, ITEM_ROUTED, rid, from);
    if (msg_id != NULL) {
        it->route.has_msg_id = true;
        memcpy(it->route.msg_id, msg_id, RK_MSGID_LEN);
    }
    it->route.status = werr == RK_WIRE_EVERSION ? RK_ST_VERSION_UNSUPPORTED
                       : werr == RK_WIRE_ESIZE  ? RK_ST_TOO_LARGE
                                                : RK_ST_MALFORMED;
    snprintf(it->route.detail, sizeof it->route.detail, "%s", why[0] ? why : rk_wire_strerror(werr));
    if (first_of_kind(hub, from, (int)it->route.status))
        audit_refusal(hub, from, &it->route); /* and end_turn logs it */
    else
        it->logged = true;
}

/* A frame refused for the connection it came on (see the top of this
 * file): answered, logged, recorded, never read. */
static void refuse_conn(hub_t *hub, const inframe_t *x)
{
    item_t *it = new_item(hub, ITEM_ROUTED, &x->rid, x->from);
    conn_org_t *owner;

    it->logged = true;
    if (x->conn == CONN_NOMEM) {
        it->route.status = RK_ST_INTERNAL;
        snprintf(it->route.detail, sizeof it->route.detail, "hub out of memory; send again later");
        hub_log(hub->log, HUB_LOG_ERR, "out of memory checking the connection of %s; refused its frame",
                x->from);
        return;
    }
    it->route.status = RK_ST_FORBIDDEN;
    if (x->conn == CONN_CHOSEN_ID) {
        snprintf(it->route.detail, sizeof it->route.detail,
                 "this connection chose its own routing id (ZMQ_ROUTING_ID); the hub serves only connections "
                 "whose routing id it assigned: connect again without one");
        if (!first_of_kind(hub, x->from, RK_ST_FORBIDDEN))
            return;
        hub_log(hub->log, HUB_LOG_WARNING,
                "refused FORBIDDEN from %s: its connection chose its own routing id; nothing from it is read "
                "and nothing is pushed to it",
                x->from);
    } else {
        /* Another org's connection had this id: it has gone, and whoever
         * holds the id now is not that org.  Nothing more goes to it. */
        snprintf(it->route.detail, sizeof it->route.detail,
                 "this connection's routing id belongs to another organization's connection; connect again "
                 "without choosing one");
        owner = conns_org(hub->conns, x->owner, false);
        if (owner != NULL) {
            conns_drop_receiver(owner, &x->rid);
            conns_mark(hub->conns, owner);
        }
        snprintf(it->route.to, sizeof it->route.to, "%s", x->owner);
        if (!first_of_kind(hub, x->from, QUIET_TAKEOVER))
            return;
        hub_log(hub->log, HUB_LOG_WARNING,
                "refused FORBIDDEN from %s: a takeover attempt on a connection of %s (same routing id); %s's "
                "receiver on it is dropped",
                x->from, x->owner, x->owner);
    }
    audit_refusal(hub, x->from, &it->route);
}

static void on_send(hub_t *hub, const conn_rid_t *rid, const char *from, const rk_envelope_t *env,
                    const verify_job_t *job)
{
    item_t *it = new_item(hub, ITEM_ROUTED, rid, from);
    store_txn_t *txn;
    route_in_t in = {
        .from = from,
        .env = env,
        .max_what = hub->cfg.max_what,
        .queue_limit = hub->cfg.queue_limit,
        .ttl = &hub->cfg.ttl,
        .now_ms = rk_wall_ms(),
        .checked_pk = job != NULL ? job->pk : NULL,
        .checked_ok = job != NULL && job->ok,
        .checked_alt_pk = job != NULL && job->has_alt ? job->alt_pk : NULL,
        .checked_alt_ok = job != NULL && job->alt_ok,
        .conn_key = rid->has_key ? rid->key : NULL,
    };

    if (rk_mono_ms() < hub->full_until_ms) {
        route_describe(env, &it->route);
        it->route.status = RK_ST_STORE_FULL;
        snprintf(it->route.detail, sizeof it->route.detail,
                 "the hub's store is full; nothing was accepted, send again later");
        return;
    }
    txn = turn_txn(hub);
    if (txn == NULL) {
        route_describe(env, &it->route);
        it->route.status = hub->turn_full ? RK_ST_STORE_FULL : RK_ST_INTERNAL;
        snprintf(it->route.detail, sizeof it->route.detail, "hub storage unavailable; send again later");
        return;
    }
    in.txn = txn;
    in.cat = hub->cat; /* as turn_txn loaded it for this turn */
    route_message(&in, &it->route);
    if (it->route.store_failed)
        turn_failed(hub, it->route.store_full ? STORE_EFULL : STORE_EIO);
    else if (it->route.status != RK_ST_ACCEPTED) {
        if (!counted_status(it->route.status) || first_of_kind(hub, from, (int)it->route.status))
            audit_refusal(hub, from, &it->route); /* and end_turn logs it */
        else
            it->logged = true;
    } else if (!it->route.duplicate)
        touch(hub, it->route.to);
}

static bool sender_org(hub_t *hub, const char *from, org_t *org)
{
    store_txn_t *txn = turn_txn(hub);
    return txn != NULL && store_org_get(txn, from, org) == STORE_OK;
}

/* Whether the connection rid came on closed after a frame of it was read
 * when n_closed was `seen`. */
static bool closed_since(const hub_t *hub, const conn_rid_t *rid, uint64_t seen)
{
    return rid->fd >= 0 && (size_t)rid->fd < hub->cap_closed && hub->closed_at[rid->fd] > seen;
}

static void on_hello(hub_t *hub, const conn_rid_t *rid, const char *from, bool receive, uint64_t closed_seen)
{
    item_t *it = new_item(hub, ITEM_FRAME, rid, from);
    org_t org;
    it->frame.kind = RK_HF_WELCOME;
    snprintf(it->frame.u.welcome.org, sizeof it->frame.u.welcome.org, "%s", from);
    if (sender_org(hub, from, &org))
        snprintf(it->frame.u.welcome.kind, sizeof it->frame.u.welcome.kind, "%s", org_kind_name(org.kind));
    it->frame.u.welcome.hub_time_ms = rk_wall_ms();
    it->frame.u.welcome.max_payload = (uint32_t)hub->cfg.max_what;
    it->frame.u.welcome.restored_at = hub->restored_at;
    it->frame.u.welcome.restored_backup_ms = hub->restored_backup_ms;
    if (hub->cfg.hub_key != NULL) {
        it->frame.u.welcome.has_hub_key = true;
        it->frame.u.welcome.hub_key = *hub->cfg.hub_key;
    }
    if (receive && closed_since(hub, rid, closed_seen)) {
        hub_log(hub->log, HUB_LOG_INFO, "%s's receiver closed its connection before its hello was handled",
                from);
    } else if (receive) {
        if (!conns_add_receiver(hub->conns, from, rid))
            hub_log(hub->log, HUB_LOG_ERR, "out of memory registering the receiver of %s", from);
        else
            hub_log(hub->log, HUB_LOG_INFO, "%s connected as receiver", from);
    }
}

static void on_enroll(hub_t *hub, const conn_rid_t *rid, const char *from, uint64_t req_id)
{
    item_t *it = new_item(hub, ITEM_ENROLLED, rid, from);
    uint8_t id_code[STORE_IDCODE_LEN];
    org_t org;
    store_err err;

    it->frame.kind = RK_HF_ENROLLED;
    it->frame.u.enrolled.req_id = req_id;
    if (turn_txn(hub) == NULL) {
        it->frame.u.enrolled.status = hub->turn_full ? RK_ST_STORE_FULL : RK_ST_INTERNAL;
        snprintf(it->frame.u.enrolled.detail, sizeof it->frame.u.enrolled.detail,
                 "hub storage unavailable; enroll again later");
    } else if (!sender_org(hub, from, &org) || org.status != ORG_ACTIVE) {
        it->frame.u.enrolled.status = RK_ST_SENDER_SUSPENDED;
        snprintf(it->frame.u.enrolled.detail, sizeof it->frame.u.enrolled.detail, "%s is suspended", from);
    } else if (org.kind != ORG_MUNICIPALITY) {
        it->frame.u.enrolled.status = RK_ST_NOT_PERMITTED;
        snprintf(it->frame.u.enrolled.detail, sizeof it->frame.u.enrolled.detail,
                 "only municipalities enroll residents; %s is a %s", from, org_kind_name(org.kind));
    } else if ((err = store_person_new_id(hub->txn, from, it->frame.u.enrolled.code, id_code)) != STORE_OK ||
               (err = store_person_home_set(hub->txn, id_code, from)) != STORE_OK ||
               (err = audit_log_enrolled(hub->txn, from, rk_wall_ms(), id_code)) != STORE_OK) {
        it->frame.u.enrolled.status = err == STORE_EFULL ? RK_ST_STORE_FULL : RK_ST_INTERNAL;
        snprintf(it->frame.u.enrolled.detail, sizeof it->frame.u.enrolled.detail,
                 "hub storage failed (%s); enroll again later", store_strerror(err));
        turn_failed(hub, err);
    } else {
        it->frame.u.enrolled.status = RK_ST_ACCEPTED;
    }
    sodium_memzero(id_code, sizeof id_code);
    if (it->frame.u.enrolled.status != RK_ST_ACCEPTED)
        hub_log(hub->log, HUB_LOG_NOTICE, "refused enrollment %s from %s: %s",
                rk_status_name(it->frame.u.enrolled.status), from, it->frame.u.enrolled.detail);
}

typedef struct dir_build {
    rk_dir_t dir;
    size_t cap;
    bool oom;
} dir_build_t;

static int add_dir_entry(const org_t *org, void *ctx)
{
    dir_build_t *b = ctx;
    rk_dir_entry_t *e;
    if (b->dir.n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        rk_dir_entry_t *n = realloc(b->dir.orgs, cap * sizeof *n);
        if (n == NULL) {
            b->oom = true;
            return 1;
        }
        b->dir.orgs = n;
        b->cap = cap;
    }
    e = &b->dir.orgs[b->dir.n++];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", org->id);
    snprintf(e->kind, sizeof e->kind, "%s", org_kind_name(org->kind));
    e->active = org->status == ORG_ACTIVE;
    memcpy(e->sign_key, org->sign_pk, RK_KEY_LEN);
    /* Listed after the overlap too: what the hub accepted under it during
     * the overlap may still wait in a queue, and must still verify. */
    if (org->prev_until_ms != 0) {
        e->has_prev = true;
        memcpy(e->prev_sign_key, org->prev_sign_pk, RK_KEY_LEN);
        e->prev_until_ms = org->prev_until_ms;
    }
    return 0;
}

/* Routing-log readers: answered from the turn's transaction. */
static void on_log_request(hub_t *hub, const conn_rid_t *rid, const char *from, const rk_client_frame_t *f)
{
    item_t *it = new_item(hub, ITEM_FRAME, rid, from);
    store_txn_t *txn = turn_txn(hub);
    org_t org;
    uint64_t req_id = f->kind == RK_CF_LOG_READ     ? f->u.log_read.req_id
                      : f->kind == RK_CF_CHECKPOINT ? f->u.checkpoint.req_id
                      : f->kind == RK_CF_PROOF      ? f->u.proof.req_id
                                                    : f->u.disclose.req_id;
    rk_hf_kind answer = f->kind == RK_CF_CHECKPOINT ? RK_HF_CHECKPOINT
                        : f->kind == RK_CF_PROOF    ? RK_HF_PROOF
                                                    : RK_HF_LOG;
    if (txn == NULL || store_org_get(txn, from, &org) != STORE_OK || org.status != ORG_ACTIVE) {
        /* Answered in the kind of frame that was asked for, so the asker
         * hears the reason instead of waiting for its timeout. */
        if (txn == NULL)
            audit_status_answer(&it->frame, answer, req_id, RK_ST_INTERNAL, "hub storage unavailable; ask again later");
        else
            audit_status_answer(&it->frame, answer, req_id, RK_ST_SENDER_SUSPENDED, "this organization is suspended");
        return;
    }
    switch (f->kind) {
    case RK_CF_LOG_READ:
        audit_read(txn, org.kind, req_id, f->u.log_read.start, f->u.log_read.count, &it->frame);
        break;
    case RK_CF_CHECKPOINT: {
        /* on request: a checkpoint covering everything logged so far */
        store_err err = audit_checkpoint(txn, hub->cfg.log_origin, hub->id, rk_wall_ms(), false);
        if (err != STORE_OK) {
            hub_log(hub->log, HUB_LOG_ERR, "cannot make a checkpoint: %s", store_strerror(err));
            turn_failed(hub, err);
            audit_status_answer(&it->frame, RK_HF_CHECKPOINT, req_id, RK_ST_INTERNAL, NULL);
            return;
        }
        audit_checkpoint_get(txn, req_id, &it->frame);
        break;
    }
    case RK_CF_PROOF:
        audit_proof(txn, from, org.kind, req_id, f->u.proof.index, f->u.proof.tree_size, f->u.proof.old_size,
                    &it->frame);
        break;
    default:
        audit_disclose(txn, from, org.kind, req_id, f->u.disclose.code, &it->frame);
        if (it->frame.u.log.status == RK_ST_FORBIDDEN || it->frame.u.log.status == RK_ST_NOT_FOUND)
            hub_log(hub->log, HUB_LOG_NOTICE, "refused a disclosure request from %s: %s", from,
                    rk_status_name(it->frame.u.log.status));
        break;
    }
    if (it->frame.kind == RK_HF_LOG && it->frame.u.log.status == RK_ST_FORBIDDEN)
        hub_log(hub->log, HUB_LOG_NOTICE, "refused FORBIDDEN from %s: %s", from, it->frame.u.log.detail);
}

static void on_directory(hub_t *hub, const conn_rid_t *rid, const char *from, uint64_t req_id)
{
    store_txn_t *txn = turn_txn(hub);
    dir_build_t b;
    item_t *it;

    memset(&b, 0, sizeof b);
    b.dir.time_ms = rk_wall_ms();
    if (txn == NULL || store_org_list(txn, add_dir_entry, &b) != STORE_OK || b.oom ||
        catalogue_export(txn, &b.dir.catalogue, &b.dir.catalogue_len) != STORE_OK) {
        hub_log(hub->log, HUB_LOG_ERR,
                "cannot list organizations and the catalogue for %s's directory request", from);
        rk_dir_clear(&b.dir);
        return;
    }
    it = new_item(hub, ITEM_FRAME, rid, from);
    if (rk_dir_seal(&b.dir, hub->id->sign_sk, req_id, &it->frame) != RK_WIRE_OK) {
        hub_log(hub->log, HUB_LOG_ERR, "cannot sign the directory (out of memory)");
        hub->n_items--;
    }
    rk_dir_clear(&b.dir);
}

/* The recipient's agent refused a delivered message: the sender gets a
 * durable REFUSED_BY_RECIPIENT notice (msgstate_refused_by_recipient). */
static void on_reject(hub_t *hub, const char *from, const rk_reject_t *rj)
{
    store_txn_t *txn = turn_txn(hub);
    msgstate_out_t out;
    store_err err;

    if (txn == NULL)
        return; /* the agent sends it again with its next connection's redelivery */
    err = msgstate_refused_by_recipient(txn, from, rj, rk_wall_ms(), &hub->cfg.ttl, &out);
    if (err != STORE_OK) {
        hub_log(hub->log, HUB_LOG_ERR, "cannot record %s's reject: %s", from, store_strerror(err));
        turn_failed(hub, err);
        return;
    }
    if (out.event == MSGSTATE_REJECT_IGNORED)
        hub_log(hub->log, HUB_LOG_NOTICE, "ignored a reject from %s: %s sent it no message with that id",
                from, rj->to);
    if (out.told)
        touch(hub, out.sender);
    if (out.event == MSGSTATE_REFUSED) {
        metrics_turn_refused_by_recipient(hub->cfg.metrics);
        hub_log(hub->log, HUB_LOG_NOTICE, "%s refused seq %llu from %s: %s", from,
                (unsigned long long)out.seq, out.sender, rk_status_name(rj->reason));
    }
}

/* Notes that o acknowledged in this turn. */
static void note_acked(hub_t *hub, conn_org_t *o)
{
    for (size_t i = 0; i < hub->n_acked; i++)
        if (hub->acked[i] == o)
            return;
    if (hub->n_acked == hub->cap_acked) {
        size_t cap = hub->cap_acked ? hub->cap_acked * 2 : 64;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
        conn_org_t **a = realloc(hub->acked, cap * sizeof *a);
        if (a == NULL) {
            hub->acked_overflow = true;
            return;
        }
        hub->acked = a;
        hub->cap_acked = cap;
    }
    hub->acked[hub->n_acked++] = o;
}

/* The turn's acknowledgements were rolled back: the agents believe them
 * made, and the entries sit behind the push cursor, where nothing would
 * push them again until they expired and their senders were told EXPIRED.
 * The cursor starts again from the head after the back-off (the agent's
 * inbox drops the copies and acknowledges them again); not at once, so a
 * full store is not hammered with the same acks every turn. */
static void redo_acked(conn_org_t *o, void *ctx)
{
    (void)ctx;
    if (o->redo_at_ms == 0)
        o->redo_at_ms = rk_mono_ms() + FULL_BACKOFF_MS;
}

/* The agent committed these entries of its queue: remove them; for each
 * delivered message, its sender gets a DELIVERED notice (msgstate_delivered). */
static void on_ack(hub_t *hub, const char *from, const uint64_t *seqs, size_t n)
{
    store_txn_t *txn = turn_txn(hub);
    conn_org_t *o = conns_org(hub->conns, from, false);
    uint64_t now = rk_wall_ms();
    size_t taken = 0;

    if (o != NULL)
        note_acked(hub, o);
    if (txn == NULL)
        return; /* not removed: the entries are pushed again and acked again */
    for (size_t i = 0; i < n; i++) {
        msgstate_out_t out;
        store_err err = msgstate_delivered(txn, from, seqs[i], now, &hub->cfg.ttl, &out);
        if (err != STORE_OK) {
            hub_log(hub->log, HUB_LOG_ERR, "cannot record %s's acknowledgement: %s", from,
                    store_strerror(err));
            turn_failed(hub, err);
            return;
        }
        if (out.told)
            touch(hub, out.sender);
        if (out.event == MSGSTATE_DELIVERED) {
            metrics_turn_delivered(hub->cfg.metrics);
            hub_log(hub->log, HUB_LOG_INFO, "delivered seq %llu from %s to %s type %s",
                    (unsigned long long)out.seq, out.sender, from, out.type);
        }
        if (out.taken)
            taken++;
    }
    if (o != NULL) {
        o->inflight = o->inflight > taken ? o->inflight - taken : 0;
        o->last_progress_ms = rk_mono_ms();
        conns_mark(hub->conns, o);
    }
}

/* Reads one frame from the router into x (werr says whether it decoded).
 * Returns 0 when there is nothing more to read, 1 for a frame to handle, 2
 * for one that was dropped (nothing to answer). */
static int read_frame(hub_t *hub, inframe_t *x)
{
    zmq_msg_t rid_msg, body;
    const char *user, *chosen, *key;
    int more, got = 2;
    size_t more_len = sizeof more;

    zmq_msg_init(&rid_msg);
    if (zmq_msg_recv(&rid_msg, hub->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&rid_msg);
        return 0;
    }
    zmq_msg_init(&body);
    if (zmq_msg_recv(&body, hub->router, 0) < 0) {
        /* ROUTER delivers a message whole: nothing left to drain. */
        zmq_msg_close(&rid_msg);
        zmq_msg_close(&body);
        return 2;
    }
    /* Anything after the body frame makes the message malformed: drain it,
     * whatever else is wrong, so the next read starts at a routing id. */
    more = 0;
    zmq_getsockopt(hub->router, ZMQ_RCVMORE, &more, &more_len);
    x->f.kind = RK_CF_NONE;
    x->job = NULL;
    x->why[0] = '\0';
    x->has_msg_id = false;
    x->conn = CONN_OK;
    x->owner[0] = '\0';
    x->closed_seen = hub->n_closed;
    if (zmq_msg_size(&rid_msg) == 0 || zmq_msg_size(&rid_msg) > CONNS_RID_MAX) {
        zmq_msg_close(&rid_msg);
        zmq_msg_close(&body);
        goto drain;
    }
    x->rid.len = (uint8_t)zmq_msg_size(&rid_msg);
    memcpy(x->rid.id, zmq_msg_data(&rid_msg), x->rid.len);
    zmq_msg_close(&rid_msg);

    user = zmq_msg_gets(&body, "User-Id");
    if (user == NULL || !rk_valid_name(user)) {
        /* Cannot happen with the ZAP handler installed; never route it. */
        hub_log(hub->log, HUB_LOG_ERR, "dropped a frame without an authenticated organization");
        zmq_msg_close(&body);
        goto drain;
    }
    snprintf(x->from, sizeof x->from, "%s", user);
    metrics_seen(hub->cfg.metrics, x->from, rk_wall_ms());
    got = 1;
    /* The socket it came in on (libzmq's per-connection "__fd" property;
     * -1 if absent), and the id the peer announced, "" if none. */
    x->rid.fd = zmq_msg_get(&body, ZMQ_SRCFD);
    key = zmq_msg_gets(&body, KEY_PROPERTY);
    x->rid.has_key =
        key != NULL && sodium_hex2bin(x->rid.key, RK_KEY_LEN, key, strlen(key), NULL, NULL, NULL) == 0;
    if (x->rid.has_key)
        live_note(hub, x->rid.fd, x->from, x->rid.key, x->closed_seen);
    chosen = zmq_msg_gets(&body, "Identity");
    if (!conns_rid_auto(&x->rid) || (chosen != NULL && chosen[0] != '\0')) {
        x->conn = CONN_CHOSEN_ID;
    } else {
        conn_org_t *owner = NULL;
        switch (conns_bind(hub->conns, &x->rid, x->from, &owner)) {
        case CONNS_BOUND_NEW:
        case CONNS_BOUND_SAME: break;
        case CONNS_BOUND_OTHER:
            x->conn = CONN_TAKEOVER;
            snprintf(x->owner, sizeof x->owner, "%s", owner->org);
            break;
        default: x->conn = CONN_NOMEM; break;
        }
    }
    if (x->conn != CONN_OK) {
        x->werr = RK_WIRE_OK; /* refused unread: see refuse_conn */
        zmq_msg_close(&body);
        goto drain;
    }
    if (more) {
        x->werr = RK_WIRE_EDECODE;
        snprintf(x->why, sizeof x->why, "a message must be exactly one frame");
        sodium_memzero(zmq_msg_data(&body), zmq_msg_size(&body));
        zmq_msg_close(&body);
        goto drain;
    }
    x->werr = rk_client_frame_decode(zmq_msg_data(&body), zmq_msg_size(&body), &x->f, x->why, sizeof x->why);
    x->has_msg_id = x->werr != RK_WIRE_OK &&
                    rk_client_frame_peek_msg_id(zmq_msg_data(&body), zmq_msg_size(&body), x->msg_id);
    sodium_memzero(zmq_msg_data(&body), zmq_msg_size(&body)); /* the envelope, in the clear */
    zmq_msg_close(&body);
    return 1;

drain:
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        if (zmq_msg_recv(&extra, hub->router, 0) < 0)
            more = 0;
        else
            zmq_getsockopt(hub->router, ZMQ_RCVMORE, &more, &more_len);
        sodium_memzero(zmq_msg_data(&extra), zmq_msg_size(&extra));
        zmq_msg_close(&extra);
    }
    return got;
}

/* Adds to b what the router holds now, up to `batch` frames. */
static void read_frames(hub_t *hub, inbatch_t *b)
{
    int got;
    while (b->n < hub->cfg.batch && (got = read_frame(hub, &b->fr[b->n])) != 0)
        if (got == 1)
            b->n++;
}

/* Whether every frame of b is an acknowledgement or a reject. */
static bool acks_only(const inbatch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->fr[i].werr != RK_WIRE_OK || (b->fr[i].f.kind != RK_CF_ACK && b->fr[i].f.kind != RK_CF_REJECT))
            return false;
    return true;
}

/* Reads up to `batch` frames into b and hands the signature checks of its
 * Send frames to the verify pool: each under the key the store holds for
 * its sender now (the turn checks again if that key changes meanwhile).
 * Acks and rejects count as frames too, or a stream of them would hold a
 * turn's transaction open, and every answer back, for as long as it lasts.
 * may_wait: no other batch waits to be handled, so a batch of acks only
 * may wait a moment for more frames. */
static void read_batch(hub_t *hub, inbatch_t *b, bool may_wait)
{
    store_txn_t *rtxn = NULL;
    const char *last = NULL;
    org_t org;
    bool have = false;

    b->n = b->n_jobs = 0;
    read_frames(hub, b);
    if (may_wait && b->n > 0 && b->n < hub->cfg.batch && acks_only(b)) {
        /* Nothing in it is answered, and a recipient's reply often follows
         * its ack within microseconds: wait a moment, so that one commit
         * (one disk flush) holds both instead of the reply waiting for the
         * ack's.  Only when no other batch waits to be handled. */
        zmq_pollitem_t it = {hub->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, ACK_LINGER_MS) > 0)
            read_frames(hub, b);
    }
    for (size_t i = 0; i < b->n; i++) {
        inframe_t *x = &b->fr[i];
        verify_job_t *j;
        if (x->werr != RK_WIRE_OK || x->f.kind != RK_CF_SEND)
            continue;
        if (last == NULL || strcmp(last, x->from) != 0) {
            if (rtxn == NULL && store_begin(hub->store, false, &rtxn) != STORE_OK)
                break; /* the turn checks them itself */
            have = store_org_get(rtxn, x->from, &org) == STORE_OK;
            last = x->from;
        }
        if (!have)
            continue; /* unknown sender: the turn refuses it */
        j = &b->jobs[b->n_jobs++];
        j->env = &x->f.u.send;
        memcpy(j->pk, org.sign_pk, RK_KEY_LEN);
        j->has_alt = org.prev_until_ms != 0;
        if (j->has_alt)
            memcpy(j->alt_pk, org.prev_sign_pk, RK_KEY_LEN);
        j->ok = j->alt_ok = false;
        x->job = j;
    }
    store_abort(&rtxn);
    verify_pool_start(hub->verify, b->jobs, b->n_jobs);
}

/* Whether the connection rid authenticated as org with a key that org no
 * longer admits (the operator replaced it, or the overlap of its
 * replacement is over): such a connection is closed, and nothing from it
 * handled or answered.  A suspended org keeps its key; its frames get
 * SENDER_SUSPENDED until the sweep closes its connections. */
static const char *key_replaced(hub_t *hub, const conn_rid_t *rid, const char *org)
{
    store_txn_t *txn;
    org_t o;

    if (!rid->has_key || (txn = turn_txn(hub)) == NULL || store_org_get(txn, org, &o) != STORE_OK)
        return NULL;
    return key_unadmitted(&o, rid->key, rk_wall_ms());
}

/* Runs each frame of b through its handler in the turn's transaction. */
static void handle_batch(hub_t *hub, inbatch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        inframe_t *x = &b->fr[i];
        rk_client_frame_t *f = &x->f;
        const char *stale = x->conn == CONN_OK ? key_replaced(hub, &x->rid, x->from) : NULL;
        if (stale != NULL) {
            /* Not answered: a refusal would make its sender drop the
             * message, which it sends again once connected with its
             * current key. */
            conn_org_t *owner = conns_org(hub->conns, x->from, false);
            if (owner != NULL)
                conns_drop_receiver(owner, &x->rid);
            close_conn(hub, x->rid.fd, x->closed_seen, x->from, stale);
            rk_client_frame_clear(f);
            x->job = NULL;
            continue;
        }
        if (x->conn != CONN_OK) {
            refuse_conn(hub, x);
            continue;
        }
        if (x->werr != RK_WIRE_OK) {
            refuse_frame(hub, &x->rid, x->from, x->werr, x->why, x->has_msg_id ? x->msg_id : NULL);
            continue;
        }
        switch (f->kind) {
        case RK_CF_HELLO: on_hello(hub, &x->rid, x->from, f->u.hello.receive, x->closed_seen); break;
        case RK_CF_SEND: on_send(hub, &x->rid, x->from, &f->u.send, x->job); break;
        case RK_CF_ENROLL: on_enroll(hub, &x->rid, x->from, f->u.enroll.req_id); break;
        case RK_CF_DIRECTORY: on_directory(hub, &x->rid, x->from, f->u.directory.req_id); break;
        case RK_CF_REJECT: on_reject(hub, x->from, &f->u.reject); break;
        case RK_CF_ACK: on_ack(hub, x->from, f->u.ack.seq, f->u.ack.n); break;
        case RK_CF_LOG_READ:
        case RK_CF_CHECKPOINT:
        case RK_CF_PROOF:
        case RK_CF_DISCLOSE: on_log_request(hub, &x->rid, x->from, f); break;
        default: break;
        }
        rk_client_frame_clear(f);
        x->job = NULL;
    }
    b->n = b->n_jobs = 0;
}

/* ------------------------------------------------------------------ pushing */

typedef struct push_ctx {
    hub_t *hub;
    conn_org_t *o;
    int rc; /* 0, or why pushing stopped */
} push_ctx_t;

static int push_one(const queue_meta_t *meta, const uint8_t *frame, size_t len, void *ctx)
{
    push_ctx_t *p = ctx;
    p->rc = send_bytes(p->hub, &p->o->recv[0], frame, len);
    if (p->rc != 0)
        return 1;
    p->o->sent_upto = meta->seq;
    p->o->inflight++;
    p->o->last_progress_ms = rk_mono_ms();
    return p->o->inflight >= p->hub->cfg.window;
}

typedef enum receiver_state {
    RECV_CURRENT, /* may be handed deliveries */
    RECV_HOLD,    /* its org is suspended: nothing is pushed until reactivated */
    RECV_GONE,    /* its key was replaced or its org removed: dropped for good */
} receiver_state;

/* Whether o's current receiver may be handed deliveries.  A key changed
 * while it was connected closes it to deliveries at once, whether or not
 * it sends anything; a suspension holds them back for as long as it
 * lasts (frames from it meanwhile are refused SENDER_SUSPENDED). */
static receiver_state receiver_current(hub_t *hub, conn_org_t *o, store_txn_t *rtxn)
{
    org_t org;
    store_err err = store_org_get(rtxn, o->org, &org);

    if (err != STORE_OK && err != STORE_ENOTFOUND)
        return RECV_CURRENT; /* cannot tell: the queue read will say what is wrong */
    if (err == STORE_OK && o->recv[0].has_key && !org_key_admitted(&org, o->recv[0].key, rk_wall_ms())) {
        hub_log(hub->log, HUB_LOG_NOTICE,
                "a receiver of %s was dropped: it authenticated with a key the organization no longer holds",
                o->org);
        return RECV_GONE;
    }
    if (err == STORE_ENOTFOUND) {
        hub_log(hub->log, HUB_LOG_NOTICE,
                "a receiver of %s was dropped: the organization is no longer registered", o->org);
        return RECV_GONE;
    }
    return org.status == ORG_ACTIVE ? RECV_CURRENT : RECV_HOLD;
}

/* Pushes o's queued frames after its cursor to its current receiver, up to
 * the window; moves on to the next receiver when one is gone. */
static void push(hub_t *hub, conn_org_t *o, store_txn_t *rtxn)
{
    while (o->n_recv > 0 && o->inflight < hub->cfg.window) {
        push_ctx_t p = {hub, o, 0};
        store_err err;
        if (conns_owner(hub->conns, &o->recv[0]) != o) {
            /* receivers are registered only on ids bound to their org:
             * a guard, never expected to fire */
            hub_log(hub->log, HUB_LOG_ERR, "a receiver of %s is not bound to it; dropped", o->org);
            conns_drop_receiver(o, &o->recv[0]);
            continue;
        }
        switch (receiver_current(hub, o, rtxn)) {
        case RECV_CURRENT: break;
        case RECV_HOLD:
            /* looked at again by the sweep, and pushed once reactivated */
            if (o->redo_at_ms == 0)
                o->redo_at_ms = rk_mono_ms() + HOLD_RETRY_MS;
            return;
        case RECV_GONE:
            conns_drop_receiver(o, &o->recv[0]); /* the next one starts at the head */
            continue;
        }
        err = store_queue_scan(rtxn, o->org, o->sent_upto, push_one, &p);
        if (err != STORE_OK) {
            hub_log(hub->log, HUB_LOG_ERR, "cannot read %s's queue: %s", o->org, store_strerror(err));
            return;
        }
        if (p.rc == EHOSTUNREACH) {
            conns_drop_receiver(o, &o->recv[0]);
            hub_log(hub->log, HUB_LOG_INFO, "a receiver of %s went away", o->org);
            continue;
        }
        if (p.rc == EAGAIN)
            conns_mark(hub->conns, o); /* its pipe is full: try again next turn */
        return;
    }
}

static void push_marked(hub_t *hub)
{
    conn_org_t *batch[64];
    store_txn_t *rtxn = NULL;
    size_t n;

    watch_closed(hub);
    for (size_t i = 0; i < hub->n_touched; i++) {
        conn_org_t *o = conns_org(hub->conns, hub->touched[i], false);
        if (o != NULL)
            conns_mark(hub->conns, o);
    }
    hub->n_touched = 0;
    while ((n = conns_take_marked(hub->conns, batch, 64)) > 0) {
        if (rtxn == NULL && store_begin(hub->store, false, &rtxn) != STORE_OK) {
            hub_log(hub->log, HUB_LOG_ERR, "cannot open a read transaction to deliver; trying again shortly");
            for (size_t i = 0; i < n; i++)
                conns_mark(hub->conns, batch[i]); /* taken off the list: put back */
            return;
        }
        for (size_t i = 0; i < n; i++)
            push(hub, batch[i], rtxn);
    }
    store_abort(&rtxn);
}

/* Whether a routing-log answer says something about the store's contents
 * (a refusal by permission holds whatever the store did). */
static bool depends_on_turn(rk_status st)
{
    return st != RK_ST_FORBIDDEN && st != RK_ST_SENDER_SUSPENDED && st != RK_ST_INTERNAL &&
           st != RK_ST_STORE_FULL;
}

/* A routing-log answer was read from the turn's transaction: entries,
 * proofs and a checkpoint signed over entries of this very turn.  If the
 * turn did not commit, none of that exists; a signed checkpoint of it would
 * contradict every later one.  The asker is told to ask again instead. */
static void unsay_log_answer(hub_t *hub, rk_hub_frame_t *f)
{
    rk_hf_kind kind = f->kind;
    uint64_t req_id;
    rk_status st;

    switch (kind) {
    case RK_HF_LOG: st = f->u.log.status; req_id = f->u.log.req_id; break;
    case RK_HF_CHECKPOINT: st = f->u.checkpoint.status; req_id = f->u.checkpoint.req_id; break;
    case RK_HF_PROOF: st = f->u.proof.status; req_id = f->u.proof.req_id; break;
    default: return;
    }
    if (!depends_on_turn(st))
        return;
    rk_hub_frame_clear(f);
    audit_status_answer(f, kind, req_id, hub->turn_full ? RK_ST_STORE_FULL : RK_ST_INTERNAL,
                        "hub storage failed; ask again later");
}

/* Commits the turn, then answers the senders and pushes what was queued. */
static void end_turn(hub_t *hub)
{
    bool committed = !hub->txn_failed;
    double commit_s = -1;
    if (hub->txn != NULL) {
        struct timespec t0, t1;
        store_err err;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        err = store_commit(&hub->txn);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        commit_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (err != STORE_OK) {
            hub_log(hub->log, HUB_LOG_ERR, "commit failed: %s; refusing this turn's %zu frames",
                    store_strerror(err), hub->n_items);
            if (err == STORE_EFULL) {
                hub->turn_full = true;
                hub->full_until_ms = rk_mono_ms() + FULL_BACKOFF_MS;
            }
            committed = false;
        }
    }
    metrics_turn_end(hub->cfg.metrics, commit_s, committed);
    if (!committed) {
        hub->n_touched = 0;
        if (hub->acked_overflow)
            conns_each(hub->conns, redo_acked, NULL);
        else
            for (size_t i = 0; i < hub->n_acked; i++)
                redo_acked(hub->acked[i], NULL);
    }
    hub->n_acked = 0;
    hub->acked_overflow = false;
    for (size_t i = 0; i < hub->n_items; i++) {
        item_t *it = &hub->items[i];
        switch (it->kind) {
        case ITEM_FRAME:
            if (!committed)
                unsay_log_answer(hub, &it->frame);
            (void)send_to(hub, &it->rid, &it->frame);
            break;
        case ITEM_ENROLLED:
            if (!committed && it->frame.u.enrolled.status == RK_ST_ACCEPTED) {
                it->frame.u.enrolled.status = hub->turn_full ? RK_ST_STORE_FULL : RK_ST_INTERNAL;
                snprintf(it->frame.u.enrolled.detail, sizeof it->frame.u.enrolled.detail,
                         "hub storage failed; enroll again later");
            }
            (void)send_to(hub, &it->rid, &it->frame);
            break;
        case ITEM_ROUTED:
            if (!committed && it->route.status == RK_ST_ACCEPTED) {
                it->route.status = hub->turn_full ? RK_ST_STORE_FULL : RK_ST_INTERNAL;
                snprintf(it->route.detail, sizeof it->route.detail,
                         "%s; nothing was accepted, send again later",
                         hub->turn_full ? "the hub's store is full" : "hub storage failed");
            }
            if (it->route.status != RK_ST_ACCEPTED) {
                if (!it->logged)
                    log_refusal(hub, it->from, &it->route);
            } else if (!it->route.duplicate) {
                hub_log(hub->log, HUB_LOG_INFO,
                        "accepted seq %llu from %s to %s type %s%s%s (size class %zu)",
                        (unsigned long long)it->route.seq, it->from, it->route.to, it->route.type,
                        it->route.is_reply ? " reply" : "", it->route.first_contact ? " first-contact" : "",
                        it->route.size_class);
            }
            metrics_routed(hub->cfg.metrics, it->route.status, it->route.duplicate);
            send_result(hub, &it->rid, &it->route);
            break;
        }
        rk_hub_frame_clear(&it->frame);
        sodium_memzero(&it->route, sizeof it->route);
    }
    hub->n_items = 0;
    hub->txn_failed = false;
    hub->turn_full = false;
    push_marked(hub);
}

/* ------------------------------------------------------------ periodic work */

/* Counted refusals taken off conns, to be recorded (see counted_status). */
typedef struct quiet_sum {
    char org[RK_ID_MAX + 1];
    int key;
    uint64_t count;
} quiet_sum_t;

typedef struct quiet_sums {
    quiet_sum_t *s;
    size_t n, cap;
    uint64_t lost; /* out of memory: counted, but not recorded */
} quiet_sums_t;

static void take_sum(const char *org, int key, uint64_t count, void *ctx)
{
    quiet_sums_t *q = ctx;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        quiet_sum_t *s = realloc(q->s, cap * sizeof *s);
        if (s == NULL) {
            q->lost += count;
            return;
        }
        q->s = s;
        q->cap = cap;
    }
    snprintf(q->s[q->n].org, sizeof q->s[q->n].org, "%s", org);
    q->s[q->n].key = key;
    q->s[q->n].count = count;
    q->n++;
}

static rk_status sum_status(int key)
{
    return key == QUIET_TAKEOVER ? RK_ST_FORBIDDEN : (rk_status)key;
}

/* Appends one EV_REFUSED entry per sum, each with its count. */
static store_err record_sums(store_txn_t *txn, const quiet_sums_t *q, uint64_t now)
{
    for (size_t i = 0; i < q->n; i++) {
        rk_log_entry_t e;
        uint8_t *buf = NULL;
        size_t len = 0;
        store_err err;
        memset(&e, 0, sizeof e);
        e.time_ms = now;
        e.event = RK_EV_REFUSED;
        snprintf(e.from, sizeof e.from, "%s", q->s[i].org);
        e.outcome = sum_status(q->s[i].key);
        e.count = q->s[i].count > UINT32_MAX ? UINT32_MAX : (uint32_t)q->s[i].count;
        if (rk_log_entry_encode(&e, &buf, &len) != RK_WIRE_OK)
            return STORE_ENOMEM;
        err = store_log_append(txn, buf, len, NULL);
        free(buf);
        if (err != STORE_OK)
            return err;
    }
    return STORE_OK;
}

/* One log line per org for its recorded sums. */
static void log_sums(hub_t *hub, const quiet_sums_t *q)
{
    if (q->lost > 0)
        hub_log(hub->log, HUB_LOG_ERR, "out of memory: %llu counted refusals were not recorded",
                (unsigned long long)q->lost);
    for (size_t i = 0; i < q->n;) {
        char kinds[512] = "";
        size_t used = 0, j = i;
        uint64_t total = 0;
        for (; j < q->n && strcmp(q->s[j].org, q->s[i].org) == 0; j++) {
            int w = snprintf(kinds + used, sizeof kinds - used, "%s%s %llu", j > i ? ", " : "",
                             q->s[j].key == QUIET_TAKEOVER ? "takeover attempts" : rk_status_name(sum_status(q->s[j].key)),
                             (unsigned long long)q->s[j].count);
            if (w > 0 && (size_t)w < sizeof kinds - used)
                used += (size_t)w;
            total += q->s[j].count;
        }
        hub_log(hub->log, HUB_LOG_NOTICE,
                "refused %llu more frames from %s that could not be read or verified, counted since the "
                "first "
                "of each kind was logged: %s",
                (unsigned long long)total, q->s[i].org, kinds);
        i = j;
    }
}

/* Puts sums that could not be recorded back, to be recorded later. */
static void restore_sums(hub_t *hub, const quiet_sums_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        if (!conns_quiet_add(hub->conns, q->s[i].org, q->s[i].key, q->s[i].count, rk_mono_ms()))
            hub_log(hub->log, HUB_LOG_ERR, "out of memory: %llu counted refusals from %s were not recorded",
                    (unsigned long long)q->s[i].count, q->s[i].org);
}

/* Records the counts of the intervals that are over (all of them when the
 * hub stops), in a transaction of their own: one that fails on a full
 * store must not hold back the sweep that frees room. */
static void record_counts(hub_t *hub, bool all)
{
    quiet_sums_t q = {NULL, 0, 0, 0};
    store_txn_t *txn = NULL;
    store_err err;

    conns_quiet_take(hub->conns, rk_mono_ms(), QUIET_MS, all, take_sum, &q);
    if (q.n == 0 && q.lost == 0)
        return;
    err = store_begin(hub->store, true, &txn);
    if (err == STORE_OK)
        err = record_sums(txn, &q, rk_wall_ms());
    if (err == STORE_OK)
        err = store_commit(&txn);
    else
        store_abort(&txn);
    if (err == STORE_OK) {
        log_sums(hub, &q);
    } else if (all) {
        hub_log(hub->log, HUB_LOG_ERR, "cannot record the counted refusals before stopping: %s",
                store_strerror(err));
    } else {
        hub_log(hub->log, HUB_LOG_ERR, "cannot record counted refusals: %s; trying again shortly",
                store_strerror(err));
        restore_sums(hub, &q);
    }
    free(q.s);
}

typedef struct stall_ctx {
    hub_t *hub;
    uint64_t now;
} stall_ctx_t;

/* No ack for a while, or acks that were lost with a failed turn: push
 * again from the head of the queue. */
static void restart_stalled(conn_org_t *o, void *ctx)
{
    stall_ctx_t *s = ctx;
    bool redo = o->redo_at_ms != 0 && s->now >= o->redo_at_ms;
    bool stalled = o->n_recv > 0 && o->inflight > 0 && s->now - o->last_progress_ms >= s->hub->cfg.resend_ms;
    if (redo && o->n_recv == 0)
        o->redo_at_ms = 0; /* the next receiver's hello starts from the head */
    else if (redo || stalled) {
        o->redo_at_ms = 0;
        o->sent_upto = 0;
        o->inflight = 0;
        o->last_progress_ms = s->now;
        conns_mark(s->hub->conns, o);
    }
}

/* Deletes expired entries (telling their senders) and old message ids. */
static void sweep(hub_t *hub)
{
    uint64_t now = rk_wall_ms();
    stall_ctx_t sc = {hub, rk_mono_ms()};
    store_txn_t *txn = NULL;
    msgstate_out_t out;
    store_err err = STORE_OK;
    size_t n = 0, purged = 0;
    uint64_t expired = 0;

    conns_each(hub->conns, restart_stalled, &sc);
    if (store_begin(hub->store, true, &txn) != STORE_OK)
        return;
    while (n < hub->sweep_max && (err = msgstate_expired(txn, now, &hub->cfg.ttl, &out)) == STORE_OK) {
        n++;
        if (out.told)
            touch(hub, out.sender);
        if (out.event == MSGSTATE_EXPIRED)
            expired++;
        if (out.event == MSGSTATE_NOTICE_DROPPED)
            hub_log(hub->log, HUB_LOG_WARNING,
                    "dropped a notice for %s about a message to %s: not collected in time", out.sender,
                    out.recipient);
        else
            hub_log(hub->log, HUB_LOG_NOTICE,
                    "expired seq %llu from %s to %s type %s: not delivered in %llu s",
                    (unsigned long long)out.seq, out.sender, out.recipient, out.type,
                    (unsigned long long)((now - out.accepted_ms) / 1000));
    }
    if (err == STORE_ENOTFOUND)
        err = STORE_OK;
    if (err == STORE_OK)
        err = store_msg_purge(txn, now, hub->sweep_max, &purged);
    if (err == STORE_OK && sc.now - hub->last_checkpoint_ms >= hub->cfg.checkpoint_ms) {
        /* a new checkpoint only if the log grew */
        err = audit_checkpoint(txn, hub->cfg.log_origin, hub->id, now, false);
        hub->last_checkpoint_ms = sc.now;
    }
    if (err == STORE_OK)
        err = store_commit(&txn);
    else
        store_abort(&txn);
    if (err != STORE_OK) {
        hub_log(hub->log, HUB_LOG_ERR, "expiry sweep failed: %s; trying again shortly", store_strerror(err));
        hub->n_touched = 0;
        /* A full store: a smaller batch frees room a little at a time
         * instead of rolling the same large batch back every second. */
        if (err == STORE_EFULL && hub->sweep_max > 1)
            hub->sweep_max /= 2;
        return;
    }
    hub->sweep_max = SWEEP_MAX;
    metrics_expired(hub->cfg.metrics, expired);
    push_marked(hub);
}

/* ------------------------------------------------------------------ ZAP */

/* Answers one ZAP request: admits a CURVE key registered for an active
 * organization, with the org id as User-Id. */
static void zap_handle(hub_t *hub)
{
    char frames[8][256];
    size_t lens[8];
    int n = 0, more = 1;
    size_t more_len = sizeof more;
    const char *status = "400", *text = "key not registered";
    char user[RK_ID_MAX + 1] = "";
    /* metadata: one property, the key that was admitted (see key_of) */
    uint8_t meta[1 + sizeof KEY_PROPERTY - 1 + 4 + (size_t)2 * RK_KEY_LEN + 1];
    size_t meta_len = 0;
    store_txn_t *txn = NULL;
    org_t org;
    bool curve;

    /* Every connection that closed before this one was accepted is known
     * before this one is admitted. */
    watch_closed(hub);
    while (more) {
        int rc = zmq_recv(hub->zap, n < 8 ? frames[n] : frames[7], 255, 0);
        if (rc < 0)
            return;
        if (n < 8)
            lens[n++] = (size_t)rc > 255 ? 255 : (size_t)rc;
        zmq_getsockopt(hub->zap, ZMQ_RCVMORE, &more, &more_len);
    }
    /* version, request id, domain, address, routing id, mechanism, credentials */
    /* The "routing id" frame is the hub socket's own option in libzmq 4.3,
     * not the peer's: a peer's chosen id is caught on its frames instead
     * (see the top of this file). */
    curve = n >= 7 && lens[5] == 5 && memcmp(frames[5], "CURVE", 5) == 0 && lens[6] == RK_KEY_LEN;
    if (curve && store_begin(hub->store, false, &txn) != STORE_OK) {
        /* Not the key's fault: say so, or the agent would call it unregistered. */
        status = "300";
        text = "hub storage unavailable";
    } else if (curve) {
        store_err err = store_org_by_curve(txn, (const uint8_t *)frames[6], &org);
        bool admitted = err == STORE_OK && org_key_admitted(&org, (const uint8_t *)frames[6], rk_wall_ms());
        store_abort(&txn);
        if (admitted && org.status == ORG_ACTIVE) {
            status = "200";
            text = "OK";
            snprintf(user, sizeof user, "%s", org.id);
            meta[0] = (uint8_t)(sizeof KEY_PROPERTY - 1);
            memcpy(meta + 1, KEY_PROPERTY, sizeof KEY_PROPERTY - 1);
            meta_len = 1 + sizeof KEY_PROPERTY - 1;
            meta[meta_len++] = 0;
            meta[meta_len++] = 0;
            meta[meta_len++] = 0;
            meta[meta_len++] = 2 * RK_KEY_LEN;
            sodium_bin2hex((char *)meta + meta_len, 2 * RK_KEY_LEN + 1, (const uint8_t *)frames[6],
                           RK_KEY_LEN);
            meta_len += (size_t)2 * RK_KEY_LEN;
        } else if (err == STORE_OK && !admitted) {
            text = "key replaced: the organization holds a new key";
        } else if (err == STORE_OK) {
            text = "organization suspended";
        } else if (err != STORE_ENOTFOUND) {
            status = "300";
            text = "hub storage unavailable";
        }
    }
    if (n >= 4)
        frames[3][lens[3] < 255 ? lens[3] : 254] = '\0';
    if (status[0] == '2')
        hub_log(hub->log, HUB_LOG_INFO, "admitted %s from %s", user, n >= 4 ? frames[3] : "?");
    else
        hub_log(hub->log, HUB_LOG_NOTICE, "refused a connection from %s: %s", n >= 4 ? frames[3] : "?", text);

    /* version, request id, status code, status text, user id, metadata */
    {
        const void *reply[6] = {"1.0", n >= 2 ? frames[1] : "", status, text, user, meta};
        size_t reply_len[6] = {3, n >= 2 ? lens[1] : 0, 3, strlen(text), strlen(user), meta_len};
        for (int i = 0; i < 6; i++) {
            int rc;
            do
                rc = zmq_send(hub->zap, reply[i], reply_len[i], i < 5 ? ZMQ_SNDMORE : 0);
            while (rc < 0 && zmq_errno() == EINTR);
            if (rc < 0) {
                /* The connection then waits for an answer that never comes
                 * and is dropped at the end of its handshake; the hub goes
                 * on serving everyone else. */
                hub_log(hub->log, HUB_LOG_ERR,
                        "could not answer the admission check of a connection from %s (%s): it is "
                        "neither admitted nor refused, and ends when its handshake times out",
                        n >= 4 ? frames[3] : "?", zmq_strerror(zmq_errno()));
                return;
            }
        }
    }
}

/* ------------------------------------------------------------------ lifecycle */

static hub_err write_ready_file(const char *path, const char *endpoint, char *why, size_t why_len)
{
    char tmp[4096];
    FILE *fp;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        rk_why(why, why_len, "ready-file path too long");
        return HUB_EIO;
    }
    fp = fopen(tmp, "w");
    if (fp == NULL || fprintf(fp, "%s\n", endpoint) < 0 || fclose(fp) != 0 || rename(tmp, path) != 0) {
        rk_why(why, why_len, "cannot write ready file %s: %s", path, strerror(errno));
        return HUB_EIO;
    }
    return HUB_OK;
}

/* Worker threads for signature checks: as asked, or one per CPU beyond the
 * first that runs the loop (at least one, at most eight). */
static size_t verify_threads(int asked)
{
    long cpus;
    if (asked >= 0)
        return (size_t)asked;
    cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus <= 2)
        return 1;
    return cpus - 1 > 8 ? 8 : (size_t)(cpus - 1);
}

hub_err hub_new(const hub_config_t *cfg, store_t *store, const rk_identity_t *identity, const hub_log_t *log,
                hub_t **out, char *why, size_t why_len)
{
    hub_t *hub;
    int one = 1, zero = 0, linger = 1000, hb_ivl = 5000, hb_timeout = 15000;
    char monitor_ep[64];
    int64_t maxmsg = RK_FRAME_CEILING;
    size_t ep_len;
    hub_err err = HUB_EZMQ;

    *out = NULL;
    hub = calloc(1, sizeof *hub);
    if (hub == NULL)
        return HUB_ENOMEM;
    hub->cfg = *cfg;
    if (hub->cfg.batch == 0)
        hub->cfg.batch = 256;
    if (hub->cfg.window == 0)
        hub->cfg.window = 256;
    if (hub->cfg.resend_ms == 0)
        hub->cfg.resend_ms = 30000;
    if (hub->cfg.queue_limit == 0)
        hub->cfg.queue_limit = 100000;
    if (hub->cfg.ttl.default_ms == 0)
        policy_ttl_init(&hub->cfg.ttl);
    if (hub->cfg.checkpoint_ms == 0)
        hub->cfg.checkpoint_ms = 5000;
    if (hub->cfg.log_origin == NULL)
        hub->cfg.log_origin = "renkei-hub";
    hub->store = store;
    hub->sweep_max = SWEEP_MAX;
    hub->id = identity;
    hub->log = log;
    hub->items = calloc(hub->cfg.batch, sizeof *hub->items);
    for (int i = 0; i < 2; i++) {
        hub->in[i].fr = calloc(hub->cfg.batch, sizeof *hub->in[i].fr);
        hub->in[i].jobs = calloc(hub->cfg.batch, sizeof *hub->in[i].jobs);
    }
    hub->verify = verify_pool_new(verify_threads(cfg->verify_threads));
    hub->conns = conns_new();
    hub->zctx = zmq_ctx_new();
    /* Each frame in a block of its own, wiped and freed once read: by
     * default ZeroMQ decrypts frames inside its long-lived receive buffer,
     * where their plaintext would stay until overwritten. */
    if (hub->zctx != NULL && zmq_ctx_set(hub->zctx, RK_ZMQ_ZERO_COPY_RECV, 0) != 0)
        hub_log(log, HUB_LOG_WARNING, "ZeroMQ keeps received frames in its receive buffer: %s",
                zmq_strerror(errno));
    if (hub->items == NULL || hub->in[0].fr == NULL || hub->in[0].jobs == NULL || hub->in[1].fr == NULL ||
        hub->in[1].jobs == NULL || hub->verify == NULL || hub->conns == NULL || hub->zctx == NULL) {
        err = HUB_ENOMEM;
        rk_why(why, why_len, "out of memory");
        goto fail;
    }
    /* libzmq starts a ROUTER's counter of the routing ids it assigns at
     * rand() and never seeds rand(): unseeded, every hub hands out the same
     * ids in the same order, and anyone can name the id of, say, the
     * hub's second connection in advance.  Nothing else here uses rand(). */
    srand((unsigned int)randombytes_random());
    /* The ZAP handler must be bound before any CURVE handshake. */
    hub->zap = zmq_socket(hub->zctx, ZMQ_REP);
    if (hub->zap == NULL || zmq_bind(hub->zap, ZAP_ENDPOINT) != 0) {
        rk_why(why, why_len, "cannot install the ZAP handler: %s", zmq_strerror(errno));
        goto fail;
    }
    hub->router = zmq_socket(hub->zctx, ZMQ_ROUTER);
    if (hub->router == NULL ||
        zmq_setsockopt(hub->router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(hub->router, ZMQ_CURVE_SECRETKEY, identity->curve_sk, RK_KEY_LEN) != 0 ||
        zmq_setsockopt(hub->router, ZMQ_ZAP_DOMAIN, "renkei", 6) != 0 ||
        zmq_setsockopt(hub->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(hub->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(hub->router, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(hub->router, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl) != 0 ||
        zmq_setsockopt(hub->router, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout) != 0) {
        rk_why(why, why_len, "cannot set up the CURVE server socket: %s", zmq_strerror(errno));
        goto fail;
    }
    /* Connections that close, by socket, before anything is bound. */
    snprintf(monitor_ep, sizeof monitor_ep, MONITOR_ENDPOINT, (void *)hub);
    hub->monitor = zmq_socket(hub->zctx, ZMQ_PAIR);
    if (zmq_socket_monitor(hub->router, monitor_ep, ZMQ_EVENT_DISCONNECTED) != 0 || hub->monitor == NULL ||
        zmq_setsockopt(hub->monitor, ZMQ_RCVHWM, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(hub->monitor, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_connect(hub->monitor, monitor_ep) != 0) {
        rk_why(why, why_len, "cannot watch the server socket's connections: %s", zmq_strerror(errno));
        goto fail;
    }
    if ((err = record_restore(hub, why, why_len)) != HUB_OK ||
        (err = catalogue_start(hub, why, why_len)) != HUB_OK)
        goto fail;
    if (zmq_bind(hub->router, cfg->bind) != 0) {
        rk_why(why, why_len, "cannot bind %s: %s", cfg->bind, zmq_strerror(errno));
        err = HUB_EBIND;
        goto fail;
    }
    ep_len = sizeof hub->endpoint;
    if (zmq_getsockopt(hub->router, ZMQ_LAST_ENDPOINT, hub->endpoint, &ep_len) != 0)
        snprintf(hub->endpoint, sizeof hub->endpoint, "%s", cfg->bind);
    if (cfg->ready_file != NULL && (err = write_ready_file(cfg->ready_file, hub->endpoint, why, why_len)) != HUB_OK)
        goto fail;
    *out = hub;
    return HUB_OK;
fail:
    hub_destroy(&hub);
    return err;
}

/* The orgs of the open connections, sorted, for one metrics_publish. */
typedef struct live_orgs {
    hub_t *hub;
    const char **org; /* into hub->live[].org; NULL if out of memory */
    size_t n;
} live_orgs_t;

static int cmp_org(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether org has a connection open: a receiver, or any connection whose
 * frames named it and that has not closed (metrics_connected_fn). */
static bool org_connected(const char *org, void *ctx)
{
    live_orgs_t *l = ctx;
    conn_org_t *o = conns_org(l->hub->conns, org, false);

    if (o != NULL && o->n_recv > 0)
        return true;
    return l->org != NULL && bsearch(&org, l->org, l->n, sizeof *l->org, cmp_org) != NULL;
}

/* Publishes the figures of the store and the connections (hub/metrics.h). */
static void publish_metrics(hub_t *hub)
{
    live_orgs_t l = {hub, NULL, 0};

    if (hub->cfg.metrics == NULL)
        return;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
    l.org = hub->cap_live > 0 ? malloc(hub->cap_live * sizeof *l.org) : NULL;
    for (size_t fd = 0; l.org != NULL && fd < hub->cap_live; fd++)
        if (hub->live[fd].used)
            l.org[l.n++] = hub->live[fd].org;
    if (l.org != NULL)
        qsort(l.org, l.n, sizeof *l.org, cmp_org);
    metrics_publish(hub->cfg.metrics, hub->store, org_connected, &l);
    free(l.org);
}

hub_err hub_run(hub_t *hub, volatile sig_atomic_t *stop)
{
    zmq_pollitem_t items[3] = {
        {hub->router, 0, ZMQ_POLLIN, 0},
        {hub->zap, 0, ZMQ_POLLIN, 0},
        {hub->monitor, 0, ZMQ_POLLIN, 0},
    };
    metrics_turned(hub->cfg.metrics, hub->full_until_ms); /* the loop starts */
    /* Whatever waited in the queues before a restart goes out as soon as
     * its receiver says hello; expired entries are reported at once. */
    sweep(hub);
    hub->last_sweep_ms = rk_mono_ms();
    publish_metrics(hub);
    while (!*stop) {
        inbatch_t *cur = &hub->in[hub->cur], *next = &hub->in[!hub->cur];
        int rc;
        metrics_turned(hub->cfg.metrics, hub->full_until_ms);
        if (hub->cfg.tick != NULL) {
            hub->cfg.tick(hub->cfg.tick_ctx);
            if (*stop)
                break;
        }
        rc = zmq_poll(items, 3, cur->n > 0 ? 0 : POLL_MS);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            hub_log(hub->log, HUB_LOG_ERR, "poll failed: %s", zmq_strerror(errno));
            metrics_stopping(hub->cfg.metrics);
            return HUB_EZMQ;
        }
        if (items[2].revents & ZMQ_POLLIN)
            watch_closed(hub);
        if (items[1].revents & ZMQ_POLLIN)
            zap_handle(hub);
        if (items[0].revents & ZMQ_POLLIN)
            read_batch(hub, next, cur->n == 0); /* checked meanwhile */
        if (cur->n > 0) {
            handle_batch(hub, cur);
            end_turn(hub);
        }
        if (next->n > 0) {
            verify_pool_wait(hub->verify);
            hub->cur = !hub->cur;
        }
        if (rk_mono_ms() - hub->last_sweep_ms >= SWEEP_EVERY_MS) {
            close_unadmitted(hub);
            sweep(hub);
            record_counts(hub, false);
            publish_metrics(hub);
            hub->last_sweep_ms = rk_mono_ms();
        } else {
            push_marked(hub); /* pipes that were full may have room now */
        }
    }
    metrics_stopping(hub->cfg.metrics);
    record_counts(hub, true);
    return HUB_OK;
}

void hub_reconfigure(hub_t *hub, const policy_ttl_t *ttl, uint64_t queue_limit)
{
    const catalogue_t *cat = hub->cfg.ttl.cat; /* the catalogue's own ttl stays */
    hub->cfg.ttl = *ttl;
    if (hub->cfg.ttl.default_ms == 0)
        policy_ttl_init(&hub->cfg.ttl);
    hub->cfg.ttl.cat = cat;
    hub->cfg.queue_limit = queue_limit != 0 ? queue_limit : 100000;
}

const char *hub_endpoint(const hub_t *hub)
{
    return hub->endpoint;
}

void hub_destroy(hub_t **hubp)
{
    hub_t *hub;
    if (hubp == NULL || *hubp == NULL)
        return;
    hub = *hubp;
    store_abort(&hub->txn);
    if (hub->router != NULL)
        zmq_close(hub->router);
    if (hub->monitor != NULL)
        zmq_close(hub->monitor);
    if (hub->zap != NULL)
        zmq_close(hub->zap);
    if (hub->zctx != NULL)
        zmq_ctx_term(hub->zctx);
    conns_destroy(&hub->conns);
    catalogue_free(&hub->cat);
    verify_pool_destroy(&hub->verify);
    for (int i = 0; i < 2; i++) {
        for (size_t j = 0; j < hub->in[i].n; j++)
            rk_client_frame_clear(&hub->in[i].fr[j].f);
        free(hub->in[i].fr);
        free(hub->in[i].jobs);
    }
    free(hub->items);
    free(hub->touched);
    free(hub->acked);
    free(hub->closed_at);
    free(hub->live);
    free(hub);
    *hubp = NULL;
}
