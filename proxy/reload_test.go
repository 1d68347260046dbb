package proxy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ringrelay/discovery"
)

// sumMetric adds up every series of the named metric whose labels include
// all of match (label=value pairs), from the relay's registry.
func sumMetric(t testing.TB, r *Relay, name string, match ...string) float64 {
	t.Helper()
	mfs, err := r.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for _, kv := range match {
				k, v, _ := strings.Cut(kv, "=")
				if labels[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// waitFor polls cond until it holds or 60 s pass (the machine may be
// loaded), then fails with what().
func waitFor(t testing.TB, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what())
		}
		time.Sleep(5 * time.Millisecond) // polling: counters have no change event
	}
}

func loadConfigT(t testing.TB, text string) Config {
	t.Helper()
	cfg, err := LoadConfig([]byte(text))
	if err != nil {
		t.Fatalf("config refused: %v\n%s", err, text)
	}
	return cfg
}

// reloadConfigs renders the two configs the reload test alternates: the
// same listeners, pool statsd unchanged, pool carbon with or without its
// third server.
func reloadConfigs(carbon, statsd []*sink, extra *sink) (string, string) {
	render := func(servers []*sink) string {
		addrs := make([]string, len(servers))
		for i, s := range servers {
			addrs[i] = s.addr
		}
		st := make([]string, len(statsd))
		for i, s := range statsd {
			st[i] = s.addr
		}
		return `
[admin]
listen = "127.0.0.1:0"

[[listeners]]
name = "graphite"
listen = "tcp://127.0.0.1:0"
format = "graphite"
pool = "carbon"

[[listeners]]
name = "statsd"
listen = "udp://127.0.0.1:0"
format = "statsd"
pool = "statsd"
read_buffer = "8MiB"
` + poolTOML("carbon", "carbon_ch", 1, addrs...) + poolTOML("statsd", "statsd", 1, st...)
	}
	return render(carbon), render(append(append([]*sink{}, carbon...), extra))
}

// TestReloadUnderLoadLosesNothing: graphite over TCP and statsd over UDP
// flow at about 50k lines/s while the relay is reloaded 20 times between
// two configs that differ in one pool's servers. Every line sent is
// delivered or counted with a reason, no client connection is reset, the
// listener never refuses a connection, and counters keep counting.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	a, b, extra, st := startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0"), startSink(t, "127.0.0.1:0")
	without, with := reloadConfigs([]*sink{a, b}, []*sink{st}, extra)
	r := startRelay(t, without)
	tcpAddr, udpAddr := r.ListenerAddr("graphite"), r.ListenerAddr("statsd")

	const (
		tcpConns   = 4
		linesPerMs = 50 // over all senders: 50k lines/s
	)
	var (
		tcpSent, udpSent atomic.Int64
		stop             = make(chan struct{})
		wg               sync.WaitGroup
		sendErr          = make(chan error, tcpConns+2)
	)
	loadStart := time.Now()
	for c := range tcpConns {
		conn := dial(t, "tcp", tcpAddr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			var buf []byte
			start := time.Now()
			for n := 0; ; {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				// Paced on elapsed time, so a late tick sends what is due.
				due := int(time.Since(start).Milliseconds()) * linesPerMs * 4 / 5 / tcpConns
				buf = buf[:0]
				k := 0
				for ; n < due; n++ {
					buf = fmt.Appendf(buf, "conn%d.metric.%d %d 1700000000\n", c, n%997, n)
					k++
				}
				if _, err := conn.Write(buf); err != nil {
					sendErr <- fmt.Errorf("tcp connection %d: %w", c, err)
					return
				}
				tcpSent.Add(int64(k))
			}
		}()
	}
	udp := dial(t, "udp", udpAddr)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for n := 0; ; {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// One line per datagram, so kernel drops (datagrams) count lines.
			for due := int(time.Since(start).Milliseconds()) * linesPerMs / 5; n < due; {
				if _, err := fmt.Fprintf(udp, "statsd.key%d:%d|c", n%499, n); err != nil {
					sendErr <- fmt.Errorf("udp: %w", err)
					return
				}
				n++
				udpSent.Add(1)
			}
		}
	}()
	// The listener must accept at every moment of the reloads.
	var dials, refused atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.DialTimeout("tcp", tcpAddr.String(), 5*time.Second)
			dials.Add(1)
			if err != nil {
				refused.Add(1)
				continue
			}
			c.Close()
		}
	}()

	received := func() float64 { return sumMetric(t, r, "ringrelay_listener_lines_received_total", "listener=graphite") }
	cfgs := []Config{loadConfigT(t, with), loadConfigT(t, without)}
	var last float64
	for i := range 20 {
		// Some traffic between reloads: wait for the counter to move on.
		waitFor(t, func() string {
			return fmt.Sprintf("graphite lines received stuck at %v before reload %d", received(), i)
		},
			func() bool { return received() >= last+5000 })
		if _, err := r.Reload(cfgs[i%2]); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		now := received()
		if now < last {
			t.Fatalf("lines_received_total went back from %v to %v over reload %d", last, now, i)
		}
		last = now
	}
	close(stop)
	wg.Wait()
	sendTime := time.Since(loadStart)
	select {
	case err := <-sendErr:
		t.Fatalf("a client saw an error during the reloads: %v", err)
	default:
	}
	if got := r.ListenerAddr("graphite"); got.String() != tcpAddr.String() {
		t.Errorf("graphite listener moved from %s to %s", tcpAddr, got)
	}
	if n := refused.Load(); n > 0 {
		t.Errorf("%d of %d connection attempts were refused during reloads; want 0", n, dials.Load())
	}
	if got := sumMetric(t, r, "ringrelay_config_reloads_total", "result=success"); got != 20 {
		t.Errorf("reloads_total{result=success} = %v, want 20", got)
	}

	sinks := []*sink{a, b, extra, st}
	delivered := func() int {
		n := 0
		for _, s := range sinks {
			n += len(s.got())
		}
		return n
	}
	counted := func() float64 {
		return sumMetric(t, r, "ringrelay_backend_lines_dropped_total") +
			sumMetric(t, r, "ringrelay_pool_lines_dropped_total") +
			sumMetric(t, r, "ringrelay_listener_lines_invalid_total") +
			sumMetric(t, r, "ringrelay_listener_lines_rejected_total") +
			sumMetric(t, r, "ringrelay_listener_udp_receive_drops_total")
	}
	sent := tcpSent.Load() + udpSent.Load()
	waitFor(t, func() string {
		return fmt.Sprintf("sent %d (tcp %d, udp %d); delivered %d + counted %v", sent, tcpSent.Load(), udpSent.Load(), delivered(), counted())
	}, func() bool { return float64(delivered())+counted() >= float64(sent) })
	if got := float64(delivered()) + counted(); got != float64(sent) {
		t.Errorf("delivered %d + counted %v = %v, sent %d: lines were duplicated", delivered(), counted(), got, sent)
	}
	// Every line arrived once: no duplicates.
	seen := map[string]bool{}
	for _, s := range sinks {
		for _, l := range s.got() {
			if seen[l] {
				t.Fatalf("line %q delivered twice", l)
			}
			seen[l] = true
		}
	}
	t.Logf("sent %d lines in %v (tcp %d, udp %d), delivered %d, counted %v; %d dials during 20 reloads, %d refused",
		sent, sendTime.Round(time.Millisecond), tcpSent.Load(), udpSent.Load(), delivered(), counted(), dials.Load(), refused.Load())
}

