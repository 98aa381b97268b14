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
    r.id[0] = 0; /* the form of an id the ROUTER assigns */
    r.fd = -1;
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

/* Only 5-byte ids starting with 0x00 have the form the ROUTER assigns. */
static void test_rid_forms(void **state)
{
    conn_rid_t r = rid(3);
    (void)state;
    assert_true(conns_rid_auto(&r));
    r.id[0] = 'p';
    assert_false(conns_rid_auto(&r));
    r = rid(3);
    r.len = 4;
    assert_false(conns_rid_auto(&r));
    r.len = 6;
    assert_false(conns_rid_auto(&r));
}

/* An id belongs to the first org that used it, for good; another org is
 * told whose it is. */
static void test_bindings(void **state)
{
    conns_t *c = conns_new();
    conn_rid_t a = rid(1), b = rid(2), named = rid(3);
    conn_org_t *owner = NULL;
    (void)state;
    assert_non_null(c);
    assert_null(conns_owner(c, &a));
    assert_int_equal(conns_bind(c, &a, "power", &owner), CONNS_BOUND_NEW);
    assert_string_equal(owner->org, "power");
    assert_int_equal(conns_bind(c, &a, "power", &owner), CONNS_BOUND_SAME);
    assert_int_equal(conns_bind(c, &a, "town.y", &owner), CONNS_BOUND_OTHER);
    assert_string_equal(owner->org, "power");
    assert_ptr_equal(conns_owner(c, &a), conns_org(c, "power", false));
    /* still power's after the attempt */
    assert_int_equal(conns_bind(c, &a, "town.y", NULL), CONNS_BOUND_OTHER);
    assert_int_equal(conns_bind(c, &b, "town.y", &owner), CONNS_BOUND_NEW);
    assert_string_equal(owner->org, "town.y");
    /* an id of a peer's choosing is never bound */
    named.id[0] = 'p';
    assert_int_equal(conns_bind(c, &named, "town.y", &owner), CONNS_BIND_NOMEM);
    assert_null(owner);
    assert_null(conns_owner(c, &named));
    /* many ids: the table grows and keeps every binding */
    for (uint32_t i = 0; i < 5000; i++) {
        conn_rid_t r = rid(0);
        r.id[1] = (uint8_t)(i >> 24);
        r.id[2] = (uint8_t)(i >> 16);
        r.id[3] = (uint8_t)(i >> 8);
        r.id[4] = (uint8_t)i;
        if (i == 0x01010101u || i == 0x02020202u)
            continue;
        assert_int_equal(conns_bind(c, &r, i % 2 ? "gas" : "water", NULL), CONNS_BOUND_NEW);
    }
    for (uint32_t i = 0; i < 5000; i++) {
        conn_rid_t r = rid(0);
        r.id[1] = (uint8_t)(i >> 24);
        r.id[2] = (uint8_t)(i >> 16);
        r.id[3] = (uint8_t)(i >> 8);
        r.id[4] = (uint8_t)i;
        assert_string_equal(conns_owner(c, &r)->org, i % 2 ? "gas" : "water");
    }
    assert_string_equal(conns_owner(c, &a)->org, "power");
    assert_string_equal(conns_owner(c, &b)->org, "town.y");
    conns_destroy(&c);
}

/* A closed socket takes its receivers with it, in every org, and only those. */
static void test_drop_fd(void **state)
{
    conns_t *c = conns_new();
    conn_rid_t a = rid(1), b = rid(2), d = rid(4);
    conn_org_t *out[8], *pw, *ty;
    (void)state;
    a.fd = 7;
    b.fd = 8;
    d.fd = 7; /* cannot happen at once; a stale entry of the same socket */
    assert_true(conns_add_receiver(c, "power", &b));
    assert_true(conns_add_receiver(c, "power", &a));
    assert_true(conns_add_receiver(c, "town.y", &d));
    pw = conns_org(c, "power", false);
    ty = conns_org(c, "town.y", false);
    while (conns_take_marked(c, out, 8) > 0)
        ;
    pw->sent_upto = 5;
    assert_int_equal(conns_drop_fd(c, -1), 0);
    assert_int_equal(conns_drop_fd(c, 9), 0);
    assert_int_equal(conns_take_marked(c, out, 8), 0);
    assert_int_equal(conns_drop_fd(c, 7), 2);
    assert_int_equal(pw->n_recv, 1);
    assert_memory_equal(pw->recv[0].id, b.id, 5);
    assert_int_equal(pw->sent_upto, 0); /* the next receiver starts from the head */
    assert_int_equal(ty->n_recv, 0);
    assert_int_equal(conns_take_marked(c, out, 8), 2);
    conns_destroy(&c);
}

