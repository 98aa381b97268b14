/*
 * test_it_openapi_client - the agent's HTTP API as a third party sees it:
 * a client written from agents/openapi.json and proto/README.md alone
 * (tests/clients/renkei_http_client.py, Python's standard library only)
 * plays a municipality and a utility over two `renkei-agent http` gateways
 * of a real hub (tests/clients/scenario.py):
 *
 *   - the municipality sends a request about a resident; the utility's back
 *     office long-polls it and replies; the municipality sees ANSWERED and
 *     receives the reply;
 *   - a second request is refused with a business reason; the municipality
 *     sees REFUSED, REFUSED_BY_RECIPIENT and the reason;
 *   - a send retried with the same Idempotency-Key answers the same msg_id;
 *   - a move.out.notice to a second municipality, bound there with
 *     renkei-agent bind beside its gateway, is followed up by a
 *     move.in.notice, which what=requests leaves for what=all;
 *   - search by person finds both messages, oldest first;
 *   - 401, 400, 404, 405 and 409 come back with the documented bodies;
 *   - every answer matches the schema openapi.json gives for it.
 *
 * The municipality's gateway listens on a free loopback TCP port (--listen
 * 127.0.0.1:0, the port read from its "serving" line), the utility's on a
 * Unix socket, the second municipality's on another.  No gateway's log
 * carries the resident's number or a token.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define PERSON "TEST-0042-OACLIENT" /* a made-up resident's number */
#define CITY_TOKEN "city-x-gateway-token-6f1d0c9a"
#define POWER_TOKEN "power-gateway-token-83be20d4"
#define TOWN_TOKEN "town-y-gateway-token-5a7c91e2"
#define PYTHON "/usr/bin/python3"
#define SCENARIO_TIMEOUT_S 100

typedef struct fixture {
    it_env_t *env;
    it_proc_t *city, *power, *town;
    char city_url[1200];
    char power_url[1100];
    char town_url[1100];
} fixture_t;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#define SERVING "serving the HTTP API on "

/* Waits up to 20 s for the gateway's "serving the HTTP API on ADDR as ORG"
 * line and copies ADDR into addr.  0 on success. */
static int serving_at(it_proc_t *p, char *addr, size_t addr_len)
{
    for (int t = 0; t < 200; t++) {
        char *err = it_proc_err(p), *at = err ? strstr(err, SERVING) : NULL, *end;
        if (at != NULL && (end = strstr(at, " as ")) != NULL) {
            at += strlen(SERVING);
            snprintf(addr, addr_len, "%.*s", (int)(end - at), at);
            free(err);
            return 0;
        }
        free(err);
        if (!it_proc_running(p))
            break;
        sleep_ms(100);
    }
    return -1;
}

/* Writes a token file (one line, owner-only). */
static int token_file(it_env_t *env, const char *name, const char *token, char *path, size_t path_len)
{
    char line[128];
    snprintf(path, path_len, "%s", it_path(env, name));
    snprintf(line, sizeof line, "%s\n", token);
    if (it_write_file(path, line) != 0 || chmod(path, 0600) != 0)
        return -1;
    return 0;
}

/* renkei-agent ... http --listen LISTEN --token-file TOKEN for org. */
static it_proc_t *gateway(it_env_t *env, const char *org, const char *listen, const char *token)
{
    char hubpub[1024], key[1024], data[1024], rel[128], cmd[1200];
    snprintf(hubpub, sizeof hubpub, "%s", it_path(env, "keys/hub.pub"));
    snprintf(rel, sizeof rel, "keys/%s.key", org);
    snprintf(key, sizeof key, "%s", it_path(env, rel));
    snprintf(rel, sizeof rel, "agents/%s", org);
    snprintf(data, sizeof data, "%s", it_path(env, rel));
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", data);
    if (system(cmd) != 0)
        return NULL;
    const char *args[] =
        {"-H",   it_hub_endpoint(env), "-K",   hubpub,         "-k",  key, "-d", data, "-t", "10",
         "http", "--listen",           listen, "--token-file", token, NULL};
    return it_spawn(env, "renkei-agent", args, org);
}

