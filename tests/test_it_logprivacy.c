/*
 * test_it_logprivacy - the routing log after the move, through the real
 * programs: an auditor (audit.z) reads the whole log over its own CURVE
 * connection and the test checks what the log promises.
 *
 *   - it holds exactly the events of the move, counted per kind;
 *   - no entry carries a link code (raw or hex) or the person's number;
 *   - entries of different exchanges share no identifier: nothing groups
 *     the stop city.x asked of power with the start town.y asked of power;
 *   - who may do what: an auditor cannot send or enroll, only auditors read
 *     the log, only municipalities disclose, and only persons they know;
 *   - city.x's disclosure of the resident lists exactly the resident's
 *     accepted and first-contact entries, nothing about another person;
 *   - renkei-agent receipt proves a message's entry against a signed
 *     checkpoint, and refuses a checkpoint of another log name;
 *   - after stop requests for several residents, each with a request of its
 *     own length, no field of the log (the payload size included) tells
 *     which entries are about one resident better than chance: every size
 *     on the log, and on the hub's verbose log, is a size class.
 *
 * The tests run in order on one move (a group fixture).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "keys.h"
#include "rawclient.h"
#include "wire.h"

#define AUDITOR "audit.z"
#define OTHER_PERSON "TEST-0002-OTHER"
#define NCODES (2 + IT_NUTIL)
#define MAX_ENTRIES 1000
#define RUN 16 /* an identifier's length: msg ids and link codes are 16 bytes */
#define NPERSONS 8
#define NSIZED (NPERSONS * IT_NUTIL)

typedef struct entry {
    uint64_t index;
    uint8_t *bytes;
    size_t len;
    rk_log_entry_t e;
} entry_t;

typedef struct fixture {
    it_env_t *env;
    it_move_t move;
    const char *code_hex[NCODES]; /* every org's own code for the person */
} fixture_t;

static fixture_t fx;

/* ------------------------------------------------------------------ helpers */

static rawclient_t *connect_as(const char *org)
{
    char key[4096], hubpub[4096];
    rawclient_t *rc;
    snprintf(key, sizeof key, "%s/keys/%s.key", it_dir(fx.env), org);
    snprintf(hubpub, sizeof hubpub, "%s/keys/hub.pub", it_dir(fx.env));
    rc = rawclient_new(it_hub_endpoint(fx.env), hubpub, key);
    if (rc == NULL)
        return NULL;
    if (rawclient_hello(rc, false, NULL, 10000) != 0) {
        rawclient_destroy(&rc);
        return NULL;
    }
    return rc;
}

static void entries_free(entry_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i].bytes);
    free(list);
}

/* The whole log as the auditor reads it (LogRead, 1000 at a time). */
static entry_t *read_log(rawclient_t *rc, size_t *n)
{
    entry_t *list = calloc(MAX_ENTRIES, sizeof *list);
    uint64_t start = 0, size = 1;
    static uint64_t req = 100;

    *n = 0;
    assert_non_null(list);
    while (start < size) {
        rk_client_frame_t f;
        rk_hub_frame_t h;
        memset(&f, 0, sizeof f);
        f.kind = RK_CF_LOG_READ;
        f.u.log_read.req_id = ++req;
        f.u.log_read.start = start;
        f.u.log_read.count = RK_LOG_READ_MAX;
        assert_int_equal(rawclient_send_frame(rc, &f), 0);
        assert_int_equal(rawclient_recv_kind(rc, RK_HF_LOG, &h, 10000), 0);
        assert_int_equal(h.u.log.req_id, req);
        if (h.u.log.status != RK_ST_ACCEPTED)
            fail_msg("the auditor's LogRead was refused: %s (%s)", rk_status_name(h.u.log.status), h.u.log.detail);
        size = h.u.log.tree_size;
        if (h.u.log.n == 0 && start < size)
            fail_msg("LogRead from %llu returned nothing of a log of %llu", (unsigned long long)start,
                     (unsigned long long)size);
        for (size_t i = 0; i < h.u.log.n; i++) {
            entry_t *e = &list[*n];
            char why[256] = "";
            assert_true(*n < MAX_ENTRIES);
            assert_int_equal(h.u.log.index[i], start + i);
            e->index = h.u.log.index[i];
            e->bytes = h.u.log.entry[i];
            e->len = h.u.log.entry_len[i];
            h.u.log.entry[i] = NULL;
            if (rk_log_entry_decode(e->bytes, e->len, &e->e, why, sizeof why) != RK_WIRE_OK)
                fail_msg("entry %llu does not decode: %s", (unsigned long long)e->index, why);
            (*n)++;
        }
        start += h.u.log.n;
        rk_hub_frame_clear(&h);
    }
    return list;
}

