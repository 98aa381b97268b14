/*
 * test_it_reseal - the hub's master key changes: renkei-ctl master-rekey
 * over the real programs.
 *
 * Residents are enrolled at city.x; power learns one of them; then, with
 * power and town.y offline, city.x sends power a stop request for each and
 * town.y a move-out notice, which wait in the hub's queues.  The hub is
 * stopped (master-rekey refuses to run beside it) and the store re-sealed
 * under a new master key with one row per transaction, killed with SIGKILL
 * twice in the middle; while it is unfinished the hub refuses to start
 * under either key, and the re-seal refuses a wrong new key.  Run to its
 * end, the hub refuses the old key and starts with the new one: the queued
 * messages reach power and town.y under the codes they had, a new request
 * about a known resident reaches power under its old code and the reply
 * comes back under city.x's, city.x's disclosure still lists the resident's
 * record, every routing-log entry and the checkpoint are byte for byte as
 * before with one signed entry appended, and renkei-audit verify finds the
 * log consistent with what it verified before.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "harness.h"
#include "wire.h"

#define N_PERSONS 5
#define MAX_LOG 256

static const char *const PERSONS[N_PERSONS] = {"TEST-RESEAL-0001", "TEST-RESEAL-0002", "TEST-RESEAL-0003",
                                               "TEST-RESEAL-0004", "TEST-RESEAL-0005"};

typedef struct logcopy {
    uint8_t *row[MAX_LOG];
    size_t len[MAX_LOG];
    size_t n;
    char *cp;
} logcopy_t;

typedef struct fixture {
    it_env_t *env;
    char old_key[PATH_MAX], new_key[PATH_MAX], other_key[PATH_MAX], op_key[PATH_MAX], state[PATH_MAX];
    char code_x[N_PERSONS][40]; /* city.x's codes */
    char power_code0[40];       /* power's code for PERSONS[0], learnt before the re-seal */
    logcopy_t before, after;
} fixture_t;

static void logcopy_clear(logcopy_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->row[i]);
    free(c->cp);
    memset(c, 0, sizeof *c);
}

/* The routing log's rows and checkpoint, read from data.mdb with liblmdb
 * (the environment is closed again before anything else runs, so the
 * re-seal does not see this process as a running hub). */
static void read_log(fixture_t *fx, logcopy_t *c)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi log, cpd;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    logcopy_clear(c);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 64), 0);
    assert_int_equal(mdb_env_open(env, it_hub_data(fx->env), MDB_RDONLY | MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &log), 0);
    assert_int_equal(mdb_dbi_open(txn, "log_cp", 0, &cpd), 0);
    assert_int_equal(mdb_cursor_open(txn, log, &cur), 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && c->n < MAX_LOG;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        c->row[c->n] = malloc(v.mv_size);
        assert_non_null(c->row[c->n]);
        memcpy(c->row[c->n], v.mv_data, v.mv_size);
        c->len[c->n++] = v.mv_size;
    }
    mdb_cursor_close(cur);
    k.mv_data = "cp";
    k.mv_size = 2;
    assert_int_equal(mdb_get(txn, cpd, &k, &v), 0);
    c->cp = strndup(v.mv_data, v.mv_size);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

/* Writes the resident's number to a person file for --person-file. */
static const char *person_file(fixture_t *fx, int p)
{
    static char path[PATH_MAX];
    assert_int_equal(it_person_file(fx->env, PERSONS[p], path, sizeof path), 0);
    return path;
}

static int audit_verify(fixture_t *fx, it_run_t *r)
{
    char hubpub[PATH_MAX], key[PATH_MAX];
    const char *argv[] = {"-H",      it_hub_endpoint(fx->env),
                          "-K",      hubpub,
                          "-k",      key,
                          "-t",      "5",
                          "verify",  "--state",
                          fx->state, NULL};

    snprintf(hubpub, sizeof hubpub, "%s", it_path(fx->env, "keys/hub.pub"));
    snprintf(key, sizeof key, "%s/keys/audit.z.key", it_dir(fx->env));
    return it_run(fx->env, "renkei-audit", argv, NULL, 60, r);
}

/* The back office of power: records "TYPE FROM CODE FIRST" per request. */
static it_proc_t *serve_power(fixture_t *fx)
{
    char cmd[2 * PATH_MAX];

    snprintf(cmd, sizeof cmd,
             "cat > /dev/null; printf '%%s %%s %%s %%s\\n' \"$RENKEI_TYPE\" \"$RENKEI_FROM\" "
             "\"$RENKEI_CODE\" "
             "\"$RENKEI_FIRST_CONTACT\" >> '%s/power.seen'; printf '{\"result\":\"done\"}\\n'",
             it_dir(fx->env));
    return it_serve_start(fx->env, "power", cmd, 0);
}

