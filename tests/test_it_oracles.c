/*
 * test_it_oracles.c - registered organizations that want to learn more
 * than their part, against the real renkei-hub over CURVE.
 *
 * city.x enrolls MOVERS residents and asks power to stop supply for each
 * (power learns them all); half of them move to town.y (city.x sends the
 * move-out notice; town.y learns them).  Then:
 *   - power "replies" to town.y about each of its customers, with a random
 *     reply_to and with the id of a genuine request about another person,
 *     to learn who moved there;
 *   - city.x sends move.in.notice to town.y about each resident, alone and
 *     as an answer to nothing, to learn the same;
 *   - city.x sends stop requests to gas and looks at the routing log right
 *     after each ACCEPTED (log position, the next entry's proof) to learn
 *     whether gas had the resident as a customer.
 * Every answer must be the same whatever the recipient knows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "rawclient.h"

#define MOVERS 12

typedef struct fixture {
    it_env_t *env;
    rawclient_t *cx, *ty, *pw, *gs; /* city.x (sender), town.y, power, gas (receivers) */
    rk_pubkey_t pub_x, pub_y, pub_p, pub_g;
    uint8_t code_x[MOVERS][RK_CODE_LEN]; /* city.x's codes */
    uint8_t code_p[MOVERS][RK_CODE_LEN]; /* power's codes for the same residents */
    uint8_t code_y[MOVERS][RK_CODE_LEN]; /* town.y's, for those who moved */
    uint8_t notice_id[MOVERS][RK_MSGID_LEN];
} fixture_t;

static fixture_t fx;

static bool moved(size_t i)
{
    return i % 2 == 1;
}

/* Sends type from rc (org `from`) to `to`, payload sealed for to_pub;
 * returns the hub's result. */
static void send_msg(rawclient_t *rc, const char *from, const char *to, const rk_pubkey_t *to_pub, const char *type,
                     const uint8_t *reply_to, const uint8_t who[RK_CODE_LEN], rk_result_t *res)
{
    static const char plain[] = "{\"service\":\"electricity\",\"date\":\"2025-03-31\"}";
    uint8_t id[RK_MSGID_LEN], *what;
    size_t wlen = 0;

    what = rawclient_box(rc, to_pub->curve_pk, plain, sizeof plain - 1, &wlen);
    assert_non_null(what);
    assert_int_equal(rawclient_send_envelope(rc, from, to, type, reply_to, who, what, wlen, NULL, false, id), 0);
    free(what);
    if (rawclient_wait_result(rc, id, res, 5000) != 0)
        fail_msg("no result from the hub for %s %s -> %s", type, from, to);
}

/* Takes one delivery on rc (acknowledging it) and returns the recipient's
 * code and the message id. */
static void take_delivery(rawclient_t *rc, uint8_t who[RK_CODE_LEN], uint8_t msg_id[RK_MSGID_LEN])
{
    rk_hub_frame_t hf;
    rk_client_frame_t ack;
    rk_core_t core;

    if (rawclient_recv_kind(rc, RK_HF_DELIVER, &hf, 5000) != 0)
        fail_msg("an expected delivery did not come");
    memcpy(who, hf.u.deliver.envelope.who, RK_CODE_LEN);
    assert_int_equal(rk_core_decode(hf.u.deliver.envelope.core, hf.u.deliver.envelope.core_len, &core, NULL, 0),
                     RK_WIRE_OK);
    if (msg_id != NULL)
        memcpy(msg_id, core.msg_id, RK_MSGID_LEN);
    rk_core_clear(&core);
    memset(&ack, 0, sizeof ack);
    ack.kind = RK_CF_ACK;
    ack.u.ack.n = 1;
    ack.u.ack.seq[0] = hf.u.deliver.seq;
    assert_int_equal(rawclient_send_frame(rc, &ack), 0);
    rk_hub_frame_clear(&hf);
}

