/*
 * test_it_http - the agent's local HTTP/JSON API (renkei-agent http)
 * through the real programs: hub, agent gateway and a serving recipient.
 *
 *   - every request needs the bearer token: none or a wrong one is 401,
 *     and the agent's log line about it does not carry the token;
 *   - POST /v1/messages sends: 202 with msg_id and state; the same
 *     Idempotency-Key again (also after the gateway restarted) answers the
 *     same msg_id and creates nothing: the recipient receives it once;
 *   - GET /v1/messages/{id} tells its state and history;
 *   - malformed JSON and a missing field are 400 naming the field, a body
 *     over the limit 413 naming it, an unknown path 404, a wrong method
 *     405; the hub's refusal is 422 with its status; with the hub down a
 *     message is 202 PENDING and accepted once the hub is back;
 *   - no answer and no log line carries the resident's number or the code;
 *   - the paths and methods agents/openapi.json describes for sending answer
 *     with a documented status and the documented required fields
 *     (test_it_http_inbox checks the rest of the document).
 *
 * The HTTP client is a plain socket.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define PERSON "TEST-0077-HTTPAPI" /* a made-up resident's number */
#define TYPE "utility.supply.stop"
#define TOKEN "t0ken-for-the-http-api-test-5b1d"
#define BODY_MAX (1u << 20)

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

static int port;

