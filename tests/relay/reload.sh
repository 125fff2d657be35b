#!/usr/bin/env bash
# SIGHUP reloads a relay's --config file under load (issue 24):
# 1. B runs from b.toml (its key, listener, peer A to dial, topic and
#    delivery file all from the file); a publisher sends bulletins to A all
#    the while, and A forwards each to B.
# 2. b.toml gains a peer to dial (C) and a lower max-connections; SIGHUP:
#    B logs what changed, dials C, and its listener takes the new bound (a
#    second silent connection evicts the first). The connection to A that
#    stays is never dropped: A saw B connect once, B logged one connection
#    to A, and every bulletin reached B exactly once.
# 3. An unknown key in b.toml: SIGHUP logs it with its line and changes
#    nothing; an address that is no public key is logged and not dialed;
#    B runs on.
# 4. b.toml without A and with another topic: SIGHUP lets A go (B's
#    connection to it closes) and says the topic needs a restart.
# 5. b.toml denies 127.0.0.1: SIGHUP applies it at once (a new connection
#    from there is refused as it opens; the one to C stays).
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

U=$(key user)
A=$(key a)
B=$(key b)
C=$(key c)
N=30

# publish TEXT: a bulletin from the user to A, sent with nc.
publish() {
    "$G" bulletin new --topic chat "$1" | "$G" hashcash | "$G" sign -k user.key --to "$A" |
        "$G" pack | nc -N 127.0.0.1 "$PA" >/dev/null
}

pick_port
PA=$PORT
"$G" relay -k a.key --listen "127.0.0.1:$PA" --topic chat </dev/null >a.stdout 2>a.log & track
wait_for "A to listen" listening "$PA"
pick_port
PC=$PORT
"$G" relay -k c.key --listen "127.0.0.1:$PC" --topic chat </dev/null >c.stdout 2>c.log & track
wait_for "C to listen" listening "$PC"
pick_port
PB=$PORT

# config CONNECTS MAX TOPICS [EXTRA]: writes b.toml.
config() {
    cat >b.toml.new <<EOF
key = "b.key"
listen = ["127.0.0.1:$PB"]
connect = [$1]
max-connections = $2
topic = [$3]
deliver = "db.out"
${4:-}
EOF
    mv b.toml.new b.toml
}
config "\"$A@127.0.0.1:$PA\"" 64 '"chat"'
"$G" relay --config b.toml </dev/null >b.stdout 2>b.log & track
RB=$!
wait_for "B to listen" listening "$PB"
wait_for "B to connect to A" grep -q "connected to $A" b.log
wait_for "A to take B as a peer" grep -q "connected to $B" a.log

# --- 1: traffic flows from A to B while B reloads
(for i in $(seq 1 "$N"); do publish "load $i"; done && touch published) & track
wait_for "B to deliver the first bulletins" has_lines db.out 3

# --- 2: a new peer and a lower bound
config "\"$A@127.0.0.1:$PA\", \"$C@127.0.0.1:$PC\"" 1 '"chat"'
kill -HUP "$RB"
wait_for "B to log what changed" grep -qF \
    "gossip: relay: reloaded b.toml: changed connect +$C@127.0.0.1:$PC/1, max-connections 64 -> 1" b.log
wait_for "B to connect to C" grep -q "connected to $C" b.log
wait_for "C to take B as a peer" grep -q "connected to $B" c.log
exec 6<>"/dev/tcp/127.0.0.1/$PB"
exec 7<>"/dev/tcp/127.0.0.1/$PB"
wait_for "B to hold one unbound connection only" grep -q "closed: unbound, to make room" b.log
exec 6>&- 7>&-

wait_for "the publisher to finish" test -f published
wait_for "B to deliver every bulletin" has_lines db.out "$N"
[ "$(lines db.out)" = "$N" ] || fail "B delivered $(lines db.out) bulletins, expected $N"
[ "$(grep -o '"content_id":"[0-9a-f]*"' db.out | sort -u | wc -l)" = "$N" ] ||
    fail "B delivered a bulletin twice"
[ "$(grep -c "connected to $B" a.log)" = 1 ] || fail "A saw B connect more than once: $(grep "connected to $B" a.log)"
[ "$(grep -c "connected to $A" b.log)" = 1 ] || fail "B connected to A more than once"

# --- 3: a bad file changes nothing
config "\"$A@127.0.0.1:$PA\", \"$C@127.0.0.1:$PC\"" 1 '"chat"' "bogus-key = 1"
kill -HUP "$RB"
wait_for "B to log the bad file" grep -qF \
    "gossip: relay: reload b.toml: relay: b.toml:7: unknown key 'bogus-key'" b.log
grep -F "unknown key 'bogus-key'" b.log | grep -q "nothing changed" || fail "B did not say nothing changed"
kill -0 "$RB" || fail "B died on a bad config file"
# An address that is no public key: not dialed, said so; B runs on.
X=02$(printf '%062d' 0)
config "\"$A@127.0.0.1:$PA\", \"$C@127.0.0.1:$PC\", \"$X@127.0.0.1:$PC\"" 1 '"chat"'
kill -HUP "$RB"
wait_for "B to log the peer it cannot dial" grep -qF \
    "gossip: relay: reloaded b.toml: nothing to change; not dialed: $X: not a valid Ed25519 public key" b.log
kill -0 "$RB" || fail "B died on a bad peer address"

# --- 4: A let go; a topic change needs a restart
config "\"$C@127.0.0.1:$PC\"" 1 '"chat", "news"'
kill -HUP "$RB"
wait_for "B to log the peer let go and the restart needed" grep -qF \
    "gossip: relay: reloaded b.toml: changed connect -$A@127.0.0.1:$PA/1; needs a restart, kept as running: topic" b.log
wait_for "B's connection to A to close" grep -q "127.0.0.1:$PA: closed" b.log

# --- 5: a limit per source applies at once: 127.0.0.1 denied, so a new
# connection from it is closed as it opens (C's, already up, stays)
config "\"$C@127.0.0.1:$PC\"" 1 '"chat", "news"' 'deny = ["127.0.0.1"]'
kill -HUP "$RB"
wait_for "B to log the new deny list" grep -qF "gossip: relay: reloaded b.toml: changed deny " b.log
exec 6<>"/dev/tcp/127.0.0.1/$PB"
wait_for "B to refuse a connection from the denied address" grep -q "denied" b.log
exec 6>&-

kill -TERM "$RB"
wait_exit "$RB" "B"
[ "$EXIT_RC" = 0 ] || fail "B exited $EXIT_RC after SIGTERM"
[ "$(grep -c "connected to $A" b.log)" = 1 ] || fail "B connected to A again after letting it go"
grep -q 'gossip: relay: network: connections_opened=4 ' b.log ||
    fail "B's connections (A, C, two probes; the denied one is not opened): $(grep 'network:' b.log)"
grep 'gossip: relay: network:' b.log | grep -q ' denied_connections=1\b' ||
    fail "B denied no connection after the reload: $(grep 'network:' b.log)"
