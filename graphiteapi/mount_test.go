package graphiteapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// adminPatterns are the routes proxy's admin mux registers (proxy/admin.go);
// the API's Paths must mount beside them without a conflict (ServeMux
// panics on one) and without taking /metrics from Prometheus.
var adminPatterns = []string{
	"GET /metrics", "GET /stats", "GET /{pool}/stats", "GET /ops/status", "GET /{pool}/ops/status",
	"GET /hashcheck", "GET /pools", "POST /{pool}/addserver", "POST /{pool}/purgeserver",
	"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile", "/debug/pprof/symbol", "/debug/pprof/trace",
}

func TestPathsMountOnTheAdminMux(t *testing.T) {
	e := newTestEnv(t)
	e.putCPU()
	mux := http.NewServeMux()
	for _, p := range adminPatterns {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "admin "+p) })
	}
	for _, p := range e.api.Paths() {
		mux.Handle(p, e.api)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/metrics", "admin GET /metrics"},
		{"GET", "/pool1/stats", "admin GET /{pool}/stats"},
		{"POST", "/pool1/addserver", "admin POST /{pool}/addserver"},
		{"GET", "/metrics/find?query=servers.*", `"id":"servers.web1"`},
		{"POST", "/metrics/find/?query=servers.*", `"id":"servers.web1"`},
		{"GET", "/metrics/expand?query=servers.*", `"results"`},
		{"GET", "/metrics/index.json", `"servers.web2.cpu"`},
		{"GET", "/render?target=servers.web2.cpu&format=json&from=-1min", `"target":"servers.web2.cpu"`},
		{"GET", "/render/?target=servers.web2.cpu&format=raw&from=-1min", "servers.web2.cpu,"},
		{"GET", "/version", Version},
		{"GET", "/functions", "{"},
		{"GET", "/tags/autoComplete/tags", "[]"},
		{"GET", "/cyanite/metrics?path=servers.web2.cpu&from=-1min", `"series":{"servers.web2.cpu"`},
		{"GET", "/cyanite/paths?query=servers.", `"path":"servers.web1"`},
		{"GET", "/cyanite/ping", "pong"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		code, _, body := readResponse(t, resp)
		if code != http.StatusOK || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s on the admin mux: %d %q, want 200 containing %q", tc.method, tc.path, code, body, tc.want)
		}
	}
}
