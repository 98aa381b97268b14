/*
 * test_msgstate.c - what becomes of an accepted message, one test per
 * transition, against a real store in a temp dir.  Messages are accepted
 * through route_message, as the hub does; no sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "catalogue.h"
#include "keys.h"
#include "msgstate.h"
#include "payload.h"
#include "policy.h"
#include "route.h"
#include "store.h"

#define T0 1700000000000ull
#define TTL POLICY_DEFAULT_TTL_MS
#define DAY_MS (24ull * 3600 * 1000)

typedef struct fixture {
    char dir[64];
    uint8_t master[32];
    store_t *store;
    rk_identity_t *x, *power, *gas;
    uint8_t x_code[RK_CODE_LEN]; /* city.x's code for a resident */
    policy_ttl_t ttl;
    catalogue_t *cat;
} fixture_t;

/* A message city.x sent power, as route_message accepted it. */
typedef struct sent {
    uint8_t msg_id[RK_MSGID_LEN];
    uint64_t seq;
    uint8_t power_code[RK_CODE_LEN]; /* WHO as power received it */
} sent_t;

static void add_org(store_t *st, const rk_identity_t *id, org_kind kind)
{
    store_txn_t *txn = NULL;
    org_t org;
    memset(&org, 0, sizeof org);
    snprintf(org.id, sizeof org.id, "%s", id->pub.name);
    org.kind = kind;
    org.status = ORG_ACTIVE;
    memcpy(org.sign_pk, id->pub.sign_pk, RK_KEY_LEN);
    memcpy(org.curve_pk, id->pub.curve_pk, RK_KEY_LEN);
    assert_int_equal(store_begin(st, true, &txn), STORE_OK);
    assert_int_equal(store_org_add(txn, &org), STORE_OK);
    assert_int_equal(store_commit(&txn), STORE_OK);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    store_txn_t *txn = NULL;
    assert_non_null(f);
    assert_true(sodium_init() >= 0);
    snprintf(f->dir, sizeof f->dir, "/tmp/renkei-msgstate-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    randombytes_buf(f->master, sizeof f->master);
    policy_ttl_init(&f->ttl);
    f->cat = catalogue_from_text(catalogue_default_text, catalogue_default_len, NULL, 0);
    assert_non_null(f->cat);
    f->ttl.cat = f->cat;
    assert_int_equal(store_open(f->dir, f->master, 0, &f->store, NULL, 0), STORE_OK);
    f->x = rk_identity_generate("city.x");
    f->power = rk_identity_generate("power");
    f->gas = rk_identity_generate("gas");
    add_org(f->store, f->x, ORG_MUNICIPALITY);
    add_org(f->store, f->power, ORG_UTILITY);
    add_org(f->store, f->gas, ORG_UTILITY);
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    assert_int_equal(store_person_new(txn, "city.x", f->x_code), STORE_OK);
    assert_int_equal(store_commit(&txn), STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    store_close(&f->store);
    rk_identity_destroy(&f->x);
    rk_identity_destroy(&f->power);
    rk_identity_destroy(&f->gas);
    catalogue_free(&f->cat);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Routes a message from signer to `to` in a committed transaction of its
 * own; returns its result. */
static void route(fixture_t *f, const rk_identity_t *signer, const char *to, const char *type,
                  const uint8_t who[RK_CODE_LEN], const uint8_t *reply_to, route_out_t *out)
{
    rk_core_t core;
    rk_envelope_t env;
    store_txn_t *txn = NULL;
    route_in_t in = {.from = signer->pub.name,
                     .env = &env,
                     .max_what = 4096,
                     .queue_limit = 1000,
                     .cat = f->cat,
                     .ttl = &f->ttl,
                     .now_ms = T0};

    memset(&core, 0, sizeof core);
    snprintf(core.from, sizeof core.from, "%s", signer->pub.name);
    snprintf(core.to, sizeof core.to, "%s", to);
    snprintf(core.type, sizeof core.type, "%s", type);
    randombytes_buf(core.msg_id, RK_MSGID_LEN);
    if (reply_to != NULL) {
        core.has_reply_to = true;
        memcpy(core.reply_to, reply_to, RK_MSGID_LEN);
    }
    core.time_ms = T0;
    core.what_len = RK_CLASS_MIN;
    core.what = calloc(1, core.what_len);
    assert_non_null(core.what);
    assert_int_equal(rk_envelope_seal(&env, &core, who, signer->sign_sk), RK_WIRE_OK);
    rk_core_clear(&core);
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    in.txn = txn;
    route_message(&in, out);
    assert_false(out->store_failed);
    assert_int_equal(store_commit(&txn), STORE_OK);
    rk_envelope_clear(&env);
    assert_int_equal(out->status, RK_ST_ACCEPTED);
}

typedef struct scan_ctx {
    queue_kind kind;
    uint64_t msg_seq; /* NOTICE: the message it is about; DELIVER: the entry's seq */
    rk_hub_frame_t frame;
    queue_meta_t meta;
    int found;
} scan_ctx_t;

static int scan_cb(const queue_meta_t *meta, const uint8_t *frame, size_t len, void *ctx)
{
    scan_ctx_t *s = ctx;
    rk_hub_frame_t fr;
    assert_int_equal(rk_hub_frame_decode(frame, len, &fr, NULL, 0), RK_WIRE_OK);
    if (meta->kind == s->kind &&
        (meta->kind == QUEUE_NOTICE ? fr.u.notice.msg_seq == s->msg_seq : meta->seq == s->msg_seq)) {
        if (s->found++ == 0) {
            s->frame = fr;
            s->meta = *meta;
            return 0;
        }
    }
    rk_hub_frame_clear(&fr);
    return 0;
}

/* How many entries of `kind` about msg_seq org's queue holds; the first
 * into *s (its frame decoded: clear it after). */
static int in_queue(fixture_t *f, const char *org, queue_kind kind, uint64_t msg_seq, scan_ctx_t *s)
{
    store_txn_t *txn = NULL;
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->msg_seq = msg_seq;
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_queue_scan(txn, org, 0, scan_cb, s), STORE_OK);
    store_abort(&txn);
    return s->found;
}

static uint64_t queue_len(fixture_t *f, const char *org)
{
    store_txn_t *txn = NULL;
    uint64_t n = 0;
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_queue_count(txn, org, &n), STORE_OK);
    store_abort(&txn);
    return n;
}

/* city.x asks power to stop supply (a request that may be answered). */
static void send_stop(fixture_t *f, sent_t *m)
{
    route_out_t out;
    scan_ctx_t s;
    route(f, f->x, "power", "utility.supply.stop", f->x_code, NULL, &out);
    memcpy(m->msg_id, out.msg_id, RK_MSGID_LEN);
    m->seq = out.seq;
    assert_int_equal(in_queue(f, "power", QUEUE_DELIVER, m->seq, &s), 1);
    memcpy(m->power_code, s.frame.u.deliver.envelope.who, RK_CODE_LEN);
    rk_hub_frame_clear(&s.frame);
}

static void record(fixture_t *f, const sent_t *m, msg_record_t *rec)
{
    store_txn_t *txn = NULL;
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_msg_get(txn, "city.x", m->msg_id, rec), STORE_OK);
    store_abort(&txn);
}

