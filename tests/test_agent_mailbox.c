/*
 * test_agent_mailbox.c - the agent's durable outbox and inbox.
 *
 * Straight against the LMDB tables (no sockets): how each event moves a
 * sent message's state, the inbox's duplicate filter, claiming across
 * processes, a reply committed together with the request it closes, and
 * claims of dead processes released, and old completed records deleted;
 * the stored records' byte layout (docs/agent-store.md), including records
 * written by the agent before it encoded them field by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "codebook.h"
#include "mailbox.h"
#include "renkei/agent.h"

typedef struct fixture {
    char dir[64];
    char data[96];
    rk_codebook_t *cb;
    rk_mailbox_t *mb;
} fixture;

static const uint8_t CODE[RK_CODE_LEN] = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
                                          0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xc0};
static const uint8_t FRAME[] = {0x08, 0x01, 0x1a, 0x03, 'a', 'b', 'c'};

static void open_mb(fixture *f)
{
    char why[256] = "";
    if (rk_codebook_open(f->data, 0, &f->cb, why, sizeof why) != RK_AGENT_OK ||
        rk_mailbox_open(rk_codebook_env(f->cb), &f->mb, why, sizeof why) != RK_AGENT_OK)
        fail_msg("opening the store: %s", why);
}

static void close_mb(fixture *f)
{
    rk_mailbox_close(&f->mb);
    rk_codebook_close(&f->cb);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/renkei-agent-mailbox-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    open_mb(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];
    close_mb(f);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

/* ------------------------------------------------------------------ helpers */

static void id_of(uint8_t id[RK_MSGID_LEN], uint8_t n)
{
    memset(id, 0, RK_MSGID_LEN);
    id[0] = 0x11;
    id[RK_MSGID_LEN - 1] = n;
}

static void add_out(fixture *f, uint8_t n, bool no_reply, uint64_t created)
{
    rk_msg_status st;
    char why[256] = "";
    memset(&st, 0, sizeof st);
    id_of(st.msg_id, n);
    snprintf(st.to, sizeof st.to, "power");
    snprintf(st.type, sizeof st.type, "utility.supply.stop");
    memcpy(st.code, CODE, RK_CODE_LEN);
    st.no_reply = no_reply;
    st.created_ms = created;
    if (rk_mailbox_out_add(f->mb, &st, FRAME, sizeof FRAME, NULL, NULL, created, why, sizeof why) != RK_AGENT_OK)
        fail_msg("out_add: %s", why);
}

static rk_msg_status get_out(fixture *f, uint8_t n)
{
    rk_msg_status st;
    uint8_t id[RK_MSGID_LEN];
    char why[256] = "";
    id_of(id, n);
    if (rk_mailbox_out_get(f->mb, id, &st, NULL, NULL, why, sizeof why) != RK_AGENT_OK)
        fail_msg("out_get: %s", why);
    return st;
}

static void result(fixture *f, uint8_t n, rk_status status, uint64_t seq, uint64_t now)
{
    rk_result_t r;
    memset(&r, 0, sizeof r);
    r.has_msg_id = true;
    id_of(r.msg_id, n);
    r.status = status;
    r.seq = seq;
    snprintf(r.detail, sizeof r.detail, "%s", status == RK_ST_ACCEPTED ? "" : "test detail");
    assert_int_equal(rk_mailbox_out_result(f->mb, &r, now, NULL, NULL, 0), RK_AGENT_OK);
}

static bool notice(fixture *f, uint8_t n, rk_status status, uint64_t time_ms)
{
    rk_notice_t no;
    bool known = false;
    memset(&no, 0, sizeof no);
    no.seq = 900 + n;
    id_of(no.msg_id, n);
    no.status = status;
    no.cause = status == RK_ST_REFUSED_BY_RECIPIENT ? RK_ST_UNDECRYPTABLE : RK_ST_UNSPECIFIED;
    snprintf(no.peer, sizeof no.peer, "power");
    no.time_ms = time_ms;
    no.msg_seq = 50 + n;
    assert_int_equal(rk_mailbox_out_notice(f->mb, &no, time_ms + 1, &known, NULL, 0), RK_AGENT_OK);
    return known;
}

/* An inbox entry from `from`; reply_to_n > 0 makes it a reply to message n. */
static void entry(rk_inbox_entry *e, const char *from, uint8_t n, uint8_t reply_to_n)
{
    static uint8_t core[] = {1, 2, 3, 4, 5};
    memset(e, 0, sizeof *e);
    snprintf(e->from, sizeof e->from, "%s", from);
    snprintf(e->type, sizeof e->type, "utility.supply.stop");
    id_of(e->msg_id, n);
    e->msg_id[0] = 0x22; /* other side's ids */
    if (reply_to_n > 0) {
        e->has_reply_to = true;
        id_of(e->reply_to, reply_to_n);
    }
    memcpy(e->code, CODE, RK_CODE_LEN);
    e->hub_seq = 300 + n;
    e->core = core;
    e->core_len = sizeof core;
}

static bool add_in(fixture *f, const char *from, uint8_t n, uint8_t reply_to_n, uint64_t now)
{
    rk_inbox_entry e;
    bool dup = true;
    char why[256] = "";
    entry(&e, from, n, reply_to_n);
    if (rk_mailbox_in_add(f->mb, &e, now, &dup, why, sizeof why) != RK_AGENT_OK)
        fail_msg("in_add: %s", why);
    return dup;
}

/* ------------------------------------------------------------------ status model */

/* PENDING -> (QUEUE_FULL keeps it pending) -> ACCEPTED -> DELIVERED ->
 * ANSWERED, each step with its time; complete only when answered. */
static void test_status_happy_path(void **state)
{
    fixture *f = *state;
    rk_msg_status st;

    add_out(f, 1, false, 1000);
    st = get_out(f, 1);
    assert_int_equal(st.state, RK_MSG_PENDING);
    assert_int_equal(st.created_ms, 1000);
    assert_string_equal(st.to, "power");
    assert_memory_equal(st.code, CODE, RK_CODE_LEN);
    assert_false(st.complete);

    result(f, 1, RK_ST_QUEUE_FULL, 0, 1500);
    st = get_out(f, 1);
    assert_int_equal(st.state, RK_MSG_PENDING);
    assert_int_equal(st.status, RK_ST_QUEUE_FULL);

    result(f, 1, RK_ST_ACCEPTED, 77, 2000);
    st = get_out(f, 1);
    assert_int_equal(st.state, RK_MSG_ACCEPTED);
    assert_int_equal(st.seq, 77);
    assert_int_equal(st.accepted_ms, 2000);
    assert_int_equal(st.status, RK_ST_UNSPECIFIED);

    assert_true(notice(f, 1, RK_ST_DELIVERED, 3000));
    st = get_out(f, 1);
    assert_int_equal(st.state, RK_MSG_DELIVERED);
    assert_int_equal(st.delivered_ms, 3000);
    assert_false(st.complete);

    assert_false(add_in(f, "power", 1, 1, 4000));
    st = get_out(f, 1);
    assert_int_equal(st.state, RK_MSG_ANSWERED);
    assert_int_equal(st.answered_ms, 4000);
    assert_int_equal(st.reply_msg_id[0], 0x22);
    assert_true(st.complete);
    /* A late answer from the hub for an older send changes nothing. */
    result(f, 1, RK_ST_ACCEPTED, 99, 5000);
    st = get_out(f, 1);
    assert_int_equal(st.state, RK_MSG_ANSWERED);
    assert_int_equal(st.seq, 77);
}

/* The reply can overtake the delivery notice: a late DELIVERED records its
 * time but does not move ANSWERED back; nor do EXPIRED or a refusal. */
static void test_status_never_moves_back(void **state)
{
    fixture *f = *state;
    rk_msg_status st;

    add_out(f, 2, false, 1000);
    result(f, 2, RK_ST_ACCEPTED, 10, 1100);
    assert_false(add_in(f, "power", 2, 2, 1200));
    assert_true(notice(f, 2, RK_ST_DELIVERED, 1300));
    st = get_out(f, 2);
    assert_int_equal(st.state, RK_MSG_ANSWERED);
    assert_int_equal(st.delivered_ms, 1300);
    assert_true(notice(f, 2, RK_ST_EXPIRED, 1400));
    assert_true(notice(f, 2, RK_ST_REFUSED_BY_RECIPIENT, 1500));
    st = get_out(f, 2);
    assert_int_equal(st.state, RK_MSG_ANSWERED);
    assert_true(st.complete);
}

/* The routing-log position of the first ACCEPTED is kept, for receipts:
 * not before, not replaced by a later answer, also when the notice came
 * first. */
