/*
 * renkei/agent.h - the library every municipality and utility system links
 * against to talk to the Renkei hub.
 *
 * An agent holds this organization's identity, its own local table of
 * person numbers and link codes (PERSON <-> code, in LMDB), and one CURVE
 * connection to the hub.  The person number never leaves the agent: the hub
 * only ever sees this organization's link code, and payloads are encrypted
 * for their recipient and signed by their sender.
 *
 * Nothing is lost: with a data directory, every message sent is committed
 * to the agent's outbox (LMDB) before it leaves, and re-sent until the hub
 * accepts or refuses it; every delivery is committed to the inbox before
 * the hub is told (Ack), kept once per (sender, msg_id), and handed out
 * NEW -> CLAIMED -> DONE, so that several processes sharing one data
 * directory hand each message to exactly one of them.
 *
 * Ownership: events returned by rk_agent_recv / rk_agent_wait_reply belong
 * to the caller and are released with rk_event_free, which wipes the payload
 * and the person.  An agent is not thread-safe: use one per thread.
 *
 * Out of memory: every function returns RK_AGENT_ENOMEM; nothing aborts.
 * Error texts (`why`) never carry a person's number or a link code.
 *
 * Build with `pkg-config --cflags --libs renkei-agent` (librenkei-agent.so;
 * add --static for librenkei-agent.a).  This header and renkei/protocol.h
 * use standard C types only.
 */
#ifndef RENKEI_AGENT_H
#define RENKEI_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <renkei/protocol.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Errors of this library.  0 is success; values are only ever appended. */
typedef enum rk_agent_err {
    RK_AGENT_OK = 0,
    RK_AGENT_EINVAL,         /* bad argument (person, code, org id, type, config) */
    RK_AGENT_ENOMEM,         /* allocation failed */
    RK_AGENT_EKEY,           /* a key file could not be loaded (see why) */
    RK_AGENT_ESTORE,         /* the local table (LMDB) failed (see why) */
    RK_AGENT_ENOTFOUND,      /* person or code not in the local table */
    RK_AGENT_ECONFLICT,      /* person bound to another code, or code to another person */
    RK_AGENT_ENOANSWER,      /* the hub did not answer the connection in time */
    RK_AGENT_EKEYREFUSED,    /* the hub refused this organization's key */
    RK_AGENT_EHANDSHAKE,     /* CURVE handshake failed (wrong hub public key?) */
    RK_AGENT_EPROTO,         /* the hub sent something unreadable or unexpected */
    RK_AGENT_EDIRECTORY,     /* the directory's signature is not the hub's */
    RK_AGENT_EUNKNOWN_ORG,   /* organization not in the hub's directory */
    RK_AGENT_EREFUSED,       /* refused by the hub or the recipient (see result) */
    RK_AGENT_ETIMEOUT,       /* nothing arrived within the timeout */
    RK_AGENT_EOFFLINE,       /* the agent was opened without a hub connection */
    RK_AGENT_EZMQ,           /* ZeroMQ call failed (see why) */
    RK_AGENT_EBADSIG,        /* envelope signature does not verify */
    RK_AGENT_EUNDECRYPTABLE, /* payload does not decrypt */
    RK_AGENT_EMISROUTED,     /* envelope addressed to another organization */
    RK_AGENT_EINTR,          /* a signal interrupted the wait */
    RK_AGENT_ENOSTORE,       /* the agent was opened without a data directory */
    RK_AGENT_EPENDING,       /* not accepted by the hub yet: kept in the outbox and
                              re-sent automatically (same msg_id, same bytes) */
    RK_AGENT_EPROOF,         /* the routing log does not prove what it should: bad
                              checkpoint signature, proof or entry (see why) */
    RK_AGENT_EUNVERIFIED,    /* a receipt could not be checked in full: the hub did
                              not provide the entry (see rk_receipt) */
    RK_AGENT_ECRYPTO,        /* libsodium could not be initialized (no usable
                              random source, or an unsupported CPU) */
} rk_agent_err;

/* A fixed English sentence for err (never NULL). */
const char *rk_agent_strerror(rk_agent_err err);

#define RK_PERSON_MAX 64 /* a person's number: 1..64 printable ASCII characters */

