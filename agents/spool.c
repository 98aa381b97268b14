/*
 * spool.c - the agent's spool folder (spool.h).
 *
 * One thread: every 200 ms it lists out/, moves each NAME.json to work/
 * and handles it to the end (result or rejection) before the next, then
 * writes what the inbox hands out to in/; every few seconds it re-sends
 * pending messages (and connects while the hub cannot be reached), and
 * tries again what a store failure left in work/.
 */
#include "spool.h"

#include "gateway.h"
#include "keystore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>

#include "logline.h"
#include "why.h"

#define KEYS_FILE "spool-keys.mdb"
#define FILE_MAX ((size_t)1 << 20) /* bytes of one message file */
#define NAME_MAX_LEN 200           /* NAME of NAME.json */
#define POLL_MS 200
#define FLUSH_EVERY_MS 5000
#define CONNECT_EVERY_MS 30000
#define RETRY_EVERY_MS 10000   /* work/ files a store failure left, again */
#define HELD_EVERY_MS 1000     /* a delivery in/ could not take, again */
#define PURGE_EVERY_MS 3600000 /* done/, results/ and old names */
#define RECV_BURST 100         /* deliveries written before out/ is looked at again */
#define PATH_LEN 4096
#define DAY_MS 86400000ull
#define LOCK_FILE ".renkei-spool.lock" /* in the spool folder */
#define DATA_LOCK_FILE "spool.lock"    /* in the data directory */

/* Marks of spool-keys.mdb values besides keystore.h's R and S: an answer
 * file's refusal or done (then the request's msg id), and a delivery being
 * written to in/ (I) or written (W), then its file's wall-clock ms as u64
 * big-endian.  A delivery's key is the hash of "in/FROM/MSGID", which no
 * file NAME can be (a NAME has no '/'). */
#define MARK_REFUSED 'F'
#define MARK_DONE 'D'
#define MARK_IN_TMP 'I'
#define MARK_IN_WRITTEN 'W'

/* The stored value (keystore.h): reserved, with the wall-clock ms of the
 * reservation in the 8 bytes after the mark, or sent and the msg id. */

typedef struct spool {
    rk_agent_t *agent;
    const rk_spool_config *cfg;
    rk_keystore_t keys; /* NAME -> message (keystore.h) */
    uint64_t keep_ms;   /* done/, results/ and names older than this go */
    rk_event *held;     /* a delivery in/ could not take yet: tried again */
} spool_t;

/* One file's message: a message to send, or (answer) the reply or
 * refusal of a request in the inbox. */
