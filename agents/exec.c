/*
 * exec.c - the command back end behind `renkei-agent serve --exec CMD`
 * (exec.h).
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

#include "clock.h"

#define OUT_MAX ((size_t)RK_WHAT_CEILING) /* the most a command may print */
#define STOP_GRACE_MS 5000

typedef struct exec_be {
    handler_backend base; /* first: the pool sees this */
    const char *cmd;
    int timeout_s;
} exec_be;

/* One running attempt. */
typedef struct run {
    char **envp;
    size_t first_own;
    pid_t pid;         /* the command (its process group); 0 once reaped */
    int in_fd, out_fd; /* -1 when closed */
    size_t sent;
    char *out;
    size_t out_len, out_cap;
    bool overflow, timed_out;
    uint64_t deadline_ms; /* when it is killed */
} run;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void free_envp(char **envp, size_t first_own)
{
    if (envp == NULL)
        return;
    for (size_t i = first_own; envp[i] != NULL; i++) {
        sodium_memzero(envp[i], strlen(envp[i]));
        free(envp[i]);
    }
    free(envp);
}

static void run_free(run *r)
{
    if (r == NULL)
        return;
    close_fd(&r->in_fd);
    close_fd(&r->out_fd);
    if (r->out != NULL) {
        sodium_memzero(r->out, r->out_cap);
        free(r->out);
    }
    free_envp(r->envp, r->first_own);
    free(r);
}

static char *env_entry(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s=%s", name, value);
    return s;
}

/* The environment for the command: ours, minus stale RENKEI_* message
 * variables, plus this message's.  *first_own is where the entries this
 * function allocated begin. */
static char **build_envp(const rk_event *ev, const char *msg_hex, size_t *first_own)
{
    static const char *const names[] = {"RENKEI_FROM", "RENKEI_TYPE", "RENKEI_MSG_ID", "RENKEI_CODE",
                                        "RENKEI_FIRST_CONTACT"};
    char code[RK_CODE_TEXT_LEN + 1];
    const char *values[5];
    size_t n = 0, k = 0;
    char **envp;

    for (char **e = environ; *e != NULL; e++)
        n++;
    envp = calloc(n + 6, sizeof *envp);
    if (envp == NULL)
        return NULL;
    for (char **e = environ; *e != NULL; e++) {
        bool ours = false;
        for (size_t i = 0; i < 5; i++) {
            size_t l = strlen(names[i]);
            if (strncmp(*e, names[i], l) == 0 && (*e)[l] == '=')
                ours = true;
        }
        if (!ours)
            envp[k++] = *e;
    }
    *first_own = k;
    rk_code_to_text(ev->code, code);
    values[0] = ev->from;
    values[1] = ev->type;
    values[2] = msg_hex;
    values[3] = code;
    values[4] = ev->first_contact ? "1" : "0";
    for (size_t i = 0; i < 5; i++) {
        envp[k] = env_entry(names[i], values[i]);
        if (envp[k] == NULL) {
            sodium_memzero(code, sizeof code);
            free_envp(envp, *first_own);
            return NULL;
        }
        k++;
    }
    sodium_memzero(code, sizeof code);
    return envp;
}

/* Starts one attempt of j.  false with why set if it could not start. */
static bool exec_start(handler_backend *be, handler_job *j, char *why, size_t why_len)
{
    exec_be *x = (exec_be *)be;
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    run *r = calloc(1, sizeof *r);
    pid_t pid;

    if (r == NULL || (r->envp = build_envp(j->ev, j->msg_hex, &r->first_own)) == NULL) {
        snprintf(why, why_len, "out of memory preparing the command");
        goto fail;
    }
    r->in_fd = r->out_fd = -1;
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
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
        char *const argv[] = {"sh", "-c", (char *)x->cmd, NULL};
        (void)setpgid(0, 0); /* its own group: a timeout kills all it started */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &sa, NULL);
        if (dup2(in[0], STDIN_FILENO) < 0 || dup2(outp[1], STDOUT_FILENO) < 0)
            _exit(127);
        execve("/bin/sh", argv, r->envp);
        _exit(127);
    }
    (void)setpgid(pid, pid); /* also here: no race with a kill below */
    close(in[0]);
    close(outp[1]);
    r->pid = pid;
    r->in_fd = in[1];
    r->out_fd = outp[0];
    (void)fcntl(r->in_fd, F_SETFL, O_NONBLOCK);
    if (j->in_len == 0)
        close_fd(&r->in_fd);
    r->deadline_ms = rk_mono_ms() + (uint64_t)x->timeout_s * 1000u;
    j->att = r;
    return true;

