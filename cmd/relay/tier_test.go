package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ringrelay/internal/zktest"
)

// The statsd tier of issue 9, run as its operators run it: real processes
// throughout.
//
//	clients --udp--> relay x2 (hasher statsd, the pool follows the
//	                 serverset, members reached over udp,
//	                 apply_changes aligned:2s)
//	        --udp--> aggregator x3 (relay processes, [aggregators.st],
//	                 flush_interval 2s; each registered by its own
//	                 serverset-register process)
//	        --tcp--> sink (this test; one listener per aggregator, so every
//	                 flushed line says which aggregator sent it)
//
// ZooKeeper is Debian's (internal/zktest); relays and aggregators are this
// test binary re-executed as the relay (TestMain); serverset-register is
// built with go build. Its health check is an HTTP gate in this test that
// answers with the aggregator's /ops/status once the test lets it in, so
// the test decides when a member registers without waiting for a process
// to start.
const (
	tierInterval  = 2 * time.Second
	tierServerset = "/discovery/test/statsd-aggregators"
	// The load sends a round (every key once) every tierRoundEvery, at
	// tierRoundPhase past a multiple of it on the wall clock; a round
	// that cannot start within tierRoundSlack of its slot is skipped. No
	// line is sent from tierRoundEvery-tierRoundPhase-tierRoundSlack
	// before a flush boundary to tierRoundPhase after it: see
	// joinAndLeaveUnderLoad for why.
	tierRoundEvery = 100 * time.Millisecond
	tierRoundPhase = 50 * time.Millisecond
	tierRoundSlack = 25 * time.Millisecond
	// tierGuard: no round is sent in the last tierGuard before a flush
	// boundary either. On a loaded 2-core machine a line sent 25 ms before
	// a boundary can reach the aggregator after its flush (the in-flight
	// split the README names as a limit); the test is about the aligned
	// switch, so it leaves those lines out.
	tierGuard = 200 * time.Millisecond
)

// TestTierThroughZooKeeper starts the tier once and runs its two checks on
// it, each with its own keys.
func TestTierThroughZooKeeper(t *testing.T) {
	zks := zktest.Start(t)
	register := buildServersetRegister(t)
	tr := &tier{t: t, zk: zks.Addr(), register: register, sink: startTierSink(t, 3)}
	for i := range 3 {
		tr.aggs = append(tr.aggs, tr.startAggregator(i))
	}
	tr.gate = startTierGate(t, tr.aggs)
	// Every aggregator has its serverset-register running from the start;
	// each registers once its health check passes, which the test decides
	// (the gate). Two are in the serverset before the relays start; the
	// third joins under load.
	for i := range tr.aggs {
		tr.regs = append(tr.regs, tr.registerAggregator(i))
	}
	tr.gate.open(0)
	tr.gate.open(1)
	tr.waitRegistered(0)
	tr.waitRegistered(1)
	for i := range 2 {
		tr.relays = append(tr.relays, tr.startRelay(i))
	}
	// A relay opens its listeners once its pool has synced with ZooKeeper,
	// and routes on that membership from its first line: apply_changes
	// aligns changes, not the first membership a relay learns.
	for _, r := range tr.relays {
		if got := r.metrics(t).sum(`ringrelay_pool_ring_members{pool="aggregators"}`); got != 2 {
			t.Fatalf("%s: ring has %v members once listening, want the 2 registered aggregators at once", r.name, got)
		}
	}

	t.Run("TotalsArriveOnce", tr.totalsArriveOnce)
	t.Run("JoinAndLeaveUnderLoad", tr.joinAndLeaveUnderLoad)
}

