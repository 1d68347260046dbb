package hashring

import (
	"testing"
)

func TestVectorsMurmur3(t *testing.T) {
	// mmh3's documentation (carbon's mmh3_ch calls mmh3.hash).
	for key, want := range map[string]int64{"foo": -156908512, "hello": 613153351} {
		if got := mmh3Pos([]byte(key)); got != want {
			t.Errorf("mmh3.hash(%q) = %d, want %d", key, got, want)
		}
	}
	// uber/statsrelay src/tests/test_hashlib.c; lyft/statsrelay shard.rs.
	for key, want := range map[string]uint32{"apple": 2699884538, "banana": 558421143, "orange": 2279140812, "lemon": 4183924513, "foo.bar": 1517005122} {
		if got := murmur3x86_32([]byte(key), statsrelaySeed); got != want {
			t.Errorf("murmur3(%q, 0xaccd3d34) = %d, want %d", key, got, want)
		}
	}
}
