/*
 * test_it_webhook - `renkei-agent serve --webhook URL` pushing requests to
 * a back office over HTTP, with a real hub and real agents and a small
 * back office in Python (http.server.ThreadingHTTPServer): a reply reaches
 * the sender; a refusal reaches it with its reason; an answer that is not
 * one is retried, then DEAD (status shows it, also after a restart) until
 * `renkei-agent retry` hands it out again; a back office that is down at
 * first is tried again until it is up; one too slow is given up and tried
 * again; --webhook-parallel N is never exceeded.  In the end every request
 * is answered exactly once, and the back office never saw the person's
 * number.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define TYPE "utility.supply.stop"
#define NUMBER "TEST-0001-WEBHOOK"
#define TOKEN "back-office-token-0123456789"

/* The back office: argv[1] its folder, argv[2] the port.  What it answers
 * depends on the request's payload "case"; it logs every request (headers
 * and body) to requests.log, the most requests it held at once to
 * maxconc, and each msg_id it answered well to answered.log. */
static const char BACK_OFFICE[] =
    "import http.server, json, os, sys, threading, time\n"
    "d, port = sys.argv[1], int(sys.argv[2])\n"
    "lock = threading.Lock()\n"
    "state = {'now': 0, 'max': 0, 'seen': {}}\n"
    "def note(name, line):\n"
    "    with open(os.path.join(d, name), 'a') as f:\n"
    "        f.write(line + '\\n')\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "    def answer(self, code, body):\n"
    "        b = body.encode()\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Type', 'application/json')\n"
    "        self.send_header('Content-Length', str(len(b)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b)\n"
    "    def do_POST(self):\n"
    "        body = self.rfile.read(int(self.headers.get('Content-Length', '0'))).decode()\n"
    "        with lock:\n"
    "            state['now'] += 1\n"
    "            if state['now'] > state['max']:\n"
    "                state['max'] = state['now']\n"
    "                with open(os.path.join(d, 'maxconc'), 'w') as f:\n"
    "                    f.write(str(state['max']))\n"
    "            note('requests.log', json.dumps({'headers': dict(self.headers), 'body': body}))\n"
    "        try:\n"
    "            self.handle_one(json.loads(body))\n"
    "        finally:\n"
    "            with lock:\n"
    "                state['now'] -= 1\n"
    "    def handle_one(self, req):\n"
    "        case, mid = req['payload'].get('case'), req['msg_id']\n"
    "        with lock:\n"
    "            n = state['seen'][mid] = state['seen'].get(mid, 0) + 1\n"
    "        good = json.dumps({'reply': {'supply': 'stopped', 'case': case}})\n"
    "        if case == 'refuse':\n"
    "            note('answered.log', mid)\n"
    "            return self.answer(200, json.dumps({'refuse': 'no supply contract at this address'}))\n"
    "        if case == 'garbage' and not os.path.exists(os.path.join(d, 'fixed')):\n"
    "            return self.answer(200, 'this is not what you expect')\n"
    "        if case == 'slow' and n == 1:\n"
    "            time.sleep(3)\n"
    "            return self.answer(200, good)\n"
    "        if case == 'parallel':\n"
    "            time.sleep(0.4)\n"
    "        note('answered.log', mid)\n"
    "        self.answer(200, good)\n"
    "s = http.server.ThreadingHTTPServer(('127.0.0.1', port), H)\n"
    "with open(os.path.join(d, 'port.tmp'), 'w') as f:\n"
    "    f.write(str(s.server_address[1]))\n"
    "os.rename(os.path.join(d, 'port.tmp'), os.path.join(d, 'port'))\n"
    "s.serve_forever()\n";

typedef struct fixture {
    it_env_t *env;
    char person[1024]; /* city.x's --person-file */
    char token[1024];  /* power's --webhook-token-file */
    char script[1024];
    int replies; /* requests answered with a reply so far */
} fixture_t;

static int setup(void **state)
{
    static fixture_t fx;
    memset(&fx, 0, sizeof fx);
    *state = &fx;
    if (it_city_power(&fx.env, NUMBER, fx.person, sizeof fx.person) != 0)
        return -1;
    snprintf(fx.token, sizeof fx.token, "%s", it_path(fx.env, "webhook.token"));
    snprintf(fx.script, sizeof fx.script, "%s", it_path(fx.env, "back_office.py"));
    if (it_write_file(fx.token, TOKEN "\n") != 0 || chmod(fx.token, 0600) != 0 ||
        it_write_file(fx.script, BACK_OFFICE) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx != NULL)
        it_env_destroy(&fx->env);
    return 0;
}

