/*
 * agents.c - real agents through the hub: request/reply latency between
 * two of them, and the move scenario with several movers at once.
 *
 * Every agent is opened and closed by the thread that uses it: LMDB ties
 * read transactions to threads, and the agent library is not thread-safe.
 * A failing thread sets a shared flag, so that the others stop waiting for
 * replies that will not come.
 */
#include "agents.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "keys.h"
#include "proc.h"
#include "renkei/agent.h"

#define AB_TIMEOUT_MS 30000   /* each agent call's own timeout (hub answers) */
#define AB_REPLY_S 120.0      /* longest wait for one reply */
#define AB_READY_S 60.0       /* longest wait for every agent to be open */
#define AB_SLICE_MS 200       /* waits are cut in slices to notice a failure elsewhere */
#define AB_LAT_PERSONS 4      /* persons the latency pair's requests are about */
#define AB_UTILITIES 3
#define AB_TYPE_LAT "utility.supply.stop"
#define AB_TYPE_NOTICE "move.out.notice"
#define AB_TYPE_MOVE_IN "move.in.notice"
#define AB_TYPE_START "utility.supply.start"

static const char *const utility_names[AB_UTILITIES] = {"agpower", "aggas", "agwater"};

typedef struct ab_org {
    char name[32];
    const char *kind;
    char key[PATH_MAX];
    char data[PATH_MAX];
} ab_org_t;

/* Organizations, in this order: the latency pair (sender, replier), the
 * origins, the destinations, the utilities. */
struct bench_agents {
    char hub_pub[PATH_MAX];
    char endpoint[256];
    size_t movers;
    size_t n;
    ab_org_t *org;
    size_t next_person; /* persons enrolled for moves so far (all origins) */
};

enum { ORG_LAT_SENDER = 0, ORG_LAT_REPLIER = 1, ORG_ORIGINS = 2 };

static size_t org_origin(const bench_agents_t *a, size_t k)
{
    (void)a;
    return ORG_ORIGINS + k;
}

static size_t org_destination(const bench_agents_t *a, size_t k)
{
    return ORG_ORIGINS + a->movers + k;
}

static size_t org_utility(const bench_agents_t *a, size_t u)
{
    return ORG_ORIGINS + 2 * a->movers + u;
}

