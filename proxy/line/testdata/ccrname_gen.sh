#!/bin/sh
# Regenerates ccrname_live.tsv.gz: what a running carbon-c-relay daemon
# (Debian carbon-c-relay 3.7.3) does with each key of the hashring golden
# key list (../../../hashring/testdata/mkkeys.py) plus every single byte
# 0x01-0x7f and 0x80-0xff inside a name, with and without tags.
#
#   cd proxy/line/testdata && ./ccrname_gen.sh
#
# Needs ../shared/oracles beside the repository (ORACLES= to override) and
# its ccr_live.py, which runs the daemon on loopback with members
# ccrname_servers.txt. Output columns (TAB-separated, names as Go-quoted
# strings without the quotes):
#   key, name as the member received it ("" = dropped),
#   member for carbon_ch, fnv1a_ch, jump_fnv1a_ch (replication 1).
set -eu
cd "$(dirname "$0")"
ORACLES=${ORACLES:-$(git rev-parse --show-toplevel)/../shared/oracles}
[ -x "$ORACLES/ccr_live.py" ] || { echo "ccrname_gen.sh: no oracles in $ORACLES" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ccrname-gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
{
	python3 ../../../hashring/testdata/mkkeys.py
	python3 - <<'PY'
import sys
out = sys.stdout.buffer
seen = set()
for b in list(range(1, 0x80)) + list(range(0x80, 0x100)):
    if b in (0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20):
        continue  # whitespace: the oracle refuses it in keys
    c = bytes([b])
    for k in (b"a" + c + b"b", c + b"x.y", b"x.y" + c, b"t.n;k=" + c + b"v", b"t.n;k" + c + b"=v." + c):
        try:
            k.decode("utf-8")
        except UnicodeDecodeError:
            continue  # the oracles read UTF-8
        if k not in seen:
            seen.add(k)
            out.write(k + b"\n")
for k in [b"a.;t=1", b"a..;b", b"a;", b"a.;", b".", b"..", b";a", b";", b"x;;y", b"a;.b", b"a;b.", b"a;b..c",
          b"...a...b...", b"a.b;t=1;x=..y", b"\xc3\xa9.x", b"a.b;t=\xc3\xa9", b"\xe2\x82\xac.\xf0\x9f\x94\xa5"]:
    if k not in seen:
        seen.add(k)
        out.write(k + b"\n")
PY
} > "$tmp/keys"
for m in carbon_ch fnv1a_ch jump_fnv1a_ch; do
	CCR_LIVE_SHOW=1 python3 "$ORACLES/ccr_live.py" "$m" ccrname_servers.txt < "$tmp/keys" > "$tmp/$m.tsv"
done
python3 - "$tmp" <<'PY' | gzip -n -9 > ccrname_live.tsv.gz
import sys
d = sys.argv[1]
keys = open(d + "/keys", encoding="utf-8").read().rstrip("\n").split("\n")
cols = []
for m in ("carbon_ch", "fnv1a_ch", "jump_fnv1a_ch"):
    rows = open(d + "/%s.tsv" % m, encoding="utf-8").read().rstrip("\n").split("\n")
    assert len(rows) == len(keys), (m, len(rows), len(keys))
    cols.append([r.split("\t") for r in rows])
def q(s):
    # Go-quoted without the quotes: printable ASCII kept, the rest escaped.
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c == "\\" or c == '"':
            out.append("\\" + c)
        elif 0x20 <= b < 0x7f:
            out.append(c)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)
for i, k in enumerate(keys):
    names = {c[i][2] if len(c[i]) > 2 else "" for c in cols}
    assert len(names) == 1, (k, names)
    assert all(c[i][0] == k for c in cols), k
    print("\t".join([q(k), q(names.pop())] + [c[i][1] for c in cols]))
PY
echo "# carbon-c-relay $(dpkg-query -W -f '${Version}' carbon-c-relay), $(date -u +%Y-%m-%d)" > ccrname_live.version