/* Starts the back office in dir on port (0: any); its port. */
static int back_office(fixture_t *fx, const char *dir, int port)
{
    char port_arg[16], path[1100], *text = NULL;
    const char *args[] = {fx->script, dir, port_arg, NULL};
    snprintf(port_arg, sizeof port_arg, "%d", port);
    assert_non_null(it_spawn(fx->env, "/usr/bin/python3", args, "back-office"));
    snprintf(path, sizeof path, "%s/port", dir);
    for (int t = 0; t < 100 && text == NULL; t++) {
        text = it_slurp(path, NULL);
        if (text == NULL)
            it_sleep_ms(100);
    }
    if (text == NULL)
        fail_msg("the back office did not start");
    port = atoi(text);
    free(text);
    return port;
}

/* power's serve --webhook to port, with more options (NULL-terminated). */
static it_proc_t *serve_webhook(fixture_t *fx, int port, const char *const *more)
{
    static char url[128];
    const char *extra[16] = {"--webhook", url, "--webhook-token-file", fx->token};
    size_t n = 4;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/renkei", port);
    for (size_t i = 0; more != NULL && more[i] != NULL && n < 15; i++)
        extra[n++] = more[i];
    extra[n] = NULL;
    return it_serve_startv(fx->env, "power", extra);
}

/* city.x sends one request whose payload names the back office's case;
 * waits for the reply unless no_wait.  id: its msg_id. */
static int send_case(fixture_t *fx, const char *kase, bool no_wait, it_run_t *r, char id[33])
{
    char payload[1100], text[128];
    const char *args[] = {"send",     "--to",      "power", "--type",    TYPE, "--person-file",
                          fx->person, "--payload", payload, "--timeout", "30", no_wait ? "--no-wait" : NULL,
                          NULL};
    const char *p, *key;
    int st;
    snprintf(payload, sizeof payload, "%s", it_path(fx->env, "payload.json"));
    snprintf(text, sizeof text, "{\"case\":\"%s\"}\n", kase);
    assert_int_equal(it_write_file(payload, text), 0);
    st = it_agentv(fx->env, "city.x", NULL, args, r);
    id[0] = '\0';
    /* --no-wait prints the message's status; a reply names what it answers */
    key = no_wait ? "\"msg_id\"" : "\"reply_to\"";
    p = strstr(r->out, key);
    if (p != NULL && (p = strchr(p + strlen(key), '"')) != NULL && strlen(p + 1) >= 32) {
        memcpy(id, p + 1, 32);
        id[32] = '\0';
    }
    return st;
}

/* Waits up to timeout_s until city.x sees its message id ANSWERED. */
static void wait_answered(fixture_t *fx, const char *id, int timeout_s)
{
    it_run_t r;
    bool answered = false;
    memset(&r, 0, sizeof r);
    for (int t = 0; t < timeout_s * 4 && !answered; t++) {
        (void)it_agent(fx->env, "city.x", NULL, &r, "flush", NULL);
        it_run_clear(&r);
        (void)it_agent(fx->env, "city.x", NULL, &r, "status", id, NULL);
        answered = strstr(r.out, "ANSWERED") != NULL;
        if (!answered) {
            it_run_clear(&r);
            it_sleep_ms(250);
        }
    }
    if (!answered)
        fail_msg("city.x's request %s is not ANSWERED", id);
    it_run_clear(&r);
}

/* How often needle stands in dir/file. */
static size_t lines_with(const char *dir, const char *file, const char *needle)
{
    char path[1100], *text;
    size_t n;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    text = it_slurp(path, NULL);
    n = it_count(text, needle);
    free(text);
    return n;
}

/* How many requests for msg id the back office in dir received. */
static size_t received(const char *dir, const char *id)
{
    char needle[80];
    snprintf(needle, sizeof needle, "\"Renkei-Msg-Id\": \"%s\"", id);
    return lines_with(dir, "requests.log", needle);
}

/* A reply reaches the sender with the back office's payload; a refusal
 * with its reason.  The requests carry the headers and the bearer token. */
