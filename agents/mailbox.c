/*
 * mailbox.c - the agent's outbox and inbox in LMDB.
 *
 * Records are this module's own byte layout (a version word, fixed-width
 * fields at fixed offsets, then the variable bytes), encoded and decoded
 * field by field: see "record layout" below and docs/agent-store.md.  The
 * version word lets a later layout refuse an older one clearly.
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
#define IN_VERSION 0x52304932u  /* "R0I2": format 2, written */
#define IN_VERSION_V1 0x52304931u /* "R0I1": format 1, read */
#define META_INBOX_NEXT "inbox.next"
#define META_DIRECTORY "directory"
#define META_HUB_KEY "hub.key"
/* meta "hub.key": state, old key, new key, time (big-endian), signature */
#define HK_OLD 1
#define HK_NEW (HK_OLD + RK_KEY_LEN)
#define HK_TIME (HK_NEW + RK_KEY_LEN)
#define HK_SIG (HK_TIME + 8)
#define HUB_KEY_REC_LEN (HK_SIG + RK_SIG_LEN)
#define IN_KEY_MAX (RK_ID_MAX + 1 + RK_MSGID_LEN)

struct rk_mailbox {
    MDB_env *env;
    MDB_dbi out, pending, in, in_new, in_claimed, meta, out_log;
};

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

