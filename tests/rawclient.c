/*
 * rawclient.c - a bare CURVE DEALER connection to the hub for tests.
 */
#include "rawclient.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <zmq.h>

struct rawclient {
    void *ctx;
    void *sock;
    rk_identity_t *id;
};

rawclient_t *rawclient_new(const char *endpoint, const char *hub_pub, const char *key_path)
{
    return rawclient_new_with_id(endpoint, hub_pub, key_path, NULL, 0);
}

rawclient_t *rawclient_new_with_id(const char *endpoint, const char *hub_pub, const char *key_path,
                                   const void *id, size_t id_len)
{
    rawclient_t *rc;
    rk_pubkey_t hub;
    char why[512] = "";
    int linger = 0;

    if (sodium_init() < 0)
        return NULL;
    if (rk_pubkey_load(hub_pub, &hub, why, sizeof why) != RK_KEYS_OK) {
        fprintf(stderr, "rawclient: %s\n", why);
        return NULL;
    }
    rc = calloc(1, sizeof *rc);
    if (rc == NULL)
        return NULL;
    if (rk_identity_load(key_path, &rc->id, why, sizeof why) != RK_KEYS_OK) {
        fprintf(stderr, "rawclient: %s\n", why);
        goto fail;
    }
    rc->ctx = zmq_ctx_new();
    if (rc->ctx == NULL)
        goto fail;
    rc->sock = zmq_socket(rc->ctx, ZMQ_DEALER);
    if (rc->sock == NULL)
        goto fail;
    if (zmq_setsockopt(rc->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(rc->sock, ZMQ_CURVE_SERVERKEY, hub.curve_pk, RK_KEY_LEN) != 0 ||
        zmq_setsockopt(rc->sock, ZMQ_CURVE_PUBLICKEY, rc->id->pub.curve_pk, RK_KEY_LEN) != 0 ||
        zmq_setsockopt(rc->sock, ZMQ_CURVE_SECRETKEY, rc->id->curve_sk, RK_KEY_LEN) != 0 ||
        (id_len > 0 && zmq_setsockopt(rc->sock, ZMQ_ROUTING_ID, id, id_len) != 0)) {
        fprintf(stderr, "rawclient: socket setup: %s\n", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zmq_connect(rc->sock, endpoint) != 0) {
        fprintf(stderr, "rawclient: connect %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    return rc;
fail:
    rawclient_destroy(&rc);
    return NULL;
}

void rawclient_destroy(rawclient_t **rcp)
{
    rawclient_t *rc;
    if (rcp == NULL || *rcp == NULL)
        return;
    rc = *rcp;
    if (rc->sock != NULL)
        zmq_close(rc->sock);
    if (rc->ctx != NULL)
        zmq_ctx_term(rc->ctx);
    rk_identity_destroy(&rc->id);
    free(rc);
    *rcp = NULL;
}

const rk_identity_t *rawclient_identity(const rawclient_t *rc) { return rc->id; }

int rawclient_send_bytes(rawclient_t *rc, const void *buf, size_t len)
{
    return zmq_send(rc->sock, buf, len, 0) == (int)len ? 0 : -1;
}

int rawclient_send_frame(rawclient_t *rc, const rk_client_frame_t *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rv;
    if (rk_client_frame_encode(f, &buf, &len) != RK_WIRE_OK) {
        fprintf(stderr, "rawclient: cannot encode frame\n");
        return -1;
    }
    rv = rawclient_send_bytes(rc, buf, len);
    free(buf);
    return rv;
}

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int rawclient_recv(rawclient_t *rc, rk_hub_frame_t *f, int timeout_ms)
{
    zmq_pollitem_t it = {rc->sock, 0, ZMQ_POLLIN, 0};
    zmq_msg_t msg;
    char why[256] = "";
    int rv;

    memset(f, 0, sizeof *f);
    rv = zmq_poll(&it, 1, timeout_ms);
    if (rv <= 0)
        return 1;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, rc->sock, 0) < 0) {
        zmq_msg_close(&msg);
        return -1;
    }
    if (rk_hub_frame_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), f, why, sizeof why) !=
        RK_WIRE_OK) {
        fprintf(stderr, "rawclient: hub frame does not decode: %s\n", why);
        zmq_msg_close(&msg);
        return -1;
    }
    zmq_msg_close(&msg);
    /* Like a well-behaved agent, acknowledge deliveries and notices at once
     * so the hub does not push them again. */
    if (f->kind == RK_HF_DELIVER || f->kind == RK_HF_NOTICE) {
        rk_client_frame_t ack;
        memset(&ack, 0, sizeof ack);
        ack.kind = RK_CF_ACK;
        ack.u.ack.n = 1;
        ack.u.ack.seq[0] = f->kind == RK_HF_DELIVER ? f->u.deliver.seq : f->u.notice.seq;
        if (rawclient_send_frame(rc, &ack) != 0)
            return -1;
    }
    return 0;
}

