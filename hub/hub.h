/*
 * hub.h - the hub: a ZeroMQ ROUTER with CURVE, a ZAP handler admitting only
 * registered active organizations, and a single-threaded event loop (with
 * worker threads that only check signatures, see verify.h).
 *
 * Each loop turn reads up to `batch` frames, runs them through the ingest
 * pipeline inside one LMDB write transaction (group commit), commits, and
 * only then answers the senders and pushes the receivers' queues (persist,
 * then acknowledge).  If the commit fails, every message of the turn is
 * refused (STORE_FULL or INTERNAL) and nothing of it is delivered.
 */
#ifndef RENKEI_HUB_HUB_H
#define RENKEI_HUB_HUB_H

#include <signal.h>
#include <stddef.h>

#include "keys.h"
#include "log.h"
#include "policy.h"
#include "store.h"

typedef struct hub hub_t;

typedef struct hub_config {
    const char *bind;        /* e.g. "tcp://127.0.0.1:7750" */
    size_t max_what;         /* largest encrypted payload accepted */
    size_t batch;            /* frames per loop turn (one transaction); 0: 256 */
    const char *ready_file;  /* if set: resolved endpoint written here once bound */
    uint64_t queue_limit;    /* most entries one recipient's queue holds; 0: 100000 */
    size_t window;           /* unacknowledged pushes per receiver; 0: 256 */
    uint64_t resend_ms;      /* no ack for this long: push again; 0: 30 s */
    policy_ttl_t ttl;        /* time-to-live per type; zeroed: 14 days for all */
    const char *log_origin;  /* the routing log's checkpoint origin; NULL: "renkei-hub" */
    uint64_t checkpoint_ms;  /* a new checkpoint this often while the log grows; 0: 5 s */
    const rk_hub_key_stmt_t *hub_key; /* the hub's key change to carry in every welcome; NULL: none */
    int verify_threads;      /* threads checking signatures ahead of the turn: < 0 one per
                              * CPU beyond the first (1..8); 0 none (checked in the turn) */
    void (*tick)(void *ctx); /* if set: called once per loop turn, between turns (at least
                              * every 200 ms), in the loop's thread; it may call
                              * hub_reconfigure (the daemon's signals, its watchdog) */
    void *tick_ctx;
    struct metrics *metrics; /* the --metrics endpoint's figures (hub/metrics.h); NULL: none */
} hub_config_t;

typedef enum hub_err {
    HUB_OK = 0,
    HUB_EZMQ,  /* a ZeroMQ call failed; see why */
    HUB_EBIND, /* could not bind the endpoint */
    HUB_ENOMEM,
    HUB_EIO, /* could not write the ready file, or read the procedure catalogue */
} hub_err;

/* Creates the hub, binds its socket and installs the ZAP handler.  Borrows
 * store, identity and log (they must outlive the hub).  On failure *out is
 * NULL and `why` says what went wrong. */
hub_err hub_new(const hub_config_t *cfg, store_t *store, const rk_identity_t *identity,
                const hub_log_t *log, hub_t **out, char *why, size_t why_len) __attribute__((warn_unused_result));

/* Runs the event loop until *stop becomes non-zero.  Returns HUB_OK on a
 * requested stop. */
hub_err hub_run(hub_t *hub, volatile sig_atomic_t *stop);

/* Changes what may change while the hub runs: the time-to-live per type
 * (for messages accepted from now on: a queued message keeps the expiry it
 * was given when accepted) and the queue limit (0: the default).  Connections and queues are
 * untouched.  Call between turns (from cfg.tick) only. */
void hub_reconfigure(hub_t *hub, const policy_ttl_t *ttl, uint64_t queue_limit);

/* The endpoint actually bound (after wildcard ports are resolved). */
const char *hub_endpoint(const hub_t *hub);

/* Closes the sockets and frees the hub.  Accepts NULL; sets *hub to NULL. */
void hub_destroy(hub_t **hub);

#endif /* RENKEI_HUB_HUB_H */
