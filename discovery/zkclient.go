package discovery

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zkClientConfig configures a zkClient.
type zkClientConfig struct {
	Servers        []string
	SessionTimeout time.Duration
	Log            *zap.Logger
	// OnEvent gets the current client's events (a replaced client's are
	// dropped), on the client's goroutines: it must not block.
	OnEvent func(zk.Event)
	// Replacements counts clients replaced by MaybeReplace.
	Replacements prometheus.Counter
}

// zkClient is the one ZooKeeper client of a Discovery or a Registrar: a
// go-zookeeper *zk.Conn that is replaced by a new one when it cannot get a
// session, and whose connect handshakes are bounded in time.
//
// go-zookeeper retries forever with the session id and last zxid it has.
// A server that has lost its data (restarted with an empty data dir)
// refuses every connect request whose zxid is ahead of its own, so such a
// client never connects again. MaybeReplace, called by the owner from its
// own goroutine, swaps in a new client (no session, zxid forgotten) once
// the current one has had no session for 2x the session timeout (so no
// session it could still resume is given up) and at least 3 handshakes
// per server in a row were answered by a refusal, a close or silence.
// While no server accepts connections at all nothing is replaced: a new
// client would do no better.
//
// Conn is safe from any goroutine; MaybeReplace and Close belong to the
// owner's goroutine.
type zkClient struct {
	cfg     zkClientConfig
	closing sync.WaitGroup // replaced clients being closed; Close waits

	mu   sync.Mutex
	conn *zk.Conn
	gen  uint64 // of conn; events of older clients are dropped
	// The current client's state, from its session events.
	hasSession  bool
	sessionAt   time.Time // when it last connected with a session
	noSessSince time.Time // when it last lost its session (or was created)
	handshaking bool      // a connection is up but has no session yet
	failed      int       // handshakes failed in a row
	closed      bool
}

// replaceFailuresPerServer is how many failed handshakes per server in a
// row, at least, make a client that cannot get a session be replaced.
const replaceFailuresPerServer = 3

