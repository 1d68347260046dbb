package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"ringrelay/discovery"
	"ringrelay/internal/zktest"
)

// End-to-end tests of serverset discovery through the whole relay: a real
// ZooKeeper (internal/zktest), members registered the way backends do, the
// relay's TCP listener in front and sinks on loopback ports behind. Pools
// use fnv1a_ch, which hashes host:port, so members on one loopback host get
// distinct ring positions without instances.

const (
	zkWait     = 15 * time.Second // bound on every wait for ZooKeeper-driven change
	zkSS       = "/discovery/test/carbon"
	zkHasher   = "fnv1a_ch"
	zkDebounce = "50ms"
)

// zkRelayConfig renders a relay with one graphite listener "in" feeding pool
// "carbon" (static servers plus serverset ss) and a [zookeeper] section.
func zkRelayConfig(zkAddr, ss, debounce string, static ...string) string {
	return adminAndListener + fmt.Sprintf(`
[zookeeper]
servers = [%q]
session_timeout = "10s"
`, zkAddr) + poolTOML("carbon", zkHasher, 1, static...) +
		fmt.Sprintf("serverset = %q\ndebounce = %q\n", ss, debounce)
}

// register announces s as a Finagle serverset member of ss (an
// EPHEMERAL_SEQUENTIAL member_ znode owned by conn's session) and returns
// the znode's path.
func register(t *testing.T, conn *zk.Conn, ss string, s *sink) string {
	t.Helper()
	host, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	for p := ""; p != ss; {
		next, _, _ := strings.Cut(strings.TrimPrefix(ss, p+"/"), "/")
		p += "/" + next
		if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatalf("failed to create %q: %v", p, err)
		}
	}
	data := fmt.Sprintf(`{"serviceEndpoint":{"host":%q,"port":%s},"additionalEndpoints":{},"status":"ALIVE"}`, host, port)
	name, err := conn.Create(path.Join(ss, discovery.MemberPrefix), []byte(data), zk.FlagEphemeralSequential, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatalf("failed to register %s under %q: %v", s.addr, ss, err)
	}
	return name
}

// ringOf is the pool's current member list as server strings.
func ringOf(r *Relay) []string {
	var out []string
	for _, s := range r.Pool("carbon").state.Load().servers {
		out = append(out, s.String())
	}
	return out
}

func addrsOf(sinks ...*sink) []string {
	out := make([]string, len(sinks))
	for i, s := range sinks {
		out[i] = s.addr
	}
	slices.Sort(out) // one host: the serverset order is by port, and ports here have 5 digits
	return out
}

// waitRing polls until the pool's ring holds exactly want (in any order),
// returning when it did; it fails the test after zkWait.
func waitRing(t *testing.T, r *Relay, what string, want []string) time.Time {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	deadline := time.Now().Add(zkWait)
	for {
		got := slices.Sorted(slices.Values(ringOf(r)))
		if slices.Equal(got, want) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: ring is %v after %v, want %v (discovery %+v)", what, got, zkWait, want, r.currentDiscovery().Status())
		}
		time.Sleep(2 * time.Millisecond) // polling: a rebuild has no event a test can wait on
	}
}

// routeCheck sends n lines with keys under prefix and checks that each one
// reaches exactly the backend the ring over members picks (computed with
// hashring, independently of the relay), in order, and that none of the
// other sinks receives anything.
func routeCheck(t *testing.T, c net.Conn, all []*sink, members []*sink, prefix string, n int) {
	t.Helper()
	servers := addrsOf(members...)
	byAddr := map[string]*sink{}
	base := map[*sink]int{}
	for _, s := range all {
		byAddr[s.addr] = s
		base[s] = len(s.got())
	}
	want := map[string][]string{}
	var b strings.Builder
	for i := range n {
		key := fmt.Sprintf("%s.host-%03d.cpu", prefix, i)
		ln := fmt.Sprintf("%s %d 1732236000", key, i)
		b.WriteString(ln + "\n")
		for _, s := range expected(t, zkHasher, 1, servers, key) {
			want[s] = append(want[s], ln)
		}
	}
	for _, s := range servers {
		if len(want[s]) == 0 {
			t.Fatalf("test setup: none of %d keys %s.* hashes to %s; pick more keys", n, prefix, s)
		}
	}
	send(t, c, b.String())
	for _, s := range servers {
		sk := byAddr[s]
		got := sk.waitLines(t, base[sk]+len(want[s]))[base[sk]:]
		if strings.Join(got, "\n") != strings.Join(want[s], "\n") {
			t.Errorf("%s: member %s got %d new lines, want %d (in order)\n got: %.300s\nwant: %.300s",
				prefix, s, len(got), len(want[s]), quoteList(got), quoteList(want[s]))
		}
	}
	for _, s := range all {
		if !slices.Contains(servers, s.addr) {
			if got := s.got()[base[s]:]; len(got) != 0 {
				t.Errorf("%s: %s is not in the ring %v but got %d lines: %.300s", prefix, s.addr, servers, len(got), quoteList(got))
			}
		}
	}
}