static void test_log_position_kept(void **state)
{
    fixture *f = *state;
    uint8_t id[RK_MSGID_LEN];
    uint64_t size = 99;
    rk_result_t r;

    add_out(f, 3, false, 1000);
    id_of(id, 3);
    assert_int_equal(rk_mailbox_out_log_size(f->mb, id, &size, NULL, 0), RK_AGENT_ENOTFOUND);
    assert_int_equal(size, 0);
    memset(&r, 0, sizeof r);
    r.has_msg_id = true;
    memcpy(r.msg_id, id, RK_MSGID_LEN);
    r.status = RK_ST_QUEUE_FULL;
    r.log_size = 5; /* only ACCEPTED names the entry */
    assert_int_equal(rk_mailbox_out_result(f->mb, &r, 1100, NULL, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_mailbox_out_log_size(f->mb, id, &size, NULL, 0), RK_AGENT_ENOTFOUND);
    r.status = RK_ST_ACCEPTED;
    r.seq = 12;
    r.log_size = 41;
    assert_int_equal(rk_mailbox_out_result(f->mb, &r, 1200, NULL, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_mailbox_out_log_size(f->mb, id, &size, NULL, 0), RK_AGENT_OK);
    assert_int_equal(size, 41);
    r.log_size = 57; /* the answer to a re-send */
    assert_int_equal(rk_mailbox_out_result(f->mb, &r, 1300, NULL, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_mailbox_out_log_size(f->mb, id, &size, NULL, 0), RK_AGENT_OK);
    assert_int_equal(size, 41);

    /* Delivered before the hub's ACCEPTED arrived: the position still counts. */
    add_out(f, 4, false, 2000);
    assert_true(notice(f, 4, RK_ST_DELIVERED, 2100));
    id_of(r.msg_id, 4);
    r.log_size = 60;
    assert_int_equal(rk_mailbox_out_result(f->mb, &r, 2200, NULL, NULL, 0), RK_AGENT_OK);
    id_of(id, 4);
    assert_int_equal(rk_mailbox_out_log_size(f->mb, id, &size, NULL, 0), RK_AGENT_OK);
    assert_int_equal(size, 60);
}

static void accept_at(fixture *f, uint8_t n, uint64_t log_size, uint64_t now)
{
    rk_result_t r;
    memset(&r, 0, sizeof r);
    r.has_msg_id = true;
    id_of(r.msg_id, n);
    r.status = RK_ST_ACCEPTED;
    r.seq = 100 + n;
    r.log_size = log_size;
    assert_int_equal(rk_mailbox_out_result(f->mb, &r, now, NULL, NULL, 0), RK_AGENT_OK);
}

/* The hub came back from a backup whose log ends at index 10: what it
 * accepted at 10 or after, and never got further, goes back to pending,
 * once; the rest keeps its state. */
static void test_restored_hub_lost_messages(void **state)
{
    fixture *f = *state;
    uint8_t id[RK_MSGID_LEN];
    uint64_t size = 0;
    size_t n = 99;

    add_out(f, 1, false, 1000);
    accept_at(f, 1, 10, 1100); /* entry 9: in the backup */
    add_out(f, 2, false, 1000);
    accept_at(f, 2, 11, 1100); /* entry 10: lost */
    add_out(f, 3, false, 1000);
    accept_at(f, 3, 12, 1100); /* entry 11, delivered since: stays */
    assert_true(notice(f, 3, RK_ST_DELIVERED, 1200));
    add_out(f, 4, false, 1000); /* never accepted: still pending */

    assert_int_equal(rk_mailbox_out_restored(f->mb, 10, 777, &n, NULL, 0), RK_AGENT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(get_out(f, 1).state, RK_MSG_ACCEPTED);
    assert_int_equal(get_out(f, 2).state, RK_MSG_PENDING);
    assert_true(get_out(f, 2).next_try_ms == 0);
    assert_int_equal(get_out(f, 3).state, RK_MSG_DELIVERED);
    assert_int_equal(get_out(f, 4).state, RK_MSG_PENDING);
    /* its old log position is forgotten: the next ACCEPTED names the new one */
    id_of(id, 2);
    assert_int_equal(rk_mailbox_out_log_size(f->mb, id, &size, NULL, 0), RK_AGENT_ENOTFOUND);
    accept_at(f, 2, 15, 1300);
    assert_int_equal(rk_mailbox_out_log_size(f->mb, id, &size, NULL, 0), RK_AGENT_OK);
    assert_int_equal(size, 15);
    /* the same restore again changes nothing; another one is acted on */
    assert_int_equal(rk_mailbox_out_restored(f->mb, 10, 777, &n, NULL, 0), RK_AGENT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(get_out(f, 2).state, RK_MSG_ACCEPTED);
    assert_int_equal(rk_mailbox_out_restored(f->mb, 14, 888, &n, NULL, 0), RK_AGENT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(get_out(f, 2).state, RK_MSG_PENDING);
}

/* A reply from another organization than the recipient does not answer. */
static void test_reply_from_someone_else(void **state)
{
    fixture *f = *state;
    add_out(f, 3, false, 1000);
    result(f, 3, RK_ST_ACCEPTED, 10, 1100);
    assert_false(add_in(f, "gas", 3, 3, 1200));
    assert_int_equal(get_out(f, 3).state, RK_MSG_ACCEPTED);
}

/* Refusals: by the hub (final, from PENDING), by the recipient (notice),
 * expiry; a notice whose result went missing implies ACCEPTED. */
static void test_status_refused_and_expired(void **state)
{
    fixture *f = *state;
    rk_msg_status st;

    add_out(f, 4, false, 1000);
    result(f, 4, RK_ST_NO_FIRST_CONTACT, 0, 1100);
    st = get_out(f, 4);
    assert_int_equal(st.state, RK_MSG_REFUSED);
    assert_int_equal(st.status, RK_ST_NO_FIRST_CONTACT);
    assert_string_equal(st.detail, "test detail");
    assert_int_equal(st.refused_ms, 1100);
    assert_true(st.complete);

    add_out(f, 5, false, 1000);
    assert_true(notice(f, 5, RK_ST_REFUSED_BY_RECIPIENT, 2000));
    st = get_out(f, 5);
    assert_int_equal(st.state, RK_MSG_REFUSED);
    assert_int_equal(st.status, RK_ST_REFUSED_BY_RECIPIENT);
    assert_int_equal(st.cause, RK_ST_UNDECRYPTABLE);
    assert_string_equal(st.peer, "power");
    assert_int_equal(st.seq, 55); /* msg_seq from the notice */
    assert_true(st.accepted_ms != 0);

    add_out(f, 6, false, 1000);
    result(f, 6, RK_ST_ACCEPTED, 60, 1100);
    assert_true(notice(f, 6, RK_ST_EXPIRED, 9000));
    st = get_out(f, 6);
    assert_int_equal(st.state, RK_MSG_EXPIRED);
    assert_int_equal(st.expired_ms, 9000);
    assert_true(st.complete);

    /* A notice about a message this outbox never had is known = false. */
    assert_false(notice(f, 42, RK_ST_DELIVERED, 1000));
}

/* A message that expects no reply is complete once delivered; open-only
 * lists leave it out, lists by code keep it. */
static void test_no_reply_complete_when_delivered(void **state)
{
    fixture *f = *state;
    rk_msg_status *list = NULL;
    size_t n = 0;
    rk_status_filter open_only = {.open_only = true, .code = NULL};
    rk_status_filter by_code = {.open_only = false, .code = CODE};
    static const uint8_t other[RK_CODE_LEN] = {1};
    rk_status_filter by_other = {.open_only = false, .code = other};

    add_out(f, 7, true, 2000);
    add_out(f, 8, false, 1000);
    result(f, 7, RK_ST_ACCEPTED, 70, 2100);
    assert_false(get_out(f, 7).complete);
    assert_true(notice(f, 7, RK_ST_DELIVERED, 2200));
    assert_int_equal(get_out(f, 7).state, RK_MSG_DELIVERED);
    assert_true(get_out(f, 7).complete);

    assert_int_equal(rk_mailbox_out_list(f->mb, &open_only, &list, &n, NULL, 0), RK_AGENT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].msg_id[RK_MSGID_LEN - 1], 8);
    free(list);
    assert_int_equal(rk_mailbox_out_list(f->mb, &by_code, &list, &n, NULL, 0), RK_AGENT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].msg_id[RK_MSGID_LEN - 1], 8); /* oldest first */
    assert_int_equal(list[1].msg_id[RK_MSGID_LEN - 1], 7);
    free(list);
    assert_int_equal(rk_mailbox_out_list(f->mb, &by_other, &list, &n, NULL, 0), RK_AGENT_OK);
    assert_int_equal(n, 0);
    free(list);
}

/* Pending messages are due again after their back-off, or when they were
 * last sent before the current connection; the frame bytes are kept. */
static void test_due_and_frame_kept(void **state)
{
    fixture *f = *state;
    uint8_t (*ids)[RK_MSGID_LEN] = NULL, id[RK_MSGID_LEN];
    uint8_t *frame = NULL;
    size_t n = 0, len = 0;
    rk_msg_status st;

    add_out(f, 9, false, 1000);
    id_of(id, 9);
    assert_int_equal(rk_mailbox_out_sent(f->mb, id, 1000, 3000, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_mailbox_out_due(f->mb, 2000, 500, &ids, &n, NULL, 0), RK_AGENT_OK);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(rk_mailbox_out_due(f->mb, 3000, 500, &ids, &n, NULL, 0), RK_AGENT_OK);
    assert_int_equal(n, 1);
    free(ids);
    assert_int_equal(rk_mailbox_out_due(f->mb, 2000, 1500, &ids, &n, NULL, 0), RK_AGENT_OK);
    assert_int_equal(n, 1); /* reconnected at 1500, after the last send */
    assert_memory_equal(ids[0], id, RK_MSGID_LEN);
    free(ids);
    assert_int_equal(rk_mailbox_out_get(f->mb, id, &st, &frame, &len, NULL, 0), RK_AGENT_OK);
    assert_int_equal(st.attempts, 1);
    assert_int_equal(len, sizeof FRAME);
    assert_memory_equal(frame, FRAME, sizeof FRAME);
    free(frame);

    result(f, 9, RK_ST_ACCEPTED, 90, 2500);
    assert_int_equal(rk_mailbox_out_due(f->mb, UINT64_MAX, UINT64_MAX, &ids, &n, NULL, 0), RK_AGENT_OK);
    assert_int_equal(n, 0);
    free(ids);
}

/* The hub's key change is kept as docs/agent-store.md says (meta
 * "hub.key", 137 bytes), read back unchanged, and a damaged one is refused. */
static void test_hub_key_kept(void **state)
{
    fixture *f = *state;
    MDB_env *env = rk_codebook_env(f->cb);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k = {7, (void *)"hub.key"}, v;
    rk_hub_key_stmt_t s, back;
    rk_hub_key_state st = RK_HUB_KEY_ANNOUNCED;
    uint8_t rec[137];
    char why[256] = "";

    assert_int_equal(rk_mailbox_hub_key_get(f->mb, &st, &back, why, sizeof why), RK_AGENT_ENOTFOUND);
    memset(&s, 0, sizeof s);
    memset(s.old_key, 0xaa, sizeof s.old_key);
    memset(s.new_key, 0xbb, sizeof s.new_key);
    memset(s.signature, 0xcc, sizeof s.signature);
    s.time_ms = 0x0102030405060708ull;
    assert_int_equal(rk_mailbox_hub_key_put(f->mb, RK_HUB_KEY_SWITCHED, &s, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(rk_mailbox_hub_key_get(f->mb, &st, &back, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(st, RK_HUB_KEY_SWITCHED);
    assert_memory_equal(&back, &s, sizeof s);

    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    assert_int_equal(v.mv_size, sizeof rec);
    memcpy(rec, v.mv_data, sizeof rec);
    assert_int_equal(rec[0], 2);
    assert_int_equal(rec[1], 0xaa);
    assert_int_equal(rec[33], 0xbb);
    assert_int_equal(rec[65], 0x01); /* time, big-endian */
    assert_int_equal(rec[72], 0x08);
    assert_int_equal(rec[73], 0xcc);
    rec[0] = 7; /* neither announced nor switched */
    v.mv_data = rec;
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(rk_mailbox_hub_key_get(f->mb, &st, &back, why, sizeof why), RK_AGENT_ESTORE);
    assert_non_null(strstr(why, "damaged"));
}

/* A stored record whose bool bytes are neither 0 nor 1 (a damaged disk) is
 * refused as damaged, never read as a bool. */
static void test_damaged_flag_byte_refused(void **state)
{
    fixture *f = *state;
    MDB_env *env = rk_codebook_env(f->cb);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k, v;
    uint8_t id[RK_MSGID_LEN], rec[4096];
    const size_t no_reply_at = 170; /* docs/agent-store.md */
    size_t len, frame_len = 0;
    rk_msg_status st;
    char why[256] = "";

    add_out(f, 7, true, 1000);
    id_of(id, 7);
    k.mv_size = RK_MSGID_LEN;
    k.mv_data = id;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "outbox", 0, &dbi), 0);
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    len = v.mv_size;
    assert_true(len <= sizeof rec);
    memcpy(rec, v.mv_data, len);
    assert_int_equal(rk_mailbox_out_record(rec, len, &st, NULL, &frame_len, why, sizeof why), RK_AGENT_OK);
    assert_true(st.no_reply);
    assert_int_equal(frame_len, sizeof FRAME);
    assert_int_equal(rec[no_reply_at], 1); /* the layout this test assumes */

    rec[no_reply_at] = 0xfe;
    assert_int_equal(rk_mailbox_out_record(rec, len, &st, NULL, &frame_len, why, sizeof why),
                     RK_AGENT_ESTORE);
    assert_non_null(strstr(why, "no-reply flag (byte 170) is 254"));
    v.mv_data = rec;
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    why[0] = '\0';
    assert_int_equal(rk_mailbox_out_get(f->mb, id, &st, NULL, NULL, why, sizeof why), RK_AGENT_ESTORE);
    assert_non_null(strstr(why, "damaged"));
    assert_non_null(strstr(why, "no-reply flag"));
}

/* Replaces the outbox record of message n by bytes that do not decode (a
 * version word this build does not know), as damage or another version of
 * the agent would leave it. */
static void damage_out(fixture *f, uint8_t n)
{
    MDB_env *env = rk_codebook_env(f->cb);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    uint8_t id[RK_MSGID_LEN], *copy;
    MDB_val k = {RK_MSGID_LEN, id}, v;

    id_of(id, n);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "outbox", 0, &dbi), 0);
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    copy = malloc(v.mv_size);
    assert_non_null(copy);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[0] ^= 0xff;
    v.mv_data = copy;
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    free(copy);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

/* A record that cannot be read fails the listing instead of being left out:
 * a short list would hide a pending message from re-sending and from the
 * status a user asks for. */
static void test_unreadable_record_fails_lists(void **state)
{
    fixture *f = *state;
    rk_msg_status *list = NULL;
    uint8_t (*ids)[RK_MSGID_LEN] = NULL;
    size_t n = 99;
    char why[256] = "";

    add_out(f, 1, false, 1000);
    add_out(f, 2, false, 2000);
    add_out(f, 3, false, 3000);
    damage_out(f, 2);

    assert_int_equal(rk_mailbox_out_list(f->mb, NULL, &list, &n, why, sizeof why), RK_AGENT_ESTORE);
    assert_null(list);
    assert_int_equal(n, 0);
    assert_non_null(strstr(why, "unexpected layout"));

    n = 99;
    why[0] = '\0';
    assert_int_equal(rk_mailbox_out_due(f->mb, UINT64_MAX, UINT64_MAX, &ids, &n, why, sizeof why), RK_AGENT_ESTORE);
    assert_null(ids);
    assert_int_equal(n, 0);
    assert_non_null(strstr(why, "unexpected layout"));
}

/* ------------------------------------------------------------------ record layout */

/* The byte layout docs/agent-store.md gives, written here by hand. */
static void le32_at(uint8_t *rec, size_t at, uint32_t x)
{
    for (int i = 0; i < 4; i++, x >>= 8)
        rec[at + (size_t)i] = (uint8_t)x;
}

static void le64_at(uint8_t *rec, size_t at, uint64_t x)
{
    for (int i = 0; i < 8; i++, x >>= 8)
        rec[at + (size_t)i] = (uint8_t)x;
}

/* A text field as a C struct held it: the text, its NUL, then whatever was
 * in memory behind it (here 0x5a). */
static void text_at(uint8_t *rec, size_t at, size_t width, const char *s)
{
    memset(rec + at, 0x5a, width);
    memcpy(rec + at, s, strlen(s) + 1);
}

static void assert_status_same(const rk_msg_status *a, const rk_msg_status *b)
{
    assert_memory_equal(a->msg_id, b->msg_id, RK_MSGID_LEN);
    assert_string_equal(a->to, b->to);
    assert_string_equal(a->type, b->type);
    assert_memory_equal(a->code, b->code, RK_CODE_LEN);
    assert_int_equal(a->no_reply, b->no_reply);
    assert_int_equal(a->is_reply, b->is_reply);
    assert_memory_equal(a->reply_to, b->reply_to, RK_MSGID_LEN);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->complete, b->complete);
    assert_int_equal(a->created_ms, b->created_ms);
    assert_int_equal(a->accepted_ms, b->accepted_ms);
    assert_int_equal(a->delivered_ms, b->delivered_ms);
    assert_int_equal(a->answered_ms, b->answered_ms);
    assert_int_equal(a->refused_ms, b->refused_ms);
    assert_int_equal(a->expired_ms, b->expired_ms);
    assert_int_equal(a->seq, b->seq);
    assert_memory_equal(a->reply_msg_id, b->reply_msg_id, RK_MSGID_LEN);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->cause, b->cause);
    assert_string_equal(a->peer, b->peer);
    assert_string_equal(a->detail, b->detail);
    assert_int_equal(a->attempts, b->attempts);
    assert_int_equal(a->last_sent_ms, b->last_sent_ms);
    assert_int_equal(a->next_try_ms, b->next_try_ms);
}

static void assert_entry_same(const rk_inbox_entry *a, const rk_inbox_entry *b)
{
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->pid, b->pid);
    assert_int_equal(a->claim_ms, b->claim_ms);
    assert_int_equal(a->done_ms, b->done_ms);
    assert_int_equal(a->received_ms, b->received_ms);
    assert_int_equal(a->order, b->order);
    assert_int_equal(a->hub_seq, b->hub_seq);
    assert_int_equal(a->first_contact, b->first_contact);
    assert_memory_equal(a->code, b->code, RK_CODE_LEN);
    assert_string_equal(a->from, b->from);
    assert_string_equal(a->type, b->type);
    assert_memory_equal(a->msg_id, b->msg_id, RK_MSGID_LEN);
    assert_int_equal(a->has_reply_to, b->has_reply_to);
    assert_memory_equal(a->reply_to, b->reply_to, RK_MSGID_LEN);
    assert_memory_equal(a->sender_key, b->sender_key, RK_KEY_LEN);
    assert_memory_equal(a->signature, b->signature, RK_SIG_LEN);
    assert_int_equal(a->attempts, b->attempts);
    assert_int_equal(a->next_try_ms, b->next_try_ms);
    assert_string_equal(a->last_error, b->last_error);
    assert_int_equal(a->core_len, b->core_len);
    assert_memory_equal(a->core, b->core, a->core_len);
}

/* Every field set, and to a value that differs from its neighbours' bytes,
 * so a field read from the wrong offset shows. */
static void full_status(rk_msg_status *st)
{
    memset(st, 0, sizeof *st);
    for (int i = 0; i < RK_MSGID_LEN; i++) {
        st->msg_id[i] = (uint8_t)(0x10 + i);
        st->reply_to[i] = (uint8_t)(0x30 + i);
        st->reply_msg_id[i] = (uint8_t)(0x50 + i);
    }
    memcpy(st->code, CODE, RK_CODE_LEN);
    memset(st->to, 'p', RK_ID_MAX); /* the longest text each field holds */
    snprintf(st->type, sizeof st->type, "utility.supply.stop");
    st->no_reply = false;
    st->is_reply = true;
    st->state = RK_MSG_REFUSED;
    st->complete = true;
    st->created_ms = 1711843200001ull;
    st->accepted_ms = 1711843200002ull;
    st->delivered_ms = 1711843200003ull;
    st->answered_ms = 1711843200004ull;
    st->refused_ms = 1711843200005ull;
    st->expired_ms = 1711843200006ull;
    st->seq = 0x0102030405060708ull;
    st->status = RK_ST_REFUSED_BY_RECIPIENT;
    st->cause = RK_ST_UNDECRYPTABLE;
    snprintf(st->peer, sizeof st->peer, "water");
    memset(st->detail, 'd', RK_DETAIL_MAX);
    st->attempts = 0x01020304u;
    st->last_sent_ms = 1711843200007ull;
    st->next_try_ms = 1711843200008ull;
}

static void full_entry(rk_inbox_entry *e, uint8_t *core, size_t core_len)
{
    memset(e, 0, sizeof *e);
    e->state = RK_IN_CLAIMED;
    e->pid = 0x01020304u;
    e->claim_ms = 1711843200001ull;
    e->done_ms = 1711843200002ull;
    e->received_ms = 1711843200003ull;
    e->order = 0x0a0b0c0d0e0f1011ull;
    e->hub_seq = 0x1112131415161718ull;
    e->first_contact = true;
    memcpy(e->code, CODE, RK_CODE_LEN);
    memset(e->from, 'c', RK_ID_MAX);
    snprintf(e->type, sizeof e->type, "resident.moved");
    for (int i = 0; i < RK_MSGID_LEN; i++) {
        e->msg_id[i] = (uint8_t)(0x20 + i);
        e->reply_to[i] = (uint8_t)(0x40 + i);
    }
    e->has_reply_to = true;
    for (int i = 0; i < RK_KEY_LEN; i++)
        e->sender_key[i] = (uint8_t)(0x60 + i);
    for (int i = 0; i < RK_SIG_LEN; i++)
        e->signature[i] = (uint8_t)(0x80 + i);
    e->attempts = 0x05060708u;
    e->next_try_ms = 1711843200009ull;
    memset(e->last_error, 'e', RK_ATTEMPT_ERROR_MAX);
    e->core = core;
    e->core_len = core_len;
}

/* A record encoded and decoded again is the same, field by field; so is
 * one written into the store and read back through it. */
static void test_record_round_trip(void **state)
{
    fixture *f = *state;
    rk_msg_status st, back;
    rk_inbox_entry e, got;
    uint8_t rec[RK_MAILBOX_OUT_FIXED + sizeof FRAME], core[] = {9, 8, 7, 6};
    uint8_t irec[RK_MAILBOX_IN_FIXED + sizeof core], *frame = NULL;
    uint32_t waiter = 0;
    size_t frame_len = 0;
    bool dup = true;
    char why[256] = "";

    full_status(&st);
    rk_mailbox_out_encode(&st, 4321, sizeof FRAME, rec);
    memcpy(rec + RK_MAILBOX_OUT_FIXED, FRAME, sizeof FRAME);
    assert_int_equal(rk_mailbox_out_record(rec, sizeof rec, &back, &waiter, &frame_len, why, sizeof why),
                     RK_AGENT_OK);
    assert_status_same(&back, &st);
    assert_int_equal(waiter, 4321);
    assert_int_equal(frame_len, sizeof FRAME);

    full_entry(&e, core, sizeof core);
    rk_mailbox_in_encode(&e, irec);
    memcpy(irec + RK_MAILBOX_IN_FIXED, core, sizeof core);
    assert_int_equal(rk_mailbox_in_record(irec, sizeof irec, &got, why, sizeof why), RK_AGENT_OK);
    assert_entry_same(&got, &e);
    rk_inbox_entry_clear(&got);

    /* Through the store: what rk_mailbox_out_add keeps of st, and the
     * times and counts the agent moves it through. */
    st.state = RK_MSG_PENDING;
    st.complete = false;
    st.accepted_ms = st.delivered_ms = st.answered_ms = st.refused_ms = st.expired_ms = 0;
    st.seq = 0;
    st.status = RK_ST_UNSPECIFIED;
    st.peer[0] = st.detail[0] = '\0';
    st.attempts = 0;
    st.last_sent_ms = st.next_try_ms = 0;
    st.cause = RK_ST_UNSPECIFIED;
    assert_int_equal(rk_mailbox_out_add(f->mb, &st, FRAME, sizeof FRAME, NULL, NULL, 1000, why, sizeof why),
                     RK_AGENT_OK);
    assert_int_equal(rk_mailbox_out_sent(f->mb, st.msg_id, 1100, 1200, why, sizeof why), RK_AGENT_OK);
    st.attempts = 1;
    st.last_sent_ms = 1100;
    st.next_try_ms = 1200;
    assert_int_equal(rk_mailbox_out_get(f->mb, st.msg_id, &back, &frame, &frame_len, why, sizeof why),
                     RK_AGENT_OK);
    assert_status_same(&back, &st);
    assert_int_equal(frame_len, sizeof FRAME);
    assert_memory_equal(frame, FRAME, sizeof FRAME);
    free(frame);

    full_entry(&e, core, sizeof core);
    assert_int_equal(rk_mailbox_in_add(f->mb, &e, 5000, &dup, why, sizeof why), RK_AGENT_OK);
    assert_false(dup);
    e.state = RK_IN_NEW; /* what in_add sets */
    e.pid = 0;
    e.claim_ms = e.done_ms = 0;
    e.received_ms = 5000;
    e.order = 1;
    e.attempts = 0;
    e.next_try_ms = 0;
    e.last_error[0] = '\0';
    assert_int_equal(rk_mailbox_in_get(f->mb, e.from, e.msg_id, &got, why, sizeof why), RK_AGENT_OK);
    assert_entry_same(&got, &e);
    rk_inbox_entry_clear(&got);
}

#if defined(__x86_64__)
/* The documented offsets are those of the structs the agent stored whole
 * before its records were encoded field by field (x86-64). */
struct old_out_disk {
    uint32_t version, waiter_pid;
    rk_msg_status st;
    uint64_t frame_len;
};
/* rk_inbox_entry as it was then (format 1). */
struct old_inbox_entry {
    rk_inbox_state state;
    uint32_t pid;
    uint64_t claim_ms, done_ms, received_ms;
    uint64_t order;
    uint64_t hub_seq;
    bool first_contact;
    uint8_t code[RK_CODE_LEN];
    char from[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    uint8_t msg_id[RK_MSGID_LEN];
    bool has_reply_to;
    uint8_t reply_to[RK_MSGID_LEN];
    uint8_t sender_key[RK_KEY_LEN];
    uint8_t signature[RK_SIG_LEN];
    uint8_t *core;
    size_t core_len;
};
struct old_in_disk {
    uint32_t version, reserved;
    struct old_inbox_entry e;
};
_Static_assert(sizeof(struct old_out_disk) == RK_MAILBOX_OUT_FIXED &&
                   offsetof(struct old_out_disk, st) + offsetof(rk_msg_status, state) == 188 &&
                   offsetof(struct old_out_disk, st) + offsetof(rk_msg_status, complete) == 192 &&
                   offsetof(struct old_out_disk, st) + offsetof(rk_msg_status, created_ms) == 200 &&
                   offsetof(struct old_out_disk, st) + offsetof(rk_msg_status, status) == 272 &&
                   offsetof(struct old_out_disk, st) + offsetof(rk_msg_status, detail) == 345 &&
                   offsetof(struct old_out_disk, st) + offsetof(rk_msg_status, attempts) == 548 &&
                   offsetof(struct old_out_disk, frame_len) == 568,
               "outbox offsets in docs/agent-store.md");
_Static_assert(sizeof(struct old_in_disk) == RK_MAILBOX_IN_FIXED_V1 &&
                   offsetof(struct old_in_disk, e) + offsetof(struct old_inbox_entry, first_contact) == 56 &&
                   offsetof(struct old_in_disk, e) + offsetof(struct old_inbox_entry, from) == 73 &&
                   offsetof(struct old_in_disk, e) + offsetof(struct old_inbox_entry, has_reply_to) == 219 &&
                   offsetof(struct old_in_disk, e) + offsetof(struct old_inbox_entry, signature) == 268 &&
                   offsetof(struct old_in_disk, e) + offsetof(struct old_inbox_entry, core_len) == 344,
               "inbox offsets in docs/agent-store.md");
#endif

/* An outbox record as the agent wrote it when it stored its C struct
 * whole: the documented offsets, with whatever happened to be in memory in
 * the padding and behind each text's NUL. */
static void old_out_bytes(uint8_t rec[RK_MAILBOX_OUT_FIXED + sizeof FRAME], const rk_msg_status *st,
                          uint32_t waiter)
{
    memset(rec, 0xa5, RK_MAILBOX_OUT_FIXED);
    le32_at(rec, 0, 0x52304f31u);
    le32_at(rec, 4, waiter);
    memcpy(rec + 8, st->msg_id, 16);
    text_at(rec, 24, 65, st->to);
    text_at(rec, 89, 65, st->type);
    memcpy(rec + 154, st->code, 16);
    rec[170] = st->no_reply;
    rec[171] = st->is_reply;
    memcpy(rec + 172, st->reply_to, 16);
    le32_at(rec, 188, (uint32_t)st->state);
    rec[192] = st->complete; /* 193..199: padding */
    le64_at(rec, 200, st->created_ms);
    le64_at(rec, 208, st->accepted_ms);
    le64_at(rec, 216, st->delivered_ms);
    le64_at(rec, 224, st->answered_ms);
    le64_at(rec, 232, st->refused_ms);
    le64_at(rec, 240, st->expired_ms);
    le64_at(rec, 248, st->seq);
    memcpy(rec + 256, st->reply_msg_id, 16);
    le32_at(rec, 272, (uint32_t)st->status);
    le32_at(rec, 276, (uint32_t)st->cause);
    text_at(rec, 280, 65, st->peer);
    text_at(rec, 345, 201, st->detail); /* 546..547: padding */
    le32_at(rec, 548, st->attempts);
    le64_at(rec, 552, st->last_sent_ms);
    le64_at(rec, 560, st->next_try_ms);
    le64_at(rec, 568, sizeof FRAME);
    memcpy(rec + RK_MAILBOX_OUT_FIXED, FRAME, sizeof FRAME);
}

static void old_in_bytes(uint8_t *rec, const rk_inbox_entry *e)
{
    memset(rec, 0xa5, RK_MAILBOX_IN_FIXED_V1);
    le32_at(rec, 0, 0x52304931u);
    le32_at(rec, 4, 0); /* reserved */
    le32_at(rec, 8, (uint32_t)e->state);
    le32_at(rec, 12, e->pid);
    le64_at(rec, 16, e->claim_ms);
    le64_at(rec, 24, e->done_ms);
    le64_at(rec, 32, e->received_ms);
    le64_at(rec, 40, e->order);
    le64_at(rec, 48, e->hub_seq);
    rec[56] = e->first_contact;
    memcpy(rec + 57, e->code, 16);
    text_at(rec, 73, 65, e->from);
    text_at(rec, 138, 65, e->type);
    memcpy(rec + 203, e->msg_id, 16);
    rec[219] = e->has_reply_to;
    memcpy(rec + 220, e->reply_to, 16);
    memcpy(rec + 236, e->sender_key, 32);
    memcpy(rec + 268, e->signature, 64); /* 332..335: padding, 336..343: the core pointer */
    memset(rec + 336, 0, 8);
    le64_at(rec, 344, e->core_len);
    memcpy(rec + RK_MAILBOX_IN_FIXED_V1, e->core, e->core_len);
}

/* Records in the layout the agent wrote before (C structs stored whole)
 * still read, field by field, and a data directory holding them keeps
 * working: read, updated (written in the new encoding, padding zeroed) and
 * read again. */
static void test_old_layout_reads(void **state)
{
    fixture *f = *state;
    MDB_env *env = rk_codebook_env(f->cb);
    MDB_txn *txn = NULL;
    MDB_dbi out_dbi, in_dbi;
    MDB_val k, v;
    rk_msg_status st, back;
    rk_inbox_entry e, got;
    uint8_t rec[RK_MAILBOX_OUT_FIXED + sizeof FRAME], core[] = {1, 2, 3, 4, 5, 6};
    uint8_t irec[RK_MAILBOX_IN_FIXED_V1 + sizeof core], ikey[RK_ID_MAX + 1 + RK_MSGID_LEN];
    uint8_t *frame = NULL;
    uint32_t waiter = 0;
    size_t frame_len = 0, n;
    char why[256] = "";

    full_status(&st);
    st.state = RK_MSG_PENDING; /* so that a send can still be noted below */
    st.complete = false;
    old_out_bytes(rec, &st, 4321);
    assert_int_equal(rk_mailbox_out_record(rec, sizeof rec, &back, &waiter, &frame_len, why, sizeof why),
                     RK_AGENT_OK);
    assert_status_same(&back, &st);
    assert_int_equal(waiter, 4321);
    assert_int_equal(frame_len, sizeof FRAME);

    full_entry(&e, core, sizeof core);
    e.attempts = 0; /* format 1 kept none of these */
    e.next_try_ms = 0;
    e.last_error[0] = '\0';
    old_in_bytes(irec, &e);
    assert_int_equal(rk_mailbox_in_record(irec, sizeof irec, &got, why, sizeof why), RK_AGENT_OK);
    assert_entry_same(&got, &e);
    rk_inbox_entry_clear(&got);

    /* In a data directory. */
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "outbox", 0, &out_dbi), 0);
    assert_int_equal(mdb_dbi_open(txn, "inbox", 0, &in_dbi), 0);
    k.mv_size = RK_MSGID_LEN;
    k.mv_data = st.msg_id;
    v.mv_size = sizeof rec;
    v.mv_data = rec;
    assert_int_equal(mdb_put(txn, out_dbi, &k, &v, 0), 0);
    n = strlen(e.from);
    memcpy(ikey, e.from, n);
    ikey[n] = 0;
    memcpy(ikey + n + 1, e.msg_id, RK_MSGID_LEN);
    k.mv_size = n + 1 + RK_MSGID_LEN;
    k.mv_data = ikey;
    v.mv_size = sizeof irec;
    v.mv_data = irec;
    assert_int_equal(mdb_put(txn, in_dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);

    assert_int_equal(rk_mailbox_out_sent(f->mb, st.msg_id, 9000, 9500, why, sizeof why), RK_AGENT_OK);
    st.attempts++;
    st.last_sent_ms = 9000;
    st.next_try_ms = 9500;
    assert_int_equal(rk_mailbox_out_get(f->mb, st.msg_id, &back, &frame, &frame_len, why, sizeof why),
                     RK_AGENT_OK);
    assert_status_same(&back, &st);
    assert_memory_equal(frame, FRAME, sizeof FRAME);
    free(frame);

    /* A failed attempt on a format 1 entry is kept: it is format 2 now. */
    {
        uint32_t attempts = 0;
        assert_int_equal(rk_mailbox_in_failed(f->mb, e.from, e.msg_id, "the back office answered 503", 9050,
                                              &attempts, why, sizeof why),
                         RK_AGENT_OK);
        assert_int_equal(attempts, 1);
        e.attempts = 1;
        e.next_try_ms = 9050;
        snprintf(e.last_error, sizeof e.last_error, "the back office answered 503");
        assert_int_equal(rk_mailbox_in_get(f->mb, e.from, e.msg_id, &got, why, sizeof why), RK_AGENT_OK);
        assert_entry_same(&got, &e);
        rk_inbox_entry_clear(&got);
        assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
        k.mv_size = n + 1 + RK_MSGID_LEN;
        k.mv_data = ikey;
        assert_int_equal(mdb_get(txn, in_dbi, &k, &v), 0);
        assert_int_equal(v.mv_size, RK_MAILBOX_IN_FIXED + sizeof core);
        assert_memory_equal(v.mv_data, "\x32\x49\x30\x52", 4);
        for (size_t i = 340; i < 344; i++)
            assert_int_equal(((const uint8_t *)v.mv_data)[i], 0);
        assert_memory_equal((const uint8_t *)v.mv_data + RK_MAILBOX_IN_FIXED, core, sizeof core);
        mdb_txn_abort(txn);
    }

    assert_int_equal(rk_mailbox_in_done(f->mb, e.from, e.msg_id, 9100, why, sizeof why), RK_AGENT_OK);
    e.state = RK_IN_DONE;
    e.done_ms = 9100;
    assert_int_equal(rk_mailbox_in_get(f->mb, e.from, e.msg_id, &got, why, sizeof why), RK_AGENT_OK);
    assert_entry_same(&got, &e);
    rk_inbox_entry_clear(&got);

    /* Rewritten: the padding is zero now, the frame kept. */
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    k.mv_size = RK_MSGID_LEN;
    k.mv_data = st.msg_id;
    assert_int_equal(mdb_get(txn, out_dbi, &k, &v), 0);
    assert_int_equal(v.mv_size, sizeof rec);
    for (size_t i = 193; i < 200; i++)
        assert_int_equal(((const uint8_t *)v.mv_data)[i], 0);
    assert_int_equal(((const uint8_t *)v.mv_data)[546], 0);
    assert_int_equal(((const uint8_t *)v.mv_data)[547], 0);
    assert_memory_equal((const uint8_t *)v.mv_data + RK_MAILBOX_OUT_FIXED, FRAME, sizeof FRAME);
    mdb_txn_abort(txn);
}

/* Refused as damaged, with what is wrong named: rec (len bytes, copied to
 * a buffer of exactly that size so that a read past its end is caught
 * under ASan) must not decode, and why must contain expect. */
static void assert_out_refused(const uint8_t *rec, size_t len, const char *expect)
{
    uint8_t *copy = malloc(len ? len : 1);
    rk_msg_status st;
    size_t frame_len = 99;
    char why[256] = "";

    assert_non_null(copy);
    memcpy(copy, rec, len);
    assert_int_equal(rk_mailbox_out_record(copy, len, &st, NULL, &frame_len, why, sizeof why),
                     RK_AGENT_ESTORE);
    free(copy);
    if (strstr(why, "outbox record has an unexpected layout") == NULL || strstr(why, expect) == NULL)
        fail_msg("expected a damaged outbox record saying \"%s\", got \"%s\"", expect, why);
}

static void assert_in_refused(const uint8_t *rec, size_t len, const char *expect)
{
    uint8_t *copy = malloc(len ? len : 1);
    rk_inbox_entry e;
    char why[256] = "";

    assert_non_null(copy);
    memcpy(copy, rec, len);
    assert_int_equal(rk_mailbox_in_record(copy, len, &e, why, sizeof why), RK_AGENT_ESTORE);
    assert_null(e.core);
    free(copy);
    if (strstr(why, "inbox record has an unexpected layout") == NULL || strstr(why, expect) == NULL)
        fail_msg("expected a damaged inbox record saying \"%s\", got \"%s\"", expect, why);
}

/* A truncated record, or one with a field out of its range, is refused as
 * damaged and says which; and through the store a status request for it
 * fails with that sentence instead of answering with made-up fields. */
static void test_bad_records_refused(void **state)
{
    fixture *f = *state;
    MDB_env *env = rk_codebook_env(f->cb);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k, v;
    rk_msg_status st, back;
    rk_inbox_entry e;
    uint8_t good[RK_MAILBOX_OUT_FIXED + sizeof FRAME], bad[sizeof good], core[] = {1, 2, 3};
    uint8_t igood[RK_MAILBOX_IN_FIXED + sizeof core], ibad[sizeof igood];
    char why[256] = "";

    full_status(&st);
    rk_mailbox_out_encode(&st, 0, sizeof FRAME, good);
    memcpy(good + RK_MAILBOX_OUT_FIXED, FRAME, sizeof FRAME);

    /* Truncated: inside the fixed part, and inside the frame. */
    assert_out_refused(good, 0, "0 bytes long, shorter than its fixed part of 576 bytes");
    assert_out_refused(good, 200, "200 bytes long");
    assert_out_refused(good, RK_MAILBOX_OUT_FIXED - 1, "575 bytes long");
    assert_out_refused(good, sizeof good - 1, "frame length says 7 bytes but 6 follow");
    /* Fields out of range. */
    memcpy(bad, good, sizeof bad);
    le32_at(bad, 0, 0x52304f32u);
    assert_out_refused(bad, sizeof bad,
                       "format version word is 0x52304f32; this agent reads only 0x52304f31");
    memcpy(bad, good, sizeof bad);
    le32_at(bad, 188, 7);
    assert_out_refused(bad, sizeof bad, "state (byte 188) is 7");
    le32_at(bad, 188, 0);
    assert_out_refused(bad, sizeof bad, "state (byte 188) is 0");
    memcpy(bad, good, sizeof bad);
    bad[192] = 2;
    assert_out_refused(bad, sizeof bad, "complete flag (byte 192) is 2");
    memcpy(bad, good, sizeof bad);
    memset(bad + 24, 'p', 65);
    assert_out_refused(bad, sizeof bad, "recipient text (bytes 24..88) has no terminating zero byte");
    memcpy(bad, good, sizeof bad);
    memset(bad + 345, 'd', 201);
    assert_out_refused(bad, sizeof bad, "detail text (bytes 345..545) has no terminating zero byte");

    full_entry(&e, core, sizeof core);
    rk_mailbox_in_encode(&e, igood);
    memcpy(igood + RK_MAILBOX_IN_FIXED, core, sizeof core);
    assert_in_refused(igood, RK_MAILBOX_IN_FIXED - 1,
                      "479 bytes long, shorter than its fixed part of 480 bytes");
    assert_in_refused(igood, 2, "2 bytes long, shorter than its format version word");
    assert_in_refused(igood, sizeof igood - 1, "core length says 3 bytes but 2 follow");
    memcpy(ibad, igood, sizeof ibad);
    le32_at(ibad, 8, 5);
    assert_in_refused(ibad, sizeof ibad, "state (byte 8) is 5");
    memcpy(ibad, igood, sizeof ibad);
    le32_at(ibad, 0, 0x52304933u);
    assert_in_refused(ibad, sizeof ibad,
                      "format version word is 0x52304933; this agent reads only 0x52304932 and 0x52304931");
    memcpy(ibad, igood, sizeof ibad);
    memset(ibad + 352, 'e', 128);
    assert_in_refused(ibad, sizeof ibad, "last error text (bytes 352..479) has no terminating zero byte");
    /* DEAD (4) exists from format 2 on: a format 1 record saying 4 is damaged. */
    {
        uint8_t old[RK_MAILBOX_IN_FIXED_V1 + sizeof core];
        e.state = RK_IN_DONE;
        old_in_bytes(old, &e);
        le32_at(old, 8, 4);
        assert_in_refused(old, sizeof old, "state (byte 8) is 4");
        e.state = RK_IN_CLAIMED;
    }
    memcpy(ibad, igood, sizeof ibad);
    ibad[219] = 0xff;
    assert_in_refused(ibad, sizeof ibad, "has-reply-to flag (byte 219) is 255");
    memcpy(ibad, igood, sizeof ibad);
    memset(ibad + 73, 'c', 65);
    assert_in_refused(ibad, sizeof ibad, "sender text (bytes 73..137) has no terminating zero byte");

    /* In the store: the status of a truncated record is an error naming it. */
    add_out(f, 5, false, 1000);
    memset(bad, 0, sizeof bad);
    id_of(bad, 5);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "outbox", 0, &dbi), 0);
    k.mv_size = RK_MSGID_LEN;
    k.mv_data = bad;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    v.mv_size = 300; /* the first 300 bytes of the stored value */
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(rk_mailbox_out_get(f->mb, bad, &back, NULL, NULL, why, sizeof why), RK_AGENT_ESTORE);
    assert_non_null(strstr(why, "300 bytes long, shorter than its fixed part"));
    why[0] = '\0';
    assert_int_equal(rk_mailbox_out_sent(f->mb, bad, 2000, 3000, why, sizeof why), RK_AGENT_ESTORE);
    assert_non_null(strstr(why, "300 bytes long"));
}

/* ------------------------------------------------------------------ inbox */

/* The same (from, msg_id) twice: one entry, handed out once.  Another
 * sender's message with the same id is a different entry. */
static void test_inbox_duplicate_filter(void **state)
{
    fixture *f = *state;
    rk_inbox_entry e;

    assert_false(add_in(f, "city.x", 1, 0, 1000));
    assert_true(add_in(f, "city.x", 1, 0, 1001));
    assert_false(add_in(f, "town.y", 1, 0, 1002));
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 100, 2000, &e, NULL, 0), RK_AGENT_OK);
    assert_string_equal(e.from, "city.x");
    assert_int_equal(e.state, RK_IN_CLAIMED);
    assert_int_equal(e.received_ms, 1000);
    assert_int_equal(e.core_len, 5);
    assert_int_equal(e.core[4], 5);
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 100, 2000, &e, NULL, 0), RK_AGENT_OK);
    assert_string_equal(e.from, "town.y");
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 100, 2000, &e, NULL, 0), RK_AGENT_ENOTFOUND);
    /* Even once done, it stays a duplicate. */
    {
        uint8_t id[RK_MSGID_LEN];
        id_of(id, 1);
        id[0] = 0x22;
        assert_int_equal(rk_mailbox_in_done(f->mb, "city.x", id, 3000, NULL, 0), RK_AGENT_OK);
    }
    assert_true(add_in(f, "city.x", 1, 0, 4000));
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 100, 5000, &e, NULL, 0), RK_AGENT_ENOTFOUND);
}

