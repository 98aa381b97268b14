/*
 * test_agent_net.c - the agent library's network paths against a fake hub.
 *
 * The fake hub is a CURVE ROUTER with a ZAP handler in a thread of this
 * process: it answers hello, directory, enroll and send the way the
 * protocol says, can be told to stay silent, refuse a key, misname the
 * organization, sign the directory with the wrong key, or follow a send with
 * a reply or a recipient's refusal.  Frames the test queues in its outbox go
 * to the connected agent; rejects it receives are recorded.  It also keeps a
 * small routing log (RFC 9162 tree computed here, independently of the
 * store) and answers checkpoint, proof and disclosure requests, honestly or
 * in one of the ways a dishonest hub could (log_mode).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "codebook.h"
#include "keys.h"
#include "mailbox.h"
#include "merkle.h"
#include "note.h"
#include "renkei/agent.h"
#include "seal.h"

enum on_send { SEND_ACCEPT = 0, SEND_REPLY, SEND_REFUSED_BY_RECIPIENT, SEND_SILENT, SEND_QUEUE_FULL };

#define SENDS_MAX 8
#define ACKS_MAX 64

#define OUTBOX_MAX 8
#define LOG_MAX 32

enum log_mode {
    LOG_HONEST = 0,
    LOG_FOREIGN_SIGNER, /* the checkpoint is signed by another key */
    LOG_ROLLED_BACK,    /* the checkpoint predates the message's entry */
    LOG_OTHER_ENTRY,    /* the disclosure gives another message's entry at the index */
    LOG_ALTERED_ENTRY,  /* the disclosed entry differs from the one in the tree */
    LOG_NO_DISCLOSURE,  /* disclosures are refused: the entry is not to be had */
};

typedef struct fake_hub {
    rk_identity_t *hub_id;
    const rk_identity_t *dir_signer;
    const rk_identity_t *peer; /* signs automatic replies ("power") */
    rk_dir_t dir;
    char welcome_org[RK_ID_MAX + 1]; /* "" : the org ZAP admitted */
    bool silent;
    bool refuse_key;
    uint8_t refused_curve[RK_KEY_LEN];
    int on_send;

    void *ctx, *router, *zap;
    char endpoint[128];
    pthread_t thread;
    atomic_bool stop;

    pthread_mutex_t mu; /* guards everything below */
    uint8_t rid[256];
    size_t rid_len;
    bool have_rid;
    uint8_t *out[OUTBOX_MAX];
    size_t out_len[OUTBOX_MAX];
    size_t nout;
    uint8_t *pre_result; /* one frame sent before the result of the next send */
    size_t pre_result_len;
    size_t nhello, ndir, nenroll, nsend;
    rk_reject_t rejects[8];
    size_t nrejects;
    uint8_t *sends[SENDS_MAX]; /* the frames of the first sends, as received */
    size_t send_len[SENDS_MAX];
    uint64_t acked[ACKS_MAX];
    size_t nacked;
    int log_mode;
    const rk_identity_t *foreign; /* LOG_FOREIGN_SIGNER signs with this */
    uint8_t *log[LOG_MAX];
    size_t log_len[LOG_MAX];
    size_t nlog;
} fake_hub;

typedef struct fixture {
    char dir[64];
    char path[160];
    rk_identity_t *x, *power, *gas, *forger;
    fake_hub hub;
} fixture;

/* ------------------------------------------------------------------ fake hub */

static void hub_send(fake_hub *h, const rk_hub_frame_t *f);

/* RFC 9162 2.1.1 MTH(D[lo:hi]), written from the RFC for this test. */
static void mth(uint8_t *const *e, const size_t *len, size_t lo, size_t hi, uint8_t out[TLOG_HASH_LEN])
{
    uint8_t l[TLOG_HASH_LEN], r[TLOG_HASH_LEN];
    size_t k = 1;
    if (hi - lo == 1) {
        tlog_leaf_hash(e[lo], len[lo], out);
        return;
    }
    while (k * 2 < hi - lo)
        k *= 2;
    mth(e, len, lo, lo + k, l);
    mth(e, len, lo + k, hi, r);
    tlog_node_hash(l, r, out);
}

/* RFC 9162 2.1.3.1 PATH(m, D[lo:hi]), leaf side first. */
static void audit_path(uint8_t *const *e, const size_t *len, size_t m, size_t lo, size_t hi,
                       uint8_t out[][RK_HASH_LEN], size_t *n)
{
    size_t k = 1;
    if (hi - lo == 1)
        return;
    while (k * 2 < hi - lo)
        k *= 2;
    if (m < k) {
        audit_path(e, len, m, lo, lo + k, out, n);
        mth(e, len, lo + k, hi, out[(*n)++]);
    } else {
        audit_path(e, len, m - k, lo + k, hi, out, n);
        mth(e, len, lo, lo + k, out[(*n)++]);
    }
}

static void log_add(fake_hub *h, const rk_log_entry_t *e)
{
    assert_true(h->nlog < LOG_MAX);
    assert_int_equal(rk_log_entry_encode(e, &h->log[h->nlog], &h->log_len[h->nlog]), RK_WIRE_OK);
    h->nlog++;
}

/* An ACCEPTED entry for core, after a few org events when the log is
 * empty; returns the log's size with it. */
static uint64_t log_accepted(fake_hub *h, const rk_core_t *core, uint64_t seq)
{
    rk_log_entry_t e;
    memset(&e, 0, sizeof e);
    while (h->nlog < 4) {
        e.event = RK_EV_ORG_REGISTERED;
        e.time_ms = 1000 + h->nlog;
        snprintf(e.from, sizeof e.from, "%s", h->nlog % 2 ? "city.x" : "power");
        snprintf(e.kind, sizeof e.kind, "%s", h->nlog % 2 ? "municipality" : "utility");
        log_add(h, &e);
    }
    memset(&e, 0, sizeof e);
    e.event = RK_EV_ACCEPTED;
    e.time_ms = 2000 + h->nlog;
    e.seq = seq;
    snprintf(e.from, sizeof e.from, "%s", core->from);
    snprintf(e.to, sizeof e.to, "%s", core->to);
    snprintf(e.type, sizeof e.type, "%s", core->type);
    e.has_msg_id = true;
    memcpy(e.msg_id, core->msg_id, RK_MSGID_LEN);
    e.outcome = RK_ST_ACCEPTED;
    e.size = (uint32_t)core->what_len;
    log_add(h, &e);
    return h->nlog;
}

static void hub_on_log_request(fake_hub *h, const rk_client_frame_t *cf)
{
    rk_hub_frame_t f;
    uint64_t size = h->nlog;
    memset(&f, 0, sizeof f);
    if (h->log_mode == LOG_ROLLED_BACK && size > 4)
        size = 4; /* back to before the first message */
    if (cf->kind == RK_CF_CHECKPOINT) {
        tlog_checkpoint_t cp = {.size = size, .time = 1700000000};
        char note[TLOG_CHECKPOINT_MAX];
        size_t len = 0;
        const rk_identity_t *signer = h->log_mode == LOG_FOREIGN_SIGNER ? h->foreign : h->hub_id;
        mth(h->log, h->log_len, 0, size, cp.root);
        f.kind = RK_HF_CHECKPOINT;
        f.u.checkpoint.req_id = cf->u.checkpoint.req_id;
        f.u.checkpoint.status = RK_ST_ACCEPTED;
        if (tlog_checkpoint_sign("renkei-hub", &cp, "renkei-hub", signer->sign_sk, note, sizeof note, &len) != TLOG_OK)
            return;
        f.u.checkpoint.note = note; /* borrowed for encoding */
        hub_send(h, &f);
        return;
    }
    if (cf->kind == RK_CF_PROOF) {
        f.kind = RK_HF_PROOF;
        f.u.proof.req_id = cf->u.proof.req_id;
        f.u.proof.index = cf->u.proof.index;
        f.u.proof.tree_size = cf->u.proof.tree_size;
        if (cf->u.proof.old_size != 0 || cf->u.proof.index >= cf->u.proof.tree_size ||
            cf->u.proof.tree_size > h->nlog) {
            f.u.proof.status = RK_ST_NOT_FOUND;
        } else {
            f.u.proof.status = RK_ST_ACCEPTED;
            audit_path(h->log, h->log_len, cf->u.proof.index, 0, cf->u.proof.tree_size, f.u.proof.hash,
                       &f.u.proof.n);
        }
        hub_send(h, &f);
        return;
    }
    /* Disclose: every entry but the org events. */
    f.kind = RK_HF_LOG;
    f.u.log.req_id = cf->u.disclose.req_id;
    f.u.log.tree_size = h->nlog;
    if (h->log_mode == LOG_NO_DISCLOSURE) {
        f.u.log.status = RK_ST_FORBIDDEN;
        hub_send(h, &f);
        return;
    }
    f.u.log.status = RK_ST_ACCEPTED;
    f.u.log.index = calloc(LOG_MAX, sizeof *f.u.log.index);
    f.u.log.entry = calloc(LOG_MAX, sizeof *f.u.log.entry);
    f.u.log.entry_len = calloc(LOG_MAX, sizeof *f.u.log.entry_len);
    for (size_t i = 4; i < h->nlog && f.u.log.index != NULL && f.u.log.entry != NULL && f.u.log.entry_len != NULL;
         i++) {
        rk_log_entry_t e;
        size_t n = f.u.log.n;
        if (rk_log_entry_decode(h->log[i], h->log_len[i], &e, NULL, 0) != RK_WIRE_OK)
            continue;
        if (h->log_mode == LOG_OTHER_ENTRY)
            e.msg_id[0] ^= 1;
        else if (h->log_mode == LOG_ALTERED_ENTRY)
            e.time_ms += 1;
        if (rk_log_entry_encode(&e, &f.u.log.entry[n], &f.u.log.entry_len[n]) != RK_WIRE_OK)
            continue;
        f.u.log.index[n] = i;
        f.u.log.n = n + 1;
    }
    hub_send(h, &f);
    rk_hub_frame_clear(&f);
}

