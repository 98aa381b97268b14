/*
 * test_it_unregistered - the hub admits only registered, active keys, and
 * says so clearly; a refused connection does not disturb the hub.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "rawclient.h"

static int setup(void **state)
{
    it_env_t *env = it_env_new();
    *state = env;
    if (env == NULL)
        return -1;
    if (it_org(env, "city.x", "municipality") != 0 || it_org(env, "town.y", "municipality") != 0 ||
        it_keygen(env, "stranger") != 0 || it_hub_start(env, NULL) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    it_env_t *env = *state;
    it_env_destroy(&env);
    *state = NULL;
    return 0;
}

/* A raw CURVE client with keys/NAME.key (or dir/NAME.key): 0 if welcomed as
 * NAME, 1 if nothing came back, -1 otherwise. */
static int raw_hello(it_env_t *env, const char *keydir, const char *name)
{
    char key[1024], hubpub[1024], org[RK_ID_MAX + 1] = "";
    rawclient_t *rc;
    int rv;
    snprintf(key, sizeof key, "%s/%s/%s.key", it_dir(env), keydir, name);
    snprintf(hubpub, sizeof hubpub, "%s/keys/hub.pub", it_dir(env));
    rc = rawclient_new(it_hub_endpoint(env), hubpub, key);
    if (rc == NULL)
        return -1;
    rv = rawclient_hello(rc, false, org, 2000);
    rawclient_destroy(&rc);
    if (rv == 0 && strcmp(org, name) != 0)
        return -1;
    return rv;
}

/* The hub still admits city.x and answers its directory request. */
static void assert_hub_serves(it_env_t *env)
{
    it_run_t r;
    assert_int_equal(raw_hello(env, "keys", "city.x"), 0);
    if (it_agent(env, "city.x", NULL, &r, "directory", NULL) != 0)
        fail_msg("renkei-agent directory as city.x exited %d: %s", r.status, r.err);
    assert_non_null(strstr(r.out, "city.x"));
    assert_non_null(strstr(r.out, "town.y"));
    assert_null(strstr(r.out, "stranger"));
    it_run_clear(&r);
}

static void test_agent_with_unregistered_key(void **state)
{
    it_env_t *env = *state;
    it_run_t r;
    int st = it_agent(env, "stranger", "{}", &r, "send", "--to", "city.x", "--type",
                      "move.in.notice", "--code", "00112233445566778899aabbccddeeff", NULL);
    if (st != 1 || strstr(r.err, "the hub refused this key") == NULL)
        fail_msg("expected exit 1 and \"the hub refused this key\", got exit %d: %s", st, r.err);
    it_run_clear(&r);
    st = it_agent(env, "stranger", NULL, &r, "directory", NULL);
    if (st != 1 || strstr(r.err, "the hub refused this key") == NULL)
        fail_msg("directory: expected exit 1 and \"the hub refused this key\", got exit %d: %s", st,
                 r.err);
    it_run_clear(&r);
    assert_hub_serves(env);
}

static void test_raw_client_gets_no_welcome(void **state)
{
    it_env_t *env = *state;
    assert_int_equal(raw_hello(env, "keys", "stranger"), 1);
    assert_hub_serves(env);
}

static void test_suspended_key_refused(void **state)
{
    it_env_t *env = *state;
    it_run_t r;
    int st;

    assert_int_equal(it_ctl(env, &r, "suspend", "town.y", NULL), 0);
    it_run_clear(&r);
    st = it_agent(env, "town.y", NULL, &r, "directory", NULL);
    {
        it_run_t c;
        int cst = it_ctl(env, &c, "reactivate", "town.y", NULL); /* first, always */
        it_run_clear(&c);
        assert_int_equal(cst, 0);
    }
    if (st != 1 || strstr(r.err, "the hub refused this key") == NULL)
        fail_msg("suspended org: expected exit 1 and \"the hub refused this key\", got exit %d: %s",
                 st, r.err);
    it_run_clear(&r);
    assert_int_equal(raw_hello(env, "keys", "town.y"), 0);
    assert_hub_serves(env);
}

static void test_rekey_locks_out_old_key(void **state)
{
    it_env_t *env = *state;
    const char *keygen[] = {"-o", it_path(env, "newkeys"), "town.y", NULL};
    char pub[1024];
    it_run_t r;

    {
        char mk[1100];
        snprintf(mk, sizeof mk, "mkdir -p '%s'", it_path(env, "newkeys"));
        assert_int_equal(system(mk), 0);
    }
    assert_int_equal(it_run(env, "renkei-keygen", keygen, NULL, 20, &r), 0);
    it_run_clear(&r);
    snprintf(pub, sizeof pub, "%s/newkeys/town.y.pub", it_dir(env));
    if (it_ctl(env, &r, "rekey", "town.y", "--pub", pub, NULL) != 0)
        fail_msg("renkei-ctl rekey exited %d: %s", r.status, r.err);
    it_run_clear(&r);
    assert_int_equal(raw_hello(env, "keys", "town.y"), 1);
    assert_int_equal(raw_hello(env, "newkeys", "town.y"), 0);
    assert_hub_serves(env);
}

