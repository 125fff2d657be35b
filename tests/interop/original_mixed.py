#!/usr/bin/env python3
"""The original Python implementation's own classes (../shared/original, or
GOSSIP_ORIGINAL) against the gossip binary, both ways, counting every
failure:

- CLI-made bulletins (`bulletin new | hashcash`) read by the original's
  Bulletin.unpack and check_hash;
- CLI-made messages (`sign --to PY`) read by Message.unpack, check_hash,
  verify and decrypt (and the bulletin inside by Bulletin.unpack and
  check_hash);
- original-made messages (prepare_for_send) passing `gossip verify -k` and
  `gossip open`.

Usage: original_mixed.py GOSSIP_BINARY [COUNT]. Prints the counts; exits 1
if any check failed, 77 if PyNaCl or the original is missing.
"""
import base64
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ORIGINAL = os.environ.get(
    "GOSSIP_ORIGINAL", os.path.join(HERE, "..", "..", "..", "..", "shared", "original"))
if not os.path.isdir(os.path.join(ORIGINAL, "gossip")):
    ORIGINAL = "/work/shared/original"
sys.path.insert(0, ORIGINAL)
try:
    import nacl  # noqa: F401
    from gossip import misc
    from gossip.classes import (
        Action, Bulletin, Connection, Content, Message, Neighbor, Node, Topic, NaclAdapter)
    sys.modules["readline"] = type(sys)("readline")  # logical.py imports it
    sys.path.insert(0, os.path.join(ORIGINAL, "examples"))
    from logical import ActionHandler, BulletinHandler, MessageHandler, MessageSender
except ImportError as e:
    print(f"original classes not importable: {e}", file=sys.stderr)
    sys.exit(77)
misc.ENABLE_DEBUG = False
# The original's tapehash runs a few thousand hashes a second: bulletins use
# a low difficulty, set the original's own way (misc.set_difficulty, as its
# examples do); its check_hash is unchanged.
BULLETIN_BITS = 2
misc.set_difficulty(BULLETIN_BITS)

GOSSIP = sys.argv[1]
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 200
failures = {}


def fail(check, why):
    failures.setdefault(check, []).append(why)


def gossip(*args, data=b""):
    out = subprocess.run([GOSSIP, *args], input=data, capture_output=True)
    return out


def frames(stream):
    """Packed objects from a wire-format stream."""
    i, out = 0, []
    while i < len(stream):
        (n,) = struct.unpack("!I", stream[i:i + 4])
        out.append(stream[i + 4:i + 4 + n])
        i += 4 + n
    return out


def frame(packed):
    return struct.pack("!I", len(packed)) + packed


