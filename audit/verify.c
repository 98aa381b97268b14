/*
 * verify.c - renkei-audit verify.
 */
#include "verify.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "filter.h"
#include "merkle.h"
#include "note.h"
#include "state.h"
#include "why.h"

#define PAGE RK_LOG_READ_MAX
#define MAX_PROBLEMS 8
#define PROBLEM_LEN 600
/* Entry times may step back this much (hub restarts, clock adjustment)
 * before verify warns. */
#define BACKSTEP_MS 5000

/* The tree being rebuilt from the fetched entries.  Appending leaves in
 * order and asking for roots of the current size touch only the most recent
 * complete subtree of each level and its left sibling, so two slots per
 * level are all the storage tlog_append() and tlog_root() need: the rebuild
 * runs in constant memory however long the log is. */
typedef struct frontier {
    uint8_t hash[64][2][TLOG_HASH_LEN];
    uint64_t index[64][2];
    bool have[64][2];
} frontier_t;

#define MAX_OPERATORS 256
#define MAX_HUB_KEYS 64

typedef struct verify {
    audit_client_t *c;
    const audit_verify_opts_t *o;
    FILE *out;
    char problems[MAX_PROBLEMS][PROBLEM_LEN];
    size_t n_problems;
    char origin[TLOG_NAME_MAX + 1]; /* the log's name: given, remembered, or the checkpoint's */
    tlog_checkpoint_t cp;
    bool have_old;
    audit_state_t old;
    frontier_t fr;
    uint8_t old_root[TLOG_HASH_LEN]; /* recomputed at old.cp.size */
    bool have_old_root;
    uint8_t *snaps; /* root after every PAGE entries: snaps[k] at (k + 1) * PAGE */
    size_t n_snaps;
    uint64_t fetched;
    uint64_t undecodable;
    /* the newest restore from a backup the log records (EV_RESTORED) */
    bool restored;
    uint64_t restored_at, restored_backup_ms;
    bool tty;
    time_t last_progress;
    /* the hub's operators as the log itself introduces them */
    struct {
        char name[RK_ID_MAX + 1];
        uint8_t key[RK_KEY_LEN];
        bool active;
    } ops[MAX_OPERATORS];
    size_t n_ops;
    uint64_t bad_operator; /* entries whose operator signature does not hold */
    /* the hub's keys: trusted[0] is the key this auditor trusts (its state's
     * hub-key, else --hub-key's); each key-rotation statement on the log
     * signed by a trusted key adds the key it hands over to */
    uint8_t trusted[MAX_HUB_KEYS][RK_KEY_LEN];
    size_t n_trusted;
    uint8_t cp_key[RK_KEY_LEN]; /* the key the newest checkpoint is signed with */
    uint64_t bad_hub_key;       /* key-rotation statements whose signature does not hold */
} verify_t;

