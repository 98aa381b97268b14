/*
 * test_it_rotate.c - organization keys change without losing a message.
 *
 * The real renkei-hub, renkei-ctl, renkei-keygen and agents (renkei-agent,
 * and it_load over the agent library) over CURVE:
 *   - a recipient is rekeyed with an overlap while a sender keeps sending:
 *     its agent, restarted with the new key and the previous one, keeps
 *     working on the previous key until the overlap ends, the hub then
 *     closes that connection, the agent moves to the new key by itself, and
 *     every request is answered exactly once; the old key is refused after;
 *   - an agent still running with the old key alone holds back what is
 *     sealed to the new key instead of refusing it, and an agent restarted
 *     with both keys receives it;
 *   - a sender rekeyed with an overlap: what it signed before is still
 *     accepted by its recipient;
 *   - rekey without an overlap, and suspend, close the open connections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"
#include "rawclient.h"

#define TYPE "utility.supply.stop"

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
    if (env == NULL || it_org(env, "city.x", "municipality") != 0 || it_org(env, "power", "utility") != 0 ||
        it_hub_start(env, NULL) != 0) {
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

/* Makes a new key pair for org in DIR/newkeys; fills the paths. */
static void new_key(it_env_t *env, const char *org, char *key, size_t key_len, char *pub, size_t pub_len)
{
    char dir[400];
    const char *argv[4];
    it_run_t r;

    snprintf(dir, sizeof dir, "%s/newkeys", it_dir(env));
    (void)mkdir(dir, 0700);
    argv[0] = "--out-dir";
    argv[1] = dir;
    argv[2] = org;
    argv[3] = NULL;
    if (it_run(env, "renkei-keygen", argv, NULL, 30, &r) != 0)
        fail_msg("renkei-keygen %s: %s", org, r.err);
    it_run_clear(&r);
    snprintf(key, key_len, "%s/%s.key", dir, org);
    snprintf(pub, pub_len, "%s/%s.pub", dir, org);
}

/* Waits up to timeout_ms for `needle` in p's standard error (or output). */
static bool proc_says(it_proc_t *p, bool out, const char *needle, int timeout_ms)
{
    long long end = mono_ms() + timeout_ms;
    for (;;) {
        char *text = out ? it_proc_out(p) : it_proc_err(p);
        bool found = text != NULL && strstr(text, needle) != NULL;
        free(text);
        if (found)
            return true;
        if (mono_ms() >= end)
            return false;
        sleep_ms(50);
    }
}

/* How many times needle occurs in p's standard output. */
static size_t proc_count(it_proc_t *p, const char *needle)
{
    char *text = it_proc_out(p);
    size_t n = 0;
    for (const char *s = text; s != NULL && (s = strstr(s, needle)) != NULL; s += strlen(needle))
        n++;
    free(text);
    return n;
}

static void rekey(it_env_t *env, const char *org, const char *pub, const char *overlap)
{
    it_run_t r;
    int rc = overlap != NULL ? it_ctl(env, &r, "rekey", org, "--pub", pub, "--overlap", overlap, NULL)
                             : it_ctl(env, &r, "rekey", org, "--pub", pub, NULL);
    if (rc != 0)
        fail_msg("rekey %s: %s", org, r.err);
    it_run_clear(&r);
}

/* The recipient's key is replaced, with an overlap, while requests keep
 * coming: every one is answered exactly once, none refused. */
