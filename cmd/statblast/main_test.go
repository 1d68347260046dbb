package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineSink collects every line sent to a loopback TCP or UDP listener.
type lineSink struct {
	addr string
	mu   sync.Mutex
	all  []string
	wg   sync.WaitGroup
	stop func()
}

func newLineSink(t *testing.T, proto string) *lineSink {
	t.Helper()
	s := &lineSink{}
	switch proto {
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.addr = "tcp://" + ln.Addr().String()
		var cmu sync.Mutex
		var conns []net.Conn
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				cmu.Lock()
				conns = append(conns, c)
				cmu.Unlock()
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					sc := bufio.NewScanner(c)
					for sc.Scan() {
						s.add(sc.Text())
					}
				}()
			}
		}()
		s.stop = func() {
			ln.Close()
			cmu.Lock()
			for _, c := range conns {
				c.Close()
			}
			cmu.Unlock()
		}
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc.(*net.UDPConn).SetReadBuffer(4 << 20)
		s.addr = "udp://" + pc.LocalAddr().String()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				if n > 1400 || buf[n-1] != '\n' {
					s.add("BAD DATAGRAM " + string(buf[:n]))
					continue
				}
				for _, l := range strings.Split(strings.TrimSuffix(string(buf[:n]), "\n"), "\n") {
					s.add(l)
				}
			}
		}()
		s.stop = func() { pc.Close() }
	}
	t.Cleanup(func() { s.stop(); s.wg.Wait() })
	return s
}

func (s *lineSink) add(l string) {
	s.mu.Lock()
	s.all = append(s.all, l)
	s.mu.Unlock()
}

// wait polls until n lines arrived (or a generous timeout) and returns them.
func (s *lineSink) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		got := append([]string(nil), s.all...)
		s.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(2 * time.Millisecond) // polling: the sink has no change event
	}
}

func TestBlastSendsExactLinesAndKeys(t *testing.T) {
	graphite := regexp.MustCompile(`^load\.key\d{7} \d+ \d+$`)
	statsd := regexp.MustCompile(`^load\.key\d{7}:1\|c$`)
	cases := []struct {
		proto, format string
		lines         int64
		keys, conns   int
		re            *regexp.Regexp
	}{
		{"tcp", "graphite", 10000, 37, 3, graphite},
		{"tcp", "statsd", 1001, 2000, 2, statsd}, // fewer lines than keys
		{"udp", "statsd", 500, 100, 1, statsd},
		{"udp", "graphite", 300, 7, 2, graphite},
	}
	for _, tc := range cases {
		s := newLineSink(t, tc.proto)
		o := options{target: s.addr, format: tc.format, lines: tc.lines, keys: tc.keys, connections: tc.conns,
			prefix: "load", batch: 4096, udpSize: 1400, dialTimeout: time.Second}
		res, err := blast(context.Background(), o)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		got := s.wait(t, int(tc.lines))
		keys := map[string]bool{}
		for _, l := range got {
			if !tc.re.MatchString(l) {
				t.Fatalf("%s %s: line %q does not match %s", tc.proto, tc.format, l, tc.re)
			}
			keys[strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == ':' })[0]] = true
		}
		wantKeys := min(tc.keys, int(tc.lines))
		if res.lines != tc.lines || int64(len(got)) != tc.lines || len(keys) != wantKeys {
			t.Fatalf("%s %s -lines %d -keys %d -connections %d: reported %d, received %d lines with %d keys; want %d lines and %d keys",
				tc.proto, tc.format, tc.lines, tc.keys, tc.conns, res.lines, len(got), len(keys), tc.lines, wantKeys)
		}
	}
}

func TestBlastRateIsNotExceeded(t *testing.T) {
	s := newLineSink(t, "tcp")
	o := options{target: s.addr, format: "graphite", lines: 600, keys: 10, connections: 2, rate: 2000,
		prefix: "load", batch: 65536, udpSize: 1400, dialTimeout: time.Second}
	res, err := blast(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.wait(t, 600); len(got) != 600 || res.lines != 600 {
		t.Fatalf("-rate 2000 -lines 600: sent %d, received %d, want 600", res.lines, len(got))
	}
	// Pacing only ever slows the sender down, so the upper bound is safe on
	// a busy machine: 600 lines at 2000/s cannot finish much before 0.3s.
	if rate := float64(res.lines) / res.elapsed.Seconds(); rate > 2000*1.3 {
		t.Fatalf("-rate 2000: achieved %.0f lines/s in %s, want at most about 2000", rate, res.elapsed)
	}
	if res.writes < 20 {
		t.Fatalf("-rate 2000: %d writes for 600 lines, want paced slices of about 10ms (>= 20 writes)", res.writes)
	}
}

func TestBlastDurationStops(t *testing.T) {
	s := newLineSink(t, "tcp")
	o := options{target: s.addr, format: "statsd", duration: 100 * time.Millisecond, keys: 10, connections: 1, rate: 1000,
		prefix: "load", batch: 65536, udpSize: 1400, dialTimeout: time.Second}
	res, err := blast(context.Background(), o)
	if err != nil {
		t.Fatalf("-duration 100ms: %v", err)
	}
	if got := s.wait(t, int(res.lines)); res.lines == 0 || int64(len(got)) != res.lines {
		t.Fatalf("-duration 100ms -rate 1000: reported %d lines, sink got %d; want the same, more than 0", res.lines, len(got))
	}
}

func TestRunReportsAndRejectsBadFlags(t *testing.T) {
	s := newLineSink(t, "tcp")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-target", s.addr, "-lines", "50"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "sent 50 lines, ") {
		t.Fatalf("run -lines 50: exit %d, stdout %q, stderr %q; want 0 and \"sent 50 lines, ...\"", code, out.String(), errb.String())
	}
	for _, args := range [][]string{
		{"-target", "http://x:1"},
		{"-target", s.addr, "-format", "json"},
		{"-target", s.addr, "-connections", "0"},
		{"-target", s.addr, "-keys", "0"},
		{"-target", "tcp://" + closedAddr(t), "-dial-timeout", "1s"},
	} {
		var errb bytes.Buffer
		if code := run(context.Background(), args, io.Discard, &errb); code != 1 || errb.Len() == 0 {
			t.Errorf("run %q: exit %d, stderr %q; want 1 and an error", args, code, errb.String())
		}
	}
}

func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
