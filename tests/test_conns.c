/*
 * test_conns.c - receivers and the recent-request table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

static void test_receivers(void **state)
{
    conns_t *c = conns_new(8);
    conn_rid_t a = rid(1), b = rid(2);
    (void)state;
    assert_non_null(c);
    assert_null(conns_receiver(c, "power"));
    assert_true(conns_set_receiver(c, "power", &a));
    assert_memory_equal(conns_receiver(c, "power")->id, a.id, 5);
    /* the newest receiver wins */
    assert_true(conns_set_receiver(c, "power", &b));
    assert_memory_equal(conns_receiver(c, "power")->id, b.id, 5);
    /* dropping a stale connection does not drop the current one */
    conns_drop_receiver(c, "power", &a);
    assert_non_null(conns_receiver(c, "power"));
    conns_drop_receiver(c, "power", &b);
    assert_null(conns_receiver(c, "power"));
    conns_destroy(&c);
    assert_null(c);
    conns_destroy(&c); /* accepts NULL */
}

static void test_requests(void **state)
{
    conns_t *c = conns_new(4);
    conn_rid_t a = rid(7);
    uint8_t id1[16], id2[16];
    (void)state;
    memset(id1, 0x11, 16);
    memset(id2, 0x11, 16);
    id2[15] = 0x22; /* same slot (first 8 bytes equal), different id */
    conns_note_request(c, id1, "city.x", "power", &a);
    assert_non_null(conns_find_request(c, id1, "city.x", "power"));
    /* a reject must come from the recipient, about the right sender */
    assert_null(conns_find_request(c, id1, "city.x", "gas"));
    assert_null(conns_find_request(c, id1, "town.y", "power"));
    assert_null(conns_find_request(c, id2, "city.x", "power"));
    /* a newer request in the same slot replaces the older hint */
    conns_note_request(c, id2, "city.x", "gas", &a);
    assert_null(conns_find_request(c, id1, "city.x", "power"));
    assert_non_null(conns_find_request(c, id2, "city.x", "gas"));
    conns_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receivers),
        cmocka_unit_test(test_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