static rk_agent_err damaged(const char *what, const char *detail, char *why, size_t why_len)
{
    rk_why(why, why_len,
           "agent store: a %s record has an unexpected layout (damaged, or written by "
           "another version?): %s",
           what, detail);
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

/* ------------------------------------------------------------------ record layout
 *
 * Each outbox and inbox value is a fixed part, encoded here field by field
 * at fixed offsets, followed by variable bytes (the frame, the core).  The
 * layout is written down for readers of the data directory in
 * docs/agent-store.md; the offsets are those the x86-64 build used when it
 * stored its C structs whole, so data directories written then still read.
 * Integers are little-endian; text is NUL-padded to its field's width; the
 * bytes marked unused are written as zero and ignored when read (records
 * written as whole structs may hold anything there). */

_Static_assert(RK_MSGID_LEN == 16 && RK_CODE_LEN == 16 && RK_ID_MAX == 64 && RK_TYPE_MAX == 64 &&
                   RK_DETAIL_MAX == 200 && RK_KEY_LEN == 32 && RK_SIG_LEN == 64,
               "the stored record layout (docs/agent-store.md) depends on these widths");

/* Outbox record. */
#define OUT_VERSION_AT 0        /* u32: OUT_VERSION */
#define OUT_WAITER_AT 4         /* u32: pid waiting for the reply, 0: none */
#define OUT_MSG_ID_AT 8         /* 16 bytes */
#define OUT_TO_AT 24            /* text, 65 */
#define OUT_TYPE_AT 89          /* text, 65 */
#define OUT_CODE_AT 154         /* 16 bytes */
#define OUT_NO_REPLY_AT 170     /* bool */
#define OUT_IS_REPLY_AT 171     /* bool */
#define OUT_REPLY_TO_AT 172     /* 16 bytes */
#define OUT_STATE_AT 188        /* u32: rk_msg_state */
#define OUT_COMPLETE_AT 192     /* bool; 193..199 unused */
#define OUT_TIMES_AT 200        /* 6 x u64: created, accepted, delivered, answered, refused, expired */
#define OUT_SEQ_AT 248          /* u64 */
#define OUT_REPLY_MSG_ID_AT 256 /* 16 bytes */
#define OUT_STATUS_AT 272       /* u32: rk_status */
#define OUT_CAUSE_AT 276        /* u32: rk_status */
#define OUT_PEER_AT 280         /* text, 65 */
#define OUT_DETAIL_AT 345       /* text, 201; 546..547 unused */
#define OUT_ATTEMPTS_AT 548     /* u32 */
#define OUT_LAST_SENT_AT 552    /* u64 */
#define OUT_NEXT_TRY_AT 560     /* u64 */
#define OUT_FRAME_LEN_AT 568    /* u64: bytes after the fixed part */
#define OUT_FIXED 576

/* Inbox record. */
#define IN_VERSION_AT 0        /* u32: IN_VERSION */
#define IN_ATTEMPTS_AT 4       /* u32 (format 2; unused in format 1) */
#define IN_STATE_AT 8          /* u32: rk_inbox_state */
#define IN_PID_AT 12           /* u32 */
#define IN_CLAIM_AT 16         /* u64 */
#define IN_DONE_AT 24          /* u64 */
#define IN_RECEIVED_AT 32      /* u64 */
#define IN_ORDER_AT 40         /* u64 */
#define IN_HUB_SEQ_AT 48       /* u64 */
#define IN_FIRST_CONTACT_AT 56 /* bool */
#define IN_CODE_AT 57          /* 16 bytes */
#define IN_FROM_AT 73          /* text, 65 */
#define IN_TYPE_AT 138         /* text, 65 */
#define IN_MSG_ID_AT 203       /* 16 bytes */
#define IN_HAS_REPLY_TO_AT 219 /* bool */
#define IN_REPLY_TO_AT 220     /* 16 bytes */
#define IN_SENDER_KEY_AT 236   /* 32 bytes */
#define IN_SIGNATURE_AT 268    /* 64 bytes */
#define IN_NEXT_TRY_AT 332     /* u64 (format 2; unused in format 1); 340..343 unused */
#define IN_CORE_LEN_AT 344     /* u64: bytes after the fixed part */
#define IN_FIXED_V1 352        /* format 1 ends here: the core follows */
#define IN_ERROR_AT 352        /* text, 128 (format 2) */
#define IN_FIXED 480

_Static_assert(OUT_DETAIL_AT + RK_DETAIL_MAX + 1 <= OUT_ATTEMPTS_AT && OUT_FRAME_LEN_AT + 8 == OUT_FIXED,
               "outbox fields overlap");
_Static_assert(IN_SIGNATURE_AT + RK_SIG_LEN <= IN_NEXT_TRY_AT && IN_NEXT_TRY_AT + 8 <= IN_CORE_LEN_AT &&
                   IN_CORE_LEN_AT + 8 == IN_FIXED_V1 && IN_ERROR_AT + RK_ATTEMPT_ERROR_MAX + 1 == IN_FIXED,
               "inbox fields overlap");
_Static_assert(RK_MAILBOX_OUT_FIXED == OUT_FIXED && RK_MAILBOX_IN_FIXED == IN_FIXED &&
                   RK_MAILBOX_IN_FIXED_V1 == IN_FIXED_V1,
               "mailbox.h disagrees");

/* An outbox record decoded. */
typedef struct out_rec {
    uint32_t waiter_pid;
    rk_msg_status st;
    uint64_t frame_len;
} out_rec;

static void put32(uint8_t *p, uint32_t x)
{
    for (int i = 0; i < 4; i++, x >>= 8)
        p[i] = (uint8_t)(x & 0xff);
}

static void put64(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++, x >>= 8)
        p[i] = (uint8_t)(x & 0xff);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

/* src, NUL-padded to width bytes (at most width - 1 of text). */
static void put_text(uint8_t *p, size_t width, const char *src)
{
    size_t n = strnlen(src, width - 1);
    memcpy(p, src, n);
    memset(p + n, 0, width - n);
}

/* Reading one record: the first fault found is said in why (as the
 * sentence of a damaged record) and clears ok; later reads still stay
 * inside the fixed part, which the caller checked the length of. */
typedef struct rec_reader {
    const uint8_t *rec;
    const char *table; /* "outbox", "inbox" */
    char *why;
    size_t why_len;
    bool ok;
} rec_reader;

static void rec_fault(rec_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec_fault(rec_reader *r, const char *fmt, ...)
{
    char detail[160];
    va_list ap;

    if (!r->ok)
        return;
    r->ok = false;
    va_start(ap, fmt);
    rk_vwhy(detail, sizeof detail, fmt, ap);
    va_end(ap);
    rk_why(r->why, r->why_len,
           "agent store: an %s record has an unexpected layout (damaged, or written by another "
           "version?): %s",
           r->table, detail);
}

static bool rec_bool(rec_reader *r, size_t at, const char *name)
{
    uint8_t b = r->rec[at];
    if (b > 1)
        rec_fault(r, "its %s flag (byte %zu) is %u, not 0 or 1", name, at, b);
    return b == 1;
}

/* A text field of width bytes into dst (width bytes): it must end within
 * its field; whatever follows the first NUL is not part of it. */
static void rec_text(rec_reader *r, size_t at, size_t width, char *dst, const char *name)
{
    const uint8_t *p = r->rec + at;
    const uint8_t *nul = memchr(p, 0, width);
    memset(dst, 0, width);
    if (nul == NULL) {
        rec_fault(r, "its %s text (bytes %zu..%zu) has no terminating zero byte", name, at, at + width - 1);
        return;
    }
    memcpy(dst, p, (size_t)(nul - p));
}

static void out_encode(const out_rec *d, uint8_t rec[OUT_FIXED])
{
    const rk_msg_status *st = &d->st;
    const uint64_t times[] = {st->created_ms,  st->accepted_ms, st->delivered_ms,
                              st->answered_ms, st->refused_ms,  st->expired_ms};

    memset(rec, 0, OUT_FIXED);
    put32(rec + OUT_VERSION_AT, OUT_VERSION);
    put32(rec + OUT_WAITER_AT, d->waiter_pid);
    memcpy(rec + OUT_MSG_ID_AT, st->msg_id, RK_MSGID_LEN);
    put_text(rec + OUT_TO_AT, RK_ID_MAX + 1, st->to);
    put_text(rec + OUT_TYPE_AT, RK_TYPE_MAX + 1, st->type);
    memcpy(rec + OUT_CODE_AT, st->code, RK_CODE_LEN);
    rec[OUT_NO_REPLY_AT] = st->no_reply ? 1 : 0;
    rec[OUT_IS_REPLY_AT] = st->is_reply ? 1 : 0;
    memcpy(rec + OUT_REPLY_TO_AT, st->reply_to, RK_MSGID_LEN);
    put32(rec + OUT_STATE_AT, (uint32_t)st->state);
    rec[OUT_COMPLETE_AT] = st->complete ? 1 : 0;
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        put64(rec + OUT_TIMES_AT + 8 * i, times[i]);
    put64(rec + OUT_SEQ_AT, st->seq);
    memcpy(rec + OUT_REPLY_MSG_ID_AT, st->reply_msg_id, RK_MSGID_LEN);
    put32(rec + OUT_STATUS_AT, (uint32_t)st->status);
    put32(rec + OUT_CAUSE_AT, (uint32_t)st->cause);
    put_text(rec + OUT_PEER_AT, RK_ID_MAX + 1, st->peer);
    put_text(rec + OUT_DETAIL_AT, RK_DETAIL_MAX + 1, st->detail);
    put32(rec + OUT_ATTEMPTS_AT, st->attempts);
    put64(rec + OUT_LAST_SENT_AT, st->last_sent_ms);
    put64(rec + OUT_NEXT_TRY_AT, st->next_try_ms);
    put64(rec + OUT_FRAME_LEN_AT, d->frame_len);
}

/* Reads an outbox value into *d; frame (may be NULL) points into it.  A
 * damaged value says what is wrong in why (may be NULL). */
static bool out_decode(const MDB_val *v, out_rec *d, const uint8_t **frame, char *why, size_t why_len)
{
    rec_reader r = {v->mv_data, "outbox", why, why_len, true};
    rk_msg_status *st = &d->st;
    uint64_t *times[] = {&st->created_ms,  &st->accepted_ms, &st->delivered_ms,
                         &st->answered_ms, &st->refused_ms,  &st->expired_ms};
    uint32_t version, state;

    memset(d, 0, sizeof *d);
    if (v->mv_size < OUT_FIXED) {
        rec_fault(&r, "it is %zu bytes long, shorter than its fixed part of %d bytes", v->mv_size, OUT_FIXED);
        return false;
    }
    version = get32(r.rec + OUT_VERSION_AT);
    if (version != OUT_VERSION) {
        rec_fault(&r, "its format version word is 0x%08x; this agent reads only 0x%08x", version,
                  OUT_VERSION);
        return false;
    }
    d->frame_len = get64(r.rec + OUT_FRAME_LEN_AT);
    if (d->frame_len != v->mv_size - OUT_FIXED)
        rec_fault(&r, "its frame length says %llu bytes but %zu follow the fixed part",
                  (unsigned long long)d->frame_len, v->mv_size - OUT_FIXED);
    d->waiter_pid = get32(r.rec + OUT_WAITER_AT);
    memcpy(st->msg_id, r.rec + OUT_MSG_ID_AT, RK_MSGID_LEN);
    rec_text(&r, OUT_TO_AT, sizeof st->to, st->to, "recipient");
    rec_text(&r, OUT_TYPE_AT, sizeof st->type, st->type, "type");
    memcpy(st->code, r.rec + OUT_CODE_AT, RK_CODE_LEN);
    st->no_reply = rec_bool(&r, OUT_NO_REPLY_AT, "no-reply");
    st->is_reply = rec_bool(&r, OUT_IS_REPLY_AT, "is-reply");
    memcpy(st->reply_to, r.rec + OUT_REPLY_TO_AT, RK_MSGID_LEN);
    state = get32(r.rec + OUT_STATE_AT);
    if (state < RK_MSG_PENDING || state > RK_MSG_EXPIRED)
        rec_fault(&r, "its state (byte %d) is %u, not a message state", OUT_STATE_AT, state);
    else
        st->state = (rk_msg_state)state;
    st->complete = rec_bool(&r, OUT_COMPLETE_AT, "complete");
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        *times[i] = get64(r.rec + OUT_TIMES_AT + 8 * i);
    st->seq = get64(r.rec + OUT_SEQ_AT);
    memcpy(st->reply_msg_id, r.rec + OUT_REPLY_MSG_ID_AT, RK_MSGID_LEN);
    /* Any status code is kept as it is: a newer hub may know more of them. */
    st->status = (rk_status)get32(r.rec + OUT_STATUS_AT);
    st->cause = (rk_status)get32(r.rec + OUT_CAUSE_AT);
    rec_text(&r, OUT_PEER_AT, sizeof st->peer, st->peer, "peer");
    rec_text(&r, OUT_DETAIL_AT, sizeof st->detail, st->detail, "detail");
    st->attempts = get32(r.rec + OUT_ATTEMPTS_AT);
    st->last_sent_ms = get64(r.rec + OUT_LAST_SENT_AT);
    st->next_try_ms = get64(r.rec + OUT_NEXT_TRY_AT);
    if (!r.ok) {
        memset(d, 0, sizeof *d);
        return false;
    }
    if (frame != NULL)
        *frame = r.rec + OUT_FIXED;
    return true;
}

static void in_encode(const rk_inbox_entry *e, uint8_t rec[IN_FIXED])
{
    memset(rec, 0, IN_FIXED);
    put32(rec + IN_VERSION_AT, IN_VERSION);
    put32(rec + IN_STATE_AT, (uint32_t)e->state);
    put32(rec + IN_PID_AT, e->pid);
    put64(rec + IN_CLAIM_AT, e->claim_ms);
    put64(rec + IN_DONE_AT, e->done_ms);
    put64(rec + IN_RECEIVED_AT, e->received_ms);
    put64(rec + IN_ORDER_AT, e->order);
    put64(rec + IN_HUB_SEQ_AT, e->hub_seq);
    rec[IN_FIRST_CONTACT_AT] = e->first_contact ? 1 : 0;
    memcpy(rec + IN_CODE_AT, e->code, RK_CODE_LEN);
    put_text(rec + IN_FROM_AT, RK_ID_MAX + 1, e->from);
    put_text(rec + IN_TYPE_AT, RK_TYPE_MAX + 1, e->type);
    memcpy(rec + IN_MSG_ID_AT, e->msg_id, RK_MSGID_LEN);
    rec[IN_HAS_REPLY_TO_AT] = e->has_reply_to ? 1 : 0;
    memcpy(rec + IN_REPLY_TO_AT, e->reply_to, RK_MSGID_LEN);
    memcpy(rec + IN_SENDER_KEY_AT, e->sender_key, RK_KEY_LEN);
    memcpy(rec + IN_SIGNATURE_AT, e->signature, RK_SIG_LEN);
    put32(rec + IN_ATTEMPTS_AT, e->attempts);
    put64(rec + IN_NEXT_TRY_AT, e->next_try_ms);
    put64(rec + IN_CORE_LEN_AT, e->core_len);
    put_text(rec + IN_ERROR_AT, RK_ATTEMPT_ERROR_MAX + 1, e->last_error);
}

/* Reads an inbox value; with core, a malloc'd copy of the core bytes.
 * Returns 0, -1 for a damaged value (said in why, may be NULL), or ENOMEM. */
static int in_decode(const MDB_val *v, rk_inbox_entry *e, bool with_core, char *why, size_t why_len)
{
    rec_reader r = {v->mv_data, "inbox", why, why_len, true};
    uint32_t version, state;
    uint64_t core_len;
    size_t fixed;

    memset(e, 0, sizeof *e);
    if (v->mv_size < 4) {
        rec_fault(&r, "it is %zu bytes long, shorter than its format version word", v->mv_size);
        return -1;
    }
    version = get32(r.rec + IN_VERSION_AT);
    if (version != IN_VERSION && version != IN_VERSION_V1) {
        rec_fault(&r, "its format version word is 0x%08x; this agent reads only 0x%08x and 0x%08x", version,
                  IN_VERSION, IN_VERSION_V1);
        return -1;
    }
    fixed = version == IN_VERSION ? IN_FIXED : IN_FIXED_V1;
    if (v->mv_size < fixed) {
        rec_fault(&r, "it is %zu bytes long, shorter than its fixed part of %zu bytes", v->mv_size, fixed);
        return -1;
    }
    core_len = get64(r.rec + IN_CORE_LEN_AT);
    if (core_len != v->mv_size - fixed)
        rec_fault(&r, "its core length says %llu bytes but %zu follow the fixed part",
                  (unsigned long long)core_len, v->mv_size - fixed);
    state = get32(r.rec + IN_STATE_AT);
    if (state < RK_IN_NEW || state > (version == IN_VERSION ? RK_IN_DEAD : RK_IN_DONE))
        rec_fault(&r, "its state (byte %d) is %u, not an inbox state", IN_STATE_AT, state);
    else
        e->state = (rk_inbox_state)state;
    if (version == IN_VERSION) {
        /* Format 1 held whatever was in memory in these bytes. */
        e->attempts = get32(r.rec + IN_ATTEMPTS_AT);
        e->next_try_ms = get64(r.rec + IN_NEXT_TRY_AT);
        rec_text(&r, IN_ERROR_AT, sizeof e->last_error, e->last_error, "last error");
    }
    e->pid = get32(r.rec + IN_PID_AT);
    e->claim_ms = get64(r.rec + IN_CLAIM_AT);
    e->done_ms = get64(r.rec + IN_DONE_AT);
    e->received_ms = get64(r.rec + IN_RECEIVED_AT);
    e->order = get64(r.rec + IN_ORDER_AT);
    e->hub_seq = get64(r.rec + IN_HUB_SEQ_AT);
    e->first_contact = rec_bool(&r, IN_FIRST_CONTACT_AT, "first-contact");
    memcpy(e->code, r.rec + IN_CODE_AT, RK_CODE_LEN);
    rec_text(&r, IN_FROM_AT, sizeof e->from, e->from, "sender");
    rec_text(&r, IN_TYPE_AT, sizeof e->type, e->type, "type");
    memcpy(e->msg_id, r.rec + IN_MSG_ID_AT, RK_MSGID_LEN);
    e->has_reply_to = rec_bool(&r, IN_HAS_REPLY_TO_AT, "has-reply-to");
    memcpy(e->reply_to, r.rec + IN_REPLY_TO_AT, RK_MSGID_LEN);
    memcpy(e->sender_key, r.rec + IN_SENDER_KEY_AT, RK_KEY_LEN);
    memcpy(e->signature, r.rec + IN_SIGNATURE_AT, RK_SIG_LEN);
    if (!r.ok) {
        sodium_memzero(e, sizeof *e);
        return -1;
    }
    e->core_len = (size_t)core_len;
    if (with_core) {
        e->core = malloc(e->core_len ? e->core_len : 1);
        if (e->core == NULL) {
            rk_why(why, why_len, "out of memory reading the inbox");
            return ENOMEM;
        }
        memcpy(e->core, r.rec + fixed, e->core_len);
    }
    return 0;
}

/* Whether two outbox records say the same, field by field. */
static bool status_equal(const rk_msg_status *a, const rk_msg_status *b)
{
    return memcmp(a->msg_id, b->msg_id, RK_MSGID_LEN) == 0 && strcmp(a->to, b->to) == 0 &&
           strcmp(a->type, b->type) == 0 && memcmp(a->code, b->code, RK_CODE_LEN) == 0 &&
           a->no_reply == b->no_reply && a->is_reply == b->is_reply &&
           memcmp(a->reply_to, b->reply_to, RK_MSGID_LEN) == 0 && a->state == b->state &&
           a->complete == b->complete && a->created_ms == b->created_ms && a->accepted_ms == b->accepted_ms &&
           a->delivered_ms == b->delivered_ms && a->answered_ms == b->answered_ms &&
           a->refused_ms == b->refused_ms && a->expired_ms == b->expired_ms && a->seq == b->seq &&
           memcmp(a->reply_msg_id, b->reply_msg_id, RK_MSGID_LEN) == 0 && a->status == b->status &&
           a->cause == b->cause && strcmp(a->peer, b->peer) == 0 && strcmp(a->detail, b->detail) == 0 &&
           a->attempts == b->attempts && a->last_sent_ms == b->last_sent_ms &&
           a->next_try_ms == b->next_try_ms;
}

/* Reads msg_id's record in txn.  rc is MDB_NOTFOUND if absent, -1 if
 * damaged (said in why, which may be NULL). */
static int out_read(rk_mailbox_t *mb, MDB_txn *txn, const uint8_t msg_id[RK_MSGID_LEN], out_rec *d,
                    const uint8_t **frame, char *why, size_t why_len)
{
    MDB_val k = {RK_MSGID_LEN, (void *)msg_id}, v;
    int rc = mdb_get(txn, mb->out, &k, &v);
    if (rc != 0)
        return rc;
    return out_decode(&v, d, frame, why, why_len) ? 0 : -1;
}

/* Rewrites the record of d->st.msg_id in txn, keeping its frame bytes, and
 * keeps the pending index in step.  -1 (said in why): the stored record is
 * not the length d was read with. */
static int out_write(rk_mailbox_t *mb, MDB_txn *txn, out_rec *d, char *why, size_t why_len)
{
    MDB_val k = {RK_MSGID_LEN, d->st.msg_id}, v;
    int rc;

    set_complete(&d->st);
    rc = mdb_get(txn, mb->out, &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != OUT_FIXED + d->frame_len) {
        rk_why(why, why_len, "agent store: an outbox record changed its length while being updated");
        return -1;
    }
    /* The old value may live in the map; MDB_RESERVE would overlap it. */
    {
        uint8_t *buf = malloc(v.mv_size);
        if (buf == NULL)
            return ENOMEM;
        out_encode(d, buf);
        memcpy(buf + OUT_FIXED, (const uint8_t *)v.mv_data + OUT_FIXED, d->frame_len);
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

/* The result of a write transaction step: commits if changed, else aborts.
 * rc -1 is a damaged record, which the step has said in why already. */
static rk_agent_err finish(MDB_txn *txn, int rc, bool changed, const char *what, char *why, size_t why_len)
{
    if (rc == -1) {
        mdb_txn_abort(txn);
        return RK_AGENT_ESTORE;
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

rk_agent_err rk_mailbox_out_record(const void *val, size_t len, rk_msg_status *st, uint32_t *waiter_pid,
                                   size_t *frame_len, char *why, size_t why_len)
{
    MDB_val v = {len, (void *)val};
    out_rec d;
    bool ok = out_decode(&v, &d, NULL, why, why_len);
    *st = d.st;
    if (waiter_pid != NULL)
        *waiter_pid = d.waiter_pid;
    *frame_len = (size_t)d.frame_len;
    return ok ? RK_AGENT_OK : RK_AGENT_ESTORE;
}

rk_agent_err rk_mailbox_in_record(const void *val, size_t len, rk_inbox_entry *e, char *why, size_t why_len)
{
    MDB_val v = {len, (void *)val};
    int rc = in_decode(&v, e, true, why, why_len);
    return rc == 0 ? RK_AGENT_OK : rc == ENOMEM ? RK_AGENT_ENOMEM : RK_AGENT_ESTORE;
}

void rk_mailbox_out_encode(const rk_msg_status *st, uint32_t waiter_pid, size_t frame_len,
                           uint8_t rec[RK_MAILBOX_OUT_FIXED])
{
    out_rec d = {waiter_pid, *st, frame_len};
    out_encode(&d, rec);
}

void rk_mailbox_in_encode(const rk_inbox_entry *e, uint8_t rec[RK_MAILBOX_IN_FIXED])
{
    in_encode(e, rec);
}

/* Reads the inbox record under k: 0, MDB_NOTFOUND, -1 if damaged (said in
 * why, which may be NULL), or another error. */
static int in_read(rk_mailbox_t *mb, MDB_txn *txn, const MDB_val *k, rk_inbox_entry *e, bool with_core,
                   char *why, size_t why_len)
{
    MDB_val v;
    int rc = mdb_get(txn, mb->in, (MDB_val *)k, &v);
    if (rc != 0) {
        memset(e, 0, sizeof *e);
        return rc;
    }
    return in_decode(&v, e, with_core, why, why_len);
}

/* Rewrites the fixed part of an inbox record (state changes), keeping the
 * core bytes; a format 1 record becomes format 2. */
static int in_rewrite(rk_mailbox_t *mb, MDB_txn *txn, const MDB_val *k, const rk_inbox_entry *e, char *why,
                      size_t why_len)
{
    MDB_val v;
    uint8_t *buf;
    int rc = mdb_get(txn, mb->in, (MDB_val *)k, &v);
    if (rc != 0)
        return rc;
    size_t old_fixed = v.mv_size - e->core_len;
    if (v.mv_size < e->core_len || (old_fixed != IN_FIXED && old_fixed != IN_FIXED_V1)) {
        rk_why(why, why_len, "agent store: an inbox record changed its length while being updated");
        return -1;
    }
    buf = malloc(IN_FIXED + e->core_len);
    if (buf == NULL)
        return ENOMEM;
    in_encode(e, buf);
    memcpy(buf + IN_FIXED, (const uint8_t *)v.mv_data + old_fixed, e->core_len);
    v.mv_size = IN_FIXED + e->core_len;
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
static int in_move(rk_mailbox_t *mb, MDB_txn *txn, const MDB_val *k, rk_inbox_entry *e, rk_inbox_state to,
                   uint32_t pid, uint64_t now_ms, char *why, size_t why_len)
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
    } else if (to == RK_IN_DEAD) {
        e->pid = 0;
    } else {
        e->done_ms = now_ms;
    }
    return in_rewrite(mb, txn, k, e, why, why_len);
}

/* ------------------------------------------------------------------ outbox */

rk_agent_err rk_mailbox_out_add(rk_mailbox_t *mb, const rk_msg_status *st, const uint8_t *frame,
                                size_t frame_len, const char *done_from, const uint8_t *done_msg_id,
                                uint64_t now_ms, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {RK_MSGID_LEN, (void *)st->msg_id}, v, empty = {0, (void *)""};
    out_rec d;
    uint8_t *buf;
    int rc;

    memset(&d, 0, sizeof d);
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
    buf = malloc(OUT_FIXED + frame_len);
    if (buf == NULL) {
        rk_why(why, why_len, "out of memory recording the message in the outbox");
        return RK_AGENT_ENOMEM;
    }
    out_encode(&d, buf);
    memcpy(buf + OUT_FIXED, frame, frame_len);
    v.mv_size = OUT_FIXED + frame_len;
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
        rc = in_read(mb, txn, &ik, &e, false, why, why_len);
        if (rc == 0 && e.state != RK_IN_DONE)
            rc = in_move(mb, txn, &ik, &e, RK_IN_DONE, 0, now_ms, why, why_len);
        else if (rc == MDB_NOTFOUND)
            rc = 0; /* the request is not in this inbox: nothing to close */
    }
    return finish(txn, rc, true, "recording the message in the outbox", why, why_len);
}

rk_agent_err rk_mailbox_out_get(rk_mailbox_t *mb, const uint8_t msg_id[RK_MSGID_LEN], rk_msg_status *st,
                                uint8_t **frame, size_t *frame_len, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    out_rec d;
    const uint8_t *f = NULL;
    rk_agent_err err = RK_AGENT_OK;
    int rc;

    if (frame != NULL)
        *frame = NULL;
    if ((rc = mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "reading the outbox", why, why_len);
    rc = out_read(mb, txn, msg_id, &d, &f, why, why_len);
    if (rc == MDB_NOTFOUND) {
        rk_why(why, why_len, "this message is not in the outbox");
        err = RK_AGENT_ENOTFOUND;
    } else if (rc == -1) {
        err = RK_AGENT_ESTORE;
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
    out_rec d;
    bool changed = false;
    int rc;

    if (!r->has_msg_id)
        return RK_AGENT_OK;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "recording the hub's answer", why, why_len);
    rc = out_read(mb, txn, r->msg_id, &d, NULL, why, why_len);
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
        rc = out_write(mb, txn, &d, why, why_len);
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
        rc = out_write(mb, txn, &d, why, why_len);
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
        err = damaged("outbox log position", "it is not 8 bytes long", why, why_len);
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
    const rk_msg_status before = *st;

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
    return !status_equal(&before, st);
}

rk_agent_err rk_mailbox_out_notice(rk_mailbox_t *mb, const rk_notice_t *n, uint64_t now_ms, bool *known,
                                   char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    out_rec d;
    bool changed = false;
    int rc;

    *known = false;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "recording a notice", why, why_len);
    rc = out_read(mb, txn, n->msg_id, &d, NULL, why, why_len);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return RK_AGENT_OK;
    }
    if (rc == 0) {
        *known = true;
        changed = apply_notice(&d.st, n, now_ms);
        if (changed)
            rc = out_write(mb, txn, &d, why, why_len);
    }
    return finish(txn, rc, changed, "recording a notice", why, why_len);
}

rk_agent_err rk_mailbox_out_sent(rk_mailbox_t *mb, const uint8_t msg_id[RK_MSGID_LEN], uint64_t now_ms,
                                 uint64_t next_try_ms, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    out_rec d;
    int rc;

    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "noting a send", why, why_len);
    rc = out_read(mb, txn, msg_id, &d, NULL, why, why_len);
    if (rc == 0) {
        d.st.attempts++;
        d.st.last_sent_ms = now_ms;
        d.st.next_try_ms = next_try_ms;
        rc = out_write(mb, txn, &d, why, why_len);
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
    out_rec d;
    int rc;

    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "noting a waiter", why, why_len);
    rc = out_read(mb, txn, msg_id, &d, NULL, why, why_len);
    if (rc == 0) {
        d.waiter_pid = pid;
        rc = out_write(mb, txn, &d, why, why_len);
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
        out_rec d;
        int r;
        if (k.mv_size != RK_MSGID_LEN) {
            err = damaged("outbox index", "a key is not a message id", why, why_len);
            break;
        }
        /* Every key of the pending index names an outbox record: one that
         * is missing or does not decode is damage, not the end of the list. */
        r = out_read(mb, txn, k.mv_data, &d, NULL, why, why_len);
        if (r == -1) {
            err = RK_AGENT_ESTORE;
            break;
        }
        if (r == MDB_NOTFOUND) {
            err = damaged("outbox index", "it names a message the outbox does not hold", why, why_len);
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
        out_rec d;
        if (!out_decode(&v, &d, NULL, why, why_len)) {
            err = RK_AGENT_ESTORE;
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

/* The next inbox arrival number: meta "inbox.next", 8 bytes little-endian
 * (1 if absent). */
static int next_order(rk_mailbox_t *mb, MDB_txn *txn, uint64_t *order)
{
    MDB_val k = {sizeof META_INBOX_NEXT - 1, (void *)META_INBOX_NEXT}, v;
    uint8_t buf[8];
    uint64_t next = 1;
    int rc = mdb_get(txn, mb->meta, &k, &v);
    if (rc == 0 && v.mv_size == sizeof buf)
        next = get64(v.mv_data);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    *order = next;
    put64(buf, next + 1);
    v.mv_size = sizeof buf;
    v.mv_data = buf;
    return mdb_put(txn, mb->meta, &k, &v, 0);
}

/* Writes e as a NEW entry in txn unless (from, msg_id) is there already
 * (*dup true, nothing written); see rk_mailbox_in_add. */
static int in_add_txn(rk_mailbox_t *mb, MDB_txn *txn, const rk_inbox_entry *e, uint64_t now_ms, bool *dup,
                      char *why, size_t why_len)
{
    uint8_t key[IN_KEY_MAX], ord[8];
    MDB_val k, v, ok = {sizeof ord, ord};
    rk_inbox_entry d;
    uint8_t *buf = NULL;
    int rc;

    *dup = false;
    k.mv_size = in_key(e->from, e->msg_id, key);
    k.mv_data = key;
    rc = mdb_get(txn, mb->in, &k, &v);
    if (rc == 0) {
        *dup = true;
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    d = *e;
    d.core = NULL;
    d.state = RK_IN_NEW;
    d.pid = 0;
    d.claim_ms = d.done_ms = 0;
    d.attempts = 0;
    d.next_try_ms = 0;
    d.last_error[0] = '\0';
    d.received_ms = now_ms;
    if ((rc = next_order(mb, txn, &d.order)) != 0)
        return rc;
    buf = malloc(IN_FIXED + e->core_len);
    if (buf == NULL)
        return ENOMEM;
    in_encode(&d, buf);
    memcpy(buf + IN_FIXED, e->core, e->core_len);
    v.mv_size = IN_FIXED + e->core_len;
    v.mv_data = buf;
    rc = mdb_put(txn, mb->in, &k, &v, MDB_NOOVERWRITE);
    free(buf);
    if (rc != 0)
        return rc;
    be64(d.order, ord);
    v = k;
    if ((rc = mdb_put(txn, mb->in_new, &ok, &v, 0)) != 0)
        return rc;
    if (e->has_reply_to) {
        out_rec od;
        rc = out_read(mb, txn, e->reply_to, &od, NULL, NULL, 0);
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
            rc = out_write(mb, txn, &od, why, why_len);
        } else if (rc == MDB_NOTFOUND || rc == 0 || rc == -1) {
            rc = 0; /* not ours, or from someone else: just an inbox entry */
        }
    }
    return rc;
}

rk_agent_err rk_mailbox_in_add_n(rk_mailbox_t *mb, const rk_inbox_entry *es, size_t n, uint64_t now_ms,
                                 bool *dups, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    size_t need = 0, fresh = 0;
    int rc = 0;

    for (size_t i = 0; i < n; i++)
        dups[i] = false;
    /* Room for the entries and for each being claimed and marked done
     * later, each a rewrite: a delivery taken in can always be handed out
     * and finished.  What is known already needs none (and is acknowledged
     * even when full). */
    if (mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn) == 0) {
        for (size_t i = 0; i < n; i++) {
            uint8_t key[IN_KEY_MAX];
            MDB_val k = {in_key(es[i].from, es[i].msg_id, key), key}, v;
            dups[i] = mdb_get(txn, mb->in, &k, &v) == 0;
        }
        mdb_txn_abort(txn);
        txn = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!dups[i]) {
            need += 3 * (IN_FIXED + es[i].core_len);
            fresh++;
        }
    }
    if (fresh == 0)
        return RK_AGENT_OK;
    if (!room_for(mb->env, need + ROOM_MARGIN))
        return lmdb_fail(MDB_MAP_FULL, "recording a delivery", why, why_len);
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "recording a delivery", why, why_len);
    fresh = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = in_add_txn(mb, txn, &es[i], now_ms, &dups[i], why, why_len);
        fresh += rc == 0 && !dups[i];
    }
    return finish(txn, rc, fresh > 0, "recording a delivery", why, why_len);
}

rk_agent_err rk_mailbox_in_add(rk_mailbox_t *mb, const rk_inbox_entry *e, uint64_t now_ms, bool *dup,
                               char *why, size_t why_len)
{
    return rk_mailbox_in_add_n(mb, e, 1, now_ms, dup, why, why_len);
}

/* Whether claim may hand out e to pid. */
static bool claimable(rk_mailbox_t *mb, MDB_txn *txn, const rk_inbox_entry *e, rk_recv_what what, uint32_t pid)
{
    out_rec od;
    if (!e->has_reply_to)
        return true;
    if (what == RK_RECV_REQUESTS)
        return false;
    if (out_read(mb, txn, e->reply_to, &od, NULL, NULL, 0) != 0)
        return true;
    return od.waiter_pid == 0 || od.waiter_pid == pid || !rk_mailbox_pid_alive(od.waiter_pid);
}

rk_agent_err rk_mailbox_in_claim_n(rk_mailbox_t *mb, rk_recv_what what, uint32_t pid, uint64_t now_ms,
                                   rk_inbox_entry *es, size_t max, size_t *n, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t (*keys)[IN_KEY_MAX] = NULL;
    size_t *lens = NULL, found = 0;
    int rc;

    *n = 0;
    if (max == 0) {
        rk_why(why, why_len, "claiming no message at all");
        return RK_AGENT_EINVAL;
    }
    memset(es, 0, max * sizeof *es);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of keys, sized by its element */
    keys = malloc(max * sizeof *keys);
    lens = malloc(max * sizeof *lens);
    if (keys == NULL || lens == NULL) {
        free(keys);
        free(lens);
        rk_why(why, why_len, "out of memory claiming messages");
        return RK_AGENT_ENOMEM;
    }
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        goto out;
    if ((rc = mdb_cursor_open(txn, mb->in_new, &cur)) != 0)
        goto out;
    /* The oldest claimable keys first, collected under the cursor: no
     * writes under a cursor. */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && found < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rk_inbox_entry cand;
        MDB_val ik = {v.mv_size, keys[found]};
        if (v.mv_size > IN_KEY_MAX)
            continue;
        memcpy(keys[found], v.mv_data, v.mv_size);
        if (in_read(mb, txn, &ik, &cand, false, NULL, 0) != 0)
            continue;
        if (cand.state == RK_IN_NEW && claimable(mb, txn, &cand, what, pid))
            lens[found++] = v.mv_size;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND || found == max)
        rc = 0;
    for (size_t i = 0; rc == 0 && i < found; i++) {
        MDB_val ik = {lens[i], keys[i]};
        rc = in_read(mb, txn, &ik, &es[i], true, why, why_len);
        if (rc == 0)
            rc = in_move(mb, txn, &ik, &es[i], RK_IN_CLAIMED, pid, now_ms, why, why_len);
    }
out:
    free(keys);
    free(lens);
    if (txn == NULL)
        return lmdb_fail(rc, "claiming a message", why, why_len);
    if (rc == 0 && found == 0) {
        mdb_txn_abort(txn);
        return RK_AGENT_ENOTFOUND;
    }
    {
        rk_agent_err err = finish(txn, rc, true, "claiming a message", why, why_len);
        if (err != RK_AGENT_OK) {
            for (size_t i = 0; i < max; i++)
                rk_inbox_entry_clear(&es[i]);
            return err;
        }
    }
    *n = found;
    return RK_AGENT_OK;
}

rk_agent_err rk_mailbox_in_claim(rk_mailbox_t *mb, rk_recv_what what, uint32_t pid, uint64_t now_ms,
                                 rk_inbox_entry *e, char *why, size_t why_len)
{
    size_t n = 0;
    return rk_mailbox_in_claim_n(mb, what, pid, now_ms, e, 1, &n, why, why_len);
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
    rc = in_read(mb, txn, &k, e, true, why, why_len);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "this message is not in the inbox");
        return RK_AGENT_ENOTFOUND;
    }
    if (rc == 0 && (e->state == RK_IN_NEW || e->state == RK_IN_DEAD ||
                    (e->state == RK_IN_CLAIMED && e->pid != pid && !rk_mailbox_pid_alive(e->pid)))) {
        changed = true;
        rc = in_move(mb, txn, &k, e, RK_IN_CLAIMED, pid, now_ms, why, why_len);
    }
    if (rc == 0 && e->has_reply_to) {
        /* The reply is in hand: pid's wait mark on the request has done its
         * work, and clearing it here saves the waiter a commit of its own. */
        out_rec od;
        int orc = out_read(mb, txn, e->reply_to, &od, NULL, why, why_len);
        if (orc == 0 && od.waiter_pid == pid && pid != 0) {
            od.waiter_pid = 0;
            rc = out_write(mb, txn, &od, why, why_len);
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
    rc = in_read(mb, txn, &k, e, true, why, why_len);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND) {
        rk_why(why, why_len, "this message is not in the inbox");
        return RK_AGENT_ENOTFOUND;
    }
    if (rc != 0) {
        rk_inbox_entry_clear(e);
        return rc == -1 ? RK_AGENT_ESTORE : lmdb_fail(rc, "reading the inbox", why, why_len);
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
    rc = in_read(mb, txn, &k, &e, false, why, why_len);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "this message is not in the inbox");
        return RK_AGENT_ENOTFOUND;
    }
    if (rc == 0 && e.state != RK_IN_DONE) {
        changed = true;
        rc = in_move(mb, txn, &k, &e, RK_IN_DONE, 0, now_ms, why, why_len);
    }
    return finish(txn, rc, changed, "marking a message done", why, why_len);
}

