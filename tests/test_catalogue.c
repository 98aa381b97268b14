/*
 * test_catalogue.c - the procedure catalogue: its text format, its
 * consistency rules, and its changes in a real store, each on the routing
 * log with the digest of the section's canonical text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "catalogue_store.h"
#include "store.h"
#include "wire.h"

#define T0 1700000000000ull

static const char one_proc[] = "# a comment\n"
                               "  ; another\n"
                               "[procedure school.transfer.notice]\n"
                               "  title = School transfer #2 kept\n"
                               "senders = municipality org:agency.x group:pref.a\n"
                               "recipients = municipality\n"
                               "introduces = yes\n"
                               "replied = yes\n"
                               "ttl = 48h\n";

static const char one_proc_canonical[] = "[procedure school.transfer.notice]\n"
                                         "title = School transfer #2 kept\n"
                                         "route = hub\n"
                                         "senders = municipality org:agency.x group:pref.a\n"
                                         "recipients = municipality\n"
                                         "introduces = yes\n"
                                         "replied = yes\n"
                                         "follows = \n"
                                         "moves = no\n"
                                         "access = open\n"
                                         "ttl = 2d\n";

static void test_parse_and_print(void **state)
{
    cat_section_t s, again;
    char why[300] = "", *text, *text2;
    (void)state;

    assert_true(cat_parse_one(one_proc, strlen(one_proc), &s, why, sizeof why));
    assert_int_equal(s.kind, CAT_PROCEDURE);
    assert_string_equal(s.u.proc.title, "School transfer #2 kept");
    assert_int_equal(s.u.proc.ttl_ms, 48ull * 3600 * 1000);
    assert_int_equal(s.u.proc.senders.n, 3);
    text = cat_section_print(&s);
    assert_non_null(text);
    assert_string_equal(text, one_proc_canonical);
    /* the canonical text reads back to the same section */
    assert_true(cat_parse_one(text, strlen(text), &again, why, sizeof why));
    text2 = cat_section_print(&again);
    assert_string_equal(text, text2);
    free(text);
    free(text2);
    cat_section_clear(&s);
    cat_section_clear(&again);
}

static void test_group_members_sorted(void **state)
{
    const char *g = "[group pref.a]\ntitle = Towns of A\nmembers = town.c city.a town.b\n";
    cat_section_t s;
    char why[300] = "", *text;
    (void)state;

    assert_true(cat_parse_one(g, strlen(g), &s, why, sizeof why));
    text = cat_section_print(&s);
    assert_string_equal(text, "[group pref.a]\ntitle = Towns of A\nmembers = city.a town.b town.c\n");
    free(text);
    cat_section_clear(&s);
}

/* Each mistake is refused with the line and what is wrong. */
static void test_errors_name_the_line(void **state)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"[procedure a]\ntitle = A\nsenders = municipality\nrecipients = utility\nintroduces = maybe\n",
         "line 5: introduces must be yes or no, not \"maybe\""},
        {"[procedure a]\ntitle = A\nsenders = mayor\nrecipients = utility\n",
         "line 3: senders: \"mayor\" is neither an organization kind (municipality, utility, agency, "
         "auditor) nor "
         "org:ID nor group:NAME"},
        {"[procedure a]\ntitle = A\ncolour = red\n", "line 3: a procedure section has no key \"colour\""},
        {"[procedure a]\ntitle = A\ntitle = B\n", "line 3: \"title\" is given twice in this section"},
        {"[procedure a]\nsenders = municipality\nrecipients = utility\n", "line 1: procedure a has no title"},
        {"[procedure a]\ntitle = A\nrecipients = utility\n",
         "line 1: procedure a is routed by the hub but names no senders"},
        {"[procedure a]\ntitle = A\nsenders = municipality\nrecipients = utility\nttl = 3 weeks\n",
         "line 5: ttl must be a whole number with a unit (s, m, h or d), not \"3 weeks\""},
        {"title = A\n", "line 1: \"title = A\" before any [section]"},
        {"[procedure Bad Name]\n",
         "line 1: a section is [procedure NAME], [group NAME] or [grant ORG PROCEDURE]"},
        {"[group g]\ntitle = G\nmembers = a.b a.b\n", "line 3: members lists a.b twice"},
        {"[procedure a]\ntitle = A\nroute = local\nreplied = yes\n",
         "line 1: procedure a is local (never routed): introduces, replied, follows, moves and access do not "
         "apply"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cat_section_t s;
        char why[300] = "";
        assert_false(cat_parse_one(bad[i].text, strlen(bad[i].text), &s, why, sizeof why));
        assert_string_equal(why, bad[i].why);
    }
}

