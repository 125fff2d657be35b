#!/usr/bin/env python3
"""Hostile TCP peers for the relay's end-to-end scripts (stdlib only).

Each mode talks to a relay at 127.0.0.1:PORT and writes what it saw to an
OUT file, one line per connection or event, so the calling script can wait
for a condition on it. Waits give up after DEADLINE seconds (the
environment variable, as in lib.sh; `read` and `hold` after ten times
that); the calling script kills what it no longer needs.

  stall PORT OUT N KIND ANNOUNCE SEND
      N connections at once. KIND frame: each sends a 4-byte big-endian
      length prefix announcing ANNOUNCE bytes, then SEND bytes of it; KIND
      json: each sends the start of a message line and SEND bytes of
      base64 characters, no newline. Sends block when the relay stops
      reading (timeouts on the socket keep each thread responsive). Once
      all is sent, each waits for the relay to close it. Per connection:
      `blocked I BYTES` when a send first made no progress for 1 s, or
      `sent_all I` when all went out; then, once closed,
      `conn I sent BYTES closed_after SECS HOW`. The last line is
      `done TOTAL_BYTES`.
  refused PORT OUT ANNOUNCE
      One connection announcing ANNOUNCE bytes, then up to 1 MiB of them;
      waits for the relay to close it: `closed_after SECS sent BYTES HOW`.
  silent PORT OUT N
      N connections that send nothing: `opened N`, then for each
      `closed I SECS HOW` when the relay closes it (HOW `deadline` if it
      did not).
  trickle PORT OUT WIRE INTERVAL GIVE_UP
      Sends the wire frames in file WIRE (to bind the connection), then a
      length prefix announcing 1 MiB and one byte every INTERVAL seconds,
      never finishing it; `trickling` once it starts, then
      `closed_after SECS bytes N HOW` when the relay closes it (HOW
      `deadline` if it did not within GIVE_UP seconds).
  peer PORT OUT WIRE RCVBUF
      Sets SO_RCVBUF to RCVBUF (0: the default), connects, sends the wire
      frames in WIRE, then never reads: `sent` once done, `closed` when the
      relay closes it (the process runs until killed).
  read PORT OUT WIRE
      Connects, sends the wire frames in WIRE, then reads everything the
      relay sends into OUT (appending, as it comes) until killed or closed.
  pace PORT OUT WIRE INTERVAL
      Connects, sends the wire frames in WIRE one at a time, INTERVAL
      seconds apart (a peer at a normal rate): `sent N` once all are out,
      then holds the connection (runs until killed).
  hold PORT OUT N
      Opens up to N connections one after another, each kept open; one line
      `open I` or `failed I WHY` per attempt, then `held N` (runs until
      killed).

  With SRC=ADDRESS in the environment, every connection is made from that
  local address (127.0.0.2, say: Linux routes all of 127/8 to lo), so one
  run of the relay sees several IP addresses.

  count FILE MIN
      Not a peer: prints how many whole wire frames in FILE (what `read`
      wrote) are at least MIN bytes long.
"""

import os
import socket
import struct
import sys
import threading
import time

DEADLINE = float(os.environ.get("DEADLINE", "20"))
HOST = "127.0.0.1"
SRC = os.environ.get("SRC")
CHUNK = 64 << 10

_out_lock = threading.Lock()


def note(out, line):
    with _out_lock:
        with open(out, "a") as f:
            f.write(line + "\n")


