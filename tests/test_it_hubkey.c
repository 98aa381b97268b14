/*
 * test_it_hubkey.c - the hub's own key changes hands, with the real
 * programs: renkei-hub, agents driven by it_load through the agent library,
 * renkei-agent receipt and renkei-audit verify.
 *
 * The hub announces its next key (--next-key), agents that are connected
 * learn it from their welcome, the hub restarts on the new key
 * (--previous-key): the serving agent reconnects by itself, a sender that
 * was not running connects with the key its data directory kept, nothing
 * is lost; receipts of messages from before and after the switch verify;
 * an auditor whose state knows only the old key verifies the log across
 * the switch.  A hub restarted with a key nobody announced is refused by
 * every agent ("wrong hub key"), and its checkpoints by the auditor.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"

#define TYPE "utility.supply.stop"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    it_env_t *env = it_env_new();
    if (env == NULL || it_org(env, "city.x", "municipality") != 0 || it_org(env, "power", "utility") != 0 ||
        it_org(env, "audit.z", "auditor") != 0) {
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

/* renkei-keygen -o DIR hub: a hub key pair in DIR (under the test's folder). */
static void keygen_hub(it_env_t *env, const char *dir)
{
    char path[PATH_MAX];
    it_run_t r;
    snprintf(path, sizeof path, "%s", it_path(env, dir));
    assert_int_equal(mkdir(path, 0700), 0);
    {
        const char *args[] = {"-o", path, "hub", NULL};
        assert_int_equal(it_run(env, "renkei-keygen", args, NULL, 10, &r), 0);
        it_run_clear(&r);
    }
}

/* The message ids city.x's it_load send printed, with their results. */
typedef struct sent {
    char id[64][33];
    char res[64][48];
    size_t n;
} sent_t;

/* it_load send: count messages from city.x to power, waiting for every
 * answer.  Returns it_load's exit status (0: every message answered); the
 * lines in s, its stderr in *err (malloc'd) if err is not NULL. */
