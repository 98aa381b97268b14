/*
 * test_it_refusals - every refusal the hub can make reaches its sender with
 * its own status, is named on the hub's log, and leaves the hub serving.
 *
 * Hand-crafted frames come from raw CURVE clients (rawclient.h), because an
 * honest agent never sends most of them.  The recipient that must refuse an
 * undecryptable payload is the real renkei-agent.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "rawclient.h"

typedef struct fixture {
    it_env_t *env;
    rawclient_t *cx;   /* city.x, sender (not its receiving connection) */
    rawclient_t *cr;   /* city.x, receiving connection (from test_baseline on) */
    rawclient_t *pw;   /* power, receiving connection */
    rawclient_t *ty;   /* town.y, receiving connection */
    uint8_t code_x[RK_CODE_LEN];  /* city.x's code for the test person */
    bool have_code_p;
    uint8_t code_p[RK_CODE_LEN];  /* power's code for the same person */
    rk_pubkey_t pub[6];
    char code_x_hex[RK_CODE_TEXT_LEN + 1];
} fixture_t;

enum { K_CITY, K_TOWN, K_POWER, K_GAS, K_WATER, K_HUB };
static const char *const names[] = {"city.x", "town.y", "power", "gas", "water", "hub"};

static int setup(void **state)
{
    static fixture_t fx;
    size_t i;
    char why[512];

    memset(&fx, 0, sizeof fx);
    *state = &fx;
    if (sodium_init() < 0)
        return -1;
    fx.env = it_env_new();
    if (fx.env == NULL)
        return -1;
    if (it_org(fx.env, "city.x", "municipality") != 0 ||
        it_org(fx.env, "town.y", "municipality") != 0 || it_org(fx.env, "power", "utility") != 0 ||
        it_org(fx.env, "gas", "utility") != 0 || it_org(fx.env, "water", "utility") != 0)
        return -1;
    for (i = 0; i < 6; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/keys/%s.pub", it_dir(fx.env), names[i]);
        if (rk_pubkey_load(path, &fx.pub[i], why, sizeof why) != RK_KEYS_OK) {
            fprintf(stderr, "setup: %s\n", why);
            return -1;
        }
    }
    if (it_hub_start(fx.env, NULL) != 0)
        return -1;
    fx.cx = it_connect(fx.env, "city.x", false);
    fx.pw = it_connect(fx.env, "power", true);
    fx.ty = it_connect(fx.env, "town.y", true);
    if (fx.cx == NULL || fx.pw == NULL || fx.ty == NULL)
        return -1;
    if (rawclient_enroll(fx.cx, fx.code_x, 5000) != 0) {
        fprintf(stderr, "setup: city.x could not enroll a person\n");
        return -1;
    }
    rk_code_to_text(fx.code_x, fx.code_x_hex);
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx == NULL)
        return 0;
    rawclient_destroy(&fx->cx);
    rawclient_destroy(&fx->cr);
    rawclient_destroy(&fx->pw);
    rawclient_destroy(&fx->ty);
    it_env_destroy(&fx->env);
    return 0;
}

/* Sends a payload sealed for `to` (whose public key is pub[k]) as city.x. */
static void send_as_city(fixture_t *fx, const char *to, int k, const char *type,
                         const uint8_t who[RK_CODE_LEN], uint8_t msg_id[RK_MSGID_LEN])
{
    static const char plain[] = "{\"request\":\"stop\",\"date\":\"2025-03-31\"}";
    size_t wlen = 0;
    uint8_t *what = rawclient_box(fx->cx, fx->pub[k].curve_pk, plain, sizeof plain - 1, &wlen);
    assert_non_null(what);
    assert_int_equal(rawclient_send_envelope(fx->cx, "city.x", to, type, NULL, who, what, wlen,
                                             NULL, false, msg_id),
                     0);
    free(what);
}

/* The hub keeps serving: city.x -> power stop is accepted, delivered under
 * power's own code, answered, and the answer comes back under city.x's. */
