/*
 * test_it_agent_full.c - an agent whose own data directory is full, with
 * the real programs: a hub (CURVE, LMDB) and renkei-agent with a small
 * --map-size.
 *
 * A sender whose store is full refuses to send with a clear message and
 * records nothing, keeps every message it had, and sends again once its
 * store is larger.  A recipient whose store is full leaves deliveries
 * unacknowledged at the hub, which keeps them; restarted with a larger
 * store it takes every one in, and hands each out exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"

#define TYPE "utility.supply.stop"
#define PERSON "TEST-0001-FULL"
#define SMALL_MAP "512K"
#define PAD_BYTES 40000 /* per message; the hub takes up to 64 KiB */
#define MAX_IDS 64

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    it_env_t *env = it_env_new();
    if (env == NULL || it_org(env, "city.x", "municipality") != 0 || it_org(env, "power", "utility") != 0 ||
        it_hub_start(env, (const char *const[]){NULL}) != 0) {
        it_env_destroy(&env);
        return -1;
    }
    *state = env;
    return 0;
}

static int teardown(void **state)
{
    it_env_t *env = *state;
    unsetenv("RENKEI_MAP_SIZE");
    it_env_destroy(&env);
    return 0;
}

/* A JSON payload of about PAD_BYTES in the test directory; its path (copied). */
static char *pad_file(it_env_t *env)
{
    char *text = malloc(PAD_BYTES + 32), *path;
    assert_non_null(text);
    strcpy(text, "{\"pad\":\"");
    memset(text + strlen(text), 'a', PAD_BYTES);
    strcpy(text + 8 + PAD_BYTES, "\"}");
    path = strdup(it_path(env, "pad.json"));
    assert_non_null(path);
    assert_int_equal(it_write_file(path, text), 0);
    free(text);
    return path;
}

/* Copies the value of "msg_id" in a JSON line into id (33 bytes). */
static bool msg_id_of(const char *line, char id[33])
{
    const char *p = line != NULL ? strstr(line, "\"msg_id\":\"") : NULL;
    if (p == NULL || strlen(p + 10) < 32)
        return false;
    memcpy(id, p + 10, 32);
    id[32] = '\0';
    return true;
}

/* Occurrences of needle in hay. */
static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static int send_one(it_env_t *env, const char *pad, const char *map, it_run_t *r)
{
    /* The payload is a file, so the number comes on stdin (--person). */
    const char *args[] = {"--map-size", map, "send", "--to", "power", "--type", TYPE, "--person",
                          "--no-reply", "--payload", pad, NULL};
    return it_agentv(env, "city.x", PERSON "\n", map != NULL ? args : args + 2, r);
}

static void enroll(it_env_t *env, const char *map)
{
    it_run_t r;
    int st = map != NULL ? it_agent(env, "city.x", PERSON "\n", &r, "--map-size", map, "enroll", NULL)
                         : it_agent(env, "city.x", PERSON "\n", &r, "enroll", NULL);
    if (st != 0)
        fail_msg("enroll exited %d: %s", st, r.err);
    it_run_clear(&r);
}

/* A sender whose store is full: send exits 1 saying so and records nothing;
 * every earlier message is still there; with a larger map it sends again. */
static void test_sender_full(void **state)
{
    it_env_t *env = *state;
    char ids[MAX_IDS][33], *pad = pad_file(env);
    size_t n = 0;
    it_run_t r;
    int st = 0;

    enroll(env, SMALL_MAP);
    for (;;) {
        st = send_one(env, pad, SMALL_MAP, &r);
        if (st != 0)
            break;
        assert_true(n < MAX_IDS); /* a 512 KiB store cannot hold this many */
        assert_true(msg_id_of(r.out, ids[n]));
        n++;
        it_run_clear(&r);
    }
    assert_true(n >= 2);
    if (st != 1 || strstr(r.err, "data directory is full") == NULL ||
        strstr(r.err, "nothing was recorded") == NULL || strstr(r.err, "--map-size") == NULL)
        fail_msg("send into a full store: exit %d, stderr: %s", st, r.err);
    it_run_clear(&r);
    /* Still full: the same answer, not a half-written message. */
    assert_int_equal(send_one(env, pad, SMALL_MAP, &r), 1);
    it_run_clear(&r);

    /* Nothing earlier is lost. */
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "--map-size", SMALL_MAP, "status", "--all", NULL), 0);
    for (size_t i = 0; i < n; i++) {
        char prefix[13];
        memcpy(prefix, ids[i], 12);
        prefix[12] = '\0';
        if (strstr(r.out, prefix) == NULL)
            fail_msg("message %zu of %zu (%s) is missing from status --all:\n%s", i + 1, n, ids[i], r.out);
    }
    assert_int_equal(count_of(r.out, "\n") - 1, n); /* a header line, then exactly those */
    it_run_clear(&r);

    /* Room returns: a larger map, and sending works again. */
    assert_int_equal(send_one(env, pad, "4M", &r), 0);
    it_run_clear(&r);
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "status", "--all", NULL), 0);
    assert_int_equal(count_of(r.out, "\n") - 1, n + 1);
    it_run_clear(&r);
    free(pad);
}