// TestReloadKeepsOverlayQueuesAndRefusesUnbindable: a kept backend keeps its
// queue over a reload (what was queued while it was down is delivered
// after), the HTTP overlay survives, and a config whose new listener
// cannot bind is refused as a whole (nothing changes, the failure counts).
func TestReloadKeepsOverlayQueuesAndRefusesUnbindable(t *testing.T) {
	a := startSink(t, "127.0.0.1:0")
	aAddr := a.addr
	a.stop() // down: lines for it queue
	added := startSink(t, "127.0.0.1:0")
	cfgText := adminAndListener + poolTOML("carbon", "carbon_ch", 1, aAddr)
	r := startRelay(t, cfgText)
	c := dial(t, "tcp", r.ListenerAddr("in"))
	send(t, c, "queued.while.down 1 1\n")
	waitFor(t, func() string { return "line not queued" }, func() bool {
		return sumMetric(t, r, "ringrelay_backend_queue_bytes", "backend="+aAddr) > 0
	})
	pool := r.Pool("carbon")
	srv := mustServer(t, added.addr)
	pool.Membership().Add(srv)

	// Same config plus a rule: a reload that changes the router only.
	next := loadConfigT(t, cfgText+"\n[[rules]]\nlistener = \"in\"\nmatch = \"^never\"\nreject = true\n")
	if _, err := r.Reload(next); err != nil {
		t.Fatal(err)
	}
	if r.Pool("carbon") != pool {
		t.Fatal("a reload replaced a kept pool")
	}
	members := pool.Membership().Snapshot().Members
	if len(members) != 2 {
		t.Fatalf("HTTP overlay lost over reload: members %+v", members)
	}

	// A new listener on an address in use: refused whole.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bad := loadConfigT(t, strings.Replace(cfgText, `[pools.carbon]`, fmt.Sprintf(`[[listeners]]
name = "second"
listen = "tcp://%s"
pool = "carbon"

[pools.carbon]`, busy.Addr()), 1))
	if _, err := r.Reload(bad); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("reload with an unbindable listener: err %v, want one naming %s", err, busy.Addr())
	}
	if got := sumMetric(t, r, "ringrelay_config_reloads_total", "result=failure"); got != 1 {
		t.Errorf("reloads_total{result=failure} = %v, want 1", got)
	}
	if r.ListenerAddr("second") != nil {
		t.Error("the refused config's listener is serving")
	}

	// The kept backend comes back: what it queued before the reloads arrives.
	back := startSink(t, aAddr)
	got := back.waitLines(t, 1)
	if len(got) != 1 || got[0] != "queued.while.down 1 1" {
		t.Fatalf("backend queue over reload: got %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.Shutdown(ctx)
}

func mustServer(t testing.TB, s string) discovery.Server {
	t.Helper()
	srv, err := discovery.ParseServer(s)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
