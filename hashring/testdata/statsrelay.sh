#!/bin/sh
# Regenerates the murmur3_shard (statsrelay) golden files with statsrelay's
# own `stathasher`, built from its C source.
#
#   cd hashring/testdata && ./statsrelay.sh [KEYS]
#
# KEYS is the key list, one per line (default: keys.txt.gz unzipped). gen.sh
# runs this script; it can also run alone.
#
# Needs git, cmake, a C compiler and Debian's libev-dev, libjansson-dev and
# libpcre3-dev; the statsrelay repository comes from STATSRELAY_REPO (a URL or
# a local clone; default https://github.com/lyft/statsrelay), checked out at
# STATSRELAY_COMMIT: the last C version, the parent of "Oxidize (#45)", the
# Rust rewrite (which hashes the same way; shard.rs).
#
# stathasher reads keys on stdin (cut at the first whitespace: the keys have
# none) and prints `key=K statsd=SERVER statsd_shard=N ...` for the config's
# statsd shard_map: member = shard_map[murmur3_x86_32(K, 0xaccd3d34) % len].
# Writes, for each servers/LIST.txt below:
#   golden/murmur3_shard.statsrelay.LIST.r1.gz  the server, one line per key
#   shards/murmur3_shard.statsrelay.LIST.gz     the shard index stathasher
#                                                printed (lists with repeated
#                                                servers: virtual shards)
set -eu
cd "$(dirname "$0")"
STATSRELAY_REPO=${STATSRELAY_REPO:-https://github.com/lyft/statsrelay}
STATSRELAY_COMMIT=${STATSRELAY_COMMIT:-4bc76f46550325f19b90ca7a1587e511162e31c8}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/statsrelay-gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ $# -gt 0 ]; then
	cp "$1" "$tmp/keys.txt"
else
	gzip -dc keys.txt.gz > "$tmp/keys.txt"
fi
nkeys=$(wc -l < "$tmp/keys.txt")

git clone -q "$STATSRELAY_REPO" "$tmp/statsrelay"
git -C "$tmp/statsrelay" checkout -q "$STATSRELAY_COMMIT"
mkdir "$tmp/build"
(cd "$tmp/build" && cmake -DCMAKE_BUILD_TYPE=Release ../statsrelay > cmake.log 2>&1 && make stathasher > make.log 2>&1)
stathasher=$tmp/build/stathasher

# lists without repeats (checked against the libmurmurhash reference before)
# and with repeats (virtual shards: statsrelay's README "Scaling With Virtual
# Shards"): hashring1 (statsrelay's own test map), v3x8 (3 backends as 8
# shards, in blocks), v3x8-moved (shard 2 reassigned), v7x40 (40 shards over
# 7 backends, two of them on one host).
mkdir -p golden shards
rm -f shards/*.gz
for s in hashring1 hashring2 s1 s3 s8 s8-rm3 v3x8 v3x8-moved v7x40; do
	# shard_map as statsrelay's JSON config wants it
	grep -v '^#' "servers/$s.txt" | grep . |
		awk 'BEGIN { printf "{\"statsd\": {\"bind\": \"127.0.0.1:8125\", \"shard_map\": [" }
		     { printf "%s\"%s\"", (NR > 1 ? ", " : ""), $0 }
		     END { print "]}}" }' > "$tmp/$s.json"
	"$stathasher" -c "$tmp/$s.json" < "$tmp/keys.txt" > "$tmp/$s.out"
	# every key answered, in order, with a server
	paste "$tmp/keys.txt" "$tmp/$s.out" | awk -F'\t' -v f="$s" '
		$2 !~ /^key=[^ ]+ statsd=[^ ]+ / || substr($2, 5, length($1)) != $1 { print f ": bad line " NR ": " $2 > "/dev/stderr"; bad = 1 }
		END { exit bad }'
	[ "$(wc -l < "$tmp/$s.out")" -eq "$nkeys" ]
	sed 's/^key=[^ ]* statsd=\([^ ]*\) .*/\1/' "$tmp/$s.out" | gzip -n -9 > "golden/murmur3_shard.statsrelay.$s.r1.gz"
	if [ "$(grep -v '^#' "servers/$s.txt" | grep . | sort | uniq -d | wc -l)" -gt 0 ]; then
		# stathasher leaves the shard unset for a one-entry map; only
		# maps with repeats need it
		sed 's/.* statsd_shard=\([0-9]*\) .*/\1/' "$tmp/$s.out" | gzip -n -9 > "shards/murmur3_shard.statsrelay.$s.gz"
	fi
done
echo "statsrelay stathasher $(git -C "$tmp/statsrelay" describe --always --tags) ($STATSRELAY_COMMIT, $(awk -F'"' '/PACKAGE_VERSION "/ {print $2; exit}' "$tmp/statsrelay/CMakeLists.txt"))"
