/*
 * test_metrics - hub/metrics.c without the hub: what --metrics accepts,
 * and the counters as the page shows them (statuses, duplicates apart,
 * deliveries only once their turn commits, the commit histogram's buckets
 * cumulative).  The per-organization figures and the HTTP answers are
 * tested through the real hub in test_it_metrics.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static bool parses(const char *text, bool allow_remote, char *host, size_t host_len, unsigned *port)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char why[300] = "";

    if (!metrics_parse_listen(text, allow_remote, &ss, &len, why, sizeof why)) {
        assert_true(why[0] != '\0');
        return false;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)host_len);
        *port = ntohs(a->sin6_port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)host_len);
        *port = ntohs(a->sin_port);
    }
    return true;
}

static void test_listen(void **state)
{
    char host[64];
    unsigned port = 0;
    (void)state;

    assert_true(parses("9750", false, host, sizeof host, &port));
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9750);
    assert_true(parses("127.0.0.2:0", false, host, sizeof host, &port));
    assert_string_equal(host, "127.0.0.2");
    assert_int_equal(port, 0);
    assert_true(parses("[::1]:80", false, host, sizeof host, &port));
    assert_string_equal(host, "::1");
    /* outside loopback: only when allowed */
    assert_false(parses("10.1.2.3:9750", false, host, sizeof host, &port));
    assert_false(parses("0.0.0.0:9750", false, host, sizeof host, &port));
    assert_false(parses("[::]:9750", false, host, sizeof host, &port));
    assert_true(parses("0.0.0.0:9750", true, host, sizeof host, &port));
    assert_true(parses("[::]:9750", true, host, sizeof host, &port));
    /* not an address and port */
    assert_false(parses("", false, host, sizeof host, &port));
    assert_false(parses("70000", false, host, sizeof host, &port));
    assert_false(parses("-1", false, host, sizeof host, &port));
    assert_false(parses("localhost:80", false, host, sizeof host, &port));
    assert_false(parses("127.0.0.1:", false, host, sizeof host, &port));
    assert_false(parses("::1:80", false, host, sizeof host, &port));
    assert_false(parses("[::1]80", false, host, sizeof host, &port));
}

/* The value of one sample on the page; -1 if absent. */
static double sample(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = page; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static void test_counters(void **state)
{
    metrics_t *m = NULL;
    char why[300] = "", *page;
    size_t len = 0;
    (void)state;

    if (!metrics_start("127.0.0.1:0", false, &m, why, sizeof why))
        fail_msg("metrics_start: %s", why);
    assert_non_null(strstr(metrics_address(m), "127.0.0.1:"));
    /* NULL: nothing happens (the hub without --metrics) */
    metrics_routed(NULL, RK_ST_ACCEPTED, false);
    metrics_turn_end(NULL, 0.1, true);

    metrics_routed(m, RK_ST_ACCEPTED, false);
    metrics_routed(m, RK_ST_ACCEPTED, false);
    metrics_routed(m, RK_ST_ACCEPTED, true);
    metrics_routed(m, RK_ST_UNKNOWN_WHO, false);
    /* a turn that rolls back: its deliveries did not happen */
    metrics_turn_delivered(m);
    metrics_turn_delivered(m);
    metrics_turn_refused_by_recipient(m);
    metrics_turn_end(m, 0.003, false);
    /* one that commits */
    metrics_turn_delivered(m);
    metrics_turn_end(m, 0.0004, true);
    /* one that opened no transaction: counted, not timed */
    metrics_turn_refused_by_recipient(m);
    metrics_turn_end(m, -1, true);
    metrics_expired(m, 4);

    page = metrics_render(m, &len);
    assert_non_null(page);
    assert_int_equal(strlen(page), len);
    assert_true(sample(page, "renkei_hub_messages_total{status=\"ACCEPTED\"}") == 2);
    assert_true(sample(page, "renkei_hub_messages_total{status=\"UNKNOWN_WHO\"}") == 1);
    assert_true(sample(page, "renkei_hub_messages_total{status=\"QUEUE_FULL\"}") == -1); /* none yet */
    assert_true(sample(page, "renkei_hub_messages_duplicate_total") == 1);
    assert_true(sample(page, "renkei_hub_deliveries_total") == 1);
    assert_true(sample(page, "renkei_hub_refused_by_recipient_total") == 1);
    assert_true(sample(page, "renkei_hub_expiries_total") == 4);
    assert_true(sample(page, "renkei_hub_commit_seconds_bucket{le=\"0.0005\"}") == 1);
    assert_true(sample(page, "renkei_hub_commit_seconds_bucket{le=\"0.0025\"}") == 1);
    assert_true(sample(page, "renkei_hub_commit_seconds_bucket{le=\"0.005\"}") == 2);
    assert_true(sample(page, "renkei_hub_commit_seconds_bucket{le=\"+Inf\"}") == 2);
    assert_true(sample(page, "renkei_hub_commit_seconds_count") == 2);
    assert_true(sample(page, "renkei_hub_commit_seconds_sum") > 0.0033 &&
                sample(page, "renkei_hub_commit_seconds_sum") < 0.0035);
    assert_true(sample(page, "renkei_hub_store_full") == 0);
    assert_non_null(strstr(page, "# TYPE renkei_hub_commit_seconds histogram\n"));
    free(page);
    metrics_stop(&m);
    assert_null(m);
    metrics_stop(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
