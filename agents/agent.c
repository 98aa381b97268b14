/*
 * agent.c - an organization's connection to the Renkei hub.
 *
 * One hub session (session.h): a CURVE connection whose monitor turns a
 * refused key or a wrong hub key into a specific error instead of silence,
 * and that greets the hub again after ZeroMQ reconnects.  Everything the
 * hub sends is read by pump() and filed: results go straight into the
 * outbox (mailbox.h), deliveries and notices onto a queue in arrival order.
 * Enrollment, directory and routing-log requests take their answer by
 * req_id (rk_session_request) and file whatever else arrives meanwhile.
 * The blocking calls pump until what they wait for is there, and between
 * pumps settle the queue (check, commit to the inbox or outbox, then Ack)
 * and re-send what is still pending, so nothing that arrives meanwhile is
 * lost.
 */
#include "renkei/agent.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "catalogue.h"
#include "codebook.h"
#include "keys.h"
#include "mailbox.h"
#include "merkle.h"
#include "note.h"
#include "policy.h"
#include "seal.h"
#include "session.h"
#include "why.h"
#include "clock.h"

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:7750"
#define DEFAULT_TIMEOUT_MS 10000
#define DIR_MAX_AGE_MS 60000u /* refetch the directory before sending if older */
#define DIR_RECHECK_MS 1000u  /* a local refusal under an older directory is checked again */
#define CLOSE_LINGER_MS 1000  /* let a last reply or reject leave on close */
#define PUMP_BATCH 256        /* frames read per wakeup at most */
#define FLUSH_DRAIN_MS 300     /* flush: quiet time that ends taking in pushed frames */
#define POLL_MS 150           /* how often waits look at the shared inbox */
#define RESEND_CHECK_MS 500   /* how often waits look for pending messages due */
#define STALE_CHECK_MS 5000   /* how often waits release claims of dead processes */
#define BACKOFF_MAX_MS 60000u /* longest pause between two re-sends */
#define PURGE_CHECK_MS 60000u /* how often the library deletes old completed messages */
#define PURGE_AGAIN_MS 1000u  /* ... and sooner while a batch left some behind */
#define DAY_MS 86400000ull
#define FOLLOW_RETRY_MS 2000u /* how often a lost connection tries the hub's announced next key */
/* The smallest rk_agent_config this library accepts: the struct as it was
 * when struct_size came in (through previous_key).  Fields appended later
 * are defaults for programs built before them. */
#define RK_AGENT_CONFIG_SIZE_0 (offsetof(rk_agent_config, previous_key) + sizeof(const char *))

struct qitem {
    struct qitem *next;
    bool raw;              /* a delivery or notice not yet settled: frame holds it */
    rk_hub_frame_t frame;
    rk_event *ev;          /* a REFUSED event for recv */
};

struct rk_agent {
    char *endpoint;
    char *hub_pub_path;
    char *key_path;
    char *log_origin;
    int timeout_ms;
    bool receive;
    void (*notice)(void *ctx, const char *text);
    void *notice_ctx;

    rk_identity_t *id; /* NULL only offline without a key */
    /* This organization's key before its rekey (cfg->previous_key), or NULL;
     * conn_id is the one the connection authenticated with (id, or prev_id
     * while the hub admits only that one), and the one sends are made with. */
    rk_identity_t *prev_id;
    char *prev_key_path;
    const rk_identity_t *conn_id;
    rk_codebook_t *book;

    rk_session_t *sess; /* NULL: not connected */

    char org[RK_ID_MAX + 1];
    char kind[RK_KIND_MAX + 1];
    uint32_t max_payload;

    rk_pubkey_t hub; /* the hub key pinned now: --hub-key's, or the one it handed over to */
    bool has_next;   /* the hub announced the key that follows `hub` (checked under it): */
    rk_pubkey_t hub_next;
    rk_hub_key_stmt_t next_stmt; /* ... with this statement */
    bool has_prev;               /* `hub` took over from this key: what it signed still verifies */
    uint8_t hub_prev[RK_KEY_LEN];
    uint64_t next_follow_ms; /* monotonic: when a lost connection may try hub_next again */
    bool follow_failed;      /* a try of hub_next failed and was told (once per outage) */
    rk_dir_t dir;
    bool have_dir;
    bool dir_stale;   /* the hub named a key the directory does not list: fetch it before the next send */
    catalogue_t *cat; /* the catalogue the directory carries; NULL: none */
    uint64_t dir_at_ms;


    struct qitem *head;
    struct qitem *tail;

    rk_mailbox_t *mb;        /* NULL without a data directory */
    uint32_t pid;
    uint64_t conn_since_ms;  /* wall clock of the last welcome: re-send what predates it */
    uint64_t next_resend_ms; /* monotonic */
    uint64_t next_stale_ms;  /* monotonic */
    uint64_t next_purge_ms;  /* monotonic */
    uint64_t keep_ms;        /* completed messages older than this are deleted */
    bool settling;
    size_t nacks;
    uint64_t acks[RK_ACK_MAX];

    bool awaiting;           /* a send waits for the hub's result for await_id */
    uint8_t await_id[RK_MSGID_LEN];
    bool await_done;
    rk_result_t await_result;
};

static void settle_all(rk_agent_t *a);
static void follow_next_key(rk_agent_t *a);

