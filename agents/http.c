/*
 * http.c - the agent's local HTTP/JSON API (http.h).
 *
 * One libmicrohttpd thread answers requests, one at a time; the agent is
 * not thread-safe, so it is used under a lock, which the main thread also
 * takes every few seconds to re-send pending messages (and to connect,
 * while the hub cannot be reached).
 */
#include "http.h"

#include "gateway.h"
#include "keystore.h"
#include "listen.h"
#include "number.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>
#include <microhttpd.h>
#include <sodium.h>

#include "logline.h"
#include "why.h"

#define TOKEN_MIN 16
#define TOKEN_MAX 512
#define IDEM_KEY_MAX 200
#define KEYS_FILE "http-keys.mdb"
#define FLUSH_EVERY_MS 5000
#define CONNECT_EVERY_MS 30000 /* while the hub cannot be reached: a try holds requests up to --timeout */
#define MSG_PREFIX "/v1/messages"
#define HTTP_TOO_LARGE 413u
#define HTTP_UNPROCESSABLE 422u

typedef struct server {
    rk_agent_t *agent;
    const rk_http_config *cfg;
    pthread_mutex_t lock; /* the agent and the key store */
    bool connected;
    uint8_t token_hash[crypto_generichash_BYTES];
    size_t body_max;
    rk_keystore_t keys; /* Idempotency-Key -> message (keystore.h) */
} server_t;

/* One request's body, gathered as it arrives. */
typedef struct req {
    char *body;
    size_t len, cap;
    bool too_big;
} req_t;