static int send_msgs(it_env_t *env, int count, sent_t *s, char **err)
{
    char cnt[16];
    it_run_t r;
    int st;
    const char *args[] = {"--to",         "power", "--type",      TYPE, "--persons",     "2", "--count", cnt,
                          "--flush-secs", "20",    "--wait-secs", "30", "--linger-secs", "1", NULL};
    snprintf(cnt, sizeof cnt, "%d", count);
    st = it_load_run(env, "send", "city.x", args, 90, &r);
    memset(s, 0, sizeof *s);
    for (const char *p = r.out; p != NULL && *p != '\0' && s->n < 64;) {
        if (sscanf(p, "%32s %47s", s->id[s->n], s->res[s->n]) == 2)
            s->n++;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    if (st != 0)
        fprintf(stderr, "it_load send exited %d:\n%s%s", st, r.out, r.err);
    if (err != NULL)
        *err = strdup(r.err);
    it_run_clear(&r);
    return st;
}

/* renkei-audit verify as audit.z with hub key `hub_pub` and state file. */
static int audit_verify(it_env_t *env, const char *hub_pub, const char *state, it_run_t *r)
{
    char key[PATH_MAX], hk[PATH_MAX], st[PATH_MAX];
    int rc;
    snprintf(key, sizeof key, "%s/keys/audit.z.key", it_dir(env));
    snprintf(hk, sizeof hk, "%s", it_path(env, hub_pub));
    snprintf(st, sizeof st, "%s", it_path(env, state));
    {
        const char *argv[] =
            {"-H", it_hub_endpoint(env), "-K", hk, "-k", key, "-t", "5", "verify", "--state", st, NULL};
        rc = it_run(env, "renkei-audit", argv, NULL, 60, r);
    }
    printf("renkei-audit verify (%s, %s) -> %d\n%s%s", hub_pub, state, rc, r->out, r->err);
    return rc;
}

/* renkei-agent receipt MSGID for city.x (-K keys/hub.pub, the old key). */
static void assert_receipt(it_env_t *env, const char *msg_id)
{
    it_run_t r;
    int st = it_agent(env, "city.x", NULL, &r, "receipt", msg_id, NULL);
    if (st != 0)
        fprintf(stderr, "receipt %s -> %d\n%s%s", msg_id, st, r.out, r.err);
    assert_int_equal(st, 0);
    it_run_clear(&r);
}

/* How many distinct message ids power's serve printed as handled. */
static size_t handled(it_proc_t *serve, const sent_t *const *all, size_t n_all, size_t *missing)
{
    char *out = it_proc_out(serve);
    size_t lines = 0;
    *missing = 0;
    for (const char *p = out; p != NULL && (p = strstr(p, "HANDLED ")) != NULL; p++)
        lines++;
    for (size_t k = 0; k < n_all; k++)
        for (size_t i = 0; i < all[k]->n; i++)
            if (out == NULL || strstr(out, all[k]->id[i]) == NULL)
                (*missing)++;
    free(out);
    return lines;
}

static bool serve_err_has(it_proc_t *p, const char *needle, int timeout_ms)
{
    for (int waited = 0;; waited += 100) {
        char *err = it_proc_err(p);
        bool yes = err != NULL && strstr(err, needle) != NULL;
        free(err);
        if (yes || waited >= timeout_ms)
            return yes;
        sleep_ms(100);
    }
}

static void test_rotation(void **state)
{
    it_env_t *env = *state;
    const char *announce[] = {"--next-key", NULL, NULL};
    const char *takeover[] = {"--key", NULL, "--previous-key", NULL, NULL};
    const char *stranger[] = {"--key", NULL, NULL};
    const char *serve_args[] = {"--reply", NULL};
    char next_pub[PATH_MAX], next_key[PATH_MAX], old_pub[PATH_MAX], third_key[PATH_MAX];
    sent_t before, during, after;
    const sent_t *all[3] = {&before, &during, &after};
    it_proc_t *serve;
    it_run_t r;
    size_t missing = 0;
    char *err = NULL;

    keygen_hub(env, "next");
    keygen_hub(env, "third");
    snprintf(next_pub, sizeof next_pub, "%s", it_path(env, "next/hub.pub"));
    snprintf(next_key, sizeof next_key, "%s", it_path(env, "next/hub.key"));
    snprintf(old_pub, sizeof old_pub, "%s", it_path(env, "keys/hub.pub"));
    snprintf(third_key, sizeof third_key, "%s", it_path(env, "third/hub.key"));

    /* 1. the hub on its first key; power serves; city.x sends; the auditor
     *    verifies once (its state then knows the old key only) */
    assert_int_equal(it_hub_start(env, NULL), 0);
    serve = it_load_start(env, "serve", "power", serve_args);
    assert_non_null(serve);
    assert_int_equal(send_msgs(env, 4, &before, NULL), 0);
    assert_int_equal(before.n, 4);
    assert_int_equal(audit_verify(env, "keys/hub.pub", "old.state", &r), 0);
    it_run_clear(&r);

    /* 2. announce: the same hub key, --next-key; power, still running,
     *    reconnects and learns the next key from its welcome */
    assert_int_equal(it_hub_stop(env), 0);
    announce[1] = next_pub;
    assert_int_equal(it_hub_restart(env, announce), 0);
    assert_true(it_hub_log_wait(env, "the next hub key", 5000));
    assert_true(serve_err_has(serve, "the hub announced its next key", 20000));
    assert_int_equal(send_msgs(env, 4, &during, NULL), 0);
    /* an auditor that verifies now learns the next key from the log */
    assert_int_equal(audit_verify(env, "keys/hub.pub", "window.state", &r), 0);
    it_run_clear(&r);

    /* 3. switch: the hub on the new key; power follows by itself, city.x
     *    (not running meanwhile) connects with the key its data kept */
    assert_int_equal(it_hub_stop(env), 0);
    takeover[1] = next_key;
    takeover[3] = old_pub;
    assert_int_equal(it_hub_restart(env, takeover), 0);
    assert_true(serve_err_has(serve, "the hub now presents the key it announced", 30000));
    assert_int_equal(send_msgs(env, 4, &after, &err), 0);
    assert_non_null(strstr(err, "the hub now presents the key it announced"));
    free(err);
    err = NULL;
    assert_int_equal(after.n, 4);
    for (size_t i = 0; i < after.n; i++)
        assert_string_equal(after.res[i], "ACCEPTED");

    /* nothing lost: every message of the three rounds was handled by power */
    for (int waited = 0; waited < 10000; waited += 200) {
        handled(serve, all, 3, &missing);
        if (missing == 0)
            break;
        sleep_ms(200);
    }
    assert_int_equal(missing, 0);

    /* 4. receipts of a message from before and one from after the switch,
     *    with -K still naming the old hub.pub */
    assert_receipt(env, before.id[0]);
    assert_receipt(env, after.id[0]);

    /* 5. the auditor whose state knows only the old key: connecting needs
     *    the new hub.pub, trusting it needs only the statement in the log */
    assert_int_equal(audit_verify(env, "next/hub.pub", "old.state", &r), 0);
    assert_non_null(strstr(r.out, "consistent:"));
    it_run_clear(&r);
    /* the auditor that verified during the announcement follows by itself */
    assert_int_equal(audit_verify(env, "keys/hub.pub", "window.state", &r), 0);
    it_run_clear(&r);

    /* 6. a hub restarted with a key nobody announced: refused by the agents */
    assert_int_equal(it_hub_stop(env), 0);
    stranger[1] = third_key;
    assert_int_equal(it_hub_restart(env, stranger), 0);
    assert_true(serve_err_has(serve, "wrong hub key", 30000));
    assert_int_not_equal(it_agent(env, "city.x", NULL, &r, "flush", NULL), 0);
    assert_non_null(strstr(r.err, "wrong hub key"));
    it_run_clear(&r);
    /* and the checkpoints it signs by the auditor, even given its hub.pub:
     * the log grows (a registration), the hub signs it with the third key */
    assert_int_equal(it_org(env, "gas", "utility"), 0);
    assert_int_equal(audit_verify(env, "third/hub.pub", "old.state", &r), 1);
    assert_non_null(strstr(r.out, "NOT CONSISTENT"));
    assert_non_null(strstr(r.out, "announced"));
    it_run_clear(&r);

    it_proc_stop(serve);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
