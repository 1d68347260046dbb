package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"ringrelay/proxy"
)

// TestRouteSaysWhichMembership: `relay route` says on stderr which
// membership it routes on; with -admin it routes on a running relay's live
// members (here one purged over HTTP no longer gets keys).
func TestRouteSaysWhichMembership(t *testing.T) {
	path := writeConfig(t, goodConfig)
	code, out, errs := runArgs(t, "a.b.c\n", "route", "-config", path, "-pool", "carbon")
	if code != 0 || !strings.Contains(errs, "relay route: routing on the servers in the config") {
		t.Fatalf("code %d, stderr %q; want it to say it routes on the config's servers", code, errs)
	}
	if !strings.Contains(out, "127.0.2.") {
		t.Fatalf("route printed %q", out)
	}

	cfg, err := proxy.LoadConfig([]byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	live, err := proxy.New(proxy.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = live.Shutdown(ctx)
	})
	admin := "http://" + live.AdminAddr().String()
	resp, err := http.PostForm(admin+"/carbon/purgeserver", url.Values{"server": {"127.0.2.2:2003"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("purgeserver = %d", resp.StatusCode)
	}
	keys := "a.b.c\nfoo.bar\nx.y.z\nservers.web-001.cpu\n"
	code, out, errs = runArgs(t, keys, "route", "-config", path, "-pool", "carbon", "-admin", admin)
	if code != 0 || !strings.Contains(errs, "relay route: routing on the live members that the relay at "+admin+" reports") ||
		!strings.Contains(errs, "relay route: pool carbon: 2 members (2 static)") {
		t.Fatalf("-admin: code %d, stderr %q; want it to name the relay and the pool's members", code, errs)
	}
	if strings.Count(out, "\n") != 4 || strings.Contains(out, "127.0.2.2:2003") {
		t.Errorf("-admin: route printed %q; want 4 lines, none to the purged 127.0.2.2:2003", out)
	}
}
