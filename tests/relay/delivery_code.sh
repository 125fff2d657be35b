#!/usr/bin/env bash
# Delivery codes between two relays A and B joined both ways by netcat
# over loopback TCP (A's messages for B: fifo -> nc -N -> nc -l -> B's
# stdin, and back the same way); the script also writes to each relay's
# stdin fifo (bulletins to publish).
# - A prints its code at start and announces it (--announce-delivery-code):
#   B learns it (`store peers`).
# - A bulletin to A's inbox, published at B, is delivered by A.
# - SIGUSR1 rotates A's code: B learns the new one; a bulletin to the old
#   inbox is no longer delivered, one to the new inbox is.
# - `gossip store rotate` on A's store rotates the running A the same way.
# - B restarted on its store still knows A's latest code; A restarted on
#   its store keeps its code; --delivery-code sets it; --rotate-delivery-code
#   rotates on a schedule, each time persisted and announced.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

command -v nc >/dev/null || fail "nc (netcat-openbsd) is not installed"

A=$(key a)
B=$(key b)
mkfifo inA inB a2b b2a
exec 3<>inA 4<>inB
COMMON=(--bulletin-difficulty 0 --no-sync)

"$G" relay -k a.key --store a.db --peer "$B=a2b" --deliver dA.out --announce-delivery-code "${COMMON[@]}" <inA >/dev/null 2>a1.log 3>&- 4>&- & track
PA=$!
"$G" relay -k b.key --store b.db --peer "$A=b2a" --deliver dB.out "${COMMON[@]}" <inB >/dev/null 2>b1.log 3>&- 4>&- & track
PB=$!
listen inB ncb.log 3>&- 4>&-
PORT_B=$PORT
listen inA nca.log 3>&- 4>&-
PORT_A=$PORT
nc -N 127.0.0.1 "$PORT_B" <a2b >/dev/null 2>nca2b.log 3>&- 4>&- & track
nc -N 127.0.0.1 "$PORT_A" <b2a >/dev/null 2>ncb2a.log 3>&- 4>&- & track

# code LOG: the delivery code on LOG's last start or rotation line.
code() {
    sed -n 's/^gossip: relay: address [0-9a-f]* delivery code \([0-9a-f]*\) inbox .*/\1/p' "$1" | tail -n 1
}
# rotations LOG: how many rotation lines LOG holds.
rotations() {
    grep -c '^gossip: relay: delivery code rotated' "$1" || true
}
# rotated LOG N: LOG holds at least N rotation lines.
rotated() {
    [ "$(rotations "$1")" -ge "$2" ]
}
# b_knows CODE: B's store holds CODE as A's delivery code.
b_knows() {
    "$G" store peers --store b.db | grep -qx "$A $1 $("$G" topic --inbox "$A" --delivery-code "$1")"
}
# send_to_a_inbox CODE TEXT: B publishes TEXT to A's inbox under CODE;
# prints the content id.
send_to_a_inbox() {
    "$G" bulletin new --inbox "$A" --delivery-code "$1" "$2" | "$G" hashcash -d 0 >&4
    printf '%s' "$2" | "$G" content-id
}

wait_for "A's start line" grep -q 'delivery code' a1.log
CODE1=$(code a1.log)
[ "${#CODE1}" = 16 ] || fail "A's start line has no code: $(cat a1.log)"
[ "$("$G" store code --store a.db)" = "$A $CODE1 $("$G" topic --inbox "$A" --delivery-code "$CODE1")" ] ||
    fail "gossip store code does not show A's code $CODE1: $("$G" store code --store a.db)"
wait_for "B to learn A's code from its notice" b_knows "$CODE1"

ID=$(send_to_a_inbox "$CODE1" "to A's inbox")
wait_for "A to deliver the bulletin to its inbox" has_lines dA.out 1
[ "$(count_id dA.out "$ID")" = 1 ] || fail "A delivered something else: $(cat dA.out)"

kill -USR1 "$PA"
wait_for "A to rotate on SIGUSR1" rotated a1.log 1
CODE2=$(code a1.log)
[ "$CODE2" != "$CODE1" ] || fail "the rotation kept the code $CODE1"
grep -q 'rotated (SIGUSR1)' a1.log || fail "the rotation does not say why: $(cat a1.log)"
[ "$("$G" store code --store a.db | cut -d' ' -f2)" = "$CODE2" ] || fail "A's store does not hold the new code"
wait_for "B to learn A's new code" b_knows "$CODE2"