static void problem(verify_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool hub_key_trusted(const verify_t *v, const uint8_t key[RK_KEY_LEN])
{
    for (size_t k = 0; k < v->n_trusted; k++)
        if (sodium_memcmp(v->trusted[k], key, RK_KEY_LEN) == 0)
            return true;
    return false;
}

/* Follows a key-rotation statement (entry i): signed by a key this auditor
 * trusts, the key it hands over to is trusted from this entry on.  A
 * statement of a key the auditor never trusted (one before the key it was
 * given) is history it cannot judge; one whose signature does not hold
 * under the key it names is an altered entry. */
static void check_hub_key(verify_t *v, uint64_t i, const rk_log_entry_t *e)
{
    if (e->event != RK_EV_HUB_KEY_ANNOUNCED)
        return;
    if (!e->has_hub_key || rk_hub_key_stmt_verify(&e->hub_key, NULL) != RK_WIRE_OK) {
        if (v->bad_hub_key++ == 0)
            problem(v,
                    "entry %llu announces a new hub key, but its statement is not signed by the key it hands "
                    "over from",
                    (unsigned long long)i);
        return;
    }
    if (hub_key_trusted(v, e->hub_key.old_key) && !hub_key_trusted(v, e->hub_key.new_key) &&
        v->n_trusted < MAX_HUB_KEYS)
        memcpy(v->trusted[v->n_trusted++], e->hub_key.new_key, RK_KEY_LEN);
}

static size_t find_operator(const verify_t *v, const char *name)
{
    size_t i;
    for (i = 0; i < v->n_ops && strcmp(v->ops[i].name, name) != 0; i++)
        ;
    return i;
}

/* Checks the operator signature of entry i (bytes buf) and learns the
 * operators the log adds and revokes.  An operator's first entry, its own
 * registration, is signed with the key it registers when no operator came
 * before; every later one with a key the log introduced. */
static void check_operator(verify_t *v, uint64_t i, const rk_log_entry_t *e, const uint8_t *buf, size_t len)
{
    size_t at, n_active = 0;
    const uint8_t *key = NULL;

    for (size_t k = 0; k < v->n_ops; k++)
        n_active += v->ops[k].active;
    if (e->operator_name[0] != '\0') {
        at = find_operator(v, e->operator_name);
        if (at < v->n_ops && v->ops[at].active)
            key = v->ops[at].key;
        else if (n_active == 0 && e->event == RK_EV_OPERATOR_ADDED && e->has_key &&
                 strcmp(e->from, e->operator_name) == 0)
            key = e->key; /* the first operator registers itself */
        if (key == NULL) {
            if (v->bad_operator++ == 0)
                problem(v, "entry %llu names operator %s, whom the log never added (or revoked before)",
                        (unsigned long long)i, e->operator_name);
        } else if (rk_log_entry_verify_operator(buf, len, key) != RK_WIRE_OK) {
            if (v->bad_operator++ == 0)
                problem(v, "entry %llu claims operator %s, but its signature does not verify under %s's key",
                        (unsigned long long)i, e->operator_name, e->operator_name);
        }
    } else if (n_active > 0 && e->event >= RK_EV_ORG_REGISTERED && e->event <= RK_EV_ORG_KEY_CHANGED) {
        if (v->bad_operator++ == 0)
            problem(v,
                    "entry %llu changes organization %s without an operator, after operators were registered",
                    (unsigned long long)i, e->from);
    } else if (n_active > 0 && (e->event == RK_EV_OPERATOR_ADDED || e->event == RK_EV_OPERATOR_REVOKED)) {
        if (v->bad_operator++ == 0)
            problem(v, "entry %llu changes operator %s without an operator's signature",
                    (unsigned long long)i, e->from);
    } else if (n_active > 0 && e->event == RK_EV_MASTER_RESEALED) {
        if (v->bad_operator++ == 0)
            problem(v,
                    "entry %llu re-seals the hub's store under a new master key without an operator's "
                    "signature",
                    (unsigned long long)i);
    }
    if (e->event == RK_EV_OPERATOR_ADDED && e->has_key) {
        at = find_operator(v, e->from);
        if (at == v->n_ops && v->n_ops < MAX_OPERATORS)
            v->n_ops++;
        if (at < MAX_OPERATORS) {
            snprintf(v->ops[at].name, sizeof v->ops[at].name, "%s", e->from);
            memcpy(v->ops[at].key, e->key, RK_KEY_LEN);
            v->ops[at].active = true;
        }
    } else if (e->event == RK_EV_OPERATOR_REVOKED && (at = find_operator(v, e->from)) < v->n_ops) {
        v->ops[at].active = false;
    }
}
static void problem(verify_t *v, const char *fmt, ...)
{
    va_list ap;
    if (v->n_problems == MAX_PROBLEMS)
        return;
    va_start(ap, fmt);
    vsnprintf(v->problems[v->n_problems++], PROBLEM_LEN, fmt, ap);
    va_end(ap);
}

static int fr_get(void *ctx, unsigned level, uint64_t index, uint8_t out[TLOG_HASH_LEN])
{
    frontier_t *fr = ctx;
    unsigned s = (unsigned)(index & 1);
    if (level >= 64 || !fr->have[level][s] || fr->index[level][s] != index)
        return -1;
    memcpy(out, fr->hash[level][s], TLOG_HASH_LEN);
    return 0;
}

static int fr_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[TLOG_HASH_LEN])
{
    frontier_t *fr = ctx;
    unsigned s = (unsigned)(index & 1);
    if (level >= 64)
        return -1;
    memcpy(fr->hash[level][s], hash, TLOG_HASH_LEN);
    fr->index[level][s] = index;
    fr->have[level][s] = true;
    return 0;
}

