#!/usr/bin/env bash
# A downstream peer that disconnects: the relay's --peer P=FIFO reader takes
# 5 messages and closes. The relay logs once that the output is closed,
# goes on delivering (--deliver) and storing (--store) every one of the 100
# bulletins, and exits 0 with exact counters.
# Then a reader that keeps the fifo open but never reads, and a fifo nobody
# ever opens: each peer output is written by its own thread through a
# bounded queue, so neither stalls the relay; it delivers and stores all 100,
# and at the end waits a bounded time (10 s) for the peer before it exits 0.
# Every forward the peer's output did not take is counted as unsent: all 100
# when the fifo is never opened, all but what the pipe buffer held when the
# reader stalls. Last, a stalled reader and a queue of 64 KiB
# (--send-queue): the peer's queue fills, the relay drops (one log line)
# and counts the rest.
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"

NOW=1700000000
export GOSSIP_NOW=$NOW
U=$(key user)
R=$(key relay)
P=$(key peer)
padded_messages "$R" all.jsonl
mkfifo peer.fifo
head -n 5 <peer.fifo >peer.out & track
READER=$!
"$G" relay -k relay.key --peer "$P=peer.fifo" --store s.db --subscribe chat --deliver d.out \
    -d 0 --bulletin-difficulty 0 --no-sync <all.jsonl >/dev/null 2>r.log & track
RELAY=$!
wait_exit "$RELAY" "the relay"
[ "$EXIT_RC" = 0 ] || fail "relay exited $EXIT_RC: $(cat r.log)"
wait_exit "$READER" "the reader"
[ "$(lines peer.out)" = 5 ] || fail "the reader got $(lines peer.out) messages"
[ "$(grep -c 'no more output there' r.log)" = 1 ] || fail "expected one 'no more output there' log line: $(cat r.log)"
! grep -q panicked r.log || fail "panic"
expect_counter r.log received 100
expect_counter r.log delivered 100
expect_counter r.log forwarded 100
[ "$(lines d.out)" = 100 ] || fail "delivered $(lines d.out) of 100"
[ "$("$G" store list --store s.db | wc -l)" = 100 ] || fail "stored $("$G" store list --store s.db | wc -l) of 100"
unsent=$(counter r.log unsent)
[ "$unsent" -ge 1 ] && [ "$unsent" -le 95 ] || fail "closed reader: unsent=$unsent, expected 1..95"
echo "ok: consumers (closed reader, unsent=$unsent)"

# at_least_unsent LOG INPUT: every forward the pipe buffer (64 KiB) could not
# hold is counted as unsent. A forward is as long as its input line (the
# same bulletin sealed to another peer).
at_least_unsent() {
    local shortest unsent forwarded
    shortest=$(awk '{ print length($0) + 1 }' "$2" | sort -n | head -n 1)
    forwarded=$(counter "$1" forwarded)
    unsent=$(counter "$1" unsent)
    [ "$unsent" -le "$forwarded" ] && [ "$unsent" -ge $((forwarded - 65536 / shortest)) ] ||
        fail "${1##*/}: unsent=$unsent of forwarded=$forwarded, expected at least $((forwarded - 65536 / shortest))"
}

for case in stalled unopened; do
    rm -f d.out s.db
    mkfifo "$case.fifo"
    if [ "$case" = stalled ]; then
        sleep 60 <"$case.fifo" & track # opens the fifo, never reads it
    fi
    start=$(date +%s)
    "$G" relay -k relay.key --peer "$P=$case.fifo" --store s.db --subscribe chat --deliver d.out \
        -d 0 --bulletin-difficulty 0 --no-sync <all.jsonl >/dev/null 2>"$case.log" & track
    RELAY=$!
    wait_for "$case: 100 deliveries" has_lines d.out 100
    wait_exit "$RELAY" "the relay ($case)"
    [ "$EXIT_RC" = 0 ] || fail "$case: relay exited $EXIT_RC: $(cat "$case.log")"
    took=$(($(date +%s) - start))
    [ "$took" -le 15 ] || fail "$case: the relay took $took s to end"
    grep -q "peer did not take its last messages in time" "$case.log" || fail "$case: no log line about the peer: $(cat "$case.log")"
    expect_counter "$case.log" delivered 100
    expect_counter "$case.log" forwarded 100
    [ "$("$G" store list --store s.db | wc -l)" = 100 ] || fail "$case: the store lacks bulletins"
    if [ "$case" = unopened ]; then
        expect_counter "$case.log" unsent 100
    else
        at_least_unsent "$case.log" all.jsonl
    fi
    echo "ok: consumers ($case reader, ended in $took s, unsent=$(counter "$case.log" unsent))"
done

# A stalled reader and 400 small messages arriving one at a time (about
# 200 KB): the peer's queue is bounded in bytes (--send-queue 65536), so it
# fills however the relay batches them. (It was 256 batches: under load
# the relay read many messages per batch and the queue never filled.)
for i in $(seq 400); do "$G" bulletin new --topic chat "small $i"; done |
    "$G" hashcash -d 0 | "$G" sign -k user.key --to "$R" -d 0 >small.jsonl 2>make.log
rm -f d.out s.db
mkfifo full.fifo
sleep 60 <full.fifo & track
mkfifo slow.fifo
while IFS= read -r line; do printf '%s\n' "$line"; sleep 0.004; done <small.jsonl >slow.fifo & track
"$G" relay -k relay.key --peer "$P=full.fifo" --subscribe chat --deliver d.out \
    -d 0 --bulletin-difficulty 0 --no-sync --send-queue 65536 <slow.fifo >/dev/null 2>full.log & track
RELAY=$!
DEADLINE=40 wait_exit "$RELAY" "the relay (full queue)"
[ "$EXIT_RC" = 0 ] || fail "full: relay exited $EXIT_RC: $(cat full.log)"
[ "$(grep -c 'peer is not reading; dropping its messages' full.log)" -ge 1 ] ||
    fail "full: no log line about dropping: $(cat full.log)"
expect_counter full.log delivered 400
expect_counter full.log forwarded 400
at_least_unsent full.log small.jsonl
echo "ok: consumers (full queue, unsent=$(counter full.log unsent))"