static void assert_normal_send_works(fixture_t *fx)
{
    uint8_t msg_id[RK_MSGID_LEN], reply_id[RK_MSGID_LEN];
    rk_result_t res;
    rk_hub_frame_t hf;
    char *plain;
    static const char answer[] = "{\"result\":\"done\"}";
    uint8_t *what;
    size_t wlen = 0;
    rk_core_t core;
    char why[200];

    send_as_city(fx, "power", K_POWER, "utility.supply.stop", fx->code_x, msg_id);
    assert_int_equal(rawclient_wait_result(fx->cx, msg_id, &res, 5000), 0);
    if (res.status != RK_ST_ACCEPTED)
        fail_msg("a normal send was refused: %s (%s)", rk_status_name(res.status), res.detail);
    assert_true(res.seq > 0);

    /* power receives it under its own code, and can open it. */
    assert_int_equal(rawclient_recv_kind(fx->pw, RK_HF_DELIVER, &hf, 5000), 0);
    assert_int_equal(rk_core_decode(hf.u.deliver.envelope.core, hf.u.deliver.envelope.core_len,
                                    &core, why, sizeof why),
                     RK_WIRE_OK);
    assert_memory_equal(core.msg_id, msg_id, RK_MSGID_LEN);
    assert_string_equal(core.from, "city.x");
    assert_memory_not_equal(hf.u.deliver.envelope.who, fx->code_x, RK_CODE_LEN);
    if (!fx->have_code_p) {
        assert_true(hf.u.deliver.first_contact);
        memcpy(fx->code_p, hf.u.deliver.envelope.who, RK_CODE_LEN);
        fx->have_code_p = true;
    } else {
        assert_false(hf.u.deliver.first_contact);
        assert_memory_equal(hf.u.deliver.envelope.who, fx->code_p, RK_CODE_LEN);
    }
    plain = rawclient_unbox(fx->pw, fx->pub[K_CITY].curve_pk, core.what, core.what_len);
    assert_non_null(plain);
    assert_non_null(strstr(plain, "\"stop\""));
    free(plain);
    rk_core_clear(&core);
    rk_hub_frame_clear(&hf);

    /* power answers; the answer reaches city.x under city.x's code. */
    what = rawclient_box(fx->pw, fx->pub[K_CITY].curve_pk, answer, sizeof answer - 1, &wlen);
    assert_non_null(what);
    assert_int_equal(rawclient_send_envelope(fx->pw, "power", "city.x", "utility.supply.stop",
                                             msg_id, fx->code_p, what, wlen, NULL, false,
                                             reply_id),
                     0);
    free(what);
    assert_int_equal(rawclient_wait_result(fx->pw, reply_id, &res, 5000), 0);
    if (res.status != RK_ST_ACCEPTED)
        fail_msg("the reply was refused: %s (%s)", rk_status_name(res.status), res.detail);
    if (fx->cr == NULL) {
        /* city.x has no receiving connection: the reply waits in its queue
         * (its sending connection gets nothing) until one says hello. */
        assert_int_equal(rawclient_delivered_before_answer(fx->cx, 10000), 0);
        fx->cr = it_connect(fx->env, "city.x", true);
        assert_non_null(fx->cr);
    }
    assert_int_equal(rawclient_recv_kind(fx->cr, RK_HF_DELIVER, &hf, 5000), 0);
    assert_memory_equal(hf.u.deliver.envelope.who, fx->code_x, RK_CODE_LEN);
    assert_false(hf.u.deliver.first_contact);
    assert_int_equal(rk_core_decode(hf.u.deliver.envelope.core, hf.u.deliver.envelope.core_len,
                                    &core, why, sizeof why),
                     RK_WIRE_OK);
    assert_true(core.has_reply_to);
    assert_memory_equal(core.reply_to, msg_id, RK_MSGID_LEN);
    plain = rawclient_unbox(fx->cx, fx->pub[K_POWER].curve_pk, core.what, core.what_len);
    assert_non_null(plain);
    assert_string_equal(plain, answer);
    free(plain);
    rk_core_clear(&core);
    rk_hub_frame_clear(&hf);
}

/* The hub logged a refusal naming status (and never a link code). */
static void assert_logged(fixture_t *fx, const char *needle)
{
    char *log;
    char p_hex[RK_CODE_TEXT_LEN + 1];
    if (!it_hub_log_wait(fx->env, needle, 10000)) {
        log = it_hub_log(fx->env);
        fail_msg("the hub's log has no \"%s\"; log:\n%s", needle, log);
    }
    log = it_hub_log(fx->env);
    assert_null(strstr(log, fx->code_x_hex));
    if (fx->have_code_p) {
        rk_code_to_text(fx->code_p, p_hex);
        assert_null(strstr(log, p_hex));
    }
    free(log);
}

static void assert_refused(fixture_t *fx, const uint8_t *msg_id, rk_status want, const char *log_needle)
{
    rk_result_t res;
    char needle[256];
    if (rawclient_wait_result(fx->cx, msg_id, &res, 5000) != 0)
        fail_msg("no result came back for a message the hub should refuse with %s",
                 rk_status_name(want));
    if (res.status != want)
        fail_msg("expected %s, got %s (%s)", rk_status_name(want), rk_status_name(res.status),
                 res.detail);
    assert_true(res.detail[0] != '\0');
    assert_null(strstr(res.detail, fx->code_x_hex));
    snprintf(needle, sizeof needle, "refused %s%s", rk_status_name(want),
             log_needle != NULL ? log_needle : "");
    assert_logged(fx, needle);
    assert_normal_send_works(fx);
}

/* proto/README.md: a reply goes into the requester's queue.  city.x has no
 * receiving connection yet: the reply waits, and reaches city.x as soon as
 * a receiving connection says hello. */
static void test_reply_waits_for_a_receiver(void **state)
{
    assert_normal_send_works(*state);
}

