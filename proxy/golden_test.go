package proxy

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"strings"
	"testing"
)

func gzipLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRouteMatchesCarbonCRelayTestMode feeds the keys of the hashring golden
// files (made by `carbon-c-relay -t`, see hashring/testdata/README.md)
// through `relay route` and expects carbon-c-relay's answer for every key,
// replication 1 and 2, members with and without instances: the whole
// routing path, not only the ring, matches the peer.
func TestRouteMatchesCarbonCRelayTestMode(t *testing.T) {
	const td = "../hashring/testdata/"
	keys := gzipLines(t, td+"keys.txt.gz")
	for _, hasher := range []string{"carbon_ch", "fnv1a_ch", "jump_fnv1a_ch"} {
		for _, servers := range []string{"s3", "s3i", "s8", "s8i", "s10m"} {
			for _, repl := range []int{1, 2} {
				name := fmt.Sprintf("%s.carbon-c-relay.%s.r%d", hasher, servers, repl)
				t.Run(name, func(t *testing.T) {
					want := gzipLines(t, td+"golden/"+name+".gz")
					if len(want) != len(keys) {
						t.Fatalf("golden has %d lines for %d keys", len(want), len(keys))
					}
					members := serversFile(t, td+"servers/"+servers+".txt")
					checkRoute(t, poolTOML("carbon", hasher, repl, members...), keys, want, "carbon-c-relay")
				})
			}
		}
	}
}

// gzipOrPlain reads a member list: one server per line, # comments and
// blank lines skipped.
func serversFile(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// checkRoute routes keys with `relay route` through pool "carbon" (pool is
// its TOML) and compares each line, "key<TAB>servers", with want, the
// peer's placement of the same key.
func checkRoute(t *testing.T, pool string, keys, want []string, peer string) {
	t.Helper()
	cfg := mustLoad(t, adminAndListener+pool)
	r, err := New(Options{Config: cfg, NoBackends: true})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	if err := r.RouteTest("carbon", "graphite", strings.NewReader(strings.Join(keys, "\n")), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if errOut.Len() > 0 {
		t.Errorf("route refused keys:\n%.2000s", errOut.String())
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != len(keys) {
		t.Fatalf("route printed %d lines for %d keys", len(got), len(keys))
	}
	bad := 0
	for i, k := range keys {
		if w := k + "\t" + want[i]; got[i] != w {
			if bad++; bad <= 5 {
				t.Errorf("key %q: relay route says %q, %s %q", k, got[i], peer, w)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d keys differ", bad, len(keys))
	}
}
