/*
 * test_it_chaos.c - "nothing is lost, nothing is handled twice" while
 * processes die: three municipalities send to three utilities through the
 * real hub (CURVE, LMDB) and the agent library (it_load), and the test
 * SIGKILLs the hub, a recipient or a sender at random moments and starts
 * it again.  Afterwards every agent's own LMDB is read back: each request
 * was answered by exactly one reply, each recipient took each request
 * once, nothing arrived that nobody sent.
 *
 * The moments are drawn from a seed printed at the start; set
 * RENKEI_CHAOS_SEED to replay a run (and RENKEI_CHAOS_ONLY=test_NAME to run
 * one scenario).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define NS 3
#define NR 3
#define KILLS 5
#define CALM_S 60 /* 3000 messages take about 15 s without kills */
#define TYPE "utility.supply.stop"

static const char *const senders[NS + 1] = {"city.a", "city.b", "city.c", NULL};
static const char *const recipients[NR + 1] = {"power", "gas", "water", NULL};

typedef struct chaos {
    it_env_t *env;
    long long t0;
    long long t_calm; /* when the last killed process was running again */
    unsigned seed;
    it_proc_t *send[NS];
    it_proc_t *serve[NR];
    int kills;
} chaos_t;

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

/* A number in [lo, hi] from the run's seed. */
static int pick(chaos_t *c, int lo, int hi)
{
    return lo + (int)(rand_r(&c->seed) % (unsigned)(hi - lo + 1));
}

static int setup(void **state)
{
    chaos_t *c = calloc(1, sizeof *c);
    const char *s = getenv("RENKEI_CHAOS_SEED");
    if (c == NULL)
        return -1;
    c->env = it_env_new();
    if (c->env == NULL)
        goto fail;
    for (size_t i = 0; i < NS; i++)
        if (it_org(c->env, senders[i], "municipality") != 0)
            goto fail;
    for (size_t j = 0; j < NR; j++)
        if (it_org(c->env, recipients[j], "utility") != 0)
            goto fail;
    c->seed = s != NULL && *s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
    *state = c;
    return 0;
fail:
    it_env_destroy(&c->env);
    free(c);
    return -1;
}

static int teardown(void **state)
{
    chaos_t *c = *state;
    it_env_destroy(&c->env);
    free(c);
    return 0;
}

static it_proc_t *start_serve(chaos_t *c, size_t j)
{
    const char *args[] = {"--reply", NULL};
    return it_load_start(c->env, "serve", recipients[j], args);
}

/* count messages from sender i round-robin to the three utilities; count 0
 * only drains the outbox and waits for the answers (a restarted sender). */
static it_proc_t *start_send(chaos_t *c, size_t i, int count)
{
    char cnt[16], idf[1024], rel[64];
    snprintf(cnt, sizeof cnt, "%d", count);
    snprintf(rel, sizeof rel, "out/%s.ids", senders[i]);
    snprintf(idf, sizeof idf, "%s", it_path(c->env, rel));
    {
        const char *args[] = {"--to", "power,gas,water", "--type", TYPE, "--persons", "10", "--count", cnt,
                              "--id-file", idf, "--flush-secs", "150", "--wait-secs", "150", "--linger-secs",
                              "1", "--timeout-ms", "3000", NULL};
        return it_load_start(c->env, "send", senders[i], args);
    }
}

static void start_all(chaos_t *c, int count)
{
    c->t0 = mono_ms();
    assert_int_equal(it_hub_start(c->env, NULL), 0);
    for (size_t j = 0; j < NR; j++)
        assert_non_null(c->serve[j] = start_serve(c, j));
    for (size_t i = 0; i < NS; i++)
        assert_non_null(c->send[i] = start_send(c, i, count));
}

static bool senders_running(chaos_t *c)
{
    for (size_t i = 0; i < NS; i++)
        if (it_proc_running(c->send[i]))
            return true;
    return false;
}

/* Waits for the senders to finish (each exits once all its messages are
 * complete), then checks the agents' stores and prints the counts. */
