package proxy

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"ringrelay/discovery"
	"ringrelay/hashring"
	"ringrelay/internal/zktest"
)

// Virtual shards (issue #12): a murmur3_shard pool is a statsrelay shard
// map, where a backend listed k times owns k shards and keeps one
// connection and one queue.

const hashringTestdata = "../hashring/testdata/"

// TestVirtualShardsConfig: only murmur3_shard accepts a repeated server, and
// a refused repeat is reported once, as the cause ("listed twice"), not also
// as its consequence ("neither servers nor a serverset").
func TestVirtualShardsConfig(t *testing.T) {
	pool := func(hasher string) string {
		return adminAndListener + poolTOML("carbon", hasher, 1, "127.0.2.1:2003", "127.0.2.2:2003", "127.0.2.1:2003")
	}
	cfg, err := LoadConfig([]byte(pool(hashring.Murmur3Shard)))
	if err != nil {
		t.Fatalf("murmur3_shard with a repeated server: %v", err)
	}
	if got := len(cfg.Pools["carbon"].Servers); got != 3 {
		t.Errorf("murmur3_shard pool keeps %d servers, want all 3 entries", got)
	}
	for _, h := range hashring.Hashers() {
		if h == hashring.Murmur3Shard {
			continue
		}
		_, err := LoadConfig([]byte(pool(h)))
		if err == nil {
			t.Errorf("hasher %s: a repeated server was accepted", h)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `pools.carbon.servers: server "127.0.2.1:2003" is listed twice`) {
			t.Errorf("hasher %s: error %q does not name the repeated server", h, msg)
		}
		if strings.Contains(msg, "neither servers nor a serverset") {
			t.Errorf("hasher %s: error %q also reports the consequence of the repeat", h, msg)
		}
	}
}

// TestRouteMatchesStathasher feeds every key of the hashring golden key
// list through `relay route` over statsrelay shard maps with repeated
// entries and expects the server statsrelay's own stathasher printed
// (hashring/testdata/statsrelay.sh): the whole routing path, not only the
// ring, places names as statsrelay does.
func TestRouteMatchesStathasher(t *testing.T) {
	keys := gzipLines(t, hashringTestdata+"keys.txt.gz")
	for _, list := range []string{"hashring1", "v3x8", "v3x8-moved", "v7x40"} {
		t.Run(list, func(t *testing.T) {
			want := gzipLines(t, hashringTestdata+"golden/murmur3_shard.statsrelay."+list+".r1.gz")
			members := serversFile(t, hashringTestdata+"servers/"+list+".txt")
			checkRoute(t, poolTOML("carbon", hashring.Murmur3Shard, 1, members...), keys, want, "stathasher")
		})
	}
}

// plainKey matches the golden keys a graphite line carries verbatim.
var plainKey = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// TestVirtualShardsLive sends real lines through a relay whose pool is the
// v3x8 shard map (3 backends as 8 shards) with each backend replaced by a
// loopback sink: every line reaches the backend stathasher chose, and each
// backend has one connection and one queue, however many shards it owns.
func TestVirtualShardsLive(t *testing.T) {
	keys := gzipLines(t, hashringTestdata+"keys.txt.gz")
	want := gzipLines(t, hashringTestdata+"golden/murmur3_shard.statsrelay.v3x8.r1.gz")
	shardMap := serversFile(t, hashringTestdata+"servers/v3x8.txt")
	sinks := map[string]*sink{} // shard map server -> its stand-in
	var servers []string
	for _, s := range shardMap {
		if sinks[s] == nil {
			sinks[s] = startSink(t, "127.0.0.1:0")
		}
		servers = append(servers, sinks[s].addr)
	}
	r := startRelay(t, adminAndListener+poolTOML("carbon", hashring.Murmur3Shard, 1, servers...))

	wantLines := map[*sink][]string{}
	var b strings.Builder
	for i, k := range keys {
		if !plainKey.MatchString(k) {
			continue
		}
		ln := fmt.Sprintf("%s %d 1732236000", k, i)
		b.WriteString(ln + "\n")
		wantLines[sinks[want[i]]] = append(wantLines[sinks[want[i]]], ln)
	}
	send(t, dial(t, "tcp", r.ListenerAddr("in")), b.String())
	for server, s := range sinks {
		if len(wantLines[s]) < 100 {
			t.Fatalf("test setup: only %d keys go to %s", len(wantLines[s]), server)
		}
		got := s.waitLines(t, len(wantLines[s]))
		if strings.Join(got, "\n") != strings.Join(wantLines[s], "\n") {
			t.Errorf("%s (%s): got %d lines, want %d (in order)\n got: %.300s\nwant: %.300s",
				server, s.addr, len(got), len(wantLines[s]), quoteList(got), quoteList(wantLines[s]))
		}
		s.mu.Lock()
		conns := len(s.conns)
		s.mu.Unlock()
		if conns != 1 {
			t.Errorf("%s (%s) owns %d shards and got %d connections, want 1", server, s.addr, strings.Count(strings.Join(shardMap, "\n"), server), conns)
		}
	}
	st := r.Pool("carbon").stats()
	if st.Members != 8 || len(st.Backends) != 3 {
		t.Errorf("/stats: %d members and %d backends, want 8 shards over 3 backends", st.Members, len(st.Backends))
	}
}

