package discovery

import (
	"strings"
	"testing"
)

func TestParseServer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Server
		err  string
	}{
		{in: "127.0.2.1:2003=a", want: Server{Proto: "tcp", Host: "127.0.2.1", Port: 2003, Instance: "a"}},
		{in: "tcp://127.0.2.2:2003", want: Server{Proto: "tcp", Host: "127.0.2.2", Port: 2003}},
		{in: "udp://carbon-1:8125", want: Server{Proto: "udp", Host: "carbon-1", Port: 8125}},
		{in: "[::1]:2003=x", want: Server{Proto: "tcp", Host: "::1", Port: 2003, Instance: "x"}},
		{in: "unix:///run/carbon.sock=b", want: Server{Proto: "unix", Host: "/run/carbon.sock", Instance: "b"}},
		{in: "127.0.0.1", err: "want host:port"},
		{in: "127.0.0.1:0", err: "not in 1..65535"},
		{in: "127.0.0.1:70000", err: "not in 1..65535"},
		{in: "127.0.0.1:2003=", err: "empty instance"},
		{in: "http://h:1", err: "unknown protocol"},
		{in: ":2003", err: "bad host"},
		{in: "unix://", err: "want unix:///path"},
	} {
		got, err := ParseServer(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseServer(%q) error = %v, want it to contain %q", tc.in, err, tc.err)
			}
			continue
		}
		tc.want.Raw = tc.in
		if err != nil || got != tc.want {
			t.Errorf("ParseServer(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		again, err := ParseServer(got.String())
		if err != nil || again.ID() != got.ID() {
			t.Errorf("ParseServer(%q).String() = %q does not round-trip: %+v, %v", tc.in, got.String(), again, err)
		}
	}
}

func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"127.0.0.1:2003", "tcp://h:1=a", "udp://[::1]:9", "unix:///x=y", "h:", "=", "tcp://", ":::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		srv, err := ParseServer(s)
		if err != nil {
			return
		}
		again, err := ParseServer(srv.String())
		if err != nil {
			t.Fatalf("ParseServer(%q) ok, but its String %q fails: %v", s, srv.String(), err)
		}
		if again.ID() != srv.ID() {
			t.Fatalf("round trip of %q: ID %q != %q", s, again.ID(), srv.ID())
		}
	})
}
