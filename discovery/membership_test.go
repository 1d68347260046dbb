package discovery

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

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
	return newTestMembershipCfg(MembershipConfig{Static: srvs(static...), PoolConfig: pc})
}

// newTestMembershipCfg returns a Membership of pool "p" on cfg, with a
// recorder as its OnChange.
func newTestMembershipCfg(cfg MembershipConfig) (*Membership, *recorder) {
	r := &recorder{start: time.Now()}
	cfg.Pool, cfg.OnChange = "p", r.onChange
	return NewMembership(cfg), r
}

// advance moves a synctest bubble's fake clock on by d: it returns as soon
// as every goroutine of the bubble is blocked and every timer due by then
// has fired, without waiting in real time.
func advance(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
	synctest.Wait()
}

// step is one action at a fake time, and the OnChange calls expected
// right after it (and after every timer due by then).
type step struct {
	at     time.Duration
	zk     []string // nil: no sync in this step
	empty  bool     // sync an empty serverset
	add    string
	purge  string
	reconf *reconf
	expect []string
	// snap, if set, is the membership expected after the step (describe
	// form; "-" for an empty one).
	snap string
}

// reconf is a Reconfigure call.
type reconf struct {
	static []string
	pc     PoolConfig
}

func runSteps(t *testing.T, name string, pc PoolConfig, static []string, steps []step) {
	runStepsCfg(t, name, MembershipConfig{Static: srvs(static...), PoolConfig: pc}, steps)
}

