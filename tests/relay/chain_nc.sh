#!/usr/bin/env bash
# A chain of three relays joined by netcat over loopback TCP:
#   user -> r1 -> nc -N | nc -l -> r2 -> nc -N | nc -l -> r3
# r1 and r3 follow `chat`, the middle relay r2 follows another topic. A
# bulletin published at r1 reaches r3 and is delivered there exactly once;
# r2 passes it on without delivering it. End of input at r1 closes each
# link in turn (nc -N shuts the socket down at end of input), so every
# process ends by itself.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

command -v nc >/dev/null || fail "nc (netcat-openbsd) is not installed"

U=$(key user)
R1=$(key r1)
R2=$(key r2)
R3=$(key r3)
mkfifo in2 in3 out1 out2

"$G" bulletin new --topic chat "over tcp" | "$G" hashcash | "$G" sign -k user.key --to "$R1" >publish.jsonl
CID=$("$G" content-id <(printf 'over tcp'))

# Downstream first, so each listener is up before its client connects.
"$G" relay -k r3.key --subscribe chat --deliver d3.out --peer "$R2=/dev/null" <in3 >r3.stdout 2>r3.log & track
P3=$!
# (nc -l opens in3 for writing, which waits for r3 to open it for reading)
listen in3 nc3.log
PORT2=$PORT
N3=$LISTENER

"$G" relay -k r2.key --subscribe other --deliver d2.out --peer "$R1=/dev/null" --peer "$R3=out2" <in2 >r2.stdout 2>r2.log & track
P2=$!
nc -N 127.0.0.1 "$PORT2" <out2 >/dev/null 2>nc2c.log & track
C2=$!
listen in2 nc2.log
PORT1=$PORT
N2=$LISTENER

nc -N 127.0.0.1 "$PORT1" <out1 >/dev/null 2>nc1c.log & track
C1=$!
"$G" relay -k r1.key --subscribe chat --deliver d1.out --peer "$R2" <publish.jsonl >out1 2>r1.log & track
P1=$!

wait_for "r3 to deliver the bulletin" has_lines d3.out 1
for p in "$P1:r1" "$C1:nc client 1" "$N2:nc listener 2" "$P2:r2" "$C2:nc client 2" "$N3:nc listener 3" "$P3:r3"; do
    wait_exit "${p%%:*}" "${p#*:}"
    [ "$EXIT_RC" = 0 ] || fail "${p#*:} exited $EXIT_RC"
done

[ "$(lines d3.out)" = 1 ] || fail "r3 delivered $(lines d3.out) bulletins, expected 1"
[ "$(count_id d3.out "$CID")" = 1 ] || fail "r3 did not deliver the published bulletin"
[ "$(lines d1.out)" = 1 ] || fail "r1 (which follows chat) delivered $(lines d1.out), expected 1"
[ "$(lines d2.out)" = 0 ] || fail "the middle relay delivered a topic it does not follow"
expect_counter r1.log forwarded 1
expect_counter r2.log forwarded 1
expect_counter r2.log delivered 0
expect_counter r3.log delivered 1
expect_counter r3.log forwarded 0
for i in 1 2 3; do
    expect_counter r$i.log duplicates 0
    expect_counter r$i.log malformed 0
    ! grep -q ' drop\.' r$i.log || fail "r$i dropped messages: $(tail -n 1 r$i.log)"
done
echo "ok: chain_nc (ports $PORT1, $PORT2)"
