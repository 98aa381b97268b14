/*
 * proc.c - the processes renkei-bench measures: start, watch, stop.
 */
#include "proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct bench_proc {
    pid_t pid;
    bool done;
    int status;
};

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bench_proc_t *bench_proc_start(const char *const *argv, const char *log_path)
{
    bench_proc_t *p = calloc(1, sizeof *p);
    pid_t pid;
    if (p == NULL)
        return NULL;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "renkei-bench: fork: %s\n", strerror(errno));
        free(p);
        return NULL;
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (in < 0 || out < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        execv(argv[0], (char *const *)argv);
        dprintf(2, "renkei-bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    p->pid = pid;
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

bool bench_proc_alive(bench_proc_t *p)
{
    int ws;
    if (p->done)
        return false;
    if (waitpid(p->pid, &ws, WNOHANG) == p->pid) {
        p->done = true;
        p->status = decode_status(ws);
        return false;
    }
    return true;
}

int bench_proc_wait(bench_proc_t **pp, int timeout_ms)
{
    double deadline = bench_now() + timeout_ms / 1000.0;
    if (pp == NULL || *pp == NULL)
        return -1;
    while (bench_proc_alive(*pp) && bench_now() < deadline)
        sleep_ms(5);
    if (bench_proc_alive(*pp)) {
        bench_proc_stop(pp);
        return -1;
    }
    return bench_proc_stop(pp);
}

pid_t bench_proc_pid(const bench_proc_t *p) { return p->pid; }

int bench_proc_stop(bench_proc_t **pp)
{
    bench_proc_t *p;
    int st;
    if (pp == NULL || *pp == NULL)
        return -1;
    p = *pp;
    if (bench_proc_alive(p)) {
        kill(p->pid, SIGTERM);
        for (int i = 0; i < 500 && bench_proc_alive(p); i++)
            sleep_ms(10);
        if (bench_proc_alive(p)) {
            int ws;
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            if (waitpid(p->pid, &ws, 0) == p->pid) {
                p->done = true;
                p->status = decode_status(ws);
            }
        }
    }
    kill(-p->pid, SIGKILL); /* anything it left in its group */
    st = p->status;
    free(p);
    *pp = NULL;
    return st;
}

double bench_proc_cpu_s(const bench_proc_t *p)
{
    char path[64], buf[2048], *s;
    unsigned long ut = 0, st = 0;
    FILE *f;
    size_t n;
    long hz = sysconf(_SC_CLK_TCK);

    snprintf(path, sizeof path, "/proc/%d/stat", (int)p->pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces: fields count from the last ')'. */
    s = strrchr(buf, ')');
    if (s == NULL || hz <= 0)
        return -1;
    /* After ")": state(3) ... utime is field 14, stime 15. */
    if (sscanf(s + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)hz;
}

int bench_wait_file(bench_proc_t *p, const char *path, char *out, size_t out_len, int timeout_ms)
{
    double deadline = bench_now() + timeout_ms / 1000.0;
    while (bench_now() < deadline) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            char line[512];
            bool got = fgets(line, sizeof line, f) != NULL && line[0] != '\n';
            fclose(f);
            if (got && strchr(line, '\n') != NULL) {
                line[strcspn(line, "\r\n")] = '\0';
                snprintf(out, out_len, "%s", line);
                return 0;
            }
        }
        if (p != NULL && !bench_proc_alive(p))
            return -1;
        sleep_ms(20);
    }
    return -1;
}

int bench_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int bench_mkdtemp(char *out, size_t out_len)
{
    const char *tmp = getenv("TMPDIR");
    if ((size_t)snprintf(out, out_len, "%s/renkei-bench-XXXXXX",
                         tmp != NULL && *tmp ? tmp : "/tmp") >= out_len)
        return -1;
    return mkdtemp(out) != NULL ? 0 : -1;
}

void bench_rm_tree(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            char sub[PATH_MAX];
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) < sizeof sub)
                bench_rm_tree(sub);
        }
        closedir(d);
    }
    rmdir(path);
}
