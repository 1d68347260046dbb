package graphiteapi

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// python3 returns Debian's Python (the one graphite-web runs on), else
// any python3 on PATH; without one the test is skipped, unless CI is set.
func python3(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("python3"); err == nil {
		return p
	}
	missingTool(t, "python3 (apt-get install -y python3)")
	return ""
}

// missingTool skips the test when env CI is empty and fails it otherwise.
func missingTool(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and %s is missing", what)
	}
	t.Skipf("skipping: %s is missing (set CI to make this a failure)", what)
}

// pyLoads runs Python's pickle.loads on b and returns repr() of the result.
func pyLoads(t *testing.T, b []byte) string {
	t.Helper()
	cmd := exec.Command(python3(t), "-c", "import pickle,sys; print(repr(pickle.loads(sys.stdin.buffer.read())))")
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pickle.loads failed: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func TestPickleRoundTripsThroughPython(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, "None"},
		{true, "True"},
		{false, "False"},
		{0, "0"},
		{-1, "-1"},
		{int64(math.MaxInt32), "2147483647"},
		{int64(math.MinInt32), "-2147483648"},
		{int64(1) << 31, "2147483648"},
		{int64(1700000000000), "1700000000000"},
		{int64(-1) << 40, "-1099511627776"},
		{int64(math.MaxInt64), "9223372036854775807"},
		{int64(math.MinInt64), "-9223372036854775808"},
		{int64(255), "255"},
		{int64(-129), "-129"},
		{1.5, "1.5"},
		{math.NaN(), "None"},
		{math.Inf(-1), "-inf"},
		{"a.b.c", "'a.b.c'"},
		{"ünï", "'ünï'"},
		{"", "''"},
		{[]any{}, "[]"},
		{[]float64{1, math.NaN(), 2.5}, "[1.0, None, 2.5]"},
		{pickleTuple{int64(1), int64(2)}, "(1, 2)"},
		{pickleTuple{}, "()"},
		{pickleDict{}, "{}"},
		{pickleDict{{"path", "a.b"}, {"is_leaf", true}, {"intervals", []any{pickleTuple{0, 10}}}},
			"{'path': 'a.b', 'is_leaf': True, 'intervals': [(0, 10)]}"},
	} {
		b, err := appendPickle(nil, tc.v)
		if err != nil {
			t.Errorf("appendPickle(%#v): %v", tc.v, err)
			continue
		}
		if got := pyLoads(t, b); got != tc.want {
			t.Errorf("pickle.loads(appendPickle(%#v)) = %s, want %s", tc.v, got, tc.want)
		}
	}
	if _, err := appendPickle(nil, struct{}{}); err == nil || !strings.Contains(err.Error(), "struct {}") {
		t.Errorf("appendPickle(struct{}{}): error %v, want one naming the type", err)
	}
}
