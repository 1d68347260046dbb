package hashring

import (
	"fmt"
	"testing"
)

// benchConfigs is every hasher x compat at the replication it is usually
// run with (2 where the peer replicates, to cover the replica walk).
func benchConfigs() []struct {
	name string
	cfg  Config
	inst bool
} {
	var out []struct {
		name string
		cfg  Config
		inst bool
	}
	for _, ac := range allConfigs() {
		for _, r := range []int{1, 2} {
			if r == 2 && (ac.cfg.Hasher == Statsd || ac.cfg.Hasher == Murmur3Shard) {
				continue
			}
			cfg := ac.cfg
			cfg.Replication = r
			out = append(out, struct {
				name string
				cfg  Config
				inst bool
			}{fmt.Sprintf("%s/%s/r%d", cfg.Hasher, cfg.Compat, r), cfg, ac.inst})
		}
	}
	return out
}

func TestLookupAllocatesNothing(t *testing.T) {
	keys := [][]byte{
		[]byte("servers.web-042.cpu.user"),
		[]byte("métrique.x;tag=1"),
		[]byte("stats.timers.api:12|ms"),
		[]byte("a\xe2\x82b.invalid.utf8"),
	}
	for _, bc := range benchConfigs() {
		r, err := New(bc.cfg, propMembers(20, bc.inst))
		if err != nil {
			t.Fatalf("%s: %v", bc.name, err)
		}
		dst := make([]int, 0, bc.cfg.Replication)
		for _, k := range keys {
			allocs := testing.AllocsPerRun(50, func() {
				dst = r.Lookup(k, dst)
				_ = r.Hash(k)
			})
			if allocs != 0 {
				t.Errorf("%s: Lookup/Hash(%q) allocates %v times per call", bc.name, k, allocs)
			}
		}
	}
}

// BenchmarkLookup: one lookup of a typical 40-byte key over 20 members.
func BenchmarkLookup(b *testing.B) {
	key := []byte("servers.web-042.cpu.user.total.count.p99")
	for _, bc := range benchConfigs() {
		r, err := New(bc.cfg, propMembers(20, bc.inst))
		if err != nil {
			b.Fatalf("%s: %v", bc.name, err)
		}
		b.Run(bc.name, func(b *testing.B) {
			dst := make([]int, 0, bc.cfg.Replication)
			b.ReportAllocs()
			b.SetBytes(int64(len(key)))
			for b.Loop() {
				dst = r.Lookup(key, dst)
			}
		})
	}
}

// BenchmarkBuild1000: building a ring of 1,000 members.
func BenchmarkBuild1000(b *testing.B) {
	for _, bc := range benchConfigs() {
		if bc.cfg.Replication != 1 {
			continue
		}
		members := propMembers(1000, bc.inst)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(bc.cfg, members); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
