/*
 * test_route.c - the ingest pipeline against a real store in a temp dir:
 * every refusal, translation, first contact.  No sockets.
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

#include "keys.h"
#include "payload.h"
#include "policy.h"
#include "route.h"
#include "store.h"

typedef struct fixture {
    char dir[64];
    uint8_t master[32];
    store_t *store;
    rk_identity_t *x, *y, *power, *audit;
    uint8_t x_code[RK_CODE_LEN]; /* city.x's code for a resident */
    uint64_t queue_limit;
    policy_ttl_t ttl;
} fixture_t;

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
    snprintf(f->dir, sizeof f->dir, "/tmp/renkei-route-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    randombytes_buf(f->master, sizeof f->master);
    f->queue_limit = 1000;
    policy_ttl_init(&f->ttl);
    assert_int_equal(store_open(f->dir, f->master, 0, &f->store, NULL, 0), STORE_OK);
    f->x = rk_identity_generate("city.x");
    f->y = rk_identity_generate("town.y");
    f->power = rk_identity_generate("power");
    f->audit = rk_identity_generate("audit");
    add_org(f->store, f->x, ORG_MUNICIPALITY);
    add_org(f->store, f->y, ORG_MUNICIPALITY);
    add_org(f->store, f->power, ORG_UTILITY);
    add_org(f->store, f->audit, ORG_AUDITOR);
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
    rk_identity_destroy(&f->y);
    rk_identity_destroy(&f->power);
    rk_identity_destroy(&f->audit);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Builds a signed envelope from `signer` claiming `from`, with a `what` of
 * exactly what_len bytes (the hub cannot read it: zeros will do). */
static void make_env_exact(rk_envelope_t *env, const rk_identity_t *signer, const char *from, const char *to,
                           const char *type, const uint8_t who[RK_CODE_LEN], const uint8_t *reply_to,
                           size_t what_len)
{
    rk_core_t core;
    memset(&core, 0, sizeof core);
    snprintf(core.from, sizeof core.from, "%s", from);
    snprintf(core.to, sizeof core.to, "%s", to);
    snprintf(core.type, sizeof core.type, "%s", type);
    randombytes_buf(core.msg_id, RK_MSGID_LEN);
    if (reply_to != NULL) {
        core.has_reply_to = true;
        memcpy(core.reply_to, reply_to, RK_MSGID_LEN);
    }
    core.time_ms = 1700000000000ull;
    core.what = calloc(1, what_len);
    core.what_len = what_len;
    assert_non_null(core.what);
    assert_int_equal(rk_envelope_seal(env, &core, who, signer->sign_sk), RK_WIRE_OK);
    rk_core_clear(&core);
}

/* The same with at least what_len bytes, rounded up to a size class as
 * every agent pads its payloads (proto/payload.h). */
static void make_env(rk_envelope_t *env, const rk_identity_t *signer, const char *from, const char *to,
                     const char *type, const uint8_t who[RK_CODE_LEN], const uint8_t *reply_to,
                     size_t what_len)
{
    size_t size_class = RK_CLASS_MIN;
    while (size_class < what_len)
        size_class *= 2;
    make_env_exact(env, signer, from, to, type, who, reply_to, size_class);
}

/* Routes env from `from` in its own transaction (committed). */
static void route(fixture_t *f, const char *from, const rk_envelope_t *env, route_out_t *out)
{
    store_txn_t *txn = NULL;
    route_in_t in = {.from = from, .env = env, .max_what = 1024, .queue_limit = f->queue_limit,
                     .ttl = &f->ttl, .now_ms = 1700000000000ull};
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    in.txn = txn;
    route_message(&in, out);
    assert_false(out->store_failed);
    assert_int_equal(store_commit(&txn), STORE_OK);
}

/* Routes env from `from` with a signature verdict made before the turn
 * (checked_ok under checked_pk), as the hub's verify pool hands it over. */
static void route_checked(fixture_t *f, const char *from, const rk_envelope_t *env, const uint8_t *checked_pk,
                          bool checked_ok, route_out_t *out)
{
    store_txn_t *txn = NULL;
    route_in_t in = {.from = from, .env = env, .max_what = 1024, .queue_limit = f->queue_limit,
                     .ttl = &f->ttl, .now_ms = 1700000000000ull, .checked_pk = checked_pk,
                     .checked_ok = checked_ok};
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    in.txn = txn;
    route_message(&in, out);
    assert_false(out->store_failed);
    assert_int_equal(store_commit(&txn), STORE_OK);
}

static void expect_refusal(fixture_t *f, const char *from, const rk_envelope_t *env, rk_status want)
{
    route_out_t out;
    route(f, from, env, &out);
    assert_string_equal(rk_status_name(out.status), rk_status_name(want));
    assert_true(out.detail[0] != '\0');
    assert_int_equal(out.seq, 0);
}

typedef struct find_ctx {
    uint64_t seq;
    rk_hub_frame_t frame;
    queue_meta_t meta;
    bool found;
} find_ctx_t;

static int find_cb(const queue_meta_t *meta, const uint8_t *frame, size_t len, void *ctx)
{
    find_ctx_t *fc = ctx;
    if (meta->seq != fc->seq)
        return 0;
    assert_int_equal(rk_hub_frame_decode(frame, len, &fc->frame, NULL, 0), RK_WIRE_OK);
    fc->meta = *meta;
    fc->found = true;
    return 1;
}

/* The Deliver frame queued for org under seq (decoded; clear it after). */
static void queued(fixture_t *f, const char *org, uint64_t seq, find_ctx_t *fc)
{
    store_txn_t *txn = NULL;
    memset(fc, 0, sizeof *fc);
    fc->seq = seq;
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_queue_scan(txn, org, 0, find_cb, fc), STORE_OK);
    store_abort(&txn);
    assert_true(fc->found);
    assert_int_equal(fc->frame.kind, RK_HF_DELIVER);
    assert_int_equal(fc->frame.u.deliver.seq, seq);
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

static void test_first_contact_then_same_code(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t env;
    route_out_t a, b;
    find_ctx_t qa, qb;

    make_env(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 64);
    route(f, "city.x", &env, &a);
    assert_int_equal(a.status, RK_ST_ACCEPTED);
    assert_true(a.first_contact);
    assert_true(a.seq > 0);
    /* Accepted means queued for the recipient, durably. */
    queued(f, "power", a.seq, &qa);
    assert_true(qa.frame.u.deliver.first_contact);
    assert_string_equal(qa.meta.from, "city.x");
    assert_string_equal(qa.meta.type, "utility.supply.stop");
    assert_true(qa.meta.expires_ms == 1700000000000ull + POLICY_DEFAULT_TTL_MS);
    /* WHO was rewritten: power's code, not city.x's. */
    assert_memory_not_equal(qa.frame.u.deliver.envelope.who, f->x_code, RK_CODE_LEN);
    /* The signed core travels unchanged. */
    assert_int_equal(qa.frame.u.deliver.envelope.core_len, env.core_len);
    assert_memory_equal(qa.frame.u.deliver.envelope.core, env.core, env.core_len);

    /* A second message about the same person reaches power under the same code. */
    rk_envelope_clear(&env);
    make_env(&env, f->x, "city.x", "power", "utility.supply.start", f->x_code, NULL, 64);
    route(f, "city.x", &env, &b);
    assert_int_equal(b.status, RK_ST_ACCEPTED);
    assert_false(b.first_contact);
    queued(f, "power", b.seq, &qb);
    assert_false(qb.frame.u.deliver.first_contact);
    assert_memory_equal(qb.frame.u.deliver.envelope.who, qa.frame.u.deliver.envelope.who, RK_CODE_LEN);
    assert_true(b.seq > a.seq);
    assert_int_equal(queue_len(f, "power"), 2);
    rk_hub_frame_clear(&qa.frame);
    rk_hub_frame_clear(&qb.frame);
    rk_envelope_clear(&env);
}

static void test_sent_twice_one_effect(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t env, reuse;
    route_out_t a, b;

    make_env(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 64);
    route(f, "city.x", &env, &a);
    assert_int_equal(a.status, RK_ST_ACCEPTED);
    assert_false(a.duplicate);
    /* The same envelope again (the sender's agent re-sends after a crash). */
    route(f, "city.x", &env, &b);
    assert_int_equal(b.status, RK_ST_ACCEPTED);
    assert_true(b.duplicate);
    assert_true(b.seq == a.seq);
    assert_true(a.log_size > 0);
    assert_true(b.log_size == a.log_size); /* the same receipt position */
    assert_int_equal(queue_len(f, "power"), 1);

    /* The same id for a different message is refused. */
    make_env(&reuse, f->x, "city.x", "gas", "utility.supply.stop", f->x_code, NULL, 64);
    {
        /* copy a's id into a fresh core signed by city.x */
        rk_core_t core;
        assert_int_equal(rk_core_decode(reuse.core, reuse.core_len, &core, NULL, 0), RK_WIRE_OK);
        memcpy(core.msg_id, a.msg_id, RK_MSGID_LEN);
        snprintf(core.to, sizeof core.to, "town.y");
        snprintf(core.type, sizeof core.type, "move.out.notice");
        rk_envelope_clear(&reuse);
        assert_int_equal(rk_envelope_seal(&reuse, &core, f->x_code, f->x->sign_sk), RK_WIRE_OK);
        rk_core_clear(&core);
    }
    expect_refusal(f, "city.x", &reuse, RK_ST_DUPLICATE_ID);
    rk_envelope_clear(&reuse);
    rk_envelope_clear(&env);
}

static void test_queue_limit(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t env;
    route_out_t out;

    f->queue_limit = 2;
    for (int i = 0; i < 2; i++) {
        make_env(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 16);
        route(f, "city.x", &env, &out);
        assert_int_equal(out.status, RK_ST_ACCEPTED);
        rk_envelope_clear(&env);
    }
    make_env(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 16);
    expect_refusal(f, "city.x", &env, RK_ST_QUEUE_FULL);
    /* another recipient's queue is not affected */
    rk_envelope_clear(&env);
    make_env(&env, f->x, "city.x", "town.y", "move.out.notice", f->x_code, NULL, 16);
    route(f, "city.x", &env, &out);
    assert_int_equal(out.status, RK_ST_ACCEPTED);
    rk_envelope_clear(&env);
    assert_int_equal(queue_len(f, "power"), 2);
}

static void test_ttl_per_type(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t env;
    route_out_t out;
    find_ctx_t q;

    assert_true(policy_ttl_set(&f->ttl, "move.out.notice", 5000));
    assert_false(policy_ttl_set(&f->ttl, "no.such.type", 5000));
    make_env(&env, f->x, "city.x", "town.y", "move.out.notice", f->x_code, NULL, 16);
    route(f, "city.x", &env, &out);
    assert_int_equal(out.status, RK_ST_ACCEPTED);
    queued(f, "town.y", out.seq, &q);
    assert_true(q.meta.expires_ms == 1700000000000ull + 5000);
    rk_hub_frame_clear(&q.frame);
    rk_envelope_clear(&env);
}

static void test_reply_translates_back(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t req, rep;
    route_out_t a, b;
    find_ctx_t qa, qb;

    make_env(&req, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 32);
    route(f, "city.x", &req, &a);
    assert_int_equal(a.status, RK_ST_ACCEPTED);
    queued(f, "power", a.seq, &qa);
    /* power answers with its own code; city.x gets its own code back. */
    make_env(&rep, f->power, "power", "city.x", "utility.supply.stop", qa.frame.u.deliver.envelope.who, a.msg_id,
             32);
    route(f, "power", &rep, &b);
    assert_int_equal(b.status, RK_ST_ACCEPTED);
    assert_true(b.is_reply);
    assert_false(b.first_contact);
    queued(f, "city.x", b.seq, &qb);
    assert_memory_equal(qb.frame.u.deliver.envelope.who, f->x_code, RK_CODE_LEN);
    rk_hub_frame_clear(&qa.frame);
    rk_hub_frame_clear(&qb.frame);
    rk_envelope_clear(&req);
    rk_envelope_clear(&rep);
}

static void test_refusals(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t env;
    uint8_t unknown[RK_CODE_LEN];
    store_txn_t *txn = NULL;
    org_t y;

    /* malformed core */
    memset(&env, 0, sizeof env);
    env.core = (uint8_t *)strdup("\xff\xff\xff garbage");
    env.core_len = strlen((char *)env.core);
    expect_refusal(f, "city.x", &env, RK_ST_MALFORMED);
    rk_envelope_clear(&env);

    /* FROM that is not the sender */
    make_env(&env, f->x, "town.y", "power", "utility.supply.stop", f->x_code, NULL, 8);
    expect_refusal(f, "city.x", &env, RK_ST_FROM_MISMATCH);
    rk_envelope_clear(&env);

    /* signed by someone else */
    make_env(&env, f->y, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 8);
    expect_refusal(f, "city.x", &env, RK_ST_BAD_SIGNATURE);
    rk_envelope_clear(&env);

    /* oversized (the limit here is 1024 bytes) */
    make_env(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 1025);
    expect_refusal(f, "city.x", &env, RK_ST_TOO_LARGE);
    rk_envelope_clear(&env);
    make_env_exact(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 1100);
    expect_refusal(f, "city.x", &env, RK_ST_TOO_LARGE);
    rk_envelope_clear(&env);

    /* unknown recipient */
    make_env(&env, f->x, "city.x", "nobody", "utility.supply.stop", f->x_code, NULL, 8);
    expect_refusal(f, "city.x", &env, RK_ST_UNKNOWN_RECIPIENT);
    rk_envelope_clear(&env);

    /* unknown WHO */
    randombytes_buf(unknown, sizeof unknown);
    make_env(&env, f->x, "city.x", "power", "utility.supply.stop", unknown, NULL, 8);
    expect_refusal(f, "city.x", &env, RK_ST_UNKNOWN_WHO);
    rk_envelope_clear(&env);

    /* WHO of another org is unknown to the sender */
    make_env(&env, f->y, "town.y", "power", "utility.supply.stop", f->x_code, NULL, 8);
    expect_refusal(f, "town.y", &env, RK_ST_UNKNOWN_WHO);
    rk_envelope_clear(&env);

    /* unknown type */
    make_env(&env, f->x, "city.x", "power", "utility.tea.ceremony", f->x_code, NULL, 8);
    expect_refusal(f, "city.x", &env, RK_ST_UNKNOWN_TYPE);
    rk_envelope_clear(&env);

    /* kinds not allowed: a municipality may not send supply requests to a municipality */
    make_env(&env, f->x, "city.x", "town.y", "utility.supply.stop", f->x_code, NULL, 8);
    expect_refusal(f, "city.x", &env, RK_ST_NOT_PERMITTED);
    rk_envelope_clear(&env);

    /* a type that may not introduce a person */
    make_env(&env, f->x, "city.x", "town.y", "move.in.notice", f->x_code, NULL, 8);
    expect_refusal(f, "city.x", &env, RK_ST_NO_FIRST_CONTACT);
    rk_envelope_clear(&env);

    /* suspended recipient */
    make_env(&env, f->x, "city.x", "town.y", "move.out.notice", f->x_code, NULL, 8);
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    assert_int_equal(store_org_get(txn, "town.y", &y), STORE_OK);
    y.status = ORG_SUSPENDED;
    assert_int_equal(store_org_update(txn, &y), STORE_OK);
    assert_int_equal(store_commit(&txn), STORE_OK);
    expect_refusal(f, "city.x", &env, RK_ST_RECIPIENT_SUSPENDED);
    rk_envelope_clear(&env);

    /* suspended sender */
    make_env(&env, f->y, "town.y", "power", "utility.supply.stop", f->x_code, NULL, 8);
    expect_refusal(f, "town.y", &env, RK_ST_SENDER_SUSPENDED);
    rk_envelope_clear(&env);

    /* auditors send nothing */
    make_env(&env, f->audit, "audit", "power", "utility.supply.stop", f->x_code, NULL, 8);
    expect_refusal(f, "audit", &env, RK_ST_NOT_PERMITTED);
    rk_envelope_clear(&env);
}

static void test_refusal_issues_no_code(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t env;
    route_out_t out;
    org_t y;
    store_txn_t *txn = NULL;

    /* Suspended recipient: no first-contact code may be issued, nothing queued. */
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    assert_int_equal(store_org_get(txn, "town.y", &y), STORE_OK);
    y.status = ORG_SUSPENDED;
    assert_int_equal(store_org_update(txn, &y), STORE_OK);
    assert_int_equal(store_commit(&txn), STORE_OK);
    make_env(&env, f->x, "city.x", "town.y", "move.out.notice", f->x_code, NULL, 8);
    expect_refusal(f, "city.x", &env, RK_ST_RECIPIENT_SUSPENDED);
    assert_int_equal(queue_len(f, "town.y"), 0);
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    y.status = ORG_ACTIVE;
    assert_int_equal(store_org_update(txn, &y), STORE_OK);
    assert_int_equal(store_commit(&txn), STORE_OK);
    route(f, "city.x", &env, &out);
    assert_int_equal(out.status, RK_ST_ACCEPTED);
    assert_true(out.first_contact); /* still first contact: the refusal issued nothing */
    rk_envelope_clear(&env);
}

/* A verdict made before the turn under the key the store holds for the
 * sender: a good one lets a well-signed message through. */
static void test_checked_ok_under_current_key_accepted(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t env;
    route_out_t out;

    make_env(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 16);
    route_checked(f, "city.x", &env, f->x->pub.sign_pk, true, &out);
    assert_int_equal(out.status, RK_ST_ACCEPTED);
    assert_true(out.seq > 0);
    assert_int_equal(queue_len(f, "power"), 1);
    rk_envelope_clear(&env);
}

/* The turn trusts a verdict made under the sender's current key and does
 * not check again: a "bad" verdict refuses even a signature that is in
 * fact valid (the verdict is the one that counts, so the check is made
 * once per message, on the pool). */
static void test_turn_trusts_verdict_made_under_same_key(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t env;
    route_out_t out;
    uint8_t copy[RK_KEY_LEN];

    make_env(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 16);
    assert_int_equal(rk_envelope_verify(&env, f->x->pub.sign_pk), RK_WIRE_OK); /* really valid */
    /* The key compared by value, not by pointer. */
    memcpy(copy, f->x->pub.sign_pk, RK_KEY_LEN);
    route_checked(f, "city.x", &env, copy, false, &out);
    assert_string_equal(rk_status_name(out.status), rk_status_name(RK_ST_BAD_SIGNATURE));
    assert_non_null(strstr(out.detail, "city.x"));
    assert_int_equal(out.seq, 0);
    assert_int_equal(queue_len(f, "power"), 0);
    /* Nothing was remembered: sent again without a verdict, it goes through. */
    route(f, "city.x", &env, &out);
    assert_int_equal(out.status, RK_ST_ACCEPTED);
    assert_false(out.duplicate);
    assert_int_equal(queue_len(f, "power"), 1);
    rk_envelope_clear(&env);
}

/* city.x is given a new signing key between the pool's check and the turn:
 * the verdict was made under the old key, so the turn checks again under
 * the key the store holds now, whichever way the old verdict went. */
static void test_verdict_under_old_key_is_checked_again(void **state)
{
    fixture_t *f = *state;
    rk_identity_t *rekeyed = rk_identity_generate("city.x");
    rk_envelope_t old_signed, new_signed;
    route_out_t out;
    store_txn_t *txn = NULL;
    org_t x;

    assert_non_null(rekeyed);
    make_env(&old_signed, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 16);
    make_env(&new_signed, rekeyed, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 16);
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    assert_int_equal(store_org_get(txn, "city.x", &x), STORE_OK);
    memcpy(x.sign_pk, rekeyed->pub.sign_pk, RK_KEY_LEN);
    assert_int_equal(store_org_update(txn, &x), STORE_OK);
    assert_int_equal(store_commit(&txn), STORE_OK);

    /* Signed with the old key, found good under the old key: refused now. */
    route_checked(f, "city.x", &old_signed, f->x->pub.sign_pk, true, &out);
    assert_string_equal(rk_status_name(out.status), rk_status_name(RK_ST_BAD_SIGNATURE));
    assert_int_equal(out.seq, 0);
    assert_int_equal(queue_len(f, "power"), 0);

    /* Signed with the new key, found bad under the old key: accepted now. */
    route_checked(f, "city.x", &new_signed, f->x->pub.sign_pk, false, &out);
    assert_int_equal(out.status, RK_ST_ACCEPTED);
    assert_true(out.seq > 0);
    assert_int_equal(queue_len(f, "power"), 1);

    rk_envelope_clear(&old_signed);
    rk_envelope_clear(&new_signed);
    rk_identity_destroy(&rekeyed);
}

/* A verdict under some other key (not the sender's) carries no weight
 * either way, and a verdict without a key (checked_pk NULL) is ignored. */
static void test_verdict_under_other_key_or_none_is_ignored(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t forged, good;
    route_out_t out;

    /* signed by town.y in city.x's name, "good" under town.y's key */
    make_env(&forged, f->y, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 16);
    route_checked(f, "city.x", &forged, f->y->pub.sign_pk, true, &out);
    assert_string_equal(rk_status_name(out.status), rk_status_name(RK_ST_BAD_SIGNATURE));
    route_checked(f, "city.x", &forged, NULL, true, &out);
    assert_string_equal(rk_status_name(out.status), rk_status_name(RK_ST_BAD_SIGNATURE));
    assert_int_equal(queue_len(f, "power"), 0);

    make_env(&good, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 16);
    route_checked(f, "city.x", &good, f->y->pub.sign_pk, false, &out);
    assert_int_equal(out.status, RK_ST_ACCEPTED);
    assert_int_equal(queue_len(f, "power"), 1);
    rk_envelope_clear(&forged);
    rk_envelope_clear(&good);
}

static void test_policy_table(void **state)
{
    bool intro;
    (void)state;
    assert_int_equal(policy_check("move.out.notice", ORG_MUNICIPALITY, ORG_MUNICIPALITY, false, &intro),
                     RK_ST_ACCEPTED);
    assert_true(intro);
    assert_int_equal(policy_check("move.in.notice", ORG_MUNICIPALITY, ORG_MUNICIPALITY, false, &intro),
                     RK_ST_ACCEPTED);
    assert_false(intro);
    /* replies go the other way and never introduce */
    assert_int_equal(policy_check("utility.supply.stop", ORG_UTILITY, ORG_MUNICIPALITY, true, &intro),
                     RK_ST_ACCEPTED);
    assert_false(intro);
    assert_int_equal(policy_check("utility.supply.stop", ORG_UTILITY, ORG_MUNICIPALITY, false, &intro),
                     RK_ST_NOT_PERMITTED);
    assert_int_equal(policy_check("move.out.notice", ORG_UTILITY, ORG_MUNICIPALITY, false, &intro),
                     RK_ST_NOT_PERMITTED);
    assert_int_equal(policy_check("nope", ORG_MUNICIPALITY, ORG_UTILITY, false, &intro), RK_ST_UNKNOWN_TYPE);
}

/* A payload is a size class long, or refused: the hub records only the
 * class, so no unpadded length can group one person's messages. */
static void test_payload_size_classes(void **state)
{
    fixture_t *f = *state;
    static const size_t unpadded[] = {40, 41, 255, 257, 300, 511, 513, 1000};
    rk_envelope_t env;
    route_out_t out;

    /* Not a class: refused as malformed, with no size to record. */
    for (size_t i = 0; i < sizeof unpadded / sizeof unpadded[0]; i++) {
        make_env_exact(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, unpadded[i]);
        route(f, "city.x", &env, &out);
        assert_string_equal(rk_status_name(out.status), "MALFORMED");
        assert_non_null(strstr(out.detail, "not padded to a size class"));
        assert_int_equal(out.size_class, 0);
        assert_int_equal(queue_len(f, "power"), 0);
        rk_envelope_clear(&env);
    }
    /* Every class up to the hub's limit (1024 here, itself a class) is
     * accepted and recorded as what it is. */
    for (size_t c = 256; c <= 1024; c *= 2) {
        make_env_exact(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, c);
        route(f, "city.x", &env, &out);
        assert_string_equal(rk_status_name(out.status), "ACCEPTED");
        assert_int_equal(out.size_class, c);
        rk_envelope_clear(&env);
    }
    /* A class above the limit is too large, not malformed. */
    make_env_exact(&env, f->x, "city.x", "power", "utility.supply.stop", f->x_code, NULL, 2048);
    route(f, "city.x", &env, &out);
    assert_string_equal(rk_status_name(out.status), "TOO_LARGE");
    assert_null(strstr(out.detail, "2048"));
    rk_envelope_clear(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_contact_then_same_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_translates_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sent_twice_one_effect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_per_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payload_size_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_issues_no_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checked_ok_under_current_key_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_turn_trusts_verdict_made_under_same_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verdict_under_old_key_is_checked_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verdict_under_other_key_or_none_is_ignored, setup, teardown),
        cmocka_unit_test(test_policy_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
