package backend

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fixedLine is line i of fixedLines: every line is fixedLineLen bytes, so
// a count of lines is a count of bytes.
func fixedLine(i int) string { return fmt.Sprintf("s.%08d 1 1700000000\n", i) }

const fixedLineLen = 24

// metricsIdentity returns sent + dropped + queued lines as the metrics of
// pool p and backend srv show them.
func metricsIdentity(t testing.TB, m *Metrics, p, srv string) (sent, dropped, queued float64) {
	t.Helper()
	sent = testutil.ToFloat64(m.linesSent.WithLabelValues(p, srv))
	for _, v := range droppedSeries(t, m) {
		dropped += v
	}
	queued = testutil.ToFloat64(m.queueLines.WithLabelValues(p, srv))
	return sent, dropped, queued
}

func TestNeverReadingBackendLosesOnlyItsReceiveBuffer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the send queue (SIOCOUTQ) is read on Linux only")
	}
	s := newHeldSink(t, 4096)
	cfg := testConfig()
	cfg.QueueBytes = 256 << 10
	cfg.BatchBytes = 4 << 10
	cfg.WriteTimeout.Duration = 200 * time.Millisecond
	m := NewMetrics(nil)
	srv := s.server()
	core, logs := observer.New(zap.InfoLevel)
	b, changed := newWatched(Options{Config: cfg, Server: srv, Pool: "p", Metrics: m, Logger: zap.New(core)})
	defer closeNow(t, b)

	// Offer 40000 lines (960000 bytes) in batches of 100: what the queue
	// cannot take is dropped as queue_full.
	const routed, perBatch = 40000, 100
	accepted := make([]bool, routed)
	var batch []byte
	for i := 0; i < routed; i += perBatch {
		batch = batch[:0]
		for j := i; j < i+perBatch; j++ {
			batch = append(batch, fixedLine(j)...)
		}
		if b.Enqueue(batch, perBatch) {
			for j := i; j < i+perBatch; j++ {
				accepted[j] = true
			}
		}
	}

	waitFor(t, "the backend to be stalled", 10*time.Second, changed, func() bool { return b.Stats().Stalled })
	st := b.Stats()
	if got := st.LinesSent + sum(st.LinesDropped) + uint64(st.QueuedLines); got != routed {
		t.Errorf("stalled: Stats lines sent %d + dropped %v + queued %d = %d, want routed %d", st.LinesSent, st.LinesDropped, st.QueuedLines, got, routed)
	}
	if st.Up {
		t.Errorf("stalled: Stats().Up = true, want false")
	}
	if got := testutil.ToFloat64(m.up.WithLabelValues("p", srv.String())); got != 0 {
		t.Errorf("stalled: ringrelay_backend_up = %v, want 0", got)
	}
	// The metrics are updated after the Stats under the lock: wait until
	// the writer has finished its current step.
	waitFor(t, "the metrics to add up while stalled", 5*time.Second, changed, func() bool {
		sent, dropped, queued := metricsIdentity(t, m, "p", srv.String())
		return sent+dropped+queued == routed
	})

	// Sent means acknowledged by the peer's kernel: never more than the
	// receive buffers of the connections it was given.
	sentBefore := b.Stats().LinesSent
	streams := s.accepted()
	stalledConns, rcvbufs := len(streams), 0
	for _, c := range streams {
		rcvbufs += c.rcvbuf
	}
	if sentBefore*fixedLineLen > uint64(rcvbufs) {
		t.Errorf("stalled: %d lines (%d bytes) counted sent to a backend that never read, over %d connections with %d bytes of receive buffers in all",
			sentBefore, sentBefore*fixedLineLen, len(streams), rcvbufs)
	}

	// The peer reads again: the lines requeued are delivered, the backend
	// is up again.
	s.release()
	waitFor(t, "the queue to drain and the backend to be up", 10*time.Second, changed, func() bool {
		st := b.Stats()
		return st.QueuedLines == 0 && st.Up && !st.Stalled
	})
	waitFor(t, "the metrics to add up once drained", 5*time.Second, changed, func() bool {
		sent, dropped, queued := metricsIdentity(t, m, "p", srv.String())
		return sent+dropped+queued == routed && queued == 0
	})
	closeNow(t, b)
	waitFor(t, "the sink to read every connection to its end", 10*time.Second, s.changed, s.readersDone)

	// One log line per transition, naming the address.
	for _, msg := range []string{"backend stalled: it accepts connections but does not read", "backend reading again"} {
		got := logs.FilterMessage(msg).All()
		if len(got) != 1 || got[0].ContextMap()["addr"] != s.addr {
			t.Errorf("log %q: %d entries %v, want one with addr %q", msg, len(got), got, s.addr)
		}
	}

	st = b.Stats()
	if got := st.LinesSent + sum(st.LinesDropped); got != routed || st.QueuedLines != 0 || st.QueuedBytes != 0 {
		t.Errorf("after Close: lines sent %d + dropped %v = %d, queued %d lines %d bytes; want routed %d and nothing queued",
			st.LinesSent, st.LinesDropped, got, st.QueuedLines, st.QueuedBytes, routed)
	}
	if st.LinesDropped[ReasonUnacked] != 0 || st.LinesDropped[ReasonShutdown] != 0 {
		t.Errorf("after a draining Close: dropped %v, want no unacknowledged or shutdown drops", st.LinesDropped)
	}
	if st.LinesRequeued == 0 {
		t.Errorf("lines_requeued = 0, want the lines the stalled connections held")
	}

	// What the sink received: complete lines, each once (a connection's
	// trailing fragment is the torn line, resent whole on the next one).
	streams = s.accepted()
	seen := make([]bool, routed)
	received, dups, bad := 0, 0, 0
	for _, c := range streams {
		data := c.data.Bytes()
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			line := data[:i+1]
			data = data[i+1:]
			k, err := strconv.Atoi(string(line[2:10]))
			if err != nil || k < 0 || k >= routed || string(line) != fixedLine(k) || !accepted[k] {
				bad++
				continue
			}
			if seen[k] {
				dups++
				continue
			}
			seen[k] = true
			received++
		}
	}
	acceptedLines, missing := 0, 0
	for k, ok := range accepted {
		if ok {
			acceptedLines++
			if !seen[k] {
				missing++
			}
		}
	}
	if bad != 0 || dups != 0 {
		t.Errorf("the sink received %d lines that were never accepted or malformed, and %d duplicates; want none", bad, dups)
	}
	// Lost: only lines counted sent while the peer did not read, which its
	// kernel acknowledged and the reset connections took with them.
	if missing > int(sentBefore) || missing*fixedLineLen > rcvbufs {
		t.Errorf("%d of %d accepted lines never arrived; want at most the %d counted sent while stalled (%d bytes of receive buffers)",
			missing, acceptedLines, sentBefore, rcvbufs)
	}
	for i, c := range streams {
		t.Logf("connection %d: SO_RCVBUF %d, received %d bytes, ended by %v", i, c.rcvbuf, c.data.Len(), c.err)
	}
	t.Logf("routed %d, accepted %d, sent %d (%d while stalled), dropped %v, requeued %d, missing %d (%d bytes); %d connections until stalled, their receive buffers %d bytes in all; %d connections, %d write errors",
		routed, acceptedLines, st.LinesSent, sentBefore, st.LinesDropped, st.LinesRequeued, missing, missing*fixedLineLen, stalledConns, rcvbufs, len(streams), st.WriteErrors)
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
