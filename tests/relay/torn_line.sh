#!/usr/bin/env bash
# A real `kill -9` in the middle of a delivery write, then a restart.
#
# The relay delivers a few large bulletins (each a multi-megabyte line) to
# --deliver with --store. A watcher polls the delivery file and sends
# SIGKILL the moment the file does not end in a newline, that is while a
# line is being written; the kernel stops the write there and leaves a
# torn last line. Relay and watcher share one CPU, so the watcher often
# runs while the relay is preempted in the middle of a write; a round whose
# write finished before the signal is tried again, up to 8 times.
# The relay restarted on the same store and file must cut the torn line
# (saying so) before it recovers, so that afterwards every line of the file
# is a whole bulletin and each bulletin is in it exactly once.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

R=$(key relay)
# The relay and the watcher share one CPU, so the watcher often runs while
# the relay is preempted in the middle of a write.
CPU=$(taskset -cp $$ | sed 's/.*: *//; s/[-,].*//')
N=2
for i in $(seq "$N"); do
    head -c 6000000 /dev/urandom | base64 -w0 >"c$i.txt"
    "$G" bulletin new --topic chat -f "c$i.txt" | "$G" hashcash -d 0
done >all.in 2>make.log
[ "$(lines all.in)" = "$N" ] || fail "made $(lines all.in) bulletins"

relay() { # relay LOG: runs in a subshell, which becomes the relay (so $! is its pid)
    exec taskset -c "$CPU" "$G" relay -k relay.key --store s.db --bulletin-difficulty 0 --subscribe chat \
        --deliver d.deliver --no-sync <all.in >/dev/null 2>"$1"
}

# kill_mid_line PID FILE: SIGKILL PID once FILE does not end in a newline;
# prints "torn" if it sent the signal, "ended" if PID ended first.
kill_mid_line() {
    taskset -c "$CPU" python3 - "$1" "$2" <<'PY'
import os, sys, signal
pid, path = int(sys.argv[1]), sys.argv[2]
while True:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        fd = None
    if fd is not None:
        size = os.fstat(fd).st_size
        last = os.pread(fd, 1, size - 1) if size else b"\n"
        os.close(fd)
        if last != b"\n":
            os.kill(pid, signal.SIGKILL)
            print("torn")
            break
    try:
        os.kill(pid, 0)
        if open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z":
            raise ProcessLookupError
    except ProcessLookupError:
        print("ended")
        break
PY
}

torn=0
for attempt in $(seq 8); do
    rm -f s.db s.db-wal s.db-shm d.deliver
    relay "run1-$attempt.log" &
    track
    pid=$!
    what=$(kill_mid_line "$pid" d.deliver)
    exec 5>&2 2>/dev/null
    wait_exit "$pid" "the first relay"
    exec 2>&5 5>&-
    if [ "$what" = torn ] && [ -s d.deliver ] && [ "$(tail -c 1 d.deliver | od -An -c | tr -d ' ')" != '\n' ]; then
        torn=$attempt
        break
    fi
done
[ "$torn" -gt 0 ] || fail "no kill landed in the middle of a write in 8 tries"
whole=$(lines d.deliver)
echo "attempt $torn: killed with $whole whole lines and a torn one of $(($(wc -c <d.deliver) - $(head -n "$whole" d.deliver | wc -c))) bytes"

(relay run2.log) || fail "the restarted relay failed: $(cat run2.log)"
python3 - d.deliver "$N" <<'PY' || fail "the delivery file is not whole after the restart"
import json, sys
ids = []
with open(sys.argv[1], "rb") as f:
    for n, line in enumerate(f, 1):
        ids.append(json.loads(line)["content_id"])
assert len(ids) == int(sys.argv[2]) == len(set(ids)), ids
PY
grep -q 'cut a torn last line' run2.log || fail "the restart did not report the torn line: $(cat run2.log)"
echo "ok: torn_line (every bulletin once, every line whole)"
