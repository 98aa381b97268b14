/*
 * it_load.c - a load generator over the agent library, for the durability
 * and chaos integration tests.  Not a test itself: the tests start it as a
 * process (and kill it) like any organization's system.
 *
 *   it_load send   --hub E --hub-key H --key K --data D --to ORG[,ORG..]
 *                  --type T --persons N --count M [--size BYTES]
 *                  [--id-file F] [--flush-secs S] [--wait-secs S] [--linger-secs S]
 *       enrolls N fake persons (LOAD-0001, ...; skipped if enrolled), sends M
 *       messages round-robin over recipients and persons and prints one line
 *       per message, "MSGID ACCEPTED", "MSGID PENDING" or "MSGID
 *       REFUSED:STATUS" (stdout, flushed; also appended to F; PENDING may
 *       carry the hub's transient status, "PENDING:QUEUE_FULL").  Then
 *       flushes the outbox until nothing is pending, keeps receiving
 *       (replies, notices) until every message sent is complete or
 *       --wait-secs pass, and then --linger-secs more.
 *       --count 0 only flushes and waits: what a restarted sender does.
 *   it_load serve  --hub E --hub-key H --key K --data D [--reply]
 *                  [--reply-delay-ms MS] [--previous-key K]
 *       receives requests until SIGTERM; with --reply answers each, MS after
 *       taking it (reply
 *       and DONE in one transaction), else marks it DONE.  Prints "HANDLED
 *       FROM MSGID" per request.
 *   it_load report --key K --data D
 *       reads the agent's own LMDB (no connection) and prints every outbox
 *       record, "MSGID STATE TO request|reply REPLY_TO|- ATTEMPTS LAST_STATUS", and
 *       every inbox entry, "INBOX FROM MSGID REPLY_TO|- NEW|CLAIMED|DONE".
 *
 * Exit status: 0 done, 1 error, 2 usage, 4 something still open at the end.
 * Person numbers are fake and never printed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "codebook.h"
#include "mailbox.h"
#include "renkei/agent.h"

#define MAX_TO 16

typedef struct opts {
    const char *hub, *hub_key, *key, *previous_key, *data, *type, *id_file;
    char *to_list;
    const char *to[MAX_TO];
    size_t n_to;
    long persons, count, size, flush_secs, wait_secs, linger_secs, timeout_ms, reply_delay_ms;
    int reply;
} opts_t;

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void hex16(const uint8_t *b, char out[33])
{
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[32] = '\0';
}

static void on_notice(void *ctx, const char *text)
{
    (void)ctx;
    fprintf(stderr, "it_load: %s\n", text);
}

static int usage(void)
{
    fputs("usage: it_load send --hub E --hub-key H --key K --data D --to ORG[,ORG..] --type T\n"
          "                    --persons N --count M [--size BYTES] [--id-file F]\n"
          "                    [--flush-secs S] [--wait-secs S] [--linger-secs S] [--timeout-ms MS]\n"
          "       it_load serve --hub E --hub-key H --key K --data D [--reply] [--reply-delay-ms MS]\n"
          "       it_load report --key K --data D\n",
          stderr);
    return 2;
}

/* Opens the agent, retrying while the hub does not answer (it may be
 * restarting) until the deadline or SIGTERM. */
static rk_agent_t *open_agent(const opts_t *o, bool receive, int deadline_s)
{
    rk_agent_config cfg;
    rk_agent_t *a = NULL;
    char why[512];
    long long deadline = mono_ms() + (long long)deadline_s * 1000;
    bool said = false;

    rk_agent_config_init(&cfg);
    cfg.endpoint = o->hub;
    cfg.hub_pub = o->hub_key;
    cfg.key = o->key;
    cfg.previous_key = o->previous_key;
    cfg.data_dir = o->data;
    cfg.timeout_ms = (int)o->timeout_ms;
    cfg.receive = receive;
    cfg.notice = on_notice;
    while (!stop_flag) {
        rk_agent_err err;
        why[0] = '\0';
        err = rk_agent_open(&cfg, &a, why, sizeof why);
        if (err == RK_AGENT_OK)
            return a;
        if (!said || mono_ms() >= deadline) {
            fprintf(stderr, "it_load: open: %s: %s\n", rk_agent_strerror(err), why);
            said = true;
        }
        if (mono_ms() >= deadline ||
            (err != RK_AGENT_ENOANSWER && err != RK_AGENT_ETIMEOUT && err != RK_AGENT_EZMQ &&
             err != RK_AGENT_EHANDSHAKE && err != RK_AGENT_EPROTO))
            return NULL;
        sleep_ms(200);
    }
    return NULL;
}

