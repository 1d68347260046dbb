// Command serverset-register registers a backend in a ZooKeeper serverset
// (a Finagle-compatible member znode) while its health check passes, and
// removes the member while it is unhealthy and on SIGTERM/SIGINT.
//
//	serverset-register -zk HOST:PORT[,...] -path /discovery/ENV/SERVICE -host H -port P \
//	    [-additional name=host:port ...] [-shard N] [-metadata k=v ...] \
//	    -check tcp://H:P|udp://H:P|http://H:P/health|exec:CMD \
//	    [-interval 1s] [-timeout 500ms] [-rise 2] [-fall 3] [-metrics 127.0.0.1:PORT]
//
// The logic lives in package discovery (Registrar, ParseCheck, Health).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"ringrelay/config"
	"ringrelay/discovery"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "serverset-register:", err)
		os.Exit(2)
	}
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// run parses args and registers until ctx is done. If started is not nil it
// receives the registrar (and the metrics address, if any) once running.
func run(ctx context.Context, args []string, stderr io.Writer, started func(*discovery.Registrar, string)) error {
	fs := flag.NewFlagSet("serverset-register", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		zkServers   = fs.String("zk", "", "ZooKeeper servers, HOST:PORT[,...] (required)")
		zkPath      = fs.String("path", "", "serverset path, e.g. /discovery/prod/carbon-cache (required)")
		host        = fs.String("host", "", "announced host (required)")
		port        = fs.Int("port", 0, "announced port (required)")
		shard       = fs.Int("shard", -1, "announced shard (omitted when negative)")
		check       = fs.String("check", "", "health check: tcp://H:P, udp://H:P, http://H:P/PATH or exec:CMD (required)")
		interval    = fs.Duration("interval", time.Second, "time between checks")
		timeout     = fs.Duration("timeout", 0, "check timeout, below -interval (default min(500ms, interval/2))")
		rise        = fs.Int("rise", 2, "passes in a row to register")
		fall        = fs.Int("fall", 3, "failures in a row to deregister")
		sessionTO   = fs.Duration("session-timeout", 10*time.Second, "ZooKeeper session timeout")
		auth        = fs.String("auth", "", "digest credentials user:password; the member is then writable only by them, readable by all (env ZK_AUTH also works)")
		metricsAddr = fs.String("metrics", "", "serve Prometheus /metrics on this address")
		logLevel    = fs.String("log-level", "info", "debug, info, warn or error")
		additional  listFlag
		metadata    listFlag
	)
	fs.Var(&additional, "additional", "additional endpoint name=host:port (repeatable)")
	fs.Var(&metadata, "metadata", "metadata key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	member := discovery.MemberData{
		ServiceEndpoint:     discovery.Endpoint{Host: *host, Port: *port},
		AdditionalEndpoints: map[string]discovery.Endpoint{},
	}
	if *shard > math.MaxInt32 {
		// int32 would wrap it, possibly onto another backend's shard.
		return fmt.Errorf("failed to parse -shard %d: want 0..%d (a 32-bit shard)", *shard, math.MaxInt32)
	}
	if *shard >= 0 {
		s := int32(*shard)
		member.Shard = &s
	}
	for _, a := range additional {
		name, hp, ok := strings.Cut(a, "=")
		h, p, err := net.SplitHostPort(hp)
		pn, perr := strconv.Atoi(p)
		if !ok || name == "" || err != nil || perr != nil {
			return fmt.Errorf("failed to parse -additional %q: want name=host:port", a)
		}
		member.AdditionalEndpoints[name] = discovery.Endpoint{Host: h, Port: pn}
	}
	for _, kv := range metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("failed to parse -metadata %q: want key=value", kv)
		}
		if member.Metadata == nil {
			member.Metadata = map[string]string{}
		}
		member.Metadata[k] = v
	}
	checker, err := discovery.ParseCheck(*check)
	if err != nil {
		return err
	}
	var level zapcore.Level
	if err := level.Set(*logLevel); err != nil {
		return fmt.Errorf("failed to parse -log-level %q: %w", *logLevel, err)
	}
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.Lock(zapcore.AddSync(stderr)), level))
	defer func() { _ = logger.Sync() }()

	zkc := discovery.DefaultZooKeeperConfig()
	for _, s := range strings.Split(*zkServers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			zkc.Servers = append(zkc.Servers, s)
		}
	}
	zkc.SessionTimeout = config.Duration{Duration: *sessionTO}
	zkc.Auth = *auth
	if zkc.Auth == "" {
		zkc.Auth = os.Getenv("ZK_AUTH")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r, err := discovery.NewRegistrar(discovery.RegistrarConfig{
		ZooKeeper: zkc,
		Path:      *zkPath,
		Member:    member,
		Check:     checker,
		Interval:  *interval,
		Timeout:   *timeout,
		Rise:      *rise,
		Fall:      *fall,
		Logger:    logger,
		Metrics:   discovery.NewRegistrarMetrics(reg),
	})
	if err != nil {
		return err
	}

	var boundMetrics string
	errc := make(chan error, 1)
	var srv *http.Server
	if *metricsAddr != "" {
		l, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("failed to listen for metrics on %q: %w", *metricsAddr, err)
		}
		boundMetrics = l.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { errc <- srv.Serve(l) }()
		logger.Info("serving metrics", zap.String("addr", boundMetrics))
	}
	if started != nil {
		started(r, boundMetrics)
	}
	runErr := r.Run(ctx)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("metrics server failed", zap.Error(err))
		}
	}
	return runErr
}
