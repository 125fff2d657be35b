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
  `gossip open`;
- a relay forwarding between two original nodes;
- a relay syncing from an original node, and an original node syncing from
  a relay (a live relay, its stdin and stdout bridged to the Python nodes),
  the original nodes answering the sync operations with a small handler in
  the style of examples/logical.py (`SyncActionHandler` below: the
  example's ActionHandler acts only on store_and_forward and
  deliver_without_forward);
- two original nodes, one sending the other the dissemination extension's
  advertisement as a gossip node would: read as plain Content, answered
  with the full list; the extension's operation bytes unknown to the
  original's OpCodes.

Usage: original_mixed.py GOSSIP_BINARY [COUNT]. Prints the counts; exits 1
if any check failed, 77 if PyNaCl or the original is missing.
"""
import base64
import json
import os
import select
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
    from logical import (
        ActionHandler, BulletinHandler, MessageHandler, MessageSender, OpCodes)
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


class SyncActionHandler(ActionHandler):
    """examples/logical.py's ActionHandler, plus the sync operations in the
    same style: the example's MessageHandler queues them as actions with
    `topic` and `content` (Content(first id, the other ids)) or `content`
    (Content(id, b"")) alone; respond_content comes as a `bulletin`."""

    def handle(self, action):
        if action.name == OpCodes.request_sync_headers.name:
            self.respond_sync_headers(action)
        elif action.name == OpCodes.respond_sync_headers.name:
            self.request_content(action)
        elif action.name == OpCodes.request_content.name:
            self.respond_content(action)
        elif action.name == OpCodes.respond_content.name:
            self.deliver_without_forward(action)
        else:
            super().handle(action)

    adverts = 0  # requests whose Content carried a gossip extension advertisement

    def respond_sync_headers(self, action):
        topic = action.data["topic"]
        content = action.data.get("content")
        if content is not None and content.content.startswith(b"gossip-extensions:"):
            # The example's MessageHandler parsed the advertisement as an
            # ordinary Content; it plays no part in the answer.
            SyncActionHandler.adverts += 1
        ids = self.node._bulletin_handler.list(topic.id)
        self.node.send_message(
            action.data["src"], bytes(OpCodes.respond_sync_headers) + topic.id + b"".join(ids))

    def request_content(self, action):
        topic, content = action.data["topic"], action.data["content"]
        if content is None:
            return
        rest = content.content
        ids = [content.id] + [rest[i:i + 32] for i in range(0, len(rest), 32)]
        for cid in ids:
            if self.node._bulletin_handler.retrieve(topic.id, cid) is None:
                self.node.send_message(
                    action.data["src"], bytes(OpCodes.request_content) + Content(cid, b"").pack())

    def respond_content(self, action):
        content = action.data["content"]
        held = self.node._bulletin_handler.query({"=": {"content_id": content.id}})
        for bulletin in list(held)[:1]:
            self.node.send_message(
                action.data["src"], bytes(OpCodes.respond_content) + bytes(bulletin))


def sync_node(seed, topic):
    """An original node with the sync handler, following `topic`."""
    node = original_node(seed)
    node.register_action_handler(SyncActionHandler(node))
    node.subscribe(topic)
    return node


class LiveRelay:
    """A running `gossip relay`, wire format: what a bridge holds is written
    to its stdin; what it writes to stdout (its --peer outputs) is read back
    as packed messages."""

    def __init__(self, args, log):
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            [GOSSIP, "relay", "--format", "wire", "-q", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.buf = b""

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read(self, quiet=0.3, limit=10.0):
        """The messages written until stdout is quiet for `quiet` seconds."""
        out, deadline = [], time.time() + limit
        fd = self.proc.stdout.fileno()
        while time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], quiet)
            if not ready:
                break
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            self.buf += chunk
            while len(self.buf) >= 4:
                (n,) = struct.unpack("!I", self.buf[:4])
                if len(self.buf) < 4 + n:
                    break
                out.append(self.buf[4:4 + n])
                self.buf = self.buf[4 + n:]
        return out

    def close(self):
        # communicate() closes stdin and drains what the relay still writes,
        # so a relay with output nobody read cannot block on a full pipe
        # (what it held is then counted as missing).
        self.proc.communicate(timeout=60)
        code = self.proc.returncode
        self.log.close()
        return code


def exchange(relay, bridge, nodes, check, rounds=10):
    """Passes messages both ways until neither side has more."""
    by_address = {n.address: n for n in nodes}
    for _ in range(rounds):
        moved = 0
        for packed in relay.read():
            moved += 1
            try:
                m = Message.unpack(packed)
                by_address[m.dst].receive_message(m)
            except Exception as e:
                fail(check, f"unreadable by the original: {type(e).__name__}: {e}")
        for n in nodes:
            while n.action_count():
                n.process()
        if bridge.stdin:
            relay.write(bridge.stdin)
            bridge.stdin = b""
            moved += 1
        if not moved:
            return


def original_bulletins(topic, count, now, label):
    out = []
    for i in range(count):
        b = Bulletin(topic, Content.from_content(f"{label} {i}".encode()), now)
        out.append(b.hashcash())
    return out


def relay_syncs_from_original(tmp, now):
    """A relay started beside original node P asks it (request_sync_headers)
    for the followed topic; P answers with its content ids, the relay asks
    for each (request_content), P serves them (respond_content) and the
    relay delivers every one."""
    count = max(1, COUNT // 20)
    topic = Topic.from_descriptor(b"sync from python")
    relay_seed = os.urandom(32)
    relay_key = key_file(tmp, "sync_a.key", relay_seed)
    bridge = RelayBridge(NaclAdapter().get_address_from_seed(relay_seed))
    p = sync_node(os.urandom(32), topic)
    held = original_bulletins(topic, count, now, "held by python")
    for b in held:
        p.mark_as_seen(b)
    while p.action_count():
        p.process()
    connect(p, bridge)
    deliver = os.path.join(tmp, "sync_a.jsonl")
    relay = LiveRelay(
        ["-k", relay_key, "--bulletin-difficulty", str(BULLETIN_BITS),
         "--subscribe-id", topic.id.hex(), "--peer", p.address.hex(), "--deliver", deliver],
        os.path.join(tmp, "sync_a.log"))
    exchange(relay, bridge, [p], "relay syncs from python")
    code = relay.close()
    if code != 0:
        fail("relay syncs from python", f"relay exit {code}")
    got = set()
    if os.path.exists(deliver):
        for line in open(deliver):
            got.add(bytes.fromhex(json.loads(line)["content_id"]))
    missing = sum(b.content.id not in got for b in held)
    for _ in range(missing):
        fail("relay syncs from python", "a bulletin P holds was not delivered by the relay")
    # The relay advertised set reconciliation in its requests (it does by
    # default); P's classes read the advertisement as plain Content and
    # answered with full lists, and the relay never sent P a reconcile
    # (0x0b): OpCodes(0x0b) raises in P's MessageHandler, which would have
    # stopped exchange().
    if SyncActionHandler.adverts == 0:
        fail("relay syncs from python", "the relay's requests carried no extension advertisement")
    print(f"relay syncs from python: {count - missing} of {count} delivered, {missing} missing; "
          f"P read {SyncActionHandler.adverts} advertisements as plain Content and answered with full lists")


def original_ignores_dissemination_advert(now):
    """What a gossip node that speaks the dissemination extension sends an
    original node: request_sync_headers whose Content advertises
    `negentropy-v1,plumtree-v1` (the bytes of extensions::advert). P's
    classes read it as plain Content and answer with the full list; R
    fetches every id and ends with every bulletin. The extension's own
    operation bytes (0x0c announce, 0x0d graft, 0x0e prune) are not in the
    original's OpCodes (OpCodes(byte) raises, and would stop its
    MessageHandler), which is why they go only to peers that advertised."""
    count = max(1, COUNT // 20)
    topic = Topic.from_descriptor(b"dissemination advert")
    p, r = sync_node(os.urandom(32), topic), sync_node(os.urandom(32), topic)
    held = original_bulletins(topic, count, now, "held by P")
    for b in held:
        p.mark_as_seen(b)
    while p.action_count():
        p.process()
    connect(p, r)
    connect(r, p)
    advert = Content.from_content(b"gossip-extensions:negentropy-v1,plumtree-v1")
    before = SyncActionHandler.adverts
    try:
        r.send_message(p.address, bytes(OpCodes.request_sync_headers) + topic.id + advert.pack())
        for _ in range(100 * count):
            if not (p.action_count() or r.action_count()):
                break
            p.process()
            r.process()
    except Exception as e:  # the original raises on what it cannot read
        fail("original ignores the dissemination advert", f"{type(e).__name__}: {e}")
    if SyncActionHandler.adverts != before + 1:
        fail("original ignores the dissemination advert", "P did not read the advert as Content")
    seen = sum(b in r.content_seen for b in held)
    for _ in range(count - seen):
        fail("original ignores the dissemination advert", "R lacks a bulletin P holds")
    unknown = 0
    for byte in (0x0c, 0x0d, 0x0e):
        try:
            OpCodes(byte)
            fail("original ignores the dissemination advert", f"OpCodes knows {byte:#04x}")
        except ValueError:
            unknown += 1
    print(f"original ignores the dissemination advert: P answered it with the full list, "
          f"R holds {seen} of {count}; {unknown} of 3 extension operation bytes unknown "
          f"to the original's OpCodes")


def original_syncs_from_relay(tmp, now):
    """Original node Q asks a relay (request_sync_headers) for a topic whose
    bulletins the relay holds in its store; Q asks for each id it lacks and
    ends with every one in its content_seen."""
    count = max(1, COUNT // 20)
    topic = Topic.from_descriptor(b"sync from relay")
    relay_seed = os.urandom(32)
    relay_key = key_file(tmp, "sync_b.key", relay_seed)
    store = os.path.join(tmp, "sync_b.db")
    lines = b"".join(
        gossip("bulletin", "new", "--topic-id", topic.id.hex(), "--now", str(now),
               f"held by the relay {i}").stdout for i in range(count))
    mined = gossip("hashcash", "-d", str(BULLETIN_BITS), "--format", "wire", data=lines)
    held = [Bulletin.unpack(p) for p in frames(mined.stdout)]
    out = gossip("relay", "-k", relay_key, "--store", store, "--no-sync", "-q",
                 "--bulletin-difficulty", str(BULLETIN_BITS), data=mined.stdout)
    if out.returncode != 0 or len(held) != count:
        fail("python syncs from relay", f"store not filled: {out.stderr[:300]!r}")
    bridge = RelayBridge(NaclAdapter().get_address_from_seed(relay_seed))
    q = sync_node(os.urandom(32), topic)
    connect(q, bridge)
    relay = LiveRelay(
        ["-k", relay_key, "--store", store, "--no-sync",
         "--bulletin-difficulty", str(BULLETIN_BITS), "--peer", q.address.hex()],
        os.path.join(tmp, "sync_b.log"))
    q.send_message(bridge.address, bytes(OpCodes.request_sync_headers) + topic.id)
    while q.action_count():
        q.process()
    exchange(relay, bridge, [q], "python syncs from relay")
    code = relay.close()
    if code != 0:
        fail("python syncs from relay", f"relay exit {code}")
    seen = {b.content.id for b in q.content_seen}
    missing = sum(b.content.id not in seen for b in held)
    for _ in range(missing):
        fail("python syncs from relay", "a bulletin the relay holds is not in Q's content_seen")
    print(f"python syncs from relay: {count - missing} of {count} in Q's content_seen, "
          f"{missing} missing")


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
        relay_syncs_from_original(tmp, now)
        original_syncs_from_relay(tmp, now)
        original_ignores_dissemination_advert(now)

    total = sum(len(v) for v in failures.values())
    for check, whys in failures.items():
        print(f"  {check}: {len(whys)} failures, first: {whys[0]}")
    if total:
        print(f"original_mixed: {total} failures")
        sys.exit(1)
    print("original_mixed: all checks passed")


if __name__ == "__main__":
    main()