static void notice(rk_agent_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(rk_agent_t *a, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    if (a->notice == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    a->notice(a->notice_ctx, text);
}

const char *rk_agent_strerror(rk_agent_err err)
{
    switch (err) {
    case RK_AGENT_OK: return "success";
    case RK_AGENT_EINVAL: return "invalid argument";
    case RK_AGENT_ENOMEM: return "out of memory";
    case RK_AGENT_EKEY: return "key file could not be loaded";
    case RK_AGENT_ESTORE: return "local table failure";
    case RK_AGENT_ENOTFOUND: return "not in the local table";
    case RK_AGENT_ECONFLICT: return "already bound to something else";
    case RK_AGENT_ENOANSWER: return "the hub did not answer";
    case RK_AGENT_EKEYREFUSED: return "the hub refused this key";
    case RK_AGENT_EHANDSHAKE: return "secure handshake with the hub failed";
    case RK_AGENT_EPROTO: return "unexpected answer from the hub";
    case RK_AGENT_EDIRECTORY: return "the directory is not signed by the hub";
    case RK_AGENT_EUNKNOWN_ORG: return "organization not in the hub's directory";
    case RK_AGENT_EREFUSED: return "refused";
    case RK_AGENT_ETIMEOUT: return "timed out";
    case RK_AGENT_EOFFLINE: return "not connected to the hub";
    case RK_AGENT_EZMQ: return "ZeroMQ failure";
    case RK_AGENT_EBADSIG: return "signature does not verify";
    case RK_AGENT_EUNDECRYPTABLE: return "payload does not decrypt";
    case RK_AGENT_EMISROUTED: return "message addressed to another organization";
    case RK_AGENT_EINTR: return "interrupted";
    case RK_AGENT_ENOSTORE: return "no data directory";
    case RK_AGENT_EPENDING: return "not accepted by the hub yet; kept in the outbox and re-sent automatically";
    case RK_AGENT_EPROOF: return "the routing log does not prove it";
    case RK_AGENT_EUNVERIFIED: return "could not be verified in full";
    case RK_AGENT_ECRYPTO: return "the cryptography library could not be initialized";
    }
    return "unknown agent error";
}

/* ------------------------------------------------------------------ time */

/* Milliseconds left until deadline (UINT64_MAX: forever -> -1). */
static int remaining(uint64_t deadline)
{
    uint64_t now;
    if (deadline == UINT64_MAX)
        return -1;
    now = rk_mono_ms();
    if (now >= deadline)
        return 0;
    return deadline - now > 3600000u ? 3600000 : (int)(deadline - now);
}

static uint64_t deadline_in(int timeout_ms)
{
    return timeout_ms < 0 ? UINT64_MAX : rk_mono_ms() + (uint64_t)timeout_ms;
}

static double secs(int ms)
{
    return ms / 1000.0;
}

/* ------------------------------------------------------------------ events */

void rk_event_free(rk_event **ev)
{
    if (ev == NULL || *ev == NULL)
        return;
    if ((*ev)->payload != NULL) {
        sodium_memzero((*ev)->payload, (*ev)->payload_len);
        free((*ev)->payload);
    }
    rk_codebook_free_person(&(*ev)->person);
    sodium_memzero(*ev, sizeof **ev);
    free(*ev);
    *ev = NULL;
}

static void qitem_free(struct qitem *q)
{
    if (q == NULL)
        return;
    rk_hub_frame_clear(&q->frame);
    rk_event_free(&q->ev);
    free(q);
}

static void q_append(rk_agent_t *a, struct qitem *q)
{
    q->next = NULL;
    if (a->tail != NULL)
        a->tail->next = q;
    else
        a->head = q;
    a->tail = q;
}

/* Unlinks q, whose predecessor is prev (NULL: q is the head). */
static void q_unlink(rk_agent_t *a, struct qitem *prev, struct qitem *q)
{
    if (prev != NULL)
        prev->next = q->next;
    else
        a->head = q->next;
    if (a->tail == q)
        a->tail = prev;
    q->next = NULL;
}

/* ------------------------------------------------------------------ wire I/O */

/* The agent's error for a session error. */
static rk_agent_err from_session(rk_session_err err)
{
    switch (err) {
    case RK_SESSION_OK: return RK_AGENT_OK;
    case RK_SESSION_EINVAL: return RK_AGENT_EINVAL;
    case RK_SESSION_ENOMEM: return RK_AGENT_ENOMEM;
    case RK_SESSION_EZMQ: return RK_AGENT_EZMQ;
    case RK_SESSION_EINTR: return RK_AGENT_EINTR;
    case RK_SESSION_ETIMEOUT: return RK_AGENT_ETIMEOUT;
    case RK_SESSION_ENOANSWER: return RK_AGENT_ENOANSWER;
    case RK_SESSION_EKEYREFUSED: return RK_AGENT_EKEYREFUSED;
    case RK_SESSION_EHANDSHAKE: return RK_AGENT_EHANDSHAKE;
    case RK_SESSION_EPROTO: return RK_AGENT_EPROTO;
    }
    return RK_AGENT_EZMQ;
}

/* The session's notices (connection lost, back, refused) go to the
 * agent's notice callback. */
static void session_notice(void *arg, const char *text)
{
    notice(arg, "%s", text);
}

/* Wipes and frees an encoded frame. */
static void frame_free(uint8_t *buf, size_t len)
{
    if (buf == NULL)
        return;
    sodium_memzero(buf, len);
    free(buf);
}

/* Sends one encoded frame; nowait: give up at once if it cannot leave.
 * The session hands ZeroMQ a copy it wipes when it lets go of it. */
static rk_agent_err send_bytes(rk_agent_t *a, const uint8_t *buf, size_t len, bool nowait, char *why,
                               size_t why_len)
{
    if (a->sess == NULL) {
        rk_why(why, why_len, "not connected to the hub");
        return RK_AGENT_EOFFLINE;
    }
    return from_session(rk_session_send_bytes(a->sess, buf, len, nowait, why, why_len));
}

static rk_agent_err send_frame(rk_agent_t *a, const rk_client_frame_t *f, char *why, size_t why_len)
{
    if (a->sess == NULL) {
        rk_why(why, why_len, "not connected to the hub");
        return RK_AGENT_EOFFLINE;
    }
    return from_session(rk_session_send(a->sess, f, why, why_len));
}

static rk_event *event_new(rk_event_kind kind)
{
    rk_event *ev = calloc(1, sizeof *ev);
    if (ev != NULL)
        ev->kind = kind;
    return ev;
}

/* A result: recorded in the outbox at once (whoever waits), and handed to
 * the send waiting for it. */
/* Whether some organization in dir holds key as its current key. */
static bool dir_knows_key(const rk_dir_t *dir, const uint8_t key[RK_KEY_LEN])
{
    for (size_t i = 0; i < dir->n; i++)
        if (memcmp(dir->orgs[i].sign_key, key, RK_KEY_LEN) == 0)
            return true;
    return false;
}

static void file_result(rk_agent_t *a, const rk_result_t *r)
{
    char why[256] = "";
    if (!r->has_msg_id) {
        /* About a frame the hub could not read: ours in flight, if any. */
        if (a->awaiting) {
            a->await_result = *r;
            a->await_done = true;
        }
        return;
    }
    if (a->mb != NULL && rk_mailbox_out_result(a->mb, r, rk_wall_ms(), NULL, why, sizeof why) != RK_AGENT_OK)
        notice(a, "could not record the hub's answer in the outbox: %s", why);
    if (r->has_recipient_key && a->have_dir && !dir_knows_key(&a->dir, r->recipient_key))
        a->dir_stale = true; /* the recipient was rekeyed: seal the next one to its new key */
    if (a->awaiting && r->status != RK_ST_REFUSED_BY_RECIPIENT &&
        sodium_memcmp(r->msg_id, a->await_id, RK_MSGID_LEN) == 0) {
        a->await_result = *r;
        a->await_done = true;
    }
}

/* ------------------------------------------------------------------ hub key
 * The hub's own key changes hands (hub/hubkey.h): the hub announces the
 * next key in a statement signed by the key the agent pins, the agent
 * checks and keeps it, and when the hub presents the new key (a handshake
 * that fails with the pinned one) it connects with the announced key and
 * pins that from then on.  A key nobody announced is never accepted. */

/* Keeps st and s in the data directory (if any), telling a failure. */
static void hub_key_keep(rk_agent_t *a, rk_hub_key_state st, const rk_hub_key_stmt_t *s)
{
    char why[256] = "";
    if (a->mb != NULL && rk_mailbox_hub_key_put(a->mb, st, s, why, sizeof why) != RK_AGENT_OK)
        notice(a, "could not keep the hub's key change in the data directory: %s", why);
}

/* Applies what the data directory kept about a change of the hub's key to
 * the key loaded from --hub-key. */
static void hub_key_load(rk_agent_t *a)
{
    rk_hub_key_state st = RK_HUB_KEY_ANNOUNCED;
    rk_hub_key_stmt_t s;
    rk_pubkey_t next;
    char why[256] = "";
    rk_agent_err err;

    if (a->mb == NULL || a->hub_pub_path == NULL)
        return;
    err = rk_mailbox_hub_key_get(a->mb, &st, &s, why, sizeof why);
    if (err != RK_AGENT_OK) {
        if (err != RK_AGENT_ENOTFOUND)
            notice(a, "ignored the kept change of the hub's key: %s", why);
        return;
    }
    if (rk_hub_key_stmt_verify(&s, NULL) != RK_WIRE_OK ||
        rk_pubkey_from_sign("hub", s.new_key, &next) != RK_KEYS_OK)
        return;
    if (sodium_memcmp(s.old_key, a->hub.sign_pk, RK_KEY_LEN) == 0) {
        if (st == RK_HUB_KEY_SWITCHED) {
            memcpy(a->hub_prev, a->hub.sign_pk, RK_KEY_LEN);
            a->has_prev = true;
            a->hub = next;
        } else {
            a->hub_next = next;
            a->next_stmt = s;
            a->has_next = true;
        }
    } else if (sodium_memcmp(s.new_key, a->hub.sign_pk, RK_KEY_LEN) == 0) {
        memcpy(a->hub_prev, s.old_key, RK_KEY_LEN); /* --hub-key is the new key already */
        a->has_prev = true;
    }
    /* else: a change of another hub key than --hub-key's; not ours */
}

/* A welcome's statement: kept if the key pinned now signed it. */
static void hub_key_learn(rk_agent_t *a, bool has, const rk_hub_key_stmt_t *s)
{
    rk_pubkey_t next;

    if (!has || a->hub_pub_path == NULL)
        return;
    if (rk_hub_key_stmt_verify(s, a->hub.sign_pk) == RK_WIRE_OK) {
        if ((a->has_next && sodium_memcmp(a->hub_next.sign_pk, s->new_key, RK_KEY_LEN) == 0) ||
            rk_pubkey_from_sign("hub", s->new_key, &next) != RK_KEYS_OK)
            return;
        a->hub_next = next;
        a->next_stmt = *s;
        a->has_next = true;
        hub_key_keep(a, RK_HUB_KEY_ANNOUNCED, s);
        notice(a,
               "the hub announced its next key (signed by the key it presents now); kept, to follow it when "
               "the hub switches");
    } else if (!a->has_prev && sodium_memcmp(s->new_key, a->hub.sign_pk, RK_KEY_LEN) == 0 &&
               rk_hub_key_stmt_verify(s, NULL) == RK_WIRE_OK) {
        /* the key pinned now took over from s->old_key: what that key signed still verifies */
        memcpy(a->hub_prev, s->old_key, RK_KEY_LEN);
        a->has_prev = true;
    } else if (sodium_memcmp(s->new_key, a->hub.sign_pk, RK_KEY_LEN) != 0) {
        notice(a, "ignored a change of the hub's key that the key the hub presents did not sign");
    }
}

/* The agent connected with the announced key: it is the pinned key now. */
static void hub_key_switched(rk_agent_t *a, const rk_pubkey_t *old)
{
    memcpy(a->hub_prev, old->sign_pk, RK_KEY_LEN);
    a->has_prev = true;
    a->has_next = false;
    hub_key_keep(a, RK_HUB_KEY_SWITCHED, &a->next_stmt);
    notice(a,
           "the hub now presents the key it announced: following it (the key in %s is the previous one; "
           "what it signed still verifies)",
           a->hub_pub_path);
}

/* The hub runs on a backup (its welcome says since which routing-log
 * entry): what it accepted from this organization after the backup is
 * gone, so those messages go back to pending and are sent again. */
static void follow_restore(rk_agent_t *a, uint64_t restored_at, uint64_t backup_ms)
{
    char why[256] = "";
    size_t n = 0;

    if (restored_at == 0 || a->mb == NULL)
        return;
    if (rk_mailbox_out_restored(a->mb, restored_at, backup_ms, &n, why, sizeof why) != RK_AGENT_OK) {
        notice(a, "the hub was restored from a backup, but the messages it lost could not be found here: %s",
               why);
        return;
    }
    if (n > 0) {
        notice(a,
               "the hub was restored from a backup: %zu message%s it had accepted after the backup %s sent "
               "again",
               n, n == 1 ? "" : "s", n == 1 ? "is" : "are");
        a->next_resend_ms = 0;
    }
}

/* Files one decoded frame; takes ownership of f's contents. */
static rk_agent_err file_frame(rk_agent_t *a, rk_hub_frame_t *f)
{
    struct qitem *q;

    switch (f->kind) {
    case RK_HF_WELCOME:
        hub_key_learn(a, f->u.welcome.has_hub_key, &f->u.welcome.hub_key);
        follow_restore(a, f->u.welcome.restored_at, f->u.welcome.restored_backup_ms);
        snprintf(a->org, sizeof a->org, "%s", f->u.welcome.org);
        snprintf(a->kind, sizeof a->kind, "%s", f->u.welcome.kind);
        a->max_payload = f->u.welcome.max_payload;
        /* A new connection: whatever is pending goes again, now. */
        a->conn_since_ms = rk_wall_ms();
        a->next_resend_ms = 0;
        break;
    case RK_HF_RESULT:
        file_result(a, &f->u.result);
        break;
    case RK_HF_NOTICE:
    case RK_HF_DELIVER:
        q = calloc(1, sizeof *q);
        if (q == NULL)
            return RK_AGENT_ENOMEM;
        q->raw = true;
        q->frame = *f;
        memset(f, 0, sizeof *f);
        q_append(a, q);
        break;
    default:
        /* Answers to requests nobody waits for any more (a request takes
         * its own answer: rk_session_request). */
        break;
    }
    rk_hub_frame_clear(f);
    return RK_AGENT_OK;
}

/* rk_session_request's hook: what arrives while a request waits is filed
 * like anything else, so no delivery or result is lost meanwhile. */
static rk_session_err file_meanwhile(void *arg, rk_hub_frame_t *f, char *why, size_t why_len)
{
    if (file_frame(arg, f) == RK_AGENT_ENOMEM) {
        rk_why(why, why_len, "out of memory reading from the hub");
        return RK_SESSION_ENOMEM;
    }
    return RK_SESSION_OK;
}

static void disconnect(rk_agent_t *a, bool drop);

/* The hub stopped admitting the previous key this agent connected with
 * (the overlap of the rekey is over, and it closed that connection):
 * connects again, with the new key. */
static rk_agent_err move_to_new_key(rk_agent_t *a, char *why, size_t why_len)
{
    rk_agent_err err;

    notice(a,
           "the hub no longer admits this organization's previous key (%s); connecting with the new one "
           "(%s)",
           a->prev_key_path, a->key_path);
    disconnect(a, true);
    err = rk_agent_connect(a, why, why_len);
    if (err == RK_AGENT_OK)
        notice(a, "connected with this organization's new key; --previous-key can be dropped once nothing "
                  "sealed to the old key is still queued");
    return err;
}

/* Waits up to timeout_ms (-1 forever) for anything from the hub or the
 * monitor and files it.  RK_AGENT_OK if something was handled. */
static rk_agent_err pump(rk_agent_t *a, int timeout_ms, char *why, size_t why_len)
{
    rk_session_err serr = rk_session_poll(a->sess, timeout_ms, why, why_len);

    if (serr == RK_SESSION_OK || serr == RK_SESSION_ETIMEOUT)
        follow_next_key(a);
    if (serr != RK_SESSION_OK)
        return from_session(serr);
    if (a->conn_id == a->prev_id && a->prev_id != NULL && rk_session_key_refused(a->sess))
        return move_to_new_key(a, why, why_len);
    /* Everything already there, so that a batch is settled and
     * acknowledged together. */
    for (int i = 0; i < PUMP_BATCH; i++) {
        rk_hub_frame_t f;
        char inner[256] = "";
        rk_agent_err err;

        serr = rk_session_recv(a->sess, 0, &f, inner, sizeof inner);
        if (serr == RK_SESSION_ETIMEOUT)
            break;
        if (serr == RK_SESSION_EPROTO) {
            notice(a, "ignored a frame from the hub: %s", inner);
            continue;
        }
        if (serr != RK_SESSION_OK) {
            rk_why(why, why_len, "%s", inner);
            return from_session(serr);
        }
        if ((err = file_frame(a, &f)) != RK_AGENT_OK) {
            rk_why(why, why_len, "out of memory reading from the hub");
            return err;
        }
    }
    return RK_AGENT_OK;
}

/* ------------------------------------------------------------------ directory */

/* Makes d (taken over) the directory at hand, with its catalogue. */
static void take_directory(rk_agent_t *a, rk_dir_t *d)
{
    char why[300] = "";

    rk_dir_clear(&a->dir);
    catalogue_free(&a->cat);
    a->dir = *d;
    memset(d, 0, sizeof *d);
    a->have_dir = true;
    a->dir_stale = false;
    if (a->dir.catalogue != NULL) {
        a->cat = catalogue_from_text(a->dir.catalogue, a->dir.catalogue_len, why, sizeof why);
        if (a->cat == NULL)
            notice(a,
                   "the hub's procedure catalogue does not read (%s); messages are checked by the hub only",
                   why);
    }
}

static rk_agent_err fetch_directory(rk_agent_t *a, int timeout_ms, char *why, size_t why_len)
{
    rk_client_frame_t f;
    rk_hub_frame_t answer;
    rk_dir_t fresh;
    rk_wire_err werr;
    rk_agent_err err;

    if (a->sess == NULL) {
        rk_why(why, why_len, "not connected to the hub");
        return RK_AGENT_EOFFLINE;
    }
    memset(&f, 0, sizeof f);
    f.kind = RK_CF_DIRECTORY;
    err = from_session(rk_session_request(a->sess, &f, timeout_ms, file_meanwhile, a, &answer, why, why_len));
    if (err == RK_AGENT_ETIMEOUT)
        rk_why(why, why_len, "the hub at %s sent no directory within %g s", a->endpoint, secs(timeout_ms));
    if (err != RK_AGENT_OK)
        return err;
    memset(&fresh, 0, sizeof fresh);
    werr = rk_dir_open(answer.u.directory.body, answer.u.directory.body_len, answer.u.directory.signature,
                       a->hub.sign_pk, &fresh);
    if (werr == RK_WIRE_ENOMEM) {
        rk_why(why, why_len, "out of memory reading the directory");
        err = RK_AGENT_ENOMEM;
    } else if (werr == RK_WIRE_ESIG) {
        rk_why(why, why_len,
               "the directory is not signed by the hub key in %s: is --hub-key "
               "the right hub's public key?",
               a->hub_pub_path);
        err = RK_AGENT_EDIRECTORY;
    } else if (werr != RK_WIRE_OK) {
        rk_why(why, why_len, "the hub's directory does not decode: %s", rk_wire_strerror(werr));
        err = RK_AGENT_EPROTO;
    } else {
        char inner[256] = "";
        take_directory(a, &fresh);
        a->dir_at_ms = rk_mono_ms();
        err = RK_AGENT_OK;
        /* Kept, so that a message can be sealed and committed while the
         * hub is unreachable. */
        if (a->mb != NULL &&
            rk_mailbox_dir_put(a->mb, answer.u.directory.body, answer.u.directory.body_len,
                               answer.u.directory.signature, inner, sizeof inner) != RK_AGENT_OK)
            notice(a, "could not keep the directory in the data directory: %s", inner);
    }
    rk_hub_frame_clear(&answer);
    return err;
}

/* Loads the directory kept by an earlier connection, if it is still signed
 * by the hub key given.  Quietly leaves the agent without one otherwise. */
static void load_kept_directory(rk_agent_t *a)
{
    uint8_t *body = NULL;
    size_t len = 0;
    uint8_t sig[RK_SIG_LEN];
    rk_dir_t kept;

    if (a->mb == NULL || a->hub_pub_path == NULL || a->have_dir)
        return;
    if (rk_mailbox_dir_get(a->mb, &body, &len, sig, NULL, 0) != RK_AGENT_OK)
        return;
    memset(&kept, 0, sizeof kept);
    if (rk_dir_open(body, len, sig, a->hub.sign_pk, &kept) == RK_WIRE_OK ||
        (a->has_prev && rk_dir_open(body, len, sig, a->hub_prev, &kept) == RK_WIRE_OK)) {
        take_directory(a, &kept);
        a->dir_at_ms = 0; /* stale: fetched again before the next send online */
    }
    free(body);
}

rk_agent_err rk_agent_refresh_directory(rk_agent_t *a, char *why, size_t why_len)
{
    if (a->sess == NULL) {
        rk_why(why, why_len, "the directory needs a connection to the hub");
        return RK_AGENT_EOFFLINE;
    }
    return fetch_directory(a, a->timeout_ms, why, why_len);
}

const rk_dir_t *rk_agent_directory(const rk_agent_t *a)
{
    return a->have_dir ? &a->dir : NULL;
}

/* ------------------------------------------------------------------ connect */

/* Closes the session.  drop: discard anything not yet sent instead of
 * lingering (the connection failed, nobody is there to take it). */
static void disconnect(rk_agent_t *a, bool drop)
{
    rk_session_close(&a->sess, drop);
}

static rk_agent_err connect_once(rk_agent_t *a, char *why, size_t why_len)
{
    uint64_t deadline = deadline_in(a->timeout_ms);
    rk_session_opts opts;
    rk_agent_err err;
    int left;

    if (a->sess != NULL)
        return RK_AGENT_OK;
    if (a->id == NULL || a->hub_pub_path == NULL) {
        rk_why(why, why_len, "connecting needs this organization's key and the hub's public key");
        return RK_AGENT_EINVAL;
    }
    memset(&opts, 0, sizeof opts);
    opts.timeout_ms = a->timeout_ms;
    opts.linger_ms = CLOSE_LINGER_MS;
    opts.reconnect_ivl_ms = 100;
    opts.reconnect_max_ms = 5000;
    opts.receive = a->receive;
    opts.key_path = a->key_path;
    opts.hub_path = a->hub_pub_path;
    opts.notice = session_notice;
    opts.notice_arg = a;
    a->conn_id = a->id;
    err = from_session(rk_session_open(a->endpoint, &a->hub, a->id, &opts, &a->sess, why, why_len));
    if (err != RK_AGENT_OK)
        return err;
    err = from_session(rk_session_hello(a->sess, a->timeout_ms, file_meanwhile, a, why, why_len));
    if (err == RK_AGENT_EKEYREFUSED && a->prev_id != NULL) {
        /* Not registered yet (the operator has not run rekey), or this
         * organization is suspended: the previous key may still be admitted. */
        disconnect(a, true);
        a->conn_id = a->prev_id;
        opts.key_path = a->prev_key_path;
        err = from_session(rk_session_open(a->endpoint, &a->hub, a->prev_id, &opts, &a->sess, why, why_len));
        if (err != RK_AGENT_OK)
            return err;
        err = from_session(rk_session_hello(a->sess, a->timeout_ms, file_meanwhile, a, why, why_len));
        if (err == RK_AGENT_OK)
            notice(a,
                   "connected with this organization's previous key (%s): the hub does not admit the "
                   "new one (%s) yet",
                   a->prev_key_path, a->key_path);
    }
    if (err != RK_AGENT_OK)
        goto fail;
    {
        const rk_session_welcome *w = rk_session_welcomed(a->sess);
        hub_key_learn(a, w->has_hub_key, &w->hub_key);
        follow_restore(a, w->restored_at, w->restored_backup_ms);
        snprintf(a->org, sizeof a->org, "%s", w->org);
        snprintf(a->kind, sizeof a->kind, "%s", w->kind);
        a->max_payload = w->max_payload;
        /* A new connection: whatever is pending goes again, now. */
        a->conn_since_ms = rk_wall_ms();
        a->next_resend_ms = 0;
    }
    if (a->id != NULL && strcmp(a->org, a->id->pub.name) != 0) {
        rk_why(why, why_len,
               "the hub admitted this key as organization %s, but the key file %s "
               "names %s: use that organization's own key",
               a->org, a->key_path, a->id->pub.name);
        err = RK_AGENT_EPROTO;
        goto fail;
    }
    left = remaining(deadline);
    if ((err = fetch_directory(a, left < 1000 ? 1000 : left, why, why_len)) != RK_AGENT_OK)
        goto fail;
    return RK_AGENT_OK;

fail:
    disconnect(a, true);
    while (a->head != NULL) {
        struct qitem *q = a->head;
        q_unlink(a, NULL, q);
        qitem_free(q);
    }
    load_kept_directory(a);
    return err;
}

rk_agent_err rk_agent_connect(rk_agent_t *a, char *why, size_t why_len)
{
    rk_pubkey_t pinned;
    char inner[512] = "";
    rk_agent_err err = connect_once(a, why, why_len);

    if (err != RK_AGENT_EHANDSHAKE || !a->has_next)
        return err;
    /* The hub may have switched to the key it announced. */
    pinned = a->hub;
    a->hub = a->hub_next;
    if (connect_once(a, inner, sizeof inner) == RK_AGENT_OK) {
        hub_key_switched(a, &pinned);
        return RK_AGENT_OK;
    }
    a->hub = pinned;
    snprintf(inner, sizeof inner, "%s", why != NULL ? why : "");
    rk_why(why, why_len, "%s (nor does the hub present the next key it announced)", inner);
    return err;
}

/* While the connection is lost and new connections fail their handshake,
 * tries the key the hub announced (every FOLLOW_RETRY_MS); on success that
 * connection replaces the lost one and its key is pinned.  Otherwise the
 * lost connection keeps retrying with the pinned key. */
static void follow_next_key(rk_agent_t *a)
{
    rk_session_t *lost = a->sess;
    rk_pubkey_t pinned;
    char why[512] = "";
    uint64_t now = rk_mono_ms();

    if (!a->has_next || lost == NULL || !rk_session_reconnect_failing(lost) || now < a->next_follow_ms)
        return;
    a->next_follow_ms = now + FOLLOW_RETRY_MS;
    pinned = a->hub;
    a->hub = a->hub_next;
    a->sess = NULL;
    if (connect_once(a, why, sizeof why) == RK_AGENT_OK) {
        rk_session_close(&lost, true);
        a->follow_failed = false;
        hub_key_switched(a, &pinned);
        return;
    }
    a->hub = pinned;
    a->sess = lost;
    if (a->follow_failed)
        return;
    a->follow_failed = true;
    notice(a,
           "wrong hub key: the hub at %s presents neither the key in %s nor the one it announced; still "
           "retrying (%s)",
           a->endpoint, a->hub_pub_path, why);
}

/* ------------------------------------------------------------------ open/close */

/* true if s can be a checkpoint origin and key name (see note.h). */
static bool valid_origin(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TLOG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '+')
            return false;
    return true;
}

static char *dup_or_null(const char *s, bool *oom)
{
    char *d;
    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

static rk_agent_err load_keys(rk_agent_t *a, const rk_agent_config *cfg, char *why, size_t why_len)
{
    char detail[256] = "";
    rk_keys_err kerr;

    if (cfg->key != NULL) {
        kerr = rk_identity_load(cfg->key, &a->id, detail, sizeof detail);
        if (kerr != RK_KEYS_OK) {
            rk_why(why, why_len, "%s", detail[0] ? detail : rk_keys_strerror(kerr));
            return kerr == RK_KEYS_ENOMEM ? RK_AGENT_ENOMEM : RK_AGENT_EKEY;
        }
        snprintf(a->org, sizeof a->org, "%s", a->id->pub.name);
    }
    if (cfg->previous_key != NULL) {
        kerr = rk_identity_load(cfg->previous_key, &a->prev_id, detail, sizeof detail);
        if (kerr != RK_KEYS_OK) {
            rk_why(why, why_len, "%s", detail[0] ? detail : rk_keys_strerror(kerr));
            return kerr == RK_KEYS_ENOMEM ? RK_AGENT_ENOMEM : RK_AGENT_EKEY;
        }
        if (a->id == NULL || strcmp(a->id->pub.name, a->prev_id->pub.name) != 0) {
            rk_why(why, why_len,
                   "the previous key %s names %s, not %s: give this organization's own key "
                   "from before its rekey",
                   cfg->previous_key, a->prev_id->pub.name, a->id != NULL ? a->id->pub.name : "(no --key)");
            return RK_AGENT_EKEY;
        }
        if (sodium_memcmp(a->id->pub.sign_pk, a->prev_id->pub.sign_pk, RK_KEY_LEN) == 0) {
            rk_why(why, why_len,
                   "the previous key %s is the same key as %s: give the key from before the "
                   "rekey",
                   cfg->previous_key, cfg->key);
            return RK_AGENT_EKEY;
        }
    }
    if (cfg->hub_pub != NULL) {
        kerr = rk_pubkey_load(cfg->hub_pub, &a->hub, detail, sizeof detail);
        if (kerr != RK_KEYS_OK) {
            rk_why(why, why_len, "%s", detail[0] ? detail : rk_keys_strerror(kerr));
            return kerr == RK_KEYS_ENOMEM ? RK_AGENT_ENOMEM : RK_AGENT_EKEY;
        }
    }
    return RK_AGENT_OK;
}

/* Deletes one batch of old completed messages if it is time to; a failure
 * (a full store, say) is told and tried again later. */
static void purge_due(rk_agent_t *a)
{
    uint64_t now = rk_mono_ms(), wall = rk_wall_ms();
    size_t in_n = 0, out_n = 0;
    bool more = false;
    char why[512] = "";

    if (a->mb == NULL || now < a->next_purge_ms)
        return;
    a->next_purge_ms = now + PURGE_CHECK_MS;
    if (wall <= a->keep_ms)
        return;
    if (rk_mailbox_purge(a->mb, wall - a->keep_ms, RK_MAILBOX_PURGE_BATCH, &in_n, &out_n, &more, why,
                         sizeof why) != RK_AGENT_OK)
        notice(a, "could not delete old completed messages (tried again later): %s", why);
    else if (more)
        a->next_purge_ms = now + PURGE_AGAIN_MS;
}

rk_agent_err rk_agent_purge(rk_agent_t *a, rk_purge_report *rep, char *why, size_t why_len)
{
    uint64_t wall = rk_wall_ms();
    bool more = true;

    memset(rep, 0, sizeof *rep);
    if (a->mb == NULL) {
        rk_why(why, why_len, "deleting old messages needs the agent's data directory (--data)");
        return RK_AGENT_ENOSTORE;
    }
    if (wall <= a->keep_ms)
        return RK_AGENT_OK;
    while (more) {
        size_t in_n = 0, out_n = 0;
        rk_agent_err err = rk_mailbox_purge(a->mb, wall - a->keep_ms, RK_MAILBOX_PURGE_BATCH, &in_n, &out_n,
                                            &more, why, why_len);
        if (err != RK_AGENT_OK)
            return err;
        rep->inbox += in_n;
        rep->outbox += out_n;
    }
    return RK_AGENT_OK;
}

void rk_agent_config_init_sized(rk_agent_config *cfg, size_t struct_size)
{
    if (cfg == NULL || struct_size < sizeof cfg->struct_size)
        return;
    memset(cfg, 0, struct_size);
    cfg->struct_size = struct_size;
}

rk_agent_err rk_agent_open(const rk_agent_config *given, rk_agent_t **out, char *why, size_t why_len)
{
    rk_agent_config copy;
    const rk_agent_config *cfg = &copy;
    rk_agent_t *a;
    rk_agent_err err;
    bool oom = false;

    *out = NULL;
    if (given == NULL) {
        rk_why(why, why_len, "no configuration given");
        return RK_AGENT_EINVAL;
    }
    /* The caller's struct may be an older, smaller one: the fields it does
     * not know keep their defaults. */
    if (given->struct_size == 0) {
        rk_why(why, why_len, "the configuration was not initialized: call rk_agent_config_init first");
        return RK_AGENT_EINVAL;
    }
    if (given->struct_size > sizeof copy || given->struct_size < RK_AGENT_CONFIG_SIZE_0) {
        rk_why(why, why_len,
               "the configuration's size (%zu bytes) is not one this library knows (%zu bytes): "
               "rebuild the program against this library's renkei/agent.h",
               given->struct_size, sizeof copy);
        return RK_AGENT_EINVAL;
    }
    rk_agent_config_init_sized(&copy, sizeof copy);
    memcpy(&copy, given, given->struct_size);
    copy.struct_size = sizeof copy;
    if (!cfg->offline && (cfg->key == NULL || cfg->hub_pub == NULL)) {
        rk_why(why, why_len,
               "connecting to the hub needs this organization's secret key and "
               "the hub's public key");
        return RK_AGENT_EINVAL;
    }
    if (sodium_init() < 0) {
        rk_why(why, why_len, "libsodium could not be initialized (no usable random source?)");
        return RK_AGENT_ECRYPTO;
    }
    a = calloc(1, sizeof *a);
    if (a == NULL) {
        rk_why(why, why_len, "out of memory opening the agent");
        return RK_AGENT_ENOMEM;
    }
    a->endpoint = dup_or_null(cfg->endpoint ? cfg->endpoint : DEFAULT_ENDPOINT, &oom);
    a->hub_pub_path = dup_or_null(cfg->hub_pub, &oom);
    a->key_path = dup_or_null(cfg->key, &oom);
    a->prev_key_path = dup_or_null(cfg->previous_key, &oom);
    a->log_origin = cfg->log_origin != NULL ? dup_or_null(cfg->log_origin, &oom) : NULL;
    if (oom) {
        rk_why(why, why_len, "out of memory opening the agent");
        err = RK_AGENT_ENOMEM;
        goto fail;
    }
    if (a->log_origin != NULL && !valid_origin(a->log_origin)) {
        rk_why(why, why_len,
               "the routing log's origin \"%s\" is not a valid name: 1 to %d printable "
               "characters, no spaces or '+' (the hub's --log-origin)",
               a->log_origin, TLOG_NAME_MAX);
        err = RK_AGENT_EINVAL;
        goto fail;
    }
    if (cfg->keep_days != 0 && (cfg->keep_days < RK_KEEP_DAYS_MIN || cfg->keep_days > RK_KEEP_DAYS_MAX)) {
        rk_why(why, why_len,
               "keeping completed messages %d days is not allowed: give %d to %d days.  The "
               "hub may bring a message again until its time-to-live (14 days unless the hub "
               "says otherwise) and a day have passed, and the inbox must still recognize it",
               cfg->keep_days, RK_KEEP_DAYS_MIN, RK_KEEP_DAYS_MAX);
        err = RK_AGENT_EINVAL;
        goto fail;
    }
    a->keep_ms = (uint64_t)(cfg->keep_days ? cfg->keep_days : RK_KEEP_DAYS_DEFAULT) * DAY_MS;
    a->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    a->receive = cfg->receive;
    a->notice = cfg->notice;
    a->notice_ctx = cfg->notice_ctx;

    if ((err = load_keys(a, cfg, why, why_len)) != RK_AGENT_OK)
        goto fail;
    a->pid = (uint32_t)getpid();
    if (cfg->data_dir != NULL) {
        if ((err = rk_codebook_open(cfg->data_dir, cfg->map_size, &a->book, why, why_len)) != RK_AGENT_OK ||
            (err = rk_mailbox_open(rk_codebook_env(a->book), &a->mb, why, why_len)) != RK_AGENT_OK ||
            (err = rk_mailbox_in_release_stale(a->mb, NULL, why, why_len)) != RK_AGENT_OK)
            goto fail;
        a->next_stale_ms = rk_mono_ms() + STALE_CHECK_MS;
        purge_due(a);
        hub_key_load(a);
    }
    if (cfg->offline)
        load_kept_directory(a);
    else if ((err = rk_agent_connect(a, why, why_len)) != RK_AGENT_OK)
        goto fail;
    *out = a;
    return RK_AGENT_OK;

fail:
    rk_agent_close(&a);
    return err;
}

void rk_agent_close(rk_agent_t **ap)
{
    rk_agent_t *a;
    if (ap == NULL || *ap == NULL)
        return;
    a = *ap;
    if (a->sess != NULL && rk_session_online(a->sess))
        settle_all(a); /* commit and acknowledge what already arrived */
    disconnect(a, false);
    while (a->head != NULL) {
        struct qitem *q = a->head;
        q_unlink(a, NULL, q);
        qitem_free(q);
    }
    rk_dir_clear(&a->dir);
    catalogue_free(&a->cat);
    rk_mailbox_close(&a->mb);
    rk_codebook_close(&a->book);
    rk_identity_destroy(&a->id);
    rk_identity_destroy(&a->prev_id);
    free(a->prev_key_path);
    free(a->endpoint);
    free(a->hub_pub_path);
    free(a->key_path);
    free(a->log_origin);
    free(a);
    *ap = NULL;
}

const char *rk_agent_org(const rk_agent_t *a)
{
    return a->org;
}

const char *rk_agent_kind(const rk_agent_t *a)
{
    return a->kind;
}

/* ------------------------------------------------------------------ local table */

rk_agent_err rk_agent_lookup(rk_agent_t *a, const char *person, uint8_t code[RK_CODE_LEN],
                             char *why, size_t why_len)
{
    if (a->book == NULL) {
        rk_why(why, why_len, "the local table needs the agent's data directory (--data)");
        return RK_AGENT_ENOSTORE;
    }
    return rk_codebook_code(a->book, person, code, why, why_len);
}

rk_agent_err rk_agent_bind(rk_agent_t *a, const char *person, const uint8_t code[RK_CODE_LEN],
                           char *why, size_t why_len)
{
    if (a->book == NULL) {
        rk_why(why, why_len, "the local table needs the agent's data directory (--data)");
        return RK_AGENT_ENOSTORE;
    }
    return rk_codebook_bind(a->book, person, code, why, why_len);
}

rk_agent_err rk_agent_unbind(rk_agent_t *a, const char *person, uint8_t code[RK_CODE_LEN], char *why,
                             size_t why_len)
{
    if (a->book == NULL) {
        rk_why(why, why_len, "the local table needs the agent's data directory (--data)");
        return RK_AGENT_ENOSTORE;
    }
    return rk_codebook_unbind(a->book, person, code, why, why_len);
}

rk_agent_err rk_agent_rebind(rk_agent_t *a, const char *old_person, const char *new_person, char *why,
                             size_t why_len)
{
    if (a->book == NULL) {
        rk_why(why, why_len, "the local table needs the agent's data directory (--data)");
        return RK_AGENT_ENOSTORE;
    }
    return rk_codebook_rebind(a->book, old_person, new_person, why, why_len);
}

static void refusal_set(rk_result_t *r, rk_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refusal_set(rk_result_t *r, rk_status st, const char *fmt, ...)
{
    va_list ap;
    if (r == NULL)
        return;
    memset(r, 0, sizeof *r);
    r->status = st;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

rk_agent_err rk_agent_enroll(rk_agent_t *a, const char *person, uint8_t code[RK_CODE_LEN],
                             bool *existed, rk_result_t *refusal, char *why, size_t why_len)
{
    rk_client_frame_t f;
    rk_hub_frame_t answer;
    rk_agent_err err;

    *existed = false;
    if (a->book == NULL) {
        rk_why(why, why_len, "enrolling needs the agent's data directory (--data)");
        return RK_AGENT_ENOSTORE;
    }
    err = rk_codebook_code(a->book, person, code, why, why_len);
    if (err == RK_AGENT_OK) {
        *existed = true;
        return RK_AGENT_OK;
    }
    if (err != RK_AGENT_ENOTFOUND)
        return err;
    if (a->sess == NULL) {
        rk_why(why, why_len, "enrolling a person needs a connection to the hub");
        return RK_AGENT_EOFFLINE;
    }
    if (strcmp(a->kind, "municipality") != 0) {
        refusal_set(refusal, RK_ST_NOT_PERMITTED, "only municipalities enroll persons; %s is a %s",
                    a->org, a->kind);
        rk_why(why, why_len, "only municipalities enroll persons; %s is a %s", a->org, a->kind);
        return RK_AGENT_EREFUSED;
    }
    memset(&f, 0, sizeof f);
    f.kind = RK_CF_ENROLL;
    err = from_session(
        rk_session_request(a->sess, &f, a->timeout_ms, file_meanwhile, a, &answer, why, why_len));
    if (err == RK_AGENT_ETIMEOUT)
        rk_why(why, why_len, "the hub at %s did not answer the enrollment within %g s", a->endpoint,
               secs(a->timeout_ms));
    if (err != RK_AGENT_OK)
        return err;
    if (answer.u.enrolled.status != RK_ST_ACCEPTED) {
        refusal_set(refusal, answer.u.enrolled.status, "%s", answer.u.enrolled.detail);
        rk_why(why, why_len, "the hub refused the enrollment: %s", rk_status_text(answer.u.enrolled.status));
        err = RK_AGENT_EREFUSED;
        goto done;
    }
    memcpy(code, answer.u.enrolled.code, RK_CODE_LEN);
    err = rk_codebook_bind(a->book, person, code, why, why_len);
    if (err != RK_AGENT_OK) {
        char inner[256];
        snprintf(inner, sizeof inner, "%s", why ? why : "");
        rk_why(why, why_len, "the hub issued a link code but it could not be recorded locally: %s", inner);
        sodium_memzero(code, RK_CODE_LEN);
    }
done:
    rk_hub_frame_clear(&answer); /* wipes the code */
    return err;
}

/* ------------------------------------------------------------------ settling */

static bool online(const rk_agent_t *a)
{
    return a->sess != NULL && rk_session_online(a->sess);
}

/* Reads the connection events and, if the connection is down, waits up to
 * timeout_ms for ZeroMQ's own reconnect to bring it back (the hello goes
 * out on the handshake event).  Send and flush need this: nothing else
 * reads the events when a program only sends.  true if online. */
static bool come_online(rk_agent_t *a, int timeout_ms)
{
    uint64_t deadline;
    char why[128];

    if (a->sess == NULL)
        return false;
    rk_session_events(a->sess);
    deadline = deadline_in(timeout_ms);
    while (!online(a)) {
        int left = remaining(deadline); /* -1: no deadline */
        rk_agent_err err;
        if (left == 0)
            break;
        err = pump(a, left, why, sizeof why);
        if (err != RK_AGENT_OK && err != RK_AGENT_ETIMEOUT)
            break;
    }
    return online(a);
}

static void acks_flush(rk_agent_t *a)
{
    rk_client_frame_t *f;
    char why[256];

    if (a->nacks == 0)
        return;
    if (a->sess == NULL) {
        a->nacks = 0; /* the hub sends them again on the next connection */
        return;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL) {
        notice(a, "out of memory acknowledging deliveries; the hub will send them again");
        a->nacks = 0;
        return;
    }
    f->kind = RK_CF_ACK;
    f->u.ack.n = a->nacks;
    memcpy(f->u.ack.seq, a->acks, a->nacks * sizeof a->acks[0]);
    if (send_frame(a, f, why, sizeof why) != RK_AGENT_OK)
        notice(a, "could not acknowledge deliveries (the hub will send them again): %s", why);
    free(f);
    a->nacks = 0;
}

/* Notes that seq is committed here; sent in batches by acks_flush. */
static void ack_add(rk_agent_t *a, uint64_t seq)
{
    if (seq == 0)
        return;
    if (a->nacks == RK_ACK_MAX)
        acks_flush(a);
    a->acks[a->nacks++] = seq;
}

static rk_agent_err find_org(rk_agent_t *a, const char *id, const rk_dir_entry_t **entry, bool refreshed,
                             char *why, size_t why_len)
{
    rk_agent_err err;
    *entry = a->have_dir ? rk_dir_find(&a->dir, id) : NULL;
    if (*entry != NULL)
        return RK_AGENT_OK;
    if (!refreshed && a->sess != NULL) {
        if ((err = fetch_directory(a, a->timeout_ms, why, why_len)) != RK_AGENT_OK)
            return err;
        *entry = rk_dir_find(&a->dir, id);
        if (*entry != NULL)
            return RK_AGENT_OK;
    }
    if (!a->have_dir) {
        rk_why(why, why_len,
               "no directory of organizations is at hand: the agent must reach the hub "
               "once before it can encrypt for %s",
               id);
        return RK_AGENT_EOFFLINE;
    }
    rk_why(why, why_len,
           "%s is not in the hub's directory: check the organization id "
           "(renkei-agent directory lists them)",
           id);
    return RK_AGENT_EUNKNOWN_ORG;
}

/* Tells the hub this agent refuses a delivered message.  false if the
 * frame could not be sent (the delivery must then not be acked: the hub
 * pushes it again and the refusal is sent again). */
static bool send_reject(rk_agent_t *a, const char *to, const uint8_t msg_id[RK_MSGID_LEN], rk_status reason,
                        const char *detail)
{
    rk_client_frame_t f;
    char why[256];
    memset(&f, 0, sizeof f);
    f.kind = RK_CF_REJECT;
    snprintf(f.u.reject.to, sizeof f.u.reject.to, "%s", to);
    memcpy(f.u.reject.msg_id, msg_id, RK_MSGID_LEN);
    f.u.reject.reason = reason;
    snprintf(f.u.reject.detail, sizeof f.u.reject.detail, "%s", detail);
    if (send_frame(a, &f, why, sizeof why) != RK_AGENT_OK) {
        notice(a, "could not tell the hub about a refused message: %s; it will be refused again when "
                  "the hub sends it again", why);
        return false;
    }
    return true;
}

static void fill_from_core(rk_event *ev, const rk_core_t *core)
{
    snprintf(ev->from, sizeof ev->from, "%s", core->from);
    snprintf(ev->to, sizeof ev->to, "%s", core->to);
    snprintf(ev->type, sizeof ev->type, "%s", core->type);
    memcpy(ev->msg_id, core->msg_id, RK_MSGID_LEN);
    ev->has_reply_to = core->has_reply_to;
    memcpy(ev->reply_to, core->reply_to, RK_MSGID_LEN);
    ev->time_ms = core->time_ms;
}

/* Checks a raw delivery (addressed here, signed by its sender, payload
 * decrypts).  A good one is committed to the inbox (once per sender and
 * msg_id); a bad one is refused to the hub and left in q->ev as a REFUSED
 * event.  *ack says the hub may forget it.  Fails only when nothing could
 * be committed (then it is not acknowledged and the hub sends it again). */
/* Whether this agent holds the key the directory lists as this
 * organization's current one (true when it cannot tell). */
static bool holds_current_key(const rk_agent_t *a)
{
    const rk_dir_entry_t *self = a->have_dir ? rk_dir_find(&a->dir, a->org) : NULL;
    if (self == NULL || a->id == NULL)
        return true;
    return sodium_memcmp(self->sign_key, a->id->pub.sign_pk, RK_KEY_LEN) == 0 ||
           (a->prev_id != NULL && sodium_memcmp(self->sign_key, a->prev_id->pub.sign_pk, RK_KEY_LEN) == 0);
}

/* Deliveries checked in one settle_all, committed to the inbox together. */
struct arrivals {
    rk_inbox_entry *es; /* each core a malloc'd copy */
    uint64_t *seqs;
    bool *dups;
    size_t n, cap;
};

/* Keeps a copy of e (its core copied) to be committed with the others. */
static rk_agent_err arrivals_add(struct arrivals *ar, const rk_inbox_entry *e, uint64_t seq)
{
    uint8_t *core;
    if (ar->n == ar->cap) {
        size_t cap = ar->cap ? ar->cap * 2 : 16;
        rk_inbox_entry *es = realloc(ar->es, cap * sizeof *es);
        uint64_t *seqs;
        bool *dups;
        if (es == NULL)
            return RK_AGENT_ENOMEM;
        ar->es = es;
        if ((seqs = realloc(ar->seqs, cap * sizeof *seqs)) == NULL)
            return RK_AGENT_ENOMEM;
        ar->seqs = seqs;
        if ((dups = realloc(ar->dups, cap * sizeof *dups)) == NULL)
            return RK_AGENT_ENOMEM;
        ar->dups = dups;
        ar->cap = cap;
    }
    if ((core = malloc(e->core_len ? e->core_len : 1)) == NULL)
        return RK_AGENT_ENOMEM;
    memcpy(core, e->core, e->core_len);
    ar->es[ar->n] = *e;
    ar->es[ar->n].core = core;
    ar->seqs[ar->n] = seq;
    ar->n++;
    return RK_AGENT_OK;
}

/* Commits the kept deliveries in one transaction, then acknowledges them;
 * if that fails, one by one (what is known already is acknowledged even
 * when the store is full).  Empties ar. */
static void arrivals_commit(rk_agent_t *a, struct arrivals *ar)
{
    char why[256] = "";
    if (ar->n > 0 && rk_mailbox_in_add_n(a->mb, ar->es, ar->n, rk_wall_ms(), ar->dups, why, sizeof why) ==
                         RK_AGENT_OK) {
        for (size_t i = 0; i < ar->n; i++)
            ack_add(a, ar->seqs[i]);
    } else {
        for (size_t i = 0; i < ar->n; i++) {
            bool dup = false;
            why[0] = '\0';
            if (rk_mailbox_in_add(a->mb, &ar->es[i], rk_wall_ms(), &dup, why, sizeof why) == RK_AGENT_OK)
                ack_add(a, ar->seqs[i]);
            else
                notice(a, "could not record what the hub sent (it will send it again): %s", why);
        }
    }
    for (size_t i = 0; i < ar->n; i++)
        rk_inbox_entry_clear(&ar->es[i]); /* wipes the code, signature and core */
    ar->n = 0;
}

static void arrivals_free(struct arrivals *ar)
{
    for (size_t i = 0; i < ar->n; i++)
        rk_inbox_entry_clear(&ar->es[i]);
    free(ar->es);
    free(ar->seqs);
    free(ar->dups);
    memset(ar, 0, sizeof *ar);
}

/* Checks a delivery.  One to keep goes into ar, to be committed and
 * acknowledged with the others of the batch (*ack false then); *ack true
 * means acknowledge it now (refused, or dropped). */
static rk_agent_err take_delivery(rk_agent_t *a, struct qitem *q, struct arrivals *ar, bool *ack, char *why,
                                  size_t why_len)
{
    uint8_t signer[RK_KEY_LEN];
    const rk_envelope_t *env = &q->frame.u.deliver.envelope;
    rk_core_t core;
    const rk_dir_entry_t *sender = NULL;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    char detail[RK_DETAIL_MAX + 1] = "";
    rk_status reason = RK_ST_UNSPECIFIED;
    rk_inbox_entry e;
    rk_event *ev;
    rk_agent_err err;

    *ack = false;
    err = rk_seal_peek(env, a->org, &core, detail, sizeof detail);
    if (err == RK_AGENT_ENOMEM) {
        rk_why(why, why_len, "out of memory reading a delivery");
        return err;
    }
    if (err == RK_AGENT_EPROTO) {
        /* Nobody to tell: the sender cannot be read.  Dropped. */
        if ((ev = event_new(RK_EVENT_REFUSED)) == NULL) {
            rk_why(why, why_len, "out of memory reading a delivery");
            return RK_AGENT_ENOMEM;
        }
        ev->seq = q->frame.u.deliver.seq;
        ev->result.status = RK_ST_MALFORMED;
        snprintf(ev->detail, sizeof ev->detail, "%s", detail);
        q->ev = ev;
        *ack = true;
        return RK_AGENT_OK;
    }
    if (err == RK_AGENT_EMISROUTED) {
        reason = RK_ST_MALFORMED;
        goto refuse;
    }
    err = find_org(a, core.from, &sender, false, detail, sizeof detail);
    if (err == RK_AGENT_EUNKNOWN_ORG) {
        snprintf(detail, sizeof detail, "sender %s is not in the hub's directory", core.from);
        reason = RK_ST_BAD_SIGNATURE;
        goto refuse;
    }
    if (err != RK_AGENT_OK) {
        /* The directory cannot be had now: not the sender's fault.  Left
         * unacknowledged, the hub brings it again. */
        notice(a, "could not check a delivery from %s now (%s); the hub will bring it again", core.from,
               detail);
        rk_core_clear(&core);
        return RK_AGENT_OK;
    }
    err = rk_seal_open(a->id, a->prev_id, env, &core, sender, signer, &plain, &plain_len, detail,
                       sizeof detail);
    if (err == RK_AGENT_EBADSIG || err == RK_AGENT_EUNDECRYPTABLE) {
        /* The sender may have a new key: look again once. */
        if (fetch_directory(a, a->timeout_ms, NULL, 0) == RK_AGENT_OK &&
            (sender = rk_dir_find(&a->dir, core.from)) != NULL)
            err = rk_seal_open(a->id, a->prev_id, env, &core, sender, signer, &plain, &plain_len, detail,
                               sizeof detail);
    }
    if (err == RK_AGENT_EUNDECRYPTABLE && !holds_current_key(a)) {
        /* Sealed to a key of this organization that this agent does not
         * hold (it was rekeyed, and this agent still runs with the old key
         * alone): not the sender's fault, and refusing it would lose it.
         * Left unacknowledged, it waits at the hub for an agent with the
         * new key. */
        notice(a,
               "a delivery from %s is sealed to this organization's new key, which this agent does not "
               "hold: restart it with --key NEW.key --previous-key %s; the hub keeps the message until then",
               core.from, a->key_path);
        rk_core_clear(&core);
        return RK_AGENT_OK;
    }
    if (err == RK_AGENT_ENOMEM) {
        rk_core_clear(&core);
        rk_why(why, why_len, "out of memory reading a delivery");
        return err;
    }
    if (err == RK_AGENT_EBADSIG) {
        reason = RK_ST_BAD_SIGNATURE;
        goto refuse;
    }
    if (err != RK_AGENT_OK) {
        reason = RK_ST_UNDECRYPTABLE;
        goto refuse;
    }
    rk_seal_free_plain(&plain, plain_len); /* opened again when handed out */

    memset(&e, 0, sizeof e);
    e.hub_seq = q->frame.u.deliver.seq;
    e.first_contact = q->frame.u.deliver.first_contact;
    memcpy(e.code, env->who, RK_CODE_LEN);
    snprintf(e.from, sizeof e.from, "%s", core.from);
    snprintf(e.type, sizeof e.type, "%s", core.type);
    memcpy(e.msg_id, core.msg_id, RK_MSGID_LEN);
    e.has_reply_to = core.has_reply_to;
    memcpy(e.reply_to, core.reply_to, RK_MSGID_LEN);
    memcpy(e.sender_key, signer, RK_KEY_LEN);
    memcpy(e.signature, env->signature, RK_SIG_LEN);
    e.core = env->core; /* borrowed */
    e.core_len = env->core_len;
    rk_core_clear(&core);
    err = arrivals_add(ar, &e, q->frame.u.deliver.seq);
    sodium_memzero(&e, sizeof e);
    if (err != RK_AGENT_OK)
        rk_why(why, why_len, "out of memory recording a delivery");
    return err;

refuse:
    /* Acked only once the hub has the refusal: otherwise the sender would
     * be told DELIVERED for a message nobody took. */
    if (!send_reject(a, core.from, core.msg_id, reason, detail)) {
        rk_core_clear(&core);
        *ack = false;
        return RK_AGENT_OK;
    }
    ev = event_new(RK_EVENT_REFUSED);
    if (ev != NULL) {
        fill_from_core(ev, &core);
        memcpy(ev->code, env->who, RK_CODE_LEN);
        ev->seq = q->frame.u.deliver.seq;
        ev->result.status = reason;
        snprintf(ev->detail, sizeof ev->detail, "%s", detail);
        q->ev = ev;
    }
    rk_core_clear(&core);
    *ack = true;
    return RK_AGENT_OK;
}

/* Settles every raw item on the queue: notices into the outbox, each
 * committed before its seq joins the acks; deliveries into the inbox, all
 * of them in one commit (one disk flush for a burst) before their seqs
 * join the acks, which leave in one frame at the end.  REFUSED events stay
 * queued for recv. */
static void settle_all(rk_agent_t *a)
{
    struct qitem *prev = NULL, *q;
    struct arrivals ar;
    char why[256];

    if (a->settling)
        return;
    a->settling = true;
    memset(&ar, 0, sizeof ar);
    q = a->head;
    while (q != NULL) {
        struct qitem *next;
        bool ack = false;
        rk_agent_err err = RK_AGENT_OK;

        if (!q->raw) {
            prev = q;
            q = q->next;
            continue;
        }
        why[0] = '\0';
        if (a->mb == NULL) {
            /* Nowhere to commit: the hub keeps it for a process that has. */
        } else if (q->frame.kind == RK_HF_NOTICE) {
            bool known = false;
            err = rk_mailbox_out_notice(a->mb, &q->frame.u.notice, rk_wall_ms(), &known, why, sizeof why);
            ack = err == RK_AGENT_OK;
            if (ack)
                ack_add(a, q->frame.u.notice.seq);
        } else if (q->frame.kind == RK_HF_DELIVER) {
            err = take_delivery(a, q, &ar, &ack, why, sizeof why);
            if (ack)
                ack_add(a, q->frame.u.deliver.seq);
        }
        if (err != RK_AGENT_OK)
            notice(a, "could not record what the hub sent (it will send it again): %s", why);
        q->raw = false;
        rk_hub_frame_clear(&q->frame);
        next = q->next;
        if (q->ev == NULL) {
            q_unlink(a, prev, q);
            qitem_free(q);
        } else {
            prev = q;
        }
        q = next;
    }
    arrivals_commit(a, &ar);
    arrivals_free(&ar);
    acks_flush(a);
    a->settling = false;
}

/* Milliseconds to wait before sending again after `attempts` sends. */
static uint64_t backoff_ms(uint32_t attempts)
{
    uint32_t shift = attempts == 0 ? 0 : attempts - 1;
    uint64_t ms = 1000u << (shift > 6 ? 6 : shift);
    return ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms;
}

/* Re-sends pending outbox messages that are due: all of them if force,
 * else those whose back-off ran out or that predate this connection.
 * *sent is how many were sent; an error is the outbox failing to say
 * which are due (nothing was sent then). */
static rk_agent_err resend_due(rk_agent_t *a, bool force, size_t *sent, char *why, size_t why_len)
{
    uint8_t (*ids)[RK_MSGID_LEN] = NULL;
    size_t n = 0;
    uint64_t now = rk_wall_ms();
    rk_agent_err err;

    *sent = 0;
    if (a->mb == NULL || !online(a))
        return RK_AGENT_OK;
    if ((err = rk_mailbox_out_due(a->mb, force ? UINT64_MAX : now, force ? UINT64_MAX : a->conn_since_ms, &ids,
                                  &n, why, why_len)) != RK_AGENT_OK)
        return err;
    for (size_t i = 0; i < n; i++) {
        rk_msg_status st;
        uint8_t *frame = NULL;
        size_t len = 0;
        err = rk_mailbox_out_get(a->mb, ids[i], &st, &frame, &len, why, why_len);
        if (err != RK_AGENT_OK || st.state != RK_MSG_PENDING) {
            frame_free(frame, len);
            continue;
        }
        err = send_bytes(a, frame, len, !force, why, why_len);
        frame_free(frame, len);
        if (err != RK_AGENT_OK)
            break; /* the connection is busy or down: next time */
        now = rk_wall_ms();
        if (rk_mailbox_out_sent(a->mb, ids[i], now, now + backoff_ms(st.attempts + 1), why, why_len) !=
            RK_AGENT_OK)
            notice(a, "could not note a re-send in the outbox: %s", why);
        (*sent)++;
    }
    free(ids);
    return RK_AGENT_OK;
}

/* What every wait does between pumps: settle the queue, re-send pending
 * messages that are due, release claims of processes that died. */
static void tick(rk_agent_t *a)
{
    uint64_t now = rk_mono_ms();
    char why[256] = "";

    settle_all(a);
    if (a->mb == NULL)
        return;
    purge_due(a);
    if (now >= a->next_stale_ms) {
        size_t released = 0;
        a->next_stale_ms = now + STALE_CHECK_MS;
        if (rk_mailbox_in_release_stale(a->mb, &released, why, sizeof why) != RK_AGENT_OK)
            notice(a, "could not release stale claims: %s", why);
    }
    if (online(a) && now >= a->next_resend_ms) {
        a->next_resend_ms = now + RESEND_CHECK_MS;
        size_t sent;
        if (resend_due(a, false, &sent, why, sizeof why) != RK_AGENT_OK)
            notice(a, "could not re-send pending messages: %s", why);
    }
}

/* Waits up to timeout_ms for anything: the hub's socket when connected,
 * else just the clock (the inbox is shared with other processes). */
static rk_agent_err wait_some(rk_agent_t *a, int timeout_ms, char *why, size_t why_len)
{
    struct timespec ts;
    if (a->sess != NULL)
        return pump(a, timeout_ms, why, why_len);
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    if (nanosleep(&ts, NULL) != 0 && errno == EINTR) {
        rk_why(why, why_len, "interrupted");
        return RK_AGENT_EINTR;
    }
    return RK_AGENT_ETIMEOUT;
}

static int min_int(int x, int y)
{
    return x < 0 ? y : (x < y ? x : y);
}

/* ------------------------------------------------------------------ sending */

static void refusal_text(const rk_result_t *r, char *why, size_t why_len)
{
    rk_why(why, why_len, "%s: %s%s%s%s", rk_status_name(r->status), rk_status_text(r->status),
           r->detail[0] ? " (" : "", r->detail, r->detail[0] ? ")" : "");
}

/* Waits for the hub's result for msg_id.  OK when ACCEPTED, EREFUSED for a
 * final refusal, EPENDING for a transient one or none in time. */
static rk_agent_err await_result(rk_agent_t *a, const uint8_t msg_id[RK_MSGID_LEN], rk_result_t *result,
                                 char *why, size_t why_len)
{
    uint64_t deadline = deadline_in(a->timeout_ms);
    char hex[RK_MSGID_LEN * 2 + 1];
    rk_agent_err err = RK_AGENT_OK;

    sodium_bin2hex(hex, sizeof hex, msg_id, RK_MSGID_LEN);
    a->awaiting = true;
    a->await_done = false;
    memcpy(a->await_id, msg_id, RK_MSGID_LEN);
    while (!a->await_done) {
        int left = remaining(deadline);
        if (left == 0)
            break;
        err = pump(a, left, why, why_len);
        if (err != RK_AGENT_OK && err != RK_AGENT_ETIMEOUT)
            break;
        err = RK_AGENT_OK;
        settle_all(a);
    }
    a->awaiting = false;
    if (err != RK_AGENT_OK) {
        char inner[256];
        snprintf(inner, sizeof inner, "%s", why != NULL ? why : "");
        rk_why(why, why_len, "%s; message %s is kept in the outbox and re-sent automatically", inner, hex);
        return err == RK_AGENT_EINTR || err == RK_AGENT_ENOMEM ? err : RK_AGENT_EPENDING;
    }
    if (!a->await_done) {
        rk_why(why, why_len,
               "the hub at %s did not confirm message %s within %g s; it is kept in the "
               "outbox and re-sent automatically",
               a->endpoint, hex, secs(a->timeout_ms));
        return RK_AGENT_EPENDING;
    }
    *result = a->await_result;
    if (!result->has_msg_id) {
        /* The hub could not read the frame: it will not read it again. */
        result->has_msg_id = true;
        memcpy(result->msg_id, msg_id, RK_MSGID_LEN);
        if (a->mb != NULL && rk_mailbox_out_result(a->mb, result, rk_wall_ms(), NULL, NULL, 0) != RK_AGENT_OK)
            notice(a, "could not record the hub's answer for message %s in the outbox", hex);
    }
    if (result->status == RK_ST_ACCEPTED)
        return RK_AGENT_OK;
    refusal_text(result, why, why_len);
    if (result->status == RK_ST_QUEUE_FULL || result->status == RK_ST_STORE_FULL ||
        result->status == RK_ST_INTERNAL || result->status == RK_ST_RECIPIENT_OFFLINE) {
        char inner[300];
        snprintf(inner, sizeof inner, "%s", why != NULL ? why : "");
        rk_why(why, why_len, "%s; message %s is kept in the outbox and re-sent automatically", inner, hex);
        return RK_AGENT_EPENDING;
    }
    return RK_AGENT_EREFUSED;
}

/* This organization's kind: from the welcome, else from the directory. */
static bool own_kind(const rk_agent_t *a, org_kind *kind)
{
    const rk_dir_entry_t *me;

    if (a->kind[0] != '\0')
        return org_kind_parse(a->kind, kind);
    me = a->have_dir ? rk_dir_find(&a->dir, rk_agent_org(a)) : NULL;
    return me != NULL && org_kind_parse(me->kind, kind);
}

/* Whether the catalogue at hand lets this organization send m to `to`;
 * if not, fills result with the hub's answer and its rule.  Without a
 * catalogue (a hub that sends none) the hub alone decides. */
static bool allowed(rk_agent_t *a, const rk_outgoing *m, const rk_dir_entry_t *to, rk_result_t *result)
{
    policy_verdict_t v;
    org_kind mine, theirs;

    if (a->cat == NULL || !own_kind(a, &mine) || !org_kind_parse(to->kind, &theirs))
        return true;
    policy_check(a->cat, m->type, (policy_party_t){rk_agent_org(a), mine}, (policy_party_t){to->id, theirs},
                 m->reply_to != NULL, &v);
    if (v.status == RK_ST_ACCEPTED)
        return true;
    refusal_set(result, v.status, "%s", v.rule);
    return false;
}

/* Seals m, commits it to the outbox (closing the request it answers, if
 * done_from), sends it and waits for the hub's result. */
static rk_agent_err send_new(rk_agent_t *a, const rk_outgoing *m, const uint8_t who[RK_CODE_LEN],
                             const char *done_from, const uint8_t *done_msg_id, uint8_t msg_id[RK_MSGID_LEN],
                             rk_result_t *result, char *why, size_t why_len)
{
    const rk_dir_entry_t *to = NULL;
    rk_client_frame_t f;
    rk_seal_params p;
    rk_msg_status st;
    uint8_t *bytes = NULL;
    size_t len = 0;
    rk_wire_err werr;
    rk_agent_err err;
    char hex[RK_MSGID_LEN * 2 + 1];
    uint64_t now;

    if (online(a) && a->have_dir && (a->dir_stale || rk_mono_ms() - a->dir_at_ms > DIR_MAX_AGE_MS) &&
        (err = fetch_directory(a, a->timeout_ms, why, why_len)) != RK_AGENT_OK && err != RK_AGENT_ETIMEOUT)
        return err; /* no fresh one in time: the one at hand will do */
    if ((err = find_org(a, m->to, &to, !online(a), why, why_len)) != RK_AGENT_OK) {
        if (err == RK_AGENT_EUNKNOWN_ORG) {
            /* Without a key there is nothing to encrypt to: the hub's own
             * answer would be the same.  Nothing is kept. */
            refusal_set(result, RK_ST_UNKNOWN_RECIPIENT, "no organization '%s' in the hub's directory", m->to);
            return RK_AGENT_EREFUSED;
        }
        return err;
    }
    if (!allowed(a, m, to, result)) {
        /* The catalogue may have changed since the directory came: a
         * refusal is final only under a fresh one. */
        char inner[256];
        if (!online(a) || rk_mono_ms() - a->dir_at_ms < DIR_RECHECK_MS ||
            fetch_directory(a, a->timeout_ms, inner, sizeof inner) != RK_AGENT_OK ||
            (to = rk_dir_find(&a->dir, m->to)) == NULL || !allowed(a, m, to, result))
            return RK_AGENT_EREFUSED; /* what the hub would answer; nothing is kept */
        if (result != NULL)
            memset(result, 0, sizeof *result);
    }
    memset(&p, 0, sizeof p);
    p.time_ms = rk_wall_ms();
    rk_msgid_new(msg_id, p.time_ms);
    p.type = m->type;
    p.msg_id = msg_id;
    p.reply_to = m->reply_to;
    p.who = who;
    memset(&f, 0, sizeof f);
    f.kind = RK_CF_SEND;
    err = rk_seal_build(a->conn_id != NULL ? a->conn_id : a->id, to, &p, m->payload, m->payload_len,
                        &f.u.send, why, why_len);
    if (err != RK_AGENT_OK)
        return err;
    werr = rk_client_frame_encode(&f, &bytes, &len);
    rk_client_frame_clear(&f);
    if (werr != RK_WIRE_OK) {
        rk_why(why, why_len, "cannot encode the message: %s", rk_wire_strerror(werr));
        return werr == RK_WIRE_ENOMEM ? RK_AGENT_ENOMEM : RK_AGENT_EINVAL;
    }

    memset(&st, 0, sizeof st);
    memcpy(st.msg_id, msg_id, RK_MSGID_LEN);
    snprintf(st.to, sizeof st.to, "%s", m->to);
    snprintf(st.type, sizeof st.type, "%s", m->type);
    memcpy(st.code, who, RK_CODE_LEN);
    st.is_reply = m->reply_to != NULL;
    if (st.is_reply)
        memcpy(st.reply_to, m->reply_to, RK_MSGID_LEN);
    st.no_reply = m->no_reply || st.is_reply;
    st.created_ms = p.time_ms;
    err = rk_mailbox_out_add(a->mb, &st, bytes, len, done_from, done_msg_id, p.time_ms, why, why_len);
    sodium_memzero(&st, sizeof st);
    if (err != RK_AGENT_OK) {
        frame_free(bytes, len);
        memset(msg_id, 0, RK_MSGID_LEN);
        return err;
    }

    /* Committed: from here on the message is not lost, whatever happens. */
    sodium_bin2hex(hex, sizeof hex, msg_id, RK_MSGID_LEN);
    if (!come_online(a, a->timeout_ms)) {
        frame_free(bytes, len);
        rk_why(why, why_len,
               "not connected to the hub; message %s is kept in the outbox and re-sent "
               "automatically",
               hex);
        return RK_AGENT_EPENDING;
    }
    err = send_bytes(a, bytes, len, false, why, why_len);
    frame_free(bytes, len);
    if (err != RK_AGENT_OK) {
        char inner[256];
        snprintf(inner, sizeof inner, "%s", why != NULL ? why : "");
        rk_why(why, why_len, "%s; message %s is kept in the outbox and re-sent automatically", inner, hex);
        return RK_AGENT_EPENDING;
    }
    now = rk_wall_ms();
    if (rk_mailbox_out_sent(a->mb, msg_id, now, now + (uint64_t)a->timeout_ms + backoff_ms(1), NULL, 0) !=
        RK_AGENT_OK)
        notice(a, "could not note message %s as sent in the outbox", hex);
    return await_result(a, msg_id, result, why, why_len);
}

static rk_agent_err need_store(rk_agent_t *a, const char *what, char *why, size_t why_len)
{
    if (a->mb == NULL) {
        rk_why(why, why_len,
               "%s needs the agent's data directory (--data), where messages are kept "
               "until they are through",
               what);
        return RK_AGENT_ENOSTORE;
    }
    if (a->id == NULL) {
        rk_why(why, why_len, "%s needs this organization's secret key (--key)", what);
        return RK_AGENT_EINVAL;
    }
    return RK_AGENT_OK;
}

rk_agent_err rk_agent_send(rk_agent_t *a, const rk_outgoing *m, uint8_t msg_id[RK_MSGID_LEN],
                           rk_result_t *result, char *why, size_t why_len)
{
    uint8_t who[RK_CODE_LEN];
    rk_agent_err err;

    memset(result, 0, sizeof *result);
    memset(msg_id, 0, RK_MSGID_LEN);
    if ((err = need_store(a, "sending", why, why_len)) != RK_AGENT_OK)
        return err;
    purge_due(a);
    if (m == NULL || m->to == NULL || !rk_valid_name(m->to)) {
        rk_why(why, why_len, "the recipient must be an organization id (lowercase letters, digits, . _ -)");
        return RK_AGENT_EINVAL;
    }
    if (m->type == NULL || !rk_valid_name(m->type)) {
        rk_why(why, why_len, "the procedure type must be a name like utility.supply.stop");
        return RK_AGENT_EINVAL;
    }
    if (m->payload == NULL && m->payload_len > 0) {
        rk_why(why, why_len, "no payload given");
        return RK_AGENT_EINVAL;
    }
    if (m->code != NULL) {
        memcpy(who, m->code, RK_CODE_LEN);
    } else if (m->person != NULL) {
        err = rk_codebook_code(a->book, m->person, who, why, why_len);
        if (err == RK_AGENT_ENOTFOUND)
            rk_why(why, why_len, "no link code is recorded for this person: enroll or bind them first");
        if (err != RK_AGENT_OK)
            return err;
    } else {
        rk_why(why, why_len, "a message needs a person or a link code");
        return RK_AGENT_EINVAL;
    }
    err = send_new(a, m, who, NULL, NULL, msg_id, result, why, why_len);
    sodium_memzero(who, sizeof who);
    return err;
}

/* An answer of `type` to a delivered message (see rk_agent_reply). */
static rk_agent_err answer(rk_agent_t *a, const rk_event *request, const char *type, const uint8_t *payload,
                           size_t len, uint8_t msg_id[RK_MSGID_LEN], rk_result_t *result, char *why,
                           size_t why_len)
{
    rk_outgoing m;
    rk_agent_err err;

    memset(result, 0, sizeof *result);
    memset(msg_id, 0, RK_MSGID_LEN);
    if (request == NULL || request->kind != RK_EVENT_MESSAGE) {
        rk_why(why, why_len, "only a delivered message can be replied to");
        return RK_AGENT_EINVAL;
    }
    if ((err = need_store(a, "replying", why, why_len)) != RK_AGENT_OK)
        return err;
    if (payload == NULL && len > 0) {
        rk_why(why, why_len, "no payload given");
        return RK_AGENT_EINVAL;
    }
    if (type == NULL || !rk_valid_name(type)) {
        rk_why(why, why_len, "no valid procedure type given for the follow-up");
        return RK_AGENT_EINVAL;
    }
    memset(&m, 0, sizeof m);
    m.to = request->from;
    m.type = type;
    m.code = request->code;
    m.payload = payload;
    m.payload_len = len;
    m.reply_to = request->msg_id;
    m.no_reply = true;
    return send_new(a, &m, request->code, request->from, request->msg_id, msg_id, result, why, why_len);
}

rk_agent_err rk_agent_reply(rk_agent_t *a, const rk_event *request, const uint8_t *payload, size_t len,
                            uint8_t msg_id[RK_MSGID_LEN], rk_result_t *result, char *why, size_t why_len)
{
    return answer(a, request, request != NULL ? request->type : NULL, payload, len, msg_id, result, why, why_len);
}

rk_agent_err rk_agent_follow_up(rk_agent_t *a, const rk_event *request, const char *type, const uint8_t *payload,
                                size_t len, uint8_t msg_id[RK_MSGID_LEN], rk_result_t *result, char *why,
                                size_t why_len)
{
    return answer(a, request, type, payload, len, msg_id, result, why, why_len);
}

rk_agent_err rk_agent_flush(rk_agent_t *a, int timeout_ms, rk_flush_report *rep, char *why, size_t why_len)
{
    uint8_t (*ids)[RK_MSGID_LEN] = NULL;
    size_t n = 0;
    uint64_t deadline = deadline_in(timeout_ms);
    rk_agent_err err;
    bool all_answered = false;

    memset(rep, 0, sizeof *rep);
    if ((err = need_store(a, "flushing the outbox", why, why_len)) != RK_AGENT_OK)
        return err;
    purge_due(a);
    settle_all(a);
    if (!come_online(a, remaining(deadline))) {
        rk_why(why, why_len, "flushing the outbox needs a connection to the hub");
        return RK_AGENT_EOFFLINE;
    }
    if ((err = rk_mailbox_out_due(a->mb, UINT64_MAX, UINT64_MAX, &ids, &n, why, why_len)) != RK_AGENT_OK)
        return err;
    if (n > 0 && (err = resend_due(a, true, &rep->sent, why, why_len)) != RK_AGENT_OK) {
        free(ids);
        return err;
    }
    while (!all_answered) {
        int left;
        all_answered = true;
        for (size_t i = 0; i < n && all_answered; i++) {
            rk_msg_status st;
            if (rk_mailbox_out_get(a->mb, ids[i], &st, NULL, NULL, NULL, 0) == RK_AGENT_OK &&
                st.state == RK_MSG_PENDING && st.status == RK_ST_UNSPECIFIED)
                all_answered = false;
        }
        if (all_answered)
            break;
        left = remaining(deadline);
        if (left == 0)
            break;
        err = pump(a, left, why, why_len);
        if (err != RK_AGENT_OK && err != RK_AGENT_ETIMEOUT) {
            free(ids);
            return err;
        }
        settle_all(a);
    }
    /* Take in what the hub pushes on a new connection (notices, replies),
     * as long as it keeps coming. */
    while (all_answered && remaining(deadline) > 0) {
        err = pump(a, min_int(remaining(deadline), FLUSH_DRAIN_MS), why, why_len);
        settle_all(a);
        if (err != RK_AGENT_OK)
            break;
    }
    for (size_t i = 0; i < n; i++) {
        rk_msg_status st;
        if (rk_mailbox_out_get(a->mb, ids[i], &st, NULL, NULL, NULL, 0) != RK_AGENT_OK)
            continue;
        if (st.state == RK_MSG_PENDING)
            rep->pending++;
        else if (st.state == RK_MSG_REFUSED && st.accepted_ms == 0)
            rep->refused++;
        else
            rep->accepted++;
    }
    free(ids);
    if (!all_answered) {
        rk_why(why, why_len,
               "the hub at %s did not answer for %zu message(s) within %g s; they stay "
               "in the outbox",
               a->endpoint, rep->pending, secs(timeout_ms));
        return RK_AGENT_ETIMEOUT;
    }
    return RK_AGENT_OK;
}

/* ------------------------------------------------------------------ receiving */

/* Opens an inbox entry into a MESSAGE event.  RK_AGENT_EBADSIG /
 * RK_AGENT_EUNDECRYPTABLE if it no longer opens (then it is of no use). */
static rk_agent_err event_from_entry(rk_agent_t *a, const rk_inbox_entry *e, rk_event **out, char *why,
                                     size_t why_len)
{
    rk_envelope_t env;
    rk_core_t core;
    rk_dir_entry_t sender;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    rk_event *ev;
    rk_agent_err err;

    *out = NULL;
    memset(&env, 0, sizeof env);
    env.core = e->core; /* borrowed */
    env.core_len = e->core_len;
    memcpy(env.signature, e->signature, RK_SIG_LEN);
    memcpy(env.who, e->code, RK_CODE_LEN);
    if ((err = rk_seal_peek(&env, a->org, &core, why, why_len)) != RK_AGENT_OK) {
        if (err == RK_AGENT_EMISROUTED)
            rk_core_clear(&core);
        return err == RK_AGENT_ENOMEM ? err : RK_AGENT_EBADSIG;
    }
    memset(&sender, 0, sizeof sender);
    snprintf(sender.id, sizeof sender.id, "%s", e->from);
    memcpy(sender.sign_key, e->sender_key, RK_KEY_LEN);
    err = rk_seal_open(a->id, a->prev_id, &env, &core, &sender, NULL, &plain, &plain_len, why, why_len);
    if (err != RK_AGENT_OK) {
        rk_core_clear(&core);
        return err;
    }
    ev = event_new(RK_EVENT_MESSAGE);
    if (ev == NULL) {
        rk_core_clear(&core);
        rk_seal_free_plain(&plain, plain_len);
        rk_why(why, why_len, "out of memory handing out a message");
        return RK_AGENT_ENOMEM;
    }
    fill_from_core(ev, &core);
    rk_core_clear(&core);
    memcpy(ev->code, e->code, RK_CODE_LEN);
    ev->first_contact = e->first_contact;
    ev->attempts = e->attempts;
    ev->next_try_ms = e->next_try_ms;
    ev->seq = e->hub_seq;
    ev->payload = plain;
    ev->payload_len = plain_len;
    if (a->book != NULL && rk_codebook_person(a->book, ev->code, &ev->person, NULL, 0) == RK_AGENT_ENOMEM) {
        rk_event_free(&ev);
        rk_why(why, why_len, "out of memory handing out a message");
        return RK_AGENT_ENOMEM;
    }
    *out = ev;
    return RK_AGENT_OK;
}

/* The first REFUSED event on the queue, unlinked; NULL if none. */
static rk_event *take_refused(rk_agent_t *a)
{
    struct qitem *prev = NULL;
    for (struct qitem *q = a->head; q != NULL; prev = q, q = q->next) {
        rk_event *ev;
        if (q->raw || q->ev == NULL)
            continue;
        ev = q->ev;
        q->ev = NULL;
        q_unlink(a, prev, q);
        qitem_free(q);
        return ev;
    }
    return NULL;
}

rk_agent_err rk_agent_recv_only(rk_agent_t *a, rk_recv_what what, int timeout_ms, rk_event **ev, char *why,
                                size_t why_len)
{
    uint64_t deadline = deadline_in(timeout_ms);

    *ev = NULL;
    if (need_store(a, "receiving", why, why_len) != RK_AGENT_OK)
        return a->mb == NULL ? RK_AGENT_ENOSTORE : RK_AGENT_EINVAL;
    for (;;) {
        rk_inbox_entry e;
        rk_agent_err err;
        int left;

        tick(a);
        if ((*ev = take_refused(a)) != NULL)
            return RK_AGENT_OK;
        err = rk_mailbox_in_claim(a->mb, what, a->pid, rk_wall_ms(), &e, why, why_len);
        if (err == RK_AGENT_OK) {
            char inner[256] = "";
            err = event_from_entry(a, &e, ev, inner, sizeof inner);
            if (err == RK_AGENT_OK) {
                rk_inbox_entry_clear(&e);
                return RK_AGENT_OK;
            }
            if (err == RK_AGENT_ENOMEM) {
                rk_inbox_entry_clear(&e);
                rk_why(why, why_len, "%s", inner);
                return err;
            }
            /* Checked when it came; it cannot be opened now (this
             * organization's key changed?).  Nobody can use it. */
            notice(a, "a message from %s in the inbox no longer opens (%s); marked done", e.from, inner);
            if (rk_mailbox_in_done(a->mb, e.from, e.msg_id, rk_wall_ms(), inner, sizeof inner) != RK_AGENT_OK)
                notice(a, "could not mark it done: %s", inner);
            rk_inbox_entry_clear(&e);
            continue;
        }
        if (err != RK_AGENT_ENOTFOUND)
            return err;
        left = remaining(deadline);
        if (left == 0) {
            rk_why(why, why_len, "nothing arrived within %g s", secs(timeout_ms));
            return RK_AGENT_ETIMEOUT;
        }
        err = wait_some(a, min_int(left, POLL_MS), why, why_len);
        if (err != RK_AGENT_OK && err != RK_AGENT_ETIMEOUT)
            return err;
    }
}

rk_agent_err rk_agent_recv_batch(rk_agent_t *a, rk_recv_what what, size_t max, int timeout_ms, rk_event **evs,
                                 size_t *n, char *why, size_t why_len)
{
    uint64_t deadline = deadline_in(timeout_ms);
    rk_inbox_entry *es = NULL;
    rk_agent_err err = RK_AGENT_OK;

    *n = 0;
    if (max == 0 || evs == NULL) {
        rk_why(why, why_len, "receiving needs room for at least one event");
        return RK_AGENT_EINVAL;
    }
    for (size_t i = 0; i < max; i++)
        evs[i] = NULL;
    if (need_store(a, "receiving", why, why_len) != RK_AGENT_OK)
        return a->mb == NULL ? RK_AGENT_ENOSTORE : RK_AGENT_EINVAL;
    if ((es = calloc(max, sizeof *es)) == NULL) {
        rk_why(why, why_len, "out of memory receiving");
        return RK_AGENT_ENOMEM;
    }
    for (;;) {
        size_t claimed = 0;
        int left;

        tick(a);
        while (*n < max && (evs[*n] = take_refused(a)) != NULL)
            (*n)++;
        if (*n == max)
            break;
        err = rk_mailbox_in_claim_n(a->mb, what, a->pid, rk_wall_ms(), es, max - *n, &claimed, why, why_len);
        for (size_t i = 0; i < claimed; i++) {
            char inner[256] = "";
            rk_agent_err oerr = err == RK_AGENT_OK ? event_from_entry(a, &es[i], &evs[*n], inner, sizeof inner)
                                                   : err;
            if (oerr == RK_AGENT_OK) {
                (*n)++;
            } else if (oerr == RK_AGENT_ENOMEM) {
                /* Stays claimed, as with rk_agent_recv: handed out again
                 * when this process is gone. */
                if (err == RK_AGENT_OK && *n == 0)
                    rk_why(why, why_len, "%s", inner);
                err = RK_AGENT_ENOMEM;
            } else {
                notice(a, "a message from %s in the inbox no longer opens (%s); marked done", es[i].from, inner);
                if (rk_mailbox_in_done(a->mb, es[i].from, es[i].msg_id, rk_wall_ms(), inner, sizeof inner) !=
                    RK_AGENT_OK)
                    notice(a, "could not mark it done: %s", inner);
            }
            rk_inbox_entry_clear(&es[i]);
        }
        if (*n > 0) {
            err = RK_AGENT_OK; /* what was had is handed out */
            break;
        }
        if (err != RK_AGENT_OK && err != RK_AGENT_ENOTFOUND)
            break;
        if (claimed > 0)
            continue; /* none of them opened: look again */
        left = remaining(deadline);
        if (left == 0) {
            rk_why(why, why_len, "nothing arrived within %g s", secs(timeout_ms));
            err = RK_AGENT_ETIMEOUT;
            break;
        }
        err = wait_some(a, min_int(left, POLL_MS), why, why_len);
        if (err != RK_AGENT_OK && err != RK_AGENT_ETIMEOUT)
            break;
    }
    free(es);
    return err;
}

rk_agent_err rk_agent_recv(rk_agent_t *a, int timeout_ms, rk_event **ev, char *why, size_t why_len)
{
    return rk_agent_recv_only(a, RK_RECV_ALL, timeout_ms, ev, why, why_len);
}

rk_agent_err rk_agent_done(rk_agent_t *a, const rk_event *ev, char *why, size_t why_len)
{
    if (ev == NULL || ev->kind != RK_EVENT_MESSAGE) {
        rk_why(why, why_len, "only a delivered message can be marked done");
        return RK_AGENT_EINVAL;
    }
    if (a->mb == NULL) {
        rk_why(why, why_len, "marking a message done needs the agent's data directory (--data)");
        return RK_AGENT_ENOSTORE;
    }
    return rk_mailbox_in_done(a->mb, ev->from, ev->msg_id, rk_wall_ms(), why, why_len);
}

rk_agent_err rk_agent_done_batch(rk_agent_t *a, rk_event *const *evs, size_t n, rk_agent_err *each, char *why,
                                size_t why_len)
{
    rk_inbox_ref *refs;
    rk_agent_err err;

    for (size_t i = 0; i < n; i++) {
        if (evs[i] == NULL || evs[i]->kind != RK_EVENT_MESSAGE) {
            rk_why(why, why_len, "only delivered messages can be marked done");
            for (size_t j = 0; j < n; j++)
                each[j] = RK_AGENT_EINVAL;
            return RK_AGENT_EINVAL;
        }
    }
    if (a->mb == NULL) {
        rk_why(why, why_len, "marking a message done needs the agent's data directory (--data)");
        for (size_t j = 0; j < n; j++)
            each[j] = RK_AGENT_ENOSTORE;
        return RK_AGENT_ENOSTORE;
    }
    if (n == 0)
        return RK_AGENT_OK;
    if ((refs = calloc(n, sizeof *refs)) == NULL) {
        rk_why(why, why_len, "out of memory marking messages done");
        for (size_t j = 0; j < n; j++)
            each[j] = RK_AGENT_ENOMEM;
        return RK_AGENT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        refs[i].from = evs[i]->from;
        refs[i].msg_id = evs[i]->msg_id;
    }
    err = rk_mailbox_in_done_n(a->mb, refs, n, rk_wall_ms(), each, why, why_len);
    free(refs);
    return err;
}

rk_agent_err rk_agent_refuse(rk_agent_t *a, const rk_event *ev, rk_status reason, const char *detail,
                             char *why, size_t why_len)
{
    char text[RK_DETAIL_MAX + 1];
    size_t n = 0;

    /* Printable ASCII only, at most RK_DETAIL_MAX bytes: the sender shows it. */
    for (const char *s = detail != NULL ? detail : ""; *s != '\0' && n < RK_DETAIL_MAX; s++)
        text[n++] = (char)((*s >= 0x20 && *s < 0x7f) ? *s : ' ');
    while (n > 0 && text[n - 1] == ' ')
        n--;
    text[n] = '\0';
    if (n == 0)
        snprintf(text, sizeof text, "%s", rk_status_text(reason));
    if (ev == NULL || ev->kind != RK_EVENT_MESSAGE) {
        rk_why(why, why_len, "only a delivered message can be refused");
        return RK_AGENT_EINVAL;
    }
    if (a->mb == NULL) {
        rk_why(why, why_len, "refusing a message needs the agent's data directory (--data)");
        return RK_AGENT_ENOSTORE;
    }
    if (!online(a)) {
        rk_why(why, why_len, "the hub cannot be told now (not connected); the message is left as it is");
        return RK_AGENT_EOFFLINE;
    }
    if (!send_reject(a, ev->from, ev->msg_id, reason, text)) {
        rk_why(why, why_len, "the refusal could not be sent to the hub; the message is left as it is");
        return RK_AGENT_EOFFLINE;
    }
    return rk_mailbox_in_done(a->mb, ev->from, ev->msg_id, rk_wall_ms(), why, why_len);
}

/* The outcome of st as an event, if it has one: the reply (claimed), or a
 * RESULT for a refusal or expiry.  *ev NULL if it is still open. */
static rk_agent_err outcome(rk_agent_t *a, const rk_msg_status *st, rk_event **ev, char *why, size_t why_len)
{
    rk_agent_err err;
    *ev = NULL;
    if (st->state == RK_MSG_ANSWERED) {
        rk_inbox_entry e;
        err = rk_mailbox_in_take(a->mb, st->to, st->reply_msg_id, a->pid, rk_wall_ms(), &e, why, why_len);
        if (err != RK_AGENT_OK)
            return err;
        err = event_from_entry(a, &e, ev, why, why_len);
        rk_inbox_entry_clear(&e);
        return err;
    }
    if (st->state != RK_MSG_REFUSED && st->state != RK_MSG_EXPIRED)
        return RK_AGENT_OK;
    if ((*ev = event_new(RK_EVENT_RESULT)) == NULL) {
        rk_why(why, why_len, "out of memory");
        return RK_AGENT_ENOMEM;
    }
    memcpy((*ev)->msg_id, st->msg_id, RK_MSGID_LEN);
    snprintf((*ev)->to, sizeof (*ev)->to, "%s", st->to);
    snprintf((*ev)->type, sizeof (*ev)->type, "%s", st->type);
    (*ev)->result.has_msg_id = true;
    memcpy((*ev)->result.msg_id, st->msg_id, RK_MSGID_LEN);
    (*ev)->result.seq = st->seq;
    if (st->state == RK_MSG_EXPIRED) {
        (*ev)->result.status = RK_ST_EXPIRED;
        snprintf((*ev)->result.peer, sizeof (*ev)->result.peer, "%s", st->to);
    } else {
        (*ev)->result.status = st->status;
        (*ev)->result.cause = st->cause;
        snprintf((*ev)->result.peer, sizeof (*ev)->result.peer, "%s", st->peer);
        snprintf((*ev)->result.detail, sizeof (*ev)->result.detail, "%s", st->detail);
    }
    snprintf((*ev)->from, sizeof (*ev)->from, "%s", (*ev)->result.peer);
    return RK_AGENT_OK;
}

rk_agent_err rk_agent_wait_reply(rk_agent_t *a, const uint8_t msg_id[RK_MSGID_LEN], int timeout_ms,
                                 rk_event **reply, char *why, size_t why_len)
{
    uint64_t deadline = deadline_in(timeout_ms);
    char hex[RK_MSGID_LEN * 2 + 1];
    rk_msg_status st;
    rk_agent_err err;

    *reply = NULL;
    if ((err = need_store(a, "waiting for a reply", why, why_len)) != RK_AGENT_OK)
        return err;
    sodium_bin2hex(hex, sizeof hex, msg_id, RK_MSGID_LEN);
    err = rk_mailbox_out_waiter(a->mb, msg_id, a->pid, why, why_len);
    if (err == RK_AGENT_ENOTFOUND)
        rk_why(why, why_len, "message %s is not in this agent's outbox", hex);
    if (err != RK_AGENT_OK)
        return err;
    for (;;) {
        int left;
        tick(a);
        err = rk_mailbox_out_get(a->mb, msg_id, &st, NULL, NULL, why, why_len);
        if (err == RK_AGENT_OK)
            err = outcome(a, &st, reply, why, why_len);
        if (err != RK_AGENT_OK || *reply != NULL)
            break;
        left = remaining(deadline);
        if (left == 0) {
            rk_why(why, why_len, "no reply to message %s within %g s (state %s)", hex, secs(timeout_ms),
                   rk_msg_state_name(st.state));
            err = RK_AGENT_ETIMEOUT;
            break;
        }
        err = wait_some(a, min_int(left, POLL_MS), why, why_len);
        if (err != RK_AGENT_OK && err != RK_AGENT_ETIMEOUT)
            break;
    }
    /* Taking the reply cleared the mark already (rk_mailbox_in_take). */
    if ((*reply == NULL || (*reply)->kind != RK_EVENT_MESSAGE) &&
        rk_mailbox_out_waiter(a->mb, msg_id, 0, NULL, 0) != RK_AGENT_OK)
        notice(a, "could not clear the wait mark of message %s", hex);
    return err;
}

/* ------------------------------------------------------------------ status */

const char *rk_msg_state_name(rk_msg_state s)
{
    switch (s) {
    case RK_MSG_PENDING: return "PENDING";
    case RK_MSG_ACCEPTED: return "ACCEPTED";
    case RK_MSG_DELIVERED: return "DELIVERED";
    case RK_MSG_ANSWERED: return "ANSWERED";
    case RK_MSG_REFUSED: return "REFUSED";
    case RK_MSG_EXPIRED: return "EXPIRED";
    }
    return "UNKNOWN";
}

rk_agent_err rk_agent_status_get(rk_agent_t *a, const uint8_t msg_id[RK_MSGID_LEN], rk_msg_status *st,
                                 char *why, size_t why_len)
{
    if (a->mb == NULL) {
        rk_why(why, why_len, "message status needs the agent's data directory (--data)");
        return RK_AGENT_ENOSTORE;
    }
    return rk_mailbox_out_get(a->mb, msg_id, st, NULL, NULL, why, why_len);
}

rk_agent_err rk_agent_status_list(rk_agent_t *a, const rk_status_filter *f, rk_msg_status **list, size_t *n,
                                  char *why, size_t why_len)
{
    *list = NULL;
    *n = 0;
    if (a->mb == NULL) {
        rk_why(why, why_len, "message status needs the agent's data directory (--data)");
        return RK_AGENT_ENOSTORE;
    }
    return rk_mailbox_out_list(a->mb, f, list, n, why, why_len);
}

/* ------------------------------------------------------------------ routing log */

void rk_receipt_clear(rk_receipt *r)
{
    if (r == NULL)
        return;
    free(r->checkpoint);
    free(r->entry);
    memset(r, 0, sizeof *r);
}

/* Sends f, a routing-log request (its req_id is set here), and waits for
 * the hub's answer with that req_id (a LOG, CHECKPOINT or PROOF frame),
 * which is moved into *answer (rk_hub_frame_clear it).  What else arrives
 * meanwhile is filed.  On failure *answer is zeroed. */
static rk_agent_err ask_hub(rk_agent_t *a, rk_client_frame_t *f, const char *what, rk_hub_frame_t *answer,
                            char *why, size_t why_len)
{
    rk_agent_err err;

    memset(answer, 0, sizeof *answer);
    if (!online(a)) {
        rk_why(why, why_len, "%s needs a connection to the hub", what);
        return RK_AGENT_EOFFLINE;
    }
    err =
        from_session(rk_session_request(a->sess, f, a->timeout_ms, file_meanwhile, a, answer, why, why_len));
    if (err == RK_AGENT_ETIMEOUT)
        rk_why(why, why_len, "the hub at %s did not answer the request for %s within %g s", a->endpoint, what,
               secs(a->timeout_ms));
    return err;
}

/* The status and detail of an answer of any routing-log kind. */
static rk_status answer_status(const rk_hub_frame_t *f, const char **detail)
{
    *detail = "";
    switch (f->kind) {
    case RK_HF_LOG:
        *detail = f->u.log.detail;
        return f->u.log.status;
    case RK_HF_CHECKPOINT:
        return f->u.checkpoint.status;
    case RK_HF_PROOF:
        *detail = f->u.proof.detail;
        return f->u.proof.status;
    default:
        return RK_ST_UNSPECIFIED;
    }
}

/* Checks that answer is an ACCEPTED frame of kind; else says why in words
 * and returns RK_AGENT_EREFUSED (the hub said no: *status) or
 * RK_AGENT_EPROTO. */
static rk_agent_err answer_ok(const rk_hub_frame_t *answer, rk_hf_kind kind, const char *what, rk_status *status,
                              char *why, size_t why_len)
{
    const char *detail;
    rk_status st = answer_status(answer, &detail);
    if (status != NULL)
        *status = st;
    if (answer->kind == kind && st == RK_ST_ACCEPTED)
        return RK_AGENT_OK;
    if (st == RK_ST_UNSPECIFIED || (answer->kind != kind && st == RK_ST_ACCEPTED)) {
        rk_why(why, why_len, "the hub answered the request for %s with something else", what);
        return RK_AGENT_EPROTO;
    }
    rk_why(why, why_len, "the hub refused the request for %s: %s: %s%s%s%s", what, rk_status_name(st),
           rk_status_text(st), detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
    return RK_AGENT_EREFUSED;
}

/* Asks for every entry about the person this org knows by code.  On
 * success *answer is the hub's ACCEPTED LOG frame (clear it). */
static rk_agent_err disclose_code(rk_agent_t *a, const uint8_t code[RK_CODE_LEN], rk_hub_frame_t *answer,
                                  rk_status *status, char *why, size_t why_len)
{
    rk_client_frame_t f;
    rk_agent_err err;

    memset(&f, 0, sizeof f);
    f.kind = RK_CF_DISCLOSE;
    memcpy(f.u.disclose.code, code, RK_CODE_LEN);
    err = ask_hub(a, &f, "a disclosure", answer, why, why_len);
    sodium_memzero(&f, sizeof f);
    if (err == RK_AGENT_OK && (err = answer_ok(answer, RK_HF_LOG, "a disclosure", status, why, why_len)) != RK_AGENT_OK)
        rk_hub_frame_clear(answer);
    return err;
}

rk_agent_err rk_agent_disclose(rk_agent_t *a, const char *person, rk_disclosed **list, size_t *n,
                               uint64_t *tree_size, rk_status *status, char *why, size_t why_len)
{
    uint8_t code[RK_CODE_LEN];
    rk_hub_frame_t answer;
    rk_disclosed *out = NULL;
    rk_agent_err err;

    *list = NULL;
    *n = 0;
    *tree_size = 0;
    if (status != NULL)
        *status = RK_ST_UNSPECIFIED;
    if (a->book == NULL) {
        rk_why(why, why_len,
               "a disclosure needs the agent's data directory (--data), where this "
               "organization's link codes are");
        return RK_AGENT_ENOSTORE;
    }
    err = rk_codebook_code(a->book, person, code, why, why_len);
    if (err == RK_AGENT_ENOTFOUND)
        rk_why(why, why_len, "this organization holds no link code for that person: nothing to disclose");
    if (err != RK_AGENT_OK)
        return err;
    err = disclose_code(a, code, &answer, status, why, why_len);
    sodium_memzero(code, sizeof code);
    if (err != RK_AGENT_OK)
        goto done;
    if (answer.u.log.n > 0 && (out = calloc(answer.u.log.n, sizeof *out)) == NULL) {
        rk_why(why, why_len, "out of memory reading the disclosure");
        err = RK_AGENT_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < answer.u.log.n; i++) {
        char detail[RK_DETAIL_MAX + 1] = "";
        rk_wire_err werr = rk_log_entry_decode(answer.u.log.entry[i], answer.u.log.entry_len[i], &out[i].entry,
                                               detail, sizeof detail);
        out[i].index = answer.u.log.index[i];
        if (werr == RK_WIRE_ENOMEM) {
            rk_why(why, why_len, "out of memory reading the disclosure");
            err = RK_AGENT_ENOMEM;
            goto done;
        }
        if (werr != RK_WIRE_OK || out[i].index >= answer.u.log.tree_size) {
            rk_why(why, why_len, "the hub disclosed an unreadable entry at index %llu: %s",
                   (unsigned long long)out[i].index, werr != RK_WIRE_OK ? detail : "beyond the log's end");
            err = RK_AGENT_EPROTO;
            goto done;
        }
    }
    *list = out;
    *n = answer.u.log.n;
    *tree_size = answer.u.log.tree_size;
    out = NULL;
done:
    free(out);
    rk_hub_frame_clear(&answer);
    settle_all(a);
    return err;
}

/* The bytes of entry `index` from a disclosure about the person this org
 * knows by code, into r (entry, entry_len, entry_source).  Quietly leaves r
 * without an entry if the disclosure does not hold it. */
static rk_agent_err entry_by_disclosure(rk_agent_t *a, const uint8_t code[RK_CODE_LEN], uint64_t index,
                                        rk_receipt *r, char *why, size_t why_len)
{
    rk_hub_frame_t answer;
    rk_agent_err err = disclose_code(a, code, &answer, NULL, why, why_len);
    if (err != RK_AGENT_OK)
        return err;
    for (size_t i = 0; i < answer.u.log.n; i++) {
        if (answer.u.log.index[i] != index)
            continue;
        r->entry = answer.u.log.entry[i];
        r->entry_len = answer.u.log.entry_len[i];
        answer.u.log.entry[i] = NULL;
        snprintf(r->entry_source, sizeof r->entry_source, "disclosure");
        break;
    }
    rk_hub_frame_clear(&answer);
    return RK_AGENT_OK;
}

/* Verifies the newest checkpoint into r (checkpoint, tree_size, root,
 * time).  min_size: the log's size the hub reported earlier. */
static rk_agent_err receipt_checkpoint(rk_agent_t *a, uint64_t min_size, rk_receipt *r, char *why,
                                       size_t why_len)
{
    rk_client_frame_t f;
    rk_hub_frame_t answer;
    tlog_checkpoint_t cp;
    char detail[256] = "", origin[TLOG_NAME_MAX + 1];
    rk_agent_err err;
    tlog_err terr;

    memset(&f, 0, sizeof f);
    f.kind = RK_CF_CHECKPOINT;
    if ((err = ask_hub(a, &f, "a checkpoint", &answer, why, why_len)) != RK_AGENT_OK)
        return err;
    if ((err = answer_ok(&answer, RK_HF_CHECKPOINT, "a checkpoint", NULL, why, why_len)) != RK_AGENT_OK ||
        answer.u.checkpoint.note == NULL) {
        rk_hub_frame_clear(&answer);
        if (err == RK_AGENT_OK) {
            rk_why(why, why_len, "the hub sent an empty checkpoint");
            err = RK_AGENT_EPROTO;
        }
        return err;
    }
    r->checkpoint = answer.u.checkpoint.note;
    answer.u.checkpoint.note = NULL;
    rk_hub_frame_clear(&answer);
    /* the log's name: the configured one, else the one the checkpoint
     * names; either way the pinned hub key must have signed it as such */
    if (a->log_origin != NULL)
        snprintf(origin, sizeof origin, "%s", a->log_origin);
    else if (tlog_checkpoint_origin(r->checkpoint, strlen(r->checkpoint), origin) != TLOG_OK)
        snprintf(origin, sizeof origin, "(none)");
    terr = tlog_checkpoint_open(r->checkpoint, strlen(r->checkpoint), origin, origin, a->hub.sign_pk, &cp, detail,
                                sizeof detail);
    if (terr == TLOG_ESIG && a->has_prev) /* signed before the hub's key changed hands */
    {
        char ignored[256];
        tlog_err prev = tlog_checkpoint_open(r->checkpoint, strlen(r->checkpoint), origin, origin, a->hub_prev,
                                             &cp, ignored, sizeof ignored);
        if (prev == TLOG_OK)
            terr = TLOG_OK;
    }
    if (terr != TLOG_OK) {
        rk_why(why, why_len, "the hub's checkpoint does not verify as log \"%s\" signed by the key in %s: %s",
               origin, a->hub_pub_path, detail[0] ? detail : tlog_strerror(terr));
        return terr == TLOG_ECRYPTO ? RK_AGENT_ENOMEM : RK_AGENT_EPROOF;
    }
    r->tree_size = cp.size;
    memcpy(r->root, cp.root, RK_HASH_LEN);
    r->time = cp.time;
    if (cp.size < min_size) {
        rk_why(why, why_len,
               "the hub's newest signed checkpoint covers %llu entries, fewer than the %llu its "
               "log held when it accepted the message: the log was shortened or rolled back",
               (unsigned long long)cp.size, (unsigned long long)min_size);
        return RK_AGENT_EPROOF;
    }
    return RK_AGENT_OK;
}

/* Fetches the inclusion proof of r->index at r->tree_size into r (and the
 * entry, if the hub sends it along). */
static rk_agent_err receipt_proof(rk_agent_t *a, rk_receipt *r, char *why, size_t why_len)
{
    rk_client_frame_t f;
    rk_hub_frame_t answer;
    rk_status st = RK_ST_UNSPECIFIED;
    rk_agent_err err;

    memset(&f, 0, sizeof f);
    f.kind = RK_CF_PROOF;
    f.u.proof.index = r->index;
    f.u.proof.tree_size = r->tree_size;
    if ((err = ask_hub(a, &f, "an inclusion proof", &answer, why, why_len)) != RK_AGENT_OK)
        return err;
    err = answer_ok(&answer, RK_HF_PROOF, "an inclusion proof", &st, why, why_len);
    if (err == RK_AGENT_EREFUSED && (st == RK_ST_NOT_FOUND || st == RK_ST_FORBIDDEN)) {
        /* The hub signed a tree of this size and told us our entry's place:
         * it has no reason to refuse but a log that changed underneath. */
        char inner[512];
        snprintf(inner, sizeof inner, "%s", why != NULL ? why : "");
        rk_why(why, why_len,
               "%s, although its signed checkpoint covers entry %llu, which it named as this "
               "message's: the entry there is not this organization's",
               inner, (unsigned long long)r->index);
        err = RK_AGENT_EPROOF;
    } else if (err == RK_AGENT_OK &&
               (answer.u.proof.index != r->index || answer.u.proof.tree_size != r->tree_size ||
                answer.u.proof.old_size != 0 || answer.u.proof.n > RK_PROOF_MAX)) {
        rk_why(why, why_len, "the hub sent a proof for another entry or tree size");
        err = RK_AGENT_EPROTO;
    }
    if (err == RK_AGENT_OK) {
        r->n = answer.u.proof.n;
        memcpy(r->proof, answer.u.proof.hash, r->n * RK_HASH_LEN);
#ifdef RK_WIRE_PROOF_ENTRY
        if (answer.u.proof.entry != NULL) {
            r->entry = answer.u.proof.entry;
            r->entry_len = answer.u.proof.entry_len;
            answer.u.proof.entry = NULL;
            snprintf(r->entry_source, sizeof r->entry_source, "proof");
        }
#endif
    }
    rk_hub_frame_clear(&answer);
    return err;
}

/* Checks that r->entry is the ACCEPTED entry of the message st and that it
 * sits at r->index under r->root. */
static rk_agent_err receipt_check(rk_agent_t *a, const rk_msg_status *st, rk_receipt *r, char *why, size_t why_len)
{
    char detail[RK_DETAIL_MAX + 1] = "";
    uint8_t leaf[TLOG_HASH_LEN];
    rk_wire_err werr;
    tlog_err terr;

    werr = rk_log_entry_decode(r->entry, r->entry_len, &r->decoded, detail, sizeof detail);
    if (werr == RK_WIRE_ENOMEM) {
        rk_why(why, why_len, "out of memory reading the routing-log entry");
        return RK_AGENT_ENOMEM;
    }
    if (werr != RK_WIRE_OK) {
        rk_why(why, why_len, "entry %llu from the hub does not decode: %s", (unsigned long long)r->index,
               detail);
        return RK_AGENT_EPROOF;
    }
    if (r->decoded.event != RK_EV_ACCEPTED || !r->decoded.has_msg_id ||
        sodium_memcmp(r->decoded.msg_id, st->msg_id, RK_MSGID_LEN) != 0 || strcmp(r->decoded.from, a->org) != 0 ||
        strcmp(r->decoded.to, st->to) != 0 || strcmp(r->decoded.type, st->type) != 0 ||
        (st->seq != 0 && r->decoded.seq != st->seq)) {
        bool other_id = !r->decoded.has_msg_id || sodium_memcmp(r->decoded.msg_id, st->msg_id, RK_MSGID_LEN) != 0;
        rk_why(why, why_len,
               "entry %llu is not this message's acceptance: it records '%s' of a %s message "
               "from %s to %s%s",
               (unsigned long long)r->index, rk_log_event_name(r->decoded.event),
               r->decoded.type[0] ? r->decoded.type : "(no type)", r->decoded.from[0] ? r->decoded.from : "-",
               r->decoded.to[0] ? r->decoded.to : "-", other_id ? " with another message id" : "");
        return RK_AGENT_EPROOF;
    }
    tlog_leaf_hash(r->entry, r->entry_len, leaf);
    terr = tlog_verify_inclusion(r->index, r->tree_size, leaf, &r->proof[0][0], r->n, r->root);
    if (terr != TLOG_OK) {
        rk_why(why, why_len,
               "the inclusion proof of entry %llu does not lead to the root of the signed "
               "checkpoint (size %llu): %s",
               (unsigned long long)r->index, (unsigned long long)r->tree_size, tlog_strerror(terr));
        return RK_AGENT_EPROOF;
    }
    r->included = true;
    return RK_AGENT_OK;
}

rk_agent_err rk_agent_receipt(rk_agent_t *a, const uint8_t msg_id[RK_MSGID_LEN], rk_receipt *out, char *why,
                              size_t why_len)
{
    char hex[RK_MSGID_LEN * 2 + 1];
    rk_msg_status st;
    uint64_t log_size = 0;
    rk_agent_err err;

    memset(out, 0, sizeof *out);
    memcpy(out->msg_id, msg_id, RK_MSGID_LEN);
    if ((err = need_store(a, "a receipt", why, why_len)) != RK_AGENT_OK)
        return err;
    sodium_bin2hex(hex, sizeof hex, msg_id, RK_MSGID_LEN);
    err = rk_mailbox_out_get(a->mb, msg_id, &st, NULL, NULL, why, why_len);
    if (err == RK_AGENT_ENOTFOUND)
        rk_why(why, why_len, "message %s is not in this agent's outbox", hex);
    if (err != RK_AGENT_OK)
        return err;
    if (st.accepted_ms == 0 && (st.state == RK_MSG_PENDING || st.state == RK_MSG_REFUSED)) {
        rk_why(why, why_len,
               "message %s was not accepted by the hub (%s): only accepted messages have a "
               "receipt",
               hex, rk_msg_state_name(st.state));
        err = RK_AGENT_ENOTFOUND;
        goto done;
    }
    err = rk_mailbox_out_log_size(a->mb, msg_id, &log_size, why, why_len);
    if (err == RK_AGENT_ENOTFOUND)
        rk_why(why, why_len,
               "the hub did not say where on its routing log it put message %s (accepted by a "
               "hub without a routing log?)",
               hex);
    if (err != RK_AGENT_OK)
        goto done;
    out->index = log_size - 1;
    if ((err = receipt_checkpoint(a, log_size, out, why, why_len)) != RK_AGENT_OK ||
        (err = receipt_proof(a, out, why, why_len)) != RK_AGENT_OK)
        goto done;
    if (out->entry == NULL && strcmp(a->kind, "municipality") == 0) {
        /* A municipality may see every entry about a person it knows: the
         * message's own entry is among them. */
        char inner[256] = "";
        if (entry_by_disclosure(a, st.code, out->index, out, inner, sizeof inner) != RK_AGENT_OK)
            notice(a, "could not fetch the entry through a disclosure: %s", inner);
    }
    if (out->entry == NULL) {
        rk_why(why, why_len,
               "entry not provided by the hub; inclusion not checked (the checkpoint of %llu "
               "entries verified, and the hub sent a %zu-hash proof for entry %llu)",
               (unsigned long long)out->tree_size, out->n, (unsigned long long)out->index);
        err = RK_AGENT_EUNVERIFIED;
        goto done;
    }
    err = receipt_check(a, &st, out, why, why_len);
done:
    sodium_memzero(&st, sizeof st);
    settle_all(a);
    return err;
}

/* ------------------------------------------------------------ procedures */

/* The recipients in the directory whose grant of p names this organization. */
static void granted_by(const rk_agent_t *a, const cat_procedure_t *p, org_kind mine, char *out,
                       size_t out_len)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < a->dir.n && used < out_len; i++) {
        const cat_grant_t *g = catalogue_grant(a->cat, a->dir.orgs[i].id, p->name);
        if (g != NULL && catalogue_matches(a->cat, &g->senders, rk_agent_org(a), mine)) {
            int n = snprintf(out + used, out_len - used, "%s%s", used ? " " : "", a->dir.orgs[i].id);
            if (n < 0)
                return;
            used += (size_t)n;
        }
    }
}

rk_agent_err rk_agent_procedures(rk_agent_t *a, rk_procedure **list, size_t *n, char *why, size_t why_len)
{
    org_kind mine = (org_kind)0;
    rk_procedure *out;
    size_t count;
    rk_agent_err err;

    if (a == NULL || list == NULL || n == NULL) {
        rk_why(why, why_len, "invalid argument");
        return RK_AGENT_EINVAL;
    }
    *list = NULL;
    *n = 0;
    if (!a->have_dir && a->sess != NULL &&
        (err = fetch_directory(a, a->timeout_ms, why, why_len)) != RK_AGENT_OK)
        return err;
    if (!a->have_dir) {
        rk_why(why, why_len, "no directory is at hand: the agent must reach the hub once");
        return RK_AGENT_EOFFLINE;
    }
    if (a->cat == NULL) {
        rk_why(why, why_len, "the hub's directory carries no procedure catalogue (an older hub?)");
        return RK_AGENT_EPROTO;
    }
    (void)own_kind(a, &mine);
    count = catalogue_procedures(a->cat);
    out = calloc(count > 0 ? count : 1, sizeof *out);
    if (out == NULL) {
        rk_why(why, why_len, "out of memory");
        return RK_AGENT_ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        const cat_procedure_t *p = catalogue_procedure_at(a->cat, i);
        rk_procedure *o = &out[i];
        snprintf(o->type, sizeof o->type, "%s", p->name);
        snprintf(o->title, sizeof o->title, "%s", p->title);
        snprintf(o->follows, sizeof o->follows, "%s", p->follows);
        o->local = p->local;
        o->introduces = p->introduces;
        o->replied = p->replied;
        o->granted = p->granted;
        o->ttl_ms = p->ttl_ms;
        cat_selectors_print(&p->senders, o->senders, sizeof o->senders);
        cat_selectors_print(&p->recipients, o->recipients, sizeof o->recipients);
        if (p->local)
            continue;
        o->may_send = catalogue_matches(a->cat, &p->senders, rk_agent_org(a), mine);
        o->may_receive = catalogue_matches(a->cat, &p->recipients, rk_agent_org(a), mine);
        if (p->granted && o->may_send) {
            granted_by(a, p, mine, o->granted_by, sizeof o->granted_by);
            o->may_send = o->granted_by[0] != '\0';
        }
    }
    *list = out;
    *n = count;
    return RK_AGENT_OK;
}

/* ------------------------------------------------------------------ handling attempts */

const char *rk_inbox_state_name(rk_inbox_state s)
{
    switch (s) {
    case RK_IN_NEW: return "NEW";
    case RK_IN_CLAIMED: return "CLAIMED";
    case RK_IN_DONE: return "DONE";
    case RK_IN_DEAD: return "DEAD";
    }
    return "UNKNOWN";
}

static rk_agent_err need_inbox(rk_agent_t *a, const char *what, char *why, size_t why_len)
{
    if (a->mb != NULL)
        return RK_AGENT_OK;
    rk_why(why, why_len, "%s needs the agent's data directory (--data)", what);
    return RK_AGENT_ENOSTORE;
}

rk_agent_err rk_agent_attempt_failed(rk_agent_t *a, const rk_event *ev, const char *error,
                                     uint64_t next_try_ms, uint32_t *attempts, char *why, size_t why_len)
{
    rk_agent_err err;
    if (attempts != NULL)
        *attempts = 0;
    if ((err = need_inbox(a, "recording a failed attempt", why, why_len)) != RK_AGENT_OK)
        return err;
    if (ev == NULL || ev->kind != RK_EVENT_MESSAGE) {
        rk_why(why, why_len, "only a delivered message has attempts");
        return RK_AGENT_EINVAL;
    }
    return rk_mailbox_in_failed(a->mb, ev->from, ev->msg_id, error, next_try_ms, attempts, why, why_len);
}

rk_agent_err rk_agent_inbox_troubled(rk_agent_t *a, rk_inbox_status **list, size_t *n, char *why,
                                     size_t why_len)
{
    rk_inbox_entry *es = NULL;
    rk_inbox_status *out = NULL;
    size_t cnt = 0;
    rk_agent_err err;

    *list = NULL;
    *n = 0;
    if ((err = need_inbox(a, "listing the inbox", why, why_len)) != RK_AGENT_OK)
        return err;
    if ((err = rk_mailbox_in_troubled(a->mb, &es, &cnt, why, why_len)) != RK_AGENT_OK)
        return err;
    if (cnt > 0 && (out = calloc(cnt, sizeof *out)) == NULL) {
        sodium_memzero(es, cnt * sizeof *es);
        free(es);
        rk_why(why, why_len, "out of memory listing the inbox");
        return RK_AGENT_ENOMEM;
    }
    for (size_t i = 0; i < cnt; i++) {
        snprintf(out[i].from, sizeof out[i].from, "%s", es[i].from);
        snprintf(out[i].type, sizeof out[i].type, "%s", es[i].type);
        memcpy(out[i].msg_id, es[i].msg_id, RK_MSGID_LEN);
        out[i].state = es[i].state;
        out[i].received_ms = es[i].received_ms;
        out[i].attempts = es[i].attempts;
        out[i].next_try_ms = es[i].state == RK_IN_DEAD ? 0 : es[i].next_try_ms;
        snprintf(out[i].last_error, sizeof out[i].last_error, "%s", es[i].last_error);
    }
    if (es != NULL)
        sodium_memzero(es, cnt * sizeof *es); /* they hold link codes */
    free(es);
    *list = out;
    *n = cnt;
    return RK_AGENT_OK;
}

rk_agent_err rk_agent_retry_dead(rk_agent_t *a, const char *from, const uint8_t msg_id[RK_MSGID_LEN],
                                 size_t *n, char *why, size_t why_len)
{
    rk_agent_err err;
    if (n != NULL)
        *n = 0;
    if ((err = need_inbox(a, "retrying a message", why, why_len)) != RK_AGENT_OK)
        return err;
    if (from != NULL && (!rk_valid_name(from) || msg_id == NULL)) {
        rk_why(why, why_len, "an organization id and a message id are needed");
        return RK_AGENT_EINVAL;
    }
    err = rk_mailbox_in_retry(a->mb, from, msg_id, n, why, why_len);
    if (err == RK_AGENT_ENOTFOUND)
        rk_why(why, why_len, "no message with that id from %s is in the inbox", from);
    else if (err == RK_AGENT_ECONFLICT)
        rk_why(why, why_len, "that message from %s is not dead: nothing to retry", from);
    return err;
}

/* ------------------------------------------------------------------ refusing and answering later */

rk_agent_err rk_agent_take(rk_agent_t *a, const char *from, const uint8_t msg_id[RK_MSGID_LEN], rk_event **ev,
                           char *why, size_t why_len)
{
    rk_inbox_entry e;
    rk_agent_err err;

    *ev = NULL;
    if ((err = need_store(a, "taking a message from the inbox", why, why_len)) != RK_AGENT_OK)
        return err;
    if (from == NULL || !rk_valid_name(from) || msg_id == NULL) {
        rk_why(why, why_len, "an organization id and a message id are needed");
        return RK_AGENT_EINVAL;
    }
    /* NEW, or claimed by a process that is gone: claimed for this one;
     * claimed by a live process (serve, whose command deferred it): as it is. */
    err = rk_mailbox_in_take(a->mb, from, msg_id, a->pid, rk_wall_ms(), &e, why, why_len);
    if (err == RK_AGENT_ENOTFOUND) {
        rk_why(why, why_len, "no message with that id from %s is in the inbox", from);
        return err;
    }
    if (err != RK_AGENT_OK)
        return err;
    if (e.state == RK_IN_DONE) {
        rk_inbox_entry_clear(&e);
        rk_why(why, why_len, "that message from %s was answered or marked done already", from);
        return RK_AGENT_ECONFLICT;
    }
    err = event_from_entry(a, &e, ev, why, why_len);
    rk_inbox_entry_clear(&e);
    return err;
}

rk_agent_err rk_agent_poll(rk_agent_t *a, int timeout_ms, char *why, size_t why_len)
{
    rk_agent_err err;

    if ((err = need_store(a, "taking in what the hub sent", why, why_len)) != RK_AGENT_OK)
        return err;
    if (!online(a)) {
        rk_why(why, why_len, "not connected to the hub");
        return RK_AGENT_EOFFLINE;
    }
    err = pump(a, timeout_ms, why, why_len);
    settle_all(a);
    return err;
}
