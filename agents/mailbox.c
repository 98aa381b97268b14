/*
 * mailbox.c - the agent's outbox and inbox in LMDB.
 *
 * Records are this module's own fixed layout (a version word, a plain C
 * struct, then the variable bytes), read with memcpy because LMDB gives no
 * alignment guarantee.  The data directory belongs to one organization on
 * one machine, so the layout only has to be stable for this build family;
 * the version word lets a later layout refuse an older one clearly.
 */
#include "mailbox.h"
#include "why.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <lmdb.h>
#include <sodium.h>

#define OUT_VERSION 0x52304f31u /* "R0O1" */
#define IN_VERSION 0x52304931u  /* "R0I1" */
#define META_INBOX_NEXT "inbox.next"
#define META_DIRECTORY "directory"
#define IN_KEY_MAX (RK_ID_MAX + 1 + RK_MSGID_LEN)

struct rk_mailbox {
    MDB_env *env;
    MDB_dbi out, pending, in, in_new, in_claimed, meta, out_log;
};

typedef struct out_disk {
    uint32_t version;
    uint32_t waiter_pid;
    rk_msg_status st;
    uint64_t frame_len;
} out_disk;

typedef struct in_disk {
    uint32_t version;
    uint32_t reserved;
    rk_inbox_entry e; /* e.core is NULL on disk; the bytes follow */
} in_disk;

static rk_agent_err lmdb_fail(int rc, const char *what, char *why, size_t why_len)
{
    if (rc == MDB_MAP_FULL) {
        rk_why(why, why_len,
               "the agent's data directory is full (its map size is reached) while %s; "
               "nothing was recorded.  Give the agent a larger map size (--map-size), or "
               "remove old completed messages (renkei-agent purge)",
               what);
        return RK_AGENT_ESTORE;
    }
    rk_why(why, why_len, "agent store: %s failed: %s", what, mdb_strerror(rc));
    return rc == ENOMEM ? RK_AGENT_ENOMEM : RK_AGENT_ESTORE;
}

/* Room a new record must leave behind it: each later state change of the
 * record rewrites it whole (LMDB copies on write), and the trees' pages
 * along the way are copied too. */
#define ROOM_MARGIN ((size_t)64 << 10)

/* Whether the map has room for need bytes more, counting the pages past the
 * end of the data and those on LMDB's free list (read as mdb_stat -f does).
 * Errors count as room: the write itself then says what is wrong. */
static bool room_for(MDB_env *env, size_t need)
{
    MDB_envinfo info;
    MDB_stat est;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t free_pages, pages_needed;
    int rc;

    if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &est) != 0 || est.ms_psize == 0)
        return true;
    pages_needed = need / est.ms_psize + 1;
    free_pages = info.me_mapsize / est.ms_psize;
    free_pages = free_pages > info.me_last_pgno + 1 ? free_pages - (info.me_last_pgno + 1) : 0;
    if (free_pages >= pages_needed)
        return true;
    if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
        return true;
    if (mdb_cursor_open(txn, 0 /* the free list */, &cur) != 0) {
        mdb_txn_abort(txn);
        return true;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && free_pages < pages_needed;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        size_t n;
        if (v.mv_size < sizeof n)
            continue;
        memcpy(&n, v.mv_data, sizeof n); /* an ID list: its length, then the page numbers */
        free_pages += n;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return free_pages >= pages_needed;
}

static rk_agent_err damaged(const char *what, char *why, size_t why_len)
{
    rk_why(why, why_len,
           "agent store: a %s record has an unexpected layout (damaged, or written by "
           "another version?)",
           what);
    return RK_AGENT_ESTORE;
}

