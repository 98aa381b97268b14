/*
 * client.c - an auditor's read-only connection to the hub.
 */
#include "client.h"
#include "why.h"
#include "clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

typedef enum hs_state { HS_PENDING, HS_UP, HS_AUTH_FAILED, HS_FAILED } hs_state;

struct audit_client {
    void *ctx;
    void *sock;
    void *mon;
    rk_identity_t *id;
    rk_pubkey_t hub;
    char endpoint[256];
    char key_path[256];
    char hub_path[256];
    char org[RK_ID_MAX + 1];
    char kind[RK_KIND_MAX + 1];
    int timeout_ms;
    hs_state hs;
    uint64_t next_req;
};

const char *audit_client_strerror(audit_client_err err)
{
    switch (err) {
    case AUDIT_CLIENT_OK: return "ok";
    case AUDIT_CLIENT_EINVAL: return "invalid argument";
    case AUDIT_CLIENT_EKEYS: return "key file could not be used";
    case AUDIT_CLIENT_EZMQ: return "ZeroMQ failure";
    case AUDIT_CLIENT_ENOANSWER: return "no answer from the hub";
    case AUDIT_CLIENT_EKEYREFUSED: return "the hub refused this key";
    case AUDIT_CLIENT_EHANDSHAKE: return "secure handshake with the hub failed";
    case AUDIT_CLIENT_EPROTO: return "unexpected answer from the hub";
    case AUDIT_CLIENT_ENOMEM: return "out of memory";
    }
    return "unknown error";
}

static int left_ms(uint64_t deadline)
{
    uint64_t now = rk_mono_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

const char *audit_client_org(const audit_client_t *c) { return c->org; }
const char *audit_client_kind(const audit_client_t *c) { return c->kind; }
const rk_pubkey_t *audit_client_hub(const audit_client_t *c) { return &c->hub; }

void audit_client_destroy(audit_client_t **cp)
{
    audit_client_t *c;
    if (cp == NULL || *cp == NULL)
        return;
    c = *cp;
    if (c->sock != NULL) {
        (void)zmq_socket_monitor(c->sock, NULL, 0);
        zmq_close(c->sock);
    }
    if (c->mon != NULL)
        zmq_close(c->mon);
    if (c->ctx != NULL)
        zmq_ctx_term(c->ctx);
    rk_identity_destroy(&c->id);
    free(c);
    *cp = NULL;
}

/* Files every monitor event waiting on c->mon. */
static void drain_monitor(audit_client_t *c)
{
    for (;;) {
        uint8_t head[6];
        char addr[256];
        int more = 0;
        size_t more_len = sizeof more;
        uint16_t event;
        int n = zmq_recv(c->mon, head, sizeof head, ZMQ_DONTWAIT);
        if (n < 0)
            return;
        if (zmq_getsockopt(c->mon, ZMQ_RCVMORE, &more, &more_len) == 0 && more)
            (void)zmq_recv(c->mon, addr, sizeof addr, 0);
        if (n < 6)
            continue;
        memcpy(&event, head, 2);
        switch (event) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: c->hs = HS_UP; break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            if (c->hs != HS_UP)
                c->hs = HS_AUTH_FAILED;
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            if (c->hs == HS_PENDING)
                c->hs = HS_FAILED;
            break;
        case ZMQ_EVENT_DISCONNECTED:
            /* dropped during the handshake: the hub could not read our
             * hello, which is what a wrong server key looks like */
            if (c->hs == HS_PENDING)
                c->hs = HS_FAILED;
            break;
        default: break;
        }
    }
}

static audit_client_err send_frame(audit_client_t *c, const rk_client_frame_t *f, char *why, size_t why_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (rk_client_frame_encode(f, &buf, &len) != RK_WIRE_OK) {
        rk_why(why, why_len, "cannot encode the request (a field is out of range)");
        return AUDIT_CLIENT_EINVAL;
    }
    rc = zmq_send(c->sock, buf, len, 0);
    free(buf);
    if (rc != (int)len) {
        rk_why(why, why_len, "cannot send to the hub at %s: %s", c->endpoint, zmq_strerror(zmq_errno()));
        return AUDIT_CLIENT_ENOANSWER;
    }
    return AUDIT_CLIENT_OK;
}

/* Waits until deadline for one hub frame (decoded into f), turning
 * handshake failures into errors.  AUDIT_CLIENT_ENOANSWER on timeout. */
