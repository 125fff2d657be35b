#!/usr/bin/env bash
# Three relays in a ring through fifos: r1 -> r2 -> r3 -> r1 (each relay's
# only peer is the next one). The script holds f1 (r1's input) open
# read-write on fd 3, so the ring can open, and injects the user's message
# there. Every relay follows the topic and delivers the bulletin exactly
# once; the copy r3 forwards back to r1 is a duplicate there and goes no
# further, so the counters stay bounded. A ring never sees end of input, so
# the relays are stopped with SIGTERM, and must exit 0 with their counters.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

U=$(key user)
R1=$(key r1)
R2=$(key r2)
R3=$(key r3)
mkfifo f1 f2 f3
exec 3<>f1

"$G" relay -k r1.key --subscribe chat --deliver d1.out --peer "$R2" --no-sync <f1 >f2 2>r1.log 3>&- & track
P1=$!
"$G" relay -k r2.key --subscribe chat --deliver d2.out --peer "$R3" --no-sync <f2 >f3 2>r2.log 3>&- & track
P2=$!
"$G" relay -k r3.key --subscribe chat --deliver d3.out --peer "$R1" --no-sync <f3 >f1 2>r3.log 3>&- & track
P3=$!

"$G" bulletin new --topic chat "round and round" | "$G" hashcash | "$G" sign -k user.key --to "$R1" >&3
CID=$("$G" content-id <(printf 'round and round'))
for i in 1 2 3; do
    wait_for "r$i to deliver the bulletin" has_lines d$i.out 1
done

# r3 writes its forward to r1 before its delivery, so the copy coming back
# is already in f1. A marker sent to r1 after it, deliver_without_forward
# (delivered by r1, never forwarded), shows when r1 has read past it.
printf 'marker' >marker.txt
"$G" bulletin new --topic chat -f marker.txt | "$G" hashcash |
    "$G" message new -k user.key --to "$R1" --op deliver_without_forward |
    "$G" encrypt | "$G" sign -k user.key | "$G" hashcash >&3
wait_for "r1 to deliver the marker" has_lines d1.out 2

for p in "$P1:r1" "$P2:r2" "$P3:r3"; do
    kill -TERM "${p%%:*}"
done
for p in "$P1:r1" "$P2:r2" "$P3:r3"; do
    wait_exit "${p%%:*}" "${p#*:}"
    [ "$EXIT_RC" = 0 ] || fail "${p#*:} exited $EXIT_RC after SIGTERM"
    grep -q '^gossip: relay: received=' "${p#*:}.log" || fail "${p#*:} printed no counters"
done
exec 3>&-

for i in 1 2 3; do
    [ "$(count_id d$i.out "$CID")" = 1 ] || fail "r$i delivered the bulletin $(count_id d$i.out "$CID") times"
done
[ "$(lines d2.out)" = 1 ] && [ "$(lines d3.out)" = 1 ] || fail "r2/r3 delivered more than the bulletin"
# r1: the user's message, the copy back from r3 (a duplicate), the marker.
expect_counter r1.log received 3
expect_counter r1.log accepted 3
expect_counter r1.log duplicates 1
expect_counter r1.log delivered 2
expect_counter r1.log forwarded 1
for i in 2 3; do
    expect_counter r$i.log received 1
    expect_counter r$i.log duplicates 0
    expect_counter r$i.log forwarded 1
done
sent=0
for i in 1 2 3; do
    sent=$((sent + $(counter r$i.log sent)))
done
[ "$sent" = 3 ] || fail "the ring sent $sent messages in all, expected 3 (one hop each)"
echo "ok: ring"
