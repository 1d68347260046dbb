package discovery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/zap"
)

// Options configure a Discovery.
type Options struct {
	ZooKeeper ZooKeeperConfig
	// Logger; nil means zap.NewNop().
	Logger *zap.Logger
	// Metrics; nil means NewMetrics(nil) (unregistered).
	Metrics *Metrics
}

// Discovery follows the serversets of the relay's pools over one ZooKeeper
// session and feeds each pool's Membership. Without ZooKeeper servers it
// does nothing and the pools stay on their static servers. Start never
// blocks on ZooKeeper; Close stops and waits for every goroutine it started.
//
// Each pool is watched with a children watch and re-listed in full on every
// watch event, every reconnect, every new session and every resync
// interval. Member data is immutable, so it is cached by znode name; only
// new names are read, at most MaxConcurrentGets at a time over all pools.
// A failed sync changes nothing: the pool keeps its last membership.
type Discovery struct {
	cfg ZooKeeperConfig
	log *zap.Logger
	met *Metrics
	sem chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kickCh chan struct{} // session events, from the zk callback
	// connGen counts connections that got a session (every reconnect and
	// every new session), from the zk callback, which sees each one: a
	// watch armed before the latest may have been lost.
	connGen atomic.Uint64

	mu      sync.Mutex
	pools   map[string]*poolWatcher
	zk      *zkClient // set by Start
	started bool
	closed  bool
	state   string
	session int64
}

