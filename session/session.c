/*
 * session.c - one client connection to the hub, speaking its protocol.
 */
#include "session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "clock.h"
#include "why.h"

#define RK_ZMQ_ZERO_COPY_RECV 10 /* a context option of libzmq >= 4.3 (ZMQ_ZERO_COPY_RECV, draft API) */
#define WAIT_CAP_MS 3600000      /* one zmq_poll waits at most an hour, then looks again */

typedef enum hs_state { HS_PENDING = 0, HS_UP, HS_AUTH_FAILED, HS_FAILED } hs_state;

struct rk_session {
    void *ctx;
    bool own_ctx;
    void *sock;
    void *mon;
    char mon_ep[64];
    char endpoint[256];
    char key_path[256];
    char hub_path[256];
    int timeout_ms;
    bool receive;
    void (*notice)(void *arg, const char *text);
    void *notice_arg;

    hs_state hs;
    bool welcomed;      /* a welcome came on some connection of this session */
    bool lost;          /* the connection dropped after the welcome */
    bool refusal_noted; /* a failed reconnect was already reported */
    bool key_refused;   /* the last reconnect's key was refused (after a welcome) */
    bool reconnect_failing; /* since the loss, a new connection failed its handshake */
    rk_session_welcome welcome;
    uint64_t next_req;
};

typedef rk_session_err (*frame_hook)(void *arg, rk_hub_frame_t *f, char *why, size_t why_len);

const char *rk_session_strerror(rk_session_err err)
{
    switch (err) {
    case RK_SESSION_OK: return "ok";
    case RK_SESSION_EINVAL: return "invalid argument";
    case RK_SESSION_ENOMEM: return "out of memory";
    case RK_SESSION_EZMQ: return "ZeroMQ failure";
    case RK_SESSION_EINTR: return "interrupted";
    case RK_SESSION_ETIMEOUT: return "timed out";
    case RK_SESSION_ENOANSWER: return "no answer from the hub";
    case RK_SESSION_EKEYREFUSED: return "the hub refused this key";
    case RK_SESSION_EHANDSHAKE: return "secure handshake with the hub failed";
    case RK_SESSION_EPROTO: return "unexpected answer from the hub";
    }
    return "unknown session error";
}

static void notice(rk_session_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(rk_session_t *s, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    if (s->notice == NULL)
        return;
    va_start(ap, fmt);
    rk_vwhy(text, sizeof text, fmt, ap);
    va_end(ap);
    s->notice(s->notice_arg, text);
}

/* Milliseconds left until deadline (UINT64_MAX: forever -> -1). */
static int remaining(uint64_t deadline)
{
    uint64_t now;
    if (deadline == UINT64_MAX)
        return -1;
    now = rk_mono_ms();
    if (now >= deadline)
        return 0;
    return deadline - now > WAIT_CAP_MS ? WAIT_CAP_MS : (int)(deadline - now);
}

static uint64_t deadline_in(int timeout_ms)
{
    return timeout_ms < 0 ? UINT64_MAX : rk_mono_ms() + (uint64_t)timeout_ms;
}

const rk_session_welcome *rk_session_welcomed(const rk_session_t *s)
{
    return &s->welcome;
}
bool rk_session_online(const rk_session_t *s)
{
    return s->welcomed && !s->lost;
}
bool rk_session_key_refused(const rk_session_t *s)
{
    return s->key_refused;
}

bool rk_session_reconnect_failing(const rk_session_t *s)
{
    return s->welcomed && s->lost && s->reconnect_failing;
}

const char *rk_session_endpoint(const rk_session_t *s)
{
    return s->endpoint;
}
void *rk_session_socket(const rk_session_t *s)
{
    return s->sock;
}

/* ------------------------------------------------------------------ open/close */

void rk_session_close(rk_session_t **sp, bool discard)
{
    rk_session_t *s;
    if (sp == NULL || *sp == NULL)
        return;
    s = *sp;
    if (s->sock != NULL) {
        if (discard) {
            int zero = 0;
            (void)zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof zero);
        }
        (void)zmq_socket_monitor(s->sock, NULL, 0);
        zmq_close(s->sock);
    }
    if (s->mon != NULL)
        zmq_close(s->mon);
    if (s->own_ctx && s->ctx != NULL)
        zmq_ctx_term(s->ctx);
    sodium_memzero(s, sizeof *s);
    free(s);
    *sp = NULL;
}

