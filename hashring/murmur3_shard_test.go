package hashring

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestVectorsStatsrelayShardMap(t *testing.T) {
	// uber/statsrelay src/tests/test_hashring.c with hashring1.txt and
	// hashring2.txt (the first map repeats members: virtual shards).
	ring1 := hostsMembers("127.0.0.1:9000", "127.0.0.1:9000", "127.0.0.1:9001", "127.0.0.1:9001")
	ring2 := hostsMembers("127.0.0.1:9000", "127.0.0.1:9002", "127.0.0.1:9001", "127.0.0.1:9003")
	r1 := mustNew(t, Config{Hasher: Murmur3Shard}, ring1)
	r2 := mustNew(t, Config{Hasher: Murmur3Shard}, ring2)
	for _, tt := range []struct {
		key          string
		shard1       int
		port1, port2 int
	}{
		{"apple", 2, 9001, 9001}, {"banana", 3, 9001, 9003}, {"orange", 0, 9000, 9000}, {"lemon", 1, 9000, 9002},
	} {
		got1 := r1.Lookup([]byte(tt.key), nil)[0]
		got2 := r2.Lookup([]byte(tt.key), nil)[0]
		if got1 != tt.shard1 || ring1[got1].Port != tt.port1 || ring2[got2].Port != tt.port2 {
			t.Errorf("%s: shard %d (port %d), then port %d; want shard %d (port %d), then port %d",
				tt.key, got1, ring1[got1].Port, ring2[got2].Port, tt.shard1, tt.port1, tt.port2)
		}
	}
}

// TestGoldenStatsrelayShards checks the shard index itself, not only the
// server, on shard maps that repeat servers (virtual shards): two shards of
// one backend print the same server, so only the index tells them apart.
// testdata/shards/murmur3_shard.statsrelay.LIST.gz holds, per key of
// keys.txt.gz, the statsd_shard statsrelay's stathasher printed
// (testdata/statsrelay.sh).
func TestGoldenStatsrelayShards(t *testing.T) {
	keys := goldenKeys(t)
	files, err := filepath.Glob(filepath.Join("testdata", "shards", "murmur3_shard.statsrelay.*.gz"))
	if err != nil || len(files) < 4 {
		t.Fatalf("want the shard files of hashring1, v3x8, v3x8-moved and v7x40, found %v (%v)", files, err)
	}
	for _, file := range files {
		list := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "murmur3_shard.statsrelay."), ".gz")
		t.Run(list, func(t *testing.T) {
			want := readGzipLines(t, file)
			if len(want) != len(keys) {
				t.Fatalf("%d lines, want one per key (%d)", len(want), len(keys))
			}
			members, _ := readServers(t, filepath.Join("testdata", "servers", list+".txt"))
			ring := mustNew(t, Config{Hasher: Murmur3Shard}, members)
			bad := 0
			dst := make([]int, 0, 1)
			for i, key := range keys {
				dst = ring.Lookup([]byte(key), dst)
				if got := strconv.Itoa(dst[0]); got != want[i] {
					if bad++; bad <= 10 {
						t.Errorf("key %q (line %d): shard %s, stathasher says %s", key, i+1, got, want[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d keys differ", bad, len(keys))
			}
		})
	}
}