static size_t count_event(const entry_t *list, size_t n, rk_log_event ev)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += list[i].e.event == ev;
    return c;
}

/* Reads the log until it holds `delivered` DELIVERED entries (acks are
 * taken in by the hub a moment after the commands end), 15 s at most. */
static entry_t *read_log_settled(rawclient_t *rc, size_t delivered, size_t *n)
{
    for (int i = 0;; i++) {
        entry_t *list = read_log(rc, n);
        if (count_event(list, *n, RK_EV_DELIVERED) >= delivered || i >= 150)
            return list;
        entries_free(list, *n);
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
    }
}

static bool has_bytes(const uint8_t *hay, size_t len, const void *needle, size_t nlen)
{
    for (size_t i = 0; i + nlen <= len; i++)
        if (memcmp(hay + i, needle, nlen) == 0)
            return true;
    return false;
}

/* Overwrites every occurrence of s (an org id or procedure type: public
 * names, the same in every entry) with fill. */
static void mask(uint8_t *b, size_t len, const char *s, uint8_t fill)
{
    size_t n = strlen(s);
    if (n == 0)
        return;
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(b + i, s, n) == 0)
            memset(b + i, fill, n);
}

/* The exchange an entry belongs to: the request's msg id (for a reply's
 * entries, found through its ACCEPTED entry's reply_to), or NULL for
 * entries without a message id. */
static const uint8_t *exchange_of(const entry_t *list, size_t n, const rk_log_entry_t *e)
{
    if (e->has_reply_to)
        return e->reply_to;
    if (!e->has_msg_id)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (list[i].e.has_msg_id && list[i].e.has_reply_to &&
            memcmp(list[i].e.msg_id, e->msg_id, RK_MSGID_LEN) == 0)
            return list[i].e.reply_to;
    return e->msg_id;
}

static const entry_t *find_msg(const entry_t *list, size_t n, rk_log_event ev, const char *msg_hex)
{
    uint8_t id[RK_MSGID_LEN];
    if (!rk_code_from_text(msg_hex, id))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (list[i].e.event == ev && list[i].e.has_msg_id && memcmp(list[i].e.msg_id, id, RK_MSGID_LEN) == 0)
            return &list[i];
    return NULL;
}

/* ------------------------------------------------------------------ fixture */

static int setup(void **state)
{
    char why[2048] = "";
    memset(&fx, 0, sizeof fx);
    *state = &fx;
    fx.env = it_env_new();
    if (fx.env == NULL)
        return -1;
    /* The auditor is registered with the others, before the hub starts. */
    if (it_org(fx.env, AUDITOR, "auditor") != 0) {
        fprintf(stderr, "setup: registering the auditor failed\n");
        return -1;
    }
    if (it_move_setup(fx.env, &fx.move, why, sizeof why) != 0 ||
        it_move_run(fx.env, &fx.move, why, sizeof why) != 0) {
        fprintf(stderr, "setup: the move did not complete: %s\n", why);
        return -1;
    }
    fx.code_hex[0] = fx.move.code_x;
    fx.code_hex[1] = fx.move.code_y;
    for (size_t i = 0; i < IT_NUTIL; i++)
        fx.code_hex[2 + i] = fx.move.seen_stop[i].code;
    for (size_t i = 0; i < NCODES; i++)
        if (strlen(fx.code_hex[i]) != RK_CODE_TEXT_LEN) {
            fprintf(stderr, "setup: a code of the move was not learned\n");
            return -1;
        }
    for (size_t i = 0; i < IT_NUTIL; i++)
        if (strlen(fx.move.stop[i].msg_id) != 32 || strlen(fx.move.start[i].msg_id) != 32) {
            fprintf(stderr, "setup: a message id of the move was not printed\n");
            return -1;
        }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    it_move_clear(&fx.move);
    it_env_destroy(&fx.env);
    return 0;
}

/* ------------------------------------------------------------------ tests */

/* The move, step by step:
 *   6 organizations registered (city.x, town.y, power, gas, water, audit.z);
 *   city.x enrolls the resident: 1 enrollment;
 *   3 stops city.x -> utility: 3 accepted, 3 first contacts, 3 delivered;
 *   3 replies utility -> city.x: 3 accepted, 3 delivered;
 *   the notice city.x -> town.y: 1 accepted, 1 first contact, 1 delivered;
 *   3 starts town.y -> utility (known already): 3 accepted, 3 codes found, 3 delivered;
 *   3 replies utility -> town.y: 3 accepted, 3 delivered.
 * Nothing refused, expired, suspended or re-keyed. */
