/*
 * harness.c - run the real Renkei programs for integration tests.
 */
#define _GNU_SOURCE /* memmem */
#include "harness.h"
#include "rawclient.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IT_MAX_PROCS 64
#define IT_MAX_ARGS 64
#define IT_PATH_SLOTS 8

struct it_proc {
    pid_t pid;
    bool done;
    int status;
    char out_path[PATH_MAX];
    char err_path[PATH_MAX];
};

struct it_env {
    char dir[256];
    char bin[1024];
    char hub_data[PATH_MAX];
    char hub_log[PATH_MAX];
    char master[PATH_MAX];
    char ready[PATH_MAX];
    char endpoint[256];
    it_proc_t *hub;
    it_proc_t *procs[IT_MAX_PROCS];
    size_t nprocs;
    unsigned runs;
    char paths[IT_PATH_SLOTS][PATH_MAX];
    unsigned path_slot;
    char label[80]; /* org of the next it_run, named in its file names */
    const char *hub_program; /* "renkei-hub", or "renkei-hub-faults" after it_hub_faults */
    char faults[PATH_MAX];   /* the faults file renkei-hub-faults reads */
};

void it_run_clear(it_run_t *r)
{
    if (r == NULL)
        return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->status = 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void it_sleep_ms(int ms)
{
    sleep_ms(ms);
}

size_t it_count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

bool it_err_wait(it_proc_t *p, const char *needle, size_t n, int timeout_s)
{
    for (int t = 0; t < timeout_s * 10; t++) {
        char *e = it_proc_err(p);
        bool ok = it_count(e, needle) >= n;
        free(e);
        if (ok)
            return true;
        sleep_ms(100);
    }
    return false;
}

const char *it_subdir(it_env_t *env, const char *name)
{
    static char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", it_path(env, name));
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "harness: cannot create %s: %s\n", dir, strerror(errno));
        abort();
    }
    return dir;
}

int it_city_power(it_env_t **env, const char *number, char *person, size_t person_len)
{
    char line[128];
    it_run_t r;
    if ((*env = it_env_new()) == NULL)
        return -1;
    if (it_org(*env, "city.x", "municipality") != 0 || it_org(*env, "power", "utility") != 0 ||
        it_hub_start(*env, NULL) != 0)
        return -1;
    snprintf(line, sizeof line, "%s\n", number);
    if (it_agent(*env, "city.x", line, &r, "enroll", NULL) != 0) {
        fprintf(stderr, "setup: enroll failed: %s\n", r.err);
        it_run_clear(&r);
        return -1;
    }
    it_run_clear(&r);
    return it_person_file(*env, number, person, person_len);
}

int it_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int port = 0, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

char *it_chomp(char *s)
{
    size_t n;
    if (s == NULL)
        return s;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

char *it_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        size_t got;
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap * 2 + 8192);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = cap * 2 + 8192;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

int it_person_file(it_env_t *env, const char *person, char *path, size_t path_len)
{
    int fd, rc = 0;
    size_t n = strlen(person);
    snprintf(path, path_len, "%s/run/%04u.person", env->dir, ++env->runs);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write(fd, person, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
        rc = -1;
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

int it_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (f == NULL)
        return -1;
    if (fputs(text, f) == EOF)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static int rm_tree(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    chmod(path, 0700);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        char sub[PATH_MAX];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) >= sizeof sub)
            continue;
        rm_tree(sub);
    }
    closedir(d);
    return rmdir(path);
}

bool it_tree_contains(const char *dir, const void *needle, size_t len, char *where,
                      size_t where_len)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    bool found = false;

    if (lstat(dir, &st) != 0)
        return false;
    if (S_ISREG(st.st_mode)) {
        size_t n = 0;
        char *buf = it_slurp(dir, &n);
        if (buf != NULL && len > 0 && memmem(buf, n, needle, len) != NULL) {
            found = true;
            if (where != NULL)
                snprintf(where, where_len, "%s", dir);
        }
        free(buf);
        return found;
    }
    if (!S_ISDIR(st.st_mode))
        return false;
    d = opendir(dir);
    if (d == NULL)
        return false;
    while (!found && (de = readdir(d)) != NULL) {
        char sub[PATH_MAX];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name) >= sizeof sub)
            continue;
        found = it_tree_contains(sub, needle, len, where, where_len);
    }
    closedir(d);
    return found;
}

const char *it_dir(const it_env_t *env) { return env->dir; }
const char *it_hub_data(const it_env_t *env) { return env->hub_data; }
const char *it_hub_log_path(const it_env_t *env) { return env->hub_log; }
const char *it_master_path(const it_env_t *env) { return env->master; }
const char *it_hub_endpoint(const it_env_t *env) { return env->endpoint; }
pid_t it_proc_pid(const it_proc_t *p) { return p->pid; }

const char *it_path(it_env_t *env, const char *rel)
{
    char *slot = env->paths[env->path_slot++ % IT_PATH_SLOTS];
    size_t d = strlen(env->dir), n = strlen(rel);
    if (d + 1 + n >= PATH_MAX)
        n = PATH_MAX - d - 2;
    memcpy(slot, env->dir, d);
    slot[d] = '/';
    memcpy(slot + d + 1, rel, n);
    slot[d + 1 + n] = '\0';
    return slot;
}

/* Forks and execs path with argv; stdin from in_path (or /dev/null), stdout
 * and stderr appended to the given files.  The child leads its own process
 * group so that killing the group reaches anything it starts. */
static it_proc_t *spawn(it_env_t *env, const char *const *argv, const char *in_path,
                        const char *out_path, const char *err_path)
{
    it_proc_t *p;
    pid_t pid;

    if (env->nprocs >= IT_MAX_PROCS) {
        fprintf(stderr, "harness: too many processes\n");
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    snprintf(p->out_path, sizeof p->out_path, "%s", out_path);
    snprintf(p->err_path, sizeof p->err_path, "%s", err_path);
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        free(p);
        return NULL;
    }
    if (pid == 0) {
        int in, out, err;
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        in = open(in_path != NULL ? in_path : "/dev/null", O_RDONLY);
        out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        err = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in < 0 || out < 0 || err < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], (char *const *)argv);
        dprintf(2, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    p->pid = pid;
    env->procs[env->nprocs++] = p;
    return p;
}