/* true if s can be used as a person's number in the local table. */
bool rk_person_valid(const char *s);

typedef struct rk_agent rk_agent_t;

/* How to open an agent.  Fill it with rk_agent_config_init first, then set
 * what differs from the defaults: fields are only ever appended, and a
 * program built against an older (smaller) version of this struct keeps
 * working with a newer library, which sees struct_size and uses its
 * defaults for the fields the program does not know. */
typedef struct rk_agent_config {
    size_t struct_size;   /* set by rk_agent_config_init: sizeof(rk_agent_config) */
    const char *endpoint; /* e.g. "tcp://127.0.0.1:7750"; NULL: that default */
    const char *hub_pub;  /* path of the hub's public key file (hub.pub) */
    const char *key;      /* path of this organization's secret key file */
    const char *data_dir; /* local table directory (created 0700); NULL: none */
    int timeout_ms;       /* connection and request timeout; <= 0: 10000 */
    bool receive;         /* become this organization's receiver of requests */
    bool offline;         /* do not connect (local table only; key optional) */
    /* Optional: told about connection changes after open (lost, back). */
    void (*notice)(void *ctx, const char *text);
    void *notice_ctx;
    /* The hub's routing-log name (its --log-origin), which is also the key
     * name of its checkpoint signatures; NULL: the name the checkpoint
     * itself carries (the hub key's signature over it is still required). */
    const char *log_origin;
    /* The most bytes the data directory's store may take (its LMDB map);
     * 0: 1 GiB.  Once it is full, sends fail with RK_AGENT_ESTORE (nothing
     * recorded) and deliveries stay unacknowledged at the hub, which keeps
     * them, until room returns (a larger map_size, or rk_agent_purge). */
    size_t map_size;
    /* Days a completed message is kept (DONE inbox entries, and answered,
     * refused, expired or delivered-with-no-reply outbox records) before the
     * library deletes it; 0: RK_KEEP_DAYS_DEFAULT.  At least RK_KEEP_DAYS_MIN:
     * the inbox entry is what recognizes a message the hub brings again. */
    int keep_days;
    /* Optional: this organization's key before its rekey (its ORG.key file
     * from before renkei-ctl rekey ... --overlap).  While the hub still
     * admits only it, the agent connects with it; it opens whatever was
     * sealed to it, and whatever was sealed to the new key.  When the hub
     * stops admitting it (the overlap is over) the agent reconnects with
     * `key`.  NULL: none. */
    const char *previous_key;
} rk_agent_config;

#define RK_KEEP_DAYS_DEFAULT 30
#define RK_KEEP_DAYS_MIN 15 /* the hub's default time-to-live (14 days) plus a day */
#define RK_KEEP_DAYS_MAX 36500

/* Sets every field of *cfg to its default (struct_size to the size this
 * program was built with, the rest zero, NULL or false, which the fields
 * above describe).  Callers must call it before setting their own fields
 * and calling rk_agent_open, which refuses a config whose struct_size is 0
 * (not initialized) or larger than the library knows (RK_AGENT_EINVAL). */
void rk_agent_config_init_sized(rk_agent_config *cfg, size_t struct_size);
static inline void rk_agent_config_init(rk_agent_config *cfg)
{
    rk_agent_config_init_sized(cfg, sizeof *cfg); /* the size this program knows */
}

/* Opens an agent: loads the keys, opens the local table and, unless
 * cfg->offline, connects to the hub, says hello, checks the welcome names
 * this key's organization and fetches the hub-signed directory.  On failure
 * *out is NULL and why says what went wrong and what to do. */
rk_agent_err rk_agent_open(const rk_agent_config *cfg, rk_agent_t **out, char *why,
                           size_t why_len) RK_WARN_UNUSED;

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

/* One procedure type of the hub's catalogue (which the directory carries),
 * as this organization sees it. */
