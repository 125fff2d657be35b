#!/usr/bin/env bash
# Delivery codes over TCP (issue 18, item 5): B dials A (--connect), both
# with --announce-delivery-code. Each learns the other's code from the
# notice sent when the connection comes up, in both directions. B's code,
# rotated (SIGUSR1) while A is down, reaches A when B redials the
# restarted A, and a bulletin to B's new inbox, published at A, is
# delivered by B. B writes nothing to stdout: its notice at start is for a
# peer it dials, not for stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

A=$(key a)
B=$(key b)
key user >/dev/null


code() {
    sed -n 's/^gossip: relay: address [0-9a-f]* delivery code \([0-9a-f]*\) inbox .*/\1/p' "$1" | tail -n 1
}
# knows DB PEER CODE: the store DB holds CODE as PEER's delivery code.
knows() {
    "$G" store peers --store "$1" | grep -qx "$2 $3 $("$G" topic --inbox "$2" --delivery-code "$3")"
}

COMMON=(--bulletin-difficulty 0 --announce-delivery-code)
pick_port
PA=$PORT
start_a() {
    "$G" relay -k a.key --store a.db --listen "127.0.0.1:$PA" "${COMMON[@]}" \
        </dev/null >/dev/null 2>>a.log & track
    RA=$!
}
start_a
wait_for "A to listen" listening "$PA"
"$G" relay -k b.key --store b.db --connect "$A@127.0.0.1:$PA" --deliver db.out "${COMMON[@]}" \
    </dev/null >b.stdout 2>b.log & track
RB=$!
wait_for "B's start line" grep -qs 'delivery code' b.log
wait_for "A's start line" grep -qs 'delivery code' a.log
B1=$(code b.log)
A1=$(code a.log)
wait_for "A to learn B's code over B's connection" knows a.db "$B" "$B1"
wait_for "B to learn A's code over the same connection" knows b.db "$A" "$A1"

kill -TERM "$RA"
wait_exit "$RA" "A"
kill -USR1 "$RB"
wait_for "B to rotate while A is down" grep -q 'delivery code rotated' b.log
B2=$(code b.log)
[ "$B2" != "$B1" ] || fail "the rotation kept B's code"
start_a
wait_for "A to learn B's new code when B redials" knows a.db "$B" "$B2"

# A bulletin to B's new inbox, published at A, is delivered by B.
"$G" bulletin new --inbox "$B" --delivery-code "$B2" "to b's new inbox" | "$G" hashcash |
    "$G" sign -k user.key --to "$A" | "$G" pack | nc -N 127.0.0.1 "$PA" >/dev/null
wait_for "B to deliver the bulletin to its new inbox" has_lines db.out 1
grep -q "$(printf '%s' "to b's new inbox" | base64 -w0)" db.out || fail "B delivered something else: $(cat db.out)"
# B's only peer is dialed: its notice at start waits for the connection,
# and nothing is ever written to B's stdout.
[ ! -s b.stdout ] || fail "B wrote to stdout: $("$G" inspect <b.stdout 2>&1 | head -c 300)"
echo "ok: codes_tcp"
