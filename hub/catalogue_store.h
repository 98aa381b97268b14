/*
 * catalogue_store.h - the procedure catalogue in the hub's store: loaded by
 * the hub, changed by renkei-ctl, each change an entry on the routing log.
 */
#ifndef RENKEI_HUB_CATALOGUE_STORE_H
#define RENKEI_HUB_CATALOGUE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalogue.h"
#include "store.h"

/* Reads the whole catalogue from the store.  STORE_ECORRUPT (with `why`
 * naming the section) if a stored section does not parse. */
store_err catalogue_load(store_txn_t *txn, catalogue_t **out, char *why, size_t why_len)
    __attribute__((warn_unused_result));

/* What a change did. */
typedef struct cat_change_report {
    size_t added, changed, removed, unchanged;
} cat_change_report_t;

/* Changes the stored catalogue in txn: puts the n_set sections (added, or
 * replacing the section with the same key) and removes the n_del keys;
 * with `replace_all`, every stored section not among `set` is removed too
 * (loading a whole catalogue file).  The result must pass catalogue_check,
 * or nothing is written and STORE_EINVAL comes back with `why`.  Each
 * section that really changes gets one routing-log entry
 * (EV_CATALOGUE_SET with the digest of its canonical text, or
 * EV_CATALOGUE_REMOVED), signed by the transaction's operator if it has
 * one (store_txn_set_operator);
 * putting a section with the same text changes and logs nothing.  A key to
 * remove that is not stored is STORE_ENOTFOUND.  The sections in `set` are
 * left as they were. */
store_err catalogue_change(store_txn_t *txn, const cat_section_t *set, size_t n_set, const char *const *del,
                           size_t n_del, bool replace_all, uint64_t now_ms, cat_change_report_t *report,
                           char *why, size_t why_len) __attribute__((warn_unused_result));

/* Installs the default catalogue if the store never had one (its
 * generation is 0); *installed says whether it did. */
store_err catalogue_install_default(store_txn_t *txn, uint64_t now_ms, bool *installed, char *why,
                                    size_t why_len) __attribute__((warn_unused_result));

/* The whole stored catalogue as one text, sections in key order
 * (procedures, then groups, then grants), malloc'd. */
store_err catalogue_export(store_txn_t *txn, char **text, size_t *len) __attribute__((warn_unused_result));

#endif /* RENKEI_HUB_CATALOGUE_STORE_H */
