package graphiteapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"ringrelay/sinks"
	"ringrelay/sinks/memory"
)

// testTimes are the retentions of the test store: 10 s for 6 h, 1 min
// for 7 d.
var testTimes = []string{"10s:6h", "1m:7d"}

// testEnv is an API over a real memory sink, served on a loopback port.
type testEnv struct {
	t     *testing.T
	api   *API
	store *memory.Store
	srv   *httptest.Server
	// now is the API's clock: a multiple of 600 s at or before the
	// wall clock (the memory sink expires by the wall clock).
	now int64
}

func newTestEnv(t *testing.T, cfg ...func(*Config)) *testEnv {
	t.Helper()
	rets, err := sinks.ParseTimes(testTimes)
	if err != nil {
		t.Fatal(err)
	}
	st, err := memory.Open("test", memory.DefaultConfig(), rets, zap.NewNop())
	if err != nil {
		t.Fatalf("failed to open the memory sink: %v", err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	c := DefaultConfig()
	for _, f := range cfg {
		f(&c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	e := &testEnv{t: t, store: st, now: time.Now().Unix() / 600 * 600}
	e.api = New(st, c, zap.NewNop())
	e.api.now = func() time.Time { return time.Unix(e.now, 0) }
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

// put stores one bin per value at resolution res, the i-th at start
// start+i*res, each holding the single value v (count 1); NaN values
// are skipped (no bin).
func (e *testEnv) put(path string, res, start int64, vals ...float64) {
	e.t.Helper()
	var pts []sinks.Point
	for i, v := range vals {
		if v != v {
			continue
		}
		pts = append(pts, sinks.Point{Path: path, Resolution: res, Start: start + int64(i)*res,
			Count: 1, Sum: v, Min: v, Max: v, Last: v})
	}
	before := e.store.Stats().Written
	e.store.Write(pts)
	if got := e.store.Stats().Written - before; got != uint64(len(pts)) {
		e.t.Fatalf("memory sink kept %d of %d points of %s", got, len(pts), path)
	}
}

// get requests path?query and returns the status, content type and body.
func (e *testEnv) get(pathAndQuery string) (int, string, string) {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + pathAndQuery)
	if err != nil {
		e.t.Fatalf("GET %s: %v", pathAndQuery, err)
	}
	return readResponse(e.t, resp)
}

// post posts form as an application/x-www-form-urlencoded body.
func (e *testEnv) post(pathAndQuery, form string) (int, string, string) {
	e.t.Helper()
	resp, err := http.Post(e.srv.URL+pathAndQuery, "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		e.t.Fatalf("POST %s: %v", pathAndQuery, err)
	}
	return readResponse(e.t, resp)
}

func readResponse(t *testing.T, resp *http.Response) (int, string, string) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// mustGet requests and fails unless the status is 200.
func (e *testEnv) mustGet(pathAndQuery string) string {
	e.t.Helper()
	code, _, body := e.get(pathAndQuery)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: status %d: %s", pathAndQuery, code, body)
	}
	return body
}

// q builds a query string from name, value pairs.
func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}
