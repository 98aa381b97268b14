/*
 * make_corpus - writes the seed corpora in fuzz/corpus/ (checked in; run it
 * again only when a format changes):
 *
 *   fuzz-make-corpus SOURCE_DIR
 *
 * Every seed is a small valid input built with the project's own encoders
 * from fixed values (fixed keys, ids and times, so the bytes are the same on
 * every run), plus the golden frames of tests/golden/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mailbox.h"
#include "note.h"
#include "wire.h"

static const char *root;

static void die(const char *what)
{
    fprintf(stderr, "fuzz-make-corpus: %s\n", what);
    exit(1);
}

/* Writes corpus/<target>/<name>: an optional selector byte, then data. */
static void put(const char *target, const char *name, int selector, const void *data, size_t len)
{
    char path[4096];
    FILE *fp;
    snprintf(path, sizeof path, "%s/fuzz/corpus/%s/%s", root, target, name);
    fp = fopen(path, "wb");
    if (fp == NULL) {
        fprintf(stderr, "fuzz-make-corpus: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (selector >= 0)
        fputc(selector, fp);
    if (len > 0 && fwrite(data, 1, len, fp) != len)
        die("short write");
    fclose(fp);
}

static uint8_t *slurp(const char *rel, size_t *len)
{
    char path[4096];
    uint8_t *buf = malloc(1 << 16);
    FILE *fp;
    snprintf(path, sizeof path, "%s/%s", root, rel);
    fp = fopen(path, "rb");
    if (fp == NULL || buf == NULL)
        die("cannot read a golden file");
    *len = fread(buf, 1, 1 << 16, fp);
    fclose(fp);
    return buf;
}

static void put_client(const char *name, const rk_client_frame_t *f)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (rk_client_frame_encode(f, &b, &n) != RK_WIRE_OK)
        die(name);
    put("client_frame", name, -1, b, n);
    free(b);
}

static void put_hub(const char *name, const rk_hub_frame_t *f)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (rk_hub_frame_encode(f, &b, &n) != RK_WIRE_OK)
        die(name);
    put("hub_frame", name, -1, b, n);
    free(b);
}