static void logf_at(const server_t *s, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_at(const server_t *s, int level, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    if (s->cfg->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->cfg->log(level, line);
}

/* ------------------------------------------------------------ answers */

static enum MHD_Result answer_json(struct MHD_Connection *conn, unsigned code, json_t *obj)
{
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    struct MHD_Response *r;
    enum MHD_Result ret;
    size_t len;

    json_decref(obj);
    if (text == NULL) {
        static char oom[] = "{\"error\":\"out of memory\"}";
        r = MHD_create_response_from_buffer(sizeof oom - 1, oom, MHD_RESPMEM_PERSISTENT);
        code = MHD_HTTP_SERVICE_UNAVAILABLE;
    } else {
        len = strlen(text);
        r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (r == NULL)
            free(text);
    }
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (code == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST, GET");
    ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer_error(struct MHD_Connection *conn, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result answer_error(struct MHD_Connection *conn, unsigned code, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return answer_json(conn, code, json_pack("{s:s}", "error", text));
}

/* ------------------------------------------------------------ requests */

static bool authorized(const server_t *s, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    uint8_t got[crypto_generichash_BYTES];
    bool ok;

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    /* hashes of equal length, compared in constant time */
    crypto_generichash(got, sizeof got, (const uint8_t *)h, strlen(h), NULL, 0);
    ok = sodium_memcmp(got, s->token_hash, sizeof got) == 0;
    sodium_memzero(got, sizeof got);
    return ok;
}

static void iso_time(uint64_t ms, char out[48])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

static int history_add(json_t *h, const char *state, uint64_t ms)
{
    char at[48];
    if (ms == 0)
        return 0;
    iso_time(ms, at);
    return json_array_append_new(h, json_pack("{s:s, s:s}", "state", state, "at", at));
}

/* The message as GET /v1/messages/{id} shows it: never the link code. */
static json_t *status_json(const rk_msg_status *st)
{
    char id[RK_CODE_TEXT_LEN + 1], other[RK_CODE_TEXT_LEN + 1];
    json_t *o, *h = json_array();

    if (h == NULL)
        return NULL;
    history_add(h, "PENDING", st->created_ms);
    history_add(h, "ACCEPTED", st->accepted_ms);
    history_add(h, "DELIVERED", st->delivered_ms);
    history_add(h, "ANSWERED", st->answered_ms);
    history_add(h, "REFUSED", st->refused_ms);
    history_add(h, "EXPIRED", st->expired_ms);
    rk_code_to_text(st->msg_id, id);
    o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:o}", "msg_id", id, "to", st->to, "type", st->type,
                  "state", rk_msg_state_name(st->state), "complete", st->complete, "attempts",
                  (json_int_t)st->attempts, "history", h);
    if (o == NULL)
        return NULL;
    if (st->is_reply) {
        rk_code_to_text(st->reply_to, other);
        json_object_set_new(o, "reply_to", json_string(other));
    }
    if (st->state == RK_MSG_ANSWERED) {
        rk_code_to_text(st->reply_msg_id, other);
        json_object_set_new(o, "reply_msg_id", json_string(other));
    }
    if (st->seq != 0)
        json_object_set_new(o, "seq", json_integer((json_int_t)st->seq));
    if (st->state == RK_MSG_REFUSED || (st->state == RK_MSG_PENDING && st->status != 0)) {
        json_object_set_new(o, "status", json_string(rk_status_name(st->status)));
        if (st->detail[0] != '\0')
            json_object_set_new(o, "detail", json_string(st->detail));
    }
    return o;
}

/* 202 with the message's state, or 422 if it was refused. */
static enum MHD_Result answer_sent(struct MHD_Connection *conn, const rk_msg_status *st)
{
    char id[RK_CODE_TEXT_LEN + 1];
    rk_code_to_text(st->msg_id, id);
    if (st->state == RK_MSG_REFUSED)
        return answer_json(conn, HTTP_UNPROCESSABLE,
                           json_pack("{s:s, s:s, s:s, s:s, s:s}", "error", "refused", "msg_id", id, "state",
                                     "REFUSED", "status", rk_status_name(st->status), "detail",
                                     st->detail[0] ? st->detail : rk_status_text(st->status)));
    return answer_json(conn, MHD_HTTP_ACCEPTED,
                       json_pack("{s:s, s:s}", "msg_id", id, "state", rk_msg_state_name(st->state)));
}

static enum MHD_Result get_message(server_t *s, struct MHD_Connection *conn, const char *id_text)
{
    uint8_t id[RK_MSGID_LEN];
    rk_msg_status st;
    char why[512] = "";
    rk_agent_err err;

    if (!rk_code_from_text(id_text, id))
        return answer_error(conn, MHD_HTTP_NOT_FOUND, "a message id is 32 hexadecimal digits");
    pthread_mutex_lock(&s->lock);
    err = rk_agent_status_get(s->agent, id, &st, why, sizeof why);
    pthread_mutex_unlock(&s->lock);
    if (err == RK_AGENT_ENOTFOUND)
        return answer_error(conn, MHD_HTTP_NOT_FOUND, "no message with this id in this agent's outbox");
    if (err != RK_AGENT_OK)
        return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", why[0] ? why : rk_agent_strerror(err));
    return answer_json(conn, MHD_HTTP_OK, status_json(&st));
}

/* The request's fields, checked. */
typedef struct post {
    char to[RK_ID_MAX + 1], type[RK_TYPE_MAX + 1], person[RK_PERSON_MAX + 1];
    char *payload;
    bool has_reply_to, no_reply;
    uint8_t reply_to[RK_MSGID_LEN];
} post_t;

/* 0, or the HTTP status of the answer already queued. */
static enum MHD_Result parse_post(struct MHD_Connection *conn, const req_t *rq, rk_number_rule rule,
                                  post_t *p, bool *ok)
{
    json_error_t jerr;
    json_t *root, *v;
    const char *bad, *t;
    enum MHD_Result ret = MHD_YES;

    *ok = false;
    root = json_loadb(rq->body != NULL ? rq->body : "", rq->len, JSON_REJECT_DUPLICATES, &jerr);
    /* jansson's message may quote the body: only the position is said */
    if (root == NULL)
        return answer_error(conn, MHD_HTTP_BAD_REQUEST, "the body is not valid JSON (line %d, column %d)",
                            jerr.line, jerr.column);
    if (!json_is_object(root)) {
        ret = answer_error(conn, MHD_HTTP_BAD_REQUEST, "the body must be a JSON object");
        goto done;
    }
    if ((bad = rk_gw_name_field(root, "to", p->to, sizeof p->to)) != NULL) {
        ret = answer_error(conn, MHD_HTTP_BAD_REQUEST, "field \"to\" %s", bad);
        goto done;
    }
    if ((bad = rk_gw_name_field(root, "type", p->type, sizeof p->type)) != NULL) {
        ret = answer_error(conn, MHD_HTTP_BAD_REQUEST, "field \"type\" %s", bad);
        goto done;
    }
    t = json_string_value(json_object_get(root, "person"));
    if (t == NULL) {
        ret = answer_error(conn, MHD_HTTP_BAD_REQUEST, "field \"person\" is missing or not a string");
        goto done;
    }
    {
        /* checked and normalized as the command line does (--number-rule);
         * the answer says what is wrong, never the number */
        char nwhy[200] = "";
        if (!rk_number_normalize(rule, t, strlen(t), p->person, nwhy, sizeof nwhy)) {
            ret = answer_error(conn, MHD_HTTP_BAD_REQUEST, "field \"person\": %s", nwhy);
            goto done;
        }
    }
    if ((v = json_object_get(root, "payload")) == NULL) {
        ret = answer_error(conn, MHD_HTTP_BAD_REQUEST, "field \"payload\" is missing (any JSON value)");
        goto done;
    }
    p->payload = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (p->payload == NULL) {
        ret = answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
        goto done;
    }
    if ((v = json_object_get(root, "reply_to")) != NULL && !json_is_null(v)) {
        t = json_string_value(v);
        if (t == NULL || !rk_code_from_text(t, p->reply_to)) {
            ret = answer_error(conn, MHD_HTTP_BAD_REQUEST,
                               "field \"reply_to\" must be a message id of 32 hexadecimal digits");
            goto done;
        }
        p->has_reply_to = true;
    }
    if ((v = json_object_get(root, "no_reply")) != NULL && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            ret = answer_error(conn, MHD_HTTP_BAD_REQUEST, "field \"no_reply\" must be true or false");
            goto done;
        }
        p->no_reply = json_is_true(v);
    }
    *ok = true;
done:
    json_decref(root);
    return ret;
}

static void post_clear(post_t *p)
{
    if (p->payload != NULL) {
        sodium_memzero(p->payload, strlen(p->payload));
        free(p->payload);
    }
    sodium_memzero(p, sizeof *p);
}

static bool idem_key_valid(const char *k)
{
    size_t n = k != NULL ? strlen(k) : 0;
    if (n == 0 || n > IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
            return false;
    return true;
}

/* Under s->lock. */
static enum MHD_Result send_message(server_t *s, struct MHD_Connection *conn, const char *key,
                                    const post_t *p)
{
    uint8_t h[32], val[RK_KEYSTORE_VAL_LEN], msg_id[RK_MSGID_LEN];
    rk_msg_status st;
    rk_outgoing m;
    rk_result_t result;
    char why[512] = "";
    rk_agent_err err, serr;
    int found;

    rk_keystore_hash(key, h);
    found = rk_keystore_get(&s->keys, h, val);
    if (found < 0)
        return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the idempotency keys cannot be read");
    if (found == 1 && val[0] == RK_KEYSTORE_RESERVED)
        return answer_error(conn, MHD_HTTP_CONFLICT,
                            "a request with this Idempotency-Key was being sent when the agent stopped; "
                            "whether it was kept is unknown: look for it with renkei-agent status");
    if (found == 1) {
        err = rk_agent_status_get(s->agent, val + 1, &st, why, sizeof why);
        if (err == RK_AGENT_ENOTFOUND)
            return answer_error(conn, MHD_HTTP_CONFLICT,
                                "this Idempotency-Key was used for a message that has since been purged");
        if (err != RK_AGENT_OK)
            return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s",
                                why[0] ? why : rk_agent_strerror(err));
        if (!rk_gw_same_message(s->agent, &st, p->to, p->type, p->person))
            return answer_error(conn, MHD_HTTP_CONFLICT,
                                "this Idempotency-Key was used for a different message (recipient, type "
                                "or person)");
        return answer_sent(conn, &st);
    }
    memset(val, 0, sizeof val);
    val[0] = RK_KEYSTORE_RESERVED;
    /* another process of this data directory may be sending with the same key */
    switch (rk_keystore_put(&s->keys, h, val, true)) {
    case 1: break;
    case 0:
        return answer_error(conn, MHD_HTTP_CONFLICT,
                            "a request with this Idempotency-Key is being sent by another process; try "
                            "again");
    default: return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the idempotency key cannot be stored");
    }

    memset(&m, 0, sizeof m);
    memset(&result, 0, sizeof result);
    memset(msg_id, 0, sizeof msg_id);
    m.to = p->to;
    m.type = p->type;
    m.person = p->person;
    m.payload = (const uint8_t *)p->payload;
    m.payload_len = strlen(p->payload);
    m.reply_to = p->has_reply_to ? p->reply_to : NULL;
    m.no_reply = p->no_reply;
    err = rk_agent_send(s->agent, &m, msg_id, &result, why, sizeof why);
    /* Kept in the outbox (accepted, pending, or refused by the hub)? */
    serr = rk_agent_status_get(s->agent, msg_id, &st, NULL, 0);
    if (serr == RK_AGENT_OK) {
        val[0] = RK_KEYSTORE_SENT;
        memcpy(val + 1, msg_id, RK_MSGID_LEN);
        if (rk_keystore_put(&s->keys, h, val, false) != 1)
            logf_at(s, RK_LOG_ERR, "a message was kept but its Idempotency-Key could not be stored");
        if (err == RK_AGENT_EPENDING && why[0] != '\0')
            logf_at(s, RK_LOG_NOTICE, "pending: %s", why);
        return answer_sent(conn, &st);
    }
    /* nothing kept: the same key may try again */
    (void)rk_keystore_del(&s->keys, h);
    switch (err) {
    case RK_AGENT_EREFUSED:
        return answer_json(conn, HTTP_UNPROCESSABLE,
                           json_pack("{s:s, s:s, s:s}", "error", "refused", "status",
                                     rk_status_name(result.status), "detail",
                                     result.detail[0] ? result.detail : rk_status_text(result.status)));
    case RK_AGENT_ENOTFOUND:
        return answer_error(conn, HTTP_UNPROCESSABLE,
                            "the resident is not in this agent's local table: enroll or bind the number "
                            "first");
    case RK_AGENT_EINVAL:
        return answer_error(conn, MHD_HTTP_BAD_REQUEST, "%s", why[0] ? why : "invalid message");
    default:
        logf_at(s, RK_LOG_ERR, "sending failed: %s", why[0] ? why : rk_agent_strerror(err));
        return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", why[0] ? why : rk_agent_strerror(err));
    }
}

static enum MHD_Result post_message(server_t *s, struct MHD_Connection *conn, const req_t *rq)
{
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
    post_t p;
    bool ok;
    enum MHD_Result ret;

    memset(&p, 0, sizeof p);
    if (key == NULL)
        return answer_error(conn, MHD_HTTP_BAD_REQUEST, "header \"Idempotency-Key\" is missing");
    if (!idem_key_valid(key))
        return answer_error(conn, MHD_HTTP_BAD_REQUEST,
                            "header \"Idempotency-Key\" must be 1 to %d printable ASCII characters without "
                            "spaces",
                            IDEM_KEY_MAX);
    ret = parse_post(conn, rq, s->cfg->number_rule, &p, &ok);
    if (ok) {
        pthread_mutex_lock(&s->lock);
        ret = send_message(s, conn, key, &p);
        pthread_mutex_unlock(&s->lock);
    }
    post_clear(&p);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    server_t *s = cls;
    req_t *rq = *con_cls;
    bool is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0,
         is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;

    (void)version;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) { /* a part of the body */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->too_big || n > s->body_max - rq->len) {
            rq->too_big = true;
            return MHD_YES;
        }
        if (rq->len + n > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            char *bigger;
            while (cap < rq->len + n)
                cap *= 2;
            bigger = malloc(cap);
            if (bigger == NULL)
                return MHD_NO;
            if (rq->body != NULL) {
                memcpy(bigger, rq->body, rq->len);
                sodium_memzero(rq->body, rq->cap);
                free(rq->body);
            }
            rq->body = bigger;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        return MHD_YES;
    }
    /* the whole request is in: answer.  The URL is never logged: a caller
     * could put anything there. */
    if (!authorized(s, conn)) {
        logf_at(s, RK_LOG_WARNING, "refused a %s request: missing or wrong bearer token",
                is_post  ? "POST"
                : is_get ? "GET"
                         : "other");
        return answer_error(conn, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token");
    }
    if (strcmp(url, MSG_PREFIX) == 0) {
        if (!is_post)
            return answer_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "%s takes POST", MSG_PREFIX);
        if (rq->too_big)
            return answer_error(conn, HTTP_TOO_LARGE, "the body is larger than the limit of %zu bytes",
                                s->body_max);
        return post_message(s, conn, rq);
    }
    if (strncmp(url, MSG_PREFIX "/", sizeof MSG_PREFIX) == 0 &&
        strchr(url + sizeof MSG_PREFIX, '/') == NULL && url[sizeof MSG_PREFIX] != '\0') {
        if (!is_get)
            return answer_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "%s/{msg_id} takes GET", MSG_PREFIX);
        return get_message(s, conn, url + sizeof MSG_PREFIX);
    }
    return answer_error(conn, MHD_HTTP_NOT_FOUND, "not found: the API has POST %s and GET %s/{msg_id}",
                        MSG_PREFIX, MSG_PREFIX);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_t *rq = *con_cls;
    (void)cls, (void)conn, (void)toe;
    if (rq == NULL)
        return;
    if (rq->body != NULL) {
        sodium_memzero(rq->body, rq->cap);
        free(rq->body);
    }
    free(rq);
    *con_cls = NULL;
}

