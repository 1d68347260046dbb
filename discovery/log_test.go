package discovery

import (
	"bytes"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// testLogger returns a debug-level logger (the zk client's messages
// included) whose output is shown only when the test fails. Lines logged
// after the test's cleanup (by a client goroutine still winding down) are
// dropped rather than sent to a finished test.
func testLogger(t testing.TB) *zap.Logger {
	t.Helper()
	w := &testLogBuffer{}
	enc := zap.NewDevelopmentEncoderConfig()
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), zapcore.DebugLevel)
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if t.Failed() && w.buf.Len() > 0 {
			t.Logf("discovery log:\n%s", w.buf.String())
		}
		w.done = true
	})
	return zap.New(core)
}

type testLogBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

func (w *testLogBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.buf.Write(p)
	}
	return len(p), nil
}
