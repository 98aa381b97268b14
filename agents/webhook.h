/*
 * webhook.h - the HTTP back end behind `renkei-agent serve --webhook URL`
 * (the pool: handler.h).  Each attempt POSTs the delivery (the JSON object
 * --exec gets on stdin) to URL with Content-Type application/json and the
 * headers Renkei-Msg-Id, Renkei-From, Renkei-Type, and Authorization:
 * Bearer TOKEN when a token is given.  libcurl's multi interface carries
 * the requests, over kept-alive connections, TLS verified.  What the
 * answer says:
 *
 *   2xx, empty body or {}                   DONE: taken, no reply sent
 *   2xx, {"reply": VALUE}                   REPLY: VALUE is the reply
 *   2xx, {"refuse": "REASON"}               REFUSE: REFUSED_BY_RECIPIENT
 *   202 (any body)                          LATER: renkei-agent reply
 *   2xx with anything else, any other
 *   status, no answer within the timeout,
 *   no connection                           FAIL: tried again by the pool
 */
#ifndef RENKEI_AGENTS_WEBHOOK_H
#define RENKEI_AGENTS_WEBHOOK_H

#include <stddef.h>

#include "handler.h"

#define WEBHOOK_TIMEOUT_DEFAULT_S 30
#define WEBHOOK_RETRIES_DEFAULT 5
#define WEBHOOK_PARALLEL_DEFAULT 4

typedef struct webhook_cfg {
    const char *url;        /* http:// or https://; copied */
    const char *token_file; /* NULL, or the bearer token's file (one line) */
    int timeout_s;          /* per request, >= 1 */
    int parallel;           /* connections kept open, >= 1 */
} webhook_cfg;

/* true if url is one the back end takes (http:// or https://, a host). */
bool webhook_url_valid(const char *url);

/* The back end for cfg.  NULL with why set: the token file cannot be read
 * or is not one token, or no memory. */
handler_backend *webhook_backend_new(const webhook_cfg *cfg, char *why, size_t why_len);

#endif /* RENKEI_AGENTS_WEBHOOK_H */
