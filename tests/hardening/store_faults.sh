#!/usr/bin/env bash
# A relay's --store gone wrong: read-only and full. Each must give exit 4
# and one `gossip: ...` error (no panic), and leave a store that still opens
# (`gossip store list`) and passes SQLite's `PRAGMA integrity_check`.
#
# 1. Read-only: a store made by a first relay is chmod 444 in a directory
#    chmod 555, and the relay runs as an unprivileged user (root ignores
#    modes) -> exit 4; `store list` as that user still shows the bulletins.
# 2. Read-only file system: the store's tmpfs remounted ro -> exit 4; the
#    bulletins are still listed.
# 3. Full disk: a 1 MiB tmpfs holding the store, filled up with a file, the
#    relay fed more bulletins than fit -> exit 4 (SQLITE_FULL); afterwards
#    integrity_check says ok and every bulletin the relay delivered is in
#    the store.
# Needs root (tmpfs mounts, setpriv); GOSSIP_SKIP_MOUNT=1 skips 2 and 3 when
# not root, otherwise they fail loudly.
set -euo pipefail
source "$(dirname "$0")/../relay/lib.sh" "$@"

NOW=1700000000
export GOSSIP_NOW=$NOW
U=$(key user)
R=$(key relay)
MOUNTS=()
unmount_all() {
    local m
    for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done
}
trap 'rc=$?; set +e; unmount_all; cleanup "$rc"' EXIT

pad=$(head -c 600 /dev/zero | tr '\0' x)
for i in $(seq 400); do
    "$G" bulletin new --topic chat "bulletin $i $pad"
done | "$G" hashcash -d 0 | "$G" sign -k user.key --to "$R" -d 0 >all.jsonl 2>sign.log
[ "$(lines all.jsonl)" = 400 ] || fail "made $(lines all.jsonl) messages"
head -n 20 all.jsonl >first.jsonl
tail -n 20 all.jsonl >more.jsonl

relay() { # relay DB DELIVER [wrapper...] < input
    local db=$1 out=$2
    shift 2
    "$@" "$G" relay -k relay.key --store "$db" -d 0 --bulletin-difficulty 0 --no-sync \
        --subscribe chat --deliver "$out"
}

integrity() {
    python3 -c '
import sqlite3, sys
try:
    c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
    print(c.execute("PRAGMA integrity_check").fetchone()[0])
except sqlite3.OperationalError:  # a WAL store on a read-only file system
    c = sqlite3.connect("file:" + sys.argv[1] + "?immutable=1", uri=True)
    print(c.execute("PRAGMA integrity_check").fetchone()[0])' "$1"
}

# check_error LOG: exactly one error line (the counters and start lines aside), no panic.
check_error() {
    ! grep -q panicked "$1" || fail "panic in $1"
    local errs
    errs=$(grep -v -e '^gossip: relay: received=' -e '^gossip: relay: address ' "$1" | grep -vc '^hint: ' || true)
    [ "$errs" = 1 ] || fail "$1: expected one error line, got: $(cat "$1")"
    grep -q '^gossip: ' "$1" || fail "$1: no gossip: line"
}

is_root() { [ "$(id -u)" = 0 ]; }

# --- 1. read-only file and directory, as an unprivileged user
if is_root; then
    chmod 755 "$T" && mkdir ro && chmod 755 ro
    relay ro/s.db ro/d.jsonl <first.jsonl 2>ro1.log
    [ "$(lines ro/d.jsonl)" = 20 ] || fail "ro: first run delivered $(lines ro/d.jsonl)"
    cp relay.key nobody.key && chown 65534 nobody.key && chmod 600 nobody.key
    chmod 444 ro/s.db && chmod 555 ro
    AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    rc=0
    "${AS[@]}" "$G" relay -k nobody.key --store ro/s.db -d 0 --bulletin-difficulty 0 --no-sync \
        --subscribe chat <more.jsonl >/dev/null 2>ro2.log || rc=$?
    [ "$rc" = 4 ] || fail "read-only store: relay exit $rc, expected 4 ($(cat ro2.log))"
    check_error ro2.log
    [ "$("${AS[@]}" "$G" store list --store ro/s.db | wc -l)" = 20 ] || fail "read-only store: store list as the user"
    [ "$(integrity ro/s.db)" = ok ] || fail "read-only store: integrity"
    echo "read-only file: exit 4: $(grep -v received= ro2.log)"
