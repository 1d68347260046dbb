package discovery

import (
	"strings"
	"testing"
	"time"

	"ringrelay/internal/zktest"
)

// Tests of what a config reload does to discovery, against a real
// ZooKeeper (see internal/zktest).

// watched is a Membership fed by a Discovery, with its OnChange calls.
type watched struct {
	m       *Membership
	changes chan Snapshot
}

func watch(t *testing.T, d *Discovery, pool, serverset string) *watched {
	t.Helper()
	w := &watched{changes: make(chan Snapshot, 1024)}
	w.m = NewMembership(MembershipConfig{Pool: pool, PoolConfig: PoolConfig{Serverset: serverset}, OnChange: func(s Snapshot) {
		select {
		case w.changes <- s:
		default:
		}
	}})
	t.Cleanup(w.m.Stop)
	if err := d.Watch(pool, PoolConfig{Serverset: serverset}, w.m); err != nil {
		t.Fatal(err)
	}
	return w
}

// waitMembers waits until the membership is want (describe form).
func (w *watched) waitMembers(t *testing.T, want string) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for describe(w.m.Snapshot()) != want {
		select {
		case <-w.changes:
		case <-deadline.C:
			t.Fatalf("membership of %s never became %q; it is %q", w.m.cfg.Pool, want, describe(w.m.Snapshot()))
		}
	}
}

// waitSyncs waits until the membership has seen n more syncs (LastSync
// moved n times).
func (w *watched) waitSyncs(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	last := w.m.Snapshot().LastSync
	for n > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("membership of %s: %d more syncs did not come within %v", w.m.cfg.Pool, n, waitLimit)
		}
		if at := w.m.Snapshot().LastSync; !at.Equal(last) {
			last = at
			n--
			continue
		}
		time.Sleep(5 * time.Millisecond) // polling: a sync that changes nothing has no event
	}
}

// TestUnwatchThenWatchAgain: Unwatch stops a pool's watcher (its
// Membership gets no more syncs) and frees the name, which is then watched
// again on another serverset with a new Membership.
func TestUnwatchThenWatchAgain(t *testing.T) {
	zks := zktest.Start(t)
	admin := zktest.Client(t, zks.Addr(), 10*time.Second)
	const ssA, ssB = "/reload/a", "/reload/b"
	addMember(t, admin, ssA, memberJSON("10.2.0.1", 1, ""))
	addMember(t, admin, ssB, memberJSON("10.2.0.2", 2, ""))

	zkc := zkConfig(zks.Addr())
	zkc.ResyncInterval.Duration = 50 * time.Millisecond // a live watcher syncs all the time
	d, err := New(Options{ZooKeeper: zkc})
	if err != nil {
		t.Fatal(err)
	}
	d.Unwatch("nothing") // unknown pool, not started: nothing happens
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	old := watch(t, d, "p", ssA)
	witness := watch(t, d, "witness", ssA)
	old.waitMembers(t, "zookeeper:10.2.0.1:1")
	witness.waitMembers(t, "zookeeper:10.2.0.1:1")
	old.waitSyncs(t, 1) // the watcher resyncs while watched

	d.Unwatch("p")
	d.Unwatch("p") // again: a no-op
	d.Unwatch("nothing")
	if _, ok := d.Status().Pools["p"]; ok {
		t.Errorf("Status after Unwatch still lists pool p: %+v", d.Status().Pools)
	}
	frozen := old.m.Snapshot().LastSync
	addMember(t, admin, ssA, memberJSON("10.2.0.3", 3, ""))
	witness.waitMembers(t, "zookeeper:10.2.0.1:1,zookeeper:10.2.0.3:3")
	witness.waitSyncs(t, 3) // several resyncs that an old watcher would have made too
	if s := old.m.Snapshot(); describe(s) != "zookeeper:10.2.0.1:1" || !s.LastSync.Equal(frozen) {
		t.Errorf("after Unwatch: membership %q last sync %v, want %q and %v (no more syncs)", describe(s), s.LastSync,
			"zookeeper:10.2.0.1:1", frozen)
	}

	// The name is free again: another serverset, a new Membership.
	again := watch(t, d, "p", ssB)
	again.waitMembers(t, "zookeeper:10.2.0.2:2")
	if st := d.Status().Pools["p"]; st.Serverset != ssB {
		t.Errorf("Status of pool p = %+v, want serverset %q", st, ssB)
	}
	if err := d.Watch("p", PoolConfig{Serverset: ssA}, NewMembership(MembershipConfig{Pool: "p"})); err == nil ||
		!strings.Contains(err.Error(), "already watched") {
		t.Errorf("Watch of a watched pool = %v, want an already-watched error", err)
	}
	addMember(t, admin, ssB, memberJSON("10.2.0.4", 4, ""))
	again.waitMembers(t, "zookeeper:10.2.0.2:2,zookeeper:10.2.0.4:4")

	d.Close()
	d.Unwatch("p") // after Close: nothing left to stop
}

// TestUnwatchBeforeStart: a pool unwatched before Start is never synced,
// and its name can be watched again.
func TestUnwatchBeforeStart(t *testing.T) {
	zks := zktest.Start(t)
	admin := zktest.Client(t, zks.Addr(), 10*time.Second)
	addMember(t, admin, "/reload/c", memberJSON("10.2.0.5", 5, ""))
	d, err := New(Options{ZooKeeper: zkConfig(zks.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	gone := watch(t, d, "p", "/reload/c")
	d.Unwatch("p")
	w := watch(t, d, "p", "/reload/c")
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	w.waitMembers(t, "zookeeper:10.2.0.5:5")
	select {
	case <-gone.m.Synced():
		t.Error("a pool unwatched before Start was synced")
	default:
	}
}
