package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"ringrelay/discovery"
)

// TestAddServerRefusesMembersTheRingRefuses: /addserver with a member the
// pool's ring cannot take (carbon's fnv1a_ch needs an instance; two members
// with one carbon identity) answers 400 with the reason and leaves the
// membership alone. Accepted, it would sit in the HTTP overlay and make every
// later rebuild fail, freezing the ring on whatever it was.
func TestAddServerRefusesMembersTheRingRefuses(t *testing.T) {
	a := startSink(t, "127.0.0.1:0")
	b := startSink(t, "127.0.0.1:0")
	cfg := adminAndListener + poolTOML("carbon", "fnv1a_ch", 1, a.addr+"=a", b.addr+"=b") + "compat = \"carbon\"\n"
	r := startRelay(t, cfg)
	base := "http://" + r.AdminAddr().String()
	p := r.Pool("carbon")
	for _, tc := range []struct {
		form     url.Values
		wantBody string
	}{
		{url.Values{"server": {"127.0.0.1:9"}}, "instance"},
		{url.Values{"server": {"127.0.0.1:9=a"}}, "same identity"},
	} {
		resp, err := http.PostForm(base+"/carbon/addserver", tc.form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.wantBody) {
			t.Errorf("addserver %v = %d %s, want 400 mentioning %q", tc.form, resp.StatusCode, body, tc.wantBody)
		}
		if n := len(p.Membership().Snapshot().Members); n != 2 {
			t.Errorf("after addserver %v the membership has %d members, want the 2 it had", tc.form, n)
		}
	}
	// The pool still follows membership changes.
	srvB, _ := discovery.ParseServer(b.addr + "=b")
	p.Membership().Purge(srvB)
	if got := len(p.state.Load().servers); got != 1 {
		t.Errorf("after purging b the ring has %d members, want 1 (rebuilds must still work)", got)
	}
}

// adminTest is a running relay with an [admin] section of its own, the
// address of its admin API and its logs.
type adminTest struct {
	r    *Relay
	cfg  Config
	base string
	logs *observer.ObservedLogs
}

// startAdminRelay starts a relay on loopback whose [admin] section has
// extra keys; tweak, when not nil, changes the loaded config (the
// unexported knobs). It returns once the admin API accepts.
func startAdminRelay(t *testing.T, extra string, tweak func(*Config)) *adminTest {
	t.Helper()
	s := startSink(t, "127.0.0.1:0")
	text := strings.Replace(adminAndListener, "[admin]\n", "[admin]\n"+extra, 1) + poolTOML("carbon", "carbon_ch", 1, s.addr+"=a")
	cfg := mustLoad(t, text)
	if tweak != nil {
		tweak(&cfg)
	}
	core, logs := observer.New(zap.InfoLevel)
	r := runRelay(t, Options{Config: cfg, Logger: zap.New(core)})
	return &adminTest{r: r, cfg: cfg, base: "http://" + r.AdminAddr().String(), logs: logs}
}

// adminCall is one request: form is the POST body, hdr "Name: value"
// lines (Host among them).
type adminCall struct {
	method, path, form string
	hdr                []string
}

func (c adminCall) String() string {
	return fmt.Sprintf("%s %s body %q headers %q", c.method, c.path, c.form, c.hdr)
}