/* ------------------------------------------------------------ starting */

static bool parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *why,
                         size_t why_len)
{
    bool loopback = false;

    memset(ss, 0, sizeof *ss);
    if (strncmp(text, "unix:", 5) == 0) {
        struct sockaddr_un *u = (struct sockaddr_un *)ss;
        if (text[5] != '/' || strlen(text + 5) >= sizeof u->sun_path) {
            rk_why(why, why_len, "--listen unix:PATH needs an absolute path of at most %zu bytes",
                   sizeof u->sun_path - 1);
            return false;
        }
        u->sun_family = AF_UNIX;
        snprintf(u->sun_path, sizeof u->sun_path, "%s", text + 5);
        *len = sizeof *u;
        return true;
    }
    if (!rk_listen_parse(text, ss, len, &loopback))
        goto bad;
    if (loopback)
        return true;
    rk_why(why, why_len,
           "--listen %s is not a loopback address: the API is a local gateway; serve it on 127.0.0.1, "
           "[::1] or a Unix socket (unix:/path)",
           text);
    return false;
bad:
    rk_why(why, why_len,
           "--listen needs PORT, 127.0.0.1:PORT, [::1]:PORT or unix:/path with a numeric address, not '%s'",
           text);
    return false;
}

bool rk_http_listen_valid(const char *listen_on, char *why, size_t why_len)
{
    struct sockaddr_storage ss;
    socklen_t len;
    return parse_listen(listen_on, &ss, &len, why, why_len);
}

