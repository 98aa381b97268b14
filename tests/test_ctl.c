/*
 * test_ctl.c - renkei-ctl as the operator runs it: the built binaries
 * (renkei-keygen, renkei-ctl) on a real data directory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "keys.h"
#include "store.h"

extern char **environ;

typedef struct fixture {
    char dir[256];  /* scratch directory */
    char data[300]; /* the hub's data directory inside it */
    char bin[512];
    char out[8192];
    char err[8192];
} fixture_t;

static void rm_tree(const char *path)
{
    char sub[1024];
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rm_tree(sub);
    }
    if (d != NULL)
        closedir(d);
    rmdir(path);
}

static void read_all(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "r");
    size_t n = 0;

    if (fp != NULL) {
        n = fread(buf, 1, cap - 1, fp);
        fclose(fp);
    }
    buf[n] = '\0';
}

/* Runs bin/PROG with the NULL-terminated arguments; returns its exit status
 * and leaves its stdout and stderr in f->out and f->err. */
static int run(fixture_t *f, const char *prog, ...)
{
    char *argv[32], path[700], out[400], err[400];
    posix_spawn_file_actions_t fa;
    va_list ap;
    pid_t pid;
    int n = 0, status;

    snprintf(path, sizeof path, "%s/%s", f->bin, prog);
    argv[n++] = path;
    va_start(ap, prog);
    while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    snprintf(out, sizeof out, "%s/stdout", f->dir);
    snprintf(err, sizeof err, "%s/stderr", f->dir);
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(posix_spawn(&pid, path, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    read_all(out, f->out, sizeof f->out);
    read_all(err, f->err, sizeof f->err);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        print_error("expected to find \"%s\" in:\n%s\n", needle, hay);
        fail();
    }
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR"), *bin = getenv("RENKEI_BIN_DIR");

    if (f == NULL)
        return -1;
    snprintf(f->bin, sizeof f->bin, "%s", bin != NULL && *bin ? bin : "bin");
    snprintf(f->dir, sizeof f->dir, "%s/rk-ctl-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->data, sizeof f->data, "%s/hub", f->dir);
    unsetenv("RENKEI_HUB_DATA");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    rm_tree(f->dir);
    free(f);
    return 0;
}

/* Makes DIR/SUB/NAME.{key,pub}; returns the .pub path in pub. */
static void keygen(fixture_t *f, const char *sub, const char *name, char *pub, size_t pub_len)
{
    char dir[400];

    snprintf(dir, sizeof dir, "%s/%s", f->dir, sub);
    mkdir(dir, 0700);
    assert_int_equal(run(f, "renkei-keygen", "-o", dir, name, NULL), 0);
    snprintf(pub, pub_len, "%s/%s.pub", dir, name);
}

/* The first 16 characters of the Z85 'curve:' line of a .pub file. */
static void pub_fingerprint(const char *pub, char out[17])
{
    char text[1024], *p;

    read_all(pub, text, sizeof text);
    p = strstr(text, "curve:");
    assert_non_null(p);
    p += 6;
    while (*p == ' ')
        p++;
    memcpy(out, p, 16);
    out[16] = '\0';
}

/* The line of `list` output that starts with org id, copied into line. */
static void list_line(fixture_t *f, const char *org, char *line, size_t len)
{
    char *p = f->out, *end;
    size_t n = strlen(org);

    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "list", NULL), 0);
    for (; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, org, n) == 0 && p[n] == ' ') {
            end = strchr(p, '\n');
            snprintf(line, len, "%.*s", end ? (int)(end - p) : (int)strlen(p), p);
            return;
        }
    }
    print_error("%s not listed in:\n%s\n", org, f->out);
    fail();
}

typedef struct log_want {
    rk_log_event event;
    const char *org;
    const char *kind;
} log_want_t;

/* Asserts that the routing log in the data directory holds exactly the n
 * org events of want, in order, with no message fields set. */
