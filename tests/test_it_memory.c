/*
 * test_it_memory - after routing, the hub's memory holds no link code and no
 * envelope, and the hub cannot be made to dump it.
 *
 * A request and its reply go through the real renkei-hub over CURVE between
 * raw clients (rawclient.h), which know every code involved: city.x's code
 * it sent with (and received the reply under) and power's code the hub
 * issued at first contact (power received the request under it and replied
 * with it).  Once both deliveries are acknowledged, the test reads every
 * mapping of the hub process through /proc/PID/maps and /proc/PID/mem and
 * looks for either code (as bytes and as hex text) and for either
 * envelope's signature: none may be anywhere, freed heap included, nor in
 * the pages of the LMDB data file (which hold only sealed data).
 *
 * Reading another process's memory needs CAP_SYS_PTRACE, which root has:
 * the hub makes itself non-dumpable, so being its parent is not enough.  Where it
 * cannot be read the test says so and is skipped, never passed.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "rawclient.h"

#define CHUNK (1u << 20)
/* Larger readable mappings are address-space reservations, not memory the
 * hub wrote into: AddressSanitizer's shadow (terabytes) in its builds. */
#define REGION_MAX ((uint64_t)64 << 30)
#define MAX_NEEDLE RK_SIG_LEN
#define MAX_FOUND 16

typedef struct needle {
    const char *what;
    uint8_t bytes[MAX_NEEDLE > RK_CODE_TEXT_LEN ? MAX_NEEDLE : RK_CODE_TEXT_LEN];
    size_t len;
} needle_t;

typedef struct fixture {
    it_env_t *env;
    rawclient_t *cx; /* city.x, sending */
    rawclient_t *cr; /* city.x, receiving */
    rawclient_t *pw; /* power, receiving and replying */
    uint8_t code_x[RK_CODE_LEN];
    uint8_t code_p[RK_CODE_LEN];
    uint8_t sig_req[RK_SIG_LEN];
    uint8_t sig_reply[RK_SIG_LEN];
    rk_pubkey_t pub_city, pub_power;
} fixture_t;

