/*
 * test_it_durable.c - store-and-forward with the real programs: a hub
 * (CURVE, LMDB), agents driven by it_load through the agent library, and
 * the renkei-agent command line reading the same agent data.
 *
 * Messages to a recipient that is not running wait at the hub and arrive
 * once when it starts; a message nobody collects expires and its payload
 * leaves the hub's store; a full queue and a full store refuse clearly,
 * lose nothing and resume by themselves; a hub killed with -9 forgets
 * nothing it accepted.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <lmdb.h>

#include "harness.h"

#define TYPE "utility.supply.stop"

static const char *const senders[] = {"city.x", NULL};
static const char *const recipients[] = {"power", NULL};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* The result lines of one it_load send run ("MSGID RESULT"). */
typedef struct sent {
    char id[64][33];
    char res[64][48];
    size_t n;
} sent_t;

static void parse_sent(const char *out, sent_t *s)
{
    const char *p = out;
    memset(s, 0, sizeof *s);
    while (p != NULL && *p != '\0' && s->n < 64) {
        if (sscanf(p, "%32s %47s", s->id[s->n], s->res[s->n]) == 2)
            s->n++;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
}

/* it_load send from city.x to power: count messages of size bytes, flushing
 * for flush_s and waiting wait_s for the outcome.  Returns the exit status;
 * lines parsed into s (may be NULL). */
static int send_msgs(it_env_t *env, int count, int size, int flush_s, int wait_s, sent_t *s, char **err_out)
{
    char cnt[16], sz[16], fl[16], wt[16], idf[1024];
    it_run_t r;
    int st;
    snprintf(cnt, sizeof cnt, "%d", count);
    snprintf(sz, sizeof sz, "%d", size);
    snprintf(fl, sizeof fl, "%d", flush_s);
    snprintf(wt, sizeof wt, "%d", wait_s);
    snprintf(idf, sizeof idf, "%s", it_path(env, "out/city.x.ids"));
    {
        const char *args[] = {"--to", "power", "--type", TYPE, "--persons", "2", "--count", cnt, "--size", sz,
                              "--id-file", idf, "--flush-secs", fl, "--wait-secs", wt, "--linger-secs", "1",
                              NULL};
        st = it_load_run(env, "send", "city.x", args, flush_s + wait_s + 60, &r);
    }
    if (s != NULL)
        parse_sent(r.out, s);
    if (err_out != NULL)
        *err_out = strdup(r.err);
    it_run_clear(&r);
    return st;
}

/* Runs the outcome collection of city.x in the foreground: flush, then
 * wait for every answer.  Returns it_load's exit status (0: all complete). */
static int collect(it_env_t *env, int wait_s)
{
    char wt[16];
    it_run_t r;
    int st;
    const char *args[] = {"--count", "0", "--flush-secs", "60", "--wait-secs", wt, "--linger-secs", "1", NULL};
    snprintf(wt, sizeof wt, "%d", wait_s);
    st = it_load_run(env, "send", "city.x", args, wait_s + 90, &r);
    if (st != 0)
        fprintf(stderr, "collect: it_load exited %d: %s\n", st, r.err);
    it_run_clear(&r);
    return st;
}

static it_proc_t *serve_power(it_env_t *env, const char *delay_ms)
{
    const char *args[] = {"--reply", "--reply-delay-ms", delay_ms, NULL};
    return it_load_start(env, "serve", "power", args);
}

/* renkei-agent status MSGID for city.x: the "state" word ("" if none). */
static void cli_state(it_env_t *env, const char *msg_id, char *state, size_t len, char **full)
{
    it_run_t r;
    const char *s;
    state[0] = '\0';
    it_agent(env, "city.x", NULL, &r, "status", msg_id, NULL);
    s = r.out != NULL ? strstr(r.out, "\nstate ") : NULL;
    if (s != NULL)
        sscanf(s + 7, " %31s", state);
    (void)len;
    if (full != NULL)
        *full = strdup(r.out != NULL ? r.out : "");
    it_run_clear(&r);
}

static void expect_verified(it_env_t *env, size_t want_sent, int settle_s)
{
    it_load_stats_t st;
    char why[512] = "";
    int rc = it_load_verify(env, senders, recipients, settle_s, &st, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "verify: %s\n", why);
    printf("    sent %zu, accepted at first try %zu, pending then recovered %zu, answered %zu, replies %zu, "
           "re-sent %zu\n",
           st.sent, st.accepted, st.pending, st.answered, st.replies, st.resent);
    assert_int_equal(rc, 0);
    assert_int_equal(st.sent, want_sent);
    assert_int_equal(st.answered, want_sent);
    assert_int_equal(st.replies, want_sent);
}

/* ------------------------------------------------------------------ tests */

/* Sent while the recipient's agent does not run: ACCEPTED and kept; the
 * sender's status goes ACCEPTED -> DELIVERED -> ANSWERED as the recipient
 * starts later, takes each message once and answers it. */
static void test_offline_recipient(void **state)
{
    it_env_t *env = *state;
    sent_t s;
    char st[32], *detail = NULL;
    bool saw_delivered = false;
    it_proc_t *collector, *srv;
    long long deadline;

    assert_int_equal(it_hub_start(env, NULL), 0);
    /* exit 4: the messages are accepted, not yet answered */
    assert_int_equal(send_msgs(env, 4, 32, 5, 0, &s, NULL), 4);
    assert_int_equal(s.n, 4);
    for (size_t i = 0; i < s.n; i++) {
        assert_string_equal(s.res[i], "ACCEPTED");
        cli_state(env, s.id[i], st, sizeof st, NULL);
        assert_string_equal(st, "ACCEPTED");
    }
    /* The recipient is away for a while.  Not a wait for anything: no
     * agent of power runs, so nothing can deliver the messages; this is
     * the time they are kept for, and the check below that they are still
     * only ACCEPTED holds however long it is. */
    sleep_ms(3000);
    cli_state(env, s.id[3], st, sizeof st, NULL);
    assert_string_equal(st, "ACCEPTED");

    /* city.x collects its notices and replies; power starts and answers
     * each request 1.5 s after taking it. */
    {
        const char *args[] = {"--count", "0", "--wait-secs", "60", "--linger-secs", "1", NULL};
        collector = it_load_start(env, "send", "city.x", args);
    }
    assert_non_null(collector);
    srv = serve_power(env, "1500");
    assert_non_null(srv);
    deadline = mono_ms() + 40000;
    do {
        cli_state(env, s.id[3], st, sizeof st, NULL);
        if (strcmp(st, "DELIVERED") == 0)
            saw_delivered = true;
        if (strcmp(st, "ANSWERED") == 0)
            break;
        sleep_ms(100);
    } while (mono_ms() < deadline);
    assert_true(saw_delivered);
    assert_string_equal(st, "ANSWERED");
    assert_int_equal(it_proc_wait(collector, 60), 0);

    cli_state(env, s.id[3], st, sizeof st, &detail);
    assert_non_null(strstr(detail, "accepted by the hub"));
    assert_non_null(strstr(detail, "delivered to power"));
    assert_non_null(strstr(detail, "answered by reply"));
    free(detail);
    expect_verified(env, 4, 10);
    it_proc_stop(srv);
}

/* Counts the rows of the hub's "queue" table (all, and those queued for
 * org), opening data.mdb read-only without the master key. */
static int hub_queue_rows(it_env_t *env, const char *org, size_t *all, size_t *for_org)
{
    MDB_env *menv = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t olen = strlen(org);
    int rc;

    *all = *for_org = 0;
    if ((rc = mdb_env_create(&menv)) != 0)
        return rc;
    if ((rc = mdb_env_set_maxdbs(menv, 32)) != 0 || (rc = mdb_env_open(menv, it_hub_data(env), MDB_RDONLY, 0600)) != 0 ||
        (rc = mdb_txn_begin(menv, NULL, MDB_RDONLY, &txn)) != 0 || (rc = mdb_dbi_open(txn, "queue", 0, &dbi)) != 0 ||
        (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        goto out;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        (*all)++;
        if (k.mv_size > olen && memcmp(k.mv_data, org, olen) == 0 && ((const char *)k.mv_data)[olen] == '\0')
            (*for_org)++;
    }
    rc = rc == MDB_NOTFOUND ? 0 : rc;
out:
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(menv);
    return rc;
}

/* A message nobody collects within its type's time-to-live: the sender
 * gets EXPIRED, the hub logs it, and the queued payload is gone from the
 * hub's LMDB file. */
static void test_ttl_expires(void **state)
{
    it_env_t *env = *state;
    sent_t s;
    char st[32], conf[1024], *detail = NULL;
    size_t all = 99, for_power = 99;
    long long t0, deadline;

    snprintf(conf, sizeof conf, "%s", it_path(env, "hub.conf"));
    assert_int_equal(it_write_file(conf, "# short-lived stop requests\nttl.utility.supply.stop = 2\n"), 0);
    {
        const char *extra[] = {"--config", conf, NULL};
        assert_int_equal(it_hub_start(env, extra), 0);
    }
    t0 = mono_ms();
    assert_int_equal(send_msgs(env, 1, 32, 5, 0, &s, NULL), 4);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.res[0], "ACCEPTED");
    assert_int_equal(hub_queue_rows(env, "power", &all, &for_power), 0);
    assert_int_equal(for_power, 1); /* waiting at the hub */

    /* power never connects; city.x waits for the outcome */
    assert_int_equal(collect(env, 20), 0);
    assert_true(mono_ms() - t0 >= 2000);
    cli_state(env, s.id[0], st, sizeof st, &detail);
    assert_string_equal(st, "EXPIRED");
    free(detail);
    assert_true(it_hub_log_wait(env, "expired seq", 10000));

    /* The queue row is gone, and the EXPIRED notice city.x acknowledged too. */
    deadline = mono_ms() + 5000;
    do {
        assert_int_equal(hub_queue_rows(env, "power", &all, &for_power), 0);
        if (all == 0)
            break;
        sleep_ms(100);
    } while (mono_ms() < deadline);
    assert_int_equal(for_power, 0);
    assert_int_equal(all, 0);
}

/* --queue-limit 5 with the recipient away: the sixth message is held as
 * QUEUE_FULL (pending at the sender, nothing lost); once the recipient
 * drains its queue the held message goes through by itself. */
static void test_queue_full(void **state)
{
    it_env_t *env = *state;
    sent_t s;
    char st[32], *detail = NULL;
    it_report_t rep;
    it_proc_t *srv;
    size_t pending = 0;

    {
        const char *extra[] = {"--queue-limit", "5", NULL};
        assert_int_equal(it_hub_start(env, extra), 0);
    }
    assert_int_equal(send_msgs(env, 6, 32, 0, 0, &s, NULL), 4);
    assert_int_equal(s.n, 6);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(s.res[i], "ACCEPTED");
    assert_string_equal(s.res[5], "PENDING:QUEUE_FULL");
    assert_true(it_hub_log_wait(env, "refused QUEUE_FULL from city.x to power", 10000));

    /* The held message is in city.x's outbox, pending, with the reason. */
    assert_int_equal(it_load_report(env, "city.x", &rep), 0);
    for (size_t i = 0; i < rep.n_out; i++)
        if (strcmp(rep.out[i].msg_id, s.id[5]) == 0) {
            assert_string_equal(rep.out[i].state, "PENDING");
            assert_string_equal(rep.out[i].status, "QUEUE_FULL");
            pending++;
        }
    assert_int_equal(pending, 1);
    it_report_clear(&rep);
    cli_state(env, s.id[5], st, sizeof st, &detail);
    assert_string_equal(st, "PENDING");
    assert_non_null(strstr(detail, "QUEUE_FULL"));
    free(detail);

    srv = serve_power(env, "0");
    assert_non_null(srv);
    assert_int_equal(collect(env, 60), 0);
    expect_verified(env, 6, 10);
    it_proc_stop(srv);
}

/* A hub whose LMDB map is nearly full: large messages to an absent
 * recipient fill it; the next are refused with STORE_FULL (kept pending);
 * the hub keeps answering; once the recipient drains its queue, the held
 * ones and new ones are accepted again. */
static void test_store_full(void **state)
{
    it_env_t *env = *state;
    sent_t s;
    size_t accepted = 0, full = 0, other = 0;
    char *big, person[PATH_MAX];
    it_run_t r;
    it_proc_t *srv;

    {
        /* 1 MiB holds the organizations and about a dozen 60 KB messages */
        const char *extra[] = {"--map-size", "1048576", NULL};
        assert_int_equal(it_hub_start(env, extra), 0);
    }
    assert_int_equal(send_msgs(env, 30, 60000, 0, 0, &s, NULL), 4);
    assert_int_equal(s.n, 30);
    for (size_t i = 0; i < s.n; i++) {
        if (strcmp(s.res[i], "ACCEPTED") == 0)
            accepted++;
        else if (strcmp(s.res[i], "PENDING:STORE_FULL") == 0)
            full++;
        else
            other++;
    }
    printf("    1 MiB store: %zu accepted, %zu refused STORE_FULL\n", accepted, full);
    assert_true(accepted >= 5);
    assert_true(full >= 5);
    assert_int_equal(other, 0);
    /* once full, every further message is refused, none slips in between */
    for (size_t i = accepted; i < s.n; i++)
        assert_string_equal(s.res[i], "PENDING:STORE_FULL");
    assert_true(it_hub_log_wait(env, "refused STORE_FULL", 10000));

    /* The hub still runs and answers: the directory, and a clear refusal
     * for another message through the command line (exit 5: pending). */
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "directory", NULL), 0);
    assert_non_null(strstr(r.out, "power"));
    it_run_clear(&r);
    big = malloc(60100);
    assert_non_null(big);
    memcpy(big, "{\"pad\":\"", 8);
    memset(big + 8, 'y', 60000);
    memcpy(big + 60008, "\"}", 3);
    assert_int_equal(it_person_file(env, "LOAD-0001", person, sizeof person), 0);
    assert_int_equal(it_agent(env, "city.x", big, &r, "send", "--to", "power", "--type", TYPE, "--person-file",
                              person, "--no-wait", NULL),
                     5);
    free(big);
    assert_non_null(strstr(r.err, "STORE_FULL"));
    it_run_clear(&r);

    /* The recipient comes: it drains, everything held goes through. */
    srv = serve_power(env, "0");
    assert_non_null(srv);
    assert_int_equal(collect(env, 90), 0);
    /* and new sends are accepted again */
    assert_int_equal(send_msgs(env, 3, 60000, 30, 30, &s, NULL), 0);
    assert_int_equal(s.n, 3);
    for (size_t i = 0; i < s.n; i++)
        assert_string_equal(s.res[i], "ACCEPTED");
    /* 30 + the command line's + 3 */
    expect_verified(env, 34, 30);
    it_proc_stop(srv);
}

/* kill -9 of the hub with messages queued for an absent recipient: the
 * restarted hub still has them and delivers each once. */
static void test_hub_restart_keeps_queue(void **state)
{
    it_env_t *env = *state;
    sent_t s;
    it_proc_t *srv;

    assert_int_equal(it_hub_start(env, NULL), 0);
    assert_int_equal(send_msgs(env, 10, 200, 5, 0, &s, NULL), 4);
    assert_int_equal(s.n, 10);
    for (size_t i = 0; i < s.n; i++)
        assert_string_equal(s.res[i], "ACCEPTED");
    assert_int_equal(it_hub_kill(env), 128 + 9);
    assert_int_equal(it_hub_restart(env, NULL), 0);
    srv = serve_power(env, "0");
    assert_non_null(srv);
    assert_int_equal(collect(env, 60), 0);
    expect_verified(env, 10, 10);
    it_proc_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_offline_recipient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_restart_keeps_queue, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
