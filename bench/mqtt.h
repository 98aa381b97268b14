/*
 * mqtt.h - renkei-bench's Mosquitto baseline: the same number of
 * publishers and subscribers as the hub run, QoS 1, the same payloads.
 *
 * Publisher i publishes to "bench/uJ" round-robin over the subscribers and
 * keeps `window` messages without PUBACK in flight; subscriber j subscribes
 * to "bench/uJ" at QoS 1.  All clients run in the calling thread.
 */
#ifndef RENKEI_BENCH_MQTT_H
#define RENKEI_BENCH_MQTT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bench_mqtt bench_mqtt_t;

/* true if this build has the Mosquitto client library. */
bool bench_mqtt_built(void);

/* Connects publishers and subscribers to 127.0.0.1:port and subscribes.
 * NULL (reason in why) on failure or when the library is not built in. */
bench_mqtt_t *bench_mqtt_new(int port, size_t publishers, size_t subscribers, size_t window,
                             char *why, size_t why_len);
/* Disconnects every client and frees *m.  Accepts NULL. */
void bench_mqtt_destroy(bench_mqtt_t **m);

/* One timed pass of `count` messages of `payload` bytes: *elapsed_s from
 * the first publish until every message has its PUBACK at the publisher and
 * has arrived at its subscriber.  0 on success, -1 with why. */
int bench_mqtt_pass(bench_mqtt_t *m, size_t payload, size_t count, double *elapsed_s, char *why,
                    size_t why_len) __attribute__((warn_unused_result));

#endif /* RENKEI_BENCH_MQTT_H */
