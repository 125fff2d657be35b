#!/usr/bin/env bash
# The --deliver output under faults, and how a relay ends. Relays run side
# by side where they wait, so the script takes about one shutdown wait.
#
# 1. Recovery reads the delivery file as a stream of byte lines: a store
#    whose 100 deliveries are all pending (as after a crash) and a delivery
#    file that holds them after ~200 MB of junk (non-UTF-8 bytes, bad JSON,
#    1 MiB lines): the restart finds all 100 already written (none delivered
#    twice), in bounded memory (peak RSS under RECOVERY_RSS_LIMIT KiB).
# 2. A --deliver fifo that nobody opens: the relay does not hang; it ends
#    (exit 0) with delivered=0 and the 100 bulletins pending in --store; a
#    restart with a reader delivers them there.
# 3. A --deliver fifo whose reader stops reading: the relay ends (exit 0);
#    what did not reach the fifo is not counted as delivered and stays
#    pending (delivered + pending = 100).
# 4. Three --peer fifos whose readers never read: at the end of the input
#    the relay waits for all of them together (one wait of 10 s, not three
#    in a row); and a second SIGTERM while it waits ends it at once (143).
# 5. A full disk under --deliver (a 256 KiB tmpfs; root only, skipped with
#    a notice otherwise), input that ends while it is full: one line when
#    deferring starts, then at the end exit 4 with one error line,
#    delivered = the whole lines in the file, deliveries_pending and the
#    store's pending deliveries the rest; with room again the restarted
#    relay delivers them, each bulletin exactly once.
# 6. A full disk under --deliver while the relay runs on (the store on
#    another disk): 300 bulletins in, every one stored and the rest of
#    the deliveries deferred (deliveries_pending in --metrics); room made on
#    the tmpfs, and without a restart all 300 are in the file, each once,
#    within the retry interval; the relay says when it recovered, and ends
#    with exit 0 and delivered=300.
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"

RECOVERY_RSS_LIMIT=${RECOVERY_RSS_LIMIT:-32000}
N=100
R=$(key relay)
P1=$(key p1)
P2=$(key p2)
P3=$(key p3)
pad=$(head -c 3000 /dev/zero | tr '\0' x)
for i in $(seq "$N"); do
    "$G" bulletin new --topic chat "bulletin $i $pad"
done | "$G" hashcash -d 0 >b.in 2>make.log
[ "$(lines b.in)" = "$N" ] || fail "made $(lines b.in) bulletins"

# relay ARGS...: a relay that delivers topic chat; meant to run in a
# subshell, which it becomes (so $! is the relay's pid).
relay() {
    exec "$G" relay -k relay.key --bulletin-difficulty 0 --subscribe chat --no-sync "$@"
}

pending() { # pending DB: deliveries the store holds as pending
    python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM pending").fetchone()[0])' "$1"
}

# whole_once FILE COUNT: every line of FILE is a bulletin, COUNT of them,
# each content id once.
whole_once() {
    python3 - "$1" "$2" <<'PY' || fail "$1 is not $2 whole lines, each bulletin once"
import json, sys
ids = [json.loads(line)["content_id"] for line in open(sys.argv[1], "rb")]
assert len(ids) == int(sys.argv[2]) == len(set(ids)), (len(ids), len(set(ids)))
PY
}

elapsed_since() { # elapsed_since START: seconds (decimal) since START
    python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"
}

# --- start 2, 3 and 4 in the background: each waits out a stalled output
mkfifo none.fifo stall.fifo p1.fifo p2.fifo p3.fifo q1.fifo q2.fifo q3.fifo in1.fifo in2.fifo
(relay --store none.db --deliver none.fifo <b.in >/dev/null 2>none.log) & track
none=$!
sleep 60 <stall.fifo & track
(relay --store stall.db --deliver stall.fifo <b.in >/dev/null 2>stall.log) & track
stall=$!
for f in p1 p2 p3 q1 q2 q3; do sleep 60 <"$f.fifo" & track; done
exec 3<>in1.fifo 4<>in2.fifo
(relay --peer "$P1=p1.fifo" --peer "$P2=p2.fifo" --peer "$P3=p3.fifo" <in1.fifo >/dev/null 2>one.log 3>&- 4>&-) & track
one=$!
(relay --peer "$P1=q1.fifo" --peer "$P2=q2.fifo" --peer "$P3=q3.fifo" --status-every 1 <in2.fifo >/dev/null 2>two.log 3>&- 4>&-) & track
two=$!
cat b.in >&3
cat b.in >&4