static void hub_send(fake_hub *h, const rk_hub_frame_t *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (rk_hub_frame_encode(f, &buf, &len) != RK_WIRE_OK)
        return;
    zmq_send(h->router, h->rid, h->rid_len, ZMQ_SNDMORE);
    zmq_send(h->router, buf, len, 0);
    free(buf);
}

static void hub_zap(fake_hub *h)
{
    char frames[7][256];
    size_t lens[7];
    int n = 0, more = 1;
    size_t ml = sizeof more;
    const char *user = "";
    bool ok = false;

    while (more && n < 7) {
        int r = zmq_recv(h->zap, frames[n], sizeof frames[n], 0);
        lens[n] = r < 0 ? 0 : (size_t)r;
        n++;
        zmq_getsockopt(h->zap, ZMQ_RCVMORE, &more, &ml);
    }
    if (n >= 7 && lens[6] == RK_KEY_LEN) {
        for (size_t i = 0; i < h->dir.n; i++) {
            rk_pubkey_t pk;
            if (rk_pubkey_from_sign(h->dir.orgs[i].id, h->dir.orgs[i].sign_key, &pk) == RK_KEYS_OK &&
                memcmp(pk.curve_pk, frames[6], RK_KEY_LEN) == 0) {
                user = h->dir.orgs[i].id;
                ok = true;
            }
        }
        if (h->refuse_key && memcmp(h->refused_curve, frames[6], RK_KEY_LEN) == 0)
            ok = false;
    }
    zmq_send(h->zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(h->zap, frames[1], lens[1], ZMQ_SNDMORE);
    zmq_send(h->zap, ok ? "200" : "400", 3, ZMQ_SNDMORE);
    zmq_send(h->zap, ok ? "OK" : "not registered", ok ? 2 : 14, ZMQ_SNDMORE);
    zmq_send(h->zap, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(h->zap, "", 0, 0);
}

static void hub_on_send(fake_hub *h, rk_envelope_t *env)
{
    rk_core_t core;
    rk_hub_frame_t f;
    static uint64_t seq = 100;

    if (rk_core_decode(env->core, env->core_len, &core, NULL, 0) != RK_WIRE_OK)
        return;
    h->nsend++;
    if (h->on_send == SEND_SILENT) {
        rk_core_clear(&core);
        return;
    }
    if (h->pre_result != NULL) {
        zmq_send(h->router, h->rid, h->rid_len, ZMQ_SNDMORE);
        zmq_send(h->router, h->pre_result, h->pre_result_len, 0);
        free(h->pre_result);
        h->pre_result = NULL;
    }
    memset(&f, 0, sizeof f);
    f.kind = RK_HF_RESULT;
    f.u.result.has_msg_id = true;
    memcpy(f.u.result.msg_id, core.msg_id, RK_MSGID_LEN);
    f.u.result.status = h->on_send == SEND_QUEUE_FULL ? RK_ST_QUEUE_FULL : RK_ST_ACCEPTED;
    f.u.result.seq = h->on_send == SEND_QUEUE_FULL ? 0 : ++seq;
    if (f.u.result.status == RK_ST_ACCEPTED)
        f.u.result.log_size = log_accepted(h, &core, f.u.result.seq);
    if (h->on_send == SEND_QUEUE_FULL)
        snprintf(f.u.result.detail, sizeof f.u.result.detail, "power's queue is full");
    hub_send(h, &f);

    if (h->on_send == SEND_REFUSED_BY_RECIPIENT) {
        memset(&f, 0, sizeof f);
        f.kind = RK_HF_RESULT;
        f.u.result.has_msg_id = true;
        memcpy(f.u.result.msg_id, core.msg_id, RK_MSGID_LEN);
        f.u.result.status = RK_ST_REFUSED_BY_RECIPIENT;
        f.u.result.cause = RK_ST_UNDECRYPTABLE;
        snprintf(f.u.result.peer, sizeof f.u.result.peer, "%s", core.to);
        snprintf(f.u.result.detail, sizeof f.u.result.detail, "the payload does not decrypt");
        hub_send(h, &f);
    } else if (h->on_send == SEND_REPLY && h->peer != NULL) {
        const rk_dir_entry_t *to = rk_dir_find(&h->dir, core.from);
        uint8_t reply_id[RK_MSGID_LEN];
        static const char answer[] = "{\"result\":\"done\"}";
        rk_seal_params p = {.type = core.type, .msg_id = reply_id, .reply_to = core.msg_id,
                            .time_ms = 1, .who = env->who};
        randombytes_buf(reply_id, sizeof reply_id);
        memset(&f, 0, sizeof f);
        f.kind = RK_HF_DELIVER;
        f.u.deliver.seq = ++seq;
        if (to != NULL && rk_seal_build(h->peer, to, &p, (const uint8_t *)answer, strlen(answer),
                                        &f.u.deliver.envelope, NULL, 0) == RK_AGENT_OK) {
            hub_send(h, &f);
            rk_envelope_clear(&f.u.deliver.envelope);
        }
    }
    rk_core_clear(&core);
}

static void hub_on_frame(fake_hub *h, const uint8_t *buf, size_t len, const char *user)
{
    rk_client_frame_t cf;
    rk_hub_frame_t f;

    if (rk_client_frame_decode(buf, len, &cf, NULL, 0) != RK_WIRE_OK)
        return;
    memset(&f, 0, sizeof f);
    switch (cf.kind) {
    case RK_CF_HELLO:
        h->nhello++;
        if (h->silent)
            break;
        f.kind = RK_HF_WELCOME;
        snprintf(f.u.welcome.org, sizeof f.u.welcome.org, "%s", h->welcome_org[0] ? h->welcome_org : user);
        for (size_t i = 0; i < h->dir.n; i++)
            if (strcmp(h->dir.orgs[i].id, user) == 0)
                snprintf(f.u.welcome.kind, sizeof f.u.welcome.kind, "%s", h->dir.orgs[i].kind);
        f.u.welcome.max_payload = 65536;
        hub_send(h, &f);
        break;
    case RK_CF_DIRECTORY:
        h->ndir++;
        if (rk_dir_seal(&h->dir, h->dir_signer->sign_sk, cf.u.directory.req_id, &f) == RK_WIRE_OK) {
            hub_send(h, &f);
            rk_hub_frame_clear(&f);
        }
        break;
    case RK_CF_ENROLL:
        h->nenroll++;
        f.kind = RK_HF_ENROLLED;
        f.u.enrolled.req_id = cf.u.enroll.req_id;
        f.u.enrolled.status = RK_ST_ACCEPTED;
        randombytes_buf(f.u.enrolled.code, RK_CODE_LEN);
        hub_send(h, &f);
        break;
    case RK_CF_SEND:
        if (h->nsend < SENDS_MAX && (h->sends[h->nsend] = malloc(len)) != NULL) {
            memcpy(h->sends[h->nsend], buf, len);
            h->send_len[h->nsend] = len;
        }
        hub_on_send(h, &cf.u.send);
        break;
    case RK_CF_ACK:
        for (size_t i = 0; i < cf.u.ack.n && h->nacked < ACKS_MAX; i++)
            h->acked[h->nacked++] = cf.u.ack.seq[i];
        break;
    case RK_CF_REJECT:
        if (h->nrejects < 8)
            h->rejects[h->nrejects++] = cf.u.reject;
        break;
    case RK_CF_CHECKPOINT:
    case RK_CF_PROOF:
    case RK_CF_DISCLOSE:
        hub_on_log_request(h, &cf);
        break;
    default:
        break;
    }
    rk_client_frame_clear(&cf);
}

static void *hub_main(void *arg)
{
    fake_hub *h = arg;
    while (!atomic_load(&h->stop)) {
        zmq_pollitem_t items[2] = {{h->router, 0, ZMQ_POLLIN, 0}, {h->zap, 0, ZMQ_POLLIN, 0}};
        pthread_mutex_lock(&h->mu);
        if (h->have_rid) {
            for (size_t i = 0; i < h->nout; i++) {
                zmq_send(h->router, h->rid, h->rid_len, ZMQ_SNDMORE);
                zmq_send(h->router, h->out[i], h->out_len[i], 0);
                free(h->out[i]);
            }
            h->nout = 0;
        }
        pthread_mutex_unlock(&h->mu);
        if (zmq_poll(items, 2, 20) <= 0)
            continue;
        if (items[1].revents & ZMQ_POLLIN)
            hub_zap(h);
        if (items[0].revents & ZMQ_POLLIN) {
            zmq_msg_t rid, body;
            const char *user;
            zmq_msg_init(&rid);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&rid, h->router, 0) >= 0 && zmq_msg_recv(&body, h->router, 0) >= 0) {
                user = zmq_msg_gets(&body, "User-Id");
                pthread_mutex_lock(&h->mu);
                if (zmq_msg_size(&rid) <= sizeof h->rid) {
                    memcpy(h->rid, zmq_msg_data(&rid), zmq_msg_size(&rid));
                    h->rid_len = zmq_msg_size(&rid);
                    h->have_rid = true;
                }
                hub_on_frame(h, zmq_msg_data(&body), zmq_msg_size(&body), user ? user : "");
                pthread_mutex_unlock(&h->mu);
            }
            zmq_msg_close(&rid);
            zmq_msg_close(&body);
        }
    }
    return NULL;
}

