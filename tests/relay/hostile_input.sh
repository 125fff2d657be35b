#!/usr/bin/env bash
# Issue 18, item 2: input held on TCP stays within the relay's one 32 MiB
# input bound, counted from a frame's or a line's first byte.
#
# 1. Twelve connections at once, none finishing what it sends: eight
#    announce a wire frame of 20 MiB and send 16 MiB of it, four send the
#    start of a JSON message line and 16 MiB of base64 characters with no
#    newline (192 MiB offered). The relay applies backpressure: once every
#    sender is blocked (or done), the relay's peak RSS (VmHWM) is under its
#    own base (measured after a first delivery) plus STALL_MARGIN KiB. A
#    relay that buffers whatever comes holds all 192 MiB.
# 2. `--idle-timeout 4` closes all twelve (no whole message in 4 s, however
#    many bytes came), counted as idle; the peak over the whole run, closes
#    included, stays under base plus RUN_MARGIN KiB; a publisher's bulletin
#    sent after them is delivered.
# 3. A frame announcing 63 MiB (over the 24 MiB a connection may send) is
#    refused from its length prefix: closed at once (well before the idle
#    timeout), logged as `not a message stream` and counted as junk.
#
# Every check runs; the script fails at the end with all that did not hold.
set -euo pipefail
HOSTILE="python3 $(cd "$(dirname "$0")" && pwd)/hostile.py"
source "$(dirname "$0")/lib.sh" "$@"

# While stalled: the 32 MiB bound + 12 connections x 128 KiB (a 64 KiB
# read past the bound and a 64 KiB read buffer) + 14.5 MiB for thread
# stacks and allocator slack. Measured here: 34-37 MiB over the base.
STALL_MARGIN=${STALL_MARGIN:-49152}
# Over the run: when the idle timeouts close the connections one after
# another, what each frees of the bound is taken at once by those still
# open while freed memory is not all back with the kernel yet. Measured
# here: 35-68 MiB over the base; allowed: two and a half times the bound.
# A relay without the bound takes all 192 MiB.
RUN_MARGIN=${RUN_MARGIN:-81920}
PROBLEMS=()
problem() {
    echo "problem: $*" >&2
    PROBLEMS+=("$*")
}

R=$(key relay)
U=$(key user)

publish() {
    "$G" bulletin new --topic chat "$1" | "$G" hashcash | "$G" sign -k user.key --to "$R" |
        "$G" pack | nc -N 127.0.0.1 "$P" >/dev/null
}

pick_port
P=$PORT
"$G" relay -k relay.key --listen "127.0.0.1:$P" --subscribe chat --deliver d.out \
    --idle-timeout 4 </dev/null >r.stdout 2>r.log & track
RP=$!
wait_for "the relay to listen" listening "$P"
publish "before the attack"
wait_for "the first delivery" has_lines d.out 1
vmhwm() { awk '/^VmHWM:/ {print $2}' "/proc/$RP/status"; }
base=$(vmhwm)

# --- 1 and 2: twelve unfinished frames and lines at once
$HOSTILE stall "$P" frames.out 8 frame $((20 << 20)) $((16 << 20)) & track
F=$!
$HOSTILE stall "$P" lines.out 4 json 0 $((16 << 20)) & track
J=$!
stalled() { [ "$(cat frames.out lines.out 2>/dev/null | grep -cE '^(blocked|sent_all) ')" = 12 ]; }
# Under load (CI, two busy cores) 12 senders can take more than the
# default 20 s to fill their windows; the condition itself is the test.
DEADLINE=60 wait_for "the 12 senders to be blocked or done" stalled
stall_peak=$(vmhwm)
blocked=$(cat frames.out lines.out | grep -c '^blocked ' || true)
wait_exit "$F" "the frame senders"
wait_exit "$J" "the line senders"
peak=$(vmhwm)
taken=$(awk '/^done / {s += $2} END {print int(s / 1048576)}' frames.out lines.out)
echo "12 unfinished inputs: $blocked senders blocked; peak RSS $stall_peak KiB stalled," \
    "$peak KiB over the run, base $base KiB; $taken MiB taken by the kernel and the relay"
[ "$stall_peak" -lt $((base + STALL_MARGIN)) ] ||
    problem "peak RSS $stall_peak KiB with 12 stalled 16 MiB inputs, over base $base + $STALL_MARGIN KiB"
[ "$peak" -lt $((base + RUN_MARGIN)) ] ||
    problem "peak RSS $peak KiB over the run, over base $base + $RUN_MARGIN KiB"
closed=$(grep -c '^conn .* closed:' frames.out lines.out | awk -F: '{s += $2} END {print s}')
[ "$closed" = 12 ] || problem "the relay closed $closed of the 12 stalled connections: $(cat frames.out lines.out)"
publish "after the stall"
wait_for "the bulletin sent after the stall" has_lines d.out 2

# --- 3: a frame announcing 63 MiB
$HOSTILE refused "$P" big.out $((63 << 20)) & track
wait_exit "$!" "the 63 MiB sender"
after=$(awk '{print $2}' big.out)
echo "63 MiB announced: $(cat big.out)"
awk -v t="$after" 'BEGIN {exit !(t < 3)}' ||
    problem "a frame announcing 63 MiB was closed after ${after}s, not at once: $(cat big.out)"
# (the twelve stalled connections' ends are logged before it)
ended() { [ "$(grep -c ': closed: ' r.log)" -ge 13 ]; }
wait_for "the relay to log the 63 MiB connection's end" ended
grep -q 'closed: not a message stream' r.log ||
    problem "the 63 MiB frame was not refused as junk: $(tail -n 1 r.log)"

kill -TERM "$RP"
wait_exit "$RP" "the relay"
[ "$EXIT_RC" = 0 ] || problem "the relay exited $EXIT_RC after SIGTERM"
net=$(grep 'gossip: relay: network:' r.log | tail -n 1)
grep -q ' connections_junk=1 ' <<<"$net" || problem "expected connections_junk=1: $net"
grep -q ' connections_idle=12 ' <<<"$net" || problem "expected connections_idle=12: $net"
[ "$(lines d.out)" = 2 ] || problem "delivered $(lines d.out) bulletins, expected 2"

[ ${#PROBLEMS[@]} = 0 ] || fail "$(printf '%s; ' "${PROBLEMS[@]}")"
echo "ok: hostile_input"
