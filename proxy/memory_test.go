//go:build !race

// The race detector multiplies memory several times over, so these
// measurements build without it; test.sh runs them in a run of their own.

package proxy

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// rssBound is the most resident memory the relay may add while 100
// connections write to a 2,000-member pool (see TestMemoryFollowsTraffic):
// measured +76..84 MiB on a 2-core machine, bound at about twice that. The
// README's memory model explains it: the backends' queue chunks (64 KiB
// while a backend holds lines), batches only while a block is routed,
// the connections' readers.
const rssBound = 192 << 20

// peakRSS returns the process's peak resident set (VmHWM) in bytes, and
// resetPeak starts a new peak (writing 5 to clear_refs).
func peakRSS(t testing.TB) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

func currentRSS(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// TestMemoryFollowsTraffic: 100 connections write lines for random keys to
// a pool of 2,000 members (every member a distinct loopback address, all
// served by one discarding listener). Resident memory stays within
// rssBound: it follows the bytes in flight, not connections x members.
func TestMemoryFollowsTraffic(t *testing.T) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS here: %v", err)
	}
	// One listener on every address: members 127.0.x.y all reach it.
	_, portText, _ := net.SplitHostPort(discardSinkOn(t, "0.0.0.0:0"))
	port, _ := strconv.Atoi(portText)
	servers := make([]string, 2000)
	for i := range servers {
		servers[i] = fmt.Sprintf("127.0.%d.%d:%d", 1+i/250, 1+i%250, port)
	}
	r := startRelay(t, adminAndListener+poolTOML("carbon", "fnv1a_ch", 1, servers...))
	before := currentRSS(t)
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)

	const clients, linesEach = 100, 4000
	var cw sync.WaitGroup
	for c := range clients {
		conn := dial(t, "tcp", r.ListenerAddr("in"))
		cw.Add(1)
		go func() {
			defer cw.Done()
			var buf []byte
			for i := range linesEach {
				buf = fmt.Appendf(buf, "servers.host-%03d.app.metric-%05d %d 1732236000\n", c, (i*7919+c*104729)%20000, i)
				if len(buf) > 60<<10 {
					if _, err := conn.Write(buf); err != nil {
						t.Errorf("client %d: %v", c, err)
						return
					}
					buf = buf[:0]
				}
			}
			if _, err := conn.Write(buf); err != nil {
				t.Errorf("client %d: %v", c, err)
			}
		}()
	}
	cw.Wait()
	want := float64(clients * linesEach)
	waitFor(t, func() string {
		return fmt.Sprintf("%v of %v lines sent", sumMetric(t, r, "ringrelay_backend_lines_sent_total"), want)
	}, func() bool { return sumMetric(t, r, "ringrelay_backend_lines_sent_total") >= want })
	peak := peakRSS(t)
	t.Logf("RSS %d MiB before; peak %d MiB with %d connections over %d members (%d lines): +%d MiB",
		before>>20, peak>>20, clients, len(servers), clients*linesEach, (peak-before)>>20)
	if peak-before > rssBound {
		t.Errorf("peak RSS grew by %d MiB, want at most %d MiB", (peak-before)>>20, rssBound>>20)
	}
}
