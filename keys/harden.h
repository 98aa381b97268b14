/*
 * harden.h - keeping a process's secrets out of core files and freed memory.
 *
 * The hub and the agents hold link codes, envelopes and keys in memory.
 * Two things would let them outlive their use: a core file (or another
 * process of the same user reading this one's memory), and freed heap
 * blocks, which malloc hands back without clearing.  Our own buffers are
 * wiped before they are freed; libraries' buffers (ZeroMQ's CURVE copies the
 * plaintext of every frame into temporaries it frees as they are) are out of
 * reach, so glibc is asked to wipe every block it takes back:
 *
 *   glibc.malloc.perturb=N      fills each freed block with N
 *   glibc.malloc.tcache_count=0 no per-thread cache: without it, small
 *                               blocks (up to about 1 KiB) would skip the fill
 *
 * glibc reads these tunables only when a program starts, from GLIBC_TUNABLES,
 * so rk_harden_process() re-executes the program once with them appended to
 * whatever GLIBC_TUNABLES the operator set (later entries win), then takes
 * its own addition back out of the environment so that commands it starts
 * (a back office) run as they would without it.
 */
#ifndef RENKEI_HARDEN_H
#define RENKEI_HARDEN_H

#include <stdbool.h>
#include <stddef.h>

/* The byte glibc fills freed memory with (and, inverted, fresh memory). */
#define RK_HARDEN_PERTURB 165

typedef struct rk_harden {
    bool not_dumpable;  /* PR_SET_DUMPABLE 0 and RLIMIT_CORE 0 */
    bool wipes_freed;   /* every freed heap block is overwritten */
    char why[240];      /* what could not be done, if either is false */
} rk_harden_t;

/* Call first in main, before any secret is read and before any thread
 * starts: argv is main's.  Re-executes the program (same process id, same
 * arguments) at most once; returns in the process that carries on, with *h
 * saying what holds.  Failures are not fatal: they are reported in *h. */
void rk_harden_process(char **argv, rk_harden_t *h);

/* One line for a startup log, e.g. "not dumpable (no core file); freed
 * memory wiped".  Returns buf. */
const char *rk_harden_describe(const rk_harden_t *h, char *buf, size_t len);

#endif /* RENKEI_HARDEN_H */
