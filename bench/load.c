/*
 * load.c - renkei-bench's load generator and sink over the Renkei wire
 * protocol.
 */
#include "load.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "keys.h"
#include "payload.h"
#include "proc.h"
#include "session.h"
#include "clock.h"

#define TYPE "utility.supply.stop"
#define REPLY_TIMEOUT_S 30.0

typedef struct party {
    rk_identity_t *id;
    char name[RK_ID_MAX + 1];
    rk_session_t *sess;
    void *sock;             /* sess's socket: the measured path sends and receives on it directly */
    rk_client_frame_t *ack; /* pending acks (heap: RK_ACK_MAX sequence numbers) */
    uint8_t (*codes)[RK_CODE_LEN]; /* senders: one code per enrolled person */
    size_t outstanding;            /* senders: sent, not yet accepted */
    size_t next;                   /* senders: next frame index in a pass */
} party_t;

typedef struct frame {
    uint8_t *buf;
    size_t len;
    uint32_t to;
} frame_t;

struct bench_load {
    size_t n_s, n_r, persons, window;
    party_t *s, *r;
    void *ctx;
    bench_target target;
    bool connected;
    bench_persons mode;
    atomic_int *stop, *busy;
    size_t last_sent;
    bool random_ids; /* message ids of 16 random bytes, as senders not using rk_msgid_new */
};

