/*
 * test_it_http_inbox - a back office that receives and answers through the
 * agent's HTTP API only (renkei-agent http), with the real hub and two
 * gateways: the municipality city.x sends through its gateway, the utility
 * power's back office receives through its own.  The client is Python's
 * urllib, as another language's client would be.
 *
 *   - GET /v1/inbox?wait=SECS hands out a delivered request (the object
 *     serve prints); one not answered within --lease is handed out again;
 *     after kill -9 of the gateway and a restart it is handed out again:
 *     nothing is lost;
 *   - POST /v1/inbox/{from}/{msg_id}/reply sends the reply, and the sender
 *     sees it ANSWERED; the same reply again is 409 naming the first reply,
 *     not a second one; /refuse gives the sender REFUSED_BY_RECIPIENT with
 *     the reason; /done marks a notice handled (again: the same answer);
 *   - a long-poll held on one connection does not hold up a send on another;
 *     with nothing to hand out it ends with 204;
 *   - POST /v1/messages/search {"person"} lists that person's messages and
 *     not another's; an unknown person gets the same empty list;
 *   - bad input: malformed JSON and a missing field 400 naming it, a body
 *     over the limit 413 naming it, a wrong token 401 (the log line does not
 *     carry it), an unknown message 404, a wrong method 405;
 *   - with --tls-cert/--tls-key the API is served over HTTPS (a self-signed
 *     certificate made by openssl, checked by the client);
 *   - every answer has a status and the required fields agents/openapi.json
 *     documents for it, and every operation the document lists was called;
 *   - no log line of either gateway carries a number or a link code.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define PERSON "TEST-0078-INBOX-A" /* made-up residents' numbers */
#define PERSON2 "TEST-0079-INBOX-B"
#define PERSON3 "TEST-0080-INBOX-NONE" /* never enrolled */
#define TYPE "utility.supply.stop"
#define TOKEN "t0ken-for-the-http-inbox-test-77"
#define REASON "no contract for this customer"
#define BODY_MAX (1u << 20)

static it_env_t *env;
static json_t *doc;    /* agents/openapi.json */
static json_t *called; /* "METHOD path-template" -> true */
static char city_url[64], power_url[64];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

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

/* The client: METHOD URL TOKEN|- IDEM|- BODYFILE|- CAFILE|- OUT; writes
 * "STATUS\nBODY" to OUT (through OUT.tmp: complete once it is there). */
static const char client_py[] = "import sys, os, ssl, urllib.request, urllib.error\n"
                                "method, url, token, idem, bodyf, ca, out = sys.argv[1:8]\n"
                                "data = open(bodyf, 'rb').read() if bodyf != '-' else None\n"
                                "req = urllib.request.Request(url, data=data, method=method)\n"
                                "if token != '-': req.add_header('Authorization', 'Bearer ' + token)\n"
                                "if idem != '-': req.add_header('Idempotency-Key', idem)\n"
                                "if data is not None: req.add_header('Content-Type', 'application/json')\n"
                                "ctx = ssl.create_default_context(cafile=ca) if ca != '-' else None\n"
                                "try:\n"
                                "    with urllib.request.urlopen(req, timeout=90, context=ctx) as r:\n"
                                "        status, body = r.status, r.read()\n"
                                "except urllib.error.HTTPError as e:\n"
                                "    status, body = e.code, e.read()\n"
                                "except Exception as e:\n"
                                "    status, body = -1, repr(e).encode()\n"
                                "with open(out + '.tmp', 'wb') as f:\n"
                                "    f.write(b'%d\\n' % status + body)\n"
                                "os.rename(out + '.tmp', out)\n";

static int calls;