static audit_client_err recv_frame(audit_client_t *c, uint64_t deadline, rk_hub_frame_t *f, char *why,
                                   size_t why_len)
{
    memset(f, 0, sizeof *f);
    for (;;) {
        zmq_pollitem_t items[2] = {{c->sock, 0, ZMQ_POLLIN, 0}, {c->mon, 0, ZMQ_POLLIN, 0}};
        int left, rc;

        drain_monitor(c);
        if (c->hs == HS_AUTH_FAILED) {
            rk_why(why, why_len,
                   "the hub refused the key in %s: this organization is not registered at the hub or "
                   "is suspended; ask the hub's operator",
                   c->key_path);
            return AUDIT_CLIENT_EKEYREFUSED;
        }
        if (c->hs == HS_FAILED) {
            rk_why(why, why_len,
                   "the secure handshake with the hub at %s failed: is %s the hub's public key?", c->endpoint,
                   c->hub_path);
            return AUDIT_CLIENT_EHANDSHAKE;
        }
        left = left_ms(deadline);
        if (left == 0) {
            rk_why(why, why_len, "no answer from the hub at %s within %g s: is renkei-hub running there?",
                   c->endpoint, c->timeout_ms / 1000.0);
            return AUDIT_CLIENT_ENOANSWER;
        }
        rc = zmq_poll(items, 2, left);
        if (rc < 0 && zmq_errno() != EINTR) {
            rk_why(why, why_len, "waiting for the hub failed: %s", zmq_strerror(zmq_errno()));
            return AUDIT_CLIENT_EZMQ;
        }
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN)) {
            zmq_msg_t msg;
            char reason[256] = "";
            rk_wire_err werr;

            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&msg);
                continue;
            }
            werr = rk_hub_frame_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), f, reason, sizeof reason);
            zmq_msg_close(&msg);
            if (werr != RK_WIRE_OK) {
                rk_why(why, why_len, "the hub sent a frame this tool cannot read (%s: %s)",
                       rk_wire_strerror(werr), reason);
                return AUDIT_CLIENT_EPROTO;
            }
            return AUDIT_CLIENT_OK;
        }
    }
}

static audit_client_err setup_socket(audit_client_t *c, char *why, size_t why_len)
{
    int linger = 0;
    int64_t maxmsg = (int64_t)RK_FRAME_CEILING;
    int hs_ivl = c->timeout_ms;
    char mon_ep[64];

    c->ctx = zmq_ctx_new();
    if (c->ctx == NULL || (c->sock = zmq_socket(c->ctx, ZMQ_DEALER)) == NULL)
        goto zfail;
    if (zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->hub.curve_pk, RK_KEY_LEN) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->id->pub.curve_pk, RK_KEY_LEN) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->id->curve_sk, RK_KEY_LEN) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_HANDSHAKE_IVL, &hs_ivl, sizeof hs_ivl) != 0)
        goto zfail;
    snprintf(mon_ep, sizeof mon_ep, "inproc://renkei-audit-monitor-%p", (void *)c);
    if (zmq_socket_monitor(c->sock, mon_ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_DISCONNECTED) != 0)
        goto zfail;
    if ((c->mon = zmq_socket(c->ctx, ZMQ_PAIR)) == NULL || zmq_connect(c->mon, mon_ep) != 0)
        goto zfail;
    if (zmq_connect(c->sock, c->endpoint) != 0) {
        rk_why(why, why_len,
               "cannot connect to the hub endpoint \"%s\": %s (expected e.g. tcp://127.0.0.1:7750)",
               c->endpoint, zmq_strerror(zmq_errno()));
        return AUDIT_CLIENT_EINVAL;
    }
    return AUDIT_CLIENT_OK;
zfail:
    rk_why(why, why_len, "setting up the connection to the hub failed: %s", zmq_strerror(zmq_errno()));
    return AUDIT_CLIENT_EZMQ;
}