static rk_session_err zmq_fail(const char *what, char *why, size_t why_len)
{
    int e = zmq_errno();
    rk_why(why, why_len, "%s failed: %s", what, zmq_strerror(e));
    return e == ENOMEM ? RK_SESSION_ENOMEM : RK_SESSION_EZMQ;
}

static rk_session_err set_sockopts(rk_session_t *s, const rk_pubkey_t *hub, const rk_identity_t *id,
                                   const rk_session_opts *o, char *why, size_t why_len)
{
    int linger = o->linger_ms > 0 ? o->linger_ms : 0;
    int64_t maxmsg = (int64_t)RK_FRAME_CEILING;

    if (zmq_setsockopt(s->sock, ZMQ_CURVE_SERVERKEY, hub->curve_pk, RK_KEY_LEN) != 0 ||
        zmq_setsockopt(s->sock, ZMQ_CURVE_PUBLICKEY, id->pub.curve_pk, RK_KEY_LEN) != 0 ||
        zmq_setsockopt(s->sock, ZMQ_CURVE_SECRETKEY, id->curve_sk, RK_KEY_LEN) != 0 ||
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(s->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0)
        return zmq_fail("setting up the hub connection", why, why_len);
    if (o->timeout_ms > 0 &&
        (zmq_setsockopt(s->sock, ZMQ_SNDTIMEO, &o->timeout_ms, sizeof o->timeout_ms) != 0 ||
         zmq_setsockopt(s->sock, ZMQ_HANDSHAKE_IVL, &o->timeout_ms, sizeof o->timeout_ms) != 0))
        return zmq_fail("setting up the hub connection", why, why_len);
    if (o->hwm > 0 && (zmq_setsockopt(s->sock, ZMQ_SNDHWM, &o->hwm, sizeof o->hwm) != 0 ||
                       zmq_setsockopt(s->sock, ZMQ_RCVHWM, &o->hwm, sizeof o->hwm) != 0))
        return zmq_fail("setting up the hub connection", why, why_len);
    if (o->reconnect_ivl_ms > 0 &&
        zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL, &o->reconnect_ivl_ms, sizeof o->reconnect_ivl_ms) != 0)
        return zmq_fail("setting up the hub connection", why, why_len);
    if (o->reconnect_max_ms > 0 &&
        zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL_MAX, &o->reconnect_max_ms, sizeof o->reconnect_max_ms) != 0)
        return zmq_fail("setting up the hub connection", why, why_len);
    if (o->routing_id != NULL &&
        zmq_setsockopt(s->sock, ZMQ_ROUTING_ID, o->routing_id, strlen(o->routing_id)) != 0)
        return zmq_fail("setting the routing id", why, why_len);
    return RK_SESSION_OK;
}

rk_session_err rk_session_open(const char *endpoint, const rk_pubkey_t *hub, const rk_identity_t *id,
                               const rk_session_opts *opts, rk_session_t **out, char *why, size_t why_len)
{
    static const rk_session_opts defaults;
    const rk_session_opts *o = opts != NULL ? opts : &defaults;
    rk_session_t *s;
    rk_session_err err;

    *out = NULL;
    if (endpoint == NULL || hub == NULL || id == NULL) {
        rk_why(why, why_len,
               "connecting needs the hub's endpoint, its public key and this organization's key");
        return RK_SESSION_EINVAL;
    }
    if (sodium_init() < 0) {
        rk_why(why, why_len, "libsodium could not be initialised");
        return RK_SESSION_EZMQ;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        rk_why(why, why_len, "out of memory connecting to the hub");
        return RK_SESSION_ENOMEM;
    }
    snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
    snprintf(s->key_path, sizeof s->key_path, "%s", o->key_path != NULL ? o->key_path : "");
    snprintf(s->hub_path, sizeof s->hub_path, "%s", o->hub_path != NULL ? o->hub_path : "");
    s->timeout_ms = o->timeout_ms;
    s->receive = o->receive;
    s->notice = o->notice;
    s->notice_arg = o->notice_arg;
    s->hs = HS_PENDING;
    randombytes_buf(&s->next_req, sizeof s->next_req);
    s->next_req = (s->next_req >> 16) + 1;

    if (o->zmq_ctx != NULL) {
        s->ctx = o->zmq_ctx;
    } else {
        s->ctx = zmq_ctx_new();
        s->own_ctx = true;
        if (s->ctx == NULL) {
            err = zmq_fail("creating the ZeroMQ context", why, why_len);
            goto fail;
        }
        /* Each frame in a block of its own, wiped and freed once read: by
         * default ZeroMQ decrypts frames inside its long-lived receive buffer. */
        if (zmq_ctx_set(s->ctx, RK_ZMQ_ZERO_COPY_RECV, 0) != 0)
            notice(s, "ZeroMQ keeps received frames in its receive buffer: %s", zmq_strerror(zmq_errno()));
    }
    s->sock = zmq_socket(s->ctx, ZMQ_DEALER);
    if (s->sock == NULL) {
        err = zmq_fail("creating the hub socket", why, why_len);
        goto fail;
    }
    if ((err = set_sockopts(s, hub, id, o, why, why_len)) != RK_SESSION_OK)
        goto fail;
    snprintf(s->mon_ep, sizeof s->mon_ep, "inproc://renkei-session-monitor-%p", (void *)s);
    if (zmq_socket_monitor(s->sock, s->mon_ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_DISCONNECTED) != 0) {
        err = zmq_fail("monitoring the hub socket", why, why_len);
        goto fail;
    }
    s->mon = zmq_socket(s->ctx, ZMQ_PAIR);
    if (s->mon == NULL) {
        err = zmq_fail("creating the monitor socket", why, why_len);
        goto fail;
    }
    if (zmq_connect(s->mon, s->mon_ep) != 0) {
        err = zmq_fail("connecting the monitor socket", why, why_len);
        goto fail;
    }
    if (zmq_connect(s->sock, s->endpoint) != 0) {
        rk_why(why, why_len,
               "cannot connect to the hub endpoint \"%s\": %s (expected e.g. tcp://127.0.0.1:7750)",
               s->endpoint, zmq_strerror(zmq_errno()));
        err = RK_SESSION_EINVAL;
        goto fail;
    }
    *out = s;
    return RK_SESSION_OK;
fail:
    rk_session_close(&s, true);
    return err;
}

