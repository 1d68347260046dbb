package hashring

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
)

// The peers' own public test vectors (research/relays.md §3), with the
// file each comes from.

func hostsMembers(hosts ...string) []Member {
	ms := make([]Member, len(hosts))
	for i, h := range hosts {
		hp, inst, _ := strings.Cut(h, "=")
		host, port, _ := strings.Cut(hp, ":")
		p := 2003
		if port != "" {
			p, _ = strconv.Atoi(port)
		}
		ms[i] = Member{Host: host, Port: p, Instance: inst}
	}
	return ms
}

func mustNew(t *testing.T, cfg Config, members []Member) Ring {
	t.Helper()
	r, err := New(cfg, members)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return r
}

// lookupStrings returns Lookup's members formatted as host:port[=inst].
func lookupStrings(r Ring, members []Member, key string) string {
	var out []string
	for _, i := range r.Lookup([]byte(key), nil) {
		out = append(out, members[i].String())
	}
	return strings.Join(out, ",")
}

// grobian/carbon-c-relay test/issue236.out with issues/issue236.conf: three
// clusters over the same 7 members, replication 2.
func TestVectorsCarbonCRelayIssue236(t *testing.T) {
	members := hostsMembers("127.0.0.1:2003", "127.0.0.2:2004", "127.0.0.3:2005", "127.0.0.4:2006",
		"127.0.0.5:2007", "127.0.0.6:2008", "127.0.0.7:2009")
	tests := []struct {
		hasher, key string
		pos         uint64
		want        string
	}{
		{CarbonCH, "cd85d26b19018dec78e33d44e1477993130267ec79f92abd25ece33fa029bf56", 31587, "127.0.0.5:2007,127.0.0.6:2008"},
		{FNV1aCH, "cd85d26b19018dec78e33d44e1477993130267ec79f92abd25ece33fa029bf56", 27369, "127.0.0.4:2006,127.0.0.3:2005"},
		{JumpFNV1aCH, "cd85d26b19018dec78e33d44e1477993130267ec79f92abd25ece33fa029bf56", 3, "127.0.0.4:2006,127.0.0.5:2007"},
		{CarbonCH, "f802b190bb63b02c2b933fd017b3764f9bceafb351ffaa92f06fed6fa0f9017c", 43312, "127.0.0.5:2007,127.0.0.6:2008"},
		{FNV1aCH, "f802b190bb63b02c2b933fd017b3764f9bceafb351ffaa92f06fed6fa0f9017c", 29168, "127.0.0.3:2005,127.0.0.6:2008"},
		{JumpFNV1aCH, "f802b190bb63b02c2b933fd017b3764f9bceafb351ffaa92f06fed6fa0f9017c", 2, "127.0.0.3:2005,127.0.0.2:2004"},
		{CarbonCH, "45f2add911716502327e88d43d0bc6316507f95212bb16a604b6dc04a851cee8", 10005, "127.0.0.2:2004,127.0.0.3:2005"},
		{FNV1aCH, "45f2add911716502327e88d43d0bc6316507f95212bb16a604b6dc04a851cee8", 5668, "127.0.0.2:2004,127.0.0.1:2003"},
		{JumpFNV1aCH, "45f2add911716502327e88d43d0bc6316507f95212bb16a604b6dc04a851cee8", 4, "127.0.0.5:2007,127.0.0.2:2004"},
	}
	for _, tt := range tests {
		r := mustNew(t, Config{Hasher: tt.hasher, Replication: 2}, members)
		if got := r.Hash([]byte(tt.key)); got != tt.pos {
			t.Errorf("%s Hash(%q) = %d, want %d", tt.hasher, tt.key, got, tt.pos)
		}
		if got := lookupStrings(r, members, tt.key); got != tt.want {
			t.Errorf("%s Lookup(%q) = %s, want %s", tt.hasher, tt.key, got, tt.want)
		}
	}
	// The start of the carbon_ch ring dump in issue236.out, pos@member.
	want := "372@127.0.0.7:2009 461@127.0.0.5:2007 508@127.0.0.4:2006 704@127.0.0.6:2008 708@127.0.0.6:2008 " +
		"724@127.0.0.1:2003 743@127.0.0.7:2009 872@127.0.0.2:2004 1004@127.0.0.3:2005 1054@127.0.0.1:2003 " +
		"1055@127.0.0.3:2005 1247@127.0.0.5:2007"
	r := mustNew(t, Config{Hasher: CarbonCH}, members).(*ccrRing)
	var got []string
	for i := 0; i < 12; i++ {
		got = append(got, fmt.Sprintf("%d@%s", r.pos[i], members[r.owner[i]].String()))
	}
	if g := strings.Join(got, " "); g != want {
		t.Errorf("carbon_ch ring starts\n%s\nwant\n%s", g, want)
	}
}

