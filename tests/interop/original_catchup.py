#!/usr/bin/env python3
"""Issue 20 against the original: a late join of 20,000 bulletins over TCP
between a `gossip relay` and a node made of the original Python
implementation's own classes (../shared/original, imported unchanged) with
the example-style sync handler of original_mixed.py (SyncActionHandler).

- python to relay: original node P holds COUNT bulletins of a topic and
  listens on TCP; a relay started after dials it (--connect) following the
  topic, asks P for its ids (one respond_sync_headers with every id, as the
  example-style handler answers), asks for each, and must deliver each one
  once.
- relay to python: relay A holds COUNT bulletins (given over TCP); original
  node Q dials A's --listen, asks for the topic, takes A's pages one by one
  and asks for every id, and must end with each in its content_seen, none
  taken twice.

The bulletins are made and mined (difficulty 0) by the gossip CLI and read
with Bulletin.unpack: the original's tapehash runs about 2,000 hashes a
second. Each message either side sends is still mined to difficulty 1 and
checked by the original's receive_message.

Usage: original_catchup.py GOSSIP_BINARY [COUNT] [both|to-relay|to-python].
Prints the counts and timings; exits 1 if a check failed, 77 if PyNaCl or
the original is missing.
"""
import json
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
GOSSIP = sys.argv[1]
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
WHICH = sys.argv[3] if len(sys.argv) > 3 else "both"
sys.argv = [sys.argv[0], GOSSIP]  # what original_mixed reads at import
import original_mixed as om  # noqa: E402  (exits 77 when the original is missing)
from original_mixed import misc, Bulletin, Message, NaclAdapter, Neighbor, OpCodes, Topic  # noqa: E402

# Bulletins at difficulty 0 on both sides (the relay with
# --bulletin-difficulty 0), set the original's own way.
misc.set_difficulty(0)
DEADLINE = float(os.environ.get("DEADLINE", "600"))
failures = []


def fail(why):
    failures.append(why)
    print(f"FAIL: {why}", flush=True)


def gossip(*args, data=b""):
    out = subprocess.run([GOSSIP, *args], input=data, capture_output=True)
    if out.returncode != 0:
        raise SystemExit(f"gossip {args[0]} failed: {out.stderr[-500:]!r}")
    return out.stdout


def bulletin_lines(topic, count, label):
    now = int(time.time())
    lines = []
    for i in range(count):
        c = f"{label} {i}".encode()
        b = Bulletin(topic, om.Content.from_content(c), now, 0)
        lines.append(json.dumps({
            "type": "bulletin", "topic": topic.id.hex(), "content_id": b.content.id.hex(),
            "ts": now, "nonce": 0, "content": __import__("base64").b64encode(c).decode()}))
    return ("\n".join(lines) + "\n").encode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SocketBridge(Neighbor):
    """The relay as the original sees a neighbour: what the original sends
    it is framed for the TCP connection."""

    def __init__(self, address):
        super().__init__(address)
        self.out = bytearray()

    def receive_message(self, message):
        self.out += om.frame(message.pack())


class Link:
    """One TCP connection between an original node and a relay, pumped by
    hand: frames read are given to the node's receive_message, the node
    runs until idle, and what it sent is written back."""

    def __init__(self, sock, node, bridge):
        self.sock, self.node, self.bridge = sock, node, bridge
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.received = 0
        self.closed = False

    def pump(self, timeout=0.2):
        want_write = bool(self.bridge.out)
        r, w, _ = select.select([self.sock], [self.sock] if want_write else [], [], timeout)
        if w:
            try:
                n = self.sock.send(self.bridge.out)
                del self.bridge.out[:n]
            except BlockingIOError:
                pass
        if r:
            try:
                chunk = self.sock.recv(1 << 20)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                self.closed = True
            elif chunk:
                self.buf += chunk
        while len(self.buf) >= 4:
            (n,) = struct.unpack("!I", self.buf[:4])
            if len(self.buf) < 4 + n:
                break
            packed = bytes(self.buf[4:4 + n])
            del self.buf[:4 + n]
            self.received += 1
            try:
                self.node.receive_message(Message.unpack(packed))
            except Exception as e:  # the original raises on what it cannot read
                fail(f"a relay message the original cannot read: {type(e).__name__}: {e}")
        while self.node.action_count():
            self.node.process()


def lines(path):
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def stop(proc, name):
    proc.terminate()
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = "killed"
    if code != 0:
        fail(f"{name} exited {code} after SIGTERM")


def counters(log):
    line = [x for x in open(log).read().splitlines() if x.startswith("gossip: relay: received=")]
    if not line:
        return {}
    return dict(kv.split("=", 1) for kv in line[-1].split()[2:] if "=" in kv)


