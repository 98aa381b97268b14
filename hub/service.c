/*
 * service.c - the data directory's lock and systemd notifications.
 */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

/* The process id written in the lock file at fd, or 0 if none can be read. */
static long lock_holder(int fd)
{
    char text[32];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    long pid;
    char *end = NULL;
    if (n <= 0)
        return 0;
    text[n] = '\0';
    errno = 0;
    pid = strtol(text, &end, 10);
    if (errno != 0 || end == text || pid <= 0)
        return 0;
    return pid;
}

int service_lock(const char *dir, char *why, size_t why_len)
{
    char path[PATH_MAX], text[32];
    int fd, len;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(why, why_len, "cannot create data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, SERVICE_LOCK_NAME) >= sizeof path) {
        snprintf(why, why_len, "data directory name too long: %s", dir);
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open the lock file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        long pid = e == EWOULDBLOCK ? lock_holder(fd) : 0;
        if (e != EWOULDBLOCK)
            snprintf(why, why_len, "cannot lock %s: %s", path, strerror(e));
        else if (pid > 0)
            snprintf(why, why_len,
                     "another renkei-hub (PID %ld) is running on data directory %s; one hub per data "
                     "directory (stop it first)",
                     pid, dir);
        else
            snprintf(why, why_len,
                     "another renkei-hub is running on data directory %s (it holds %s); one hub per data "
                     "directory (stop it first)",
                     dir, path);
        close(fd);
        return -1;
    }
    len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != (ssize_t)len) {
        snprintf(why, why_len, "cannot write the lock file %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void service_unlock(int *fd)
{
    if (fd == NULL || *fd < 0)
        return;
    /* Emptied, not removed: removing it would let a hub that opened the old
     * file a moment before lock it while a third locks a new one. */
    if (ftruncate(*fd, 0) != 0) {
        /* the lock goes with the descriptor anyway */
    }
    close(*fd);
    *fd = -1;
}

void service_notify(const char *state)
{
    (void)sd_notify(0, state);
}

uint64_t service_watchdog_usec(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec;
}
