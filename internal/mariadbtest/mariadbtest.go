// Package mariadbtest starts real, throw-away MariaDB servers (Debian's
// mariadb-server package) for tests: mariadb-install-db into a temp dir,
// then mariadbd listening only on a unix socket there (no TCP at all),
// with a small buffer pool, no performance_schema, no binary log and no
// grant checks, so that a server is up in well under a second.
//
// Start gives a test its own server, which it may Stop and Restart (a
// database going away). Shared gives a test a fresh database on one
// server per test binary, started on first use: cheaper when a test does
// not need to stop the server. Servers die with the test binary
// (Pdeathsig) and their files are removed (t.TempDir, or a reaper process
// for the shared server).
//
// When the binaries are missing the test is skipped, unless the
// environment variable CI is non-empty: then it fails.
package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Where Debian's mariadb-server installs its binaries (/usr/sbin is not
// on every user's PATH).
var (
	serverCandidates  = []string{"mariadbd", "/usr/sbin/mariadbd"}
	installCandidates = []string{"mariadb-install-db", "/usr/bin/mariadb-install-db"}
)

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	// maxSocketPath is below sun_path's 108 bytes, with room to spare.
	maxSocketPath = 100
)

// Binaries are the two programs a server needs.
type Binaries struct {
	InstallDB string // mariadb-install-db
	Server    string // mariadbd
}

// Requirements skips the test (or fails it when CI is set) unless
// mariadbd and mariadb-install-db are installed.
func Requirements(t testing.TB) Binaries {
	t.Helper()
	b, err := findBinaries()
	if err != nil {
		missingTool(t, err.Error())
	}
	return b
}

func findBinaries() (Binaries, error) {
	var b Binaries
	var missing []string
	if b.Server = lookPath(serverCandidates); b.Server == "" {
		missing = append(missing, "mariadbd")
	}
	if b.InstallDB = lookPath(installCandidates); b.InstallDB == "" {
		missing = append(missing, "mariadb-install-db")
	}
	if len(missing) > 0 {
		return b, fmt.Errorf("MariaDB server (apt-get install -y mariadb-server): missing %s", strings.Join(missing, ", "))
	}
	return b, nil
}

func lookPath(candidates []string) string {
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// missingTool skips the test when env CI is empty and fails it otherwise.
func missingTool(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and %s", what)
	}
	t.Skipf("skipping: %s (set CI to make this a failure)", what)
}

// Server is a MariaDB server in its own directory, running or stopped.
// Its methods are for the test's goroutine.
type Server struct {
	bin    Binaries
	dir    string // my.cnf, data/, mariadbd.err
	socket string

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start installs and starts a server in the test's temp dir and returns
// when it accepts connections, with an empty database "test" (see DSN).
// The server is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Requirements(t)
	dir := t.TempDir()
	sockDir := dir
	if len(filepath.Join(dir, "mysqld.sock")) > maxSocketPath {
		var err error
		if sockDir, err = os.MkdirTemp("", "mdb"); err != nil {
			t.Fatalf("failed to create a socket dir: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(sockDir) })
	}
	s := &Server{bin: bin, dir: dir, socket: filepath.Join(sockDir, "mysqld.sock")}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("%s", s.logTail(40))
		}
	})
	if err := s.install(); err != nil {
		t.Fatal(err)
	}
	if err := s.start(); err != nil {
		t.Fatalf("%v\n%s", err, s.logTail(40))
	}
	if err := s.exec("CREATE DATABASE IF NOT EXISTS test"); err != nil {
		t.Fatal(err)
	}
	return s
}

// DSN is the go-sql-driver DSN of database db on the server (over its
// unix socket).
func (s *Server) DSN(db string) string {
	c := mysql.NewConfig()
	c.User = "root"
	c.Net = "unix"
	c.Addr = s.socket
	c.DBName = db
	return c.FormatDSN()
}

// Dir is the server's directory (my.cnf, data/, mariadbd.err).
func (s *Server) Dir() string { return s.dir }

// install writes my.cnf and runs mariadb-install-db.
func (s *Server) install() error {
	cnf := filepath.Join(s.dir, "my.cnf")
	if err := os.WriteFile(cnf, []byte(s.config()), 0o644); err != nil {
		return fmt.Errorf("failed to write %q: %w", cnf, err)
	}
	cmd := exec.Command(s.bin.InstallDB, "--defaults-file="+cnf,
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("failed to run %s in %q: %w\n%s", s.bin.InstallDB, s.dir, err, out)
	}
	return nil
}

