#!/usr/bin/env bash
# A relay with a store is killed (SIGKILL) in the middle of its input and
# restarted on the same store with the whole input replayed.
#
# Each round's first run reads from a fifo the script writes one message at
# a time, waiting for each delivery; after K deliveries, with the stream
# still open, the relay is killed.
# - Round "idle": the kill lands while the relay waits for input. Between
#   the two runs every one of the N bulletins is delivered exactly once, and
#   `gossip store list` shows all N.
# - Round "burst": BURST more messages are written just before the kill, so
#   it lands while the relay is working on them. The store commits each
#   bulletin with a pending delivery before the line is written to --deliver
#   and confirms it after; the restarted relay (same --deliver file) writes
#   the pending ones the file does not hold (docs/protocol.md, "Order of work
#   and durability"). Again every bulletin is delivered exactly once.
#
# Bulletins are mined at difficulty 0 (and the relay asks for 0): the test
# binary's own tapehash is unoptimised, about 1.5 ms a hash, so 60 bulletins
# at the default 7 bits would take over 10 s to mine.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

N=${N:-60}
K=${K:-20}
BURST=${BURST:-15}
U=$(key user)
R=$(key relay)

for i in $(seq "$N"); do
    "$G" bulletin new --topic chat "bulletin number $i"
done | "$G" hashcash -d 0 | "$G" sign -k user.key --to "$R" >all.jsonl 2>sign.log
[ "$(lines all.jsonl)" = "$N" ] || fail "made $(lines all.jsonl) messages, expected $N"
for i in $(seq "$N"); do
    printf 'bulletin number %s' "$i" | "$G" content-id
done | sort >expected.ids

# round NAME BURST MAY_MISS
round() {
    local name=$1 burst=$2 may_miss=$3
    local db=$name.sqlite out1=$name-1.jsonl out2=$name-1.jsonl
    mkfifo "$name.fifo"
    exec 3<>"$name.fifo"
    "$G" relay -k relay.key --store "$db" --bulletin-difficulty 0 --subscribe chat --deliver "$out1" \
        --no-sync <"$name.fifo" >/dev/null 2>"$name-1.log" 3>&- & track
    local p1=$! i=0 msg
    while IFS= read -r msg; do
        i=$((i + 1))
        printf '%s\n' "$msg" >&3
        if [ "$i" -le "$K" ]; then
            wait_for "delivery $i in the first run ($name)" has_lines "$out1" "$i"
        fi
        [ "$i" -lt $((K + burst)) ] || break
    done <all.jsonl
    # (stderr aside while the shell reaps the killed job, so it reports nothing)
    exec 5>&2 2>/dev/null
    kill -9 "$p1"
    wait_exit "$p1" "the killed relay"
    exec 2>&5 5>&-
    exec 3>&-
    [ "$EXIT_RC" = 137 ] || fail "$name: the first relay ended ($EXIT_RC) before the kill"
    local first
    first=$(lines "$out1")
    [ "$first" -ge "$K" ] || fail "$name: only $first deliveries before the kill, expected at least $K"
    [ "$first" -lt "$N" ] || fail "$name: the kill landed after the whole stream"

    "$G" relay -k relay.key --store "$db" --bulletin-difficulty 0 --subscribe chat --deliver "$out2" \
        --no-sync <all.jsonl >/dev/null 2>"$name-2.log" & track
    local p2=$!
    wait_exit "$p2" "the restarted relay ($name)"
    [ "$EXIT_RC" = 0 ] || fail "$name: the restarted relay exited $EXIT_RC"

    local after
    after=$(lines "$out1")
    sed -n 's/.*"content_id":"\([0-9a-f]*\)".*/\1/p' "$out1" | sort >"$name.ids"
    [ -z "$(uniq -d "$name.ids")" ] || fail "$name: delivered twice: $(uniq -d "$name.ids" | tr '\n' ' ')"
    local missing
    missing=$(comm -23 expected.ids "$name.ids" | wc -l)
    [ "$missing" -le "$may_miss" ] ||
        fail "$name: $missing bulletins never delivered (first run $first, $after in the file after the restart)"
    expect_counter "$name-2.log" received "$N"
    local delivered
    delivered=$(sed -n 's/.* delivered=\([0-9]*\).*/\1/p' "$name-2.log" | tail -n 1)
    expect_counter "$name-2.log" duplicates $((N - delivered))
    "$G" store list --store "$db" >"$name-stored.jsonl"
    [ "$(lines "$name-stored.jsonl")" = "$N" ] ||
        fail "$name: the store lists $(lines "$name-stored.jsonl") bulletins, expected $N"
    echo "$name: first run delivered $first, the file holds $after after the restart, missing $missing"
}

round idle 0 0
round burst "$BURST" 0
echo "ok: persistence"