func (c adminCall) do(t *testing.T, base string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.form))
	if err != nil {
		t.Fatal(err)
	}
	if c.form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range c.hdr {
		k, v, _ := strings.Cut(h, ": ")
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func TestAdminToken(t *testing.T) {
	at := startAdminRelay(t, "token = \"s3cret-token\"\npprof = true\n", nil)
	const good, wrong = "Authorization: Bearer s3cret-token", "Authorization: Bearer s3cret-tokeN"
	add, purge := "server=127.0.0.1:9%3Dx", "server=127.0.0.1:9"
	for _, tc := range []struct {
		call     adminCall
		code     int // 0: any but 401 and 403
		wantBody string
	}{
		{adminCall{"POST", "/carbon/addserver", add, nil}, 401, "missing Authorization: Bearer"},
		{adminCall{"POST", "/carbon/addserver", add, []string{"Authorization: Basic czNjcmV0LXRva2Vu"}}, 401, "missing Authorization: Bearer"},
		{adminCall{"POST", "/carbon/addserver", add, []string{"Authorization: Bearer"}}, 401, "missing Authorization: Bearer"},
		{adminCall{"POST", "/carbon/addserver", add, []string{wrong}}, 403, "wrong bearer token"},
		{adminCall{"POST", "/carbon/addserver", add, []string{"Authorization: Bearer s3cret"}}, 403, "wrong bearer token"},
		{adminCall{"POST", "/carbon/addserver", add, []string{good}}, 200, `"source": "http"`},
		{adminCall{"POST", "/carbon/purgeserver", purge, nil}, 401, "missing Authorization: Bearer"},
		{adminCall{"POST", "/carbon/purgeserver", purge, []string{wrong}}, 403, "wrong bearer token"},
		{adminCall{"POST", "/carbon/purgeserver", purge, []string{"Authorization: bearer s3cret-token"}}, 200, `"members"`},
		{adminCall{"DELETE", "/carbon/addserver", "", nil}, 401, "missing Authorization: Bearer"},
		{adminCall{"GET", "/debug/pprof/", "", nil}, 401, "missing Authorization: Bearer"},
		{adminCall{"GET", "/debug/pprof/cmdline", "", []string{wrong}}, 403, "wrong bearer token"},
		{adminCall{"GET", "/debug/pprof/", "", []string{good}}, 200, "goroutine"},
		{adminCall{"POST", "/debug/pprof/symbol", "", []string{good}}, 200, "num_symbols"},
		{adminCall{"GET", "/metrics", "", nil}, 200, `ringrelay_admin_errors_total{kind="missing_token"}`},
		{adminCall{"GET", "/stats", "", nil}, 200, `"carbon"`},
		{adminCall{"GET", "/pools", "", nil}, 200, `"members"`},
		{adminCall{"GET", "/hashcheck?key=a.b", "", nil}, 200, `"servers"`},
		{adminCall{"GET", "/ops/status", "", nil}, 0, `"pools"`},
	} {
		code, hdr, body := tc.call.do(t, at.base)
		if tc.code == 0 && (code == 401 || code == 403) || tc.code != 0 && code != tc.code || !strings.Contains(body, tc.wantBody) {
			t.Errorf("%v = %d %.200s; want %d containing %q", tc.call, code, body, tc.code, tc.wantBody)
		}
		if auth := hdr.Get("WWW-Authenticate"); (code == 401) != strings.HasPrefix(auth, "Bearer") {
			t.Errorf("%v = %d with WWW-Authenticate %q; want Bearer on 401 only", tc.call, code, auth)
		}
	}
	if n := len(at.r.Pool("carbon").Membership().Snapshot().Members); n != 1 {
		t.Errorf("after one authorised add and purge the pool has %d members, want 1", n)
	}
	m := at.r.metrics.admin
	for _, c := range []struct {
		kind string
		got  float64
		want float64
	}{{"missing_token", counterValue(m.missingToken), 6}, {"wrong_token", counterValue(m.wrongToken), 4}} {
		if c.got != c.want {
			t.Errorf("ringrelay_admin_errors_total{kind=%q} = %v, want %v", c.kind, c.got, c.want)
		}
	}
	if n := at.logs.FilterMessage("admin request refused").Len(); n != 10 {
		t.Errorf("%d refusals logged, want 10", n)
	}
}

// TestAdminRefusesCrossOriginAndRebinding: a page in a browser on the
// relay's host may send a form to the admin (CSRF) or make its own name
// resolve to it (DNS rebinding); both are refused, whatever the token.
func TestAdminRefusesCrossOriginAndRebinding(t *testing.T) {
	at := startAdminRelay(t, "allowed_hosts = [\"relay.internal\"]\npprof = true\n", nil)
	hostport := strings.TrimPrefix(at.base, "http://")
	_, port, _ := net.SplitHostPort(hostport)
	refused := func(i int) string { return fmt.Sprintf("server=127.0.0.1:%d%%3Dr", 1000+i) }
	allowed := func(i int) string { return fmt.Sprintf("server=127.0.0.1:%d%%3Dg%d", 2000+i, i) }
	for _, tc := range []struct {
		call     adminCall
		code     int
		wantBody string
	}{
		// CSRF: a form posted by another origin.
		{adminCall{"POST", "/carbon/addserver", refused(1), []string{"Origin: http://evil.example"}}, 403, "cross-origin"},
		{adminCall{"POST", "/carbon/addserver", refused(2), []string{"Sec-Fetch-Site: cross-site", "Origin: http://evil.example"}}, 403, "cross-origin"},
		{adminCall{"POST", "/carbon/addserver", refused(3), []string{"Sec-Fetch-Site: same-site"}}, 403, "cross-origin"},
		{adminCall{"POST", "/carbon/addserver", refused(4), []string{"Origin: null"}}, 403, "cross-origin"},
		{adminCall{"POST", "/carbon/purgeserver", "server=" + hostport, []string{"Origin: http://evil.example"}}, 403, "cross-origin"},
		// DNS rebinding: same-origin for the browser, but the Host is the page's name.
		{adminCall{"POST", "/carbon/addserver", refused(5), []string{"Host: evil.example"}}, 403, "DNS rebinding"},
		{adminCall{"POST", "/carbon/addserver", refused(6), []string{"Host: evil.example:" + port, "Origin: http://evil.example:" + port, "Sec-Fetch-Site: same-origin"}}, 403, "DNS rebinding"},
		{adminCall{"POST", "/carbon/addserver", refused(7), []string{"Host: 127.0.0.1.evil.example:" + port}}, 403, "DNS rebinding"},
		{adminCall{"GET", "/debug/pprof/", "", []string{"Host: evil.example:" + port}}, 403, "DNS rebinding"},
		// The form comes in the body, never in the URL.
		{adminCall{"POST", "/carbon/addserver?" + refused(8), "", nil}, 400, "query string refused (server)"},
		{adminCall{"POST", "/carbon/addserver?instance=x", allowed(0), nil}, 400, "query string refused (instance)"},
		{adminCall{"POST", "/carbon/addserver", "", nil}, 400, "missing form field server"},
		// What the operator's own tools send.
		{adminCall{"POST", "/carbon/addserver", allowed(1), []string{"Origin: http://" + hostport}}, 200, `"source": "http"`},
		{adminCall{"POST", "/carbon/addserver", allowed(2), []string{"Sec-Fetch-Site: same-origin", "Origin: http://" + hostport}}, 200, `"source": "http"`},
		{adminCall{"POST", "/carbon/addserver", allowed(3), []string{"Host: localhost:" + port}}, 200, `"source": "http"`},
		{adminCall{"POST", "/carbon/addserver", allowed(4), []string{"Host: Relay.Internal:" + port}}, 200, `"source": "http"`},
		{adminCall{"POST", "/carbon/addserver", allowed(5), []string{"Host: [::1]:" + port}}, 200, `"source": "http"`},
		{adminCall{"GET", "/debug/pprof/", "", []string{"Host: localhost:" + port}}, 200, "goroutine"},
		// Reads stay open to any Host (Prometheus scrapes by name).
		{adminCall{"GET", "/stats", "", []string{"Host: scrape.example:" + port}}, 200, `"carbon"`},
	} {
		code, _, body := tc.call.do(t, at.base)
		if code != tc.code || !strings.Contains(body, tc.wantBody) {
			t.Errorf("%v = %d %.300s; want %d containing %q", tc.call, code, body, tc.code, tc.wantBody)
		}
	}
	var got []string
	for _, m := range at.r.Pool("carbon").Membership().Snapshot().Members {
		got = append(got, m.Display())
	}
	if len(got) != 6 || strings.Contains(strings.Join(got, " "), ":10") {
		t.Errorf("members after the requests: %q; want the static one and the 5 allowed adds, none refused", got)
	}
	m := at.r.metrics.admin
	if c, h, q := counterValue(m.crossOrigin), counterValue(m.badHost), counterValue(m.queryForm); c != 5 || h != 4 || q != 2 {
		t.Errorf("refusals counted: cross_origin %v, bad_host %v, query_form %v; want 5, 4, 2", c, h, q)
	}
}

func TestAdminPprofOffByDefault(t *testing.T) {
	at := startAdminRelay(t, "token = \"s3cret-token\"\n", nil)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1"} {
		for _, hdr := range [][]string{nil, {"Authorization: Bearer s3cret-token"}} {
			call := adminCall{"GET", path, "", hdr}
			if code, _, body := call.do(t, at.base); code != 404 {
				t.Errorf("%v = %d %.100s; want 404 (pprof = false)", call, code, body)
			}
		}
	}
}

