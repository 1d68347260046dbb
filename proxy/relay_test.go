package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"ringrelay/discovery"
	"ringrelay/hashring"
	"ringrelay/internal/testnet"
)

// sink is a loopback TCP server that records every line it receives.
type sink struct {
	t    testing.TB
	ln   net.Listener
	addr string

	mu    sync.Mutex
	lines []string
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// startSink listens on addr ("127.0.0.1:0" for a free port) and returns once
// it accepts.
func startSink(t testing.TB, addr string) *sink {
	t.Helper()
	releaseHeld(addr)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("sink listen %s: %v", addr, err)
	}
	s := &sink{t: t, ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { releaseHeld(s.addr) }) // after s.stop below
	t.Cleanup(s.stop)
	return s
}

// heldPorts are the ports of stopped sinks, held (testnet.HoldPort) so
// that no test process running in parallel takes a "dead" backend's port,
// until a sink listens there again or the test ends.
var heldPorts = struct {
	sync.Mutex
	release map[string]func()
}{release: map[string]func(){}}

func holdPort(addr string) {
	heldPorts.Lock()
	defer heldPorts.Unlock()
	if heldPorts.release[addr] == nil {
		heldPorts.release[addr] = testnet.HoldPort("tcp", addr)
	}
}

func releaseHeld(addr string) {
	heldPorts.Lock()
	defer heldPorts.Unlock()
	if rel := heldPorts.release[addr]; rel != nil {
		rel()
		delete(heldPorts.release, addr)
	}
}

func (s *sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sc := bufio.NewScanner(c)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				s.mu.Lock()
				s.lines = append(s.lines, sc.Text())
				s.mu.Unlock()
			}
		}()
	}
}

