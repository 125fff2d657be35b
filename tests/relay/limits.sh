#!/usr/bin/env bash
# Issue 24, part 4: limits per source, over real loopback TCP. CASE says
# which (each client binds its own 127/8 source address: Linux routes all
# of 127/8 to lo, so one relay sees several IP addresses):
#
#   ip      --rate-per-ip 10 --burst 20. A client at 127.0.0.2 floods
#           FLOOD (1,000) messages as fast as loopback carries them while
#           a peer at 127.0.0.3 sends CALM (10), a quarter second apart.
#           The flood is cut to its limit: it got through at least the
#           burst and at most 20 + 10 x the seconds the relay ran + 10,
#           the rest counted (limited_messages); every one of the other
#           peer's bulletins is delivered. With --limits-log-every 1 the
#           refusals are logged for 127.0.0.2 once a second at most
#           (never for 127.0.0.3), and the counts logged add up to the
#           counter.
#   peer    --rate-per-peer 10 --burst 20, both clients from 127.0.0.1:
#           the flood is cut by its key, the other key is untouched.
#   shadow  as ip, with --limits-shadow: the same counts, logged as
#           "would have refused", and nothing refused (all FLOOD + CALM
#           messages received).
#   connections
#           --max-connections-per-ip 3 --deny 127.0.0.4: of 5 silent
#           connections from 127.0.0.2, 2 are closed as they open, the 3
#           from 127.0.0.3 are kept, the one from 127.0.0.4 is closed
#           (denied); counted exactly (limited_connections=2,
#           denied_connections=1, connections_opened=6).
set -euo pipefail
HOSTILE="python3 $(cd "$(dirname "$0")" && pwd)/hostile.py"
source "$(dirname "$0")/lib.sh" "$@"

CASE=${CASE:?set CASE to ip, peer, shadow or connections}
# The clients bind 127.0.0.2 and up (loopback on Linux); elsewhere the
# case is skipped, visibly.
if ! python3 -c 'import socket; socket.socket().bind(("127.0.0.4", 0))' 2>/dev/null; then
    echo "limits ($CASE) skipped: cannot bind 127.0.0.4 (no 127/8 loopback here)"
    exit 0
fi
FLOOD=${FLOOD:-1000}
CALM=${CALM:-10}
RATE=10
BURST=20
R=$(key relay)
F=$(key flood)
C=$(key calm)

# status FIELD: a counter from the relay's last JSON status line (0 before)
status() {
    grep '^{' r.log | tail -n 1 |
        python3 -c 'import json, sys; l = sys.stdin.read(); print(json.loads(l)["counters"].get(sys.argv[1], 0) if l else 0)' "$1"
}
# net FIELD: a counter from the relay's final network line
net() {
    grep 'gossip: relay: network:' r.log | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}

start_relay() {
    pick_port
    P=$PORT
    "$G" relay -k relay.key --listen "127.0.0.1:$P" --subscribe chat --deliver delivered.txt \
        -d 0 --bulletin-difficulty 0 --status-every 1 --limits-log-every 1 "$@" \
        </dev/null >r.stdout 2>r.log & track
    RP=$!
    wait_for "the relay to listen" listening "$P"
}

stop_relay() {
    kill -TERM "$RP"
    wait_exit "$RP" "the relay"
    grep 'gossip: relay: network:' r.log | tail -n 1
}

if [ "$CASE" = connections ]; then
    start_relay --max-connections-per-ip 3 --deny 127.0.0.4 --bind-timeout 60
    # The silent clients hold their connections far longer than any wait
    # here (they note `closed I SECS deadline` when they give up).
    SRC=127.0.0.2 DEADLINE=300 $HOSTILE silent "$P" two.out 5 & track
    SRC=127.0.0.3 DEADLINE=300 $HOSTILE silent "$P" three.out 3 & track
    SRC=127.0.0.4 DEADLINE=300 $HOSTILE silent "$P" four.out 1 & track
    # closed OUT N: the relay closed at least N of OUT's connections
    closed() { [ -f "$1" ] && [ "$(grep -c '^closed .* closed:' "$1" || true)" -ge "$2" ]; }
    wait_for "2 connections from 127.0.0.2 to be closed" closed two.out 2
    wait_for "the connection from 127.0.0.4 to be closed" closed four.out 1
    all_seen() {
        [ "$(status connections_opened)" -ge 6 ] && [ "$(status limited_connections)" -ge 2 ] &&
            [ "$(status denied_connections)" -ge 1 ]
    }
    wait_for "the relay to have taken all 9 connections" all_seen
    # Closed as they opened: well before the 60 s bind timeout.
    grep '^closed ' two.out four.out
    ! grep -q '^closed .* closed:' three.out || fail "a connection from 127.0.0.3 was closed: $(cat three.out)"
    stop_relay
    [ "$(net limited_connections)" = 2 ] || fail "expected limited_connections=2"
    [ "$(net denied_connections)" = 1 ] || fail "expected denied_connections=1"
    [ "$(net connections_opened)" = 6 ] || fail "expected connections_opened=6"
    # The log: the first refusal at once, the next within the second; the
    # counts logged add up to 2.
    logged=$(sed -n 's/^gossip: relay: 127.0.0.2: limits refused \([0-9]*\) connections .*/\1/p' r.log |
        awk '{ n += $1 } END { print n + 0 }')
    [ "$logged" = 2 ] || fail "the log counts $logged connections refused from 127.0.0.2, expected 2"
    grep -q 'gossip: relay: 127.0.0.4: limits refused 1 connections (denied)' r.log ||
        fail "no report of the connection denied from 127.0.0.4"
    echo "ok: limits ($CASE)"
    exit 0