static void test_baseline(void **state)
{
    fixture_t *fx = *state;
    /* From here on city.x has a receiving connection (made by the test
     * above, or now if it ran alone). */
    if (fx->cr == NULL)
        fx->cr = it_connect(fx->env, "city.x", true);
    assert_non_null(fx->cr);
    assert_normal_send_works(fx);
    assert_normal_send_works(fx); /* again: same code, no first contact */
}

static void test_malformed(void **state)
{
    fixture_t *fx = *state;
    static const uint8_t garbage[] = {0xff, 0xfe, 0x00, 0x13, 0x37, 0x42, 0x99, 0x07, 0x08, 0x01};
    assert_int_equal(rawclient_send_bytes(fx->cx, garbage, sizeof garbage), 0);
    assert_refused(fx, NULL, RK_ST_MALFORMED, NULL);
}

/* Where needle first occurs in buf, or NULL. */
static uint8_t *find_bytes(uint8_t *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(buf + i, needle, n) == 0)
            return buf + i;
    return NULL;
}

/* An envelope whose core parses but has one bad field (a procedure type
 * that is not a name) is refused MALFORMED, and the refusal names its
 * msg_id: a client with many messages in flight can tell which. */
static void test_bad_field_names_msg_id(void **state)
{
    fixture_t *fx = *state;
    rk_client_frame_t cf;
    uint8_t id[RK_MSGID_LEN], *at;
    size_t wlen = 0;
    uint8_t *what = rawclient_box(fx->cx, fx->pub[K_POWER].curve_pk, "{}", 2, &wlen);

    assert_non_null(what);
    assert_int_equal(rawclient_seal(fx->cx, "city.x", "power", "utility.supply.stop", NULL, fx->code_x, what,
                                    wlen, NULL, &cf, id),
                     0);
    free(what);
    at = find_bytes(cf.u.send.core, cf.u.send.core_len, "utility.supply.stop");
    assert_non_null(at);
    at[0] = 'U'; /* "Utility.supply.stop": not a procedure name */
    assert_int_equal(rawclient_send_frame(fx->cx, &cf), 0);
    rk_client_frame_clear(&cf);
    assert_refused(fx, id, RK_ST_MALFORMED, " from city.x");
}

static size_t put_varint(uint8_t *p, size_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* The same when the bad field is in the envelope around the core (a link
 * code one byte short): the frame does not decode, yet the core's msg_id
 * can be read, and the refusal names it. */
static void test_bad_envelope_field_names_msg_id(void **state)
{
    fixture_t *fx = *state;
    rk_client_frame_t cf;
    uint8_t id[RK_MSGID_LEN], *env, *send, *frame;
    size_t wlen = 0, n, cap, ne = 0, ns = 0, nf = 0;
    uint8_t *what = rawclient_box(fx->cx, fx->pub[K_POWER].curve_pk, "{}", 2, &wlen);

    assert_non_null(what);
    assert_int_equal(rawclient_seal(fx->cx, "city.x", "power", "utility.supply.stop", NULL, fx->code_x, what,
                                    wlen, NULL, &cf, id),
                     0);
    free(what);
    n = cf.u.send.core_len;
    cap = n + 200;
    env = malloc(cap);
    send = malloc(cap);
    frame = malloc(cap);
    assert_non_null(env);
    assert_non_null(send);
    assert_non_null(frame);
    /* Envelope { core = 1; signature = 2; who = 3 (15 bytes) } */
    env[ne++] = 0x0a;
    ne += put_varint(env + ne, n);
    memcpy(env + ne, cf.u.send.core, n);
    ne += n;
    env[ne++] = 0x12;
    env[ne++] = RK_SIG_LEN;
    memcpy(env + ne, cf.u.send.signature, RK_SIG_LEN);
    ne += RK_SIG_LEN;
    env[ne++] = 0x1a;
    env[ne++] = RK_CODE_LEN - 1;
    memcpy(env + ne, fx->code_x, RK_CODE_LEN - 1);
    ne += RK_CODE_LEN - 1;
    /* Send { envelope = 1 } */
    send[ns++] = 0x0a;
    ns += put_varint(send + ns, ne);
    memcpy(send + ns, env, ne);
    ns += ne;
    /* ClientFrame { version = 1; send = 3 } */
    frame[nf++] = 0x08;
    frame[nf++] = RK_PROTOCOL_VERSION;
    frame[nf++] = 0x1a;
    nf += put_varint(frame + nf, ns);
    memcpy(frame + nf, send, ns);
    nf += ns;
    assert_int_equal(rawclient_send_bytes(fx->cx, frame, nf), 0);
    rk_client_frame_clear(&cf);
    free(env);
    free(send);
    free(frame);
    assert_refused(fx, id, RK_ST_MALFORMED, " from city.x");
}

static void test_unknown_recipient(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN];
    send_as_city(fx, "nobody", K_POWER, "utility.supply.stop", fx->code_x, id);
    assert_refused(fx, id, RK_ST_UNKNOWN_RECIPIENT, " from city.x to nobody");
}