static void why_set(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || why_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static int party_init(party_t *p, const char *dir, const char *name, char *why, size_t why_len)
{
    char prefix[4096];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->id = rk_identity_generate(name);
    p->ack = calloc(1, sizeof *p->ack);
    if (p->id == NULL || p->ack == NULL) {
        why_set(why, why_len, "out of memory making the identity %s", name);
        return -1;
    }
    p->ack->kind = RK_CF_ACK;
    snprintf(prefix, sizeof prefix, "%s/%s", dir, name);
    if (rk_identity_save(p->id, prefix, why, why_len) != RK_KEYS_OK)
        return -1;
    return 0;
}

bench_load_t *bench_load_new(const char *key_dir, const char *tag, size_t n_senders,
                             size_t n_recipients, size_t persons, size_t window, char *why,
                             size_t why_len)
{
    bench_load_t *l;
    char name[32];

    if (tag == NULL || strlen(tag) < 1 || strlen(tag) > 16 || tag[0] < 'a' || tag[0] > 'z') {
        why_set(why, why_len, "the identity tag must be 1..16 lowercase letters");
        return NULL;
    }
    if (sodium_init() < 0) {
        why_set(why, why_len, "libsodium does not initialize");
        return NULL;
    }
    if (n_senders == 0 || n_recipients == 0 || persons == 0 || window == 0 || n_senders > 99 ||
        n_recipients > 99) {
        why_set(why, why_len, "senders and recipients must be 1..99, persons and window >= 1");
        return NULL;
    }
    l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->n_s = n_senders;
    l->n_r = n_recipients;
    l->persons = persons;
    l->window = window;
    l->s = calloc(n_senders, sizeof *l->s);
    l->r = calloc(n_recipients, sizeof *l->r);
    if (l->s == NULL || l->r == NULL)
        goto fail;
    for (size_t i = 0; i < n_senders; i++) {
        snprintf(name, sizeof name, "%sm%02zu", tag, i + 1);
        if (party_init(&l->s[i], key_dir, name, why, why_len) != 0)
            goto fail;
        l->s[i].codes = calloc(persons, RK_CODE_LEN);
        if (l->s[i].codes == NULL)
            goto fail;
    }
    for (size_t i = 0; i < n_recipients; i++) {
        snprintf(name, sizeof name, "%su%02zu", tag, i + 1);
        if (party_init(&l->r[i], key_dir, name, why, why_len) != 0)
            goto fail;
    }
    return l;
fail:
    bench_load_destroy(&l);
    return NULL;
}

static void party_clear(party_t *p)
{
    rk_session_close(&p->sess, true);
    p->sock = NULL;
    rk_identity_destroy(&p->id);
    free(p->ack);
    free(p->codes);
}

void bench_load_disconnect(bench_load_t *l)
{
    for (size_t i = 0; i < l->n_s; i++) {
        rk_session_close(&l->s[i].sess, true);
        l->s[i].sock = NULL;
    }
    for (size_t i = 0; i < l->n_r; i++) {
        rk_session_close(&l->r[i].sess, true);
        l->r[i].sock = NULL;
    }
    if (l->ctx != NULL)
        zmq_ctx_term(l->ctx);
    l->ctx = NULL;
    l->connected = false;
}

void bench_load_destroy(bench_load_t **lp)
{
    bench_load_t *l;
    if (lp == NULL || *lp == NULL)
        return;
    l = *lp;
    bench_load_disconnect(l);
    for (size_t i = 0; l->s != NULL && i < l->n_s; i++)
        party_clear(&l->s[i]);
    for (size_t i = 0; l->r != NULL && i < l->n_r; i++)
        party_clear(&l->r[i]);
    free(l->s);
    free(l->r);
    free(l);
    *lp = NULL;
}

size_t bench_load_senders(const bench_load_t *l) { return l->n_s; }
size_t bench_load_recipients(const bench_load_t *l) { return l->n_r; }
const char *bench_load_sender_name(const bench_load_t *l, size_t i) { return l->s[i].name; }
const char *bench_load_recipient_name(const bench_load_t *l, size_t i) { return l->r[i].name; }

void bench_load_set_flags(bench_load_t *l, atomic_int *stop, atomic_int *busy)
{
    l->stop = stop;
    l->busy = busy;
}

void bench_load_set_random_ids(bench_load_t *l, bool random_ids)
{
    l->random_ids = random_ids;
}

size_t bench_load_last_sent(const bench_load_t *l) { return l->last_sent; }

/* ------------------------------------------------------------ sockets */

static int party_connect(bench_load_t *l, party_t *p, const char *endpoint,
                         const uint8_t server_pk[RK_KEY_LEN], char *why, size_t why_len)
{
    rk_session_opts o;
    rk_pubkey_t server;
    char inner[512] = "";

    memset(&server, 0, sizeof server);
    memcpy(server.curve_pk, server_pk, RK_KEY_LEN);
    memset(&o, 0, sizeof o);
    o.zmq_ctx = l->ctx;
    o.hwm = 100000;
    o.receive = true;
    /* The bare forwarder addresses its parties by name. */
    o.routing_id = l->target == BENCH_TARGET_BARE ? p->name : NULL;
    if (rk_session_open(endpoint, &server, p->id, &o, &p->sess, inner, sizeof inner) != RK_SESSION_OK) {
        why_set(why, why_len, "cannot connect %s to %s: %s", p->name, endpoint, inner);
        return -1;
    }
    p->sock = rk_session_socket(p->sess);
    return 0;
}

static int send_frame(void *sock, const rk_client_frame_t *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rv;
    if (rk_client_frame_encode(f, &buf, &len) != RK_WIRE_OK)
        return -1;
    rv = zmq_send(sock, buf, len, 0) == (int)len ? 0 : -1;
    free(buf);
    return rv;
}

/* Sends the acks p has gathered (hub only). */
static int flush_acks(party_t *p)
{
    int rv;
    if (p->ack->u.ack.n == 0)
        return 0;
    rv = send_frame(p->sock, p->ack);
    p->ack->u.ack.n = 0;
    return rv;
}

static int queue_ack(party_t *p, uint64_t seq)
{
    p->ack->u.ack.seq[p->ack->u.ack.n++] = seq;
    return p->ack->u.ack.n == RK_ACK_MAX ? flush_acks(p) : 0;
}

/* Deliveries and notices that arrive while a party waits for its welcome
 * or an enrollment are acknowledged (the hub would push them again). */
static rk_session_err ack_meanwhile(void *arg, rk_hub_frame_t *f, char *why, size_t why_len)
{
    party_t *p = arg;
    int rc = 0;
    if (f->kind == RK_HF_DELIVER)
        rc = queue_ack(p, f->u.deliver.seq);
    else if (f->kind == RK_HF_NOTICE)
        rc = queue_ack(p, f->u.notice.seq);
    rk_hub_frame_clear(f);
    if (rc != 0) {
        why_set(why, why_len, "could not acknowledge a delivery");
        return RK_SESSION_EZMQ;
    }
    return RK_SESSION_OK;
}

static int hub_hello(party_t *p, char *why, size_t why_len)
{
    char inner[512] = "";
    if (rk_session_hello(p->sess, 15000, ack_meanwhile, p, inner, sizeof inner) != RK_SESSION_OK ||
        flush_acks(p) != 0) {
        why_set(why, why_len, "%s got no welcome: %s", p->name, inner[0] ? inner : "could not acknowledge");
        return -1;
    }
    return 0;
}

static int hub_enroll(party_t *p, size_t persons, char *why, size_t why_len)
{
    for (size_t i = 0; i < persons; i++) {
        rk_client_frame_t cf;
        rk_hub_frame_t hf;
        char inner[512] = "";
        bool ok;
        memset(&cf, 0, sizeof cf);
        cf.kind = RK_CF_ENROLL;
        if (rk_session_request(p->sess, &cf, 15000, ack_meanwhile, p, &hf, inner, sizeof inner) !=
                RK_SESSION_OK ||
            flush_acks(p) != 0) {
            why_set(why, why_len, "%s: enroll failed: %s", p->name, inner);
            return -1;
        }
        ok = hf.u.enrolled.status == RK_ST_ACCEPTED;
        if (ok)
            memcpy(p->codes[i], hf.u.enrolled.code, RK_CODE_LEN);
        else
            why_set(why, why_len, "%s: enroll refused: %s", p->name,
                    rk_status_name(hf.u.enrolled.status));
        rk_hub_frame_clear(&hf);
        if (!ok)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ envelopes */

/* Bytes of WHAT for a payload figure: the smallest size class at least
 * that large (the figures used, 512 and 2048, are classes themselves). */
static size_t what_size(size_t payload)
{
    return rk_size_class_for(payload > RK_PAD_OVERHEAD + 1 ? payload - RK_PAD_OVERHEAD - 1 : 0);
}

/* nonce || crypto_box_easy(an empty payload padded to its class) from s to
 * r, what_size(payload) bytes in all, as an agent would send it. */
static uint8_t *make_what(const party_t *s, const party_t *r, size_t payload)
{
    size_t len = what_size(payload), plain_len;
    uint8_t *out, *plain;
    if (len == 0)
        return NULL;
    plain_len = len - RK_PAD_OVERHEAD;
    out = malloc(len);
    plain = malloc(plain_len);
    if (out == NULL || plain == NULL) {
        free(out);
        free(plain);
        return NULL;
    }
    rk_pad(plain, 0, plain_len);
    randombytes_buf(out, crypto_box_NONCEBYTES);
    if (crypto_box_easy(out + crypto_box_NONCEBYTES, plain, plain_len, out, r->id->pub.curve_pk,
                        s->id->curve_sk) != 0) {
        free(out);
        out = NULL;
    }
    free(plain);
    return out;
}

/* Encodes a signed Send frame from s to r about `who`.  what is borrowed. */
static int build_send(bool random_id, const party_t *s, const party_t *r, const uint8_t who[RK_CODE_LEN],
                      const uint8_t *reply_to, uint8_t *what, size_t what_len, uint8_t **out,
                      size_t *out_len, uint8_t msg_id_out[RK_MSGID_LEN])
{
    rk_core_t core;
    rk_client_frame_t cf;
    int rv = 0;
    memset(&core, 0, sizeof core);
    memset(&cf, 0, sizeof cf);
    snprintf(core.from, sizeof core.from, "%s", s->name);
    snprintf(core.to, sizeof core.to, "%s", r->name);
    snprintf(core.type, sizeof core.type, "%s", TYPE);
    core.time_ms = rk_wall_ms();
    if (random_id)
        randombytes_buf(core.msg_id, RK_MSGID_LEN);
    else
        rk_msgid_new(core.msg_id, core.time_ms);
    if (reply_to != NULL) {
        core.has_reply_to = true;
        memcpy(core.reply_to, reply_to, RK_MSGID_LEN);
    }
    core.what = what;
    core.what_len = what_len;
    cf.kind = RK_CF_SEND;
    if (rk_envelope_seal(&cf.u.send, &core, who, s->id->sign_sk) != RK_WIRE_OK)
        return -1;
    if (rk_client_frame_encode(&cf, out, out_len) != RK_WIRE_OK)
        rv = -1;
    if (msg_id_out != NULL)
        memcpy(msg_id_out, core.msg_id, RK_MSGID_LEN);
    rk_envelope_clear(&cf.u.send);
    return rv;
}

static void free_frames(frame_t *fr, size_t n)
{
    for (size_t i = 0; fr != NULL && i < n; i++)
        free(fr[i].buf);
    free(fr);
}

/* Frame i goes from sender i % N to recipient (i / N) % M about person
 * (i / (N*M)) % P: N*M*P frames cover every (sender, recipient, person). */
static frame_t *build_frames(bench_load_t *l, size_t payload, size_t count, char *why,
                             size_t why_len)
{
    frame_t *fr = calloc(count ? count : 1, sizeof *fr);
    uint8_t **what = calloc(l->n_s * l->n_r > 0 ? l->n_s * l->n_r : 1, sizeof *what);
    size_t i;
    if (fr == NULL || what == NULL)
        goto fail;
    for (i = 0; i < l->n_s * l->n_r; i++)
        if ((what[i] = make_what(&l->s[i / l->n_r], &l->r[i % l->n_r], payload)) == NULL)
            goto fail;
    for (i = 0; i < count; i++) {
        size_t s = i % l->n_s, r = (i / l->n_s) % l->n_r, p = (i / (l->n_s * l->n_r)) % l->persons;
        if (l->mode == BENCH_PERSONS_GIVEN)
            p = randombytes_uniform((uint32_t)l->persons);
        fr[i].to = (uint32_t)r;
        if (build_send(l->random_ids, &l->s[s], &l->r[r], l->s[s].codes[p], NULL, what[s * l->n_r + r],
                       what_size(payload), &fr[i].buf, &fr[i].len, NULL) != 0)
            goto fail;
    }
    for (i = 0; i < l->n_s * l->n_r; i++)
        free(what[i]);
    free(what);
    return fr;
fail:
    why_set(why, why_len, "cannot build the envelopes (out of memory?)");
    for (i = 0; what != NULL && i < l->n_s * l->n_r; i++)
        free(what[i]);
    free(what);
    free_frames(fr, count);
    return NULL;
}

/* ------------------------------------------------------------ a pass */

typedef struct tally {
    size_t accepted, delivered, refused;
    rk_status first_refusal;
} tally_t;

/* Drains p's socket (a sender when is_sender).  -1 on a broken frame. */
static int drain(bench_load_t *l, party_t *p, bool is_sender, tally_t *t)
{
    for (;;) {
        zmq_msg_t m;
        int more = 0;
        size_t more_len = sizeof more;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, p->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return errno == EAGAIN ? 0 : -1;
        }
        if (l->target == BENCH_TARGET_BARE) {
            /* [from][payload]: from "" is the forwarder's own answer. */
            bool from_fwd = zmq_msg_size(&m) == 0;
            zmq_getsockopt(p->sock, ZMQ_RCVMORE, &more, &more_len);
            while (more) {
                zmq_msg_close(&m);
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, p->sock, 0) < 0)
                    break;
                zmq_getsockopt(p->sock, ZMQ_RCVMORE, &more, &more_len);
            }
            zmq_msg_close(&m);
            if (is_sender && from_fwd) {
                p->outstanding--;
                t->accepted++;
            } else if (!is_sender) {
                t->delivered++;
                p->ack->u.ack.n++;
            }
            continue;
        } else {
            rk_hub_frame_t f;
            char why[128];
            if (rk_hub_frame_decode(zmq_msg_data(&m), zmq_msg_size(&m), &f, why, sizeof why) !=
                RK_WIRE_OK) {
                zmq_msg_close(&m);
                return -1;
            }
            zmq_msg_close(&m);
            if (f.kind == RK_HF_RESULT && is_sender) {
                p->outstanding--;
                if (f.u.result.status == RK_ST_ACCEPTED) {
                    t->accepted++;
                } else {
                    if (t->refused++ == 0)
                        t->first_refusal = f.u.result.status;
                }
            } else if (f.kind == RK_HF_DELIVER) {
                if (!is_sender)
                    t->delivered++;
                if (queue_ack(p, f.u.deliver.seq) != 0) {
                    rk_hub_frame_clear(&f);
                    return -1;
                }
            } else if (f.kind == RK_HF_NOTICE) {
                if (queue_ack(p, f.u.notice.seq) != 0) {
                    rk_hub_frame_clear(&f);
                    return -1;
                }
            }
            rk_hub_frame_clear(&f);
        }
    }
}

