package discovery

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ringrelay/internal/testnet"
)

func TestHealthRiseFall(t *testing.T) {
	for _, tc := range []struct {
		rise, fall int
		results    string // p = pass, f = fail
		want       string // state after each: H or u
	}{
		{rise: 2, fall: 3, results: "ppfffpfpp", want: "uHHHuuuuH"},
		{rise: 1, fall: 1, results: "pfpf", want: "HuHu"},
		{rise: 2, fall: 2, results: "pfpfpp", want: "uuuuuH"},
		{rise: 3, fall: 1, results: "pppfpp", want: "uuHuuu"},
	} {
		h := Health{Rise: tc.rise, Fall: tc.fall}
		var got strings.Builder
		for _, r := range tc.results {
			healthy, _ := h.Observe(r == 'p')
			got.WriteByte(map[bool]byte{true: 'H', false: 'u'}[healthy])
		}
		if got.String() != tc.want {
			t.Errorf("rise=%d fall=%d results %q: states %q, want %q", tc.rise, tc.fall, tc.results, got.String(), tc.want)
		}
	}
}

func TestChecks(t *testing.T) {
	l := testnet.AcceptingListener(t)
	closedTCP := listenAndClose(t, "tcp")
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	closedUDP := listenAndClose(t, "udp")
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer hs.Close()
	for _, tc := range []struct {
		spec string
		ok   bool
	}{
		{"tcp://" + l.Addr().String(), true},
		{"tcp://" + closedTCP, false},
		{"udp://" + udp.LocalAddr().String(), true},
		{"udp://" + closedUDP, false},
		{hs.URL + "/health", true},
		{hs.URL + "/other", false},
		{"exec:true", true},
		{"exec:exit 3", false},
		{"exec:sleep 5", false}, // killed at the deadline
	} {
		c, err := ParseCheck(tc.spec)
		if err != nil {
			t.Fatalf("ParseCheck(%q): %v", tc.spec, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err = c.Check(ctx)
		cancel()
		if took := time.Since(start); took > 3*time.Second { // well below the 5s sleep, with room for a loaded machine
			t.Errorf("check %q took %v, beyond its 300ms deadline", tc.spec, took)
		}
		if (err == nil) != tc.ok {
			t.Errorf("check %q = %v, want ok=%v", tc.spec, err, tc.ok)
		}
	}
	for _, bad := range []string{"", "tcp://nohost", "ftp://h:1", "exec:", "http://"} {
		if _, err := ParseCheck(bad); err == nil {
			t.Errorf("ParseCheck(%q) succeeded, want an error", bad)
		}
	}
}

func listenAndClose(t *testing.T, network string) string {
	t.Helper()
	var addr string
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr().String()
		c.Close()
	} else {
		c, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.Addr().String()
		c.Close()
	}
	return addr
}