// grobian/carbon-c-relay issues/issue310.conf + test/issue310.out: jump
// members ordered numerically by instance.
func TestVectorsCarbonCRelayIssue310(t *testing.T) {
	members := hostsMembers("10.1.1.45:2003=9", "10.1.1.40:2003=11", "10.1.1.24:2003=8", "10.1.2.26:2003=2",
		"10.1.2.33:2003=1", "10.1.2.7:2003=5", "10.1.2.9:2003=6", "10.1.2.3:2003=3", "10.1.2.4:2003=4",
		"10.1.2.21:2003=7", "10.1.2.1:2003=0", "10.1.2.39:2003=10")
	r := mustNew(t, Config{Hasher: JumpFNV1aCH}, members).(*jumpRing)
	var got []string
	for _, m := range r.order {
		got = append(got, members[m].Instance)
	}
	if g, want := strings.Join(got, ","), "0,1,2,3,4,5,6,7,8,9,10,11"; g != want {
		t.Errorf("jump order %s, want %s", g, want)
	}
}

// carbon-c-relay 3.7.3's own ring dump (`carbon-c-relay -t -d`) for
// instances its comparator cannot order consistently: all-digit instances
// become C ints ("99999999999999999999" is -1), "+5" and "-5" compare
// numerically, "0x10" by strcmp, and 7 - (-2147483648) overflows int.
func TestJumpOrderNonTransitive(t *testing.T) {
	members := hostsMembers("127.0.0.1:2003=007", "127.0.0.2:2003=99999999999999999999",
		"127.0.0.3:2003=4294967297", "127.0.0.4:2003=2147483648", "127.0.0.5:2003=-5",
		"127.0.0.6:2003=+5", "127.0.0.7:2003=0x10", "127.0.0.8:2003=9223372036854775808")
	r := mustNew(t, Config{Hasher: JumpFNV1aCH}, members).(*jumpRing)
	var got []string
	for _, m := range r.order {
		got = append(got, members[m].Host)
	}
	want := "127.0.0.5,127.0.0.2,127.0.0.8,127.0.0.3,127.0.0.6,127.0.0.7,127.0.0.1,127.0.0.4"
	if g := strings.Join(got, ","); g != want {
		t.Errorf("jump order %s, want %s", g, want)
	}
}

// grobian/carbon-c-relay issues/issue235.conf + test/issue235.out: fnv1a_ch
// with instances a-d repeated on two hosts; the route-using key goes to b
// on 127.0.0.1 (the 127.0.0.2 twins never get anything).
func TestVectorsCarbonCRelayIssue235(t *testing.T) {
	members := hostsMembers("127.0.0.1:2003=a", "127.0.0.1:2004=b", "127.0.0.1:2005=c", "127.0.0.1:2006=d",
		"127.0.0.2:2003=a", "127.0.0.2:2004=b", "127.0.0.2:2005=c", "127.0.0.2:2006=d")
	r := mustNew(t, Config{Hasher: FNV1aCH}, members)
	if got, want := lookupStrings(r, members, "collection.fo.bar.x.blakwklsa.skla"), "127.0.0.1:2004=b"; got != want {
		t.Errorf("Lookup = %s, want %s", got, want)
	}
}

// graphite-project/carbon lib/carbon/tests/test_hashing.py
// ConsistentHashRingTestFNV1A.
func TestVectorsCarbonFNV1a(t *testing.T) {
	members := hostsMembers("127.0.0.1=ba603c36342304ed77953f84ac4d357b",
		"127.0.0.2=5dd63865534f84899c6e5594dba6749a", "127.0.0.3=866a18b81f2dc4649517a1df13e26f28")
	for _, compat := range []string{CompatCarbon, CompatCarbonCRelay} {
		r := mustNew(t, Config{Hasher: FNV1aCH, Compat: compat}, members)
		for key, pos := range map[string]uint64{
			"hosts.worker1.cpu": 59573, "hosts.worker1.load": 57163, "hosts.worker2.cpu": 35749,
			"hosts.worker2.network": 43584, "hosts.worker3.cpu": 12600, "hosts.worker3.irq": 10052,
		} {
			if got := r.Hash([]byte(key)); got != pos {
				t.Errorf("%s Hash(%q) = %d, want %d", compat, key, got, pos)
			}
		}
		for key, host := range map[string]string{
			"hosts.worker1.cpu": "127.0.0.1", "hosts.worker2.cpu": "127.0.0.3",
			"stats.checkout.cluster.padamski-wro.api.v1.payment-initialize.count": "127.0.0.3",
		} {
			if got := members[r.Lookup([]byte(key), nil)[0]].Host; got != host {
				t.Errorf("%s Lookup(%q) = %s, want %s", compat, key, got, host)
			}
		}
	}
}