/* Starts a request in the background; its answer will be in *out_path. */
static void web_start(const char *method, const char *url, const char *token, const char *idem,
                      const char *body, const char *ca, char *out_path, size_t out_len)
{
    char cmd[8192], bodyf[4096] = "-";
    int n = ++calls;

    if (body != NULL) {
        char rel[64];
        snprintf(rel, sizeof rel, "run/req-%d.json", n);
        snprintf(bodyf, sizeof bodyf, "%s", it_path(env, rel));
        assert_int_equal(it_write_file(bodyf, body), 0);
    }
    {
        char rel[64];
        snprintf(rel, sizeof rel, "run/ans-%d.txt", n);
        snprintf(out_path, out_len, "%s", it_path(env, rel));
    }
    snprintf(cmd, sizeof cmd, "python3 %s '%s' '%s' '%s' '%s' '%s' '%s' '%s' &", it_path(env, "client.py"),
             method, url, token ? token : "-", idem ? idem : "-", bodyf, ca ? ca : "-", out_path);
    assert_int_equal(system(cmd), 0);
}

/* Waits up to timeout_s for the answer: the status, the body in *body. */
static int web_finish(const char *out_path, int timeout_s, char **body)
{
    char *text = NULL, *nl;
    int status;

    for (int t = 0; t < timeout_s * 50 && (text = it_slurp(out_path, NULL)) == NULL; t++)
        sleep_ms(20);
    if (text == NULL)
        fail_msg("no answer within %d s", timeout_s);
    status = atoi(text);
    nl = strchr(text, '\n');
    *body = strdup(nl != NULL ? nl + 1 : "");
    free(text);
    return status;
}

/* A response's body has the required fields of the schema the document
 * gives for (path template, method, status), and that status is documented. */
static void check_documented(const char *path, const char *method, int status, const char *body)
{
    char code[8], lower[8], key[200];
    json_t *op, *resp, *content, *schema, *req, *got;
    const char *ref;
    size_t i;

    for (i = 0; method[i] != '\0' && i + 1 < sizeof lower; i++)
        lower[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] + 32 : method[i]);
    lower[i] = '\0';
    op = json_object_get(json_object_get(json_object_get(doc, "paths"), path), lower);
    if (op == NULL)
        return; /* an undocumented method (405): checked by the caller */
    snprintf(key, sizeof key, "%s %s", method, path);
    json_object_set_new(called, key, json_true());
    snprintf(code, sizeof code, "%d", status);
    resp = json_object_get(json_object_get(op, "responses"), code);
    if (resp == NULL)
        fail_msg("%s %s answered %d, which agents/openapi.json does not document", method, path, status);
    content = json_object_get(resp, "content");
    if (content == NULL) {
        if (body[0] != '\0')
            fail_msg("%s %s answered %d with a body the document does not describe: %s", method, path, status,
                     body);
        return;
    }
    ref = json_string_value(
        json_object_get(json_object_get(json_object_get(content, "application/json"), "schema"), "$ref"));
    assert_non_null(ref);
    assert_true(strncmp(ref, "#/components/schemas/", 21) == 0);
    schema = json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), ref + 21);
    assert_non_null(schema);
    got = json_loads(body, 0, NULL);
    if (!json_is_object(got))
        fail_msg("%s %s answered %d with a body that is no JSON object: %s", method, path, status, body);
    json_array_foreach(json_object_get(schema, "required"), i, req)
    {
        if (json_object_get(got, json_string_value(req)) == NULL)
            fail_msg("%s %s answered %d without the documented field %s: %s", method, path, status,
                     json_string_value(req), body);
    }
    json_decref(got);
}

/* One request, answered within 90 s, checked against the document under
 * the path template tmpl. */
static int web(const char *method, const char *base, const char *url_path, const char *tmpl,
               const char *token, const char *idem, const char *body, char **out)
{
    char url[512], path[4096];
    int status;

    snprintf(url, sizeof url, "%s%s", base, url_path);
    web_start(method, url, token, idem, body, NULL, path, sizeof path);
    status = web_finish(path, 90, out);
    if (status <= 0)
        fail_msg("%s %s: no HTTP answer: %s", method, url, *out);
    if (tmpl != NULL)
        check_documented(tmpl, method, status, *out);
    return status;
}

static void field(const char *text, const char *name, char *out, size_t out_len)
{
    json_t *j = json_loads(text, 0, NULL);
    const char *v = json_string_value(json_object_get(j, name));
    snprintf(out, out_len, "%s", v != NULL ? v : "");
    json_decref(j);
}