static void test_reply_and_refusal(void **state)
{
    fixture_t *fx = *state;
    const char *d = it_subdir(fx->env, "bo-answers");
    int port = back_office(fx, d, 0);
    it_proc_t *p = serve_webhook(fx, port, NULL);
    char id[33], path[1100], *log;
    it_run_t r;
    int st;

    assert_non_null(p);
    st = send_case(fx, "reply", false, &r, id);
    if (st != 0 || strstr(r.out, "stopped") == NULL)
        fail_msg("send exited %d, expected the back office's reply: %s %s", st, r.out, r.err);
    it_run_clear(&r);
    fx->replies++;

    st = send_case(fx, "refuse", false, &r, id);
    if (st != 3 || strstr(r.err, "REFUSED_BY_RECIPIENT") == NULL ||
        strstr(r.err, "no supply contract at this address") == NULL)
        fail_msg("send exited %d: %s (REFUSED_BY_RECIPIENT with the reason expected)", st, r.err);
    it_run_clear(&r);
    assert_int_equal(it_proc_stop(p), 0);

    snprintf(path, sizeof path, "%s/requests.log", d);
    log = it_slurp(path, NULL);
    assert_non_null(log);
    assert_int_equal(it_count(log, "\"Authorization\": \"Bearer " TOKEN "\""), 2);
    assert_int_equal(it_count(log, "\"Renkei-From\": \"city.x\""), 2);
    assert_int_equal(it_count(log, "\"Renkei-Type\": \"" TYPE "\""), 2);
    assert_int_equal(it_count(log, "\"Content-Type\": \"application/json\""), 2);
    assert_int_equal(it_count(log, "Renkei-Msg-Id"), 2);
    free(log);
}

/* Answers that are not one are retried, then DEAD: kept so across a
 * restart and not handed out by serve; `retry` after the back office is
 * fixed delivers it, once. */
static void test_garbage_dead_then_retry(void **state)
{
    fixture_t *fx = *state;
    const char *d = it_subdir(fx->env, "bo-garbage");
    int port = back_office(fx, d, 0);
    const char *more[] = {"--webhook-retries", "1", NULL};
    it_proc_t *p = serve_webhook(fx, port, more);
    char id[33], path[1100], *err;
    it_run_t r;

    assert_non_null(p);
    assert_int_equal(send_case(fx, "garbage", true, &r, id), 0);
    it_run_clear(&r);
    assert_int_equal(strlen(id), 32);
    if (!it_err_wait(p, "DEAD in the inbox", 1, 30)) {
        err = it_proc_err(p);
        fail_msg("the request did not become DEAD: %s", err);
    }
    err = it_proc_err(p);
    assert_non_null(strstr(err, "attempt 1 of 2"));
    free(err);
    assert_int_equal(received(d, id), 2);

    /* status shows it, with no payload in sight; also after a restart,
     * and the restarted serve does not hand it out by itself. */
    assert_int_equal(it_proc_stop(p), 0);
    p = serve_webhook(fx, port, more);
    assert_non_null(p);
    it_sleep_ms(1500);
    assert_int_equal(received(d, id), 2);
    assert_int_equal(it_agent(fx->env, "power", NULL, &r, "status", NULL), 0);
    {
        const char *row = strstr(r.out, id);
        if (row == NULL || strstr(row, "DEAD") == NULL || strstr(row, "not a JSON object") == NULL)
            fail_msg("status does not show the request DEAD with its last error: %s", r.out);
        assert_non_null(strstr(row, "       2  "));
        assert_null(strstr(r.out, "this is not what you expect"));
    }
    it_run_clear(&r);

    /* Fixed, and retried by an operator: the running serve takes it. */
    snprintf(path, sizeof path, "%s/fixed", d);
    assert_int_equal(it_write_file(path, "yes\n"), 0);
    {
        const char *args[] = {"retry", "--from", "city.x", "--msg", id, NULL};
        int st = it_agentv(fx->env, "power", NULL, args, &r);
        if (st != 0 || strstr(r.out, "retried: 1") == NULL)
            fail_msg("retry exited %d: %s %s", st, r.out, r.err);
        it_run_clear(&r);
        /* Not dead any more: a second retry says so. */
        st = it_agentv(fx->env, "power", NULL, args, &r);
        assert_int_not_equal(st, 0);
        it_run_clear(&r);
    }
    wait_answered(fx, id, 30);
    fx->replies++;
    assert_int_equal(lines_with(d, "answered.log", id), 1);
    assert_int_equal(it_agent(fx->env, "power", NULL, &r, "status", NULL), 0);
    assert_null(strstr(r.out, id));
    it_run_clear(&r);
    assert_int_equal(it_proc_stop(p), 0);
}