static void why_set(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || why_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static void nap_us(long us)
{
    struct timespec ts = {us / 1000000L, (us % 1000000L) * 1000L};
    nanosleep(&ts, NULL);
}

static int org_init(bench_agents_t *a, size_t i, const char *name, const char *kind, const char *key_dir,
                    const char *data_dir, char *why, size_t why_len)
{
    ab_org_t *o = &a->org[i];
    char prefix[PATH_MAX];
    rk_identity_t *id;
    rk_keys_err e;

    snprintf(o->name, sizeof o->name, "%s", name);
    o->kind = kind;
    if ((size_t)snprintf(prefix, sizeof prefix, "%s/%s", key_dir, name) >= sizeof prefix ||
        (size_t)snprintf(o->key, sizeof o->key, "%s.key", prefix) >= sizeof o->key ||
        (size_t)snprintf(o->data, sizeof o->data, "%s/%s", data_dir, name) >= sizeof o->data) {
        why_set(why, why_len, "the key or data directory path is too long");
        return -1;
    }
    id = rk_identity_generate(name);
    if (id == NULL) {
        why_set(why, why_len, "cannot make the identity %s (out of memory?)", name);
        return -1;
    }
    e = rk_identity_save(id, prefix, why, why_len);
    rk_identity_destroy(&id);
    return e == RK_KEYS_OK ? 0 : -1;
}

bench_agents_t *bench_agents_new(const char *key_dir, const char *data_dir, const char *hub_pub,
                                 size_t movers, char *why, size_t why_len)
{
    bench_agents_t *a;
    char name[32];
    int rc = 0;

    if (movers == 0 || movers > 99) {
        why_set(why, why_len, "movers go from 1 to 99, not %zu", movers);
        return NULL;
    }
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        why_set(why, why_len, "cannot make %s: %s", data_dir, strerror(errno));
        return NULL;
    }
    a = calloc(1, sizeof *a);
    if (a == NULL) {
        why_set(why, why_len, "out of memory");
        return NULL;
    }
    a->movers = movers;
    a->n = ORG_ORIGINS + 2 * movers + AB_UTILITIES;
    a->org = calloc(a->n, sizeof *a->org);
    if (a->org == NULL ||
        (size_t)snprintf(a->hub_pub, sizeof a->hub_pub, "%s", hub_pub) >= sizeof a->hub_pub) {
        why_set(why, why_len, a->org == NULL ? "out of memory" : "the hub's key path is too long");
        bench_agents_destroy(&a);
        return NULL;
    }
    rc |= org_init(a, ORG_LAT_SENDER, "agsend", "municipality", key_dir, data_dir, why, why_len);
    if (rc == 0)
        rc |= org_init(a, ORG_LAT_REPLIER, "agreply", "utility", key_dir, data_dir, why, why_len);
    for (size_t k = 0; k < movers && rc == 0; k++) {
        snprintf(name, sizeof name, "agx%02zu", k);
        rc |= org_init(a, org_origin(a, k), name, "municipality", key_dir, data_dir, why, why_len);
        snprintf(name, sizeof name, "agy%02zu", k);
        if (rc == 0)
            rc |= org_init(a, org_destination(a, k), name, "municipality", key_dir, data_dir, why,
                           why_len);
    }
    for (size_t u = 0; u < AB_UTILITIES && rc == 0; u++)
        rc |= org_init(a, org_utility(a, u), utility_names[u], "utility", key_dir, data_dir, why,
                       why_len);
    if (rc != 0)
        bench_agents_destroy(&a);
    return a;
}

void bench_agents_destroy(bench_agents_t **a)
{
    if (a == NULL || *a == NULL)
        return;
    free((*a)->org);
    free(*a);
    *a = NULL;
}

size_t bench_agents_orgs(const bench_agents_t *a)
{
    return a->n;
}

const char *bench_agents_org_name(const bench_agents_t *a, size_t i)
{
    return i < a->n ? a->org[i].name : NULL;
}

const char *bench_agents_org_kind(const bench_agents_t *a, size_t i)
{
    return i < a->n ? a->org[i].kind : NULL;
}

void bench_agents_set_endpoint(bench_agents_t *a, const char *endpoint)
{
    snprintf(a->endpoint, sizeof a->endpoint, "%s", endpoint);
}

/* ------------------------------------------------------------ one agent */

static int ab_open(bench_agents_t *a, size_t i, rk_agent_t **out, char *why, size_t why_len)
{
    rk_agent_config cfg;
    char inner[512] = "";
    rk_agent_err err;

    rk_agent_config_init(&cfg);
    cfg.endpoint = a->endpoint;
    cfg.hub_pub = a->hub_pub;
    cfg.key = a->org[i].key;
    cfg.data_dir = a->org[i].data;
    cfg.timeout_ms = AB_TIMEOUT_MS;
    cfg.receive = true;
    err = rk_agent_open(&cfg, out, inner, sizeof inner);
    if (err != RK_AGENT_OK) {
        why_set(why, why_len, "%s's agent does not open: %s (%s)", a->org[i].name,
                rk_agent_strerror(err), inner);
        return -1;
    }
    return 0;
}

/* Sends m; a message the hub has not accepted yet (EPENDING: queue or
 * store full, slow answer) stays in the outbox and is re-sent by the
 * library, so it still counts. */
static int ab_send(rk_agent_t *ag, const rk_outgoing *m, uint8_t id[RK_MSGID_LEN], char *why,
                   size_t why_len)
{
    rk_result_t res;
    char inner[512] = "";
    rk_agent_err err = rk_agent_send(ag, m, id, &res, inner, sizeof inner);
    if (err == RK_AGENT_OK || err == RK_AGENT_EPENDING)
        return 0;
    why_set(why, why_len, "%s -> %s %s: %s (%s)", rk_agent_org(ag), m->to, m->type, rk_agent_strerror(err),
            inner);
    return -1;
}

