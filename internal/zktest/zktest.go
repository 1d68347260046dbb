// Package zktest starts a real, throw-away ZooKeeper server (Debian's
// zookeeper package) for tests: standalone, on a free loopback port, in the
// test's temp dir, with a short tickTime so that session expiry takes
// seconds. It also forces another client's session to expire the way
// serverset.py does, and finds the shared interop tools.
//
// When java or the jars are missing the test is skipped, unless the
// environment variable CI is non-empty: then it fails.
package zktest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// The jars Debian's zookeeper (libzookeeper-java) and libslf4j-java install.
const (
	zookeeperJar = "/usr/share/java/zookeeper.jar"
	slf4jJar     = "/usr/share/java/slf4j-simple.jar"
)

// Option changes how the server is started.
type Option func(*options)

type options struct {
	tick           time.Duration
	maxSession     time.Duration
	startTimeout   time.Duration
	extraConfLines []string
}

// WithTickTime sets ZooKeeper's tickTime (default 200ms, which allows
// session timeouts of 400ms..4s unless WithMaxSessionTimeout widens it).
func WithTickTime(d time.Duration) Option { return func(o *options) { o.tick = d } }

// WithMaxSessionTimeout sets maxSessionTimeout.
func WithMaxSessionTimeout(d time.Duration) Option { return func(o *options) { o.maxSession = d } }

// WithConfig appends raw zoo.cfg lines.
func WithConfig(lines ...string) Option {
	return func(o *options) { o.extraConfLines = append(o.extraConfLines, lines...) }
}

// Server is a running (or stopped) ZooKeeper server.
type Server struct {
	t    testing.TB
	dir  string
	port int
	opts options

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Requirements skips the test (or fails it when CI is set) unless java and
// Debian's ZooKeeper jars are installed; it returns the java binary.
func Requirements(t testing.TB) string {
	t.Helper()
	java, err := exec.LookPath("java")
	var missing []string
	if err != nil {
		missing = append(missing, "java")
	}
	for _, jar := range []string{zookeeperJar, slf4jJar} {
		if _, err := os.Stat(jar); err != nil {
			missing = append(missing, jar)
		}
	}
	if len(missing) > 0 {
		MissingTool(t, "ZooKeeper server (apt-get install -y --no-install-recommends zookeeper): missing "+strings.Join(missing, ", "))
	}
	return java
}

// MissingTool skips the test when env CI is empty and fails it otherwise.
func MissingTool(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and %s", what)
	}
	t.Skipf("skipping: %s (set CI to make this a failure)", what)
}

// Start starts a standalone ZooKeeper on a free 127.0.0.1 port and returns
// when it serves (srvr answers "Mode: standalone"). The server is stopped
// when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	java := Requirements(t)
	o := options{tick: 200 * time.Millisecond, startTimeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{t: t, dir: t.TempDir(), opts: o}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.logTail(40)
		}
	})
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		s.port, err = freePort()
		if err != nil {
			t.Fatalf("failed to find a free port: %v", err)
		}
		if err = s.writeConfig(); err != nil {
			t.Fatal(err)
		}
		if err = s.start(java); err == nil {
			return s
		}
		t.Logf("zktest: start attempt %d failed: %v", attempt+1, err)
	}
	s.logTail(40)
	t.Fatalf("failed to start ZooKeeper: %v", err)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) writeConfig() error {
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
		return fmt.Errorf("failed to create data dir: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tickTime=%d\n", s.opts.tick.Milliseconds())
	fmt.Fprintf(&b, "dataDir=%s\n", filepath.Join(s.dir, "data"))
	fmt.Fprintf(&b, "clientPort=%d\nclientPortAddress=127.0.0.1\n", s.port)
	b.WriteString("maxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=*\nautopurge.purgeInterval=0\n")
	if s.opts.maxSession > 0 {
		fmt.Fprintf(&b, "maxSessionTimeout=%d\n", s.opts.maxSession.Milliseconds())
	}
	for _, l := range s.opts.extraConfLines {
		b.WriteString(l + "\n")
	}
	return os.WriteFile(filepath.Join(s.dir, "zoo.cfg"), []byte(b.String()), 0o644)
}

