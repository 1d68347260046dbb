package hashring

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

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

// carbon-c-relay gives a member that shares host and instance with an

// earlier one no points; its replica walk would spin forever looking for

// it. We stop at the members that own points.

func TestCarbonCRelayStarvedMember(t *testing.T) {
	members := hostsMembers("127.0.0.1:2003", "127.0.0.1:2004")
	r := mustNew(t, Config{Hasher: CarbonCH, Replication: 2}, members)
	for _, k := range []string{"a", "b", "foo.bar"} {
		if got := r.Lookup([]byte(k), nil); len(got) != 1 || got[0] != 0 {
			t.Errorf("Lookup(%q) = %v, want [0] (the second member has no points)", k, got)
		}
	}
}

// carbon's DIVERSE_REPLICAS replicates across hosts: two members on one

// host give one destination, whatever the replication.

func TestCarbonDiverseReplicas(t *testing.T) {
	members := hostsMembers("10.0.0.1:2003=a", "10.0.0.1:2004=b", "10.0.0.2:2003=c")
	off := false
	div := mustNew(t, Config{Hasher: CarbonCH, Compat: CompatCarbon, Replication: 3}, members)
	flat := mustNew(t, Config{Hasher: CarbonCH, Compat: CompatCarbon, Replication: 3, DiverseReplicas: &off}, members)
	for _, k := range []string{"a", "b", "foo.bar", "x.y.z"} {
		if got := div.Lookup([]byte(k), nil); len(got) != 2 || members[got[0]].Host == members[got[1]].Host {
			t.Errorf("diverse Lookup(%q) = %v, want one member per host", k, got)
		}
		if got := flat.Lookup([]byte(k), nil); len(got) != 3 {
			t.Errorf("non-diverse Lookup(%q) = %v, want all 3", k, got)
		}
	}
}

func TestCCRInstance(t *testing.T) {
	// What carbon-c-relay 3.7.3 prints back for these instances (-t -d).
	for in, want := range map[string]string{
		"": "", "a": "a", "007": "7", "7a": "7a", "0": "0", "-5": "-5", "+5": "+5", "0x10": "0x10",
		"99999999999999999999": "-1", "4294967297": "1", "2147483648": "-2147483648", "9223372036854775808": "-1",
	} {
		if got := ccrInstance(in); got != want {
			t.Errorf("ccrInstance(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPyStrRepr(t *testing.T) {
	for in, want := range map[string]string{
		"a": `'a'`, "it's": `"it's"`, `a'b"c`: `'a\'b"c'`, `back\slash`: `'back\\slash'`,
		"tab\t": `'tab\t'`, "\x01": `'\x01'`, "é": `'é'`, "\u00a0": `'\xa0'`, "\u200b": `'\u200b'`,
	} {
		if got := string(pyStrRepr(nil, in)); got != want {
			t.Errorf("pyStrRepr(%q) = %s, want %s", in, got, want)
		}
	}
}

// freePositions must hand out exactly what carbon's "+1 until free" loop

// does, in insertion order, for dense and sparse tables alike.

func TestFreePositions(t *testing.T) {
	for _, kind := range []pyKind{pyCarbon, pyMMH3} {
		f := newFreePositions(kind, 5000)
		naive := map[int64]bool{}
		seed := uint64(7)
		for i := 0; i < 5000; i++ {
			seed = seed*6364136223846793005 + 1442695040888963407
			p := int64(seed>>33) % 3000 // crowded: long chains
			if kind == pyMMH3 {
				p -= 1500
			}
			want := p
			for naive[want] {
				want++
			}
			naive[want] = true
			if got := f.take(p); got != want {
				t.Fatalf("kind %d: take(%d) #%d = %d, want %d", kind, p, i, got, want)
			}
		}
	}
}

// TestCCRStartTableMatchesSearch pins the position table Lookup uses to the
// binary search it replaces, for every position.
func TestCCRStartTableMatchesSearch(t *testing.T) {
	for _, n := range []int{1, 7, 300} {
		members := make([]Member, n)
		for i := range members {
			members[i] = Member{Host: fmt.Sprintf("10.0.%d.%d", i/250, i%250), Port: 2003}
		}
		ring, err := New(Config{Hasher: CarbonCH}, members)
		if err != nil {
			t.Fatal(err)
		}
		r := ring.(*ccrRing)
		if r.start == nil {
			t.Fatalf("%d members: no start table", n)
		}
		for p := 0; p < 1<<16; p++ {
			want := sort.Search(len(r.pos), func(i int) bool { return int(r.pos[i]) >= p })
			if got := int(r.start[p]); got != want {
				t.Fatalf("%d members, position %d: table says entry %d, search %d", n, p, got, want)
			}
		}
	}
}