static void hexroot(const uint8_t root[TLOG_HASH_LEN], char out[2 * TLOG_HASH_LEN + 1])
{
    sodium_bin2hex(out, 2 * TLOG_HASH_LEN + 1, root, TLOG_HASH_LEN);
}

static void cptime(int64_t sec, char out[32])
{
    audit_time_format(sec * 1000, false, out);
}

/* The reason the hub gave for refusing a routing-log request, as a sentence
 * for why; true if it was a refusal (FORBIDDEN, suspended). */
static bool refusal(verify_t *v, rk_status st, const char *detail, char *why, size_t why_len)
{
    if (st == RK_ST_FORBIDDEN) {
        rk_why(why, why_len,
               "%s is not an auditor: the hub answered FORBIDDEN (%s); use the key of an organization "
               "registered with --kind auditor",
               audit_client_org(v->c), detail[0] ? detail : rk_status_text(st));
        return true;
    }
    if (st == RK_ST_SENDER_SUSPENDED) {
        rk_why(why, why_len, "the hub refused: %s is suspended (%s)", audit_client_org(v->c), detail);
        return true;
    }
    return false;
}

/* ------------------------------------------------------------ checkpoint */

/* Fetches and opens the newest checkpoint into v->cp.  0 ok, 1 it does not
 * verify (problem recorded), -1 error (why). */