else
    echo "read-only file: skipped (not root: modes cannot be tested as root-less? run as root)" >&2
fi

if ! is_root; then
    [ "${GOSSIP_SKIP_MOUNT:-}" = 1 ] || fail "not root: cannot mount tmpfs (set GOSSIP_SKIP_MOUNT=1 to skip)"
    echo "ok: store_faults (mount cases skipped)"
    exit 0
fi

# --- 2. read-only file system
mkdir rofs
mount -t tmpfs -o size=4m tmpfs rofs || fail "cannot mount tmpfs (set GOSSIP_SKIP_MOUNT=1 to skip)"
MOUNTS+=("$T/rofs")
relay rofs/s.db rofs/d.jsonl <first.jsonl 2>rofs1.log
mount -o remount,ro rofs
rc=0
relay rofs/s.db d-rofs.jsonl <more.jsonl 2>rofs2.log || rc=$?
[ "$rc" = 4 ] || fail "read-only fs: relay exit $rc, expected 4 ($(cat rofs2.log))"
check_error rofs2.log
[ "$("$G" store list --store rofs/s.db | wc -l)" = 20 ] || fail "read-only fs: store list"
[ "$(integrity rofs/s.db)" = ok ] || fail "read-only fs: integrity"
echo "read-only fs: exit 4: $(grep -v received= rofs2.log)"

# --- 3. full disk
mkdir full
mount -t tmpfs -o size=1m tmpfs full || fail "cannot mount tmpfs"
MOUNTS+=("$T/full")
relay full/s.db full-d.jsonl <first.jsonl 2>full1.log
# fill what is left but ~100 KiB
avail=$(df -k --output=avail full | tail -n 1 | tr -d ' ')
dd if=/dev/zero of=full/filler bs=1k count=$((avail - 100)) 2>/dev/null || true
rc=0
relay full/s.db full-d.jsonl <all.jsonl 2>full2.log || rc=$?
[ "$rc" = 4 ] || fail "full disk: relay exit $rc, expected 4 ($(tail -n 3 full2.log))"
check_error full2.log
grep -qi 'full' full2.log || fail "full disk: the error does not say the disk is full: $(cat full2.log)"
rm -f full/filler
mount -o remount,size=16m full
[ "$(integrity full/s.db)" = ok ] || fail "full disk: integrity_check: $(integrity full/s.db)"
stored=$("$G" store list --store full/s.db | wc -l)
delivered=$(lines full-d.jsonl)
[ "$stored" -ge "$delivered" ] || fail "full disk: $delivered delivered but only $stored stored"
[ "$stored" -lt 400 ] || fail "full disk: the disk never filled ($stored stored)"
# every delivered bulletin is in the store
"$G" store list --store full/s.db | sed -n 's/.*"content_id":"\([0-9a-f]*\)".*/\1/p' | sort >stored.ids
sed -n 's/.*"content_id":"\([0-9a-f]*\)".*/\1/p' full-d.jsonl | sort >delivered.ids
[ -z "$(comm -13 stored.ids delivered.ids)" ] || fail "full disk: delivered but not stored"
# and with room again, a restarted relay takes the rest
relay full/s.db full-d.jsonl <all.jsonl 2>full3.log || fail "full disk: the relay restarted with room failed: $(cat full3.log)"
[ "$("$G" store list --store full/s.db | wc -l)" = 400 ] || fail "full disk: after freeing space, the store is not complete"
[ "$(sort -u delivered.ids | wc -l)" = "$(wc -l <delivered.ids)" ] || fail "full disk: delivered twice"
sed -n 's/.*"content_id":"\([0-9a-f]*\)".*/\1/p' full-d.jsonl | sort >all-delivered.ids
[ "$(wc -l <all-delivered.ids)" = 400 ] && [ -z "$(uniq -d all-delivered.ids)" ] ||
    fail "full disk: after the restart, $(wc -l <all-delivered.ids) deliveries (expected 400, once each)"
echo "full disk: exit 4 after $stored stored: $(grep -v received= full2.log | head -n 1)"
echo "ok: store_faults"
