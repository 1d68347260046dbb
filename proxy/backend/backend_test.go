package backend

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// droppedSeries returns the lines_dropped_total series that exist, by reason.
func droppedSeries(t testing.TB, m *Metrics) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	m.dropped.Collect(ch)
	close(ch)
	out := map[string]float64{}
	for c := range ch {
		var d dto.Metric
		if err := c.Write(&d); err != nil {
			t.Fatal(err)
		}
		for _, l := range d.GetLabel() {
			if l.GetName() == "reason" {
				out[l.GetValue()] = d.GetCounter().GetValue()
			}
		}
	}
	return out
}

func TestDeliveryInOrder(t *testing.T) {
	long := strings.Repeat("x", 10<<10) // longer than a chunk
	cases := []struct {
		name    string
		network string
		batches [][]byte
	}{
		{"tcp small batches", "tcp", splitBatches(lineSet("a", 0, 5000), 7)},
		{"tcp 16KiB batches", "tcp", splitBatches(lineSet("b", 0, 20000), 230)},
		{"tcp line longer than a chunk", "tcp", [][]byte{lineSet("c", 0, 3), []byte("c.long " + long + "\n"), lineSet("c", 3, 6)}},
		{"unix", "unix", splitBatches(lineSet("u", 0, 5000), 50)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if tc.network == "unix" {
				addr = filepath.Join(t.TempDir(), "sink.sock")
			}
			s := newSink(t, tc.network, addr)
			b := New(Options{Config: testConfig(), Server: s.server(), Pool: "p"})
			var want []byte
			lines := 0
			for _, batch := range tc.batches {
				n := bytes.Count(batch, []byte{'\n'})
				if !b.Enqueue(batch, n) {
					t.Fatalf("Enqueue(%d lines) = false, want true", n)
				}
				want = append(want, batch...)
				lines += n
			}
			closeNow(t, b)
			got := s.waitLines(lines, 10*time.Second)
			if got != string(want) {
				t.Fatalf("received %d bytes, want %d bytes in order; first difference at byte %d", len(got), len(want), firstDiff(got, string(want)))
			}
			st := b.Stats()
			if st.LinesSent != uint64(lines) || st.QueuedBytes != 0 {
				t.Errorf("Stats: lines_sent=%d queued_bytes=%d, want %d and 0", st.LinesSent, st.QueuedBytes, lines)
			}
		})
	}
}

func splitBatches(p []byte, linesPer int) [][]byte {
	var out [][]byte
	for len(p) > 0 {
		end := 0
		for i := 0; i < linesPer && end < len(p); i++ {
			end += bytes.IndexByte(p[end:], '\n') + 1
		}
		out = append(out, p[:end])
		p = p[end:]
	}
	return out
}

func firstDiff(a, b string) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestEnqueueCopiesLines(t *testing.T) {
	s := newSink(t, "tcp", "127.0.0.1:0")
	cfg := testConfig()
	cfg.FlushInterval.Duration = time.Hour // hold the lines until Close
	b := New(Options{Config: cfg, Server: s.server()})
	buf := []byte("a 1 1\n")
	b.Enqueue(buf, 1)
	copy(buf, "b 2 2\n") // the caller reuses its buffer
	b.Enqueue(buf, 1)
	closeNow(t, b)
	if got, want := s.waitLines(2, 5*time.Second), "a 1 1\nb 2 2\n"; got != want {
		t.Fatalf("received %q, want %q", got, want)
	}
}

func TestBatchingCoalescesSmallEnqueues(t *testing.T) {
	s := newSink(t, "tcp", "127.0.0.1:0")
	cfg := testConfig()
	cfg.BatchBytes = 4096
	cfg.FlushInterval.Duration = time.Hour // only a full batch or Close flushes
	b := New(Options{Config: cfg, Server: s.server()})
	const n = 1000
	line := []byte("abc.def 1 12345\n") // 16 bytes: 256 lines per batch
	for range n {
		b.Enqueue(line, 1)
	}
	// 3 full batches (768 lines) go out without waiting for the interval.
	s.waitLines(768, 5*time.Second)
	closeNow(t, b)
	s.waitLines(n, 5*time.Second)
	st := b.Stats()
	if st.LinesSent != n || st.Writes > 8 {
		t.Fatalf("%d Enqueue calls of one line: lines_sent=%d in %d writes, want %d lines in at most 8 writes", n, st.LinesSent, st.Writes, n)
	}
}

