/*
 * test_it_witness - renkei-witness cosigning the real hub's checkpoints over
 * the C2SP tlog-witness API (POST /add-checkpoint), through the real
 * programs: renkei-hub signs checkpoints and serves consistency proofs to an
 * auditor, renkei-witness checks and cosigns them.
 *
 *   - a consistent sequence is cosigned: the first from old 0, the next with
 *     the hub's consistency proof; each cosignature verifies with an
 *     independent checker written from c2sp.org/tlog-cosignature (Python,
 *     PyNaCl), against the witness's published verifier key;
 *   - a stale old size is answered 409 with the witness's size
 *     (text/x.tlog.size), and that size survives a kill -9 of the witness;
 *   - a checkpoint of a forked history signed with the hub's own key (the
 *     same size and another root; a larger tree whose proof does not hold)
 *     is refused 422, never cosigned, and kept in the state directory's
 *     evidence/ with the witness saying so on its log; the real history
 *     is still cosigned afterwards;
 *   - a checkpoint signed by another key is refused 403, an unknown origin
 *     404, and a proof from size 0 that is not empty 422.
 *
 * The HTTP client is a plain socket.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "keys.h"
#include "note.h"
#include "rawclient.h"
#include "wire.h"

#define WITNESS_NAME "witness.test/w1"
#define ORIGIN "renkei.example.go.jp/hub" /* the hub is started with --log-origin ORIGIN */

static struct {
    it_env_t *env;
    rawclient_t *aud;
    it_proc_t *witness;
    int port;
    char conf[4096];
    char state[4096];
    char vkey[TLOG_VKEY_MAX];
    uint64_t req;
    int orgs;
} fx;

/* ------------------------------------------------------------------ HTTP */

typedef struct reply {
    int code;
    char type[128];
    char body[4096];
} reply_t;

static void post(const char *body, reply_t *r)
{
    struct sockaddr_in sa;
    char head[256], buf[16384], *p;
    size_t got = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t k;

    memset(r, 0, sizeof *r);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)fx.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_msg("cannot connect to renkei-witness on port %d", fx.port);
    snprintf(head, sizeof head,
             "POST /add-checkpoint HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             strlen(body));
    assert_true(write(fd, head, strlen(head)) == (ssize_t)strlen(head));
    assert_true(write(fd, body, strlen(body)) == (ssize_t)strlen(body));
    while ((k = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)k;
    close(fd);
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &r->code) != 1)
        fail_msg("not an HTTP answer: %s", buf);
    p = strstr(buf, "\r\nContent-Type: ");
    if (p != NULL)
        sscanf(p + 16, "%127[^\r]", r->type);
    p = strstr(buf, "\r\n\r\n");
    if (p != NULL)
        snprintf(r->body, sizeof r->body, "%s", p + 4);
}

/* --------------------------------------------------------------- the hub */

static char *checkpoint(void)
{
    rk_client_frame_t f;
    rk_hub_frame_t hf;
    char *note;

    memset(&f, 0, sizeof f);
    f.kind = RK_CF_CHECKPOINT;
    f.u.checkpoint.req_id = ++fx.req;
    assert_int_equal(rawclient_send_frame(fx.aud, &f), 0);
    if (rawclient_recv_kind(fx.aud, RK_HF_CHECKPOINT, &hf, 5000) != 0)
        fail_msg("the hub did not answer a checkpoint request");
    assert_int_equal(hf.u.checkpoint.status, RK_ST_ACCEPTED);
    note = strdup(hf.u.checkpoint.note);
    rk_hub_frame_clear(&hf);
    assert_non_null(note);
    return note;
}

static uint64_t size_of(const char *note)
{
    const char *nl = strchr(note, '\n');
    assert_non_null(nl);
    return strtoull(nl + 1, NULL, 10);
}

