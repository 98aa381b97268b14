/*
 * session.h - one client connection to the hub, speaking its protocol.
 *
 * The one client layer of Renkei: the agent library, renkei-audit and
 * renkei-bench all reach the hub through it.  A session is one ZeroMQ
 * DEALER socket with CURVE (the hub's public key, the organization's key
 * pair) plus a PAIR socket reading that socket's monitor events, so that
 * "the hub refused this key", "the handshake failed: probably the wrong hub
 * key" and "the hub does not answer" are told apart, each with its own
 * error and sentence.
 *
 * What it does:
 *   - rk_session_open: the socket, its options, the monitor, the connect;
 *   - rk_session_hello: hello{receive} and the wait for the welcome;
 *   - rk_session_send / rk_session_send_bytes: one client frame out;
 *   - rk_session_poll / rk_session_recv: hub frames in, decoded;
 *   - rk_session_request: a frame with a req_id out, the answer with the
 *     same req_id back, every other frame meanwhile handed to a hook;
 *   - rk_session_socket: the socket itself, for callers that poll it
 *     among other things or send and receive on a measured hot path.
 *
 * Keys.  The session borrows the identity and the hub's public key only
 * inside rk_session_open, where ZeroMQ copies them into the socket's
 * options; the session itself keeps no copy of the secret key, and
 * ZeroMQ's goes with the socket on rk_session_close (freed, not wiped, by
 * libzmq: the programs that must leave nothing behind have glibc overwrite
 * every freed block, keys/harden.h).  The caller keeps (and wipes) its
 * identity.
 *
 * Plaintext.  Frames are encrypted only on the wire: an encoded client
 * frame holds link codes and envelopes in the clear.  Every frame this
 * module encodes, and the copy it hands ZeroMQ, is wiped before it is
 * freed; every frame it receives is wiped as soon as it is decoded.  A
 * session that makes its own ZeroMQ context turns ZMQ_ZERO_COPY_RECV off,
 * so that each received frame is a block of its own that can be wiped,
 * instead of a slice of ZeroMQ's long-lived receive buffer.  A session
 * given a context (opts.zmq_ctx) leaves the context's options to its owner.
 *
 * Reconnects.  ZeroMQ reconnects by itself.  A session that was welcomed
 * notices the loss and the new handshake through its monitor, greets the
 * hub again with the same hello at once (the hub needs a hello on every new
 * connection) and tells the caller through opts.notice.  The new welcome
 * arrives as an ordinary frame (rk_session_recv returns it after noting it).
 *
 * Threads: a session is used by one thread at a time.  Every `why` is one
 * readable sentence (common/why.h) and never carries a link code.
 */
#ifndef RENKEI_SESSION_H
#define RENKEI_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "wire.h"

#define RK_SESSION_WARN_UNUSED __attribute__((warn_unused_result))

typedef enum rk_session_err {
    RK_SESSION_OK = 0,
    RK_SESSION_EINVAL, /* bad arguments, an endpoint ZeroMQ cannot connect to, a frame that does not encode */
    RK_SESSION_ENOMEM, /* out of memory */
    RK_SESSION_EZMQ,   /* ZeroMQ failed locally */
    RK_SESSION_EINTR,  /* a signal interrupted a wait */
    RK_SESSION_ETIMEOUT,    /* nothing (or not the answer) came in time; a send could not leave in time */
    RK_SESSION_ENOANSWER,   /* no welcome in time: no hub there, or it is not answering */
    RK_SESSION_EKEYREFUSED, /* the hub refused this key: not registered, or suspended */
    RK_SESSION_EHANDSHAKE,  /* the CURVE handshake failed: probably the wrong hub key */
    RK_SESSION_EPROTO,      /* the hub refused the hello, or sent a frame that cannot be read */
} rk_session_err;

/* A short name for err ("the hub refused this key"). */
const char *rk_session_strerror(rk_session_err err);

typedef struct rk_session rk_session_t;

