package hashring

import "testing"

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