static int fetch_checkpoint(verify_t *v, char *why, size_t why_len)
{
    rk_client_frame_t req;
    rk_hub_frame_t resp;
    char reason[512] = "";
    const rk_pubkey_t *hub = audit_client_hub(v->c);
    tlog_err terr;

    memset(&req, 0, sizeof req);
    req.kind = RK_CF_CHECKPOINT;
    if (audit_client_request(v->c, &req, &resp, why, why_len) != AUDIT_CLIENT_OK)
        return -1;
    if (resp.kind == RK_HF_LOG) { /* the hub's answer to a suspended org */
        if (!refusal(v, resp.u.log.status, resp.u.log.detail, why, why_len))
            rk_why(why, why_len, "the hub could not answer: %s: %s", rk_status_name(resp.u.log.status),
                   resp.u.log.detail);
        rk_hub_frame_clear(&resp);
        return -1;
    }
    if (resp.kind != RK_HF_CHECKPOINT || resp.u.checkpoint.status != RK_ST_ACCEPTED ||
        resp.u.checkpoint.note == NULL) {
        rk_status st = resp.kind == RK_HF_CHECKPOINT ? resp.u.checkpoint.status : RK_ST_UNSPECIFIED;
        if (st == RK_ST_NOT_FOUND)
            rk_why(why, why_len, "the hub has signed no checkpoint of its routing log yet");
        else
            rk_why(why, why_len, "the hub could not produce its newest checkpoint (%s): see the hub's log",
                   rk_status_name(st));
        rk_hub_frame_clear(&resp);
        return -1;
    }
    /* the log's name: --log-origin, or the one the checkpoint names (the
     * pinned key's signature over it is what counts) */
    if (v->origin[0] == '\0' &&
        tlog_checkpoint_origin(resp.u.checkpoint.note, strlen(resp.u.checkpoint.note), v->origin) != TLOG_OK)
        snprintf(v->origin, sizeof v->origin, "(none)");
    /* the key it connected with, the key it trusts, the key the log led to */
    {
        const uint8_t *cand[3] = {hub->sign_pk, v->have_old && v->old.has_hub_key ? v->old.hub_key : NULL,
                                  v->have_old && v->old.has_hub_key_latest ? v->old.hub_key_latest : NULL};
        terr = TLOG_ESIG;
        for (size_t k = 0; k < 3 && terr != TLOG_OK; k++) {
            char ignored[512];
            if (cand[k] == NULL)
                continue;
            terr = tlog_checkpoint_open(resp.u.checkpoint.note, strlen(resp.u.checkpoint.note), v->origin,
                                        v->origin, cand[k], &v->cp, k == 0 ? reason : ignored,
                                        k == 0 ? sizeof reason : sizeof ignored);
            if (terr == TLOG_OK)
                memcpy(v->cp_key, cand[k], RK_KEY_LEN);
        }
    }
    rk_hub_frame_clear(&resp);
    if (terr != TLOG_OK) {
        problem(v,
                "the hub's newest checkpoint is not a valid checkpoint of log \"%s\" signed with the key in "
                "hub.pub (or a key the routing log handed over to): %s",
                v->origin, reason);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ proofs */

/* Asks for the consistency proof from old_size to the checkpoint's size and
 * checks it against old_root.  1 it holds, 0 it does not, -1 the hub gave
 * none (detail in hub_why). */
static int check_consistency(verify_t *v, uint64_t old_size, const uint8_t old_root[TLOG_HASH_LEN], char *hub_why,
                             size_t hub_why_len)
{
    rk_client_frame_t req;
    rk_hub_frame_t resp;
    tlog_err terr;

    memset(&req, 0, sizeof req);
    req.kind = RK_CF_PROOF;
    req.u.proof.old_size = old_size;
    req.u.proof.tree_size = v->cp.size;
    if (audit_client_request(v->c, &req, &resp, hub_why, hub_why_len) != AUDIT_CLIENT_OK)
        return -1;
    if (resp.kind != RK_HF_PROOF || resp.u.proof.status != RK_ST_ACCEPTED) {
        if (resp.kind == RK_HF_PROOF)
            rk_why(hub_why, hub_why_len, "%s: %s", rk_status_name(resp.u.proof.status), resp.u.proof.detail);
        else
            rk_why(hub_why, hub_why_len, "unexpected answer");
        rk_hub_frame_clear(&resp);
        return -1;
    }
    terr = tlog_verify_consistency(old_size, v->cp.size, old_root, v->cp.root, &resp.u.proof.hash[0][0],
                                   resp.u.proof.n);
    rk_hub_frame_clear(&resp);
    return terr == TLOG_OK ? 1 : 0;
}

/* Asks for the inclusion proof of entry index in the checkpoint's tree and
 * checks it for leaf.  1 holds, 0 does not, -1 no proof. */
static int check_inclusion(verify_t *v, uint64_t index, const uint8_t leaf[TLOG_HASH_LEN])
{
    rk_client_frame_t req;
    rk_hub_frame_t resp;
    char why[256];
    tlog_err terr;

    memset(&req, 0, sizeof req);
    req.kind = RK_CF_PROOF;
    req.u.proof.index = index;
    req.u.proof.tree_size = v->cp.size;
    if (audit_client_request(v->c, &req, &resp, why, sizeof why) != AUDIT_CLIENT_OK)
        return -1;
    if (resp.kind != RK_HF_PROOF || resp.u.proof.status != RK_ST_ACCEPTED) {
        rk_hub_frame_clear(&resp);
        return -1;
    }
    terr = tlog_verify_inclusion(index, v->cp.size, leaf, &resp.u.proof.hash[0][0], resp.u.proof.n, v->cp.root);
    rk_hub_frame_clear(&resp);
    return terr == TLOG_OK ? 1 : 0;
}

/* ----------------------------------------------------------------- entries */

/* The first entry in [start, start + count) the hub cannot return on its
 * own (one read per entry: only after a page failed); start if none. */
static uint64_t first_unreadable(verify_t *v, uint64_t start, uint32_t count)
{
    for (uint64_t i = start; i < start + count; i++) {
        rk_client_frame_t req;
        rk_hub_frame_t resp;
        char why[256];
        bool ok;

        memset(&req, 0, sizeof req);
        req.kind = RK_CF_LOG_READ;
        req.u.log_read.start = i;
        req.u.log_read.count = 1;
        if (audit_client_request(v->c, &req, &resp, why, sizeof why) != AUDIT_CLIENT_OK)
            return start;
        ok = resp.kind == RK_HF_LOG && resp.u.log.status == RK_ST_ACCEPTED && resp.u.log.n == 1;
        rk_hub_frame_clear(&resp);
        if (!ok)
            return i;
    }
    return start;
}

/* Reads up to `count` entries from start.  0 ok (resp filled, the caller
 * clears it), 1 the hub could not produce them (problem recorded), -1 error. */
static int read_page(verify_t *v, uint64_t start, uint32_t count, rk_hub_frame_t *resp, char *why, size_t why_len)
{
    rk_client_frame_t req;

    memset(&req, 0, sizeof req);
    req.kind = RK_CF_LOG_READ;
    req.u.log_read.start = start;
    req.u.log_read.count = count;
    if (audit_client_request(v->c, &req, resp, why, why_len) != AUDIT_CLIENT_OK)
        return -1;
    if (resp->kind != RK_HF_LOG) {
        rk_why(why, why_len, "the hub answered a log read with something else");
        rk_hub_frame_clear(resp);
        return -1;
    }
    if (resp->u.log.status != RK_ST_ACCEPTED) {
        if (refusal(v, resp->u.log.status, resp->u.log.detail, why, why_len)) {
            rk_hub_frame_clear(resp);
            return -1;
        }
        uint64_t at = count > 1 ? first_unreadable(v, start, count) : start;
        problem(v, "the hub cannot produce entry %llu of the %llu its checkpoint covers (%s: %s): its log is "
                   "damaged or incomplete",
                (unsigned long long)at, (unsigned long long)v->cp.size, rk_status_name(resp->u.log.status),
                resp->u.log.detail);
        rk_hub_frame_clear(resp);
        return 1;
    }
    if (resp->u.log.n == 0 || resp->u.log.n > count) {
        problem(v, "the hub's newest checkpoint covers %llu entries, but its log holds only %llu now (no entry "
                   "at index %llu): entries were removed",
                (unsigned long long)v->cp.size, (unsigned long long)resp->u.log.tree_size,
                (unsigned long long)start);
        rk_hub_frame_clear(resp);
        return 1;
    }
    for (size_t k = 0; k < resp->u.log.n; k++) {
        if (resp->u.log.index[k] != start + k) {
            problem(v, "the hub returned entry %llu where entry %llu was asked for: its log is out of order",
                    (unsigned long long)resp->u.log.index[k], (unsigned long long)start + k);
            rk_hub_frame_clear(resp);
            return 1;
        }
    }
    return 0;
}

static void progress(verify_t *v, bool last)
{
    time_t now;
    if (!v->o->progress)
        return;
    now = time(NULL);
    if (!last && now == v->last_progress)
        return;
    v->last_progress = now;
    fprintf(stderr, "%sverified %llu/%llu entries%s", v->tty ? "\r" : "", (unsigned long long)v->fetched,
            (unsigned long long)v->cp.size, v->tty && !last ? "" : "\n");
    fflush(stderr);
}

/* Fetches entries [0, cp.size), hashing them into the frontier.  0 all
 * fetched, 1 stopped with a problem, -1 error. */
static int fetch_all(verify_t *v, char *why, size_t why_len)
{
    uint64_t last_time = 0, last_time_index = 0;
    bool warned = false;
    size_t cap = (size_t)(v->cp.size / PAGE);

    if (cap > 0 && (v->snaps = malloc(cap * TLOG_HASH_LEN)) == NULL) {
        rk_why(why, why_len, "out of memory");
        return -1;
    }
    if (v->have_old && v->old.cp.size == 0) {
        if (tlog_root(0, fr_get, &v->fr, v->old_root) == TLOG_OK)
            v->have_old_root = true;
    }
    while (v->fetched < v->cp.size) {
        rk_hub_frame_t resp;
        uint64_t left = v->cp.size - v->fetched;
        int rc = read_page(v, v->fetched, (uint32_t)(left < PAGE ? left : PAGE), &resp, why, why_len);
        if (rc != 0)
            return rc;
        for (size_t k = 0; k < resp.u.log.n; k++) {
            uint64_t i = v->fetched;
            uint8_t leaf[TLOG_HASH_LEN];
            rk_log_entry_t e;
            char reason[256] = "";

            if (rk_log_entry_decode(resp.u.log.entry[k], resp.u.log.entry_len[k], &e, reason, sizeof reason) !=
                RK_WIRE_OK) {
                if (v->undecodable++ == 0)
                    problem(v, "entry %llu does not decode as a routing-log entry (%s)", (unsigned long long)i,
                            reason);
            } else {
                check_operator(v, i, &e, resp.u.log.entry[k], resp.u.log.entry_len[k]);
                check_hub_key(v, i, &e);
                if (e.event == RK_EV_RESTORED) {
                    v->restored = true;
                    v->restored_at = i;
                    v->restored_backup_ms = e.backup_ms;
                }
                if (e.time_ms + BACKSTEP_MS < last_time && !warned) {
                    char a[32], b[32];
                    audit_time_format((int64_t)e.time_ms, true, a);
                    audit_time_format((int64_t)last_time, true, b);
                    fprintf(stderr, "warning: entry %llu (%s) is older than entry %llu before it (%s): was the "
                                    "hub's clock set back?\n",
                            (unsigned long long)i, a, (unsigned long long)last_time_index, b);
                    warned = true;
                }
                if (e.time_ms > last_time) {
                    last_time = e.time_ms;
                    last_time_index = i;
                }
            }
            tlog_leaf_hash(resp.u.log.entry[k], resp.u.log.entry_len[k], leaf);
            if (tlog_append(i, leaf, fr_get, fr_put, &v->fr) != TLOG_OK) {
                rk_hub_frame_clear(&resp);
                rk_why(why, why_len, "rebuilding the tree failed at entry %llu", (unsigned long long)i);
                return -1;
            }
            v->fetched = i + 1;
            if (v->have_old && v->fetched == v->old.cp.size &&
                tlog_root(v->fetched, fr_get, &v->fr, v->old_root) == TLOG_OK)
                v->have_old_root = true;
            if (v->fetched % PAGE == 0 && v->n_snaps < cap &&
                tlog_root(v->fetched, fr_get, &v->fr, v->snaps + v->n_snaps * TLOG_HASH_LEN) == TLOG_OK)
                v->n_snaps++;
        }
        rk_hub_frame_clear(&resp);
        progress(v, false);
    }
    progress(v, true);
    return 0;
}

/* The roots differ: find the first entry that does not belong to the
 * checkpoint's tree.  Snapshot roots every PAGE entries are checked against
 * the checkpoint with consistency proofs (binary search: before the altered
 * entry they hold, after it they fail), then the entries of the one page
 * that holds it with inclusion proofs.  Returns true and *bad on success. */
static bool locate(verify_t *v, uint64_t *bad)
{
    size_t lo = 0, hi = v->n_snaps; /* first failing snapshot is in [lo, hi]; hi = none fails */
    uint64_t start;
    char why[256];
    rk_hub_frame_t resp;
    bool found = false;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int ok = check_consistency(v, (uint64_t)(mid + 1) * PAGE, v->snaps + mid * TLOG_HASH_LEN, why, sizeof why);
        if (ok < 0)
            return false;
        if (ok)
            lo = mid + 1;
        else
            hi = mid;
    }
    start = (uint64_t)lo * PAGE;
    if (read_page(v, start, (uint32_t)(v->cp.size - start < PAGE ? v->cp.size - start : PAGE), &resp, why,
                  sizeof why) != 0)
        return false;
    for (size_t k = 0; k < resp.u.log.n && !found; k++) {
        uint8_t leaf[TLOG_HASH_LEN];
        tlog_leaf_hash(resp.u.log.entry[k], resp.u.log.entry_len[k], leaf);
        int ok = check_inclusion(v, start + k, leaf);
        if (ok < 0)
            break;
        if (ok == 0) {
            *bad = start + k;
            found = true;
        }
    }
    rk_hub_frame_clear(&resp);
    return found;
}

/* ------------------------------------------------------------------ verify */

static void compare_with_old(verify_t *v)
{
    char t_old[32], t_new[32], why[256] = "";
    const tlog_checkpoint_t *old = &v->old.cp;

    cptime(old->time, t_old);
    cptime(v->cp.time, t_new);
    if (v->cp.size < old->size) {
        problem(v, "rollback: the hub's newest checkpoint (of %s) covers %llu entries, but this auditor verified "
                   "%llu entries at the checkpoint of %s: the log was shortened or rolled back",
                t_new, (unsigned long long)v->cp.size, (unsigned long long)old->size, t_old);
    } else if (v->cp.size == old->size) {
        if (sodium_memcmp(v->cp.root, old->root, TLOG_HASH_LEN) != 0)
            problem(v, "the hub's checkpoint of %s covers the same %llu entries as the checkpoint of %s verified "
                       "before, but with a different root: the log was rewritten",
                    t_new, (unsigned long long)v->cp.size, t_old);
    } else if (old->size > 0) {
        int ok = check_consistency(v, old->size, old->root, why, sizeof why);
        if (ok < 0)
            problem(v, "the hub cannot prove that its log of %llu entries (checkpoint of %s) extends the %llu "
                       "entries verified at the checkpoint of %s (%s)",
                    (unsigned long long)v->cp.size, t_new, (unsigned long long)old->size, t_old, why);
        else if (ok == 0)
            problem(v, "the consistency proof from %llu entries (checkpoint of %s, verified before) to %llu "
                       "entries (checkpoint of %s) does not hold: history before entry %llu was rewritten",
                    (unsigned long long)old->size, t_old, (unsigned long long)v->cp.size, t_new,
                    (unsigned long long)old->size);
    }
}

static int run(verify_t *v, char *why, size_t why_len)
{
    char sw[512] = "";
    audit_state_err serr;
    int rc;

    serr = audit_state_load(v->o->state_path, &v->old, sw, sizeof sw);
    if (serr == AUDIT_STATE_OK) {
        if (v->o->origin == NULL) {
            snprintf(v->origin, sizeof v->origin, "%s", v->old.origin);
        } else if (strcmp(v->old.origin, v->o->origin) != 0) {
            rk_why(why, why_len,
                   "the state file %s remembers log \"%s\", not \"%s\": give --state a file of its own for "
                   "each log",
                   v->o->state_path, v->old.origin, v->o->origin);
            return -1;
        }
        v->have_old = true;
    } else if (serr != AUDIT_STATE_ENOENT) {
        rk_why(why, why_len, "%s", sw);
        return -1;
    }
    memcpy(v->trusted[0],
           v->have_old && v->old.has_hub_key ? v->old.hub_key : audit_client_hub(v->c)->sign_pk, RK_KEY_LEN);
    v->n_trusted = 1;
    if ((rc = fetch_checkpoint(v, why, why_len)) != 0)
        return rc;
    if (v->have_old)
        compare_with_old(v);

    rc = fetch_all(v, why, why_len);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        uint8_t root[TLOG_HASH_LEN];
        if (tlog_root(v->cp.size, fr_get, &v->fr, root) != TLOG_OK) {
            rk_why(why, why_len, "computing the root of %llu entries failed", (unsigned long long)v->cp.size);
            return -1;
        }
        if (sodium_memcmp(root, v->cp.root, TLOG_HASH_LEN) != 0) {
            char t[32], have[2 * TLOG_HASH_LEN + 1], want[2 * TLOG_HASH_LEN + 1];
            uint64_t bad = 0;
            cptime(v->cp.time, t);
            hexroot(root, have);
            hexroot(v->cp.root, want);
            if (locate(v, &bad))
                problem(v, "entry %llu is not the entry the checkpoint of %s signed (its inclusion proof fails): "
                           "it was changed after it was logged",
                        (unsigned long long)bad, t);
            problem(v, "the %llu entries the hub serves give root %s, but its checkpoint of %s says %s",
                    (unsigned long long)v->cp.size, have, t, want);
        }
        if (v->have_old && v->old.cp.size <= v->cp.size && v->have_old_root &&
            sodium_memcmp(v->old_root, v->old.cp.root, TLOG_HASH_LEN) != 0) {
            char t[32];
            cptime(v->old.cp.time, t);
            problem(v, "the first %llu entries the hub serves now do not give the root verified at the checkpoint "
                       "of %s: entries before index %llu were changed since",
                    (unsigned long long)v->old.cp.size, t, (unsigned long long)v->old.cp.size);
        }
        if (v->undecodable > 1)
            problem(v, "%llu entries in all do not decode", (unsigned long long)v->undecodable);
        if (v->have_old && v->restored && v->restored_at < v->old.cp.size) {
            char t[32];
            audit_time_format((int64_t)v->restored_backup_ms, true, t);
            problem(v,
                    "the log says why: entry %llu records that the hub was restored from a backup taken at "
                    "%s; "
                    "the entries from index %llu on that this auditor verified before are gone (whatever "
                    "the hub accepted after the backup), and the log goes on from the backup",
                    (unsigned long long)v->restored_at, t, (unsigned long long)v->restored_at);
        }
        if (!hub_key_trusted(v, v->cp_key))
            problem(v,
                    "the hub's newest checkpoint is signed by a key that no key-rotation statement on the "
                    "log "
                    "announced: neither the key this auditor trusts nor one the log handed over to from it "
                    "(a hub started with a key nobody announced, or a forged checkpoint)");
    }
    return v->n_problems > 0 ? 1 : 0;
}

