/*
 * exec.c - the adapter behind `renkei-agent serve --exec CMD` (exec.h).
 */
#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logline.h"

#define OUT_MAX ((size_t)RK_WHAT_CEILING) /* the most a command may print */
#define STOP_GRACE_MS 5000
#define HELD_PER_SLOT 8 /* requests held (running or waiting) per --exec-parallel */

typedef struct job {
    rk_event *ev;
    char *input;
    size_t in_len;
    char **envp;
    size_t first_own;
    char msg_hex[33];
    int attempts;      /* started so far */
    pid_t pid;         /* running: the command (its process group); 0 otherwise */
    int in_fd, out_fd; /* -1 when closed */
    size_t sent;
    char *out;
    size_t out_len, out_cap;
    bool overflow, timed_out;
    uint64_t deadline_ms; /* running: when it is killed */
    uint64_t next_ms;     /* waiting: when it may start again */
} job;

struct exec_pool {
    exec_cfg cfg;
    job **jobs;
    size_t n, cap;
};

static void plog(const exec_pool_t *p, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void plog(const exec_pool_t *p, int level, const char *fmt, ...)
{
    va_list ap;
    if (p->cfg.log == NULL)
        return;
    va_start(ap, fmt);
    p->cfg.log(level, fmt, ap);
    va_end(ap);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void hex16(const uint8_t b[16], char out[33])
{
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[(size_t)2 * i] = d[b[i] >> 4];
        out[(size_t)2 * i + 1] = d[b[i] & 15];
    }
    out[32] = '\0';
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void wipe_out(job *j)
{
    if (j->out != NULL) {
        sodium_memzero(j->out, j->out_cap);
        free(j->out);
    }
    j->out = NULL;
    j->out_len = j->out_cap = 0;
}

static void job_free(job *j)
{
    if (j == NULL)
        return;
    close_fd(&j->in_fd);
    close_fd(&j->out_fd);
    wipe_out(j);
    if (j->input != NULL) {
        sodium_memzero(j->input, j->in_len);
        free(j->input);
    }
    if (j->envp != NULL) {
        for (size_t i = j->first_own; j->envp[i] != NULL; i++) {
            sodium_memzero(j->envp[i], strlen(j->envp[i]));
            free(j->envp[i]);
        }
        free(j->envp);
    }
    rk_event_free(&j->ev);
    free(j);
}

exec_pool_t *exec_pool_new(const exec_cfg *cfg)
{
    exec_pool_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->cfg = *cfg;
    if (p->cfg.parallel < 1)
        p->cfg.parallel = 1;
    if (p->cfg.timeout_s < 1)
        p->cfg.timeout_s = EXEC_TIMEOUT_DEFAULT_S;
    if (p->cfg.retries < 0)
        p->cfg.retries = 0;
    return p;
}

static size_t running(const exec_pool_t *p)
{
    size_t r = 0;
    for (size_t i = 0; i < p->n; i++)
        r += p->jobs[i]->pid > 0;
    return r;
}

bool exec_pool_full(const exec_pool_t *p)
{
    /* Requests waiting for a later attempt count too, beyond a few per
     * slot: a command that always fails does not claim the whole inbox. */
    return running(p) >= (size_t)p->cfg.parallel || p->n >= (size_t)p->cfg.parallel * HELD_PER_SLOT;
}

size_t exec_pool_held(const exec_pool_t *p)
{
    return p->n;
}

bool exec_pool_add(exec_pool_t *p, rk_event *ev, char *input, char **envp, size_t first_own)
{
    job *j = calloc(1, sizeof *j);
    if (j != NULL) {
        j->ev = ev;
        j->input = input;
        j->in_len = strlen(input);
        j->envp = envp;
        j->first_own = first_own;
        j->in_fd = j->out_fd = -1;
        hex16(ev->msg_id, j->msg_hex);
    }
    if (j != NULL && p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
        job **bigger = realloc(p->jobs, cap * sizeof *bigger);
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
        for (size_t i = first_own; envp != NULL && envp[i] != NULL; i++) {
            sodium_memzero(envp[i], strlen(envp[i]));
            free(envp[i]);
        }
        free(envp);
        rk_event_free(&ev);
        return false;
    }
    p->jobs[p->n++] = j;
    return true;
}

static int pipe_cloexec(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}

/* Starts one attempt of j.  false with why set if it could not start. */
static bool start(exec_pool_t *p, job *j, char *why, size_t why_len)
{
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    pid_t pid;

    if (pipe_cloexec(in) != 0 || pipe_cloexec(outp) != 0) {
        snprintf(why, why_len, "cannot create pipes: %s", strerror(errno));
        goto fail;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "cannot start the command: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls from here on. */
        struct sigaction sa;
        char *const argv[] = {"sh", "-c", (char *)p->cfg.cmd, NULL};
        (void)setpgid(0, 0); /* its own group: a timeout kills all it started */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &sa, NULL);
        if (dup2(in[0], STDIN_FILENO) < 0 || dup2(outp[1], STDOUT_FILENO) < 0)
            _exit(127);
        execve("/bin/sh", argv, j->envp);
        _exit(127);
    }
    (void)setpgid(pid, pid); /* also here: no race with a kill below */
    close(in[0]);
    close(outp[1]);
    j->pid = pid;
    j->in_fd = in[1];
    j->out_fd = outp[0];
    (void)fcntl(j->in_fd, F_SETFL, O_NONBLOCK);
    if (j->in_len == 0)
        close_fd(&j->in_fd);
    j->sent = 0;
    j->overflow = j->timed_out = false;
    wipe_out(j);
    j->attempts++;
    j->deadline_ms = mono_ms() + (uint64_t)p->cfg.timeout_s * 1000u;
    return true;

fail:
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&outp[i]);
    }
    return false;
}

