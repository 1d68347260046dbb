package aggregator

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// RunOracleFormat runs a Statsd built from cfg over input in the format of
// the statsd oracle (../shared/oracles/statsd) and writes what it flushes in
// that oracle's output format, so that the two compare byte for byte.
//
// Input: one datagram per line (the input's last newline does not start
// another one; an empty line elsewhere is an empty datagram); the two
// characters `\n` inside a line are a newline; a line that is exactly
// "## flush" ends a batch; other lines starting with "##" are comments.
//
// Like the oracle, it flushes once before the first batch (a statsd that has
// been running; that flush is not printed), once after each batch, then
// extraFlushes more times. Each printed flush is its lines "key value TS"
// sorted in byte order, with the timestamp written as TS and the
// timing-dependent internal values (timestamp_lag, processing_time,
// graphiteStats.*) as MASKED; when more than one flush is printed, each is
// headed by "## flush K", K from 1.
//
// clock, if given, is called for the time of each flush; by default the
// flushes are flush_interval apart from a fixed instant.
func RunOracleFormat(cfg StatsdConfig, in io.Reader, out io.Writer, extraFlushes int, clock ...func() time.Time) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if extraFlushes < 0 {
		return fmt.Errorf("failed to run oracle format: extra flushes %d < 0", extraFlushes)
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("failed to read oracle input: %w", err)
	}
	now := clockFunc(cfg, clock)
	batches := OracleBatches(data)
	s := NewStatsd(cfg)
	s.Flush(now(), func([]byte) {})
	mask := regexp.MustCompile(`(^|\.)` + regexp.QuoteMeta(cfg.PrefixStats) +
		`\.(graphiteStats\.(calculationtime|last_exception|last_flush|flush_time|flush_length)|processing_time|timestamp_lag)(\.|;|$)`)
	var flushes [][][]byte
	capture := func() {
		var rows [][]byte
		s.Flush(now(), func(line []byte) {
			ts := bytes.LastIndexByte(line, ' ')
			vs := bytes.LastIndexByte(line[:ts], ' ')
			key := line[:vs]
			row := append([]byte(nil), key...)
			if mask.Match(key) {
				row = append(row, " MASKED TS"...)
			} else {
				row = append(row, line[vs:ts]...)
				row = append(row, " TS"...)
			}
			rows = append(rows, row)
		})
		slices.SortFunc(rows, bytes.Compare)
		flushes = append(flushes, rows)
	}
	for _, b := range batches {
		for _, d := range b {
			s.Datagram(d)
		}
		capture()
	}
	for range extraFlushes {
		capture()
	}
	w := bufio.NewWriter(out)
	for k, rows := range flushes {
		if len(flushes) > 1 {
			w.WriteString("## flush " + strconv.Itoa(k+1) + "\n")
		}
		for _, r := range rows {
			w.Write(r)
			w.WriteByte('\n')
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("failed to write oracle output: %w", err)
	}
	return nil
}

func clockFunc(cfg StatsdConfig, clock []func() time.Time) func() time.Time {
	if len(clock) > 0 && clock[0] != nil {
		return clock[0]
	}
	t := time.Unix(1_700_000_000, 0)
	return func() time.Time {
		t = t.Add(cfg.FlushInterval.Duration)
		return t
	}
}

// OracleBatches splits input in the oracle's format into batches of
// datagrams (see RunOracleFormat). An input with no "## flush" is one batch.
func OracleBatches(data []byte) [][][]byte {
	var lines [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, data)
			break
		}
		lines = append(lines, data[:i])
		data = data[i+1:]
	}
	batches := [][][]byte{nil}
	for _, l := range lines {
		if string(l) == "## flush" {
			batches = append(batches, nil)
			continue
		}
		if bytes.HasPrefix(l, []byte("##")) {
			continue
		}
		d := bytes.ReplaceAll(l, []byte(`\n`), []byte("\n"))
		batches[len(batches)-1] = append(batches[len(batches)-1], d)
	}
	return batches
}
