#!/usr/bin/env bash
# SIGUSR1 while the relay starts: it rotates the delivery code, never dies.
#
# The relay installs its signal handlers before anything that takes time
# (the key, the store, the delivery file). A watcher starts the relay and
# sends SIGUSR1 the moment the relay has any of its files open, while it
# is still opening the store and reading a delivery file with a 32 MiB torn
# tail; five starts in a row. Each must report the rotation, then end in
# order on SIGTERM (exit 0); exit 138 is SIGUSR1's default action, the
# handler not yet installed.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

key relay >/dev/null
python3 - "$G" "$DEADLINE" <<'PY' || fail "SIGUSR1 at start"
import os, signal, subprocess, sys, time
g, deadline = sys.argv[1], float(sys.argv[2])
ours = {os.path.abspath(p) for p in ("relay.key", "s.db", "d.deliver")}

def opened(pid):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in ours:
                return True
        except OSError:
            pass
    return False

def wait(what, cond):
    end = time.time() + deadline
    while not cond():
        if time.time() > end:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.0005)

for run in range(1, 6):
    for f in ("s.db", "s.db-wal", "s.db-shm"):
        if os.path.exists(f):
            os.remove(f)
    with open("d.deliver", "wb") as d:
        d.write(b"{" + b"x" * (32 << 20))
    log = open(f"run{run}.log", "wb")
    p = subprocess.Popen(
        [g, "relay", "-k", "relay.key", "--store", "s.db", "--deliver", "d.deliver", "--no-sync"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
    wait("the relay to open its files", lambda: opened(p.pid) or p.poll() is not None)
    try:
        os.kill(p.pid, signal.SIGUSR1)
    except ProcessLookupError:
        pass
    wait("the rotation", lambda: p.poll() is not None
         or b"delivery code rotated (SIGUSR1)" in open(f"run{run}.log", "rb").read())
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=deadline)
    except subprocess.TimeoutExpired:
        p.kill()
        sys.exit(f"run {run}: the relay did not end on SIGTERM")
    err = open(f"run{run}.log", "rb").read().decode(errors="replace")
    if rc != 0:
        sys.exit(f"run {run}: exit {rc} (-10 or 138: killed by SIGUSR1)\n{err}")
    if "delivery code rotated (SIGUSR1)" not in err:
        sys.exit(f"run {run}: no rotation reported\n{err}")
print("5 starts, each signalled while opening its files: rotated, exit 0")
PY
echo "ok: early_signal"
