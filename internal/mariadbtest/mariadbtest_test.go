package mariadbtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("sql.Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestStartStopRestart: data written before a stop is there after the
// restart, and while stopped the server refuses connections.
func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	db := open(t, s.DSN("test"))
	ctx := context.Background()
	for _, q := range []string{
		"CREATE TABLE kv (k VARCHAR(10) PRIMARY KEY, v INT) ENGINE=InnoDB",
		"INSERT INTO kv VALUES ('a', 1)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Stop()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err == nil {
		t.Fatal("ping succeeded while the server was stopped")
	}
	s.Restart(t)
	var v int
	if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = 'a'").Scan(&v); err != nil || v != 1 {
		t.Fatalf("after restart: v = %d, err %v; want 1", v, err)
	}
}

// TestSharedDatabasesAreSeparate: two Shared calls get two empty
// databases on one server.
func TestSharedDatabasesAreSeparate(t *testing.T) {
	a, b := open(t, Shared(t)), open(t, Shared(t))
	ctx := context.Background()
	if _, err := a.ExecContext(ctx, "CREATE TABLE x (i INT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ExecContext(ctx, "CREATE TABLE x (i INT)"); err != nil {
		t.Fatalf("the second database already had table x: %v", err)
	}
	var dbA, dbB string
	if err := a.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbA); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbB); err != nil {
		t.Fatal(err)
	}
	if dbA == dbB {
		t.Fatalf("both Shared DSNs name database %q", dbA)
	}
}

// helperEnv makes the test binary, run again by TestSharedDiesWithTheBinary,
// start the shared server and exit without cleaning up.
const helperEnv = "MARIADBTEST_EXIT_HELPER"

func TestExitHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("only runs as TestSharedDiesWithTheBinary's child")
	}
	Shared(t)
	fmt.Printf("pid=%d dir=%s\n", sharedServer.cmd.Process.Pid, sharedServer.dir)
	os.Exit(0) // no cleanup: what a crashed or killed test binary leaves
}

// TestSharedDiesWithTheBinary: when a test binary exits without cleaning
// up, its shared server is killed (Pdeathsig) and its files are removed
// (the reaper).
func TestSharedDiesWithTheBinary(t *testing.T) {
	Requirements(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestExitHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var pid int
	var dir string
	if _, err := fmt.Sscanf(string(out), "pid=%d dir=%s", &pid, &dir); err != nil {
		t.Fatalf("helper printed %q: %v", out, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		alive := syscall.Kill(pid, 0) == nil && !isZombie(pid)
		_, statErr := os.Stat(dir)
		if !alive && os.IsNotExist(statErr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after the helper exited: mariadbd %d alive=%v, %s stat: %v", pid, alive, dir, statErr)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not a wait for time
	}
}

// isZombie reports whether pid has exited but not been reaped (it is then
// gone for every purpose here).
func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
