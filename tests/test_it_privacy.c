/*
 * test_it_privacy - the collector.  Runs the whole move with every
 * organization's deliveries and outputs recorded, then checks the promises:
 * each organization received and printed only its own link code, and the
 * person's number appears in nothing a utility or the hub produced or stored.
 *
 * What each org "has" is everything under the test directory attributed to
 * it: run/NNNN-PROG-ORG.out and .err (its commands' output), run/NNNN-serve-ORG.*
 * (its deliveries as printed by serve), out/ORG.* (what its back-office was
 * handed), agents/ORG/ (its agent's LMDB).  The hub has hub.log and hub/.
 */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctype.h>
#include <dirent.h>
#include <cmocka.h>

#include "harness.h"
#include "wire.h"

#define NORGS (2 + IT_NUTIL)

typedef struct fixture {
    it_env_t *env;
    it_move_t move;
    const char *org[NORGS];
    const char *code[NORGS]; /* each org's own code for the person (hex) */
} fixture_t;

static int setup(void **state)
{
    static fixture_t fx;
    char why[2048] = "";
    size_t i;
    memset(&fx, 0, sizeof fx);
    *state = &fx;
    fx.env = it_env_new();
    if (fx.env == NULL)
        return -1;
    if (it_move_setup(fx.env, &fx.move, why, sizeof why) != 0 ||
        it_move_run(fx.env, &fx.move, why, sizeof why) != 0) {
        fprintf(stderr, "setup: the move did not complete: %s\n", why);
        return -1;
    }
    /* Stop the utilities' agents so that everything they write is on disk. */
    for (i = 0; i < IT_NUTIL; i++)
        it_proc_stop(fx.move.serve[i]);
    fx.org[0] = "city.x";
    fx.code[0] = fx.move.code_x;
    fx.org[1] = "town.y";
    fx.code[1] = fx.move.code_y;
    for (i = 0; i < IT_NUTIL; i++) {
        fx.org[2 + i] = it_utilities[i];
        fx.code[2 + i] = fx.move.seen_stop[i].code;
    }
    for (i = 0; i < NORGS; i++)
        if (strlen(fx.code[i]) != RK_CODE_TEXT_LEN) {
            fprintf(stderr, "setup: no code learned for %s\n", fx.org[i]);
            return -1;
        }
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx == NULL)
        return 0;
    it_move_clear(&fx->move);
    it_env_destroy(&fx->env);
    return 0;
}

/* true if run/ has a file attributed to org whose name/contents match. */
static bool run_files_contain(it_env_t *env, const char *org, const void *needle, size_t len,
                              char *where, size_t where_len)
{
    char tag1[100], tag2[100], dirpath[1024];
    DIR *d;
    struct dirent *de;
    bool found = false;

    snprintf(tag1, sizeof tag1, "-%s.", org);     /* NNNN-renkei-agent-ORG.out */
    snprintf(tag2, sizeof tag2, "serve-%s.", org); /* NNNN-serve-ORG.out */
    snprintf(dirpath, sizeof dirpath, "%s", it_path(env, "run"));
    d = opendir(dirpath);
    if (d == NULL)
        return false;
    while (!found && (de = readdir(d)) != NULL) {
        char path[2048];
        if (strstr(de->d_name, tag1) == NULL && strstr(de->d_name, tag2) == NULL)
            continue;
        snprintf(path, sizeof path, "%s/%s", dirpath, de->d_name);
        found = it_tree_contains(path, needle, len, where, where_len);
    }
    closedir(d);
    return found;
}

/* Everything org holds, searched for the hex code (both cases) and its raw bytes. */
static bool org_has(fixture_t *fx, const char *org, const char *hex, char *where, size_t where_len)
{
    char upper[RK_CODE_TEXT_LEN + 1], rel[200];
    uint8_t raw[RK_CODE_LEN];
    const void *needles[3];
    size_t lens[3], i;

    for (i = 0; i <= RK_CODE_TEXT_LEN; i++)
        upper[i] = (char)toupper((unsigned char)hex[i]);
    assert_true(rk_code_from_text(hex, raw));
    needles[0] = hex;
    lens[0] = RK_CODE_TEXT_LEN;
    needles[1] = upper;
    lens[1] = RK_CODE_TEXT_LEN;
    needles[2] = raw;
    lens[2] = RK_CODE_LEN;
    for (i = 0; i < 3; i++) {
        if (run_files_contain(fx->env, org, needles[i], lens[i], where, where_len))
            return true;
        snprintf(rel, sizeof rel, "out/%s.in", org);
        if (it_tree_contains(it_path(fx->env, rel), needles[i], lens[i], where, where_len))
            return true;
        snprintf(rel, sizeof rel, "out/%s.env", org);
        if (it_tree_contains(it_path(fx->env, rel), needles[i], lens[i], where, where_len))
            return true;
        snprintf(rel, sizeof rel, "agents/%s", org);
        if (it_tree_contains(it_path(fx->env, rel), needles[i], lens[i], where, where_len))
            return true;
    }
    return false;
}

