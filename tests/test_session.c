/*
 * test_session.c - the hub session (session/session.h) against a small
 * hub in a thread of this process: a real ZeroMQ CURVE ROUTER on loopback
 * with a ZAP handler that admits the keys of a short list, answering hello
 * with a welcome and a checkpoint request with a scripted burst of frames
 * (a result, a notice, an answer to another request, then the answer).
 * Nothing of ZeroMQ or CURVE is mocked: every failure below is the one a
 * user would meet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <zmq.h>

#include "keys.h"
#include "session.h"
#include "wire.h"

#define STALE_REQ_ID 7u /* the req_id of an answer nobody waits for */

typedef struct mini_hub {
    rk_identity_t *id;
    const rk_identity_t *admitted; /* the one key ZAP lets in */
    void *ctx, *router, *zap;
    char endpoint[128];
    pthread_t thread;
    atomic_bool stop;
    atomic_int hellos;
} mini_hub;

typedef struct fixture {
    mini_hub hub;
    rk_identity_t *auditor, *stranger, *other_hub;
} fixture;

/* ------------------------------------------------------------------ mini hub */

static void hub_send(mini_hub *h, const zmq_msg_t *rid, const rk_hub_frame_t *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(rk_hub_frame_encode(f, &buf, &len), RK_WIRE_OK);
    zmq_send(h->router, zmq_msg_data((zmq_msg_t *)rid), zmq_msg_size((zmq_msg_t *)rid), ZMQ_SNDMORE);
    zmq_send(h->router, buf, len, 0);
    free(buf);
}

/* ZAP (RFC 27): admits h->admitted's curve key as its organization name. */
static void hub_zap(mini_hub *h)
{
    char frames[7][256];
    size_t lens[7];
    int n = 0, more = 1;
    size_t ml = sizeof more;
    bool ok;

    while (more && n < 7) {
        int r = zmq_recv(h->zap, frames[n], sizeof frames[n], 0);
        lens[n] = r < 0 ? 0 : (size_t)r;
        n++;
        zmq_getsockopt(h->zap, ZMQ_RCVMORE, &more, &ml);
    }
    ok = n >= 7 && lens[6] == RK_KEY_LEN && memcmp(frames[6], h->admitted->pub.curve_pk, RK_KEY_LEN) == 0;
    zmq_send(h->zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(h->zap, frames[1], lens[1], ZMQ_SNDMORE);
    zmq_send(h->zap, ok ? "200" : "400", 3, ZMQ_SNDMORE);
    zmq_send(h->zap, ok ? "OK" : "not registered", ok ? 2 : 14, ZMQ_SNDMORE);
    zmq_send(h->zap, ok ? h->admitted->pub.name : "", ok ? strlen(h->admitted->pub.name) : 0, ZMQ_SNDMORE);
    zmq_send(h->zap, "", 0, 0);
}

static void hub_on_frame(mini_hub *h, const zmq_msg_t *rid, const uint8_t *buf, size_t len, const char *user)
{
    rk_client_frame_t cf;
    rk_hub_frame_t f;

    if (rk_client_frame_decode(buf, len, &cf, NULL, 0) != RK_WIRE_OK)
        return;
    memset(&f, 0, sizeof f);
    if (cf.kind == RK_CF_HELLO) {
        atomic_fetch_add(&h->hellos, 1);
        f.kind = RK_HF_WELCOME;
        snprintf(f.u.welcome.org, sizeof f.u.welcome.org, "%s", user);
        snprintf(f.u.welcome.kind, sizeof f.u.welcome.kind, "auditor");
        f.u.welcome.hub_time_ms = 1234567;
        f.u.welcome.max_payload = 65536;
        hub_send(h, rid, &f);
    } else if (cf.kind == RK_CF_CHECKPOINT) {
        /* Three frames that are not the answer, then the answer. */
        f.kind = RK_HF_RESULT;
        f.u.result.has_msg_id = true;
        memset(f.u.result.msg_id, 0x11, RK_MSGID_LEN);
        f.u.result.status = RK_ST_ACCEPTED;
        f.u.result.seq = 1;
        hub_send(h, rid, &f);
        memset(&f, 0, sizeof f);
        f.kind = RK_HF_NOTICE;
        f.u.notice.seq = 2;
        memset(f.u.notice.msg_id, 0x22, RK_MSGID_LEN);
        f.u.notice.status = RK_ST_DELIVERED;
        snprintf(f.u.notice.peer, sizeof f.u.notice.peer, "power");
        hub_send(h, rid, &f);
        memset(&f, 0, sizeof f);
        f.kind = RK_HF_CHECKPOINT;
        f.u.checkpoint.req_id = cf.u.checkpoint.req_id == STALE_REQ_ID ? STALE_REQ_ID + 1 : STALE_REQ_ID;
        f.u.checkpoint.status = RK_ST_ACCEPTED;
        f.u.checkpoint.note = (char *)"stale";
        hub_send(h, rid, &f);
        f.u.checkpoint.req_id = cf.u.checkpoint.req_id;
        f.u.checkpoint.note = (char *)"the answer";
        hub_send(h, rid, &f);
    }
    rk_client_frame_clear(&cf);
}

static void *hub_main(void *arg)
{
    mini_hub *h = arg;
    while (!atomic_load(&h->stop)) {
        zmq_pollitem_t items[2] = {{h->router, 0, ZMQ_POLLIN, 0}, {h->zap, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, 20) <= 0)
            continue;
        if (items[1].revents & ZMQ_POLLIN)
            hub_zap(h);
        if (items[0].revents & ZMQ_POLLIN) {
            zmq_msg_t rid, body;
            zmq_msg_init(&rid);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&rid, h->router, 0) >= 0 && zmq_msg_recv(&body, h->router, 0) >= 0) {
                const char *user = zmq_msg_gets(&body, "User-Id");
                hub_on_frame(h, &rid, zmq_msg_data(&body), zmq_msg_size(&body), user ? user : "");
            }
            zmq_msg_close(&rid);
            zmq_msg_close(&body);
        }
    }
    return NULL;
}

