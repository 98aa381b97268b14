/*
 * agents.h - renkei-bench's measurements with real agents (renkei/agent.h):
 * each party is an agent of its own, with its own data directory, that
 * encrypts and signs at the sending end, verifies and decrypts at the
 * receiving end, and commits its outbox and inbox durably.
 *
 * Two measurements:
 *   - latency: one municipality agent sends a request to one utility agent,
 *     which replies at once from a thread of its own; one round trip at a
 *     time (send, hub's ACCEPTED, delivery, reply, reply decrypted);
 *   - moves: M movers, each an origin municipality and a destination
 *     municipality of its own, and three shared utilities (power, gas,
 *     water).  A move: the origin sends move.out.notice to its destination,
 *     which sends utility.supply.start to each utility under the code the
 *     notice brought, waits for the three replies, then replies to the
 *     notice; the move is complete when the origin has that reply.
 *
 * An agent's data directory may not be opened twice in one process (LMDB),
 * and an organization has one receiving connection, so every concurrent
 * agent here is an organization of its own.  Each agent is opened, used and
 * closed by one thread.
 */
#ifndef RENKEI_BENCH_AGENTS_H
#define RENKEI_BENCH_AGENTS_H

#include <stdatomic.h>
#include <stddef.h>

#include "stats.h"

/* Replies a complete move brings: three utilities and the destination. */
#define BENCH_AGENTS_REPLIES_PER_MOVE 4

typedef struct bench_agents bench_agents_t;

/* Makes the identities for the latency pair and for `movers` movers (1..99)
 * and the three utilities, key files as KEY_DIR/NAME.key and .pub (for
 * renkei-ctl register); each agent's data directory will be made under
 * data_dir.  hub_pub: the hub's public key file.  NULL (reason in why) on
 * failure. */
bench_agents_t *bench_agents_new(const char *key_dir, const char *data_dir, const char *hub_pub,
                                 size_t movers, char *why, size_t why_len);
/* Frees *a (data directories stay for the caller to remove) and sets it to
 * NULL.  Accepts NULL. */
void bench_agents_destroy(bench_agents_t **a);

/* The organizations to register at the hub before it starts: name and
 * kind ("municipality" or "utility") of organization i < bench_agents_orgs. */
size_t bench_agents_orgs(const bench_agents_t *a);
const char *bench_agents_org_name(const bench_agents_t *a, size_t i);
const char *bench_agents_org_kind(const bench_agents_t *a, size_t i);

/* Sets the hub's endpoint (e.g. "tcp://127.0.0.1:40000") for later runs. */
void bench_agents_set_endpoint(bench_agents_t *a, const char *endpoint);

/* Request/reply latency between the two agents of the latency pair: a
 * utility.supply.stop request of `payload` bytes about one of a few
 * enrolled persons, answered at once; each round trip (before the request
 * is sealed to after the reply is decrypted) in microseconds is added to
 * out.  Both agents are opened for the call (first contacts made by a
 * warm-up round trip per person, not timed) and closed after.  With load
 * non-NULL, a round trip counts only if *load was 1 when it started and
 * when it ended, and the call waits for that.  0 on success, -1 with why. */
int bench_agents_latency(bench_agents_t *a, size_t samples, size_t payload, const atomic_int *load,
                         bench_series_t *out, char *why, size_t why_len)
    __attribute__((warn_unused_result));

typedef struct bench_moves {
    size_t moves;     /* moves completed (every reply in) */
    size_t replies;   /* replies received: utilities' at the destinations, destinations' at the origins */
    double elapsed_s; /* from the first notice sent to the last move completed */
} bench_moves_t;

/* One timed run of `moves` moves spread over the movers, each origin with
 * one move in flight, persons new to everyone but the origin (enrolled
 * before the clock starts), so every notice and every start request is a
 * first contact.  Every agent is opened for the run and closed after.
 * 0 on success with *out filled, -1 with why (a refusal, a timeout). */
int bench_agents_moves(bench_agents_t *a, size_t moves, size_t payload, bench_moves_t *out, char *why,
                       size_t why_len) __attribute__((warn_unused_result));

#endif /* RENKEI_BENCH_AGENTS_H */