// newZKClient starts a client; it does not wait for a connection.
func newZKClient(cfg zkClientConfig) (*zkClient, error) {
	c := &zkClient{cfg: cfg}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connectLocked(time.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *zkClient) connectLocked(now time.Time) error {
	gen := c.gen + 1
	conn, _, err := zk.Connect(c.cfg.Servers, c.cfg.SessionTimeout,
		zk.WithLogger(zkLogger{c.cfg.Log.Named("zk").Sugar()}),
		zk.WithLogInfo(false),
		zk.WithHostProvider(&hostProvider{}),
		zk.WithDialer(handshakeDialer(handshakeTimeout(c.cfg.SessionTimeout))),
		zk.WithEventCallback(func(ev zk.Event) { c.event(gen, ev) }))
	if err != nil {
		return err
	}
	c.conn, c.gen = conn, gen
	c.hasSession, c.handshaking, c.failed = false, false, 0
	c.noSessSince = now
	return nil
}

// settleTime is how long after a connection with a session no request is
// sent. go-zookeeper reports the session before it re-sets the pending
// watches, and building that request reads the last zxid unsynchronised
// while the receive loop writes it on every reply (a data race upstream,
// reachable as soon as a request of ours completes in that window, even on
// the first connection). The window is microseconds long; waiting a
// settle time keeps our replies out of it unless the client's goroutine
// is starved for that long.
const settleTime = 100 * time.Millisecond

// Ready returns the current client when it has a session and has had it
// for settleTime. Without one it returns nil and how long to wait before
// asking again (0 when there is no session to wait for).
func (c *zkClient) Ready(now time.Time) (*zk.Conn, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hasSession || c.conn.State() != zk.StateHasSession {
		return nil, 0
	}
	if wait := c.sessionAt.Add(settleTime).Sub(now); wait > 0 {
		return nil, wait
	}
	return c.conn, 0
}

// Conn returns the current client.
func (c *zkClient) Conn() *zk.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// event tracks the handshakes of client gen and passes its events on. The
// client reports StateConnected when a TCP connection is up, then
// StateHasSession or StateExpired when the server answered the connect
// request, and StateDisconnected when the connection is gone.
func (c *zkClient) event(gen uint64, ev zk.Event) {
	c.mu.Lock()
	if gen != c.gen || c.closed {
		c.mu.Unlock()
		return
	}
	if ev.Type == zk.EventSession {
		switch ev.State {
		case zk.StateConnected:
			c.handshaking = true
		case zk.StateHasSession:
			c.hasSession, c.handshaking, c.failed = true, false, 0
			c.sessionAt = time.Now()
		case zk.StateExpired:
			// Answered: the client starts a new session next.
			c.handshaking, c.failed = false, 0
		case zk.StateDisconnected:
			if c.handshaking {
				c.failed++
			}
			if c.hasSession {
				c.noSessSince = time.Now()
			}
			c.hasSession, c.handshaking = false, false
		}
	}
	c.mu.Unlock()
	c.cfg.OnEvent(ev)
}

// MaybeReplace replaces the client when it cannot get a session (see
// zkClient) and reports whether it did. The old client is closed in the
// background (that takes a second while it is not connected); Close
// waits for it.
func (c *zkClient) MaybeReplace(now time.Time) bool {
	c.mu.Lock()
	minFailed := replaceFailuresPerServer * max(len(c.cfg.Servers), 1)
	stuck := !c.closed && !c.hasSession && c.failed >= minFailed &&
		now.Sub(c.noSessSince) >= 2*c.cfg.SessionTimeout
	if !stuck {
		c.mu.Unlock()
		return false
	}
	old, failed, since, oldSID := c.conn, c.failed, c.noSessSince, c.conn.SessionID()
	if err := c.connectLocked(now); err != nil {
		// Connect fails only on an empty server list, which config
		// validation rules out; keep the old client.
		c.mu.Unlock()
		c.cfg.Log.Error("failed to replace the zookeeper client", zap.Error(err))
		return false
	}
	c.mu.Unlock()
	c.cfg.Log.Warn("zookeeper client cannot get a session; replacing it with a new client and session",
		zap.Int("failed_handshakes", failed), zap.Duration("without_session", now.Sub(since)),
		zap.String("old_session", sessionHex(oldSID)))
	if c.cfg.Replacements != nil {
		c.cfg.Replacements.Inc()
	}
	c.closing.Add(1)
	go func() {
		defer c.closing.Done()
		old.Close()
	}()
	return true
}

// Close closes the current client and waits for replaced ones to close;
// events stop. It is idempotent.
func (c *zkClient) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	conn := c.conn
	c.mu.Unlock()
	conn.Close()
	c.closing.Wait()
}

// handshakeTimeout bounds a connect handshake (from the TCP connection to
// the server's connect response): a third of the session timeout, at
// least a second. go-zookeeper's own bound is 10x its receive timeout
// (almost 7x the session timeout), so a server that accepts a connection
// but never answers or closes it (ZooKeeper 3.8.0 does that to a client
// that connects while it loads its database: ZOOKEEPER-5051) holds the
// client until its session has long expired.
func handshakeTimeout(session time.Duration) time.Duration {
	return max(session/3, time.Second)
}

// handshakeDialer dials like go-zookeeper's default dialer and bounds the
// connection's handshake by timeout (see handshakeConn).
func handshakeDialer(timeout time.Duration) zk.Dialer {
	return func(network, addr string, dialTimeout time.Duration) (net.Conn, error) {
		conn, err := net.DialTimeout(network, addr, dialTimeout)
		if err != nil {
			return nil, err
		}
		return newHandshakeConn(conn, time.Now().Add(timeout)), nil
	}
}

