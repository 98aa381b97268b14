/*
 * httpsend.h - renkei-bench's "http send": messages per second sent through
 * the agent's local HTTP API (renkei-agent http, POST /v1/messages) beside
 * the same sends made with the library (rk_agent_send), in the same run,
 * through the same hub.
 *
 * One municipality sends notices (no reply expected) about a few enrolled
 * persons to one utility, which does not receive during the run (the hub
 * keeps them queued).  The library's figure: one agent in this process
 * sends one message after another, each committed to its outbox and
 * ACCEPTED by the hub before the next.  The HTTP figure: the same data
 * directory served by a renkei-agent http process; a few client threads
 * (hand-written HTTP/1.1 over one keep-alive connection each) POST
 * /v1/messages, each with an Idempotency-Key of its own, and wait for the
 * 202 before the next.  Each message is committed and accepted in both.
 */
#ifndef RENKEI_BENCH_HTTPSEND_H
#define RENKEI_BENCH_HTTPSEND_H

#include <stddef.h>

typedef struct bench_httpsend bench_httpsend_t;

/* Makes the two identities (key files KEY_DIR/NAME.key and .pub, for
 * renkei-ctl register); the sender's data directory will be data_dir.
 * NULL (reason in why) on failure. */
bench_httpsend_t *bench_httpsend_new(const char *key_dir, const char *data_dir, char *why, size_t why_len);
void bench_httpsend_destroy(bench_httpsend_t **h);

/* The organizations to register before the hub starts: 0 the sender
 * (municipality), 1 the recipient (utility). */
const char *bench_httpsend_org_name(const bench_httpsend_t *h, int i);
const char *bench_httpsend_org_kind(const bench_httpsend_t *h, int i);

/* One timed pass of each: `messages` sends with the library, then as many
 * through renkei-agent (BIN_DIR/renkei-agent) http with `clients`
 * concurrent connections, its output in log_path.  hub_pub: the hub's
 * public key file.  0 with both rates (messages/s) set, -1 with why. */
int bench_httpsend_run(bench_httpsend_t *h, const char *bin_dir, const char *endpoint, const char *hub_pub,
                       const char *log_path, size_t messages, size_t clients, double *http_rate,
                       double *lib_rate, char *why, size_t why_len) __attribute__((warn_unused_result));

#endif /* RENKEI_BENCH_HTTPSEND_H */
