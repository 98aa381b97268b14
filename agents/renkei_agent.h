/*
 * renkei_agent.h - the library every municipality and utility system links
 * against to talk to the Renkei hub.
 *
 * An agent holds this organization's identity, its own local table of
 * person numbers and link codes (PERSON <-> code, in LMDB), and one CURVE
 * connection to the hub.  The person number never leaves the agent: the hub
 * only ever sees this organization's link code, and payloads are encrypted
 * for their recipient and signed by their sender.
 *
 * Ownership: events returned by rk_agent_recv / rk_agent_wait_reply belong
 * to the caller and are released with rk_event_free, which wipes the payload
 * and the person.  An agent is not thread-safe: use one per thread.
 *
 * Out of memory: every function returns RK_AGENT_ENOMEM; nothing aborts.
 * Error texts (`why`) never carry a person's number or a link code.
 */
#ifndef RENKEI_AGENT_H
#define RENKEI_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Errors of this library.  0 is success; values are only ever appended. */
typedef enum rk_agent_err {
    RK_AGENT_OK = 0,
    RK_AGENT_EINVAL,       /* bad argument (person, code, org id, type, config) */
    RK_AGENT_ENOMEM,       /* allocation failed */
    RK_AGENT_EKEY,         /* a key file could not be loaded (see why) */
    RK_AGENT_ESTORE,       /* the local table (LMDB) failed (see why) */
    RK_AGENT_ENOTFOUND,    /* person or code not in the local table */
    RK_AGENT_ECONFLICT,    /* person bound to another code, or code to another person */
    RK_AGENT_ENOANSWER,    /* the hub did not answer the connection in time */
    RK_AGENT_EKEYREFUSED,  /* the hub refused this organization's key */
    RK_AGENT_EHANDSHAKE,   /* CURVE handshake failed (wrong hub public key?) */
    RK_AGENT_EPROTO,       /* the hub sent something unreadable or unexpected */
    RK_AGENT_EDIRECTORY,   /* the directory's signature is not the hub's */
    RK_AGENT_EUNKNOWN_ORG, /* organization not in the hub's directory */
    RK_AGENT_EREFUSED,     /* refused by the hub or the recipient (see result) */
    RK_AGENT_ETIMEOUT,     /* nothing arrived within the timeout */
    RK_AGENT_EOFFLINE,     /* the agent was opened without a hub connection */
    RK_AGENT_EZMQ,         /* ZeroMQ call failed (see why) */
    RK_AGENT_EBADSIG,      /* envelope signature does not verify */
    RK_AGENT_EUNDECRYPTABLE, /* payload does not decrypt */
    RK_AGENT_EMISROUTED,   /* envelope addressed to another organization */
    RK_AGENT_EINTR,        /* a signal interrupted the wait */
    RK_AGENT_ENOSTORE,     /* the agent was opened without a data directory */
} rk_agent_err;

/* A fixed English sentence for err (never NULL). */
const char *rk_agent_strerror(rk_agent_err err);

#define RK_PERSON_MAX 64 /* a person's number: 1..64 printable ASCII characters */

/* true if s can be used as a person's number in the local table. */
bool rk_person_valid(const char *s);

typedef struct rk_agent rk_agent_t;

typedef struct rk_agent_config {
    const char *endpoint;  /* e.g. "tcp://127.0.0.1:7750"; NULL: that default */
    const char *hub_pub;   /* path of the hub's public key file (hub.pub) */
    const char *key;       /* path of this organization's secret key file */
    const char *data_dir;  /* local table directory (created 0700); NULL: none */
    int timeout_ms;        /* connection and request timeout; <= 0: 10000 */
    bool receive;          /* become this organization's receiver of requests */
    bool offline;          /* do not connect (local table only; key optional) */
    /* Optional: told about connection changes after open (lost, back). */
    void (*notice)(void *ctx, const char *text);
    void *notice_ctx;
} rk_agent_config;

/* Opens an agent: loads the keys, opens the local table and, unless
 * cfg->offline, connects to the hub, says hello, checks the welcome names
 * this key's organization and fetches the hub-signed directory.  On failure
 * *out is NULL and why says what went wrong and what to do. */
