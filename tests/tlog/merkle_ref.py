#!/usr/bin/python3
"""Independent check of renkei_tlog against RFC 9162 and the C2SP formats.

Written from the text of RFC 9162 (section 2.1: MTH, PATH, SUBPROOF and the
verification algorithms of 2.1.3.2 and 2.1.4.2), c2sp.org/signed-note and
c2sp.org/tlog-checkpoint, with hashlib and PyNaCl only: it shares no code
with the C library.

Usage: merkle_ref.py PATH/TO/tlog_vectors

Runs the program, recomputes every root and proof it prints, compares them
line by line, verifies each with this file's own verifiers, checks that
altered proofs fail, and verifies the signed checkpoint.
"""

import base64
import datetime
import hashlib
import subprocess
import sys

import nacl.exceptions
import nacl.signing

N_MAX = 300
CHECKPOINT_TIME = 1711962000  # 2024-04-01T09:00:00Z


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(entry):
    return sha256(b"\x00" + entry)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def largest_pow2_below(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Tree:
    """D[0:N_MAX] with memoised MTH(D[lo:hi]); every D[0:n] is a prefix."""

    def __init__(self, entries):
        self.leaves = [leaf_hash(e) for e in entries]
        self.memo = {}

    def mth(self, lo, hi):
        """RFC 9162 2.1.1: MTH of the entries D[lo:hi]."""
        if hi == lo:
            return sha256(b"")
        if hi - lo == 1:
            return self.leaves[lo]
        key = (lo, hi)
        if key not in self.memo:
            k = largest_pow2_below(hi - lo)
            self.memo[key] = node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))
        return self.memo[key]

    def path(self, m, lo, hi):
        """RFC 9162 2.1.3.1: PATH(m, D[lo:hi])."""
        n = hi - lo
        if n == 1:
            return []
        k = largest_pow2_below(n)
        if m < k:
            return self.path(m, lo, lo + k) + [self.mth(lo + k, hi)]
        return self.path(m - k, lo + k, hi) + [self.mth(lo, lo + k)]

    def subproof(self, m, lo, hi, b):
        """RFC 9162 2.1.4.1: SUBPROOF(m, D[lo:hi], b)."""
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = largest_pow2_below(n)
        if m <= k:
            return self.subproof(m, lo, lo + k, b) + [self.mth(lo + k, hi)]
        return self.subproof(m - k, lo + k, hi, False) + [self.mth(lo, lo + k)]

    def proof(self, m, n):
        """RFC 9162 2.1.4.1: PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
        return self.subproof(m, 0, n, True)


def verify_inclusion(leaf_index, tree_size, h, inclusion_path, root_hash):
    """RFC 9162 2.1.3.2."""
    if leaf_index >= tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = h
    for p in inclusion_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(first, second, first_hash, second_hash, consistency_path):
    """RFC 9162 2.1.4.2, for 0 < first < second."""
    if not 0 < first < second:
        return False
    if not consistency_path:
        return False
    path = list(consistency_path)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def split_proof(text):
    if text == "-":
        return []
    raw = bytes.fromhex(text)
    if len(raw) % 32:
        raise ValueError("proof length is not a multiple of 32 bytes")
    return [raw[i:i + 32] for i in range(0, len(raw), 32)]


def flipped(proof, i):
    bad = list(proof)
    bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
    return bad


class Checker:
    def __init__(self):
        self.errors = []

    def fail(self, msg):
        self.errors.append(msg)
        if len(self.errors) <= 20:
            print("MISMATCH: " + msg, file=sys.stderr)


def check_note(chk, fields, tree):
    """c2sp.org/signed-note + c2sp.org/tlog-checkpoint, Ed25519 (type 0x01)."""
    seed = bytes.fromhex(fields["seed"])
    origin = fields["origin"]
    name = fields["keyname"]
    pk = bytes(nacl.signing.SigningKey(seed).verify_key)
    key_id = sha256(name.encode() + b"\x0a" + b"\x01" + pk)[:4]

    want_vkey = "%s+%s+%s" % (name, key_id.hex(), base64.b64encode(b"\x01" + pk).decode())
    if fields["vkey"] != want_vkey:
        chk.fail("vkey %r, expected %r" % (fields["vkey"], want_vkey))

    note = base64.b64decode(fields["note"], validate=True)
    text = note.decode("utf-8")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        chk.fail("note contains control characters")
    sep = note.rfind(b"\n\n")
    if sep < 0:
        chk.fail("note has no blank line")
        return
    body, sigs = note[:sep + 1], note[sep + 2:]
    lines = sigs.decode().split("\n")
    if lines[-1] != "" or len(lines) < 2:
        chk.fail("signature block does not end in a newline")
    good = 0
    for line in lines[:-1]:
        if not line.startswith("\u2014 "):
            chk.fail("signature line without em dash: %r" % line)
            continue
        sig_name, _, sig_b64 = line[2:].partition(" ")
        raw = base64.b64decode(sig_b64, validate=True)
        if base64.b64encode(raw).decode() != sig_b64:
            chk.fail("signature base64 not canonical")
        if sig_name != name or raw[:4] != key_id:
            continue
        try:
            nacl.signing.VerifyKey(pk).verify(body, raw[4:])
            good += 1
        except nacl.exceptions.BadSignatureError:
            chk.fail("checkpoint signature does not verify")
    if good != 1:
        chk.fail("expected exactly one valid signature by %s, found %d" % (name, good))

    # Altered bodies must not verify under the same signature.
    for altered in (body.replace(b"\n%d\n" % N_MAX, b"\n%d\n" % (N_MAX - 1)), body[:-1] + b"X\n"):
        try:
            nacl.signing.VerifyKey(pk).verify(altered, raw[4:])
            chk.fail("altered checkpoint body still verifies")
        except nacl.exceptions.BadSignatureError:
            pass

    blines = body.decode().split("\n")
    if blines[-1] != "":
        chk.fail("note text does not end in a newline")
    blines = blines[:-1]
    when = datetime.datetime.fromtimestamp(CHECKPOINT_TIME, datetime.timezone.utc)
    want = [origin, str(N_MAX), base64.b64encode(tree.mth(0, N_MAX)).decode(),
            "renkei-time " + when.strftime("%Y-%m-%dT%H:%M:%SZ")]
    if blines != want:
        chk.fail("checkpoint body %r, expected %r" % (blines, want))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    run = subprocess.run([sys.argv[1]], stdout=subprocess.PIPE, check=False)
    if run.returncode != 0:
        print("tlog_vectors exited with status %d" % run.returncode, file=sys.stderr)
        return 1

    tree = Tree([b"entry-%d" % i for i in range(N_MAX)])
    chk = Checker()
    roots = {0: sha256(b"")}
    seen_incl = set()
    seen_cons = set()
    fields = {}
    ended = False
    proofs = 0

    for line in run.stdout.decode("ascii").split("\n"):
        if not line:
            continue
        word, _, rest = line.partition(" ")
        if word == "root":
            n_s, h = rest.split(" ")
            n = int(n_s)
            roots[n] = tree.mth(0, n)
            if h != roots[n].hex():
                chk.fail("root of size %d" % n)
        elif word == "incl":
            n_s, i_s, p = rest.split(" ")
            n, i = int(n_s), int(i_s)
            seen_incl.add((n, i))
            want = tree.path(i, 0, n)
            got = split_proof(p)
            if got != want:
                chk.fail("inclusion proof of %d in size %d" % (i, n))
            if not verify_inclusion(i, n, tree.leaves[i], got, roots[n]):
                chk.fail("inclusion proof of %d in size %d does not verify" % (i, n))
            # Spot checks that this verifier does refuse altered proofs.
            if got and (n * 31 + i) % 7 == 0:
                if verify_inclusion(i, n, tree.leaves[i], flipped(got, i % len(got)), roots[n]):
                    chk.fail("altered inclusion proof %d/%d verifies" % (i, n))
                if verify_inclusion(i, n, tree.leaves[(i + 1) % n], got, roots[n]):
                    chk.fail("inclusion proof %d/%d verifies another leaf" % (i, n))
            proofs += 1
        elif word == "cons":
            m_s, n_s, p = rest.split(" ")
            m, n = int(m_s), int(n_s)
            seen_cons.add((m, n))
            want = tree.proof(m, n)
            got = split_proof(p)
            if got != want:
                chk.fail("consistency proof %d -> %d" % (m, n))
            if not verify_consistency(m, n, roots[m], roots[n], got):
                chk.fail("consistency proof %d -> %d does not verify" % (m, n))
            if (n * 31 + m) % 7 == 0:
                if verify_consistency(m, n, roots[m], roots[n], flipped(got, m % len(got))):
                    chk.fail("altered consistency proof %d -> %d verifies" % (m, n))
                if verify_consistency(m, n, roots[m - 1], roots[n], got):
                    chk.fail("consistency proof %d -> %d verifies a wrong old root" % (m, n))
            proofs += 1
        elif word in ("seed", "origin", "keyname", "vkey", "note"):
            fields[word] = rest
        elif word == "end":
            ended = True
        else:
            chk.fail("unexpected line %r" % line[:60])

    if not ended:
        chk.fail("output ended early (no 'end' line)")
    want_incl = {(n, i) for n in range(1, N_MAX + 1) for i in range(n)}
    want_cons = {(m, n) for n in range(1, N_MAX + 1) for m in range(1, n)}
    if seen_incl != want_incl:
        chk.fail("%d inclusion proofs missing" % len(want_incl - seen_incl))
    if seen_cons != want_cons:
        chk.fail("%d consistency proofs missing" % len(want_cons - seen_cons))
    if len(roots) != N_MAX + 1:
        chk.fail("%d roots missing" % (N_MAX + 1 - len(roots)))
    if set(fields) != {"seed", "origin", "keyname", "vkey", "note"}:
        chk.fail("checkpoint fields missing: %s" % sorted(fields))
    else:
        check_note(chk, fields, tree)

    if chk.errors:
        print("%d mismatches" % len(chk.errors), file=sys.stderr)
        return 1
    print("ok: %d roots, %d proofs and 1 signed checkpoint agree with RFC 9162 / C2SP"
          % (len(roots) - 1, proofs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
