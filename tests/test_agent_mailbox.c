/*
 * test_agent_mailbox.c - the agent's durable outbox and inbox.
 *
 * Straight against the LMDB tables (no sockets): how each event moves a
 * sent message's state, the inbox's duplicate filter, claiming across
 * processes, a reply committed together with the request it closes, and
 * claims of dead processes released, and old completed records deleted.
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
#include "renkei_agent.h"

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
    const size_t no_reply_at = 8 + offsetof(rk_msg_status, no_reply); /* after two uint32 */
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
    assert_true(rk_mailbox_out_record(rec, len, &st, &frame_len));
    assert_true(st.no_reply);
    assert_int_equal(frame_len, sizeof FRAME);
    assert_int_equal(rec[no_reply_at], 1); /* the layout this test assumes */

    rec[no_reply_at] = 0xfe;
    assert_false(rk_mailbox_out_record(rec, len, &st, &frame_len));
    v.mv_data = rec;
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(rk_mailbox_out_get(f->mb, id, &st, NULL, NULL, why, sizeof why), RK_AGENT_ESTORE);
    assert_non_null(strstr(why, "damaged"));
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
        rk_inbox_entry e;
        while (rk_mailbox_in_claim(f->mb, RK_RECV_ALL, (uint32_t)getpid(), 1, &e, NULL, 0) == RK_AGENT_OK) {
            seen[e.msg_id[RK_MSGID_LEN - 1]]++;
            rk_inbox_entry_clear(&e);
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
        cmocka_unit_test_setup_teardown(test_reply_from_someone_else, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_refused_and_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_reply_complete_when_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_due_and_frame_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_flag_byte_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_record_fails_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_duplicate_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_order_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_clears_wait_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_commits_with_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_claims_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_processes_claim_each_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_only_old_completed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_batch_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