// New checks the options and returns a Discovery that is not yet started.
func New(opts Options) (*Discovery, error) {
	if opts.ZooKeeper.Enabled() {
		if err := opts.ZooKeeper.Validate(); err != nil {
			return nil, fmt.Errorf("failed to configure discovery: %w", err)
		}
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	n := opts.ZooKeeper.MaxConcurrentGets
	if n < 1 {
		n = DefaultZooKeeperConfig().MaxConcurrentGets
	}
	ctx, cancel := context.WithCancel(context.Background())
	state := "disabled"
	if opts.ZooKeeper.Enabled() {
		state = "not started"
	}
	return &Discovery{
		cfg:    opts.ZooKeeper,
		log:    opts.Logger.Named("discovery"),
		met:    opts.Metrics,
		sem:    make(chan struct{}, n),
		ctx:    ctx,
		cancel: cancel,
		kickCh: make(chan struct{}, 1),
		pools:  map[string]*poolWatcher{},
		state:  state,
	}, nil
}

// Watch follows cfg.Serverset for the pool and feeds m. It may be called
// before or after Start; a pool can be watched once, until Unwatch.
func (d *Discovery) Watch(pool string, cfg PoolConfig, m *Membership) error {
	if cfg.Serverset == "" {
		return fmt.Errorf("failed to watch pool %q: no serverset configured", pool)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("failed to watch pool %q: %w", pool, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("failed to watch pool %q: discovery is closed", pool)
	}
	if _, ok := d.pools[pool]; ok {
		return fmt.Errorf("failed to watch pool %q: already watched", pool)
	}
	pw := &poolWatcher{
		d:     d,
		pool:  pool,
		cfg:   cfg,
		m:     m,
		log:   d.log.With(zap.String("pool", pool), zap.String("serverset", cfg.Serverset)),
		met:   d.met.pool(pool),
		kick:  make(chan struct{}, 1),
		cache: map[string]cachedMember{},
	}
	pw.ctx, pw.cancel = context.WithCancel(d.ctx)
	d.pools[pool] = pw
	if d.started && d.zk != nil {
		d.startPoolLocked(pw)
	}
	return nil
}

// Start connects to ZooKeeper in the background and starts the watchers.
// Without ZooKeeper servers it does nothing. It does not wait for a
// connection.
func (d *Discovery) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("failed to start discovery: it is closed")
	}
	if d.started {
		return nil
	}
	d.started = true
	if !d.cfg.Enabled() {
		return nil
	}
	client, err := newZKClient(zkClientConfig{
		Servers:        d.cfg.Servers,
		SessionTimeout: d.cfg.SessionTimeout.Duration,
		Log:            d.log,
		Replacements:   d.met.zkReplacements,
		OnEvent: func(ev zk.Event) {
			if ev.Type == zk.EventSession {
				if ev.State == zk.StateHasSession {
					d.connGen.Add(1)
				}
				select {
				case d.kickCh <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		return fmt.Errorf("failed to connect to zookeeper %q: %w", strings.Join(d.cfg.Servers, ","), err)
	}
	d.zk = client
	d.state = "connecting"
	d.log.Info("connecting to zookeeper", zap.Strings("servers", d.cfg.Servers),
		zap.Duration("session_timeout", d.cfg.SessionTimeout.Duration))
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.runSession()
	}()
	for _, pw := range d.pools {
		d.startPoolLocked(pw)
	}
	return nil
}

func (d *Discovery) startPoolLocked(pw *poolWatcher) {
	d.wg.Add(1)
	pw.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer pw.wg.Done()
		pw.run(pw.ctx)
	}()
}

// Unwatch stops following the pool's serverset and waits for its watcher
// to return: after it, the pool's Membership gets no more SetZooKeeper
// calls (it keeps its state; stopping it is the caller's business). The
// pool may then be watched again, with another serverset and Membership.
// A sync in flight is waited for: while ZooKeeper is unreachable, that
// can take until the connection is back or Close. Unwatch of a pool not
// watched does nothing.
func (d *Discovery) Unwatch(pool string) { <-d.StopWatch(pool) }

// StopWatch is Unwatch without the wait, for a caller that must not block
// on ZooKeeper (a config reload): the name is free for Watch at once, and
// the returned channel is closed once the old watcher has returned (Close
// waits for it too). Until then a sync in flight may still reach the old
// Membership.
func (d *Discovery) StopWatch(pool string) <-chan struct{} {
	done := make(chan struct{})
	d.mu.Lock()
	pw, ok := d.pools[pool]
	delete(d.pools, pool)
	d.mu.Unlock()
	if !ok {
		close(done)
		return done
	}
	pw.cancel()
	go func() {
		pw.wg.Wait()
		close(done)
	}()
	return done
}

// Close stops the watchers, closes the ZooKeeper session and waits for
// every goroutine. Memberships keep their last state. It is idempotent.
func (d *Discovery) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	client := d.zk
	d.mu.Unlock()
	d.cancel()
	if client != nil {
		client.Close() // fails requests in flight, so watchers return
	}
	d.wg.Wait()
	d.met.zkConnected.Set(0)
	d.mu.Lock()
	d.state = "closed"
	d.mu.Unlock()
}

// Status is what /pools shows about discovery (JSON-ready).
type Status struct {
	// State is "disabled" (no servers), "not started", "connecting",
	// "connected", "disconnected" or "closed".
	State string `json:"state"`
	// SessionID is the current ZooKeeper session (0 without one).
	SessionID int64 `json:"session_id"`
	// Pools holds every watched pool.
	Pools map[string]PoolStatus `json:"pools"`
}

// PoolStatus is one watched pool's discovery state.
type PoolStatus struct {
	Serverset string `json:"serverset"`
	// LastSync is the time of the last successful sync (zero before one).
	LastSync time.Time `json:"last_sync"`
	// LastError is the last failed sync's error, cleared by a success.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at"`
	// Members is the number of usable members at the last sync; Skipped the
	// member znodes that were not usable; Duplicates the usable ones that
	// collapsed into another with the same address or instance.
	Members    int `json:"members"`
	Skipped    int `json:"skipped"`
	Duplicates int `json:"duplicates"`
}

// Status returns the connection state and every watched pool's state.
func (d *Discovery) Status() Status {
	d.mu.Lock()
	st := Status{State: d.state, SessionID: d.session, Pools: make(map[string]PoolStatus, len(d.pools))}
	pools := make([]*poolWatcher, 0, len(d.pools))
	for _, pw := range d.pools {
		pools = append(pools, pw)
	}
	d.mu.Unlock()
	for _, pw := range pools {
		st.Pools[pw.pool] = pw.status()
	}
	return st
}

// runSession follows the session state. Expiry is detected from the
// session id changing (polled as well as on events, since the client drops
// events when its channel is full); every new session and every reconnect
// within a session makes all pools re-list. A client that cannot get a
// session is replaced here (see zkClient); its successor's session is a
// new one, on which every pool re-lists and re-arms its watch.
func (d *Discovery) runSession() {
	var (
		lastSID   int64
		connected bool
		authed    bool
	)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.kickCh:
		case <-tick.C:
		}
		if d.zk.MaybeReplace(time.Now()) {
			// Not an expiry seen by us: the next session is the first of
			// a new client, which needs the credentials again.
			lastSID, authed = 0, false
		}
		conn := d.zk.Conn()
		state, sid := conn.State(), conn.SessionID()
		now := state == zk.StateHasSession
		newSession := now && sid != 0 && sid != lastSID
		if newSession {
			if lastSID != 0 {
				d.met.zkExpirations.Inc()
				d.log.Warn("zookeeper session expired; new session", zap.String("old_session", sessionHex(lastSID)),
					zap.String("session", sessionHex(sid)))
			} else {
				d.log.Info("zookeeper session established", zap.String("session", sessionHex(sid)), zap.String("server", conn.Server()))
			}
			d.met.zkSessions.Inc()
			lastSID = sid
		}
		// Once added, the client itself re-sends the credentials on every
		// connection, new sessions included: adding them again would only
		// grow its list.
		if now && !authed && d.cfg.Auth != "" {
			if err := conn.AddAuth("digest", []byte(d.cfg.Auth)); err != nil {
				d.log.Warn("failed to authenticate to zookeeper", zap.Error(err))
			} else {
				authed = true
			}
		}
		if now != connected {
			if now {
				d.log.Info("zookeeper connected", zap.String("server", conn.Server()))
				d.met.zkConnected.Set(1)
			} else {
				d.log.Warn("zookeeper disconnected; pools keep their last membership", zap.String("state", state.String()))
				d.met.zkConnected.Set(0)
			}
		}
		if now && (newSession || !connected) {
			d.kickPools()
		}
		connected = now
		d.mu.Lock()
		if d.state != "closed" {
			d.state = map[bool]string{true: "connected", false: "disconnected"}[now]
			if lastSID == 0 && !now {
				d.state = "connecting"
			}
		}
		d.session = 0
		if now {
			d.session = sid
		}
		d.mu.Unlock()
	}
}

