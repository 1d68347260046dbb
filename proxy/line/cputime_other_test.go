//go:build !unix

package line

// cpuNanos is not measured on this platform; benchmarks then report 0.
func cpuNanos() int64 { return 0 }
