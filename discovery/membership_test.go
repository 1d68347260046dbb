package discovery

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"ringrelay/config"
)

func srv(s string) Server {
	v, err := ParseServer(s)
	if err != nil {
		panic(err)
	}
	v.Raw = ""
	return v
}

func srvs(list ...string) []Server {
	out := make([]Server, len(list))
	for i, s := range list {
		out[i] = srv(s)
	}
	return out
}

func dur(d time.Duration) config.Duration { return config.Duration{Duration: d} }

// recorder keeps every OnChange call with the fake time it happened at.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	calls []string // "1s: static:a,zookeeper:b"
}

func (r *recorder) onChange(s Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("%v: %s", time.Since(r.start), describe(s)))
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

func describe(s Snapshot) string {
	parts := make([]string, len(s.Members))
	for i, m := range s.Members {
		parts[i] = string(m.Source) + ":" + m.String()
	}
	return strings.Join(parts, ",")
}

func newTestMembership(pc PoolConfig, static ...string) (*Membership, *recorder) {
	r := &recorder{start: time.Now()}
	m := NewMembership(MembershipConfig{Pool: "p", Static: srvs(static...), OnChange: r.onChange, PoolConfig: pc})
	return m, r
}

// step is one action at a fake time, and the OnChange calls expected
// right after it (and after every timer due by then).
type step struct {
	at     time.Duration
	zk     []string // nil: no sync in this step
	empty  bool     // sync an empty serverset
	add    string
	purge  string
	expect []string
}

func runSteps(t *testing.T, name string, pc PoolConfig, static []string, steps []step) {
	t.Run(name, func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m, rec := newTestMembership(pc, static...)
			defer m.Stop()
			for _, st := range steps {
				time.Sleep(st.at - time.Since(rec.start))
				switch {
				case st.zk != nil:
					m.SetZooKeeper(srvs(st.zk...), time.Now())
				case st.empty:
					m.SetZooKeeper(nil, time.Now())
				case st.add != "":
					m.Add(srv(st.add))
				case st.purge != "":
					m.Purge(srv(st.purge))
				}
				synctest.Wait()
				if got := rec.take(); !slices.Equal(got, st.expect) {
					t.Errorf("at %v after %+v: OnChange calls\n got %q\nwant %q", st.at, st, got, st.expect)
				}
			}
		})
	})
}

func TestMembershipPolicy(t *testing.T) {
	deb := PoolConfig{Debounce: dur(time.Second)}
	runSteps(t, "static until first sync, which applies at once", deb, []string{"s1:1", "s2:1"}, []step{
		{at: 0},
		{at: 500 * time.Millisecond, zk: []string{"b:2", "a:1"}, expect: []string{"500ms: zookeeper:a:1,zookeeper:b:2"}},
	})
	runSteps(t, "debounce coalesces changes into one rebuild", deb, nil, []step{
		{at: 0, zk: []string{"a:1", "b:1", "c:1"}, expect: []string{"0s: zookeeper:a:1,zookeeper:b:1,zookeeper:c:1"}},
		{at: 2 * time.Second, zk: []string{"b:1", "c:1"}},
		{at: 2300 * time.Millisecond, zk: []string{"b:1", "c:1", "d:1"}},
		{at: 2600 * time.Millisecond, zk: []string{"c:1", "d:1"}},
		{at: 2999 * time.Millisecond},
		{at: 3 * time.Second, expect: []string{"3s: zookeeper:c:1,zookeeper:d:1"}},
		{at: 5 * time.Second, zk: []string{"d:1", "c:1"}}, // same set: nothing
		{at: 7 * time.Second},
	})
	runSteps(t, "a change reverted within the window causes no rebuild", deb, nil, []step{
		{at: 0, zk: []string{"a:1", "b:1"}, expect: []string{"0s: zookeeper:a:1,zookeeper:b:1"}},
		{at: time.Second, zk: []string{"a:1"}},
		{at: 1500 * time.Millisecond, zk: []string{"a:1", "b:1"}},
		{at: 3 * time.Second},
	})
	runSteps(t, "debounce 0 applies every sync at once", PoolConfig{}, nil, []step{
		{at: 0, zk: []string{"a:1"}, expect: []string{"0s: zookeeper:a:1"}},
		{at: 10 * time.Millisecond, zk: []string{"a:1", "b:1"}, expect: []string{"10ms: zookeeper:a:1,zookeeper:b:1"}},
	})
	rd := PoolConfig{Debounce: dur(time.Second), RemoveDelay: dur(5 * time.Second)}
	runSteps(t, "remove delay keeps a leaver in limbo", rd, nil, []step{
		{at: 0, zk: []string{"a:1", "b:1"}, expect: []string{"0s: zookeeper:a:1,zookeeper:b:1"}},
		{at: time.Second, zk: []string{"a:1", "c:1"}}, // b leaves, c joins
		{at: 2 * time.Second, expect: []string{"2s: zookeeper:a:1,zookeeper:b:1,zookeeper:c:1"}},
		{at: 5999 * time.Millisecond},
		{at: 6 * time.Second, expect: []string{"6s: zookeeper:a:1,zookeeper:c:1"}},
	})
	runSteps(t, "a leaver that returns within the remove delay stays", rd, nil, []step{
		{at: 0, zk: []string{"a:1", "b:1"}, expect: []string{"0s: zookeeper:a:1,zookeeper:b:1"}},
		{at: time.Second, zk: []string{"a:1"}},
		{at: 3 * time.Second, zk: []string{"a:1", "b:1"}},
		{at: 10 * time.Second},
	})
	runSteps(t, "a re-registration at a new address replaces its instance in limbo", rd, nil, []step{
		{at: 0, zk: []string{"10.0.0.1:2003=1", "10.0.0.2:2003=2"}, expect: []string{"0s: zookeeper:10.0.0.1:2003=1,zookeeper:10.0.0.2:2003=2"}},
		{at: time.Second, zk: []string{"10.0.0.9:2003=1", "10.0.0.2:2003=2"}},
		{at: 2 * time.Second, expect: []string{"2s: zookeeper:10.0.0.9:2003=1,zookeeper:10.0.0.2:2003=2"}},
		{at: 10 * time.Second},
	})
	runSteps(t, "an address that re-registers with another instance is not kept in limbo", rd, nil, []step{
		{at: 0, zk: []string{"10.0.0.1:2003=1", "10.0.0.2:2003=2"}, expect: []string{"0s: zookeeper:10.0.0.1:2003=1,zookeeper:10.0.0.2:2003=2"}},
		{at: time.Second, zk: []string{"10.0.0.1:2003=3", "10.0.0.2:2003=2"}},
		{at: 2 * time.Second, expect: []string{"2s: zookeeper:10.0.0.2:2003=2,zookeeper:10.0.0.1:2003=3"}},
		{at: 10 * time.Second},
	})
	eh := PoolConfig{Debounce: dur(time.Second), EmptyHold: dur(30 * time.Second)}
	runSteps(t, "an emptying update is held until it persists", eh, nil, []step{
		{at: 0, zk: []string{"a:1"}, expect: []string{"0s: zookeeper:a:1"}},
		{at: time.Second, empty: true},
		{at: 30 * time.Second}, // still held
		{at: 31 * time.Second, expect: []string{"31s: "}},
	})
	runSteps(t, "an emptying update that does not persist is never applied", eh, nil, []step{
		{at: 0, zk: []string{"a:1"}, expect: []string{"0s: zookeeper:a:1"}},
		{at: time.Second, empty: true},
		{at: 10 * time.Second, zk: []string{"b:1"}},
		{at: 11 * time.Second, expect: []string{"11s: zookeeper:b:1"}},
		{at: 60 * time.Second},
	})
	runSteps(t, "an empty first sync keeps the static servers until it persists", eh, []string{"s:1"}, []step{
		{at: 0, empty: true},
		{at: 29 * time.Second},
		{at: 30 * time.Second, expect: []string{"30s: "}},
	})
	runSteps(t, "http overlay: immediate, and re-applied after rebuilds", deb, []string{"s:1"}, []step{
		{at: 0, add: "h:9", expect: []string{"0s: static:s:1,http:h:9"}},
		{at: time.Second, purge: "s:1", expect: []string{"1s: http:h:9"}},
		{at: 2 * time.Second, zk: []string{"a:1", "b:1"}, expect: []string{"2s: zookeeper:a:1,zookeeper:b:1,http:h:9"}},
		{at: 3 * time.Second, purge: "b:1", expect: []string{"3s: zookeeper:a:1,http:h:9"}},
		{at: 4 * time.Second, zk: []string{"a:1", "b:1", "c:1"}},
		{at: 5 * time.Second, expect: []string{"5s: zookeeper:a:1,zookeeper:c:1,http:h:9"}},
		{at: 6 * time.Second, add: "b:1", expect: []string{"6s: zookeeper:a:1,zookeeper:b:1,zookeeper:c:1,http:h:9"}},
	})
}

