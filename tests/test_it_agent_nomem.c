/*
 * test_it_agent_nomem.c - the agent library when memory runs out.
 *
 * renkei/agent.h promises that every function returns RK_AGENT_ENOMEM when
 * an allocation fails, and that nothing aborts.  This test links the
 * library with its allocations wrapped (-Wl,--wrap=malloc,...: only the
 * calls made by Renkei's own code, not by libzmq, LMDB or libsodium), runs
 * a whole exchange against the real renkei-hub once to count them, then
 * runs it again once per allocation with exactly that one failing.  Each
 * run must end in a clear error or in success, never in a crash (under
 * ASan, never in a leak either), and the error must be RK_AGENT_ENOMEM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "renkei/agent.h"

/* ------------------------------------------------------------ the wraps */

/* The names the linker's --wrap gives: reserved, by design.
 * NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__real_sodium_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void *__wrap_sodium_malloc(size_t n);

static long calls;   /* allocations since counting began */
static long fail_at; /* the one that fails (0: none) */
static bool counting;

static bool fails(void)
{
    return counting && ++calls == fail_at;
}

void *__wrap_malloc(size_t n)
{
    return fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fails() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return fails() ? NULL : __real_strdup(s);
}

void *__wrap_sodium_malloc(size_t n)
{
    return fails() ? NULL : __real_sodium_malloc(n);
}
/* NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */

/* ------------------------------------------------------------ the exchange */

static it_env_t *env;

/* What went wrong in a run: the step and its error. */
typedef struct outcome {
    const char *step; /* NULL: every step succeeded */
    rk_agent_err err;
    char why[512];
} outcome_t;

static bool step(outcome_t *o, const char *name, rk_agent_err err)
{
    if (err == RK_AGENT_OK || err == RK_AGENT_EPENDING)
        return true;
    o->step = name;
    o->err = err;
    return false;
}

/* Opens city.x's agent on a fresh data directory, enrolls a resident,
 * looks the code up, sends power a stop request, reads its status and
 * closes: with the allocation fail_at failing. */
static void exchange(int run, outcome_t *o)
{
    char key[1024], hubpub[1024], data[1024], person[32];
    static const char payload[] = "{\"request\":\"stop\"}";
    rk_agent_config cfg;
    rk_agent_t *a = NULL;
    rk_outgoing m;
    rk_result_t res;
    rk_msg_status st;
    uint8_t code[RK_CODE_LEN], id[RK_MSGID_LEN];
    bool existed = false;

    memset(o, 0, sizeof *o);
    snprintf(key, sizeof key, "%s/keys/city.x.key", it_dir(env));
    snprintf(hubpub, sizeof hubpub, "%s/keys/hub.pub", it_dir(env));
    snprintf(data, sizeof data, "%s/agents/nomem-%d", it_dir(env), run);
    snprintf(person, sizeof person, "NOMEM-%06d", run);
    rk_agent_config_init(&cfg);
    cfg.endpoint = it_hub_endpoint(env);
    cfg.hub_pub = hubpub;
    cfg.key = key;
    cfg.data_dir = data;
    cfg.timeout_ms = 5000;

    counting = true;
    calls = 0;
    if (step(o, "open", rk_agent_open(&cfg, &a, o->why, sizeof o->why)) &&
        step(o, "enroll", rk_agent_enroll(a, person, code, &existed, &res, o->why, sizeof o->why)) &&
        step(o, "lookup", rk_agent_lookup(a, person, code, o->why, sizeof o->why))) {
        memset(&m, 0, sizeof m);
        m.to = "power";
        m.type = "utility.supply.stop";
        m.person = person;
        m.payload = (const uint8_t *)payload;
        m.payload_len = sizeof payload - 1;
        m.no_reply = true;
        if (step(o, "send", rk_agent_send(a, &m, id, &res, o->why, sizeof o->why)))
            (void)step(o, "status", rk_agent_status_get(a, id, &st, o->why, sizeof o->why));
    }
    rk_agent_close(&a);
    counting = false;
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0 || (env = it_env_new()) == NULL)
        return -1;
    if (it_org(env, "city.x", "municipality") != 0 || it_org(env, "power", "utility") != 0 ||
        it_hub_start(env, NULL) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    it_env_destroy(&env);
    return 0;
}

static void test_every_allocation_failure_is_an_answer(void **state)
{
    outcome_t o;
    long total;
    size_t nomem = 0, ok = 0;
    (void)state;

    fail_at = 0;
    exchange(0, &o);
    if (o.step != NULL)
        fail_msg("the exchange fails without any allocation failing: %s: %s (%s)", o.step,
                 rk_agent_strerror(o.err), o.why);
    total = calls;
    assert_true(total > 10);
    for (fail_at = 1; fail_at <= total; fail_at++) {
        exchange((int)fail_at, &o);
        if (o.step == NULL) {
            ok++; /* the failed allocation was optional, or retried */
            continue;
        }
        if (o.err != RK_AGENT_ENOMEM)
            fail_msg("allocation %ld of %ld failing made %s answer %s (%s), not RK_AGENT_ENOMEM", fail_at, total,
                     o.step, rk_agent_strerror(o.err), o.why);
        nomem++;
    }
    print_message("%ld allocations: %zu failures answered RK_AGENT_ENOMEM, %zu absorbed\n", total, nomem, ok);
    assert_true(nomem > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_failure_is_an_answer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