static void test_wrong_hub_key(void **state)
{
    it_env_t *env = *state;
    const char *argv[] = {"-H", it_hub_endpoint(env), "-K", it_path(env, "keys/stranger.pub"),
                          "-k", it_path(env, "keys/city.x.key"), "-d", it_path(env, "agents/city.x"),
                          "-t", "3", "directory", NULL};
    it_run_t r;
    int st = it_run(env, "renkei-agent", argv, NULL, 30, &r);
    if (st == 0 || strstr(r.err, "--hub-key") == NULL)
        fail_msg("expected a failure naming --hub-key, got exit %d: %s", st, r.err);
    it_run_clear(&r);
    assert_hub_serves(env);
}

static void test_no_hub(void **state)
{
    it_env_t *env = *state;
    const char *argv[] = {"-H", "tcp://127.0.0.1:9", "-K", it_path(env, "keys/hub.pub"),
                          "-k", it_path(env, "keys/city.x.key"), "-d", it_path(env, "agents/city.x"),
                          "-t", "2", "directory", NULL};
    it_run_t r;
    int st = it_run(env, "renkei-agent", argv, NULL, 30, &r);
    if (st == 0 || strstr(r.err, "no answer from the hub at tcp://127.0.0.1:9") == NULL)
        fail_msg("expected \"no answer from the hub at tcp://127.0.0.1:9\", got exit %d: %s", st,
                 r.err);
    it_run_clear(&r);
}

/* A "hub" that accepts TCP connections and closes each at once, as a hub
 * that dies during the secure handshake looks to an agent.  Runs in a
 * child process; its port in *port.  The child's pid, or -1. */
static pid_t closing_listener(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    pid_t pid;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    pid = fork();
    if (pid == 0) {
        for (;;) {
            int c = accept(fd, NULL, NULL);
            if (c >= 0)
                close(c);
        }
    }
    close(fd);
    return pid;
}

/* A send whose hub goes away during the handshake keeps the message
 * pending, exactly as when no hub listens at all. */
static void test_send_hub_gone_in_handshake(void **state)
{
    it_env_t *env = *state;
    char ep[64], hubpub[1024], key[1024], data[1024];
    int port = 0;
    pid_t fake;
    it_run_t r;
    int st;

    /* the agent has reached the hub once: its directory is kept */
    if (it_agent(env, "city.x", NULL, &r, "directory", NULL) != 0)
        fail_msg("directory exited %d: %s", r.status, r.err);
    it_run_clear(&r);
    fake = closing_listener(&port);
    assert_true(fake > 0);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    snprintf(hubpub, sizeof hubpub, "%s", it_path(env, "keys/hub.pub"));
    snprintf(key, sizeof key, "%s", it_path(env, "keys/city.x.key"));
    snprintf(data, sizeof data, "%s", it_path(env, "agents/city.x"));
    {
        const char *argv[] = {"-H",
                              ep,
                              "-K",
                              hubpub,
                              "-k",
                              key,
                              "-d",
                              data,
                              "-t",
                              "2",
                              "send",
                              "--to",
                              "town.y",
                              "--type",
                              "move.out.notice",
                              "--code",
                              "00112233445566778899aabbccddeeff",
                              "--no-wait",
                              NULL};
        st = it_run(env, "renkei-agent", argv, "{\"moved\":true}", 30, &r);
    }
    kill(fake, SIGKILL);
    (void)waitpid(fake, NULL, 0);
    if (st != 5 || strstr(r.err, "pending:") == NULL)
        fail_msg("expected exit 5 and \"pending:\", got exit %d: %s", st, r.err);
    assert_non_null(strstr(r.out, "\"PENDING\""));
    it_run_clear(&r);
    /* the outbox holds it */
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "status", "--all", NULL), 0);
    assert_non_null(strstr(r.out, "PENDING"));
    it_run_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_with_unregistered_key),
        cmocka_unit_test(test_raw_client_gets_no_welcome),
        cmocka_unit_test(test_suspended_key_refused),
        cmocka_unit_test(test_rekey_locks_out_old_key),
        cmocka_unit_test(test_wrong_hub_key),
        cmocka_unit_test(test_no_hub),
        cmocka_unit_test(test_send_hub_gone_in_handshake),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