func runStepsCfg(t *testing.T, name string, cfg MembershipConfig, steps []step) {
	t.Run(name, func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m, rec := newTestMembershipCfg(cfg)
			defer m.Stop()
			for _, st := range steps {
				advance(st.at - time.Since(rec.start))
				switch {
				case st.zk != nil:
					m.SetZooKeeper(srvs(st.zk...), time.Now())
				case st.empty:
					m.SetZooKeeper(nil, time.Now())
				case st.add != "":
					m.Add(srv(st.add))
				case st.purge != "":
					m.Purge(srv(st.purge))
				case st.reconf != nil:
					m.Reconfigure(srvs(st.reconf.static...), st.reconf.pc)
				}
				synctest.Wait()
				if got := rec.take(); !slices.Equal(got, st.expect) {
					t.Errorf("at %v after %+v: OnChange calls\n got %q\nwant %q", st.at, st, got, st.expect)
				}
				if st.snap != "" {
					want := strings.TrimPrefix(st.snap, "-")
					if got := describe(m.Snapshot()); got != want {
						t.Errorf("at %v after %+v: Snapshot = %q, want %q", st.at, st, got, want)
					}
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
		runtime.Gosched() // let another call overlap, if one could
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
				switch i % 4 {
				case 0:
					m.Add(s)
				case 1:
					m.Purge(s)
				case 2:
					m.Reconfigure([]Server{s}, PoolConfig{})
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
		advance(5 * time.Second)
		if got := rec.take(); !slices.Equal(got, []string{"0s: zookeeper:a:1"}) {
			t.Errorf("OnChange calls = %q; want only the first sync (the debounced one cancelled by Stop)", got)
		}
	})
}

func TestMembershipSeed(t *testing.T) {
	seeded := func(pc PoolConfig, seed ...string) MembershipConfig {
		return MembershipConfig{Static: srvs("s:1"), Seed: srvs(seed...), PoolConfig: pc}
	}
	rd := PoolConfig{Debounce: dur(time.Second), RemoveDelay: dur(5 * time.Second)}
	runStepsCfg(t, "the seed stands in for the static servers; the first sync replaces it at once", seeded(rd, "b:1", "a:1"), []step{
		{at: 0, snap: "zookeeper_cache:a:1,zookeeper_cache:b:1"},
		{at: 0, add: "h:9", expect: []string{"0s: zookeeper_cache:a:1,zookeeper_cache:b:1,http:h:9"}},
		// No debounce, and the seed's a:1 is not kept in limbo.
		{at: 500 * time.Millisecond, zk: []string{"b:1", "c:1"}, expect: []string{"500ms: zookeeper:b:1,zookeeper:c:1,http:h:9"}},
		// From then on the policy is the usual one: debounce, and b:1 in limbo.
		{at: time.Second, zk: []string{"c:1", "d:1"}},
		{at: 2 * time.Second, expect: []string{"2s: zookeeper:b:1,zookeeper:c:1,zookeeper:d:1,http:h:9"}},
		{at: 6 * time.Second, expect: []string{"6s: zookeeper:c:1,zookeeper:d:1,http:h:9"}},
	})
	runStepsCfg(t, "a first sync equal to the seed changes the members' source", seeded(rd, "a:1"), []step{
		{at: time.Second, zk: []string{"a:1"}, expect: []string{"1s: zookeeper:a:1"}},
		{at: 2 * time.Second, zk: []string{"a:1"}},
	})
	eh := PoolConfig{Debounce: dur(time.Second), EmptyHold: dur(30 * time.Second)}
	runStepsCfg(t, "an empty first sync is held for EmptyHold", seeded(eh, "a:1"), []step{
		{at: 0, empty: true},
		{at: 29999 * time.Millisecond, snap: "zookeeper_cache:a:1"},
		{at: 30 * time.Second, expect: []string{"30s: "}},
		{at: 31 * time.Second, zk: []string{"b:1"}},
		{at: 32 * time.Second, expect: []string{"32s: zookeeper:b:1"}},
	})
	runStepsCfg(t, "a non-empty sync during the hold applies at once", seeded(eh, "a:1"), []step{
		{at: 0, empty: true},
		{at: 10 * time.Second, zk: []string{"b:1"}, expect: []string{"10s: zookeeper:b:1"}},
		{at: 60 * time.Second},
	})
	runStepsCfg(t, "an empty seed is no seed", seeded(rd), []step{
		{at: 0, snap: "static:s:1"},
		{at: time.Second, zk: []string{"a:1"}, expect: []string{"1s: zookeeper:a:1"}},
	})
}

func TestMembershipSeedSnapshotAndMetrics(t *testing.T) {
	met := NewMetrics(nil)
	savedAt := time.Date(2024, 6, 11, 12, 0, 0, 0, time.UTC)
	m := NewMembership(MembershipConfig{Pool: "p", Static: srvs("s:1"), Seed: srvs("a:1", "b:1"), SeedAt: savedAt, Metrics: met})
	defer m.Stop()
	gauge := func(src Source) float64 { return testutil.ToFloat64(met.members.WithLabelValues("p", string(src))) }
	snap := m.Snapshot()
	if !snap.LastSync.IsZero() || !snap.SeedAt.Equal(savedAt) || gauge(SourceCache) != 2 || gauge(SourceStatic) != 0 {
		t.Errorf("seeded: LastSync %v, SeedAt %v, members by source cache %v static %v; want zero, %v, 2, 0",
			snap.LastSync, snap.SeedAt, gauge(SourceCache), gauge(SourceStatic), savedAt)
	}
	at := time.Now()
	m.SetZooKeeper(srvs("a:1"), at)
	snap = m.Snapshot()
	if !snap.LastSync.Equal(at) || !snap.SeedAt.IsZero() || gauge(SourceCache) != 0 || gauge(SourceZooKeeper) != 1 {
		t.Errorf("synced: LastSync %v, SeedAt %v, members by source cache %v zookeeper %v; want %v, zero, 0, 1",
			snap.LastSync, snap.SeedAt, gauge(SourceCache), gauge(SourceZooKeeper), at)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestMembershipSynced(t *testing.T) {
	var closedInOnChange []bool
	var m *Membership
	m = NewMembership(MembershipConfig{Pool: "p", Static: srvs("s:1"), PoolConfig: PoolConfig{EmptyHold: dur(time.Hour)},
		OnChange: func(Snapshot) { closedInOnChange = append(closedInOnChange, isClosed(m.Synced())) }})
	defer m.Stop()
	if m.Synced() != m.Synced() {
		t.Error("Synced returns different channels")
	}
	m.Add(srv("h:1"))
	m.Purge(srv("h:1"))
	m.Reconfigure(srvs("s:2"), PoolConfig{EmptyHold: dur(time.Hour)})
	if isClosed(m.Synced()) {
		t.Fatal("Synced closed before any SetZooKeeper")
	}
	// The first sync is empty: EmptyHold holds it, but it is a sync.
	m.SetZooKeeper(nil, time.Now())
	if !isClosed(m.Synced()) {
		t.Fatal("Synced not closed after the first SetZooKeeper (held by EmptyHold)")
	}
	if got := describe(m.Snapshot()); got != "static:s:2" {
		t.Errorf("Snapshot = %q, want the held static servers", got)
	}
	m.SetZooKeeper(srvs("a:1"), time.Now()) // a second sync: nothing to close again
	// Add, Purge and Reconfigure before the first sync, then the sync of a:1
	// (the empty one was held, so it published nothing).
	if want := []bool{false, false, false, true}; !slices.Equal(closedInOnChange, want) {
		t.Errorf("Synced closed during the OnChange calls: %v, want %v", closedInOnChange, want)
	}

	// A first sync applied at once is published before Synced closes, so a
	// waiter sees the pool on its serverset.
	var m2 *Membership
	var published []bool
	m2 = NewMembership(MembershipConfig{Pool: "p", OnChange: func(Snapshot) { published = append(published, isClosed(m2.Synced())) }})
	defer m2.Stop()
	m2.SetZooKeeper(srvs("a:1"), time.Now())
	if !slices.Equal(published, []bool{false}) || !isClosed(m2.Synced()) {
		t.Errorf("first sync: Synced closed during OnChange %v, after SetZooKeeper %v; want [false], true", published, isClosed(m2.Synced()))
	}

	// Concurrent first syncs and waiters: closed once, no race.
	m3 := NewMembership(MembershipConfig{Pool: "p"})
	defer m3.Stop()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-m3.Synced()
		}()
		go func() {
			defer wg.Done()
			m3.SetZooKeeper(srvs(fmt.Sprintf("h:%d", g+1)), time.Now())
		}()
	}
	wg.Wait()
}

// loadSaved returns what store holds for pool "p" and serverset "/ss", as
// a describe-like string ("none" when nothing).
func loadSaved(t *testing.T, store *StateStore) string {
	t.Helper()
	servers, _, ok, err := store.Load("p", "/ss")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "none"
	}
	return strings.Join(serverStrings(servers), ",")
}

func serverStrings(servers []Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.String()
	}
	return out
}