func TestFlushIntervalSendsPartialBatch(t *testing.T) {
	s := newSink(t, "tcp", "127.0.0.1:0")
	cfg := testConfig()
	cfg.FlushInterval.Duration = 50 * time.Millisecond
	b, changed := newWatched(Options{Config: cfg, Server: s.server()})
	defer closeNow(t, b)
	waitFor(t, "connected", 5*time.Second, changed, func() bool { return b.Stats().Up })
	start := time.Now()
	b.Enqueue([]byte("one 1 1\n"), 1)
	s.waitLines(1, 5*time.Second)
	// The sink is polled, so arrival is seen late, never early.
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("a lone line with flush_interval 50ms arrived after %s, want it held about 50ms", took)
	}
}

func TestKilledBackendQueuesAndRecovers(t *testing.T) {
	sa := newSink(t, "tcp", "127.0.0.1:0")
	sb := newSink(t, "tcp", "127.0.0.1:0")
	m := NewMetrics(nil)
	ba, changed := newWatched(Options{Config: testConfig(), Server: sa.server(), Pool: "p", Metrics: m})
	bb := New(Options{Config: testConfig(), Server: sb.server(), Pool: "p", Metrics: m})
	defer closeNow(t, ba)
	defer closeNow(t, bb)

	first := lineSet("k", 0, 100)
	ba.Enqueue(first, 100)
	bb.Enqueue(first, 100)
	sa.waitLines(100, 5*time.Second)
	sb.waitLines(100, 5*time.Second)
	// Kill A while its writer waits for lines, as in an outage between
	// bursts: it then checks the connection before writing. (Lines written
	// into a connection whose peer just died are lost: TCP has no acks.)
	waitFor(t, "backend A idle", 5*time.Second, changed, func() bool {
		ba.mu.Lock()
		defer ba.mu.Unlock()
		return ba.idle
	})
	sa.kill()
	sa.data.Reset()
	sa.lines = 0
	// While A is down its lines queue; B keeps receiving.
	var queued []byte
	for i := 1; i <= 10; i++ {
		batch := lineSet("k", i*100, i*100+100)
		queued = append(queued, batch...)
		if !ba.Enqueue(batch, 100) {
			t.Fatalf("Enqueue to the down backend = false, want true (queue within bound)")
		}
		bb.Enqueue(batch, 100)
	}
	sb.waitLines(1100, 5*time.Second)
	waitFor(t, "backend A to report down", 5*time.Second, changed, func() bool { return !ba.Stats().Up && ba.Stats().DialErrors > 0 })
	if st := ba.Stats(); st.QueuedBytes != int64(len(queued)) {
		t.Errorf("down backend queued_bytes = %d, want %d", st.QueuedBytes, len(queued))
	}
	if got := testutil.ToFloat64(m.up.WithLabelValues("p", sa.server().String())); got != 0 {
		t.Errorf("ringrelay_backend_up for the down backend = %v, want 0", got)
	}

	sa.restart()
	got := sa.waitLines(1000, 10*time.Second)
	if got != string(queued) {
		t.Fatalf("after the backend came back it received %d bytes, want the %d queued bytes in order (first difference at %d)", len(got), len(queued), firstDiff(got, string(queued)))
	}
	waitFor(t, "backend A up", 5*time.Second, changed, func() bool { return ba.Stats().Up })
	if st := ba.Stats(); st.Reconnects == 0 || st.LastError == "" {
		t.Errorf("Stats after an outage: reconnects=%d last_error=%q, want both set", st.Reconnects, st.LastError)
	}
}

