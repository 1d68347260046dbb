package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"ringrelay/discovery"
	"ringrelay/hashring"
)

// TestRouteAndHashcheckWorkWithEveryHasher runs `relay route` and
// /hashcheck over every hasher × compat and checks both against the ring
// built directly from hashring.
func TestRouteAndHashcheckWorkWithEveryHasher(t *testing.T) {
	servers := []string{"127.0.2.1:2003=1", "127.0.2.2:2003=2", "127.0.2.3:2003=3"}
	keys := []string{"a.b.c", "servers.web-01.cpu.user", "stats.counters.x", "é.unicode"}
	for _, hasher := range hashring.Hashers() {
		for _, compat := range hashring.Compats(hasher) {
			t.Run(hasher+"/"+compat, func(t *testing.T) {
				cfgText := adminAndListener + poolTOML("carbon", hasher, 1, servers...) + fmt.Sprintf("compat = %q\n", compat)
				cfg, err := LoadConfig([]byte(cfgText))
				if err != nil {
					t.Fatal(err)
				}
				r, err := New(Options{Config: cfg, NoBackends: true})
				if err != nil {
					t.Fatal(err)
				}
				var members []hashring.Member
				for _, s := range servers {
					srv, _ := discovery.ParseServer(s)
					members = append(members, hashring.Member{Host: srv.Host, Port: srv.Port, Instance: srv.Instance})
				}
				ring, err := hashring.New(hashring.Config{Hasher: hasher, Compat: compat}, members)
				if err != nil {
					t.Fatal(err)
				}
				var out, errOut strings.Builder
				if err := r.RouteTest("carbon", "graphite", strings.NewReader(strings.Join(keys, "\n")), &out, &errOut); err != nil {
					t.Fatal(err)
				}
				var want strings.Builder
				for _, k := range keys {
					fmt.Fprintf(&want, "%s\t%s\n", k, servers[ring.Lookup([]byte(k), nil)[0]])
				}
				if out.String() != want.String() {
					t.Errorf("route:\n%s\nwant:\n%s\nstderr: %s", out.String(), want.String(), errOut.String())
				}
				srv := httptest.NewServer(r.adminHandler())
				defer srv.Close()
				resp, err := http.Get(srv.URL + "/hashcheck?key=" + url.QueryEscape(keys[1]))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var hc struct {
					Pools map[string]HashcheckResult `json:"pools"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&hc); err != nil {
					t.Fatal(err)
				}
				got := hc.Pools["carbon"]
				wantSrv := servers[ring.Lookup([]byte(keys[1]), nil)[0]]
				if got.Hasher != hasher || got.Hash != ring.Hash([]byte(keys[1])) || len(got.Servers) != 1 || got.Servers[0] != wantSrv {
					t.Errorf("/hashcheck = %+v, want hasher %s, hash %d, servers [%s]", got, hasher, ring.Hash([]byte(keys[1])), wantSrv)
				}
			})
		}
	}
}

// TestCCRNamesRoutesAndForwardsAsTheDaemon checks the opt-in carbon-c-relay
// name rewriting end to end: the rewritten name is what is hashed and what
// is forwarded.
func TestCCRNamesRoutesAndForwardsAsTheDaemon(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	r := startRelay(t, adminAndListener+"ccr_names = true\n"+poolTOML("carbon", "carbon_ch", 1, s.addr))
	c := dial(t, "tcp", r.ListenerAddr("in"))
	send(t, c, "a..b$c  1 1\n")
	got := s.waitLines(t, 1)
	if len(got) != 1 || got[0] != "a.b_c 1 1" {
		t.Errorf("forwarded %s, want [a.b_c 1 1]", quoteList(got))
	}
}
