# Shared helpers for the relay end-to-end scripts; sourced, not run.
# Usage from a script: source "$(dirname "$0")/lib.sh" "$@"
# $1 is the gossip binary. Every background process a script starts goes
# through `bg` so the EXIT trap can end it by pid; everything runs in a
# fresh mktemp directory that is removed at exit.

G=${1:?usage: $0 PATH_TO_GOSSIP_BINARY}
case $G in /*) ;; *) G=$PWD/$G ;; esac
[ -x "$G" ] || { echo "not an executable: $G" >&2; exit 2; }
DEADLINE=${DEADLINE:-20}
# The scripts read the relay's text log as it prints by default.
unset RUST_LOG
T=$(mktemp -d "${TMPDIR:-/tmp}/gossip-relay-test.XXXXXX")
PIDS=()

# cleanup [RC]: ends the tracked processes, shows the logs on failure,
# removes the directory and exits RC (default: the status the script ended
# with). A script with more to undo runs it first in its own EXIT trap, then
# `cleanup "$rc"`; never `(exit $rc)` there, which under `set -e` would end
# the trap before the cleanup.
cleanup() {
    local rc=${1:-$?}
    set +e
    local p
    for p in "${PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ] && [ -z "${KEEP_TMP:-}" ]; then
        dump_logs
    fi
    if [ -n "${KEEP_TMP:-}" ]; then
        echo "kept $T" >&2
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$T"

# Prints every log file, for the test driver to show on failure.
dump_logs() {
    local f
    for f in "$T"/*.log "$T"/*.jsonl "$T"/*.out; do
        [ -f "$f" ] || continue
        echo "----- ${f##*/}" >&2
        head -c 4000 "$f" >&2
    done
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# track: records the pid of the command just started with `&`, so the EXIT
# trap ends it. Start each process on its own (redirections on the command,
# e.g. `"$G" relay ... <f1 >f2 2>r1.log 3>&- & track`), never a pipeline,
# so every pid is known.
track() {
    PIDS+=("$!")
}

# wait_for DESC CMD...: polls CMD until it succeeds, failing after DEADLINE s.
wait_for() {
    local desc=$1
    shift
    local end=$((SECONDS + DEADLINE))
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || fail "timed out after ${DEADLINE}s waiting for: $desc"
        sleep 0.05
    done
}

# wait_exit PID DESC: waits (with the deadline) for a background process to
# end and sets EXIT_RC to its exit status.
wait_exit() {
    local pid=$1 desc=$2
    local end=$((SECONDS + DEADLINE))
    while kill -0 "$pid" 2>/dev/null; do
        [ "$SECONDS" -lt "$end" ] || fail "timed out after ${DEADLINE}s waiting for $desc to exit"
        sleep 0.05
    done
    EXIT_RC=0
    { wait "$pid"; } 2>/dev/null || EXIT_RC=$?
}

# lines FILE: number of lines (0 when missing).
lines() {
    if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# has_lines FILE N: FILE has at least N lines.
has_lines() {
    [ "$(lines "$1")" -ge "$2" ]
}

# counter LOG NAME: a counter from the relay's final counters line in LOG
# (0 when the name is absent, as drop.<reason> counters are until counted).
counter() {
    local line
    line=$(grep '^gossip: relay: received=' "$1" | tail -n 1) || fail "no counters line in ${1##*/}"
    local v
    v=$(printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1)
    echo "${v:-0}"
}

# expect_counter LOG NAME VALUE
expect_counter() {
    local got
    got=$(counter "$1" "$2")
    [ "$got" = "$3" ] || fail "${1##*/}: expected $2=$3, got $2=$got ($(grep '^gossip: relay: received=' "$1" | tail -n 1))"
}

# key NAME: makes NAME.key and prints its address.
key() {
    "$G" keygen -o "$1.key" 2>/dev/null
    "$G" address -k "$1.key"
}

# padded_messages TO OUT: 100 messages signed by user.key to TO, each a
# bulletin of about 2 KB on topic chat (100 forwards overflow a 64 KiB pipe
# buffer), into OUT as JSON lines.
padded_messages() {
    local pad i
    pad=$(head -c 2000 /dev/zero | tr "\\0" x)
    for i in $(seq 100); do "$G" bulletin new --topic chat "bulletin $i $pad"; done |
        "$G" hashcash -d 0 | "$G" sign -k user.key --to "$1" -d 0 >"$2" 2>make.log
}

# count_id FILE CONTENT_ID: how many delivered bulletins in FILE carry the id.
count_id() {
    if [ -f "$1" ]; then grep -c "\"content_id\":\"$2\"" "$1" || true; else echo 0; fi
}

# listening PORT: something listens on 127.0.0.1:PORT (from /proc, so the
# check does not take the listener's only connection).
listening() {
    local hex
    hex=$(printf '%04X' "$1")
    grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A " /proc/net/tcp
}

# free PORT: nothing on PORT at all.
free_port() {
    local hex
    hex=$(printf '%04X' "$1")
    ! grep -q ":$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# pick_port: sets PORT to a free loopback port.
pick_port() {
    while :; do
        PORT=$((20000 + RANDOM % 40000))
        free_port "$PORT" && return 0
    done
}

# listen OUT LOG: starts `nc -l` on a free port, writing what it receives to
# OUT; retries other ports if the listen fails. Sets PORT and LISTENER.
listen() {
    local out=$1 log=$2 tries=0
    while :; do
        tries=$((tries + 1))
        [ $tries -le 20 ] || fail "no port to listen on after 20 tries"
        PORT=$((20000 + RANDOM % 40000))
        free_port "$PORT" || continue
        nc -l 127.0.0.1 "$PORT" </dev/null >"$out" 2>"$log" & track
        LISTENER=$!
        local end=$((SECONDS + DEADLINE))
        while ! listening "$PORT"; do
            kill -0 "$LISTENER" 2>/dev/null || break
            [ "$SECONDS" -lt "$end" ] || fail "nc -l on $PORT never listened"
            sleep 0.05
        done
        listening "$PORT" && return 0
        wait "$LISTENER" || true # it died (port taken): try another
    done
}