static int setup(void **state)
{
    static fixture_t fx;

    memset(&fx, 0, sizeof fx);
    *state = &fx;
    if (sodium_init() < 0)
        return -1;
    fx.env = it_env_new();
    if (fx.env == NULL)
        return -1;
    if (it_org(fx.env, "city.x", "municipality") != 0 || it_org(fx.env, "power", "utility") != 0 ||
        it_pubkey(fx.env, "city.x", &fx.pub_city) != 0 || it_pubkey(fx.env, "power", &fx.pub_power) != 0)
        return -1;
    if (it_hub_start(fx.env, NULL) != 0)
        return -1;
    fx.cx = it_connect(fx.env, "city.x", false);
    fx.cr = it_connect(fx.env, "city.x", true);
    fx.pw = it_connect(fx.env, "power", true);
    if (fx.cx == NULL || fx.cr == NULL || fx.pw == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    if (fx == NULL)
        return 0;
    rawclient_destroy(&fx->cx);
    rawclient_destroy(&fx->cr);
    rawclient_destroy(&fx->pw);
    it_env_destroy(&fx->env);
    return 0;
}

/* Waits for a Deliver on rc (acknowledged by rawclient) and returns it. */
static void recv_deliver(rawclient_t *rc, rk_hub_frame_t *hf)
{
    assert_int_equal(rawclient_recv_kind(rc, RK_HF_DELIVER, hf, 5000), 0);
}

/* Waits for the DELIVERED notice of msg_id on rc (acknowledged by rawclient):
 * the hub has handled the recipient's acknowledgement. */
static void wait_delivered(rawclient_t *rc, const uint8_t msg_id[RK_MSGID_LEN])
{
    rk_hub_frame_t hf;
    for (;;) {
        assert_int_equal(rawclient_recv_kind(rc, RK_HF_NOTICE, &hf, 5000), 0);
        if (memcmp(hf.u.notice.msg_id, msg_id, RK_MSGID_LEN) == 0) {
            assert_int_equal(hf.u.notice.status, RK_ST_DELIVERED);
            rk_hub_frame_clear(&hf);
            return;
        }
        rk_hub_frame_clear(&hf);
    }
}

/* city.x enrolls a person and asks power to stop supply; power gets it
 * under a code of its own, replies, and the reply reaches city.x under
 * city.x's code.  Both deliveries are acknowledged and their DELIVERED
 * notices taken and acknowledged. */
static void route_request_and_reply(fixture_t *fx)
{
    static const char plain[] = "{\"request\":\"stop\",\"date\":\"2025-03-31\"}";
    static const char answer[] = "{\"result\":\"done\"}";
    uint8_t msg_id[RK_MSGID_LEN], reply_id[RK_MSGID_LEN], *what;
    size_t wlen = 0;
    rk_result_t res;
    rk_hub_frame_t hf;

    assert_int_equal(rawclient_enroll(fx->cx, fx->code_x, 5000), 0);

    what = rawclient_box(fx->cx, fx->pub_power.curve_pk, plain, sizeof plain - 1, &wlen);
    assert_non_null(what);
    assert_int_equal(rawclient_send_envelope(fx->cx, "city.x", "power", "utility.supply.stop", NULL,
                                             fx->code_x, what, wlen, NULL, false, msg_id),
                     0);
    free(what);
    assert_int_equal(rawclient_wait_result(fx->cx, msg_id, &res, 5000), 0);
    assert_int_equal(res.status, RK_ST_ACCEPTED);

    recv_deliver(fx->pw, &hf);
    assert_true(hf.u.deliver.first_contact);
    memcpy(fx->code_p, hf.u.deliver.envelope.who, RK_CODE_LEN);
    memcpy(fx->sig_req, hf.u.deliver.envelope.signature, RK_SIG_LEN);
    assert_memory_not_equal(fx->code_p, fx->code_x, RK_CODE_LEN);
    rk_hub_frame_clear(&hf);
    wait_delivered(fx->cr, msg_id);

    what = rawclient_box(fx->pw, fx->pub_city.curve_pk, answer, sizeof answer - 1, &wlen);
    assert_non_null(what);
    assert_int_equal(rawclient_send_envelope(fx->pw, "power", "city.x", "utility.supply.stop", msg_id,
                                             fx->code_p, what, wlen, NULL, false, reply_id),
                     0);
    free(what);
    assert_int_equal(rawclient_wait_result(fx->pw, reply_id, &res, 5000), 0);
    assert_int_equal(res.status, RK_ST_ACCEPTED);

    recv_deliver(fx->cr, &hf);
    assert_memory_equal(hf.u.deliver.envelope.who, fx->code_x, RK_CODE_LEN);
    memcpy(fx->sig_reply, hf.u.deliver.envelope.signature, RK_SIG_LEN);
    rk_hub_frame_clear(&hf);
    wait_delivered(fx->pw, reply_id);

    /* The notices' acknowledgements were sent last: one more round trip on
     * each connection, answered in order, shows the hub has handled them. */
    assert_int_equal(rawclient_hello(fx->cr, false, NULL, 5000), 0);
    assert_int_equal(rawclient_hello(fx->pw, false, NULL, 5000), 0);
    assert_int_equal(rawclient_hello(fx->cx, false, NULL, 5000), 0);
}

/* One readable mapping of /proc/PID/maps. */
typedef struct region {
    uint64_t start, end;
    char perms[5];
    char name[512];
} region_t;

static bool parse_region(const char *line, region_t *r)
{
    int name_at = 0;
    memset(r, 0, sizeof *r);
    if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %*s %*s %*s %n", &r->start, &r->end, r->perms, &name_at) < 3)
        return false;
    if (name_at > 0)
        snprintf(r->name, sizeof r->name, "%s", line + name_at);
    it_chomp(r->name);
    if (r->name[0] == '\0')
        snprintf(r->name, sizeof r->name, "anonymous");
    return true;
}

typedef struct scan {
    const needle_t *needles;
    size_t n_needles;
    char found[MAX_FOUND][700];
    size_t n_found;
    size_t regions, bytes, skipped;
} scan_t;

static void note_found(scan_t *s, const needle_t *nd, const region_t *r, uint64_t addr)
{
    if (s->n_found < MAX_FOUND)
        snprintf(s->found[s->n_found], sizeof s->found[0], "%s at %#" PRIx64 " in %s (%s, +%#" PRIx64 ")",
                 nd->what, addr, r->name, r->perms, addr - r->start);
    s->n_found++;
}

/* Reads one mapping in chunks that overlap by a needle's length less one,
 * so that nothing straddling two chunks is missed. */
static void scan_region(int mem, const region_t *r, uint8_t *buf, scan_t *s)
{
    const size_t overlap = MAX_NEEDLE - 1;
    uint64_t at = r->start; /* the next address to read */
    size_t kept = 0;        /* buf[0, kept) holds the bytes just below at */

    s->regions++;
    while (at < r->end) {
        size_t want = CHUNK, total;
        uint64_t base;
        ssize_t got;
        if (want > r->end - at)
            want = (size_t)(r->end - at);
        got = pread(mem, buf + kept, want, (off_t)at);
        if (got <= 0)
            return; /* guard pages, a file mapping past its end */
        s->bytes += (size_t)got;
        total = kept + (size_t)got;
        base = at - kept;
        for (size_t i = 0; i < s->n_needles; i++) {
            const needle_t *nd = &s->needles[i];
            const uint8_t *p = buf, *end = buf + total;
            while (p < end && (p = memmem(p, (size_t)(end - p), nd->bytes, nd->len)) != NULL) {
                /* a match wholly inside the kept bytes was counted before */
                if ((size_t)(p - buf) + nd->len > kept)
                    note_found(s, nd, r, base + (uint64_t)(p - buf));
                p++;
            }
        }
        at += (uint64_t)got;
        kept = total < overlap ? total : overlap;
        memmove(buf, buf + total - kept, kept);
    }
}

static void add_needle(needle_t *v, size_t *n, const char *what, const void *bytes, size_t len)
{
    v[*n].what = what;
    memcpy(v[*n].bytes, bytes, len);
    v[*n].len = len;
    (*n)++;
}

/* Opens /proc/PID/mem, or skips the test saying why. */
static int open_mem_or_skip(pid_t pid)
{
    char path[64];
    int fd;
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr,
                "SKIPPED: cannot open %s (%s): reading the memory of a non-dumpable process needs "
                "CAP_SYS_PTRACE (root has it); nothing about what the hub's memory holds was checked\n",
                path, strerror(errno));
        skip();
    }
    return fd;
}