func TestMembershipSavesAppliedServerset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, err := NewStateStore(filepath.Join(t.TempDir(), "state"))
		if err != nil {
			t.Fatal(err)
		}
		m, rec := newTestMembershipCfg(MembershipConfig{Static: srvs("s:1"), Seed: srvs("z:1"), Store: store,
			PoolConfig: PoolConfig{Serverset: "/ss", Debounce: dur(time.Second)}})
		defer m.Stop()
		check := func(what, want string) {
			t.Helper()
			if got := loadSaved(t, store); got != want {
				t.Errorf("%s: saved %q, want %q", what, got, want)
			}
		}
		m.Add(srv("h:9"))
		m.Purge(srv("s:1"))
		check("seeded, with an HTTP overlay", "none")

		start := time.Now()
		m.SetZooKeeper(srvs("b:1", "a:1"), time.Now())
		check("first sync", "a:1,b:1")
		if _, at, _, _ := store.Load("p", "/ss"); !at.Equal(start) {
			t.Errorf("saved at %v, want the time of the change %v", at, start)
		}

		// An unchanged serverset is not saved again.
		if err := os.Remove(store.path("p")); err != nil {
			t.Fatal(err)
		}
		advance(time.Second)
		m.SetZooKeeper(srvs("a:1", "b:1"), time.Now())
		check("unchanged sync", "none")

		// A debounced change is saved when it is applied, not when seen.
		m.SetZooKeeper(srvs("a:1", "c:1"), time.Now())
		check("change seen", "none")
		advance(time.Second)
		check("change applied", "a:1,c:1")

		// A failed save: the change is still published, the error kept,
		// and the save retried at the next update until it succeeds.
		if err := os.RemoveAll(store.dir); err != nil {
			t.Fatal(err)
		}
		rec.take()
		m.SetZooKeeper(srvs("c:1"), time.Now())
		advance(time.Second)
		if got, want := rec.take(), []string{"3s: zookeeper:c:1,http:h:9"}; !slices.Equal(got, want) {
			t.Errorf("OnChange with the store failing = %q, want %q", got, want)
		}
		if err := m.LastSaveError(); err == nil || !strings.Contains(err.Error(), store.path("p")) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("LastSaveError() = %v, want a missing-directory error naming %q", err, store.path("p"))
		}
		if err := os.MkdirAll(store.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		m.SetZooKeeper(srvs("c:1"), time.Now()) // unchanged, but not saved yet
		check("retry", "c:1")
		if err := m.LastSaveError(); err != nil {
			t.Errorf("LastSaveError() after a successful save = %v", err)
		}

		// Nothing is saved after Stop, not even a pending retry.
		if err := os.RemoveAll(store.dir); err != nil {
			t.Fatal(err)
		}
		m.SetZooKeeper(srvs("d:1"), time.Now())
		advance(time.Second)
		if m.LastSaveError() == nil {
			t.Fatal("save into a removed directory succeeded")
		}
		m.Stop()
		if err := os.MkdirAll(store.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		m.Add(srv("h:8"))
		m.SetZooKeeper(srvs("e:1"), time.Now())
		check("after Stop", "none")
	})
}

