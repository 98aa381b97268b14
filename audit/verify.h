/*
 * verify.h - renkei-audit verify: is the routing log the hub serves the log
 * its signed checkpoints describe, and does it extend the log this auditor
 * verified before?
 *
 * Checks, in order: the newest checkpoint's signature and origin; against
 * the remembered checkpoint (state file) that the log was neither shortened
 * nor rewritten (a consistency proof from the old size to the new); every
 * entry up to the checkpoint's size, fetched and hashed into a tree whose
 * root must equal the checkpoint's, and whose root at the old size must
 * equal the remembered root; every entry decodes.  When the roots differ
 * the first altered entry is located with consistency and inclusion proofs.
 * The state file is replaced only after everything held.
 */
#ifndef RENKEI_AUDIT_VERIFY_H
#define RENKEI_AUDIT_VERIFY_H

#include <stdbool.h>
#include <stdio.h>

#include "client.h"

typedef struct audit_verify_opts {
    const char *origin;     /* the log's origin and key name; NULL: the one the state file remembers, else
                               the one the checkpoint names (signed by the pinned key) */
    const char *state_path; /* remembered checkpoint */
    bool progress;          /* report progress on stderr */
} audit_verify_opts_t;

/* Runs the verification, printing the verdict on out: one line starting
 * "consistent:" (returns 0), or lines starting "NOT CONSISTENT:" saying
 * what is wrong and where (returns 1).  Returns -1 when it could not verify
 * at all (hub unreachable, not an auditor, state file unusable), with the
 * reason in why and nothing printed on out. */
int audit_verify(audit_client_t *c, const audit_verify_opts_t *o, FILE *out, char *why, size_t why_len);

#endif /* RENKEI_AUDIT_VERIFY_H */
