package discovery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"ringrelay/internal/testnet"
	"ringrelay/internal/zktest"
)

// silentServer accepts connections and reads from them but never answers:
// ZooKeeper 3.8.0 leaves a connection like that when it refuses one while
// loading its database (ZOOKEEPER-5051). answer, when set, is written
// back after the first frame read.
func silentServer(t *testing.T, answer []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				var n [4]byte
				if _, err := io.ReadFull(c, n[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(n[:]))); err != nil {
					return
				}
				if answer != nil {
					_, _ = c.Write(answer)
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return l.Addr().String()
}

// TestHandshakeConn: the handshake is bounded whatever deadlines the
// client sets; once the response frame is read, the client's own
// deadlines apply.
func TestHandshakeConn(t *testing.T) {
	t.Run("silent server", func(t *testing.T) {
		addr := silentServer(t, nil)
		conn, err := handshakeDialer(300*time.Millisecond)("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// What go-zookeeper does: a far deadline around the write and the read.
		_ = conn.SetWriteDeadline(time.Now().Add(100 * time.Second))
		if _, err := conn.Write([]byte{0, 0, 0, 1, 0}); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetWriteDeadline(time.Time{})
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Second))
		start := time.Now()
		var b [4]byte
		_, err = io.ReadFull(conn, b[:])
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read from a silent server: %v, want a timeout", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the handshake read took %v; want about 300ms", took)
		}
	})
	t.Run("answered", func(t *testing.T) {
		addr := silentServer(t, []byte{0, 0, 0, 3, 'a', 'b', 'c'})
		conn, err := handshakeDialer(300*time.Millisecond)("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte{0, 0, 0, 1, 0}); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Time{})
		var b [4]byte
		if _, err := io.ReadFull(conn, b[:]); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Time{}) // clamped: still in the handshake
		rest := make([]byte, 3)
		if _, err := io.ReadFull(conn, rest); err != nil || string(rest) != "abc" {
			t.Fatalf("response payload %q, %v", rest, err)
		}
		if !conn.(*handshakeConn).done.Load() {
			t.Fatal("handshake not done after the response frame")
		}
		// The client's deadline (none) is back: a read outlives the handshake's.
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		time.Sleep(400 * time.Millisecond) // past the handshake deadline, on purpose
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = conn.Read(rest)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read after the handshake: %v, want the client's own timeout", err)
		}
	})
}

// TestLoggedData: member data in a log line is cut at 256 bytes, with the
// full length.
func TestLoggedData(t *testing.T) {
	for _, n := range []int{0, 10, 256, 257, 1 << 20} {
		data := []byte(strings.Repeat("x", n))
		enc := zap.NewProductionEncoderConfig()
		line := encodeFields(t, enc, zap.Inline(loggedData(data)))
		if len(line) > 400 {
			t.Errorf("%d bytes of data: log line of %d bytes, want at most 400", n, len(line))
		}
		if truncated := strings.Contains(line, `"data_bytes":`+fmt.Sprint(n)); truncated != (n > 256) {
			t.Errorf("%d bytes of data: log line %.300q; want data_bytes only when cut", n, line)
		}
	}
}

// TestZooKeeperRestartedEmpty: a ZooKeeper that lost its data refuses our
// clients (their last zxid is ahead of it) for ever; they are replaced by
// new ones, discovery re-lists and the registrar registers again, within
// 2x the session timeout plus a margin.
func TestZooKeeperRestartedEmpty(t *testing.T) {
	const session = 10 * time.Second
	const bound = 2*session + 10*time.Second
	zks := zktest.Start(t, zktest.WithMaxSessionTimeout(30*time.Second))
	const ss = "/discovery/test/empty"
	backend, port := testnet.Accepting(t)
	check, _ := ParseCheck("tcp://" + backend)
	cfg := registrarConfig(zks.Addr(), ss, port, check)
	cfg.ZooKeeper.SessionTimeout.Duration = session
	rr := startRegistrar(t, cfg)
	rr.waitNode(t, "registered", func(s RegistrarStatus) bool { return s.Node != "" })

	admin := zktest.Client(t, zks.Addr(), 4*time.Second)
	// Move the zxid well past what the empty server will reach before our
	// clients are replaced, so that it refuses them.
	for i := range 50 {
		if _, err := admin.Create(fmt.Sprintf("/zxid-%d", i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	addMember(t, admin, ss, memberJSON("127.0.0.1", 1, ""))

	zkc := zkConfig(zks.Addr())
	zkc.SessionTimeout.Duration = session
	p := watchPool(t, zkc, ss, PoolConfig{Debounce: dur(50 * time.Millisecond)}, "127.0.2.1:2003")
	p.waitMembers(t, fmt.Sprintf("zookeeper:127.0.0.1:1,zookeeper:127.0.0.1:%d", port))
	rr.waitChecks(t, 2) // its last reply carries the latest zxid

	zks.RestartEmpty()
	restarted := time.Now()
	// A backend that registers again with a new client of its own.
	again := zktest.Client(t, zks.Addr(), 4*time.Second)
	addMember(t, again, ss, memberJSON("127.0.0.1", 3, ""))

	want := fmt.Sprintf("zookeeper:127.0.0.1:3,zookeeper:127.0.0.1:%d", port)
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for describe(p.m.Snapshot()) != want {
		select {
		case <-p.changes:
		case <-deadline.C:
			logZooKeeperTail(t, zks)
			t.Fatalf("%v after an empty restart the membership is %q, want %q (discovery %+v, registrar %+v)",
				bound, describe(p.m.Snapshot()), want, p.d.Status(), rr.r.Status())
		}
	}
	t.Logf("synced %v after the empty restart", time.Since(restarted).Round(time.Millisecond))
	if n := testutil.ToFloat64(p.d.met.zkReplacements); n < 1 {
		t.Errorf("discovery client replacements %v, want at least 1", n)
	}
	if n := testutil.ToFloat64(rr.r.met.zkReplacements); n < 1 {
		t.Errorf("registrar client replacements %v, want at least 1", n)
	}
	if st := p.d.Status(); st.State != "connected" || st.SessionID == 0 {
		t.Errorf("discovery after the replacement: %+v, want connected with a session", st)
	}
	// The new client's watch works.
	addMember(t, again, ss, memberJSON("127.0.0.1", 4, ""))
	p.waitMembers(t, fmt.Sprintf("zookeeper:127.0.0.1:3,zookeeper:127.0.0.1:4,zookeeper:127.0.0.1:%d", port))
}

// logZooKeeperTail shows the refusals the server logged.
func logZooKeeperTail(t *testing.T, zks *zktest.Server) {
	b, err := os.ReadFile(zks.Dir() + "/zookeeper.log")
	if err != nil {
		return
	}
	var refused int
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "Refusing session request") {
			refused++
		}
	}
	t.Logf("zookeeper refused %d session requests", refused)
}

func encodeFields(t *testing.T, cfg zapcore.EncoderConfig, fields ...zap.Field) string {
	t.Helper()
	buf, err := zapcore.NewJSONEncoder(cfg).EncodeEntry(zapcore.Entry{Message: "m"}, fields)
	if err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
