/*
 * test_it_spool - the agent's spool folder (renkei-agent spool) through the
 * real programs: hub, the spool command and a serving recipient.
 *
 *   - a batch system's files, written as NAME.json.tmp and renamed to
 *     NAME.json in out/, are sent: results/NAME.result.json carries the
 *     msg_id and state, and the recipient receives each message once;
 *   - a file that is no valid message goes to rejected/ with
 *     NAME.reason.txt naming the problem, without the resident's number;
 *   - after the spool process is killed (SIGKILL), files left in work/ are
 *     processed at restart: one never sent is sent once, one already sent
 *     is not sent again (its NAME is its idempotency key), nor is one
 *     the agent was killed in the middle of sending (found in the outbox);
 *   - no result, reason or log line carries the resident's number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>

#include "harness.h"

#define PERSON "TEST-0088-SPOOLDIR" /* a made-up resident's number */
#define TYPE "utility.supply.stop"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *spool_path(it_env_t *env, const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", it_path(env, "spool"), rel);
    return buf;
}

static it_proc_t *spool_start(it_env_t *env)
{
    char key[4096], hubkey[4096], data[4096], dir[4096];
    it_proc_t *p;

    snprintf(key, sizeof key, "%s", it_path(env, "keys/city.x.key"));
    snprintf(hubkey, sizeof hubkey, "%s", it_path(env, "keys/hub.pub"));
    snprintf(data, sizeof data, "%s", it_path(env, "agents/city.x"));
    snprintf(dir, sizeof dir, "%s", it_path(env, "spool"));
    {
        const char *args[] = {"-H",    it_hub_endpoint(env), "-K", hubkey, "-k", key, "-d", data, "-t", "3",
                              "spool", "--spool-dir",        dir,  NULL};
        p = it_spawn(env, "renkei-agent", args, "spool");
    }
    assert_non_null(p);
    for (int t = 0; t < 1500; t++) {
        char *e = it_proc_err(p);
        bool up = e != NULL && strstr(e, "watching the spool folder") != NULL;
        free(e);
        if (up)
            return p;
        if (!it_proc_running(p))
            break;
        sleep_ms(10);
    }
    {
        char *e = it_proc_err(p);
        fail_msg("renkei-agent spool did not start: %s", e);
    }
    return NULL;
}

/* A message file with payload marker `mark`. */
static void message(char *out, size_t out_len, const char *mark)
{
    snprintf(out, out_len,
             "{\"to\":\"power\",\"type\":\"" TYPE "\",\"person\":\"" PERSON "\","
             "\"payload\":{\"request\":\"stop\",\"mark\":\"%s\"},\"no_reply\":true}\n",
             mark);
}

/* As a batch system does: out/NAME.json.tmp, then renamed to out/NAME.json. */
static void drop(it_env_t *env, const char *name, const char *text)
{
    char tmp[4096], final[4096];
    snprintf(tmp, sizeof tmp, "%s/out/%s.json.tmp", it_path(env, "spool"), name);
    snprintf(final, sizeof final, "%s/out/%s.json", it_path(env, "spool"), name);
    assert_int_equal(it_write_file(tmp, text), 0);
    assert_int_equal(rename(tmp, final), 0);
}

/* The recipient's deliveries carrying mark. */
static int deliveries(it_proc_t *serve, const char *mark)
{
    char *out = it_proc_out(serve);
    int n = 0;
    for (const char *p = out; p != NULL && (p = strstr(p, mark)) != NULL; p += strlen(mark))
        n++;
    free(out);
    return n;
}

/* Waits up to 15 s for spool/rel to exist; its content (free it). */
static char *wait_file(it_env_t *env, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", spool_path(env, rel));
    for (int t = 0; t < 1500; t++) {
        char *text = it_slurp(path, NULL);
        if (text != NULL)
            return text;
        sleep_ms(10);
    }
    fail_msg("%s never appeared", rel);
    return NULL;
}