/* Waits for the reply to id from `from`, in slices so that a failure
 * elsewhere (*failed) ends the wait; marks the reply done.  0, or -1 with
 * why (refused, expired, timed out, or another thread failed). */
static int ab_await(rk_agent_t *ag, const uint8_t id[RK_MSGID_LEN], const char *from,
                    atomic_int *failed, char *why, size_t why_len)
{
    double deadline = bench_now() + AB_REPLY_S;
    char inner[512] = "";
    rk_event *ev = NULL;
    rk_agent_err err;
    int rc = -1;

    for (;;) {
        err = rk_agent_wait_reply(ag, id, AB_SLICE_MS, &ev, inner, sizeof inner);
        if (err != RK_AGENT_ETIMEOUT)
            break;
        if (failed != NULL && atomic_load(failed)) {
            why_set(why, why_len, "stopped: another agent failed");
            return -1;
        }
        if (bench_now() > deadline) {
            why_set(why, why_len, "%s: no reply from %s within %.0f s (%s)", rk_agent_org(ag), from,
                    AB_REPLY_S, inner);
            return -1;
        }
    }
    if (err != RK_AGENT_OK) {
        why_set(why, why_len, "%s: waiting for %s's reply: %s (%s)", rk_agent_org(ag), from,
                rk_agent_strerror(err), inner);
        return -1;
    }
    if (ev->kind != RK_EVENT_MESSAGE) {
        why_set(why, why_len, "%s: the message to %s was not answered: %s %s", rk_agent_org(ag), from,
                rk_status_name(ev->result.status), ev->result.detail);
    } else if (strcmp(ev->from, from) != 0 || !ev->has_reply_to) {
        why_set(why, why_len, "%s: expected a reply from %s, got a message from %s", rk_agent_org(ag),
                from, ev->from);
    } else if ((err = rk_agent_done(ag, ev, inner, sizeof inner)) != RK_AGENT_OK) {
        why_set(why, why_len, "%s: cannot mark %s's reply done: %s (%s)", rk_agent_org(ag), from,
                rk_agent_strerror(err), inner);
    } else {
        rc = 0;
    }
    rk_event_free(&ev);
    return rc;
}

static uint8_t *make_payload(size_t len, char fill)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    if (p != NULL)
        memset(p, fill, len > 0 ? len : 1);
    return p;
}

/* ------------------------------------------------------------ servers */

/* A utility (replies at once) or a destination (asks the utilities, waits
 * for their replies, then replies) serving requests until *stop. */
typedef struct ab_server {
    bench_agents_t *a;
    size_t org;
    bool destination;
    size_t payload;
    atomic_int *stop, *ready, *failed;
    size_t replies; /* replies this agent received (destinations) */
    int rc;
    char why[512];
    pthread_t th;
    bool started;
} ab_server_t;

static int serve_notice(ab_server_t *s, rk_agent_t *ag, const rk_event *notice, const uint8_t *pl)
{
    uint8_t ids[AB_UTILITIES][RK_MSGID_LEN], rid[RK_MSGID_LEN];
    rk_result_t res;
    char inner[512] = "";
    rk_agent_err err;

    for (size_t u = 0; u < AB_UTILITIES; u++) {
        rk_outgoing m;
        memset(&m, 0, sizeof m);
        m.to = s->a->org[org_utility(s->a, u)].name;
        m.type = AB_TYPE_START;
        m.code = notice->code; /* this town's own code, from the notice */
        m.payload = pl;
        m.payload_len = s->payload;
        if (ab_send(ag, &m, ids[u], s->why, sizeof s->why) != 0)
            return -1;
    }
    for (size_t u = 0; u < AB_UTILITIES; u++) {
        if (ab_await(ag, ids[u], s->a->org[org_utility(s->a, u)].name, s->failed, s->why,
                     sizeof s->why) != 0)
            return -1;
        s->replies++;
    }
    /* The town answers the move-out notice with its move-in notice. */
    err = rk_agent_follow_up(ag, notice, AB_TYPE_MOVE_IN, pl, s->payload, rid, &res, inner, sizeof inner);
    if (err != RK_AGENT_OK && err != RK_AGENT_EPENDING) {
        why_set(s->why, sizeof s->why, "%s: replying to %s's notice: %s (%s)", rk_agent_org(ag),
                notice->from, rk_agent_strerror(err), inner);
        return -1;
    }
    return 0;
}

