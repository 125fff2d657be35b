#!/usr/bin/env bash
# A relay with a store is killed (SIGKILL) in the middle of its input and
# restarted on the same store with the whole input replayed: between the
# two runs every one of the N bulletins is delivered exactly once, and the
# store holds all N.
#
# The first run reads from a fifo the script writes one message at a time;
# after K deliveries, with the stream still open, the relay is killed.
# BURST messages are written just before the kill so it can land while the
# relay is mid-work on them (set BURST=0 to kill it only while idle).
# Bulletins are mined at difficulty 0 (and the relay asks for 0): the test
# binary's own tapehash is unoptimised, about 1.5 ms a hash, so 60 bulletins
# at the default 7 bits would take over 10 s to mine.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

N=${N:-60}
K=${K:-20}
BURST=${BURST:-0}
U=$(key user)
R=$(key relay)

for i in $(seq "$N"); do
    "$G" bulletin new --topic chat "bulletin number $i"
done | "$G" hashcash -d 0 | "$G" sign -k user.key --to "$R" >all.jsonl 2>sign.log
[ "$(lines all.jsonl)" = "$N" ] || fail "made $(lines all.jsonl) messages, expected $N"

mkfifo fin
exec 3<>fin
"$G" relay -k relay.key --store db.sqlite --bulletin-difficulty 0 --subscribe chat --deliver out1.jsonl --no-sync <fin >r1.stdout 2>r1.log 3>&- & track
P1=$!
i=0
while IFS= read -r msg; do
    i=$((i + 1))
    printf '%s\n' "$msg" >&3
    if [ "$i" -le "$K" ]; then
        wait_for "delivery $i in the first run" has_lines out1.jsonl "$i"
    fi
    [ "$i" -lt $((K + BURST)) ] || break
done <all.jsonl
# (stderr aside while the shell reaps the killed job, so it reports nothing)
exec 5>&2 2>/dev/null
kill -9 "$P1"
wait_exit "$P1" "the killed relay"
exec 2>&5 5>&-
[ "$EXIT_RC" = 137 ] || fail "the first relay ended ($EXIT_RC) before the kill"
exec 3>&-
first=$(lines out1.jsonl)
[ "$first" -ge "$K" ] || fail "only $first deliveries before the kill, expected at least $K"
[ "$first" -lt "$N" ] || fail "the kill landed after the whole stream"

"$G" relay -k relay.key --store db.sqlite --bulletin-difficulty 0 --subscribe chat --deliver out2.jsonl --no-sync <all.jsonl >r2.stdout 2>r2.log & track
P2=$!
wait_exit "$P2" "the restarted relay"
[ "$EXIT_RC" = 0 ] || fail "the restarted relay exited $EXIT_RC"

cat out1.jsonl out2.jsonl | sed -n 's/.*"content_id":"\([0-9a-f]*\)".*/\1/p' | sort >delivered.ids
[ -z "$(uniq -d delivered.ids)" ] || fail "delivered twice: $(uniq -d delivered.ids | tr '\n' ' ')"
for i in $(seq "$N"); do
    printf 'bulletin number %s' "$i" | "$G" content-id
done | sort >expected.ids
missing=$(comm -23 expected.ids delivered.ids)
[ -z "$missing" ] || fail "$(echo "$missing" | wc -l) bulletins never delivered (first run $first, second $(lines out2.jsonl))"
[ "$(lines delivered.ids)" = "$N" ] || fail "$(lines delivered.ids) deliveries in all, expected $N"

expect_counter r2.log received "$N"
expect_counter r2.log delivered $((N - first))
"$G" store list --store db.sqlite >stored.jsonl
[ "$(lines stored.jsonl)" = "$N" ] || fail "the store lists $(lines stored.jsonl) bulletins, expected $N"
echo "ok: persistence (first run delivered $first, second $(lines out2.jsonl))"
