package cassandra

import (
	"errors"
	"fmt"
	stdlog "log"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"go.uber.org/zap"

	"ringrelay/sinks"
)

// reconnectInterval is how often gocql dials nodes whose pool is down
// (its default is a minute, too long for a relay that queues meanwhile).
const reconnectInterval = 2 * time.Second

// sessionResetAfter: a session that has found no host to send to for this
// long is closed, and the next write makes a new one. gocql can leave a
// node that came back marked up with an empty connection pool, and then
// never dials it again (apache/cassandra-gocql-driver#915, #1614): seen
// here as a client that never reconnected after a restart.
const sessionResetAfter = 10 * time.Second

// store talks to Cassandra: the session, the statements, the path index
// cache. It is the Async queue's BatchWriter and the reads' backend.
type store struct {
	cfg       Config
	cluster   *gocql.ClusterConfig
	rets      []sinks.Retention
	retention map[int64]int64 // seconds, by resolution in seconds
	bucket    int64           // seconds
	stmts     statements
	log       *zap.Logger
	now       func() time.Time
	index     *indexCache // used by the writer goroutine only

	glog *gocqlLog

	mu     sync.Mutex
	sess   *gocql.Session // nil until connected
	closed bool
	// noHostsSince is when writes began to find no host (zero: they do);
	// resetAfter is sessionResetAfter (shorter in tests); resets counts
	// the sessions closed for it.
	noHostsSince time.Time
	resetAfter   time.Duration
	resets       int
}

// wrote notes the outcome of a write on sess: after resetAfter of nothing
// but "no hosts available", sess is closed and the next write connects
// anew.
func (s *store) wrote(sess *gocql.Session, err error) {
	s.mu.Lock()
	if !errors.Is(err, gocql.ErrNoConnections) || s.sess != sess {
		s.noHostsSince = time.Time{}
		s.mu.Unlock()
		return
	}
	now := time.Now() // the wall clock, not s.now (a test's clock for the data)
	if s.noHostsSince.IsZero() {
		s.noHostsSince = now
	}
	down := now.Sub(s.noHostsSince)
	if down < s.resetAfter {
		s.mu.Unlock()
		return
	}
	s.sess, s.noHostsSince = nil, time.Time{}
	s.resets++
	s.mu.Unlock()
	s.log.Warn("no cassandra host to write to; closing the session to connect anew",
		zap.Duration("for", down), zap.Strings("hosts", s.cfg.Hosts))
	sess.Close()
}

// gocqlLog is gocql's logger: the sink's, until the sink closes. gocql's
// control connection goroutine outlives Session.Close and may still log a
// failed reconnect; once close has returned nothing of the sink's logs
// (a write in progress finishes first: mu).
type gocqlLog struct {
	std    *stdlog.Logger
	mu     sync.RWMutex
	closed bool
}

func (l *gocqlLog) log(write func()) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.closed {
		write()
	}
}