# --- 1. recovery from a large, partly bad delivery file
(relay --store rec.db --deliver rec.deliver <b.in >/dev/null 2>rec1.log) || fail "recovery: first run: $(cat rec1.log)"
whole_once rec.deliver "$N"
python3 - rec.db rec.deliver <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT OR IGNORE INTO pending SELECT topic, content_id FROM bulletins")
db.commit()
held = open(sys.argv[2], "rb").read()
with open(sys.argv[2], "wb") as f:
    f.write(b"\xff\xfe\x80 not utf-8\n{\"content_id\": 5}\n{not json\n\n")
    junk = b"\x80" * (1 << 20) + b"\n"
    for _ in range(200):
        f.write(junk)
    f.write(held)
PY
[ "$(pending rec.db)" = "$N" ] || fail "recovery: could not mark the deliveries pending"
/usr/bin/time -f %M -o rec.rss "$G" relay -k relay.key --bulletin-difficulty 0 --subscribe chat --no-sync \
    --store rec.db --deliver rec.deliver </dev/null >/dev/null 2>rec2.log || fail "recovery: the restart failed: $(cat rec2.log)"
peak=$(tail -n 1 rec.rss)
grep -q "$N unconfirmed deliveries from the last run: $N already written, 0 delivered now" rec2.log ||
    fail "recovery: $(grep unconfirmed rec2.log)"
[ "$(grep -c '"content_id":"' rec.deliver)" = "$N" ] || fail "recovery: delivered again"
[ "$(pending rec.db)" = 0 ] || fail "recovery: still pending"
[ "$peak" -lt "$RECOVERY_RSS_LIMIT" ] || fail "recovery: peak RSS $peak KiB reading a $(($(wc -c <rec.deliver) >> 20)) MiB file"
echo "recovery: $(($(wc -c <rec.deliver) >> 20)) MiB delivery file, peak RSS $peak KiB"

# --- 4. (second half) a second SIGTERM while the relay waits ends it at once
# Once it has made the messages for its peers (a status line says so), the
# first SIGTERM leaves it waiting up to 10 s for them.
forwarded_all() { grep -q "\"forwarded\":$((3 * N))[,}]" two.log; }
wait_for "the relay to forward its input to its three peers" forwarded_all
kill -TERM "$two"
sleep 1 # (a check that it is still waiting: at least this long)
[ -z "$(grep -c 'did not take' two.log | grep -v '^0$')" ] || fail "shutdown: the relay stopped waiting before the second signal"
t_two=$(date +%s.%N)
kill -TERM "$two"
wait_exit "$two" "the relay given two SIGTERMs"
took=$(elapsed_since "$t_two")
[ "$EXIT_RC" = 143 ] || fail "shutdown: two SIGTERMs: exit $EXIT_RC, expected 143 ($(cat two.log))"
python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 2)' "$took" || fail "shutdown: the second SIGTERM took ${took}s"
exec 4>&-
echo "shutdown: a second SIGTERM ended the relay in ${took}s"

# --- 4. (first half) at the end of its input, the peers are waited for together
t_one=$(date +%s.%N)
exec 3>&-
wait_exit "$one" "the relay with three stalled peers"
took=$(elapsed_since "$t_one")
[ "$EXIT_RC" = 0 ] || fail "shutdown: exit $EXIT_RC ($(cat one.log))"
[ "$(grep -c 'did not take its last messages in time' one.log)" = 3 ] || fail "shutdown: $(cat one.log)"
python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 16)' "$took" ||
    fail "shutdown: three stalled peers held the relay ${took}s after its input ended (one wait is 10 s)"
echo "shutdown: three stalled peers, the relay ended ${took}s after its input"

# --- 2. a delivery fifo with no reader
wait_exit "$none" "the relay delivering to a fifo nobody opened"
[ "$EXIT_RC" = 0 ] || fail "fifo without a reader: exit $EXIT_RC ($(cat none.log))"
expect_counter none.log delivered 0
[ "$(pending none.db)" = "$N" ] || fail "fifo without a reader: $(pending none.db) pending, expected $N"
cat none.fifo >none.deliver & track
(relay --store none.db --deliver none.fifo </dev/null >/dev/null 2>none2.log) || fail "fifo: restart: $(cat none2.log)"
wait_for "the fifo reader to see the end" test -z "$(jobs -r -p | grep -x "$!" || true)"
whole_once none.deliver "$N"
[ "$(pending none.db)" = 0 ] || fail "fifo: still pending after the restart"
echo "fifo without a reader: relay ended, $N pending, delivered on the restart"

# --- 3. a delivery fifo whose reader stopped
wait_exit "$stall" "the relay delivering to a stalled fifo"
[ "$EXIT_RC" = 0 ] || fail "stalled fifo: exit $EXIT_RC ($(cat stall.log))"
delivered=$(counter stall.log delivered)
[ "$delivered" -lt "$N" ] || fail "stalled fifo: all $N counted as delivered"
[ $((delivered + $(pending stall.db))) = "$N" ] ||
    fail "stalled fifo: delivered=$delivered and $(pending stall.db) pending do not make $N"
echo "stalled fifo: relay ended, delivered=$delivered, $((N - delivered)) pending"

