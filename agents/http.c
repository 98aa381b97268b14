/*
 * http.c - the agent's local HTTP/JSON API (http.h).
 *
 * libmicrohttpd answers each connection on its own thread (at most
 * CONN_MAX at once).  The agent is not thread-safe, so it is used under a
 * lock, held only for one library call at a time, never for a wait.  The
 * main thread takes it every few seconds to re-send pending messages (and
 * to connect, while the hub cannot be reached) and, while a long-poll
 * (GET /v1/inbox) waits, every few milliseconds to read the hub's
 * connection and claim a message for it: a waiter sleeps on a condition
 * variable, not on the agent.
 *
 * A message handed out is leased to the caller for cfg->lease_s seconds;
 * one that is not replied to, refused or marked done by then is handed out
 * again (the mailbox's claim by pid covers a gateway that died: the next
 * one to open the data directory puts it back to NEW).
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
#define SEARCH_PATH "/v1/messages/search"
#define INBOX_PREFIX "/v1/inbox"
#define HTTP_TOO_LARGE 413u
#define HTTP_UNPROCESSABLE 422u
#define CONN_MAX 64u  /* connections served at once */
#define WAIT_MAX_S 60 /* the longest long-poll */
#define PUMP_MS 5     /* one read of the hub's connection for a waiter */
#define IDLE_MS 50    /* the main thread's sleep with nobody waiting: how late a state may be */
#define BUSY_MS 25    /* ...and while a long-poll waits */

/* A message handed out by GET /v1/inbox and not answered yet. */
typedef struct lease {
    char from[RK_ID_MAX + 1];
    uint8_t msg_id[RK_MSGID_LEN];
    bool is_reply;
    uint64_t until_ms; /* handed out again after this */
} lease_t;

/* A long-poll waiting for a message. */
typedef struct waiter {
    rk_recv_what what;
    rk_event *ev; /* set by the main thread */
    struct waiter *next;
} waiter_t;

