#!/usr/bin/env bash
# Issue 20: a relay that missed 20,000 bulletins of a followed topic ends
# with all 20,000, each delivered once, over TCP. CASE picks the way it
# missed them:
# - late:      relay A takes 20,000 on `chat`; relay B then starts, dials A
#              and catches up on all of them.
# - restart:   A takes 10,000; B dials A and is killed (SIGKILL) in the
#              middle of catching up; A takes 10,000 more; B restarts on
#              the same --store and --deliver file and catches up the rest.
#              Then B is stopped (SIGTERM) and started once more: it
#              delivers nothing new.
# - partition: B dials A through a TCP proxy (socat); 2,000 bulletins given
#              to A reach B by forwarding; the proxy is killed, and A and B
#              each take 9,000 bulletins of their own; the proxy comes back,
#              B redials, and each side ends with the union, 20,000.
# Each relay follows `chat` and names the other as its peer (B with
# --connect, A with --trust), so neither side's answers come out of the
# answer budget for strangers (docs/protocol.md, "Sync pages").
#
# A relay with --store commits each new bulletin in its own SQLite
# transaction, synced to disk: about 350 a second on a small VM's disk,
# which would make this test about the disk. It runs on tmpfs (/dev/shm)
# when there is one; TMPDIR set by the caller wins.
set -euo pipefail
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
DEADLINE=${DEADLINE:-120}
source "$(dirname "$0")/lib.sh" "$@"
CASE=${CASE:?set CASE to late, restart or partition}
command -v nc >/dev/null || fail "nc (netcat-openbsd) is not installed"
command -v python3 >/dev/null || fail "python3 is not installed"

N=20000
START=$SECONDS
U=$(key user)
A=$(key a)
B=$(key b)
TOPIC=$("$G" topic chat)

# bulletins FIRST LAST: unmined bulletins on `chat` with contents "m FIRST"
# .. "m LAST", as json lines (one `gossip bulletin new` per bulletin would
# start 20,000 processes).
bulletins() {
    python3 - "$TOPIC" "$1" "$2" <<'EOF'
import base64, hashlib, json, sys, time
topic, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = int(time.time())
for i in range(first, last + 1):
    c = f"m {i}".encode()
    print(json.dumps({"type": "bulletin", "topic": topic,
                      "content_id": hashlib.sha256(c).hexdigest(), "ts": now,
                      "nonce": 0, "content": base64.b64encode(c).decode()}))
EOF
}

# publish FIRST LAST ADDR PORT: bulletins FIRST..LAST, mined at difficulty
# 0 and sent at message difficulty 0 (the relays listen with /0) by the user to the relay of address ADDR listening on PORT.
publish() {
    bulletins "$1" "$2" | "$G" hashcash -d 0 |
        "$G" sign -d 0 -k user.key --to "$3" 2>>sign.log | "$G" pack |
        nc -N 127.0.0.1 "$4" >/dev/null
}

# relay NAME ARGS...: starts relay NAME (key NAME.key, store NAME.db,
# deliveries appended to dNAME.out, log NAME.log) following `chat`.
relay() {
    local name=$1
    shift
    "$G" relay -k "$name.key" --subscribe chat --store "$name.db" --deliver "d$name.out" \
        --bulletin-difficulty 0 "$@" </dev/null >>"$name.stdout" 2>>"$name.log" & track
}

# stop PID NAME: SIGTERM, and the relay must exit 0.
stop() {
    kill -TERM "$1"
    wait_exit "$1" "$2"
    [ "$EXIT_RC" = 0 ] || fail "$2 exited $EXIT_RC after SIGTERM"
}

# status LOG NAME: NAME's value in LOG's last status line (0 if none).
status() {
    { grep '"type":"relay_status"' "$1" || true; } | tail -n 1 |
        python3 -c 'import json,sys
line = sys.stdin.read().strip()
print(json.loads(line)["counters"].get(sys.argv[1], 0) if line else 0)' "$2"
}
at_least() { [ "$(status "$1" "$2")" -ge "$3" ]; }

# once NAME: every line of dNAME.out is a bulletin of `chat` and no content
# id is delivered twice; prints the count.
once() {
    local f="d$1.out"
    local dupes other
    dupes=$(grep -o '"content_id":"[^"]*"' "$f" | sort | uniq -d | wc -l)
    [ "$dupes" = 0 ] || fail "$1 delivered $dupes bulletins more than once"
    other=$(grep -vc "\"topic\":\"$TOPIC\"" "$f" || true)
    [ "$other" = 0 ] || fail "$1 delivered $other lines that are not whole bulletins of chat"
    lines "$f"
}

# complete NAME: NAME delivered all N, once each; its last run counted no
# unsolicited answer and cut nothing by a cap.
complete() {
    local got
    got=$(once "$1")
    [ "$got" = $N ] || fail "$1 delivered $got bulletins, expected $N"
    expect_counter "$1.log" unsolicited 0
    expect_counter "$1.log" over_cap 0
}

