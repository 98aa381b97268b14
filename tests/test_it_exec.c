/*
 * test_it_exec - `renkei-agent serve --exec CMD` as a back office relies on
 * it, with a real hub and real agents: a command that runs too long is
 * killed (its whole process group) and run again; several commands run at
 * once; a failing command is run again and its request answered once; exit
 * 3 refuses the request with the command's reason; exit 4 leaves the
 * request to `renkei-agent reply`, which answers it later; a command that
 * keeps failing has its attempts counted across a restart, then its
 * request is DEAD until `renkei-agent retry`.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define TYPE "utility.supply.stop"
#define NUMBER "TEST-0001-EXEC"

typedef struct fixture {
    it_env_t *env;
    char person[1024]; /* city.x's --person-file */
    char payload[1024];
} fixture_t;

static int setup(void **state)
{
    static fixture_t fx;
    memset(&fx, 0, sizeof fx);
    *state = &fx;
    if (it_city_power(&fx.env, NUMBER, fx.person, sizeof fx.person) != 0)
        return -1;
    snprintf(fx.payload, sizeof fx.payload, "%s", it_path(fx.env, "payload.json"));
    if (it_write_file(fx.payload, "{\"meter\":\"M-1\"}\n") != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx != NULL)
        it_env_destroy(&fx->env);
    return 0;
}

/* city.x sends one request to power; waits for the reply unless no_wait. */
static int send_request(fixture_t *fx, bool no_wait, it_run_t *r)
{
    const char *args[] = {"send",     "--to",      "power",     "--type", TYPE, "--person-file",
                          fx->person, "--payload", fx->payload, NULL,     NULL};
    if (no_wait)
        args[9] = "--no-wait";
    return it_agentv(fx->env, "city.x", NULL, args, r);
}

/* msg_id of a send's JSON line (reply or status). */
static void msg_id_of(const char *out, const char *key, char id[33])
{
    const char *p = strstr(out, key);
    id[0] = '\0';
    if (p == NULL)
        return;
    p += strlen(key);
    if (strlen(p) >= 32) {
        memcpy(id, p, 32);
        id[32] = '\0';
    }
}

/* A command that fails at its first run answers at its second; the
 * request is answered exactly once. */
static void test_retry_then_reply(void **state)
{
    fixture_t *fx = *state;
    const char *d = it_subdir(fx->env, "retry");
    char cmd[2048], path[1100], *runs, *err;
    const char *extra[] = {"--exec", cmd, "--exec-retries", "3", NULL};
    it_proc_t *p;
    it_run_t r;
    int st;

    snprintf(cmd, sizeof cmd,
             "cat > /dev/null; echo run >> '%s/runs'; "
             "if [ -e '%s/tried' ]; then printf '{\"supply\":\"stopped\"}\\n'; "
             "else touch '%s/tried'; echo 'backend down' >&2; exit 1; fi",
             d, d, d);
    p = it_serve_startv(fx->env, "power", extra);
    assert_non_null(p);
    st = send_request(fx, false, &r);
    if (st != 0)
        fail_msg("send exited %d (the failed command was not run again?): %s", st, r.err);
    assert_non_null(strstr(r.out, "stopped"));
    it_run_clear(&r);
    assert_int_equal(it_proc_stop(p), 0);
    snprintf(path, sizeof path, "%s/runs", d);
    runs = it_slurp(path, NULL);
    assert_non_null(runs);
    assert_int_equal(it_count(runs, "run"), 2);
    free(runs);
    err = it_proc_err(p);
    assert_non_null(strstr(err, "attempt 1 of 4"));
    assert_int_equal(it_count(err, "replied to"), 1);
    free(err);
}

/* A command past --exec-timeout is killed with what it started, counted as
 * a failure, and run again. */