static int decode_status(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return -1;
}

int it_proc_wait(it_proc_t *p, int timeout_s)
{
    long long deadline = now_ms() + (long long)timeout_s * 1000;
    if (p == NULL)
        return -1;
    while (!p->done) {
        int ws;
        pid_t r = waitpid(p->pid, &ws, WNOHANG);
        if (r == p->pid) {
            p->done = true;
            p->status = decode_status(ws);
            kill(-p->pid, SIGKILL); /* anything the process left in its group */
            break;
        }
        if (r < 0 && errno != EINTR) {
            p->done = true;
            p->status = -1;
            break;
        }
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(10);
    }
    return p->status;
}

int it_proc_stop(it_proc_t *p)
{
    int st;
    if (p == NULL)
        return -1;
    if (p->done)
        return p->status;
    kill(-p->pid, SIGTERM);
    kill(p->pid, SIGTERM);
    st = it_proc_wait(p, 5);
    if (st == -1 && !p->done) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        st = it_proc_wait(p, 5);
    }
    return st;
}

char *it_proc_out(const it_proc_t *p)
{
    char *s = it_slurp(p->out_path, NULL);
    return s != NULL ? s : strdup("");
}

char *it_proc_err(const it_proc_t *p)
{
    char *s = it_slurp(p->err_path, NULL);
    return s != NULL ? s : strdup("");
}

/* Removes a finished process from env's list and frees it, so that a test
 * may run many short commands. */
static void forget(it_env_t *env, it_proc_t *p)
{
    for (size_t i = 0; i < env->nprocs; i++)
        if (env->procs[i] == p) {
            env->procs[i] = env->procs[--env->nprocs];
            free(p);
            return;
        }
}

int it_run(it_env_t *env, const char *prog, const char *const *argv, const char *input,
           int timeout_s, it_run_t *r)
{
    const char *full[IT_MAX_ARGS + 2];
    char exe[PATH_MAX], in_path[PATH_MAX], out_path[PATH_MAX], err_path[PATH_MAX];
    unsigned n = ++env->runs;
    size_t i;
    it_proc_t *p;
    int st;

    memset(r, 0, sizeof *r);
    snprintf(exe, sizeof exe, "%s/%s", env->bin, prog);
    full[0] = exe;
    for (i = 0; argv != NULL && argv[i] != NULL && i < IT_MAX_ARGS; i++)
        full[i + 1] = argv[i];
    full[i + 1] = NULL;
    snprintf(in_path, sizeof in_path, "%s/run/%04u.in", env->dir, n);
    snprintf(out_path, sizeof out_path, "%s/run/%04u-%s%s%s.out", env->dir, n, prog,
             env->label[0] ? "-" : "", env->label);
    snprintf(err_path, sizeof err_path, "%s/run/%04u-%s%s%s.err", env->dir, n, prog,
             env->label[0] ? "-" : "", env->label);
    env->label[0] = '\0';
    if (it_write_file(in_path, input != NULL ? input : "") != 0)
        return r->status = -1;
    p = spawn(env, full, in_path, out_path, err_path);
    if (p == NULL)
        return r->status = -1;
    st = it_proc_wait(p, timeout_s);
    if (st == -1 && !p->done) {
        fprintf(stderr, "harness: %s did not finish within %d s; killed\n", prog, timeout_s);
        it_proc_stop(p);
        st = -1;
    }
    r->status = st;
    r->out = it_proc_out(p);
    r->err = it_proc_err(p);
    if (p->done)
        forget(env, p);
    return st;
}

it_env_t *it_env_new(void)
{
    it_env_t *env = calloc(1, sizeof *env);
    const char *bin = getenv("RENKEI_BIN_DIR");
    const char *tmp = getenv("TMPDIR");
    it_run_t r = {0};

    if (env == NULL)
        return NULL;
    if (bin == NULL || *bin == '\0') {
        fprintf(stderr, "harness: RENKEI_BIN_DIR is not set (run the test through ctest)\n");
        free(env);
        return NULL;
    }
    snprintf(env->bin, sizeof env->bin, "%s", bin);
    /* The fixtures' residents are "TEST-..." strings, not My Numbers: every
     * renkei-agent the tests start takes numbers as they are.  A test of
     * the My Number rule says --number-rule mynumber, which overrides this. */
    setenv("RENKEI_NUMBER_RULE", "any", 1);
    snprintf(env->dir, sizeof env->dir, "%s/renkei-it-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(env->dir) == NULL) {
        fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
        free(env);
        return NULL;
    }
    snprintf(env->hub_data, sizeof env->hub_data, "%s/hub", env->dir);
    snprintf(env->hub_log, sizeof env->hub_log, "%s/hub.log", env->dir);
    snprintf(env->master, sizeof env->master, "%s/master.key", env->dir);
    snprintf(env->ready, sizeof env->ready, "%s/hub.ready", env->dir);
    if (mkdir(it_path(env, "keys"), 0700) != 0 || mkdir(it_path(env, "run"), 0700) != 0 ||
        mkdir(it_path(env, "agents"), 0700) != 0 || mkdir(it_path(env, "out"), 0700) != 0) {
        fprintf(stderr, "harness: mkdir: %s\n", strerror(errno));
        goto fail;
    }
    if (it_keygen(env, "hub") != 0)
        goto fail;
    {
        const char *argv[] = {"--master-key", env->master, NULL};
        if (it_run(env, "renkei-keygen", argv, NULL, 20, &r) != 0) {
            fprintf(stderr, "harness: renkei-keygen --master-key failed: %s\n", r.err);
            goto fail;
        }
    }
    it_run_clear(&r);
    return env;
fail:
    it_run_clear(&r);
    it_env_destroy(&env);
    return NULL;
}

void it_env_destroy(it_env_t **envp)
{
    it_env_t *env;
    size_t i;
    const char *keep = getenv("RENKEI_IT_KEEP");

    if (envp == NULL || *envp == NULL)
        return;
    env = *envp;
    for (i = 0; i < env->nprocs; i++)
        if (!env->procs[i]->done) {
            kill(-env->procs[i]->pid, SIGTERM);
            kill(env->procs[i]->pid, SIGTERM);
        }
    for (i = 0; i < env->nprocs; i++) {
        it_proc_stop(env->procs[i]);
        free(env->procs[i]);
    }
    if (keep != NULL && strcmp(keep, "1") == 0)
        fprintf(stderr, "harness: kept %s\n", env->dir);
    else
        rm_tree(env->dir);
    free(env);
    *envp = NULL;
}