// stop closes the listener and every connection (a "killed" backend).
func (s *sink) stop() {
	if s.ln.Close() == nil {
		holdPort(s.addr)
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// waitLines polls until the sink holds n lines or the deadline passes.
func (s *sink) waitLines(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.got()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startRelay builds and starts a relay from TOML text, with admin on a free
// port, and stops it at the end of the test.
func startRelay(t testing.TB, cfgText string) *Relay {
	t.Helper()
	return runRelay(t, Options{Config: mustLoad(t, cfgText)})
}

// mustLoad loads TOML text as a config, failing the test if it is refused.
func mustLoad(t testing.TB, cfgText string) Config {
	t.Helper()
	cfg, err := LoadConfig([]byte(cfgText))
	if err != nil {
		t.Fatalf("config refused: %v\n%s", err, cfgText)
	}
	return cfg
}

// runRelay builds and starts a relay with opts and stops it at the end of
// the test.
func runRelay(t testing.TB, opts Options) *Relay {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := r.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return r
}

func dial(t testing.TB, network string, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr.String())
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t testing.TB, c net.Conn, text string) {
	t.Helper()
	if _, err := io.WriteString(c, text); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func quoteList(ss []string) string { return "[" + strings.Join(ss, " | ") + "]" }

// poolTOML renders a pool section with the given servers.
func poolTOML(name, hasher string, replication int, servers ...string) string {
	q := make([]string, len(servers))
	for i, s := range servers {
		q[i] = fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("[pools.%s]\nhasher = %q\nreplication = %d\nservers = [%s]\nflush_interval = \"5ms\"\nreconnect_min = \"10ms\"\nreconnect_max = \"50ms\"\n",
		name, hasher, replication, strings.Join(q, ", "))
}

const adminAndListener = `
[admin]
listen = "127.0.0.1:0"

[[listeners]]
name = "in"
listen = "tcp://127.0.0.1:0"
format = "graphite"
pool = "carbon"
`

// expected computes, independently of the relay's routing code, where each
// key must go: the same hashring the pool uses, over the same members.
func expected(t testing.TB, hasher string, replication int, servers []string, key string) []string {
	t.Helper()
	var members []hashring.Member
	for _, s := range servers {
		srv, err := discovery.ParseServer(s)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, hashring.Member{Host: srv.Host, Port: srv.Port, Instance: srv.Instance})
	}
	ring, err := hashring.New(hashring.Config{Hasher: hasher, Replication: replication}, members)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range ring.Lookup([]byte(key), nil) {
		out = append(out, servers[i])
	}
	return out
}

func TestLinesReachExactlyTheRingsBackends(t *testing.T) {
	for _, replication := range []int{1, 2} {
		t.Run(fmt.Sprintf("replication=%d", replication), func(t *testing.T) {
			sinks := make([]*sink, 4)
			servers := make([]string, 4)
			byServer := map[string]*sink{}
			for i := range sinks {
				sinks[i] = startSink(t, "127.0.0.1:0")
				servers[i] = sinks[i].addr
				if i%2 == 0 {
					servers[i] += fmt.Sprintf("=inst%d", i)
				}
				byServer[servers[i]] = sinks[i]
			}
			r := startRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", replication, servers...))
			c := dial(t, "tcp", r.ListenerAddr("in"))
			const n = 400
			want := map[string][]string{} // server -> lines
			var b strings.Builder
			for i := 0; i < n; i++ {
				key := fmt.Sprintf("servers.host-%03d.cpu.user", i)
				ln := fmt.Sprintf("%s %d 1732236000", key, i)
				b.WriteString(ln + "\n")
				for _, s := range expected(t, "carbon_ch", replication, servers, key) {
					want[s] = append(want[s], ln)
				}
			}
			send(t, c, b.String())
			for _, s := range servers {
				got := byServer[s].waitLines(t, len(want[s]))
				if strings.Join(got, "\n") != strings.Join(want[s], "\n") {
					t.Errorf("backend %s got %d lines, want %d (in order)\n got: %.300s\nwant: %.300s", s, len(got), len(want[s]), quoteList(got), quoteList(want[s]))
				}
			}
			total := 0
			for _, s := range servers {
				total += len(byServer[s].got())
			}
			if total != n*replication {
				t.Errorf("backends received %d lines in all, want %d (n × replication)", total, n*replication)
			}
		})
	}
}

func TestKilledBackendQueuesAndDeliversOnReturn(t *testing.T) {
	a := startSink(t, "127.0.0.1:0")
	b := startSink(t, "127.0.0.1:0")
	// carbon_ch ignores the port: loopback members need instances.
	servers := []string{a.addr + "=a", b.addr + "=b"}
	r := startRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", 1, servers...))
	c := dial(t, "tcp", r.ListenerAddr("in"))

	// Find keys for each backend.
	var toA, toB []string
	for i := 0; (len(toA) < 50 || len(toB) < 50) && i < 10000; i++ {
		key := fmt.Sprintf("k.%d", i)
		if expected(t, "carbon_ch", 1, servers, key)[0] == servers[0] {
			toA = append(toA, key+" 1 1")
		} else {
			toB = append(toB, key+" 1 1")
		}
	}
	if len(toA) < 50 || len(toB) < 50 {
		t.Fatalf("ring sends %d/%d of 10000 keys to the two members", len(toA), len(toB))
	}
	toA, toB = toA[:50], toB[:50]
	send(t, c, toA[0]+"\n")
	a.waitLines(t, 1)
	a.stop() // killed

	send(t, c, strings.Join(toA[1:], "\n")+"\n"+strings.Join(toB, "\n")+"\n")
	if got := b.waitLines(t, 50); len(got) != 50 {
		t.Fatalf("healthy backend got %d lines while the other was down, want 50", len(got))
	}
	back := startSink(t, a.addr) // returns on the same port
	got := back.waitLines(t, 49)
	if strings.Join(got, "\n") != strings.Join(toA[1:], "\n") {
		t.Errorf("returned backend got %d lines %.200s, want the 49 queued lines in order", len(got), quoteList(got))
	}
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	// Nothing listens on the backend's port: every line queues.
	dead := startSink(t, "127.0.0.1:0")
	dead.stop()
	cfg := adminAndListener + poolTOML("carbon", "carbon_ch", 1, dead.addr) + "queue_bytes = \"64KiB\"\nbatch_bytes = \"16KiB\"\n"
	r := startRelay(t, cfg)
	c := dial(t, "tcp", r.ListenerAddr("in"))
	var b strings.Builder
	const n = 20000 // about 340KiB: several times the queue
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "metric.%05d 1 1\n", i)
	}
	send(t, c, b.String())
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	var in float64
	for time.Now().Before(deadline) {
		in = testutil.ToFloat64(r.metrics.linesIn.WithLabelValues("in"))
		if in == n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if in != n {
		t.Fatalf("lines received = %v, want %d", in, n)
	}
	st := r.Pool("carbon").state.Load().backends[0].Stats()
	dropped := st.LinesDropped["queue_full"]
	if dropped == 0 || dropped >= n {
		t.Errorf("queue_full drops = %v, want some but not all of %d lines (queue 64KiB)", dropped, n)
	}
	if st.QueuedBytes > 64<<10 || st.QueuedBytes == 0 {
		t.Errorf("queued bytes %d, want some, within the 64KiB bound", st.QueuedBytes)
	}
}

func TestMalformedAndOverlongLinesAreCountedAndConnectionSurvives(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	cfg := adminAndListener + "max_line = \"128\"\n" + poolTOML("carbon", "carbon_ch", 1, s.addr)
	r := startRelay(t, cfg)
	c := dial(t, "tcp", r.ListenerAddr("in"))
	long := "x." + strings.Repeat("a", 500) + " 1 1"
	send(t, c, "good.one 1 1\nonly_two 1\n"+long+"\nbad.value abc 1\n\ngood.two 2 2\n")
	got := s.waitLines(t, 2)
	if want := []string{"good.one 1 1", "good.two 2 2"}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("backend got %s, want %s", quoteList(got), quoteList(want))
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(r.metrics.linesIn.WithLabelValues("in")) < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	inv := func(reason string) float64 {
		return testutil.ToFloat64(r.metrics.invalid.WithLabelValues("in", reason))
	}
	if inv("too_long") != 1 || inv("bad_fields") != 1 || inv("bad_value") != 1 {
		t.Errorf("invalid counts too_long=%v bad_fields=%v bad_value=%v, want 1 each", inv("too_long"), inv("bad_fields"), inv("bad_value"))
	}
}

func TestRulesRejectAndReroute(t *testing.T) {
	main := startSink(t, "127.0.0.1:0")
	other := startSink(t, "127.0.0.1:0")
	cfg := adminAndListener + `
[[rules]]
listener = "in"
match = '^test\.'
reject = true

[[rules]]
listener = "in"
match = '^sys\.'
pool = "other"
` + poolTOML("carbon", "carbon_ch", 1, main.addr) + poolTOML("other", "fnv1a_ch", 1, other.addr)
	r := startRelay(t, cfg)
	c := dial(t, "tcp", r.ListenerAddr("in"))
	send(t, c, "test.x 1 1\nsys.load 1 1\napp.req 1 1\ntest.y 1 1\n")
	if got := main.waitLines(t, 1); strings.Join(got, ",") != "app.req 1 1" {
		t.Errorf("default pool got %s, want [app.req 1 1]", quoteList(got))
	}
	if got := other.waitLines(t, 1); strings.Join(got, ",") != "sys.load 1 1" {
		t.Errorf("rerouted pool got %s, want [sys.load 1 1]", quoteList(got))
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(r.metrics.rejected.WithLabelValues("in")) < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	if got := testutil.ToFloat64(r.metrics.rejected.WithLabelValues("in")); got != 2 {
		t.Errorf("rejected = %v, want 2", got)
	}
}

func TestUDPUnixAndHTTPListeners(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	sock := t.TempDir() + "/relay.sock"
	cfg := `
[admin]
listen = ""

[[listeners]]
name = "udp"
listen = "udp://127.0.0.1:0"
format = "statsd"
pool = "carbon"

[[listeners]]
name = "unix"
listen = "unix://` + sock + `"
format = "graphite"
pool = "carbon"

[[listeners]]
name = "http"
listen = "http://127.0.0.1:0"
format = "regex"
regex = '^(?P<Key>[a-z.]+)='
pool = "carbon"
` + poolTOML("carbon", "carbon_ch", 1, s.addr)
	r := startRelay(t, cfg)
	u := dial(t, "udp", r.ListenerAddr("udp"))
	send(t, u, "udp.count:1|c\nudp.time:3|ms\n")
	x := dial(t, "unix", r.ListenerAddr("unix"))
	send(t, x, "unix.metric 1 1\n")
	resp, err := http.Post("http://"+r.ListenerAddr("http").String()+"/", "text/plain", strings.NewReader("http.metric=5\nNOPE\n"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("http listener answered %d %s, want 200", resp.StatusCode, body)
	}
	got := s.waitLines(t, 4)
	want := map[string]bool{"udp.count:1|c": true, "udp.time:3|ms": true, "unix.metric 1 1": true, "http.metric=5": true}
	if len(got) != 4 {
		t.Fatalf("sink got %s, want the 4 lines %v", quoteList(got), want)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected line %q", g)
		}
	}
	if v := testutil.ToFloat64(r.metrics.invalid.WithLabelValues("http", "no_match")); v != 1 {
		t.Errorf("http no_match = %v, want 1", v)
	}
	resp, err = http.Get("http://" + r.ListenerAddr("http").String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET on http listener = %d, want 405", resp.StatusCode)
	}
}

func TestShutdownDrainsThenCountsLeftovers(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	dead := startSink(t, "127.0.0.1:0")
	dead.stop()
	cfg := adminAndListener + poolTOML("carbon", "carbon_ch", 1, s.addr) + poolTOML("gone", "carbon_ch", 1, dead.addr) + `
[[rules]]
listener = "in"
match = '^gone\.'
pool = "gone"
`
	cfgv, err := LoadConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	cfgv.ShutdownTimeout.Duration = 300 * time.Millisecond
	r, err := New(Options{Config: cfgv})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, "tcp", r.ListenerAddr("in"))
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "live.%d 1 1\ngone.%d 1 1\n", i, i)
	}
	send(t, c, b.String())
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(r.metrics.linesIn.WithLabelValues("in")) < 2000 {
		time.Sleep(5 * time.Millisecond)
	}
	goneBackend := r.Pool("gone").state.Load().backends[0]
	start := time.Now()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %v with a 300ms drain bound", took)
	}
	// Sent (acknowledged by the sink's kernel) by the end of shutdown; the
	// sink's reader may lag.
	if got := len(s.waitLines(t, 1000)); got != 1000 {
		t.Errorf("live backend got %d lines by the end of shutdown, want all 1000", got)
	}
	if v := goneBackend.Stats().LinesDropped["shutdown"]; v != 1000 {
		t.Errorf("dead backend: %v lines counted as shutdown drops, want 1000", v)
	}
}

