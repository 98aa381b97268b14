/*
 * webhook.c - renkei-bench's webhook measurement (webhook.h).
 */
#include "webhook.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "keys.h"
#include "proc.h"
#include "renkei/agent.h"

#define WH_TYPE "utility.supply.stop"
#define WH_PERSON "TEST-WH-0001"
#define WH_PAYLOAD "{\"meter\":\"M-1\"}"
#define WH_CALL_MS 30000 /* each agent call's own timeout */
#define WH_QUIET_S 60.0  /* longest wait without a delivery before giving up */

enum { WH_SENDER = 0, WH_RECEIVER = 1 };

typedef struct wh_org {
    char name[16];
    const char *kind;
    char key[PATH_MAX];
    char data[PATH_MAX];
} wh_org_t;

struct bench_webhook {
    wh_org_t org[2];
    char hub_pub[PATH_MAX];
    char agent_bin[PATH_MAX];
    char log[PATH_MAX];
    /* the back office's count, first and last delivery (bench_now) */
    atomic_size_t got;
    _Atomic double first_s, last_s;
};

static void why_set(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

bench_webhook_t *bench_webhook_new(const char *key_dir, const char *data_dir, const char *hub_pub,
                                   const char *bin_dir, char *why, size_t why_len)
{
    static const char *const names[2] = {"whsend", "whrecv"}, *const kinds[2] = {"municipality", "utility"};
    bench_webhook_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        why_set(why, why_len, "out of memory");
        return NULL;
    }
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        why_set(why, why_len, "cannot make %s: %s", data_dir, strerror(errno));
        free(w);
        return NULL;
    }
    snprintf(w->hub_pub, sizeof w->hub_pub, "%s", hub_pub);
    snprintf(w->agent_bin, sizeof w->agent_bin, "%s/renkei-agent", bin_dir);
    snprintf(w->log, sizeof w->log, "%s/serve-webhook.log", data_dir);
    for (int i = 0; i < 2; i++) {
        char prefix[PATH_MAX];
        rk_identity_t *id = rk_identity_generate(names[i]);
        rk_keys_err e = RK_KEYS_ENOMEM;
        wh_org_t *o = &w->org[i];
        snprintf(o->name, sizeof o->name, "%s", names[i]);
        o->kind = kinds[i];
        if ((size_t)snprintf(prefix, sizeof prefix, "%s/%s", key_dir, names[i]) >= sizeof prefix - 4 ||
            (size_t)snprintf(o->key, sizeof o->key, "%s.key", prefix) >= sizeof o->key ||
            (size_t)snprintf(o->data, sizeof o->data, "%s/%s", data_dir, names[i]) >= sizeof o->data)
            why_set(why, why_len, "the key or data directory path is too long");
        else if (id != NULL)
            e = rk_identity_save(id, prefix, why, why_len);
        rk_identity_destroy(&id);
        if (e != RK_KEYS_OK) {
            if (id == NULL && why[0] == '\0')
                why_set(why, why_len, "cannot make the identity %s", names[i]);
            free(w);
            return NULL;
        }
    }
    return w;
}

void bench_webhook_destroy(bench_webhook_t **w)
{
    if (w == NULL)
        return;
    free(*w);
    *w = NULL;
}

const char *bench_webhook_org_name(const bench_webhook_t *w, size_t i)
{
    return i < 2 ? w->org[i].name : NULL;
}

const char *bench_webhook_org_kind(const bench_webhook_t *w, size_t i)
{
    return i < 2 ? w->org[i].kind : NULL;
}

static int wh_open(bench_webhook_t *w, int i, const char *endpoint, rk_agent_t **out, char *why,
                   size_t why_len)
{
    rk_agent_config cfg;
    char inner[512] = "";
    rk_agent_err err;

    rk_agent_config_init(&cfg);
    cfg.endpoint = endpoint;
    cfg.hub_pub = w->hub_pub;
    cfg.key = w->org[i].key;
    cfg.data_dir = w->org[i].data;
    cfg.timeout_ms = WH_CALL_MS;
    cfg.receive = i == WH_RECEIVER;
    err = rk_agent_open(&cfg, out, inner, sizeof inner);
    if (err != RK_AGENT_OK)
        why_set(why, why_len, "%s's agent does not open: %s (%s)", w->org[i].name, rk_agent_strerror(err),
                inner);
    return err == RK_AGENT_OK ? 0 : -1;
}

/* Queues n notices from the sender to the receiver at the hub (every one
 * accepted before it returns). */
static int queue_notices(bench_webhook_t *w, const char *endpoint, size_t n, char *why, size_t why_len)
{
    rk_agent_t *a = NULL;
    uint8_t code[RK_CODE_LEN], id[RK_MSGID_LEN];
    rk_outgoing m = {.to = w->org[WH_RECEIVER].name,
                     .type = WH_TYPE,
                     .person = WH_PERSON,
                     .payload = (const uint8_t *)WH_PAYLOAD,
                     .payload_len = sizeof WH_PAYLOAD - 1,
                     .no_reply = true};
    rk_flush_report rep;
    rk_result_t res;
    bool existed = false;
    char inner[512] = "";
    rk_agent_err err;
    int rc = -1;

    if (wh_open(w, WH_SENDER, endpoint, &a, why, why_len) != 0)
        return -1;
    err = rk_agent_enroll(a, WH_PERSON, code, &existed, &res, inner, sizeof inner);
    sodium_memzero(code, sizeof code);
    for (size_t i = 0; err == RK_AGENT_OK && i < n; i++) {
        err = rk_agent_send(a, &m, id, &res, inner, sizeof inner);
        if (err == RK_AGENT_EPENDING)
            err = RK_AGENT_OK; /* kept and re-sent: the flush below waits for it */
    }
    if (err == RK_AGENT_OK)
        err = rk_agent_flush(a, WH_CALL_MS, &rep, inner, sizeof inner);
    if (err != RK_AGENT_OK)
        why_set(why, why_len, "queueing notices: %s (%s)", rk_agent_strerror(err), inner);
    else if (rep.pending > 0 || rep.refused > 0)
        why_set(why, why_len, "queueing notices: %zu still pending, %zu refused", rep.pending, rep.refused);
    else
        rc = 0;
    rk_agent_close(&a);
    return rc;
}