audit_client_err audit_client_connect(const char *endpoint, const char *hub_pub_path, const char *key_path,
                                      int timeout_ms, audit_client_t **out, char *why, size_t why_len)
{
    audit_client_t *c;
    rk_client_frame_t hello;
    rk_hub_frame_t f;
    char reason[512] = "";
    audit_client_err err;
    uint64_t deadline;

    *out = NULL;
    if (endpoint == NULL || hub_pub_path == NULL || key_path == NULL || timeout_ms <= 0) {
        rk_why(why, why_len,
               "connecting needs the hub's endpoint, its public key and this organization's key");
        return AUDIT_CLIENT_EINVAL;
    }
    if (sodium_init() < 0) {
        rk_why(why, why_len, "libsodium could not be initialised");
        return AUDIT_CLIENT_EZMQ;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        rk_why(why, why_len, "out of memory");
        return AUDIT_CLIENT_ENOMEM;
    }
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    snprintf(c->key_path, sizeof c->key_path, "%s", key_path);
    snprintf(c->hub_path, sizeof c->hub_path, "%s", hub_pub_path);
    c->timeout_ms = timeout_ms;
    c->hs = HS_PENDING;
    randombytes_buf(&c->next_req, sizeof c->next_req);
    c->next_req = (c->next_req >> 16) + 1;
    if (rk_pubkey_load(hub_pub_path, &c->hub, reason, sizeof reason) != RK_KEYS_OK) {
        rk_why(why, why_len, "cannot use the hub's public key: %s", reason);
        err = AUDIT_CLIENT_EKEYS;
        goto fail;
    }
    if (rk_identity_load(key_path, &c->id, reason, sizeof reason) != RK_KEYS_OK) {
        rk_why(why, why_len, "cannot use this organization's key: %s", reason);
        err = AUDIT_CLIENT_EKEYS;
        goto fail;
    }
    if ((err = setup_socket(c, why, why_len)) != AUDIT_CLIENT_OK)
        goto fail;

    deadline = rk_mono_ms() + (uint64_t)timeout_ms;
    memset(&hello, 0, sizeof hello);
    hello.kind = RK_CF_HELLO;
    hello.u.hello.receive = false; /* an auditor takes no deliveries */
    if ((err = send_frame(c, &hello, why, why_len)) != AUDIT_CLIENT_OK)
        goto fail;
    for (;;) {
        if ((err = recv_frame(c, deadline, &f, why, why_len)) != AUDIT_CLIENT_OK)
            goto fail;
        if (f.kind == RK_HF_WELCOME) {
            snprintf(c->org, sizeof c->org, "%s", f.u.welcome.org);
            snprintf(c->kind, sizeof c->kind, "%s", f.u.welcome.kind);
            rk_hub_frame_clear(&f);
            break;
        }
        if (f.kind == RK_HF_RESULT && !f.u.result.has_msg_id) {
            rk_why(why, why_len, "the hub did not accept the greeting: %s: %s",
                   rk_status_name(f.u.result.status),
                   f.u.result.detail[0] ? f.u.result.detail : rk_status_text(f.u.result.status));
            rk_hub_frame_clear(&f);
            err = AUDIT_CLIENT_EPROTO;
            goto fail;
        }
        rk_hub_frame_clear(&f); /* anything else is not for us */
    }
    *out = c;
    return AUDIT_CLIENT_OK;
fail:
    audit_client_destroy(&c);
    return err;
}

static uint64_t *req_id_of(rk_client_frame_t *req)
{
    switch (req->kind) {
    case RK_CF_LOG_READ: return &req->u.log_read.req_id;
    case RK_CF_CHECKPOINT: return &req->u.checkpoint.req_id;
    case RK_CF_PROOF: return &req->u.proof.req_id;
    default: return NULL;
    }
}

/* The req_id a routing-log answer carries, or 0 for other frames. */
static uint64_t answer_req_id(const rk_hub_frame_t *f)
{
    switch (f->kind) {
    case RK_HF_LOG: return f->u.log.req_id;
    case RK_HF_CHECKPOINT: return f->u.checkpoint.req_id;
    case RK_HF_PROOF: return f->u.proof.req_id;
    default: return 0;
    }
}

audit_client_err audit_client_request(audit_client_t *c, rk_client_frame_t *req, rk_hub_frame_t *resp, char *why,
                                      size_t why_len)
{
    uint64_t *rid = req_id_of(req);
    uint64_t deadline;
    audit_client_err err;

    memset(resp, 0, sizeof *resp);
    if (rid == NULL) {
        rk_why(why, why_len, "not a routing-log request");
        return AUDIT_CLIENT_EINVAL;
    }
    *rid = c->next_req++;
    if ((err = send_frame(c, req, why, why_len)) != AUDIT_CLIENT_OK)
        return err;
    deadline = rk_mono_ms() + (uint64_t)c->timeout_ms;
    for (;;) {
        if ((err = recv_frame(c, deadline, resp, why, why_len)) != AUDIT_CLIENT_OK)
            return err;
        if (answer_req_id(resp) == *rid)
            return AUDIT_CLIENT_OK;
        if (resp->kind == RK_HF_RESULT && !resp->u.result.has_msg_id) {
            rk_why(why, why_len, "the hub could not read the request: %s: %s",
                   rk_status_name(resp->u.result.status),
                   resp->u.result.detail[0] ? resp->u.result.detail : rk_status_text(resp->u.result.status));
            rk_hub_frame_clear(resp);
            return AUDIT_CLIENT_EPROTO;
        }
        rk_hub_frame_clear(resp); /* an answer to an earlier, abandoned request */
    }
}