#define RK_PROC_TITLE_MAX 200
#define RK_PROC_SELECTORS_MAX 1024
typedef struct rk_procedure {
    char type[RK_TYPE_MAX + 1];
    char title[RK_PROC_TITLE_MAX + 1];
    bool local;                          /* handled inside one municipality: listed, never routed */
    bool may_send;                       /* this organization is among its senders (for a granted
                        * procedure: and some recipient's grant names it) */
    bool may_receive;                    /* this organization is among its recipients */
    bool introduces;                     /* a request of it may reach a person the recipient does not know */
    bool replied;                        /* its recipient answers with a reply */
    bool granted;                        /* each recipient serves only the senders its grant names */
    char follows[RK_TYPE_MAX + 1];       /* "" or the type it answers as a follow-up */
    char senders[RK_PROC_SELECTORS_MAX]; /* as the catalogue writes them */
    char recipients[RK_PROC_SELECTORS_MAX];
    char granted_by[RK_PROC_SELECTORS_MAX]; /* granted: the recipients whose grant
                                             * names this organization, space-separated */
    uint64_t ttl_ms;
} rk_procedure;

/* The catalogue's procedures in type order, from the directory at hand
 * (fetched if there is none and the agent is online).  *list is malloc'd
 * (free it); RK_AGENT_EOFFLINE if no directory is at hand,
 * RK_AGENT_EPROTO if the hub's directory carries no catalogue. */
rk_agent_err rk_agent_procedures(rk_agent_t *a, rk_procedure **list, size_t *n, char *why,
                                 size_t why_len) RK_WARN_UNUSED;

/* ------------------------------------------------------------ local table */

/* This organization's code for person.  RK_AGENT_ENOTFOUND if none. */
rk_agent_err rk_agent_lookup(rk_agent_t *a, const char *person, uint8_t code[RK_CODE_LEN], char *why,
                             size_t why_len) RK_WARN_UNUSED;

/* Records person <-> code (a code received in a first-contact delivery).
 * Binding the same pair again is OK; RK_AGENT_ECONFLICT if either side is
 * bound to something else.  Nothing is written on failure. */
rk_agent_err rk_agent_bind(rk_agent_t *a, const char *person, const uint8_t code[RK_CODE_LEN], char *why,
                           size_t why_len) RK_WARN_UNUSED;

/* Withdraws person's enrollment from the local table: removes person and
 * its code from both directions, the code removed into code (may be NULL).
 * The hub is not asked and keeps the code; enrolling the person again gets
 * a new one, and binding the removed code again undoes this.
 * RK_AGENT_ENOTFOUND if person has no code.  Nothing changes on failure. */
rk_agent_err rk_agent_unbind(rk_agent_t *a, const char *person, uint8_t code[RK_CODE_LEN], char *why,
                             size_t why_len) RK_WARN_UNUSED;

/* Corrects a mistyped number: moves old_person's code to new_person in one
 * transaction (old_person has none after it).  RK_AGENT_ENOTFOUND if
 * old_person has no code, RK_AGENT_ECONFLICT if new_person already has one,
 * RK_AGENT_EINVAL if they are the same.  Nothing changes on failure. */
rk_agent_err rk_agent_rebind(rk_agent_t *a, const char *old_person, const char *new_person, char *why,
                             size_t why_len) RK_WARN_UNUSED;

/* Asks the hub for a new link code for person (municipalities only) and
 * records it.  If person already has a code, returns it with *existed set
 * and asks the hub nothing (works offline then).  RK_AGENT_EREFUSED with
 * *refusal filled (may be NULL) if the hub says no. */
rk_agent_err rk_agent_enroll(rk_agent_t *a, const char *person, uint8_t code[RK_CODE_LEN], bool *existed,
                             rk_result_t *refusal, char *why, size_t why_len) RK_WARN_UNUSED;

/* ------------------------------------------------------------- messages */

typedef struct rk_outgoing {
    const char *to;      /* recipient org id */
    const char *type;    /* procedure type */
    const char *person;  /* the person, looked up in the local table, or */
    const uint8_t *code; /* this org's link code (RK_CODE_LEN bytes) */
    const uint8_t *payload;
    size_t payload_len;      /* 1.. bytes */
    const uint8_t *reply_to; /* NULL, or the msg_id answered (RK_MSGID_LEN) */
    bool no_reply;           /* no reply expected: complete once delivered */
} rk_outgoing;

