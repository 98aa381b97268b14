/*
 * renkei-ctl - the hub operator's tool: register organizations and their
 * keys, suspend and reactivate them, replace a key; keep the procedure
 * catalogue (hub/catalogue.h).
 *
 * It works on the hub's data directory directly (LMDB serializes it with a
 * running hub, which sees the change at its next transaction) and never needs
 * the master key: it touches organizations and the catalogue only.  The one
 * exception, master-rekey, re-seals the store under a new master key
 * (hub/reseal.h) while the hub is stopped.
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "catalogue_store.h"
#include "keys.h"
#include "reseal.h"
#include "store.h"
#include "store_internal.h"
#include "cli.h"
#include "clock.h"

#define PROG "renkei-ctl"

enum { EXIT_OK = RK_EXIT_OK, EXIT_ERR = RK_EXIT_ERROR, EXIT_USAGE = RK_EXIT_USAGE };

static void err_f(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err_f(const char *fmt, ...)
{
    va_list ap;

    fputs(PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Parsed command line of one command. */
#define OVERLAP_MAX_MS (30ull * 86400000ull) /* rekey --overlap: at most 30 days */

typedef struct cmd_args {
    const char *data;
    const char *command;
    const char *org;
    const char *kind;
    const char *pub;
    /* catalogue */
    const char *action;
    char **args; /* after the action */
    int nargs;
    const char *out;
    bool dry_run;
    const char *operator_key; /* --operator-key: who makes the change */
    uint64_t overlap_ms;      /* rekey --overlap: how long the old key stays admitted; 0: none */
    /* master-rekey */
    const char *master_key, *new_master_key;
    size_t batch, map_size;
} cmd_args_t;

static void fmt_time(uint64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "?");
}

static void fmt_curve(const uint8_t key[RK_KEY_LEN], char out[RK_Z85_LEN + 1])
{
    if (zmq_z85_encode(out, key, RK_KEY_LEN) == NULL)
        snprintf(out, RK_Z85_LEN + 1, "?");
}

/* ------------------------------------------------------------------- store */

/* Opens the hub's store.  Only 'register' may create a new data directory:
 * any other command on a directory without hub data is a mistyped path. */
static int open_store(const cmd_args_t *a, bool may_create, store_t **s)
{
    char path[4096], why[512] = "";
    struct stat st;
    store_err err;

    if (!may_create) {
        if (stat(a->data, &st) != 0) {
            err_f("cannot use data directory %s: %s; give renkei-hub's --data directory with -d "
                  "or RENKEI_HUB_DATA", a->data, strerror(errno));
            return EXIT_ERR;
        }
        if ((size_t)snprintf(path, sizeof path, "%s/data.mdb", a->data) >= sizeof path) {
            err_f("data directory path is too long");
            return EXIT_ERR;
        }
        if (stat(path, &st) != 0) {
            err_f("%s holds no hub data (%s): check -d or RENKEI_HUB_DATA; the first "
                  "'renkei-ctl register' creates it", a->data, errno == ENOENT ? "no data.mdb" : strerror(errno));
            return EXIT_ERR;
        }
    }
    err = store_open(a->data, NULL, 0, s, why, sizeof why);
    if (err != STORE_OK) {
        err_f("%s", why[0] ? why : store_strerror(err));
        return EXIT_ERR;
    }
    return EXIT_OK;
}

static int store_fail(const char *what, store_err err, const cmd_args_t *a)
{
    if (err == STORE_EFULL)
        err_f("cannot %s: the hub's data file in %s is full (LMDB map size reached); nothing was "
              "changed: restart renkei-hub with a larger --map-size, then retry", what, a->data);
    else if (err == STORE_ECORRUPT)
        err_f("cannot %s: a record in %s is damaged; restore the data directory from a backup",
              what, a->data);
    else
        err_f("cannot %s in %s: %s", what, a->data, store_strerror(err));
    return EXIT_ERR;
}

static int not_registered(const char *org)
{
    err_f("no organization '%s' is registered; see 'renkei-ctl list'", org);
    return EXIT_ERR;
}

/* Loads a .pub file and checks that it names `org`. */
static int load_pub(const cmd_args_t *a, rk_pubkey_t *pub)
{
    char why[512] = "";

    if (rk_pubkey_load(a->pub, pub, why, sizeof why) != RK_KEYS_OK) {
        err_f("%s", why);
        return EXIT_ERR;
    }
    /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): prepare() requires the org */
    if (strcmp(pub->name, a->org) != 0) {
        err_f("%s is the public key of '%s', not of '%s': ask %s for the %s.pub it made with "
              "'renkei-keygen %s'", a->pub, pub->name, a->org, a->org, a->org, a->org);
        return EXIT_ERR;
    }
    return EXIT_OK;
}

/* --------------------------------------------------------------- operators */

/* The operator making this run's changes (loaded once, wiped at exit). */
static rk_identity_t *operator_id;

static void operator_forget(void)
{
    rk_identity_destroy(&operator_id);
}

static int count_active(const operator_t *op, void *ctx)
{
    if (op->active)
        (*(size_t *)ctx)++;
    return 0;
}

/* Loads --operator-key once. */
static int load_operator(const cmd_args_t *a)
{
    char why[512] = "";

    if (operator_id != NULL)
        return EXIT_OK;
    if (rk_identity_load(a->operator_key, &operator_id, why, sizeof why) != RK_KEYS_OK) {
        err_f("%s", why);
        return EXIT_ERR;
    }
    atexit(operator_forget);
    return EXIT_OK;
}

/* Makes t's routing-log entries carry the operator's name and signature.
 * Once any operator is registered, every change needs the key of an active
 * one (--operator-key or RENKEI_OPERATOR_KEY); before that, changes are
 * made unattributed, with a note.  `adding`: the operator being added now
 * (it may sign its own registration when it is the first). */
static int act_as_operator(const cmd_args_t *a, store_txn_t *t, const operator_t *adding)
{
    operator_t op;
    size_t active = 0;
    store_err err = store_operator_list(t, count_active, &active);
    int rc;

    if (err != STORE_OK)
        return store_fail("read the operators", err, a);
    if (active == 0 && adding == NULL) {
        if (a->operator_key != NULL) {
            err_f("no operator is registered yet: register yourself first with 'renkei-ctl operator add NAME "
                  "--pub NAME.pub --operator-key NAME.key'");
            return EXIT_ERR;
        }
        fprintf(stderr,
                PROG ": note: no operator is registered, so this change is on the routing log without "
                     "an operator; see 'renkei-ctl operator --help'\n");
        return EXIT_OK;
    }
    if (a->operator_key == NULL) {
        err_f("changes need the key of a registered operator: give --operator-key FILE (or set "
              "RENKEI_OPERATOR_KEY); nothing was changed");
        return EXIT_ERR;
    }
    if ((rc = load_operator(a)) != EXIT_OK)
        return rc;
    if (active == 0 || (adding != NULL && strcmp(adding->name, operator_id->pub.name) == 0 &&
                        store_operator_get(t, adding->name, &op) == STORE_ENOTFOUND)) {
        /* the first operator, or one registering itself: the key must be its own */
        if (adding == NULL || strcmp(adding->name, operator_id->pub.name) != 0 ||
            sodium_memcmp(adding->sign_pk, operator_id->pub.sign_pk, RK_KEY_LEN) != 0) {
            err_f("the first operator signs its own registration: --operator-key must be the secret key of "
                  "%s's "
                  "--pub; nothing was changed",
                  adding != NULL ? adding->name : "the operator");
            return EXIT_ERR;
        }
        if (active > 0) {
            err_f("%s is not a registered operator: an active operator must add it; nothing was changed",
                  operator_id->pub.name);
            return EXIT_ERR;
        }
    } else {
        err = store_operator_get(t, operator_id->pub.name, &op);
        if (err == STORE_ENOTFOUND || (err == STORE_OK && !op.active)) {
            err_f("%s is not %s operator of this hub; nothing was changed", operator_id->pub.name,
                  err == STORE_OK ? "an active" : "a registered");
            return EXIT_ERR;
        }
        if (err != STORE_OK)
            return store_fail("read the operators", err, a);
        if (sodium_memcmp(op.sign_pk, operator_id->pub.sign_pk, RK_KEY_LEN) != 0) {
            err_f("%s is not the key registered for operator %s; nothing was changed", a->operator_key,
                  op.name);
            return EXIT_ERR;
        }
    }
    store_txn_set_operator(t, operator_id->pub.name, operator_id->sign_sk);
    return EXIT_OK;
}

