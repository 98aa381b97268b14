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
 *   - no result, reason or log line carries the resident's number;
 *   - the spool receives too: a request, a notice and a reply to the spool
 *     organization's own message each appear in in/ once (without the
 *     number); the batch job's reply file in out/ answers the sender
 *     (ANSWERED, with the payload), its refuse file refuses (the sender sees
 *     REFUSED_BY_RECIPIENT and the reason); an answer to an unknown or
 *     answered request is rejected; sent files are kept in done/;
 *   - a second spool on the same folder or data directory is refused;
 *   - a file a failure left in work/ is tried again while running;
 *   - killed (SIGKILL) again and again while messages arrive, the spool
 *     still writes every message to in/ exactly once.
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

#include <dirent.h>
#include <sys/types.h>

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

/* renkei-agent spool for org (data agents/ORG) on folder `sub`, not waited for. */
static it_proc_t *spool_spawn(it_env_t *env, const char *org, const char *sub)
{
    char key[4096], hubkey[4096], data[4096], dir[4096], rel[256];

    snprintf(rel, sizeof rel, "keys/%s.key", org);
    snprintf(key, sizeof key, "%s", it_path(env, rel));
    snprintf(hubkey, sizeof hubkey, "%s", it_path(env, "keys/hub.pub"));
    snprintf(rel, sizeof rel, "agents/%s", org);
    snprintf(data, sizeof data, "%s", it_path(env, rel));
    snprintf(dir, sizeof dir, "%s", it_path(env, sub));
    {
        const char *args[] = {"-H",    it_hub_endpoint(env), "-K", hubkey, "-k", key, "-d", data, "-t", "3",
                              "spool", "--spool-dir",        dir,  NULL};
        return it_spawn(env, "renkei-agent", args, "spool");
    }
}

static it_proc_t *spool_start_at(it_env_t *env, const char *org, const char *sub)
{
    it_proc_t *p = spool_spawn(env, org, sub);

    assert_non_null(p);
    for (int t = 0; t < 3000; t++) {
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
        bool running = it_proc_running(p);
        fail_msg("renkei-agent spool did not start (%s, status %d): %s", running ? "still running" : "ended",
                 running ? 0 : it_proc_wait(p, 0), e);
    }
    return NULL;
}

