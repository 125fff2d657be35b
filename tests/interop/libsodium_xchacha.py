#!/usr/bin/env python3
"""The XChaCha20-Poly1305 sealed-box suite against libsodium itself.

libsodium's crypto_box_curve25519xchacha20poly1305_seal (loaded with ctypes
from the system's libsodium.so.23: PyNaCl does not bind it) must open what
`gossip encrypt --cipher xchacha20poly1305` seals, and gossip must open what
libsodium seals. Usage: libsodium_xchacha.py GOSSIP_BINARY. Exits 77 when no
libsodium is found, 1 on any mismatch.
"""
import base64
import ctypes
import ctypes.util
import json
import os
import subprocess
import sys
import tempfile

gossip = sys.argv[1]
name = ctypes.util.find_library("sodium") or "libsodium.so.23"
try:
    na = ctypes.CDLL(name)
except OSError as e:
    print(f"libsodium not found: {e}", file=sys.stderr)
    sys.exit(77)
assert na.sodium_init() >= 0
SEALBYTES = 32 + 16


def run(*args, stdin=b""):
    p = subprocess.run([gossip, *args], input=stdin, capture_output=True)
    if p.returncode != 0:
        raise SystemExit(f"gossip {' '.join(args)} failed: {p.stderr.decode()}")
    return p.stdout


def curve_keys(seed_hex):
    seed = bytes.fromhex(seed_hex)
    pk, sk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(64)
    assert na.crypto_sign_seed_keypair(pk, sk, seed) == 0
    xpk, xsk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(32)
    assert na.crypto_sign_ed25519_pk_to_curve25519(xpk, pk) == 0
    assert na.crypto_sign_ed25519_sk_to_curve25519(xsk, sk) == 0
    return pk.raw, xpk.raw, xsk.raw


failures = []
with tempfile.TemporaryDirectory() as d:
    key = os.path.join(d, "b.key")
    run("keygen", "-o", key)
    seed_hex = [l for l in open(key).read().splitlines() if l and not l.startswith("#")][0]
    address, xpk, xsk = curve_keys(seed_hex)
    assert address.hex() == run("address", "-k", key).decode().strip()

    # gossip seals, libsodium opens.
    bulletin = run("bulletin", "new", "--topic", "chat", "--ts", "1764000000", "xchacha interop")
    msg = run("message", "new", "--to", address.hex(), "--from", address.hex(), "--ts", "1764000000", stdin=bulletin)
    sealed = json.loads(run("encrypt", "--cipher", "xchacha20poly1305", stdin=msg))
    plain = json.loads(msg)
    body = base64.b64decode(sealed["body"])
    out = ctypes.create_string_buffer(len(body) - SEALBYTES)
    rc = na.crypto_box_curve25519xchacha20poly1305_seal_open(out, body, ctypes.c_ulonglong(len(body)), xpk, xsk)
    if rc != 0:
        failures.append("libsodium could not open gossip's xchacha20poly1305 sealed box")
    elif out.raw != base64.b64decode(plain["body"]):
        failures.append("libsodium opened gossip's sealed box to different bytes")
    # ... and the default suite is not the XChaCha one.
    salsa = base64.b64decode(json.loads(run("encrypt", stdin=msg))["body"])
    out2 = ctypes.create_string_buffer(len(salsa) - SEALBYTES)
    if na.crypto_box_curve25519xchacha20poly1305_seal_open(out2, salsa, ctypes.c_ulonglong(len(salsa)), xpk, xsk) == 0:
        failures.append("the default suite opened as xchacha20poly1305")

    # libsodium seals, gossip opens.
    mine = base64.b64decode(plain["body"])
    c = ctypes.create_string_buffer(len(mine) + SEALBYTES)
    assert na.crypto_box_curve25519xchacha20poly1305_seal(c, mine, ctypes.c_ulonglong(len(mine)), xpk) == 0
    theirs = dict(plain, body=base64.b64encode(c.raw).decode())
    opened = json.loads(run("decrypt", "-k", key, stdin=(json.dumps(theirs) + "\n").encode()))
    if base64.b64decode(opened["body"]) != mine:
        failures.append("gossip decrypt opened libsodium's xchacha sealed box to different bytes")

for f in failures:
    print("FAIL:", f)
if failures:
    sys.exit(1)
print("libsodium_xchacha: all checks passed")