static void test_log_holds_the_move(void **state)
{
    rawclient_t *rc = connect_as(AUDITOR);
    entry_t *list;
    size_t n = 0, cat;
    (void)state;

    assert_non_null(rc);
    list = read_log_settled(rc, 13, &n);
    assert_int_equal(count_event(list, n, RK_EV_ORG_REGISTERED), 6);
    assert_int_equal(count_event(list, n, RK_EV_ENROLLED), 1);
    assert_int_equal(count_event(list, n, RK_EV_ACCEPTED), 13);
    assert_int_equal(count_event(list, n, RK_EV_FIRST_CONTACT), 4);
    /* the starts reach utilities that know the resident: the entry a first
     * contact would have taken says so, and the log grew the same */
    assert_int_equal(count_event(list, n, RK_EV_CODE_FOUND), 3);
    assert_int_equal(count_event(list, n, RK_EV_DELIVERED), 13);
    /* the hub's first start installed the default procedure catalogue */
    cat = count_event(list, n, RK_EV_CATALOGUE_SET);
    assert_true(cat >= 7);
    assert_int_equal(n, 6 + 1 + 13 + 4 + 3 + 13 + cat);

    /* Each stop and start is on the log as sent: from, to, type, msg id. */
    for (size_t i = 0; i < IT_NUTIL; i++) {
        const entry_t *stop = find_msg(list, n, RK_EV_ACCEPTED, fx.move.stop[i].msg_id);
        const entry_t *start = find_msg(list, n, RK_EV_ACCEPTED, fx.move.start[i].msg_id);
        assert_non_null(stop);
        assert_non_null(start);
        assert_string_equal(stop->e.from, "city.x");
        assert_string_equal(stop->e.to, it_utilities[i]);
        assert_string_equal(stop->e.type, "utility.supply.stop");
        assert_string_equal(start->e.from, "town.y");
        assert_string_equal(start->e.to, it_utilities[i]);
        assert_string_equal(start->e.type, "utility.supply.start");
        assert_non_null(find_msg(list, n, RK_EV_DELIVERED, fx.move.stop[i].msg_id));
        assert_non_null(find_msg(list, n, RK_EV_DELIVERED, fx.move.start[i].msg_id));
    }
    entries_free(list, n);
    rawclient_destroy(&rc);
}

static void test_log_carries_no_code_and_no_number(void **state)
{
    rawclient_t *rc = connect_as(AUDITOR);
    entry_t *list;
    size_t n = 0;
    (void)state;

    assert_non_null(rc);
    list = read_log(rc, &n);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        const entry_t *e = &list[i];
        if (has_bytes(e->bytes, e->len, IT_PERSON, strlen(IT_PERSON)))
            fail_msg("entry %llu holds the person's number", (unsigned long long)e->index);
        for (size_t c = 0; c < NCODES; c++) {
            char upper[RK_CODE_TEXT_LEN + 1];
            uint8_t raw[RK_CODE_LEN];
            assert_true(rk_code_from_text(fx.code_hex[c], raw));
            for (size_t k = 0; k <= RK_CODE_TEXT_LEN; k++)
                upper[k] = (char)(fx.code_hex[c][k] >= 'a' && fx.code_hex[c][k] <= 'f' ? fx.code_hex[c][k] - 32
                                                                                      : fx.code_hex[c][k]);
            if (has_bytes(e->bytes, e->len, raw, RK_CODE_LEN) ||
                has_bytes(e->bytes, e->len, fx.code_hex[c], RK_CODE_TEXT_LEN) ||
                has_bytes(e->bytes, e->len, upper, RK_CODE_TEXT_LEN))
                fail_msg("entry %llu holds one of the move's link codes", (unsigned long long)e->index);
        }
    }
    entries_free(list, n);
    rawclient_destroy(&rc);
}