func TestRouteTestMatchesLiveRing(t *testing.T) {
	servers := []string{"127.0.2.1:2003=a", "tcp://127.0.2.2:2003", "127.0.2.3:2003=c"}
	cfg, err := LoadConfig([]byte(adminAndListener + poolTOML("carbon", "carbon_ch", 2, servers...)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Config: cfg, NoBackends: true})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	in := "a.b.c\nfoo.bar 1 2\n\nbad line here too\n"
	if err := r.RouteTest("carbon", "", strings.NewReader(in), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	want := "a.b.c\t" + strings.Join(expected(t, "carbon_ch", 2, servers, "a.b.c"), ",") + "\n" +
		"foo.bar\t" + strings.Join(expected(t, "carbon_ch", 2, servers, "foo.bar"), ",") + "\n"
	if out.String() != want {
		t.Errorf("route output:\n%s\nwant:\n%s", out.String(), want)
	}
	if !strings.Contains(errOut.String(), "line 4") {
		t.Errorf("invalid line not reported: %q", errOut.String())
	}
	if err := r.RouteTest("nope", "", strings.NewReader(""), &out, &errOut); err == nil {
		t.Error("unknown pool accepted")
	}
}

func TestAdminAPI(t *testing.T) {
	a := startSink(t, "127.0.0.1:0")
	b := startSink(t, "127.0.0.1:0")
	r := startRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", 1, a.addr+"=a", b.addr+"=b"))
	base := "http://" + r.AdminAddr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		resp, err := http.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	c := dial(t, "tcp", r.ListenerAddr("in"))
	send(t, c, "x.y 1 1\n")
	a2, b2 := a.waitLines(t, 0), b.waitLines(t, 0)
	_, _ = a2, b2

	for _, tc := range []struct {
		path, wantIn string
		code         int
	}{
		{"/metrics", "ringrelay_listener_lines_received_total", 200},
		{"/metrics", "ringrelay_backend_queue_bytes", 200},
		{"/stats", `"carbon"`, 200},
		{"/carbon/stats", `"hasher": "carbon_ch"`, 200},
		{"/nope/stats", "unknown pool", 404},
		{"/hashcheck?key=x.y", `"servers"`, 200},
		{"/hashcheck", "missing query parameter key", 400},
		{"/pools", `"source": "static"`, 200},
		{"/debug/pprof/", "404 page not found", 404}, // [admin] pprof is off by default
	} {
		code, body := get(tc.path)
		if code != tc.code || !strings.Contains(body, tc.wantIn) {
			t.Errorf("GET %s = %d %.300s; want %d containing %q", tc.path, code, body, tc.code, tc.wantIn)
		}
	}
	// /hashcheck names the server the ring picks.
	want := expected(t, "carbon_ch", 1, []string{a.addr + "=a", b.addr + "=b"}, "x.y")[0]
	if _, body := get("/hashcheck?key=x.y"); !strings.Contains(body, want) {
		t.Errorf("/hashcheck body %s does not name %s", body, want)
	}

	// Add, then purge, over HTTP.
	extra := startSink(t, "127.0.0.1:0")
	if code, body := post("/carbon/addserver", url.Values{"server": {extra.addr}, "instance": {"c"}}); code != 200 || !strings.Contains(body, `"source": "http"`) {
		t.Errorf("addserver = %d %s", code, body)
	}
	if n := len(r.Pool("carbon").state.Load().servers); n != 3 {
		t.Errorf("after addserver the ring has %d members, want 3", n)
	}
	if code, body := post("/carbon/purgeserver", url.Values{"server": {a.addr}}); code != 200 || strings.Contains(memberServers(t, body), a.addr) {
		t.Errorf("purgeserver = %d %s, want 200 without %s", code, body, a.addr)
	}
	for _, tc := range []struct {
		path string
		form url.Values
		code int
		want string
	}{
		{"/carbon/addserver", url.Values{}, 400, "missing form field server"},
		{"/carbon/addserver", url.Values{"server": {"nonsense"}}, 400, "host:port"},
		{"/carbon/addserver", url.Values{"server": {"h:1=a"}, "instance": {"b"}}, 400, "instance"},
		{"/nope/addserver", url.Values{"server": {"h:1"}}, 404, "unknown pool"},
		{"/carbon/purgeserver", url.Values{"server": {"10.9.9.9:1"}}, 404, "not a member"},
	} {
		code, body := post(tc.path, tc.form)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s %v = %d %s; want %d containing %q", tc.path, tc.form, code, body, tc.code, tc.want)
		}
	}
	if resp, err := http.Get(base + "/carbon/addserver"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET /carbon/addserver = %d, want 405", resp.StatusCode)
		}
	}
}