/* Bare: the sink's batched ack, [""][n acks as bytes], dropped by the
 * forwarder.  Hub: a real Ack frame. */
static int flush_party(bench_load_t *l, party_t *p)
{
    if (l->target == BENCH_TARGET_HUB)
        return flush_acks(p);
    if (p->ack->u.ack.n == 0)
        return 0;
    p->ack->u.ack.n = 0;
    if (zmq_send(p->sock, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(p->sock, "ack", 3, 0) < 0)
        return -1;
    return 0;
}

static int send_one(bench_load_t *l, party_t *s, const frame_t *f)
{
    if (l->target == BENCH_TARGET_BARE) {
        const party_t *r = &l->r[f->to];
        if (zmq_send(s->sock, r->name, strlen(r->name), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            return -1;
        return zmq_send(s->sock, f->buf, f->len, 0) < 0 ? -1 : 0;
    }
    return zmq_send(s->sock, f->buf, f->len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

static int run_frames(bench_load_t *l, const frame_t *fr, size_t count, double timeout_s,
                      double *elapsed_s, char *why, size_t why_len)
{
    size_t n = l->n_s + l->n_r, i;
    zmq_pollitem_t *items = calloc(n > 0 ? n : 1, sizeof *items);
    tally_t t = {0, 0, 0, RK_ST_ACCEPTED};
    double t0, deadline;
    size_t sent = 0, target = count;
    bool stopped = false;
    int rc = -1;

    if (items == NULL)
        return -1;
    for (i = 0; i < l->n_s; i++) {
        l->s[i].next = i;
        l->s[i].outstanding = 0;
        items[i].socket = l->s[i].sock;
        items[i].events = ZMQ_POLLIN;
    }
    for (i = 0; i < l->n_r; i++) {
        items[l->n_s + i].socket = l->r[i].sock;
        items[l->n_s + i].events = ZMQ_POLLIN;
    }
    t0 = bench_now();
    deadline = t0 + timeout_s;
    if (l->busy != NULL)
        atomic_store(l->busy, 1);
    while (t.accepted + t.refused < target ||
           t.delivered < target - (t.refused < target ? t.refused : target)) {
        bool blocked = false;
        if (!stopped && l->stop != NULL && atomic_load(l->stop)) {
            stopped = true;
            target = sent;
            if (l->busy != NULL)
                atomic_store(l->busy, 0);
            continue;
        }
        for (i = 0; i < l->n_s && !stopped; i++) {
            party_t *s = &l->s[i];
            while (s->outstanding < l->window && s->next < count) {
                if (send_one(l, s, &fr[s->next]) != 0) {
                    blocked = true;
                    break;
                }
                s->outstanding++;
                s->next += l->n_s;
                sent++;
            }
        }
        if (zmq_poll(items, (int)n, blocked ? 1 : 100) < 0) {
            why_set(why, why_len, "poll: %s", zmq_strerror(zmq_errno()));
            goto done;
        }
        for (i = 0; i < n; i++) {
            party_t *p = i < l->n_s ? &l->s[i] : &l->r[i - l->n_s];
            if ((items[i].revents & ZMQ_POLLIN) && drain(l, p, i < l->n_s, &t) != 0) {
                why_set(why, why_len, "%s received a frame that does not decode", p->name);
                goto done;
            }
            if (flush_party(l, p) != 0) {
                why_set(why, why_len, "%s cannot send its acks", p->name);
                goto done;
            }
        }
        if (bench_now() > deadline) {
            why_set(why, why_len,
                    "timed out after %.0f s: %zu of %zu accepted, %zu delivered, %zu refused",
                    timeout_s, t.accepted, count, t.delivered, t.refused);
            goto done;
        }
    }
    *elapsed_s = bench_now() - t0;
    l->last_sent = sent;
    if (t.refused > 0) {
        why_set(why, why_len, "%zu of %zu messages were refused, the first with %s", t.refused,
                count, rk_status_name(t.first_refusal));
        goto done;
    }
    rc = 0;
done:
    if (l->busy != NULL)
        atomic_store(l->busy, 0);
    free(items);
    return rc;
}

int bench_load_pass(bench_load_t *l, size_t payload, size_t count, double *elapsed_s, char *why,
                    size_t why_len)
{
    frame_t *fr;
    int rc;
    if (!l->connected) {
        why_set(why, why_len, "not connected");
        return -1;
    }
    fr = build_frames(l, payload, count, why, why_len);
    if (fr == NULL)
        return -1;
    rc = run_frames(l, fr, count, 60.0 + (double)count / 200.0, elapsed_s, why, why_len);
    free_frames(fr, count);
    return rc;
}

int bench_load_connect(bench_load_t *l, bench_target target, const char *endpoint,
                       const uint8_t server_curve_pk[RK_KEY_LEN], char *why, size_t why_len)
{
    double elapsed;
    frame_t *fr;
    size_t count;
    int rc;

    bench_load_disconnect(l);
    l->target = target;
    l->ctx = zmq_ctx_new();
    if (l->ctx == NULL) {
        why_set(why, why_len, "zmq_ctx_new failed");
        return -1;
    }
    for (size_t i = 0; i < l->n_s; i++)
        if (party_connect(l, &l->s[i], endpoint, server_curve_pk, why, why_len) != 0)
            return -1;
    for (size_t i = 0; i < l->n_r; i++)
        if (party_connect(l, &l->r[i], endpoint, server_curve_pk, why, why_len) != 0)
            return -1;
    if (target == BENCH_TARGET_HUB) {
        for (size_t i = 0; i < l->n_r; i++)
            if (hub_hello(&l->r[i], why, why_len) != 0)
                return -1;
        for (size_t i = 0; i < l->n_s; i++)
            if (hub_hello(&l->s[i], why, why_len) != 0 ||
                (l->mode == BENCH_PERSONS_ENROLL &&
                 hub_enroll(&l->s[i], l->persons, why, why_len) != 0))
                return -1;
    } else {
        /* CURVE handshakes take a moment; the forwarder drops frames for
         * recipients it has not met yet, so give them time to connect. */
        struct timespec ts = {0, 300 * 1000000L};
        nanosleep(&ts, NULL);
    }
    l->connected = true;
    if (l->mode == BENCH_PERSONS_LATER)
        return 0;
    /* Warm-up: every first contact, every connection exercised. */
    count = l->n_s * l->n_r * (l->mode == BENCH_PERSONS_GIVEN ? 1 : l->persons);
    fr = build_frames(l, 512, count, why, why_len);
    if (fr == NULL)
        return -1;
    rc = run_frames(l, fr, count, 60.0, &elapsed, why, why_len);
    free_frames(fr, count);
    if (rc != 0)
        return -1;
    return 0;
}

void bench_load_set_persons(bench_load_t *l, bench_persons mode) { l->mode = mode; }

uint8_t *bench_load_codes(bench_load_t *l, size_t i) { return l->s[i].codes[0]; }

/* Takes in what arrived for sender s during enrollment: Enrolled answers
 * (their code kept under req_id - 1) and anything else acked.  -1 on a
 * refusal or a broken frame. */
static int enroll_drain(bench_load_t *l, party_t *s, size_t *done, char *why, size_t why_len)
{
    for (;;) {
        zmq_msg_t m;
        rk_hub_frame_t f;
        char dwhy[128];
        int bad = 0;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return errno == EAGAIN ? flush_acks(s) : -1;
        }
        if (rk_hub_frame_decode(zmq_msg_data(&m), zmq_msg_size(&m), &f, dwhy, sizeof dwhy) !=
            RK_WIRE_OK) {
            zmq_msg_close(&m);
            why_set(why, why_len, "%s received a frame that does not decode", s->name);
            return -1;
        }
        zmq_msg_close(&m);
        if (f.kind == RK_HF_ENROLLED) {
            uint64_t k = f.u.enrolled.req_id;
            if (f.u.enrolled.status != RK_ST_ACCEPTED || k == 0 || k > l->persons) {
                why_set(why, why_len, "%s: enroll refused: %s", s->name,
                        rk_status_name(f.u.enrolled.status));
                bad = 1;
            } else {
                memcpy(s->codes[k - 1], f.u.enrolled.code, RK_CODE_LEN);
                s->outstanding--;
                (*done)++;
            }
        } else if (f.kind == RK_HF_DELIVER) {
            bad = queue_ack(s, f.u.deliver.seq);
        } else if (f.kind == RK_HF_NOTICE) {
            bad = queue_ack(s, f.u.notice.seq);
        }
        rk_hub_frame_clear(&f);
        if (bad)
            return -1;
    }
}

int bench_load_enroll(bench_load_t *l, double *elapsed_s, char *why, size_t why_len)
{
    zmq_pollitem_t *items;
    size_t done = 0, total = l->n_s * l->persons;
    double t0, deadline;
    int rc = -1;

    if (!l->connected || l->target != BENCH_TARGET_HUB) {
        why_set(why, why_len, "not connected to a hub");
        return -1;
    }
    items = calloc(l->n_s, sizeof *items);
    if (items == NULL) {
        why_set(why, why_len, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < l->n_s; i++) {
        l->s[i].next = 0;
        l->s[i].outstanding = 0;
        items[i].socket = l->s[i].sock;
        items[i].events = ZMQ_POLLIN;
    }
    t0 = bench_now();
    deadline = t0 + 60.0 + (double)total / 200.0;
    while (done < total) {
        for (size_t i = 0; i < l->n_s; i++) {
            party_t *s = &l->s[i];
            while (s->outstanding < l->window && s->next < l->persons) {
                rk_client_frame_t cf;
                memset(&cf, 0, sizeof cf);
                cf.kind = RK_CF_ENROLL;
                cf.u.enroll.req_id = s->next + 1;
                if (send_frame(s->sock, &cf) != 0) {
                    why_set(why, why_len, "%s cannot send Enroll", s->name);
                    goto done;
                }
                s->outstanding++;
                s->next++;
            }
        }
        if (zmq_poll(items, (int)l->n_s, 100) < 0) {
            why_set(why, why_len, "poll: %s", zmq_strerror(zmq_errno()));
            goto done;
        }
        for (size_t i = 0; i < l->n_s; i++)
            if ((items[i].revents & ZMQ_POLLIN) &&
                enroll_drain(l, &l->s[i], &done, why, why_len) != 0)
                goto done;
        if (bench_now() > deadline) {
            why_set(why, why_len, "enrollment timed out: %zu of %zu enrolled", done, total);
            goto done;
        }
    }
    *elapsed_s = bench_now() - t0;
    rc = 0;
done:
    free(items);
    return rc;
}

/* ------------------------------------------------------------ latency */

/* Receives one message on p: hub mode decodes a HubFrame (acks deliveries
 * and notices), bare mode the [from][ClientFrame] pair.  Returns 1 and the
 * envelope in *env (caller clears) for a delivered envelope, 0 for anything
 * else, -1 on timeout or error. */
static int lat_recv(bench_load_t *l, party_t *p, rk_envelope_t *env, double deadline)
{
    zmq_pollitem_t it = {p->sock, 0, ZMQ_POLLIN, 0};
    zmq_msg_t m;
    char why[128];
    double left = deadline - bench_now();
    if (left <= 0 || zmq_poll(&it, 1, (long)(left * 1000) + 1) <= 0)
        return -1;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, p->sock, 0) < 0) {
        zmq_msg_close(&m);
        return -1;
    }
    if (l->target == BENCH_TARGET_BARE) {
        rk_client_frame_t cf;
        int got;
        bool from_fwd = zmq_msg_size(&m) == 0;
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, p->sock, 0) < 0) {
            zmq_msg_close(&m);
            return -1;
        }
        if (from_fwd) {
            zmq_msg_close(&m);
            return 0;
        }
        got = rk_client_frame_decode(zmq_msg_data(&m), zmq_msg_size(&m), &cf, why, sizeof why) ==
              RK_WIRE_OK;
        zmq_msg_close(&m);
        if (!got || cf.kind != RK_CF_SEND) {
            if (got)
                rk_client_frame_clear(&cf);
            return -1;
        }
        *env = cf.u.send; /* moved out */
        return 1;
    } else {
        rk_hub_frame_t f;
        int rv = 0;
        if (rk_hub_frame_decode(zmq_msg_data(&m), zmq_msg_size(&m), &f, why, sizeof why) !=
            RK_WIRE_OK) {
            zmq_msg_close(&m);
            return -1;
        }
        zmq_msg_close(&m);
        if (f.kind == RK_HF_DELIVER) {
            if (queue_ack(p, f.u.deliver.seq) != 0 || flush_acks(p) != 0) {
                rk_hub_frame_clear(&f);
                return -1;
            }
            *env = f.u.deliver.envelope; /* moved out */
            memset(&f.u.deliver.envelope, 0, sizeof f.u.deliver.envelope);
            rv = 1;
        } else if (f.kind == RK_HF_NOTICE) {
            if (queue_ack(p, f.u.notice.seq) != 0 || flush_acks(p) != 0)
                rv = -1;
        } else if (f.kind == RK_HF_RESULT && f.u.result.status != RK_ST_ACCEPTED) {
            rv = -1;
        }
        rk_hub_frame_clear(&f);
        return rv;
    }
}

static int lat_send(bench_load_t *l, party_t *from, const party_t *to, const uint8_t *buf,
                    size_t len)
{
    if (l->target == BENCH_TARGET_BARE &&
        zmq_send(from->sock, to->name, strlen(to->name), ZMQ_SNDMORE) < 0)
        return -1;
    return zmq_send(from->sock, buf, len, 0) < 0 ? -1 : 0;
}

/* One round trip; its time in microseconds in *us. */
static int lat_one(bench_load_t *l, const uint8_t *what, size_t what_len, double *us, char *why,
                   size_t why_len)
{
    party_t *a = &l->s[0], *b = &l->r[0];
    uint8_t *buf = NULL, msg_id[RK_MSGID_LEN];
    size_t len = 0;
    double t0 = bench_now(), deadline = t0 + REPLY_TIMEOUT_S;
    rk_envelope_t env;
    rk_core_t core;
    int got;

    if (build_send(l->random_ids, a, b, a->codes[0], NULL, (uint8_t *)what, what_len, &buf, &len, msg_id) != 0 ||
        lat_send(l, a, b, buf, len) != 0) {
        free(buf);
        why_set(why, why_len, "cannot send the request");
        return -1;
    }
    free(buf);
    buf = NULL;
    /* The recipient takes the request and answers it. */
    while ((got = lat_recv(l, b, &env, deadline)) == 0)
        ;
    if (got < 0) {
        why_set(why, why_len, "the request did not arrive within %.0f s", REPLY_TIMEOUT_S);
        return -1;
    }
    memset(&core, 0, sizeof core);
    got = rk_core_decode(env.core, env.core_len, &core, NULL, 0) == RK_WIRE_OK;
    if (got)
        got = build_send(l->random_ids, b, a, env.who, core.msg_id, core.what, core.what_len, &buf, &len, NULL) ==
                      0 &&
              lat_send(l, b, a, buf, len) == 0;
    free(buf);
    rk_core_clear(&core);
    rk_envelope_clear(&env);
    if (!got) {
        why_set(why, why_len, "the recipient cannot answer the request");
        return -1;
    }
    /* The sender waits for the reply to its msg_id. */
    for (;;) {
        bool match;
        got = lat_recv(l, a, &env, deadline);
        if (got < 0) {
            why_set(why, why_len, "no reply within %.0f s", REPLY_TIMEOUT_S);
            return -1;
        }
        if (got == 0)
            continue;
        memset(&core, 0, sizeof core);
        match = rk_core_decode(env.core, env.core_len, &core, NULL, 0) == RK_WIRE_OK &&
                core.has_reply_to && memcmp(core.reply_to, msg_id, RK_MSGID_LEN) == 0;
        rk_core_clear(&core);
        rk_envelope_clear(&env);
        if (match)
            break;
    }
    *us = (bench_now() - t0) * 1e6;
    return 0;
}

/* Takes in whatever is still arriving (results, notices) for a moment. */
static void lat_settle(bench_load_t *l, double secs)
{
    double deadline = bench_now() + secs;
    rk_envelope_t env;
    while (bench_now() < deadline) {
        int a = lat_recv(l, &l->s[0], &env, bench_now() + 0.01);
        int b = lat_recv(l, &l->r[0], &env, bench_now() + 0.01);
        if (a == 1 || b == 1)
            rk_envelope_clear(&env);
        if (a < 0 && b < 0)
            break;
    }
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int bench_load_latency(bench_load_t *l, size_t samples, size_t payload, const atomic_int *load,
                       bench_series_t *out, char *why, size_t why_len)
{
    uint8_t *what;
    int rc = 0;
    if (!l->connected) {
        why_set(why, why_len, "not connected");
        return -1;
    }
    what = make_what(&l->s[0], &l->r[0], payload);
    if (what == NULL) {
        why_set(why, why_len, "out of memory");
        return -1;
    }
    for (size_t i = 0, waits = 0; i < samples && rc == 0;) {
        double us;
        bool loaded = true;
        if (load != NULL) {
            if (!atomic_load(load)) {
                if (++waits > 60000) { /* a minute without load */
                    why_set(why, why_len, "the background load stopped");
                    rc = -1;
                    break;
                }
                nap_ms(1);
                continue;
            }
            waits = 0;
        }
        rc = lat_one(l, what, what_size(payload), &us, why, why_len);
        if (load != NULL && !atomic_load(load))
            loaded = false;
        if (rc != 0 || !loaded)
            continue;
        i++;
        if (bench_series_add(out, us) != 0) {
            why_set(why, why_len, "out of memory");
            rc = -1;
        }
    }
    free(what);
    lat_settle(l, 0.2);
    return rc;
}