/* Oldest first; requests-only leaves replies NEW; a reply somebody waits
 * for is left to that process. */
static void test_claim_order_and_filters(void **state)
{
    fixture *f = *state;
    rk_inbox_entry e;
    uint8_t id[RK_MSGID_LEN];
    uint32_t me = (uint32_t)getpid();

    add_out(f, 20, false, 1000);
    assert_false(add_in(f, "power", 21, 20, 1100)); /* reply to 20 */
    assert_false(add_in(f, "city.x", 22, 0, 1200)); /* request */
    id_of(id, 20);
    assert_int_equal(rk_mailbox_out_waiter(f->mb, id, me, NULL, 0), RK_AGENT_OK);

    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_REQUESTS, 4242, 2000, &e, NULL, 0), RK_AGENT_OK);
    assert_int_equal(e.msg_id[RK_MSGID_LEN - 1], 22);
    rk_inbox_entry_clear(&e);
    /* The reply is waited for by this (live) process: others skip it. */
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 4242, 2000, &e, NULL, 0), RK_AGENT_ENOTFOUND);
    /* The waiter itself gets it. */
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, me, 2000, &e, NULL, 0), RK_AGENT_OK);
    assert_int_equal(e.msg_id[RK_MSGID_LEN - 1], 21);
    assert_int_equal(e.pid, me);
    rk_inbox_entry_clear(&e);
}