static void out_line(FILE *idf, const char *id, const char *what)
{
    printf("%s %s\n", id, what);
    fflush(stdout);
    if (idf != NULL) {
        fprintf(idf, "%s %s\n", id, what);
        fflush(idf);
    }
}

/* Number of messages of this outbox (requests only) not complete yet;
 * -1 on error. */
static long open_count(rk_agent_t *a)
{
    rk_msg_status *list = NULL;
    size_t n = 0;
    rk_status_filter f = {.open_only = true, .code = NULL};
    char why[256];
    if (rk_agent_status_list(a, &f, &list, &n, why, sizeof why) != RK_AGENT_OK) {
        fprintf(stderr, "it_load: status: %s\n", why);
        return -1;
    }
    free(list);
    return (long)n;
}

static int do_send(const opts_t *o)
{
    rk_agent_t *a;
    FILE *idf = NULL;
    char why[512], person[RK_PERSON_MAX + 1], hex[33];
    uint8_t *payload = NULL;
    long accepted = 0, pending = 0, refused = 0, errors = 0, open = -1;
    long long deadline;
    int rc = 0;

    if (o->count > 0 && (o->n_to == 0 || o->type == NULL))
        return usage();
    a = open_agent(o, true, 60);
    if (a == NULL)
        return 1;
    if (o->id_file != NULL && (idf = fopen(o->id_file, "a")) == NULL) {
        fprintf(stderr, "it_load: cannot open %s: %s\n", o->id_file, strerror(errno));
        rk_agent_close(&a);
        return 1;
    }
    for (long p = 1; p <= o->persons && o->count > 0; p++) {
        uint8_t code[RK_CODE_LEN];
        bool existed = false;
        rk_result_t refusal;
        rk_agent_err err;
        snprintf(person, sizeof person, "LOAD-%04ld", p);
        for (int tries = 0;; tries++) {
            err = rk_agent_enroll(a, person, code, &existed, &refusal, why, sizeof why);
            if (err == RK_AGENT_OK || tries >= 20)
                break;
            sleep_ms(500); /* the hub may be restarting */
        }
        if (err != RK_AGENT_OK) {
            fprintf(stderr, "it_load: enroll person %ld: %s: %s\n", p, rk_agent_strerror(err), why);
            rc = 1;
            goto done;
        }
    }
    payload = malloc((size_t)o->size + 64);
    if (payload == NULL) {
        rc = 1;
        goto done;
    }
    for (long i = 0; i < o->count && !stop_flag; i++) {
        rk_outgoing m;
        rk_result_t res;
        uint8_t id[RK_MSGID_LEN];
        rk_agent_err err;
        int len = snprintf((char *)payload, 64, "{\"n\":%ld,\"pad\":\"", i);
        memset(payload + len, 'x', (size_t)o->size);
        memcpy(payload + len + o->size, "\"}", 2);

        snprintf(person, sizeof person, "LOAD-%04ld", i % o->persons + 1);
        memset(&m, 0, sizeof m);
        m.to = o->to[i % (long)o->n_to];
        m.type = o->type;
        m.person = person;
        m.payload = payload;
        m.payload_len = (size_t)len + (size_t)o->size + 2;
        why[0] = '\0';
        err = rk_agent_send(a, &m, id, &res, why, sizeof why);
        hex16(id, hex);
        switch (err) {
        case RK_AGENT_OK:
            accepted++;
            out_line(idf, hex, "ACCEPTED");
            break;
        case RK_AGENT_EPENDING: {
            char st[64];
            pending++;
            if (res.status != RK_ST_UNSPECIFIED && res.status != RK_ST_ACCEPTED)
                snprintf(st, sizeof st, "PENDING:%s", rk_status_name(res.status));
            else
                snprintf(st, sizeof st, "PENDING");
            out_line(idf, hex, st);
            break;
        }
        case RK_AGENT_EREFUSED: {
            char st[64];
            refused++;
            snprintf(st, sizeof st, "REFUSED:%s", rk_status_name(res.status));
            out_line(idf, hex, st);
            break;
        }
        default: {
            char st[64];
            errors++;
            snprintf(st, sizeof st, "ERROR:%s", rk_agent_strerror(err));
            out_line(idf, hex, st);
            fprintf(stderr, "it_load: send %ld: %s\n", i, why);
            break;
        }
        }
    }
    /* Flush until nothing is pending (the hub may be down for a while). */
    deadline = mono_ms() + o->flush_secs * 1000;
    for (;;) {
        rk_flush_report rep;
        rk_agent_err err = rk_agent_flush(a, 5000, &rep, why, sizeof why);
        if (err == RK_AGENT_OK && rep.pending == 0)
            break;
        if (mono_ms() >= deadline) {
            fprintf(stderr, "it_load: flush: still %zu pending at the deadline (%s)\n", rep.pending,
                    err == RK_AGENT_OK ? "answered" : why);
            break;
        }
        if (err == RK_AGENT_OK) {
            /* answered, some pending (QUEUE_FULL, STORE_FULL): let them age */
            rk_event *ev = NULL;
            if (rk_agent_recv(a, 500, &ev, why, sizeof why) == RK_AGENT_OK && ev != NULL &&
                ev->kind == RK_EVENT_MESSAGE && rk_agent_done(a, ev, why, sizeof why) != RK_AGENT_OK)
                fprintf(stderr, "it_load: done: %s\n", why);
            rk_event_free(&ev);
        } else {
            sleep_ms(200);
        }
    }
    /* Collect replies and notices until every message is complete. */
    deadline = mono_ms() + o->wait_secs * 1000;
    while (open_count(a) != 0 && mono_ms() < deadline && !stop_flag) {
        long long until = mono_ms() + 1000;
        while (mono_ms() < until) {
            rk_event *ev = NULL;
            rk_agent_err err = rk_agent_recv(a, 200, &ev, why, sizeof why);
            if (err == RK_AGENT_OK && ev != NULL && ev->kind == RK_EVENT_MESSAGE &&
                rk_agent_done(a, ev, why, sizeof why) != RK_AGENT_OK)
                fprintf(stderr, "it_load: done: %s\n", why);
            rk_event_free(&ev);
        }
    }
    /* Keep collecting a while (notices after the last reply, acks). */
    deadline = mono_ms() + o->linger_secs * 1000;
    while (mono_ms() < deadline && !stop_flag) {
        rk_event *ev = NULL;
        rk_agent_err err = rk_agent_recv(a, 200, &ev, why, sizeof why);
        if (err == RK_AGENT_OK && ev != NULL && ev->kind == RK_EVENT_MESSAGE &&
            rk_agent_done(a, ev, why, sizeof why) != RK_AGENT_OK)
            fprintf(stderr, "it_load: done: %s\n", why);
        rk_event_free(&ev);
    }
    open = open_count(a);
    fprintf(stderr, "it_load: sent %ld: accepted %ld, pending %ld, refused %ld, errors %ld; open at exit %ld\n",
            o->count, accepted, pending, refused, errors, open);
    if (open != 0)
        rc = 4;
done:
    free(payload);
    if (idf != NULL)
        fclose(idf);
    rk_agent_close(&a);
    return rc;
}