static int setup(void **state)
{
    static fixture_t fx;
    char city_tok[1024], power_tok[1024], town_tok[1024], sock[1024], addr[1100];
    it_run_t r;
    memset(&fx, 0, sizeof fx);
    *state = &fx;
    if ((fx.env = it_env_new()) == NULL)
        return -1;
    if (it_org(fx.env, "city.x", "municipality") != 0 || it_org(fx.env, "power", "utility") != 0 ||
        it_org(fx.env, "town.y", "municipality") != 0)
        return -1;
    if (it_hub_start(fx.env, NULL) != 0)
        return -1;
    /* The API sends about residents in the agent's table: the municipality
     * enrolls its resident first, as it would from its registry. */
    if (it_agent(fx.env, "city.x", PERSON "\n", &r, "enroll", NULL) != 0) {
        fprintf(stderr, "setup: enroll failed: %s\n", r.err);
        it_run_clear(&r);
        return -1;
    }
    it_run_clear(&r);
    if (token_file(fx.env, "city.token", CITY_TOKEN, city_tok, sizeof city_tok) != 0 ||
        token_file(fx.env, "power.token", POWER_TOKEN, power_tok, sizeof power_tok) != 0 ||
        token_file(fx.env, "town.token", TOWN_TOKEN, town_tok, sizeof town_tok) != 0)
        return -1;
    /* Port 0: the gateway takes a free port and names it when it serves. */
    snprintf(sock, sizeof sock, "unix:%s", it_path(fx.env, "power-api.sock"));
    fx.city = gateway(fx.env, "city.x", "127.0.0.1:0", city_tok);
    fx.power = gateway(fx.env, "power", sock, power_tok);
    if (fx.city == NULL || fx.power == NULL)
        return -1;
    if (serving_at(fx.city, addr, sizeof addr) != 0 || strncmp(addr, "127.0.0.1:", 10) != 0 ||
        strcmp(addr, "127.0.0.1:0") == 0) {
        fprintf(stderr, "setup: city.x's gateway did not say where it serves\n");
        return -1;
    }
    snprintf(fx.city_url, sizeof fx.city_url, "http://%s", addr);
    if (serving_at(fx.power, addr, sizeof addr) != 0 || strcmp(addr, sock) != 0) {
        fprintf(stderr, "setup: power's gateway did not say it serves on its socket\n");
        return -1;
    }
    snprintf(fx.power_url, sizeof fx.power_url, "%s", sock);
    snprintf(fx.town_url, sizeof fx.town_url, "unix:%s", it_path(fx.env, "town-api.sock"));
    fx.town = gateway(fx.env, "town.y", fx.town_url, town_tok);
    if (fx.town == NULL || serving_at(fx.town, addr, sizeof addr) != 0) {
        fprintf(stderr, "setup: town.y's gateway did not start\n");
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx != NULL)
        it_env_destroy(&fx->env);
    return 0;
}

/* Runs PYTHON scenario.py with the person on its stdin, its output in
 * run/scenario.out; returns its exit status, or -1 if it ran past the
 * deadline (then it is killed). */
