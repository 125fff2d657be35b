#!/usr/bin/env bash
# A relay that joins late catches up on everything its peer holds, however
# many: relay A (--store) takes 3,000 bulletins on `chat` over TCP; relay B
# then dials A with --subscribe chat and must deliver all 3,000, once each.
# A answers B's sync request with every unexpired id, in pages of at most
# 1,024 ids; B takes every page of the request and asks for the content a
# few hundred requests at a time (sync_deferred counts the rest). B is a
# learned neighbour of A, answered within A's answer budget (1 MiB per
# 60 s): 3,000 ids (96 KB) and 3,000 small bulletins (~240 KB) fit. Before
# sync paged, B stopped at 1,024.
set -euo pipefail
DEADLINE=${DEADLINE:-60}
source "$(dirname "$0")/lib.sh" "$@"

U=$(key user)
A=$(key a)
B=$(key b)
N=3000

pick_port
PA=$PORT
"$G" relay -k a.key --listen "127.0.0.1:$PA/0" --subscribe chat --deliver da.out --store a.db \
    --bulletin-difficulty 0 </dev/null >a.stdout 2>a.log & track
RA=$!
wait_for "A to listen" listening "$PA"
for i in $(seq $N); do
    "$G" bulletin new --topic chat "m $i"
done | "$G" hashcash -d 0 | "$G" sign -k user.key --to "$A" | "$G" pack |
    nc -N 127.0.0.1 "$PA" >/dev/null
wait_for "A to deliver the $N bulletins" has_lines da.out $N

"$G" relay -k b.key --connect "$A@127.0.0.1:$PA/0" --subscribe chat --deliver db.out --store b.db \
    --bulletin-difficulty 0 </dev/null >b.stdout 2>b.log & track
RB=$!
wait_for "B to deliver the $N bulletins through sync" has_lines db.out $N

kill -TERM "$RA" "$RB"
for p in "$RA:a" "$RB:b"; do
    wait_exit "${p%%:*}" "${p#*:}"
    [ "$EXIT_RC" = 0 ] || fail "${p#*:} exited $EXIT_RC after SIGTERM"
done
[ "$(lines db.out)" = $N ] || fail "B delivered $(lines db.out) bulletins, expected $N"
dupes=$(grep -o '"content_id":"[^"]*"' db.out | sort | uniq -d | wc -l)
[ "$dupes" = 0 ] || fail "B delivered $dupes bulletins more than once"
expect_counter b.log delivered $N
expect_counter b.log unsolicited 0
expect_counter b.log over_cap 0
expect_counter a.log over_cap 0
echo "ok: catchup ($(counter b.log sync_deferred) content ids deferred behind B's request cap)"