static void test_entries_cannot_be_grouped_by_person(void **state)
{
    rawclient_t *rc = connect_as(AUDITOR);
    entry_t *list;
    uint8_t **masked;
    size_t n = 0, pairs = 0;
    (void)state;

    assert_non_null(rc);
    list = read_log(rc, &n);

    /* The stop city.x asked of power and the start town.y asked of power
     * are about the same resident; their entries share the recipient and
     * the procedure family, and nothing that identifies. */
    for (size_t u = 0; u < IT_NUTIL; u++) {
        const entry_t *stop = find_msg(list, n, RK_EV_ACCEPTED, fx.move.stop[u].msg_id);
        const entry_t *start = find_msg(list, n, RK_EV_ACCEPTED, fx.move.start[u].msg_id);
        assert_non_null(stop);
        assert_non_null(start);
        assert_memory_not_equal(stop->e.msg_id, start->e.msg_id, RK_MSGID_LEN);
        assert_int_not_equal(stop->e.seq, start->e.seq);
        assert_string_not_equal(stop->e.from, start->e.from);
        assert_string_equal(stop->e.to, start->e.to);
        assert_false(stop->e.has_reply_to);
        assert_false(start->e.has_reply_to);
        assert_string_equal(stop->e.kind, "");
        assert_string_equal(start->e.kind, "");
    }

    /* No 16-byte run (the length of a msg id or a link code) is shared by
     * entries of different exchanges, once the public names (org ids and
     * procedure types) are masked, each entry with its own fill byte. */
    masked = calloc(n, sizeof *masked);
    assert_non_null(masked);
    for (size_t i = 0; i < n; i++) {
        uint8_t fill = (uint8_t)(0x80u + (i % 0x7fu));
        masked[i] = malloc(list[i].len ? list[i].len : 1);
        assert_non_null(masked[i]);
        memcpy(masked[i], list[i].bytes, list[i].len);
        mask(masked[i], list[i].len, list[i].e.type, fill);
        mask(masked[i], list[i].len, list[i].e.from, fill);
        mask(masked[i], list[i].len, list[i].e.to, fill);
        mask(masked[i], list[i].len, list[i].e.kind, fill);
        mask(masked[i], list[i].len, list[i].e.section, fill);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            const uint8_t *xi = exchange_of(list, n, &list[i].e), *xj = exchange_of(list, n, &list[j].e);
            if (xi != NULL && xj != NULL && memcmp(xi, xj, RK_MSGID_LEN) == 0)
                continue; /* one exchange: a request, its reply, their deliveries */
            pairs++;
            for (size_t k = 0; k + RUN <= list[i].len; k++)
                if (has_bytes(masked[j], list[j].len, masked[i] + k, RUN))
                    fail_msg("entries %llu (%s) and %llu (%s) of different exchanges share 16 bytes",
                             (unsigned long long)list[i].index, rk_log_event_name(list[i].e.event),
                             (unsigned long long)list[j].index, rk_log_event_name(list[j].e.event));
        }
    }
    assert_true(pairs > 100);
    for (size_t i = 0; i < n; i++)
        free(masked[i]);
    free(masked);
    entries_free(list, n);
    rawclient_destroy(&rc);
}

