#!/usr/bin/env bash
# Regenerates the seed corpora in fuzz/corpus/<target>/ from the reference
# vectors (tests/vectors/reference.json) and the gossip CLI.
# Usage: fuzz/seed.sh [path/to/gossip]   (default: builds and uses target/debug/gossip)
set -euo pipefail
cd "$(dirname "$0")/.."
GOSSIP=${1:-}
if [ -z "$GOSSIP" ]; then
    cargo build --quiet --bin gossip
    GOSSIP=target/debug/gossip
fi
GOSSIP=$(realpath "$GOSSIP")
CORPUS=fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for t in bulletin message payload json_object wire_stream key_file relay_input; do
    mkdir -p "$CORPUS/$t"
done

# Packed bulletins and messages, plaintext bodies, JSON objects and wire
# frames from the vectors, written by Python as raw files.
python3 - "$work" <<'PY'
import json, os, struct, sys, hashlib
work = sys.argv[1]
v = json.load(open("tests/vectors/reference.json"))
C = "fuzz/corpus"
def put(target, name, data):
    with open(os.path.join(C, target, name), "wb") as f:
        f.write(data)
def frame(b):
    return struct.pack(">I", len(b)) + b
bulletins = [bytes.fromhex(b["packed"]) for b in v["bulletins"]]
messages = [bytes.fromhex(m["packed"]) for m in v["messages"]]
invalid = [bytes.fromhex(m["packed"]) for m in v["invalid_messages"]]
bodies = [bytes.fromhex(m["plaintext_body"]) for m in v["messages"]]
for i, b in enumerate(bulletins):
    put("bulletin", f"vector-{i}", b)
    put("payload", f"saf-{i}", b"\x00" + b)
    put("payload", f"respond-content-{i}", b"\x05" + b)
    open(os.path.join(work, f"b{i}.bin"), "wb").write(b)
for i, m in enumerate(messages + invalid):
    put("message", f"vector-{i}", m)
    open(os.path.join(work, f"m{i}.bin"), "wb").write(m)
for i, body in enumerate(bodies):
    put("payload", f"body-{i}", body)
topic = bytes.fromhex(v["topics"][0]["topic_id"])
put("payload", "request-sync", b"\x02" + topic)
put("payload", "respond-sync", b"\x03" + topic + bytes(range(64)))
put("payload", "request-content", b"\x04" + bytes(32))
put("payload", "routing", b"\x09\x01\x02")
put("payload", "unknown-op", b"\x0b")
# wire_stream: selector byte (0 any, 1 bulletin, 2 message), then a stream.
put("wire_stream", "any-frames", b"\x00" + b"".join(frame(x) for x in bulletins + messages))
put("wire_stream", "bulletin-frames", b"\x01" + b"".join(frame(x) for x in bulletins))
put("wire_stream", "message-frames", b"\x02" + b"".join(frame(x) for x in messages))
put("wire_stream", "oversized", b"\x00" + b"\x04\xff\xff\xff\x01")
put("wire_stream", "truncated", b"\x00" + b"\x00\x00\x01\x00abc")
# relay_input: mode 0 raw message, mode 1 object stream, mode 2 chunks.
for i, m in enumerate(messages + invalid):
    put("relay_input", f"raw-{i}", b"\x00" + m)
put("relay_input", "stream-frames", b"\x01" + b"".join(frame(x) for x in messages + bulletins))
def chunk(flags, body):
    return bytes([flags]) + struct.pack(">H", len(body)) + body
peer = bytes.fromhex(v["messages"][0]["src"])
beacon = hashlib.sha256(b"node beacon channel").digest()
notice = b"delivery_code:" + peer + bytes(8)
notice_b = beacon + hashlib.sha256(notice).digest() + struct.pack(">II", 0, 0) + notice
seq = b"".join([
    chunk(3, b"\x00" + bulletins[0]),
    chunk(7, b"\x01" + bulletins[1]),
    chunk(3, b"\x05" + bulletins[2]),
    chunk(4, b"\x00" + bulletins[0]),
    chunk(6, b"\x01" + notice_b),
    chunk(0, b"\x02" + beacon),
    chunk(4, b"\x03" + bytes(32) + hashlib.sha256(b"x").digest() + bytes(32)),
    chunk(0, b"\x04" + hashlib.sha256(b"x").digest()),
    chunk(0, b"\x09"),
])
put("relay_input", "chunks", b"\x02" + seq)
for i, body in enumerate(bodies):
    put("relay_input", f"chunk-body-{i}", b"\x02" + chunk(7, body))
PY

# JSON objects as `gossip unpack` writes them, and JSON Lines streams.
for f in "$work"/b*.bin; do
    "$GOSSIP" unpack --type bulletin --raw -i "$f" > "$CORPUS/json_object/$(basename "$f" .bin).json"
done
for f in "$work"/m*.bin; do
    out="$CORPUS/json_object/$(basename "$f" .bin).json"
    # Some invalid vectors are too short to be messages: no JSON for those.
    "$GOSSIP" unpack --type message --raw -i "$f" > "$out" 2>/dev/null || rm -f "$out"
done
cat "$CORPUS"/json_object/b*.json "$CORPUS"/json_object/m0.json > "$work/lines"
{ printf '\000'; cat "$work/lines"; } > "$CORPUS/wire_stream/json-lines"
{ printf '\001'; cat "$CORPUS"/json_object/b*.json; } > "$CORPUS/wire_stream/json-bulletins"
{ printf '\001'; cat "$work/lines"; } > "$CORPUS/relay_input/stream-json"

# Key files as `gossip keygen` writes them, plus variants.
"$GOSSIP" keygen > "$CORPUS/key_file/keygen" 2>/dev/null
grep -v '^#' "$CORPUS/key_file/keygen" > "$CORPUS/key_file/bare-hex"
sed 's/^# address: ./# address: 0/' "$CORPUS/key_file/keygen" > "$CORPUS/key_file/wrong-address"
printf '# comment only\n\n' > "$CORPUS/key_file/no-seed"
echo "seeds written under $CORPUS"