// TestAdminMetricsListen: metrics_listen serves scrapes and health checks,
// nothing else, and is bound and closed by start, reload and shutdown.
func TestAdminMetricsListen(t *testing.T) {
	at := startAdminRelay(t, "metrics_listen = \"127.0.0.1:0\"\npprof = true\n", nil)
	addr := at.r.MetricsAddr()
	if addr == nil {
		t.Fatal("MetricsAddr() = nil with metrics_listen set")
	}
	checkMetricsOnly(t, "http://"+addr.String())

	// Reload without it: closed. With another address: bound there.
	cfg := at.cfg
	cfg.Admin.MetricsListen = ""
	if _, err := at.r.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if a := at.r.MetricsAddr(); a != nil {
		t.Errorf("MetricsAddr() = %v after a reload without metrics_listen, want nil", a)
	}
	if c, err := net.Dial("tcp", addr.String()); err == nil {
		c.Close()
		t.Errorf("%v still accepts after a reload without metrics_listen", addr)
	}
	cfg.Admin.MetricsListen = "127.0.0.1:0"
	changes, err := at.r.Reload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if at.r.MetricsAddr() == nil || !slices.ContainsFunc(changes, func(c string) bool { return strings.Contains(c, "metrics_listen") }) {
		t.Fatalf("reload with metrics_listen: MetricsAddr() = %v, changes %q", at.r.MetricsAddr(), changes)
	}
	checkMetricsOnly(t, "http://"+at.r.MetricsAddr().String())
	addr = at.r.MetricsAddr()
	if err := at.r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr.String()); err == nil {
		c.Close()
		t.Errorf("%v still accepts after Shutdown", addr)
	}
}