fail:
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&outp[i]);
    }
    run_free(r);
    return false;
}

static void read_out(run *r)
{
    char tmp[4096];
    ssize_t n = read(r->out_fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        close_fd(&r->out_fd);
        return;
    }
    /* Too much (or no memory): stop collecting; the attempt fails when it ends. */
    if (!r->overflow && !handler_append(&r->out, &r->out_len, &r->out_cap, tmp, (size_t)n, OUT_MAX))
        r->overflow = true;
    sodium_memzero(tmp, sizeof tmp);
}

static void write_in(handler_job *j, run *r)
{
    ssize_t n = write(r->in_fd, j->input + r->sent, j->in_len - r->sent);
    if (n > 0)
        r->sent += (size_t)n;
    if ((n < 0 && errno != EAGAIN && errno != EINTR) || r->sent == j->in_len)
        close_fd(&r->in_fd);
}

static bool fail_with(handler_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail_with(handler_job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->error, sizeof j->error, fmt, ap);
    va_end(ap);
    j->verdict = HANDLER_FAIL;
    return false;
}

/* What the attempt r of j, ended with status, says: j->verdict, j->body
 * (taken from r) or j->error. */
static void verdict_of(const exec_be *x, handler_job *j, run *r, int status)
{
    size_t len = r->out_len;
    if (r->timed_out) {
        fail_with(j, "it ran longer than %d s and was killed", x->timeout_s);
        return;
    }
    if (r->overflow) {
        fail_with(j, "it printed more than %zu bytes", OUT_MAX);
        return;
    }
    if (WIFSIGNALED(status)) {
        fail_with(j, "it was killed by signal %d", WTERMSIG(status));
        return;
    }
    if (!WIFEXITED(status)) {
        fail_with(j, "it ended in an unknown way");
        return;
    }
    if (WEXITSTATUS(status) == EXEC_EXIT_LATER) {
        j->verdict = HANDLER_LATER;
        return;
    }
    if (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != EXEC_EXIT_REFUSE) {
        fail_with(j, "it exited with status %d", WEXITSTATUS(status));
        return;
    }
    if (WEXITSTATUS(status) == 0) {
        json_error_t jerr;
        json_t *v;
        while (len > 0 && (r->out[len - 1] == '\n' || r->out[len - 1] == '\r' || r->out[len - 1] == ' ' ||
                           r->out[len - 1] == '\t'))
            len--;
        v = len > 0 ? json_loadb(r->out, len, JSON_DECODE_ANY, &jerr) : NULL;
        if (v == NULL) {
            /* Where, not what: jansson's text may quote the output. */
            if (len == 0)
                fail_with(j, "it printed no JSON (nothing)");
            else
                fail_with(j, "it printed no JSON (line %d, column %d)", jerr.line, jerr.column);
            return;
        }
        json_decref(v);
    }
    j->verdict = WEXITSTATUS(status) == 0 ? HANDLER_REPLY : HANDLER_REFUSE;
    j->body = r->out;
    j->body_len = len;
    r->out = NULL;
    r->out_len = r->out_cap = 0;
}

