// Command relay is ringrelay's daemon: it receives graphite, statsd or
// regex-keyed lines and relays each to the backend(s) its key hashes to.
//
//	relay [-config FILE]            run (embedded defaults without -config)
//	relay -check-config -config F   validate and exit
//	relay -print-default-config     print the defaults as the relay applies them
//	relay -version                  print the build and exit
//	relay route -config F -pool P|-listener L [-format graphite|statsd] [-admin URL] < lines
//	relay aggregate -config F -aggregator A [-extra-flushes N] < datagrams
//
// Every subcommand takes -log-format text|json and -log-level. Mistakes
// on the command line (an unknown flag or subcommand, a stray argument)
// are reported in plain text, as the flag package does, with exit code 2;
// once the flags are read everything the process reports goes through its
// logger, in the one format asked for.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"ringrelay/internal/buildinfo"
	"ringrelay/proxy"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// subcommands are relay's subcommands, each with its own flags.
var subcommands = map[string]func(args []string, stdin io.Reader, stdout, stderr io.Writer) int{
	"route":     runRoute,
	"aggregate": runAggregate,
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if sub := subcommands[args[0]]; sub != nil {
			return sub(args[1:], stdin, stdout, stderr)
		}
		fmt.Fprintf(stderr, "relay: unknown subcommand %q: the subcommands are route and aggregate; a config file is given with -config %s\n", args[0], args[0])
		return 2
	}
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config `file` (embedded defaults when empty)")
	check := fs.Bool("check-config", false, "validate the config and exit (non-zero when invalid)")
	printDefault := fs.Bool("print-default-config", false, "print the default config, as the relay applies it, and exit")
	version := fs.Bool("version", false, "print the version, VCS revision and Go version, and exit")
	lf := addLogFlags(fs, "info")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: relay [flags]   (subcommands: relay route -h, relay aggregate -h)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !noArguments(fs, stderr, *path == "") {
		return 2
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "relay: %v\n", err)
		return 2
	}
	defer log.Sync()
	switch {
	case *version:
		fmt.Fprintf(stdout, "relay %s\n", buildinfo.Read())
		return 0
	case *printDefault:
		text, err := defaultConfigText()
		if err != nil {
			log.Error("failed to print the default config", zap.Error(err))
			return 1
		}
		io.WriteString(stdout, text)
		return 0
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		log.Error("invalid config", zap.String("config", displayPath(*path)), zap.Error(err))
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "relay: config %s is valid\n", displayPath(*path))
		return 0
	}
	// A library writing to the standard logger logs in the same format.
	defer zap.RedirectStdLog(log.Named("stdlog"))()
	return serve(cfg, *path, log)
}

// noArguments reports whether the flags were all there was; if not it
// names the unexpected arguments on stderr. A lone argument where -config
// was not given is most likely the config file: the message says how to
// give it.
func noArguments(fs *flag.FlagSet, stderr io.Writer, noConfig bool) bool {
	if fs.NArg() == 0 {
		return true
	}
	quoted := make([]string, fs.NArg())
	for i, a := range fs.Args() {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	msg := fmt.Sprintf("%s: unexpected argument %s", fs.Name(), quoted[0])
	if fs.NArg() > 1 {
		msg = fmt.Sprintf("%s: unexpected arguments %s (flags after an argument are not read)", fs.Name(), strings.Join(quoted, " "))
	}
	if noConfig && fs.Lookup("config") != nil && fs.NArg() == 1 {
		msg += fmt.Sprintf("; a config file is given with -config %s", fs.Arg(0))
	}
	fmt.Fprintln(stderr, msg)
	return false
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
	log.Info("relay running", zap.String("config", displayPath(path)), zap.String("version", buildinfo.Read().String()))
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
			r.ReloadFailed(err)
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
	pool := fs.String("pool", "", "pool `name` to route through (required without -listener)")
	format := fs.String("format", "", "line format: graphite or statsd (default: the format of a listener feeding the pool)")
	listener := fs.String("listener", "", "route as listener `name` does: its format and its rules")
	admin := fs.String("admin", "", "route on the members a running relay reports: its admin base `URL` (http://host:port); without it, the serversets are read once when [zookeeper] is set")
	lf := addLogFlags(fs, "warn")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !noArguments(fs, stderr, *path == "") {
		return 2
	}
	if *pool == "" && *listener == "" {
		fmt.Fprintln(stderr, "relay route: -pool is required (or -listener)")
		return 2
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "relay route: %v\n", err)
		return 2
	}
	defer log.Sync()
	cfg, err := loadConfig(*path)
	if err != nil {
		log.Error("invalid config", zap.String("config", displayPath(*path)), zap.Error(err))
		return 1
	}
	cfg.Admin.Listen = ""
	r, err := proxy.New(proxy.Options{Config: cfg, NoBackends: true, Logger: log})
	if err != nil {
		log.Error("failed to build the relay", zap.String("config", displayPath(*path)), zap.Error(err))
		return 1
	}
	defer r.Shutdown(context.Background())
	report, err := r.UseLiveMembers(context.Background(), *admin)
	if err != nil {
		log.Error("failed to read the live membership", zap.Error(err))
		return 1
	}
	for _, l := range report {
		fmt.Fprintf(stderr, "relay route: %s\n", l)
	}
	if err := r.Route(proxy.RouteOptions{Pool: *pool, Format: *format, Listener: *listener}, stdin, stdout, stderr); err != nil {
		log.Error("failed to route", zap.String("pool", *pool), zap.Error(err))
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
	lf := addLogFlags(fs, "warn")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !noArguments(fs, stderr, *path == "") {
		return 2
	}
	if *path == "" || *name == "" {
		fmt.Fprintln(stderr, "relay aggregate: -config and -aggregator are required")
		return 2
	}
	if *extra < 0 {
		fmt.Fprintln(stderr, "relay aggregate: -extra-flushes must not be negative")
		return 2
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "relay aggregate: %v\n", err)
		return 2
	}
	defer log.Sync()
	cfg, err := loadConfig(*path)
	if err != nil {
		log.Error("invalid config", zap.String("config", *path), zap.Error(err))
		return 1
	}
	if err := proxy.AggregateTest(cfg, *name, stdin, stdout, *extra); err != nil {
		log.Error("failed to aggregate", zap.String("aggregator", *name), zap.Error(err))
		return 1
	}
	return 0
}