/* A burst of deliveries committed together: one entry each, in arrival
 * order; one known before, and one twice in the burst, are duplicates. */
static void test_add_in_a_batch(void **state)
{
    fixture *f = *state;
    rk_inbox_entry es[4], e;
    bool dups[4];
    char why[256] = "";

    assert_false(add_in(f, "city.x", 1, 0, 1000));
    entry(&es[0], "city.x", 2, 0);
    entry(&es[1], "city.x", 1, 0); /* known before */
    entry(&es[2], "town.y", 3, 0);
    entry(&es[3], "city.x", 2, 0); /* twice in the burst */
    assert_int_equal(rk_mailbox_in_add_n(f->mb, es, 4, 2000, dups, why, sizeof why), RK_AGENT_OK);
    assert_false(dups[0]);
    assert_true(dups[1]);
    assert_false(dups[2]);
    assert_true(dups[3]);
    for (uint8_t want = 1; want <= 3; want++) {
        assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 100, 3000, &e, NULL, 0), RK_AGENT_OK);
        assert_int_equal(e.msg_id[RK_MSGID_LEN - 1], want);
        assert_int_equal(e.received_ms, want == 1 ? 1000 : 2000);
        rk_inbox_entry_clear(&e);
    }
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 100, 3000, &e, NULL, 0), RK_AGENT_ENOTFOUND);
}

