#!/usr/bin/env bash
# `gossip store backup` and `store export` of a store that a relay is
# writing as fast as it can: a generator (python3) writes bulletins mined at
# difficulty 0 into the relay's stdin without pause, and the relay, which
# follows their topic, stores and delivers each.
# - Three backups are taken one after another during the flood. Each copy
#   passes SQLite's `PRAGMA integrity_check` (python3's sqlite3 module),
#   holds as many bulletins as the backup said and `gossip store list`
#   lists, holds every bulletin the relay had delivered before the backup
#   began (it is a snapshot taken after them), and holds more than the copy
#   before it (the relay went on writing). No temporary file is left.
# - An export taken during the flood, imported into an empty store, gives
#   the same set (`store list` of the new store is the export, byte for
#   byte), and importing it again adds nothing.
# Then the generator stops, the relay ends with exit 0, and its store
# passes `integrity_check` too.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

key relay >/dev/null
TOPIC=$("$G" topic chat)
cat >gen.py <<'PY'
import base64, hashlib, json, sys, time
topic, pad, i = sys.argv[1], "x" * 500, 0
try:
    while True:
        content = f"flood {i} {pad}".encode()
        sys.stdout.write(json.dumps({
            "type": "bulletin", "topic": topic,
            "content_id": hashlib.sha256(content).hexdigest(),
            "ts": int(time.time()), "nonce": 0,
            "content": base64.b64encode(content).decode()}) + "\n")
        i += 1
except BrokenPipeError:
    pass
PY
cat >check.py <<'PY'
import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(c.execute("PRAGMA integrity_check").fetchone()[0],
      c.execute("SELECT count(*) FROM bulletins").fetchone()[0])
PY

mkfifo in.fifo
"$G" relay -k relay.key --store s.db --bulletin-difficulty 0 --no-sync --topic chat \
    --deliver d.jsonl <in.fifo >/dev/null 2>relay.log & track
relay=$!
python3 gen.py "$TOPIC" >in.fifo 2>gen.log & track
gen=$!
wait_for "the relay taking the flood" has_lines d.jsonl 200

prev=0
for k in 1 2 3; do
    before=$(lines d.jsonl)
    rc=0
    "$G" store backup s.db --to "copy$k.db" --format json >"backup$k.out" 2>"backup$k.log" || rc=$?
    [ "$rc" = 0 ] || fail "backup $k: exit $rc ($(cat "backup$k.log"))"
    after=$(lines d.jsonl)
    kill -0 "$relay" 2>/dev/null || fail "the relay ended during backup $k"
    held=$(sed -n 's/.*"bulletins":\([0-9]*\).*/\1/p' "backup$k.out")
    [ -n "$held" ] || fail "backup $k: no count in $(cat "backup$k.out")"
    check=$(python3 check.py "copy$k.db")
    [ "$check" = "ok $held" ] || fail "copy $k: integrity_check and count: '$check', the backup said $held"
    listed=$("$G" store list "copy$k.db" | wc -l)
    [ "$listed" = "$held" ] || fail "copy $k: store list gives $listed, the backup said $held"
    [ "$held" -ge "$before" ] ||
        fail "copy $k holds $held bulletins, but $before were delivered before it began"
    [ "$held" -gt "$prev" ] || fail "copy $k holds $held bulletins, no more than copy $((k - 1)) ($prev)"
    echo "backup $k: $held bulletins; $before delivered when it began, $after when it ended"
    prev=$held
    wait_for "deliveries past copy $k" has_lines d.jsonl $((held + 100))
done

"$G" store export s.db >snap.jsonl 2>export.log || fail "export: $(cat export.log)"
n=$(lines snap.jsonl)
[ "$n" -ge "$prev" ] || fail "the export holds $n bulletins, fewer than copy 3 ($prev)"
report=$("$G" store import fresh.db -i snap.jsonl --bulletin-difficulty 0 --format json 2>import.log) ||
    fail "import: $(cat import.log)"
case $report in *"\"imported\":$n,"*) ;; *) fail "import of $n: $report" ;; esac
"$G" store list fresh.db >fresh.jsonl
cmp -s snap.jsonl fresh.jsonl || fail "the imported store does not list the export"
report=$("$G" store import fresh.db -i snap.jsonl --bulletin-difficulty 0 --format json 2>>import.log) ||
    fail "second import: $(cat import.log)"
case $report in *"\"held\":$n,"*"\"imported\":0,"*) ;; *) fail "second import of $n: $report" ;; esac
echo "export during the flood: $n bulletins, imported once"

kill "$gen"
wait_exit "$relay" "the relay after the flood"
[ "$EXIT_RC" = 0 ] || fail "relay: exit $EXIT_RC ($(tail -n 3 relay.log))"
check=$(python3 check.py s.db)
case $check in "ok "*) ;; *) fail "the live store after the flood: $check" ;; esac
left=$(find . -name '*.tmp' | wc -l)
[ "$left" = 0 ] || fail "temporary files left: $(find . -name '*.tmp')"
echo "relay: $(lines d.jsonl) delivered, ${check#ok } stored"
echo "ok: backup_flood"