rk_agent_err rk_mailbox_in_done_n(rk_mailbox_t *mb, const rk_inbox_ref *refs, size_t n, uint64_t now_ms,
                                  rk_agent_err *each, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    bool changed = false;
    rk_agent_err err;
    int rc;

    if (n == 0)
        return RK_AGENT_OK;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0) {
        err = lmdb_fail(rc, "marking messages done", why, why_len);
        for (size_t i = 0; i < n; i++)
            each[i] = err;
        return err;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t key[IN_KEY_MAX];
        MDB_val k = {in_key(refs[i].from, refs[i].msg_id, key), key};
        rk_inbox_entry e;
        rc = in_read(mb, txn, &k, &e, false, why, why_len);
        if (rc == MDB_NOTFOUND) {
            each[i] = RK_AGENT_ENOTFOUND;
            rc = 0;
        } else if (rc == 0 && e.state == RK_IN_DONE) {
            each[i] = RK_AGENT_ECONFLICT;
        } else if (rc == 0) {
            each[i] = RK_AGENT_OK;
            changed = true;
            rc = in_move(mb, txn, &k, &e, RK_IN_DONE, 0, now_ms, why, why_len);
        }
    }
    err = finish(txn, rc, changed, "marking messages done", why, why_len);
    if (err != RK_AGENT_OK)
        for (size_t i = 0; i < n; i++)
            each[i] = err;
    return err;
}