/* A batch claim takes the oldest NEW entries, each once, skipping what a
 * single claim skips (a reply when only requests are wanted); a batch done
 * says, entry by entry, which it marked, which were DONE already (marked
 * by someone else meanwhile) and which are not in the inbox. */
static void test_claim_and_done_in_batches(void **state)
{
    fixture *f = *state;
    rk_inbox_entry es[4];
    rk_inbox_ref refs[4];
    rk_agent_err each[4];
    uint8_t ids[4][RK_MSGID_LEN];
    size_t n = 99;
    char why[256] = "";

    assert_false(add_in(f, "city.x", 1, 0, 1000));
    assert_false(add_in(f, "city.x", 2, 0, 1001));
    add_out(f, 30, false, 900);
    assert_false(add_in(f, "power", 3, 30, 1002)); /* a reply */
    assert_false(add_in(f, "town.y", 4, 0, 1003));
    assert_false(add_in(f, "city.x", 5, 0, 1004));

    /* Three of the four requests, oldest first, in one call. */
    assert_int_equal(rk_mailbox_in_claim_n(f->mb, RK_RECV_REQUESTS, 100, 2000, es, 3, &n, why, sizeof why),
                     RK_AGENT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(es[0].msg_id[RK_MSGID_LEN - 1], 1);
    assert_int_equal(es[1].msg_id[RK_MSGID_LEN - 1], 2);
    assert_int_equal(es[2].msg_id[RK_MSGID_LEN - 1], 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(es[i].state, RK_IN_CLAIMED);
        assert_int_equal(es[i].pid, 100);
        assert_int_equal(es[i].core_len, 5);
        memcpy(ids[i], es[i].msg_id, RK_MSGID_LEN);
        rk_inbox_entry_clear(&es[i]);
    }
    /* Room for four, one request left: just that one; then none. */
    assert_int_equal(rk_mailbox_in_claim_n(f->mb, RK_RECV_REQUESTS, 100, 2000, es, 4, &n, why, sizeof why),
                     RK_AGENT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(es[0].msg_id[RK_MSGID_LEN - 1], 5);
    rk_inbox_entry_clear(&es[0]);
    assert_int_equal(rk_mailbox_in_claim_n(f->mb, RK_RECV_REQUESTS, 100, 2000, es, 4, &n, why, sizeof why),
                     RK_AGENT_ENOTFOUND);
    assert_int_equal(n, 0);
    /* The reply stayed NEW, for whoever takes replies. */
    assert_int_equal(rk_mailbox_in_claim_n(f->mb, RK_RECV_ALL, 100, 2000, es, 4, &n, why, sizeof why),
                     RK_AGENT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(es[0].msg_id[RK_MSGID_LEN - 1], 3);
    rk_inbox_entry_clear(&es[0]);

    /* Someone else (renkei-agent reply) finished message 2 meanwhile. */
    assert_int_equal(rk_mailbox_in_done(f->mb, "city.x", ids[1], 2500, NULL, 0), RK_AGENT_OK);
    refs[0] = (rk_inbox_ref){"city.x", ids[0]};
    refs[1] = (rk_inbox_ref){"city.x", ids[1]};
    refs[2] = (rk_inbox_ref){"town.y", ids[2]};
    refs[3] = (rk_inbox_ref){"nobody", ids[2]}; /* never came */
    assert_int_equal(rk_mailbox_in_done_n(f->mb, refs, 4, 3000, each, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(each[0], RK_AGENT_OK);
    assert_int_equal(each[1], RK_AGENT_ECONFLICT);
    assert_int_equal(each[2], RK_AGENT_OK);
    assert_int_equal(each[3], RK_AGENT_ENOTFOUND);
    for (size_t i = 0; i < 3; i++) {
        rk_inbox_entry e;
        assert_int_equal(rk_mailbox_in_get(f->mb, refs[i].from, refs[i].msg_id, &e, NULL, 0), RK_AGENT_OK);
        assert_int_equal(e.state, RK_IN_DONE);
        /* The one done before keeps its own time. */
        assert_int_equal(e.done_ms, i == 1 ? 2500 : 3000);
        rk_inbox_entry_clear(&e);
    }
    /* Done entries are never claimed again. */
    assert_int_equal(rk_mailbox_in_claim_n(f->mb, RK_RECV_ALL, 100, 4000, es, 4, &n, why, sizeof why),
                     RK_AGENT_ENOTFOUND);
}

/* Taking the awaited reply clears the wait mark in the same commit: a
 * second reply to the same request is no longer held back for the
 * waiter, while before the take it was. */
static void test_take_clears_wait_mark(void **state)
{
    fixture *f = *state;
    rk_inbox_entry e;
    uint8_t id[RK_MSGID_LEN], reply[RK_MSGID_LEN];
    uint32_t me = (uint32_t)getpid();

    add_out(f, 40, false, 1000);
    id_of(id, 40);
    assert_int_equal(rk_mailbox_out_waiter(f->mb, id, me, NULL, 0), RK_AGENT_OK);
    assert_false(add_in(f, "power", 41, 40, 1100));
    assert_false(add_in(f, "power", 42, 40, 1200));
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 4242, 2000, &e, NULL, 0), RK_AGENT_ENOTFOUND);
    id_of(reply, 41);
    reply[0] = 0x22; /* the other side's id */
    assert_int_equal(rk_mailbox_in_take(f->mb, "power", reply, me, 2100, &e, NULL, 0), RK_AGENT_OK);
    assert_int_equal(e.state, RK_IN_CLAIMED);
    assert_int_equal(e.pid, me);
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 4242, 2200, &e, NULL, 0), RK_AGENT_OK);
    assert_int_equal(e.msg_id[RK_MSGID_LEN - 1], 42);
    rk_inbox_entry_clear(&e);
}

/* A reply and the request it answers: committed in one transaction; if
 * the reply cannot be committed, the request stays claimed. */
static void test_reply_commits_with_done(void **state)
{
    fixture *f = *state;
    rk_inbox_entry e, req;
    rk_msg_status st;
    uint8_t req_id[RK_MSGID_LEN];

    assert_false(add_in(f, "city.x", 30, 0, 1000));
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 100, 2000, &req, NULL, 0), RK_AGENT_OK);
    memcpy(req_id, req.msg_id, RK_MSGID_LEN);
    rk_inbox_entry_clear(&req);

    /* First a reply whose id collides with an outbox entry: refused, and
     * the request is not marked done either. */
    add_out(f, 31, true, 1500);
    memset(&st, 0, sizeof st);
    id_of(st.msg_id, 31);
    snprintf(st.to, sizeof st.to, "city.x");
    snprintf(st.type, sizeof st.type, "utility.supply.stop");
    assert_int_equal(rk_mailbox_out_add(f->mb, &st, FRAME, sizeof FRAME, "city.x", req_id, 2500, NULL, 0),
                     RK_AGENT_ECONFLICT);
    assert_int_equal(rk_mailbox_in_get(f->mb, "city.x", req_id, &e, NULL, 0), RK_AGENT_OK);
    assert_int_equal(e.state, RK_IN_CLAIMED);
    rk_inbox_entry_clear(&e);

    id_of(st.msg_id, 32);
    st.is_reply = true;
    memcpy(st.reply_to, req_id, RK_MSGID_LEN);
    assert_int_equal(rk_mailbox_out_add(f->mb, &st, FRAME, sizeof FRAME, "city.x", req_id, 3000, NULL, 0),
                     RK_AGENT_OK);
    assert_int_equal(rk_mailbox_in_get(f->mb, "city.x", req_id, &e, NULL, 0), RK_AGENT_OK);
    assert_int_equal(e.state, RK_IN_DONE);
    assert_int_equal(e.done_ms, 3000);
    rk_inbox_entry_clear(&e);
    st = get_out(f, 32);
    assert_int_equal(st.state, RK_MSG_PENDING);
    assert_true(st.is_reply);
}

