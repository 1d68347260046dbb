// Command serverset manages Finagle-style serversets in ZooKeeper: it lists
// and watches their members and drains members out of every ring without
// stopping them.
//
//	serverset list    -zk HOST:PORT[,...] -path /discovery/ENV/SERVICE [-json]
//	serverset watch   -zk ... -path ...
//	serverset drain   -zk ... -path ... -member HOST:PORT [-reason TEXT] [-wait 15s]
//	serverset undrain -zk ... -path ... -member HOST:PORT [-wait 15s]
//
// list prints every child of the serverset path: members with their host,
// port, additional endpoints, shard, status, session owner (the znode's
// ephemeralOwner) and age, drain markers, and children that are not
// members. Members some reader cannot use (malformed JSON, a port that is
// not an integer, missing keys Twitter's Python readers require, a
// persistent znode) and non-member children are flagged, never skipped.
//
// watch prints what is there ("present" lines), then one line per change
// (time, join/leave for members, drain/undrain for markers, znode, member)
// until interrupted. It re-lists after every reconnect and new session and
// every -resync, so a ZooKeeper restart shows as the difference between
// the listings before and after it.
//
// # Draining
//
// A drain is a persistent marker znode, <path>/drain-HOST:PORT, holding a
// plain-text note (who, when, why). Its name does not start with member_,
// so no serverset reader takes it for a member (Finagle's zk2 resolver and
// Group, Twitter's Python commons and our relay read only member_
// children), and its data is not a JSON object, so readers that parse every
// child (Prometheus' serverset discovery) drop it as unparsable.
//
// serverset-register watches the marker for its own HOST:PORT. While it
// exists the registrar announces its member with status STOPPING (a value
// of Finagle's Status enum, so Finagle and Python readers parse the member
// and skip it) instead of ALIVE; member data is immutable, so it creates
// the STOPPING member first and then deletes the ALIVE one. Readers that
// route only to ALIVE members (Finagle's zk2 resolver, our relay) drop the
// backend from their rings; the backend keeps running and stays checked.
// undrain deletes the marker and the registrar announces ALIVE again.
//
// drain waits (-wait) until no ALIVE member announces HOST:PORT. If none
// does to begin with, or one stays ALIVE (it was registered by a tool that
// does not know drain markers: a Finagle or Aurora announcer, an older
// serverset-register), drain warns and leaves the marker in place, so a
// registrar of ours that starts later for HOST:PORT starts drained.
// Readers that ignore status (Finagle's deprecated zk! resolver, Synapse,
// Prometheus) keep such a member; see the README, "Managing serversets".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/zap"

	"ringrelay/discovery"
	"ringrelay/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "serverset:", err)
		os.Exit(2)
	}
}

const usage = `Usage: serverset COMMAND -zk HOST:PORT[,...] -path PATH [flags]

Commands:
  list     every child of PATH: members (host, port, additional endpoints,
           shard, status, session owner, age), drain markers, flagged junk
  watch    print joins and leaves as they happen, until interrupted
  drain    take -member HOST:PORT out of every ring without stopping it
  undrain  put -member HOST:PORT back

Run "serverset COMMAND -help" for a command's flags.
`

// run parses args and runs one command; results go to stdout, logs and
// warnings to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given: want list, watch, drain or undrain")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "list":
		return runList(ctx, rest, stdout, stderr)
	case "watch":
		return runWatch(ctx, rest, stdout, stderr)
	case "drain", "undrain":
		return runDrain(ctx, cmd, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q: want list, watch, drain or undrain", cmd)
}

// common are the flags every command has.
type common struct {
	fs        *flag.FlagSet
	zk        string
	path      string
	timeout   time.Duration
	session   time.Duration
	auth      string
	logFormat string
	logLevel  string
}

func newCommon(name, synopsis string, stderr io.Writer) *common {
	c := &common{fs: flag.NewFlagSet("serverset "+name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.zk, "zk", "", "ZooKeeper servers, HOST:PORT[,...] (required)")
	c.fs.StringVar(&c.path, "path", "", "serverset path, e.g. /discovery/prod/carbon-cache (required)")
	c.fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for a ZooKeeper session at start")
	c.fs.DurationVar(&c.session, "session-timeout", 10*time.Second, "ZooKeeper session timeout")
	c.fs.StringVar(&c.auth, "auth", "", "digest credentials user:password (env ZK_AUTH also works)")
	c.fs.StringVar(&c.logFormat, "log-format", "text", "text or json (logs and warnings, on stderr)")
	c.fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: serverset %s -zk HOST:PORT[,...] -path PATH %s\n\nFlags:\n", name, synopsis)
		c.fs.PrintDefaults()
	}
	return c
}

