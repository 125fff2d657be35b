#!/usr/bin/env bash
# The relay on TCP over loopback:
# 1. `gossip pack | nc -N` into a listening relay is delivered.
# 2. A connection that spews random bytes is cut and counted; the relay
#    goes on and delivers the next message.
# 3. `nc HOST PORT` reads what the relay sends it: a client learned from
#    its first valid message gets the forward of another user's bulletin.
# 4. Relay B dials A (--connect) with a store. B killed with -9 and
#    restarted catches up by sync what A took meanwhile; A killed and
#    restarted on its port is redialed by B by itself; every bulletin is
#    delivered by B exactly once.
# 5. --max-connections closes the oldest unbound connection past the
#    limit, and --idle-timeout closes a silent one; both counted.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

U=$(key user)
A=$(key a)
B=$(key b)
C=$(key c)


# publish TEXT PORT DST: a bulletin from the user, signed to DST, sent with nc.
publish() {
    "$G" bulletin new --topic chat "$1" | "$G" hashcash | "$G" sign -k user.key --to "$3" |
        "$G" pack | nc -N 127.0.0.1 "$2" >/dev/null
}

cid() { "$G" content-id <(printf '%s' "$1"); }

# --- 1 and 2: one listener, netcat in, junk in
pick_port
PA=$PORT
"$G" relay -k a.key --listen "127.0.0.1:$PA" --subscribe chat --deliver da.out --store a.db \
    --metrics a.prom </dev/null >a.stdout 2>a.log & track
RA=$!
wait_for "A to listen" listening "$PA"
publish "hello over tcp" "$PA" "$A"
wait_for "A to deliver the netcat message" has_lines da.out 1
head -c 4096 /dev/urandom | nc -N 127.0.0.1 "$PA" >/dev/null || true
publish "after the junk" "$PA" "$A"
wait_for "A to deliver after the junk" has_lines da.out 2
grep -q "not a message stream" a.log || fail "A did not report the junk connection"
kill -0 "$RA" || fail "A died"

# --- 3: a netcat client that is learned and then reads its forwards
mkfifo cin
exec 5<>cin
nc 127.0.0.1 "$PA" <cin >c.wire 2>c.err & track
"$G" bulletin new --topic chat "from c" | "$G" hashcash | "$G" sign -k c.key --to "$A" | "$G" pack >&5
wait_for "A to learn C" grep -q "connected to $C" a.log
publish "for c to read" "$PA" "$A"
# (open refuses C's two sync requests, exit 1; the forward is the bulletin)
c_has_the_forward() {
    "$G" open -k c.key <c.wire >c.opened 2>/dev/null || true
    grep -q "$(printf 'for c to read' | base64)" c.opened
}
wait_for "C to read the forward over its connection" c_has_the_forward
exec 5>&-

# The metrics file (rewritten every 5 s) counts the junk connection and C.
junk_counted() { grep -q '^gossip_relay_connections_junk_total 1$' a.prom 2>/dev/null; }
wait_for "a.prom to count the junk connection" junk_counted
grep -q "^gossip_peer_connected{peer=\"$C\"} 1$" a.prom || fail "a.prom: C not connected: $(grep "$C" a.prom)"

# --- 4: B dials A, is killed and restarted, then A is
start_b() {
    "$G" relay -k b.key --connect "$A@127.0.0.1:$PA" --subscribe chat --deliver db.out \
        --store b.db </dev/null >b.stdout 2>>b.log & track
    RB=$!
}
start_b
wait_for "B to catch up the first four by sync" has_lines db.out 4
kill -9 "$RB"
wait "$RB" 2>/dev/null || true
publish "while b was down 1" "$PA" "$A"
publish "while b was down 2" "$PA" "$A"
wait_for "A to deliver them" has_lines da.out 6
start_b
wait_for "restarted B to catch up" has_lines db.out 6

kill -9 "$RA"
wait "$RA" 2>/dev/null || true
"$G" relay -k a.key --listen "127.0.0.1:$PA" --subscribe chat --deliver da.out --store a.db \
    </dev/null >a2.stdout 2>a2.log & track
RA=$!
wait_for "B to redial the restarted A" grep -q "connected to $B" a2.log
publish "after a came back" "$PA" "$A"
wait_for "B to deliver the bulletin forwarded after the redial" has_lines db.out 7

# --- 5: limits: one accepted connection at most, an idle one closed after
# a second without a whole message
pick_port
PI=$PORT
"$G" relay -k c.key --listen "127.0.0.1:$PI" --max-connections 1 --idle-timeout 1 \
    </dev/null >i.stdout 2>i.log & track
RI=$!
wait_for "I to listen" listening "$PI"
exec 6<>"/dev/tcp/127.0.0.1/$PI" # silent, holds the one slot
sleep 0.3
exec 7<>"/dev/tcp/127.0.0.1/$PI" # past the limit: the oldest unbound one goes
wait_for "I to evict the first connection" grep -q "closed: unbound, to make room" i.log
wait_for "I to close the idle one" grep -q "closed: no whole message within the idle timeout" i.log
exec 6>&- 7>&-
kill -TERM "$RI"
wait_exit "$RI" "I"
grep -q 'gossip: relay: network: .*connections_junk=0 connections_idle=1 connections_unbound=0 connections_evicted=1' i.log ||
    fail "I's network counters: $(grep 'network:' i.log)"

kill -TERM "$RA" "$RB"
for p in "$RA:a" "$RB:b"; do
    wait_exit "${p%%:*}" "${p#*:}"
    [ "$EXIT_RC" = 0 ] || fail "${p#*:} exited $EXIT_RC after SIGTERM"
done
for text in "hello over tcp" "after the junk" "from c" "for c to read" \
    "while b was down 1" "while b was down 2" "after a came back"; do
    [ "$(count_id db.out "$(cid "$text")")" = 1 ] ||
        fail "B delivered '$text' $(count_id db.out "$(cid "$text")") times, expected once"
done
[ "$(lines db.out)" = 7 ] || fail "B delivered $(lines db.out) bulletins, expected 7"
grep -q 'gossip: relay: network: .*connections_junk=0' a2.log || fail "a2: no network counters"
echo "ok: tcp"
