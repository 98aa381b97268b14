/*
 * client.c - an auditor's read-only connection to the hub: the key files
 * and the audit's errors around a hub session (session.h).
 */
#include "client.h"
#include "session.h"
#include "why.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct audit_client {
    rk_session_t *s;
    rk_identity_t *id;
    rk_pubkey_t hub;
    int timeout_ms;
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

static audit_client_err from_session(rk_session_err err)
{
    switch (err) {
    case RK_SESSION_OK: return AUDIT_CLIENT_OK;
    case RK_SESSION_EINVAL: return AUDIT_CLIENT_EINVAL;
    case RK_SESSION_ENOMEM: return AUDIT_CLIENT_ENOMEM;
    case RK_SESSION_EKEYREFUSED: return AUDIT_CLIENT_EKEYREFUSED;
    case RK_SESSION_EHANDSHAKE: return AUDIT_CLIENT_EHANDSHAKE;
    case RK_SESSION_EPROTO: return AUDIT_CLIENT_EPROTO;
    case RK_SESSION_ETIMEOUT:
    case RK_SESSION_ENOANSWER: return AUDIT_CLIENT_ENOANSWER;
    case RK_SESSION_EZMQ:
    case RK_SESSION_EINTR: return AUDIT_CLIENT_EZMQ;
    }
    return AUDIT_CLIENT_EZMQ;
}

const char *audit_client_org(const audit_client_t *c)
{
    return rk_session_welcomed(c->s)->org;
}
const char *audit_client_kind(const audit_client_t *c)
{
    return rk_session_welcomed(c->s)->kind;
}
const rk_pubkey_t *audit_client_hub(const audit_client_t *c) { return &c->hub; }

void audit_client_destroy(audit_client_t **cp)
{
    audit_client_t *c;
    if (cp == NULL || *cp == NULL)
        return;
    c = *cp;
    rk_session_close(&c->s, true);
    rk_identity_destroy(&c->id);
    free(c);
    *cp = NULL;
}

static audit_client_err connect_to(const char *endpoint, const char *hub_pub_path, const uint8_t *hub_sign_pk,
                                   const char *hub_label, const char *key_path, int timeout_ms,
                                   audit_client_t **out, char *why, size_t why_len);

audit_client_err audit_client_connect(const char *endpoint, const char *hub_pub_path, const char *key_path,
                                      int timeout_ms, audit_client_t **out, char *why, size_t why_len)
{
    return connect_to(endpoint, hub_pub_path, NULL, hub_pub_path, key_path, timeout_ms, out, why, why_len);
}

audit_client_err audit_client_connect_pk(const char *endpoint, const uint8_t hub_sign_pk[RK_KEY_LEN],
                                         const char *hub_label, const char *key_path, int timeout_ms,
                                         audit_client_t **out, char *why, size_t why_len)
{
    return connect_to(endpoint, NULL, hub_sign_pk, hub_label, key_path, timeout_ms, out, why, why_len);
}

/* hub_pub_path, or else hub_sign_pk, gives the hub's key; hub_label names it. */
static audit_client_err connect_to(const char *endpoint, const char *hub_pub_path, const uint8_t *hub_sign_pk,
                                   const char *hub_label, const char *key_path, int timeout_ms,
                                   audit_client_t **out, char *why, size_t why_len)
{
    audit_client_t *c;
    rk_session_opts opts;
    char reason[512] = "";
    audit_client_err err;

    *out = NULL;
    if (endpoint == NULL || (hub_pub_path == NULL && hub_sign_pk == NULL) || key_path == NULL ||
        timeout_ms <= 0) {
        rk_why(why, why_len,
               "connecting needs the hub's endpoint, its public key and this organization's key");
        return AUDIT_CLIENT_EINVAL;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        rk_why(why, why_len, "out of memory");
        return AUDIT_CLIENT_ENOMEM;
    }
    c->timeout_ms = timeout_ms;
    if (hub_pub_path != NULL ? rk_pubkey_load(hub_pub_path, &c->hub, reason, sizeof reason) != RK_KEYS_OK
                             : rk_pubkey_from_sign("hub", hub_sign_pk, &c->hub) != RK_KEYS_OK) {
        rk_why(why, why_len, "cannot use the hub's public key: %s",
               reason[0] ? reason : "not an Ed25519 key");
        err = AUDIT_CLIENT_EKEYS;
        goto fail;
    }
    if (rk_identity_load(key_path, &c->id, reason, sizeof reason) != RK_KEYS_OK) {
        rk_why(why, why_len, "cannot use this organization's key: %s", reason);
        err = AUDIT_CLIENT_EKEYS;
        goto fail;
    }
    memset(&opts, 0, sizeof opts);
    opts.timeout_ms = timeout_ms;
    opts.receive = false; /* an auditor takes no deliveries */
    opts.key_path = key_path;
    opts.hub_path = hub_label;
    err = from_session(rk_session_open(endpoint, &c->hub, c->id, &opts, &c->s, why, why_len));
    if (err != AUDIT_CLIENT_OK)
        goto fail;
    err = from_session(rk_session_hello(c->s, timeout_ms, NULL, NULL, why, why_len));
    if (err != AUDIT_CLIENT_OK)
        goto fail;
    *out = c;
    return AUDIT_CLIENT_OK;
fail:
    audit_client_destroy(&c);
    return err;
}

/* While a request waits: a result about no message means the hub could
 * not read the request; anything else is not for an auditor. */
static rk_session_err meanwhile(void *arg, rk_hub_frame_t *f, char *why, size_t why_len)
{
    (void)arg;
    if (f->kind == RK_HF_RESULT && !f->u.result.has_msg_id) {
        rk_why(why, why_len, "the hub could not read the request: %s: %s", rk_status_name(f->u.result.status),
               f->u.result.detail[0] ? f->u.result.detail : rk_status_text(f->u.result.status));
        rk_hub_frame_clear(f);
        return RK_SESSION_EPROTO;
    }
    rk_hub_frame_clear(f);
    return RK_SESSION_OK;
}

audit_client_err audit_client_request(audit_client_t *c, rk_client_frame_t *req, rk_hub_frame_t *resp, char *why,
                                      size_t why_len)
{
    rk_session_err err;

    memset(resp, 0, sizeof *resp);
    if (req->kind != RK_CF_LOG_READ && req->kind != RK_CF_CHECKPOINT && req->kind != RK_CF_PROOF) {
        rk_why(why, why_len, "not a routing-log request");
        return AUDIT_CLIENT_EINVAL;
    }
    err = rk_session_request(c->s, req, c->timeout_ms, meanwhile, NULL, resp, why, why_len);
    if (err == RK_SESSION_ETIMEOUT)
        rk_why(why, why_len, "no answer from the hub at %s within %g s: is renkei-hub running there?",
               rk_session_endpoint(c->s), c->timeout_ms / 1000.0);
    return from_session(err);
}