static int report_ok(verify_t *v, char *why, size_t why_len)
{
    char root[2 * TLOG_HASH_LEN + 1], t[32], t_old[32], sw[512] = "";
    audit_state_t st;

    hexroot(v->cp.root, root);
    cptime(v->cp.time, t);
    memset(&st, 0, sizeof st);
    snprintf(st.origin, sizeof st.origin, "%s", v->origin);
    st.cp = v->cp;
    st.has_hub_key = true;
    memcpy(st.hub_key, v->trusted[0], RK_KEY_LEN);
    if (v->n_trusted > 1) {
        st.has_hub_key_latest = true;
        memcpy(st.hub_key_latest, v->trusted[v->n_trusted - 1], RK_KEY_LEN);
    }
    if (audit_state_save(v->o->state_path, &st, sw, sizeof sw) != AUDIT_STATE_OK) {
        rk_why(why, why_len, "the log is consistent, but %s", sw);
        return -1;
    }
    if (v->have_old) {
        cptime(v->old.cp.time, t_old);
        fprintf(v->out,
                "consistent: %llu entries, root %s, checkpoint of %s, consistent with the checkpoint of %s "
                "(%llu entries) seen before\n",
                (unsigned long long)v->cp.size, root, t, t_old, (unsigned long long)v->old.cp.size);
    } else {
        fprintf(v->out,
                "consistent: %llu entries, root %s, checkpoint of %s; first verification with %s, remembered "
                "for the next\n",
                (unsigned long long)v->cp.size, root, t, v->o->state_path);
    }
    return 0;
}

int audit_verify(audit_client_t *c, const audit_verify_opts_t *o, FILE *out, char *why, size_t why_len)
{
    verify_t *v = calloc(1, sizeof *v);
    int rc;

    if (v == NULL) {
        rk_why(why, why_len, "out of memory");
        return -1;
    }
    v->c = c;
    v->o = o;
    if (o->origin != NULL)
        snprintf(v->origin, sizeof v->origin, "%s", o->origin);
    v->out = out;
    v->tty = isatty(STDERR_FILENO) != 0;
    rc = run(v, why, why_len);
    if (rc == 0) {
        rc = report_ok(v, why, why_len);
    } else if (rc == 1) {
        for (size_t i = 0; i < v->n_problems; i++)
            fprintf(out, "%s%s\n", i == 0 ? "NOT CONSISTENT: " : "  also: ", v->problems[i]);
    }
    fflush(out);
    free(v->snaps);
    free(v);
    return rc;
}
