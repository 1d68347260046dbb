package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"ringrelay/proxy/line"
)

// RouteTest is `relay route`: like carbon-c-relay's -t, it reads lines from
// in and writes, for each, `key<TAB>server[,server...]` to out: the servers
// as written in the config, replicas in the order the ring picks them. It
// runs each line through the same decision live traffic takes (format key,
// ring lookup; the key printed is the one decide routed by) on a relay built
// with NoBackends. A bare key (no value) is accepted and completed with a
// dummy value for the format, as carbon-c-relay's test mode accepts bare
// names. Lines that are not routable are reported on errOut with their
// reason.
func (r *Relay) RouteTest(pool, format string, in io.Reader, out, errOut io.Writer) error {
	rt := r.router.Load()
	p := rt.pools[pool]
	if p == nil {
		return fmt.Errorf("unknown pool %q (have %s)", pool, strings.Join(rt.poolNames, ", "))
	}
	fc := line.FormatConfig{Format: format}
	for _, l := range rt.cfg.Listeners {
		if l.Pool == pool && (format == "" || l.Format == format) {
			fc = l.FormatConfig
			break
		}
	}
	if fc.Format == "" {
		fc.Format = "graphite"
	}
	f, err := line.NewFormat(fc)
	if err != nil {
		return err
	}
	ro := &route{listener: "route", format: f, pool: p, metrics: r.metrics.listener("route"), npools: r.nextIndex, maxLine: 1 << 20}
	d := newDispatcher(ro)
	var filler []byte
	switch fc.Format {
	case "graphite":
		filler = []byte(" 1 0")
	case "statsd":
		filler = []byte(":1|c")
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var full []byte
	for n := 1; sc.Scan(); n++ {
		ln := bytes.TrimRight(sc.Bytes(), "\r")
		if len(ln) == 0 {
			continue
		}
		if filler != nil && !bytes.ContainsAny(ln, string(filler[:1])) {
			full = append(append(full[:0], ln...), filler...)
			ln = full
		}
		dec, ok := d.decide(ln)
		switch {
		case !ok && dec.why != line.OK:
			fmt.Fprintf(errOut, "line %d: %q: invalid (%s)\n", n, ln, dec.why)
			continue
		case !ok:
			fmt.Fprintf(errOut, "line %d: %q: pool %q has no members\n", n, ln, pool)
			continue
		}
		w.Write(dec.key)
		w.WriteByte('\t')
		for i, j := range dec.idx {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(dec.st.servers[j].Display())
		}
		w.WriteByte('\n')
	}
	return sc.Err()
}