// grafana/carbon-relay-ng route/consistent_hashing_test.go
// computeRingPosition (the carbon_ch position of a key).
func TestVectorsCarbonRelayNG(t *testing.T) {
	r := mustNew(t, Config{Hasher: CarbonCH}, hostsMembers("10.0.0.1"))
	for key, pos := range map[string]uint64{"a.b.c.d": 54437, "": 54301} {
		if got := r.Hash([]byte(key)); got != pos {
			t.Errorf("Hash(%q) = %d, want %d", key, got, pos)
		}
	}
}

// go-graphite/buckytools hashing/hashing_test.go, fnv1a_test.go,
// jump_test.go (carbon 0.9 / carbon-c-relay semantics).
func TestVectorsBuckytools(t *testing.T) {
	var hosts []string
	for i := 10; i <= 18; i++ {
		hosts = append(hosts, fmt.Sprintf("graphite%03d-g5", i))
	}
	for i := 19; i <= 22; i++ {
		hosts = append(hosts, fmt.Sprintf("graphite-data%03d-g5", i))
	}
	var abc []string
	for _, h := range hosts {
		for _, inst := range []string{"a", "b", "c"} {
			abc = append(abc, h+"="+inst)
		}
	}
	members := hostsMembers(abc...)
	ccr := mustNew(t, Config{Hasher: CarbonCH}, members)
	py := mustNew(t, Config{Hasher: CarbonCH, Compat: CompatCarbon}, members)
	for _, tt := range []struct{ key, want09, want1x string }{
		{"1sec.mysql.db109-shard7-g5.4417.Com_help", "graphite015-g5:2003=a", "graphite015-g5:2003=a"},
		{"10min.sar.disk_stats.app-test-57164838110fc9dc.sda.wr_sec", "graphite010-g5:2003=a", "graphite010-g5:2003=a"},
		// replica 5 of (graphite015-g5, c) and 28 of (graphite-data020-g5, b)
		// both land on 8741; carbon >= 1.0 bumps the later one to 8742.
		{"1min.statsd.prod.intercom.corporate.challenge.participation.count_95", "graphite-data020-g5:2003=b", "graphite015-g5:2003=c"},
		{"10min.sar.disk_stats.db047-shard35-g4.sda.rd_sec", "graphite010-g5:2003=a", "graphite010-g5:2003=a"},
	} {
		if got := lookupStrings(ccr, members, tt.key); got != tt.want09 {
			t.Errorf("carbon-c-relay Lookup(%q) = %s, want %s", tt.key, got, tt.want09)
		}
		if got := lookupStrings(py, members, tt.key); got != tt.want1x {
			t.Errorf("carbon Lookup(%q) = %s, want %s", tt.key, got, tt.want1x)
		}
	}

	empty := hostsMembers("test01", "test02")
	for _, compat := range []string{CompatCarbonCRelay, CompatCarbon} {
		r := mustNew(t, Config{Hasher: CarbonCH, Compat: compat}, empty)
		for key, want := range map[string]string{"statsd.disk.free1": "test02", "statsd.disk.free2": "test02", "statsd.disk.free3": "test01"} {
			if got := empty[r.Lookup([]byte(key), nil)[0]].Host; got != want {
				t.Errorf("%s Lookup(%q) = %s, want %s", compat, key, got, want)
			}
		}
	}

	var jumpHosts []string
	for i := 10; i <= 18; i++ {
		jumpHosts = append(jumpHosts, fmt.Sprintf("graphite%03d-g5", i))
	}
	for i := 19; i <= 54; i++ {
		jumpHosts = append(jumpHosts, fmt.Sprintf("graphite-data%03d-g5", i))
	}
	jm := hostsMembers(jumpHosts...)
	jr := mustNew(t, Config{Hasher: JumpFNV1aCH}, jm)
	for key, want := range map[string]string{
		"foobar":                             "graphite-data043-g5",
		"suebob.foo.honey.i.shrunk.the.kids": "graphite-data048-g5",
		"5min.prod.dc06.graphite-web006-g6.kernel.net.netfilter.nf_conntrack_max": "graphite014-g5",
	} {
		if got := jm[jr.Lookup([]byte(key), nil)[0]].Host; got != want {
			t.Errorf("jump Lookup(%q) = %s, want %s", key, got, want)
		}
	}
}