# --- 5. a full disk under --deliver
if [ "$(id -u)" != 0 ]; then
    notice="deliver_faults: parts 5 and 6 (full disk) skipped: they need root to mount a tmpfs"
    echo "$notice"
    echo "$notice" >&2
    echo "ok: deliver_faults"
    exit 0
fi
mkdir full
mount -t tmpfs -o size=256k tmpfs full || fail "cannot mount a tmpfs"
trap 'rc=$?; umount -l "$T/full" 2>/dev/null || true; (exit $rc); cleanup' EXIT
rc=0
(relay --store full.db --deliver full/d.deliver <b.in >/dev/null 2>full1.log) || rc=$?
[ "$rc" = 4 ] || fail "full disk: exit $rc, expected 4 ($(cat full1.log))"
[ "$(grep -c 'deliveries deferred' full1.log)" = 1 ] || fail "full disk: expected one deferring line: $(cat full1.log)"
errs=$(grep -v -e '^gossip: relay: received=' -e '^gossip: relay: address ' -e 'deliveries deferred' full1.log | grep -vc '^hint: ' || true)
[ "$errs" = 1 ] || fail "full disk: expected one error line: $(cat full1.log)"
grep -q '^gossip: relay: cannot write delivery file full/d.deliver: No space left' full1.log ||
    fail "full disk: the error does not say so: $(cat full1.log)"
written=$(lines full/d.deliver)
[ "$written" -gt 0 ] && [ "$written" -lt "$N" ] || fail "full disk: $written lines written"
whole_once full/d.deliver "$written"
expect_counter full1.log delivered "$written"
expect_counter full1.log deliveries_pending $((N - written))
[ "$(pending full.db)" = $((N - written)) ] || fail "full disk: $(pending full.db) pending, expected $((N - written))"
grep -q "^hint: $((N - written)) deliveries stay pending in --store" full1.log || fail "full disk: no hint: $(cat full1.log)"
mount -o remount,size=4m full
(relay --store full.db --deliver full/d.deliver <b.in >/dev/null 2>full2.log) || fail "full disk: restart: $(cat full2.log)"
whole_once full/d.deliver "$N"
echo "full disk: exit 4 after $written of $N lines: $(grep "deliveries deferred" full1.log)"

# --- 6. a full disk under --deliver while the relay runs on, then room
M=300
for i in $(seq "$M"); do
    "$G" bulletin new --topic chat "later $i $pad"
done | "$G" hashcash -d 0 >b300.in 2>>make.log
[ "$(lines b300.in)" = "$M" ] || fail "made $(lines b300.in) bulletins"
mkdir full6
mount -t tmpfs -o size=256k tmpfs full6 || fail "cannot mount a tmpfs"
trap 'rc=$?; umount -l "$T/full" "$T/full6" 2>/dev/null || true; (exit $rc); cleanup' EXIT
mkfifo in6.fifo
exec 5<>in6.fifo
(relay --store s6.db --deliver full6/d.deliver --metrics m6.prom <in6.fifo >/dev/null 2>full6.log 5>&-) & track
six=$!
cat b300.in >&5
stored() { # stored DB: bulletins the store holds
    python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM bulletins").fetchone()[0])' "$1" 2>/dev/null || echo 0
}
all_stored() { [ "$(stored s6.db)" = "$M" ]; }
wait_for "all $M bulletins stored while the delivery file is full" all_stored
wait_for "the relay to defer deliveries" grep -q 'deliveries deferred' full6.log
held_back() { # the deliveries_pending gauge says what the file does not hold
    local g
    g=$(sed -n 's/^gossip_relay_deliveries_pending //p' m6.prom 2>/dev/null)
    [ -n "$g" ] && [ "$g" -gt 0 ] && [ $((g + $(lines full6/d.deliver))) = "$M" ]
}
wait_for "deliveries_pending in --metrics" held_back
before=$(lines full6/d.deliver)
kill -0 "$six" 2>/dev/null || fail "full disk, running: the relay ended: $(cat full6.log)"
mount -o remount,size=4m full6
wait_for "all $M delivered after room was made" has_lines full6/d.deliver "$M"
wait_for "the relay to say it recovered" grep -q 'takes lines again' full6.log
exec 5>&-
wait_exit "$six" "the relay whose delivery disk filled and emptied"
[ "$EXIT_RC" = 0 ] || fail "full disk, running: exit $EXIT_RC ($(cat full6.log))"
whole_once full6/d.deliver "$M"
expect_counter full6.log delivered "$M"
expect_counter full6.log deliveries_pending 0
[ "$(pending s6.db)" = 0 ] || fail "full disk, running: $(pending s6.db) still pending"
grep -q '^gossip_relay_deliveries_pending 0$' m6.prom || fail "full disk, running: $(grep pending m6.prom)"
echo "full disk, running: $before of $M lines fitted, all $M stored; with room, all $M delivered once without a restart"
echo "ok: deliver_faults"