func TestQueueFullAndCloseReasons(t *testing.T) {
	cases := []struct {
		reason    string
		wantLabel string
	}{
		{"", ReasonShutdown}, // Close
		{ReasonBackendGone, ReasonBackendGone},
	}
	for _, tc := range cases {
		t.Run(tc.wantLabel, func(t *testing.T) {
			srv := serverFor(t, "tcp", closedPort(t))
			m := NewMetrics(nil)
			cfg := testConfig()
			cfg.BatchBytes = 1024
			cfg.QueueBytes = 4096
			b := New(Options{Config: cfg, Server: srv, Pool: "p", Metrics: m})
			batch := bytes.Repeat([]byte(strings.Repeat("m", 99)+"\n"), 10) // 10 lines, 1000 bytes
			accepted := 0
			for i := range 10 {
				ok := b.Enqueue(batch, 10)
				if want := i < 4; ok != want {
					t.Fatalf("Enqueue #%d of 1000 bytes into a 4096-byte queue = %v, want %v", i, ok, want)
				}
				if ok {
					accepted += 10
				}
			}
			full := m.dropped.WithLabelValues("p", srv.String(), ReasonQueueFull)
			if got := testutil.ToFloat64(full); got != 60 {
				t.Fatalf("lines_dropped_total{reason=queue_full} = %v, want 60", got)
			}
			if got := testutil.ToFloat64(m.queueBytes.WithLabelValues("p", srv.String())); got != 4000 {
				t.Fatalf("queue_bytes = %v, want 4000", got)
			}
			closeCounter := m.dropped.WithLabelValues("p", srv.String(), tc.wantLabel)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // expired: nothing more may be sent
			if tc.reason == "" {
				b.Close(ctx)
			} else {
				b.CloseReason(ctx, tc.reason)
			}
			if got := testutil.ToFloat64(closeCounter); got != float64(accepted) {
				t.Fatalf("after Close with an expired ctx: lines_dropped_total{reason=%s} = %v, want %d", tc.wantLabel, got, accepted)
			}
			if b.Enqueue(batch, 10) {
				t.Fatalf("Enqueue after Close = true, want false")
			}
			st := b.Stats()
			if st.LinesDropped[tc.wantLabel] != uint64(accepted+10) || st.LinesDropped[ReasonQueueFull] != 60 || st.QueuedBytes != 0 {
				t.Fatalf("Stats after Close: dropped=%v queued=%d, want %s=%d queue_full=60 queued=0", st.LinesDropped, st.QueuedBytes, tc.wantLabel, accepted+10)
			}
			// Once the backend is closed its series are deleted, except the
			// drop counters that counted something: they are the record of
			// the loss, and a late Enqueue still counts on them.
			if n := testutil.CollectAndCount(m.up) + testutil.CollectAndCount(m.queueBytes) + testutil.CollectAndCount(m.linesSent); n != 0 {
				t.Fatalf("after Close %d up/queue/sent series remain, want 0", n)
			}
			want := map[string]float64{ReasonQueueFull: 60, tc.wantLabel: float64(accepted + 10)}
			if got := droppedSeries(t, m); !maps.Equal(got, want) {
				t.Fatalf("after Close and one more Enqueue: lines_dropped_total by reason = %v, want %v", got, want)
			}
			b.Close(ctx) // idempotent
		})
	}
}

func TestSeriesSharedWhileReplacementRuns(t *testing.T) {
	s := newSink(t, "tcp", "127.0.0.1:0")
	m := NewMetrics(nil)
	old := New(Options{Config: testConfig(), Server: s.server(), Pool: "p", Metrics: m})
	repl, changed := newWatched(Options{Config: testConfig(), Server: s.server(), Pool: "p", Metrics: m})
	closeNow(t, old)
	repl.Enqueue([]byte("a 1 1\n"), 1)
	s.waitLines(1, 5*time.Second)
	waitFor(t, "the replacement to count its line", 5*time.Second, changed, func() bool {
		return testutil.ToFloat64(m.linesSent.WithLabelValues("p", s.server().String())) == 1
	})
	if n := testutil.CollectAndCount(m.up); n != 1 {
		t.Fatalf("with the replacement running, %d up series, want 1", n)
	}
	closeNow(t, repl)
	if n := testutil.CollectAndCount(m.up); n != 0 {
		t.Fatalf("after both closed, %d up series, want 0", n)
	}
}