// poolsView is the part of GET /pools these tests read.
type poolsView struct {
	Pools     map[string]PoolMembers `json:"pools"`
	ZooKeeper *discovery.Status      `json:"zookeeper"`
}

func getPools(t *testing.T, r *Relay) poolsView {
	t.Helper()
	body := adminGet(t, r, "/pools")
	var v poolsView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("GET /pools: %v\n%s", err, body)
	}
	return v
}

func adminGet(t *testing.T, r *Relay, p string) string {
	t.Helper()
	resp, err := http.Get("http://" + r.AdminAddr().String() + p)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s", p, resp.StatusCode, body)
	}
	return string(body)
}

func adminPost(t *testing.T, r *Relay, p string, form url.Values) string {
	t.Helper()
	resp, err := http.PostForm("http://"+r.AdminAddr().String()+p, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %v = %d %s", p, form, resp.StatusCode, body)
	}
	return string(body)
}

// waitMetrics polls /metrics until it has every one of want's lines.
func waitMetrics(t *testing.T, r *Relay, want ...string) {
	t.Helper()
	deadline := time.Now().Add(zkWait)
	for {
		body := adminGet(t, r, "/metrics")
		var missing []string
		for _, w := range want {
			if !slices.Contains(strings.Split(body, "\n"), w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var disc []string
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, "ringrelay_discovery_") {
					disc = append(disc, l)
				}
			}
			t.Fatalf("/metrics lacks %q after %v; its discovery lines:\n%s", missing, zkWait, strings.Join(disc, "\n"))
		}
		time.Sleep(20 * time.Millisecond) // polling: scrapes have no change event
	}
}