static void test_who_may_do_what(void **state)
{
    rawclient_t *aud = connect_as(AUDITOR), *city = connect_as("city.x"), *power = connect_as("power");
    const rk_identity_t *power_id;
    rk_client_frame_t f;
    rk_hub_frame_t h;
    rk_result_t res;
    uint8_t who[RK_CODE_LEN], msg_id[RK_MSGID_LEN], code[RK_CODE_LEN];
    uint8_t *what;
    size_t what_len = 0;
    (void)state;

    assert_non_null(aud);
    assert_non_null(city);
    assert_non_null(power);

    /* An auditor's key cannot send: the hub refuses, whatever the WHO. */
    power_id = rawclient_identity(power);
    randombytes_buf(who, sizeof who);
    what = rawclient_box(aud, power_id->pub.curve_pk, "{\"x\":1}", 7, &what_len);
    assert_non_null(what);
    assert_int_equal(rawclient_send_envelope(aud, AUDITOR, "power", "utility.supply.stop", NULL, who, what,
                                             what_len, NULL, false, msg_id),
                     0);
    free(what);
    assert_int_equal(rawclient_wait_result(aud, msg_id, &res, 10000), 0);
    assert_int_equal(res.status, RK_ST_NOT_PERMITTED);
    /* ... nor enroll a resident. */
    assert_int_not_equal(rawclient_enroll(aud, code, 10000), 0);

    /* Only auditors read the log. */
    for (int k = 0; k < 2; k++) {
        rawclient_t *rc = k == 0 ? city : power;
        memset(&f, 0, sizeof f);
        f.kind = RK_CF_LOG_READ;
        f.u.log_read.req_id = 7;
        f.u.log_read.start = 0;
        f.u.log_read.count = 10;
        assert_int_equal(rawclient_send_frame(rc, &f), 0);
        assert_int_equal(rawclient_recv_kind(rc, RK_HF_LOG, &h, 10000), 0);
        assert_int_equal(h.u.log.status, RK_ST_FORBIDDEN);
        assert_int_equal(h.u.log.n, 0);
        rk_hub_frame_clear(&h);
    }

    /* A municipality discloses only persons it knows by its own code. */
    memset(&f, 0, sizeof f);
    f.kind = RK_CF_DISCLOSE;
    f.u.disclose.req_id = 8;
    randombytes_buf(f.u.disclose.code, RK_CODE_LEN);
    assert_int_equal(rawclient_send_frame(city, &f), 0);
    assert_int_equal(rawclient_recv_kind(city, RK_HF_LOG, &h, 10000), 0);
    assert_int_equal(h.u.log.status, RK_ST_NOT_FOUND);
    assert_int_equal(h.u.log.n, 0);
    rk_hub_frame_clear(&h);
    /* town.y's code for the resident is not city.x's to use. */
    assert_true(rk_code_from_text(fx.move.code_y, f.u.disclose.code));
    assert_int_equal(rawclient_send_frame(city, &f), 0);
    assert_int_equal(rawclient_recv_kind(city, RK_HF_LOG, &h, 10000), 0);
    assert_int_equal(h.u.log.status, RK_ST_NOT_FOUND);
    assert_int_equal(h.u.log.n, 0);
    rk_hub_frame_clear(&h);
    /* A utility (with its own, valid code) and an auditor may not disclose. */
    assert_true(rk_code_from_text(fx.move.seen_stop[0].code, f.u.disclose.code));
    assert_int_equal(rawclient_send_frame(power, &f), 0);
    assert_int_equal(rawclient_recv_kind(power, RK_HF_LOG, &h, 10000), 0);
    assert_int_equal(h.u.log.status, RK_ST_FORBIDDEN);
    assert_int_equal(h.u.log.n, 0);
    rk_hub_frame_clear(&h);
    assert_int_equal(rawclient_send_frame(aud, &f), 0);
    assert_int_equal(rawclient_recv_kind(aud, RK_HF_LOG, &h, 10000), 0);
    assert_int_equal(h.u.log.status, RK_ST_FORBIDDEN);
    rk_hub_frame_clear(&h);
    sodium_memzero(&f, sizeof f);

    /* The CLI says so too, without the number or the code. */
    {
        it_run_t r;
        int st = it_agent(fx.env, "power", IT_PERSON "\n", &r, "disclose", NULL);
        assert_int_not_equal(st, 0);
        assert_int_not_equal(st, 2); /* refused by the hub, not a usage error */
        assert_null(strstr(r.err, IT_PERSON));
        assert_null(strstr(r.err, fx.move.seen_stop[0].code));
        it_run_clear(&r);
    }

    rawclient_destroy(&aud);
    rawclient_destroy(&city);
    rawclient_destroy(&power);
}

