package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// adminGuard decides which admin requests may run. Reads (GET, HEAD,
// OPTIONS) of the API are open. Every other method may change the relay, so
// it must name a trusted Host (DNS rebinding), come from no other origin
// (CSRF, net/http's CrossOriginProtection) and, when [admin] has a token,
// carry it; /debug/pprof is served only with pprof = true, behind the same
// Host and token checks.
//
// It reads the running [admin] section (r.router) on every request, so a
// reload changes the token, allowed_hosts and pprof without a rebind. Its
// methods may be called from any goroutine.
type adminGuard struct {
	r   *Relay
	m   *adminMetrics
	log *zap.Logger // sampled: refusals may come in floods
	cop *http.CrossOriginProtection
	// token is the bearer token of one router (one config): token_file is
	// read again at the first request after a reload.
	token atomic.Pointer[adminToken]
}

type adminToken struct {
	rt  *router
	set bool
	sum [sha256.Size]byte // compared, so that only a digest's length is public
	err error
}

func newAdminGuard(r *Relay, log *zap.Logger) *adminGuard {
	return &adminGuard{
		r: r, m: r.metrics.admin, cop: http.NewCrossOriginProtection(),
		log: log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, time.Second, 10, 100)
		})),
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// mutating guards every request to next whose method is not safe, whatever
// its route, so an endpoint added later is guarded too. Such a request
// takes its fields from the body, never from the query string.
func (g *adminGuard) mutating(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !safeMethod(req.Method) {
			rt := g.r.router.Load()
			if !g.checkHost(w, req, rt) || !g.checkOrigin(w, req) || !g.checkToken(w, req, rt) || !g.checkQuery(w, req) {
				return
			}
		}
		next.ServeHTTP(w, req)
	})
}

// pprof serves h when pprof is on (404 otherwise), to a trusted Host with
// the token when one is set.
func (g *adminGuard) pprof(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rt := g.r.router.Load()
		if !rt.cfg.Admin.PProf {
			http.NotFound(w, req)
			return
		}
		if g.checkHost(w, req, rt) && g.checkToken(w, req, rt) {
			h(w, req)
		}
	})
}

func (g *adminGuard) refuse(w http.ResponseWriter, req *http.Request, c interface{ Inc() }, code int, format string, args ...any) {
	c.Inc()
	msg := fmt.Sprintf(format, args...)
	g.log.Warn("admin request refused", zap.String("remote", req.RemoteAddr), zap.String("method", req.Method),
		zap.String("path", req.URL.Path), zap.Int("code", code), zap.String("why", msg))
	httpError(w, code, "%s", msg)
}

func (g *adminGuard) checkHost(w http.ResponseWriter, req *http.Request, rt *router) bool {
	if err := rt.cfg.Admin.checkHost(req.Host); err != nil {
		g.refuse(w, req, g.m.badHost, http.StatusForbidden, "%v", err)
		return false
	}
	return true
}

func (g *adminGuard) checkOrigin(w http.ResponseWriter, req *http.Request) bool {
	if err := g.cop.Check(req); err != nil {
		g.refuse(w, req, g.m.crossOrigin, http.StatusForbidden, "cross-origin request refused (Origin %q, Sec-Fetch-Site %q, Host %q): %v",
			req.Header.Get("Origin"), req.Header.Get("Sec-Fetch-Site"), req.Host, err)
		return false
	}
	return true
}

func (g *adminGuard) checkToken(w http.ResponseWriter, req *http.Request, rt *router) bool {
	tok := g.tokenOf(rt)
	switch {
	case tok.err != nil:
		// Fail closed: the file was readable when the config was validated.
		g.refuse(w, req, g.m.tokenFile, http.StatusServiceUnavailable, "the admin token is unavailable: %v", tok.err)
		return false
	case !tok.set:
		return true
	}
	scheme, cred, _ := strings.Cut(req.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	if !strings.EqualFold(scheme, "Bearer") || cred == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ringrelay admin"`)
		g.refuse(w, req, g.m.missingToken, http.StatusUnauthorized, "missing Authorization: Bearer token")
		return false
	}
	sum := sha256.Sum256([]byte(cred))
	if subtle.ConstantTimeCompare(sum[:], tok.sum[:]) != 1 {
		g.refuse(w, req, g.m.wrongToken, http.StatusForbidden, "wrong bearer token")
		return false
	}
	return true
}

// tokenOf returns rt's token, reading token_file at the first request
// after rt was swapped in.
func (g *adminGuard) tokenOf(rt *router) *adminToken {
	if t := g.token.Load(); t != nil && t.rt == rt {
		return t
	}
	t := &adminToken{rt: rt}
	s, err := rt.cfg.Admin.readToken()
	switch {
	case err != nil:
		t.err = err
		g.log.Error("admin token unavailable; mutating requests and pprof are refused", zap.Error(err))
	case s != "":
		t.set, t.sum = true, sha256.Sum256([]byte(s))
	}
	g.token.Store(t)
	return t
}

// checkQuery refuses a query string on a mutating request: its fields
// come in the body. Refused, not ignored: a URL ends up in logs and browser
// history, and the sender should learn why its server was not taken.
func (g *adminGuard) checkQuery(w http.ResponseWriter, req *http.Request) bool {
	if req.URL.RawQuery == "" {
		return true
	}
	g.refuse(w, req, g.m.queryForm, http.StatusBadRequest,
		"fields in the query string refused (%s): send them in the POST body (application/x-www-form-urlencoded)",
		strings.Join(slices.Sorted(maps.Keys(req.URL.Query())), ", "))
	return false
}