static void test_unknown_who(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN], who[RK_CODE_LEN];
    randombytes_buf(who, sizeof who);
    send_as_city(fx, "power", K_POWER, "utility.supply.stop", who, id);
    assert_refused(fx, id, RK_ST_UNKNOWN_WHO, " from city.x to power");
}

static void test_too_large(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN];
    size_t plen = 65536 + 100, wlen = 0;
    char *plain = malloc(plen);
    uint8_t *what;
    assert_non_null(plain);
    memset(plain, 'a', plen);
    what = rawclient_box(fx->cx, fx->pub[K_POWER].curve_pk, plain, plen, &wlen);
    free(plain);
    assert_non_null(what);
    assert_true(wlen > 65536);
    assert_int_equal(rawclient_send_envelope(fx->cx, "city.x", "power", "utility.supply.stop",
                                             NULL, fx->code_x, what, wlen, NULL, false, id),
                     0);
    free(what);
    assert_refused(fx, id, RK_ST_TOO_LARGE, NULL);
}

/* A payload not padded to a size class (proto/README.md, "Payload") is
 * refused as malformed and reaches nobody: the hub would otherwise have
 * to log a length that tells one person's messages from another's. */
static void test_unpadded_payload(void **state)
{
    fixture_t *fx = *state;
    static const char plain[] = "{\"request\":\"stop\",\"date\":\"2025-03-31\"}";
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    size_t wlen = 0;
    uint8_t *what = rawclient_box_unpadded(fx->cx, fx->pub[K_POWER].curve_pk, plain, sizeof plain - 1, &wlen);

    assert_non_null(what);
    assert_int_equal(wlen, sizeof plain - 1 + 40);
    assert_int_equal(rawclient_send_envelope(fx->cx, "city.x", "power", "utility.supply.stop", NULL, fx->code_x,
                                             what, wlen, NULL, false, id),
                     0);
    free(what);
    assert_int_equal(rawclient_wait_result(fx->cx, id, &res, 5000), 0);
    if (res.status != RK_ST_MALFORMED || strstr(res.detail, "not padded to a size class") == NULL)
        fail_msg("expected MALFORMED, the payload is not padded to a size class; got %s (%s)",
                 rk_status_name(res.status), res.detail);
    assert_int_equal(rawclient_delivered_before_answer(fx->pw, 10000), 0);
    /* The first MALFORMED of a minute from an org is logged, later ones
     * are counted (a flood must not grow the logs): the result tells. */
    assert_logged(fx, "refused MALFORMED from city.x");
    assert_normal_send_works(fx);
}

static void test_from_mismatch(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN];
    rk_identity_t *gas = NULL;
    char path[1024], why[256];
    size_t wlen = 0;
    uint8_t *what = rawclient_box(fx->cx, fx->pub[K_POWER].curve_pk, "{}", 2, &wlen);
    snprintf(path, sizeof path, "%s/keys/gas.key", it_dir(fx->env));
    assert_int_equal(rk_identity_load(path, &gas, why, sizeof why), RK_KEYS_OK);
    /* Signed with gas's own key, so only the connection gives it away. */
    assert_int_equal(rawclient_send_envelope(fx->cx, "gas", "power", "utility.supply.stop", NULL,
                                             fx->code_x, what, wlen, gas->sign_sk, false, id),
                     0);
    rk_identity_destroy(&gas);
    free(what);
    assert_refused(fx, id, RK_ST_FROM_MISMATCH, NULL);
}

static void test_bad_signature(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN];
    size_t wlen = 0;
    uint8_t *what = rawclient_box(fx->cx, fx->pub[K_POWER].curve_pk, "{}", 2, &wlen);
    assert_int_equal(rawclient_send_envelope(fx->cx, "city.x", "power", "utility.supply.stop",
                                             NULL, fx->code_x, what, wlen, NULL, true, id),
                     0);
    free(what);
    assert_refused(fx, id, RK_ST_BAD_SIGNATURE, " from city.x to power");
}

static int ctl(fixture_t *fx, const char *cmd, const char *org)
{
    it_run_t r;
    int st = it_ctl(fx->env, &r, cmd, org, NULL);
    if (st != 0)
        fprintf(stderr, "renkei-ctl %s %s exited %d: %s\n", cmd, org, st, r.err);
    it_run_clear(&r);
    return st;
}

