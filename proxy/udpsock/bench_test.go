package udpsock

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

const benchDgram = 1400 // bytes, a datagram filling an Ethernet MTU

// benchReaders are the ways of reading compared: plain conn.Read (what a
// listener does today) and Readers of growing batch.
var benchReaders = []struct {
	name  string
	batch int // 0: conn.Read
}{
	{"conn.Read", 0},
	{"batch=1", 1},
	{"batch=8", 8},
	{"batch=32", 32},
	{"batch=64", 64},
}

// readFunc returns a function reading one batch and returning its length.
func readFunc(srv *net.UDPConn, batch int) func() (int, error) {
	if batch == 0 {
		buf := make([]byte, 2048)
		return func() (int, error) {
			_, err := srv.Read(buf)
			if err != nil {
				return 0, err
			}
			return 1, nil
		}
	}
	r := NewReader(srv, batch, 2048)
	return func() (int, error) {
		ds, err := r.Read()
		return len(ds), err
	}
}

// BenchmarkRead reads datagrams of 1400 bytes that another goroutine sends
// over loopback as fast as it can; an op is one datagram received. On
// loopback the sender's write also runs the kernel's delivery to the
// receiving socket, so the sender is the more expensive side: when the
// reader keeps up, it waits, and batches are short. dgrams/read is the
// mean batch; drops/op the datagrams the kernel dropped per one received.
func BenchmarkRead(b *testing.B) {
	for _, br := range benchReaders {
		b.Run(br.name, func(b *testing.B) {
			srv, cli := pair(b)
			srv.SetReadBuffer(4 << 20)
			read := readFunc(srv, br.batch)
			d0, _ := Drops(srv)

			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				msg := make([]byte, benchDgram)
				for {
					select {
					case <-stop:
						return
					default:
					}
					for range 16 {
						cli.Write(msg)
					}
				}
			})

			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var got, reads int
			for got < b.N {
				n, err := read()
				if err != nil {
					b.Fatal(err)
				}
				got += n
				reads++
			}
			el := time.Since(start)
			b.StopTimer()
			close(stop)
			wg.Wait()
			d1, _ := Drops(srv)
			b.ReportMetric(float64(got)/el.Seconds(), "dgrams/s")
			b.ReportMetric(float64(got)/float64(reads), "dgrams/read")
			b.ReportMetric(float64(d1-d0)/float64(got), "drops/op")
		})
	}
}

// BenchmarkDrain measures the receiving side alone: 512 datagrams of 1400
// bytes are queued on the socket with the timer stopped, then read. An op
// is one datagram read from a full queue, as when a listener falls behind.
func BenchmarkDrain(b *testing.B) {
	const queued = 512
	for _, br := range benchReaders {
		b.Run(br.name, func(b *testing.B) {
			srv, cli := pair(b)
			if err := srv.SetReadBuffer(4 << 20); err != nil {
				b.Fatal(err)
			}
			read := readFunc(srv, br.batch)
			msg := make([]byte, benchDgram)
			b.ReportAllocs()
			b.ResetTimer()
			var reads int
			for left := b.N; left > 0; {
				b.StopTimer()
				k := min(left, queued)
				d0, err := Drops(srv)
				if err != nil && !errors.Is(err, errors.ErrUnsupported) {
					b.Fatal(err)
				}
				for range k {
					if _, err := cli.Write(msg); err != nil {
						b.Fatal(err)
					}
				}
				d1, _ := Drops(srv)
				k -= int(d1 - d0)
				left -= k
				b.StartTimer()
				for k > 0 {
					n, err := read()
					if err != nil {
						b.Fatal(err)
					}
					k -= n
					reads++
				}
			}
			b.ReportMetric(float64(b.N)/float64(reads), "dgrams/read")
		})
	}
}
