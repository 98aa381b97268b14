/*
 * output.h - routing-log entries as an aligned table, JSON Lines or CSV.
 *
 * Every format carries the entry's index in the log.  JSON Lines and CSV
 * carry every field (message ids as 32 lowercase hex digits, times as UTC
 * ISO-8601 with milliseconds and as milliseconds since the epoch); the table
 * is for people: times to the second, message ids shortened.
 */
#ifndef RENKEI_AUDIT_OUTPUT_H
#define RENKEI_AUDIT_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

#include "wire.h"

typedef enum audit_format { AUDIT_FMT_TABLE, AUDIT_FMT_JSONL, AUDIT_FMT_CSV } audit_format;

typedef struct audit_out audit_out_t;

/* A writer of entries to f in format fmt.  NULL if out of memory. */
audit_out_t *audit_out_new(audit_format fmt, FILE *f);

/* Writes (or, for the table, buffers) entry e at index.  Returns 0, or -1
 * if out of memory or the stream failed. */
int audit_out_entry(audit_out_t *o, uint64_t index, const rk_log_entry_t *e) __attribute__((warn_unused_result));

/* Writes whatever is buffered (the table, or its header when there were no
 * rows).  Returns 0, or -1 if the stream failed. */
int audit_out_finish(audit_out_t *o) __attribute__((warn_unused_result));

/* Entries written so far. */
uint64_t audit_out_count(const audit_out_t *o);

/* Frees *o (without finishing) and sets it to NULL.  Accepts NULL. */
void audit_out_destroy(audit_out_t **o);

#endif /* RENKEI_AUDIT_OUTPUT_H */
