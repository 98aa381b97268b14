#!/usr/bin/python3
"""Checks Renkei's golden wire bytes with tools that share no code with it.

    check_golden.py SOURCE_DIR                  decode and check client_send.bin
    check_golden.py SOURCE_DIR --write-deliver  (re)write hub_deliver.bin

proto/renkei.proto is compiled with protoc --python_out at run time, so the
bytes are read by Google's protobuf library, the signature is checked and
the payload opened with PyNaCl (libsodium bindings, but none of Renkei's C).
The values expected here are written out independently of the C code that
made the bytes; tests/golden/README.md lists them.

hub_deliver.bin is the other direction: a HubFrame deliver encoded here in
Python (the reply from "power" to "city.x"), which the C test suite decodes.
"""

import importlib
import os
import shutil
import subprocess
import sys
import tempfile

SENDER_SEED = b"renkei-golden-seed-sender-city.x"
RECIPIENT_SEED = b"renkei-golden-seed-recipient-pwr"
MSG_ID = bytes(range(0x00, 0x10))
REPLY_MSG_ID = bytes(range(0x20, 0x30))
NONCE = bytes(range(0x40, 0x58))
REPLY_NONCE = bytes(range(0x60, 0x78))
WHO = bytes(range(0xC0, 0xD0))
REPLY_WHO = bytes(range(0xD0, 0xE0))
TIME_MS = 1711843200000  # 2024-03-31T00:00:00Z
PLAINTEXT = (b'{"request":"stop","supply":"electricity","date":"2024-03-31",'
             b'"note":"golden test vector"}')
REPLY_PLAINTEXT = b'{"status":"stopped","date":"2024-03-31"}'
REPLY_SEQ = 2
DOMAIN = b"renkei-envelope-v1\x00"
# Size classes (proto/README.md, "Payload"): len(what) is a power of two
# from 256 bytes to 4 MiB; the plaintext inside is padded with 0x80 then
# zeros to len(what) - 24 (nonce) - 16 (MAC).  Both vectors are in 256.
WHAT_LEN = 256
BOX_OVERHEAD = 24 + 16

failures = []


def check(what, ok, detail=""):
    print(("ok    " if ok else "FAIL  ") + what + ("" if ok or not detail else ": " + detail))
    if not ok:
        failures.append(what)