static int do_serve(const opts_t *o)
{
    rk_agent_t *a = open_agent(o, true, 60);
    char why[512], from_hex[33];
    static const uint8_t answer[] = "{\"result\":\"done\"}";
    long handled = 0;

    if (a == NULL)
        return stop_flag ? 0 : 1;
    fprintf(stderr, "it_load: serving as %s\n", rk_agent_org(a));
    while (!stop_flag) {
        rk_event *ev = NULL;
        rk_agent_err err = rk_agent_recv_only(a, RK_RECV_REQUESTS, 1000, &ev, why, sizeof why);
        if (err == RK_AGENT_ETIMEOUT || err == RK_AGENT_EINTR)
            continue;
        if (err != RK_AGENT_OK) {
            fprintf(stderr, "it_load: recv: %s: %s\n", rk_agent_strerror(err), why);
            sleep_ms(100);
            continue;
        }
        if (ev->kind == RK_EVENT_MESSAGE) {
            hex16(ev->msg_id, from_hex);
            if (o->reply_delay_ms > 0)
                sleep_ms((int)o->reply_delay_ms);
            if (o->reply) {
                uint8_t rid[RK_MSGID_LEN];
                rk_result_t res;
                err = rk_agent_reply(a, ev, answer, sizeof answer - 1, rid, &res, why, sizeof why);
                if (err != RK_AGENT_OK && err != RK_AGENT_EPENDING)
                    fprintf(stderr, "it_load: reply: %s: %s\n", rk_agent_strerror(err), why);
            } else {
                err = rk_agent_done(a, ev, why, sizeof why);
                if (err != RK_AGENT_OK)
                    fprintf(stderr, "it_load: done: %s: %s\n", rk_agent_strerror(err), why);
            }
            if (err == RK_AGENT_OK || err == RK_AGENT_EPENDING) {
                handled++;
                printf("HANDLED %s %s\n", ev->from, from_hex);
                fflush(stdout);
            }
        } else if (ev->kind == RK_EVENT_REFUSED) {
            fprintf(stderr, "it_load: refused a delivery from %s: %s\n", ev->from, ev->detail);
        }
        rk_event_free(&ev);
    }
    fprintf(stderr, "it_load: stopping after %ld requests\n", handled);
    rk_agent_close(&a);
    return 0;
}

