/*
 * fwd.c - the bare forwarder: the physical limit renkei-bench compares the
 * hub against.
 */
#include "fwd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "keys.h"

static volatile sig_atomic_t fwd_stop;

static void on_signal(int sig)
{
    (void)sig;
    fwd_stop = 1;
}

/* Receives up to 3 parts into m; returns how many, -1 on error. */
static int recv_parts(void *sock, zmq_msg_t m[3])
{
    int n = 0, more = 1;
    size_t more_len = sizeof more;
    while (more) {
        zmq_msg_t *dst = &m[n < 3 ? n : 2];
        if (n >= 3)
            zmq_msg_close(dst);
        zmq_msg_init(dst);
        if (zmq_msg_recv(dst, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(dst);
            return n == 0 ? -1 : n;
        }
        n++;
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len);
    }
    return n < 3 ? n : 3;
}

static void forward(void *sock, zmq_msg_t m[3])
{
    zmq_msg_t from_copy;
    /* m[0] from, m[1] to, m[2] payload */
    if (zmq_msg_size(&m[1]) == 0)
        return; /* a sink's ack: nothing to do */
    zmq_msg_init(&from_copy);
    zmq_msg_copy(&from_copy, &m[0]);
    if (zmq_msg_send(&m[1], sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
        zmq_msg_init(&m[1]);
        if (zmq_msg_send(&from_copy, sock, ZMQ_SNDMORE) >= 0)
            zmq_msg_init(&from_copy);
        if (zmq_msg_send(&m[2], sock, 0) >= 0)
            zmq_msg_init(&m[2]);
    }
    zmq_msg_close(&from_copy);
    /* The sender's answer, like the hub's ACCEPTED. */
    if (zmq_msg_send(&m[0], sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
        zmq_msg_init(&m[0]);
        zmq_send(sock, "", 0, ZMQ_SNDMORE);
        zmq_send(sock, "A", 1, 0);
    }
}

int bench_fwd_main(const char *key_path, const char *bind, const char *ready_file)
{
    rk_identity_t *id = NULL;
    char why[512] = "", ep[256] = "";
    size_t ep_len = sizeof ep;
    void *ctx = NULL, *sock = NULL;
    int one = 1, zero = 0, hwm = 100000, rc = 1;
    FILE *f;

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (sodium_init() < 0) {
        fprintf(stderr, "renkei-bench forwarder: libsodium does not initialize\n");
        return 1;
    }
    if (rk_identity_load(key_path, &id, why, sizeof why) != RK_KEYS_OK) {
        fprintf(stderr, "renkei-bench forwarder: %s\n", why);
        return 1;
    }
    ctx = zmq_ctx_new();
    sock = ctx != NULL ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    if (sock == NULL ||
        zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, id->curve_sk, RK_KEY_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_bind(sock, bind) != 0 ||
        zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, ep, &ep_len) != 0) {
        fprintf(stderr, "renkei-bench forwarder: cannot listen on %s: %s\n", bind,
                zmq_strerror(zmq_errno()));
        goto fail;
    }
    rk_identity_destroy(&id);
    f = fopen(ready_file, "w");
    if (f == NULL || fprintf(f, "%s\n", ep) < 0 || fclose(f) != 0) {
        fprintf(stderr, "renkei-bench forwarder: cannot write %s: %s\n", ready_file,
                strerror(errno));
        goto fail;
    }
    while (!fwd_stop) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 200) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break;
        }
        for (;;) {
            zmq_msg_t m[3];
            int n = recv_parts(sock, m);
            if (n < 0)
                break;
            if (n == 3)
                forward(sock, m);
            for (int i = 0; i < n; i++)
                zmq_msg_close(&m[i]);
        }
    }
    rc = 0;
fail:
    rk_identity_destroy(&id);
    if (sock != NULL)
        zmq_close(sock);
    if (ctx != NULL)
        zmq_ctx_term(ctx);
    return rc;
}
