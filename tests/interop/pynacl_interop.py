#!/usr/bin/env python3
"""Interoperability of the gossip binary with libsodium, through PyNaCl.

Usage: pynacl_interop.py PATH_TO_GOSSIP

(a) gossip makes keys and a signed, sealed message; PyNaCl opens the sealed
    box (the X25519 key converted from the Ed25519 seed) and verifies the
    Ed25519 signature over src || dst || body.
(b) PyNaCl builds a message (sealed box to a gossip key's address converted
    to X25519, signed with PyNaCl); gossip verifies and opens it.
(c) libsodium refuses every small-order address as a sealing target, and
    gossip refuses each one on every path that takes a destination.

Exits 0 when everything matches, 1 on any mismatch, 77 when PyNaCl is not
importable.
"""

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

try:
    import nacl.bindings
    import nacl.exceptions
    import nacl.public
    import nacl.signing
except ImportError as e:  # pragma: no cover - depends on the environment
    print(f"pynacl_interop: PyNaCl is not importable: {e}", file=sys.stderr)
    sys.exit(77)

FAILURES = []


def check(cond, what):
    """Records a mismatch instead of stopping, so every failure is reported."""
    if cond:
        print(f"ok: {what}")
    else:
        print(f"MISMATCH: {what}", file=sys.stderr)
        FAILURES.append(what)


class Gossip:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir

    def run(self, *args, stdin=b"", expect=0):
        env = {k: v for k, v in os.environ.items() if k not in ("GOSSIP_KEY", "GOSSIP_NOW")}
        p = subprocess.run(
            [self.binary, *args],
            input=stdin,
            capture_output=True,
            cwd=self.workdir,
            env=env,
            timeout=300,
        )
        err = p.stderr.decode(errors="replace")
        if "panicked" in err or "RUST_BACKTRACE" in err:
            check(False, f"gossip {' '.join(args)} panicked: {err}")
        if expect is not None and p.returncode != expect:
            check(False, f"gossip {' '.join(args)} exited {p.returncode}, expected {expect}: {err}")
        return p

    def out(self, *args, stdin=b"", expect=0):
        return self.run(*args, stdin=stdin, expect=expect).stdout


def seed_of(path):
    """The seed in a key file: its one non-comment, non-blank line."""
    with open(path) as f:
        lines = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
    assert len(lines) == 1, lines
    return bytes.fromhex(lines[0])


def curve_private(seed):
    """libsodium's crypto_sign_ed25519_sk_to_curve25519 of seed || pk."""
    sk = nacl.signing.SigningKey(seed)
    sk64 = seed + bytes(sk.verify_key)
    return nacl.public.PrivateKey(nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(sk64))


def curve_public(address):
    return nacl.public.PublicKey(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(address))


def pack_bulletin(b):
    return (
        bytes.fromhex(b["topic"])
        + bytes.fromhex(b["content_id"])
        + struct.pack(">II", b["ts"], b["nonce"])
        + base64.b64decode(b["content"])
    )


def pack_message(m):
    return (
        bytes.fromhex(m["dst"])
        + bytes.fromhex(m["src"])
        + struct.pack(">II", m["ts"], m["nonce"])
        + bytes.fromhex(m["sig"])
        + base64.b64decode(m["body"])
    )


