package discovery

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestMembershipOverlayVisibleAndClearable: the HTTP overlay says what was
// added and purged and when, and ClearOverlay drops it all.
func TestMembershipOverlayVisibleAndClearable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, _ := newTestMembership(PoolConfig{}, "s:1", "t:1")
		defer m.Stop()
		start := time.Now()
		m.Purge(srv("s:1"))
		time.Sleep(time.Second)
		m.Add(srv("h:9"))
		o := m.Overlay()
		if len(o.Purged) != 1 || o.Purged[0].Server.ID() != srv("s:1").ID() || !o.Purged[0].At.Equal(start) {
			t.Errorf("Overlay().Purged = %+v, want s:1 purged at %v", o.Purged, start)
		}
		if len(o.Added) != 1 || o.Added[0].Server.ID() != srv("h:9").ID() || !o.Added[0].At.Equal(start.Add(time.Second)) {
			t.Errorf("Overlay().Added = %+v, want h:9 added at %v", o.Added, start.Add(time.Second))
		}
		if got := describe(m.Snapshot()); got != "static:t:1,http:h:9" {
			t.Errorf("with the overlay: Snapshot = %q, want %q", got, "static:t:1,http:h:9")
		}
		dropped := m.ClearOverlay()
		if len(dropped.Added) != 1 || len(dropped.Purged) != 1 {
			t.Errorf("ClearOverlay dropped %+v, want one addition and one purge", dropped)
		}
		if got := describe(m.Snapshot()); got != "static:s:1,static:t:1" {
			t.Errorf("after ClearOverlay: Snapshot = %q, want the static servers %q", got, "static:s:1,static:t:1")
		}
		if o := m.Overlay(); len(o.Added)+len(o.Purged) != 0 {
			t.Errorf("after ClearOverlay: Overlay() = %+v, want empty", o)
		}
	})
}

// TestMembershipUndonePurgeDoesNotPin: adding back a purged server that its
// source still lists only undoes the purge; when it later leaves the
// serverset it leaves the pool (it used to stay, pinned as an HTTP member).
func TestMembershipUndonePurgeDoesNotPin(t *testing.T) {
	runSteps(t, "undone purge", PoolConfig{}, nil, []step{
		{at: 0, zk: []string{"a:1", "b:1"}, expect: []string{"0s: zookeeper:a:1,zookeeper:b:1"}},
		{at: time.Second, purge: "b:1", expect: []string{"1s: zookeeper:a:1"}},
		{at: 2 * time.Second, add: "b:1", expect: []string{"2s: zookeeper:a:1,zookeeper:b:1"}},
		{at: 3 * time.Second, zk: []string{"a:1"}, expect: []string{"3s: zookeeper:a:1"}},
	})
	runSteps(t, "a purged server that left its source is added as an HTTP member", PoolConfig{}, nil, []step{
		{at: 0, zk: []string{"a:1", "b:1"}, expect: []string{"0s: zookeeper:a:1,zookeeper:b:1"}},
		{at: time.Second, purge: "b:1", expect: []string{"1s: zookeeper:a:1"}},
		{at: 2 * time.Second, zk: []string{"a:1"}, expect: []string{"2s: zookeeper:a:1"}},
		{at: 3 * time.Second, add: "b:1", expect: []string{"3s: zookeeper:a:1,http:b:1"}},
	})
}

// TestMembershipEmptyServersetIsLoud: a serverset that disappears (or
// empties) logs a warning naming its path when empty_hold starts holding
// the members, an error when the pool is emptied, and the snapshot says
// why the pool has no members.
func TestMembershipEmptyServersetIsLoud(t *testing.T) {
	for _, tt := range []struct {
		name       string
		info       SyncInfo
		wantReason string
	}{
		{"missing path", SyncInfo{Missing: true}, `serverset "/discovery/prod/carbon" does not exist`},
		{"no members", SyncInfo{}, `serverset "/discovery/prod/carbon" has no members`},
		{"none usable", SyncInfo{Skipped: 2}, `serverset "/discovery/prod/carbon" has no usable member (2 skipped`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				core, logs := observer.New(zapcore.InfoLevel)
				pc := PoolConfig{Serverset: "/discovery/prod/carbon", EmptyHold: dur(30 * time.Second)}
				m, _ := newTestMembershipCfg(MembershipConfig{PoolConfig: pc, Logger: zap.New(core)})
				defer m.Stop()
				m.SyncZooKeeper(srvs("a:1", "b:1"), time.Now(), SyncInfo{})
				time.Sleep(time.Second)
				m.SyncZooKeeper(nil, time.Now(), tt.info)
				synctest.Wait()
				checkLog(t, logs, zapcore.WarnLevel, "empty_hold lasts", tt.wantReason)
				if got := describe(m.Snapshot()); got != "zookeeper:a:1,zookeeper:b:1" {
					t.Errorf("during empty_hold: Snapshot = %q, want the members kept", got)
				}
				advance(31 * time.Second)
				checkLog(t, logs, zapcore.ErrorLevel, "lost its members", tt.wantReason)
				snap := m.Snapshot()
				if len(snap.Members) != 0 || !strings.Contains(snap.Reason, tt.wantReason) {
					t.Errorf("after empty_hold: Snapshot = %q, reason %q; want no members, reason %q", describe(snap), snap.Reason, tt.wantReason)
				}
			})
		})
	}
}

// checkLog expects exactly one entry at level whose message contains msg,
// naming the serverset and a reason containing reason.
func checkLog(t *testing.T, logs *observer.ObservedLogs, level zapcore.Level, msg, reason string) {
	t.Helper()
	var found []observer.LoggedEntry
	for _, e := range logs.FilterLevelExact(level).All() {
		if strings.Contains(e.Message, msg) {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s logs containing %q, want 1 (all: %+v)", len(found), level, msg, logs.All())
	}
	f := found[0].ContextMap()
	if f["serverset"] != "/discovery/prod/carbon" || !strings.Contains(f["reason"].(string), reason) {
		t.Errorf("%s log %q has fields %v, want serverset /discovery/prod/carbon and reason %q", level, found[0].Message, f, reason)
	}
}
