/*
 * test_conns.c - receivers and delivery cursors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conns.h"

static conn_rid_t rid(uint8_t b)
{
    conn_rid_t r;
    memset(&r, 0, sizeof r);
    r.len = 5;
    memset(r.id, b, 5);
    return r;
}

static void test_receiver_stack(void **state)
{
    conns_t *c = conns_new();
    conn_rid_t a = rid(1), b = rid(2);
    conn_org_t *o;
    (void)state;
    assert_non_null(c);
    assert_null(conns_org(c, "power", false));
    assert_true(conns_add_receiver(c, "power", &a));
    o = conns_org(c, "power", false);
    assert_non_null(o);
    o->sent_upto = 42;
    o->inflight = 3;
    /* the newest receiver is used first; the cursor restarts for it */
    assert_true(conns_add_receiver(c, "power", &b));
    assert_int_equal(o->n_recv, 2);
    assert_memory_equal(o->recv[0].id, b.id, 5);
    assert_int_equal(o->sent_upto, 0);
    assert_int_equal(o->inflight, 0);
    /* dropping an older one keeps the cursor */
    o->sent_upto = 7;
    conns_drop_receiver(o, &a);
    assert_int_equal(o->n_recv, 1);
    assert_int_equal(o->sent_upto, 7);
    /* when the current one goes, the next takes over from the head */
    assert_true(conns_add_receiver(c, "power", &a));
    o->sent_upto = 9;
    conns_drop_receiver(o, &a);
    assert_memory_equal(o->recv[0].id, b.id, 5);
    assert_int_equal(o->sent_upto, 0);
    conns_destroy(&c);
    assert_null(c);
    conns_destroy(&c); /* accepts NULL */
}

static void test_marks(void **state)
{
    conns_t *c = conns_new();
    conn_org_t *out[8];
    char name[32];
    (void)state;
    /* many orgs: the table grows and pointers stay valid */
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "org%d", i);
        assert_non_null(conns_org(c, name, true));
    }
    conn_org_t *o7 = conns_org(c, "org7", false);
    assert_string_equal(o7->org, "org7");
    conns_mark(c, o7);
    conns_mark(c, o7); /* once */
    conns_mark(c, conns_org(c, "org9", false));
    assert_int_equal(conns_take_marked(c, out, 8), 2);
    assert_false(o7->dirty);
    assert_int_equal(conns_take_marked(c, out, 8), 0);
    conns_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receiver_stack),
        cmocka_unit_test(test_marks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
