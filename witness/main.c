/*
 * renkei-witness - a transparency-log witness for Renkei's routing log: it
 * cosigns the hub's checkpoints over the C2SP tlog-witness HTTP API
 * (POST /add-checkpoint) after checking that each extends the one it
 * cosigned before, so auditors can tell a split view (witness.h).
 *
 * Configuration file (--config FILE), one "field = value" a line, '#'
 * starts a comment:
 *   name   = witness.example.org/w1   the witness's key name in its cosignatures
 *   key    = /etc/renkei/witness.key  its secret key file (renkei-keygen)
 *   state  = /var/lib/renkei-witness  its state directory
 *   listen = 127.0.0.1:9760           PORT, ADDR:PORT or [ADDR]:PORT
 *   log    = ORIGIN VKEY              a log it witnesses (repeatable)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "cli.h"
#include "harden.h"
#include "keys.h"
#include "listen.h"
#include "witness.h"

#define PROG "renkei-witness"

enum { OPT_CONFIG, OPT_VKEY, OPT_HELP, N_OPTS };

static const rk_cli_opt_t options[N_OPTS] = {
    [OPT_CONFIG] = {"config", 'c', "FILE", "the witness's configuration file (README.md, \"Witnesses\")",
                    "RENKEI_WITNESS_CONFIG", -1, 0},
    [OPT_VKEY] = {"print-vkey", 0, NULL, "print the witness's verifier key (for auditors to pin) and exit", NULL,
                  -1, 0},
    [OPT_HELP] = {"help", 'h', NULL, "show this help", NULL, -1, 0},
};

typedef struct config {
    char name[TLOG_NAME_MAX + 1];
    char key[4096];
    char state[4096];
    char listen[128];
    witness_log_cfg_t logs[WITNESS_MAX_LOGS];
    size_t n;
} config_t;

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static bool load_config(const char *path, config_t *c)
{
    FILE *f = fopen(path, "re");
    char line[1024], why[256];
    unsigned no = 0;

    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:9760");
    if (f == NULL) {
        fprintf(stderr, PROG ": cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *k, *v, *eq;
        no++;
        k = trim(line);
        if (*k == '#' || *k == '\0')
            continue;
        eq = strchr(k, '=');
        if (eq == NULL) {
            fprintf(stderr, PROG ": %s:%u: expected FIELD = VALUE\n", path, no);
            goto fail;
        }
        *eq = '\0';
        v = trim(eq + 1);
        k = trim(k);
        if (strcmp(k, "name") == 0 && strlen(v) < sizeof c->name)
            snprintf(c->name, sizeof c->name, "%s", v);
        else if (strcmp(k, "key") == 0 && strlen(v) < sizeof c->key)
            snprintf(c->key, sizeof c->key, "%s", v);
        else if (strcmp(k, "state") == 0 && strlen(v) < sizeof c->state)
            snprintf(c->state, sizeof c->state, "%s", v);
        else if (strcmp(k, "listen") == 0 && strlen(v) < sizeof c->listen)
            snprintf(c->listen, sizeof c->listen, "%s", v);
        else if (strcmp(k, "log") == 0) {
            witness_log_cfg_t *l = &c->logs[c->n];
            char *sp = strchr(v, ' ');
            if (c->n == WITNESS_MAX_LOGS) {
                fprintf(stderr, PROG ": %s:%u: at most %d logs\n", path, no, WITNESS_MAX_LOGS);
                goto fail;
            }
            if (sp == NULL || sp - v > TLOG_NAME_MAX) {
                fprintf(stderr, PROG ": %s:%u: log = ORIGIN VKEY (the log's origin line, then its verifier key)\n",
                        path, no);
                goto fail;
            }
            *sp = '\0';
            snprintf(l->origin, sizeof l->origin, "%s", v);
            if (tlog_vkey_parse(trim(sp + 1), l->key_name, l->pk, why, sizeof why) != TLOG_OK) {
                fprintf(stderr, PROG ": %s:%u: %s\n", path, no, why);
                goto fail;
            }
            c->n++;
        } else {
            fprintf(stderr, PROG ": %s:%u: unknown field '%s' or value too long (fields: name, key, state, "
                    "listen, log)\n", path, no, k);
            goto fail;
        }
    }
    fclose(f);
    if (c->name[0] == '\0' || c->key[0] == '\0' || c->state[0] == '\0' || c->n == 0) {
        fprintf(stderr, PROG ": %s needs name, key, state and at least one log\n", path);
        return false;
    }
    return true;
fail:
    fclose(f);
    return false;
}

/* ------------------------------------------------------------------ HTTP */

