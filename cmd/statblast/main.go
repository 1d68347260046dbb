// Command statblast is a development load generator: it sends graphite
// ("key value timestamp") or statsd ("key:1|c") lines to a tcp://, udp:// or
// unix:// target over one or more connections, at a fixed rate or flat out,
// for a number of lines or a duration, and prints the rate it achieved.
//
//	statblast -target tcp://127.0.0.1:2003 -lines 1000000 -connections 4 -keys 10000
//	statblast -target udp://127.0.0.1:8125 -format statsd -rate 50000 -duration 10s
//
// Keys are "<prefix>.key<NNNNNNN>"; line i uses key i mod -keys, so -keys is
// exactly the cardinality once at least that many lines are sent. TCP
// writes carry up to -batch bytes of whole lines; UDP datagrams whole lines
// up to -udp-size bytes. For the reproducible side-by-side benchmark use
// ../shared/bench (loadgen, sink, benchrun) instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("statblast", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.target, "target", "tcp://127.0.0.1:2003", "where to send: tcp://host:port, udp://host:port or unix:///path")
	fs.Float64Var(&o.rate, "rate", 0, "lines per second over all connections (0 = as fast as possible)")
	fs.IntVar(&o.connections, "connections", 1, "parallel connections (UDP: sockets)")
	fs.StringVar(&o.format, "format", "graphite", "line format: graphite or statsd")
	fs.IntVar(&o.keys, "keys", 1000, "number of distinct keys")
	fs.StringVar(&o.prefix, "prefix", "statblast", "key prefix")
	fs.Int64Var(&o.lines, "lines", 0, "lines to send in total (0 = until -duration)")
	fs.DurationVar(&o.duration, "duration", 0, "how long to send (0 = until -lines)")
	fs.IntVar(&o.batch, "batch", 64<<10, "TCP/unix: most bytes per write, whole lines")
	fs.IntVar(&o.udpSize, "udp-size", 1400, "UDP: most bytes per datagram, whole lines")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 5*time.Second, "connect timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "statblast: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if o.lines == 0 && o.duration == 0 {
		o.lines = 100000
	}
	res, err := blast(ctx, o)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "statblast: %v\n", err)
		if res.lines == 0 {
			return 1
		}
	}
	fmt.Fprintln(stdout, res)
	if err != nil && !errors.Is(err, context.Canceled) {
		return 1
	}
	return 0
}

// result is what a run achieved.
type result struct {
	lines, bytes, writes int64
	elapsed              time.Duration
}

func (r result) String() string {
	secs := r.elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	return fmt.Sprintf("sent %d lines, %d bytes in %d writes over %.3fs: %.0f lines/s, %.2f MB/s",
		r.lines, r.bytes, r.writes, secs, float64(r.lines)/secs, float64(r.bytes)/secs/1e6)
}

// options are the parsed flags.
type options struct {
	target      string
	rate        float64
	connections int
	format      string
	keys        int
	prefix      string
	lines       int64
	duration    time.Duration
	batch       int
	udpSize     int
	dialTimeout time.Duration
}

func (o options) validate() error {
	proto, addr, ok := strings.Cut(o.target, "://")
	switch {
	case !ok || addr == "" || (proto != "tcp" && proto != "udp" && proto != "unix"):
		return fmt.Errorf("invalid -target %q: want tcp://host:port, udp://host:port or unix:///path", o.target)
	case o.format != "graphite" && o.format != "statsd":
		return fmt.Errorf("invalid -format %q: want graphite or statsd", o.format)
	case o.connections < 1:
		return fmt.Errorf("invalid -connections %d: want at least 1", o.connections)
	case o.keys < 1:
		return fmt.Errorf("invalid -keys %d: want at least 1", o.keys)
	case o.rate < 0 || o.lines < 0 || o.duration < 0:
		return errors.New("invalid -rate, -lines or -duration: must not be negative")
	case o.batch < 256 || o.udpSize < 64 || o.udpSize > 65507:
		return fmt.Errorf("invalid -batch %d or -udp-size %d: want -batch >= 256 and -udp-size in 64..65507", o.batch, o.udpSize)
	}
	return nil
}