// totalsArriveOnce: with a steady membership, every key's increments,
// sent through both relays, arrive summed exactly, each key from one
// aggregator only.
func (tr *tier) totalsArriveOnce(t *testing.T) {
	const keys, rounds = 100, 40
	prefix := "tier.once."
	before := tr.accounts(t)
	load := tr.startLoad(t, prefix, keys, rounds)
	load.wait()
	if load.err != nil || load.rounds != rounds {
		t.Fatalf("load sent %d of %d rounds: %v", load.rounds, rounds, load.err)
	}
	tr.waitFlushedAfter(t, load.end, []int{0, 1})
	tr.account(t, before, load)

	byKey := tr.sink.points(prefix)
	checkTotals(t, byKey, keys, rounds)
	owners := map[int]int{}
	for key, pts := range byKey {
		aggs := map[int]bool{}
		for _, p := range pts {
			aggs[p.agg] = true
		}
		if len(aggs) != 1 {
			t.Errorf("key %s was flushed by aggregators %v; with a steady membership one aggregator owns it", key, slices.Sorted(maps.Keys(aggs)))
		}
		for a := range aggs {
			owners[a]++
		}
	}
	checkNoSplit(t, byKey)
	if owners[0] == 0 || owners[1] == 0 {
		t.Errorf("keys per aggregator %v: want both aggregators to own some of the %d keys", owners, keys)
	}
	t.Logf("%d keys x %d increments = %d lines through 2 relays; keys per aggregator %v; flushes %v",
		keys, rounds, keys*rounds, owners, flushCount(byKey))
}

// joinAndLeaveUnderLoad: while lines flow, aggregator 2 registers, then
// aggregator 0 deregisters (its process keeps running, as it would while
// being drained). Both relays switch at the same aligned instant, so no
// key's interval is split between two aggregators and nothing is lost.
//
// Aggregators cut intervals by when a line arrives, relays switch by when
// they route it. A line for a moved key routed before the switch but read
// by its old aggregator after the flush is counted there in the next
// interval, which the new aggregator reports too; so is one routed by a
// relay that switches late, or read by a new aggregator that flushes
// late. On a loaded 2-core box a process can stall for half a second. So
// the load leaves a band around every boundary (no round from 25 ms
// before to 50 ms after, see tierRoundPhase), and at a boundary where the
// ring changes it also waits until both relays have switched and every
// aggregator has flushed: lines flow up to the boundary and from the
// switch on, and the test is about what apply_changes promises, that
// every relay switches at the same boundary. How late each relay switched
// and how long the load waited are logged.
func (tr *tier) joinAndLeaveUnderLoad(t *testing.T) {
	const keys = 200
	prefix := "tier.change."
	before := tr.accounts(t)
	load := tr.startLoad(t, prefix, keys, 300)

	// Let aggregator 2 in (and later aggregator 0 out) 300 ms into an
	// interval, so the change reaches both relays well before the next
	// boundary: a change that reached one relay before a boundary and
	// the other after it would be applied an interval apart.
	seen := tr.alignedSeen()
	waitIntoInterval(t, load, time.Second, 300*time.Millisecond)
	tr.gate.open(2)
	joinAt := tr.switchUnderLoad(t, load, seen, 3)
	tr.waitRegistered(2)

	seen = tr.alignedSeen()
	waitIntoInterval(t, load, 0, 300*time.Millisecond)
	tr.regs[0].stop(t) // serverset-register deletes aggregator 0's member on SIGTERM
	leaveAt := tr.switchUnderLoad(t, load, seen, 2)
	if !leaveAt.After(joinAt) {
		t.Fatalf("leave applied at %s, not after the join at %s", leaveAt, joinAt)
	}
	// One more interval on the final ring, then stop.
	waitIntoInterval(t, load, 0, 500*time.Millisecond)
	load.stop()
	if load.err != nil {
		t.Fatalf("load: %v", load.err)
	}
	tr.waitFlushedAfter(t, load.end, []int{0, 1, 2})
	tr.account(t, before, load)

	byKey := tr.sink.points(prefix)
	checkTotals(t, byKey, keys, load.rounds)
	checkNoSplit(t, byKey)

	// Each flush shows the ring of its interval: aggregator 2 reports
	// nothing for intervals before the join, aggregator 0 nothing after
	// the leave, and keys did move both times.
	join, leave := joinAt.Unix(), leaveAt.Unix()
	moved := map[string]int{}
	for key, pts := range byKey {
		for _, p := range pts {
			switch {
			case p.agg == 2 && p.ts <= join:
				t.Errorf("key %s: aggregator 2 flushed %v at %d, before it joined (switch at %d)", key, p.value, p.ts, join)
			case p.agg == 0 && p.ts > leave:
				t.Errorf("key %s: aggregator 0 flushed %v at %d, after it left (switch at %d)", key, p.value, p.ts, leave)
			}
		}
		for i := 1; i < len(pts); i++ {
			if pts[i].agg != pts[i-1].agg {
				moved[fmt.Sprintf("%d->%d", pts[i-1].agg, pts[i].agg)]++
			}
		}
	}
	if moved["0->2"]+moved["1->2"] == 0 || moved["0->1"]+moved["0->2"] == 0 {
		t.Errorf("keys moved %v: want some to aggregator 2 at the join and some off aggregator 0 at the leave", moved)
	}
	t.Logf("%d keys x %d increments = %d lines through 2 relays over %d flushes (%d late rounds skipped, load held %s at the switches); join applied at %s, leave at %s (both relays); keys moved %v",
		keys, load.rounds, load.sent, flushCount(byKey), load.skipped, load.held.Round(time.Millisecond), joinAt.Format(time.TimeOnly), leaveAt.Format(time.TimeOnly), moved)
}