OLD=$(send_to_a_inbox "$CODE1" "to the old inbox")
NEW=$(send_to_a_inbox "$CODE2" "to the new inbox")
wait_for "A to deliver the bulletin to its new inbox" has_lines dA.out 2
[ "$(count_id dA.out "$NEW")" = 1 ] || fail "A did not deliver the new inbox's bulletin: $(cat dA.out)"
# B sent the old inbox's bulletin first, over the same link: A has had it.
[ "$(count_id dA.out "$OLD")" = 0 ] || fail "A delivered a bulletin to its old inbox"
# ... stored all the same, as any bulletin, so the operator can still read it.
"$G" store query --store a.db --topic-id "$("$G" topic --inbox "$A" --delivery-code "$CODE1")" >old-inbox.jsonl
[ "$(count_id old-inbox.jsonl "$OLD")" = 1 ] || fail "the old inbox's bulletin is not in A's store"

"$G" store rotate --store a.db 2>rotate.log
grep -q 'rotation requested' rotate.log || fail "store rotate said: $(cat rotate.log)"
wait_for "A to rotate on gossip store rotate" rotated a1.log 2
grep -q 'rotated (gossip store rotate)' a1.log || fail "the rotation does not say why: $(cat a1.log)"
CODE3=$(code a1.log)
[ "$CODE3" != "$CODE2" ] || fail "the requested rotation kept the code"
wait_for "B to learn A's third code" b_knows "$CODE3"
sleep 1.2
[ "$(rotations a1.log)" = 2 ] || fail "one request rotated more than once"

kill -TERM "$PB"
wait_exit "$PB" "B"
[ "$EXIT_RC" = 0 ] || fail "B exited $EXIT_RC"
expect_counter b1.log notices 3
"$G" relay -k b.key --store b.db "${COMMON[@]}" </dev/null >/dev/null 2>b2.log
grep -q '^gossip: relay: 1 peers. delivery codes known' b2.log || fail "restarted B knows no codes: $(cat b2.log)"
b_knows "$CODE3" || fail "restarted B lost A's code: $("$G" store peers --store b.db)"
"$G" store peers --store b.db --json | grep -q "\"address\":\"$A\".*\"code\":\"$CODE3\"" ||
    fail "store peers --json: $("$G" store peers --store b.db --json)"

kill -TERM "$PA"
wait_exit "$PA" "A"
[ "$EXIT_RC" = 0 ] || fail "A exited $EXIT_RC"
"$G" relay -k a.key --store a.db "${COMMON[@]}" </dev/null >/dev/null 2>a2.log
[ "$(code a2.log)" = "$CODE3" ] || fail "A restarted on its store has code $(code a2.log), expected $CODE3"

GIVEN=0123456789abcdef
"$G" relay -k a.key --store a.db --delivery-code "$GIVEN" "${COMMON[@]}" </dev/null >/dev/null 2>a3.log
[ "$(code a3.log)" = "$GIVEN" ] || fail "--delivery-code: $(cat a3.log)"
"$G" relay -k a.key --store a.db "${COMMON[@]}" </dev/null >/dev/null 2>a4.log
[ "$(code a4.log)" = "$GIVEN" ] || fail "the given code was not kept: $(cat a4.log)"

# On a schedule: each period a new code, persisted and sent to the peer.
mkfifo inS
exec 5<>inS
"$G" relay -k a.key --store a.db --peer "$B=sched.out" --rotate-delivery-code 1s "${COMMON[@]}" \
    <inS >/dev/null 2>a5.log 3>&- 4>&- 5>&- & track
PS=$!
wait_for "two scheduled rotations" rotated a5.log 2
kill -TERM "$PS"
wait_exit "$PS" "the scheduled A"
[ "$EXIT_RC" = 0 ] || fail "the scheduled A exited $EXIT_RC"
grep -q 'rotated (--rotate-delivery-code)' a5.log || fail "no scheduled rotation: $(cat a5.log)"
[ "$("$G" store code --store a.db | cut -d' ' -f2)" = "$(code a5.log)" ] || fail "the last scheduled code is not in the store"
# (one notice for each rotation, and no start notice without --announce-delivery-code)
[ "$(lines sched.out)" = "$(rotations a5.log)" ] || fail "B was sent $(lines sched.out) notices for $(rotations a5.log) rotations"
echo "ok: delivery_code ($CODE1 -> $CODE2 -> $CODE3, ports $PORT_A, $PORT_B)"
