package hashring

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Properties every ring must have, and the consistency each peer offers:
// removing one member of a consistent ring moves only that member's keys,
// except where the peer itself moves more (statsd's point count rounding,
// jump's removal of a middle member), which the tests pin.

// propKeys returns the golden keys plus n random ones.

func propKeys(t *testing.T, n int) [][]byte {
	var keys [][]byte
	for _, k := range goldenKeys(t) {
		keys = append(keys, []byte(k))
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		keys = append(keys, fmt.Appendf(nil, "prop.%d.key%x", i, rnd.Uint64()))
	}
	return keys
}

// propMembers returns n members on distinct hosts, with instances if inst.

func propMembers(n int, inst bool) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{Host: fmt.Sprintf("10.0.%d.%d", i/200, i%200+1), Port: 2003 + i%3}
		if inst {
			ms[i].Instance = fmt.Sprintf("i%02d", i)
		}
	}
	return ms
}

// allConfigs lists every hasher x compat, with instances where needed.

func allConfigs() []struct {
	cfg  Config
	inst bool
} {
	var out []struct {
		cfg  Config
		inst bool
	}
	for _, h := range Hashers() {
		for _, c := range Compats(h) {
			out = append(out, struct {
				cfg  Config
				inst bool
			}{Config{Hasher: h, Compat: c}, h == FNV1aCH && c == CompatCarbon})
		}
	}
	return out
}

func TestLookupBasics(t *testing.T) {
	keys := propKeys(t, 500)
	for _, ac := range allConfigs() {
		for _, n := range []int{1, 3, 8, 20} {
			for _, r := range []int{1, 2, 3} {
				cfg := ac.cfg
				cfg.Replication = r
				if (cfg.Hasher == Statsd || cfg.Hasher == Murmur3Shard) && r > 1 || r > n {
					continue
				}
				members := propMembers(n, ac.inst)
				ring, err := New(cfg, members)
				if err != nil {
					t.Fatalf("New(%+v, %d members): %v", cfg, n, err)
				}
				if ring.Len() != n {
					t.Errorf("%+v: Len() = %d, want %d", cfg, ring.Len(), n)
				}
				dst := make([]int, 0, r)
				for _, k := range keys {
					dst = ring.Lookup(k, dst)
					if len(dst) != r {
						t.Fatalf("%+v n=%d: Lookup(%q) returned %d members %v, want %d", cfg, n, k, len(dst), dst, r)
					}
					for i, m := range dst {
						if m < 0 || m >= n {
							t.Fatalf("%+v: Lookup(%q) = %v: index out of range", cfg, k, dst)
						}
						for _, o := range dst[:i] {
							if o == m {
								t.Fatalf("%+v: Lookup(%q) = %v: member twice", cfg, k, dst)
							}
						}
					}
					if again := ring.Lookup(k, nil); fmt.Sprint(again) != fmt.Sprint(dst) {
						t.Fatalf("%+v: Lookup(%q) not deterministic: %v then %v", cfg, k, dst, again)
					}
				}
			}
		}
	}
}

// moves compares primaries before and after removing member rm: lost =

// keys the removed member had, extra = other keys that moved, and for extra

// keys their Hash in the old ring.

func moves(t *testing.T, cfg Config, members []Member, rm int, keys [][]byte) (lost, extra int, extraKeys [][]byte) {
	t.Helper()
	before := mustNew(t, cfg, members)
	rest := append(append([]Member(nil), members[:rm]...), members[rm+1:]...)
	after := mustNew(t, cfg, rest)
	for _, k := range keys {
		old := before.Lookup(k, nil)[0]
		now := after.Lookup(k, nil)[0]
		if now >= rm {
			now++ // index into members
		}
		switch {
		case old == rm:
			lost++
		case now != old:
			extra++
			extraKeys = append(extraKeys, k)
		}
	}
	return lost, extra, extraKeys
}

func TestRemoveMemberMovesOnlyItsKeys(t *testing.T) {
	keys := propKeys(t, 3000)
	for _, tt := range []struct {
		cfg  Config
		inst bool
	}{
		{Config{Hasher: CarbonCH}, false},
		{Config{Hasher: CarbonCH}, true},
		{Config{Hasher: FNV1aCH}, false},
		{Config{Hasher: FNV1aCH}, true},
		{Config{Hasher: CarbonCH, Compat: CompatCarbon}, false},
		{Config{Hasher: FNV1aCH, Compat: CompatCarbon}, true},
		{Config{Hasher: MMH3CH}, false},
	} {
		for _, n := range []int{2, 3, 8, 17} {
			members := propMembers(n, tt.inst)
			for rm := 0; rm < n; rm++ {
				lost, extra, ex := moves(t, tt.cfg, members, rm, keys)
				if lost == 0 {
					t.Errorf("%+v n=%d: member %d had no keys", tt.cfg, n, rm)
				}
				if extra == 0 {
					continue
				}
				if tt.cfg.Compat != CompatCarbon {
					t.Errorf("%+v n=%d remove %d: %d keys of other members moved (e.g. %q)", tt.cfg, n, rm, extra, ex[0])
					continue
				}
				// carbon's +1 bump: a point bumped past the removed member's
				// point slides back, so keys hashing exactly onto a bumped
				// position may move. Nothing else may.
				old := mustNew(t, tt.cfg, members).(*pyRing)
				for _, k := range ex {
					if !old.bumpedAt(pyPos(old.kind, k)) {
						t.Errorf("%+v n=%d remove %d: key %q (position %d) moved, not at a bumped point", tt.cfg, n, rm, k, pyPos(old.kind, k))
					}
				}
			}
		}
	}
}

// bumpedAt reports whether the ring has an entry at p and another at p-1

// (so the one at p may have been bumped there).

func (r *pyRing) bumpedAt(p int64) bool {
	has := func(q int64) bool {
		for _, x := range r.pos {
			if x == q {
				return true
			}
		}
		return false
	}
	return has(p) && has(p-1)
}
