/*
 * test_it_access - procedures, access rights and keys as data, against the
 * real hub, renkei-ctl, renkei-agent and renkei-audit over CURVE:
 *   - the hub starts with the shipped catalogue, and agents see it;
 *   - a procedure with access = granted reaches an office only from the
 *     senders its grant names; the agent refuses locally, with the rule,
 *     what the hub would refuse; a grant made with renkei-ctl while the hub
 *     runs is in force at once;
 *   - each catalogue change is on the routing log with the digest of the
 *     section's text as `renkei-ctl catalogue export` prints it;
 *   - a connection whose key the operator replaced is handed nothing more
 *     and is answered FORBIDDEN; the new key's connection gets the message;
 *   - once an operator is registered, every change needs an operator's key
 *     and is signed with it on the routing log, which an auditor checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "keys.h"
#include "store.h"
#include "rawclient.h"

#define GRANT_KEY "grant transport vehicle.tax.address"

static int setup(void **state)
{
    it_env_t *env = it_env_new();
    *state = env;
    if (env == NULL)
        return -1;
    if (it_org(env, "city.x", "municipality") != 0 || it_org(env, "town.y", "municipality") != 0 ||
        it_org(env, "transport", "agency") != 0 || it_org(env, "power", "utility") != 0 ||
        it_org(env, "audit", "auditor") != 0 || it_hub_start(env, NULL) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    it_env_t *env = *state;
    it_env_destroy(&env);
    *state = NULL;
    return 0;
}

/* Enrolls a resident at org and writes the number to a file for --person-file. */
static void enroll(it_env_t *env, const char *org, const char *number, char *file, size_t file_len)
{
    it_run_t r;
    assert_int_equal(it_person_file(env, number, file, file_len), 0);
    if (it_agent(env, org, NULL, &r, "enroll", "--person-file", file, NULL) != 0)
        fail_msg("enroll at %s failed: %s", org, r.err);
    it_run_clear(&r);
}

static void test_agents_see_the_catalogue(void **state)
{
    it_env_t *env = *state;
    it_run_t r;
    char *line;

    if (it_agent(env, "city.x", NULL, &r, "procedures", NULL) != 0)
        fail_msg("procedures as city.x: %s", r.err);
    line = strstr(r.out, "utility.supply.stop");
    assert_non_null(line);
    assert_int_equal(strncmp(line + 34, "yes", 3), 0); /* SEND */
    assert_non_null(strstr(r.out, "no recipient grants it to city.x yet"));
    assert_non_null(strstr(r.out, "child.allowance.apply")); /* listed as handled in town */
    it_run_clear(&r);

    if (it_agent(env, "power", NULL, &r, "procedures", NULL) != 0)
        fail_msg("procedures as power: %s", r.err);
    line = strstr(r.out, "utility.supply.stop");
    assert_non_null(line);
    assert_int_equal(strncmp(line + 34, "-   ", 4), 0); /* a utility does not send it */
    assert_int_equal(strncmp(line + 40, "yes", 3), 0);  /* it receives it */
    it_run_clear(&r);
}

static void test_grant_in_force_without_restart(void **state)
{
    it_env_t *env = *state;
    char fx[512], fy[512], grant[512];
    it_run_t r;
    int st;

    enroll(env, "city.x", "TEST-0101-GRANT", fx, sizeof fx);
    enroll(env, "town.y", "TEST-0102-GRANT", fy, sizeof fy);

    /* No office grants it yet: refused by the agent, with the hub's rule,
     * and nothing is kept in the outbox. */
    st = it_agent(env, "city.x", "{}", &r, "send", "--to", "transport", "--type", "vehicle.tax.address",
                  "--person-file", fx, "--no-wait", NULL);
    if (st != 3 || strstr(r.err, "NOT_PERMITTED") == NULL ||
        strstr(r.err, "procedure vehicle.tax.address: access = granted, and transport grants it to nobody") ==
            NULL)
        fail_msg("expected exit 3 NOT_PERMITTED naming the rule, got %d: %s", st, r.err);
    it_run_clear(&r);
    assert_int_equal(it_agent(env, "city.x", NULL, &r, "status", "--all", NULL), 0);
    assert_null(strstr(r.out, "vehicle.tax.address"));
    it_run_clear(&r);

    /* transport grants it to city.x, while the hub runs. */
    snprintf(grant, sizeof grant, "%s/grant.txt", it_dir(env));
    assert_int_equal(it_write_file(grant, "[" GRANT_KEY "]\nsenders = org:city.x\n"), 0);
    if (it_ctl(env, &r, "catalogue", "add", grant, NULL) != 0)
        fail_msg("catalogue add: %s", r.err);
    assert_non_null(strstr(r.out, "1 added"));
    it_run_clear(&r);

    /* city.x's request is accepted by the hub (which checks the grant
     * itself); town.y's is refused naming the grant. */
    st = it_agent(env, "city.x", "{}", &r, "send", "--to", "transport", "--type", "vehicle.tax.address",
                  "--person-file", fx, "--no-wait", NULL);
    if (st != 0)
        fail_msg("city.x's request after the grant: exit %d: %s", st, r.err);
    it_run_clear(&r);
    assert_true(it_hub_log_wait(env, "procedure catalogue loaded", 10000));
    st = it_agent(env, "town.y", "{}", &r, "send", "--to", "transport", "--type", "vehicle.tax.address",
                  "--person-file", fy, "--no-wait", NULL);
    if (st != 3 ||
        strstr(r.err, "grant transport vehicle.tax.address: senders = org:city.x; town.y is not one") == NULL)
        fail_msg("expected town.y refused by the grant, got %d: %s", st, r.err);
    it_run_clear(&r);
}

