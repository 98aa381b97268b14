/*
 * client.h - an auditor's read-only connection to the hub.
 *
 * A hub session (session/session.h) made from two key files: the hub's
 * public key (hub.pub) and the auditor organization's secret key.  The
 * client greets the hub with hello{receive = false} (it takes no
 * deliveries), waits for the welcome, and then sends routing-log requests
 * one at a time, each answer matched to its request by req_id.
 *
 * A refused key, a wrong hub key and a hub that does not answer are told
 * apart by the session, each with its own error and message.
 */
#ifndef RENKEI_AUDIT_CLIENT_H
#define RENKEI_AUDIT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "wire.h"

#define AUDIT_WARN_UNUSED __attribute__((warn_unused_result))

typedef enum audit_client_err {
    AUDIT_CLIENT_OK = 0,
    AUDIT_CLIENT_EINVAL,      /* bad endpoint or arguments */
    AUDIT_CLIENT_EKEYS,       /* a key file could not be read */
    AUDIT_CLIENT_EZMQ,        /* ZeroMQ failed locally */
    AUDIT_CLIENT_ENOANSWER,   /* the hub did not answer in time */
    AUDIT_CLIENT_EKEYREFUSED, /* the hub refused this key (not registered or suspended) */
    AUDIT_CLIENT_EHANDSHAKE,  /* the handshake failed: probably the wrong hub key */
    AUDIT_CLIENT_EPROTO,      /* the hub sent something this client cannot use */
    AUDIT_CLIENT_ENOMEM,
} audit_client_err;

const char *audit_client_strerror(audit_client_err err);

typedef struct audit_client audit_client_t;

/* Loads the keys, connects to endpoint and waits up to timeout_ms for the
 * hub's welcome.  On success *out is a connected client; on failure *out is
 * NULL and `why` says what went wrong and what to check. */
audit_client_err audit_client_connect(const char *endpoint, const char *hub_pub_path, const char *key_path,
                                      int timeout_ms, audit_client_t **out, char *why, size_t why_len)
    AUDIT_WARN_UNUSED;

/* The same with the hub's Ed25519 public key given as bytes (a key the
 * routing log handed over to, audit/state.h); hub_label names it in
 * messages. */
audit_client_err audit_client_connect_pk(const char *endpoint, const uint8_t hub_sign_pk[RK_KEY_LEN],
                                         const char *hub_label, const char *key_path, int timeout_ms,
                                         audit_client_t **out, char *why, size_t why_len) AUDIT_WARN_UNUSED;

/* Closes the connection, wipes the key, frees *c and sets it to NULL.
 * Accepts NULL. */
void audit_client_destroy(audit_client_t **c);

/* The organization and kind the hub welcomed this client as. */
const char *audit_client_org(const audit_client_t *c);
const char *audit_client_kind(const audit_client_t *c);
/* The hub's public key this client connected with (from hub.pub, or given). */
const rk_pubkey_t *audit_client_hub(const audit_client_t *c);

/* Sends req (RK_CF_LOG_READ, RK_CF_CHECKPOINT or RK_CF_PROOF; its req_id is
 * set here) and waits for the answer with the same req_id.  On success resp
 * holds the answer (the caller clears it; its status may still be a
 * refusal such as FORBIDDEN).  On failure resp is cleared and `why` says
 * what happened. */
audit_client_err audit_client_request(audit_client_t *c, rk_client_frame_t *req, rk_hub_frame_t *resp, char *why,
                                      size_t why_len) AUDIT_WARN_UNUSED;

#endif /* RENKEI_AUDIT_CLIENT_H */
