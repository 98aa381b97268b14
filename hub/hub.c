/*
 * hub.c - sockets, ZAP handler and the event loop.
 */
#include "hub.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "conns.h"
#include "route.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define POLL_MS 500
#define REQUEST_SLOTS 16384

/* One thing a loop turn produced, sent after the commit. */
typedef enum item_kind {
    ITEM_FRAME,   /* a ready frame that does not depend on the commit */
    ITEM_ROUTED,  /* a routed message: result (+ delivery) */
    ITEM_ENROLLED /* an enrollment: valid only if the commit succeeds */
} item_kind;

typedef struct item {
    item_kind kind;
    conn_rid_t rid;              /* the connection that sent the frame */
    char from[RK_ID_MAX + 1];    /* the org that authenticated */
    rk_hub_frame_t frame;        /* ITEM_FRAME, ITEM_ENROLLED */
    route_out_t route;           /* ITEM_ROUTED */
} item_t;

struct hub {
    hub_config_t cfg;
    store_t *store;
    const rk_identity_t *id;
    const hub_log_t *log;
    void *zctx;
    void *router;
    void *zap;
    conns_t *conns;
    char endpoint[256];
    item_t *items;
    size_t n_items;
    store_txn_t *txn; /* open only during a turn */
    bool txn_failed;
};