func TestVectorsFNV(t *testing.T) {
	// research/relays.md §2.4: carbon-c-relay's fnv1a.h compiled on x86.
	if got := fnv1a32SignExt([]byte("métrique.x")); got != 2747538072 {
		t.Errorf("fnv1a32SignExt(métrique.x) = %d, want 2747538072", got)
	}
	if got := fnv1a32([]byte("métrique.x")); got != 2180294808 {
		t.Errorf("fnv1a32(métrique.x) = %d, want 2180294808", got)
	}
	// buckytools hashing/fnv1a_test.go, jump_test.go.
	for key, want := range map[string]uint32{
		"252113b5-a6c4-4661-8007-a583d6aa7130": 0xbe564b20,
		"0aac2773-f766-478e-867f-ba4cca94e524": 0x15a526a8,
		"6fdcba3a-dc5b-419b-a2bc-b4670b8e85fd": 0xbf5bd512,
	} {
		if got := fnv1a32SignExt([]byte(key)); got != want {
			t.Errorf("fnv1a32(%q) = %#x, want %#x", key, got, want)
		}
	}
	for key, want := range map[string]uint64{
		"foobar":  0x85944171f73967e8,
		"changed": 0xdf38879af614707b,
		"5min.prod.dc06.graphite-web006-g6.kernel.net.netfilter.nf_conntrack_max": 0xdb7b58ef171eee9f,
	} {
		if got := fnv1a64SignExt([]byte(key)); got != want {
			t.Errorf("fnv1a64(%q) = %#x, want %#x", key, got, want)
		}
	}
	// The unsigned variants are Go's hash/fnv.
	for _, key := range []string{"", "a", "métrique.x", "\xff\x80\x00", "日本.東京"} {
		h32, h64 := fnv.New32a(), fnv.New64a()
		h32.Write([]byte(key))
		h64.Write([]byte(key))
		if got, want := fnv1a32([]byte(key)), h32.Sum32(); got != want {
			t.Errorf("fnv1a32(%q) = %#x, hash/fnv says %#x", key, got, want)
		}
		if got, want := fnv1a64([]byte(key)), h64.Sum64(); got != want {
			t.Errorf("fnv1a64(%q) = %#x, hash/fnv says %#x", key, got, want)
		}
	}
}

func TestVectorsMurmur3(t *testing.T) {
	// mmh3's documentation (carbon's mmh3_ch calls mmh3.hash).
	for key, want := range map[string]int64{"foo": -156908512, "hello": 613153351} {
		if got := mmh3Pos([]byte(key)); got != want {
			t.Errorf("mmh3.hash(%q) = %d, want %d", key, got, want)
		}
	}
	// uber/statsrelay src/tests/test_hashlib.c; lyft/statsrelay shard.rs.
	for key, want := range map[string]uint32{"apple": 2699884538, "banana": 558421143, "orange": 2279140812, "lemon": 4183924513, "foo.bar": 1517005122} {
		if got := murmur3x86_32([]byte(key), statsrelaySeed); got != want {
			t.Errorf("murmur3(%q, 0xaccd3d34) = %d, want %d", key, got, want)
		}
	}
	// uber/statsrelay src/tests/test_hashring.c with hashring1.txt and
	// hashring2.txt (the first map repeats members: virtual shards).
	ring1 := hostsMembers("127.0.0.1:9000", "127.0.0.1:9000", "127.0.0.1:9001", "127.0.0.1:9001")
	ring2 := hostsMembers("127.0.0.1:9000", "127.0.0.1:9002", "127.0.0.1:9001", "127.0.0.1:9003")
	r1 := mustNew(t, Config{Hasher: Murmur3Shard}, ring1)
	r2 := mustNew(t, Config{Hasher: Murmur3Shard}, ring2)
	for _, tt := range []struct {
		key          string
		shard1       int
		port1, port2 int
	}{
		{"apple", 2, 9001, 9001}, {"banana", 3, 9001, 9003}, {"orange", 0, 9000, 9000}, {"lemon", 1, 9000, 9002},
	} {
		got1 := r1.Lookup([]byte(tt.key), nil)[0]
		got2 := r2.Lookup([]byte(tt.key), nil)[0]
		if got1 != tt.shard1 || ring1[got1].Port != tt.port1 || ring2[got2].Port != tt.port2 {
			t.Errorf("%s: shard %d (port %d), then port %d; want shard %d (port %d), then port %d",
				tt.key, got1, ring1[got1].Port, ring2[got2].Port, tt.shard1, tt.port1, tt.port2)
		}
	}
}

