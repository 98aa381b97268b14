/*
 * test_it_conn - what one organization's connection can do to another's.
 *
 * A connection is known to the hub's ROUTER by its ZeroMQ routing id.  An
 * organization that picks its own (ZMQ_ROUTING_ID) must neither be served
 * nor be handed what the hub pushes to another organization's receiver, even
 * when that receiver has gone away with messages still queued for it.
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

#include "harness.h"
#include "rawclient.h"

typedef struct fixture {
    it_env_t *env;
    rk_pubkey_t power_pub;
} fixture_t;

static int setup(void **state)
{
    static fixture_t fx;
    char path[1024], why[256];

    memset(&fx, 0, sizeof fx);
    *state = &fx;
    if (sodium_init() < 0)
        return -1;
    fx.env = it_env_new();
    if (fx.env == NULL)
        return -1;
    if (it_org(fx.env, "city.x", "municipality") != 0 || it_org(fx.env, "town.y", "municipality") != 0 ||
        it_org(fx.env, "power", "utility") != 0)
        return -1;
    snprintf(path, sizeof path, "%s/keys/power.pub", it_dir(fx.env));
    if (rk_pubkey_load(path, &fx.power_pub, why, sizeof why) != RK_KEYS_OK) {
        fprintf(stderr, "setup: %s\n", why);
        return -1;
    }
    { static const char *const v[] = {"--verbose", NULL}; return it_hub_start(fx.env, v); }
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx != NULL)
        it_env_destroy(&fx->env);
    return 0;
}

/* A raw client for org, with its own routing id if id_len > 0. */
static rawclient_t *raw(fixture_t *fx, const char *org, const void *id, size_t id_len)
{
    char key[1024], hubpub[1024];
    snprintf(key, sizeof key, "%s/keys/%s.key", it_dir(fx->env), org);
    snprintf(hubpub, sizeof hubpub, "%s/keys/hub.pub", it_dir(fx->env));
    return rawclient_new_with_id(it_hub_endpoint(fx->env), hubpub, key, id, id_len);
}

/* A connection of org that the hub welcomed. */
static rawclient_t *welcomed(fixture_t *fx, const char *org, bool receive)
{
    char who[RK_ID_MAX + 1] = "";
    rawclient_t *rc = raw(fx, org, NULL, 0);
    assert_non_null(rc);
    if (rawclient_hello(rc, receive, who, 5000) != 0 || strcmp(who, org) != 0)
        fail_msg("%s's connection was not welcomed", org);
    return rc;
}

/* city.x sends a stop request for the person it knows by code to power;
 * the hub accepts it. */
static void send_stop(rawclient_t *cx, fixture_t *fx, const uint8_t code[RK_CODE_LEN],
                      uint8_t msg_id[RK_MSGID_LEN])
{
    static const char plain[] = "{\"request\":\"stop\"}";
    size_t wlen = 0;
    rk_result_t res;
    uint8_t *what = rawclient_box(cx, fx->power_pub.curve_pk, plain, sizeof plain - 1, &wlen);
    assert_non_null(what);
    assert_int_equal(
        rawclient_send_envelope(cx, "city.x", "power", "utility.supply.stop", NULL, code, what, wlen, NULL, false,
                                msg_id),
        0);
    free(what);
    assert_int_equal(rawclient_wait_result(cx, msg_id, &res, 5000), 0);
    if (res.status != RK_ST_ACCEPTED)
        fail_msg("city.x's stop request was refused: %s (%s)", rk_status_name(res.status), res.detail);
}

/* Whether any Deliver reaches rc within timeout_ms. */
static bool got_delivery(rawclient_t *rc, int timeout_ms)
{
    rk_hub_frame_t hf;
    if (rawclient_recv_kind(rc, RK_HF_DELIVER, &hf, timeout_ms) != 0)
        return false;
    rk_hub_frame_clear(&hf);
    return true;
}

/* The msg_id of the next Deliver on rc; false if none within timeout_ms. */
static bool next_delivery(rawclient_t *rc, uint8_t msg_id[RK_MSGID_LEN], int timeout_ms)
{
    rk_hub_frame_t hf;
    rk_core_t core;
    bool ok;
    if (rawclient_recv_kind(rc, RK_HF_DELIVER, &hf, timeout_ms) != 0)
        return false;
    ok = rk_core_decode(hf.u.deliver.envelope.core, hf.u.deliver.envelope.core_len, &core, NULL, 0) == RK_WIRE_OK;
    if (ok) {
        memcpy(msg_id, core.msg_id, RK_MSGID_LEN);
        rk_core_clear(&core);
    }
    rk_hub_frame_clear(&hf);
    return ok;
}

/*
 * The routing ids a ROUTER hands out by itself are 0x00 and a 32-bit
 * counter that starts from rand().  A hub that never seeds rand() starts
 * every run from the same few values (glibc's sequence for seed 1), so an
 * attacker can name the ids of the hub's first connections in advance.
 * These are the candidates: the counter of the first, second or third
 * socket the process creates, plus a few connections.
 */
#define N_GUESS 24
static void unseeded_ids(uint8_t ids[N_GUESS][5])
{
    uint32_t start[3];
    srand(1);
    for (int s = 0; s < 3; s++) {
        uint32_t low = (uint32_t)rand(), high = (uint32_t)rand();
        start[s] = low | (high << 31);
    }
    for (int i = 0; i < N_GUESS; i++) {
        uint32_t v = start[i / 8] + (uint32_t)(i % 8);
        ids[i][0] = 0;
        ids[i][1] = (uint8_t)(v >> 24);
        ids[i][2] = (uint8_t)(v >> 16);
        ids[i][3] = (uint8_t)(v >> 8);
        ids[i][4] = (uint8_t)v;
    }
}