// config is my.cnf: small and fast, durability traded for speed.
func (s *Server) config() string {
	lines := []string{
		"[mysqld]",
		"datadir=" + filepath.Join(s.dir, "data"),
		"socket=" + s.socket,
		"pid-file=" + filepath.Join(s.dir, "mariadbd.pid"),
		"log-error=" + filepath.Join(s.dir, "mariadbd.err"),
		"skip-name-resolve",
		"skip-log-bin",
		"performance-schema=OFF",
		"character-set-server=utf8mb4",
		"collation-server=utf8mb4_general_ci",
		"max-connections=64",
		"innodb-buffer-pool-size=16M",
		"innodb-log-file-size=4M",
		"innodb-data-file-path=ibdata1:4M:autoextend",
		"innodb-autoextend-increment=1",
		"innodb-flush-log-at-trx-commit=2",
		"innodb-doublewrite=0",
	}
	if os.Geteuid() == 0 {
		lines = append(lines, "user=root") // mariadbd refuses to run as root otherwise
	}
	return strings.Join(lines, "\n") + "\n"
}

// start runs mariadbd and waits until it answers a ping.
func (s *Server) start() error {
	cmd := exec.Command(s.bin.Server, "--defaults-file="+filepath.Join(s.dir, "my.cnf"),
		"--skip-networking", "--skip-grant-tables")
	// Own process group (a ^C to go test does not race the cleanup), and
	// killed if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to start %s: %w", s.bin.Server, err)
	}
	done := make(chan struct{})
	go func() { // ends when mariadbd exits; Stop waits for it
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	if err := waitReady(s.DSN(""), done); err != nil {
		s.Stop()
		return fmt.Errorf("mariadbd in %q: %w", s.dir, err)
	}
	return nil
}

// waitReady pings dsn until it answers, the server exits or the start
// timeout passes.
func waitReady(dsn string, exited <-chan struct{}) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("the server exited during startup")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after %s: %w", startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling: mariadbd gives no readiness event
	}
}

// exec runs one statement on the server (no database selected).
func (s *Server) exec(stmt string) error {
	return execOn(s.DSN(""), stmt)
}

func execOn(dsn, stmt string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("failed to run %q: %w", stmt, err)
	}
	return nil
}

// Stop shuts the server down (TERM, then KILL after 10 s) and waits for
// it. Its data is kept for Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

// Restart starts the stopped (or running) server again on the same socket
// with the same data, and returns when it accepts connections.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("failed to restart MariaDB: %v\n%s", err, s.logTail(40))
	}
}

// logTail is the end of the server's error log, for failure messages.
func (s *Server) logTail(n int) string {
	path := filepath.Join(s.dir, "mariadbd.err")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("%s (last %d lines):\n%s", path, len(lines), strings.Join(lines, "\n"))
}

// The per-binary shared server: started by the first Shared call, it
// lives until the test binary exits.
var (
	sharedOnce   sync.Once
	sharedServer *Server
	sharedErr    error
	sharedDBs    atomic.Int64
	// sharedReaper is the write end of the pipe the reaper reads: it
	// closes when the test binary exits, however it exits.
	sharedReaper *os.File
)

// Shared returns the DSN of a new, empty database on the test binary's
// shared server (started on first use); the database is dropped when the
// test ends. Tests that stop the server use Start instead.
func Shared(t testing.TB) string {
	t.Helper()
	Requirements(t)
	sharedOnce.Do(func() { sharedServer, sharedErr = startShared() })
	if sharedErr != nil {
		t.Fatalf("failed to start the shared MariaDB: %v", sharedErr)
	}
	name := fmt.Sprintf("t%d", sharedDBs.Add(1))
	if err := sharedServer.exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sharedServer.exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return sharedServer.DSN(name)
}

// startShared starts a server in a new temp dir that a reaper process
// removes once this test binary has exited (no TestMain is needed).
func startShared() (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mariadbtest-")
	if err != nil {
		return nil, fmt.Errorf("failed to create a temp dir: %w", err)
	}
	if err := startReaper(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, socket: filepath.Join(dir, "mysqld.sock")}
	if err := s.install(); err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, s.logTail(40))
	}
	return s, nil
}

// startReaper starts a shell that waits for end-of-file on a pipe whose
// only writer is this process, then removes dir. The server itself is
// killed by Pdeathsig when this process exits; the reaper gives it a
// second to be gone before it removes the files.
func startReaper(dir string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("failed to create the reaper's pipe: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", `read _; sleep 1; rm -rf -- "$0"`, dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("failed to start the reaper for %q: %w", dir, err)
	}
	go func() { _ = cmd.Wait() }() // reaps it should this process outlive it
	sharedReaper = w
	return nil
}
