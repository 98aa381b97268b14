/*
 * scale.h - renkei-bench's large ID-code tables: loaded straight through
 * the hub's store API, then measured on disk and in the running hub.
 */
#ifndef RENKEI_BENCH_SCALE_H
#define RENKEI_BENCH_SCALE_H

#include <stddef.h>
#include <sys/types.h>

#include "load.h"

/* Opens the store in data_dir (its orgs already registered) with the
 * master key in master_path and enrolls persons_per_sender persons for each
 * of l's senders, each also known to every one of l's recipients (so to
 * 1 + recipients organizations), 10 000 persons per commit.  The senders'
 * codes are written into l (bench_load_codes).  *elapsed_s: the loading
 * time, store open and close included.  0 on success, -1 with why. */
int bench_scale_fill(const char *data_dir, const char *master_path, bench_load_t *l,
                     size_t persons_per_sender, double *elapsed_s, char *why, size_t why_len)
    __attribute__((warn_unused_result));

/* Bytes the LMDB environment in data_dir uses (last page + 1) * page size,
 * or -1 if it cannot be read; *in_use (if not NULL): the same less the
 * pages on LMDB's free list (-1 if unreadable).  The store must not be
 * open in this process. */
double bench_scale_disk_bytes(const char *data_dir, double *in_use);

/* Resident memory of process pid (VmRSS) in bytes, -1 if unreadable. */
double bench_scale_rss_bytes(pid_t pid);

#endif /* RENKEI_BENCH_SCALE_H */
