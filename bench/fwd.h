/*
 * fwd.h - the bare forwarder: the physical limit renkei-bench compares the
 * hub against.
 *
 * A ZeroMQ ROUTER with CURVE (any client key admitted: no ZAP, no store
 * lookups), no translation, no storage.  A client sends [to][payload]; the
 * forwarder hands [from][payload] to the client whose routing id is `to`
 * and answers the sender [""]["A"].  A frame with an empty `to` (a sink's
 * ack) is dropped.  Runs until SIGTERM or SIGINT.
 */
#ifndef RENKEI_BENCH_FWD_H
#define RENKEI_BENCH_FWD_H

/* Serves on bind (e.g. tcp://127.0.0.1:*) with the secret key in key_path
 * (a NAME.key file) and writes the bound endpoint and a newline to
 * ready_file.  Returns the process exit status: 0 after a signal, 1 if it
 * could not start (reason on stderr). */
int bench_fwd_main(const char *key_path, const char *bind, const char *ready_file);

#endif /* RENKEI_BENCH_FWD_H */
