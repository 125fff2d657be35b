#!/usr/bin/env bash
# The relay on Unix-domain sockets, beside TCP:
# 1. `gossip pack | socat` into `--listen unix:PATH` is delivered, and the
#    relay says where it listens.
# 2. Relay B dials A with `--connect ADDR@unix:PATH` and learns nothing
#    from anyone else: a bulletin published on B's stdin reaches A, and one
#    sent to A over its socket reaches B, each delivered exactly once.
# 3. B, started before A's socket exists, keeps redialing until it does.
# 4. A leaves no socket file behind when it ends on SIGTERM.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
command -v socat >/dev/null || fail "socat is needed (apt-get install socat)"

U=$(key user)
A=$(key a)
B=$(key b)

# publish TEXT DST: a bulletin from the user, signed to DST, packed.
publish() {
    "$G" bulletin new --topic chat "$1" | "$G" hashcash | "$G" sign -k user.key --to "$2" |
        "$G" pack
}
is_socket() { [ -S "$1" ]; }

# --- 3 first: B dials a socket that is not there yet
mkfifo bin
exec 5<>bin
"$G" relay -k b.key --connect "$A@unix:$PWD/a.sock" --subscribe chat --deliver db.out \
    <bin >b.stdout 2>b.log & track
RB=$!
wait_for "B to fail a dial" grep -q "cannot reach $A at unix:" b.log

# --- 1: A listens on a Unix socket
"$G" relay -k a.key --listen "unix:$PWD/a.sock" --subscribe chat --deliver da.out \
    </dev/null >a.stdout 2>a.log & track
RA=$!
wait_for "A to listen" is_socket a.sock
grep -q "listening on unix:$PWD/a.sock" a.log || fail "A did not say where it listens: $(cat a.log)"
publish "over a unix socket" "$A" | socat -u - "UNIX-CONNECT:$PWD/a.sock"
wait_for "A to deliver the socat message" has_lines da.out 1

# --- 2: B's redial reaches A; bulletins both ways
wait_for "B to connect to A" grep -q "connected to $A" b.log
"$G" bulletin new --topic chat "from b's stdin" | "$G" hashcash >&5
wait_for "A to deliver B's bulletin" has_lines da.out 2
publish "from a's socket" "$A" | socat -u - "UNIX-CONNECT:$PWD/a.sock"
# (B may already hold two: the first by sync, its own by publishing it)
wait_for "A to deliver the second socat message" has_lines da.out 3
wait_for "B to deliver all three" has_lines db.out 3
exec 5>&-

[ "$(lines da.out)" = 3 ] || fail "A delivered $(lines da.out) bulletins, expected 3: $(cat da.out)"
[ "$(lines db.out)" = 3 ] || fail "B delivered $(lines db.out) bulletins, expected 3: $(cat db.out)"
for f in da.out db.out; do
    dups=$(python3 -c 'import json,sys; ids=[json.loads(l)["content_id"] for l in open(sys.argv[1])]; print(len(ids)-len(set(ids)))' "$f")
    [ "$dups" = 0 ] || fail "$f holds $dups duplicates"
done

# --- 4: no socket file left behind
kill -TERM "$RA"
wait_exit "$RA" "A"
[ "$EXIT_RC" = 0 ] || fail "A exited $EXIT_RC after SIGTERM"
[ ! -e a.sock ] || fail "A left its socket file behind"
kill -TERM "$RB"
wait_exit "$RB" "B"
echo "ok: unix"