typedef struct rk_session_opts {
    /* The ZeroMQ context to make the socket in, or NULL: the session makes
     * its own (ZMQ_ZERO_COPY_RECV off) and terminates it on close. */
    void *zmq_ctx;
    /* Limit of the CURVE handshake, and of one blocking send (ZMQ_SNDTIMEO);
     * <= 0: ZeroMQ's defaults (no handshake limit, sends block). */
    int timeout_ms;
    int linger_ms;                          /* what rk_session_close waits for unsent frames (0: none) */
    int hwm;                                /* send and receive high-water marks; 0: ZeroMQ's default */
    int reconnect_ivl_ms, reconnect_max_ms; /* 0: ZeroMQ's defaults */
    /* hello{receive}: the hub pushes deliveries and notices to this
     * connection (one receiving connection per organization). */
    bool receive;
    /* A routing id of the caller's choice, or NULL.  The hub answers every
     * frame of such a connection with FORBIDDEN: this is for peers that are
     * not the hub (renkei-bench's bare forwarder addresses its parties by
     * name).  A connection to the hub leaves it NULL. */
    const char *routing_id;
    /* Only named in `why` sentences: the key files the keys came from (NULL:
     * not named). */
    const char *key_path;
    const char *hub_path;
    /* Told what happens to the connection after the welcome (lost, back,
     * refused on reconnect) and frames that were ignored; NULL: nobody. */
    void (*notice)(void *arg, const char *text);
    void *notice_arg;
} rk_session_opts;

/* What the hub's welcome said. */
typedef struct rk_session_welcome {
    char org[RK_ID_MAX + 1]; /* the organization the hub admitted this key as */
    char kind[RK_KIND_MAX + 1];
    uint64_t hub_time_ms;
    uint32_t max_payload;
    bool has_hub_key;          /* the hub announces (or just made) a change of its key: */
    rk_hub_key_stmt_t hub_key; /* the statement, not checked here (the caller trusts a key) */
    uint64_t restored_at;      /* the hub's newest restore from a backup: its log entry; 0: none */
    uint64_t restored_backup_ms; /* when that backup was taken */
} rk_session_welcome;

/* Makes the socket, sets its keys and options, attaches the monitor and
 * connects to endpoint (nothing is sent: the handshake runs in ZeroMQ's
 * background).  hub: the hub's public key (only its curve_pk is used); id:
 * this organization's key pair (both only read here); opts may be NULL
 * (all defaults: own context, no linger, ZeroMQ's timeouts).  On success
 * *out is the session; on failure *out is NULL and `why` says what went
 * wrong: EINVAL for an endpoint ZeroMQ cannot connect to (the sentence
 * names the expected form), EZMQ or ENOMEM for local failures. */
rk_session_err rk_session_open(const char *endpoint, const rk_pubkey_t *hub, const rk_identity_t *id,
                               const rk_session_opts *opts, rk_session_t **out, char *why,
                               size_t why_len) RK_SESSION_WARN_UNUSED;

/* Closes the sockets (and the context the session made), wipes and frees
 * *s and sets it to NULL.  discard: drop frames not yet sent instead of
 * lingering opts.linger_ms (the connection failed; nobody takes them).
 * Accepts NULL. */
void rk_session_close(rk_session_t **s, bool discard);

/* Sends hello{opts.receive} and waits up to timeout_ms for the welcome.
 * Frames other than the welcome that arrive meanwhile go to hook (below;
 * NULL: cleared and dropped).  Errors, each with its sentence:
 *   EKEYREFUSED  the hub's ZAP handler refused the key (names key_path);
 *   EHANDSHAKE   the handshake failed or the hub dropped the connection
 *                during it: what a wrong hub key looks like (names
 *                hub_path, "is --hub-key (...) the hub's public key?");
 *   ENOANSWER    nothing within timeout_ms: "no answer from the hub at E
 *                within S s: is renkei-hub running there?";
 *   EPROTO       the hub answered the hello with a refusal (a RESULT about
 *                no message): its status and detail;
 *   others       the hello could not be sent ("could not greet the hub"),
 *                or the hook's error. */
rk_session_err rk_session_hello(rk_session_t *s, int timeout_ms,
                                rk_session_err (*hook)(void *arg, rk_hub_frame_t *f, char *why,
                                                       size_t why_len),
                                void *hook_arg, char *why, size_t why_len) RK_SESSION_WARN_UNUSED;

/* The welcome of this connection (zeroed before the first one). */
const rk_session_welcome *rk_session_welcomed(const rk_session_t *s);

/* true once welcomed, while ZeroMQ has not reported the connection lost
 * (after a loss: again from the new handshake on). */
bool rk_session_online(const rk_session_t *s);
/* Whether the hub refused this session's key when ZeroMQ last reconnected
 * after a welcome (the key was replaced, its overlap ended, or the
 * organization was suspended); cleared by the next successful handshake. */
