/*
 * metrics.c - the hub's metrics and health endpoint (metrics.h).
 */
#include "metrics.h"

#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clock.h"
#include "why.h"

#define N_BUCKETS 12
/* Upper bounds of the commit-latency histogram, in seconds. */
static const double bucket_le[N_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
static const char *const bucket_text[N_BUCKETS] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                                                   "0.05",   "0.1",   "0.25",   "0.5",   "1",    "2.5"};

/* When an org was last seen, kept by the loop only. */
typedef struct seen {
    char org[RK_ID_MAX + 1];
    uint64_t at_ms;
} seen_t;

struct metrics {
    struct MHD_Daemon *daemon;
    int fd; /* the listening socket until the daemon takes it; then -1 */
    char address[80];
    /* written by the loop, read by the HTTP thread */
    _Atomic uint64_t routed[RK_ST_LAST + 1];
    _Atomic uint64_t duplicates;
    _Atomic uint64_t delivered, expired, refused_by_recipient;
    _Atomic uint64_t commit_buckets[N_BUCKETS + 1]; /* the last: above every bound */
    _Atomic uint64_t commit_count;
    _Atomic uint64_t commit_sum_us;
    _Atomic uint64_t last_turn_mono_ms; /* 0: the loop has not turned yet */
    _Atomic uint64_t full_until_mono_ms;
    _Atomic bool stopping;
    uint64_t start_wall_ms;
    /* the loop's own */
    uint64_t turn_delivered, turn_refused;
    seen_t *seen;
    size_t n_seen, cap_seen;
    /* the per-second snapshot, under lock */
    pthread_mutex_t lock;
    char *snap;
    size_t snap_len;
};

/* ------------------------------------------------------------ a text buffer */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool failed;
} buf_t;

static void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t cap = b->cap ? b->cap * 2 : 4096;
            char *p;
            while (cap < b->len + (size_t)n + 1)
                cap *= 2;
            p = realloc(b->p, cap);
            if (p == NULL) {
                b->failed = true;
                return;
            }
            b->p = p;
            b->cap = cap;
        }
    }
}

static void buf_append(buf_t *b, const char *s, size_t n)
{
    if (n > 0)
        buf_printf(b, "%.*s", (int)n, s);
}

/* A label value: backslash, quote and newline escaped (an org id holds none
 * of them, but the format must hold whatever comes). */
static void buf_label(buf_t *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            buf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            buf_printf(b, "\\n");
        else
            buf_printf(b, "%c", *v);
    }
}

static void help(buf_t *b, const char *name, const char *type, const char *text)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* ----------------------------------------------------------- the loop's side */

void metrics_routed(metrics_t *m, rk_status st, bool duplicate)
{
    if (m == NULL)
        return;
    if (duplicate)
        atomic_fetch_add_explicit(&m->duplicates, 1, memory_order_relaxed);
    else if ((unsigned)st <= RK_ST_LAST)
        atomic_fetch_add_explicit(&m->routed[st], 1, memory_order_relaxed);
}

void metrics_turn_delivered(metrics_t *m)
{
    if (m != NULL)
        m->turn_delivered++;
}

void metrics_turn_refused_by_recipient(metrics_t *m)
{
    if (m != NULL)
        m->turn_refused++;
}

void metrics_turn_end(metrics_t *m, double seconds, bool committed)
{
    size_t i = 0;

    if (m == NULL)
        return;
    if (committed) {
        atomic_fetch_add_explicit(&m->delivered, m->turn_delivered, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->refused_by_recipient, m->turn_refused, memory_order_relaxed);
    }
    m->turn_delivered = 0;
    m->turn_refused = 0;
    if (seconds < 0)
        return; /* the turn opened no transaction */
    while (i < N_BUCKETS && seconds > bucket_le[i])
        i++;
    atomic_fetch_add_explicit(&m->commit_buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->commit_sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&m->commit_count, 1, memory_order_relaxed);
}

void metrics_expired(metrics_t *m, uint64_t n)
{
    if (m != NULL && n > 0)
        atomic_fetch_add_explicit(&m->expired, n, memory_order_relaxed);
}