def connect(port, rcvbuf=0, timeout=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if SRC:
        s.bind((SRC, 0))
    s.settimeout(timeout)
    s.connect((HOST, port))
    return s


def send_some(s, data, end, blocked=None):
    """Sends data until all is out, the peer closes, or end; returns
    (bytes sent, how it ended). Calls blocked(sent) the first time a send
    makes no progress for the socket's timeout (the peer stopped reading)."""
    sent = 0
    view = memoryview(data)
    while sent < len(data):
        if time.monotonic() > end:
            return sent, "deadline"
        try:
            sent += s.send(view[sent : sent + CHUNK])
        except socket.timeout:
            if blocked is not None:
                blocked(sent)
                blocked = None
            continue
        except OSError as e:
            return sent, "closed:" + (e.strerror or str(e)).replace(" ", "_")
    return sent, "all"


def wait_closed(s, end, read_into=None):
    """Reads until the peer closes (or end); returns how it ended."""
    while time.monotonic() < end:
        try:
            got = s.recv(CHUNK)
        except socket.timeout:
            continue
        except OSError as e:
            return "closed:" + (e.strerror or str(e)).replace(" ", "_")
        if not got:
            return "closed:eof"
        if read_into is not None:
            read_into(got)
    return "deadline"


def stall(port, out, n, kind, announce, send):
    n, announce, send = int(n), int(announce), int(send)
    if kind == "frame":
        head = struct.pack(">I", announce)
        filler = b"\x5a" * send
    elif kind == "json":
        head = b'{"type":"message","body":"'
        filler = b"QUJD" * (send // 4)
    else:
        sys.exit("stall: KIND is frame or json")
    data = head + filler
    start = time.monotonic()
    end = start + DEADLINE
    totals = [0] * n

    def one(i):
        try:
            s = connect(port)
        except OSError as e:
            note(out, f"conn {i} sent 0 closed_after 0 connect_failed:{e.errno}")
            return
        sent, how = send_some(s, data, end, lambda n: note(out, f"blocked {i} {n}"))
        totals[i] = sent
        if how == "all":
            note(out, f"sent_all {i}")
            how = wait_closed(s, end)
        note(out, f"conn {i} sent {sent} closed_after {time.monotonic() - start:.2f} {how}")
        s.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    note(out, f"done {sum(totals)}")


def refused(port, out, announce):
    announce = int(announce)
    data = struct.pack(">I", announce) + b"\x5a" * min(announce, 1 << 20)
    start = time.monotonic()
    end = start + DEADLINE
    s = connect(port)
    sent, how = send_some(s, data, end)
    if how == "all":
        how = wait_closed(s, end)
    note(out, f"closed_after {time.monotonic() - start:.2f} sent {sent} {how}")


def silent(port, out, n):
    start = time.monotonic()
    end = start + DEADLINE
    socks = [connect(port) for _ in range(int(n))]
    note(out, f"opened {len(socks)}")

    def one(i, s):
        how = wait_closed(s, end)
        note(out, f"closed {i} {time.monotonic() - start:.2f} {how}")

    threads = [threading.Thread(target=one, args=(i, s), daemon=True) for i, s in enumerate(socks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(DEADLINE)


def trickle(port, out, wire, interval, give_up):
    interval = float(interval)
    s = connect(port)
    with open(wire, "rb") as f:
        s.sendall(f.read())
    s.sendall(struct.pack(">I", 1 << 20))
    note(out, "trickling")
    start = time.monotonic()
    end = start + min(DEADLINE, float(give_up))
    sent = 0
    how = "deadline"
    while time.monotonic() < end:
        try:
            s.send(b"\x5a")
            sent += 1
        except OSError as e:
            how = "closed:" + (e.strerror or str(e)).replace(" ", "_")
            break
        # the relay's close shows as EOF (or a reset) between bytes
        s.settimeout(interval)
        try:
            got = s.recv(CHUNK)
            if not got:
                how = "closed:eof"
                break
        except socket.timeout:
            pass
        except OSError as e:
            how = "closed:" + (e.strerror or str(e)).replace(" ", "_")
            break
    note(out, f"closed_after {time.monotonic() - start:.2f} bytes {sent} {how}")


def peer(port, out, wire, rcvbuf):
    s = connect(port, int(rcvbuf))
    with open(wire, "rb") as f:
        s.sendall(f.read())
    note(out, "sent")
    # never read: watch the socket's error state (a reset from the relay)
    # without taking its data, until killed
    while True:
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            note(out, f"closed {err}")
            break
        time.sleep(0.2)
    time.sleep(DEADLINE)


def read(port, out, wire):
    s = connect(port)
    with open(wire, "rb") as f:
        s.sendall(f.read())
    end = time.monotonic() + 10 * DEADLINE
    with open(out, "ab", buffering=0) as f:
        wait_closed(s, end, f.write)


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at + 4 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        yield data[at : at + 4 + length]
        at += 4 + length


def pace(port, out, wire, interval):
    s = connect(port)
    n = 0
    for frame in frames(wire):
        if n:
            time.sleep(float(interval))
        s.sendall(frame)
        n += 1
    note(out, f"sent {n}")
    time.sleep(10 * DEADLINE)


def hold(port, out, n):
    socks = []
    for i in range(int(n)):
        try:
            socks.append(connect(port))
            note(out, f"open {i}")
        except OSError as e:
            note(out, f"failed {i} {e.errno}")
    note(out, f"held {len(socks)}")
    time.sleep(10 * DEADLINE)


def count(path, least):
    least = int(least)
    with open(path, "rb") as f:
        data = f.read()
    at, n = 0, 0
    while at + 4 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if at + 4 + length > len(data):
            break
        n += length >= least
        at += 4 + length
    print(n)


MODES = {
    "stall": stall,
    "refused": refused,
    "silent": silent,
    "trickle": trickle,
    "peer": peer,
    "read": read,
    "pace": pace,
    "hold": hold,
}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in list(MODES) + ["count"]:
        sys.exit(__doc__)
    mode, *rest = sys.argv[1:]
    if mode == "count":
        count(*rest)
    else:
        MODES[mode](int(rest[0]), *rest[1:])