int it_keygen(it_env_t *env, const char *name)
{
    const char *argv[] = {"-o", it_path(env, "keys"), name, NULL};
    it_run_t r;
    int st = it_run(env, "renkei-keygen", argv, NULL, 20, &r);
    if (st != 0)
        fprintf(stderr, "harness: renkei-keygen %s exited %d: %s\n", name, st, r.err);
    it_run_clear(&r);
    return st == 0 ? 0 : -1;
}

int it_ctl(it_env_t *env, it_run_t *r, ...)
{
    const char *argv[IT_MAX_ARGS + 1];
    size_t n = 0;
    va_list ap;
    const char *a;

    argv[n++] = "-d";
    argv[n++] = env->hub_data;
    va_start(ap, r);
    while ((a = va_arg(ap, const char *)) != NULL && n < IT_MAX_ARGS)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return it_run(env, "renkei-ctl", argv, NULL, 30, r);
}

int it_org(it_env_t *env, const char *org, const char *kind)
{
    char pub[PATH_MAX];
    it_run_t r;
    int st;

    if (it_keygen(env, org) != 0)
        return -1;
    snprintf(pub, sizeof pub, "%s/keys/%s.pub", env->dir, org);
    st = it_ctl(env, &r, "register", org, "--kind", kind, "--pub", pub, NULL);
    if (st != 0)
        fprintf(stderr, "harness: renkei-ctl register %s exited %d: %s\n", org, st, r.err);
    it_run_clear(&r);
    return st == 0 ? 0 : -1;
}

int it_hub_start(it_env_t *env, const char *const *extra)
{
    return it_hub_start_at(env, "tcp://127.0.0.1:*", extra);
}

int it_hub_start_at(it_env_t *env, const char *bind, const char *const *extra)
{
    const char *argv[IT_MAX_ARGS + 1];
    char exe[PATH_MAX], key[PATH_MAX];
    size_t n = 0, i;
    long long deadline;

    snprintf(exe, sizeof exe, "%s/%s", env->bin, env->hub_program != NULL ? env->hub_program : "renkei-hub");
    snprintf(key, sizeof key, "%s/keys/hub.key", env->dir);
    argv[n++] = exe;
    argv[n++] = "--data";
    argv[n++] = env->hub_data;
    argv[n++] = "--key";
    argv[n++] = key;
    argv[n++] = "--master-key";
    argv[n++] = env->master;
    argv[n++] = "--bind";
    argv[n++] = bind;
    argv[n++] = "--ready-file";
    argv[n++] = env->ready;
    for (i = 0; extra != NULL && extra[i] != NULL && n < IT_MAX_ARGS; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    unlink(env->ready);
    env->endpoint[0] = '\0';
    env->hub = spawn(env, argv, NULL, it_path(env, "run/hub.out"), env->hub_log);
    if (env->hub == NULL)
        return -1;
    deadline = now_ms() + 15000;
    while (now_ms() < deadline) {
        char *s = it_slurp(env->ready, NULL);
        if (s != NULL && strncmp(it_chomp(s), "tcp://", 6) == 0) {
            snprintf(env->endpoint, sizeof env->endpoint, "%s", s);
            free(s);
            return 0;
        }
        free(s);
        if (it_proc_wait(env->hub, 0) != -1) {
            char *log = it_hub_log(env);
            fprintf(stderr, "harness: renkei-hub exited %d before it was ready:\n%s\n",
                    env->hub->status, log);
            free(log);
            return -1;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "harness: renkei-hub wrote no ready file within 15 s\n");
    return -1;
}

int it_hub_stop(it_env_t *env)
{
    int st;
    if (env->hub == NULL)
        return -1;
    if (env->hub->done)
        return env->hub->status;
    kill(env->hub->pid, SIGTERM);
    st = it_proc_wait(env->hub, 10);
    if (st == -1 && !env->hub->done)
        it_proc_stop(env->hub);
    return st;
}

pid_t it_hub_pid(const it_env_t *env)
{
    return env->hub != NULL ? env->hub->pid : -1;
}

char *it_hub_log(it_env_t *env)
{
    char *s = it_slurp(env->hub_log, NULL);
    return s != NULL ? s : strdup("");
}

size_t it_hub_log_count(it_env_t *env, const char *needle)
{
    char *log = it_hub_log(env);
    size_t n = 0;
    for (const char *at = log != NULL ? strstr(log, needle) : NULL; at != NULL; at = strstr(at + 1, needle))
        n++;
    free(log);
    return n;
}

bool it_hub_log_wait_count(it_env_t *env, const char *needle, size_t n, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (it_hub_log_count(env, needle) >= n)
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(20);
    }
}

bool it_hub_log_wait(it_env_t *env, const char *needle, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        char *log = it_hub_log(env);
        bool found = log != NULL && strstr(log, needle) != NULL;
        free(log);
        if (found)
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(20);
    }
}

/* Fills argv with the common renkei-agent options for org; returns count. */
static size_t agent_base(it_env_t *env, const char *org, const char **argv, char key[PATH_MAX],
                         char hubkey[PATH_MAX], char data[PATH_MAX])
{
    size_t n = 0;
    snprintf(key, PATH_MAX, "%s/keys/%s.key", env->dir, org);
    snprintf(hubkey, PATH_MAX, "%s/keys/hub.pub", env->dir);
    snprintf(data, PATH_MAX, "%s/agents/%s", env->dir, org);
    argv[n++] = "-H";
    argv[n++] = env->endpoint[0] ? env->endpoint : "tcp://127.0.0.1:7750";
    argv[n++] = "-K";
    argv[n++] = hubkey;
    argv[n++] = "-k";
    argv[n++] = key;
    argv[n++] = "-d";
    argv[n++] = data;
    argv[n++] = "-t";
    argv[n++] = "10";
    return n;
}

