package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// blast dials every connection, then sends until the line count or the
// duration is reached (or ctx is done), and reports what was sent.
func blast(ctx context.Context, o options) (result, error) {
	if err := o.validate(); err != nil {
		return result{}, err
	}
	proto, addr, _ := strings.Cut(o.target, "://")
	conns := make([]net.Conn, 0, o.connections)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	d := net.Dialer{Timeout: o.dialTimeout}
	for range o.connections {
		c, err := d.DialContext(ctx, proto, addr)
		if err != nil {
			return result{}, fmt.Errorf("failed to connect to %q: %w", o.target, err)
		}
		conns = append(conns, c)
	}
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	max := o.batch
	if proto == "udp" {
		max = o.udpSize
	}
	start := time.Now()
	results := make([]result, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		w := worker{
			conn:   c,
			opts:   o,
			index:  int64(i),
			stride: int64(len(conns)),
			max:    max,
			rate:   o.rate / float64(len(conns)),
			start:  start,
		}
		if o.lines > 0 {
			// Worker i sends lines i, i+C, i+2C, ... below o.lines.
			w.count = (o.lines - int64(i) + int64(len(conns)) - 1) / int64(len(conns))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = w.run(ctx)
		}()
	}
	wg.Wait()
	res := result{elapsed: time.Since(start)}
	var first error
	for i, r := range results {
		res.lines += r.lines
		res.bytes += r.bytes
		res.writes += r.writes
		if first == nil && errs[i] != nil {
			first = errs[i]
		}
	}
	if o.duration > 0 && errors.Is(first, context.DeadlineExceeded) {
		first = nil // the duration ran out: done
	}
	return res, first
}

// worker sends its share of the lines over one connection.
type worker struct {
	conn   net.Conn
	opts   options
	index  int64 // first global line index
	stride int64 // connections
	count  int64 // lines to send (0 = until ctx is done)
	max    int   // bytes per write
	rate   float64
	start  time.Time
}

func (w *worker) run(ctx context.Context) (result, error) {
	var res result
	buf := make([]byte, 0, w.max+256)
	line := make([]byte, 0, 256)
	// With a rate, send in slices of about 10ms of lines so pacing is smooth.
	perWrite := int64(1 << 62)
	if w.rate > 0 {
		perWrite = max(1, int64(w.rate/100))
	}
	ts := strconv.AppendInt(nil, time.Now().Unix(), 10)
	i := w.index
	for sent := int64(0); w.count == 0 || sent < w.count; {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if w.rate > 0 {
			due := w.start.Add(time.Duration(float64(sent) / w.rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return res, ctx.Err()
				case <-t.C:
				}
			}
		}
		buf = buf[:0]
		n := int64(0)
		for (w.count == 0 || sent+n < w.count) && n < perWrite {
			line = w.appendLine(line[:0], i, ts)
			if len(buf)+len(line) > w.max && len(buf) > 0 {
				break
			}
			buf = append(buf, line...)
			i += w.stride
			n++
		}
		if _, err := w.conn.Write(buf); err != nil {
			return res, fmt.Errorf("failed to write to %q: %w", w.opts.target, err)
		}
		sent += n
		res.lines += n
		res.bytes += int64(len(buf))
		res.writes++
	}
	return res, nil
}

// appendLine appends line i: key i mod keys, in the chosen format.
func (w *worker) appendLine(dst []byte, i int64, ts []byte) []byte {
	dst = append(dst, w.opts.prefix...)
	dst = append(dst, ".key"...)
	var kb [20]byte
	k := strconv.AppendInt(kb[:0], i%int64(w.opts.keys), 10)
	for range 7 - len(k) {
		dst = append(dst, '0')
	}
	dst = append(dst, k...)
	if w.opts.format == "statsd" {
		return append(dst, ":1|c\n"...)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, i%1000, 10)
	dst = append(dst, ' ')
	dst = append(dst, ts...)
	return append(dst, '\n')
}
