/*
 * test_it_conn - what one organization's connection can do to another's.
 *
 * A connection is known to the hub's ROUTER by its ZeroMQ routing id.  An
 * organization that picks its own (ZMQ_ROUTING_ID) must neither be served
 * nor be handed what the hub pushes to another organization's receiver, even
 * when that receiver has gone away with messages still queued for it.
 *
 * Nor can a flood of frames nobody can read grow the routing log or the
 * hub's log without bound: each gets its answer, and they are recorded as
 * counts.
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

    memset(&fx, 0, sizeof fx);
    *state = &fx;
    if (sodium_init() < 0)
        return -1;
    fx.env = it_env_new();
    if (fx.env == NULL)
        return -1;
    if (it_org(fx.env, "city.x", "municipality") != 0 || it_org(fx.env, "town.y", "municipality") != 0 ||
        it_org(fx.env, "power", "utility") != 0 || it_org(fx.env, "audit.z", "auditor") != 0)
        return -1;
    if (it_pubkey(fx.env, "power", &fx.power_pub) != 0)
        return -1;
    return it_hub_start(fx.env, (const char *const[]){"--verbose", NULL});
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

/* Whether rc (a connection the hub answers) was handed a Deliver before
 * the answer to a hello it sends now: the hub reads one connection's frames
 * in order and pushes what a turn queued before it reads further frames,
 * so anything it ever pushed to rc arrives ahead of that answer.  Fails the
 * test if no answer comes. */
static bool delivered_before_answer(rawclient_t *rc)
{
    rk_client_frame_t hello;
    rk_hub_frame_t hf;

    memset(&hello, 0, sizeof hello);
    hello.kind = RK_CF_HELLO;
    assert_int_equal(rawclient_send_frame(rc, &hello), 0);
    for (;;) {
        rk_hf_kind kind;
        if (rawclient_recv(rc, &hf, 10000) != 0)
            fail_msg("a connection the hub answered before got no answer to a second hello");
        kind = hf.kind;
        rk_hub_frame_clear(&hf);
        if (kind == RK_HF_DELIVER)
            return true;
        if (kind == RK_HF_WELCOME || kind == RK_HF_RESULT)
            return false;
    }
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
    bool answered[N_GUESS];
    uint8_t last[RK_MSGID_LEN];
    size_t closed;
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

    /* power's receiver goes away (the hub has seen it close, so its routing
     * id is free); town.y takes the ids it guesses. */
    closed = it_hub_log_count(fx->env, "a receiver closed its connection");
    rawclient_destroy(&pw);
    if (!it_hub_log_wait_count(fx->env, "a receiver closed its connection", closed + 1, 10000))
        fail_msg("the hub did not notice that power's receiver closed its connection");
    unseeded_ids(ids);
    for (int i = 0; i < N_GUESS; i++) {
        guess[i] = raw(fx, "town.y", ids[i], sizeof ids[i]);
        assert_non_null(guess[i]);
        hello.u.hello.receive = false;
        assert_int_equal(rawclient_send_frame(guess[i], &hello), 0);
    }
    for (int i = 0; i < N_GUESS; i++) {
        /* Welcomed as town.y or refused: either way it is connected now.
         * A guess equal to a live connection's id is never attached and
         * never answered; the wait for its answer is only a bound. */
        answered[i] = rawclient_recv(guess[i], &hf, i == 0 ? 3000 : 200) == 0;
        if (answered[i])
            rk_hub_frame_clear(&hf);
    }

    /* city.x's requests for power wait in power's queue: a connection of
     * town.y's was handed none of them by the time it hears the answer to
     * a hello sent after they were accepted.  (One ZeroMQ never attached
     * cannot be handed anything, nor answered: for it, a short look.) */
    for (int m = 0; m < 3; m++)
        send_stop(cx, fx, code, queued[m]);
    for (int i = 0; i < N_GUESS; i++)
        if (answered[i] ? delivered_before_answer(guess[i]) : got_delivery(guess[i], 50))
            fail_msg("town.y's connection with the chosen routing id %02x%02x%02x%02x%02x was handed one of "
                     "power's deliveries",
                     ids[i][0], ids[i][1], ids[i][2], ids[i][3], ids[i][4]);
    if (delivered_before_answer(named))
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
    /* ... and nothing twice: a request sent now is the next it gets. */
    send_stop(cx, fx, code, last);
    {
        uint8_t id[RK_MSGID_LEN];
        if (!next_delivery(pw, id, 10000))
            fail_msg("power did not get a request sent after it came back");
        if (memcmp(id, last, RK_MSGID_LEN) != 0)
            fail_msg("power got a request a second time");
    }
    for (int i = 0; i < N_GUESS; i++)
        assert_false(answered[i] ? delivered_before_answer(guess[i]) : got_delivery(guess[i], 50));
    assert_false(delivered_before_answer(named));

    /* The hub's log names the refusal, never a link code. */
    assert_true(it_hub_log_wait(fx->env, "chose its own routing id", 10000));
    log = it_hub_log(fx->env);
    assert_null(strstr(log, code_hex));
    free(log);

    for (int i = 0; i < N_GUESS; i++)
        rawclient_destroy(&guess[i]);
    rawclient_destroy(&named);
    rawclient_destroy(&pw);
    rawclient_destroy(&cx);
}

/* What the routing log says from entry `start` on, as an auditor reads it. */
typedef struct log_view {
    uint64_t size;        /* the log's size */
    size_t refused;       /* EV_REFUSED entries from city.x with outcome MALFORMED */
    uint64_t frames;      /* the frames they stand for (count, or one) */
} log_view_t;

