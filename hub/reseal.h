/*
 * reseal.h - re-seal the hub's store under a new master key
 * (renkei-ctl master-rekey).
 *
 * Every row that depends on the master key is rewritten under the new one:
 * the keyed-hash row keys of code_fwd, code_rev and log_person are
 * recomputed and their values sealed again, and the sealed parts of queue
 * and msgs are sealed again in place.  No link code, ID code, queued frame,
 * log entry, tree hash or checkpoint changes; the routing log gets one
 * EV_MASTER_RESEALED entry at the end.
 *
 * The work is done in bounded batches, each one LMDB write transaction that
 * also records how far it got in meta "reseal" (docs/hub-store.md), in
 * five phases:
 *
 *   1 codes       each code_fwd row is paired with its code_rev row (which
 *                 gives the organization, link code and ID code); both are
 *                 written under the new key into the staging tables
 *                 reseal_fwd and reseal_rev.  The old rows stay.
 *   2 log_person  for each person (ID code, from reseal_fwd) the index and
 *                 "home" rows are written under the new key into
 *                 reseal_person.  The old rows stay.
 *   3 queue       each queued frame is sealed again in place.
 *   4 msgs        each open request's sealed person field, in place.
 *   5 swap        code_fwd, code_rev and log_person are emptied (in the
 *                 transaction that enters the phase, after phases 1 and 2
 *                 were checked complete), then the staging rows are moved
 *                 into them.  The last transaction drops the staging
 *                 tables, makes master-check the new key's, deletes the
 *                 "reseal" row and appends the log entry.
 *
 * Killed at any moment, the store holds the last committed batch; running
 * again with the same two keys continues from there.  Until the last
 * transaction, store_open refuses the store (STORE_ERESEALING), so no hub
 * runs on rows sealed under two keys.  The hub must not run during a
 * re-seal: reseal_run refuses while another process has the data directory
 * open.
 */
#ifndef RENKEI_HUB_RESEAL_H
#define RENKEI_HUB_RESEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define RESEAL_DEFAULT_BATCH 1000
#define RESEAL_PHASES 5u

/* How far one phase is: called after every committed batch. */
typedef struct reseal_progress {
    unsigned phase;    /* 1 .. RESEAL_PHASES */
    const char *table; /* what the phase rewrites, e.g. "code_fwd+code_rev" */
    uint64_t done, total;
    bool resumed;    /* the first report of a run that continues an earlier one */
    bool phase_done; /* this batch finished the phase */
} reseal_progress_t;

typedef struct reseal_opts {
    size_t batch;              /* rows per write transaction; 0: RESEAL_DEFAULT_BATCH */
    size_t map_size;           /* LMDB map size (store_open); 0: the default */
    uint64_t max_batches;      /* tests: stop (unfinished) after this many batches; 0: no limit */
    uint64_t now_ms;           /* time of the log entry */
    const char *operator_name; /* signs the log entry (store_txn_set_operator); NULL: unsigned */
    const uint8_t *operator_sk;
    void (*progress)(const reseal_progress_t *p, void *ctx); /* may be NULL */
    void *ctx;
} reseal_opts_t;

typedef enum reseal_outcome {
    RESEAL_DONE = 1,    /* the store is now sealed under the new key (this run finished it) */
    RESEAL_ALREADY = 2, /* it already was: nothing to do */
    RESEAL_STOPPED = 3, /* max_batches reached; run again to go on */
} reseal_outcome;

/* Re-seals the store in dir from old_master to new_master (32 bytes each),
 * or continues an unfinished re-seal between the same two keys.  Refuses
 * (with why) keys that match neither state of the store, equal keys, and a
 * data directory another process has open.  On an error nothing beyond the
 * last committed batch is written, and running again goes on from there. */
store_err reseal_run(const char *dir, const uint8_t *old_master, const uint8_t *new_master,
                     const reseal_opts_t *opts, reseal_outcome *outcome, char *why,
                     size_t why_len) RK_WARN_UNUSED;

#endif /* RENKEI_HUB_RESEAL_H */
