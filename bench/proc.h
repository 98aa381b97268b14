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

/* Monotonic clock in seconds. */
double bench_now(void);

#endif /* RENKEI_BENCH_PROC_H */
