#!/usr/bin/env bash
# `gossip relay --http`'s /healthz while its --store stops taking writes and
# takes them again, the relay running all along (fetched with python3's
# urllib):
#
# the store's directory made read-only (chmod 555; as root the relay runs
# as an unprivileged user, since root ignores modes) -> 503 naming the
# store and "Permission denied"; chmod 755 -> 200. Then the relay still
# takes a bulletin and stores it (nothing was lost).
#
# A full disk is not here: an idle relay writes its store every second, so
# it fails on its own write and exits 4 (store_faults.sh) about as soon as
# the probe could say 503.
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"

U=$(key user)
R=$(key relay)
trap 'rc=$?; set +e; chmod -R u+w "$T" 2>/dev/null; cleanup "$rc"' EXIT

is_root() { [ "$(id -u)" = 0 ]; }

# health ADDR: prints /healthz's status on one line, then its body.
health() {
    python3 - "$1" <<'EOF'
import sys, urllib.error, urllib.request
try:
    r = urllib.request.urlopen("http://" + sys.argv[1] + "/healthz", timeout=30)
    status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
print(status)
sys.stdout.write(body.decode())
EOF
}

# health_is ADDR STATUS PATTERN: /healthz answers STATUS with a body
# matching PATTERN (kept in health.out).
health_is() {
    health "$1" >health.out 2>/dev/null || return 1
    [ "$(head -n 1 health.out)" = "$2" ] && tail -n +2 health.out | grep -q -- "$3"
}

# start_relay NAME DB [wrapper...]: a relay on the store DB, listening (so
# the end of stdin does not end it), with --http on any free port; sets
# HTTP to its address and RELAY to its pid.
start_relay() {
    local name=$1 db=$2
    shift 2
    "$@" "$G" relay -k "$KEY" --store "$db" -d 0 --bulletin-difficulty 0 --no-sync \
        --subscribe chat --listen 127.0.0.1:0 --http 127.0.0.1:0 </dev/null >/dev/null 2>"$name.log" & track
    RELAY=$!
    wait_for "$name: http address" grep -q '^gossip: relay: http on ' "$name.log"
    HTTP=$(sed -n 's/^gossip: relay: http on \([^ ]*\) .*/\1/p' "$name.log")
}

# cycle NAME DIR BREAK MEND REASON: /healthz is 200, BREAK makes DIR's store
# unwritable -> 503 with "store:" and REASON, MEND undoes it -> 200.
cycle() {
    local name=$1 dir=$2 break=$3 mend=$4 reason=$5
    wait_for "$name: 200 at start" health_is "$HTTP" 200 '^ok$'
    eval "$break"
    wait_for "$name: 503 naming the store" health_is "$HTTP" 503 "^store: $T/$dir/s.db is not writable: .*$reason"
    echo "$name: $(tail -n +2 health.out)"
    eval "$mend"
    wait_for "$name: 200 again" health_is "$HTTP" 200 '^ok$'
    kill -0 "$RELAY" || fail "$name: the relay ended"
}

chmod 755 "$T"
mkdir ro
KEY=relay.key
AS=()
if is_root; then
    cp relay.key nobody.key && chown 65534 nobody.key && chmod 600 nobody.key
    chown 65534 ro
    KEY=nobody.key
    AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
start_relay ro "$T/ro/s.db" "${AS[@]}"
cycle read-only ro 'chmod 555 ro' 'chmod 755 ro' 'Permission denied'

# Nothing lost: the relay still takes a bulletin over its listener and
# stores it.
"$G" bulletin new --topic chat "after the faults" | "$G" hashcash -d 0 |
    "$G" sign -k user.key --to "$R" -d 0 --format wire >one.wire 2>sign.log ||
    fail "cannot make the bulletin"
PORT=$(sed -n 's/^gossip: relay: listening on 127.0.0.1:\([0-9]*\)$/\1/p' ro.log)
python3 - "$PORT" one.wire <<'EOF'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30) as s:
    s.sendall(open(sys.argv[2], "rb").read())
    s.shutdown(socket.SHUT_WR)
    s.settimeout(5)
    try:
        s.recv(1)
    except OSError:
        pass
EOF
metric() {
    python3 -c '
import sys, urllib.request
text = urllib.request.urlopen("http://" + sys.argv[1] + "/metrics", timeout=30).read().decode()
for line in text.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line.split()[1])' "$1" "$2"
}
stored() { [ "$(metric "$HTTP" gossip_relay_delivered_total)" = 1 ]; }
wait_for "the bulletin delivered after the faults" stored
echo "ok: http_health ($U sent one bulletin after the faults, delivered)"