func TestOpsStatus(t *testing.T) {
	a := startSink(t, "127.0.0.1:0")
	dead := startSink(t, "127.0.0.1:0")
	dead.stop()
	r := startRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", 1, a.addr)+poolTOML("down", "carbon_ch", 1, dead.addr))
	base := "http://" + r.AdminAddr().String()
	c := dial(t, "tcp", r.ListenerAddr("in"))
	send(t, c, "x 1 1\n")
	a.waitLines(t, 1)
	code := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := code("/carbon/ops/status"); got != 200 {
		t.Errorf("/carbon/ops/status = %d, want 200 (backend connected)", got)
	}
	if got := code("/down/ops/status"); got != 503 {
		t.Errorf("/down/ops/status = %d, want 503 (backend down)", got)
	}
	if got := code("/ops/status"); got != 503 {
		t.Errorf("/ops/status = %d, want 503 while one pool is down", got)
	}
}

// TestRingSwapMidConnection: a connection that keeps sending across a
// membership change routes on the new ring at once, and its dispatcher lets
// go of the removed backend.
func TestRingSwapMidConnection(t *testing.T) {
	a := startSink(t, "127.0.0.1:0")
	b := startSink(t, "127.0.0.1:0")
	servers := []string{a.addr + "=a", b.addr + "=b"}
	r := startRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", 1, servers...))
	d := newDispatcher(r.router.Load().listeners[0].route.Load())
	var blk strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&blk, "k.%d 1 1\n", i)
	}
	gotA := 0
	for i := 0; i < 200; i++ {
		if expected(t, "carbon_ch", 1, servers, fmt.Sprintf("k.%d", i))[0] == servers[0] {
			gotA++
		}
	}
	if gotA == 0 || gotA == 200 {
		t.Fatalf("the ring sends %d of 200 keys to a; the test needs both members used", gotA)
	}
	d.block([]byte(blk.String()))
	d.flush()
	if got := len(a.waitLines(t, gotA)); got != gotA {
		t.Fatalf("member a got %d lines before the swap, want %d", got, gotA)
	}
	p := r.Pool("carbon")
	old := p.state.Load().backends[0]
	srvA, _ := discovery.ParseServer(servers[0])
	p.Membership().Purge(srvA)
	d.block([]byte(blk.String()))
	d.flush()
	if _, ok := d.batches[old]; ok {
		t.Error("dispatcher still holds a batch for the removed backend after a flush")
	}
	if got := b.waitLines(t, 200+(200-gotA)); len(got) != 200+(200-gotA) {
		t.Errorf("member b got %d lines, want its %d before the swap and all 200 after", len(got), 200-gotA)
	}
	if got := len(a.got()); got != gotA {
		t.Errorf("removed member a got %d lines, want only its %d from before the swap", got, gotA)
	}
}