typedef struct in_key {
    char from[RK_ID_MAX + 1];
    uint8_t msg_id[RK_MSGID_LEN];
} in_key_t;

/* The keys of the inbox table, read in one transaction. */
static int inbox_keys(MDB_env *env, in_key_t **keys, size_t *n)
{
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t cap = 0;
    int rc;

    *keys = NULL;
    *n = 0;
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
        return rc;
    if ((rc = mdb_dbi_open(txn, "inbox", 0, &dbi)) != 0 || (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        goto fail;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *key = k.mv_data;
        size_t flen = strnlen(key, k.mv_size);
        if (flen > RK_ID_MAX || k.mv_size != flen + 1 + RK_MSGID_LEN) {
            fprintf(stderr, "it_load: an inbox key of %zu bytes is not FROM 0x00 MSGID\n", k.mv_size);
            continue;
        }
        if (*n == cap) {
            in_key_t *nk = realloc(*keys, (cap = cap ? cap * 2 : 256) * sizeof *nk);
            if (nk == NULL) {
                rc = ENOMEM;
                goto fail;
            }
            *keys = nk;
        }
        memcpy((*keys)[*n].from, key, flen);
        (*keys)[*n].from[flen] = '\0';
        memcpy((*keys)[*n].msg_id, key + flen + 1, RK_MSGID_LEN);
        (*n)++;
    }
    rc = rc == MDB_NOTFOUND ? 0 : rc;
fail:
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != 0) {
        free(*keys);
        *keys = NULL;
        *n = 0;
    }
    return rc;
}