static void test_timeout_kills_and_retries(void **state)
{
    fixture_t *fx = *state;
    const char *d = it_subdir(fx->env, "timeout");
    char cmd[2048], path[1100], *text, *err;
    const char *extra[] = {"--exec", cmd, "--exec-timeout", "1", NULL};
    it_proc_t *p;
    it_run_t r;
    long child;
    bool gone = false;

    snprintf(cmd, sizeof cmd,
             "cat > /dev/null; if [ ! -e '%s/slow' ]; then touch '%s/slow'; "
             "sleep 300 & echo $! > '%s/child'; wait; fi; printf '{\"supply\":\"stopped\"}\\n'",
             d, d, d);
    p = it_serve_startv(fx->env, "power", extra);
    assert_non_null(p);
    if (send_request(fx, false, &r) != 0)
        fail_msg("send after a timed-out first attempt failed: %s", r.err);
    assert_non_null(strstr(r.out, "stopped"));
    it_run_clear(&r);
    err = it_proc_err(p);
    if (strstr(err, "ran longer than 1 s and was killed") == NULL)
        fail_msg("serve did not say the command was killed: %s", err);
    free(err);
    /* What the command started went with it. */
    snprintf(path, sizeof path, "%s/child", d);
    text = it_slurp(path, NULL);
    assert_non_null(text);
    child = strtol(text, NULL, 10);
    free(text);
    assert_true(child > 1);
    for (int t = 0; t < 50 && !gone; t++) {
        char stat[64], *s;
        snprintf(stat, sizeof stat, "/proc/%ld/stat", child);
        s = it_slurp(stat, NULL);
        gone = kill((pid_t)child, 0) != 0 || s == NULL || strstr(s, ") Z ") != NULL;
        free(s);
        if (!gone)
            it_sleep_ms(100);
    }
    assert_true(gone);
    assert_int_equal(it_proc_stop(p), 0);
}

/* --exec-parallel 3: three commands run at the same time (each waits, up to
 * 10 s, until it sees the three markers, and writes how many it saw). */
static void test_parallel(void **state)
{
    fixture_t *fx = *state;
    const char *d = it_subdir(fx->env, "parallel");
    char cmd[2048], path[1200];
    const char *extra[] = {"--exec", cmd, "--exec-parallel", "3", NULL};
    it_proc_t *p;
    it_run_t r;

    snprintf(cmd, sizeof cmd,
             "cat > /dev/null; touch '%s/run.'$RENKEI_MSG_ID; n=0; "
             "while [ $(ls '%s' | grep -c '^run[.]') -lt 3 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); "
             "done; "
             "ls '%s' | grep -c '^run[.]' > '%s/seen.'$RENKEI_MSG_ID; printf '{\"supply\":\"stopped\"}\\n'",
             d, d, d, d);
    p = it_serve_startv(fx->env, "power", extra);
    assert_non_null(p);
    char ids[3][33];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(send_request(fx, true, &r), 0);
        msg_id_of(r.out, "\"msg_id\":\"", ids[i]);
        if (ids[i][0] == '\0')
            msg_id_of(r.out, "\"msg_id\": \"", ids[i]);
        assert_int_equal(strlen(ids[i]), 32);
        it_run_clear(&r);
    }
    if (!it_err_wait(p, "replied to", 3, 60))
        fail_msg("power did not answer the three requests");
    for (int i = 0; i < 3; i++) {
        char *seen;
        snprintf(path, sizeof path, "%s/seen.%s", d, ids[i]);
        seen = it_slurp(path, NULL);
        assert_non_null(seen);
        if (atoi(seen) != 3)
            fail_msg("request %d's command saw %d running (3 expected at once)", i + 1, atoi(seen));
        free(seen);
    }
    assert_int_equal(it_proc_stop(p), 0);
}

/* Exit 3: the sender is told REFUSED_BY_RECIPIENT with the command's reason. */
static void test_refusal(void **state)
{
    fixture_t *fx = *state;
    const char *extra[] = {"--exec", "cat > /dev/null; echo 'no supply contract at this address'; exit 3",
                           NULL};
    it_proc_t *p = it_serve_startv(fx->env, "power", extra);
    it_run_t r;
    int st;

    assert_non_null(p);
    st = send_request(fx, false, &r);
    if (st == 0 || strstr(r.err, "REFUSED_BY_RECIPIENT") == NULL ||
        strstr(r.err, "no supply contract at this address") == NULL)
        fail_msg("send exited %d: %s (REFUSED_BY_RECIPIENT with the reason expected)", st, r.err);
    assert_int_equal(st, 3);
    it_run_clear(&r);
    assert_int_equal(it_proc_stop(p), 0);
}