/* Inbox keys collected under a cursor, to be changed after it: no writes
 * under a cursor. */
typedef struct key_list {
    uint8_t (*keys)[IN_KEY_MAX];
    size_t *lens;
    size_t n, cap;
} key_list;

static void key_list_free(key_list *l)
{
    free(l->keys);
    free(l->lens);
    memset(l, 0, sizeof *l);
}

/* The keys of dbi (inbox keys: inbox.claimed, or the inbox itself) whose
 * readable inbox record pick says yes to.  0, ENOMEM or an LMDB error. */
static int collect_keys(rk_mailbox_t *mb, MDB_txn *txn, MDB_dbi dbi, bool (*pick)(const rk_inbox_entry *e),
                        key_list *l)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;

    memset(l, 0, sizeof *l);
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rk_inbox_entry e;
        if (k.mv_size > IN_KEY_MAX || in_read(mb, txn, &k, &e, false, NULL, 0) != 0 || !pick(&e))
            continue;
        if (l->n == l->cap) {
            size_t ncap = l->cap ? l->cap * 2 : 8;
            void *bk = realloc(l->keys, ncap * sizeof *l->keys);
            if (bk != NULL)
                l->keys = bk;
            void *bl = bk != NULL ? realloc(l->lens, ncap * sizeof *l->lens) : NULL;
            if (bl == NULL) {
                rc = ENOMEM;
                break;
            }
            l->lens = bl;
            l->cap = ncap;
        }
        memcpy(l->keys[l->n], k.mv_data, k.mv_size);
        l->lens[l->n++] = k.mv_size;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        key_list_free(l);
        return rc;
    }
    return 0;
}

