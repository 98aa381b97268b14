/*
 * test_it_backup.c - renkei-ctl backup while the hub runs, and a restore,
 * with the real renkei-hub, renkei-ctl, renkei-agent and renkei-audit over
 * CURVE: the copy is consistent (what was queued when it was taken is
 * delivered after the restore), a hub started on it records the restore on
 * the routing log, the sender of a message the hub accepted after the
 * backup is told on reconnect and sends it again, and an auditor that saw
 * entries after the backup is told the log was rolled back, never silently
 * served a shorter history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#define TYPE "utility.supply.stop"

static int setup(void **state)
{
    it_env_t *env = it_env_new();
    if (env == NULL || it_org(env, "city.x", "municipality") != 0 || it_org(env, "power", "utility") != 0 ||
        it_org(env, "audit", "auditor") != 0 || it_hub_start(env, NULL) != 0) {
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

static void send_to_power(it_env_t *env, const char *fx, const char *payload)
{
    it_run_t r;
    if (it_agent(env, "city.x", payload, &r, "send", "--to", "power", "--type", TYPE, "--person-file", fx,
                 "--no-wait", NULL) != 0)
        fail_msg("send: %s", r.err);
    it_run_clear(&r);
}

/* renkei-audit verify with the auditor's state file; returns its status. */
static int audit_verify(it_env_t *env, it_run_t *r)
{
    char hubpub[600], key[600], statef[600];
    const char *argv[10];

    snprintf(hubpub, sizeof hubpub, "%s/keys/hub.pub", it_dir(env));
    snprintf(key, sizeof key, "%s/keys/audit.key", it_dir(env));
    snprintf(statef, sizeof statef, "%s/audit.state", it_dir(env));
    argv[0] = "-H";
    argv[1] = it_hub_endpoint(env);
    argv[2] = "-K";
    argv[3] = hubpub;
    argv[4] = "-k";
    argv[5] = key;
    argv[6] = "verify";
    argv[7] = "--state";
    argv[8] = statef;
    argv[9] = NULL;
    return it_run(env, "renkei-audit", argv, NULL, 60, r);
}

static void test_backup_and_restore(void **state)
{
    it_env_t *env = *state;
    char fx[600], backup[600], moved[600], cmd[2000];
    it_proc_t *serve;
    it_run_t r;
    char *out;

    assert_int_equal(it_person_file(env, "TEST-0106-BACKUP", fx, sizeof fx), 0);
    if (it_agent(env, "city.x", NULL, &r, "enroll", "--person-file", fx, NULL) != 0)
        fail_msg("enroll: %s", r.err);
    it_run_clear(&r);
    send_to_power(env, fx, "{\"before\":1}");

    /* the copy, while the hub runs */
    snprintf(backup, sizeof backup, "%s/backup-1", it_dir(env));
    if (it_ctl(env, &r, "backup", backup, NULL) != 0)
        fail_msg("backup: %s", r.err);
    assert_non_null(strstr(r.out, "routing-log entries"));
    it_run_clear(&r);
    /* never over an existing store */
    assert_int_not_equal(it_ctl(env, &r, "backup", backup, NULL), 0);
    assert_non_null(strstr(r.err, "already holds a store"));
    it_run_clear(&r);

    /* accepted after the backup; an auditor sees it */
    send_to_power(env, fx, "{\"after\":1}");
    if (audit_verify(env, &r) != 0)
        fail_msg("verify before the restore: %s%s", r.out, r.err);
    it_run_clear(&r);

    /* restore: the hub stopped, the copy put in place of its data */
    assert_int_equal(it_hub_stop(env), 0);
    snprintf(moved, sizeof moved, "%s.broken", it_hub_data(env));
    assert_int_equal(rename(it_hub_data(env), moved), 0);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", backup, it_hub_data(env));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(it_hub_restart(env, NULL), 0);
    assert_true(it_hub_log_wait(env, "this store was restored from a backup", 10000));

    /* the sender is told on reconnect: what the hub accepted after the
     * backup goes again */
    if (it_agent(env, "city.x", NULL, &r, "flush", NULL) != 0)
        fail_msg("flush after the restore: %s%s", r.out, r.err);
    assert_non_null(strstr(r.err,
                           "the hub was restored from a backup: 1 message it had accepted after the backup "
                           "is sent again"));
    it_run_clear(&r);
    /* told once: a second connection sends nothing again */
    if (it_agent(env, "city.x", NULL, &r, "flush", NULL) != 0)
        fail_msg("second flush: %s%s", r.out, r.err);
    assert_null(strstr(r.err, "restored from a backup"));
    it_run_clear(&r);

    /* what was queued at the backup arrives, and what was lost with it */
    assert_non_null(serve = it_serve_start(env, "power", NULL, 2));
    assert_int_equal(it_proc_wait(serve, 30), 0);
    out = it_proc_out(serve);
    assert_non_null(strstr(out, "{\"before\":1}"));
    assert_non_null(strstr(out, "{\"after\":1}"));
    free(out);

    /* the auditor that saw the later entries is told, not served a shorter
     * history as if nothing happened */
    assert_int_not_equal(audit_verify(env, &r), 0);
    if (strstr(r.out, "restored from a backup taken at") == NULL &&
        strstr(r.err, "restored from a backup taken at") == NULL)
        fail_msg("verify after the restore does not say the hub was restored: %s%s", r.out, r.err);
    it_run_clear(&r);

    /* and the log itself says where and when */
    {
        char hubpub[600], key[600];
        const char *argv[] = {"-H",     it_hub_endpoint(env), "-K",    hubpub, "-k", key,
                              "export", "--format",           "jsonl", NULL};
        snprintf(hubpub, sizeof hubpub, "%s/keys/hub.pub", it_dir(env));
        snprintf(key, sizeof key, "%s/keys/audit.key", it_dir(env));
        if (it_run(env, "renkei-audit", argv, NULL, 60, &r) != 0)
            fail_msg("renkei-audit export: %s", r.err);
        assert_non_null(strstr(r.out, "\"event\":\"restored\""));
        it_run_clear(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_and_restore, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