/* Lines of power.seen so far (malloc'd, "" if none). */
static char *power_seen(fixture_t *fx)
{
    char *s = it_slurp(it_path(fx->env, "power.seen"), NULL);
    return s != NULL ? s : strdup("");
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* renkei-ctl master-rekey with the fixture's operator and the given keys,
 * in the background, with a pause after each batch when pause_ms > 0. */
static it_proc_t *rekey_spawn(fixture_t *fx, const char *old_key, const char *new_key, const char *pause_ms)
{
    const char *argv[] =
        {"-d",    it_hub_data(fx->env), "master-rekey", "--master-key", old_key, "--new-master-key",
         new_key, "--operator-key",     fx->op_key,     "--batch",      "1",     NULL};
    it_proc_t *p;

    if (pause_ms != NULL)
        setenv("RENKEI_RESEAL_PAUSE_MS", pause_ms, 1);
    p = it_spawn(fx->env, "renkei-ctl", argv, "rekey");
    unsetenv("RENKEI_RESEAL_PAUSE_MS");
    assert_non_null(p);
    return p;
}

/* Waits up to 20 s for needle on p's stderr. */
static bool proc_err_wait(it_proc_t *p, const char *needle)
{
    for (int i = 0; i < 2000; i++) {
        char *err = it_proc_err(p);
        bool found = err != NULL && strstr(err, needle) != NULL;
        free(err);
        if (found)
            return true;
        if (!it_proc_running(p))
            return false;
        usleep(10000);
    }
    return false;
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    it_run_t r;
    char pub[PATH_MAX];

    if (fx == NULL || (fx->env = it_env_new()) == NULL)
        return -1;
    *state = fx;
    snprintf(fx->old_key, sizeof fx->old_key, "%s", it_master_path(fx->env));
    snprintf(fx->new_key, sizeof fx->new_key, "%s", it_path(fx->env, "new-master.key"));
    snprintf(fx->other_key, sizeof fx->other_key, "%s", it_path(fx->env, "other-master.key"));
    snprintf(fx->state, sizeof fx->state, "%s", it_path(fx->env, "audit.state"));
    snprintf(fx->op_key, sizeof fx->op_key, "%s/keys/op.sato.key", it_dir(fx->env));
    snprintf(pub, sizeof pub, "%s/keys/op.sato.pub", it_dir(fx->env));
    if (it_org(fx->env, "city.x", "municipality") != 0 || it_org(fx->env, "town.y", "municipality") != 0 ||
        it_org(fx->env, "power", "utility") != 0 || it_org(fx->env, "audit.z", "auditor") != 0 ||
        it_keygen(fx->env, "op.sato") != 0)
        return -1;
    if (it_ctl(fx->env, &r, "operator", "add", "op.sato", "--pub", pub, "--operator-key", fx->op_key, NULL) !=
        0) {
        fprintf(stderr, "operator add: %s\n", r.err);
        it_run_clear(&r);
        return -1;
    }
    it_run_clear(&r);
    for (int i = 0; i < 2; i++) {
        const char *argv[] = {"--master-key", i == 0 ? fx->new_key : fx->other_key, NULL};
        if (it_run(fx->env, "renkei-keygen", argv, NULL, 20, &r) != 0) {
            fprintf(stderr, "keygen --master-key: %s\n", r.err);
            it_run_clear(&r);
            return -1;
        }
        it_run_clear(&r);
    }
    return it_hub_start(fx->env, NULL);
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx != NULL) {
        logcopy_clear(&fx->before);
        logcopy_clear(&fx->after);
        it_env_destroy(&fx->env);
        free(fx);
    }
    return 0;
}

/* Before the re-seal: enrollments, one resident known to power, requests
 * and a notice waiting for power and town.y while they are offline. */
