// Package cqltest runs an in-process stand-in for one Cassandra node in
// tests: a CQL native protocol v4 server on 127.0.0.1 that gocql connects
// to as to Cassandra. No Cassandra can run on the machines the tests run
// on; this is a protocol-level stand-in, not Cassandra, and says so:
//
//   - The protocol: OPTIONS/SUPPORTED, STARTUP/READY (no authentication,
//     no compression), REGISTER (no events are ever pushed), QUERY,
//     PREPARE, EXECUTE and BATCH, with paging, bind markers and the
//     metadata gocql reads (prepared statements' partition key indexes
//     included). Other requests get a protocol error.
//   - The system tables gocql reads when it connects: system.local (one
//     row describing this node, release 3.11.16), system.peers (empty: a
//     cluster of one), system_schema.keyspaces and system_schema.tables.
//   - A tiny CQL: CREATE KEYSPACE / CREATE TABLE [IF NOT EXISTS]
//     (recorded, types ascii, text, varchar, bigint, int, double, boolean,
//     timestamp, uuid, inet, blob), DROP KEYSPACE [IF EXISTS], INSERT
//     ... [USING TTL] (an upsert, column by column), and SELECT of columns
//     or * with EQ on the whole partition key, ranges or EQ on clustering
//     columns and LIMIT (or no WHERE at all: a full scan). Values are
//     checked as Cassandra checks them (sizes, UTF-8, non-empty keys).
//     The statements' text is parsed, not matched against a list: any
//     client using this subset works. Anything else, a typo included, is
//     answered with an error frame as Cassandra answers it (a syntax
//     error, "unconfigured table", "ALLOW FILTERING", ...).
//   - Rows are kept in memory in clustering order (ascending only), with
//     a TTL per cell against an injectable clock (Options.Now, Clock).
//     There are no write timestamps: the last write to arrive wins.
//
// A test can stop the server and start it again on the same port (the
// data stays; prepared statements are forgotten, as by a node before
// Cassandra 3.10, so clients must prepare again), and can make writes
// slow (SetWriteDelay) or fail with a write timeout (SetFailWrites).
package cqltest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"ringrelay/internal/testnet"
)

// Options configure a Server.
type Options struct {
	// Now is the clock TTLs run on; time.Now when nil. See Clock.
	Now func() time.Time
}

// Stats count what the server was asked since it started.
type Stats struct {
	Connections int // open now
	Queries     int // QUERY requests
	Prepares    int // PREPARE requests
	Executes    int // EXECUTE requests
	Batches     int // BATCH requests
	RowsWritten int // INSERTs applied, alone or in batches
	Errors      int // error frames sent
}

// Batch describes one BATCH the server applied.
type Batch struct {
	Type       string // LOGGED, UNLOGGED or COUNTER
	Statements int
	Partitions int // distinct partitions its statements wrote
}

// Server is a running (or stopped) stand-in node.
type Server struct {
	store *store
	addr  string // 127.0.0.1:port, kept across restarts

	mu         sync.Mutex
	ln         net.Listener
	conns      map[net.Conn]struct{}
	prepared   map[string]*prepared // by id
	writeDelay time.Duration
	failWrites bool
	stats      Stats
	batches    []Batch
	stopping   chan struct{} // closed by Stop: cuts write delays short
	holdPort   func()        // releases the port held while stopped
	closed     bool
	wg         sync.WaitGroup // accept loop and connections
}

// Start starts a server on 127.0.0.1:0; the test's cleanup closes it.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{store: newStore(opts.Now, net.IPv4(127, 0, 0, 1).To4()), holdPort: func() {}}
	if err := s.listen("127.0.0.1:0"); err != nil {
		tb.Fatalf("cqltest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.addr = ln.Addr().String()
	s.conns = map[net.Conn]struct{}{}
	s.prepared = map[string]*prepared{}
	s.stopping = make(chan struct{})
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(ln)
	return nil
}

// Stop closes the listener and every connection, as a node that went
// down, and waits for them; the port stays reserved for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	if ln == nil {
		s.mu.Unlock()
		return
	}
	ln.Close()
	for c := range s.conns {
		c.Close()
	}
	close(s.stopping)
	s.mu.Unlock()
	s.wg.Wait()
	release := testnet.HoldPort("tcp", s.addr)
	s.mu.Lock()
	s.holdPort = release
	s.mu.Unlock()
}