static void test_recipient_rotates_under_traffic(void **state)
{
    it_env_t *env = *state;
    char newkey[600], newpub[600], oldkey[600], idf[600];
    const char *senders[] = {"city.x", NULL}, *recipients[] = {"power", NULL};
    const char *serve_args[] = {"--reply", NULL};
    it_proc_t *serve, *send;
    it_load_stats_t st;
    char why[512] = "";
    long long end;

    new_key(env, "power", newkey, sizeof newkey, newpub, sizeof newpub);
    snprintf(oldkey, sizeof oldkey, "%s/keys/power.key", it_dir(env));
    snprintf(idf, sizeof idf, "%s", it_path(env, "out.ids"));
    assert_non_null(serve = it_load_start(env, "serve", "power", serve_args));
    {
        const char *args[] = {"--to",        "power", "--type",        TYPE, "--persons",    "5",
                              "--count",     "300",   "--id-file",     idf,  "--flush-secs", "120",
                              "--wait-secs", "120",   "--linger-secs", "1",  "--timeout-ms", "3000",
                              NULL};
        assert_non_null(send = it_load_start(env, "send", "city.x", args));
    }
    end = mono_ms() + 60000;
    while (proc_count(serve, "HANDLED") < 20 && mono_ms() < end)
        sleep_ms(50);
    assert_true(proc_count(serve, "HANDLED") >= 20);

    /* The organization restarts its agent with the new key and keeps the
     * old one; the hub does not know the new key yet. */
    assert_int_equal(it_proc_stop(serve), 0);
    {
        const char *args[] = {"--reply", "--key", newkey, "--previous-key", oldkey, NULL};
        assert_non_null(serve = it_load_start(env, "serve", "power", args));
    }
    assert_true(proc_says(serve, false, "connected with this organization's previous key", 15000));

    /* The operator replaces the key, with an overlap, under traffic. */
    rekey(env, "power", newpub, "3s");
    assert_true(it_hub_log_wait(env,
                                "closed a connection of power: the overlap of its key's replacement is over",
                                20000));
    assert_true(proc_says(serve, false, "connected with this organization's new key", 20000));

    assert_int_equal(it_proc_wait(send, 180), 0);
    if (it_load_verify(env, senders, recipients, 60, &st, why, sizeof why) != 0)
        fail_msg("after the rotation: %s", why);
    assert_int_equal(st.sent, 300);
    assert_int_equal(st.answered, 300);
    assert_int_equal(st.refused, 0);
    assert_int_equal(it_proc_stop(serve), 0);

    /* The overlap is over: the old key is refused. */
    assert_null(it_connect(env, "power", true));
    assert_true(it_hub_log_wait(env, "key replaced: the organization holds a new key", 10000));
}

/* An agent that runs on with the old key alone holds back what is sealed to
 * the new key (refusing it would lose it); restarted with both keys, it
 * takes it in. */
