// Command serverset-register registers a backend in a ZooKeeper serverset
// (a Finagle-compatible member znode) while its health check passes, and
// removes the member while it is unhealthy and on SIGTERM/SIGINT.
//
//	serverset-register -zk HOST:PORT[,...] -path /discovery/ENV/SERVICE -host H -port P \
//	    [-additional name=host:port ...] [-shard N] [-metadata k=v ...] \
//	    -check tcp://H:P|udp://H:P|http://H:P/health|exec:CMD \
//	    [-interval 1s] [-timeout 500ms] [-rise 2] [-fall 3] [-metrics 127.0.0.1:PORT] \
//	    [-maintenance-file PATH] [-log-format json|text] [-log-level info]
//
// exec: checks run as /bin/sh -c CMD. The member is drained (announced
// STOPPING, so readers take it out of their rings, while the backend keeps
// running) while `serverset drain` has left a drain marker for HOST:PORT
// or while the maintenance file exists; see the README, "Managing serversets".
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

	"ringrelay/config"
	"ringrelay/discovery"
	"ringrelay/internal/logging"
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
		check       = fs.String("check", "", "health check (required): tcp://H:P (connect), udp://H:P (fails on ICMP refusal), http://H:P/PATH (2xx/3xx) or exec:CMD (run as "+execShell+" CMD, exit 0 passes)")
		interval    = fs.Duration("interval", time.Second, "time between checks (the maintenance file is polled as often)")
		timeout     = fs.Duration("timeout", 0, "check timeout, below -interval (default min(500ms, interval/2))")
		rise        = fs.Int("rise", 2, "passes in a row to register (at least 1)")
		fall        = fs.Int("fall", 3, "failures in a row to deregister (at least 1)")
		sessionTO   = fs.Duration("session-timeout", 10*time.Second, "ZooKeeper session timeout")
		auth        = fs.String("auth", "", "digest credentials user:password; the member is then writable only by them, readable by all (env ZK_AUTH also works)")
		maintenance = fs.String("maintenance-file", "", "drain the member while this file exists (announced "+discovery.StatusDrained+": out of every ring, backend still checked)")
		metricsAddr = fs.String("metrics", "", "serve Prometheus /metrics on this address")
		logLevel    = fs.String("log-level", "info", "debug, info, warn or error")
		logFormat   = fs.String("log-format", "json", "json or text")
		additional  listFlag
		metadata    listFlag
	)
	fs.Var(&additional, "additional", "additional endpoint name=host:port (repeatable)")
	fs.Var(&metadata, "metadata", "metadata key=value (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: serverset-register -zk HOST:PORT[,...] -path PATH -host H -port P -check SPEC [flags]

Keeps one Finagle serverset member for HOST:PORT under PATH while the check
passes -rise times in a row; deletes it after -fall failures and on SIGTERM.
exec: checks run as %s CMD. While a drain marker (serverset drain) or the
-maintenance-file exists, the member is announced %s instead of ALIVE.

Flags:
`, execShell, discovery.StatusDrained)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := checkRequired(fs); err != nil {
		return err
	}
	if err := checkCounts(*rise, *fall); err != nil {
		return err
	}
	member, err := buildMember(*host, *port, *shard, additional, metadata)
	if err != nil {
		return err
	}
	checker, err := discovery.ParseCheck(*check)
	if err != nil {
		return err
	}
	logger, err := logging.New(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	if strings.HasPrefix(*check, "exec:") {
		logger.Info("exec check runs under "+execShell, zap.String("shell", execShell), zap.String("check", *check))
	}

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

		MaintenanceFile: *maintenance,
		Metrics:         discovery.NewRegistrarMetrics(reg),
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

// checkCounts refuses rise and fall counts below 1: 0 would silently mean
// the default in discovery, and no operator asks for that by writing 0.
func checkCounts(rise, fall int) error {
	var errs []error
	if rise < 1 {
		errs = append(errs, fmt.Errorf("-rise %d: want at least 1 (passes in a row that register the member)", rise))
	}
	if fall < 1 {
		errs = append(errs, fmt.Errorf("-fall %d: want at least 1 (failures in a row that deregister it)", fall))
	}
	return errors.Join(errs...)
}

// buildMember is the member the flags describe.
func buildMember(host string, port, shard int, additional, metadata []string) (discovery.MemberData, error) {
	member := discovery.MemberData{
		ServiceEndpoint:     discovery.Endpoint{Host: host, Port: port},
		AdditionalEndpoints: map[string]discovery.Endpoint{},
	}
	if shard > math.MaxInt32 {
		// int32 would wrap it, possibly onto another backend's shard.
		return member, fmt.Errorf("failed to parse -shard %d: want 0..%d (a 32-bit shard)", shard, math.MaxInt32)
	}
	if shard >= 0 {
		s := int32(shard)
		member.Shard = &s
	}
	for _, a := range additional {
		name, hp, ok := strings.Cut(a, "=")
		h, p, err := net.SplitHostPort(hp)
		pn, perr := strconv.Atoi(p)
		if !ok || name == "" || err != nil || perr != nil {
			return member, fmt.Errorf("failed to parse -additional %q: want name=host:port", a)
		}
		member.AdditionalEndpoints[name] = discovery.Endpoint{Host: h, Port: pn}
	}
	for _, kv := range metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return member, fmt.Errorf("failed to parse -metadata %q: want key=value", kv)
		}
		if member.Metadata == nil {
			member.Metadata = map[string]string{}
		}
		member.Metadata[k] = v
	}
	return member, nil
}

// execShell is what exec: checks run under (discovery's execCheck).
const execShell = "/bin/sh -c"

// required are the flags without which nothing can be registered.
var required = []string{"zk", "path", "host", "port", "check"}

// checkRequired names every required flag that was not given, at once.
func checkRequired(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var missing []string
	for _, name := range required {
		if !set[name] {
			missing = append(missing, "-"+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required flags: %s (see -help)", strings.Join(missing, ", "))
	}
	return nil
}