/* "old OLD\n" + the hub's consistency proof lines + "\n" + note (malloc'd). */
static char *request(uint64_t old, const char *note)
{
    char *out = malloc(8192 + strlen(note));
    size_t off = 0;

    assert_non_null(out);
    off += (size_t)sprintf(out, "old %llu\n", (unsigned long long)old);
    if (old > 0 && old < size_of(note)) {
        rk_client_frame_t f;
        rk_hub_frame_t hf;
        memset(&f, 0, sizeof f);
        f.kind = RK_CF_PROOF;
        f.u.proof.req_id = ++fx.req;
        f.u.proof.old_size = old;
        f.u.proof.tree_size = size_of(note);
        assert_int_equal(rawclient_send_frame(fx.aud, &f), 0);
        if (rawclient_recv_kind(fx.aud, RK_HF_PROOF, &hf, 5000) != 0)
            fail_msg("the hub did not answer a proof request");
        assert_int_equal(hf.u.proof.status, RK_ST_ACCEPTED);
        for (size_t i = 0; i < hf.u.proof.n; i++) {
            sodium_bin2base64(out + off, 64, hf.u.proof.hash[i], RK_HASH_LEN, sodium_base64_VARIANT_ORIGINAL);
            off += strlen(out + off);
            out[off++] = '\n';
        }
        rk_hub_frame_clear(&hf);
    }
    sprintf(out + off, "\n%s", note);
    return out;
}

/* The log grows: one more organization registered. */
static void grow(void)
{
    char org[32];
    snprintf(org, sizeof org, "org.n%d", ++fx.orgs);
    assert_int_equal(it_org(fx.env, org, "municipality"), 0);
}

/* A checkpoint of ORIGIN signed with keys/KEYNAME.key under key name ORIGIN. */
static char *forge_log(const char *origin, const char *keyname, uint64_t size, uint8_t fill)
{
    rk_identity_t *id = NULL;
    char path[4096], why[256], *out = malloc(TLOG_CHECKPOINT_MAX);
    tlog_checkpoint_t cp;
    size_t len;

    assert_non_null(out);
    snprintf(path, sizeof path, "%s/keys/%s.key", it_dir(fx.env), keyname);
    if (rk_identity_load(path, &id, why, sizeof why) != RK_KEYS_OK)
        fail_msg("%s", why);
    memset(&cp, 0, sizeof cp);
    cp.size = size;
    memset(cp.root, fill, sizeof cp.root);
    cp.time = 1700000000;
    assert_int_equal(tlog_checkpoint_sign(origin, &cp, ORIGIN, id->sign_sk, out, TLOG_CHECKPOINT_MAX, &len),
                     TLOG_OK);
    rk_identity_destroy(&id);
    return out;
}

static char *forge(const char *keyname, uint64_t size, uint8_t fill)
{
    return forge_log(ORIGIN, keyname, size, fill);
}

/* ------------------------------------------------------------- the witness */

static void witness_start(void)
{
    const char *args[] = {"--config", fx.conf, NULL};
    fx.witness = it_spawn(fx.env, "renkei-witness", args, "witness");
    assert_non_null(fx.witness);
    if (!it_err_wait(fx.witness, "listening on", 1, 15)) {
        char *err = it_proc_err(fx.witness);
        fail_msg("renkei-witness did not start: %s", err ? err : "");
    }
}

/* Checks sig_line (the witness's answer) over note with a checker written
 * from c2sp.org/tlog-cosignature and c2sp.org/signed-note alone. */
static const char checker[] =
    "import base64, hashlib, struct, sys\n"
    "from nacl.signing import VerifyKey\n"
    "vkey, note_path, sig_path = sys.argv[1:4]\n"
    "name, keyid_hex, key_b64 = vkey.split('+', 2)\n"
    "key = base64.b64decode(key_b64)\n"
    "assert key[0] == 0x04, 'not a cosignature/v1 key'\n"
    "pk = key[1:]\n"
    "keyid = hashlib.sha256(name.encode() + b'\\n' + b'\\x04' + pk).digest()[:4]\n"
    "assert keyid.hex() == keyid_hex, 'vkey key id'\n"
    "note = open(note_path, 'rb').read()\n"
    "body = note[:note.index(b'\\n\\n') + 1]\n"
    "line = open(sig_path, 'rb').read()\n"
    "assert line.endswith(b'\\n') and line.count(b'\\n') == 1, 'one line'\n"
    "prefix = '\\u2014 '.encode() + name.encode() + b' '\n"
    "assert line.startswith(prefix), 'signature line prefix'\n"
    "raw = base64.b64decode(line[len(prefix):-1], validate=True)\n"
    "assert len(raw) == 4 + 8 + 64, 'length'\n"
    "assert raw[:4] == keyid, 'key id'\n"
    "t = struct.unpack('>Q', raw[4:12])[0]\n"
    "assert t > 0, 'timestamp'\n"
    "msg = b'cosignature/v1\\ntime ' + str(t).encode() + b'\\n' + body\n"
    "VerifyKey(pk).verify(msg, raw[12:])\n"
    "print('verified', t)\n";