static void test_stale_agent_loses_nothing(void **state)
{
    it_env_t *env = *state;
    char newkey[600], newpub[600], oldkey[600], fx[600];
    it_proc_t *serve;
    it_run_t r;
    char *out;

    new_key(env, "power", newkey, sizeof newkey, newpub, sizeof newpub);
    snprintf(oldkey, sizeof oldkey, "%s/keys/power.key", it_dir(env));
    assert_non_null(serve = it_serve_start(env, "power", NULL, 0));
    rekey(env, "power", newpub, "1h");
    /* the directory lists both keys, the old one with its end */
    if (it_agent(env, "city.x", NULL, &r, "directory", NULL) != 0)
        fail_msg("directory: %s", r.err);
    assert_non_null(strstr(r.out, "previous key admitted until "));
    it_run_clear(&r);

    assert_int_equal(it_person_file(env, "TEST-0104-ROTATE", fx, sizeof fx), 0);
    if (it_agent(env, "city.x", NULL, &r, "enroll", "--person-file", fx, NULL) != 0)
        fail_msg("enroll: %s", r.err);
    it_run_clear(&r);
    if (it_agent(env, "city.x", "{\"n\":1}", &r, "send", "--to", "power", "--type", TYPE, "--person-file", fx,
                 "--no-wait", NULL) != 0)
        fail_msg("send: %s", r.err);
    it_run_clear(&r);
    assert_true(proc_says(serve, false,
                          "sealed to this organization's new key, which this agent does not hold", 15000));
    assert_int_equal(it_proc_stop(serve), 0);
    out = it_proc_err(serve);
    assert_null(strstr(out, "refused a message"));
    free(out);

    /* Restarted with the new key and the old one: the message arrives. */
    {
        const char *args[] = {"--key", newkey, "--previous-key", oldkey, "serve", "--count", "1", NULL};
        it_proc_t *p = NULL;
        const char *argv[16];
        char hubkey[600], data[600];
        size_t n = 0;
        snprintf(hubkey, sizeof hubkey, "%s/keys/hub.pub", it_dir(env));
        snprintf(data, sizeof data, "%s/agents/power", it_dir(env));
        argv[n++] = "--hub";
        argv[n++] = it_hub_endpoint(env);
        argv[n++] = "--hub-key";
        argv[n++] = hubkey;
        argv[n++] = "--data";
        argv[n++] = data;
        for (size_t i = 0; args[i] != NULL; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        assert_non_null(p = it_spawn(env, "renkei-agent", argv, "serve-power-both"));
        assert_int_equal(it_proc_wait(p, 30), 0);
        out = it_proc_out(p);
        assert_non_null(strstr(out, "{\"n\":1}"));
        free(out);
    }
}

/* A sender rekeyed with an overlap: what it signed with its old key and
 * the hub still holds reaches its recipient, which checks it under the
 * previous key the directory lists. */
static void test_sender_rotates(void **state)
{
    it_env_t *env = *state;
    char newkey[600], newpub[600], oldkey[600], fx[600];
    it_proc_t *serve;
    it_run_t r;
    char *out;

    new_key(env, "city.x", newkey, sizeof newkey, newpub, sizeof newpub);
    snprintf(oldkey, sizeof oldkey, "%s/keys/city.x.key", it_dir(env));
    assert_int_equal(it_person_file(env, "TEST-0105-ROTATE", fx, sizeof fx), 0);
    if (it_agent(env, "city.x", NULL, &r, "enroll", "--person-file", fx, NULL) != 0)
        fail_msg("enroll: %s", r.err);
    it_run_clear(&r);
    /* power is offline: the message waits at the hub, signed by the old key */
    if (it_agent(env, "city.x", "{\"before\":1}", &r, "send", "--to", "power", "--type", TYPE,
                 "--person-file", fx, "--no-wait", NULL) != 0)
        fail_msg("send: %s", r.err);
    it_run_clear(&r);
    rekey(env, "city.x", newpub, "1h");

    assert_non_null(serve = it_serve_start(env, "power", NULL, 1));
    assert_int_equal(it_proc_wait(serve, 30), 0);
    out = it_proc_out(serve);
    assert_non_null(strstr(out, "{\"before\":1}"));
    free(out);
}

/* Without an overlap the old key's open connection is closed at once; a
 * suspension closes the organization's connections too. */
static void test_rekey_and_suspend_close_connections(void **state)
{
    it_env_t *env = *state;
    char newkey[600], newpub[600];
    rawclient_t *rc;
    it_run_t r;

    assert_non_null(rc = it_connect(env, "power", true));
    new_key(env, "power", newkey, sizeof newkey, newpub, sizeof newpub);
    rekey(env, "power", newpub, NULL);
    assert_true(it_hub_log_wait(env, "closed a connection of power: its key was replaced", 10000));
    /* ZeroMQ reconnects with the old key by itself: refused */
    assert_true(it_hub_log_wait(env, "refused a connection from 127.0.0.1: key not registered", 10000));
    rawclient_destroy(&rc);

    assert_non_null(rc = it_connect(env, "city.x", true));
    if (it_ctl(env, &r, "suspend", "city.x", NULL) != 0)
        fail_msg("suspend: %s", r.err);
    it_run_clear(&r);
    assert_true(it_hub_log_wait(env, "closed a connection of city.x: the organization is suspended", 10000));
    assert_true(it_hub_log_wait(env, "organization suspended", 10000));
    rawclient_destroy(&rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recipient_rotates_under_traffic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_agent_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sender_rotates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rekey_and_suspend_close_connections, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