static uint64_t log_size(fixture_t *f)
{
    store_txn_t *txn = NULL;
    uint64_t n = 0;
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_log_size(txn, &n), STORE_OK);
    store_abort(&txn);
    return n;
}

static int note_index(uint64_t index, void *ctx)
{
    uint64_t *want = ctx;
    if (index == *want)
        *want = UINT64_MAX; /* found */
    return 0;
}

/* The routing log's last entry, which must be noted under its seq. */
static void last_entry(fixture_t *f, rk_log_entry_t *e)
{
    store_txn_t *txn = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t n = log_size(f), want = n - 1;
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_log_get(txn, n - 1, &buf, &len), STORE_OK);
    assert_int_equal(rk_log_entry_decode(buf, len, e, NULL, 0), RK_WIRE_OK);
    free(buf);
    assert_int_equal(store_log_seq_list(txn, e->seq, note_index, &want), STORE_OK);
    store_abort(&txn);
    assert_true(want == UINT64_MAX);
}

static void ack(fixture_t *f, const char *org, uint64_t seq, uint64_t now, msgstate_out_t *out)
{
    store_txn_t *txn = NULL;
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    assert_int_equal(msgstate_delivered(txn, org, seq, now, &f->ttl, out), STORE_OK);
    assert_int_equal(store_commit(&txn), STORE_OK);
}

