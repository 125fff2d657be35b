#!/usr/bin/env bash
# One relay (r0) feeds two downstream relays through two `--peer ADDR=PATH`
# fifos. A bulletin published at r0 is delivered exactly once by each
# downstream relay, which do not send it back. End of input at r0 closes
# the fifos, so every relay ends by itself with exit 0.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

U=$(key user)
R0=$(key r0)
R1=$(key r1)
R2=$(key r2)
mkfifo fa fb

"$G" bulletin new --topic chat "fan out" | "$G" hashcash | "$G" sign -k user.key --to "$R0" >publish.jsonl
CID=$("$G" content-id <(printf 'fan out'))

"$G" relay -k r1.key --subscribe chat --deliver d1.out --peer "$R0=/dev/null" <fa >r1.stdout 2>r1.log & track
P1=$!
"$G" relay -k r2.key --subscribe chat --deliver d2.out --peer "$R0=/dev/null" <fb >r2.stdout 2>r2.log & track
P2=$!
"$G" relay -k r0.key --peer "$R1=fa" --peer "$R2=fb" <publish.jsonl >r0.stdout 2>r0.log & track
P0=$!

for p in "$P0:r0" "$P1:r1" "$P2:r2"; do
    wait_exit "${p%%:*}" "${p#*:}"
    [ "$EXIT_RC" = 0 ] || fail "${p#*:} exited $EXIT_RC"
done

for i in 1 2; do
    [ "$(lines d$i.out)" = 1 ] || fail "r$i delivered $(lines d$i.out) bulletins, expected 1"
    [ "$(count_id d$i.out "$CID")" = 1 ] || fail "r$i did not deliver the published bulletin"
    expect_counter r$i.log delivered 1
    expect_counter r$i.log forwarded 0
    expect_counter r$i.log duplicates 0
done
expect_counter r0.log accepted 1
expect_counter r0.log forwarded 2
expect_counter r0.log delivered 0
[ ! -s r0.stdout ] || fail "r0 wrote to stdout, though every peer has a path"
echo "ok: fanout"
