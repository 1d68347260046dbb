package proxy

import (
	"fmt"
	"strings"
	"testing"
)

// benchBlock is a read block of realistic graphite lines.
func benchBlock(n int) []byte {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "servers.fra2.web.web-%05d.cpu.cpu%d.iowait %d.5 1732236000\n", i%1000, i%8, i)
	}
	return []byte(sb.String())
}

// BenchmarkDispatch measures parsing + rules + ring lookup + append to the
// per-backend batch + enqueue (once per block), per line: the relay's whole
// per-line cost before the backend writers. Target: 0 allocs/op.
func BenchmarkDispatch(b *testing.B) {
	for _, hasher := range []string{"carbon_ch", "fnv1a_ch", "jump_fnv1a_ch"} {
		b.Run(hasher, func(b *testing.B) {
			servers := make([]string, 4)
			for i := range servers {
				servers[i] = discardSink(b) + fmt.Sprintf("=%d", i)
			}
			cfg := adminAndListener + poolTOML("carbon", hasher, 1, servers...) + "queue_bytes = \"256MiB\"\n" + `
[[rules]]
listener = "in"
match = '^test\.'
reject = true
`
			r := startRelay(b, cfg)
			d := newDispatcher(r.router.Load().listeners[0].route.Load())
			const perBlock = 500
			blk := benchBlock(perBlock)
			d.block(blk)
			d.flush()
			b.SetBytes(int64(len(blk) / perBlock))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += perBlock {
				d.block(blk)
				d.flush()
			}
		})
	}
}