static void before_reseal(fixture_t *fx)
{
    it_run_t r;
    it_proc_t *power;
    char *seen;
    int st;

    for (int p = 0; p < N_PERSONS; p++) {
        char in[64];
        snprintf(in, sizeof in, "%s\n", PERSONS[p]);
        assert_int_equal(it_agent(fx->env, "city.x", in, &r, "enroll", NULL), 0);
        snprintf(fx->code_x[p], sizeof fx->code_x[p], "%s", it_chomp(r.out));
        it_run_clear(&r);
    }
    /* power meets the first resident and answers */
    power = serve_power(fx);
    assert_non_null(power);
    st = it_agent(fx->env, "city.x", "{\"request\":\"stop\"}", &r, "send", "--to", "power", "--type",
                  "utility.supply.stop", "--person-file", person_file(fx, 0), NULL);
    if (st != 0)
        fail_msg("send to power: %s", r.err);
    assert_non_null(strstr(r.out, fx->code_x[0])); /* the reply, under city.x's code */
    it_run_clear(&r);
    it_proc_stop(power);
    seen = power_seen(fx);
    assert_int_equal(sscanf(seen, "utility.supply.stop city.x %39s", fx->power_code0), 1);
    free(seen);

    /* power and town.y offline: everything waits in the hub's queues */
    for (int p = 0; p < N_PERSONS; p++) {
        st = it_agent(fx->env, "city.x", "{\"request\":\"stop\"}", &r, "send", "--to", "power", "--type",
                      "utility.supply.stop", "--person-file", person_file(fx, p), "--no-wait", NULL);
        if (st != 0)
            fail_msg("queued send to power: %s", r.err);
        it_run_clear(&r);
    }
    st = it_agent(fx->env, "city.x", "{\"notice\":\"move-out\"}", &r, "send", "--to", "town.y", "--type",
                  "move.out.notice", "--person-file", person_file(fx, 1), "--no-wait", NULL);
    if (st != 0)
        fail_msg("queued notice to town.y: %s", r.err);
    it_run_clear(&r);

    st = audit_verify(fx, &r);
    if (st != 0)
        fail_msg("verify before: %s%s", r.out, r.err);
    it_run_clear(&r);
}