/* What no single section can check. */
static void test_consistency(void **state)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"[procedure a]\ntitle = A\nsenders = municipality\nrecipients = utility\n",
         "procedure a neither introduces a person nor follows another procedure: it could never be sent (a "
         "request that may not introduce would tell its sender whether the recipient knows the person)"},
        {"[procedure a]\ntitle = A\nsenders = municipality\nrecipients = utility\nfollows = b\n",
         "procedure a follows b, which is not in the catalogue"},
        {"[procedure a]\ntitle = A\nsenders = group:g\nrecipients = utility\nintroduces = yes\n",
         "procedure a names group:g, which the catalogue does not define"},
        {"[procedure a]\ntitle = A\nsenders = municipality\nrecipients = utility\nintroduces = yes\n"
         "[grant power a]\nsenders = municipality\n",
         "grant power a: procedure a has access = open, so a grant would change nothing"},
    };
    char why[400] = "";
    catalogue_t *cat;
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(catalogue_from_text(bad[i].text, strlen(bad[i].text), why, sizeof why));
        assert_string_equal(why, bad[i].why);
    }
    /* the shipped catalogue is consistent, and routes what the move needs */
    cat = catalogue_from_text(catalogue_default_text, catalogue_default_len, why, sizeof why);
    assert_non_null(cat);
    assert_non_null(catalogue_procedure(cat, "move.out.notice"));
    assert_non_null(catalogue_procedure(cat, "utility.supply.start"));
    assert_non_null(catalogue_procedure(cat, "vehicle.registration.address"));
    assert_true(catalogue_procedure(cat, "child.allowance.apply")->local);
    catalogue_free(&cat);
}

static void test_matching(void **state)
{
    const char *text = "[group pref.a]\ntitle = A\nmembers = city.a town.b\n"
                       "[procedure p]\ntitle = P\nsenders = group:pref.a org:city.z\nrecipients = agency\n"
                       "introduces = yes\naccess = granted\n"
                       "[grant office.a p]\nsenders = group:pref.a\n";
    char why[300] = "";
    catalogue_t *cat = catalogue_from_text(text, strlen(text), why, sizeof why);
    const cat_procedure_t *p;
    (void)state;

    assert_non_null(cat);
    p = catalogue_procedure(cat, "p");
    assert_true(catalogue_matches(cat, &p->senders, "town.b", ORG_MUNICIPALITY));
    assert_true(catalogue_matches(cat, &p->senders, "city.z", ORG_MUNICIPALITY));
    assert_false(catalogue_matches(cat, &p->senders, "city.c", ORG_MUNICIPALITY));
    assert_true(catalogue_matches(cat, &p->recipients, "office.a", ORG_AGENCY));
    assert_false(catalogue_matches(cat, &p->recipients, "office.a", ORG_UTILITY));
    assert_non_null(catalogue_grant(cat, "office.a", "p"));
    assert_null(catalogue_grant(cat, "office.b", "p"));
    catalogue_free(&cat);
}

/* ------------------------------------------------------------ in a store */

