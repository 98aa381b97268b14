/*
 * test_it_faults.c - the hub's failure paths, run rather than reviewed.
 *
 * renkei-hub-faults is the real daemon over a store that fails on request
 * (hub/store.c, RENKEI_STORE_FAULTS; built for the tests only).  Each test
 * arms one fault, drives the real hub over CURVE to it, and checks what a
 * sender and a recipient see: a clear answer, nothing lost, nothing done
 * twice, and the hub serving on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "rawclient.h"

typedef struct fixture {
    it_env_t *env;
    rawclient_t *cx, *cr, *pw; /* city.x sending and receiving, power receiving */
    rk_pubkey_t pub_power;
    uint8_t code_x[RK_CODE_LEN];
} fixture_t;

static fixture_t fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    if (sodium_init() < 0 || (fx.env = it_env_new()) == NULL)
        return -1;
    it_hub_faults(fx.env);
    if (it_org(fx.env, "city.x", "municipality") != 0 || it_org(fx.env, "power", "utility") != 0 ||
        it_pubkey(fx.env, "power", &fx.pub_power) != 0 ||
        it_write_file(it_path(fx.env, "hub.conf"), "ttl.utility.supply.start = 2\n") != 0 ||
        it_hub_start(fx.env, (const char *const[]){"--config", it_path(fx.env, "hub.conf"), NULL}) != 0)
        return -1;
    fx.cx = it_connect(fx.env, "city.x", false);
    fx.cr = it_connect(fx.env, "city.x", true);
    fx.pw = it_connect(fx.env, "power", true);
    if (fx.cx == NULL || fx.cr == NULL || fx.pw == NULL || rawclient_enroll(fx.cx, fx.code_x, 5000) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rawclient_destroy(&fx.cx);
    rawclient_destroy(&fx.cr);
    rawclient_destroy(&fx.pw);
    it_env_destroy(&fx.env);
    return 0;
}

/* A stop request from city.x to power, sealed once: sent as often as the
 * test likes, always the same bytes (as an agent re-sends). */
static void seal_type(const char *type, rk_client_frame_t *cf, uint8_t msg_id[RK_MSGID_LEN])
{
    static const char plain[] = "{\"request\":\"stop\",\"date\":\"2025-03-31\"}";
    size_t wlen = 0;
    uint8_t *what = rawclient_box(fx.cx, fx.pub_power.curve_pk, plain, sizeof plain - 1, &wlen);
    assert_non_null(what);
    assert_int_equal(rawclient_seal(fx.cx, "city.x", "power", type, NULL, fx.code_x, what, wlen, NULL, cf, msg_id), 0);
    free(what);
}

static void seal_stop(rk_client_frame_t *cf, uint8_t msg_id[RK_MSGID_LEN])
{
    seal_type("utility.supply.stop", cf, msg_id);
}

static void send_and_wait(const rk_client_frame_t *cf, const uint8_t msg_id[RK_MSGID_LEN], rk_result_t *res)
{
    assert_int_equal(rawclient_send_frame(fx.cx, cf), 0);
    if (rawclient_wait_result(fx.cx, msg_id, res, 5000) != 0)
        fail_msg("no result from the hub");
}

/* Returns once the hub has handled everything rc sent before: frames of
 * one connection are handled in order, and a checkpoint request is
 * answered after its turn's commit. */
static void settle(rawclient_t *rc)
{
    static uint64_t req = 7000;
    rk_client_frame_t f;
    rk_hub_frame_t hf;

    memset(&f, 0, sizeof f);
    f.kind = RK_CF_CHECKPOINT;
    f.u.checkpoint.req_id = ++req;
    assert_int_equal(rawclient_send_frame(rc, &f), 0);
    if (rawclient_recv_kind(rc, RK_HF_CHECKPOINT, &hf, 10000) != 0)
        fail_msg("the hub did not answer a checkpoint request");
    rk_hub_frame_clear(&hf);
}

/* Takes the next delivery at power (rawclient acknowledges it at once, as
 * an agent does) and returns its seq; with settle_ack, returns once the
 * hub has handled that acknowledgement. */
static uint64_t take_at_power(const uint8_t msg_id[RK_MSGID_LEN], bool settle_ack)
{
    rk_hub_frame_t hf;
    rk_core_t core;
    uint64_t seq;

    if (rawclient_recv_kind(fx.pw, RK_HF_DELIVER, &hf, 10000) != 0)
        fail_msg("power received no delivery");
    assert_int_equal(rk_core_decode(hf.u.deliver.envelope.core, hf.u.deliver.envelope.core_len, &core, NULL, 0),
                     RK_WIRE_OK);
    if (memcmp(core.msg_id, msg_id, RK_MSGID_LEN) != 0)
        fail_msg("power received another message than the one expected next");
    rk_core_clear(&core);
    seq = hf.u.deliver.seq;
    rk_hub_frame_clear(&hf);
    if (settle_ack)
        settle(fx.pw);
    return seq;
}

/* The notice city.x receives about msg_id (acknowledged, and the
 * acknowledgement handled). */
static rk_status notice_at_city(const uint8_t msg_id[RK_MSGID_LEN])
{
    rk_hub_frame_t hf;
    rk_status st;

    if (rawclient_recv_kind(fx.cr, RK_HF_NOTICE, &hf, 10000) != 0)
        fail_msg("city.x received no notice");
    if (memcmp(hf.u.notice.msg_id, msg_id, RK_MSGID_LEN) != 0)
        fail_msg("city.x received a notice about another message than expected");
    st = hf.u.notice.status;
    rk_hub_frame_clear(&hf);
    settle(fx.cr);
    return st;
}