int it_agentv(it_env_t *env, const char *org, const char *input, const char *const *args,
              it_run_t *r)
{
    const char *argv[IT_MAX_ARGS + 1];
    char key[PATH_MAX], hubkey[PATH_MAX], data[PATH_MAX];
    size_t n = agent_base(env, org, argv, key, hubkey, data), i;
    for (i = 0; args[i] != NULL && n < IT_MAX_ARGS; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(env->label, sizeof env->label, "%s", org);
    return it_run(env, "renkei-agent", argv, input, 40, r);
}

int it_agent(it_env_t *env, const char *org, const char *input, it_run_t *r, ...)
{
    const char *args[IT_MAX_ARGS + 1];
    size_t n = 0;
    va_list ap;
    const char *a;

    va_start(ap, r);
    while ((a = va_arg(ap, const char *)) != NULL && n < IT_MAX_ARGS)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return it_agentv(env, org, input, args, r);
}

it_proc_t *it_serve_start(it_env_t *env, const char *org, const char *exec_cmd, int count)
{
    const char *extra[6];
    char cnt[32];
    size_t n = 0;

    if (exec_cmd != NULL) {
        extra[n++] = "--exec";
        extra[n++] = exec_cmd;
    }
    if (count > 0) {
        snprintf(cnt, sizeof cnt, "%d", count);
        extra[n++] = "--count";
        extra[n++] = cnt;
    }
    extra[n] = NULL;
    return it_serve_startv(env, org, extra);
}

it_proc_t *it_serve_startv(it_env_t *env, const char *org, const char *const *extra)
{
    const char *argv[IT_MAX_ARGS + 1];
    char key[PATH_MAX], hubkey[PATH_MAX], data[PATH_MAX], exe[PATH_MAX];
    char out[PATH_MAX], err[PATH_MAX], want[128];
    size_t n;
    unsigned k = ++env->runs;
    it_proc_t *p;
    long long deadline;

    snprintf(exe, sizeof exe, "%s/renkei-agent", env->bin);
    argv[0] = exe;
    n = 1 + agent_base(env, org, argv + 1, key, hubkey, data);
    argv[n++] = "serve";
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < IT_MAX_ARGS; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    snprintf(out, sizeof out, "%s/run/%04u-serve-%s.out", env->dir, k, org);
    snprintf(err, sizeof err, "%s/run/%04u-serve-%s.err", env->dir, k, org);
    p = spawn(env, argv, NULL, out, err);
    if (p == NULL)
        return NULL;
    snprintf(want, sizeof want, "serving as %s", org);
    deadline = now_ms() + 15000;
    while (now_ms() < deadline) {
        char *e = it_proc_err(p);
        bool ok = e != NULL && strstr(e, want) != NULL;
        if (ok) {
            free(e);
            return p;
        }
        if (it_proc_wait(p, 0) != -1) {
            fprintf(stderr, "harness: renkei-agent serve (%s) exited %d before serving: %s\n", org,
                    p->status, e);
            free(e);
            return NULL;
        }
        free(e);
        sleep_ms(20);
    }
    fprintf(stderr, "harness: renkei-agent serve (%s) did not say \"%s\" within 15 s\n", org, want);
    it_proc_stop(p);
    return NULL;
}

/* ------------------------------------------------------------------ the move */

#include <jansson.h>

const char *const it_utilities[IT_NUTIL] = {"power", "gas", "water"};

void it_move_clear(it_move_t *m)
{
    if (m == NULL)
        return;
    free(m->town_serve_out);
    memset(m, 0, sizeof *m);
}

static void why_set(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static void json_str(json_t *o, const char *key, char *out, size_t out_len)
{
    json_t *v = json_object_get(o, key);
    out[0] = '\0';
    if (json_is_string(v))
        snprintf(out, out_len, "%s", json_string_value(v));
}

/* The last non-empty line of s parsed as a JSON object, or NULL. */
static json_t *last_json_line(const char *s)
{
    const char *end, *start;
    char *line;
    json_t *o;
    size_t n;

    if (s == NULL)
        return NULL;
    end = s + strlen(s);
    while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    start = end;
    while (start > s && start[-1] != '\n')
        start--;
    n = (size_t)(end - start);
    line = strndup(start, n);
    if (line == NULL)
        return NULL;
    o = json_loads(line, 0, NULL);
    free(line);
    if (o != NULL && !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int it_move_setup(it_env_t *env, it_move_t *m, char *why, size_t why_len)
{
    size_t i;
    memset(m, 0, sizeof *m);
    if (it_org(env, "city.x", "municipality") != 0 || it_org(env, "town.y", "municipality") != 0) {
        why_set(why, why_len, "registering the municipalities failed");
        return -1;
    }
    for (i = 0; i < IT_NUTIL; i++)
        if (it_org(env, it_utilities[i], "utility") != 0) {
            why_set(why, why_len, "registering %s failed", it_utilities[i]);
            return -1;
        }
    if (it_hub_start(env, NULL) != 0) {
        why_set(why, why_len, "renkei-hub did not start (see %s)", it_hub_log_path(env));
        return -1;
    }
    for (i = 0; i < IT_NUTIL; i++) {
        char cmd[4 * PATH_MAX];
        const char *o = it_utilities[i];
        snprintf(cmd, sizeof cmd,
                 "cat >> '%s/out/%s.in' && echo >> '%s/out/%s.in' && "
                 "printf '%%s %%s %%s %%s\\n' \"$RENKEI_TYPE\" \"$RENKEI_FROM\" \"$RENKEI_CODE\" "
                 "\"$RENKEI_FIRST_CONTACT\" >> '%s/out/%s.env' && "
                 "printf '{\"result\":\"done\",\"by\":\"%s\"}\\n'",
                 it_dir(env), o, it_dir(env), o, it_dir(env), o, o);
        m->serve[i] = it_serve_start(env, o, cmd, 0);
        if (m->serve[i] == NULL) {
            why_set(why, why_len, "renkei-agent serve for %s did not start", o);
            return -1;
        }
    }
    return 0;
}

/* One `send --person-file` from org to `to`, waiting for the reply. */
static int move_send(it_env_t *env, const char *org, const char *to, const char *type,
                     const char *payload, it_reply_t *rep, char *why, size_t why_len)
{
    it_run_t r;
    json_t *o;
    const char *acc;
    char person[PATH_MAX];

    memset(rep, 0, sizeof *rep);
    if (it_person_file(env, IT_PERSON, person, sizeof person) != 0) {
        why_set(why, why_len, "cannot write the person file for %s's send", org);
        return -1;
    }
    rep->status = it_agent(env, org, payload, &r, "send", "--to", to, "--type", type, "--person-file",
                           person, NULL);
    if (rep->status != 0) {
        why_set(why, why_len, "%s send %s to %s exited %d: %s", org, type, to, rep->status, r.err);
        it_run_clear(&r);
        return -1;
    }
    acc = strstr(r.err, "accepted: seq ");
    if (acc != NULL) {
        const char *msg = strstr(acc, " msg ");
        if (msg != NULL)
            sscanf(msg + 5, "%79s", rep->msg_id);
    }
    o = last_json_line(r.out);
    if (o == NULL) {
        why_set(why, why_len, "%s send %s to %s printed no JSON reply line: '%s'", org, type, to,
                r.out);
        it_run_clear(&r);
        return -1;
    }
    json_str(o, "code", rep->code, sizeof rep->code);
    json_str(o, "from", rep->from, sizeof rep->from);
    json_str(o, "type", rep->type, sizeof rep->type);
    json_str(o, "reply_to", rep->reply_to, sizeof rep->reply_to);
    json_str(json_object_get(o, "payload"), "result", rep->result, sizeof rep->result);
    json_decref(o);
    it_run_clear(&r);
    return 0;
}

/* Reads out/ORG.env ("TYPE FROM CODE FC" lines) into seen[]; returns count. */
static int read_seen(it_env_t *env, const char *org, it_seen_t *seen, int max)
{
    char rel[128], *text, *line, *save = NULL;
    int n = 0;
    snprintf(rel, sizeof rel, "out/%s.env", org);
    text = it_slurp(it_path(env, rel), NULL);
    if (text == NULL)
        return 0;
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        it_seen_t s;
        memset(&s, 0, sizeof s);
        s.first_contact = -1;
        if (sscanf(line, "%79s %79s %39s %d", s.type, s.from, s.code, &s.first_contact) < 3)
            continue;
        if (n < max)
            seen[n] = s;
        n++;
    }
    free(text);
    return n;
}

int it_move_run(it_env_t *env, it_move_t *m, char *why, size_t why_len)
{
    it_run_t r;
    it_proc_t *town;
    json_t *o;
    size_t i;
    int st;
    char person[PATH_MAX];

    /* Move-out at city.x: the resident's number becomes city.x's code. */
    st = it_agent(env, "city.x", IT_PERSON "\n", &r, "enroll", NULL);
    if (st != 0) {
        why_set(why, why_len, "city.x enroll exited %d: %s", st, r.err);
        it_run_clear(&r);
        return -1;
    }
    snprintf(m->code_x, sizeof m->code_x, "%s", it_chomp(r.out));
    it_run_clear(&r);

    for (i = 0; i < IT_NUTIL; i++) {
        it_seen_t seen[4];
        int n;
        if (move_send(env, "city.x", it_utilities[i], "utility.supply.stop",
                      "{\"request\":\"stop\",\"date\":\"2025-03-31\",\"address\":\"Test-ku 1-1\"}",
                      &m->stop[i], why, why_len) != 0)
            return -1;
        n = read_seen(env, it_utilities[i], seen, 4);
        if (n >= 1)
            m->seen_stop[i] = seen[0];
    }

    /* The move-out notice travels to town.y, which has never seen A. */
    town = it_serve_start(env, "town.y", NULL, 1);
    if (town == NULL) {
        why_set(why, why_len, "town.y serve --count 1 did not start");
        return -1;
    }
    if (it_person_file(env, IT_PERSON, person, sizeof person) != 0) {
        why_set(why, why_len, "cannot write the person file for the notice");
        return -1;
    }
    st = it_agent(env, "city.x", "{\"notice\":\"move-out\",\"moving_on\":\"2025-04-01\"}", &r,
                  "send", "--to", "town.y", "--type", "move.out.notice", "--person-file", person,
                  "--no-wait", NULL);
    if (st != 0) {
        why_set(why, why_len, "city.x send move.out.notice exited %d: %s", st, r.err);
        it_run_clear(&r);
        return -1;
    }
    it_run_clear(&r);
    st = it_proc_wait(town, 20);
    m->town_serve_out = it_proc_out(town);
    if (st != 0) {
        why_set(why, why_len, "town.y serve --count 1 ended with %d (stdout '%s')", st,
                m->town_serve_out);
        return -1;
    }
    o = last_json_line(m->town_serve_out);
    if (o == NULL) {
        why_set(why, why_len, "town.y serve printed no JSON delivery: '%s'", m->town_serve_out);
        return -1;
    }
    json_str(o, "code", m->code_y, sizeof m->code_y);
    json_str(o, "from", m->notice_from, sizeof m->notice_from);
    json_str(o, "type", m->notice_type, sizeof m->notice_type);
    m->notice_first_contact = json_is_boolean(json_object_get(o, "first_contact"))
                                  ? json_is_true(json_object_get(o, "first_contact"))
                                  : -1;
    m->notice_has_person = json_object_get(o, "person") != NULL;
    json_decref(o);

    /* Move-in at town.y's counter: A presents the number; bind it. */
    st = it_agent(env, "town.y", IT_PERSON "\n", &r, "bind", m->code_y, NULL);
    if (st != 0) {
        why_set(why, why_len, "town.y bind exited %d: %s", st, r.err);
        it_run_clear(&r);
        return -1;
    }
    it_run_clear(&r);
    st = it_agent(env, "town.y", IT_PERSON "\n", &r, "lookup", NULL);
    if (st != 0) {
        why_set(why, why_len, "town.y lookup exited %d: %s", st, r.err);
        it_run_clear(&r);
        return -1;
    }
    snprintf(m->lookup_y, sizeof m->lookup_y, "%s", it_chomp(r.out));
    it_run_clear(&r);

    for (i = 0; i < IT_NUTIL; i++) {
        it_seen_t seen[4];
        if (move_send(env, "town.y", it_utilities[i], "utility.supply.start",
                      "{\"request\":\"start\",\"date\":\"2025-04-01\",\"address\":\"Test-cho 2-2\"}",
                      &m->start[i], why, why_len) != 0)
            return -1;
        m->nseen[i] = read_seen(env, it_utilities[i], seen, 4);
        if (m->nseen[i] >= 1)
            m->seen_stop[i] = seen[0];
        if (m->nseen[i] >= 2)
            m->seen_start[i] = seen[1];
    }
    return 0;
}

/* ------------------------------------------------------------------ chaos */

it_proc_t *it_spawn(it_env_t *env, const char *prog, const char *const *args, const char *label)
{
    const char *argv[IT_MAX_ARGS + 2];
    char exe[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
    unsigned k = ++env->runs;
    size_t n = 0;

    if (prog[0] == '/') {
        /* another program (e.g. /usr/bin/python3): its files are named by
         * its base name */
        snprintf(exe, sizeof exe, "%s", prog);
        prog = strrchr(prog, '/') + 1;
    } else {
        snprintf(exe, sizeof exe, "%s/%s", env->bin, prog);
    }
    argv[n++] = exe;
    for (size_t i = 0; args != NULL && args[i] != NULL && n < IT_MAX_ARGS; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(out, sizeof out, "%s/run/%04u-%s%s%s.out", env->dir, k, prog, label ? "-" : "",
             label ? label : "");
    snprintf(err, sizeof err, "%s/run/%04u-%s%s%s.err", env->dir, k, prog, label ? "-" : "",
             label ? label : "");
    return spawn(env, argv, NULL, out, err);
}

bool it_proc_running(it_proc_t *p)
{
    return p != NULL && it_proc_wait(p, 0) == -1 && !p->done;
}

int it_proc_kill(it_proc_t *p)
{
    if (p == NULL)
        return -1;
    if (p->done)
        return p->status;
    kill(-p->pid, SIGKILL);
    kill(p->pid, SIGKILL);
    return it_proc_wait(p, 10);
}

int it_hub_kill(it_env_t *env)
{
    if (env->hub == NULL)
        return -1;
    return it_proc_kill(env->hub);
}

/* true if a listening socket could bind "tcp://HOST:PORT" now. */
static bool port_free(const char *endpoint)
{
    struct sockaddr_in sa;
    const char *colon = strrchr(endpoint, ':');
    char host[64];
    size_t hl;
    int fd, one = 1;
    bool ok;

    if (strncmp(endpoint, "tcp://", 6) != 0 || colon == NULL)
        return true;
    hl = (size_t)(colon - (endpoint + 6));
    if (hl >= sizeof host)
        return true;
    memcpy(host, endpoint + 6, hl);
    host[hl] = '\0';
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return true;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return true;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

int it_hub_restart(it_env_t *env, const char *const *extra)
{
    char bind[256];
    long long deadline = now_ms() + 15000;
    snprintf(bind, sizeof bind, "%s", env->endpoint);
    if (bind[0] == '\0')
        return -1;
    for (;;) {
        while (!port_free(bind) && now_ms() < deadline)
            sleep_ms(50); /* still held by the killed hub's socket */
        if (it_hub_start_at(env, bind, extra) == 0)
            return 0;
        snprintf(env->endpoint, sizeof env->endpoint, "%s", bind);
        if (env->hub != NULL && env->hub->done) {
            forget(env, env->hub);
            env->hub = NULL;
        }
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(200);
    }
}

/* ------------------------------------------------------------------ it_load */

static size_t load_base(it_env_t *env, const char *mode, const char *org, const char **argv, char key[PATH_MAX],
                        char hubkey[PATH_MAX], char data[PATH_MAX])
{
    size_t n = 0;
    snprintf(key, PATH_MAX, "%s/keys/%s.key", env->dir, org);
    snprintf(hubkey, PATH_MAX, "%s/keys/hub.pub", env->dir);
    snprintf(data, PATH_MAX, "%s/agents/%s", env->dir, org);
    argv[n++] = mode;
    if (strcmp(mode, "report") != 0) {
        argv[n++] = "--hub";
        argv[n++] = env->endpoint[0] ? env->endpoint : "tcp://127.0.0.1:7750";
        argv[n++] = "--hub-key";
        argv[n++] = hubkey;
    }
    argv[n++] = "--key";
    argv[n++] = key;
    argv[n++] = "--data";
    argv[n++] = data;
    return n;
}

it_proc_t *it_load_start(it_env_t *env, const char *mode, const char *org, const char *const *extra)
{
    const char *argv[IT_MAX_ARGS + 1];
    char key[PATH_MAX], hubkey[PATH_MAX], data[PATH_MAX], label[160];
    size_t n = load_base(env, mode, org, argv, key, hubkey, data);
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < IT_MAX_ARGS; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    snprintf(label, sizeof label, "%s-%s", mode, org);
    return it_spawn(env, "it_load", argv, label);
}

int it_load_run(it_env_t *env, const char *mode, const char *org, const char *const *extra, int timeout_s,
                it_run_t *r)
{
    const char *argv[IT_MAX_ARGS + 1];
    char key[PATH_MAX], hubkey[PATH_MAX], data[PATH_MAX];
    size_t n = load_base(env, mode, org, argv, key, hubkey, data);
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < IT_MAX_ARGS; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    snprintf(env->label, sizeof env->label, "%s-%s", mode, org);
    return it_run(env, "it_load", argv, NULL, timeout_s, r);
}

void it_report_clear(it_report_t *r)
{
    if (r == NULL)
        return;
    free(r->out);
    free(r->in);
    memset(r, 0, sizeof *r);
}

static bool grow(void **arr, size_t n, size_t *cap, size_t size)
{
    void *na;
    if (n < *cap)
        return true;
    na = realloc(*arr, (*cap ? *cap * 2 : 256) * size);
    if (na == NULL)
        return false;
    *arr = na;
    *cap = *cap ? *cap * 2 : 256;
    return true;
}

int it_load_report(it_env_t *env, const char *org, it_report_t *rep)
{
    it_run_t r;
    size_t cap_out = 0, cap_in = 0;
    char *line, *save = NULL;
    int st;

    memset(rep, 0, sizeof *rep);
    st = it_load_run(env, "report", org, NULL, 60, &r);
    if (st != 0) {
        fprintf(stderr, "harness: it_load report %s exited %d: %s\n", org, st, r.err);
        it_run_clear(&r);
        return -1;
    }
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "INBOX ", 6) == 0) {
            it_in_rec_t *e;
            if (!grow((void **)&rep->in, rep->n_in, &cap_in, sizeof *rep->in))
                goto fail;
            e = &rep->in[rep->n_in];
            memset(e, 0, sizeof *e);
            if (sscanf(line, "INBOX %63s %32s %32s %11s", e->from, e->msg_id, e->reply_to, e->state) != 4)
                goto bad;
            if (strcmp(e->reply_to, "-") == 0)
                e->reply_to[0] = '\0';
            rep->n_in++;
        } else {
            it_out_rec_t *o;
            char kind[16];
            if (!grow((void **)&rep->out, rep->n_out, &cap_out, sizeof *rep->out))
                goto fail;
            o = &rep->out[rep->n_out];
            memset(o, 0, sizeof *o);
            if (sscanf(line, "%32s %15s %63s %15s %32s %u %31s", o->msg_id, o->state, o->to, kind, o->reply_to,
                       &o->attempts, o->status) != 7)
                goto bad;
            o->is_reply = strcmp(kind, "reply") == 0;
            if (!o->is_reply)
                o->reply_to[0] = '\0';
            rep->n_out++;
        }
    }
    it_run_clear(&r);
    return 0;
bad:
    fprintf(stderr, "harness: it_load report %s: cannot read the line \"%s\"\n", org, line);
fail:
    it_run_clear(&r);
    it_report_clear(rep);
    return -1;
}

/* A sorted index of strings (pointers into a report) for counting. */
typedef struct sidx {
    const char **keys;
    size_t n;
} sidx_t;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void sidx_sort(sidx_t *x)
{
    if (x->n > 1)
        qsort(x->keys, x->n, sizeof *x->keys, cmp_str);
}

/* How many times key occurs in the sorted index. */
static size_t sidx_count(const sidx_t *x, const char *key)
{
    size_t lo = 0, hi = x->n, c = 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(x->keys[mid], key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo + c < x->n && strcmp(x->keys[lo + c], key) == 0)
        c++;
    return c;
}

static bool sidx_add(sidx_t *x, size_t *cap, const char *key)
{
    if (!grow((void **)&x->keys, x->n, cap, sizeof *x->keys))
        return false;
    x->keys[x->n++] = key;
    return true;
}

static const it_out_rec_t *find_out(const it_report_t *r, const char *msg_id)
{
    for (size_t i = 0; i < r->n_out; i++)
        if (strcmp(r->out[i].msg_id, msg_id) == 0)
            return &r->out[i];
    return NULL;
}

#define IT_MAX_PARTIES 16

/* One pass of it_load_verify over fresh reports. */
static int verify_once(it_env_t *env, const char *const *senders, size_t ns, const char *const *recipients,
                       size_t nr, it_load_stats_t *st, char *why, size_t why_len)
{
    it_report_t rs[IT_MAX_PARTIES], rr[IT_MAX_PARTIES];
    sidx_t replies_at_s[IT_MAX_PARTIES], replies_by_r[IT_MAX_PARTIES], sent_ids;
    size_t caps[IT_MAX_PARTIES] = {0}, capr[IT_MAX_PARTIES] = {0}, cap_sent = 0;
    int rc = -1;

    memset(st, 0, sizeof *st);
    memset(rs, 0, sizeof rs);
    memset(rr, 0, sizeof rr);
    memset(replies_at_s, 0, sizeof replies_at_s);
    memset(replies_by_r, 0, sizeof replies_by_r);
    memset(&sent_ids, 0, sizeof sent_ids);
    for (size_t i = 0; i < ns; i++)
        if (it_load_report(env, senders[i], &rs[i]) != 0) {
            why_set(why, why_len, "cannot read %s's report", senders[i]);
            goto out;
        }
    for (size_t j = 0; j < nr; j++)
        if (it_load_report(env, recipients[j], &rr[j]) != 0) {
            why_set(why, why_len, "cannot read %s's report", recipients[j]);
            goto out;
        }
    /* Indexes: replies each sender received (by reply_to), replies each
     * recipient sent (by reply_to), every request id sent ("from/msg_id"). */
    for (size_t i = 0; i < ns; i++) {
        for (size_t k = 0; k < rs[i].n_in; k++)
            if (rs[i].in[k].reply_to[0] && !sidx_add(&replies_at_s[i], &caps[i], rs[i].in[k].reply_to))
                goto oom;
        sidx_sort(&replies_at_s[i]);
    }
    for (size_t j = 0; j < nr; j++) {
        for (size_t k = 0; k < rr[j].n_out; k++)
            if (rr[j].out[k].is_reply && !sidx_add(&replies_by_r[j], &capr[j], rr[j].out[k].reply_to))
                goto oom;
        sidx_sort(&replies_by_r[j]);
        st->replies += replies_by_r[j].n;
    }
    for (size_t i = 0; i < ns; i++)
        for (size_t k = 0; k < rs[i].n_out; k++)
            if (!rs[i].out[k].is_reply && !sidx_add(&sent_ids, &cap_sent, rs[i].out[k].msg_id))
                goto oom;
    sidx_sort(&sent_ids);

    /* The senders' side. */
    for (size_t i = 0; i < ns; i++) {
        char rel[128], *ids, *line, *save = NULL;
        for (size_t k = 0; k < rs[i].n_out; k++) {
            const it_out_rec_t *o = &rs[i].out[k];
            size_t n;
            if (o->is_reply)
                continue;
            st->sent++;
            st->resent += o->attempts > 1 ? o->attempts - 1 : 0;
            if (strcmp(o->state, "ANSWERED") != 0) {
                if (st->open++ == 0)
                    why_set(why, why_len, "%s's message %s to %s is %s (last status %s), not ANSWERED", senders[i],
                            o->msg_id, o->to, o->state, o->status);
                continue;
            }
            st->answered++;
            n = sidx_count(&replies_at_s[i], o->msg_id);
            if (n != 1) {
                why_set(why, why_len, "%s's inbox holds %zu replies to its message %s to %s (want exactly 1)",
                        senders[i], n, o->msg_id, o->to);
                goto out;
            }
        }
        snprintf(rel, sizeof rel, "out/%s.ids", senders[i]);
        ids = it_slurp(it_path(env, rel), NULL);
        for (line = ids ? strtok_r(ids, "\n", &save) : NULL; line != NULL; line = strtok_r(NULL, "\n", &save)) {
            char id[40] = "", res[64] = "";
            const it_out_rec_t *o;
            if (sscanf(line, "%39s %63s", id, res) != 2)
                continue;
            st->lines++;
            if (strncmp(res, "REFUSED:", 8) == 0) {
                st->refused++;
                continue;
            }
            o = find_out(&rs[i], id);
            if (strcmp(res, "ACCEPTED") == 0)
                st->accepted++;
            else if (strncmp(res, "PENDING", 7) == 0)
                st->pending++;
            if (o == NULL) {
                why_set(why, why_len, "%s printed %s for message %s, but its outbox has no such message",
                        senders[i], res, id);
                free(ids);
                goto out;
            }
        }
        free(ids);
    }
    st->unreported = st->sent > st->accepted + st->pending ? st->sent - (st->accepted + st->pending) : 0;

    /* The recipients' side. */
    for (size_t j = 0; j < nr; j++) {
        for (size_t k = 0; k < rr[j].n_in; k++) {
            const it_in_rec_t *e = &rr[j].in[k];
            const it_out_rec_t *sent = NULL;
            size_t n;
            if (e->reply_to[0])
                continue;
            for (size_t i = 0; i < ns && sent == NULL; i++)
                if (strcmp(senders[i], e->from) == 0)
                    sent = find_out(&rs[i], e->msg_id);
            if (sent == NULL || sent->is_reply || strcmp(sent->to, recipients[j]) != 0) {
                why_set(why, why_len, "%s's inbox holds message %s from %s that %s never sent to it",
                        recipients[j], e->msg_id, e->from, e->from);
                goto out;
            }
            if (strcmp(e->state, "DONE") != 0) {
                if (st->open++ == 0)
                    why_set(why, why_len, "%s's inbox entry %s from %s is %s, not DONE", recipients[j], e->msg_id,
                            e->from, e->state);
                continue;
            }
            n = sidx_count(&replies_by_r[j], e->msg_id);
            if (n != 1) {
                why_set(why, why_len, "%s sent %zu replies to message %s from %s (want exactly 1: handled once)",
                        recipients[j], n, e->msg_id, e->from);
                goto out;
            }
        }
        for (size_t k = 0; k < rr[j].n_out; k++)
            if (rr[j].out[k].is_reply && sidx_count(&sent_ids, rr[j].out[k].reply_to) != 1) {
                why_set(why, why_len, "%s replied to %s, which no sender sent", recipients[j],
                        rr[j].out[k].reply_to);
                goto out;
            }
    }
    /* Every request answered once, by one reply: the totals agree. */
    if (st->open == 0 && st->replies != st->sent) {
        why_set(why, why_len, "%zu requests were sent but the recipients sent %zu replies", st->sent, st->replies);
        goto out;
    }
    rc = st->open == 0 ? 0 : 1;
    goto out;
oom:
    why_set(why, why_len, "out of memory");
out:
    for (size_t i = 0; i < IT_MAX_PARTIES; i++) {
        it_report_clear(&rs[i]);
        it_report_clear(&rr[i]);
        free(replies_at_s[i].keys);
        free(replies_by_r[i].keys);
    }
    free(sent_ids.keys);
    return rc;
}

int it_load_verify(it_env_t *env, const char *const *senders, const char *const *recipients, int settle_s,
                   it_load_stats_t *st, char *why, size_t why_len)
{
    size_t ns = 0, nr = 0;
    long long deadline = now_ms() + (long long)settle_s * 1000;
    while (ns < IT_MAX_PARTIES && senders[ns] != NULL)
        ns++;
    while (nr < IT_MAX_PARTIES && recipients[nr] != NULL)
        nr++;
    for (;;) {
        int rc = verify_once(env, senders, ns, recipients, nr, st, why, why_len);
        if (rc <= 0)
            return rc;
        if (now_ms() >= deadline)
            return -1; /* why names the first open message */
        sleep_ms(1000);
    }
}

rawclient_t *it_connect(it_env_t *env, const char *org, bool receive)
{
    char key[4096], hubpub[4096], who[RK_ID_MAX + 1] = "";
    rawclient_t *rc;

    snprintf(key, sizeof key, "%s/keys/%s.key", it_dir(env), org);
    snprintf(hubpub, sizeof hubpub, "%s/keys/hub.pub", it_dir(env));
    rc = rawclient_new(it_hub_endpoint(env), hubpub, key);
    if (rc != NULL && (rawclient_hello(rc, receive, who, 5000) != 0 || strcmp(who, org) != 0)) {
        fprintf(stderr, "it_connect: the hub did not welcome %s\n", org);
        rawclient_destroy(&rc);
    }
    return rc;
}

int it_pubkey(it_env_t *env, const char *org, rk_pubkey_t *pub)
{
    char path[4096], why[256];

    snprintf(path, sizeof path, "%s/keys/%s.pub", it_dir(env), org);
    if (rk_pubkey_load(path, pub, why, sizeof why) != RK_KEYS_OK) {
        fprintf(stderr, "it_pubkey: %s\n", why);
        return -1;
    }
    return 0;
}

void it_hub_faults(it_env_t *env)
{
    env->hub_program = "renkei-hub-faults";
    snprintf(env->faults, sizeof env->faults, "%s/store.faults", env->dir);
    setenv("RENKEI_STORE_FAULTS_FILE", env->faults, 1);
}

int it_store_faults(it_env_t *env, const char *spec)
{
    char tmp[PATH_MAX + 8];
    FILE *fp;

    snprintf(tmp, sizeof tmp, "%s.tmp", env->faults);
    fp = fopen(tmp, "w");
    if (fp == NULL || fputs(spec, fp) < 0 || fclose(fp) != 0 || rename(tmp, env->faults) != 0) {
        fprintf(stderr, "harness: cannot write %s: %s\n", env->faults, strerror(errno));
        return -1;
    }
    return 0;
}

bool it_store_faults_taken(it_env_t *env, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (access(env->faults, F_OK) == 0) {
        if (now_ms() >= deadline)
            return false;
        sleep_ms(5);
    }
    return true;
}
