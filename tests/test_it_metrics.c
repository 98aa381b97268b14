/*
 * test_it_metrics - the hub's --metrics endpoint and its logs, through the
 * real programs.
 *
 *   - /metrics counts what was sent: N messages from city.x to power while
 *     power is offline are N ACCEPTED, N in power's queue, the oldest of
 *     them waiting; once power serves, N deliveries, power's queue empty,
 *     power connected and seen;
 *   - renkei-ctl show ORG reads the same queue figures from the store;
 *   - /healthz and /readyz answer 200, an unknown path 404;
 *   - a full store: the refusals are counted as STORE_FULL and /readyz
 *     answers 503 while the hub backs off, 200 after;
 *   - no figure or label carries a link code or a message id: the codes
 *     and ids the test saw are absent, and so is any run of 32 hex digits;
 *   - --metrics refuses an address outside loopback unless allowed;
 *   - --log-format json: every line of the hub's log is a JSON object with
 *     time, level and message; --log-level filters; the agent's lines
 *     carry a time, and its JSON lines parse too.
 *
 * The HTTP client is a plain socket: no dependency beyond libc.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define PERSON "TEST-0031-METRICS" /* a made-up resident's number */
#define TYPE "utility.supply.stop"
#define PAYLOAD "{\"request\":\"stop\",\"date\":\"2025-03-31\"}"
#define N 3

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* GET path from 127.0.0.1:port; returns the HTTP status (-1 if no answer)
 * and the body in *body (malloc'd). */
static int http_get(int port, const char *path, char **body)
{
    struct sockaddr_in a;
    char req[256], *buf = NULL, *p;
    size_t len = 0, cap = 0;
    int fd, status = -1;
    ssize_t n;

    *body = NULL;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *bigger;
            cap = cap ? cap * 2 : 16384;
            bigger = realloc(buf, cap);
            if (bigger == NULL)
                free(buf);
            assert_non_null(bigger);
            buf = bigger;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (buf == NULL)
        return -1;
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        status = -1;
    p = strstr(buf, "\r\n\r\n");
    *body = strdup(p != NULL ? p + 4 : "");
    free(buf);
    return status;
}

/* The value of the sample `series` (name with its labels, as written) in a
 * Prometheus text page; -1 if absent. */
static double sample(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = page; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

/* Scrapes /metrics until series reaches at least `want` (published once a
 * second), up to 15 s; returns the last page. */
static char *scrape_until(int port, const char *series, double want)
{
    char *page = NULL;
    for (int t = 0; t < 150; t++) {
        free(page);
        if (http_get(port, "/metrics", &page) == 200 && sample(page, series) >= want)
            return page;
        sleep_ms(100);
    }
    return page;
}

/* Whether text holds a run of 32 or more hex digits (a link code or a
 * message id in hex). */
static bool has_hex32(const char *text)
{
    size_t run = 0;
    for (const char *p = text; *p != '\0'; p++) {
        run = isxdigit((unsigned char)*p) ? run + 1 : 0;
        if (run >= 32)
            return true;
    }
    return false;
}

/* Copies every run of 32 hex digits in text into ids (up to max). */
static size_t hex32_runs(const char *text, char ids[][33], size_t max)
{
    size_t n = 0, run = 0;
    for (const char *p = text;; p++) {
        if (*p != '\0' && isxdigit((unsigned char)*p)) {
            run++;
            continue;
        }
        if (run == 32 && n < max) {
            memcpy(ids[n], p - 32, 32);
            ids[n++][32] = '\0';
        }
        run = 0;
        if (*p == '\0')
            return n;
    }
}

static int setup(void **state)
{
    it_env_t *env = it_env_new();
    if (env == NULL)
        return -1;
    if (it_org(env, "city.x", "municipality") != 0 || it_org(env, "power", "utility") != 0) {
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

static int send_one(it_env_t *env, const char *payload, it_run_t *r)
{
    return it_agent(env, "city.x", PERSON "\n", r, "send", "--to", "power", "--type", TYPE, "--person",
                    "--no-reply", "--payload", payload, NULL);
}

/* (1) The figures follow what was sent and delivered; nothing private. */
static void test_metrics_follow_traffic(void **state)
{
    it_env_t *env = *state;
    char listen[32], payload[4096], seen[4 * N + 8][33], *page = NULL, *body = NULL, *log;
    size_t nseen = 0;
    int port = free_port();
    it_proc_t *serve;
    it_run_t r;

    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    {
        const char *extra[] = {"--metrics", listen, NULL};
        assert_int_equal(it_hub_start(env, extra), 0);
    }
    log = it_hub_log(env);
    if (strstr(log, "metrics on http://127.0.0.1:") == NULL)
        fail_msg("the hub does not say where its metrics are: %s", log);
    free(log);

    /* the loop starts turning just after the hub is bound: a moment */
    page = scrape_until(port, "renkei_hub_snapshot_ok", 1);
    assert_non_null(page);
    free(page);
    assert_int_equal(http_get(port, "/healthz", &body), 200);
    free(body);
    assert_int_equal(http_get(port, "/readyz", &body), 200);
    free(body);
    assert_int_equal(http_get(port, "/nothing-here", &body), 404);
    free(body);

    /* city.x enrolls the resident and sends N stop requests to power,
     * which is offline: they wait in power's queue. */
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "enroll", NULL), 0);
    nseen += hex32_runs(r.out, seen + nseen, 4 * N + 8 - nseen);
    it_run_clear(&r);
    snprintf(payload, sizeof payload, "%s", it_path(env, "payload.json"));
    assert_int_equal(it_write_file(payload, PAYLOAD), 0);
    for (int i = 0; i < N; i++) {
        int st = send_one(env, payload, &r);
        if (st != 0)
            fail_msg("send %d exited %d: %s", i + 1, st, r.err);
        nseen += hex32_runs(r.out, seen + nseen, 4 * N + 8 - nseen);
        nseen += hex32_runs(r.err, seen + nseen, 4 * N + 8 - nseen);
        it_run_clear(&r);
    }
    assert_true(nseen >= N); /* the msg ids (and the code) the test will look for */

    page = scrape_until(port, "renkei_hub_queue_depth{org=\"power\"}", N);
    assert_non_null(page);
    if (sample(page, "renkei_hub_messages_total{status=\"ACCEPTED\"}") != N ||
        sample(page, "renkei_hub_queue_depth{org=\"power\"}") != N ||
        sample(page, "renkei_hub_org_connected{org=\"power\"}") != 0 ||
        sample(page, "renkei_hub_deliveries_total") != 0)
        fail_msg("after %d sends to an offline power the metrics say:\n%s", N, page);
    assert_true(sample(page, "renkei_hub_queue_oldest_age_seconds{org=\"power\"}") >= 0);
    assert_true(sample(page, "renkei_hub_org_last_seen_timestamp_seconds{org=\"city.x\"}") > 1e9);
    assert_true(sample(page, "renkei_hub_commit_seconds_count") >= N);
    assert_true(sample(page, "renkei_hub_store_used_bytes") > 0);
    assert_true(sample(page, "renkei_hub_store_map_size_bytes") >=
                sample(page, "renkei_hub_store_used_bytes"));
    assert_true(sample(page, "renkei_hub_routing_log_entries") >= N);
    free(page);
    /* renkei-ctl show says the same from the store */
    assert_int_equal(it_ctl(env, &r, "show", "power", NULL), 0);
    {
        char want[64];
        snprintf(want, sizeof want, "queue:   %d waiting", N);
        if (strstr(r.out, want) == NULL || strstr(r.out, "--metrics") == NULL)
            fail_msg("renkei-ctl show power after %d sends to it: %s", N, r.out);
    }
    it_run_clear(&r);

    /* power comes online and takes them: N deliveries, its queue empty. */
    serve = it_serve_start(env, "power", NULL, 0);
    assert_non_null(serve);
    page = scrape_until(port, "renkei_hub_deliveries_total", N);
    assert_non_null(page);
    for (int t = 0; t < 50 && sample(page, "renkei_hub_queue_depth{org=\"power\"}") != 0; t++) {
        free(page);
        sleep_ms(100);
        assert_int_equal(http_get(port, "/metrics", &page), 200);
    }
    if (sample(page, "renkei_hub_deliveries_total") != N ||
        sample(page, "renkei_hub_queue_depth{org=\"power\"}") != 0 ||
        sample(page, "renkei_hub_queue_oldest_age_seconds{org=\"power\"}") != 0 ||
        sample(page, "renkei_hub_org_connected{org=\"power\"}") != 1 ||
        sample(page, "renkei_hub_org_last_seen_timestamp_seconds{org=\"power\"}") <= 1e9)
        fail_msg("after power served, the metrics say:\n%s", page);
    /* city.x's DELIVERED notices wait for it: it is not serving */
    assert_true(sample(page, "renkei_hub_queue_depth{org=\"city.x\"}") >= 1);
    assert_int_equal(it_ctl(env, &r, "show", "power", NULL), 0);
    assert_non_null(strstr(r.out, "queue:   empty"));
    it_run_clear(&r);

    /* nothing private on the page */
    for (size_t i = 0; i < nseen; i++)
        if (strstr(page, seen[i]) != NULL)
            fail_msg("the metrics page carries %s, a link code or message id the agents printed", seen[i]);
    if (has_hex32(page))
        fail_msg("the metrics page carries a run of 32 hex digits:\n%s", page);
    free(page);
    assert_int_equal(it_proc_stop(serve), 0);
    assert_int_equal(it_hub_stop(env), 0);
}

/* (2) A full store: the refusal is counted by its status, and /readyz says
 * 503 while the hub backs off (it refuses without trying for a second). */
static void test_metrics_full_store(void **state)
{
    it_env_t *env = *state;
    char listen[32], payload[4096], *page = NULL, *body = NULL;
    int port = free_port(), ready = 0;
    it_proc_t *sender;
    it_run_t r;

    it_hub_faults(env);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    {
        const char *extra[] = {"--metrics", listen, NULL};
        assert_int_equal(it_hub_start(env, extra), 0);
    }
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "enroll", NULL), 0);
    it_run_clear(&r);
    snprintf(payload, sizeof payload, "%s", it_path(env, "payload.json"));
    assert_int_equal(it_write_file(payload, PAYLOAD), 0);
    page = scrape_until(port, "renkei_hub_snapshot_ok", 1);
    free(page);
    assert_int_equal(http_get(port, "/readyz", &body), 200);
    free(body);

    /* every queue write fails as if the map were full */
    assert_int_equal(it_store_faults(env, "put queue full 1000\n"), 0);
    assert_true(it_store_faults_taken(env, 5000));
    {
        char key[4096], hubkey[4096], data[4096], person[4096];
        assert_int_equal(it_person_file(env, PERSON, person, sizeof person), 0);
        snprintf(key, sizeof key, "%s", it_path(env, "keys/city.x.key"));
        snprintf(hubkey, sizeof hubkey, "%s", it_path(env, "keys/hub.pub"));
        snprintf(data, sizeof data, "%s", it_path(env, "agents/city.x"));
        const char *args[] = {"-H",        it_hub_endpoint(env),
                              "-K",        hubkey,
                              "-k",        key,
                              "-d",        data,
                              "-t",        "10",
                              "send",      "--to",
                              "power",     "--type",
                              TYPE,        "--person-file",
                              person,      "--no-reply",
                              "--payload", payload,
                              NULL};
        sender = it_spawn(env, "renkei-agent", args, "city.x-full");
    }
    assert_non_null(sender);
    /* watched while it sends: not ready during the back-off */
    for (int t = 0; t < 500 && ready != 503; t++) {
        ready = http_get(port, "/readyz", &body);
        if (ready == 503 && strstr(body, "store is full") == NULL)
            fail_msg("/readyz said 503 for another reason: %s", body);
        free(body);
        sleep_ms(10);
    }
    assert_int_equal(ready, 503);
    (void)it_proc_wait(sender, 20);
    page = scrape_until(port, "renkei_hub_messages_total{status=\"STORE_FULL\"}", 1);
    assert_non_null(page);
    if (sample(page, "renkei_hub_messages_total{status=\"STORE_FULL\"}") < 1 ||
        sample(page, "renkei_hub_messages_total{status=\"ACCEPTED\"}") != 0)
        fail_msg("after a full store refused city.x the metrics say:\n%s", page);
    free(page);
    /* the hub stays alive meanwhile, and ready again once the back-off ends */
    assert_int_equal(http_get(port, "/healthz", &body), 200);
    free(body);
    for (int t = 0; t < 100 && ready != 200; t++) {
        sleep_ms(100);
        ready = http_get(port, "/readyz", &body);
        free(body);
    }
    assert_int_equal(ready, 200);
    assert_int_equal(it_hub_stop(env), 0);
}