static void test_sender_suspended(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    int got;

    assert_int_equal(ctl(fx, "suspend", "city.x"), 0);
    send_as_city(fx, "power", K_POWER, "utility.supply.stop", fx->code_x, id);
    got = rawclient_wait_result(fx->cx, id, &res, 5000);
    /* Reactivate before asserting, so one failure does not hide the rest. */
    assert_int_equal(ctl(fx, "reactivate", "city.x"), 0);
    if (got != 0)
        fail_msg("no result for a send on a suspended sender's existing connection");
    if (res.status != RK_ST_SENDER_SUSPENDED)
        fail_msg("expected SENDER_SUSPENDED, got %s (%s)", rk_status_name(res.status), res.detail);
    assert_logged(fx, "refused SENDER_SUSPENDED from city.x");
    /* After reactivate the same connection works again. */
    assert_normal_send_works(fx);
}

/* A suspended org's routing-log requests are answered, each in the kind
 * of frame it asked for, with SENDER_SUSPENDED and why: not left to time
 * out. */
static void test_suspended_log_requests(void **state)
{
    static const rk_cf_kind asks[] = {RK_CF_LOG_READ, RK_CF_CHECKPOINT, RK_CF_PROOF, RK_CF_DISCLOSE};
    static const rk_hf_kind answers[] = {RK_HF_LOG, RK_HF_CHECKPOINT, RK_HF_PROOF, RK_HF_LOG};
    fixture_t *fx = *state;
    rk_hub_frame_t got[4];
    int rc[4];

    memset(got, 0, sizeof got);
    assert_int_equal(ctl(fx, "suspend", "city.x"), 0);
    for (size_t i = 0; i < 4; i++) {
        rk_client_frame_t f;
        memset(&f, 0, sizeof f);
        f.kind = asks[i];
        switch (asks[i]) {
        case RK_CF_LOG_READ: f.u.log_read.req_id = 700 + i; f.u.log_read.count = 1; break;
        case RK_CF_CHECKPOINT: f.u.checkpoint.req_id = 700 + i; break;
        case RK_CF_PROOF: f.u.proof.req_id = 700 + i; f.u.proof.tree_size = 1; break;
        default: f.u.disclose.req_id = 700 + i; memcpy(f.u.disclose.code, fx->code_x, RK_CODE_LEN); break;
        }
        rc[i] = rawclient_send_frame(fx->cx, &f);
        if (rc[i] == 0)
            rc[i] = rawclient_recv_kind(fx->cx, answers[i], &got[i], 5000);
    }
    /* Reactivate before asserting, so one failure does not hide the rest. */
    assert_int_equal(ctl(fx, "reactivate", "city.x"), 0);
    for (size_t i = 0; i < 4; i++) {
        if (rc[i] != 0)
            fail_msg("no answer to a suspended org's routing-log request of kind %d", (int)asks[i]);
        switch (answers[i]) {
        case RK_HF_LOG:
            assert_int_equal(got[i].u.log.req_id, 700 + i);
            assert_string_equal(rk_status_name(got[i].u.log.status), "SENDER_SUSPENDED");
            assert_string_equal(got[i].u.log.detail, "this organization is suspended");
            assert_int_equal(got[i].u.log.n, 0);
            break;
        case RK_HF_CHECKPOINT:
            assert_int_equal(got[i].u.checkpoint.req_id, 700 + i);
            assert_string_equal(rk_status_name(got[i].u.checkpoint.status), "SENDER_SUSPENDED");
            assert_true(got[i].u.checkpoint.note == NULL || got[i].u.checkpoint.note[0] == '\0'); /* none */
            break;
        default:
            assert_int_equal(got[i].u.proof.req_id, 700 + i);
            assert_string_equal(rk_status_name(got[i].u.proof.status), "SENDER_SUSPENDED");
            assert_string_equal(got[i].u.proof.detail, "this organization is suspended");
            break;
        }
        rk_hub_frame_clear(&got[i]);
    }
}

static void test_recipient_suspended(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    int got;

    assert_int_equal(ctl(fx, "suspend", "gas"), 0);
    send_as_city(fx, "gas", K_GAS, "utility.supply.stop", fx->code_x, id);
    got = rawclient_wait_result(fx->cx, id, &res, 5000);
    assert_int_equal(ctl(fx, "reactivate", "gas"), 0);
    if (got != 0)
        fail_msg("no result for a send to a suspended recipient");
    if (res.status != RK_ST_RECIPIENT_SUSPENDED)
        fail_msg("expected RECIPIENT_SUSPENDED, got %s (%s)", rk_status_name(res.status),
                 res.detail);
    assert_logged(fx, "refused RECIPIENT_SUSPENDED from city.x to gas");
    assert_normal_send_works(fx);
}

/* A type that may not introduce a person goes only as an answer: on its
 * own it is not permitted, and as an answer to nothing it is refused
 * NO_OPEN_REQUEST (never by whether town.y knows the person). */