// Restart listens on the same port again, with the data kept and the
// prepared statements forgotten.
func (s *Server) Restart() error {
	s.mu.Lock()
	running, release := s.ln != nil, s.holdPort
	s.mu.Unlock()
	if running {
		return errors.New("cqltest: restart of a running server")
	}
	release()
	return s.listen(s.addr)
}

// Close stops the server for good. Idempotent.
func (s *Server) Close() {
	s.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.holdPort()
	}
}

// SetWriteDelay makes every write (an INSERT, or a BATCH as a whole) wait
// d before it is applied, as an overloaded node; 0 ends it.
func (s *Server) SetWriteDelay(d time.Duration) {
	s.mu.Lock()
	s.writeDelay = d
	s.mu.Unlock()
}

// SetFailWrites makes every write fail with a write timeout error (and
// not be applied) until it is set back to false.
func (s *Server) SetFailWrites(fail bool) {
	s.mu.Lock()
	s.failWrites = fail
	s.mu.Unlock()
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Connections = len(s.conns)
	return st
}

// Batches lists the batches applied so far, in order.
func (s *Server) Batches() []Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// Keyspaces are the keyspaces created by clients, sorted.
func (s *Server) Keyspaces() []string { return s.store.keyspaceNames() }

// Tables are the tables created by clients ("keyspace.table"), sorted.
func (s *Server) Tables() []string { return s.store.tableNames() }