/*
 * town.y, a registered municipality, connects with routing ids of its own
 * choosing: a printable one, and the 0x00-prefixed ids an unseeded hub
 * gives its first connections (power's receiver among them).  power's
 * receiver goes away while city.x's requests for power are queued, and
 * comes back.  town.y is told clearly that a chosen id is not served and
 * never sees one of power's deliveries; power gets each of them, once.
 */
static void test_chosen_routing_id_gets_nothing_of_another_org(void **state)
{
    fixture_t *fx = *state;
    rawclient_t *cx, *pw, *named, *guess[N_GUESS];
    uint8_t ids[N_GUESS][5], code[RK_CODE_LEN], first[RK_MSGID_LEN], queued[3][RK_MSGID_LEN];
    bool seen[3] = {false, false, false};
    rk_client_frame_t hello;
    rk_hub_frame_t hf;
    rk_result_t res;
    char *log, code_hex[RK_CODE_TEXT_LEN + 1];
    int got;

    /* city.x's sender, then power's receiver: the hub's first connections. */
    cx = welcomed(fx, "city.x", false);
    pw = welcomed(fx, "power", true);
    assert_int_equal(rawclient_enroll(cx, code, 5000), 0);
    rk_code_to_text(code, code_hex);
    send_stop(cx, fx, code, first);
    {
        uint8_t id[RK_MSGID_LEN];
        assert_true(next_delivery(pw, id, 5000));
        assert_memory_equal(id, first, RK_MSGID_LEN);
    }

    /* A printable routing id of town.y's choosing: refused, not welcomed. */
    named = raw(fx, "town.y", "power", 5);
    assert_non_null(named);
    memset(&hello, 0, sizeof hello);
    hello.kind = RK_CF_HELLO;
    hello.u.hello.receive = true;
    assert_int_equal(rawclient_send_frame(named, &hello), 0);
    got = rawclient_recv(named, &hf, 5000);
    if (got != 0)
        fail_msg("a connection that chose its routing id got no answer to its hello");
    if (hf.kind != RK_HF_RESULT)
        fail_msg("a connection that chose its routing id was served (hub frame kind %d instead of a refusal)",
                 (int)hf.kind);
    res = hf.u.result;
    rk_hub_frame_clear(&hf);
    if (res.status != RK_ST_FORBIDDEN || strstr(res.detail, "routing id") == NULL)
        fail_msg("expected FORBIDDEN naming the routing id, got %s (%s)", rk_status_name(res.status), res.detail);

    /* power's receiver goes away; town.y takes the ids it guesses. */
    rawclient_destroy(&pw);
    usleep(500 * 1000);
    unseeded_ids(ids);
    for (int i = 0; i < N_GUESS; i++) {
        guess[i] = raw(fx, "town.y", ids[i], sizeof ids[i]);
        assert_non_null(guess[i]);
        hello.u.hello.receive = false;
        assert_int_equal(rawclient_send_frame(guess[i], &hello), 0);
    }
    for (int i = 0; i < N_GUESS; i++) {
        /* Welcomed as town.y or refused: either way it is connected now.
         * (A guess equal to a live connection's id is never attached.) */
        if (rawclient_recv(guess[i], &hf, i == 0 ? 3000 : 200) == 0)
            rk_hub_frame_clear(&hf);
    }

    /* city.x's requests for power wait in power's queue. */
    for (int m = 0; m < 3; m++)
        send_stop(cx, fx, code, queued[m]);
    for (int i = 0; i < N_GUESS; i++)
        if (got_delivery(guess[i], i == 0 ? 1500 : 50))
            fail_msg("town.y's connection with the chosen routing id %02x%02x%02x%02x%02x was handed one of "
                     "power's deliveries",
                     ids[i][0], ids[i][1], ids[i][2], ids[i][3], ids[i][4]);
    if (got_delivery(named, 50))
        fail_msg("town.y's connection named \"power\" was handed one of power's deliveries");

    /* power comes back and gets everything, once. */
    pw = welcomed(fx, "power", true);
    for (int n = 0; n < 3; n++) {
        uint8_t id[RK_MSGID_LEN];
        int which = -1;
        if (!next_delivery(pw, id, 5000))
            fail_msg("power got %d of the 3 requests queued while it was away", n);
        for (int m = 0; m < 3; m++)
            if (memcmp(id, queued[m], RK_MSGID_LEN) == 0)
                which = m;
        if (which < 0 || seen[which])
            fail_msg("power got a request twice or one nobody queued for it");
        seen[which] = true;
    }
    assert_false(got_delivery(pw, 700));
    for (int i = 0; i < N_GUESS; i++)
        assert_false(got_delivery(guess[i], 50));
    assert_false(got_delivery(named, 50));

    /* The hub's log names the refusal, never a link code. */
    assert_true(it_hub_log_wait(fx->env, "chose its own routing id", 3000));
    log = it_hub_log(fx->env);
    assert_null(strstr(log, code_hex));
    free(log);

    for (int i = 0; i < N_GUESS; i++)
        rawclient_destroy(&guess[i]);
    rawclient_destroy(&named);
    rawclient_destroy(&pw);
    rawclient_destroy(&cx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chosen_routing_id_gets_nothing_of_another_org, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