void metrics_seen(metrics_t *m, const char *org, uint64_t now_ms)
{
    if (m == NULL || org == NULL || org[0] == '\0')
        return;
    for (size_t i = 0; i < m->n_seen; i++)
        if (strcmp(m->seen[i].org, org) == 0) {
            m->seen[i].at_ms = now_ms;
            return;
        }
    if (m->n_seen == m->cap_seen) {
        size_t cap = m->cap_seen ? m->cap_seen * 2 : 32;
        seen_t *s = realloc(m->seen, cap * sizeof *s);
        if (s == NULL)
            return; /* shown as never seen */
        m->seen = s;
        m->cap_seen = cap;
    }
    snprintf(m->seen[m->n_seen].org, sizeof m->seen[m->n_seen].org, "%s", org);
    m->seen[m->n_seen++].at_ms = now_ms;
}

void metrics_turned(metrics_t *m, uint64_t full_until_mono_ms)
{
    uint64_t now;
    if (m == NULL)
        return;
    now = rk_mono_ms();
    atomic_store_explicit(&m->last_turn_mono_ms, now ? now : 1, memory_order_relaxed);
    atomic_store_explicit(&m->full_until_mono_ms, full_until_mono_ms, memory_order_relaxed);
}

void metrics_stopping(metrics_t *m)
{
    if (m != NULL)
        atomic_store_explicit(&m->stopping, true, memory_order_relaxed);
}

static uint64_t seen_at(const metrics_t *m, const char *org)
{
    for (size_t i = 0; i < m->n_seen; i++)
        if (strcmp(m->seen[i].org, org) == 0)
            return m->seen[i].at_ms;
    return 0;
}

/* n decimal digits at p, or -1. */
static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* The time on a checkpoint's "renkei-time" line (tlog/note.h,
 * YYYY-MM-DDTHH:MM:SSZ), in seconds since the epoch; 0 if it has none. */
static int64_t checkpoint_time(const char *note)
{
    const char *p = strstr(note, "\nrenkei-time ");
    struct tm tm;

    if (p == NULL)
        return 0;
    p += 13;
    if (strlen(p) < 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':' ||
        p[19] != 'Z')
        return 0;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = digits(p, 4) - 1900;
    tm.tm_mon = digits(p + 5, 2) - 1;
    tm.tm_mday = digits(p + 8, 2);
    tm.tm_hour = digits(p + 11, 2);
    tm.tm_min = digits(p + 14, 2);
    tm.tm_sec = digits(p + 17, 2);
    if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mday < 0 || tm.tm_hour < 0 || tm.tm_min < 0 ||
        tm.tm_sec < 0)
        return 0;
    return (int64_t)timegm(&tm);
}

typedef struct org_row {
    char org[RK_ID_MAX + 1];
    uint64_t depth, oldest_ms;
    bool connected;
} org_row_t;

typedef struct org_list {
    org_row_t *rows;
    size_t n, cap;
    bool failed;
} org_list_t;

static int add_org(const org_t *org, void *ctx)
{
    org_list_t *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        org_row_t *r = realloc(l->rows, cap * sizeof *r);
        if (r == NULL) {
            l->failed = true;
            return 1;
        }
        l->rows = r;
        l->cap = cap;
    }
    memset(&l->rows[l->n], 0, sizeof l->rows[l->n]);
    snprintf(l->rows[l->n].org, sizeof l->rows[l->n].org, "%s", org->id);
    l->n++;
    return 0;
}

/* The per-organization rows of one family. */
typedef enum org_figure { FIG_DEPTH, FIG_OLDEST, FIG_CONNECTED, FIG_SEEN } org_figure;

