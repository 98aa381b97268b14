/*
 * test_it_service.c - renkei-hub as a service: systemd's notification
 * protocol for real (a Unix datagram socket standing in for systemd), every
 * signal's effect, SIGHUP reloading the configuration under traffic without
 * losing a message, one hub per data directory, and --check-config writing
 * nothing.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define TYPE "utility.supply.stop"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

static long long mono_ms(void)
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

static int setup(void **state)
{
    it_env_t *env = it_env_new();
    if (env == NULL || it_org(env, "city.x", "municipality") != 0 || it_org(env, "power", "utility") != 0) {
        it_env_destroy(&env);
        return -1;
    }
    *state = env;
    return 0;
}

static int teardown(void **state)
{
    it_env_t *env = *state;
    it_env_destroy(&env);
    return 0;
}

/* ------------------------------------------------------------ sd_notify */

/* A datagram socket standing in for systemd's notification socket. */
static int notify_socket(it_env_t *env, char *path, size_t path_len)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    snprintf(path, path_len, "%s", it_path(env, "notify.sock"));
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    assert_true(strlen(path) < sizeof sa.sun_path);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* The next notification within timeout_ms into buf ("" if none). */
static void next_notice(int fd, char *buf, size_t len, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t n;
    buf[0] = '\0';
    if (poll(&p, 1, timeout_ms) != 1)
        return;
    n = recv(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
}

/* Waits up to timeout_ms for a notification containing `want`; the ones
 * before it are skipped, except that one containing `never` fails. */
static bool await_notice(int fd, const char *want, const char *never, int timeout_ms, char *got, size_t len)
{
    long long deadline = mono_ms() + timeout_ms;
    while (mono_ms() < deadline) {
        next_notice(fd, got, len, (int)(deadline - mono_ms()));
        if (got[0] == '\0')
            break;
        if (strstr(got, want) != NULL)
            return true;
        if (never != NULL && strstr(got, never) != NULL)
            fail_msg("notification \"%s\" came before \"%s\"", got, want);
    }
    return false;
}

/* Under systemd (a NOTIFY_SOCKET, a watchdog): READY=1 once the endpoint is
 * bound, WATCHDOG=1 pings from the loop, RELOADING=1 then READY=1 on
 * SIGHUP, STOPPING=1 on SIGTERM and a clean exit.  The hub runs with
 * memory that cannot be both writable and executable, as
 * MemoryDenyWriteExecute= in the unit makes it. */
static void test_notify(void **state)
{
    it_env_t *env = *state;
    char path[1024], got[512], want[600];
    int fd = notify_socket(env, path, sizeof path), pings = 0;
    long long t0;
    bool mdwe = prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) == 0;

    if (!mdwe)
        printf("    (this kernel cannot deny writable+executable memory: not checked)\n");
    assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
    assert_int_equal(setenv("WATCHDOG_USEC", "400000", 1), 0);
    assert_int_equal(unsetenv("WATCHDOG_PID"), 0);
    assert_int_equal(it_hub_start(env, NULL), 0);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");

    /* READY=1 names the endpoint the ready file holds: it came after the bind */
    assert_true(await_notice(fd, "READY=1", "WATCHDOG=1", 5000, got, sizeof got));
    snprintf(want, sizeof want, "STATUS=listening on %s", it_hub_endpoint(env));
    if (strstr(got, want) == NULL)
        fail_msg("READY=1 without \"%s\": %s", want, got);
    /* and the hub serves: an organization is welcomed */
    {
        it_run_t r;
        assert_int_equal(it_agent(env, "city.x", NULL, &r, "directory", NULL), 0);
        it_run_clear(&r);
    }

    /* WATCHDOG=1 every 200 ms (half of WATCHDOG_USEC) */
    t0 = mono_ms();
    while (mono_ms() - t0 < 1500 && await_notice(fd, "WATCHDOG=1", NULL, 1000, got, sizeof got))
        pings++;
    if (pings < 3)
        fail_msg("%d WATCHDOG=1 pings in 1.5 s with WATCHDOG_USEC=400000", pings);
    assert_true(it_hub_log_wait(env, "pinging the service manager's watchdog every 200 ms", 1000));

    /* systemctl reload */
    assert_int_equal(kill(it_hub_pid(env), SIGHUP), 0);
    assert_true(await_notice(fd, "RELOADING=1", NULL, 3000, got, sizeof got));
    assert_true(await_notice(fd, "READY=1", NULL, 3000, got, sizeof got));
    assert_true(it_hub_log_wait(env, "configuration reloaded", 3000));

    /* systemctl stop */
    assert_int_equal(kill(it_hub_pid(env), SIGTERM), 0);
    assert_true(await_notice(fd, "STOPPING=1", NULL, 5000, got, sizeof got));
    assert_int_equal(it_hub_stop(env), 0);
    close(fd);
    unlink(path);
}