static void test_answer_to_nothing(void **state)
{
    fixture_t *fx = *state;
    static const char plain[] = "{\"moved_in\":\"2025-04-01\"}";
    uint8_t id[RK_MSGID_LEN], nothing[RK_MSGID_LEN];
    size_t wlen = 0;
    uint8_t *what;

    send_as_city(fx, "town.y", K_TOWN, "move.in.notice", fx->code_x, id);
    assert_refused(fx, id, RK_ST_NOT_PERMITTED, " from city.x to town.y");
    randombytes_buf(nothing, sizeof nothing);
    what = rawclient_box(fx->cx, fx->pub[K_TOWN].curve_pk, plain, sizeof plain - 1, &wlen);
    assert_non_null(what);
    assert_int_equal(rawclient_send_envelope(fx->cx, "city.x", "town.y", "move.in.notice", nothing, fx->code_x,
                                             what, wlen, NULL, false, id),
                     0);
    free(what);
    assert_refused(fx, id, RK_ST_NO_OPEN_REQUEST, " from city.x to town.y");
    /* town.y received nothing. */
    assert_int_equal(rawclient_delivered_before_answer(fx->ty, 10000), 0);
}

static void test_not_permitted(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    size_t wlen = 0;
    uint8_t *what;

    if (!fx->have_code_p)
        assert_normal_send_works(fx);
    what = rawclient_box(fx->pw, fx->pub[K_TOWN].curve_pk, "{}", 2, &wlen);
    assert_non_null(what);
    /* A utility may not send a move-out notice, even about a person it knows. */
    assert_int_equal(rawclient_send_envelope(fx->pw, "power", "town.y", "move.out.notice", NULL,
                                             fx->code_p, what, wlen, NULL, false, id),
                     0);
    free(what);
    assert_int_equal(rawclient_wait_result(fx->pw, id, &res, 5000), 0);
    if (res.status != RK_ST_NOT_PERMITTED)
        fail_msg("expected NOT_PERMITTED, got %s (%s)", rk_status_name(res.status), res.detail);
    assert_logged(fx, "refused NOT_PERMITTED from power to town.y");
    assert_int_equal(rawclient_delivered_before_answer(fx->ty, 10000), 0);
    assert_normal_send_works(fx);
}

static void test_unknown_type(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN];
    send_as_city(fx, "power", K_POWER, "vehicle.registration.transfer", fx->code_x, id);
    assert_refused(fx, id, RK_ST_UNKNOWN_TYPE, " from city.x to power");
}

/* Waits on city.x's receiving connection for the notice about msg id with
 * the wanted status (DELIVERED notices about other messages pass by). */
static void wait_notice(fixture_t *fx, const uint8_t id[RK_MSGID_LEN], rk_status want, rk_notice_t *out)
{
    rk_hub_frame_t hf;
    for (int i = 0; i < 50; i++) {
        if (rawclient_recv_kind(fx->cr, RK_HF_NOTICE, &hf, 10000) != 0)
            break;
        if (memcmp(hf.u.notice.msg_id, id, RK_MSGID_LEN) == 0 && hf.u.notice.status == want) {
            *out = hf.u.notice;
            rk_hub_frame_clear(&hf);
            return;
        }
        rk_hub_frame_clear(&hf);
    }
    fail_msg("city.x never got a %s notice for its message", rk_status_name(want));
}

/* A recipient that is not connected does not make the message fail: it is
 * accepted, waits in gas's queue, and reaches gas when gas connects. */
static void test_offline_recipient_waits(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    rk_hub_frame_t hf;
    rk_notice_t n;
    rk_core_t core;
    rawclient_t *gas;

    send_as_city(fx, "gas", K_GAS, "utility.supply.stop", fx->code_x, id);
    assert_int_equal(rawclient_wait_result(fx->cx, id, &res, 5000), 0);
    if (res.status != RK_ST_ACCEPTED)
        fail_msg("a message for an offline recipient was refused: %s (%s)", rk_status_name(res.status),
                 res.detail);
    gas = it_connect(fx->env, "gas", true);
    assert_non_null(gas);
    assert_int_equal(rawclient_recv_kind(gas, RK_HF_DELIVER, &hf, 5000), 0);
    assert_true(hf.u.deliver.first_contact);
    assert_int_equal(rk_core_decode(hf.u.deliver.envelope.core, hf.u.deliver.envelope.core_len, &core, NULL, 0),
                     RK_WIRE_OK);
    assert_memory_equal(core.msg_id, id, RK_MSGID_LEN);
    rk_core_clear(&core);
    rk_hub_frame_clear(&hf);
    /* gas acked it (rawclient acks): city.x is told it was delivered. */
    wait_notice(fx, id, RK_ST_DELIVERED, &n);
    assert_string_equal(n.peer, "gas");
    assert_true(n.msg_seq == res.seq);
    rawclient_destroy(&gas);
    assert_normal_send_works(fx);
}

/* A payload sealed for power but addressed to water: the signature is
 * valid, so the hub routes it; water's agent cannot open it and refuses,
 * and city.x hears REFUSED_BY_RECIPIENT / UNDECRYPTABLE from water. */