static it_proc_t *gateway_start(const char *org, int port, const char *extra1, const char *extra2,
                                const char *extra3, const char *extra4)
{
    char key[4096], hubkey[4096], data[4096], token[4096], listen[64], rel[64];
    it_proc_t *p;

    snprintf(rel, sizeof rel, "keys/%s.key", org);
    snprintf(key, sizeof key, "%s", it_path(env, rel));
    snprintf(hubkey, sizeof hubkey, "%s", it_path(env, "keys/hub.pub"));
    snprintf(rel, sizeof rel, "agents/%s", org);
    snprintf(data, sizeof data, "%s", it_path(env, rel));
    snprintf(token, sizeof token, "%s", it_path(env, "http.token"));
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    {
        const char *args[] = {"-H",   it_hub_endpoint(env),
                              "-K",   hubkey,
                              "-k",   key,
                              "-d",   data,
                              "-t",   "3",
                              "http", "--listen",
                              listen, "--token-file",
                              token,  "--lease",
                              "3",    extra1,
                              extra2, extra3,
                              extra4, NULL};
        p = it_spawn(env, "renkei-agent", args, org);
    }
    assert_non_null(p);
    for (int t = 0; t < 1500; t++) {
        char *e = it_proc_err(p);
        bool up = e != NULL && strstr(e, "serving the HTTP API on") != NULL;
        free(e);
        if (up)
            return p;
        if (!it_proc_running(p))
            break;
        sleep_ms(10);
    }
    {
        char *e = it_proc_err(p);
        fail_msg("renkei-agent http did not start: %s", e);
    }
    return NULL;
}

/* city.x sends a request (or a notice) about person through its gateway;
 * its msg_id into id. */
static void city_send(const char *person, bool notice, const char *idem, char id[64])
{
    char body[512], *out;
    snprintf(body, sizeof body,
             "{\"to\":\"power\",\"type\":\"" TYPE "\",\"person\":\"%s\",\"payload\":{\"request\":\"stop\","
             "\"date\":\"2025-03-31\"}%s}",
             person, notice ? ",\"no_reply\":true" : "");
    assert_int_equal(web("POST", city_url, "/v1/messages", "/v1/messages", TOKEN, idem, body, &out), 202);
    field(out, "msg_id", id, 64);
    assert_int_equal(strlen(id), 32);
    free(out);
}

/* The next message power's back office is handed (200), its msg_id in id. */
static void power_poll(const char *want_id, int wait_s)
{
    char url[64], *out, got[64], from[64], type[64];
    json_t *j;
    snprintf(url, sizeof url, "/v1/inbox?wait=%d", wait_s);
    assert_int_equal(web("GET", power_url, url, "/v1/inbox", TOKEN, NULL, NULL, &out), 200);
    field(out, "msg_id", got, sizeof got);
    field(out, "from", from, sizeof from);
    field(out, "type", type, sizeof type);
    if (strcmp(got, want_id) != 0 || strcmp(from, "city.x") != 0 || strcmp(type, TYPE) != 0)
        fail_msg("GET /v1/inbox handed out %s, expected message %s from city.x: %s", got, want_id, out);
    j = json_loads(out, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "payload"), "date")),
                        "2025-03-31");
    json_decref(j);
    free(out);
}

/* city.x's record of msg id once it reaches state (within 20 s). */
static char *city_wait_state(const char *id, const char *state)
{
    char path[128], st[32], *out = NULL;
    snprintf(path, sizeof path, "/v1/messages/%s", id);
    for (int t = 0; t < 100; t++) {
        assert_int_equal(web("GET", city_url, path, "/v1/messages/{msg_id}", TOKEN, NULL, NULL, &out), 200);
        field(out, "state", st, sizeof st);
        if (strcmp(st, state) == 0)
            return out;
        free(out);
        sleep_ms(200);
    }
    fail_msg("message %s did not become %s", id, state);
    return NULL;
}

