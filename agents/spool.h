/*
 * spool.h - the agent's spool folder (renkei-agent spool --spool-dir DIR).
 *
 * Lets a batch system that can only read and write files send and
 * receive messages through the agent.  The folder protocol (README.md,
 * "The spool folder"):
 *
 *   DIR/out/NAME.json.tmp   written by the batch system, then renamed to
 *   DIR/out/NAME.json       which the agent picks up (only *.json), moves to
 *   DIR/work/NAME.json      (a rename: a crash never loses or doubles it;
 *                           what is in work/ is processed again at start,
 *                           and every 10 s after a failure), handles, and
 *                           answers with
 *   DIR/results/NAME.result.json  {"msg_id","state"}, {"reply_to","state"}
 *                                 or {"error":{"status","detail"}}
 *                           (written to a temporary name, then renamed),
 *                           then moves the file to
 *   DIR/done/NAME.json      (kept --keep-days, as results are).
 *   DIR/rejected/NAME.json  a file that is no valid message, with
 *   DIR/rejected/NAME.reason.txt  why (never the number); never purged.
 *   DIR/in/MS-FROM-MSGID.json  each message received, exactly once (see
 *                           write_in in spool.c), for the batch job to take.
 *
 * A file in out/ is a message {"to","type","person","payload"
 * [,"reply_to"][,"no_reply"]}, as the HTTP API's POST /v1/messages, or an
 * answer to a message in in/: {"reply_to","to"} with "payload" (a reply),
 * "refuse" (a reason: REFUSED_BY_RECIPIENT) or "done": true.  NAME is the
 * idempotency key: it is kept (BLAKE2b-hashed) with the message id it
 * produced in DATA_DIR/spool-keys.mdb, so a file processed again (after a
 * crash, or dropped again under the same NAME) is never sent twice.  The
 * subfolders are created (0700) when missing.  No log line carries a
 * number or a link code.
 */
#ifndef RENKEI_AGENT_SPOOL_H
#define RENKEI_AGENT_SPOOL_H

#include <signal.h>
#include <stdbool.h>

#include "number.h"
#include "renkei/agent.h"

typedef struct rk_spool_config {
    const char *dir;            /* the spool folder (must exist) */
    const char *data_dir;       /* the agent's data directory (the names go there) */
    rk_number_rule number_rule; /* how a file's "person" is checked (--number-rule) */
    /* Where lines go (level RK_LOG_*); never given a number or a code. */
    void (*log)(int level, const char *text);
    /* Called (with the agent) when the hub is not connected, every few
     * seconds: tries to connect; returns true once connected. */
    bool (*connect)(rk_agent_t *a);
    /* Days done/ and results/ files and the names of sent messages are
     * kept (--keep-days); 0: RK_KEEP_DAYS_DEFAULT. */
    int keep_days;
} rk_spool_config;

/* Takes the exclusive locks (flock) of the spool folder dir
 * (DIR/.renkei-spool.lock) and of the data directory (DATA/spool.lock),
 * before the agent is opened: two spools on one folder or one data
 * directory would hand the same files and deliveries out twice.  fds[2]
 * receives the open lock files (release them with rk_spool_unlock, or
 * let the process end).  false with why (naming the other process's pid)
 * if another process holds either. */
bool rk_spool_lock(const char *dir, const char *data_dir, int fds[2], char *why, size_t why_len);
void rk_spool_unlock(int fds[2]);

/* Watches cfg->dir/out (every 200 ms) and sends what arrives with agent a
 * (opened with a data directory as this organization's receiver; it may
 * not be connected yet), and writes each delivery to cfg->dir/in, until
 * *stop becomes non-zero; meanwhile re-sends pending messages every few
 * seconds, tries again what a failure left in work/ every 10 s, and
 * purges (once an hour) what is older than cfg->keep_days.  Returns 0, or
 * 1 after logging why it could not start. */
int rk_spool_run(rk_agent_t *a, const rk_spool_config *cfg, volatile sig_atomic_t *stop);

#endif