/* The INDEX column of a disclose table; returns the number of rows. */
static size_t table_indexes(const char *out, uint64_t *idx, size_t max)
{
    size_t n = 0;
    const char *line = out;
    while (line != NULL && *line != '\0') {
        unsigned long long v;
        int end = 0;
        /* "INDEX  TIME ...": the number, then the column gap (the closing
         * "N entries about this person" has a single space) */
        if (sscanf(line, "%llu%n", &v, &end) == 1 && line[end] == ' ' && line[end + 1] == ' ' && n < max)
            idx[n++] = v;
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return n;
}

/* What `org` is shown by `renkei-agent disclose` about the resident,
 * checked entry by entry against the auditor's full log: the resident's
 * entries (enrollment, accepted, delivered; never an entry about a link
 * code, never the other resident's), all of them if `whole` (the current
 * municipality), else only those naming org as sender or recipient.
 * Returns how many were shown. */
static size_t check_disclosure(const char *org, bool whole, const entry_t *list, size_t n, const entry_t *other)
{
    uint64_t shown[256], other_enrolled = 0;
    size_t rows, expected = 0;
    it_run_t r;
    int st;

    st = it_agent(fx.env, org, IT_PERSON "\n", &r, "disclose", NULL);
    if (st != 0)
        fail_msg("%s: disclose exited %d: %s", org, st, r.err);
    assert_null(strstr(r.out, IT_PERSON));
    assert_null(strstr(r.out, fx.move.code_x));
    assert_null(strstr(r.out, fx.move.code_y));
    assert_null(strstr(r.err, IT_PERSON));
    assert_non_null(strstr(r.out, "INDEX"));
    rows = table_indexes(r.out, shown, 256);
    for (size_t i = 0; i < n; i++)
        if (list[i].e.event == RK_EV_ENROLLED)
            other_enrolled = list[i].index;
    for (size_t i = 0; i < n; i++) {
        bool listed = false;
        const uint8_t *x = exchange_of(list, n, &list[i].e);
        rk_log_event ev = list[i].e.event;
        bool others = (x != NULL && memcmp(x, other->e.msg_id, RK_MSGID_LEN) == 0) ||
                      (ev == RK_EV_ENROLLED && list[i].index == other_enrolled);
        bool own = strcmp(list[i].e.from, org) == 0 || strcmp(list[i].e.to, org) == 0;
        bool about = (ev == RK_EV_ACCEPTED || ev == RK_EV_DELIVERED || ev == RK_EV_ENROLLED) && !others &&
                     (whole || own);
        for (size_t k = 0; k < rows; k++)
            listed = listed || shown[k] == list[i].index;
        if (about != listed)
            fail_msg("%s: entry %llu (%s %s -> %s) %s", org, (unsigned long long)list[i].index,
                     rk_log_event_name(list[i].e.event), list[i].e.from, list[i].e.to,
                     listed ? "is disclosed but is not for it to see" : "is for it to see but not disclosed");
        expected += about;
    }
    assert_int_equal(rows, expected);
    it_run_clear(&r);
    return rows;
}

/* The move case of disclosure.  city.x enrolled the resident and sent the
 * move-out notice to town.y: town.y is now the resident's current
 * municipality and sees the whole record (but no entry about link codes);
 * city.x, a former municipality, sees its own exchanges only, not
 * town.y's starts nor the utilities' replies to town.y. */
static void test_disclosure_lists_only_the_person(void **state)
{
    rawclient_t *aud = connect_as(AUDITOR);
    entry_t *list;
    it_run_t r;
    const entry_t *other;
    size_t n = 0;
    char other_msg[80] = "", other_file[PATH_MAX];
    const char *acc;
    (void)state;

    assert_non_null(aud);
    /* A second resident at city.x, and one message about them. */
    assert_int_equal(it_agent(fx.env, "city.x", OTHER_PERSON "\n", &r, "enroll", NULL), 0);
    it_run_clear(&r);
    assert_int_equal(it_person_file(fx.env, OTHER_PERSON, other_file, sizeof other_file), 0);
    assert_int_equal(it_agent(fx.env, "city.x", "{\"request\":\"stop\",\"date\":\"2025-05-01\"}", &r, "send", "--to",
                              "gas", "--type", "utility.supply.stop", "--person-file", other_file, "--no-wait", NULL),
                     0);
    acc = strstr(r.err, " msg ");
    assert_non_null(acc);
    sscanf(acc + 5, "%79s", other_msg);
    it_run_clear(&r);

    list = read_log(aud, &n);
    other = find_msg(list, n, RK_EV_ACCEPTED, other_msg);
    assert_non_null(other);

    /* city.x: enrollment, 3 stops and 3 replies, the notice: 1 + 7 + 7 */
    assert_int_equal(check_disclosure("city.x", false, list, n, other), 1 + 7 + 7);
    /* town.y: the whole move but the entries about codes: 1 + 13 + 13 */
    assert_int_equal(check_disclosure("town.y", true, list, n, other), 1 + 13 + 13);
    entries_free(list, n);
    rawclient_destroy(&aud);
}

static void test_receipt(void **state)
{
    char path[4096], *text;
    it_run_t r;
    int st;
    (void)state;

    snprintf(path, sizeof path, "%s/stop.receipt", it_dir(fx.env));
    /* city.x's stop to power: the entry comes with city.x's disclosure, and
     * its inclusion under the hub-signed checkpoint is checked. */
    st = it_agent(fx.env, "city.x", NULL, &r, "receipt", fx.move.stop[0].msg_id, "--out", path, NULL);
    if (st != 0)
        fail_msg("receipt exited %d: %s", st, r.err);
    assert_non_null(strstr(r.out, "inclusion   verified"));
    assert_non_null(strstr(r.out, "signature verified"));
    it_run_clear(&r);
    text = it_slurp(path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "inclusion verified\n"));
    {
        /* the log's name: "renkei-hub/" and the hub key's fingerprint */
        char line[64], why[256], origin[RK_LOG_ORIGIN_LEN];
        rk_pubkey_t pub;
        assert_int_equal(rk_pubkey_load(it_path(fx.env, "keys/hub.pub"), &pub, why, sizeof why), RK_KEYS_OK);
        rk_log_origin_default(pub.sign_pk, origin);
        snprintf(line, sizeof line, "\ncheckpoint\n%s\n", origin);
        assert_non_null(strstr(text, line));
    }
    assert_non_null(strstr(text, fx.move.stop[0].msg_id));
    assert_null(strstr(text, fx.move.code_x));
    free(text);

    /* A checkpoint is only taken from the log named as expected. */
    st = it_agent(fx.env, "city.x", NULL, &r, "--log-origin", "another-log", "receipt", fx.move.stop[0].msg_id, NULL);
    assert_int_equal(st, 7);
    assert_non_null(strstr(r.err, "does not verify"));
    it_run_clear(&r);

    /* A message the hub never accepted has no receipt. */
    st = it_agent(fx.env, "city.x", NULL, &r, "receipt", "00000000000000000000000000000000", NULL);
    assert_int_equal(st, 1);
    assert_non_null(strstr(r.err, "no message 00000000000000000000000000000000 in this agent's outbox"));
    it_run_clear(&r);
}

