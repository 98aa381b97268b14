#!/usr/bin/env python3
"""An independent check of a Renkei routing log, written from proto/README.md
("Routing log: checkpoints, verifier key, leaves file") alone, sharing no code
with renkei-audit: the verifier key must verify the checkpoint's signature,
and the leaves file must give the checkpoint's tree size and root.

usage: audit_offline_check.py VKEY CHECKPOINT_FILE LEAVES_FILE
Exit 0 and "ok" when both hold; 1 and the reason otherwise."""
import base64
import hashlib
import sys

import nacl.exceptions
import nacl.signing


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


def mth(leaves):
    """RFC 9162 2.1.1 Merkle Tree Hash of a list of leaf inputs."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def main():
    vkey, cp_path, leaves_path = sys.argv[1:4]
    name, key_id_hex, key_b64 = vkey.split("+", 2)  # the base64 may hold "+" too
    key = base64.b64decode(key_b64)
    if len(key) != 33 or key[0] != 0x01:
        fail("the verifier key is not an Ed25519 key")
    if hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() != key_id_hex:
        fail("the verifier key's id does not match its name and key")
    pk = nacl.signing.VerifyKey(key[1:])

    text = open(cp_path, "rb").read()
    body, sep, sigs = text.partition(b"\n\n")
    if not sep:
        fail("the checkpoint has no signature lines")
    body += b"\n"
    lines = body.decode().split("\n")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])
    if origin != name:
        fail("the checkpoint's origin %r is not the key's name %r" % (origin, name))
    verified = False
    for line in sigs.decode().splitlines():
        if not line.startswith("\u2014 "):
            continue
        sig_name, sig_b64 = line[2:].split(" ")
        sig = base64.b64decode(sig_b64)
        if sig_name != name or sig[:4].hex() != key_id_hex:
            continue
        try:
            pk.verify(body, sig[4:])
            verified = True
        except nacl.exceptions.BadSignatureError:
            fail("the checkpoint's signature does not verify under the key")
    if not verified:
        fail("no signature by the key on the checkpoint")

    leaves = [base64.b64decode(l, validate=True) for l in open(leaves_path).read().splitlines()]
    if len(leaves) < size:
        fail("%d leaves, the checkpoint covers %d" % (len(leaves), size))
    if mth(leaves[:size]) != root:
        fail("the leaves do not give the checkpoint's root")
    print("ok: %d entries, signature and root verified" % size)


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    main()