static uint32_t dead_pid(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return (uint32_t)pid;
}

/* Claims of a process that no longer exists go back to NEW (and keep
 * their place); live claims stay. */
static void test_stale_claims_released(void **state)
{
    fixture *f = *state;
    rk_inbox_entry e;
    uint32_t gone = dead_pid(), me = (uint32_t)getpid();
    size_t released = 99;

    assert_false(rk_mailbox_pid_alive(gone));
    assert_false(add_in(f, "city.x", 40, 0, 1000));
    assert_false(add_in(f, "city.x", 41, 0, 1100));
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, gone, 2000, &e, NULL, 0), RK_AGENT_OK);
    assert_int_equal(e.msg_id[RK_MSGID_LEN - 1], 40);
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, me, 2000, &e, NULL, 0), RK_AGENT_OK);
    assert_int_equal(e.msg_id[RK_MSGID_LEN - 1], 41);
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, me, 2000, &e, NULL, 0), RK_AGENT_ENOTFOUND);

    assert_int_equal(rk_mailbox_in_release_stale(f->mb, &released, NULL, 0), RK_AGENT_OK);
    assert_int_equal(released, 1);
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, me, 3000, &e, NULL, 0), RK_AGENT_OK);
    assert_int_equal(e.msg_id[RK_MSGID_LEN - 1], 40);
    assert_int_equal(e.pid, me);
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_in_release_stale(f->mb, &released, NULL, 0), RK_AGENT_OK);
    assert_int_equal(released, 0);
    /* A live claim survives closing and reopening. */
    close_mb(f);
    open_mb(f);
    assert_int_equal(rk_mailbox_in_release_stale(f->mb, &released, NULL, 0), RK_AGENT_OK);
    assert_int_equal(released, 0);
    {
        uint8_t id[RK_MSGID_LEN];
        id_of(id, 40);
        id[0] = 0x22;
        assert_int_equal(rk_mailbox_in_get(f->mb, "city.x", id, &e, NULL, 0), RK_AGENT_OK);
        assert_int_equal(e.state, RK_IN_CLAIMED);
        assert_int_equal(e.pid, me);
        rk_inbox_entry_clear(&e);
    }
}