/* Encrypts and signs m, commits it to the outbox (state PENDING), sends it
 * and waits for the hub's result.  msg_id receives the message's id as soon
 * as it is chosen.  RK_AGENT_OK when ACCEPTED (result->seq set);
 * RK_AGENT_EREFUSED with result filled when the hub refused for good, or
 * before anything is kept when the hub would: UNKNOWN_RECIPIENT when m->to
 * is not in the directory, UNKNOWN_TYPE or NOT_PERMITTED (with the rule)
 * when the procedure catalogue the directory carries does not allow it
 * (checked again under a freshly fetched directory before it counts);
 * RK_AGENT_EPENDING when the message is committed but not accepted
 * yet (no answer in time, QUEUE_FULL / STORE_FULL in result, or no
 * connection: an agent opened offline seals with the directory it cached
 * last time); it is re-sent automatically.  Needs a data directory. */
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
    /* MESSAGE: failed attempts at handing it to this organization's system
     * recorded so far (rk_agent_attempt_failed), and when to try it next
     * (wall clock ms; 0: now). */
    uint32_t attempts;
    uint64_t next_try_ms;
} rk_event;

/* Wipes and frees *ev; sets it to NULL.  Accepts NULL. */
void rk_event_free(rk_event **ev);

/* Next event, waiting up to timeout_ms (< 0: forever): the oldest NEW
 * message in the inbox, claimed for this process (CLAIMED; hand it back
 * with rk_agent_done or rk_agent_reply), or RK_EVENT_REFUSED for a delivery
 * this agent refused (not signed by its sender, payload does not decrypt;
 * the hub was told).  Deliveries are committed to the inbox and
 * acknowledged as they arrive; entries another process of the same data
 * directory committed are picked up too (the inbox is polled).  Pending
 * outbox messages are re-sent meanwhile.  RK_AGENT_ETIMEOUT if nothing came,
 * RK_AGENT_EINTR if a signal interrupted.  *ev is NULL on failure. */
rk_agent_err rk_agent_recv(rk_agent_t *a, int timeout_ms, rk_event **ev, char *why,
                           size_t why_len) RK_WARN_UNUSED;

typedef enum rk_recv_what {
    RK_RECV_ALL = 0,      /* requests and replies */
    RK_RECV_REQUESTS = 1, /* only messages without reply_to; replies stay NEW */
} rk_recv_what;

/* rk_agent_recv restricted to what. */
rk_agent_err rk_agent_recv_only(rk_agent_t *a, rk_recv_what what, int timeout_ms, rk_event **ev, char *why,
                                size_t why_len) RK_WARN_UNUSED;

/* Marks a message handed out by recv DONE without replying.  Nothing
 * changes on failure. */
rk_agent_err rk_agent_done(rk_agent_t *a, const rk_event *ev, char *why, size_t why_len) RK_WARN_UNUSED;

/* rk_agent_recv_only for up to max events at once: REFUSED events first,
 * then the oldest NEW messages, all claimed in one durable commit (so a
 * burst costs one disk flush, not one per message).  evs (room for max
 * pointers) gets *n events, oldest first, each handed back as one from
 * rk_agent_recv would be (rk_agent_done / rk_agent_done_batch /
 * rk_agent_reply, rk_event_free).  It returns as soon as there is at least
 * one; else as rk_agent_recv_only (RK_AGENT_ETIMEOUT, ...; *n 0).  As with
 * one, a claim lost to a crash only means the message is handed out again.
 * max must be at least 1 (else RK_AGENT_EINVAL). */
rk_agent_err rk_agent_recv_batch(rk_agent_t *a, rk_recv_what what, size_t max, int timeout_ms, rk_event **evs,
                                 size_t *n, char *why, size_t why_len) RK_WARN_UNUSED;

/* rk_agent_done for the n messages evs[0:n] in one durable commit.
 * each[i] (room for n) says what became of evs[i]: RK_AGENT_OK (marked
 * DONE now), RK_AGENT_ECONFLICT (DONE already, e.g. answered meanwhile by
 * another process: unchanged), RK_AGENT_ENOTFOUND (not in the inbox).
 * Returns RK_AGENT_OK when the commit went through whatever each[] says;
 * otherwise nothing changed, and every each[i] is the returned error
 * (RK_AGENT_EINVAL if one of evs is not a delivered message). */