def die(msg):
    print("check_golden: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def load_modules(src_dir, tmp):
    protoc = shutil.which("protoc")
    if protoc is None:
        die("protoc not found on PATH; install the Debian package protobuf-compiler "
            "(this check cannot run without an independent protobuf decoder)")
    try:
        import nacl.bindings  # noqa: F401
        import nacl.public  # noqa: F401
        import nacl.signing  # noqa: F401
    except ImportError as e:
        die("PyNaCl is missing (%s); install the Debian package python3-nacl" % e)
    proto_dir = os.path.join(src_dir, "proto")
    r = subprocess.run([protoc, "--python_out=" + tmp, "-I" + proto_dir,
                        os.path.join(proto_dir, "renkei.proto")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        die("protoc failed on proto/renkei.proto:\n" + r.stdout)
    sys.path.insert(0, tmp)
    try:
        return importlib.import_module("renkei_pb2")
    except ImportError as e:
        die("cannot import the protoc output (%s); install python3-protobuf "
            "matching protoc %s" % (e, subprocess.run([protoc, "--version"],
                                                       capture_output=True, text=True).stdout.strip()))


def is_size_class(n):
    return 256 <= n <= 4 << 20 and n & (n - 1) == 0


def pad(plain, what_len):
    """ISO/IEC 7816-4 padding to a size class: plain || 0x80 || 0x00..."""
    padded_len = what_len - BOX_OVERHEAD
    assert is_size_class(what_len) and len(plain) < padded_len
    return plain + b"\x80" + bytes(padded_len - len(plain) - 1)


def unpad(padded):
    """The plaintext, or None if the padding is not exactly 0x80 then zeros
    up to a size class."""
    if not is_size_class(len(padded) + BOX_OVERHEAD):
        return None
    body = padded.rstrip(b"\x00")
    if not body.endswith(b"\x80"):
        return None
    return body[:-1]


def party(seed):
    import nacl.bindings as b
    import nacl.signing
    sk = nacl.signing.SigningKey(seed)
    pk = sk.verify_key
    # libsodium's 64-byte secret key is seed || public key.
    curve_sk = b.crypto_sign_ed25519_sk_to_curve25519(seed + bytes(pk))
    curve_pk = b.crypto_sign_ed25519_pk_to_curve25519(bytes(pk))
    return sk, pk, curve_sk, curve_pk


def check_client_send(pb, golden_dir):
    import nacl.exceptions
    import nacl.public
    from google.protobuf.message import DecodeError

    path = os.path.join(golden_dir, "client_send.bin")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        die("cannot read %s: %s" % (path, e))

    frame = pb.ClientFrame()
    try:
        frame.ParseFromString(data)
    except DecodeError as e:
        die("client_send.bin is not a renkei.v1.ClientFrame: %s" % e)
    check("frame.version == 1", frame.version == 1, repr(frame.version))
    check("frame body is send", frame.WhichOneof("body") == "send", repr(frame.WhichOneof("body")))
    env = frame.send.envelope
    check("envelope present", frame.send.HasField("envelope"))
    check("envelope.who is the fixed 16 bytes", env.who == WHO, env.who.hex())
    check("envelope.signature is 64 bytes", len(env.signature) == 64, str(len(env.signature)))

    core = pb.EnvelopeCore()
    try:
        core.ParseFromString(env.core)
    except DecodeError as e:
        die("envelope.core is not a renkei.v1.EnvelopeCore: %s" % e)
    check("core.version == 1", core.version == 1, repr(core.version))
    check("core.from == city.x", getattr(core, "from") == "city.x", getattr(core, "from"))
    check("core.to == power", core.to == "power", core.to)
    check("core.type == utility.supply.stop", core.type == "utility.supply.stop", core.type)
    check("core.msg_id", core.msg_id == MSG_ID, core.msg_id.hex())
    check("core.reply_to is empty (a request)", core.reply_to == b"", core.reply_to.hex())
    check("core.time_ms", core.time_ms == TIME_MS, str(core.time_ms))
    check("core.what starts with the fixed nonce", core.what[:24] == NONCE, core.what[:24].hex())
    check("core.what length is the size class %d" % WHAT_LEN, len(core.what) == WHAT_LEN, str(len(core.what)))
    s_sk, s_pk, s_curve_sk, s_curve_pk = party(SENDER_SEED)
    r_sk, r_pk, r_curve_sk, r_curve_pk = party(RECIPIENT_SEED)
    try:
        s_pk.verify(DOMAIN + env.core, env.signature)
        check("signature verifies (Ed25519 over domain || core)", True)
    except nacl.exceptions.BadSignatureError:
        check("signature verifies (Ed25519 over domain || core)", False, "bad signature")
    try:
        r_pk.verify(DOMAIN + env.core, env.signature)
        check("signature does not verify under the recipient's key", False, "it did")
    except nacl.exceptions.BadSignatureError:
        check("signature does not verify under the recipient's key", True)
    try:
        s_pk.verify(env.core, env.signature)
        check("signature is domain-separated", False, "verifies without the domain prefix")
    except nacl.exceptions.BadSignatureError:
        check("signature is domain-separated", True)

    box = nacl.public.Box(nacl.public.PrivateKey(r_curve_sk), nacl.public.PublicKey(s_curve_pk))
    try:
        plain = box.decrypt(core.what[24:], core.what[:24])
        check("what decrypts for the recipient", True)
        check("padding is 0x80 then zeros up to the class", plain == pad(PLAINTEXT, WHAT_LEN), repr(plain))
        check("plaintext once unpadded", unpad(plain) == PLAINTEXT, repr(unpad(plain)))
    except nacl.exceptions.CryptoError:
        check("what decrypts for the recipient", False, "crypto_box_open failed")
    # A third party (the hub) cannot open it.
    other = nacl.public.PrivateKey(bytes(32 * [7]))
    try:
        nacl.public.Box(other, nacl.public.PublicKey(s_curve_pk)).decrypt(core.what[24:], core.what[:24])
        check("what does not open for anyone else", False, "it opened")
    except nacl.exceptions.CryptoError:
        check("what does not open for anyone else", True)


def write_deliver(pb, golden_dir):
    import nacl.public
    s_sk, s_pk, s_curve_sk, s_curve_pk = party(SENDER_SEED)
    r_sk, r_pk, r_curve_sk, r_curve_pk = party(RECIPIENT_SEED)
    # The reply travels from power back to city.x.
    box = nacl.public.Box(nacl.public.PrivateKey(r_curve_sk), nacl.public.PublicKey(s_curve_pk))
    sealed = box.encrypt(pad(REPLY_PLAINTEXT, WHAT_LEN), REPLY_NONCE)
    core = pb.EnvelopeCore()
    core.version = 1
    setattr(core, "from", "power")
    core.to = "city.x"
    core.type = "utility.supply.stop"
    core.msg_id = REPLY_MSG_ID
    core.reply_to = MSG_ID
    core.time_ms = TIME_MS + 60000
    core.what = REPLY_NONCE + sealed.ciphertext
    core_bytes = core.SerializeToString()
    frame = pb.HubFrame()
    frame.version = 1
    frame.deliver.envelope.core = core_bytes
    frame.deliver.envelope.signature = r_sk.sign(DOMAIN + core_bytes).signature
    frame.deliver.envelope.who = REPLY_WHO
    frame.deliver.first_contact = False
    frame.deliver.seq = REPLY_SEQ
    path = os.path.join(golden_dir, "hub_deliver.bin")
    with open(path, "wb") as f:
        f.write(frame.SerializeToString())
    print("wrote %s" % path)


def main():
    if len(sys.argv) < 2 or len(sys.argv) > 3 or (len(sys.argv) == 3 and sys.argv[2] != "--write-deliver"):
        print(__doc__, file=sys.stderr)
        return 2
    src_dir = sys.argv[1]
    golden_dir = os.path.join(src_dir, "tests", "golden")
    with tempfile.TemporaryDirectory(prefix="renkei-golden-") as tmp:
        pb = load_modules(src_dir, tmp)
        if len(sys.argv) == 3:
            write_deliver(pb, golden_dir)
            return 0
        check_client_send(pb, golden_dir)
    if failures:
        print("check_golden: %d check(s) FAILED: %s" % (len(failures), "; ".join(failures)))
        return 1
    print("check_golden: client_send.bin decoded and verified independently")
    return 0


if __name__ == "__main__":
    sys.exit(main())
