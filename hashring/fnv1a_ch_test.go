package hashring

import (
	"testing"
)

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