// registerShard announces s as a serverset member of ss with shard n.
func registerShard(t *testing.T, conn *zk.Conn, ss string, s *sink, n int) string {
	t.Helper()
	host, port, _ := strings.Cut(s.addr, ":")
	for p := ""; p != ss; {
		next, _, _ := strings.Cut(strings.TrimPrefix(ss, p+"/"), "/")
		p += "/" + next
		if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && err != zk.ErrNodeExists {
			t.Fatalf("failed to create %q: %v", p, err)
		}
	}
	data := fmt.Sprintf(`{"serviceEndpoint":{"host":%q,"port":%s},"additionalEndpoints":{},"status":"ALIVE","shard":%d}`, host, port, n)
	name, err := conn.Create(path.Join(ss, discovery.MemberPrefix), []byte(data), zk.FlagEphemeralSequential, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatalf("failed to register %s shard %d under %q: %v", s.addr, n, ss, err)
	}
	return name
}

// TestVirtualShardsServerset: a statsrelay-style shard map from a
// serverset (docs/virtual-shards.md). Each backend registers one member per
// shard it owns, with "shard": N, and the pool maps instance_from =
// "shard": the ring is the members in shard order, a backend keeps one
// connection for all its shards, and a shard that leaves leaves alone.
func TestVirtualShardsServerset(t *testing.T) {
	zks := zktest.Start(t)
	a, b := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	const ss = "/discovery/test/statsd"
	cfg := adminAndListener + fmt.Sprintf("[zookeeper]\nservers = [%q]\nsession_timeout = \"10s\"\n", zks.Addr()) +
		poolTOML("carbon", hashring.Murmur3Shard, 1) +
		fmt.Sprintf("serverset = %q\ndebounce = \"50ms\"\ninstance_from = \"shard\"\n", ss)
	conn := zktest.Client(t, zks.Addr(), 10*time.Second)
	owners := []*sink{a, b, a, b} // shard i -> backend
	nodes := make([]string, len(owners))
	for i, s := range owners {
		nodes[i] = registerShard(t, conn, ss, s, i)
	}
	r := startRelay(t, cfg)
	shardRing := func(owners ...*sink) []string {
		var out []string
		for i, s := range owners {
			if s != nil {
				out = append(out, fmt.Sprintf("%s=%d", s.addr, i))
			}
		}
		return out
	}
	waitShards(t, r, shardRing(owners...))
	checkShardRouting(t, r, []*sink{a, b}, owners, "four")

	// Shard 2 leaves: the ring is shards 0, 1, 3; a keeps shard 0.
	if err := conn.Delete(nodes[2], -1); err != nil {
		t.Fatal(err)
	}
	owners[2] = nil
	waitShards(t, r, shardRing(owners...))
	checkShardRouting(t, r, []*sink{a, b}, owners, "three")
	for _, s := range []*sink{a, b} {
		s.mu.Lock()
		conns := len(s.conns)
		s.mu.Unlock()
		if conns != 1 {
			t.Errorf("%s got %d connections over its shards, want 1", s.addr, conns)
		}
	}
}

// waitShards polls until the pool's ring is want, in order (shard order).
func waitShards(t *testing.T, r *Relay, want []string) {
	t.Helper()
	deadline := time.Now().Add(zkWait)
	for !slices.Equal(ringOf(r), want) {
		if time.Now().After(deadline) {
			t.Fatalf("ring is %v after %v, want %v", ringOf(r), zkWait, want)
		}
		time.Sleep(2 * time.Millisecond) // polling: a rebuild has no event a test can wait on
	}
}

// checkShardRouting sends lines and checks each reaches the owner of the
// shard murmur3_shard picks over the ring's shards (nil owners: absent).
func checkShardRouting(t *testing.T, r *Relay, all []*sink, owners []*sink, prefix string) {
	t.Helper()
	var ring []*sink
	var members []hashring.Member
	for i, s := range owners {
		if s != nil {
			ring = append(ring, s)
			members = append(members, hashring.Member{Host: "127.0.0.1", Port: i + 1, Instance: fmt.Sprint(i)})
		}
	}
	hr, err := hashring.New(hashring.Config{Hasher: hashring.Murmur3Shard}, members)
	if err != nil {
		t.Fatal(err)
	}
	base := map[*sink]int{}
	for _, s := range all {
		base[s] = len(s.got())
	}
	want := map[*sink][]string{}
	var b strings.Builder
	for i := range 200 {
		key := fmt.Sprintf("%s.host-%03d.requests", prefix, i)
		ln := fmt.Sprintf("%s %d 1732236000", key, i)
		b.WriteString(ln + "\n")
		s := ring[hr.Lookup([]byte(key), nil)[0]]
		want[s] = append(want[s], ln)
	}
	send(t, dial(t, "tcp", r.ListenerAddr("in")), b.String())
	for _, s := range all {
		got := s.waitLines(t, base[s]+len(want[s]))[base[s]:]
		if strings.Join(got, "\n") != strings.Join(want[s], "\n") {
			t.Errorf("%s: %s got %d lines, want %d (in order)\n got: %.300s\nwant: %.300s",
				prefix, s.addr, len(got), len(want[s]), quoteList(got), quoteList(want[s]))
		}
	}
}

// TestVirtualShardsReload: a reload that turns a pool into a shard map
// with a repeated server gets every entry on the ring, one backend per
// server.
func TestVirtualShardsReload(t *testing.T) {
	a, b := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	r := startRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", 1, a.addr, b.addr))
	cfg := loadConfigT(t, adminAndListener+poolTOML("carbon", hashring.Murmur3Shard, 1, a.addr, b.addr, a.addr))
	cfg.Admin = r.router.Load().cfg.Admin
	cfg.Listeners = r.router.Load().cfg.Listeners
	if _, err := r.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	want := []string{a.addr, b.addr, a.addr}
	if got := ringOf(r); !slices.Equal(got, want) {
		t.Errorf("ring after the reload %v, want the shard map %v", got, want)
	}
	if n := len(r.Pool("carbon").state.Load().distinctBackends()); n != 2 {
		t.Errorf("%d backends, want 2", n)
	}
}
