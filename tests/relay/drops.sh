#!/usr/bin/env bash
# Every reason a relay drops a message, fed through one relay at a fixed
# --now, each counted once under its name (drop.<reason>=1), plus a routing
# operation (unsupported) and garbage lines (malformed). Valid messages
# before and after show the relay goes on after each. Two more relays, one
# asking a message difficulty of 30 and one a bulletin difficulty of 30,
# count a valid message as weak_proof_of_work and
# weak_bulletin_proof_of_work.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

NOW=1700000000
export GOSSIP_NOW=$NOW
U=$(key user)
R=$(key relay)
OTHER=$(key other)

# bulletin TS TEXT: a bulletin on `chat` at TS, mined to the default 7 bits.
bulletin() {
    "$G" bulletin new --topic chat --ts "$1" "$2" | "$G" hashcash
}
# wrap: a bulletin on stdin in a message to the relay, sealed, signed, mined.
wrap() {
    "$G" sign -k user.key --to "$R" "$@"
}
# edit PY: applies a python expression to the JSON object `o` of each line.
edit() {
    python3 -c '
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    exec(sys.argv[1])
    print(json.dumps(o))' "$1"
}
# failing_nonce BITS: sets the object's nonce so that it does NOT reach BITS
# (most nonces do not; tries upwards from 0).
failing_nonce() {
    local obj n
    obj=$(cat)
    for n in $(seq 0 200); do
        local cand
        cand=$(printf '%s\n' "$obj" | edit "o['nonce'] = $n")
        if ! printf '%s\n' "$cand" | "$G" hashcash --check -d "$1" >/dev/null 2>&1; then
            printf '%s\n' "$cand"
            return 0
        fi
    done
    fail "no nonce below 200 fails difficulty $1"
}

{
    bulletin $NOW "valid before" | wrap
    bulletin $NOW "to someone else" | "$G" sign -k user.key --to "$OTHER"
    bulletin $NOW "too old" | wrap --now $((NOW - 301))
    bulletin $NOW "from the future" | wrap --now $((NOW + 61))
    bulletin $NOW "weak message" | wrap | failing_nonce 1
    bulletin $NOW "unsigned" | "$G" message new --from "$U" --to "$R" --ts $NOW |
        "$G" encrypt | "$G" hashcash
    bulletin $NOW "bad signature" | wrap |
        edit "s = bytearray.fromhex(o['sig']); s[10] ^= 1; o['sig'] = s.hex()"
    bulletin $NOW "not encrypted" | wrap --no-encrypt
    printf 'too short' >short.bin
    "$G" message new -k user.key --to "$R" --ts $NOW --body-file short.bin |
        "$G" encrypt | "$G" sign -k user.key | "$G" hashcash
    bulletin $((NOW - 3600)) "expired" | wrap
    bulletin $((NOW + 61)) "bulletin from the future" | wrap
    "$G" bulletin new --topic chat --ts $NOW "content id" |
        edit "o['content_id'] = '11' * 32" | "$G" hashcash | wrap
    "$G" bulletin new --topic chat --ts $NOW "weak bulletin" | failing_nonce 7 | wrap
    printf 'somewhere' >route.bin
    "$G" message new -k user.key --to "$R" --ts $NOW --op route_message --body-file route.bin |
        "$G" encrypt | "$G" sign -k user.key | "$G" hashcash
    printf '%s\n' '{"type":"message","dst":"not hex"}' '{garbage'
    bulletin $NOW "valid after" | wrap
} >input.jsonl 2>make.log
[ "$(lines input.jsonl)" = 17 ] || fail "made $(lines input.jsonl) input lines, expected 17"

"$G" relay -k relay.key --now $NOW --subscribe chat --deliver d.out --no-sync <input.jsonl >r.stdout 2>r.log
for reason in wrong_destination too_old from_future weak_proof_of_work unsigned \
    bad_signature undecryptable bad_payload expired bulletin_from_future \
    content_id_mismatch weak_bulletin_proof_of_work; do
    expect_counter r.log "drop.$reason" 1
done
[ "$(grep -o ' drop\.[a-z_]*=' r.log | sort -u | wc -l)" = 12 ] || fail "drops under other names: $(tail -n 1 r.log)"
expect_counter r.log unsupported 1
expect_counter r.log malformed 2
expect_counter r.log received 17
expect_counter r.log accepted 3 # the two valid ones and the routing one
expect_counter r.log delivered 2
[ "$(lines d.out)" = 2 ] || fail "delivered $(lines d.out), expected the two valid bulletins"
[ ! -s r.stdout ] || fail "the relay wrote messages to stdout"

# The same checks set by flags: a valid message is too weak for -d 30, and
# its bulletin too weak for --bulletin-difficulty 30.
bulletin $NOW "valid" | wrap >valid.jsonl 2>>make.log
"$G" relay -k relay.key --now $NOW -d 30 --no-sync <valid.jsonl >/dev/null 2>d30.log
expect_counter d30.log drop.weak_proof_of_work 1
expect_counter d30.log accepted 0
"$G" relay -k relay.key --now $NOW --bulletin-difficulty 30 --no-sync <valid.jsonl >/dev/null 2>b30.log
expect_counter b30.log drop.weak_bulletin_proof_of_work 1
expect_counter b30.log accepted 0
echo "ok: drops"