/* The search itself works: each org does hold its own code somewhere. */
static void test_each_org_holds_its_own_code(void **state)
{
    fixture_t *fx = *state;
    char where[2048];
    size_t i;
    for (i = 0; i < NORGS; i++)
        if (!org_has(fx, fx->org[i], fx->code[i], where, sizeof where))
            fail_msg("%s's own code is nowhere in what %s holds", fx->org[i], fx->org[i]);
}

static void test_no_org_sees_another_orgs_code(void **state)
{
    fixture_t *fx = *state;
    char where[2048];
    size_t a, b;
    for (a = 0; a < NORGS; a++)
        for (b = 0; b < NORGS; b++) {
            if (a == b)
                continue;
            if (org_has(fx, fx->org[b], fx->code[a], where, sizeof where))
                fail_msg("%s's link code reached %s: found in %s", fx->org[a], fx->org[b], where);
        }
}

static void test_hub_keeps_no_code_in_its_log(void **state)
{
    fixture_t *fx = *state;
    char *log = it_hub_log(fx->env);
    size_t i;
    assert_true(strlen(log) > 0);
    for (i = 0; i < NORGS; i++)
        if (strcasestr(log, fx->code[i]) != NULL)
            fail_msg("the hub's log carries %s's link code", fx->org[i]);
    free(log);
}

static void test_number_stays_with_the_municipalities(void **state)
{
    fixture_t *fx = *state;
    char where[2048], rel[200];
    size_t i, n = strlen(IT_PERSON);

    /* (test_each_org_holds_its_own_code shows the search itself finds things.) */
    if (it_tree_contains(it_hub_log_path(fx->env), IT_PERSON, n, where, sizeof where))
        fail_msg("the person's number is in the hub's log");
    if (it_tree_contains(it_hub_data(fx->env), IT_PERSON, n, where, sizeof where))
        fail_msg("the person's number is stored by the hub: %s", where);
    if (it_tree_contains(it_path(fx->env, "run/hub.out"), IT_PERSON, n, where, sizeof where))
        fail_msg("the person's number is in the hub's stdout");
    for (i = 0; i < IT_NUTIL; i++) {
        const char *u = it_utilities[i];
        if (run_files_contain(fx->env, u, IT_PERSON, n, where, sizeof where))
            fail_msg("%s printed the person's number: %s", u, where);
        snprintf(rel, sizeof rel, "out/%s.in", u);
        if (it_tree_contains(it_path(fx->env, rel), IT_PERSON, n, where, sizeof where))
            fail_msg("%s's back-office was handed the person's number", u);
        snprintf(rel, sizeof rel, "agents/%s", u);
        if (it_tree_contains(it_path(fx->env, rel), IT_PERSON, n, where, sizeof where))
            fail_msg("%s's agent stored the person's number: %s", u, where);
    }
    /* town.y learnt it at its own counter (bind), never from the notice. */
    if (strstr(fx->move.town_serve_out, IT_PERSON) != NULL)
        fail_msg("the move-out notice delivered the person's number to town.y");
}

/* The utilities' back-offices got one JSON object per delivery with their
 * own code and no "person" (they hold no number). */
static void test_utility_deliveries(void **state)
{
    fixture_t *fx = *state;
    size_t i;
    for (i = 0; i < IT_NUTIL; i++) {
        char rel[200], *in;
        snprintf(rel, sizeof rel, "out/%s.in", it_utilities[i]);
        in = it_slurp(it_path(fx->env, rel), NULL);
        assert_non_null(in);
        assert_non_null(strstr(in, fx->code[2 + i]));
        assert_null(strstr(in, "\"person\""));
        free(in);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_org_holds_its_own_code),
        cmocka_unit_test(test_no_org_sees_another_orgs_code),
        cmocka_unit_test(test_hub_keeps_no_code_in_its_log),
        cmocka_unit_test(test_number_stays_with_the_municipalities),
        cmocka_unit_test(test_utility_deliveries),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