static void *server_main(void *arg)
{
    ab_server_t *s = arg;
    rk_agent_t *ag = NULL;
    uint8_t *pl = make_payload(s->payload, s->destination ? 'd' : 'u');

    s->rc = -1;
    if (pl == NULL) {
        why_set(s->why, sizeof s->why, "out of memory");
        goto out;
    }
    if (ab_open(s->a, s->org, &ag, s->why, sizeof s->why) != 0)
        goto out;
    atomic_fetch_add(s->ready, 1);
    while (!atomic_load(s->stop) && !atomic_load(s->failed)) {
        rk_event *ev = NULL;
        char inner[512] = "";
        rk_agent_err err = rk_agent_recv_only(ag, RK_RECV_REQUESTS, 50, &ev, inner, sizeof inner);
        int rc = 0;
        if (err == RK_AGENT_ETIMEOUT)
            continue;
        if (err != RK_AGENT_OK) {
            why_set(s->why, sizeof s->why, "%s: receiving: %s (%s)", s->a->org[s->org].name,
                    rk_agent_strerror(err), inner);
            goto out;
        }
        if (ev->kind != RK_EVENT_MESSAGE) {
            why_set(s->why, sizeof s->why, "%s refused a delivery from %s: %s", s->a->org[s->org].name,
                    ev->from, ev->detail);
            rc = -1;
        } else if (s->destination) {
            rc = serve_notice(s, ag, ev, pl);
        } else {
            uint8_t rid[RK_MSGID_LEN];
            rk_result_t res;
            err = rk_agent_reply(ag, ev, pl, s->payload, rid, &res, inner, sizeof inner);
            if (err != RK_AGENT_OK && err != RK_AGENT_EPENDING) {
                why_set(s->why, sizeof s->why, "%s: replying to %s: %s (%s)", s->a->org[s->org].name,
                        ev->from, rk_agent_strerror(err), inner);
                rc = -1;
            }
        }
        rk_event_free(&ev);
        if (rc != 0)
            goto out;
    }
    s->rc = 0;
out:
    if (s->rc != 0)
        atomic_store(s->failed, 1);
    rk_agent_close(&ag);
    free(pl);
    return NULL;
}

static int server_start(ab_server_t *s)
{
    if (pthread_create(&s->th, NULL, server_main, s) != 0) {
        why_set(s->why, sizeof s->why, "cannot start a thread for %s", s->a->org[s->org].name);
        s->rc = -1;
        atomic_store(s->failed, 1);
        return -1;
    }
    s->started = true;
    return 0;
}

static void server_join(ab_server_t *s)
{
    if (s->started)
        pthread_join(s->th, NULL);
    s->started = false;
}

/* Waits until *ready reaches n or *failed is set.  0 if all are ready. */
static int wait_ready(atomic_int *ready, int n, atomic_int *failed, char *why, size_t why_len)
{
    double deadline = bench_now() + AB_READY_S;
    while (atomic_load(ready) < n) {
        if (atomic_load(failed))
            return -1;
        if (bench_now() > deadline) {
            why_set(why, why_len, "the agents did not open within %.0f s", AB_READY_S);
            atomic_store(failed, 1);
            return -1;
        }
        nap_us(1000);
    }
    return 0;
}

/* ------------------------------------------------------------ latency */

