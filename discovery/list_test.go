package discovery

import (
	"slices"
	"strings"
	"testing"
)

// TestDescribeMember: what `serverset list` reports for member data, and
// which problems it flags.
func TestDescribeMember(t *testing.T) {
	for _, tc := range []struct {
		data     string
		owner    int64
		host     string
		status   string
		problems []string // substrings, one per expected problem
	}{
		{data: `{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":"ALIVE"}`, owner: 7, host: "h", status: "ALIVE"},
		{data: `{"status": "ALIVE", "additionalEndpoints": {}, "serviceEndpoint": {"port": 1, "host": "h"}}`, owner: 7, host: "h", status: "ALIVE"},
		{data: `{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":"STOPPING"}`, owner: 7, host: "h", status: "STOPPING"},
		{data: `not json`, owner: 7, problems: []string{"malformed: failed to decode member"}},
		{data: `{"serviceEndpoint":{"host":"h","port":"8080"},"additionalEndpoints":{},"status":"ALIVE"}`, owner: 7, status: "ALIVE",
			problems: []string{"serviceEndpoint missing or without"}},
		{data: `{"serviceEndpoint":{"host":"h","port":1},"status":"ALIVE"}`, owner: 7, host: "h", status: "ALIVE",
			problems: []string{"no additionalEndpoints"}},
		{data: `{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{"admin":{"host":"h","port":0}},"status":"ALIVE"}`, owner: 7, host: "h", status: "ALIVE",
			problems: []string{`additional endpoint "admin"`}},
		{data: `{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{}}`, owner: 7, host: "h", problems: []string{"no status"}},
		{data: `{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":null}`, owner: 7, host: "h", problems: []string{"no status"}},
		{data: `{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":2}`, owner: 7, problems: []string{"malformed: failed to decode member"}},
		{data: `{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":"ALIVE","shard":"3"}`, owner: 7, host: "h", status: "ALIVE",
			problems: []string{`shard "3" is not a 32-bit integer`}},
		{data: `{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":"ALIVE"}`, owner: 0, host: "h", status: "ALIVE",
			problems: []string{"persistent"}},
	} {
		c := ListedChild{Name: "member_0000000001", Kind: KindMember, Owner: tc.owner}
		describeMember(&c, []byte(tc.data))
		if c.Host != tc.host || c.Status != tc.status {
			t.Errorf("%s: host %q status %q; want %q %q", tc.data, c.Host, c.Status, tc.host, tc.status)
		}
		if len(c.Problems) != len(tc.problems) {
			t.Errorf("%s: problems %q; want %d matching %q", tc.data, c.Problems, len(tc.problems), tc.problems)
			continue
		}
		for _, want := range tc.problems {
			if !slices.ContainsFunc(c.Problems, func(p string) bool { return strings.Contains(p, want) }) {
				t.Errorf("%s: problems %q lack %q", tc.data, c.Problems, want)
			}
		}
		if usable := tc.status == StatusAlive && tc.host != "" && len(tc.problems) == 0; c.Usable() != usable {
			t.Errorf("%s: Usable() = %v, want %v", tc.data, c.Usable(), usable)
		}
	}
}

func TestMarkDrained(t *testing.T) {
	children := []ListedChild{
		{Name: "drain-h:1", Kind: KindDrainMarker, Host: "h", Port: 1, Drained: true},
		{Name: "member_0000000001", Kind: KindMember, Host: "h", Port: 1},
		{Name: "member_0000000002", Kind: KindMember, Host: "h", Port: 2},
	}
	markDrained(children)
	if !children[1].Drained || children[2].Drained {
		t.Errorf("drained flags %v, %v; want true for h:1 only", children[1].Drained, children[2].Drained)
	}
}