/* The baseline: the receiver's agent library takes the n deliveries in
 * this process (recv, done). */
static int library_run(bench_webhook_t *w, const char *endpoint, size_t n, double *rate, char *why,
                       size_t why_len)
{
    rk_agent_t *a = NULL;
    double first = 0, last = 0, quiet_since = bench_now();
    size_t got = 0;
    int rc = 0;

    if (wh_open(w, WH_RECEIVER, endpoint, &a, why, why_len) != 0)
        return -1;
    while (got < n && rc == 0) {
        rk_event *ev = NULL;
        char inner[512] = "";
        rk_agent_err err = rk_agent_recv(a, 500, &ev, inner, sizeof inner);
        if (err == RK_AGENT_ETIMEOUT) {
            if (bench_now() - quiet_since > WH_QUIET_S) {
                why_set(why, why_len, "library receive: %zu of %zu deliveries came", got, n);
                rc = -1;
            }
            continue;
        }
        if (err == RK_AGENT_OK && ev->kind == RK_EVENT_MESSAGE)
            err = rk_agent_done(a, ev, inner, sizeof inner);
        if (err != RK_AGENT_OK) {
            why_set(why, why_len, "library receive: %s (%s)", rk_agent_strerror(err), inner);
            rc = -1;
        } else if (ev->kind == RK_EVENT_MESSAGE) {
            last = quiet_since = bench_now();
            if (got++ == 0)
                first = last;
        }
        rk_event_free(&ev);
    }
    rk_agent_close(&a);
    *rate = rc == 0 && last > first ? (double)(n - 1) / (last - first) : 0;
    return rc;
}

static char request_mark; /* a connection's first call has been seen */

/* The back office: each POST is read whole, counted and answered {}. */
static enum MHD_Result on_post(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    bench_webhook_t *w = cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    double now;
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    if (*con_cls == NULL) {
        *con_cls = &request_mark;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    now = bench_now();
    if (atomic_fetch_add(&w->got, 1) == 0)
        w->first_s = now;
    w->last_s = now;
    resp = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* serve --webhook takes the n deliveries and POSTs them to the back
 * office, which answers {} (taken, no reply). */
static int webhook_run(bench_webhook_t *w, const char *endpoint, size_t n, double *rate, char *why,
                       size_t why_len)
{
    int port = bench_free_port();
    struct MHD_Daemon *d = NULL;
    bench_proc_t *p = NULL;
    char url[64];
    const char *argv[] = {w->agent_bin,
                          "--hub",
                          endpoint,
                          "--hub-key",
                          w->hub_pub,
                          "--key",
                          w->org[WH_RECEIVER].key,
                          "--data",
                          w->org[WH_RECEIVER].data,
                          "--log-level",
                          "warning",
                          "serve",
                          "--webhook",
                          url,
                          NULL};
    double quiet_since;
    size_t seen = 0;
    int rc = 0;

    atomic_store(&w->got, 0);
    w->first_s = w->last_s = 0;
    if (port > 0)
        d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t)port,
                             NULL, NULL, on_post, w, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                             MHD_OPTION_END);
    if (d == NULL) {
        why_set(why, why_len, "the back office (libmicrohttpd) does not start");
        return -1;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d/renkei", port);
    if ((p = bench_proc_start(argv, w->log)) == NULL) {
        why_set(why, why_len, "renkei-agent serve --webhook does not start; see %s", w->log);
        MHD_stop_daemon(d);
        return -1;
    }
    quiet_since = bench_now();
    while (atomic_load(&w->got) < n) {
        struct timespec ts = {0, 10L * 1000 * 1000};
        size_t now_got = atomic_load(&w->got);
        if (now_got != seen) {
            seen = now_got;
            quiet_since = bench_now();
        }
        if (!bench_proc_alive(p) || bench_now() - quiet_since > WH_QUIET_S) {
            why_set(why, why_len, "serve --webhook: %zu of %zu deliveries came; see %s", now_got, n, w->log);
            rc = -1;
            break;
        }
        nanosleep(&ts, NULL);
    }
    bench_proc_stop(&p);
    MHD_stop_daemon(d);
    *rate = rc == 0 && w->last_s > w->first_s ? (double)(n - 1) / (w->last_s - w->first_s) : 0;
    return rc;
}

int bench_webhook_run(bench_webhook_t *w, const char *endpoint, size_t n, bench_webhook_rates_t *out,
                      char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (n < 2) {
        why_set(why, why_len, "at least 2 deliveries are needed, not %zu", n);
        return -1;
    }
    if (queue_notices(w, endpoint, n, why, why_len) != 0 ||
        library_run(w, endpoint, n, &out->library_per_s, why, why_len) != 0 ||
        queue_notices(w, endpoint, n, why, why_len) != 0 ||
        webhook_run(w, endpoint, n, &out->webhook_per_s, why, why_len) != 0)
        return -1;
    return 0;
}
