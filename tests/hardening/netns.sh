#!/usr/bin/env bash
# Three relays on three "hosts" (network namespaces) joined over TCP:
#   A (10.77.1.1) --- (10.77.1.2) B (10.77.2.1) --- (10.77.2.2) C
# 1. C is cut off (its link down: a connection from C fails).
# 2. A publishes a bulletin; it reaches B over TCP (socat) and B stores it
#    (--store); B's copy for C is lost (C's output is /dev/null while cut).
# 3. Heal: C's link comes up; B (restarted on its store) and C are joined
#    both ways by one TCP connection (socat EXEC on each side; a relay's
#    stderr goes to its log, never into the stream). C's start-up
#    sync asks B for the ids it holds under `chat`, requests the one it
#    lacks, B serves it and C delivers it: exactly once, counted as received
#    through sync (no store_and_forward from B reached C).
# Needs root, iproute2 and socat. Without the right to make namespaces it
# fails, unless GOSSIP_SKIP_NETNS=1 is set.
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"

command -v socat >/dev/null || fail "socat is not installed"
source "$(dirname "$0")/netns_lib.sh"
NS="gsp$$"
A=${NS}a B=${NS}b C=${NS}c
netns_new "$A" "$B" "$C"
ip link add "${NS}ab" netns "$A" type veth peer name "${NS}ba" netns "$B"
ip link add "${NS}bc" netns "$B" type veth peer name "${NS}cb" netns "$C"
ip -n "$A" addr add 10.77.1.1/24 dev "${NS}ab"
ip -n "$B" addr add 10.77.1.2/24 dev "${NS}ba"
ip -n "$B" addr add 10.77.2.1/24 dev "${NS}bc"
ip -n "$C" addr add 10.77.2.2/24 dev "${NS}cb"
ip -n "$A" link set "${NS}ab" up
ip -n "$B" link set "${NS}ba" up
ip -n "$B" link set "${NS}bc" up
# C stays cut off: its end of the link is down.
ip -n "$C" link set "${NS}cb" down

KA=$(key a)
KB=$(key b)
KC=$(key c)
CID=$("$G" content-id <(printf 'published while C was away'))
"$G" bulletin new --topic chat 'published while C was away' | "$G" hashcash |
    "$G" sign -k a.key --to "$KA" >publish.jsonl 2>make.log

# 1. C cannot reach B.
if ip netns exec "$C" timeout 3 socat -u /dev/null TCP:10.77.2.1:7002,connect-timeout=1 2>cut.log; then
    fail "C reached B while cut off"
fi

# 2. A -> B over TCP; B stores it.
ip netns exec "$B" socat -u TCP-LISTEN:7001,bind=10.77.1.2,reuseaddr \
    EXEC:"$G relay -k b.key --store b.db --peer $KA=/dev/null --peer $KC=/dev/null --subscribe other --no-sync" \
    2>b1.log & track
SB1=$!
wait_for "B to listen" ip netns exec "$B" bash -c "grep -q ' 02014D0A:1B59 00000000:0000 0A ' /proc/net/tcp"
ip netns exec "$A" socat -u EXEC:"$G relay -k a.key --peer $KB --subscribe chat --deliver da.out --no-sync" \
    TCP:10.77.1.2:7001 <publish.jsonl 2>a.log & track
wait_for "B to store the bulletin" bash -c "[ \"\$('$G' store list --store b.db 2>/dev/null | grep -c $CID)\" = 1 ]"
wait_exit "$SB1" "B's first relay (end of A's stream)"
# (socat ends B's relay when A's connection closes: no counters to check)
[ "$(count_id da.out "$CID")" = 1 ] || fail "A did not deliver its own bulletin"

# 3. Heal: C's link up, B restarted on its store, B <-> C both ways.
ip -n "$C" link set "${NS}cb" up
ip netns exec "$B" socat TCP-LISTEN:7002,bind=10.77.2.1,reuseaddr \
    EXEC:"$G relay -k b.key --store b.db --peer $KC --subscribe other" 2>b2.log & track
wait_for "B to listen for C" ip netns exec "$B" bash -c "grep -q ' 01024D0A:1B5A 00000000:0000 0A ' /proc/net/tcp"
ip netns exec "$C" socat TCP:10.77.2.1:7002 \
    EXEC:"$G relay -k c.key --peer $KB --subscribe chat --deliver dc.out" 2>c.log & track
SC=$!
wait_for "C to deliver the bulletin by sync" has_lines dc.out 1
sleep 0.5 # anything more (a second copy) would come now
kill "$SC"
wait_exit "$SC" "C's link"
[ "$(lines dc.out)" = 1 ] || fail "C delivered $(lines dc.out) bulletins, expected 1"
[ "$(count_id dc.out "$CID")" = 1 ] || fail "C delivered another bulletin"
echo "ok: netns (A -> B while C cut off; healed; C caught up by sync)"