static void assert_log(fixture_t *f, const log_want_t *want, size_t n)
{
    char why[256] = "";
    store_t *s = NULL;
    store_txn_t *t = NULL;
    uint64_t size = 0;
    rk_log_entry_t e;
    uint8_t *buf;
    size_t i, len;

    assert_int_equal(store_open(f->data, NULL, 0, &s, why, sizeof why), STORE_OK);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_log_size(t, &size), STORE_OK);
    assert_int_equal(size, n);
    for (i = 0; i < n; i++) {
        assert_int_equal(store_log_get(t, i, &buf, &len), STORE_OK);
        assert_int_equal(rk_log_entry_decode(buf, len, &e, why, sizeof why), RK_WIRE_OK);
        free(buf);
        assert_int_equal(e.event, want[i].event);
        assert_string_equal(e.from, want[i].org);
        assert_string_equal(e.kind, want[i].kind);
        assert_string_equal(e.to, "");
        assert_false(e.has_msg_id);
        assert_true(e.time_ms > 1600000000000ull); /* a wall-clock time, in ms */
    }
    assert_int_equal(store_log_get(t, n, &buf, &len), STORE_ENOTFOUND);
    store_abort(&t);
    store_close(&s);
}

static void test_register_and_list(void **state)
{
    fixture_t *f = *state;
    char city[512], gas[512], fp_city[17], fp_gas[17], line[256];

    keygen(f, "keys", "city.x", city, sizeof city);
    keygen(f, "keys", "gas.z", gas, sizeof gas);
    pub_fingerprint(city, fp_city);
    pub_fingerprint(gas, fp_gas);

    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "city.x", "--kind", "municipality",
                         "--pub", city, NULL), 0);
    assert_contains(f->out, "registered city.x (municipality)");
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "gas.z", "--kind=utility", "--pub",
                         gas, NULL), 0);

    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "list", NULL), 0);
    assert_true(strncmp(f->out, "ID ", 3) == 0);
    assert_contains(f->out, "KIND");
    assert_contains(f->out, "CREATED");
    /* id order, and the table's columns line up */
    assert_true(strstr(f->out, "city.x") < strstr(f->out, "gas.z"));
    list_line(f, "city.x", line, sizeof line);
    assert_contains(line, "municipality");
    assert_contains(line, "active");
    assert_contains(line, fp_city);
    assert_true(strlen(line) > 20 && line[strlen(line) - 1] == 'Z' && line[strlen(line) - 10] == 'T');
    {
        char other[256];
        list_line(f, "gas.z", other, sizeof other);
        assert_contains(other, "utility");
        assert_contains(other, fp_gas);
        assert_true(strstr(line, "active") - line == strstr(other, "active") - other);
        assert_int_equal(strlen(line), strlen(other));
    }

    /* show prints the full keys */
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "show", "gas.z", NULL), 0);
    assert_contains(f->out, "kind:    utility");
    assert_contains(f->out, "status:  active");
    assert_contains(f->out, fp_gas);

    /* the data directory is the hub's and stays private */
    {
        struct stat st;
        assert_int_equal(stat(f->data, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
    }

    /* RENKEI_HUB_DATA stands in for -d */
    setenv("RENKEI_HUB_DATA", f->data, 1);
    assert_int_equal(run(f, "renkei-ctl", "show", "city.x", NULL), 0);
    assert_contains(f->out, "id:      city.x");
    unsetenv("RENKEI_HUB_DATA");

    /* each registration is on the routing log; list and show add nothing */
    {
        static const log_want_t want[] = {{RK_EV_ORG_REGISTERED, "city.x", "municipality"},
                                          {RK_EV_ORG_REGISTERED, "gas.z", "utility"}};
        assert_log(f, want, 2);
    }
}

static void test_register_refusals(void **state)
{
    fixture_t *f = *state;
    char city[512], gas[512], forged[512], text[1024];
    FILE *fp;
    char *p;

    keygen(f, "keys", "city.x", city, sizeof city);
    keygen(f, "keys", "gas.z", gas, sizeof gas);
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "city.x", "--kind", "municipality",
                         "--pub", city, NULL), 0);

    /* the same id again */
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "city.x", "--kind", "municipality",
                         "--pub", city, NULL), 1);
    assert_contains(f->err, "organization 'city.x' is already registered");
    assert_contains(f->err, "renkei-ctl rekey city.x");

    /* a .pub made for another org */
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "gas.z", "--kind", "utility", "--pub",
                         city, NULL), 1);
    assert_contains(f->err, "is the public key of 'city.x', not of 'gas.z'");

    /* city.x's key under another name (the .pub's name line edited) */
    read_all(city, text, sizeof text);
    p = strstr(text, "name: city.x");
    assert_non_null(p);
    memcpy(p, "name: town.y", 12);
    snprintf(forged, sizeof forged, "%s/town.y.pub", f->dir);
    fp = fopen(forged, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "town.y", "--kind", "municipality",
                         "--pub", forged, NULL), 1);
    assert_contains(f->err, "is already registered to 'city.x'");

    /* none of the refusals registered anything */
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "list", NULL), 0);
    assert_null(strstr(f->out, "gas.z"));
    assert_null(strstr(f->out, "town.y"));

    /* bad kind, bad id, missing options: usage errors */
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "gas.z", "--kind", "gas", "--pub", gas,
                         NULL), 2);
    assert_contains(f->err, "unknown kind 'gas'");
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "Gas.Z", "--kind", "utility", "--pub",
                         gas, NULL), 2);
    assert_contains(f->err, "not a valid organization id");
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "gas.z", "--pub", gas, NULL), 2);
    assert_contains(f->err, "--kind");
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "gas.z", "--kind", "utility", NULL), 2);
    assert_contains(f->err, "--pub");
    /* an unreadable .pub */
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "gas.z", "--kind", "utility", "--pub",
                         "/nonexistent/gas.z.pub", NULL), 1);
    assert_contains(f->err, "/nonexistent/gas.z.pub");

    /* the refusals left nothing on the routing log */
    {
        static const log_want_t want[] = {{RK_EV_ORG_REGISTERED, "city.x", "municipality"}};
        assert_log(f, want, 1);
    }
}