bool rk_session_key_refused(const rk_session_t *s);

/* true while the connection is lost after a welcome and a new connection
 * to the endpoint failed its handshake (or dropped during it) since: what
 * a hub that now presents another key looks like (the hub's key changed,
 * hub/hubkey.h).  False again once a handshake succeeds. */
bool rk_session_reconnect_failing(const rk_session_t *s);

/* The endpoint the session connects to. */
const char *rk_session_endpoint(const rk_session_t *s);

/* Encodes f and sends it; the encoding, and ZeroMQ's copy of it once sent
 * or dropped, are wiped.  Blocks up to opts.timeout_ms while the socket
 * cannot take it: then ETIMEOUT ("could not hand the request to the hub").
 * EINVAL (or ENOMEM) if f does not encode. */
rk_session_err rk_session_send(rk_session_t *s, const rk_client_frame_t *f, char *why,
                               size_t why_len) RK_SESSION_WARN_UNUSED;

/* Sends len already encoded bytes (the caller keeps and wipes buf; ZeroMQ
 * is given a copy that is wiped when it lets go of it).  nowait: ETIMEOUT at
 * once if the frame cannot leave now. */
rk_session_err rk_session_send_bytes(rk_session_t *s, const uint8_t *buf, size_t len, bool nowait, char *why,
                                     size_t why_len) RK_SESSION_WARN_UNUSED;

/* Waits up to timeout_ms (-1: forever) until a frame is waiting or the
 * monitor reported something, and files the monitor's events (which may
 * send a hello after a reconnect).  OK: something happened; ETIMEOUT:
 * nothing did; EINTR; EZMQ. */
rk_session_err rk_session_poll(rk_session_t *s, int timeout_ms, char *why,
                               size_t why_len) RK_SESSION_WARN_UNUSED;

/* Files the monitor's waiting events without waiting. */
void rk_session_events(rk_session_t *s);

/* Receives one hub frame into *f (rk_hub_frame_clear it), waiting up to
 * timeout_ms (0: only what is already there; -1: forever) and filing
 * monitor events meanwhile.  The received bytes are wiped once decoded.  A
 * WELCOME is noted (rk_session_welcomed) and returned like any frame.
 * ETIMEOUT: nothing came; EPROTO: a frame that does not decode or has
 * several parts was consumed and dropped (f is zeroed); ENOMEM; EINTR;
 * EZMQ. */
rk_session_err rk_session_recv(rk_session_t *s, int timeout_ms, rk_hub_frame_t *f, char *why,
                               size_t why_len) RK_SESSION_WARN_UNUSED;

/* Sends req, a frame that carries a req_id (ENROLL, DIRECTORY, LOG_READ,
 * CHECKPOINT, PROOF, DISCLOSE), with a req_id of the session's (written
 * into req), and waits up to timeout_ms for the hub frame that answers it
 * (ENROLLED, DIRECTORY, LOG, CHECKPOINT, PROOF with that req_id), moved
 * into *answer (rk_hub_frame_clear it; its status may still be a refusal).
 *
 * Every other frame that arrives meanwhile (deliveries, results, notices,
 * answers to abandoned requests) is handed to hook, which takes its
 * contents (clears or keeps them) and returns OK to go on waiting or an
 * error (with its sentence in why) that ends the request with that error.
 * With a NULL hook they are cleared and dropped; a frame that does not
 * decode is reported through opts.notice and dropped.
 *
 * ETIMEOUT: no answer within timeout_ms; EINVAL: req carries no req_id;
 * send and receive errors as above.  On failure *answer is zeroed. */
rk_session_err
rk_session_request(rk_session_t *s, rk_client_frame_t *req, int timeout_ms,
                   rk_session_err (*hook)(void *arg, rk_hub_frame_t *f, char *why, size_t why_len),
                   void *hook_arg, rk_hub_frame_t *answer, char *why, size_t why_len) RK_SESSION_WARN_UNUSED;

/* The DEALER socket, for zmq_poll among other sockets and for a caller's
 * own zmq_send/zmq_recv (renkei-bench's measured path).  Owned by the
 * session: never closed by the caller.  Frames read here bypass the
 * session: the caller decodes and wipes them, and a welcome read here is
 * not noted. */
void *rk_session_socket(const rk_session_t *s);

#endif /* RENKEI_SESSION_H */
