/*
 * exec.h - the back end behind `renkei-agent serve --exec CMD` (the pool:
 * handler.h): each attempt runs /bin/sh -c CMD with the delivery as JSON on
 * stdin and RENKEI_* variables in its environment, in its own process
 * group, killed when it runs past its timeout.  What the command's exit
 * says:
 *
 *   0  its stdout is the JSON reply, sent back to the requester (REPLY);
 *   3  (EXEC_EXIT_REFUSE) a business refusal: its stdout is the reason
 *      (REFUSE);
 *   4  (EXEC_EXIT_LATER) taken: it will be answered later with
 *      `renkei-agent reply` (LATER);
 *   anything else, a signal, stdout that is not JSON, or its timeout: a
 *      failure (FAIL), tried again by the pool.
 *
 * The back end only forks, polls and reaps.
 */
#ifndef RENKEI_AGENTS_EXEC_H
#define RENKEI_AGENTS_EXEC_H

#include "handler.h"

#define EXEC_EXIT_REFUSE 3
#define EXEC_EXIT_LATER 4
#define EXEC_TIMEOUT_DEFAULT_S 60
#define EXEC_RETRIES_DEFAULT 3

/* The back end for cmd (which must outlive it), each attempt killed after
 * timeout_s (< 1: EXEC_TIMEOUT_DEFAULT_S).  NULL: no memory. */
handler_backend *exec_backend_new(const char *cmd, int timeout_s);

#endif /* RENKEI_AGENTS_EXEC_H */