// handshakeConn holds every deadline of a new ZooKeeper connection to at
// most the handshake's deadline until the server's first frame, the
// connect response (a 4-byte length and that many bytes), has been read;
// then it sets the deadlines the client last asked for and steps aside.
//
// During the handshake only the client's connect goroutine uses the
// connection; after it the send and receive goroutines do, and only the
// done flag is shared.
type handshakeConn struct {
	net.Conn
	deadline time.Time
	done     atomic.Bool

	// handshake state, owned by the connect goroutine
	read   int     // response bytes read
	hdr    [4]byte // response length
	rd, wd time.Time
}

func newHandshakeConn(conn net.Conn, deadline time.Time) *handshakeConn {
	_ = conn.SetDeadline(deadline)
	return &handshakeConn{Conn: conn, deadline: deadline}
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n == 0 || c.done.Load() {
		return n, err
	}
	b := p[:n]
	for c.read < 4 && len(b) > 0 {
		c.hdr[c.read] = b[0]
		c.read++
		b = b[1:]
	}
	c.read += len(b)
	if c.read >= 4 && c.read >= 4+int(int32(binary.BigEndian.Uint32(c.hdr[:]))) {
		_ = c.Conn.SetReadDeadline(c.rd)
		_ = c.Conn.SetWriteDeadline(c.wd)
		c.done.Store(true)
	}
	return n, err
}

// clamp returns the earlier of t and the handshake deadline (no deadline
// counts as the latest).
func (c *handshakeConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.deadline) {
		return c.deadline
	}
	return t
}

func (c *handshakeConn) SetDeadline(t time.Time) error {
	if c.done.Load() {
		return c.Conn.SetDeadline(t)
	}
	c.rd, c.wd = t, t
	return c.Conn.SetDeadline(c.clamp(t))
}

func (c *handshakeConn) SetReadDeadline(t time.Time) error {
	if c.done.Load() {
		return c.Conn.SetReadDeadline(t)
	}
	c.rd = t
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *handshakeConn) SetWriteDeadline(t time.Time) error {
	if c.done.Load() {
		return c.Conn.SetWriteDeadline(t)
	}
	c.wd = t
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

// memberDataLogLimit bounds the member data quoted in a log line.
const memberDataLogLimit = 256

// loggedData is member data for a log line: the first memberDataLogLimit
// bytes, with the full length when it was cut.
type loggedData []byte

func (d loggedData) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	if len(d) <= memberDataLogLimit {
		enc.AddByteString("data", d)
		return nil
	}
	enc.AddByteString("data", d[:memberDataLogLimit])
	enc.AddInt("data_bytes", len(d))
	enc.AddBool("data_truncated", true)
	return nil
}

// Client is the ZooKeeper client the relay and the registrar use, for
// tools (cmd/serverset): a go-zookeeper connection that is replaced by a
// new client when it cannot get a session, e.g. after ZooKeeper restarted
// with an empty data dir and refuses the zxid the old client has seen.
type Client struct{ c *zkClient }

// NewClient starts a client on servers; it does not wait for a session.
// onEvent gets the current client's events on the client's goroutines
// and must not block.
func NewClient(servers []string, sessionTimeout time.Duration, log *zap.Logger, onEvent func(zk.Event)) (*Client, error) {
	c, err := newZKClient(zkClientConfig{Servers: servers, SessionTimeout: sessionTimeout, Log: log, OnEvent: onEvent})
	if err != nil {
		return nil, err
	}
	return &Client{c}, nil
}

// Conn returns the current connection (it changes when MaybeReplace
// replaces the client).
func (c *Client) Conn() *zk.Conn { return c.c.Conn() }

// MaybeReplace replaces the client when it has had no session for twice
// the session timeout while servers refused or ignored its handshakes; it
// reports whether it did. Watches set on the old connection are gone.
func (c *Client) MaybeReplace(now time.Time) bool { return c.c.MaybeReplace(now) }

// Close closes the client; events stop.
func (c *Client) Close() { c.c.Close() }
