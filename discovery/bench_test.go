package discovery

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkRebuild1000 measures the CPU side of a rebuild of a 1,000-member
// serverset whose member data is cached: dedupe, sort, the membership
// policy and the snapshot handed to OnChange (the ZooKeeper round trips are
// measured by TestZooKeeper/1000_members).
func BenchmarkRebuild1000(b *testing.B) {
	const n = 1000
	d, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	pw := &poolWatcher{d: d, pool: "bench", log: zap.NewNop(), met: d.met.pool("bench"), cache: map[string]cachedMember{}}
	children := make([]string, 0, n+1)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("member_%010d", i)
		children = append(children, name)
		pw.cache[name] = cachedMember{seq: int64(i), server: Server{Proto: "tcp", Host: fmt.Sprintf("10.0.%d.%d", i/256, i%256), Port: 2003}}
	}
	var got int
	m := NewMembership(MembershipConfig{Pool: "bench", OnChange: func(s Snapshot) { got = len(s.Members) }})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// Alternate between n and n-1 members so every round is a change.
		list := children
		if i%2 == 1 {
			list = children[1:]
		}
		servers, _, _ := pw.build(list)
		m.SetZooKeeper(servers, time.Now())
	}
	if got < n-1 {
		b.Fatalf("last OnChange had %d members, want about %d", got, n)
	}
}
