/*
 * load.h - renkei-bench's load generator and sink over the Renkei wire
 * protocol.
 *
 * A bench_load_t holds N sender identities (municipalities "TAGmNN") and
 * M recipient identities (utilities "TAGuNN"), each a CURVE DEALER, all
 * driven by the one thread that calls it (two bench_load_t may run in two
 * threads).  Against the hub it speaks the real protocol (hello, enroll,
 * signed envelopes, acks); against the bare forwarder it sends the same
 * encoded frames as [recipient][frame] and the forwarder answers each with
 * [""]["A"] and hands it to the recipient as [sender][frame].
 *
 * Envelopes for a timed pass are built (encrypted, signed, encoded) before
 * the clock starts, so the generator's own cost is small.
 */
#ifndef RENKEI_BENCH_LOAD_H
#define RENKEI_BENCH_LOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"
#include "wire.h"

typedef enum bench_target {
    BENCH_TARGET_HUB,  /* renkei-hub: the real protocol */
    BENCH_TARGET_BARE, /* the bare forwarder: [to][frame] in, [from][frame] out */
} bench_target;

typedef struct bench_load bench_load_t;

/* Makes n_senders + n_recipients fresh identities named after tag (1..16
 * letters) and writes their key files as DIR/NAME.key and DIR/NAME.pub (for
 * renkei-ctl register).
 * persons: residents each sender enrolls; window: messages each sender
 * keeps in flight.  NULL (reason in why) on failure. */
bench_load_t *bench_load_new(const char *key_dir, const char *tag, size_t n_senders, size_t n_recipients,
                             size_t persons, size_t window, char *why, size_t why_len);
/* Closes every socket, wipes the keys, frees *l.  Accepts NULL. */
void bench_load_destroy(bench_load_t **l);

size_t bench_load_senders(const bench_load_t *l);
size_t bench_load_recipients(const bench_load_t *l);
/* Org id of sender i / recipient i. */
const char *bench_load_sender_name(const bench_load_t *l, size_t i);
const char *bench_load_recipient_name(const bench_load_t *l, size_t i);

/* Connects every identity to endpoint (server_curve_pk: the hub's or the
 * forwarder's X25519 key).  Hub: hello{receive}, each sender enrolls its
 * persons, then a warm-up pass sends one message per (sender, person,
 * recipient) so every first contact happens now, not in a timed pass.
 * Bare: one warm-up message per pair.  0 on success, -1 with why. */
int bench_load_connect(bench_load_t *l, bench_target target, const char *endpoint,
                       const uint8_t server_curve_pk[RK_KEY_LEN], char *why, size_t why_len)
    __attribute__((warn_unused_result));
/* How a load's persons come to be known.  BENCH_PERSONS_ENROLL (the
 * default): bench_load_connect enrolls them and warms up every (sender,
 * recipient, person).  BENCH_PERSONS_GIVEN: the caller wrote every sender's
 * codes (bench_load_codes) into a table it loaded itself; connect neither
 * enrolls nor makes first contacts (one warm-up message per pair), and
 * passes draw each message's person at random.  BENCH_PERSONS_LATER:
 * connect only says hello; bench_load_enroll enrolls, and a pass of
 * senders*recipients*persons messages makes each first contact once.
 * Set before bench_load_connect. */
typedef enum bench_persons {
    BENCH_PERSONS_ENROLL,
    BENCH_PERSONS_GIVEN,
    BENCH_PERSONS_LATER,
} bench_persons;
void bench_load_set_persons(bench_load_t *l, bench_persons mode);
/* Sender i's link codes: persons * RK_CODE_LEN bytes, writable. */
uint8_t *bench_load_codes(bench_load_t *l, size_t i);
/* Every sender enrolls its persons through the hub, keeping `window`
 * Enroll frames in flight; *elapsed_s from the first Enroll to the last
 * Enrolled.  0 on success, -1 with why (a refusal, a timeout). */
int bench_load_enroll(bench_load_t *l, double *elapsed_s, char *why, size_t why_len)
    __attribute__((warn_unused_result));

/* Closes the sockets (identities and enrolled codes are kept). */
void bench_load_disconnect(bench_load_t *l);

/* One timed pass: builds `count` envelopes with `payload` bytes of WHAT
 * (rounded up to a size class, proto/payload.h),
 * round-robin over senders, recipients and persons, then sends them as fast
 * as the windows allow.  *elapsed_s: from the first send until every one is
 * accepted (hub: ACCEPTED; bare: the forwarder's answer) and delivered and
 * acknowledged at its recipient.  0 on success, -1 with why (a refusal, a
 * timeout). */
int bench_load_pass(bench_load_t *l, size_t payload, size_t count, double *elapsed_s, char *why,
                    size_t why_len) __attribute__((warn_unused_result));

/* Lets another thread end a pass early: once *stop is non-zero, the pass
 * sends nothing more, waits for what it sent and returns 0.  While a pass
 * is sending, *busy is 1 (0 before and after).  Either may be NULL. */
void bench_load_set_flags(bench_load_t *l, atomic_int *stop, atomic_int *busy);
/* Messages sent in the last pass (less than asked if it was stopped). */
size_t bench_load_last_sent(const bench_load_t *l);

/* Message ids of 16 random bytes instead of time-ordered ones (rk_msgid_new),
 * to measure what the order of ids costs the hub. */
void bench_load_set_random_ids(bench_load_t *l, bool random_ids);

/* Request/reply latency, one in flight: sender 0 builds and sends a request
 * to recipient 0, which acks it and answers with a signed reply; each
 * round trip (request built to reply received) in microseconds is added to
 * out.  With load non-NULL, a round trip counts only if *load was 1 when it
 * started and when it ended (another thread's pass was running), and the
 * call waits for that.  0 on success, -1 with why. */
int bench_load_latency(bench_load_t *l, size_t samples, size_t payload, const atomic_int *load,
                       bench_series_t *out, char *why, size_t why_len)
    __attribute__((warn_unused_result));

#endif /* RENKEI_BENCH_LOAD_H */