static void org_family(buf_t *b, const metrics_t *m, const org_list_t *l, org_figure fig, uint64_t now_ms)
{
    static const char *const name[] = {"renkei_hub_queue_depth", "renkei_hub_queue_oldest_age_seconds",
                                       "renkei_hub_org_connected",
                                       "renkei_hub_org_last_seen_timestamp_seconds"};
    static const char *const text[] =
        {"Entries (messages and notices) waiting in the organization's queue.",
         "How long the oldest entry of the organization's queue has waited (0: none waits).",
         "1 while the organization has a connection open to the hub.",
         "When a frame of the organization was last read, in seconds since the epoch (0: not since the hub "
         "started)."};

    help(b, name[fig], "gauge", text[fig]);
    for (size_t i = 0; i < l->n; i++) {
        const org_row_t *r = &l->rows[i];
        buf_printf(b, "%s{org=\"", name[fig]);
        buf_label(b, r->org);
        buf_printf(b, "\"} ");
        switch (fig) {
        case FIG_DEPTH: buf_printf(b, "%llu\n", (unsigned long long)r->depth); break;
        case FIG_OLDEST:
            buf_printf(b, "%.3f\n",
                       r->depth > 0 && r->oldest_ms > 0 && now_ms > r->oldest_ms
                           ? (double)(now_ms - r->oldest_ms) / 1e3
                           : 0.0);
            break;
        case FIG_CONNECTED: buf_printf(b, "%d\n", r->connected ? 1 : 0); break;
        case FIG_SEEN: buf_printf(b, "%.3f\n", (double)seen_at(m, r->org) / 1e3); break;
        }
    }
}

void metrics_publish(metrics_t *m, store_t *store, metrics_connected_fn connected, void *ctx)
{
    org_list_t l = {NULL, 0, 0, false};
    store_txn_t *txn = NULL;
    store_usage_t usage;
    uint64_t log_size = 0, now = rk_wall_ms();
    int64_t cp_time = 0;
    uint64_t cp_size = 0;
    char *note = NULL;
    buf_t b = {NULL, 0, 0, false};
    store_err err;

    if (m == NULL)
        return;
    err = store_begin(store, false, &txn);
    if (err == STORE_OK)
        err = store_org_list(txn, add_org, &l);
    if (err == STORE_OK && l.failed)
        err = STORE_ENOMEM;
    for (size_t i = 0; err == STORE_OK && i < l.n; i++) {
        err = store_queue_depth(txn, l.rows[i].org, &l.rows[i].depth, &l.rows[i].oldest_ms);
        l.rows[i].connected = connected != NULL && connected(l.rows[i].org, ctx);
    }
    if (err == STORE_OK)
        err = store_log_size(txn, &log_size);
    if (err == STORE_OK) {
        err = store_log_checkpoint_get(txn, &note);
        if (err == STORE_OK) {
            const char *nl = strchr(note, '\n');
            cp_size = nl != NULL ? strtoull(nl + 1, NULL, 10) : 0;
            cp_time = checkpoint_time(note);
            free(note);
        } else if (err == STORE_ENOTFOUND) {
            err = STORE_OK;
        }
    }
    store_abort(&txn);
    if (err == STORE_OK)
        err = store_usage(store, &usage);

    if (err == STORE_OK) {
        for (int fig = FIG_DEPTH; fig <= FIG_SEEN; fig++)
            org_family(&b, m, &l, (org_figure)fig, now);
        help(&b, "renkei_hub_store_used_bytes", "gauge",
             "Bytes of the LMDB map in use (pages up to the highest used; freed pages below it are reused).");
        buf_printf(&b, "renkei_hub_store_used_bytes %llu\n", (unsigned long long)usage.used_bytes);
        help(&b, "renkei_hub_store_map_size_bytes", "gauge",
             "The LMDB map size (--map-size): the most the store may take.");
        buf_printf(&b, "renkei_hub_store_map_size_bytes %llu\n", (unsigned long long)usage.map_size);
        help(&b, "renkei_hub_routing_log_entries", "gauge", "Entries on the routing log.");
        buf_printf(&b, "renkei_hub_routing_log_entries %llu\n", (unsigned long long)log_size);
        help(&b, "renkei_hub_checkpoint_entries", "gauge",
             "Entries covered by the newest signed checkpoint of the routing log.");
        buf_printf(&b, "renkei_hub_checkpoint_entries %llu\n", (unsigned long long)cp_size);
        help(&b, "renkei_hub_checkpoint_age_seconds", "gauge",
             "Age of the newest signed checkpoint (-1: none yet).");
        buf_printf(&b, "renkei_hub_checkpoint_age_seconds %lld\n",
                   cp_time <= 0
                       ? -1LL
                       : (long long)((int64_t)(now / 1000) > cp_time ? (int64_t)(now / 1000) - cp_time : 0));
    }
    help(&b, "renkei_hub_snapshot_ok", "gauge",
         "1 if the last once-a-second reading of the store succeeded (0: the figures above are missing).");
    buf_printf(&b, "renkei_hub_snapshot_ok %d\n", err == STORE_OK ? 1 : 0);
    free(l.rows);
    if (b.failed) {
        free(b.p);
        return; /* out of memory: the previous snapshot stays */
    }
    pthread_mutex_lock(&m->lock);
    free(m->snap);
    m->snap = b.p;
    m->snap_len = b.len;
    pthread_mutex_unlock(&m->lock);
}

