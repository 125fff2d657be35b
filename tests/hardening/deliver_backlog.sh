#!/usr/bin/env bash
# Deliveries a --deliver file cannot take, without --store: bounded in
# memory, never dropped without a word. No root needed: /dev/full fails
# every write with ENOSPC, like a full disk.
#
# 112 bulletins of about 1.4 MiB each (157 MiB of delivery lines; 112 MiB
# of input, more than the relay may hold: 32 MiB in flight, 32 MiB of held
# lines and one batch past it) on a stdin that stays open, delivered to /dev/full. The relay defers (one line),
# holds the lines up to its 32 MiB bound, then says it reads no more input
# and stops reading: the writer of its stdin stays blocked, and the held
# deliveries stay near the bound (deliveries_pending in --metrics, at
# most 32 MiB and the lines of one batch, whose bulletins are within the
# 32 MiB of input in flight). On SIGTERM it ends with exit 4, one
# error line and a hint that says how many deliveries were not written.
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"

N=112
R=$(key relay)
for i in $(seq "$N"); do
    head -c 786432 /dev/urandom | base64 -w0 >c.txt
    "$G" bulletin new --topic chat -f c.txt
done | "$G" hashcash -d 0 >b.in 2>make.log
[ "$(lines b.in)" = "$N" ] || fail "made $(lines b.in) bulletins"
line=$(($(wc -c <b.in) / N))

mkfifo in.fifo
exec 5<>in.fifo
"$G" relay -k relay.key --bulletin-difficulty 0 --subscribe chat --no-sync --deliver /dev/full \
    --metrics m.prom <in.fifo >/dev/null 2>relay.log 5>&- & track
relay=$!
cat b.in >&5 & track
writer=$!
wait_for "the relay to defer deliveries" grep -q 'deliveries deferred (.*held in memory)' relay.log
wait_for "the relay to stop reading at its bound" grep -q 'reading no more input until it takes them' relay.log
gauge() { sed -n 's/^gossip_relay_deliveries_pending //p' m.prom 2>/dev/null; }
held() { [ -n "$(gauge)" ] && [ "$(gauge)" -gt 0 ]; }
wait_for "deliveries_pending in --metrics" held
pending=$(gauge)
# 32 MiB and what one batch can add past it: bulletins within the 32 MiB
# in flight, whose lines carry their content in base64, a third longer.
limit=$((((32 << 20) + (32 << 20) * 4 / 3) / line + 1))
[ "$pending" -lt "$limit" ] || fail "held $pending deliveries of $line bytes, past the 32 MiB bound"
[ "$pending" -ge $(((32 << 20) / line)) ] || fail "held $pending deliveries, short of the bound yet not reading"
kill -0 "$writer" 2>/dev/null || fail "the whole input was read: no backpressure"
kill -0 "$relay" 2>/dev/null || fail "the relay ended: $(cat relay.log)"
kill -TERM "$relay"
wait_exit "$relay" "the relay holding deliveries"
[ "$EXIT_RC" = 4 ] || fail "exit $EXIT_RC, expected 4 ($(cat relay.log))"
n=$(counter relay.log deliveries_pending)
[ "$n" -gt 0 ] || fail "no deliveries_pending in the counters line: $(cat relay.log)"
grep -q '^gossip: relay: cannot write delivery file /dev/full: No space left' relay.log || fail "no error line: $(cat relay.log)"
grep -q "^hint: $n deliveries were not written and nothing keeps them (no --store)" relay.log || fail "no hint: $(cat relay.log)"
expect_counter relay.log delivered 0
echo "held $pending deliveries of $line bytes at the bound, input not read; SIGTERM: exit 4, $n reported not written"
echo "ok: deliver_backlog"
