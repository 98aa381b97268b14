/*
 * handler.h - the pool behind `renkei-agent serve --exec CMD` and
 * `serve --webhook URL`: each delivered request is handed to this
 * organization's system by a back end (exec.h: a command; webhook.h: an
 * HTTP POST), up to `parallel` at once.  What the system answers:
 *
 *   REPLY   the JSON reply, sent back to the requester;
 *   REFUSE  a business refusal: the reason (at most RK_DETAIL_MAX printable
 *           characters, no personal data), the requester is told
 *           REFUSED_BY_RECIPIENT with it;
 *   DONE    taken, no reply (a notice);
 *   LATER   taken: it will be answered later with `renkei-agent reply`;
 *           the request stays claimed in the inbox;
 *   FAIL    a failure: tried again after 1, 2, 4 ... s (at most
 *           HANDLER_BACKOFF_MAX_S) up to `retries` times, then DEAD in the
 *           inbox (renkei-agent retry hands it out again).  Each failure is
 *           recorded in the inbox entry (attempts, error, next try), so the
 *           count goes on after a restart.
 *
 * All library calls stay on the caller's thread.  Not thread-safe.
 */
#ifndef RENKEI_AGENTS_HANDLER_H
#define RENKEI_AGENTS_HANDLER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <renkei/agent.h>

#define HANDLER_BACKOFF_MAX_S 60
#define HANDLER_ERROR_MAX 200 /* bytes of an attempt's error, with its NUL */

typedef enum handler_verdict {
    HANDLER_FAIL = 0,
    HANDLER_REPLY,
    HANDLER_REFUSE,
    HANDLER_DONE,
    HANDLER_LATER,
} handler_verdict;

/* One request the pool holds.  The pool fills ev, input and msg_hex; a
 * back end keeps its running attempt in att (non-NULL while it runs) and,
 * when the attempt ended, sets ended, verdict and body (malloc'd; the pool
 * wipes and frees it) or error (FAIL: a few words, never a payload). */
typedef struct handler_job {
    rk_event *ev;
    char *input; /* the delivery as JSON */
    size_t in_len;
    char msg_hex[33];
    void *att;
    bool ended;
    handler_verdict verdict;
    char *body;
    size_t body_len;
    char error[HANDLER_ERROR_MAX];
    /* the pool's */
    uint32_t attempts; /* failed attempts recorded (also before a restart) */
    bool tried;        /* started at least once by this pool */
    uint64_t next_ms;  /* waiting: when it may start again (monotonic) */
} handler_job;

/* A back end: embedded as the first member of its own state. */
typedef struct handler_backend handler_backend;
struct handler_backend {
    const char *name; /* "the --exec command", "the webhook": for log lines */
    /* Starts an attempt of j (j->att set).  false with error set if it
     * could not start: counted as a failed attempt. */
    bool (*start)(handler_backend *be, handler_job *j, char *error, size_t error_len);
    /* Waits up to wait_ms for the running attempts among jobs[0:n] and
     * marks those that ended (att NULL again, ended set). */
    void (*wait)(handler_backend *be, handler_job **jobs, size_t n, int wait_ms);
    /* Stops the running attempts among jobs[0:n] (att NULL again) and frees
     * the back end. */
    void (*free)(handler_backend *be, handler_job **jobs, size_t n);
};

typedef struct handler_cfg {
    int parallel; /* attempts at once, >= 1 */
    int retries;  /* attempts after the first, >= 0 */
    /* Where the pool's lines go (level: common/logline.h RK_LOG_*). */
    void (*log)(int level, const char *fmt, va_list ap);
} handler_cfg;

typedef struct handler_pool handler_pool_t;

/* A pool for cfg (copied) over be, which it owns from now on (freed also
 * on failure).  NULL: no memory. */
handler_pool_t *handler_pool_new(const handler_cfg *cfg, handler_backend *be);

/* Stops the running attempts and frees everything; their requests stay
 * claimed in the inbox and are handed out again when serve starts again.
 * Accepts NULL. */
void handler_pool_free(handler_pool_t **p);

/* true while `parallel` attempts run, or 8 x `parallel` requests are held
 * (most waiting for a later attempt): take no new request now. */
bool handler_pool_full(const handler_pool_t *p);

/* Requests held: running or waiting for their next attempt. */
size_t handler_pool_held(const handler_pool_t *p);

/* How many new requests the pool can start now (0 when full): claim that
 * many at once (rk_agent_recv_batch), one commit for them all. */
size_t handler_pool_room(const handler_pool_t *p);

/* Hands the request ev to the pool with input, the delivery as JSON; the
 * pool owns both from now on, also on failure.  false: no memory (the
 * request stays claimed). */
bool handler_pool_add(handler_pool_t *p, rk_event *ev, char *input);

/* Starts what is due, waits up to wait_ms for the running attempts, and
 * settles each one that ended (reply, refusal, done, later, a later
 * attempt or DEAD). */
void handler_pool_step(handler_pool_t *p, rk_agent_t *a, int wait_ms);

/* Appends data[0:n] to the NUL-terminated buffer *buf (*len bytes used,
 * *cap allocated), growing it (the old one wiped) as needed.  false, with
 * nothing appended, if it would hold more than max bytes or memory runs
 * out: the back end's attempt fails then. */
bool handler_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n, size_t max);

#endif /* RENKEI_AGENTS_HANDLER_H */
