package proxy

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// adminMetrics count what goes wrong on the admin and metrics listeners:
// the errors net/http reports only through its ErrorLog, and the requests
// the admin refuses, by kind.
type adminMetrics struct {
	accept       prometheus.Counter // net/http: failed Accept (it retries)
	http         prometheus.Counter // net/http: anything else it logs
	missingToken prometheus.Counter // 401: no Authorization: Bearer
	wrongToken   prometheus.Counter // 403: a bearer token that is not the one
	tokenFile    prometheus.Counter // 503: token_file unreadable since the reload
	badHost      prometheus.Counter // 403: Host refused (DNS rebinding)
	crossOrigin  prometheus.Counter // 403: Origin / Sec-Fetch-Site (CSRF)
	queryForm    prometheus.Counter // 400: form fields in the query string
}

func newAdminMetrics(reg prometheus.Registerer) *adminMetrics {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringrelay_admin_errors_total",
		Help: "Admin and metrics listener errors, by kind: accept and http (what net/http logs), " +
			"missing_token, wrong_token, token_file, bad_host, cross_origin, query_form (requests refused).",
	}, []string{"kind"})
	reg.MustRegister(v)
	return &adminMetrics{
		accept:       v.WithLabelValues("accept"),
		http:         v.WithLabelValues("http"),
		missingToken: v.WithLabelValues("missing_token"),
		wrongToken:   v.WithLabelValues("wrong_token"),
		tokenFile:    v.WithLabelValues("token_file"),
		badHost:      v.WithLabelValues("bad_host"),
		crossOrigin:  v.WithLabelValues("cross_origin"),
		queryForm:    v.WithLabelValues("query_form"),
	}
}

// adminErrorLog is an http.Server's ErrorLog writer: each line net/http
// logs (one per Write) goes to zap and is counted. net/http says what
// failed only in the text, so the Accept errors it retries are told apart
// by the prefix it writes for them.
type adminErrorLog struct {
	log *zap.Logger
	m   *adminMetrics
}

func (w adminErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	kind := "http"
	if strings.HasPrefix(msg, "http: Accept error") {
		kind = "accept"
		w.m.accept.Inc()
	} else {
		w.m.http.Inc()
	}
	w.log.Warn(msg, zap.String("kind", kind))
	return len(p), nil
}
