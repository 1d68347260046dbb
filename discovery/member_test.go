package discovery

import (
	"strings"
	"testing"
)

func i32(v int32) *int32 { return &v }

func TestMemberMarshalFinagleBytes(t *testing.T) {
	// Bytes captured from serverset.py register --style finagle (Gson-like),
	// see ../shared/zk/README.md §3; Go escapes '<' the same way.
	for _, tc := range []struct {
		in   MemberData
		want string
	}{
		{
			in: MemberData{ServiceEndpoint: Endpoint{"127.0.0.1", 9001},
				AdditionalEndpoints: map[string]Endpoint{"admin": {"127.0.0.1", 9991}}, Shard: i32(0)},
			want: `{"serviceEndpoint":{"host":"127.0.0.1","port":9001},"additionalEndpoints":{"admin":{"host":"127.0.0.1","port":9991}},"status":"ALIVE","shard":0}`,
		},
		{
			in: MemberData{ServiceEndpoint: Endpoint{"127.0.0.1", 7000},
				AdditionalEndpoints: map[string]Endpoint{"http": {"127.0.0.1", 7001}}, Shard: i32(2),
				Metadata: map[string]string{"zone": "a<b"}},
			want: `{"serviceEndpoint":{"host":"127.0.0.1","port":7000},"additionalEndpoints":{"http":{"host":"127.0.0.1","port":7001}},"status":"ALIVE","shard":2,"metadata":{"zone":"a\u003cb"}}`,
		},
		{
			in:   MemberData{ServiceEndpoint: Endpoint{"127.0.0.1", 9003}, Status: "DEAD", Metadata: map[string]string{}},
			want: `{"serviceEndpoint":{"host":"127.0.0.1","port":9003},"additionalEndpoints":{},"status":"ALIVE"}`,
		},
	} {
		got, err := tc.in.Marshal()
		if err != nil || string(got) != tc.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []MemberData{
		{ServiceEndpoint: Endpoint{"", 1}},
		{ServiceEndpoint: Endpoint{"h", 0}},
		{ServiceEndpoint: Endpoint{"h", 1}, AdditionalEndpoints: map[string]Endpoint{"x": {"h", 70000}}},
	} {
		if got, err := bad.Marshal(); err == nil {
			t.Errorf("Marshal(%+v) = %s; want an error", bad, got)
		}
	}
}

func TestIsMemberName(t *testing.T) {
	for name, want := range map[string]bool{
		"member_0000000042": true, "member_-2147483648": true, "member_1": true,
		"member_": false, "vector_0000000001": false, "leader": false, "member_12a": false,
		"_c_0f3a-member_0000000001": false, "member_persistent": false,
	} {
		if got := IsMemberName(name); got != want {
			t.Errorf("IsMemberName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseAndSelect(t *testing.T) {
	finagleDoc := `{"status":"ALIVE",
 "additionalEndpoints":{"http":{"host":"smf1-aaa","port":31623},"aurora":{"host":"smf1-aaa","port":31863}},
 "serviceEndpoint":{"host":"smf1-aaa","port":31623},
 "shard":7}`
	for _, tc := range []struct {
		name, data string
		cfg        PoolConfig
		want       string // Server.String(), or "skip:<reason>", or "error"
	}{
		{name: "finagle doc example", data: finagleDoc, want: "smf1-aaa:31623"},
		{name: "python spacing", data: `{"serviceEndpoint": {"host": "127.0.0.1", "port": 9002}, "additionalEndpoints": {}, "status": "ALIVE"}`, want: "127.0.0.1:9002"},
		{name: "unknown fields ignored", data: `{"serviceEndpoint":{"host":"h","port":1,"inet":"x"},"status":"ALIVE","member_id":3,"extra":[1]}`, want: "h:1"},
		{name: "additional endpoint", data: finagleDoc, cfg: PoolConfig{Endpoint: "aurora"}, want: "smf1-aaa:31863"},
		{name: "missing additional endpoint", data: finagleDoc, cfg: PoolConfig{Endpoint: "thrift"}, want: "skip:no_endpoint"},
		{name: "shard filter match", data: finagleDoc, cfg: PoolConfig{Shard: i32(7)}, want: "smf1-aaa:31623"},
		{name: "shard filter mismatch", data: finagleDoc, cfg: PoolConfig{Shard: i32(6)}, want: "skip:shard_mismatch"},
		{name: "instance from shard", data: finagleDoc, cfg: PoolConfig{InstanceFrom: "shard"}, want: "smf1-aaa:31623=7"},
		{name: "instance from shard, no shard", data: `{"serviceEndpoint":{"host":"h","port":1},"status":"ALIVE"}`, cfg: PoolConfig{InstanceFrom: "shard"}, want: "skip:no_instance"},
		{name: "instance from metadata", data: `{"serviceEndpoint":{"host":"h","port":1},"status":"ALIVE","metadata":{"name":"cache-a"}}`, cfg: PoolConfig{InstanceFrom: "metadata:name"}, want: "h:1=cache-a"},
		{name: "metadata instance with space", data: `{"serviceEndpoint":{"host":"h","port":1},"status":"ALIVE","metadata":{"name":"a b"}}`, cfg: PoolConfig{InstanceFrom: "metadata:name"}, want: "skip:no_instance"},
		{name: "status dead", data: `{"serviceEndpoint":{"host":"h","port":1},"status":"DEAD"}`, want: "skip:not_alive"},
		{name: "status lower case", data: `{"serviceEndpoint":{"host":"h","port":1},"status":"alive"}`, want: "skip:not_alive"},
		{name: "no status", data: `{"serviceEndpoint":{"host":"h","port":1}}`, want: "skip:not_alive"},
		{name: "port as string", data: `{"serviceEndpoint":{"host":"h","port":"8080"},"status":"ALIVE"}`, want: "skip:bad_endpoint"},
		{name: "port float", data: `{"serviceEndpoint":{"host":"h","port":80.0},"status":"ALIVE"}`, want: "skip:bad_endpoint"},
		{name: "port out of range", data: `{"serviceEndpoint":{"host":"h","port":70000},"status":"ALIVE"}`, want: "skip:bad_endpoint"},
		{name: "host not string", data: `{"serviceEndpoint":{"host":1,"port":1},"status":"ALIVE"}`, want: "skip:bad_endpoint"},
		{name: "shard not integer", data: `{"serviceEndpoint":{"host":"h","port":1},"status":"ALIVE","shard":"7"}`, cfg: PoolConfig{InstanceFrom: "shard"}, want: "skip:no_instance"},
		{name: "not json", data: `{"serviceEndpoint":`, want: "error"},
		{name: "json array", data: `[1,2]`, want: "error"},
		{name: "trailing garbage", data: `{"status":"ALIVE"} x`, want: "error"},
		{name: "soh byte", data: "\x01", want: "error"},
		{name: "empty", data: "", want: "error"},
	} {
		pm, err := ParseMember("member_0000000001", []byte(tc.data))
		var got string
		switch {
		case err != nil:
			got = "error"
		default:
			srv, reason := tc.cfg.Select(pm)
			if reason != "" {
				got = "skip:" + string(reason)
			} else {
				got = srv.String()
			}
		}
		if got != tc.want {
			t.Errorf("%s: parse+select of %q with %+v = %q (err %v), want %q", tc.name, tc.data, tc.cfg, got, err, tc.want)
		}
	}
}

func TestParseMemberRoundTrip(t *testing.T) {
	in := MemberData{ServiceEndpoint: Endpoint{"10.0.0.1", 2003},
		AdditionalEndpoints: map[string]Endpoint{"pickle": {"10.0.0.1", 2004}}, Shard: i32(3),
		Metadata: map[string]string{"dc": "x=y'z"}}
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := ParseMember("member_0000000001", b)
	if err != nil || !pm.Alive || *pm.Service != in.ServiceEndpoint || pm.Additional["pickle"] != in.AdditionalEndpoints["pickle"] ||
		*pm.Shard != 3 || pm.Metadata["dc"] != "x=y'z" {
		t.Errorf("ParseMember(%s) = %+v, %v; want the fields of %+v", b, pm, err, in)
	}
}

func FuzzParseMember(f *testing.F) {
	for _, s := range []string{
		`{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":"ALIVE"}`,
		`{"serviceEndpoint":{"host":"h","port":"1"},"status":"ALIVE","shard":1e3}`,
		`{"additionalEndpoints":{"a":null},"metadata":{"k":1}}`, `null`, `"x"`, "\x01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		pm, err := ParseMember("member_0000000001", []byte(data))
		if err != nil {
			return
		}
		for _, cfg := range []PoolConfig{{}, {Endpoint: "a", InstanceFrom: "shard"}, {InstanceFrom: "metadata:k"}} {
			srv, reason := cfg.Select(pm)
			if reason != "" {
				continue
			}
			again, err := ParseServer(srv.String())
			if err != nil || again.ID() != srv.ID() {
				t.Fatalf("member %q gave server %q that does not parse back: %v", data, srv.String(), err)
			}
			if strings.Contains(srv.Host, "/") {
				t.Fatalf("member %q gave host %q", data, srv.Host)
			}
		}
	})
}