func (l *gocqlLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

func (l *gocqlLog) Print(v ...any)                 { l.log(func() { l.std.Print(v...) }) }
func (l *gocqlLog) Printf(format string, v ...any) { l.log(func() { l.std.Printf(format, v...) }) }
func (l *gocqlLog) Println(v ...any)               { l.log(func() { l.std.Println(v...) }) }

// statements are the CQL texts the sink runs, for its keyspace.
type statements struct {
	schema         []string
	insertPoint    string
	insertLeaf     string
	insertBranch   string
	selectPoints   string
	selectChildren string
	selectChild    string
}

func newStatements(ks, replication string) statements {
	return statements{
		schema: []string{
			fmt.Sprintf(`CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s`, ks, replication),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.points (
	path text, resolution int, bucket bigint, start bigint,
	count bigint, sum double, min double, max double, last double,
	PRIMARY KEY ((path, resolution, bucket), start)
) WITH CLUSTERING ORDER BY (start ASC)`, ks),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.paths (
	parent text, name text, leaf boolean, branch boolean,
	PRIMARY KEY (parent, name)
)`, ks),
		},
		insertPoint: fmt.Sprintf(`INSERT INTO %s.points (path, resolution, bucket, start, count, sum, min, max, last)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`, ks),
		insertLeaf:     fmt.Sprintf(`INSERT INTO %s.paths (parent, name, leaf) VALUES (?, ?, true) USING TTL ?`, ks),
		insertBranch:   fmt.Sprintf(`INSERT INTO %s.paths (parent, name, branch) VALUES (?, ?, true) USING TTL ?`, ks),
		selectPoints:   fmt.Sprintf(`SELECT start, count, sum, min, max, last FROM %s.points WHERE path = ? AND resolution = ? AND bucket = ? AND start >= ? AND start < ?`, ks),
		selectChildren: fmt.Sprintf(`SELECT name, leaf, branch FROM %s.paths WHERE parent = ?`, ks),
		selectChild:    fmt.Sprintf(`SELECT name, leaf, branch FROM %s.paths WHERE parent = ? AND name = ?`, ks),
	}
}

func newStore(c Config, rets []sinks.Retention, log *zap.Logger, now func() time.Time) (*store, error) {
	hosts, port, err := c.contactPoints()
	if err != nil {
		return nil, err
	}
	cl := gocql.NewCluster(hosts...)
	cl.Port = port
	cl.ProtoVersion = 4
	cl.Consistency = c.consistency()
	cl.Timeout = c.CQLTimeout.Duration
	cl.ConnectTimeout = c.CQLConnectTimeout.Duration
	cl.ReconnectInterval = reconnectInterval
	// gocql's write coalescing (200µs by default) made every read of a
	// find wait ~1 ms on loopback, and wrote no faster (measured by
	// BenchmarkFind and BenchmarkWriteBatch).
	cl.WriteCoalesceWaitTime = 0
	glog := &gocqlLog{std: zap.NewStdLog(log.Named("gocql"))}
	cl.Logger = glog
	if c.Username != "" {
		cl.Authenticator = gocql.PasswordAuthenticator{Username: c.Username, Password: c.Password}
	}
	s := &store{
		cfg: c, cluster: cl, rets: rets, retention: map[int64]int64{},
		bucket: sinks.Seconds(c.Bucket.Duration), stmts: newStatements(c.Keyspace, c.Replication),
		log: log, now: now, glog: glog, resetAfter: sessionResetAfter,
	}
	var longest int64
	for _, r := range rets {
		s.retention[sinks.Seconds(r.Resolution)] = sinks.Seconds(r.Retention)
		longest = max(longest, sinks.Seconds(r.Retention))
	}
	s.index = newIndexCache(longest)
	return s, nil
}

// session returns the session, connecting (and creating the schema) if
// there is none yet.
func (s *store) session() (*gocql.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	if s.sess != nil {
		return s.sess, nil
	}
	start := time.Now()
	sess, err := s.cluster.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("failed to connect to cassandra %v: %w", s.cfg.Hosts, err)
	}
	if s.cfg.CreateSchema {
		for _, stmt := range s.stmts.schema {
			if err := sess.Query(stmt).Exec(); err != nil {
				sess.Close()
				return nil, fmt.Errorf("failed to create the schema in keyspace %q: %w", s.cfg.Keyspace, err)
			}
		}
	}
	s.log.Info("connected to cassandra", zap.Duration("took", time.Since(start)), zap.Bool("create_schema", s.cfg.CreateSchema))
	s.sess = sess
	return sess, nil
}

// errClosed is what reads and writes get after Close.
var errClosed = errors.New("sink closed")

// close closes the session; later reads and writes fail with errClosed.
func (s *store) close() {
	s.mu.Lock()
	sess := s.sess
	s.sess, s.closed = nil, true
	s.mu.Unlock()
	if sess != nil {
		sess.Close()
	}
	s.glog.close()
}