func TestStuckBackendNeverBlocksEnqueue(t *testing.T) {
	// A backend that accepts but never reads: the writer blocks in write
	// until write_timeout, while Enqueue keeps returning at once (dropping
	// once the queue is full).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		ln.Close()
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	}()
	cfg := testConfig()
	cfg.QueueBytes = 256 << 10
	cfg.WriteTimeout.Duration = 200 * time.Millisecond
	b, changed := newWatched(Options{Config: cfg, Server: serverFor(t, "tcp", ln.Addr().String())})
	batch := bytes.Repeat([]byte(strings.Repeat("s", 63)+"\n"), 256) // 16 KiB
	// Enqueue until the kernel's buffers are full and the write times out;
	// no single Enqueue may wait on the stuck socket.
	timeout := time.NewTimer(15 * time.Second)
	defer timeout.Stop()
	drops, acceptedLines, slowest := 0, 0, time.Duration(0)
	for b.Stats().WriteErrors == 0 {
		start := time.Now()
		ok := b.Enqueue(batch, 256)
		slowest = max(slowest, time.Since(start))
		if ok {
			acceptedLines += 256
			continue
		}
		drops++
		// Full: wait for the writer to make room or to time out.
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("no write timeout after 15s of Enqueue to a backend that never reads (drops %d)", drops)
		}
	}
	if drops == 0 || slowest > time.Second {
		t.Fatalf("Enqueue to a backend that never reads: %d queue_full drops, slowest call %s; want drops and no call blocked", drops, slowest)
	}
	if st := b.Stats(); !strings.Contains(st.LastError, "timeout") {
		t.Fatalf("last_error %q, want a write timeout", st.LastError)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	b.Close(ctx) // must not wait for the stuck write beyond ctx
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close with a 50ms deadline on a stuck backend took %s", took)
	}
	// Every accepted line was either sent or counted as dropped: never
	// written (shutdown), or written and never acknowledged.
	if st := b.Stats(); st.LinesSent+st.LinesDropped[ReasonShutdown]+st.LinesDropped[ReasonUnacked] != uint64(acceptedLines) || st.QueuedBytes != 0 || st.QueuedLines != 0 {
		t.Fatalf("after Close: lines_sent %d + dropped(shutdown) %d + dropped(unacknowledged) %d, queued %d bytes, %d lines; want %d accepted lines accounted for and nothing queued",
			st.LinesSent, st.LinesDropped[ReasonShutdown], st.LinesDropped[ReasonUnacked], st.QueuedBytes, st.QueuedLines, acceptedLines)
	}
}

func TestCloseDrainsQueue(t *testing.T) {
	s := newSink(t, "tcp", "127.0.0.1:0")
	s.kill() // down at first: everything queues
	b, changed := newWatched(Options{Config: testConfig(), Server: s.server(), Pool: "p"})
	waitFor(t, "a failed dial", 5*time.Second, changed, func() bool { return b.Stats().DialErrors > 0 })
	all := lineSet("d", 0, 3000)
	for _, batch := range splitBatches(all, 100) {
		b.Enqueue(batch, 100)
	}
	s.restart()
	closeNow(t, b) // drains (after reconnecting) before returning
	st := b.Stats()
	if st.LinesSent != 3000 || st.LinesDropped[ReasonShutdown] != 0 {
		t.Fatalf("after Close: lines_sent=%d dropped=%v, want 3000 sent and none dropped", st.LinesSent, st.LinesDropped)
	}
	if got := s.waitLines(3000, 5*time.Second); got != string(all) {
		t.Fatalf("sink got %d bytes, want %d in order", len(got), len(all))
	}
}

func TestCloseIdleDownBackendIsQuick(t *testing.T) {
	cfg := testConfig()
	cfg.ReconnectMin.Duration = time.Hour
	cfg.ReconnectMax.Duration = time.Hour
	b, changed := newWatched(Options{Config: cfg, Server: serverFor(t, "tcp", closedPort(t))})
	waitFor(t, "a failed dial", 5*time.Second, changed, func() bool { return b.Stats().DialErrors > 0 })
	done := make(chan struct{})
	go func() { closeNow(t, b); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close of an idle backend in an hour-long backoff did not return")
	}
}