/* Enrolls the latency persons (known ones are only looked up). */
static int lat_enroll(rk_agent_t *ag, char persons[AB_LAT_PERSONS][32], char *why, size_t why_len)
{
    for (size_t i = 0; i < AB_LAT_PERSONS; i++) {
        uint8_t code[RK_CODE_LEN];
        bool existed = false;
        rk_result_t refusal;
        char inner[512] = "";
        rk_agent_err err;
        snprintf(persons[i], 32, "TEST-LAT-%04zu", i + 1);
        err = rk_agent_enroll(ag, persons[i], code, &existed, &refusal, inner, sizeof inner);
        sodium_memzero(code, sizeof code);
        if (err != RK_AGENT_OK) {
            why_set(why, why_len, "%s: enrolling a test person: %s (%s)", rk_agent_org(ag),
                    rk_agent_strerror(err), inner);
            return -1;
        }
    }
    return 0;
}

/* One round trip; *us its time. */
static int lat_one(bench_agents_t *a, rk_agent_t *ag, const char *person, const uint8_t *pl, size_t len,
                   atomic_int *failed, double *us, char *why, size_t why_len)
{
    rk_outgoing m;
    uint8_t id[RK_MSGID_LEN];
    double t0, t1;

    memset(&m, 0, sizeof m);
    m.to = a->org[ORG_LAT_REPLIER].name;
    m.type = AB_TYPE_LAT;
    m.person = person;
    m.payload = pl;
    m.payload_len = len;
    t0 = bench_now();
    if (ab_send(ag, &m, id, why, why_len) != 0)
        return -1;
    /* The reply is verified and decrypted when wait_reply hands it out;
     * marking it done (one more commit) is not part of the round trip. */
    {
        char inner[512] = "";
        rk_event *ev = NULL;
        double deadline = bench_now() + AB_REPLY_S;
        rk_agent_err err;
        for (;;) {
            err = rk_agent_wait_reply(ag, id, AB_SLICE_MS, &ev, inner, sizeof inner);
            if (err != RK_AGENT_ETIMEOUT)
                break;
            if (atomic_load(failed) || bench_now() > deadline) {
                why_set(why, why_len, "%s", atomic_load(failed) ? "the replying agent failed"
                                                                : "no reply within the time limit");
                return -1;
            }
        }
        t1 = bench_now();
        if (err != RK_AGENT_OK) {
            why_set(why, why_len, "waiting for the reply: %s (%s)", rk_agent_strerror(err), inner);
            return -1;
        }
        if (ev->kind != RK_EVENT_MESSAGE) {
            why_set(why, why_len, "the request was not answered: %s %s", rk_status_name(ev->result.status),
                    ev->result.detail);
            rk_event_free(&ev);
            return -1;
        }
        err = rk_agent_done(ag, ev, inner, sizeof inner);
        rk_event_free(&ev);
        if (err != RK_AGENT_OK) {
            why_set(why, why_len, "cannot mark the reply done: %s (%s)", rk_agent_strerror(err), inner);
            return -1;
        }
    }
    *us = (t1 - t0) * 1e6;
    return 0;
}

