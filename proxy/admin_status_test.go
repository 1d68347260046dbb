package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"ringrelay/internal/browsertest"
	"ringrelay/internal/buildinfo"
	"ringrelay/internal/zktest"
	"ringrelay/proxy/backend"
)

// TestStatusPageInABrowser starts a relay with two pools on loopback,
// makes one drop lines (its only backend is down and its queue small),
// sends malformed lines and has a reload refused, then loads / in headless
// Chromium and reads what the rendered page shows: both pools, their
// members with source and connection state, the exact drop counts the
// test caused, the refused reload and the version.
func TestStatusPageInABrowser(t *testing.T) {
	browsertest.Chromium(t) // skip early, before starting anything
	live := startSink(t, "127.0.0.1:0")
	dead := startSink(t, "127.0.0.1:0")
	dead.stop()
	cfgText := adminAndListener + `
[[listeners]]
name = "in-dead"
listen = "tcp://127.0.0.1:0"
pool = "dead"
` + poolTOML("carbon", "carbon_ch", 1, live.addr+"=a") +
		poolTOML("dead", "carbon_ch", 1, dead.addr+"=z") + "queue_bytes = \"64KiB\"\nbatch_bytes = \"16KiB\"\n"
	r := startRelay(t, cfgText)

	// Lines for the dead pool: several times its queue, so most are
	// dropped (queue_full); the rest wait in the queue.
	const n = 20000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "metric.%05d 1 1\n", i)
	}
	c := dial(t, "tcp", r.ListenerAddr("in-dead"))
	send(t, c, b.String())
	// Lines for the live pool, two of them malformed.
	in := dial(t, "tcp", r.ListenerAddr("in"))
	send(t, in, "a.b 1 1\nc.d 2 2\nnot-a-line\nx.y 1 notatime\n")
	live.waitLines(t, 2)

	deadBackend := r.Pool("dead").state.Load().backends[0]
	var dropped uint64
	waitFor(t, func() string {
		return fmt.Sprintf("dead pool: %d lines dropped + queued, want %d: %+v", dropped, n, deadBackend.Stats())
	}, func() bool {
		st := deadBackend.Stats()
		dropped = st.LinesDropped[backend.ReasonQueueFull]
		return dropped > 0 && dropped+uint64(st.QueuedLines) == n
	})
	liveBackend := r.Pool("carbon").state.Load().backends[0]
	waitFor(t, func() string { return "the live backend never connected" }, func() bool { return liveBackend.Stats().Up })

	bad := r.router.Load().cfg
	bad.Pools = map[string]PoolConfig{"carbon": defaultPool("no_such_hasher", live.addr)}
	if _, err := r.Reload(bad); err == nil {
		t.Fatal("a reload with an unknown hasher was applied")
	}

	root, err := browsertest.Parse(browsertest.DumpDOM(t, "http://"+r.AdminAddr().String()+"/"))
	if err != nil {
		t.Fatal(err)
	}
	text := func(scope *browsertest.Node, attr, value string) string {
		t.Helper()
		el := scope.First(browsertest.WithAttr(attr, value))
		if el == nil {
			t.Fatalf("the page shows no element [%s=%q] under <%s %v>", attr, value, scope.Tag, scope.Attrs)
		}
		return el.Text()
	}
	pools := root.All(browsertest.WithAttr("data-pool", "*"))
	if len(pools) != 2 || pools[0].Attrs["data-pool"] != "carbon" || pools[1].Attrs["data-pool"] != "dead" {
		t.Fatalf("pools shown: %d, want carbon then dead", len(pools))
	}
	carbon, deadPool := pools[0], pools[1]

	row := carbon.First(browsertest.WithAttr("data-member", live.addr+"=a"))
	if row == nil {
		t.Fatalf("pool carbon does not show member %s=a: %q", live.addr, carbon.Text())
	}
	if got := text(row, "data-source", "*"); got != "static" {
		t.Errorf("member %s=a source %q, want static", live.addr, got)
	}
	if got := text(row, "data-connected", "true"); got != "yes" {
		t.Errorf("live member connected %q, want yes", got)
	}
	if got := text(carbon, "data-health", "ok"); !strings.HasPrefix(got, "OK: 1 of 1 backends connected") {
		t.Errorf("carbon health %q, want OK with 1 of 1 connected", got)
	}
	if got := text(carbon, "data-members", "*"); got != "1" {
		t.Errorf("carbon members %q, want 1", got)
	}

	drow := deadPool.First(browsertest.WithAttr("data-member", dead.addr+"=z"))
	if drow == nil {
		t.Fatalf("pool dead does not show member %s=z: %q", dead.addr, deadPool.Text())
	}
	if got, want := text(drow, "data-drop", "queue_full"), fmt.Sprintf("queue_full: %d", dropped); got != want {
		t.Errorf("dead member drops %q, want %q (the count the backend reports)", got, want)
	}
	if got := text(drow, "data-connected", "false"); got != "no" {
		t.Errorf("dead member connected %q, want no", got)
	}
	if got := text(deadPool, "data-health", "fail"); !strings.Contains(got, "0 of 1 backends connected") {
		t.Errorf("dead pool health %q, want FAIL with 0 of 1 connected", got)
	}
	if got := text(drow, "data-queue-percent", "*"); !strings.Contains(got, "of 64.0 KiB") {
		t.Errorf("dead member queue %q, want a fill of 64.0 KiB", got)
	}

	listener := root.First(browsertest.WithAttr("data-listener", "in"))
	if listener == nil {
		t.Fatal("the page shows no listener in")
	}
	if got := text(listener, "data-received", "*"); got != "4" {
		t.Errorf("listener in received %q, want 4", got)
	}
	if got := text(listener, "data-drop", "bad_fields"); got != "bad_fields: 1" {
		t.Errorf("listener in invalid lines %q, want bad_fields: 1", got)
	}
	if got := text(listener, "data-drop", "bad_timestamp"); got != "bad_timestamp: 1" {
		t.Errorf("listener in invalid lines %q, want bad_timestamp: 1", got)
	}

	if got := text(root, "id", "reload"); !strings.Contains(got, "refused") || !strings.Contains(got, "no_such_hasher") {
		t.Errorf("reload line %q, want it refused, naming the unknown hasher", got)
	}
	if got, want := text(root, "id", "version"), buildinfo.Read().Version; got != want {
		t.Errorf("version %q, want %q", got, want)
	}
	if got := text(root, "id", "zookeeper"); !strings.Contains(got, "not configured") {
		t.Errorf("zookeeper line %q, want not configured", got)
	}
}