/* The size classes of proto/README.md ("Payload"), written out here
 * independently of the code: a power of two from 256 bytes to 4 MiB. */
static bool is_size_class(uint64_t size)
{
    return size >= 256 && size <= (4u << 20) && (size & (size - 1)) == 0;
}

/* The fields of a log entry, and whether a and b hold the same value in f. */
enum { F_TIME, F_EVENT, F_SEQ, F_FROM, F_TO, F_TYPE, F_MSG_ID, F_REPLY_TO, F_OUTCOME, F_SIZE, F_KIND, F_COUNT };
static const char *const field_names[F_COUNT] = {"time", "event", "seq", "from", "to", "type",
                                                 "msg_id", "reply_to", "outcome", "size", "kind"};

static bool same_field(const rk_log_entry_t *a, const rk_log_entry_t *b, int f)
{
    switch (f) {
    case F_TIME: return a->time_ms == b->time_ms;
    case F_EVENT: return a->event == b->event;
    case F_SEQ: return a->seq == b->seq;
    case F_FROM: return strcmp(a->from, b->from) == 0;
    case F_TO: return strcmp(a->to, b->to) == 0;
    case F_TYPE: return strcmp(a->type, b->type) == 0;
    case F_MSG_ID:
        return a->has_msg_id == b->has_msg_id && (!a->has_msg_id || memcmp(a->msg_id, b->msg_id, RK_MSGID_LEN) == 0);
    case F_REPLY_TO:
        return a->has_reply_to == b->has_reply_to &&
               (!a->has_reply_to || memcmp(a->reply_to, b->reply_to, RK_MSGID_LEN) == 0);
    case F_OUTCOME: return a->outcome == b->outcome;
    case F_SIZE: return a->size == b->size;
    default: return strcmp(a->kind, b->kind) == 0;
    }
}

/* Real traffic with payloads of varied lengths: NPERSONS residents enrolled
 * at city.x, each with a stop request of its own length (a longer or
 * shorter address, as real requests have) to every utility.  A log that
 * records exact payload sizes groups each resident's three requests by
 * size; padded to a size class, they all look alike.  For every field, the
 * pairs of entries that agree on it must be no more often about one
 * resident than pairs taken at random. */