static void hub_add_org(fake_hub *h, const rk_identity_t *id, const char *kind)
{
    rk_dir_entry_t *e;
    h->dir.orgs = realloc(h->dir.orgs, (h->dir.n + 1) * sizeof *h->dir.orgs);
    assert_non_null(h->dir.orgs);
    e = &h->dir.orgs[h->dir.n++];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id->pub.name);
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    e->active = true;
    memcpy(e->sign_key, id->pub.sign_pk, RK_KEY_LEN);
}

static void hub_start(fake_hub *h)
{
    int one = 1;
    size_t len = sizeof h->endpoint;
    h->ctx = zmq_ctx_new();
    h->zap = zmq_socket(h->ctx, ZMQ_REP);
    assert_int_equal(zmq_bind(h->zap, "inproc://zeromq.zap.01"), 0);
    h->router = zmq_socket(h->ctx, ZMQ_ROUTER);
    assert_int_equal(zmq_setsockopt(h->router, ZMQ_CURVE_SERVER, &one, sizeof one), 0);
    assert_int_equal(zmq_setsockopt(h->router, ZMQ_CURVE_SECRETKEY, h->hub_id->curve_sk, RK_KEY_LEN), 0);
    assert_int_equal(zmq_bind(h->router, "tcp://127.0.0.1:*"), 0);
    assert_int_equal(zmq_getsockopt(h->router, ZMQ_LAST_ENDPOINT, h->endpoint, &len), 0);
    assert_int_equal(pthread_create(&h->thread, NULL, hub_main, h), 0);
}