func (d *Discovery) kickPools() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, pw := range d.pools {
		select {
		case pw.kick <- struct{}{}:
		default:
		}
	}
}

func sessionHex(id int64) string { return fmt.Sprintf("0x%016x", uint64(id)) }

// zkLogger sends the client library's messages to zap at debug level (it
// logs every failed connect attempt).
type zkLogger struct{ l *zap.SugaredLogger }

func (z zkLogger) Printf(format string, args ...any) { z.l.Debugf(format, args...) }

type cachedMember struct {
	seq    int64
	server Server
	skip   SkipReason
}

// poolWatcher follows one pool's serverset.
type poolWatcher struct {
	d    *Discovery
	pool string
	cfg  PoolConfig
	m    *Membership
	log  *zap.Logger
	met  *poolMetrics
	kick chan struct{}

	// ctx, derived from d.ctx, ends run; Unwatch cancels it and waits on wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	cache map[string]cachedMember // owned by run's goroutine
	// parent identifies the serverset znode the cache was filled from
	// (owned by run's goroutine): member names restart at 0 when the path
	// is created again, or on a server that lost its data, so a name then
	// means another member.
	parent znodeID

	mu     sync.Mutex
	st     PoolStatus
	logged time.Time // last error logged, for rate limiting
}

func (pw *poolWatcher) status() PoolStatus {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	st := pw.st
	st.Serverset = pw.cfg.Serverset
	return st
}

// errNotConnected fails a sync that was not tried: the client has no
// session (or has just got one: see settleTime). Requests are not queued
// while it reconnects: go-zookeeper would send them as soon as it is
// connected, and a reply in the moment it re-sets the session's watches
// races with that (upstream: recvLoop writes lastZxid while
// sendSetWatches reads it).
var errNotConnected = errors.New("zookeeper not connected")

// run syncs the pool until ctx is done. Every sync after a watch event, a
// reconnect or an error re-arms the watch. A resync timer on a quiet
// serverset only re-lists: the watch armed on the same connection is still
// pending, and each watching call leaves the client holding one more
// channel until the path's next event (one per resync, without end, on a
// serverset that does not change). Each sync uses the current client (see
// zkClient); without a session it waits for the reconnect's kick.
func (pw *poolWatcher) run(ctx context.Context) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	resync := pw.d.cfg.ResyncInterval.Duration
	var (
		watch    <-chan zk.Event // pending watch; nil after an error
		armedGen uint64          // connGen when watch was armed
		rearm    = true
	)
	for {
		gen := pw.d.connGen.Load()
		var (
			w   <-chan zk.Event
			err error
		)
		conn, settle := pw.d.zk.Ready(time.Now())
		if settle > 0 {
			t := time.NewTimer(settle)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			conn, _ = pw.d.zk.Ready(time.Now())
		}
		if conn != nil {
			w, err = pw.sync(ctx, conn, rearm)
		} else {
			err = fmt.Errorf("failed to list serverset %q: %w", pw.cfg.Serverset, errNotConnected)
		}
		if ctx.Err() != nil {
			return
		}
		var delay time.Duration
		if err != nil {
			pw.failed(err)
			watch = nil
			delay = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, maxBackoff)
		} else {
			if rearm {
				watch, armedGen = w, gen
			}
			backoff = minBackoff
			delay = resync
		}
		var wait <-chan time.Time
		var t *time.Timer
		if delay > 0 {
			t = time.NewTimer(delay)
			wait = t.C
		}
		rearm = true
		select {
		case <-ctx.Done():
		case <-watch: // nil after an error: never ready
		case <-pw.kick:
		case <-wait:
			// A resync: the watch is still armed unless the client has
			// connected again since (a fired one is read next time round).
			rearm = watch == nil || pw.d.connGen.Load() != armedGen
		}
		if t != nil {
			t.Stop()
		}
	}
}

