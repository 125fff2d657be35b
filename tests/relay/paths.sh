#!/usr/bin/env bash
# Where the relay writes: never through a symbolic link, with explicit
# modes, and a delivery file's last line kept unless the relay tore it.
#
# 1. --metrics: links planted beside FILE (FILE.tmp, the old temporary
#    name) and at FILE itself point at 0600 files; the relay never writes
#    them, and FILE is a regular file of mode 0644 whatever the umask
#    (077 and 000).
# 2. --deliver and --peer ADDR=PATH at a symbolic link: refused at start
#    (exit 4, `cannot open …: it is a symbolic link` and a hint); the file
#    the link points at is untouched.
# 3. A new --deliver file is 0600 under umask 000.
# 4. An existing --deliver file whose last line has no newline, without
#    --store: a line some other program wrote ("hello") and a whole
#    bulletin line are both kept (a newline added); only a torn delivery
#    line is cut (tests/relay/torn_line.sh does that one with a real kill).
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

R=$(key relay)
P=$(key peer)
"$G" bulletin new --topic chat "one" 2>/dev/null | "$G" hashcash -d 0 >b.in 2>/dev/null
"$G" bulletin new --topic chat "two" 2>/dev/null | "$G" hashcash -d 0 >b2.in 2>/dev/null

relay() { # relay ARGS...: a relay delivering topic chat (stdin as given)
    "$G" relay -k relay.key --bulletin-difficulty 0 --subscribe chat --no-sync "$@"
}
mode() { stat -c %a "$1"; }

# --- 1. --metrics
for u in 077 000; do
    printf 'secret\n' >"secret$u"
    chmod 600 "secret$u"
    printf 'link target\n' >"target$u"
    chmod 600 "target$u"
    ln -s "secret$u" "m$u.prom.tmp"
    ln -s "target$u" "m$u.prom"
    (umask "$u" && relay --metrics "m$u.prom" </dev/null >/dev/null 2>"metrics$u.log") ||
        fail "metrics: the relay failed: $(cat "metrics$u.log")"
    [ "$(cat "secret$u")" = secret ] || fail "metrics (umask $u): a link planted at FILE.tmp was written through"
    [ "$(cat "target$u")" = "link target" ] || fail "metrics (umask $u): the link at FILE was written through"
    [ -f "m$u.prom" ] && [ ! -L "m$u.prom" ] || fail "metrics (umask $u): FILE is not a regular file"
    grep -q '^gossip_relay_received_total 0$' "m$u.prom" || fail "metrics (umask $u): $(head -c 300 "m$u.prom")"
    [ "$(mode "m$u.prom")" = 644 ] || fail "metrics (umask $u): mode $(mode "m$u.prom"), expected 644"
    [ "$(mode "secret$u")" = 600 ] || fail "metrics (umask $u): the planted link's target changed mode"
    leftover=$(find . -name "m$u.prom.*" ! -name "m$u.prom.tmp" | head -n 1)
    [ -z "$leftover" ] || fail "metrics (umask $u): a temporary was left: $leftover"
done
echo "metrics: links beside and at FILE not followed, FILE 0644 under umask 077 and 000"

# --- 2. symbolic links at --deliver and --peer ADDR=PATH
printf 'mail\nno newline' >victim
ln -s victim d.link
ln -s victim p.link
rc=0
relay --deliver d.link <b.in >/dev/null 2>link1.log || rc=$?
[ "$rc" = 4 ] || fail "--deliver link: exit $rc, expected 4 ($(cat link1.log))"
grep -q '^gossip: cannot open d.link: it is a symbolic link$' link1.log || fail "--deliver link: $(cat link1.log)"
grep -q '^hint: ' link1.log || fail "--deliver link: no hint: $(cat link1.log)"
rc=0
relay --peer "$P=p.link" <b.in >/dev/null 2>link2.log || rc=$?
[ "$rc" = 4 ] || fail "--peer link: exit $rc, expected 4 ($(cat link2.log))"
grep -q '^gossip: cannot open p.link: it is a symbolic link$' link2.log || fail "--peer link: $(cat link2.log)"
[ "$(printf 'mail\nno newline')" = "$(cat victim)" ] || fail "a link's target was written: $(cat victim)"
echo "links: --deliver and --peer refuse a symbolic link, its target untouched"

# --- 3. a new delivery file's mode
(umask 000 && relay --deliver new.deliver <b.in >/dev/null 2>new.log) || fail "new file: $(cat new.log)"
[ "$(mode new.deliver)" = 600 ] || fail "new delivery file: mode $(mode new.deliver), expected 600"
[ "$(lines new.deliver)" = 1 ] || fail "new delivery file: $(lines new.deliver) lines"
echo "new delivery file: 0600 under umask 000"

# --- 4. a last line without a newline, no --store
printf 'first\nhello' >other.deliver
relay --deliver other.deliver <b.in >/dev/null 2>other.log || fail "foreign line: $(cat other.log)"
[ "$(sed -n 2p other.deliver)" = hello ] || fail "foreign line: the last line was lost: $(head -c 300 other.deliver)"
[ "$(lines other.deliver)" = 3 ] || fail "foreign line: $(lines other.deliver) lines, expected 3"
grep -q 'had no newline; kept it and added one' other.log || fail "foreign line: not reported: $(cat other.log)"
head -c -1 b2.in >whole.deliver # a whole delivery line, its newline never written
relay --deliver whole.deliver <b.in >/dev/null 2>whole.log || fail "whole line: $(cat whole.log)"
[ "$(lines whole.deliver)" = 2 ] || fail "whole line: $(lines whole.deliver) lines, expected 2"
python3 - whole.deliver <<'PY' || fail "whole line: the file is not two whole bulletins"
import json, sys
ids = [json.loads(l)["content_id"] for l in open(sys.argv[1], "rb")]
assert len(ids) == 2 == len(set(ids)), ids
PY
head -c 40 b2.in >torn.deliver # a torn delivery line
relay --deliver torn.deliver <b.in >/dev/null 2>torn.log || fail "torn line: $(cat torn.log)"
[ "$(lines torn.deliver)" = 1 ] || fail "torn line: $(lines torn.deliver) lines, expected 1"
grep -q 'cut a torn last line (40 bytes)' torn.log || fail "torn line: $(cat torn.log)"
echo "last line without a newline: a foreign one and a whole one kept, a torn one cut"
echo "ok: paths"