static void expect_accepted(const rk_result_t *res, const char *what)
{
    if (res->status != RK_ST_ACCEPTED)
        fail_msg("%s was refused: %s (%s)", what, rk_status_name(res->status), res->detail);
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    if (sodium_init() < 0 || (fx.env = it_env_new()) == NULL)
        return -1;
    if (it_org(fx.env, "city.x", "municipality") != 0 || it_org(fx.env, "town.y", "municipality") != 0 ||
        it_org(fx.env, "power", "utility") != 0 || it_org(fx.env, "gas", "utility") != 0 ||
        it_pubkey(fx.env, "city.x", &fx.pub_x) != 0 || it_pubkey(fx.env, "town.y", &fx.pub_y) != 0 ||
        it_pubkey(fx.env, "power", &fx.pub_p) != 0 || it_pubkey(fx.env, "gas", &fx.pub_g) != 0 ||
        it_hub_start(fx.env, NULL) != 0)
        return -1;
    fx.cx = it_connect(fx.env, "city.x", false);
    fx.ty = it_connect(fx.env, "town.y", true);
    fx.pw = it_connect(fx.env, "power", true);
    fx.gs = it_connect(fx.env, "gas", false); /* gas sends; it takes nothing in */
    if (fx.cx == NULL || fx.ty == NULL || fx.pw == NULL || fx.gs == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rawclient_destroy(&fx.cx);
    rawclient_destroy(&fx.ty);
    rawclient_destroy(&fx.pw);
    rawclient_destroy(&fx.gs);
    it_env_destroy(&fx.env);
    return 0;
}

/* The world the adversaries look at. */
static void test_movers(void **state)
{
    rk_result_t res;
    uint8_t id[RK_MSGID_LEN];
    (void)state;

    for (size_t i = 0; i < MOVERS; i++) {
        if (rawclient_enroll(fx.cx, fx.code_x[i], 5000) != 0)
            fail_msg("city.x could not enroll resident %zu", i);
        send_msg(fx.cx, "city.x", "power", &fx.pub_p, "utility.supply.stop", NULL, fx.code_x[i], &res);
        expect_accepted(&res, "a stop request");
        take_delivery(fx.pw, fx.code_p[i], id);
        if (moved(i)) {
            send_msg(fx.cx, "city.x", "town.y", &fx.pub_y, "move.out.notice", NULL, fx.code_x[i], &res);
            expect_accepted(&res, "a move-out notice");
            memcpy(fx.notice_id[i], res.msg_id, RK_MSGID_LEN);
            take_delivery(fx.ty, fx.code_y[i], NULL);
        }
    }
}

/* Finding 1: a utility's forged replies.  Today's hub answered ACCEPTED for
 * the residents town.y knows and NO_FIRST_CONTACT for the others. */
static void test_forged_replies_tell_a_utility_nothing(void **state)
{
    rk_result_t first, res, genuine;
    uint8_t nothing[RK_MSGID_LEN], req_id[RK_MSGID_LEN], code_p[RK_CODE_LEN];
    size_t mover = 1;
    (void)state;

    for (size_t i = 0; i < MOVERS; i++) {
        randombytes_buf(nothing, sizeof nothing);
        send_msg(fx.pw, "power", "town.y", &fx.pub_y, "utility.supply.stop", nothing, fx.code_p[i], &res);
        if (i == 0)
            first = res;
        if (res.status == RK_ST_ACCEPTED || res.status != first.status || strcmp(res.detail, first.detail) != 0)
            fail_msg("power's forged reply about resident %zu (%s) got %s (%s), about resident 0 (%s) %s (%s)", i,
                     moved(i) ? "moved to town.y" : "did not move", rk_status_name(res.status), res.detail,
                     moved(0) ? "moved" : "did not move", rk_status_name(first.status), first.detail);
    }
    assert_int_equal(first.status, RK_ST_NO_OPEN_REQUEST);

    /* town.y asks power to start supply for one mover: a genuine request. */
    send_msg(fx.ty, "town.y", "power", &fx.pub_p, "utility.supply.start", NULL, fx.code_y[mover], &genuine);
    expect_accepted(&genuine, "town.y's start request");
    take_delivery(fx.pw, code_p, req_id);
    assert_memory_equal(code_p, fx.code_p[mover], RK_CODE_LEN);
    /* power points "replies" about everyone else at that request */
    for (size_t i = 0; i < MOVERS; i++) {
        if (i == mover)
            continue;
        randombytes_buf(nothing, sizeof nothing);
        send_msg(fx.pw, "power", "town.y", &fx.pub_y, "utility.supply.start", nothing, fx.code_p[i], &first);
        send_msg(fx.pw, "power", "town.y", &fx.pub_y, "utility.supply.start", req_id, fx.code_p[i], &res);
        if (res.status != first.status || strcmp(res.detail, first.detail) != 0)
            fail_msg("a reply to a genuine request about another resident (%zu) was answered %s (%s), "
                     "a reply to nothing %s (%s)",
                     i, rk_status_name(res.status), res.detail, rk_status_name(first.status), first.detail);
    }
    /* nothing reached town.y; the genuine reply does, once */
    assert_int_equal(rawclient_delivered_before_answer(fx.ty, 10000), 0);
    send_msg(fx.pw, "power", "town.y", &fx.pub_y, "utility.supply.start", req_id, fx.code_p[mover], &res);
    expect_accepted(&res, "power's genuine reply");
    take_delivery(fx.ty, code_p, NULL);
    assert_memory_equal(code_p, fx.code_y[mover], RK_CODE_LEN);
    send_msg(fx.pw, "power", "town.y", &fx.pub_y, "utility.supply.start", req_id, fx.code_p[mover], &res);
    assert_int_equal(res.status, RK_ST_NO_OPEN_REQUEST);
}

/* Finding 2: move.in.notice between municipalities.  Today's hub accepted
 * it when town.y knew the resident and refused it otherwise. */
static void test_move_in_notice_tells_a_town_nothing(void **state)
{
    rk_result_t alone0, res, none0;
    uint8_t nothing[RK_MSGID_LEN];
    (void)state;

    for (size_t i = 0; i < MOVERS; i++) {
        send_msg(fx.cx, "city.x", "town.y", &fx.pub_y, "move.in.notice", NULL, fx.code_x[i], &res);
        if (i == 0)
            alone0 = res;
        if (res.status != alone0.status || strcmp(res.detail, alone0.detail) != 0)
            fail_msg("move.in.notice about resident %zu got %s (%s), about resident 0 %s (%s)", i,
                     rk_status_name(res.status), res.detail, rk_status_name(alone0.status), alone0.detail);
        randombytes_buf(nothing, sizeof nothing);
        send_msg(fx.cx, "city.x", "town.y", &fx.pub_y, "move.in.notice", nothing, fx.code_x[i], &res);
        if (i == 0)
            none0 = res;
        if (res.status != none0.status || strcmp(res.detail, none0.detail) != 0)
            fail_msg("move.in.notice answering nothing about resident %zu got %s (%s), about resident 0 %s (%s)", i,
                     rk_status_name(res.status), res.detail, rk_status_name(none0.status), none0.detail);
    }
    assert_int_equal(alone0.status, RK_ST_NOT_PERMITTED);
    assert_int_equal(none0.status, RK_ST_NO_OPEN_REQUEST);
    assert_int_equal(rawclient_delivered_before_answer(fx.ty, 10000), 0);

    /* The rule's one way through: town.y answers city.x's own move-out
     * notice about the same resident. */
    send_msg(fx.ty, "town.y", "city.x", &fx.pub_x, "move.in.notice", fx.notice_id[1], fx.code_y[1], &res);
    expect_accepted(&res, "town.y's move-in notice answering city.x's move-out notice");
    /* ...and about another resident, that same notice's id gets the refusal */
    send_msg(fx.ty, "town.y", "city.x", &fx.pub_x, "move.in.notice", fx.notice_id[3], fx.code_y[5], &res);
    assert_int_equal(res.status, RK_ST_NO_OPEN_REQUEST);
}

/* The proof of the entry right after a message's own ACCEPTED entry. */
static void next_entry_proof(const rk_result_t *res, rk_hub_frame_t *hf)
{
    rk_client_frame_t f;
    memset(&f, 0, sizeof f);
    f.kind = RK_CF_PROOF;
    f.u.proof.req_id = res->seq;
    f.u.proof.index = res->log_size; /* the entry after it */
    f.u.proof.tree_size = res->log_size + 1;
    assert_int_equal(rawclient_send_frame(fx.cx, &f), 0);
    if (rawclient_recv_kind(fx.cx, RK_HF_PROOF, hf, 5000) != 0)
        fail_msg("no answer to a proof request");
}

/* Finding 3: the routing log right after city.x's own ACCEPTED told it
 * whether its message was a first contact. */
static void test_the_log_does_not_tell_a_first_contact(void **state)
{
    rk_result_t res[3];
    rk_hub_frame_t hf[3];
    size_t who[3] = {0, 2, 4};
    (void)state;

    /* gas had resident 2 as a customer already (city.x told it earlier) */
    send_msg(fx.cx, "city.x", "gas", &fx.pub_g, "utility.supply.start", NULL, fx.code_x[2], &res[0]);
    expect_accepted(&res[0], "a start request to gas");
    /* now one unknown to gas, one known, one unknown; gas takes nothing in,
     * so nothing else writes to the log meanwhile */
    for (size_t k = 0; k < 3; k++) {
        send_msg(fx.cx, "city.x", "gas", &fx.pub_g, "utility.supply.stop", NULL, fx.code_x[who[k]], &res[k]);
        expect_accepted(&res[k], "a stop request to gas");
    }
    /* the log position moves by the same step either way */
    assert_int_equal(res[1].log_size - res[0].log_size, res[2].log_size - res[1].log_size);
    for (size_t k = 0; k < 3; k++) {
        next_entry_proof(&res[k], &hf[k]);
        if (hf[k].u.proof.status != hf[0].u.proof.status || strcmp(hf[k].u.proof.detail, hf[0].u.proof.detail) != 0)
            fail_msg("the proof of the entry after stop %zu (gas %s the resident) was answered %s (%s); after "
                     "stop 0: %s (%s)",
                     k, k == 1 ? "knew" : "did not know", rk_status_name(hf[k].u.proof.status),
                     hf[k].u.proof.detail, rk_status_name(hf[0].u.proof.status), hf[0].u.proof.detail);
        assert_int_equal(hf[k].u.proof.n, 0);
        assert_null(hf[k].u.proof.entry);
    }
    assert_int_equal(hf[0].u.proof.status, RK_ST_FORBIDDEN);
    for (size_t k = 0; k < 3; k++)
        rk_hub_frame_clear(&hf[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_movers),
        cmocka_unit_test(test_forged_replies_tell_a_utility_nothing),
        cmocka_unit_test(test_move_in_notice_tells_a_town_nothing),
        cmocka_unit_test(test_the_log_does_not_tell_a_first_contact),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
