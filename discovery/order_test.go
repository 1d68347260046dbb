package discovery_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"ringrelay/discovery"
	"ringrelay/hashring"
)

// The serverset part of a pool is sorted with SortServers, and rings depend
// on member order: these tests pin that the order is a total order, so the
// ring a relay builds does not depend on the order ZooKeeper listed the
// members in (the watcher collects them from a map).

func parse(t *testing.T, s string) discovery.Server {
	t.Helper()
	v, err := discovery.ParseServer(s)
	if err != nil {
		t.Fatal(err)
	}
	v.Raw = ""
	return v
}

func serverStrings(servers []discovery.Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.String()
	}
	return out
}

// permutations calls f with every ordering of in.
func permutations(in []string, f func([]string)) {
	var rec func(k int)
	p := slices.Clone(in)
	rec = func(k int) {
		if k == len(p) {
			f(slices.Clone(p))
			return
		}
		for i := k; i < len(p); i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

// TestSortServersTotalOrder: one line per set; every permutation of in
// sorts to want. The first line is the counterexample to the old order
// (numeric compare for two integers, string compare otherwise), which was
// not transitive: 9 < 10 (numbers), "10" < "1a" and "1a" < "9" (strings).
func TestSortServersTotalOrder(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{in: []string{"h:1=9", "h:1=10", "h:1=1a"}, want: []string{"h:1=9", "h:1=10", "h:1=1a"}},
		{in: []string{"a:1=10", "b:1=9", "c:1=1a"}, want: []string{"b:1=9", "a:1=10", "c:1=1a"}},
		{in: []string{"h:1=2", "h:1=10", "h:1=-3"}, want: []string{"h:1=-3", "h:1=2", "h:1=10"}},
		{in: []string{"h:1=b", "h:1=a", "h:1=10", "h:1"}, want: []string{"h:1", "h:1=10", "h:1=a", "h:1=b"}},
		{in: []string{"h:1=07", "h:1=7", "h:1=+7", "h:1=6"}, want: []string{"h:1=6", "h:1=+7", "h:1=07", "h:1=7"}},
		{in: []string{"h:1=99999999999999999999", "h:1=5", "h:1=x"}, want: []string{"h:1=5", "h:1=99999999999999999999", "h:1=x"}},
		{in: []string{"b:1", "a:2", "a:1"}, want: []string{"a:1", "a:2", "b:1"}},
		{in: []string{"udp://h:1=1", "h:1=1", "h:2=1"}, want: []string{"h:1=1", "udp://h:1=1", "h:2=1"}},
		{in: []string{"h:1=1", "h:1=1", "g:1=1"}, want: []string{"g:1=1", "h:1=1"}},
	} {
		permutations(tc.in, func(p []string) {
			in := make([]discovery.Server, len(p))
			for i, s := range p {
				in[i] = parse(t, s)
			}
			if got := serverStrings(discovery.SortServers(in)); !slices.Equal(got, tc.want) {
				t.Errorf("SortServers(%q) = %q, want %q", p, got, tc.want)
			}
		})
	}
}

// TestSortServersKeepsOneOfEachID: servers with one ID but different Raw
// collapse to the same one whatever the input order.
func TestSortServersKeepsOneOfEachID(t *testing.T) {
	a := discovery.Server{Proto: "tcp", Host: "h", Port: 1, Raw: "h:1"}
	b := discovery.Server{Proto: "tcp", Host: "h", Port: 1, Raw: "tcp://h:1"}
	for _, in := range [][]discovery.Server{{a, b}, {b, a}} {
		got := discovery.SortServers(in)
		if len(got) != 1 || got[0] != a {
			t.Errorf("SortServers(%+v) = %+v, want only %+v", in, got, a)
		}
	}
}

// randomServers returns a random member set. With instances, every member
// has a distinct instance and address (what the watcher passes on with
// instance_from, and what every hasher accepts); without, instances mix
// numbers, names and none, and hosts and ports repeat.
func randomServers(r *rand.Rand, withInstances bool) []discovery.Server {
	hosts := []string{"10.0.0.1", "10.0.0.2", "10.0.0.10", "a.example", "b.example", "::1"}
	ports := []int{2003, 2004, 2103}
	insts := []string{"", "0", "1", "2", "10", "-3", "007", "+2", "a", "b10", "10a", "1a", "9"}
	n := 1 + r.IntN(10)
	var out []discovery.Server
	used := map[string]bool{}
	for len(out) < n {
		s := discovery.Server{Proto: "tcp", Host: hosts[r.IntN(len(hosts))], Port: ports[r.IntN(len(ports))]}
		if r.IntN(8) == 0 {
			s.Proto = "udp"
		}
		if withInstances {
			s.Instance = insts[1+r.IntN(len(insts)-1)]
			s.Proto = "tcp"
			if used[s.Instance] || used[s.Addr()] {
				continue
			}
			used[s.Instance], used[s.Addr()] = true, true
		} else {
			s.Instance = insts[r.IntN(len(insts))]
		}
		out = append(out, s)
		if !withInstances && r.IntN(5) == 0 {
			out = append(out, s) // a duplicate
		}
	}
	return out
}

func ringMembers(servers []discovery.Server) []hashring.Member {
	m := make([]hashring.Member, len(servers))
	for i, s := range servers {
		m[i] = hashring.Member{Host: s.Host, Port: s.Port, Instance: s.Instance}
	}
	return m
}

// ringConfigs is every hasher with every compat it has, unreplicated and
// (where the peer has replication) with two replicas.
func ringConfigs() []hashring.Config {
	var out []hashring.Config
	for _, h := range hashring.Hashers() {
		for _, c := range hashring.Compats(h) {
			for _, r := range []int{1, 2} {
				cfg := hashring.Config{Hasher: h, Compat: c, Replication: r, Clamp: true}
				if cfg.Validate(-1) == nil {
					out = append(out, cfg)
				}
			}
		}
	}
	return out
}

func TestSortServersOrderIndependentProperty(t *testing.T) {
	seed := uint64(20240611)
	r := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d", seed)
	configs := ringConfigs()
	built := map[string]int{} // config -> rings built and compared
	keys := make([][]byte, 2000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "carbon.agents.host%d.metric_%d.count", i%97, i)
	}
	const sets, shuffles, ringShuffles = 16, 40, 2
	for set := 0; set < sets; set++ {
		in := randomServers(r, set%2 == 0)
		want := discovery.SortServers(in)
		for i := 1; i < len(want); i++ {
			if want[i-1].ID() == want[i].ID() {
				t.Fatalf("SortServers(%q) = %q: duplicate ID", serverStrings(in), serverStrings(want))
			}
		}
		var shuffled [][]discovery.Server
		for s := 0; s < shuffles; s++ {
			p := slices.Clone(in)
			r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
			got := discovery.SortServers(p)
			if !slices.Equal(got, want) {
				t.Fatalf("SortServers(%q) = %q, but SortServers(%q) = %q", serverStrings(p), serverStrings(got),
					serverStrings(in), serverStrings(want))
			}
			if s < ringShuffles {
				shuffled = append(shuffled, got)
			}
		}
		for _, cfg := range configs {
			base, err := hashring.New(cfg, ringMembers(want))
			if err != nil {
				continue // a member set this peer refuses
			}
			name := fmt.Sprintf("%s/%s/r%d", cfg.Hasher, cfg.Compat, cfg.Replication)
			wantIdx := make([][]int, len(keys))
			for i, k := range keys {
				wantIdx[i] = base.Lookup(k, nil)
			}
			for _, servers := range shuffled {
				ring, err := hashring.New(cfg, ringMembers(servers))
				if err != nil {
					t.Fatalf("%s: hashring.New(%q) = %v, but it built from the same members in another input order", name, serverStrings(servers), err)
				}
				var got []int
				for i, k := range keys {
					if got = ring.Lookup(k, got); !slices.Equal(got, wantIdx[i]) {
						t.Fatalf("%s over %q: Lookup(%q) = %v, but %v from another input order", name, serverStrings(want), k, got, wantIdx[i])
					}
				}
				built[name]++
			}
		}
	}
	// Every config must have been exercised, or the test proves nothing
	// about it.
	var missing []string
	for _, cfg := range configs {
		name := fmt.Sprintf("%s/%s/r%d", cfg.Hasher, cfg.Compat, cfg.Replication)
		if built[name] == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("no ring built for %s: the random member sets are all refused", strings.Join(missing, ", "))
	}
}