/* (3) An address outside loopback needs --metrics-allow-remote. */
static void test_metrics_loopback_only(void **state)
{
    it_env_t *env = *state;
    char data[4096], key[4096], master[4096];
    const char *args[] = {"--data", data,        "--key",     key, "--master-key",
                          master,   "--metrics", "0.0.0.0:9", NULL};
    it_run_t r;

    snprintf(data, sizeof data, "%s", it_hub_data(env));
    snprintf(key, sizeof key, "%s", it_path(env, "keys/hub.key"));
    snprintf(master, sizeof master, "%s", it_master_path(env));
    assert_int_not_equal(it_run(env, "renkei-hub", args, NULL, 20, &r), 0);
    if (strstr(r.err, "not a loopback address") == NULL || strstr(r.err, "--metrics-allow-remote") == NULL)
        fail_msg("renkei-hub --metrics 0.0.0.0:9 said: %s", r.err);
    it_run_clear(&r);
    args[7] = "localhost:x";
    assert_int_not_equal(it_run(env, "renkei-hub", args, NULL, 20, &r), 0);
    assert_non_null(strstr(r.err, "--metrics needs PORT, ADDR:PORT or [ADDR]:PORT"));
    it_run_clear(&r);
}

/* Every line of text is a JSON object with time, level and message; counts
 * the lines of each level into n[5] (error .. debug). */