static void test_undecryptable(void **state)
{
    fixture_t *fx = *state;
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    rk_hub_frame_t hf;
    char cmd[2048];
    it_proc_t *water;
    rk_notice_t n;
    char *err;

    snprintf(cmd, sizeof cmd, "cat >> '%s/out/water.in'; printf '{\"result\":\"done\"}\\n'",
             it_dir(fx->env));
    water = it_serve_start(fx->env, "water", cmd, 0);
    assert_non_null(water);

    send_as_city(fx, "water", K_POWER /* wrong key */, "utility.supply.stop", fx->code_x, id);
    assert_int_equal(rawclient_wait_result(fx->cx, id, &res, 5000), 0);
    if (res.status != RK_ST_ACCEPTED)
        fail_msg("the hub should route it (it cannot read payloads), got %s (%s)",
                 rk_status_name(res.status), res.detail);
    /* The refusal reaches city.x as a durable notice. */
    wait_notice(fx, id, RK_ST_REFUSED_BY_RECIPIENT, &n);
    assert_string_equal(n.peer, "water");
    assert_int_equal(n.cause, RK_ST_UNDECRYPTABLE);
    /* Water's back-office never saw it. */
    {
        char *in = it_slurp(it_path(fx->env, "out/water.in"), NULL);
        assert_null(in);
    }
    err = it_proc_err(water);
    assert_null(strstr(err, fx->code_x_hex));
    free(err);

    /* water's agent keeps serving: a correctly sealed request is answered. */
    send_as_city(fx, "water", K_WATER, "utility.supply.stop", fx->code_x, id);
    assert_int_equal(rawclient_wait_result(fx->cx, id, &res, 5000), 0);
    assert_int_equal(res.status, RK_ST_ACCEPTED);
    assert_int_equal(rawclient_recv_kind(fx->cr, RK_HF_DELIVER, &hf, 10000), 0);
    assert_memory_equal(hf.u.deliver.envelope.who, fx->code_x, RK_CODE_LEN);
    rk_hub_frame_clear(&hf);
    assert_normal_send_works(fx);
}

/* A recipient's reject carries its own free text: the sender gets it, the
 * hub's log names only who refused and why (status), never the text. */
static void test_reject_detail_stays_off_the_log(void **state)
{
    fixture_t *fx = *state;
    static const char marker[] = "TEST-0003 is not a customer here";
    uint8_t id[RK_MSGID_LEN];
    rk_client_frame_t f;
    rk_result_t res;
    rk_hub_frame_t hf;
    rk_notice_t n;
    char *log;

    send_as_city(fx, "power", K_POWER, "utility.supply.stop", fx->code_x, id);
    assert_int_equal(rawclient_wait_result(fx->cx, id, &res, 5000), 0);
    assert_int_equal(res.status, RK_ST_ACCEPTED);
    assert_int_equal(rawclient_recv_kind(fx->pw, RK_HF_DELIVER, &hf, 5000), 0);
    rk_hub_frame_clear(&hf);

    memset(&f, 0, sizeof f);
    f.kind = RK_CF_REJECT;
    snprintf(f.u.reject.to, sizeof f.u.reject.to, "city.x");
    memcpy(f.u.reject.msg_id, id, RK_MSGID_LEN);
    f.u.reject.reason = RK_ST_UNDECRYPTABLE;
    snprintf(f.u.reject.detail, sizeof f.u.reject.detail, "%s", marker);
    assert_int_equal(rawclient_send_frame(fx->pw, &f), 0);

    wait_notice(fx, id, RK_ST_REFUSED_BY_RECIPIENT, &n);
    assert_string_equal(n.peer, "power");
    assert_int_equal(n.cause, RK_ST_UNDECRYPTABLE);
    assert_string_equal(n.detail, marker);

    if (!it_hub_log_wait(fx->env, "from city.x: UNDECRYPTABLE", 10000)) {
        log = it_hub_log(fx->env);
        fail_msg("the hub's log does not name the refusal; log:\n%s", log);
    }
    log = it_hub_log(fx->env);
    if (strstr(log, "TEST-0003") != NULL)
        fail_msg("the hub's log carries the recipient's free text; log:\n%s", log);
    free(log);
    assert_normal_send_works(fx);
}

/* Sizes on renkei-hub's command line are positive numbers: "-1" is not
 * read as 2^64 - 1 (a batch of that many items would not even allocate). */
static void test_hub_refuses_negative_sizes(void **state)
{
    fixture_t *fx = *state;
    static const char *const opts[] = {"--batch", "--max-payload", "--map-size"};
    char key[1024];
    it_run_t r;

    snprintf(key, sizeof key, "%s/keys/hub.key", it_dir(fx->env));
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        const char *argv[] = {"--data", it_hub_data(fx->env), "--key", key, "--master-key",
                              it_master_path(fx->env), "--check-config", opts[i], "-1", NULL};
        int st = it_run(fx->env, "renkei-hub", argv, NULL, 20, &r);
        if (st != 2 || strstr(r.err, "needs a positive number, not '-1'") == NULL)
            fail_msg("renkei-hub %s -1: expected exit 2 and a clear message, got exit %d: %s", opts[i],
                     st, r.err);
        it_run_clear(&r);
    }
}