int bench_agents_latency(bench_agents_t *a, size_t samples, size_t payload, const atomic_int *load,
                         bench_series_t *out, char *why, size_t why_len)
{
    atomic_int stop, ready, failed;
    ab_server_t rep;
    rk_agent_t *ag = NULL;
    char persons[AB_LAT_PERSONS][32];
    uint8_t *pl = make_payload(payload, 'q');
    int rc = -1;

    atomic_init(&stop, 0);
    atomic_init(&ready, 0);
    atomic_init(&failed, 0);
    memset(&rep, 0, sizeof rep);
    rep.a = a;
    rep.org = ORG_LAT_REPLIER;
    rep.payload = payload;
    rep.stop = &stop;
    rep.ready = &ready;
    rep.failed = &failed;
    if (pl == NULL) {
        why_set(why, why_len, "out of memory");
        return -1;
    }
    if (server_start(&rep) != 0)
        goto fail;
    if (ab_open(a, ORG_LAT_SENDER, &ag, why, why_len) != 0 ||
        lat_enroll(ag, persons, why, why_len) != 0 || wait_ready(&ready, 1, &failed, why, why_len) != 0)
        goto fail;
    /* Warm-up: one round trip per person (the first makes the utility's
     * first contact with each). */
    for (size_t i = 0; i < AB_LAT_PERSONS; i++) {
        double us;
        if (lat_one(a, ag, persons[i], pl, payload, &failed, &us, why, why_len) != 0)
            goto fail;
    }
    for (size_t i = 0, waits = 0; i < samples;) {
        double us;
        if (load != NULL) {
            if (!atomic_load(load)) {
                if (++waits > 60000) { /* a minute without load */
                    why_set(why, why_len, "the background load stopped");
                    goto fail;
                }
                nap_us(1000);
                continue;
            }
            waits = 0;
        }
        if (lat_one(a, ag, persons[i % AB_LAT_PERSONS], pl, payload, &failed, &us, why, why_len) != 0)
            goto fail;
        if (load != NULL && !atomic_load(load))
            continue;
        i++;
        if (bench_series_add(out, us) != 0) {
            why_set(why, why_len, "out of memory");
            goto fail;
        }
    }
    rc = 0;
fail:
    rk_agent_close(&ag);
    atomic_store(&stop, 1);
    server_join(&rep);
    if (rc == 0 && rep.rc != 0)
        rc = -1;
    if (rep.rc != 0 && rep.why[0] != '\0')
        why_set(why, why_len, "%s", rep.why);
    free(pl);
    return rc;
}

/* ------------------------------------------------------------ moves */

typedef struct ab_origin {
    bench_agents_t *a;
    size_t mover, moves, first_person, payload;
    atomic_int *ready, *failed, *go;
    double t_end;
    size_t done, replies;
    int rc;
    char why[512];
    pthread_t th;
    bool started;
} ab_origin_t;

static void person_name(char *out, size_t len, size_t mover, size_t n)
{
    snprintf(out, len, "TEST-%02zu-%08zu", mover, n);
}

static int origin_moves(ab_origin_t *o, rk_agent_t *ag, const uint8_t *pl)
{
    const char *dest = o->a->org[org_destination(o->a, o->mover)].name;
    char person[32];

    /* Residents already known at the origin: enrolled before the clock. */
    for (size_t n = 0; n < o->moves; n++) {
        uint8_t code[RK_CODE_LEN];
        bool existed = false;
        rk_result_t refusal;
        char inner[512] = "";
        rk_agent_err err;
        person_name(person, sizeof person, o->mover, o->first_person + n);
        err = rk_agent_enroll(ag, person, code, &existed, &refusal, inner, sizeof inner);
        sodium_memzero(code, sizeof code);
        if (err != RK_AGENT_OK) {
            why_set(o->why, sizeof o->why, "%s: enrolling a test person: %s (%s)", rk_agent_org(ag),
                    rk_agent_strerror(err), inner);
            return -1;
        }
    }
    atomic_fetch_add(o->ready, 1);
    while (!atomic_load(o->go)) {
        if (atomic_load(o->failed))
            return -1;
        nap_us(100);
    }
    for (size_t n = 0; n < o->moves; n++) {
        rk_outgoing m;
        uint8_t id[RK_MSGID_LEN];
        memset(&m, 0, sizeof m);
        person_name(person, sizeof person, o->mover, o->first_person + n);
        m.to = dest;
        m.type = AB_TYPE_NOTICE;
        m.person = person;
        m.payload = pl;
        m.payload_len = o->payload;
        if (ab_send(ag, &m, id, o->why, sizeof o->why) != 0 ||
            ab_await(ag, id, dest, o->failed, o->why, sizeof o->why) != 0)
            return -1;
        o->replies++;
        o->done++;
    }
    o->t_end = bench_now();
    return 0;
}