/* ------------------------------------------------------------------ sending */

/* Frees a frame ZeroMQ has encrypted and sent (or dropped), wiped first:
 * it holds a link code and an envelope in the clear.  hint: its length. */
static void wipe_sent(void *data, void *hint)
{
    sodium_memzero(data, (size_t)(uintptr_t)hint);
    free(data);
}

rk_session_err rk_session_send_bytes(rk_session_t *s, const uint8_t *buf, size_t len, bool nowait, char *why,
                                     size_t why_len)
{
    zmq_msg_t msg;
    void *copy = malloc(len > 0 ? len : 1);
    int e;

    if (copy == NULL) {
        rk_why(why, why_len, "out of memory sending to the hub");
        return RK_SESSION_ENOMEM;
    }
    if (len > 0)
        memcpy(copy, buf, len);
    if (zmq_msg_init_data(&msg, copy, len, wipe_sent, (void *)(uintptr_t)len) != 0) {
        wipe_sent(copy, (void *)(uintptr_t)len);
        rk_why(why, why_len, "out of memory sending to the hub");
        return RK_SESSION_ENOMEM;
    }
    if (zmq_msg_send(&msg, s->sock, nowait ? ZMQ_DONTWAIT : 0) >= 0)
        return RK_SESSION_OK;
    e = zmq_errno();
    zmq_msg_close(&msg); /* wipes the copy */
    if (e == EAGAIN) {
        rk_why(why, why_len, "could not hand the request to the hub at %s within %g s", s->endpoint,
               s->timeout_ms / 1000.0);
        return RK_SESSION_ETIMEOUT;
    }
    rk_why(why, why_len, "sending to the hub failed: %s", zmq_strerror(e));
    return RK_SESSION_EZMQ;
}

rk_session_err rk_session_send(rk_session_t *s, const rk_client_frame_t *f, char *why, size_t why_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    rk_wire_err werr = rk_client_frame_encode(f, &buf, &len);
    rk_session_err err;

    if (werr != RK_WIRE_OK) {
        rk_why(why, why_len, "cannot encode the request: %s", rk_wire_strerror(werr));
        return werr == RK_WIRE_ENOMEM ? RK_SESSION_ENOMEM : RK_SESSION_EINVAL;
    }
    err = rk_session_send_bytes(s, buf, len, false, why, why_len);
    sodium_memzero(buf, len);
    free(buf);
    return err;
}

static rk_session_err send_hello(rk_session_t *s, char *why, size_t why_len)
{
    rk_client_frame_t f;
    memset(&f, 0, sizeof f);
    f.kind = RK_CF_HELLO;
    f.u.hello.receive = s->receive;
    return rk_session_send(s, &f, why, why_len);
}

/* ------------------------------------------------------------------ monitor */

