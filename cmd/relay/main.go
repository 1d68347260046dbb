// Command relay is ringrelay's daemon: it receives graphite, statsd or
// regex-keyed lines and relays each to the backend(s) its key hashes to.
//
//	relay [-config FILE]            run (embedded defaults without -config)
//	relay -check-config -config F   validate and exit
//	relay -print-default-config     print the embedded defaults as TOML
//	relay route -config F -pool P [-format graphite|statsd] < lines
//	relay aggregate -config F -aggregator A [-extra-flushes N] < datagrams
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/pelletier/go-toml/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"ringrelay/proxy"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "route" {
		return runRoute(args[1:], stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "aggregate" {
		return runAggregate(args[1:], stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config `file` (embedded defaults when empty)")
	check := fs.Bool("check-config", false, "validate the config and exit (non-zero when invalid)")
	printDefault := fs.Bool("print-default-config", false, "print the embedded default config and exit")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *printDefault {
		b, err := toml.Marshal(proxy.DefaultConfig())
		if err != nil {
			fmt.Fprintf(stderr, "relay: failed to encode default config: %v\n", err)
			return 1
		}
		stdout.Write(b)
		return 0
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "relay: config %s is valid\n", displayPath(*path))
		return 0
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 2
	}
	defer log.Sync()
	return serve(cfg, *path, log)
}

func displayPath(p string) string {
	if p == "" {
		return "(embedded defaults)"
	}
	return p
}

func loadConfig(path string) (proxy.Config, error) {
	if path == "" {
		return proxy.DefaultConfig(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return proxy.Config{}, fmt.Errorf("failed to read config: %w", err)
	}
	cfg, err := proxy.LoadConfig(data)
	if err != nil {
		return proxy.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func newLogger(level string) (*zap.Logger, error) {
	zc := zap.NewProductionConfig()
	if err := zc.Level.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad -log-level %q: %w", level, err)
	}
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapISO8601
	zc.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
	return zc.Build()
}

// serve runs the relay until SIGTERM or SIGINT, then drains and exits 0.
func serve(cfg proxy.Config, path string, log *zap.Logger) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)
	return serveSignals(cfg, path, log, sig, nil)
}

// serveSignals runs the relay on cfg and acts on signals: SIGHUP reloads
// the config file into the running relay (listeners, open connections,
// queues and counters stay; a file that does not parse or validate, or a
// new listener that cannot bind, is refused and logged, and the running
// config stays), SIGTERM/SIGINT stop. started, when not nil, receives the
// relay once it is serving (tests use it).
func serveSignals(cfg proxy.Config, path string, log *zap.Logger, sig <-chan os.Signal, started chan<- *proxy.Relay) int {
	r, err := proxy.New(proxy.Options{Config: cfg, Logger: log})
	if err != nil {
		log.Error("failed to start relay", zap.Error(err))
		return 1
	}
	if err := r.Start(); err != nil {
		log.Error("failed to start relay", zap.Error(err))
		return 1
	}
	if started != nil {
		started <- r
	}
	log.Info("relay running", zap.String("config", displayPath(path)))
	for s := range sig {
		if s != syscall.SIGHUP {
			log.Info("stopping", zap.String("signal", s.String()))
			if err := r.Shutdown(context.Background()); err != nil {
				log.Warn("shutdown", zap.Error(err))
			}
			return 0
		}
		if path == "" {
			log.Warn("SIGHUP ignored: running on embedded defaults, no config file to reload")
			continue
		}
		log.Info("reloading", zap.String("config", path))
		next, err := loadConfig(path)
		if err != nil {
			r.ReloadFailed()
			log.Error("reload refused; the running config stays", zap.Error(err))
			continue
		}
		if _, err := r.Reload(next); err != nil {
			log.Error("reload refused; the running config stays", zap.Error(err))
		}
	}
	return 0
}

func runRoute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("relay route", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config `file` (embedded defaults when empty)")
	pool := fs.String("pool", "", "pool `name` to route through (required)")
	format := fs.String("format", "", "line format: graphite or statsd (default: the format of a listener feeding the pool)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pool == "" {
		fmt.Fprintln(stderr, "relay route: -pool is required")
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "relay route: %v\n", err)
		return 1
	}
	cfg.Admin.Listen = ""
	r, err := proxy.New(proxy.Options{Config: cfg, NoBackends: true})
	if err != nil {
		fmt.Fprintf(stderr, "relay route: %v\n", err)
		return 1
	}
	defer r.Shutdown(context.Background())
	if err := r.RouteTest(*pool, *format, stdin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "relay route: %v\n", err)
		return 1
	}
	return 0
}

// runAggregate is `relay aggregate`: the named aggregator's accumulator
// (the daemon's code) over the statsd oracle's input format, printing each
// flush.
func runAggregate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("relay aggregate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config `file` (required)")
	name := fs.String("aggregator", "", "aggregator `name` (required)")
	extra := fs.Int("extra-flushes", 0, "idle flushes after the end of input")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || *name == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "relay aggregate: -config and -aggregator are required, and nothing else")
		return 2
	}
	if *extra < 0 {
		fmt.Fprintln(stderr, "relay aggregate: -extra-flushes must not be negative")
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "relay aggregate: %v\n", err)
		return 1
	}
	if err := proxy.AggregateTest(cfg, *name, stdin, stdout, *extra); err != nil {
		fmt.Fprintf(stderr, "relay aggregate: %v\n", err)
		return 1
	}
	return 0
}
