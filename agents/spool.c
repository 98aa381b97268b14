/*
 * spool.c - the agent's spool folder (spool.h).
 *
 * One thread: every 200 ms it lists out/, moves each NAME.json to work/
 * and handles it to the end (result or rejection) before the next; every
 * few seconds it re-sends pending messages (and connects while the hub
 * cannot be reached).
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
#define PATH_LEN 4096

/* The stored value (keystore.h): reserved, with the wall-clock ms of the
 * reservation in the 8 bytes after the mark, or sent and the msg id. */

typedef struct spool {
    rk_agent_t *agent;
    const rk_spool_config *cfg;
    rk_keystore_t keys; /* NAME -> message (keystore.h) */
} spool_t;

/* One file's message. */
typedef struct msg {
    char to[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    char person[RK_PERSON_MAX + 1];
    char *payload;
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

/* Writes results/NAME.result.json (obj, taken) and deletes work/NAME.json. */
static void finish(spool_t *s, const char *name, json_t *obj)
{
    char path[PATH_LEN], *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
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
    if (path_of(path, s->cfg->dir, "work", name, ".json") && unlink(path) == 0)
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

static void send_file(spool_t *s, const char *name, msg_t *m)
{
    uint8_t h[32], val[RK_KEYSTORE_VAL_LEN], msg_id[RK_MSGID_LEN];
    rk_msg_status st;
    rk_outgoing o;
    rk_result_t result;
    char why[512] = "", id[RK_CODE_TEXT_LEN + 1];
    rk_agent_err err;
    int found;

    rk_keystore_hash(name, h);
    found = rk_keystore_get(&s->keys, h, val);
    if (found < 0) {
        logf_at(s, RK_LOG_ERR, "spool: the spool's names cannot be read; %s.json stays in work/", name);
        return;
    }
    if (found == 1 && val[0] == RK_KEYSTORE_RESERVED) {
        uint64_t since = 0;
        for (int i = 0; i < 8; i++)
            since = since << 8 | val[1 + i];
        switch (find_kept(s, m, since, &st)) {
        case 1: goto sent; /* kept before the crash: it is re-sent from the outbox, not again */
        case 0: break;     /* never kept: send it now */
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

    memset(val, 0, sizeof val);
    val[0] = RK_KEYSTORE_RESERVED;
    {
        uint64_t now = wall_ms();
        for (int i = 0; i < 8; i++)
            val[1 + i] = (uint8_t)(now >> (56 - 8 * i));
    }
    if (rk_keystore_put(&s->keys, h, val, false) != 1) {
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
    if (rk_agent_status_get(s->agent, msg_id, &st, NULL, 0) != RK_AGENT_OK) {
        /* nothing kept: the same NAME may try again */
        (void)rk_keystore_del(&s->keys, h);
        switch (err) {
        case RK_AGENT_EREFUSED:
            finish(s, name,
                   error_json(rk_status_name(result.status),
                              result.detail[0] ? result.detail : rk_status_text(result.status)));
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
sent:
    val[0] = RK_KEYSTORE_SENT;
    memcpy(val + 1, st.msg_id, RK_MSGID_LEN);
    if (rk_keystore_put(&s->keys, h, val, false) != 1)
        logf_at(s, RK_LOG_ERR, "spool: %s.json was kept but its name could not be stored", name);
    rk_code_to_text(st.msg_id, id);
    logf_at(s, RK_LOG_NOTICE, "spool: %s.json sent as %s: %s", name, id, rk_msg_state_name(st.state));
    finish(s, name, state_json(&st));
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

/* Takes what is in out/ (or, with from_work, what a crash left in work/). */
static void scan(spool_t *s, bool from_work, volatile sig_atomic_t *stop)
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
        } else {
            logf_at(s, RK_LOG_NOTICE,
                    "spool: %s.json was in work/ when the agent stopped: processing it again", names[i]);
        }
        process(s, names[i]);
    }
    free_names(names, n);
}

static bool make_dirs(const spool_t *s, char *why, size_t why_len)
{
    static const char *const subs[] = {"out", "work", "results", "rejected"};
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

int rk_spool_run(rk_agent_t *a, const rk_spool_config *cfg, volatile sig_atomic_t *stop)
{
    spool_t s;
    char why[512] = "";
    uint64_t next = 0;

    memset(&s, 0, sizeof s);
    s.agent = a;
    s.cfg = cfg;
    if (!make_dirs(&s, why, sizeof why) ||
        !rk_keystore_open(&s.keys, cfg->data_dir, KEYS_FILE, "the spool's names", why, sizeof why)) {
        logf_at(&s, RK_LOG_ERR, "%s", why);
        return 1;
    }
    logf_at(&s, RK_LOG_NOTICE, "watching the spool folder %s as %s", cfg->dir, rk_agent_org(a));
    (void)rk_gw_flush(s.agent, cfg->connect, cfg->log); /* connects, if it can, before the first file */
    next = mono_ms() + FLUSH_EVERY_MS;
    scan(&s, true, stop);
    while (!*stop) {
        uint64_t now = mono_ms();
        if (now >= next) {
            bool connected = rk_gw_flush(s.agent, cfg->connect, cfg->log);
            next = mono_ms() + (connected ? FLUSH_EVERY_MS : CONNECT_EVERY_MS);
        }
        scan(&s, false, stop);
        sleep_ms(POLL_MS);
    }
    logf_at(&s, RK_LOG_NOTICE, "stopping the spool");
    rk_keystore_close(&s.keys);
    return 0;
}
