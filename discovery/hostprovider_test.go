package discovery

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestHostProvider: names expand to all their addresses, a name that does
// not resolve stays as written, every address is tried once per pass, and
// a failed pass resolves again.
func TestHostProvider(t *testing.T) {
	dns := map[string][]string{"zk": {"10.0.0.1", "10.0.0.2"}}
	lookups := 0
	hp := &hostProvider{lookup: func(_ context.Context, host string) ([]string, error) {
		lookups++
		if ips, ok := dns[host]; ok {
			return ips, nil
		}
		return nil, errors.New("no such host")
	}}
	servers := []string{"zk:2181", "gone:2181", "127.0.0.1:2181"}
	if err := hp.Init(servers); err != nil {
		t.Fatalf("Init(%q) = %v", servers, err)
	}
	if lookups != 0 {
		t.Errorf("Init resolved %d names; want none (it runs inside zk.Connect)", lookups)
	}
	pass := func(n int) (got []string, retries int) {
		for range n {
			s, retry := hp.Next()
			if retry {
				retries++
			}
			got = append(got, s)
		}
		slices.Sort(got)
		return got, retries
	}
	want := []string{"10.0.0.1:2181", "10.0.0.2:2181", "127.0.0.1:2181", "gone:2181"}
	if got, retries := pass(4); !slices.Equal(got, want) || retries != 0 {
		t.Errorf("first pass over %q: %q with %d retry starts; want %q and none", servers, got, retries, want)
	}
	dns["gone"] = []string{"10.0.0.3"}
	connected, retry := hp.Next()
	if !retry {
		t.Errorf("Next after a whole failed pass = %q, retryStart false; want true", connected)
	}
	hp.Connected()
	// Disconnected again: the other addresses, then a retry start.
	want = slices.DeleteFunc([]string{"10.0.0.1:2181", "10.0.0.2:2181", "10.0.0.3:2181", "127.0.0.1:2181"},
		func(s string) bool { return s == connected })
	if got, retries := pass(3); !slices.Equal(got, want) || retries != 0 {
		t.Errorf("after re-resolving and connecting to %q: next %q with %d retry starts; want %q and none", connected, got, retries, want)
	}
	if s, retry := hp.Next(); !retry {
		t.Errorf("Next after trying every address since the connection = %q, retryStart false; want true", s)
	}
}
