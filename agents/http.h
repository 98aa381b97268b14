/*
 * http.h - the agent's local HTTP/JSON API (renkei-agent http).
 *
 * Lets an organization's systems that do not link C (Java, .NET, batch
 * jobs) send messages and follow them through one local gateway process:
 *
 *   POST /v1/messages          {"to","type","person","payload"[,"reply_to"][,"no_reply"]}
 *                              with the header Idempotency-Key: K (required)
 *   GET  /v1/messages/{msg_id} the state and history of one message sent
 *   POST /v1/messages/search   {"person"}: the messages sent about a person
 *   GET  /v1/inbox?wait=SECS[&what=all|requests]
 *                              the next message delivered (long-poll; 204: none)
 *   POST /v1/inbox/{from}/{msg_id}/reply   {"payload"}
 *   POST /v1/inbox/{from}/{msg_id}/refuse  {"reason"}
 *   POST /v1/inbox/{from}/{msg_id}/done
 *
 * Every request needs "Authorization: Bearer TOKEN" (the token file's
 * content).  The server listens on loopback or a Unix socket only.  The
 * resident's number travels only in a request body, never in a URL, and no
 * answer or log line carries it or a link code.  agents/openapi.json
 * describes the API.
 *
 * An Idempotency-Key is kept (BLAKE2b-hashed) with the message id it
 * produced in DATA_DIR/http-keys.mdb, so the same key again answers the
 * same message, also after a restart.  Keys are opaque strings chosen by
 * the caller and must not carry personal data.
 */
#ifndef RENKEI_AGENT_HTTP_H
#define RENKEI_AGENT_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "number.h"
#include "renkei/agent.h"

#define RK_HTTP_BODY_MAX_DEFAULT ((size_t)1 << 20) /* bytes of a request body */
#define RK_HTTP_LEASE_DEFAULT 300u                 /* s a message handed out stays the caller's */

typedef struct rk_http_config {
    const char *listen;     /* "127.0.0.1:PORT", "[::1]:PORT", "PORT" or "unix:/path" */
    const char *token_file; /* the bearer token, one line */
    const char *data_dir;   /* the agent's data directory (idempotency keys go there) */
    size_t body_max;        /* 0: RK_HTTP_BODY_MAX_DEFAULT */
    rk_number_rule number_rule; /* how a request's "person" is checked (--number-rule) */
    unsigned lease_s;           /* GET /v1/inbox: s until an unanswered message is handed out
                                 * again; 0: RK_HTTP_LEASE_DEFAULT */
    const char *tls_cert;       /* both set: serve HTTPS with this PEM certificate (chain) */
    const char *tls_key;        /* ...and this PEM private key */
    /* Where lines go (level RK_LOG_*); never given a number or a code. */
    void (*log)(int level, const char *text);
    /* Called (with the agent) when the hub is not connected, every few
     * seconds: tries to connect; returns true once connected. */
    bool (*connect)(rk_agent_t *a);
} rk_http_config;

/* Checks a --listen value: loopback addresses or unix:PATH only.  On
 * failure why says what is wrong. */
bool rk_http_listen_valid(const char *listen, char *why, size_t why_len);

/* Serves the API with agent a (opened with a data directory as a receiver;
 * it may not be connected yet) until *stop becomes non-zero; meanwhile re-sends pending
 * messages every few seconds.  Returns 0, or 1 after logging why it could
 * not start. */
int rk_http_serve(rk_agent_t *a, const rk_http_config *cfg, volatile sig_atomic_t *stop);

#endif
