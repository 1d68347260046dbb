package line

import (
	"bytes"
	"fmt"
	"testing"
)

// benchLines returns n realistic graphite lines (about 60 bytes each).
func benchLines(n int) [][]byte {
	metrics := []string{"iowait", "user", "system", "idle", "steal"}
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, "servers.fra2.web.web-%05d.cpu.cpu%d.%s %d.%d 1732236000",
			i%50000, i%8, metrics[i%len(metrics)], i%100, i%10)
	}
	return lines
}

// benchStatsd returns n realistic statsd lines.
func benchStatsd(n int) [][]byte {
	types := []string{"1|c", "320|ms", "42|g", "1|c|@0.1", "17|ms|@0.5|#env:prod,dc:fra2"}
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, "web.fra2.web-%05d.requests.%d.latency:%s", i%50000, i%8, types[i%len(types)])
	}
	return lines
}

func benchKey(b *testing.B, f Format, lines [][]byte) {
	var total int
	for _, l := range lines {
		total += len(l)
	}
	b.SetBytes(int64(total / len(lines)))
	b.ReportAllocs()
	dst := make([]byte, 0, 256)
	mask := len(lines) - 1 // a power of two: no division in the loop
	if len(lines)&mask != 0 {
		b.Fatalf("benchKey needs a power-of-two number of lines, got %d", len(lines))
	}
	cpu := cpuNanos()
	for i := 0; b.Loop(); i++ {
		if _, r := f.Key(dst, lines[i&mask]); r != OK {
			b.Fatalf("Key(%q) = %v", lines[i&mask], r)
		}
	}
	reportCPU(b, cpu, b.N)
}

// reportCPU adds "cpu-ns/line": process CPU time since cpu0 per line.
func reportCPU(b *testing.B, cpu0 int64, lines int) {
	b.ReportMetric(float64(cpuNanos()-cpu0)/float64(lines), "cpu-ns/line")
}

func BenchmarkGraphiteKey(b *testing.B) {
	f, _ := NewFormat(DefaultFormatConfig())
	benchKey(b, f, benchLines(1024))
}

// BenchmarkGraphiteKeyCCR: the key rewritten by CCRName into dst.
func BenchmarkGraphiteKeyCCR(b *testing.B) {
	f, _ := NewFormat(FormatConfig{Format: FormatGraphite, CCRNames: true})
	benchKey(b, f, benchLines(1024))
}

func BenchmarkStatsdKey(b *testing.B) {
	f, _ := NewFormat(FormatConfig{Format: FormatStatsd})
	benchKey(b, f, benchStatsd(1024))
}

func BenchmarkRegexKey(b *testing.B) {
	f, err := NewFormat(FormatConfig{Format: FormatRegex, Regex: testRegex})
	if err != nil {
		b.Fatal(err)
	}
	benchKey(b, f, benchLines(1024))
}

// BenchmarkGraphiteRewrite: the common case, a line already in canonical
// form, which Rewrite returns without copying.
func BenchmarkGraphiteRewrite(b *testing.B) {
	f, _ := NewFormat(DefaultFormatConfig())
	rw := f.(Rewriter)
	lines := benchLines(1024)
	b.SetBytes(int64(len(lines[0])))
	b.ReportAllocs()
	dst := make([]byte, 0, 256)
	cpu := cpuNanos()
	for i := 0; b.Loop(); i++ {
		dst = rw.Rewrite(dst, lines[i&(1024-1)])
	}
	reportCPU(b, cpu, b.N)
}

// BenchmarkGraphiteRewriteCCR: with carbon-c-relay names every line is
// rebuilt in dst.
func BenchmarkGraphiteRewriteCCR(b *testing.B) {
	f, _ := NewFormat(FormatConfig{Format: FormatGraphite, CCRNames: true})
	rw := f.(Rewriter)
	lines := benchLines(1024)
	b.SetBytes(int64(len(lines[0])))
	b.ReportAllocs()
	dst := make([]byte, 0, 256)
	cpu := cpuNanos()
	for i := 0; b.Loop(); i++ {
		dst = rw.Rewrite(dst, lines[i&(1024-1)])
	}
	reportCPU(b, cpu, b.N)
}

func benchKeyRewrite(b *testing.B, ccr bool) {
	f, _ := NewFormat(FormatConfig{Format: FormatGraphite, CCRNames: ccr})
	kr := f.(KeyRewriter)
	lines := benchLines(1024)
	b.SetBytes(int64(len(lines[0])))
	b.ReportAllocs()
	dst := make([]byte, 0, 256)
	cpu := cpuNanos()
	for i := 0; b.Loop(); i++ {
		if _, _, r := kr.KeyRewrite(dst, lines[i&(1024-1)]); r != OK {
			b.Fatalf("KeyRewrite(%q) = %v", lines[i&(1024-1)], r)
		}
	}
	reportCPU(b, cpu, b.N)
}

// BenchmarkGraphiteKeyRewrite: key and forwarded line in one pass.
func BenchmarkGraphiteKeyRewrite(b *testing.B) { benchKeyRewrite(b, false) }

// BenchmarkGraphiteKeyRewriteCCR: the same with carbon-c-relay names: one
// CCRName call per line instead of two.
func BenchmarkGraphiteKeyRewriteCCR(b *testing.B) { benchKeyRewrite(b, true) }

// benchStream is about 1 MiB of newline-terminated graphite lines.
func benchStream() (stream []byte, lines int) {
	var buf bytes.Buffer
	for _, l := range benchLines(1 << 14) {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), 1 << 14
}

// BenchmarkReader: one op reads the whole stream in blocks and cuts every
// line; ns/line is the figure to compare with the Key benchmarks.
func BenchmarkReader(b *testing.B) {
	stream, n := benchStream()
	src := bytes.NewReader(stream)
	r := NewReader(src, ReaderConfig{})
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	cpu := cpuNanos()
	for b.Loop() {
		src.Reset(stream)
		r.Reset(src)
		got := 0
		for {
			block, err := r.Next()
			if err != nil {
				break
			}
			for len(block) > 0 {
				_, block = Cut(block)
				got++
			}
		}
		if got != n {
			b.Fatalf("read %d lines; want %d", got, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
	reportCPU(b, cpu, b.N*n)
}

// BenchmarkReaderGraphite: the stream path a TCP listener runs per line:
// Reader, Cut, graphite Key.
func BenchmarkReaderGraphite(b *testing.B) {
	stream, n := benchStream()
	f, _ := NewFormat(DefaultFormatConfig())
	src := bytes.NewReader(stream)
	r := NewReader(src, ReaderConfig{})
	dst := make([]byte, 0, 256)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	cpu := cpuNanos()
	for b.Loop() {
		src.Reset(stream)
		r.Reset(src)
		for {
			block, err := r.Next()
			if err != nil {
				break
			}
			for len(block) > 0 {
				var l []byte
				l, block = Cut(block)
				if _, reason := f.Key(dst, l); reason != OK {
					b.Fatalf("Key(%q) = %v", l, reason)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
	reportCPU(b, cpu, b.N*n)
}