def one_json(raw):
    lines = [l for l in raw.decode().splitlines() if l.strip()]
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def gossip_to_pynacl(g):
    """(a): gossip signs and seals, PyNaCl opens and verifies."""
    g.run("keygen", "-o", "a.key")
    g.run("keygen", "-o", "b.key")
    a_seed = seed_of(os.path.join(g.workdir, "a.key"))
    b_seed = seed_of(os.path.join(g.workdir, "b.key"))
    a_addr = bytes.fromhex(g.out("address", "-k", "a.key").decode().strip())
    b_addr = bytes.fromhex(g.out("address", "-k", "b.key").decode().strip())
    check(bytes(nacl.signing.SigningKey(a_seed).verify_key) == a_addr, "gossip address = PyNaCl verify key (a)")
    check(bytes(nacl.signing.SigningKey(b_seed).verify_key) == b_addr, "gossip address = PyNaCl verify key (b)")

    bulletin_json = g.out("bulletin", "new", "--topic", "chat", "hello from gossip")
    mined = g.out("hashcash", stdin=bulletin_json)
    bulletin = one_json(mined)
    packed_bulletin = g.out("pack", "--raw", stdin=mined)
    check(packed_bulletin == pack_bulletin(bulletin), "gossip pack --raw = Python packing of the bulletin")
    check(bytes.fromhex(bulletin["topic"]) == hashlib.sha256(b"chat").digest(), "topic id = SHA-256(descriptor)")
    check(
        bytes.fromhex(bulletin["content_id"]) == hashlib.sha256(b"hello from gossip").digest(),
        "content id = SHA-256(content)",
    )

    msg_raw = g.out("sign", "-k", "a.key", "--to", b_addr.hex(), stdin=mined)
    msg = one_json(msg_raw)
    src, dst = bytes.fromhex(msg["src"]), bytes.fromhex(msg["dst"])
    body, sig = base64.b64decode(msg["body"]), bytes.fromhex(msg["sig"])
    check(src == a_addr and dst == b_addr, "message src/dst are the two keys")

    try:
        nacl.signing.VerifyKey(src).verify(src + dst + body, sig)
        check(True, "PyNaCl verifies gossip's Ed25519 signature over src||dst||body")
    except nacl.exceptions.BadSignatureError:
        check(False, "PyNaCl verifies gossip's Ed25519 signature over src||dst||body")
    try:
        nacl.signing.VerifyKey(src).verify(dst + src + body, sig)
        check(False, "signature must not verify over dst||src||body")
    except nacl.exceptions.BadSignatureError:
        check(True, "signature does not verify over dst||src||body")

    try:
        plain = nacl.public.SealedBox(curve_private(b_seed)).decrypt(body)
    except nacl.exceptions.CryptoError as e:
        check(False, f"PyNaCl opens gossip's sealed box: {e}")
        return
    check(True, "PyNaCl opens gossip's sealed box")
    check(plain[:1] == b"\x00", "plaintext starts with store_and_forward (0x00)")
    check(plain[1:] == packed_bulletin, "plaintext carries the packed bulletin")
    try:
        nacl.public.SealedBox(curve_private(a_seed)).decrypt(body)
        check(False, "the sealed box must not open with the sender's key")
    except nacl.exceptions.CryptoError:
        check(True, "the sealed box does not open with the sender's key")

    # the wire form is the same bytes
    wire = g.out("pack", stdin=msg_raw)
    packed = pack_message(msg)
    check(wire == struct.pack(">I", len(packed)) + packed, "gossip wire frame = length || Python packing")