typedef struct msg {
    bool answer;
    char to[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    char person[RK_PERSON_MAX + 1];
    char *payload;
    char refuse[RK_DETAIL_MAX + 1]; /* answer: the refusal's reason, or "" */
    bool done;                      /* answer: marks the message done, nothing sent */
    bool has_reply_to, no_reply;
    uint8_t reply_to[RK_MSGID_LEN];
} msg_t;

static void logf_at(const spool_t *s, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logf_at(const spool_t *s, int level, const char *fmt, ...)
{
    char line[700];
    va_list ap;
    if (s->cfg->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->cfg->log(level, line);
}

static bool path_of(char out[PATH_LEN], const char *dir, const char *sub, const char *name, const char *ext)
{
    return snprintf(out, PATH_LEN, "%s/%s/%s%s", dir, sub, name, ext) < PATH_LEN;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* fsyncs directory dir/sub, so a rename into it survives a crash. */
static void sync_dir(const char *dir, const char *sub)
{
    char path[PATH_LEN];
    int fd;
    if (snprintf(path, sizeof path, "%s/%s", dir, sub) >= (int)sizeof path)
        return;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* ------------------------------------------------------------ files */

/* Writes text to dir/sub/name+ext through a temporary name and a rename,
 * so a reader never sees half of it. */
static bool write_atomic(const spool_t *s, const char *sub, const char *name, const char *ext,
                         const char *text)
{
    char path[PATH_LEN], tmp[PATH_LEN];
    size_t len = strlen(text), off = 0;
    int fd;

    if (!path_of(path, s->cfg->dir, sub, name, ext) || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= PATH_LEN)
        return false;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return false;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return false;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return false;
    }
    sync_dir(s->cfg->dir, sub);
    return true;
}

/* Reads work/NAME.json; NULL (why set) if it cannot or it is too large. */
static char *read_work(const spool_t *s, const char *name, size_t *len, char *why, size_t why_len)
{
    char path[PATH_LEN], *buf;
    struct stat st;
    size_t off = 0;
    int fd;

    if (!path_of(path, s->cfg->dir, "work", name, ".json")) {
        rk_why(why, why_len, "the path is too long");
        return NULL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rk_why(why, why_len, "cannot read it: %s", fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if ((size_t)st.st_size > FILE_MAX) {
        rk_why(why, why_len, "it is larger than %zu bytes", FILE_MAX);
        close(fd);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        rk_why(why, why_len, "out of memory");
        close(fd);
        return NULL;
    }
    while (off < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    buf[off] = '\0';
    *len = off;
    return buf;
}

static void wipe_free(char *p, size_t len)
{
    if (p != NULL) {
        sodium_memzero(p, len);
        free(p);
    }
}

static void msg_clear(msg_t *m)
{
    if (m->payload != NULL)
        wipe_free(m->payload, strlen(m->payload));
    sodium_memzero(m, sizeof *m);
}

/* An answer file: {"reply_to","to"} and "payload", "refuse" or "done". */
static bool parse_answer(json_t *root, msg_t *m, char *why, size_t why_len)
{
    const char *bad, *t;
    json_t *v, *done, *refuse = json_object_get(root, "refuse");

    m->answer = true;
    t = json_string_value(json_object_get(root, "reply_to"));
    if (t == NULL || !rk_code_from_text(t, m->reply_to)) {
        rk_why(why, why_len, "field \"reply_to\" must be a message id of 32 hexadecimal digits");
        return false;
    }
    m->has_reply_to = true;
    if ((bad = rk_gw_name_field(root, "to", m->to, sizeof m->to)) != NULL) {
        rk_why(why, why_len, "field \"to\" %s (the organization whose request is answered)", bad);
        return false;
    }
    if (json_object_get(root, "type") != NULL) {
        rk_why(why, why_len, "an answer to a request has no field \"type\" (the request's is used)");
        return false;
    }
    v = json_object_get(root, "payload");
    done = json_object_get(root, "done");
    if ((v != NULL) + (refuse != NULL) + (done != NULL) != 1) {
        rk_why(why, why_len,
               "an answer to a request has one of \"payload\" (the reply), \"refuse\" "
               "(the reason) and \"done\" (true: nothing to answer), not %s",
               v == NULL && refuse == NULL && done == NULL ? "none" : "more");
        return false;
    }
    if (done != NULL) {
        if (!json_is_true(done)) {
            rk_why(why, why_len, "field \"done\" can only be true");
            return false;
        }
        m->done = true;
        return true;
    }
    if (refuse != NULL) {
        t = json_string_value(refuse);
        if (t == NULL || t[0] == '\0' || strlen(t) > RK_DETAIL_MAX) {
            rk_why(why, why_len, "field \"refuse\" must be a reason of 1 to %d characters", RK_DETAIL_MAX);
            return false;
        }
        snprintf(m->refuse, sizeof m->refuse, "%s", t);
        return true;
    }
    if ((m->payload = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
        rk_why(why, why_len, "out of memory");
        return false;
    }
    return true;
}

/* Parses a file's text into m; false with why (never the number) if it is
 * no valid message. */
static bool parse_msg(const char *text, size_t len, rk_number_rule rule, msg_t *m, char *why, size_t why_len)
{
    json_error_t jerr;
    json_t *root, *v;
    const char *bad, *t;
    bool ok = false;

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    /* jansson's message may quote the text: only the position is said */
    if (root == NULL) {
        rk_why(why, why_len, "the file is not valid JSON (line %d, column %d)", jerr.line, jerr.column);
        return false;
    }
    if (!json_is_object(root)) {
        rk_why(why, why_len, "the file must hold a JSON object");
        goto done;
    }
    if (json_object_get(root, "person") == NULL && json_object_get(root, "reply_to") != NULL) {
        ok = parse_answer(root, m, why, why_len);
        goto done;
    }
    if ((bad = rk_gw_name_field(root, "to", m->to, sizeof m->to)) != NULL) {
        rk_why(why, why_len, "field \"to\" %s", bad);
        goto done;
    }
    if ((bad = rk_gw_name_field(root, "type", m->type, sizeof m->type)) != NULL) {
        rk_why(why, why_len, "field \"type\" %s", bad);
        goto done;
    }
    t = json_string_value(json_object_get(root, "person"));
    if (t == NULL) {
        rk_why(why, why_len, "field \"person\" is missing or not a string");
        goto done;
    }
    {
        char nwhy[200] = "";
        if (!rk_number_normalize(rule, t, strlen(t), m->person, nwhy, sizeof nwhy)) {
            rk_why(why, why_len, "field \"person\": %s", nwhy);
            goto done;
        }
    }
    if ((v = json_object_get(root, "payload")) == NULL) {
        rk_why(why, why_len, "field \"payload\" is missing (any JSON value)");
        goto done;
    }
    if ((m->payload = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
        rk_why(why, why_len, "out of memory");
        goto done;
    }
    if ((v = json_object_get(root, "reply_to")) != NULL && !json_is_null(v)) {
        t = json_string_value(v);
        if (t == NULL || !rk_code_from_text(t, m->reply_to)) {
            rk_why(why, why_len, "field \"reply_to\" must be a message id of 32 hexadecimal digits");
            goto done;
        }
        m->has_reply_to = true;
    }
    if ((v = json_object_get(root, "no_reply")) != NULL && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            rk_why(why, why_len, "field \"no_reply\" must be true or false");
            goto done;
        }
        m->no_reply = json_is_true(v);
    }
    ok = true;
done:
    json_decref(root); /* jansson does not wipe: the number stays in freed memory, as in http.c */
    return ok;
}

/* work/NAME.json goes to rejected/, with rejected/NAME.reason.txt. */
static void reject(spool_t *s, const char *name, const char *reason)
{
    char from[PATH_LEN], to[PATH_LEN], text[600];

    snprintf(text, sizeof text, "%s\n", reason);
    if (!write_atomic(s, "rejected", name, ".reason.txt", text))
        logf_at(s, RK_LOG_ERR, "spool: cannot write rejected/%s.reason.txt: %s", name, strerror(errno));
    if (!path_of(from, s->cfg->dir, "work", name, ".json") ||
        !path_of(to, s->cfg->dir, "rejected", name, ".json") || rename(from, to) != 0) {
        logf_at(s, RK_LOG_ERR, "spool: cannot move %s.json to rejected/: %s", name, strerror(errno));
        return;
    }
    sync_dir(s->cfg->dir, "rejected");
    logf_at(s, RK_LOG_WARNING, "spool: %s.json rejected: %s", name, reason);
}

/* Writes results/NAME.result.json (obj, taken) and moves work/NAME.json
 * to done/ (its time set to now: --keep-days counts from there). */
static void finish(spool_t *s, const char *name, json_t *obj)
{
    char path[PATH_LEN], to[PATH_LEN], *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    bool ok = text != NULL;

    json_decref(obj);
    if (ok) {
        size_t n = strlen(text);
        char *line = malloc(n + 2);
        ok = line != NULL;
        if (ok) {
            memcpy(line, text, n);
            memcpy(line + n, "\n", 2);
            ok = write_atomic(s, "results", name, ".result.json", line);
            free(line);
        }
        free(text);
    }
    if (!ok) {
        logf_at(s, RK_LOG_ERR, "spool: cannot write results/%s.result.json; %s.json stays in work/", name,
                name);
        return;
    }
    if (!path_of(path, s->cfg->dir, "work", name, ".json") ||
        !path_of(to, s->cfg->dir, "done", name, ".json"))
        return;
    if (rename(path, to) != 0) {
        logf_at(s, RK_LOG_ERR, "spool: cannot move %s.json to done/: %s", name, strerror(errno));
        return;
    }
    (void)utimensat(AT_FDCWD, to, NULL, 0);
    sync_dir(s->cfg->dir, "done");
    sync_dir(s->cfg->dir, "work");
}

static json_t *error_json(const char *status, const char *detail)
{
    return json_pack("{s:{s:s, s:s}}", "error", "status", status, "detail", detail);
}

static json_t *state_json(const rk_msg_status *st)
{
    char id[RK_CODE_TEXT_LEN + 1];
    json_t *o;
    rk_code_to_text(st->msg_id, id);
    o = json_pack("{s:s, s:s}", "msg_id", id, "state", rk_msg_state_name(st->state));
    if (o != NULL && (st->state == RK_MSG_REFUSED || (st->state == RK_MSG_PENDING && st->status != 0))) {
        json_object_set_new(o, "status", json_string(rk_status_name(st->status)));
        json_object_set_new(o, "detail",
                            json_string(st->detail[0] ? st->detail : rk_status_text(st->status)));
    }
    return o;
}

/* After a crash between reserving NAME and recording its msg id: the
 * message m kept in the outbox since `since` (wall-clock ms) that no other
 * NAME produced, if any: same recipient, type and person.  1 found (into
 * st), 0 none, -1 cannot tell (more than one). */
static int find_kept(spool_t *s, const msg_t *m, uint64_t since, rk_msg_status *st)
{
    uint8_t code[RK_CODE_LEN];
    rk_status_filter f;
    rk_msg_status *list = NULL;
    size_t n = 0, hits = 0;
    char why[256];
    rk_agent_err err;
    bool unsure = false;

    err = rk_agent_lookup(s->agent, m->person, code, why, sizeof why);
    if (err == RK_AGENT_ENOTFOUND)
        return 0; /* nothing could have been sent about this person */
    if (err != RK_AGENT_OK)
        return -1;
    memset(&f, 0, sizeof f);
    f.code = code;
    err = rk_agent_status_list(s->agent, &f, &list, &n, why, sizeof why);
    sodium_memzero(code, sizeof code);
    if (err != RK_AGENT_OK)
        return -1;
    for (size_t i = 0; i < n && !unsure; i++) {
        int taken;
        if (list[i].created_ms < since || strcmp(list[i].to, m->to) != 0 ||
            strcmp(list[i].type, m->type) != 0)
            continue;
        /* a message another NAME produced since is not this one */
        taken = rk_keystore_has_id(&s->keys, list[i].msg_id);
        if (taken < 0)
            unsure = true;
        if (taken != 0)
            continue;
        *st = list[i];
        hits++;
    }
    free(list);
    if (unsure)
        return -1;
    return hits == 1 ? 1 : hits == 0 ? 0 : -1;
}

/* NAME produced the kept message st: recorded, and its result written. */
static void sent(spool_t *s, const char *name, const uint8_t h[32], const rk_msg_status *st)
{
    uint8_t val[RK_KEYSTORE_VAL_LEN];
    char id[RK_CODE_TEXT_LEN + 1];

    memset(val, 0, sizeof val);
    val[0] = RK_KEYSTORE_SENT;
    memcpy(val + 1, st->msg_id, RK_MSGID_LEN);
    if (rk_keystore_put(&s->keys, h, val, false) != 1)
        logf_at(s, RK_LOG_ERR, "spool: %s.json was kept but its name could not be stored", name);
    rk_code_to_text(st->msg_id, id);
    logf_at(s, RK_LOG_NOTICE, "spool: %s.json sent as %s: %s", name, id, rk_msg_state_name(st->state));
    finish(s, name, state_json(st));
}

static void outcome(spool_t *s, const char *name, const uint8_t h[32], rk_agent_err err,
                    const uint8_t msg_id[RK_MSGID_LEN], const rk_result_t *result, const char *why);

/* Stores mark and the time ms (u64 big-endian, then zeros) under h. */
static bool put_mark(spool_t *s, const uint8_t h[32], uint8_t mark, uint64_t ms)
{
    uint8_t val[RK_KEYSTORE_VAL_LEN];
    memset(val, 0, sizeof val);
    val[0] = mark;
    for (int i = 0; i < 8; i++)
        val[1 + i] = (uint8_t)(ms >> (56 - 8 * i));
    return rk_keystore_put(&s->keys, h, val, false) == 1;
}

static uint64_t mark_ms(const uint8_t val[RK_KEYSTORE_VAL_LEN])
{
    uint64_t ms = 0;
    for (int i = 0; i < 8; i++)
        ms = ms << 8 | val[1 + i];
    return ms;
}

static void send_file(spool_t *s, const char *name, msg_t *m)
{
    uint8_t h[32], val[RK_KEYSTORE_VAL_LEN], msg_id[RK_MSGID_LEN];
    rk_msg_status st;
    rk_outgoing o;
    rk_result_t result;
    char why[512] = "";
    rk_agent_err err;
    int found;

    rk_keystore_hash(name, h);
    found = rk_keystore_get(&s->keys, h, val);
    if (found < 0) {
        logf_at(s, RK_LOG_ERR, "spool: the spool's names cannot be read; %s.json stays in work/", name);
        return;
    }
    if (found == 1 && val[0] == RK_KEYSTORE_RESERVED) {
        switch (find_kept(s, m, mark_ms(val), &st)) {
        case 1: sent(s, name, h, &st); return; /* kept before the crash: re-sent from the outbox, not again */
        case 0: break;                         /* never kept: send it now */
        default:
            finish(s, name,
                   error_json("UNKNOWN", "this file was being sent when the agent stopped and "
                                         "whether it was kept cannot be told: look for it with "
                                         "renkei-agent status before dropping it again"));
            return;
        }
    } else if (found == 1) {
        err = rk_agent_status_get(s->agent, val + 1, &st, why, sizeof why);
        if (err == RK_AGENT_ENOTFOUND) {
            finish(s, name,
                   error_json("CONFLICT", "this NAME was used for a message that has since been "
                                          "purged"));
            return;
        }
        if (err != RK_AGENT_OK) {
            logf_at(s, RK_LOG_ERR, "spool: %s.json stays in work/: %s", name,
                    why[0] ? why : rk_agent_strerror(err));
            return;
        }
        if (!rk_gw_same_message(s->agent, &st, m->to, m->type, m->person)) {
            finish(s, name,
                   error_json("CONFLICT", "this NAME was used for a different message (recipient, "
                                          "type or person); nothing was sent"));
            return;
        }
        logf_at(s, RK_LOG_NOTICE, "spool: %s.json was sent before: not again", name);
        finish(s, name, state_json(&st));
        return;
    }

    if (!put_mark(s, h, RK_KEYSTORE_RESERVED, wall_ms())) {
        logf_at(s, RK_LOG_ERR, "spool: %s.json's name cannot be stored; it stays in work/", name);
        return;
    }
    memset(&o, 0, sizeof o);
    memset(&result, 0, sizeof result);
    memset(msg_id, 0, sizeof msg_id);
    o.to = m->to;
    o.type = m->type;
    o.person = m->person;
    o.payload = (const uint8_t *)m->payload;
    o.payload_len = strlen(m->payload);
    o.reply_to = m->has_reply_to ? m->reply_to : NULL;
    o.no_reply = m->no_reply;
    err = rk_agent_send(s->agent, &o, msg_id, &result, why, sizeof why);
    outcome(s, name, h, err, msg_id, &result, why);
}

/* What became of NAME's send (or reply), err from rk_agent_send /
 * rk_agent_reply: a result, or the file stays in work/. */
static void outcome(spool_t *s, const char *name, const uint8_t h[32], rk_agent_err err,
                    const uint8_t msg_id[RK_MSGID_LEN], const rk_result_t *result, const char *why)
{
    rk_msg_status st;

    if (rk_agent_status_get(s->agent, msg_id, &st, NULL, 0) != RK_AGENT_OK) {
        /* nothing kept: the same NAME may try again */
        (void)rk_keystore_del(&s->keys, h);
        switch (err) {
        case RK_AGENT_EREFUSED:
            finish(s, name,
                   error_json(rk_status_name(result->status),
                              result->detail[0] ? result->detail : rk_status_text(result->status)));
            break;
        case RK_AGENT_ENOTFOUND:
            finish(s, name,
                   error_json("NOT_ENROLLED", "the resident is not in this agent's local table: "
                                              "enroll or bind the number first"));
            break;
        case RK_AGENT_EINVAL: finish(s, name, error_json("INVALID", why[0] ? why : "invalid message")); break;
        default:
            logf_at(s, RK_LOG_ERR, "spool: sending %s.json failed (it stays in work/): %s", name,
                    why[0] ? why : rk_agent_strerror(err));
        }
        return;
    }
    sent(s, name, h, &st);
}

/* ------------------------------------------------------------ in/ */

/* The spool-keys.mdb key of delivery (from, msg_id). */
static void in_key(const char *from, const uint8_t msg_id[RK_MSGID_LEN], uint8_t h[32])
{
    char name[RK_ID_MAX + RK_CODE_TEXT_LEN + 8], hex[RK_CODE_TEXT_LEN + 1];
    rk_code_to_text(msg_id, hex);
    snprintf(name, sizeof name, "in/%s/%s", from, hex);
    rk_keystore_hash(name, h);
}

/* in/MS-FROM-MSGID.json, the file of a delivery first written at ms, and
 * the temporary in/.FROM-MSGID.tmp it is written as. */
static bool in_paths(const spool_t *s, const rk_event *ev, uint64_t ms, char path[PATH_LEN],
                     char tmp[PATH_LEN])
{
    char hex[RK_CODE_TEXT_LEN + 1];
    rk_code_to_text(ev->msg_id, hex);
    return snprintf(path, PATH_LEN, "%s/in/%013llu-%s-%s.json", s->cfg->dir, (unsigned long long)ms, ev->from,
                    hex) < PATH_LEN &&
           snprintf(tmp, PATH_LEN, "%s/in/.%s-%s.tmp", s->cfg->dir, ev->from, hex) < PATH_LEN;
}

/* The in/ file of ev: what `renkei-agent serve` prints, without the
 * person (the number is never written to the spool folder). */
static char *in_text(const rk_event *ev, bool *not_json)
{
    char *text = NULL;
    json_t *obj = rk_gw_delivery_json(ev, false, not_json);

    if (obj != NULL) {
        char *line = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
        if (line != NULL) {
            size_t n = strlen(line);
            if ((text = malloc(n + 2)) != NULL) {
                memcpy(text, line, n);
                memcpy(text + n, "\n", 2);
            }
            sodium_memzero(line, n);
            free(line);
        }
    }
    return text;
}

/* Writes text to path (created or truncated) and fsyncs it. */
static bool write_synced(const char *path, const char *text)
{
    size_t len = strlen(text), off = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return false;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return false;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0) {
        close(fd);
        return false;
    }
    return close(fd) == 0;
}

/* Writes delivery ev to in/ once, however often it is handed out (after a
 * crash the inbox hands it out again).  The steps, each durable before
 * the next: in/.FROM-MSGID.tmp written; mark I with the file's time; the
 * rename to in/MS-FROM-MSGID.json; mark W.  Found I again, the temporary
 * file tells whether the rename happened (it is gone then, even if the
 * batch job took the file away meanwhile). */
static bool write_in(spool_t *s, const rk_event *ev, const uint8_t h[32], char *why, size_t why_len)
{
    uint8_t val[RK_KEYSTORE_VAL_LEN];
    char path[PATH_LEN], tmp[PATH_LEN], *text;
    bool not_json;
    uint64_t ms;
    int found = rk_keystore_get(&s->keys, h, val);

    if (found < 0) {
        rk_why(why, why_len, "the spool's names cannot be read");
        return false;
    }
    if (found == 1 && val[0] == MARK_IN_WRITTEN)
        return true;
    if (found == 1 && val[0] == MARK_IN_TMP) {
        ms = mark_ms(val);
        if (!in_paths(s, ev, ms, path, tmp)) {
            rk_why(why, why_len, "the spool folder's path is too long");
            return false;
        }
        if (rename(tmp, path) != 0 && errno != ENOENT) {
            rk_why(why, why_len, "cannot rename its file in in/: %s", strerror(errno));
            return false;
        }
    } else {
        ms = wall_ms();
        if (!in_paths(s, ev, ms, path, tmp)) {
            rk_why(why, why_len, "the spool folder's path is too long");
            return false;
        }
        if ((text = in_text(ev, &not_json)) == NULL) {
            rk_why(why, why_len, "out of memory");
            return false;
        }
        if (!write_synced(tmp, text)) {
            rk_why(why, why_len, "cannot write in/: %s", strerror(errno));
            (void)unlink(tmp);
            wipe_free(text, strlen(text));
            return false;
        }
        wipe_free(text, strlen(text));
        sync_dir(s->cfg->dir, "in");
        if (!put_mark(s, h, MARK_IN_TMP, ms)) {
            rk_why(why, why_len, "the spool's names cannot be stored");
            return false;
        }
        if (rename(tmp, path) != 0) {
            rk_why(why, why_len, "cannot rename its file in in/: %s", strerror(errno));
            return false;
        }
    }
    sync_dir(s->cfg->dir, "in");
    if (!put_mark(s, h, MARK_IN_WRITTEN, ms)) {
        rk_why(why, why_len, "the spool's names cannot be stored");
        return false;
    }
    return true;
}

/* Whether delivery ev may be answered: not a reply, and of a procedure
 * type the catalogue does not say is never replied to (a notice; with no
 * catalogue at hand every message that is not a reply may be). */
static bool expects_reply(spool_t *s, const rk_event *ev)
{
    rk_procedure *list = NULL;
    size_t n = 0;
    char why[256];
    bool replied = true;

    if (ev->has_reply_to)
        return false;
    if (rk_agent_procedures(s->agent, &list, &n, why, sizeof why) != RK_AGENT_OK)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].type, ev->type) == 0)
            replied = list[i].replied;
    free(list);
    return replied;
}

/* Handles an event the inbox handed out: a delivery goes to in/ (then a
 * notice or reply is marked done; a message that may be answered stays
 * claimed for its answer file).  false if it must be tried again later (ev kept). */
static bool deliver(spool_t *s, const rk_event *ev)
{
    char hex[RK_CODE_TEXT_LEN + 1], why[400] = "";
    uint8_t h[32];
    bool not_json = false;

    if (ev->kind == RK_EVENT_REFUSED) {
        logf_at(s, RK_LOG_ERR, "spool: refused a message from %s: %s: %s",
                ev->from[0] ? ev->from : "an unknown sender", rk_status_name(ev->result.status), ev->detail);
        return true;
    }
    if (ev->kind != RK_EVENT_MESSAGE)
        return true;
    rk_code_to_text(ev->msg_id, hex);
    {
        json_t *p = json_loadb((const char *)ev->payload, ev->payload_len, JSON_DECODE_ANY, NULL);
        not_json = p == NULL;
        json_decref(p);
    }
    if (not_json) {
        rk_agent_err err =
            rk_agent_refuse(s->agent, ev, RK_ST_MALFORMED, "the payload is not JSON", why, sizeof why);
        if (err != RK_AGENT_OK) {
            logf_at(s, RK_LOG_ERR,
                    "spool: message %s from %s does not carry JSON, and refusing it failed: %s", hex,
                    ev->from, why[0] ? why : rk_agent_strerror(err));
            return false;
        }
        logf_at(s, RK_LOG_WARNING,
                "spool: refused message %s from %s: its payload is not JSON (the sender is told "
                "REFUSED_BY_RECIPIENT, MALFORMED)",
                hex, ev->from);
        return true;
    }
    in_key(ev->from, ev->msg_id, h);
    if (!write_in(s, ev, h, why, sizeof why)) {
        logf_at(s, RK_LOG_ERR, "spool: message %s from %s stays in the inbox, tried again shortly: %s", hex,
                ev->from, why);
        return false;
    }
    if (expects_reply(s, ev)) {
        logf_at(s, RK_LOG_NOTICE, "spool: %s request %s from %s is in in/; answer it with a file in out/",
                ev->type, hex, ev->from);
        return true; /* stays claimed by this process until its answer file comes */
    }
    {
        rk_agent_err err = rk_agent_done(s->agent, ev, why, sizeof why);
        if (err != RK_AGENT_OK && err != RK_AGENT_ENOTFOUND) {
            logf_at(s, RK_LOG_ERR, "spool: message %s from %s is in in/ but cannot be marked done: %s", hex,
                    ev->from, why[0] ? why : rk_agent_strerror(err));
            return false;
        }
    }
    (void)rk_keystore_del(&s->keys, h);
    logf_at(s, RK_LOG_NOTICE, "spool: %s message %s from %s is in in/", ev->type, hex, ev->from);
    return true;
}

/* ------------------------------------------------------------ answers */

/* {"reply_to","state"}: a message an answer file refused (REFUSED) or
 * marked done (DONE). */
static json_t *ended_json(const uint8_t req[RK_MSGID_LEN], bool refused)
{
    char id[RK_CODE_TEXT_LEN + 1];
    rk_code_to_text(req, id);
    return json_pack("{s:s, s:s}", "reply_to", id, "state", refused ? "REFUSED" : "DONE");
}

/* The reply this outbox holds to request (to, req), into st: 1, 0 none,
 * -1 cannot tell. */
static int find_reply(spool_t *s, const char *to, const uint8_t req[RK_MSGID_LEN], rk_msg_status *st)
{
    rk_msg_status *list = NULL;
    size_t n = 0;
    char why[256];
    int hit = 0;

    if (rk_agent_status_list(s->agent, NULL, &list, &n, why, sizeof why) != RK_AGENT_OK)
        return -1;
    for (size_t i = 0; i < n && !hit; i++)
        if (list[i].is_reply && strcmp(list[i].to, to) == 0 &&
            memcmp(list[i].reply_to, req, RK_MSGID_LEN) == 0) {
            *st = list[i];
            hit = 1;
        }
    free(list);
    return hit;
}

/* An answer file's message ended without a reply (refused or done):
 * NAME recorded, the delivery's record dropped, the result written. */
static void ended(spool_t *s, const char *name, const uint8_t h[32], const msg_t *m)
{
    uint8_t val[RK_KEYSTORE_VAL_LEN], ih[32];

    memset(val, 0, sizeof val);
    val[0] = m->done ? MARK_DONE : MARK_REFUSED;
    memcpy(val + 1, m->reply_to, RK_MSGID_LEN);
    if (rk_keystore_put(&s->keys, h, val, false) != 1)
        logf_at(s, RK_LOG_ERR, "spool: %s.json was handled but its name could not be stored", name);
    in_key(m->to, m->reply_to, ih);
    (void)rk_keystore_del(&s->keys, ih);
    finish(s, name, ended_json(m->reply_to, !m->done));
}

/* An answer file: replies to, refuses, or marks done message
 * (m->to, m->reply_to) from the inbox. */
static void answer_file(spool_t *s, const char *name, msg_t *m)
{
    uint8_t h[32], val[RK_KEYSTORE_VAL_LEN], msg_id[RK_MSGID_LEN], ih[32];
    char why[512] = "", req_hex[RK_CODE_TEXT_LEN + 1];
    bool replies = m->payload != NULL, crashed = false;
    rk_msg_status st;
    rk_result_t result;
    rk_event *req = NULL;
    rk_agent_err err;
    int found;

    rk_code_to_text(m->reply_to, req_hex);
    rk_keystore_hash(name, h);
    found = rk_keystore_get(&s->keys, h, val);
    if (found < 0) {
        logf_at(s, RK_LOG_ERR, "spool: the spool's names cannot be read; %s.json stays in work/", name);
        return;
    }
    if (found == 1 && val[0] == RK_KEYSTORE_SENT) {
        err = rk_agent_status_get(s->agent, val + 1, &st, why, sizeof why);
        if (err == RK_AGENT_OK && replies && st.is_reply && strcmp(st.to, m->to) == 0 &&
            memcmp(st.reply_to, m->reply_to, RK_MSGID_LEN) == 0) {
            logf_at(s, RK_LOG_NOTICE, "spool: %s.json was sent before: not again", name);
            finish(s, name, state_json(&st));
        } else if (err == RK_AGENT_OK || err == RK_AGENT_ENOTFOUND) {
            finish(s, name, error_json("CONFLICT", "this NAME was used for another message"));
        } else {
            logf_at(s, RK_LOG_ERR, "spool: %s.json stays in work/: %s", name,
                    why[0] ? why : rk_agent_strerror(err));
        }
        return;
    }
    if (found == 1 && (val[0] == MARK_REFUSED || val[0] == MARK_DONE)) {
        bool same =
            !replies && (val[0] == MARK_DONE) == m->done && memcmp(val + 1, m->reply_to, RK_MSGID_LEN) == 0;
        finish(s, name,
               same ? ended_json(m->reply_to, !m->done)
                    : error_json("CONFLICT", "this NAME was used for another message"));
        return;
    }
    if (found == 1 && val[0] == RK_KEYSTORE_RESERVED) {
        /* stopped while answering: a reply is one transaction with the
         * request's end, so the outbox tells whether it was kept */
        crashed = true;
        if (replies) {
            switch (find_reply(s, m->to, m->reply_to, &st)) {
            case 1: sent(s, name, h, &st); return;
            case 0: break;
            default:
                logf_at(s, RK_LOG_ERR, "spool: the outbox cannot be read; %s.json stays in work/", name);
                return;
            }
        }
    } else if (found == 1) {
        finish(s, name, error_json("CONFLICT", "this NAME was used for another message"));
        return;
    }

    if (!put_mark(s, h, RK_KEYSTORE_RESERVED, wall_ms())) {
        logf_at(s, RK_LOG_ERR, "spool: %s.json's name cannot be stored; it stays in work/", name);
        return;
    }
    err = rk_agent_take(s->agent, m->to, m->reply_to, &req, why, sizeof why);
    if (err == RK_AGENT_OK && req->has_reply_to && !m->done) {
        err = RK_AGENT_EINVAL;
        rk_why(why, sizeof why, "message %s from %s is a reply, not a request: it can only be marked done",
               req_hex, m->to);
    }
    if (err == RK_AGENT_ECONFLICT && crashed && !replies) {
        ended(s, name, h, m); /* it went through before the stop (or another answer did) */
        return;
    }
    if (err != RK_AGENT_OK) {
        (void)rk_keystore_del(&s->keys, h);
        rk_event_free(&req);
        if (err == RK_AGENT_ENOTFOUND)
            reject(s, name, "there is no message with that reply_to from that organization in the inbox");
        else if (err == RK_AGENT_ECONFLICT)
            reject(s, name, "that message was answered, refused or marked done already");
        else if (err == RK_AGENT_EINVAL)
            reject(s, name, why);
        else
            logf_at(s, RK_LOG_ERR, "spool: %s.json stays in work/: %s", name,
                    why[0] ? why : rk_agent_strerror(err));
        return;
    }
    if (!replies) {
        err = m->done
                  ? rk_agent_done(s->agent, req, why, sizeof why)
                  : rk_agent_refuse(s->agent, req, RK_ST_REFUSED_BY_RECIPIENT, m->refuse, why, sizeof why);
        rk_event_free(&req);
        if (err != RK_AGENT_OK) {
            (void)rk_keystore_del(&s->keys, h);
            logf_at(s, RK_LOG_ERR, "spool: %s per %s.json failed (it stays in work/): %s",
                    m->done ? "marking done" : "refusing", name, why[0] ? why : rk_agent_strerror(err));
            return;
        }
        logf_at(s, RK_LOG_NOTICE, "spool: %s.json %s message %s from %s", name,
                m->done ? "marked done" : "refused (REFUSED_BY_RECIPIENT)", req_hex, m->to);
        ended(s, name, h, m);
        return;
    }
    memset(&result, 0, sizeof result);
    memset(msg_id, 0, sizeof msg_id);
    err = rk_agent_reply(s->agent, req, (const uint8_t *)m->payload, strlen(m->payload), msg_id, &result, why,
                         sizeof why);
    rk_event_free(&req);
    if (rk_agent_status_get(s->agent, msg_id, &st, NULL, 0) == RK_AGENT_OK) {
        in_key(m->to, m->reply_to, ih);
        (void)rk_keystore_del(&s->keys, ih); /* the request is done */
    }
    outcome(s, name, h, err, msg_id, &result, why);
}

/* Handles work/NAME.json to its end (or leaves it there after an error
 * worth trying again). */
static void process(spool_t *s, const char *name)
{
    char why[400] = "", *text;
    size_t len = 0;
    msg_t m;

    memset(&m, 0, sizeof m);
    text = read_work(s, name, &len, why, sizeof why);
    if (text == NULL) {
        reject(s, name, why);
        return;
    }
    if (!parse_msg(text, len, s->cfg->number_rule, &m, why, sizeof why))
        reject(s, name, why);
    else if (m.answer)
        answer_file(s, name, &m);
    else
        send_file(s, name, &m);
    msg_clear(&m);
    wipe_free(text, len);
}

/* NAME of a directory entry NAME.json worth taking, into name; false for
 * anything else (NAME.json.tmp, hidden files, too long a NAME). */
static bool json_name(const char *entry, char name[NAME_MAX_LEN + 1])
{
    size_t n = strlen(entry);
    if (n <= 5 || entry[0] == '.' || strcmp(entry + n - 5, ".json") != 0 || n - 5 > NAME_MAX_LEN)
        return false;
    memcpy(name, entry, n - 5);
    name[n - 5] = '\0';
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The NAMEs of sub's *.json files, sorted; false if sub cannot be read. */
static bool list_names(const spool_t *s, const char *sub, char ***names, size_t *n)
{
    char path[PATH_LEN], name[NAME_MAX_LEN + 1];
    struct dirent *e;
    DIR *d;
    size_t cap = 0;

    *names = NULL;
    *n = 0;
    if (snprintf(path, sizeof path, "%s/%s", s->cfg->dir, sub) >= (int)sizeof path ||
        (d = opendir(path)) == NULL)
        return false;
    while ((e = readdir(d)) != NULL) {
        if (!json_name(e->d_name, name))
            continue;
        if (*n == cap) {
            char **bigger = realloc(*names, (cap = cap ? cap * 2 : 16) * sizeof **names);
            if (bigger == NULL)
                break;
            *names = bigger;
        }
        if (((*names)[*n] = strdup(name)) == NULL)
            break;
        (*n)++;
    }
    closedir(d);
    if (*n > 1)
        qsort(*names, *n, sizeof **names, cmp_str);
    return true;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Takes what is in out/, or with from_work what is in work/: what a crash
 * left (at start) or a failure (while running, again). */
static void scan(spool_t *s, bool from_work, bool at_start, volatile sig_atomic_t *stop)
{
    char **names, from[PATH_LEN], to[PATH_LEN];
    size_t n;

    if (!list_names(s, from_work ? "work" : "out", &names, &n))
        return;
    for (size_t i = 0; i < n && !*stop; i++) {
        if (!from_work) {
            if (!path_of(from, s->cfg->dir, "out", names[i], ".json") ||
                !path_of(to, s->cfg->dir, "work", names[i], ".json"))
                continue;
            if (rename(from, to) != 0) {
                if (errno != ENOENT)
                    logf_at(s, RK_LOG_ERR, "spool: cannot move %s.json to work/: %s", names[i],
                            strerror(errno));
                continue;
            }
            sync_dir(s->cfg->dir, "work");
        } else if (at_start) {
            logf_at(s, RK_LOG_NOTICE,
                    "spool: %s.json was in work/ when the agent stopped: processing it again", names[i]);
        } else {
            logf_at(s, RK_LOG_NOTICE, "spool: trying %s.json in work/ again", names[i]);
        }
        process(s, names[i]);
    }
    free_names(names, n);
}

static bool make_dirs(const spool_t *s, char *why, size_t why_len)
{
    static const char *const subs[] = {"out", "work", "results", "done", "rejected", "in"};
    char path[PATH_LEN];
    struct stat st;

    if (stat(s->cfg->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rk_why(why, why_len, "the spool folder %s is not a directory", s->cfg->dir);
        return false;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (snprintf(path, sizeof path, "%s/%s", s->cfg->dir, subs[i]) >= (int)sizeof path) {
            rk_why(why, why_len, "the spool folder's path is too long");
            return false;
        }
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            rk_why(why, why_len, "cannot create %s: %s", path, strerror(errno));
            return false;
        }
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rk_why(why, why_len, "%s is not a directory", path);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------ purge */

/* Deletes sub's files (not hidden ones) last modified before cutoff_ms. */
static size_t purge_dir(const spool_t *s, const char *sub, uint64_t cutoff_ms)
{
    char dir[PATH_LEN], path[PATH_LEN];
    struct dirent *e;
    struct stat st;
    size_t n = 0;
    DIR *d;

    if (snprintf(dir, sizeof dir, "%s/%s", s->cfg->dir, sub) >= (int)sizeof dir || (d = opendir(dir)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        uint64_t mtime_ms;
        if (e->d_name[0] == '.' || snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        mtime_ms = (uint64_t)st.st_mtim.tv_sec * 1000u + (uint64_t)st.st_mtim.tv_nsec / 1000000u;
        if (mtime_ms < cutoff_ms && unlink(path) == 0)
            n++;
    }
    closedir(d);
    if (n > 0)
        sync_dir(s->cfg->dir, sub);
    return n;
}

/* Whether a spool-keys.mdb value is older than *ctx (wall-clock ms): a
 * NAME's sent message (its id begins with its time, 6 bytes big-endian)
 * or refusal or done (likewise the message's id).  Reservations and deliveries
 * are never old: they go when their file or request is done. */
static bool name_expired(const uint8_t val[RK_KEYSTORE_VAL_LEN], void *ctx)
{
    uint64_t cutoff = *(const uint64_t *)ctx, ms = 0;
    if (val[0] != RK_KEYSTORE_SENT && val[0] != MARK_REFUSED && val[0] != MARK_DONE)
        return false;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | val[1 + i];
    return ms < cutoff;
}

/* done/ and results/ files, and NAMEs, older than --keep-days. */
static void purge(spool_t *s)
{
    uint64_t now = wall_ms(), cutoff = now > s->keep_ms ? now - s->keep_ms : 0;
    size_t done_n = purge_dir(s, "done", cutoff), results_n = purge_dir(s, "results", cutoff);
    long names = rk_keystore_purge(&s->keys, name_expired, &cutoff);

    if (names < 0)
        logf_at(s, RK_LOG_ERR, "spool: the spool's old names could not be purged");
    if (done_n > 0 || results_n > 0 || names > 0)
        logf_at(s, RK_LOG_NOTICE,
                "spool: purged what is older than %llu days: %zu file(s) in done/, %zu in results/, %ld "
                "name(s)",
                (unsigned long long)(s->keep_ms / DAY_MS), done_n, results_n, names < 0 ? 0 : names);
}

/* ------------------------------------------------------------ lock */

/* Takes path's exclusive lock into *fd; false with why if another
 * process holds it (naming its pid, written into the file) or on error. */
static bool lock_one(const char *path, const char *what, int *fd, char *why, size_t why_len)
{
    char pid[32] = "";
    int n;

    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0) {
        rk_why(why, why_len, "cannot open the lock file %s: %s", path, strerror(errno));
        return false;
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            n = (int)pread(*fd, pid, sizeof pid - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            rk_why(why, why_len,
                   "another renkei-agent spool is already running on %s%s%s%s: only one may (stop it first)",
                   what, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
        } else {
            rk_why(why, why_len, "cannot lock %s: %s", path, strerror(e));
        }
        close(*fd);
        *fd = -1;
        return false;
    }
    n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(*fd, 0) != 0 || pwrite(*fd, pid, (size_t)n, 0) != n) {
        /* the lock holds all the same; only the pid in the message is missing */
    }
    return true;
}

bool rk_spool_lock(const char *dir, const char *data_dir, int fds[2], char *why, size_t why_len)
{
    char path[PATH_LEN], what[PATH_LEN + 40];

    struct stat st;

    fds[0] = fds[1] = -1;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rk_why(why, why_len, "the spool folder %s is not a directory", dir);
        return false;
    }
    if (snprintf(path, sizeof path, "%s/%s", dir, LOCK_FILE) >= (int)sizeof path) {
        rk_why(why, why_len, "the spool folder's path is too long");
        return false;
    }
    snprintf(what, sizeof what, "the spool folder %s", dir);
    if (!lock_one(path, what, &fds[0], why, why_len))
        return false;
    if (snprintf(path, sizeof path, "%s/%s", data_dir, DATA_LOCK_FILE) >= (int)sizeof path) {
        rk_why(why, why_len, "the data directory's path is too long");
        rk_spool_unlock(fds);
        return false;
    }
    snprintf(what, sizeof what, "the data directory %s", data_dir);
    if (!lock_one(path, what, &fds[1], why, why_len)) {
        rk_spool_unlock(fds);
        return false;
    }
    return true;
}

void rk_spool_unlock(int fds[2])
{
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

/* ------------------------------------------------------------ loop */

/* Takes what the inbox hands out (at most RECV_BURST, waiting up to
 * wait_ms for the first) and writes it to in/; or tries the held one again. */
static void receive(spool_t *s, int wait_ms, volatile sig_atomic_t *stop)
{
    for (int i = 0; i < RECV_BURST && !*stop && s->held == NULL; i++) {
        rk_event *ev = NULL;
        char why[512] = "";
        rk_agent_err err =
            rk_agent_recv_only(s->agent, RK_RECV_ALL, i == 0 ? wait_ms : 0, &ev, why, sizeof why);
        if (err == RK_AGENT_ETIMEOUT || err == RK_AGENT_EINTR)
            return;
        if (err != RK_AGENT_OK) {
            logf_at(s, RK_LOG_ERR, "spool: receiving failed: %s", why[0] ? why : rk_agent_strerror(err));
            sleep_ms(wait_ms);
            return;
        }
        if (deliver(s, ev))
            rk_event_free(&ev);
        else
            s->held = ev;
    }
}

int rk_spool_run(rk_agent_t *a, const rk_spool_config *cfg, volatile sig_atomic_t *stop)
{
    spool_t s;
    char why[512] = "";
    uint64_t next_flush, next_retry, next_held = 0, next_purge;

    memset(&s, 0, sizeof s);
    s.agent = a;
    s.cfg = cfg;
    s.keep_ms = (uint64_t)(cfg->keep_days > 0 ? cfg->keep_days : RK_KEEP_DAYS_DEFAULT) * DAY_MS;
    if (!make_dirs(&s, why, sizeof why) ||
        !rk_keystore_open(&s.keys, cfg->data_dir, KEYS_FILE, "the spool's names", why, sizeof why)) {
        logf_at(&s, RK_LOG_ERR, "%s", why);
        return 1;
    }
    logf_at(&s, RK_LOG_NOTICE, "watching the spool folder %s as %s", cfg->dir, rk_agent_org(a));
    (void)rk_gw_flush(s.agent, cfg->connect, cfg->log); /* connects, if it can, before the first file */
    next_flush = mono_ms() + FLUSH_EVERY_MS;
    purge(&s);
    next_purge = mono_ms() + PURGE_EVERY_MS;
    scan(&s, true, true, stop);
    next_retry = mono_ms() + RETRY_EVERY_MS;
    while (!*stop) {
        uint64_t now = mono_ms();
        if (now >= next_flush) {
            bool connected = rk_gw_flush(s.agent, cfg->connect, cfg->log);
            next_flush = mono_ms() + (connected ? FLUSH_EVERY_MS : CONNECT_EVERY_MS);
        }
        if (now >= next_purge) {
            purge(&s);
            next_purge = now + PURGE_EVERY_MS;
        }
        if (now >= next_retry) {
            scan(&s, true, false, stop); /* what a store failure left in work/ */
            next_retry = mono_ms() + RETRY_EVERY_MS;
        }
        scan(&s, false, false, stop);
        if (s.held != NULL) {
            if (mono_ms() >= next_held) {
                if (deliver(&s, s.held))
                    rk_event_free(&s.held);
                next_held = mono_ms() + HELD_EVERY_MS;
            }
            sleep_ms(POLL_MS);
            continue;
        }
        receive(&s, POLL_MS, stop);
    }
    logf_at(&s, RK_LOG_NOTICE, "stopping the spool");
    rk_event_free(&s.held);
    rk_keystore_close(&s.keys);
    return 0;
}