static bool read_token(server_t *s, const char *path, char *why, size_t why_len)
{
    char buf[TOKEN_MAX + 2];
    size_t len = 0;
    ssize_t n;
    struct stat st;
    bool ok = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        rk_why(why, why_len, "cannot open the token file %s: %s", path, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        logf_at(s, RK_LOG_WARNING,
                "the token file %s may be read by users other than its owner (mode %04o); "
                "chmod 600 it",
                path, (unsigned)(st.st_mode & 07777));
    while (len < sizeof buf && (n = read(fd, buf + len, sizeof buf - len)) > 0)
        len += (size_t)n;
    close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len < TOKEN_MIN || len > TOKEN_MAX) {
        rk_why(why, why_len,
               "the token in %s must be %d to %d characters on one line (e.g. head -c 32 "
               "/dev/urandom | base64)",
               path, TOKEN_MIN, TOKEN_MAX);
        goto done;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] < 0x21 || (unsigned char)buf[i] > 0x7e) {
            rk_why(why, why_len, "the token in %s must be printable ASCII without spaces", path);
            goto done;
        }
    crypto_generichash(s->token_hash, sizeof s->token_hash, (const uint8_t *)buf, len, NULL, 0);
    ok = true;
done:
    sodium_memzero(buf, sizeof buf);
    return ok;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int rk_http_serve(rk_agent_t *a, const rk_http_config *cfg, volatile sig_atomic_t *stop)
{
    server_t s;
    struct sockaddr_storage ss;
    socklen_t ss_len = 0, got_len = sizeof ss;
    struct MHD_Daemon *d = NULL;
    char why[512] = "", address[160], host[64];
    int fd = -1, one = 1, rc = 1;
    bool is_unix;
    uint64_t next = 0;

    memset(&s, 0, sizeof s);
    s.agent = a;
    s.cfg = cfg;
    s.body_max = cfg->body_max ? cfg->body_max : RK_HTTP_BODY_MAX_DEFAULT;
    pthread_mutex_init(&s.lock, NULL);
    if (!parse_listen(cfg->listen, &ss, &ss_len, why, sizeof why) ||
        !read_token(&s, cfg->token_file, why, sizeof why) ||
        !rk_keystore_open(&s.keys, cfg->data_dir, KEYS_FILE, "the idempotency keys", why, sizeof why))
        goto fail;
    is_unix = ss.ss_family == AF_UNIX;
    if (is_unix)
        unlink(((struct sockaddr_un *)&ss)->sun_path); /* a socket left by an earlier run */
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || (!is_unix && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&ss, ss_len) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &got_len) != 0) {
        rk_why(why, sizeof why, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        goto fail;
    }
    if (is_unix) {
        chmod(((struct sockaddr_un *)&ss)->sun_path, 0600);
        snprintf(address, sizeof address, "%s", cfg->listen);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
        snprintf(address, sizeof address, "[%s]:%u", host, (unsigned)ntohs(a6->sin6_port));
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
        snprintf(address, sizeof address, "%s:%u", host, (unsigned)ntohs(a4->sin_port));
    }
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                             (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                         0, NULL, NULL, on_request, &s, MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (d == NULL) {
        rk_why(why, sizeof why, "cannot serve HTTP on %s (libmicrohttpd did not start)", address);
        goto fail;
    }
    /* fd is the daemon's now */
    logf_at(&s, RK_LOG_NOTICE, "serving the HTTP API on %s as %s", address, rk_agent_org(a));
    while (!*stop) {
        uint64_t now = mono_ms();
        if (now >= next) {
            bool connected;
            pthread_mutex_lock(&s.lock);
            connected = rk_gw_flush(s.agent, cfg->connect, cfg->log);
            pthread_mutex_unlock(&s.lock);
            next = mono_ms() + (connected ? FLUSH_EVERY_MS : CONNECT_EVERY_MS);
        }
        sleep_ms(200);
    }
    logf_at(&s, RK_LOG_NOTICE, "stopping the HTTP API");
    rc = 0;
    MHD_stop_daemon(d);
    if (is_unix)
        unlink(((struct sockaddr_un *)&ss)->sun_path);
    goto done;
fail:
    logf_at(&s, RK_LOG_ERR, "%s", why);
    if (fd >= 0)
        close(fd);
done:
    rk_keystore_close(&s.keys);
    pthread_mutex_destroy(&s.lock);
    sodium_memzero(s.token_hash, sizeof s.token_hash);
    return rc;
}