def key_file(tmp, name, seed):
    path = os.path.join(tmp, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(seed.hex() + "\n")
    return path


def original_reads_bulletin(packed, check):
    try:
        b = Bulletin.unpack(packed)
        if not b.check_hash():
            fail(check, "check_hash refused")
            return None
        b.get_header()
        return b
    except Exception as e:  # the original raises on what it cannot read
        fail(check, f"{type(e).__name__}: {e}")
        return None


class RelayBridge(Neighbor):
    """The relay as the original sees a neighbour: what the original sends
    it is framed for the relay's stdin."""

    def __init__(self, address):
        super().__init__(address)
        self.stdin = b""

    def receive_message(self, message):
        self.stdin += frame(message.pack())


def original_node(seed):
    """A node from the original's classes, wired as examples/logical.py does."""
    node = Node.from_seed(seed)
    node.register_action_handler(ActionHandler(node))
    node.register_bulletin_handler(BulletinHandler(node))
    node.register_message_handler(MessageHandler(node))
    node.register_message_sender(MessageSender(node))
    return node


def connect(node, other):
    c = Connection([node, other])
    c.data["difficulty"] = 1
    node.add_connection(c)


def relay_forwards(tmp, now):
    """Original node A publishes COUNT // 10 bulletins to a gossip relay;
    the relay forwards them to original node B, which must end with each in
    its content_seen."""
    count = max(1, COUNT // 10)
    relay_seed = os.urandom(32)
    relay_key = key_file(tmp, "relay.key", relay_seed)
    relay = RelayBridge(NaclAdapter().get_address_from_seed(relay_seed))
    a, b = original_node(os.urandom(32)), original_node(os.urandom(32))
    connect(a, relay)
    published = []
    for i in range(count):
        bulletin = Bulletin(Topic.from_descriptor(b"mixed"),
                            Content.from_content(f"relayed {i}".encode()), now)
        # What the example's MessageHandler queues for a store_and_forward
        # (Node.publish's body lacks the operation byte the handler reads).
        a.queue_action(Action("store_and_forward",
                              {"bulletin": bulletin.hashcash(), "src": a.address}))
        published.append(bulletin)
    for _ in range(20 * count):
        a.process()
    to_b = os.path.join(tmp, "to_b")
    out = subprocess.run(
        [GOSSIP, "relay", "-k", relay_key, "--no-sync", "-q",
         "--bulletin-difficulty", str(BULLETIN_BITS), "--format", "wire",
         "--peer", f"{a.address.hex()}={os.path.join(tmp, 'to_a')}",
         "--peer", f"{b.address.hex()}={to_b}"],
        input=relay.stdin, capture_output=True)
    if out.returncode != 0:
        fail("relay forwards", f"relay exit {out.returncode}: {out.stderr[:300]!r}")
    forwarded = frames(open(to_b, "rb").read()) if os.path.exists(to_b) else []
    for packed in forwarded:
        try:
            b.receive_message(Message.unpack(packed))
            for _ in range(4):
                b.process()
        except Exception as e:
            fail("relay forwards unreadable", f"{type(e).__name__}: {e}")
    seen = sum(x in b.content_seen for x in published)
    for _ in range(count - seen):
        fail("relay forwards missing", "a published bulletin is not in B's content_seen")
    print(f"relay forwards: {len(forwarded)} messages to B, "
          f"{len(failures.get('relay forwards unreadable', []))} unreadable by the original; "
          f"{seen} of {count} bulletins in B's content_seen, "
          f"{len(failures.get('relay forwards missing', []))} missing")


def main():
    adapter = NaclAdapter()
    now = int(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        cli_seed, py_seed = os.urandom(32), os.urandom(32)
        cli_key = key_file(tmp, "cli.key", cli_seed)
        py_key = key_file(tmp, "py.key", py_seed)
        cli_addr = adapter.get_address_from_seed(cli_seed)
        py_addr = adapter.get_address_from_seed(py_seed)

        # CLI-made bulletins, read by the original.
        lines = b"".join(
            gossip("bulletin", "new", "--topic", "mixed", "--now", str(now),
                   f"cli bulletin {i}").stdout for i in range(COUNT))
        mined = gossip("hashcash", "-d", str(BULLETIN_BITS), "--format", "wire", data=lines)
        bulletins = frames(mined.stdout)
        if len(bulletins) != COUNT:
            fail("cli bulletins", f"made {len(bulletins)} of {COUNT}: {mined.stderr!r}")
        accepted = sum(
            original_reads_bulletin(p, "cli bulletins") is not None for p in bulletins)
        print(f"cli bulletins: {accepted} of {COUNT} accepted by the original, "
              f"{len(failures.get('cli bulletins', []))} refused")

        # CLI-made messages to the Python node, read by the original.
        signed = gossip("sign", "-k", cli_key, "--to", py_addr.hex(), "--now", str(now),
                        "--format", "wire", data=mined.stdout)
        messages = frames(signed.stdout)
        if len(messages) != COUNT:
            fail("cli messages", f"made {len(messages)} of {COUNT}: {signed.stderr!r}")
        accepted = 0
        for packed in messages:
            try:
                m = Message.unpack(packed)
                m.get_header()
                if not m.check_hash():
                    fail("cli messages", "check_hash refused")
                elif not m.verify():
                    fail("cli messages", "verify refused")
                elif m.src != cli_addr or m.dst != py_addr:
                    fail("cli messages", "wrong src or dst")
                else:
                    m.decrypt(py_seed)
                    if m.body[:1] != b"\x00":
                        fail("cli messages", f"op {m.body[:1]!r}")
                    elif original_reads_bulletin(m.body[1:], "cli messages"):
                        accepted += 1
            except Exception as e:
                fail("cli messages", f"{type(e).__name__}: {e}")
        print(f"cli messages: {accepted} of {COUNT} accepted by the original, "
              f"{len(failures.get('cli messages', []))} refused")

        # Original-made messages, checked and opened by the CLI. Each carries
        # one of a few bulletins the original mined (its tapehash is slow).
        carried = []
        for i in range(10):
            content = f"py bulletin {i}".encode()
            b = Bulletin(Topic.from_descriptor(b"mixed"), Content.from_content(content), now)
            carried.append((content, b.hashcash()))
        stream = b""
        for i in range(COUNT):
            content, b = carried[i % len(carried)]
            m = Message(py_addr, cli_addr, b"\x00" + b.pack(), now)
            stream += frame(m.prepare_for_send(py_seed).pack())
        verdicts = gossip("verify", "-k", cli_key, "--bulletin-difficulty", str(BULLETIN_BITS),
                          "--json", "--type", "message", data=stream)
        passed = 0
        for line in verdicts.stdout.decode().splitlines():
            v = json.loads(line)
            if v.get("valid") is True:
                passed += 1
            else:
                fail("original messages verify", line)
        if passed + len(failures.get("original messages verify", [])) != COUNT:
            fail("original messages verify",
                 f"{passed} verdicts of {COUNT}: {verdicts.stderr!r}")
        print(f"original messages: {passed} of {COUNT} pass gossip verify -k, "
              f"{len(failures.get('original messages verify', []))} fail")
        opened = gossip("open", "-k", cli_key, "--bulletin-difficulty", str(BULLETIN_BITS),
                        data=stream)
        opened_lines = opened.stdout.decode().splitlines()
        good = 0
        for i, line in enumerate(opened_lines):
            o = json.loads(line)
            want = carried[i % len(carried)][0]
            if o.get("type") == "bulletin" and base64.b64decode(o["content"]) == want:
                good += 1
            else:
                fail("original messages open", line[:200])
        if len(opened_lines) != COUNT or opened.returncode != 0:
            fail("original messages open",
                 f"{len(opened_lines)} opened of {COUNT}, exit {opened.returncode}: "
                 f"{opened.stderr[:300]!r}")
        print(f"original messages: {good} of {COUNT} opened by gossip open, "
              f"{len(failures.get('original messages open', []))} fail")

        relay_forwards(tmp, now)

    total = sum(len(v) for v in failures.values())
    for check, whys in failures.items():
        print(f"  {check}: {len(whys)} failures, first: {whys[0]}")
    if total:
        print(f"original_mixed: {total} failures")
        sys.exit(1)
    print("original_mixed: all checks passed")


main()
