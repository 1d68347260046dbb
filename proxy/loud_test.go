package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"ringrelay/internal/zktest"
)

// "Mistakes get loud" (issue #11), the pool side: an empty or missing
// serverset, ring changes, replication above the member count and the HTTP
// overlay are all visible in logs, metrics and /pools.

// startLoggedRelay is startRelay with the relay's logs observed.
func startLoggedRelay(t *testing.T, cfgText string) (*Relay, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	return runRelay(t, Options{Config: mustLoad(t, cfgText), Logger: zap.New(core)}), logs
}

// waitLog polls until a log entry with message msg whose fields contain
// every key=value of want (values compared as fmt %v) exists, and returns it.
func waitLog(t *testing.T, logs *observer.ObservedLogs, msg string, want map[string]string) observer.LoggedEntry {
	t.Helper()
	deadline := time.Now().Add(zkWait)
	for {
		for _, e := range logs.FilterMessage(msg).All() {
			f := e.ContextMap()
			ok := true
			for k, v := range want {
				if got := fmt.Sprint(f[k]); !strings.Contains(got, v) {
					ok = false
				}
			}
			if ok {
				return e
			}
		}
		if time.Now().After(deadline) {
			var all []string
			for _, e := range logs.All() {
				all = append(all, fmt.Sprintf("%s %q %v", e.Level, e.Message, e.ContextMap()))
			}
			t.Fatalf("no log %q with %v within %v; logs:\n%s", msg, want, zkWait, strings.Join(all, "\n"))
		}
		time.Sleep(5 * time.Millisecond) // polling: logs have no event to wait on
	}
}

// TestEmptyServersetIsLoud: a pool following a serverset path that does
// not exist warns (naming the path) when empty_hold starts holding its
// static servers, logs an error when the hold ends and the pool is
// emptied, and /pools says why it has no members.
func TestEmptyServersetIsLoud(t *testing.T) {
	zks := zktest.Start(t)
	s := startSink(t, "127.0.0.1:0")
	const ss = "/discovery/test/nothing-here"
	cfg := zkRelayConfig(zks.Addr(), ss, zkDebounce, s.addr) + "empty_hold = \"300ms\"\n"
	r, logs := startLoggedRelay(t, cfg)
	reason := fmt.Sprintf("serverset %q does not exist", ss)
	warn := waitLog(t, logs, "serverset is empty; keeping the current members while empty_hold lasts",
		map[string]string{"pool": "carbon", "serverset": ss, "reason": reason})
	if warn.Level != zap.WarnLevel {
		t.Errorf("hold log at %s, want warn", warn.Level)
	}
	e := waitLog(t, logs, "serverset is empty and empty_hold is over; the pool lost its members",
		map[string]string{"pool": "carbon", "serverset": ss, "reason": reason})
	if e.Level != zap.ErrorLevel {
		t.Errorf("emptied log at %s, want error", e.Level)
	}
	waitFor(t, func() string { return "/pools reason" }, func() bool {
		return getPools(t, r).Pools["carbon"].Reason == reason
	})
	if pm := getPools(t, r).Pools["carbon"]; len(pm.Members) != 0 {
		t.Errorf("/pools members %v, want none", pm.Members)
	}
}

// TestRingChangeLogsJoinedAndLeft: each rebuild names who joined and who
// left, with the source.
func TestRingChangeLogsJoinedAndLeft(t *testing.T) {
	a, b := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	r, logs := startLoggedRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", 1, a.addr))
	adminPost(t, r, "/carbon/addserver", url.Values{"server": {b.addr}})
	waitLog(t, logs, "ring rebuilt", map[string]string{"joined": "[" + b.addr + " (http)]", "left": "[]"})
	adminPost(t, r, "/carbon/purgeserver", url.Values{"server": {a.addr}})
	waitLog(t, logs, "ring rebuilt", map[string]string{"joined": "[]", "left": "[" + a.addr + " (static)]"})
}