static bool claim_is_stale(const rk_inbox_entry *e)
{
    return !(e->state == RK_IN_CLAIMED && rk_mailbox_pid_alive(e->pid));
}

static bool is_dead(const rk_inbox_entry *e)
{
    return e->state == RK_IN_DEAD;
}

rk_agent_err rk_mailbox_in_release_stale(rk_mailbox_t *mb, size_t *released, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    key_list l;
    size_t count = 0;
    int rc;

    if (released != NULL)
        *released = 0;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "releasing stale claims", why, why_len);
    rc = collect_keys(mb, txn, mb->in_claimed, claim_is_stale, &l);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        MDB_val ik = {l.lens[i], l.keys[i]};
        rk_inbox_entry e;
        rc = in_read(mb, txn, &ik, &e, false, NULL, 0);
        if (rc == 0 && e.state == RK_IN_CLAIMED) {
            rc = in_move(mb, txn, &ik, &e, RK_IN_NEW, 0, 0, why, why_len);
            count++;
        } else if (rc == 0 || rc == MDB_NOTFOUND || rc == -1) {
            /* An index entry without a claimed record: drop it. */
            rc = mdb_del(txn, mb->in_claimed, &ik, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
    }
    if (rc == 0 && released != NULL)
        *released = count;
    {
        bool changed = l.n > 0;
        key_list_free(&l);
        return finish(txn, rc, changed, "releasing stale claims", why, why_len);
    }
}