static void reject(fixture_t *f, const char *org, const sent_t *m, rk_status reason, const char *detail,
                   msgstate_out_t *out)
{
    store_txn_t *txn = NULL;
    rk_reject_t rj;
    memset(&rj, 0, sizeof rj);
    snprintf(rj.to, sizeof rj.to, "city.x");
    memcpy(rj.msg_id, m->msg_id, RK_MSGID_LEN);
    rj.reason = reason;
    snprintf(rj.detail, sizeof rj.detail, "%s", detail);
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    assert_int_equal(msgstate_refused_by_recipient(txn, org, &rj, T0 + 1000, &f->ttl, out), STORE_OK);
    assert_int_equal(store_commit(&txn), STORE_OK);
}

static store_err expire(fixture_t *f, uint64_t now, msgstate_out_t *out)
{
    store_txn_t *txn = NULL;
    store_err err;
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    err = msgstate_expired(txn, now, &f->ttl, out);
    assert_int_equal(store_commit(&txn), STORE_OK);
    return err;
}

/* The one notice city.x's queue holds about m, of status st, from `peer`. */
static void expect_notice(fixture_t *f, const sent_t *m, rk_status st, const char *peer, scan_ctx_t *s)
{
    assert_int_equal(in_queue(f, "city.x", QUEUE_NOTICE, m->seq, s), 1);
    assert_int_equal(s->frame.kind, RK_HF_NOTICE);
    assert_string_equal(rk_status_name(s->frame.u.notice.status), rk_status_name(st));
    assert_memory_equal(s->frame.u.notice.msg_id, m->msg_id, RK_MSGID_LEN);
    assert_string_equal(s->frame.u.notice.peer, peer);
    assert_int_equal(s->frame.u.notice.seq, s->meta.seq);
    assert_string_equal(s->meta.type, "utility.supply.stop");
}

/* ------------------------------------------------------------ delivery */

/* QUEUED -> DELIVERED: the entry leaves power's queue, city.x is told
 * DELIVERED, the log says so under the message's seq, and the record keeps
 * its person (the reply comes after delivery). */
static void test_queued_to_delivered(void **state)
{
    fixture_t *f = *state;
    sent_t m;
    msgstate_out_t out;
    msg_record_t rec;
    rk_log_entry_t e;
    scan_ctx_t s;
    uint64_t before;

    send_stop(f, &m);
    before = log_size(f);
    ack(f, "power", m.seq, T0 + 500, &out);
    assert_int_equal(out.event, MSGSTATE_DELIVERED);
    assert_true(out.taken);
    assert_true(out.told);
    assert_string_equal(out.sender, "city.x");
    assert_string_equal(out.recipient, "power");
    assert_string_equal(out.type, "utility.supply.stop");
    assert_int_equal(out.seq, m.seq);
    assert_int_equal(queue_len(f, "power"), 0);

    expect_notice(f, &m, RK_ST_DELIVERED, "power", &s);
    assert_true(s.frame.u.notice.time_ms == T0 + 500);
    assert_true(s.meta.expires_ms == T0 + 500 + TTL);
    rk_hub_frame_clear(&s.frame);

    assert_int_equal(log_size(f), before + 1);
    last_entry(f, &e);
    assert_int_equal(e.event, RK_EV_DELIVERED);
    assert_int_equal(e.seq, m.seq);
    assert_string_equal(e.from, "city.x");
    assert_string_equal(e.to, "power");
    assert_int_equal(e.outcome, RK_ST_DELIVERED);
    assert_memory_equal(e.msg_id, m.msg_id, RK_MSGID_LEN);

    record(f, &m, &rec);
    assert_int_equal(rec.state, MSG_DELIVERED);
    assert_true(rec.has_person); /* kept: power may still answer */
    sodium_memzero(rec.person, sizeof rec.person);
}

/* After delivery the answer still fits, and once accepted it takes the
 * binding away (msgstate_answered). */