static bool exists(it_env_t *env, const char *rel)
{
    return access(spool_path(env, rel), F_OK) == 0;
}

/* The msg_id of a result file, checked to be a sent message's; "" if none. */
static void result_id(const char *text, char out[64])
{
    json_t *j = json_loads(text, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "msg_id"));
    const char *st = json_string_value(json_object_get(j, "state"));
    if (id == NULL || strlen(id) != 32 || st == NULL)
        fail_msg("a result without msg_id and state: %s", text);
    if (strcmp(st, "ACCEPTED") != 0 && strcmp(st, "DELIVERED") != 0)
        fail_msg("a result not accepted: %s", text);
    snprintf(out, 64, "%s", id);
    json_decref(j);
}

static void no_number(const char *what, const char *text)
{
    if (text != NULL && strstr(text, PERSON) != NULL)
        fail_msg("%s carries the resident's number: %s", what, text);
}

static void wait_deliveries(it_proc_t *serve, const char *mark, int n)
{
    for (int t = 0; t < 500 && deliveries(serve, mark) < n; t++)
        sleep_ms(20);
}

/* What the agent leaves in its data directory's spool-keys.mdb when it is
 * killed during a send: NAME reserved at wall-clock ms `since`, no message
 * id recorded yet. */
static void reserve(it_env_t *env, const char *name, uint64_t since)
{
    uint8_t h[32], val[1 + 16];
    MDB_env *e;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {sizeof h, h}, v = {sizeof val, val};

    crypto_generichash(h, sizeof h, (const uint8_t *)name, strlen(name), NULL, 0);
    memset(val, 0, sizeof val);
    val[0] = 'R';
    for (int i = 0; i < 8; i++)
        val[1 + i] = (uint8_t)(since >> (56 - 8 * i));
    assert_int_equal(mdb_env_create(&e), 0);
    assert_int_equal(mdb_env_set_mapsize(e, (size_t)64 << 20), 0);
    assert_int_equal(mdb_env_open(e, it_path(env, "agents/city.x/spool-keys.mdb"), MDB_NOSUBDIR, 0600), 0);
    assert_int_equal(mdb_txn_begin(e, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(e);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int setup(void **state)
{
    it_env_t *env = it_env_new();
    if (env == NULL)
        return -1;
    if (it_org(env, "city.x", "municipality") != 0 || it_org(env, "power", "utility") != 0 ||
        mkdir(it_path(env, "spool"), 0700) != 0) {
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

static void test_spool(void **state)
{
    it_env_t *env = *state;
    char text[512], id_a[64], id_b[64], id_again[64], id_c[64], *res, *err;
    it_proc_t *sp, *serve;
    it_run_t r;
    struct stat st;

    assert_int_equal(it_hub_start(env, NULL), 0);
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "enroll", NULL), 0);
    it_run_clear(&r);
    serve = it_serve_start(env, "power", NULL, 0);
    assert_non_null(serve);

    sp = spool_start(env);
    /* the subfolders are made, for the owner only */
    assert_int_equal(stat(spool_path(env, "out"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(spool_path(env, "results"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* a file still being written (.tmp) is left alone */
    message(text, sizeof text, "mark-tmp-only");
    assert_int_equal(it_write_file(spool_path(env, "out/t.json.tmp"), text), 0);

    message(text, sizeof text, "mark-aaa");
    drop(env, "order-a", text);
    message(text, sizeof text, "mark-bbb");
    drop(env, "order-b", text);
    drop(env, "order-bad", "{\"to\":\"power\",\"type\":\"" TYPE "\",\"person\":\"" PERSON "\"}\n");

    res = wait_file(env, "results/order-a.result.json");
    no_number("a result", res);
    result_id(res, id_a);
    free(res);
    res = wait_file(env, "results/order-b.result.json");
    result_id(res, id_b);
    free(res);
    assert_string_not_equal(id_a, id_b);
    assert_false(exists(env, "work/order-a.json"));
    assert_false(exists(env, "out/order-a.json"));

    res = wait_file(env, "rejected/order-bad.reason.txt");
    if (strstr(res, "payload") == NULL)
        fail_msg("the reason does not name the missing field: %s", res);
    no_number("a rejection's reason", res);
    free(res);
    /* the reason and the file are two renames: wait for the second too */
    free(wait_file(env, "rejected/order-bad.json"));
    assert_false(exists(env, "results/order-bad.result.json"));
    assert_false(exists(env, "work/order-bad.json"));

    wait_deliveries(serve, "mark-aaa", 1);
    wait_deliveries(serve, "mark-bbb", 1);
    assert_int_equal(deliveries(serve, "mark-aaa"), 1);
    assert_int_equal(deliveries(serve, "mark-bbb"), 1);
    assert_true(exists(env, "out/t.json.tmp"));

    /* killed outright; then what a crash leaves in work/: order-a again
     * (sent, its work file not yet deleted) and order-c (taken, not sent) */
    assert_true(it_proc_running(sp));
    it_proc_kill(sp);
    err = it_proc_err(sp);
    no_number("the spool's log", err);
    free(err);
    assert_int_equal(unlink(spool_path(env, "results/order-a.result.json")), 0);
    message(text, sizeof text, "mark-aaa");
    assert_int_equal(it_write_file(spool_path(env, "work/order-a.json"), text), 0);
    message(text, sizeof text, "mark-ccc");
    assert_int_equal(it_write_file(spool_path(env, "work/order-c.json"), text), 0);
    /* ...and order-d, killed during its send: reserved, kept in the outbox
     * (sent here by the command line, as the send would have), no id
     * recorded; it must not go a second time */
    {
        char pfile[4096];
        reserve(env, "order-d", wall_ms());
        assert_int_equal(it_person_file(env, PERSON, pfile, sizeof pfile), 0);
        assert_int_equal(it_agent(env, "city.x", "{\"request\":\"stop\",\"mark\":\"mark-ddd\"}", &r, "send",
                                  "--to", "power", "--type", TYPE, "--person-file", pfile, "--no-reply",
                                  NULL),
                         0);
        it_run_clear(&r);
        message(text, sizeof text, "mark-ddd");
        assert_int_equal(it_write_file(spool_path(env, "work/order-d.json"), text), 0);
    }

    sp = spool_start(env);
    res = wait_file(env, "results/order-c.result.json");
    result_id(res, id_c);
    free(res);
    res = wait_file(env, "results/order-a.result.json");
    result_id(res, id_again);
    free(res);
    assert_string_equal(id_again, id_a); /* the same message, not a new one */
    assert_false(exists(env, "work/order-a.json"));
    assert_false(exists(env, "work/order-c.json"));

    /* order-b dropped again under the same NAME: not sent again */
    assert_int_equal(unlink(spool_path(env, "results/order-b.result.json")), 0);
    message(text, sizeof text, "mark-bbb");
    drop(env, "order-b", text);
    res = wait_file(env, "results/order-b.result.json");
    result_id(res, id_again);
    free(res);
    assert_string_equal(id_again, id_b);

    res = wait_file(env, "results/order-d.result.json");
    result_id(res, id_again);
    free(res);

    wait_deliveries(serve, "mark-ccc", 1);
    wait_deliveries(serve, "mark-ddd", 1);
    sleep_ms(1000); /* time for a second delivery, were there one */
    assert_int_equal(deliveries(serve, "mark-aaa"), 1);
    assert_int_equal(deliveries(serve, "mark-bbb"), 1);
    assert_int_equal(deliveries(serve, "mark-ccc"), 1);
    assert_int_equal(deliveries(serve, "mark-ddd"), 1);

    assert_int_equal(it_proc_stop(sp), 0);
    err = it_proc_err(sp);
    no_number("the spool's log", err);
    free(err);
    assert_int_equal(it_proc_stop(serve), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spool, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