static int run_scenario(fixture_t *fx)
{
    char script[1024], spec[1024], out[1024], in[1024], city_tok[1024], power_tok[1024], town_tok[1024];
    char hubpub[1024], townkey[1024], towndata[1024], bind[8192];
    const char *bin = getenv("RENKEI_BIN_DIR");
    snprintf(script, sizeof script, "%s/tests/clients/scenario.py", RENKEI_SOURCE_DIR);
    snprintf(spec, sizeof spec, "%s/agents/openapi.json", RENKEI_SOURCE_DIR);
    snprintf(out, sizeof out, "%s", it_path(fx->env, "run/scenario.out"));
    snprintf(in, sizeof in, "%s", it_path(fx->env, "run/scenario.person"));
    snprintf(city_tok, sizeof city_tok, "%s", it_path(fx->env, "city.token"));
    snprintf(power_tok, sizeof power_tok, "%s", it_path(fx->env, "power.token"));
    snprintf(town_tok, sizeof town_tok, "%s", it_path(fx->env, "town.token"));
    /* town.y's renkei-agent bind, as its operator would run it. */
    snprintf(hubpub, sizeof hubpub, "%s", it_path(fx->env, "keys/hub.pub"));
    snprintf(townkey, sizeof townkey, "%s", it_path(fx->env, "keys/town.y.key"));
    snprintf(towndata, sizeof towndata, "%s", it_path(fx->env, "agents/town.y"));
    snprintf(bind, sizeof bind, "%s/renkei-agent -H %s -K %s -k %s -d %s -t 10 bind", bin != NULL ? bin : ".",
             it_hub_endpoint(fx->env), hubpub, townkey, towndata);
    if (it_write_file(in, PERSON "\n") != 0 || chmod(in, 0600) != 0)
        return -2;
    const char *argv[] = {PYTHON,
                          script,
                          "--spec",
                          spec,
                          "--city",
                          fx->city_url,
                          "--city-org",
                          "city.x",
                          "--city-token-file",
                          city_tok,
                          "--utility",
                          fx->power_url,
                          "--utility-org",
                          "power",
                          "--utility-token-file",
                          power_tok,
                          "--town",
                          fx->town_url,
                          "--town-org",
                          "town.y",
                          "--town-token-file",
                          town_tok,
                          "--town-bind",
                          bind,
                          NULL};
    pid_t pid = fork();
    if (pid < 0)
        return -2;
    if (pid == 0) {
        int fi = open(in, O_RDONLY), fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fi < 0 || fo < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fo, 2) < 0)
            _exit(126);
        execv(PYTHON, (char *const *)argv);
        _exit(127);
    }
    for (int t = 0; t < SCENARIO_TIMEOUT_S * 10; t++) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (w < 0 && errno != EINTR)
            return -2;
        sleep_ms(100);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void test_scenario(void **state)
{
    fixture_t *fx = *state;
    char out_path[1024], *out, *city_err, *power_err, *town_err;
    int st = run_scenario(fx);

    snprintf(out_path, sizeof out_path, "%s", it_path(fx->env, "run/scenario.out"));
    out = it_slurp(out_path, NULL);
    city_err = it_proc_err(fx->city);
    power_err = it_proc_err(fx->power);
    town_err = it_proc_err(fx->town);
    if (st != 0 || out == NULL || strstr(out, "scenario passed") == NULL) {
        /* The whole story on stderr: fail_msg's buffer is short. */
        fprintf(stderr,
                "-- the client's scenario:\n%s\n-- city.x's gateway:\n%s\n-- power's gateway:\n%s\n"
                "-- town.y's gateway:\n%s\n",
                out ? out : "(no output)", city_err, power_err, town_err);
        fail_msg("the client's scenario exited %d (its output above)", st);
    }
    /* Both gateways served the whole scenario. */
    assert_true(it_proc_running(fx->city));
    assert_true(it_proc_running(fx->power));
    assert_true(it_proc_running(fx->town));
    /* What each gateway logged: neither the number nor a token. */
    assert_non_null(city_err);
    assert_non_null(power_err);
    assert_null(strstr(city_err, PERSON));
    assert_null(strstr(power_err, PERSON));
    assert_non_null(town_err);
    assert_null(strstr(town_err, PERSON));
    assert_null(strstr(town_err, TOWN_TOKEN));
    assert_null(strstr(city_err, CITY_TOKEN));
    assert_null(strstr(power_err, POWER_TOKEN));
    /* ...nor did the client print the number. */
    assert_null(strstr(out, PERSON));
    free(out);
    free(city_err);
    free(power_err);
    free(town_err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
