package proxy

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"ringrelay/discovery"
	"ringrelay/hashring"
	"ringrelay/internal/buildinfo"
)

// statusHTML is the status page's template: plain HTML that reloads itself
// (meta refresh), readable without JavaScript and without a build step.
//
//go:embed status.html
var statusHTML string

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"bytes": humanBytes,
	"when":  formatTime,
}).Parse(statusHTML))

// Status page refresh: the default interval, and the longest a ?refresh=
// may ask for.
const (
	statusRefresh    = 5
	maxStatusRefresh = 3600
)

// statusPage is what the page at / shows, taken at one moment from what
// /stats, /pools and /ops/status report, so the page never says something
// the API does not.
type statusPage struct {
	Build buildinfo.Info
	// Refresh is the meta refresh interval in seconds (0: none).
	Refresh   int
	Now       time.Time
	Started   time.Time
	Uptime    time.Duration
	Applied   time.Time      // the running config: start or last successful reload
	Reload    *reloadOutcome // the last reload, nil before one
	ZooKeeper *discovery.Status
	Pools     []poolView
	Listeners []listenerView
}

// poolView is one pool: its ring, its health and its members.
type poolView struct {
	Name        string
	Hasher      string
	Compat      string
	Replication int
	Serverset   string
	// Reason says why the pool has no members; Overlay is what was added
	// and purged over HTTP (both as /pools has them).
	Reason  string
	Overlay OverlayView
	// LastSync and SyncError come from discovery (serverset pools only).
	LastSync  time.Time
	SyncError string
	Healthy   bool
	Health    string
	Routed    uint64
	NoMembers uint64
	RingBuilt time.Time
	Members   []memberView
}

// Overreplicated is true when the ring has fewer members than copies it
// should keep of each line: it then keeps fewer.
func (p poolView) Overreplicated() bool { return len(p.Members) > 0 && p.Replication > len(p.Members) }

// memberView is one ring member and the health of its backend.
type memberView struct {
	Server string
	Source string
	// HasBackend is false for route-only relays (no connections).
	HasBackend  bool
	Up          bool
	Stalled     bool
	QueuedBytes int64
	QueueLimit  int64
	Sent        uint64
	Drops       []dropCount
	LastError   string
	LastErrorAt time.Time
}

// QueuePercent is the queue's fill, in whole percent of queue_bytes.
func (m memberView) QueuePercent() int64 {
	if m.QueueLimit <= 0 {
		return 0
	}
	return m.QueuedBytes * 100 / m.QueueLimit
}

// dropCount is how many lines were lost for one reason.
type dropCount struct {
	Reason string
	Lines  uint64
}

// listenerView is one listener: its /stats, where its lines go, and the
// lines it found invalid by reason.
type listenerView struct {
	Name       string
	Aggregator string
	Stats      ListenerStats
	Invalid    []dropCount
}

// handleStatusPage serves the status page. ?refresh=N sets the reload
// interval in seconds (0 stops it).
func (r *Relay) handleStatusPage(w http.ResponseWriter, req *http.Request) {
	refresh, err := refreshParam(req.URL.Query().Get("refresh"))
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	var page bytes.Buffer
	if err := statusTemplate.Execute(&page, r.statusPage(refresh)); err != nil {
		r.log.Error("failed to render the status page", zap.Error(err))
		httpError(w, http.StatusInternalServerError, "failed to render the status page: %v", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// The page runs no script and loads nothing: say so to the browser.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = w.Write(page.Bytes())
}

func refreshParam(v string) (int, error) {
	if v == "" {
		return statusRefresh, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxStatusRefresh {
		return 0, fmt.Errorf("bad refresh %q: want whole seconds from 0 (no refresh) to %d", v, maxStatusRefresh)
	}
	return n, nil
}

// statusPage gathers the page's data from the running router.
func (r *Relay) statusPage(refresh int) statusPage {
	now := time.Now()
	page := statusPage{
		Build:   buildinfo.Read(),
		Refresh: refresh,
		Now:     now,
		Started: r.started,
		Uptime:  now.Sub(r.started).Round(time.Second),
		Applied: gaugeTime(r.metrics.reloadSuccess),
		Reload:  r.metrics.lastReload.Load(),
	}
	var syncs map[string]discovery.PoolStatus
	if d := r.currentDiscovery(); d != nil {
		st := d.Status()
		page.ZooKeeper = &st
		syncs = st.Pools
	}
	rt := r.router.Load()
	for _, name := range rt.poolNames {
		page.Pools = append(page.Pools, rt.pools[name].view(syncs[name]))
	}
	for _, l := range rt.listeners {
		page.Listeners = append(page.Listeners, l.view())
	}
	return page
}

// view is the pool's part of the status page; sync is its discovery state
// (zero without a serverset).
func (p *Pool) view(sync discovery.PoolStatus) poolView {
	st := p.state.Load()
	healthy, why := p.health()
	pm := p.members()
	pv := poolView{
		Reason: pm.Reason, Overlay: pm.Overlay,
		Name: p.name, Hasher: st.cfg.Hasher, Compat: cmp.Or(st.cfg.Compat, hashring.DefaultCompat(st.cfg.Hasher)),
		Replication: max(st.cfg.Replication, 1),
		Serverset:   st.cfg.Serverset, LastSync: st.snap.LastSync, SyncError: sync.LastError,
		Healthy: healthy, Health: why, RingBuilt: st.built,
		Routed:    uint64(counterValue(p.metrics.routed)),
		NoMembers: uint64(counterValue(p.metrics.noMembers)),
	}
	// The snapshot's members, the ring's servers and its backends share
	// one order.
	for i, m := range st.snap.Members {
		mv := memberView{Server: m.Display(), Source: string(m.Source)}
		if i < len(st.backends) && st.backends[i] != nil {
			bs := st.backends[i].Stats()
			mv.HasBackend, mv.Up, mv.Stalled = true, bs.Up, bs.Stalled
			mv.QueuedBytes, mv.QueueLimit, mv.Sent = bs.QueuedBytes, bs.QueueLimitBytes, bs.LinesSent
			mv.LastError, mv.LastErrorAt = bs.LastError, bs.LastErrorAt
			mv.Drops = dropCounts(bs.LinesDropped)
		}
		pv.Members = append(pv.Members, mv)
	}
	return pv
}

// view is the listener's part of the status page.
func (l *listener) view() listenerView {
	name, ls := l.stats()
	return listenerView{Name: name, Aggregator: l.route.Load().cfg.Aggregator, Stats: ls, Invalid: dropCounts(ls.Invalid)}
}

// dropCounts lists the reasons that lost lines, by name.
func dropCounts(by map[string]uint64) []dropCount {
	var out []dropCount
	for reason, n := range by {
		if n > 0 {
			out = append(out, dropCount{Reason: reason, Lines: n})
		}
	}
	slices.SortFunc(out, func(a, b dropCount) int { return strings.Compare(a.Reason, b.Reason) })
	return out
}

// gaugeTime reads a gauge holding a Unix time (zero when unset).
func gaugeTime(g interface{ Write(*dto.Metric) error }) time.Time {
	var m dto.Metric
	if err := g.Write(&m); err != nil || m.Gauge == nil || m.Gauge.GetValue() == 0 {
		return time.Time{}
	}
	sec := m.Gauge.GetValue()
	return time.Unix(0, int64(sec*float64(time.Second)))
}

// humanBytes writes n in the largest binary unit that keeps it >= 1, with
// one decimal: 1536 is "1.5 KiB".
func humanBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}

// formatTime is a time as the page shows it: UTC, to the second, or "never".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