/* The section of `key` in an exported catalogue, exactly as printed. */
static char *section_of(const char *export, const char *key)
{
    char head[256];
    const char *start, *end;
    char *out;

    snprintf(head, sizeof head, "[%s]\n", key);
    start = strstr(export, head);
    if (start == NULL)
        return NULL;
    end = strstr(start, "\n\n");
    end = end != NULL ? end + 1 : start + strlen(start);
    out = calloc(1, (size_t)(end - start) + 1);
    if (out != NULL)
        memcpy(out, start, (size_t)(end - start));
    return out;
}

static void test_change_on_the_routing_log(void **state)
{
    it_env_t *env = *state;
    char grant[512], hubpub[512], key[512], digest_hex[65], want[256];
    const char *argv[16];
    uint8_t digest[32];
    char *text;
    it_run_t r;
    size_t n = 0;

    snprintf(grant, sizeof grant, "%s/grant2.txt", it_dir(env));
    assert_int_equal(it_write_file(grant, "[" GRANT_KEY "]\nsenders = org:town.y org:city.x\n"), 0);
    if (it_ctl(env, &r, "catalogue", "add", grant, NULL) != 0 && strstr(r.err, "already has") != NULL) {
        it_run_clear(&r);
        assert_int_equal(it_ctl(env, &r, "catalogue", "change", grant, NULL), 0);
    }
    it_run_clear(&r);
    assert_int_equal(it_ctl(env, &r, "catalogue", "export", NULL), 0);
    text = section_of(r.out, GRANT_KEY);
    assert_non_null(text);
    assert_string_equal(text, "[" GRANT_KEY "]\nsenders = org:town.y org:city.x\n");
    crypto_hash_sha256(digest, (const unsigned char *)text, strlen(text));
    sodium_bin2hex(digest_hex, sizeof digest_hex, digest, sizeof digest);
    free(text);
    it_run_clear(&r);

    snprintf(hubpub, sizeof hubpub, "%s", it_path(env, "keys/hub.pub"));
    snprintf(key, sizeof key, "%s/keys/audit.key", it_dir(env));
    argv[n++] = "-H";
    argv[n++] = it_hub_endpoint(env);
    argv[n++] = "-K";
    argv[n++] = hubpub;
    argv[n++] = "-k";
    argv[n++] = key;
    argv[n++] = "export";
    argv[n++] = "--format";
    argv[n++] = "jsonl";
    argv[n] = NULL;
    if (it_run(env, "renkei-audit", argv, NULL, 60, &r) != 0)
        fail_msg("renkei-audit export: %s", r.err);
    /* the hub's first start installed the default catalogue */
    assert_non_null(strstr(r.out, "\"event\":\"catalogue-set\""));
    assert_non_null(strstr(r.out, "\"section\":\"procedure move.out.notice\""));
    snprintf(want, sizeof want, "\"section\":\"%s\",\"digest\":\"%s\"", GRANT_KEY, digest_hex);
    if (strstr(r.out, want) == NULL)
        fail_msg("no catalogue-set entry with %s in the routing log", want);
    it_run_clear(&r);
}

