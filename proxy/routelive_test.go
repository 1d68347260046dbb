package proxy

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"ringrelay/internal/zktest"
)

// routeRelay builds a route-only relay (as `relay route` does) from TOML.
func routeRelay(t *testing.T, cfgText string) *Relay {
	t.Helper()
	cfg, err := LoadConfig([]byte(cfgText))
	if err != nil {
		t.Fatalf("config refused: %v\n%s", err, cfgText)
	}
	cfg.Admin.Listen = ""
	r, err := New(Options{Config: cfg, NoBackends: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return r
}

// routeKeys routes keys through r and checks each goes where the ring
// over servers (hasher fnv1a_ch) puts it.
func routeKeys(t *testing.T, r *Relay, o RouteOptions, servers []string) {
	t.Helper()
	var in, want strings.Builder
	for i := range 100 {
		key := fmt.Sprintf("live.host-%03d.cpu", i)
		in.WriteString(key + "\n")
		fmt.Fprintf(&want, "%s\t%s\n", key, strings.Join(expected(t, zkHasher, 1, servers, key), ","))
	}
	var out, errOut strings.Builder
	if err := r.Route(o, strings.NewReader(in.String()), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if errOut.Len() > 0 {
		t.Errorf("route refused lines: %s", errOut.String())
	}
	if out.String() != want.String() {
		t.Errorf("route over %v:\n got %.400s\nwant %.400s", servers, out.String(), want.String())
	}
}

// TestRouteOnAdminMembers: `relay route -admin URL` routes on the members
// a running relay reports (here its static server plus one added over
// HTTP), not on the config's servers, and says so.
func TestRouteOnAdminMembers(t *testing.T) {
	a, b := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	cfg := adminAndListener + poolTOML("carbon", zkHasher, 1, a.addr)
	live := startRelay(t, cfg)
	adminPost(t, live, "/carbon/addserver", url.Values{"server": {b.addr}})

	r := routeRelay(t, cfg)
	admin := "http://" + live.AdminAddr().String()
	report, err := r.UseLiveMembers(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(report) < 2 || !strings.Contains(report[0], "relay at "+admin) || report[1] != "pool carbon: 2 members (1 static, 1 http)" {
		t.Errorf("report %q, want the relay it asked and the pool's members by source", report)
	}
	routeKeys(t, r, RouteOptions{Pool: "carbon"}, []string{a.addr, b.addr})

	if _, err := routeRelay(t, cfg).UseLiveMembers(context.Background(), "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1/pools") {
		t.Errorf("unreachable admin: err = %v, want one naming the URL", err)
	}
}

// TestRouteOnServerset: with [zookeeper] set, `relay route` reads each
// serverset once and routes on its members, not on the static fallback.
func TestRouteOnServerset(t *testing.T) {
	zks := zktest.Start(t)
	s0, a, b := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	const ss = "/discovery/test/route"
	conn := zktest.Client(t, zks.Addr(), 10*time.Second)
	register(t, conn, ss, a)
	register(t, conn, ss, b)
	r := routeRelay(t, zkRelayConfig(zks.Addr(), ss, zkDebounce, s0.addr))
	report, err := r.UseLiveMembers(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(report) < 2 || !strings.Contains(report[0], "zookeeper "+zks.Addr()) || report[1] != "pool carbon: 2 members (2 zookeeper)" {
		t.Errorf("report %q, want zookeeper and the pool's serverset members", report)
	}
	routeKeys(t, r, RouteOptions{Pool: "carbon"}, addrsOf(a, b))
}

// TestRouteThroughListenerRules: with a listener, `relay route` applies its
// rules: a rejected line is reported, a line a rule sends to another pool
// or to an aggregator says where it went.
func TestRouteThroughListenerRules(t *testing.T) {
	cfg := adminAndListener + `
[[rules]]
listener = "in"
match = "^drop\\."
reject = true

[[rules]]
listener = "in"
match = "^other\\."
pool = "other"

[[rules]]
listener = "in"
match = "^agg\\."
aggregator = "sums"

[aggregators.sums]
kind = "graphite"
output = ["carbon"]
` + poolTOML("carbon", "carbon_ch", 1, "10.0.0.1:2003") + poolTOML("other", "carbon_ch", 1, "10.0.0.2:2003")
	r := routeRelay(t, cfg)
	var out, errOut strings.Builder
	in := "a.b.c\nother.x\nagg.y\ndrop.z\n"
	if err := r.Route(RouteOptions{Listener: "in"}, strings.NewReader(in), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	want := "a.b.c\t10.0.0.1:2003\tpool=carbon\nother.x\t10.0.0.2:2003\tpool=other\nagg.y\t-\taggregator=sums\n"
	if out.String() != want {
		t.Errorf("route -listener in:\n got %q\nwant %q", out.String(), want)
	}
	if !strings.Contains(errOut.String(), `"drop.z 1 0": rejected by a rule of listener "in"`) {
		t.Errorf("errors %q, want drop.z rejected", errOut.String())
	}
	if err := r.Route(RouteOptions{Listener: "nope"}, strings.NewReader(in), &out, &errOut); err == nil || !strings.Contains(err.Error(), `unknown listener "nope"`) {
		t.Errorf("unknown listener: err = %v", err)
	}
}