static void hub_start(mini_hub *h)
{
    int one = 1;
    size_t len = sizeof h->endpoint;
    h->ctx = zmq_ctx_new();
    h->zap = zmq_socket(h->ctx, ZMQ_REP);
    assert_int_equal(zmq_bind(h->zap, "inproc://zeromq.zap.01"), 0);
    h->router = zmq_socket(h->ctx, ZMQ_ROUTER);
    assert_int_equal(zmq_setsockopt(h->router, ZMQ_CURVE_SERVER, &one, sizeof one), 0);
    assert_int_equal(zmq_setsockopt(h->router, ZMQ_CURVE_SECRETKEY, h->id->curve_sk, RK_KEY_LEN), 0);
    assert_int_equal(zmq_bind(h->router, "tcp://127.0.0.1:*"), 0);
    assert_int_equal(zmq_getsockopt(h->router, ZMQ_LAST_ENDPOINT, h->endpoint, &len), 0);
    assert_int_equal(pthread_create(&h->thread, NULL, hub_main, h), 0);
}

static void hub_stop(mini_hub *h)
{
    int zero = 0;
    if (h->ctx == NULL)
        return;
    atomic_store(&h->stop, true);
    pthread_join(h->thread, NULL);
    zmq_setsockopt(h->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(h->router);
    zmq_close(h->zap);
    zmq_ctx_term(h->ctx);
    h->ctx = NULL;
}

/* ------------------------------------------------------------------ fixture */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL || sodium_init() < 0)
        return -1;
    f->hub.id = rk_identity_generate("hub");
    f->auditor = rk_identity_generate("auditor.one");
    f->stranger = rk_identity_generate("stranger");
    f->other_hub = rk_identity_generate("hub");
    if (!f->hub.id || !f->auditor || !f->stranger || !f->other_hub)
        return -1;
    f->hub.admitted = f->auditor;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hub_stop(&f->hub);
    rk_identity_destroy(&f->hub.id);
    rk_identity_destroy(&f->auditor);
    rk_identity_destroy(&f->stranger);
    rk_identity_destroy(&f->other_hub);
    free(f);
    return 0;
}

static rk_session_opts opts_of(int timeout_ms)
{
    rk_session_opts o;
    memset(&o, 0, sizeof o);
    o.timeout_ms = timeout_ms;
    o.key_path = "keys/auditor.one.key";
    o.hub_path = "keys/hub.pub";
    return o;
}