static void read_out(job *j)
{
    char tmp[4096];
    ssize_t n = read(j->out_fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        close_fd(&j->out_fd);
        return;
    }
    if (j->overflow)
        goto done;
    if (j->out_len + (size_t)n > OUT_MAX) {
        /* Too much: stop collecting; the attempt fails when it ends. */
        j->overflow = true;
        goto done;
    }
    if (j->out_len + (size_t)n + 1 > j->out_cap) {
        size_t cap = j->out_cap ? j->out_cap : 4096;
        char *bigger;
        while (cap < j->out_len + (size_t)n + 1)
            cap *= 2;
        bigger = malloc(cap);
        if (bigger == NULL) {
            j->overflow = true;
            goto done;
        }
        if (j->out != NULL)
            memcpy(bigger, j->out, j->out_len);
        wipe_out(j);
        j->out = bigger;
        j->out_cap = cap;
    }
    memcpy(j->out + j->out_len, tmp, (size_t)n);
    j->out_len += (size_t)n;
    j->out[j->out_len] = '\0';
done:
    sodium_memzero(tmp, sizeof tmp);
}

static void write_in(job *j)
{
    ssize_t n = write(j->in_fd, j->input + j->sent, j->in_len - j->sent);
    if (n > 0)
        j->sent += (size_t)n;
    if ((n < 0 && errno != EAGAIN && errno != EINTR) || j->sent == j->in_len)
        close_fd(&j->in_fd);
}