func TestSortServers(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{in: []string{"b:1", "a:2", "a:1", "a:1"}, want: []string{"a:1", "a:2", "b:1"}},
		{in: []string{"h:1=10", "h:2=2", "g:1=1"}, want: []string{"g:1=1", "h:2=2", "h:1=10"}},
		{in: []string{"z:1=b", "a:1=a", "c:1=10"}, want: []string{"c:1=10", "a:1=a", "z:1=b"}},
		{in: []string{"a:10", "a:9"}, want: []string{"a:9", "a:10"}},
	} {
		got := SortServers(srvs(tc.in...))
		gs := make([]string, len(got))
		for i, s := range got {
			gs[i] = s.String()
		}
		if !slices.Equal(gs, tc.want) {
			t.Errorf("SortServers(%q) = %q, want %q", tc.in, gs, tc.want)
		}
	}
}

func TestMembershipOnChangeSerialisedAndOrdered(t *testing.T) {
	var inside, overlaps atomic.Int32
	var mu sync.Mutex
	var last Snapshot
	m := NewMembership(MembershipConfig{Pool: "p", OnChange: func(s Snapshot) {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		mu.Lock()
		last = s
		mu.Unlock()
		time.Sleep(50 * time.Microsecond)
		inside.Add(-1)
	}})
	defer m.Stop()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				s := srv(fmt.Sprintf("h%d:%d", g, i+1))
				switch i % 3 {
				case 0:
					m.Add(s)
				case 1:
					m.Purge(s)
				default:
					m.SetZooKeeper([]Server{s}, time.Now())
				}
			}
		}()
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Errorf("OnChange ran concurrently %d times", overlaps.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := describe(last), describe(m.Snapshot()); got != want {
		t.Errorf("last OnChange snapshot %q != final Snapshot %q: calls out of order", got, want)
	}
}

func TestMembershipStopCancelsTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, rec := newTestMembership(PoolConfig{Debounce: dur(time.Second)})
		m.SetZooKeeper(srvs("a:1"), time.Now())
		m.SetZooKeeper(srvs("b:1"), time.Now())
		m.Stop()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := rec.take(); !slices.Equal(got, []string{"0s: zookeeper:a:1"}) {
			t.Errorf("OnChange calls = %q; want only the first sync (the debounced one cancelled by Stop)", got)
		}
	})
}