// Rows counts the live rows of a table ("keyspace.table").
func (s *Server) Rows(table string) int { return s.store.liveRows(table) }

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed by Stop
		}
		s.mu.Lock()
		if s.ln != ln {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve reads a connection's requests and answers each from its own
// goroutine, as Cassandra answers streams concurrently.
func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	var reqs sync.WaitGroup
	var wmu sync.Mutex
	defer func() {
		reqs.Wait()
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	for {
		h, body, err := readFrame(r)
		if err != nil {
			return
		}
		reqs.Add(1)
		go func() {
			defer reqs.Done()
			op, resp := s.handle(h, body)
			frame := appendFrame(nil, h.stream, op, resp)
			wmu.Lock()
			defer wmu.Unlock()
			c.Write(frame)
		}()
	}
}

// handle answers one request: the response's opcode and body.
func (s *Server) handle(h header, body []byte) (byte, []byte) {
	res, err := s.dispatch(h, body)
	if err != nil {
		s.count(func(st *Stats) { st.Errors++ })
		return opError, err.body()
	}
	return res.op, res.body
}

type response struct {
	op   byte
	body []byte
}

func (s *Server) dispatch(h header, body []byte) (response, *cqlError) {
	if v := h.version & 0x7f; v != protoVersion || h.version&0x80 != 0 {
		return response{}, &cqlError{code: errProtocol, msg: fmt.Sprintf("Invalid or unsupported protocol version (%d); the lowest supported version is 4 and the greatest is 4", v)}
	}
	if h.flags&flagCompression != 0 {
		return response{}, &cqlError{code: errProtocol, msg: "compressed frame without an agreed compression"}
	}
	r := &reader{b: body}
	if h.flags&flagCustomPayload != 0 {
		r.skipBytesMap()
	}
	var res response
	var err *cqlError
	switch h.op {
	case opOptions:
		var w writer
		w.stringMultimap(map[string][]string{"CQL_VERSION": {"3.4.4"}, "COMPRESSION": {}}, []string{"COMPRESSION", "CQL_VERSION"})
		res = response{opSupported, w.b}
	case opStartup:
		res, err = startup(r.stringMap())
	case opRegister:
		r.stringList()
		res = response{op: opReady}
	case opQuery:
		res, err = s.query(r.longString(), r.queryParams())
	case opPrepare:
		res, err = s.prepare(r.longString())
	case opExecute:
		res, err = s.execute(r.shortBytes(), r)
	case opBatch:
		res, err = s.batch(r.batch())
	default:
		return response{}, &cqlError{code: errProtocol, msg: fmt.Sprintf("the stand-in does not handle opcode 0x%02x", h.op)}
	}
	if r.err != nil {
		return response{}, &cqlError{code: errProtocol, msg: fmt.Sprintf("malformed request (opcode 0x%02x): %v", h.op, r.err)}
	}
	return res, err
}

func startup(opts map[string]string) (response, *cqlError) {
	if opts["CQL_VERSION"] == "" {
		return response{}, &cqlError{code: errProtocol, msg: "CQL_VERSION is mandatory"}
	}
	if c := opts["COMPRESSION"]; c != "" {
		return response{}, &cqlError{code: errProtocol, msg: "Unknown compression algorithm: " + c}
	}
	return response{op: opReady}, nil
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *Server) query(text string, params queryParams) (response, *cqlError) {
	s.count(func(st *Stats) { st.Queries++ })
	p, err := s.store.compile(text)
	if err != nil {
		return response{}, err
	}
	return s.run(p, params, false)
}

func (s *Server) prepare(text string) (response, *cqlError) {
	s.count(func(st *Stats) { st.Prepares++ })
	p, err := s.store.compile(text)
	if err != nil {
		return response{}, err
	}
	s.mu.Lock()
	s.prepared[string(p.id)] = p
	s.mu.Unlock()
	return response{opResult, p.body()}, nil
}

func (s *Server) lookup(id []byte) (*prepared, *cqlError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.prepared[string(id)]
	if p == nil {
		return nil, unpreparedError(id)
	}
	return p, nil
}

func (s *Server) execute(id []byte, r *reader) (response, *cqlError) {
	s.count(func(st *Stats) { st.Executes++ })
	params := r.queryParams()
	p, err := s.lookup(id)
	if err != nil {
		return response{}, err
	}
	return s.run(p, params, params.skipMetadata)
}

func (s *Server) run(p *prepared, params queryParams, skipMetadata bool) (response, *cqlError) {
	if params.named {
		return response{}, invalidError("the stand-in does not bind values by name")
	}
	if p.write {
		if err := s.writeGate("SIMPLE"); err != nil {
			return response{}, err
		}
	}
	res, err := s.store.run(p, params.values, params)
	if err != nil {
		return response{}, err
	}
	if p.write {
		s.count(func(st *Stats) { st.RowsWritten++ })
	}
	return response{opResult, res.body(skipMetadata)}, nil
}

var batchTypes = []string{"LOGGED", "UNLOGGED", "COUNTER"}

func (s *Server) batch(b batchRequest) (response, *cqlError) {
	s.count(func(st *Stats) { st.Batches++ })
	if int(b.kind) >= len(batchTypes) {
		return response{}, &cqlError{code: errProtocol, msg: fmt.Sprintf("unknown batch type %d", b.kind)}
	}
	stmts := make([]*prepared, len(b.entries))
	for i, e := range b.entries {
		var p *prepared
		var err *cqlError
		if e.prepared != nil {
			p, err = s.lookup(e.prepared)
		} else {
			p, err = s.store.compile(e.query)
		}
		if err != nil {
			return response{}, err
		}
		if !p.write {
			return response{}, invalidError("Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.")
		}
		stmts[i] = p
	}
	writeType := "BATCH"
	if b.kind == 1 {
		writeType = "UNLOGGED_BATCH"
	}
	if err := s.writeGate(writeType); err != nil {
		return response{}, err
	}
	vals := make([][]value, len(b.entries))
	for i, e := range b.entries {
		vals[i] = e.values
	}
	parts, err := s.store.applyBatch(stmts, vals)
	if err != nil {
		return response{}, err
	}
	s.mu.Lock()
	s.stats.RowsWritten += len(stmts)
	s.batches = append(s.batches, Batch{Type: batchTypes[b.kind], Statements: len(stmts), Partitions: parts})
	s.mu.Unlock()
	return response{opResult, (&result{kind: resultVoid}).body(false)}, nil
}

// writeGate applies SetWriteDelay and SetFailWrites to one write.
func (s *Server) writeGate(writeType string) *cqlError {
	s.mu.Lock()
	delay, fail, stopping := s.writeDelay, s.failWrites, s.stopping
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-stopping:
			return &cqlError{code: errServer, msg: "node stopping"}
		}
	}
	if fail {
		return writeTimeoutError(writeType)
	}
	return nil
}

// Clock is a settable clock for Options.Now: TTL expiry in a test moves
// when the test says.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t until advanced.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