static int print_operator(const operator_t *op, void *ctx)
{
    char b64[64], when[32];

    (void)ctx;
    sodium_bin2base64(b64, sizeof b64, op->sign_pk, RK_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    fmt_time(op->created_ms, when);
    printf("%-24s  %-8s  %s  %s\n", op->name, op->active ? "active" : "revoked", b64, when);
    return 0;
}

static int cmd_operator(const cmd_args_t *a)
{
    store_t *s = NULL;
    store_txn_t *t = NULL;
    operator_t op;
    rk_pubkey_t pub;
    char why[512] = "";
    store_err err;
    bool add = strcmp(a->action, "add") == 0;
    int rc;

    if ((rc = open_store(a, add, &s)) != EXIT_OK)
        return rc;
    rc = EXIT_ERR;
    if ((err = store_begin(s, strcmp(a->action, "list") != 0, &t)) != STORE_OK) {
        store_fail("begin a transaction", err, a);
        goto out;
    }
    if (strcmp(a->action, "list") == 0) {
        printf("%-24s  %-8s  %-44s  %s\n", "OPERATOR", "STATUS", "KEY (Ed25519)", "ADDED (UTC)");
        err = store_operator_list(t, print_operator, NULL);
        rc = err == STORE_OK ? EXIT_OK : store_fail("read the operators", err, a);
        goto out;
    }
    memset(&op, 0, sizeof op);
    if (add) {
        if (rk_pubkey_load(a->pub, &pub, why, sizeof why) != RK_KEYS_OK) {
            err_f("%s", why);
            goto out;
        }
        if (strcmp(pub.name, a->args[0]) != 0) {
            err_f("%s is the public key of '%s', not of '%s'", a->pub, pub.name, a->args[0]);
            goto out;
        }
        snprintf(op.name, sizeof op.name, "%s", a->args[0]);
        memcpy(op.sign_pk, pub.sign_pk, RK_KEY_LEN);
        err = store_operator_get(t, op.name, &op);
        if (err == STORE_OK && op.active) {
            err_f("%s is already an operator", op.name);
            goto out;
        }
        if (err != STORE_OK && err != STORE_ENOTFOUND) {
            store_fail("read the operators", err, a);
            goto out;
        }
        if (err == STORE_ENOTFOUND)
            op.created_ms = rk_wall_ms();
        memcpy(op.sign_pk, pub.sign_pk, RK_KEY_LEN);
        op.active = true;
    } else {
        err = store_operator_get(t, a->args[0], &op);
        if (err == STORE_ENOTFOUND || (err == STORE_OK && !op.active)) {
            err_f("%s is not an active operator; see 'renkei-ctl operator list'", a->args[0]);
            goto out;
        }
        if (err != STORE_OK) {
            store_fail("read the operators", err, a);
            goto out;
        }
        op.active = false;
    }
    op.updated_ms = rk_wall_ms();
    if ((rc = act_as_operator(a, t, add ? &op : NULL)) != EXIT_OK)
        goto out;
    rc = EXIT_ERR;
    if ((err = store_operator_put(t, &op)) != STORE_OK ||
        (err = store_log_operator_event(t, add ? RK_EV_OPERATOR_ADDED : RK_EV_OPERATOR_REVOKED, &op,
                                        op.updated_ms)) != STORE_OK ||
        (err = store_commit(&t)) != STORE_OK) {
        store_fail(add ? "add the operator" : "revoke the operator", err, a);
        goto out;
    }
    printf("%s operator %s\n", add ? "added" : "revoked", op.name);
    rc = EXIT_OK;
out:
    store_abort(&t);
    store_close(&s);
    return rc;
}

/* ---------------------------------------------------------------- commands */

static int cmd_register(const cmd_args_t *a)
{
    store_t *s = NULL;
    store_txn_t *t = NULL;
    rk_pubkey_t pub;
    org_t org, other;
    org_kind kind;
    char z85[RK_Z85_LEN + 1];
    store_err err;
    int rc;

    if (!org_kind_parse(a->kind, &kind)) {
        err_f("unknown kind '%s': use municipality, utility, agency or auditor", a->kind);
        return EXIT_USAGE;
    }
    if ((rc = load_pub(a, &pub)) != EXIT_OK)
        return rc;
    if ((rc = open_store(a, true, &s)) != EXIT_OK)
        return rc;
    if ((err = store_begin(s, true, &t)) != STORE_OK) {
        rc = store_fail("begin a transaction", err, a);
        goto out;
    }
    if ((rc = act_as_operator(a, t, NULL)) != EXIT_OK)
        goto out;
    rc = EXIT_ERR;
    err = store_org_get(t, a->org, &other);
    if (err == STORE_OK) {
        err_f("organization '%s' is already registered (%s, %s); to replace its key use "
              "'renkei-ctl rekey %s --pub FILE.pub'", a->org, org_kind_name(other.kind),
              org_status_name(other.status), a->org);
        goto out;
    }
    if (err != STORE_ENOTFOUND) {
        rc = store_fail("read the organizations", err, a);
        goto out;
    }
    err = store_org_by_curve(t, pub.curve_pk, &other);
    if (err == STORE_OK) {
        err_f("the key in %s is already registered to '%s': every organization needs its own key "
              "pair ('renkei-keygen %s')", a->pub, other.id, a->org);
        goto out;
    }
    if (err != STORE_ENOTFOUND) {
        rc = store_fail("read the organizations", err, a);
        goto out;
    }
    memset(&org, 0, sizeof org);
    snprintf(org.id, sizeof org.id, "%s", a->org);
    org.kind = kind;
    org.status = ORG_ACTIVE;
    memcpy(org.sign_pk, pub.sign_pk, RK_KEY_LEN);
    memcpy(org.curve_pk, pub.curve_pk, RK_KEY_LEN);
    org.created_ms = org.updated_ms = rk_wall_ms();
    if ((err = store_org_add(t, &org)) != STORE_OK) {
        rc = store_fail("register the organization", err, a);
        goto out;
    }
    /* the routing log records the change in the same transaction */
    if ((err = store_log_org_event(t, RK_EV_ORG_REGISTERED, &org, org.created_ms)) != STORE_OK) {
        rc = store_fail("record the registration on the routing log", err, a);
        goto out;
    }
    err = store_commit(&t);
    if (err != STORE_OK) {
        rc = store_fail("register the organization", err, a);
        goto out;
    }
    fmt_curve(org.curve_pk, z85);
    printf("registered %s (%s), key %.16s\n", org.id, org_kind_name(org.kind), z85);
    rc = EXIT_OK;
out:
    store_abort(&t);
    store_close(&s);
    return rc;
}

typedef struct org_list {
    org_t *items;
    size_t n, cap;
    bool nomem;
} org_list_t;

static int collect_org(const org_t *org, void *ctx)
{
    org_list_t *l = ctx;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        org_t *items = realloc(l->items, cap * sizeof *items);
        if (items == NULL) {
            l->nomem = true;
            return 1;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = *org;
    return 0;
}

static int cmd_list(const cmd_args_t *a)
{
    store_t *s = NULL;
    store_txn_t *t = NULL;
    org_list_t l = {NULL, 0, 0, false};
    char z85[RK_Z85_LEN + 1], when[32];
    int width = 2, rc = EXIT_ERR;
    store_err err;

    if ((rc = open_store(a, false, &s)) != EXIT_OK)
        return rc;
    /* NOLINTNEXTLINE(clang-analyzer-deadcode.DeadStores): the failure default for any path that does not set rc */
    rc = EXIT_ERR;
    if ((err = store_begin(s, false, &t)) != STORE_OK) {
        rc = store_fail("begin a transaction", err, a);
        goto out;
    }
    err = store_org_list(t, collect_org, &l);
    if (err == STORE_OK && l.nomem)
        err = STORE_ENOMEM;
    if (err != STORE_OK) {
        rc = store_fail("list the organizations", err, a);
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        int n = (int)strlen(l.items[i].id);
        if (n > width)
            width = n;
    }
    printf("%-*s  %-12s  %-9s  %-16s  %s\n", width, "ID", "KIND", "STATUS", "KEY", "CREATED");
    for (size_t i = 0; i < l.n; i++) {
        const org_t *o = &l.items[i];
        fmt_curve(o->curve_pk, z85);
        fmt_time(o->created_ms, when);
        printf("%-*s  %-12s  %-9s  %-16.16s  %s\n", width, o->id, org_kind_name(o->kind),
               org_status_name(o->status), z85, when);
    }
    if (l.n == 0)
        fprintf(stderr, PROG ": no organizations are registered yet; add one with "
                        "'renkei-ctl register ORG --kind KIND --pub ORG.pub'\n");
    rc = EXIT_OK;
out:
    free(l.items);
    store_abort(&t);
    store_close(&s);
    return rc;
}

/* Opens the store, begins a transaction and reads a->org into *o.
 * EXIT_OK with *s and *t open; otherwise the failure is reported and
 * nothing is left open. */
static int open_org(const cmd_args_t *a, bool write, store_t **s, store_txn_t **t, org_t *o)
{
    store_err err;
    int rc;

    if ((rc = open_store(a, false, s)) != EXIT_OK)
        return rc;
    if ((err = store_begin(*s, write, t)) != STORE_OK)
        rc = store_fail("begin a transaction", err, a);
    else if ((err = store_org_get(*t, a->org, o)) == STORE_ENOTFOUND)
        rc = not_registered(a->org);
    else if (err != STORE_OK)
        rc = store_fail("read the organization", err, a);
    else if (!write || (rc = act_as_operator(a, *t, NULL)) == EXIT_OK)
        return EXIT_OK;
    store_abort(t);
    store_close(s);
    return rc;
}

/* What waits at the hub for org, as the store has it.  Whether org is
 * connected is known to the running hub only (its --metrics). */
static int show_queue(store_txn_t *t, const char *org)
{
    uint64_t count = 0, oldest = 0, now = rk_wall_ms();
    char since[32];
    store_err err = store_queue_depth(t, org, &count, &oldest);

    if (err != STORE_OK) {
        fprintf(stderr, PROG ": cannot read the queue of '%s': %s\n", org, store_strerror(err));
        return EXIT_ERR;
    }
    if (count == 0) {
        printf("queue:   empty\n");
    } else {
        fmt_time(oldest, since);
        printf("queue:   %llu waiting (messages and notices); the oldest since %s (%llu s)\n",
               (unsigned long long)count, since,
               (unsigned long long)(now > oldest ? (now - oldest) / 1000 : 0));
    }
    printf("connection: known to the running hub only; see its --metrics (renkei_hub_org_connected)\n");
    return EXIT_OK;
}

static int cmd_show(const cmd_args_t *a)
{
    store_t *s = NULL;
    store_txn_t *t = NULL;
    char z85[RK_Z85_LEN + 1], b64[sodium_base64_ENCODED_LEN(RK_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
    char created[32], updated[32];
    org_t o;
    int rc;

    if ((rc = open_org(a, false, &s, &t, &o)) != EXIT_OK)
        return rc;
    fmt_curve(o.curve_pk, z85);
    sodium_bin2base64(b64, sizeof b64, o.sign_pk, RK_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    fmt_time(o.created_ms, created);
    fmt_time(o.updated_ms, updated);
    printf("id:      %s\n"
           "kind:    %s\n"
           "status:  %s\n"
           "sign:    %s\n"
           "curve:   %s\n"
           "created: %s\n"
           "updated: %s\n",
           o.id, org_kind_name(o.kind), org_status_name(o.status), b64, z85, created, updated);
    if (o.prev_until_ms != 0) {
        char until[32];
        fmt_curve(o.prev_curve_pk, z85);
        fmt_time(o.prev_until_ms, until);
        printf("previous: %.16s %s %s\n", z85,
               org_prev_active(&o, rk_wall_ms()) ? "admitted until" : "no longer admitted since", until);
    }
    rc = show_queue(t, o.id);
    store_abort(&t);
    store_close(&s);
    return rc;
}

/* suspend / reactivate */
static int cmd_status(const cmd_args_t *a, org_status want)
{
    store_t *s = NULL;
    store_txn_t *t = NULL;
    org_t o;
    store_err err;
    int rc;

    if ((rc = open_org(a, true, &s, &t, &o)) != EXIT_OK)
        return rc;
    /* NOLINTNEXTLINE(clang-analyzer-deadcode.DeadStores): the failure default for any path that does not set rc */
    rc = EXIT_ERR;
    if (o.status == want) {
        fprintf(stderr, PROG ": '%s' is already %s; nothing changed\n", o.id, org_status_name(want));
        rc = EXIT_OK;
        goto out;
    }
    o.status = want;
    o.updated_ms = rk_wall_ms();
    err = store_org_update(t, &o);
    if (err == STORE_OK)
        err = store_log_org_event(t, want == ORG_SUSPENDED ? RK_EV_ORG_SUSPENDED : RK_EV_ORG_REACTIVATED, &o,
                                  o.updated_ms);
    if (err == STORE_OK)
        err = store_commit(&t);
    if (err != STORE_OK) {
        rc = store_fail(want == ORG_SUSPENDED ? "suspend the organization" : "reactivate the organization",
                        err, a);
        goto out;
    }
    if (want == ORG_SUSPENDED)
        printf("suspended %s: the hub refuses its key and closes its open connections until 'renkei-ctl "
               "reactivate %s'\n",
               o.id, o.id);
    else
        printf("reactivated %s: the hub admits its key again\n", o.id);
    rc = EXIT_OK;
out:
    store_abort(&t);
    store_close(&s);
    return rc;
}

static int cmd_rekey(const cmd_args_t *a)
{
    store_t *s = NULL;
    store_txn_t *t = NULL;
    rk_pubkey_t pub;
    org_t o, other;
    char z85[RK_Z85_LEN + 1];
    store_err err;
    int rc;

    if ((rc = load_pub(a, &pub)) != EXIT_OK)
        return rc;
    if ((rc = open_org(a, true, &s, &t, &o)) != EXIT_OK)
        return rc;
    rc = EXIT_ERR;
    if (sodium_memcmp(o.curve_pk, pub.curve_pk, RK_KEY_LEN) == 0) {
        fprintf(stderr, PROG ": %s already holds %s's current key; nothing changed (ask %s for its "
                        "new .pub)\n", a->pub, o.id, o.id);
        rc = EXIT_OK;
        goto out;
    }
    err = store_org_by_curve(t, pub.curve_pk, &other);
    if (err == STORE_OK) {
        err_f("the key in %s is already registered to '%s': every organization needs its own key "
              "pair", a->pub, other.id);
        goto out;
    }
    if (err != STORE_ENOTFOUND) {
        rc = store_fail("read the organizations", err, a);
        goto out;
    }
    o.updated_ms = rk_wall_ms();
    if (a->overlap_ms > 0) {
        /* The key it holds now stays admitted for the overlap (a previous
         * key kept from an earlier rekey is dropped: one overlap at a time). */
        memcpy(o.prev_sign_pk, o.sign_pk, RK_KEY_LEN);
        memcpy(o.prev_curve_pk, o.curve_pk, RK_KEY_LEN);
        o.prev_until_ms = o.updated_ms + a->overlap_ms;
    } else {
        memset(o.prev_sign_pk, 0, RK_KEY_LEN);
        memset(o.prev_curve_pk, 0, RK_KEY_LEN);
        o.prev_until_ms = 0;
    }
    memcpy(o.sign_pk, pub.sign_pk, RK_KEY_LEN);
    memcpy(o.curve_pk, pub.curve_pk, RK_KEY_LEN);
    err = store_org_update(t, &o);
    if (err == STORE_OK)
        err = store_log_org_event(t, RK_EV_ORG_KEY_CHANGED, &o, o.updated_ms);
    if (err == STORE_OK)
        err = store_commit(&t);
    if (err != STORE_OK) {
        rc = store_fail("replace the key", err, a);
        goto out;
    }
    fmt_curve(o.curve_pk, z85);
    if (a->overlap_ms > 0) {
        char until[32];
        fmt_time(o.prev_until_ms, until);
        printf("rekeyed %s: new key %.16s; senders now encrypt to it; the old key is still admitted until "
               "%s, "
               "then its open connections are closed\n",
               o.id, z85, until);
    } else {
        printf("rekeyed %s: new key %.16s; the old key can no longer connect, and its open connections are "
               "closed\n",
               o.id, z85);
    }
    rc = EXIT_OK;
out:
    store_abort(&t);
    store_close(&s);
    return rc;
}

/* -------------------------------------------------------------- catalogue */

/* Reads a whole file ("-": standard input) into a NUL-terminated buffer. */
static char *read_text(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL) {
        err_f("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t got;
        if (cap - n < 4096) {
            char *q = cap > RK_CATALOGUE_MAX ? NULL : realloc(buf, cap ? cap * 2 : 65536);
            if (q == NULL) {
                err_f("%s is too large for a catalogue", path);
                free(buf);
                buf = NULL;
                break;
            }
            buf = q;
            cap = cap ? cap * 2 : 65536;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                err_f("cannot read %s: %s", path, strerror(errno));
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

typedef struct sections {
    cat_section_t *s;
    size_t n, cap;
} sections_t;

static bool collect(cat_section_t *s, void *ctx, char *why, size_t why_len)
{
    sections_t *l = ctx;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        cat_section_t *q = realloc(l->s, cap * sizeof *q);
        if (q == NULL) {
            snprintf(why, why_len, "out of memory");
            return false;
        }
        l->s = q;
        l->cap = cap;
    }
    l->s[l->n++] = *s;
    memset(s, 0, sizeof *s); /* moved */
    return true;
}

static void sections_free(sections_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        cat_section_clear(&l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

/* Parses the file at path into l; EXIT_OK or prints why. */
static int read_sections(const char *path, sections_t *l)
{
    char why[512] = "", *text;
    size_t len = 0;
    bool ok;

    if ((text = read_text(path, &len)) == NULL)
        return EXIT_ERR;
    ok = cat_parse(text, len, collect, l, why, sizeof why);
    free(text);
    if (!ok) {
        err_f("%s: %s; nothing was changed", strcmp(path, "-") == 0 ? "standard input" : path, why);
        sections_free(l);
        return EXIT_ERR;
    }
    return EXIT_OK;
}

/* Whether the store holds a section with this key. */
static store_err section_stored(store_txn_t *t, const cat_section_t *sec, bool *stored)
{
    char key[STORE_CAT_KEY_MAX + 1], *text = NULL;
    size_t len = 0;
    store_err err;

    cat_section_key(sec, key, sizeof key);
    err = store_cat_get(t, key, &text, &len);
    free(text);
    *stored = err == STORE_OK;
    return err == STORE_ENOTFOUND ? STORE_OK : err;
}

static void print_report(const cat_change_report_t *r, bool dry)
{
    printf("%s%zu added, %zu changed, %zu removed, %zu unchanged%s\n", dry ? "would be: " : "", r->added,
           r->changed, r->removed, r->unchanged,
           dry ? " (--dry-run: nothing was written)" : "; the hub routes under it from its next loop turn");
}

/* A change of the stored catalogue: load (replace_all), add, change, remove. */
static int catalogue_write(const cmd_args_t *a, const sections_t *l, const char *const *del, size_t n_del,
                           bool replace_all, int must_exist)
{
    store_t *s = NULL;
    store_txn_t *t = NULL;
    cat_change_report_t rep;
    char why[512] = "";
    store_err err;
    int rc = EXIT_ERR;

    if ((rc = open_store(a, false, &s)) != EXIT_OK)
        return rc;
    rc = EXIT_ERR;
    if ((err = store_begin(s, true, &t)) != STORE_OK) {
        store_fail("change the catalogue", err, a);
        goto out;
    }
    if (!a->dry_run && act_as_operator(a, t, NULL) != EXIT_OK)
        goto out;
    for (size_t i = 0; must_exist >= 0 && i < l->n; i++) {
        bool stored;
        char key[STORE_CAT_KEY_MAX + 1];
        if ((err = section_stored(t, &l->s[i], &stored)) != STORE_OK) {
            store_fail("read the catalogue", err, a);
            goto out;
        }
        if (stored != (must_exist == 1)) {
            cat_section_key(&l->s[i], key, sizeof key);
            err_f(stored ? "the catalogue already has [%s]: use 'catalogue change' to replace it; nothing "
                           "was changed"
                         : "the catalogue has no [%s]: use 'catalogue add' for a new section; nothing was "
                           "changed",
                  key);
            goto out;
        }
    }
    err = catalogue_change(t, l->s, l->n, del, n_del, replace_all, rk_wall_ms(), &rep, why, sizeof why);
    if (err == STORE_EINVAL || err == STORE_ENOTFOUND) {
        err_f("%s; nothing was changed", why);
        goto out;
    }
    if (err != STORE_OK) {
        store_fail("change the catalogue", err, a);
        goto out;
    }
    for (size_t i = 0; i < l->n; i++) {
        org_t o;
        if (l->s[i].kind == CAT_GRANT && store_org_get(t, l->s[i].u.grant.recipient, &o) == STORE_ENOTFOUND)
            fprintf(stderr, PROG ": note: %s is not registered (yet); its grant of %s applies once it is\n",
                    l->s[i].u.grant.recipient, l->s[i].u.grant.procedure);
    }
    if (a->dry_run) {
        print_report(&rep, true);
        rc = EXIT_OK;
        goto out; /* aborted below: nothing written */
    }
    if ((err = store_commit(&t)) != STORE_OK) {
        store_fail("change the catalogue", err, a);
        goto out;
    }
    print_report(&rep, false);
    rc = EXIT_OK;
out:
    store_abort(&t);
    store_close(&s);
    return rc;
}

static int catalogue_read(const cmd_args_t *a, bool list)
{
    store_t *s = NULL;
    store_txn_t *t = NULL;
    catalogue_t *cat = NULL;
    char *text = NULL, why[512] = "";
    size_t len = 0;
    store_err err;
    int rc;

    if ((rc = open_store(a, false, &s)) != EXIT_OK)
        return rc;
    rc = EXIT_ERR;
    if ((err = store_begin(s, false, &t)) != STORE_OK) {
        store_fail("read the catalogue", err, a);
        goto out;
    }
    if (!list) {
        FILE *f;
        bool written;
        if ((err = catalogue_export(t, &text, &len)) != STORE_OK) {
            store_fail("read the catalogue", err, a);
            goto out;
        }
        if ((f = a->out != NULL ? fopen(a->out, "w") : stdout) == NULL) {
            err_f("cannot write %s: %s", a->out, strerror(errno));
            goto out;
        }
        written = fwrite(text, 1, len, f) == len;
        if (f != stdout)
            written = fclose(f) == 0 && written;
        else
            written = fflush(f) == 0 && written;
        if (!written) {
            err_f("cannot write %s: %s", a->out != NULL ? a->out : "standard output", strerror(errno));
            goto out;
        }
        rc = EXIT_OK;
        goto out;
    }
    if ((err = catalogue_load(t, &cat, why, sizeof why)) != STORE_OK) {
        err_f("cannot read the catalogue: %s", why[0] ? why : store_strerror(err));
        goto out;
    }
    printf("%-32s  %-5s  %-24s  %-24s  %-24s  %-7s  %-4s  %s\n", "PROCEDURE", "ROUTE", "SENDERS",
           "RECIPIENTS", "ANSWER", "ACCESS", "TTL", "TITLE");
    for (size_t i = 0; i < catalogue_procedures(cat); i++) {
        const cat_procedure_t *p = catalogue_procedure_at(cat, i);
        char snd[256], rcp[256], ans[80], ttl[24];
        cat_selectors_print(&p->senders, snd, sizeof snd);
        cat_selectors_print(&p->recipients, rcp, sizeof rcp);
        if (p->follows[0] != '\0')
            snprintf(ans, sizeof ans, "follows %s", p->follows);
        else
            snprintf(ans, sizeof ans, "%s", p->local ? "-" : p->replied ? "replied" : "none");
        if (p->local)
            snprintf(ttl, sizeof ttl, "-");
        else if (p->ttl_ms % 86400000u == 0)
            snprintf(ttl, sizeof ttl, "%llud", (unsigned long long)(p->ttl_ms / 86400000u));
        else
            snprintf(ttl, sizeof ttl, "%llus", (unsigned long long)(p->ttl_ms / 1000u));
        printf("%-32s  %-5s  %-24s  %-24s  %-24s  %-7s  %-4s  %s\n", p->name, p->local ? "local" : "hub",
               p->local ? "-" : snd, p->local ? "-" : rcp, ans,
               p->local     ? "-"
               : p->granted ? "granted"
                            : "open",
               ttl, p->title);
    }
    {
        uint64_t gen = 0;
        if (store_cat_generation(t, &gen) == STORE_OK && gen == 0)
            printf(
                "(no catalogue yet: renkei-hub installs the shipped one at its first start, or load one)\n");
        else
            printf("(groups and grants: 'renkei-ctl catalogue export')\n");
    }
    rc = EXIT_OK;
out:
    free(text);
    catalogue_free(&cat);
    store_abort(&t);
    store_close(&s);
    return rc;
}

static int cmd_catalogue(const cmd_args_t *a)
{
    sections_t l = {NULL, 0, 0};
    int rc;

    if (a->action == NULL) /* prepare() sets it for this command */
        return EXIT_USAGE;
    if (strcmp(a->action, "list") == 0 || strcmp(a->action, "export") == 0)
        return catalogue_read(a, strcmp(a->action, "list") == 0);
    if (strcmp(a->action, "remove") == 0)
        return catalogue_write(a, &l, (const char *const *)a->args, (size_t)a->nargs, false, -1);
    /* load, add, change: sections from a file or standard input */
    if ((rc = read_sections(a->nargs > 0 ? a->args[0] : "-", &l)) != EXIT_OK)
        return rc;
    rc = catalogue_write(a, &l, NULL, 0, strcmp(a->action, "load") == 0,
                         strcmp(a->action, "add") == 0      ? 0
                         : strcmp(a->action, "change") == 0 ? 1
                                                            : -1);
    sections_free(&l);
    return rc;
}

/* ------------------------------------------------------------ master-rekey */

typedef struct rekey_ui {
    uint64_t last_ms;  /* when the last progress line was printed */
    unsigned phase;    /* of the last line; 0: none yet */
    unsigned pause_ms; /* RENKEI_RESEAL_PAUSE_MS: tests stop the command between batches */
} rekey_ui_t;

/* One line per phase start and end, and at most one a second between:
 * whole lines, for a terminal and a log alike. */
static void rekey_progress(const reseal_progress_t *p, void *ctx)
{
    rekey_ui_t *ui = ctx;
    uint64_t now = rk_mono_ms();

    if (p->phase != ui->phase || p->phase_done || p->resumed || now - ui->last_ms >= 1000) {
        fprintf(stderr, PROG ": master-rekey: %sphase %u/%u %s: %llu/%llu rows%s\n",
                p->resumed ? "resuming, " : "", p->phase, RESEAL_PHASES, p->table,
                (unsigned long long)p->done, (unsigned long long)p->total, p->phase_done ? ", done" : "");
        fflush(stderr);
        ui->last_ms = now;
        ui->phase = p->phase;
    }
    if (ui->pause_ms > 0)
        usleep(ui->pause_ms * 1000u);
}

/* Checks --operator-key against the operators in the store (which may be
 * half re-sealed: those tables need no master key). */
static int rekey_operator(const cmd_args_t *a)
{
    char path[4096], why[512] = "";
    struct stat st;
    store_t *s = NULL;
    store_txn_t *t = NULL;
    store_err err;
    int rc;

    if ((size_t)snprintf(path, sizeof path, "%s/data.mdb", a->data) >= sizeof path || stat(path, &st) != 0) {
        err_f("%s holds no hub data (no data.mdb): check -d or RENKEI_HUB_DATA", a->data);
        return EXIT_ERR;
    }
    if ((err = store_open_resealing(a->data, 0, &s, why, sizeof why)) != STORE_OK) {
        err_f("%s", why[0] ? why : store_strerror(err));
        return EXIT_ERR;
    }
    if ((err = store_begin(s, false, &t)) != STORE_OK) {
        store_close(&s);
        return store_fail("begin a transaction", err, a);
    }
    rc = act_as_operator(a, t, NULL);
    store_abort(&t);
    store_close(&s);
    return rc;
}

static int cmd_master_rekey(const cmd_args_t *a)
{
    uint8_t *old_key = NULL, *new_key = NULL;
    char why[1024] = "";
    const char *pause = getenv("RENKEI_RESEAL_PAUSE_MS");
    rekey_ui_t ui = {0, 0, pause != NULL ? (unsigned)strtoul(pause, NULL, 10) : 0};
    reseal_opts_t o;
    reseal_outcome outcome = RESEAL_STOPPED;
    store_err err;
    int rc;

    if ((rc = rekey_operator(a)) != EXIT_OK)
        return rc;
    if (rk_master_load(a->master_key, &old_key, why, sizeof why) != RK_KEYS_OK ||
        rk_master_load(a->new_master_key, &new_key, why, sizeof why) != RK_KEYS_OK) {
        err_f("%s", why);
        rc = EXIT_ERR;
        goto out;
    }
    memset(&o, 0, sizeof o);
    o.batch = a->batch;
    o.map_size = a->map_size;
    o.now_ms = rk_wall_ms();
    o.operator_name = operator_id != NULL ? operator_id->pub.name : NULL;
    o.operator_sk = operator_id != NULL ? operator_id->sign_sk : NULL;
    o.progress = rekey_progress;
    o.ctx = &ui;
    err = reseal_run(a->data, old_key, new_key, &o, &outcome, why, sizeof why);
    if (err != STORE_OK) {
        if (err == STORE_EFULL)
            err_f("%s: the data file is full (LMDB map size reached); the re-seal needs room for a second "
                  "copy of the code tables and log_person: run the same command again with a larger "
                  "--map-size (what was done is kept), and start renkei-hub with that --map-size afterwards",
                  a->data);
        else
            err_f("%s", why[0] ? why : store_strerror(err));
        rc = EXIT_ERR;
        goto out;
    }
    if (outcome == RESEAL_ALREADY)
        printf("%s is already sealed under the new master key: nothing to do\n", a->data);
    else
        printf("%s is now sealed under the new master key %s: start renkei-hub with --master-key %s; the old "
               "key is refused from now on\n",
               a->data, a->new_master_key, a->new_master_key);
    rc = EXIT_OK;
out:
    rk_master_destroy(&old_key);
    rk_master_destroy(&new_key);
    return rc;
}

/* ------------------------------------------------------------ command line */

enum {
    OPT_DATA,
    OPT_HELP,
    OPT_KIND,
    OPT_PUB,
    OPT_OUT,
    OPT_DRY_RUN,
    OPT_OPERATOR_KEY,
    OPT_MASTER_KEY,
    OPT_NEW_MASTER_KEY,
    OPT_BATCH,
    OPT_MAP_SIZE,
    OPT_OVERLAP,
    N_OPTS
};

static const rk_cli_opt_t options[N_OPTS] = {
    [OPT_DATA] = {"data", 'd', "DIR", "the hub's data directory (renkei-hub --data)", "RENKEI_HUB_DATA", -1,
                  0},
    [OPT_HELP] = {"help", 'h', NULL, "show this help (after a command: that command's)", NULL, -1, 0},
    [OPT_KIND] = {"kind", 0, "KIND", "municipality, utility, agency or auditor", NULL, -1, 0},
    [OPT_PUB] = {"pub", 0, "FILE.pub", "the organization's public key (made by 'renkei-keygen ORG')", NULL,
                 -1, 0},
    [OPT_OUT] = {"out", 'o', "FILE",
                 "catalogue export: write the catalogue to FILE instead of standard output", NULL, -1, 0},
    [OPT_OPERATOR_KEY] = {"operator-key", 0, "FILE",
                          "the secret key of the operator making the change (renkei-keygen NAME); every\n"
                          "change is signed with it on the routing log",
                          "RENKEI_OPERATOR_KEY", -1, 0},
    [OPT_OVERLAP] = {"overlap", 0, "DURATION",
                     "rekey: keep admitting the old key for DURATION (e.g. 30m, 2h, 7d) while the\n"
                     "organization's agent moves to the new one; without it the old key is cut at once",
                     NULL, -1, 0},
    [OPT_DRY_RUN] = {"dry-run", 0, NULL,
                     "catalogue load/add/change/remove: say what would change, write nothing", NULL, -1, 0},
    [OPT_MASTER_KEY] = {"master-key", 'm', "FILE",
                        "master-rekey: the master key the store is sealed with now", NULL, -1, 0},
    [OPT_NEW_MASTER_KEY] = {"new-master-key", 0, "FILE",
                            "master-rekey: the master key to seal it with (renkei-keygen --master-key)", NULL,
                            -1, 0},
    [OPT_BATCH] = {"batch", 0, "ROWS", "master-rekey: rows re-sealed per transaction (default 1000)", NULL,
                   -1, 0},
    [OPT_MAP_SIZE] = {"map-size", 0, "BYTES",
                      "master-rekey: the most the LMDB store may take (renkei-hub --map-size; default 4 GiB)",
                      NULL, -1, 0},
};
static const int globals[] = {OPT_DATA, OPT_OPERATOR_KEY, OPT_HELP, -1};
static const int operator_opts[] = {OPT_PUB, -1};
static const int catalogue_opts[] = {OPT_OUT, OPT_DRY_RUN, -1};
static const int register_opts[] = {OPT_KIND, OPT_PUB, -1};
static const int rekey_opts[] = {OPT_PUB, OPT_OVERLAP, -1};
static const int master_rekey_opts[] = {OPT_MASTER_KEY, OPT_NEW_MASTER_KEY, OPT_BATCH, OPT_MAP_SIZE, -1};

/* Checks what every command needs and fills c.  0 if fine, else the exit status. */
static int prepare(const rk_cli_args_t *a, cmd_args_t *c)
{
    bool wants_org = strcmp(a->cmd->name, "list") != 0 && strcmp(a->cmd->name, "catalogue") != 0 &&
                     strcmp(a->cmd->name, "operator") != 0 && strcmp(a->cmd->name, "master-rekey") != 0 &&
                     strcmp(a->cmd->name, "backup") != 0;

    memset(c, 0, sizeof *c);
    c->command = a->cmd->name;
    c->data = a->value[OPT_DATA];
    c->kind = a->value[OPT_KIND];
    c->pub = a->value[OPT_PUB];
    c->out = a->value[OPT_OUT];
    c->dry_run = a->count[OPT_DRY_RUN] > 0;
    c->operator_key = a->value[OPT_OPERATOR_KEY];
    if (a->value[OPT_OVERLAP] != NULL &&
        !rk_cli_parse_duration(a->value[OPT_OVERLAP], OVERLAP_MAX_MS, &c->overlap_ms))
        return rk_cli_usage_error(a,
                                  "--overlap wants a whole number with a unit (s, m, h or d) of at most 30d, "
                                  "e.g. --overlap 2h, not '%s'",
                                  a->value[OPT_OVERLAP]);
    c->master_key = a->value[OPT_MASTER_KEY];
    c->new_master_key = a->value[OPT_NEW_MASTER_KEY];
    if (strcmp(a->cmd->name, "master-rekey") == 0) {
        const char *b = a->value[OPT_BATCH];
        char *end = NULL;
        unsigned long n = 0;
        if (c->master_key == NULL || c->new_master_key == NULL)
            return rk_cli_usage_error(a, "'master-rekey' needs --master-key OLD.key and --new-master-key "
                                         "NEW.key");
        if (b != NULL) {
            errno = 0;
            n = strtoul(b, &end, 10);
            if (errno != 0 || end == b || *end != '\0' || n == 0 || n > 1000000 || b[0] == '-')
                return rk_cli_usage_error(a, "--batch takes a number of rows from 1 to 1000000, not '%s'", b);
        }
        c->batch = (size_t)n;
        if ((b = a->value[OPT_MAP_SIZE]) != NULL) {
            unsigned long long m;
            errno = 0;
            m = strtoull(b, &end, 10);
            if (errno != 0 || end == b || *end != '\0' || b[0] == '-' || m < ((unsigned long long)1 << 20) ||
                m > SIZE_MAX)
                return rk_cli_usage_error(a, "--map-size takes a number of bytes, at least 1048576, not '%s'",
                                          b);
            c->map_size = (size_t)m;
        }
    }
    if (strcmp(a->cmd->name, "operator") == 0) {
        bool list = a->npos > 0 && strcmp(a->pos[0], "list") == 0;
        if (a->npos == 0 || (!list && strcmp(a->pos[0], "add") != 0 && strcmp(a->pos[0], "revoke") != 0))
            return rk_cli_usage_error(a, "'operator' needs an action: add NAME --pub NAME.pub, revoke NAME "
                                         "or list");
        c->action = a->pos[0];
        c->args = a->pos + 1;
        c->nargs = a->npos - 1;
        if (c->nargs != (list ? 0 : 1))
            return rk_cli_usage_error(a,
                                      list ? "'operator list' takes no argument"
                                           : "'operator %s' needs exactly one operator name",
                                      c->action);
        if (!list && !rk_valid_name(c->args[0]))
            return rk_cli_usage_error(a,
                                      "'%s' is not a valid operator name: use 1-64 of a-z 0-9 . _ -, "
                                      "starting with a letter",
                                      c->args[0]);
        if ((strcmp(c->action, "add") == 0) != (c->pub != NULL))
            return rk_cli_usage_error(a, c->pub == NULL ? "'operator add' needs --pub NAME.pub"
                                                        : "--pub belongs to 'operator add'");
    } else if (strcmp(a->cmd->name, "catalogue") == 0) {
        static const char *const actions[] = {"list", "export", "load", "add", "change", "remove"};
        size_t i;
        if (a->npos == 0)
            return rk_cli_usage_error(a, "'catalogue' needs an action: list, export, load, add, change or "
                                         "remove");
        for (i = 0; i < sizeof actions / sizeof actions[0] && strcmp(actions[i], a->pos[0]) != 0; i++)
            ;
        if (i == sizeof actions / sizeof actions[0])
            return rk_cli_usage_error(
                a, "unknown catalogue action '%s': list, export, load, add, change or remove", a->pos[0]);
        c->action = a->pos[0];
        c->args = a->pos + 1;
        c->nargs = a->npos - 1;
        if (i < 2 && c->nargs > 0)
            return rk_cli_usage_error(a, "'catalogue %s' takes no argument", c->action);
        if (i >= 2 && i <= 4 && c->nargs > 1)
            return rk_cli_usage_error(a, "'catalogue %s' takes one file (or none: standard input)",
                                      c->action);
        if (i == 5 && c->nargs == 0)
            return rk_cli_usage_error(a, "'catalogue remove' needs the sections to remove, e.g. "
                                         "\"grant transport.a vehicle.tax.address\"");
        if (c->out != NULL && i != 1)
            return rk_cli_usage_error(a, "--out belongs to 'catalogue export'");
        if (c->dry_run && i < 2)
            return rk_cli_usage_error(a,
                                      "--dry-run belongs to 'catalogue load', 'add', 'change' and 'remove'");
    } else if (strcmp(a->cmd->name, "backup") == 0) {
        if (a->npos != 1)
            return rk_cli_usage_error(a,
                                      "'backup' needs one new (or empty) directory to write the copy into, "
                                      "e.g. 'renkei-ctl backup /var/backups/renkei/2026-12-03'");
        c->args = a->pos;
        c->nargs = 1;
    } else if (a->npos > (wants_org ? 1 : 0))
        return rk_cli_usage_error(a, "unexpected argument '%s' for '%s'", a->pos[wants_org ? 1 : 0],
                                  c->command);
    if (wants_org && a->npos == 0)
        return rk_cli_usage_error(a, "'%s' needs the organization's id, e.g. 'renkei-ctl %s city.x'",
                                  c->command, c->command);
    c->org = wants_org ? a->pos[0] : NULL;
    if (c->org != NULL && !rk_valid_name(c->org))
        return rk_cli_usage_error(a,
                                  "'%s' is not a valid organization id: use 1-64 of a-z 0-9 . _ -, starting "
                                  "with a letter",
                                  c->org);
    if (rk_cli_accepts(a->prog, a->cmd, OPT_KIND) && c->kind == NULL)
        return rk_cli_usage_error(a, "'register' needs --kind municipality|utility|auditor");
    if (rk_cli_accepts(a->prog, a->cmd, OPT_PUB) && c->pub == NULL && c->action == NULL)
        return rk_cli_usage_error(
            a, "'%s' needs --pub FILE.pub (the organization's public key from renkei-keygen)", c->command);
    if (c->data == NULL || *c->data == '\0')
        return rk_cli_usage_error(a, "no data directory: give -d DIR (the hub's --data directory) or set "
                                     "RENKEI_HUB_DATA");
    if (sodium_init() < 0) {
        err_f("libsodium failed to initialize");
        return EXIT_ERR;
    }
    return 0;
}

static int run_register(const rk_cli_args_t *a, void *ctx)
{
    cmd_args_t c;
    int rc = prepare(a, &c);
    (void)ctx;
    return rc != 0 ? rc : cmd_register(&c);
}

static int run_list(const rk_cli_args_t *a, void *ctx)
{
    cmd_args_t c;
    int rc = prepare(a, &c);
    (void)ctx;
    return rc != 0 ? rc : cmd_list(&c);
}

static int run_show(const rk_cli_args_t *a, void *ctx)
{
    cmd_args_t c;
    int rc = prepare(a, &c);
    (void)ctx;
    return rc != 0 ? rc : cmd_show(&c);
}

static int run_suspend(const rk_cli_args_t *a, void *ctx)
{
    cmd_args_t c;
    int rc = prepare(a, &c);
    (void)ctx;
    return rc != 0 ? rc : cmd_status(&c, ORG_SUSPENDED);
}

static int run_reactivate(const rk_cli_args_t *a, void *ctx)
{
    cmd_args_t c;
    int rc = prepare(a, &c);
    (void)ctx;
    return rc != 0 ? rc : cmd_status(&c, ORG_ACTIVE);
}

static int run_rekey(const rk_cli_args_t *a, void *ctx)
{
    cmd_args_t c;
    int rc = prepare(a, &c);
    (void)ctx;
    return rc != 0 ? rc : cmd_rekey(&c);
}

static int run_operator(const rk_cli_args_t *a, void *ctx)
{
    cmd_args_t c;
    int rc = prepare(a, &c);
    (void)ctx;
    return rc != 0 ? rc : cmd_operator(&c);
}

static int run_catalogue(const rk_cli_args_t *a, void *ctx)
{
    cmd_args_t c;
    int rc = prepare(a, &c);
    (void)ctx;
    return rc != 0 ? rc : cmd_catalogue(&c);
}

static int run_master_rekey(const rk_cli_args_t *a, void *ctx)
{
    cmd_args_t c;
    int rc = prepare(a, &c);
    (void)ctx;
    return rc != 0 ? rc : cmd_master_rekey(&c);
}

static int cmd_backup(const cmd_args_t *a)
{
    store_t *s = NULL;
    char why[600] = "", when[32];
    uint64_t now = rk_wall_ms(), size = 0;
    store_err err;
    int rc;

    if ((rc = open_store(a, false, &s)) != EXIT_OK)
        return rc;
    err = store_backup(s, a->args[0], now, &size, why, sizeof why);
    store_close(&s);
    if (err != STORE_OK) {
        err_f("backup failed: %s", why[0] ? why : store_strerror(err));
        return EXIT_ERR;
    }
    fmt_time(now, when);
    printf("backed up %s into %s at %s: %" PRIu64 " routing-log entries; the master key is not in it (keep "
           "it apart); a hub started on this copy records the restore on the routing log\n",
           a->data, a->args[0], when, size);
    return EXIT_OK;
}

static int run_backup(const rk_cli_args_t *a, void *ctx)
{
    cmd_args_t c;
    int rc = prepare(a, &c);
    (void)ctx;
    return rc != 0 ? rc : cmd_backup(&c);
}

static const rk_cli_cmd_t commands[] = {
    {"register", "ORG --kind KIND --pub FILE.pub", "register ORG with the key in FILE.pub",
     "KIND is municipality, utility, agency or auditor.\n", register_opts, run_register},
    {"list", "", "all organizations: id, kind, status, key, created (UTC)", NULL, NULL, run_list},
    {"backup", "DIR", "a consistent, compacted copy of the hub's store in DIR, while the hub runs",
     "DIR must be new or empty.  The copy holds no master key.  To restore: README.md,\n"
     "\"Back up and restore\".\n",
     NULL, run_backup},
    {"show", "ORG", "one organization in full, and what waits for it at the hub", NULL, NULL, run_show},
    {"suspend", "ORG", "the hub refuses ORG's key until it is reactivated", NULL, NULL, run_suspend},
    {"reactivate", "ORG", "the hub admits a suspended ORG's key again", NULL, NULL, run_reactivate},
    {"rekey", "ORG --pub FILE.pub [--overlap DURATION]",
     "replace ORG's key; the old key is cut at once, or after the overlap", NULL, rekey_opts, run_rekey},
    {"catalogue", "ACTION [FILE | SECTION...] [--out FILE] [--dry-run]",
     "the procedure catalogue: list, export, load, add, change, remove",
     "  list                   one line per procedure type\n"
     "  export [--out FILE]    the whole catalogue as text (what 'load' reads)\n"
     "  load [FILE]            make FILE (default: standard input) the whole catalogue:\n"
     "                         sections not in it are removed\n"
     "  add [FILE]             add the sections in FILE; none may exist yet\n"
     "  change [FILE]          replace the sections in FILE; each must exist\n"
     "  remove SECTION...      remove sections by key, e.g. \"procedure vehicle.tax.address\",\n"
     "                         \"group pref.a\", \"grant transport.a vehicle.tax.address\"\n"
     "Every change is checked as a whole first and written in one transaction; each section\n"
     "that really changes is an entry on the routing log.  The format: README.md, \"The\n"
     "procedure catalogue\".\n",
     catalogue_opts, run_catalogue},
    {"operator", "ACTION [NAME] [--pub NAME.pub]", "the operators who may change this hub: add, revoke, list",
     "  add NAME --pub NAME.pub   register an operator's key (made with 'renkei-keygen NAME');\n"
     "                            the first operator signs its own registration with\n"
     "                            --operator-key NAME.key\n"
     "  revoke NAME               the operator's key is no longer accepted\n"
     "  list                      every operator, its status and key\n"
     "Once an operator is registered, every change made with renkei-ctl needs an active\n"
     "operator's --operator-key (or RENKEI_OPERATOR_KEY) and is signed with it on the routing\n"
     "log; before that, changes are logged without an operator.\n",
     operator_opts, run_operator},
    {"master-rekey", "--master-key OLD.key --new-master-key NEW.key [--batch ROWS] [--map-size BYTES]",
     "re-seal the store under a new master key (stop renkei-hub first)",
     "Rewrites every row sealed under the master key (the ID-code table, the queues, open\n"
     "requests, the private per-person log index) under the new one, in transactions of\n"
     "--batch rows, with a progress line per phase on standard error.  No link code, ID code,\n"
     "queued message or routing-log entry changes; the routing log gets one entry saying the\n"
     "store was re-sealed (signed with --operator-key).  Interrupted (even by kill -9), run\n"
     "the same command again: it goes on where it stopped; until it is finished renkei-hub\n"
     "refuses the data directory.  Afterwards only the new key opens it.\n"
     "Refused while renkei-hub (or any other process) has the data directory open.\n",
     master_rekey_opts, run_master_rekey},
};

static const rk_cli_prog_t program = {
    .name = PROG,
    .about =
        "Manages the organizations registered at a Renkei hub and its procedure catalogue, in the hub's\n"
        "data directory.\n"
        "Works while the hub runs: the hub sees changes without a restart.  Needs no master key, except\n"
        "master-rekey, which changes it while the hub is stopped.",
    .opts = options,
    .n_opts = N_OPTS,
    .globals = globals,
    .cmds = commands,
    .n_cmds = sizeof commands / sizeof commands[0],
    .epilog = "Exit status: 0 done (or nothing to change), 1 error, 2 usage error.\n",
};

int main(int argc, char **argv)
{
    return rk_cli_main(&program, argc, argv, NULL);
}
