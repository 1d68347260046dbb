//go:build unix

package line

import "syscall"

// cpuNanos returns the CPU time (user+system) this process has used. The
// benchmarks report it per line as well as wall time, because on a shared
// machine wall time also counts the time other processes held the CPU.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