/* Exit 4: the request waits; `renkei-agent reply` answers it later, once. */
static void test_reply_later(void **state)
{
    fixture_t *fx = *state;
    const char *d = it_subdir(fx->env, "later");
    char cmd[1024], path[1100], id[33], *taken = NULL;
    const char *extra[] = {"--exec", cmd, NULL};
    it_proc_t *p;
    it_run_t r;
    bool answered = false;

    /* written aside and renamed: the test polls for the file and must never
     * read it half written */
    snprintf(cmd, sizeof cmd,
             "cat > /dev/null; echo $RENKEI_MSG_ID > '%s/taken.tmp' && mv '%s/taken.tmp' '%s/taken'; exit 4",
             d, d, d);
    p = it_serve_startv(fx->env, "power", extra);
    assert_non_null(p);
    assert_int_equal(send_request(fx, true, &r), 0);
    msg_id_of(r.out, "\"msg_id\":\"", id);
    if (id[0] == '\0')
        msg_id_of(r.out, "\"msg_id\": \"", id);
    assert_int_equal(strlen(id), 32);
    it_run_clear(&r);
    snprintf(path, sizeof path, "%s/taken", d);
    for (int t = 0; t < 150 && taken == NULL; t++) {
        taken = it_slurp(path, NULL);
        if (taken == NULL)
            it_sleep_ms(100);
    }
    assert_non_null(taken);
    assert_string_equal(it_chomp(taken), id);
    free(taken);

    /* Later, from a shell: the back office answers. */
    {
        const char *args[] = {"reply", "--from", "city.x", "--to-msg", id, NULL};
        int st = it_agentv(fx->env, "power", "{\"supply\":\"stopped later\"}\n", args, &r);
        if (st != 0)
            fail_msg("reply exited %d: %s", st, r.err);
        it_run_clear(&r);
        /* Once only. */
        st = it_agentv(fx->env, "power", "{\"supply\":\"twice\"}\n", args, &r);
        assert_int_not_equal(st, 0);
        assert_non_null(strstr(r.err, "already"));
        it_run_clear(&r);
    }
    for (int t = 0; t < 30 && !answered; t++) {
        it_run_clear(&r);
        assert_int_equal(it_agent(fx->env, "city.x", NULL, &r, "flush", NULL), 0);
        it_run_clear(&r);
        (void)it_agent(fx->env, "city.x", NULL, &r, "status", id, NULL);
        answered = strstr(r.out, "ANSWERED") != NULL;
        if (!answered)
            it_sleep_ms(200);
    }
    if (!answered)
        fail_msg("city.x's request is not ANSWERED: %s", r.out);
    it_run_clear(&r);
    assert_int_equal(it_proc_stop(p), 0);
}

/* A request answered with `renkei-agent reply` while serve still holds it
 * (its command failed and waits for another attempt) is not answered twice. */
static void test_reply_while_retrying(void **state)
{
    fixture_t *fx = *state;
    const char *d = it_subdir(fx->env, "meanwhile");
    char cmd[2048], path[1100], id[33], *err;
    const char *extra[] = {"--exec", cmd, NULL};
    it_proc_t *p;
    it_run_t r;

    snprintf(cmd, sizeof cmd,
             "cat > /dev/null; if [ ! -e '%s/first' ]; then touch '%s/first'; exit 1; fi; "
             "while [ ! -e '%s/answered' ]; do sleep 0.05; done; printf '{\"supply\":\"from serve\"}\\n'",
             d, d, d);
    p = it_serve_startv(fx->env, "power", extra);
    assert_non_null(p);
    assert_int_equal(send_request(fx, true, &r), 0);
    msg_id_of(r.out, "\"msg_id\":\"", id);
    if (id[0] == '\0')
        msg_id_of(r.out, "\"msg_id\": \"", id);
    assert_int_equal(strlen(id), 32);
    it_run_clear(&r);
    if (!it_err_wait(p, "attempt 1 of 4", 1, 15))
        fail_msg("the first attempt did not fail as it should");
    {
        const char *args[] = {"reply", "--from", "city.x", "--to-msg", id, NULL};
        int st = it_agentv(fx->env, "power", "{\"supply\":\"from the back office\"}\n", args, &r);
        if (st != 0)
            fail_msg("reply exited %d: %s", st, r.err);
        it_run_clear(&r);
    }
    snprintf(path, sizeof path, "%s/answered", d);
    assert_int_equal(it_write_file(path, "yes\n"), 0);
    /* serve's next attempt ends one way or the other: a second reply, or not. */
    for (int t = 0; t < 150; t++) {
        err = it_proc_err(p);
        bool settled = strstr(err, "answered meanwhile") != NULL || strstr(err, "replied to") != NULL;
        free(err);
        if (settled)
            break;
        it_sleep_ms(100);
    }
    assert_int_equal(it_proc_stop(p), 0);
    err = it_proc_err(p);
    if (it_count(err, "replied to") != 0)
        fail_msg("serve answered a request renkei-agent reply had answered: %s", err);
    assert_non_null(strstr(err, "answered meanwhile"));
    free(err);
}

