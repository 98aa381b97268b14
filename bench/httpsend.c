/*
 * httpsend.c - renkei-bench's "http send" (httpsend.h).
 */
#include "httpsend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "proc.h"
#include "renkei/agent.h"

#define HS_PERSONS 4
#define HS_TIMEOUT_MS 10000
#define HS_TOKEN "bench-http-send-token-0123456789"
#define HS_PAYLOAD "{\"request\":\"stop\",\"date\":\"2025-03-31\",\"meter\":\"bench\"}"
#define HS_TYPE "utility.supply.stop"
#define HS_CLIENTS_MAX 16

struct bench_httpsend {
    char name[2][32];
    char key[2][PATH_MAX];
    char data[PATH_MAX];
    char token[PATH_MAX];
    unsigned pass; /* makes each pass's Idempotency-Keys new */
};

static void why_set(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || why_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bench_httpsend_t *bench_httpsend_new(const char *key_dir, const char *data_dir, char *why, size_t why_len)
{
    bench_httpsend_t *h = calloc(1, sizeof *h);
    static const char *const names[2] = {"hsend", "hrecv"};

    if (h == NULL) {
        why_set(why, why_len, "out of memory");
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        char prefix[PATH_MAX];
        rk_identity_t *id;
        rk_keys_err e;
        snprintf(h->name[i], sizeof h->name[i], "%s", names[i]);
        if ((size_t)snprintf(prefix, sizeof prefix, "%s/%s", key_dir, names[i]) >= sizeof prefix ||
            (size_t)snprintf(h->key[i], sizeof h->key[i], "%s.key", prefix) >= sizeof h->key[i]) {
            why_set(why, why_len, "the key directory's path is too long");
            free(h);
            return NULL;
        }
        id = rk_identity_generate(names[i]);
        if (id == NULL) {
            why_set(why, why_len, "cannot make the identity %s (out of memory?)", names[i]);
            free(h);
            return NULL;
        }
        e = rk_identity_save(id, prefix, why, why_len);
        rk_identity_destroy(&id);
        if (e != RK_KEYS_OK) {
            free(h);
            return NULL;
        }
    }
    if ((size_t)snprintf(h->data, sizeof h->data, "%s", data_dir) >= sizeof h->data ||
        (size_t)snprintf(h->token, sizeof h->token, "%s.token", data_dir) >= sizeof h->token) {
        why_set(why, why_len, "the data directory's path is too long");
        free(h);
        return NULL;
    }
    return h;
}

void bench_httpsend_destroy(bench_httpsend_t **h)
{
    if (h == NULL || *h == NULL)
        return;
    free(*h);
    *h = NULL;
}

const char *bench_httpsend_org_name(const bench_httpsend_t *h, int i)
{
    return h->name[i != 0];
}
const char *bench_httpsend_org_kind(const bench_httpsend_t *h, int i)
{
    (void)h;
    return i == 0 ? "municipality" : "utility";
}

static void person_of(size_t i, char out[32])
{
    snprintf(out, 32, "BENCH-HTTP-%04zu", i % HS_PERSONS);
}

/* The library pass: enrolls the persons (not timed), then sends. */
static int library_pass(bench_httpsend_t *h, const char *endpoint, const char *hub_pub, size_t messages,
                        double *rate, char *why, size_t why_len)
{
    rk_agent_config cfg;
    rk_agent_t *a = NULL;
    rk_agent_err err;
    double t0;
    int rc = -1;

    rk_agent_config_init(&cfg);
    cfg.endpoint = endpoint;
    cfg.hub_pub = hub_pub;
    cfg.key = h->key[0];
    cfg.data_dir = h->data;
    cfg.timeout_ms = HS_TIMEOUT_MS;
    if (rk_agent_open(&cfg, &a, why, why_len) != RK_AGENT_OK)
        return -1;
    for (size_t i = 0; i < HS_PERSONS; i++) {
        char person[32];
        uint8_t code[RK_CODE_LEN];
        bool existed;
        person_of(i, person);
        if (rk_agent_enroll(a, person, code, &existed, NULL, why, why_len) != RK_AGENT_OK)
            goto done;
    }
    t0 = now_s();
    for (size_t i = 0; i < messages; i++) {
        char person[32];
        uint8_t msg_id[RK_MSGID_LEN];
        rk_result_t result;
        rk_outgoing m;
        memset(&m, 0, sizeof m);
        person_of(i, person);
        m.to = h->name[1];
        m.type = HS_TYPE;
        m.person = person;
        m.payload = (const uint8_t *)HS_PAYLOAD;
        m.payload_len = strlen(HS_PAYLOAD);
        m.no_reply = true;
        err = rk_agent_send(a, &m, msg_id, &result, why, why_len);
        if (err != RK_AGENT_OK) {
            if (why[0] == '\0')
                why_set(why, why_len, "library send: %s", rk_agent_strerror(err));
            goto done;
        }
    }
    *rate = (double)messages / (now_s() - t0);
    rc = 0;
done:
    rk_agent_close(&a);
    return rc;
}

typedef struct client {
    bench_httpsend_t *h;
    int port;
    size_t first, count; /* message indexes */
    char why[256];
    int rc;
} client_t;

static int connect_to(int port)
{
    struct sockaddr_in sa;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* The header line "\r\nname:" in head (before end), case-insensitively. */
static const char *header_at(const char *head, const char *end, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = head; p < end && (p = strstr(p, "\r\n")) != NULL && p < end; p += 2)
        if (strncasecmp(p + 2, name, n) == 0)
            return p + 2 + n;
    return NULL;
}

/* Reads one response on fd: its status; -1 on a broken connection. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t len = 0, want = 0;
    char *end = NULL;
    int status = -1;

    for (;;) {
        ssize_t n;
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = header_at(buf, end, "content-length:");
            if (strncmp(buf, "HTTP/1.", 7) != 0 || len < 12)
                return -1;
            status = (int)strtol(buf + 9, NULL, 10);
            want = (size_t)(end + 4 - buf) + (cl != NULL ? strtoul(cl, NULL, 10) : 0);
        }
        if (end != NULL && len >= want)
            return status;
        if (len + 1 >= cap)
            return -1;
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
    }
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    char req[1024], body[512], buf[4096], person[32];
    int fd = connect_to(c->port);

    c->rc = -1;
    if (fd < 0) {
        snprintf(c->why, sizeof c->why, "cannot connect to the HTTP API: %s", strerror(errno));
        return NULL;
    }
    for (size_t i = c->first; i < c->first + c->count; i++) {
        int bl, rl, status;
        person_of(i, person);
        bl = snprintf(body, sizeof body,
                      "{\"to\":\"%s\",\"type\":\"" HS_TYPE "\",\"person\":\"%s\",\"payload\":" HS_PAYLOAD
                      ",\"no_reply\":true}",
                      c->h->name[1], person);
        rl = snprintf(req, sizeof req,
                      "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " HS_TOKEN
                      "\r\nIdempotency-Key: bench-%u-%zu\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      c->h->pass, i, bl, body);
        buf[0] = '\0';
        if (write(fd, req, (size_t)rl) != rl || (status = read_response(fd, buf, sizeof buf)) < 0) {
            snprintf(c->why, sizeof c->why, "the HTTP API closed the connection");
            close(fd);
            return NULL;
        }
        if (status != 202) {
            char *b = strstr(buf, "\r\n\r\n");
            snprintf(c->why, sizeof c->why, "POST /v1/messages answered %d: %.150s", status, b ? b + 4 : "");
            close(fd);
            return NULL;
        }
    }
    close(fd);
    c->rc = 0;
    return NULL;
}

int bench_httpsend_run(bench_httpsend_t *h, const char *bin_dir, const char *endpoint, const char *hub_pub,
                       const char *log_path, size_t messages, size_t clients, double *http_rate,
                       double *lib_rate, char *why, size_t why_len)
{
    char agent[PATH_MAX], listen[64];
    bench_proc_t *p = NULL;
    client_t c[HS_CLIENTS_MAX];
    pthread_t th[HS_CLIENTS_MAX];
    size_t started = 0;
    double t0;
    int port, rc = -1, fd = -1;
    FILE *f;

    h->pass++;
    if (clients == 0 || clients > HS_CLIENTS_MAX)
        clients = 4;
    if (library_pass(h, endpoint, hub_pub, messages, lib_rate, why, why_len) != 0)
        return -1;

    f = fopen(h->token, "w");
    if (f == NULL || fprintf(f, "%s\n", HS_TOKEN) < 0 || fclose(f) != 0) {
        why_set(why, why_len, "cannot write %s", h->token);
        return -1;
    }
    port = bench_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    if (port == 0 || (size_t)snprintf(agent, sizeof agent, "%s/renkei-agent", bin_dir) >= sizeof agent) {
        why_set(why, why_len, "no free port, or the program's path is too long");
        return -1;
    }
    {
        char tmo[16];
        const char *argv[] = {agent,          "-H",     endpoint,   "-K",
                              hub_pub,        "-k",     h->key[0],  "-d",
                              h->data,        "-t",     tmo,        "--number-rule",
                              "any",          "http",   "--listen", listen,
                              "--token-file", h->token, NULL};
        snprintf(tmo, sizeof tmo, "%d", HS_TIMEOUT_MS / 1000);
        p = bench_proc_start(argv, log_path);
    }
    if (p == NULL) {
        why_set(why, why_len, "cannot start %s", agent);
        return -1;
    }
    for (int t = 0; t < 1500 && (fd = connect_to(port)) < 0 && bench_proc_alive(p); t++) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    if (fd < 0) {
        why_set(why, why_len, "renkei-agent http did not start within 15 s; see %s", log_path);
        goto done;
    }
    close(fd);
    t0 = now_s();
    for (size_t i = 0; i < clients; i++) {
        c[i].h = h;
        c[i].port = port;
        c[i].first = i * (messages / clients);
        c[i].count = i + 1 < clients ? messages / clients : messages - i * (messages / clients);
        c[i].why[0] = '\0';
        c[i].rc = -1;
        if (pthread_create(&th[i], NULL, client_main, &c[i]) != 0)
            break;
        started++;
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    *http_rate = (double)messages / (now_s() - t0);
    rc = started == clients ? 0 : -1;
    if (rc != 0)
        why_set(why, why_len, "cannot start the client threads");
    for (size_t i = 0; i < started; i++)
        if (c[i].rc != 0) {
            why_set(why, why_len, "%s", c[i].why);
            rc = -1;
            break;
        }
done:
    if (bench_proc_stop(&p) != 0 && rc == 0) {
        why_set(why, why_len, "renkei-agent http did not stop cleanly; see %s", log_path);
        rc = -1;
    }
    return rc;
}