/* The command line reports a hub refusal as "refused: STATUS: ..." with
 * exit 3, and refuses a payload that is not JSON before sending anything. */
static void test_cli_reports_refusals(void **state)
{
    fixture_t *fx = *state;
    it_run_t r;
    char person[PATH_MAX];
    int st;

    st = it_agent(fx->env, "city.x", "TEST-0002\n", &r, "enroll", NULL);
    if (st != 0)
        fail_msg("renkei-agent enroll exited %d: %s", st, r.err);
    it_run_clear(&r);

    assert_int_equal(it_person_file(fx->env, "TEST-0002", person, sizeof person), 0);
    st = it_agent(fx->env, "city.x", "{\"request\":\"stop\"}", &r, "send", "--to", "town.y",
                  "--type", "move.in.notice", "--person-file", person, NULL);
    if (st != 3 || strstr(r.err, "refused: NOT_PERMITTED: ") == NULL)
        fail_msg("expected exit 3 and \"refused: NOT_PERMITTED: \", got exit %d: %s", st, r.err);
    assert_null(strstr(r.err, "TEST-0002"));
    it_run_clear(&r);

    st = it_agent(fx->env, "city.x", "this is not json", &r, "send", "--to", "power", "--type",
                  "utility.supply.stop", "--person-file", person, NULL);
    assert_int_equal(st, 2); /* bad input, as a bad number is: nothing was done */
    assert_non_null(strstr(r.err, "not JSON"));
    it_run_clear(&r);
    /* nothing reached power */
    assert_int_equal(rawclient_delivered_before_answer(fx->pw, 10000), 0);
    assert_normal_send_works(fx);
}

/* A payload that is not JSON (which no renkei-agent sends, but another
 * client may) is refused by the recipient's `serve`, not dropped: the
 * sender hears REFUSED_BY_RECIPIENT / MALFORMED with a detail saying so,
 * and the back office never sees it. */
static void test_not_json_refused_by_recipient(void **state)
{
    fixture_t *fx = *state;
    static const char plain[] = "this is not json";
    uint8_t id[RK_MSGID_LEN];
    rk_result_t res;
    char cmd[2048];
    it_proc_t *gas;
    rk_notice_t n;
    size_t wlen = 0;
    uint8_t *what;

    if (fx->cr == NULL)
        fx->cr = it_connect(fx->env, "city.x", true);
    assert_non_null(fx->cr);
    snprintf(cmd, sizeof cmd, "cat >> '%s/out/gas.in'; printf '{\"result\":\"done\"}\\n'", it_dir(fx->env));
    gas = it_serve_start(fx->env, "gas", cmd, 0);
    assert_non_null(gas);

    what = rawclient_box(fx->cx, fx->pub[K_GAS].curve_pk, plain, sizeof plain - 1, &wlen);
    assert_non_null(what);
    assert_int_equal(rawclient_send_envelope(fx->cx, "city.x", "gas", "utility.supply.stop", NULL, fx->code_x,
                                             what, wlen, NULL, false, id),
                     0);
    free(what);
    assert_int_equal(rawclient_wait_result(fx->cx, id, &res, 5000), 0);
    assert_int_equal(res.status, RK_ST_ACCEPTED);
    wait_notice(fx, id, RK_ST_REFUSED_BY_RECIPIENT, &n);
    assert_string_equal(n.peer, "gas");
    assert_int_equal(n.cause, RK_ST_MALFORMED);
    if (strstr(n.detail, "not JSON") == NULL)
        fail_msg("the refusal should say the payload is not JSON: %s", n.detail);
    {
        char *in = it_slurp(it_path(fx->env, "out/gas.in"), NULL);
        assert_null(in);
    }
    assert_int_equal(it_proc_stop(gas), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_waits_for_a_receiver),
        cmocka_unit_test(test_baseline),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_field_names_msg_id),
        cmocka_unit_test(test_bad_envelope_field_names_msg_id),
        cmocka_unit_test(test_unknown_recipient),
        cmocka_unit_test(test_unknown_who),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_unpadded_payload),
        cmocka_unit_test(test_from_mismatch),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_sender_suspended),
        cmocka_unit_test(test_suspended_log_requests),
        cmocka_unit_test(test_recipient_suspended),
        cmocka_unit_test(test_answer_to_nothing),
        cmocka_unit_test(test_not_permitted),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_offline_recipient_waits),
        cmocka_unit_test(test_undecryptable),
        cmocka_unit_test(test_reject_detail_stays_off_the_log),
        cmocka_unit_test(test_hub_refuses_negative_sizes),
        cmocka_unit_test(test_cli_reports_refusals),
        cmocka_unit_test(test_not_json_refused_by_recipient),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
