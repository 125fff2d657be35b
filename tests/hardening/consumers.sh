#!/usr/bin/env bash
# A downstream peer that disconnects: the relay's --peer P=FIFO reader takes
# 5 messages and closes. The relay logs once that the output is closed,
# goes on delivering (--deliver) and storing (--store) every one of the 100
# bulletins, and exits 0 with exact counters.
# Then a reader that keeps the fifo open but never reads, and a fifo nobody
# ever opens: each peer output is written by its own thread through a
# bounded queue, so neither stalls the relay; it delivers and stores all 100,
# and at the end waits a bounded time (10 s) for the peer before it exits 0.
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"

NOW=1700000000
export GOSSIP_NOW=$NOW
U=$(key user)
R=$(key relay)
P=$(key peer)
pad=$(head -c 2000 /dev/zero | tr "\\0" x) # 100 forwards overflow the 64 KiB pipe buffer
for i in $(seq 100); do "$G" bulletin new --topic chat "bulletin $i $pad"; done |
    "$G" hashcash -d 0 | "$G" sign -k user.key --to "$R" -d 0 >all.jsonl 2>make.log
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
echo "ok: consumers (closed reader)"

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
    echo "ok: consumers ($case reader, ended in $took s)"
done
