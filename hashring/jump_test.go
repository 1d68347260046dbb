package hashring

import (
	"strings"
	"testing"
)

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

// carbon-c-relay's jump_fnv1a_ch: only removing the last member is

// consistent; removing any other reorders the bucket list and moves most

// keys, as its man page warns.

func TestJumpRemove(t *testing.T) {
	keys := propKeys(t, 3000)
	for _, n := range []int{3, 8, 20} {
		members := propMembers(n, false)
		if lost, extra, ex := moves(t, Config{Hasher: JumpFNV1aCH}, members, n-1, keys); lost == 0 || extra != 0 {
			t.Errorf("n=%d remove last: lost %d, %d other keys moved (e.g. %q); want only the last member's", n, lost, extra, ex)
		}
		_, extra, _ := moves(t, Config{Hasher: JumpFNV1aCH}, members, 0, keys)
		if extra < len(keys)/4 {
			t.Errorf("n=%d remove first: %d of %d other keys moved; carbon-c-relay moves most of them", n, extra, len(keys))
		}
	}
	// With numeric instances the list is sorted by instance: removing the
	// highest instance is the consistent removal, wherever it is listed.
	members := propMembers(8, true)
	members[2].Instance, members[7].Instance = members[7].Instance, members[2].Instance
	if lost, extra, _ := moves(t, Config{Hasher: JumpFNV1aCH}, members, 2, keys); lost == 0 || extra != 0 {
		t.Errorf("remove highest instance: lost %d, %d other keys moved; want only its keys", lost, extra)
	}
}