/* A back office that is not up yet is tried again (1, 2, 4 ... s) until
 * it is; a slow one is given up after --webhook-timeout and tried again. */
static void test_down_then_up_and_slow(void **state)
{
    fixture_t *fx = *state;
    const char *d = it_subdir(fx->env, "bo-late");
    int port = it_free_port();
    const char *more[] = {"--webhook-timeout", "1", NULL};
    it_proc_t *p = serve_webhook(fx, port, more);
    char id[33], *err;
    it_run_t r;

    assert_true(port > 0);
    assert_non_null(p);
    assert_int_equal(send_case(fx, "reply", true, &r, id), 0);
    it_run_clear(&r);
    assert_int_equal(strlen(id), 32);
    if (!it_err_wait(p, "attempt 2 of 6", 1, 20)) {
        err = it_proc_err(p);
        fail_msg("serve did not try again while the back office was down: %s", err);
    }
    err = it_proc_err(p);
    assert_non_null(strstr(err, "no answer: "));
    free(err);
    assert_int_equal(back_office(fx, d, port), port);
    wait_answered(fx, id, 30);
    fx->replies++;
    assert_int_equal(lines_with(d, "answered.log", id), 1);

    /* Slow: the first answer comes after 3 s, past the 1 s timeout. */
    {
        int st = send_case(fx, "slow", false, &r, id);
        if (st != 0 || strstr(r.out, "stopped") == NULL)
            fail_msg("send exited %d, expected the reply after a timed-out attempt: %s", st, r.err);
        it_run_clear(&r);
        fx->replies++;
    }
    err = it_proc_err(p);
    if (strstr(err, "no answer within 1 s") == NULL)
        fail_msg("serve did not give the slow request up: %s", err);
    free(err);
    assert_int_equal(lines_with(d, "answered.log", id), 1);
    assert_int_equal(it_proc_stop(p), 0);
}

/* --webhook-parallel 2: never more than 2 requests at the back office at
 * once, and 2 do run at once. */
static void test_parallel(void **state)
{
    fixture_t *fx = *state;
    const char *d = it_subdir(fx->env, "bo-parallel");
    int port = back_office(fx, d, 0);
    const char *more[] = {"--webhook-parallel", "2", NULL};
    it_proc_t *p = serve_webhook(fx, port, more);
    char ids[6][33], path[1100], *max;
    it_run_t r;

    assert_non_null(p);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(send_case(fx, "parallel", true, &r, ids[i]), 0);
        assert_int_equal(strlen(ids[i]), 32);
        it_run_clear(&r);
    }
    if (!it_err_wait(p, "replied to", 6, 60))
        fail_msg("power did not answer the six requests");
    fx->replies += 6;
    for (int i = 0; i < 6; i++)
        wait_answered(fx, ids[i], 30);
    snprintf(path, sizeof path, "%s/maxconc", d);
    max = it_slurp(path, NULL);
    assert_non_null(max);
    if (atoi(max) != 2)
        fail_msg("the back office held %d requests at once (2 expected)", atoi(max));
    free(max);
    assert_int_equal(it_proc_stop(p), 0);
}

/* Last: each request was answered once (power's outbox holds one reply
 * each), and no back office ever saw the person's number. */
static void test_once_and_private(void **state)
{
    fixture_t *fx = *state;
    char where[1024];
    it_run_t r;

    assert_int_equal(it_agent(fx->env, "power", NULL, &r, "status", "--all", NULL), 0);
    if (it_count(r.out, "(reply)") != (size_t)fx->replies)
        fail_msg("power sent %zu replies, %d expected (one a request): %s", it_count(r.out, "(reply)"),
                 fx->replies, r.out);
    it_run_clear(&r);
    const char *dirs[] = {"bo-answers", "bo-garbage", "bo-late", "bo-parallel"};
    for (size_t i = 0; i < 4; i++) {
        const char *d = it_path(fx->env, dirs[i]);
        if (it_tree_contains(d, NUMBER, strlen(NUMBER), where, sizeof where))
            fail_msg("the back office's files carry the person's number: %s", where);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_and_refusal),     cmocka_unit_test(test_garbage_dead_then_retry),
        cmocka_unit_test(test_down_then_up_and_slow), cmocka_unit_test(test_parallel),
        cmocka_unit_test(test_once_and_private),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
