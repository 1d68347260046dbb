package zktest

import (
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// TestSessionPassword checks the derived password against serverset.py's
// independent implementation (which was checked against passwords real
// servers handed to kazoo).
func TestSessionPassword(t *testing.T) {
	py := Python(t)
	tool := SharedTool(t, "zk/serverset.py")
	for _, id := range []int64{0x0100000b96840009, 1, 0x7fffffffffffffff, -5} {
		out, err := exec.Command(py, tool, "password", "0x"+strings.TrimPrefix(hexID(id), "0x")).CombinedOutput()
		if err != nil {
			t.Fatalf("serverset.py password %s: %v %s", hexID(id), err, out)
		}
		got := hex.EncodeToString(SessionPassword(id))
		if !strings.Contains(string(out), got) {
			t.Errorf("SessionPassword(%s) = %s; serverset.py says %q", hexID(id), got, strings.TrimSpace(string(out)))
		}
	}
}

func hexID(id int64) string {
	const digits = "0123456789abcdef"
	u := uint64(id)
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i] = digits[u&15]
		u >>= 4
	}
	return "0x" + string(b)
}

func TestStartExpireRestart(t *testing.T) {
	s := Start(t)
	conn, _, err := zk.Connect([]string{s.Addr()}, 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	first := waitSession(t, conn, 0)
	if _, err := conn.Create("/eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if err := s.ExpireSession(first, nil); err != nil {
		t.Fatalf("ExpireSession(0x%x): %v", first, err)
	}
	second := waitSession(t, conn, first)
	if ok, _, err := conn.Exists("/eph"); err != nil || ok {
		t.Errorf("after expiry: Exists(/eph) = %v, %v; want false (the ephemeral of the expired session is gone)", ok, err)
	}
	// A restart shorter than the session keeps it.
	s.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for conn.State() != zk.StateHasSession && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if conn.SessionID() != second {
		t.Errorf("after restart: session 0x%x, want 0x%x kept", conn.SessionID(), second)
	}
	if err := s.ExpireSession(12345, nil); err == nil {
		t.Errorf("ExpireSession of an unknown session succeeded; want an error")
	}
}

func waitSession(t *testing.T, conn *zk.Conn, not int64) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if id := conn.SessionID(); conn.State() == zk.StateHasSession && id != 0 && id != not {
			return id
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no new session (old 0x%x) within 10s; state %v", not, conn.State())
	return 0
}
