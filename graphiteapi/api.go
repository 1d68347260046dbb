// Package graphiteapi serves what is stored in a sink over HTTP the way
// graphite-web 1.1 does, so that Grafana's Graphite data source and a
// graphite-web cluster (CLUSTER_SERVERS) can read it: /metrics/find,
// /metrics/expand, /metrics/index.json, /render (json, raw, csv, pickle),
// /version, /functions and empty tag answers; plus the classic Cyanite
// routes (/paths, /metrics?path=, /ping) for graphite-cyanite.
//
// It reads through a sinks.Reader and never writes. Series come off the
// store on whisper's grid (resolution by how far back "from" reaches,
// "from" exclusive, "until" inclusive, missing bins null); target
// expressions are parsed and evaluated by package expr, which reads
// through the Fetcher this package hands it.
package graphiteapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"ringrelay/sinks"
)

// Version is what /version answers: the graphite-web release whose API
// this package follows (Grafana only checks that it parses as semver).
const Version = "1.1.10"

// API is the HTTP handler of every route. It is safe for concurrent use.
type API struct {
	r   sinks.Reader
	cfg Config
	loc *time.Location
	log *zap.Logger
	mux *http.ServeMux
	// now is the clock ("now" when a request does not pass one).
	now func() time.Time
}

// New returns the API over r. c must have passed Validate (an unknown
// Timezone falls back to UTC).
func New(r sinks.Reader, c Config, log *zap.Logger) *API {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		loc = time.UTC
	}
	a := &API{r: r, cfg: c, loc: loc, log: log.Named("graphiteapi"), now: time.Now}
	a.mux = http.NewServeMux()
	for _, rt := range a.routes() {
		a.mux.HandleFunc(rt.pattern, a.wrap(rt.h))
	}
	return a
}

type route struct {
	pattern string
	h       handlerFunc
	admin   bool // mountable on the admin listener (which has its own /metrics)
}

// handlerFunc answers one request from its merged parameters; an error
// becomes the response (see writeError).
type handlerFunc func(w http.ResponseWriter, r *http.Request, p params) error

func (a *API) routes() []route {
	return []route{
		{"/render", a.handleRender, true},
		{"/render/{$}", a.handleRender, true},
		{"/metrics/find", a.handleFind, true},
		{"/metrics/find/{$}", a.handleFind, true},
		{"/metrics/expand", a.handleExpand, true},
		{"/metrics/expand/{$}", a.handleExpand, true},
		{"/metrics/index.json", a.handleIndex, true},
		{"/version", a.handleVersion, true},
		{"/version/{$}", a.handleVersion, true},
		{"/functions", a.handleFunctions, true},
		{"/functions/{$}", a.handleFunctions, true},
		{"/tags", a.handleEmptyList, true},
		{"/tags/autoComplete/tags", a.handleEmptyList, true},
		{"/tags/autoComplete/values", a.handleEmptyList, true},
		{"/events/get_data", a.handleEmptyList, true},
		{"/cyanite/paths", a.handleCyanitePaths, true},
		{"/cyanite/metrics", a.handleCyaniteMetrics, true},
		{"/cyanite/ping", a.handleCyanitePing, true},
		// Only on the API's own listener: the admin listener's /metrics
		// is Prometheus, and /functions/NAME, /paths and /ping would
		// overlap its /{pool}/... routes.
		{"/functions/{name}", a.handleFunctions, false},
		{"/metrics", a.handleMetrics, false},
		{"/metrics/{$}", a.handleMetrics, false},
		{"/paths", a.handleCyanitePaths, false},
		{"/ping", a.handleCyanitePing, false},
	}
}

// Paths are the http.ServeMux patterns (without a method) to mount the
// API under on the admin listener, each served by the API itself:
// mux.Handle(p, api) for each. They are every route except bare /metrics
// (Prometheus there; Cyanite's /metrics is /cyanite/metrics), /paths and
// /ping (as /cyanite/paths and /cyanite/ping) and /functions/NAME.
func (a *API) Paths() []string {
	var out []string
	for _, rt := range a.routes() {
		if rt.admin {
			out = append(out, rt.pattern)
		}
	}
	return out
}

// ServeHTTP serves every route.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// wrap checks the method, merges the parameters, bounds the request's
// time and turns an error into its response.
func (a *API) wrap(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD, POST")
			http.Error(w, fmt.Sprintf("method %s is not allowed on %s: use GET or POST", r.Method, r.URL.Path), http.StatusMethodNotAllowed)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout.Duration)
		defer cancel()
		r = r.WithContext(ctx)
		sw := &startedWriter{ResponseWriter: w}
		p, err := a.params(sw, r)
		if err == nil {
			err = h(sw, r, p)
		}
		switch {
		case err == nil:
		case sw.started:
			// The answer was under way (a write failed: the client
			// went away); there is nothing left to tell it.
			a.log.Debug("response not completed", zap.String("path", r.URL.Path), zap.Error(err))
		default:
			a.writeError(w, r, err)
		}
	}
}

// startedWriter records whether a response has been started, so that an
// error after that is not written over it.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