static void on_monitor_event(rk_session_t *s, uint16_t event, uint32_t value)
{
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        s->hs = HS_UP;
        s->refusal_noted = false;
        s->key_refused = false;
        s->reconnect_failing = false;
        if (s->lost) {
            /* A new connection: the hub needs a hello before anything else. */
            char why[256] = "";
            s->lost = false;
            if (send_hello(s, why, sizeof why) != RK_SESSION_OK)
                notice(s, "could not greet the hub: %s", why);
            notice(s, "connection to the hub at %s is back", s->endpoint);
        }
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        if (s->welcomed)
            s->key_refused = true;
        if (!s->welcomed)
            s->hs = HS_AUTH_FAILED;
        else if (!s->refusal_noted) {
            /* Said once per outage: ZeroMQ keeps retrying with back-off. */
            s->refusal_noted = true;
            notice(s,
                   "the hub refused this key when reconnecting (status %u): organization "
                   "suspended or key replaced? still retrying",
                   (unsigned)value);
        }
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        if (!s->welcomed) {
            if (s->hs == HS_PENDING)
                s->hs = HS_FAILED;
        } else {
            s->reconnect_failing = true;
            if (!s->refusal_noted) {
                s->refusal_noted = true;
                notice(s, "secure handshake with the hub failed when reconnecting (wrong hub key?); still "
                          "retrying");
            }
        }
        break;
    case ZMQ_EVENT_DISCONNECTED:
        if (s->welcomed && !s->lost) {
            s->lost = true;
            notice(s, "lost the connection to the hub at %s; reconnecting", s->endpoint);
        } else if (s->welcomed) {
            /* A new connection dropped before its handshake succeeded:
             * what a hub with another key looks like. */
            s->reconnect_failing = true;
        } else if (!s->welcomed && s->hs == HS_PENDING) {
            /* Dropped during the handshake: the hub could not read our
             * hello, which is what a wrong server key looks like. */
            s->hs = HS_FAILED;
        }
        break;
    default: break;
    }
}

void rk_session_events(rk_session_t *s)
{
    for (;;) {
        uint8_t head[6];
        char addr[256];
        int more = 0;
        size_t more_len = sizeof more;
        uint16_t event;
        uint32_t value;
        int n = zmq_recv(s->mon, head, sizeof head, ZMQ_DONTWAIT);
        if (n < 0)
            return;
        if (zmq_getsockopt(s->mon, ZMQ_RCVMORE, &more, &more_len) == 0 && more)
            (void)zmq_recv(s->mon, addr, sizeof addr, 0);
        if (n < 6)
            continue;
        memcpy(&event, head, 2);
        memcpy(&value, head + 2, 4);
        on_monitor_event(s, event, value);
    }
}

/* ------------------------------------------------------------------ receiving */

rk_session_err rk_session_poll(rk_session_t *s, int timeout_ms, char *why, size_t why_len)
{
    zmq_pollitem_t items[2];
    int rc;

    memset(items, 0, sizeof items);
    items[0].socket = s->sock;
    items[0].events = ZMQ_POLLIN;
    items[1].socket = s->mon;
    items[1].events = ZMQ_POLLIN;
    rc = zmq_poll(items, 2, timeout_ms);
    if (rc < 0) {
        if (zmq_errno() == EINTR) {
            rk_why(why, why_len, "interrupted");
            return RK_SESSION_EINTR;
        }
        rk_why(why, why_len, "waiting for the hub failed: %s", zmq_strerror(zmq_errno()));
        return RK_SESSION_EZMQ;
    }
    if (rc == 0)
        return RK_SESSION_ETIMEOUT;
    if (items[1].revents & ZMQ_POLLIN)
        rk_session_events(s);
    return RK_SESSION_OK;
}