/* The command's stdout as a refusal reason (the library cleans it further). */
static void reason_of(const job *j, char *out, size_t out_len)
{
    size_t n = 0;
    for (size_t i = 0; i < j->out_len && n + 1 < out_len; i++) {
        char c = j->out[i];
        out[n++] = (char)((c == '\n' || c == '\r' || c == '\t') ? ' ' : c);
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* One attempt ended in a failure: try again later, or give up. */
static bool failed(exec_pool_t *p, job *j, const char *what)
{
    int total = p->cfg.retries + 1;
    if (j->attempts < total) {
        unsigned secs = 1u << (j->attempts - 1 < 6 ? j->attempts - 1 : 6);
        if (secs > EXEC_BACKOFF_MAX_S)
            secs = EXEC_BACKOFF_MAX_S;
        j->next_ms = mono_ms() + (uint64_t)secs * 1000u;
        plog(p, RK_LOG_ERR,
             "the --exec command for message %s from %s failed (attempt %d of %d): %s; trying again in %u s",
             j->msg_hex, j->ev->from, j->attempts, total, what, secs);
        return false;
    }
    plog(p, RK_LOG_ERR,
         "the --exec command for message %s from %s failed (attempt %d of %d): %s; no reply sent, given up: "
         "the request stays claimed in the inbox and is handed out again when serve restarts",
         j->msg_hex, j->ev->from, j->attempts, total, what);
    return true;
}

/* true if j's request was answered meanwhile by another process (e.g.
 * renkei-agent reply): then the command's answer must not go out too. */
static bool answered_elsewhere(exec_pool_t *p, job *j, rk_agent_t *a)
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

/* The attempt of j ended with status: reply, refuse, defer or fail.
 * true when the pool is done with j. */
static bool settle(exec_pool_t *p, job *j, rk_agent_t *a, int status)
{
    bool answers = j->timed_out || j->overflow || !WIFEXITED(status)
                       ? false
                       : WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == EXEC_EXIT_REFUSE;
    char why[512] = "", what[600];
    uint8_t reply_id[RK_MSGID_LEN];
    rk_result_t result;
    rk_agent_err err;

    if (answers && answered_elsewhere(p, j, a))
        return true;
    if (j->timed_out) {
        snprintf(what, sizeof what, "it ran longer than %d s and was killed", p->cfg.timeout_s);
        return failed(p, j, what);
    }
    if (j->overflow) {
        snprintf(what, sizeof what, "it printed more than %zu bytes", OUT_MAX);
        return failed(p, j, what);
    }
    if (WIFSIGNALED(status)) {
        snprintf(what, sizeof what, "it was killed by signal %d", WTERMSIG(status));
        return failed(p, j, what);
    }
    if (!WIFEXITED(status)) {
        snprintf(what, sizeof what, "it ended in an unknown way");
        return failed(p, j, what);
    }
    if (WEXITSTATUS(status) == EXEC_EXIT_LATER) {
        plog(p, RK_LOG_NOTICE,
             "message %s from %s is taken to be answered later (renkei-agent reply --from %s --to-msg %s)",
             j->msg_hex, j->ev->from, j->ev->from, j->msg_hex);
        return true;
    }
    if (WEXITSTATUS(status) == EXEC_EXIT_REFUSE) {
        char reason[RK_DETAIL_MAX + 1];
        reason_of(j, reason, sizeof reason);
        err = rk_agent_refuse(a, j->ev, RK_ST_REFUSED_BY_RECIPIENT, reason, why, sizeof why);
        if (err != RK_AGENT_OK) {
            snprintf(what, sizeof what, "its refusal could not be recorded: %s",
                     why[0] ? why : rk_agent_strerror(err));
            return failed(p, j, what);
        }
        plog(p, RK_LOG_NOTICE, "refused %s message %s from %s (REFUSED_BY_RECIPIENT)", j->ev->type,
             j->msg_hex, j->ev->from);
        return true;
    }
    if (WEXITSTATUS(status) != 0) {
        snprintf(what, sizeof what, "it exited with status %d", WEXITSTATUS(status));
        return failed(p, j, what);
    }
    {
        json_error_t jerr;
        json_t *v;
        size_t len = j->out_len;
        while (len > 0 && (j->out[len - 1] == '\n' || j->out[len - 1] == '\r' || j->out[len - 1] == ' ' ||
                           j->out[len - 1] == '\t'))
            len--;
        v = len > 0 ? json_loadb(j->out, len, JSON_DECODE_ANY, &jerr) : NULL;
        if (v == NULL) {
            if (len == 0)
                snprintf(what, sizeof what, "it printed no JSON (nothing)");
            else
                snprintf(what, sizeof what, "it printed no JSON (%s, line %d, column %d)", jerr.text,
                         jerr.line, jerr.column);
            return failed(p, j, what);
        }
        json_decref(v);
        j->out_len = len;
    }
    /* The reply is committed and the request marked done in one step. */
    err = rk_agent_reply(a, j->ev, (const uint8_t *)j->out, j->out_len, reply_id, &result, why, sizeof why);
    if (err == RK_AGENT_EPENDING) {
        char reply_hex[33];
        hex16(reply_id, reply_hex);
        plog(p, RK_LOG_ERR,
             "the reply to message %s from %s is kept in the outbox (msg %s) and re-sent automatically: %s",
             j->msg_hex, j->ev->from, reply_hex, why);
    } else if (err == RK_AGENT_EREFUSED) {
        plog(p, RK_LOG_ERR, "the reply to message %s from %s was refused: %s: %s%s%s%s", j->msg_hex,
             j->ev->from, rk_status_name(result.status), rk_status_text(result.status),
             result.detail[0] ? " (" : "", result.detail, result.detail[0] ? ")" : "");
    } else if (err != RK_AGENT_OK) {
        snprintf(what, sizeof what, "its reply was not sent: %s", why[0] ? why : rk_agent_strerror(err));
        return failed(p, j, what);
    } else {
        plog(p, RK_LOG_NOTICE, "replied to %s message %s from %s (seq %llu)", j->ev->type, j->msg_hex,
             j->ev->from, (unsigned long long)result.seq);
    }
    return true;
}

static void remove_at(exec_pool_t *p, size_t i)
{
    job_free(p->jobs[i]);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
    memmove(p->jobs + i, p->jobs + i + 1, (p->n - i - 1) * sizeof *p->jobs);
    p->n--;
}

void exec_pool_step(exec_pool_t *p, rk_agent_t *a, int wait_ms)
{
    struct pollfd *fds = NULL;
    job **owner = NULL;
    nfds_t nf = 0;
    uint64_t now = mono_ms(), wake = now + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
    int pr;

    /* Start what is due, oldest first, while there is room. */
    for (size_t i = 0; i < p->n && running(p) < (size_t)p->cfg.parallel; i++) {
        job *j = p->jobs[i];
        char why[256];
        if (j->pid > 0 || j->next_ms > now)
            continue;
        if (j->attempts > 0 && answered_elsewhere(p, j, a)) {
            remove_at(p, i);
            i--;
            continue;
        }
        if (!start(p, j, why, sizeof why)) {
            j->attempts++;
            if (failed(p, j, why)) {
                remove_at(p, i);
                i--;
            }
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        job *j = p->jobs[i];
        if (j->pid > 0 && j->deadline_ms < wake)
            wake = j->deadline_ms;
        if (j->pid == 0 && j->next_ms > now && j->next_ms < wake)
            wake = j->next_ms;
    }
    fds = calloc(2 * p->n + 1, sizeof *fds);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
    owner = calloc(2 * p->n + 1, sizeof *owner);
    if (fds == NULL || owner == NULL) {
        free(fds);
        free(owner);
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        job *j = p->jobs[i];
        if (j->pid <= 0)
            continue;
        if (j->out_fd >= 0) {
            owner[nf] = j;
            fds[nf++] = (struct pollfd){.fd = j->out_fd, .events = POLLIN};
        }
        if (j->in_fd >= 0) {
            owner[nf] = j;
            fds[nf++] = (struct pollfd){.fd = j->in_fd, .events = POLLOUT};
        }
    }
    {
        /* A command that closed its stdout but runs on is looked at again
         * soon; otherwise poll until something happens or wake. */
        bool quiet_runner = false;
        for (size_t i = 0; i < p->n; i++)
            quiet_runner |= p->jobs[i]->pid > 0 && p->jobs[i]->out_fd < 0;
        uint64_t until = wake > now ? wake - now : 0;
        if (quiet_runner && until > 50)
            until = 50;
        pr = poll(fds, nf, (int)until);
    }
    for (nfds_t k = 0; pr > 0 && k < nf; k++) {
        if (fds[k].revents == 0)
            continue;
        if (fds[k].fd == owner[k]->out_fd)
            read_out(owner[k]);
        else if (fds[k].fd == owner[k]->in_fd)
            write_in(owner[k]);
    }
    free(fds);
    free(owner);

    /* Reap what ended; kill what ran too long. */
    now = mono_ms();
    for (size_t i = 0; i < p->n; i++) {
        job *j = p->jobs[i];
        int status = 0;
        pid_t w;
        if (j->pid <= 0)
            continue;
        if (now >= j->deadline_ms && !j->timed_out) {
            j->timed_out = true;
            (void)kill(-j->pid, SIGKILL);
            close_fd(&j->in_fd);
            close_fd(&j->out_fd);
        }
        if (!j->timed_out && j->out_fd >= 0)
            continue; /* still printing: reaped once its stdout closes */
        w = waitpid(j->pid, &status, j->timed_out ? 0 : WNOHANG);
        if (w == 0 || (w < 0 && errno == EINTR))
            continue;
        close_fd(&j->in_fd);
        close_fd(&j->out_fd);
        j->pid = 0;
        if (j->timed_out)
            (void)kill(-(pid_t)w, SIGKILL); /* what it left behind in its group */
        if (settle(p, j, a, w < 0 ? (1 << 8) : status)) {
            remove_at(p, i);
            i--;
        } else {
            wipe_out(j);
        }
    }
}

void exec_pool_free(exec_pool_t **pp)
{
    exec_pool_t *p = pp != NULL ? *pp : NULL;
    uint64_t until;
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (p->jobs[i]->pid > 0) {
            close_fd(&p->jobs[i]->in_fd);
            close_fd(&p->jobs[i]->out_fd);
            (void)kill(-p->jobs[i]->pid, SIGTERM);
        }
    until = mono_ms() + STOP_GRACE_MS;
    for (;;) {
        bool left = false;
        for (size_t i = 0; i < p->n; i++) {
            job *j = p->jobs[i];
            int status;
            if (j->pid <= 0)
                continue;
            pid_t w = waitpid(j->pid, &status, WNOHANG);
            if (w > 0 || (w < 0 && errno != EINTR))
                j->pid = 0;
            else if (mono_ms() >= until)
                (void)kill(-j->pid, SIGKILL);
            left |= j->pid > 0;
        }
        if (!left)
            break;
        {
            struct timespec ts = {0, 20L * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    for (size_t i = 0; i < p->n; i++)
        job_free(p->jobs[i]);
    free(p->jobs);
    free(p);
    *pp = NULL;
}