rk_agent_err rk_agent_open(const rk_agent_config *cfg, rk_agent_t **out, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* Connects an agent opened offline (as rk_agent_open does otherwise).  On
 * failure the agent stays offline and usable for local calls. */
rk_agent_err rk_agent_connect(rk_agent_t *a, char *why, size_t why_len) RK_WARN_UNUSED;

/* Closes the connection and the table, wipes the keys, sets *a to NULL.
 * Accepts NULL. */
void rk_agent_close(rk_agent_t **a);

/* The organization id this agent is (from the welcome, else the key file),
 * and its kind ("municipality", ...; "" until connected). */
const char *rk_agent_org(const rk_agent_t *a);
const char *rk_agent_kind(const rk_agent_t *a);
/* The directory as last fetched (NULL offline). */
const rk_dir_t *rk_agent_directory(const rk_agent_t *a);

/* ------------------------------------------------------------ local table */

/* This organization's code for person.  RK_AGENT_ENOTFOUND if none. */
rk_agent_err rk_agent_lookup(rk_agent_t *a, const char *person, uint8_t code[RK_CODE_LEN],
                             char *why, size_t why_len) RK_WARN_UNUSED;

/* Records person <-> code (a code received in a first-contact delivery).
 * Binding the same pair again is OK; RK_AGENT_ECONFLICT if either side is
 * bound to something else.  Nothing is written on failure. */
rk_agent_err rk_agent_bind(rk_agent_t *a, const char *person, const uint8_t code[RK_CODE_LEN],
                           char *why, size_t why_len) RK_WARN_UNUSED;

/* Asks the hub for a new link code for person (municipalities only) and
 * records it.  If person already has a code, returns it with *existed set
 * and asks the hub nothing (works offline then).  RK_AGENT_EREFUSED with
 * *refusal filled (may be NULL) if the hub says no. */
rk_agent_err rk_agent_enroll(rk_agent_t *a, const char *person, uint8_t code[RK_CODE_LEN],
                             bool *existed, rk_result_t *refusal, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* ------------------------------------------------------------- messages */

typedef struct rk_outgoing {
    const char *to;       /* recipient org id */
    const char *type;     /* procedure type */
    const char *person;   /* the person, looked up in the local table, or */
    const uint8_t *code;  /* this org's link code (RK_CODE_LEN bytes) */
    const uint8_t *payload;
    size_t payload_len;   /* 1.. bytes */
    const uint8_t *reply_to; /* NULL, or the msg_id answered (RK_MSGID_LEN) */
} rk_outgoing;

/* Encrypts, signs and sends m, then waits for the hub's result.  msg_id
 * receives the message's id as soon as it is chosen.  RK_AGENT_OK when
 * ACCEPTED (result->seq set); RK_AGENT_EREFUSED with result filled when the
 * hub refused (or, as UNKNOWN_RECIPIENT, when m->to is not in the directory); RK_AGENT_ETIMEOUT if no result came.  Frames arriving
 * meanwhile are kept for rk_agent_recv. */
rk_agent_err rk_agent_send(rk_agent_t *a, const rk_outgoing *m, uint8_t msg_id[RK_MSGID_LEN],
                           rk_result_t *result, char *why, size_t why_len) RK_WARN_UNUSED;

typedef enum rk_event_kind {
    RK_EVENT_MESSAGE = 1, /* a delivered message, verified and decrypted */
    RK_EVENT_RESULT = 2,  /* a result for something sent earlier (e.g. REFUSED_BY_RECIPIENT) */
    RK_EVENT_REFUSED = 3, /* this agent refused a delivery (bad signature, ...) and told the hub */
} rk_event_kind;

typedef struct rk_event {
    rk_event_kind kind;
    /* MESSAGE and REFUSED (REFUSED: whatever could be read) */
    char from[RK_ID_MAX + 1];
    char to[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    uint8_t msg_id[RK_MSGID_LEN];
    bool has_reply_to;
    uint8_t reply_to[RK_MSGID_LEN];
    uint8_t code[RK_CODE_LEN]; /* this org's own link code for the person */
    char *person;              /* bound person, or NULL */
    bool first_contact;
    uint64_t seq;
    uint64_t time_ms;
    uint8_t *payload; /* decrypted */
    size_t payload_len;
    /* RESULT: the hub's result; REFUSED: status = the reason sent to the hub */
    rk_result_t result;
    char detail[RK_DETAIL_MAX + 1]; /* REFUSED: what was wrong */
} rk_event;

/* Wipes and frees *ev; sets it to NULL.  Accepts NULL. */
void rk_event_free(rk_event **ev);

/* Next event, waiting up to timeout_ms (< 0: forever).  Deliveries are
 * checked (addressed here, signed by the sender in the directory, payload
 * decrypts); one that fails is refused to the hub and returned as
 * RK_EVENT_REFUSED.  RK_AGENT_ETIMEOUT if nothing came, RK_AGENT_EINTR if a
 * signal interrupted.  *ev is NULL on failure. */
rk_agent_err rk_agent_recv(rk_agent_t *a, int timeout_ms, rk_event **ev, char *why, size_t why_len)
    RK_WARN_UNUSED;

/* Waits up to timeout_ms for the reply to msg_id, or for a result naming it
 * (REFUSED_BY_RECIPIENT), keeping other events for rk_agent_recv. */
rk_agent_err rk_agent_wait_reply(rk_agent_t *a, const uint8_t msg_id[RK_MSGID_LEN], int timeout_ms,
                                 rk_event **reply, char *why, size_t why_len) RK_WARN_UNUSED;

/* Replies to a delivered request: to = request->from, same type, reply_to =
 * request->msg_id, who = the code it came with.  As rk_agent_send. */
rk_agent_err rk_agent_reply(rk_agent_t *a, const rk_event *request, const uint8_t *payload,
                            size_t len, uint8_t msg_id[RK_MSGID_LEN], rk_result_t *result,
                            char *why, size_t why_len) RK_WARN_UNUSED;

/* Fetches the directory again (e.g. after an organization changed keys). */
rk_agent_err rk_agent_refresh_directory(rk_agent_t *a, char *why, size_t why_len) RK_WARN_UNUSED;

#endif /* RENKEI_AGENT_H */