static void check_cosignature(const char *note, const char *line)
{
    char cmd[16384], out[4096] = "";
    size_t got;
    FILE *p;
    int st;

    assert_int_equal(it_write_file(it_path(fx.env, "checker.py"), checker), 0);
    assert_int_equal(it_write_file(it_path(fx.env, "note.txt"), note), 0);
    assert_int_equal(it_write_file(it_path(fx.env, "sig.txt"), line), 0);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/checker.py '%s' %s/note.txt %s/sig.txt 2>&1", it_dir(fx.env),
             fx.vkey, it_dir(fx.env), it_dir(fx.env));
    p = popen(cmd, "r");
    assert_non_null(p);
    got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    st = pclose(p);
    if (st != 0 || strncmp(out, "verified", 8) != 0)
        fail_msg("the cosignature does not verify by the spec: %s (line: %s)", out, line);
}

static size_t evidence_count(const char *needle)
{
    char dir[4200], path[4500];
    DIR *d;
    struct dirent *e;
    size_t n = 0;

    snprintf(dir, sizeof dir, "%s/evidence", fx.state);
    d = opendir(dir);
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char *text;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        text = it_slurp(path, NULL);
        if (text != NULL && strstr(text, needle) != NULL)
            n++;
        free(text);
    }
    closedir(d);
    return n;
}