/* An attempt's error as kept: printable ASCII, cut to its field. */
static void clean_error(char dst[RK_ATTEMPT_ERROR_MAX + 1], const char *src)
{
    size_t n = 0;
    for (; src != NULL && src[n] != '\0' && n < RK_ATTEMPT_ERROR_MAX; n++) {
        char c = src[n];
        if (c < 0x20 || c >= 0x7f)
            c = ' ';
        dst[n] = c;
    }
    dst[n] = '\0';
}

rk_agent_err rk_mailbox_in_failed(rk_mailbox_t *mb, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                                  const char *error, uint64_t next_try_ms, uint32_t *attempts, char *why,
                                  size_t why_len)
{
    MDB_txn *txn = NULL;
    uint8_t key[IN_KEY_MAX];
    MDB_val k = {in_key(from, msg_id, key), key};
    rk_inbox_entry e;
    int rc;

    if (attempts != NULL)
        *attempts = 0;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "recording a failed attempt", why, why_len);
    rc = in_read(mb, txn, &k, &e, false, why, why_len);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "this message is not in the inbox");
        return RK_AGENT_ENOTFOUND;
    }
    if (rc == 0 && e.state == RK_IN_DONE) {
        mdb_txn_abort(txn);
        rk_why(why, why_len, "this message was answered or marked done already");
        return RK_AGENT_ECONFLICT;
    }
    if (rc == 0) {
        if (e.attempts < UINT32_MAX)
            e.attempts++;
        clean_error(e.last_error, error);
        e.next_try_ms = next_try_ms;
        if (attempts != NULL)
            *attempts = e.attempts;
        if (next_try_ms == 0)
            rc = in_move(mb, txn, &k, &e, RK_IN_DEAD, 0, 0, why, why_len);
        else
            rc = in_rewrite(mb, txn, &k, &e, why, why_len);
    }
    return finish(txn, rc, true, "recording a failed attempt", why, why_len);
}