def pynacl_to_gossip(g):
    """(b): PyNaCl seals and signs, gossip verifies and opens."""
    if not os.path.exists(os.path.join(g.workdir, "b.key")):
        g.run("keygen", "-o", "b.key")
    b_addr = bytes.fromhex(g.out("address", "-k", "b.key").decode().strip())

    src_key = nacl.signing.SigningKey.generate()
    src = bytes(src_key.verify_key)
    # gossip reads a PyNaCl seed as a bare-hex key file
    path = os.path.join(g.workdir, "py.key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(bytes(src_key).hex() + "\n")
    check(g.out("address", "-k", "py.key").decode().strip() == src.hex(), "gossip address of a PyNaCl seed")

    content = b"hello from pynacl"
    now = int(time.time())
    bulletin = {
        "type": "bulletin",
        "topic": hashlib.sha256(b"interop").hexdigest(),
        "content_id": hashlib.sha256(content).hexdigest(),
        "ts": now,
        "nonce": 0,
        "content": base64.b64encode(content).decode(),
    }
    # gossip's hashcash mines the Python bulletin; only the nonce changes
    mined_raw = g.out("hashcash", stdin=(json.dumps(bulletin) + "\n").encode())
    mined = one_json(mined_raw)
    check(
        all(mined[k] == bulletin[k] for k in ("topic", "content_id", "ts", "content")),
        "hashcash changes only the nonce of a Python bulletin",
    )
    check(g.out("pack", "--raw", stdin=mined_raw) == pack_bulletin(mined), "gossip packs the Python bulletin the same")

    plain = b"\x00" + pack_bulletin(mined)
    body = nacl.public.SealedBox(curve_public(b_addr)).encrypt(plain)
    sig = src_key.sign(src + b_addr + body).signature
    message = {
        "type": "message",
        "dst": b_addr.hex(),
        "src": src.hex(),
        "ts": now,
        "nonce": 0,
        "sig": sig.hex(),
        "body": base64.b64encode(body).decode(),
    }
    msg_json = (json.dumps(message) + "\n").encode()
    packed = pack_message(message)
    msg_wire = struct.pack(">I", len(packed)) + packed

    # difficulty 0: the Python message as it is, json and wire
    for name, data in (("json", msg_json), ("wire", msg_wire)):
        out = g.out("verify", "-k", "b.key", "-d", "0", "--json", stdin=data)
        verdict = one_json(out)
        check(verdict["valid"] is True, f"gossip verify -d 0 accepts the PyNaCl message ({name}), failures {verdict['failures']}")
        check(verdict.get("op") == "store_and_forward", f"verdict names the operation ({name})")
        opened = g.out("open", "-k", "b.key", "-d", "0", stdin=data)
        check(one_json(opened) == mined, f"gossip open returns the bulletin ({name})")

    # gossip hashcash mines the message without touching the signature
    mined_msg_raw = g.out("hashcash", stdin=msg_json)
    mined_msg = one_json(mined_msg_raw)
    check(
        all(mined_msg[k] == message[k] for k in ("dst", "src", "ts", "sig", "body")),
        "hashcash changes only the message nonce",
    )
    out = g.out("verify", "-k", "b.key", stdin=mined_msg_raw)
    check(out == b"1 message: valid\n", f"gossip verify accepts the mined PyNaCl message: {out!r}")
    opened = g.out("open", "-k", "b.key", stdin=mined_msg_raw)
    check(one_json(opened) == mined, "gossip open returns the bulletin from the mined message")

    # and gossip says no when it should
    tampered = dict(message, body=base64.b64encode(body[:-1] + bytes([body[-1] ^ 1])).decode())
    out = g.run("verify", "-k", "b.key", "-d", "0", stdin=(json.dumps(tampered) + "\n").encode(), expect=1).stdout
    check(b"bad_signature" in out, f"a flipped body byte is a bad signature: {out!r}")
    g.run("keygen", "-o", "c.key")
    out = g.run("verify", "-k", "c.key", "-d", "0", stdin=msg_json, expect=1).stdout
    check(b"wrong_destination" in out, f"another key is the wrong destination: {out!r}")
    resigned = dict(message, sig=src_key.sign(b_addr + src + body).signature.hex())
    out = g.run("verify", "-k", "b.key", "-d", "0", stdin=(json.dumps(resigned) + "\n").encode(), expect=1).stdout
    check(b"bad_signature" in out, f"a signature over dst||src||body is refused: {out!r}")


# Every encoding of the eight torsion points, sign bit clear and set
# (libsodium's blocklist; ed..7f and ee..7f are the non-canonical y = p, p + 1).
SMALL_ORDER = [
    bytes(32),
    b"\x01" + bytes(31),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    b"\xec" + b"\xff" * 30 + b"\x7f",
    b"\xed" + b"\xff" * 30 + b"\x7f",
    b"\xee" + b"\xff" * 30 + b"\x7f",
]
SMALL_ORDER += [a[:31] + bytes([a[31] ^ 0x80]) for a in SMALL_ORDER]


def small_order_destinations(g):
    """(c): libsodium refuses every small-order address as a sealing target,
    and so does gossip, on every path that takes a destination (exit 2)."""
    g.run("keygen", "-o", "s.key")
    bulletin = g.out("bulletin", "new", "--topic", "chat", "--ts", "100", "hi")
    src = g.out("address", "-k", "s.key").decode().strip()
    for addr in SMALL_ORDER:
        try:
            nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(addr)
            check(False, f"libsodium converts small-order {addr.hex()}")
        except nacl.exceptions.RuntimeError:
            check(True, f"libsodium refuses small-order {addr.hex()}")
        h = addr.hex()
        for args in (
            ("sign", "-k", "s.key", "--to", h, "--difficulty", "0"),
            ("message", "new", "--from", src, "--to", h, "--ts", "200"),
            ("relay", "-k", "s.key", "--peer", h),
        ):
            p = g.run(*args, stdin=bulletin, expect=None)
            check(
                p.returncode == 2 and not p.stdout and b"small-order" in p.stderr,
                f"gossip {args[0]} refuses {h} (exit {p.returncode})",
            )
    # The X25519 images of the small-order points: libsodium's sealed box
    # refuses them (the shared secret would be all zero).
    for u in (bytes(32), b"\x01" + bytes(31), b"\xec" + b"\xff" * 30 + b"\x7f"):
        try:
            nacl.public.SealedBox(nacl.public.PublicKey(u)).encrypt(b"x")
            check(False, f"libsodium seals to X25519 {u.hex()}")
        except nacl.exceptions.CryptoError:
            check(True, f"libsodium refuses to seal to X25519 {u.hex()}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as workdir:
        g = Gossip(binary, workdir)
        gossip_to_pynacl(g)
        pynacl_to_gossip(g)
        small_order_destinations(g)
    if FAILURES:
        print(f"pynacl_interop: {len(FAILURES)} mismatch(es)", file=sys.stderr)
        return 1
    print("pynacl_interop: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