static void test_suspend_reactivate_rekey(void **state)
{
    fixture_t *f = *state;
    char gas[512], gas2[512], fp_new[17], line[256], why[256];
    store_t *s = NULL;
    store_txn_t *t = NULL;
    rk_pubkey_t old_pub, new_pub;
    org_t org;

    keygen(f, "keys", "gas.z", gas, sizeof gas);
    keygen(f, "keys2", "gas.z", gas2, sizeof gas2);
    pub_fingerprint(gas2, fp_new);
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "gas.z", "--kind", "utility", "--pub",
                         gas, NULL), 0);

    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "suspend", "gas.z", NULL), 0);
    assert_contains(f->out, "suspended gas.z");
    list_line(f, "gas.z", line, sizeof line);
    assert_contains(line, "suspended");
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "suspend", "gas.z", NULL), 0);
    assert_contains(f->err, "'gas.z' is already suspended; nothing changed");

    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "reactivate", "gas.z", NULL), 0);
    list_line(f, "gas.z", line, sizeof line);
    assert_contains(line, "active");
    assert_null(strstr(line, "suspended"));
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "reactivate", "gas.z", NULL), 0);
    assert_contains(f->err, "already active");

    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "suspend", "gas.q", NULL), 1);
    assert_contains(f->err, "no organization 'gas.q' is registered; see 'renkei-ctl list'");
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "show", "gas.q", NULL), 1);
    assert_contains(f->err, "no organization 'gas.q' is registered");

    /* rekey: the new key is the org's, the old one finds nobody */
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "rekey", "gas.z", "--pub", gas, NULL), 0);
    assert_contains(f->err, "nothing changed");
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "rekey", "gas.z", "--pub", gas2, NULL), 0);
    list_line(f, "gas.z", line, sizeof line);
    assert_contains(line, fp_new);

    assert_int_equal(rk_pubkey_load(gas, &old_pub, why, sizeof why), RK_KEYS_OK);
    assert_int_equal(rk_pubkey_load(gas2, &new_pub, why, sizeof why), RK_KEYS_OK);
    assert_int_equal(store_open(f->data, NULL, 0, &s, why, sizeof why), STORE_OK);
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_org_by_curve(t, new_pub.curve_pk, &org), STORE_OK);
    assert_string_equal(org.id, "gas.z");
    assert_memory_equal(org.sign_pk, new_pub.sign_pk, RK_KEY_LEN);
    assert_true(org.updated_ms >= org.created_ms);
    assert_int_equal(store_org_by_curve(t, old_pub.curve_pk, &org), STORE_ENOTFOUND);
    store_abort(&t);
    store_close(&s);

    /* one log entry per change, none for the commands that changed nothing
     * or failed */
    {
        static const log_want_t want[] = {{RK_EV_ORG_REGISTERED, "gas.z", "utility"},
                                          {RK_EV_ORG_SUSPENDED, "gas.z", "utility"},
                                          {RK_EV_ORG_REACTIVATED, "gas.z", "utility"},
                                          {RK_EV_ORG_KEY_CHANGED, "gas.z", "utility"}};
        assert_log(f, want, 4);
    }
}

