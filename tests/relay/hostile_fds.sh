#!/usr/bin/env bash
# Issue 18, item 12: a relay out of file descriptors.
#
# A relay runs under `ulimit -n 64` with `--max-connections 200` (so the
# descriptors run out first), and 120 connections are opened to it and
# held. Once it has failed to take at least 20 of them (from its status
# line, printed every second), it is stopped: its counters show the
# connections it could not take as refused and no dial failure (it dials
# nothing), and at most 3 lines of its log say it ran out of descriptors
# (one per 10 s, with a count, not one per attempt). Before that, the held
# connections are closed and a publisher's bulletin is delivered: the relay
# recovers.
set -euo pipefail
HOSTILE="python3 $(cd "$(dirname "$0")" && pwd)/hostile.py"
source "$(dirname "$0")/lib.sh" "$@"

R=$(key relay)
U=$(key user)
pick_port
P=$PORT
(
    ulimit -n 64
    exec "$G" relay -k relay.key --listen "127.0.0.1:$P" --subscribe chat --deliver delivered.txt \
        --max-connections 200 --status-every 1 </dev/null >r.stdout 2>r.log
) & track
RP=$!
wait_for "the relay to listen" listening "$P"
$HOSTILE hold "$P" hold.out 120 & track
H=$!
wait_for "the 120 connections to be opened" grep -qs '^held ' hold.out

# status FIELD: the field from the relay's last JSON status line (0 before)
status() {
    grep '^{' r.log | tail -n 1 |
        python3 -c 'import json, sys; l = sys.stdin.read(); print(json.loads(l)["counters"].get(sys.argv[1], 0) if l else 0)' "$1"
}
# (a relay that counts the failures as dial failures ends the wait too)
pressed() { [ "$(status connections_refused)" -ge 20 ] || [ "$(status dial_failures)" -ge 10 ]; }
wait_for "the relay to fail to take 20 connections" pressed

kill "$H"
wait "$H" 2>/dev/null || true
"$G" bulletin new --topic chat "after the flood" | "$G" hashcash | "$G" sign -k user.key --to "$R" |
    "$G" pack | nc -N 127.0.0.1 "$P" >/dev/null
wait_for "the relay to deliver a bulletin after the flood" has_lines delivered.txt 1

kill -TERM "$RP"
wait_exit "$RP" "the relay"
net=$(grep 'gossip: relay: network:' r.log | tail -n 1)
echo "$net"
reports=$(grep -v '^{' r.log | grep -c 'Too many open files' || true)
echo "log lines about running out of descriptors: $reports"
field() { printf '%s\n' "$net" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
[ "$(field dial_failures)" = 0 ] || fail "connections the relay could not take counted as dial failures: $net"
[ "$(field connections_refused)" -ge 20 ] || fail "expected 20 or more connections refused: $net"
[ "$reports" -le 3 ] || fail "$reports log lines about running out of descriptors, expected at most 3: $(grep -v '^{' r.log | grep 'Too many open files' | head -n 3)"
echo "ok: hostile_fds"
