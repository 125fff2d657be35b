#!/usr/bin/env bash
# Issue 22: a mixed mesh on loopback TCP. Relays A, B and D speak the
# dissemination extension (`--dissemination plumtree`); C does not (it
# floods, as older builds do); X is a netcat client that a relay learns
# from its first valid message and that reads what it is sent, as an
# original-style node would (it advertises nothing):
#   B -> A, C -> A, C -> B, D -> A, D -> B, D -> C, X -> D
# (P -> Q: P dials Q). A, B and D form a triangle, so at least one of them
# takes a copy of each bulletin over an extension link that is not its
# last eager link, and prunes it, whatever order the copies race in (with
# only a path among them, whether any link was pruned depended on timing,
# and under load none was).
# 1. Sixteen bulletins, eight published at A and eight at D, each over one
#    netcat connection: every relay delivers all sixteen exactly once, and
#    X reads each of them exactly once (its forwards, opened with its key).
# 2. The extension is used where both ends speak it (A, B and D announce,
#    prune or graft: the speakers' triangle is pruned to a tree), and never
#    sent to C or X: C's counters show no announcement, graft or prune
#    received. (Without D -> A the speakers' links are a tree already, and
#    a prune is sent only by chance: B's duplicates from A came round
#    through C, and the key order may keep the link.)
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

U=$(key user)
A=$(key a)
B=$(key b)
C=$(key c)
D=$(key d)
X=$(key x)

for n in a b c d; do pick_port; eval "P${n^^}=$PORT"; done
start() {
    local name=$1
    shift
    "$G" relay -k "$name.key" --listen "127.0.0.1:$(eval echo "\$P${name^^}")" "$@" \
        --subscribe chat --deliver "d$name.out" </dev/null >"$name.stdout" 2>"$name.log" & track
    eval "R${name^^}=$!"
}
start a --dissemination plumtree
start b --dissemination plumtree --connect "$A@127.0.0.1:$PA"
start c --dissemination flood --connect "$A@127.0.0.1:$PA" --connect "$B@127.0.0.1:$PB"
start d --dissemination plumtree --connect "$A@127.0.0.1:$PA" --connect "$B@127.0.0.1:$PB" --connect "$C@127.0.0.1:$PC"
for n in a b c d; do wait_for "${n^^} to listen" listening "$(eval echo "\$P${n^^}")"; done
links_up() { [ "$(cat a.log b.log c.log d.log | grep -c ': connected to ')" -ge 12 ]; }
wait_for "the six links to come up at both ends" links_up

# X: learned by D from one valid message, then reads its forwards.
mkfifo xin
exec 5<>xin
nc 127.0.0.1 "$PD" <xin >x.wire 2>x.err & track
"$G" bulletin new --topic chat "hello from x" | "$G" hashcash | "$G" sign -k x.key --to "$D" | "$G" pack >&5
wait_for "D to learn X" grep -q "connected to $X" d.log

# publish PORT DST FIRST LAST: bulletins FIRST..LAST from the user, over one
# netcat connection.
publish() {
    local i
    for i in $(seq "$3" "$4"); do "$G" bulletin new --topic chat "mixed $i"; done |
        "$G" hashcash | "$G" sign -k user.key --to "$2" | "$G" pack | nc -N 127.0.0.1 "$1" >/dev/null
}
publish "$PA" "$A" 1 8 &
publish "$PD" "$D" 9 16
wait "$!"
for n in a b c d; do wait_for "${n^^} to deliver all 17" has_lines "d$n.out" 17; done
x_has_all() {
    "$G" open -k x.key <x.wire 2>/dev/null | grep -o '"content_id":"[0-9a-f]*"' >x.ids || true
    [ "$(sort -u x.ids | wc -l)" -ge 16 ]
}
wait_for "X to read the sixteen" x_has_all
exec 5>&-

for n in a b c d; do kill -TERM "$(eval echo "\$R${n^^}")"; done
for n in a b c d; do wait_exit "$(eval echo "\$R${n^^}")" "${n^^}"; done
cid() { "$G" content-id <(printf '%s' "$1"); }
for i in $(seq 1 16); do
    id=$(cid "mixed $i")
    for n in a b c d; do
        [ "$(count_id "d$n.out" "$id")" = 1 ] ||
            fail "${n^^} delivered 'mixed $i' $(count_id "d$n.out" "$id") times, expected once"
    done
    [ "$(grep -c "\"content_id\":\"$id\"" x.ids)" = 1 ] ||
        fail "X read 'mixed $i' $(grep -c "\"content_id\":\"$id\"" x.ids) times, expected once"
done
used=0
for n in a b d; do
    used=$((used + $(counter "$n.log" announcements_sent) + $(counter "$n.log" prunes_sent) + $(counter "$n.log" grafts_sent)))
done
[ "$used" -gt 0 ] || fail "A, B and D never used the extension: $(grep -h '^gossip: relay: received=' a.log b.log d.log)"
for name in announcements_received grafts_received prunes_received; do
    expect_counter c.log "$name" 0
done
echo "ok: mixed_mesh ($used announcements, prunes and grafts among A, B and D)"