func (s *Server) start(java string) error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "zookeeper.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("failed to open log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-cp", zookeeperJar+":"+slf4jJar,
		"org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(s.dir, "zoo.cfg"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to start java: %w", err)
	}
	done := make(chan struct{})
	go func() { // ends when the JVM exits; Stop waits for it
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(s.opts.startTimeout)
	for {
		select {
		case <-done:
			return errors.New("the server exited during startup")
		default:
		}
		if out, _ := s.FourLetter("srvr"); strings.Contains(out, "Mode: standalone") {
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("not serving after %s", s.opts.startTimeout)
		}
		time.Sleep(50 * time.Millisecond) // polling: the JVM gives no readiness event
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Dir is the server's work dir (zoo.cfg, data, zookeeper.log).
func (s *Server) Dir() string { return s.dir }

// Stop stops the server (TERM, then KILL after 10 s) and waits for it. Its
// data is kept for Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

// Restart starts the server again on the same port with the same data (a
// stop shorter than a session timeout keeps the sessions).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	java := Requirements(s.t)
	if err := s.start(java); err != nil {
		s.logTail(40)
		s.t.Fatalf("failed to restart ZooKeeper on %s: %v", s.Addr(), err)
	}
}

// RestartEmpty stops the server, wipes its data dir and starts it again on
// the same port: a server that lost its disk. It knows no sessions and its
// last zxid is 0, so it refuses every client that has seen a later one
// ("Refusing session request for client ... as it has seen zxid ...").
func (s *Server) RestartEmpty() {
	s.t.Helper()
	s.Stop()
	data := filepath.Join(s.dir, "data")
	if err := os.RemoveAll(data); err != nil {
		s.t.Fatalf("failed to wipe %s: %v", data, err)
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		s.t.Fatalf("failed to create %s: %v", data, err)
	}
	java := Requirements(s.t)
	if err := s.start(java); err != nil {
		s.logTail(40)
		s.t.Fatalf("failed to restart ZooKeeper empty on %s: %v", s.Addr(), err)
	}
}

// FourLetter sends a four-letter-word command and returns the answer.
func (s *Server) FourLetter(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

func (s *Server) logTail(n int) {
	b, err := os.ReadFile(filepath.Join(s.dir, "zookeeper.log"))
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s.t.Logf("zookeeper.log (last %d lines):\n%s", len(lines), strings.Join(lines, "\n"))
}

// SessionPassword is the password ZooKeeper derives for a session id:
// ZooKeeperServer.generatePasswd = new java.util.Random(id ^ 0xB3415C00).nextBytes(16).
func SessionPassword(sessionID int64) []byte {
	const mult, mask = 0x5DEECE66D, (1 << 48) - 1
	seed := (uint64(sessionID^0xB3415C00) ^ mult) & mask
	next := func() int32 {
		seed = (seed*mult + 0xB) & mask
		return int32(seed >> 16)
	}
	out := make([]byte, 16)
	for i := 0; i < len(out); {
		r := next()
		for n := min(len(out)-i, 4); n > 0; n-- {
			out[i] = byte(r)
			i++
			r >>= 8
		}
	}
	return out
}

// ExpireSession ends another client's session the way serverset.py does:
// it resumes the session with its id and password (nil derives it, see
// SessionPassword) and closes it. The server deletes the session's
// ephemeral nodes at once and the owner sees SESSION_EXPIRED when it
// reconnects.
func (s *Server) ExpireSession(sessionID int64, passwd []byte) error {
	if passwd == nil {
		passwd = SessionPassword(sessionID)
	}
	c, err := net.DialTimeout("tcp", s.Addr(), 2*time.Second)
	if err != nil {
		return fmt.Errorf("failed to connect to %q: %w", s.Addr(), err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly.
	var req bytes.Buffer
	for _, v := range []any{int32(0), int64(0), int32(4000), sessionID, int32(len(passwd))} {
		_ = binary.Write(&req, binary.BigEndian, v)
	}
	req.Write(passwd)
	req.WriteByte(0)
	if err := writeFrame(c, req.Bytes()); err != nil {
		return fmt.Errorf("failed to send connect request: %w", err)
	}
	r := bufio.NewReader(c)
	resp, err := readFrame(r)
	if err != nil {
		return fmt.Errorf("failed to read connect response: %w", err)
	}
	if len(resp) < 16 || int64(binary.BigEndian.Uint64(resp[8:16])) != sessionID {
		return fmt.Errorf("failed to resume session 0x%016x: the server did not resume it", uint64(sessionID))
	}
	// closeSession: xid, type -11.
	var cl bytes.Buffer
	_ = binary.Write(&cl, binary.BigEndian, int32(1))
	_ = binary.Write(&cl, binary.BigEndian, int32(-11))
	if err := writeFrame(c, cl.Bytes()); err != nil {
		return fmt.Errorf("failed to send close request: %w", err)
	}
	if _, err := readFrame(r); err != nil {
		return fmt.Errorf("failed to read close response: %w", err)
	}
	return nil
}

func writeFrame(w io.Writer, b []byte) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	_, err := w.Write(append(n[:], b...))
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	_, err := io.ReadFull(r, b)
	return b, err
}

// SharedTool returns the path of a file under the shared directory next to
// the repository (../shared/REL from the module root, e.g. "zk/serverset.py"),
// skipping the test (or failing it when CI is set) if it is missing.
func SharedTool(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("failed to find the module root above the test's directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		MissingTool(t, "interop tool "+p+" is missing")
	}
	return p
}

// Python returns Debian's /usr/bin/python3 (the interpreter python3-kazoo
// is installed for), skipping or failing like Requirements if kazoo is not
// importable.
func Python(t testing.TB) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import kazoo").CombinedOutput(); err != nil {
		MissingTool(t, fmt.Sprintf("%s cannot import kazoo (apt-get install python3-kazoo): %v %s", py, err, out))
	}
	return py
}

// PyRegister runs `../shared/zk/serverset.py register` (Twitter's own member
// layout, written with kazoo) against zkAddr under path until the end of the
// test, and returns the member's znode path once it exists. args are passed
// on (--host, --port, --style, --shard, --raw-json, ...).
func PyRegister(t testing.TB, zkAddr, path string, args ...string) string {
	t.Helper()
	py := Python(t)
	tool := SharedTool(t, "zk/serverset.py")
	cmd := exec.Command(py, append([]string{tool, "register", "--zk", zkAddr, "--path", path,
		"--session-timeout", "2", "--lifetime", "60"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// exec copies the child's stderr into this on its own goroutine until
	// Wait returns: read it only after stop.
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stopped sync.Once
	stop := func(sig os.Signal) {
		stopped.Do(func() {
			_ = cmd.Process.Signal(sig)
			_ = cmd.Wait()
		})
	}
	t.Cleanup(func() { stop(syscall.SIGTERM) })
	first, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(first, path+"/member_") {
		stop(syscall.SIGKILL)
		t.Fatalf("serverset.py register %q: first line %q, %v; stderr %s", args, first, err, stderr.String())
	}
	return strings.TrimSpace(first)
}

// Client connects a plain go-zookeeper client to addr, for arranging and
// inspecting ZooKeeper state in tests, and waits (up to 30 s) for its
// session. Its log is silent; it is closed when the test ends.
func Client(t testing.TB, addr string, sessionTimeout time.Duration) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect([]string{addr}, sessionTimeout, zk.WithLogInfo(false), zk.WithLogger(silent{}))
	if err != nil {
		t.Fatalf("failed to connect to zookeeper %q: %v", addr, err)
	}
	t.Cleanup(conn.Close)
	const wait = 30 * time.Second // generous: tests run under -race on loaded machines
	deadline := time.Now().Add(wait)
	for conn.State() != zk.StateHasSession {
		if time.Now().After(deadline) {
			t.Fatalf("no session with %s within %v", addr, wait)
		}
		time.Sleep(5 * time.Millisecond) // polling: the client's event channel is its own
	}
	return conn
}

// silent is a go-zookeeper logger that drops everything.
type silent struct{}

func (silent) Printf(string, ...any) {}