func TestUDPDatagramsHoldWholeLines(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := testConfig()
	cfg.UDPMaxDatagram = 200
	b := New(Options{Config: cfg, Server: serverFor(t, "udp", pc.LocalAddr().String())})
	defer closeNow(t, b)

	var want []byte
	for i := range 300 {
		line := []byte("stat." + strings.Repeat("k", i%50) + ":1|c\n")
		want = append(want, line...)
	}
	for _, batch := range splitBatches(want, 37) {
		b.Enqueue(batch, bytes.Count(batch, []byte{'\n'}))
	}
	var got []byte
	buf := make([]byte, 64<<10)
	for len(got) < len(want) {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), len(want), err)
		}
		d := buf[:n]
		if n > 200 || n == 0 || d[n-1] != '\n' {
			t.Fatalf("datagram of %d bytes %q: want 1..200 bytes of whole lines", n, d)
		}
		got = append(got, d...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("datagrams carried %d bytes that differ from the %d enqueued (first difference at %d)", len(got), len(want), firstDiff(string(got), string(want)))
	}
}

func TestTornWriteResendsWholeLine(t *testing.T) {
	// A fakeConn has no readable send queue: what it took counts as
	// acknowledged, the line it tore is resent whole.
	cases := []struct {
		budget   int
		wantLeft int // chunks still pending
		wantOff  int // where the head chunk resumes
	}{
		{budget: 0, wantLeft: 2, wantOff: 0},
		{budget: 3, wantLeft: 2, wantOff: 0},  // inside "a 1 1"
		{budget: 6, wantLeft: 2, wantOff: 6},  // exactly after "a 1 1\n"
		{budget: 9, wantLeft: 2, wantOff: 6},  // inside "b 2 2"
		{budget: 12, wantLeft: 1, wantOff: 0}, // first chunk done
		{budget: 15, wantLeft: 1, wantOff: 0}, // inside "c 3 3", second chunk
		{budget: 21, wantLeft: 1, wantOff: 6}, // inside "d 4 4"
	}
	for _, tc := range cases {
		b := New(Options{Config: testConfig(), Server: serverFor(t, "tcp", closedPort(t))})
		w := &writer{Backend: b, wc: &wconn{Conn: &fakeConn{budget: tc.budget}}}
		w.pending = []*chunk{{buf: []byte("a 1 1\nb 2 2\n")}, {buf: []byte("c 3 3\nd 4 4\n")}}
		err := w.write()
		w.closeConn(true)
		head := w.pending[0]
		if err == nil || len(w.pending) != tc.wantLeft || head.off != tc.wantOff || head.ack != head.off {
			t.Errorf("writev of %q+%q torn after %d bytes: err=%v, %d chunks left, resume at %d (ack %d); want an error, %d left, resume at %d",
				"a 1 1\nb 2 2\n", "c 3 3\nd 4 4\n", tc.budget, err, len(w.pending), head.off, head.ack, tc.wantLeft, tc.wantOff)
		}
		if st := b.Stats(); st.LinesSent != uint64(tc.budget/6) || st.LinesRequeued != 0 {
			t.Errorf("torn after %d bytes: lines_sent=%d lines_requeued=%d, want %d and 0", tc.budget, st.LinesSent, st.LinesRequeued, tc.budget/6)
		}
		closeNow(t, b)
	}
}

func TestDialTimeoutHonoured(t *testing.T) {
	addr := unacceptingListener(t)
	cfg := testConfig()
	cfg.DialTimeout.Duration = 300 * time.Millisecond
	cfg.ReconnectMin.Duration = time.Hour
	cfg.ReconnectMax.Duration = time.Hour
	start := time.Now()
	b, changed := newWatched(Options{Config: cfg, Server: serverFor(t, "tcp", addr)})
	defer closeNow(t, b)
	waitFor(t, "the dial to time out", 10*time.Second, changed, func() bool { return b.Stats().DialErrors > 0 })
	took := time.Since(start)
	st := b.Stats()
	if took < 300*time.Millisecond || took > 5*time.Second || !strings.Contains(st.LastError, "timeout") {
		t.Fatalf("dial to a listener that never completes the handshake failed after %s with %q, want an i/o timeout after about 300ms", took, st.LastError)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// unacceptingListener returns the address of a listening socket whose accept
// queue (backlog 0) is already full, so new connects hang in SYN_SENT.
func unacceptingListener(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skipf("raw socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the accept queue until a connect no longer completes.
	for i := range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr
			}
			t.Fatalf("filling the accept queue: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		_ = i
	}
	t.Skip("the kernel kept accepting connects on a backlog-0 listener")
	return ""
}