bool rk_mailbox_pid_alive(uint32_t pid)
{
    if (pid == 0)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

rk_agent_err rk_mailbox_open(struct MDB_env *env, rk_mailbox_t **out, char *why, size_t why_len)
{
    rk_mailbox_t *mb;
    MDB_txn *txn = NULL;
    int rc;

    *out = NULL;
    mb = calloc(1, sizeof *mb);
    if (mb == NULL) {
        rk_why(why, why_len, "out of memory opening the outbox and inbox");
        return RK_AGENT_ENOMEM;
    }
    mb->env = env;
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
        goto fail;
    if ((rc = mdb_dbi_open(txn, "outbox", MDB_CREATE, &mb->out)) != 0 ||
        (rc = mdb_dbi_open(txn, "outbox.pending", MDB_CREATE, &mb->pending)) != 0 ||
        (rc = mdb_dbi_open(txn, "inbox", MDB_CREATE, &mb->in)) != 0 ||
        (rc = mdb_dbi_open(txn, "inbox.new", MDB_CREATE, &mb->in_new)) != 0 ||
        (rc = mdb_dbi_open(txn, "inbox.claimed", MDB_CREATE, &mb->in_claimed)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &mb->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "outbox.log", MDB_CREATE, &mb->out_log)) != 0) {
        mdb_txn_abort(txn);
        goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        goto fail;
    *out = mb;
    return RK_AGENT_OK;

fail:
    free(mb);
    return lmdb_fail(rc, "opening the outbox and inbox", why, why_len);
}

void rk_mailbox_close(rk_mailbox_t **mb)
{
    if (mb == NULL || *mb == NULL)
        return;
    free(*mb);
    *mb = NULL;
}

/* ------------------------------------------------------------------ outbox records */

static bool terminal(rk_msg_state s)
{
    return s == RK_MSG_ANSWERED || s == RK_MSG_REFUSED || s == RK_MSG_EXPIRED;
}

static void set_complete(rk_msg_status *st)
{
    st->complete = terminal(st->state) || (st->no_reply && st->state == RK_MSG_DELIVERED);
}

static bool transient(rk_status s)
{
    /* RECIPIENT_OFFLINE comes only from hubs before store-and-forward: the
     * message can still go through later. */
    return s == RK_ST_QUEUE_FULL || s == RK_ST_STORE_FULL || s == RK_ST_INTERNAL ||
           s == RK_ST_RECIPIENT_OFFLINE;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

/* true if the bytes at these offsets of a stored record are 0 or 1: any
 * other byte where a bool is stored means a damaged record, and reading it
 * as a bool would be undefined behaviour. */
static bool flags_ok(const MDB_val *v, const size_t *off, size_t n)
{
    const uint8_t *rec = v->mv_data;
    for (size_t i = 0; i < n; i++)
        if (rec[off[i]] > 1)
            return false;
    return true;
}

/* Reads an outbox value into *d; frame (may be NULL) points into it. */
static bool out_decode(const MDB_val *v, out_disk *d, const uint8_t **frame)
{
    static const size_t flags[] = {
        offsetof(out_disk, st) + offsetof(rk_msg_status, no_reply),
        offsetof(out_disk, st) + offsetof(rk_msg_status, is_reply),
        offsetof(out_disk, st) + offsetof(rk_msg_status, complete),
    };
    if (v->mv_size < sizeof *d || !flags_ok(v, flags, sizeof flags / sizeof flags[0]))
        return false;
    memcpy(d, v->mv_data, sizeof *d);
    if (d->version != OUT_VERSION || d->frame_len != v->mv_size - sizeof *d)
        return false;
    d->st.to[RK_ID_MAX] = '\0';
    d->st.type[RK_TYPE_MAX] = '\0';
    d->st.peer[RK_ID_MAX] = '\0';
    d->st.detail[RK_DETAIL_MAX] = '\0';
    if (frame != NULL)
        *frame = (const uint8_t *)v->mv_data + sizeof *d;
    return true;
}

/* Reads msg_id's record in txn.  rc is MDB_NOTFOUND if absent, -1 if
 * damaged. */
static int out_read(rk_mailbox_t *mb, MDB_txn *txn, const uint8_t msg_id[RK_MSGID_LEN], out_disk *d,
                    const uint8_t **frame)
{
    MDB_val k = {RK_MSGID_LEN, (void *)msg_id}, v;
    int rc = mdb_get(txn, mb->out, &k, &v);
    if (rc != 0)
        return rc;
    return out_decode(&v, d, frame) ? 0 : -1;
}

/* Rewrites the record of d->st.msg_id in txn, keeping its frame bytes, and
 * keeps the pending index in step. */
static int out_write(rk_mailbox_t *mb, MDB_txn *txn, out_disk *d)
{
    MDB_val k = {RK_MSGID_LEN, d->st.msg_id}, v;
    int rc;

    set_complete(&d->st);
    rc = mdb_get(txn, mb->out, &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof *d + d->frame_len)
        return -1;
    /* The old value may live in the map; MDB_RESERVE would overlap it. */
    {
        uint8_t *buf = malloc(v.mv_size);
        if (buf == NULL)
            return ENOMEM;
        memcpy(buf, d, sizeof *d);
        memcpy(buf + sizeof *d, (const uint8_t *)v.mv_data + sizeof *d, d->frame_len);
        v.mv_data = buf;
        rc = mdb_put(txn, mb->out, &k, &v, 0);
        sodium_memzero(buf, v.mv_size);
        free(buf);
    }
    if (rc != 0)
        return rc;
    if (d->st.state == RK_MSG_PENDING) {
        MDB_val e = {0, (void *)""};
        rc = mdb_put(txn, mb->pending, &k, &e, 0);
    } else {
        rc = mdb_del(txn, mb->pending, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    return rc;
}

/* The result of a write transaction step: commits if changed, else aborts. */
static rk_agent_err finish(MDB_txn *txn, int rc, bool changed, const char *what, char *why, size_t why_len)
{
    if (rc == -1) {
        mdb_txn_abort(txn);
        return damaged(what, why, why_len);
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return lmdb_fail(rc, what, why, why_len);
    }
    if (!changed) {
        mdb_txn_abort(txn);
        return RK_AGENT_OK;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return lmdb_fail(rc, what, why, why_len);
    return RK_AGENT_OK;
}

/* ------------------------------------------------------------------ inbox records */

static size_t in_key(const char *from, const uint8_t msg_id[RK_MSGID_LEN], uint8_t key[IN_KEY_MAX])
{
    size_t n = strnlen(from, RK_ID_MAX);
    memcpy(key, from, n);
    key[n] = 0;
    memcpy(key + n + 1, msg_id, RK_MSGID_LEN);
    return n + 1 + RK_MSGID_LEN;
}

void rk_inbox_entry_clear(rk_inbox_entry *e)
{
    if (e == NULL)
        return;
    free(e->core);
    sodium_memzero(e, sizeof *e);
}

/* Reads an inbox value; with core, a malloc'd copy of the core bytes. */
static int in_decode(const MDB_val *v, rk_inbox_entry *e, bool with_core)
{
    static const size_t flags[] = {
        offsetof(in_disk, e) + offsetof(rk_inbox_entry, first_contact),
        offsetof(in_disk, e) + offsetof(rk_inbox_entry, has_reply_to),
    };
    in_disk d;
    if (v->mv_size < sizeof d || !flags_ok(v, flags, sizeof flags / sizeof flags[0]))
        return -1;
    memcpy(&d, v->mv_data, sizeof d);
    if (d.version != IN_VERSION || d.e.core_len != v->mv_size - sizeof d)
        return -1;
    *e = d.e;
    e->from[RK_ID_MAX] = '\0';
    e->type[RK_TYPE_MAX] = '\0';
    e->core = NULL;
    if (with_core) {
        e->core = malloc(e->core_len ? e->core_len : 1);
        if (e->core == NULL)
            return ENOMEM;
        memcpy(e->core, (const uint8_t *)v->mv_data + sizeof d, e->core_len);
    }
    return 0;
}

bool rk_mailbox_out_record(const void *val, size_t len, rk_msg_status *st, size_t *frame_len)
{
    MDB_val v = {len, (void *)val};
    out_disk d;
    if (!out_decode(&v, &d, NULL))
        return false;
    *st = d.st;
    *frame_len = (size_t)d.frame_len;
    return true;
}

int rk_mailbox_in_record(const void *val, size_t len, rk_inbox_entry *e)
{
    MDB_val v = {len, (void *)val};
    memset(e, 0, sizeof *e);
    return in_decode(&v, e, true);
}

static int in_read(rk_mailbox_t *mb, MDB_txn *txn, const MDB_val *k, rk_inbox_entry *e, bool with_core)
{
    MDB_val v;
    int rc = mdb_get(txn, mb->in, (MDB_val *)k, &v);
    if (rc != 0)
        return rc;
    return in_decode(&v, e, with_core);
}

/* Rewrites the fixed part of an inbox record (state changes), keeping the
 * core bytes. */
static int in_rewrite(rk_mailbox_t *mb, MDB_txn *txn, const MDB_val *k, const rk_inbox_entry *e)
{
    MDB_val v;
    in_disk d;
    uint8_t *buf;
    int rc = mdb_get(txn, mb->in, (MDB_val *)k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof d + e->core_len)
        return -1;
    memset(&d, 0, sizeof d);
    d.version = IN_VERSION;
    d.e = *e;
    d.e.core = NULL;
    buf = malloc(v.mv_size);
    if (buf == NULL)
        return ENOMEM;
    memcpy(buf, &d, sizeof d);
    memcpy(buf + sizeof d, (const uint8_t *)v.mv_data + sizeof d, e->core_len);
    v.mv_data = buf;
    rc = mdb_put(txn, mb->in, (MDB_val *)k, &v, 0);
    free(buf);
    return rc;
}

static void be64(uint64_t x, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(x & 0xff);
        x >>= 8;
    }
}

/* Moves an entry between states in txn, keeping the indexes in step.  e
 * holds the current record; it is updated. */
static int in_move(rk_mailbox_t *mb, MDB_txn *txn, const MDB_val *k, rk_inbox_entry *e,
                   rk_inbox_state to, uint32_t pid, uint64_t now_ms)
{
    uint8_t ord[8];
    MDB_val ok = {sizeof ord, ord}, empty = {0, (void *)""};
    int rc;

    be64(e->order, ord);
    if (e->state == RK_IN_NEW && to != RK_IN_NEW) {
        rc = mdb_del(txn, mb->in_new, &ok, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    if (e->state == RK_IN_CLAIMED && to != RK_IN_CLAIMED) {
        rc = mdb_del(txn, mb->in_claimed, (MDB_val *)k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    if (to == RK_IN_NEW && e->state != RK_IN_NEW) {
        MDB_val kv = *k;
        if ((rc = mdb_put(txn, mb->in_new, &ok, &kv, 0)) != 0)
            return rc;
    }
    if (to == RK_IN_CLAIMED && (rc = mdb_put(txn, mb->in_claimed, (MDB_val *)k, &empty, 0)) != 0)
        return rc;
    e->state = to;
    if (to == RK_IN_CLAIMED) {
        e->pid = pid;
        e->claim_ms = now_ms;
    } else if (to == RK_IN_NEW) {
        e->pid = 0;
        e->claim_ms = 0;
    } else {
        e->done_ms = now_ms;
    }
    return in_rewrite(mb, txn, k, e);
}

/* ------------------------------------------------------------------ outbox */

rk_agent_err rk_mailbox_out_add(rk_mailbox_t *mb, const rk_msg_status *st, const uint8_t *frame,
                                size_t frame_len, const char *done_from, const uint8_t *done_msg_id,
                                uint64_t now_ms, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {RK_MSGID_LEN, (void *)st->msg_id}, v, empty = {0, (void *)""};
    out_disk d;
    uint8_t *buf;
    int rc;

    memset(&d, 0, sizeof d);
    d.version = OUT_VERSION;
    d.st = *st;
    d.st.state = RK_MSG_PENDING;
    d.st.accepted_ms = d.st.delivered_ms = d.st.answered_ms = d.st.refused_ms = d.st.expired_ms = 0;
    d.st.seq = 0;
    d.st.attempts = 0;
    d.st.last_sent_ms = 0;
    d.st.next_try_ms = 0;
    d.st.status = RK_ST_UNSPECIFIED;
    d.st.detail[0] = '\0';
    d.st.peer[0] = '\0';
    set_complete(&d.st);
    d.frame_len = frame_len;
    buf = malloc(sizeof d + frame_len);
    if (buf == NULL) {
        rk_why(why, why_len, "out of memory recording the message in the outbox");
        return RK_AGENT_ENOMEM;
    }
    memcpy(buf, &d, sizeof d);
    memcpy(buf + sizeof d, frame, frame_len);
    v.mv_size = sizeof d + frame_len;
    v.mv_data = buf;
    /* Room for the record and for the state changes it will go through
     * (sent, accepted, delivered): each rewrites it. */
    if (!room_for(mb->env, 4 * v.mv_size + ROOM_MARGIN)) {
        free(buf);
        return lmdb_fail(MDB_MAP_FULL, "recording the message in the outbox", why, why_len);
    }
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0) {
        free(buf);
        return lmdb_fail(rc, "recording the message in the outbox", why, why_len);
    }
    rc = mdb_put(txn, mb->out, &k, &v, MDB_NOOVERWRITE);
    free(buf);
    if (rc == MDB_KEYEXIST) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "the outbox already holds a message with this id");
        return RK_AGENT_ECONFLICT;
    }
    if (rc == 0)
        rc = mdb_put(txn, mb->pending, &k, &empty, 0);
    if (rc == 0 && done_from != NULL) {
        uint8_t key[IN_KEY_MAX];
        MDB_val ik = {in_key(done_from, done_msg_id, key), key};
        rk_inbox_entry e;
        rc = in_read(mb, txn, &ik, &e, false);
        if (rc == 0 && e.state != RK_IN_DONE)
            rc = in_move(mb, txn, &ik, &e, RK_IN_DONE, 0, now_ms);
        else if (rc == MDB_NOTFOUND)
            rc = 0; /* the request is not in this inbox: nothing to close */
    }
    return finish(txn, rc, true, "recording the message in the outbox", why, why_len);
}

rk_agent_err rk_mailbox_out_get(rk_mailbox_t *mb, const uint8_t msg_id[RK_MSGID_LEN], rk_msg_status *st,
                                uint8_t **frame, size_t *frame_len, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    out_disk d;
    const uint8_t *f = NULL;
    rk_agent_err err = RK_AGENT_OK;
    int rc;

    if (frame != NULL)
        *frame = NULL;
    if ((rc = mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "reading the outbox", why, why_len);
    rc = out_read(mb, txn, msg_id, &d, &f);
    if (rc == MDB_NOTFOUND) {
        rk_why(why, why_len, "this message is not in the outbox");
        err = RK_AGENT_ENOTFOUND;
    } else if (rc == -1) {
        err = damaged("outbox", why, why_len);
    } else if (rc != 0) {
        err = lmdb_fail(rc, "reading the outbox", why, why_len);
    } else {
        *st = d.st;
        if (frame != NULL) {
            *frame = malloc(d.frame_len ? d.frame_len : 1);
            if (*frame == NULL) {
                rk_why(why, why_len, "out of memory reading the outbox");
                err = RK_AGENT_ENOMEM;
            } else {
                memcpy(*frame, f, d.frame_len);
                *frame_len = d.frame_len;
            }
        }
    }
    mdb_txn_abort(txn);
    return err;
}

rk_agent_err rk_mailbox_out_result(rk_mailbox_t *mb, const rk_result_t *r, uint64_t now_ms,
                                   rk_msg_status *st, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    out_disk d;
    bool changed = false;
    int rc;

    if (!r->has_msg_id)
        return RK_AGENT_OK;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "recording the hub's answer", why, why_len);
    rc = out_read(mb, txn, r->msg_id, &d, NULL);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return RK_AGENT_OK;
    }
    if (rc == 0 && d.st.state == RK_MSG_PENDING) {
        changed = true;
        if (r->status == RK_ST_ACCEPTED) {
            d.st.state = RK_MSG_ACCEPTED;
            d.st.seq = r->seq;
            d.st.accepted_ms = now_ms;
            d.st.status = RK_ST_UNSPECIFIED;
            d.st.detail[0] = '\0';
        } else if (transient(r->status)) {
            d.st.status = r->status;
            copy_text(d.st.detail, sizeof d.st.detail, r->detail);
        } else {
            d.st.state = RK_MSG_REFUSED;
            d.st.refused_ms = now_ms;
            d.st.status = r->status;
            d.st.cause = r->cause;
            copy_text(d.st.peer, sizeof d.st.peer, r->peer);
            copy_text(d.st.detail, sizeof d.st.detail, r->detail);
        }
        rc = out_write(mb, txn, &d);
    } else if (rc == 0 && r->status == RK_ST_REFUSED_BY_RECIPIENT && !terminal(d.st.state)) {
        /* A hub before store-and-forward passes the recipient's refusal as
         * a result: the same as the notice. */
        changed = true;
        d.st.state = RK_MSG_REFUSED;
        d.st.refused_ms = now_ms;
        d.st.status = r->status;
        d.st.cause = r->cause;
        copy_text(d.st.peer, sizeof d.st.peer, r->peer);
        copy_text(d.st.detail, sizeof d.st.detail, r->detail);
        rc = out_write(mb, txn, &d);
    }
    if (rc == 0 && r->status == RK_ST_ACCEPTED && r->log_size > 0) {
        /* Where the hub put the message on its routing log: kept once, from
         * the first ACCEPTED that says (a later one for a re-send may name
         * the same entry or none). */
        MDB_val k = {RK_MSGID_LEN, (void *)r->msg_id}, v;
        uint8_t pos[8];
        rc = mdb_get(txn, mb->out_log, &k, &v);
        if (rc == MDB_NOTFOUND) {
            be64(r->log_size, pos);
            v.mv_size = sizeof pos;
            v.mv_data = pos;
            rc = mdb_put(txn, mb->out_log, &k, &v, 0);
            changed = true;
        }
    }
    if (rc == 0 && st != NULL) {
        set_complete(&d.st);
        *st = d.st;
    }
    return finish(txn, rc, changed, "recording the hub's answer", why, why_len);
}

rk_agent_err rk_mailbox_out_log_size(rk_mailbox_t *mb, const uint8_t msg_id[RK_MSGID_LEN], uint64_t *log_size,
                                     char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {RK_MSGID_LEN, (void *)msg_id}, v;
    rk_agent_err err = RK_AGENT_OK;
    int rc;

    *log_size = 0;
    if ((rc = mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "reading the outbox", why, why_len);
    rc = mdb_get(txn, mb->out_log, &k, &v);
    if (rc == MDB_NOTFOUND) {
        rk_why(why, why_len, "the hub named no routing-log entry for this message");
        err = RK_AGENT_ENOTFOUND;
    } else if (rc != 0) {
        err = lmdb_fail(rc, "reading the outbox", why, why_len);
    } else if (v.mv_size != 8) {
        err = damaged("outbox log position", why, why_len);
    } else {
        const uint8_t *b = v.mv_data;
        for (int i = 0; i < 8; i++)
            *log_size = (*log_size << 8) | b[i];
    }
    mdb_txn_abort(txn);
    return err;
}

/* Applies one notice to a record; true if anything changed. */
static bool apply_notice(rk_msg_status *st, const rk_notice_t *n, uint64_t now_ms)
{
    uint64_t t = n->time_ms != 0 ? n->time_ms : now_ms;
    rk_msg_status before;

    /* A byte copy, padding included, so that the memcmp below sees only
     * what this function changed (a struct assignment need not copy the
     * padding). */
    memcpy(&before, st, sizeof before);

    if (st->state == RK_MSG_PENDING) {
        /* A notice means the hub accepted it (its result went missing). */
        st->state = RK_MSG_ACCEPTED;
        if (st->accepted_ms == 0)
            st->accepted_ms = now_ms;
        st->status = RK_ST_UNSPECIFIED;
        st->detail[0] = '\0';
    }
    if (st->seq == 0)
        st->seq = n->msg_seq;
    switch (n->status) {
    case RK_ST_DELIVERED:
        if (st->delivered_ms == 0)
            st->delivered_ms = t;
        if (st->state < RK_MSG_DELIVERED)
            st->state = RK_MSG_DELIVERED;
        break;
    case RK_ST_EXPIRED:
        if (st->expired_ms == 0)
            st->expired_ms = t;
        if (!terminal(st->state))
            st->state = RK_MSG_EXPIRED;
        break;
    case RK_ST_REFUSED_BY_RECIPIENT:
        if (st->refused_ms == 0)
            st->refused_ms = t;
        if (!terminal(st->state)) {
            st->state = RK_MSG_REFUSED;
            st->status = n->status;
            st->cause = n->cause;
            copy_text(st->peer, sizeof st->peer, n->peer);
            copy_text(st->detail, sizeof st->detail, n->detail);
        }
        break;
    default:
        break;
    }
    /* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c): byte copy above */
    return memcmp(&before, st, sizeof before) != 0;
}

rk_agent_err rk_mailbox_out_notice(rk_mailbox_t *mb, const rk_notice_t *n, uint64_t now_ms, bool *known,
                                   char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    out_disk d;
    bool changed = false;
    int rc;

    *known = false;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "recording a notice", why, why_len);
    rc = out_read(mb, txn, n->msg_id, &d, NULL);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return RK_AGENT_OK;
    }
    if (rc == 0) {
        *known = true;
        changed = apply_notice(&d.st, n, now_ms);
        if (changed)
            rc = out_write(mb, txn, &d);
    }
    return finish(txn, rc, changed, "recording a notice", why, why_len);
}

rk_agent_err rk_mailbox_out_sent(rk_mailbox_t *mb, const uint8_t msg_id[RK_MSGID_LEN], uint64_t now_ms,
                                 uint64_t next_try_ms, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    out_disk d;
    int rc;

    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "noting a send", why, why_len);
    rc = out_read(mb, txn, msg_id, &d, NULL);
    if (rc == 0) {
        d.st.attempts++;
        d.st.last_sent_ms = now_ms;
        d.st.next_try_ms = next_try_ms;
        rc = out_write(mb, txn, &d);
    }
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "this message is not in the outbox");
        return RK_AGENT_ENOTFOUND;
    }
    return finish(txn, rc, true, "noting a send", why, why_len);
}

