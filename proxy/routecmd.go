package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"ringrelay/discovery"
	"ringrelay/proxy/line"
)

// RouteOptions select what `relay route` routes lines through.
type RouteOptions struct {
	// Pool routes every line through this pool; required without Listener.
	Pool string
	// Format is the line format (graphite, statsd, ...); default: the
	// format of Listener, else of a listener feeding Pool, else graphite.
	Format string
	// Listener routes lines as that listener would: its format and its
	// rules, which may reject a line or send it to another pool or to an
	// aggregator. Pool, if also set, must be the listener's pool.
	Listener string
}

// RouteTest is `relay route -pool POOL [-format F]`: see Route.
func (r *Relay) RouteTest(pool, format string, in io.Reader, out, errOut io.Writer) error {
	return r.Route(RouteOptions{Pool: pool, Format: format}, in, out, errOut)
}

// Route is `relay route`: like carbon-c-relay's -t, it reads lines from in
// and writes, for each, `key<TAB>server[,server...]` to out: the servers as
// written in the config (or as the live membership lists them), replicas in
// the order the ring picks them. With a Listener, a third column names
// where the listener's rules sent the line, `pool=NAME`, and a line sent to
// an aggregator is `key<TAB>-<TAB>aggregator=NAME`. It runs each line
// through the same decision live traffic takes (format key, rules, ring
// lookup; the key printed is the one routed by) on a relay built with
// NoBackends. A bare key (no value) is accepted and completed with a dummy
// value for the format, as carbon-c-relay's test mode accepts bare names.
// Lines that are not routable are reported on errOut with their reason.
func (r *Relay) Route(o RouteOptions, in io.Reader, out, errOut io.Writer) error {
	rt := r.router.Load()
	ro, err := r.testRoute(rt, o)
	if err != nil {
		return err
	}
	d := newDispatcher(ro)
	var filler []byte
	switch ro.cfg.Format {
	case "graphite":
		filler = []byte(" 1 0")
	case "statsd":
		filler = []byte(":1|c")
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var full []byte
	for n := 1; sc.Scan(); n++ {
		ln := bytes.TrimRight(sc.Bytes(), "\r")
		if len(ln) == 0 {
			continue
		}
		if filler != nil && !bytes.ContainsAny(ln, string(filler[:1])) {
			full = append(append(full[:0], ln...), filler...)
			ln = full
		}
		dec, ok := d.decide(ln)
		switch {
		case !ok && dec.why != line.OK:
			fmt.Fprintf(errOut, "line %d: %q: invalid (%s)\n", n, ln, dec.why)
			continue
		case !ok && dec.st == nil: // no ring lookup: a rule rejected it
			fmt.Fprintf(errOut, "line %d: %q: rejected by a rule of listener %q\n", n, ln, o.Listener)
			continue
		case !ok:
			fmt.Fprintf(errOut, "line %d: %q: pool %q has no members (%s)\n", n, ln, dec.pool.name, dec.st.snap.Reason)
			continue
		}
		w.Write(dec.key)
		w.WriteByte('\t')
		if dec.agg != nil {
			fmt.Fprintf(w, "-\taggregator=%s\n", dec.agg.name)
			continue
		}
		for i, j := range dec.idx {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(dec.st.servers[j].Display())
		}
		if o.Listener != "" {
			w.WriteString("\tpool=")
			w.WriteString(dec.pool.name)
		}
		w.WriteByte('\n')
	}
	return sc.Err()
}

// testRoute builds the route Route sends lines through: the named
// listener's (format and rules), or one that sends every line to o.Pool.
func (r *Relay) testRoute(rt *router, o RouteOptions) (*route, error) {
	if o.Listener != "" {
		var lc *ListenerConfig
		var names []string
		for i := range rt.cfg.Listeners {
			names = append(names, rt.cfg.Listeners[i].Name)
			if rt.cfg.Listeners[i].Name == o.Listener {
				lc = &rt.cfg.Listeners[i]
			}
		}
		switch {
		case lc == nil:
			return nil, fmt.Errorf("unknown listener %q (have %s)", o.Listener, strings.Join(names, ", "))
		case o.Pool != "" && o.Pool != lc.Pool:
			return nil, fmt.Errorf("listener %q feeds pool %q, not %q: give -listener or -pool", o.Listener, lc.Pool, o.Pool)
		}
		c := *lc
		if o.Format != "" {
			c.FormatConfig = line.FormatConfig{Format: o.Format}
		}
		ro, err := r.newRoute(rt, c)
		if err != nil {
			return nil, err
		}
		ro.listener, ro.metrics, ro.maxLine = "route", r.metrics.listener("route", ""), 1<<20
		return ro, nil
	}
	p := rt.pools[o.Pool]
	if p == nil {
		return nil, fmt.Errorf("unknown pool %q (have %s)", o.Pool, strings.Join(rt.poolNames, ", "))
	}
	fc := line.FormatConfig{Format: o.Format}
	for _, l := range rt.cfg.Listeners {
		if l.Pool == o.Pool && (o.Format == "" || l.Format == o.Format) {
			fc = l.FormatConfig
			break
		}
	}
	if fc.Format == "" {
		fc.Format = "graphite"
	}
	f, err := line.NewFormat(fc)
	if err != nil {
		return nil, err
	}
	return &route{cfg: ListenerConfig{Name: "route", FormatConfig: fc}, listener: "route", format: f, pool: p,
		metrics: r.metrics.listener("route", ""), npools: r.nextIndex, maxLine: 1 << 20}, nil
}

// UseLiveMembers replaces the members of a route-only relay's pools with
// the live ones, so that `relay route` answers as the running relays do:
// with admin set (a relay's admin base URL, http://host:port) the members
// its GET /pools reports; otherwise, when [zookeeper] is configured, each
// pool's serverset read once (as a starting relay reads it, static servers
// standing in while empty_hold holds an empty serverset). It returns, for
// the operator, one line saying which membership it used and one per pool.
// A serverset that cannot be read within [zookeeper] start_wait (at least
// 5 s) is an error: routing on the config's servers instead would answer
// for a ring the relays do not use.
func (r *Relay) UseLiveMembers(ctx context.Context, admin string) ([]string, error) {
	rt := r.router.Load()
	switch {
	case admin != "":
		return r.membersFromAdmin(ctx, rt, strings.TrimSuffix(admin, "/"))
	case rt.cfg.ZooKeeper.Enabled():
		return r.membersFromZooKeeper(ctx, rt)
	}
	return []string{"routing on the servers in the config: no [zookeeper] servers and no -admin URL"}, nil
}

// membersFromAdmin takes every pool's members from a running relay's
// GET /pools.
func (r *Relay) membersFromAdmin(ctx context.Context, rt *router, admin string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := admin + "/pools"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to ask the relay at %q: %w", admin, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("failed to GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	var live struct {
		Pools map[string]PoolMembers `json:"pools"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&live); err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", url, err)
	}
	report := []string{fmt.Sprintf("routing on the live members that the relay at %s reports (GET /pools)", admin)}
	for _, name := range rt.poolNames {
		p := rt.pools[name]
		pm, ok := live.Pools[name]
		if !ok {
			report = append(report, fmt.Sprintf("pool %s: not in that relay; its servers from the config", name))
			continue
		}
		if pm.Hasher != p.Config().Hasher {
			return nil, fmt.Errorf("pool %q: the relay at %s uses hasher %s, the config %s: route with that relay's config", name, admin, pm.Hasher, p.Config().Hasher)
		}
		servers := make([]discovery.Server, 0, len(pm.Members))
		for _, m := range pm.Members {
			s, err := discovery.ParseServer(m.Server)
			if err != nil {
				return nil, fmt.Errorf("pool %q: member from %s: %w", name, url, err)
			}
			servers = append(servers, s)
		}
		if err := p.useMembers(servers); err != nil {
			return nil, fmt.Errorf("pool %q: the members %s reports: %w", name, url, err)
		}
		sources := make([]string, len(pm.Members))
		for i, m := range pm.Members {
			sources[i] = m.Source
		}
		report = append(report, describePool(name, sources, pm.Reason))
	}
	return report, nil
}

// membersFromZooKeeper reads every serverset pool's serverset once.
func (r *Relay) membersFromZooKeeper(ctx context.Context, rt *router) ([]string, error) {
	zc := rt.cfg.ZooKeeper
	d, err := discovery.New(discovery.Options{ZooKeeper: zc, Logger: r.log, Metrics: r.metrics.Discovery})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var pools []*Pool
	for _, name := range rt.poolNames {
		p := rt.pools[name]
		if p.Config().Serverset == "" {
			continue
		}
		if err := d.Watch(name, p.Config().PoolConfig, p.Membership()); err != nil {
			return nil, err
		}
		pools = append(pools, p)
	}
	if err := d.Start(); err != nil {
		return nil, fmt.Errorf("failed to connect to zookeeper %v: %w", zc.Servers, err)
	}
	wait := max(zc.StartWait.Duration, 5*time.Second)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for _, p := range pools {
		select {
		case <-p.Membership().Synced():
		case <-ctx.Done():
			return nil, fmt.Errorf("failed to read serverset %q of pool %q from zookeeper %v within %v (ask a running relay with -admin URL instead)",
				p.Config().Serverset, p.name, zc.Servers, wait)
		}
	}
	report := []string{fmt.Sprintf("routing on the live members read once from zookeeper %s", strings.Join(zc.Servers, ","))}
	for _, name := range rt.poolNames {
		p := rt.pools[name]
		if p.Config().Serverset == "" {
			report = append(report, fmt.Sprintf("pool %s: no serverset; its servers from the config", name))
			continue
		}
		snap := p.state.Load().snap
		sources := make([]string, len(snap.Members))
		for i, m := range snap.Members {
			sources[i] = string(m.Source)
		}
		report = append(report, describePool(name, sources, snap.Reason))
	}
	return report, nil
}

// describePool says how many members a pool routes on and where they came
// from (one source per member), or why it has none.
func describePool(name string, sources []string, reason string) string {
	if len(sources) == 0 {
		return fmt.Sprintf("pool %s: no members (%s)", name, reason)
	}
	count := map[string]int{}
	var order []string
	for _, src := range sources {
		if count[src] == 0 {
			order = append(order, src)
		}
		count[src]++
	}
	parts := make([]string, len(order))
	for i, src := range order {
		parts[i] = fmt.Sprintf("%d %s", count[src], src)
	}
	return fmt.Sprintf("pool %s: %d members (%s)", name, len(sources), strings.Join(parts, ", "))
}