static void test_delivered_then_answered(void **state)
{
    fixture_t *f = *state;
    sent_t m;
    msgstate_out_t out;
    route_out_t rep;
    msg_record_t rec;

    send_stop(f, &m);
    ack(f, "power", m.seq, T0 + 500, &out);
    route(f, f->power, "city.x", "utility.supply.stop", m.power_code, m.msg_id, &rep);
    assert_true(rep.is_reply);
    record(f, &m, &rec);
    assert_int_equal(rec.state, MSG_DELIVERED); /* answering changes no state */
    assert_false(rec.has_person);
}

/* Acknowledging a notice removes it and records nothing more. */
static void test_ack_of_notice(void **state)
{
    fixture_t *f = *state;
    sent_t m;
    msgstate_out_t out;
    scan_ctx_t s;
    uint64_t before, notice_seq;

    send_stop(f, &m);
    ack(f, "power", m.seq, T0 + 500, &out);
    expect_notice(f, &m, RK_ST_DELIVERED, "power", &s);
    notice_seq = s.meta.seq;
    rk_hub_frame_clear(&s.frame);
    before = log_size(f);

    ack(f, "city.x", notice_seq, T0 + 600, &out);
    assert_int_equal(out.event, MSGSTATE_NOTICE_TAKEN);
    assert_true(out.taken);
    assert_false(out.told);
    assert_int_equal(out.seq, notice_seq);
    assert_string_equal(out.sender, "city.x");
    assert_string_equal(out.recipient, "power");
    assert_int_equal(queue_len(f, "city.x"), 0);
    assert_int_equal(log_size(f), before);
}

/* An entry acknowledged twice: the second time nothing happens. */
static void test_ack_twice(void **state)
{
    fixture_t *f = *state;
    sent_t m;
    msgstate_out_t out;
    scan_ctx_t s;
    uint64_t before;

    send_stop(f, &m);
    ack(f, "power", m.seq, T0 + 500, &out);
    before = log_size(f);
    ack(f, "power", m.seq, T0 + 600, &out);
    assert_int_equal(out.event, MSGSTATE_NOTHING);
    assert_false(out.taken);
    assert_false(out.told);
    assert_int_equal(log_size(f), before);
    assert_int_equal(in_queue(f, "city.x", QUEUE_NOTICE, m.seq, &s), 1); /* still the one DELIVERED */
    rk_hub_frame_clear(&s.frame);
    assert_int_equal(queue_len(f, "city.x"), 1);
}

/* An ack of another org's entry seq takes nothing from that org's queue. */
static void test_ack_of_another_orgs_entry(void **state)
{
    fixture_t *f = *state;
    sent_t m;
    msgstate_out_t out;
    msg_record_t rec;

    send_stop(f, &m);
    ack(f, "gas", m.seq, T0 + 500, &out);
    assert_int_equal(out.event, MSGSTATE_NOTHING);
    assert_int_equal(queue_len(f, "power"), 1);
    record(f, &m, &rec);
    assert_int_equal(rec.state, MSG_QUEUED);
    sodium_memzero(rec.person, sizeof rec.person);
}

/* The record was purged before the ack came: the entry goes, nobody is
 * told and nothing is logged. */
static void test_record_purged_before_ack(void **state)
{
    fixture_t *f = *state;
    store_txn_t *txn = NULL;
    msg_record_t rec;
    msgstate_out_t out;
    sent_t m;
    size_t purged = 0;
    uint64_t before, later = T0 + TTL + DAY_MS;

    send_stop(f, &m);
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    assert_int_equal(store_msg_purge(txn, later, 100, &purged), STORE_OK);
    assert_int_equal(purged, 1);
    assert_int_equal(store_msg_get(txn, "city.x", m.msg_id, &rec), STORE_ENOTFOUND);
    assert_int_equal(store_commit(&txn), STORE_OK);
    before = log_size(f);

    ack(f, "power", m.seq, later, &out);
    assert_int_equal(out.event, MSGSTATE_DELIVERED);
    assert_true(out.taken);
    assert_false(out.told);
    assert_int_equal(queue_len(f, "power"), 0);
    assert_int_equal(queue_len(f, "city.x"), 0);
    assert_int_equal(log_size(f), before);
}

