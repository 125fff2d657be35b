#!/usr/bin/env bash
# A --store is checked and locked when a relay opens it.
#
# 1. Two relays on one store: while a first relay runs on it, a second one
#    exits 4 at once, naming the store as in use (it does not treat the
#    first one's in-flight deliveries as crash leftovers); `store list`,
#    `store get` and `store query` still read it meanwhile, and `store
#    purge` (which writes) is refused with exit 4. Once the first
#    relay has ended, a relay opens the store again.
# 2. A truncated store (cut to half its size) and an overwritten one (a
#    page in the middle zeroed): the relay refuses it with exit 4, one
#    error line and a hint, and writes nothing.
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"

R=$(key relay)
N=60
pad=$(head -c 3000 /dev/zero | tr '\0' x)
for i in $(seq "$N"); do
    "$G" bulletin new --topic chat "bulletin $i $pad"
done | "$G" hashcash -d 0 >b.in 2>make.log

relay() { # a relay on s.db delivering topic chat; becomes its subshell
    exec "$G" relay -k relay.key --bulletin-difficulty 0 --subscribe chat --no-sync "$@"
}

# one_error LOG: one error line (hints and the counters line aside), no panic
one_error() {
    ! grep -q panicked "$1" || fail "panic in $1"
    local errs
    errs=$(grep -v -e '^gossip: relay: received=' -e '^gossip: relay: address ' "$1" | grep -vc '^hint: ' || true)
    [ "$errs" = 1 ] || fail "$1: expected one error line, got: $(cat "$1")"
}

# --- 1. a second relay on a store in use
mkfifo in.fifo
exec 3<>in.fifo
(relay --store s.db --deliver first.deliver <in.fifo >/dev/null 2>first.log 3>&-) & track
first=$!
cat b.in >&3
wait_for "the first relay's deliveries" has_lines first.deliver "$N"
rc=0
(relay --store s.db --deliver second.deliver <b.in >/dev/null 2>second.log) || rc=$?
[ "$rc" = 4 ] || fail "second relay: exit $rc, expected 4 ($(cat second.log))"
one_error second.log
grep -q "store s.db.*in use" second.log || fail "second relay: the error does not name the store in use: $(cat second.log)"
[ "$(lines second.deliver)" = 0 ] || fail "second relay: delivered $(lines second.deliver)"
[ "$("$G" store list --store s.db | wc -l)" = "$N" ] || fail "store list beside a running relay"
id=$(head -n 1 first.deliver | sed -n 's/.*"content_id":"\([0-9a-f]*\)".*/\1/p')
"$G" store get --store s.db "$id" | grep -q "$id" || fail "store get beside a running relay"
[ "$("$G" store query --store s.db --topic chat | wc -l)" = "$N" ] || fail "store query beside a running relay"
rc=0
"$G" store purge --store s.db 2>purge.log || rc=$?
[ "$rc" = 4 ] && grep -q 'in use' purge.log || fail "store purge beside a running relay: exit $rc ($(cat purge.log))"
exec 3>&-
wait_exit "$first" "the first relay"
[ "$EXIT_RC" = 0 ] || fail "first relay: exit $EXIT_RC ($(cat first.log))"
(relay --store s.db --deliver first.deliver <b.in >/dev/null 2>third.log) || fail "after the first relay ended: $(cat third.log)"
[ "$(lines first.deliver)" = "$N" ] || fail "delivered twice or lost: $(lines first.deliver) lines"
echo "in use: $(grep -v received= second.log | head -n 1)"

# --- 2. a damaged store is refused
damaged() { # damaged NAME: the relay refuses NAME.db
    rc=0
    (relay --store "$1.db" --deliver "$1.deliver" <b.in >/dev/null 2>"$1.log") || rc=$?
    [ "$rc" = 4 ] || fail "$1 store: exit $rc, expected 4 ($(cat "$1.log"))"
    one_error "$1.log"
    grep -q '^hint: .*damaged' "$1.log" || fail "$1 store: no hint: $(cat "$1.log")"
    [ "$(lines "$1.deliver")" = 0 ] || fail "$1 store: delivered $(lines "$1.deliver")"
    echo "$1: $(grep -v received= "$1.log" | head -n 1)"
}
[ ! -e s.db-wal ] || [ ! -s s.db-wal ] || fail "the store's WAL was not folded in at the end"
size=$(wc -c <s.db)
head -c $((size / 2)) s.db >truncated.db
damaged truncated
cp s.db overwritten.db
dd if=/dev/zero of=overwritten.db bs=4096 seek=$((size / 4096 / 2)) count=1 conv=notrunc 2>/dev/null
damaged overwritten
echo "ok: store_guard"
