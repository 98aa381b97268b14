/*
 * handler.c - the pool behind `renkei-agent serve --exec` and `--webhook`
 * (handler.h): which request runs when, how often, and what its answer
 * does.  The back ends (exec.c, webhook.c) only carry one attempt.
 */
#include "handler.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "logline.h"

#define HELD_PER_SLOT 8 /* requests held (running or waiting) per parallel slot */

struct handler_pool {
    handler_cfg cfg;
    handler_backend *be;
    handler_job **jobs;
    size_t n, cap;
};

static void plog(const handler_pool_t *p, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void plog(const handler_pool_t *p, int level, const char *fmt, ...)
{
    va_list ap;
    if (p->cfg.log == NULL)
        return;
    va_start(ap, fmt);
    p->cfg.log(level, fmt, ap);
    va_end(ap);
}

bool handler_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n, size_t max)
{
    if (*len + n > max)
        return false;
    if (*len + n + 1 > *cap) {
        size_t grown = *cap ? *cap : 4096;
        char *bigger;
        while (grown < *len + n + 1)
            grown *= 2;
        if ((bigger = malloc(grown)) == NULL)
            return false;
        if (*buf != NULL) {
            memcpy(bigger, *buf, *len);
            sodium_memzero(*buf, *cap);
            free(*buf);
        }
        *buf = bigger;
        *cap = grown;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

static void wipe_body(handler_job *j)
{
    if (j->body != NULL) {
        sodium_memzero(j->body, j->body_len);
        free(j->body);
    }
    j->body = NULL;
    j->body_len = 0;
}

static void job_free(handler_job *j)
{
    if (j == NULL)
        return;
    wipe_body(j);
    if (j->input != NULL) {
        sodium_memzero(j->input, j->in_len);
        free(j->input);
    }
    rk_event_free(&j->ev);
    free(j);
}

handler_pool_t *handler_pool_new(const handler_cfg *cfg, handler_backend *be)
{
    handler_pool_t *p = calloc(1, sizeof *p);
    if (p == NULL) {
        if (be != NULL)
            be->free(be, NULL, 0);
        return NULL;
    }
    p->cfg = *cfg;
    p->be = be;
    if (p->cfg.parallel < 1)
        p->cfg.parallel = 1;
    if (p->cfg.retries < 0)
        p->cfg.retries = 0;
    return p;
}

static size_t running(const handler_pool_t *p)
{
    size_t r = 0;
    for (size_t i = 0; i < p->n; i++)
        r += p->jobs[i]->att != NULL;
    return r;
}

bool handler_pool_full(const handler_pool_t *p)
{
    /* Requests waiting for a later attempt count too, beyond a few per
     * slot: a system that always fails does not claim the whole inbox. */
    return running(p) >= (size_t)p->cfg.parallel || p->n >= (size_t)p->cfg.parallel * HELD_PER_SLOT;
}

size_t handler_pool_held(const handler_pool_t *p)
{
    return p->n;
}

size_t handler_pool_room(const handler_pool_t *p)
{
    size_t run = running(p), slots = (size_t)p->cfg.parallel, held = slots * HELD_PER_SLOT;
    size_t room = run < slots ? slots - run : 0;
    if (p->n >= held)
        return 0;
    return room < held - p->n ? room : held - p->n;
}

bool handler_pool_add(handler_pool_t *p, rk_event *ev, char *input)
{
    handler_job *j = calloc(1, sizeof *j);
    uint64_t wall = rk_wall_ms();
    if (j != NULL) {
        j->ev = ev;
        j->input = input;
        j->in_len = strlen(input);
        rk_code_to_text(ev->msg_id, j->msg_hex);
        /* Failed before (also before a restart): the count goes on, and
         * the next try waits as it was planned (at most the longest
         * back-off from now). */
        j->attempts = ev->attempts;
        if (ev->next_try_ms > wall) {
            uint64_t wait = ev->next_try_ms - wall;
            if (wait > (uint64_t)HANDLER_BACKOFF_MAX_S * 1000u)
                wait = (uint64_t)HANDLER_BACKOFF_MAX_S * 1000u;
            j->next_ms = rk_mono_ms() + wait;
        }
    }
    if (j != NULL && p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
        handler_job **bigger = realloc(p->jobs, cap * sizeof *bigger);
        if (bigger == NULL) {
            job_free(j);
            return false;
        }
        p->jobs = bigger;
        p->cap = cap;
    }
    if (j == NULL) {
        sodium_memzero(input, strlen(input));
        free(input);
        rk_event_free(&ev);
        return false;
    }
    p->jobs[p->n++] = j;
    return true;
}

/* One attempt ended in a failure: recorded in the inbox entry; tried again
 * later, or DEAD.  true when the pool is done with j. */
static bool failed(handler_pool_t *p, handler_job *j, rk_agent_t *a, const char *what)
{
    uint32_t total = (uint32_t)p->cfg.retries + 1, recorded = 0;
    bool last = j->attempts + 1 >= total;
    unsigned shift = j->attempts < 6 ? j->attempts : 6, secs = 1u << shift;
    char why[256] = "";
    rk_agent_err err;

    if (secs > HANDLER_BACKOFF_MAX_S)
        secs = HANDLER_BACKOFF_MAX_S;
    err = rk_agent_attempt_failed(a, j->ev, what, last ? 0 : rk_wall_ms() + (uint64_t)secs * 1000u, &recorded,
                                  why, sizeof why);
    if (err == RK_AGENT_ECONFLICT || err == RK_AGENT_ENOTFOUND) {
        plog(p, RK_LOG_NOTICE,
             "message %s from %s was answered meanwhile (renkei-agent reply); not tried again", j->msg_hex,
             j->ev->from);
        return true;
    }
    if (err != RK_AGENT_OK) {
        plog(p, RK_LOG_ERR, "could not record the failed attempt for message %s from %s: %s", j->msg_hex,
             j->ev->from, why[0] ? why : rk_agent_strerror(err));
        recorded = j->attempts + 1;
    }
    j->attempts = recorded;
    if (!last) {
        j->next_ms = rk_mono_ms() + (uint64_t)secs * 1000u;
        plog(p, RK_LOG_ERR, "%s for message %s from %s failed (attempt %u of %u): %s; trying again in %u s",
             p->be->name, j->msg_hex, j->ev->from, (unsigned)j->attempts, (unsigned)total, what, secs);
        return false;
    }
    if (err != RK_AGENT_OK) {
        plog(p, RK_LOG_ERR,
             "%s for message %s from %s failed (attempt %u of %u): %s; given up: the request stays "
             "claimed in the inbox and is handed out again when serve restarts",
             p->be->name, j->msg_hex, j->ev->from, (unsigned)j->attempts, (unsigned)total, what);
        return true;
    }
    plog(p, RK_LOG_ERR,
         "%s for message %s from %s failed (attempt %u of %u): %s; given up: DEAD in the inbox (renkei-agent "
         "status shows it; renkei-agent retry --from %s --msg %s hands it out again)",
         p->be->name, j->msg_hex, j->ev->from, (unsigned)j->attempts, (unsigned)total, what, j->ev->from,
         j->msg_hex);
    return true;
}

/* true if j's request was answered meanwhile by another process (e.g.
 * renkei-agent reply): then this answer must not go out too. */
static bool answered_elsewhere(handler_pool_t *p, handler_job *j, rk_agent_t *a)
{
    char why[256] = "";
    rk_event *cur = NULL;
    rk_agent_err err = rk_agent_take(a, j->ev->from, j->ev->msg_id, &cur, why, sizeof why);
    rk_event_free(&cur);
    if (err != RK_AGENT_ECONFLICT && err != RK_AGENT_ENOTFOUND)
        return false;
    plog(p, RK_LOG_NOTICE,
         "message %s from %s was answered meanwhile (renkei-agent reply); not answered again", j->msg_hex,
         j->ev->from);
    return true;
}

/* A refusal reason as one line (the library cleans it further). */
static void reason_of(const handler_job *j, char *out, size_t out_len)
{
    size_t n = 0;
    for (size_t i = 0; i < j->body_len && n + 1 < out_len; i++) {
        char c = j->body[i];
        out[n++] = (char)((c == '\n' || c == '\r' || c == '\t') ? ' ' : c);
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* The attempt of j ended: reply, refuse, done, later or fail.  true when
 * the pool is done with j. */
static bool settle(handler_pool_t *p, handler_job *j, rk_agent_t *a)
{
    char why[512] = "", what[600];
    uint8_t reply_id[RK_MSGID_LEN];
    rk_result_t result;
    rk_agent_err err;

    if (j->verdict == HANDLER_FAIL)
        return failed(p, j, a, j->error[0] ? j->error : "it failed");
    /* A reply or refusal must not follow one sent meanwhile; marking done
     * what is done already changes nothing, so DONE needs no look. */
    if ((j->verdict == HANDLER_REPLY || j->verdict == HANDLER_REFUSE) && answered_elsewhere(p, j, a))
        return true;
    switch (j->verdict) {
    case HANDLER_LATER:
        plog(p, RK_LOG_NOTICE,
             "message %s from %s is taken to be answered later (renkei-agent reply --from %s --to-msg %s)",
             j->msg_hex, j->ev->from, j->ev->from, j->msg_hex);
        return true;
    case HANDLER_DONE: /* settle_done, for all of a step at once */
        return false;
    case HANDLER_REFUSE: {
        char reason[RK_DETAIL_MAX + 1];
        reason_of(j, reason, sizeof reason);
        err = rk_agent_refuse(a, j->ev, RK_ST_REFUSED_BY_RECIPIENT, reason, why, sizeof why);
        if (err != RK_AGENT_OK) {
            snprintf(what, sizeof what, "its refusal could not be recorded: %s",
                     why[0] ? why : rk_agent_strerror(err));
            return failed(p, j, a, what);
        }
        plog(p, RK_LOG_NOTICE, "refused %s message %s from %s (REFUSED_BY_RECIPIENT)", j->ev->type,
             j->msg_hex, j->ev->from);
        return true;
    }
    default: break;
    }
    /* The reply is committed and the request marked done in one step. */
    err = rk_agent_reply(a, j->ev, (const uint8_t *)j->body, j->body_len, reply_id, &result, why, sizeof why);
    if (err == RK_AGENT_EPENDING) {
        char reply_hex[33];
        rk_code_to_text(reply_id, reply_hex);
        plog(p, RK_LOG_ERR,
             "the reply to message %s from %s is kept in the outbox (msg %s) and re-sent automatically: %s",
             j->msg_hex, j->ev->from, reply_hex, why);
    } else if (err == RK_AGENT_EREFUSED) {
        plog(p, RK_LOG_ERR, "the reply to message %s from %s was refused: %s: %s%s%s%s", j->msg_hex,
             j->ev->from, rk_status_name(result.status), rk_status_text(result.status),
             result.detail[0] ? " (" : "", result.detail, result.detail[0] ? ")" : "");
    } else if (err != RK_AGENT_OK) {
        snprintf(what, sizeof what, "its reply was not sent: %s", why[0] ? why : rk_agent_strerror(err));
        return failed(p, j, a, what);
    } else {
        plog(p, RK_LOG_NOTICE, "replied to %s message %s from %s (seq %llu)", j->ev->type, j->msg_hex,
             j->ev->from, (unsigned long long)result.seq);
    }
    return true;
}

static void remove_at(handler_pool_t *p, size_t i)
{
    job_free(p->jobs[i]);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
    memmove(p->jobs + i, p->jobs + i + 1, (p->n - i - 1) * sizeof *p->jobs);
    p->n--;
}

static void remove_job(handler_pool_t *p, const handler_job *j)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->jobs[i] == j) {
            remove_at(p, i);
            return;
        }
    }
}

/* The attempts of done[0:n] ended DONE (taken, no reply): all marked done
 * in one commit.  Marking done what is done already changes nothing, so
 * DONE needs no look first. */
static void settle_done(handler_pool_t *p, handler_job **done, size_t n, rk_agent_t *a)
{
    rk_event **evs;
    rk_agent_err *each, err;
    char why[512] = "", what[600];

    if (n == 0)
        return;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
    evs = calloc(n, sizeof *evs);
    each = calloc(n, sizeof *each);
    if (evs == NULL || each == NULL) {
        free(evs);
        free(each);
        for (size_t i = 0; i < n; i++)
            if (failed(p, done[i], a, "it could not be marked done: out of memory"))
                remove_job(p, done[i]);
            else
                wipe_body(done[i]);
        return;
    }
    for (size_t i = 0; i < n; i++)
        evs[i] = done[i]->ev;
    err = rk_agent_done_batch(a, evs, n, each, why, sizeof why);
    for (size_t i = 0; i < n; i++) {
        handler_job *j = done[i];
        bool over = true;
        if (each[i] == RK_AGENT_OK || each[i] == RK_AGENT_ECONFLICT) {
            plog(p, RK_LOG_NOTICE, "took %s message %s from %s (no reply)", j->ev->type, j->msg_hex,
                 j->ev->from);
        } else {
            snprintf(what, sizeof what, "it could not be marked done: %s",
                     err != RK_AGENT_OK && why[0] ? why : rk_agent_strerror(each[i]));
            over = failed(p, j, a, what);
        }
        if (over)
            remove_job(p, j);
        else
            wipe_body(j);
    }
    free(evs);
    free(each);
}

void handler_pool_step(handler_pool_t *p, rk_agent_t *a, int wait_ms)
{
    uint64_t now = rk_mono_ms(), wake = now + (uint64_t)(wait_ms > 0 ? wait_ms : 0);

    /* Start what is due, oldest first, while there is room. */
    for (size_t i = 0; i < p->n && running(p) < (size_t)p->cfg.parallel; i++) {
        handler_job *j = p->jobs[i];
        char error[HANDLER_ERROR_MAX];
        if (j->att != NULL || j->next_ms > now)
            continue;
        if ((j->tried || j->attempts > 0) && answered_elsewhere(p, j, a)) {
            remove_at(p, i);
            i--;
            continue;
        }
        error[0] = '\0';
        j->tried = true;
        j->ended = false;
        wipe_body(j);
        if (!p->be->start(p->be, j, error, sizeof error) && failed(p, j, a, error)) {
            remove_at(p, i);
            i--;
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        handler_job *j = p->jobs[i];
        if (j->att == NULL && j->next_ms > now && j->next_ms < wake)
            wake = j->next_ms;
    }
    p->be->wait(p->be, p->jobs, p->n, (int)(wake - now));

    /* Settle what ended; those taken without a reply together, in one
     * commit. */
    {
        handler_job **done = NULL;
        size_t n_done = 0;
        if (p->n > 0)
            /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
            done = calloc(p->n, sizeof *done);
        for (size_t i = 0; i < p->n; i++) {
            handler_job *j = p->jobs[i];
            if (!j->ended || j->att != NULL)
                continue;
            if (j->verdict == HANDLER_DONE && done != NULL) {
                j->ended = false;
                done[n_done++] = j;
                continue;
            }
            j->ended = false;
            if (j->verdict == HANDLER_DONE) {
                /* Out of memory for the batch: this one alone. */
                handler_job *one[1] = {j};
                settle_done(p, one, 1, a);
                i = (size_t)-1; /* the list may have changed: look again */
                continue;
            }
            if (settle(p, j, a)) {
                remove_at(p, i);
                i--;
            } else {
                wipe_body(j);
            }
        }
        settle_done(p, done, n_done, a);
        free(done);
    }
}

void handler_pool_free(handler_pool_t **pp)
{
    handler_pool_t *p = pp != NULL ? *pp : NULL;
    if (p == NULL)
        return;
    p->be->free(p->be, p->jobs, p->n);
    for (size_t i = 0; i < p->n; i++)
        job_free(p->jobs[i]);
    free(p->jobs);
    free(p);
    *pp = NULL;
}