/* ------------------------------------------------------------- signals */

/* SIGUSR1, SIGUSR2 and SIGPIPE leave the hub running (each USR a log line);
 * SIGINT stops it cleanly. */
static void test_signals(void **state)
{
    it_env_t *env = *state;
    it_run_t r;
    pid_t pid;

    assert_int_equal(it_hub_start(env, NULL), 0);
    pid = it_hub_pid(env);
    assert_int_equal(kill(pid, SIGUSR1), 0);
    assert_true(it_hub_log_wait(env, "SIGUSR1 received: renkei-hub has no use for it and goes on", 3000));
    assert_int_equal(kill(pid, SIGUSR2), 0);
    assert_true(it_hub_log_wait(env, "SIGUSR2 received", 3000));
    assert_int_equal(kill(pid, SIGPIPE), 0);
    assert_int_equal(kill(pid, SIGHUP), 0);
    assert_true(it_hub_log_wait(env, "configuration reloaded", 3000));
    sleep_ms(300);
    /* still serving */
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "directory", NULL), 0);
    it_run_clear(&r);
    assert_int_equal(kill(pid, SIGINT), 0);
    assert_int_equal(it_hub_stop(env), 0);
    assert_true(it_hub_log_wait(env, "stopping", 1000));
}

/* -------------------------------------------------------------- reload */

static void write_conf(const char *path, const char *text)
{
    assert_int_equal(it_write_file(path, text), 0);
}

/* SIGHUP while two senders' requests flow: the live options change (the
 * log says so), one that cannot is named, a broken file is refused whole,
 * and every request is answered exactly once. */
