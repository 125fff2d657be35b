#!/usr/bin/env bash
# A relay that joins late catches up through sync alone. Relay A follows
# `chat` and has no peers: it reads fa and answers strangers on stdout (fb).
# It takes three bulletins published to it before B exists. Then B starts
# with `--peer A=fa <fb`: at start it asks A for the ids of `chat` and the
# beacon, requests what it lacks, and delivers each bulletin exactly once.
# A forwards nothing (B is no neighbour of A and joined after publishing).
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

U=$(key user)
A=$(key a)
B=$(key b)
mkfifo fa fb
exec 3<>fa 4<>fb # A can open both before B exists

"$G" relay -k a.key --subscribe chat --deliver da.out <fa >fb 2>a.log 3>&- 4>&- & track
PA=$!

N=3
for i in $(seq $N); do
    "$G" bulletin new --topic chat "missed $i"
done | "$G" hashcash | "$G" sign -k user.key --to "$A" >&3
wait_for "A to deliver the $N bulletins" has_lines da.out $N
[ "$(lines da.out)" = $N ] || fail "A delivered $(lines da.out), expected $N"

"$G" relay -k b.key --subscribe chat --deliver db.out --peer "$A=fa" <fb >b.stdout 2>b.log 3>&- 4>&- & track
PB=$!
exec 4>&-
wait_for "B to deliver the $N bulletins through sync" has_lines db.out $N

# B's last deliveries come from the last messages A sends, so both are idle.
kill -TERM "$PA" "$PB"
for p in "$PA:a" "$PB:b"; do
    wait_exit "${p%%:*}" "${p#*:}"
    [ "$EXIT_RC" = 0 ] || fail "${p#*:} exited $EXIT_RC after SIGTERM"
done
exec 3>&-

[ "$(lines db.out)" = $N ] || fail "B delivered $(lines db.out) bulletins, expected $N"
for i in $(seq $N); do
    cid=$("$G" content-id <(printf 'missed %s' "$i"))
    [ "$(count_id db.out "$cid")" = 1 ] || fail "B delivered 'missed $i' $(count_id db.out "$cid") times"
done
# B: for each of chat and the beacon, A's accept of reconciliation and one
# negentropy answer; then N contents, all accepted and asked for.
expect_counter b.log received $((4 + N))
expect_counter b.log accepted $((4 + N))
expect_counter b.log unsolicited 0
expect_counter b.log delivered $N
expect_counter b.log duplicates 0
expect_counter b.log sent $((4 + N))
expect_counter b.log forwarded 0
expect_counter b.log sync_fallbacks 0
# A: N publications, two sync requests and two negentropy messages, N
# content requests; no forwards.
expect_counter a.log received $((N + 4 + N))
expect_counter a.log accepted $((N + 4 + N))
expect_counter a.log forwarded 0
expect_counter a.log delivered $N
expect_counter a.log sent $((4 + N))
[ ! -s b.stdout ] || fail "B wrote to stdout, though its only peer has a path"
echo "ok: sync"
