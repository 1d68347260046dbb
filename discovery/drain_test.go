package discovery

import (
	"strings"
	"testing"
)

func TestDrainMarkerName(t *testing.T) {
	for _, tc := range []struct {
		e    Endpoint
		name string
	}{
		{Endpoint{"10.0.0.5", 2003}, "drain-10.0.0.5:2003"},
		{Endpoint{"carbon-1.example.com", 65535}, "drain-carbon-1.example.com:65535"},
		{Endpoint{"::1", 8125}, "drain-[::1]:8125"},
	} {
		if got := DrainMarkerName(tc.e); got != tc.name {
			t.Errorf("DrainMarkerName(%v) = %q, want %q", tc.e, got, tc.name)
		}
		if e, ok := ParseDrainMarkerName(tc.name); !ok || e != tc.e {
			t.Errorf("ParseDrainMarkerName(%q) = %v, %v; want %v", tc.name, e, ok, tc.e)
		}
		if IsMemberName(tc.name) {
			t.Errorf("IsMemberName(%q) = true: readers would take a drain marker for a member", tc.name)
		}
	}
	for _, name := range []string{"member_0000000001", "drain-", "drain-host", "drain-host:0", "drain-host:x", "drained", "vector_1"} {
		if e, ok := ParseDrainMarkerName(name); ok {
			t.Errorf("ParseDrainMarkerName(%q) = %v, true; want not a marker", name, e)
		}
	}
}

func TestParseHostPort(t *testing.T) {
	if e, err := ParseHostPort("[2001:db8::1]:2003"); err != nil || e != (Endpoint{"2001:db8::1", 2003}) {
		t.Errorf("ParseHostPort(IPv6) = %v, %v", e, err)
	}
	for in, want := range map[string]string{
		"host":           "want HOST:PORT",
		"host:abc":       `port "abc" is not a number`,
		"host:0":         "port 0 is not in 1..65535",
		"host:70000":     "port 70000 is not in 1..65535",
		":2003":          "empty host",
		"a:b:c":          "want HOST:PORT",
		"10.0.0.5:-1":    "port -1",
		"10.0.0.5:2003 ": `port "2003 " is not a number`,
	} {
		_, err := ParseHostPort(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseHostPort(%q) = %v; want an error quoting the input and saying %q", in, err, want)
		}
	}
}

// TestMarshalWithStatus: a drained member is byte for byte the member as
// Marshal writes it but for the status, and readers skip it without
// counting it malformed.
func TestMarshalWithStatus(t *testing.T) {
	shard := int32(3)
	d := MemberData{
		ServiceEndpoint:     Endpoint{"10.0.0.5", 2003},
		AdditionalEndpoints: map[string]Endpoint{"admin": {"10.0.0.5", 8080}},
		Shard:               &shard,
		Metadata:            map[string]string{"zone": "a<b"},
	}
	alive, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	drained, err := d.MarshalWithStatus(StatusDrained)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(alive), `"status":"ALIVE"`, `"status":"STOPPING"`, 1)
	if string(drained) != want {
		t.Errorf("MarshalWithStatus = %s\nwant               %s", drained, want)
	}
	pm, err := ParseMember("member_0000000001", drained)
	if err != nil || pm.Alive || pm.Service == nil || *pm.Service != d.ServiceEndpoint {
		t.Fatalf("ParseMember(drained) = %+v, %v; want a parsed, not alive member", pm, err)
	}
	if _, skip := (PoolConfig{}).Select(pm); skip != SkipNotAlive {
		t.Errorf("Select(drained) skip %q, want %q", skip, SkipNotAlive)
	}
	if _, err := (MemberData{}).MarshalWithStatus(StatusDrained); err == nil {
		t.Errorf("MarshalWithStatus of a member without an endpoint succeeded")
	}
}