/* A command that keeps failing: its attempts are counted on across a
 * restart of serve (not from 1 again), and after the last one the request
 * is DEAD: status shows it, serve leaves it, retry hands it out again. */
static void test_attempts_kept_then_dead(void **state)
{
    fixture_t *fx = *state;
    const char *d = it_subdir(fx->env, "dead");
    char cmd[1024], path[1100], id[33], *err;
    const char *extra[] = {"--exec", cmd, "--exec-retries", "2", NULL};
    it_proc_t *p;
    it_run_t r;

    snprintf(cmd, sizeof cmd,
             "cat > /dev/null; if [ -e '%s/fixed' ]; then printf '{\"supply\":\"stopped\"}\\n'; exit 0; fi; "
             "echo 'backend down' >&2; exit 1",
             d);
    p = it_serve_startv(fx->env, "power", extra);
    assert_non_null(p);
    assert_int_equal(send_request(fx, true, &r), 0);
    msg_id_of(r.out, "\"msg_id\":\"", id);
    if (id[0] == '\0')
        msg_id_of(r.out, "\"msg_id\": \"", id);
    assert_int_equal(strlen(id), 32);
    it_run_clear(&r);
    if (!it_err_wait(p, "attempt 1 of 3", 1, 15))
        fail_msg("the first attempt did not fail as it should");
    assert_int_equal(it_proc_stop(p), 0);

    /* Restarted: the count goes on. */
    p = it_serve_startv(fx->env, "power", extra);
    assert_non_null(p);
    if (!it_err_wait(p, "DEAD in the inbox", 1, 30)) {
        err = it_proc_err(p);
        fail_msg("the request did not become DEAD after three attempts in all: %s", err);
    }
    err = it_proc_err(p);
    if (strstr(err, "attempt 1 of 3") != NULL || strstr(err, "attempt 2 of 3") == NULL ||
        strstr(err, "attempt 3 of 3") == NULL)
        fail_msg("the attempts were not counted on after the restart: %s", err);
    free(err);
    assert_int_equal(it_agent(fx->env, "power", NULL, &r, "status", NULL), 0);
    {
        const char *row = strstr(r.out, id);
        if (row == NULL || strstr(row, "DEAD") == NULL || strstr(row, "exited with status 1") == NULL)
            fail_msg("status does not show the request DEAD with its last error: %s", r.out);
    }
    it_run_clear(&r);

    /* Fixed and retried: the running serve answers it. */
    snprintf(path, sizeof path, "%s/fixed", d);
    assert_int_equal(it_write_file(path, "yes\n"), 0);
    assert_int_equal(it_agent(fx->env, "power", NULL, &r, "retry", "--all-dead", NULL), 0);
    assert_non_null(strstr(r.out, "retried: 1"));
    it_run_clear(&r);
    if (!it_err_wait(p, "replied to", 1, 30))
        fail_msg("serve did not answer the retried request");
    assert_int_equal(it_proc_stop(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_then_reply), cmocka_unit_test(test_timeout_kills_and_retries),
        cmocka_unit_test(test_parallel),         cmocka_unit_test(test_refusal),
        cmocka_unit_test(test_reply_later),      cmocka_unit_test(test_reply_while_retrying),
        cmocka_unit_test(test_attempts_kept_then_dead),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