static void fixed_key(uint8_t fill, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[32];
    memset(seed, fill, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
}

int main(int argc, char **argv)
{
    static rk_client_frame_t cf;
    static rk_hub_frame_t hf;
    uint8_t *golden, *entry = NULL, pk[32], sk[64];
    size_t golden_len, entry_len = 0;
    rk_log_entry_t le;
    rk_dir_entry_t orgs[2];
    rk_dir_t dir;
    char why[256], note[TLOG_CHECKPOINT_MAX], vkey[TLOG_VKEY_MAX];
    size_t note_len = 0;
    tlog_checkpoint_t cp;

    if (argc != 2)
        die("usage: fuzz-make-corpus SOURCE_DIR");
    root = argv[1];
    if (sodium_init() < 0)
        die("libsodium failed to initialize");

    /* ClientFrame: the golden send, and one of every other kind. */
    golden = slurp("tests/golden/client_send.bin", &golden_len);
    put("client_frame", "golden-send", -1, golden, golden_len);
    if (rk_client_frame_decode(golden, golden_len, &cf, why, sizeof why) != RK_WIRE_OK)
        die("tests/golden/client_send.bin does not decode");
    /* ... whose core seeds the core target. */
    put("core", "golden-core", -1, cf.u.send.core, cf.u.send.core_len);
    rk_client_frame_clear(&cf);
    free(golden);
    memset(&cf, 0, sizeof cf);
    cf.kind = RK_CF_HELLO;
    cf.u.hello.receive = true;
    put_client("hello", &cf);
    memset(&cf, 0, sizeof cf);
    cf.kind = RK_CF_ACK;
    cf.u.ack.n = 3;
    cf.u.ack.seq[0] = 1, cf.u.ack.seq[1] = 2, cf.u.ack.seq[2] = 70000;
    put_client("ack", &cf);
    memset(&cf, 0, sizeof cf);
    cf.kind = RK_CF_REJECT;
    snprintf(cf.u.reject.to, sizeof cf.u.reject.to, "city.x");
    memset(cf.u.reject.msg_id, 0x11, RK_MSGID_LEN);
    cf.u.reject.reason = RK_ST_UNKNOWN_WHO;
    snprintf(cf.u.reject.detail, sizeof cf.u.reject.detail, "no such resident here");
    put_client("reject", &cf);
    memset(&cf, 0, sizeof cf);
    cf.kind = RK_CF_LOG_READ;
    cf.u.log_read.req_id = 7, cf.u.log_read.start = 0, cf.u.log_read.count = 10;
    put_client("log-read", &cf);
    memset(&cf, 0, sizeof cf);
    cf.kind = RK_CF_PROOF;
    cf.u.proof.req_id = 8, cf.u.proof.index = 3, cf.u.proof.tree_size = 9, cf.u.proof.old_size = 4;
    put_client("proof", &cf);
    memset(&cf, 0, sizeof cf);
    cf.kind = RK_CF_DISCLOSE;
    cf.u.disclose.req_id = 9;
    memset(cf.u.disclose.code, 0x22, RK_CODE_LEN);
    put_client("disclose", &cf);

    /* HubFrame: the golden deliver, and the other kinds. */
    golden = slurp("tests/golden/hub_deliver.bin", &golden_len);
    put("hub_frame", "golden-deliver", -1, golden, golden_len);
    free(golden);
    memset(&hf, 0, sizeof hf);
    hf.kind = RK_HF_WELCOME;
    snprintf(hf.u.welcome.org, sizeof hf.u.welcome.org, "city.x");
    snprintf(hf.u.welcome.kind, sizeof hf.u.welcome.kind, "municipality");
    hf.u.welcome.hub_time_ms = 1711843200000ull;
    hf.u.welcome.max_payload = 65536;
    put_hub("welcome", &hf);
    memset(&hf, 0, sizeof hf);
    hf.kind = RK_HF_RESULT;
    hf.u.result.has_msg_id = true;
    memset(hf.u.result.msg_id, 0x33, RK_MSGID_LEN);
    hf.u.result.status = RK_ST_ACCEPTED;
    hf.u.result.seq = 5;
    hf.u.result.log_size = 12;
    put_hub("result", &hf);
    memset(&hf, 0, sizeof hf);
    hf.kind = RK_HF_NOTICE;
    hf.u.notice.seq = 6;
    memset(hf.u.notice.msg_id, 0x44, RK_MSGID_LEN);
    hf.u.notice.status = RK_ST_REFUSED_BY_RECIPIENT;
    snprintf(hf.u.notice.peer, sizeof hf.u.notice.peer, "power");
    hf.u.notice.cause = RK_ST_UNKNOWN_WHO;
    hf.u.notice.time_ms = 1711843200000ull;
    hf.u.notice.msg_seq = 5;
    put_hub("notice", &hf);

    /* A routing-log entry, alone and inside Log and Proof frames. */
    memset(&le, 0, sizeof le);
    le.time_ms = 1711843200000ull;
    le.event = RK_EV_ACCEPTED;
    le.seq = 5;
    snprintf(le.from, sizeof le.from, "city.x");
    snprintf(le.to, sizeof le.to, "power");
    snprintf(le.type, sizeof le.type, "utility.supply.stop");
    le.has_msg_id = true;
    memset(le.msg_id, 0x55, RK_MSGID_LEN);
    le.outcome = RK_ST_ACCEPTED;
    le.size = 256;
    if (rk_log_entry_encode(&le, &entry, &entry_len) != RK_WIRE_OK)
        die("log entry");
    put("log_entry", "accepted", -1, entry, entry_len);
    {
        uint8_t *b = NULL;
        size_t n = 0;
        memset(&le, 0, sizeof le);
        le.time_ms = 1711843200000ull;
        le.event = RK_EV_ORG_REGISTERED;
        snprintf(le.from, sizeof le.from, "power");
        snprintf(le.kind, sizeof le.kind, "utility");
        if (rk_log_entry_encode(&le, &b, &n) != RK_WIRE_OK)
            die("log entry");
        put("log_entry", "org-registered", -1, b, n);
        free(b);
    }
    {
        uint64_t index = 4;
        uint8_t *entries[1] = {entry};
        size_t lens[1] = {entry_len};
        memset(&hf, 0, sizeof hf);
        hf.kind = RK_HF_LOG;
        hf.u.log.req_id = 7;
        hf.u.log.status = RK_ST_ACCEPTED;
        hf.u.log.n = 1;
        hf.u.log.index = &index;
        hf.u.log.entry = entries;
        hf.u.log.entry_len = lens;
        hf.u.log.tree_size = 5;
        put_hub("log", &hf);
        memset(&hf, 0, sizeof hf);
        hf.kind = RK_HF_PROOF;
        hf.u.proof.req_id = 8;
        hf.u.proof.status = RK_ST_ACCEPTED;
        hf.u.proof.index = 4;
        hf.u.proof.tree_size = 5;
        hf.u.proof.n = 2;
        memset(hf.u.proof.hash[0], 0x66, RK_HASH_LEN);
        memset(hf.u.proof.hash[1], 0x77, RK_HASH_LEN);
        hf.u.proof.entry = entry;
        hf.u.proof.entry_len = entry_len;
        put_hub("proof", &hf);
    }
    free(entry);

    /* A signed directory: its body for the directory target, the frame for hub_frame. */
    memset(orgs, 0, sizeof orgs);
    snprintf(orgs[0].id, sizeof orgs[0].id, "city.x");
    snprintf(orgs[0].kind, sizeof orgs[0].kind, "municipality");
    orgs[0].active = true;
    memset(orgs[0].sign_key, 0x88, RK_KEY_LEN);
    snprintf(orgs[1].id, sizeof orgs[1].id, "power");
    snprintf(orgs[1].kind, sizeof orgs[1].kind, "utility");
    memset(orgs[1].sign_key, 0x99, RK_KEY_LEN);
    dir.time_ms = 1711843200000ull;
    dir.n = 2;
    dir.orgs = orgs;
    fixed_key(0x5a, pk, sk); /* fuzz_directory's key */
    memset(&hf, 0, sizeof hf);
    if (rk_dir_seal(&dir, sk, 10, &hf) != RK_WIRE_OK)
        die("directory");
    put("directory", "two-orgs", -1, hf.u.directory.body, hf.u.directory.body_len);
    put_hub("directory", &hf);
    rk_hub_frame_clear(&hf);

    /* Checkpoints signed with fuzz_note's key; selector 0: whole note, 1: its
     * text (the target signs it), 2: a verifier key. */
    fixed_key(0x6b, pk, sk);
    memset(&cp, 0, sizeof cp);
    cp.size = 5;
    memset(cp.root, 0xab, sizeof cp.root);
    cp.time = 1711843200;
    if (tlog_checkpoint_sign("renkei-hub", &cp, "renkei-hub", sk, note, sizeof note, &note_len) != TLOG_OK)
        die("checkpoint");
    put("note", "signed", 0, note, note_len);
    put("note", "text", 1, note, (size_t)(strstr(note, "\n\n") - note) + 1);
    memset(&hf, 0, sizeof hf);
    hf.kind = RK_HF_CHECKPOINT;
    hf.u.checkpoint.req_id = 11;
    hf.u.checkpoint.status = RK_ST_ACCEPTED;
    hf.u.checkpoint.note = note;
    put_hub("checkpoint", &hf);
    if (tlog_vkey_format("renkei-hub", pk, vkey, sizeof vkey) != TLOG_OK)
        die("vkey");
    put("note", "vkey", 2, vkey, strlen(vkey));

    /* Key files (selector 0: secret, 1: public, 2: master), of made-up keys. */
    {
        static const char secret[] = "# Renkei secret key of 'city.x'.\n"
                                     "renkei-secret-key: 1\nname: city.x\n"
                                     "seed: ZnV6ei1zZWVkLW5vdC1hLXJlYWwta2V5LWZ1enotMDE=\n";
        static const char master[] = "renkei-master-key: 1\n"
                                     "key: ZnV6ei1tYXN0ZXItbm90LWEtcmVhbC1rZXktZnV6ejE=\n";
        char pub[512], sign_b64[64], z85[41];
        uint8_t curve[32];
        fixed_key(0x7c, pk, sk);
        if (crypto_sign_ed25519_pk_to_curve25519(curve, pk) != 0)
            die("curve");
        sodium_bin2base64(sign_b64, sizeof sign_b64, pk, 32, sodium_base64_VARIANT_ORIGINAL);
        {
            /* Z85 by hand keeps this program off libzmq. */
            static const char a[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    ".-:+=^!/*?&<>()[]{}@%$#";
            size_t o = 0;
            for (size_t i = 0; i < 32; i += 4) {
                uint32_t v = (uint32_t)curve[i] << 24 | (uint32_t)curve[i + 1] << 16 |
                             (uint32_t)curve[i + 2] << 8 | curve[i + 3];
                for (uint32_t d = 52200625u; d > 0; d /= 85)
                    z85[o++] = a[(v / d) % 85];
            }
            z85[o] = '\0';
        }
        snprintf(pub, sizeof pub, "renkei-public-key: 1\nname: power\nsign: %s\ncurve: %s\n", sign_b64, z85);
        put("keys", "secret.txt", 0, secret, strlen(secret));
        put("keys", "public.txt", 1, pub, strlen(pub));
        put("keys", "master.txt", 2, master, strlen(master));
    }

    /* Mailbox records, as agents/mailbox.c stores them (docs/agent-store.md),
     * selector 0: outbox, 1: inbox. */
    {
        rk_msg_status st;
        rk_inbox_entry e;
        uint8_t rec[2048];
        size_t golden_core_len;
        uint8_t *core = slurp("fuzz/corpus/core/golden-core", &golden_core_len);
        memset(&st, 0, sizeof st);
        memset(st.msg_id, 0x11, RK_MSGID_LEN);
        snprintf(st.to, sizeof st.to, "power");
        snprintf(st.type, sizeof st.type, "utility.supply.stop");
        st.state = RK_MSG_ACCEPTED;
        st.created_ms = st.accepted_ms = 1711843200000ull;
        st.status = RK_ST_ACCEPTED;
        st.attempts = 1;
        rk_mailbox_out_encode(&st, 0, 6, rec);
        memcpy(rec + RK_MAILBOX_OUT_FIXED, "frame!", 6);
        put("mailbox", "outbox", 0, rec, RK_MAILBOX_OUT_FIXED + 6);
        memset(&e, 0, sizeof e);
        e.state = RK_IN_NEW;
        e.received_ms = 1711843200000ull;
        e.order = 1;
        e.hub_seq = 2;
        e.first_contact = true;
        snprintf(e.from, sizeof e.from, "city.x");
        snprintf(e.type, sizeof e.type, "utility.supply.stop");
        e.core_len = golden_core_len;
        if (RK_MAILBOX_IN_FIXED + golden_core_len > sizeof rec)
            die("inbox record");
        rk_mailbox_in_encode(&e, rec);
        memcpy(rec + RK_MAILBOX_IN_FIXED, core, golden_core_len);
        put("mailbox", "inbox", 1, rec, RK_MAILBOX_IN_FIXED + golden_core_len);
        free(core);
    }

    /* A hub configuration file. */
    {
        static const char conf[] = "# renkei-hub configuration\n"
                                   "data = /var/lib/renkei\nkey = hub.key\nmaster-key = master.key\n"
                                   "bind = tcp://127.0.0.1:7750\nmax-payload = 65536\nbatch = 64\n"
                                   "verify-threads = 2\nqueue-limit = 1000\nttl = 86400\n"
                                   "ttl.utility.supply.stop = 3600\nverbose = yes\n";
        put("config", "full.conf", -1, conf, strlen(conf));
        put("config", "bad-line.conf", -1, "data = /tmp\nno equals sign\n", 26);
    }
    return 0;
}
