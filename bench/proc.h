/*
 * proc.h - the processes renkei-bench measures: start, watch, stop.
 *
 * Each child leads its own process group, gets SIGKILL if the benchmark
 * dies (PR_SET_PDEATHSIG), and writes its stdout and stderr to a file the
 * benchmark names, so a failed run can say where to look.
 */
#ifndef RENKEI_BENCH_PROC_H
#define RENKEI_BENCH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "stats.h"

typedef struct bench_proc bench_proc_t;

/* Starts argv[0] (a path) with argv, output appended to log_path.
 * NULL (reason printed) if it cannot be started. */
bench_proc_t *bench_proc_start(const char *const *argv, const char *log_path);
/* SIGTERM, up to 5 s, then SIGKILL; frees *p and sets it to NULL.
 * Returns the exit status (128+signal if killed), -1 if p was NULL. */
int bench_proc_stop(bench_proc_t **p);
/* Waits up to timeout_ms for the process to exit by itself, then stops it
 * as bench_proc_stop does.  Frees *p.  Returns its exit status, or -1 if it
 * had to be killed. */
int bench_proc_wait(bench_proc_t **p, int timeout_ms);
/* true while the process has not exited. */
bool bench_proc_alive(bench_proc_t *p);
pid_t bench_proc_pid(const bench_proc_t *p);
/* User + system CPU seconds the process has used so far (from
 * /proc/PID/stat); -1 if it cannot be read. */
double bench_proc_cpu_s(const bench_proc_t *p);
/* Bytes the process has written so far (from /proc/PID/io): *wchar, the
 * bytes passed to write-like system calls (pwrite and write, not a socket's
 * send), and *write_bytes, the bytes it sent towards the block device, or
 * -1 if the kernel does not report that field.  0 on success; -1 if the
 * file cannot be read (both left unchanged). */
int bench_proc_io(const bench_proc_t *p, double *wchar, double *write_bytes)
    __attribute__((warn_unused_result));

/* Waits up to timeout_ms for path to exist and be non-empty, copying its
 * first line into out.  0 on success, -1 on timeout or if p exits first. */
int bench_wait_file(bench_proc_t *p, const char *path, char *out, size_t out_len, int timeout_ms);

/* A free TCP port on 127.0.0.1 (bound and released); 0 on failure. */
int bench_free_port(void);

/* Creates a fresh temporary directory (0700) under $TMPDIR or /tmp into
 * out.  0 on success. */
int bench_mkdtemp(char *out, size_t out_len);
/* Removes path and everything below it.  Accepts a missing path. */
void bench_rm_tree(const char *path);
/* Starts a process that removes dir once this one has ended, however it
 * ended (Ctrl-C, kill, a crash): a 10^7-person run leaves gigabytes behind
 * otherwise.  It ignores the terminal's signals and waits for the end of a
 * pipe only this process holds (*fd, its write end).  Call before any
 * socket is opened (the child closes what it inherits).  0 on success. */
int bench_janitor(const char *dir, int *fd);
/* Tells the janitor behind fd to leave its directory in place, and closes
 * fd.  Accepts -1. */
void bench_janitor_keep(int fd);

/* A scratch file for timing durable writes on the filesystem of a
 * directory: BENCH_DISK_PAGES pages of 4 KiB, written out and flushed
 * before any round is timed, so a round rewrites pages that exist (as LMDB
 * does), and removed by bench_disk_destroy. */
typedef struct bench_disk bench_disk_t;
#define BENCH_DISK_PAGE 4096
#define BENCH_DISK_PAGES 4096

/* Creates and fills the scratch file under dir.  NULL with why filled (a
 * directory that refuses the file, a full disk, a filesystem without
 * fdatasync); nothing is left behind then. */
bench_disk_t *bench_disk_new(const char *dir, char *why, size_t why_len);
/* Closes and removes the scratch file; frees *d and sets it to NULL.
 * Accepts NULL. */
void bench_disk_destroy(bench_disk_t **d);
/* true if the file lives in memory (tmpfs, ramfs): its flushes cost
 * nothing, and neither would the hub's on that filesystem. */
bool bench_disk_in_memory(const bench_disk_t *d);
/* Times `rounds` rounds of: pwrite `pages` pages, then fdatasync.  One
 * page goes to a rotating offset; several go to distinct pages drawn at
 * random over the file, written in ascending order as LMDB writes a
 * commit's dirty pages.  Each round's time (microseconds) is added to out.
 * 0 on success; -1 with why filled (out then holds the rounds timed). */
int bench_disk_rounds(bench_disk_t *d, size_t pages, size_t rounds, bench_series_t *out,
                      char *why, size_t why_len) __attribute__((warn_unused_result));

/* Monotonic clock in seconds. */
double bench_now(void);

#endif /* RENKEI_BENCH_PROC_H */