static void test_no_code_or_envelope_in_memory(void **state)
{
    fixture_t *fx = *state;
    pid_t pid = it_hub_pid(fx->env);
    needle_t needles[6];
    size_t n = 0;
    char hex_x[RK_CODE_TEXT_LEN + 1], hex_p[RK_CODE_TEXT_LEN + 1], path[64], line[1024];
    scan_t s;
    uint8_t *buf;
    FILE *maps;
    int mem;

    route_request_and_reply(fx);

    rk_code_to_text(fx->code_x, hex_x);
    rk_code_to_text(fx->code_p, hex_p);
    add_needle(needles, &n, "city.x's link code", fx->code_x, RK_CODE_LEN);
    add_needle(needles, &n, "power's link code", fx->code_p, RK_CODE_LEN);
    add_needle(needles, &n, "city.x's link code as hex", hex_x, RK_CODE_TEXT_LEN);
    add_needle(needles, &n, "power's link code as hex", hex_p, RK_CODE_TEXT_LEN);
    add_needle(needles, &n, "the request envelope's signature", fx->sig_req, RK_SIG_LEN);
    add_needle(needles, &n, "the reply envelope's signature", fx->sig_reply, RK_SIG_LEN);

    assert_true(pid > 0);
    mem = open_mem_or_skip(pid);
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    maps = fopen(path, "r");
    assert_non_null(maps);
    buf = malloc(CHUNK + MAX_NEEDLE);
    assert_non_null(buf);
    memset(&s, 0, sizeof s);
    s.needles = needles;
    s.n_needles = n;
    while (fgets(line, sizeof line, maps) != NULL) {
        region_t r;
        if (!parse_region(line, &r) || r.perms[0] != 'r' || strcmp(r.name, "[vvar]") == 0 ||
            strcmp(r.name, "[vsyscall]") == 0)
            continue;
        if (r.end - r.start > REGION_MAX) {
            s.skipped++;
            continue;
        }
        scan_region(mem, &r, buf, &s);
    }
    fclose(maps);
    close(mem);
    free(buf);
    if (s.skipped > 0)
        fprintf(stderr, "note: %zu mappings larger than 64 GiB were not read (address-space reservations)\n",
                s.skipped);

    /* The scan read something: the heap at least, or it proves nothing. */
    if (s.bytes < 4096)
        fail_msg("read only %zu bytes of the hub's memory: the scan proves nothing", s.bytes);
    for (size_t i = 0; i < s.n_found && i < MAX_FOUND; i++)
        fprintf(stderr, "found %s\n", s.found[i]);
    if (s.n_found > 0)
        fail_msg("the hub's memory still holds %zu copies of a link code or an envelope after delivery "
                 "(%zu mappings, %zu bytes read)",
                 s.n_found, s.regions, s.bytes);
    sodium_memzero(needles, sizeof needles);
}