rk_agent_err rk_agent_done_batch(rk_agent_t *a, rk_event *const *evs, size_t n, rk_agent_err *each, char *why,
                                 size_t why_len) RK_WARN_UNUSED;

/* Refuses a message handed out by recv (or rk_agent_take) that this
 * system cannot or will not take: a payload that is not what its procedure
 * carries (for renkei-agent: not JSON; reason RK_ST_MALFORMED), or a
 * business refusal of a request (reason RK_ST_REFUSED_BY_RECIPIENT, detail
 * e.g. "no contract at this address").  Tells the hub, which passes it on
 * to the sender as a notice REFUSED_BY_RECIPIENT with cause `reason` and
 * `detail`, then marks the message DONE.  The detail is shown to the
 * sending organization: never a person's number, name or a link code; it
 * is cut to RK_DETAIL_MAX bytes, other than printable ASCII becomes
 * spaces, and NULL or empty gives the reason's standard text.
 * RK_AGENT_EOFFLINE if the hub cannot be told now: nothing changes then. */
rk_agent_err rk_agent_refuse(rk_agent_t *a, const rk_event *ev, rk_status reason, const char *detail,
                             char *why, size_t why_len) RK_WARN_UNUSED;

/* Waits up to timeout_ms for the outcome of msg_id (sent by this data
 * directory): its reply from the inbox (RK_EVENT_MESSAGE, claimed; a reply
 * already handed out elsewhere is returned as it is), or RK_EVENT_RESULT
 * with result.status REFUSED_BY_RECIPIENT, EXPIRED or the hub's refusal.
 * While it waits, rk_agent_recv of other processes leaves that reply alone.
 * RK_AGENT_ENOTFOUND if msg_id is not in the outbox. */
rk_agent_err rk_agent_wait_reply(rk_agent_t *a, const uint8_t msg_id[RK_MSGID_LEN], int timeout_ms,
                                 rk_event **reply, char *why, size_t why_len) RK_WARN_UNUSED;

/* Replies to a delivered request: to = request->from, same type, reply_to =
 * request->msg_id, who = the code it came with.  The reply is committed to
 * the outbox and the request marked DONE in one transaction, then sent as
 * by rk_agent_send (same results, RK_AGENT_EPENDING included). */
rk_agent_err rk_agent_reply(rk_agent_t *a, const rk_event *request, const uint8_t *payload, size_t len,
                            uint8_t msg_id[RK_MSGID_LEN], rk_result_t *result, char *why,
                            size_t why_len) RK_WARN_UNUSED;

/* Answers a delivered message with a message of another procedure type
 * that follows it (move.in.notice answers move.out.notice): as
 * rk_agent_reply, with `type` instead of the request's own.  The hub
 * accepts a follow-up only as an answer to an open message its recipient
 * sent to this org about the same person (proto/README.md, Routing rules). */
rk_agent_err rk_agent_follow_up(rk_agent_t *a, const rk_event *request, const char *type,
                                const uint8_t *payload, size_t len, uint8_t msg_id[RK_MSGID_LEN],
                                rk_result_t *result, char *why, size_t why_len) RK_WARN_UNUSED;

/* Takes the message (from, msg_id) from the inbox as a MESSAGE event, to
 * answer it later (rk_agent_reply, rk_agent_refuse) or mark it done: a
 * NEW or DEAD entry, or one claimed by a process that is gone, is claimed
 * for this one; one claimed by a live process (a serve whose command said it will
 * be answered later) is handed out as it is.  RK_AGENT_ENOTFOUND if the
 * inbox has no such message; RK_AGENT_ECONFLICT if it is DONE already. */
rk_agent_err rk_agent_take(rk_agent_t *a, const char *from, const uint8_t msg_id[RK_MSGID_LEN], rk_event **ev,
                           char *why, size_t why_len) RK_WARN_UNUSED;

typedef struct rk_flush_report {
    size_t sent;     /* pending messages re-sent */
    size_t accepted; /* of those, accepted by the hub now */
    size_t refused;  /* refused for good (see rk_agent_status_get) */
    size_t pending;  /* still pending afterwards */
} rk_flush_report;