static it_proc_t *spool_start(it_env_t *env)
{
    return spool_start_at(env, "city.x", "spool");
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

/* Whether spool/rel is gone within 5 s (the work file goes to done/ just
 * after the result is written: a check between the two would see it). */
static bool gone(it_env_t *env, const char *rel)
{
    for (int t = 0; t < 500 && exists(env, rel); t++)
        sleep_ms(10);
    return !exists(env, rel);
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
    assert_true(gone(env, "work/order-a.json"));
    assert_false(exists(env, "out/order-a.json"));
    free(wait_file(env, "done/order-a.json")); /* the sent original is kept */

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
    assert_true(gone(env, "work/order-a.json"));
    assert_true(gone(env, "work/order-c.json"));

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

/* ------------------------------------------------------------ receiving */

/* As drop, into folder `sub`. */
static void drop_at(it_env_t *env, const char *sub, const char *name, const char *text)
{
    char tmp[4096], final[4096];
    snprintf(tmp, sizeof tmp, "%s/out/%s.json.tmp", it_path(env, sub), name);
    snprintf(final, sizeof final, "%s/out/%s.json", it_path(env, sub), name);
    assert_int_equal(it_write_file(tmp, text), 0);
    assert_int_equal(rename(tmp, final), 0);
}

/* Waits up to 15 s for sub/rel to exist; its content (free it). */
static char *wait_at(it_env_t *env, const char *sub, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", it_path(env, sub), rel);
    for (int t = 0; t < 1500; t++) {
        char *text = it_slurp(path, NULL);
        if (text != NULL)
            return text;
        sleep_ms(10);
    }
    fail_msg("%s/%s never appeared", sub, rel);
    return NULL;
}

/* The files of sub/in carrying mark: how many, the content of the last
 * (*text, free it; may be NULL) and whether any file there is no
 * NAME.json or a hidden temporary (*stray). */
static int in_count(it_env_t *env, const char *sub, const char *mark, char **text, bool *stray)
{
    char dir[4096], path[4096 + 256 + 2];
    struct dirent *e;
    DIR *d;
    int n = 0;

    if (text != NULL)
        *text = NULL;
    if (stray != NULL)
        *stray = false;
    snprintf(dir, sizeof dir, "%s/in", it_path(env, sub));
    if ((d = opendir(dir)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char *c;
        size_t l = strlen(e->d_name);
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".json") != 0) {
            if (stray != NULL)
                *stray = true;
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if ((c = it_slurp(path, NULL)) == NULL)
            continue;
        if (strstr(c, mark) != NULL) {
            n++;
            if (text != NULL) {
                free(*text);
                *text = c;
                c = NULL;
            }
        }
        free(c);
    }
    closedir(d);
    return n;
}

/* How many files sub/in holds (any name). */
static int in_files(it_env_t *env, const char *sub)
{
    char dir[4096];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(dir, sizeof dir, "%s/in", it_path(env, sub));
    if ((d = opendir(dir)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Waits up to 20 s for a file carrying mark in sub/in; its content. */
static char *wait_in(it_env_t *env, const char *sub, const char *mark)
{
    for (int t = 0; t < 2000; t++) {
        char *text;
        if (in_count(env, sub, mark, &text, NULL) > 0)
            return text;
        sleep_ms(10);
    }
    fail_msg("no file carrying %s appeared in %s/in", mark, sub);
    return NULL;
}

/* A string field of a JSON text, into out ("" if missing). */
static void field(const char *text, const char *name, char *out, size_t out_len)
{
    json_t *j = json_loads(text, 0, NULL);
    const char *v = json_string_value(json_object_get(j, name));
    if (j == NULL)
        fail_msg("not JSON: %s", text);
    snprintf(out, out_len, "%s", v != NULL ? v : "");
    json_decref(j);
}

static bool has_field(const char *text, const char *name)
{
    json_t *j = json_loads(text, 0, NULL);
    bool has = json_object_get(j, name) != NULL;
    json_decref(j);
    return has;
}

/* renkei-agent send from city.x about PERSON with a payload carrying mark,
 * in the background (it waits for the reply). */
static it_proc_t *send_start(it_env_t *env, const char *mark)
{
    char key[4096], hubkey[4096], data[4096], pfile[4096], payload[4096], text[256];
    snprintf(key, sizeof key, "%s", it_path(env, "keys/city.x.key"));
    snprintf(hubkey, sizeof hubkey, "%s", it_path(env, "keys/hub.pub"));
    snprintf(data, sizeof data, "%s", it_path(env, "agents/city.x"));
    assert_int_equal(it_person_file(env, PERSON, pfile, sizeof pfile), 0);
    snprintf(payload, sizeof payload, "%s/%s.payload", it_path(env, "run"), mark);
    snprintf(text, sizeof text, "{\"request\":\"stop\",\"mark\":\"%s\"}", mark);
    assert_int_equal(it_write_file(payload, text), 0);
    {
        const char *args[] = {"-H",    it_hub_endpoint(env),
                              "-K",    hubkey,
                              "-k",    key,
                              "-d",    data,
                              "-t",    "30",
                              "send",  "--to",
                              "power", "--type",
                              TYPE,    "--person-file",
                              pfile,   "--payload",
                              payload, NULL};
        it_proc_t *p = it_spawn(env, "renkei-agent", args, "send");
        assert_non_null(p);
        return p;
    }
}

/* No file under sub/in, results or rejected carries the number. */
static void no_number_in(it_env_t *env, const char *sub)
{
    static const char *const parts[] = {"in", "results", "rejected"};
    char dir[4096], where[4096];
    for (size_t i = 0; i < 3; i++) {
        snprintf(dir, sizeof dir, "%s/%s", it_path(env, sub), parts[i]);
        if (it_tree_contains(dir, PERSON, strlen(PERSON), where, sizeof where))
            fail_msg("%s carries the resident's number", where);
    }
}

static void test_spool_receives(void **state)
{
    it_env_t *env = *state;
    char text[1024], req[64], code[64], from[64], id[64], id_ask[64], *in, *res, *err;
    it_proc_t *pw, *cx, *second, *sender;
    it_run_t r;
    int rc;

    assert_int_equal(mkdir(it_path(env, "spool-p"), 0700), 0);
    assert_int_equal(mkdir(it_path(env, "spool-q"), 0700), 0);
    assert_int_equal(it_hub_start(env, NULL), 0);
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "enroll", NULL), 0);
    it_run_clear(&r);
    pw = spool_start_at(env, "power", "spool-p"); /* the utility's batch system */

    /* a second spool on the same folder, or on the same data directory, is refused */
    second = spool_spawn(env, "power", "spool-p");
    assert_non_null(second);
    assert_int_equal(it_proc_wait(second, 15), 1);
    err = it_proc_err(second);
    if (strstr(err, "another renkei-agent spool is already running") == NULL)
        fail_msg("the second spool does not say why it stops: %s", err);
    free(err);
    second = spool_spawn(env, "power", "spool-q");
    assert_non_null(second);
    assert_int_equal(it_proc_wait(second, 15), 1);
    err = it_proc_err(second);
    if (strstr(err, "another renkei-agent spool is already running") == NULL)
        fail_msg("the second spool does not say why it stops: %s", err);
    free(err);
    assert_true(it_proc_running(pw));

    /* a request appears in in/; the batch job's reply file answers it */
    sender = send_start(env, "mark-req-answer");
    in = wait_in(env, "spool-p", "mark-req-answer");
    field(in, "from", from, sizeof from);
    field(in, "msg_id", req, sizeof req);
    field(in, "code", code, sizeof code);
    assert_string_equal(from, "city.x");
    assert_int_equal(strlen(req), 32);
    assert_int_equal(strlen(code), 32);
    assert_false(has_field(in, "person"));
    assert_false(has_field(in, "reply_to"));
    assert_true(has_field(in, "payload"));
    free(in);
    snprintf(text, sizeof text,
             "{\"reply_to\":\"%s\",\"to\":\"city.x\",\"payload\":{\"mark\":\"mark-answer-payload\"}}", req);
    drop_at(env, "spool-p", "answer-1", text);
    res = wait_at(env, "spool-p", "results/answer-1.result.json");
    result_id(res, id);
    free(res);
    rc = it_proc_wait(sender, 30);
    {
        char *out = it_proc_out(sender);
        char *e2 = it_proc_err(sender);
        if (rc != 0 || strstr(out, "mark-answer-payload") == NULL)
            fail_msg("the sender did not get the reply (exit %d): %s %s", rc, out, e2);
        free(out);
        free(e2);
    }
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "status", req, NULL), 0);
    if (strstr(r.out, "ANSWERED") == NULL)
        fail_msg("the request is not ANSWERED for its sender: %s", r.out);
    it_run_clear(&r);
    free(wait_at(env, "spool-p", "done/answer-1.json"));

    /* the same request answered again, and an unknown one: rejected */
    drop_at(env, "spool-p", "answer-2", text);
    res = wait_at(env, "spool-p", "rejected/answer-2.reason.txt");
    if (strstr(res, "answered") == NULL)
        fail_msg("the reason does not say the request was answered: %s", res);
    free(res);
    free(wait_at(env, "spool-p", "rejected/answer-2.json"));
    drop_at(env, "spool-p", "answer-3",
            "{\"reply_to\":\"0123456789abcdef0123456789abcdef\",\"to\":\"city.x\",\"payload\":{}}");
    res = wait_at(env, "spool-p", "rejected/answer-3.reason.txt");
    if (strstr(res, "no message") == NULL)
        fail_msg("the reason does not say there is no such request: %s", res);
    free(res);

    /* a refuse file: the sender sees REFUSED_BY_RECIPIENT and the reason */
    sender = send_start(env, "mark-req-refuse");
    in = wait_in(env, "spool-p", "mark-req-refuse");
    field(in, "msg_id", req, sizeof req);
    free(in);
    snprintf(text, sizeof text,
             "{\"reply_to\":\"%s\",\"to\":\"city.x\",\"refuse\":\"no contract at this address\"}", req);
    drop_at(env, "spool-p", "refuse-1", text);
    res = wait_at(env, "spool-p", "results/refuse-1.result.json");
    if (strstr(res, "REFUSED") == NULL)
        fail_msg("the refusal's result does not say REFUSED: %s", res);
    free(res);
    rc = it_proc_wait(sender, 30);
    err = it_proc_err(sender);
    if (rc != 3 || strstr(err, "REFUSED_BY_RECIPIENT") == NULL ||
        strstr(err, "no contract at this address") == NULL)
        fail_msg("the sender did not see the refusal and its reason (exit %d): %s", rc, err);
    free(err);

    /* a notice (no reply expected) appears in in/ */
    {
        char pfile[4096];
        assert_int_equal(it_person_file(env, PERSON, pfile, sizeof pfile), 0);
        assert_int_equal(it_agent(env, "city.x", "{\"mark\":\"mark-notice\"}", &r, "send", "--to", "power",
                                  "--type", TYPE, "--person-file", pfile, "--no-reply", NULL),
                         0);
        it_run_clear(&r);
    }
    in = wait_in(env, "spool-p", "mark-notice");
    field(in, "msg_id", req, sizeof req);
    free(in);
    /* nothing to answer: a done file ends it, and it cannot be answered after */
    snprintf(text, sizeof text, "{\"reply_to\":\"%s\",\"to\":\"city.x\",\"done\":true}", req);
    drop_at(env, "spool-p", "notice-done", text);
    res = wait_at(env, "spool-p", "results/notice-done.result.json");
    if (strstr(res, "\"DONE\"") == NULL)
        fail_msg("the done file's result does not say DONE: %s", res);
    free(res);
    snprintf(text, sizeof text, "{\"reply_to\":\"%s\",\"to\":\"city.x\",\"payload\":{}}", req);
    drop_at(env, "spool-p", "notice-late", text);
    free(wait_at(env, "spool-p", "rejected/notice-late.reason.txt"));

    /* city.x as a spool too: its own request's reply appears in its in/ */
    cx = spool_start(env);
    snprintf(text, sizeof text,
             "{\"to\":\"power\",\"type\":\"" TYPE "\",\"person\":\"" PERSON
             "\",\"payload\":{\"mark\":\"mark-ask\"}}");
    drop_at(env, "spool", "ask-1", text);
    res = wait_at(env, "spool", "results/ask-1.result.json");
    no_number("a result", res);
    result_id(res, id_ask);
    free(res);
    free(wait_at(env, "spool", "done/ask-1.json")); /* the sent original is kept */
    in = wait_in(env, "spool-p", "mark-ask");
    field(in, "msg_id", req, sizeof req);
    free(in);
    assert_string_equal(req, id_ask);
    snprintf(text, sizeof text,
             "{\"reply_to\":\"%s\",\"to\":\"city.x\",\"payload\":{\"mark\":\"mark-ask-reply\"}}", id_ask);
    drop_at(env, "spool-p", "answer-ask", text);
    in = wait_in(env, "spool", "mark-ask-reply");
    field(in, "from", from, sizeof from);
    field(in, "reply_to", req, sizeof req);
    assert_string_equal(from, "power");
    assert_string_equal(req, id_ask);
    free(in);

    /* each once; nothing written carries the number */
    sleep_ms(1000);
    {
        bool stray = false;
        assert_int_equal(in_count(env, "spool-p", "mark-req-answer", NULL, &stray), 1);
        assert_int_equal(in_count(env, "spool-p", "mark-req-refuse", NULL, NULL), 1);
        assert_int_equal(in_count(env, "spool-p", "mark-notice", NULL, NULL), 1);
        assert_int_equal(in_count(env, "spool-p", "mark-ask\"", NULL, NULL), 1);
        assert_int_equal(in_count(env, "spool", "mark-ask-reply", NULL, NULL), 1);
        assert_false(stray);
    }
    no_number_in(env, "spool-p");
    no_number_in(env, "spool");

    assert_int_equal(it_proc_stop(cx), 0);
    err = it_proc_err(cx);
    no_number("the spool's log", err);
    free(err);
    assert_int_equal(it_proc_stop(pw), 0);
    err = it_proc_err(pw);
    no_number("the spool's log", err);
    free(err);
}

/* A file a failure left in work/ (here: its result could not be written)
 * is tried again while the spool runs, not only at its next start. */
static void test_spool_retries(void **state)
{
    it_env_t *env = *state;
    char text[512], *res;
    it_proc_t *sp;
    it_run_t r;

    assert_int_equal(it_hub_start(env, NULL), 0);
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "enroll", NULL), 0);
    it_run_clear(&r);
    sp = spool_start(env);
    /* the result's temporary name is taken by a folder: it cannot be written */
    assert_int_equal(mkdir(spool_path(env, "results/order-r.result.json.tmp"), 0700), 0);
    message(text, sizeof text, "mark-retry");
    drop(env, "order-r", text);
    for (int t = 0; t < 500 && !exists(env, "work/order-r.json"); t++)
        sleep_ms(10);
    sleep_ms(1000);
    assert_true(exists(env, "work/order-r.json"));
    assert_false(exists(env, "results/order-r.result.json"));
    assert_int_equal(rmdir(spool_path(env, "results/order-r.result.json.tmp")), 0);
    for (int t = 0; t < 2000 && !exists(env, "results/order-r.result.json"); t++)
        sleep_ms(10);
    res = wait_file(env, "results/order-r.result.json");
    free(res);
    free(wait_file(env, "done/order-r.json"));
    assert_true(it_proc_running(sp));
    assert_int_equal(it_proc_stop(sp), 0);
}