/* After a fault and its recovery, one more message goes through and is
 * the next thing power receives: nothing of the failed turn was queued. */
static void hub_serves_on(void)
{
    rk_client_frame_t cf;
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;

    seal_stop(&cf, id);
    send_and_wait(&cf, id, &res);
    if (res.status != RK_ST_ACCEPTED)
        fail_msg("after the fault, a new message was refused: %s (%s)", rk_status_name(res.status), res.detail);
    (void)take_at_power(id, true);
    assert_int_equal(notice_at_city(id), RK_ST_DELIVERED);
    rk_client_frame_clear(&cf);
}

/* The store is full when the message would be queued: STORE_FULL, nothing
 * accepted; the same message sent again once there is room is accepted
 * and delivered once. */
static void test_full_store_refuses_then_takes_the_resend(void **state)
{
    rk_client_frame_t cf;
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    (void)state;

    seal_stop(&cf, id);
    assert_int_equal(it_store_faults(fx.env, "put queue full 1\n"), 0);
    assert_true(it_store_faults_taken(fx.env, 5000));
    send_and_wait(&cf, id, &res);
    if (res.status != RK_ST_STORE_FULL || strstr(res.detail, "send again later") == NULL)
        fail_msg("expected STORE_FULL, send again later; got %s (%s)", rk_status_name(res.status), res.detail);
    assert_true(it_hub_log_wait(fx.env, "STORE_FULL", 10000));
    /* the hub refuses without trying for a moment after a full store; the
     * sender re-sends, as its agent would, until it is taken */
    for (int i = 0; i < 50 && res.status == RK_ST_STORE_FULL; i++) {
        poll(NULL, 0, 100);
        send_and_wait(&cf, id, &res);
    }
    if (res.status != RK_ST_ACCEPTED)
        fail_msg("the re-sent message was not accepted: %s (%s)", rk_status_name(res.status), res.detail);
    (void)take_at_power(id, true);
    assert_int_equal(notice_at_city(id), RK_ST_DELIVERED);
    rk_client_frame_clear(&cf);
    hub_serves_on();
}

/* The turn's commit fails (a disk error): INTERNAL, nothing accepted, and
 * the message sent again is accepted and delivered once. */
static void test_failed_commit_accepts_nothing(void **state)
{
    rk_client_frame_t cf;
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    (void)state;

    seal_stop(&cf, id);
    assert_int_equal(it_store_faults(fx.env, "commit queue io 1\n"), 0);
    assert_true(it_store_faults_taken(fx.env, 5000));
    send_and_wait(&cf, id, &res);
    if (res.status != RK_ST_INTERNAL || strstr(res.detail, "hub storage failed") == NULL)
        fail_msg("expected INTERNAL, hub storage failed; got %s (%s)", rk_status_name(res.status), res.detail);
    send_and_wait(&cf, id, &res);
    if (res.status != RK_ST_ACCEPTED)
        fail_msg("the re-sent message was not accepted: %s (%s)", rk_status_name(res.status), res.detail);
    (void)take_at_power(id, true);
    assert_int_equal(notice_at_city(id), RK_ST_DELIVERED);
    rk_client_frame_clear(&cf);
    hub_serves_on();
}

/* The recipient's acknowledgement cannot be recorded: the message stays
 * queued and is pushed again (same seq), and its sender is told DELIVERED
 * once, when an acknowledgement is recorded. */
static void test_lost_ack_pushes_again(void **state)
{
    rk_client_frame_t cf;
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    uint64_t first, again;
    (void)state;

    seal_stop(&cf, id);
    assert_int_equal(it_store_faults(fx.env, "del queue io 1\n"), 0);
    assert_true(it_store_faults_taken(fx.env, 5000));
    send_and_wait(&cf, id, &res);
    assert_int_equal(res.status, RK_ST_ACCEPTED);
    first = take_at_power(id, false); /* its acknowledgement cannot be recorded */
    assert_true(it_hub_log_wait(fx.env, "cannot record power's acknowledgement", 10000));
    again = take_at_power(id, true);
    assert_true(again == first);
    assert_int_equal(notice_at_city(id), RK_ST_DELIVERED);
    rk_client_frame_clear(&cf);
    hub_serves_on();
}

/* The expiry sweep cannot commit: it tries again, and the sender is told
 * EXPIRED once. */
static void test_failed_sweep_expires_later(void **state)
{
    rk_client_frame_t cf;
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    (void)state;

    /* power is away: the start request waits, then expires (its type's
     * time-to-live is 2 s in this hub's config) */
    rawclient_destroy(&fx.pw);
    seal_type("utility.supply.start", &cf, id);
    assert_int_equal(it_store_faults(fx.env, "commit qexp io 1\n"), 0);
    send_and_wait(&cf, id, &res);
    assert_int_equal(res.status, RK_ST_ACCEPTED);
    assert_true(it_hub_log_wait(fx.env, "expiry sweep failed", 10000));
    assert_int_equal(notice_at_city(id), RK_ST_EXPIRED);
    rk_client_frame_clear(&cf);
    fx.pw = it_connect(fx.env, "power", true);
    assert_non_null(fx.pw);
    hub_serves_on();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_store_refuses_then_takes_the_resend),
        cmocka_unit_test(test_failed_commit_accepts_nothing),
        cmocka_unit_test(test_lost_ack_pushes_again),
        cmocka_unit_test(test_failed_sweep_expires_later),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