// parse parses args and checks the common flags (and the extra required
// ones), naming every missing one at once.
func (c *common) parse(args []string, required ...string) error {
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", c.fs.Args())
	}
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var missing []string
	for _, name := range append([]string{"zk", "path"}, required...) {
		if !set[name] {
			missing = append(missing, "-"+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required flags: %s (see -help)", strings.Join(missing, ", "))
	}
	if !strings.HasPrefix(c.path, "/") || (len(c.path) > 1 && strings.HasSuffix(c.path, "/")) {
		return fmt.Errorf("-path %q: want an absolute ZooKeeper path such as /discovery/prod/carbon-cache", c.path)
	}
	if c.auth == "" {
		c.auth = os.Getenv("ZK_AUTH")
	}
	if c.auth != "" && !strings.Contains(c.auth, ":") {
		return errors.New("-auth: want user:password")
	}
	return nil
}

func (c *common) servers() []string {
	var out []string
	for _, s := range strings.Split(c.zk, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (c *common) logger(stderr io.Writer) (*zap.Logger, error) {
	return logging.New(stderr, c.logLevel, c.logFormat)
}

// session is a ZooKeeper client with its session state changes. The
// client is the relay's (discovery.Client): replace swaps in a new one
// when ZooKeeper refuses the old one for good (a server restarted with an
// empty data dir).
type session struct {
	client *discovery.Client
	auth   string // digest credentials, added to every new client's session
	// changed gets a (coalesced) signal on every session state change.
	changed chan struct{}
	// closing silences the disconnect that close causes.
	closing atomic.Bool
	authed  *zk.Conn // the client the credentials were added to
}

// conn returns the current client.
func (s *session) conn() *zk.Conn { return s.client.Conn() }

// ready returns the current client when it has a session, with the
// credentials added to it; nil otherwise.
func (s *session) ready() (*zk.Conn, error) {
	conn := s.client.Conn()
	if conn.State() != zk.StateHasSession {
		return nil, nil
	}
	if s.auth != "" && s.authed != conn {
		if err := conn.AddAuth("digest", []byte(s.auth)); err != nil {
			return nil, fmt.Errorf("failed to authenticate to zookeeper: %w", err)
		}
		s.authed = conn
	}
	return conn, nil
}

// replace replaces the client when it cannot get a session (see
// discovery.Client.MaybeReplace); true when it did.
func (s *session) replace(now time.Time) bool { return s.client.MaybeReplace(now) }

func (s *session) close() {
	s.closing.Store(true)
	s.client.Close()
}

// connect opens a client and waits up to c.timeout for a session. Session
// changes are logged (connect, disconnect, expiry) and signalled on
// changed.
// open builds the logger and connects: what every command does once its
// flags are read. The caller closes the session.
func (c *common) open(ctx context.Context, stderr io.Writer) (*session, *zap.Logger, error) {
	log, err := c.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	s, err := c.connect(ctx, log)
	if err != nil {
		return nil, nil, err
	}
	return s, log, nil
}

func (c *common) connect(ctx context.Context, log *zap.Logger) (*session, error) {
	s := &session{changed: make(chan struct{}, 1), auth: c.auth}
	var sessions atomic.Int64 // sessions had, to log reconnects but not the first connect
	client, err := discovery.NewClient(c.servers(), c.session, log, func(ev zk.Event) {
		if ev.Type != zk.EventSession {
			return
		}
		if !s.closing.Load() {
			logSessionEvent(log, ev, &sessions)
		}
		select {
		case s.changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("failed to connect to zookeeper %q: %w", c.zk, err)
	}
	s.client = client
	deadline := time.NewTimer(c.timeout)
	defer deadline.Stop()
	for s.conn().State() != zk.StateHasSession {
		select {
		case <-s.changed:
		case <-deadline.C:
			s.close()
			return nil, fmt.Errorf("failed to connect to zookeeper %q: no session within %s", c.zk, c.timeout)
		case <-ctx.Done():
			s.close()
			return nil, ctx.Err()
		}
	}
	if _, err := s.ready(); err != nil {
		s.close()
		return nil, fmt.Errorf("zookeeper %q: %w", c.zk, err)
	}
	return s, nil
}

// logSessionEvent logs session changes on stderr: the first connect only
// at debug (a one-shot command need not say it), reconnects at info.
func logSessionEvent(log *zap.Logger, ev zk.Event, sessions *atomic.Int64) {
	switch ev.State {
	case zk.StateHasSession:
		if sessions.Add(1) == 1 {
			log.Debug("zookeeper connected", zap.String("server", ev.Server))
		} else {
			log.Info("zookeeper connected again", zap.String("server", ev.Server))
		}
	case zk.StateDisconnected:
		log.Info("zookeeper disconnected", zap.String("server", ev.Server))
	case zk.StateExpired:
		log.Info("zookeeper session expired; starting a new one", zap.String("server", ev.Server))
	case zk.StateAuthFailed:
		log.Warn("zookeeper authentication failed", zap.String("server", ev.Server))
	}
}

// zkLogger sends go-zookeeper's own messages to the debug log.
type zkLogger struct{ l *zap.SugaredLogger }

func (z zkLogger) Printf(format string, args ...any) { z.l.Debugf(format, args...) }

// sessionHex formats a session id as ZooKeeper's tools do.
func sessionHex(id int64) string { return fmt.Sprintf("0x%016x", uint64(id)) }

// endpointOf is a listed child's host:port.
func endpointOf(c discovery.ListedChild) discovery.Endpoint {
	return discovery.Endpoint{Host: c.Host, Port: c.Port}
}