/* Opens a session as `id` to endpoint with hub key `hub` and says hello. */
static rk_session_err open_and_greet(const char *endpoint, const rk_identity_t *hub, const rk_identity_t *id,
                                     int timeout_ms, rk_session_t **s, char *why, size_t why_len)
{
    rk_session_opts o = opts_of(timeout_ms);
    rk_session_err err = rk_session_open(endpoint, &hub->pub, id, &o, s, why, why_len);
    if (err != RK_SESSION_OK)
        return err;
    return rk_session_hello(*s, timeout_ms, NULL, NULL, why, why_len);
}

/* ------------------------------------------------------------------ tests */

/* A registered key is welcomed: the session knows who the hub says it is. */
static void test_welcome(void **state)
{
    fixture *f = *state;
    rk_session_t *s = NULL;
    char why[512] = "";
    const rk_session_welcome *w;

    hub_start(&f->hub);
    if (open_and_greet(f->hub.endpoint, f->hub.id, f->auditor, 5000, &s, why, sizeof why) != RK_SESSION_OK)
        fail_msg("hello failed: %s", why);
    w = rk_session_welcomed(s);
    assert_string_equal(w->org, "auditor.one");
    assert_string_equal(w->kind, "auditor");
    assert_int_equal(w->hub_time_ms, 1234567);
    assert_int_equal(w->max_payload, 65536);
    assert_true(rk_session_online(s));
    assert_non_null(rk_session_socket(s));
    rk_session_close(&s, false);
    assert_null(s);
}

/* The wrong hub public key: the handshake error, naming the key file. */
static void test_wrong_hub_key(void **state)
{
    fixture *f = *state;
    rk_session_t *s = NULL;
    char why[512] = "";

    hub_start(&f->hub);
    assert_int_equal(open_and_greet(f->hub.endpoint, f->other_hub, f->auditor, 3000, &s, why, sizeof why),
                     RK_SESSION_EHANDSHAKE);
    assert_non_null(strstr(why, "the secure handshake with the hub at tcp://127.0.0.1:"));
    assert_non_null(strstr(why, "is --hub-key (keys/hub.pub) the hub's public key?"));
    assert_int_equal(atomic_load(&f->hub.hellos), 0);
    rk_session_close(&s, true);
}

/* A key the hub's ZAP handler does not know: "key refused". */
static void test_key_refused(void **state)
{
    fixture *f = *state;
    rk_session_t *s = NULL;
    char why[512] = "";

    hub_start(&f->hub);
    assert_int_equal(open_and_greet(f->hub.endpoint, f->hub.id, f->stranger, 3000, &s, why, sizeof why),
                     RK_SESSION_EKEYREFUSED);
    assert_non_null(strstr(why, "the hub refused this key: organization not registered or suspended"));
    assert_non_null(strstr(why, "keys/auditor.one.key"));
    assert_int_equal(atomic_load(&f->hub.hellos), 0);
    rk_session_close(&s, true);
}

/* Nobody listens at the endpoint: "no answer" once the time is up. */
static void test_no_hub(void **state)
{
    fixture *f = *state;
    rk_session_t *s = NULL;
    char why[512] = "", endpoint[128];
    size_t len = sizeof endpoint;
    void *ctx = zmq_ctx_new();
    void *probe = zmq_socket(ctx, ZMQ_ROUTER);

    /* A loopback port that was free a moment ago and is closed again. */
    assert_int_equal(zmq_bind(probe, "tcp://127.0.0.1:*"), 0);
    assert_int_equal(zmq_getsockopt(probe, ZMQ_LAST_ENDPOINT, endpoint, &len), 0);
    zmq_close(probe);
    zmq_ctx_term(ctx);

    assert_int_equal(open_and_greet(endpoint, f->hub.id, f->auditor, 500, &s, why, sizeof why),
                     RK_SESSION_ENOANSWER);
    assert_non_null(strstr(why, "no answer from the hub at tcp://127.0.0.1:"));
    assert_non_null(strstr(why, "within 0.5 s: is renkei-hub running there?"));
    rk_session_close(&s, true);
}