// checkTotals: every key's stats_counts values, summed over flushes and
// aggregators, equal the increments sent.
func checkTotals(t *testing.T, byKey map[string][]tierPoint, keys, want int) {
	t.Helper()
	if len(byKey) != keys {
		t.Errorf("sink got %d keys, want %d", len(byKey), keys)
	}
	bad := 0
	for key, pts := range byKey {
		var sum float64
		for _, p := range pts {
			sum += p.value
		}
		if sum != float64(want) {
			if bad++; bad <= 10 {
				t.Errorf("key %s: counts sum to %v over flushes %v, want %d", key, sum, pts, want)
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d keys with a wrong total", bad)
	}
}

// checkNoSplit: for each key and flush timestamp, one aggregator reported it.
func checkNoSplit(t *testing.T, byKey map[string][]tierPoint) {
	t.Helper()
	split := 0
	for key, pts := range byKey {
		for i := 1; i < len(pts); i++ {
			if pts[i].ts == pts[i-1].ts {
				if split++; split <= 10 {
					t.Errorf("key %s: interval ending %d split: %v from aggregator %d and %v from aggregator %d (graphite keeps one)",
						key, pts[i].ts, pts[i-1].value, pts[i-1].agg, pts[i].value, pts[i].agg)
				}
			}
		}
	}
	if split > 10 {
		t.Errorf("... %d split intervals in all", split)
	}
}

func flushCount(byKey map[string][]tierPoint) int {
	ts := map[int64]bool{}
	for _, pts := range byKey {
		for _, p := range pts {
			ts[p.ts] = true
		}
	}
	return len(ts)
}

// tier holds the running processes.
type tier struct {
	t        *testing.T
	zk       string
	register string
	sink     *tierSink
	gate     *tierGate
	aggs     []*tierProc
	regs     []*tierProc
	relays   []*tierProc
}

func (tr *tier) startAggregator(i int) *tierProc {
	t := tr.t
	cfg := writeConfig(t, fmt.Sprintf(`
[admin]
listen = "127.0.0.1:0"

[[listeners]]
name = "statsd"
listen = "udp://127.0.0.1:0"
format = "statsd"
aggregator = "st"
read_buffer = "8MiB"

[aggregators.st]
kind = "statsd"
flush_interval = %q
output = ["carbon"]
delete_idle_stats = true          # an idle key is not flushed as 0 (it would look split)

[pools.carbon]
hasher = "carbon_ch"
servers = [%q]
`, tierInterval, tr.sink.addrs[i]))
	return startRelayProc(t, fmt.Sprintf("aggregator%d", i), cfg)
}

func (tr *tier) startRelay(i int) *tierProc {
	t := tr.t
	cfg := writeConfig(t, fmt.Sprintf(`
[admin]
listen = "127.0.0.1:0"

[zookeeper]
servers = [%q]
session_timeout = "4s"

[[listeners]]
name = "statsd"
listen = "udp://127.0.0.1:0"
format = "statsd"
pool = "aggregators"
read_buffer = "8MiB"

[pools.aggregators]
hasher = "statsd"
serverset = %q
member_scheme = "udp"
apply_changes = "aligned:%s"
debounce = "100ms"
`, tr.zk, tierServerset, tierInterval))
	return startRelayProc(t, fmt.Sprintf("relay%d", i), cfg)
}

// registerAggregator runs serverset-register for aggregator i: its statsd
// port is the member, its health check the gate.
func (tr *tier) registerAggregator(i int) *tierProc {
	t := tr.t
	host, port, err := net.SplitHostPort(tr.aggs[i].listen)
	if err != nil {
		t.Fatal(err)
	}
	return startTierProc(t, fmt.Sprintf("register%d", i), tr.register, nil,
		"-zk", tr.zk, "-path", tierServerset, "-host", host, "-port", port,
		"-check", tr.gate.check(i), "-interval", "100ms", "-rise", "1", "-session-timeout", "4s")
}

func (tr *tier) waitRegistered(i int) {
	tr.regs[i].waitLog(tr.t, regexp.MustCompile(`"msg":"member created"`), 1, 20*time.Second)
}

var alignedRe = regexp.MustCompile(`membership change waits for the aligned instant.*"at": "([^"]+)"`)

// alignedSeen is how many changes each relay has held for alignment so far.
func (tr *tier) alignedSeen() []int {
	var n []int
	for _, r := range tr.relays {
		n = append(n, r.seen(alignedRe))
	}
	return n
}

// switchUnderLoad waits until both relays hold one more change than seen
// for alignment, checks that both hold it for the same aligned instant,
// holds the load from that instant until both relays route on members
// members and every aggregator has flushed the interval it closes, and
// returns the instant.
func (tr *tier) switchUnderLoad(t *testing.T, load *tierLoad, seen []int, members int) time.Time {
	t.Helper()
	var at []time.Time
	for i, r := range tr.relays {
		m := r.waitLog(t, alignedRe, seen[i]+1, 10*time.Second)
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("%s: bad aligned instant %q: %v", r.name, m[1], err)
		}
		at = append(at, ts)
	}
	if !at[0].Equal(at[1]) {
		t.Fatalf("relays apply the change at different instants: %s and %s (one saw it before a boundary, one after)", at[0], at[1])
	}
	if at[0].UnixNano()%int64(tierInterval) != 0 {
		t.Errorf("change applied at %s, not a multiple of %s", at[0], tierInterval)
	}
	if !load.holdAt(at[0]) {
		t.Fatalf("the load sent a round after %s before the test could hold it (the test process stalled)", at[0].Format(time.StampMilli))
	}
	rebuilt := regexp.MustCompile(`^(\S+)\s.*ring rebuilt\s.*"pool": "aggregators", "members": ` + strconv.Itoa(members) + `,`)
	for _, r := range tr.relays {
		var when time.Time
		r.waitLines(t, fmt.Sprintf("ring of %d members after %s", members, at[0].Format(time.StampMilli)), 10*time.Second, func(ln string) bool {
			m := rebuilt.FindStringSubmatch(ln)
			if m == nil {
				return false
			}
			ts, err := time.Parse("2006-01-02T15:04:05.000Z", m[1])
			if err != nil || ts.Before(at[0]) {
				return false
			}
			when = ts
			return true
		})
		t.Logf("%s switched to %d members %s after the aligned instant %s", r.name, members, when.Sub(at[0]), at[0].Format(time.StampMilli))
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("every aggregator to flush at %d", at[0].Unix()), func() bool {
		for a := range tr.aggs {
			if tr.sink.lastFlush(a) < at[0].Unix() {
				return false
			}
		}
		return true
	})
	load.release()
	return at[0]
}

// waitFlushedAfter waits until each of aggs has flushed an interval that
// began after end plus one interval of slack for lines in flight.
func (tr *tier) waitFlushedAfter(t *testing.T, end time.Time, aggs []int) {
	t.Helper()
	last := end.Truncate(tierInterval).Add(2 * tierInterval).Unix()
	waitFor(t, 4*tierInterval+20*time.Second, fmt.Sprintf("aggregators %v to flush at %d", aggs, last), func() bool {
		for _, a := range aggs {
			if tr.sink.lastFlush(a) < last {
				return false
			}
		}
		return true
	})
}

// tierAccounts sums every counter on the lines' path over the processes.
type tierAccounts struct {
	relayReceived, relayUDPDrops, relayPoolDropped, relayRouted, relayBackendDropped float64
	aggReceived, aggUDPDrops, aggLines, aggBad, aggKeysDropped, aggDropped           float64
}

func (tr *tier) accounts(t *testing.T) tierAccounts {
	var a tierAccounts
	// A series that is not there would read as no loss.
	need := func(p *tierProc, m tierMetrics, series ...string) {
		for _, s := range series {
			if !strings.Contains(m.text, "\n"+s) {
				t.Fatalf("%s: no %s on /metrics", p.name, s)
			}
		}
	}
	for _, r := range tr.relays {
		m := r.metrics(t)
		need(r, m, `ringrelay_listener_lines_received_total{listener="statsd"}`, `ringrelay_listener_udp_receive_drops_total{listener="statsd"}`,
			`ringrelay_pool_lines_routed_total{pool="aggregators"}`)
		a.relayReceived += m.sum(`ringrelay_listener_lines_received_total{listener="statsd"}`)
		a.relayUDPDrops += m.sum(`ringrelay_listener_udp_receive_drops_total{listener="statsd"}`)
		a.relayPoolDropped += m.sum(`ringrelay_pool_lines_dropped_total{`)
		a.relayRouted += m.sum(`ringrelay_pool_lines_routed_total{pool="aggregators"}`)
		a.relayBackendDropped += m.sum(`ringrelay_backend_lines_dropped_total{`)
	}
	for _, g := range tr.aggs {
		m := g.metrics(t)
		need(g, m, `ringrelay_listener_lines_received_total{listener="statsd"}`, `ringrelay_listener_udp_receive_drops_total{listener="statsd"}`,
			`ringrelay_aggregator_lines_total{aggregator="st"}`)
		a.aggReceived += m.sum(`ringrelay_listener_lines_received_total{listener="statsd"}`)
		a.aggUDPDrops += m.sum(`ringrelay_listener_udp_receive_drops_total{listener="statsd"}`)
		a.aggLines += m.sum(`ringrelay_aggregator_lines_total{aggregator="st"}`)
		a.aggBad += m.sum(`ringrelay_aggregator_bad_lines_total{aggregator="st"}`)
		a.aggKeysDropped += m.sum(`ringrelay_aggregator_keys_dropped_total{aggregator="st"}`)
		a.aggDropped += m.sum(`ringrelay_aggregator_lines_dropped_total{`)
	}
	return a
}

// account checks that every line sent since before was received, routed,
// sent and accumulated once, and says at which hop any went missing.
func (tr *tier) account(t *testing.T, before tierAccounts, load *tierLoad) {
	t.Helper()
	sent := float64(load.sent)
	var d tierAccounts
	// The counters settle once the last flush is seen and the relays'
	// queues are empty: poll until every line is accounted for, a loss is
	// counted, or the deadline passes, then say which hop lost what.
	for deadline := time.Now().Add(10 * time.Second); ; {
		a := tr.accounts(t)
		d = tierAccounts{
			relayReceived: a.relayReceived - before.relayReceived, relayUDPDrops: a.relayUDPDrops - before.relayUDPDrops,
			relayPoolDropped: a.relayPoolDropped - before.relayPoolDropped, relayRouted: a.relayRouted - before.relayRouted,
			relayBackendDropped: a.relayBackendDropped - before.relayBackendDropped,
			aggReceived:         a.aggReceived - before.aggReceived, aggUDPDrops: a.aggUDPDrops - before.aggUDPDrops,
			aggLines: a.aggLines - before.aggLines, aggBad: a.aggBad - before.aggBad,
			aggKeysDropped: a.aggKeysDropped - before.aggKeysDropped, aggDropped: a.aggDropped - before.aggDropped,
		}
		lost := d.relayUDPDrops + d.relayPoolDropped + d.relayBackendDropped + d.aggUDPDrops + d.aggBad + d.aggKeysDropped + d.aggDropped
		if d.aggLines == sent || lost > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling counters
	}
	hops := []struct {
		what      string
		got, want float64
	}{
		{"relays read (ringrelay_listener_lines_received_total)", d.relayReceived, sent},
		{"relays' kernel drops (ringrelay_listener_udp_receive_drops_total)", d.relayUDPDrops, 0},
		{"relays' pool drops (ringrelay_pool_lines_dropped_total)", d.relayPoolDropped, 0},
		// A backend's sent series goes with it when it leaves the ring;
		// what it did not send is counted in its drops.
		{"relays routed to aggregators (ringrelay_pool_lines_routed_total)", d.relayRouted, sent},
		{"relays' backend drops (ringrelay_backend_lines_dropped_total)", d.relayBackendDropped, 0},
		{"aggregators read (ringrelay_listener_lines_received_total)", d.aggReceived, sent},
		{"aggregators' kernel drops (ringrelay_listener_udp_receive_drops_total)", d.aggUDPDrops, 0},
		{"aggregators accumulated (ringrelay_aggregator_lines_total)", d.aggLines, sent},
		{"aggregators' bad lines, keys over max_keys, hand-off drops", d.aggBad + d.aggKeysDropped + d.aggDropped, 0},
	}
	for _, h := range hops {
		if h.got != h.want {
			t.Errorf("lost on the way: %s = %v, want %v (%v lines sent)", h.what, h.got, h.want, sent)
		}
	}
}

// tierLoad sends rounds of counter increments, one per key per round,
// alternating relays so that each key goes through both. Only whole rounds
// are sent, so every key gets rounds increments.
type tierLoad struct {
	stopc chan struct{}
	done  chan struct{}

	mu       sync.Mutex
	holdFrom time.Time     // no slot from then on until release is closed
	released chan struct{} // closed by release
	lastSent time.Time     // the slot of the last round sent

	// written by the sender, read after done is closed
	rounds, skipped, sent int
	held                  time.Duration
	end                   time.Time
	err                   error
}

// startLoad sends up to maxRounds rounds, one in each slot (see
// tierRoundEvery), until stop is called.
func (tr *tier) startLoad(t *testing.T, prefix string, keys, maxRounds int) *tierLoad {
	var conns []*net.UDPConn
	for _, r := range tr.relays {
		ua, err := net.ResolveUDPAddr("udp", r.listen)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.DialUDP("udp", nil, ua)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	l := &tierLoad{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		bufs := make([][]byte, len(conns))
		send := func(i int) bool {
			if len(bufs[i]) == 0 {
				return true
			}
			if _, err := conns[i].Write(bufs[i]); err != nil {
				l.err = err
				return false
			}
			bufs[i] = bufs[i][:0]
			return true
		}
		slot := time.Now().Truncate(tierRoundEvery).Add(tierRoundEvery + tierRoundPhase)
		for round := 0; round < maxRounds; slot = slot.Add(tierRoundEvery) {
			timer := time.NewTimer(time.Until(slot)) // a wall-clock slot
			select {
			case <-l.stopc:
				timer.Stop()
				return
			case <-timer.C:
			}
			l.mu.Lock()
			hold, released := l.holdFrom, l.released
			l.mu.Unlock()
			if !hold.IsZero() && !slot.Before(hold) {
				select {
				case <-l.stopc:
					return
				case <-released:
				}
				l.held += time.Since(slot)
				slot = time.Now().Truncate(tierRoundEvery).Add(tierRoundPhase)
				continue
			}
			if time.Since(slot) > tierRoundSlack {
				l.skipped++ // too late for this slot: it may be near a boundary
				continue
			}
			if slot.Sub(slot.Truncate(tierInterval)) > tierInterval-tierGuard {
				continue // too close to the next flush boundary
			}
			for k := range keys {
				i := (k + round) % len(conns)
				ln := fmt.Sprintf("%sk%03d:1|c\n", prefix, k)
				if len(bufs[i])+len(ln) > 1000 && !send(i) {
					return
				}
				bufs[i] = append(bufs[i], ln...)
				l.sent++
			}
			for i := range conns {
				if !send(i) {
					return
				}
			}
			round++
			l.rounds, l.end = round, time.Now()
			l.mu.Lock()
			l.lastSent = slot
			l.mu.Unlock()
		}
	}()
	t.Cleanup(l.stop)
	return l
}

// stop ends the load after the round in progress and waits for it.
func (l *tierLoad) stop() {
	select {
	case <-l.stopc:
	default:
		close(l.stopc)
	}
	<-l.done
}

func (l *tierLoad) wait() { <-l.done }

// holdAt makes the sender wait, from the first slot at or after at, until
// release. It reports false if a round was already sent in such a slot.
func (l *tierLoad) holdAt(at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holdFrom, l.released = at, make(chan struct{})
	return l.lastSent.Before(at)
}

// release lets the sender go on after holdAt.
func (l *tierLoad) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.released)
	l.holdFrom, l.released = time.Time{}, nil
}