func checkMetricsOnly(t *testing.T, base string) {
	t.Helper()
	for _, tc := range []struct {
		call     adminCall
		code     int // 0: 200 or 503
		wantBody string
	}{
		{adminCall{"GET", "/metrics", "", nil}, 200, "ringrelay_listener_lines_received_total"},
		{adminCall{"GET", "/ops/status", "", nil}, 0, `"carbon"`},
		{adminCall{"GET", "/carbon/ops/status", "", nil}, 0, `"carbon"`},
		{adminCall{"POST", "/carbon/addserver", "server=127.0.0.1:9%3Dx", nil}, 404, ""},
		{adminCall{"POST", "/carbon/purgeserver", "server=127.0.0.1:9", nil}, 404, ""},
		{adminCall{"GET", "/stats", "", nil}, 404, ""},
		{adminCall{"GET", "/pools", "", nil}, 404, ""},
		{adminCall{"GET", "/debug/pprof/", "", nil}, 404, ""},
	} {
		code, _, body := tc.call.do(t, base)
		if (tc.code == 0 && code != 200 && code != 503) || (tc.code != 0 && code != tc.code) || !strings.Contains(body, tc.wantBody) {
			t.Errorf("metrics_listen: %v = %d %.200s; want %d containing %q", tc.call, code, body, tc.code, tc.wantBody)
		}
	}
}

// TestAdminTokenFile: the file is read (and trimmed) at start and again
// at each reload; a reload whose file is gone is refused and the running
// token stays.
func TestAdminTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("  tok-one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := startAdminRelay(t, fmt.Sprintf("token_file = %q\npprof = true\n", path), nil)
	check := func(when, tok string, want int) {
		t.Helper()
		call := adminCall{"GET", "/debug/pprof/cmdline", "", []string{"Authorization: Bearer " + tok}}
		if code, _, body := call.do(t, at.base); code != want {
			t.Errorf("%s: token %q = %d %.100s, want %d", when, tok, code, body, want)
		}
	}
	check("start", "tok-one", 200)
	if err := os.WriteFile(path, []byte("tok-two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("file changed, no reload", "tok-one", 200)
	if _, err := at.r.Reload(at.cfg); err != nil {
		t.Fatal(err)
	}
	check("reloaded", "tok-two", 200)
	check("reloaded", "tok-one", 403)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := at.r.Reload(at.cfg); err == nil || !strings.Contains(err.Error(), "admin.token_file") {
		t.Errorf("reload with the token file gone: err %v, want one naming admin.token_file", err)
	}
	check("refused reload", "tok-two", 200)
}

func TestAdminConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "\n[[listeners]]\nname = \"in\"\nlisten = \"tcp://127.0.0.1:0\"\npool = \"carbon\"\n\n[pools.carbon]\nservers = [\"127.0.0.1:2003\"]\n"
	admin := "[admin]\nlisten = \"127.0.0.1:6061\"\n"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"token and token_file", admin + "token = \"a\"\ntoken_file = \"/etc/passwd\"\n", []string{"line 4", "admin.token_file", "admin.token and admin.token_file"}},
		{"token_file missing", admin + "token_file = \"/nonexistent/token\"\n", []string{"line 3", "admin.token_file", "/nonexistent/token"}},
		{"token_file empty", admin + fmt.Sprintf("token_file = %q\n", empty), []string{"admin.token_file", "empty"}},
		{"token with a space", admin + "token = \"a b\"\n", []string{"line 3", "admin.token", "white space"}},
		{"allowed_hosts with a port", admin + "allowed_hosts = [\"relay.example:6061\"]\n", []string{"line 3", "admin.allowed_hosts", "relay.example:6061"}},
		{"allowed_hosts wildcard", admin + "allowed_hosts = [\"*\"]\n", []string{"admin.allowed_hosts", "wildcard"}},
		{"metrics_listen without port", admin + "metrics_listen = \"127.0.0.1\"\n", []string{"line 3", "admin.metrics_listen"}},
		{"metrics_listen on listen", admin + "metrics_listen = \"127.0.0.1:6061\"\n", []string{"admin.metrics_listen", "own"}},
	} {
		_, err := LoadConfig([]byte(tc.doc + base))
		if err == nil {
			t.Errorf("%s: config accepted:\n%s", tc.name, tc.doc)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
	}
}