// failed records a failed sync. One not tried for want of a session is
// neither counted nor logged (runSession logs the disconnection).
func (pw *poolWatcher) failed(err error) {
	quiet := errors.Is(err, errNotConnected)
	if !quiet {
		pw.met.syncErr.Inc()
	}
	now := time.Now()
	pw.mu.Lock()
	repeat := pw.st.LastError == err.Error() && now.Sub(pw.logged) < 30*time.Second
	pw.st.LastError, pw.st.LastErrorAt = err.Error(), now
	if !repeat && !quiet {
		pw.logged = now
	}
	pw.mu.Unlock()
	if !repeat && !quiet {
		pw.log.Warn("serverset sync failed; keeping the last membership", zap.Error(err))
	}
}

// sync lists the serverset, reads new members and hands the result to the
// Membership. With rearm it lists with a watch and returns the watch to
// wait on; without, the caller's pending watch stays in force.
func (pw *poolWatcher) sync(ctx context.Context, conn *zk.Conn, rearm bool) (<-chan zk.Event, error) {
	start := time.Now()
	p := pw.cfg.Serverset
	var (
		children []string
		stat     *zk.Stat
		watch    <-chan zk.Event
		err      error
	)
	if !rearm {
		// The pending watch is the children watch, or the exists watch
		// while the path is missing (whose creation fires it).
		children, stat, err = conn.Children(p)
		if errors.Is(err, zk.ErrNoNode) {
			children, err = nil, nil
		}
	}
	for attempt := 0; rearm && attempt < 3; attempt++ {
		children, stat, watch, err = conn.ChildrenW(p)
		if !errors.Is(err, zk.ErrNoNode) {
			break
		}
		// No serverset yet: watch for it to appear. Until then it is empty
		// (EmptyHold guards the ring against a mistakenly deleted path).
		var exists bool
		exists, _, watch, err = conn.ExistsW(p)
		children, stat = nil, nil
		if err != nil || !exists {
			break
		}
		// It appeared between the two calls: list again.
	}
	if err != nil {
		return nil, fmt.Errorf("failed to list serverset %q: %w", p, err)
	}
	if id := idOf(stat); id != pw.parent {
		if len(pw.cache) > 0 {
			pw.log.Info("serverset znode was created anew; reading every member again")
			clear(pw.cache)
		}
		pw.parent = id
	}
	if err := pw.fetch(ctx, conn, children); err != nil {
		return nil, err
	}
	servers, skipped, dups := pw.build(children)
	now := time.Now()
	pw.met.synced(now, now.Sub(start))
	pw.mu.Lock()
	pw.st.LastSync, pw.st.LastError = now, ""
	pw.st.Members, pw.st.Skipped, pw.st.Duplicates = len(servers), skipped, dups
	pw.mu.Unlock()
	pw.m.SyncZooKeeper(servers, now, SyncInfo{Missing: stat == nil, Skipped: skipped})
	return watch, nil
}