/* -------------------------------------------------------------- expiry */

/* QUEUED -> EXPIRED: the entry leaves power's queue, city.x is told
 * EXPIRED, the log says so, and the binding goes (no answer can come). */
static void test_queued_to_expired(void **state)
{
    fixture_t *f = *state;
    sent_t m;
    msgstate_out_t out;
    msg_record_t rec;
    rk_log_entry_t e;
    scan_ctx_t s;
    uint64_t before;

    send_stop(f, &m);
    before = log_size(f);
    assert_int_equal(expire(f, T0 + TTL - 1, &out), STORE_ENOTFOUND); /* not yet */
    assert_int_equal(out.event, MSGSTATE_NOTHING);
    assert_int_equal(queue_len(f, "power"), 1);

    assert_int_equal(expire(f, T0 + TTL, &out), STORE_OK);
    assert_int_equal(out.event, MSGSTATE_EXPIRED);
    assert_true(out.taken);
    assert_true(out.told);
    assert_string_equal(out.sender, "city.x");
    assert_string_equal(out.recipient, "power");
    assert_int_equal(out.seq, m.seq);
    assert_true(out.accepted_ms == T0);
    assert_int_equal(queue_len(f, "power"), 0);
    expect_notice(f, &m, RK_ST_EXPIRED, "power", &s);
    rk_hub_frame_clear(&s.frame);

    assert_int_equal(log_size(f), before + 1);
    last_entry(f, &e);
    assert_int_equal(e.event, RK_EV_EXPIRED);
    assert_int_equal(e.seq, m.seq);
    assert_string_equal(e.from, "city.x");
    assert_string_equal(e.to, "power");
    assert_int_equal(e.outcome, RK_ST_EXPIRED);

    record(f, &m, &rec);
    assert_int_equal(rec.state, MSG_EXPIRED);
    assert_false(rec.has_person);

    /* nothing more has expired */
    assert_int_equal(expire(f, T0 + TTL, &out), STORE_ENOTFOUND);
}

/* A notice nobody collects in time is dropped: nobody is told, nothing is
 * logged. */
static void test_notice_expires_dropped(void **state)
{
    fixture_t *f = *state;
    sent_t m;
    msgstate_out_t out;
    uint64_t before;

    send_stop(f, &m);
    ack(f, "power", m.seq, T0, &out);
    assert_int_equal(queue_len(f, "city.x"), 1);
    before = log_size(f);
    assert_int_equal(expire(f, T0 + TTL, &out), STORE_OK);
    assert_int_equal(out.event, MSGSTATE_NOTICE_DROPPED);
    assert_true(out.taken);
    assert_false(out.told);
    assert_string_equal(out.sender, "city.x");
    assert_string_equal(out.recipient, "power");
    assert_int_equal(queue_len(f, "city.x"), 0);
    assert_int_equal(log_size(f), before);
    assert_int_equal(expire(f, T0 + TTL, &out), STORE_ENOTFOUND);
}

/* ------------------------------------------------ refusal by the recipient */

static void expect_refused(fixture_t *f, const sent_t *m, uint64_t log_before)
{
    msg_record_t rec;
    rk_log_entry_t e;
    scan_ctx_t s;

    assert_int_equal(in_queue(f, "city.x", QUEUE_NOTICE, m->seq, &s) >= 1, 1);
    rk_hub_frame_clear(&s.frame);
    assert_int_equal(log_size(f), log_before + 1);
    last_entry(f, &e);
    assert_int_equal(e.event, RK_EV_REFUSED_BY_RECIPIENT);
    assert_int_equal(e.seq, m->seq);
    assert_string_equal(e.from, "city.x");
    assert_string_equal(e.to, "power");
    assert_int_equal(e.outcome, RK_ST_NOT_PERMITTED);
    record(f, m, &rec);
    assert_int_equal(rec.state, MSG_REFUSED);
    assert_false(rec.has_person); /* no answer can come */
}

/* QUEUED -> REFUSED: city.x is told REFUSED_BY_RECIPIENT with power's
 * reason and words; a second reject changes nothing. */