static void finish(chaos_t *c, const char *what)
{
    it_load_stats_t st;
    char why[512] = "";
    long long t_sent, t_end;
    int rc;

    /* Service resumes by itself: once everything runs again, the senders
     * finish (all answered) within CALM_S, as they do without any kill. */
    if (c->t_calm == 0)
        c->t_calm = mono_ms();
    for (size_t i = 0; i < NS; i++) {
        long long left = c->t_calm + CALM_S * 1000 - mono_ms();
        int s = it_proc_wait(c->send[i], left > 0 ? (int)((left + 999) / 1000) : 0);
        if (s == -1 && it_proc_running(c->send[i])) {
            char *err = it_proc_err(c->send[i]);
            size_t n = strlen(err);
            fprintf(stderr, "chaos: %s: %s is still sending %d s after the last restart; its log ends:\n%s\n",
                    what, senders[i], CALM_S, err + (n > 1500 ? n - 1500 : 0));
            free(err);
        }
        assert_false(it_proc_running(c->send[i]));
        if (s != 0)
            fprintf(stderr, "chaos: %s's last it_load send exited %d\n", senders[i], s);
    }
    t_sent = mono_ms();
    rc = it_load_verify(c->env, senders, recipients, 60, &st, why, sizeof why);
    t_end = mono_ms();
    printf("    %s: senders done after %.1f s, checked in %.1f s\n", what, (double)(t_sent - c->t0) / 1000,
           (double)(t_end - t_sent) / 1000);
    printf("    %s: kills %d; sent %zu (%zu result lines), accepted at first try %zu, pending then recovered %zu, "
           "refused %zu, sender died before the result %zu, re-sent %zu; answered %zu, replies %zu\n",
           what, c->kills, st.sent, st.lines, st.accepted, st.pending, st.refused, st.unreported, st.resent,
           st.answered, st.replies);
    if (rc != 0)
        fprintf(stderr, "chaos: %s: %s\n", what, why);
    assert_int_equal(rc, 0);
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.open, 0);
    assert_int_equal(st.answered, st.sent);
    assert_true(st.sent > 0);
}

/* The hub is SIGKILLed and restarted on the same port and data dir while
 * the senders run. */
static void test_hub_killed(void **state)
{
    chaos_t *c = *state;
    printf("    seed %u (RENKEI_CHAOS_SEED)\n", c->seed);
    start_all(c, 1000);
    for (int k = 0; k < KILLS && senders_running(c); k++) {
        sleep_ms(pick(c, 300, 2500));
        assert_int_equal(it_hub_kill(c->env), 128 + 9);
        c->kills++;
        sleep_ms(pick(c, 0, 600));
        assert_int_equal(it_hub_restart(c->env, NULL), 0);
        c->t_calm = mono_ms();
    }
    assert_true(c->kills >= 3);
    finish(c, "hub killed");
}

/* A random recipient is SIGKILLed mid-stream and started again. */
static void test_recipient_killed(void **state)
{
    chaos_t *c = *state;
    printf("    seed %u (RENKEI_CHAOS_SEED)\n", c->seed);
    start_all(c, 600);
    for (int k = 0; k < KILLS && senders_running(c); k++) {
        size_t j = (size_t)pick(c, 0, NR - 1);
        sleep_ms(pick(c, 300, 1500));
        it_proc_kill(c->serve[j]);
        c->kills++;
        sleep_ms(pick(c, 0, 600));
        assert_non_null(c->serve[j] = start_serve(c, j));
        c->t_calm = mono_ms();
    }
    assert_true(c->kills >= 3);
    finish(c, "recipient killed");
}

/* A random sender is SIGKILLed (before or after the hub's ACCEPTED for the
 * message it was sending) and started again to drain its outbox. */
static void test_sender_killed(void **state)
{
    chaos_t *c = *state;
    printf("    seed %u (RENKEI_CHAOS_SEED)\n", c->seed);
    start_all(c, 600);
    for (int k = 0; k < KILLS && senders_running(c); k++) {
        size_t i = (size_t)pick(c, 0, NS - 1);
        sleep_ms(pick(c, 200, 1500));
        if (!it_proc_running(c->send[i]))
            continue;
        it_proc_kill(c->send[i]);
        c->kills++;
        sleep_ms(pick(c, 0, 300));
        assert_non_null(c->send[i] = start_send(c, i, 0));
        c->t_calm = mono_ms();
    }
    assert_true(c->kills >= 2);
    finish(c, "sender killed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hub_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recipient_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sender_killed, setup, teardown),
    };
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getenv("RENKEI_CHAOS_ONLY") != NULL) /* e.g. "test_hub_killed" */
        cmocka_set_test_filter(getenv("RENKEI_CHAOS_ONLY"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