/* Reads one waiting frame without waiting.  ETIMEOUT: none there. */
static rk_session_err read_one(rk_session_t *s, rk_hub_frame_t *f, char *why, size_t why_len)
{
    zmq_msg_t msg;
    char detail[RK_DETAIL_MAX + 1] = "";
    rk_wire_err werr;
    int more = 0;
    size_t more_len = sizeof more;

    memset(f, 0, sizeof *f);
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, s->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return RK_SESSION_ETIMEOUT; /* nothing (more) */
    }
    if (zmq_getsockopt(s->sock, ZMQ_RCVMORE, &more, &more_len) == 0 && more) {
        /* The protocol uses single frames: drop the whole message. */
        sodium_memzero(zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
        do {
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, s->sock, 0) < 0)
                more = 0;
            else if (zmq_getsockopt(s->sock, ZMQ_RCVMORE, &more, &more_len) != 0)
                more = 0;
            sodium_memzero(zmq_msg_data(&msg), zmq_msg_size(&msg));
            zmq_msg_close(&msg);
        } while (more);
        rk_why(why, why_len, "the hub sent a multi-part message");
        return RK_SESSION_EPROTO;
    }
    werr = rk_hub_frame_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), f, detail, sizeof detail);
    sodium_memzero(zmq_msg_data(&msg), zmq_msg_size(&msg)); /* a code, an envelope, in the clear */
    zmq_msg_close(&msg);
    if (werr == RK_WIRE_ENOMEM) {
        rk_why(why, why_len, "out of memory reading from the hub");
        return RK_SESSION_ENOMEM;
    }
    if (werr != RK_WIRE_OK) {
        rk_why(why, why_len, "the hub sent a frame that cannot be read: %s",
               detail[0] ? detail : rk_wire_strerror(werr));
        return RK_SESSION_EPROTO;
    }
    if (f->kind == RK_HF_WELCOME) {
        snprintf(s->welcome.org, sizeof s->welcome.org, "%s", f->u.welcome.org);
        snprintf(s->welcome.kind, sizeof s->welcome.kind, "%s", f->u.welcome.kind);
        s->welcome.hub_time_ms = f->u.welcome.hub_time_ms;
        s->welcome.max_payload = f->u.welcome.max_payload;
        s->welcome.has_hub_key = f->u.welcome.has_hub_key;
        s->welcome.hub_key = f->u.welcome.hub_key;
        s->welcome.restored_at = f->u.welcome.restored_at;
        s->welcome.restored_backup_ms = f->u.welcome.restored_backup_ms;
        s->welcomed = true;
    }
    return RK_SESSION_OK;
}

rk_session_err rk_session_recv(rk_session_t *s, int timeout_ms, rk_hub_frame_t *f, char *why, size_t why_len)
{
    uint64_t deadline = deadline_in(timeout_ms);
    for (;;) {
        rk_session_err err = read_one(s, f, why, why_len);
        int left;
        if (err != RK_SESSION_ETIMEOUT)
            return err;
        left = remaining(deadline);
        if (left == 0) {
            rk_why(why, why_len, "nothing from the hub at %s within %g s", s->endpoint, timeout_ms / 1000.0);
            return RK_SESSION_ETIMEOUT;
        }
        err = rk_session_poll(s, left, why, why_len);
        if (err != RK_SESSION_OK && err != RK_SESSION_ETIMEOUT)
            return err;
    }
}

/* ------------------------------------------------------------------ hello */

/* Hands f to hook, or drops it. */
static rk_session_err to_hook(frame_hook hook, void *arg, rk_hub_frame_t *f, char *why, size_t why_len)
{
    if (hook == NULL) {
        rk_hub_frame_clear(f);
        return RK_SESSION_OK;
    }
    return hook(arg, f, why, why_len);
}