static int do_report(const opts_t *o)
{
    rk_codebook_t *cb = NULL;
    rk_mailbox_t *mb = NULL;
    rk_msg_status *list = NULL;
    in_key_t *keys = NULL;
    size_t n = 0, nk = 0;
    char why[512], hex[33], hex2[33];
    int rc = 1, lrc;

    if (rk_codebook_open(o->data, 0, &cb, why, sizeof why) != RK_AGENT_OK ||
        rk_mailbox_open(rk_codebook_env(cb), &mb, why, sizeof why) != RK_AGENT_OK) {
        fprintf(stderr, "it_load: report: %s\n", why);
        goto fail;
    }
    if (rk_mailbox_out_list(mb, NULL, &list, &n, why, sizeof why) != RK_AGENT_OK) {
        fprintf(stderr, "it_load: report: outbox: %s\n", why);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        hex16(list[i].msg_id, hex);
        if (list[i].is_reply)
            hex16(list[i].reply_to, hex2);
        printf("%s %s %s %s %s %u %s\n", hex, rk_msg_state_name(list[i].state), list[i].to,
               list[i].is_reply ? "reply" : "request", list[i].is_reply ? hex2 : "-", list[i].attempts,
               rk_status_name(list[i].status));
    }
    if ((lrc = inbox_keys(rk_codebook_env(cb), &keys, &nk)) != 0) {
        fprintf(stderr, "it_load: report: inbox: %s\n", mdb_strerror(lrc));
        goto fail;
    }
    for (size_t i = 0; i < nk; i++) {
        rk_inbox_entry e;
        memset(&e, 0, sizeof e);
        if (rk_mailbox_in_get(mb, keys[i].from, keys[i].msg_id, &e, why, sizeof why) != RK_AGENT_OK) {
            fprintf(stderr, "it_load: report: inbox entry: %s\n", why);
            goto fail;
        }
        hex16(e.msg_id, hex);
        if (e.has_reply_to)
            hex16(e.reply_to, hex2);
        printf("INBOX %s %s %s %s\n", e.from, hex, e.has_reply_to ? hex2 : "-", rk_inbox_state_name(e.state));
        rk_inbox_entry_clear(&e);
    }
    rc = 0;
fail:
    fflush(stdout);
    free(keys);
    free(list);
    rk_mailbox_close(&mb);
    rk_codebook_close(&cb);
    return rc;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"hub", required_argument, NULL, 'H'},          {"hub-key", required_argument, NULL, 'K'},
        {"key", required_argument, NULL, 'k'},          {"data", required_argument, NULL, 'd'},
        {"to", required_argument, NULL, 'o'},           {"type", required_argument, NULL, 'y'},
        {"persons", required_argument, NULL, 'p'},      {"count", required_argument, NULL, 'c'},
        {"size", required_argument, NULL, 's'},         {"id-file", required_argument, NULL, 'i'},
        {"flush-secs", required_argument, NULL, 'f'},   {"wait-secs", required_argument, NULL, 'w'},
        {"timeout-ms", required_argument, NULL, 't'},   {"reply", no_argument, NULL, 'r'},
        {"linger-secs", required_argument, NULL, 'l'},  {"reply-delay-ms", required_argument, NULL, 'D'},
        {"previous-key", required_argument, NULL, 'P'}, {NULL, 0, NULL, 0},
    };
    opts_t o;
    const char *mode;
    struct sigaction sa;
    int c, rc;

    memset(&o, 0, sizeof o);
    o.persons = 1;
    o.size = 16;
    o.flush_secs = 60;
    o.wait_secs = 60;
    o.timeout_ms = 5000;
    if (argc < 2)
        return usage();
    mode = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'H': o.hub = optarg; break;
        case 'K': o.hub_key = optarg; break;
        case 'k': o.key = optarg; break;
        case 'P': o.previous_key = optarg; break;
        case 'd': o.data = optarg; break;
        case 'y': o.type = optarg; break;
        case 'i': o.id_file = optarg; break;
        case 'r': o.reply = 1; break;
        case 'o': {
            char *save = NULL, *tok;
            free(o.to_list);
            o.to_list = strdup(optarg);
            o.n_to = 0;
            for (tok = o.to_list ? strtok_r(o.to_list, ",", &save) : NULL; tok != NULL && o.n_to < MAX_TO;
                 tok = strtok_r(NULL, ",", &save))
                o.to[o.n_to++] = tok;
            break;
        }
        case 'p': if (!parse_long(optarg, 1, 9999, &o.persons)) return usage(); break;
        case 'c': if (!parse_long(optarg, 0, 10000000, &o.count)) return usage(); break;
        case 's': if (!parse_long(optarg, 1, 1 << 20, &o.size)) return usage(); break;
        case 'f': if (!parse_long(optarg, 0, 3600, &o.flush_secs)) return usage(); break;
        case 'w': if (!parse_long(optarg, 0, 3600, &o.wait_secs)) return usage(); break;
        case 'l': if (!parse_long(optarg, 0, 3600, &o.linger_secs)) return usage(); break;
        case 'D': if (!parse_long(optarg, 0, 600000, &o.reply_delay_ms)) return usage(); break;
        case 't': if (!parse_long(optarg, 100, 600000, &o.timeout_ms)) return usage(); break;
        default: free(o.to_list); return usage();
        }
    }
    if (o.key == NULL || o.data == NULL ||
        (strcmp(mode, "report") != 0 && (o.hub == NULL || o.hub_key == NULL))) {
        free(o.to_list);
        return usage();
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);

    if (strcmp(mode, "send") == 0)
        rc = do_send(&o);
    else if (strcmp(mode, "serve") == 0)
        rc = do_serve(&o);
    else if (strcmp(mode, "report") == 0)
        rc = do_report(&o);
    else
        rc = usage();
    free(o.to_list);
    return rc;
}