static void test_master_rekey(void **state)
{
    fixture_t *fx = *state;
    const char *with_new[] = {"--master-key", fx->new_key, NULL};
    it_run_t r;
    it_proc_t *p, *power, *town;
    char *seen, *log, *out;
    rk_log_entry_t e;
    char why[256], line[256], disclosed[4096];
    int st;

    before_reseal(fx);
    st = it_agent(fx->env, "city.x", PERSONS[1], &r, "disclose", NULL);
    if (st != 0)
        fail_msg("disclose before: %s", r.err);
    snprintf(disclosed, sizeof disclosed, "%s", r.out);
    assert_true(count_lines(disclosed) >= 2);
    it_run_clear(&r);

    /* Not beside a running hub: refused, nothing changed. */
    st = it_ctl(fx->env, &r, "master-rekey", "--master-key", fx->old_key, "--new-master-key", fx->new_key,
                "--operator-key", fx->op_key, NULL);
    assert_int_equal(st, 1);
    assert_non_null(strstr(r.err, "stop renkei-hub"));
    it_run_clear(&r);
    /* Operators are registered: the change needs one's key. */
    st = it_ctl(fx->env, &r, "master-rekey", "--master-key", fx->old_key, "--new-master-key", fx->new_key,
                NULL);
    assert_int_equal(st, 1);
    assert_non_null(strstr(r.err, "--operator-key"));
    it_run_clear(&r);

    assert_int_equal(it_hub_stop(fx->env), 0);
    read_log(fx, &fx->before);
    assert_true(fx->before.n > 10);

    /* Killed after its first progress line, twice. */
    p = rekey_spawn(fx, fx->old_key, fx->new_key, "300");
    assert_true(proc_err_wait(p, "master-rekey: phase 1/5"));
    assert_int_equal(it_proc_kill(p), 128 + 9);
    p = rekey_spawn(fx, fx->old_key, fx->new_key, "300");
    assert_true(proc_err_wait(p, "master-rekey: resuming"));
    assert_int_equal(it_proc_kill(p), 128 + 9);

    /* Unfinished: the hub refuses to start, under either key. */
    assert_int_not_equal(it_hub_start(fx->env, with_new), 0);
    log = it_hub_log(fx->env);
    assert_non_null(strstr(log, "a change of master key is unfinished"));
    free(log);
    assert_int_not_equal(it_hub_start(fx->env, NULL), 0);
    /* A key that is not the new one of this re-seal cannot finish it. */
    st = it_ctl(fx->env, &r, "master-rekey", "--master-key", fx->old_key, "--new-master-key", fx->other_key,
                "--operator-key", fx->op_key, NULL);
    assert_int_equal(st, 1);
    assert_non_null(strstr(r.err, "--new-master-key is not the key the unfinished re-seal"));
    it_run_clear(&r);

    /* The same command again finishes it. */
    p = rekey_spawn(fx, fx->old_key, fx->new_key, NULL);
    st = it_proc_wait(p, 60);
    out = it_proc_out(p);
    log = it_proc_err(p);
    if (st != 0)
        fail_msg("master-rekey exited %d: %s", st, log);
    assert_non_null(strstr(log, "resuming"));
    assert_non_null(strstr(log, "phase 5/5 swap"));
    assert_non_null(strstr(out, "is now sealed under the new master key"));
    free(out);
    free(log);
    st = it_ctl(fx->env, &r, "master-rekey", "--master-key", fx->old_key, "--new-master-key", fx->new_key,
                "--operator-key", fx->op_key, NULL);
    assert_int_equal(st, 0);
    assert_non_null(strstr(r.out, "already sealed under the new master key"));
    it_run_clear(&r);

    /* The routing log: every entry and the checkpoint as they were, one
     * entry more, signed by the operator. */
    read_log(fx, &fx->after);
    assert_int_equal(fx->after.n, fx->before.n + 1);
    for (size_t i = 0; i < fx->before.n; i++) {
        assert_int_equal(fx->after.len[i], fx->before.len[i]);
        assert_memory_equal(fx->after.row[i], fx->before.row[i], fx->before.len[i]);
    }
    assert_string_equal(fx->after.cp, fx->before.cp);
    assert_int_equal(rk_log_entry_decode(fx->after.row[fx->before.n], fx->after.len[fx->before.n], &e, why,
                                         sizeof why),
                     RK_WIRE_OK);
    assert_int_equal(e.event, RK_EV_MASTER_RESEALED);
    assert_string_equal(e.operator_name, "op.sato");
    assert_true(e.has_operator_sig);

    /* The old key is refused with the usual sentence; the new one opens. */
    assert_int_not_equal(it_hub_start(fx->env, NULL), 0);
    log = it_hub_log(fx->env);
    assert_non_null(strstr(log, "the master key does not match this data directory"));
    free(log);
    assert_int_equal(it_hub_start(fx->env, with_new), 0);

    /* The queued requests reach power, the first under the code power
     * had for that resident; the notice reaches town.y. */
    power = serve_power(fx);
    assert_non_null(power);
    for (int i = 0; i < 1500; i++) {
        seen = power_seen(fx);
        if (count_lines(seen) >= 1 + N_PERSONS) {
            free(seen);
            break;
        }
        free(seen);
        usleep(10000);
    }
    seen = power_seen(fx);
    assert_int_equal(count_lines(seen), 1 + N_PERSONS);
    snprintf(line, sizeof line, "utility.supply.stop city.x %s 0\n", fx->power_code0);
    /* the first line is the request before the re-seal, the second the first queued one */
    assert_non_null(strstr(strchr(seen, '\n') + 1, line));
    free(seen);
    town = it_serve_start(fx->env, "town.y", NULL, 1);
    assert_non_null(town);
    assert_int_equal(it_proc_wait(town, 20), 0);
    out = it_proc_out(town);
    assert_non_null(strstr(out, "move.out.notice"));
    assert_non_null(strstr(out, "city.x"));
    free(out);

    /* A new request about a known resident: power sees its old code, the
     * reply comes back under city.x's. */
    st = it_agent(fx->env, "city.x", "{\"request\":\"stop\"}", &r, "send", "--to", "power", "--type",
                  "utility.supply.stop", "--person-file", person_file(fx, 0), NULL);
    if (st != 0)
        fail_msg("send after the re-seal: %s", r.err);
    assert_non_null(strstr(r.out, fx->code_x[0]));
    it_run_clear(&r);
    seen = power_seen(fx);
    assert_int_equal(count_lines(seen), 2 + N_PERSONS);
    {
        char *last = seen + strlen(seen) - 1;
        while (last > seen && last[-1] != '\n')
            last--;
        assert_string_equal(last, line);
    }
    free(seen);
    it_proc_stop(power);

    /* city.x still sees the resident's whole record (every line but the
     * count), and what happened since. */
    st = it_agent(fx->env, "city.x", PERSONS[1], &r, "disclose", NULL);
    if (st != 0)
        fail_msg("disclose after: %s", r.err);
    {
        char *save = NULL, *l;
        for (l = strtok_r(disclosed, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
            if (strstr(l, "entries about this person") == NULL && strstr(r.out, l) == NULL)
                fail_msg("disclosure line lost by the re-seal: %s\nafter:\n%s", l, r.out);
    }
    it_run_clear(&r);

    /* The auditor: consistent with what it verified before. */
    st = audit_verify(fx, &r);
    if (st != 0)
        fail_msg("verify after: %s%s", r.out, r.err);
    assert_non_null(strstr(r.out, "consistent"));
    it_run_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_master_rekey, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