static void *origin_main(void *arg)
{
    ab_origin_t *o = arg;
    rk_agent_t *ag = NULL;
    uint8_t *pl = make_payload(o->payload, 'n');

    o->rc = -1;
    if (pl == NULL)
        why_set(o->why, sizeof o->why, "out of memory");
    else if (ab_open(o->a, org_origin(o->a, o->mover), &ag, o->why, sizeof o->why) == 0 &&
             origin_moves(o, ag, pl) == 0)
        o->rc = 0;
    if (o->rc != 0)
        atomic_store(o->failed, 1);
    rk_agent_close(&ag);
    free(pl);
    return NULL;
}

int bench_agents_moves(bench_agents_t *a, size_t moves, size_t payload, bench_moves_t *out, char *why,
                       size_t why_len)
{
    size_t M = a->movers, ns = M + AB_UTILITIES;
    atomic_int stop, ready, failed, go;
    ab_server_t *srv = calloc(ns, sizeof *srv);
    ab_origin_t *org = calloc(M, sizeof *org);
    double t0 = 0;
    int rc = -1;

    memset(out, 0, sizeof *out);
    atomic_init(&stop, 0);
    atomic_init(&ready, 0);
    atomic_init(&failed, 0);
    atomic_init(&go, 0);
    if (srv == NULL || org == NULL) {
        why_set(why, why_len, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ns; i++) {
        ab_server_t *s = &srv[i];
        s->a = a;
        s->destination = i < M;
        s->org = i < M ? org_destination(a, i) : org_utility(a, i - M);
        s->payload = payload;
        s->stop = &stop;
        s->ready = &ready;
        s->failed = &failed;
        if (server_start(s) != 0)
            goto out;
    }
    for (size_t k = 0; k < M; k++) {
        ab_origin_t *o = &org[k];
        o->a = a;
        o->mover = k;
        o->moves = moves / M + (k < moves % M ? 1 : 0);
        o->first_person = a->next_person;
        o->payload = payload;
        o->ready = &ready;
        o->failed = &failed;
        o->go = &go;
        if (pthread_create(&o->th, NULL, origin_main, o) != 0) {
            why_set(why, why_len, "cannot start a thread for an origin municipality");
            atomic_store(&failed, 1);
            goto out;
        }
        o->started = true;
    }
    a->next_person += moves; /* each origin numbers its own persons from here */
    if (wait_ready(&ready, (int)(ns + M), &failed, why, why_len) != 0)
        goto out;
    t0 = bench_now();
    atomic_store(&go, 1);
    rc = 0;
out:
    for (size_t k = 0; org != NULL && k < M; k++)
        if (org[k].started)
            pthread_join(org[k].th, NULL);
    atomic_store(&stop, 1);
    for (size_t i = 0; srv != NULL && i < ns; i++)
        server_join(&srv[i]);
    if (rc == 0) {
        double t1 = t0;
        for (size_t k = 0; k < M; k++) {
            if (org[k].rc != 0)
                rc = -1;
            out->moves += org[k].done;
            out->replies += org[k].replies;
            if (org[k].t_end > t1)
                t1 = org[k].t_end;
        }
        for (size_t i = 0; i < ns; i++) {
            if (srv[i].rc != 0)
                rc = -1;
            out->replies += srv[i].replies;
        }
        out->elapsed_s = t1 - t0;
        if (rc == 0 && (out->moves != moves || out->elapsed_s <= 0)) {
            why_set(why, why_len, "%zu of %zu moves completed", out->moves, moves);
            rc = -1;
        }
    }
    /* Name the first failure: an origin's own, else a server's (the
     * others only stopped because of it). */
    for (size_t k = 0; rc != 0 && org != NULL && k < M; k++)
        if (org[k].rc != 0 && org[k].why[0] != '\0' && strncmp(org[k].why, "stopped:", 8) != 0) {
            why_set(why, why_len, "%s", org[k].why);
            break;
        }
    for (size_t i = 0; rc != 0 && srv != NULL && i < ns; i++)
        if (srv[i].rc != 0 && srv[i].why[0] != '\0' && strncmp(srv[i].why, "stopped:", 8) != 0) {
            why_set(why, why_len, "%s", srv[i].why);
            break;
        }
    free(srv);
    free(org);
    return rc;
}