static void test_rekey_closes_the_old_connection(void **state)
{
    it_env_t *env = *state;
    char oldkey[600], newkey[600], newpub[600], newdir[512], hubpub[512], fx[512], org[RK_ID_MAX + 1];
    const char *argv[6];
    rawclient_t *before, *after;
    rk_hub_frame_t hf;
    it_run_t r;

    snprintf(hubpub, sizeof hubpub, "%s", it_path(env, "keys/hub.pub"));
    snprintf(oldkey, sizeof oldkey, "%s/keys/power.key", it_dir(env));
    before = rawclient_new(it_hub_endpoint(env), hubpub, oldkey);
    assert_non_null(before);
    assert_int_equal(rawclient_hello(before, true, org, 5000), 0);

    /* The operator replaces power's key while that connection is open. */
    snprintf(newdir, sizeof newdir, "%s/newkeys", it_dir(env));
    assert_int_equal(mkdir(newdir, 0700), 0);
    argv[0] = "--out-dir";
    argv[1] = newdir;
    argv[2] = "power";
    argv[3] = NULL;
    assert_int_equal(it_run(env, "renkei-keygen", argv, NULL, 30, &r), 0);
    it_run_clear(&r);
    snprintf(newpub, sizeof newpub, "%s/power.pub", newdir);
    snprintf(newkey, sizeof newkey, "%s/power.key", newdir);
    if (it_ctl(env, &r, "rekey", "power", "--pub", newpub, NULL) != 0)
        fail_msg("rekey: %s", r.err);
    it_run_clear(&r);

    /* A request for power, while only the old connection is there. */
    enroll(env, "city.x", "TEST-0103-REKEY", fx, sizeof fx);
    if (it_agent(env, "city.x", "{}", &r, "send", "--to", "power", "--type", "utility.supply.stop",
                 "--person-file", fx, "--no-wait", NULL) != 0)
        fail_msg("send to power: %s", r.err);
    it_run_clear(&r);

    /* The new key's connection gets it... */
    after = rawclient_new(it_hub_endpoint(env), hubpub, newkey);
    assert_non_null(after);
    assert_int_equal(rawclient_hello(after, true, org, 5000), 0);
    assert_int_equal(rawclient_recv_kind(after, RK_HF_DELIVER, &hf, 10000), 0);
    rk_hub_frame_clear(&hf);

    /* ...the old one got nothing: the hub closed it, and refuses its key
     * when ZeroMQ reconnects; nothing ever reaches it. */
    assert_true(it_hub_log_wait(env, "closed a connection of power: its key was replaced", 10000));
    assert_true(it_hub_log_wait(env, "refused a connection from 127.0.0.1: key not registered", 10000));
    assert_int_not_equal(rawclient_recv(before, &hf, 1000), 0);
    rawclient_destroy(&before);
    rawclient_destroy(&after);
}

/* Every routing-log entry signed by `op`, checked under pub; returns how
 * many there are (fails on one that does not verify). */
static size_t entries_signed_by(it_env_t *env, const char *op, const uint8_t pub[RK_KEY_LEN])
{
    char hubpub[512], key[512];
    rawclient_t *rc;
    rk_client_frame_t f;
    rk_hub_frame_t h;
    size_t n = 0;

    snprintf(hubpub, sizeof hubpub, "%s", it_path(env, "keys/hub.pub"));
    snprintf(key, sizeof key, "%s/keys/audit.key", it_dir(env));
    rc = rawclient_new(it_hub_endpoint(env), hubpub, key);
    assert_non_null(rc);
    memset(&f, 0, sizeof f);
    f.kind = RK_CF_LOG_READ;
    f.u.log_read.req_id = 1;
    f.u.log_read.count = RK_LOG_READ_MAX;
    assert_int_equal(rawclient_send_frame(rc, &f), 0);
    assert_int_equal(rawclient_recv_kind(rc, RK_HF_LOG, &h, 10000), 0);
    assert_int_equal(h.u.log.status, RK_ST_ACCEPTED);
    for (size_t i = 0; i < h.u.log.n; i++) {
        rk_log_entry_t e;
        assert_int_equal(rk_log_entry_decode(h.u.log.entry[i], h.u.log.entry_len[i], &e, NULL, 0),
                         RK_WIRE_OK);
        if (strcmp(e.operator_name, op) != 0)
            continue;
        if (rk_log_entry_verify_operator(h.u.log.entry[i], h.u.log.entry_len[i], pub) != RK_WIRE_OK)
            fail_msg("entry %llu names %s but its signature does not verify under %s's key",
                     (unsigned long long)h.u.log.index[i], op, op);
        n++;
    }
    rk_hub_frame_clear(&h);
    rawclient_destroy(&rc);
    return n;
}