static void exec_wait(handler_backend *be, handler_job **jobs, size_t n, int wait_ms)
{
    exec_be *x = (exec_be *)be;
    struct pollfd *fds = NULL;
    handler_job **owner = NULL;
    nfds_t nf = 0;
    uint64_t now = rk_mono_ms(), wake = now + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
    bool quiet_runner = false;
    int pr;

    fds = calloc(2 * n + 1, sizeof *fds);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, sized by its element */
    owner = calloc(2 * n + 1, sizeof *owner);
    if (fds == NULL || owner == NULL) {
        free(fds);
        free(owner);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        run *r = jobs[i]->att;
        if (r == NULL)
            continue;
        if (r->deadline_ms < wake)
            wake = r->deadline_ms;
        /* A command that closed its stdout but runs on is looked at again
         * soon. */
        quiet_runner |= r->out_fd < 0;
        if (r->out_fd >= 0) {
            owner[nf] = jobs[i];
            fds[nf++] = (struct pollfd){.fd = r->out_fd, .events = POLLIN};
        }
        if (r->in_fd >= 0) {
            owner[nf] = jobs[i];
            fds[nf++] = (struct pollfd){.fd = r->in_fd, .events = POLLOUT};
        }
    }
    {
        uint64_t until = wake > now ? wake - now : 0;
        if (quiet_runner && until > 50)
            until = 50;
        pr = poll(fds, nf, (int)until);
    }
    for (nfds_t k = 0; pr > 0 && k < nf; k++) {
        run *r = owner[k]->att;
        if (fds[k].revents == 0)
            continue;
        if (fds[k].fd == r->out_fd)
            read_out(r);
        else if (fds[k].fd == r->in_fd)
            write_in(owner[k], r);
    }
    free(fds);
    free(owner);

    /* Reap what ended; kill what ran too long. */
    now = rk_mono_ms();
    for (size_t i = 0; i < n; i++) {
        handler_job *j = jobs[i];
        run *r = j->att;
        int status = 0;
        pid_t w;
        if (r == NULL)
            continue;
        if (now >= r->deadline_ms && !r->timed_out) {
            r->timed_out = true;
            (void)kill(-r->pid, SIGKILL);
            close_fd(&r->in_fd);
            close_fd(&r->out_fd);
        }
        if (!r->timed_out && r->out_fd >= 0)
            continue; /* still printing: reaped once its stdout closes */
        w = waitpid(r->pid, &status, r->timed_out ? 0 : WNOHANG);
        if (w == 0 || (w < 0 && errno == EINTR))
            continue;
        if (r->timed_out)
            (void)kill(-r->pid, SIGKILL); /* what it left behind in its group */
        verdict_of(x, j, r, w < 0 ? (1 << 8) : status);
        run_free(r);
        j->att = NULL;
        j->ended = true;
    }
}

static void exec_free(handler_backend *be, handler_job **jobs, size_t n)
{
    uint64_t until;
    for (size_t i = 0; i < n; i++) {
        run *r = jobs[i]->att;
        if (r != NULL) {
            close_fd(&r->in_fd);
            close_fd(&r->out_fd);
            (void)kill(-r->pid, SIGTERM);
        }
    }
    until = rk_mono_ms() + STOP_GRACE_MS;
    for (;;) {
        bool left = false;
        for (size_t i = 0; i < n; i++) {
            run *r = jobs[i]->att;
            int status;
            if (r == NULL || r->pid <= 0)
                continue;
            pid_t w = waitpid(r->pid, &status, WNOHANG);
            if (w > 0 || (w < 0 && errno != EINTR))
                r->pid = 0;
            else if (rk_mono_ms() >= until)
                (void)kill(-r->pid, SIGKILL);
            left |= r->pid > 0;
        }
        if (!left)
            break;
        {
            struct timespec ts = {0, 20L * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    for (size_t i = 0; i < n; i++) {
        run_free(jobs[i]->att);
        jobs[i]->att = NULL;
    }
    free(be);
}

handler_backend *exec_backend_new(const char *cmd, int timeout_s)
{
    exec_be *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->base.name = "the --exec command";
    x->base.start = exec_start;
    x->base.wait = exec_wait;
    x->base.free = exec_free;
    x->cmd = cmd;
    x->timeout_s = timeout_s >= 1 ? timeout_s : EXEC_TIMEOUT_DEFAULT_S;
    return &x->base;
}
