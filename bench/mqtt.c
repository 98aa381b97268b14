/*
 * mqtt.c - renkei-bench's Mosquitto baseline.
 */
#include "mqtt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

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

#ifndef RENKEI_BENCH_MOSQUITTO

bool bench_mqtt_built(void) { return false; }

bench_mqtt_t *bench_mqtt_new(int port, size_t publishers, size_t subscribers, size_t window,
                             char *why, size_t why_len)
{
    (void)port, (void)publishers, (void)subscribers, (void)window;
    why_set(why, why_len, "renkei-bench was built without libmosquitto");
    return NULL;
}

void bench_mqtt_destroy(bench_mqtt_t **m)
{
    if (m != NULL)
        *m = NULL;
}

int bench_mqtt_pass(bench_mqtt_t *m, size_t payload, size_t count, double *elapsed_s, char *why,
                    size_t why_len)
{
    (void)m, (void)payload, (void)count, (void)elapsed_s;
    why_set(why, why_len, "renkei-bench was built without libmosquitto");
    return -1;
}

#else

#include <poll.h>

#include <mosquitto.h>

typedef struct client {
    struct mosquitto *mq;
    struct bench_mqtt *owner;
    bool is_pub;
    bool connected, subscribed;
    int conn_rc;
    size_t outstanding; /* publishers: sent without PUBACK */
    size_t next;        /* publishers: next message index */
} client_t;

struct bench_mqtt {
    client_t *c;
    size_t n_pub, n_sub, window;
    size_t acked, received;
    struct pollfd *pfd;
};

bool bench_mqtt_built(void) { return true; }

static void on_connect(struct mosquitto *mq, void *obj, int rc)
{
    client_t *c = obj;
    (void)mq;
    c->conn_rc = rc;
    c->connected = rc == 0;
}

static void on_subscribe(struct mosquitto *mq, void *obj, int mid, int n, const int *granted)
{
    client_t *c = obj;
    (void)mq, (void)mid;
    c->subscribed = n == 1 && granted[0] == 1;
}

static void on_publish(struct mosquitto *mq, void *obj, int mid)
{
    client_t *c = obj;
    (void)mq, (void)mid;
    if (c->outstanding > 0)
        c->outstanding--;
    c->owner->acked++;
}

static void on_message(struct mosquitto *mq, void *obj, const struct mosquitto_message *msg)
{
    client_t *c = obj;
    (void)mq, (void)msg;
    c->owner->received++;
}

/* Polls every client socket up to timeout_ms and runs their I/O. */
static int pump(bench_mqtt_t *m, int timeout_ms)
{
    size_t n = m->n_pub + m->n_sub;
    for (size_t i = 0; i < n; i++) {
        m->pfd[i].fd = mosquitto_socket(m->c[i].mq);
        m->pfd[i].events = POLLIN | (mosquitto_want_write(m->c[i].mq) ? POLLOUT : 0);
        m->pfd[i].revents = 0;
    }
    if (poll(m->pfd, n, timeout_ms) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct mosquitto *mq = m->c[i].mq;
        if ((m->pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) &&
            mosquitto_loop_read(mq, 64) != MOSQ_ERR_SUCCESS)
            return -1;
        if (mosquitto_want_write(mq) && mosquitto_loop_write(mq, 64) != MOSQ_ERR_SUCCESS)
            return -1;
        if (mosquitto_loop_misc(mq) != MOSQ_ERR_SUCCESS)
            return -1;
    }
    return 0;
}