static int setup(void **state)
{
    static const char *origin_args[] = {"--log-origin", ORIGIN, NULL};
    rk_pubkey_t hub;
    it_run_t r;
    (void)state;

    memset(&fx, 0, sizeof fx);
    fx.env = it_env_new();
    if (fx.env == NULL || it_org(fx.env, "audit.a", "auditor") != 0 || it_hub_start(fx.env, origin_args) != 0)
        return -1;
    fx.aud = it_connect(fx.env, "audit.a", false);
    if (fx.aud == NULL || it_keygen(fx.env, "witness") != 0 || it_keygen(fx.env, "mallory") != 0 ||
        it_pubkey(fx.env, "hub", &hub) != 0)
        return -1;
    char hubvkey[TLOG_VKEY_MAX];
    if (tlog_vkey_format(ORIGIN, hub.sign_pk, hubvkey, sizeof hubvkey) != TLOG_OK)
        return -1;
    fx.port = it_free_port();
    snprintf(fx.state, sizeof fx.state, "%s/witness-state", it_dir(fx.env));
    snprintf(fx.conf, sizeof fx.conf, "%s/witness.conf", it_dir(fx.env));
    {
        char text[8192];
        snprintf(text, sizeof text,
                 "# a witness of the test hub\nname = " WITNESS_NAME "\nkey = %s/keys/witness.key\n"
                 "state = %s\nlisten = 127.0.0.1:%d\nlog = " ORIGIN " %s\nlog = other.example/log %s\n",
                 it_dir(fx.env), fx.state, fx.port, hubvkey, hubvkey);
        if (it_write_file(fx.conf, text) != 0)
            return -1;
    }
    {
        const char *args[] = {"--config", fx.conf, "--print-vkey", NULL};
        if (it_run(fx.env, "renkei-witness", args, NULL, 10, &r) != 0 || r.status != 0) {
            fprintf(stderr, "renkei-witness --print-vkey: %d %s %s\n", r.status, r.out ? r.out : "", r.err ? r.err : "");
            it_run_clear(&r);
            return -1;
        }
        snprintf(fx.vkey, sizeof fx.vkey, "%s", it_chomp(r.out));
        it_run_clear(&r);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rawclient_destroy(&fx.aud);
    it_env_destroy(&fx.env);
    return 0;
}

/* Each test starts its own witness; this stops it, passed or failed. */
static int witness_stop(void **state)
{
    (void)state;
    if (fx.witness != NULL && it_proc_running(fx.witness))
        it_proc_kill(fx.witness);
    fx.witness = NULL;
    return 0;
}

/* ----------------------------------------------------------------- tests */

static void test_cosigns_a_consistent_log_and_refuses_a_fork(void **state)
{
    reply_t r;
    char *cp1, *cp2, *cp3, *fork, *req;
    uint64_t n1, n2, n3;
    (void)state;

    witness_start();
    assert_true(strncmp(fx.vkey, WITNESS_NAME "+", strlen(WITNESS_NAME) + 1) == 0);

    /* first contact: old 0, no proof */
    grow();
    cp1 = checkpoint();
    n1 = size_of(cp1);
    assert_true(n1 > 0);
    req = request(0, cp1);
    post(req, &r);
    free(req);
    if (r.code != 200)
        fail_msg("the first checkpoint was answered %d: %s", r.code, r.body);
    check_cosignature(cp1, r.body);

    /* the log grows; the next checkpoint comes with the hub's proof */
    grow();
    grow();
    cp2 = checkpoint();
    n2 = size_of(cp2);
    assert_true(n2 > n1);
    req = request(n1, cp2);
    post(req, &r);
    free(req);
    if (r.code != 200)
        fail_msg("a consistent checkpoint was answered %d: %s", r.code, r.body);
    check_cosignature(cp2, r.body);

    /* a client that is behind is told the witness's size */
    req = request(n1, cp2);
    post(req, &r);
    free(req);
    assert_int_equal(r.code, 409);
    assert_string_equal(r.type, "text/x.tlog.size");
    assert_int_equal(strtoull(r.body, NULL, 10), n2);

    /* the state survives a kill -9 */
    it_proc_kill(fx.witness);
    witness_start();
    req = request(0, cp2);
    post(req, &r);
    free(req);
    assert_int_equal(r.code, 409);
    assert_int_equal(strtoull(r.body, NULL, 10), n2);

    /* a forked history signed with the hub's own key: same size, another root */
    fork = forge("hub", n2, 0xab);
    req = request(n2, fork);
    post(req, &r);
    free(req);
    if (r.code != 422)
        fail_msg("a fork at the cosigned size was answered %d: %s", r.code, r.body);
    assert_null(strstr(r.body, "\xe2\x80\x94"));
    assert_int_equal(evidence_count(fork), 1);
    assert_true(it_err_wait(fx.witness, "REFUSED a checkpoint of " ORIGIN, 1, 5));
    free(fork);

    /* a larger tree that does not extend the cosigned one, with the real proof */
    grow();
    cp3 = checkpoint();
    n3 = size_of(cp3);
    fork = forge("hub", n3, 0xcd);
    req = request(n2, cp3);
    {
        char *swap = strstr(req, "\n\n"), *fr;
        assert_non_null(swap);
        swap[2] = '\0';
        fr = malloc(strlen(req) + strlen(fork) + 1);
        sprintf(fr, "%s%s", req, fork);
        free(req);
        req = fr;
    }
    post(req, &r);
    free(req);
    if (r.code != 422)
        fail_msg("an inconsistent larger tree was answered %d: %s", r.code, r.body);
    assert_int_equal(evidence_count(fork), 1);
    free(fork);

    /* the real history is still cosigned */
    req = request(n2, cp3);
    post(req, &r);
    free(req);
    if (r.code != 200)
        fail_msg("the real next checkpoint after a refused fork was answered %d: %s", r.code, r.body);
    check_cosignature(cp3, r.body);
    free(cp1);
    free(cp2);
    free(cp3);
}

static void test_refuses_other_keys_and_logs(void **state)
{
    reply_t r;
    char *bad, *req, *cp, *other;
    (void)state;

    witness_start();
    /* signed by another key under the log's name */
    bad = forge("mallory", 1, 0x11);
    req = request(0, bad);
    post(req, &r);
    free(req);
    if (r.code != 403)
        fail_msg("a checkpoint signed by another key was answered %d: %s", r.code, r.body);
    free(bad);

    /* a log the witness does not witness */
    cp = checkpoint();
    other = malloc(strlen(cp) + 32);
    sprintf(other, "unknown.example/log%s", strchr(cp, '\n'));
    req = request(0, other);
    post(req, &r);
    free(req);
    assert_int_equal(r.code, 404);
    free(other);

    /* a proof from size 0 must be empty (a second log, never cosigned) */
    other = forge_log("other.example/log", "hub", 2, 0x22);
    req = malloc(strlen(other) + 128);
    sprintf(req, "old 0\n%s\n\n%s", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", other);
    post(req, &r);
    free(req);
    assert_int_equal(r.code, 422);
    free(other);
    /* the request that is not one */
    post("hello\n", &r);
    assert_int_equal(r.code, 400);
    free(cp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cosigns_a_consistent_log_and_refuses_a_fork, witness_stop),
        cmocka_unit_test_teardown(test_refuses_other_keys_and_logs, witness_stop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
