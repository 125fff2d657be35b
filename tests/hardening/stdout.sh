#!/usr/bin/env bash
# The relay's stdout blocks, never drops, and never holds the relay's loop.
# 100 bulletins of about 2 KB come on stdin, each forwarded to a peer with
# no file of its own (--peer P: to stdout) and delivered to a file; stdout's
# queue is bounded at 64 KiB.
# 1. A reader that takes nothing until the relay has started, then all:
#    every forward reaches it (none unsent), however long it took after
#    stdin ended.
# 2. A reader that never reads, and stdin that never ends: the relay takes
#    no more input once stdout holds its bound, yet its timers run (its
#    status line keeps coming) and it answers SIGTERM. It ends in order: it
#    waits a bounded time (10 s) for stdout, exits 0, says how many
#    messages stdout did not take, and counts exactly those as unsent:
#    what the pipe holds plus what is unsent is what was forwarded.
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"

NOW=1700000000
export GOSSIP_NOW=$NOW
U=$(key user)
R=$(key relay)
P=$(key peer)
padded_messages "$R" all.jsonl

# --- 1. a late reader gets every forward
mkfifo late.fifo
sh -c 'while [ ! -e go ]; do sleep 0.05; done; exec cat' <late.fifo >late.out & track
"$G" relay -k relay.key --peer "$P" --subscribe chat --deliver d1.out -d 0 --bulletin-difficulty 0 \
    --no-sync <all.jsonl >late.fifo 2>late.log & track
RELAY=$!
wait_for "the relay to deliver" has_lines d1.out 1
touch go
wait_exit "$RELAY" "the relay (late reader)"
[ "$EXIT_RC" = 0 ] || fail "late: relay exited $EXIT_RC: $(cat late.log)"
wait_for "the reader to take every forward" has_lines late.out 100
expect_counter late.log forwarded 100
expect_counter late.log unsent 0
[ "$(lines late.out)" = 100 ] || fail "late: $(lines late.out) forwards on stdout, expected 100"
echo "ok: stdout (late reader, 100 of 100)"

# --- 2. a reader that never reads
mkfifo stalled.fifo in.fifo
exec 5<>stalled.fifo # holds the fifo open for reading, reads nothing until the relay ends
exec 6<>in.fifo      # holds the relay's stdin open: it never ends
"$G" relay -k relay.key --peer "$P" --subscribe chat --deliver d2.out -d 0 --bulletin-difficulty 0 \
    --no-sync --status-every 1 <in.fifo >stalled.fifo 2>stalled.log & track
RELAY=$!
cat all.jsonl >in.fifo & track
# status LOG NAME: NAME in LOG's last status line (0 before the first).
status() {
    { grep '"type":"relay_status"' "$1" || true; } | tail -n 1 |
        python3 -c 'import json,sys
line = sys.stdin.read().strip()
print(json.loads(line)["counters"].get(sys.argv[1], 0) if line else 0)' "$2"
}
# The relay runs on (its status line keeps coming) while stdout is full.
statuses() { grep -c '"type":"relay_status"' stalled.log || true; }
more_statuses() { [ "$(statuses)" -gt "$1" ]; }
wait_for "a status line" more_statuses 0
wait_for "another status line" more_statuses "$(statuses)"
received=$(status stalled.log received)
kill -TERM "$RELAY"
start=$SECONDS
wait_exit "$RELAY" "the relay (stalled reader) after SIGTERM"
took=$((SECONDS - start))
[ "$EXIT_RC" = 0 ] || fail "stalled: relay exited $EXIT_RC: $(cat stalled.log)"
[ "$took" -le 15 ] || fail "stalled: the relay took $took s to end after SIGTERM"
held=$(python3 -c 'import os
os.set_blocking(5, False)
n = 0
try:
    while True:
        b = os.read(5, 1 << 16)
        if not b:
            break
        n += b.count(b"\n")
except BlockingIOError:
    pass
print(n)')
exec 5<&- 6<&-
forwarded=$(counter stalled.log forwarded)
unsent=$(counter stalled.log unsent)
told=$(sed -n 's/.*did not take the last \([0-9]*\) messages in time.*/\1/p' stalled.log | tail -n 1)
[ -n "$told" ] || fail "stalled: no log line about stdout's last messages: $(grep -v relay_status stalled.log)"
[ "$told" = "$unsent" ] || fail "stalled: told $told unwritten, counted unsent=$unsent"
[ $((held + unsent)) = "$forwarded" ] ||
    fail "stalled: $held forwards in the pipe + unsent=$unsent != forwarded=$forwarded"
[ "$unsent" -gt 0 ] || fail "stalled: nothing unsent, yet the reader took nothing"
echo "ok: stdout (stalled reader: took $received inputs, ended $took s after SIGTERM, $held in the pipe, unsent=$unsent)"
