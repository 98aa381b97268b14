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
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
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
    /* NOLINTNEXTLINE(cert-err34-c): fields the kernel writes; a mismatch is caught by the count */
    if (sscanf(s + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)hz;
}

int bench_proc_io(const bench_proc_t *p, double *wchar, double *write_bytes)
{
    char path[64], line[128];
    unsigned long long v, wc = 0, wb = 0;
    bool got_wc = false, got_wb = false;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/io", (int)p->pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "wchar: %llu", &v) == 1) { /* NOLINT(cert-err34-c) */
            wc = v;
            got_wc = true;
        } else if (sscanf(line, "write_bytes: %llu", &v) == 1) { /* NOLINT(cert-err34-c) */
            wb = v;
            got_wb = true;
        }
    }
    fclose(f);
    if (!got_wc)
        return -1;
    *wchar = (double)wc;
    *write_bytes = got_wb ? (double)wb : -1;
    return 0;
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

int bench_janitor(const char *dir, int *fd)
{
    int fds[2];
    pid_t pid;
    char c = 0;
    ssize_t got;

    if (pipe(fds) != 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid > 0) {
        close(fds[0]); /* the write end stays open until this process ends */
        *fd = fds[1];
        return 0;
    }
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    for (int i = 3; i < 1024; i++)
        if (i != fds[0])
            close(i);
    while ((got = read(fds[0], &c, 1)) < 0 && errno == EINTR)
        ;
    if (!(got == 1 && c == 'k'))
        bench_rm_tree(dir); /* after a normal end there is nothing left to remove */
    _exit(0);
}

void bench_janitor_keep(int fd)
{
    if (fd < 0)
        return;
    if (write(fd, "k", 1) != 1)
        fprintf(stderr, "renkei-bench: cannot tell the clean-up process to keep the directory\n");
    close(fd);
}

/* ------------------------------------------------------------ disk */

/* Filesystem magic numbers (statfs(2)) of filesystems held in memory. */
#define FS_TMPFS 0x01021994L
#define FS_RAMFS 0x858458f6L
#define FILL_PAGES 64 /* pages per write while filling the file */

struct bench_disk {
    int fd;
    char path[PATH_MAX];
    unsigned char *buf; /* FILL_PAGES pages of pseudo-random bytes */
    size_t next;        /* the next page of the rotating single-page rounds */
    uint64_t rng;
    bool in_memory;
};

static uint64_t disk_rand(bench_disk_t *d)
{
    /* xorshift64: cheap, and the same offsets on every run. */
    d->rng ^= d->rng << 13;
    d->rng ^= d->rng >> 7;
    d->rng ^= d->rng << 17;
    return d->rng;
}

/* Says what a failed fdatasync means for the user. */
static void sync_failed(const bench_disk_t *d, int err, char *why, size_t why_len)
{
    if (err == EINVAL || err == EROFS || err == ENOTSUP)
        snprintf(why, why_len,
                 "the filesystem of %s refuses fdatasync (%s): the hub could not make its "
                 "writes durable there either; set TMPDIR to a directory on a real disk",
                 d->path, strerror(err));
    else
        snprintf(why, why_len, "fdatasync on %s failed: %s (check the disk and its free space)",
                 d->path, strerror(err));
}

