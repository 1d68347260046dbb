package proxy

import (
	"fmt"
	"net"
	"net/http"

	"go.uber.org/zap"

	"ringrelay/graphiteapi"
)

// apiPaths are the Graphite read API's routes that the admin listener
// serves too (every one but those that would clash with its own, see
// graphiteapi.API.Paths); they do not depend on the config.
var apiPaths = graphiteapi.New(nil, graphiteapi.DefaultConfig(), zap.NewNop()).Paths()

// validateGraphiteAPI checks the [graphiteapi] section against the sinks.
func (c Config) validateGraphiteAPI() error {
	g := c.GraphiteAPI
	if err := g.Validate(); err != nil {
		return err
	}
	if g.Sink == "" {
		return nil
	}
	s, ok := c.Sinks[g.Sink]
	if !ok {
		return fmt.Errorf("graphiteapi.sink %q: no such [sinks.%s] section", g.Sink, g.Sink)
	}
	if k, ok := sinkKinds[s.Kind]; ok && !k.readable {
		return fmt.Errorf("graphiteapi.sink %q: a sink of kind %q cannot be read back; use a memory, mysql or cassandra sink", g.Sink, s.Kind)
	}
	return nil
}

// commitGraphiteAPI builds the read API over the committed sinks (a
// reopened sink is a new reader), or turns it off.
func (r *Relay) commitGraphiteAPI(cfg Config) {
	g := cfg.GraphiteAPI
	if g.Sink == "" {
		r.api.Store(nil)
		return
	}
	rd := r.sinks[g.Sink].reader()
	if rd == nil { // the sink failed to reopen; logged by commitSinks
		r.api.Store(nil)
		return
	}
	r.api.Store(graphiteapi.New(rd, g, r.log))
}

// serveGraphiteAPI serves a request with the API of the running config.
func (r *Relay) serveGraphiteAPI(w http.ResponseWriter, req *http.Request) {
	a := r.api.Load()
	if a == nil {
		http.Error(w, "the Graphite read API is off: set [graphiteapi] sink = \"NAME\" (a memory, mysql or cassandra sink)", http.StatusNotFound)
		return
	}
	a.ServeHTTP(w, req)
}

// withGraphiteAPI routes the API's paths to it and everything else to
// next. The API only reads, so its POSTs (Grafana sends form bodies) skip
// the admin guard that protects the relay's mutating requests.
func (r *Relay) withGraphiteAPI(next http.Handler) http.Handler {
	api := http.NewServeMux()
	for _, p := range apiPaths {
		api.HandleFunc(p, r.serveGraphiteAPI)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, pattern := api.Handler(req); pattern != "" {
			r.serveGraphiteAPI(w, req)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// startGraphiteAPIListener binds [graphiteapi] listen: every route of the
// API (Cyanite's /metrics, /paths and /ping included) and nothing else.
func startGraphiteAPIListener(r *Relay, cfg Config) (*admin, error) {
	a, err := serveAdmin(r, "graphiteapi", cfg.GraphiteAPI.Listen, http.HandlerFunc(r.serveGraphiteAPI), cfg.Admin)
	if err != nil {
		return nil, fmt.Errorf("graphiteapi.listen: %w", err)
	}
	return a, nil
}

// GraphiteAPIAddr is the bound [graphiteapi] listen address (nil when unset).
func (r *Relay) GraphiteAPIAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.apiLn == nil {
		return nil
	}
	return r.apiLn.ln.Addr()
}