bench_mqtt_t *bench_mqtt_new(int port, size_t publishers, size_t subscribers, size_t window,
                             char *why, size_t why_len)
{
    bench_mqtt_t *m = calloc(1, sizeof *m);
    size_t n = publishers + subscribers;
    double deadline;
    if (m == NULL)
        return NULL;
    mosquitto_lib_init();
    m->n_pub = publishers;
    m->n_sub = subscribers;
    m->window = window;
    m->c = calloc(n, sizeof *m->c);
    m->pfd = calloc(n, sizeof *m->pfd);
    if (m->c == NULL || m->pfd == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        client_t *c = &m->c[i];
        char id[32];
        c->owner = m;
        c->is_pub = i < publishers;
        snprintf(id, sizeof id, "bench-%s%zu", c->is_pub ? "p" : "s", i);
        c->mq = mosquitto_new(id, true, c);
        if (c->mq == NULL) {
            why_set(why, why_len, "mosquitto_new failed");
            goto fail;
        }
        mosquitto_connect_callback_set(c->mq, on_connect);
        mosquitto_subscribe_callback_set(c->mq, on_subscribe);
        mosquitto_publish_callback_set(c->mq, on_publish);
        mosquitto_message_callback_set(c->mq, on_message);
        mosquitto_max_inflight_messages_set(c->mq, 0);
        mosquitto_int_option(c->mq, MOSQ_OPT_TCP_NODELAY, 1);
        if (mosquitto_connect(c->mq, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
            why_set(why, why_len, "cannot connect to 127.0.0.1:%d", port);
            goto fail;
        }
    }
    deadline = bench_now() + 10;
    for (;;) {
        size_t ready = 0;
        for (size_t i = 0; i < n; i++) {
            client_t *c = &m->c[i];
            if (c->connected && !c->is_pub && !c->subscribed && c->conn_rc == 0 && c->next == 0) {
                char topic[32];
                snprintf(topic, sizeof topic, "bench/u%zu", i - publishers);
                if (mosquitto_subscribe(c->mq, NULL, topic, 1) != MOSQ_ERR_SUCCESS) {
                    why_set(why, why_len, "subscribe failed");
                    goto fail;
                }
                c->next = 1; /* subscription requested */
            }
            if (c->connected && (c->is_pub || c->subscribed))
                ready++;
        }
        if (ready == n)
            break;
        if (bench_now() > deadline || pump(m, 50) != 0) {
            why_set(why, why_len, "clients not connected and subscribed within 10 s");
            goto fail;
        }
    }
    return m;
fail:
    bench_mqtt_destroy(&m);
    return NULL;
}

void bench_mqtt_destroy(bench_mqtt_t **mp)
{
    bench_mqtt_t *m;
    if (mp == NULL || *mp == NULL)
        return;
    m = *mp;
    for (size_t i = 0; m->c != NULL && i < m->n_pub + m->n_sub; i++)
        if (m->c[i].mq != NULL) {
            mosquitto_disconnect(m->c[i].mq);
            mosquitto_destroy(m->c[i].mq);
        }
    free(m->c);
    free(m->pfd);
    free(m);
    mosquitto_lib_cleanup();
    *mp = NULL;
}

int bench_mqtt_pass(bench_mqtt_t *m, size_t payload, size_t count, double *elapsed_s, char *why,
                    size_t why_len)
{
    uint8_t *buf = calloc(1, payload);
    double t0, deadline;
    if (buf == NULL)
        return -1;
    for (size_t i = 0; i < payload; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    m->acked = m->received = 0;
    for (size_t i = 0; i < m->n_pub; i++) {
        m->c[i].next = i;
        m->c[i].outstanding = 0;
    }
    t0 = bench_now();
    deadline = t0 + 60.0 + (double)count / 200.0;
    while (m->acked < count || m->received < count) {
        for (size_t i = 0; i < m->n_pub; i++) {
            client_t *c = &m->c[i];
            while (c->outstanding < m->window && c->next < count) {
                char topic[32];
                snprintf(topic, sizeof topic, "bench/u%zu", (c->next / m->n_pub) % m->n_sub);
                if (mosquitto_publish(c->mq, NULL, topic, (int)payload, buf, 1, false) !=
                    MOSQ_ERR_SUCCESS) {
                    why_set(why, why_len, "publish failed");
                    free(buf);
                    return -1;
                }
                c->outstanding++;
                c->next += m->n_pub;
            }
        }
        if (pump(m, 100) != 0) {
            why_set(why, why_len, "the connection to mosquitto broke");
            free(buf);
            return -1;
        }
        if (bench_now() > deadline) {
            why_set(why, why_len, "timed out: %zu of %zu acknowledged, %zu received", m->acked,
                    count, m->received);
            free(buf);
            return -1;
        }
    }
    *elapsed_s = bench_now() - t0;
    free(buf);
    return 0;
}

#endif