/* Puts the DEAD entry under k back to NEW in txn; ECONFLICT-like -2 if it
 * is not DEAD. */
static int in_revive(rk_mailbox_t *mb, MDB_txn *txn, const MDB_val *k, char *why, size_t why_len)
{
    rk_inbox_entry e;
    int rc = in_read(mb, txn, k, &e, false, why, why_len);
    if (rc != 0)
        return rc;
    if (e.state != RK_IN_DEAD)
        return -2;
    e.attempts = 0;
    e.next_try_ms = 0;
    e.last_error[0] = '\0';
    return in_move(mb, txn, k, &e, RK_IN_NEW, 0, 0, why, why_len);
}

rk_agent_err rk_mailbox_in_retry(rk_mailbox_t *mb, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                                 size_t *n, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    key_list l;
    int rc;

    if (n != NULL)
        *n = 0;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "retrying a message", why, why_len);
    if (from != NULL) {
        uint8_t key[IN_KEY_MAX];
        MDB_val one = {in_key(from, msg_id, key), key};
        rc = in_revive(mb, txn, &one, why, why_len);
        if (rc == MDB_NOTFOUND || rc == -2) {
            mdb_txn_abort(txn);
            rk_why(why, why_len,
                   rc == -2 ? "this message is not dead (it is not waiting for a retry)"
                            : "this message is not in the inbox");
            return rc == -2 ? RK_AGENT_ECONFLICT : RK_AGENT_ENOTFOUND;
        }
        if (rc == 0 && n != NULL)
            *n = 1;
        return finish(txn, rc, true, "retrying a message", why, why_len);
    }
    /* Every DEAD entry. */
    rc = collect_keys(mb, txn, mb->in, is_dead, &l);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        MDB_val ik = {l.lens[i], l.keys[i]};
        rc = in_revive(mb, txn, &ik, why, why_len);
    }
    if (rc == 0 && n != NULL)
        *n = l.n;
    {
        bool changed = l.n > 0;
        key_list_free(&l);
        return finish(txn, rc, changed, "retrying messages", why, why_len);
    }
}

static int by_order(const void *pa, const void *pb)
{
    const rk_inbox_entry *a = pa, *b = pb;
    return a->order < b->order ? -1 : a->order > b->order;
}