func (w *startedWriter) WriteHeader(code int) {
	w.started = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *startedWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

// badRequest is an error in what the client sent; its text is the
// response body.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badRequestf(format string, args ...any) error {
	return &badRequest{fmt.Sprintf(format, args...)}
}

// notFound answers 404 with its text.
type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	var nf *notFound
	switch {
	case errors.As(err, &br):
		http.Error(w, br.msg, http.StatusBadRequest)
	case errors.As(err, &nf):
		http.Error(w, nf.msg, http.StatusNotFound)
	case errors.Is(err, context.Canceled):
		// The client went away; there is no one to answer.
	case errors.Is(err, context.DeadlineExceeded):
		a.log.Warn("request timed out", zap.String("path", r.URL.Path), zap.String("query", r.URL.RawQuery), zap.Error(err))
		http.Error(w, fmt.Sprintf("%s: timed out after %s", r.URL.Path, a.cfg.Timeout.Duration), http.StatusServiceUnavailable)
	default:
		a.log.Error("request failed", zap.String("path", r.URL.Path), zap.String("query", r.URL.RawQuery), zap.Error(err))
		http.Error(w, fmt.Sprintf("%s: %v", r.URL.Path, err), http.StatusInternalServerError)
	}
}

// params are a request's parameters merged as graphite-web merges them
// (request.GET.copy().update(request.POST)): a list is the URL's values
// then the body's; a single value is the last one (the body's).
type params url.Values

// params reads the URL query and, for a POST, a form body
// (application/x-www-form-urlencoded or multipart/form-data) of at most
// max_body bytes. Grafana posts "query=a.b.*" without encoding it; that
// reads fine.
func (a *API) params(w http.ResponseWriter, r *http.Request) (params, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequestf("failed to parse the query string %q: %v", r.URL.RawQuery, err)
	}
	if r.Method != http.MethodPost {
		return params(q), nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(w, r.Body, int64(a.cfg.MaxBody))
	switch ct {
	case "application/x-www-form-urlencoded", "":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, badRequestf("failed to read the form body: %v", err)
		}
		f, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, badRequestf("failed to parse the form body: %v", err)
		}
		mergeValues(q, f)
	case "multipart/form-data":
		r.Body = body
		if err := r.ParseMultipartForm(int64(a.cfg.MaxBody)); err != nil {
			return nil, badRequestf("failed to parse the multipart form body: %v", err)
		}
		mergeValues(q, r.MultipartForm.Value)
	}
	return params(q), nil
}

func mergeValues(dst, src url.Values) {
	for k, vs := range src {
		dst[k] = append(dst[k], vs...)
	}
}

// has reports whether the parameter was given at all (graphite-web's
// "name in queryParams").
func (p params) has(name string) bool { _, ok := p[name]; return ok }

// get is the parameter's last value, or "".
func (p params) get(name string) string {
	vs := p[name]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// intParam is an integer parameter (def when absent); anything else
// than an integer is a 400 naming it.
func (p params) intParam(name string, def int) (int, error) {
	if !p.has(name) {
		return def, nil
	}
	n, err := strconv.Atoi(p.get(name))
	if err != nil {
		return 0, badRequestf("invalid int value %q for parameter %s", p.get(name), name)
	}
	return n, nil
}

// times reads tz, now, from and until as graphite-web's render view
// does: from defaults to -1d, until to now; the two are swapped when from
// is later; an empty range is refused. Unknown time zones are refused
// (graphite-web ignores them silently).
func (a *API) times(p params, defFrom string) (from, until, now int64, loc *time.Location, err error) {
	loc, err = a.location(p)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	nowT := a.now().In(loc)
	if p.has("now") {
		if nowT, err = ParseATTime(p.get("now"), loc, nowT); err != nil {
			return 0, 0, 0, nil, badRequestf("invalid value %q for parameter now: %v", p.get("now"), err)
		}
	}
	parse := func(name, def string) (int64, error) {
		v := def
		if p.has(name) {
			v = p.get(name)
		}
		t, err := ParseATTime(v, loc, nowT)
		if err != nil {
			return 0, badRequestf("invalid value %q for parameter %s: %v", v, name, err)
		}
		return t.Unix(), nil
	}
	if until, err = parse("until", "now"); err != nil {
		return 0, 0, 0, nil, err
	}
	if from, err = parse("from", defFrom); err != nil {
		return 0, 0, 0, nil, err
	}
	from, until = min(from, until), max(from, until)
	if from == until {
		return 0, 0, 0, nil, badRequestf("invalid empty time range: from and until are both %d", from)
	}
	return from, until, nowT.Unix(), loc, nil
}

// location is the tz parameter's zone, or the configured one.
func (a *API) location(p params) (*time.Location, error) {
	if !p.has("tz") {
		return a.loc, nil
	}
	loc, err := time.LoadLocation(p.get("tz"))
	if err != nil || p.get("tz") == "" {
		return nil, badRequestf("invalid value %q for parameter tz: not a known time zone", p.get("tz"))
	}
	return loc, nil
}