// tierGate is the aggregators' health check, served by the test: an
// aggregator is healthy once the test opens its gate and while its admin
// answers /ops/status.
type tierGate struct {
	addr   string
	admins []string
	mu     sync.Mutex
	opened map[int]bool
}

func startTierGate(t *testing.T, aggs []*tierProc) *tierGate {
	g := &tierGate{opened: map[int]bool{}}
	for _, a := range aggs {
		g.admins = append(g.admins, a.admin)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return g
}

func (g *tierGate) check(i int) string { return fmt.Sprintf("http://%s/%d", g.addr, i) }

func (g *tierGate) open(i int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened[i] = true
}

func (g *tierGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
	g.mu.Lock()
	ok := err == nil && g.opened[i]
	g.mu.Unlock()
	if !ok {
		http.Error(w, "not yet", http.StatusServiceUnavailable)
		return
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + g.admins[i] + "/ops/status")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
}

// waitIntoInterval waits until the wall clock is off into the interval
// after now+after: until the first multiple of tierInterval after
// now+after, plus off. It fails if the load has ended.
func waitIntoInterval(t *testing.T, l *tierLoad, after, off time.Duration) {
	t.Helper()
	at := time.Now().Add(after).Truncate(tierInterval).Add(tierInterval + off)
	select {
	case <-time.After(time.Until(at)): // waiting for a wall-clock instant
	case <-l.done:
		t.Fatalf("load ended (after %d lines, err %v) before %s", l.sent, l.err, at.Format(time.StampMilli))
	}
}

// tierSink is the carbon the aggregators flush to: one TCP listener per
// aggregator, recording every stats_counts line.
type tierSink struct {
	addrs []string
	mu    sync.Mutex
	pts   []tierPoint   // stats_counts.* lines
	last  map[int]int64 // latest flush timestamp per aggregator
	bad   []string
	lns   []net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// tierPoint is one flushed stats_counts.KEY value.
type tierPoint struct {
	agg   int
	key   string
	value float64
	ts    int64
}

func (p tierPoint) String() string { return fmt.Sprintf("%v@%d from %d", p.value, p.ts, p.agg) }

func startTierSink(t *testing.T, n int) *tierSink {
	s := &tierSink{last: map[int]int64{}, conns: map[net.Conn]bool{}}
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.lns = append(s.lns, ln)
		s.addrs = append(s.addrs, ln.Addr().String())
		s.wg.Add(1)
		go s.accept(i, ln)
	}
	t.Cleanup(func() {
		for _, ln := range s.lns {
			ln.Close()
		}
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		if len(s.bad) > 0 {
			t.Errorf("sink got malformed lines: %q", s.bad)
		}
	})
	return s
}

func (s *tierSink) accept(agg int, ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.read(agg, c)
	}
}