rk_agent_err rk_mailbox_in_troubled(rk_mailbox_t *mb, rk_inbox_entry **list, size_t *n, char *why,
                                    size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    rk_inbox_entry *out = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *list = NULL;
    *n = 0;
    if ((rc = mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "reading the inbox", why, why_len);
    if ((rc = mdb_cursor_open(txn, mb->in, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lmdb_fail(rc, "reading the inbox", why, why_len);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rk_inbox_entry e;
        if ((rc = in_decode(&v, &e, false, why, why_len)) != 0)
            break;
        if (e.state == RK_IN_DONE || (e.state != RK_IN_DEAD && e.attempts == 0))
            continue;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            rk_inbox_entry *bigger = realloc(out, ncap * sizeof *out);
            if (bigger == NULL) {
                rc = ENOMEM;
                break;
            }
            out = bigger;
            cap = ncap;
        }
        out[cnt++] = e;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        if (out != NULL)
            sodium_memzero(out, cap * sizeof *out);
        free(out);
        if (rc == ENOMEM) {
            rk_why(why, why_len, "out of memory reading the inbox");
            return RK_AGENT_ENOMEM;
        }
        return rc == -1 ? RK_AGENT_ESTORE : lmdb_fail(rc, "reading the inbox", why, why_len);
    }
    if (cnt > 1)
        qsort(out, cnt, sizeof *out, by_order);
    *list = out;
    *n = cnt;
    return RK_AGENT_OK;
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
    if (in_decode(v, &e, false, NULL, 0) != 0 || e.state != RK_IN_DONE)
        return false;
    t = e.done_ms > e.received_ms ? e.done_ms : e.received_ms;
    return t < before_ms;
}

static bool out_old(const MDB_val *v, uint64_t before_ms)
{
    out_rec d;
    uint64_t t;
    if (!out_decode(v, &d, NULL, NULL, 0))
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
        err = damaged("directory", "it is no longer than its signature", why, why_len);
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

/* ------------------------------------------------------------------ hub key */

rk_agent_err rk_mailbox_hub_key_put(rk_mailbox_t *mb, rk_hub_key_state st, const rk_hub_key_stmt_t *s,
                                    char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {sizeof META_HUB_KEY - 1, (void *)META_HUB_KEY}, v;
    uint8_t rec[HUB_KEY_REC_LEN];
    int rc;

    rec[0] = (uint8_t)st;
    memcpy(rec + HK_OLD, s->old_key, RK_KEY_LEN);
    memcpy(rec + HK_NEW, s->new_key, RK_KEY_LEN);
    be64(s->time_ms, rec + HK_TIME);
    memcpy(rec + HK_SIG, s->signature, RK_SIG_LEN);
    v.mv_size = sizeof rec;
    v.mv_data = rec;
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "keeping the hub's key change", why, why_len);
    rc = mdb_put(txn, mb->meta, &k, &v, 0);
    return finish(txn, rc, true, "keeping the hub's key change", why, why_len);
}

rk_agent_err rk_mailbox_hub_key_get(rk_mailbox_t *mb, rk_hub_key_state *st, rk_hub_key_stmt_t *s, char *why,
                                    size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {sizeof META_HUB_KEY - 1, (void *)META_HUB_KEY}, v;
    rk_agent_err err = RK_AGENT_OK;
    int rc;

    memset(s, 0, sizeof *s);
    if ((rc = mdb_txn_begin(mb->env, NULL, MDB_RDONLY, &txn)) != 0)
        return lmdb_fail(rc, "reading the hub's key change", why, why_len);
    rc = mdb_get(txn, mb->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        rk_why(why, why_len, "no change of the hub's key was kept");
        err = RK_AGENT_ENOTFOUND;
    } else if (rc != 0) {
        err = lmdb_fail(rc, "reading the hub's key change", why, why_len);
    } else if (v.mv_size != HUB_KEY_REC_LEN) {
        err = damaged("hub key change", "it is not 137 bytes long", why, why_len);
    } else {
        const uint8_t *p = v.mv_data;
        if (p[0] != RK_HUB_KEY_ANNOUNCED && p[0] != RK_HUB_KEY_SWITCHED) {
            err = damaged("hub key change", "its state is neither announced nor switched", why, why_len);
        } else {
            *st = (rk_hub_key_state)p[0];
            memcpy(s->old_key, p + HK_OLD, RK_KEY_LEN);
            memcpy(s->new_key, p + HK_NEW, RK_KEY_LEN);
            s->time_ms = 0;
            for (int i = 0; i < 8; i++)
                s->time_ms = s->time_ms << 8 | p[HK_TIME + i];
            memcpy(s->signature, p + HK_SIG, RK_SIG_LEN);
        }
    }
    mdb_txn_abort(txn);
    return err;
}

/* ------------------------------------------------------------------ restore */

#define META_RESTORED "restored.seen"

rk_agent_err rk_mailbox_out_restored(rk_mailbox_t *mb, uint64_t restored_at, uint64_t backup_ms, size_t *n,
                                     char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val mk = {sizeof META_RESTORED - 1, (void *)META_RESTORED}, mv, k, v;
    uint8_t mark[16], (*gone)[RK_MSGID_LEN] = NULL;
    size_t n_gone = 0, cap = 0;
    int rc;

    *n = 0;
    be64(restored_at, mark);
    be64(backup_ms, mark + 8);
    if ((rc = mdb_txn_begin(mb->env, NULL, 0, &txn)) != 0)
        return lmdb_fail(rc, "looking for messages a restored hub lost", why, why_len);
    rc = mdb_get(txn, mb->meta, &mk, &mv);
    if (rc == 0 && mv.mv_size == sizeof mark && memcmp(mv.mv_data, mark, sizeof mark) == 0) {
        mdb_txn_abort(txn); /* this restore was seen before */
        return RK_AGENT_OK;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return finish(txn, rc, false, "looking for messages a restored hub lost", why, why_len);
    /* The messages whose routing-log entry is at restored_at or after: the
     * hub accepted them after the backup it now runs on. */
    rc = mdb_cursor_open(txn, mb->out_log, &cur);
    for (rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : rc; rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t size = 0;
        const uint8_t *b = v.mv_data;
        if (k.mv_size != RK_MSGID_LEN || v.mv_size != 8) {
            rc = -1;
            rk_why(why, why_len, "agent store: an outbox log position is damaged");
            break;
        }
        for (int i = 0; i < 8; i++)
            size = (size << 8) | b[i];
        if (size == 0 || size - 1 < restored_at)
            continue;
        if (n_gone == cap) {
            size_t c = cap ? cap * 2 : 64;
            uint8_t(*g)[RK_MSGID_LEN] = realloc(gone, c * sizeof *g);
            if (g == NULL) {
                rc = ENOMEM;
                break;
            }
            gone = g;
            cap = c;
        }
        memcpy(gone[n_gone++], k.mv_data, RK_MSGID_LEN);
    }
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    for (size_t i = 0; rc == 0 && i < n_gone; i++) {
        MDB_val gk = {RK_MSGID_LEN, gone[i]};
        out_rec d;
        rc = out_read(mb, txn, gone[i], &d, NULL, why, why_len);
        if (rc == MDB_NOTFOUND) {
            rc = 0; /* purged meanwhile */
            continue;
        }
        if (rc != 0)
            break;
        /* Only ACCEPTED: a later step (delivered, answered, refused,
         * expired) came from the hub after the message reached its
         * recipient or its end, and stays true. */
        if (d.st.state != RK_MSG_ACCEPTED)
            continue;
        d.st.state = RK_MSG_PENDING;
        d.st.accepted_ms = 0;
        d.st.seq = 0;
        d.st.next_try_ms = 0;
        d.st.status = RK_ST_UNSPECIFIED;
        copy_text(d.st.detail, sizeof d.st.detail,
                  "the hub was restored from a backup taken before it accepted "
                  "this message: sent again");
        if ((rc = out_write(mb, txn, &d, why, why_len)) == 0 &&
            (rc = mdb_del(txn, mb->out_log, &gk, NULL)) == 0)
            (*n)++;
    }
    free(gone);
    if (rc == 0) {
        mv.mv_size = sizeof mark;
        mv.mv_data = mark;
        rc = mdb_put(txn, mb->meta, &mk, &mv, 0);
    }
    if (rc != 0)
        *n = 0;
    return finish(txn, rc, true, "looking for messages a restored hub lost", why, why_len);
}
