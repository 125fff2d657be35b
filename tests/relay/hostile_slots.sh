#!/usr/bin/env bash
# Issue 18, item 6: silent and trickling connections cannot hold the
# relay's connection slots.
#
# 1. Relay S with `--max-connections 4 --bind-timeout 2` (and the default
#    600 s idle timeout): ten connections that never send a byte are
#    opened, then a publisher connects and sends its bulletin: it is
#    delivered (the oldest unbound connections are evicted to make room,
#    and the rest closed after the bind timeout). The ten are all closed
#    by the relay, each counted as evicted or unbound.
# 2. Relay T with `--idle-timeout 2`: a connection bound by a valid message
#    then sends one byte every 0.5 s of a frame it never finishes. Bytes
#    are not progress: it is closed for sending no whole message within
#    the idle timeout (the attacker gives up waiting after 8 s), counted
#    as idle.
#
# A relay without `--bind-timeout` is run without it (so the failure shows
# its behaviour, not an unknown flag). Every check runs; the script fails
# at the end with all that did not hold.
set -euo pipefail
HOSTILE="python3 $(cd "$(dirname "$0")" && pwd)/hostile.py"
source "$(dirname "$0")/lib.sh" "$@"

PROBLEMS=()
problem() {
    echo "problem: $*" >&2
    PROBLEMS+=("$*")
}

S=$(key s)
TK=$(key t)
U=$(key user)
W=$(key w)

supported() { "$G" relay --help | grep -q -- "$1 "; }
bind_timeout=()
supported --bind-timeout && bind_timeout=(--bind-timeout 2)

# --- 1: ten silent connections against four slots
pick_port
PS=$PORT
"$G" relay -k s.key --listen "127.0.0.1:$PS" --subscribe chat --deliver ds.out \
    --max-connections 4 "${bind_timeout[@]}" </dev/null >s.stdout 2>s.log & track
RS=$!
wait_for "S to listen" listening "$PS"
$HOSTILE silent "$PS" silent.out 10 & track
wait_for "the ten silent connections to open" grep -qs '^opened 10$' silent.out
start=$SECONDS
"$G" bulletin new --topic chat "past the silent ones" | "$G" hashcash | "$G" sign -k user.key --to "$S" |
    "$G" pack | nc -N 127.0.0.1 "$PS" >/dev/null || true
delivered() { has_lines ds.out 1; }
end=$((SECONDS + DEADLINE))
until delivered || [ "$SECONDS" -ge "$end" ]; do sleep 0.05; done
if delivered; then
    echo "the publisher's bulletin was delivered $((SECONDS - start)) s after the ten silent connections opened"
else
    problem "the publisher's bulletin was not delivered within ${DEADLINE}s of ten silent connections"
fi
all_closed() { [ "$(grep -c '^closed .* closed:' silent.out)" = 10 ]; }
# (each of the ten says how it ended: closed, or the helper's deadline)
all_ended() { [ "$(grep -c '^closed ' silent.out)" = 10 ]; }
end=$((SECONDS + DEADLINE))
until all_ended || [ "$SECONDS" -ge "$end" ]; do sleep 0.05; done
if all_closed; then
    # (counted when the relay has logged each end)
    s_logged() { [ "$(grep -c ': closed: ' s.log)" -ge 10 ]; }
    wait_for "S to log the ends of the ten" s_logged
else
    problem "the relay closed $(grep -c '^closed .* closed:' silent.out) of the ten silent connections within ${DEADLINE}s"
fi

# --- 2: a bound connection that trickles a frame it never finishes
pick_port
PT=$PORT
"$G" relay -k t.key --listen "127.0.0.1:$PT" --subscribe chat --deliver dt.out \
    --idle-timeout 2 </dev/null >t.stdout 2>t.log & track
RT=$!
wait_for "T to listen" listening "$PT"
"$G" bulletin new --topic chat "from w" | "$G" hashcash | "$G" sign -k w.key --to "$TK" | "$G" pack >w.wire
$HOSTILE trickle "$PT" trickle.out w.wire 0.5 8 & track
TR=$!
wait_for "T to learn the trickler" grep -q "connected to $W" t.log
wait_exit "$TR" "the trickler"
echo "trickler: $(cat trickle.out | tail -n 1)"
if grep -q '^closed_after .* closed:' trickle.out; then
    wait_for "T to log the trickler's end" grep -q ': closed: ' t.log
else
    problem "a bound connection sending a byte every 0.5 s was not closed by --idle-timeout 2: $(tail -n 1 trickle.out)"
fi

for r in "$RS:s" "$RT:t"; do
    kill -TERM "${r%%:*}"
    wait_exit "${r%%:*}" "relay ${r#*:}"
done
s_net=$(grep 'gossip: relay: network:' s.log | tail -n 1)
t_net=$(grep 'gossip: relay: network:' t.log | tail -n 1)
echo "S: $s_net"
echo "T: $t_net"
net_counter() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
evicted=$(net_counter "$s_net" connections_evicted)
unbound=$(net_counter "$s_net" connections_unbound)
[ "${evicted:-0}" -ge 6 ] && [ "${unbound:-0}" -ge 1 ] && [ $((evicted + unbound)) = 10 ] ||
    problem "S: expected the ten silent connections counted as evicted (6 or more) and unbound: $s_net"
[ "$(net_counter "$s_net" connections_refused)" = 0 ] || problem "S refused connections: $s_net"
[ "$(net_counter "$t_net" connections_idle)" = 1 ] || problem "T: expected connections_idle=1: $t_net"
[ "$(lines dt.out)" = 1 ] || problem "T delivered $(lines dt.out) bulletins, expected the trickler's one"

[ ${#PROBLEMS[@]} = 0 ] || fail "$(printf '%s; ' "${PROBLEMS[@]}")"
echo "ok: hostile_slots"