/* Failed attempts are counted and kept with their error and next try; the
 * last one makes the entry DEAD: listed, never claimed, released or purged,
 * until it is retried, then handed out again with its count from 0. */
static void test_failed_attempts_and_dead(void **state)
{
    fixture *f = *state;
    rk_inbox_entry e, *list = NULL;
    uint32_t me = (uint32_t)getpid(), attempts = 0;
    uint8_t id[RK_MSGID_LEN];
    size_t n = 99, in_n = 0, out_n = 0;
    bool more = true;
    char why[256] = "";

    assert_false(add_in(f, "city.x", 50, 0, 1000));
    assert_false(add_in(f, "city.x", 51, 0, 1100));
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, me, 2000, &e, NULL, 0), RK_AGENT_OK);
    memcpy(id, e.msg_id, sizeof id);
    assert_int_equal(e.attempts, 0);
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_in_troubled(f->mb, &list, &n, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(n, 0);

    assert_int_equal(rk_mailbox_in_failed(f->mb, "city.x", id, "HTTP 503\nfrom the back office", 5000,
                                          &attempts, why, sizeof why),
                     RK_AGENT_OK);
    assert_int_equal(attempts, 1);
    assert_int_equal(rk_mailbox_in_get(f->mb, "city.x", id, &e, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(e.state, RK_IN_CLAIMED);
    assert_int_equal(e.attempts, 1);
    assert_int_equal(e.next_try_ms, 5000);
    assert_string_equal(e.last_error, "HTTP 503 from the back office");
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_in_troubled(f->mb, &list, &n, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].state, RK_IN_CLAIMED);
    assert_null(list[0].core);
    free(list);

    /* Handed out again after a restart: the count comes with it. */
    assert_int_equal(rk_mailbox_in_release_stale(f->mb, NULL, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_mailbox_in_failed(f->mb, "city.x", id, "timed out", 0, &attempts, why, sizeof why),
                     RK_AGENT_OK);
    assert_int_equal(attempts, 2);
    assert_int_equal(rk_mailbox_in_get(f->mb, "city.x", id, &e, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(e.state, RK_IN_DEAD);
    assert_int_equal(e.pid, 0);
    rk_inbox_entry_clear(&e);
    /* Not claimed, released or purged; the other entry still is handed out. */
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, me, 6000, &e, NULL, 0), RK_AGENT_OK);
    assert_int_equal(e.msg_id[RK_MSGID_LEN - 1], 51);
    assert_int_equal(rk_mailbox_in_done(f->mb, "city.x", e.msg_id, 6000, NULL, 0), RK_AGENT_OK);
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, me, 6000, &e, NULL, 0), RK_AGENT_ENOTFOUND);
    assert_int_equal(rk_mailbox_in_release_stale(f->mb, NULL, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_mailbox_purge(f->mb, UINT64_MAX, 0, &in_n, &out_n, &more, why, sizeof why),
                     RK_AGENT_OK);
    assert_int_equal(in_n, 1); /* the one done, not the dead one */
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, me, 6000, &e, NULL, 0), RK_AGENT_ENOTFOUND);
    assert_int_equal(rk_mailbox_in_troubled(f->mb, &list, &n, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].state, RK_IN_DEAD);
    assert_int_equal(list[0].attempts, 2);
    assert_string_equal(list[0].last_error, "timed out");
    free(list);

    /* Retried: NEW again, counted from 0. */
    assert_int_equal(rk_mailbox_in_retry(f->mb, "city.y", id, &n, why, sizeof why), RK_AGENT_ENOTFOUND);
    assert_int_equal(rk_mailbox_in_retry(f->mb, NULL, NULL, &n, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rk_mailbox_in_retry(f->mb, "city.x", id, &n, why, sizeof why), RK_AGENT_ECONFLICT);
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, me, 7000, &e, NULL, 0), RK_AGENT_OK);
    assert_memory_equal(e.msg_id, id, sizeof id);
    assert_int_equal(e.attempts, 0);
    assert_string_equal(e.last_error, "");
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_in_done(f->mb, "city.x", id, 7000, NULL, 0), RK_AGENT_OK);
    assert_int_equal(rk_mailbox_in_failed(f->mb, "city.x", id, "late", 0, &attempts, why, sizeof why),
                     RK_AGENT_ECONFLICT);
}