// fetch reads the members not yet cached, at most MaxConcurrentGets at a
// time over all pools, and drops cache entries of vanished children. A
// member that vanished between list and read is skipped; one whose ACL
// does not let us read it is skipped too (and read again next time, as an
// ACL can change); any other error fails the sync (what was read stays
// cached).
func (pw *poolWatcher) fetch(ctx context.Context, conn *zk.Conn, children []string) error {
	present := make(map[string]bool, len(children))
	var todo []string
	for _, name := range children {
		if !IsMemberName(name) {
			continue
		}
		present[name] = true
		if cm, ok := pw.cache[name]; !ok || cm.skip == SkipUnreadable {
			todo = append(todo, name)
		}
	}
	for name := range pw.cache {
		if !present[name] {
			delete(pw.cache, name)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	type result struct {
		name string
		cm   cachedMember
		err  error
	}
	results := make(chan result, len(todo))
	var wg sync.WaitGroup
	for _, name := range todo {
		select {
		case pw.d.sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-pw.d.sem }()
			data, _, err := conn.Get(path.Join(pw.cfg.Serverset, name))
			r := result{name: name, err: err}
			if err == nil {
				r.cm = pw.decode(name, data)
			}
			results <- r
		}()
	}
	wg.Wait()
	close(results)
	var firstErr error
	for r := range results {
		switch {
		case errors.Is(r.err, zk.ErrNoNode):
			pw.met.skipped[SkipFetchNoNode].Inc()
		case errors.Is(r.err, zk.ErrNoAuth):
			// One unreadable member must not stop the pool's updates.
			if pw.cache[r.name].skip != SkipUnreadable {
				pw.log.Warn("skipping member the relay may not read", zap.String("member", r.name), zap.Error(r.err))
			}
			pw.cache[r.name] = cachedMember{seq: memberSeq(r.name), skip: SkipUnreadable}
			pw.met.skipped[SkipUnreadable].Inc()
		case r.err != nil:
			if firstErr == nil {
				firstErr = fmt.Errorf("failed to read member %q: %w", path.Join(pw.cfg.Serverset, r.name), r.err)
			}
		default:
			pw.cache[r.name] = r.cm
			if r.cm.skip != "" {
				pw.met.skipped[r.cm.skip].Inc()
			}
		}
	}
	return firstErr
}

// znodeID tells a znode from an earlier one at the same path (or on a
// server that lost its data, where zxids restart: hence the time too).
type znodeID struct{ czxid, ctime int64 }

func idOf(s *zk.Stat) znodeID {
	if s == nil {
		return znodeID{}
	}
	return znodeID{s.Czxid, s.Ctime}
}

func (pw *poolWatcher) decode(name string, data []byte) cachedMember {
	cm := cachedMember{seq: memberSeq(name)}
	pm, err := ParseMember(name, data)
	if err != nil {
		cm.skip = SkipInvalidJSON
		pw.log.Warn("skipping member with invalid data", zap.String("member", name), zap.Error(err),
			zap.Inline(loggedData(data)))
		return cm
	}
	cm.server, cm.skip = pw.cfg.Select(pm)
	if cm.skip != "" && cm.skip != SkipShardMismatch && cm.skip != SkipNotAlive {
		pw.log.Warn("skipping member", zap.String("member", name), zap.String("reason", string(cm.skip)),
			zap.Inline(loggedData(data)))
	}
	return cm
}

// build turns the cached members of the listed children into servers.
// Duplicates collapse so each address and each instance appears once; the
// newest registration (highest sequence number) wins, as a backend that
// re-registered is the live one and an older node is a leftover of its
// expiring session. With instance_from = "shard" an address may register
// several shards (a statsrelay shard map's virtual shards): there only the
// shard collapses.
func (pw *poolWatcher) build(children []string) (servers []Server, skipped, dups int) {
	type cand struct {
		seq int64
		srv Server
	}
	type addrKey struct {
		host  string
		port  int
		shard string // with instance_from = "shard": the instance
	}
	keyOf := func(s Server) addrKey {
		k := addrKey{host: s.Host, port: s.Port}
		if pw.cfg.InstanceFrom == "shard" {
			k.shard = s.Instance
		}
		return k
	}
	byAddr := map[addrKey]cand{}
	for _, name := range children {
		cm, ok := pw.cache[name]
		if !ok {
			continue
		}
		if cm.skip != "" {
			skipped++
			continue
		}
		addr := keyOf(cm.server)
		if old, ok := byAddr[addr]; ok {
			dups++
			if old.seq > cm.seq {
				continue
			}
		}
		byAddr[addr] = cand{cm.seq, cm.server}
	}
	byInstance := map[string]cand{}
	for addr, c := range byAddr {
		if c.srv.Instance == "" {
			continue
		}
		if old, ok := byInstance[c.srv.Instance]; ok {
			dups++
			if old.seq > c.seq {
				delete(byAddr, addr)
				continue
			}
			delete(byAddr, keyOf(old.srv))
		}
		byInstance[c.srv.Instance] = c
	}
	servers = make([]Server, 0, len(byAddr))
	for _, c := range byAddr {
		servers = append(servers, c.srv)
	}
	return SortServers(servers), skipped, dups
}