static void test_reload_under_load(void **state)
{
    it_env_t *env = *state;
    static const char *const senders[] = {"city.x", NULL};
    static const char *const recipients[] = {"power", NULL};
    char conf[1024], idf[1024];
    it_proc_t *serve, *send;
    it_load_stats_t st;
    char why[512] = "";
    pid_t pid;

    snprintf(conf, sizeof conf, "%s", it_path(env, "reload.conf"));
    write_conf(conf, "ttl.utility.supply.stop = 3600\nqueue-limit = 50000\n");
    {
        const char *extra[] = {"--config", conf, NULL};
        assert_int_equal(it_hub_start(env, extra), 0);
    }
    pid = it_hub_pid(env);
    {
        const char *args[] = {"--reply", NULL};
        assert_non_null(serve = it_load_start(env, "serve", "power", args));
    }
    snprintf(idf, sizeof idf, "%s", it_path(env, "out/city.x.ids"));
    {
        const char *args[] = {"--to",        "power", "--type",        TYPE, "--persons",    "10",
                              "--count",     "1500",  "--id-file",     idf,  "--flush-secs", "120",
                              "--wait-secs", "120",   "--linger-secs", "1",  "--timeout-ms", "3000",
                              NULL};
        assert_non_null(send = it_load_start(env, "send", "city.x", args));
    }
    sleep_ms(500);

    /* a live change, while the requests flow */
    assert_true(it_proc_running(send));
    write_conf(conf, "ttl.utility.supply.stop = 7200\nqueue-limit = 40000\n");
    assert_int_equal(kill(pid, SIGHUP), 0);
    assert_true(it_hub_log_wait(env, "reload: ttl.utility.supply.stop is now 7200 s (was 3600 s)", 5000));
    assert_true(it_hub_log_wait(env, "reload: queue-limit is now 40000 (was 50000", 2000));
    assert_true(it_hub_log_wait(env, "2 changes applied, 0 waiting for a restart", 2000));
    sleep_ms(300);

    /* a broken file: refused whole, nothing of it applied */
    write_conf(conf, "ttl.utility.supply.stop = 60\nqueue-limit = many\n");
    assert_int_equal(kill(pid, SIGHUP), 0);
    assert_true(it_hub_log_wait(env, "reload refused, the configuration in force stays", 5000));
    assert_true(it_hub_log_wait(env, "reload.conf:2:", 1000));
    sleep_ms(300);

    /* what cannot change live is named; the live part still applies */
    write_conf(conf, "ttl.utility.supply.stop = 7200\nqueue-limit = 40000\nbatch = 16\n"
                     "ttl.move.out.notice = 600\n");
    assert_int_equal(kill(pid, SIGHUP), 0);
    assert_true(it_hub_log_wait(env, "reload: batch cannot change while running; restart to apply", 5000));
    assert_true(it_hub_log_wait(env, "1 change applied, 1 waiting for a restart", 2000));
    /* the broken file had applied nothing: 60 s never came into force */
    assert_int_equal(it_hub_log_count(env, "is now 60 s"), 0);

    for (int i = 0; i < 5 && it_proc_running(send); i++) {
        assert_int_equal(kill(pid, SIGHUP), 0);
        sleep_ms(200);
    }

    assert_int_equal(it_proc_wait(send, 240), 0);
    assert_int_equal(it_load_verify(env, senders, recipients, 60, &st, why, sizeof why), 0);
    assert_int_equal(st.sent, 1500);
    assert_int_equal(st.answered, st.sent);
    assert_int_equal(st.open, 0);
    it_proc_stop(serve);
    /* the hub never restarted */
    assert_int_equal(it_hub_pid(env), pid);
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(it_hub_stop(env), 0);
}

/* ------------------------------------------------- one hub per data dir */

/* A second hub on the same data refuses to start, naming the first one's
 * PID; the first keeps serving; a hub killed with SIGKILL leaves no lock
 * behind that blocks the next start. */
static void test_one_hub_per_data(void **state)
{
    it_env_t *env = *state;
    char key[1024], pidtext[64];
    it_run_t r;
    pid_t pid;

    assert_int_equal(it_hub_start(env, NULL), 0);
    pid = it_hub_pid(env);
    snprintf(key, sizeof key, "%s", it_path(env, "keys/hub.key"));
    {
        const char *argv[] = {"--data", it_hub_data(env),    "--key",
                              key,      "--master-key",      it_master_path(env),
                              "--bind", "tcp://127.0.0.1:*", NULL};
        int st = it_run(env, "renkei-hub", argv, NULL, 20, &r);
        snprintf(pidtext, sizeof pidtext, "PID %ld", (long)pid);
        if (st == 0 || strstr(r.err, pidtext) == NULL || strstr(r.err, "another renkei-hub") == NULL)
            fail_msg("second hub on the same data: expected a refusal naming %s, got exit %d: %s", pidtext,
                     st, r.err);
        it_run_clear(&r);
    }
    /* renkei-ctl works beside the running hub */
    assert_int_equal(it_ctl(env, &r, "list", NULL), 0);
    it_run_clear(&r);
    /* the first one still serves */
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "directory", NULL), 0);
    it_run_clear(&r);

    /* SIGKILL: the kernel drops the lock */
    assert_int_equal(it_hub_kill(env), 128 + 9);
    assert_int_equal(it_hub_restart(env, NULL), 0);
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "directory", NULL), 0);
    it_run_clear(&r);
    assert_int_equal(it_hub_stop(env), 0);
}