/* Two processes claiming from one inbox at the same time: every entry is
 * handed out exactly once. */
static void test_two_processes_claim_each_once(void **state)
{
    fixture *f = *state;
    enum { N = 60 };
    int fds[2];
    pid_t child;
    int seen[N + 1];
    int status = 0;

    memset(seen, 0, sizeof seen);
    for (int i = 1; i <= N; i++)
        assert_false(add_in(f, "city.x", (uint8_t)i, 0, 1000 + (uint64_t)i));
    close_mb(f); /* no LMDB environment may cross fork() */
    assert_int_equal(pipe(fds), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        rk_inbox_entry e;
        uint8_t got;
        close(fds[0]);
        open_mb(f);
        while (rk_mailbox_in_claim(f->mb, RK_RECV_ALL, (uint32_t)getpid(), 1, &e, NULL, 0) == RK_AGENT_OK) {
            got = e.msg_id[RK_MSGID_LEN - 1];
            rk_inbox_entry_clear(&e);
            if (write(fds[1], &got, 1) != 1)
                _exit(2);
        }
        close_mb(f);
        _exit(0);
    }
    close(fds[1]);
    open_mb(f);
    {
        /* This side in batches of up to 4: the same promise holds. */
        rk_inbox_entry es[4];
        size_t n = 0;
        while (rk_mailbox_in_claim_n(f->mb, RK_RECV_ALL, (uint32_t)getpid(), 1, es, 4, &n, NULL, 0) ==
               RK_AGENT_OK) {
            for (size_t i = 0; i < n; i++) {
                seen[es[i].msg_id[RK_MSGID_LEN - 1]]++;
                rk_inbox_entry_clear(&es[i]);
            }
        }
    }
    {
        uint8_t got;
        while (read(fds[0], &got, 1) == 1)
            seen[got]++;
    }
    close(fds[0]);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 1; i <= N; i++)
        if (seen[i] != 1)
            fail_msg("entry %d handed out %d times", i, seen[i]);
}

/* ------------------------------------------------------------------ retention */

static bool in_present(fixture *f, const char *from, uint8_t n)
{
    rk_inbox_entry e;
    uint8_t id[RK_MSGID_LEN];
    rk_agent_err err;
    id_of(id, n);
    id[0] = 0x22;
    err = rk_mailbox_in_get(f->mb, from, id, &e, NULL, 0);
    rk_inbox_entry_clear(&e);
    assert_true(err == RK_AGENT_OK || err == RK_AGENT_ENOTFOUND);
    return err == RK_AGENT_OK;
}

static bool out_present(fixture *f, uint8_t n)
{
    rk_msg_status st;
    uint8_t id[RK_MSGID_LEN];
    rk_agent_err err;
    id_of(id, n);
    err = rk_mailbox_out_get(f->mb, id, &st, NULL, NULL, NULL, 0);
    assert_true(err == RK_AGENT_OK || err == RK_AGENT_ENOTFOUND);
    return err == RK_AGENT_OK;
}

static void done_in(fixture *f, const char *from, uint8_t n, uint64_t now)
{
    uint8_t id[RK_MSGID_LEN];
    id_of(id, n);
    id[0] = 0x22;
    assert_int_equal(rk_mailbox_in_done(f->mb, from, id, now, NULL, 0), RK_AGENT_OK);
}

/* Only what completed before the limit goes: DONE inbox entries and
 * complete outbox records.  NEW and CLAIMED entries, open and pending
 * messages, and recent complete ones stay; the duplicate filter still
 * knows the entries that stay. */
static void test_purge_only_old_completed(void **state)
{
    fixture *f = *state;
    rk_inbox_entry e;
    size_t in_n = 99, out_n = 99;
    bool more = true;
    char why[256] = "";

    add_out(f, 1, true, 1000); /* delivered, no reply expected: complete, old */
    {
        rk_result_t r;
        memset(&r, 0, sizeof r);
        r.has_msg_id = true;
        id_of(r.msg_id, 1);
        r.status = RK_ST_ACCEPTED;
        r.seq = 1;
        r.log_size = 77; /* where the hub logged it: goes with the record */
        assert_int_equal(rk_mailbox_out_result(f->mb, &r, 1100, NULL, NULL, 0), RK_AGENT_OK);
    }
    assert_true(notice(f, 1, RK_ST_DELIVERED, 1200));
    add_out(f, 2, false, 1000); /* delivered, waits for a reply: open */
    result(f, 2, RK_ST_ACCEPTED, 2, 1100);
    assert_true(notice(f, 2, RK_ST_DELIVERED, 1200));
    add_out(f, 3, false, 1000); /* refused by the hub: complete, old */
    result(f, 3, RK_ST_UNKNOWN_RECIPIENT, 0, 1100);
    add_out(f, 4, false, 1000); /* still pending */
    result(f, 4, RK_ST_QUEUE_FULL, 0, 1100);
    add_out(f, 5, true, 1000);  /* complete, but recently */
    result(f, 5, RK_ST_ACCEPTED, 5, 1100);
    assert_true(notice(f, 5, RK_ST_DELIVERED, 50000));
    add_out(f, 6, false, 1000); /* answered long ago: complete, old */
    result(f, 6, RK_ST_ACCEPTED, 6, 1100);

    assert_false(add_in(f, "water", 1, 0, 1000)); /* DONE long ago */
    done_in(f, "water", 1, 1100);
    assert_false(add_in(f, "water", 2, 0, 1000)); /* CLAIMED long ago */
    assert_int_equal(rk_mailbox_in_claim(f->mb, RK_RECV_ALL, 4242, 1100, &e, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(e.msg_id[RK_MSGID_LEN - 1], 2);
    rk_inbox_entry_clear(&e);
    assert_false(add_in(f, "water", 3, 0, 1000)); /* NEW since long ago */
    assert_false(add_in(f, "water", 4, 0, 1000)); /* DONE recently */
    done_in(f, "water", 4, 50000);
    assert_false(add_in(f, "power", 60, 6, 1300)); /* the answer to 6 */
    assert_true(get_out(f, 6).complete);

    assert_int_equal(rk_mailbox_purge(f->mb, 10000, 0, &in_n, &out_n, &more, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(in_n, 1);
    assert_int_equal(out_n, 3);
    assert_false(more);

    assert_false(out_present(f, 1));
    {
        uint8_t id[RK_MSGID_LEN];
        uint64_t size = 1;
        id_of(id, 1);
        assert_int_equal(rk_mailbox_out_log_size(f->mb, id, &size, NULL, 0), RK_AGENT_ENOTFOUND);
    }
    assert_true(out_present(f, 2));
    assert_false(out_present(f, 3));
    assert_true(out_present(f, 4));
    assert_true(out_present(f, 5));
    assert_false(out_present(f, 6));
    assert_false(in_present(f, "water", 1));
    assert_true(in_present(f, "water", 2));
    assert_true(in_present(f, "water", 3));
    assert_true(in_present(f, "water", 4));
    assert_true(in_present(f, "power", 60)); /* the reply: NEW, not handed out yet */
    assert_int_equal(get_out(f, 4).state, RK_MSG_PENDING);

    /* What stayed still filters duplicates; nothing more goes now. */
    assert_true(add_in(f, "water", 4, 0, 60000));
    assert_int_equal(rk_mailbox_purge(f->mb, 10000, 0, &in_n, &out_n, &more, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(in_n + out_n, 0);
    /* A later limit takes the recent ones too, and still never the open. */
    assert_int_equal(rk_mailbox_purge(f->mb, 100000, 0, &in_n, &out_n, &more, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(in_n, 1);
    assert_int_equal(out_n, 1);
    assert_true(out_present(f, 2));
    assert_true(out_present(f, 4));
    assert_true(in_present(f, "water", 2));
    assert_true(in_present(f, "water", 3));
}

/* One call deletes at most its batch (and never more than
 * RK_MAILBOX_PURGE_BATCH) and says when some are left. */
static void test_purge_batch_limit(void **state)
{
    fixture *f = *state;
    const size_t total = RK_MAILBOX_PURGE_BATCH + 20;
    size_t in_n = 0, out_n = 0, gone = 0;
    bool more = false;
    char why[256] = "";

    for (size_t i = 0; i < total; i++) {
        rk_inbox_entry e;
        bool dup = true;
        entry(&e, "water", (uint8_t)(i & 0xff), 0);
        e.msg_id[1] = (uint8_t)(i >> 8);
        assert_int_equal(rk_mailbox_in_add(f->mb, &e, 1000, &dup, why, sizeof why), RK_AGENT_OK);
        assert_false(dup);
        assert_int_equal(rk_mailbox_in_done(f->mb, "water", e.msg_id, 1100, why, sizeof why), RK_AGENT_OK);
    }
    assert_int_equal(rk_mailbox_purge(f->mb, 5000, 7, &in_n, &out_n, &more, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(in_n, 7);
    assert_true(more);
    gone += in_n;
    assert_int_equal(rk_mailbox_purge(f->mb, 5000, 100000, &in_n, &out_n, &more, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(in_n, RK_MAILBOX_PURGE_BATCH);
    assert_true(more);
    gone += in_n;
    assert_int_equal(rk_mailbox_purge(f->mb, 5000, 0, &in_n, &out_n, &more, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(in_n, total - gone);
    assert_false(more);
    assert_int_equal(out_n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_happy_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_never_moves_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_position_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restored_hub_lost_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_from_someone_else, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_refused_and_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_reply_complete_when_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_due_and_frame_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_flag_byte_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_record_fails_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_layout_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_records_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_duplicate_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_order_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_in_a_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_and_done_in_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_clears_wait_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_commits_with_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_claims_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_processes_claim_each_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_attempts_and_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_only_old_completed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_batch_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_key_kept, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
