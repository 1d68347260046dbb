package proxy

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ringrelay/discovery"
)

// TestAddServerRefusesMembersTheRingRefuses: /addserver with a member the
// pool's ring cannot take (carbon's fnv1a_ch needs an instance; two members
// with one carbon identity) answers 400 with the reason and leaves the
// membership alone. Accepted, it would sit in the HTTP overlay and make every
// later rebuild fail, freezing the ring on whatever it was.
func TestAddServerRefusesMembersTheRingRefuses(t *testing.T) {
	a := startSink(t, "127.0.0.1:0")
	b := startSink(t, "127.0.0.1:0")
	cfg := adminAndListener + poolTOML("carbon", "fnv1a_ch", 1, a.addr+"=a", b.addr+"=b") + "compat = \"carbon\"\n"
	r := startRelay(t, cfg)
	base := "http://" + r.AdminAddr().String()
	p := r.Pool("carbon")
	for _, tc := range []struct {
		form     url.Values
		wantBody string
	}{
		{url.Values{"server": {"127.0.0.1:9"}}, "instance"},
		{url.Values{"server": {"127.0.0.1:9=a"}}, "same identity"},
	} {
		resp, err := http.PostForm(base+"/carbon/addserver", tc.form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.wantBody) {
			t.Errorf("addserver %v = %d %s, want 400 mentioning %q", tc.form, resp.StatusCode, body, tc.wantBody)
		}
		if n := len(p.Membership().Snapshot().Members); n != 2 {
			t.Errorf("after addserver %v the membership has %d members, want the 2 it had", tc.form, n)
		}
	}
	// The pool still follows membership changes.
	srvB, _ := discovery.ParseServer(b.addr + "=b")
	p.Membership().Purge(srvB)
	if got := len(p.state.Load().servers); got != 1 {
		t.Errorf("after purging b the ring has %d members, want 1 (rebuilds must still work)", got)
	}
}