static void read_log(rawclient_t *au, uint64_t start, log_view_t *v)
{
    static uint64_t req = 500;
    memset(v, 0, sizeof *v);
    v->size = start + 1;
    while (start < v->size) {
        rk_client_frame_t f;
        rk_hub_frame_t h;
        memset(&f, 0, sizeof f);
        f.kind = RK_CF_LOG_READ;
        f.u.log_read.req_id = ++req;
        f.u.log_read.start = start;
        f.u.log_read.count = RK_LOG_READ_MAX;
        assert_int_equal(rawclient_send_frame(au, &f), 0);
        assert_int_equal(rawclient_recv_kind(au, RK_HF_LOG, &h, 10000), 0);
        if (h.u.log.status != RK_ST_ACCEPTED)
            fail_msg("the auditor's LogRead was refused: %s (%s)", rk_status_name(h.u.log.status), h.u.log.detail);
        v->size = h.u.log.tree_size;
        for (size_t i = 0; i < h.u.log.n; i++) {
            rk_log_entry_t e;
            char why[256] = "";
            if (rk_log_entry_decode(h.u.log.entry[i], h.u.log.entry_len[i], &e, why, sizeof why) != RK_WIRE_OK)
                fail_msg("a log entry does not decode: %s", why);
            if (e.event == RK_EV_REFUSED && strcmp(e.from, "city.x") == 0 && e.outcome == RK_ST_MALFORMED) {
                v->refused++;
                v->frames += e.count > 0 ? e.count : 1;
            }
        }
        if (h.u.log.n == 0) {
            rk_hub_frame_clear(&h);
            break;
        }
        start += h.u.log.n;
        rk_hub_frame_clear(&h);
    }
}

/* Lines of the hub's log that contain needle. */
static size_t log_lines_with(fixture_t *fx, const char *needle)
{
    char *log = it_hub_log(fx->env);
    size_t n = 0;
    for (char *p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

#define FLOOD 2000
#define FLOOD_CHUNK 200

/*
 * city.x sends 2000 frames that do not decode.  Each gets its MALFORMED
 * result; the routing log grows by an entry or two, not 2000, and the hub's
 * log by a line or two; once the hub stops, the log holds the count of all
 * 2000; and the hub routed a real message meanwhile.
 */
static void test_unreadable_flood_is_counted(void **state)
{
    fixture_t *fx = *state;
    static const uint8_t garbage[] = {0xff, 0xfe, 0x00, 0x13, 0x37, 0x42, 0x99, 0x07, 0x08, 0x01};
    rawclient_t *cx, *pw, *au;
    uint8_t code[RK_CODE_LEN], id[RK_MSGID_LEN], got_id[RK_MSGID_LEN];
    log_view_t before, after;
    size_t lines;

    cx = welcomed(fx, "city.x", false);
    pw = welcomed(fx, "power", true);
    au = welcomed(fx, "audit.z", false);
    assert_int_equal(rawclient_enroll(cx, code, 5000), 0);
    read_log(au, 0, &before);

    for (int sent = 0; sent < FLOOD; sent += FLOOD_CHUNK) {
        for (int i = 0; i < FLOOD_CHUNK; i++)
            assert_int_equal(rawclient_send_bytes(cx, garbage, sizeof garbage), 0);
        for (int i = 0; i < FLOOD_CHUNK; i++) {
            rk_result_t res;
            if (rawclient_wait_result(cx, NULL, &res, 10000) != 0)
                fail_msg("garbage frame %d got no result", sent + i + 1);
            if (res.status != RK_ST_MALFORMED || res.detail[0] == '\0')
                fail_msg("garbage frame %d: expected MALFORMED with a reason, got %s (%s)", sent + i + 1,
                         rk_status_name(res.status), res.detail);
        }
    }

    read_log(au, before.size, &after);
    if (after.size - before.size > 3)
        fail_msg("%d unreadable frames added %llu entries to the routing log", FLOOD,
                 (unsigned long long)(after.size - before.size));
    assert_int_equal(after.refused, 1); /* the first, on its own */
    lines = log_lines_with(fx, "MALFORMED");
    if (lines > 3)
        fail_msg("%d unreadable frames took %zu lines of the hub's log", FLOOD, lines);

    /* The hub still routes. */
    send_stop(cx, fx, code, id);
    assert_true(next_delivery(pw, got_id, 5000));
    assert_memory_equal(got_id, id, RK_MSGID_LEN);
    rawclient_destroy(&au);
    rawclient_destroy(&pw);
    rawclient_destroy(&cx);

    /* Stopping records the count; every frame is accounted for. */
    assert_int_equal(it_hub_stop(fx->env), 0);
    assert_int_equal(it_hub_restart(fx->env, NULL), 0);
    au = welcomed(fx, "audit.z", false);
    read_log(au, before.size, &after);
    if (after.frames != FLOOD || after.refused > 3)
        fail_msg("the routing log accounts for %llu of %d unreadable frames in %zu entries",
                 (unsigned long long)after.frames, FLOOD, after.refused);
    if (after.size - before.size > 8)
        fail_msg("the flood and one message took %llu entries of the routing log",
                 (unsigned long long)(after.size - before.size));
    assert_true(it_hub_log_wait(fx->env, "refused 1999 more frames from city.x", 10000));
    lines = log_lines_with(fx, "MALFORMED");
    if (lines > 3)
        fail_msg("%d unreadable frames took %zu lines of the hub's log", FLOOD, lines);
    rawclient_destroy(&au);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chosen_routing_id_gets_nothing_of_another_org, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_flood_is_counted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