static void test_operators_sign_their_changes(void **state)
{
    it_env_t *env = *state;
    char pubpath[512], keypath[512], otherkey[512], hubpub[512], audkey[512], statef[512];
    const char *argv[12];
    rk_pubkey_t pub;
    it_run_t r;
    int st;

    assert_int_equal(it_keygen(env, "op.sato"), 0);
    assert_int_equal(it_keygen(env, "op.kato"), 0);
    snprintf(pubpath, sizeof pubpath, "%s/keys/op.sato.pub", it_dir(env));
    snprintf(keypath, sizeof keypath, "%s/keys/op.sato.key", it_dir(env));
    snprintf(otherkey, sizeof otherkey, "%s/keys/op.kato.key", it_dir(env));
    assert_int_equal(rk_pubkey_load(pubpath, &pub, NULL, 0), RK_KEYS_OK);

    /* The first operator signs its own registration, with its own key only. */
    assert_int_equal(it_ctl(env, &r, "operator", "add", "op.sato", "--pub", pubpath, "--operator-key",
                            otherkey, NULL),
                     1);
    it_run_clear(&r);
    if (it_ctl(env, &r, "operator", "add", "op.sato", "--pub", pubpath, "--operator-key", keypath, NULL) != 0)
        fail_msg("operator add: %s", r.err);
    it_run_clear(&r);

    /* From now on a change without an operator's key, or with a key that
     * is not an operator's, changes nothing. */
    st = it_ctl(env, &r, "suspend", "town.y", NULL);
    if (st != 1 || strstr(r.err, "changes need the key of a registered operator") == NULL)
        fail_msg("expected a change without --operator-key refused, got %d: %s", st, r.err);
    it_run_clear(&r);
    st = it_ctl(env, &r, "suspend", "town.y", "--operator-key", otherkey, NULL);
    if (st != 1 || strstr(r.err, "op.kato is not a registered operator") == NULL)
        fail_msg("expected a stranger's key refused, got %d: %s", st, r.err);
    it_run_clear(&r);
    assert_int_equal(it_ctl(env, &r, "show", "town.y", NULL), 0);
    assert_non_null(strstr(r.out, "active"));
    it_run_clear(&r);

    /* With op.sato's key: done, and on the log under its signature. */
    assert_int_equal(it_ctl(env, &r, "suspend", "town.y", "--operator-key", keypath, NULL), 0);
    it_run_clear(&r);
    assert_int_equal(it_ctl(env, &r, "reactivate", "town.y", "--operator-key", keypath, NULL), 0);
    it_run_clear(&r);
    assert_int_equal(it_ctl(env, &r, "catalogue", "remove", GRANT_KEY, "--operator-key", keypath, NULL), 0);
    it_run_clear(&r);
    /* operator-added, suspended, reactivated, catalogue-removed */
    assert_int_equal(entries_signed_by(env, "op.sato", pub.sign_pk), 4);

    /* The auditor's own check of the whole log accepts it. */
    snprintf(hubpub, sizeof hubpub, "%s", it_path(env, "keys/hub.pub"));
    snprintf(audkey, sizeof audkey, "%s/keys/audit.key", it_dir(env));
    argv[0] = "-H";
    argv[1] = it_hub_endpoint(env);
    argv[2] = "-K";
    argv[3] = hubpub;
    argv[4] = "-k";
    argv[5] = audkey;
    snprintf(statef, sizeof statef, "%s/audit.state", it_dir(env));
    argv[6] = "verify";
    argv[7] = "--state";
    argv[8] = statef;
    argv[9] = NULL;
    if (it_run(env, "renkei-audit", argv, NULL, 60, &r) != 0)
        fail_msg("renkei-audit verify: %s%s", r.out, r.err);
    it_run_clear(&r);

    /* Someone with access to the hub's files suspends town.y behind
     * renkei-ctl's back: the change has no operator, and the auditor,
     * whose last verified checkpoint this extends consistently, says so. */
    {
        store_t *hubstore = NULL;
        store_txn_t *t = NULL;
        org_t o;
        char why[256] = "";
        assert_int_equal(store_open(it_hub_data(env), NULL, 0, &hubstore, why, sizeof why), STORE_OK);
        assert_int_equal(store_begin(hubstore, true, &t), STORE_OK);
        assert_int_equal(store_org_get(t, "town.y", &o), STORE_OK);
        o.status = ORG_SUSPENDED;
        assert_int_equal(store_org_update(t, &o), STORE_OK);
        assert_int_equal(store_log_org_event(t, RK_EV_ORG_SUSPENDED, &o, o.updated_ms), STORE_OK);
        assert_int_equal(store_commit(&t), STORE_OK);
        store_close(&hubstore);
    }
    if (it_run(env, "renkei-audit", argv, NULL, 60, &r) != 1 || strstr(r.out, "NOT CONSISTENT") == NULL ||
        strstr(r.out, "changes organization town.y without an operator") == NULL)
        fail_msg("expected verify to report the unattributed change, got %d: %s%s", r.status, r.out, r.err);
    it_run_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agents_see_the_catalogue),
        cmocka_unit_test(test_grant_in_force_without_restart),
        cmocka_unit_test(test_change_on_the_routing_log),
        cmocka_unit_test(test_rekey_closes_the_old_connection),
        cmocka_unit_test(test_operators_sign_their_changes), /* last: changes need a key after it */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