typedef struct upload {
    char *buf;
    size_t len;
    bool too_large;
} upload_t;

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned code, const char *type, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **con_cls)
{
    witness_t *w = cls;
    upload_t *u = *con_cls;
    char out[WITNESS_ANSWER_MAX];
    const char *type = "text/plain; charset=utf-8";
    unsigned code;

    (void)version;
    if (strcmp(url, "/add-checkpoint") != 0)
        return answer(conn, MHD_HTTP_NOT_FOUND, type, "not found: POST /add-checkpoint\n");
    if (strcmp(method, "POST") != 0)
        return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, type, "only POST\n");
    if (u == NULL) {
        u = calloc(1, sizeof *u);
        if (u == NULL)
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*data_size > 0) {
        if (u->len + *data_size > WITNESS_BODY_MAX)
            u->too_large = true;
        else {
            char *nb = realloc(u->buf, u->len + *data_size);
            if (nb == NULL)
                return MHD_NO;
            memcpy(nb + u->len, data, *data_size);
            u->buf = nb;
            u->len += *data_size;
        }
        *data_size = 0;
        return MHD_YES;
    }
    if (u->too_large)
        return answer(conn, MHD_HTTP_CONTENT_TOO_LARGE, type, "request too large\n");
    code = witness_add_checkpoint(w, u->buf != NULL ? u->buf : "", u->len, (int64_t)time(NULL), out, &type);
    return answer(conn, code, type, out);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    upload_t *u = *con_cls;
    (void)cls, (void)conn, (void)toe;
    if (u != NULL) {
        free(u->buf);
        free(u);
        *con_cls = NULL;
    }
}

static volatile sig_atomic_t stopping;
static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int run(const rk_cli_args_t *a, void *ctx)
{
    config_t cfg;
    rk_identity_t *id = NULL;
    witness_t *w = NULL;
    struct MHD_Daemon *d = NULL;
    struct sockaddr_storage ss;
    socklen_t ss_len = 0, got = sizeof ss;
    bool loopback;
    char why[1024] = "", vkey[TLOG_VKEY_MAX], host[64];
    int fd = -1, one = 1, rc = RK_EXIT_ERROR;
    unsigned port;
    struct sigaction sa;

    (void)ctx;
    if (a->npos != 0)
        return rk_cli_usage_error(a, "renkei-witness takes no arguments ('%s'); give --config FILE", a->pos[0]);
    if (a->value[OPT_CONFIG] == NULL)
        return rk_cli_usage_error(a, "no --config FILE given");
    if (!load_config(a->value[OPT_CONFIG], &cfg))
        return RK_EXIT_USAGE;
    if (sodium_init() < 0) {
        fprintf(stderr, PROG ": libsodium could not be initialised\n");
        return RK_EXIT_ERROR;
    }
    if (rk_identity_load(cfg.key, &id, why, sizeof why) != RK_KEYS_OK) {
        fprintf(stderr, PROG ": %s\n", why);
        return RK_EXIT_ERROR;
    }
    if (!witness_vkey_format(cfg.name, id->pub.sign_pk, vkey, sizeof vkey)) {
        fprintf(stderr, PROG ": the name '%s' cannot be a key name (no spaces or '+')\n", cfg.name);
        goto out;
    }
    if (a->count[OPT_VKEY] > 0) {
        printf("%s\n", vkey);
        rc = RK_EXIT_OK;
        goto out;
    }
    if (!rk_listen_parse(cfg.listen, &ss, &ss_len, &loopback)) {
        fprintf(stderr, PROG ": listen needs PORT, ADDR:PORT or [ADDR]:PORT with a numeric address, not '%s'\n",
                cfg.listen);
        rc = RK_EXIT_USAGE;
        goto out;
    }
    if (!witness_open(cfg.name, id->sign_sk, cfg.state, cfg.logs, cfg.n, &w, why, sizeof why)) {
        fprintf(stderr, PROG ": %s\n", why);
        goto out;
    }
    rk_identity_destroy(&id);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, ss_len) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &got) != 0) {
        fprintf(stderr, PROG ": cannot listen on %s: %s\n", cfg.listen, strerror(errno));
        goto out;
    }
    if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL,
                         NULL, on_request, w, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_done,
                         NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)30, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, PROG ": cannot serve HTTP on %s (libmicrohttpd did not start)\n", cfg.listen);
        goto out;
    }
    fd = -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, PROG ": witness %s for %zu log(s), listening on http://%s%s%s:%u/add-checkpoint\n", vkey,
            cfg.n, ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "", port);
    while (!stopping)
        pause();
    fprintf(stderr, PROG ": stopping\n");
    rc = RK_EXIT_OK;
out:
    if (d != NULL)
        MHD_stop_daemon(d);
    if (fd >= 0)
        close(fd);
    witness_close(&w);
    rk_identity_destroy(&id);
    return rc;
}

static const rk_cli_prog_t program = {
    .name = PROG,
    .synopsis = "--config FILE [--print-vkey]",
    .about = "Cosigns the routing log's checkpoints (C2SP tlog-witness: POST /add-checkpoint)\n"
             "after checking each extends the one it cosigned before; refuses and keeps as\n"
             "evidence any checkpoint of a forked history.  Its key comes from renkei-keygen.",
    .opts = options,
    .n_opts = N_OPTS,
    .run = run,
};

int main(int argc, char **argv)
{
    rk_harden_t h;
    rk_harden_process(argv, &h);
    return rk_cli_main(&program, argc, argv, NULL);
}