/* An endpoint ZeroMQ cannot parse is refused at open, with the form expected. */
static void test_bad_endpoint(void **state)
{
    fixture *f = *state;
    rk_session_t *s = NULL;
    char why[512] = "";
    rk_session_opts o = opts_of(500);

    assert_int_equal(rk_session_open("nonsense", &f->hub.id->pub, f->auditor, &o, &s, why, sizeof why),
                     RK_SESSION_EINVAL);
    assert_null(s);
    assert_non_null(strstr(why, "expected e.g. tcp://127.0.0.1:7750"));
}

typedef struct seen {
    rk_hf_kind kinds[8];
    size_t n;
    bool fail_on_notice;
} seen;

static rk_session_err note_frame(void *arg, rk_hub_frame_t *fr, char *why, size_t why_len)
{
    seen *sn = arg;
    rk_hf_kind kind = fr->kind;
    if (sn->n < 8)
        sn->kinds[sn->n++] = kind;
    rk_hub_frame_clear(fr);
    if (sn->fail_on_notice && kind == RK_HF_NOTICE) {
        snprintf(why, why_len, "the caller stopped at a notice");
        return RK_SESSION_EPROTO;
    }
    return RK_SESSION_OK;
}

/* A request gets the answer with its own req_id; a result, a notice and
 * an answer to another request that arrive first reach the hook, in
 * order, and none of them is taken for the answer. */
static void test_request_matching(void **state)
{
    fixture *f = *state;
    rk_session_t *s = NULL;
    char why[512] = "";
    rk_client_frame_t req;
    rk_hub_frame_t answer;
    seen sn;

    hub_start(&f->hub);
    if (open_and_greet(f->hub.endpoint, f->hub.id, f->auditor, 5000, &s, why, sizeof why) != RK_SESSION_OK)
        fail_msg("hello failed: %s", why);
    memset(&sn, 0, sizeof sn);
    memset(&req, 0, sizeof req);
    req.kind = RK_CF_CHECKPOINT;
    if (rk_session_request(s, &req, 5000, note_frame, &sn, &answer, why, sizeof why) != RK_SESSION_OK)
        fail_msg("request failed: %s", why);
    assert_int_equal(answer.kind, RK_HF_CHECKPOINT);
    assert_int_equal(answer.u.checkpoint.req_id, req.u.checkpoint.req_id);
    assert_string_equal(answer.u.checkpoint.note, "the answer");
    rk_hub_frame_clear(&answer);
    assert_int_equal(sn.n, 3);
    assert_int_equal(sn.kinds[0], RK_HF_RESULT);
    assert_int_equal(sn.kinds[1], RK_HF_NOTICE);
    assert_int_equal(sn.kinds[2], RK_HF_CHECKPOINT);

    /* A hook's error ends the request with that error and its sentence. */
    memset(&sn, 0, sizeof sn);
    sn.fail_on_notice = true;
    memset(&req, 0, sizeof req);
    req.kind = RK_CF_CHECKPOINT;
    assert_int_equal(rk_session_request(s, &req, 5000, note_frame, &sn, &answer, why, sizeof why),
                     RK_SESSION_EPROTO);
    assert_string_equal(why, "the caller stopped at a notice");
    assert_int_equal(answer.kind, RK_HF_NONE);

    /* A frame that answers nothing by req_id is not a request. */
    memset(&req, 0, sizeof req);
    req.kind = RK_CF_HELLO;
    assert_int_equal(rk_session_request(s, &req, 500, NULL, NULL, &answer, why, sizeof why),
                     RK_SESSION_EINVAL);
    rk_session_close(&s, false);
}

/* With nothing sent, a receive times out; what the hub sends is decoded. */
static void test_recv_timeout(void **state)
{
    fixture *f = *state;
    rk_session_t *s = NULL;
    char why[512] = "";
    rk_hub_frame_t fr;

    hub_start(&f->hub);
    if (open_and_greet(f->hub.endpoint, f->hub.id, f->auditor, 5000, &s, why, sizeof why) != RK_SESSION_OK)
        fail_msg("hello failed: %s", why);
    assert_int_equal(rk_session_recv(s, 200, &fr, why, sizeof why), RK_SESSION_ETIMEOUT);
    rk_session_close(&s, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_welcome, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_hub_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_hub, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_matching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recv_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