typedef struct server {
    rk_agent_t *agent;
    const rk_http_config *cfg;
    pthread_mutex_t lock;         /* the agent and the leases */
    pthread_mutex_t klock;        /* the key store and flight; taken after lock, if both are */
    uint8_t flight[CONN_MAX][32]; /* keys whose message a request is sending now */
    size_t n_flight;
    bool connected;
    uint8_t token_hash[crypto_generichash_BYTES];
    size_t body_max;
    uint64_t lease_ms;
    rk_keystore_t keys; /* Idempotency-Key -> message (keystore.h) */
    lease_t *leases;
    size_t n_leases, cap_leases;
    /* Taken after lock when both are needed. */
    pthread_mutex_t qlock;  /* the waiters */
    pthread_cond_t served;  /* a waiter got its message, or stopping */
    pthread_cond_t arrived; /* a waiter came: wakes the main thread */
    waiter_t *waiters;
    bool stopping;
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

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------ answers */

static enum MHD_Result answer_json_allow(struct MHD_Connection *conn, unsigned code, json_t *obj,
                                         const char *allow)
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
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED && allow != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer_json(struct MHD_Connection *conn, unsigned code, json_t *obj)
{
    return answer_json_allow(conn, code, obj, NULL);
}

/* 204 No Content: a long-poll that saw nothing. */
static enum MHD_Result answer_empty(struct MHD_Connection *conn)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result not_allowed(struct MHD_Connection *conn, const char *allow, const char *what)
{
    char text[200];
    snprintf(text, sizeof text, "%s takes %s", what, allow);
    return answer_json_allow(conn, MHD_HTTP_METHOD_NOT_ALLOWED, json_pack("{s:s}", "error", text), allow);
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

/* Under s->klock: whether h is being sent by a request of this process. */
static bool in_flight(const server_t *s, const uint8_t h[32])
{
    for (size_t i = 0; i < s->n_flight; i++)
        if (memcmp(s->flight[i], h, 32) == 0)
            return true;
    return false;
}

/* The key store has a lock of its own: a request's reservation (a disk
 * flush) is made while another request's message is being sent. */
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
    bool same;

    rk_keystore_hash(key, h);
    pthread_mutex_lock(&s->klock);
    found = rk_keystore_get(&s->keys, h, val);
    if (found < 0) {
        pthread_mutex_unlock(&s->klock);
        return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the idempotency keys cannot be read");
    }
    if (found == 1 && val[0] == RK_KEYSTORE_RESERVED) {
        bool now = in_flight(s, h);
        pthread_mutex_unlock(&s->klock);
        if (now)
            return answer_error(conn, MHD_HTTP_CONFLICT,
                                "a request with this Idempotency-Key is being sent now; try again");
        return answer_error(conn, MHD_HTTP_CONFLICT,
                            "a request with this Idempotency-Key was being sent when the agent stopped; "
                            "whether it was kept is unknown: look for it with renkei-agent status");
    }
    if (found == 1) {
        pthread_mutex_unlock(&s->klock);
        pthread_mutex_lock(&s->lock);
        err = rk_agent_status_get(s->agent, val + 1, &st, why, sizeof why);
        same = err == RK_AGENT_OK && rk_gw_same_message(s->agent, &st, p->to, p->type, p->person);
        pthread_mutex_unlock(&s->lock);
        if (err == RK_AGENT_ENOTFOUND)
            return answer_error(conn, MHD_HTTP_CONFLICT,
                                "this Idempotency-Key was used for a message that has since been purged");
        if (err != RK_AGENT_OK)
            return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s",
                                why[0] ? why : rk_agent_strerror(err));
        if (!same)
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
        pthread_mutex_unlock(&s->klock);
        return answer_error(conn, MHD_HTTP_CONFLICT,
                            "a request with this Idempotency-Key is being sent by another process; try "
                            "again");
    default:
        pthread_mutex_unlock(&s->klock);
        return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the idempotency key cannot be stored");
    }
    if (s->n_flight < CONN_MAX) /* one request per connection: always room */
        memcpy(s->flight[s->n_flight++], h, 32);
    pthread_mutex_unlock(&s->klock);

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
    pthread_mutex_lock(&s->lock);
    err = rk_agent_send(s->agent, &m, msg_id, &result, why, sizeof why);
    /* Kept in the outbox (accepted, pending, or refused by the hub)? */
    serr = rk_agent_status_get(s->agent, msg_id, &st, NULL, 0);
    pthread_mutex_unlock(&s->lock);

    pthread_mutex_lock(&s->klock);
    for (size_t i = 0; i < s->n_flight; i++)
        if (memcmp(s->flight[i], h, 32) == 0) {
            memcpy(s->flight[i], s->flight[--s->n_flight], 32);
            break;
        }
    if (serr == RK_AGENT_OK) {
        val[0] = RK_KEYSTORE_SENT;
        memcpy(val + 1, msg_id, RK_MSGID_LEN);
        /* Not flushed by itself (the next reservation's commit flushes it,
         * and closing does): lost only with the machine, this record leaves
         * the durable reservation, which answers 409 (outcome unknown),
         * never a second message.  One disk flush less per send. */
        (void)mdb_env_set_flags(s->keys.env, MDB_NOSYNC, 1);
        if (rk_keystore_put(&s->keys, h, val, false) != 1)
            logf_at(s, RK_LOG_ERR, "a message was kept but its Idempotency-Key could not be stored");
        (void)mdb_env_set_flags(s->keys.env, MDB_NOSYNC, 0);
    } else {
        (void)rk_keystore_del(&s->keys, h); /* nothing kept: the same key may try again */
    }
    pthread_mutex_unlock(&s->klock);
    if (serr == RK_AGENT_OK) {
        if (err == RK_AGENT_EPENDING && why[0] != '\0')
            logf_at(s, RK_LOG_NOTICE, "pending: %s", why);
        return answer_sent(conn, &st);
    }
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
    if (ok)
        ret = send_message(s, conn, key, &p);
    post_clear(&p);
    return ret;
}

/* ------------------------------------------------------------ the body */

/* The body as a JSON object in *root; NULL after queueing a 400 (or 413)
 * answer in *ret. */
