// Package udpsock reads UDP datagrams in batches and reports the kernel's
// receive-side accounting for a socket.
//
// A [Reader] wraps a *net.UDPConn and returns up to a fixed number of
// queued datagrams per call: on Linux one recvmmsg(2) system call fills
// them all, elsewhere each call returns a single datagram. The datagrams
// are views into buffers the Reader owns and reuses, so steady-state reads
// do not allocate. A datagram longer than the Reader's buffer is cut by the
// kernel; the Reader flags and counts it.
//
// [Drops] and [Pending] read SO_MEMINFO on Linux: how many datagrams the
// kernel threw away because the receive buffer was full, and how much
// memory the queued datagrams occupy. They are meant for metrics and
// return an error wrapping [errors.ErrUnsupported] on other systems.
//
// The package knows nothing of lines, formats, routing or metrics
// registries: splitting datagrams into lines, counting truncated datagrams
// as invalid, exporting counters, sizing the receive buffer (SO_RCVBUF) and
// sharing a socket among several readers are the caller's business. A
// Reader is used by one goroutine at a time; several Readers may share a
// socket.
package udpsock