// TestReplicationShortfallIsLoud: a pool with fewer members than its
// replication warns, exports the shortfall and shows it in /pools; it is
// cleared when the members come back.
func TestReplicationShortfallIsLoud(t *testing.T) {
	a, b := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	r, logs := startLoggedRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", 2, a.addr, b.addr))
	metric := func() float64 { return sumMetric(t, r, "ringrelay_pool_replication_shortfall", "pool=carbon") }
	if got := metric(); got != 0 {
		t.Fatalf("shortfall %v with both members, want 0", got)
	}
	adminPost(t, r, "/carbon/purgeserver", url.Values{"server": {b.addr}})
	w := waitLog(t, logs, "replication is above the live member count: lines get fewer copies",
		map[string]string{"pool": "carbon", "replication": "2", "members": "1", "missing_copies": "1"})
	if w.Level != zap.WarnLevel {
		t.Errorf("shortfall log at %s, want warn", w.Level)
	}
	if got := metric(); got != 1 {
		t.Errorf("ringrelay_pool_replication_shortfall = %v, want 1", got)
	}
	if got := getPools(t, r).Pools["carbon"].ReplicationShortfall; got != 1 {
		t.Errorf("/pools replication_shortfall = %d, want 1", got)
	}
	adminPost(t, r, "/carbon/addserver", url.Values{"server": {b.addr}})
	waitLog(t, logs, "replication restored", map[string]string{"pool": "carbon"})
	if got := metric(); got != 0 {
		t.Errorf("shortfall %v after the member came back, want 0", got)
	}
}

// TestOverlayVisibleClearableNotPinning: /pools shows what was added and
// purged over HTTP and when; adding back a purged static server undoes the
// purge without pinning it; DELETE /{pool}/overlay clears the rest.
func TestOverlayVisibleClearableNotPinning(t *testing.T) {
	a, b, h := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	r := startRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", 1, a.addr, b.addr))
	before := time.Now().Add(-time.Second)
	adminPost(t, r, "/carbon/purgeserver", url.Values{"server": {b.addr}})
	adminPost(t, r, "/carbon/addserver", url.Values{"server": {h.addr}})
	ov := getPools(t, r).Pools["carbon"].Overlay
	if len(ov.Purged) != 1 || ov.Purged[0].Server != b.addr || ov.Purged[0].At.Before(before) {
		t.Errorf("/pools overlay.purged = %+v, want %s with its time", ov.Purged, b.addr)
	}
	if len(ov.Added) != 1 || ov.Added[0].Server != h.addr || ov.Added[0].At.Before(before) {
		t.Errorf("/pools overlay.added = %+v, want %s with its time", ov.Added, h.addr)
	}

	// Undoing the purge restores b from its static source: not pinned.
	adminPost(t, r, "/carbon/addserver", url.Values{"server": {b.addr}})
	pm := getPools(t, r).Pools["carbon"]
	if len(pm.Overlay.Purged) != 0 || slices.ContainsFunc(pm.Overlay.Added, func(e OverlayEntryView) bool { return e.Server == b.addr }) {
		t.Errorf("after undoing the purge of %s: overlay %+v, want it in neither list", b.addr, pm.Overlay)
	}
	if !slices.Contains(pm.Members, MemberStatus{Server: b.addr, Source: "static"}) {
		t.Errorf("after undoing the purge: members %+v, want %s from static", pm.Members, b.addr)
	}

	adminPost(t, r, "/carbon/purgeserver", url.Values{"server": {a.addr}})
	req, _ := http.NewRequest(http.MethodDelete, "http://"+r.AdminAddr().String()+"/carbon/overlay", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE /carbon/overlay = %d", resp.StatusCode)
	}
	pm = getPools(t, r).Pools["carbon"]
	if len(pm.Overlay.Added)+len(pm.Overlay.Purged) != 0 {
		t.Errorf("after DELETE /carbon/overlay: overlay %+v, want empty", pm.Overlay)
	}
	want := []MemberStatus{{Server: a.addr, Source: "static"}, {Server: b.addr, Source: "static"}}
	if !slices.Equal(pm.Members, want) {
		t.Errorf("after DELETE /carbon/overlay: members %+v, want the static servers %+v", pm.Members, want)
	}
}

// memberServers is the members part of an add/purge answer (a pool's
// /pools entry), joined by spaces: the overlay part lists purged servers,
// which are no members.
func memberServers(t *testing.T, body string) string {
	t.Helper()
	var pm PoolMembers
	if err := json.Unmarshal([]byte(body), &pm); err != nil {
		t.Fatalf("answer is not a pool's members: %v\n%s", err, body)
	}
	var out []string
	for _, m := range pm.Members {
		out = append(out, m.Server)
	}
	return strings.Join(out, " ")
}
