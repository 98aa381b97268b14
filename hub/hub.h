/*
 * hub.h - the hub: a ZeroMQ ROUTER with CURVE, a ZAP handler admitting only
 * registered active organizations, and a single-threaded event loop.
 *
 * Each loop turn reads up to `batch` frames, runs them through the ingest
 * pipeline inside one LMDB write transaction, commits, and only then sends
 * the acknowledgements and deliveries the turn produced (persist, then
 * acknowledge).  If the commit fails, every message of the turn is refused
 * with INTERNAL and nothing is delivered.
 */
#ifndef RENKEI_HUB_HUB_H
#define RENKEI_HUB_HUB_H

#include <signal.h>
#include <stddef.h>

#include "keys.h"
#include "log.h"
#include "store.h"

typedef struct hub hub_t;

typedef struct hub_config {
    const char *bind;        /* e.g. "tcp://127.0.0.1:7750" */
    size_t max_what;         /* largest encrypted payload accepted */
    size_t batch;            /* frames per loop turn (one transaction) */
    const char *ready_file;  /* if set: resolved endpoint written here once bound */
} hub_config_t;

typedef enum hub_err {
    HUB_OK = 0,
    HUB_EZMQ,    /* a ZeroMQ call failed; see why */
    HUB_EBIND,   /* could not bind the endpoint */
    HUB_ENOMEM,
    HUB_EIO,     /* could not write the ready file */
} hub_err;

/* Creates the hub, binds its socket and installs the ZAP handler.  Borrows
 * store, identity and log (they must outlive the hub).  On failure *out is
 * NULL and `why` says what went wrong. */
hub_err hub_new(const hub_config_t *cfg, store_t *store, const rk_identity_t *identity,
                const hub_log_t *log, hub_t **out, char *why, size_t why_len) __attribute__((warn_unused_result));

/* Runs the event loop until *stop becomes non-zero.  Returns HUB_OK on a
 * requested stop. */
hub_err hub_run(hub_t *hub, volatile sig_atomic_t *stop);

/* The endpoint actually bound (after wildcard ports are resolved). */
const char *hub_endpoint(const hub_t *hub);

/* Closes the sockets and frees the hub.  Accepts NULL; sets *hub to NULL. */
void hub_destroy(hub_t **hub);

#endif /* RENKEI_HUB_HUB_H */