func (s *tierSink) read(agg int, c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var v float64
		var ts int64
		var err1, err2 error
		if len(f) == 3 {
			v, err1 = strconv.ParseFloat(f[1], 64)
			ts, err2 = strconv.ParseInt(f[2], 10, 64)
		}
		s.mu.Lock()
		switch {
		case len(f) != 3 || err1 != nil || err2 != nil:
			s.bad = append(s.bad, sc.Text())
		default:
			s.last[agg] = max(s.last[agg], ts)
			if key, ok := strings.CutPrefix(f[0], "stats_counts."); ok {
				s.pts = append(s.pts, tierPoint{agg: agg, key: key, value: v, ts: ts})
			}
		}
		s.mu.Unlock()
	}
}

func (s *tierSink) lastFlush(agg int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[agg]
}

// points returns the stats_counts points of keys under prefix, by key,
// sorted by timestamp, then aggregator.
func (s *tierSink) points(prefix string) map[string][]tierPoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]tierPoint{}
	for _, p := range s.pts {
		if strings.HasPrefix(p.key, prefix) {
			out[p.key] = append(out[p.key], p)
		}
	}
	for _, pts := range out {
		slices.SortFunc(pts, func(a, b tierPoint) int {
			if a.ts != b.ts {
				return int(a.ts - b.ts)
			}
			return a.agg - b.agg
		})
	}
	return out
}