// TestZooKeeperRelay runs the scenarios that can share one ZooKeeper, each
// on its own serverset path and relay.
func TestZooKeeperRelay(t *testing.T) {
	zks := zktest.Start(t)
	admin := zktest.Client(t, zks.Addr(), 4*time.Second)

	t.Run("registered members replace the static servers", func(t *testing.T) {
		const ss = zkSS
		s0, s1, s2 := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
		all := []*sink{s0, s1, s2}
		r := startRelay(t, zkRelayConfig(zks.Addr(), ss, zkDebounce, s0.addr))
		c := dial(t, "tcp", r.ListenerAddr("in"))
		// The serverset does not exist yet: an empty serverset is held
		// (empty_hold), so the static server routes.
		routeCheck(t, c, all, []*sink{s0}, "before", 50)

		register(t, admin, ss, s1)
		register(t, admin, ss, s2)
		waitRing(t, r, "after registering two members", addrsOf(s1, s2))

		v := getPools(t, r)
		pm := v.Pools["carbon"]
		var got []string
		for _, m := range pm.Members {
			got = append(got, m.Source+":"+m.Server)
		}
		if want := []string{"zookeeper:" + addrsOf(s1, s2)[0], "zookeeper:" + addrsOf(s1, s2)[1]}; !slices.Equal(got, want) {
			t.Errorf("/pools carbon members %v, want %v", got, want)
		}
		if pm.LastSync == nil || time.Since(*pm.LastSync) > zkWait {
			t.Errorf("/pools carbon last_sync = %v, want a recent time", pm.LastSync)
		}
		if pm.Serverset != ss {
			t.Errorf("/pools carbon serverset = %q, want %q", pm.Serverset, ss)
		}
		if v.ZooKeeper == nil || v.ZooKeeper.State != "connected" || v.ZooKeeper.Pools["carbon"].Members != 2 {
			t.Errorf("/pools zookeeper = %+v, want connected with 2 members in carbon", v.ZooKeeper)
		}

		routeCheck(t, c, all, []*sink{s1, s2}, "after", 200)
		waitMetrics(t, r,
			`ringrelay_discovery_members{pool="carbon",source="zookeeper"} 2`,
			`ringrelay_discovery_members{pool="carbon",source="static"} 0`,
			`ringrelay_discovery_zookeeper_connected 1`,
			`ringrelay_pool_ring_members{pool="carbon"} 2`,
		)
	})

	t.Run("http purge survives a serverset rebuild", func(t *testing.T) {
		const ss = "/discovery/test/purge"
		s1, s2, s3 := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
		all := []*sink{s1, s2, s3}
		register(t, admin, ss, s1)
		register(t, admin, ss, s2)
		r := startRelay(t, zkRelayConfig(zks.Addr(), ss, zkDebounce))
		c := dial(t, "tcp", r.ListenerAddr("in"))
		waitRing(t, r, "first sync", addrsOf(s1, s2))
		routeCheck(t, c, all, []*sink{s1, s2}, "synced", 100)

		body := adminPost(t, r, "/carbon/purgeserver", url.Values{"server": {s1.addr}})
		if strings.Contains(memberServers(t, body), s1.addr) {
			t.Errorf("purgeserver answer still lists %s:\n%s", s1.addr, body)
		}
		if got, want := ringOf(r), addrsOf(s2); !slices.Equal(got, want) {
			t.Errorf("ring after purge %v, want %v (purge applies at once)", got, want)
		}
		routeCheck(t, c, all, []*sink{s2}, "purged", 50)

		register(t, admin, ss, s3) // a serverset change: the ring is rebuilt
		waitRing(t, r, "after a third member registered", addrsOf(s2, s3))
		routeCheck(t, c, all, []*sink{s2, s3}, "rebuilt", 200)

		adminPost(t, r, "/carbon/addserver", url.Values{"server": {s1.addr}})
		if got, want := ringOf(r), addrsOf(s1, s2, s3); !slices.Equal(got, want) {
			t.Errorf("ring after addserver %v, want %v", got, want)
		}
		for _, m := range getPools(t, r).Pools["carbon"].Members {
			if m.Server == s1.addr && m.Source != string(discovery.SourceZooKeeper) {
				t.Errorf("re-added %s has source %q, want zookeeper (it is still registered)", m.Server, m.Source)
			}
		}
		routeCheck(t, c, all, []*sink{s1, s2, s3}, "readded", 300)
	})

	t.Run("deletion to ring latency", func(t *testing.T) {
		const ss = "/discovery/test/latency"
		const debounce = 100 * time.Millisecond
		sinks := []*sink{startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")}
		var nodes []string
		for _, s := range sinks {
			nodes = append(nodes, register(t, admin, ss, s))
		}
		r := startRelay(t, zkRelayConfig(zks.Addr(), ss, debounce.String()))
		waitRing(t, r, "first sync", addrsOf(sinks...))
		var worst time.Duration
		for i := range 3 {
			start := time.Now()
			if err := admin.Delete(nodes[i], -1); err != nil {
				t.Fatalf("failed to delete %q: %v", nodes[i], err)
			}
			done := waitRing(t, r, fmt.Sprintf("after deleting %s", sinks[i].addr), addrsOf(sinks[i+1:]...))
			lat := done.Sub(start)
			worst = max(worst, lat)
			t.Logf("debounce %v: member znode deleted -> ring without it after %v (debounce + %v)", debounce, lat, lat-debounce)
			if lat < debounce/2 {
				t.Errorf("removal reached the ring after %v, before the %v debounce could have run", lat, debounce)
			}
		}
		if worst > 5*time.Second {
			t.Errorf("worst deletion -> ring latency %v with debounce %v; want well under 5s", worst, debounce)
		}
	})

	t.Run("serverset.py members are routed to", func(t *testing.T) {
		const ss = "/discovery/test/interop"
		s0, s1, s2 := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
		all := []*sink{s0, s1, s2}
		r := startRelay(t, zkRelayConfig(zks.Addr(), ss, zkDebounce, s0.addr))
		c := dial(t, "tcp", r.ListenerAddr("in"))
		for i, s := range []*sink{s1, s2} {
			host, port, _ := net.SplitHostPort(s.addr)
			args := []string{"--host", host, "--port", port}
			if i == 1 {
				args = append(args, "--style", "twitter-python", "--shard", "1")
			}
			zktest.PyRegister(t, zks.Addr(), ss, args...)
		}
		waitRing(t, r, "after serverset.py registered two members", addrsOf(s1, s2))
		routeCheck(t, c, all, []*sink{s1, s2}, "interop", 200)
	})
}

// TestZooKeeperOutageKeepsRouting: with ZooKeeper stopped under a running
// relay, lines keep flowing on the last ring; a member whose backend died
// during the outage leaves the ring once ZooKeeper is back and its session
// expires there.
func TestZooKeeperOutageKeepsRouting(t *testing.T) {
	// Survivors' sessions must outlast a JVM restart.
	zks := zktest.Start(t, zktest.WithMaxSessionTimeout(30*time.Second))
	s1, s2, m := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	all := []*sink{s1, s2, m}
	keeper := zktest.Client(t, zks.Addr(), 15*time.Second)
	register(t, keeper, zkSS, s1)
	register(t, keeper, zkSS, s2)
	doomed := zktest.Client(t, zks.Addr(), time.Second) // a short session: it expires soon after the restart
	register(t, doomed, zkSS, m)

	// empty_hold = 0: the last ring must be kept by discovery itself, not
	// by the guard against emptying updates.
	r := startRelay(t, zkRelayConfig(zks.Addr(), zkSS, zkDebounce)+"empty_hold = \"0s\"\n")
	c := dial(t, "tcp", r.ListenerAddr("in"))
	waitRing(t, r, "first sync", addrsOf(s1, s2, m))
	routeCheck(t, c, all, []*sink{s1, s2, m}, "up", 200)

	rebuilds := counterValue(r.Pool("carbon").metrics.rebuilds)
	zks.Stop()
	doomed.Close() // M's registering process dies while ZooKeeper is down: no delete reaches it
	deadline := time.Now().Add(zkWait)
	for r.currentDiscovery().Status().State != "disconnected" {
		if time.Now().After(deadline) {
			t.Fatalf("discovery never noticed the outage: %+v", r.currentDiscovery().Status())
		}
		time.Sleep(10 * time.Millisecond) // polling: waiting for the client to notice
	}
	waitMetrics(t, r, `ringrelay_discovery_zookeeper_connected 0`)
	if got, want := ringOf(r), addrsOf(s1, s2, m); !slices.Equal(got, want) {
		t.Fatalf("ring during the outage %v, want the last one %v", got, want)
	}
	routeCheck(t, c, all, []*sink{s1, s2, m}, "down", 200)

	restarted := time.Now()
	zks.Restart()
	gone := waitRing(t, r, "after ZooKeeper returned and M's session expired", addrsOf(s1, s2))
	t.Logf("ZooKeeper restart -> M out of the ring after %v (M's session 1s, debounce %s)", gone.Sub(restarted), zkDebounce)
	routeCheck(t, c, all, []*sink{s1, s2}, "back", 200)
	// The outage, the reconnect and the re-list changed nothing: the one
	// rebuild since ZooKeeper stopped is M's removal.
	if n := counterValue(r.Pool("carbon").metrics.rebuilds) - rebuilds; n != 1 {
		t.Errorf("%v ring rebuilds from ZooKeeper's stop to M's removal, want 1 (the removal)", n)
	}
	waitMetrics(t, r, `ringrelay_discovery_zookeeper_connected 1`,
		`ringrelay_discovery_members{pool="carbon",source="zookeeper"} 2`)
}

// TestZooKeeperDownAtStartUsesStaticServers: a relay started while
// ZooKeeper is unreachable routes on its static servers, and switches to the
// serverset once ZooKeeper is up and members are registered.
func TestZooKeeperDownAtStartUsesStaticServers(t *testing.T) {
	zks := zktest.Start(t)
	zks.Stop() // its port stays reserved for Restart: ZooKeeper is "down" there
	s0, s1, s2 := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	all := []*sink{s0, s1, s2}
	// Nothing saved on disk (no state_dir): after start_wait, the static servers.
	r := startRelay(t, strings.Replace(zkRelayConfig(zks.Addr(), zkSS, zkDebounce, s0.addr), `session_timeout = "10s"`, `session_timeout = "10s"
start_wait = "300ms"`, 1))
	c := dial(t, "tcp", r.ListenerAddr("in"))
	routeCheck(t, c, all, []*sink{s0}, "static", 100)
	pm := getPools(t, r).Pools["carbon"]
	if len(pm.Members) != 1 || pm.Members[0].Source != string(discovery.SourceStatic) || pm.LastSync != nil {
		t.Errorf("/pools carbon with ZooKeeper down = %+v, want the static server and no last_sync", pm)
	}

	zks.Restart()
	conn := zktest.Client(t, zks.Addr(), 4*time.Second)
	register(t, conn, zkSS, s1)
	register(t, conn, zkSS, s2)
	waitRing(t, r, "after ZooKeeper came up with two members", addrsOf(s1, s2))
	routeCheck(t, c, all, []*sink{s1, s2}, "zookeeper", 200)
	if pm := getPools(t, r).Pools["carbon"]; pm.LastSync == nil {
		t.Errorf("/pools carbon after the sync has no last_sync: %+v", pm)
	}
}

// TestZooKeeperConfigDecodesStrictly: [zookeeper] and the pool's discovery
// keys are part of the relay's strict config.
func TestZooKeeperConfigDecodesStrictly(t *testing.T) {
	const good = `[zookeeper]
servers = ["127.0.0.1:2181", "zk2.example:2181"]
session_timeout = "3s"
resync_interval = "30s"
max_concurrent_gets = 8
auth = "relay:secret"

[pools.carbon]
hasher = "carbon_ch"
servers = ["127.0.2.1:2003=a"]
serverset = "/discovery/prod/carbon"
endpoint = "graphite"
shard = 3
instance_from = "metadata:name"
debounce = "250ms"
remove_delay = "2s"
empty_hold = "10s"
`
	cfg, err := LoadConfig([]byte(good))
	if err != nil {
		t.Fatalf("config refused: %v\n%s", err, good)
	}
	z := cfg.ZooKeeper
	p := cfg.Pools["carbon"]
	for _, tc := range []struct{ key, got, want string }{
		{"zookeeper.servers", strings.Join(z.Servers, ","), "127.0.0.1:2181,zk2.example:2181"},
		{"zookeeper.session_timeout", z.SessionTimeout.String(), "3s"},
		{"zookeeper.resync_interval", z.ResyncInterval.String(), "30s"},
		{"zookeeper.max_concurrent_gets", strconv.Itoa(z.MaxConcurrentGets), "8"},
		{"zookeeper.auth", z.Auth, "relay:secret"},
		{"serverset", p.Serverset, "/discovery/prod/carbon"},
		{"endpoint", p.Endpoint, "graphite"},
		{"shard", fmt.Sprint(derefShard(p.Shard)), "3"},
		{"instance_from", p.InstanceFrom, "metadata:name"},
		{"debounce", p.Debounce.String(), "250ms"},
		{"remove_delay", p.RemoveDelay.String(), "2s"},
		{"empty_hold", p.EmptyHold.String(), "10s"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s decoded as %q, want %q", tc.key, tc.got, tc.want)
		}
	}
	if def, err := LoadConfig([]byte("[pools.carbon]\nservers = [\"127.0.2.1:2003\"]\n")); err != nil {
		t.Fatal(err)
	} else if dz, dp := def.ZooKeeper, def.Pools["carbon"]; dz.Enabled() || dz.SessionTimeout.Duration != 10*time.Second ||
		dp.Debounce.Duration != time.Second || dp.EmptyHold.Duration != 30*time.Second || dp.Shard != nil {
		t.Errorf("defaults without [zookeeper]: zookeeper %+v, pool debounce %v empty_hold %v shard %v", dz, dp.Debounce, dp.EmptyHold, dp.Shard)
	}

	for _, tc := range []struct {
		name, old, new string
		want           []string
	}{
		{"unknown zookeeper key", `auth = "relay:secret"`, "auth = \"relay:secret\"\nsesion_timeout = \"1s\"", []string{"line 7", "zookeeper.sesion_timeout"}},
		{"unknown pool discovery key", `instance_from = "metadata:name"`, `instance_form = "metadata:name"`, []string{"line 14", "pools.carbon.instance_form"}},
		{"bad zookeeper server", `"zk2.example:2181"`, `"zk2.example"`, []string{"line 1", "zk2.example"}},
		{"bad session timeout", `session_timeout = "3s"`, `session_timeout = "3 s"`, []string{"line 3", "3 s"}},
		{"too short session timeout", `session_timeout = "3s"`, `session_timeout = "10ms"`, []string{"session_timeout"}},
		{"bad auth", `auth = "relay:secret"`, `auth = "relay"`, []string{"zookeeper.auth"}},
		{"relative serverset", `"/discovery/prod/carbon"`, `"discovery/prod/carbon"`, []string{"pools.carbon", "serverset"}},
		{"negative shard", `shard = 3`, `shard = -1`, []string{"pools.carbon", "shard -1"}},
		{"bad instance_from", `instance_from = "metadata:name"`, `instance_from = "port"`, []string{"pools.carbon", "instance_from"}},
		{"bad debounce", `debounce = "250ms"`, `debounce = "soon"`, []string{"line 15", "soon"}},
		{"serverset without zookeeper", `servers = ["127.0.0.1:2181", "zk2.example:2181"]`, `servers = []`, []string{"line 11", "pools.carbon.serverset", "zookeeper"}},
	} {
		doc := strings.Replace(good, tc.old, tc.new, 1)
		if doc == good {
			t.Fatalf("%s: %q is not in the base config", tc.name, tc.old)
		}
		_, err := LoadConfig([]byte(doc))
		if err == nil {
			t.Errorf("%s: config accepted:\n%s", tc.name, doc)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
	}
}

func derefShard(s *int32) any {
	if s == nil {
		return nil
	}
	return *s
}

// TestRestartWithZooKeeperUpRoutesOnServersetFromTheFirstLine: a relay
// (re)started while ZooKeeper is up opens its listeners only once the
// serverset has synced, so not one line goes to the static fallback.
func TestRestartWithZooKeeperUpRoutesOnServersetFromTheFirstLine(t *testing.T) {
	zks := zktest.Start(t)
	static, live := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	conn := zktest.Client(t, zks.Addr(), 10*time.Second)
	register(t, conn, zkSS, live)
	for round := range 2 { // a start, then a restart
		r := startRelay(t, zkRelayConfig(zks.Addr(), zkSS, zkDebounce, static.addr))
		c := dial(t, "tcp", r.ListenerAddr("in"))
		for i := range 200 {
			send(t, c, fmt.Sprintf("round%d.key%d 1 1\n", round, i))
		}
		live.waitLines(t, 200*(round+1))
		if n := len(static.got()); n != 0 {
			t.Fatalf("round %d: %d lines went to the static fallback, want 0", round, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = r.Shutdown(ctx)
		cancel()
	}
}

// TestRestartWithZooKeeperDownRoutesOnLastKnownGood: the serverset
// membership is saved in state_dir; a relay restarted while ZooKeeper is
// down routes on it (not on its static servers), says so in /pools, and
// follows ZooKeeper again once it is back.
func TestRestartWithZooKeeperDownRoutesOnLastKnownGood(t *testing.T) {
	zks := zktest.Start(t)
	static, s1, s2 := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	all := []*sink{static, s1, s2}
	conn := zktest.Client(t, zks.Addr(), 10*time.Second)
	register(t, conn, zkSS, s1)
	register(t, conn, zkSS, s2)
	dir := t.TempDir()
	cfgText := fmt.Sprintf("state_dir = %q\n", dir) + strings.Replace(zkRelayConfig(zks.Addr(), zkSS, zkDebounce, static.addr),
		`session_timeout = "10s"`, `session_timeout = "10s"
start_wait = "300ms"`, 1)

	first := startRelay(t, cfgText)
	waitRing(t, first, "first start", addrsOf(s1, s2))
	store, err := discovery.NewStateStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() string { return "membership never saved in state_dir" }, func() bool {
		servers, _, ok, err := store.Load("carbon", zkSS)
		return err == nil && ok && len(servers) == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = first.Shutdown(ctx)
	conn.Close()
	zks.Stop()

	second := startRelay(t, cfgText)
	if got := slices.Sorted(slices.Values(ringOf(second))); !slices.Equal(got, addrsOf(s1, s2)) {
		t.Fatalf("restart with ZooKeeper down: ring %v, want the saved %v", got, addrsOf(s1, s2))
	}
	pm := getPools(t, second).Pools["carbon"]
	for _, m := range pm.Members {
		if m.Source != string(discovery.SourceCache) {
			t.Errorf("/pools member %+v: source %q, want %q", m, m.Source, discovery.SourceCache)
		}
	}
	c := dial(t, "tcp", second.ListenerAddr("in"))
	routeCheck(t, c, all, []*sink{s1, s2}, "saved", 200)
}
