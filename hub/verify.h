/*
 * verify.h - envelope signatures checked on worker threads.
 *
 * The Ed25519 check of each envelope is the largest single cost of routing
 * a message.  The hub reads a batch of frames, hands their signature checks
 * to this pool, and while the workers check, it commits the previous batch
 * (the commit mostly waits for the disk).  The pool only computes verdicts:
 * which key a verdict holds for is recorded beside it, and the loop turn
 * still decides with the key the store holds then.
 */
#ifndef RENKEI_HUB_VERIFY_H
#define RENKEI_HUB_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct verify_pool verify_pool_t;

/* One signature to check: env under pk, and, if it does not verify and
 * has_alt, under alt_pk (the sender's previous key during the overlap of
 * a rekey).  `ok` and `alt_ok` are written by the pool. */
typedef struct verify_job {
    const rk_envelope_t *env;
    uint8_t pk[RK_KEY_LEN];
    uint8_t alt_pk[RK_KEY_LEN];
    bool has_alt;
    bool ok;
    bool alt_ok;
} verify_job_t;

/* A pool of `threads` workers (0: none; every check then runs in the
 * caller's verify_pool_wait).  NULL if a thread or memory could not be had. */
verify_pool_t *verify_pool_new(size_t threads);

/* The workers it runs. */
size_t verify_pool_threads(const verify_pool_t *p);

/* Hands jobs[0..n) to the workers and returns at once.  The jobs must stay
 * in place until verify_pool_wait returns.  One batch at a time. */
void verify_pool_start(verify_pool_t *p, verify_job_t *jobs, size_t n);

/* Checks whatever the workers have not taken yet on the calling thread, then
 * waits for the rest; every job's `ok` is set when it returns. */
void verify_pool_wait(verify_pool_t *p);

/* Stops and joins the workers.  Accepts NULL; sets *p to NULL. */
void verify_pool_destroy(verify_pool_t **p);

#endif /* RENKEI_HUB_VERIFY_H */