// 3rd-Eden/node-hashring tests/api.test.js and statsd's
// exampleProxyConfig.js nodes (research/relays.md §3.4).
func TestVectorsStatsd(t *testing.T) {
	if got := statsdHash([]byte("test")); got != 3446378249 {
		t.Errorf("hashValue(test) = %d, want 3446378249", got)
	}
	if got := statsdHash([]byte("VDEAAAAA")); got != 0xfffcd1b5 {
		t.Errorf("hashValue(VDEAAAAA) = %#x, want 0xfffcd1b5", got)
	}
	for n, want := range map[int]int{1: 40, 3: 40, 6: 40, 7: 39, 8: 40, 14: 39, 28: 39, 49: 39, 56: 39, 98: 39, 103: 39} {
		if got := statsdPoints(n); got != want {
			t.Errorf("points per node for %d nodes = %d, want %d", n, got, want)
		}
	}
	example := hostsMembers("127.0.0.1:8127", "127.0.0.1:8129", "127.0.0.1:8131")
	r := mustNew(t, Config{Hasher: Statsd}, example)
	if got := r.Hash([]byte("foo")); got != 3675831724 {
		t.Errorf("Hash(foo) = %d, want 3675831724", got)
	}
	if got := r.Hash([]byte("foo.bar")); got != 8517892 {
		t.Errorf("Hash(foo.bar) = %d, want 8517892", got)
	}
	for key, port := range map[string]int{"foo": 8127, "foo.bar": 8129, "gorets": 8127, "glork": 8129,
		"stats.counter.a": 8131, "a.b.c.d": 8129, "test": 8127, "gorets:1|c": 8127} {
		if got := example[r.Lookup([]byte(key), nil)[0]].Port; got != port {
			t.Errorf("Lookup(%q) = :%d, want :%d", key, got, port)
		}
	}
	seven := hostsMembers("10.0.0.1:8125", "10.0.0.2:8125", "10.0.0.3:8125", "10.0.0.4:8125",
		"10.0.0.5:8125", "10.0.0.6:8125", "10.0.0.7:8125")
	r7 := mustNew(t, Config{Hasher: Statsd}, seven)
	if got := len(r7.(*statsdRing).points); got != 273 {
		t.Errorf("7-node ring has %d points, want 273", got)
	}
	for key, host := range map[string]string{"foo": "10.0.0.6", "foo.bar": "10.0.0.5", "gorets": "10.0.0.4", "glork": "10.0.0.5"} {
		if got := seven[r7.Lookup([]byte(key), nil)[0]].Host; got != host {
			t.Errorf("7 nodes: Lookup(%q) = %s, want %s", key, got, host)
		}
	}
}

// proxy.js decodes packets as UTF-8, so invalid bytes reach md5 as U+FFFD.
// Hash values printed by npm hashring 3.2.0 (node 20) for
// ring.hashValue(Buffer.from(HEX, 'hex').toString().split(':')[0]) on the
// exampleProxyConfig ring, and the node ring.get returned.
func TestStatsdInvalidUTF8(t *testing.T) {
	members := hostsMembers("127.0.0.1:8127", "127.0.0.1:8129", "127.0.0.1:8131")
	r := mustNew(t, Config{Hasher: Statsd}, members)
	for _, tt := range []struct {
		hex  string
		hash uint64
		port int
	}{
		{"61e28262", 17130751, 8129},
		{"ff", 1083209115, 8127},
		{"eda080", 3995056446, 8129},
		{"f09f94", 1083209115, 8127},
		{"c0af", 1716192030, 8127},
		{"612e62ff3a31", 3973123197, 8129},
		{"e282", 1083209115, 8127},
	} {
		key, _ := hex.DecodeString(tt.hex)
		if got := r.Hash(key); got != tt.hash {
			t.Errorf("Hash(%x) = %d, want %d", key, got, tt.hash)
		}
		if got := members[r.Lookup(key, nil)[0]].Port; got != tt.port {
			t.Errorf("Lookup(%x) = :%d, want :%d", key, got, tt.port)
		}
	}
}