fi

# make_wire KEY TOPIC N OUT: N distinct bulletins on TOPIC, each in a
# message signed by KEY to the relay, as wire frames (proof of work off:
# the test is about counting, not mining).
make_wire() {
    python3 - "$2" "$3" >"$4.json" <<'PY'
import base64, hashlib, json, os, sys, time
topic, n = hashlib.sha256(sys.argv[1].encode()).hexdigest(), int(sys.argv[2])
now = int(time.time())
for _ in range(n):
    content = os.urandom(32)
    json.dump({"content": base64.b64encode(content).decode(),
               "content_id": hashlib.sha256(content).hexdigest(), "nonce": 0,
               "topic": topic, "ts": now, "type": "bulletin"}, sys.stdout)
    sys.stdout.write("\n")
PY
    "$G" sign -d 0 -k "$1.key" --to "$R" <"$4.json" 2>/dev/null | "$G" pack >"$4"
}
make_wire flood flood "$FLOOD" flood.wire
make_wire calm chat "$CALM" calm.wire

case $CASE in
    ip) FLAGS=(--rate-per-ip "$RATE" --burst "$BURST"); FSRC=127.0.0.2; CSRC=127.0.0.3; SOURCE=127.0.0.2 ;;
    shadow) FLAGS=(--rate-per-ip "$RATE" --burst "$BURST" --limits-shadow); FSRC=127.0.0.2; CSRC=127.0.0.3; SOURCE=127.0.0.2 ;;
    peer) FLAGS=(--rate-per-peer "$RATE" --burst "$BURST"); FSRC=127.0.0.1; CSRC=127.0.0.1; SOURCE=$F ;;
    *) fail "unknown CASE $CASE" ;;
esac
start_relay "${FLAGS[@]}"
started=$SECONDS
SRC=$CSRC $HOSTILE pace "$P" calm.out calm.wire 0.25 & track
SRC=$FSRC $HOSTILE read "$P" flood.out flood.wire & track
# Every flood message is either taken (received) or refused, and the calm
# peer's are all delivered.
handled() {
    [ $(($(status received) + $(status limited_messages))) -ge $((FLOOD + CALM)) ] &&
        has_lines delivered.txt "$CALM"
}
wait_for "the relay to take or refuse every message" handled
stop_relay
elapsed=$((SECONDS - started + 1))

limited=$(net limited_messages)
received=$(counter r.log received)
delivered=$(lines delivered.txt)
taken=$((FLOOD - limited))
most=$((BURST + RATE * elapsed + 10))
echo "flood: $taken of $FLOOD taken, $limited refused, in about $elapsed s (limit: $BURST + $RATE/s, so at most $most); received=$received; calm: $delivered of $CALM delivered"
[ "$delivered" = "$CALM" ] || fail "the calm peer's bulletins: $delivered of $CALM delivered"
[ "$taken" -ge "$BURST" ] || fail "the flood got $taken through, less than the burst ($BURST)"
[ "$taken" -le "$most" ] || fail "the flood got $taken through, more than $most"
[ "$(net limited_bytes)" -gt "$limited" ] || fail "limited_bytes=$(net limited_bytes) for $limited messages"
if [ "$CASE" = shadow ]; then
    [ "$received" -ge $((FLOOD + CALM)) ] || fail "shadow mode refused: received=$received of $((FLOOD + CALM))"
    verb="limits would have refused"
else
    [ "$received" -lt $((FLOOD + CALM)) ] || fail "nothing refused: received=$received"
    verb="limits refused"
fi

# The log: one line a second at most for the flood's source, none for the
# calm peer's, and the counts logged add up to the counter.
grep "gossip: relay: $SOURCE: $verb" r.log >reports.txt || fail "no report for $SOURCE"
reports=$(lines reports.txt)
logged=$(sed -n 's/.* \([0-9]*\) messages of .*/\1/p' reports.txt | awk '{ n += $1 } END { print n + 0 }')
echo "$reports log lines for $SOURCE, counting $logged messages"
[ "$reports" -le $((elapsed + 2)) ] || fail "$reports log lines in $elapsed s, at most one a second expected"
[ "$logged" = "$limited" ] || fail "the log counts $logged messages refused, the counter $limited"
other=$([ "$CASE" = peer ] && echo "$C" || echo "$CSRC")
! grep -q "gossip: relay: $other: limits" r.log || fail "the calm peer ($other) had something refused"
echo "ok: limits ($CASE)"
