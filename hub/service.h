/*
 * service.h - renkei-hub as a service: the data directory's lock, and the
 * systemd notification protocol (sd_notify(3)).
 *
 * One hub per data directory: the hub holds an exclusive flock(2) on
 * DATA/renkei-hub.lock, which holds its process id, for as long as it runs.
 * The kernel drops the lock when the process ends, however it ends, so a
 * hub killed with SIGKILL never blocks the next start.  renkei-ctl never
 * takes the lock: it works beside a running hub.
 *
 * Outside systemd (no NOTIFY_SOCKET in the environment) the notifications
 * do nothing.
 */
#ifndef RENKEI_HUB_SERVICE_H
#define RENKEI_HUB_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVICE_LOCK_NAME "renkei-hub.lock"

/* Creates the data directory dir (0700) if absent, then takes the lock in
 * it and writes this process's id into the lock file.  Returns the lock's
 * file descriptor, or -1 with a message in why: if another process holds the
 * lock, the message names its process id. */
int service_lock(const char *dir, char *why, size_t why_len);

/* Empties the lock file and releases the lock; sets *fd to -1.  Accepts -1. */
void service_unlock(int *fd);

/* Sends one notification ("READY=1", "STOPPING=1", ...) to the service
 * manager, if there is one.  Never fails loudly. */
void service_notify(const char *state);

/* The service manager's watchdog interval in microseconds, or 0 if it
 * expects no WATCHDOG=1 pings from this process. */
uint64_t service_watchdog_usec(void);

#endif /* RENKEI_HUB_SERVICE_H */
