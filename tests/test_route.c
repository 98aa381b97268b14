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

#include "catalogue.h"
#include "keys.h"
#include "payload.h"
#include "policy.h"
#include "route.h"
#include "store.h"

typedef struct fixture {
    char dir[64];
    uint8_t master[32];
    store_t *store;
    rk_identity_t *x, *y, *power, *transport, *audit;
    catalogue_t *cat;            /* the default catalogue, plus a grant by transport to city.x */
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

#define GRANT_X "[grant transport vehicle.registration.address]\nsenders = org:city.x\n"

/* The default catalogue with `extra` sections added. */
static catalogue_t *load_catalogue(const char *extra)
{
    size_t n = catalogue_default_len + strlen(extra) + 2;
    char *text = malloc(n), why[300] = "";
    catalogue_t *cat;
    assert_non_null(text);
    snprintf(text, n, "%s\n%s", catalogue_default_text, extra);
    cat = catalogue_from_text(text, strlen(text), why, sizeof why);
    free(text);
    if (cat == NULL)
        fail_msg("%s", why);
    return cat;
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
    f->cat = load_catalogue(GRANT_X);
    f->ttl.cat = f->cat;
    assert_int_equal(store_open(f->dir, f->master, 0, &f->store, NULL, 0), STORE_OK);
    f->x = rk_identity_generate("city.x");
    f->y = rk_identity_generate("town.y");
    f->power = rk_identity_generate("power");
    f->audit = rk_identity_generate("audit");
    f->transport = rk_identity_generate("transport");
    add_org(f->store, f->transport, ORG_AGENCY);
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
    rk_identity_destroy(&f->transport);
    catalogue_free(&f->cat);
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
    route_in_t in = {.from = from,
                     .env = env,
                     .max_what = 1024,
                     .queue_limit = f->queue_limit,
                     .cat = f->cat,
                     .ttl = &f->ttl,
                     .now_ms = 1700000000000ull};
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
    route_in_t in = {.from = from,
                     .env = env,
                     .max_what = 1024,
                     .queue_limit = f->queue_limit,
                     .cat = f->cat,
                     .ttl = &f->ttl,
                     .now_ms = 1700000000000ull,
                     .checked_pk = checked_pk,
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
    assert_false(policy_ttl_set(&f->ttl, "No Such Type", 5000));
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

    /* a type that may not introduce a person is sent only as an answer */
    make_env(&env, f->x, "city.x", "town.y", "move.in.notice", f->x_code, NULL, 8);
    expect_refusal(f, "city.x", &env, RK_ST_NOT_PERMITTED);
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
    fixture_t *f = *state;
    policy_party_t x = {"city.x", ORG_MUNICIPALITY}, y = {"town.y", ORG_MUNICIPALITY};
    policy_party_t power = {"power", ORG_UTILITY}, transport = {"transport", ORG_AGENCY};
    policy_verdict_t v;

    policy_check(f->cat, "move.out.notice", x, y, false, &v);
    assert_int_equal(v.status, RK_ST_ACCEPTED);
    assert_true(v.introduces);
    assert_true(v.moves);
    assert_true(v.answerable); /* move.in.notice follows it */
    /* move.in.notice never stands alone: only as an answer to a move-out notice */
    policy_check(f->cat, "move.in.notice", y, x, false, &v);
    assert_int_equal(v.status, RK_ST_NOT_PERMITTED);
    assert_string_equal(v.rule,
                        "procedure move.in.notice: follows = move.out.notice; it is sent only in answer to "
                        "one (reply_to)");
    policy_check(f->cat, "move.in.notice", y, x, true, &v);
    assert_int_equal(v.status, RK_ST_ACCEPTED);
    assert_false(v.introduces);
    assert_string_equal(v.answers, "move.out.notice");
    /* replies go the other way, answer a request of their own type and never introduce */
    policy_check(f->cat, "utility.supply.stop", power, x, true, &v);
    assert_int_equal(v.status, RK_ST_ACCEPTED);
    assert_false(v.introduces);
    assert_string_equal(v.answers, "utility.supply.stop");
    policy_check(f->cat, "utility.supply.stop", x, power, false, &v);
    assert_true(v.answerable);
    assert_false(v.moves);
    policy_check(f->cat, "utility.supply.stop", power, x, false, &v);
    assert_int_equal(v.status, RK_ST_NOT_PERMITTED);
    assert_string_equal(v.rule,
                        "procedure utility.supply.stop: senders = municipality; power (utility) is not one");
    /* a notice is not replied to */
    policy_check(f->cat, "move.out.notice", x, y, true, &v);
    assert_int_equal(v.status, RK_ST_NOT_PERMITTED);
    policy_check(f->cat, "move.out.notice", power, x, false, &v);
    assert_int_equal(v.status, RK_ST_NOT_PERMITTED);
    policy_check(f->cat, "nope", x, power, false, &v);
    assert_int_equal(v.status, RK_ST_UNKNOWN_TYPE);
    /* in-town procedures are listed, never routed */
    policy_check(f->cat, "child.allowance.apply", x, y, false, &v);
    assert_int_equal(v.status, RK_ST_NOT_PERMITTED);
    assert_non_null(strstr(v.rule, "route = local"));
    /* access = granted: the recipient's grant names its senders */
    policy_check(f->cat, "vehicle.registration.address", x, transport, false, &v);
    assert_int_equal(v.status, RK_ST_ACCEPTED);
    policy_check(f->cat, "vehicle.registration.address", y, transport, false, &v);
    assert_int_equal(v.status, RK_ST_NOT_PERMITTED);
    assert_string_equal(v.rule,
                        "grant transport vehicle.registration.address: senders = org:city.x; town.y is not "
                        "one");
    policy_check(f->cat, "vehicle.tax.address", x, transport, false, &v);
    assert_int_equal(v.status, RK_ST_NOT_PERMITTED);
    assert_string_equal(v.rule,
                        "procedure vehicle.tax.address: access = granted, and transport grants it to nobody");
    /* the agency replies to the municipality that asked */
    policy_check(f->cat, "vehicle.registration.address", transport, x, true, &v);
    assert_int_equal(v.status, RK_ST_ACCEPTED);
}

/* Every routed procedure can reach a person its recipient does not know
 * without the answer telling: a request type introduces, anything else
 * follows; the shipped catalogue passes its own consistency check. */
static void test_policy_no_type_asks_about_the_recipient(void **state)
{
    fixture_t *f = *state;
    size_t routed = 0;

    for (size_t i = 0; i < catalogue_procedures(f->cat); i++) {
        const cat_procedure_t *p = catalogue_procedure_at(f->cat, i);
        if (p->local)
            continue;
        routed++;
        assert_true(p->introduces || p->follows[0] != '\0');
        assert_false(p->introduces && p->follows[0] != '\0');
        if (p->follows[0] != '\0')
            assert_non_null(catalogue_procedure(f->cat, p->follows));
    }
    assert_true(routed >= 7);
}

/* ------------------------------------------------ answers and their oracle */

/* A fresh person enrolled by city.x, known to each org in `knows` (NULL-
 * terminated) under a code of its own; codes[i] gets org i's code. */
static void person(fixture_t *f, const char *const *knows, uint8_t codes[][RK_CODE_LEN], uint8_t id[STORE_IDCODE_LEN])
{
    store_txn_t *txn = NULL;
    uint8_t x_code[RK_CODE_LEN];
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    assert_int_equal(store_person_new_id(txn, "city.x", x_code, id), STORE_OK);
    assert_int_equal(store_person_home_set(txn, id, "city.x"), STORE_OK);
    for (size_t i = 0; knows[i] != NULL; i++) {
        if (strcmp(knows[i], "city.x") == 0)
            memcpy(codes[i], x_code, RK_CODE_LEN);
        else
            assert_int_equal(store_code_issue(txn, id, knows[i], codes[i]), STORE_OK);
    }
    assert_int_equal(store_commit(&txn), STORE_OK);
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

/* Routes at a given time. */
static void route_at(fixture_t *f, const char *from, const rk_envelope_t *env, uint64_t now_ms, route_out_t *out)
{
    store_txn_t *txn = NULL;
    route_in_t in = {.from = from,
                     .env = env,
                     .max_what = 1024,
                     .queue_limit = f->queue_limit,
                     .cat = f->cat,
                     .ttl = &f->ttl,
                     .now_ms = now_ms};
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    in.txn = txn;
    route_message(&in, out);
    assert_false(out->store_failed);
    assert_int_equal(store_commit(&txn), STORE_OK);
}

/* Sends type from->to about a person (the sender's code) and returns the
 * answer, with the log's growth. */
static void try_send(fixture_t *f, const rk_identity_t *signer, const char *to, const char *type,
                     const uint8_t who[RK_CODE_LEN], const uint8_t *reply_to, route_out_t *out, uint64_t *grew)
{
    rk_envelope_t env;
    uint64_t before = log_size(f);
    make_env(&env, signer, signer->pub.name, to, type, who, reply_to, 16);
    route(f, signer->pub.name, &env, out);
    *grew = log_size(f) - before;
    rk_envelope_clear(&env);
}

static void assert_same_answer(const route_out_t *a, uint64_t grew_a, const route_out_t *b, uint64_t grew_b)
{
    assert_string_equal(rk_status_name(a->status), rk_status_name(b->status));
    assert_string_equal(a->detail, b->detail);
    assert_int_equal(grew_a, grew_b);
    assert_int_equal(a->duplicate, b->duplicate);
}

/* The property: for every procedure type, every sender kind and every
 * recipient, as a request, as an answer to nothing and as an answer to a
 * genuine message about another person, the answer is the same whether or
 * not the recipient knows the person. */
static void test_answer_never_depends_on_the_recipient(void **state)
{
    fixture_t *f = *state;
    const rk_identity_t *orgs[] = {f->x, f->y, f->power, f->transport, f->audit};
    size_t n_types = catalogue_procedures(f->cat), compared = 0;

    for (size_t s = 0; s < 5; s++)
        for (size_t r = 0; r < 4; r++) {
            const char *sender = orgs[s]->pub.name, *recipient = orgs[r]->pub.name;
            uint8_t known[2][RK_CODE_LEN], unknown[1][RK_CODE_LEN], other[2][RK_CODE_LEN];
            uint8_t id_k[STORE_IDCODE_LEN], id_u[STORE_IDCODE_LEN], id_o[STORE_IDCODE_LEN];
            const char *both[] = {sender, recipient, NULL}, *alone[] = {sender, NULL};
            if (s == r)
                continue;
            person(f, both, known, id_k);
            person(f, alone, unknown, id_u);
            person(f, both, other, id_o);
            for (size_t t = 0; t < n_types; t++) {
                const char *type = catalogue_procedure_at(f->cat, t)->name;
                route_out_t genuine, a, b;
                uint64_t ga, gb, gg;
                uint8_t random_id[RK_MSGID_LEN];
                const uint8_t *refs[3];
                randombytes_buf(random_id, sizeof random_id);
                /* a genuine message of this type from the recipient to the
                 * sender about another person, if the policy lets one go */
                try_send(f, orgs[r], sender, type, other[1], NULL, &genuine, &gg);
                refs[0] = NULL;
                refs[1] = random_id;
                refs[2] = genuine.status == RK_ST_ACCEPTED ? genuine.msg_id : random_id;
                for (size_t k = 0; k < 3; k++) {
                    try_send(f, orgs[s], recipient, type, known[0], refs[k], &a, &ga);
                    try_send(f, orgs[s], recipient, type, unknown[0], refs[k], &b, &gb);
                    assert_same_answer(&a, ga, &b, gb);
                    compared++;
                }
            }
        }
    assert_true(compared >= (5 * 4 - 4) * n_types * 3);
}

/* The adversary of the review: a utility "replies" to a town about each of
 * its customers to learn where they moved; and to a genuine request about
 * another person.  One refusal, the same words, in every case; nothing is
 * queued for the town. */
static void test_forged_replies_learn_nothing(void **state)
{
    fixture_t *f = *state;
    const char *moved[] = {"city.x", "power", "town.y", NULL}, *stayed[] = {"city.x", "power", NULL};
    uint8_t cm[3][RK_CODE_LEN], cs[2][RK_CODE_LEN], idm[STORE_IDCODE_LEN], ids[STORE_IDCODE_LEN];
    uint8_t random_id[RK_MSGID_LEN];
    route_out_t a, b, req;
    uint64_t ga, gb, gr;

    person(f, moved, cm, idm);
    person(f, stayed, cs, ids);
    randombytes_buf(random_id, sizeof random_id);
    try_send(f, f->power, "town.y", "utility.supply.stop", cm[1], random_id, &a, &ga);
    try_send(f, f->power, "town.y", "utility.supply.stop", cs[1], random_id, &b, &gb);
    assert_int_equal(a.status, RK_ST_NO_OPEN_REQUEST);
    assert_same_answer(&a, ga, &b, gb);
    assert_null(strstr(a.detail, "know"));

    /* town.y asks power to start supply for the one who moved; power points
     * its "reply" at that genuine request, about someone else */
    try_send(f, f->y, "power", "utility.supply.start", cm[2], NULL, &req, &gr);
    assert_int_equal(req.status, RK_ST_ACCEPTED);
    try_send(f, f->power, "town.y", "utility.supply.start", cm[1], random_id, &a, &ga);
    try_send(f, f->power, "town.y", "utility.supply.start", cs[1], req.msg_id, &b, &gb);
    assert_int_equal(a.status, RK_ST_NO_OPEN_REQUEST);
    assert_same_answer(&a, ga, &b, gb);
    assert_int_equal(queue_len(f, "town.y"), 0);

    /* the genuine reply goes through, once */
    try_send(f, f->power, "town.y", "utility.supply.start", cm[1], req.msg_id, &a, &ga);
    assert_int_equal(a.status, RK_ST_ACCEPTED);
    assert_int_equal(queue_len(f, "town.y"), 1);
    try_send(f, f->power, "town.y", "utility.supply.start", cm[1], req.msg_id, &a, &ga);
    assert_int_equal(a.status, RK_ST_NO_OPEN_REQUEST);
    assert_int_equal(queue_len(f, "town.y"), 1);
}

/* A reply after the hub forgot its request, or of another type, or from
 * another org than the request went to, is the same refusal. */
static void test_answer_only_while_open(void **state)
{
    fixture_t *f = *state;
    const char *knows[] = {"city.x", "power", "gas", NULL};
    rk_identity_t *gas = rk_identity_generate("gas");
    uint8_t c[3][RK_CODE_LEN], id[STORE_IDCODE_LEN];
    rk_envelope_t env;
    route_out_t req, a;
    uint64_t g;

    assert_non_null(gas);
    add_org(f->store, gas, ORG_UTILITY);
    person(f, knows, c, id);
    try_send(f, f->x, "power", "utility.supply.stop", c[0], NULL, &req, &g);
    assert_int_equal(req.status, RK_ST_ACCEPTED);
    /* another type */
    try_send(f, f->power, "city.x", "utility.supply.start", c[1], req.msg_id, &a, &g);
    assert_int_equal(a.status, RK_ST_NO_OPEN_REQUEST);
    /* another org that knows the person */
    try_send(f, gas, "city.x", "utility.supply.stop", c[2], req.msg_id, &a, &g);
    assert_int_equal(a.status, RK_ST_NO_OPEN_REQUEST);
    /* too late: the request's time-to-live and the day after are over */
    make_env(&env, f->power, "power", "city.x", "utility.supply.stop", c[1], req.msg_id, 16);
    route_at(f, "power", &env, 1700000000000ull + POLICY_DEFAULT_TTL_MS + 25ull * 3600 * 1000, &a);
    assert_int_equal(a.status, RK_ST_NO_OPEN_REQUEST);
    rk_envelope_clear(&env);
    /* in time it goes */
    try_send(f, f->power, "city.x", "utility.supply.stop", c[1], req.msg_id, &a, &g);
    assert_int_equal(a.status, RK_ST_ACCEPTED);
    rk_identity_destroy(&gas);
}

/* move.in.notice: only in answer to the recipient's own move-out notice
 * about the person, and then it reaches it under its own code. */
static void test_move_in_follows_move_out(void **state)
{
    fixture_t *f = *state;
    rk_envelope_t env;
    route_out_t notice, a;
    find_ctx_t q;
    uint64_t g;

    make_env(&env, f->x, "city.x", "town.y", "move.out.notice", f->x_code, NULL, 16);
    route(f, "city.x", &env, &notice);
    assert_int_equal(notice.status, RK_ST_ACCEPTED);
    assert_true(notice.first_contact);
    rk_envelope_clear(&env);
    queued(f, "town.y", notice.seq, &q);
    try_send(f, f->y, "city.x", "move.in.notice", q.frame.u.deliver.envelope.who, notice.msg_id, &a, &g);
    assert_int_equal(a.status, RK_ST_ACCEPTED);
    assert_int_equal(g, 1); /* an answer introduces nobody: one entry */
    rk_hub_frame_clear(&q.frame);
    queued(f, "city.x", a.seq, &q);
    assert_memory_equal(q.frame.u.deliver.envelope.who, f->x_code, RK_CODE_LEN);
    rk_hub_frame_clear(&q.frame);
}

/* A request that may introduce writes two entries either way, and the
 * second never names the sender. */
static void test_first_contact_leaves_no_trace_for_the_sender(void **state)
{
    fixture_t *f = *state;
    route_out_t a, b;
    uint64_t ga, gb;
    store_txn_t *txn = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    rk_log_entry_t e;

    try_send(f, f->x, "power", "utility.supply.stop", f->x_code, NULL, &a, &ga);
    assert_true(a.first_contact);
    try_send(f, f->x, "power", "utility.supply.start", f->x_code, NULL, &b, &gb);
    assert_false(b.first_contact);
    assert_int_equal(ga, 2);
    assert_int_equal(gb, 2);
    assert_int_equal(b.log_size - a.log_size, 2);
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    for (int i = 0; i < 2; i++) {
        uint64_t at = i == 0 ? a.log_size : b.log_size; /* the entry after ACCEPTED */
        assert_int_equal(store_log_get(txn, at, &buf, &len), STORE_OK);
        assert_int_equal(rk_log_entry_decode(buf, len, &e, NULL, 0), RK_WIRE_OK);
        assert_int_equal(e.event, i == 0 ? RK_EV_FIRST_CONTACT : RK_EV_CODE_FOUND);
        assert_string_equal(e.from, "");
        assert_string_equal(e.to, "power");
        free(buf);
    }
    store_abort(&txn);
}

/* The current municipality moves with the resident, and only the current
 * one can move it. */
static void test_home_moves_with_the_resident(void **state)
{
    fixture_t *f = *state;
    const char *knows[] = {"city.x", NULL};
    rk_identity_t *z = rk_identity_generate("town.z");
    uint8_t c[1][RK_CODE_LEN], id[STORE_IDCODE_LEN];
    char home[RK_ID_MAX + 1];
    store_txn_t *txn = NULL;
    route_out_t a;
    uint64_t g;

    assert_non_null(z);
    add_org(f->store, z, ORG_MUNICIPALITY);
    person(f, knows, c, id);
    try_send(f, f->x, "town.y", "move.out.notice", c[0], NULL, &a, &g);
    assert_int_equal(a.status, RK_ST_ACCEPTED);
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_person_home_get(txn, id, home), STORE_OK);
    store_abort(&txn);
    assert_string_equal(home, "town.y");
    /* the former municipality cannot take the resident elsewhere */
    try_send(f, f->x, "town.z", "move.out.notice", c[0], NULL, &a, &g);
    assert_int_equal(a.status, RK_ST_ACCEPTED);
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_person_home_get(txn, id, home), STORE_OK);
    store_abort(&txn);
    assert_string_equal(home, "town.y");
    rk_identity_destroy(&z);
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
        cmocka_unit_test_setup_teardown(test_policy_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_no_type_asks_about_the_recipient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_never_depends_on_the_recipient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forged_replies_learn_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_only_while_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move_in_follows_move_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_contact_leaves_no_trace_for_the_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_moves_with_the_resident, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