// TestAdminClosesSlowClients: a client that trickles its headers (or its
// body) one byte a second is cut off by ReadHeaderTimeout (ReadTimeout),
// however long it would go on.
func TestAdminClosesSlowClients(t *testing.T) {
	const readHeader, read = 1500 * time.Millisecond, 2500 * time.Millisecond
	at := startAdminRelay(t, "", func(c *Config) {
		c.Admin.readHeaderTimeout, c.Admin.readTimeout = readHeader, read
	})
	addr := strings.TrimPrefix(at.base, "http://")
	head := "POST /carbon/addserver HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
	for _, tc := range []struct {
		name         string
		atOnce, slow string // sent at once, then one byte a second
		closedWithin time.Duration
	}{
		{"headers one byte a second", "", head, readHeader},
		{"body one byte a second", head, strings.Repeat("x", 100), read},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.atOnce); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the slow client: never done before the server's timeout
				defer wg.Done()
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for i := 0; i < len(tc.slow); i++ {
					if _, err := io.WriteString(c, tc.slow[i:i+1]); err != nil {
						return
					}
					select {
					case <-tick.C:
					case <-done:
						return
					}
				}
				t.Errorf("the client sent all of %q before the server closed the connection", tc.slow)
			}()
			defer wg.Wait()
			defer close(done)
			// Wait for the server to close: EOF (or a reset), not our deadline.
			_ = c.SetReadDeadline(time.Now().Add(tc.closedWithin + 5*time.Second))
			resp, err := io.ReadAll(c)
			took := time.Since(start)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection still open after %v (timeout %v)", took, tc.closedWithin)
			}
			if took < tc.closedWithin-100*time.Millisecond || took > tc.closedWithin+1500*time.Millisecond {
				t.Errorf("closed after %v, want about %v", took, tc.closedWithin)
			}
			if strings.HasPrefix(string(resp), "HTTP/1.1 200") {
				t.Errorf("a request cut off by the timeout was answered %q", resp)
			}
		})
	}
}

// TestAdminErrorLog: what net/http logs about the admin server goes to the
// relay's logger and is counted by kind.
func TestAdminErrorLog(t *testing.T) {
	at := startAdminRelay(t, "", nil)
	m := at.r.metrics.admin
	for _, tc := range []struct {
		line string
		c    prometheus.Counter
		kind string
	}{
		{"http: Accept error: accept tcp 127.0.0.1:6061: accept4: too many open files; retrying in 5ms", m.accept, "accept"},
		{"http: superfluous response.WriteHeader call from x (y.go:1)", m.http, "http"},
	} {
		before := counterValue(tc.c)
		at.r.admin.srv.ErrorLog.Print(tc.line)
		if got := counterValue(tc.c); got != before+1 {
			t.Errorf("after %q ringrelay_admin_errors_total{kind=%q} = %v, want %v", tc.line, tc.kind, got, before+1)
		}
		if n := at.logs.FilterMessage(tc.line).FilterField(zap.String("kind", tc.kind)).Len(); n != 1 {
			t.Errorf("%q logged %d times with kind %q, want once", tc.line, n, tc.kind)
		}
	}
}