pick_port
PA=$PORT
case $CASE in
late)
    relay a --listen "127.0.0.1:$PA/0" --trust "$B"
    RA=$!
    wait_for "A to listen" listening "$PA"
    publish 1 $N "$A" "$PA"
    wait_for "A to deliver the $N bulletins" has_lines da.out $N
    T0=$SECONDS
    relay b --connect "$A@127.0.0.1:$PA/0"
    RB=$!
    wait_for "B to deliver the $N bulletins through sync" has_lines db.out $N
    T1=$SECONDS
    stop "$RB" B
    stop "$RA" A
    complete b
    expect_counter b.log delivered $N
    expect_counter a.log over_cap 0
    echo "ok: catchup_20k late: B caught up $N in $((T1 - T0)) s ($(counter b.log sync_deferred) deferred)"
    ;;
restart)
    relay a --listen "127.0.0.1:$PA/0" --trust "$B"
    RA=$!
    wait_for "A to listen" listening "$PA"
    publish 1 10000 "$A" "$PA"
    wait_for "A to deliver the first 10,000" has_lines da.out 10000
    relay b --connect "$A@127.0.0.1:$PA/0"
    RB=$!
    wait_for "B to be catching up" has_lines db.out 3000
    kill -9 "$RB"
    wait_exit "$RB" "B after SIGKILL"
    held=$(lines db.out)
    [ "$held" -lt 10000 ] || fail "B had caught up all 10,000 before the kill: no restart mid-sync"
    publish 10001 $N "$A" "$PA"
    wait_for "A to deliver all $N" has_lines da.out $N
    relay b --connect "$A@127.0.0.1:$PA/0"
    RB=$!
    wait_for "B to deliver the rest after its restart" has_lines db.out $N
    stop "$RB" B
    complete b
    # A third run holds everything: it reconciles chat and the beacon with A
    # (for each, A's accept and one negentropy answer to B's sync, A's
    # request and its negentropy query for A's: 8 messages) and delivers
    # nothing. (With full lists it took A's 20 pages of ids.)
    mv b.log b12.log
    relay b --connect "$A@127.0.0.1:$PA/0" --status-every 1
    RB=$!
    wait_for "B's third run to reconcile with A" at_least b.log received 8
    stop "$RB" B
    complete b
    expect_counter b.log delivered 0
    expect_counter b.log sync_fallbacks 0
    stop "$RA" A
    expect_counter a.log over_cap 0
    echo "ok: catchup_20k restart: B held $held when killed, then caught up to $N, once each"
    ;;
partition)
    command -v socat >/dev/null || fail "socat is not installed"
    relay a --listen "127.0.0.1:$PA/0" --trust "$B"
    RA=$!
    pick_port
    PB=$PORT
    pick_port
    PP=$PORT
    # proxy: the link between B and A, one connection per socat process.
    proxy() {
        socat "TCP-LISTEN:$PP,bind=127.0.0.1,reuseaddr" "TCP:127.0.0.1:$PA" 2>>proxy.log & track
        PROXY=$!
        wait_for "the proxy to listen" listening "$PP"
    }
    proxy
    relay b --listen "127.0.0.1:$PB/0" --connect "$A@127.0.0.1:$PP/0"
    RB=$!
    wait_for "A to listen" listening "$PA"
    wait_for "B to listen" listening "$PB"
    publish 1 2000 "$A" "$PA"
    wait_for "B to deliver the 2,000 A forwarded" has_lines db.out 2000
    kill -9 "$PROXY"
    wait_exit "$PROXY" "the proxy"
    publish 2001 11000 "$A" "$PA" &
    PUBA=$!
    publish 11001 $N "$B" "$PB"
    wait "$PUBA" || fail "publishing to A failed"
    wait_for "A to take its 9,000" has_lines da.out 11000
    wait_for "B to take its 9,000" has_lines db.out 11000
    a_only=$(lines da.out)
    b_only=$(lines db.out)
    [ "$a_only" = 11000 ] || fail "A delivered $a_only during the partition, expected 11000"
    [ "$b_only" = 11000 ] || fail "B delivered $b_only during the partition, expected 11000"
    T0=$SECONDS
    proxy
    wait_for "A to have the union" has_lines da.out $N
    wait_for "B to have the union" has_lines db.out $N
    T1=$SECONDS
    stop "$RB" B
    stop "$RA" A
    complete a
    complete b
    echo "ok: catchup_20k partition: each side had 11000 of $N, both have $N after healing in $((T1 - T0)) s"
    ;;
*)
    fail "unknown CASE $CASE"
    ;;
esac
echo "catchup_20k $CASE: $((SECONDS - START)) s in all"
