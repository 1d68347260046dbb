// Command echoserver is a development sink: it listens on one or more
// tcp://, udp:// and unix:// URLs, counts the lines each listener receives,
// and prints them (-print) or a periodic count and rate (-interval). On
// SIGINT/SIGTERM, or after -exit-after lines, it prints the final counts and
// exits.
//
//	echoserver -listen tcp://127.0.0.1:2003,udp://127.0.0.1:8125,unix:///tmp/x.sock -interval 1s
//
// Port 0 picks a free port; the bound addresses are printed first, one
// "listening <url>" line each. Status goes to stderr, received lines (with
// -print) to stdout.
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
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, serves until ctx is done or -exit-after lines arrived,
// prints the final counts and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echoserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "tcp://127.0.0.1:2003", "comma-separated URLs to listen on: tcp://host:port, udp://host:port, unix:///path (port 0 = any free port)")
	print := fs.Bool("print", false, "print every received line to stdout")
	interval := fs.Duration("interval", 0, "print per-listener counts and rates this often (0 = only at exit)")
	exitAfter := fs.Int64("exit-after", 0, "exit once this many lines arrived in total (0 = run until SIGINT/SIGTERM)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "echoserver: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var out io.Writer
	if *print {
		out = stdout
	}
	s, err := start(strings.Split(*listen, ","), out, *exitAfter)
	if err != nil {
		fmt.Fprintf(stderr, "echoserver: %v\n", err)
		return 1
	}
	for _, l := range s.listeners {
		fmt.Fprintf(stderr, "listening %s\n", l.url)
	}
	var tick <-chan time.Time
	if *interval > 0 {
		t := time.NewTicker(*interval)
		defer t.Stop()
		tick = t.C
	}
	prev, last := s.counts(), time.Now()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-s.reached:
			done = true
		case now := <-tick:
			cur := s.counts()
			secs := now.Sub(last).Seconds()
			for i, l := range s.listeners {
				fmt.Fprintf(stderr, "%s lines=%d rate=%.0f/s\n", l.url, cur[i], float64(cur[i]-prev[i])/secs)
			}
			prev, last = cur, now
		}
	}
	s.close()
	var total int64
	for i, n := range s.counts() {
		fmt.Fprintf(stderr, "final %s lines=%d bytes=%d\n", s.listeners[i].url, n, s.listeners[i].bytes.Load())
		total += n
	}
	fmt.Fprintf(stderr, "final total lines=%d\n", total)
	return 0
}