// tierProc is a child process whose output goes to a log file.
type tierProc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	done   chan struct{}
	listen string // relays: the statsd listener's address
	admin  string // relays: the admin address
	once   sync.Once
}

func startTierProc(t *testing.T, name, bin string, env []string, args ...string) *tierProc {
	t.Helper()
	p := &tierProc{name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own copy
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			p.logTail(t, 30)
		}
	})
	return p
}

// startRelayProc runs this test binary as the relay on cfg and returns
// once it listens, with its listener and admin addresses.
func startRelayProc(t *testing.T, name, cfg string) *tierProc {
	t.Helper()
	p := startTierProc(t, name, os.Args[0], []string{"RINGRELAY_RUN_MAIN=1", "RINGRELAY_ARGS=-config " + cfg}, "-test.run=^$")
	p.listen = p.waitLog(t, regexp.MustCompile(`"listener": "statsd", "addr": "([^"]+)"`), 1, 20*time.Second)[1]
	p.admin = p.waitLog(t, regexp.MustCompile(`admin listening.*"addr": "([^"]+)"`), 1, 20*time.Second)[1]
	return p
}

// stop sends SIGTERM and waits for the process (SIGKILL after 15 s).
func (p *tierProc) stop(t *testing.T) {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not exit within 15s of SIGTERM; killing it", p.name)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// seen counts the log lines matching re so far.
func (p *tierProc) seen(re *regexp.Regexp) int {
	b, _ := os.ReadFile(p.log)
	return len(re.FindAll(b, -1))
}

// waitLog waits for the n-th log line matching re and returns its submatches.
func (p *tierProc) waitLog(t *testing.T, re *regexp.Regexp, n int, timeout time.Duration) []string {
	t.Helper()
	var m []string
	waitFor(t, timeout, fmt.Sprintf("%s to log %q (%d times)", p.name, re, n), func() bool {
		b, _ := os.ReadFile(p.log)
		all := re.FindAllSubmatch(b, -1)
		if len(all) < n {
			select {
			case <-p.done:
				t.Fatalf("%s exited (%v) before logging %q", p.name, p.cmd.ProcessState, re)
			default:
			}
			return false
		}
		for _, s := range all[n-1] {
			m = append(m, string(s))
		}
		return true
	})
	return m
}

// waitLines waits for a log line that match accepts.
func (p *tierProc) waitLines(t *testing.T, what string, timeout time.Duration, match func(line string) bool) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%s to log %s", p.name, what), func() bool {
		b, _ := os.ReadFile(p.log)
		for _, ln := range strings.Split(string(b), "\n") {
			if match(ln) {
				return true
			}
		}
		return false
	})
}