static json_t *body_object(server_t *s, struct MHD_Connection *conn, const req_t *rq, enum MHD_Result *ret)
{
    json_error_t jerr;
    json_t *root;

    if (rq->too_big) {
        *ret =
            answer_error(conn, HTTP_TOO_LARGE, "the body is larger than the limit of %zu bytes", s->body_max);
        return NULL;
    }
    root = json_loadb(rq->body != NULL ? rq->body : "", rq->len, JSON_REJECT_DUPLICATES, &jerr);
    /* jansson's message may quote the body: only the position is said */
    if (root == NULL) {
        *ret = answer_error(conn, MHD_HTTP_BAD_REQUEST, "the body is not valid JSON (line %d, column %d)",
                            jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *ret = answer_error(conn, MHD_HTTP_BAD_REQUEST, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* ------------------------------------------------------------ search */

/* POST /v1/messages/search {"person"}: the messages this organization sent
 * about the person.  A person without a code here gets the same empty list
 * as one without messages, after the same walk through the outbox. */
static enum MHD_Result search_messages(server_t *s, struct MHD_Connection *conn, const req_t *rq)
{
    char person[RK_PERSON_MAX + 1], nwhy[200] = "", why[512] = "";
    uint8_t code[RK_CODE_LEN];
    rk_status_filter f;
    rk_msg_status *list = NULL;
    size_t n = 0;
    rk_agent_err err;
    enum MHD_Result ret = MHD_YES;
    json_t *root = body_object(s, conn, rq, &ret), *arr;
    const char *t;

    if (root == NULL)
        return ret;
    t = json_string_value(json_object_get(root, "person"));
    if (t == NULL) {
        json_decref(root);
        return answer_error(conn, MHD_HTTP_BAD_REQUEST, "field \"person\" is missing or not a string");
    }
    /* checked and normalized as POST /v1/messages does; never said back */
    if (!rk_number_normalize(s->cfg->number_rule, t, strlen(t), person, nwhy, sizeof nwhy)) {
        json_decref(root);
        sodium_memzero(person, sizeof person);
        return answer_error(conn, MHD_HTTP_BAD_REQUEST, "field \"person\": %s", nwhy);
    }
    json_decref(root); /* jansson frees the copy of the number; the body is wiped by on_completed */
    memset(&f, 0, sizeof f);
    pthread_mutex_lock(&s->lock);
    err = rk_agent_lookup(s->agent, person, code, why, sizeof why);
    if (err == RK_AGENT_ENOTFOUND) {
        /* a code nobody has (link codes are random; all zero is never one
         * given out) walks the outbox just the same */
        memset(code, 0, sizeof code);
        err = RK_AGENT_OK;
    }
    if (err == RK_AGENT_OK) {
        f.code = code;
        err = rk_agent_status_list(s->agent, &f, &list, &n, why, sizeof why);
    }
    pthread_mutex_unlock(&s->lock);
    sodium_memzero(person, sizeof person);
    sodium_memzero(code, sizeof code);
    if (err != RK_AGENT_OK)
        return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", why[0] ? why : rk_agent_strerror(err));
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, status_json(&list[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    if (list != NULL) {
        sodium_memzero(list, n * sizeof *list);
        free(list);
    }
    if (arr == NULL)
        return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    return answer_json(conn, MHD_HTTP_OK, json_pack("{s:o}", "messages", arr));
}

/* ------------------------------------------------------------ the inbox */

/* Under s->lock. */
static lease_t *lease_find(server_t *s, const char *from, const uint8_t msg_id[RK_MSGID_LEN])
{
    for (size_t i = 0; i < s->n_leases; i++)
        if (strcmp(s->leases[i].from, from) == 0 && memcmp(s->leases[i].msg_id, msg_id, RK_MSGID_LEN) == 0)
            return &s->leases[i];
    return NULL;
}

/* Under s->lock.  A message handed out until now + the lease; false if
 * memory ran out (it is handed out again after a restart then). */
static bool lease_set(server_t *s, const rk_event *ev)
{
    lease_t *l = lease_find(s, ev->from, ev->msg_id);
    if (l == NULL) {
        if (s->n_leases == s->cap_leases) {
            size_t cap = s->cap_leases ? s->cap_leases * 2 : 16;
            lease_t *bigger = realloc(s->leases, cap * sizeof *bigger);
            if (bigger == NULL)
                return false;
            s->leases = bigger;
            s->cap_leases = cap;
        }
        l = &s->leases[s->n_leases++];
        snprintf(l->from, sizeof l->from, "%s", ev->from);
        memcpy(l->msg_id, ev->msg_id, RK_MSGID_LEN);
        l->is_reply = ev->has_reply_to;
    }
    l->until_ms = mono_ms() + s->lease_ms;
    return true;
}

/* Under s->lock. */
static void lease_drop(server_t *s, const char *from, const uint8_t msg_id[RK_MSGID_LEN])
{
    lease_t *l = lease_find(s, from, msg_id);
    if (l != NULL)
        *l = s->leases[--s->n_leases];
}

/* Under s->lock: a message whose lease ran out, taken again, or NULL. */
static rk_event *lease_expired(server_t *s, rk_recv_what what)
{
    uint64_t now = mono_ms();
    for (size_t i = 0; i < s->n_leases;) {
        lease_t *l = &s->leases[i];
        rk_event *ev = NULL;
        char why[256] = "";
        rk_agent_err err;
        if (l->until_ms > now || (what == RK_RECV_REQUESTS && l->is_reply)) {
            i++;
            continue;
        }
        err = rk_agent_take(s->agent, l->from, l->msg_id, &ev, why, sizeof why);
        if (err == RK_AGENT_OK) {
            l->until_ms = now + s->lease_ms;
            return ev;
        }
        if (err == RK_AGENT_ENOTFOUND || err == RK_AGENT_ECONFLICT) { /* answered elsewhere, or purged */
            *l = s->leases[--s->n_leases];
            continue;
        }
        logf_at(s, RK_LOG_ERR, "a message from %s whose lease ran out cannot be taken again: %s", l->from,
                why[0] ? why : rk_agent_strerror(err));
        return NULL;
    }
    return NULL;
}

/* Under s->lock: the next message for a long-poll, leased; NULL if none
 * came within timeout_ms.  Deliveries this agent refused (bad signature,
 * ...) and payloads that are not JSON are dealt with here, as serve does. */
static rk_event *next_message(server_t *s, rk_recv_what what, int timeout_ms)
{
    rk_event *ev = lease_expired(s, what);

    for (int tries = 0; ev == NULL && tries < 8; tries++) {
        char why[512] = "";
        rk_agent_err err =
            rk_agent_recv_only(s->agent, what, tries == 0 ? timeout_ms : 0, &ev, why, sizeof why);
        if (err == RK_AGENT_ETIMEOUT)
            return NULL;
        if (err != RK_AGENT_OK) {
            logf_at(s, RK_LOG_ERR, "receiving failed: %s", why[0] ? why : rk_agent_strerror(err));
            return NULL;
        }
        if (ev->kind == RK_EVENT_REFUSED) {
            logf_at(s, RK_LOG_WARNING, "refused a delivery from %s (%s): %s", ev->from[0] ? ev->from : "?",
                    rk_status_name(ev->result.status), ev->detail);
            rk_event_free(&ev);
            continue;
        }
        {
            bool not_json = false;
            json_t *probe = rk_gw_delivery_json(ev, true, &not_json);
            char hex[RK_CODE_TEXT_LEN + 1];
            json_decref(probe);
            if (not_json) {
                rk_code_to_text(ev->msg_id, hex);
                if (rk_agent_refuse(s->agent, ev, RK_ST_MALFORMED, "the payload is not JSON", why,
                                    sizeof why) == RK_AGENT_OK)
                    logf_at(s, RK_LOG_WARNING,
                            "refused message %s from %s: its payload is not JSON (the sender is told "
                            "REFUSED_BY_RECIPIENT, MALFORMED)",
                            hex, ev->from);
                else
                    logf_at(s, RK_LOG_ERR,
                            "message %s from %s does not carry JSON, and refusing it failed: %s", hex,
                            ev->from, why);
                rk_event_free(&ev);
                continue;
            }
        }
    }
    if (ev != NULL && !lease_set(s, ev))
        logf_at(s, RK_LOG_ERR,
                "out of memory leasing a message from %s; it is handed out again after a restart", ev->from);
    return ev;
}

/* The main thread: a message for each long-poll waiting, as far as there
 * are any. */
static void serve_waiters(server_t *s)
{
    bool any;
    int timeout = PUMP_MS;

    pthread_mutex_lock(&s->qlock);
    any = s->waiters != NULL;
    pthread_mutex_unlock(&s->qlock);
    if (!any)
        return;
    pthread_mutex_lock(&s->lock);
    pthread_mutex_lock(&s->qlock);
    for (waiter_t *w = s->waiters; w != NULL; w = w->next) {
        if (w->ev != NULL)
            continue;
        w->ev = next_message(s, w->what, timeout);
        if (w->ev == NULL)
            break; /* nothing more now (a waiter for requests only might find one: next round) */
        timeout = 0;
    }
    pthread_cond_broadcast(&s->served);
    pthread_mutex_unlock(&s->qlock);
    pthread_mutex_unlock(&s->lock);
}

/* GET /v1/inbox?wait=SECS&what=all|requests */
static enum MHD_Result get_inbox(server_t *s, struct MHD_Connection *conn)
{
    const char *wait_text = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "wait"),
               *what_text = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "what");
    waiter_t w, **pp;
    long wait_s = 0;
    struct timespec until;
    enum MHD_Result ret;
    json_t *obj;
    bool not_json = false;

    memset(&w, 0, sizeof w);
    if (wait_text != NULL) {
        char *end;
        errno = 0;
        wait_s = strtol(wait_text, &end, 10);
        if (errno != 0 || end == wait_text || *end != '\0' || wait_s < 0 || wait_s > WAIT_MAX_S)
            return answer_error(conn, MHD_HTTP_BAD_REQUEST, "parameter \"wait\" must be 0 to %d seconds",
                                WAIT_MAX_S);
    }
    if (what_text == NULL || strcmp(what_text, "all") == 0)
        w.what = RK_RECV_ALL;
    else if (strcmp(what_text, "requests") == 0)
        w.what = RK_RECV_REQUESTS;
    else
        return answer_error(conn, MHD_HTTP_BAD_REQUEST, "parameter \"what\" must be all or requests");

    if (wait_s == 0) {
        pthread_mutex_lock(&s->lock);
        w.ev = next_message(s, w.what, PUMP_MS);
        pthread_mutex_unlock(&s->lock);
    } else {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += wait_s;
        pthread_mutex_lock(&s->qlock);
        w.next = s->waiters;
        /* on this thread's stack while it waits: unlinked below, before returning */
        /* cppcheck-suppress autoVariables */
        s->waiters = &w;
        pthread_cond_signal(&s->arrived);
        while (w.ev == NULL && !s->stopping && pthread_cond_timedwait(&s->served, &s->qlock, &until) == 0) {
        }
        for (pp = &s->waiters; *pp != NULL; pp = &(*pp)->next)
            if (*pp == &w) {
                *pp = w.next;
                break;
            }
        pthread_mutex_unlock(&s->qlock);
    }
    if (w.ev == NULL)
        return answer_empty(conn);
    obj = rk_gw_delivery_json(w.ev, true, &not_json);
    rk_event_free(&w.ev);
    if (obj == NULL) /* leased: handed out again once the lease runs out */
        return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    ret = answer_json(conn, MHD_HTTP_OK, obj);
    return ret;
}

/* Under s->lock: the reply this organization sent to (from, msg_id), if
 * any (the outbox is walked). */
static bool earlier_reply(server_t *s, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                          rk_msg_status *out)
{
    rk_msg_status *list = NULL;
    size_t n = 0;
    bool found = false;

    if (rk_agent_status_list(s->agent, NULL, &list, &n, NULL, 0) != RK_AGENT_OK)
        return false;
    for (size_t i = n; i-- > 0 && !found;)
        if (list[i].is_reply && strcmp(list[i].to, from) == 0 &&
            memcmp(list[i].reply_to, msg_id, RK_MSGID_LEN) == 0) {
            *out = list[i];
            found = true;
        }
    if (list != NULL) {
        sodium_memzero(list, n * sizeof *list);
        free(list);
    }
    return found;
}

typedef enum action { ACT_REPLY, ACT_REFUSE, ACT_DONE } action_t;

/* Under s->lock: the answer to an action on a message that is DONE. */
static enum MHD_Result answer_done_already(server_t *s, struct MHD_Connection *conn, action_t act,
                                           const char *from, const uint8_t msg_id[RK_MSGID_LEN])
{
    rk_msg_status st;
    char id[RK_CODE_TEXT_LEN + 1], rid[RK_CODE_TEXT_LEN + 1];

    rk_code_to_text(msg_id, id);
    if (earlier_reply(s, from, msg_id, &st)) {
        rk_code_to_text(st.msg_id, rid);
        return answer_json(conn, MHD_HTTP_CONFLICT,
                           json_pack("{s:s, s:s, s:s, s:s}", "error", "this message was answered already",
                                     "from", from, "msg_id", id, "reply_msg_id", rid));
    }
    if (act == ACT_DONE) /* marked done again: nothing changes */
        return answer_json(conn, MHD_HTTP_OK,
                           json_pack("{s:s, s:s, s:s}", "from", from, "msg_id", id, "state", "DONE"));
    return answer_json(conn, MHD_HTTP_CONFLICT,
                       json_pack("{s:s, s:s, s:s}", "error",
                                 "this message was refused or marked done already", "from", from, "msg_id",
                                 id));
}

/* POST /v1/inbox/{from}/{msg_id}/reply|refuse|done */
static enum MHD_Result act_on_message(server_t *s, struct MHD_Connection *conn, const req_t *rq,
                                      const char *from, const char *id_text, action_t act)
{
    uint8_t msg_id[RK_MSGID_LEN], reply_id[RK_MSGID_LEN];
    char *payload = NULL, reason[RK_DETAIL_MAX + 1] = "", why[512] = "";
    rk_event *ev = NULL;
    rk_result_t result;
    rk_msg_status st;
    rk_agent_err err;
    enum MHD_Result ret = MHD_YES;

    if (!rk_valid_name(from) || !rk_code_from_text(id_text, msg_id))
        return answer_error(conn, MHD_HTTP_NOT_FOUND,
                            "no such message: the path is /v1/inbox/{from}/{msg_id}/%s with an organization "
                            "id "
                            "and 32 hexadecimal digits",
                            act == ACT_REPLY    ? "reply"
                            : act == ACT_REFUSE ? "refuse"
                                                : "done");
    if (act != ACT_DONE) {
        json_t *root = body_object(s, conn, rq, &ret), *v;
        if (root == NULL)
            return ret;
        if (act == ACT_REPLY) {
            if ((v = json_object_get(root, "payload")) == NULL) {
                json_decref(root);
                return answer_error(conn, MHD_HTTP_BAD_REQUEST,
                                    "field \"payload\" is missing (any JSON value)");
            }
            payload = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        } else {
            const char *t = json_string_value(json_object_get(root, "reason"));
            size_t len = t != NULL ? strlen(t) : 0;
            if (len == 0 || len > RK_DETAIL_MAX) {
                json_decref(root);
                return answer_error(conn, MHD_HTTP_BAD_REQUEST,
                                    "field \"reason\" must be a string of 1 to %d bytes (a short business "
                                    "reason, no personal data)",
                                    RK_DETAIL_MAX);
            }
            memcpy(reason, t, len + 1);
        }
        json_decref(root);
        if (act == ACT_REPLY && payload == NULL)
            return answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    }

    pthread_mutex_lock(&s->lock);
    err = rk_agent_take(s->agent, from, msg_id, &ev, why, sizeof why);
    if (err == RK_AGENT_ENOTFOUND) {
        ret = answer_error(conn, MHD_HTTP_NOT_FOUND, "no message with this id from %s in the inbox", from);
        goto done;
    }
    if (err == RK_AGENT_ECONFLICT) {
        lease_drop(s, from, msg_id);
        ret = answer_done_already(s, conn, act, from, msg_id);
        goto done;
    }
    if (err != RK_AGENT_OK) {
        ret = answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", why[0] ? why : rk_agent_strerror(err));
        goto done;
    }
    switch (act) {
    case ACT_DONE:
        err = rk_agent_done(s->agent, ev, why, sizeof why);
        if (err == RK_AGENT_OK) {
            lease_drop(s, from, msg_id);
            ret = answer_json(conn, MHD_HTTP_OK,
                              json_pack("{s:s, s:s, s:s}", "from", from, "msg_id", id_text, "state", "DONE"));
        } else {
            ret =
                answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", why[0] ? why : rk_agent_strerror(err));
        }
        break;
    case ACT_REFUSE:
        err = rk_agent_refuse(s->agent, ev, RK_ST_REFUSED_BY_RECIPIENT, reason, why, sizeof why);
        if (err == RK_AGENT_OK) {
            lease_drop(s, from, msg_id);
            ret = answer_json(conn, MHD_HTTP_OK,
                              json_pack("{s:s, s:s, s:s}", "from", from, "msg_id", id_text, "state",
                                        "REFUSED"));
        } else if (err == RK_AGENT_EOFFLINE) {
            ret = answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "the hub cannot be told now (not connected): nothing changed, try again");
        } else {
            ret =
                answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", why[0] ? why : rk_agent_strerror(err));
        }
        break;
    case ACT_REPLY:
        memset(&result, 0, sizeof result);
        memset(reply_id, 0, sizeof reply_id);
        err = rk_agent_reply(s->agent, ev, (const uint8_t *)payload, strlen(payload), reply_id, &result, why,
                             sizeof why);
        if (rk_agent_status_get(s->agent, reply_id, &st, NULL, 0) == RK_AGENT_OK) {
            /* kept in the outbox (and the request marked done with it) */
            lease_drop(s, from, msg_id);
            if (err == RK_AGENT_EPENDING && why[0] != '\0')
                logf_at(s, RK_LOG_NOTICE, "pending: %s", why);
            ret = answer_sent(conn, &st);
            break;
        }
        switch (err) {
        case RK_AGENT_EREFUSED:
            ret = answer_json(conn, HTTP_UNPROCESSABLE,
                              json_pack("{s:s, s:s, s:s}", "error", "refused", "status",
                                        rk_status_name(result.status), "detail",
                                        result.detail[0] ? result.detail : rk_status_text(result.status)));
            break;
        case RK_AGENT_EINVAL:
            ret = answer_error(conn, MHD_HTTP_BAD_REQUEST, "%s", why[0] ? why : "invalid reply");
            break;
        default:
            logf_at(s, RK_LOG_ERR, "replying failed: %s", why[0] ? why : rk_agent_strerror(err));
            ret =
                answer_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", why[0] ? why : rk_agent_strerror(err));
        }
        break;
    }
done:
    pthread_mutex_unlock(&s->lock);
    rk_event_free(&ev);
    if (payload != NULL) {
        sodium_memzero(payload, strlen(payload));
        free(payload);
    }
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
        /* the method is named only when it is one of ours: a caller
         * could send any word there */
        logf_at(s, RK_LOG_WARNING, "refused %s request: missing or wrong bearer token",
                is_post  ? "a POST"
                : is_get ? "a GET"
                         : "an HTTP");
        return answer_error(conn, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token");
    }
    if (strcmp(url, MSG_PREFIX) == 0) {
        if (!is_post)
            return not_allowed(conn, "POST", MSG_PREFIX);
        if (rq->too_big)
            return answer_error(conn, HTTP_TOO_LARGE, "the body is larger than the limit of %zu bytes",
                                s->body_max);
        return post_message(s, conn, rq);
    }
    if (strcmp(url, SEARCH_PATH) == 0) {
        if (!is_post)
            return not_allowed(conn, "POST", SEARCH_PATH);
        return search_messages(s, conn, rq);
    }
    if (strncmp(url, MSG_PREFIX "/", sizeof MSG_PREFIX) == 0 &&
        strchr(url + sizeof MSG_PREFIX, '/') == NULL && url[sizeof MSG_PREFIX] != '\0') {
        if (!is_get)
            return not_allowed(conn, "GET", MSG_PREFIX "/{msg_id}");
        return get_message(s, conn, url + sizeof MSG_PREFIX);
    }
    if (strcmp(url, INBOX_PREFIX) == 0) {
        if (!is_get)
            return not_allowed(conn, "GET", INBOX_PREFIX);
        return get_inbox(s, conn);
    }
    if (strncmp(url, INBOX_PREFIX "/", sizeof INBOX_PREFIX) == 0) {
        /* {from}/{msg_id}/{action} */
        const char *from = url + sizeof INBOX_PREFIX, *id = strchr(from, '/'),
                   *act = id ? strchr(id + 1, '/') : NULL;
        char from_s[RK_ID_MAX + 1], id_s[RK_CODE_TEXT_LEN + 1];
        action_t which;
        if (act != NULL && strchr(act + 1, '/') == NULL && (size_t)(id - from) <= RK_ID_MAX &&
            (size_t)(act - id - 1) <= RK_CODE_TEXT_LEN &&
            (strcmp(act + 1, "reply") == 0 || strcmp(act + 1, "refuse") == 0 ||
             strcmp(act + 1, "done") == 0)) {
            which = strcmp(act + 1, "reply") == 0    ? ACT_REPLY
                    : strcmp(act + 1, "refuse") == 0 ? ACT_REFUSE
                                                     : ACT_DONE;
            if (!is_post)
                return not_allowed(conn, "POST", INBOX_PREFIX "/{from}/{msg_id}/{reply|refuse|done}");
            memcpy(from_s, from, (size_t)(id - from));
            from_s[id - from] = '\0';
            memcpy(id_s, id + 1, (size_t)(act - id - 1));
            id_s[act - id - 1] = '\0';
            return act_on_message(s, conn, rq, from_s, id_s, which);
        }
    }
    return answer_error(conn, MHD_HTTP_NOT_FOUND,
                        "not found: the API has POST %s, POST %s, GET %s/{msg_id}, GET %s and POST "
                        "%s/{from}/{msg_id}/{reply|refuse|done}",
                        MSG_PREFIX, SEARCH_PATH, MSG_PREFIX, INBOX_PREFIX, INBOX_PREFIX);
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

/* Reads a PEM file (the TLS certificate or key) into *out (NUL-terminated,
 * sodium_malloc'd: wiped when freed). */
static bool read_pem(const char *path, const char *what, char **out, char *why, size_t why_len)
{
    struct stat st;
    size_t len = 0;
    ssize_t n;
    char *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (fd < 0) {
        rk_why(why, why_len, "cannot open the TLS %s %s: %s", what, path, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size > (1 << 20)) {
        rk_why(why, why_len, "the TLS %s %s is empty or larger than 1 MiB", what, path);
        close(fd);
        return false;
    }
    buf = sodium_malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        rk_why(why, why_len, "out of memory reading the TLS %s", what);
        close(fd);
        return false;
    }
    while (len < (size_t)st.st_size && (n = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    if (strstr(buf, "-----BEGIN ") == NULL) {
        rk_why(why, why_len, "the TLS %s %s is not in PEM format (-----BEGIN ...)", what, path);
        sodium_free(buf);
        return false;
    }
    *out = buf;
    return true;
}

int rk_http_serve(rk_agent_t *a, const rk_http_config *cfg, volatile sig_atomic_t *stop)
{
    server_t s;
    struct sockaddr_storage ss;
    socklen_t ss_len = 0, got_len = sizeof ss;
    struct MHD_Daemon *d = NULL;
    char why[512] = "", address[160], host[64], *cert = NULL, *key = NULL;
    int fd = -1, one = 1, rc = 1;
    bool is_unix, tls = cfg->tls_cert != NULL || cfg->tls_key != NULL;
    uint64_t next = 0;
    pthread_condattr_t ca;
    unsigned flags;

    memset(&s, 0, sizeof s);
    s.agent = a;
    s.cfg = cfg;
    s.body_max = cfg->body_max ? cfg->body_max : RK_HTTP_BODY_MAX_DEFAULT;
    s.lease_ms = (uint64_t)(cfg->lease_s > 0 ? cfg->lease_s : RK_HTTP_LEASE_DEFAULT) * 1000u;
    pthread_mutex_init(&s.lock, NULL);
    pthread_mutex_init(&s.klock, NULL);
    pthread_mutex_init(&s.qlock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s.served, &ca);
    pthread_cond_init(&s.arrived, &ca);
    pthread_condattr_destroy(&ca);
    if (tls && (cfg->tls_cert == NULL || cfg->tls_key == NULL)) {
        rk_why(why, sizeof why, "HTTPS needs both --tls-cert FILE and --tls-key FILE");
        goto fail;
    }
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        rk_why(why, sizeof why,
               "this libmicrohttpd was built without TLS: --tls-cert/--tls-key cannot be served (use a "
               "libmicrohttpd built with GnuTLS, or serve plain HTTP on loopback or a Unix socket)");
        goto fail;
    }
    if (tls && (!read_pem(cfg->tls_cert, "certificate", &cert, why, sizeof why) ||
                !read_pem(cfg->tls_key, "key", &key, why, sizeof why)))
        goto fail;
    if (!parse_listen(cfg->listen, &ss, &ss_len, why, sizeof why) ||
        !read_token(&s, cfg->token_file, why, sizeof why) ||
        !rk_keystore_open(&s.keys, cfg->data_dir, KEYS_FILE, "the idempotency keys", why, sizeof why))
        goto fail;
    is_unix = ss.ss_family == AF_UNIX;
    if (is_unix)
        unlink(((struct sockaddr_un *)&ss)->sun_path); /* a socket left by an earlier run */
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || (!is_unix && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&ss, ss_len) != 0 || listen(fd, 64) != 0 ||
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
    /* A thread per connection: a long-poll waits on its own thread. */
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
            (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0);
    if (tls)
        d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &s, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s, MHD_OPTION_CONNECTION_LIMIT,
                             CONN_MAX, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(WAIT_MAX_S + 30),
                             MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    else
        d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &s, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s, MHD_OPTION_CONNECTION_LIMIT,
                             CONN_MAX, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(WAIT_MAX_S + 30),
                             MHD_OPTION_END);
    if (d == NULL) {
        rk_why(why, sizeof why, "cannot serve %s on %s (libmicrohttpd did not start%s)",
               tls ? "HTTPS" : "HTTP", address, tls ? ": is the key the certificate's, both in PEM?" : "");
        goto fail;
    }
    /* fd is the daemon's now */
    bool poll_failing = false; /* said once, until it works again */
    logf_at(&s, RK_LOG_NOTICE, "serving the HTTP API on %s%s as %s", tls ? "https://" : "", address,
            rk_agent_org(a));
    while (!*stop) {
        uint64_t now = mono_ms();
        bool waiting;
        struct timespec ts;
        int ms;
        if (now >= next) {
            bool connected;
            pthread_mutex_lock(&s.lock);
            connected = rk_gw_flush(s.agent, cfg->connect, cfg->log);
            pthread_mutex_unlock(&s.lock);
            next = mono_ms() + (connected ? FLUSH_EVERY_MS : CONNECT_EVERY_MS);
        }
        {
            /* Notices change the states GET /v1/messages answers with:
             * take them in as they come, not only when a long-poll
             * receives (errors show at the next flush). */
            char pwhy[256] = "";
            rk_agent_err perr;
            pthread_mutex_lock(&s.lock);
            perr = rk_agent_poll(s.agent, 0, pwhy, sizeof pwhy);
            pthread_mutex_unlock(&s.lock);
            if (perr == RK_AGENT_ESTORE && !poll_failing)
                logf_at(&s, RK_LOG_ERR, "taking in what the hub sent failed: %s", pwhy);
            poll_failing = perr == RK_AGENT_ESTORE;
        }
        serve_waiters(&s);
        /* Asleep without the agent's lock; a new long-poll wakes it. */
        pthread_mutex_lock(&s.qlock);
        waiting = false;
        for (waiter_t *w = s.waiters; w != NULL; w = w->next)
            waiting = waiting || w->ev == NULL;
        ms = waiting ? BUSY_MS : IDLE_MS;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (!*stop)
            (void)pthread_cond_timedwait(&s.arrived, &s.qlock, &ts);
        pthread_mutex_unlock(&s.qlock);
    }
    logf_at(&s, RK_LOG_NOTICE, "stopping the HTTP API");
    rc = 0;
    pthread_mutex_lock(&s.qlock);
    s.stopping = true;
    pthread_cond_broadcast(&s.served);
    pthread_mutex_unlock(&s.qlock);
    MHD_stop_daemon(d);
    if (is_unix)
        unlink(((struct sockaddr_un *)&ss)->sun_path);
    goto done;
fail:
    logf_at(&s, RK_LOG_ERR, "%s", why);
    if (fd >= 0)
        close(fd);
done:
    if (s.keys.env != NULL)
        (void)mdb_env_sync(s.keys.env, 1); /* the Idempotency-Keys recorded without a flush */
    rk_keystore_close(&s.keys);
    free(s.leases);
    pthread_cond_destroy(&s.served);
    pthread_cond_destroy(&s.arrived);
    pthread_mutex_destroy(&s.qlock);
    pthread_mutex_destroy(&s.lock);
    pthread_mutex_destroy(&s.klock);
    sodium_memzero(s.token_hash, sizeof s.token_hash);
    if (cert != NULL)
        sodium_free(cert);
    if (key != NULL)
        sodium_free(key);
    return rc;
}