typedef struct taken {
    char org[32];
    int key;
    uint64_t count;
} taken_t;

typedef struct takes {
    taken_t t[16];
    size_t n;
} takes_t;

static void take(const char *org, int key, uint64_t count, void *ctx)
{
    takes_t *k = ctx;
    assert_true(k->n < 16);
    snprintf(k->t[k->n].org, sizeof k->t[k->n].org, "%s", org);
    k->t[k->n].key = key;
    k->t[k->n].count = count;
    k->n++;
}

/* The first refusal of a kind in an interval is reported on its own, the
 * rest are counted and summed up once the interval is over; a steady flood
 * gives one sum per interval; a quiet interval ends the count. */
static void test_quiet_intervals(void **state)
{
    conns_t *c = conns_new();
    takes_t k;
    (void)state;
    assert_true(conns_quiet_note(c, "city.x", 2, 1000, 60000));
    for (int i = 0; i < 1999; i++)
        assert_false(conns_quiet_note(c, "city.x", 2, 1000 + i, 60000));
    /* another kind and another org have intervals of their own */
    assert_true(conns_quiet_note(c, "city.x", 6, 2000, 60000));
    assert_true(conns_quiet_note(c, "town.y", 2, 2000, 60000));
    assert_false(conns_quiet_note(c, "town.y", 2, 2001, 60000));

    memset(&k, 0, sizeof k);
    assert_int_equal(conns_quiet_take(c, 60999, 60000, false, take, &k), 0); /* not over yet */
    assert_int_equal(conns_quiet_take(c, 61000, 60000, false, take, &k), 1);
    assert_string_equal(k.t[0].org, "city.x");
    assert_int_equal(k.t[0].key, 2);
    assert_int_equal(k.t[0].count, 1999);
    /* the interval runs again: the flood goes on being counted */
    assert_false(conns_quiet_note(c, "city.x", 2, 61500, 60000));
    memset(&k, 0, sizeof k);
    assert_int_equal(conns_quiet_take(c, 62000, 60000, false, take, &k), 1); /* town.y's */
    assert_string_equal(k.t[0].org, "town.y");
    assert_int_equal(k.t[0].count, 1);
    memset(&k, 0, sizeof k);
    assert_int_equal(conns_quiet_take(c, 121000, 60000, false, take, &k), 1);
    assert_int_equal(k.t[0].count, 1);
    /* an interval that counted nothing ends: the next is reported again */
    assert_int_equal(conns_quiet_take(c, 181000, 60000, false, take, &k), 0);
    assert_true(conns_quiet_note(c, "city.x", 2, 181500, 60000));

    /* counts that could not be recorded come back, due at once */
    assert_true(conns_quiet_add(c, "gas", 4, 7, 200000));
    memset(&k, 0, sizeof k);
    assert_int_equal(conns_quiet_take(c, 200000, 60000, false, take, &k), 1);
    assert_string_equal(k.t[0].org, "gas");
    assert_int_equal(k.t[0].count, 7);

    /* all: everything counted so far, and every interval ends */
    assert_false(conns_quiet_note(c, "city.x", 2, 181600, 60000));
    memset(&k, 0, sizeof k);
    assert_int_equal(conns_quiet_take(c, 181700, 60000, true, take, &k), 1);
    assert_int_equal(k.t[0].count, 1);
    assert_true(conns_quiet_note(c, "city.x", 2, 181800, 60000));
    conns_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receiver_stack),
        cmocka_unit_test(test_marks),
        cmocka_unit_test(test_rid_forms),
        cmocka_unit_test(test_bindings),
        cmocka_unit_test(test_drop_fd),
        cmocka_unit_test(test_quiet_intervals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