// TestStatusPageShowsZooKeeper: with a real ZooKeeper, the page shows the
// session, the serverset a pool follows and its last sync, and members
// whose source is zookeeper.
func TestStatusPageShowsZooKeeper(t *testing.T) {
	zks := zktest.Start(t)
	admin := zktest.Client(t, zks.Addr(), 4*time.Second)
	const ss = "/discovery/test/status"
	static, member := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	r := startRelay(t, zkRelayConfig(zks.Addr(), ss, zkDebounce, static.addr+"=s"))
	register(t, admin, ss, member)
	waitRing(t, r, "after registering a member", []string{member.addr})

	root, err := browsertest.Parse(adminGet(t, r, "/"))
	if err != nil {
		t.Fatal(err)
	}
	zk := root.First(browsertest.WithAttr("id", "zookeeper"))
	if zk == nil || zk.First(browsertest.WithAttr("data-zk-state", "connected")) == nil || !strings.Contains(zk.Text(), "session 0x") {
		t.Errorf("the page does not show a connected ZooKeeper session: %+v", zk)
	}
	pool := root.First(browsertest.WithAttr("data-pool", "carbon"))
	if pool == nil {
		t.Fatal("the page shows no pool carbon")
	}
	if txt := pool.Text(); !strings.Contains(txt, "serverset "+ss+", last sync 2") {
		t.Errorf("pool carbon %q does not show serverset %s with its last sync", txt, ss)
	}
	rows := pool.All(browsertest.WithAttr("data-member", "*"))
	if len(rows) != 1 || rows[0].Attrs["data-member"] != member.addr {
		t.Fatalf("pool carbon shows %d members, want only %s", len(rows), member.addr)
	}
	if src := rows[0].First(browsertest.WithAttr("data-source", "*")); src == nil || src.Text() != "zookeeper" {
		t.Errorf("member %s source %+v, want zookeeper", member.addr, src)
	}
}

// TestStatusPageEscapesEverything: text from outside (backend errors,
// reload errors, server names) is escaped, never markup.
func TestStatusPageEscapesEverything(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	page := statusPage{
		Build:  buildinfo.Info{Version: evil, Revision: "r", GoVersion: "go"},
		Reload: &reloadOutcome{At: time.Now(), Err: errors.New(evil)},
		Pools: []poolView{
			{Name: evil, Hasher: evil, Compat: evil, Replication: 1, Health: evil, Serverset: evil, SyncError: evil,
				Members: []memberView{{Server: evil, Source: evil, HasBackend: true, LastError: evil,
					Drops: []dropCount{{Reason: evil, Lines: 1}}}}},
			{Name: "empty", Reason: evil, Overlay: OverlayView{
				Added: []OverlayEntryView{{Server: evil}}, Purged: []OverlayEntryView{{Server: evil}}}},
		},
		Listeners: []listenerView{{Name: evil, Aggregator: evil, Stats: ListenerStats{Listen: evil, Addr: evil, Format: evil},
			Invalid: []dropCount{{Reason: evil, Lines: 1}}}},
	}
	var b strings.Builder
	if err := statusTemplate.Execute(&b, page); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script") {
		t.Errorf("the page carries a raw <script> from its data:\n%s", b.String())
	}
	// Every field above shows up escaped (in text or in an attribute).
	if n := strings.Count(b.String(), "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"); n < 20 {
		t.Errorf("the escaped text shows %d times, want every field (20+):\n%s", n, b.String())
	}
}

// TestStatusPageRefresh: the page refreshes itself every 5 s unless
// ?refresh= says otherwise; a bad value is a 400 naming it.
func TestStatusPageRefresh(t *testing.T) {
	a := startAdminRelay(t, "", nil)
	get := func(q string) (int, string) {
		resp, err := http.Get(a.base + "/" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		query    string
		wantCode int
		want     string
		notWant  string
	}{
		{"", 200, `<meta http-equiv="refresh" content="5">`, ""},
		{"?refresh=60", 200, `<meta http-equiv="refresh" content="60">`, ""},
		{"?refresh=0", 200, "<title>ringrelay status</title>", `http-equiv="refresh"`},
		{"?refresh=-1", 400, `bad refresh \"-1\"`, ""},
		{"?refresh=soon", 400, `bad refresh \"soon\"`, ""},
	} {
		code, body := get(tc.query)
		if code != tc.wantCode || !strings.Contains(body, tc.want) || (tc.notWant != "" && strings.Contains(body, tc.notWant)) {
			t.Errorf("GET /%s = %d, want %d with %q and without %q:\n%.600s", tc.query, code, tc.wantCode, tc.want, tc.notWant, body)
		}
	}
	if code, _ := get("nosuchpage"); code != http.StatusNotFound {
		t.Errorf("GET /nosuchpage = %d, want 404 (only / is the status page)", code)
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{64 << 10, "64.0 KiB"}, {64 << 20, "64.0 MiB"}, {3 << 30, "3.0 GiB"},
	} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