rk_agent_err rk_mailbox_out_waiter(rk_mailbox_t *mb, const uint8_t msg_id[RK_MSGID_LEN], uint32_t pid,
                                   char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    out_disk d;
    int rc;

    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "noting a waiter", why, why_len);
    rc = out_read(mb, txn, msg_id, &d, NULL);
    if (rc == 0) {
        d.waiter_pid = pid;
        rc = out_write(mb, txn, &d);
    }
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "this message is not in the outbox");
        return RK_AGENT_ENOTFOUND;
    }
    return finish(txn, rc, true, "noting a waiter", why, why_len);
}

rk_agent_err rk_mailbox_out_due(rk_mailbox_t *mb, uint64_t now_ms, uint64_t sent_before_ms,
                                uint8_t (**ids)[RK_MSGID_LEN], size_t *n, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t (*list)[RK_MSGID_LEN] = NULL;
    size_t cap = 0, count = 0;
    rk_agent_err err = RK_AGENT_OK;
    int rc;

    *ids = NULL;
    *n = 0;
    if ((rc = mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "reading the outbox", why, why_len);
    if ((rc = mdb_cursor_open(txn, mb->pending, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lmdb_fail(rc, "reading the outbox", why, why_len);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        out_disk d;
        int r;
        if (k.mv_size != RK_MSGID_LEN) {
            err = damaged("outbox index", why, why_len);
            break;
        }
        /* Every key of the pending index names an outbox record: one that
         * is missing or does not decode is damage, not the end of the list. */
        r = out_read(mb, txn, k.mv_data, &d, NULL);
        if (r == -1 || r == MDB_NOTFOUND) {
            err = damaged("outbox", why, why_len);
            break;
        }
        if (r != 0) {
            err = lmdb_fail(r, "reading the outbox", why, why_len);
            break;
        }
        if (d.st.state != RK_MSG_PENDING)
            continue;
        if (d.st.next_try_ms > now_ms && d.st.last_sent_ms >= sent_before_ms)
            continue;
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *bigger = realloc(list, ncap * sizeof *list);
            if (bigger == NULL) {
                rk_why(why, why_len, "out of memory reading the outbox");
                err = RK_AGENT_ENOMEM;
                break;
            }
            list = bigger;
            cap = ncap;
        }
        memcpy(list[count++], k.mv_data, RK_MSGID_LEN);
    }
    if (err == RK_AGENT_OK && rc != MDB_NOTFOUND)
        err = lmdb_fail(rc, "reading the outbox", why, why_len);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (err != RK_AGENT_OK) {
        free(list);
        return err;
    }
    *ids = list;
    *n = count;
    return RK_AGENT_OK;
}

static int by_created(const void *pa, const void *pb)
{
    const rk_msg_status *a = pa, *b = pb;
    if (a->created_ms != b->created_ms)
        return a->created_ms < b->created_ms ? -1 : 1;
    return memcmp(a->msg_id, b->msg_id, RK_MSGID_LEN);
}

rk_agent_err rk_mailbox_out_list(rk_mailbox_t *mb, const rk_status_filter *f, rk_msg_status **list,
                                 size_t *n, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    rk_msg_status *out = NULL;
    size_t cap = 0, count = 0;
    rk_agent_err err = RK_AGENT_OK;
    int rc;

    *list = NULL;
    *n = 0;
    if ((rc = mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "reading the outbox", why, why_len);
    if ((rc = mdb_cursor_open(txn, mb->out, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lmdb_fail(rc, "reading the outbox", why, why_len);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        out_disk d;
        if (!out_decode(&v, &d, NULL)) {
            err = damaged("outbox", why, why_len);
            break;
        }
        set_complete(&d.st);
        if (f != NULL && f->open_only && d.st.complete)
            continue;
        if (f != NULL && f->code != NULL && sodium_memcmp(f->code, d.st.code, RK_CODE_LEN) != 0)
            continue;
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *bigger = realloc(out, ncap * sizeof *out);
            if (bigger == NULL) {
                rk_why(why, why_len, "out of memory reading the outbox");
                err = RK_AGENT_ENOMEM;
                break;
            }
            out = bigger;
            cap = ncap;
        }
        out[count++] = d.st;
    }
    if (err == RK_AGENT_OK && rc != MDB_NOTFOUND)
        err = lmdb_fail(rc, "reading the outbox", why, why_len);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (err != RK_AGENT_OK) {
        free(out);
        return err;
    }
    if (count > 1)
        qsort(out, count, sizeof *out, by_created);
    *list = out;
    *n = count;
    return RK_AGENT_OK;
}

/* ------------------------------------------------------------------ inbox */

static int next_order(rk_mailbox_t *mb, MDB_txn *txn, uint64_t *order)
{
    MDB_val k = {sizeof META_INBOX_NEXT - 1, (void *)META_INBOX_NEXT}, v;
    uint64_t next = 1;
    int rc = mdb_get(txn, mb->meta, &k, &v);
    if (rc == 0 && v.mv_size == sizeof next)
        memcpy(&next, v.mv_data, sizeof next);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    *order = next;
    next++;
    v.mv_size = sizeof next;
    v.mv_data = &next;
    return mdb_put(txn, mb->meta, &k, &v, 0);
}

rk_agent_err rk_mailbox_in_add(rk_mailbox_t *mb, const rk_inbox_entry *e, uint64_t now_ms, bool *dup,
                               char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    uint8_t key[IN_KEY_MAX], ord[8];
    MDB_val k, v, ok = {sizeof ord, ord};
    in_disk d;
    uint8_t *buf = NULL;
    int rc;

    *dup = false;
    k.mv_size = in_key(e->from, e->msg_id, key);
    k.mv_data = key;
    /* Room for the entry and for being claimed and marked done later, each
     * a rewrite: a delivery taken in can always be handed out and finished. */
    if (mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn) == 0) {
        bool have = mdb_get(txn, mb->in, &k, &v) == 0;
        mdb_txn_abort(txn);
        txn = NULL;
        if (have) {
            *dup = true; /* known already: acknowledged even when full */
            return RK_AGENT_OK;
        }
    }
    if (!room_for(mb->env, 3 * (sizeof d + e->core_len) + ROOM_MARGIN))
        return lmdb_fail(MDB_MAP_FULL, "recording a delivery", why, why_len);
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "recording a delivery", why, why_len);
    rc = mdb_get(txn, mb->in, &k, &v);
    if (rc == 0) {
        mdb_txn_abort(txn);
        *dup = true;
        return RK_AGENT_OK;
    }
    if (rc != MDB_NOTFOUND)
        goto fail;
    memset(&d, 0, sizeof d);
    d.version = IN_VERSION;
    d.e = *e;
    d.e.core = NULL;
    d.e.state = RK_IN_NEW;
    d.e.pid = 0;
    d.e.claim_ms = d.e.done_ms = 0;
    d.e.received_ms = now_ms;
    if ((rc = next_order(mb, txn, &d.e.order)) != 0)
        goto fail;
    buf = malloc(sizeof d + e->core_len);
    if (buf == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    memcpy(buf, &d, sizeof d);
    memcpy(buf + sizeof d, e->core, e->core_len);
    v.mv_size = sizeof d + e->core_len;
    v.mv_data = buf;
    rc = mdb_put(txn, mb->in, &k, &v, MDB_NOOVERWRITE);
    free(buf);
    if (rc != 0)
        goto fail;
    be64(d.e.order, ord);
    v = k;
    if ((rc = mdb_put(txn, mb->in_new, &ok, &v, 0)) != 0)
        goto fail;
    if (e->has_reply_to) {
        out_disk od;
        rc = out_read(mb, txn, e->reply_to, &od, NULL);
        if (rc == 0 && strcmp(od.st.to, e->from) == 0) {
            if (od.st.answered_ms == 0) {
                od.st.answered_ms = now_ms;
                memcpy(od.st.reply_msg_id, e->msg_id, RK_MSGID_LEN);
            }
            if (od.st.state == RK_MSG_PENDING) {
                /* Answered, so the hub took it even if its result went missing. */
                od.st.accepted_ms = od.st.accepted_ms ? od.st.accepted_ms : now_ms;
            }
            if (!terminal(od.st.state))
                od.st.state = RK_MSG_ANSWERED;
            rc = out_write(mb, txn, &od);
        } else if (rc == MDB_NOTFOUND || rc == 0 || rc == -1) {
            rc = 0; /* not ours, or from someone else: just an inbox entry */
        }
        if (rc != 0)
            goto fail;
    }
    return finish(txn, 0, true, "recording a delivery", why, why_len);

fail:
    return finish(txn, rc, true, "recording a delivery", why, why_len);
}

/* Whether claim may hand out e to pid. */
static bool claimable(rk_mailbox_t *mb, MDB_txn *txn, const rk_inbox_entry *e, rk_recv_what what, uint32_t pid)
{
    out_disk od;
    if (!e->has_reply_to)
        return true;
    if (what == RK_RECV_REQUESTS)
        return false;
    if (out_read(mb, txn, e->reply_to, &od, NULL) != 0)
        return true;
    return od.waiter_pid == 0 || od.waiter_pid == pid || !rk_mailbox_pid_alive(od.waiter_pid);
}

rk_agent_err rk_mailbox_in_claim(rk_mailbox_t *mb, rk_recv_what what, uint32_t pid, uint64_t now_ms,
                                 rk_inbox_entry *e, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[IN_KEY_MAX];
    MDB_val ik = {0, key};
    bool found = false;
    int rc;

    memset(e, 0, sizeof *e);
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "claiming a message", why, why_len);
    if ((rc = mdb_cursor_open(txn, mb->in_new, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lmdb_fail(rc, "claiming a message", why, why_len);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rk_inbox_entry cand;
        if (v.mv_size > sizeof key)
            continue;
        memcpy(key, v.mv_data, v.mv_size);
        ik.mv_size = v.mv_size;
        if (in_read(mb, txn, &ik, &cand, false) != 0)
            continue;
        if (cand.state == RK_IN_NEW && claimable(mb, txn, &cand, what, pid)) {
            found = true;
            break;
        }
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return lmdb_fail(rc, "claiming a message", why, why_len);
    }
    if (!found) {
        mdb_txn_abort(txn);
        return RK_AGENT_ENOTFOUND;
    }
    rc = in_read(mb, txn, &ik, e, true);
    if (rc == 0)
        rc = in_move(mb, txn, &ik, e, RK_IN_CLAIMED, pid, now_ms);
    if (rc != 0)
        rk_inbox_entry_clear(e);
    return finish(txn, rc, true, "claiming a message", why, why_len);
}

rk_agent_err rk_mailbox_in_take(rk_mailbox_t *mb, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                                uint32_t pid, uint64_t now_ms, rk_inbox_entry *e, char *why,
                                size_t why_len)
{
    MDB_txn *txn = NULL;
    uint8_t key[IN_KEY_MAX];
    MDB_val k = {in_key(from, msg_id, key), key};
    bool changed = false;
    rk_agent_err err;
    int rc;

    memset(e, 0, sizeof *e);
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "claiming a message", why, why_len);
    rc = in_read(mb, txn, &k, e, true);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "this message is not in the inbox");
        return RK_AGENT_ENOTFOUND;
    }
    if (rc == 0 && (e->state == RK_IN_NEW ||
                    (e->state == RK_IN_CLAIMED && e->pid != pid && !rk_mailbox_pid_alive(e->pid)))) {
        changed = true;
        rc = in_move(mb, txn, &k, e, RK_IN_CLAIMED, pid, now_ms);
    }
    if (rc == 0 && e->has_reply_to) {
        /* The reply is in hand: pid's wait mark on the request has done its
         * work, and clearing it here saves the waiter a commit of its own. */
        out_disk od;
        int orc = out_read(mb, txn, e->reply_to, &od, NULL);
        if (orc == 0 && od.waiter_pid == pid && pid != 0) {
            od.waiter_pid = 0;
            rc = out_write(mb, txn, &od);
            changed = true;
        } else if (orc != 0 && orc != MDB_NOTFOUND) {
            rc = orc;
        }
    }
    err = finish(txn, rc, changed, "claiming a message", why, why_len);
    if (err != RK_AGENT_OK)
        rk_inbox_entry_clear(e);
    return err;
}

rk_agent_err rk_mailbox_in_get(rk_mailbox_t *mb, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                               rk_inbox_entry *e, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    uint8_t key[IN_KEY_MAX];
    MDB_val k = {in_key(from, msg_id, key), key};
    int rc;

    memset(e, 0, sizeof *e);
    if ((rc = mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "reading the inbox", why, why_len);
    rc = in_read(mb, txn, &k, e, true);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND) {
        rk_why(why, why_len, "this message is not in the inbox");
        return RK_AGENT_ENOTFOUND;
    }
    if (rc != 0) {
        rk_inbox_entry_clear(e);
        return rc == -1 ? damaged("inbox", why, why_len) : lmdb_fail(rc, "reading the inbox", why, why_len);
    }
    return RK_AGENT_OK;
}

rk_agent_err rk_mailbox_in_done(rk_mailbox_t *mb, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                                uint64_t now_ms, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    uint8_t key[IN_KEY_MAX];
    MDB_val k = {in_key(from, msg_id, key), key};
    rk_inbox_entry e;
    bool changed = false;
    int rc;

    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "marking a message done", why, why_len);
    rc = in_read(mb, txn, &k, &e, false);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "this message is not in the inbox");
        return RK_AGENT_ENOTFOUND;
    }
    if (rc == 0 && e.state != RK_IN_DONE) {
        changed = true;
        rc = in_move(mb, txn, &k, &e, RK_IN_DONE, 0, now_ms);
    }
    return finish(txn, rc, changed, "marking a message done", why, why_len);
}