def relay_catches_up_from_python(tmp):
    topic = Topic.from_descriptor(b"catch up from python")
    t0 = time.time()
    mined = gossip("hashcash", "-d", "0", "--format", "wire",
                   data=bulletin_lines(topic, COUNT, "held by python"))
    held = [Bulletin.unpack(p) for p in om.frames(mined)]
    p = om.sync_node(os.urandom(32), topic)
    for b in held:
        p.mark_as_seen(b)
    while p.action_count():
        p.process()
    relay_seed = os.urandom(32)
    relay_key = om.key_file(tmp, "r.key", relay_seed)
    bridge = SocketBridge(NaclAdapter().get_address_from_seed(relay_seed))
    om.connect(p, bridge)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    deliver = os.path.join(tmp, "r.out")
    log = os.path.join(tmp, "r.log")
    t1 = time.time()
    relay = subprocess.Popen(
        [GOSSIP, "relay", "-k", relay_key, "--bulletin-difficulty", "0",
         "--subscribe-id", topic.id.hex(), "--deliver", deliver,
         "--connect", f"{p.address.hex()}@127.0.0.1:{port}/1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    try:
        server.settimeout(30)
        sock, _ = server.accept()
        link = Link(sock, p, bridge)
        end = time.time() + DEADLINE
        while lines(deliver) < COUNT and time.time() < end and not link.closed:
            link.pump()
        t2 = time.time()
    finally:
        stop(relay, "the relay")
    got = [json.loads(x)["content_id"] for x in open(deliver)] if os.path.exists(deliver) else []
    want = {b.content.id.hex() for b in held}
    missing = len(want - set(got))
    twice = len(got) - len(set(got))
    c = counters(log)
    if missing:
        fail(f"python to relay: {missing} of {COUNT} not delivered by the relay")
    if twice:
        fail(f"python to relay: {twice} delivered more than once")
    for name in ("unsolicited", "over_cap"):
        if c.get(name, "0") != "0":
            fail(f"python to relay: the relay counted {name}={c.get(name)}")
    print(f"python to relay: {len(set(got) & want)} of {COUNT} delivered, {missing} missing, "
          f"{twice} twice; {link.received} messages from the relay; setup {t1 - t0:.1f} s, "
          f"catch-up {t2 - t1:.1f} s", flush=True)


def python_catches_up_from_relay(tmp):
    topic = Topic.from_descriptor(b"catch up from the relay")
    a_seed, u_seed = os.urandom(32), os.urandom(32)
    a_key = om.key_file(tmp, "a.key", a_seed)
    u_key = om.key_file(tmp, "u.key", u_seed)
    a_addr = NaclAdapter().get_address_from_seed(a_seed)
    q = om.sync_node(os.urandom(32), topic)
    pu, pq = free_port(), free_port()
    deliver = os.path.join(tmp, "a.out")
    log = os.path.join(tmp, "a.log")
    t0 = time.time()
    # The user publishes at message difficulty 0 on one listener; Q, whose
    # receive_message asks difficulty 1 of everything, dials the other.
    relay = subprocess.Popen(
        [GOSSIP, "relay", "-k", a_key, "--bulletin-difficulty", "0",
         "--subscribe-id", topic.id.hex(), "--deliver", deliver,
         "--listen", f"127.0.0.1:{pu}/0", "--listen", f"127.0.0.1:{pq}/1",
         "--trust", q.address.hex()],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    try:
        mined = gossip("hashcash", "-d", "0", data=bulletin_lines(topic, COUNT, "held by the relay"))
        signed = gossip("sign", "-d", "0", "-k", u_key, "--to", a_addr.hex(), "--format", "wire",
                        data=mined)
        held = {json.loads(x)["content_id"] for x in mined.decode().splitlines()}
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", pu)) as s:
                    s.sendall(signed)
                    s.shutdown(socket.SHUT_WR)
                    # Read until the relay closes (it may send a sync
                    # request first): closing with unread data resets the
                    # connection, and the relay drops what it had not read.
                    while s.recv(1 << 16):
                        pass
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        end = time.time() + DEADLINE
        while lines(deliver) < COUNT and time.time() < end:
            time.sleep(0.1)
        if lines(deliver) < COUNT:
            fail(f"relay to python: the relay took {lines(deliver)} of {COUNT}")
        t1 = time.time()
        bridge = SocketBridge(a_addr)
        om.connect(q, bridge)
        sock = socket.create_connection(("127.0.0.1", pq))
        link = Link(sock, q, bridge)
        q.send_message(a_addr, bytes(OpCodes.request_sync_headers) + topic.id)
        while q.action_count():
            q.process()

        def have():
            return sum(b.topic.id == topic.id for b in q.content_seen)

        while have() < COUNT and time.time() < end and not link.closed:
            link.pump()
        t2 = time.time()
        sock.close()
    finally:
        stop(relay, "the relay")
    seen = [b.content.id.hex() for b in q.content_seen if b.topic.id == topic.id]
    missing = len(held - set(seen))
    stored = len(q._bulletin_handler.list(topic.id))
    c = counters(log)
    if missing:
        fail(f"relay to python: {missing} of {COUNT} not in Q's content_seen")
    if stored != COUNT:
        fail(f"relay to python: Q's store holds {stored} of {COUNT}")
    if c.get("over_cap", "0") != "0":
        fail(f"relay to python: the relay counted over_cap={c.get('over_cap')}")
    print(f"relay to python: {COUNT - missing} of {COUNT} in Q's content_seen, {missing} missing, "
          f"{stored} in its store; {link.received} messages from the relay; setup {t1 - t0:.1f} s, "
          f"catch-up {t2 - t1:.1f} s", flush=True)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        if WHICH in ("both", "to-relay"):
            relay_catches_up_from_python(tmp)
        if WHICH in ("both", "to-python"):
            python_catches_up_from_relay(tmp)
    if failures:
        print(f"original_catchup: {len(failures)} failures")
        sys.exit(1)
    print("original_catchup: all checks passed")


main()