func (p *tierProc) logTail(t *testing.T, n int) {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	t.Logf("%s log (last %d lines):\n%s", p.name, len(lines), strings.Join(lines, "\n"))
}

// tierMetrics is one scrape of /metrics.
type tierMetrics struct{ text string }

func (p *tierProc) metrics(t *testing.T) tierMetrics {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatalf("%s: failed to scrape metrics: %v", p.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: failed to scrape metrics: %v %s", p.name, err, resp.Status)
	}
	return tierMetrics{text: string(b)}
}

// sum adds the values of the series that start with prefix (a name and
// the start of its labels).
func (m tierMetrics) sum(prefix string) float64 {
	var total float64
	for _, ln := range strings.Split(m.text, "\n") {
		if !strings.HasPrefix(ln, prefix) {
			continue
		}
		i := strings.LastIndexByte(ln, ' ')
		if v, err := strconv.ParseFloat(ln[i+1:], 64); err == nil {
			total += v
		}
	}
	return total
}

// buildServersetRegister builds cmd/serverset-register into a temp dir.
func buildServersetRegister(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH to build serverset-register: %v", err)
	}
	out := filepath.Join(t.TempDir(), "serverset-register")
	cmd := exec.Command(goBin, "build", "-o", out, "ringrelay/cmd/serverset-register")
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build serverset-register: %v\n%s", err, msg.String())
	}
	return out
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
}