func TestMembershipSavesNothingButSyncs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, err := NewStateStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		eh := PoolConfig{Serverset: "/ss", Debounce: dur(time.Second), EmptyHold: dur(30 * time.Second)}
		m, _ := newTestMembershipCfg(MembershipConfig{Static: srvs("s:1"), Store: store, PoolConfig: eh})
		defer m.Stop()
		m.Add(srv("h:9"))
		m.Reconfigure(srvs("s:2"), eh)
		m.SetZooKeeper(nil, time.Now()) // held by EmptyHold: not applied
		if got := loadSaved(t, store); got != "none" {
			t.Errorf("static servers, HTTP overlay and a held sync: saved %q, want nothing", got)
		}
		advance(30 * time.Second)
		if got := loadSaved(t, store); got != "" {
			t.Errorf("the empty serverset applied after EmptyHold: saved %q, want it (empty)", got)
		}
	})
}

func TestMembershipReconfigure(t *testing.T) {
	deb := PoolConfig{Debounce: dur(time.Second)}
	runSteps(t, "static pool: new static servers publish, the same ones do not", deb, []string{"s:1"}, []step{
		{at: 0, add: "h:9", expect: []string{"0s: static:s:1,http:h:9"}},
		{at: time.Second, reconf: &reconf{static: []string{"s:2", "s:1"}, pc: deb}, expect: []string{"1s: static:s:2,static:s:1,http:h:9"}},
		{at: 2 * time.Second, reconf: &reconf{static: []string{"s:2", "s:1"}, pc: deb}},
		{at: 3 * time.Second, reconf: &reconf{static: []string{"s:2", "s:1"}, pc: PoolConfig{Debounce: dur(time.Minute)}}},
		{at: 4 * time.Second, purge: "s:1", expect: []string{"4s: static:s:2,http:h:9"}},
		{at: 5 * time.Second, reconf: &reconf{static: []string{"s:1", "s:2"}, pc: deb}, snap: "static:s:2,http:h:9"},
	})
	runSteps(t, "serverset pool: overlay, applied part and pending update are kept", deb, []string{"s:1"}, []step{
		{at: 0, zk: []string{"a:1", "b:1"}, expect: []string{"0s: zookeeper:a:1,zookeeper:b:1"}},
		{at: 0, add: "h:9", expect: []string{"0s: zookeeper:a:1,zookeeper:b:1,http:h:9"}},
		{at: 0, purge: "b:1", expect: []string{"0s: zookeeper:a:1,http:h:9"}},
		{at: 500 * time.Millisecond, zk: []string{"a:1", "b:1", "c:1"}},
		{at: time.Second, reconf: &reconf{static: []string{"s:9"}, pc: deb}, snap: "zookeeper:a:1,http:h:9"},
		{at: 1500 * time.Millisecond, expect: []string{"1.5s: zookeeper:a:1,zookeeper:c:1,http:h:9"}},
	})
	runSteps(t, "a pending update keeps its deadline", PoolConfig{Debounce: dur(5 * time.Second)}, nil, []step{
		{at: 0, zk: []string{"a:1"}, expect: []string{"0s: zookeeper:a:1"}},
		{at: time.Second, zk: []string{"b:1"}},
		{at: 2 * time.Second, reconf: &reconf{pc: deb}},
		{at: 5999 * time.Millisecond},
		{at: 6 * time.Second, expect: []string{"6s: zookeeper:b:1"}},
		// The new debounce from then on.
		{at: 7 * time.Second, zk: []string{"c:1"}},
		{at: 8 * time.Second, expect: []string{"8s: zookeeper:c:1"}},
	})
	runSteps(t, "a new policy applies to later updates", PoolConfig{Debounce: dur(5 * time.Second)}, nil, []step{
		{at: 0, zk: []string{"a:1"}, expect: []string{"0s: zookeeper:a:1"}},
		{at: time.Second, reconf: &reconf{pc: PoolConfig{EmptyHold: dur(10 * time.Second), RemoveDelay: dur(3 * time.Second)}}},
		{at: 2 * time.Second, zk: []string{"a:1", "b:1"}, expect: []string{"2s: zookeeper:a:1,zookeeper:b:1"}},
		{at: 3 * time.Second, zk: []string{"b:1"}},
		{at: 5999 * time.Millisecond},
		{at: 6 * time.Second, expect: []string{"6s: zookeeper:b:1"}},
		{at: 7 * time.Second, empty: true},
		{at: 16999 * time.Millisecond},
		{at: 17 * time.Second, expect: []string{"17s: "}},
	})
}