/* ------------------------------------------------------- --check-config */

/* --check-config writes nothing (no data directory, no store, no lock, no
 * ready file), takes relative names in a configuration file from the
 * file's folder, and fails on an endpoint it cannot bind. */
static void test_check_config(void **state)
{
    it_env_t *env = *state;
    char dir[512], conf[1024], data[1024], ready[1024], lock[1100], text[2048];
    it_run_t r;
    int st;

    /* /etc/renkei-like folder holding the config and (copies of) the keys;
     * the hub runs from another working directory */
    snprintf(dir, sizeof dir, "%s", it_path(env, "etc"));
    assert_int_equal(mkdir(dir, 0700), 0);
    {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s/hub.key' && cp '%s' '%s/master.key' && chmod 600 '%s'/*.key",
                 it_path(env, "keys/hub.key"), dir, it_master_path(env), dir, dir);
        assert_int_equal(system(cmd), 0);
    }
    snprintf(conf, sizeof conf, "%s/hub.conf", dir);
    snprintf(data, sizeof data, "%s/state", dir);
    snprintf(ready, sizeof ready, "%s/ready", dir);
    write_conf(conf, "data = state\nkey = hub.key\nmaster-key = master.key\nready-file = ready\n"
                     "bind = tcp://127.0.0.1:*\n");
    {
        const char *argv[] = {"--config", conf, "--check-config", NULL};
        st = it_run(env, "renkei-hub", argv, NULL, 20, &r);
        if (st != 0 || strstr(r.out, "configuration OK") == NULL)
            fail_msg("--check-config with relative names in %s: exit %d: %s%s", conf, st, r.out, r.err);
        assert_non_null(strstr(r.out, "does not exist yet"));
        it_run_clear(&r);
    }
    assert_int_equal(access(data, F_OK), -1); /* no data directory made */
    assert_int_equal(access(ready, F_OK), -1);

    /* a started hub, from the same file, uses the same names */
    {
        const char *argv[] = {"--config", conf, NULL};
        it_proc_t *p = it_spawn(env, "renkei-hub", argv, "etc-hub");
        long long deadline = mono_ms() + 15000;
        char *ep = NULL;
        assert_non_null(p);
        while (mono_ms() < deadline && (ep = it_slurp(ready, NULL)) == NULL)
            sleep_ms(50);
        assert_non_null(ep);
        free(ep);
        snprintf(lock, sizeof lock, "%s/renkei-hub.lock", data);
        assert_int_equal(access(lock, F_OK), 0);
        /* with the store there now and the hub running on it: still OK */
        {
            const char *argv2[] = {"--config", conf, "--check-config", NULL};
            st = it_run(env, "renkei-hub", argv2, NULL, 20, &r);
            if (st != 0)
                fail_msg("--check-config beside a running hub: exit %d: %s", st, r.err);
            it_run_clear(&r);
        }
        assert_int_equal(it_proc_stop(p), 0);
    }

    /* an endpoint in use: refused, named */
    assert_int_equal(it_hub_start(env, NULL), 0);
    snprintf(text, sizeof text, "data = state\nkey = hub.key\nmaster-key = master.key\nbind = %s\n",
             it_hub_endpoint(env));
    write_conf(conf, text);
    {
        const char *argv[] = {"--config", conf, "--check-config", NULL};
        st = it_run(env, "renkei-hub", argv, NULL, 20, &r);
        if (st == 0 || strstr(r.err, "cannot bind") == NULL)
            fail_msg("--check-config on an endpoint in use: expected a refusal, got exit %d: %s%s", st, r.out,
                     r.err);
        it_run_clear(&r);
    }
    assert_int_equal(it_hub_stop(env), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_hub_per_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_under_load, setup, teardown),
        /* last: it denies this process writable+executable memory for good */
        cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