static void test_no_field_groups_a_persons_entries(void **state)
{
    rawclient_t *aud;
    entry_t *list;
    const entry_t *sized[NSIZED];
    char msg[NSIZED][80];
    size_t n = 0, pairs = 0, same_person = 0;
    char *log, *next;
    size_t accepted_lines = 0;
    it_run_t r;
    (void)state;

    /* The hub again, now logging every routed message. */
    assert_int_equal(it_hub_stop(fx.env), 0);
    assert_int_equal(it_hub_restart(fx.env, (const char *const[]){"--verbose", NULL}), 0);

    for (int p = 0; p < NPERSONS; p++) {
        char number[32];
        snprintf(number, sizeof number, "TEST-01%02d-SIZE\n", p);
        if (it_agent(fx.env, "city.x", number, &r, "enroll", NULL) != 0)
            fail_msg("enroll exited %d: %s", r.status, r.err);
        it_run_clear(&r);
    }
    /* One utility after the other, the residents in turn: a resident's
     * requests are not next to each other in time.  The requests are 61 to
     * 187 bytes of JSON, resident p's always the same length. */
    for (size_t u = 0; u < IT_NUTIL; u++) {
        for (int p = 0; p < NPERSONS; p++) {
            char number[32], payload[512], address[256], person[PATH_MAX];
            const char *acc;
            size_t alen = 10 + 18 * (size_t)p; /* 10 .. 136 characters */
            snprintf(number, sizeof number, "TEST-01%02d-SIZE", p);
            memset(address, 'a' + p, alen);
            address[alen] = '\0';
            snprintf(payload, sizeof payload, "{\"request\":\"stop\",\"date\":\"2025-06-01\",\"address\":\"%s\"}",
                     address);
            assert_int_equal(it_person_file(fx.env, number, person, sizeof person), 0);
            if (it_agent(fx.env, "city.x", payload, &r, "send", "--to", it_utilities[u], "--type",
                         "utility.supply.stop", "--person-file", person, "--no-wait", NULL) != 0)
                fail_msg("send exited %d: %s", r.status, r.err);
            acc = strstr(r.err, " msg ");
            assert_non_null(acc);
            sscanf(acc + 5, "%79s", msg[p * IT_NUTIL + u]);
            it_run_clear(&r);
        }
    }

    aud = connect_as(AUDITOR);
    assert_non_null(aud);
    list = read_log(aud, &n);
    for (size_t i = 0; i < NSIZED; i++) {
        sized[i] = find_msg(list, n, RK_EV_ACCEPTED, msg[i]);
        assert_non_null(sized[i]);
    }

    /* Chance: of all pairs of these entries, how many are about one resident. */
    for (size_t i = 0; i < NSIZED; i++)
        for (size_t j = i + 1; j < NSIZED; j++) {
            pairs++;
            same_person += i / IT_NUTIL == j / IT_NUTIL;
        }
    for (int f = 0; f < F_COUNT; f++) {
        size_t agree = 0, agree_same = 0;
        for (size_t i = 0; i < NSIZED; i++)
            for (size_t j = i + 1; j < NSIZED; j++)
                if (same_field(&sized[i]->e, &sized[j]->e, f)) {
                    agree++;
                    agree_same += i / IT_NUTIL == j / IT_NUTIL;
                }
        /* agree_same / agree must not exceed same_person / pairs (with a
         * margin of a quarter for rounding: the rates are either equal or
         * far apart). */
        if (agree > 0 && 4 * agree_same * pairs > 5 * same_person * agree)
            fail_msg("the log's field '%s' groups one resident's entries: %zu of the %zu pairs that agree on it "
                     "are about one resident (%.0f %%), against %.0f %% of all pairs",
                     field_names[f], agree_same, agree, 100.0 * (double)agree_same / (double)agree,
                     100.0 * (double)same_person / (double)pairs);
    }

    /* Every payload size on the log is a size class (0: no payload). */
    for (size_t i = 0; i < n; i++) {
        const rk_log_entry_t *e = &list[i].e;
        if (e->event == RK_EV_ACCEPTED ? !is_size_class(e->size) : e->size != 0 && !is_size_class(e->size))
            fail_msg("entry %llu (%s) records a payload of %u bytes, which is not a size class",
                     (unsigned long long)list[i].index, rk_log_event_name(e->event), (unsigned)e->size);
    }

    /* The hub's verbose log names only the size class of what it accepted. */
    log = it_hub_log(fx.env);
    assert_non_null(log);
    for (char *line = log; line != NULL && *line != '\0'; line = next) {
        const char *paren;
        unsigned long size;
        if ((next = strchr(line, '\n')) != NULL)
            *next++ = '\0';
        if (strstr(line, "accepted seq ") == NULL)
            continue;
        /* "... (size class 256)": the number in the last parentheses */
        paren = strrchr(line, '(');
        assert_non_null(paren);
        paren += strcspn(paren, "0123456789");
        size = strtoul(paren, NULL, 10);
        if (!is_size_class(size))
            fail_msg("the hub's log records a payload of %lu bytes, which is not a size class: %s", size, line);
        accepted_lines++;
    }
    assert_true(accepted_lines >= NSIZED);
    free(log);
    entries_free(list, n);
    rawclient_destroy(&aud);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_holds_the_move),
        cmocka_unit_test(test_log_carries_no_code_and_no_number),
        cmocka_unit_test(test_entries_cannot_be_grouped_by_person),
        cmocka_unit_test(test_who_may_do_what),
        cmocka_unit_test(test_disclosure_lists_only_the_person),
        cmocka_unit_test(test_receipt),
        cmocka_unit_test(test_no_field_groups_a_persons_entries),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