/* The hub cannot dump core and says so at start. */
static void test_hub_not_dumpable(void **state)
{
    fixture_t *fx = *state;
    char path[64], *limits, *row, *log;
    unsigned long long soft = 1, hard = 1;

    snprintf(path, sizeof path, "/proc/%d/limits", (int)it_hub_pid(fx->env));
    limits = it_slurp(path, NULL);
    assert_non_null(limits);
    row = strstr(limits, "Max core file size");
    assert_non_null(row);
    assert_int_equal(sscanf(row + strlen("Max core file size"), "%llu %llu", &soft, &hard), 2);
    assert_int_equal(soft, 0);
    assert_int_equal(hard, 0);
    free(limits);

    log = it_hub_log(fx->env);
    if (strstr(log, "not dumpable") == NULL)
        fail_msg("the hub's log does not say it is not dumpable; log:\n%s", log);
    free(log);
}

/* renkei-agent serve cannot dump core either, and says so where it says it
 * serves. */
static void test_agent_serve_not_dumpable(void **state)
{
    fixture_t *fx = *state;
    it_proc_t *p = it_serve_start(fx->env, "power", NULL, 0);
    char path[64], *limits, *row, *err;
    unsigned long long soft = 1, hard = 1;

    assert_non_null(p);
    snprintf(path, sizeof path, "/proc/%d/limits", (int)it_proc_pid(p));
    limits = it_slurp(path, NULL);
    assert_non_null(limits);
    row = strstr(limits, "Max core file size");
    assert_non_null(row);
    assert_int_equal(sscanf(row + strlen("Max core file size"), "%llu %llu", &soft, &hard), 2);
    assert_int_equal(soft, 0);
    assert_int_equal(hard, 0);
    free(limits);
    err = it_proc_err(p);
    if (strstr(err, "not dumpable") == NULL)
        fail_msg("renkei-agent serve does not say it is not dumpable; stderr:\n%s", err);
    free(err);
    it_proc_stop(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_code_or_envelope_in_memory),
        cmocka_unit_test(test_hub_not_dumpable),
        cmocka_unit_test(test_agent_serve_not_dumpable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