int rawclient_recv_kind(rawclient_t *rc, rk_hf_kind kind, rk_hub_frame_t *f, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        int rv;
        if (left < 0)
            left = 0;
        rv = rawclient_recv(rc, f, (int)left);
        if (rv != 0)
            return rv;
        if (f->kind == kind)
            return 0;
        rk_hub_frame_clear(f);
        if (left == 0)
            return 1;
    }
}

int rawclient_delivered_before_answer(rawclient_t *rc, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    uint64_t req_id = randombytes_random() | (uint64_t)1 << 40;
    rk_client_frame_t cf;
    rk_hub_frame_t hf;

    memset(&cf, 0, sizeof cf);
    cf.kind = RK_CF_DIRECTORY;
    cf.u.directory.req_id = req_id;
    if (rawclient_send_frame(rc, &cf) != 0)
        return -1;
    for (;;) {
        long long left = deadline - now_ms();
        bool deliver, answer;
        if (rawclient_recv(rc, &hf, left > 0 ? (int)left : 0) != 0)
            return -1;
        deliver = hf.kind == RK_HF_DELIVER;
        answer = (hf.kind == RK_HF_DIRECTORY && hf.u.directory.req_id == req_id) || hf.kind == RK_HF_RESULT;
        rk_hub_frame_clear(&hf);
        if (deliver)
            return 1;
        if (answer)
            return 0;
    }
}

int rawclient_hello(rawclient_t *rc, bool receive, char *org_out, int timeout_ms)
{
    rk_client_frame_t cf;
    rk_hub_frame_t hf;
    int rv;

    memset(&cf, 0, sizeof cf);
    cf.kind = RK_CF_HELLO;
    cf.u.hello.receive = receive;
    if (rawclient_send_frame(rc, &cf) != 0)
        return -1;
    rv = rawclient_recv_kind(rc, RK_HF_WELCOME, &hf, timeout_ms);
    if (rv != 0)
        return rv;
    if (org_out != NULL)
        snprintf(org_out, RK_ID_MAX + 1, "%s", hf.u.welcome.org);
    rk_hub_frame_clear(&hf);
    return 0;
}

int rawclient_enroll(rawclient_t *rc, uint8_t code[RK_CODE_LEN], int timeout_ms)
{
    rk_client_frame_t cf;
    rk_hub_frame_t hf;
    int ok;

    memset(&cf, 0, sizeof cf);
    cf.kind = RK_CF_ENROLL;
    cf.u.enroll.req_id = 4242;
    if (rawclient_send_frame(rc, &cf) != 0)
        return -1;
    if (rawclient_recv_kind(rc, RK_HF_ENROLLED, &hf, timeout_ms) != 0)
        return -1;
    ok = hf.u.enrolled.status == RK_ST_ACCEPTED && hf.u.enrolled.req_id == 4242;
    if (ok)
        memcpy(code, hf.u.enrolled.code, RK_CODE_LEN);
    rk_hub_frame_clear(&hf);
    return ok ? 0 : -1;
}

uint8_t *rawclient_box_unpadded(const rawclient_t *rc, const uint8_t recipient_curve_pk[RK_KEY_LEN],
                                const void *plain, size_t plain_len, size_t *out_len)
{
    size_t n = crypto_box_NONCEBYTES + crypto_box_MACBYTES + plain_len;
    uint8_t *out = malloc(n);
    if (out == NULL)
        return NULL;
    randombytes_buf(out, crypto_box_NONCEBYTES);
    if (crypto_box_easy(out + crypto_box_NONCEBYTES, plain, plain_len, out, recipient_curve_pk,
                        rc->id->curve_sk) != 0) {
        free(out);
        return NULL;
    }
    *out_len = n;
    return out;
}