rk_agent_err rk_mailbox_in_release_stale(rk_mailbox_t *mb, size_t *released, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t (*keys)[IN_KEY_MAX] = NULL;
    size_t *lens = NULL, nkeys = 0, cap = 0, count = 0;
    int rc;

    if (released != NULL)
        *released = 0;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "releasing stale claims", why, why_len);
    if ((rc = mdb_cursor_open(txn, mb->in_claimed, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lmdb_fail(rc, "releasing stale claims", why, why_len);
    }
    /* First collect the stale ones, then change them: no writes under the
     * cursor. */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rk_inbox_entry e;
        if (k.mv_size > IN_KEY_MAX || in_read(mb, txn, &k, &e, false) != 0)
            continue;
        if (e.state == RK_IN_CLAIMED && rk_mailbox_pid_alive(e.pid))
            continue;
        if (nkeys == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            void *bk = realloc(keys, ncap * sizeof *keys);
            if (bk != NULL)
                keys = bk;
            void *bl = bk != NULL ? realloc(lens, ncap * sizeof *lens) : NULL;
            if (bl == NULL) {
                rc = ENOMEM;
                break;
            }
            lens = bl;
            cap = ncap;
        }
        memcpy(keys[nkeys], k.mv_data, k.mv_size);
        lens[nkeys++] = k.mv_size;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    for (size_t i = 0; rc == 0 && i < nkeys; i++) {
        MDB_val ik = {lens[i], keys[i]};
        rk_inbox_entry e;
        rc = in_read(mb, txn, &ik, &e, false);
        if (rc == 0 && e.state == RK_IN_CLAIMED) {
            rc = in_move(mb, txn, &ik, &e, RK_IN_NEW, 0, 0);
            count++;
        } else if (rc == 0 || rc == MDB_NOTFOUND || rc == -1) {
            /* An index entry without a claimed record: drop it. */
            rc = mdb_del(txn, mb->in_claimed, &ik, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
    }
    free(keys);
    free(lens);
    if (rc == 0 && released != NULL)
        *released = count;
    return finish(txn, rc, nkeys > 0, "releasing stale claims", why, why_len);
}

/* ------------------------------------------------------------------ retention */

/* When an outbox record became complete (the latest step), 0 if it is not. */
static uint64_t out_completed_ms(const rk_msg_status *st)
{
    uint64_t t = 0;
    const uint64_t steps[] = {st->delivered_ms, st->answered_ms, st->refused_ms, st->expired_ms};
    rk_msg_status c = *st;

    set_complete(&c);
    if (!c.complete)
        return 0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (steps[i] > t)
            t = steps[i];
    return t ? t : (st->created_ms ? st->created_ms : 1);
}

/* Whether a record (the value) was completed before before_ms. */
typedef bool (*purge_pick)(const MDB_val *v, uint64_t before_ms);

static bool in_old(const MDB_val *v, uint64_t before_ms)
{
    rk_inbox_entry e;
    uint64_t t;
    if (in_decode(v, &e, false) != 0 || e.state != RK_IN_DONE)
        return false;
    t = e.done_ms > e.received_ms ? e.done_ms : e.received_ms;
    return t < before_ms;
}

static bool out_old(const MDB_val *v, uint64_t before_ms)
{
    out_disk d;
    uint64_t t;
    if (!out_decode(v, &d, NULL))
        return false;
    t = out_completed_ms(&d.st);
    return t != 0 && t < before_ms;
}

/* Deletes up to max records of dbi that pick() accepts, in txn; *n counts
 * them, *more says that the limit stopped the scan. */
static int purge_table(MDB_txn *txn, MDB_dbi dbi, const MDB_dbi *also, purge_pick pick, uint64_t before_ms, size_t max,
                       size_t *n, bool *more)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;

    *n = 0;
    if (max == 0) {
        *more = true;
        return 0;
    }
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        return rc;
    /* After mdb_cursor_del the cursor stands on the next record, and
     * MDB_NEXT returns that one. */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!pick(&v, before_ms))
            continue;
        if (*n == max) {
            *more = true;
            break;
        }
        if (also != NULL) {
            /* A side table keyed the same way (the routing-log position). */
            rc = mdb_del(txn, *also, &k, NULL);
            if (rc != 0 && rc != MDB_NOTFOUND)
                break;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One transaction of at most batch deletions. */
static int purge_once(rk_mailbox_t *mb, uint64_t before_ms, size_t batch, size_t *in_n, size_t *out_n,
                      bool *more)
{
    MDB_txn *txn = NULL;
    int rc;

    *in_n = *out_n = 0;
    *more = false;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return rc;
    rc = purge_table(txn, mb->in, NULL, in_old, before_ms, batch, in_n, more);
    if (rc == 0)
        rc = purge_table(txn, mb->out, &mb->out_log, out_old, before_ms, batch - *in_n, out_n, more);
    if (rc != 0 || *in_n + *out_n == 0) {
        mdb_txn_abort(txn);
        if (rc != 0)
            *in_n = *out_n = 0;
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        *in_n = *out_n = 0;
    return rc;
}

rk_agent_err rk_mailbox_purge(rk_mailbox_t *mb, uint64_t before_ms, size_t batch, size_t *in_n, size_t *out_n,
                              bool *more, char *why, size_t why_len)
{
    int rc;

    if (batch == 0 || batch > RK_MAILBOX_PURGE_BATCH)
        batch = RK_MAILBOX_PURGE_BATCH;
    for (;;) {
        rc = purge_once(mb, before_ms, batch, in_n, out_n, more);
        /* Deleting needs a few fresh pages too: on a full map, try again
         * with fewer at a time. */
        if (rc != MDB_MAP_FULL || batch == 1)
            break;
        batch /= 2;
    }
    if (rc == -1)
        return damaged("outbox or inbox", why, why_len);
    if (rc != 0)
        return lmdb_fail(rc, "removing old completed messages", why, why_len);
    return RK_AGENT_OK;
}

/* ------------------------------------------------------------------ directory cache */

rk_agent_err rk_mailbox_dir_put(rk_mailbox_t *mb, const uint8_t *body, size_t len,
                                const uint8_t sig[RK_SIG_LEN], char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {sizeof META_DIRECTORY - 1, (void *)META_DIRECTORY}, v;
    uint8_t *buf;
    int rc;

    buf = malloc(RK_SIG_LEN + len);
    if (buf == NULL) {
        rk_why(why, why_len, "out of memory keeping the directory");
        return RK_AGENT_ENOMEM;
    }
    memcpy(buf, sig, RK_SIG_LEN);
    memcpy(buf + RK_SIG_LEN, body, len);
    v.mv_size = RK_SIG_LEN + len;
    v.mv_data = buf;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0) {
        free(buf);
        return lmdb_fail(rc, "keeping the directory", why, why_len);
    }
    rc = mdb_put(txn, mb->meta, &k, &v, 0);
    free(buf);
    return finish(txn, rc, true, "keeping the directory", why, why_len);
}

rk_agent_err rk_mailbox_dir_get(rk_mailbox_t *mb, uint8_t **body, size_t *len, uint8_t sig[RK_SIG_LEN],
                                char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {sizeof META_DIRECTORY - 1, (void *)META_DIRECTORY}, v;
    rk_agent_err err = RK_AGENT_OK;
    int rc;

    *body = NULL;
    *len = 0;
    if ((rc = mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "reading the kept directory", why, why_len);
    rc = mdb_get(txn, mb->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        rk_why(why, why_len, "no directory was kept yet");
        err = RK_AGENT_ENOTFOUND;
    } else if (rc != 0) {
        err = lmdb_fail(rc, "reading the kept directory", why, why_len);
    } else if (v.mv_size <= RK_SIG_LEN) {
        err = damaged("directory", why, why_len);
    } else if ((*body = malloc(v.mv_size - RK_SIG_LEN)) == NULL) {
        rk_why(why, why_len, "out of memory reading the kept directory");
        err = RK_AGENT_ENOMEM;
    } else {
        memcpy(sig, v.mv_data, RK_SIG_LEN);
        memcpy(*body, (const uint8_t *)v.mv_data + RK_SIG_LEN, v.mv_size - RK_SIG_LEN);
        *len = v.mv_size - RK_SIG_LEN;
    }
    mdb_txn_abort(txn);
    return err;
}