static void json_lines(const char *text, const char *what, size_t n[5])
{
    static const char *const levels[] = {"error", "warning", "notice", "info", "debug"};
    const char *p = text;
    memset(n, 0, 5 * sizeof n[0]);
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        json_error_t jerr;
        json_t *o = json_loadb(p, len, 0, &jerr);
        const char *level;
        int k;
        if (o == NULL || !json_is_object(o))
            fail_msg("%s: a line that is not a JSON object (%s): %.*s", what, jerr.text, (int)len, p);
        level = json_string_value(json_object_get(o, "level"));
        if (level == NULL || json_string_value(json_object_get(o, "time")) == NULL ||
            json_string_value(json_object_get(o, "message")) == NULL)
            fail_msg("%s: a line without time, level or message: %.*s", what, (int)len, p);
        for (k = 0; k < 5 && strcmp(level, levels[k]) != 0; k++)
            ;
        if (k == 5)
            fail_msg("%s: unknown level '%s'", what, level);
        n[k]++;
        json_decref(o);
        p += len;
        if (*p == '\n')
            p++;
    }
}

/* (4) --log-format json and --log-level, the hub's and the agent's. */
static void test_logs(void **state)
{
    it_env_t *env = *state;
    char payload[4096], *log;
    size_t n[5];
    it_run_t r;

    /* the hub at info: its lines parse, "accepted" lines are there */
    {
        const char *extra[] = {"--log-format", "json", "--log-level", "info", NULL};
        assert_int_equal(it_hub_start(env, extra), 0);
    }
    snprintf(payload, sizeof payload, "%s", it_path(env, "payload.json"));
    assert_int_equal(it_write_file(payload, PAYLOAD), 0);
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "enroll", NULL), 0);
    it_run_clear(&r);
    assert_int_equal(send_one(env, payload, &r), 0);
    it_run_clear(&r);
    assert_true(it_hub_log_wait(env, "accepted seq", 5000));
    assert_int_equal(it_hub_stop(env), 0);
    log = it_hub_log(env);
    json_lines(log, "hub log at info", n);
    if (n[2] == 0 || n[3] == 0 || strstr(log, "\"message\":\"listening on ") == NULL)
        fail_msg("the hub's JSON log at info lacks notice or info lines:\n%s", log);
    free(log);

    /* from its config file, at notice: the notices, no info line */
    assert_int_equal(it_write_file(it_hub_log_path(env), ""), 0);
    assert_int_equal(it_write_file(it_path(env, "hub.conf"), "log-format = json\nlog-level = notice\n"), 0);
    {
        const char *extra[] = {"--config", it_path(env, "hub.conf"), NULL};
        assert_int_equal(it_hub_start(env, extra), 0);
    }
    assert_int_equal(send_one(env, payload, &r), 0);
    it_run_clear(&r);
    assert_int_equal(it_hub_stop(env), 0);
    log = it_hub_log(env);
    json_lines(log, "hub log at notice", n);
    if (n[2] == 0 || n[3] != 0 || n[4] != 0)
        fail_msg("the hub's log at notice (config file) has no notice, or lower lines:\n%s", log);
    free(log);

    /* the command line wins over the file: at warning, no notice either */
    assert_int_equal(it_write_file(it_hub_log_path(env), ""), 0);
    {
        const char *extra[] = {"--config", it_path(env, "hub.conf"), "--log-level", "warning", NULL};
        assert_int_equal(it_hub_start(env, extra), 0);
    }
    assert_int_equal(send_one(env, payload, &r), 0);
    it_run_clear(&r);
    assert_int_equal(it_hub_stop(env), 0);
    log = it_hub_log(env);
    json_lines(log, "hub log at warning", n);
    if (n[2] != 0 || n[3] != 0 || n[4] != 0)
        fail_msg("the hub's log at warning has lower lines:\n%s", log);
    free(log);

    /* the agent: an error in JSON, then in text with a time in front */
    assert_int_not_equal(it_agent(env, "city.x", NULL, &r, "--log-format", "json", "status", "ffff", NULL),
                         0);
    json_lines(r.err, "agent stderr in json", n);
    if (n[0] != 1 || strstr(r.err, "no message ffff") == NULL)
        fail_msg("the agent's JSON error is missing: %s", r.err);
    it_run_clear(&r);
    assert_int_not_equal(it_agent(env, "city.x", NULL, &r, "status", "ffff", NULL), 0);
    {
        int y, mo, d, h, mi, sec;
        char level[64];
        if (sscanf(r.err, "%4d-%2d-%2dT%2d:%2d:%2dZ renkei-agent: %63[^:]:", &y, &mo, &d, &h, &mi, &sec,
                   level) != 7 ||
            strcmp(level, "error") != 0)
            fail_msg("the agent's error line has no time and level in front: %s", r.err);
    }
    it_run_clear(&r);
    /* levels filter: enrolling again is a notice, gone at --log-level error */
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "--log-format", "json", "enroll", NULL), 0);
    json_lines(r.err, "agent notice in json", n);
    if (n[2] != 1 || strstr(r.err, "already enrolled") == NULL)
        fail_msg("the agent's notice is missing: %s", r.err);
    it_run_clear(&r);
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "--log-level", "error", "enroll", NULL), 0);
    if (strstr(r.err, "already enrolled") != NULL)
        fail_msg("--log-level error still writes notices: %s", r.err);
    it_run_clear(&r);
    assert_int_not_equal(it_agent(env, "city.x", NULL, &r, "--log-level", "bogus", "status", NULL), 0);
    assert_non_null(strstr(r.err, "--log-level takes error, warning, notice, info or debug"));
    it_run_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_follow_traffic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_full_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_loopback_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