/* The utility's spool killed (SIGKILL) again and again, at random moments,
 * while requests and notices arrive: at the end each is in in/ once. */
static void test_spool_killed(void **state)
{
    it_env_t *env = *state;
    enum { ROUNDS = 10, PER_ROUND = 6 };
    char text[512], name[64], mark[64];
    it_proc_t *pw, *cx;
    it_run_t r;
    int n = 0, seen = 0;

    assert_int_equal(mkdir(it_path(env, "spool-p"), 0700), 0);
    assert_int_equal(it_hub_start(env, NULL), 0);
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "enroll", NULL), 0);
    it_run_clear(&r);
    cx = spool_start(env);
    pw = spool_start_at(env, "power", "spool-p");
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < PER_ROUND; i++, n++) {
            snprintf(name, sizeof name, "kill-%03d", n);
            snprintf(mark, sizeof mark, "mark-kill-%03d-", n);
            snprintf(text, sizeof text,
                     "{\"to\":\"power\",\"type\":\"" TYPE "\",\"person\":\"" PERSON "\","
                     "\"payload\":{\"mark\":\"%s\"}%s}\n",
                     mark, n % 2 == 0 ? ",\"no_reply\":true" : "");
            drop(env, name, text);
        }
        /* killed while it writes: once in/ has grown, within a few ms */
        for (int t = 0; t < 1000 && in_files(env, "spool-p") <= seen; t++)
            sleep_ms(5);
        sleep_ms((int)randombytes_uniform(30));
        it_proc_kill(pw);
        seen = in_files(env, "spool-p");
        pw = spool_start_at(env, "power", "spool-p");
    }
    for (int i = 0; i < n; i++) {
        snprintf(mark, sizeof mark, "mark-kill-%03d-", i);
        free(wait_in(env, "spool-p", mark));
    }
    sleep_ms(1500); /* time for a second copy, were there one */
    for (int i = 0; i < n; i++) {
        bool stray = false;
        int count;
        snprintf(mark, sizeof mark, "mark-kill-%03d-", i);
        count = in_count(env, "spool-p", mark, NULL, &stray);
        if (count != 1)
            fail_msg("message %s is in in/ %d times", mark, count);
        assert_false(stray);
    }
    no_number_in(env, "spool-p");
    assert_int_equal(it_proc_stop(pw), 0);
    assert_int_equal(it_proc_stop(cx), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_receives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_killed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
