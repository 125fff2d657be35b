#!/usr/bin/env bash
# Five relays on five "hosts" (network namespaces on one bridge), joined
# over TCP by --listen and --connect on a mesh with cycles:
#   R2 -> R1, R3 -> R1, R3 -> R2, R4 -> R3, R5 -> R4, R5 -> R1
# (X -> Y: X dials Y; every relay listens on 10.78.0.N:7000 and follows
# `chat`, with a store and a delivery file).
# 1. A bulletin published at R1 is delivered exactly once by every relay.
# 2. A flood at R1; R4 is killed with -9 in the middle and restarted on its
#    store: it redials by itself and catches up by sync, and every relay
#    delivers every bulletin of the flood exactly once.
# 3. R5 is cut off (its link down) while bulletins are published; its
#    connections time out (--idle-timeout) and, once the link is up again,
#    it redials and sync brings it up to date, exactly once.
# 4. A connection that spews random bytes at R1 is cut and counted; the
#    others carry on: the next bulletin reaches every relay.
# Needs root and iproute2; GOSSIP_SKIP_NETNS=1 skips it where namespaces
# cannot be made. RELAY_ARGS is added to every relay's flags
# (`--dissemination plumtree` runs it with the dissemination extension).
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"
DEADLINE=60

source "$(dirname "$0")/netns_lib.sh"
NS="gsm$$"
HUB=${NS}h
netns_new "$HUB"
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link set br0 up
for i in 1 2 3 4 5; do
    n=${NS}$i
    netns_new "$n"
    ip link add "${NS}v$i" netns "$n" type veth peer name "p$i" netns "$HUB"
    ip -n "$HUB" link set "p$i" master br0 up
    ip -n "$n" addr add "10.78.0.$i/24" dev "${NS}v$i"
    ip -n "$n" link set "${NS}v$i" up
    K[$i]=$(key "r$i")
done
key user >/dev/null

# start I: relay I in its namespace, dialing the ones the mesh says.
declare -A DIALS=([1]="" [2]="1" [3]="1 2" [4]="3" [5]="4 1")
start() {
    local i=$1 args=() j
    for j in ${DIALS[$i]}; do args+=(--connect "${K[$j]}@10.78.0.$j:7000"); done
    # shellcheck disable=SC2086 # RELAY_ARGS is a list of flags
    ip netns exec "${NS}$i" "$G" relay -k "r$i.key" --listen "10.78.0.$i:7000" "${args[@]}" ${RELAY_ARGS:-} \
        --subscribe chat --store "r$i.db" --deliver "d$i.out" --idle-timeout 3 \
        </dev/null >"r$i.stdout" 2>>"r$i.log" & track
    PID[$i]=$!
}
listening_in() { ip netns exec "${NS}$1" grep -q " 0${1}004E0A:1B58 00000000:0000 0A " /proc/net/tcp; }
for i in 1 2 3 4 5; do start "$i"; wait_for "R$i to listen" listening_in "$i"; done

# publish TEXT...: bulletins from the user into R1, over one netcat connection.
publish() {
    local t
    for t in "$@"; do "$G" bulletin new --topic chat "$t"; done | "$G" hashcash |
        "$G" sign -k user.key --to "${K[1]}" | "$G" pack >pub.wire
    ip netns exec "${NS}1" nc -N 10.78.0.1 7000 <pub.wire >/dev/null
}
cid() { "$G" content-id <(printf '%s' "$1"); }
# everyone_once TEXT: every relay has delivered TEXT exactly once.
everyone_once() {
    local id i
    id=$(cid "$1")
    for i in 1 2 3 4 5; do [ "$(count_id "d$i.out" "$id")" = 1 ] || return 1; done
}
expect_everyone_once() {
    local id i
    id=$(cid "$1")
    for i in 1 2 3 4 5; do
        [ "$(count_id "d$i.out" "$id")" = 1 ] || fail "R$i delivered '$1' $(count_id "d$i.out" "$id") times"
    done
}
linked() { grep -q "connected to ${K[$2]}" "r$1.log"; }
for i in 2 3 4 5; do
    for j in ${DIALS[$i]}; do wait_for "R$i to connect to R$j" linked "$i" "$j"; done
done

# 1. One bulletin from R1 reaches all five, once each.
publish "hello mesh"
wait_for "every relay to deliver 'hello mesh'" everyone_once "hello mesh"

# 2. A flood, with R4 killed in the middle and restarted on its store.
FLOOD=()
for k in $(seq 1 30); do FLOOD+=("flood $k"); done
publish "${FLOOD[@]:0:10}"
kill -9 "${PID[4]}"
publish "${FLOOD[@]:10:10}"
start 4
publish "${FLOOD[@]:20:10}"
for t in "${FLOOD[@]}"; do wait_for "every relay to deliver '$t'" everyone_once "$t"; done

# 3. R5 cut off; its links time out; healed, it catches up by sync.
ip -n "${NS}5" link set "${NS}v5" down
sleep 4
publish "while r5 was cut off 1" "while r5 was cut off 2"
# delivered_by I TEXT: relay I has delivered TEXT.
delivered_by() { [ "$(count_id "d$1.out" "$(cid "$2")")" = 1 ]; }
for i in 1 2 3 4; do
    wait_for "R$i to deliver the cut-off bulletins" delivered_by "$i" "while r5 was cut off 2"
done
[ "$(count_id d5.out "$(cid "while r5 was cut off 1")")" = 0 ] || fail "R5 got a bulletin while cut off"
ip -n "${NS}5" link set "${NS}v5" up
wait_for "R5 to catch up after the heal" everyone_once "while r5 was cut off 1"
wait_for "R5 to catch up after the heal" everyone_once "while r5 was cut off 2"

# 4. Junk at R1: that connection is cut, the mesh carries on.
head -c 65536 /dev/urandom >junk.bin
ip netns exec "${NS}2" nc -N 10.78.0.1 7000 <junk.bin >/dev/null || true
wait_for "R1 to cut the junk connection" grep -q "not a message stream" r1.log
publish "after the junk"
wait_for "every relay to deliver 'after the junk'" everyone_once "after the junk"

for i in 1 2 3 4 5; do kill -TERM "${PID[$i]}"; done
for i in 1 2 3 4 5; do
    wait_exit "${PID[$i]}" "R$i"
    [ "$EXIT_RC" = 0 ] || fail "R$i exited $EXIT_RC after SIGTERM"
done
ALL=("hello mesh" "${FLOOD[@]}" "while r5 was cut off 1" "while r5 was cut off 2" "after the junk")
for t in "${ALL[@]}"; do expect_everyone_once "$t"; done
for i in 1 2 3 4 5; do
    [ "$(lines "d$i.out")" = "${#ALL[@]}" ] || fail "R$i delivered $(lines "d$i.out") lines, expected ${#ALL[@]}"
done
grep -q 'gossip: relay: network: .*connections_junk=1' r1.log || fail "R1 did not count the junk connection"
echo "ok: mesh"