/* One request; returns the status (-1: no answer), the body in *body. */
static int http(const char *method, const char *path, const char *token, const char *idem, const char *body,
                size_t body_len, char **out)
{
    struct sockaddr_in a;
    char head[1024], *buf = NULL, *p;
    size_t len = 0, cap = 0, hl;
    int fd, status = -1;
    ssize_t n;

    *out = NULL;
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
    hl = (size_t)snprintf(head, sizeof head,
                          "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s%s%s%s"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                          method, path, token ? "Authorization: Bearer " : "", token ? token : "",
                          token ? "\r\n" : "", idem ? "Idempotency-Key: " : "", idem ? idem : "",
                          idem ? "\r\n" : "", body ? body_len : 0);
    if (write(fd, head, hl) != (ssize_t)hl) {
        close(fd);
        return -1;
    }
    for (size_t off = 0; body != NULL && off < body_len;) {
        n = write(fd, body + off, body_len - off);
        if (n <= 0)
            break; /* the server may answer (413) and close before all is written */
        off += (size_t)n;
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
    *out = strdup(p != NULL ? p + 4 : "");
    free(buf);
    return status;
}

static int post(const char *idem, const char *body, char **out)
{
    return http("POST", "/v1/messages", TOKEN, idem, body, body ? strlen(body) : 0, out);
}

/* The string field `name` of a JSON object text ("" if absent), copied. */
static void field(const char *text, const char *name, char *out, size_t out_len)
{
    json_t *j = json_loads(text, 0, NULL);
    const char *v = json_string_value(json_object_get(j, name));
    snprintf(out, out_len, "%s", v != NULL ? v : "");
    json_decref(j);
}

static it_proc_t *gateway_start(it_env_t *env)
{
    char key[4096], hubkey[4096], data[4096], token[4096], listen[64];
    it_proc_t *p;

    snprintf(key, sizeof key, "%s", it_path(env, "keys/city.x.key"));
    snprintf(hubkey, sizeof hubkey, "%s", it_path(env, "keys/hub.pub"));
    snprintf(data, sizeof data, "%s", it_path(env, "agents/city.x"));
    snprintf(token, sizeof token, "%s", it_path(env, "http.token"));
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    {
        const char *args[] =
            {"-H",   it_hub_endpoint(env), "-K",   hubkey,         "-k",  key, "-d", data, "-t", "3",
             "http", "--listen",           listen, "--token-file", token, NULL};
        p = it_spawn(env, "renkei-agent", args, "http");
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

/* Lines of the recipient's serve output naming the type (one per message). */
static int deliveries(it_proc_t *serve)
{
    char *out = it_proc_out(serve);
    int n = 0;
    for (const char *p = out; p != NULL && (p = strstr(p, TYPE)) != NULL; p += strlen(TYPE))
        n++;
    free(out);
    return n;
}

static int setup(void **state)
{
    it_env_t *env = it_env_new();
    if (env == NULL)
        return -1;
    if (it_org(env, "city.x", "municipality") != 0 || it_org(env, "power", "utility") != 0 ||
        it_write_file(it_path(env, "http.token"), TOKEN "\n") != 0) {
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

/* A response's body satisfies the `required` of the schema the document
 * gives for (path, method, status); the status is documented at all. */
static void check_documented(json_t *doc, const char *path, const char *method, int status, const char *body)
{
    char code[8];
    json_t *resp, *schema, *req, *got;
    const char *ref;
    size_t i;

    snprintf(code, sizeof code, "%d", status);
    resp = json_object_get(json_object_get(json_object_get(json_object_get(doc, "paths"), path), method),
                           "responses");
    if (json_object_get(resp, code) == NULL)
        fail_msg("%s %s answered %d, which agents/openapi.json does not document", method, path, status);
    schema = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(resp, code),
                                                                             "content"),
                                                             "application/json"),
                                             "schema"),
                             "$ref");
    ref = json_string_value(schema);
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

static void no_secrets(const char *what, const char *text)
{
    if (text != NULL && strstr(text, PERSON) != NULL)
        fail_msg("%s carries the resident's number: %s", what, text);
}

static void test_http_api(void **state)
{
    it_env_t *env = *state;
    char *body = NULL, *err, *big, msg_id[64], again[64], path[128], code[64], st[32], request[512];
    it_proc_t *gw, *serve, *city;
    it_run_t r;
    json_t *doc;
    json_error_t jerr;

    port = free_port();
    assert_int_equal(it_hub_start(env, NULL), 0);
    assert_int_equal(it_agent(env, "city.x", PERSON "\n", &r, "enroll", NULL), 0);
    snprintf(code, sizeof code, "%s", it_chomp(r.out));
    it_run_clear(&r);
    gw = gateway_start(env);
    snprintf(request, sizeof request,
             "{\"to\":\"power\",\"type\":\"" TYPE "\",\"person\":\"" PERSON "\","
             "\"payload\":{\"request\":\"stop\",\"date\":\"2025-03-31\"},\"no_reply\":true}");

    /* the token */
    assert_int_equal(http("POST", "/v1/messages", NULL, "k-1", request, strlen(request), &body), 401);
    no_secrets("a 401 answer", body);
    free(body);
    assert_int_equal(http("GET", "/v1/messages/00", "wrong-token-wrong-token", NULL, NULL, 0, &body), 401);
    free(body);
    err = it_proc_err(gw);
    if (strstr(err, "bearer token") == NULL || strstr(err, "wrong-token-wrong-token") != NULL ||
        strstr(err, TOKEN) != NULL)
        fail_msg("the gateway's log about a refused token: %s", err);
    free(err);

    /* bad requests */
    assert_int_equal(post("k-1", "{\"to\":\"power\",", &body), 400);
    no_secrets("a 400 answer", body);
    free(body);
    assert_int_equal(post("k-1", "{\"to\":\"power\",\"type\":\"" TYPE "\",\"payload\":{}}", &body), 400);
    if (strstr(body, "\"person\"") == NULL && strstr(body, "\\\"person\\\"") == NULL)
        fail_msg("a missing person is not named: %s", body);
    free(body);
    assert_int_equal(post(NULL, request, &body), 400);
    assert_non_null(strstr(body, "Idempotency-Key"));
    free(body);
    big = malloc(BODY_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', BODY_MAX + 1);
    big[0] = '{';
    big[BODY_MAX] = '}';
    big[BODY_MAX + 1] = '\0';
    assert_int_equal(post("k-big", big, &body), 413);
    if (strstr(body, "1048576") == NULL)
        fail_msg("a 413 answer does not name the limit: %s", body);
    free(body);
    free(big);
    assert_int_equal(http("GET", "/v2/nothing", TOKEN, NULL, NULL, 0, &body), 404);
    free(body);
    assert_int_equal(http("GET", "/v1/messages", TOKEN, NULL, NULL, 0, &body), 405);
    free(body);
    assert_int_equal(http("DELETE", "/v1/messages/00112233445566778899aabbccddeeff", TOKEN, NULL, NULL, 0,
                          &body),
                     405);
    free(body);

    /* a message, then the same key again: one message */
    assert_int_equal(post("order-1001", request, &body), 202);
    field(body, "msg_id", msg_id, sizeof msg_id);
    field(body, "state", st, sizeof st);
    assert_int_equal(strlen(msg_id), 32);
    assert_string_equal(st, "ACCEPTED");
    free(body);
    assert_int_equal(post("order-1001", request, &body), 202);
    field(body, "msg_id", again, sizeof again);
    assert_string_equal(again, msg_id);
    free(body);
    /* the same key for another message is a conflict, not a send */
    {
        char other[512];
        snprintf(other, sizeof other,
                 "{\"to\":\"power\",\"type\":\"utility.supply.start\",\"person\":\"" PERSON
                 "\",\"payload\":1}");
        assert_int_equal(post("order-1001", other, &body), 409);
        free(body);
    }
    /* ...also after the gateway restarted */
    assert_int_equal(it_proc_stop(gw), 0);
    gw = gateway_start(env);
    assert_int_equal(post("order-1001", request, &body), 202);
    field(body, "msg_id", again, sizeof again);
    assert_string_equal(again, msg_id);
    free(body);

    /* the recipient receives it once */
    serve = it_serve_start(env, "power", NULL, 0);
    assert_non_null(serve);
    for (int t = 0; t < 500 && deliveries(serve) < 1; t++)
        sleep_ms(20);
    sleep_ms(1500);
    assert_int_equal(deliveries(serve), 1);

    /* its state and history: accepted; DELIVERED once a receiver of
     * city.x's data directory takes in the hub's notice (the gateway, a
     * receiver too, every few seconds, or the serve process below) */
    snprintf(path, sizeof path, "/v1/messages/%s", msg_id);
    assert_int_equal(http("GET", path, TOKEN, NULL, NULL, 0, &body), 200);
    field(body, "state", st, sizeof st);
    if ((strcmp(st, "ACCEPTED") != 0 && strcmp(st, "DELIVERED") != 0) ||
        strstr(body, "\"history\"") == NULL || strstr(body, "\"ACCEPTED\"") == NULL ||
        strstr(body, "\"PENDING\"") == NULL)
        fail_msg("GET %s after sending: %s", path, body);
    free(body);
    body = NULL;
    city = it_serve_start(env, "city.x", NULL, 0);
    assert_non_null(city);
    for (int t = 0; t < 100; t++) {
        assert_int_equal(http("GET", path, TOKEN, NULL, NULL, 0, &body), 200);
        field(body, "state", st, sizeof st);
        if (strcmp(st, "DELIVERED") == 0)
            break;
        free(body);
        body = NULL;
        sleep_ms(100);
    }
    if (strcmp(st, "DELIVERED") != 0 || strstr(body, "\"DELIVERED\"") == NULL)
        fail_msg("GET %s once delivered: %s", path, body);
    no_secrets("GET /v1/messages/{id}", body);
    if (strstr(body, code) != NULL)
        fail_msg("GET /v1/messages/{id} carries the link code: %s", body);
    free(body);
    assert_int_equal(it_proc_stop(city), 0);
    assert_int_equal(http("GET", "/v1/messages/00112233445566778899aabbccddeeff", TOKEN, NULL, NULL, 0,
                          &body),
                     404);
    free(body);

    /* the hub's refusal */
    {
        char nobody[512];
        snprintf(nobody, sizeof nobody,
                 "{\"to\":\"nobody\",\"type\":\"" TYPE "\",\"person\":\"" PERSON "\",\"payload\":{}}");
        assert_int_equal(post("order-1002", nobody, &body), 422);
        field(body, "status", st, sizeof st);
        assert_string_equal(st, "UNKNOWN_RECIPIENT");
        free(body);
    }

    /* every path and method of the document answers as documented */
    doc = json_load_file(RENKEI_SOURCE_DIR "/agents/openapi.json", 0, &jerr);
    if (doc == NULL)
        fail_msg("agents/openapi.json: %s (line %d)", jerr.text, jerr.line);
    {
        const char *p;
        json_t *ops, *op;
        int n = 0;
        json_object_foreach(json_object_get(doc, "paths"), p, ops)
        {
            const char *m;
            json_object_foreach(ops, m, op)
            {
                char url[128], method[8];
                int status;
                size_t i;
                /* the other operations (the inbox, the search) are called
                 * and checked by test_it_http_inbox */
                if (strcmp(p, "/v1/messages") != 0 && strcmp(p, "/v1/messages/{msg_id}") != 0)
                    continue;
                if (strcmp(p, "/v1/messages/{msg_id}") == 0)
                    snprintf(url, sizeof url, "/v1/messages/%s", msg_id);
                else
                    snprintf(url, sizeof url, "%s", p);
                for (i = 0; m[i] != '\0' && i + 1 < sizeof method; i++)
                    method[i] = (char)(m[i] >= 'a' && m[i] <= 'z' ? m[i] - 32 : m[i]);
                method[i] = '\0';
                status = http(method, url, TOKEN, "order-1001", strcmp(method, "POST") == 0 ? request : NULL,
                              strcmp(method, "POST") == 0 ? strlen(request) : 0, &body);
                assert_true(status == 200 || status == 202);
                check_documented(doc, p, m, status, body);
                free(body);
                status = http(method, url, NULL, NULL, NULL, 0, &body);
                assert_int_equal(status, 401);
                check_documented(doc, p, m, status, body);
                free(body);
                n++;
            }
        }
        assert_int_equal(n, 2);
    }
    json_decref(doc);

    /* the hub down: kept, PENDING, accepted once it is back */
    assert_int_equal(it_hub_stop(env), 0);
    assert_int_equal(post("order-1003", request, &body), 202);
    field(body, "state", st, sizeof st);
    field(body, "msg_id", again, sizeof again);
    assert_string_equal(st, "PENDING");
    free(body);
    assert_int_equal(it_hub_restart(env, NULL), 0);
    snprintf(path, sizeof path, "/v1/messages/%s", again);
    for (int t = 0; t < 300; t++) {
        assert_int_equal(http("GET", path, TOKEN, NULL, NULL, 0, &body), 200);
        field(body, "state", st, sizeof st);
        free(body);
        if (strcmp(st, "PENDING") != 0)
            break;
        sleep_ms(100);
    }
    if (strcmp(st, "PENDING") == 0)
        fail_msg("a message kept while the hub was down is still PENDING 30 s after it came back");
    for (int t = 0; t < 500 && deliveries(serve) < 2; t++)
        sleep_ms(20);
    assert_int_equal(deliveries(serve), 2);

    assert_int_equal(it_proc_stop(serve), 0);
    assert_int_equal(it_proc_stop(gw), 0);
    err = it_proc_err(gw);
    no_secrets("the gateway's log", err);
    if (strstr(err, code) != NULL)
        fail_msg("the gateway's log carries the link code: %s", err);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_api, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