/* -------------------------------------------------------- the HTTP thread's */

static void counter(buf_t *b, const char *name, const char *text, uint64_t v)
{
    help(b, name, "counter", text);
    buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

char *metrics_render(metrics_t *m, size_t *len)
{
    buf_t b = {NULL, 0, 0, false};
    uint64_t cum = 0;

    help(&b, "renkei_hub_messages_total", "counter",
         "Messages answered by the hub, by status (ACCEPTED, or the reason of a refusal).");
    for (int st = RK_ST_ACCEPTED; st <= RK_ST_LAST; st++) {
        uint64_t v = atomic_load_explicit(&m->routed[st], memory_order_relaxed);
        if (v == 0 && st != RK_ST_ACCEPTED)
            continue;
        buf_printf(&b, "renkei_hub_messages_total{status=\"%s\"} %llu\n", rk_status_name((rk_status)st),
                   (unsigned long long)v);
    }
    counter(&b, "renkei_hub_messages_duplicate_total",
            "Messages sent again with an id already accepted, answered with their first answer.",
            atomic_load_explicit(&m->duplicates, memory_order_relaxed));
    counter(&b, "renkei_hub_deliveries_total", "Messages acknowledged by their recipient's agent.",
            atomic_load_explicit(&m->delivered, memory_order_relaxed));
    counter(&b, "renkei_hub_expiries_total", "Messages that expired before their recipient took them.",
            atomic_load_explicit(&m->expired, memory_order_relaxed));
    counter(&b, "renkei_hub_refused_by_recipient_total", "Messages their recipient's agent refused.",
            atomic_load_explicit(&m->refused_by_recipient, memory_order_relaxed));
    help(&b, "renkei_hub_commit_seconds", "histogram", "Time to commit one loop turn's store transaction.");
    for (size_t i = 0; i <= N_BUCKETS; i++) {
        cum += atomic_load_explicit(&m->commit_buckets[i], memory_order_relaxed);
        buf_printf(&b, "renkei_hub_commit_seconds_bucket{le=\"%s\"} %llu\n",
                   i < N_BUCKETS ? bucket_text[i] : "+Inf", (unsigned long long)cum);
    }
    buf_printf(&b, "renkei_hub_commit_seconds_sum %.6f\n",
               (double)atomic_load_explicit(&m->commit_sum_us, memory_order_relaxed) / 1e6);
    buf_printf(&b, "renkei_hub_commit_seconds_count %llu\n", (unsigned long long)cum);
    help(&b, "renkei_hub_store_full", "gauge",
         "1 while the hub backs off a full store (refusing STORE_FULL).");
    buf_printf(&b, "renkei_hub_store_full %d\n",
               rk_mono_ms() < atomic_load_explicit(&m->full_until_mono_ms, memory_order_relaxed) ? 1 : 0);
    help(&b, "renkei_hub_start_time_seconds", "gauge", "When the hub started, in seconds since the epoch.");
    buf_printf(&b, "renkei_hub_start_time_seconds %.3f\n", (double)m->start_wall_ms / 1e3);
    pthread_mutex_lock(&m->lock);
    buf_append(&b, m->snap, m->snap_len);
    pthread_mutex_unlock(&m->lock);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (b.p == NULL) {
        b.p = calloc(1, 1);
        if (b.p == NULL)
            return NULL;
    }
    *len = b.len;
    return b.p;
}

static bool is_healthy(metrics_t *m)
{
    uint64_t last = atomic_load_explicit(&m->last_turn_mono_ms, memory_order_relaxed);
    return last != 0 && rk_mono_ms() - last < METRICS_STALE_MS;
}

static bool is_ready(metrics_t *m)
{
    return is_healthy(m) && !atomic_load_explicit(&m->stopping, memory_order_relaxed) &&
           rk_mono_ms() >= atomic_load_explicit(&m->full_until_mono_ms, memory_order_relaxed);
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned code, const char *type, char *body,
                              size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned code, const char *text)
{
    char *body = strdup(text);
    if (body == NULL)
        return MHD_NO;
    return answer(conn, code, "text/plain; charset=utf-8", body, strlen(body));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    metrics_t *m = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;

    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a body is ignored */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *body = metrics_render(m, &len);
        if (body == NULL)
            return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
        return answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
    }
    if (strcmp(url, "/healthz") == 0)
        return is_healthy(m)
                   ? answer_text(conn, MHD_HTTP_OK, "ok\n")
                   : answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the hub's loop is not turning\n");
    if (strcmp(url, "/readyz") == 0) {
        if (is_ready(m))
            return answer_text(conn, MHD_HTTP_OK, "ready\n");
        if (!is_healthy(m))
            return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the hub's loop is not turning\n");
        if (atomic_load_explicit(&m->stopping, memory_order_relaxed))
            return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the hub is stopping\n");
        return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "the hub's store is full: messages are refused STORE_FULL\n");
    }
    return answer_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n");
}

