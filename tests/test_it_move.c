/*
 * test_it_move - seed 004's move through the real programs: renkei-hub,
 * renkei-ctl, renkei-agent and renkei-keygen over CURVE ZeroMQ.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

typedef struct fixture {
    it_env_t *env;
    it_move_t move;
} fixture_t;

static int setup(void **state)
{
    static fixture_t fx;
    char why[1024] = "";
    memset(&fx, 0, sizeof fx);
    fx.env = it_env_new();
    if (fx.env == NULL)
        return -1;
    *state = &fx;
    if (it_move_setup(fx.env, &fx.move, why, sizeof why) != 0) {
        fprintf(stderr, "setup: %s\n", why);
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

static bool is_code(const char *s)
{
    size_t i;
    if (strlen(s) != 32)
        return false;
    for (i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void test_move(void **state)
{
    fixture_t *fx = *state;
    it_move_t *m = &fx->move;
    char why[2048] = "";
    const char *all[2 + IT_NUTIL];
    size_t i, j;
    int rc = it_move_run(fx->env, m, why, sizeof why);

    if (rc != 0)
        fail_msg("the move did not complete: %s", why);

    /* city.x's enroll printed its own code. */
    assert_true(is_code(m->code_x));

    for (i = 0; i < IT_NUTIL; i++) {
        const char *u = it_utilities[i];
        /* Move-out: the reply came back from the utility, under city.x's code,
         * answering the request city.x sent. */
        assert_string_equal(m->stop[i].from, u);
        assert_string_equal(m->stop[i].type, "utility.supply.stop");
        assert_string_equal(m->stop[i].code, m->code_x);
        assert_string_equal(m->stop[i].result, "done");
        if (m->stop[i].msg_id[0] != '\0')
            assert_string_equal(m->stop[i].reply_to, m->stop[i].msg_id);
        /* The utility saw its own new code, as a first contact, from city.x. */
        assert_string_equal(m->seen_stop[i].type, "utility.supply.stop");
        assert_string_equal(m->seen_stop[i].from, "city.x");
        assert_true(is_code(m->seen_stop[i].code));
        assert_int_equal(m->seen_stop[i].first_contact, 1);
    }

    /* The notice reached town.y as a first contact under town.y's own code. */
    assert_string_equal(m->notice_from, "city.x");
    assert_string_equal(m->notice_type, "move.out.notice");
    assert_int_equal(m->notice_first_contact, 1);
    assert_true(is_code(m->code_y));
    assert_false(m->notice_has_person);
    /* After bind at the counter, town.y's lookup gives that code. */
    assert_string_equal(m->lookup_y, m->code_y);

    for (i = 0; i < IT_NUTIL; i++) {
        const char *u = it_utilities[i];
        assert_int_equal(m->nseen[i], 2);
        /* Move-in: the reply reached town.y under town.y's code. */
        assert_string_equal(m->start[i].from, u);
        assert_string_equal(m->start[i].type, "utility.supply.start");
        assert_string_equal(m->start[i].code, m->code_y);
        assert_string_equal(m->start[i].result, "done");
        if (m->start[i].msg_id[0] != '\0')
            assert_string_equal(m->start[i].reply_to, m->start[i].msg_id);
        /* The utility sees the same person under the same code, not new. */
        assert_string_equal(m->seen_start[i].type, "utility.supply.start");
        assert_string_equal(m->seen_start[i].from, "town.y");
        assert_string_equal(m->seen_start[i].code, m->seen_stop[i].code);
        assert_int_equal(m->seen_start[i].first_contact, 0);
    }

    /* Five organizations, five different codes for the same person. */
    all[0] = m->code_x;
    all[1] = m->code_y;
    for (i = 0; i < IT_NUTIL; i++)
        all[2 + i] = m->seen_stop[i].code;
    for (i = 0; i < 2 + IT_NUTIL; i++)
        for (j = i + 1; j < 2 + IT_NUTIL; j++)
            assert_string_not_equal(all[i], all[j]);

    /* A second enroll of the same person at city.x gives the same code. */
    {
        it_run_t r;
        assert_int_equal(it_agent(fx->env, "city.x", IT_PERSON "\n", &r, "enroll", NULL), 0);
        assert_string_equal(it_chomp(r.out), m->code_x);
        it_run_clear(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_move, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