/* Every msg_id in a serve output, appended to ids (n in/out). */
static void collect_ids(const char *out, char ids[][33], size_t *n, size_t max)
{
    const char *p = out;
    while (p != NULL && *p != '\0') {
        if (*n < max && msg_id_of(p, ids[*n]))
            (*n)++;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
}

/* A recipient whose store is full: the deliveries it cannot record stay
 * unacknowledged (the sender sees them ACCEPTED, not DELIVERED); started
 * again with a larger map it takes them all in and each is handed out once. */
static void test_recipient_full(void **state)
{
    it_env_t *env = *state;
    enum { N = 16 };
    char sent[N][33], seen[2 * N + 8][33], last[33], *pad = pad_file(env), *out1, *err1, *out2 = NULL;
    size_t nseen = 0, lines1, delivered;
    it_proc_t *p1, *p2;
    it_run_t r;

    enroll(env, NULL);
    setenv("RENKEI_MAP_SIZE", SMALL_MAP, 1); /* the serve process below takes it up */
    p1 = it_serve_start(env, "power", NULL, 0);
    unsetenv("RENKEI_MAP_SIZE");
    assert_non_null(p1);
    for (int i = 0; i < N; i++) {
        int st = send_one(env, pad, NULL, &r);
        if (st != 0)
            fail_msg("send %d exited %d: %s", i + 1, st, r.err);
        assert_true(msg_id_of(r.out, sent[i]));
        it_run_clear(&r);
    }
    /* power takes in what fits, then says it cannot record the rest. */
    for (int t = 0; t < 100; t++) {
        err1 = it_proc_err(p1);
        bool said = err1 != NULL && strstr(err1, "data directory is full") != NULL;
        free(err1);
        if (said)
            break;
        sleep_ms(100);
    }

    /* The rest is still held for power: city.x hears of no delivery of a
     * message power did not hand out.  What city.x was told DELIVERED,
     * power has recorded, and hands out (waited for, 15 s at most). */
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "flush", NULL), 0);
    it_run_clear(&r);
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "status", "--all", NULL), 0);
    delivered = count_of(r.out, "DELIVERED");
    assert_int_equal(count_of(r.out, "ACCEPTED") + delivered, N);
    it_run_clear(&r);
    for (int t = 0; t < 150; t++) {
        out1 = it_proc_out(p1);
        lines1 = count_of(out1, "\n");
        free(out1);
        if (lines1 >= delivered)
            break;
        sleep_ms(100);
    }
    out1 = it_proc_out(p1);
    err1 = it_proc_err(p1);
    lines1 = count_of(out1, "\n");
    if (strstr(err1, "data directory is full") == NULL || lines1 >= N || delivered > lines1)
        fail_msg("power with a full store handed out %zu of %d, city.x was told %zu delivered; stderr:\n%s",
                 lines1, N, delivered, err1);
    free(err1);
    /* A full store does not stop the agent: still running, and it ends
     * with status 0 when told to. */
    assert_true(it_proc_running(p1));
    assert_int_equal(it_proc_stop(p1), 0);
    free(out1);
    out1 = it_proc_out(p1);

    /* Room returns: power again with the default map. */
    p2 = it_serve_start(env, "power", NULL, 0);
    assert_non_null(p2);
    for (int t = 0; t < 300; t++) {
        free(out2);
        out2 = it_proc_out(p2);
        if (count_of(out1, "\n") + count_of(out2, "\n") >= N)
            break;
        sleep_ms(100);
    }
    /* And nothing twice afterwards: one more message, sent now, is queued
     * behind all of them at the hub and in power's inbox, so once it is
     * handed out, a second copy of any of them would have been too. */
    assert_int_equal(send_one(env, pad, NULL, &r), 0);
    assert_true(msg_id_of(r.out, last));
    it_run_clear(&r);
    for (int t = 0; t < 300; t++) {
        free(out2);
        out2 = it_proc_out(p2);
        if (strstr(out2, last) != NULL)
            break;
        sleep_ms(100);
    }
    if (strstr(out2, last) == NULL)
        fail_msg("power did not hand out a message sent after the restart");
    collect_ids(out1, seen, &nseen, sizeof seen / sizeof seen[0]);
    collect_ids(out2, seen, &nseen, sizeof seen / sizeof seen[0]);
    if (nseen != N + 1)
        fail_msg("power handed out %zu messages (%zu before, %zu after the restart), sent %d", nseen,
                 count_of(out1, "\n"), count_of(out2, "\n"), N + 1);
    for (int i = 0; i < N; i++) {
        size_t times = 0;
        for (size_t j = 0; j < nseen; j++)
            times += strcmp(sent[i], seen[j]) == 0;
        if (times != 1)
            fail_msg("message %d (%s) was handed out %zu times", i + 1, sent[i], times);
    }
    assert_int_equal(it_proc_stop(p2), 0);

    /* And city.x hears every one DELIVERED. */
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "flush", NULL), 0);
    it_run_clear(&r);
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "status", "--all", NULL), 0);
    if (count_of(r.out, "DELIVERED") != N + 1)
        fail_msg("city.x status after the restart:\n%s", r.out);
    it_run_clear(&r);
    free(out1);
    free(out2);
    free(pad);
}

/* renkei-agent purge reports what it deleted, and refuses a retention that
 * would let the inbox forget a message the hub may still bring again. */
static void test_purge_command(void **state)
{
    it_env_t *env = *state;
    it_run_t r;

    enroll(env, NULL);
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "purge", NULL), 0);
    assert_non_null(strstr(r.out, "\"inbox\":0"));
    assert_non_null(strstr(r.out, "\"outbox\":0"));
    it_run_clear(&r);
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "--keep-days", "3", "purge", NULL), 2);
    assert_non_null(strstr(r.err, "--keep-days"));
    it_run_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sender_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recipient_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_command, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
