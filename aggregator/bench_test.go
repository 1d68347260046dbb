package aggregator

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// benchLines is a statsd mix over 10,000 keys: 70% counters, 20% timers,
// 10% gauges, some with a sample rate.
func benchLines() [][]byte {
	var lines [][]byte
	for i := range 10000 {
		var l string
		switch {
		case i%10 < 7:
			l = fmt.Sprintf("app.service%d.requests.count:%d|c", i, i%13+1)
			if i%5 == 0 {
				l += "|@0.5"
			}
		case i%10 < 9:
			l = fmt.Sprintf("app.service%d.latency:%d.%d|ms", i, i%997, i%10)
		default:
			l = fmt.Sprintf("app.service%d.queue_depth:%d|g", i, i%50)
		}
		lines = append(lines, []byte(l))
	}
	return lines
}

// BenchmarkStatsdLine: one line per datagram, keys already seen. One op is
// one line; a flush every 100,000 lines (not timed) keeps timers bounded.
func BenchmarkStatsdLine(b *testing.B) {
	lines := benchLines()
	s := NewStatsd(testConfig())
	for _, l := range lines {
		s.Datagram(l)
	}
	s.Flush(time.Unix(1, 0), func([]byte) {})
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Datagram(lines[i%len(lines)])
		if i%100000 == 99999 {
			b.StopTimer()
			s.Flush(time.Unix(int64(i), 0), func([]byte) {})
			b.StartTimer()
		}
	}
}

// BenchmarkStatsdDatagram: 20 lines per datagram, as a client batches them.
// One op is one line.
func BenchmarkStatsdDatagram(b *testing.B) {
	lines := benchLines()
	var dgs [][]byte
	for i := 0; i < len(lines); i += 20 {
		var d []byte
		for j, l := range lines[i : i+20] {
			if j > 0 {
				d = append(d, '\n')
			}
			d = append(d, l...)
		}
		dgs = append(dgs, d)
	}
	s := NewStatsd(testConfig())
	for _, d := range dgs {
		s.Datagram(d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 20 {
		s.Datagram(dgs[(i/20)%len(dgs)])
		if i%100000 < 20 {
			b.StopTimer()
			s.Flush(time.Unix(int64(i), 0), func([]byte) {})
			b.StartTimer()
		}
	}
}

// BenchmarkStatsdFlush: a flush of the 10,000 keys, with 20 samples per
// timer. One op is one flush.
func BenchmarkStatsdFlush(b *testing.B) {
	lines := benchLines()
	s := NewStatsd(testConfig())
	b.ReportAllocs()
	n := 0
	for i := range b.N {
		b.StopTimer()
		for range 20 {
			for _, l := range lines {
				s.Datagram(l)
			}
		}
		b.StartTimer()
		s.Flush(time.Unix(int64(i), 0), func([]byte) { n++ })
	}
	b.ReportMetric(float64(n)/float64(b.N), "lines/flush")
}

func BenchmarkAppendJSNumber(b *testing.B) {
	vals := []float64{1, 0.30000000000000004, 12345.678, 1e21, 1.5e-7, 3.3333333333333335}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for i := range b.N {
		buf = AppendJSNumber(buf[:0], vals[i%len(vals)])
	}
}

// BenchmarkStatsdBenchLoad is the load of the throughput runs (the statsd
// oracle's bench driver): 10,000 keys split 7,000/2,000/1,000 between
// counters, timers and gauges, each line a random key of its type, packed
// into 1,400-byte datagrams. One op is one line.
func BenchmarkStatsdBenchLoad(b *testing.B) {
	s, dgs, perDgram := benchLoad()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; n < b.N; i++ {
		s.Datagram(dgs[i%len(dgs)])
		n += int(perDgram)
		if i%len(dgs) == len(dgs)-1 {
			b.StopTimer()
			s.Flush(time.Unix(int64(i), 0), func([]byte) {})
			b.StartTimer()
		}
	}
}

// BenchmarkStatsdBenchLoadParallel is BenchmarkStatsdBenchLoad from
// GOMAXPROCS goroutines at once, as UDP readers call it: one op is one
// line, so ns/op falls as the readers apply in parallel. A flush (timed
// here: it runs beside the readers, as in the relay) follows every pass
// over the datagrams.
func BenchmarkStatsdBenchLoadParallel(b *testing.B) {
	s, dgs, perDgram := benchLoad()
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for {
			i := int(next.Add(1))
			s.Datagram(dgs[i%len(dgs)])
			if i%len(dgs) == 0 {
				s.Flush(time.Unix(int64(i), 0), func([]byte) {})
			}
			for range int(perDgram) {
				if !pb.Next() {
					return
				}
			}
		}
	})
}

// benchLoad returns the datagrams of BenchmarkStatsdBenchLoad, their mean
// number of lines, and an accumulator that has seen each of them once.
func benchLoad() (s *Statsd, dgs [][]byte, perDgram float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	var d []byte
	lines := 0
	for range 200000 {
		var l string
		switch x := rng.IntN(100); {
		case x < 70:
			l = fmt.Sprintf("bench.counters.key%04d:1|c", rng.IntN(7000))
		case x < 90:
			l = fmt.Sprintf("bench.timers.key%04d:%d|ms", rng.IntN(2000), rng.IntN(1000))
		default:
			l = fmt.Sprintf("bench.gauges.key%04d:%d|g", rng.IntN(1000), rng.IntN(100))
		}
		if len(d)+1+len(l) > 1400 {
			dgs, d = append(dgs, d), nil
		}
		if len(d) > 0 {
			d = append(d, '\n')
		}
		d = append(d, l...)
		lines++
	}
	dgs = append(dgs, d)
	s = NewStatsd(testConfig())
	for _, d := range dgs {
		s.Datagram(d)
	}
	return s, dgs, float64(lines) / float64(len(dgs))
}