static void hub_stop(fake_hub *h)
{
    int zero = 0;
    if (h->ctx == NULL)
        return;
    atomic_store(&h->stop, true);
    pthread_join(h->thread, NULL);
    zmq_setsockopt(h->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(h->router);
    zmq_close(h->zap);
    zmq_ctx_term(h->ctx);
    h->ctx = NULL;
    for (size_t i = 0; i < h->nout; i++)
        free(h->out[i]);
    for (size_t i = 0; i < SENDS_MAX; i++)
        free(h->sends[i]);
    for (size_t i = 0; i < h->nlog; i++)
        free(h->log[i]);
    free(h->pre_result);
}

/* Queues any frame for the connected agent. */
static void hub_queue_frame(fake_hub *h, const rk_hub_frame_t *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(rk_hub_frame_encode(f, &buf, &len), RK_WIRE_OK);
    pthread_mutex_lock(&h->mu);
    assert_true(h->nout < OUTBOX_MAX);
    h->out[h->nout] = buf;
    h->out_len[h->nout++] = len;
    pthread_mutex_unlock(&h->mu);
}

/* Queues a notice about msg_id. */
static void hub_queue_notice(fake_hub *h, uint64_t seq, const uint8_t msg_id[RK_MSGID_LEN], rk_status st)
{
    rk_hub_frame_t f;
    memset(&f, 0, sizeof f);
    f.kind = RK_HF_NOTICE;
    f.u.notice.seq = seq;
    memcpy(f.u.notice.msg_id, msg_id, RK_MSGID_LEN);
    f.u.notice.status = st;
    snprintf(f.u.notice.peer, sizeof f.u.notice.peer, "power");
    f.u.notice.time_ms = 1700000000000ull;
    f.u.notice.msg_seq = 101;
    hub_queue_frame(h, &f);
}

/* The deadline of every wait for something the agent or the fake hub is
 * about to do: generous, so that a slow or loaded machine passes; a wait
 * ends as soon as what it waits for happened. */
#define WAIT_MS 10000

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How many times seq was acknowledged, waiting up to wait_ms for at least
 * `want`. */
static size_t hub_acks_of(fake_hub *h, uint64_t seq, size_t want, int wait_ms)
{
    size_t n = 0;
    for (long long deadline = mono_ms() + wait_ms;;) {
        n = 0;
        pthread_mutex_lock(&h->mu);
        for (size_t i = 0; i < h->nacked; i++)
            n += h->acked[i] == seq;
        pthread_mutex_unlock(&h->mu);
        if (n >= want || mono_ms() >= deadline)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    return n;
}

static void hub_set_on_send(fake_hub *h, int mode)
{
    pthread_mutex_lock(&h->mu);
    h->on_send = mode;
    pthread_mutex_unlock(&h->mu);
}

/* Queues a deliver frame for the connected agent (or, with pre, for just
 * before the result of its next send). */
static void hub_queue_deliver_seq(fake_hub *h, const rk_envelope_t *env, uint64_t seq, bool first_contact,
                                  bool pre)
{
    rk_hub_frame_t f;
    uint8_t *buf = NULL;
    size_t len = 0;
    memset(&f, 0, sizeof f);
    f.kind = RK_HF_DELIVER;
    f.u.deliver.envelope = *env;
    f.u.deliver.first_contact = first_contact;
    f.u.deliver.seq = seq;
    assert_int_equal(rk_hub_frame_encode(&f, &buf, &len), RK_WIRE_OK);
    pthread_mutex_lock(&h->mu);
    if (pre) {
        free(h->pre_result);
        h->pre_result = buf;
        h->pre_result_len = len;
    } else {
        assert_true(h->nout < OUTBOX_MAX);
        h->out[h->nout] = buf;
        h->out_len[h->nout++] = len;
    }
    pthread_mutex_unlock(&h->mu);
}

/* The same with seq 7. */
static void hub_queue_deliver(fake_hub *h, const rk_envelope_t *env, bool first_contact, bool pre)
{
    hub_queue_deliver_seq(h, env, 7, first_contact, pre);
}

static size_t hub_rejects(fake_hub *h, int wait_ms, rk_reject_t *first)
{
    size_t n = 0;
    for (long long deadline = mono_ms() + wait_ms;;) {
        pthread_mutex_lock(&h->mu);
        n = h->nrejects;
        if (n > 0 && first != NULL)
            *first = h->rejects[0];
        pthread_mutex_unlock(&h->mu);
        if (n > 0 || mono_ms() >= deadline)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    return n;
}

static size_t hub_count(fake_hub *h, const size_t *counter)
{
    size_t n;
    pthread_mutex_lock(&h->mu);
    n = *counter;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* ------------------------------------------------------------------ fixture */

static void save(fixture *f, const rk_identity_t *id, const char *name)
{
    char prefix[128], why[256] = "";
    snprintf(prefix, sizeof prefix, "%s/%s", f->dir, name);
    if (rk_identity_save(id, prefix, why, sizeof why) != RK_KEYS_OK)
        fail_msg("saving %s: %s", name, why);
}

static const char *path(fixture *f, const char *name)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    return f->path;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/renkei-agent-net-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    f->hub.hub_id = rk_identity_generate("hub");
    f->x = rk_identity_generate("city.x");
    f->power = rk_identity_generate("power");
    f->gas = rk_identity_generate("gas");
    f->forger = rk_identity_generate("power"); /* same name, another key */
    if (!f->hub.hub_id || !f->x || !f->power || !f->gas || !f->forger)
        return -1;
    save(f, f->hub.hub_id, "hub");
    save(f, f->x, "city.x");
    save(f, f->gas, "gas"); /* gas.pub: a public key that is not the hub's */
    f->hub.dir_signer = f->hub.hub_id;
    f->hub.foreign = f->gas;
    f->hub.peer = f->power;
    f->hub.dir.time_ms = 1;
    pthread_mutex_init(&f->hub.mu, NULL);
    hub_add_org(&f->hub, f->x, "municipality");
    hub_add_org(&f->hub, f->power, "utility");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];
    hub_stop(&f->hub);
    pthread_mutex_destroy(&f->hub.mu);
    rk_dir_clear(&f->hub.dir);
    rk_identity_destroy(&f->hub.hub_id);
    rk_identity_destroy(&f->x);
    rk_identity_destroy(&f->power);
    rk_identity_destroy(&f->gas);
    rk_identity_destroy(&f->forger);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static rk_agent_err open_x(fixture *f, const char *hub_pub, int timeout_ms, rk_agent_t **a, char *why,
                           size_t why_len)
{
    rk_agent_config cfg;
    char hub_path[160], key_path[160], data_path[160];
    snprintf(hub_path, sizeof hub_path, "%s", path(f, hub_pub));
    snprintf(key_path, sizeof key_path, "%s", path(f, "city.x.key"));
    snprintf(data_path, sizeof data_path, "%s", path(f, "data-x"));
    rk_agent_config_init(&cfg);
    cfg.endpoint = f->hub.endpoint;
    cfg.hub_pub = hub_path;
    cfg.key = key_path;
    cfg.data_dir = data_path;
    cfg.timeout_ms = timeout_ms;
    return rk_agent_open(&cfg, a, why, why_len);
}

static const uint8_t WHO[RK_CODE_LEN] = {0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
                                         0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf};

/* An envelope from `from` to city.x, encrypted for `to_entry`'s key. */
static void envelope_to_x(fixture *f, const rk_identity_t *from, const rk_identity_t *encrypt_for,
                          uint8_t msg_id[RK_MSGID_LEN], rk_envelope_t *env)
{
    rk_dir_entry_t e;
    rk_seal_params p = {.type = "move.out.notice", .msg_id = msg_id, .time_ms = 1, .who = WHO};
    memset(&e, 0, sizeof e);
    snprintf(e.id, sizeof e.id, "city.x");
    memcpy(e.sign_key, encrypt_for->pub.sign_pk, RK_KEY_LEN);
    randombytes_buf(msg_id, RK_MSGID_LEN);
    (void)f;
    assert_int_equal(rk_seal_build(from, &e, &p, (const uint8_t *)"{\"n\":1}", 7, env, NULL, 0), RK_AGENT_OK);
}

/* The next event handed out is the message msg_id; it is marked done. */
static void next_is(rk_agent_t *a, const uint8_t msg_id[RK_MSGID_LEN], const char *what)
{
    rk_event *ev = NULL;
    char why[512] = "";
    if (rk_agent_recv(a, WAIT_MS, &ev, why, sizeof why) != RK_AGENT_OK)
        fail_msg("recv failed: %s", why);
    if (ev->kind != RK_EVENT_MESSAGE || memcmp(ev->msg_id, msg_id, RK_MSGID_LEN) != 0)
        fail_msg("%s", what);
    assert_int_equal(rk_agent_done(a, ev, why, sizeof why), RK_AGENT_OK);
    rk_event_free(&ev);
}

/* ------------------------------------------------------------------ tests */

/* A registered key is admitted: the agent learns who it is and holds the
 * hub-signed directory. */
static void test_open_welcome_and_directory(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    char why[512] = "";
    const rk_dir_t *dir;

    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 5000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    assert_string_equal(rk_agent_org(a), "city.x");
    assert_string_equal(rk_agent_kind(a), "municipality");
    dir = rk_agent_directory(a);
    assert_non_null(dir);
    assert_int_equal(dir->n, 2);
    assert_non_null(rk_dir_find(dir, "power"));
    rk_agent_close(&a);
    assert_null(a);
}

/* A hub that never answers: the specific "no answer" message, on time. */
static void test_no_answer(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    char why[512] = "";
    struct timespec t0, t1;
    double took;

    f->hub.silent = true;
    hub_start(&f->hub);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(open_x(f, "hub.pub", 500, &a, why, sizeof why), RK_AGENT_ENOANSWER);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_null(a);
    assert_non_null(strstr(why, "no answer from the hub at tcp://127.0.0.1:"));
    assert_non_null(strstr(why, "within 0.5 s: is renkei-hub running there?"));
    assert_true(took >= 0.45 && took < 2.0);
}

/* The hub's ZAP handler refuses the key. */
static void test_key_refused(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    char why[512] = "";

    f->hub.refuse_key = true;
    memcpy(f->hub.refused_curve, f->x->pub.curve_pk, RK_KEY_LEN);
    hub_start(&f->hub);
    assert_int_equal(open_x(f, "hub.pub", 3000, &a, why, sizeof why), RK_AGENT_EKEYREFUSED);
    assert_non_null(strstr(why, "the hub refused this key: organization not registered or suspended"));
    assert_null(a);
}

/* The agent was given the wrong hub public key. */
static void test_wrong_hub_key(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    char why[512] = "";

    hub_start(&f->hub);
    assert_int_equal(open_x(f, "gas.pub", 3000, &a, why, sizeof why), RK_AGENT_EHANDSHAKE);
    assert_non_null(strstr(why, "is --hub-key"));
    assert_non_null(strstr(why, "the hub's public key?"));
    assert_null(a);
}

/* The welcome names another organization than the key file. */
static void test_welcome_names_other_org(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    char why[512] = "";

    snprintf(f->hub.welcome_org, sizeof f->hub.welcome_org, "power");
    hub_start(&f->hub);
    assert_int_equal(open_x(f, "hub.pub", 3000, &a, why, sizeof why), RK_AGENT_EPROTO);
    assert_non_null(strstr(why, "admitted this key as organization power"));
    assert_null(a);
}

/* A directory not signed by the hub's key is refused. */
static void test_forged_directory(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    char why[512] = "";

    f->hub.dir_signer = f->gas;
    hub_start(&f->hub);
    assert_int_equal(open_x(f, "hub.pub", 3000, &a, why, sizeof why), RK_AGENT_EDIRECTORY);
    assert_non_null(strstr(why, "not signed by the hub key"));
    assert_null(a);
}

/* Send, accepted; a delivery that arrives before the result is kept for
 * recv; the reply is matched by reply_to and decrypted. */
static void test_send_reply_and_queueing(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    rk_envelope_t early, later;
    uint8_t early_id[RK_MSGID_LEN], msg_id[RK_MSGID_LEN], later_id[RK_MSGID_LEN];
    rk_result_t result;
    rk_event *ev = NULL;
    char why[512] = "";
    rk_outgoing m = {.to = "power", .type = "utility.supply.stop", .code = WHO,
                     .payload = (const uint8_t *)"{\"a\":1}", .payload_len = 7};

    f->hub.on_send = SEND_REPLY;
    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 5000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    envelope_to_x(f, f->power, f->x, early_id, &early);
    hub_queue_deliver(&f->hub, &early, true, true);
    rk_envelope_clear(&early);

    if (rk_agent_send(a, &m, msg_id, &result, why, sizeof why) != RK_AGENT_OK)
        fail_msg("send failed: %s", why);
    assert_int_equal(result.status, RK_ST_ACCEPTED);
    assert_int_equal(result.seq, 101);
    assert_memory_equal(result.msg_id, msg_id, RK_MSGID_LEN);

    if (rk_agent_wait_reply(a, msg_id, 3000, &ev, why, sizeof why) != RK_AGENT_OK)
        fail_msg("no reply: %s", why);
    assert_int_equal(ev->kind, RK_EVENT_MESSAGE);
    assert_string_equal(ev->from, "power");
    assert_true(ev->has_reply_to);
    assert_memory_equal(ev->reply_to, msg_id, RK_MSGID_LEN);
    assert_memory_equal(ev->code, WHO, RK_CODE_LEN);
    assert_int_equal(ev->payload_len, strlen("{\"result\":\"done\"}"));
    assert_memory_equal(ev->payload, "{\"result\":\"done\"}", ev->payload_len);
    rk_event_free(&ev);
    assert_null(ev);

    /* The early delivery was not lost. */
    if (rk_agent_recv(a, 1000, &ev, why, sizeof why) != RK_AGENT_OK)
        fail_msg("early delivery lost: %s", why);
    assert_int_equal(ev->kind, RK_EVENT_MESSAGE);
    assert_memory_equal(ev->msg_id, early_id, RK_MSGID_LEN);
    assert_true(ev->first_contact);
    assert_memory_equal(ev->payload, "{\"n\":1}", 7);
    rk_event_free(&ev);
    /* Nothing twice: a later message is what comes next. */
    envelope_to_x(f, f->power, f->x, later_id, &later);
    hub_queue_deliver_seq(&f->hub, &later, 9, false, false);
    rk_envelope_clear(&later);
    next_is(a, later_id, "the reply or the early delivery was handed out twice");
    rk_agent_close(&a);
}

/* Sends one message, then a trailing entry or two land on the log (the
 * first contact, another message), so that the checkpoint is larger than
 * the log was at acceptance.  Returns the receipt's result. */
static rk_agent_err receipt_after_send(fixture *f, int mode, rk_receipt *r, char *why, size_t why_len)
{
    rk_agent_t *a = NULL;
    uint8_t msg_id[RK_MSGID_LEN];
    rk_result_t result;
    rk_outgoing m = {.to = "power", .type = "utility.supply.stop", .code = WHO,
                     .payload = (const uint8_t *)"{\"a\":1}", .payload_len = 7};
    rk_agent_err err;

    f->hub.log_mode = mode;
    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 5000, &a, why, why_len) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    if (rk_agent_send(a, &m, msg_id, &result, why, why_len) != RK_AGENT_OK)
        fail_msg("send failed: %s", why);
    assert_int_equal(result.log_size, 5);
    if (rk_agent_send(a, &m, (uint8_t[RK_MSGID_LEN]){0}, &result, why, why_len) != RK_AGENT_OK)
        fail_msg("second send failed: %s", why);
    err = rk_agent_receipt(a, msg_id, r, why, why_len);
    assert_memory_equal(r->msg_id, msg_id, RK_MSGID_LEN);
    rk_agent_close(&a);
    return err;
}

/* An honest hub: the receipt proves the message's entry (index 4 of a
 * tree of 6) under the hub-signed checkpoint. */
static void test_receipt_verified(void **state)
{
    fixture *f = *state;
    rk_receipt r;
    char why[512] = "";
    rk_agent_err err = receipt_after_send(f, LOG_HONEST, &r, why, sizeof why);
    if (err != RK_AGENT_OK)
        fail_msg("receipt: %s", why);
    assert_true(r.included);
    assert_int_equal(r.index, 4);
    assert_int_equal(r.tree_size, 6);
    assert_int_equal(r.n, 2);
    assert_non_null(r.checkpoint);
    assert_non_null(r.entry);
    assert_string_equal(r.entry_source, "disclosure");
    assert_int_equal(r.decoded.event, RK_EV_ACCEPTED);
    assert_string_equal(r.decoded.from, "city.x");
    rk_receipt_clear(&r);
    assert_null(r.checkpoint);
}

/* Each way a hub could cheat is caught, and said. */
static void test_receipt_catches_a_cheating_hub(void **state)
{
    static const struct {
        int mode;
        rk_agent_err err;
        const char *says;
    } cases[] = {
        {LOG_FOREIGN_SIGNER, RK_AGENT_EPROOF, "does not verify"},
        {LOG_ROLLED_BACK, RK_AGENT_EPROOF, "rolled back"},
        {LOG_OTHER_ENTRY, RK_AGENT_EPROOF, "with another message id"},
        {LOG_ALTERED_ENTRY, RK_AGENT_EPROOF, "does not lead to the root"},
        {LOG_NO_DISCLOSURE, RK_AGENT_EUNVERIFIED, "entry not provided by the hub"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture *f = *state;
        rk_receipt r;
        char why[512] = "";
        rk_agent_err err;
        if (i > 0) {
            assert_int_equal(teardown(state), 0);
            assert_int_equal(setup(state), 0);
            f = *state;
        }
        err = receipt_after_send(f, cases[i].mode, &r, why, sizeof why);
        if (err != cases[i].err || strstr(why, cases[i].says) == NULL)
            fail_msg("case %zu: %s (%s), expected %s and \"%s\"", i, rk_agent_strerror(err), why,
                     rk_agent_strerror(cases[i].err), cases[i].says);
        assert_false(r.included);
        rk_receipt_clear(&r);
    }
}

/* The recipient's refusal reaches wait_reply as a result naming the
 * message. */
static void test_refused_by_recipient(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    uint8_t msg_id[RK_MSGID_LEN];
    rk_result_t result;
    rk_event *ev = NULL;
    char why[512] = "";
    rk_outgoing m = {.to = "power", .type = "utility.supply.stop", .code = WHO,
                     .payload = (const uint8_t *)"{}", .payload_len = 2};

    f->hub.on_send = SEND_REFUSED_BY_RECIPIENT;
    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 5000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    assert_int_equal(rk_agent_send(a, &m, msg_id, &result, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(rk_agent_wait_reply(a, msg_id, 3000, &ev, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(ev->kind, RK_EVENT_RESULT);
    assert_int_equal(ev->result.status, RK_ST_REFUSED_BY_RECIPIENT);
    assert_int_equal(ev->result.cause, RK_ST_UNDECRYPTABLE);
    assert_string_equal(ev->result.peer, "power");
    rk_event_free(&ev);
    rk_agent_close(&a);
}

/* A delivery whose signature is not the sender's is refused to the hub as
 * BAD_SIGNATURE and surfaces only as a REFUSED event, without payload. */
static void test_bad_signature_rejected(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    rk_envelope_t env;
    uint8_t id[RK_MSGID_LEN];
    rk_reject_t rj;
    rk_event *ev = NULL;
    char why[512] = "";

    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 5000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    envelope_to_x(f, f->forger, f->x, id, &env); /* claims "power", other key */
    hub_queue_deliver(&f->hub, &env, false, false);
    rk_envelope_clear(&env);

    assert_int_equal(rk_agent_recv(a, 3000, &ev, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(ev->kind, RK_EVENT_REFUSED);
    assert_int_equal(ev->result.status, RK_ST_BAD_SIGNATURE);
    assert_string_equal(ev->from, "power");
    assert_null(ev->payload);
    rk_event_free(&ev);
    assert_int_equal(hub_rejects(&f->hub, WAIT_MS, &rj), 1);
    assert_string_equal(rj.to, "power");
    assert_memory_equal(rj.msg_id, id, RK_MSGID_LEN);
    assert_int_equal(rj.reason, RK_ST_BAD_SIGNATURE);
    /* It looked again at the directory before refusing (a key may change). */
    assert_true(hub_count(&f->hub, &f->hub.ndir) >= 2);
    rk_agent_close(&a);
}

/* A payload encrypted for another key is refused as UNDECRYPTABLE. */
static void test_undecryptable_rejected(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    rk_envelope_t env;
    uint8_t id[RK_MSGID_LEN];
    rk_reject_t rj;
    rk_event *ev = NULL;
    char why[512] = "";

    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 5000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    envelope_to_x(f, f->power, f->gas, id, &env); /* encrypted for gas's key */
    hub_queue_deliver(&f->hub, &env, false, false);
    rk_envelope_clear(&env);

    assert_int_equal(rk_agent_recv(a, 3000, &ev, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(ev->kind, RK_EVENT_REFUSED);
    assert_int_equal(ev->result.status, RK_ST_UNDECRYPTABLE);
    rk_event_free(&ev);
    assert_int_equal(hub_rejects(&f->hub, WAIT_MS, &rj), 1);
    assert_int_equal(rj.reason, RK_ST_UNDECRYPTABLE);
    assert_memory_equal(rj.msg_id, id, RK_MSGID_LEN);
    rk_agent_close(&a);
}

/* Sending to an organization missing from the directory looks again once,
 * then refuses as UNKNOWN_RECIPIENT without sending anything. */
static void test_unknown_recipient(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    uint8_t msg_id[RK_MSGID_LEN];
    rk_result_t result;
    char why[512] = "";
    rk_outgoing m = {.to = "gas", .type = "utility.supply.stop", .code = WHO,
                     .payload = (const uint8_t *)"{}", .payload_len = 2};

    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 5000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    assert_int_equal(rk_agent_send(a, &m, msg_id, &result, why, sizeof why), RK_AGENT_EREFUSED);
    assert_int_equal(result.status, RK_ST_UNKNOWN_RECIPIENT);
    assert_int_equal(hub_count(&f->hub, &f->hub.ndir), 2);
    assert_int_equal(hub_count(&f->hub, &f->hub.nsend), 0);
    rk_agent_close(&a);
}

/* Enrolling records the hub's code; enrolling again asks the hub nothing;
 * a delivery under that code names the person. */
static void test_enroll_then_delivery_names_person(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    uint8_t code[RK_CODE_LEN], again[RK_CODE_LEN], id[RK_MSGID_LEN];
    bool existed = true;
    rk_envelope_t env;
    rk_event *ev = NULL;
    char why[512] = "";

    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 5000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    if (rk_agent_enroll(a, "TEST-0001", code, &existed, NULL, why, sizeof why) != RK_AGENT_OK)
        fail_msg("enroll failed: %s", why);
    assert_false(existed);
    assert_int_equal(rk_agent_enroll(a, "TEST-0001", again, &existed, NULL, why, sizeof why), RK_AGENT_OK);
    assert_true(existed);
    assert_memory_equal(again, code, RK_CODE_LEN);
    assert_int_equal(hub_count(&f->hub, &f->hub.nenroll), 1);
    assert_int_equal(rk_agent_lookup(a, "TEST-0001", again, NULL, 0), RK_AGENT_OK);
    assert_memory_equal(again, code, RK_CODE_LEN);

    /* A delivery under the enrolled code carries the person locally. */
    assert_int_equal(rk_agent_bind(a, "TEST-0002", WHO, NULL, 0), RK_AGENT_OK);
    envelope_to_x(f, f->power, f->x, id, &env);
    hub_queue_deliver(&f->hub, &env, false, false);
    rk_envelope_clear(&env);
    assert_int_equal(rk_agent_recv(a, 3000, &ev, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(ev->kind, RK_EVENT_MESSAGE);
    assert_non_null(ev->person);
    assert_string_equal(ev->person, "TEST-0002");
    rk_event_free(&ev);
    rk_agent_close(&a);
}

/* ------------------------------------------------------------------ store-and-forward */

static rk_agent_err open_x_offline(fixture *f, rk_agent_t **a, char *why, size_t why_len)
{
    rk_agent_config cfg;
    char hub_path[160], key_path[160], data_path[160];
    snprintf(hub_path, sizeof hub_path, "%s", path(f, "hub.pub"));
    snprintf(key_path, sizeof key_path, "%s", path(f, "city.x.key"));
    snprintf(data_path, sizeof data_path, "%s", path(f, "data-x"));
    rk_agent_config_init(&cfg);
    cfg.endpoint = f->hub.endpoint;
    cfg.hub_pub = hub_path;
    cfg.key = key_path;
    cfg.data_dir = data_path;
    cfg.timeout_ms = 3000;
    cfg.offline = true;
    return rk_agent_open(&cfg, a, why, why_len);
}

static rk_msg_state state_of(rk_agent_t *a, const uint8_t msg_id[RK_MSGID_LEN])
{
    rk_msg_status st;
    char why[256] = "";
    if (rk_agent_status_get(a, msg_id, &st, why, sizeof why) != RK_AGENT_OK)
        fail_msg("status_get: %s", why);
    return st.state;
}

/* Lets the agent work (take in, settle, re-send) until done() holds, for
 * WAIT_MS at most; it must hand nothing out meanwhile. */
typedef bool (*until_fn)(fixture *f, rk_agent_t *a, const void *arg);

static void work_until(fixture *f, rk_agent_t *a, until_fn done, const void *arg, const char *what)
{
    long long deadline = mono_ms() + WAIT_MS;
    while (!done(f, a, arg)) {
        rk_event *ev = NULL;
        char why[256] = "";
        if (mono_ms() >= deadline)
            fail_msg("waited %d ms for %s", WAIT_MS, what);
        assert_int_equal(rk_agent_recv(a, 50, &ev, why, sizeof why), RK_AGENT_ETIMEOUT);
    }
}

static bool is_accepted(fixture *f, rk_agent_t *a, const void *msg_id)
{
    (void)f;
    return state_of(a, msg_id) == RK_MSG_ACCEPTED;
}


/* The hub does not answer: the message is kept (PENDING) and not lost;
 * flush re-sends exactly the same bytes, and the hub's ACCEPTED lands in
 * the outbox. */
static void test_outbox_commit_before_send(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    uint8_t msg_id[RK_MSGID_LEN];
    rk_result_t result;
    rk_flush_report rep;
    rk_msg_status st;
    char why[512] = "";
    rk_outgoing m = {.to = "power", .type = "utility.supply.stop", .code = WHO,
                     .payload = (const uint8_t *)"{\"a\":1}", .payload_len = 7};

    f->hub.on_send = SEND_SILENT;
    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 500, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    assert_int_equal(rk_agent_send(a, &m, msg_id, &result, why, sizeof why), RK_AGENT_EPENDING);
    assert_non_null(strstr(why, "kept in the outbox and re-sent automatically"));
    assert_int_equal(hub_count(&f->hub, &f->hub.nsend), 1);
    assert_int_equal(rk_agent_status_get(a, msg_id, &st, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(st.state, RK_MSG_PENDING);
    assert_string_equal(st.to, "power");
    assert_string_equal(st.type, "utility.supply.stop");
    assert_memory_equal(st.code, WHO, RK_CODE_LEN);
    assert_int_equal(st.attempts, 1);
    assert_false(st.complete);

    hub_set_on_send(&f->hub, SEND_ACCEPT);
    if (rk_agent_flush(a, 3000, &rep, why, sizeof why) != RK_AGENT_OK)
        fail_msg("flush failed: %s", why);
    assert_int_equal(rep.sent, 1);
    assert_int_equal(rep.accepted, 1);
    assert_int_equal(rep.pending, 0);
    assert_int_equal(hub_count(&f->hub, &f->hub.nsend), 2);
    pthread_mutex_lock(&f->hub.mu);
    assert_int_equal(f->hub.send_len[0], f->hub.send_len[1]);
    assert_memory_equal(f->hub.sends[0], f->hub.sends[1], f->hub.send_len[0]);
    pthread_mutex_unlock(&f->hub.mu);
    assert_int_equal(rk_agent_status_get(a, msg_id, &st, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(st.state, RK_MSG_ACCEPTED);
    assert_true(st.seq > 100);
    assert_true(st.accepted_ms >= st.created_ms);
    rk_agent_close(&a);
}

/* QUEUE_FULL is not a refusal: pending, with the hub's word kept; the
 * next connection sends it again by itself. */
static void test_queue_full_resent_on_reconnect(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    uint8_t msg_id[RK_MSGID_LEN];
    rk_result_t result;
    rk_msg_status st;
    char why[512] = "";
    rk_outgoing m = {.to = "power", .type = "utility.supply.stop", .code = WHO,
                     .payload = (const uint8_t *)"{}", .payload_len = 2};

    f->hub.on_send = SEND_QUEUE_FULL;
    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    assert_int_equal(rk_agent_send(a, &m, msg_id, &result, why, sizeof why), RK_AGENT_EPENDING);
    assert_int_equal(result.status, RK_ST_QUEUE_FULL);
    assert_non_null(strstr(why, "QUEUE_FULL"));
    assert_int_equal(rk_agent_status_get(a, msg_id, &st, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(st.state, RK_MSG_PENDING);
    assert_int_equal(st.status, RK_ST_QUEUE_FULL);
    assert_string_equal(st.detail, "power's queue is full");
    rk_agent_close(&a);

    hub_set_on_send(&f->hub, SEND_ACCEPT);
    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("reopen failed: %s", why);
    work_until(f, a, is_accepted, msg_id, "the message to be sent again and accepted");
    assert_int_equal(hub_count(&f->hub, &f->hub.nsend), 2);
    assert_int_equal(state_of(a, msg_id), RK_MSG_ACCEPTED);
    rk_agent_close(&a);
}

/* Without a connection, a message is still sealed (with the directory kept
 * from the last connection) and committed; it leaves once connected. */
static void test_offline_send_kept(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    uint8_t msg_id[RK_MSGID_LEN];
    rk_result_t result;
    char why[512] = "";
    rk_outgoing m = {.to = "power", .type = "utility.supply.stop", .code = WHO,
                     .payload = (const uint8_t *)"{}", .payload_len = 2, .no_reply = true};

    hub_start(&f->hub);
    /* Never connected: no directory to encrypt with, nothing kept. */
    if (open_x_offline(f, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("offline open failed: %s", why);
    assert_int_equal(rk_agent_send(a, &m, msg_id, &result, why, sizeof why), RK_AGENT_EOFFLINE);
    assert_non_null(strstr(why, "must reach the hub once"));
    rk_agent_close(&a);

    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    rk_agent_close(&a);
    if (open_x_offline(f, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("offline open failed: %s", why);
    assert_int_equal(rk_agent_send(a, &m, msg_id, &result, why, sizeof why), RK_AGENT_EPENDING);
    assert_non_null(strstr(why, "not connected to the hub"));
    assert_int_equal(hub_count(&f->hub, &f->hub.nsend), 0);
    assert_int_equal(state_of(a, msg_id), RK_MSG_PENDING);

    if (rk_agent_connect(a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("connect failed: %s", why);
    work_until(f, a, is_accepted, msg_id, "the message kept offline to be sent and accepted");
    assert_int_equal(hub_count(&f->hub, &f->hub.nsend), 1);
    assert_int_equal(state_of(a, msg_id), RK_MSG_ACCEPTED);
    rk_agent_close(&a);
}

/* The same delivery twice (the hub re-sends what it has no ack for): one
 * inbox entry, handed out once, acknowledged both times; after a restart
 * it is still known. */
static void test_delivery_once_acked_twice(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    rk_envelope_t env, later;
    uint8_t id[RK_MSGID_LEN], later_id[RK_MSGID_LEN];
    rk_event *ev = NULL;
    char why[512] = "";

    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    envelope_to_x(f, f->power, f->x, id, &env);
    hub_queue_deliver(&f->hub, &env, true, false);
    hub_queue_deliver(&f->hub, &env, true, false);
    /* Another message after the copy: handed out next, it shows that the
     * copy was taken in before it and not handed out. */
    envelope_to_x(f, f->power, f->x, later_id, &later);
    hub_queue_deliver_seq(&f->hub, &later, 8, false, false);
    rk_envelope_clear(&later);

    if (rk_agent_recv(a, 3000, &ev, why, sizeof why) != RK_AGENT_OK)
        fail_msg("recv failed: %s", why);
    assert_int_equal(ev->kind, RK_EVENT_MESSAGE);
    assert_memory_equal(ev->msg_id, id, RK_MSGID_LEN);
    assert_memory_equal(ev->payload, "{\"n\":1}", 7);
    assert_true(ev->first_contact);
    assert_int_equal(ev->seq, 7);
    next_is(a, later_id, "the second copy of a delivery was handed out again");
    assert_int_equal(hub_acks_of(&f->hub, 7, 2, WAIT_MS), 2);
    assert_int_equal(hub_acks_of(&f->hub, 8, 1, WAIT_MS), 1);
    assert_int_equal(rk_agent_done(a, ev, why, sizeof why), RK_AGENT_OK);
    rk_event_free(&ev);
    rk_agent_close(&a);

    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("reopen failed: %s", why);
    hub_queue_deliver(&f->hub, &env, true, false);
    rk_envelope_clear(&env);
    envelope_to_x(f, f->power, f->x, later_id, &later);
    hub_queue_deliver_seq(&f->hub, &later, 9, false, false);
    rk_envelope_clear(&later);
    next_is(a, later_id, "a delivery handed out and done before a restart was handed out again after it");
    assert_int_equal(hub_acks_of(&f->hub, 7, 3, WAIT_MS), 3);
    rk_agent_close(&a);
}

/* A burst taken in batches: every delivery acknowledged, handed out once
 * (the copy not at all), marked done in one call; done again, each says it
 * was done already; after a restart none comes again. */
static void test_batch_recv_and_done(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    rk_envelope_t env[3];
    uint8_t ids[3][RK_MSGID_LEN];
    rk_event *got[3] = {NULL, NULL, NULL}, *evs[8];
    rk_agent_err each[3];
    size_t n_got = 0, n = 0;
    char why[512] = "";

    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    for (int i = 0; i < 3; i++) {
        envelope_to_x(f, f->power, f->x, ids[i], &env[i]);
        hub_queue_deliver_seq(&f->hub, &env[i], 20 + (uint64_t)i, false, false);
    }
    hub_queue_deliver_seq(&f->hub, &env[1], 21, false, false); /* a copy */
    for (int i = 0; i < 3; i++)
        rk_envelope_clear(&env[i]);
    while (n_got < 3) {
        if (rk_agent_recv_batch(a, RK_RECV_ALL, 8, WAIT_MS, evs, &n, why, sizeof why) != RK_AGENT_OK)
            fail_msg("recv_batch failed after %zu of 3: %s", n_got, why);
        assert_true(n >= 1 && n <= 3 - n_got);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(evs[i]->kind, RK_EVENT_MESSAGE);
            assert_memory_equal(evs[i]->msg_id, ids[n_got], RK_MSGID_LEN); /* in order, each once */
            got[n_got++] = evs[i];
        }
    }
    assert_int_equal(rk_agent_recv_batch(a, RK_RECV_ALL, 8, 300, evs, &n, why, sizeof why), RK_AGENT_ETIMEOUT);
    assert_int_equal(n, 0);
    for (int i = 0; i < 3; i++)
        assert_true(hub_acks_of(&f->hub, (uint64_t)(20 + i), 1, WAIT_MS) >= 1);

    assert_int_equal(rk_agent_done_batch(a, got, 3, each, why, sizeof why), RK_AGENT_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(each[i], RK_AGENT_OK);
    assert_int_equal(rk_agent_done_batch(a, got, 3, each, why, sizeof why), RK_AGENT_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(each[i], RK_AGENT_ECONFLICT);
    for (int i = 0; i < 3; i++)
        rk_event_free(&got[i]);
    assert_int_equal(rk_agent_recv_batch(a, RK_RECV_ALL, 0, 0, evs, &n, why, sizeof why), RK_AGENT_EINVAL);
    rk_agent_close(&a);

    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("reopen failed: %s", why);
    assert_int_equal(rk_agent_recv_batch(a, RK_RECV_ALL, 8, 300, evs, &n, why, sizeof why), RK_AGENT_ETIMEOUT);
    rk_agent_close(&a);
}

/* A delivery this agent refuses is rejected to the hub and acknowledged,
 * so the hub stops bringing it. */
static void test_reject_is_acked(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    rk_envelope_t env;
    uint8_t id[RK_MSGID_LEN], later_id[RK_MSGID_LEN];
    rk_event *ev = NULL;
    char why[512] = "";

    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    envelope_to_x(f, f->power, f->gas, id, &env);
    hub_queue_deliver(&f->hub, &env, false, false);
    rk_envelope_clear(&env);
    assert_int_equal(rk_agent_recv(a, 3000, &ev, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(ev->kind, RK_EVENT_REFUSED);
    rk_event_free(&ev);
    assert_int_equal(hub_rejects(&f->hub, WAIT_MS, NULL), 1);
    assert_int_equal(hub_acks_of(&f->hub, 7, 1, WAIT_MS), 1);
    /* Nothing was kept for handing out: a later message comes next. */
    envelope_to_x(f, f->power, f->x, later_id, &env);
    hub_queue_deliver_seq(&f->hub, &env, 8, false, false);
    rk_envelope_clear(&env);
    next_is(a, later_id, "a refused delivery was kept and handed out");
    rk_agent_close(&a);
}

static bool notices_acked(fixture *f, rk_agent_t *a, const void *arg)
{
    (void)a;
    (void)arg;
    return hub_acks_of(&f->hub, 500, 1, 0) >= 1 && hub_acks_of(&f->hub, 501, 1, 0) >= 1;
}

/* Notices move the sent message's state and are acknowledged, unknown ones
 * too; wait_reply reports an expiry. */
static void test_notices(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    uint8_t msg_id[RK_MSGID_LEN], stranger[RK_MSGID_LEN];
    rk_result_t result;
    rk_msg_status st;
    rk_event *ev = NULL;
    char why[512] = "";
    rk_outgoing m = {.to = "power", .type = "utility.supply.stop", .code = WHO,
                     .payload = (const uint8_t *)"{}", .payload_len = 2};

    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    assert_int_equal(rk_agent_send(a, &m, msg_id, &result, why, sizeof why), RK_AGENT_OK);
    hub_queue_notice(&f->hub, 500, msg_id, RK_ST_DELIVERED);
    randombytes_buf(stranger, sizeof stranger);
    hub_queue_notice(&f->hub, 501, stranger, RK_ST_DELIVERED);
    work_until(f, a, notices_acked, NULL, "both notices to be acknowledged");
    assert_int_equal(hub_acks_of(&f->hub, 500, 1, WAIT_MS), 1);
    assert_int_equal(hub_acks_of(&f->hub, 501, 1, WAIT_MS), 1);
    assert_int_equal(rk_agent_status_get(a, msg_id, &st, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(st.state, RK_MSG_DELIVERED);
    assert_int_equal(st.delivered_ms, 1700000000000ull);
    assert_false(st.complete); /* a reply is expected */

    hub_queue_notice(&f->hub, 502, msg_id, RK_ST_EXPIRED);
    assert_int_equal(rk_agent_wait_reply(a, msg_id, 3000, &ev, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(ev->kind, RK_EVENT_RESULT);
    assert_int_equal(ev->result.status, RK_ST_EXPIRED);
    rk_event_free(&ev);
    assert_int_equal(state_of(a, msg_id), RK_MSG_EXPIRED);
    rk_agent_close(&a);
}

/* A reply is committed with the request marked done: after the agent is
 * gone, the request is DONE in the inbox and the reply in the outbox. */
static void test_reply_closes_request(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    rk_envelope_t env;
    uint8_t id[RK_MSGID_LEN], reply_id[RK_MSGID_LEN];
    rk_result_t result;
    rk_event *ev = NULL;
    rk_codebook_t *cb = NULL;
    rk_mailbox_t *mb = NULL;
    rk_inbox_entry e;
    rk_msg_status st;
    char why[512] = "";

    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    envelope_to_x(f, f->power, f->x, id, &env);
    hub_queue_deliver(&f->hub, &env, false, false);
    rk_envelope_clear(&env);
    assert_int_equal(rk_agent_recv(a, 3000, &ev, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(ev->kind, RK_EVENT_MESSAGE);
    if (rk_agent_reply(a, ev, (const uint8_t *)"{\"ok\":true}", 11, reply_id, &result, why, sizeof why) !=
        RK_AGENT_OK)
        fail_msg("reply failed: %s", why);
    rk_event_free(&ev);
    rk_agent_close(&a);

    if (rk_codebook_open(path(f, "data-x"), 0, &cb, why, sizeof why) != RK_AGENT_OK ||
        rk_mailbox_open(rk_codebook_env(cb), &mb, why, sizeof why) != RK_AGENT_OK)
        fail_msg("opening the store: %s", why);
    assert_int_equal(rk_mailbox_in_get(mb, "power", id, &e, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(e.state, RK_IN_DONE);
    rk_inbox_entry_clear(&e);
    assert_int_equal(rk_mailbox_out_get(mb, reply_id, &st, NULL, NULL, why, sizeof why), RK_AGENT_OK);
    assert_true(st.is_reply);
    assert_memory_equal(st.reply_to, id, RK_MSGID_LEN);
    assert_int_equal(st.state, RK_MSG_ACCEPTED);
    assert_string_equal(st.to, "power");
    rk_mailbox_close(&mb);
    rk_codebook_close(&cb);
}

/* Two processes of one organization share a data directory: the one
 * connected as receiver commits a delivery; the other, not even
 * connected, finds it in the inbox and hands it out. */
static void test_other_process_hands_out(void **state)
{
    fixture *f = *state;
    rk_agent_t *a = NULL;
    rk_envelope_t env;
    uint8_t id[RK_MSGID_LEN], later_id[RK_MSGID_LEN];
    rk_flush_report rep;
    char why[512] = "";
    int status = -1, opened[2];
    pid_t child;

    envelope_to_x(f, f->power, f->x, id, &env);
    assert_int_equal(pipe(opened), 0);
    child = fork(); /* before any ZeroMQ or LMDB handle exists here */
    assert_true(child >= 0);
    if (child == 0) {
        rk_agent_t *b = NULL;
        rk_event *ev = NULL;
        struct pollfd pfd = {opened[0], POLLIN, 0};
        char byte;
        int rc = 1;
        /* The data directory is the first process's to create: wait until
         * it has opened it. */
        close(opened[1]);
        if (poll(&pfd, 1, WAIT_MS) != 1 || read(opened[0], &byte, 1) != 1) {
            fprintf(stderr, "second process: the first did not open the data directory\n");
            _exit(1);
        }
        if (open_x_offline(f, &b, why, sizeof why) == RK_AGENT_OK &&
            rk_agent_recv(b, WAIT_MS, &ev, why, sizeof why) == RK_AGENT_OK && ev->kind == RK_EVENT_MESSAGE &&
            memcmp(ev->msg_id, id, RK_MSGID_LEN) == 0 && ev->payload_len == 7 &&
            memcmp(ev->payload, "{\"n\":1}", 7) == 0 && rk_agent_done(b, ev, why, sizeof why) == RK_AGENT_OK)
            rc = 0;
        else
            fprintf(stderr, "second process: %s\n", why);
        rk_event_free(&ev);
        rk_agent_close(&b);
        _exit(rc);
    }
    close(opened[0]);
    hub_start(&f->hub);
    if (open_x(f, "hub.pub", 3000, &a, why, sizeof why) != RK_AGENT_OK)
        fail_msg("open failed: %s", why);
    assert_int_equal(write(opened[1], "o", 1), 1);
    close(opened[1]);
    hub_queue_deliver(&f->hub, &env, false, false);
    rk_envelope_clear(&env);
    /* Take in and commit without handing out. */
    assert_int_equal(rk_agent_flush(a, 1000, &rep, why, sizeof why), RK_AGENT_OK);
    assert_int_equal(hub_acks_of(&f->hub, 7, 1, WAIT_MS), 1);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* Handed out once: what this process gets next is a later message. */
    envelope_to_x(f, f->power, f->x, later_id, &env);
    hub_queue_deliver_seq(&f->hub, &env, 8, false, false);
    rk_envelope_clear(&env);
    next_is(a, later_id, "a message another process handed out and finished was handed out again");
    rk_agent_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_welcome_and_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_hub_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_welcome_names_other_org, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forged_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_reply_and_queueing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_by_recipient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_signature_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undecryptable_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_recipient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enroll_then_delivery_names_person, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_commit_before_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_full_resent_on_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline_send_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_recv_and_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_once_acked_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reject_is_acked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_closes_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_process_hands_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_verified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_catches_a_cheating_hub, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
