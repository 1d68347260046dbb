package hashring

import (
	"strconv"
	"strings"
	"testing"
)

// Helpers shared by the tests. The peers' own public test vectors
// (research/relays.md §3) live in each hasher's test file.

// hostsMembers parses "host[:port][=instance]" (port 2003 by default).
func hostsMembers(hosts ...string) []Member {
	ms := make([]Member, len(hosts))
	for i, h := range hosts {
		hp, inst, _ := strings.Cut(h, "=")
		host, port, _ := strings.Cut(hp, ":")
		p := 2003
		if port != "" {
			p, _ = strconv.Atoi(port)
		}
		ms[i] = Member{Host: host, Port: p, Instance: inst}
	}
	return ms
}

func mustNew(t *testing.T, cfg Config, members []Member) Ring {
	t.Helper()
	r, err := New(cfg, members)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return r
}

// lookupStrings returns Lookup's members formatted as host:port[=inst].

func lookupStrings(r Ring, members []Member, key string) string {
	var out []string
	for _, i := range r.Lookup([]byte(key), nil) {
		out = append(out, members[i].String())
	}
	return strings.Join(out, ",")
}