/* A running hub holds the store open; it sees renkei-ctl's changes at its
 * next transaction, without reopening. */
static void test_changes_reach_open_store(void **state)
{
    fixture_t *f = *state;
    static const uint8_t master[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                       7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
    char gas[512], why[256] = "";
    store_t *s = NULL;
    store_txn_t *old = NULL, *t = NULL;
    org_t org;

    keygen(f, "keys", "gas.z", gas, sizeof gas);
    assert_int_equal(store_open(f->data, master, 0, &s, why, sizeof why), STORE_OK);

    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "register", "gas.z", "--kind", "utility", "--pub",
                         gas, NULL), 0);
    assert_int_equal(store_begin(s, false, &old), STORE_OK);
    assert_int_equal(store_org_get(old, "gas.z", &org), STORE_OK);
    assert_int_equal(org.status, ORG_ACTIVE);

    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "suspend", "gas.z", NULL), 0);
    /* a transaction begun before the change keeps its snapshot ... */
    assert_int_equal(store_org_get(old, "gas.z", &org), STORE_OK);
    assert_int_equal(org.status, ORG_ACTIVE);
    store_abort(&old);
    /* ... the next one sees it */
    assert_int_equal(store_begin(s, false, &t), STORE_OK);
    assert_int_equal(store_org_get(t, "gas.z", &org), STORE_OK);
    assert_int_equal(org.status, ORG_SUSPENDED);
    store_abort(&t);
    store_close(&s);

    /* and the master key the hub set is still accepted after the tool's writes */
    assert_int_equal(store_open(f->data, master, 0, &s, why, sizeof why), STORE_OK);
    store_close(&s);
}

static void test_usage_and_paths(void **state)
{
    fixture_t *f = *state;
    char missing[400];

    assert_int_equal(run(f, "renkei-ctl", "--help", NULL), 0);
    assert_contains(f->out, "usage: renkei-ctl");
    assert_contains(f->out, "register ORG --kind KIND --pub FILE.pub");
    assert_int_equal(run(f, "renkei-ctl", NULL), 2);
    assert_contains(f->err, "no command");
    assert_int_equal(run(f, "renkei-ctl", "list", NULL), 2);
    assert_contains(f->err, "give -d DIR");
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "frobnicate", NULL), 2);
    assert_contains(f->err, "unknown command 'frobnicate'");
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "show", NULL), 2);
    assert_int_equal(run(f, "renkei-ctl", "-d", f->data, "list", "extra", NULL), 2);

    /* a mistyped data directory is not silently created */
    snprintf(missing, sizeof missing, "%s/no-such-dir", f->dir);
    assert_int_equal(run(f, "renkei-ctl", "-d", missing, "list", NULL), 1);
    assert_contains(f->err, "no-such-dir");
    assert_int_equal(access(missing, F_OK), -1);
    /* nor is an unrelated directory turned into a data directory */
    assert_int_equal(run(f, "renkei-ctl", "-d", f->dir, "list", NULL), 1);
    assert_contains(f->err, "holds no hub data");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspend_reactivate_rekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_reach_open_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_and_paths, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