/* Re-sends every PENDING outbox message now and waits up to timeout_ms for
 * the hub's results, then takes in what the hub pushes meanwhile (notices,
 * deliveries) until it has been quiet for a moment.  RK_AGENT_OK once none
 * is left without an answer (rep tells how many are still pending, e.g.
 * after QUEUE_FULL);
 * RK_AGENT_EOFFLINE without a connection; RK_AGENT_ETIMEOUT if results
 * are missing at the deadline. */
rk_agent_err rk_agent_flush(rk_agent_t *a, int timeout_ms, rk_flush_report *rep, char *why,
                            size_t why_len) RK_WARN_UNUSED;

/* ------------------------------------------------------------- status */

/* What became of a sent message.  States only move forward: PENDING ->
 * ACCEPTED -> DELIVERED -> one of ANSWERED, REFUSED, EXPIRED. */
typedef enum rk_msg_state {
    RK_MSG_PENDING = 1,   /* committed here, not yet accepted by the hub */
    RK_MSG_ACCEPTED = 2,  /* committed in the recipient's queue at the hub */
    RK_MSG_DELIVERED = 3, /* committed by the recipient's agent */
    RK_MSG_ANSWERED = 4,  /* a reply arrived */
    RK_MSG_REFUSED = 5,   /* refused by the hub or the recipient */
    RK_MSG_EXPIRED = 6,   /* not delivered within its time-to-live */
} rk_msg_state;

/* "PENDING", "ACCEPTED", ...; "UNKNOWN" for anything else. */
const char *rk_msg_state_name(rk_msg_state s);

