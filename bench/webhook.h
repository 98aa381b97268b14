/*
 * webhook.h - renkei-bench's webhook measurement: deliveries/s from one
 * sender agent through the hub to `renkei-agent serve --webhook URL`, whose
 * back office is a minimal HTTP server here (libmicrohttpd) answering {}
 * to each POST, beside the same deliveries taken by the agent library
 * itself (rk_agent_recv + rk_agent_done in this process) as the baseline.
 *
 * Both runs queue N notices at the hub first (the receiver offline), then
 * start the receiver and time from the first delivery it hands over to the
 * last: what the receiving side sustains, not the sender.
 */
#ifndef RENKEI_BENCH_WEBHOOK_H
#define RENKEI_BENCH_WEBHOOK_H

#include <stddef.h>

typedef struct bench_webhook bench_webhook_t;

/* Makes the two identities (a municipality sending, a utility receiving)
 * as KEY_DIR/NAME.key and .pub; data directories go under data_dir;
 * bin_dir holds renkei-agent; hub_pub is the hub's public key file.  NULL
 * (reason in why) on failure. */
bench_webhook_t *bench_webhook_new(const char *key_dir, const char *data_dir, const char *hub_pub,
                                   const char *bin_dir, char *why, size_t why_len);
void bench_webhook_destroy(bench_webhook_t **w);

/* The organizations to register at the hub before it starts (i < 2). */
const char *bench_webhook_org_name(const bench_webhook_t *w, size_t i);
const char *bench_webhook_org_kind(const bench_webhook_t *w, size_t i);

typedef struct bench_webhook_rates {
    double webhook_per_s; /* deliveries/s through serve --webhook */
    double library_per_s; /* deliveries/s taken by the library in-process */
} bench_webhook_rates_t;

/* One run of each with n deliveries through the hub at endpoint.  0 on
 * success, -1 with why. */
int bench_webhook_run(bench_webhook_t *w, const char *endpoint, size_t n, bench_webhook_rates_t *out,
                      char *why, size_t why_len) __attribute__((warn_unused_result));

#endif /* RENKEI_BENCH_WEBHOOK_H */