rk_session_err rk_session_hello(rk_session_t *s, int timeout_ms, frame_hook hook, void *hook_arg, char *why,
                                size_t why_len)
{
    uint64_t deadline = deadline_in(timeout_ms);
    char inner[256] = "";
    rk_session_err err;

    if ((err = send_hello(s, inner, sizeof inner)) != RK_SESSION_OK) {
        rk_why(why, why_len, "could not greet the hub: %s", inner);
        return err;
    }
    for (;;) {
        rk_hub_frame_t f;
        int left;

        if (s->hs == HS_AUTH_FAILED) {
            rk_why(why, why_len, "the hub refused this key: organization not registered or suspended%s%s%s",
                   s->key_path[0] ? " (key file " : "", s->key_path, s->key_path[0] ? ")" : "");
            return RK_SESSION_EKEYREFUSED;
        }
        if (s->hs == HS_FAILED) {
            if (s->hub_path[0])
                rk_why(why, why_len,
                       "the secure handshake with the hub at %s failed (wrong hub key?): is --hub-key (%s) "
                       "the hub's public key?",
                       s->endpoint, s->hub_path);
            else
                rk_why(why, why_len,
                       "the secure handshake with the hub at %s failed (wrong hub key?): is the key given "
                       "the hub's public key?",
                       s->endpoint);
            return RK_SESSION_EHANDSHAKE;
        }
        /* Everything already there first: the welcome may be waiting. */
        while ((err = read_one(s, &f, inner, sizeof inner)) != RK_SESSION_ETIMEOUT) {
            if (err == RK_SESSION_EPROTO) {
                notice(s, "ignored a frame from the hub: %s", inner);
                continue;
            }
            if (err != RK_SESSION_OK) {
                rk_why(why, why_len, "%s", inner);
                return err;
            }
            if (f.kind == RK_HF_WELCOME) {
                rk_hub_frame_clear(&f);
                return RK_SESSION_OK;
            }
            if (f.kind == RK_HF_RESULT && !f.u.result.has_msg_id) {
                const rk_result_t *r = &f.u.result;
                rk_why(why, why_len, "the hub did not accept the greeting: %s: %s%s%s%s",
                       rk_status_name(r->status), rk_status_text(r->status), r->detail[0] ? " (" : "",
                       r->detail, r->detail[0] ? ")" : "");
                rk_hub_frame_clear(&f);
                return RK_SESSION_EPROTO;
            }
            if ((err = to_hook(hook, hook_arg, &f, why, why_len)) != RK_SESSION_OK)
                return err;
        }
        left = remaining(deadline);
        if (left == 0) {
            rk_why(why, why_len, "no answer from the hub at %s within %g s: is renkei-hub running there?",
                   s->endpoint, timeout_ms / 1000.0);
            return RK_SESSION_ENOANSWER;
        }
        err = rk_session_poll(s, left, why, why_len);
        if (err != RK_SESSION_OK && err != RK_SESSION_ETIMEOUT)
            return err;
    }
}

/* ------------------------------------------------------------------ requests */

static uint64_t *request_id(rk_client_frame_t *f)
{
    switch (f->kind) {
    case RK_CF_ENROLL: return &f->u.enroll.req_id;
    case RK_CF_DIRECTORY: return &f->u.directory.req_id;
    case RK_CF_LOG_READ: return &f->u.log_read.req_id;
    case RK_CF_CHECKPOINT: return &f->u.checkpoint.req_id;
    case RK_CF_PROOF: return &f->u.proof.req_id;
    case RK_CF_DISCLOSE: return &f->u.disclose.req_id;
    default: return NULL;
    }
}

/* The req_id an answer carries, 0 for frames that answer no request. */
static uint64_t answer_id(const rk_hub_frame_t *f)
{
    switch (f->kind) {
    case RK_HF_ENROLLED: return f->u.enrolled.req_id;
    case RK_HF_DIRECTORY: return f->u.directory.req_id;
    case RK_HF_LOG: return f->u.log.req_id;
    case RK_HF_CHECKPOINT: return f->u.checkpoint.req_id;
    case RK_HF_PROOF: return f->u.proof.req_id;
    default: return 0;
    }
}

rk_session_err rk_session_request(rk_session_t *s, rk_client_frame_t *req, int timeout_ms, frame_hook hook,
                                  void *hook_arg, rk_hub_frame_t *answer, char *why, size_t why_len)
{
    uint64_t *rid = request_id(req);
    uint64_t deadline;
    rk_session_err err;

    memset(answer, 0, sizeof *answer);
    if (rid == NULL) {
        rk_why(why, why_len, "not a request the hub answers by req_id");
        return RK_SESSION_EINVAL;
    }
    *rid = s->next_req++;
    if ((err = rk_session_send(s, req, why, why_len)) != RK_SESSION_OK)
        return err;
    deadline = deadline_in(timeout_ms);
    for (;;) {
        rk_hub_frame_t f;
        char inner[256] = "";
        int left;

        while ((err = read_one(s, &f, inner, sizeof inner)) != RK_SESSION_ETIMEOUT) {
            if (err == RK_SESSION_EPROTO) {
                notice(s, "ignored a frame from the hub: %s", inner);
                continue;
            }
            if (err != RK_SESSION_OK) {
                rk_why(why, why_len, "%s", inner);
                return err;
            }
            if (answer_id(&f) == *rid) {
                *answer = f;
                return RK_SESSION_OK;
            }
            if ((err = to_hook(hook, hook_arg, &f, why, why_len)) != RK_SESSION_OK)
                return err;
        }
        left = remaining(deadline);
        if (left == 0) {
            rk_why(why, why_len, "the hub at %s did not answer the request within %g s", s->endpoint,
                   timeout_ms / 1000.0);
            return RK_SESSION_ETIMEOUT;
        }
        err = rk_session_poll(s, left, why, why_len);
        if (err != RK_SESSION_OK && err != RK_SESSION_ETIMEOUT)
            return err;
    }
}