typedef struct rk_msg_status {
    uint8_t msg_id[RK_MSGID_LEN];
    char to[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    uint8_t code[RK_CODE_LEN]; /* this org's own code for the person */
    bool no_reply;             /* complete once delivered */
    bool is_reply;             /* a reply this org sent */
    uint8_t reply_to[RK_MSGID_LEN];
    rk_msg_state state;
    bool complete; /* answered, refused, expired, or delivered with no_reply */
    /* When each step happened (wall clock, ms since the epoch; 0: not yet). */
    uint64_t created_ms, accepted_ms, delivered_ms, answered_ms, refused_ms, expired_ms;
    uint64_t seq;                       /* hub sequence number once accepted */
    uint8_t reply_msg_id[RK_MSGID_LEN]; /* ANSWERED: the reply */
    rk_status status;                   /* REFUSED: the status; PENDING: last transient answer */
    rk_status cause;                    /* REFUSED_BY_RECIPIENT: the recipient's reason */
    char peer[RK_ID_MAX + 1];
    char detail[RK_DETAIL_MAX + 1];
    uint32_t attempts; /* times sent to the hub */
    uint64_t last_sent_ms, next_try_ms;
} rk_msg_status;

/* The record of msg_id.  RK_AGENT_ENOTFOUND if this outbox never had it. */
rk_agent_err rk_agent_status_get(rk_agent_t *a, const uint8_t msg_id[RK_MSGID_LEN], rk_msg_status *st,
                                 char *why, size_t why_len) RK_WARN_UNUSED;

typedef struct rk_status_filter {
    bool open_only;      /* leave out complete messages */
    const uint8_t *code; /* NULL, or only messages about this own code */
} rk_status_filter;

/* Records matching f (NULL: all), oldest first, as a new array in *list
 * (free() it) of *n entries.  On failure *list is NULL and *n 0; a record
 * the data directory cannot give back (damaged, or a store error) is such a
 * failure (RK_AGENT_ESTORE), never a silently shorter list. */
rk_agent_err rk_agent_status_list(rk_agent_t *a, const rk_status_filter *f, rk_msg_status **list, size_t *n,
                                  char *why, size_t why_len) RK_WARN_UNUSED;

typedef struct rk_purge_report {
    size_t inbox;  /* DONE inbox entries deleted */
    size_t outbox; /* complete outbox records deleted */
} rk_purge_report;

/* Deletes now every completed message older than the configured keep_days
 * (the library also does so by itself: when opened and then about once a
 * minute while receiving, sending or flushing), in transactions of at most
 * 500 records.  A message deleted from the outbox has no status or receipt
 * any more.  rep counts what went, also on failure (what was deleted before
 * it stays deleted). */
rk_agent_err rk_agent_purge(rk_agent_t *a, rk_purge_report *rep, char *why, size_t why_len) RK_WARN_UNUSED;

/* ------------------------------------------------------------- handling attempts */

/* What renkei-agent serve --exec / --webhook keep with an inbox entry when
 * this organization's system fails to take it: the attempts so far, the
 * last error and the next try; after the last attempt the entry is DEAD
 * (kept, never handed out again by itself) until an operator retries it. */
typedef enum rk_inbox_state {
    RK_IN_NEW = 1,     /* waiting to be handed out */
    RK_IN_CLAIMED = 2, /* handed to a process, not yet done */
    RK_IN_DONE = 3,    /* answered, refused or marked done */
    RK_IN_DEAD = 4,    /* every attempt failed: waits for rk_agent_retry_dead */
} rk_inbox_state;

#define RK_ATTEMPT_ERROR_MAX 127 /* bytes of a recorded last error */

/* "NEW", "CLAIMED", "DONE", "DEAD"; "UNKNOWN" for anything else. */
const char *rk_inbox_state_name(rk_inbox_state s);

/* Records that handing ev (a MESSAGE this process claimed) to this
 * organization's system failed once more: error says why in a few words
 * (never a payload, a number or a link code; cut to RK_ATTEMPT_ERROR_MAX
 * bytes, other than printable ASCII becomes spaces).  next_try_ms > 0: it
 * stays claimed, to be tried again then (wall clock ms); 0: given up, the
 * entry becomes DEAD.  *attempts (may be NULL) receives the count recorded.
 * RK_AGENT_ECONFLICT if it was done meanwhile (answered elsewhere),
 * RK_AGENT_ENOTFOUND if it is not in the inbox; nothing changes then. */
rk_agent_err rk_agent_attempt_failed(rk_agent_t *a, const rk_event *ev, const char *error,
                                     uint64_t next_try_ms, uint32_t *attempts, char *why,
                                     size_t why_len) RK_WARN_UNUSED;

/* An inbox entry as rk_agent_inbox_troubled lists it: no payload, no code. */
typedef struct rk_inbox_status {
    char from[RK_ID_MAX + 1];
    char type[RK_TYPE_MAX + 1];
    uint8_t msg_id[RK_MSGID_LEN];
    rk_inbox_state state;
    uint64_t received_ms;
    uint32_t attempts;    /* failed attempts recorded */
    uint64_t next_try_ms; /* when it is tried again (0: not planned) */
    char last_error[RK_ATTEMPT_ERROR_MAX + 1];
} rk_inbox_status;

/* The inbox entries not done with a failed attempt recorded, and the DEAD
 * ones, oldest first, as a new array in *list (free() it) of *n entries.
 * An entry the store cannot give back fails the call (RK_AGENT_ESTORE). */
rk_agent_err rk_agent_inbox_troubled(rk_agent_t *a, rk_inbox_status **list, size_t *n, char *why,
                                     size_t why_len) RK_WARN_UNUSED;

/* Puts the DEAD entry (from, msg_id) back to be handed out (NEW, its
 * attempts counted from 0 again); from NULL: every DEAD entry.  A running
 * serve of the same data directory picks them up.  *n (may be NULL) counts
 * them.  RK_AGENT_ENOTFOUND if (from, msg_id) is not in the inbox,
 * RK_AGENT_ECONFLICT if it is not DEAD. */
rk_agent_err rk_agent_retry_dead(rk_agent_t *a, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                                 size_t *n, char *why, size_t why_len) RK_WARN_UNUSED;

/* ------------------------------------------------------------- routing log */

/* The routing log's name of hubs first started before the name was
 * recorded in the hub's store; a hub started on a new store without
 * --log-origin names its log "renkei-hub/" and its key's fingerprint. */
#define RK_LOG_ORIGIN_DEFAULT "renkei-hub"

/* A receipt: proof that the hub put one of this organization's messages on
 * its routing log, which it cannot later remove or rewrite unnoticed. */
typedef struct rk_receipt {
    uint8_t msg_id[RK_MSGID_LEN];
    uint64_t index;            /* the message's ACCEPTED entry */
    uint64_t tree_size;        /* the checkpoint's size (> index) */
    uint8_t root[RK_HASH_LEN]; /* the checkpoint's root hash */
    int64_t time;              /* the checkpoint's time, s since the epoch */
    char *checkpoint;          /* owned: the hub-signed note, as received */
    size_t n;                  /* inclusion proof, leaf side first */
    uint8_t proof[RK_PROOF_MAX][RK_HASH_LEN];
    uint8_t *entry; /* owned: the entry's bytes; NULL if not had */
    size_t entry_len;
    rk_log_entry_t decoded; /* entry decoded (when entry != NULL) */
    char entry_source[32];  /* "proof", "disclosure" or "" */
    bool included;          /* entry verified at index under root */
} rk_receipt;

/* Frees what r owns and zeroes it.  Accepts a zeroed receipt. */
void rk_receipt_clear(rk_receipt *r);

/* Builds a receipt for msg_id, which this data directory sent and the hub
 * ACCEPTED: fetches the newest checkpoint and checks the hub's signature
 * (origin and key name cfg->log_origin, or the checkpoint's own origin when
 * that is NULL; key hub.pub), fetches the inclusion
 * proof of the message's entry (at the log size the ACCEPTED named, minus
 * one) and its entry bytes, checks the entry is this message's ACCEPTED
 * entry and that it is included under the checkpoint's root.  RK_AGENT_OK
 * only if all of that holds (out->included).  RK_AGENT_EUNVERIFIED: the
 * checkpoint verified and the proof is in *out, but the hub did not provide
 * the entry (it does in a disclosure, to municipalities, for messages about
 * a person); RK_AGENT_EPROOF: something does not verify (why says what);
 * RK_AGENT_ENOTFOUND: not in the outbox, not accepted yet, or accepted by a
 * hub without a routing log.  *out is filled as far as it got; clear it
 * with rk_receipt_clear whatever the result. */
rk_agent_err rk_agent_receipt(rk_agent_t *a, const uint8_t msg_id[RK_MSGID_LEN], rk_receipt *out, char *why,
                              size_t why_len) RK_WARN_UNUSED;

/* One routing-log entry as disclosed. */
typedef struct rk_disclosed {
    uint64_t index;
    rk_log_entry_t entry;
} rk_disclosed;

/* Per-person disclosure (municipalities): every routing-log entry the hub
 * holds about person, whom this organization knows by its own link code
 * (looked up locally; neither the person nor the code is ever printed).
 * *list is a new array of *n entries in log order (free() it), *tree_size
 * the log's size when the hub answered.  RK_AGENT_ENOTFOUND if person has
 * no code here; RK_AGENT_EREFUSED with *status (may be NULL) FORBIDDEN
 * (not a municipality) or NOT_FOUND (the hub does not know the code).  On
 * failure *list is NULL and *n 0. */
rk_agent_err rk_agent_disclose(rk_agent_t *a, const char *person, rk_disclosed **list, size_t *n,
                               uint64_t *tree_size, rk_status *status, char *why,
                               size_t why_len) RK_WARN_UNUSED;

/* Takes in what the hub has pushed, waiting up to timeout_ms (0: only what
 * is there already) for the first frame: notices change the outbox's
 * states, deliveries join the inbox (both committed and acknowledged to
 * the hub); nothing is handed out.  For a program that answers from the
 * data directory (a gateway serving message states) and would otherwise
 * take in only when it receives.  RK_AGENT_OK if something came,
 * RK_AGENT_ETIMEOUT if nothing did, RK_AGENT_EOFFLINE without a
 * connection. */
rk_agent_err rk_agent_poll(rk_agent_t *a, int timeout_ms, char *why, size_t why_len) RK_WARN_UNUSED;

/* Fetches the directory again (e.g. after an organization changed keys). */
rk_agent_err rk_agent_refresh_directory(rk_agent_t *a, char *why, size_t why_len) RK_WARN_UNUSED;

#ifdef __cplusplus
}
#endif

#endif /* RENKEI_AGENT_H */
