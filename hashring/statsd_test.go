package hashring

import (
	"encoding/hex"
	"testing"
)

// 3rd-Eden/node-hashring tests/api.test.js and statsd's

// exampleProxyConfig.js nodes (research/relays.md §3.4).

func TestVectorsStatsd(t *testing.T) {
	if got := statsdHash([]byte("test")); got != 3446378249 {
		t.Errorf("hashValue(test) = %d, want 3446378249", got)
	}
	if got := statsdHash([]byte("VDEAAAAA")); got != 0xfffcd1b5 {
		t.Errorf("hashValue(VDEAAAAA) = %#x, want 0xfffcd1b5", got)
	}
	for n, want := range map[int]int{1: 40, 3: 40, 6: 40, 7: 39, 8: 40, 14: 39, 28: 39, 49: 39, 56: 39, 98: 39, 103: 39} {
		if got := statsdPoints(n); got != want {
			t.Errorf("points per node for %d nodes = %d, want %d", n, got, want)
		}
	}
	example := hostsMembers("127.0.0.1:8127", "127.0.0.1:8129", "127.0.0.1:8131")
	r := mustNew(t, Config{Hasher: Statsd}, example)
	if got := r.Hash([]byte("foo")); got != 3675831724 {
		t.Errorf("Hash(foo) = %d, want 3675831724", got)
	}
	if got := r.Hash([]byte("foo.bar")); got != 8517892 {
		t.Errorf("Hash(foo.bar) = %d, want 8517892", got)
	}
	for key, port := range map[string]int{"foo": 8127, "foo.bar": 8129, "gorets": 8127, "glork": 8129,
		"stats.counter.a": 8131, "a.b.c.d": 8129, "test": 8127, "gorets:1|c": 8127} {
		if got := example[r.Lookup([]byte(key), nil)[0]].Port; got != port {
			t.Errorf("Lookup(%q) = :%d, want :%d", key, got, port)
		}
	}
	seven := hostsMembers("10.0.0.1:8125", "10.0.0.2:8125", "10.0.0.3:8125", "10.0.0.4:8125",
		"10.0.0.5:8125", "10.0.0.6:8125", "10.0.0.7:8125")
	r7 := mustNew(t, Config{Hasher: Statsd}, seven)
	if got := len(r7.(*statsdRing).points); got != 273 {
		t.Errorf("7-node ring has %d points, want 273", got)
	}
	for key, host := range map[string]string{"foo": "10.0.0.6", "foo.bar": "10.0.0.5", "gorets": "10.0.0.4", "glork": "10.0.0.5"} {
		if got := seven[r7.Lookup([]byte(key), nil)[0]].Host; got != host {
			t.Errorf("7 nodes: Lookup(%q) = %s, want %s", key, got, host)
		}
	}
}

// proxy.js decodes packets as UTF-8, so invalid bytes reach md5 as U+FFFD.

// Hash values printed by npm hashring 3.2.0 (node 20) for

// ring.hashValue(Buffer.from(HEX, 'hex').toString().split(':')[0]) on the

// exampleProxyConfig ring, and the node ring.get returned.

func TestStatsdInvalidUTF8(t *testing.T) {
	members := hostsMembers("127.0.0.1:8127", "127.0.0.1:8129", "127.0.0.1:8131")
	r := mustNew(t, Config{Hasher: Statsd}, members)
	for _, tt := range []struct {
		hex  string
		hash uint64
		port int
	}{
		{"61e28262", 17130751, 8129},
		{"ff", 1083209115, 8127},
		{"eda080", 3995056446, 8129},
		{"f09f94", 1083209115, 8127},
		{"c0af", 1716192030, 8127},
		{"612e62ff3a31", 3973123197, 8129},
		{"e282", 1083209115, 8127},
	} {
		key, _ := hex.DecodeString(tt.hex)
		if got := r.Hash(key); got != tt.hash {
			t.Errorf("Hash(%x) = %d, want %d", key, got, tt.hash)
		}
		if got := members[r.Lookup(key, nil)[0]].Port; got != tt.port {
			t.Errorf("Lookup(%x) = :%d, want :%d", key, got, tt.port)
		}
	}
}

func TestWHATWGUTF8(t *testing.T) {
	for in, want := range map[string]string{
		"abc":              "abc",
		"é":                "é",
		"\xff":             "\uFFFD",
		"a\xe2\x82b":       "a\uFFFDb", // truncated sequence: one replacement
		"\xe2\x82":         "\uFFFD",
		"\xed\xa0\x80":     "\uFFFD\uFFFD\uFFFD", // surrogate: each byte
		"\xf0\x9f\x94":     "\uFFFD",
		"\xf0\x9f\x94\xa5": "🔥",
		"\xc0\xaf":         "\uFFFD\uFFFD",
	} {
		if got := string(appendWHATWGUTF8(nil, []byte(in))); got != want {
			t.Errorf("appendWHATWGUTF8(%q) = %q, want %q", in, got, want)
		}
	}
}

// statsd: the point count per node depends on the node count, so removing

// a node moves other nodes' keys exactly when that count changes (e.g. 8 ->

// 7 nodes: 40 -> 39 points each); otherwise only the removed node's keys.

func TestStatsdRemove(t *testing.T) {
	keys := propKeys(t, 3000)
	for _, n := range []int{2, 3, 4, 8, 9, 15} {
		members := propMembers(n, false)
		rounds := statsdPoints(n) != statsdPoints(n-1)
		for _, rm := range []int{0, n / 2, n - 1} {
			lost, extra, ex := moves(t, Config{Hasher: Statsd}, members, rm, keys)
			if lost == 0 {
				t.Errorf("n=%d: member %d had no keys", n, rm)
			}
			if rounds && extra == 0 {
				t.Errorf("n=%d remove %d: no other key moved, but points per node change %d -> %d", n, rm, statsdPoints(n), statsdPoints(n-1))
			}
			if !rounds && extra != 0 {
				t.Errorf("n=%d remove %d: %d other keys moved (e.g. %q)", n, rm, extra, ex[0])
			}
		}
	}
}