static void no_secrets(const char *what, const char *text, const char *code)
{
    if (text == NULL)
        return;
    if (strstr(text, PERSON) != NULL || strstr(text, PERSON2) != NULL || strstr(text, PERSON3) != NULL)
        fail_msg("%s carries a resident's number: %s", what, text);
    if (code != NULL && strstr(text, code) != NULL)
        fail_msg("%s carries a link code: %s", what, text);
}

static int setup(void **state)
{
    json_error_t jerr;
    (void)state;
    env = it_env_new();
    if (env == NULL)
        return -1;
    if (it_org(env, "city.x", "municipality") != 0 || it_org(env, "power", "utility") != 0 ||
        it_write_file(it_path(env, "http.token"), TOKEN "\n") != 0 ||
        it_write_file(it_path(env, "client.py"), client_py) != 0) {
        it_env_destroy(&env);
        return -1;
    }
    chmod(it_path(env, "http.token"), 0600);
    doc = json_load_file(RENKEI_SOURCE_DIR "/agents/openapi.json", 0, &jerr);
    called = json_object();
    return doc != NULL && called != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(doc);
    json_decref(called);
    it_env_destroy(&env);
    return 0;
}

static void test_http_inbox(void **state)
{
    char r1[64], r2[64], n3[64], r4[64], r5[64], reply_id[64], again[64], path[256], st[64], code[64],
        code2[64], *out, *err, poll_out[4096];
    it_proc_t *city, *power;
    it_run_t r;
    int city_port = free_port(), power_port = free_port();

    (void)state;
    snprintf(city_url, sizeof city_url, "http://127.0.0.1:%d", city_port);
    snprintf(power_url, sizeof power_url, "http://127.0.0.1:%d", power_port);
    assert_int_equal(it_hub_start(env, NULL), 0);
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "enroll", NULL), 0);
    snprintf(code, sizeof code, "%s", it_chomp(r.out));
    it_run_clear(&r);
    assert_int_equal(it_agent(env, "city.x", PERSON2 "\n", &r, "enroll", NULL), 0);
    snprintf(code2, sizeof code2, "%s", it_chomp(r.out));
    it_run_clear(&r);
    city = gateway_start("city.x", city_port, NULL, NULL, NULL, NULL);
    power = gateway_start("power", power_port, NULL, NULL, NULL, NULL);

    /* a request reaches power's back office through GET /v1/inbox */
    city_send(PERSON, false, "req-1", r1);
    power_poll(r1, 20);
    /* not answered within the lease (3 s): handed out again */
    power_poll(r1, 20);

    /* the gateway killed after handing it out: handed out again after a
     * restart, nothing lost */
    it_proc_kill(power);
    power = gateway_start("power", power_port, NULL, NULL, NULL, NULL);
    power_poll(r1, 20);

    /* the reply */
    snprintf(path, sizeof path, "/v1/inbox/city.x/%s/reply", r1);
    assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/reply", TOKEN, NULL,
                         "{\"payload\":{\"stopped\":\"2025-03-31\"}}", &out),
                     202);
    field(out, "msg_id", reply_id, sizeof reply_id);
    assert_int_equal(strlen(reply_id), 32);
    free(out);
    /* once: the same reply again names the first one */
    assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/reply", TOKEN, NULL,
                         "{\"payload\":{\"stopped\":\"2025-03-31\"}}", &out),
                     409);
    field(out, "reply_msg_id", again, sizeof again);
    assert_string_equal(again, reply_id);
    free(out);
    /* the sender sees it answered, and its back office receives the reply */
    out = city_wait_state(r1, "ANSWERED");
    field(out, "reply_msg_id", again, sizeof again);
    assert_string_equal(again, reply_id);
    free(out);
    assert_int_equal(web("GET", city_url, "/v1/inbox?wait=20", "/v1/inbox", TOKEN, NULL, NULL, &out), 200);
    field(out, "msg_id", again, sizeof again);
    assert_string_equal(again, reply_id);
    field(out, "reply_to", again, sizeof again);
    assert_string_equal(again, r1);
    if (strstr(out, "2025-03-31") == NULL)
        fail_msg("the reply's payload: %s", out);
    free(out);
    snprintf(path, sizeof path, "/v1/inbox/power/%s/done", reply_id);
    assert_int_equal(web("POST", city_url, path, "/v1/inbox/{from}/{msg_id}/done", TOKEN, NULL, NULL, &out),
                     200);
    field(out, "state", st, sizeof st);
    assert_string_equal(st, "DONE");
    free(out);

    /* a refusal: the sender sees REFUSED_BY_RECIPIENT with the reason */
    city_send(PERSON, false, "req-2", r2);
    power_poll(r2, 20);
    snprintf(path, sizeof path, "/v1/inbox/city.x/%s/refuse", r2);
    assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/refuse", TOKEN, NULL,
                         "{\"reason\":\"" REASON "\"}", &out),
                     200);
    field(out, "state", st, sizeof st);
    assert_string_equal(st, "REFUSED");
    free(out);
    out = city_wait_state(r2, "REFUSED");
    if (strstr(out, "REFUSED_BY_RECIPIENT") == NULL || strstr(out, REASON) == NULL)
        fail_msg("the sender's record of a refused request: %s", out);
    free(out);
    /* refused already: not again, and no reply after it */
    assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/refuse", TOKEN, NULL,
                         "{\"reason\":\"" REASON "\"}", &out),
                     409);
    free(out);

    /* a notice, marked done (twice: the same answer), then no reply to it */
    city_send(PERSON2, true, "notice-3", n3);
    power_poll(n3, 20);
    snprintf(path, sizeof path, "/v1/inbox/city.x/%s/done", n3);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/done", TOKEN, NULL, NULL,
                             &out),
                         200);
        field(out, "state", st, sizeof st);
        assert_string_equal(st, "DONE");
        free(out);
    }
    snprintf(path, sizeof path, "/v1/inbox/city.x/%s/reply", n3);
    assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/reply", TOKEN, NULL,
                         "{\"payload\":1}", &out),
                     409);
    free(out);
    /* nothing else is waiting: a short long-poll ends with 204 */
    assert_int_equal(web("GET", power_url, "/v1/inbox?wait=1", "/v1/inbox", TOKEN, NULL, NULL, &out), 204);
    free(out);

    /* a long-poll held on one connection does not hold up a send on another */
    {
        char url[128];
        snprintf(url, sizeof url, "%s/v1/inbox?wait=15&what=requests", city_url);
        web_start("GET", url, TOKEN, NULL, NULL, NULL, poll_out, sizeof poll_out);
        sleep_ms(1000);
        city_send(PERSON, false, "req-4", r4);
        if (it_slurp(poll_out, NULL) != NULL)
            fail_msg("the long-poll ended before the send it should not have held up");
        assert_int_equal(web_finish(poll_out, 30, &out), 204);
        check_documented("/v1/inbox", "GET", 204, out);
        free(out);
        power_poll(r4, 20);
        snprintf(path, sizeof path, "/v1/inbox/city.x/%s/done", r4);
        assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/done", TOKEN, NULL, NULL,
                             &out),
                         200);
        free(out);
    }

    /* the messages about one person, and not another's */
    city_send(PERSON2, false, "req-5", r5);
    {
        json_t *j, *m;
        size_t i;
        const char *want[] = {r1, r2, r4};
        assert_int_equal(web("POST", city_url, "/v1/messages/search", "/v1/messages/search", TOKEN, NULL,
                             "{\"person\":\"" PERSON "\"}", &out),
                         200);
        j = json_loads(out, 0, NULL);
        if (json_array_size(json_object_get(j, "messages")) != 3)
            fail_msg("the messages about the first person: %s", out);
        json_array_foreach(json_object_get(j, "messages"), i, m)
        {
            if (strcmp(json_string_value(json_object_get(m, "msg_id")), want[i]) != 0)
                fail_msg("message %zu about the first person: %s", i, out);
        }
        json_decref(j);
        no_secrets("a search answer", out, code);
        free(out);
        assert_int_equal(web("POST", city_url, "/v1/messages/search", "/v1/messages/search", TOKEN, NULL,
                             "{\"person\":\"" PERSON2 "\"}", &out),
                         200);
        if (strstr(out, n3) == NULL || strstr(out, r5) == NULL || strstr(out, r1) != NULL ||
            strstr(out, r4) != NULL)
            fail_msg("the messages about the second person: %s", out);
        free(out);
        assert_int_equal(web("POST", city_url, "/v1/messages/search", "/v1/messages/search", TOKEN, NULL,
                             "{\"person\":\"" PERSON3 "\"}", &out),
                         200);
        j = json_loads(out, 0, NULL);
        if (!json_is_array(json_object_get(j, "messages")) ||
            json_array_size(json_object_get(j, "messages")) != 0)
            fail_msg("an unknown person: %s", out);
        json_decref(j);
        free(out);
    }

    /* bad input */
    snprintf(path, sizeof path, "/v1/inbox/city.x/%s/reply", r5);
    assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/reply", TOKEN, NULL,
                         "{\"payload\":", &out),
                     400);
    if (strstr(out, "JSON") == NULL)
        fail_msg("malformed JSON: %s", out);
    free(out);
    assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/reply", TOKEN, NULL,
                         "{\"answer\":1}", &out),
                     400);
    if (strstr(out, "payload") == NULL)
        fail_msg("a reply without payload does not name the field: %s", out);
    free(out);
    snprintf(path, sizeof path, "/v1/inbox/city.x/%s/refuse", r5);
    assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/refuse", TOKEN, NULL, "{}",
                         &out),
                     400);
    if (strstr(out, "reason") == NULL)
        fail_msg("a refusal without reason does not name the field: %s", out);
    free(out);
    assert_int_equal(web("POST", city_url, "/v1/messages/search", "/v1/messages/search", TOKEN, NULL,
                         "{\"who\":\"x\"}", &out),
                     400);
    if (strstr(out, "person") == NULL)
        fail_msg("a search without person does not name the field: %s", out);
    free(out);
    {
        char *big = malloc(BODY_MAX + 16);
        assert_non_null(big);
        memset(big, ' ', BODY_MAX + 8);
        memcpy(big, "{\"payload\":1", 12);
        big[BODY_MAX + 8] = '}';
        big[BODY_MAX + 9] = '\0';
        snprintf(path, sizeof path, "/v1/inbox/city.x/%s/reply", r5);
        assert_int_equal(web("POST", power_url, path, "/v1/inbox/{from}/{msg_id}/reply", TOKEN, NULL, big,
                             &out),
                         413);
        if (strstr(out, "1048576") == NULL)
            fail_msg("a 413 answer does not name the limit: %s", out);
        free(out);
        free(big);
    }
    assert_int_equal(web("GET", power_url, "/v1/inbox?wait=0", "/v1/inbox", "wrong-token-wrong-token-xyz",
                         NULL, NULL, &out),
                     401);
    free(out);
    err = it_proc_err(power);
    if (strstr(err, "bearer token") == NULL || strstr(err, "wrong-token-wrong-token-xyz") != NULL ||
        strstr(err, TOKEN) != NULL)
        fail_msg("the gateway's log about a refused token: %s", err);
    free(err);
    assert_int_equal(web("POST", power_url, "/v1/inbox/city.x/00112233445566778899aabbccddeeff/reply",
                         "/v1/inbox/{from}/{msg_id}/reply", TOKEN, NULL, "{\"payload\":1}", &out),
                     404);
    free(out);
    assert_int_equal(web("GET", power_url, "/v1/inbox?wait=999", "/v1/inbox", TOKEN, NULL, NULL, &out), 400);
    if (strstr(out, "wait") == NULL)
        fail_msg("a bad wait is not named: %s", out);
    free(out);
    snprintf(path, sizeof path, "/v1/inbox/city.x/%s/done", r5);
    assert_int_equal(web("GET", power_url, path, NULL, TOKEN, NULL, NULL, &out), 405);
    free(out);
    assert_int_equal(web("POST", power_url, "/v1/inbox", NULL, TOKEN, NULL, "{}", &out), 405);
    free(out);
    assert_int_equal(web("GET", city_url, "/v1/messages/search", NULL, TOKEN, NULL, NULL, &out), 405);
    free(out);

    /* every operation the document lists was called above, also without
     * the token (401, as documented) */
    {
        const char *p, *m;
        json_t *ops, *op;
        json_object_foreach(json_object_get(doc, "paths"), p, ops)
        {
            json_object_foreach(ops, m, op)
            {
                char key[200], method[8], url[256];
                size_t i;
                if (strcmp(m, "parameters") == 0)
                    continue;
                for (i = 0; m[i] != '\0' && i + 1 < sizeof method; i++)
                    method[i] = (char)(m[i] - 32);
                method[i] = '\0';
                snprintf(key, sizeof key, "%s %s", method, p);
                if (strcmp(p, "/v1/messages") == 0 || strcmp(p, "/v1/messages/{msg_id}") == 0)
                    continue; /* test_it_http covers those */
                if (json_object_get(called, key) == NULL)
                    fail_msg("agents/openapi.json describes %s, which this test never called", key);
                snprintf(url, sizeof url, "%s", p);
                if (strncmp(p, "/v1/inbox/{from}/{msg_id}/", 26) == 0)
                    snprintf(url, sizeof url, "/v1/inbox/city.x/%s/%s", r5, p + 26);
                assert_int_equal(web(method, power_url, url, p, NULL, NULL, NULL, &out), 401);
                free(out);
            }
        }
    }

    /* HTTPS: a self-signed certificate, checked by the client */
    {
        char cmd[16384], crt[4096], keyf[4096], url[128], ans[4096];
        int tls_port = free_port();
        it_proc_t *tls;
        snprintf(crt, sizeof crt, "%s", it_path(env, "tls.crt"));
        snprintf(keyf, sizeof keyf, "%s", it_path(env, "tls.key"));
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                 "-addext subjectAltName=IP:127.0.0.1 -keyout '%s' -out '%s' >/dev/null 2>&1",
                 keyf, crt);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(it_proc_stop(power), 0);
        err = it_proc_err(power);
        no_secrets("power's gateway log", err, NULL);
        free(err);
        power = NULL;
        tls = gateway_start("power", tls_port, "--tls-cert", crt, "--tls-key", keyf);
        snprintf(url, sizeof url, "https://127.0.0.1:%d/v1/inbox?wait=10", tls_port);
        web_start("GET", url, TOKEN, NULL, NULL, crt, ans, sizeof ans);
        assert_int_equal(web_finish(ans, 30, &out), 200);
        field(out, "msg_id", again, sizeof again);
        assert_string_equal(again, r5);
        free(out);
        snprintf(url, sizeof url, "https://127.0.0.1:%d/v1/inbox/city.x/%s/reply", tls_port, r5);
        {
            char bodyf_text[] = "{\"payload\":{\"over\":\"tls\"}}";
            web_start("POST", url, TOKEN, NULL, bodyf_text, crt, ans, sizeof ans);
        }
        assert_int_equal(web_finish(ans, 30, &out), 202);
        free(out);
        /* plain HTTP to it is no answer */
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/inbox?wait=0", tls_port);
        web_start("GET", url, TOKEN, NULL, NULL, NULL, ans, sizeof ans);
        assert_true(web_finish(ans, 30, &out) != 200);
        free(out);
        assert_int_equal(it_proc_stop(tls), 0);
        err = it_proc_err(tls);
        if (strstr(err, "https://") == NULL)
            fail_msg("the HTTPS gateway's log: %s", err);
        no_secrets("the HTTPS gateway's log", err, code);
        free(err);
        out = city_wait_state(r5, "ANSWERED");
        free(out);
    }

    assert_int_equal(it_proc_stop(city), 0);
    err = it_proc_err(city);
    no_secrets("city.x's gateway log", err, code);
    no_secrets("city.x's gateway log", err, code2);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_inbox, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