/* ------------------------------------------------------------- start, stop */

bool metrics_parse_listen(const char *text, bool allow_remote, struct sockaddr_storage *ss, socklen_t *sa_len,
                          char *why, size_t why_len)
{
    bool loopback = false;

    if (!rk_listen_parse(text, ss, sa_len, &loopback)) {
        rk_why(why, why_len,
               "--metrics needs PORT, ADDR:PORT or [ADDR]:PORT with a numeric address, not '%s'", text);
        return false;
    }
    if (!loopback && !allow_remote) {
        rk_why(why, why_len,
               "--metrics %s is not a loopback address: the endpoint has no authentication; give "
               "--metrics-allow-remote as well to serve it there (behind a firewall or a proxy)",
               text);
        return false;
    }
    return true;
}

bool metrics_start(const char *listen_on, bool allow_remote, metrics_t **out, char *why, size_t why_len)
{
    struct sockaddr_storage ss;
    socklen_t ss_len = 0, got_len = sizeof ss;
    char host[64];
    metrics_t *m;
    int one = 1;

    *out = NULL;
    if (!metrics_parse_listen(listen_on, allow_remote, &ss, &ss_len, why, why_len))
        return false;
    m = calloc(1, sizeof *m);
    if (m == NULL) {
        rk_why(why, why_len, "out of memory");
        return false;
    }
    m->start_wall_ms = rk_wall_ms();
    pthread_mutex_init(&m->lock, NULL);
    /* bound here, so that a port in use is said plainly and port 0 is known */
    m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(m->fd, (struct sockaddr *)&ss, ss_len) != 0 || listen(m->fd, 16) != 0 ||
        getsockname(m->fd, (struct sockaddr *)&ss, &got_len) != 0) {
        rk_why(why, why_len, "cannot listen for metrics on %s: %s", listen_on, strerror(errno));
        goto fail;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
        snprintf(m->address, sizeof m->address, "[%s]:%u", host, (unsigned)ntohs(a6->sin6_port));
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
        snprintf(m->address, sizeof m->address, "%s:%u", host, (unsigned)ntohs(a4->sin_port));
    }
    /* poll or epoll, never select: the hub may hold more than FD_SETSIZE sockets */
    m->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                                 0, NULL, NULL, on_request, m, MHD_OPTION_LISTEN_SOCKET, m->fd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)10, MHD_OPTION_END);
    if (m->daemon == NULL) {
        rk_why(why, why_len, "cannot serve metrics on %s (libmicrohttpd did not start)", m->address);
        goto fail;
    }
    m->fd = -1; /* the daemon's now: MHD_stop_daemon closes it */
    *out = m;
    return true;
fail:
    if (m->fd >= 0)
        close(m->fd);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return false;
}

const char *metrics_address(const metrics_t *m)
{
    return m->address;
}

void metrics_stop(metrics_t **mp)
{
    metrics_t *m;
    if (mp == NULL || *mp == NULL)
        return;
    m = *mp;
    if (m->daemon != NULL)
        MHD_stop_daemon(m->daemon); /* closes the listening socket too */
    if (m->fd >= 0)
        close(m->fd);
    pthread_mutex_destroy(&m->lock);
    free(m->snap);
    free(m->seen);
    free(m);
    *mp = NULL;
}