static int pwrite_all(int fd, const unsigned char *buf, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

bench_disk_t *bench_disk_new(const char *dir, char *why, size_t why_len)
{
    bench_disk_t *d = calloc(1, sizeof *d);
    struct statfs sf;

    if (d == NULL) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    d->fd = -1;
    d->rng = 0x9e3779b97f4a7c15ULL;
    if ((size_t)snprintf(d->path, sizeof d->path, "%s/disk-floor.tmp", dir) >= sizeof d->path) {
        snprintf(why, why_len, "the temporary directory's path is too long");
        goto fail;
    }
    d->buf = malloc((size_t)FILL_PAGES * BENCH_DISK_PAGE);
    if (d->buf == NULL) {
        snprintf(why, why_len, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < (size_t)FILL_PAGES * BENCH_DISK_PAGE; i += 8) {
        uint64_t r = disk_rand(d);
        memcpy(d->buf + i, &r, 8);
    }
    d->fd = open(d->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (d->fd < 0) {
        snprintf(why, why_len, "cannot create %s: %s (the temporary directory must be "
                 "writable; set TMPDIR to another directory)", d->path, strerror(errno));
        d->path[0] = '\0'; /* not ours: do not remove it */
        goto fail;
    }
    d->in_memory = fstatfs(d->fd, &sf) == 0 &&
                   ((long)sf.f_type == FS_TMPFS || (long)sf.f_type == FS_RAMFS);
    for (size_t pg = 0; pg < BENCH_DISK_PAGES; pg += FILL_PAGES)
        if (pwrite_all(d->fd, d->buf, (size_t)FILL_PAGES * BENCH_DISK_PAGE,
                       (off_t)pg * BENCH_DISK_PAGE) != 0) {
            snprintf(why, why_len, "cannot write a %d MiB test file %s: %s (free some space "
                     "or set TMPDIR to another directory)",
                     BENCH_DISK_PAGES * BENCH_DISK_PAGE / (1024 * 1024), d->path,
                     strerror(errno));
            goto fail;
        }
    if (fdatasync(d->fd) != 0) {
        sync_failed(d, errno, why, why_len);
        goto fail;
    }
    return d;
fail:
    bench_disk_destroy(&d);
    return NULL;
}

void bench_disk_destroy(bench_disk_t **d)
{
    if (d == NULL || *d == NULL)
        return;
    if ((*d)->fd >= 0)
        close((*d)->fd);
    if ((*d)->path[0] != '\0')
        unlink((*d)->path);
    free((*d)->buf);
    free(*d);
    *d = NULL;
}

bool bench_disk_in_memory(const bench_disk_t *d) { return d->in_memory; }

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Fills pg[0..n) with distinct pages drawn at random, ascending. */
static void draw_pages(bench_disk_t *d, size_t *pg, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool dup;
        do {
            pg[i] = (size_t)(disk_rand(d) % BENCH_DISK_PAGES);
            dup = false;
            for (size_t j = 0; j < i && !dup; j++)
                dup = pg[j] == pg[i];
        } while (dup);
    }
    qsort(pg, n, sizeof *pg, cmp_size);
}

int bench_disk_rounds(bench_disk_t *d, size_t pages, size_t rounds, bench_series_t *out,
                      char *why, size_t why_len)
{
    size_t *pg;
    int rc = -1;

    if (pages == 0 || pages > BENCH_DISK_PAGES / 2) {
        snprintf(why, why_len, "%zu pages per round: the test file holds %d", pages,
                 BENCH_DISK_PAGES);
        return -1;
    }
    pg = malloc(pages * sizeof *pg);
    if (pg == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    for (size_t r = 0; r < rounds; r++) {
        double t0;
        if (pages == 1)
            pg[0] = d->next++ % BENCH_DISK_PAGES;
        else
            draw_pages(d, pg, pages);
        t0 = bench_now();
        for (size_t i = 0; i < pages; i++) {
            /* New bytes each time: a page is never rewritten unchanged. */
            unsigned char *src = d->buf + (i % FILL_PAGES) * BENCH_DISK_PAGE;
            memcpy(src, &r, sizeof r);
            if (pwrite_all(d->fd, src, BENCH_DISK_PAGE, (off_t)pg[i] * BENCH_DISK_PAGE) != 0) {
                snprintf(why, why_len, "cannot write to %s: %s", d->path, strerror(errno));
                goto out;
            }
        }
        if (fdatasync(d->fd) != 0) {
            sync_failed(d, errno, why, why_len);
            goto out;
        }
        if (bench_series_add(out, (bench_now() - t0) * 1e6) != 0) {
            snprintf(why, why_len, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    free(pg);
    return rc;
}