typedef struct fixture {
    char dir[64];
    store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    uint8_t master[32];
    assert_non_null(f);
    assert_true(sodium_init() >= 0);
    snprintf(f->dir, sizeof f->dir, "/tmp/renkei-cat-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    randombytes_buf(master, sizeof master);
    assert_int_equal(store_open(f->dir, master, 0, &f->store, NULL, 0), STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    store_close(&f->store);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static uint64_t log_size(fixture_t *f)
{
    store_txn_t *txn = NULL;
    uint64_t n = 0;
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_log_size(txn, &n), STORE_OK);
    store_abort(&txn);
    return n;
}

static void log_entry(fixture_t *f, uint64_t index, rk_log_entry_t *e)
{
    store_txn_t *txn = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_log_get(txn, index, &buf, &len), STORE_OK);
    store_abort(&txn);
    assert_int_equal(rk_log_entry_decode(buf, len, e, NULL, 0), RK_WIRE_OK);
    free(buf);
}

static store_err change(fixture_t *f, const char *text, const char *const *del, size_t n_del, bool all,
                        cat_change_report_t *rep, char *why, size_t why_len)
{
    cat_section_t s[8];
    size_t n = 0;
    store_txn_t *txn = NULL;
    store_err err;
    const char *p = text;

    /* one section per "[...]" block */
    while (p != NULL && *p != '\0') {
        const char *next = strstr(p + 1, "\n[");
        size_t len = next != NULL ? (size_t)(next + 1 - p) : strlen(p);
        assert_true(n < 8);
        assert_true(cat_parse_one(p, len, &s[n++], why, why_len));
        p = next != NULL ? next + 1 : NULL;
    }
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    err = catalogue_change(txn, s, n, del, n_del, all, T0, rep, why, why_len);
    if (err == STORE_OK)
        assert_int_equal(store_commit(&txn), STORE_OK);
    else
        store_abort(&txn);
    for (size_t i = 0; i < n; i++)
        cat_section_clear(&s[i]);
    return err;
}

static uint64_t generation(fixture_t *f)
{
    store_txn_t *txn = NULL;
    uint64_t gen = 0;
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(store_cat_generation(txn, &gen), STORE_OK);
    store_abort(&txn);
    return gen;
}

static void test_default_installed_once(void **state)
{
    fixture_t *f = *state;
    store_txn_t *txn = NULL;
    catalogue_t *cat = NULL;
    bool installed = false;
    char why[300] = "";
    uint64_t n;

    assert_int_equal(generation(f), 0);
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    assert_int_equal(catalogue_install_default(txn, T0, &installed, why, sizeof why), STORE_OK);
    assert_true(installed);
    assert_int_equal(store_commit(&txn), STORE_OK);
    n = log_size(f);
    assert_true(n >= 7);
    assert_int_not_equal(generation(f), 0);
    /* a second start installs nothing */
    assert_int_equal(store_begin(f->store, true, &txn), STORE_OK);
    assert_int_equal(catalogue_install_default(txn, T0, &installed, why, sizeof why), STORE_OK);
    assert_false(installed);
    assert_int_equal(store_commit(&txn), STORE_OK);
    assert_int_equal(log_size(f), n);
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(catalogue_load(txn, &cat, why, sizeof why), STORE_OK);
    store_abort(&txn);
    assert_int_equal(catalogue_procedures(cat), n); /* the default holds procedures only */
    catalogue_free(&cat);
}

static void test_change_on_the_log(void **state)
{
    fixture_t *f = *state;
    cat_change_report_t rep;
    rk_log_entry_t e;
    uint8_t digest[32];
    char why[300] = "";
    uint64_t gen;

    assert_int_equal(change(f, "[group pref.a]\ntitle = A\nmembers = city.a\n", NULL, 0, false, &rep, why,
                            sizeof why),
                     STORE_OK);
    assert_int_equal(change(f, one_proc_canonical, NULL, 0, false, &rep, why, sizeof why), STORE_OK);
    assert_int_equal(rep.added, 1);
    assert_int_equal(log_size(f), 2);
    log_entry(f, 1, &e);
    assert_int_equal(e.event, RK_EV_CATALOGUE_SET);
    assert_string_equal(e.section, "procedure school.transfer.notice");
    assert_true(e.has_digest);
    /* an auditor recomputes the digest from the exported text */
    crypto_hash_sha256(digest, (const unsigned char *)one_proc_canonical, strlen(one_proc_canonical));
    assert_memory_equal(e.digest, digest, 32);

    /* the same text again changes nothing and logs nothing */
    gen = generation(f);
    assert_int_equal(change(f, one_proc_canonical, NULL, 0, false, &rep, why, sizeof why), STORE_OK);
    assert_int_equal(rep.unchanged, 1);
    assert_int_equal(rep.added + rep.changed, 0);
    assert_int_equal(log_size(f), 2);
    assert_int_equal(generation(f), gen); /* nothing for a running hub to reload */

    /* a change that breaks consistency is refused; nothing is written */
    assert_int_equal(change(f,
                            "[procedure x]\ntitle = X\nsenders = municipality\nrecipients = utility\n"
                            "follows = nothing.here\n",
                            NULL, 0, false, &rep, why, sizeof why),
                     STORE_EINVAL);
    assert_string_equal(why, "procedure x follows nothing.here, which is not in the catalogue");
    assert_int_equal(log_size(f), 2);

    /* removal */
    {
        const char *del[] = {"procedure school.transfer.notice"};
        assert_int_equal(change(f, "", del, 1, false, &rep, why, sizeof why), STORE_OK);
        assert_int_equal(rep.removed, 1);
        log_entry(f, 2, &e);
        assert_int_equal(e.event, RK_EV_CATALOGUE_REMOVED);
        assert_string_equal(e.section, "procedure school.transfer.notice");
        assert_false(e.has_digest);
        assert_int_equal(change(f, "", del, 1, false, &rep, why, sizeof why), STORE_ENOTFOUND);
    }
}

static void test_replace_all(void **state)
{
    fixture_t *f = *state;
    cat_change_report_t rep;
    char why[300] = "", *text = NULL;
    size_t len = 0;
    store_txn_t *txn = NULL;
    const char *two =
        "[procedure a]\ntitle = A\nsenders = municipality\nrecipients = utility\nintroduces = yes\n"
        "[procedure b]\ntitle = B\nsenders = municipality\nrecipients = utility\nintroduces = yes\n";
    const char *one =
        "[procedure b]\ntitle = B2\nsenders = municipality\nrecipients = utility\nintroduces = yes\n";

    assert_int_equal(change(f, two, NULL, 0, true, &rep, why, sizeof why), STORE_OK);
    assert_int_equal(rep.added, 2);
    assert_int_equal(change(f, one, NULL, 0, true, &rep, why, sizeof why), STORE_OK);
    assert_int_equal(rep.removed, 1);
    assert_int_equal(rep.changed, 1);
    assert_int_equal(log_size(f), 4);
    assert_int_equal(store_begin(f->store, false, &txn), STORE_OK);
    assert_int_equal(catalogue_export(txn, &text, &len), STORE_OK);
    store_abort(&txn);
    assert_non_null(strstr(text, "title = B2\n"));
    assert_null(strstr(text, "[procedure a]"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_print),
        cmocka_unit_test(test_group_members_sorted),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_consistency),
        cmocka_unit_test(test_matching),
        cmocka_unit_test_setup_teardown(test_default_installed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_on_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_all, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