static void test_queued_refused_by_recipient(void **state)
{
    fixture_t *f = *state;
    sent_t m;
    msgstate_out_t out;
    scan_ctx_t s;
    uint64_t before;

    send_stop(f, &m);
    before = log_size(f);
    reject(f, "power", &m, RK_ST_NOT_PERMITTED, "no such supply point", &out);
    assert_int_equal(out.event, MSGSTATE_REFUSED);
    assert_true(out.told);
    assert_false(out.taken); /* the entry leaves with power's ack */
    assert_string_equal(out.sender, "city.x");
    assert_string_equal(out.recipient, "power");
    assert_int_equal(out.seq, m.seq);
    expect_refused(f, &m, before);
    expect_notice(f, &m, RK_ST_REFUSED_BY_RECIPIENT, "power", &s);
    assert_int_equal(s.frame.u.notice.cause, RK_ST_NOT_PERMITTED);
    assert_string_equal(s.frame.u.notice.detail, "no such supply point");
    rk_hub_frame_clear(&s.frame);

    /* refused once: a second reject says nothing more */
    reject(f, "power", &m, RK_ST_NOT_PERMITTED, "", &out);
    assert_int_equal(out.event, MSGSTATE_NOTHING);
    assert_false(out.told);
    assert_int_equal(log_size(f), before + 1);
    assert_int_equal(queue_len(f, "city.x"), 1);

    /* power acknowledges the refused message: no DELIVERED notice */
    ack(f, "power", m.seq, T0 + 2000, &out);
    assert_int_equal(out.event, MSGSTATE_DELIVERED);
    assert_false(out.told);
    assert_int_equal(queue_len(f, "city.x"), 1);
    assert_int_equal(log_size(f), before + 1);
}

/* DELIVERED -> REFUSED: the binding delivery kept goes, and the answer it
 * allowed is refused from then on. */
static void test_delivered_refused_by_recipient(void **state)
{
    fixture_t *f = *state;
    sent_t m;
    msgstate_out_t out;
    scan_ctx_t s;
    uint64_t before;

    send_stop(f, &m);
    ack(f, "power", m.seq, T0 + 500, &out);
    before = log_size(f);
    reject(f, "power", &m, RK_ST_NOT_PERMITTED, "", &out);
    assert_int_equal(out.event, MSGSTATE_REFUSED);
    assert_true(out.told);
    expect_refused(f, &m, before);
    /* DELIVERED first, then REFUSED_BY_RECIPIENT (with the reason's text) */
    assert_int_equal(in_queue(f, "city.x", QUEUE_NOTICE, m.seq, &s), 2);
    assert_int_equal(s.frame.u.notice.status, RK_ST_DELIVERED);
    rk_hub_frame_clear(&s.frame);
}

/* Only the org the message went to may refuse it: gas's reject of
 * city.x's message to power, and a reject of no message, change nothing. */
static void test_reject_by_another_org_ignored(void **state)
{
    fixture_t *f = *state;
    sent_t m, none;
    msgstate_out_t out;
    msg_record_t rec;
    uint64_t before;

    send_stop(f, &m);
    before = log_size(f);
    reject(f, "gas", &m, RK_ST_NOT_PERMITTED, "", &out);
    assert_int_equal(out.event, MSGSTATE_REJECT_IGNORED);
    assert_false(out.told);
    assert_string_equal(out.sender, "city.x");
    assert_string_equal(out.recipient, "gas");

    memset(&none, 0, sizeof none);
    randombytes_buf(none.msg_id, RK_MSGID_LEN);
    reject(f, "power", &none, RK_ST_NOT_PERMITTED, "", &out);
    assert_int_equal(out.event, MSGSTATE_REJECT_IGNORED);
    assert_false(out.told);

    assert_int_equal(log_size(f), before);
    assert_int_equal(queue_len(f, "city.x"), 0);
    record(f, &m, &rec);
    assert_int_equal(rec.state, MSG_QUEUED);
    assert_true(rec.has_person);
    sodium_memzero(rec.person, sizeof rec.person);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queued_to_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivered_then_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_of_notice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_of_another_orgs_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_purged_before_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queued_to_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notice_expires_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queued_refused_by_recipient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivered_refused_by_recipient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reject_by_another_org_ignored, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
