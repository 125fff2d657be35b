#!/usr/bin/env bash
# Memory bounds in bytes, measured by peak RSS.
#
# 1. The relay's input: three small deliveries go to `--deliver -` on a
#    fifo whose reader never reads (so the main loop blocks on the fourth
#    write), followed by 24 bulletins of 16 MiB each (400 MB in all). The
#    reader thread may run ahead by IN_FLIGHT (32 MiB) of objects, not by
#    1,024 of them: peak RSS under INPUT_RSS_LIMIT KiB while the relay is
#    stuck (watched for 6 s, then it is killed).
# 2. `store list` and `store query` stream their rows: a store of 200
#    bulletins of 1 MiB (about 200 MB) is listed and queried with peak RSS
#    under STORE_RSS_LIMIT KiB.
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"

INPUT_RSS_LIMIT=${INPUT_RSS_LIMIT:-160000}
STORE_RSS_LIMIT=${STORE_RSS_LIMIT:-48000}
NOW=1700000000
R=$(key relay)

# --- 1. the relay's input, bounded in bytes
for i in 1 2 3; do
    (echo "$i"; head -c 40000 /dev/zero | tr '\0' a) | "$G" bulletin new --topic chat --now "$NOW" | "$G" hashcash -d 0
done >input.in 2>make.log
python3 - <<'PY' >>input.in
import base64, json, os, sys
blob = os.urandom(16 << 20)
for i in range(24):
    content = base64.b64encode(bytes([i]) + blob[1:]).decode()
    json.dump({"content": content, "content_id": "%064x" % i, "nonce": 0,
               "topic": "%064x" % 7, "ts": 1700000000, "type": "bulletin"}, sys.stdout)
    sys.stdout.write("\n")
PY
mkfifo out.fifo
sleep 60 <out.fifo & track
"$G" relay -k relay.key --no-sync --now "$NOW" --bulletin-difficulty 0 --subscribe chat --deliver - \
    <input.in >out.fifo 2>input.log & track
pid=$!
peak=0
for _ in $(seq 60); do
    rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -z "$rss" ] || [ "$rss" -le "$peak" ] || peak=$rss
    kill -0 "$pid" 2>/dev/null || fail "input: the relay ended, its output was not blocked: $(cat input.log)"
    sleep 0.1
done
[ "$peak" -lt "$INPUT_RSS_LIMIT" ] || fail "input: peak RSS $peak KiB with $(($(wc -c <input.in) >> 20)) MiB of input waiting"
echo "input: $(($(wc -c <input.in) >> 20)) MiB of 16 MiB bulletins behind a blocked output, peak RSS $peak KiB"

# --- 2. store list and store query stream their rows
"$G" relay -k relay.key --no-sync --store big.db </dev/null 2>/dev/null
python3 - big.db <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
blob = os.urandom(1 << 20)
for i in range(200):
    db.execute("INSERT INTO bulletins (content_id, topic, ts, nonce, content) VALUES (?, ?, ?, ?, ?)",
               (bytes([i % 256]) * 32, bytes([7]) * 32, 1700000000 + i, 0, bytes([i % 256]) + blob[1:]))
db.commit()
PY
mb=$(($(wc -c <big.db) >> 20))
# (wire output: the bulletins go out as they are, no base64 to spend time on)
/usr/bin/time -f %M -o list.rss "$G" store list --store big.db --format wire | wc -c >list.bytes
[ "$(cat list.bytes)" -gt $((200 << 20)) ] || fail "store list: only $(cat list.bytes) bytes"
/usr/bin/time -f %M -o query.rss "$G" store query --store big.db --format wire \
    --topic-id "$(printf '07%.0s' $(seq 32))" | wc -c >query.bytes
[ "$(cat query.bytes)" = "$(cat list.bytes)" ] || fail "store query: $(cat query.bytes) bytes"
for what in list query; do
    rss=$(tail -n 1 "$what.rss")
    [ "$rss" -lt "$STORE_RSS_LIMIT" ] || fail "store $what: peak RSS $rss KiB on a $mb MiB store"
    echo "store $what: $mb MiB store, peak RSS $rss KiB"
done
echo "ok: memory"