static void why_f(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why_f(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || why_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------ sending */

/* Sends one encoded frame to a connection.  Returns 0, or the errno
 * (EHOSTUNREACH: the peer is gone; EAGAIN: its queue is full). */
static int send_to(hub_t *hub, const conn_rid_t *rid, const rk_hub_frame_t *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = 0;

    if (rk_hub_frame_encode(f, &buf, &len) != RK_WIRE_OK) {
        hub_log(hub->log, LOG_ERR, "cannot encode a frame (out of memory?)");
        return ENOMEM;
    }
    if (zmq_send(hub->router, rid->id, rid->len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(hub->router, buf, len, ZMQ_DONTWAIT) < 0)
        rc = errno;
    free(buf);
    return rc;
}

static void send_result(hub_t *hub, const conn_rid_t *rid, const route_out_t *r, const char *peer,
                        rk_status cause)
{
    rk_hub_frame_t f;
    memset(&f, 0, sizeof f);
    f.kind = RK_HF_RESULT;
    f.u.result.has_msg_id = r->has_msg_id;
    memcpy(f.u.result.msg_id, r->msg_id, RK_MSGID_LEN);
    f.u.result.status = r->status;
    snprintf(f.u.result.detail, sizeof f.u.result.detail, "%s", r->detail);
    f.u.result.seq = r->status == RK_ST_ACCEPTED ? r->seq : 0;
    if (peer != NULL)
        snprintf(f.u.result.peer, sizeof f.u.result.peer, "%s", peer);
    f.u.result.cause = cause;
    (void)send_to(hub, rid, &f);
}

/* ------------------------------------------------------------------ the turn */

static store_txn_t *turn_txn(hub_t *hub)
{
    store_err err;
    if (hub->txn != NULL || hub->txn_failed)
        return hub->txn;
    err = store_begin(hub->store, true, &hub->txn);
    if (err != STORE_OK) {
        hub_log(hub->log, LOG_ERR, "cannot begin a store transaction: %s", store_strerror(err));
        hub->txn_failed = true;
        hub->txn = NULL;
    }
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
    hub_log(hub->log, LOG_NOTICE, "refused %s from %s to %s type %s: %s", rk_status_name(r->status), from,
            r->to[0] ? r->to : "-", r->type[0] ? r->type : "-", r->detail);
}

/* A frame that could not be read: answered at once, nothing to commit. */
static void refuse_frame(hub_t *hub, const conn_rid_t *rid, const char *from, rk_wire_err werr,
                         const char *why)
{
    item_t *it = new_item(hub, ITEM_ROUTED, rid, from);
    it->route.status = werr == RK_WIRE_EVERSION ? RK_ST_VERSION_UNSUPPORTED
                       : werr == RK_WIRE_ESIZE  ? RK_ST_TOO_LARGE
                                                : RK_ST_MALFORMED;
    snprintf(it->route.detail, sizeof it->route.detail, "%s", why[0] ? why : rk_wire_strerror(werr));
}

static bool online(void *ctx, const char *org)
{
    return conns_receiver(((hub_t *)ctx)->conns, org) != NULL;
}

static void on_send(hub_t *hub, const conn_rid_t *rid, const char *from, const rk_envelope_t *env)
{
    item_t *it = new_item(hub, ITEM_ROUTED, rid, from);
    store_txn_t *txn = turn_txn(hub);
    route_in_t in = {
        .txn = txn, .from = from, .env = env, .max_what = hub->cfg.max_what,
        .online = online, .online_ctx = hub,
    };
    if (txn == NULL) {
        it->route.status = RK_ST_INTERNAL;
        snprintf(it->route.detail, sizeof it->route.detail, "hub storage unavailable; send again later");
        return;
    }
    route_message(&in, &it->route);
    if (it->route.store_failed) {
        /* LMDB transactions are unusable after a failed write. */
        store_abort(&hub->txn);
        hub->txn_failed = true;
    }
}

static bool sender_org(hub_t *hub, const char *from, org_t *org)
{
    store_txn_t *txn = turn_txn(hub);
    return txn != NULL && store_org_get(txn, from, org) == STORE_OK;
}

static void on_hello(hub_t *hub, const conn_rid_t *rid, const char *from, bool receive)
{
    item_t *it = new_item(hub, ITEM_FRAME, rid, from);
    org_t org;
    it->frame.kind = RK_HF_WELCOME;
    snprintf(it->frame.u.welcome.org, sizeof it->frame.u.welcome.org, "%s", from);
    if (sender_org(hub, from, &org))
        snprintf(it->frame.u.welcome.kind, sizeof it->frame.u.welcome.kind, "%s", org_kind_name(org.kind));
    it->frame.u.welcome.hub_time_ms = now_ms();
    it->frame.u.welcome.max_payload = (uint32_t)hub->cfg.max_what;
    if (receive) {
        if (!conns_set_receiver(hub->conns, from, rid))
            hub_log(hub->log, LOG_ERR, "out of memory registering the receiver of %s", from);
        else
            hub_log(hub->log, LOG_INFO, "%s connected as receiver", from);
    }
}

static void on_enroll(hub_t *hub, const conn_rid_t *rid, const char *from, uint64_t req_id)
{
    item_t *it = new_item(hub, ITEM_ENROLLED, rid, from);
    org_t org;
    store_err err;

    it->frame.kind = RK_HF_ENROLLED;
    it->frame.u.enrolled.req_id = req_id;
    if (turn_txn(hub) == NULL) {
        it->frame.u.enrolled.status = RK_ST_INTERNAL;
        snprintf(it->frame.u.enrolled.detail, sizeof it->frame.u.enrolled.detail,
                 "hub storage unavailable; enroll again later");
    } else if (!sender_org(hub, from, &org) || org.status != ORG_ACTIVE) {
        it->frame.u.enrolled.status = RK_ST_SENDER_SUSPENDED;
        snprintf(it->frame.u.enrolled.detail, sizeof it->frame.u.enrolled.detail, "%s is suspended", from);
    } else if (org.kind != ORG_MUNICIPALITY) {
        it->frame.u.enrolled.status = RK_ST_NOT_PERMITTED;
        snprintf(it->frame.u.enrolled.detail, sizeof it->frame.u.enrolled.detail,
                 "only municipalities enroll residents; %s is a %s", from, org_kind_name(org.kind));
    } else if ((err = store_person_new(hub->txn, from, it->frame.u.enrolled.code)) != STORE_OK) {
        it->frame.u.enrolled.status = RK_ST_INTERNAL;
        snprintf(it->frame.u.enrolled.detail, sizeof it->frame.u.enrolled.detail,
                 "hub storage failed (%s); enroll again later", store_strerror(err));
        store_abort(&hub->txn);
        hub->txn_failed = true;
    } else {
        it->frame.u.enrolled.status = RK_ST_ACCEPTED;
    }
    if (it->frame.u.enrolled.status != RK_ST_ACCEPTED)
        hub_log(hub->log, LOG_NOTICE, "refused enrollment %s from %s: %s",
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
    return 0;
}

static void on_directory(hub_t *hub, const conn_rid_t *rid, const char *from, uint64_t req_id)
{
    store_txn_t *txn = turn_txn(hub);
    dir_build_t b;
    item_t *it;

    memset(&b, 0, sizeof b);
    b.dir.time_ms = now_ms();
    if (txn == NULL || store_org_list(txn, add_dir_entry, &b) != STORE_OK || b.oom) {
        hub_log(hub->log, LOG_ERR, "cannot list organizations for %s's directory request", from);
        rk_dir_clear(&b.dir);
        return;
    }
    it = new_item(hub, ITEM_FRAME, rid, from);
    if (rk_dir_seal(&b.dir, hub->id->sign_sk, req_id, &it->frame) != RK_WIRE_OK) {
        hub_log(hub->log, LOG_ERR, "cannot sign the directory (out of memory)");
        hub->n_items--;
    }
    rk_dir_clear(&b.dir);
}

static void on_reject(hub_t *hub, const char *from, const rk_reject_t *rj)
{
    const conn_rid_t *to = conns_find_request(hub->conns, rj->msg_id, rj->to, from);
    route_out_t r;

    if (to == NULL) {
        hub_log(hub->log, LOG_NOTICE, "ignored a reject from %s: no recent message from %s to it has that id",
                from, rj->to);
        return;
    }
    memset(&r, 0, sizeof r);
    r.has_msg_id = true;
    memcpy(r.msg_id, rj->msg_id, RK_MSGID_LEN);
    r.status = RK_ST_REFUSED_BY_RECIPIENT;
    snprintf(r.detail, sizeof r.detail, "%s", rj->detail[0] ? rj->detail : rk_status_text(rj->reason));
    /* The detail is the recipient's own free text: passed on to the sender,
     * never written to the hub's log, which must not carry what it says. */
    hub_log(hub->log, LOG_NOTICE, "%s refused a message from %s: %s", from, rj->to, rk_status_name(rj->reason));
    send_result(hub, to, &r, from, rj->reason);
}

/* Reads one frame from the router and dispatches it. Returns false when
 * there is nothing more to read. */
static bool read_one(hub_t *hub)
{
    zmq_msg_t rid_msg, body;
    conn_rid_t rid;
    rk_client_frame_t f;
    char why[200] = "";
    const char *user;
    char from[RK_ID_MAX + 1];
    rk_wire_err werr;
    int more;
    size_t more_len = sizeof more;

    zmq_msg_init(&rid_msg);
    if (zmq_msg_recv(&rid_msg, hub->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&rid_msg);
        return false;
    }
    zmq_msg_init(&body);
    if (zmq_msg_recv(&body, hub->router, 0) < 0) {
        /* ROUTER delivers a message whole: nothing left to drain. */
        zmq_msg_close(&rid_msg);
        zmq_msg_close(&body);
        return true;
    }
    /* Anything after the body frame makes the message malformed: drain it,
     * whatever else is wrong, so the next read starts at a routing id. */
    more = 0;
    zmq_getsockopt(hub->router, ZMQ_RCVMORE, &more, &more_len);
    if (zmq_msg_size(&rid_msg) == 0 || zmq_msg_size(&rid_msg) > CONNS_RID_MAX) {
        zmq_msg_close(&rid_msg);
        zmq_msg_close(&body);
        goto drain;
    }
    rid.len = (uint8_t)zmq_msg_size(&rid_msg);
    memcpy(rid.id, zmq_msg_data(&rid_msg), rid.len);
    zmq_msg_close(&rid_msg);

    user = zmq_msg_gets(&body, "User-Id");
    if (user == NULL || !rk_valid_name(user)) {
        /* Cannot happen with the ZAP handler installed; never route it. */
        hub_log(hub->log, LOG_ERR, "dropped a frame without an authenticated organization");
        zmq_msg_close(&body);
        goto drain;
    }
    snprintf(from, sizeof from, "%s", user);
    if (more) {
        refuse_frame(hub, &rid, from, RK_WIRE_EDECODE, "a message must be exactly one frame");
        log_refusal(hub, from, &hub->items[hub->n_items - 1].route);
        zmq_msg_close(&body);
        goto drain;
    }
    werr = rk_client_frame_decode(zmq_msg_data(&body), zmq_msg_size(&body), &f, why, sizeof why);
    zmq_msg_close(&body);
    if (werr != RK_WIRE_OK) {
        refuse_frame(hub, &rid, from, werr, why);
        log_refusal(hub, from, &hub->items[hub->n_items - 1].route);
        return true;
    }
    switch (f.kind) {
    case RK_CF_HELLO: on_hello(hub, &rid, from, f.u.hello.receive); break;
    case RK_CF_SEND: on_send(hub, &rid, from, &f.u.send); break;
    case RK_CF_ENROLL: on_enroll(hub, &rid, from, f.u.enroll.req_id); break;
    case RK_CF_DIRECTORY: on_directory(hub, &rid, from, f.u.directory.req_id); break;
    case RK_CF_REJECT: on_reject(hub, from, &f.u.reject); break;
    default: break;
    }
    rk_client_frame_clear(&f);
    return true;

drain:
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        if (zmq_msg_recv(&extra, hub->router, 0) < 0)
            more = 0;
        else
            zmq_getsockopt(hub->router, ZMQ_RCVMORE, &more, &more_len);
        zmq_msg_close(&extra);
    }
    return true;
}

/* Delivers a routed message and answers its sender. */
static void finish_routed(hub_t *hub, item_t *it, bool committed)
{
    route_out_t *r = &it->route;
    const conn_rid_t *target = NULL;
    rk_hub_frame_t f;
    int rc;

    if (r->status == RK_ST_ACCEPTED && !committed) {
        rk_envelope_clear(&r->deliver);
        r->status = RK_ST_INTERNAL;
        r->first_contact = false;
        snprintf(r->detail, sizeof r->detail, "hub storage failed; nothing was routed, send again later");
    }
    if (r->status != RK_ST_ACCEPTED) {
        log_refusal(hub, it->from, r);
        send_result(hub, &it->rid, r, NULL, RK_ST_UNSPECIFIED);
        return;
    }
    if (r->is_reply)
        target = conns_find_request(hub->conns, r->reply_to, r->to, it->from);
    if (target == NULL)
        target = conns_receiver(hub->conns, r->to);

    memset(&f, 0, sizeof f);
    f.kind = RK_HF_DELIVER;
    f.u.deliver.envelope = r->deliver; /* borrowed for the send */
    f.u.deliver.first_contact = r->first_contact;
    f.u.deliver.seq = r->seq;
    rc = target ? send_to(hub, target, &f) : EHOSTUNREACH;
    if (rc == EHOSTUNREACH && r->is_reply && target != NULL) {
        /* The asking connection is gone: the org's receiver takes the reply. */
        const conn_rid_t *recv = conns_receiver(hub->conns, r->to);
        if (recv != NULL && recv != target) {
            target = recv;
            rc = send_to(hub, target, &f);
        }
    }
    if (rc != 0) {
        if (rc == EHOSTUNREACH && target != NULL)
            conns_drop_receiver(hub->conns, r->to, target);
        r->status = RK_ST_RECIPIENT_OFFLINE;
        snprintf(r->detail, sizeof r->detail, "%s %s; nothing was delivered", r->to,
                 rc == EAGAIN ? "is not taking messages fast enough" : "went away");
        log_refusal(hub, it->from, r);
        send_result(hub, &it->rid, r, NULL, RK_ST_UNSPECIFIED);
        return;
    }
    if (!r->is_reply)
        conns_note_request(hub->conns, r->msg_id, it->from, r->to, &it->rid);
    hub_log(hub->log, LOG_INFO, "routed seq %llu from %s to %s type %s%s%s (%zu bytes)",
            (unsigned long long)r->seq, it->from, r->to, r->type, r->is_reply ? " reply" : "",
            r->first_contact ? " first-contact" : "", r->what_len);
    send_result(hub, &it->rid, r, NULL, RK_ST_UNSPECIFIED);
}

/* Commits the turn, then sends everything it produced. */
static void end_turn(hub_t *hub)
{
    bool committed = !hub->txn_failed;
    if (hub->txn != NULL) {
        store_err err = store_commit(&hub->txn);
        if (err != STORE_OK) {
            hub_log(hub->log, LOG_ERR, "commit failed: %s; refusing this turn's %zu frames", store_strerror(err),
                    hub->n_items);
            committed = false;
        }
    }
    for (size_t i = 0; i < hub->n_items; i++) {
        item_t *it = &hub->items[i];
        switch (it->kind) {
        case ITEM_FRAME:
            (void)send_to(hub, &it->rid, &it->frame);
            break;
        case ITEM_ENROLLED:
            if (!committed && it->frame.u.enrolled.status == RK_ST_ACCEPTED) {
                it->frame.u.enrolled.status = RK_ST_INTERNAL;
                snprintf(it->frame.u.enrolled.detail, sizeof it->frame.u.enrolled.detail,
                         "hub storage failed; enroll again later");
            }
            (void)send_to(hub, &it->rid, &it->frame);
            break;
        case ITEM_ROUTED:
            finish_routed(hub, it, committed);
            break;
        }
        rk_hub_frame_clear(&it->frame);
        route_out_clear(&it->route);
    }
    hub->n_items = 0;
    hub->txn_failed = false;
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
    store_txn_t *txn = NULL;
    org_t org;
    bool curve;

    while (more) {
        int rc = zmq_recv(hub->zap, n < 8 ? frames[n] : frames[7], 255, 0);
        if (rc < 0)
            return;
        if (n < 8)
            lens[n++] = (size_t)rc > 255 ? 255 : (size_t)rc;
        zmq_getsockopt(hub->zap, ZMQ_RCVMORE, &more, &more_len);
    }
    /* version, request id, domain, address, routing id, mechanism, credentials */
    curve = n >= 7 && lens[5] == 5 && memcmp(frames[5], "CURVE", 5) == 0 && lens[6] == RK_KEY_LEN;
    if (curve && store_begin(hub->store, false, &txn) != STORE_OK) {
        /* Not the key's fault: say so, or the agent would call it unregistered. */
        status = "300";
        text = "hub storage unavailable";
    } else if (curve) {
        store_err err = store_org_by_curve(txn, (const uint8_t *)frames[6], &org);
        store_abort(&txn);
        if (err == STORE_OK && org.status == ORG_ACTIVE) {
            status = "200";
            text = "OK";
            snprintf(user, sizeof user, "%s", org.id);
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
        hub_log(hub->log, LOG_INFO, "admitted %s from %s", user, n >= 4 ? frames[3] : "?");
    else
        hub_log(hub->log, LOG_NOTICE, "refused a connection from %s: %s", n >= 4 ? frames[3] : "?", text);

    zmq_send(hub->zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(hub->zap, n >= 2 ? frames[1] : "", n >= 2 ? lens[1] : 0, ZMQ_SNDMORE);
    zmq_send(hub->zap, status, 3, ZMQ_SNDMORE);
    zmq_send(hub->zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(hub->zap, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(hub->zap, "", 0, 0);
}

/* ------------------------------------------------------------------ lifecycle */

static hub_err write_ready_file(const char *path, const char *endpoint, char *why, size_t why_len)
{
    char tmp[4096];
    FILE *fp;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        why_f(why, why_len, "ready-file path too long");
        return HUB_EIO;
    }
    fp = fopen(tmp, "w");
    if (fp == NULL || fprintf(fp, "%s\n", endpoint) < 0 || fclose(fp) != 0 || rename(tmp, path) != 0) {
        why_f(why, why_len, "cannot write ready file %s: %s", path, strerror(errno));
        return HUB_EIO;
    }
    return HUB_OK;
}

hub_err hub_new(const hub_config_t *cfg, store_t *store, const rk_identity_t *identity, const hub_log_t *log,
                hub_t **out, char *why, size_t why_len)
{
    hub_t *hub;
    int one = 1, linger = 1000, hb_ivl = 5000, hb_timeout = 15000;
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
    hub->store = store;
    hub->id = identity;
    hub->log = log;
    hub->items = calloc(hub->cfg.batch, sizeof *hub->items);
    hub->conns = conns_new(REQUEST_SLOTS);
    hub->zctx = zmq_ctx_new();
    if (hub->items == NULL || hub->conns == NULL || hub->zctx == NULL) {
        err = HUB_ENOMEM;
        why_f(why, why_len, "out of memory");
        goto fail;
    }
    /* The ZAP handler must be bound before any CURVE handshake. */
    hub->zap = zmq_socket(hub->zctx, ZMQ_REP);
    if (hub->zap == NULL || zmq_bind(hub->zap, ZAP_ENDPOINT) != 0) {
        why_f(why, why_len, "cannot install the ZAP handler: %s", zmq_strerror(errno));
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
        why_f(why, why_len, "cannot set up the CURVE server socket: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_bind(hub->router, cfg->bind) != 0) {
        why_f(why, why_len, "cannot bind %s: %s", cfg->bind, zmq_strerror(errno));
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

hub_err hub_run(hub_t *hub, volatile sig_atomic_t *stop)
{
    zmq_pollitem_t items[2] = {
        {hub->router, 0, ZMQ_POLLIN, 0},
        {hub->zap, 0, ZMQ_POLLIN, 0},
    };
    while (!*stop) {
        int rc = zmq_poll(items, 2, POLL_MS);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            hub_log(hub->log, LOG_ERR, "poll failed: %s", zmq_strerror(errno));
            return HUB_EZMQ;
        }
        if (items[1].revents & ZMQ_POLLIN)
            zap_handle(hub);
        if (items[0].revents & ZMQ_POLLIN) {
            while (hub->n_items < hub->cfg.batch && read_one(hub))
                ;
            end_turn(hub);
        }
    }
    return HUB_OK;
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
    if (hub->zap != NULL)
        zmq_close(hub->zap);
    if (hub->zctx != NULL)
        zmq_ctx_term(hub->zctx);
    conns_destroy(&hub->conns);
    free(hub->items);
    free(hub);
    *hubp = NULL;
}
