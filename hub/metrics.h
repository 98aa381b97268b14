/*
 * metrics.h - what the running hub shows its operator over HTTP
 * (renkei-hub --metrics ADDR:PORT; off by default).
 *
 *   /metrics  Prometheus text format (version 0.0.4): messages by status,
 *             deliveries, expiries, refusals by recipients, the per-turn
 *             commit latency, per organization its queue depth, the age of
 *             its oldest waiting entry, whether it is connected and when it
 *             was last seen, the store's map usage, the routing log's size
 *             and the age of its newest signed checkpoint.
 *   /healthz  200 while the hub's loop turns (it turned in the last
 *             METRICS_STALE_MS), else 503.
 *   /readyz   200 while the hub serves: its store is open, its socket bound,
 *             its loop running and not backing off a full store; else 503.
 *
 * Threads: libmicrohttpd answers on a thread of its own; the hub's loop is
 * single-threaded.  The loop updates counters (atomics) as things happen
 * and, once a second, renders the per-organization and store figures into
 * a text snapshot that the HTTP thread copies under a mutex.  The HTTP
 * thread never touches the store or the loop's state.
 *
 * Privacy: no figure or label carries a link code, a person's number or a
 * message id.  The only label values are organization ids (public in the
 * directory), status names and histogram bounds.
 *
 * Every function of the loop's side accepts m == NULL and then does
 * nothing, so the hub calls them whether or not metrics are served.
 */
#ifndef RENKEI_HUB_METRICS_H
#define RENKEI_HUB_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "store.h"
#include "wire.h"

#define METRICS_STALE_MS 10000 /* /healthz fails when the loop has not turned for this long */

typedef struct metrics metrics_t;

/* Parses --metrics: "PORT" (bound to 127.0.0.1), "ADDR:PORT" with an IPv4
 * address, or "[ADDR]:PORT" with an IPv6 one; PORT 0 picks a free port.
 * An address outside the loopback range (127.0.0.0/8, ::1) is refused
 * unless allow_remote: the endpoint has no authentication.  On success
 * fills sa (sa_len bytes used).  Returns false
 * with a message in why. */
bool metrics_parse_listen(const char *text, bool allow_remote, struct sockaddr_storage *sa, socklen_t *sa_len,
                          char *why, size_t why_len);

/* Binds `listen` (as metrics_parse_listen) and starts serving.  *out is
 * NULL and why says what went wrong on failure. */
bool metrics_start(const char *listen, bool allow_remote, metrics_t **out, char *why, size_t why_len);

/* The address actually bound, e.g. "127.0.0.1:9750" (after port 0 is
 * resolved). */
const char *metrics_address(const metrics_t *m);

/* Stops serving and frees m.  Accepts NULL; sets *m to NULL. */
void metrics_stop(metrics_t **m);

/* ----------------------------------------------------------- the loop's side */

/* One message answered with status st (a duplicate: answered again with
 * its first answer, counted apart). */
void metrics_routed(metrics_t *m, rk_status st, bool duplicate);

/* Within a turn: a Deliver acknowledged by its recipient, a message refused
 * by its recipient.  They count once the turn commits (metrics_turn_end). */
void metrics_turn_delivered(metrics_t *m);
void metrics_turn_refused_by_recipient(metrics_t *m);

/* The turn's commit took `seconds` (< 0: the turn opened no transaction,
 * nothing is timed); committed: the turn holds (its deliveries and
 * refusals count; otherwise they are dropped). */
void metrics_turn_end(metrics_t *m, double seconds, bool committed);

/* n messages expired undelivered (counted after the sweep committed). */
void metrics_expired(metrics_t *m, uint64_t n);

/* A frame of org was read at wall-clock now_ms. */
void metrics_seen(metrics_t *m, const char *org, uint64_t now_ms);

/* The loop turned; full_until_mono_ms: the end of a store-full back-off
 * (monotonic ms, rk_mono_ms), 0 or past if none. */
void metrics_turned(metrics_t *m, uint64_t full_until_mono_ms);

/* The loop stopped: /readyz answers 503 from now on. */
void metrics_stopping(metrics_t *m);

/* Whether org has a connection open to the hub (the loop's view). */
typedef bool (*metrics_connected_fn)(const char *org, void *ctx);

/* Renders the per-organization and store figures from a read transaction
 * of store and connected(), and publishes them for the HTTP thread.  Call
 * about once a second.  A failure to read the store is published as
 * renkei_hub_snapshot_ok 0 and the previous figures are dropped. */
void metrics_publish(metrics_t *m, store_t *store, metrics_connected_fn connected, void *ctx);

/* Renders the whole /metrics page into a malloc'd NUL-terminated buffer
 * (*len without the NUL), as the HTTP thread serves it; NULL if out of
 * memory.  For tests. */
char *metrics_render(metrics_t *m, size_t *len);

#endif /* RENKEI_HUB_METRICS_H */
