package proxy

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"ringrelay/proxy/udpsock"
)

// TestIdleConnectionIsClosed: a client that sends nothing for
// idle_timeout is disconnected and counted; one that keeps sending is not.
func TestIdleConnectionIsClosed(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	r := startRelay(t, strings.Replace(adminAndListener, `pool = "carbon"`, "pool = \"carbon\"\nidle_timeout = \"300ms\"", 1)+
		poolTOML("carbon", "carbon_ch", 1, s.addr))
	idle := dial(t, "tcp", r.ListenerAddr("in"))
	_ = idle.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF (closed by the relay)", err)
	}
	if got := sumMetric(t, r, "ringrelay_listener_idle_closed_total", "listener=in"); got != 1 {
		t.Errorf("idle_closed_total = %v, want 1", got)
	}
	busy := dial(t, "tcp", r.ListenerAddr("in"))
	for i := range 8 {
		send(t, busy, "busy.line 1 1\n")
		// Each line resets the timer: a second line arrives while the
		// first is still within idle_timeout.
		s.waitLines(t, i+1)
		time.Sleep(100 * time.Millisecond) // pacing the client, not waiting for the relay
	}
	if got := sumMetric(t, r, "ringrelay_listener_idle_closed_total", "listener=in"); got != 1 {
		t.Errorf("a connection sending every 100ms was closed as idle (idle_closed_total %v)", got)
	}
}

// TestMaxConnectionsRefusesAndCounts: beyond max_connections a connection
// is closed at once and counted; closing one makes room again.
func TestMaxConnectionsRefusesAndCounts(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	r := startRelay(t, "max_connections = 2\n"+adminAndListener+poolTOML("carbon", "carbon_ch", 1, s.addr))
	a := dial(t, "tcp", r.ListenerAddr("in"))
	b := dial(t, "tcp", r.ListenerAddr("in"))
	send(t, a, "a 1 1\n")
	send(t, b, "b 1 1\n")
	s.waitLines(t, 2) // both are being served
	c := dial(t, "tcp", r.ListenerAddr("in"))
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection beyond max_connections = 2 was not closed")
	}
	if got := sumMetric(t, r, "ringrelay_listener_connections_refused_total", "listener=in"); got != 1 {
		t.Errorf("connections_refused_total = %v, want 1", got)
	}
	a.Close()
	waitFor(t, func() string { return "a closed connection never made room" }, func() bool {
		d := dial(t, "tcp", r.ListenerAddr("in"))
		send(t, d, "d 1 1\n")
		got := s.waitLines(t, 3)
		return len(got) >= 3
	})
}

// TestDrainUDPCountsWhatIsLeft: datagrams still queued when a udp listener
// closes are read and their bytes counted (unread), not lost silently.
func TestDrainUDPCountsWhatIsLeft(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := dial(t, "udp", pc.LocalAddr())
	for range 10 {
		send(t, c, "left.behind:1|c") // 15 bytes
	}
	uc := pc.(*net.UDPConn)
	waitFor(t, func() string { return "datagrams never queued" }, func() bool {
		n, err := udpsock.Pending(uc)
		return err == nil && n > 0
	})
	total := 0
	waitFor(t, func() string { return fmt.Sprintf("drained %d bytes, want 150", total) }, func() bool {
		total += drainUDP(uc)
		return total >= 150
	})
	if total != 150 {
		t.Errorf("drainUDP counted %d bytes, want 150", total)
	}
}
