/*
 * exec.h - the adapter behind `renkei-agent serve --exec CMD`: each
 * delivered request is handed to /bin/sh -c CMD (the delivery as JSON on
 * stdin, RENKEI_* variables in its environment), up to `parallel` commands
 * at once, each in its own process group and killed when it runs past its
 * timeout.  What the command's exit says:
 *
 *   0  its stdout is the JSON reply, sent back to the requester;
 *   3  (EXEC_EXIT_REFUSE) a business refusal: its stdout is the reason
 *      (at most RK_DETAIL_MAX printable characters, no personal data),
 *      and the requester is told REFUSED_BY_RECIPIENT with it;
 *   4  (EXEC_EXIT_LATER) taken: it will be answered later with
 *      `renkei-agent reply`; the request stays claimed in the inbox;
 *   anything else, a signal, or its timeout: a failure, run again after
 *      1, 2, 4 ... s (at most EXEC_BACKOFF_MAX_S) up to `retries` times,
 *      then left claimed in the inbox (served again after a restart).
 *
 * All library calls stay on the caller's thread: the pool only forks,
 * polls and reaps.  Not thread-safe.
 */
#ifndef RENKEI_AGENTS_EXEC_H
#define RENKEI_AGENTS_EXEC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <renkei/agent.h>

#define EXEC_EXIT_REFUSE 3
#define EXEC_EXIT_LATER 4
#define EXEC_BACKOFF_MAX_S 60
#define EXEC_TIMEOUT_DEFAULT_S 60
#define EXEC_RETRIES_DEFAULT 3

typedef struct exec_cfg {
    const char *cmd;
    int timeout_s; /* per attempt, >= 1 */
    int parallel;  /* commands at once, >= 1 */
    int retries;   /* attempts after the first, >= 0 */
    /* Where the pool's lines go (level: common/logline.h RK_LOG_*). */
    void (*log)(int level, const char *fmt, va_list ap);
} exec_cfg;

typedef struct exec_pool exec_pool_t;

/* A pool for cfg (copied; cfg->cmd must outlive the pool).  NULL: no memory. */
exec_pool_t *exec_pool_new(const exec_cfg *cfg);

/* Stops the running commands (SIGTERM to their process groups, SIGKILL
 * after 5 s), frees everything; their requests stay claimed in the inbox
 * and are handed out again when serve starts again.  Accepts NULL. */
void exec_pool_free(exec_pool_t **p);

/* true while `parallel` commands run, or 8 x `parallel` requests are held
 * (most waiting for a later attempt): take no new request now. */
bool exec_pool_full(const exec_pool_t *p);

/* Requests held: running or waiting for their next attempt. */
size_t exec_pool_held(const exec_pool_t *p);

/* Hands the request ev to the pool, which owns it (and input, the JSON for
 * stdin, and envp, whose entries from first_own on are its own) from now
 * on, also on failure.  false: no memory (the request stays claimed). */
bool exec_pool_add(exec_pool_t *p, rk_event *ev, char *input, char **envp, size_t first_own);

/* Starts what is due, waits up to wait_ms for the running commands, and
 * settles each one that ended (reply, refusal, a later attempt). */
void exec_pool_step(exec_pool_t *p, rk_agent_t *a, int wait_ms);

#endif /* RENKEI_AGENTS_EXEC_H */