uint8_t *rawclient_box(const rawclient_t *rc, const uint8_t recipient_curve_pk[RK_KEY_LEN],
                       const void *plain, size_t plain_len, size_t *out_len)
{
    size_t size_class = rk_size_class_for(plain_len), padded_len;
    uint8_t *padded, *out;
    if (size_class == 0)
        return NULL;
    padded_len = size_class - RK_PAD_OVERHEAD;
    padded = malloc(padded_len);
    if (padded == NULL)
        return NULL;
    if (plain_len > 0)
        memcpy(padded, plain, plain_len);
    rk_pad(padded, plain_len, padded_len);
    out = rawclient_box_unpadded(rc, recipient_curve_pk, padded, padded_len, out_len);
    sodium_memzero(padded, padded_len);
    free(padded);
    return out;
}

char *rawclient_unbox(const rawclient_t *rc, const uint8_t sender_curve_pk[RK_KEY_LEN],
                      const uint8_t *what, size_t what_len)
{
    size_t n, plain_len = 0;
    char *out;
    if (what_len < crypto_box_NONCEBYTES + crypto_box_MACBYTES)
        return NULL;
    n = what_len - crypto_box_NONCEBYTES - crypto_box_MACBYTES;
    out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    if (crypto_box_open_easy((uint8_t *)out, what + crypto_box_NONCEBYTES,
                             what_len - crypto_box_NONCEBYTES, what, sender_curve_pk,
                             rc->id->curve_sk) != 0 ||
        !rk_unpad((const uint8_t *)out, n, &plain_len)) {
        free(out);
        return NULL;
    }
    out[plain_len] = '\0';
    return out;
}

int rawclient_seal(rawclient_t *rc, const char *from, const char *to, const char *type, const uint8_t *reply_to,
                   const uint8_t who[RK_CODE_LEN], const uint8_t *what, size_t what_len, const uint8_t *sign_sk,
                   rk_client_frame_t *cf, uint8_t msg_id_out[RK_MSGID_LEN])
{
    rk_core_t core;

    memset(&core, 0, sizeof core);
    memset(cf, 0, sizeof *cf);
    snprintf(core.from, sizeof core.from, "%s", from);
    snprintf(core.to, sizeof core.to, "%s", to);
    snprintf(core.type, sizeof core.type, "%s", type);
    randombytes_buf(core.msg_id, RK_MSGID_LEN);
    if (reply_to != NULL) {
        core.has_reply_to = true;
        memcpy(core.reply_to, reply_to, RK_MSGID_LEN);
    }
    core.time_ms = (uint64_t)now_ms();
    core.what = (uint8_t *)what; /* borrowed: never cleared through core */
    core.what_len = what_len;
    cf->kind = RK_CF_SEND;
    if (rk_envelope_seal(&cf->u.send, &core, who, sign_sk != NULL ? sign_sk : rc->id->sign_sk) != RK_WIRE_OK) {
        fprintf(stderr, "rawclient: cannot seal envelope\n");
        return -1;
    }
    if (msg_id_out != NULL)
        memcpy(msg_id_out, core.msg_id, RK_MSGID_LEN);
    return 0;
}

int rawclient_send_envelope(rawclient_t *rc, const char *from, const char *to, const char *type,
                            const uint8_t *reply_to, const uint8_t who[RK_CODE_LEN],
                            const uint8_t *what, size_t what_len, const uint8_t *sign_sk,
                            bool corrupt_sig, uint8_t msg_id_out[RK_MSGID_LEN])
{
    rk_client_frame_t cf;
    int rv;

    if (rawclient_seal(rc, from, to, type, reply_to, who, what, what_len, sign_sk, &cf, msg_id_out) != 0)
        return -1;
    if (corrupt_sig)
        cf.u.send.signature[7] ^= 0x40;
    rv = rawclient_send_frame(rc, &cf);
    rk_envelope_clear(&cf.u.send);
    return rv;
}

int rawclient_wait_result(rawclient_t *rc, const uint8_t *msg_id, rk_result_t *res, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    rk_hub_frame_t hf;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return 1;
        if (rawclient_recv_kind(rc, RK_HF_RESULT, &hf, (int)left) != 0)
            return 1;
        if ((msg_id == NULL && !hf.u.result.has_msg_id) ||
            (msg_id != NULL && hf.u.result.has_msg_id &&
             memcmp(hf.u.result.msg_id, msg_id, RK_MSGID_LEN) == 0)) {
            *res = hf.u.result;
            rk_hub_frame_clear(&hf);
            return 0;
        }
        rk_hub_frame_clear(&hf);
    }
}
